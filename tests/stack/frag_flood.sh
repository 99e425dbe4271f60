#!/bin/bash
# Reassembly memory is bounded and the oldest incomplete datagram gives
# way: after 1,000 incomplete fragmented datagrams from the kernel peer, a
# 3,000-byte fragmented ping is answered at once, over IPv4 and IPv6. The
# same assertions on the kernel stack (on the zpnet end, vz0) first, then
# on the demo server. (Past ipfrag_high_thresh, 4 MiB, Linux drops new
# fragments until old ones time out; so does zpnet's IPv4 on
# net_af_packet, which the kernel reassembles. 1,000 stay below it.)
. "$(dirname "$0")/common.sh"
FLOOD="python3 $here/../lib/frag_flood.py"
N=${FLOOD_N:-1000}

flood_then_ping() {	# NAME: the flood, then pings of 3,000 bytes
	local name=$1 v out
	for v in 4 6; do
		local dst=198.18.0.2 src=198.18.0.1 opt=-4
		[ $v = 6 ] && { dst=2001:2::2; src=2001:2::1; opt=-6; }
		zpns_k timeout 30 $FLOOD $v $src $dst $N || fail "$name: IPv$v flood not sent"
		# up to 3 tries of one ping each: the first answer passes
		out=$(zpns_k ping $opt -c 3 -i 0.2 -W 1 -A -s 3000 $dst 2>&1)
		echo "$out" | grep -E "transmitted" | sed "s/^/$name IPv$v: /"
		echo "$out" | grep -qE "[1-3] received" ||
			fail "$name: IPv$v 3,000-byte ping not answered after $N incomplete datagrams"
	done
}

zpns_setup 1
trap cleanup EXIT
# The reference: the kernel on vz0 (netns.sh turns its IPv6 off there).
zpns_z sysctl -qw net.ipv6.conf.vz0.disable_ipv6=0
zpns_z ip addr add 198.18.0.2/24 dev vz0
zpns_z ip addr add 2001:2::2/64 dev vz0 nodad
flood_then_ping kernel
# Fresh namespaces for zpnet: the kernel's incomplete datagrams would
# stay for ipfrag_time (30 s) and count against the same memory, because
# net_af_packet has the kernel reassemble IPv4 for zpnet too (README).
zpns_teardown
zpns_setup 1
zpns_config "$TMP/zpnet.ini" ""
zpns_bg_z "$LOG" "$DEMO" -c "$TMP/zpnet.ini" -s -t "$DEMO_LIMIT_S"
zpns_wait_ready "$LOG" 30 || fail "demo server did not start"
flood_then_ping zpnet
stack_stop
grep -E "^(ipfrag|ip6frag|port0.rx_long)" "$LOG"
# IPv4 reached the demo whole (the kernel reassembled it for net_af_packet's
# fanout), IPv6 in fragments that lwIP reassembled
[ "$(sed -n 's/^port0.rx_long //p' "$LOG")" -ge 1 ] || fail "no IPv4 datagram read whole"
# (the ping's 9 fragments and most of the flood's: at 2 vCPUs the port's
# ring may drop some of a flood sent this fast)
[ "$(sed -n 's/^ip6frag.recv //p' "$LOG")" -ge $((N / 2 + 9)) ] || fail "lwIP took fewer IPv6 fragments than the ping's 9 and half the flood's"
echo PASS
