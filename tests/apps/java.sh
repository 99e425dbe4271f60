#!/bin/bash
# The JVM under zpnet: `java Hello.java` (the source launcher: javac runs
# in the same process first, then the server; C2 compiles its hot loop,
# -XX:-BackgroundCompilation makes that happen while requests wait). The
# JIT's code has no unwind info: it must never be rewritten by guessing
# (a linear sweep there patched bytes that were not syscalls and broke
# C2's code), only site by site once SUD has seen a syscall run.
# 100 requests, each answer checked against the kernel run's, on the
# kernel, under `zpnet run --hooks-only` (the engine alone) and under
# `zpnet run` (served by the stack).
# [hooks] mode from ZPNET_HOOKS_MODE (zpoline by default; the suite runs
# zpoline and sud).
# usage: java.sh ZPNET_BINARY
set -u
ZPNET=$1
source "$(dirname "$0")/common.sh"
command -v java >/dev/null || fail "java is missing: scripts/setup.sh installs openjdk-17-jdk-headless"

PORT=8090
N=100
JAVA=(java -XX:-BackgroundCompilation "$HERE/java/Hello.java" $Z_ADDR $PORT $N)

# serve LABEL LOG: N requests, one connection each; answers to $TMP/LABEL.out
serve() {
	local label=$1 log=$2 i
	wait_tcp zpns_k $Z_ADDR $PORT 60 || fail "$label: the server did not listen: $(tail -3 "$log")"
	: > "$TMP/$label.out"
	for i in $(seq $N); do
		zpns_k timeout 20 curl -s "http://$Z_ADDR:$PORT/r$i" >> "$TMP/$label.out" ||
			fail "$label: request $i failed: $(tail -3 "$log")"
	done
	wait "$ZPNS_LAST"
	local rc=$?
	[ $rc = 0 ] || fail "$label: the server exited with $rc: $(grep -m3 -E 'Exception|SIG|fatal|error' "$log")"
	grep -q "^served $N$" "$log" || fail "$label: no 'served $N': $(tail -3 "$log")"
	n=$(grep -c '^hello r[0-9]* -\?[0-9]*$' "$TMP/$label.out")
	[ "$n" = $N ] || fail "$label: $n of $N answers"
}

zpns_z ip addr add $Z_ADDR/24 dev vz0
zpns_bg_z "$TMP/kernel.log" "${JAVA[@]}"
serve kernel "$TMP/kernel.log"
zpns_z ip addr del $Z_ADDR/24 dev vz0
echo "ok kernel: $N answers"

zpns_z ip addr add $Z_ADDR/24 dev vz0
zpns_bg_z "$TMP/hooks.log" "$ZPNET" run -c "$ZCFG" --hooks-only -- "${JAVA[@]}"
serve hooks "$TMP/hooks.log"
zpns_z ip addr del $Z_ADDR/24 dev vz0
cmp -s "$TMP/kernel.out" "$TMP/hooks.out" || fail "--hooks-only answers differ from the kernel's"
echo "ok zpnet run --hooks-only: $N answers, the kernel's"

zpns_bg_z "$TMP/zpnet.log" "$ZPNET" run -c "$ZCFG" -- "${JAVA[@]}"
serve zpnet "$TMP/zpnet.log"
cmp -s "$TMP/kernel.out" "$TMP/zpnet.out" || fail "zpnet answers differ from the kernel's"
echo "ok zpnet run: $N answers, the kernel's"
echo PASS
