#!/bin/bash
# What the two libraries export, against syscalls.def: libzpnet-preload.so
# every libc function of a BOND_LIBC or BOND_LIBC_HAND line and the few
# netstack needs, nothing else; libzpnet.so ([hooks] mode zpoline or sud)
# none of the application's libc functions.
# usage: exports.sh LIBZPNET LIBZPNET_PRELOAD SYSCALLS_DEF
set -u
lib=$1 preload=$2 def=$3
common='access bond_dispatch nanosleep stat64'
fail=0

# expect LIBRARY WHAT WANTED: its dynamic exports are the WANTED names
expect() {
	local got

	got=$(nm -D --defined-only "$1" | awk '{ print $3 }' | sed 's/@.*//' | sort -u)
	if [ "$got" = "$3" ]; then
		echo "ok: $(basename "$1") exports $2"
		return
	fi
	echo "FAIL: $(basename "$1") does not export just $2 (< wanted, > exported)"
	diff <(echo "$3") <(echo "$got") | sed 's/^/  /'
	fail=1
}

nlibc=$(grep -c '^BOND_LIBC' "$def")
[ "$nlibc" -gt 40 ] || { echo "FAIL: only $nlibc libc lines read from $def"; exit 1; }
expect "$preload" "the $nlibc libc functions of syscalls.def and $common" \
	"$( { sed -n 's/^BOND_LIBC(\([^,]*\), *\([A-Za-z0-9_]*\),.*/\2/p
	      s/^BOND_LIBC_HAND(\([A-Za-z0-9_]*\))/\1/p' "$def"
	    printf '%s\n' $common; } | sort -u)"
expect "$lib" "only $common" "$(printf '%s\n' $common | sort -u)"
exit $fail
