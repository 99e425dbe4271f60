#!/bin/bash
# The service thread keeps out of the way of a thread that polls, and takes
# over when it stops: tests/apps/servicecheck.py's one-thread server echoes
# 30 lines 0.1 s apart (a blocking recv between them, which busy-polls the
# whole gap under [bond] busy_poll_us = 1 s), then sleeps 4 s in the kernel
# while the client connects a second time and sends a line.
#   - On the kernel, then under zpnet: every line comes back, and the
#     second connection is made (2.5 s timeout) while the server sleeps.
#   - Under zpnet, while the server polls, its zpnet-service thread sleeps
#     and wakes fewer than 150 times a second (/proc's context switches
#     over 2 s; with naps that stay at service_interval_us, 1 ms, it was
#     1000); while the server sleeps it polls the stack (the handshake,
#     stack.service_polls).
# usage: service.sh ZPNET_BINARY
set -u
ZPNET=$1
source "$(dirname "$0")/common.sh"
CHECK=$HERE/servicecheck.py
PORT=7420
WINDOW=2

SCFG=$TMP/service.ini
zpns_config "$SCFG" "[hooks]
mode = $MODE
[bond]
busy_poll_us = 1000000
busy_poll_max_us = 0"

zpns_bg_k() { setsid ip netns exec "$NS_K" "$@" > "$TMP/kernel.log" 2>&1 & ZPNS_LAST=$!; ZPNS_PIDS+=("$ZPNS_LAST"); }
zpns_bg_k timeout 60 python3 "$CHECK" server 127.0.0.1 $PORT
zpns_wait_ready "$TMP/kernel.log" 20 || fail "the kernel server did not start"
zpns_k timeout 60 python3 "$CHECK" client 127.0.0.1 $PORT || fail "on the kernel stack"
wait "$ZPNS_LAST" || fail "the kernel server exited with $?"
echo "ok kernel: the same client passes"

# the switches of the server's zpnet-service thread, voluntary + not
switches() {
	local t
	for t in /proc/$SPID/task/*; do
		[ "$(cat "$t/comm" 2>/dev/null)" = zpnet-service ] || continue
		awk '/^(non)?voluntary_ctxt_switches/ { n += $2 } END { print n }' "$t/status"
		return 0
	done
	return 1
}

stats=$TMP/zpnet.stats
zpns_bg_z "$TMP/server.log" env ZPNET_STATS="$stats" timeout 60 \
	"$ZPNET" run -c "$SCFG" -- python3 "$CHECK" server $Z_ADDR $PORT
zpns_wait_ready "$TMP/server.log" 30 || fail "the server under zpnet did not start"
SPID=$(awk '$1 == "ready" { print $2; exit }' "$TMP/server.log")
[ -n "$SPID" ] || fail "the server printed no pid"
zpns_k timeout 60 python3 "$CHECK" client $Z_ADDR $PORT > "$TMP/client.log" 2>&1 &
CLIENT=$!
for ((i = 0; i < 100; i++)); do
	grep -q polling "$TMP/client.log" && break
	sleep 0.1
done
grep -q polling "$TMP/client.log" || fail "the client did not connect"
sleep 0.5
s0=$(switches) || fail "no zpnet-service thread in $SPID"
sleep $WINDOW
s1=$(switches) || fail "the zpnet-service thread of $SPID is gone"
grep -q "rounds done" "$TMP/client.log" &&
	fail "the rounds ended before the window did: nothing measured while the server polled"
wait "$CLIENT" || fail "under zpnet: $(tail -3 "$TMP/client.log")"
cat "$TMP/client.log"
wait "$ZPNS_LAST" || fail "the server under zpnet exited with $?"
wakes=$((s1 - s0))
echo "zpnet-service: $wakes switches in $WINDOW s while the server polled"
((wakes < 150 * WINDOW)) ||
	fail "the service thread woke $wakes times in $WINDOW s while the application polled"
polls=$(awk '$1 == "stack.service_polls" { print $2 }' "$stats")
[ -n "$polls" ] || fail "no stack.service_polls in ZPNET_STATS"
((polls > 0)) || fail "the service thread never polled, though the server slept 4 s"
echo "ok zpnet: the same client passes; the service thread kept away while the server polled, and polled $polls times"
echo PASS
