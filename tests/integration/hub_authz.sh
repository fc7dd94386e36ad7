#!/usr/bin/env bash
# localhub: authorization (a device uses only its own topics), QoS 2 and
# retain handling, one connection per device.
. "$(dirname "$0")/hub_lib.sh"
hub_start
mk_ca root; ca_add_verified root
for d in devA devB; do "$L" device create --id $d --auth x509-ca >/dev/null; mk_leaf $d $d root; done

out=$(mqttc devA $(x509_args devA) "sub:devices/devB/messages/devicebound/#" "sub:#" "sub:devices/devA/messages/events/" \
      "sub:devices/+/messages/devicebound/#" "sub:\$iothub/twin/res/#" "sub:\$iothub/methods/POST/#")
echo "$out" | sed -n 2,4p | grep -c "SUBACK 128" | grep_all -qx 3 || fail "foreign/wildcard subscriptions not denied: $out"
echo "$out" | sed -n 5,7p | grep -c "SUBACK 1" | grep_all -qx 3 || fail "own subscriptions not granted: $out"
ok "devA cannot subscribe to devB's C2D, to '#', or to telemetry topics; its own filters get QoS 1"

# devA publishing as devB (and to made-up topics) is dropped, never stored
mqttc devA $(x509_args devA) "pub:devices/devB/messages/events/:spoofed" "pub:foo/bar:junk" \
  "pub0:\$iothub/twin/PATCH/properties/desired/?\$rid=1:{}" "pub:devices/devA/messages/events/:mine" >/dev/null
# "mine" is the last message: once it is logged, the earlier ones were handled.
wait_log '"deviceId":"devA".*"payload":"mine"|"payload":"mine".*"deviceId":"devA"'
grep -q spoofed "$LOCALHUB_HOME/telemetry.jsonl" && fail "devA published as devB"
grep -q junk "$LOCALHUB_HOME/telemetry.jsonl" && fail "undocumented topic accepted"
ok "devA cannot publish as devB"

# hostile telemetry: a malformed property bag is dropped (the connection stays),
# a binary body is stored base64-encoded
printf '\x00\xff\xfebinary' >"$T/bin"
out=$(mqttc devA $(x509_args devA) 'pub:devices/devA/messages/events/a=%zz&b:bad-bag' \
      'pub:devices/devA/messages/events/&&:empty-pairs' "pubfile:devices/devA/messages/events/:$T/bin" \
      'pub:devices/devA/messages/events/x=1:still-connected')
[ "$(grep_in "$out" -c PUBACK)" -eq 4 ] || fail "hostile telemetry broke the session: $out"
wait_log '"payload":"still-connected"'
grep -q bad-bag "$LOCALHUB_HOME/telemetry.jsonl" && fail "malformed bag stored"
grep -q empty-pairs "$LOCALHUB_HOME/telemetry.jsonl" && fail "empty bag pairs stored"
grep -q "\"payloadBase64\":\"$(base64 <"$T/bin")\"" "$LOCALHUB_HOME/telemetry.jsonl" || fail "binary body not base64"
ok "malformed property bags dropped, binary bodies kept as base64"

# C2D for devB never reaches devA, even with the '+' filter Embedded C uses
"$L" c2d send --device devB --data for-b >/dev/null
out=$(mqttc devA $(x509_args devA) --clean 0 "sub:devices/+/messages/devicebound/#" sleep:800)
grep_in "$out" -q for-b && fail "devA received devB's C2D"
ok "C2D is scoped to the caller"

# QoS 2 PUBLISH closes the connection (spec 1.4)
set +e
mqttc devA $(x509_args devA) "pub2:devices/devA/messages/events/:q2" sleep:1500 >/dev/null 2>&1
rc=$?
set -e
[ $rc -eq 4 ] || fail "QoS 2 publish did not close the connection (rc $rc)"
grep -q '"payload":"q2"' "$LOCALHUB_HOME/telemetry.jsonl" && fail "QoS 2 message stored"
ok "QoS 2 publish closes the connection"

# QoS 2 SUBSCRIBE is granted QoS 1
out=$(mosquitto_sub -h localhost -p "$PORT" --cafile "$CAF" --cert "$T/devA.pem" --key "$T/devA.key" -V mqttv311 \
  -i devA -u "$(user_for devA)" -t 'devices/devA/messages/devicebound/#' -q 2 -d -W 1 2>&1 || true)
grep_in "$out" -q "Subscribed (mid: 1): 1$" || fail "QoS 2 subscription not downgraded: $out"
ok "QoS 2 subscription granted QoS 1"

# RETAIN: not kept, forwarded with mqtt-retain
pub_x509 devA devA -r -t devices/devA/messages/events/ -m retained-one
wait_log '"payload":"retained-one"'
grep '"payload":"retained-one"' "$LOCALHUB_HOME/telemetry.jsonl" | grep_all -q '"mqtt-retain":"true"' || fail "mqtt-retain missing"
ok "retained telemetry is stored with mqtt-retain"

# Will: routed as telemetry with iothub-MessageType=Will when the connection
# drops without DISCONNECT; a Will naming another device's topic is dropped
for w in own other; do
  wt=devices/devA/messages/events/; [ $w = other ] && wt=devices/devB/messages/events/
  mosquitto_sub -h localhost -p "$PORT" --cafile "$CAF" --cert "$T/devA.pem" --key "$T/devA.key" -V mqttv311 \
    -i devA -u "$(user_for devA)" -t 'devices/devA/messages/devicebound/#' --will-topic "$wt" --will-payload "will-$w" &
  SUB=$!
  wait_state devA Connected
  kill -9 $SUB; wait $SUB 2>/dev/null || true
  for i in $(seq 1 50); do grep -q "will-$w" "$LOCALHUB_HOME/telemetry.jsonl" && break; sleep 0.1; done
  "$L" --json device show devA | grep_all -q '"Disconnected"' || sleep 0.5
done
grep '"payload":"will-own"' "$LOCALHUB_HOME/telemetry.jsonl" | grep_all -q '"iothub-MessageType":"Will"' || fail "Will not stored as telemetry"
grep -q 'will-other' "$LOCALHUB_HOME/telemetry.jsonl" && fail "Will to another device's topic stored"
ok "Will routed as telemetry with iothub-MessageType=Will"

# A second connection for the same device drops the first
mqttc devA $(x509_args devA) sleep:4000 >"$T/first.out" 2>&1 &
FIRST=$!
wait_state devA Connected
mqttc devA $(x509_args devA) sleep:300 >/dev/null
set +e
wait $FIRST
rc=$?
set -e
[ $rc -eq 4 ] || fail "first connection survived a second CONNECT (rc $rc)"
ok "a second connection drops the first"

# oversized telemetry (> 256 KB) is refused with a disconnect
head -c 262000 /dev/zero | tr '\0' 'b' >"$T/fits"
head -c 262200 /dev/zero | tr '\0' 'a' >"$T/big"
mqttc devA $(x509_args devA) "pubfile:devices/devA/messages/events/:$T/fits" >/dev/null || fail "262000-byte message refused"
set +e
mqttc devA $(x509_args devA) "pubfile:devices/devA/messages/events/:$T/big" sleep:1000 >"$T/big.out" 2>&1
rc=$?
set -e
[ $rc -eq 4 ] || fail "oversized message did not close the connection (rc $rc): $(cat "$T/big.out")"
wait_log bbbbbbbbbbbbbbbb
grep -q aaaaaaaaaaaaaaaa "$LOCALHUB_HOME/telemetry.jsonl" && fail "oversized message stored"
ok "256 KB limit enforced"
