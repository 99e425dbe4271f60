#!/bin/bash
# SO_LINGER with a time: a blocking close() returns only once what was
# written has been acknowledged. A program under zpnet writes 4 MB to a slow
# kernel peer, sets SO_LINGER {1, 30 s}, closes and says so; at that moment
# the peer's kernel must already hold every byte. Then all 4 MB arrive.
# usage: linger.sh ZPNET_BINARY
set -u
ZPNET=$1
source "$(dirname "$0")/common.sh"
PY=/usr/bin/python3
N=4000000

zpns_k timeout 120 $PY "$HERE/linger_peer.py" 7200 "$TMP/snapshot" "$TMP/done" > "$TMP/peer.log" 2>&1 &
peer=$!
for ((i = 0; i < 50; i++)); do grep -q ready "$TMP/peer.log" && break; sleep 0.1; done
grep -q ready "$TMP/peer.log" || fail "peer did not start"
peer_py=$(awk '/^ready/ {print $2}' "$TMP/peer.log")

zpns_z timeout 120 "$ZPNET" run -c "$ZCFG" -- $PY -u -c "
import socket, struct, time
s = socket.create_connection(('$K_ADDR', 7200))
s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 30))
s.sendall(b'l' * $N)
s.close()
print('closed')
time.sleep(2)
" > "$TMP/writer.log" 2>&1 &
writer=$!
for ((i = 0; i < 1000; i++)); do grep -q closed "$TMP/writer.log" && break; sleep 0.01; done
grep -q closed "$TMP/writer.log" || fail "writer did not close"
kill -USR1 $peer_py
for ((i = 0; i < 100; i++)); do [ -s "$TMP/snapshot" ] && break; sleep 0.05; done
snap=$(cat "$TMP/snapshot" 2>/dev/null)
[ "$snap" = $N ] || fail "close() returned with only ${snap:-?} of $N bytes acknowledged"
echo "ok close() with SO_LINGER returned after all $N bytes were acknowledged"
wait $writer || fail "writer exited $?"
wait $peer || fail "peer exited $?"
[ "$(cat "$TMP/done")" = $N ] || fail "peer got $(cat "$TMP/done") of $N bytes"
echo "ok the peer got all $N bytes, then the FIN"
echo PASS
