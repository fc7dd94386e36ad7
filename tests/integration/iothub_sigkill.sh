#!/usr/bin/env bash
# The device process is SIGKILLed mid-stream and restarted on the same
# outbox file: nothing is lost, first occurrences stay in order. Just before
# the kill a proxy swallows what the device sends, so the messages in flight
# at the kill never reached the broker (on loopback, bytes already written to
# the socket would arrive anyway): only an outbox that keeps every message
# until its PUBACK delivers them after the restart.
. "$(dirname "$0")/iothub_lib.sh"
N=3000
start_broker
mosquitto_sub -h 127.0.0.1 -p $PORT -i it-sub -q 1 -v -t 'devices/dev-k/messages/events/#' > "$WORK/sub.txt" &
SUB=$!; PIDS+=($SUB)
wait_sub it-sub
python3 "$(dirname "$0")/iothub_proxy.py" $PORT "$WORK/proxy.port" "$WORK/blackhole" "$WORK/swallowed" &
PIDS+=($!)
for _ in $(seq 1 100); do [ -s "$WORK/proxy.port" ] && break; sleep 0.05; done
[ -s "$WORK/proxy.port" ] || fail "proxy did not start"
"$DEV" --port "$(cat "$WORK/proxy.port")" --device dev-k --outbox "$WORK/ob.log" --count $N --rate 2000 \
  > "$WORK/dev1.txt" &
D=$!; PIDS+=($D)
for _ in $(seq 1 200); do
  [ "$(grep -c ' msg-' "$WORK/sub.txt" || true)" -ge 300 ] && break
  sleep 0.05
done
touch "$WORK/blackhole"
# The device goes on sending into the void until its in-flight window is full
# (16 PUBLISHes of about 46 bytes).
for _ in $(seq 1 100); do
  [ "$(cat "$WORK/swallowed" 2>/dev/null || echo 0)" -ge 400 ] && break
  sleep 0.05
done
sleep 0.2
kill -9 $D; wait $D 2>/dev/null || true
swallowed=$(cat "$WORK/swallowed" 2>/dev/null || echo 0)
[ "$swallowed" -ge 400 ] || fail "only $swallowed bytes were in flight at the kill"
before=$(grep -c ' msg-' "$WORK/sub.txt" || true)
[ "$before" -gt 0 ] && [ "$before" -lt $N ] || fail "kill did not land mid-stream ($before received)"
# Restart straight on the broker: the swallowed messages must come from the outbox.
timeout 60 "$DEV" --port $PORT --device dev-k --outbox "$WORK/ob.log" --count $N > "$WORK/dev2.txt" || fail "restart failed"
grep RECOVERED "$WORK/dev2.txt"
grep -q "remaining=0" "$WORK/dev2.txt" || { cat "$WORK/dev2.txt"; fail "outbox not drained"; }
for i in $(seq 1 50); do
  [ "$(grep -c ' msg-' "$WORK/sub.txt")" -ge $N ] && break
  sleep 0.1
done
echo "received before kill: $before; swallowed at the kill: $swallowed bytes"
python3 "$(dirname "$0")/iothub_check_stream.py" "$WORK/sub.txt" $N 100 || fail "stream check failed"
echo PASS
