#!/usr/bin/env bash
# Interop: the official Azure IoT Node.js device SDK (azure-iot-device,
# azure-iot-device-mqtt, azure-iot-provisioning-device-mqtt) against localhub.
# Not part of the CI suite (needs the npm packages): run with `make interop`
# or directly. Packages are installed into tests/interop/node_modules
# (git-ignored) from the npm registry, or offline from the vendored closure in
# tests/interop/vendor/ (6.7 MB). Exit 77 (skipped) when node is missing.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
B=${TMA_BUILD_DIR:-$ROOT/build/interop}
if [ ! -x "$B/hub/localhub" ]; then
  cmake -S "$ROOT" -B "$B" -DTMA_TESTS=OFF >/dev/null
  cmake --build "$B" -j2 --target localhub localhub_plugin localhub_tlsshim >/dev/null
fi
L=$B/hub/localhub
command -v node >/dev/null || { echo "SKIP: node is not installed"; exit 77; }

T=$(mktemp -d /tmp/hubnode.XXXXXX)
# Packages: a developer's tests/interop/node_modules (npm install, git-ignored),
# else the vendored closure (tests/interop/vendor/node_modules.tar.gz, made from
# package-lock.json with npm install), unpacked offline into the temp folder.
if [ -d "$HERE/node_modules/azure-iot-device-mqtt" ]; then
  export NODE_PATH=$HERE/node_modules
elif [ -f "$HERE/vendor/node_modules.tar.gz" ]; then
  tar xzf "$HERE/vendor/node_modules.tar.gz" -C "$T"
  export NODE_PATH=$T/node_modules
else
  (cd "$HERE" && npm install --no-audit --no-fund >/dev/null)
  export NODE_PATH=$HERE/node_modules
fi
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
