#!/bin/bash
# The TCP/UDP checksums a port's check cannot reach: IPv6 fragments (lwIP
# reassembles them), IPv6 behind a destination-options header, IPv4
# fragments (the kernel reassembles them for net_af_packet). Each is sent
# to a UDP echo with its right checksum, then with a wrong one: the good
# ones are echoed and the bad ones dropped, on the kernel stack (on the
# zpnet end, vz0, a socat echo) first, then on the demo server, whose
# net_af_packet port leaves TCP/UDP sums to zpnet's own check ([port.N]
# tso, README).
. "$(dirname "$0")/common.sh"
command -v socat >/dev/null || zpns_skip "socat missing (scripts/setup.sh)"
PROBE="python3 $here/../lib/csum_probe.py 2001:2::1 2001:2::2 198.18.0.1 198.18.0.2 7"

probe() {	# NAME
	local out
	out=$(zpns_k timeout 60 $PROBE 2>&1)
	local rc=$?
	echo "$out" | sed "s/^/$1: /"
	[ $rc = 0 ] || fail "$1: a good datagram was not echoed or a bad one was"
}

zpns_setup 1
trap cleanup EXIT
zpns_z sysctl -qw net.ipv6.conf.vz0.disable_ipv6=0
zpns_z ip addr add 198.18.0.2/24 dev vz0
zpns_z ip addr add 2001:2::2/64 dev vz0 nodad
zpns_bg_z "$TMP/socat.log" timeout 120 socat -T 60 UDP6-RECVFROM:7,ipv6only=0,fork PIPE
for ((i = 0; i < 50; i++)); do
	zpns_z ss -uln | grep -q ':7 ' && break
	sleep 0.1
done
probe kernel
kill -TERM -- "-$ZPNS_LAST" 2>/dev/null
zpns_teardown
zpns_setup 1
trap cleanup EXIT
zpns_config "$TMP/zpnet.ini" ""
ZPNET_LOG=info zpns_bg_z "$LOG" "$DEMO" -c "$TMP/zpnet.ini" -s -t "$DEMO_LIMIT_S"
zpns_wait_ready "$LOG" 30 || fail "demo server did not start"
# lwIP's own TCP/UDP checks are off on this port: the case under test
grep -q "port.0: net_af_packet.*csum offload on" "$LOG" ||
	fail "the port's sums are not zpnet's own (no TCP socket?)"
probe zpnet
stack_stop
grep -E "^(udp\.chkerr|port0\.rx_csum_bad)" "$LOG"
[ "$(sed -n 's/^udp.chkerr //p' "$LOG")" -ge 2 ] ||
	fail "lwIP's input counted fewer than the 2 bad datagrams it checked (IPv6)"
echo PASS
