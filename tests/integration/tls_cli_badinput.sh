#!/usr/bin/env bash
# Bad input to the trustm CLI: malformed PEM, wrong object ids, a certificate
# larger than its object, locked objects, a missing device, a CA key that is
# not the CA's, bad arguments. Each: one line on stderr, non-zero exit, and
# the chip unchanged (objects read back; the key slot proven unchanged by a
# signature that still verifies with the old certificate's key).
. "$(dirname "$0")/tls_cli_lib.sh"

make_pki
start_sim chip
C=("$T" --device "$DEV")
snap() { "${C[@]}" data read --oid "$1"; }

step "set-up: personalized chip, a second certificate in 0xE0E2, data in 0xF1D0"
"${C[@]}" personalize --device-id dev-bad --ca-cert ca.pem --ca-key ca.key --trust-anchor ca.pem >/dev/null
"${C[@]}" cert write --oid 0xE0E2 srv.pem >/dev/null
"${C[@]}" data write --oid 0xF1D0 --hex 00112233445566778899 >/dev/null
for o in 0xE0E1 0xE0E2 0xE0E8 0xF1D0; do snap $o > "before.$o"; done
"${C[@]}" cert read --oid 0xE0E1 --out dev.pem
openssl x509 -in dev.pem -noout -pubkey > dev-pub.pem
key_unchanged() {
  echo "key check" > k.txt
  "${C[@]}" sign --slot 0xE0F1 --in k.txt --out k.sig
  openssl dgst -sha256 -verify dev-pub.pem -signature k.sig k.txt | grep -q 'Verified OK' \
    || fail "the key in 0xE0F1 changed"
}
unchanged() {
  local o
  for o in 0xE0E1 0xE0E2 0xE0E8 0xF1D0; do
    snap $o > after; cmp -s after "before.$o" || fail "object $o changed"
  done
}

step "malformed PEM / DER"
printf -- '-----BEGIN CERTIFICATE-----\nthis is not base64!\n-----END CERTIFICATE-----\n' > bad.pem
expect_fail "holds no valid certificate" "${C[@]}" cert write --oid 0xE0E2 bad.pem
head -c 300 <(openssl x509 -in srv.pem -outform DER) > trunc.der
expect_fail "holds no valid certificate" "${C[@]}" cert write --oid 0xE0E2 trunc.der
: > empty.pem
expect_fail "holds no valid certificate" "${C[@]}" trust-anchor write --oid 0xE0E8 empty.pem
expect_fail "holds no valid certificate" "${C[@]}" personalize --device-id d2 --ca-cert bad.pem --ca-key ca.key
unchanged

step "wrong object ids"
expect_fail "must be a certificate object" "${C[@]}" cert write --oid 0xE0F1 srv.pem
expect_fail "must be a certificate object" "${C[@]}" cert write --oid banana srv.pem
expect_fail "must be a trust anchor object" "${C[@]}" trust-anchor write --oid 0xE0E1 ca.pem
expect_fail "invalid OID" "${C[@]}" data read --oid 0xE0E4
expect_fail "ECC key slot" "${C[@]}" keygen --slot 0xE0E1
expect_fail "not a data object" "${C[@]}" data write --oid 0xE0F1 --hex 0102
unchanged

step "certificate larger than the object"
big=$(head -c 1900 /dev/zero | tr '\0' 'x')
openssl req -x509 -new -key srv.key -subj "/CN=big" -days 1 -addext "nsComment=$big" -out big.pem
expect_fail "does not fit object 0xE0E2 (1728 bytes); nothing written" "${C[@]}" cert write --oid 0xE0E2 big.pem
mid=$(head -c 800 /dev/zero | tr '\0' 'y')
openssl req -x509 -new -key ca.key -subj "/CN=big CA" -days 1 -addext "nsComment=$mid" \
  -addext basicConstraints=critical,CA:TRUE -out bigca.pem
expect_fail "does not fit object 0xE0E8 (1200 bytes)" "${C[@]}" trust-anchor write --oid 0xE0E8 bigca.pem
expect_fail "not a CA certificate" "${C[@]}" trust-anchor write --oid 0xE0E8 srv.pem
expect_fail "do not fit 0xF1D0" "${C[@]}" data write --oid 0xF1D0 --hex "$(head -c 141 /dev/zero | od -An -v -tx1 | tr -d ' \n')"
step "personalize refuses a trust anchor that does not fit before generating a key"
expect_fail "does not fit 0xE0E8 or it is locked; nothing changed" "${C[@]}" personalize \
  --device-id dev-x --ca-cert ca.pem --ca-key ca.key --trust-anchor bigca.pem
key_unchanged
unchanged

step "CA key that is not the CA's"
expect_fail "is not the key of" "${C[@]}" personalize --device-id dev-y --ca-cert ca.pem --ca-key other.key
expect_fail "device-id" "${C[@]}" personalize --device-id 'bad id,CN=x' --ca-cert ca.pem --ca-key ca.key
key_unchanged
unchanged

step "locked object"
"${C[@]}" cert write --oid 0xE0E3 srv.pem >/dev/null
expect_fail "irreversible; add --yes" "${C[@]}" lock --oid 0xE0E3
"${C[@]}" lock --oid 0xE0E3 --yes
snap 0xE0E3 > before.e3
expect_fail "0xE0E3 is locked" "${C[@]}" cert write --oid 0xE0E3 ca.pem
expect_fail "locked" "${C[@]}" personalize --device-id dev-z --ca-cert ca.pem --ca-key ca.key --cert-oid 0xE0E3
snap 0xE0E3 > after; cmp -s after before.e3 || fail "locked object changed"
step "factory objects (change NEV) are refused before a key is generated"
snap 0xE0E0 > before.e0
expect_fail "0xE0E0 is locked; nothing changed" "${C[@]}" personalize --device-id dev-f \
  --ca-cert ca.pem --ca-key ca.key --cert-oid 0xE0E0
expect_fail "key slot 0xE0F0 is locked" "${C[@]}" personalize --device-id dev-f \
  --ca-cert ca.pem --ca-key ca.key --slot 0xE0F0 --cert-oid 0xE0E2
expect_fail "change condition NEV" "${C[@]}" cert write --oid 0xE0E0 ca.pem
snap 0xE0E0 > after; cmp -s after before.e0 || fail "factory certificate changed"
key_unchanged
unchanged

step "missing device"
expect_fail "nothing.sock.: No such file or directory (is trustm-sim running?)" "$T" --device "sim:$W/nothing.sock" info
expect_fail "cannot open ./dev/i2c-99.: No such file or directory" "$T" --device /dev/i2c-99 info
expect_fail "unknown device" "$T" --device bogus info
expect_fail "bad I2C address" "$T" --device /dev/i2c-1@0x99 info

step "bad arguments"
expect_fail "unknown option '--frobnicate'" "${C[@]}" info --frobnicate
expect_fail "unknown command 'frobnicate'" "$T" frobnicate
expect_fail "needs a value" "${C[@]}" keygen --slot
expect_fail "8..256" "${C[@]}" random --length 300
expect_fail "not a valid metadata container" "${C[@]}" metadata set --oid 0xF1D1 --raw 2003C001
expect_fail "6..15" "${C[@]}" current-limit --set 40
expect_fail "0xE120..0xE123" "${C[@]}" counter read --oid 0xF1D0
unchanged
echo PASS
