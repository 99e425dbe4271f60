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
source "$(dirname "$0")/common.sh"

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
echo PASS
