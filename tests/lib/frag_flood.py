#!/usr/bin/env python3
"""Incomplete fragmented datagrams: the first fragment of each, never the rest.

usage: frag_flood.py 4|6 SRC DST COUNT
Sends COUNT first fragments (more-fragments set, offset 0, each its own
identification) of 3,000-byte UDP datagrams from SRC to DST through a raw
socket, so that the receiver holds COUNT reassemblies that never complete.
Paced in bursts (BURST). Prints how many were sent; exits 1 if a send fails."""
import socket
import struct
import sys
import time

FRAG_DATA = 1448  # bytes of the datagram each first fragment carries (x8)
CLAIMED = 3000    # the UDP length the fragments claim
# A pause after each burst of this many: the receiver's RX ring (1,024
# frames) must not overflow while its poller is not running (2 vCPUs, a
# loaded machine), or the flood would not reach the reassembly at all.
BURST = 64
PAUSE_S = 0.002


def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    s = (s >> 16) + (s & 0xffff)
    s += s >> 16
    return ~s & 0xffff


def first_fragment4(src, dst, ident):
    udp = struct.pack("!HHHH", 40000, 9, CLAIMED, 0) + b"\xa5" * (FRAG_DATA - 8)
    hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), ident & 0xffff,
                      0x2000, 64, socket.IPPROTO_UDP, 0,
                      socket.inet_aton(src), socket.inet_aton(dst))
    hdr = hdr[:10] + struct.pack("!H", csum(hdr)) + hdr[12:]
    return hdr + udp


def first_fragment6(src, dst, ident):
    udp = struct.pack("!HHHH", 40000, 9, CLAIMED, 0) + b"\xa5" * (FRAG_DATA - 8)
    frag = struct.pack("!BBHI", socket.IPPROTO_UDP, 0, 1, ident)  # offset 0, M
    hdr = struct.pack("!IHBB16s16s", 6 << 28, len(frag) + len(udp), 44, 64,
                      socket.inet_pton(socket.AF_INET6, src),
                      socket.inet_pton(socket.AF_INET6, dst))
    return hdr + frag + udp


def main():
    if len(sys.argv) != 5 or sys.argv[1] not in ("4", "6"):
        sys.exit(__doc__)
    v6 = sys.argv[1] == "6"
    src, dst, count = sys.argv[2], sys.argv[3], int(sys.argv[4])
    family = socket.AF_INET6 if v6 else socket.AF_INET
    # IPPROTO_RAW: the header is ours (IP_HDRINCL, and IPv6's equivalent)
    s = socket.socket(family, socket.SOCK_RAW, socket.IPPROTO_RAW)
    make = first_fragment6 if v6 else first_fragment4
    for i in range(count):
        s.sendto(make(src, dst, 0x10000 + i), (dst, 0))
        if i % BURST == BURST - 1:
            time.sleep(PAUSE_S)
    print("sent %d incomplete datagrams to %s" % (count, dst))


if __name__ == "__main__":
    main()
