#!/bin/bash
# Go under zpnet ([hooks] mode from ZPNET_HOOKS_MODE, zpoline by default; the
# suite runs zpoline and sud): programs built here with Debian's golang-go,
# dynamically linked (net uses cgo). Go makes its own `syscall` instructions
# from goroutine stacks that may have only a few hundred bytes left; the
# hook's C path must run on its own stack.
#  - rawsys: 200 goroutines, each 200 times at a varying depth: read of
#    /dev/zero, write to /dev/null, a UDP datagram to the kernel side
#    (a stack socket under zpnet), while the GC moves stacks. Every result
#    right, on the kernel and under zpnet; the kernel side gets datagrams.
#  - httpd (net/http): 4 parallel curl clients x 500 keep-alive requests,
#    once on the kernel, then 5 rounds under zpnet; every answer right and
#    the server alive after each round.
#  - zpoline: Go's own code is rewritten at start from its symbol table
#    (gc writes no .eh_frame_hdr; gcc, for cgo's external linking, one
#    for the C objects only, merged in), or when stripped from the
#    runtime's table of functions (.gopclntab), with SUD off; rawsys
#    linked both ways, each stripped and not, stripped finding the same
#    function starts.
#  - httpd built with CGO_ENABLED=0 (statically linked): zpnet run refuses
#    it (exit 1, the reason, it never ran); with --allow-static it runs
#    on the kernel stack and answers.
# usage: go.sh ZPNET_BINARY
set -u
ZPNET=$1
source "$(dirname "$0")/common.sh"
command -v go >/dev/null || fail "go is missing: scripts/setup.sh installs golang-go"

export GOCACHE=$TMP/gocache GOPATH=$TMP/gopath GOPROXY=off GOFLAGS=-mod=mod
for p in httpd rawsys; do
	mkdir -p "$TMP/$p"
	cp "$HERE/go/$p.go" "$TMP/$p/main.go"
	printf 'module %s\ngo 1.19\n' "$p" > "$TMP/$p/go.mod"
	(cd "$TMP/$p" && go build -o "$TMP/$p/$p" .) > "$TMP/build-$p.log" 2>&1 ||
		fail "go build $p failed: $(tail -5 "$TMP/build-$p.log")"
	file -L "$TMP/$p/$p" | grep -q 'dynamically linked' ||
		fail "$p is not dynamically linked: $(file -L "$TMP/$p/$p")"
done
# rawsys linked by gcc (cgo's external linking): an .eh_frame_hdr for the
# C objects only
(cd "$TMP/rawsys" && go build -ldflags=-linkmode=external -o "$TMP/rawsys/rawsys-ext" .) \
	> "$TMP/build-ext.log" 2>&1 ||
	fail "go build rawsys-ext failed: $(tail -5 "$TMP/build-ext.log")"
# both stripped (-s -w, as release builds are): no symbols, only the
# runtime's table of functions (.gopclntab)
for b in rawsys rawsys-ext; do
	mode=
	[ $b = rawsys-ext ] && mode=-linkmode=external
	(cd "$TMP/rawsys" && go build -ldflags="-s -w $mode" -o "$TMP/rawsys/$b-stripped" .) \
		> "$TMP/build-$b-stripped.log" 2>&1 ||
		fail "go build $b-stripped failed: $(tail -5 "$TMP/build-$b-stripped.log")"
	file -L "$TMP/rawsys/$b-stripped" | grep -q ', stripped' ||
		fail "$b-stripped is not stripped: $(file -L "$TMP/rawsys/$b-stripped")"
done
# the same httpd without cgo: statically linked
(cd "$TMP/httpd" && CGO_ENABLED=0 go build -o "$TMP/httpd/httpd-static" .) \
	> "$TMP/build-static.log" 2>&1 ||
	fail "go build httpd-static failed: $(tail -5 "$TMP/build-static.log")"
file -L "$TMP/httpd/httpd-static" | grep -q 'statically linked' ||
	fail "httpd-static is not statically linked: $(file -L "$TMP/httpd/httpd-static")"

# ---- rawsys ----
UPORT=7400
udp_sink_start $UPORT "$TMP/sink.log"
want="ok 120000"
zpns_z ip addr add $Z_ADDR/24 dev vz0
out=$(zpns_z timeout 120 "$TMP/rawsys/rawsys" $K_ADDR:$UPORT 2>"$TMP/rawsys-kernel.log")
rc=$?
zpns_z ip addr del $Z_ADDR/24 dev vz0
[ $rc = 0 ] && [ "$out" = "$want" ] || fail "rawsys on the kernel: rc $rc, '$out'"
echo "ok kernel rawsys: $out"
for round in 1 2 3; do
	out=$(zpns_z timeout 120 "$ZPNET" run -c "$ZCFG" -- "$TMP/rawsys/rawsys" \
		$K_ADDR:$UPORT 2>"$TMP/rawsys.log")
	rc=$?
	[ $rc = 0 ] && [ "$out" = "$want" ] ||
		fail "rawsys under zpnet, round $round: rc $rc, '$out': $(grep -m3 -E 'fatal|SIG|panic' "$TMP/rawsys.log")"
	echo "ok zpnet rawsys round $round: $out"
done
# gc's linker writes no .eh_frame_hdr, and gcc's (external linking) one for
# the C objects only: the engine rewrites Go's code at start from the
# symbol table (hooks/elf.c), or in a stripped binary from the runtime's
# table of functions, so SUD stays off (zpoline); the other builds'
# results are checked like rawsys's
if [ "${ZPNET_HOOKS_MODE:-zpoline}" = zpoline ]; then
	declare -A starts
	for b in rawsys rawsys-ext rawsys-stripped rawsys-ext-stripped; do
		out=$(zpns_z env ZPHOOKS_LOG=3 timeout 120 "$ZPNET" run -c "$ZCFG" -- \
			"$TMP/rawsys/$b" $K_ADDR:$UPORT 2> "$TMP/$b-debug.log")
		[ "$out" = "$want" ] || fail "$b with the engine's debug log: '$out'"
		line=$(grep -F "rewrote $TMP/rawsys/$b " "$TMP/$b-debug.log" | head -1)
		echo "$line" | grep -qE '\([1-9][0-9]{2,} function starts\), [1-9][0-9]* stub' ||
			fail "$b's own code was not rewritten from its table of functions: '$line'"
		grep -qE 'started in .* SUD off' "$TMP/$b-debug.log" ||
			fail "SUD armed for $b: $(grep -m1 'started in' "$TMP/$b-debug.log")"
		echo "ok: $b ($out): Go's code rewritten at start, SUD off: $line"
		starts[$b]=$(sed -n 's/.*(\([0-9]*\) function starts).*/\1/p' <<< "$line")
	done
	# stripped, the runtime's table (and gcc's FDEs for the C objects)
	# finds every function the symbols (and the FDEs) do
	for b in rawsys rawsys-ext; do
		[ "${starts[$b-stripped]}" = "${starts[$b]}" ] ||
			fail "$b-stripped: ${starts[$b-stripped]} function starts, $b: ${starts[$b]}"
	done
	echo "ok: stripped, the same function starts: ${starts[rawsys]}, ${starts[rawsys-ext]}"
fi
udp_sink_wait "$TMP/sink.log"
got=$UDP_GOT
# 40,000 a run; UDP may drop some, but the stack's must arrive
[ "${got:-0}" -gt 40000 ] || fail "the kernel side got ${got:-no} datagrams, want more than one run's 40000"
echo "ok: the kernel side got $got datagrams"

# ---- httpd ----
PORT=8080
# clients ROUND LABEL: 4 curls x 500 requests, each answer checked
clients() {
	local label=$1 c i pids=() urls
	for c in 1 2 3 4; do
		urls=()
		for i in $(seq 500); do urls+=("http://$Z_ADDR:$PORT/r$c-$i"); done
		zpns_k timeout 120 curl -s "${urls[@]}" > "$TMP/c$c.out" 2>&1 &
		pids+=($!)
	done
	for c in 1 2 3 4; do
		wait "${pids[$((c - 1))]}" || fail "$label: client $c failed (rc $?)"
		n=$(grep -c "^hello r$c-[0-9]*$" "$TMP/c$c.out")
		[ "$n" = 500 ] || fail "$label: client $c got $n of 500 answers"
	done
}
zpns_z ip addr add $Z_ADDR/24 dev vz0
zpns_bg_z "$TMP/httpd-kernel.log" "$TMP/httpd/httpd" $Z_ADDR:$PORT
wait_tcp zpns_k $Z_ADDR $PORT 20 || fail "httpd on the kernel did not listen"
clients "kernel"
kill -TERM -- "-$ZPNS_LAST"
wait "$ZPNS_LAST" 2>/dev/null
zpns_z ip addr del $Z_ADDR/24 dev vz0
echo "ok kernel httpd: 4 x 500"
for round in 1 2 3 4 5; do
	zpns_bg_z "$TMP/httpd.log" "$ZPNET" run -c "$ZCFG" -- "$TMP/httpd/httpd" $Z_ADDR:$PORT
	wait_tcp zpns_k $Z_ADDR $PORT 20 || fail "httpd under zpnet did not listen (round $round)"
	clients "zpnet round $round"
	kill -0 "$ZPNS_LAST" 2>/dev/null || fail "httpd under zpnet died in round $round"
	kill -TERM -- "-$ZPNS_LAST"
	wait "$ZPNS_LAST" 2>/dev/null
	echo "ok zpnet httpd round $round: 4 x 500"
done
# ---- a static Go server: refused, or on the kernel with --allow-static ----
out=$(zpns_z timeout 20 "$ZPNET" run -c "$ZCFG" -- "$TMP/httpd/httpd-static" $Z_ADDR:$PORT 2>&1)
rc=$?
[ $rc = 1 ] || fail "static httpd: zpnet run exited $rc, want 1 (refused): $out"
grep -q 'httpd-static is statically linked.*cannot serve its sockets.*--allow-static' <<< "$out" ||
	fail "static httpd: no refusal naming the limit: $out"
grep -q '^ready' <<< "$out" && fail "static httpd: refused, yet it ran"
echo "ok: a static Go server is refused, with the reason and --allow-static"
zpns_z ip addr add $Z_ADDR/24 dev vz0
zpns_bg_z "$TMP/static.log" "$ZPNET" run -c "$ZCFG" --allow-static -- "$TMP/httpd/httpd-static" $Z_ADDR:$PORT
wait_tcp zpns_k $Z_ADDR $PORT 20 || fail "static httpd with --allow-static did not listen"
got=$(zpns_k timeout 10 curl -s "http://$Z_ADDR:$PORT/static")
[ "$got" = "hello static" ] || fail "static httpd on the kernel answered '$got'"
grep -q 'warning: .*httpd-static is statically linked' "$TMP/static.log" ||
	fail "static httpd with --allow-static: no warning"
kill -TERM -- "-$ZPNS_LAST"
wait "$ZPNS_LAST" 2>/dev/null
zpns_z ip addr del $Z_ADDR/24 dev vz0
echo "ok: with --allow-static it runs on the kernel stack, with a warning"
echo PASS
