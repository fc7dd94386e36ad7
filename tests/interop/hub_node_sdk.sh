#!/usr/bin/env bash
# Interop: the official Azure IoT Node.js device SDK (azure-iot-device,
# azure-iot-device-mqtt, azure-iot-provisioning-device-mqtt) against localhub.
# Part of the test suite as hub_interop_node (offline, from the vendored
# closure in tests/interop/vendor/, 6.4 MB); `make interop` runs it alone.
# Packages: see node_env.sh. Exit 77 (skipped) when node is missing.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
. "$HERE/node_env.sh"
interop_localhub

T=$(mktemp -d /tmp/hubnode.XXXXXX)
interop_node_path "$T"
export LOCALHUB_HOME=$T/state
cleanup() { "$L" stop >/dev/null 2>&1 || true; rm -rf "$T"; }
trap cleanup EXIT
for i in 1 2 3 4 5; do
  PORT=$((20000 + RANDOM % 40000))
  # the SDKs connect to mqtts://{HostName}: the port travels in the host name
  "$L" start --port "$PORT" --hostname "localhost:$PORT" >/dev/null 2>&1 && break
done
export HUBHOST="localhost:$PORT" CERTDIR=$T LOCALHUB=$L
export NODE_EXTRA_CA_CERTS=$LOCALHUB_HOME/pki/root-ca.pem
SCOPE=$("$L" --json dps show | sed -n 's/.*"idScope":[[:space:]]*"\([^"]*\)".*/\1/p'); export SCOPE

openssl ecparam -name prime256v1 -genkey -noout -out "$T/ca.key"
openssl req -x509 -new -key "$T/ca.key" -subj "/CN=node CA" -days 2 -out "$T/ca.pem" \
  -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign 2>/dev/null
"$L" ca add nodeca "$T/ca.pem" --verified >/dev/null
for d in node-x509 node-dps-x509; do
  openssl ecparam -name prime256v1 -genkey -noout -out "$T/$d.key"
  openssl req -new -key "$T/$d.key" -subj "/CN=$d" -out "$T/$d.csr" 2>/dev/null
  openssl x509 -req -in "$T/$d.csr" -CA "$T/ca.pem" -CAkey "$T/ca.key" -CAcreateserial -days 2 -out "$T/$d.pem" 2>/dev/null
done
"$L" device create --id node-sas --auth sas >/dev/null
"$L" device create --id node-x509 --auth x509-ca >/dev/null
"$L" dps enrollment-group create --group-id node-sym --attestation symmetric-key >/dev/null
"$L" dps enrollment-group create --group-id node-x509 --ca nodeca >/dev/null
timeout 120 node "$HERE/hub_node_sdk.js"
