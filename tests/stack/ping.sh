#!/bin/bash
# 1,000 pings from the kernel peer to the zpnet address: 0% loss.
. "$(dirname "$0")/common.sh"
stack_start 1
out=$(zpns_k ping -c 1000 -i 0.002 -W 2 198.18.0.2) || fail "ping failed: $out"
echo "$out" | tail -3
echo "$out" | grep -q "1000 packets transmitted, 1000 received, 0% packet loss" ||
	fail "packet loss: $(echo "$out" | grep transmitted)"
stack_stop
grep -q "^port0.rx_csum_bad 0$" "$LOG" || fail "checksum drops counted"
echo PASS
