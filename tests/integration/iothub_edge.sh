#!/usr/bin/env bash
# IoT Edge downstream device (GatewayHostName): the telemetry sample with a
# SAS device of a hub named hub.example.net (localhub --hostname) and a
# connection string whose GatewayHostName=localhost. localhub's server
# certificate names localhost (not hub.example.net), and localhub accepts
# a CONNECT only when the MQTT user name and the SAS token's resource name
# hub.example.net: messages arriving at the hub prove TCP+TLS went to the
# gateway name and the credentials kept the hub name. Negative runs: without
# a gateway the same device cannot connect (the certificate does not cover
# hub.example.net), and a gateway name the certificate does not cover fails
# with a TLS name error and sends nothing.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/../lib/shell.sh"
: "${IOTHUB_SAMPLES:?}" "${LOCALHUB:?}"
W=$(mktemp -d /tmp/iothub_edge.XXXXXX)
export LOCALHUB_HOME="$W/state"
cleanup() {
  local rc=$? f
  "$LOCALHUB" stop >/dev/null 2>&1 || true
  sanitizer_check "$LOCALHUB_HOME" "$W"/*.out || rc=1
  rm -rf "$W"
  exit $rc
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; for f in "$W"/*.out; do [ -f "$f" ] && { echo "--- $f" >&2; tail -15 "$f" >&2; }; done; exit 1; }
cd "$W"

HUB=hub.example.net
PORT=""
for try in 1 2 3 4 5 6 7 8 9 10; do
  PORT=$((20000 + RANDOM % 40000))
  "$LOCALHUB" start --port "$PORT" --hostname "$HUB" > start.out 2>&1 && break
  PORT=""
done
[ -n "$PORT" ] || fail "localhub did not start"
CAF="$LOCALHUB_HOME/pki/root-ca.pem"
# The server certificate covers localhost but not the hub name: that is what
# makes the runs below tell the TLS name from the MQTT/SAS name.
openssl x509 -in "$LOCALHUB_HOME/pki/server.pem" -noout -ext subjectAltName > san.out 2>&1 || fail "read the server certificate"
grep -q 'DNS:localhost' san.out || fail "the server certificate does not name localhost"
if grep -q "$HUB" san.out; then fail "the server certificate names $HUB: the test would prove nothing"; fi

K1=$(head -c 32 /dev/urandom | base64); K2=$(head -c 32 /dev/urandom | base64)
"$LOCALHUB" device create --id leaf1 --auth sas --primary-key "$K1" --secondary-key "$K2" > /dev/null
"$LOCALHUB" device create --id leaf2 --auth sas --primary-key "$K2" --secondary-key "$K1" > /dev/null
"$LOCALHUB" device create --id leaf3 --auth sas --primary-key "$K1" --secondary-key "$K2" > /dev/null

tel() { "$IOTHUB_SAMPLES/iothub-telemetry" --ca "$CAF" --port "$PORT" --interval-ms 50 "$@"; }

echo "== GatewayHostName=localhost in the connection string: TLS to the gateway, user name and SAS for $HUB"
tel --connection-string "HostName=$HUB;DeviceId=leaf1;SharedAccessKey=$K1;GatewayHostName=localhost" \
  --count 3 --outbox "$W/leaf1.outbox" --timeout-ms 20000 > gw.out 2>&1 || fail "downstream device through the gateway"
grep -qx "IoT Edge gateway localhost for hub $HUB" gw.out || fail "the sample did not name the gateway"
grep -q '^done: 3 queued, 3 acknowledged, 0 still in the outbox' gw.out || fail "telemetry through the gateway"
"$LOCALHUB" monitor-events --device leaf1 --from-start --count 3 --timeout 5 --properties all > ev1.out 2>&1 \
  || fail "the hub did not receive the 3 messages of leaf1"
grep -qE '"n":[[:space:]]*2' ev1.out || fail "message 2 of leaf1 not at the hub"

echo "== the option form: --gateway localhost"
tel --connection-string "HostName=$HUB;DeviceId=leaf2;SharedAccessKey=$K2" --gateway localhost \
  --count 2 --outbox "$W/leaf2.outbox" --timeout-ms 20000 > opt.out 2>&1 || fail "--gateway"
grep -q '^done: 2 queued, 2 acknowledged, 0 still in the outbox' opt.out || fail "telemetry with --gateway"
"$LOCALHUB" monitor-events --device leaf2 --from-start --count 2 --timeout 5 > ev2.out 2>&1 \
  || fail "the hub did not receive the 2 messages of leaf2"

echo "== no gateway: TLS to $HUB (at 127.0.0.1) fails, the certificate does not name it"
rc=0
tel --connection-string "HostName=$HUB;DeviceId=leaf3;SharedAccessKey=$K1" --address 127.0.0.1 \
  --count 1 --outbox "$W/leaf3a.outbox" --timeout-ms 2500 > nogw.out 2>&1 || rc=$?
[ $rc -eq 1 ] || fail "a connection without the gateway: exit $rc"
grep -q "server certificate is not valid for host name" nogw.out || fail "no TLS name error without the gateway"

echo "== a gateway name the certificate does not cover: a clear TLS error, nothing sent"
rc=0
tel --connection-string "HostName=$HUB;DeviceId=leaf3;SharedAccessKey=$K1;GatewayHostName=edge.example.net" \
  --address 127.0.0.1 --count 2 --outbox "$W/leaf3b.outbox" --timeout-ms 2500 > badgw.out 2>&1 || rc=$?
[ $rc -eq 1 ] || fail "an uncovered gateway name: exit $rc"
grep -qx "IoT Edge gateway edge.example.net for hub $HUB" badgw.out || fail "the sample did not name the gateway"
grep -q "server certificate is not valid for host name" badgw.out || fail "no TLS name error for the gateway"
grep -q "edge.example.net" <(grep "not valid for host name" badgw.out) || fail "the TLS error does not name the gateway"
grep -q '^done: 2 queued, 0 acknowledged, 2 still in the outbox' badgw.out || fail "messages were not kept"
grep -q '^connected' badgw.out && fail "connected through a gateway the certificate does not cover"
rc=0
"$LOCALHUB" monitor-events --device leaf3 --from-start --count 1 --timeout 2 > ev3.out 2>&1 || rc=$?
[ $rc -ne 0 ] && grep -q 'timed out after 0 events' ev3.out || fail "leaf3 got a message to the hub"

echo "== bad gateway values are refused before any connection"
rc=0
tel --connection-string "HostName=$HUB;DeviceId=leaf3;SharedAccessKey=$K1;GatewayHostName=" --count 1 > empty.out 2>&1 || rc=$?
[ $rc -eq 2 ] && grep -q 'bad connection string' empty.out || fail "empty GatewayHostName accepted (exit $rc)"
rc=0
tel --connection-string "HostName=$HUB;DeviceId=leaf3;SharedAccessKey=$K1;GatewayHostName=a;GatewayHostName=b" --count 1 > dup.out 2>&1 || rc=$?
[ $rc -eq 2 ] && grep -q 'bad connection string' dup.out || fail "duplicate GatewayHostName accepted (exit $rc)"
rc=0
tel --connection-string "HostName=$HUB;DeviceId=leaf3;SharedAccessKey=$K1" --gateway "ssl://edge:8883" --count 1 > url.out 2>&1 || rc=$?
[ $rc -eq 2 ] && grep -q 'bare host name' url.out || fail "a gateway URL accepted (exit $rc)"
echo "PASS"
