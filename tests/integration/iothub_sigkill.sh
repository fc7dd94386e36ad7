#!/usr/bin/env bash
# The device process is SIGKILLed mid-stream and restarted on the same
# outbox file: nothing is lost, first occurrences stay in order.
. "$(dirname "$0")/iothub_lib.sh"
N=3000
start_broker
mosquitto_sub -h 127.0.0.1 -p $PORT -i it-sub -q 1 -v -t 'devices/dev-k/messages/events/#' > "$WORK/sub.txt" &
SUB=$!; PIDS+=($SUB)
wait_sub it-sub
"$DEV" --port $PORT --device dev-k --outbox "$WORK/ob.log" --count $N --rate 2000 > "$WORK/dev1.txt" &
D=$!
for _ in $(seq 1 200); do
  [ "$(grep -c ' msg-' "$WORK/sub.txt" || true)" -ge 300 ] && break
  sleep 0.05
done
kill -9 $D; wait $D 2>/dev/null || true
before=$(grep -c ' msg-' "$WORK/sub.txt" || true)
[ "$before" -gt 0 ] && [ "$before" -lt $N ] || fail "kill did not land mid-stream ($before received)"
timeout 60 "$DEV" --port $PORT --device dev-k --outbox "$WORK/ob.log" --count $N > "$WORK/dev2.txt" || fail "restart failed"
grep RECOVERED "$WORK/dev2.txt"
grep -q "remaining=0" "$WORK/dev2.txt" || { cat "$WORK/dev2.txt"; fail "outbox not drained"; }
for i in $(seq 1 50); do
  [ "$(grep -c ' msg-' "$WORK/sub.txt")" -ge $N ] && break
  sleep 0.1
done
echo "received before kill: $before"
python3 "$(dirname "$0")/iothub_check_stream.py" "$WORK/sub.txt" $N 100 || fail "stream check failed"
echo PASS
