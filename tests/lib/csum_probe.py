#!/usr/bin/env python3
"""UDP datagrams whose checksum a port's check cannot reach, good and bad.

usage: csum_probe.py SRC6 DST6 SRC4 DST4 PORT
From SRC to DST:PORT (a UDP echo), through raw sockets:
  v6-frag    an IPv6 datagram of 2,000 bytes in two fragments,
  v6-dstopt  an IPv6 datagram behind a destination-options header,
  v4-frag    an IPv4 datagram of 2,000 bytes in two fragments,
each once with its right UDP checksum and once with it off by one. Prints
one line per probe, "NAME good|bad echoed|silent", and exits 1 unless
every good one was echoed and no bad one was."""
import os
import select
import socket
import struct
import sys
import time

DATA = 2000


def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s >> 16) + (s & 0xffff)
    return ~s & 0xffff


def udp(src, dst, sport, dport, payload, v6, bad):
    length = 8 + len(payload)
    fam = socket.AF_INET6 if v6 else socket.AF_INET
    a, b = socket.inet_pton(fam, src), socket.inet_pton(fam, dst)
    if v6:
        pseudo = a + b + struct.pack("!I3xB", length, socket.IPPROTO_UDP)
    else:
        pseudo = a + b + struct.pack("!BBH", 0, socket.IPPROTO_UDP, length)
    hdr = struct.pack("!HHHH", sport, dport, length, 0)
    c = csum(pseudo + hdr + payload) or 0xffff
    if bad:
        c = c + 1 if c < 0xfffe else 1
    return struct.pack("!HHHH", sport, dport, length, c) + payload


def ip6(src, dst, nxt, body):
    return struct.pack("!IHBB16s16s", 6 << 28, len(body), nxt, 64,
                       socket.inet_pton(socket.AF_INET6, src),
                       socket.inet_pton(socket.AF_INET6, dst)) + body


def ip4(src, dst, ident, frag, body):
    h = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(body), ident, frag, 64,
                    socket.IPPROTO_UDP, 0, socket.inet_aton(src),
                    socket.inet_aton(dst))
    return h[:10] + struct.pack("!H", csum(h)) + h[12:] + body


def v6_frag(src, dst, dgram, ident):
    cut = 1232  # a multiple of 8
    f1 = struct.pack("!BBHI", socket.IPPROTO_UDP, 0, 1, ident) + dgram[:cut]
    f2 = struct.pack("!BBHI", socket.IPPROTO_UDP, 0, cut, ident) + dgram[cut:]
    return [ip6(src, dst, 44, f1), ip6(src, dst, 44, f2)]


def v6_dstopt(src, dst, dgram, ident):
    opts = struct.pack("!BB", socket.IPPROTO_UDP, 0) + b"\x01\x04\0\0\0\0"
    return [ip6(src, dst, 60, opts + dgram[:900])]


def v4_frag(src, dst, dgram, ident):
    cut = 1480
    return [ip4(src, dst, ident, 0x2000, dgram[:cut]),
            ip4(src, dst, ident, cut // 8, dgram[cut:])]


def main():
    if len(sys.argv) != 6:
        sys.exit(__doc__)
    src6, dst6, src4, dst4, port = sys.argv[1:5] + [int(sys.argv[5])]
    raw6 = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_RAW)
    raw4 = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    ok = True
    ident = 0x5000 + os.getpid() % 0x1000
    for name, make, v6 in (("v6-frag", v6_frag, True),
                           ("v6-dstopt", v6_dstopt, True),
                           ("v4-frag", v4_frag, False)):
        for bad in (False, True):
            fam = socket.AF_INET6 if v6 else socket.AF_INET
            src, dst = (src6, dst6) if v6 else (src4, dst4)
            rx = socket.socket(fam, socket.SOCK_DGRAM)
            rx.bind((src, 0))
            sport = rx.getsockname()[1]
            payload = (name + (" bad " if bad else " good ")).encode()
            payload += bytes(i & 0xff for i in range(DATA - len(payload)))
            if make is v6_dstopt:
                payload = payload[:892]
            dgram = udp(src, dst, sport, port, payload, v6, bad)
            ident += 1
            echoed = False
            for _ in range(3):  # a lost frame is retried; a reply ends it
                for pkt in make(src, dst, dgram, ident):
                    (raw6 if v6 else raw4).sendto(pkt, (dst, 0))
                if select.select([rx], [], [], 0.5)[0]:
                    echoed = rx.recv(65536) == payload
                    break
            rx.close()
            print("%s %s %s" % (name, "bad" if bad else "good",
                                "echoed" if echoed else "silent"), flush=True)
            if echoed == bad:
                ok = False
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
