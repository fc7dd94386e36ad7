#!/usr/bin/env bash
# Telemetry with system and application properties arrives at a subscriber
# with exactly the topic of spec section 2.
. "$(dirname "$0")/iothub_lib.sh"
start_broker
mosquitto_sub -h 127.0.0.1 -p $PORT -i it-sub -q 1 -v -t 'devices/#' -C 3 -W 20 > "$WORK/sub.txt" &
SUB=$!; PIDS+=($SUB)
wait_sub it-sub
timeout 30 "$DEV" --port $PORT --device 'dev-01' --outbox "$WORK/ob.log" --count 3 --props > "$WORK/dev.txt"
wait $SUB || fail "subscriber did not get 3 messages"
for i in 0 1 2; do
  want="devices/dev-01/messages/events/%24.mid=m$i&%24.ct=application%2Fjson%3Bcharset%3Dutf-8&%24.ce=utf-8&alert%20level=high%26dry msg-00000$i"
  grep -qxF -- "$want" "$WORK/sub.txt" || { cat "$WORK/sub.txt"; fail "missing exact line: $want"; }
done
grep -q "DONE sent=3 acked=3" "$WORK/dev.txt" || { cat "$WORK/dev.txt"; fail "device did not get 3 PUBACKs"; }
# Nothing left in the outbox: a restart sends nothing again.
timeout 10 "$DEV" --port $PORT --device 'dev-01' --outbox "$WORK/ob.log" --count 3 > "$WORK/dev2.txt"
grep -q "RECOVERED 0 next=3" "$WORK/dev2.txt" || { cat "$WORK/dev2.txt"; fail "outbox not empty after acks"; }
echo PASS
