#!/bin/bash
# Start-up errors: each exits non-zero with a message naming the problem.
. "$(dirname "$0")/common.sh"
zpns_setup 1
trap cleanup EXIT

# expect_error NAME PATTERN CONFIG: the demo must fail and print PATTERN.
expect_error() {
	local name=$1 pattern=$2 cfg=$3 out rc
	out=$(zpns_z timeout 60 "$DEMO" -c "$cfg" -t 1 2>&1)
	rc=$?
	[ "$rc" != 0 ] || fail "$name: exit status 0"
	[ "$rc" != 124 ] || fail "$name: hung"
	echo "$out" | grep -qE -- "$pattern" || fail "$name: message '$out' lacks /$pattern/"
	echo "ok: $name -> $(echo "$out" | tail -1)"
}

expect_error "missing config" "$TMP/nope.ini: cannot open the config file" "$TMP/nope.ini"

zpns_config "$TMP/unknown-key.ini" "$(printf '[stack]\ntcp_window = 1m')"
expect_error "unknown key" "unknown-key.ini:[0-9]+: unknown key 'tcp_window' in \[stack\]" \
	"$TMP/unknown-key.ini"

zpns_config "$TMP/bad-pmd.ini"
sed -i 's/^pmd = net_af_packet/pmd = net_nosuchdriver/' "$TMP/bad-pmd.ini"
expect_error "unknown PMD" "driver 'net_nosuchdriver' did not create a port" "$TMP/bad-pmd.ini"

zpns_config "$TMP/no-iface.ini"
sed -i 's/^iface = vz0/iface = zpnosuch0/' "$TMP/no-iface.ini"
expect_error "missing interface" "iface = zpnosuch0: no such interface in this network namespace" "$TMP/no-iface.ini"

zpns_config "$TMP/bad-addr.ini"
sed -i 's|^addr = .*|addr = 198.18.0.2|' "$TMP/bad-addr.ini"
expect_error "address without prefix" "bad value '198.18.0.2' for addr" "$TMP/bad-addr.ini"

zpns_config "$TMP/too-much.ini"
sed -i 's/^memory_mb = 256/memory_mb = 900000/' "$TMP/too-much.ini"
expect_error "more memory than there is" "memory_mb = 900000 but only" "$TMP/too-much.ini"

# after the pool is made: the port and the pool are given back, then the
# message (a retry in the process would find both free)
zpns_config "$TMP/few-mbufs.ini"
sed -i 's/^mbufs = .*/mbufs = 1023\nrx_desc = 1024/' "$TMP/few-mbufs.ini"
expect_error "too few mbufs for the rings" "mbufs = 1023 leaves too few for the net_af_packet rings" \
	"$TMP/few-mbufs.ini"

zpns_config "$TMP/no-port.ini"
sed -i '/^\[port.0\]/,$d' "$TMP/no-port.ini"
expect_error "no port" "no \[port.N\] section" "$TMP/no-port.ini"
echo PASS
