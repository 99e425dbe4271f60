#!/bin/bash
# The service thread keeps out of the way of a thread that polls, and takes
# over when it stops: tests/apps/servicecheck.py's one-thread server echoes
# 50 lines 0.1 s apart (a blocking recv between them, which busy-polls the
# whole gap under [bond] busy_poll_us = 1 s), answers "sleeping", then
# sleeps 4 s in the kernel while the client connects a second time and
# sends a line.
#   - On the kernel, then under zpnet: every line comes back, and the
#     second connection is made (3.5 s timeout) while the server sleeps.
#   - Under zpnet, while the server polls, its zpnet-service thread sleeps
#     and wakes fewer than 150 times a second (/proc's context switches
#     over 2 s; with naps that stay at service_interval_us, 1 ms, it was
#     1000); while the server sleeps it polls the stack, at least 100
#     times in 2 s (stack.service_polls from `zpnet stats`).
#   - Under zpnet with service_interval_us and service_backoff_us = 1 s:
#     "sleeping" comes within 0.5 s (a call's frames leave in the call;
#     the stack's next poll, the service thread's, comes 1 s after the
#     server's last at the earliest: when frames waited for it, this took
#     1.0-1.1 s), and the second connection all the same.
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
service_polls() {
	"$ZPNET" stats -c "$SPID" 2>/dev/null |
		awk '{ for (i = 1; i < NF; i++) if ($i == "stack.service_polls") print $(i + 1) }'
}

# zpnet_run CONFIG [REPLY_S]: the server under zpnet, the client against
# it in the background; SPID and CLIENT set, returns once it polls
zpnet_run() {
	zpns_bg_z "$TMP/server.log" timeout 60 \
		"$ZPNET" run -c "$1" -- python3 "$CHECK" server $Z_ADDR $PORT
	zpns_wait_ready "$TMP/server.log" 30 || fail "the server under zpnet did not start"
	SPID=$(awk '$1 == "ready" { print $2; exit }' "$TMP/server.log")
	[ -n "$SPID" ] || fail "the server printed no pid"
	zpns_k timeout 60 python3 "$CHECK" client $Z_ADDR $PORT ${2:-} > "$TMP/client.log" 2>&1 &
	CLIENT=$!
	for ((i = 0; i < 100; i++)); do
		grep -q polling "$TMP/client.log" && return 0
		sleep 0.1
	done
	fail "the client did not connect"
}
zpnet_end() {
	wait "$CLIENT" || fail "under zpnet ($1): $(tail -3 "$TMP/client.log")"
	cat "$TMP/client.log"
	wait "$ZPNS_LAST" || fail "the server under zpnet ($1) exited with $?"
	PORT=$((PORT + 1))
}

zpnet_run "$SCFG"
sleep 0.5
s0=$(switches) || fail "no zpnet-service thread in $SPID"
sleep $WINDOW
s1=$(switches) || fail "the zpnet-service thread of $SPID is gone"
grep -q "rounds done" "$TMP/client.log" &&
	fail "the rounds ended before the window did: nothing measured while the server polled"
for ((i = 0; i < 100; i++)); do
	grep -q "rounds done" "$TMP/client.log" && break
	sleep 0.05
done
p0=$(service_polls)
sleep $WINDOW
p1=$(service_polls)
[ -n "$p0" ] && [ -n "$p1" ] || fail "no stack.service_polls from zpnet stats $SPID"
zpnet_end defaults
wakes=$((s1 - s0))
echo "zpnet-service: $wakes switches in $WINDOW s while the server polled, $((p1 - p0)) polls in $WINDOW s while it slept"
((wakes < 150 * WINDOW)) ||
	fail "the service thread woke $wakes times in $WINDOW s while the application polled"
((p1 - p0 >= 100)) ||
	fail "the service thread polled $((p1 - p0)) times in $WINDOW s while the application slept"
echo "ok zpnet: the same client passes; the service thread kept away while the server polled, and took over while it slept"

LCFG=$TMP/service-long.ini
zpns_config "$LCFG" "[hooks]
mode = $MODE
[bond]
busy_poll_us = 1000000
busy_poll_max_us = 0
service_interval_us = 1000000
service_backoff_us = 1000000"
zpnet_run "$LCFG" 0.5
zpnet_end "long naps"
echo "ok zpnet, long service naps: the reply sent before the sleep left at once"
echo PASS
