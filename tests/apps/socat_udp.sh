#!/bin/bash
# socat UDP echo under zpnet; datagrams from the kernel side come back
# unchanged.
# usage: socat_udp.sh ZPNET_BINARY
set -u
ZPNET=$1
source "$(cd "$(dirname "$0")" && pwd)/common.sh"
command -v socat >/dev/null || zpns_skip "socat missing (scripts/setup.sh)"

# No fork option: a forked child must not (and cannot) use the port.
zpns_bg_z "$TMP/socat.log" timeout 60 env ZPNET_LOG=info "$ZPNET" run -c "$ZCFG" -- \
	socat -T 30 UDP-LISTEN:9000 PIPE
wait_zpnet "$TMP/socat.log" 30 || fail "socat under zpnet not up"
sleep 0.5
: > "$TMP/sent"
for i in 1 2 3 4 5; do
	echo "datagram $i $(head -c 600 /dev/urandom | base64 -w0)" >> "$TMP/sent"
done
# one client socket; one datagram per line
while read -r line; do echo "$line"; sleep 0.2; done < "$TMP/sent" |
	zpns_k timeout 20 socat -T 3 - UDP:$Z_ADDR:9000 > "$TMP/got"
cmp "$TMP/sent" "$TMP/got" || fail "echoed datagrams differ"
echo "ok socat UDP echo under zpnet ($(wc -l < "$TMP/got") datagrams)"
echo PASS
