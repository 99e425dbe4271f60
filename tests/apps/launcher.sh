#!/bin/bash
# The zpnet launcher: --help, and `run`/`check` refusing a bad config, a
# missing interface, a missing sysctl and missing hugepages with a non-zero
# exit and a message that names the fix; a second process finding the port
# taken runs on the kernel stack with a warning; the app's getopt state
# survives DPDK's start-up; DPDK loads only the drivers the config names;
# net_af_packet's sockets end as the driver asked, in every mode, with no
# copy or ioctl socket left by the start-up's shortcuts;
# a statically linked PROGRAM (or a script's static interpreter) is refused
# by run (exit 1, the message names --allow-static, which runs it on the
# kernel) and by check -- PROGRAM.
# usage: launcher.sh ZPNET_BINARY
set -u
ZPNET=$1
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/../lib/netns.sh"

zpns_setup 1
TMP=$(mktemp -d /tmp/zpnet-apps-launcher.XXXXXX)
OLD_MIN=$(cat /proc/sys/vm/mmap_min_addr)
cleanup() {
	sysctl -qw vm.mmap_min_addr="$OLD_MIN"
	zpns_teardown
	rm -rf "$TMP"
}
trap cleanup EXIT
rc=0
fail() { echo "FAIL: $*" >&2; rc=1; }

# expect CODE PATTERN CMD...: exit status CODE and stderr matching PATTERN
expect() {
	local code=$1 pat=$2 got
	shift 2
	"$@" > "$TMP/out" 2> "$TMP/err"
	got=$?
	if [ "$got" != "$code" ]; then
		fail "$* exited $got, not $code"; cat "$TMP/err" >&2
	elif ! grep -qE "$pat" "$TMP/err" "$TMP/out"; then
		fail "$*: no '$pat' in its messages"; cat "$TMP/err" >&2
	else
		echo "ok: $* -> $code, '$pat'"
	fi
}

expect 0 'usage: zpnet run' "$ZPNET" --help
expect 2 'no PROGRAM' "$ZPNET" run -c /nonexistent
expect 2 'usage' "$ZPNET" frobnicate

zpns_config "$TMP/good.ini" "[hooks]
mode = preload"
expect 0 'ready' zpns_z "$ZPNET" check -c "$TMP/good.ini"

printf '[port.0]\npmd = net_af_packet\niface = vz0\nadress = 1.2.3.4/24\n' > "$TMP/bad.ini"
expect 1 "bad.ini:4: unknown key 'adress'.*configs/README.md" \
	zpns_z "$ZPNET" run -c "$TMP/bad.ini" -- true
printf '[bond]\noffload = sctp\n[port.0]\npmd = net_af_packet\niface = vz0\naddr = 198.18.0.2/24\n' > "$TMP/bad2.ini"
expect 1 'offload = sctp: use tcp,udp' zpns_z "$ZPNET" check -c "$TMP/bad2.ini"

# The interface exists only in the zpnet namespace: the launcher and the
# library (started without it) say so in the same words.
expect 1 'iface = vz0: no such interface.*ip netns exec' \
	zpns_k "$ZPNET" run -c "$TMP/good.ini" -- true
expect 1 'iface = vz0: no such interface.*ip netns exec' \
	zpns_k env LD_PRELOAD="$(dirname "$ZPNET")/../bond/libzpnet-preload.so" \
	ZPNET_CONFIG="$TMP/good.ini" python3 -c 'import socket; socket.socket()'
# mode = preload needs the library that wraps libc's functions; libzpnet.so
# (zpoline, sud) exports none of them and says which to use
expect 1 'mode = preload needs libzpnet-preload.so' \
	zpns_z env LD_PRELOAD="$(dirname "$ZPNET")/../bond/libzpnet.so" \
	ZPNET_CONFIG="$TMP/good.ini" python3 -c 'import socket; socket.socket()'
# net_tap makes its interface: nothing to find before it starts
printf '[eal]\nmemory_mb = 256\n[port.0]\npmd = net_tap\niface = zptap9\naddr = 198.18.9.2/24\n[hooks]\nmode = preload\n' > "$TMP/tap.ini"
expect 0 'ready' zpns_z "$ZPNET" check -c "$TMP/tap.ini"

zpns_config "$TMP/zp.ini" "[hooks]
mode = zpoline"
sysctl -qw vm.mmap_min_addr=4096
expect 1 'vm.mmap_min_addr is 4096.*sysctl -w vm.mmap_min_addr=0' \
	zpns_z "$ZPNET" run -c "$TMP/zp.ini" -- true
sysctl -qw vm.mmap_min_addr="$OLD_MIN"

if [ "$(awk '/^HugePages_Free:/ {print $2}' /proc/meminfo)" = 0 ]; then
	sed 's/^hugepages = no/hugepages = yes/' "$TMP/good.ini" > "$TMP/huge.ini"
	expect 1 'hugepages = yes but only 0 MiB of 2 MiB hugepages are free.*sysctl -w vm.nr_hugepages=' \
		zpns_z "$ZPNET" check -c "$TMP/huge.ini"
	# the library says the same words when started without the launcher
	expect 1 'hugepages = yes but only 0 MiB of 2 MiB hugepages are free.*sysctl -w vm.nr_hugepages=' \
		zpns_z env LD_PRELOAD="$(dirname "$ZPNET")/../bond/libzpnet-preload.so" \
		ZPNET_CONFIG="$TMP/huge.ini" python3 -c 'import socket; socket.socket()'
else
	echo "ok: hugepages are free here; the no-hugepage message is not checked"
fi

# DPDK parses its arguments with getopt inside the app: the app's own
# getopt must still start from its first argument.
printf 'line one\nline two\n' > "$TMP/lines"
out=$(zpns_z timeout 60 "$ZPNET" run -c "$TMP/zp.ini" -- \
	/usr/bin/env -i /usr/bin/head -n 1 "$TMP/lines" 2>"$TMP/err")
if [ "$out" = "line one" ]; then
	echo "ok: env -i head -n 1 parses its options under zpnet"
else
	fail "getopt state after start-up: got '$out'"; cat "$TMP/err" >&2
fi

# EAL loads the drivers the config names (net_af_packet, and the ring
# mempool ops of the mbuf pool; the buses are libraries zpnet links), not
# the whole plugin directory.
drivers=$(zpns_z timeout 60 "$ZPNET" run -c "$TMP/good.ini" -- python3 -c '
import re, socket
s = socket.socket()
maps = open("/proc/self/maps").read()
print(" ".join(sorted(set(re.findall(r"librte_(?:net|mempool|bus|common|crypto|event|baseband|dma|raw|regex|compress)_\w+?(?=\.so)", maps)))))' 2>"$TMP/err")
if [ "$drivers" = "librte_bus_pci librte_bus_vdev librte_mempool_ring librte_net_af_packet" ]; then
	echo "ok: DPDK loaded only the drivers the config needs: $drivers"
else
	fail "DPDK drivers loaded: '$drivers'"; cat "$TMP/err" >&2
fi

# net_af_packet's sockets, in each mode: zpnet opens them with protocol 0
# (hooked to frames only by the driver's bind, which then waits for no RCU
# grace period) and holds them while the driver probes (its close of the
# ioctl socket is not the last one). They must end as the driver asked:
# one socket hooked to ETH_P_ALL (0003) and running on vz0, the TCP one
# (protocol 0), each held once by the process, no other packet socket in
# the namespace (the ioctl socket released, the copies closed).
ifindex=$(zpns_z cat /sys/class/net/vz0/ifindex)
held='import os, socket, time
s = socket.socket()
print("ready", os.getpid(), flush=True)
time.sleep(30)'
for mode in zpoline preload sud; do
	zpns_config "$TMP/pk-$mode.ini" "[hooks]
mode = $mode"
	zpns_bg_z "$TMP/pk-$mode.log" timeout 60 "$ZPNET" run -c "$TMP/pk-$mode.ini" -- \
		python3 -c "$held"
	bg=$ZPNS_LAST
	if ! zpns_wait_ready "$TMP/pk-$mode.log" 20; then
		fail "$mode: the packet-socket process did not start"; cat "$TMP/pk-$mode.log" >&2
		continue
	fi
	pid=$(awk '$1 == "ready" {print $2}' "$TMP/pk-$mode.log")
	for ((i = 0; i < 50; i++)); do
		rows=$(zpns_z awk 'NR > 1 {print $4, $5, $6, $9}' /proc/net/packet | sort)
		[ "$(echo "$rows" | wc -l)" = 2 ] && break
		sleep 0.1
	done
	want="0000 $ifindex 0
0003 $ifindex 1"
	got=$(echo "$rows" | awk '{print $1, $2, $3}')
	if [ "$got" != "$want" ]; then
		fail "$mode: packet sockets (proto iface running): $(echo $got), not $(echo $want)"
	else
		n=0
		for ino in $(echo "$rows" | awk '{print $4}'); do
			c=$(find /proc/$pid/fd -lname "socket:\[$ino\]" 2>/dev/null | wc -l)
			[ "$c" = 1 ] || fail "$mode: socket $ino held by $c fds of the process, not 1"
			n=$((n + c))
		done
		[ "$n" = 2 ] && echo "ok: $mode: the driver's socket on ETH_P_ALL and vz0, the TCP one, no copy left"
	fi
	kill -- -"$bg" 2>/dev/null
	wait "$bg" 2>/dev/null
done
# ... and the driver's calls that got there (strace): no socket hooked to
# frames before its bind, and a bind to ETH_P_ALL.
zpns_z strace -f -qq -e trace=socket,bind -o "$TMP/pk.strace" timeout 60 \
	"$ZPNET" run -c "$TMP/pk-zpoline.ini" -- python3 -c 'import socket; socket.socket()' \
	2>"$TMP/err" || fail "the traced packet-socket process failed: $(cat "$TMP/err")"
hooked=$(grep -c 'socket(AF_PACKET, SOCK_RAW, htons(ETH_P_ALL)' "$TMP/pk.strace")
bound=$(grep -c 'bind(.*sa_family=AF_PACKET, sll_protocol=htons(ETH_P_ALL)' "$TMP/pk.strace")
if [ "$hooked" = 0 ] && [ "$bound" = 1 ]; then
	echo "ok: the driver's packet sockets open unhooked; its bind hooks one to ETH_P_ALL"
else
	fail "driver's packet sockets: $hooked opened on ETH_P_ALL (want 0), $bound bound to it (want 1)"
fi

# A second process on a port that is in use: kernel stack, with a warning.
# The port is claimed by a process's first socket.
sock='import socket, sys, time
s = socket.socket()
print("ready", flush=True)
time.sleep(float(sys.argv[1]))'
zpns_bg_z "$TMP/first.log" timeout 60 "$ZPNET" run -c "$TMP/good.ini" -- \
	python3 -c "$sock" 30
zpns_wait_ready "$TMP/first.log" 20 || fail "first process did not start"
expect 0 'in use by another process.*kernel stack' \
	zpns_z "$ZPNET" run -c "$TMP/good.ini" -- python3 -c "$sock" 0

# A statically linked PROGRAM cannot load zpnet: refused before it runs
# (it would print "ran"), unless --allow-static puts it on the kernel.
printf '#include <stdio.h>\nint main(void) { puts("ran"); return 3; }\n' > "$TMP/static.c"
cc -static -o "$TMP/static" "$TMP/static.c" || fail "cannot build a static test program"
expect 1 'error: .*static is statically linked.*LD_PRELOAD.*--allow-static' \
	zpns_z "$ZPNET" run -c "$TMP/good.ini" -- "$TMP/static"
zpns_z "$ZPNET" run -c "$TMP/good.ini" -- "$TMP/static" 2>/dev/null | grep -q ran &&
	fail "a refused static program ran"
expect 3 'warning: .*static is statically linked' \
	zpns_z "$ZPNET" run -c "$TMP/good.ini" --allow-static -- "$TMP/static"
zpns_z "$ZPNET" run -c "$TMP/good.ini" --allow-static -- "$TMP/static" 2>/dev/null | grep -q '^ran$' ||
	fail "--allow-static did not run the static program"
# zpnet check -- PROGRAM says the same before anything runs (not ready:
# run would refuse), and for a script whose interpreter is static; a
# dynamic program is ok.
expect 1 'error: .*static is statically linked.*LD_PRELOAD' \
	zpns_z "$ZPNET" check -c "$TMP/good.ini" -- "$TMP/static"
printf '#!%s\n' "$TMP/static" > "$TMP/script"
chmod +x "$TMP/script"
expect 1 'script runs under .*static, which is statically linked' \
	zpns_z "$ZPNET" check -c "$TMP/good.ini" -- "$TMP/script"
expect 1 'script runs under .*static, which is statically linked' \
	zpns_z "$ZPNET" run -c "$TMP/good.ini" -- "$TMP/script"
expect 0 'ok: [^ ]*/true loads zpnet' \
	zpns_z "$ZPNET" check -c "$TMP/good.ini" -- true
expect 0 'nosuchprogram: no such program' \
	zpns_z "$ZPNET" check -c "$TMP/good.ini" -- nosuchprogram
# the dynamic loader run as a program loads zpnet: not refused
expect 0 'ok: [^ ]*ld-linux[^ ]* loads zpnet' \
	zpns_z "$ZPNET" check -c "$TMP/good.ini" -- /lib64/ld-linux-x86-64.so.2
if zpns_z "$ZPNET" run -c "$TMP/good.ini" -- /bin/true 2>&1 | grep -q 'statically linked'; then
	fail "a dynamically linked program was called static"
else
	echo "ok: a dynamically linked program gets no static warning"
fi

[ $rc = 0 ] && echo PASS
exit $rc
