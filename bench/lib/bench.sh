# Shared by the benchmark scripts in bench/ (sourced, bash).
#
#   bench_usage               print the script's header comment (its -h)
#   bench_build               install what is missing, build (idempotent)
#   bench_zpnet_config FILE   zpnet config for the veth pair, default mbuf pool
#   bench_results NAME [DIR]  make the results folder: BENCH_OUT, BENCH_RAW
#   bench_record ROW VARIANT METRIC VALUE   one sample into BENCH_RAW
#   bench_machine [CONFIG...] machine.md: CPU, cores, kernel, DPDK, configs
#   bench_report TITLE BASELINE [report.py options]   results.md + PNGs
#   bench_cpu_ticks PID       utime+stime of PID's threads, clock ticks
#   bench_rss_kb PID          VmRSS of PID in KiB
#
# Raw samples are tab-separated lines "row variant metric value"; report.py
# turns them into medians, min-max and ratios to a baseline variant.

BENCH_TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BENCH_BUILD=${ZPNET_BUILD_DIR:-$BENCH_TOP/build}
ZPNET=$BENCH_BUILD/cli/zpnet
BENCH_HZ=$(getconf CLK_TCK)
# zpnet configs as the user writes them: no test-only self-checks.
ZPNS_DEMUX_CHECK=no
export ZPHOOKS_VCHECK=0

bench_die() {
	echo "$(basename "$0"): $*" >&2
	exit 1
}

bench_usage() {
	sed -n '2,/^set -e/p' "$0" | sed '$d; s/^# \{0,1\}//'
}

# bench_zpnet_config FILE: tests/lib/netns.sh's config for the pairs, with
# the default mbuf pool (the tests pin a smaller one).
bench_zpnet_config() {
	zpns_config "$1"
	sed -i '/^mbufs = /d' "$1"
}

bench_build() {
	[ "$(id -u)" = 0 ] || bench_die "needs root (network namespaces, DPDK ports): run as root"
	"$BENCH_TOP/scripts/setup.sh" >&2
	if [ ! -d "$BENCH_BUILD/meson-private" ]; then
		meson setup "$BENCH_BUILD" "$BENCH_TOP" >/dev/null
	fi
	ninja -C "$BENCH_BUILD" >/dev/null || bench_die "build failed: ninja -C $BENCH_BUILD"
}

# bench_results NAME [DIR]: DIR, or bench/results/NAME-YYYYmmdd-HHMMSS.
bench_results() {
	BENCH_OUT=${2:-$BENCH_TOP/bench/results/$1-$(date +%Y%m%d-%H%M%S)}
	mkdir -p "$BENCH_OUT"
	BENCH_RAW=$BENCH_OUT/raw.tsv
	: > "$BENCH_RAW"
}

bench_record() {
	printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" >> "$BENCH_RAW"
}

bench_cpu_ticks() {
	# Fields 14 and 15 of /proc/PID/stat (after the parenthesised name):
	# utime and stime of the whole thread group.
	local stat
	stat=$(cat "/proc/$1/stat" 2>/dev/null) || { echo 0; return; }
	stat=${stat##*) }
	set -- $stat
	echo $(( ${12} + ${13} ))
}

bench_rss_kb() {
	awk '/^VmRSS:/ { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0
}

# bench_machine [CONFIG...]: what a reader needs to compare runs.
bench_machine() {
	local f=$BENCH_OUT/machine.md cfg
	{
		echo "## Machine"
		echo
		echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC')"
		echo "- CPU: $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)," \
			"$(nproc) online CPUs ($(nproc --all) in all)"
		echo "- memory: $(awk '/^MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)"
		echo "- kernel: $(uname -sr)"
		echo "- OS: $(. /etc/os-release && echo "$PRETTY_NAME")"
		echo "- DPDK: $(pkg-config --modversion libdpdk 2>/dev/null || echo unknown)"
		echo "- redis: $(redis-server --version 2>/dev/null | awk '{ print $3 }' | sed 's/^v=//')"
		echo "- zpnet: $(git -C "$BENCH_TOP" describe --always --dirty 2>/dev/null || echo unknown)"
		echo "- CPU frequency driver: $(cat /sys/devices/system/cpu/cpu0/cpufreq/scaling_driver 2>/dev/null || echo none visible)"
		echo "- load before the run: $(cut -d' ' -f1-3 /proc/loadavg)"
		for cfg in "$@"; do
			echo
			echo "Config \`$(basename "$cfg")\`:"
			echo
			echo '```ini'
			grep -v '^#' "$cfg"
			echo '```'
		done
	} > "$f"
}

# bench_report TITLE [report.py options]: results.md (machine + tables) and
# the PNG plots, printed to stdout as well.
bench_report() {
	local title=$1
	shift
	python3 "$BENCH_TOP/bench/report.py" --title "$title" --out "$BENCH_OUT" "$@" "$BENCH_RAW" ||
		bench_die "report failed (raw samples kept in $BENCH_RAW)"
	cat "$BENCH_OUT/results.md"
	echo
	echo "results: $BENCH_OUT"
	if grep -q $'\terror$' "$BENCH_RAW"; then
		bench_die "some runs failed (marked 'failed' above; logs in $BENCH_OUT)"
	fi
}

# bench_pin_check CPU...: the named CPUs must exist.
bench_pin_check() {
	local c
	for c in "$@"; do
		taskset -c "$c" true 2>/dev/null || bench_die "CPU $c is not available here (online: $(cat /sys/devices/system/cpu/online)); choose others with -S/-C"
	done
}
