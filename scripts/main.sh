#!/bin/bash
# The main job: install, build, and run Redis under zpnet next to the same
# redis-server on the kernel stack.
#
# usage: scripts/main.sh [-n REQUESTS]     (as root)
#
# Two network namespaces joined by a veth pair. redis-server runs in one,
# first under zpnet (lwIP on a DPDK net_af_packet port on its veth end),
# then on the kernel stack with the same veth end; redis-benchmark runs in
# the other namespace on the kernel stack. Server pinned to CPU 1, client
# to CPU 0, the same for every row. Prints a Markdown table.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
build=${ZPNET_BUILD_DIR:-$top/build}
SERVER_CPU=1
CLIENT_CPU=0
REQUESTS=100000
SERVER=198.18.0.2
PORT=6379

while getopts "n:h" opt; do
	case $opt in
	n) REQUESTS=$OPTARG ;;
	h) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) exit 2 ;;
	esac
done

"$top/scripts/setup.sh"
if [ -d "$build/meson-private" ]; then
	meson setup --reconfigure "$build" "$top" >/dev/null
else
	meson setup "$build" "$top" >/dev/null
fi
ninja -C "$build" >/dev/null
if [ "$(cat /proc/sys/vm/mmap_min_addr)" != 0 ]; then
	sysctl -qw vm.mmap_min_addr=0	# the zpoline trampoline lives at 0
fi

. "$top/tests/lib/netns.sh"
zpns_setup 1
work=$(mktemp -d)
trap 'zpns_teardown; rm -rf "$work"' EXIT
zpns_config "$work/zpnet.ini"

# The rows: redis-benchmark arguments, the same for both servers.
rows=(
	"GET -c 1|-t get -c 1"
	"SET -c 1|-t set -c 1"
	"GET -c 50|-t get -c 50"
	"SET -c 50|-t set -c 50"
	"GET -c 50 -P 16|-t get -c 50 -P 16"
	"SET -c 50 -P 16|-t set -c 50 -P 16"
)

wait_redis() {
	local i
	for ((i = 0; i < 200; i++)); do
		zpns_k redis-cli -h $SERVER -p $PORT ping 2>/dev/null | grep -q PONG && return 0
		kill -0 "$ZPNS_LAST" 2>/dev/null || break
		sleep 0.1
	done
	echo "main: redis-server did not answer; its log:" >&2
	cat "$1" >&2
	exit 1
}

stop_redis() {
	zpns_k timeout 5 redis-cli -h $SERVER -p $PORT shutdown nosave >/dev/null 2>&1 || true
	for ((i = 0; i < 50; i++)); do
		kill -0 "$ZPNS_LAST" 2>/dev/null || break
		sleep 0.1
	done
	kill -TERM -- "-$ZPNS_LAST" 2>/dev/null || true
	wait "$ZPNS_LAST" 2>/dev/null || true
}

# bench NAME: every row against the running server, "NAME|row|rps" lines.
bench() {
	local name=$1 row label args out rps
	for row in "${rows[@]}"; do
		label=${row%%|*}
		args=${row#*|}
		# shellcheck disable=SC2086
		out=$(zpns_k taskset -c $CLIENT_CPU redis-benchmark -h $SERVER -p $PORT \
			-q -n "$REQUESTS" $args 2>&1 | tr '\r' '\n' | grep 'requests per second' | tail -1)
		rps=$(echo "$out" | sed -n 's/.*: \([0-9.]*\) requests per second.*/\1/p')
		echo "$name|$label|${rps:-error}" >> "$work/results"
		echo "  $name  $label: ${rps:-error} requests/s"
	done
}

redis_args=(redis-server --port $PORT --save '' --appendonly no --protected-mode no)

echo "main: redis-server under zpnet (lwIP on net_af_packet), CPU $SERVER_CPU"
zpns_bg_z "$work/zpnet.log" taskset -c $SERVER_CPU "$build/cli/zpnet" run \
	-c "$work/zpnet.ini" -- "${redis_args[@]}"
wait_redis "$work/zpnet.log"
bench zpnet
stop_redis

echo "main: the same redis-server on the kernel stack, CPU $SERVER_CPU"
zpns_z ip addr add $SERVER/24 dev vz0
zpns_bg_z "$work/kernel.log" taskset -c $SERVER_CPU "${redis_args[@]}"
wait_redis "$work/kernel.log"
bench kernel
stop_redis

echo
echo "redis-benchmark -n $REQUESTS, client on the kernel stack (CPU $CLIENT_CPU), server on CPU $SERVER_CPU"
echo
echo "| test | kernel (req/s) | zpnet (req/s) | zpnet / kernel |"
echo "|---|---|---|---|"
for row in "${rows[@]}"; do
	label=${row%%|*}
	k=$(grep "^kernel|$label|" "$work/results" | cut -d'|' -f3)
	z=$(grep "^zpnet|$label|" "$work/results" | cut -d'|' -f3)
	ratio=$(awk -v k="$k" -v z="$z" 'BEGIN { if (k > 0 && z > 0) printf "%.2fx", z / k; else print "-" }')
	echo "| $label | $k | $z | $ratio |"
done
echo
echo "Same machine, same veth pair, same redis-server binary ($(redis-server --version | cut -d' ' -f3))."
echo "On a veth pair the receiver's kernel work runs in the sender's context: both columns pay for the client's stack."
if grep -q '|error$' "$work/results"; then
	echo "main: some rows failed" >&2
	exit 1
fi
