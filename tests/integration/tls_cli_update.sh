#!/usr/bin/env bash
# Protected update through the trustm CLI (docs/trustm-cli.md, "Renewing
# locked objects: protected update"): objects whose Change condition is
# 'LcsO < op || Int(anchor)' are locked, refuse a plain write, and still take
# a data set made by 'trustm update build' and signed with the anchor's key.
# Checked from outside: the object read back (openssl verifies the renewed
# certificate), the version in the metadata, the chip's refusal codes for a
# replayed, altered or foreign data set with the object unchanged, and the
# usage errors (exit 2, one line).
. "$(dirname "$0")/tls_cli_lib.sh"

make_pki
start_sim chip
C=("$T" --device "$DEV")
DATA=$W/prefix/share/trustm-azure
snap() { "${C[@]}" data read --oid "$1"; }
# same_as OID FILE: the object still holds what FILE recorded
same_as() { snap "$1" > now; cmp -s now "$2" || fail "object $1 changed"; }
der() { openssl x509 -in "$1" -outform DER; }
flip() { # flip FILE OFFSET OUT: OUT = FILE with the byte at OFFSET (negative: from the end) inverted
  python3 - "$@" <<'EOF'
import sys
b = bytearray(open(sys.argv[1], 'rb').read()); i = int(sys.argv[2]); b[i] ^= 0xFF
open(sys.argv[3], 'wb').write(b)
EOF
}
# expect_arg PATTERN CMD...: a usage error: exit 2, one line matching PATTERN
expect_arg() {
  local pat=$1; shift
  local rc=0
  "$@" >"$W/out" 2>"$W/err" || rc=$?
  [ "$rc" -eq 2 ] || fail "expected exit 2 ($pat) for '$*', got $rc: $(cat "$W/err")"
  [ "$(wc -l <"$W/err")" -eq 1 ] || fail "expected one error line for '$*', got: $(cat "$W/err")"
  grep -q "^trustm: .*$pat" "$W/err" || fail "expected '$pat' for '$*', got: $(cat "$W/err")"
  echo "   usage error: $(cat "$W/err")"
}

step "signer keys: the update authority (P-256), a P-384 one, a stranger's"
openssl ecparam -name prime256v1 -genkey -noout -out upd.key 2>/dev/null
openssl req -x509 -new -key upd.key -subj "/CN=Update Authority" -days 3650 -out upd.pem
openssl ecparam -name secp384r1 -genkey -noout -out u384.key 2>/dev/null
openssl req -x509 -new -key u384.key -subj "/CN=Update Authority 384" -days 3650 -out u384.pem
openssl ecparam -name prime256v1 -genkey -noout -out evil.key 2>/dev/null

step "personalize --update-anchor --lock: 0xE0E1, 0xE0E8, 0xF1E0 updatable by Int(0xE0EF), all locked"
# the CA lives 30 days: without an update anchor --lock is refused (tls_cli_personalize); with one it is not
"${C[@]}" personalize --device-id dev-upd --ca-cert ca.pem --ca-key ca.key --trust-anchor ca.pem \
  --update-anchor upd.pem --lock --out dev.pem --json > pers.json
python3 - pers.json <<'EOF2'
import json, sys
j = json.load(open(sys.argv[1]))
assert j["update_anchor_oid"] == "0xE0EF" and j["locked"] is True, j
EOF2
md() { "${C[@]}" metadata show --oid "$1"; }
for o in 0xE0E1 0xE0E8 0xF1E0; do
  md $o > md.$o
  grep -q 'change: *LcsO < op || Int(0xE0EF)$' md.$o || fail "$o change condition: $(cat md.$o)"
  grep -q 'life cycle (LcsO): op' md.$o || fail "$o not locked"
done
md 0xE0EF > md.e0ef
grep -q 'change: *LcsO < op$' md.e0ef && grep -q 'type: *TA$' md.e0ef && grep -q 'life cycle (LcsO): op' md.e0ef \
  || fail "update anchor metadata: $(cat md.e0ef)"
cmp -s <("${C[@]}" data read --oid 0xE0EF --out /dev/stdout) <(der upd.pem) || fail "0xE0EF does not hold the signer certificate"
# 'metadata set' expresses Int(OID) too: 0xE0E2 renewable by a P-384 authority in 0xE0E9
"${C[@]}" trust-anchor write --oid 0xE0E9 u384.pem >/dev/null
"${C[@]}" metadata set --oid 0xE0E2 --change 'LcsO < op || Int(0xE0E9)' >/dev/null
md 0xE0E2 | grep -q 'change: *LcsO < op || Int(0xE0E9)' || fail "metadata set did not express Int(0xE0E9)"
"${C[@]}" lock --oid 0xE0E2,0xE0E9 --yes >/dev/null

step "a plain write to the locked objects is refused"
"${C[@]}" csr --slot 0xE0F1 --subject CN=dev-upd --out dev.csr >/dev/null
printf 'extendedKeyUsage=clientAuth\n' > dev.ext
openssl x509 -req -in dev.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 400 -extfile dev.ext \
  -out renewed.pem 2>/dev/null
snap 0xE0E1 > e0e1.before
expect_fail "0xE0E1 is locked (change condition LcsO < op || Int(0xE0EF)); nothing written: renew it with a signed data set" \
  "${C[@]}" cert write --oid 0xE0E1 renewed.pem
expect_fail "access conditions" "${C[@]}" data write --oid 0xE0E1 --hex 00112233
same_as 0xE0E1 e0e1.before

step "update build: the renewed certificate, version 2, signed by the update authority"
"${C[@]}" update build --target 0xE0E1 --cert renewed.pem --version 2 --anchor 0xE0EF \
  --signer-key upd.key --anchor-cert upd.pem --out r2 | tee build.out
grep -q '^data set for 0xE0E1: version 2, .* 1 fragment, signed for trust anchor 0xE0EF (ECDSA P-256)' build.out \
  || fail "update build summary: $(cat build.out)"
[ -s r2.manifest ] && [ -s r2.fragments ] || fail "update build wrote no data set"
# the fragment is the object as 'cert write' stores it: TLS-identity wrapper + DER
[ "$(head -c 1 r2.fragments | od -An -tx1 | tr -d ' ')" = c0 ] || fail "the payload is not a certificate object"
cmp -s <(tail -c +10 r2.fragments) <(der renewed.pem) || fail "the payload does not carry the certificate"

step "altered or foreign data sets are refused with the chip's code; 0xE0E1 unchanged"
flip r2.manifest -1 bad-sig.manifest            # last byte of the signature
expect_fail "refused by the chip (0x2C): the manifest signature does not verify" \
  "${C[@]}" update apply --manifest bad-sig.manifest --fragments r2.fragments
flip r2.manifest 40 bad-body.manifest            # a byte of the signed manifest (the digest)
expect_fail "(0x2C)" "${C[@]}" update apply --manifest bad-body.manifest --fragments r2.fragments
flip r2.fragments 100 altered.fragments
expect_fail "refused by the chip (0x2D): a fragment does not match the digest chain" \
  "${C[@]}" update apply --manifest r2.manifest --fragments altered.fragments
"${C[@]}" update build --target 0xE0E1 --cert renewed.pem --version 2 --anchor 0xE0EF \
  --signer-key evil.key --out evil >/dev/null
expect_fail "(0x2C)" "${C[@]}" update apply --manifest evil.manifest --fragments evil.fragments
printf 'not a manifest at all, not CBOR either' > junk.manifest   # sent as it is: the chip judges
expect_fail "refused by the chip (0x0F): invalid manifest" "${C[@]}" update apply --manifest junk.manifest --fragments r2.fragments
head -c 37 r2.manifest > short.manifest
expect_fail "refused by the chip (0x0F)" "${C[@]}" update apply --manifest short.manifest --fragments r2.fragments
same_as 0xE0E1 e0e1.before
"${C[@]}" metadata show --oid 0xE0E1 > md.txt
grep -q 'version:' md.txt && fail "a refused update left a version: $(cat md.txt)"

step "update apply: 0xE0E1 renewed, version 2"
"${C[@]}" update apply --manifest r2.manifest --fragments r2.fragments | tee apply.out
grep -q '^0xE0E1 updated: version 2 (was none), [0-9]* bytes used; signed for trust anchor 0xE0EF' apply.out \
  || fail "apply: $(cat apply.out)"
"${C[@]}" cert read --oid 0xE0E1 --out got.pem
cmp -s <(der got.pem) <(der renewed.pem) || fail "0xE0E1 does not hold the renewed certificate"
openssl verify -CAfile ca.pem got.pem | grep_all -q 'got.pem: OK' || fail "openssl does not verify the renewed certificate"
"${C[@]}" metadata show --oid 0xE0E1 | grep -q 'version: *2$' || fail "C1 version is not 2"
"${C[@]}" metadata show --oid 0xE0E1 | grep -q 'life cycle (LcsO): op' || fail "0xE0E1 is no longer locked"
echo "key check" > k.txt
"${C[@]}" sign --slot 0xE0F1 --in k.txt --out k.sig
openssl dgst -sha256 -verify <(openssl x509 -in got.pem -noout -pubkey) -signature k.sig k.txt \
  | grep_all -q 'Verified OK' || fail "the renewed certificate is not the key's"

step "rollback protection: the same data set again is refused (0x10); 0xE0E1 unchanged"
snap 0xE0E1 > e0e1.v2
expect_fail "refused by the chip (0x10): the payload version is not above the object's" \
  "${C[@]}" update apply --manifest r2.manifest --fragments r2.fragments
"${C[@]}" update build --target 0xE0E1 --cert dev.pem --version 1 --signer-key upd.key --out old >/dev/null
expect_fail "(0x10)" "${C[@]}" update apply --manifest old.manifest --fragments old.fragments
same_as 0xE0E1 e0e1.v2

step "a data set for one chip (--chip-uid): another chip's is refused (0x0F), this chip's applies"
uid=$("${C[@]}" data read --oid 0xE0C2)
[ ${#uid} -eq 54 ] || fail "UID: $uid"
other=$(printf '%s' "$uid" | cut -c1-48)$(printf '%02x' $(( (0x$(printf '%s' "$uid" | cut -c49-50) + 1) % 256 )))
"${C[@]}" update build --target 0xE0E1 --cert renewed.pem --version 3 --signer-key upd.key \
  --chip-uid "$other" --out notme | grep -q '^data set for 0xE0E1 of one chip (--chip-uid)' || fail "chip-uid build"
expect_fail "refused by the chip (0x0F): invalid manifest, or one made for another chip" \
  "${C[@]}" update apply --manifest notme.manifest --fragments notme.fragments
same_as 0xE0E1 e0e1.v2
"${C[@]}" update build --target 0xE0E1 --cert renewed.pem --version 3 --signer-key upd.key \
  --chip-uid "$uid" --out me >/dev/null
"${C[@]}" update apply --manifest me.manifest --fragments me.fragments | grep -q 'version 3 (was 2)' \
  || fail "the set for this chip's UID"
expect_arg "--chip-uid takes the chip's UID in hex" "${C[@]}" update build --target 0xE0E1 --cert renewed.pem \
  --version 4 --signer-key upd.key --chip-uid 0102 --out x

step "a chain (two fragments) whose last fragment is altered: partly written, then completed"
"${C[@]}" update build --target 0xE0E1 --cert <(cat renewed.pem ca.pem) --chain --version 4 \
  --signer-key upd.key --out r3 | grep -q ' in 2 fragments,' || fail "the chain is not two fragments"
flip r3.fragments -5 r3bad.fragments
expect_fail "(0x2D): .*0xE0E1 was partly written (version 0x8004): send the same data set again" \
  "${C[@]}" update apply --manifest r3.manifest --fragments r3bad.fragments
"${C[@]}" update apply --manifest r3.manifest --fragments r3.fragments | grep -q 'version 4 (was 0x8004: interrupted)' \
  || fail "the interrupted update was not completed"
"${C[@]}" cert read --oid 0xE0E1 --chain --out chain.pem
[ "$(grep -c 'BEGIN CERTIFICATE' chain.pem)" -eq 2 ] || fail "0xE0E1 does not hold the chain"

step "a new trust anchor into the locked 0xE0E8 (DigiCert Global Root G2, 2 fragments)"
expect_fail "0xE0E8 is locked" "${C[@]}" trust-anchor write --oid 0xE0E8 "$DATA/DigiCert_Global_Root_G2.der"
"${C[@]}" update build --target 0xE0E8 --cert "$DATA/DigiCert_Global_Root_G2.der" --version 1 \
  --signer-key upd.key --out ta >/dev/null
"${C[@]}" update apply --manifest ta.manifest --fragments ta.fragments | grep -q '^0xE0E8 updated: version 1'
"${C[@]}" data read --oid 0xE0E8 --out e0e8.der >/dev/null
cmp -s e0e8.der "$DATA/DigiCert_Global_Root_G2.der" || fail "0xE0E8 does not hold the new root"
expect_arg "is not a CA certificate" "${C[@]}" update build --target 0xE0E8 --cert renewed.pem \
  --version 2 --signer-key upd.key --out x

step "the backup root 0xF1E0 renewed (Microsoft RSA Root CA 2017, 1452 bytes, 3 fragments)"
"${C[@]}" update build --target 0xF1E0 --cert "$DATA/Microsoft_RSA_Root_Certificate_Authority_2017.der" \
  --version 1 --signer-key upd.key --out ms | grep -q '1452 payload bytes .* in 3 fragments' || fail "F1E0 build"
"${C[@]}" update apply --manifest ms.manifest --fragments ms.fragments | grep -q '^0xF1E0 updated: version 1 (was none), 1452 bytes used'
"${C[@]}" data read --oid 0xF1E0 --out f1e0.der >/dev/null
cmp -s f1e0.der "$DATA/Microsoft_RSA_Root_Certificate_Authority_2017.der" || fail "0xF1E0 does not hold the new root"

step "the update anchor itself can never be replaced once locked"
openssl req -x509 -new -key evil.key -subj "/CN=Usurper" -days 30 -out evil.pem
expect_fail "0xE0EF is locked" "${C[@]}" trust-anchor write --oid 0xE0EF evil.pem
"${C[@]}" update build --target 0xE0EF --cert evil.pem --version 1 --anchor 0xE0E9 --signer-key u384.key --out usurp >/dev/null
expect_fail "(0x07)" "${C[@]}" update apply --manifest usurp.manifest --fragments usurp.fragments
cmp -s <("${C[@]}" data read --oid 0xE0EF --out /dev/stdout) <(der upd.pem) || fail "0xE0EF changed"

step "P-384 signer (0xE0E9): 1700 bytes into 0xE0E2, then 1216 bytes erase-and-write, then 640 at offset 100"
head -c 1700 /dev/urandom > p1.bin
"${C[@]}" update build --target 0xE0E2 --payload p1.bin --version 5 --anchor 0xE0E9 --signer-key u384.key \
  --anchor-cert u384.pem --out p1 | grep -q ' in 3 fragments, signed for trust anchor 0xE0E9 (ECDSA P-384)' \
  || fail "P-384 build"
"${C[@]}" update apply --manifest p1.manifest --fragments p1.fragments | grep -q 'version 5 (was none), 1700 bytes used'
"${C[@]}" data read --oid 0xE0E2 --out got1.bin >/dev/null
cmp -s got1.bin p1.bin || fail "0xE0E2 does not hold the 1700 bytes"
head -c 1216 /dev/urandom > p2.bin
"${C[@]}" update build --target 0xE0E2 --payload p2.bin --version 6 --anchor 0xE0E9 --signer-key u384.key --out p2 >/dev/null
"${C[@]}" update apply --manifest p2.manifest --fragments p2.fragments | grep -q 'version 6 (was 5), 1216 bytes used'
"${C[@]}" data read --oid 0xE0E2 --out got2.bin >/dev/null
cmp -s got2.bin p2.bin || fail "erase and write left other bytes in 0xE0E2"
head -c 640 /dev/urandom > p3.bin
"${C[@]}" update build --target 0xE0E2 --payload p3.bin --version 7 --anchor 0xE0E9 --signer-key u384.key \
  --write-type 1 --offset 100 --out p3 >/dev/null
"${C[@]}" update apply --manifest p3.manifest --fragments p3.fragments | grep -q 'version 7 (was 6)' \
  || fail "write at offset 100: apply"
"${C[@]}" data read --oid 0xE0E2 --out got3.bin >/dev/null
cmp -s got3.bin <(head -c 100 p2.bin; cat p3.bin; tail -c +741 p2.bin) || fail "write at offset 100"
"${C[@]}" update build --target 0xE0E2 --payload p3.bin --version 9 --anchor 0xE0E9 --signer-key u384.key --out p9 >/dev/null
"${C[@]}" update apply --manifest p9.manifest --fragments p9.fragments | grep -q 'version 9 (was 7)' || fail "a version gap"
# fragment boundaries (each fragment at most 608 payload bytes, as Infineon's tool cuts them):
# 608 bytes one fragment, 609 two (608 + 1), 1216 two, 1217 three, 1728 three
v=10
for sz_nf in 608:1 609:2 1216:2 1217:3 1728:3; do
  sz=${sz_nf%:*}; nf=${sz_nf#*:}
  head -c "$sz" /dev/urandom > b.bin
  "${C[@]}" update build --target 0xE0E2 --payload b.bin --version $v --anchor 0xE0E9 --signer-key u384.key --out b \
    | grep -q " $sz payload bytes .* in $nf fragment" || fail "$sz bytes: not $nf fragments"
  [ "$(stat -c %s b.fragments)" -eq $((sz + 32 * (nf - 1))) ] || fail "$sz bytes: fragments file size"
  "${C[@]}" update apply --manifest b.manifest --fragments b.fragments | grep -q "version $v (was $((v - 1))), $sz bytes used" \
    || fail "$sz bytes: apply"
  "${C[@]}" data read --oid 0xE0E2 --out gotb.bin >/dev/null
  cmp -s gotb.bin b.bin || fail "$sz bytes: read back"
  v=$((v + 1))
done
# a set for 0xE0E2 signed for the other anchor: 0xE0E2 accepts only Int(0xE0E9)
"${C[@]}" update build --target 0xE0E2 --payload p1.bin --version 9 --anchor 0xE0EF --signer-key upd.key --out wrongta >/dev/null
snap 0xE0E2 > e0e2.now
expect_fail "(0x07): access conditions not satisfied" \
  "${C[@]}" update apply --manifest wrongta.manifest --fragments wrongta.fragments
same_as 0xE0E2 e0e2.now

step "over the shielded connection (bound chip)"
"${C[@]}" bind --out bind.secret --key-exec-open >/dev/null
"${C[@]}" update build --target 0xE0E1 --cert renewed.pem --version 5 --signer-key upd.key --out r4 >/dev/null
"${C[@]}" --binding bind.secret update apply --manifest r4.manifest --fragments r4.fragments \
  | grep -q '^0xE0E1 updated: version 5 (was 4)' || fail "apply over the shielded connection"
cmp -s <(der <("${C[@]}" --binding bind.secret cert read --oid 0xE0E1)) <(der renewed.pem) \
  || fail "0xE0E1 after the shielded update"

step "a second chip: the P-384 authority in 0xE0E3 (typed TA by personalize), locked; renewal signed by it"
start_sim chip2
C2=("$T" --device "$DEV")
expect_fail "--update-anchor-oid goes with --update-anchor FILE" "${C2[@]}" personalize --device-id d2 \
  --ca-cert ca.pem --ca-key ca.key --update-anchor-oid 0xE0E3
expect_fail "the update anchor 0xE0E8 cannot also be the trust anchor" "${C2[@]}" personalize --device-id d2 \
  --ca-cert ca.pem --ca-key ca.key --update-anchor u384.pem --update-anchor-oid 0xE0E8
expect_fail "--update-anchor-oid must be" "${C2[@]}" personalize --device-id d2 \
  --ca-cert ca.pem --ca-key ca.key --update-anchor u384.pem --update-anchor-oid 0xF1D0
openssl req -x509 -new -key <(openssl genrsa 2048 2>/dev/null) -subj "/CN=rsa" -days 30 -out rsa.pem 2>/dev/null
expect_fail "'rsa.pem' does not hold an EC P-256 or P-384 key" "${C2[@]}" personalize --device-id d2 \
  --ca-cert ca.pem --ca-key ca.key --update-anchor rsa.pem
"${C2[@]}" metadata show --oid 0xE0E3 | grep -q 'type: *DEVCERT' || fail "0xE0E3 is not DEVCERT before"
"${C2[@]}" personalize --device-id d2 --ca-cert ca.pem --ca-key ca.key --update-anchor u384.pem \
  --update-anchor-oid 0xE0E3 --lock --out d2.pem >/dev/null
"${C2[@]}" metadata show --oid 0xE0E3 > md2
grep -q 'type: *TA$' md2 && grep -q 'life cycle (LcsO): op' md2 || fail "0xE0E3 after personalize: $(cat md2)"
"${C2[@]}" update build --target 0xE0E1 --cert ca.pem --der-object --version 1 --anchor 0xE0E3 \
  --signer-key u384.key --out c2 >/dev/null
"${C2[@]}" update apply --manifest c2.manifest --fragments c2.fragments | grep -q '^0xE0E1 updated: version 1' \
  || fail "update signed by the 0xE0E3 authority"
cmp -s <("${C2[@]}" data read --oid 0xE0E1 --out /dev/stdout) <(der ca.pem) || fail "0xE0E1 on chip2"

step "confidentiality: 0xE0E2 of chip2 asks Int(0xE0E3) && Conf(0xF1D1); the payload AES-CCM encrypted"
head -c 64 /dev/urandom > upd.secret
head -c 64 /dev/urandom > other.secret
"${C2[@]}" data write --oid 0xF1D1 --in upd.secret >/dev/null
"${C2[@]}" metadata set --oid 0xF1D1 --type 0x23 --read NEV --execute ALW >/dev/null
"${C2[@]}" metadata set --oid 0xE0E2 --change 'LcsO < op || Int(0xE0E3) && Conf(0xF1D1)' >/dev/null
"${C2[@]}" lock --oid 0xF1D1,0xE0E2 --yes >/dev/null
python3 -c "import sys; sys.stdout.write(''.join('line %03d: a confidential payload\\n' % i for i in range(60)))" | head -c 1700 > conf.bin
[ "$(stat -c %s conf.bin)" -eq 1700 ] && grep -q 'confidential' conf.bin || fail "conf.bin"
snap2() { "${C2[@]}" data read --oid 0xE0E2; }
snap2 > e0e2.c2
"${C2[@]}" update build --target 0xE0E2 --payload conf.bin --version 1 --anchor 0xE0E3 --signer-key u384.key --out plain2 >/dev/null
expect_fail "(0x07): access conditions not satisfied" "${C2[@]}" update apply --manifest plain2.manifest --fragments plain2.fragments
"${C2[@]}" update build --target 0xE0E2 --payload conf.bin --version 1 --anchor 0xE0E3 --signer-key u384.key \
  --secret other.secret --secret-oid 0xF1D1 --out wrong2 >/dev/null
expect_fail "(0x2E): a fragment does not decrypt" "${C2[@]}" update apply --manifest wrong2.manifest --fragments wrong2.fragments
snap2 > now; cmp -s now e0e2.c2 || fail "0xE0E2 changed by a refused update"
"${C2[@]}" update build --target 0xE0E2 --payload conf.bin --version 1 --anchor 0xE0E3 --signer-key u384.key \
  --secret upd.secret --secret-oid 0xF1D1 --out enc | tee enc.out
grep -q '1700 payload bytes .* in 3 fragments, .*, encrypted for the secret in 0xF1D1' enc.out || fail "encrypted build"
[ "$(stat -c %s enc.fragments)" -eq $((1700 + 3 * 8 + 2 * 32)) ] || fail "encrypted fragments: not 600 + tag each"
grep -c 'confidential' enc.fragments >/dev/null && fail "the fragments carry the plaintext"
"${C2[@]}" update apply --manifest enc.manifest --fragments enc.fragments | grep -q '^0xE0E2 updated: version 1 (was none), 1700 bytes used' \
  || fail "encrypted apply"
"${C2[@]}" data read --oid 0xE0E2 --out conf.back >/dev/null
cmp -s conf.back conf.bin || fail "0xE0E2 does not hold the decrypted payload"
v=2
for sz_nf in 600:1 601:2; do
  sz=${sz_nf%:*}; nf=${sz_nf#*:}
  head -c "$sz" conf.bin > c.bin
  "${C2[@]}" update build --target 0xE0E2 --payload c.bin --version $v --anchor 0xE0E3 --signer-key u384.key \
    --secret upd.secret --secret-oid 0xF1D1 --out c | grep -q " in $nf fragment" || fail "encrypted $sz: not $nf fragments"
  "${C2[@]}" update apply --manifest c.manifest --fragments c.fragments >/dev/null
  "${C2[@]}" data read --oid 0xE0E2 --out c.back >/dev/null
  cmp -s c.back c.bin || fail "encrypted $sz bytes: read back"
  v=$((v + 1))
done

step "metadata update: 0xF1D5 (F0 00, D8 Int(0xE0E3)) locked with Read NEV; the owner opens it, then wipes it"
"${C2[@]}" data write --oid 0xF1D5 --hex 68656c6c6f >/dev/null
"${C2[@]}" metadata set --oid 0xF1D5 --raw 2008D80321E0E3F00100 >/dev/null
"${C2[@]}" metadata set --oid 0xF1D5 --read NEV >/dev/null
"${C2[@]}" lock --oid 0xF1D5 --yes >/dev/null
expect_fail "access conditions not satisfied" "${C2[@]}" data read --oid 0xF1D5
"${C2[@]}" update build --target 0xF1D5 --metadata 2003D10100 --version 1 --anchor 0xE0E3 --signer-key u384.key \
  --out md1 | grep -q '^data set for 0xF1D5: version 1, 5 payload bytes metadata, content reset 0 in 1 fragment'
"${C2[@]}" update apply --manifest md1.manifest --fragments md1.fragments | grep -q '^0xF1D5 updated: version 1 (was none), 5 bytes used'
[ "$("${C2[@]}" data read --oid 0xF1D5)" = 68656c6c6f ] || fail "0xF1D5 after the metadata update"
"${C2[@]}" metadata show --oid 0xF1D5 > mdu
grep -q 'read: *ALW$' mdu && grep -q 'life cycle (LcsO): op' mdu && grep -q 'version: *1$' mdu || fail "0xF1D5 metadata: $(cat mdu)"
"${C2[@]}" update build --target 0xF1D5 --metadata 2003D10100 --content-reset 1 --version 2 --anchor 0xE0E3 \
  --signer-key u384.key --out md2 >/dev/null
"${C2[@]}" update apply --manifest md2.manifest --fragments md2.fragments | grep -q 'version 2 (was 1), 0 bytes used' \
  || fail "content reset"
[ -z "$("${C2[@]}" data read --oid 0xF1D5)" ] || fail "0xF1D5 not wiped"
# an object without a reset type (F0) takes no metadata update
"${C2[@]}" update build --target 0xE0E1 --metadata 2003D10100 --version 9 --anchor 0xE0E3 --signer-key u384.key --out md3 >/dev/null
expect_fail "(0x07): .*a metadata update needs tag F0 and Int(anchor) in D8" \
  "${C2[@]}" update apply --manifest md3.manifest --fragments md3.fragments

step "bad arguments: one line, exit 2, nothing sent"
openssl genrsa -out rsa.key 2048 2>/dev/null
openssl ecparam -name secp521r1 -genkey -noout -out p521.key 2>/dev/null
B=("${C[@]}" update build --target 0xE0E1 --cert renewed.pem --version 9 --signer-key upd.key --out bad)
expect_arg "cannot open 'nokey.pem'" "${C[@]}" update build --target 0xE0E1 --cert renewed.pem --version 9 --signer-key nokey.pem --out bad
expect_arg "cannot open 'nocert.pem'" "${C[@]}" update build --target 0xE0E1 --cert nocert.pem --version 9 --signer-key upd.key --out bad
expect_arg "--target must be a data object" "${B[@]}" --target 0xE0F1
expect_arg "--target must be a data object" "${B[@]}" --target banana
expect_arg "--anchor must be the data object" "${B[@]}" --anchor 0xE0F0
expect_arg "--anchor and --target are the same object" "${B[@]}" --anchor 0xE0E1
expect_arg "--version takes 1..32767" "${B[@]}" --version 0
expect_arg "--version takes 1..32767" "${B[@]}" --version 32768
expect_arg "--version takes 1..32767" "${B[@]}" --version -1
expect_arg "--write-type takes 1" "${B[@]}" --write-type 3
expect_arg "--offset 1700 + .* exceed 1728 bytes" "${B[@]}" --offset 1700
expect_arg "'rsa.key' is not an EC key" "${B[@]}" --signer-key rsa.key
expect_arg "curve other than P-256 or P-384" "${B[@]}" --signer-key p521.key
expect_arg "'dev.csr' is not a private key" "${B[@]}" --signer-key dev.csr
expect_arg "'evil.key' is not the key of 'upd.pem'" "${B[@]}" --signer-key evil.key --anchor-cert upd.pem
expect_arg "exactly one of --payload FILE, --cert FILE and --metadata HEX" "${B[@]}" --payload p1.bin
expect_arg "--out PREFIX is required" "${C[@]}" update build --target 0xE0E1 --cert renewed.pem --version 9 --signer-key upd.key
: > empty.bin
expect_arg "holds 0 bytes; a payload is 1..1728 bytes" "${C[@]}" update build --target 0xE0E2 --payload empty.bin --version 9 --signer-key upd.key --out bad
head -c 65 /dev/urandom > long.secret
expect_arg "--secret FILE and --secret-oid OID go together" "${B[@]}" --secret upd.secret
expect_arg "--secret-oid must be the data object holding the secret" "${B[@]}" --secret upd.secret --secret-oid 0xE0F1
expect_arg "'long.secret' holds 65 bytes; a secret is 1..64 bytes" "${B[@]}" --secret long.secret --secret-oid 0xF1D1
expect_arg "--metadata may not set tag C1" "${C[@]}" update build --target 0xF1D5 --metadata 2004C1020005 --version 9 --signer-key upd.key --out bad
expect_arg "--metadata takes a metadata container in hex" "${C[@]}" update build --target 0xF1D5 --metadata 2005D10100 --version 9 --signer-key upd.key --out bad
expect_arg "the tag at byte 5 runs past the end" "${C[@]}" update build --target 0xF1D5 --metadata 2004D10100D1 --version 9 --signer-key upd.key --out bad
expect_arg "--content-reset takes 0, 1 or 2 and goes with --metadata" "${B[@]}" --content-reset 1
expect_arg "exactly one of --payload FILE, --cert FILE and --metadata HEX" "${B[@]}" --metadata 2003D10100
expect_arg "--target must be a data object or a key slot" "${C[@]}" update build --target 0xE0C2 --metadata 2003D10100 --version 9 --signer-key upd.key --out bad
expect_arg "--manifest FILE and --fragments FILE are required" "${C[@]}" update apply --manifest r2.manifest
expect_arg "cannot open 'none.fragments'" "${C[@]}" update apply --manifest r2.manifest --fragments none.fragments
expect_arg "unknown action 'send'" "${C[@]}" update send
expect_arg "unknown option '--bogus'" "${C[@]}" update apply --bogus
[ ! -e bad.manifest ] && [ ! -e bad.fragments ] || fail "a refused build wrote files"
rc=0; "${C[@]}" update >/dev/null 2>&1 || rc=$?
[ "$rc" -eq 2 ] || fail "'trustm update' exited $rc, not 2"

echo "PASS"
