# Shared by the stack suite: bring up the test network and the demo server.
# usage (from a test): . common.sh; stack_start [PAIRS]
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/../lib/netns.sh"

DEMO=${ZPNET_STACKDEMO:?run through meson test (ZPNET_STACKDEMO unset)}
ECHO_CLIENT="python3 $here/../lib/echo_client.py"
TMP=$(mktemp -d)
LOG=$TMP/demo.log
DEMO_LIMIT_S=600	# the server stops by itself after this long

fail() {
	echo "FAIL: $*" >&2
	[ -f "$LOG" ] && { echo "--- server log:" >&2; cat "$LOG" >&2; }
	exit 1
}

cleanup() {
	zpns_teardown
	rm -rf "$TMP"
}

# stack_start [PAIRS] [extra config]: namespaces + demo server, ready.
stack_start() {
	zpns_setup "${1:-1}"
	trap cleanup EXIT
	zpns_config "$TMP/zpnet.ini" "${2:-}"
	zpns_bg_z "$LOG" "$DEMO" -c "$TMP/zpnet.ini" -s -t "$DEMO_LIMIT_S"
	zpns_wait_ready "$LOG" 30 || fail "demo server did not start"
}

# stack_stop: stop the server and require a clean exit.
stack_stop() {
	kill -TERM "$ZPNS_LAST" 2>/dev/null
	for ((i = 0; i < 50; i++)); do
		kill -0 "$ZPNS_LAST" 2>/dev/null || break
		sleep 0.1
	done
	wait "$ZPNS_LAST"
	local rc=$?
	[ "$rc" = 0 ] || fail "server exited with status $rc"
}
