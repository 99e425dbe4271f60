#!/bin/bash
# TCP echo through zpnet: 100 MB over 1 connection, then over 64, sha256 equal.
. "$(dirname "$0")/common.sh"
stack_start 1
zpns_k $ECHO_CLIENT tcp 198.18.0.2 7 --bytes 100000000 --conns 1 --timeout 240 ||
	fail "100 MB over one connection"
zpns_k $ECHO_CLIENT tcp 198.18.0.2 7 --bytes 100000000 --conns 64 --timeout 240 ||
	fail "100 MB over 64 connections"
stack_stop
grep -q "^tcp.accepted 65$" "$LOG" || fail "expected 65 accepted connections"
grep -q "^tcp.closed 65$" "$LOG" || fail "expected 65 closed connections"
echo PASS
