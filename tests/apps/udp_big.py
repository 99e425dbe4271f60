#!/usr/bin/env python3
"""UDP datagrams larger than the MTU, over IPv4 and IPv6.

server PORT SECONDS PEER4 PEER6 MAX6: first checks its own stack's limits
  (a datagram of the largest size to PEER4/PEER6 is sent, one byte more
  fails with EMSGSIZE; IPv4 65,507, IPv6 MAX6), then echoes every datagram
  on PORT, IPv4 and IPv6, for SECONDS.
client ADDR4 ADDR6 PORT MAX6: sends datagrams of sizes from just past one
  frame to the largest (IPv4 65,507 bytes; IPv6 MAX6: Linux's 65,527, the
  payload length leaving out the 40-byte header, or the 65,487 of a stack
  whose whole packet fits 64 KiB), each with its own random bytes, and
  checks that each comes back byte-exact (the sender fragments, the
  receiver reassembles: both ways). Prints one line per size; exits 1 on
  the first failure."""
import errno
import os
import select
import signal
import socket
import sys
import time

MAX4 = 65507
SIZES4 = [1473, 2000, 2961, 4000, 8972, 16384, 32768, 65000, MAX4]
SIZES6 = [1453, 2000, 2961, 4000, 8952, 16384, 32768, 65487]
TRIES = 3


def limits(peer4, peer6, max6):
    """The largest datagram goes out, one byte more is EMSGSIZE."""
    ok = True
    for family, peer, most in ((socket.AF_INET, peer4, MAX4),
                               (socket.AF_INET6, peer6, max6)):
        name = "IPv4" if family == socket.AF_INET else "IPv6"
        s = socket.socket(family, socket.SOCK_DGRAM)
        dst = (peer, 9)  # discard: nobody needs to listen; not connected,
        try:             # so that an ICMP error is never reported here
            s.sendto(b"x" * most, dst)
            r = "sent"
        except OSError as e:
            r = errno.errorcode.get(e.errno, str(e.errno))
            ok = False
        print("limit %s %d bytes: %s" % (name, most, r), flush=True)
        try:
            s.sendto(b"x" * (most + 1), dst)
            r = "sent, Linux says EMSGSIZE"
            ok = False
        except OSError as e:
            r = errno.errorcode.get(e.errno, str(e.errno))
            ok = ok and e.errno == errno.EMSGSIZE
        print("limit %s %d bytes: %s" % (name, most + 1, r), flush=True)
        s.close()
    return ok


def serve(port, seconds, peer4, peer6, max6):
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # a normal exit
    if not limits(peer4, peer6, max6):
        print("limits wrong", flush=True)
        return 1
    s4 = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s4.bind(("0.0.0.0", port))
    s6 = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    s6.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    s6.bind(("::", port))
    print("ready", flush=True)
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        ready, _, _ = select.select([s4, s6], [], [], 1.0)
        for s in ready:
            data, peer = s.recvfrom(65535)
            s.sendto(data, peer)
    return 0


def echo(family, addr, port, size):
    s = socket.socket(family, socket.SOCK_DGRAM)
    s.settimeout(1.0)
    s.connect((addr, port))
    data = os.urandom(size)
    for _ in range(TRIES):  # UDP: a lost fragment loses the datagram
        s.send(data)
        try:
            got = s.recv(65535)
        except socket.timeout:
            continue
        s.close()
        return "ok" if got == data else "differs (%d bytes back)" % len(got)
    s.close()
    return "no answer in %d tries" % TRIES


def client(addr4, addr6, port, max6):
    sizes6 = sorted(set(SIZES6 + [max6]))
    for family, addr, sizes in ((socket.AF_INET, addr4, SIZES4),
                                (socket.AF_INET6, addr6, sizes6)):
        name = "IPv4" if family == socket.AF_INET else "IPv6"
        for size in sizes:
            r = echo(family, addr, port, size)
            print("%s %d bytes: %s" % (name, size, r), flush=True)
            if r != "ok":
                return 1
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 7 and sys.argv[1] == "server":
        sys.exit(serve(int(sys.argv[2]), int(sys.argv[3]), sys.argv[4],
                       sys.argv[5], int(sys.argv[6])))
    elif len(sys.argv) == 6 and sys.argv[1] == "client":
        sys.exit(client(sys.argv[2], sys.argv[3], int(sys.argv[4]),
                        int(sys.argv[5])))
    else:
        sys.exit(__doc__)
