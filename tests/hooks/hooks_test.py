#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""hooks suite: real processes under the zpoline engine (libzphooks.so).

Usage: hooks_test.py CASE   (paths of the built programs come from the
environment meson sets: ZPHOOKS_LIB, ZPTEST_PROBE, ZPTEST_PROBE_DL,
ZPTEST_REGS, ZPTEST_MISC, ZPTEST_TESTDISP).  Exit 0 pass, 1 fail, 77 skip.
"""
import difflib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

SKIP = 77
TIMEOUT = 60
SYSCTL = "/proc/sys/vm/mmap_min_addr"

# syscall numbers (x86-64) the probe uses; see probe.c
NR = {"getppid": 110, "getpgrp": 111, "sched_yield": 24, "getegid": 108,
      "getuid": 102, "getsid": 124, "getgid": 104, "getpgid": 121,
      "getresuid": 118, "getresgid": 120}


class Fail(Exception):
    pass


def check(cond, msg):
    if not cond:
        raise Fail(msg)


def env_path(name):
    v = os.environ.get(name)
    check(v and os.path.exists(v), "%s not set or missing: %r" % (name, v))
    return v


def python3():
    return "/usr/bin/python3" if os.path.exists("/usr/bin/python3") \
        else sys.executable


def hooked_env(**extra):
    env = dict(os.environ)
    env["LD_PRELOAD"] = env_path("ZPHOOKS_LIB")
    env.pop("ZPHOOKS_LOG", None)
    env.update(extra)
    return env


def run(argv, env=None, **kw):
    return subprocess.run(argv, env=env, capture_output=True, text=True,
                          timeout=TIMEOUT, **kw)


def preflight():
    """Root and vm.mmap_min_addr=0, or skip with the reason."""
    try:
        with open(SYSCTL) as f:
            val = int(f.read())
    except OSError as e:
        print("SKIP: cannot read %s: %s" % (SYSCTL, e))
        sys.exit(SKIP)
    if val != 0:
        if os.geteuid() != 0:
            print("SKIP: vm.mmap_min_addr is %d and we are not root "
                  "(sysctl -w vm.mmap_min_addr=0)" % val)
            sys.exit(SKIP)
        with open(SYSCTL, "w") as f:
            f.write("0")


def read_counts(path):
    """{pid: {nr or 'sud'/'other': count}} from the count file."""
    out = {}
    with open(path) as f:
        for line in f:
            pid, key, cnt = line.split()
            key = int(key) if key.isdigit() else key
            out.setdefault(int(pid), {})[key] = int(cnt)
    return out


def case_count(mode=None):
    probe = env_path("ZPTEST_PROBE")
    dl = env_path("ZPTEST_PROBE_DL")
    with tempfile.TemporaryDirectory() as d:
        cf = os.path.join(d, "counts")
        extra = {"ZPHOOKS_DISPATCH": "count", "ZPHOOKS_COUNT_FILE": cf}
        if mode:
            extra["ZPHOOKS_MODE"] = mode
        r = run([probe, dl], env=hooked_env(**extra))
        check(r.returncode == 0, "probe failed: rc=%d %s" % (r.returncode,
                                                            r.stderr))
        pids = dict(kv.split("=") for kv in r.stdout.split())
        pid, spawn, fork = (int(pids[k]) for k in ("pid", "spawn", "fork"))
        counts = read_counts(cf)
    check(pid in counts and spawn in counts and fork in counts,
          "missing count blocks: %s" % sorted(counts))
    want = {"getppid": 3, "getpgrp": 4, "sched_yield": 5, "getegid": 7,
            "getuid": 11, "getsid": 2, "getgid": 26, "getpgid": 4,
            "getresuid": 0, "getresgid": 0}
    got = {k: counts[pid].get(NR[k], 0) for k in want}
    print("parent:", got, "sud:", counts[pid].get("sud"))
    check(got == want, "parent counts %s != %s" % (got, want))
    if mode == "sud":
        check(counts[pid]["sud"] >= sum(want.values()),
              "SUD-only run did not catch everything")
    else:
        # the JIT and RWX pages have no unwind info: SUD caught each
        # syscall there once, then it was rewritten
        check(counts[pid]["lazy"] >= 2, "lazy sites: %d < 2" %
              counts[pid]["lazy"])
        check(1 <= counts[pid]["sud"] < want["getuid"] + want["getpgid"],
              "SUD caught %d: the sites were not rewritten" %
              counts[pid]["sud"])
    check(counts[spawn].get(NR["getresuid"]) == 17,
          "posix_spawn child: %s" % counts[spawn])
    check(counts[fork].get(NR["getresgid"]) == 19,
          "fork child: %s" % counts[fork])
    check(counts[fork].get(NR["getppid"], 0) == 0, "fork child inherited "
          "counts it should not report")


def parse_regs(out):
    lines = out.splitlines()
    regs = [l for l in lines if l.startswith("regs ")]
    rz = dict(l.split(": ") for l in lines if l.startswith("redzone "))
    return regs, rz


def case_regs(env, redzone_tramp):
    r = run([env_path("ZPTEST_REGS")], env=env)
    print(r.stdout, end="")
    check(r.returncode == 0, "registers changed (rc=%d) %s" %
          (r.returncode, r.stderr))
    regs, rz = parse_regs(r.stdout)
    check(all(l.endswith(": ok") for l in regs),
          "register checks: %s" % regs)
    for shape in ("stub", "after", "before", "after-rip", "after-jmp"):
        check(any(l.startswith("regs %s " % shape) for l in regs),
              "no %s register check: %s" % (shape, regs))
        check(int(rz["redzone " + shape], 16) == 0,
              "%s path lost red zone: %s" % (shape, rz["redzone " + shape]))
    check(int(rz["redzone trampoline"], 16) == redzone_tramp,
          "trampoline path red zone mask %s, want %#x" %
          (rz["redzone trampoline"], redzone_tramp))


def case_regs_vector(**extra):
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "out")
        env = dict(os.environ, LD_PRELOAD=env_path("ZPTEST_TESTDISP"),
                   ZPTEST_DISP="vector", ZPTEST_OUT=out, **extra)
        case_regs(env, 0x8000)
        with open(out) as f:
            calls = int(f.read().split()[0].split("=")[1])
    check(calls > 0, "vector dispatcher never ran")


def case_regs_veccall():
    """A dispatcher on general registers that saves the vector state
    itself (zp_hooks_vec_call) around code that clobbers it: after
    zp_hooks_vec_full() the whole state, without it what code built
    without VEX can change (ZPTEST_VECCALL=light); also with
    ZPHOOKS_VCHECK=1, which checks the light calls."""
    for how, vcheck in (("", "0"), ("", "1"), ("light", "0"),
                        ("light", "1")):
        with tempfile.TemporaryDirectory() as d:
            out = os.path.join(d, "out")
            env = dict(os.environ, LD_PRELOAD=env_path("ZPTEST_TESTDISP"),
                       ZPTEST_DISP="veccall", ZPTEST_OUT=out,
                       ZPTEST_VECCALL=how, ZPHOOKS_VCHECK=vcheck)
            case_regs(env, 0x8000)
            with open(out) as f:
                kv = dict(x.split("=") for x in f.read().split())
        check(int(kv["calls"]) > 0, "veccall dispatcher never ran")
        check(kv["api_errors"] == "0", "zp_hooks_register_set answered wrongly")


def case_vcheck():
    """ZPHOOKS_VCHECK=1 stops a program whose served call changed, without
    zp_hooks_vec_full() or before it, the vector state, MXCSR's flags (an
    SSE division) or the x87 status word (on a CPU with AVX, where
    zp_hooks_vec_call saves only xmm0-15 first)."""
    if "avx" not in open("/proc/cpuinfo").read().split():
        print("no AVX: every call saves everything, nothing to check")
        return
    for how, what in (("unsaved", "vector state"),
                      ("unsaved-mxcsr", "changed MXCSR"),
                      ("unsaved-x87", "x87 control or status word"),
                      ("early-mxcsr", "changed MXCSR")):
        env = dict(os.environ, LD_PRELOAD=env_path("ZPTEST_TESTDISP"),
                   ZPTEST_DISP="veccall", ZPTEST_VECCALL=how,
                   ZPHOOKS_VCHECK="1")
        env.pop("ZPHOOKS_VSAVE", None)	# xsave: no light calls
        r = run([env_path("ZPTEST_REGS")], env=env)
        print(how, "rc", r.returncode, r.stderr.strip()[-300:])
        check(r.returncode != 0 and "ZPHOOKS_VCHECK" in r.stderr and
              what in r.stderr and "zp_hooks_vec_full" in r.stderr,
              "%s: an unsaved clobber was not caught: rc %d" %
              (how, r.returncode))


def case_tinystack():
    """A syscall made with a few hundred bytes of stack left (goroutines,
    coroutines): the hook's C path and the vector dispatcher's XSAVE area
    (2.7 KB with AVX-512) run on the hook's own stack."""
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "out")
        vec = dict(os.environ, LD_PRELOAD=env_path("ZPTEST_TESTDISP"),
                   ZPTEST_DISP="vector", ZPTEST_OUT=out)
        for label, env in (("native", None), ("zpnet", hooked_env()),
                           ("vector dispatcher", vec)):
            # jmptiny: again after a siglongjmp left a blocking call;
            # jmpauto: the same from a handler on an SS_AUTODISARM
            # altstack (which stays disarmed);
            # altstack: a handler on a sigaltstack inside one of our calls
            # altauto: the same, the altstack disarmed while in use;
            # sigstorm: signals at every instruction of the entry
            for case in ("tinystack", "jmptiny", "jmpauto", "altstack",
                         "altauto", "sigstorm"):
                r = run([env_path("ZPTEST_MISC"), case], env=env)
                print(label, case, "rc", r.returncode, r.stdout.strip())
                check(r.returncode == 0 and r.stdout.strip() == "ok " + case,
                      "%s %s: rc %d %s %s" % (label, case, r.returncode,
                                              r.stdout, r.stderr))
        with open(out) as f:
            calls = int(f.read().split()[0].split("=")[1])
    check(calls > 0, "vector dispatcher never ran")


def case_threadexit():
    """500 threads exit one after the other: no hook stack is left behind,
    with every call served (count: exit reaches the dispatcher after the
    unmap) and under SUD alone (exit caught by SUD)."""
    misc = env_path("ZPTEST_MISC")
    for label, env in (("native", None), ("pass", hooked_env()),
                       ("count", hooked_env(ZPHOOKS_DISPATCH="count")),
                       ("sud", hooked_env(ZPHOOKS_MODE="sud"))):
        r = run([misc, "threadexit"], env=env)
        print(label, "rc", r.returncode, r.stdout.strip(), r.stderr.strip())
        check(r.returncode == 0 and r.stdout.strip() == "ok threadexit",
              "%s: rc %d %s %s" % (label, r.returncode, r.stdout, r.stderr))


def case_served_set():
    """zp_hooks_register_set: only the listed numbers reach the
    dispatcher, everything else (the program's and libc's getpid,
    mmap...) goes to the kernel from the entry; zp_hooks_filter_fd: write
    only for the fd whose table word is set (its low 32 bits)."""
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "out")
        env = dict(os.environ, LD_PRELOAD=env_path("ZPTEST_TESTDISP"),
                   ZPTEST_DISP="set", ZPTEST_OUT=out,
                   ZPTEST_BUSY_THREAD="1")
        r = run([env_path("ZPTEST_MISC"), "getppid", "5"], env=env)
        check(r.returncode == 0, "rc=%d %s" % (r.returncode, r.stderr))
        with open(out) as f:
            kv = dict(x.split("=") for x in f.read().split())
    print(kv)
    check(kv["api_errors"] == "0", "zp_hooks_register_set answered wrongly")
    check(kv["unserved"] == "0", "%s numbers outside the set reached the "
          "dispatcher" % kv["unserved"])
    check(int(kv["getppid"]) == 5, "dispatcher saw %s getppid, want 5" %
          kv["getppid"])
    check(int(kv["yields"]) > 0, "the busy thread's sched_yield not seen")
    check(int(kv["write2"]) >= 2, "writes to fd 2 (filtered in) not seen: %s"
          % kv["write2"])


def case_guard(busy=False):
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "out")
        env = dict(os.environ, LD_PRELOAD=env_path("ZPTEST_TESTDISP"),
                   ZPTEST_DISP="guard", ZPTEST_OUT=out)
        if busy:
            env["ZPTEST_BUSY_THREAD"] = "1"
        r = run([env_path("ZPTEST_MISC"), "getppid", "3"], env=env)
        check(r.returncode == 0, "rc=%d %s" % (r.returncode, r.stderr))
        with open(out) as f:
            kv = dict(x.split("=") for x in f.read().split())
    print(kv)
    check(int(kv["calls"]) > 0, "dispatcher never ran")
    check(int(kv["nested"]) == 0, "dispatcher re-entered itself")
    # 3 from the program; the dispatcher's own getppid() went to the kernel
    check(int(kv["getppid"]) == 3, "dispatcher saw %s getppid" %
          kv["getppid"])
    if busy:
        # the thread was rewritten under its feet and is now dispatched
        check(int(kv["yields"]) > 0, "busy thread's syscalls not seen")


def case_misc(name, expect_signal=None):
    for label, env in (("native", None), ("zpnet", hooked_env())):
        r = run([env_path("ZPTEST_MISC"), name], env=env)
        print(label, name, "rc", r.returncode, r.stdout.strip())
        if expect_signal:
            check(r.returncode == -expect_signal, "%s %s: rc %d, want "
                  "signal %d" % (label, name, r.returncode, expect_signal))
        else:
            check(r.returncode == 0 and r.stdout.strip() == "ok " + name,
                  "%s %s: rc %d %s" % (label, name, r.returncode, r.stderr))


TORN_ROUNDS = 500    # misc.c


def case_torn():
    """Live patching of a `syscall` that straddles a cache line, under
    two threads running it: every call returns the right value and nothing
    dies (a torn 2-byte store gives ff 05 / 0f d0: SIGSEGV / SIGILL in
    most runs), each round went through the int3 protocol and threads met
    its int3; the app's own SIGTRAP handler still works.  The page has no
    unwind info (JIT code): the site is rewritten once SUD caught it and
    given back (0f 05 again) when the page is made writable, each round."""
    misc = env_path("ZPTEST_MISC")
    r = run([misc, "torn"])
    check(r.returncode == 0 and r.stdout.strip() == "ok torn",
          "native: rc %d %s" % (r.returncode, r.stdout))
    r = run([misc, "torn"], env=hooked_env())
    print("zpnet rc", r.returncode, r.stdout.strip())
    check(r.returncode == 0 and r.stdout.endswith("ok torn\n"),
          "zpnet: rc %d %s %s" % (r.returncode, r.stdout, r.stderr))
    words = r.stdout.split()
    st = dict(zip(words[0:8:2], (int(w) for w in words[1:8:2])))
    check(set(st) == {"pokes", "traps", "lazy", "forgotten"},
          "no stats line: %s" % r.stdout)
    # once per round: rewritten after SUD caught it, given back at mprotect
    check(st["lazy"] >= TORN_ROUNDS and st["forgotten"] >= TORN_ROUNDS - 1,
          "lazy %(lazy)d forgotten %(forgotten)d" % st)
    pokes, traps = st["pokes"], st["traps"]
    check(pokes >= TORN_ROUNDS,
          "%d int3-protocol writes, want >= %d" % (pokes, TORN_ROUNDS))
    check(traps > 0, "no thread met the int3: the race was not exercised")


def case_df():
    """A syscall made with DF set: DF is set again after it (stub and
    address-0 paths), and the C dispatcher runs with DF clear, as the C
    ABI requires (else memset/memcpy run backwards over memory)."""
    case_misc("df")
    for disp in ("vector", "guard"):
        with tempfile.TemporaryDirectory() as d:
            out = os.path.join(d, "out")
            env = dict(os.environ, LD_PRELOAD=env_path("ZPTEST_TESTDISP"),
                       ZPTEST_DISP=disp, ZPTEST_OUT=out)
            r = run([env_path("ZPTEST_MISC"), "df"], env=env)
            check(r.returncode == 0 and r.stdout.strip() == "ok df",
                  "%s dispatcher: rc %d %s" % (disp, r.returncode, r.stderr))
            with open(out) as f:
                kv = dict(x.split("=") for x in f.read().split())
        print(disp, kv)
        check(int(kv["calls"]) > 0, "dispatcher never ran")
        check(kv["df"] == "0", "%s dispatcher entered %s times with DF set" %
              (disp, kv["df"]))


def case_sigmask():
    """sigprocmask under SUD: with SUD armed (an RWX page) and in SUD-only
    mode, the mask the app sets sticks, and a syscall SUD catches while
    every signal is blocked works (a blocked SIGSYS would kill it)."""
    case_misc("sigmask")
    for extra in ({"ZPHOOKS_MODE": "sud"}, {"ZPHOOKS_SUD": "always"}):
        r = run([env_path("ZPTEST_MISC"), "sigmask"], env=hooked_env(**extra))
        print(extra, "rc", r.returncode, r.stdout.strip())
        check(r.returncode == 0 and r.stdout.strip() == "ok sigmask",
              "%s: rc %d %s %s" % (extra, r.returncode, r.stdout, r.stderr))


def case_bignr_tramp():
    misc = env_path("ZPTEST_MISC")
    r = run([misc, "bignr-tramp"])
    check(r.returncode == 0, "native: rc %d %s" % (r.returncode, r.stdout))
    r = run([misc, "bignr-tramp"], env=hooked_env())
    print("zpnet rc", r.returncode)
    check(r.returncode == -signal.SIGSEGV, "zpnet: rc %d, want SIGSEGV" %
          r.returncode)


def case_return():
    r = run([env_path("ZPTEST_MISC"), "getpid", "5"],
            env=hooked_env(ZPHOOKS_DISPATCH="return",
                           ZPHOOKS_RETURN_VALUE="4242"))
    check(r.returncode == 0 and r.stdout.strip() == "4242",
          "return dispatcher: rc %d out %r" % (r.returncode, r.stdout))


def need(*progs):
    """Skip (77) when a program the case runs is not installed."""
    for p in progs:
        if shutil.which(p) is None:
            print("SKIP: %s not installed (scripts/setup.sh installs it)" % p)
            sys.exit(SKIP)


def same_output(argv, volatile=(), **kw):
    """Same rc, stdout and stderr; lines naming a volatile entry (the link
    count of /proc changes as processes come and go) are left out."""
    def strip(text):
        return "".join(l for l in text.splitlines(True)
                       if l.rstrip("\n").split(" ")[-1] not in volatile)
    plain = run(argv, **kw)
    hooked = run(argv, env=hooked_env(), **kw)
    plain.stdout, hooked.stdout = strip(plain.stdout), strip(hooked.stdout)
    if hooked.stdout != plain.stdout:
        # the system may have changed in between: a plain run after it
        again = run(argv, **kw)
        again.stdout = strip(again.stdout)
        if again.stdout == hooked.stdout:
            plain = again
    check(plain.returncode == 0, "plain run failed: %s" % plain.stderr)
    diff = "".join(difflib.unified_diff(
        (plain.stdout + plain.stderr).splitlines(True),
        (hooked.stdout + hooked.stderr).splitlines(True), "plain", "zpnet"))
    check(hooked.returncode == plain.returncode and
          hooked.stdout == plain.stdout and hooked.stderr == plain.stderr,
          "output differs for %s (rc %d vs %d):\n%s" %
          (argv, plain.returncode, hooked.returncode, diff))
    print("same output:", " ".join(argv)[:60], "(%d bytes)" %
          len(plain.stdout))


def case_ls():
    same_output(["ls", "-la", "/"], volatile=("proc", "tmp", "run", "dev"))
    same_output(["ls", "-la", "/usr/lib/x86_64-linux-gnu"])


def case_sh():
    same_output(["sh", "-c", "seq 1 2000 | sort -r | head -5; "
                 "echo $(( $(seq 1 100 | wc -l) * 2 )) | cat"])


def case_python():
    code = ("import threading, subprocess\n"
            "out = []\n"
            "ts = [threading.Thread(target=lambda i=i: out.append(i * i)) "
            "for i in range(8)]\n"
            "[t.start() for t in ts]; [t.join() for t in ts]\n"
            "print(sorted(out))\n"
            "print(subprocess.run(['echo', 'child'], capture_output=True, "
            "text=True).stdout.strip())\n"
            "print(subprocess.check_output('echo a | tr a b', shell=True, "
            "text=True).strip())\n")
    same_output([python3(), "-c", code])


def case_gcc():
    need("gcc")
    src = "#include <stdio.h>\nint main(void) { printf(\"%d\\n\", 6 * 7); " \
          "return 0; }\n"
    with tempfile.TemporaryDirectory() as d:
        c = os.path.join(d, "t.c")
        with open(c, "w") as f:
            f.write(src)
        objs = []
        for label, env in (("plain", None), ("zpnet", hooked_env())):
            o = os.path.join(d, label + ".o")
            r = run(["gcc", "-O2", "-c", c, "-o", o], env=env)
            check(r.returncode == 0, "%s gcc: %s" % (label, r.stderr))
            with open(o, "rb") as f:
                objs.append(f.read())
        check(objs[0] == objs[1], "gcc output differs under zpnet")
        exe = os.path.join(d, "t")
        r = run(["gcc", c, "-o", exe], env=hooked_env())
        check(r.returncode == 0, "gcc link: %s" % r.stderr)
        r = run([exe], env=hooked_env())
        check(r.stdout == "42\n", "compiled program printed %r" % r.stdout)
    print("gcc: identical object, linked program runs")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def case_redis():
    need("redis-server", "redis-cli")
    port = str(free_port())
    cli = ["redis-cli", "-h", "127.0.0.1", "-p", port]
    srv = subprocess.Popen(["redis-server", "--port", port, "--bind",
                            "127.0.0.1", "--save", "", "--appendonly", "no",
                            "--daemonize", "no"],
                           env=hooked_env(), stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.time() + 20
        pong = ""
        while time.time() < deadline and pong != "PONG":
            time.sleep(0.1)
            pong = run(cli + ["ping"]).stdout.strip()
        check(pong == "PONG", "no PONG from redis under zpnet")
        check(run(cli + ["set", "zpkey", "zpval"]).stdout.strip() == "OK",
              "SET failed")
        check(run(cli + ["get", "zpkey"]).stdout.strip() == "zpval",
              "GET failed")
        run(cli + ["shutdown", "nosave"])
        rc = srv.wait(timeout=20)
        log = srv.stdout.read().decode(errors="replace")
        check(rc == 0, "redis exited %d:\n%s" % (rc, log[-2000:]))
        check("ready to exit" in log, "no clean shutdown in log")
        print("redis: PONG, SET/GET, clean shutdown")
    finally:
        if srv.poll() is None:
            os.killpg(srv.pid, signal.SIGKILL)
            srv.wait()


def case_min_addr():
    """vm.mmap_min_addr > 0 without CAP_SYS_RAWIO: a clear message."""
    if os.geteuid() != 0:
        print("SKIP: needs root to change vm.mmap_min_addr")
        sys.exit(SKIP)
    setpriv = "/usr/bin/setpriv"
    check(os.path.exists(setpriv), "setpriv (util-linux) missing")
    drop = [setpriv, "--inh-caps=-sys_rawio", "--bounding-set=-sys_rawio",
            "--"]
    with open(SYSCTL, "w") as f:
        f.write("65536")
    try:
        r = run(drop + ["/bin/true"], env=hooked_env())
        r2 = run(drop + [env_path("ZPTEST_MISC"), "getppid", "1"],
                 env=hooked_env(ZPHOOKS_ALLOW_SUD_ONLY="1"))
    finally:
        with open(SYSCTL, "w") as f:
            f.write("0")
    print(r.stderr.strip())
    check(r.returncode == 1, "rc %d, want 1" % r.returncode)
    check("vm.mmap_min_addr is 65536" in r.stderr and
          "sysctl -w vm.mmap_min_addr=0" in r.stderr,
          "message does not name the fix: %r" % r.stderr)
    check(r2.returncode == 0 and "ok getppid" in r2.stdout,
          "SUD-only fallback failed: rc %d %s" % (r2.returncode, r2.stderr))


def case_forkcb():
    """Fork callbacks: once around fork(), never for posix_spawn (vfork
    semantics) or threads; the child's callback runs in the child."""
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "out")
        env = dict(os.environ, LD_PRELOAD=env_path("ZPTEST_TESTDISP"),
                   ZPTEST_DISP="guard", ZPTEST_OUT=out)
        r = run([env_path("ZPTEST_PROBE"), env_path("ZPTEST_PROBE_DL")],
                env=env)
        check(r.returncode == 0, "probe: rc %d %s" % (r.returncode,
                                                     r.stderr))
        pids = dict(kv.split("=") for kv in r.stdout.split())
        with open(out) as f:
            kv = dict(x.split("=") for x in f.read().split())
        with open(out + ".child") as f:
            children = [int(x) for x in f.read().split()]
    print(kv, children)
    check(kv["api_errors"] == "0", "zp_hooks_register answered wrongly")
    check(kv["prepare"] == "1" and kv["parent"] == "1",
          "prepare/parent called %s/%s times, want 1/1" %
          (kv["prepare"], kv["parent"]))
    check(int(kv["child_pid"]) == int(pids["fork"]),
          "parent callback got %s, fork returned %s" %
          (kv["child_pid"], pids["fork"]))
    check(children == [int(pids["fork"])], "child callback ran in %s" %
          children)


CASES = {
    "count": case_count,
    "count-sud": lambda: case_count("sud"),
    "regs-native": lambda: case_regs(None, 0),
    "regs-pass": lambda: case_regs(hooked_env(), 0x8000),
    # SUD alone, every call served: caught calls resume in the entry below
    # the red zone, which stays whole on every path
    "regs-sud": lambda: case_regs(hooked_env(ZPHOOKS_MODE="sud",
                                             ZPHOOKS_DISPATCH="count"), 0),
    "regs-vector": case_regs_vector,
    # the same with the state saved by XSAVE(C)/XRSTOR, not by hand
    "regs-vector-xsave": lambda: case_regs_vector(ZPHOOKS_VSAVE="xsave"),
    "regs-veccall": case_regs_veccall,
    "vcheck": case_vcheck,
    "served-set": case_served_set,
    "tinystack": case_tinystack,
    "threadexit": case_threadexit,
    "guard": case_guard,
    "live": lambda: case_guard(busy=True),
    "forkcb": case_forkcb,
    "nullcall": lambda: case_misc("nullcall", signal.SIGSEGV),
    "nullcall-asm": lambda: case_misc("nullcall-asm", signal.SIGSEGV),
    "bignr": lambda: case_misc("bignr"),
    "bignr-tramp": case_bignr_tramp,
    "df": case_df,
    "sigmask": case_sigmask,
    "forklock": lambda: case_misc("forklock"),
    "torn": case_torn,
    "textdata": lambda: case_misc("textdata"),
    "jitbytes": lambda: case_misc("jitbytes"),
    "jitchurn": lambda: case_misc("jitchurn"),
    "bigtext": lambda: case_misc("bigtext"),
    "vfork": lambda: case_misc("vfork"),
    "clone": lambda: case_misc("clone"),
    "sigalrm": lambda: case_misc("sigalrm"),
    "sigsys": lambda: case_misc("sigsys"),
    "return": case_return,
    "ls": case_ls,
    "sh": case_sh,
    "python": case_python,
    "gcc": case_gcc,
    "redis": case_redis,
    "min-addr": case_min_addr,
}


def main():
    if len(sys.argv) != 2 or sys.argv[1] not in CASES:
        print("usage: hooks_test.py {%s}" % ",".join(CASES))
        return 2
    preflight()
    try:
        CASES[sys.argv[1]]()
    except Fail as e:
        print("FAIL:", e)
        return 1
    print("PASS", sys.argv[1])
    return 0


if __name__ == "__main__":
    sys.exit(main())
