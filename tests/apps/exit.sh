#!/bin/bash
# No data lost at exit: a program under zpnet writes 1 MB to a TCP
# connection and leaves without closing it, by exit() and by _exit()
# (exit_group, no atexit handlers). The kernel peer must get every byte
# and then the FIN, as when the kernel closes a dying process's sockets.
# On both ways out ZPNET_STATS gets the stack's counters: at least the
# frames 1 MB needs went out.
# usage: exit.sh ZPNET_BINARY
set -u
ZPNET=$1
source "$(dirname "$0")/common.sh"
PY=/usr/bin/python3	# not a wrapper script that forks (see bond/README.md)
N=1000000

for how in "sys.exit(0)" "os._exit(0)"; do
	rm -f "$TMP/got" "$TMP/stats"
	zpns_k timeout 60 socat -u TCP-LISTEN:7100,reuseaddr OPEN:"$TMP/got",creat,trunc &
	sink=$!
	wait_tcp zpns_k $K_ADDR 7100 10 || fail "sink did not listen"
	# wait_tcp's probe connection was the sink's one connection: restart it.
	wait $sink 2>/dev/null
	zpns_k timeout 60 socat -u TCP-LISTEN:7100,reuseaddr OPEN:"$TMP/got",creat,trunc &
	sink=$!
	sleep 0.3
	ZPNET_STATS=$TMP/stats zpns_z timeout 60 "$ZPNET" run -c "$ZCFG" -- $PY -c "
import os, socket, sys
s = socket.create_connection(('$K_ADDR', 7100))
s.sendall(b'z' * $N)
$how" || fail "$how: the writer failed"
	# The sink exits only after the FIN.
	wait $sink || fail "$how: the sink did not see the connection close (rc $?)"
	got=$(stat -c %s "$TMP/got" 2>/dev/null || echo 0)
	[ "$got" = $N ] || fail "$how: the peer got $got of $N bytes"
	grep -q "^pid [0-9]" "$TMP/stats" 2>/dev/null || fail "$how: no ZPNET_STATS file"
	frames=$(awk '$1 == "port0.tx_pkts" { print $2 }' "$TMP/stats")
	[ "${frames:-0}" -ge $((N / 1460)) ] ||
		fail "$how: ZPNET_STATS says ${frames:-no} frames sent for $N bytes"
	echo "ok $how: $N bytes, then the FIN; $frames frames in ZPNET_STATS"
done
echo PASS
