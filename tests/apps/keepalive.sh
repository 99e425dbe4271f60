#!/bin/bash
# ETIMEDOUT as Linux reports it: a connection whose peer goes silent is
# dropped by keepalive (TCP_KEEPIDLE 1 s, TCP_KEEPINTVL 1 s, TCP_KEEPCNT 2)
# and a blocked recv() fails with ETIMEDOUT. Run on the kernel stack first
# (the reference), then under zpnet. The peer goes silent by dropping its
# address: its kernel then ignores the probes (the link stays up).
# (Bounded: each program is killed after 60 s.)
# usage: keepalive.sh ZPNET_BINARY
set -u
ZPNET=$1
source "$(dirname "$0")/common.sh"
PY=/usr/bin/python3

prog="
import errno, socket, sys, time
s = socket.create_connection(('$K_ADDR', 7300))
s.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, 1)
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, 1)
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT, 2)
t0 = time.time()
print('connected', flush=True)
try:
    b = s.recv(10)
    print('recv returned', b, flush=True)
except OSError as e:
    print('errno', errno.errorcode.get(e.errno, e.errno), round(time.time() - t0, 1), flush=True)
"

# run_case NAME CMD...: a silent peer must end the recv with ETIMEDOUT.
run_case() {
	local name=$1
	shift
	zpns_k ip addr replace $K_ADDR/24 dev vk0
	setsid ip netns exec "$NS_K" timeout 60 socat -u TCP-LISTEN:7300,reuseaddr OPEN:/dev/null &
	local sink=$!
	sleep 0.5
	"$@" $PY -u -c "$prog" > "$TMP/$name.log" 2>&1 &
	local prog_pid=$!
	for ((i = 0; i < 100; i++)); do grep -q connected "$TMP/$name.log" && break; sleep 0.1; done
	grep -q connected "$TMP/$name.log" || fail "$name: did not connect"
	zpns_k ip addr del $K_ADDR/24 dev vk0	# the peer goes silent
	wait $prog_pid
	grep -q "errno ETIMEDOUT" "$TMP/$name.log" || fail "$name: $(grep -v '^zpnet' "$TMP/$name.log" | tail -1)"
	echo "ok $name: recv() on a connection to a silent peer fails with ETIMEDOUT"
	kill -TERM -- -$sink 2>/dev/null	# its own process group
	wait $sink 2>/dev/null
}

# Reference: the kernel stack on the same veth end.
zpns_z ip addr add $Z_ADDR/24 dev vz0
run_case kernel zpns_z timeout 60
zpns_z ip addr del $Z_ADDR/24 dev vz0
zpns_k ip neigh flush dev vk0 2>/dev/null
run_case zpnet zpns_z timeout 60 "$ZPNET" run -c "$ZCFG" --
echo PASS
