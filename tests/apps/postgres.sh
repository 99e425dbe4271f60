#!/bin/bash
# PostgreSQL 15 (Debian's, unmodified) under zpnet, run as user postgres:
# the postmaster forks a backend per connection, and each backend serves
# the connection its parent accepted (the stack is shared across fork).
# The server gets CAP_NET_RAW and CAP_NET_ADMIN as ambient capabilities
# (setpriv), as any non-root zpnet server does. From the kernel side:
# pgbench -i, then pgbench -c 4 -T 10 with no failed transaction; a
# query's answer checked.
# usage: postgres.sh ZPNET_BINARY
set -u
ZPNET=$1
source "$(dirname "$0")/common.sh"
PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[ -x "$PGBIN/postgres" ] || zpns_skip "PostgreSQL missing (scripts/setup.sh)"
command -v pgbench >/dev/null || zpns_skip "pgbench missing (scripts/setup.sh)"
id postgres >/dev/null 2>&1 || zpns_skip "no user postgres (scripts/setup.sh)"
PORT=5433

# The launcher, library and config where user postgres can read them.
PUB=$(mktemp -d /tmp/zpnet-apps-pg.XXXXXX)
trap 'apps_cleanup; rm -rf "$PUB"' EXIT
mkdir "$PUB/bin" "$PUB/lib" "$PUB/data" "$PUB/run"
cp "$ZPNET" "$PUB/bin/zpnet"
cp "$(dirname "$(readlink -f "$ZPNET")")/../bond/libzpnet.so" "$PUB/lib/"
cp "$ZCFG" "$PUB/zpnet.ini"
chmod -R a+rX "$PUB"
chown postgres: "$PUB/data" "$PUB/run"
chmod 700 "$PUB/data"

runuser -u postgres -- "$PGBIN/initdb" -D "$PUB/data" -A trust -U postgres \
	> "$TMP/initdb.log" 2>&1 || fail "initdb"
cat >> "$PUB/data/postgresql.conf" <<CONF
listen_addresses = '$Z_ADDR'
port = $PORT
unix_socket_directories = '$PUB/run'
max_connections = 20
shared_buffers = 32MB
fsync = off
CONF
echo "host all all 198.18.0.0/15 trust" >> "$PUB/data/pg_hba.conf"

zpns_bg_z "$TMP/postgres.log" timeout 300 "$PUB/bin/zpnet" run -c "$PUB/zpnet.ini" -- \
	setpriv --reuid=postgres --regid=postgres --init-groups \
	--inh-caps=+net_raw,+net_admin --ambient-caps=+net_raw,+net_admin \
	"$PGBIN/postgres" -D "$PUB/data"
PSQL=(timeout 30 psql -h $Z_ADDR -p $PORT -U postgres -d postgres -At)
for ((i = 0; i < 200; i++)); do
	[ "$(zpns_k "${PSQL[@]}" -c 'select 1' 2>/dev/null)" = 1 ] && break
	kill -0 "$ZPNS_LAST" 2>/dev/null || fail "postgres exited"
	sleep 0.1
done
[ "$(zpns_k "${PSQL[@]}" -c 'select 6 * 7')" = 42 ] || fail "no answer to a query"
[ "$(zpns_k "${PSQL[@]}" -c 'select current_user')" = postgres ] || fail "current_user"
owner=$(ps -o user= -p "$(head -1 "$PUB/data/postmaster.pid")")
[ "$owner" = postgres ] || fail "the postmaster runs as $owner, not postgres"
echo "ok postgres as user postgres answers over zpnet"

zpns_k timeout 120 pgbench -h $Z_ADDR -p $PORT -U postgres -i postgres \
	> "$TMP/init.log" 2>&1 || fail "pgbench -i"
echo "ok pgbench -i"
zpns_k timeout 120 pgbench -h $Z_ADDR -p $PORT -U postgres -c 4 -T 10 postgres \
	> "$TMP/bench.log" 2>&1 || fail "pgbench -c 4 -T 10 exited $?"
cat "$TMP/bench.log"
grep -q 'number of failed transactions: 0 ' "$TMP/bench.log" ||
	fail "pgbench: failed transactions"
tx=$(awk '/number of transactions actually processed/ {print $NF}' "$TMP/bench.log")
[ "${tx:-0}" -gt 0 ] || fail "pgbench processed no transaction"
echo "ok pgbench -c 4 -T 10: $tx transactions, none failed"

kill -INT "$(head -1 "$PUB/data/postmaster.pid")"
for ((i = 0; i < 100; i++)); do
	kill -0 "$ZPNS_LAST" 2>/dev/null || break
	sleep 0.1
done
kill -0 "$ZPNS_LAST" 2>/dev/null && fail "postgres did not stop"
echo PASS
