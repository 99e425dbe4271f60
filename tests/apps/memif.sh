#!/bin/bash
# Two zpnet processes over net_memif, no kernel in the path: redis-server
# (memif server end) and redis-cli / redis-benchmark (client end), both under
# zpnet, inside a namespace where the kernel has no route to 198.18.2.0/24,
# so every byte crosses the shared-memory port.
#   redis-cli SET/GET of a 1-byte and a 1 MB value, byte-identical;
#   redis-benchmark -n 20000 -c 10 -t get,set with no errors.
# usage: memif.sh ZPNET_BINARY
set -u
ZPNET=$1
source "$(dirname "$0")/common.sh"
command -v redis-server >/dev/null || zpns_skip "redis-server missing (scripts/setup.sh)"

SOCK=$TMP/memif.sock
port() {	# port ROLE ADDR
	printf '[hooks]\nmode = %s\n\n[port.0]\npmd = net_memif\n' "$MODE"
	printf 'devargs = role=%s,socket=%s,id=0\naddr = %s/24\n' "$1" "$SOCK" "$2"
}
port server 198.18.2.1 > "$TMP/server.ini"
port client 198.18.2.2 > "$TMP/client.ini"
zc() { zpns_z timeout 120 "$ZPNET" run -c "$TMP/client.ini" -- "$@"; }

# The kernel of this namespace cannot reach the memif subnet.
zpns_z ip route get 198.18.2.1 >/dev/null 2>&1 && fail "kernel has a route to 198.18.2.1"

ZPNET_LOG=info zpns_bg_z "$TMP/server.log" timeout 300 "$ZPNET" run -c "$TMP/server.ini" -- \
	redis-server --port 6379 --save '' --appendonly no --protected-mode no
wait_zpnet "$TMP/server.log" 30 || fail "server's stack did not start"

ok=
for ((i = 0; i < 50; i++)); do
	[ "$(zc redis-cli -h 198.18.2.1 ping 2>/dev/null)" = PONG ] && { ok=1; break; }
	sleep 0.2
done
[ -n "$ok" ] || fail "no PONG over memif"
echo "ok PING over memif"

[ "$(zc redis-cli -h 198.18.2.1 set one x 2>/dev/null)" = OK ] || fail "SET 1 byte"
[ "$(zc redis-cli -h 198.18.2.1 --raw get one 2>/dev/null)" = x ] || fail "GET 1 byte"
head -c 1000000 /dev/urandom > "$TMP/big"
zc redis-cli -h 198.18.2.1 -x set big < "$TMP/big" 2>/dev/null | grep -q OK || fail "SET 1 MB"
zc redis-cli -h 198.18.2.1 --raw get big 2>/dev/null | head -c 1000000 | cmp - "$TMP/big" ||
	fail "1 MB value differs"
echo "ok SET/GET 1 B and 1 MB over memif, byte-identical"

zc redis-benchmark -h 198.18.2.1 -q -n 20000 -c 10 -t get,set > "$TMP/bench.out" 2>&1 ||
	fail "redis-benchmark exited $?"
tr '\r' '\n' < "$TMP/bench.out" | grep -v 'rps=' | grep -v '^ *$' > "$TMP/bench.final"
cat "$TMP/bench.final"
grep -qiE 'error|refused|reset|timeout' "$TMP/bench.final" && fail "redis-benchmark errors"
[ "$(grep -c 'requests per second' "$TMP/bench.final")" = 2 ] || fail "missing results"
echo PASS
