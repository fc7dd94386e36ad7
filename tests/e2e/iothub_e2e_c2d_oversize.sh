#!/usr/bin/env bash
# End to end: a C2D message larger than the device's receive buffer (here
# 16 KB, a small device's; IoT Hub and localhub allow 64 KB) does not stop the
# device. And with the samples' default buffer IoT Hub's largest C2D (64 KB
# of body) arrives whole.
# Before b64a5f7 the connection ended with "buffer too small", the broker
# delivered the message again after every CONNACK, and the device sent no
# telemetry for the rest of the run. Now it is skipped without a PUBACK and
# counted; telemetry and later C2D messages go on over the same connection.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/../lib/shell.sh"
: "${TMA_BUILD_DIR:?}" "${IOTHUB_SAMPLES:?}" "${TRUSTM_CLI:?}" "${TRUSTM_SIM:?}" "${LOCALHUB:?}"
. "$(dirname "${BASH_SOURCE[0]}")/../lib/localhub_chip.sh"
lhc_init iothub_c2dbig
lhc_start_hub
lhc_device_ca "c2d oversize CA"
"$LOCALHUB" device create --id dev-big --auth x509-ca > /dev/null
lhc_chip dev-big

CS="HostName=localhost;DeviceId=dev-big;x509=true"
"$IOTHUB_SAMPLES/iothub-telemetry" --device "$DEV" --connection-string "$CS" --port "$PORT" \
  --count 20 --interval-ms 150 --run-ms 8000 --outbox "$W/tel.outbox" --rx-buf 16384 > tel.out 2>&1 &
P=$!; PIDS+=($P)
for _ in $(seq 1 100); do grep -q '^connected' tel.out && break; sleep 0.1; done
grep -q '^connected' tel.out || fail "telemetry sample did not connect"
# 20,000 bytes of body: more than this run's 16 KB receive buffer
BIG=$(head -c 20000 /dev/zero | tr '\0' 'x')
"$LOCALHUB" c2d send --device dev-big --data "$BIG" --message-id big-1 > /dev/null || fail "c2d send (big)"
sleep 1
"$LOCALHUB" c2d send --device dev-big --data 'small after big' --message-id small-1 > /dev/null \
  || fail "c2d send (small)"
wait $P || fail "telemetry sample exit status"
grep -q '^done: 20 queued, 20 acknowledged, 0 still in the outbox, chip signatures 1$' tel.out \
  || fail "telemetry did not all arrive on one connection"
grep -qx 'C2D message: small after big' tel.out || fail "the C2D after the big one was not delivered"
grep -qx 'messages larger than the receive buffer (skipped, not acknowledged): 1' tel.out \
  || fail "the big C2D was not counted as skipped"
grep -q '^connections: 1 attempts, 1 accepted' tel.out || fail "the device reconnected"
if grep -q 'buffer too small' tel.out; then fail "the connection ended on the big C2D"; fi
"$LOCALHUB" monitor-events --device dev-big --from-start --count 20 --timeout 10 > events.out 2>&1 \
  || fail "the hub did not store the 20 messages"

# The default buffer: a 65,536-byte body (localhub's and IoT Hub's largest)
# with properties arrives whole (nothing skipped).
"$IOTHUB_SAMPLES/iothub-telemetry" --device "$DEV" --connection-string "$CS" --port "$PORT" \
  --count 1 --run-ms 5000 --outbox "$W/tel2.outbox" > tel2.out 2>&1 &
P=$!; PIDS+=($P)
for _ in $(seq 1 100); do grep -q '^connected' tel2.out && break; sleep 0.1; done
grep -q '^connected' tel2.out || fail "second telemetry run did not connect"
MAX=$(head -c 65536 /dev/zero | tr '\0' 'y')
"$LOCALHUB" c2d send --device dev-big --data "$MAX" --props 'k1=v1' --message-id max-1 > /dev/null \
  || fail "c2d send (64 KB)"
wait $P || fail "second telemetry run exit status"
grep -qx "C2D message: $MAX" tel2.out || fail "the 64 KB C2D did not arrive whole with the default buffer"
grep -qx '  property k1 = v1' tel2.out || fail "the 64 KB C2D's property bag was not parsed"
if grep -q 'messages larger than the receive buffer (skipped, not acknowledged): [1-9]' tel2.out; then
  fail "the default buffer skipped a 64 KB C2D"
fi
echo "PASS"
