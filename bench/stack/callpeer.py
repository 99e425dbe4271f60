#!/usr/bin/env python3
"""callpeer.py - callbench's other end (bench/calls), on the kernel stack.

usage: callpeer.py ADDR PORT SECONDS

A connection that starts with "sink\\n" is read and dropped; one that
starts with "source\\n" gets N bytes for every "more N\\n" it sends. Prints
"ready" once listening; exits when no connection came for SECONDS.
"""
import socket
import sys
import threading


def serve(c):
    f = c.makefile("rb")
    hello = f.readline()
    if hello == b"sink\n":
        while c.recv(1 << 16):
            pass
    elif hello == b"source\n":
        for line in f:
            words = line.split()
            if len(words) == 2 and words[0] == b"more":
                c.sendall(b"y" * int(words[1]))
    c.close()


def main():
    addr, port, seconds = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    s = socket.socket(socket.AF_INET6 if ":" in addr else socket.AF_INET)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((addr, port))
    s.listen(16)
    print("ready", flush=True)
    s.settimeout(seconds)
    while True:
        try:
            c, _ = s.accept()
        except OSError:
            return
        c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        threading.Thread(target=serve, args=(c,), daemon=True).start()


if __name__ == "__main__":
    main()
