#!/bin/bash
# `zpnet run`'s prewarm helper (netstack/ns_prewarm.h): net_af_packet's
# queue socket and its rings are made by a process named zpnet-prewarm
# while PROGRAM starts, and the stack takes them over:
#  - in every [hooks] mode: the server answers, port0.queues_prewarmed is
#    1, the rings were set up by the helper alone (strace: no ring setup
#    by PROGRAM's threads), and the helper is gone once the stack started;
#    the mbuf pool, placed a chunk at a time after the start, is whole a
#    second later (port0.pool_free 8191 at exit), and whole in the child
#    of a server that forks at once (the pool is completed before a fork);
#  - devargs framecnt=1024: the same, with the driver's larger rings;
#  - prewarm = no: no helper, the driver sets its rings up, 0 prewarmed;
#  - a PROGRAM that never opens a socket: the helper waits, and exits with
#    it;
#  - a server that a wrapper (setpriv) runs as another user gets them;
#  - another user who asks for the sockets gets none, and the helper stays;
#    once root took them, PROGRAM's stack makes its own (0 prewarmed) and
#    serves;
#  - the library takes sockets only from a helper of its own user or root,
#    and only packet sockets: fakes that break either rule are refused
#    (and a fair fake is taken);
#  - a stale ZPNET_PREWARM (no such helper) changes nothing.
# usage: prewarm.sh ZPNET_BINARY
set -u
ZPNET=$1
source "$(cd "$(dirname "$0")" && pwd)/common.sh"
# the user nobody reads files of TMP; failures are counted, not fatal
chmod 755 "$TMP"
sysctl -qw vm.mmap_min_addr=0
rc=0
fail() { echo "FAIL: $*" >&2; rc=1; }
ok() { echo "ok: $*"; }

PORT=7000
# answers one connection with "hi", then exits (ZPNET_STATS written)
SERVER='import socket
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("198.18.0.2", 7000))
s.listen(4)
print("ready", flush=True)
c, _ = s.accept()
c.sendall(b"hi\n")
c.close()
s.close()'
CLIENT='import socket
s = socket.create_connection(("198.18.0.2", 7000), 5)
s.settimeout(5)
print(s.recv(16).decode().strip())'
# asks the helper named argv[1] for its sockets: "MESSAGE FDS", whether a
# message came and how many fds with it
ASK='import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
s.connect("\0" + sys.argv[1])
s.settimeout(5)
msg, anc, flags, addr = s.recvmsg(1024, socket.CMSG_SPACE(64 * 4))
fds = sum((len(d) // 4 for l, t, d in anc if t == socket.SCM_RIGHTS), 0)
print("yes" if msg else "no", fds)'
# a helper of the test's own, on the name argv[2]: hands out one socket
# described as vz0's queue with net_af_packet's default rings, that is
# such a socket (argv[1] "packet") or a UDP socket ("udp")
FAKE='import os, socket, struct, sys
SOL_PACKET, RX_RING, VERSION, TX_RING, LOSS, BYPASS = 263, 5, 10, 13, 14, 20
pg = os.sysconf("SC_PAGE_SIZE")
req = struct.pack("=IIII", pg, 512 // (pg // 2048), 2048, 512)
if sys.argv[1] == "packet":
    q = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
    for opt in (VERSION, LOSS, BYPASS):
        q.setsockopt(SOL_PACKET, opt, 1)
    q.setsockopt(SOL_PACKET, RX_RING, req)
    q.setsockopt(SOL_PACKET, TX_RING, req)
else:
    q = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
l = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
l.bind("\0" + sys.argv[2])
l.listen(4)
print("ready", flush=True)
c, _ = l.accept()
msg = struct.pack("=II16s", 0x7a707277, 1, b"vz0") + req + struct.pack("=iii", 1, 1, 1)
c.sendmsg([msg], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, struct.pack("i", q.fileno()))])
c.settimeout(10)
c.recv(1)'

# config NAME [port keys]: the pair's config with extra [port.0] keys
config() {
	local f=$TMP/$1.ini
	zpns_config "$f" "${3:-}"
	[ -n "${2:-}" ] && sed -i "/^mbufs = /a $2" "$f"
	echo "$f"
}

# helpers: the PIDs of zpnet-prewarm processes in the namespace
helpers() {
	local p
	for p in $(ip netns pids "$NS_Z"); do
		[ "$(cat /proc/$p/comm 2>/dev/null)" = zpnet-prewarm ] && echo "$p"
	done
}

# no_helper_within SECONDS: true once no helper is left
no_helper_within() {
	local i
	for ((i = 0; i < $1 * 10; i++)); do
		[ -z "$(helpers)" ] && return 0
		sleep 0.1
	done
	return 1
}

# serve TAG INI [WRAP...]: run SERVER under zpnet (after WRAP, e.g.
# strace), ask it once; sets GOT (its answer) and PREWARMED (the counter)
serve() {
	local tag=$1 ini=$2
	shift 2
	rm -f "$TMP/$tag.stats"
	zpns_bg_z "$TMP/$tag.log" env ZPNET_STATS="$TMP/$tag.stats" "$@" \
		timeout 60 "$ZPNET" run -c "$ini" -- python3 -c "$SERVER"
	local bg=$ZPNS_LAST
	GOT= PREWARMED=
	if ! zpns_wait_ready "$TMP/$tag.log" 30; then
		fail "$tag: the server did not start"
		kill -- -"$bg" 2>/dev/null
		return 1
	fi
	no_helper_within 3 || fail "$tag: a zpnet-prewarm helper is left after the stack started: $(helpers)"
	# the rest of the mbuf pool is placed a chunk at a time meanwhile
	[ -n "${POOL_WAIT:-}" ] && sleep "$POOL_WAIT"
	GOT=$(zpns_k timeout 10 python3 -c "$CLIENT" 2>&1)
	wait "$bg"
	PREWARMED=$(awk '$1 == "port0.queues_prewarmed" {print $2}' "$TMP/$tag.stats" 2>/dev/null)
	POOL_FREE=$(awk '$1 == "port0.pool_free" {print $2}' "$TMP/$tag.stats" 2>/dev/null)
	[ "$GOT" = hi ] || fail "$tag: the server answered '$GOT', not 'hi'"
}

# ring_pids, helper_pids STRACE_LOG: who set up rings; the helpers
ring_pids() { awk '/PACKET_RX_RING/ {print $1}' "$1" | sort -u; }
helper_pids() { awk '/PR_SET_NAME, "zpnet-prewarm"/ {print $1}' "$1" | sort -u; }

for mode in zpoline preload sud; do
	ini=$(config "$mode" "" "[hooks]
mode = $mode")
	POOL_WAIT=1 serve "$mode" "$ini" strace -f -qq -e trace=setsockopt,prctl -o "$TMP/$mode.strace"
	# placed while the port starts: 4 MiB of it; a second later, all
	if [ "$POOL_FREE" = 8191 ]; then
		ok "$mode: all 8191 mbufs of the pool placed and free at exit"
	else
		fail "$mode: port0.pool_free '$POOL_FREE' at exit, not 8191"
	fi
	if [ "$GOT" = hi ] && [ "$PREWARMED" = 1 ]; then
		ok "$mode: served, port0.queues_prewarmed 1"
	else
		fail "$mode: port0.queues_prewarmed '$PREWARMED', not 1"
	fi
	rings=$(ring_pids "$TMP/$mode.strace")
	hp=$(helper_pids "$TMP/$mode.strace")
	if [ -n "$hp" ] && [ "$rings" = "$hp" ]; then
		ok "$mode: the rings were set up by the helper (pid $hp) alone"
	else
		fail "$mode: rings set up by pids '$(echo $rings)', helper '$hp'"
	fi
done

ini=$(config big "devargs = framecnt=1024")
serve big "$ini" strace -f -qq -e trace=setsockopt -o "$TMP/big.strace"
n=$(grep -c 'PACKET_RX_RING, {tp_block_size=4096, tp_block_nr=512, tp_frame_size=2048, tp_frame_nr=1024}' "$TMP/big.strace")
if [ "$GOT" = hi ] && [ "$PREWARMED" = 1 ] && [ "$n" = 1 ]; then
	ok "framecnt=1024: the helper made the driver's 1,024-frame rings, taken over"
else
	fail "framecnt=1024: prewarmed '$PREWARMED', $n ring setups of 1,024 frames (want 1, 1)"
fi

ini=$(config off "prewarm = no")
serve off "$ini" strace -f -qq -e trace=setsockopt,prctl -o "$TMP/off.strace"
rings=$(ring_pids "$TMP/off.strace")
if [ "$GOT" = hi ] && [ "$PREWARMED" = 0 ] && [ -z "$(helper_pids "$TMP/off.strace")" ] &&
   [ "$(echo "$rings" | wc -w)" = 1 ]; then
	ok "prewarm = no: no helper, the driver's own ring setup, 0 prewarmed"
else
	fail "prewarm = no: prewarmed '$PREWARMED', helper '$(helper_pids "$TMP/off.strace")', ring pids '$(echo $rings)'"
fi

# A wrapper that drops to another user (setpriv, as in apps/wrappers,
# behind a shell that forks it): the server is PROGRAM's child, so it gets
# the root helper's sockets.
# Binaries, library and config where nobody can read them.
mkdir "$TMP/bin" "$TMP/lib"
cp "$ZPNET" "$TMP/bin/zpnet"
cp "$(dirname "$(readlink -f "$ZPNET")")/../bond/libzpnet.so" "$TMP/lib/"
ini=$(config asuser)
chmod a+r "$ini"
touch "$TMP/asuser.stats.new"
chmod 666 "$TMP/asuser.stats.new"
zpns_bg_z "$TMP/asuser.log" env ZPNET_STATS="$TMP/asuser.stats.new" timeout 60 \
	"$TMP/bin/zpnet" run -c "$ini" -- sh -c 'setpriv --reuid=65534 --regid=65534 \
	--clear-groups --inh-caps=+net_raw,+net_admin --ambient-caps=+net_raw,+net_admin \
	/usr/bin/python3 -c "$0"; true' "$SERVER"
bg=$ZPNS_LAST
if zpns_wait_ready "$TMP/asuser.log" 30; then
	got=$(zpns_k timeout 10 python3 -c "$CLIENT" 2>&1)
	wait "$bg"
	n=$(awk '$1 == "port0.queues_prewarmed" {print $2}' "$TMP/asuser.stats.new")
	if [ "$got" = hi ] && [ "$n" = 1 ]; then
		ok "a server dropped to nobody by setpriv: the root helper's sockets, served"
	else
		fail "a server dropped to nobody: answer '$got', prewarmed '$n' (want hi, 1)"
	fi
else
	fail "the server run as nobody did not start"
fi

# A server that forks as soon as its stack is up, its first process
# exiting (as a daemon does): the pool is placed whole before the fork,
# since only the process that made it may place chunks.
DAEMON='import os, socket
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("198.18.0.2", 7000))
s.listen(4)
pid = os.fork()
if pid > 0:
    print("ready", pid, flush=True)
    os._exit(0)
c, _ = s.accept()
c.sendall(b"hi\n")
c.close()'
ini=$(config daemon)
zpns_bg_z "$TMP/daemon.log" timeout 60 "$ZPNET" run -c "$ini" -- python3 -c "$DAEMON"
if zpns_wait_ready "$TMP/daemon.log" 30; then
	child=$(awk '$1 == "ready" {print $2}' "$TMP/daemon.log")
	sleep 1
	placed=$(zpns_z "$ZPNET" stats "$child" 2>&1 | grep -o 'port0.pool_placed [0-9]*')
	got=$(zpns_k timeout 10 python3 -c "$CLIENT" 2>&1)
	if [ "$placed" = "port0.pool_placed 8191" ] && [ "$got" = hi ]; then
		ok "a server that forks at once: its child serves, the pool whole (8191)"
	else
		fail "a server that forks at once: '$placed' (want 8191), answer '$got'"
	fi
else
	fail "the forking server did not start"
fi

# A PROGRAM that never opens a socket: the helper waits for it, and goes
# when it exits.
ini=$(config plain)
zpns_bg_z "$TMP/plain.log" timeout 60 "$ZPNET" run -c "$ini" -- \
	sh -c 'echo ready $ZPNET_PREWARM; sleep 2'
bg=$ZPNS_LAST
zpns_wait_ready "$TMP/plain.log" 20 || fail "the socket-less program did not start"
[ -n "$(helpers)" ] || fail "no helper while the socket-less program runs"
wait "$bg"
if no_helper_within 2; then
	ok "a program without sockets: the helper exits with it"
else
	fail "the helper outlived a program that never asked: $(helpers)"
fi

# Another user gets nothing and the helper stays; root takes them; the
# PROGRAM started after that makes its own rings.
mkfifo "$TMP/go"
zpns_bg_z "$TMP/steal.log" env ZPNET_STATS="$TMP/steal.stats" timeout 60 \
	"$ZPNET" run -c "$ini" -- sh -c \
	'echo ready $ZPNET_PREWARM; read x < "$0"; exec python3 -c "$1"' "$TMP/go" "$SERVER"
bg=$ZPNS_LAST
if zpns_wait_ready "$TMP/steal.log" 20; then
	name=$(awk '$1 == "ready" {print $2}' "$TMP/steal.log")
	got=$(zpns_z setpriv --reuid=65534 --regid=65534 --clear-groups \
		/usr/bin/python3 -c "$ASK" "$name" 2>&1)
	if [ "$got" = "no 0" ] && [ -n "$(helpers)" ]; then
		ok "another user asking gets no socket; the helper waits on"
	else
		fail "another user asking got '$got' (want 'no 0'), helpers '$(helpers)'"
	fi
	got=$(zpns_z python3 -c "$ASK" "$name" 2>&1)
	[ "$got" = "yes 1" ] || fail "root asking got '$got', not one socket (yes 1)"
	echo go > "$TMP/go"
	for ((i = 0; i < 100; i++)); do
		[ "$(grep -c '^ready' "$TMP/steal.log")" -ge 2 ] && break
		sleep 0.1
	done
	got=$(zpns_k timeout 10 python3 -c "$CLIENT" 2>&1)
	wait "$bg"
	n=$(awk '$1 == "port0.queues_prewarmed" {print $2}' "$TMP/steal.stats" 2>/dev/null)
	if [ "$got" = hi ] && [ "$n" = 0 ]; then
		ok "sockets taken by another: the stack made its own rings and served"
	else
		fail "after the sockets were taken: answer '$got', prewarmed '$n' (want hi, 0)"
	fi
else
	fail "the stealing test's program did not start"
fi

# by_hand TAG NAME WANT: SERVER with the library loaded by hand and
# ZPNET_PREWARM=NAME; it must serve, with WANT queues prewarmed.
LIB=$(cd "$(dirname "$ZPNET")/../bond" && pwd)/libzpnet.so
by_hand() {
	local tag=$1 name=$2 want=$3 got n bg
	ini=$(config "$tag")
	zpns_bg_z "$TMP/$tag.log" env ZPNET_STATS="$TMP/$tag.stats" LD_PRELOAD="$LIB" \
		ZPNET_CONFIG="$ini" ZPNET_PREWARM="$name" timeout 60 python3 -c "$SERVER"
	bg=$ZPNS_LAST
	if ! zpns_wait_ready "$TMP/$tag.log" 30; then
		fail "$tag: the server did not start"
		return
	fi
	got=$(zpns_k timeout 10 python3 -c "$CLIENT" 2>&1)
	wait "$bg"
	n=$(awk '$1 == "port0.queues_prewarmed" {print $2}' "$TMP/$tag.stats" 2>/dev/null)
	if [ "$got" = hi ] && [ "$n" = "$want" ]; then
		ok "$tag: served, $n prewarmed"
	else
		fail "$tag: answer '$got', prewarmed '$n' (want hi, $want)"
	fi
}

# Helpers that are not zpnet run's: a packet socket as described, from
# root, is taken (so the fake is a fair one); the same from another user
# (nobody, with CAP_NET_RAW), or a UDP socket from root, is refused, and
# the stack makes its own rings.
fake_case() {	# TAG WANT_PREWARMED FAKE_COMMAND... (the name is added)
	local tag=$1 want=$2 name=zpnet-prewarm-test-$1 fbg
	shift 2
	zpns_bg_z "$TMP/$tag-fake.log" timeout 60 "$@" "$name"
	fbg=$ZPNS_LAST
	if zpns_wait_ready "$TMP/$tag-fake.log" 10; then
		by_hand "$tag" "$name" "$want"
	else
		fail "$tag: the fake helper did not start"
	fi
	kill -- -"$fbg" 2>/dev/null
	wait "$fbg" 2>/dev/null
}
fake_case fake-root 1 python3 -c "$FAKE" packet
fake_case fake-nobody 0 setpriv --reuid=65534 --regid=65534 --clear-groups \
	--inh-caps=+net_raw --ambient-caps=+net_raw /usr/bin/python3 -c "$FAKE" packet
fake_case fake-udp 0 python3 -c "$FAKE" udp

# A stale name (no such helper): the stack starts as usual.
by_hand stale zpnet-prewarm-1-0000000000000000 0

exit $rc
