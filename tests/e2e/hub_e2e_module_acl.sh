#!/usr/bin/env bash
# localhub module identities with raw MQTT clients (hub_mqttc, mosquitto_pub):
# what a module may publish and subscribe to, the SAS resource and the X.509
# subject it must present, send-input delivery, and the registry commands on
# hostile input (bad ids, bad JSON: one clear line, exit 1). Tokens are
# computed with openssl (hub_lib.sh), independently of localhub.
. "$TMA_SOURCE_DIR/tests/integration/hub_lib.sh"
# hub_lib's cleanup stops the hub and scans the plugin's sanitizer logs; the
# raw clients' outputs kept in files are scanned here first.
module_acl_cleanup() {
  local rc=$?
  set +e
  sanitizer_check "$LOCALHUB_HOME" "$T"/*.out || rc=1
  (exit $rc)
  hub_cleanup
}
trap module_acl_cleanup EXIT
hub_start
"$L" device create --id dA --auth sas >/dev/null
"$L" device create --id dB --auth sas >/dev/null
"$L" module create --device dA --module m1 >/dev/null
"$L" module create --device dA --module m2 >/dev/null
"$L" module create --device dB --module m1 >/dev/null
modkey() { "$L" --json module show --device "$1" --module "$2" | sed -n 's/.*"primaryKey":[[:space:]]*"\([^"]*\)".*/\1/p'; }
devkey() { "$L" --json device show "$1" | sed -n 's/.*"primaryKey":[[:space:]]*"\([^"]*\)".*/\1/p'; }
"$L" --json status | grep_all -q '"modules":[[:space:]]*3,' || fail "status does not count the modules"
K1=$(modkey dA m1); [ -n "$K1" ] || fail "no module key"
SE=$(( $(date +%s) + 600 ))
TOK1=$(sas_token "localhost/devices/dA/modules/m1" "$K1" "$SE")
muser() { echo "localhost/$1/$2/?api-version=2021-04-12"; }
# modc D M PASSWORD ACTIONS...: hub_mqttc as module D/M.
modc() {
  local d=$1 m=$2 p=$3; shift 3
  "$MQTTC" --port "$PORT" --cafile "$CAF" --id "$d/$m" --user "$(muser "$d" "$m")" --pass "$p" "$@"
}
refused_mqttc() { # what, args for modc...
  local what=$1 rc=0 out; shift
  out=$(modc "$@" sleep:200 2>&1) || rc=$?
  [ $rc -eq 5 ] && grep_in "$out" -q "CONNACK 5" || fail "$what: expected CONNACK 5, got rc $rc: $out"
  ok "$what refused with CONNACK 5"
}

echo "== subscriptions: own input filter, twin and methods only"
out=$(modc dA m1 "$TOK1" "sub:devices/dA/modules/m1/#" "sub:\$iothub/twin/res/#" \
  "sub:\$iothub/twin/PATCH/properties/desired/#" "sub:\$iothub/methods/POST/#" \
  "sub:devices/dA/modules/m2/#" "sub:devices/dA/messages/devicebound/#" "sub:devices/+/messages/devicebound/#" \
  "sub:#" "sub:devices/dB/modules/m1/#" "sub:devices/dA/modules/+/#")
[ "$(grep_in "$out" -cx 'SUBACK 1')" -eq 4 ] || fail "own filters not granted: $out"
[ "$(grep_in "$out" -cx 'SUBACK 128')" -eq 6 ] || fail "foreign filters not denied: $out"
"$L" --json module show --device dA --module m1 | grep_all -q '"inputs"' || fail "input subscription not recorded"
ok "a module subscribes to its own inputs, twin and methods; not another module's, the device's C2D, or wildcards"

echo "== publishing: only its own telemetry topic is stored"
out=$(modc dA m1 "$TOK1" "pub:devices/dA/modules/m2/messages/events/:spoof-m2" \
  "pub:devices/dA/messages/events/:spoof-device" "pub:devices/dB/modules/m1/messages/events/:spoof-dB" \
  "pub:devices/dA/modules/m1/outputs/o1/:not-a-topic" "pub:devices/dA/modules/m1/messages/events/k=v:mine-m1")
[ "$(grep_in "$out" -c PUBACK)" -eq 5 ] || fail "a denied publish broke the session: $out"
wait_log '"payload":"mine-m1"'
grep '"payload":"mine-m1"' "$LOCALHUB_HOME/telemetry.jsonl" | grep_all -q '"moduleId":"m1"' || fail "module id not stored"
grep '"payload":"mine-m1"' "$LOCALHUB_HOME/telemetry.jsonl" | grep_all -q '"k":"v"' || fail "application property lost"
for s in spoof-m2 spoof-device spoof-dB not-a-topic; do
  grep -q "$s" "$LOCALHUB_HOME/telemetry.jsonl" && fail "module m1 published '$s'"
done
ok "module m1 cannot publish as module m2, as its device, or as another device's module"

echo "== delivery: inputs to the module only, C2D to the device only"
"$L" c2d send --device dA --data c2d-for-device >/dev/null
"$L" module send-input --device dA --module m2 --input in1 --data for-m2 >/dev/null
"$L" module send-input --device dA --module m1 --input in-a --data for-m1 --props 'p=1;q' >/dev/null
out=$(modc dA m1 "$TOK1" --clean 0 "sub:devices/dA/modules/m1/#" "expect:for-m1" sleep:600)
grep_in "$out" -q "MSG q1 d0 devices/dA/modules/m1/inputs/in-a/p=1&q for-m1" || fail "input topic/QoS/bag: $out"
grep_in "$out" -q "for-m2\|c2d-for-device" && fail "module m1 received another identity's message: $out"
ok "send-input delivers QoS 1 on devices/{d}/modules/{m}/inputs/{name}/{bag}, to that module only"
# m2 gets its message once it subscribes (queued until then); the device's C2D stays queued for the device
K2=$(modkey dA m2)
out=$(modc dA m2 "$(sas_token localhost/devices/dA/modules/m2 "$K2" "$SE")" "sub:devices/dA/modules/m2/#" "expect:for-m2")
grep_in "$out" -q "inputs/in1/ for-m2" || fail "queued input for m2: $out"
"$L" c2d list --device dA | grep_all -q . || fail "the device's C2D message was consumed by a module"
ok "queued input delivered when the module subscribes; the device's C2D queue untouched"

echo "== authentication"
KD=$(devkey dA)
refused_mqttc "device key token (sr = the device) as module" dA m1 "$(sas_token localhost/devices/dA "$KD" "$SE")"
refused_mqttc "device key over the module resource" dA m1 "$(sas_token localhost/devices/dA/modules/m1 "$KD" "$SE")"
refused_mqttc "m2's token for m1" dA m1 "$(sas_token localhost/devices/dA/modules/m2 "$K2" "$SE")"
refused_mqttc "module of an unknown device" dX m1 "$(sas_token localhost/devices/dX/modules/m1 "$K1" "$SE")"
refused_mqttc "expired module token" dA m1 "$(sas_token localhost/devices/dA/modules/m1 "$K1" 1000)"
rc=0; out=$("$MQTTC" --port "$PORT" --cafile "$CAF" --id dA --user "$(muser dA m1)" --pass "$TOK1" sleep:200 2>&1) || rc=$?
[ $rc -eq 5 ] || fail "client id of the device with a module user name accepted: $out"
ok "client id must be {d}/{m}"
TOKS=$("$L" generate-sas-token --device dA --module m1 --duration 600)
case "$TOKS" in *"sr=localhost%2Fdevices%2FdA%2Fmodules%2Fm1&"*) ;; *) fail "generate-sas-token --module: $TOKS" ;; esac
out=$(modc dA m1 "$TOKS" "pub:devices/dA/modules/m1/messages/events/:cli-token") || fail "CLI module token: $out"
ok "generate-sas-token --module signs the module resource with the module key"

echo "== X.509 modules: CA-signed (CN = d/m) and thumbprint"
mk_ca root; ca_add_verified root
"$L" device create --id dX5 --auth x509-ca >/dev/null
"$L" module create --device dX5 --module ca-mod --auth x509-ca >/dev/null
mk_leaf good 'dX5\/ca-mod' root   # '\/': a '/' inside an openssl -subj value
mk_leaf devcert dX5 root
mk_leaf other 'dX5\/other' root
mk_leaf self 'whatever' root selfsigned
"$L" module create --device dX5 --module tp-mod --auth x509-thumbprint --cert "$T/self.pem" >/dev/null
mpub() { # d m certfile message
  mosquitto_pub -h localhost -p "$PORT" --cafile "$CAF" --cert "$T/$3.pem" --key "$T/$3.key" -V mqttv311 \
    -i "$1/$2" -u "$(muser "$1" "$2")" -q 1 -t "devices/$1/modules/$2/messages/events/" -m "$4"
}
mpub dX5 ca-mod good x509-ca-ok || fail "CA-signed module certificate refused"
mpub dX5 tp-mod self x509-tp-ok || fail "thumbprint module certificate refused"
expect_refused "device certificate (CN = dX5) as module dX5/ca-mod" mpub dX5 ca-mod devcert x
expect_refused "certificate of module dX5/other as dX5/ca-mod" mpub dX5 ca-mod other x
expect_refused "CA-signed certificate with the wrong thumbprint" mpub dX5 tp-mod good x
wait_log '"payload":"x509-tp-ok"'
grep '"payload":"x509-ca-ok"' "$LOCALHUB_HOME/telemetry.jsonl" | grep_all -q 'x509Certificate' || fail "x509 auth type"
ok "X.509 modules: CN must be {d}/{m} for CA-signed, thumbprint match otherwise"

echo "== registry: hostile input gets one clear line and exit 1"
bad() { # expected-text command...
  local want=$1 rc=0 out; shift
  out=$("$L" "$@" 2>&1) || rc=$?
  [ $rc -eq 1 ] || fail "'$*' exit status $rc: $out"
  [ "$(wc -l <<<"$out")" -eq 1 ] && grep_in "$out" -q "error: .*$want" || fail "'$*' message: $out"
}
bad "device 'nope' not found" module create --device nope --module m
bad "invalid module id" module create --device dA --module 'a/b'
bad "invalid module id" module create --device dA --module 'a#b'
bad "invalid module id" module create --device dA --module "$(printf 'x%.0s' $(seq 1 129))"
bad "invalid device id" module create --device 'd/x' --module m
bad "missing --module" module create --device dA
bad "already exists" module create --device dA --module m1
bad "--auth must be" module create --device dA --module m9 --auth password
bad "keys must be base64" module create --device dA --module m9 --primary-key '!!!' --secondary-key '???'
bad "x509-thumbprint needs" module create --device dA --module m9 --auth x509-thumbprint --thumbprint 12ab
bad "not found" module show --device dA --module ghost
bad "twin update failed (400)" module twin update --device dA --module m1 --desired '{"a":'
bad "twin update failed (400)" module twin update --device dA --module m1 --desired '[1,2]'
bad "payload must be valid JSON" module method invoke --device dA --module m1 --name x --payload '{nope'
bad "invalid method name" module method invoke --device dA --module m1 --name 'a/b'
bad "not found" module method invoke --device dA --module ghost --name x
bad "invalid --input" module send-input --device dA --module m1 --input 'in/1' --data x
bad "invalid property" module send-input --device dA --module m1 --input in1 --props 'a b=1'
bad "unknown option --bogus" module list --device dA --bogus 1
bad "unknown command" module frobnicate --device dA
bad "404103 DeviceNotOnline: module 'dA/m2'" module method invoke --device dA --module m2 --name x --timeout 5
[ "$("$L" module list --device dA | wc -l)" -eq 2 ] || fail "module list after hostile input: $("$L" module list --device dA)"
ok "bad ids, bad JSON, bad names and unknown modules: one line, exit 1, registry unchanged"

echo "== deleting a module drops its connection and refuses it; deleting a device deletes its modules"
modc dA m1 "$TOK1" "sub:devices/dA/modules/m1/#" sleep:8000 >"$T/held.out" 2>&1 &
HELD=$!
for i in $(seq 1 100); do "$L" --json module show --device dA --module m1 | grep_all -q '"Connected"' && break; sleep 0.1; done
"$L" module delete --device dA --module m1 >/dev/null
rc=0; wait $HELD || rc=$?
[ $rc -eq 4 ] || fail "the deleted module's connection was not closed (rc $rc): $(cat "$T/held.out")"
refused_mqttc "deleted module" dA m1 "$TOK1"
"$L" module twin update --device dA --module m2 --desired '{"x":1}' >/dev/null
"$L" device delete --id dA >/dev/null
bad "device 'dA' not found" module list --device dA
"$L" device create --id dA --auth sas >/dev/null
[ -z "$("$L" module list --device dA)" ] || fail "a re-created device inherited modules"
"$L" module create --device dA --module m2 >/dev/null
"$L" module twin show --device dA --module m2 | grep_all -q '"x"' && fail "a re-created module inherited the old twin"
"$L" device disable --id dB >/dev/null
refused_mqttc "module of a disabled device" dB m1 "$(sas_token localhost/devices/dB/modules/m1 "$(modkey dB m1)" "$SE")"
ok "module delete kicks and refuses it; device delete removes modules and their twins; a disabled device's modules are refused"
