#!/bin/bash
# The main job: install, build, and show zpnet next to the kernel.
#
# usage: scripts/main.sh      (as root)
#
# Until the socket layer runs Redis, this runs the netstack demo: lwIP on a
# DPDK net_af_packet port in one network namespace, a kernel peer in
# another, and measures ping round trips and TCP echo against the same
# measurements with the kernel's own stack serving the same veth end.
# CPUs: the server is pinned to CPU 1, the client to CPU 0.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
build=${ZPNET_BUILD_DIR:-$top/build}
SERVER_CPU=1
CLIENT_CPU=0
PINGS=2000
ECHO_BYTES=200000000

"$top/scripts/setup.sh"
if [ -d "$build/meson-private" ]; then
	meson setup --reconfigure "$build" "$top" >/dev/null
else
	meson setup "$build" "$top" >/dev/null
fi
ninja -C "$build" >/dev/null

. "$top/tests/lib/netns.sh"
zpns_setup 1
work=$(mktemp -d)
trap 'zpns_teardown; rm -rf "$work"' EXIT
zpns_config "$work/zpnet.ini"
client() { zpns_k taskset -c "$CLIENT_CPU" "$@"; }

# measure NAME: ping RTT and echo throughput against 198.18.0.2
measure() {
	local name=$1 rtt t0 t1
	rtt=$(client ping -q -c "$PINGS" -i 0.001 198.18.0.2 |
		sed -n 's|.*= [0-9.]*/\([0-9.]*\)/.*|\1|p')
	t0=$(date +%s.%N)
	client python3 "$top/tests/lib/echo_client.py" tcp 198.18.0.2 7 \
		--bytes "$ECHO_BYTES" --conns 1 >/dev/null
	t1=$(date +%s.%N)
	printf '%s %s %s\n' "$name" "$rtt" \
		"$(echo "$ECHO_BYTES * 8 / ($t1 - $t0) / 1000000" | bc -l)" >> "$work/results"
}

echo "main: zpnet (lwIP on net_af_packet, server on CPU $SERVER_CPU)"
zpns_bg_z "$work/demo.log" taskset -c "$SERVER_CPU" \
	"$build/netstack/zpnet-stackdemo" -c "$work/zpnet.ini" -t 600
zpns_wait_ready "$work/demo.log" 30
measure zpnet
kill -TERM "$ZPNS_LAST"; wait "$ZPNS_LAST" || true

echo "main: kernel stack on the same veth end"
zpns_z ip addr add 198.18.0.2/24 dev vz0
zpns_bg_z "$work/kecho.log" taskset -c "$SERVER_CPU" \
	"$build/bench/stack/kernel_echo" 7 600
zpns_wait_ready "$work/kecho.log" 30
measure kernel
kill -TERM "$ZPNS_LAST"; wait "$ZPNS_LAST" || true

echo
echo "| stack | ping RTT avg (us) | TCP echo, 1 connection (Mbit/s) |"
echo "|---|---|---|"
while read -r name rtt mbit; do
	printf '| %s | %.0f | %.0f |\n' "$name" "$(echo "$rtt * 1000" | bc -l)" "$mbit"
done < "$work/results"
echo
echo "(client: kernel ping and python echo client on CPU $CLIENT_CPU; echo moves $ECHO_BYTES bytes each way)"
