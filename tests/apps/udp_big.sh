#!/bin/bash
# UDP datagrams past the MTU (udp_big.py): an echo server on the kernel
# stack, then under zpnet, on the same veth end; the same client on the
# kernel side checks every size byte-exact over IPv4 and IPv6, the server
# its stack's largest datagram and EMSGSIZE one byte past it. IPv6's
# largest is Linux's 65,527 bytes on the kernel, 65,487 under zpnet (lwIP
# holds a packet, header included, in at most 64 KiB).
# usage: udp_big.sh ZPNET_BINARY
set -u
ZPNET=$1
source "$(cd "$(dirname "$0")" && pwd)/common.sh"
PY=$HERE/udp_big.py
PORT=9100

run_case() {	# NAME MAX6 CMD...: server under CMD, then the client
	local name=$1 max6=$2
	shift 2
	zpns_bg_z "$TMP/$name.log" "$@" python3 "$PY" server $PORT 60 $K_ADDR $K_ADDR6 $max6
	local i
	for ((i = 0; i < 100; i++)); do grep -q '^ready' "$TMP/$name.log" && break; sleep 0.1; done
	grep -q '^ready' "$TMP/$name.log" || fail "$name: server not up"
	grep '^limit' "$TMP/$name.log" | sed "s/^/$name: /"
	zpns_k timeout 60 python3 "$PY" client $Z_ADDR $Z_ADDR6 $PORT $max6 > "$TMP/$name.out" 2>&1
	local rc=$?
	sed "s/^/$name: /" "$TMP/$name.out"
	[ $rc = 0 ] || fail "$name: UDP past the MTU"
	kill -TERM "$ZPNS_LAST" 2>/dev/null	# exits normally: ZPNET_STATS is written
	wait "$ZPNS_LAST" 2>/dev/null
}

# The reference: the kernel stack on vz0 (whose IPv6 netns.sh turns off,
# so that the kernel stays out of zpnet's way there).
zpns_z sysctl -qw net.ipv6.conf.vz0.disable_ipv6=0
zpns_z ip addr add $Z_ADDR/24 dev vz0
zpns_z ip addr add $Z_ADDR6/64 dev vz0 nodad
run_case kernel 65527
zpns_z ip addr del $Z_ADDR/24 dev vz0
zpns_z sysctl -qw net.ipv6.conf.vz0.disable_ipv6=1
zpns_k ip -6 neigh flush dev vk0 2>/dev/null
zpns_k ip neigh flush dev vk0 2>/dev/null
run_case zpnet 65487 env ZPNET_STATS="$TMP/stats" "$ZPNET" run -c "$ZCFG" --
# the kernel reassembles IPv4 for net_af_packet: the 8 sizes longer than
# a ring frame (2,048 bytes) came whole off the socket
[ "$(sed -n 's/^port0.rx_long //p' "$TMP/stats" 2>/dev/null)" -ge 8 ] ||
	fail "zpnet: IPv4 datagrams not read whole (port0.rx_long)"
echo "ok UDP datagrams of 1,473-65,507 bytes (IPv4) and 1,453-65,527 (IPv6; zpnet 65,487) echoed byte-exact, EMSGSIZE past them, kernel and zpnet"
echo PASS
