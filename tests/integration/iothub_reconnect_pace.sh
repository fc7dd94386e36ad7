#!/usr/bin/env bash
# Reconnects are paced by the back-off also when the connection itself
# succeeds: a hub that accepts the CONNECT (CONNACK 0) and drops the device
# at once (IoT Hub's answer to a throttled or over-quota device), and one that
# answers CONNACK 3 (server unavailable), each for 16 s, against the telemetry
# sample with SAS and --retry-ms 1000:100000:0 (no jitter): attempts at about
# 0, 1, 3, 7 and 15 s, 4 or 5 in all. A client that took each CONNACK for a
# success and started its back-off again came back every second (16); one
# that retried at once, hundreds. (RETRY16; the library side is unit-tested in
# iothub_glue, test_client_pacer_under_flapping_connection.)
. "$(dirname "$0")/iothub_lib.sh"
: "${IOTHUB_SAMPLES:?set by ctest}"
TEL="$IOTHUB_SAMPLES/iothub-telemetry"
make_broker_pki

run_mode() {
  local mode=$1 srv n
  rm -f "$WORK/srv.port" "$WORK/conn.$mode"
  python3 "$(dirname "$0")/iothub_reconnect_pace.py" "$WORK/srv.pem" "$WORK/srv.key" "$WORK/srv.port" \
    "$WORK/conn.$mode" "$mode" &
  srv=$!; PIDS+=($srv)
  for _ in $(seq 1 100); do [ -s "$WORK/srv.port" ] && break; sleep 0.05; done
  [ -s "$WORK/srv.port" ] || fail "$mode: server did not start"
  set +e
  "$TEL" --connection-string "HostName=localhost;DeviceId=pace-$mode;SharedAccessKey=YWJjZGVm" \
    --ca "$WORK/ca.pem" --port "$(cat "$WORK/srv.port")" --count 1 --run-ms 16000 --timeout-ms 60000 \
    --retry-ms 1000:100000:0 --outbox "$WORK/ob.$mode" > "$WORK/tel.$mode" 2> "$WORK/err.$mode"
  set -e
  kill $srv 2>/dev/null || true
  wait $srv 2>/dev/null || true
  if grep -q "AddressSanitizer\|LeakSanitizer\|runtime error" "$WORK/err.$mode"; then
    fail "$mode: sanitizer: $(cat "$WORK/err.$mode")"
  fi
  n=$(wc -l < "$WORK/conn.$mode" 2>/dev/null || echo 0)
  echo "$mode: $n connections in 16 s at ms: $(awk '{printf "%s ", $1}' "$WORK/conn.$mode")"
  grep '^connections:' "$WORK/tel.$mode" || true
  [ "$n" -ge 4 ] || fail "$mode: only $n connection attempts in 16 s (the client gave up?): $(tail -3 "$WORK/err.$mode")"
  [ "$n" -le 5 ] || fail "$mode: $n connection attempts in 16 s: not paced by the back-off"
}

run_mode close
n=$(wc -l < "$WORK/conn.close")
grep -q "^connections: $n attempts, $n accepted" "$WORK/tel.close" \
  || fail "close: the device did not see every CONNACK: $(grep '^connections:' "$WORK/tel.close")"
grep -q "1 still in the outbox" "$WORK/tel.close" || fail "close: message not kept: $(tail -2 "$WORK/tel.close")"
run_mode refuse3
echo PASS
