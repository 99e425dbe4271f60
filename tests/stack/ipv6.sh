#!/bin/bash
# IPv6: neighbour discovery, 100 pings, a 10 MB TCP echo, a UDP echo;
# IPv4 and IPv6 gateways.
. "$(dirname "$0")/common.sh"
stack_start 1
out=$(zpns_k ping -6 -c 100 -i 0.005 -W 2 2001:2::2) || fail "ping -6 failed: $out"
echo "$out" | tail -2
echo "$out" | grep -q "100 packets transmitted, 100 received, 0% packet loss" ||
	fail "IPv6 packet loss"
zpns_k $ECHO_CLIENT tcp 2001:2::2 7 --bytes 10000000 --conns 1 --timeout 120 ||
	fail "10 MB TCP echo over IPv6"
zpns_k $ECHO_CLIENT tcp 2001:2::2 7 --bytes 10000000 --conns 8 --timeout 120 ||
	fail "10 MB TCP echo over IPv6, 8 connections"
zpns_k $ECHO_CLIENT udp 2001:2::2 7 --count 1000 --timeout 60 ||
	fail "UDP echo over IPv6"
# Off-link peers: replies must go through gateway / gateway6.
zpns_k ip addr add 198.19.255.1/32 dev lo
zpns_k ip addr add 2001:2:ff::1/128 dev lo
zpns_k ping -c 5 -i 0.01 -W 2 -I 198.19.255.1 198.18.0.2 >/dev/null ||
	fail "IPv4 reply to an off-link source (gateway)"
zpns_k ping -6 -c 5 -i 0.01 -W 2 -I 2001:2:ff::1 2001:2::2 >/dev/null ||
	fail "IPv6 reply to an off-link source (gateway6)"
stack_stop
echo PASS
