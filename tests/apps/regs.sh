#!/bin/bash
# Registers and red zone across hooked syscalls in a real zpnet process:
# tests/hooks' regs program under `zpnet run` (bond's vector dispatcher,
# the stack's threads running). Every register shape must come back whole
# (ymm/zmm included), and every site but the one regs.S forces onto
# address 0 must keep the whole red zone: the hooks engine starts while
# the process has one thread, so it may move instructions into stubs.
# usage: regs.sh ZPNET_BINARY REGS_BINARY
set -u
ZPNET=$1
REGS=$2
REGS_SENDTO=$(dirname "$REGS")/hooks_regs_sendto
REGS_RECVFROM=$(dirname "$REGS")/hooks_regs_recvfrom
source "$(dirname "$0")/common.sh"
[ -x "$REGS_SENDTO" ] || fail "$REGS_SENDTO is not built"
[ -x "$REGS_RECVFROM" ] || fail "$REGS_RECVFROM is not built"

out=$(zpns_z timeout 60 "$ZPNET" run -c "$ZCFG" -- "$REGS" 2>"$TMP/regs.log") ||
	fail "the regs program failed under zpnet (rc $?): $out"
echo "$out"
n=$(grep -c '^regs .*: ok$' <<<"$out")
[ "$n" -ge 6 ] || fail "only $n register checks passed"
grep '^regs ' <<<"$out" | grep -qv ': ok$' && fail "a register changed"
for shape in stub after before after-rip after-jmp; do
	rz=$(awk -v s="$shape" '$1 == "redzone" && $2 == s ":" { print $3 }' <<<"$out")
	[ -n "$rz" ] || fail "no red zone check for $shape"
	[ "$rz" = 0 ] || fail "$shape lost red zone bytes (mask $rz)"
done

# The served call: a kernel UDP sink counts what arrives.
PORT=7300
udp_sink_start $PORT "$TMP/sink.log"
out=$(zpns_z timeout 60 "$ZPNET" run -c "$ZCFG" -- "$REGS_SENDTO" $K_ADDR $PORT \
	2>"$TMP/regs_sendto.log") || fail "the sendto probe failed under zpnet (rc $?): $out"
echo "$out"
grep '^regs ' <<<"$out" | grep -qv ': ok$' && fail "a register changed around a served call"
for what in socket devnull; do
	n=$(grep -c "^regs sendto-$what .*: ok$" <<<"$out")
	[ "$n" -ge 6 ] || fail "only $n sendto-$what register checks passed"
done
udp_sink_wait "$TMP/sink.log"
got=$UDP_GOT
want=$(( $(grep -c '^regs sendto-socket ' <<<"$out") + 1 ))
[ "$got" = "$want" ] || fail "the kernel side got $got of $want datagrams"
echo "ok: $got datagrams from the served sendto calls"

# recvfrom(MSG_DONTWAIT) on an empty stack socket, right after a poll:
# bond_dispatch answers EAGAIN itself, before any vector register is saved
out=$(zpns_z env ZPNET_STATS="$TMP/recvfrom.stats" timeout 60 "$ZPNET" run -c "$ZCFG" -- \
	"$REGS_RECVFROM" 2>"$TMP/regs_recvfrom.log") ||
	fail "the recvfrom probe failed under zpnet (rc $?): $out"
echo "$out"
grep '^regs ' <<<"$out" | grep -qv ': ok$' && fail "a register changed around a lock-free recvfrom"
n=$(grep -c '^regs recvfrom-empty .*: ok$' <<<"$out")
[ "$n" -ge 6 ] || fail "only $n recvfrom-empty register checks passed"
fast=$(awk '$1 == "stack.recv_eagain_lockfree" { print $2 }' "$TMP/recvfrom.stats")
[ -n "$fast" ] || fail "no stack.recv_eagain_lockfree in ZPNET_STATS"
[ "$fast" -ge $((n / 2)) ] ||
	fail "only $fast of the $n probe calls were answered without the lock"
[ "$fast" -le "$n" ] || fail "$fast lock-free answers for $n calls that could have one"
echo "ok: $fast of the $n recvfrom probes answered EAGAIN without the lock, registers whole"
echo PASS
