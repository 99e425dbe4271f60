#!/bin/bash
# Install everything zpnet needs on Debian 12 and fetch lwIP's source.
# Idempotent: packages already present are not reinstalled, apt's index is
# refreshed at most once per run, and a verified lwIP tree is kept.
#
# usage: scripts/setup.sh        (as root)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)

# Build tools, libraries, and the programs the tests and benchmarks drive.
packages=(
	build-essential pkg-config meson ninja-build
	libdpdk-dev dpdk binutils-dev libnuma-dev
	dpkg-dev xz-utils
	iproute2 iputils-ping ethtool procps util-linux
	redis-server redis-tools iperf3 curl socat python3
	nginx-light wrk postgresql-15 postgresql-client-15
	gnuplot-nox strace bc nftables
	golang-go
	openjdk-17-jdk-headless
)

if [ "$(id -u)" != 0 ]; then
	echo "setup.sh: must run as root (it installs Debian packages)" >&2
	exit 1
fi

missing=()
for p in "${packages[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
		missing+=("$p")
	fi
done

if [ ${#missing[@]} -gt 0 ]; then
	echo "setup.sh: installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
	# Debian starts redis-server as a service on install; tests start
	# their own servers, so stop the packaged one (it holds port 6379).
	# The same for nginx and PostgreSQL (ports 80 and 5432).
	for svc in redis-server nginx postgresql; do
		if command -v systemctl >/dev/null && systemctl is-active -q "$svc" 2>/dev/null; then
			systemctl stop "$svc" || true
		fi
	done
	apt_updated=1
else
	echo "setup.sh: all packages present"
	apt_updated=0
fi

APT_UPDATED=$apt_updated "$here/get-lwip.sh"
