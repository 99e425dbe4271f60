#!/usr/bin/env python3
"""ICMP errors as a UDP socket sees them (icmp_err.sh).

  icmp_err.py peer PORT SECONDS DEV
      On the far side: a UDP socket on PORT (v4 and v6) takes each
      datagram "CASE" and answers with the ICMP error CASE names, quoting
      the datagram as the sender's stack sent it, then with a datagram
      "done" from PORT (so the sender knows the error came first). A SYN
      seen on DEV to TCP_BASE + i gets TCP case i's errors (icmp_err.sh
      has the peer's kernel drop those SYNs, so it sends no RST). On
      EST_BASE + i it accepts connections; the first data segment seen
      there (which its kernel never gets: icmp_err.sh drops it) gets
      established case i's error, then "done", or for a path-MTU case the
      peer watches the segment being sent again and sends its verdict. A
      datagram "L" + a listener case's name: the peer opens a connection
      to the client's listener by hand (icmp_err.sh has its kernel drop
      the answers), sends the error about the SYN-ACK, then the ACK, and
      answers "done rst" or "done -" (the ACK got a RST, or not). On
      UDP_MTU_DST: "umtu" gets "fragmentation needed" (UDP_MTU), then
      "done"; "ubig..." gets its length and the largest fragment it came
      in. The IPv4 DF bit of each UDP datagram (or first fragment) whose
      data begins "dfq " and of each TCP segment to DF_TCP_PORT whose
      data begins "dft " is noted by that data, and of each SYN|ACK from
      DF_SYN_BASE + i as "syn PORT", of an echo reply to DF_PING_ID as
      "ping"; a datagram "dfask DATA" gets "df 1", "df 0" or "df none"
      back, one "dfsyn PORT" a connection to the sender's PORT and
      "connected", "dfping" an echo request with DF to the sender and
      "sent".
  icmp_err.py client PEER PEER6 PORT
      For each case, a connected socket without IP_RECVERR and an
      unconnected one with IP_RECVERR (IPV6_RECVERR) send CASE, a TCP
      connect() goes to each TCP case's port, a connection to each
      established case's sends data, and a listener on each listener
      case's port waits for the peer's, a socket connected to
      UDP_MTU_DST learns its path MTU, and a UDP socket and a TCP
      connection under each IP_MTU_DISCOVER policy send "dfq"/"dft" data;
      prints what each saw and exits 1 unless it is what Linux's udp_err,
      tcp_v4_err and tcp_v6_err give, and the DF bit Linux's
      __ip_make_skb (UDP) and ip_queue_xmit (TCP) set.
"""
import errno
import fcntl
import os
import select
import socket
import struct
import sys
import termios
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from csum_probe import csum  # noqa: E402  (the Internet checksum)

IP_RECVERR = 11
IPV6_RECVERR = 25
IP_MTU_DISCOVER, IP_MTU, IP_PMTUDISC_DO = 10, 14, 2
SO_EE_ORIGIN_ICMP, SO_EE_ORIGIN_ICMP6 = 2, 3
WAIT_S = 5.0
DF_TCP_PORT = 9600  # the DF cases' TCP listener (no nft rule)
DF_SYN_BASE = 9610  # the client's listeners whose SYN|ACK the peer reads
DF_PING_ID = 0x6466  # the id of the peer's echo request with DF

# case: (v6, type, code, info, extension header in the quote, how it is
# sent: "" as it should be, "badsum" with a bad sum, "bcast" to the
# subnet's broadcast address, which Linux ignores),
# and what Linux hands out: the errno, and whether a connected socket
# gets it without IP_RECVERR ("hard")
CASES = {
    "net4":     ((False, 3, 0, 0, False, ""), errno.ENETUNREACH, False),
    "host4":    ((False, 3, 1, 0, False, ""), errno.EHOSTUNREACH, False),
    "proto4":   ((False, 3, 2, 0, False, ""), errno.ENOPROTOOPT, True),
    "port4":    ((False, 3, 3, 0, False, ""), errno.ECONNREFUSED, True),
    "frag4":    ((False, 3, 4, 1400, False, ""), errno.EMSGSIZE, True),
    "filter4":  ((False, 3, 13, 0, False, ""), errno.EHOSTUNREACH, True),
    "ttl4":     ((False, 11, 0, 0, False, ""), errno.EHOSTUNREACH, False),
    "param4":   ((False, 12, 0, 20, False, ""), errno.EPROTO, True),
    "badsum4":  ((False, 3, 3, 0, False, "badsum"), None, False),
    "bcast4":   ((False, 3, 3, 0, False, "bcast"), None, False),
    "route6":   ((True, 1, 0, 0, False, ""), errno.ENETUNREACH, False),
    "admin6":   ((True, 1, 1, 0, False, ""), errno.EACCES, True),
    "addr6":    ((True, 1, 3, 7, False, ""), errno.EHOSTUNREACH, False),
    "port6":    ((True, 1, 4, 0, False, ""), errno.ECONNREFUSED, True),
    "portext6": ((True, 1, 4, 0, True, ""), errno.ECONNREFUSED, True),
    "big6":     ((True, 2, 0, 1280, False, ""), errno.EMSGSIZE, True),
    "tiny6":    ((True, 2, 0, 1000, False, ""), errno.EMSGSIZE, True),
    "hops6":    ((True, 3, 0, 9, False, ""), errno.EHOSTUNREACH, False),
    "param6":   ((True, 4, 0, 40, False, ""), errno.EPROTO, True),
}
# (an ICMPv6 error's unused word, as addr6's and hops6's, is ee_info all the
# same: Linux's icmpv6_notify passes it on)

# The UDP path-MTU case: a datagram "umtu" to MTU_DST gets "fragmentation
# needed" with this MTU, then "done" from MTU_DST; "ubig..." there gets
# "big N", N the largest IPv4 fragment that came from its sender since
UDP_MTU_DST, UDP_MTU = "198.18.0.103", 1000


# TCP cases, one port each from TCP_BASE: a connect() whose SYN the peer
# answers with (v6, type, code) and what connect() says; "seq" cases first
# send the error in the first tuple quoting a sequence number no segment
# had (Linux ignores it), then the second
TCP_BASE = 9300
# (the last: the socket has IP_RECVERR, and the error is in its queue)
TCP_CASES = [
    ("tnet4", False, [(3, 0)], errno.ENETUNREACH, False),
    ("thost4", False, [(3, 1)], errno.EHOSTUNREACH, False),
    ("tport4", False, [(3, 3)], errno.ECONNREFUSED, False),
    ("tttl4", False, [(11, 0)], errno.EHOSTUNREACH, False),
    ("tseq4", False, [(3, 3), (3, 1)], errno.EHOSTUNREACH, False),
    ("troute6", True, [(1, 0)], errno.ENETUNREACH, False),
    ("tadmin6", True, [(1, 1)], errno.EACCES, False),
    ("tport6", True, [(1, 4)], errno.ECONNREFUSED, False),
    ("tseq6", True, [(1, 4), (1, 3)], errno.EHOSTUNREACH, False),
    ("tqueue4", False, [(3, 3)], errno.ECONNREFUSED, True),
    ("tqueue6", True, [(1, 4)], errno.ECONNREFUSED, True),
]

# Established connections, one port each from EST_BASE: (name, v6, the
# socket's IP_RECVERR or IPV6_RECVERR, the error (type, code, info) the
# first data segment gets, an offset to its quoted sequence number, what
# is checked, what Linux gives; for path-MTU cases the address to connect
# to, one each: the kernel keeps a path MTU per destination).
#   "next": the peer sends "done" after the error; the client reads
#       "done", then twice without waiting, then SO_ERROR, then the error
#       queue (Linux: only a SYN-SENT socket queues TCP errors);
#   "timeout": TCP_USER_TIMEOUT of 1 s, nothing acknowledged: the
#       connection's end reports the soft error instead of ETIMEDOUT;
#   "mtu": the client writes 1,400 bytes; the peer checks that they are
#       sent again at once in packets of at most the MTU, past the floor
#       (Linux takes an IPv4 MTU under 552 as 552, ignores an IPv6 one
#       under 1,280), and sends "ok" or what it saw; with no error, a new
#       connection to a destination whose path MTU an earlier case taught:
#       its first packets already fit; or, on the main address, a write of
#       2,000 bytes: Nagle as Linux's (Minshall's) sends its tail at once,
#       while the full segment before it is unacknowledged;
#   naglerelease4 writes 100 bytes (let through and acknowledged), then
#       at once 2,000: their tail, held while the 100 were in flight, goes
#       once they are acknowledged, the full segment before it never;
#   "hold": 2,000 bytes, then 100 more 0.3 s later: the 2,000 are sent,
#       the 100 held while the small tail before them is unacknowledged
#       (for 1.5 s: nothing is ever acknowledged).
EST_BASE = 9400
EST_CASES = [
    ("erecverr4", False, True, (3, 1, 0), 0, "next", "done EHOSTUNREACH EAGAIN 0 EAGAIN", None),
    ("erecverr6", True, True, (1, 3, 0), 0, "next", "done EHOSTUNREACH EAGAIN 0 EAGAIN", None),
    ("eseq4", False, True, (3, 1, 0), 100000, "next", "done EAGAIN EAGAIN 0 EAGAIN", None),
    ("eseq6", True, True, (1, 4, 0), 100000, "next", "done EAGAIN EAGAIN 0 EAGAIN", None),
    ("esoft4", False, False, (3, 3, 0), 0, "next", "done EAGAIN EAGAIN 0 EAGAIN", None),
    ("etimeout4", False, False, (3, 1, 0), 0, "timeout", "EHOSTUNREACH", None),
    ("etimeout6", True, False, (1, 4, 0), 0, "timeout", "ECONNREFUSED", None),
    ("pmtu4", False, False, (3, 4, 1000), 0, "mtu", "ok", "198.18.0.101"),
    ("pmtumin4", False, False, (3, 4, 300), 0, "mtu", "ok", "198.18.0.102"),
    ("pmtu6", True, False, (2, 0, 1280), 0, "mtu", "ok", "2001:2::101"),
    ("pmtumin6", True, False, (2, 0, 1000), 0, "mtu", "ok", "2001:2::102"),
    ("pmtunew4", False, False, None, 0, "mtu", "ok", "198.18.0.101"),
    ("pmtunew6", True, False, None, 0, "mtu", "ok", "2001:2::101"),
    ("nagle4", False, False, None, 0, "mtu", "ok", None),
    ("nagle6", True, False, None, 0, "mtu", "ok", None),
    ("naglehold4", False, False, None, 0, "hold", "ok", None),
    ("naglerelease4", False, False, None, 0, "mtu", "ok", None),
]
# Listener cases, one port each from LST_BASE: the client listens there
# and asks the peer (a datagram "L" + name) to open a connection by hand:
# a crafted SYN, whose SYN-ACK gets the ICMP error (v6, type, code) quoting
# its sequence number plus an offset, then the ACK. Linux drops a request
# (tcp_req_err) on a fatal error about its SYN-ACK's own number: for IPv4
# net or host unreachable, time exceeded and parameter problem (not port
# unreachable), for IPv6 icmpv6_err_convert's fatal ones; the ACK then gets
# a RST and accept() nothing. Anything else leaves the request, and the
# ACK completes it; so does an error quoting the number after the SYN-ACK's
# (in flight, but not the request's). (name, v6, (type, code), offset,
# dropped)
LST_BASE = 9500
LST_CASES = [
    ("lnet4", False, (3, 0), 0, True),
    ("lhost4", False, (3, 1), 0, True),
    ("lport4", False, (3, 3), 0, False),
    ("lttl4", False, (11, 0), 0, True),
    ("lparam4", False, (12, 0), 0, True),
    ("lseq4", False, (3, 1), 1, False),
    ("lroute6", True, (1, 0), 0, False),
    ("ladmin6", True, (1, 1), 0, True),
    ("lport6", True, (1, 4), 0, True),
    ("lhops6", True, (3, 0), 0, False),
    ("lparam6", True, (4, 0), 0, True),
    ("lseq6", True, (1, 4), 1, False),
]
LST_NAMES = {c[0]: i for i, c in enumerate(LST_CASES)}
LST_WAIT_S = 2.0  # for the SYN-ACK
LST_RST_S = 0.5  # for a RST to the ACK
TH_FIN, TH_SYN, TH_RST, TH_ACK = 0x01, 0x02, 0x04, 0x10
IPV6_CHECKSUM = 7
EST_BIG = 1400  # bytes a path-MTU case writes: one segment on a 1,500 link
EST_SMALL = 500
# the packets each path-MTU case may see: at most, and more than
EST_MTU_LIMITS = {"pmtu4": (1000, 0), "pmtumin4": (552, 300),
                  "pmtu6": (1280, 0), "pmtumin6": (1500, EST_BIG),
                  "pmtunew4": (1000, 0), "pmtunew6": (1280, 0),
                  "nagle4": (1500, 0), "nagle6": (1500, 0), "naglerelease4": (1500, 0)}
# bytes written (others: EST_BIG), the first EST_PRE of them in a write
# of their own
EST_WRITE = {"nagle4": 2000, "nagle6": 2000, "naglehold4": 2000, "naglerelease4": 2100}
EST_PRE = {"naglerelease4": 100}
EST_HOLD_MORE, EST_HOLD_S = 100, 1.5
EST_RESEND_S = {"pmtumin6": 8.0}  # sent again on its RTO only
PACKET_OUTGOING = 4
SOL_PACKET, PACKET_VNET_HDR, VNET_HDR_LEN = 263, 15, 10
TCP_USER_TIMEOUT = 18


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


class Seg:
    """A TCP segment in a frame of the peer's packet socket (a
    virtio_net_hdr, then Ethernet; IPv4 or IPv6, no extension headers):
    its IP and TCP headers, addresses, ports, sequence number, flags,
    payload length, IP packet length, and the largest packet it makes on
    a wire (a veth passes the kernel's GSO frames on whole: a frame may be
    the segments of gso_size bytes a NIC would send)."""

    def __init__(self, frame):
        self.ok = False
        _flags, gso_type, _hlen, gso_size = struct.unpack_from("=BBHH", frame, 0)
        frame = frame[VNET_HDR_LEN:]
        etype = struct.unpack_from("!H", frame, 12)[0]
        ip = frame[14:]
        if etype == 0x0800 and len(ip) >= 20 and ip[9] == 6:
            hlen = (ip[0] & 15) * 4
            self.v6, self.plen = False, struct.unpack_from("!H", ip, 2)[0]
            self.src = socket.inet_ntop(socket.AF_INET, ip[12:16])
        elif etype == 0x86dd and len(ip) >= 40 and ip[6] == 6:
            hlen = 40
            self.v6, self.plen = True, 40 + struct.unpack_from("!H", ip, 4)[0]
            self.src = socket.inet_ntop(socket.AF_INET6, ip[8:24])
        else:
            return
        l4 = ip[hlen:]
        if len(l4) < 20:
            return
        self.ip, self.l4 = ip[:hlen], l4
        self.sport, self.dport, self.seq = struct.unpack_from("!HHI", l4, 0)
        self.flags = l4[13]
        self.data_len = self.plen - hlen - (l4[12] >> 4) * 4
        self.wire_len = self.plen
        if gso_type != 0 and gso_size < self.data_len:
            self.wire_len = self.plen - self.data_len + gso_size
        self.ok = True


def send_error(r4, r6, seg, typ, code, info, seq_off=0):
    """An ICMP or ICMPv6 error quoting seg's IP header and first 8 bytes
    of TCP (sequence number plus seq_off), to its sender."""
    quote = bytearray(seg.ip + seg.l4[:8])
    hlen = len(seg.ip)
    struct.pack_into("!I", quote, hlen + 4, (seg.seq + seq_off) & 0xffffffff)
    msg = struct.pack("!BBHI", typ, code, 0, info) + bytes(quote)
    if seg.v6:
        r6.sendto(msg, (seg.src, 0))
    else:
        msg = msg[:2] + struct.pack("!H", csum(msg)) + msg[4:]
        r4.sendto(msg, (seg.src, 0))


def answer_syn(seg, r4, r6, answered):
    """A SYN to a TCP case's port: its ICMP errors, once."""
    if (seg.flags & 0x12) != 0x02:
        return  # not a SYN
    i = seg.dport - TCP_BASE
    conn = (seg.src, seg.sport, i, seg.seq)  # not its retries
    if not 0 <= i < len(TCP_CASES) or conn in answered:
        return
    answered.add(conn)
    errs = TCP_CASES[i][2]
    for k, (typ, code) in enumerate(errs):
        # all but the last quote a sequence number no segment had
        send_error(r4, r6, seg, typ, code, 0, 100000 if k + 1 < len(errs) else 0)


def accepted(listeners, conns, seg):
    """The peer's socket of seg's connection (accepted now if need be)."""
    key = (seg.src, seg.sport)
    end = time.monotonic() + 2.0
    while key not in conns and time.monotonic() < end:
        lsock = listeners[(seg.dport, seg.v6)]
        if select.select([lsock], [], [], 0.1)[0]:
            c, addr = lsock.accept()
            conns[(addr[0], addr[1])] = c
    return conns.get(key)


def watch_resend(pk, first, total, limit, floor, seconds, again=True, hold=False):
    """After a path-MTU error about segment first: the total bytes from
    its sequence number must be seen (again, or from first on) in packets
    of more than floor and at most limit bytes; hold: watched for all of
    seconds, and no byte past them."""
    want = set(range(first.seq, first.seq + total))
    if not again:
        if not floor < first.wire_len <= limit:
            return "a %d-byte packet (want %d to %d)" % (first.wire_len, floor + 1, limit)
        want -= set(range(first.seq, first.seq + first.data_len))
    end = time.monotonic() + seconds
    while (want or hold) and time.monotonic() < end:
        if not select.select([pk], [], [], max(0.0, end - time.monotonic()))[0]:
            break
        frame, where = pk.recvfrom(65536)
        seg = Seg(frame)
        if (where[2] == PACKET_OUTGOING or not seg.ok or seg.data_len <= 0 or
                (seg.src, seg.sport) != (first.src, first.sport)):
            continue
        if not floor < seg.wire_len <= limit:
            return "a %d-byte packet (want %d to %d)" % (seg.wire_len, floor + 1, limit)
        if hold and (seg.seq + seg.data_len - first.seq) & 0xffffffff > total:
            return "bytes past the first %d were sent: not held" % total
        want -= set(range(seg.seq, seg.seq + seg.data_len))
    if not want:
        return "ok"
    return "%d bytes not sent again in %.0f s" % (len(want), seconds)


def answer_data(seg, r4, r6, pk, listeners, conns, answered, isns):
    """The first data segment of an established case's connection: its
    error, then "done" or the path-MTU verdict."""
    i = seg.dport - EST_BASE
    if not 0 <= i < len(EST_CASES):
        return
    # a connection: its addresses and its SYN's number (one that reuses a
    # port of the kernel's run is another)
    conn = (seg.src, seg.sport, seg.dport)
    if (seg.flags & 0x12) == 0x02:
        isns[conn] = seg.seq
        return
    conn += (isns.get(conn),)
    if seg.data_len <= 0 or conn in answered:
        return
    answered.add(conn)
    name, _v6, _recverr, error, seq_off, check, _want, _dst = EST_CASES[i]
    c = accepted(listeners, conns, seg)
    if error is not None:
        send_error(r4, r6, seg, *error, seq_off)
    if check == "mtu":
        limit, floor = EST_MTU_LIMITS[name]
        verdict = watch_resend(pk, seg, EST_WRITE.get(name, EST_BIG), limit, floor,
                               EST_RESEND_S.get(name, 3.0), error is not None)
    elif check == "hold":
        verdict = watch_resend(pk, seg, EST_WRITE[name], 1500, 0, EST_HOLD_S,
                               False, True)
    else:
        time.sleep(0.02)  # the error first
        verdict = "done" if check == "next" else None
    if verdict is not None and c is not None:
        c.sendall(verdict.encode())


def tcp_segment(v6, src, dst, sport, dport, seq, ack, flags):
    """A bare TCP header (no options, window 65535); for IPv4 with its sum
    (an IPv6 raw socket fills it: IPV6_CHECKSUM)."""
    th = struct.pack("!HHIIBBHHH", sport, dport, seq & 0xffffffff, ack & 0xffffffff,
                     5 << 4, flags, 65535, 0, 0)
    if v6:
        return th
    pseudo = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack("!BBH", 0, 6, len(th))
    return th[:16] + struct.pack("!H", csum(pseudo + th)) + th[18:]


def wait_seg(pk, src, sport, dport, want, seconds):
    """The first frame from src:sport to dport whose flags have all of
    want, within seconds (a Seg), or None."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if not select.select([pk], [], [], max(0.0, end - time.monotonic()))[0]:
            break
        frame, where = pk.recvfrom(65536)
        seg = Seg(frame)
        if (where[2] != PACKET_OUTGOING and seg.ok and seg.src == src and
                seg.sport == sport and seg.dport == dport and
                (seg.flags & want) == want):
            return seg
    return None


def answer_listener(name, client, local, pk, r4, r6, t4, t6):
    """A listener case: SYN to the client's listener, the error about its
    SYN-ACK, the ACK; "rst" if the client's stack answered it with a RST,
    "-" if not, "no SYN-ACK"."""
    _name, v6, (typ, code), seq_off, _dropped = LST_CASES[LST_NAMES[name]]
    dport = LST_BASE + LST_NAMES[name]
    sport = 40000 + int.from_bytes(os.urandom(2), "big") % 20000
    isn = int.from_bytes(os.urandom(4), "big")
    t = t6 if v6 else t4
    t.sendto(tcp_segment(v6, local, client, sport, dport, isn, 0, TH_SYN), (client, 0))
    synack = wait_seg(pk, client, dport, sport, TH_SYN | TH_ACK, LST_WAIT_S)
    if synack is None:
        return "no SYN-ACK"
    send_error(r4, r6, synack, typ, code, 0, seq_off)
    time.sleep(0.2)  # the error first
    t.sendto(tcp_segment(v6, local, client, sport, dport, isn + 1, synack.seq + 1,
                         TH_ACK), (client, 0))
    return "rst" if wait_seg(pk, client, dport, sport, TH_RST, LST_RST_S) else "-"


def peer(port, seconds, dev):
    u4 = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u4.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # and um, below
    u4.bind(("0.0.0.0", port))
    u6 = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    u6.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    u6.bind(("::", port))
    r4 = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    r6 = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
    pk = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))
    pk.setsockopt(SOL_PACKET, PACKET_VNET_HDR, 1)
    pk.bind((dev, 0))
    r4.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
    # the listener cases' handshakes, by hand
    t4 = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_TCP)
    t6 = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_TCP)
    t6.setsockopt(socket.IPPROTO_IPV6, IPV6_CHECKSUM, 16)
    um = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    um.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    um.bind((UDP_MTU_DST, port))  # its datagrams: the more specific bind
    frag_max, df_seen = {}, {}
    dft = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    dft.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    dft.bind(("0.0.0.0", DF_TCP_PORT))
    dft.listen(8)
    df_conns = []
    listeners, conns = {}, {}
    for i, (_name, v6, *_rest) in enumerate(EST_CASES):
        lsock = socket.socket(socket.AF_INET6 if v6 else socket.AF_INET, socket.SOCK_STREAM)
        if v6:
            lsock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        lsock.bind(("::" if v6 else "0.0.0.0", EST_BASE + i))
        lsock.listen(8)
        listeners[(EST_BASE + i, v6)] = lsock
    answered, data_answered, isns = set(), set(), {}
    print("ready", flush=True)
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        ready, _, _ = select.select([u4, u6, um, pk, dft] + df_conns, [], [], 1.0)
        # the packet socket first: a datagram's fragments reach it before
        # the datagram reaches its socket
        for s in sorted(ready, key=lambda r: r is not pk):
            if s is pk:  # every frame it holds
                while True:
                    try:
                        frame, where = pk.recvfrom(65536, socket.MSG_DONTWAIT)
                    except BlockingIOError:
                        break
                    note_fragment(frame, where, frag_max)
                    note_df(frame, where, df_seen)
                    seg = Seg(frame)
                    if where[2] != PACKET_OUTGOING and seg.ok:
                        answer_syn(seg, r4, r6, answered)
                        answer_data(seg, r4, r6, pk, listeners, conns, data_answered, isns)
                continue
            if s is dft:
                df_conns.append(dft.accept()[0])
                continue
            if s in df_conns:  # what the client's connections send: away
                if not s.recv(4096):
                    df_conns.remove(s)
                    s.close()
                continue
            data, src = s.recvfrom(4096)
            if data.startswith(b"dfask "):
                # once: the zpnet run never reads the kernel run's
                s.sendto(b"df " + df_seen.pop(data[6:], b"none"), src)
                continue
            if data == b"dfping":  # an echo request with DF to the sender
                with socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP) as p:
                    p.setsockopt(socket.IPPROTO_IP, IP_MTU_DISCOVER, IP_PMTUDISC_DO)
                    msg = struct.pack("!BBHHH", 8, 0, 0, DF_PING_ID, 1) + b"df" * 16
                    msg = msg[:2] + struct.pack("!H", csum(msg)) + msg[4:]
                    p.sendto(msg, (src[0], 0))
                s.sendto(b"sent", src)
                continue
            if data.startswith(b"dfsyn "):  # a connection to the client's listener
                try:
                    socket.create_connection((src[0], int(data[6:])), timeout=WAIT_S).close()
                    s.sendto(b"connected", src)
                except OSError as e:
                    s.sendto(str(e).encode()[:60], src)
                continue
            if s is um:
                answer_udp_mtu(um, r4, data, src, port, frag_max)
                continue
            name = data.decode(errors="replace")
            if name not in CASES and name[1:] not in LST_NAMES:
                continue
            # the datagram went from src to our address on the way back
            local = socket.socket(s.family, socket.SOCK_DGRAM)
            local.connect(src)
            dst = local.getsockname()[0]
            local.close()
            if name not in CASES:
                seen = answer_listener(name[1:], src[0], dst, pk, r4, r6, t4, t6)
                s.sendto(("done " + seen).encode(), src)
                continue
            (v6, typ, code, info, ext, how), _, _ = CASES[name]
            if v6:
                q = quote6(src[0], src[1], dst, port, data, ext)
                msg = struct.pack("!BBHI", typ, code, 0, info) + q
                r6.sendto(msg, (src[0], 0))
            else:
                q = quote4(src[0], src[1], dst, port, data)
                word = info << 24 if typ == 12 else info
                msg = struct.pack("!BBHI", typ, code, 0, word) + q
                s_ = csum(msg) ^ (0x5555 if how == "badsum" else 0)
                msg = msg[:2] + struct.pack("!H", s_) + msg[4:]
                to = src[0]
                if how == "bcast":  # the test network is a /24
                    to = to.rsplit(".", 1)[0] + ".255"
                r4.sendto(msg, (to, 0))
            s.sendto(b"done", src)


def note_fragment(frame, where, frag_max):
    """The largest IPv4 fragment each sender's frames on the peer's
    packet socket held."""
    ip = frame[VNET_HDR_LEN + 14:]
    if (where[2] == PACKET_OUTGOING or len(ip) < 20 or
            struct.unpack_from("!H", frame, VNET_HDR_LEN + 12)[0] != 0x0800 or
            not struct.unpack_from("!H", ip, 6)[0] & 0x3fff):
        return
    src = socket.inet_ntop(socket.AF_INET, ip[12:16])
    frag_max[src] = max(frag_max.get(src, 0), struct.unpack_from("!H", ip, 2)[0])


def note_df(frame, where, df_seen):
    """The DF bit of an IPv4 datagram (or first fragment) whose UDP data
    begins "dfq ", or of a TCP segment to DF_TCP_PORT whose data begins
    "dft ", by that data (up to its first 16 bytes)."""
    ip = frame[VNET_HDR_LEN + 14:]
    if (where[2] == PACKET_OUTGOING or len(ip) < 20 or
            struct.unpack_from("!H", frame, VNET_HDR_LEN + 12)[0] != 0x0800):
        return
    off = struct.unpack_from("!H", ip, 6)[0]
    if off & 0x1fff:
        return  # a later fragment
    hlen = (ip[0] & 15) * 4
    l4 = ip[hlen:]
    if ip[9] == 1 and len(l4) >= 8 and l4[0] == 0 and \
            struct.unpack_from("!H", l4, 4)[0] == DF_PING_ID:  # an echo reply
        df_seen[b"ping"] = b"1" if off & 0x4000 else b"0"
        return
    if ip[9] == 17:
        data = l4[8:]
        tag = b"dfq "
    elif ip[9] == 6 and len(l4) >= 20 and (l4[13] & 0x12) == 0x12:
        sport = struct.unpack_from("!H", l4, 0)[0]
        if DF_SYN_BASE <= sport < DF_SYN_BASE + 6:  # a df listener's SYN|ACK
            df_seen[b"syn %d" % sport] = b"1" if off & 0x4000 else b"0"
        return
    elif ip[9] == 6 and len(l4) >= 20 and struct.unpack_from("!H", l4, 2)[0] == DF_TCP_PORT:
        data = l4[(l4[12] >> 4) * 4:]
        tag = b"dft "
    else:
        return
    if data.startswith(tag):
        df_seen[data[:16].rstrip(b"x")] = b"1" if off & 0x4000 else b"0"


def df_sees(peer4, port):
    """The DF bit the peer saw on a UDP datagram and on a TCP segment
    sent under each IP_MTU_DISCOVER policy (the TCP one set before
    connect), and on a UDP datagram WANT fragments: "u0 0, u1 1, ..."."""
    seen = []

    def ask(key):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as q:
            q.connect((peer4, port))
            for _ in range(3):  # the frame may come a moment after
                q.send(b"dfask " + key)
                if not wait_in(q):
                    return "no answer"
                got = q.recv(64).decode()[3:]
                if got != "none":
                    return got
                time.sleep(0.1)
            return got

    for policy in range(6):
        key = b"dfq u%d" % policy
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
            u.setsockopt(socket.IPPROTO_IP, IP_MTU_DISCOVER, policy)
            u.sendto(key, (peer4, port))
        seen.append("u%d %s" % (policy, ask(key)))
    key = b"dfq big"
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
        u.sendto(key + b"x" * 3000, (peer4, port))  # fragmented
    seen.append("big %s" % ask(key))
    for policy in range(6):
        key = b"dft t%d" % policy
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as t:
            t.setsockopt(socket.IPPROTO_IP, IP_MTU_DISCOVER, policy)
            t.settimeout(10)
            t.connect((peer4, DF_TCP_PORT))
            t.sendall(key)
            seen.append("t%d %s" % (policy, ask(key)))
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as q:
        q.connect((peer4, port))  # the echo reply to a ping with DF
        q.send(b"dfping")
        got = q.recv(64).decode() if wait_in(q) else "no answer"
    seen.append("ping %s" % (ask(b"ping") if got == "sent" else got))
    for policy in (0, 1, 5):  # a listener's SYN|ACK: DF under any policy
        lport = DF_SYN_BASE + policy
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as ls, \
                socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as q:
            ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            ls.setsockopt(socket.IPPROTO_IP, IP_MTU_DISCOVER, policy)
            ls.bind(("0.0.0.0", lport))
            ls.listen(4)
            q.connect((peer4, port))
            q.send(b"dfsyn %d" % lport)
            got = q.recv(64).decode() if wait_in(q) else "no answer"
            if got == "connected":
                got = ask(b"syn %d" % lport)
            seen.append("l%d %s" % (policy, got))
    return ", ".join(seen)


def answer_udp_mtu(um, r4, data, src, port, frag_max):
    if data == b"umtu":
        q = quote4(src[0], src[1], UDP_MTU_DST, port, data)
        msg = struct.pack("!BBHI", 3, 4, 0, UDP_MTU) + q
        msg = msg[:2] + struct.pack("!H", csum(msg)) + msg[4:]
        r4.sendto(msg, (src[0], 0))
        frag_max.pop(src[0], None)
        um.sendto(b"done", src)
    elif data.startswith(b"ubig"):
        um.sendto(b"big %d %d" % (len(data), frag_max.get(src[0], 0)), src)


def udp_mtu_sees(port):
    """A connected UDP socket told "fragmentation needed" (UDP_MTU) about
    its datagram: its errno, IP_MTU, how a 1,400-byte datagram arrives
    (its length, the largest fragment), and what IP_PMTUDISC_DO says to
    one."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.connect((UDP_MTU_DST, port))
    s.send(b"umtu")
    seen = seen_before_done(s)
    mtu = result(lambda: b"%d" % s.getsockopt(socket.IPPROTO_IP, IP_MTU))
    s.send(b"ubig" + b"x" * 1396)
    big = result(lambda: s.recv(64)) if wait_in(s) else "no answer"
    do = result(lambda: s.setsockopt(socket.IPPROTO_IP, IP_MTU_DISCOVER, IP_PMTUDISC_DO) or
                s.send(b"x" * 1400) and b"sent")
    s.close()
    return "%s, IP_MTU %s, %s, DO: %s" % (seen, mtu, big, do)


def wait_in(s):
    return select.select([s], [], [], WAIT_S)[0] != []


def seen_before_done(s):
    """The error a connected socket's recv gives before the peer's
    "done": its name, "nothing", or "no answer"."""
    seen = "nothing"
    for _ in range(2):
        if not wait_in(s):
            seen = "no answer"
            break
        try:
            if s.recv(64) == b"done":
                break
        except OSError as e:
            seen = errno.errorcode.get(e.errno, str(e.errno))
    return seen


def connected_sees(name, peer_addr, v6):
    """What a connected socket without IP_RECVERR sees before "done"."""
    s = socket.socket(socket.AF_INET6 if v6 else socket.AF_INET, socket.SOCK_DGRAM)
    s.connect(peer_addr)
    s.send(name.encode())
    seen = seen_before_done(s)
    s.close()
    return seen


def queued_sees(name, peer_addr, v6):
    """The error-queue entry of an unconnected socket with IP_RECVERR."""
    fam = socket.AF_INET6 if v6 else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_DGRAM)
    set_recverr(s, v6, True)
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
    got = error_entry(s)
    s.close()
    if got is not None:
        got = got[:8] + (got[8].decode(errors="replace"),) + got[9:]
    return got


def set_recverr(s, v6, on):
    if on:
        s.setsockopt(*((socket.IPPROTO_IPV6, IPV6_RECVERR) if v6 else
                       (socket.IPPROTO_IP, IP_RECVERR)), 1)


def error_entry(s):
    """The oldest error-queue entry of s: (cmsg level, type, errno,
    origin, ICMP type, code, info, offender, bytes, address, port,
    MSG_ERRQUEUE set), or None."""
    wait = s.gettimeout()
    s.settimeout(0)  # never a wait: an empty queue is EAGAIN
    try:
        data, anc, flags, addr = s.recvmsg(64, 256, socket.MSG_ERRQUEUE)
    except BlockingIOError:
        return None
    finally:
        s.settimeout(wait)
    got = None
    for level, typ, cdata in anc:
        ee_errno, origin, etype, ecode, _pad, info, _data = struct.unpack_from("=IBBBBII", cdata)
        off = cdata[16:]
        if struct.unpack_from("=H", off)[0] == socket.AF_INET:
            who = socket.inet_ntop(socket.AF_INET, off[4:8])
        else:
            who = socket.inet_ntop(socket.AF_INET6, off[8:24])
        got = (level, typ, errno.errorcode.get(ee_errno, str(ee_errno)),
               origin, etype, ecode, info, who, data,
               addr[0], addr[1], bool(flags & socket.MSG_ERRQUEUE))
    return got


def result(fn, s=None):
    """What fn() gives: its bytes decoded, or the errno's name; with s,
    s does not wait meanwhile."""
    wait = s.gettimeout() if s is not None else None
    if s is not None:
        s.settimeout(0)
    try:
        r = fn()
        return r.decode(errors="replace") if r else "eof"
    except OSError as e:  # ETIMEDOUT is a TimeoutError too: the errno tells
        return "timeout" if e.errno is None else errno.errorcode.get(e.errno, str(e.errno))
    finally:
        if s is not None:
            s.settimeout(wait)


def established_sees(case, peer_addr):
    """What an established case's client sees (EST_CASES)."""
    name, v6, recverr, _err, _off, check, _want, _dst = case
    s = socket.socket(socket.AF_INET6 if v6 else socket.AF_INET, socket.SOCK_STREAM)
    set_recverr(s, v6, recverr)
    if check == "timeout":
        s.setsockopt(socket.IPPROTO_TCP, TCP_USER_TIMEOUT, 1000)
    s.settimeout(20)
    try:
        s.connect(peer_addr)
    except OSError as e:
        s.close()
        return "connect: " + errno.errorcode.get(e.errno, str(e.errno))
    n = EST_WRITE.get(name, EST_BIG) if check in ("mtu", "hold") else EST_SMALL
    if name in EST_PRE:
        s.sendall(b"p" * EST_PRE[name])
        n -= EST_PRE[name]
    s.sendall(b"x" * n)
    if check == "hold":
        time.sleep(0.3)
        s.sendall(b"y" * EST_HOLD_MORE)
    if check != "next":
        seen = result(lambda: s.recv(64))
        s.close()
        return seen
    # "done" in the receive queue (the error came before it): read it
    # first, as Linux's tcp_recvmsg does
    end = time.monotonic() + WAIT_S
    while time.monotonic() < end:
        if struct.unpack("i", fcntl.ioctl(s, termios.FIONREAD, b"\0" * 4))[0] > 0:
            break
        time.sleep(0.01)
    seen = [result(lambda: s.recv(64)),
            result(lambda: s.recv(64), s),
            result(lambda: s.recv(64), s),
            str(s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)),
            "EAGAIN" if error_entry(s) is None else "an entry"]
    s.close()
    return " ".join(seen)


def result_accept(lsock):
    """A connection waiting on lsock, without a wait."""
    lsock.setblocking(False)
    return lsock.accept()


def client(peer4, peer6, port):
    bad = 0
    # as the kernel writes it back
    peer6 = socket.inet_ntop(socket.AF_INET6, socket.inet_pton(socket.AF_INET6, peer6))
    for name, ((v6, typ, code, info, _ext, _how), err, hard) in CASES.items():
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
    # (as Linux: the datagram is fragmented to 996-byte packets: 976 bytes
    # of data each, a multiple of 8)
    want = "EMSGSIZE, IP_MTU %d, big 1400 996, DO: EMSGSIZE" % UDP_MTU
    seen = udp_mtu_sees(port)
    ok = seen == want
    bad += not ok
    print("%s umtu4 UDP path MTU: %s (want %s)" % ("ok" if ok else "FAIL", seen, want),
          flush=True)
    # DF: UDP as __ip_make_skb (DO and PROBE always, WANT when it fits,
    # never on a fragment), TCP as ip_dont_fragment (DO and WANT only),
    # an echo reply never, a SYN|ACK whatever its listener's policy
    want = ("u0 0, u1 1, u2 1, u3 1, u4 0, u5 0, big 0, "
            "t0 0, t1 1, t2 1, t3 0, t4 0, t5 0, ping 0, l0 1, l1 1, l5 1")
    seen = df_sees(peer4, port)
    ok = seen == want
    bad += not ok
    print("%s df IPv4 don't-fragment bits: %s (want %s)" % ("ok" if ok else "FAIL", seen, want),
          flush=True)
    for i, (name, v6, errs, err, recverr) in enumerate(TCP_CASES):
        s = socket.socket(socket.AF_INET6 if v6 else socket.AF_INET, socket.SOCK_STREAM)
        set_recverr(s, v6, recverr)
        s.settimeout(20)
        peer_addr = ((peer6 if v6 else peer4), TCP_BASE + i)
        seen = result(lambda: s.connect(peer_addr) or b"connected")
        ok = seen == errno.errorcode[err]
        bad += not ok
        print("%s %s TCP connect: %s (want %s)" %
              ("ok" if ok else "FAIL", name, seen, errno.errorcode[err]), flush=True)
        if recverr:
            # the entry quotes the TCP header on: the ports, the SYN's number
            got = error_entry(s)
            want = ((socket.IPPROTO_IPV6, IPV6_RECVERR) if v6 else
                    (socket.IPPROTO_IP, IP_RECVERR)) + (
                errno.errorcode[err], SO_EE_ORIGIN_ICMP6 if v6 else SO_EE_ORIGIN_ICMP,
                errs[-1][0], errs[-1][1], 0, peer_addr[0], 8, peer_addr[0], peer_addr[1], True)
            if got is not None:  # the bytes: 8, the SYN's ports first
                data = got[8]
                got = got[:8] + (len(data) if data[2:4] == struct.pack(
                    "!H", peer_addr[1]) else data,) + got[9:]
            ok = got == want
            bad += not ok
            print("%s %s TCP error queue: %s%s" %
                  ("ok" if ok else "FAIL", name, got, "" if ok else " (want %s)" % (want,)),
                  flush=True)
        s.close()
    for i, (name, v6, _err, _off, dropped) in enumerate(LST_CASES):
        fam = socket.AF_INET6 if v6 else socket.AF_INET
        lsock = socket.socket(fam, socket.SOCK_STREAM)
        lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        lsock.bind(("::" if v6 else "0.0.0.0", LST_BASE + i))
        lsock.listen(8)
        u = socket.socket(fam, socket.SOCK_DGRAM)
        u.connect(((peer6 if v6 else peer4), port))
        u.send(("L" + name).encode())
        seen = result(lambda: u.recv(64)) if wait_in(u) else "no answer"
        u.close()
        time.sleep(0.05)  # the ACK's connection, if any, into the queue
        try:
            c, _addr = result_accept(lsock)
            seen += " accepted"
            c.close()
        except BlockingIOError:
            seen += " EAGAIN"
        lsock.close()
        want = "done rst EAGAIN" if dropped else "done - accepted"
        ok = seen == want
        bad += not ok
        print("%s %s SYN-RECEIVED: %s (want %s)" %
              ("ok" if ok else "FAIL", name, seen, want), flush=True)
    for i, case in enumerate(EST_CASES):
        name, v6, recverr, _err, _off, check, want, dst = case
        seen = established_sees(case, (dst or (peer6 if v6 else peer4), EST_BASE + i))
        ok = seen == want
        bad += not ok
        print("%s %s established, %s: %s (want %s)" %
              ("ok" if ok else "FAIL", name, check, seen, want), flush=True)
    print("%d failed" % bad)
    return 1 if bad else 0


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "peer":
        peer(int(sys.argv[2]), float(sys.argv[3]), sys.argv[4])
    elif len(sys.argv) == 5 and sys.argv[1] == "client":
        sys.exit(client(sys.argv[2], sys.argv[3], int(sys.argv[4])))
    else:
        sys.exit(__doc__)
