#!/usr/bin/env python3
"""ICMP errors as a UDP socket sees them (icmp_err.sh).

  icmp_err.py peer PORT SECONDS DEV
      On the far side: a UDP socket on PORT (v4 and v6) takes each
      datagram "CASE" and answers with the ICMP error CASE names, quoting
      the datagram as the sender's stack sent it, then with a datagram
      "done" from PORT (so the sender knows the error came first). A SYN
      seen on DEV to TCP_BASE + i gets TCP case i's errors (icmp_err.sh
      has the peer's kernel drop those SYNs, so it sends no RST).
  icmp_err.py client PEER PEER6 PORT
      For each case, a connected socket without IP_RECVERR and an
      unconnected one with IP_RECVERR (IPV6_RECVERR) send CASE, and a TCP
      connect() goes to each TCP case's port; prints what each saw and
      exits 1 unless it is what Linux's udp_err and tcp_v4_err give.
"""
import errno
import os
import select
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from csum_probe import csum  # noqa: E402  (the Internet checksum)

IP_RECVERR = 11
IPV6_RECVERR = 25
SO_EE_ORIGIN_ICMP, SO_EE_ORIGIN_ICMP6 = 2, 3
WAIT_S = 5.0

# case: (v6, type, code, info, extension header in the quote, bad sum),
# and what Linux hands out: the errno, and whether a connected socket
# gets it without IP_RECVERR ("hard")
CASES = {
    "net4":     ((False, 3, 0, 0, False, False), errno.ENETUNREACH, False),
    "host4":    ((False, 3, 1, 0, False, False), errno.EHOSTUNREACH, False),
    "proto4":   ((False, 3, 2, 0, False, False), errno.ENOPROTOOPT, True),
    "port4":    ((False, 3, 3, 0, False, False), errno.ECONNREFUSED, True),
    "frag4":    ((False, 3, 4, 1400, False, False), errno.EMSGSIZE, True),
    "filter4":  ((False, 3, 13, 0, False, False), errno.EHOSTUNREACH, True),
    "ttl4":     ((False, 11, 0, 0, False, False), errno.EHOSTUNREACH, False),
    "param4":   ((False, 12, 0, 20, False, False), errno.EPROTO, True),
    "badsum4":  ((False, 3, 3, 0, False, True), None, False),
    "route6":   ((True, 1, 0, 0, False, False), errno.ENETUNREACH, False),
    "admin6":   ((True, 1, 1, 0, False, False), errno.EACCES, True),
    "addr6":    ((True, 1, 3, 0, False, False), errno.EHOSTUNREACH, False),
    "port6":    ((True, 1, 4, 0, False, False), errno.ECONNREFUSED, True),
    "portext6": ((True, 1, 4, 0, True, False), errno.ECONNREFUSED, True),
    "big6":     ((True, 2, 0, 1280, False, False), errno.EMSGSIZE, True),
    "hops6":    ((True, 3, 0, 0, False, False), errno.EHOSTUNREACH, False),
    "param6":   ((True, 4, 0, 40, False, False), errno.EPROTO, True),
}


# TCP cases, one port each from TCP_BASE: a connect() whose SYN the peer
# answers with (v6, type, code) and what connect() says; "seq" cases first
# send the error in the first tuple quoting a sequence number no segment
# had (Linux ignores it), then the second
TCP_BASE = 9300
TCP_CASES = [
    ("tnet4", False, [(3, 0)], errno.ENETUNREACH),
    ("thost4", False, [(3, 1)], errno.EHOSTUNREACH),
    ("tport4", False, [(3, 3)], errno.ECONNREFUSED),
    ("tttl4", False, [(11, 0)], errno.EHOSTUNREACH),
    ("tseq4", False, [(3, 3), (3, 1)], errno.EHOSTUNREACH),
    ("troute6", True, [(1, 0)], errno.ENETUNREACH),
    ("tadmin6", True, [(1, 1)], errno.EACCES),
    ("tport6", True, [(1, 4)], errno.ECONNREFUSED),
    ("tseq6", True, [(1, 4), (1, 3)], errno.EHOSTUNREACH),
]
PACKET_OUTGOING = 4


def quote4(src, sport, dst, dport, payload):
    udp = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
    hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0, 64, 17, 0,
                      socket.inet_aton(src), socket.inet_aton(dst))
    hdr = hdr[:10] + struct.pack("!H", csum(hdr)) + hdr[12:]
    return hdr + udp


def quote6(src, sport, dst, dport, payload, ext):
    udp = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
    body = udp
    nxt = 17
    if ext:  # a destination-options header (PadN) before UDP
        body = struct.pack("!BBBB4x", 17, 0, 1, 4) + udp
        nxt = 60
    hdr = struct.pack("!IHBB16s16s", 6 << 28, len(body), nxt, 64,
                      socket.inet_pton(socket.AF_INET6, src),
                      socket.inet_pton(socket.AF_INET6, dst))
    return hdr + body


def answer_syn(frame, r4, r6, answered):
    """A SYN to a TCP case's port in frame: its ICMP errors, once."""
    etype = struct.unpack_from("!H", frame, 12)[0]
    ip = frame[14:]
    if etype == 0x0800 and len(ip) >= 20 and ip[9] == 6:
        l4, v6, src = ip[(ip[0] & 15) * 4:], False, socket.inet_ntop(socket.AF_INET, ip[12:16])
    elif etype == 0x86dd and len(ip) >= 40 and ip[6] == 6:
        l4, v6, src = ip[40:], True, socket.inet_ntop(socket.AF_INET6, ip[8:24])
    else:
        return
    if len(l4) < 14 or (l4[13] & 0x12) != 0x02:
        return  # not a SYN
    i = struct.unpack_from("!H", l4, 2)[0] - TCP_BASE
    conn = (src, struct.unpack_from("!H", l4, 0)[0], i)  # not its retries
    if not 0 <= i < len(TCP_CASES) or conn in answered:
        return
    answered.add(conn)
    _name, _v6, errs, _err = TCP_CASES[i]
    hlen = 20 if not v6 else 40
    for k, (typ, code) in enumerate(errs):
        quote = bytearray(ip[:hlen] + l4[:8])
        if k + 1 < len(errs):  # a sequence number no segment had
            seq = struct.unpack_from("!I", quote, hlen + 4)[0]
            struct.pack_into("!I", quote, hlen + 4, (seq + 100000) & 0xffffffff)
        msg = struct.pack("!BBHI", typ, code, 0, 0) + bytes(quote)
        if v6:
            r6.sendto(msg, (src, 0))
        else:
            msg = msg[:2] + struct.pack("!H", csum(msg)) + msg[4:]
            r4.sendto(msg, (src, 0))


def peer(port, seconds, dev):
    u4 = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u4.bind(("0.0.0.0", port))
    u6 = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    u6.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    u6.bind(("::", port))
    r4 = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    r6 = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
    pk = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))
    pk.bind((dev, 0))
    answered = set()
    print("ready", flush=True)
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        ready, _, _ = select.select([u4, u6, pk], [], [], 1.0)
        for s in ready:
            if s is pk:
                frame, where = pk.recvfrom(4096)
                if where[2] != PACKET_OUTGOING:
                    answer_syn(frame, r4, r6, answered)
                continue
            data, src = s.recvfrom(2048)
            name = data.decode(errors="replace")
            if name not in CASES:
                continue
            (v6, typ, code, info, ext, bad), _, _ = CASES[name]
            # the datagram went from src to our address on the way back
            local = socket.socket(s.family, socket.SOCK_DGRAM)
            local.connect(src)
            dst = local.getsockname()[0]
            local.close()
            if v6:
                q = quote6(src[0], src[1], dst, port, data, ext)
                msg = struct.pack("!BBHI", typ, code, 0, info) + q
                r6.sendto(msg, (src[0], 0))
            else:
                q = quote4(src[0], src[1], dst, port, data)
                word = info << 24 if typ == 12 else info
                msg = struct.pack("!BBHI", typ, code, 0, word) + q
                s_ = csum(msg) ^ (0x5555 if bad else 0)
                msg = msg[:2] + struct.pack("!H", s_) + msg[4:]
                r4.sendto(msg, (src[0], 0))
            s.sendto(b"done", src)


def wait_in(s):
    return select.select([s], [], [], WAIT_S)[0] != []


def connected_sees(name, peer_addr, v6):
    """What a connected socket without IP_RECVERR sees before "done"."""
    s = socket.socket(socket.AF_INET6 if v6 else socket.AF_INET, socket.SOCK_DGRAM)
    s.connect(peer_addr)
    s.send(name.encode())
    seen = "nothing"
    for _ in range(2):
        if not wait_in(s):
            seen = "no answer"
            break
        try:
            data = s.recv(64)
            if data == b"done":
                break
        except OSError as e:
            seen = errno.errorcode.get(e.errno, str(e.errno))
    s.close()
    return seen


def queued_sees(name, peer_addr, v6):
    """The error-queue entry of an unconnected socket with IP_RECVERR."""
    fam = socket.AF_INET6 if v6 else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_DGRAM)
    if v6:
        s.setsockopt(socket.IPPROTO_IPV6, IPV6_RECVERR, 1)
    else:
        s.setsockopt(socket.IPPROTO_IP, IP_RECVERR, 1)
    s.sendto(name.encode(), peer_addr)
    # the pending error, if any, then "done": the queue is final
    for _ in range(2):
        if not wait_in(s):
            break
        try:
            if s.recv(64) == b"done":
                break
        except OSError:
            pass
    got = None
    try:
        data, anc, flags, addr = s.recvmsg(64, 256, socket.MSG_ERRQUEUE)
    except BlockingIOError:
        anc = []
    for level, typ, cdata in anc:
        ee_errno, origin, etype, ecode, _pad, info, _data = struct.unpack_from("=IBBBBII", cdata)
        off = cdata[16:]
        if struct.unpack_from("=H", off)[0] == socket.AF_INET:
            who = socket.inet_ntop(socket.AF_INET, off[4:8])
        else:
            who = socket.inet_ntop(socket.AF_INET6, off[8:24])
        got = (level, typ, errno.errorcode.get(ee_errno, str(ee_errno)),
               origin, etype, ecode, info, who, data.decode(errors="replace"),
               addr[0], addr[1], bool(flags & socket.MSG_ERRQUEUE))
    s.close()
    return got


def client(peer4, peer6, port):
    bad = 0
    # as the kernel writes it back
    peer6 = socket.inet_ntop(socket.AF_INET6, socket.inet_pton(socket.AF_INET6, peer6))
    for name, ((v6, typ, code, info, _ext, _bad), err, hard) in CASES.items():
        peer_addr = (peer6, port) if v6 else (peer4, port)
        want_c = errno.errorcode[err] if (err is not None and hard) else "nothing"
        seen = connected_sees(name, peer_addr, v6)
        ok = seen == want_c
        bad += not ok
        print("%s %s connected, no IP_RECVERR: %s (want %s)" %
              ("ok" if ok else "FAIL", name, seen, want_c), flush=True)
        got = queued_sees(name, peer_addr, v6)
        if err is None:
            want_q = None
        else:
            want_q = ((socket.IPPROTO_IPV6, IPV6_RECVERR) if v6 else
                      (socket.IPPROTO_IP, IP_RECVERR)) + (
                errno.errorcode[err], SO_EE_ORIGIN_ICMP6 if v6 else SO_EE_ORIGIN_ICMP,
                typ, code, info, peer_addr[0], name, peer_addr[0], port, True)
        ok = got == want_q
        bad += not ok
        print("%s %s IP_RECVERR queue: %s%s" %
              ("ok" if ok else "FAIL", name, got, "" if ok else " (want %s)" % (want_q,)),
              flush=True)
    for i, (name, v6, _errs, err) in enumerate(TCP_CASES):
        s = socket.socket(socket.AF_INET6 if v6 else socket.AF_INET, socket.SOCK_STREAM)
        s.settimeout(20)
        try:
            s.connect(((peer6 if v6 else peer4), TCP_BASE + i))
            seen = "connected"
        except socket.timeout:
            seen = "timeout"
        except OSError as e:
            seen = errno.errorcode.get(e.errno, str(e.errno))
        s.close()
        ok = seen == errno.errorcode[err]
        bad += not ok
        print("%s %s TCP connect: %s (want %s)" %
              ("ok" if ok else "FAIL", name, seen, errno.errorcode[err]), flush=True)
    print("%d failed" % bad)
    return 1 if bad else 0


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "peer":
        peer(int(sys.argv[2]), float(sys.argv[3]), sys.argv[4])
    elif len(sys.argv) == 5 and sys.argv[1] == "client":
        sys.exit(client(sys.argv[2], sys.argv[3], int(sys.argv[4])))
    else:
        sys.exit(__doc__)
