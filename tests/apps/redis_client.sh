#!/bin/bash
# The client side under zpnet: redis-cli and redis-benchmark under zpnet
# against Debian's redis-server on the kernel stack in the other namespace.
# usage: redis_client.sh ZPNET_BINARY
set -u
ZPNET=$1
source "$(cd "$(dirname "$0")" && pwd)/common.sh"
command -v redis-server >/dev/null || zpns_skip "redis-server missing (scripts/setup.sh)"

setsid ip netns exec "$NS_K" timeout 300 redis-server --save '' --appendonly no \
	--protected-mode no --bind $K_ADDR --port 6379 > "$TMP/redis.log" 2>&1 &
ZPNS_PIDS+=($!)
wait_tcp zpns_k $K_ADDR 6379 20 || fail "redis-server (kernel) not up"
ZRUN=(timeout 240 "$ZPNET" run -c "$ZCFG" --)

[ "$(zpns_z "${ZRUN[@]}" redis-cli -h $K_ADDR set k v 2>/dev/null)" = OK ] ||
	fail "redis-cli under zpnet: SET"
[ "$(zpns_z "${ZRUN[@]}" redis-cli -h $K_ADDR --raw get k 2>/dev/null)" = v ] ||
	fail "redis-cli under zpnet: GET"
echo "ok redis-cli under zpnet"

zpns_z "${ZRUN[@]}" redis-benchmark -h $K_ADDR -q -n 100000 -c 50 > "$TMP/bench.out" 2>&1 ||
	fail "redis-benchmark under zpnet exited $?"
tr '\r' '\n' < "$TMP/bench.out" | grep -v 'rps=' | grep -v '^ *$' | grep -v '^zpnet: ok' \
	> "$TMP/bench.final"
cat "$TMP/bench.final"
grep -qiE 'error|refused|reset|timeout' "$TMP/bench.final" && fail "redis-benchmark reported errors"
[ "$(grep -c 'requests per second' "$TMP/bench.final")" -ge 15 ] || fail "missing results"
echo "ok redis-benchmark -q -n 100000 -c 50 under zpnet"
echo PASS
