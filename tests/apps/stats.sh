#!/bin/bash
# zpnet stats on a running redis-server (Debian's, unmodified) under zpnet,
# while redis-benchmark (kernel side) keeps 20 connections busy:
#   the socket table lists the listening socket and exactly the
#   benchmark's 20 connections, ESTAB, each with bytes both ways and
#   redis-server's pid and fd (users:(...)), from another network
#   namespace (root) and filtered ss-style;
#   --json parses, and its counters have the names ZPNET_STATS writes at
#   exit, never above the exit values, and within what arrived in between
#   (an idle server: the SHUTDOWN exchange);
#   --watch 1 --count 3 prints three snapshots over >= 2 s, with rates;
#   the idle server does not spin (its service thread naps, answering);
#   UDP sockets (unconnected with datagrams waiting, connected) as the
#   kernel's ss shows them;
#   a user other than root and the server's own gets "permission denied"
#   and no data; a PID without a stack is an error that says so.
# usage: stats.sh ZPNET_BINARY
set -u
ZPNET=$1
source "$(dirname "$0")/common.sh"
command -v redis-server >/dev/null || zpns_skip "redis-server missing (scripts/setup.sh)"
command -v setpriv >/dev/null || zpns_skip "setpriv missing (util-linux)"
CLIENTS=20

ZPNET_STATS=$TMP/exit.stats zpns_bg_z "$TMP/redis.log" timeout 300 \
	"$ZPNET" run -c "$ZCFG" -- \
	redis-server --save '' --appendonly no --protected-mode no --port 6379
for ((i = 0; i < 100; i++)); do
	zpns_k redis-cli -h $Z_ADDR ping 2>/dev/null | grep -q PONG && break
	kill -0 "$ZPNS_LAST" 2>/dev/null || fail "redis-server exited"
	sleep 0.1
done
PID=$(zpns_k redis-cli -h $Z_ADDR info server | tr -d '\r' | sed -n 's/^process_id://p')
[ -n "$PID" ] || fail "no redis-server pid"
echo "redis-server: pid $PID"

# Idle, and after being asked once, the server sleeps: its service thread
# answers `zpnet stats` from its nap, it does not spin (< 10% of a core
# over 3 s, all threads; a spinning thread takes all of one).
"$ZPNET" stats "$PID" > /dev/null || fail "zpnet stats of the idle server failed"
HZ=$(getconf CLK_TCK)
ticks() { awk '{ print $14 + $15 }' "/proc/$PID/stat"; }
t0=$(ticks)
sleep 3
t1=$(ticks)
(( (t1 - t0) * 100 < 10 * 3 * HZ )) ||
	fail "idle server took $((t1 - t0)) ticks of CPU in 3 s (HZ $HZ): something spins"
echo "ok idle: $((t1 - t0)) ticks of CPU in 3 s after a snapshot"

# The benchmark runs until killed (bounded: -n and timeout).
setsid ip netns exec "$NS_K" timeout 60 redis-benchmark -h $Z_ADDR -c $CLIENTS \
	-n 100000000 -t get -q > "$TMP/bench.log" 2>&1 &
BENCH=$!
ZPNS_PIDS+=("$BENCH")

# Until the benchmark's connections are all up (from the root namespace:
# zpnet stats enters the server's).
for ((i = 0; i < 100; i++)); do
	n=$("$ZPNET" stats --tcp state established "$PID" 2>/dev/null | grep -c '^tcp ')
	[ "$n" = $CLIENTS ] && break
	sleep 0.1
done
"$ZPNET" stats "$PID" > "$TMP/table" 2> "$TMP/table.err" || {
	cat "$TMP/table.err"; fail "zpnet stats $PID failed"; }
head -40 "$TMP/table"
est=$(grep -c '^tcp  *ESTAB ' "$TMP/table")
[ "$est" = $CLIENTS ] || fail "$est ESTAB sockets listed, $CLIENTS benchmark connections"
grep -qE "^tcp  *LISTEN .*:6379 .*users:\(\(\"redis-server\",pid=$PID,fd=[0-9]+\)" "$TMP/table" ||
	fail "no listening socket on 6379 owned by redis-server"
# every connection: redis-server's fd, bytes both ways
owned=$(grep -E "^tcp  *ESTAB .*users:\(\(\"redis-server\",pid=$PID,fd=[0-9]+\)" "$TMP/table" | wc -l)
[ "$owned" = $CLIENTS ] || fail "$owned of $CLIENTS connections name redis-server's pid and fd"
moving=$(grep -A1 '^tcp  *ESTAB ' "$TMP/table" | grep -E 'bytes_written:[1-9][0-9]* bytes_read:[1-9]' | wc -l)
[ "$moving" = $CLIENTS ] || fail "$moving of $CLIENTS connections show bytes sent and received"
grep -q "process.*$PID(redis-server)" "$TMP/table" || fail "the stack's process list lacks $PID"
echo "ok table: LISTEN and $CLIENTS ESTAB, owners and byte counts"

# filters: --listen shows the listeners only (redis binds * and ::);
# port 6379 matches them and every connection
L=$(grep -c '^tcp  *LISTEN ' "$TMP/table")
n=$("$ZPNET" stats --listen "$PID" | grep -c '^tcp ')
[ "$n" = "$L" ] || fail "--listen: $n sockets, the table has $L listening"
n=$("$ZPNET" stats port 6379 "$PID" | grep -c '^tcp ')
[ "$n" = $((CLIENTS + L)) ] || fail "port 6379: $n sockets, not $L listening and $CLIENTS connections"
[ "$("$ZPNET" stats --udp "$PID" | grep -c '^tcp ')" = 0 ] || fail "--udp lists TCP"
# no PID: every zpnet process this user may see, the server among them
"$ZPNET" stats --counters > "$TMP/all" || fail "zpnet stats (no PID) failed"
grep -q "$PID(redis-server)" "$TMP/all" || fail "zpnet stats without PID does not find $PID"
echo "ok filters (--listen, port, --udp) and discovery without PID"

# --watch: three snapshots a second apart, with rates
t0=$(date +%s%N)
"$ZPNET" stats --watch 1 --count 3 --counters "$PID" > "$TMP/watch" || fail "--watch failed"
t1=$(date +%s%N)
[ "$(grep -c '^--- snapshot' "$TMP/watch")" = 3 ] || fail "--watch 1 --count 3: not 3 snapshots"
(( (t1 - t0) / 1000000 >= 1900 )) || fail "--watch 1 --count 3 took $(( (t1 - t0) / 1000000 )) ms"
grep -qE 'port0.rx_pkts [0-9]+ \([0-9]+/s\)' "$TMP/watch" || fail "--watch shows no rx rate"
echo "ok --watch 1 --count 3: 3 snapshots in $(( (t1 - t0) / 1000000 )) ms, with rates"

# another user: refused, no data (in the server's namespace, so that
# only the server's own check stands in the way)
zpns_z setpriv --reuid=65534 --regid=65534 --clear-groups \
	"$ZPNET" stats "$PID" > "$TMP/nobody.out" 2> "$TMP/nobody.err"
rc=$?
[ $rc = 1 ] || fail "another user: exit $rc, not 1"
grep -q 'permission denied' "$TMP/nobody.err" || fail "another user: no 'permission denied'"
[ -s "$TMP/nobody.out" ] && fail "another user got data: $(head -3 "$TMP/nobody.out")"
echo "ok another user: $(cat "$TMP/nobody.err")"
# a process without a stack
"$ZPNET" stats $$ > /dev/null 2> "$TMP/none.err" && fail "stats of a process without a stack succeeded"
grep -q 'no zpnet stack' "$TMP/none.err" || fail "no stack: $(cat "$TMP/none.err")"
echo "ok no stack: $(cat "$TMP/none.err")"

kill -TERM -- -"$BENCH" 2>/dev/null
wait "$BENCH" 2>/dev/null
# idle now (the benchmark's connections close): the JSON snapshot, then exit
for ((i = 0; i < 50; i++)); do
	[ "$("$ZPNET" stats --tcp state established "$PID" | grep -c '^tcp ')" = 0 ] && break
	sleep 0.1
done
sleep 0.5
"$ZPNET" stats --json "$PID" > "$TMP/snap.json" || fail "--json failed"
zpns_k timeout 10 redis-cli -h $Z_ADDR shutdown nosave > /dev/null 2>&1
for ((i = 0; i < 100; i++)); do
	kill -0 "$ZPNS_LAST" 2>/dev/null || break
	sleep 0.1
done
kill -0 "$ZPNS_LAST" 2>/dev/null && fail "redis-server did not exit"
grep -q "^pid $PID" "$TMP/exit.stats" || fail "no ZPNET_STATS at exit"
python3 - "$TMP/snap.json" "$TMP/exit.stats" "$PID" <<'EOF' || fail "--json against ZPNET_STATS"
import json, sys
snap = json.loads(open(sys.argv[1]).read())
exitc = {}
for line in open(sys.argv[2]):
    k, _, v = line.strip().partition(" ")
    if k != "pid" and v.isdigit():
        exitc[k] = int(v)
stacks = snap["stacks"]
assert len(stacks) == 1, "stacks: %d" % len(stacks)
st = stacks[0]
assert any(p["pid"] == int(sys.argv[3]) for p in st["processes"]), st["processes"]
c = st["counters"]
missing = sorted(set(exitc) - set(c))
assert not missing, "in ZPNET_STATS, not in --json: %s" % missing
assert sorted(set(c) - set(exitc)) == [], "in --json only: %s" % sorted(set(c) - set(exitc))
# the SHUTDOWN exchange in between: a handful of frames each way
for k in ("port0.rx_pkts", "port0.tx_pkts", "tcp.recv", "stack.sockets_created"):
    assert c[k] <= exitc[k], "%s: %d in --json, %d at exit" % (k, c[k], exitc[k])
    assert exitc[k] - c[k] <= 40, "%s: %d in --json, %d at exit" % (k, c[k], exitc[k])
assert c["port0.rx_pkts"] > 1000, "rx_pkts %d after the benchmark" % c["port0.rx_pkts"]
lst = [s for s in st["sockets"] if s["state"] == "LISTEN"]
assert lst and all(s["local"].endswith(":6379") for s in lst), st["sockets"]
assert lst[0]["processes"][0]["pid"] == int(sys.argv[3]) and lst[0]["processes"][0]["fds"], lst[0]
print("ok --json: %d counters as ZPNET_STATS names them; rx_pkts %d then %d at exit"
      % (len(c), c["port0.rx_pkts"], exitc["port0.rx_pkts"]))
EOF
# Connections no application socket refers to, against the kernel's ss:
# a server that accepts one connection and closes it first (TIME-WAIT on
# its side), then accepts no more (two connections wait for accept(),
# each with 5 bytes received). The same rows (state, Recv-Q, peer) on
# both stacks.
# py_up VARIANT NAME SCRIPT: python3 SCRIPT on the kernel (the zpnet end's
# address on vz0 for the while) or under zpnet, until it says "ready";
# sets SRV (its process group) and SPID (python's pid). py_down VARIANT.
py_up() {
	if [ "$1" = kernel ]; then
		zpns_z ip addr add $Z_ADDR/24 dev vz0
		zpns_bg_z "$TMP/$2-$1.log" timeout 60 python3 "$3"
	else
		zpns_bg_z "$TMP/$2-$1.log" timeout 60 "$ZPNET" run -c "$ZCFG" -- python3 "$3"
	fi
	SRV=$ZPNS_LAST
	zpns_wait_ready "$TMP/$2-$1.log" 30 || fail "$1: $2 server did not start"
	SPID=$(pgrep -P "$SRV" -x python3 || echo "$SRV")
}
py_down() {
	kill -TERM -- -"$SRV" 2>/dev/null
	wait "$SRV" 2>/dev/null
	[ "$1" = kernel ] && zpns_z ip addr del $Z_ADDR/24 dev vz0
}

PY=$TMP/lazy.py
cat > "$PY" <<'PYEOF'
import socket, sys, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", 7000))
s.listen(8)
print("ready", flush=True)
c, _ = s.accept()
c.close()
time.sleep(30)
PYEOF
client='import socket, sys, time
cs = []
for i in range(int(sys.argv[1])):
    c = socket.create_connection(("'$Z_ADDR'", 7000))
    if i == 0:
        c.recv(1)	# the server closes first: TIME-WAIT is its
        c.close()
        continue
    c.sendall(b"hello")
    cs.append(c)
    time.sleep(0.2)
print("connected", flush=True)
time.sleep(30)'
# rows: "STATE RECVQ" of port 7000's connections, sorted
rows_ss() { zpns_z ss -tanH "sport = :7000" | awk '$1 != "LISTEN" { print $1, $2 }' | sort; }
rows_zpnet() { "$ZPNET" stats --tcp port 7000 "$1" | awk '$1 == "tcp" && $2 != "LISTEN" { print $2, $3 }' | sort; }
lazy() {	# VARIANT: the server, then the three clients; sets ROWS
	local var=$1
	py_up "$var" lazy "$PY"
	setsid ip netns exec "$NS_K" timeout 40 python3 -c "$client" 3 > "$TMP/client-$var.log" 2>&1 &
	ZPNS_PIDS+=("$!")
	for ((i = 0; i < 100; i++)); do
		grep -q connected "$TMP/client-$var.log" && break
		sleep 0.1
	done
	sleep 0.5
	if [ "$var" = kernel ]; then
		ROWS=$(rows_ss)
	else
		ROWS=$(rows_zpnet "$SPID")
		"$ZPNET" stats --tcp port 7000 "$SPID" | grep '^tcp'
	fi
	py_down "$var"
	echo "$var: $(echo "$ROWS" | tr '\n' ';')"
}
lazy kernel
K_ROWS=$ROWS
lazy zpnet
[ "$K_ROWS" = "$ROWS" ] || fail "connections without a socket: kernel '$K_ROWS', zpnet '$ROWS'"
echo "$ROWS" | grep -q '^TIME-WAIT 0$' || fail "no TIME-WAIT row: '$ROWS'"
[ "$(echo "$ROWS" | grep -c '^ESTAB 5$')" = 2 ] || fail "not 2 connections waiting for accept() with 5 bytes: '$ROWS'"
echo "ok connections without a socket, as ss shows them on the kernel: $(echo "$ROWS" | tr '\n' ';')"

# UDP: a bound socket that reads nothing holds what arrived (Recv-Q, the
# bytes of 3 datagrams of 100), a connected one is ESTAB, as ss says.
UPY=$TMP/udp.py
cat > "$UPY" <<'PYEOF'
import socket, time
a = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
a.bind(("0.0.0.0", 7001))
b = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
b.bind(("0.0.0.0", 7002))
b.connect(("198.18.0.1", 9))
print("ready", flush=True)
time.sleep(30)
PYEOF
urows_ss() { zpns_z ss -uanH | awk '$4 ~ /:700[12]$/ { print $1, $2, $4 }' | sort; }
urows_zpnet() { "$ZPNET" stats --udp "$1" | awk '$1 == "udp" { print $2, $3, $5 }' | sort; }
udp() {	# VARIANT: sets ROWS
	local var=$1
	py_up "$var" udp "$UPY"
	zpns_k python3 -c '
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for i in range(3):
    s.sendto(b"u" * 100, ("'$Z_ADDR'", 7001))'
	sleep 0.5
	if [ "$var" = kernel ]; then
		ROWS=$(urows_ss)
	else
		ROWS=$(urows_zpnet "$SPID")
	fi
	py_down "$var"
	echo "$var: $(echo "$ROWS" | tr '\n' ';')"
}
udp kernel
K_ROWS=$ROWS
udp zpnet
# state and local address as the kernel's; Recv-Q: ss counts the kernel's
# buffer memory for UDP, zpnet the bytes waiting (3 x 100)
[ "$(echo "$K_ROWS" | awk '{ print $1, $3 }')" = "$(echo "$ROWS" | awk '{ print $1, $3 }')" ] ||
	fail "UDP sockets: kernel '$K_ROWS', zpnet '$ROWS'"
echo "$ROWS" | grep -q '^UNCONN 300 0.0.0.0:7001$' || fail "no UNCONN row with 300 bytes: '$ROWS'"
echo "ok UDP sockets: $(echo "$ROWS" | tr '\n' ';') (the kernel's ss: $(echo "$K_ROWS" | tr '\n' ';'))"
echo "PASS"
