#!/usr/bin/env bash
# 10,000 QoS 1 telemetry messages while the broker is stopped and restarted
# five times: all arrive, first occurrences in order; duplicates counted and
# bounded by the in-flight window per reconnect. The connections here last
# under a second, so the back-off grows across them (a connection shorter
# than IOTHUB_STABLE_CONNECTION_MS counts as a failed attempt): capped at
# 400 ms so the restarts still land inside the stream.
. "$(dirname "$0")/iothub_lib.sh"
N=10000
WINDOW=16
BROKER_WINDOW=20
RESTARTS=5
BROKER_INFLIGHT=$BROKER_WINDOW start_broker persist
export BROKER_INFLIGHT=$BROKER_WINDOW
# A persistent subscriber session (clean session off) so the broker keeps
# its queue across restarts; mosquitto_sub reconnects by itself.
mosquitto_sub -h 127.0.0.1 -p $PORT -c -i iothub-it-sub -q 1 -v -t 'devices/dev-r/messages/events/#' > "$WORK/sub.txt" 2>"$WORK/sub.err" &
SUB=$!; PIDS+=($SUB)
wait_sub iothub-it-sub
"$DEV" --port $PORT --device dev-r --outbox "$WORK/ob.log" --count $N --rate 2500 --window $WINDOW \
  --retry-min-ms 100 --retry-max-ms 400 --jitter-ms 100 > "$WORK/dev.txt" &
D=$!; PIDS+=($D)
for r in $(seq 1 $RESTARTS); do
  # Each restart hits a live connection in the middle of the stream: wait for
  # the r-th connection and some traffic on it first.
  for _ in $(seq 1 200); do
    [ "$(grep -c 'EVENT connected' "$WORK/dev.txt" || true)" -ge "$r" ] && break
    sleep 0.05
  done
  sleep 0.4
  kill -0 $D 2>/dev/null || fail "device finished before restart $r (stream too short for this machine)"
  restart_broker TERM
  echo "restart $r done" >> "$WORK/restarts.txt"
done
for i in $(seq 1 600); do
  kill -0 $D 2>/dev/null || break
  sleep 0.1
done
kill -0 $D 2>/dev/null && { tail "$WORK/dev.txt"; fail "device did not finish"; }
wait $D || fail "device failed"
# let the subscriber drain
for i in $(seq 1 100); do
  c=$(grep -c ' msg-' "$WORK/sub.txt" || true)
  [ "$c" -ge $N ] && python3 "$(dirname "$0")/iothub_check_stream.py" "$WORK/sub.txt" $N 1000000 >/dev/null && break
  sleep 0.1
done
sleep 0.3
cat "$WORK/dev.txt" | grep -E "DONE|EVENT" | sort | uniq -c
line=$(grep DONE "$WORK/dev.txt")
echo "$line"
connects=$(echo "$line" | sed 's/.*connects=\([0-9]*\).*/\1/')
retx=$(echo "$line" | sed 's/.*retransmitted=\([0-9]*\).*/\1/')
acked=$(echo "$line" | sed 's/.*acked=\([0-9]*\).*/\1/')
[ "$connects" -ge $((RESTARTS + 1)) ] || fail "expected at least $((RESTARTS + 1)) connections, got $connects (the restarts missed the stream)"
[ "$acked" -eq $N ] || fail "device saw $acked PUBACKs, want $N"
# Device side: at most the window is retransmitted per reconnect.
[ "$retx" -le $((WINDOW * (connects - 1))) ] || fail "device retransmitted $retx > $WINDOW per reconnect"
# Receiver side: device resends plus the broker's own redelivery window.
python3 "$(dirname "$0")/iothub_check_stream.py" "$WORK/sub.txt" $N $(( (WINDOW + BROKER_WINDOW) * (connects - 1) )) \
  || fail "stream check failed"
echo "device reconnects=$((connects - 1)) retransmitted=$retx"
echo PASS
