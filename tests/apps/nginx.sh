#!/bin/bash
# nginx (Debian's nginx-light, unmodified) with its default process model
# under zpnet: a master and two workers that accept on the listening socket
# the master made (the stack is shared across fork). From the kernel side:
#   200 GETs of a 1 MiB file, each with the right sha256;
#   wrk -t1 -c50 -d5s: no socket errors, both workers served (their pids in
#   the access log);
#   the same with `listen ... reuseport` (one socket per worker);
#   nginx -s reload during wrk: no connect errors or timeouts, new workers,
#   GETs after it succeed;
#   SIGKILL of 12 workers in turn during wrk (some die inside the stack):
#   the master starts new ones, GETs of 1 MiB after it succeed;
#   daemon on (the master daemonizes; zpnet run returns): 50 GETs.
# usage: nginx.sh ZPNET_BINARY
set -u
ZPNET=$1
source "$(dirname "$0")/common.sh"
command -v nginx >/dev/null || zpns_skip "nginx missing (scripts/setup.sh)"
command -v wrk >/dev/null || zpns_skip "wrk missing (scripts/setup.sh)"
PORT=8080
KILLS=12
URL=http://$Z_ADDR:$PORT
WWW=$TMP/www
mkdir -p "$WWW"
chmod 755 "$TMP" "$WWW"
head -c 1048576 /dev/urandom > "$WWW/big"
head -c 1024 /dev/zero | tr '\0' x > "$WWW/index.html"
chmod 644 "$WWW"/*
BIG_SHA=$(sha256sum < "$WWW/big")

# conf NAME DAEMON LISTEN_OPTS: a config file for one run
conf() {
	cat > "$TMP/$1.conf" <<EOF
master_process on;
worker_processes 2;
daemon $2;
pid $TMP/$1.pid;
error_log $TMP/$1.error.log info;
events { worker_connections 1024; }
http {
	# Debian's defaults: file bodies by sendfile, corked (TCP_CORK)
	sendfile on;
	tcp_nopush on;
	log_format withpid '\$pid \$status \$body_bytes_sent';
	access_log $TMP/$1.access.log withpid;
	server {
		listen $Z_ADDR:$PORT $3;
		root $WWW;
	}
}
EOF
}

master_pid() { cat "$TMP/$1.pid" 2>/dev/null; }
workers() { ps -o pid= --ppid "$(master_pid "$1")" 2>/dev/null | tr -d ' ' | sort; }

wait_http() {
	local i
	for ((i = 0; i < 100; i++)); do
		zpns_k timeout 2 curl -sf -o /dev/null "$URL/" && return 0
		sleep 0.1
	done
	return 1
}

# gets N: N GETs of the 1 MiB file, each checked
gets() {
	local bad
	bad=$(zpns_k timeout 120 bash -c '
		bad=0
		for ((i = 0; i < '"$1"'; i++)); do
			sum=$(curl -sS --fail --max-time 10 -w "%{stderr}GET %{local_port} -> %{http_code} %{size_download} B %{time_total} s\n" '"$URL"'/big 2>>'"$TMP"'/gets.log | sha256sum)
			[ "$sum" = "'"$BIG_SHA"'" ] || bad=$((bad + 1))
		done
		echo $bad')
	[ "$bad" = 0 ] || { grep -v " -> 200 1048576 B" "$TMP/gets.log" >&2; fail "$bad of $1 GETs of 1 MiB failed or differed"; }
	rm -f "$TMP/gets.log"
}

# bench NAME: wrk for SECONDS; the summary in $TMP/NAME.wrk
bench() {
	zpns_k timeout 60 wrk -t1 -c50 -d"$2"s "$URL/" > "$TMP/$1.wrk" 2>&1
}
errors_of() { grep 'Socket errors' "$TMP/$1.wrk"; }
requests_of() { awk '/requests in/ {n = $1} END {print n + 0}' "$TMP/$1.wrk"; }

stop() {
	local m
	m=$(master_pid "$1")
	[ -n "$m" ] && kill -QUIT "$m" 2>/dev/null
	for ((i = 0; i < 100; i++)); do
		kill -0 "$m" 2>/dev/null || return 0
		sleep 0.1
	done
	kill -KILL "$m" 2>/dev/null
	fail "$1: nginx master did not quit"
}

# zpnet stats of master and workers: one stack, its three processes, and
# the listening socket held by each of them (an fd in each)
stats_shared() {
	local m w
	m=$(master_pid shared)
	w=$(workers shared | tr '\n' ' ')
	"$ZPNET" stats --json --listen $m $w > "$TMP/stats.json" 2> "$TMP/stats.err" ||
		fail "zpnet stats $m $w: $(cat "$TMP/stats.err")"
	python3 - "$TMP/stats.json" $m $w <<'EOF' || fail "zpnet stats of master and workers"
import json, sys
snap = json.loads(open(sys.argv[1]).read())
want = sorted(int(p) for p in sys.argv[2:])
assert len(want) == 3, want
assert len(snap["stacks"]) == 1, "%d stacks for one" % len(snap["stacks"])
st = snap["stacks"][0]
assert sorted(p["pid"] for p in st["processes"]) == want, st["processes"]
lst = [s for s in st["sockets"] if s["state"] == "LISTEN"]
assert lst, st["sockets"]
for s in lst:
    holders = sorted(p["pid"] for p in s["processes"] if p["fds"])
    assert holders == want, "listener %s held by %s" % (s["local"], holders)
print("ok zpnet stats: one stack, processes %s, each with an fd for the listener" % want)
EOF
}

# master and two workers on one listening socket, then with reuseport
for variant in shared reuseport; do
	opts=
	[ $variant = reuseport ] && opts=reuseport
	conf $variant off "$opts"
	zpns_bg_z "$TMP/$variant.log" timeout 300 "$ZPNET" run -c "$ZCFG" -- \
		nginx -c "$TMP/$variant.conf"
	wait_http || fail "$variant: nginx does not answer"
	gets 200
	echo "ok $variant: 200 GETs of 1 MiB, sha256 equal"
	[ $variant = shared ] && stats_shared
	bench $variant 5
	cat "$TMP/$variant.wrk"
	[ "$(requests_of $variant)" -gt 0 ] || fail "$variant: wrk made no request"
	errors_of $variant && fail "$variant: wrk saw socket errors"
	served=$(awk '$2 == 200 {print $1}' "$TMP/$variant.access.log" | sort -u | wc -l)
	[ "$served" -ge 2 ] || fail "$variant: $served worker(s) served, not 2"
	echo "ok $variant: wrk -c50 without socket errors, both workers served"
	if [ $variant = shared ]; then
		stop $variant
		continue
	fi
	# reload under load: the master forks new workers, the old ones finish
	old=$(workers $variant)
	bench reload 6 &
	wrk_pid=$!
	sleep 2
	zpns_z nginx -c "$TMP/$variant.conf" -s reload || fail "nginx -s reload"
	wait $wrk_pid
	cat "$TMP/reload.wrk"
	grep -qE 'Socket errors: connect [1-9]|timeout [1-9]' "$TMP/reload.wrk" &&
		fail "reload: connect errors or timeouts"
	[ "$(requests_of reload)" -gt 0 ] || fail "reload: wrk made no request"
	for ((i = 0; i < 100; i++)); do
		new=$(workers $variant)
		[ "$(echo "$new" | wc -l)" = 2 ] && [ -z "$(comm -12 <(echo "$old") <(echo "$new"))" ] && break
		sleep 0.1
	done
	[ -z "$(comm -12 <(echo "$old") <(echo "$new"))" ] || fail "reload: old workers still there"
	gets 20
	echo "ok reload: no connect errors or timeouts, new workers serve"
	# SIGKILL of workers under load, one every 250 ms: some die inside
	# the stack (in a driver's burst, holding the lock)
	victims=
	bench kill 6 &
	wrk_pid=$!
	sleep 1
	for ((k = 0; k < KILLS; k++)); do
		victim=$(workers $variant | head -1)
		[ -n "$victim" ] && kill -KILL "$victim" && victims="$victims $victim"
		sleep 0.25
	done
	wait $wrk_pid
	cat "$TMP/kill.wrk"
	[ "$(requests_of kill)" -gt 0 ] || fail "kill: wrk made no request"
	alive() { workers $variant | grep -vxF -f <(printf '%s\n' $victims) | wc -l; }
	for ((i = 0; i < 100; i++)); do
		[ "$(alive)" = 2 ] && break
		sleep 0.1
	done
	[ "$(alive)" = 2 ] || fail "kill: the master did not replace the workers"
	gets 20
	echo "ok kill: $KILLS workers killed, new workers, GETs after it succeed"
	stop $variant
done

# daemon on: zpnet run returns once nginx has daemonized; its listener is
# `deferred` (TCP_DEFER_ACCEPT), which nginx reports in its log if refused
conf daemon on deferred
zpns_z timeout 30 "$ZPNET" run -c "$ZCFG" -- nginx -c "$TMP/daemon.conf" \
	> "$TMP/daemon.log" 2>&1 || fail "daemon: zpnet run nginx exited $?"
ZPNS_PIDS+=("$(master_pid daemon)")
wait_http || fail "daemon: nginx does not answer"
gets 50
grep -q TCP_DEFER_ACCEPT "$TMP/daemon.error.log" &&
	fail "daemon: nginx could not set TCP_DEFER_ACCEPT: $(grep TCP_DEFER_ACCEPT "$TMP/daemon.error.log")"
echo "ok daemon on, listen deferred: 50 GETs of 1 MiB"
stop daemon
echo PASS
