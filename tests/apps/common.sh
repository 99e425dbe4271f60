# Shared by the apps tests: namespaces, a zpnet config, helpers.
# Sets TMP, MODE, ZCFG; defines fail, wait_tcp.
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/../lib/netns.sh"

zpns_setup 1
TMP=$(mktemp -d /tmp/zpnet-apps.XXXXXX)
apps_cleanup() { zpns_teardown; rm -rf "$TMP"; }
trap apps_cleanup EXIT
MODE=${ZPNET_HOOKS_MODE:-zpoline}
# zpoline's trampoline lives at address 0.
[ "$MODE" = zpoline ] && sysctl -qw vm.mmap_min_addr=0
ZCFG=$TMP/zpnet.ini
zpns_config "$ZCFG" "[hooks]
mode = $MODE"
echo "hooks: $MODE"
Z_ADDR=198.18.0.2
K_ADDR=198.18.0.1
Z_ADDR6=2001:2:0:0::2
K_ADDR6=2001:2:0:0::1

# zpns_bg_k CMD...: CMD in NS_K in its own process group, its output in
# $TMP/kernel.log (a kernel run's server); as zpns_bg_z, PID in ZPNS_LAST
zpns_bg_k() {
	setsid ip netns exec "$NS_K" "$@" > "$TMP/kernel.log" 2>&1 &
	ZPNS_LAST=$!
	ZPNS_PIDS+=("$ZPNS_LAST")
}

fail() {
	echo "FAIL: $*" >&2
	for f in "$TMP"/*.log; do
		[ -f "$f" ] && { echo "--- $f" >&2; tail -15 "$f" >&2; }
	done
	exit 1
}

# wait_tcp NS_FN ADDR PORT SECONDS: until something accepts on ADDR:PORT
wait_tcp() {
	local fn=$1 addr=$2 port=$3 limit=$4 i
	for ((i = 0; i < limit * 10; i++)); do
		$fn timeout 1 bash -c "exec 3<>/dev/tcp/$addr/$port" 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}

# wait_zpnet LOG SECONDS: until libzpnet.so in the process logging to LOG
# has its stack up (it logs "serving" at level info: run with ZPNET_LOG=info).
wait_zpnet() {
	local log=$1 limit=$2 i
	for ((i = 0; i < limit * 10; i++)); do
		grep -qE 'zpnet\[[0-9]+\]: serving' "$log" 2>/dev/null && return 0
		kill -0 "$ZPNS_LAST" 2>/dev/null || return 1
		sleep 0.1
	done
	return 1
}

# udp_sink_start PORT LOG: a kernel-side UDP receiver on K_ADDR:PORT that
# counts datagrams until none came for 3 s, then prints the count as the
# last line of LOG; returns once it is bound. Its PID is UDP_SINK.
udp_sink_start() {
	local port=$1 log=$2 i
	zpns_k timeout 300 python3 -c "
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(('$K_ADDR', $port))
s.settimeout(3)
print('ready', flush=True)
n = 0
try:
    while True:
        s.recv(65536)
        n += 1
except socket.timeout:
    pass
print(n, flush=True)
" > "$log" 2>&1 &
	UDP_SINK=$!
	for ((i = 0; i < 50; i++)); do
		grep -q ready "$log" 2>/dev/null && return 0
		sleep 0.1
	done
	fail "the UDP sink on port $port did not start"
}

# udp_sink_wait LOG: wait for the sink; its count in UDP_GOT.
udp_sink_wait() {
	wait "$UDP_SINK"
	UDP_GOT=$(tail -1 "$1")
}
