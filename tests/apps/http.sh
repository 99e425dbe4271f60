#!/bin/bash
# curl and /usr/bin/python3 -m http.server, a 50 MB file each way, sha256 equal:
# curl under zpnet against http.server on the kernel, then http.server under
# zpnet against curl on the kernel; then a server under zpnet that answers
# over IPv4 and IPv6 and exits, with TCP segmentation offload on (its
# counters say the segments went out merged), off ([port.0] tso = no), on
# a device without TSO (merging turns itself off), and with the kernel
# refusing zpnet's TCP socket (software sums through the driver's ring).
# usage: http.sh ZPNET_BINARY
set -u
ZPNET=$1
source "$(cd "$(dirname "$0")" && pwd)/common.sh"
command -v curl >/dev/null || zpns_skip "curl missing (scripts/setup.sh)"
# /usr/bin/python3 itself: a wrapper script (pyenv shims) would be the
# first process of the two to claim the port.

mkdir "$TMP/www"
head -c 50000000 /dev/urandom > "$TMP/www/file"
WANT=$(sha256sum < "$TMP/www/file")

# kernel server, zpnet client
setsid ip netns exec "$NS_K" timeout 120 /usr/bin/python3 -m http.server 8000 \
	--bind $K_ADDR --directory "$TMP/www" > "$TMP/ksrv.log" 2>&1 &
ZPNS_PIDS+=($!)
wait_tcp zpns_k $K_ADDR 8000 20 || fail "http.server (kernel) not up"
zpns_z timeout 120 "$ZPNET" run -c "$ZCFG" -- \
	curl -sS --fail -o "$TMP/got1" http://$K_ADDR:8000/file 2> "$TMP/curl1.log" ||
	fail "curl under zpnet"
[ "$(sha256sum < "$TMP/got1")" = "$WANT" ] || fail "curl under zpnet: sha256 differs"
echo "ok curl under zpnet <- http.server on the kernel, 50 MB, sha256 equal"

# zpnet server, kernel client
zpns_bg_z "$TMP/zsrv.log" timeout 120 "$ZPNET" run -c "$ZCFG" -- \
	/usr/bin/python3 -m http.server 8001 --directory "$TMP/www"
ZSRV=$ZPNS_LAST
wait_tcp zpns_k $Z_ADDR 8001 30 || fail "http.server under zpnet not up"
zpns_k timeout 120 curl -sS --fail -o "$TMP/got2" http://$Z_ADDR:8001/file ||
	fail "curl against http.server under zpnet"
[ "$(sha256sum < "$TMP/got2")" = "$WANT" ] || fail "http.server under zpnet: sha256 differs"
echo "ok http.server under zpnet -> curl on the kernel, 50 MB, sha256 equal"
kill -TERM -- "-$ZSRV" 2>/dev/null
wait "$ZSRV" 2>/dev/null	# the port is free for the next server

# A dual-stack server under zpnet that answers two GETs of the file, then
# exits (ZPNET_STATS is written at exit).
cat > "$TMP/serve2.py" <<'PY'
import functools, http.server, socket, sys
served = 0
class H(http.server.SimpleHTTPRequestHandler):
    def do_GET(self):
        global served
        super().do_GET()
        served += 1
    def log_message(self, *a):
        pass
class S(http.server.HTTPServer):
    address_family = socket.AF_INET6
    def server_bind(self):
        self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        super().server_bind()
s = S(("::", int(sys.argv[2])), functools.partial(H, directory=sys.argv[1]))
print("ready", flush=True)
while served < 2:
    s.handle_request()
PY
tso_round() {	# NAME PORT CONFIG
	local name=$1 port=$2 cfg=$3 pid
	zpns_bg_z "$TMP/$name.log" env ZPNET_STATS="$TMP/$name.stats" timeout 120 \
		${TSO_PREFIX:-} "$ZPNET" run -c "$cfg" -- /usr/bin/python3 "$TMP/serve2.py" "$TMP/www" "$port"
	pid=$ZPNS_LAST
	for ((i = 0; i < 300; i++)); do
		grep -q '^ready' "$TMP/$name.log" && break
		sleep 0.1
	done
	grep -q '^ready' "$TMP/$name.log" || fail "$name: the server did not start"
	zpns_k timeout 120 curl -sS --fail -o "$TMP/$name.4" http://$Z_ADDR:$port/file ||
		fail "$name: curl over IPv4"
	zpns_k timeout 120 curl -sS --fail -g -o "$TMP/$name.6" "http://[2001:2::2]:$port/file" ||
		fail "$name: curl over IPv6"
	wait "$pid" || fail "$name: the server exited $?: $(tail -3 "$TMP/$name.log")"
	[ "$(sha256sum < "$TMP/$name.4")" = "$WANT" ] || fail "$name: IPv4: sha256 differs"
	[ "$(sha256sum < "$TMP/$name.6")" = "$WANT" ] || fail "$name: IPv6: sha256 differs"
	TSO=$(sed -n 's/^port0.tx_tso //p' "$TMP/$name.stats")
	SEGS=$(sed -n 's/^port0.tx_tso_segs //p' "$TMP/$name.stats")
	ERRS=$(sed -n 's/^port0.tx_tso_err //p' "$TMP/$name.stats")
	echo "$name: port0.tx_tso ${TSO:-?}, tx_tso_segs ${SEGS:-?}, tx_tso_err ${ERRS:-?}"
}
tso_round tso 8002 "$ZCFG"
# 100 MB in 1,448-byte segments is about 69,000 of them
[ "${SEGS:-0}" -ge 35000 ] || fail "tso: ${SEGS:-no} segments went out merged, want most of ~69,000"
[ "${TSO:-0}" -gt 0 ] && [ $((SEGS / TSO)) -ge 4 ] ||
	fail "tso: ${SEGS:-?} segments in ${TSO:-?} frames, want >= 4 a frame"
[ "${ERRS:-x}" = 0 ] || fail "tso: ${ERRS:-?} frames refused"
echo "ok a server under zpnet -> curl, IPv4 and IPv6, 50 MB each, sha256 equal, $SEGS segments in $TSO offloaded frames"
{ cat "$ZCFG"; echo; } | sed 's/^\[port.0\]$/[port.0]\ntso = no/' > "$TMP/notso.ini"
grep -q '^tso = no' "$TMP/notso.ini" || fail "no [port.0] in $ZCFG"
tso_round notso 8003 "$TMP/notso.ini"
[ "${TSO:-x}" = 0 ] && [ "${SEGS:-x}" = 0 ] || fail "tso = no: ${TSO:-?} offloaded frames, want 0"
echo "ok the same with tso = no: sha256 equal, nothing offloaded"
# A device that cannot take merged frames (TSO off on the zpnet end: the
# kernel drops each one, nothing segments it): zpnet sends the segments
# one by one, says so, and loses nothing.
zpns_z ethtool -K vz0 tso off >/dev/null || fail "ethtool -K vz0 tso off"
tso_round devnotso 8004 "$ZCFG"
zpns_z ethtool -K vz0 tso on >/dev/null
grep -q "drops TCP frames of several segments" "$TMP/devnotso.log" ||
	fail "TSO off on the device: merging was not turned off"
[ "${TSO:-x}" = 0 ] || fail "TSO off on the device: ${TSO:-?} merged frames went out"
echo "ok the same on a device without TSO: sha256 equal, segments one by one"
# The kernel refusing zpnet's TCP socket outright (sendmmsg fails EINVAL,
# by a seccomp filter): TCP goes back to the driver's ring with software
# sums, for good, and nothing is lost.
SYSFAIL=$(dirname "$ZPNET")/../tests/apps/zpnet-sysfail
[ -x "$SYSFAIL" ] || fail "$SYSFAIL missing: build with ninja"
TSO_PREFIX="$SYSFAIL 22" tso_round refused 8005 "$ZCFG"
grep -q "the kernel refused an offloaded TCP frame" "$TMP/refused.log" ||
	fail "sendmmsg refused: no fall-back said"
[ "${TSO:-x}" = 0 ] || fail "sendmmsg refused: ${TSO:-?} merged frames counted"
echo "ok the same with the socket refused: sha256 equal, software sums through the ring"
echo PASS
