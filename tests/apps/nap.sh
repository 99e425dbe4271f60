#!/bin/bash
# A server that sleeps between requests is woken by the next one, however
# it waits: tests/apps/napcheck.py's one-thread echo server, once per way
# of waiting (a blocking recv, select, poll and epoll_wait, the last three
# beside a kernel pipe), gets 5 requests 0.3 s apart, on the kernel stack,
# then under zpnet with [bond] busy_poll_us = 0 and max_nap_us = 1 s:
# every request is echoed whole, and each server's ZPNET_STATS shows that
# net_af_packet's socket ended its naps (stack.nap_port_wakes), not their
# timers: the SYN ends accept's nap, and each request, after it, the nap
# of the way under test (one thread: no other nap to take them).
# usage: nap.sh ZPNET_BINARY
set -u
ZPNET=$1
source "$(dirname "$0")/common.sh"
CHECK=$HERE/napcheck.py
PORT=7400
ROUNDS=5

NCFG=$TMP/nap.ini
zpns_config "$NCFG" "[hooks]
mode = $MODE
[bond]
busy_poll_us = 0
max_nap_us = 1000000"

for way in recv select poll epoll; do
	zpns_bg_k timeout 60 python3 "$CHECK" server 127.0.0.1 $PORT $way
	zpns_wait_ready "$TMP/kernel.log" 20 || fail "$way: kernel server did not start"
	zpns_k timeout 60 python3 "$CHECK" client 127.0.0.1 $PORT || fail "$way: on the kernel stack"
	wait "$ZPNS_LAST" || fail "$way: the kernel server exited with $?"
	echo "ok $way: the kernel passes"

	stats=$TMP/$way.stats
	zpns_bg_z "$TMP/server.log" env ZPNET_STATS="$stats" timeout 60 \
		"$ZPNET" run -c "$NCFG" -- python3 "$CHECK" server $Z_ADDR $PORT $way
	zpns_wait_ready "$TMP/server.log" 30 || fail "$way: server under zpnet did not start"
	zpns_k timeout 60 python3 "$CHECK" client $Z_ADDR $PORT || fail "$way: under zpnet"
	wait "$ZPNS_LAST" || fail "$way: the server under zpnet exited with $?"
	naps=$(awk '$1 == "stack.naps" { print $2 }' "$stats")
	wakes=$(awk '$1 == "stack.nap_port_wakes" { print $2 }' "$stats")
	errors=$(awk '$1 == "stack.nap_wake_errors" { print $2 }' "$stats")
	[ -n "$naps" ] && [ -n "$wakes" ] && [ -n "$errors" ] ||
		fail "$way: no stack.naps, nap_port_wakes or nap_wake_errors in ZPNET_STATS"
	echo "$way: $naps naps, $wakes ended by a frame, $errors by a wake fd's error"
	# the SYN, then each request (their ACKs may add more)
	[ "$wakes" -ge $((ROUNDS + 1)) ] ||
		fail "$way: only $wakes of $naps naps were ended by a frame, for $ROUNDS requests and a SYN"
	[ "$errors" = 0 ] || fail "$way: $errors wake fd errors"
	echo "ok $way: zpnet passes, frames ended the naps"
	PORT=$((PORT + 1))
done
echo PASS
