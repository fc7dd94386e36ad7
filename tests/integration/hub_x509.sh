#!/usr/bin/env bash
# localhub: CA proof of possession, X.509 device authentication with every
# refusal as CONNACK 5, and telemetry seen through monitor-events.
. "$(dirname "$0")/hub_lib.sh"
hub_start

mk_ca root
mk_ca inter root
mk_ca other

# --- proof of possession (issue 5 item 2)
code=$("$L" ca add root "$T/root.pem")
[[ "$code" =~ ^[0-9A-F]{32}$ ]] || fail "verification code looks wrong: $code"
mk_leaf wrongcn "NOT-$code" root
"$L" ca verify root "$T/wrongcn.pem" 2>"$T/err" && fail "verify accepted a wrong CN"
grep -q "verification failed" "$T/err" || fail "no reason for failed verify"
mk_leaf forged "$code" other            # right CN, signed by another key
"$L" ca verify root "$T/forged.pem" 2>/dev/null && fail "verify accepted a certificate not signed by the CA"
mk_leaf pop "$code" root
"$L" ca verify root "$T/pop.pem" >/dev/null
"$L" --json ca show root | grep_all -q '"isVerified":[[:space:]]*true' || fail "CA not verified"
ok "proof of possession"
"$L" ca add other "$T/other.pem" >/dev/null   # uploaded, never verified
"$L" ca add root "$T/root.pem" 2>/dev/null && fail "duplicate CA name accepted"
"$L" ca add leaf "$T/pop.pem" 2>/dev/null && fail "a leaf certificate was accepted as a CA"

# --- devices
"$L" device create --id dev1 --auth x509-ca >/dev/null
"$L" device create --id dev2 --auth x509-ca >/dev/null
"$L" device create --id devoff --auth x509-ca --disabled >/dev/null
"$L" device create --id 'bad/id' --auth x509-ca 2>/dev/null && fail "invalid device id accepted"
"$L" device create --id dev1 --auth x509-ca 2>/dev/null && fail "duplicate device accepted"
mk_leaf dev1 dev1 root
mk_leaf dev1i dev1 inter
cat "$T/dev1i.pem" "$T/inter.pem" >"$T/dev1chain.pem"; cp "$T/dev1i.key" "$T/dev1chain.key"
mk_leaf dev2other dev2 other
mk_leaf dev1exp dev1 root expired
mk_leaf devoff devoff root
mk_leaf dev1self dev1 - selfsigned

# --- telemetry through monitor-events (issue 5 item 6)
"$L" --json monitor-events --device dev1 --properties all --count 2 --timeout 20 --from-start >"$T/events" &
MON=$!
pub_x509 dev1 dev1 -t 'devices/dev1/messages/events/%24.mid=m-1&%24.ct=application%2Fjson&%24.ce=utf-8&color=red%20blue&flag' -m '{"temp":21.5}'
pub_x509 dev1 dev1chain -t 'devices/dev1/messages/events/$.mid=m-2' -m 'plain text'
wait $MON || fail "monitor-events did not see 2 events"
grep -q '"message-id":"m-1"' "$T/events" || fail "system property \$.mid missing"
grep -q '"content-type":"application/json"' "$T/events" || fail "content type missing"
grep -q '"color":"red blue"' "$T/events" || fail "application property not decoded"
grep -q '"flag":null' "$T/events" || fail "bare key not kept as null"
grep -q '"temp":21.5' "$T/events" || fail "JSON payload missing"
grep -q '"message-id":"m-2"' "$T/events" || fail "raw \$ property not accepted"
grep -q '"iothub-connection-device-id":"dev1"' "$T/events" || fail "device id not stamped"
grep -q '"iothub-enqueuedtime":"20' "$T/events" || fail "enqueued time missing"
grep -q '"origin":"dev1"' "$T/events" || fail "origin missing"
ok "telemetry with encoded and raw system properties, app properties, enqueue time"
ok "a leaf signed by an intermediate under the verified root authenticates when the chain is sent"
# resumed TLS sessions (TLS 1.2 session ids/tickets, TLS 1.3 tickets) restore no
# chain: the hub must remember it, or intermediate-signed devices fail on reconnect
for v in 1.2 1.3; do
  out=$(mqttc dev1 --cert "$T/dev1chain.pem" --key "$T/dev1chain.key" --tls-max $v reconnect reconnect)
  [ "$(grep_in "$out" -c '^TLS resumed')" -eq 2 ] || fail "TLS $v session not resumed: $out"
  [ "$(grep_in "$out" -c '^CONNACK 0')" -eq 3 ] || fail "resumed TLS $v session refused: $out"
done
ok "resumed TLS sessions of intermediate-signed devices authenticate"

"$L" --json device show dev1 | grep_all -q '"connectionState"' || fail "device show"

# IoT Plug and Play: the model id from the user name is stamped as dt-dataschema
mosquitto_pub -h localhost -p "$PORT" --cafile "$CAF" --cert "$T/dev1.pem" --key "$T/dev1.key" -V mqttv311 -i dev1 \
  -u 'localhost/dev1/?api-version=2020-09-30&DeviceClientType=test%2F1.0&model-id=dtmi%3Acom%3Aexample%3AThermostat%3B1' \
  -q 1 -t 'devices/dev1/messages/events/%24.sub=thermostat1' -m pnp
wait_log '"payload":"pnp"'
grep '"payload":"pnp"' "$LOCALHUB_HOME/telemetry.jsonl" | grep_all -q '"dt-dataschema":"dtmi:com:example:Thermostat;1"' \
  || fail "dt-dataschema not stamped"
grep '"payload":"pnp"' "$LOCALHUB_HOME/telemetry.jsonl" | grep_all -q '"dt-subject":"thermostat1"' || fail "dt-subject missing"
ok "model-id -> dt-dataschema, \$.sub -> dt-subject"

# --- every refusal is CONNACK 5 (issue 5 item 4)
expect_refused "certificate from a CA that is not verified" pub_x509 dev2 dev2other -t devices/dev2/messages/events/ -m x
expect_refused "CN differs from the device id" pub_x509 dev2 dev1 -t devices/dev2/messages/events/ -m x
expect_refused "expired certificate" pub_x509 dev1 dev1exp -t devices/dev1/messages/events/ -m x
expect_refused "disabled device" pub_x509 devoff devoff -t devices/devoff/messages/events/ -m x
expect_refused "self-signed certificate for a CA-signed device" pub_x509 dev1 dev1self -t devices/dev1/messages/events/ -m x
expect_refused "intermediate not sent" pub_x509 dev1 dev1i -t devices/dev1/messages/events/ -m x
expect_refused "unknown device" pub_x509 ghost dev1 -t devices/ghost/messages/events/ -m x
expect_refused "client id differs from the user name" mosquitto_pub -h localhost -p "$PORT" --cafile "$CAF" \
  --cert "$T/dev1.pem" --key "$T/dev1.key" -V mqttv311 -i dev1 -u "$(user_for dev2)" -t devices/dev1/messages/events/ -m x
expect_refused "user name names another hub" mosquitto_pub -h localhost -p "$PORT" --cafile "$CAF" \
  --cert "$T/dev1.pem" --key "$T/dev1.key" -V mqttv311 -i dev1 -u "otherhub.azure-devices.net/dev1/?api-version=2021-04-12" -t devices/dev1/messages/events/ -m x
expect_refused "no user name" mosquitto_pub -h localhost -p "$PORT" --cafile "$CAF" \
  --cert "$T/dev1.pem" --key "$T/dev1.key" -V mqttv311 -i dev1 -t devices/dev1/messages/events/ -m x
expect_refused "no client certificate" mosquitto_pub -h localhost -p "$PORT" --cafile "$CAF" \
  -V mqttv311 -i dev1 -u "$(user_for dev1)" -t devices/dev1/messages/events/ -m x
expect_refused "MQTT 5 instead of 3.1.1" mosquitto_pub -h localhost -p "$PORT" --cafile "$CAF" \
  --cert "$T/dev1.pem" --key "$T/dev1.key" -V mqttv5 -i dev1 -u "$(user_for dev1)" -t devices/dev1/messages/events/ -m x

# enabling the device lets it in; disabling shuts it out again
"$L" device enable devoff >/dev/null
pub_x509 devoff devoff -t devices/devoff/messages/events/ -m x || fail "enabled device refused"
# A long sleep: the wait below ends at the disconnect, however slow the machine.
mqttc devoff $(x509_args devoff) sleep:60000 >/dev/null 2>&1 &
LIVE=$!
wait_state devoff Connected
"$L" device disable devoff >/dev/null
set +e; wait $LIVE; rc=$?; set -e
[ $rc -eq 4 ] || fail "disabling a connected device did not drop it (rc $rc)"
ok "disabling a device drops its live connection"
expect_refused "device disabled again" pub_x509 devoff devoff -t devices/devoff/messages/events/ -m x

# --- thumbprint (self-signed) devices
mk_leaf thumb thumbdev - selfsigned
"$L" device create --id thumbdev --auth x509-thumbprint --cert "$T/thumb.pem" >/dev/null
pub_x509 thumbdev thumb -t devices/thumbdev/messages/events/ -m x || fail "thumbprint device refused"
sha1=$(openssl x509 -in "$T/thumb.pem" -noout -fingerprint -sha1 | sed 's/.*=//; s/://g')
mk_leaf thumb2 thumbdev2 - selfsigned
"$L" device create --id thumbdev2 --auth x509-thumbprint --thumbprint "$sha1" >/dev/null
expect_refused "thumbprint mismatch" pub_x509 thumbdev2 thumb2 -t devices/thumbdev2/messages/events/ -m x
# IoT Hub checks only thumbprint and validity for self-signed devices (spec 7),
# so the registered SHA-1 thumbprint lets that certificate in as thumbdev2.
pub_x509 thumbdev2 thumb -t devices/thumbdev2/messages/events/ -m x || fail "SHA-1 thumbprint refused"
# two intermediates (root > inter > inter2 > leaf): the shim keeps every
# certificate that issues the previous one, in whatever order they were sent
# and with an unrelated certificate among them; one link missing is refused
mk_ca inter2 inter
mk_leaf dev1ii dev1 inter2
cat "$T/dev1ii.pem" "$T/inter2.pem" "$T/inter.pem" >"$T/deep1.pem"
cat "$T/dev1ii.pem" "$T/inter.pem" "$T/other.pem" "$T/inter2.pem" >"$T/deep2.pem"
cat "$T/dev1ii.pem" "$T/inter2.pem" >"$T/deep3.pem"
for c in deep1 deep2 deep3; do cp "$T/dev1ii.key" "$T/$c.key"; done
for c in deep1 deep2; do
  out=$(mqttc dev1 --cert "$T/$c.pem" --key "$T/$c.key" --tls-max 1.3 reconnect 2>&1) ||
    fail "two-intermediate chain ($c) refused: $out"
  [ "$(grep_in "$out" -c '^CONNACK 0')" -eq 2 ] || fail "two-intermediate chain ($c) refused on resumption: $out"
done
expect_refused "chain with a missing link" pub_x509 dev1 deep3 -t devices/dev1/messages/events/ -m x
ok "chains with two intermediates, in any order and with junk, authenticate (also resumed)"
ok "x509 suite"
