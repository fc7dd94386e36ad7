#!/usr/bin/env bash
# End to end: module identities on localhub with our samples. The telemetry
# sample runs as a module with X.509 (key in the simulated chip, CN = d/m,
# signed by a verified CA) and with SAS: its messages reach monitor-events
# with the module id, 'module send-input' reaches its input callback. The
# twin/methods sample as a module answers 'module method invoke' and reports
# to the module twin (not the device's). Refused: the device certificate
# (CN = d) used as module d/m, a wrong module key, a module of an unknown device.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/../lib/shell.sh"
: "${TMA_BUILD_DIR:?}" "${IOTHUB_SAMPLES:?}" "${TRUSTM_CLI:?}" "${TRUSTM_SIM:?}" "${LOCALHUB:?}"
W=$(mktemp -d /tmp/hub_e2e_module.XXXXXX)
export LOCALHUB_HOME="$W/state"
export TRUSTM_LOCK_DIR="$W"   # the chip port lock files go away with the test
L=$LOCALHUB
PIDS=()
cleanup() {
  local rc=$? p
  "$L" stop >/dev/null 2>&1 || true
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  sanitizer_check "$LOCALHUB_HOME" "$W"/*.out || rc=1
  if [ $rc -ne 0 ] && [ -f "$LOCALHUB_HOME/broker.log" ]; then
    echo "--- broker.log (tail)" >&2; tail -20 "$LOCALHUB_HOME/broker.log" >&2
  fi
  rm -rf "$W"
  exit $rc
}
trap cleanup EXIT
trap 'exit 1' INT TERM
fail() {
  local f
  echo "FAIL: $*" >&2
  for f in "$W"/*.out; do [ -f "$f" ] && { echo "--- $f" >&2; tail -15 "$f" >&2; }; done
  exit 1
}
ok() { echo "ok - $*"; }
cd "$W"   # the samples keep their outboxes here

for _ in 1 2 3 4 5 6 7 8 9 10; do
  PORT=$((20000 + RANDOM % 40000))
  "$L" start --port "$PORT" > start.out 2>&1 && break
  grep -q "in use\|exited" start.out || fail "localhub start: $(cat start.out)"
  PORT=""
done
[ -n "$PORT" ] || fail "localhub did not start"
CAF="$LOCALHUB_HOME/pki/root-ca.pem"

# wait_module D M KIND: module connected and its session subscribed to KIND.
wait_module() {
  local i out=""
  for i in $(seq 1 150); do
    out=$("$L" --json module show --device "$1" --module "$2")
    if grep_all -q '"connectionState":[[:space:]]*"Connected"' <<<"$out" && grep_all -q "\"$3\"" <<<"$out"; then
      return 0
    fi
    sleep 0.1
  done
  fail "module $1/$2 never subscribed to $3: $out"
}
# wait_line FILE REGEX: until the sample printed a matching line (15 s).
wait_line() {
  local i
  for i in $(seq 1 150); do grep -qE "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done
  fail "never printed in $1: $2"
}

# Device CA (verified), the device and its modules.
openssl ecparam -name prime256v1 -genkey -noout -out ca.key 2>/dev/null
openssl req -x509 -new -key ca.key -subj "/CN=hub module e2e CA" -days 30 -out ca.pem \
  -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null
"$L" ca add modca ca.pem --verified > /dev/null
"$L" device create --id edge-1 --auth x509-ca > /dev/null
"$L" module create --device edge-1 --module filter --auth x509-ca > /dev/null
"$L" module create --device edge-1 --module sensor --auth sas > /dev/null

# The chip: key generated inside, the DEVICE certificate (CN = edge-1) first.
"$TRUSTM_SIM" --socket "$W/chip.sock" --state "$W/chip.state" > sim.out 2>&1 &
PIDS+=($!)
for _ in $(seq 1 100); do [ -S "$W/chip.sock" ] && break; sleep 0.05; done
DEV="sim:$W/chip.sock"
"$TRUSTM_CLI" --device "$DEV" personalize --device-id edge-1 --ca-cert ca.pem --ca-key ca.key \
  --trust-anchor "$CAF" > pers.out 2>&1 || fail "personalize"

MCS="HostName=localhost;DeviceId=edge-1;ModuleId=filter;x509=true"
echo "== the device certificate (CN = edge-1) is refused as module edge-1/filter"
rc=0
"$IOTHUB_SAMPLES/iothub-telemetry" --device "$DEV" --connection-string "$MCS" --port "$PORT" \
  --count 1 --outbox "$W/refused.outbox" --timeout-ms 20000 > refused.out 2>&1 || rc=$?
[ $rc -eq 1 ] || fail "device certificate as module: exit status $rc"
grep -q 'hub refused the connection: refused: not authorized' refused.out || fail "device certificate as module: refusal text"
[ "$(grep -c '^refused' refused.out)" -eq 1 ] || fail "retried after CONNACK 5"
# The same chip and certificate are good for the device itself: the refusal is the CN.
"$IOTHUB_SAMPLES/iothub-telemetry" --device "$DEV" --connection-string "HostName=localhost;DeviceId=edge-1;x509=true" \
  --port "$PORT" --count 1 --outbox "$W/dev.outbox" --timeout-ms 20000 > dev.out 2>&1 || fail "the device itself"
grep -q '^done: 1 queued, 1 acknowledged' dev.out || fail "device telemetry"
ok "CN = d is refused for module d/m (CONNACK 5, no retry) and accepted for device d"

echo "== module certificate CN = edge-1/filter, chip key, CA-signed"
"$TRUSTM_CLI" --device "$DEV" csr --slot 0xE0F1 --subject 'CN=edge-1/filter' --out filter.csr > csr.out 2>&1 \
  || fail "chip CSR"
printf 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n' > leaf.ext
openssl x509 -req -in filter.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -extfile leaf.ext \
  -out filter.pem 2>/dev/null || fail "CA signature"
openssl verify -CAfile ca.pem filter.pem > verify.out 2>&1 || fail "openssl does not accept the module certificate"
openssl x509 -in filter.pem -noout -subject | grep_all -q 'CN *= *edge-1/filter' || fail "module certificate subject"
"$TRUSTM_CLI" --device "$DEV" cert write --oid 0xE0E1 filter.pem > certw.out 2>&1 || fail "cert write"

"$IOTHUB_SAMPLES/iothub-telemetry" --device "$DEV" --connection-string "$MCS" --port "$PORT" \
  --count 3 --interval-ms 200 --run-ms 6000 --outbox "$W/x509.outbox" > x509.out 2>&1 &
P=$!; PIDS+=($P)
wait_module edge-1 filter inputs
"$L" module send-input --device edge-1 --module filter --input temp-in --data 'hello module' \
  --props 'unit=celsius;route=r1' > input.out 2>&1 || fail "send-input"
wait $P || fail "module telemetry sample exit status"
grep -q '^done: 3 queued, 3 acknowledged, 0 still in the outbox' x509.out || fail "module X.509 telemetry summary"
grep -qx "input message on 'temp-in': hello module" x509.out || fail "input message not printed"
grep -qx '  property unit = celsius' x509.out || fail "input property unit"
grep -qx '  property route = r1' x509.out || fail "input property route"
"$L" --json monitor-events --device edge-1 --module filter --from-start --count 3 --timeout 5 --properties all \
  > x509ev.out 2>&1 || fail "monitor-events for the module"
[ "$(grep -c '"module":"filter"' x509ev.out)" -eq 3 ] || fail "events without the module id"
[ "$(grep -c '"iothub-connection-module-id":"filter"' x509ev.out)" -eq 3 ] || fail "iothub-connection-module-id not stamped"
grep -q '"iothub-connection-auth-method":"{\\"scope\\":\\"module\\",\\"type\\":\\"x509Certificate\\"' x509ev.out \
  || fail "auth method not module/x509: $(head -c 600 x509ev.out)"
grep -q '"n":2' x509ev.out || fail "message 2 not seen by the hub"
# The device's own telemetry carries no module id.
"$L" --json monitor-events --device edge-1 --from-start --count 4 --timeout 5 > allev.out 2>&1 || fail "monitor-events"
[ "$(grep -c '"module":""' allev.out)" -eq 1 ] || fail "the device's own message: $(cat allev.out)"
ok "X.509 module (chip key): telemetry stamped with the module id, input message with properties delivered"

echo "== SAS module"
SCS=$("$L" module connection-string --device edge-1 --module sensor)
case "$SCS" in "HostName=localhost;DeviceId=edge-1;ModuleId=sensor;SharedAccessKey="*) ;; *) fail "connection string: $SCS" ;; esac
"$IOTHUB_SAMPLES/iothub-telemetry" --connection-string "$SCS" --ca "$CAF" --port "$PORT" --count 2 --interval-ms 50 \
  --outbox "$W/sas.outbox" --timeout-ms 20000 > sas.out 2>&1 || fail "SAS module"
grep -q '^done: 2 queued, 2 acknowledged, 0 still in the outbox' sas.out || fail "SAS module telemetry"
"$L" --json monitor-events --device edge-1 --module sensor --from-start --count 2 --timeout 5 --properties all \
  > sasev.out 2>&1 || fail "monitor-events for the SAS module"
[ "$(grep -c '"iothub-connection-module-id":"sensor"' sasev.out)" -eq 2 ] || fail "SAS module id not stamped"
grep -q '\\"scope\\":\\"module\\",\\"type\\":\\"sas\\"' sasev.out || fail "auth method not module/sas"
ok "SAS module: telemetry stamped with its module id"

echo "== refused: a wrong module key, a module of an unknown device"
refused() { # name connection-string
  local rc=0
  "$IOTHUB_SAMPLES/iothub-telemetry" --connection-string "$2" --ca "$CAF" --port "$PORT" --count 1 \
    --outbox "$W/$1.outbox" --timeout-ms 20000 > "$1.out" 2>&1 || rc=$?
  [ $rc -eq 1 ] || fail "$1: exit status $rc"
  grep -q 'not authorized' "$1.out" || fail "$1: no clear refusal"
  [ "$(grep -c '^refused' "$1.out")" -eq 1 ] || fail "$1: retried after CONNACK 5"
}
KEY=${SCS##*SharedAccessKey=}
refused wrongkey "HostName=localhost;DeviceId=edge-1;ModuleId=sensor;SharedAccessKey=$(head -c 32 /dev/urandom | base64)"
refused nodevice "HostName=localhost;DeviceId=no-such-device;ModuleId=sensor;SharedAccessKey=$KEY"
refused nomodule "HostName=localhost;DeviceId=edge-1;ModuleId=no-such-module;SharedAccessKey=$KEY"
grep -q 'no-such' "$LOCALHUB_HOME/telemetry.jsonl" && fail "a refused module's message was stored"
ok "wrong module key, unknown device, unknown module: CONNACK 5, no retry"

echo "== twin + methods sample as the X.509 module"
"$IOTHUB_SAMPLES/iothub-twin-methods" --device "$DEV" --connection-string "$MCS" --port "$PORT" \
  --run-ms 8000 --outbox "$W/twin.outbox" > twin.out 2>&1 &
P=$!; PIDS+=($P)
wait_line twin.out '^reported properties accepted \(status 204'
wait_module edge-1 filter methods
wait_module edge-1 filter twin-desired
"$L" module method invoke --device edge-1 --module filter --name reboot --payload '{"delay":1}' --timeout 10 \
  > method.out 2>&1 || fail "module method invoke"
grep -q '"status":[[:space:]]*200' method.out || fail "module method status: $(cat method.out)"
grep -q 'scheduled' method.out || fail "module method payload"
rc=0; "$L" method invoke --device edge-1 --name reboot --timeout 5 > devmethod.out 2>&1 || rc=$?
[ $rc -eq 1 ] && grep -q '404103' devmethod.out || fail "a device method call reached the module: $(cat devmethod.out)"
"$L" module twin update --device edge-1 --module filter --desired '{"interval":30}' > /dev/null
wait_line twin.out '^desired update, version [0-9]*: \{"interval":30'
rc=0; wait $P || rc=$?
[ $rc -eq 0 ] || fail "twin-methods sample exit status $rc"
"$L" module twin show --device edge-1 --module filter > mtwin.json
grep -q '"sample"' mtwin.json || fail "reported property not in the module twin"
grep -q '"moduleId":[[:space:]]*"filter"' mtwin.json || fail "module twin names no module"
"$L" twin show --device edge-1 > dtwin.json
grep -q '"sample"\|"interval"' dtwin.json && fail "the module's twin traffic changed the device twin"
ok "module twin (reported + desired) and module method; the device twin and methods are separate"
echo PASS
