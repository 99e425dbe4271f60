#!/usr/bin/env python3
"""Slow TCP sink for linger.sh: reads 64 KB at a time with a pause, from a
small receive buffer, so the sender's data is acknowledged only as it reads.
On SIGUSR1 it writes to SNAPSHOT how many bytes its kernel has accepted so
far (read + waiting in the receive queue). At EOF it writes the total to
DONE, and waits (at most WAIT_S) for the snapshot signal before it exits.
usage: linger_peer.py PORT SNAPSHOT DONE"""
import fcntl
import os
import signal
import socket
import struct
import sys
import termios
import time

port, snapshot, done = int(sys.argv[1]), sys.argv[2], sys.argv[3]
RCVBUF = 65536
CHUNK = 65536
PAUSE_S = 0.005
WAIT_S = 20

lst = socket.socket()
lst.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
lst.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RCVBUF)
lst.bind(("0.0.0.0", port))
lst.listen(1)
print("ready", os.getpid(), flush=True)
conn, _ = lst.accept()
got = 0


snapped = False


def on_usr1(sig, frame):
    global snapped
    buf = fcntl.ioctl(conn.fileno(), termios.FIONREAD, struct.pack("i", 0))
    with open(snapshot, "w") as f:
        f.write("%d\n" % (got + struct.unpack("i", buf)[0]))
    snapped = True


signal.signal(signal.SIGUSR1, on_usr1)
while True:
    b = conn.recv(CHUNK)
    if not b:
        break
    got += len(b)
    time.sleep(PAUSE_S)
with open(done, "w") as f:
    f.write("%d\n" % got)
end = time.monotonic() + WAIT_S
while not snapped and time.monotonic() < end:
    time.sleep(0.01)
