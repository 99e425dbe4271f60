#!/bin/bash
# Checksum offload: net_tap offers RX and TX checksum offload (done in the
# PMD), so lwIP leaves TCP/IPv4 sums to the port and trusts its RX checks.
# Ping, TCP and UDP echo must work, and no frame may fail a checksum.
. "$(dirname "$0")/common.sh"
zpns_setup 0
trap cleanup EXIT
cat > "$TMP/tap.ini" <<EOT
[port.0]
pmd = net_tap
iface = zptap0
addr = 198.18.5.2/24
addr6 = 2001:2:0:5::2/64
EOT
ZPNET_LOG=info zpns_bg_z "$LOG" "$DEMO" -c "$TMP/tap.ini" -s -t 120
zpns_wait_ready "$LOG" 30 || fail "demo did not start"
# The tap interface appears in the zpnet namespace; the kernel is its peer.
zpns_z ip addr add 198.18.5.1/24 dev zptap0
zpns_z ip addr add 2001:2:0:5::1/64 dev zptap0 nodad
zpns_z ip link set zptap0 up
grep -q "port.0: net_tap.*csum offload on" "$LOG" || fail "offload not enabled on net_tap"
zpns_z ping -c 20 -i 0.01 -W 2 198.18.5.2 | grep -q " 0% packet loss" || fail "ping"
zpns_z python3 "$here/../lib/echo_client.py" tcp 198.18.5.2 7 --bytes 20000000 --conns 4 --timeout 120 ||
	fail "TCP echo with offload"
zpns_z python3 "$here/../lib/echo_client.py" tcp 2001:2:0:5::2 7 --bytes 5000000 --conns 2 --timeout 120 ||
	fail "TCP echo over IPv6 with offload"
zpns_z python3 "$here/../lib/echo_client.py" udp 198.18.5.2 7 --count 2000 --timeout 60 ||
	fail "UDP echo with offload"
stack_stop
grep -q "^port0.rx_csum_bad 0$" "$LOG" || fail "frames failed checksums"
grep -q "^tcp.chkerr 0$" "$LOG" || fail "lwIP saw TCP checksum errors"
echo PASS
