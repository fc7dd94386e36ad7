#!/usr/bin/env bash
# End to end: the samples with the key in the simulated chip (trustm-sim
# daemon), mutual TLS to localhub. Telemetry with properties reaches the hub,
# a C2D message reaches the sample, the twin and a direct method work, DPS
# provisions the device with the chip certificate, and a reconnecting run
# costs the chip one signature per full handshake.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/../lib/shell.sh"
: "${TMA_BUILD_DIR:?}" "${IOTHUB_SAMPLES:?}" "${TRUSTM_CLI:?}" "${TRUSTM_SIM:?}" "${LOCALHUB:?}"
. "$(dirname "${BASH_SOURCE[0]}")/../lib/localhub_chip.sh"
lhc_init iothub_e2e
lhc_start_hub
# Device CA (verified on the hub) and the device identity.
lhc_device_ca "iothub e2e CA"
"$LOCALHUB" device create --id dev-e2e --auth x509-ca > /dev/null
# The chip: key generated inside, certificate issued by the CA, hub root as trust anchor.
lhc_chip dev-e2e --trace "$W/chip.trace"

CS="HostName=localhost;DeviceId=dev-e2e;x509=true"
echo "== telemetry + C2D"
"$IOTHUB_SAMPLES/iothub-telemetry" --device "$DEV" --connection-string "$CS" --port "$PORT" \
  --count 5 --interval-ms 100 --run-ms 6000 --outbox "$W/tel.outbox" > tel.out 2>&1 &
P=$!; PIDS+=($P)
for _ in $(seq 1 100); do grep -q '^connected' tel.out && break; sleep 0.1; done
grep -q '^connected' tel.out || fail "telemetry sample did not connect"
"$LOCALHUB" c2d send --device dev-e2e --data 'hello chip' --props 'color=blue;note=50%off!' --message-id m-1 > /dev/null
wait $P || fail "telemetry sample exit status"
grep -q '^done: 5 queued, 5 acknowledged, 0 still in the outbox, chip signatures 1$' tel.out || fail "telemetry summary"
grep -qx 'C2D message: hello chip' tel.out || fail "C2D not printed"
grep -qx '  property color = blue' tel.out || fail "C2D property color"
grep -qx '  property note = 50%off!' tel.out || fail "C2D property note"
grep -qx '  property $.mid = m-1' tel.out || fail "C2D message id"
"$LOCALHUB" monitor-events --device dev-e2e --from-start --count 5 --timeout 5 --properties all > events.out 2>&1 \
  || fail "monitor-events"
grep -q '4-[0-9]*"' events.out || fail "hub did not receive message 4"
grep -q 'application/json' events.out || fail "content type not seen by the hub"

echo "== reconnects cost the chip no object reads, and one signature per full handshake"
count() { grep -c "$1" chip.trace || true; }
reads0=$(count 'GetDataObject'); signs0=$(count 'CalcSign')
"$IOTHUB_SAMPLES/iothub-telemetry" --device "$DEV" --connection-string "$CS" --port "$PORT" \
  --count 30 --interval-ms 100 --outbox "$W/rec.outbox" --timeout-ms 30000 > rec.out 2>&1 &
P=$!; PIDS+=($P)
for _ in $(seq 1 100); do grep -q '^message 5 acknowledged' rec.out && break; sleep 0.1; done
"$LOCALHUB" stop > /dev/null
sleep 0.5
"$LOCALHUB" start --port "$PORT" > restart.out 2>&1 || fail "localhub restart"
wait $P || fail "telemetry across a hub restart"
grep -q '^done: 30 queued, 30 acknowledged, 0 still in the outbox' rec.out || fail "messages lost across the restart"
connects=$(grep -c '^connected' rec.out)
[ "$connects" -ge 2 ] || fail "no reconnect happened"
reads=$(( $(count 'GetDataObject') - reads0 )); signs=$(( $(count 'CalcSign') - signs0 ))
sig_line=$(sed -n 's/.*chip signatures \([0-9]*\)$/\1/p' rec.out)
echo "connections=$connects chip object reads=$reads signatures(trace)=$signs signatures(binding)=$sig_line"
# Reads happen once at start-up (certificate chain, trust anchor, and the
# Azure backup root object 0xF1E0, empty here), never per connect.
[ "$reads" -eq 3 ] || fail "expected 3 object reads (0xE0E1 chain, 0xE0E8 anchor, 0xF1E0 backup root) for $connects connections, saw $reads"
[ "$signs" -le "$connects" ] || fail "more signatures than connections"
[ "$signs" -eq "$sig_line" ] || fail "trace and binding disagree on signatures"

echo "== a connection taken over by another client: the sample reconnects (TLS session resumed when the hub allows)"
openssl ecparam -name prime256v1 -genkey -noout -out other.key 2>/dev/null
openssl req -new -key other.key -subj "/CN=dev-e2e" -out other.csr 2>/dev/null
openssl x509 -req -in other.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -out other.pem 2>/dev/null
signs0=$(count 'CalcSign')
"$IOTHUB_SAMPLES/iothub-telemetry" --device "$DEV" --connection-string "$CS" --port "$PORT" \
  --count 20 --interval-ms 150 --outbox "$W/take.outbox" --timeout-ms 30000 > take.out 2>&1 &
P=$!; PIDS+=($P)
for _ in $(seq 1 100); do grep -q '^message 3 acknowledged' take.out && break; sleep 0.1; done
mosquitto_pub -h localhost -p "$PORT" --cafile "$CAF" --cert other.pem --key other.key -V mqttv311 \
  -i dev-e2e -u "localhost/dev-e2e/?api-version=2021-04-12" -q 1 -t devices/dev-e2e/messages/events/ -m takeover \
  || fail "takeover client"
wait $P || fail "telemetry after a takeover"
grep -q '^done: 20 queued, 20 acknowledged, 0 still in the outbox' take.out || fail "messages lost in the takeover"
connects=$(grep -c '^connected' take.out)
signs=$(( $(count 'CalcSign') - signs0 ))
echo "takeover: connections=$connects signatures=$signs"
[ "$connects" -ge 2 ] || fail "the takeover did not drop the sample"
# localhub resumes TLS sessions: only the first handshake needs the chip.
[ "$signs" -eq 1 ] || fail "reconnect with a resumable session cost $signs signatures"

echo "== SAS: a symmetric-key device with its connection string (token checked by the hub)"
K1=$(head -c 32 /dev/urandom | base64); K2=$(head -c 32 /dev/urandom | base64)
"$LOCALHUB" device create --id sas-dev --auth sas --primary-key "$K1" --secondary-key "$K2" > /dev/null
"$IOTHUB_SAMPLES/iothub-telemetry" --connection-string "HostName=localhost;DeviceId=sas-dev;SharedAccessKey=$K2" \
  --ca "$CAF" --port "$PORT" --count 3 --interval-ms 50 --outbox "$W/sas.outbox" --timeout-ms 20000 > sas.out 2>&1 \
  || fail "SAS device"
grep -q '^done: 3 queued, 3 acknowledged, 0 still in the outbox' sas.out || fail "SAS telemetry"
# the same with the connection string in the environment (the key stays out of ps)
IOTHUB_DEVICE_CONNECTION_STRING="HostName=localhost;DeviceId=sas-dev;SharedAccessKey=$K1" \
  "$IOTHUB_SAMPLES/iothub-telemetry" --ca "$CAF" --port "$PORT" --count 2 --interval-ms 50 \
  --outbox "$W/sas-env.outbox" --timeout-ms 20000 > sas-env.out 2>&1 || fail "SAS device, connection string from the environment"
grep -q '^done: 2 queued, 2 acknowledged, 0 still in the outbox' sas-env.out || fail "SAS telemetry (environment)"
rc=0
"$IOTHUB_SAMPLES/iothub-telemetry" --connection-string "HostName=localhost;DeviceId=sas-dev;SharedAccessKey=$(head -c 32 /dev/urandom | base64)" \
  --ca "$CAF" --port "$PORT" --count 1 --outbox "$W/sas2.outbox" --timeout-ms 20000 > sas2.out 2>&1 || rc=$?
[ $rc -eq 1 ] && grep -q 'not authorized' sas2.out || fail "a wrong SAS key was not refused clearly"

echo "== an unknown device gets a clear refusal and no retry storm"
rc=0
"$IOTHUB_SAMPLES/iothub-telemetry" --device "$DEV" --connection-string "HostName=localhost;DeviceId=nobody;x509=true" \
  --port "$PORT" --count 1 --outbox "$W/nobody.outbox" --timeout-ms 20000 > nobody.out 2>&1 || rc=$?
[ $rc -eq 1 ] || fail "unknown device: exit $rc"
grep -q 'hub refused the connection: refused: not authorized (IoT Hub' nobody.out || fail "refusal text"
[ "$(grep -c '^refused' nobody.out)" -eq 1 ] || fail "retried after CONNACK 5"

echo "== twin + methods"
"$IOTHUB_SAMPLES/iothub-twin-methods" --device "$DEV" --connection-string "$CS" --port "$PORT" \
  --run-ms 6000 --outbox "$W/twin.outbox" > twin.out 2>&1 &
P=$!; PIDS+=($P)
for _ in $(seq 1 100); do grep -q '^reported properties accepted' twin.out && break; sleep 0.1; done
grep -q '^reported properties accepted (status 204' twin.out || fail "reported PATCH"
"$LOCALHUB" method invoke --device dev-e2e --name reboot --payload '{"delay":1}' > method.out 2>&1 || fail "method invoke"
grep -q '200' method.out || fail "method status"
grep -q 'scheduled' method.out || fail "method payload"
"$LOCALHUB" twin update --device dev-e2e --desired '{"interval":30}' > /dev/null
for _ in $(seq 1 50); do grep -q '^desired update, version' twin.out && break; sleep 0.1; done
grep -q '^desired update, version [0-9]*: {"interval":30' twin.out || fail "desired update"
rc=0; wait $P || rc=$?
[ $rc -eq 0 ] || fail "twin-methods sample exit status $rc"
"$LOCALHUB" twin show --device dev-e2e > twin.json
grep -q '"sample"' twin.json || fail "reported property not in the twin"

echo "== DPS with the chip certificate"
SCOPE=$("$LOCALHUB" --json dps show | sed -n 's/.*"idScope":[[:space:]]*"\([^"]*\)".*/\1/p')
"$LOCALHUB" dps enrollment-group create --group-id g1 --ca devca > /dev/null
"$TRUSTM_CLI" --device "$DEV" personalize --device-id reg-e2e --ca-cert ca.pem --ca-key ca.key \
  --trust-anchor "$CAF" > pers2.out 2>&1 || fail "personalize for DPS"
"$IOTHUB_SAMPLES/iothub-dps" --device "$DEV" --id-scope "$SCOPE" --dps-host localhost --port "$PORT" \
  --count 2 --interval-ms 50 --timeout-ms 30000 --outbox "$W/dps.outbox" > dps.out 2>&1 || fail "dps sample"
grep -q '^registering reg-e2e ' dps.out || fail "registration id is not the certificate CN"
grep -q '^assigned to localhost as reg-e2e' dps.out || fail "assignment"
grep -c '^message [01]: ok' dps.out | grep_all -qx 2 || fail "telemetry after DPS"
"$LOCALHUB" device show --id reg-e2e > /dev/null || fail "DPS did not create the device"

echo "== DPS assignment kept; registering again when the hub refuses it"
dps_run() { # output file
  "$IOTHUB_SAMPLES/iothub-dps" --device "$DEV" --id-scope "$SCOPE" --dps-host localhost --port "$PORT" \
    --count 2 --interval-ms 50 --timeout-ms 30000 --outbox "$W/dps2.outbox" --assignment "$W/assign" \
    > "$1" 2>&1 || fail "dps sample ($1)"
}
dps_run dpsa.out
grep -q '^assigned to localhost as reg-e2e' dpsa.out || fail "first run: assignment"
[ "$(cat "$W/assign")" = "$(printf 'localhost\nreg-e2e')" ] || fail "assignment file content"
[ "$(stat -c %a "$W/assign")" = 600 ] || fail "assignment file mode"
dps_run dpsb.out
grep -q '^assignment from .*: localhost as reg-e2e' dpsb.out || fail "second run: cached assignment"
grep -q '^registering' dpsb.out && fail "second run registered with DPS again"
grep -c '^message [01]: ok' dpsb.out | grep_all -qx 2 || fail "telemetry with the cached assignment"
"$LOCALHUB" device delete --id reg-e2e > /dev/null || fail "device delete"
dps_run dpsc.out
grep -q '^hub refused' dpsc.out || fail "third run: the hub did not refuse the deleted device"
grep -q '^the hub refused the cached assignment: registering again' dpsc.out || fail "no re-registration"
grep -q '^assigned to localhost as reg-e2e' dpsc.out || fail "third run: assignment"
grep -c '^message [01]: ok' dpsc.out | grep_all -qx 2 || fail "telemetry after registering again"
"$LOCALHUB" device show --id reg-e2e > /dev/null || fail "DPS did not create the device again"

echo "== DPS with the enrollment group disabled: a clear refusal"
"$LOCALHUB" dps enrollment-group disable --group-id g1 > /dev/null || fail "group disable"
rc=0
"$IOTHUB_SAMPLES/iothub-dps" --device "$DEV" --id-scope "$SCOPE" --dps-host localhost --port "$PORT" \
  --count 1 --timeout-ms 30000 --outbox "$W/dps3.outbox" > dpsd.out 2>&1 || rc=$?
[ $rc -eq 1 ] || fail "disabled registration: exit status $rc"
grep -q '^provisioning refused: the registration is disabled in DPS' dpsd.out || fail "disabled: message"

echo "== DPS with a registration id outside DPS's alphabet: an argument error (exit 2) before any I/O"
rc=0
"$IOTHUB_SAMPLES/iothub-dps" --device "$DEV" --id-scope "$SCOPE" --dps-host localhost --port "$PORT" \
  --registration-id 'reg e2e/1' --count 1 --timeout-ms 30000 --outbox "$W/dps4.outbox" > dpse.out 2>&1 || rc=$?
[ $rc -eq 2 ] || fail "bad registration id: exit status $rc"
grep -q "^iothub-dps: --registration-id takes 1..128 letters, digits and - . _ :" dpse.out \
  || fail "bad registration id: message: $(cat dpse.out)"
grep -q '^registering' dpse.out && fail "bad registration id: registration attempted"
echo PASS
