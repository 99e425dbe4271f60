#!/bin/bash
# The socket-semantics program (sockcheck.c) runs the same checks on
# the kernel stack, and under zpnet on a veth port with each way of
# catching calls (preload, zpoline, sud). All must pass.
# usage: sockcheck.sh ZPNET_BINARY SOCKCHECK_BINARY
set -u
ZPNET=$1
CHECK=$2
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/../lib/netns.sh"

command -v nft >/dev/null || zpns_skip "nft missing (scripts/setup.sh)"
zpns_setup 1
TMP=$(mktemp -d /tmp/zpnet-apps-sockcheck.XXXXXX)
cleanup() { zpns_teardown; rm -rf "$TMP"; }
trap cleanup EXIT
PORT=7070
PEER=198.18.0.1
PEER6=2001:2:0:0::1

# The peer's PORT+2 is a black hole for data (TCP_USER_TIMEOUT): its kernel
# drops every IPv4 segment to that port longer than a handshake's, on
# loopback (the kernel run) and from the veth (under zpnet) alike. PORT+3
# is one for datagrams (check_pmtudisc: no "port unreachable" comes back).
zpns_k nft -f - <<EOF || exit 1
table inet sockcheck {
	chain input {
		type filter hook input priority 0; policy accept;
		tcp dport $((PORT + 2)) ip length > 100 drop
		udp dport $((PORT + 3)) drop
	}
}
EOF

# The peer's kernel answers a datagram to a closed port with ICMP "port
# unreachable", which it limits to 6 at once and one a second per
# destination: the ICMP checks need a few more.
zpns_k sysctl -qw net.ipv4.icmp_ratelimit=0 net.ipv6.icmp.ratelimit=0 || exit 1

# The kernel run reaches the peer over its loopback, zpnet over the veth:
# the same MTU on both (1,500) for the path-MTU checks (check_pmtudisc).
zpns_k ip link set lo mtu 1500 || exit 1

start_peer() {
	setsid ip netns exec "$NS_K" timeout 250 "$CHECK" peer $PORT > "$TMP/peer.log" 2>&1 &
	ZPNS_LAST=$!
	ZPNS_PIDS+=("$ZPNS_LAST")
	zpns_wait_ready "$TMP/peer.log" 10 || exit 1
}

rc=0
start_peer
echo "== kernel stack"
if ! zpns_k env SOCKCHECK_DEV=vk0 timeout 120 "$CHECK" test $PEER $PORT $PEER $PEER6; then
	echo "FAIL: the checks fail on the kernel stack" >&2
	rc=1
fi
kill -TERM -- "-$ZPNS_LAST" 2>/dev/null
wait "$ZPNS_LAST" 2>/dev/null

# zpoline's trampoline lives at address 0.
sysctl -qw vm.mmap_min_addr=0
for mode in preload zpoline sud; do
	start_peer
	zpns_config "$TMP/zpnet.ini" "[hooks]
mode = $mode"
	echo "== zpnet, hooks: $mode"
	if ! zpns_z env SOCKCHECK_DEV=vz0 timeout 120 "$ZPNET" run -c "$TMP/zpnet.ini" -- \
		"$CHECK" test $PEER $PORT 198.18.0.2 $PEER6; then
		echo "FAIL: the checks fail under zpnet ($mode)" >&2
		rc=1
	fi
	kill -TERM -- "-$ZPNS_LAST" 2>/dev/null
	wait "$ZPNS_LAST" 2>/dev/null
done
[ $rc = 0 ] && echo PASS
exit $rc
