#!/usr/bin/python3
"""An idle server woken by its next request, in each way a server waits.

  napcheck.py server ADDR PORT WAY   an echo server of one connection,
                                     one thread, that waits the way named:
                                     recv (a blocking recv()), select,
                                     poll or epoll (each beside a pipe of
                                     its own, a kernel fd never ready);
                                     exits once the connection closes
  napcheck.py client ADDR PORT       ROUNDS lines, GAP seconds apart (the
                                     server sleeps between them), each
                                     echoed whole and in order; exits 1
                                     at the first failure

The server prints "ready" once it listens.
"""
import os
import select
import socket
import sys
import time

WAYS = ("recv", "select", "poll", "epoll")
ROUNDS = 5
GAP = 0.3


def wait_readable(way, fd, pipe_r):
    """Blocks until fd is readable, the way named; the pipe never is."""
    if way == "select":
        r, _, _ = select.select([fd, pipe_r], [], [])
        return fd in r
    if way == "poll":
        p = select.poll()
        p.register(fd, select.POLLIN)
        p.register(pipe_r, select.POLLIN)
        return any(f == fd for f, _ in p.poll())
    ep = select.epoll()
    try:
        ep.register(fd, select.EPOLLIN)
        ep.register(pipe_r, select.EPOLLIN)
        return any(f == fd for f, _ in ep.poll())
    finally:
        ep.close()


def server(addr, port, way):
    pipe_r, _pipe_w = os.pipe()
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((addr, port))
    ls.listen(4)
    print("ready", flush=True)
    c, _ = ls.accept()
    with c:
        while True:
            if way != "recv" and not wait_readable(way, c.fileno(), pipe_r):
                sys.exit(f"{way}: woken with the socket not ready")
            data = c.recv(4096)
            if not data:
                break
            c.sendall(data)


def client(addr, port):
    with socket.create_connection((addr, port), timeout=10) as s:
        for r in range(ROUNDS):
            time.sleep(GAP)
            line = f"round {r} {'x' * (r * 300)}\n".encode()
            s.sendall(line)
            got = b""
            while len(got) < len(line):
                more = s.recv(4096)
                if not more:
                    sys.exit(f"FAIL: closed after {len(got)} bytes")
                got += more
            if got != line:
                sys.exit(f"FAIL: round {r} came back as {got[:60]!r}")
    print(f"ok: {ROUNDS} requests {GAP} s apart echoed", flush=True)


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "server" and sys.argv[4] in WAYS:
        server(sys.argv[2], int(sys.argv[3]), sys.argv[4])
    elif len(sys.argv) == 4 and sys.argv[1] == "client":
        client(sys.argv[2], int(sys.argv[3]))
    else:
        sys.exit(__doc__)
