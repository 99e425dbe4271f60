#!/bin/bash
# redis-server (Debian's, unmodified) under zpnet on a veth port; redis-cli
# and redis-benchmark from the kernel namespace.
#   SET/GET of a 1-byte and a 10 MB value round-trip byte-identical;
#   redis-benchmark -q -n 100000 -c 50 (all default tests) without errors;
#   redis-benchmark -P 16 likewise; SHUTDOWN closes the client's connection.
# usage: redis.sh ZPNET_BINARY
set -u
ZPNET=$1
source "$(dirname "$0")/common.sh"
command -v redis-server >/dev/null || zpns_skip "redis-server missing (scripts/setup.sh)"
SERVER=$Z_ADDR
CLI=(timeout 60 redis-cli -h $SERVER)

zpns_bg_z "$TMP/redis.log" timeout 300 "$ZPNET" run -c "$ZCFG" -- \
	redis-server --save '' --appendonly no --protected-mode no --port 6379
for ((i = 0; i < 100; i++)); do
	zpns_k redis-cli -h $SERVER ping 2>/dev/null | grep -q PONG && break
	kill -0 "$ZPNS_LAST" 2>/dev/null || fail "redis-server exited"
	sleep 0.1
done
[ "$(zpns_k "${CLI[@]}" ping)" = PONG ] || fail "no PONG"

# 1 byte
[ "$(zpns_k "${CLI[@]}" set one x)" = OK ] || fail "SET 1 byte"
[ "$(zpns_k "${CLI[@]}" --raw get one)" = x ] || fail "GET 1 byte"
echo "ok 1-byte SET/GET"

# 10 MB, binary
head -c 10000000 /dev/urandom > "$TMP/big"
zpns_k "${CLI[@]}" -x set big < "$TMP/big" | grep -q OK || fail "SET 10 MB"
[ "$(zpns_k "${CLI[@]}" strlen big)" = 10000000 ] || fail "STRLEN 10 MB"
zpns_k "${CLI[@]}" --raw get big > "$TMP/big.out" || fail "GET 10 MB"
# redis-cli --raw adds one newline
head -c 10000000 "$TMP/big.out" | cmp - "$TMP/big" || fail "10 MB value differs"
[ "$(stat -c %s "$TMP/big.out")" = 10000001 ] || fail "10 MB reply size"
echo "ok 10 MB SET/GET byte-identical"

bench() {
	local out=$TMP/bench.out
	zpns_k timeout 240 redis-benchmark -h $SERVER "$@" > "$out" 2>&1
	local rc=$?
	tr '\r' '\n' < "$out" | grep -v 'rps=' | grep -v '^ *$' > "$out.final"
	cat "$out.final"
	[ $rc = 0 ] || fail "redis-benchmark $* exited $rc"
	grep -qiE 'error|refused|reset|timeout' "$out.final" && fail "redis-benchmark $* reported errors"
	# every default test reports its rate
	[ "$(grep -c 'requests per second' "$out.final")" -ge 15 ] || fail "redis-benchmark $*: missing results"
}
bench -q -n 100000 -c 50
echo "ok redis-benchmark -q -n 100000 -c 50"
bench -q -n 100000 -c 50 -P 16
echo "ok redis-benchmark -q -n 100000 -c 50 -P 16"

kill -0 "$ZPNS_LAST" 2>/dev/null || fail "redis-server died"

# SHUTDOWN: the server exits; like the kernel at exit, zpnet closes the
# connections it left open, so the client sees the close and returns.
zpns_k timeout 10 redis-cli -h $SERVER shutdown nosave > /dev/null 2>&1
[ $? = 124 ] && fail "redis-cli shutdown hung: no FIN from the exiting server"
for ((i = 0; i < 100; i++)); do
	kill -0 "$ZPNS_LAST" 2>/dev/null || break
	sleep 0.1
done
kill -0 "$ZPNS_LAST" 2>/dev/null && fail "redis-server did not exit on SHUTDOWN"
echo "ok SHUTDOWN: server exited, client saw the connection close"
echo "PASS"
