#!/bin/bash
# A SYN flood: 40,000 SYNs at 20,000/s from spoofed sources that never
# answer (tests/lib/syn_flood.py) while a legitimate client opens a new
# connection every 0.4 s, each of which must be up and echo within 1 s,
# and a connection made before the flood keeps echoing. The same
# assertions on the kernel stack (tcp_syncookies = 1, on vz0) first, then
# on the demo server, whose listener answers past its SYN queue with SYN
# cookies (netstack/ns_syncookie.c); its counters must show them, and
# that every spoofed SYN went by the connection hash (netstack/ns_demux.c:
# no walk over the connections; [stack] demux_check verifies each).
. "$(dirname "$0")/common.sh"
SYN="python3 $here/../lib/syn_flood.py"

zpns_setup 1
trap cleanup EXIT
zpns_z ip addr add 198.18.0.2/24 dev vz0
zpns_bg_z "$TMP/kernel.log" $SYN serve 7 60
for ((i = 0; i < 50; i++)); do grep -q ready "$TMP/kernel.log" && break; sleep 0.1; done
zpns_k timeout 60 $SYN check 198.18.0.2 7 | sed 's/^/kernel: /'
[ "${PIPESTATUS[0]}" = 0 ] || fail "kernel: the flood kept a client out"
kill -TERM -- "-$ZPNS_LAST" 2>/dev/null
zpns_teardown

zpns_setup 1
zpns_config "$TMP/zpnet.ini" ""
zpns_bg_z "$LOG" "$DEMO" -c "$TMP/zpnet.ini" -s -t "$DEMO_LIMIT_S"
zpns_wait_ready "$LOG" 30 || fail "demo server did not start"
zpns_k timeout 60 $SYN check 198.18.0.2 7 | sed 's/^/zpnet: /'
[ "${PIPESTATUS[0]}" = 0 ] || fail "zpnet: the flood kept a client out"
stack_stop
grep -E "^tcp\.(syncookies|listen|demux)" "$LOG"
sent=$(sed -n 's/^tcp.syncookies_sent //p' "$LOG")
recv=$(sed -n 's/^tcp.syncookies_recv //p' "$LOG")
[ "${sent:-0}" -gt 10000 ] || fail "SYN cookies sent: ${sent:-none}"
[ "${recv:-0}" -ge 1 ] || fail "no connection came from a cookie"
hashed=$(sed -n 's/^tcp.demux_hashed //p' "$LOG")
errors=$(sed -n 's/^tcp.demux_errors //p' "$LOG")
walked=$(sed -n 's/^tcp.demux_walked //p' "$LOG")
[ "${hashed:-0}" -gt 10000 ] || fail "SYNs past the connection hash: ${hashed:-none}"
[ "${walked:-x}" -le $((hashed / 100)) ] || fail "segments that needed a walk: ${walked:-?}"
[ "${errors:-x}" = 0 ] || fail "the connection hash missed ${errors:-?} connections"
echo PASS
