#!/bin/bash
# The main job: install, build, and run Redis under zpnet next to the same
# redis-server on the kernel stack.
#
# usage: scripts/main.sh [-n REQUESTS] [-r ROUNDS]     (as root)
#
# Two network namespaces joined by a veth pair. redis-server (Debian's,
# unmodified) runs in one, under zpnet (lwIP on a DPDK net_af_packet port on
# its veth end, zpoline front-end) and on the kernel stack with the same
# veth end, taking turns; redis-benchmark runs in the other namespace on the
# kernel stack: GET and SET, 1 and 50 clients, without and with 16-deep
# pipelining. Server on CPU 1, client on CPU 0 for every row. -n: requests
# per row (default 20000; x16 when pipelining); -r: rounds (default 3).
# Prints Markdown tables (medians, min-max, ratios) and writes them with
# plots to bench/results/. This is `bench/redis -v kernel,zpoline`; the
# full suite is in bench/README.md.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
REQUESTS=20000
ROUNDS=3
while getopts "n:r:h" opt; do
	case $opt in
	n) REQUESTS=$OPTARG ;;
	r) ROUNDS=$OPTARG ;;
	h) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) exit 2 ;;
	esac
done

exec "$top/bench/redis" -v kernel,zpoline -t get,set -c 1,50 -P 1,16 \
	-n "$REQUESTS" -r "$ROUNDS" -i 3 -S 1 -C 0
