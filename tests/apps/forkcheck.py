#!/usr/bin/python3
"""Sockets shared across fork(), as Linux shares open file descriptions.

  forkcheck.py server ADDR PORT   prefork server (run on the kernel stack,
                                  or under zpnet)
  forkcheck.py client ADDR PORT   drives it; prints "ok ..." per check and
                                  exits 1 at the first failure

The server forks two acceptors that both accept() on the listening socket
the parent made. Each connection names a scenario on its first line:

  who          the acceptor answers its pid and keeps the connection until
               the client closes: with one connection held open, a second
               one is answered by the other acceptor (20 pairs)
  handoff      the acceptor forks a child and closes its own copy at once;
               the child still reads and answers on the connection
  parentkeeps  a forked child writes and exits; the acceptor then writes
               and closes: the child's exit did not close the connection
  holdclose    the acceptor writes and closes while a forked child still
               holds the connection; the child writes after that; only the
               child's exit closes it
  kill         a forked child holds the connection alone and is killed
               with SIGKILL: the connection closes (FIN or reset)
  forking      socketserver.ForkingTCPServer on PORT+1: 20 concurrent
               clients, 64 KiB each, echoed byte-exact
  reuseport    two processes, each with its own socket bound to PORT+2
               with SO_REUSEPORT: connections are shared between them
  exclusive    two processes wait in epoll_wait with EPOLLEXCLUSIVE on one
               listening socket (PORT+4): a connection wakes one of them,
               which takes 20 ms to accept it; of 20 connections one after
               the other, at most 2 woke the other process too (its
               accept() then saw EAGAIN)
  killloop     30 times, a forked child busy with the connection (sends,
               non-blocking reads, socket options) is killed with SIGKILL
               at a random moment; the acceptor then still answers on it
"""
import os
import random
import select
import signal
import socket
import socketserver
import sys
import threading
import time

TIMEOUT = 20


def line(conn):
    buf = b""
    while not buf.endswith(b"\n"):
        d = conn.recv(1)
        if not d:
            break
        buf += d
    return buf.decode().strip()


def handle(conn):
    cmd = line(conn)
    if cmd == "who":
        conn.sendall(b"%d\n" % os.getpid())
        conn.recv(1)  # the client closes first (see answers)
    elif cmd == "handoff":
        if os.fork() == 0:
            data = line(conn)
            conn.sendall(b"child:" + data.encode() + b"\n")
            os._exit(0)
    elif cmd == "parentkeeps":
        pid = os.fork()
        if pid == 0:
            conn.sendall(b"from-child\n")
            os._exit(0)
        os.waitpid(pid, 0)
        conn.sendall(b"from-parent\n")
    elif cmd == "holdclose":
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(w)
            os.read(r, 1)  # until the parent has closed its copy
            conn.sendall(b"child-after-parent-close\n")
            os._exit(0)
        os.close(r)
        conn.sendall(b"parent\n")
        conn.close()
        os.write(w, b"x")
        os.close(w)
        os.waitpid(pid, 0)
        return
    elif cmd == "killloop":
        conn.setblocking(False)
        for i in range(30):
            pid = os.fork()
            if pid == 0:
                while True:
                    try:
                        conn.send(b"")
                        conn.recv(1, socket.MSG_PEEK)
                    except BlockingIOError:
                        pass
                    conn.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
            time.sleep(random.uniform(0.001, 0.03))
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        conn.setblocking(True)
        conn.sendall(b"alive\n")
    elif cmd == "kill":
        pid = os.fork()
        if pid == 0:
            conn.sendall(b"holding\n")
            while True:
                time.sleep(1)
        conn.close()
        time.sleep(0.2)
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        return
    conn.close()


class Echo(socketserver.BaseRequestHandler):
    def handle(self):
        while True:
            d = self.request.recv(65536)
            if not d:
                return
            self.request.sendall(d)


class multiprocessing_counter:
    """A counter shared by forked processes (a MAP_SHARED page)."""

    def __init__(self):
        import mmap
        self.m = mmap.mmap(-1, 8)

    def add(self):
        self.m[0:8] = (int.from_bytes(self.m[0:8], "little") + 1).to_bytes(8, "little")

    def value(self):
        return int.from_bytes(self.m[0:8], "little")


def server(addr, port):
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((addr, port))
    ls.listen(128)
    for _ in range(2):
        if os.fork() == 0:
            while True:
                c, _ = ls.accept()
                handle(c)
                c.close()
    for _ in range(2):
        if os.fork() == 0:
            rs = socket.socket()
            rs.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            rs.bind((addr, port + 2))
            rs.listen(128)
            while True:
                c, _ = rs.accept()
                c.sendall(b"%d\n" % os.getpid())
                c.recv(1)  # the client closes first (see answers)
                c.close()
    xs = socket.socket()
    xs.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    xs.bind((addr, port + 4))
    xs.listen(128)
    xs.setblocking(False)
    eagain = multiprocessing_counter()
    for _ in range(2):
        if os.fork() == 0:
            ep = select.epoll()
            ep.register(xs.fileno(), select.EPOLLIN | select.EPOLLEXCLUSIVE)
            while True:
                ep.poll()
                time.sleep(0.02)  # a busy worker: the other must not wake
                try:
                    c, _ = xs.accept()
                except BlockingIOError:
                    eagain.add()
                    continue
                c.setblocking(True)
                c.sendall(b"%d\n" % eagain.value())
                c.recv(1)  # the client closes first (see answers)
                c.close()
    time.sleep(0.5)  # the reuseport listeners are up
    socketserver.ForkingTCPServer.allow_reuse_address = True
    socketserver.ForkingTCPServer.request_queue_size = 64
    fs = socketserver.ForkingTCPServer((addr, port + 1), Echo)
    print("ready", flush=True)
    fs.serve_forever()


def connect(addr, port, cmd):
    s = socket.create_connection((addr, port), timeout=TIMEOUT)
    s.sendall(cmd.encode() + b"\n")
    return s


def read_all(s):
    out = b""
    while True:
        try:
            d = s.recv(4096)
        except ConnectionResetError:
            return out, "reset"
        if not d:
            return out, "eof"
        out += d


def fail(msg):
    print("FAIL: " + msg, flush=True)
    sys.exit(1)


def answer(addr, port, cmd):
    """One connection's one-line answer. The client closes first, so the
    TIME-WAIT is on the client's side: a server side in TIME-WAIT meets
    Linux clients that reuse their port, which lwIP does not take as a new
    connection (a known gap, not what this program checks)."""
    s = socket.create_connection((addr, port), timeout=TIMEOUT)
    if cmd:
        s.sendall(cmd.encode() + b"\n")
    out = line(s)
    s.close()
    return out


def answers(name, addr, port, cmd):
    """40 connections, each answered by one pid: how many each pid got."""
    pids = []
    for _ in range(40):
        out = answer(addr, port, cmd)
        if not out.strip().isdigit():
            fail("%s: answer %r" % (name, out))
        pids.append(int(out))
    counts = {p: pids.count(p) for p in set(pids)}
    if len(counts) != 2:
        fail("%s: 40 connections answered by %d processes, not 2" % (name, len(counts)))
    return sorted(counts.values())


def both_accept(addr, port):
    """20 times: a connection held open keeps one acceptor busy, so a
    second one must be accepted and answered by the other."""
    for _ in range(20):
        s1 = socket.create_connection((addr, port), timeout=TIMEOUT)
        s1.sendall(b"who\n")
        p1 = line(s1)
        s2 = socket.create_connection((addr, port), timeout=TIMEOUT)
        s2.sendall(b"who\n")
        p2 = line(s2)
        s1.close()
        s2.close()
        if not (p1.isdigit() and p2.isdigit()) or p1 == p2:
            fail("who: two connections at once answered by %r and %r" % (p1, p2))


def client(addr, port):
    both_accept(addr, port)
    print("ok who: 20 pairs of connections, each answered once, by both acceptors",
          flush=True)

    s = connect(addr, port, "handoff")
    time.sleep(0.2)
    s.sendall(b"ping\n")
    out, end = read_all(s)
    if out != b"child:ping\n" or end != "eof":
        fail("handoff: %r then %s" % (out, end))
    print("ok handoff: the child served the connection its parent closed", flush=True)

    s = connect(addr, port, "parentkeeps")
    out, end = read_all(s)
    if out != b"from-child\nfrom-parent\n" or end != "eof":
        fail("parentkeeps: %r then %s" % (out, end))
    print("ok parentkeeps: the parent wrote after its child exited", flush=True)

    s = connect(addr, port, "holdclose")
    out, end = read_all(s)
    if out != b"parent\nchild-after-parent-close\n" or end != "eof":
        fail("holdclose: %r then %s" % (out, end))
    print("ok holdclose: the parent's close left the connection to the child", flush=True)

    seen = 0
    for _ in range(20):
        out = answer(addr, port + 4, None)
        if not out.strip().isdigit():
            fail("exclusive: answer %r" % out)
        seen = int(out)
        time.sleep(0.05)
    if seen > 2:
        fail("exclusive: %d of 20 connections woke both processes" % seen)
    print("ok exclusive: 20 connections, %d woke a second EPOLLEXCLUSIVE waiter"
          % seen, flush=True)

    s = connect(addr, port, "killloop")
    out, end = read_all(s)
    if out != b"alive\n" or end != "eof":
        fail("killloop: %r then %s" % (out, end))
    print("ok killloop: 30 children killed mid-call, the connection and the "
          "acceptor go on", flush=True)
    both_accept(addr, port)

    s = connect(addr, port, "kill")
    t0 = time.monotonic()
    out, end = read_all(s)
    if out != b"holding\n":
        fail("kill: %r then %s" % (out, end))
    print("ok kill: the killed holder's connection closed (%s after %.1f s)"
          % (end, time.monotonic() - t0), flush=True)

    data = [os.urandom(65536) for _ in range(20)]
    errors = []

    def echo(i):
        try:
            s = socket.create_connection((addr, port + 1), timeout=TIMEOUT)
            s.sendall(data[i])
            s.shutdown(socket.SHUT_WR)
            out, _ = read_all(s)
            s.close()
            if out != data[i]:
                errors.append("client %d: %d bytes back, not the 65536 sent"
                              % (i, len(out)))
        except OSError as e:
            errors.append("client %d: %s" % (i, e))

    threads = [threading.Thread(target=echo, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        fail("forking: " + "; ".join(errors))
    print("ok forking: ForkingTCPServer echoed 20 x 64 KiB byte-exact", flush=True)

    print("ok reuseport: 40 connections shared by two SO_REUSEPORT sockets (%s)"
          % answers("reuseport", addr, port + 2, None), flush=True)
    print("PASS", flush=True)


if __name__ == "__main__":
    role, addr, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    (server if role == "server" else client)(addr, port)
