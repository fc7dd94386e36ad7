#!/usr/bin/env bash
# localhub attacked like a hostile device would (brief HUBSEC): packets.
#  - telemetry over IoT Hub's 256 KB closes the connection WITHOUT a PUBACK
#    (a PUBACK would tell the device the hub took a message it dropped), is
#    not stored, and the broker keeps serving other devices;
#  - repeated property bag keys: the last value wins; a bag of 6000 keys is
#    stored whole; long C2D / module-input bags reach the device whole;
#  - a method response for a call addressed to another device, for a $rid
#    never issued or out of range, or with a hostile body changes nothing:
#    the caller gets the addressed device's own answer, also an empty 404
#    or 504 (not mistaken for the hub's "not online" / "timed out");
#  - twin PATCHes with non-JSON, too deep or oversized bodies get 400, the
#    session stays.
. "$(dirname "$0")/hub_lib.sh"
hub_start
mk_ca root; ca_add_verified root
for d in devA devB; do "$L" device create --id $d --auth x509-ca >/dev/null; mk_leaf $d $d root; done

# --- 256 KB ----------------------------------------------------------------
# body + properties: 262144 bytes is the limit. The bag k=<42 v> counts 43
# (key and value): a body of 262100 fits (262143), one of 262103 does not.
head -c 262100 /dev/zero | tr '\0' 'f' >"$T/fits"
head -c 262103 /dev/zero | tr '\0' 'o' >"$T/over"
val=$(head -c 42 /dev/zero | tr '\0' 'v')
out=$(mqttc devA $(x509_args devA) "pubfile:devices/devA/messages/events/k=$val:$T/fits" 2>&1) || fail "at-limit message: $out"
grep_in "$out" -q PUBACK || fail "at-limit message not acknowledged: $out"
set +e
out=$(mqttc devA $(x509_args devA) "pubfile:devices/devA/messages/events/k=$val:$T/over" sleep:1000 2>&1)
rc=$?
set -e
[ $rc -eq 4 ] || fail "over-limit message did not close the connection (rc $rc): $out"
grep_in "$out" -q PUBACK && fail "over-limit message was acknowledged before the hub closed the connection: $out"
ok "a message over 256 KB (body + properties) closes the connection without PUBACK"
# a 20 MB body: same answer, and the broker still serves devB right after
head -c 20000000 /dev/zero | tr '\0' 'h' >"$T/huge"
set +e
out=$(mqttc devA $(x509_args devA) "pubfile:devices/devA/messages/events/:$T/huge" sleep:1000 2>&1)
rc=$?
set -e
[ $rc -eq 4 ] && ! grep_in "$out" -q PUBACK || fail "20 MB message: rc $rc, $out"
mqttc devB $(x509_args devB) "pub:devices/devB/messages/events/:b-after-huge" >/dev/null || fail "broker lost after a 20 MB message"
wait_log '"payload":"b-after-huge"'
grep -q 'oooooooooooooooo\|hhhhhhhhhhhhhhhh' "$LOCALHUB_HOME/telemetry.jsonl" && fail "an over-limit message was stored"
[ "$(grep -c ffffffffffffffff "$LOCALHUB_HOME/telemetry.jsonl")" -eq 1 ] || fail "the at-limit message was not stored once"
ok "over-limit messages are not stored; the broker keeps serving other devices"

# --- property bags: a repeated key keeps its last value, where it stands;
# 6000 distinct keys are all stored (a bag is resolved in one pass, not one
# look-up per key; bench numbers in the helper report, no timing here)
out=$(mqttc devA $(x509_args devA) 'pub:devices/devA/messages/events/k=1&a=x&k=2&%24.mid=m1&b&k=3&%24.mid=m2:dups' 2>&1) \
  || fail "duplicate keys: $out"
wait_log '"payload":"dups"'
line=$(grep '"payload":"dups"' "$LOCALHUB_HOME/telemetry.jsonl")
grep_in "$line" -q '"applicationProperties":{"a":"x","b":null,"k":"3"}' || fail "repeated keys: $line"
grep_in "$line" -q '"message-id":"m2"' || fail "repeated system property: $line"
bag=$(seq 1 6000 | sed 's/^/key/; s/$/=v/' | paste -sd'&')
out=$(mqttc devA $(x509_args devA) "pub:devices/devA/messages/events/$bag&key7=last:many" 2>&1) || fail "6000 keys: $out"
grep_in "$out" -q PUBACK || fail "6000 keys not acknowledged: $out"
wait_log '"payload":"many"'
line=$(grep '"payload":"many"' "$LOCALHUB_HOME/telemetry.jsonl")
[ "$(grep -o '"key[0-9]*":"[a-z]*"' <<<"$line" | sort -u | wc -l)" -eq 6000 ] || fail "not 6000 distinct keys stored"
grep_in "$line" -q '"key6":"v","key8":"v".*"key6000":"v","key7":"last"}' || fail "key7's last value not in its place"
ok "repeated bag keys: last value wins in place; 6000 distinct keys stored"

# --- method responses from the wrong device --------------------------------
mqttc devA $(x509_args devA) 'sub:$iothub/methods/POST/#' 'expect:methods/POST/reboot' 'capture:rid:$rid' \
  sleep:1500 'pub:$iothub/methods/res/200/?$rid=${rid}:{"from":"devA"}' >"$T/devA.out" 2>&1 &
DEVA=$!
wait_state devA methods
"$L" method invoke --device devA --name reboot --payload '{}' --timeout 10 >"$T/invoke.out" 2>&1 &
INV=$!
for i in $(seq 1 100); do grep -q "CAPTURE rid=" "$T/devA.out" && break; sleep 0.05; done
rid=$(sed -n 's/.*CAPTURE rid=\([0-9]*\).*/\1/p' "$T/devA.out")
[ -n "$rid" ] || fail "devA never got the method call: $(cat "$T/devA.out")"
out=$(mqttc devB $(x509_args devB) "pub:\$iothub/methods/res/200/?\$rid=$rid:{\"from\":\"devB\"}" \
  "pub:\$iothub/methods/res/500/?\$rid=$rid:{\"from\":\"devB\"}" \
  'pub:$iothub/methods/res/200/?$rid=99999999999999999999999:{}' 'pub:$iothub/methods/res/200/?$rid=-1:{}' \
  'pub:$iothub/methods/res/200/?$rid=0x1:{}' 'pub:$iothub/methods/res/200/?$rid=1&$rid=2:{}' \
  'pub:$iothub/methods/res/99999999999/?$rid=1:{}' 'pub:devices/devB/messages/events/:b-alive' 2>&1) \
  || fail "devB lost its session over hostile method responses: $out"
[ "$(grep_in "$out" -c PUBACK)" -eq 8 ] || fail "devB: $out"
wait $INV || fail "method invoke failed: $(cat "$T/invoke.out")"
wait $DEVA || true
grep -q '"from":[[:space:]]*"devA"' "$T/invoke.out" || fail "the caller did not get devA's own answer: $(cat "$T/invoke.out")"
grep -q '"status":[[:space:]]*200' "$T/invoke.out" || fail "status: $(cat "$T/invoke.out")"
ok "method responses from another device or for made-up \$rids change nothing"
# The device's own 404 / 504 answer with an empty body is the device's answer,
# not the hub's "device not online" / "timed out".
for code in 404 504; do
  mqttc devA $(x509_args devA) 'sub:$iothub/methods/POST/#' 'expect:methods/POST/probe' 'capture:rid:$rid' \
    "pub:\$iothub/methods/res/$code/?\$rid=\${rid}:" >"$T/devA.out" 2>&1 &
  DEVA=$!
  wait_state devA methods
  out=$("$L" method invoke --device devA --name probe --timeout 10 2>&1) || fail "device's own $code reported as an error: $out"
  wait $DEVA || true
  grep_in "$out" -q "\"status\":[[:space:]]*$code" || fail "status $code not reported: $out"
  grep_in "$out" -q "DeviceNotOnline\|GatewayTimeout" && fail "the device's $code was taken for the hub's: $out"
done
ok "a device answering 404 or 504 with an empty body is reported as its answer"

# --- long C2D and module-input property bags reach the device whole ---------
# (a fixed 4 KB topic cut C2D properties short; an 8 KB one left a module
# input with a full bag and long names queued, never delivered)
props=$(seq 1 700 | sed 's/^/key/; s/$/=v/' | paste -sd';')
"$L" c2d send --device devA --data long-props --props "$props" >/dev/null || fail "c2d send with 700 properties"
out=$(timeout 15 mosquitto_sub -h localhost -p "$PORT" --cafile "$CAF" --cert "$T/devA.pem" --key "$T/devA.key" \
      -V mqttv311 -i devA -u "$(user_for devA)" -q 1 -c -t 'devices/devA/messages/devicebound/#' -C 1 -v) \
  || fail "C2D with 700 properties not delivered"
topic=${out% long-props}
[ "${topic##*&}" = "key700=v" ] || fail "C2D properties cut short: ...${topic: -40}"
[ "$(tr '&' '\n' <<<"$topic" | grep -c '^key[0-9]*=v$')" -eq 700 ] || fail "not 700 C2D properties"
M=$(head -c 40 /dev/zero | tr '\0' m)
"$L" module create --device devA --module "$M" --auth x509-ca >/dev/null
mk_leaf m1 "devA\\/$M" root
input=$(head -c 128 /dev/zero | tr '\0' i)
val=$(head -c 76 /dev/zero | tr '\0' v)
props=$(for i in $(seq 1 100); do printf 'k%d=%s;' "$i" "$val"; done); props=${props%;}
"$L" module send-input --device devA --module "$M" --input "$input" --data long-input --props "$props" >/dev/null \
  || fail "send-input with a 8 KB bag"
out=$(timeout 15 mosquitto_sub -h localhost -p "$PORT" --cafile "$CAF" --cert "$T/m1.pem" --key "$T/m1.key" \
      -V mqttv311 -i "devA/$M" -u "localhost/devA/$M/?api-version=2021-04-12" -q 1 -c \
      -t "devices/devA/modules/$M/#" -C 1 -v) || fail "module input with a long topic never delivered"
topic=${out% long-input}
[ ${#topic} -gt 8192 ] || fail "the input topic is not over 8 KB (${#topic}): the case needs it"
[ "${topic##*&}" = "k100=$val" ] || fail "input properties cut short: ...${topic: -40}"
grep_in "$topic" -q "/inputs/$input/" || fail "input name missing: ${topic:0:200}"
ok "a C2D message with 700 properties and a module input with an 8 KB bag arrive with every property"

# --- hostile topics and filters (no change needed: coverage) ---------------
out=$(mqttc devA $(x509_args devA) 'sub:$iothub/#' 'sub:$SYS/#' 'sub:+/+/+/+' 'sub:#' \
  'sub:devices/devA/../devB/messages/devicebound/#' 'sub:devices/+/modules/+/#' 'sub:devices/devB/modules/m/inputs/#' \
  'sub:devices/devA/messages/devicebound/+' 'sub:$iothub/twin/PATCH/properties/desired/?$version=1' \
  'sub:devices/devA/messages/devicebound/#' 2>&1) || fail "filters: $out"
[ "$(grep_in "$out" -c 'SUBACK 128')" -eq 9 ] && [ "$(grep_in "$out" -c 'SUBACK 1$')" -eq 1 ] \
  || fail "foreign, wildcard or dot-dot filters granted: $out"
out=$(mqttc devA $(x509_args devA) 'pub:devices/devA/messages/events/../../devB/messages/events/:dotdot' 2>&1) \
  || fail "dot-dot publish: $out"
wait_log '"payload":"dotdot"'
grep '"payload":"dotdot"' "$LOCALHUB_HOME/telemetry.jsonl" | grep_all -q '"deviceId":"devA"' || fail "dot-dot telemetry not devA's"
grep '"payload":"dotdot"' "$LOCALHUB_HOME/telemetry.jsonl" | grep_all -q '"deviceId":"devB"' && fail "dot-dot telemetry stored as devB's"
set +e
out=$(mqttc devA $(x509_args devA) $'pub:devices/devA/messages/events/\xff\xfe:bad-utf8' sleep:500 2>&1); rc=$?
set -e
[ $rc -eq 4 ] || fail "invalid UTF-8 topic: rc $rc: $out"
mqttc devB $(x509_args devB) 'pub:devices/devB/messages/events/:b-after-utf8' >/dev/null || fail "broker lost after a bad topic"
wait_log '"payload":"b-after-utf8"'
grep -q bad-utf8 "$LOCALHUB_HOME/telemetry.jsonl" && fail "invalid UTF-8 topic stored"
ok "filters on others' topics, wildcards and dot-dot get 0x80; dot-dot topics stay the sender's; invalid UTF-8 closes"

# --- hostile twin PATCHes --------------------------------------------------
deep=$(printf '{"a":%.0s' $(seq 1 3000))1$(printf '}%.0s' $(seq 1 3000))
head -c 40000 /dev/zero | tr '\0' 'x' | sed 's/^/{"big":"/; s/$/"}/' >"$T/bigpatch"
out=$(mqttc devA $(x509_args devA) 'sub:$iothub/twin/res/#' \
  'pub0:$iothub/twin/PATCH/properties/reported/?$rid=1:not json' 'expect:$rid=1' \
  "pub0:\$iothub/twin/PATCH/properties/reported/?\$rid=2:$deep" 'expect:$rid=2' \
  'pub0:$iothub/twin/PATCH/properties/reported/?$rid=3:[1,2,3]' 'expect:$rid=3' \
  "pubfile:\$iothub/twin/PATCH/properties/reported/?\$rid=4:$T/bigpatch" 'expect:$rid=4' \
  'pub0:$iothub/twin/PATCH/properties/reported/?$rid=6:{"trail":1} junk' 'expect:$rid=6' \
  'pub0:$iothub/twin/PATCH/properties/reported/?$rid=7:{"nul":"cut\u0000here"}' 'expect:$rid=7' \
  'pub0:$iothub/twin/PATCH/properties/reported/?$rid=8:{"key\u0000cut":1}' 'expect:$rid=8' \
  'pub0:$iothub/twin/PATCH/properties/reported/?$rid=9:{"esc":"a\\u0000 is text"}' 'expect:$rid=9' \
  'pub0:$iothub/twin/PATCH/properties/reported/?$rid=5:{"ok":1}' 'expect:$rid=5' 2>&1) || fail "twin session lost: $out"
for r in 1 2 3 4 6 7 8; do
  grep_in "$out" -q "twin/res/400/?\$rid=$r {\"errorCode\":400004" || fail "PATCH $r not refused with 400: $out"
done
grep_in "$out" -q 'twin/res/204/?$rid=5&$version=' || fail "a good PATCH after the bad ones failed: $out"
grep_in "$out" -q 'twin/res/204/?$rid=9&$version=' || fail "an escaped backslash before u0000 was refused: $out"
twin=$("$L" twin show --device devA)
grep_in "$twin" -q '"big"\|"trail"\|"nul"\|"key"' && fail "a refused PATCH was stored: $twin"
grep_in "$twin" -qF '"a\\u0000 is text"' \
  || fail "the text a\\u0000 was not stored as sent: $twin"
ok "non-JSON, trailing data, U+0000, 3000-deep, non-object and 40 KB twin PATCHes get 400; the session stays"
