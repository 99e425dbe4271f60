#!/bin/bash
# iperf3 server under zpnet, iperf3 client on the kernel side: 10 s, no
# errors, data moved.
# usage: iperf3.sh ZPNET_BINARY
set -u
ZPNET=$1
source "$(cd "$(dirname "$0")" && pwd)/common.sh"
command -v iperf3 >/dev/null || zpns_skip "iperf3 missing (scripts/setup.sh)"

zpns_bg_z "$TMP/server.log" timeout 60 env ZPNET_LOG=info "$ZPNET" run -c "$ZCFG" -- \
	iperf3 -s -1 -p 5201
wait_zpnet "$TMP/server.log" 30 || fail "iperf3 server under zpnet not up"
sleep 0.5
zpns_k timeout 40 iperf3 -c $Z_ADDR -p 5201 -t 10 -J > "$TMP/client.json" ||
	fail "iperf3 client exited $?"
python3 - "$TMP/client.json" <<'PY' || fail "iperf3 result"
import json, sys
r = json.load(open(sys.argv[1]))
if "error" in r:
    sys.exit("error: " + r["error"])
s = r["end"]["sum_received"]
print("ok iperf3 10 s: %.0f Mbit/s, %d bytes" % (s["bits_per_second"] / 1e6, s["bytes"]))
if s["bytes"] <= 0 or s["seconds"] < 9:
    sys.exit("too little")
PY
echo PASS
