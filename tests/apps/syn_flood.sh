#!/bin/bash
# A SYN flood against an unmodified server: tests/lib/syn_flood.py's echo
# server (backlog 255, threads) under zpnet, 40,000 spoofed SYNs at
# 20,000/s, new connections every 0.4 s up and echoing within 1 s, an
# earlier one still echoing (the stack suite's syn_flood runs the same
# against the kernel and the demo); the listener's accept queue is bond's,
# so this is the path a real server takes. The ZPNET_STATS counters must
# show SYN cookies sent and connections made from them.
# usage: syn_flood.sh ZPNET_BINARY
set -u
ZPNET=$1
source "$(cd "$(dirname "$0")" && pwd)/common.sh"
SYN="python3 $HERE/../lib/syn_flood.py"

ZPNET_STATS=$TMP/stats zpns_bg_z "$TMP/server.log" "$ZPNET" run -c "$ZCFG" -- $SYN serve 7 30
for ((i = 0; i < 100; i++)); do grep -q '^ready' "$TMP/server.log" && break; sleep 0.1; done
grep -q '^ready' "$TMP/server.log" || fail "server not up"
zpns_k timeout 60 $SYN check $Z_ADDR 7 > "$TMP/check.out" 2>&1
rc=$?
cat "$TMP/check.out"
[ $rc = 0 ] || fail "the flood kept a client out"
kill -INT "$ZPNS_LAST"	# Python exits normally: the counters are written
wait "$ZPNS_LAST" 2>/dev/null
grep -E "^tcp\.(syncookies|listen)" "$TMP/stats" || fail "no counters written"
sent=$(sed -n 's/^tcp.syncookies_sent //p' "$TMP/stats")
recv=$(sed -n 's/^tcp.syncookies_recv //p' "$TMP/stats")
[ "${sent:-0}" -gt 10000 ] || fail "SYN cookies sent: ${sent:-none}"
[ "${recv:-0}" -ge 1 ] || fail "no connection came from a cookie"
echo "ok 40,000 spoofed SYNs: new connections within 1 s, cookies sent $sent, connections from cookies $recv"
echo PASS
