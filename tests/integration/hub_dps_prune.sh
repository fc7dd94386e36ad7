#!/usr/bin/env bash
# DPS operations are pruned after 'localhub start --dps-op-retention S'
# (default 3600 s) and keep no copy of the symmetric key (wrap13 F13: the
# rows stayed for ever, each with the key); a poll for a pruned operation
# gets 404, as from DPS once it has forgotten an operation.
. "$(dirname "$0")/hub_lib.sh"
hub_start --dps-op-retention 3
SCOPE=$("$L" --json dps show | sed -n 's/.*"idScope":[[:space:]]*"\([^"]*\)".*/\1/p')
DB="$LOCALHUB_HOME/registry.db"
q() { sqlite3 -readonly "$DB" "$1"; }
dps() {  # REGID [client options] -- ACTIONS
  local id=$1; shift
  "$MQTTC" --port "$PORT" --cafile "$CAF" --id "$id" --user "$SCOPE/registrations/$id/api-version=2019-03-31&ClientVersion=hubtest" "$@"
}
REGISTER() { echo "pub0:\$dps/registrations/PUT/iotdps-register/?\$rid=1:{\"registrationId\":\"$1\"}"; }
POLL='pub0:$dps/registrations/GET/iotdps-get-operationstatus/?$rid=2&operationId=${op}:'
FLOW=('sub:$dps/registrations/res/#')

K=$("$L" --json dps enrollment create --registration-id p1 --attestation symmetric-key |
    sed -n 's/.*"primaryKey":[[:space:]]*"\([^"]*\)".*/\1/p')
[ -n "$K" ] || fail "no enrollment key"
TOK=$(sas_token "$SCOPE/registrations/p1" "$K" $(( $(date +%s) + 600 )) registration)
out=$(dps p1 --pass "$TOK" "${FLOW[@]}" "$(REGISTER p1)" 'expect:res/202/' 'capture:op:operationId' "$POLL" 'expect:res/200/')
grep_in "$out" -q '"status":"assigned"' || fail "not assigned: $out"
HT=$(sas_token localhost/devices/p1 "$K" $(( $(date +%s) + 600 )))
mosquitto_pub -h localhost -p "$PORT" --cafile "$CAF" -V mqttv311 -i p1 -u "$(user_for p1)" -P "$HT" -q 1 \
  -t devices/p1/messages/events/ -m dps-key || fail "device cannot connect with its enrollment key after DPS"
# one more registered and never polled (abandoned)
out=$(dps p1 --pass "$TOK" "${FLOW[@]}" "$(REGISTER p1)" 'expect:res/202/' 'capture:op:operationId')
op=$(grep_in "$out" -o 'CAPTURE op=[^ ]*' | cut -d= -f2)
[ -n "$op" ] || fail "no operation id: $out"
[ "$(q 'SELECT count(*) FROM dps_ops')" = 2 ] || fail "expected 2 operations: $(q 'SELECT op_id,status FROM dps_ops')"
[ "$(q 'SELECT count(*) FROM dps_ops WHERE key1 IS NOT NULL')" = 0 ] || fail "operations keep a copy of the key"
[ "$(q "SELECT count(*) FROM dps_ops WHERE key1='$K'")" = 0 ] || fail "key stored"
ok "DPS assigns with the enrollment key; dps_ops rows hold no key"
"$L" --json status | grep_all -q '"dpsOperations":[[:space:]]*2' || fail "status: $("$L" --json status)"

for i in $(seq 1 100); do [ "$(q 'SELECT count(*) FROM dps_ops')" = 0 ] && break; sleep 0.1; done
[ "$(q 'SELECT count(*) FROM dps_ops')" = 0 ] || fail "operations not pruned after 3 s + 10 s: $(q 'SELECT op_id,status,created FROM dps_ops')"
ok "finished and abandoned operations pruned after the retention"
out=$(dps p1 --pass "$TOK" "${FLOW[@]}" "pub0:\$dps/registrations/GET/iotdps-get-operationstatus/?\$rid=2&operationId=$op:" \
      'expect:$rid=2' 2>&1 || true)
grep_in "$out" -q 'res/404/' || fail "poll for a pruned operation: $out"
out=$(dps p1 --pass "$TOK" "${FLOW[@]}" "$(REGISTER p1)" 'expect:res/202/' 'capture:op:operationId' "$POLL" 'expect:res/200/')
grep_in "$out" -q '"status":"assigned"' || fail "registering again after pruning: $out"
ok "a poll for a pruned operation gets 404; registering again works"
