#!/bin/bash
# Install what is missing, build, and run every test suite.
#
# usage: scripts/test.sh [SUITE...]     (as root; default: all suites)
#
# Suites: unit (no root, ASan+UBSan), hooks, stack, apps (root: namespaces,
# vm.mmap_min_addr=0). Ends with a line "N passed, N failed".
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
build=${ZPNET_BUILD_DIR:-$top/build}

"$top/scripts/setup.sh"

# The zpoline trampoline lives at address 0.
if [ "$(cat /proc/sys/vm/mmap_min_addr)" != 0 ]; then
	sysctl -qw vm.mmap_min_addr=0
fi

if [ -d "$build/meson-private" ]; then
	meson setup --reconfigure "$build" "$top" >/dev/null
else
	meson setup "$build" "$top" >/dev/null
fi
ninja -C "$build"

args=(--print-errorlogs --num-processes 1)
for s in "$@"; do
	args+=(--suite "$s")
done
rc=0
meson test -C "$build" "${args[@]}" || rc=$?

# One closing line with the totals, from meson's own log.
python3 - "$build/meson-logs/testlog.json" <<'PY'
import json, sys
res = {}
for line in open(sys.argv[1]):
    r = json.loads(line)["result"]
    res[r] = res.get(r, 0) + 1
ok = res.get("OK", 0) + res.get("EXPECTEDFAIL", 0)
bad = sum(v for k, v in res.items() if k not in ("OK", "EXPECTEDFAIL", "SKIP"))
print("%d passed, %d failed, %d skipped" % (ok, bad, res.get("SKIP", 0)))
PY
exit $rc
