#!/bin/bash
# Sockets shared across fork(), as Linux shares open file descriptions:
# tests/apps/forkcheck.py's prefork server (two acceptors on the parent's
# listening socket; a child serving what its parent closed; a parent going
# on after its child's exit; the last holder's close, and its SIGKILL,
# closing the connection; socketserver.ForkingTCPServer echoing 20 x 64 KiB;
# two SO_REUSEPORT sockets sharing connections) on the kernel stack, then
# under zpnet; the same assertions both times. Then what zpnet refuses: a
# stack socket passed with SCM_RIGHTS fails with EOPNOTSUPP, said once.
# usage: fork.sh ZPNET_BINARY
set -u
ZPNET=$1
source "$(dirname "$0")/common.sh"
CHECK=$HERE/forkcheck.py
PORT=7300

# The kernel: server and client in the kernel namespace, on loopback.
zpns_bg_k() { setsid ip netns exec "$NS_K" "$@" > "$TMP/kernel.log" 2>&1 & ZPNS_LAST=$!; ZPNS_PIDS+=("$ZPNS_LAST"); }
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
echo "ok: SCM_RIGHTS of a stack socket: EOPNOTSUPP, said once; kernel fds pass"
echo PASS
