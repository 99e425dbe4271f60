#!/usr/bin/env python3
"""Echo clients for the stack suite: every byte sent must come back.

  echo_client.py tcp HOST PORT --bytes N --conns C [--timeout S]
      C connections share N bytes; each sends its pseudo-random stream while
      reading the echo, then compares SHA-256 of what it sent and got.
  echo_client.py udp HOST PORT --count N [--timeout S]
      N datagrams of mixed sizes (1..1472 bytes), up to 16 in flight, each
      reply checked byte for byte against its request; lost ones are resent.

Prints one summary line; exits 0 only when every check passed.
"""
import argparse
import hashlib
import os
import random
import socket
import struct
import sys
import threading
import time

CHUNK = 64 * 1024
UDP_MAX = 1472          # 1500-byte MTU minus IPv4 and UDP headers
UDP_WINDOW = 16         # datagrams in flight
UDP_RETRY_S = 0.2       # resend a datagram unanswered this long
UDP_MAX_TRIES = 10


def family(host):
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def tcp_conn(host, port, nbytes, seed, deadline, result, idx):
    rng = random.Random(seed)
    sent_h, got_h = hashlib.sha256(), hashlib.sha256()
    got = 0
    err = None
    try:
        s = socket.socket(family(host), socket.SOCK_STREAM)
        s.settimeout(max(1.0, deadline - time.monotonic()))
        s.connect((host, port))

        def reader():
            nonlocal got, err
            try:
                while got < nbytes:
                    b = s.recv(CHUNK)
                    if not b:
                        err = "EOF after %d of %d bytes" % (got, nbytes)
                        return
                    got_h.update(b)
                    got += len(b)
            except Exception as e:  # noqa: BLE001 - reported below
                err = "recv: %r" % e

        t = threading.Thread(target=reader)
        t.start()
        left = nbytes
        while left > 0:
            n = min(CHUNK, left)
            b = rng.randbytes(n)
            sent_h.update(b)
            s.sendall(b)
            left -= n
        s.shutdown(socket.SHUT_WR)
        t.join(max(0.0, deadline - time.monotonic()))
        if t.is_alive():
            err = "timeout with %d of %d bytes back" % (got, nbytes)
        else:
            # After the echo, the server closes: we must see EOF.
            if err is None and s.recv(1) != b"":
                err = "data after the echo"
        s.close()
    except Exception as e:  # noqa: BLE001
        err = err or repr(e)
    ok = err is None and sent_h.digest() == got_h.digest()
    if err is None and not ok:
        err = "sha256 differs: sent %s got %s" % (sent_h.hexdigest(),
                                                  got_h.hexdigest())
    result[idx] = (ok, err, got)


def run_tcp(a):
    deadline = time.monotonic() + a.timeout
    per = a.bytes // a.conns
    result = [None] * a.conns
    threads = []
    for i in range(a.conns):
        n = per + (a.bytes - per * a.conns if i == 0 else 0)
        t = threading.Thread(target=tcp_conn,
                             args=(a.host, a.port, n, 1000 + i, deadline,
                                   result, i))
        t.start()
        threads.append(t)
    for t in threads:
        t.join()
    bad = [(i, r) for i, r in enumerate(result) if r is None or not r[0]]
    total = sum(r[2] for r in result if r)
    for i, r in bad[:5]:
        print("conn %d: %s" % (i, r[1] if r else "no result"))
    print("tcp: %d connections, %d of %d bytes echoed, %d failed" %
          (a.conns, total, a.bytes, len(bad)))
    return 0 if not bad else 1


def run_udp(a):
    rng = random.Random(7)
    s = socket.socket(family(a.host), socket.SOCK_DGRAM)
    s.connect((a.host, a.port))
    s.setblocking(False)
    deadline = time.monotonic() + a.timeout
    reqs = {}
    pending = {}    # seq -> (sent_at, tries)
    nxt = 0
    done = 0
    resent = 0
    mismatch = 0
    while done < a.count and time.monotonic() < deadline:
        while len(pending) < UDP_WINDOW and nxt < a.count:
            size = rng.choice([8, 64, 512, 1000, UDP_MAX, rng.randint(8, UDP_MAX)])
            body = struct.pack("!I", nxt) + os.urandom(size - 4)
            reqs[nxt] = body
            s.send(body)
            pending[nxt] = (time.monotonic(), 1)
            nxt += 1
        try:
            b = s.recv(2048)
        except BlockingIOError:
            now = time.monotonic()
            for seq, (at, tries) in list(pending.items()):
                if now - at > UDP_RETRY_S:
                    if tries >= UDP_MAX_TRIES:
                        print("datagram %d: no reply after %d tries" % (seq, tries))
                        return 1
                    s.send(reqs[seq])
                    pending[seq] = (now, tries + 1)
                    resent += 1
            time.sleep(0.0002)
            continue
        seq = struct.unpack("!I", b[:4])[0] if len(b) >= 4 else -1
        if seq not in reqs or b != reqs[seq]:
            mismatch += 1
            continue
        if seq in pending:
            del pending[seq]
            done += 1
    print("udp: %d of %d datagrams echoed intact, %d resent, %d mismatched" %
          (done, a.count, resent, mismatch))
    return 0 if done == a.count and mismatch == 0 else 1


def main():
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("proto", choices=["tcp", "udp"])
    p.add_argument("host")
    p.add_argument("port", type=int)
    p.add_argument("--bytes", type=int, default=1 << 20)
    p.add_argument("--conns", type=int, default=1)
    p.add_argument("--count", type=int, default=1000)
    p.add_argument("--timeout", type=float, default=120)
    a = p.parse_args()
    sys.exit(run_tcp(a) if a.proto == "tcp" else run_udp(a))


if __name__ == "__main__":
    main()
