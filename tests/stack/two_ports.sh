#!/bin/bash
# Two ports on two subnets, one process: both answer ping and TCP echo.
. "$(dirname "$0")/common.sh"
stack_start 2
for i in 0 1; do
	out=$(zpns_k ping -c 20 -i 0.01 -W 2 198.18.$i.2) || fail "ping port $i: $out"
	echo "$out" | grep -q " 0% packet loss" || fail "loss on port $i"
	zpns_k $ECHO_CLIENT tcp 198.18.$i.2 7 --bytes 5000000 --conns 4 --timeout 60 ||
		fail "TCP echo on port $i"
	zpns_k ping -6 -c 5 -i 0.01 -W 2 2001:2:0:$i::2 >/dev/null || fail "ping -6 port $i"
done
stack_stop
# Each port carried its own traffic.
for i in 0 1; do
	n=$(sed -n "s/^port$i.rx_pkts //p" "$LOG")
	[ "${n:-0}" -gt 1000 ] || fail "port $i received only ${n:-0} frames"
done
echo PASS
