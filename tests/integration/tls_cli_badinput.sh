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
  openssl dgst -sha256 -verify dev-pub.pem -signature k.sig k.txt | grep_all -q 'Verified OK' \
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

step "personalize: every host-side check before the chip is touched (F10, F11, F6)"
mkdir -p xca; : > xca/index.txt; echo 01 > xca/serial
printf '%s\n' '[ca]' 'default_ca = d' '[d]' 'dir = xca' 'database = xca/index.txt' \
  'serial = xca/serial' 'new_certs_dir = xca' 'default_md = sha256' 'policy = pol' \
  '[pol]' 'commonName = supplied' '[v3ca]' 'basicConstraints = critical,CA:TRUE' \
  'keyUsage = critical,keyCertSign,cRLSign' > xca.cnf
openssl req -new -key ca.key -subj "/CN=Expired CA" -out xca.csr
openssl ca -batch -config xca.cnf -selfsign -keyfile ca.key -in xca.csr -startdate 20200101000000Z \
  -enddate 20210101000000Z -extensions v3ca -out expired-ca.pem 2>/dev/null
expect_fail "would not verify (trial with a host key; nothing changed): The certificate validity has expired" \
  "${C[@]}" personalize --device-id dev-y --ca-cert expired-ca.pem --ca-key ca.key
openssl req -x509 -new -key ca.key -subj "/CN=No keyCertSign CA" -days 30 -out nks-ca.pem \
  -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,digitalSignature
expect_fail "lacks keyCertSign" "${C[@]}" personalize --device-id dev-y --ca-cert nks-ca.pem --ca-key ca.key
expect_fail "cannot create '$W/nodir/x.csr'" "${C[@]}" personalize --device-id dev-y \
  --ca-cert ca.pem --ca-key ca.key --csr-out "$W/nodir/x.csr"
expect_fail "cannot create '$W/nodir/x.pem'" "${C[@]}" personalize --device-id dev-y \
  --ca-cert ca.pem --ca-key ca.key --out "$W/nodir/x.pem"
mkdir adir
expect_fail "'adir' is a directory" "${C[@]}" personalize --device-id dev-y \
  --ca-cert ca.pem --ca-key ca.key --out adir
big2=$(head -c 1400 /dev/zero | tr '\0' 'z')
openssl req -x509 -new -key ca.key -subj "/CN=Test Device CA/O=trustm-azure tests" -days 30 \
  -addext "nsComment=$big2" -addext basicConstraints=critical,CA:TRUE \
  -addext keyUsage=critical,keyCertSign,cRLSign -out bigca2.pem
expect_fail "does not fit 0xE0E1 (1728 bytes); nothing changed" "${C[@]}" personalize \
  --device-id dev-y --ca-cert bigca2.pem --ca-key ca.key --chain
expect_fail "limited to 64 characters" "${C[@]}" personalize --device-id "$(printf 'a%.0s' $(seq 65))" \
  --ca-cert ca.pem --ca-key ca.key
echo OTHER > taken.key; chmod 600 taken.key
expect_fail "'taken.key' exists; refusing to overwrite" "${C[@]}" personalize --device-id dev-y \
  --ca-cert ca.pem --ca-key ca.key --bind --binding-out taken.key
[ "$(cat taken.key)" = OTHER ] || fail "taken.key changed"
[ ! -e "$W/nodir" ] && [ -z "$(ls -A adir)" ] || fail "a failed personalize left files behind"
ls ./*.tmp* 2>/dev/null && fail "temporary files left behind"
key_unchanged
unchanged
step "personalize refuses a change condition it cannot meet before generating a key"
"${C[@]}" metadata set --oid 0xE0E2 --change 'Conf(0xE140)' >/dev/null
expect_fail "the change condition of 0xE0E2 (Conf(0xE140)) is not met by this session; nothing changed" \
  "${C[@]}" personalize --device-id dev-y --ca-cert ca.pem --ca-key ca.key --cert-oid 0xE0E2
key_unchanged
unchanged

step "personalize --out / --csr-out replace an existing certificate file atomically"
echo old > out.pem; echo old > out.csr
"${C[@]}" personalize --device-id dev-bad --ca-cert ca.pem --ca-key ca.key --trust-anchor ca.pem \
  --out out.pem --csr-out out.csr >/dev/null
openssl x509 -in out.pem -noout -subject | grep_all -q 'CN *= *dev-bad' || fail "--out does not hold the certificate"
openssl req -in out.csr -noout -verify 2>&1 | grep_all -q 'verify OK' || fail "--csr-out does not hold the CSR"
"${C[@]}" cert read --oid 0xE0E1 --out dev.pem
cmp -s <(openssl x509 -in dev.pem -outform DER) <(openssl x509 -in out.pem -outform DER) \
  || fail "--out differs from 0xE0E1"
openssl x509 -in dev.pem -noout -pubkey > dev-pub.pem
key_unchanged
for o in 0xE0E1 0xE0E8; do snap $o > "before.$o"; done

step "bind never replaces an existing file (F12); a wrong binding is named (F3)"
start_sim chipb
B=("$T" --device "$DEV")
echo OTHER > other.bind; chmod 600 other.bind
expect_fail "'other.bind' exists; refusing to overwrite it" "${B[@]}" bind --out other.bind
[ "$(cat other.bind)" = OTHER ] || fail "bind overwrote other.bind"
"${B[@]}" bind --out new.bind >/dev/null
[ "$(stat -c %a new.bind)" = 600 ] && [ "$(stat -c %s new.bind)" = 64 ] || fail "new.bind: bad mode or size"
"${B[@]}" --binding new.bind info >/dev/null
printf garbage > garbage.bind; chmod 600 garbage.bind
expect_fail "shielded-connection handshake failed on .*: the chip is not bound, or 'garbage.bind' is not its binding secret" \
  "${B[@]}" --binding garbage.bind info
head -c 64 /dev/urandom > random.bind; chmod 600 random.bind
expect_fail "the chip is not bound, or 'random.bind' is not its binding secret" "${B[@]}" --binding random.bind info
expect_fail "the chip is not bound, or 'new.bind' is not its binding secret" "${C[@]}" --binding new.bind info
start_sim chipc
echo OLD > old.bind; chmod 600 old.bind
"$T" --device "$DEV" bind --force --out old.bind >/dev/null
[ "$(stat -c %s old.bind)" = 64 ] || fail "bind --force did not replace old.bind"
"$T" --device "$DEV" --binding old.bind info >/dev/null

step "bind --force never writes the secret into a file others can read behind a link (SEC15)"
# A link is written through (its target is not replaced); a target that is
# readable by others would keep the secret readable: refused before the
# chip is touched, the file unchanged. A private target takes it.
DEVC=$DEV
start_sim chipl
echo SHARED > shared.txt; chmod 644 shared.txt; ln -s shared.txt shared.link
expect_fail "'shared.link' leads to a file others can read (mode 644); a secret is not written there" \
  "$T" --device "$DEV" bind --force --out shared.link
[ "$(cat shared.txt)" = SHARED ] && [ "$(stat -c %a shared.txt)" = 644 ] || fail "shared.txt changed"
"$T" --device "$DEV" bind --out fresh.bind >/dev/null || fail "the chip was bound by the refused bind"
echo MINE > mine.txt; chmod 600 mine.txt; ln -s mine.txt mine.link
start_sim chipm
"$T" --device "$DEV" bind --force --out mine.link >/dev/null
[ "$(stat -c %s mine.txt)" = 64 ] && [ "$(stat -c %a mine.txt)" = 600 ] || fail "mine.txt did not take the secret"
"$T" --device "$DEV" --binding mine.link info >/dev/null
DEV=$DEVC

step "a bound key (Execute Conf(0xE140)): refusals before anything changes"
# chipc is bound: its 0xE0F1 signs only over the shielded connection, so a
# personalize without --binding stops before the key generation.
expect_fail "the Execute condition of key slot 0xE0F1 (Conf(0xE140)) is not met by this session, so the chip could not sign the CSR (the chip is bound: give --binding FILE); nothing changed" \
  "$T" --device "$DEV" personalize --device-id dev-bound --ca-cert ca.pem --ca-key ca.key
"$T" --device "$DEV" --binding old.bind metadata show --oid 0xE0F1 > mdc.txt
grep -q 'algorithm' mdc.txt && fail "a key was generated although personalize was refused"
grep -q 'execute: *Conf(0xE140) ' mdc.txt || fail "bind did not restrict 0xE0F1"
# A locked key cannot take Conf(0xE140) (its Execute tag is frozen): bind
# refuses before the chip or the file is written; --key-exec-open binds.
start_sim chipd
"$T" --device "$DEV" keygen --slot 0xE0F2 --out k2d.pem >/dev/null
"$T" --device "$DEV" lock --oid 0xE0F2 --yes >/dev/null
expect_fail "bind: key 0xE0F2 is locked, so its Execute condition (ALW) cannot become Conf(0xE140); nothing changed" \
  "$T" --device "$DEV" bind --out d.bind --key-oid 0xE0F2
[ ! -e d.bind ] && ! ls d.bind.tmp* 2>/dev/null || fail "a refused bind left a file"
"$T" --device "$DEV" metadata show --oid 0xE140 | grep_all -q 'life cycle (LcsO): op' && fail "a refused bind locked 0xE140"
for k in 0xE0F9 0xE0F1,0xE0F1 "" 0xE0E1; do
  expect_fail "bind: --key-oid takes up to 6 key objects" "$T" --device "$DEV" bind --out d.bind --key-oid "$k"
done
expect_fail "personalize: --key-exec-open only goes with --bind" \
  "$T" --device "$DEV" personalize --device-id x --ca-cert ca.pem --ca-key ca.key --key-exec-open
"$T" --device "$DEV" bind --out d.bind --key-oid 0xE0F2 --key-exec-open | grep_all -q '^key 0xE0F2: Execute condition left as it was' \
  || fail "bind --key-exec-open"
"$T" --device "$DEV" sign --slot 0xE0F2 --in k.txt --out k2d.sig
openssl dgst -sha256 -verify k2d.pem -signature k2d.sig k.txt | grep_all -q 'Verified OK' || fail "exec-open key"

step "missing or unknown sub-command: usage on stderr, non-zero exit (F4)"
for c in cert data metadata counter trust-anchor; do
  rc=0; "${C[@]}" $c >out 2>err || rc=$?
  [ "$rc" -eq 2 ] || fail "'trustm $c' exited $rc, not 2"
  [ ! -s out ] && grep -q "^usage: trustm $c" err || fail "'trustm $c': usage not on stderr"
  "${C[@]}" $c --help >out 2>err || fail "'trustm $c --help' failed"
  grep -q "^usage: trustm $c" out || fail "'trustm $c --help': usage not on stdout"
done
expect_fail "data: unknown action 'bogus' (read or write)" "${C[@]}" data bogus
expect_fail "metadata: unknown action 'bogus'" "${C[@]}" metadata bogus
expect_fail "counter: unknown action 'bogus'" "${C[@]}" counter bogus
expect_fail "cert: unknown action 'bogus'" "${C[@]}" cert bogus

step "csr subjects: no empty value, CN <= 64 (F5); verify/connect check arguments first (F13)"
expect_fail "has an empty attribute value" "${C[@]}" csr --slot 0xE0F1 --pubkey dev-pub.pem --subject 'CN='
expect_fail "has an empty attribute value" "${C[@]}" csr --slot 0xE0F1 --pubkey dev-pub.pem --subject 'CN=a,O='
expect_fail "CN is limited to 64 characters" "${C[@]}" csr --slot 0xE0F1 --pubkey dev-pub.pem \
  --subject "CN=$(printf 'b%.0s' $(seq 65))"
"${C[@]}" csr --slot 0xE0F1 --pubkey dev-pub.pem --subject "CN=$(printf 'b%.0s' $(seq 64))" --out ok.csr
openssl req -in ok.csr -noout -verify 2>&1 | grep_all -q 'verify OK' || fail "64-character CN refused"
head -c 72 /dev/urandom > r.sig; printf '\x30\x06\x02\x01\x01\x02\x01' > short.sig
D=$(printf '%064d' 0)
lines=$(wc -l < chip.trace)
expect_fail "'r.sig' is not a DER ECDSA signature" "${C[@]}" verify --digest "$D" --sig r.sig --pubkey dev-pub.pem
expect_fail "'short.sig' is not a DER ECDSA signature" "${C[@]}" verify --digest "$D" --sig short.sig --pubkey dev-pub.pem
expect_fail "connect: --host must not be empty" "${C[@]}" connect --host '' --port 99999
expect_fail "connect: --port takes 1..65535, not '99999'" "${C[@]}" connect --host x --port 99999
[ "$(wc -l < chip.trace)" -eq "$lines" ] || fail "the chip was asked before the arguments were checked"
"${C[@]}" sign --slot 0xE0F1 --digest "$D" --out good.sig
"${C[@]}" verify --digest "$D" --sig good.sig --pubkey dev-pub.pem | grep_all -q 'signature valid' \
  || fail "a good signature no longer verifies"
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
# trustm-sim over TCP is reached on loopback only: said, not "is trustm-sim running?"
expect_fail "'tcp:10.0.0.1:5000': give tcp:HOST:PORT with HOST 127.0.0.1, localhost or ::1 (the simulator is reached over loopback only)$" \
  "$T" --device tcp:10.0.0.1:5000 info
expect_fail "'tcp:127.0.0.1': give tcp:HOST:PORT" "$T" --device tcp:127.0.0.1 info
expect_fail "bad I2C address" "$T" --device /dev/i2c-1@0x99 info

step "bad arguments"
expect_fail "unknown option '--frobnicate'" "${C[@]}" info --frobnicate
# (SEC15) a secret in a refused word is not echoed: --hex=VALUE, a stray hex string
SEC=0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0
expect_fail "unknown option '--hex=...' (give the value as the next argument" \
  "${C[@]}" data write --oid 0xF1D0 --hex="$SEC"
grep -q "${SEC:0:16}" "$W/err" && fail "the secret was echoed: $(cat "$W/err")"
expect_fail "an unexpected argument, not shown: it may be a secret" "${C[@]}" data write --oid 0xF1D0 --hex "$SEC" "$SEC"
grep -q "${SEC:0:16}" "$W/err" && fail "the secret was echoed: $(cat "$W/err")"
expect_fail "unexpected argument 'extra'" "${C[@]}" data write --oid 0xF1D0 --hex "$SEC" extra
expect_fail "unknown command 'frobnicate'" "$T" frobnicate
expect_fail "needs a value" "${C[@]}" keygen --slot
expect_fail "8..256" "${C[@]}" random --length 300
expect_fail "not a valid metadata container" "${C[@]}" metadata set --oid 0xF1D1 --raw 2003C001
expect_fail "6..15" "${C[@]}" current-limit --set 40
expect_fail "0xE120..0xE123" "${C[@]}" counter read --oid 0xF1D0
unchanged
echo PASS
