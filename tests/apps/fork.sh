#!/bin/bash
# Sockets shared across fork(), as Linux shares open file descriptions:
# tests/apps/forkcheck.py's prefork server (two acceptors on the parent's
# listening socket; a child serving what its parent closed; a parent going
# on after its child's exit; the last holder's close, and its SIGKILL,
# closing the connection; socketserver.ForkingTCPServer echoing 20 x 64 KiB;
# two SO_REUSEPORT sockets sharing connections) on the kernel stack, then
# under zpnet; the same assertions both times. Then, under zpnet: 200
# children SIGKILLed while they use the stack (some while holding the stack
# lock) are all released, the lock is taken back from the dead, and the
# parent still accepts and answers; and what zpnet refuses: a stack socket
# passed with SCM_RIGHTS fails with EOPNOTSUPP, said once (sendmmsg: the
# messages before it are sent); one left open
# across exec is said once.
# usage: fork.sh ZPNET_BINARY
set -u
ZPNET=$1
source "$(dirname "$0")/common.sh"
CHECK=$HERE/forkcheck.py
PORT=7300

# The kernel: server and client in the kernel namespace, on loopback.
zpns_bg_k timeout 120 python3 "$CHECK" server 127.0.0.1 $PORT
zpns_wait_ready "$TMP/kernel.log" 20 || fail "kernel server did not start"
zpns_k timeout 120 python3 "$CHECK" client 127.0.0.1 $PORT || fail "on the kernel stack"
kill -TERM -- -"$ZPNS_LAST" 2>/dev/null
echo "ok: the kernel passes"

zpns_bg_z "$TMP/server.log" timeout 120 "$ZPNET" run -c "$ZCFG" -- \
	python3 "$CHECK" server $Z_ADDR $PORT
zpns_wait_ready "$TMP/server.log" 30 || fail "server under zpnet did not start"
zpns_k timeout 120 python3 "$CHECK" client $Z_ADDR $PORT || fail "under zpnet"
echo "ok: zpnet passes"
# The port is the server tree's until its last process is gone.
kill -TERM -- -"$ZPNS_LAST" 2>/dev/null
for ((i = 0; i < 100; i++)); do
	kill -0 -- -"$ZPNS_LAST" 2>/dev/null || break
	sleep 0.1
done

# Killed in the middle of stack calls, 200 times.
KILLS=200
zpns_bg_z "$TMP/kills.log" env ZPNET_STATS="$TMP/kills.stats" timeout 120 \
	"$ZPNET" run -c "$ZCFG" -- python3 -c '
import os, random, signal, socket, sys, time
s = socket.socket()
s.bind(("0.0.0.0", int(sys.argv[1])))
s.listen(8)
s.setblocking(False)
for i in range(int(sys.argv[2])):
    pid = os.fork()
    if pid == 0:
        while True:
            try:
                s.accept()
            except BlockingIOError:
                pass
            s.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
    time.sleep(random.uniform(0.001, 0.01))
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
s.setblocking(True)
print("ready", flush=True)
c, _ = s.accept()
c.sendall(b"alive")
c.close()' $((PORT + 3)) $KILLS
zpns_wait_ready "$TMP/kills.log" 90 || fail "the parent of the killed children did not go on"
got=$(zpns_k timeout 10 python3 -c '
import socket, sys
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5)
print(s.recv(16).decode())' $Z_ADDR $((PORT + 3)))
[ "$got" = alive ] || fail "the parent of the killed children does not answer: '$got'"
for ((i = 0; i < 100; i++)); do
	kill -0 "$ZPNS_LAST" 2>/dev/null || break
	sleep 0.1
done
reaped=$(awk '$1 == "stack.procs_reaped" {print $2}' "$TMP/kills.stats" 2>/dev/null)
recovered=$(awk '$1 == "stack.lock_recovered" {print $2}' "$TMP/kills.stats" 2>/dev/null)
[ "${reaped:-0}" = $KILLS ] || fail "${reaped:-no} of $KILLS killed children released"
# Where a kill lands is chance: under zpoline 5-10% of them land inside the
# stack lock (11-21 of 200 seen), so none in 200 means the recovery failed;
# under sud most of a call's time is the SIGSYS round trip, outside it.
if [ "$MODE" = zpoline ] && [ "${recovered:-0}" -lt 1 ]; then
	fail "no kill found the stack lock held (${recovered:-none} recovered)"
fi
echo "ok: $KILLS children killed mid-call: all released, the lock taken back from the dead $recovered times, the parent answers"

out=$(zpns_z timeout 60 "$ZPNET" run -c "$ZCFG" -- python3 -c '
import errno, socket
s = socket.socket()
a, b = socket.socketpair()
for _ in range(2):
    try:
        socket.send_fds(a, [b"x"], [s.fileno()])
        print("sent")
    except OSError as e:
        print("refused", errno.errorcode[e.errno])
socket.send_fds(a, [b"x"], [a.fileno()])
print("unix fd sent")' 2>&1)
echo "$out"
[ "$(echo "$out" | grep -cE '^refused (EOPNOTSUPP|ENOTSUP)$')" = 2 ] || fail "SCM_RIGHTS of a stack socket not refused"
[ "$(echo "$out" | grep -c 'cannot be passed to another process with SCM_RIGHTS')" = 1 ] ||
	fail "SCM_RIGHTS refusal not said exactly once"
echo "$out" | grep -q '^unix fd sent' || fail "SCM_RIGHTS of a kernel fd refused"
# one log-line convention: 'zpnet[PID]: message', one line each
grep -qE '^zpnet\[[0-9]+\]: cannot be passed|^zpnet\[[0-9]+\]: fd [0-9]+ is a socket' <<< "$out" ||
	fail "the refusal is not one 'zpnet[PID]: ...' line"
grep -qE 'zpnet\[[0-9]+\]: zpnet:|^$' <<< "$out" && fail "doubled log prefix or an empty line"
echo "ok: SCM_RIGHTS of a stack socket: EOPNOTSUPP, said once (one log line); kernel fds pass"

# sendmmsg: the messages before the one passing a stack socket are sent
out=$(zpns_z timeout 60 "$ZPNET" run -c "$ZCFG" -- python3 -c '
import ctypes, errno, socket
libc = ctypes.CDLL(None, use_errno=True)
class Iov(ctypes.Structure):
    _fields_ = [("base", ctypes.c_char_p), ("len", ctypes.c_size_t)]
class Cmsg(ctypes.Structure):
    _fields_ = [("len", ctypes.c_size_t), ("level", ctypes.c_int),
                ("type", ctypes.c_int), ("fd", ctypes.c_int), ("pad", ctypes.c_int)]
class Msg(ctypes.Structure):
    _fields_ = [("name", ctypes.c_void_p), ("namelen", ctypes.c_uint),
                ("iov", ctypes.POINTER(Iov)), ("iovlen", ctypes.c_size_t),
                ("control", ctypes.c_void_p), ("controllen", ctypes.c_size_t),
                ("flags", ctypes.c_int)]
class MMsg(ctypes.Structure):
    _fields_ = [("hdr", Msg), ("len", ctypes.c_uint)]
s = socket.socket()
a, b = socket.socketpair()
iov = Iov(b"x", 1)
def send(fds):
    v = (MMsg * len(fds))()
    keep = []
    for i, fd in enumerate(fds):
        c = Cmsg(20, socket.SOL_SOCKET, socket.SCM_RIGHTS, fd, 0)
        keep.append(c)
        v[i].hdr.iov = ctypes.pointer(iov)
        v[i].hdr.iovlen = 1
        v[i].hdr.control = ctypes.addressof(c)
        v[i].hdr.controllen = 24
    r = libc.sendmmsg(a.fileno(), v, len(fds), 0)
    return r if r >= 0 else errno.errorcode[ctypes.get_errno()]
print("mmsg", send([b.fileno(), s.fileno(), b.fileno()]), send([s.fileno(), b.fileno()]))' 2>&1)
echo "$out" | grep -qE '^mmsg 1 (EOPNOTSUPP|ENOTSUP)$' ||
	fail "sendmmsg passing a stack socket: want 1 sent, then EOPNOTSUPP: $out"
echo "ok: sendmmsg sends the messages before the one passing a stack socket, then EOPNOTSUPP"

# A stack socket left open across exec cannot follow: said once, before
# (zpoline and sud catch execve; libc's exec functions reach the kernel
# without a symbol preload could interpose).
[ "$MODE" = preload ] && { echo PASS; exit 0; }
out=$(zpns_z timeout 60 "$ZPNET" run -c "$ZCFG" -- python3 -c '
import os, socket
s = socket.socket()
s.bind(("0.0.0.0", 7399))
s.listen(4)
os.set_inheritable(s.fileno(), True)
c = socket.socket()  # close-on-exec, as Python makes it: not named
os.execv("/bin/sh", ["sh", "-c", "echo exec ran"])' 2>&1)
echo "$out"
echo "$out" | grep -q '^exec ran' || fail "exec did not run"
[ "$(echo "$out" | grep -c "1 socket(s) of zpnet's stack stay open across exec")" = 1 ] ||
	fail "a stack socket open across exec not said exactly once"
echo "ok: a stack socket left open across exec: said once"
echo PASS
