#!/bin/bash
# Fetch lwIP 2.1.3 from Debian's source package into third_party/lwip.
#
# The deb-src entry is derived at run time from the machine's own apt
# sources (the entries for this release's suite), so no mirror is named
# here. The orig tarball is checked against a pinned sha256 and a mismatch
# is refused. Debian's patches are not applied: they adapt lwIP to the Hurd.
#
# usage: scripts/get-lwip.sh     (as root, or with the tree already present)
set -euo pipefail

LWIP_VERSION=2.1.3
LWIP_ORIG=lwip_2.1.3+dfsg1.orig.tar.xz
LWIP_SHA256=0a8276d09fc4e97bbba2f953d74af2388fc2195ea156be9d7589e297a68fde24

top=$(cd "$(dirname "$0")/.." && pwd)
dest=$top/third_party/lwip
stamp=$dest/.zpnet-sha256

if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$LWIP_SHA256" ]; then
	echo "get-lwip.sh: lwIP $LWIP_VERSION already in $dest"
	exit 0
fi

. /etc/os-release
codename=${VERSION_CODENAME:?"/etc/os-release names no VERSION_CODENAME"}

work=$(mktemp -d)
srclist=$work/sources.list.d
mkdir -p "$srclist" "$work/lists/partial" "$work/archives/partial"
trap 'rm -rf "$work"' EXIT

# deb-src lines from every 'deb' source whose suite is this release's.
# One-line format (sources.list) and deb822 (*.sources) are both read.
derive_src() {
	local f
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
		[ -f "$f" ] || continue
		awk -v c="$codename" '
			$1 == "deb" {
				i = 2
				if ($i ~ /^\[/) { while ($i !~ /\]$/) i++; i++ }
				if ($(i + 1) == c) {
					line = "deb-src"
					for (j = 2; j <= NF; j++) line = line " " $j
					print line
				}
			}' "$f"
	done
	for f in /etc/apt/sources.list.d/*.sources; do
		[ -f "$f" ] || continue
		# Paragraphs are separated by blank lines; keep those listing
		# this release's suite, and turn Types into deb-src.
		awk -v c="$codename" '
			function flush() {
				if (para != "" && suites ~ ("(^| )" c "( |$)"))
					printf "%s\n", para
				para = ""; suites = ""
			}
			/^[ \t]*$/ { flush(); next }
			/^#/ { next }
			/^Types:/ { para = para "Types: deb-src\n"; next }
			/^Suites:/ { s = $0; sub(/^Suites:[ \t]*/, "", s); suites = s }
			{ para = para $0 "\n" }
			END { flush() }' "$f"
	done
}

derive_src > "$work/derived"
if ! [ -s "$work/derived" ]; then
	echo "get-lwip.sh: no apt source for '$codename' found in /etc/apt; add a 'deb' line for Debian $codename and rerun" >&2
	exit 1
fi
if grep -q '^Types:' "$work/derived"; then
	cp "$work/derived" "$srclist/zpnet-src.sources"
else
	cp "$work/derived" "$srclist/zpnet-src.list"
fi

# A private apt configuration: the machine's own lists are left alone.
aptopts=(
	-o "Dir::Etc::sourcelist=/dev/null"
	-o "Dir::Etc::sourceparts=$srclist"
	-o "Dir::State::Lists=$work/lists"
	-o "Dir::Cache::Archives=$work/archives"
	-o "APT::Sandbox::User=root"
	-o "Debug::NoLocking=1"
)
echo "get-lwip.sh: fetching lwIP's Debian source package"
apt-get "${aptopts[@]}" update -qq
(cd "$work" && apt-get "${aptopts[@]}" source --download-only -qq lwip >/dev/null)

orig=$work/$LWIP_ORIG
if ! [ -f "$orig" ]; then
	echo "get-lwip.sh: Debian's lwip source package has no $LWIP_ORIG (version changed?)" >&2
	exit 1
fi
sum=$(sha256sum "$orig" | cut -d' ' -f1)
if [ "$sum" != "$LWIP_SHA256" ]; then
	echo "get-lwip.sh: $LWIP_ORIG has sha256 $sum, expected $LWIP_SHA256; refusing it" >&2
	exit 1
fi

rm -rf "$dest"
mkdir -p "$dest"
tar -xJf "$orig" -C "$dest" --strip-components=1
echo "$LWIP_SHA256" > "$stamp"
echo "get-lwip.sh: lwIP $LWIP_VERSION unpacked in $dest"
