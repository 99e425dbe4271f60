#!/usr/bin/python3
"""An idle server woken by its next request, in each way a server waits.

  napcheck.py server ADDR PORT   four echo listeners, PORT..PORT+3, each
                                 serving one connection with one way of
                                 waiting: a blocking recv(), select(),
                                 poll(), epoll_wait(); the last three
                                 also wait on a pipe of their own; exits
                                 once all four connections have closed
  napcheck.py client ADDR PORT   to each: ROUNDS lines, GAP seconds apart
                                 (the server sleeps between them), each
                                 echoed whole and in order; prints "ok ..."
                                 per way and exits 1 at the first failure

The server prints "ready" once it listens.
"""
import os
import select
import socket
import sys
import threading
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


def serve(way, ls):
    pipe_r, _pipe_w = os.pipe()	# a kernel fd beside the socket
    c, _ = ls.accept()
    with c:
        while True:
            if way != "recv" and not wait_readable(way, c.fileno(), pipe_r):
                print(f"{way}: woken with the socket not ready", flush=True)
                os._exit(1)
            data = c.recv(4096)
            if not data:
                break
            c.sendall(data)


def server(addr, port):
    threads = []
    for i, way in enumerate(WAYS):
        ls = socket.socket()
        ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        ls.bind((addr, port + i))
        ls.listen(4)
        threads.append(threading.Thread(target=serve, args=(way, ls), daemon=True))
    for t in threads:
        t.start()
    print("ready", flush=True)
    for t in threads:
        t.join()


def client(addr, port):
    for i, way in enumerate(WAYS):
        with socket.create_connection((addr, port + i), timeout=10) as s:
            for r in range(ROUNDS):
                time.sleep(GAP)
                line = f"{way} round {r} {'x' * (r * 300)}\n".encode()
                s.sendall(line)
                got = b""
                while len(got) < len(line):
                    more = s.recv(4096)
                    if not more:
                        sys.exit(f"FAIL {way}: closed after {len(got)} bytes")
                    got += more
                if got != line:
                    sys.exit(f"FAIL {way}: round {r} came back as {got[:60]!r}")
        print(f"ok {way}: {ROUNDS} requests {GAP} s apart echoed", flush=True)


if __name__ == "__main__":
    if len(sys.argv) != 4 or sys.argv[1] not in ("server", "client"):
        sys.exit(__doc__)
    (server if sys.argv[1] == "server" else client)(sys.argv[2], int(sys.argv[3]))
