#!/usr/bin/env bash
# localhub CLI: the --json output of every command a script would parse
# (ca add/verify/show/delete, device and module connection-string/delete,
# generate-sas-token), SAS tokens checked with openssl, c2d --ack, a method
# nobody answers (504101), a server certificate gone at start, a relative
# --state, and monitor-events stopped by SIGINT. Errors: message and exit 1,
# and the registry unchanged.
. "$(dirname "$0")/hub_lib.sh"
hub_start
# jq-like checks without jq: JSON on stdin, a Python expression over d
js() { python3 -c 'import json,sys; d=json.load(sys.stdin); sys.exit(0 if eval(sys.argv[1]) else "got %r" % (d,))' "$@"; }
# expect_err EXPECTED-MESSAGE-PART command...: exit status 1, one line on stderr
expect_err() {
  local want=$1 rc; shift
  set +e; "$@" >"$T/out" 2>"$T/err"; rc=$?; set -e
  [ $rc -eq 1 ] || fail "$*: exit $rc, wanted 1 (stderr: $(cat "$T/err"))"
  grep -qF -- "$want" "$T/err" || fail "$*: stderr '$(cat "$T/err")' lacks '$want'"
  [ "$(wc -l <"$T/err")" -eq 1 ] || fail "$*: more than one line on stderr: $(cat "$T/err")"
}

# CA: add / verify / show / delete
mk_ca root
"$L" --json ca add root "$T/root.pem" >"$T/j"
js 'd["name"] == "root" and d["isVerified"] is False and len(d["verificationCode"]) >= 16' <"$T/j" || fail "ca add --json"
code=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["verificationCode"])' "$T/j")
mk_leaf wrongpop wrong-code root
expect_err "verification failed" "$L" --json ca verify root "$T/wrongpop.pem"
"$L" --json ca show root | js 'd["isVerified"] is False' || fail "a failed verification changed the CA"
mk_leaf pop "$code" root
"$L" --json ca verify root "$T/pop.pem" | js 'd == {"name": "root", "isVerified": True}' || fail "ca verify --json"
thumb=$(openssl x509 -in "$T/root.pem" -noout -fingerprint -sha256 | cut -d= -f2 | tr -d :)
"$L" --json ca show root |
  js 'd["name"] == "root" and d["isVerified"] is True and "verificationCode" not in d and d["subject"].endswith("CN=root") and d["thumbprint"].upper() == sys.argv[2]' "$thumb" \
  || fail "ca show --json: $("$L" --json ca show root)"
mk_ca other
"$L" ca add other "$T/other.pem" >/dev/null
"$L" --json ca delete other | js 'd == "deleted"' || fail "ca delete --json"
expect_err "no CA certificate named 'other'" "$L" --json ca show other
expect_err "no CA certificate named 'nope'" "$L" --json ca delete nope
"$L" --json ca list | js '[c["name"] for c in d] == ["root"]' || fail "ca list after delete"
ok "ca add/verify/show/delete --json; a failed verification or an unknown name changes nothing"

# devices and modules: connection-string and delete
"$L" device create --id s1 >/dev/null
jget() { python3 -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }
key=$("$L" --json device show s1 | jget primaryKey)
"$L" --json device connection-string --id s1 |
  js 'd == {"connectionString": "HostName=localhost;DeviceId=s1;SharedAccessKey=" + sys.argv[2], "port": int(sys.argv[3])}' "$key" "$PORT" \
  || fail "device connection-string --json: $("$L" --json device connection-string --id s1)"
"$L" device create --id x1 --auth x509-ca >/dev/null
"$L" --json device connection-string --id x1 | js 'd["connectionString"] == "HostName=localhost;DeviceId=x1;x509=true"' \
  || fail "x509 connection string"
"$L" module create --device s1 --module m1 >/dev/null
mkey=$("$L" --json module show --device s1 --module m1 | jget primaryKey)
"$L" --json module connection-string --device s1 --module m1 |
  js 'd == {"connectionString": "HostName=localhost;DeviceId=s1;ModuleId=m1;SharedAccessKey=" + sys.argv[2], "port": int(sys.argv[3])}' "$mkey" "$PORT" \
  || fail "module connection-string --json"
expect_err "not found" "$L" --json module connection-string --device s1 --module nope
expect_err "not found" "$L" --json device connection-string --id nope
ok "device and module connection-string --json (SAS key, x509=true, port)"

# SAS tokens: the signature recomputed with openssl, and the token connects
chk_sas() {  # JSON-FILE SR KEY SKN: the token signs SR with KEY, expires in about DURATION
  local tok se want
  tok=$(jget sas <"$1")
  se=$(sed -n 's/.*&se=\([0-9]*\).*/\1/p' <<<"$tok")
  want=$(sas_token "$2" "$3" "$se" "$4")
  [ "$tok" = "$want" ] || fail "token $tok, computed $want"
  echo "$tok"
}
"$L" --json generate-sas-token --device s1 --duration 600 >"$T/j"
tok=$(chk_sas "$T/j" localhost/devices/s1 "$key" "")
se=$(sed -n 's/.*&se=\([0-9]*\).*/\1/p' <<<"$tok")
[ $((se - $(date +%s))) -ge 590 ] && [ $((se - $(date +%s))) -le 600 ] || fail "expiry $se not in 600 s"
mosquitto_pub -h localhost -p "$PORT" --cafile "$CAF" -V mqttv311 -i s1 -u "$(user_for s1)" -P "$tok" -q 1 \
  -t devices/s1/messages/events/ -m with-cli-token || fail "the CLI's token did not connect"
"$L" --json generate-sas-token --device s1 --module m1 >"$T/j"
chk_sas "$T/j" localhost/devices/s1/modules/m1 "$mkey" "" >/dev/null
SCOPE=$("$L" --json dps show | jget idScope)
ekey=$("$L" --json dps enrollment create --registration-id r1 --attestation symmetric-key | jget primaryKey)
"$L" --json generate-sas-token --registration-id r1 >"$T/j"
chk_sas "$T/j" "$SCOPE/registrations/r1" "$ekey" registration >/dev/null
expect_err "no symmetric-key enrollment 'r2' (give --key for group keys)" "$L" generate-sas-token --registration-id r2
expect_err "does not use SAS" "$L" generate-sas-token --device x1
ok "generate-sas-token --json for a device, a module and a symmetric enrollment (no --key): signatures match openssl"

# deletes
"$L" --json module delete --device s1 --module m1 | js 'd == {"deviceId": "s1", "moduleId": "m1", "result": "deleted"}' \
  || fail "module delete --json"
expect_err "not found" "$L" module show --device s1 --module m1
"$L" --json device delete --id x1 | js 'd == {"deviceId": "x1", "result": "deleted"}' || fail "device delete --json"
expect_err "device 'x1' not found" "$L" device show x1
expect_err "device 'x1' not found" "$L" --json device delete --id x1
"$L" --json device list | js '[x["deviceId"] for x in d] == ["s1"]' || fail "device list after deletes"
ok "device and module delete --json; deleting again is an error"

# creating what exists says so; a registry locked by another process says
# that instead (before: "device 'busy1' already exists" for a new device)
expect_err "device 's1' already exists" "$L" device create --id s1
expect_err "a certificate named 'root' already exists" "$L" ca add root "$T/root.pem"
lock_registry 7
expect_err "registry: database is locked" "$L" device create --id busy1
wait $LOCK
expect_err "device 'busy1' not found" "$L" device show busy1
"$L" device create --id busy1 >/dev/null || fail "create after the lock"
"$L" device delete --id busy1 >/dev/null
ok "create: 'already exists' only for a duplicate; a locked registry is reported as such"

# c2d --ack: each value IoT Hub knows goes into the bag as iothub-ack; any
# other is refused before anything is queued
tok=$("$L" --json generate-sas-token --device s1 --duration 600 | jget sas)
for a in none positive negative full; do
  "$L" --json c2d send --device s1 --data "ack-$a" --ack $a | js 'd["deviceId"] == "s1"' || fail "c2d --ack $a"
done
expect_err "--ack must be none, positive, negative or full" "$L" c2d send --device s1 --data ack-bad --ack maybe
expect_err "--ack must be none, positive, negative or full" "$L" c2d send --device s1 --data ack-bad --ack FULL
"$L" --json c2d list --device s1 | js 'len(d) == 4' || fail "queue after the refused sends: $("$L" --json c2d list --device s1)"
out=$(mqttc s1 --pass "$tok" --clean 0 "sub:devices/s1/messages/devicebound/#" 'expect:ack-none' 'expect:ack-positive' \
      'expect:ack-negative' 'expect:ack-full' sleep:300)
for a in none positive negative full; do
  grep_in "$out" -q "devicebound/.*iothub-ack=$a.* ack-$a\$" || fail "iothub-ack=$a not delivered: $out"
done
grep_in "$out" -q ack-bad && fail "a refused message was delivered: $out"
ok "c2d --ack none|positive|negative|full delivered as iothub-ack; other values refused, nothing queued"

# a method the device never answers: 504101 after --timeout
mqttc s1 --pass "$tok" 'sub:$iothub/methods/POST/#' sleep:12000 >"$T/meth.out" 2>&1 &
DEV=$!
wait_state s1 methods
t0=$(date +%s)
expect_err "504101 GatewayTimeout: device 's1' did not answer within 5 s" \
  "$L" --json method invoke --device s1 --name reboot --timeout 5
t1=$(date +%s)
[ $((t1 - t0)) -ge 5 ] && [ $((t1 - t0)) -le 8 ] || fail "time-out after $((t1 - t0)) s, wanted 5"
grep -q 'methods/POST/reboot' "$T/meth.out" || { kill $DEV 2>/dev/null; fail "the request never reached the device"; }
kill $DEV 2>/dev/null; wait $DEV 2>/dev/null || true
ok "method nobody answers: 504101 GatewayTimeout after --timeout"

# monitor-events runs until SIGINT: exit 0, the events so far printed
"$L" monitor-events --device s1 >"$T/mon.out" 2>"$T/mon.err" &
MON=$!
for i in $(seq 1 50); do grep -q "Starting event monitor" "$T/mon.err" && break; sleep 0.1; done
for m in sigint-1 sigint-2; do
  mosquitto_pub -h localhost -p "$PORT" --cafile "$CAF" -V mqttv311 -i s1 -u "$(user_for s1)" -P "$tok" -q 1 \
    -t devices/s1/messages/events/ -m "$m" || fail "publish $m"
done
for i in $(seq 1 100); do grep -q sigint-2 "$T/mon.out" && break; sleep 0.1; done
kill -INT $MON
for i in $(seq 1 50); do kill -0 $MON 2>/dev/null || break; sleep 0.1; done
if kill -0 $MON 2>/dev/null; then kill -9 $MON; fail "monitor-events still running 5 s after SIGINT"; fi
set +e; wait $MON; rc=$?; set -e
[ $rc -eq 0 ] || fail "monitor-events exit $rc after SIGINT: $(cat "$T/mon.err")"
grep -q '"payload": "sigint-1"\|"payload":"sigint-1"\|sigint-1' "$T/mon.out" && grep -q sigint-2 "$T/mon.out" ||
  fail "events before SIGINT not printed: $(cat "$T/mon.out")"
grep -q with-cli-token "$T/mon.out" && fail "monitor-events printed an old event without --from-start"
ok "monitor-events stopped by SIGINT: exit 0 with the events so far"

# the server's key or certificate gone at start: a new pair from the same root
"$L" stop >/dev/null
root_fp=$(openssl x509 -in "$CAF" -noout -fingerprint -sha256)
old_srv=$(openssl x509 -in "$LOCALHUB_HOME/pki/server.pem" -noout -fingerprint -sha256)
rm "$LOCALHUB_HOME/pki/server.key"
"$L" start --port "$PORT" >"$T/start2.out" 2>&1 || fail "start without a server key: $(cat "$T/start2.out")"
grep -qF "server certificate was missing: made a new one with the root CA $LOCALHUB_HOME/pki/root-ca.pem" "$T/start2.out" \
  || fail "no notice of the new server certificate: $(cat "$T/start2.out")"
[ "$(openssl x509 -in "$CAF" -noout -fingerprint -sha256)" = "$root_fp" ] || fail "the root CA changed"
[ "$(openssl x509 -in "$LOCALHUB_HOME/pki/server.pem" -noout -fingerprint -sha256)" != "$old_srv" ] || fail "server certificate not remade"
openssl verify -CAfile "$CAF" "$LOCALHUB_HOME/pki/server.pem" >/dev/null || fail "new server certificate not from the root"
[ "$(openssl x509 -in "$LOCALHUB_HOME/pki/server.pem" -noout -pubkey)" = "$(openssl pkey -in "$LOCALHUB_HOME/pki/server.key" -pubout)" ] \
  || fail "new server certificate does not match its key"
mosquitto_pub -h localhost -p "$PORT" --cafile "$CAF" -V mqttv311 -i s1 -u "$(user_for s1)" -P "$tok" -q 1 \
  -t devices/s1/messages/events/ -m after-new-server-cert || fail "device with the old root cannot connect"
ok "server key missing at start: certificate and key remade from the same root; devices still connect"

# a relative --state works from any folder (the broker runs elsewhere)
mkdir -p "$T/rel"
P2=""
# the second hub is stopped first; hub_cleanup then sees the test's status
stop2() {
  local rc=$? pid
  "$L" --state "$T/rel/st" stop >/dev/null 2>&1 || true
  # a broker 'stop' does not recognise (a relative --state that went wrong)
  # is ours too: the one running in this test's folder
  for pid in /proc/[0-9]*; do
    [ "$(readlink "$pid/cwd" 2>/dev/null)" = "$T/rel" ] && grep -q mosquitto "$pid/cmdline" 2>/dev/null &&
      kill "${pid#/proc/}" 2>/dev/null || true
  done
  return $rc
}
trap 'stop2 && hub_cleanup || hub_cleanup' EXIT
for i in 1 2 3 4 5; do
  P2=$((20000 + RANDOM % 40000))
  (cd "$T/rel" && env -u LOCALHUB_HOME "$L" --state st start --port "$P2") >"$T/rel.out" 2>&1 && break
  grep -q "in use\|exited" "$T/rel.out" || fail "start with a relative --state: $(cat "$T/rel.out")"
  P2=""
done
[ -n "$P2" ] || fail "no free port for the second hub"
[ -f "$T/rel/st/pki/root-ca.pem" ] || fail "relative --state not under the working folder"
(cd "$T/rel" && env -u LOCALHUB_HOME "$L" --state st device create --id rel1 >/dev/null)
rtok=$(cd "$T" && env -u LOCALHUB_HOME "$L" --state rel/st --json generate-sas-token --device rel1 | jget sas)
mosquitto_pub -h localhost -p "$P2" --cafile "$T/rel/st/pki/root-ca.pem" -V mqttv311 -i rel1 -u "$(user_for rel1)" \
  -P "$rtok" -q 1 -t devices/rel1/messages/events/ -m via-relative-state || fail "hub with a relative --state does not work"
wait_log via-relative-state "$T/rel/st/telemetry.jsonl"
(cd / && env -u LOCALHUB_HOME "$L" --state "$T/rel/st" --json status) | grep -q running || fail "status of the second hub"
(cd "$T" && env -u LOCALHUB_HOME "$L" --state rel/st stop >/dev/null) || fail "stop with a relative --state"
ok "relative --state: start, commands and stop from different folders"
