#!/bin/bash
# ICMP errors on UDP and TCP sockets (icmp_err.py): the peer answers each datagram
# with a crafted ICMP or ICMPv6 error quoting it (unreachable of every
# kind, fragmentation needed, packet too big, time exceeded, parameter
# problem, an extension header in the quote, a bad sum), then with a
# datagram. The same client runs on the kernel stack, then under zpnet, on
# the same veth end: a connected socket must see Linux's errno for the
# "hard" errors only, an IP_RECVERR/IPV6_RECVERR socket an error-queue
# entry with Linux's errno, origin, type, code, info and offender; a TCP
# connect() whose SYN gets an unreachable, time-exceeded (ICMP or ICMPv6)
# must fail at once with Linux's errno (and queue it with IP_RECVERR),
# and ignore one that quotes a sequence number no segment had. On an
# established connection, an error about data in flight is reported at
# once with IP_RECVERR and kept for a timeout's report without, and
# fragmentation needed or packet too big sends the data again in smaller
# segments (path MTU). A listener's connection in SYN-RECEIVED (the peer's
# handshake made by hand) is dropped on a fatal error about its SYN-ACK,
# as Linux's tcp_req_err: the ACK gets a RST, accept() nothing; other
# errors, or one quoting another number, leave it. The peer reads the
# IPv4 DF bit off the wire: UDP datagrams and TCP segments under each
# IP_MTU_DISCOVER policy, and a fragmented datagram, as Linux sets it.
# usage: icmp_err.sh ZPNET_BINARY
set -u
ZPNET=$1
source "$(cd "$(dirname "$0")" && pwd)/common.sh"
PY=$HERE/icmp_err.py
PORT=9200

# the TCP cases' SYNs: seen by the peer's packet socket, not answered
# with a RST by its kernel; the established cases' data segments: seen,
# never acknowledged (their handshakes and "done" are smaller)
zpns_k nft -f - <<NFT || fail "nft"
table inet icmperr {
	chain input {
		type filter hook input priority 0; policy accept;
		tcp dport 9300-9399 drop
		tcp dport 9400-9499 meta length > 300 drop
		tcp sport 9500-9599 drop
	}
}
NFT
# one destination per path-MTU case: the kernel keeps what it learns
# (secondary, and deprecated for IPv6: never the peer's source address)
for a in 198.18.0.101/24 198.18.0.102/24 198.18.0.103/24; do
	zpns_k ip addr add $a dev vk0 || fail "ip addr $a"
done
for a in 2001:2::101/64 2001:2::102/64; do
	zpns_k ip addr add $a dev vk0 nodad preferred_lft 0 || fail "ip addr $a"
done
setsid ip netns exec "$NS_K" timeout 300 python3 "$PY" peer $PORT 290 vk0 > "$TMP/peer.log" 2>&1 &
ZPNS_LAST=$!
ZPNS_PIDS+=("$ZPNS_LAST")
zpns_wait_ready "$TMP/peer.log" 10 || fail "the ICMP peer is not up"

run_case() {	# NAME CMD...: the client under CMD
	local name=$1
	shift
	"$@" python3 "$PY" client $K_ADDR $K_ADDR6 $PORT > "$TMP/$name.out" 2>&1
	local rc=$?
	sed "s/^/$name: /" "$TMP/$name.out"
	[ $rc = 0 ] || fail "$name: ICMP errors on UDP"
}

# The reference: the kernel stack on vz0 (whose IPv6 netns.sh turns off,
# so that the kernel stays out of zpnet's way there).
zpns_z sysctl -qw net.ipv6.conf.vz0.disable_ipv6=0
zpns_z ip addr add $Z_ADDR/24 dev vz0
zpns_z ip addr add $Z_ADDR6/64 dev vz0 nodad
run_case kernel zpns_z timeout 200
zpns_z ip addr del $Z_ADDR/24 dev vz0
zpns_z ip addr del $Z_ADDR6/64 dev vz0
zpns_z sysctl -qw net.ipv6.conf.vz0.disable_ipv6=1
zpns_k ip -6 neigh flush dev vk0 2>/dev/null
zpns_k ip neigh flush dev vk0 2>/dev/null
run_case zpnet zpns_z timeout 200 "$ZPNET" run -c "$ZCFG" --
echo PASS
