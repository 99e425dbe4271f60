#!/bin/bash
# Programs started through wrappers, and servers run by another user.
#   The stack starts at a process's first socket, so a wrapper that only
#   execs (env, sh -c 'exec ...', nice, timeout, taskset, setpriv) never
#   touches the port, and a process that did start it and then execs
#   leaves nothing behind (its packet sockets and port claim are
#   close-on-exec). For each: redis-server serves redis-benchmark -k 0
#   -n 5000 (a new connection per request), every request answered, with
#   exactly one stack's packet sockets on the port (the driver's and the TCP one).
#   Non-root: redis-server as user nobody with CAP_NET_RAW and
#   CAP_NET_ADMIN as ambient capabilities, launched by root through
#   setpriv and by nobody itself (whose zpnet stats nobody may read and
#   daemon may not); without the capabilities `zpnet check`
#   names them.
# usage: wrappers.sh ZPNET_BINARY
set -u
ZPNET=$1
source "$(dirname "$0")/common.sh"
command -v redis-server >/dev/null || zpns_skip "redis-server missing (scripts/setup.sh)"
command -v setpriv >/dev/null || zpns_skip "setpriv missing (util-linux)"
REDIS=(redis-server --save '' --appendonly no --protected-mode no --dir /tmp)
REQUESTS=5000

# serve NAME PORT PREFIX...: run PREFIX... redis-server under zpnet on PORT
# and drive it from the kernel side.
serve() {
	local name=$1 port=$2 i out packets conns
	shift 2
	zpns_bg_z "$TMP/$name.log" timeout 120 "$@"
	for ((i = 0; i < 200; i++)); do
		zpns_k timeout 2 redis-cli -h $Z_ADDR -p $port ping 2>/dev/null | grep -q PONG && break
		kill -0 "$ZPNS_LAST" 2>/dev/null || fail "$name: redis-server exited"
		sleep 0.1
	done
	[ "$(zpns_k timeout 5 redis-cli -h $Z_ADDR -p $port ping)" = PONG ] || fail "$name: no PONG"
	[ -n "${AFTER_PONG:-}" ] && $AFTER_PONG "$name" "$port"
	# af_packet sockets in the zpnet namespace: the server's stack's, no
	# other: the driver's (protocol ETH_P_ALL) and the TCP one that
	# receives nothing (protocol 0, [port.N] tso). The driver's ioctl
	# socket (protocol 0) is released on a thread of its own at start-up:
	# it may take a moment to go.
	for ((i = 0; i < 50; i++)); do
		packets=$(zpns_z awk 'NR > 1 && $4 == "0000"' /proc/net/packet | wc -l)
		[ "$packets" = 1 ] && break
		sleep 0.1
	done
	[ "$packets" = 1 ] || fail "$name: $packets sending packet sockets on the port, not 1"
	packets=$(zpns_z awk 'NR > 1 && $4 != "0000"' /proc/net/packet | wc -l)
	[ "$packets" = 1 ] || fail "$name: $packets receiving packet sockets on the port, not 1"
	out=$(zpns_k timeout 120 redis-benchmark -h $Z_ADDR -p $port -k 0 \
		-n $REQUESTS -c 10 -t ping_inline -q 2>&1 | tr '\r' '\n' | grep -v 'rps=')
	echo "$out" | grep -q 'requests per second' || fail "$name: redis-benchmark: $out"
	echo "$out" | grep -qiE 'error|refused|reset|timeout' && fail "$name: redis-benchmark: $out"
	conns=$(zpns_k timeout 5 redis-cli -h $Z_ADDR -p $port info stats |
		tr -d '\r' | awk -F: '$1 == "total_connections_received" {print $2}')
	# the benchmark's connections plus the two PINGs and this INFO
	[ "${conns:-0}" -ge $REQUESTS ] || fail "$name: $conns connections served, not $REQUESTS"
	zpns_k timeout 10 redis-cli -h $Z_ADDR -p $port shutdown nosave >/dev/null 2>&1
	for ((i = 0; i < 100; i++)); do
		kill -0 "$ZPNS_LAST" 2>/dev/null || break
		sleep 0.1
	done
	kill -0 "$ZPNS_LAST" 2>/dev/null && fail "$name: redis-server did not exit"
	echo "ok $name: $REQUESTS connections answered, one stack's packet sockets"
}

run=("$ZPNET" run -c "$ZCFG" --)
serve env 6400 "${run[@]}" env A=1 "${REDIS[@]}" --port 6400
serve sh-exec 6401 "${run[@]}" sh -c "exec ${REDIS[*]} --port 6401"
serve nice 6402 "${run[@]}" nice -n 1 "${REDIS[@]}" --port 6402
serve timeout 6403 "${run[@]}" timeout 100 "${REDIS[@]}" --port 6403
serve taskset 6404 "${run[@]}" taskset -c 0 "${REDIS[@]}" --port 6404
# A process that started the stack (a socket) and then execs the server.
serve socket-exec 6405 "${run[@]}" python3 -c '
import os, socket, sys
s = socket.socket()
s.bind(("0.0.0.0", 6499))
os.execvp(sys.argv[1], sys.argv[1:])' "${REDIS[@]}" --port 6405

# Another user: the binaries, the library and the config where nobody can
# read them.
PUB=$(mktemp -d /tmp/zpnet-apps-pub.XXXXXX)
trap 'apps_cleanup; rm -rf "$PUB"' EXIT
mkdir "$PUB/bin" "$PUB/lib"
cp "$ZPNET" "$PUB/bin/zpnet"
cp "$(dirname "$(readlink -f "$ZPNET")")/../bond/libzpnet.so" "$PUB/lib/"
cp "$ZCFG" "$PUB/zpnet.ini"
chmod -R a+rX "$PUB"
caps=(--inh-caps=+net_raw,+net_admin --ambient-caps=+net_raw,+net_admin)
asuser=(setpriv --reuid=nobody --regid=nogroup --clear-groups)
serve setpriv 6406 "$PUB/bin/zpnet" run -c "$PUB/zpnet.ini" -- \
	"${asuser[@]}" "${caps[@]}" "${REDIS[@]}" --port 6406
# zpnet stats of a server that runs as nobody: nobody may read it, another
# user (daemon) may not
stats_as_owner() {	# NAME PORT
	local pid out rc
	pid=$(zpns_k timeout 5 redis-cli -h $Z_ADDR -p "$2" info server | tr -d '\r' |
		sed -n 's/^process_id://p')
	out=$(zpns_z "${asuser[@]}" "$PUB/bin/zpnet" stats --listen "$pid" 2>&1)
	rc=$?
	[ $rc = 0 ] || fail "$1: zpnet stats as the server's own user exited $rc: $out"
	echo "$out" | grep -qE "^tcp +LISTEN .*:$2 " || fail "$1: zpnet stats as nobody lists no listener: $out"
	out=$(zpns_z setpriv --reuid=daemon --regid=daemon --clear-groups \
		"$PUB/bin/zpnet" stats "$pid" 2>&1)
	rc=$?
	[ $rc = 1 ] && echo "$out" | grep -q 'permission denied' ||
		fail "$1: zpnet stats as daemon: exit $rc, $out"
	echo "ok $1: zpnet stats as nobody lists the listener; daemon gets 'permission denied'"
}
AFTER_PONG=stats_as_owner serve nonroot 6407 "${asuser[@]}" "${caps[@]}" \
	"$PUB/bin/zpnet" run -c "$PUB/zpnet.ini" -- "${REDIS[@]}" --port 6407
out=$(zpns_z "${asuser[@]}" "$PUB/bin/zpnet" check -c "$PUB/zpnet.ini" 2>&1)
rc=$?
[ $rc = 1 ] || fail "zpnet check as nobody without capabilities exited $rc, not 1"
echo "$out" | grep -q 'need CAP_NET_RAW and CAP_NET_ADMIN.*--ambient-caps' ||
	fail "zpnet check as nobody: no capability message: $out"
echo "ok zpnet check as nobody names CAP_NET_RAW and CAP_NET_ADMIN"
echo PASS
