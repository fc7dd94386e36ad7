#!/usr/bin/env bash
# localhub: SAS-token devices (signature, sr, expiry, disconnect at expiry),
# all failures CONNACK 5. Tokens are computed with openssl, not with localhub.
. "$(dirname "$0")/hub_lib.sh"
hub_start
"$L" device create --id s1 --auth sas >/dev/null
"$L" device create --id s2 --auth sas >/dev/null
"$L" --json device show s1 >"$T/s1.json"
K1=$(sed -n 's/.*"primaryKey":[[:space:]]*"\([^"]*\)".*/\1/p' "$T/s1.json")
K2=$(sed -n 's/.*"secondaryKey":[[:space:]]*"\([^"]*\)".*/\1/p' "$T/s1.json")
KO=$("$L" --json device show s2 | sed -n 's/.*"primaryKey":[[:space:]]*"\([^"]*\)".*/\1/p')
[ -n "$K1" ] && [ -n "$K2" ] || fail "no keys in device show"
NOW=$(date +%s)

pub_sas() {  # ID TOKEN [args]
  local id=$1 tok=$2; shift 2
  mosquitto_pub -h localhost -p "$PORT" --cafile "$CAF" -V mqttv311 -i "$id" -u "$(user_for "$id")" -P "$tok" -q 1 \
    -t "devices/$id/messages/events/" "$@"
}

pub_sas s1 "$(sas_token localhost/devices/s1 "$K1" $((NOW + 3600)))" -m sas-primary || fail "primary key token refused"
pub_sas s1 "$(sas_token localhost/devices/s1 "$K2" $((NOW + 3600)))" -m sas-secondary || fail "secondary key token refused"
pub_sas s1 "$(sas_token LOCALHOST/devices/s1 "$K1" $((NOW + 3600)))" -m sas-host-case || fail "host is case-insensitive"
pub_sas s1 "$("$L" generate-sas-token --device s1 --duration 60)" -m sas-cli || fail "CLI token refused"
wait_log '"payload":"sas-cli"'
grep '"payload":"sas-primary"' "$LOCALHUB_HOME/telemetry.jsonl" | grep_all -q '\\"type\\":\\"sas\\"' || fail "auth method not sas"
ok "valid SAS tokens (primary, secondary, host case, CLI) accepted"

expect_refused "token signed with another device's key" pub_sas s1 "$(sas_token localhost/devices/s1 "$KO" $((NOW + 3600)))" -m x
expect_refused "expired token" pub_sas s1 "$(sas_token localhost/devices/s1 "$K1" $((NOW - 5)))" -m x
expect_refused "token for another device (sr)" pub_sas s1 "$(sas_token localhost/devices/s2 "$K1" $((NOW + 3600)))" -m x
expect_refused "device id case differs in sr" pub_sas s1 "$(sas_token localhost/devices/S1 "$K1" $((NOW + 3600)))" -m x
expect_refused "token for another hub" pub_sas s1 "$(sas_token other.azure-devices.net/devices/s1 "$K1" $((NOW + 3600)))" -m x
expect_refused "policy-signed token (skn)" pub_sas s1 "$(sas_token localhost/devices/s1 "$K1" $((NOW + 3600)) device)" -m x
expect_refused "garbage password" pub_sas s1 "SharedAccessSignature sr=x" -m x
expect_refused "no password" mosquitto_pub -h localhost -p "$PORT" --cafile "$CAF" -V mqttv311 -i s1 -u "$(user_for s1)" -t devices/s1/messages/events/ -m x
tok=$(sas_token localhost/devices/s1 "$K1" $((NOW + 3600)))
expect_refused "tampered expiry" pub_sas s1 "${tok%se=*}se=$((NOW + 7200))" -m x
"$L" device disable s1 >/dev/null
expect_refused "disabled SAS device" pub_sas s1 "$tok" -m x
"$L" device enable s1 >/dev/null

# the hub disconnects a device when its token expires
# (10 s of validity: a TLS connect slowed down by a loaded machine must not
# outlive the token before CONNECT; the wait ends at the disconnect.)
exp=$(( $(date +%s) + 10 ))
start=$(date +%s)
set +e
"$MQTTC" --port "$PORT" --cafile "$CAF" --id s1 --user "$(user_for s1)" --pass "$(sas_token localhost/devices/s1 "$K1" $exp)" \
  --timeout 40 sleep:30000 >/dev/null 2>&1
rc=$?
set -e
el=$(( $(date +%s) - start ))
[ $rc -eq 4 ] && [ $el -ge 8 ] && [ $el -le 20 ] || fail "not disconnected at token expiry (rc $rc after ${el}s)"
ok "disconnected when the SAS token expires (${el}s)"
