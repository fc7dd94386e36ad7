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
openssl verify -CAfile ca.pem back.pem | grep_all -q 'back.pem: OK' || fail "openssl verify"
openssl x509 -in back.pem -noout -subject | grep_all -q 'CN *= *dev-001' || fail "subject"
cmp <(openssl x509 -in back.pem -outform DER) <(openssl x509 -in issued.pem -outform DER) \
  || fail "read back differs from the issued certificate"
# Without --days the certificate ends with the CA (it used to end after 365 days).
[ "$(openssl x509 -in back.pem -noout -enddate)" = "$(openssl x509 -in ca.pem -noout -enddate)" ] \
  || fail "default notAfter $(openssl x509 -in back.pem -noout -enddate) is not the CA's $(openssl x509 -in ca.pem -noout -enddate)"
grep -q "^valid until:        .* UTC (the CA's notAfter)\$" pers.out || fail "no 'valid until' line"
want=$(openssl x509 -in back.pem -outform DER | openssl dgst -sha256 -r | cut -d' ' -f1 | tr a-f A-F)
grep -q "^thumbprint SHA-256: $want\$" pers.out || fail "thumbprint differs from openssl's"

step "its public key is the chip key"
openssl x509 -in back.pem -noout -pubkey > cert-pub.pem
echo "a message signed on the chip" > msg.txt
"$T" --device "$DEV" sign --slot 0xE0F1 --in msg.txt --out msg.sig
openssl dgst -sha256 -verify cert-pub.pem -signature msg.sig msg.txt | grep_all -q 'Verified OK' \
  || fail "chip signature does not verify with the certificate's key"
cmp <(openssl req -in dev.csr -noout -pubkey | openssl pkey -pubin -outform DER) \
    <(openssl pkey -pubin -in cert-pub.pem -outform DER) || fail "CSR and certificate keys differ"

step "the CSR verifies"
openssl req -in dev.csr -noout -verify 2>&1 | grep_all -q 'verify OK' || fail "openssl req -verify"

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

step "--lock with a certificate that would end within 20 years (the 30-day CA) is refused, nothing written"
start_sim chip2
"$T" --device "$DEV" data read --oid 0xE0E1 --out - | od -An -tx1 > e0e1.before
"$T" --device "$DEV" metadata show --oid 0xE0E1 > e0e1.md.before
expect_fail "--lock refused: the certificate would end on .* (the CA's notAfter), in 29 days; locked, 0xE0E1 could never take a renewed certificate" \
  "$T" --device "$DEV" personalize --device-id dev-002 --ca-cert ca.pem --ca-key ca.key --azure \
  --chain --bind --binding-out "$W/b2.key" --lock
[ -e "$W/b2.key" ] && fail "a refused --lock created the binding file"
"$T" --device "$DEV" data read --oid 0xE0E1 --out - | od -An -tx1 | cmp -s - e0e1.before \
  || fail "a refused --lock wrote the certificate object"
"$T" --device "$DEV" metadata show --oid 0xE0E1 | cmp -s - e0e1.md.before || fail "a refused --lock changed 0xE0E1's metadata"

step "personalize --azure --chain --bind --lock --days (explicit: a warning) on a second chip; connect over the shielded link"
"$T" --device "$DEV" personalize --device-id dev-002 --ca-cert ca.pem --ca-key ca.key --azure \
  --chain --bind --binding-out "$W/b2.key" --lock --days 20 2> p2.err | tee p2.out
grep -q "^trustm: warning: --lock with a certificate that ends on .* (in 20 days): the locked 0xE0E1 cannot take a renewed one\$" p2.err \
  || fail "no warning for --lock --days 20: $(cat p2.err)"
"$T" --device "$DEV" --binding "$W/b2.key" cert read --oid 0xE0E1 --out p2.pem
openssl x509 -in p2.pem -noout -checkend $((19 * 86400)) >/dev/null || fail "--days 20 ends within 19 days"
openssl x509 -in p2.pem -noout -checkend $((21 * 86400)) >/dev/null && fail "--days 20 ends after 21 days"
grep -q '^bound: ' p2.out || fail "no binding"
for o in 0xE0E1 0xE0E8 0xF1E0 0xE0F1; do
  "$T" --device "$DEV" --binding "$W/b2.key" metadata show --oid $o | grep_all -q 'life cycle (LcsO): op' \
    || fail "$o not locked"
done
"$T" --device "$DEV" --binding "$W/b2.key" data read --oid 0xE0E8 --out - | \
  openssl x509 -inform DER -noout -subject | grep_all -q 'DigiCert Global Root G2' || fail "azure TA"
"$T" --device "$DEV" --binding "$W/b2.key" data read --oid 0xF1E0 --out - | \
  openssl x509 -inform DER -noout -subject | grep_all -q 'Microsoft RSA Root' || fail "azure backup"
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

step "the bound key signs only over the shielded connection (Execute Conf(0xE140), issue 7)"
grep -q '^key 0xE0F1: Execute Conf(0xE140)' p2.out || fail "personalize --bind did not restrict the key"
grep -q '^note: ' p2.out && fail "a note about an unlocked key although --lock follows"
"$T" --device "$DEV" --binding "$W/b2.key" metadata show --oid 0xE0F1 > md2.txt
grep -q 'execute: *Conf(0xE140) (only a protected command' md2.txt || fail "key Execute not Conf(0xE140)"
grep -q '^object 0xE0F1 metadata: 20.*d30320e140' md2.txt || fail "Execute bytes D3 03 20 E1 40 missing"
"$T" --device "$DEV" --binding "$W/b2.key" info > info2.txt
grep -q '^platform binding: *bound' info2.txt || fail "info: not bound"
grep -q '^keys bound to it: *0xE0F1 ' info2.txt || fail "info: key not shown as bound"
"$T" --device "$DEV" --binding "$W/b2.key" info --json | python3 -c '
import json,sys; j=json.load(sys.stdin)
assert j["bound"] is True and j["keys_shielded_only"] == ["0xE0F1"], j' || fail "info --json"
openssl x509 -in <("$T" --device "$DEV" --binding "$W/b2.key" cert read --oid 0xE0E1 --out -) \
  -noout -pubkey > p2-pub.pem || fail "cert read of dev-002"
# A plaintext CalcSign with the key (a chip on another board, a bus attacker):
# the chip refuses it, and its last-error object 0xF1C2 says 0x07.
: > chip2.trace
expect_fail "chip error 0x07: its Execute condition is not met; a bound key needs --binding FILE" \
  "$T" --device "$DEV" sign --slot 0xE0F1 --in msg.txt --out plain.sig
[ ! -e plain.sig ] || fail "a refused signature was written"
grep -q 'CalcSign' chip2.trace || fail "the plaintext CalcSign did not reach the chip"
grep -qE '^t=[0-9]+ R [0-9A-F]{2} .*; .*RSP Sta FF OutLen 0' chip2.trace || fail "the chip did not answer the plain CalcSign with an error"
grep -qE '^t=[0-9]+ R [0-9A-F]{2} \[ACK\] .* 00 00 00 01 07 [0-9A-F]{2} [0-9A-F]{2} ; .*RSP Sta 00 OutLen 1$' chip2.trace || fail "0xF1C2 did not report 0x07"
# The same over the shielded connection succeeds, and openssl verifies it
# with the certificate's key.
: > chip2.trace
"$T" --device "$DEV" --binding "$W/b2.key" sign --slot 0xE0F1 --in msg.txt --out bound.sig \
  || fail "the bound key does not sign over the shielded connection"
openssl dgst -sha256 -verify p2-pub.pem -signature bound.sig msg.txt | grep_all -q 'Verified OK' \
  || fail "the shielded signature does not verify with dev-002's certificate"
grep -q 'CalcSign' chip2.trace && fail "CalcSign in plaintext with --binding"

# A TLS client without the binding cannot have the handshake signed either.
start_tls_server srv.pem srv.key ca.pem 1
expect_fail "connect: signing with the client key failed: chip: access conditions not satisfied (chip error 0x07: the key.s Execute condition is not met; a bound key needs --binding FILE)" \
  "$T" --device "$DEV" connect --host localhost --port "$PORT" --ca ca.pem

step "personalize --bind --key-exec-open keeps the key usable in plaintext"
start_sim chip3
"$T" --device "$DEV" personalize --device-id dev-004 --ca-cert ca.pem --ca-key ca.key \
  --bind --binding-out "$W/b3.key" --key-exec-open --out p3.pem --days 36500 2> p3.err | tee p3.out
# --days past the CA's end: the certificate ends with the CA, and a note says so
grep -q "^trustm: note: --days 36500 ends after the CA (.*): the certificate ends with it\$" p3.err \
  || fail "no note for --days past the CA: $(cat p3.err)"
[ "$(openssl x509 -in p3.pem -noout -enddate)" = "$(openssl x509 -in ca.pem -noout -enddate)" ] \
  || fail "--days 36500 not capped at the CA's notAfter"
grep -q '^key 0xE0F1: Execute condition left as it was (--key-exec-open)' p3.out || fail "exec-open not reported"
"$T" --device "$DEV" sign --slot 0xE0F1 --in msg.txt --out open.sig || fail "exec-open key refused in plaintext"
openssl dgst -sha256 -verify <(openssl x509 -in p3.pem -noout -pubkey) -signature open.sig msg.txt \
  | grep_all -q 'Verified OK' || fail "exec-open signature"
"$T" --device "$DEV" --binding "$W/b3.key" info | grep_all -q '^keys usable unshielded: .*0xE0F1' \
  || fail "info: exec-open key not shown as usable unshielded"
step "a CA that lives 30 years: --lock without --days goes through, the certificate ends with the CA (past 2050)"
openssl ecparam -name prime256v1 -genkey -noout -out ca30.key 2>/dev/null
openssl req -x509 -new -key ca30.key -subj "/CN=Long Device CA" -days 10958 -out ca30.pem \
  -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign
start_sim chip4
"$T" --device "$DEV" personalize --device-id dev-005 --ca-cert ca30.pem --ca-key ca30.key \
  --trust-anchor ca30.pem --lock --out p5.pem --json 2> p5.err > p5.json || fail "personalize --lock with a 30-year CA: $(cat p5.err)"
[ -s p5.err ] && fail "unexpected stderr: $(cat p5.err)"
[ "$(openssl x509 -in p5.pem -noout -enddate)" = "$(openssl x509 -in ca30.pem -noout -enddate)" ] \
  || fail "30-year CA: notAfter $(openssl x509 -in p5.pem -noout -enddate) is not the CA's"
openssl verify -CAfile ca30.pem p5.pem | grep_all -q 'p5.pem: OK' || fail "openssl verify (30-year CA)"
grep -q '"locked":true,"not_after":"20[5-9][0-9]-' p5.json || fail "json: $(cat p5.json)"
# (SEC15) --lock also locks 0xF1E0, which this run did not write: the samples
# read it as a backup root whenever it holds a certificate, so left open a
# plaintext write from the bus would add a trust anchor to a locked device
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout evil.key \
  -subj "/CN=Someone Else's Root" -days 30 -outform DER -out evil.der 2>/dev/null
for o in 0xE0E8 0xF1E0; do
  "$T" --device "$DEV" metadata show --oid $o | grep -q 'life cycle (LcsO): op' || fail "$o not locked by --lock"
  if "$T" --device "$DEV" data write --oid $o --in evil.der >/dev/null 2>&1; then fail "$o still takes a write after --lock"; fi
done
[ "$("$T" --device "$DEV" data read --oid 0xF1E0)" = "" ] || fail "0xF1E0 changed"
step "--lock without --trust-anchor locks the (unwritten) trust anchor object and 0xF1E0 too"
start_sim chip5
"$T" --device "$DEV" personalize --device-id dev-006 --ca-cert ca30.pem --ca-key ca30.key --lock > p6.out \
  || fail "personalize --lock without --trust-anchor"
for o in 0xE0E1 0xE0E8 0xF1E0 0xE0F1; do grep -qx "$o locked (LcsO = op)" p6.out || fail "$o not locked: $(cat p6.out)"; done
if "$T" --device "$DEV" data write --oid 0xE0E8 --in evil.der >/dev/null 2>&1; then fail "0xE0E8 takes a write"; fi

step "renewal with 0xE0E1 locked (docs/trustm-cli.md): a new certificate for the same key in 0xE0E2, used with --cert-oid"
expect_fail "0xE0E1 is locked" "$T" --device "$DEV" cert write --oid 0xE0E1 p5.pem
openssl x509 -in p5.pem -noout -pubkey > p5.pub
"$T" --device "$DEV" csr --slot 0xE0F1 --subject 'CN=dev-005' --pubkey p5.pub --out r5.csr
printf 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n' > r5.ext
openssl x509 -req -in r5.csr -CA ca30.pem -CAkey ca30.key -CAcreateserial -days 400 -extfile r5.ext \
  -out r5.pem 2>/dev/null || fail "the CA did not sign the renewal CSR"
"$T" --device "$DEV" cert write --oid 0xE0E2 r5.pem
"$T" --device "$DEV" cert read --oid 0xE0E2 --out r5.back.pem
cmp <(openssl x509 -in r5.back.pem -outform DER) <(openssl x509 -in r5.pem -outform DER) || fail "0xE0E2 read back"
cat ca.pem ca30.pem > both.pem
start_tls_server srv.pem srv.key both.pem 1
"$T" --device "$DEV" connect --host localhost --port "$PORT" --ca ca.pem --cert-oid 0xE0E2 \
  --send $'abc\n' --expect cba || fail "connect with the renewed certificate (--cert-oid 0xE0E2)"
echo PASS
