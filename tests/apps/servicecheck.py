#!/usr/bin/python3
"""A server that polls, then stops polling: who keeps the stack going.

  servicecheck.py server ADDR PORT   one thread: echoes connection A's
                                     lines (a blocking recv each) until
                                     A says "sleep", answers "sleeping",
                                     then sleeps SLEEP seconds in the
                                     kernel (no socket call at all),
                                     then accepts connection B and echoes
                                     its line; exits when both close
  servicecheck.py client ADDR PORT [REPLY_S]
                                     on A: ROUNDS lines GAP seconds apart,
                                     each echoed whole (the server waits
                                     in recv between them); then "sleep";
                                     once the server sleeps, connects B
                                     (timeout CONNECT_S, under SLEEP) and
                                     sends a line: the handshake and the
                                     data must be taken while the server
                                     sleeps, by the stack alone; then
                                     B's echo. Exits 1 at the first
                                     failure. With REPLY_S: "sleeping"
                                     (sent just before the server's
                                     sleep) must come within REPLY_S of
                                     "sleep"

The server prints "ready PID" once it listens; the client prints
"polling" when its rounds start and "rounds done" when they end (the
test reads the server's threads between the two).
"""
import os
import socket
import sys
import time

ROUNDS = 50
GAP = 0.1
SLEEP = 4.0
CONNECT_S = 3.5  # under SLEEP - 0.3: made while the server sleeps


def recv_line(s):
    got = b""
    while not got.endswith(b"\n"):
        more = s.recv(4096)
        if not more:
            sys.exit(f"FAIL: closed after {got[:60]!r}")
        got += more
    return got


def server(addr, port):
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((addr, port))
    ls.listen(4)
    print(f"ready {os.getpid()}", flush=True)
    a, _ = ls.accept()
    while True:
        line = recv_line(a)
        if line == b"sleep\n":
            break
        a.sendall(line)
    a.sendall(b"sleeping\n")
    time.sleep(SLEEP)
    b, _ = ls.accept()
    with b:
        b.sendall(recv_line(b))
        if b.recv(1):
            sys.exit("FAIL: B sent more than a line")
    a.sendall(b"woke\n")
    if a.recv(1):
        sys.exit("FAIL: A sent more after sleep")
    a.close()


def client(addr, port, reply_s=None):
    a = socket.create_connection((addr, port), timeout=10)
    print("polling", flush=True)
    for r in range(ROUNDS):
        time.sleep(GAP)
        line = f"round {r} {'x' * (r * 40)}\n".encode()
        a.sendall(line)
        if recv_line(a) != line:
            sys.exit(f"FAIL: round {r} not echoed whole")
    print("rounds done", flush=True)
    t0 = time.monotonic()
    a.sendall(b"sleep\n")
    if recv_line(a) != b"sleeping\n":
        sys.exit("FAIL: no 'sleeping'")
    reply = time.monotonic() - t0
    if reply_s is not None and reply > reply_s:
        sys.exit(f"FAIL: 'sleeping' took {reply:.3f} s: the reply the server sent "
                 "before it slept waited for the stack's next poll")
    time.sleep(0.3)
    t0 = time.monotonic()
    try:
        b = socket.create_connection((addr, port), timeout=CONNECT_S)
    except OSError as e:
        sys.exit(f"FAIL: connect while the server sleeps: {e}")
    took = time.monotonic() - t0
    b.sendall(b"while asleep\n")
    b.settimeout(SLEEP + 10)
    if recv_line(b) != b"while asleep\n":
        sys.exit("FAIL: B's line not echoed")
    b.close()
    a.settimeout(SLEEP + 10)
    if recv_line(a) != b"woke\n":
        sys.exit("FAIL: no 'woke' on A")
    a.close()
    print(f"ok: {ROUNDS} rounds echoed; 'sleeping' in {reply:.3f} s; connected "
          f"in {took:.3f} s while the server slept; its line echoed after", flush=True)


if __name__ == "__main__":
    if len(sys.argv) not in (4, 5) or sys.argv[1] not in ("server", "client"):
        sys.exit(__doc__)
    if sys.argv[1] == "server":
        server(sys.argv[2], int(sys.argv[3]))
    else:
        client(sys.argv[2], int(sys.argv[3]),
               float(sys.argv[4]) if len(sys.argv) == 5 else None)
