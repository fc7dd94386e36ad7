#!/usr/bin/env bash
# localhub with our own device client (examples/iothub-*: MQTT client, IoT Hub
# and DPS client, mbedTLS): SAS telemetry + C2D, twin + methods, DPS.
. "$TMA_SOURCE_DIR/tests/integration/hub_lib.sh"
EX="$TMA_BUILD_DIR/examples"
hub_start
cd "$T"   # the samples keep state files (outboxes) in the working folder
"$L" device create --id ours --auth sas >/dev/null
CS=$("$L" device connection-string ours)

(wait_state ours c2d; "$L" c2d send --device ours --data c2d-to-ours --props k=v >/dev/null) &
timeout 30 "$EX/iothub-telemetry" --connection-string "$CS" --port "$PORT" --ca "$CAF" --count 3 --interval-ms 200 \
  --run-ms 4000 --outbox "$T/outbox" >"$T/tel.out" 2>&1 || fail "iothub-telemetry: $(tail -3 "$T/tel.out")"
wait
[ "$(grep -c '"deviceId":"ours"' "$LOCALHUB_HOME/telemetry.jsonl")" -eq 3 ] || fail "expected 3 stored messages"
grep -q "C2D message: c2d-to-ours" "$T/tel.out" || fail "C2D not received: $(cat "$T/tel.out")"
grep -q "property k = v" "$T/tel.out" || fail "C2D property not received"
ok "our client: telemetry stored, C2D with properties received"

timeout 30 "$EX/iothub-twin-methods" --connection-string "$CS" --port "$PORT" --ca "$CAF" --run-ms 6000 --outbox "$T/tm.outbox" >"$T/tm.out" 2>&1 &
DEV=$!
wait_state ours methods
wait_state ours twin-desired
"$L" twin update --device ours --desired '{"blink":3}' >/dev/null
"$L" method invoke --device ours --name reboot --payload '{}' --timeout 10 >"$T/m.json" || fail "method: $(cat "$T/tm.out")"
grep -q '"status":[[:space:]]*200' "$T/m.json" || fail "reboot status: $(cat "$T/m.json")"
"$L" method invoke --device ours --name unknown --timeout 10 >"$T/m2.json"
grep -q '"status":[[:space:]]*404' "$T/m2.json" || fail "unknown method status: $(cat "$T/m2.json")"
wait $DEV || true
grep -q blink "$T/tm.out" || fail "desired update not seen by the device: $(cat "$T/tm.out")"
"$L" twin show --device ours | grep_all -q '"\$version":[[:space:]]*[2-9]' || fail "no reported properties from the device"
ok "our client: twin GET/reported/desired push, method answered"

KEY=$("$L" --json dps enrollment create --registration-id ours-dps --attestation symmetric-key \
      | sed -n 's/.*"primaryKey":[[:space:]]*"\([^"]*\)".*/\1/p')
SCOPE=$("$L" --json dps show | sed -n 's/.*"idScope":[[:space:]]*"\([^"]*\)".*/\1/p')
timeout 40 "$EX/iothub-dps" --id-scope "$SCOPE" --registration-id ours-dps --sas-key "$KEY" --dps-host localhost \
  --port "$PORT" --ca "$CAF" --count 1 --outbox "$T/outbox2" >"$T/dps.out" 2>&1 || fail "iothub-dps: $(tail -5 "$T/dps.out")"
"$L" device show ours-dps >/dev/null || fail "DPS did not create the device"
grep -q '"deviceId":"ours-dps"' "$LOCALHUB_HOME/telemetry.jsonl" || fail "provisioned device sent nothing"
ok "our client: DPS registration, then telemetry to the assigned hub"
