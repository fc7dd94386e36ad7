#!/usr/bin/env bash
# Mutual TLS through the delegated key against a real peer (openssl s_server
# -Verify 1 -verify_return_error -tls1_2), plus the failures the binding must
# report clearly: wrong trust anchor, wrong host name, expired server
# certificate, no client certificate, a key that does not match the
# certificate, a failing signer. Also: CSR signed through the delegated key
# verifies with openssl, and a reconnect resumes the session without a new
# signature. Needs TLS_TEST_CLIENT (set by tests/tls.cmake).
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/../lib/shell.sh"
CLIENT=${TLS_TEST_CLIENT:?set by ctest}
W=$(mktemp -d)
SRV_PID=""
cleanup() {
  if [ -n "$SRV_PID" ]; then kill "$SRV_PID" 2>/dev/null || true; wait "$SRV_PID" 2>/dev/null || true; fi
  rm -rf "$W"
}
trap cleanup EXIT
cd "$W"
fail() { echo "FAIL: $*"; exit 1; }

# --- PKI made by openssl ------------------------------------------------------
ec() { openssl ecparam -name "$1" -genkey -noout -out "$2" 2>/dev/null; }
ca_cert() { openssl req -x509 -new -key "$1" -subj "/CN=$2" -days 30 -out "$3" \
  -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign; }
issue() { # csr out ext
  openssl x509 -req -in "$1" -CA ca.pem -CAkey ca.key -CAcreateserial -days 30 -extfile "$3" -out "$2" 2>/dev/null; }
ec prime256v1 ca.key; ca_cert ca.key "Test Root" ca.pem
ec prime256v1 other.key; ca_cert other.key "Other Root" other.pem
ec prime256v1 srv.key
openssl req -new -key srv.key -subj "/CN=localhost" -out srv.csr
printf 'subjectAltName=DNS:localhost\nextendedKeyUsage=serverAuth\n' > srv.ext
issue srv.csr srv.pem srv.ext
printf 'extendedKeyUsage=clientAuth\n' > dev.ext
ec prime256v1 dev.key
openssl req -new -key dev.key -subj "/CN=dev-001" -out dev.csr; issue dev.csr dev.pem dev.ext
ec secp384r1 dev384.key
openssl req -new -key dev384.key -subj "/CN=dev-384" -out dev384.csr; issue dev384.csr dev384.pem dev.ext
ec prime256v1 stranger.key
# An expired server certificate (validity in 2020), issued with `openssl ca`.
mkdir -p ca.db; : > ca.db/index.txt; echo 1000 > ca.db/serial
cat > ca.cnf <<CNF
[ca]
default_ca = d
[d]
dir = ca.db
database = ca.db/index.txt
new_certs_dir = ca.db
serial = ca.db/serial
default_md = sha256
policy = p
copy_extensions = copy
[p]
commonName = supplied
CNF
openssl ca -batch -config ca.cnf -cert ca.pem -keyfile ca.key -in srv.csr -out expired.pem \
  -startdate 20200101000000Z -enddate 20200201000000Z -notext >/dev/null 2>&1 || fail "openssl ca"

# --- server ------------------------------------------------------------------
# start_server CERT KEY NACCEPT [extra s_server args]; sets PORT and SRV_PID.
start_server() {
  local cert=$1 key=$2 n=$3; shift 3
  s_server_start -cert "$cert" -key "$key" -CAfile ca.pem -Verify 1 -verify_return_error -tls1_2 \
    -naccept "$n" -rev "$@"
}
stop_server() { s_server_stop; }
# expect_fail "pattern" client-args...: client must exit non-zero with an
# "error:" line matching the pattern.
expect_fail() {
  local pat=$1; shift
  local out rc=0
  out=$("$CLIENT" "$@" 2>&1) || rc=$?
  [ "$rc" -ne 0 ] || fail "expected failure ($pat), got success: $out"
  echo "$out" | grep_all -q "^error: .*$pat" || fail "expected '$pat', got: $out"
  echo "  ok (refused): $(echo "$out" | grep '^error:')"
}

echo "1. mutual TLS with the delegated P-256 key, then a resumed reconnect"
start_server srv.pem srv.key 2
out=$("$CLIENT" --host localhost --port "$PORT" --ca ca.pem --cert dev.pem --key dev.key \
  --connects 2 --send $'ping\n' --expect gnip) || fail "handshake: $out"
echo "$out"
echo "$out" | grep_all -q '^connect 1: ok resumed=0 signatures=1' || fail "first connect"
echo "$out" | grep_all -q '^connect 2: ok resumed=1 signatures=1' || fail "no resumption / extra signature"
sleep 0.2
grep -q 'Peer certificate: CN = dev-001' srv.log || fail "server did not see the client certificate"
grep -q 'Verification: OK' srv.log || fail "server did not verify the client"
grep -q '1 session cache hits' srv.log || { stop_server; grep -q '1 session cache hits' srv.log || fail "server saw no resumption"; }
stop_server

echo "1a. the same over the project's own TCP transport (cfg.lower), resumed as well"
start_server srv.pem srv.key 2
out=$("$CLIENT" --host localhost --address 127.0.0.1 --port "$PORT" --ca ca.pem --cert dev.pem \
  --key dev.key --connects 2 --send $'lower\n' --expect rewol --lower-tcp) || fail "lower: $out"
echo "$out"
echo "$out" | grep_all -q '^connect 2: ok resumed=1 signatures=1' || fail "lower transport"
stop_server

echo "1b. session-id resumption (server without tickets)"
start_server srv.pem srv.key 2 -no_ticket
out=$("$CLIENT" --host localhost --port "$PORT" --ca ca.pem --cert dev.pem --key dev.key \
  --connects 2) || fail "no_ticket: $out"
echo "$out"
echo "$out" | grep_all -q '^connect 2: ok resumed=1 signatures=1' || fail "no session-id resumption"
stop_server

echo "2. SHA-384 suite with a P-256 key: the hash reaches the signer truncated to 32 bytes"
start_server srv.pem srv.key 1 -cipher ECDHE-ECDSA-AES256-GCM-SHA384
out=$("$CLIENT" --host localhost --port "$PORT" --ca ca.pem --cert dev.pem --key dev.key \
  --send $'abc\n' --expect cba) || fail "sha384: $out"
echo "$out"
echo "$out" | grep_all -q 'signatures=1 hash_len=32' || fail "hash not truncated"
stop_server

echo "3. P-384 client key on a SHA-384 suite: the full 48-byte hash is signed"
start_server srv.pem srv.key 1 -cipher ECDHE-ECDSA-AES256-GCM-SHA384
out=$("$CLIENT" --host localhost --port "$PORT" --ca ca.pem --cert dev384.pem --key dev384.key \
  --send $'xyz\n' --expect zyx) || fail "p384: $out"
echo "$out"
echo "$out" | grep_all -q 'signatures=1 hash_len=48' || fail "p384 signature"
stop_server

echo "3b. RSA server chain (as IoT Hub presents) with the ECDSA client key"
openssl req -x509 -newkey rsa:2048 -nodes -keyout rsaca.key -subj "/CN=RSA Root" -days 30 -out rsaca.pem \
  -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null
openssl req -newkey rsa:2048 -nodes -keyout rsasrv.key -subj "/CN=localhost" -out rsasrv.csr 2>/dev/null
openssl x509 -req -in rsasrv.csr -CA rsaca.pem -CAkey rsaca.key -CAcreateserial -days 30 \
  -extfile srv.ext -out rsasrv.pem 2>/dev/null
start_server rsasrv.pem rsasrv.key 1
out=$("$CLIENT" --host localhost --port "$PORT" --ca rsaca.pem --cert dev.pem --key dev.key \
  --send $'rsa\n' --expect asr) || fail "rsa server: $out"
echo "$out"
grep -q 'Ciphersuite: ECDHE-RSA-' srv.log || fail "not an ECDHE-RSA suite"
stop_server

echo "4. wrong trust anchor"
start_server srv.pem srv.key 1
expect_fail "not trusted" --host localhost --port "$PORT" --ca other.pem --cert dev.pem --key dev.key
stop_server

echo "5. wrong host name"
start_server srv.pem srv.key 1
expect_fail "not valid for host name 'iothub.example.com'" --host iothub.example.com \
  --address 127.0.0.1 --port "$PORT" --ca ca.pem --cert dev.pem --key dev.key
stop_server

echo "6. expired server certificate"
start_server expired.pem srv.key 1
expect_fail "has expired" --host localhost --port "$PORT" --ca ca.pem --cert dev.pem --key dev.key
stop_server

echo "7. no client certificate: the server refuses"
start_server srv.pem srv.key 1
expect_fail "server" --host localhost --port "$PORT" --ca ca.pem --key dev.key
stop_server

echo "8. a signer whose key is not the certificate's: refused at set-up"
expect_fail "does not carry the key's public key" --host localhost --port 1 --ca ca.pem \
  --cert dev.pem --key stranger.key

echo "9. a signer that signs with another key: the server rejects the handshake"
start_server srv.pem srv.key 1
expect_fail "server" --host localhost --port "$PORT" --ca ca.pem --cert dev.pem --key dev.key \
  --signer-key stranger.key
grep -qi 'bad signature\|signature' srv.log || { cat srv.log; fail "server did not report the bad signature"; }
stop_server

echo "10. a failing signer (chip error): clear error"
start_server srv.pem srv.key 1
expect_fail "signing with the client key failed: chip: access conditions not satisfied" \
  --host localhost --port "$PORT" --ca ca.pem --cert dev.pem --key dev.key --fail-signer
stop_server

echo "11. CSR signed through the delegated key"
"$CLIENT" --key dev.key --csr dev2.csr --subject "CN=dev-002,O=Test" | grep_all -q 'csr: ok signatures=1' \
  || fail "csr"
openssl req -in dev2.csr -noout -verify 2>&1 | grep_all -q 'verify OK' || fail "openssl req -verify"
[ "$(openssl req -in dev2.csr -noout -pubkey | openssl pkey -pubin -outform DER | sha256sum)" = \
  "$(openssl pkey -in dev.key -pubout -outform DER | sha256sum)" ] || fail "CSR key differs"
openssl req -in dev2.csr -noout -subject | grep_all -q 'CN *= *dev-002' || fail "CSR subject"
echo "  ok: openssl req -verify accepts the CSR; its key is the signer's"

echo "PASS"
