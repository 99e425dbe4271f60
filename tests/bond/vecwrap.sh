#!/bin/bash
# The light vector save of a served call (hooks/zp_hooks.h,
# zp_hooks_vec_full) holds only if nothing libzpnet.so runs before
# zp_hooks_vec_full() uses a VEX/EVEX instruction. Checked here:
#  - libzpnet.so has none outside hooks/entry.S's entry and save code;
#  - each function it imports is in bond/meson.build's bond_vec_light or
#    bond_vec_wrapped list, and each wrapped one is called only from its
#    wrapper (bond_vecwrap.S.in);
#  - each light import's own code has no VEX/EVEX instruction and calls
#    no ifunc (glibc's string functions are ifuncs) nor a pointer, but
#    clock_gettime's pointer into the vDSO, checked as well, and
#    __cxa_finalize's to destructors (it runs when the library unloads,
#    never in a served call);
#  - the x87 tag word and the x87/MMX registers, which no save keeps, are
#    changed by no x87 or MMX instruction of libzpnet.so (only the entry's
#    saves of the control and status words: fnstcw/fldcw, fnstsw, and
#    fnstenv/fldenv to put a status word back, fnclex for ZPHOOKS_VCHECK)
#    nor of a light import;
#  - MXCSR, which the light save leaves to zp_hooks_vec_full(), is changed
#    by no instruction of libzpnet.so outside the entry and the saves
#    (SSE floating-point arithmetic, compares and conversions set its
#    flags; ldmxcsr, fxrstor and xrstor load it) nor of a light import
#    or the vDSO.
# usage: vecwrap.sh LIBZPNET "LIGHT..." "WRAPPED..."
set -u
lib=$1 light=" $2 " wrapped=" $3 "
fail=0
vexre='[[:space:]](v[a-z0-9]+|k(mov|and|or|xor|xnor|not|shift|test|add|unpck)[a-z]*)[[:space:]]|%[yz]mm|%k[0-7]([^0-9]|$)'
x87re='^ *[0-9a-f]+:[[:space:]]+(f[a-z0-9]+|emms|femms)([[:space:]]|$)|%mm[0-7]|%st([[:space:](,]|$)'
fpre='[[:space:]](((add|sub|mul|div|sqrt|min|max|rcp|rsqrt|hadd|hsub|addsub|dp|round)(ss|sd|ps|pd)|(cmp[a-z]*|u?comi)(ss|sd|ps|pd)|cvt[a-z0-9]+)[[:space:]].*%xmm|(ldmxcsr|fxrstor|fxrstor64|xrstor|xrstor64|xrstors|xrstors64)[[:space:]])'
dis=$(objdump -d --no-show-raw-insn "$lib")

# outside RE [ALLOWED]: the library's instructions matching RE, but those
# of hooks/entry.S's entry and saves that match ALLOWED (default: all)
outside() {
	awk -v re="$1" -v ok="${2:-}" '
		/^[0-9a-f]+ <.*>:$/ { fn = $2; gsub(/[<>:]/, "", fn); next }
		$0 ~ re && !(fn ~ /^(zp_sled_entry|zp_stub_entry|zp_hooks_vec_call|zp_hooks_vec_full)$/ &&
			     $0 ~ ok) {
			print "  " fn ": " $0 }' <<< "$dis" | head -20
}

# verdict BAD FAIL OK [SEEN SEEN_FAIL]: FAIL and the instructions BAD
# lists, if any; else SEEN_FAIL if the library has no SEEN instruction
# (the check looked at nothing); else OK
verdict() {
	if [ -n "$1" ]; then
		echo "FAIL: $2:"
		echo "$1"
		fail=1
	elif [ -n "${4:-}" ] && ! grep -Eq "$4" <<< "$dis"; then
		echo "FAIL: $5"
		fail=1
	else
		echo "ok: $3"
	fi
}

# VEX/EVEX code outside the entry (ZP_VSAVE/ZP_VRESTORE) and the saves
verdict "$(outside "$vexre")" \
	"VEX/EVEX instructions in libzpnet.so's own code (build it for the x86-64 baseline)" \
	"no VEX/EVEX instruction outside hooks/entry.S's saves"

# x87/MMX code anywhere but the entry's saves of the control and status words
verdict "$(outside "$x87re" '[[:space:]](fnstcw|fldcw|fnstsw|fnstenv|fldenv|fnclex)([[:space:]]|$)')" \
	"x87/MMX instructions in libzpnet.so (the x87 tag word and registers are not saved)" \
	"no x87/MMX instruction but the entry's control- and status-word saves" \
	'[[:space:]]fnstcw[[:space:]]' "no fnstcw in libzpnet.so: the x87 check looked at nothing"

# floating-point SSE code (MXCSR's flags) outside the entry and the saves
verdict "$(outside "$fpre")" \
	"floating-point instructions in libzpnet.so's own code (the light save keeps no MXCSR: integer arithmetic only, or call zp_hooks_vec_full() first)" \
	"no floating-point instruction outside hooks/entry.S's saves" \
	"$fpre" "no ldmxcsr in libzpnet.so: the MXCSR check looked at nothing"

# every imported function classified
n=0
for f in $(readelf --dyn-syms -W "$lib" | awk '$7 == "UND" && $4 == "FUNC" { print $8 }' | sed 's/@.*//' | sort -u); do
	n=$((n + 1))
	case "$light$wrapped" in
	*" $f "*) ;;
	*)	echo "FAIL: $(basename "$lib") calls $f, which is in neither list:" \
			"add it to bond_vec_wrapped in bond/meson.build (or to" \
			"bond_vec_light if neither it nor what it calls uses AVX)"
		fail=1 ;;
	esac
done
[ "$n" -gt 50 ] || { echo "FAIL: only $n imported functions read from $lib"; fail=1; }
echo "ok: $n imported functions, each light or wrapped"

# a wrapped function is reached through its wrapper only
bad=$(awk -v w="$wrapped" '
	/^[0-9a-f]+ <.*>:$/ { fn = $2; gsub(/[<>:]/, "", fn); next }
	match($0, /<[^>@]+@plt>/) {
		s = substr($0, RSTART + 1, RLENGTH - 6)
		if (index(w, " " s " ") && fn != "__wrap_" s && fn !~ /@plt$/)
			print "  " fn " calls " s }' <<< "$dis" | sort -u | head -20)
if [ -n "$bad" ]; then
	echo "FAIL: wrapped functions called around their wrappers (-Wl,--wrap missing?):"
	echo "$bad"
	fail=1
else
	echo "ok: every wrapped function is called through its wrapper"
fi

# the light imports' own code
libs=$(ldd "$lib" | awk '/libc\.so|ld-linux/ { print ($3 ~ /^\//) ? $3 : $1 }')
for f in $light; do
	found=
	for l in $libs; do
		read -r addr size < <(nm -D -S --defined-only "$l" 2>/dev/null |
			awk -v f="$f" '$4 == f || $4 ~ "^" f "@@" { print $1, $2; exit }')
		[ -n "${addr:-}" ] || continue
		found=$l
		code=$(objdump -d --no-show-raw-insn --start-address=0x$addr \
			--stop-address=$((0x$addr + 0x$size)) "$l")
		if grep -Eq "$vexre" <<< "$code"; then
			echo "FAIL: $f ($l) has VEX/EVEX code: it cannot be in bond_vec_light"
			fail=1
		elif grep -Eq "$x87re" <<< "$code"; then
			echo "FAIL: $f ($l) has x87/MMX code: it cannot be in bond_vec_light"
			fail=1
		elif grep -Eq "$fpre" <<< "$code"; then
			echo "FAIL: $f ($l) has floating-point code: it cannot be in bond_vec_light"
			fail=1
		elif [ "$f" != clock_gettime ] && [ "$f" != __cxa_finalize ] &&
			grep -Eq '\*ABS\*|call +\*' <<< "$code"; then
			echo "FAIL: $f ($l) calls an ifunc or a pointer: it cannot be in bond_vec_light"
			fail=1
		else
			echo "ok: $f ($(basename "$l")): no vector or x87 code, no ifunc call"
		fi
		break
	done
	if [ -z "$found" ]; then
		case $f in
		__cxa_finalize|__tls_get_addr|__errno_location) ;;	# may be elsewhere
		*) echo "FAIL: light import $f found in none of: $libs"; fail=1 ;;
		esac
	fi
done

# the vDSO, where clock_gettime goes
vdso=$(mktemp)
python3 - "$vdso" <<'PY'
import sys
for l in open("/proc/self/maps"):
    if "[vdso]" in l:
        a, b = (int(x, 16) for x in l.split()[0].split("-"))
        with open("/proc/self/mem", "rb") as m:
            m.seek(a)
            open(sys.argv[1], "wb").write(m.read(b - a))
PY
if ! objdump -T "$vdso" | grep -q clock_gettime; then
	echo "FAIL: no clock_gettime in the vDSO read from /proc/self/maps"
	fail=1
elif objdump -d --no-show-raw-insn "$vdso" | grep -Eq "$vexre"; then
	echo "FAIL: the vDSO has VEX/EVEX code: clock_gettime cannot be in bond_vec_light"
	fail=1
elif objdump -d --no-show-raw-insn "$vdso" | grep -Eq "$fpre|$x87re"; then
	echo "FAIL: the vDSO has floating-point or x87 code: clock_gettime cannot be in bond_vec_light"
	fail=1
else
	echo "ok: the vDSO (clock_gettime) has no VEX/EVEX, floating-point or x87 code"
fi
rm -f "$vdso"
exit $fail
