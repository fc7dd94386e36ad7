#!/usr/bin/env bash
# The samples print every property of a C2D message (samples review,
# docs/decisions/samples-review.md): one whose key or value does not
# URL-decode into the sample's buffers (a key over 255 bytes, a value over
# 1,023) is shown as received and marked, not left out. Before, such a
# property vanished from the output without a word.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/../lib/shell.sh"
: "${TMA_BUILD_DIR:?}" "${IOTHUB_SAMPLES:?}" "${TRUSTM_CLI:?}" "${TRUSTM_SIM:?}" "${LOCALHUB:?}"
. "$(dirname "${BASH_SOURCE[0]}")/../lib/localhub_chip.sh"
lhc_init iothub_c2dprops
lhc_start_hub
lhc_device_ca "c2d props CA"
"$LOCALHUB" device create --id dev-props --auth x509-ca > /dev/null
lhc_chip dev-props

CS="HostName=localhost;DeviceId=dev-props;x509=true"
"$IOTHUB_SAMPLES/iothub-telemetry" --device "$DEV" --connection-string "$CS" --port "$PORT" \
  --count 1 --run-ms 5000 --outbox "$W/tel.outbox" > tel.out 2>&1 &
P=$!; PIDS+=($P)
for _ in $(seq 1 100); do grep -q '^connected' tel.out && break; sleep 0.1; done
grep -q '^connected' tel.out || fail "telemetry sample did not connect"
LONGK=$(printf 'k%.0s' $(seq 1 300))
LONGV=$(printf 'v%.0s' $(seq 1 1100))
"$LOCALHUB" c2d send --device dev-props --data 'with props' --props "short=1;$LONGK=2;lv=$LONGV" \
  --message-id props-1 > send.out 2>&1 || fail "c2d send"
wait $P || fail "telemetry sample exit status"
grep -qx 'C2D message: with props' tel.out || fail "the C2D was not delivered"
grep -qx '  property short = 1' tel.out || fail "the short property is missing"
grep -qx "  property $LONGK = 2 (not URL-decodable: shown as received)" tel.out \
  || fail "the property with a 300-byte key is missing or not marked"
grep -qx "  property lv = $LONGV (not URL-decodable: shown as received)" tel.out \
  || fail "the property with a 1,100-byte value is missing or not marked"
echo PASS
