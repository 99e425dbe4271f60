# Redis helpers shared by bench/redis and bench/redis-memif (sourced, after
# bench/lib/bench.sh and tests/lib/netns.sh).
#
#   redis_tests TESTS CLIENTS PIPELINES   fill REDIS_ROWS with "label|args|n-factor"
#   redis_wait NSFN HOST PORT PID LOG     until PING answers (20 s), else 1
#   redis_stop NSFN HOST PORT PID         SHUTDOWN NOSAVE, then the group
#   redis_idle VARIANT PID SECONDS        idle CPU of PID as % of a core
#   redis_rows VARIANT PID NSFN HOST PORT CLIENT...
#                                         every row once: req/s, p50, CPU per
#                                         million requests of PID
#
# REDIS_N: requests per unpipelined row (a row pipelining P requests runs
# REDIS_N * P, so each row lasts about as long).

REDIS_ARGS=(redis-server --save '' --appendonly no --protected-mode no)
REDIS_ROWS=()

redis_tests() {
	local t c p
	REDIS_ROWS=()
	for p in ${3//,/ }; do
		for c in ${2//,/ }; do
			for t in ${1//,/ }; do
				REDIS_ROWS+=("${t^^} -c $c -P $p|-t $t -c $c -P $p|$p")
			done
		done
	done
}

redis_wait() {
	local nsfn=$1 host=$2 port=$3 pid=$4 log=$5 i
	for ((i = 0; i < 200; i++)); do
		$nsfn redis-cli -h "$host" -p "$port" ping 2>/dev/null | grep -q PONG && return 0
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	echo "redis-server did not answer; the end of its log ($log):" >&2
	tail -20 "$log" >&2
	return 1
}

redis_stop() {
	local nsfn=$1 host=$2 port=$3 pid=$4 i
	$nsfn timeout 5 redis-cli -h "$host" -p "$port" shutdown nosave >/dev/null 2>&1 || true
	for ((i = 0; i < 50; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -TERM -- "-$pid" 2>/dev/null || true
	for ((i = 0; i < 50; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL -- "-$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
}

# redis_idle VARIANT PID SECONDS: after a second to back off, the CPU the
# server burns with no client, in % of one core.
redis_idle() {
	local var=$1 pid=$2 secs=$3 t0 t1
	sleep 1
	t0=$(bench_cpu_ticks "$pid")
	sleep "$secs"
	t1=$(bench_cpu_ticks "$pid")
	bench_record "idle" "$var" idle_pct \
		"$(awk -v d=$((t1 - t0)) -v hz="$BENCH_HZ" -v s="$secs" 'BEGIN { printf "%.2f", 100 * d / hz / s }')"
}

redis_rows() {
	local var=$1 pid=$2 nsfn=$3 host=$4 port=$5 row label args factor n out line rps p50 t0 t1
	shift 5
	for row in "${REDIS_ROWS[@]}"; do
		IFS='|' read -r label args factor <<< "$row"
		n=$((REDIS_N * factor))
		t0=$(bench_cpu_ticks "$pid")
		# shellcheck disable=SC2086
		out=$($nsfn timeout $((60 + n / 2000)) "$@" redis-benchmark -h "$host" -p "$port" \
			-q -n "$n" $args 2>&1 | tr '\r' '\n') || true
		t1=$(bench_cpu_ticks "$pid")
		line=$(echo "$out" | grep 'requests per second' | tail -1) || true
		rps=$(echo "$line" | sed -n 's/.*: \([0-9.]*\) requests per second.*/\1/p') || true
		p50=$(echo "$line" | sed -n 's/.*p50=\([0-9.]*\) msec.*/\1/p')
		if [ -z "$rps" ] || echo "$out" | grep -qiE 'error|refused|reset'; then
			echo "  $var  $label: failed: $(echo "$out" | grep -v 'rps=' | tail -2 | tr '\n' ' ')" >&2
			bench_record "$label" "$var" rps error
			continue
		fi
		bench_record "$label" "$var" rps "$rps"
		[ -n "$p50" ] && bench_record "$label" "$var" p50_ms "$p50"
		bench_record "$label" "$var" cpu_s_per_mreq \
			"$(awk -v d=$((t1 - t0)) -v hz="$BENCH_HZ" -v n="$n" 'BEGIN { printf "%.3f", d / hz / n * 1e6 }')"
		printf '  %-8s %-18s %12s req/s  p50 %s ms\n' "$var" "$label" "$rps" "${p50:--}" >&2
	done
}
