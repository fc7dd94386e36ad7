#!/usr/bin/env bash
# Issue 4 acceptance against the trustm-sim daemon: personalize with an
# openssl CA; openssl verify accepts the certificate read back from 0xE0E1;
# its public key is the chip key (a chip signature verifies with it); the CSR
# verifies; mutual TLS with the chip key against openssl s_server -Verify
# (and its failures: wrong trust anchor, wrong host name); the bus trace of
# the whole flow shows no read of a private-key object, and a direct read is
# refused by the chip.
. "$(dirname "$0")/tls_cli_lib.sh"

make_pki
start_sim chip
step "personalize"
"$T" --device "$DEV" personalize --device-id dev-001 --ca-cert ca.pem --ca-key ca.key \
  --trust-anchor ca.pem --out issued.pem --csr-out dev.csr | tee pers.out
grep -q '^thumbprint SHA-256: [0-9A-F]\{64\}$' pers.out || fail "no SHA-256 thumbprint"

step "certificate read back from 0xE0E1 verifies against the CA"
"$T" --device "$DEV" cert read --oid 0xE0E1 --out back.pem
openssl verify -CAfile ca.pem back.pem | grep -q 'back.pem: OK' || fail "openssl verify"
openssl x509 -in back.pem -noout -subject | grep -q 'CN *= *dev-001' || fail "subject"
cmp <(openssl x509 -in back.pem -outform DER) <(openssl x509 -in issued.pem -outform DER) \
  || fail "read back differs from the issued certificate"
want=$(openssl x509 -in back.pem -outform DER | openssl dgst -sha256 -r | cut -d' ' -f1 | tr a-f A-F)
grep -q "^thumbprint SHA-256: $want\$" pers.out || fail "thumbprint differs from openssl's"

step "its public key is the chip key"
openssl x509 -in back.pem -noout -pubkey > cert-pub.pem
echo "a message signed on the chip" > msg.txt
"$T" --device "$DEV" sign --slot 0xE0F1 --in msg.txt --out msg.sig
openssl dgst -sha256 -verify cert-pub.pem -signature msg.sig msg.txt | grep -q 'Verified OK' \
  || fail "chip signature does not verify with the certificate's key"
cmp <(openssl req -in dev.csr -noout -pubkey | openssl pkey -pubin -outform DER) \
    <(openssl pkey -pubin -in cert-pub.pem -outform DER) || fail "CSR and certificate keys differ"

step "the CSR verifies"
openssl req -in dev.csr -noout -verify 2>&1 | grep -q 'verify OK' || fail "openssl req -verify"

step "mutual TLS with the chip key against openssl s_server -Verify 1"
start_tls_server srv.pem srv.key ca.pem 4
"$T" --device "$DEV" connect --host localhost --port "$PORT" --ca-oid 0xE0E8 --connects 2 \
  --send $'ping\n' --expect gnip | tee conn.out
grep -q '^connect 2: ok.*resumed=yes, chip signatures so far=1' conn.out || fail "resumption"
sleep 0.2
grep -q 'Peer certificate: CN = dev-001' "$SRV_LOG" || fail "server did not see the chip certificate"
grep -q 'Verification: OK' "$SRV_LOG" || fail "server did not verify the client"
step "wrong trust anchor / wrong host name fail clearly"
expect_fail "not trusted" "$T" --device "$DEV" connect --host localhost --port "$PORT" --ca other.pem
expect_fail "not valid for host name 'wrong.example.com'" "$T" --device "$DEV" connect \
  --host wrong.example.com --address 127.0.0.1 --port "$PORT" --ca-oid 0xE0E8

step "the trace shows no read of a private-key object"
grep -c 'APDU' chip.trace >/dev/null || fail "empty trace"
grep -q 'CalcSign' chip.trace || fail "trace lacks the signatures"
if grep -E '^t=[0-9]+ W [0-9A-F]{2} \[ACK\] 80 .*81 00 00 0[26] E0 F[0-3CD]' chip.trace; then
  fail "a private-key object was read"
fi
step "a direct read of the key is refused by the chip"
expect_fail "access conditions not satisfied" "$T" --device "$DEV" data read --oid 0xE0F1
grep -qE '^t=[0-9]+ W [0-9A-F]{2} \[ACK\] 80 .*81 00 00 0[26] E0 F1' chip.trace \
  || fail "the refused read is not in the trace (the key-read pattern above would be blind)"

step "personalize --azure --chain --bind --lock on a second chip; connect over the shielded link"
start_sim chip2
"$T" --device "$DEV" personalize --device-id dev-002 --ca-cert ca.pem --ca-key ca.key --azure \
  --chain --bind --binding-out "$W/b2.key" --lock | tee p2.out
grep -q '^bound: ' p2.out || fail "no binding"
for o in 0xE0E1 0xE0E8 0xF1E0 0xE0F1; do
  "$T" --device "$DEV" --binding "$W/b2.key" metadata show --oid $o | grep -q 'life cycle (LcsO): op' \
    || fail "$o not locked"
done
"$T" --device "$DEV" --binding "$W/b2.key" data read --oid 0xE0E8 --out - | \
  openssl x509 -inform DER -noout -subject | grep -q 'DigiCert Global Root G2' || fail "azure TA"
"$T" --device "$DEV" --binding "$W/b2.key" data read --oid 0xF1E0 --out - | \
  openssl x509 -inform DER -noout -subject | grep -q 'Microsoft RSA Root' || fail "azure backup"
expect_fail "locked" "$T" --device "$DEV" --binding "$W/b2.key" personalize --device-id dev-003 \
  --ca-cert ca.pem --ca-key ca.key
start_tls_server srv.pem srv.key ca.pem 1
: > chip2.trace
"$T" --device "$DEV" --binding "$W/b2.key" connect --host localhost --port "$PORT" --ca ca.pem \
  --send $'abc\n' --expect cba || fail "connect over the shielded connection"
sleep 0.2
grep -q 'Peer certificate: CN = dev-002' "$SRV_LOG" || fail "server did not see dev-002"
grep -q 'CalcSign' chip2.trace && fail "CalcSign in plaintext on a bound chip"
grep -q 'PRL SCTR' chip2.trace || fail "no protected records"
echo PASS
