#!/usr/bin/env python3
"""TIME-WAIT on the server side, and a client that reuses its port.

server PORT COUNT: accepts COUNT connections one at a time; from each it
  reads an 8-byte length and that many bytes, answers b"ok" and closes
  first, so the connection ends in TIME-WAIT on the server's side.
client ADDR PORT: for each case, one connection sends its bytes and is
  closed by the server, then a second one is made from the same local port
  while the server still holds the first in TIME-WAIT:
  - past:   1,000 bytes sent; the second SYN's sequence number is past what
            the server received, so it must be taken at once (Linux:
            tcp_timewait_state_process) - no SYN retransmitted;
  - behind: 64 MiB sent in well under 4 s, more than Linux's ISN clock
            (64 ns a step) advances in that time, so the second SYN is
            behind: the server ACKs it, the client resets that ACK, the
            RST ends the TIME-WAIT and the SYN's retransmission connects.
  Prints one line per case; exits 1 on the first case that fails."""
import errno
import socket
import struct
import sys
import time

TCP_INFO_TOTAL_RETRANS = 100  # offset of tcpi_total_retrans in struct tcp_info


def serve(port, count):
    lst = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    lst.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lst.bind(("0.0.0.0", port))
    lst.listen(16)
    print("ready", flush=True)
    for _ in range(count):
        conn, _ = lst.accept()
        conn.settimeout(30)
        head = b""
        while len(head) < 8:
            b = conn.recv(8 - len(head))
            if not b:
                break
            head += b
        left = struct.unpack("!Q", head)[0] if len(head) == 8 else 0
        while left > 0:
            b = conn.recv(min(left, 1 << 20))
            if not b:
                break
            left -= len(b)
        conn.sendall(b"ok")
        conn.close()


def exchange(s, nbytes):
    s.sendall(struct.pack("!Q", nbytes))
    chunk = b"t" * (1 << 20)
    left = nbytes
    while left > 0:
        n = min(left, len(chunk))
        s.sendall(chunk[:n])
        left -= n
    got = b""
    while True:
        b = s.recv(16)
        if not b:
            break
        got += b
    s.close()
    return got == b"ok"


def bound_socket(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    end = time.monotonic() + 5
    while True:
        try:
            s.bind(("0.0.0.0", port))
            return s
        except OSError as e:
            # The first connection's last ACK may still be on its way.
            if e.errno != errno.EADDRINUSE or time.monotonic() > end:
                raise
            time.sleep(0.05)


def run_case(addr, port, name, nbytes):
    s = bound_socket(0)
    s.settimeout(30)
    s.connect((addr, port))
    lport = s.getsockname()[1]
    t0 = time.monotonic()
    if not exchange(s, nbytes):
        print("FAIL %s: the first connection was not answered" % name)
        return False
    sent_s = time.monotonic() - t0
    end = time.monotonic() + 5
    while True:
        s = bound_socket(lport)
        s.settimeout(10)
        t0 = time.monotonic()
        try:
            s.connect((addr, port))
            break
        except OSError as e:
            # EADDRNOTAVAIL: the first connection is still in LAST-ACK
            # here, the server's ACK of our FIN on its way.
            s.close()
            if e.errno != errno.EADDRNOTAVAIL or time.monotonic() > end:
                print("FAIL %s: port %d: connect again: %s" % (name, lport, e))
                return False
            time.sleep(0.01)
    took = time.monotonic() - t0
    info = s.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 104)
    retrans = struct.unpack_from("I", info, TCP_INFO_TOTAL_RETRANS)[0]
    if not exchange(s, 10):
        print("FAIL %s: the second connection was not answered" % name)
        return False
    print("%s: port %d, %d bytes in %.2f s, connected again in %.2f s, "
          "SYNs retransmitted %d" % (name, lport, nbytes, sent_s, took, retrans))
    if name == "past" and retrans != 0:
        print("FAIL past: the SYN past the old sequence was not taken at once")
        return False
    if name == "behind" and sent_s > 3:
        print("FAIL behind: the transfer took too long to put the SYN behind")
        return False
    return True


def main():
    if sys.argv[1] == "server":
        serve(int(sys.argv[2]), int(sys.argv[3]))
        return 0
    addr, port = sys.argv[2], int(sys.argv[3])
    for name, nbytes in (("past", 1000), ("behind", 64 << 20)):
        if not run_case(addr, port, name, nbytes):
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
