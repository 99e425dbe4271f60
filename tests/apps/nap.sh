#!/bin/bash
# A server that sleeps between requests is woken by the next one, however
# it waits: tests/apps/napcheck.py's echo server (a blocking recv, select,
# poll and epoll_wait, each in its own thread beside a kernel pipe) gets 5
# requests 0.3 s apart on each, on the kernel stack, then under zpnet with
# [bond] busy_poll_us = 0 and max_nap_us = 1 s: every request is echoed
# whole, and ZPNET_STATS shows that net_af_packet's socket ended the naps
# (stack.nap_port_wakes), not their timers.
# usage: nap.sh ZPNET_BINARY
set -u
ZPNET=$1
source "$(dirname "$0")/common.sh"
CHECK=$HERE/napcheck.py
PORT=7400
REQUESTS=20	# 4 ways x 5

zpns_bg_k() { setsid ip netns exec "$NS_K" "$@" > "$TMP/kernel.log" 2>&1 & ZPNS_LAST=$!; ZPNS_PIDS+=("$ZPNS_LAST"); }
zpns_bg_k timeout 60 python3 "$CHECK" server 127.0.0.1 $PORT
zpns_wait_ready "$TMP/kernel.log" 20 || fail "kernel server did not start"
zpns_k timeout 60 python3 "$CHECK" client 127.0.0.1 $PORT || fail "on the kernel stack"
wait "$ZPNS_LAST" || fail "the kernel server exited with $?"
echo "ok: the kernel passes"

NCFG=$TMP/nap.ini
zpns_config "$NCFG" "[hooks]
mode = $MODE
[bond]
busy_poll_us = 0
max_nap_us = 1000000"
zpns_bg_z "$TMP/server.log" env ZPNET_STATS="$TMP/server.stats" timeout 60 \
	"$ZPNET" run -c "$NCFG" -- python3 "$CHECK" server $Z_ADDR $PORT
zpns_wait_ready "$TMP/server.log" 30 || fail "server under zpnet did not start"
zpns_k timeout 60 python3 "$CHECK" client $Z_ADDR $PORT || fail "under zpnet"
wait "$ZPNS_LAST" || fail "the server under zpnet exited with $?"
echo "ok: zpnet passes"

naps=$(awk '$1 == "stack.naps" { print $2 }' "$TMP/server.stats")
wakes=$(awk '$1 == "stack.nap_port_wakes" { print $2 }' "$TMP/server.stats")
[ -n "$naps" ] && [ -n "$wakes" ] || fail "no stack.naps or stack.nap_port_wakes in ZPNET_STATS"
echo "naps $naps, ended by a frame $wakes"
# Each request finds the server asleep; its frame wakes every napping
# thread, and one that finds the ring already drained sleeps on: at least
# one wake-up per request, most of the time more.
[ "$wakes" -ge $REQUESTS ] ||
	fail "only $wakes of $naps naps were ended by a frame, for $REQUESTS requests"
echo "ok: frames ended the naps"
