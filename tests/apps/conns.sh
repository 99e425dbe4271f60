#!/bin/bash
# Many concurrent TCP connections to one process, the same assertions on
# the kernel stack and then under zpnet (default config): redis-server
# (maxclients 18100) holds 18,000 connections from zpnet-connhold on the
# kernel side (this machine's RLIMIT_NOFILE is 20,000 and cannot be
# raised: no CAP_SYS_RESOURCE), each PINGed once (+PONG: a handshake
# whose last ACK met a full accept queue completes with the PING's data,
# on Linux and zpnet alike), counted by INFO clients; redis-benchmark GET
# -c 50 runs beside them without errors; after they close, none is left.
# Every segment to zpnet finds its connection (or that none has it: a
# SYN) by the connection hash (netstack/ns_demux.c), none by a walk over
# the 18,000: ZPNET_STATS at exit counts them ([stack] demux_check, as in
# every test, verifies each against lwIP's own walk).
# Then 100,002 connections to one server of 8 processes (zpnet-echofork:
# prefork workers sharing the parent's listening socket, each holding at
# most 19,000, as one process may here), from 6 client processes and
# addresses, each connection echoing a PING, on the kernel and on one
# zpnet stack; every segment to zpnet went by the hash (this part runs
# without demux_check: its walks would be 100,000 long). While they are
# held, the socket table lists every one of them, each with the worker
# and fd that holds it: `ss -tnp` on the kernel, `zpnet stats` on zpnet.
# usage: conns.sh ZPNET_BINARY CONNHOLD_BINARY
set -u
ZPNET=$1
CONNHOLD=$2
source "$(cd "$(dirname "$0")" && pwd)/common.sh"
N1=${CONNS_ONE:-18000}
N2=${CONNS_MANY:-100002}	# a multiple of the 6 clients
WORKERS=8
ECHOFORK=$(dirname "$CONNHOLD")/zpnet-echofork
SRC=(198.18.0.11 198.18.0.12 198.18.0.13 198.18.0.14 198.18.0.15 198.18.0.16)
for a in "${SRC[@]}"; do zpns_k ip addr add $a/24 dev vk0; done

clients() {	# connected_clients, as redis-server counts them
	zpns_k timeout 30 redis-cli -h $Z_ADDR info clients | tr -d '\r' |
		sed -n 's/^connected_clients://p'
}

# hold NAME N PROCS: N connections from PROCS connhold processes (one
# source address each) to port $PORT, PINGed once; until release()
hold() {
	local name=$1 n=$2 procs=$3 i h
	HOLDS=()
	rm -f "$TMP/ctl" "$TMP/$name".hold*
	mkfifo "$TMP/ctl"
	for ((i = 0; i < procs; i++)); do
		zpns_k timeout 600 "$CONNHOLD" -p 1 $Z_ADDR $PORT $((n / procs)) ${SRC[$i]} \
			< "$TMP/ctl" > "$TMP/$name.hold$i" 2>&1 &
		HOLDS+=($!)
	done
	exec 4> "$TMP/ctl"	# they hold until this closes
	for ((i = 0; i < 3000; i++)); do
		[ "$(cat "$TMP/$name".hold* | grep -c '^held')" = $procs ] && break
		for h in "${HOLDS[@]}"; do kill -0 $h 2>/dev/null || break 2; done
		sleep 0.1
	done
	cat "$TMP/$name".hold* | sed "s/^/$name: /"
	[ "$(cat "$TMP/$name".hold* | grep -c '^held')" = $procs ] ||
		fail "$name: $n connections not held"
}

release() {
	local h
	exec 4>&-
	for h in "${HOLDS[@]}"; do wait $h || fail "connhold failed"; done
}

one_process() {	# NAME CMD...
	local name=$1 n i
	shift
	PORT=6379
	zpns_bg_z "$TMP/$name.log" "$@" redis-server --save '' --appendonly no \
		--protected-mode no --port 6379 --maxclients $((N1 + 100))
	for ((i = 0; i < 100; i++)); do
		zpns_k redis-cli -h $Z_ADDR ping 2>/dev/null | grep -q PONG && break
		sleep 0.1
	done
	[ "$(zpns_k timeout 5 redis-cli -h $Z_ADDR ping)" = PONG ] || fail "$name: no PONG"
	hold "$name" $N1 1
	n=$(clients)
	echo "$name: redis-server counts $n clients"
	[ "${n:-0}" -gt $N1 ] || fail "$name: connected_clients ${n:-none}, want > $N1"
	zpns_k timeout 120 redis-benchmark -h $Z_ADDR -t get -c 50 -n 20000 -q \
		> "$TMP/$name.bench" 2>&1 || fail "$name: redis-benchmark failed"
	tr '\r' '\n' < "$TMP/$name.bench" | grep 'requests per second' | sed "s/^/$name: /"
	grep -qiE 'error|refused|reset' "$TMP/$name.bench" && fail "$name: redis-benchmark errors"
	release
	for ((i = 0; i < 300; i++)); do
		n=$(clients)
		[ "${n:-$N1}" -le 2 ] && break
		sleep 0.1
	done
	echo "$name: after the close, $n clients"
	[ "${n:-$N1}" -le 2 ] || fail "$name: redis-server still counts $n clients"
	kill -TERM -- "-$ZPNS_LAST" 2>/dev/null
	wait "$ZPNS_LAST" 2>/dev/null
}

# demux_counts NAME STATS MIN: the hash's counters in a ZPNET_STATS file
# (one stack: every process says the same), at least MIN segments by the
# hash, at most 1% of them walked, no disagreement
demux_counts() {
	local name=$1 stats=$2 min=$3 hashed walked errors
	grep -E '^tcp\.demux' "$stats" | sort -u | sed "s/^/$name: /"
	hashed=$(sed -n 's/^tcp.demux_hashed //p' "$stats" | sort -n | tail -1)
	walked=$(sed -n 's/^tcp.demux_walked //p' "$stats" | sort -n | tail -1)
	errors=$(sed -n 's/^tcp.demux_errors //p' "$stats" | sort -n | tail -1)
	[ "${hashed:-0}" -ge "$min" ] || fail "$name: ${hashed:-no} segments went by the connection hash, want >= $min"
	[ "${walked:-x}" -le $((hashed / 100)) ] || fail "$name: ${walked:-?} segments needed a walk, want <= 1% of $hashed"
	[ "${errors:-x}" = 0 ] || fail "$name: the connection hash disagreed ${errors:-?} times with lwIP"
}

# listed NAME N: the ESTAB connections on port $PORT as the socket table
# shows them (ss on the kernel, zpnet stats on zpnet): N rows, each with
# the process and fd that holds it
listed() {
	local name=$1 n=$2 t0 ms rows owned
	t0=$(date +%s%N)
	if [ "${name#zpnet}" = "$name" ]; then
		zpns_z ss -Htnp state established "( sport = :$PORT )" > "$TMP/$name.table" ||
			fail "$name: ss failed"
	else
		zpns_z timeout 120 "$ZPNET" stats -t -s ESTAB -p $PORT > "$TMP/$name.table" ||
			fail "$name: zpnet stats failed"
	fi
	ms=$((($(date +%s%N) - t0) / 1000000))
	if [ "${name#zpnet}" = "$name" ]; then
		rows=$(grep -c . "$TMP/$name.table")	# -H: no header
	else
		rows=$(grep -c '^tcp *ESTAB ' "$TMP/$name.table")
	fi
	owned=$(grep -c 'users:((".*",pid=[0-9]*,fd=[0-9]*))' "$TMP/$name.table")
	echo "$name: the socket table lists $rows connections on port $PORT, $owned with their process and fd ($ms ms)"
	[ "$rows" = "$n" ] || fail "$name: the socket table lists $rows connections, want $n"
	[ "$owned" = "$n" ] || fail "$name: $owned of $n listed connections name their process and fd"
}

many_processes() {	# NAME CMD...
	local name=$1 most i
	shift
	PORT=7000
	zpns_bg_z "$TMP/$name.log" "$@" "$ECHOFORK" $Z_ADDR $PORT $WORKERS 19000
	for ((i = 0; i < 300; i++)); do
		grep -q '^ready' "$TMP/$name.log" && break
		sleep 0.1
	done
	grep -q '^ready' "$TMP/$name.log" || fail "$name: echofork did not start"
	hold "$name" $N2 ${#SRC[@]}
	listed "$name" $((N2 / ${#SRC[@]} * ${#SRC[@]}))
	release
	kill -TERM -- "-$ZPNS_LAST" 2>/dev/null
	wait "$ZPNS_LAST" || fail "$name: echofork failed"
	most=$(awk '/connections at most/ { n += $3 } END { print n + 0 }' "$TMP/$name.log")
	echo "$name: $WORKERS workers held $most connections at their most"
	# all $N2 were up and echoing at once (held); each worker's peak
	# adds up to them
	[ "$most" -ge $((N2 / ${#SRC[@]} * ${#SRC[@]})) ] || fail "$name: the workers held $most, want $N2"
}

zpns_z ip addr add $Z_ADDR/24 dev vz0
one_process kernel
many_processes kernel-many
zpns_z ip addr del $Z_ADDR/24 dev vz0
zpns_k ip neigh flush dev vk0
one_process zpnet env ZPNET_STATS="$TMP/zpnet.stats" "$ZPNET" run -c "$ZCFG" --
demux_counts zpnet "$TMP/zpnet.stats" $((3 * N1))
ZPNS_DEMUX_CHECK=no zpns_config "$TMP/many.ini" "[hooks]
mode = $MODE"
many_processes zpnet-many env ZPNET_STATS="$TMP/many.stats" "$ZPNET" run -c "$TMP/many.ini" --
demux_counts zpnet-many "$TMP/many.stats" $((3 * N2))
echo "ok $N1 connections to one redis-server, PINGed and counted, redis-benchmark beside them, kernel and zpnet"
echo "ok $N2 connections to one server of $WORKERS processes, each echoing, kernel and zpnet"
echo PASS
