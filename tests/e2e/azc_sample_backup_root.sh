#!/usr/bin/env bash
# IoT Hub's TLS page asks devices to trust DigiCert Global Root G2 and, as a
# backup, Microsoft RSA Root Certificate Authority 2017. The 2017 root is
# 1,452 bytes and a trust-anchor object holds 1,200, so the trustm CLI puts
# it into data object 0xF1E0 ('trust-anchor write --azure'). Here the hub's
# real root plays the backup: 0xE0E8 holds an unrelated root, 0xF1E0 the
# hub's. A sample run without --ca-oid must verify the hub through 0xF1E0
# (before, its default read 0xE0E8 only and refused the hub); with
# --ca-oid 0xE0E8 alone it must refuse; and a 0xF1E0 holding other data
# leaves the default with 0xE0E8 alone, as before.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/../lib/shell.sh"
: "${TMA_BUILD_DIR:?}" "${IOTHUB_SAMPLES:?}" "${TRUSTM_CLI:?}" "${TRUSTM_SIM:?}" "${LOCALHUB:?}"
. "$(dirname "${BASH_SOURCE[0]}")/../lib/localhub_chip.sh"
lhc_init azc_backup_root
lhc_start_hub
lhc_device_ca "azc backup-root CA"
"$LOCALHUB" device create --id dev-azc --auth x509-ca > /dev/null
lhc_chip dev-azc
T=("$TRUSTM_CLI" --device "$DEV")
CS="HostName=localhost;DeviceId=dev-azc;x509=true"
run() { # out-file extra-args...: one message to the hub
  local out=$1 rc=0
  shift
  "$IOTHUB_SAMPLES/iothub-telemetry" --device "$DEV" --connection-string "$CS" --port "$PORT" \
    --count 1 --interval-ms 50 --timeout-ms 8000 --outbox "$W/$out.outbox" "$@" > "$out.out" 2>&1 || rc=$?
  return $rc
}

openssl genrsa -out other.key 2048 2>/dev/null
openssl req -x509 -new -key other.key -subj "/CN=Unrelated Root" -days 30 -out other.pem \
  -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign
"${T[@]}" trust-anchor write --oid 0xE0E8 other.pem > ta.out 2>&1 || fail "write 0xE0E8"
openssl x509 -in "$CAF" -outform DER -out hubroot.der
"${T[@]}" data write --oid 0xF1E0 --in hubroot.der --erase > data.out 2>&1 || fail "write 0xF1E0"

echo "== default anchors: 0xE0E8 and the backup in 0xF1E0"
run def || fail "the sample did not verify the hub through the backup root in 0xF1E0"
grep -q '^done: 1 queued, 1 acknowledged, 0 still in the outbox' def.out || fail "telemetry summary"

echo "== --ca-oid 0xE0E8 alone: refused (the unrelated root does not lead to the hub)"
if run only --ca-oid 0xE0E8; then fail "connected without the hub's root"; fi
grep -q 'not trusted' only.out || fail "no 'not trusted' reason"

echo "== 0xF1E0 holding other data: the default goes on with 0xE0E8 alone"
"${T[@]}" trust-anchor write --oid 0xE0E8 "$CAF" > ta2.out 2>&1 || fail "write 0xE0E8 (hub root)"
"${T[@]}" data write --oid 0xF1E0 --hex 0102030405 --erase > data2.out 2>&1 || fail "write 0xF1E0 (data)"
run other || fail "the default failed on a 0xF1E0 that holds no certificate"
grep -q '^done: 1 queued, 1 acknowledged' other.out || fail "telemetry summary (other data)"
echo PASS
