#!/usr/bin/env bash
# Reconnects are paced by the back-off also when the connection itself
# succeeds: a hub that accepts the CONNECT (CONNACK 0) and drops the device
# at once (IoT Hub's answer to a throttled or over-quota device), and one that
# answers CONNACK 3 (server unavailable), each for 16 s, against the telemetry
# sample with SAS and --retry-ms 1000:100000:0 (no jitter): attempts at about
# 0, 1, 3, 7 and 15 s, 4 or 5 in all. A client that took each CONNACK for a
# success and started its back-off again came back every second (16); one
# that retried at once, hundreds. With trustm-sim (TRUSTM_SIM, TRUSTM_CLI):
# the drop after CONNACK with the key in the chip and a 20-200 ms back-off,
# paced by the chip-key pacer to one signature per connection, 6 or 7 in
# 16 s (83 without it). (RETRY16; the library side is unit-tested in
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

# The same drop after CONNACK with the key in the chip (trustm-sim), no TLS
# session resumed and a back-off of 20 to 200 ms: what paces the handshakes
# now is the chip-key pacer (burst 4, then one per 5.3 s, below the Security
# Monitor's one per t_max): one signature per connection, 6 or 7 in 16 s.
# Without it (a connector that does not report the key's use) about 80.
if [ -n "${TRUSTM_SIM:-}" ] && [ -n "${TRUSTM_CLI:-}" ]; then
  export TRUSTM_LOCK_DIR="$WORK"
  "$TRUSTM_SIM" --socket "$WORK/chip.sock" --state "$WORK/chip.state" > "$WORK/sim.out" 2>&1 &
  PIDS+=($!)
  for _ in $(seq 1 100); do [ -S "$WORK/chip.sock" ] && break; sleep 0.05; done
  [ -S "$WORK/chip.sock" ] || fail "simulator did not start"
  "$TRUSTM_CLI" --device "sim:$WORK/chip.sock" personalize --device-id pace-x --ca-cert "$WORK/ca.pem" \
    --ca-key "$WORK/ca.key" --trust-anchor "$WORK/ca.pem" > "$WORK/pers.out" 2>&1 || fail "personalize: $(tail -3 "$WORK/pers.out")"
  rm -f "$WORK/srv.port" "$WORK/conn.x509"
  python3 "$(dirname "$0")/iothub_reconnect_pace.py" "$WORK/srv.pem" "$WORK/srv.key" "$WORK/srv.port" \
    "$WORK/conn.x509" close 0 "$WORK/ca.pem" &
  srv=$!; PIDS+=($srv)
  for _ in $(seq 1 100); do [ -s "$WORK/srv.port" ] && break; sleep 0.05; done
  [ -s "$WORK/srv.port" ] || fail "x509: server did not start"
  set +e
  "$TEL" --device "sim:$WORK/chip.sock" --connection-string "HostName=localhost;DeviceId=pace-x;x509=true" \
    --port "$(cat "$WORK/srv.port")" --count 1 --run-ms 16000 --timeout-ms 60000 --retry-ms 20:200:0 \
    --outbox "$WORK/ob.x509" > "$WORK/tel.x509" 2> "$WORK/err.x509"
  set -e
  kill $srv 2>/dev/null || true; wait $srv 2>/dev/null || true
  n=$(wc -l < "$WORK/conn.x509" 2>/dev/null || echo 0)
  sigs=$(sed -n 's/.*chip signatures \([0-9]*\)$/\1/p' "$WORK/tel.x509")
  echo "x509: $n connections in 16 s at ms: $(awk '{printf "%s ", $1}' "$WORK/conn.x509"); chip signatures $sigs"
  grep '^connections:' "$WORK/tel.x509" || true
  ! awk '$3 != 0 { exit 1 }' "$WORK/conn.x509" && fail "x509: a TLS session was resumed"
  [ "$sigs" = "$n" ] || fail "x509: $sigs chip signatures for $n connections: $(tail -3 "$WORK/err.x509")"
  grep -q "^connections: $n attempts, $n accepted, $n charged to the chip-key pacer" "$WORK/tel.x509" \
    || fail "x509: $(grep '^connections:' "$WORK/tel.x509")"
  [ "$n" -ge 5 ] && [ "$n" -le 7 ] || fail "x509: $n chip-key connections in 16 s: not paced by the key pacer"
fi
echo PASS
