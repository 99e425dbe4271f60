#!/bin/bash
# BGSAVE under zpnet: redis-server forks a child that shares the stack
# (it holds every connection too) and whose exit closes nothing of the
# parent's. With 50 clients connected and writing, BGSAVE completes, the parent
# keeps serving, no client sees an error, and the RDB file loads back (in a
# kernel-stack redis-server) with the same keys.
# usage: redis_bgsave.sh ZPNET_BINARY
set -u
ZPNET=$1
source "$(dirname "$0")/common.sh"
command -v redis-server >/dev/null || zpns_skip "redis-server missing (scripts/setup.sh)"
SERVER=$Z_ADDR
CLI=(timeout 30 redis-cli -h $SERVER)

zpns_bg_z "$TMP/redis.log" timeout 300 "$ZPNET" run -c "$ZCFG" -- \
	redis-server --save '' --appendonly no --protected-mode no --port 6379 \
	--dir "$TMP" --dbfilename dump.rdb
for ((i = 0; i < 100; i++)); do
	zpns_k redis-cli -h $SERVER ping 2>/dev/null | grep -q PONG && break
	kill -0 "$ZPNS_LAST" 2>/dev/null || fail "redis-server exited"
	sleep 0.1
done

bgsave_done() {
	local n
	for ((n = 0; n < 600; n++)); do
		zpns_k "${CLI[@]}" info persistence | grep -q 'rdb_bgsave_in_progress:0' && return 0
		sleep 0.1
	done
	return 1
}

# 50 clients writing random keys while BGSAVE runs.
zpns_k timeout 240 redis-benchmark -h $SERVER -q -c 50 -n 300000 -r 100000 -t set \
	> "$TMP/bench.out" 2>&1 &
BENCH=$!
sleep 1
for ((k = 0; k < 3; k++)); do
	zpns_k "${CLI[@]}" bgsave | grep -qE 'Background saving started|already in progress' ||
		fail "BGSAVE not started"
	bgsave_done || fail "BGSAVE did not finish"
	zpns_k "${CLI[@]}" info persistence | grep -q 'rdb_last_bgsave_status:ok' ||
		fail "BGSAVE failed"
	[ "$(zpns_k "${CLI[@]}" ping)" = PONG ] || fail "parent stopped serving"
done
echo "ok BGSAVE x3 while 50 clients write; parent serving"
wait $BENCH || fail "redis-benchmark exited $?"
tr '\r' '\n' < "$TMP/bench.out" | grep -v 'rps=' | grep -v '^ *$' > "$TMP/bench.final"
cat "$TMP/bench.final"
grep -qiE 'error|refused|reset|timeout' "$TMP/bench.final" && fail "clients saw errors"
grep -q 'SET: .*requests per second' "$TMP/bench.final" || fail "benchmark incomplete"
echo "ok clients saw no error"

# Quiescent save, then load it back on the kernel stack.
zpns_k "${CLI[@]}" bgsave | grep -q 'Background saving started' || fail "final BGSAVE"
bgsave_done || fail "final BGSAVE did not finish"
KEYS=$(zpns_k "${CLI[@]}" dbsize)
[ "$KEYS" -gt 1000 ] || fail "only $KEYS keys"
mkdir "$TMP/load" && cp "$TMP/dump.rdb" "$TMP/load/"
zpns_bg_z "$TMP/load.log" timeout 60 redis-server --save '' --appendonly no \
	--port 6390 --bind 127.0.0.1 --dir "$TMP/load" --dbfilename dump.rdb
for ((i = 0; i < 100; i++)); do
	zpns_z redis-cli -p 6390 ping 2>/dev/null | grep -q PONG && break
	sleep 0.1
done
LOADED=$(zpns_z timeout 10 redis-cli -p 6390 dbsize)
[ "$LOADED" = "$KEYS" ] || fail "RDB loads $LOADED keys, server had $KEYS"
for ((i = 0; i < 20; i++)); do
	key=$(zpns_k "${CLI[@]}" randomkey)
	[ "$(zpns_z timeout 10 redis-cli -p 6390 --raw get "$key")" = \
	  "$(zpns_k "${CLI[@]}" --raw get "$key")" ] || fail "key $key differs"
done
echo "ok RDB loads back with the same $KEYS keys"
kill -0 "$ZPNS_LAST" 2>/dev/null || true
echo PASS
