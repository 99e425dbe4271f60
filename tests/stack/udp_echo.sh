#!/bin/bash
# UDP echo of 10,000 datagrams of mixed sizes up to 1,472 bytes.
. "$(dirname "$0")/common.sh"
stack_start 1
zpns_k $ECHO_CLIENT udp 198.18.0.2 7 --count 10000 --timeout 120 ||
	fail "UDP echo"
stack_stop
echo PASS
