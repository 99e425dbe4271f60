#!/bin/bash
# A server closes first and holds the connection in TIME-WAIT; the client
# connects again from the same port (Linux's clients reuse ports). A SYN
# past the old sequence must connect at once, one behind it once the
# client's RST has ended the TIME-WAIT: on the kernel and under zpnet, with
# the same client and the same assertions (timewait.py).
# usage: timewait.sh ZPNET_BINARY
set -u
ZPNET=$1
source "$(dirname "$0")/common.sh"
PY=/usr/bin/python3
TW=$HERE/timewait.py


# The kernel: server and client in the kernel's namespace, over loopback.
zpns_k timeout 120 $PY -u "$TW" server 7300 4 > "$TMP/kserver.log" 2>&1 &
kserver=$!
for ((i = 0; i < 50; i++)); do grep -q ready "$TMP/kserver.log" && break; sleep 0.1; done
grep -q ready "$TMP/kserver.log" || fail "kernel server did not start"
zpns_k timeout 120 $PY -u "$TW" client 127.0.0.1 7300 > "$TMP/kclient.log" 2>&1 ||
	fail "kernel: $(tail -1 "$TMP/kclient.log")"
sed 's/^/kernel /' "$TMP/kclient.log"
wait $kserver || fail "kernel server exited $?"

# zpnet: the server under zpnet, the kernel's client across the veth.
ZPNET_LOG=info zpns_bg_z "$TMP/zserver.log" timeout 120 "$ZPNET" run -c "$ZCFG" -- \
	$PY -u "$TW" server 7300 4
zserver=$ZPNS_LAST
for ((i = 0; i < 300; i++)); do grep -q ready "$TMP/zserver.log" && break; sleep 0.1; done
grep -q ready "$TMP/zserver.log" || fail "zpnet server did not start"
zpns_k timeout 120 $PY -u "$TW" client "$Z_ADDR" 7300 > "$TMP/zclient.log" 2>&1 ||
	fail "zpnet: $(tail -1 "$TMP/zclient.log")"
sed 's/^/zpnet /' "$TMP/zclient.log"
wait $zserver || fail "zpnet server exited $?"
echo PASS
