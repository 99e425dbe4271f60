#!/bin/bash
# curl and /usr/bin/python3 -m http.server, a 50 MB file each way, sha256 equal:
# curl under zpnet against http.server on the kernel, then http.server under
# zpnet against curl on the kernel.
# usage: http.sh ZPNET_BINARY
set -u
ZPNET=$1
source "$(cd "$(dirname "$0")" && pwd)/common.sh"
command -v curl >/dev/null || zpns_skip "curl missing (scripts/setup.sh)"
# /usr/bin/python3 itself: a wrapper script (pyenv shims) would be the
# first process of the two to claim the port.

mkdir "$TMP/www"
head -c 50000000 /dev/urandom > "$TMP/www/file"
WANT=$(sha256sum < "$TMP/www/file")

# kernel server, zpnet client
setsid ip netns exec "$NS_K" timeout 120 /usr/bin/python3 -m http.server 8000 \
	--bind $K_ADDR --directory "$TMP/www" > "$TMP/ksrv.log" 2>&1 &
ZPNS_PIDS+=($!)
wait_tcp zpns_k $K_ADDR 8000 20 || fail "http.server (kernel) not up"
zpns_z timeout 120 "$ZPNET" run -c "$ZCFG" -- \
	curl -sS --fail -o "$TMP/got1" http://$K_ADDR:8000/file 2> "$TMP/curl1.log" ||
	fail "curl under zpnet"
[ "$(sha256sum < "$TMP/got1")" = "$WANT" ] || fail "curl under zpnet: sha256 differs"
echo "ok curl under zpnet <- http.server on the kernel, 50 MB, sha256 equal"

# zpnet server, kernel client
zpns_bg_z "$TMP/zsrv.log" timeout 120 "$ZPNET" run -c "$ZCFG" -- \
	/usr/bin/python3 -m http.server 8001 --directory "$TMP/www"
wait_tcp zpns_k $Z_ADDR 8001 30 || fail "http.server under zpnet not up"
zpns_k timeout 120 curl -sS --fail -o "$TMP/got2" http://$Z_ADDR:8001/file ||
	fail "curl against http.server under zpnet"
[ "$(sha256sum < "$TMP/got2")" = "$WANT" ] || fail "http.server under zpnet: sha256 differs"
echo "ok http.server under zpnet -> curl on the kernel, 50 MB, sha256 equal"
echo PASS
