#!/usr/bin/env bash
# Interop: the official Azure IoT Node.js SDK's ModuleClient (azure-iot-device
# + azure-iot-device-mqtt, unchanged) against localhub's module identities:
# SAS and X.509 (CN = {d}/{m}, verified CA) connections, output events,
# input messages from 'module send-input', module twin, module methods, SAS
# token expiry and renewal, the refusal of a wrong module key and of the
# device certificate, and (MQTT.js as a raw client) the input filter ACL.
# Packages as in hub_node_sdk.sh (a developer's tests/interop/node_modules,
# else the vendored closure unpacked offline). Exit 77 (skipped) when node is
# missing.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
. "$ROOT/tests/lib/shell.sh"
. "$HERE/node_env.sh"
interop_localhub

T=$(mktemp -d /tmp/hubnodemod.XXXXXX)
export LOCALHUB_HOME=$T/state
cleanup() {
  local rc=$?
  "$L" stop >/dev/null 2>&1 || true
  sanitizer_check "$LOCALHUB_HOME" || rc=1
  if [ $rc -ne 0 ] && [ -f "$LOCALHUB_HOME/broker.log" ]; then
    echo "--- broker.log (tail)" >&2; tail -25 "$LOCALHUB_HOME/broker.log" >&2
  fi
  rm -rf "$T"
  exit $rc
}
trap cleanup EXIT
trap 'exit 1' INT TERM
fail() { echo "FAIL: $*" >&2; exit 1; }

interop_node_path "$T"

PORT=""
for _ in 1 2 3 4 5 6 7 8 9 10; do
  PORT=$((20000 + RANDOM % 40000))
  # the SDK connects to mqtts://{HostName}: the port travels in the host name
  "$L" start --port "$PORT" --hostname "localhost:$PORT" > "$T/start.out" 2>&1 && break
  grep -q "in use\|exited" "$T/start.out" || fail "localhub start: $(cat "$T/start.out")"
  PORT=""
done
[ -n "$PORT" ] || fail "localhub did not start"
export HUBHOST="localhost:$PORT" CERTDIR=$T LOCALHUB=$L
export NODE_EXTRA_CA_CERTS=$LOCALHUB_HOME/pki/root-ca.pem

# Device (X.509 CA), its modules: 'sdk-sas' (SAS) and 'sdk-x509' (X.509 CA).
openssl ecparam -name prime256v1 -genkey -noout -out "$T/ca.key"
openssl req -x509 -new -key "$T/ca.key" -subj "/CN=node module CA" -days 2 -out "$T/ca.pem" \
  -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign 2>/dev/null
"$L" ca add nodemodca "$T/ca.pem" --verified >/dev/null
printf 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n' > "$T/leaf.ext"
leaf() { # file-stem CN
  openssl ecparam -name prime256v1 -genkey -noout -out "$T/$1.key"
  # '/' inside a -subj value is written '\/'
  openssl req -new -key "$T/$1.key" -subj "/CN=${2//\//\\/}" -out "$T/$1.csr" 2>/dev/null
  openssl x509 -req -in "$T/$1.csr" -CA "$T/ca.pem" -CAkey "$T/ca.key" -CAcreateserial -days 2 \
    -extfile "$T/leaf.ext" -out "$T/$1.pem" 2>/dev/null
  openssl verify -CAfile "$T/ca.pem" "$T/$1.pem" >/dev/null || fail "openssl does not accept $1.pem"
  openssl x509 -in "$T/$1.pem" -noout -subject -nameopt RFC2253 | grep_all -qx "subject=CN=$2" \
    || fail "$1.pem subject: $(openssl x509 -in "$T/$1.pem" -noout -subject)"
}
leaf module-x509 "node-edge/sdk-x509"
leaf device-cert "node-edge"
"$L" device create --id node-edge --auth x509-ca >/dev/null
"$L" module create --device node-edge --module sdk-sas --auth sas >/dev/null
"$L" module create --device node-edge --module sdk-x509 --auth x509-ca >/dev/null

timeout 90 node "$HERE/hub_node_sdk_module.js"
