#!/usr/bin/env bash
# The TLS binding against a server shaped like *.azure-devices.net, as the
# IoT Hub TLS page describes it (docs/decisions/azure-compat.md, TLS rows):
# TLS 1.2 only, only the cipher suites IoT Hub enforces
# (ECDHE-RSA with AES-GCM or AES-CBC-SHA256/384), an RSA server chain
# (root -> issuing CA -> leaf with SAN *.azure-devices.net), a client
# certificate asked for in the first handshake. The roots stand in for DigiCert Global
# Root G2 (RSA 2048, SHA-256) and Microsoft RSA Root Certificate Authority
# 2017 (RSA 4096, SHA-384). Checked:
#  1. the device connects with the G2 stand-in as its only anchor, sending
#     SNI with the hub name (read back from the server's log), with the
#     address given apart (as a DNS result), its certificate sent in the
#     first handshake;
#  2. both roots configured at once (one PEM): a chain to either verifies,
#     so the Microsoft 2017 root works as the backup the page recommends;
#  3. with only the G2 stand-in, a chain to the 2017 root is refused;
#  4. the wildcard covers one label only: a.b.azure-devices.net and
#     azure-devices.net are refused as host names;
#  5. the device's P-256 certificate (ECDSA) goes with an RSA server: the
#     suite negotiated is one of IoT Hub's list (checked in 1);
#  6. a device certificate issued by an intermediate goes out with the
#     intermediate, so a server that knows only the device root verifies it.
# Needs TLS_TEST_CLIENT (tests/azcompat.cmake) and openssl.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/../lib/shell.sh"
CLIENT=${TLS_TEST_CLIENT:?set by ctest}
W=$(mktemp -d)
SRV_PID=""
cleanup() {
  s_server_stop
  [ -n "${AZC_KEEP:-}" ] || rm -rf "$W"
}
trap cleanup EXIT
cd "$W"
fail() { echo "FAIL: $*"; [ -f srv.log ] && tail -20 srv.log; exit 1; }

HUB=myhub.azure-devices.net
AZURE_SUITES="ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-RSA-AES128-SHA256:ECDHE-RSA-AES256-SHA384"

# --- PKI ------------------------------------------------------------------------
root() { # key bits md cn out
  openssl genrsa -out "$1" "$2" 2>/dev/null
  openssl req -x509 -new -key "$1" -"$3" -subj "/CN=$4" -days 30 -out "$5" \
    -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign
}
root g2.key 2048 sha256 "Stand-in DigiCert Global Root G2" g2.pem
root ms.key 4096 sha384 "Stand-in Microsoft RSA Root Certificate Authority 2017" ms.pem
printf 'basicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign\n' > ica.ext
printf 'subjectAltName=DNS:*.azure-devices.net\nextendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature,keyEncipherment\n' > leaf.ext
openssl genrsa -out ica.key 2048 2>/dev/null
openssl req -new -key ica.key -subj "/CN=Stand-in Azure RSA TLS Issuing CA" -out ica.csr
openssl x509 -req -in ica.csr -CA g2.pem -CAkey g2.key -CAcreateserial -days 30 -sha256 -extfile ica.ext -out ica-g2.pem 2>/dev/null
openssl x509 -req -in ica.csr -CA ms.pem -CAkey ms.key -CAcreateserial -days 30 -sha384 -extfile ica.ext -out ica-ms.pem 2>/dev/null
openssl genrsa -out leaf.key 2048 2>/dev/null
openssl req -new -key leaf.key -subj "/CN=*.azure-devices.net" -out leaf.csr
openssl x509 -req -in leaf.csr -CA ica-g2.pem -CAkey ica.key -CAcreateserial -days 30 -sha256 -extfile leaf.ext -out leaf.pem 2>/dev/null
# device: a P-256 key and certificate from its own CA (what the chip holds)
openssl ecparam -name prime256v1 -genkey -noout -out devca.key 2>/dev/null
openssl req -x509 -new -key devca.key -subj "/CN=Device CA" -days 30 -out devca.pem \
  -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign
openssl ecparam -name prime256v1 -genkey -noout -out dev.key 2>/dev/null
openssl req -new -key dev.key -subj "/CN=dev-01" -out dev.csr
printf 'extendedKeyUsage=clientAuth\n' > dev.ext
openssl x509 -req -in dev.csr -CA devca.pem -CAkey devca.key -CAcreateserial -days 30 -extfile dev.ext -out dev.pem 2>/dev/null
cat g2.pem ms.pem > both.pem
cat ms.pem > ms-only.pem

# start CHAIN: an IoT-Hub-shaped server whose issuing CA is CHAIN; it logs
# the client's extensions (-tlsextdebug) so the SNI can be read back.
start() {
  s_server_start -cert leaf.pem -key leaf.key -cert_chain "$1" -CAfile devca.pem -Verify 1 -verify_return_error \
    -tls1_2 -cipher "$AZURE_SUITES" -tlsextdebug -naccept 1 -rev
}
# sni: the host name in the ClientHello's server_name extension (from the
# hex dump -tlsextdebug prints), empty when there was none.
sni() {
  awk '/TLS client extension "server name"/{on=1; next} on && /^[0-9a-f][0-9a-f][0-9a-f][0-9a-f] - /{print; next} on{exit}' srv.log |
    sed 's/^[0-9a-f]* - //; s/   .*$//; s/-/ /g' | xxd -r -p | tail -c +6
}
connect() { # ca host -> output; status in $rc
  rc=0
  out=$("$CLIENT" --host "$2" --address 127.0.0.1 --port "$PORT" --ca "$1" --cert dev.pem --key dev.key \
    --send $'azure\n' --expect eruza 2>&1) || rc=$?
}

echo "1. G2 stand-in only, host $HUB"
start ica-g2.pem
connect g2.pem "$HUB"
[ "$rc" -eq 0 ] || fail "connect: $out"
echo "$out" | grep -q "connect 1: ok" || fail "no ok line: $out"
got=$(sni)
[ "$got" = "$HUB" ] || fail "SNI was '$got', expected '$HUB'"
echo "  ok: SNI $got"
cipher=$(sed -n 's/^Ciphersuite: //p' srv.log | head -1)
case ":$AZURE_SUITES:" in *":$cipher:"*) echo "  ok: suite $cipher" ;; *) fail "suite '$cipher' not in IoT Hub's list" ;; esac
grep -q "^Protocol version: TLSv1.2" srv.log || fail "not TLS 1.2"
grep -q "^Peer certificate: CN = dev-01" srv.log || \
  fail "the server did not get the client certificate"
s_server_stop

echo "2. both roots configured; chain to G2 and chain to the 2017 root"
for chain in ica-g2.pem ica-ms.pem; do
  start "$chain"
  connect both.pem "$HUB"
  [ "$rc" -eq 0 ] || fail "both anchors, chain $chain: $out"
  s_server_stop
  echo "  ok: $chain"
done

echo "3. G2 only: a chain to the 2017 root is refused"
start ica-ms.pem
connect g2.pem "$HUB"
[ "$rc" -ne 0 ] || fail "chain to the 2017 root accepted without it: $out"
echo "$out" | grep -q "^error: .*not trusted" || fail "wrong reason: $out"
s_server_stop
echo "  ok (refused): $(echo "$out" | grep '^error:' | head -1)"

echo "4. the wildcard covers one label only"
for h in a.b.azure-devices.net azure-devices.net; do
  start ica-g2.pem
  connect g2.pem "$h"
  [ "$rc" -ne 0 ] || fail "host $h accepted for *.azure-devices.net: $out"
  echo "$out" | grep -q "^error: .*not valid for host name" || fail "wrong reason for $h: $out"
  s_server_stop
  echo "  ok (refused): $h"
done
echo "6. a device certificate issued by an intermediate: the device sends leaf and intermediate"
# (X.509 CA authentication, hub and DPS: the chain up to the verified CA
# must come from the device; the server knows only the root)
openssl ecparam -name prime256v1 -genkey -noout -out devica.key 2>/dev/null
openssl req -new -key devica.key -subj "/CN=Device Intermediate" -out devica.csr
printf 'basicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign\n' > devica.ext
openssl x509 -req -in devica.csr -CA devca.pem -CAkey devca.key -CAcreateserial -days 30 -extfile devica.ext -out devica.pem 2>/dev/null
openssl req -new -key dev.key -subj "/CN=dev-02" -out dev2.csr
openssl x509 -req -in dev2.csr -CA devica.pem -CAkey devica.key -CAcreateserial -days 30 -extfile dev.ext -out dev2.pem 2>/dev/null
cat dev2.pem devica.pem > dev2-chain.pem
start ica-g2.pem
rc=0; out=$("$CLIENT" --host "$HUB" --address 127.0.0.1 --port "$PORT" --ca g2.pem --cert dev2-chain.pem --key dev.key \
  --send $'azure\n' --expect eruza 2>&1) || rc=$?
[ "$rc" -eq 0 ] || fail "leaf + intermediate: $out"
grep -q "^Peer certificate: CN = dev-02" srv.log || fail "the server did not verify dev-02 through the intermediate"
s_server_stop
echo "  ok: server verified CN=dev-02 with only the device root"
echo "PASS"
