#!/usr/bin/env bash
# A chip step of 'trustm personalize' fails after the key generation (the
# connection to the chip is cut at the CSR signature, by a proxy): the one
# thing that cannot be checked in advance. The command must fail, say what
# the chip now holds, leave the certificate object and the trust anchor as
# they were, and a second personalize must restore a consistent identity
# (key and certificate match: a chip signature verifies with the new
# certificate's key). Then 'trustm bind' whose write of 0xE140 never reaches
# the chip: the host file it created is gone, a file given with --force is
# untouched, and a direct bind still works. Last, bind whose write of the
# key's Execute condition is cut: the message says the chip is bound but the
# key is not restricted, and the command it gives finishes the job.
. "$(dirname "$0")/tls_cli_lib.sh"

make_pki
for try in 1 2 3 4 5; do
  SIMPORT=$((20000 + RANDOM % 40000))
  start_sim "chip$try" --tcp "127.0.0.1:$SIMPORT"
  sleep 0.2
  if kill -0 "${PIDS[-1]}" 2>/dev/null; then break; fi
  [ "$try" = 5 ] && fail "trustm-sim could not listen on a TCP port"
done
C=("$T" --device "$DEV")
# start_proxy NAME MODE: sets PROXYPORT
start_proxy() {
  python3 "$(dirname "$0")/tls_cli_failstep.py" "$W/$1.port" "$SIMPORT" "$2" >"$W/$1.out" 2>&1 &
  PIDS+=($!)
  for _ in $(seq 1 100); do [ -s "$W/$1.port" ] && break; sleep 0.05; done
  [ -s "$W/$1.port" ] || fail "proxy did not start: $(cat "$W/$1.out")"
  PROXYPORT=$(cat "$W/$1.port")
}
start_proxy proxy keygen
PX=("$T" --device "tcp:127.0.0.1:$PROXYPORT")

step "set-up: a working identity (key in 0xE0F1, certificate in 0xE0E1, trust anchor)"
"${C[@]}" personalize --device-id dev-old --ca-cert ca.pem --ca-key ca.key --trust-anchor ca.pem >/dev/null
"${C[@]}" data read --oid 0xE0E1 > before.e1
"${C[@]}" data read --oid 0xE0E8 > before.e8
"${PX[@]}" info >/dev/null || fail "the proxy does not forward"

step "personalize through the proxy: the chip link is cut after the key generation"
rc=0
"${PX[@]}" personalize --device-id dev-new --ca-cert ca.pem --ca-key ca.key --trust-anchor other.pem \
  --out new.pem >out 2>err || rc=$?
cat err
[ "$rc" -ne 0 ] || fail "personalize succeeded although the link was cut"
grep -q cut "$W/proxy.port.log" || fail "the proxy did not cut (the test is blind)"
grep -q '^trustm: personalize: FAILED AFTER THE KEY GENERATION: key slot 0xE0F1 may hold a new key that 0xE0E1.s certificate does not match; the device cannot authenticate until then; run personalize again$' err \
  || fail "the chip's state is not reported"
[ ! -e new.pem ] || fail "--out was written although no certificate was issued"
ls ./*.tmp* 2>/dev/null && fail "temporary files left behind"
"${C[@]}" data read --oid 0xE0E1 > after.e1
"${C[@]}" data read --oid 0xE0E8 > after.e8
cmp -s before.e1 after.e1 || fail "0xE0E1 changed"
cmp -s before.e8 after.e8 || fail "the trust anchor changed before the key had its certificate"

step "personalize again (direct): key and certificate match"
"${C[@]}" personalize --device-id dev-new --ca-cert ca.pem --ca-key ca.key --out new.pem >/dev/null
"${C[@]}" cert read --oid 0xE0E1 --out chip.pem
cmp -s <(openssl x509 -in chip.pem -outform DER) <(openssl x509 -in new.pem -outform DER) || fail "--out differs"
openssl x509 -in chip.pem -noout -pubkey > pub.pem
echo "identity check" > m.txt
"${C[@]}" sign --slot 0xE0F1 --in m.txt --out m.sig
openssl dgst -sha256 -verify pub.pem -signature m.sig m.txt | grep_all -q 'Verified OK' \
  || fail "the key in 0xE0F1 does not match the certificate in 0xE0E1"
openssl verify -CAfile ca.pem chip.pem | grep_all -q OK || fail "openssl does not verify the certificate"

step "bind: the write of 0xE140 is cut; no host file left, an existing one untouched"
start_proxy proxyb e140
PB=("$T" --device "tcp:127.0.0.1:$PROXYPORT")
rc=0; "${PB[@]}" bind --out new.bind >out 2>err || rc=$?
cat err
[ "$rc" -ne 0 ] || fail "bind succeeded although its write was cut"
grep -q cut "$W/proxyb.port.log" || fail "the proxy did not cut (the test is blind)"
grep -q "^trustm: bind: cannot write the secret to 0xE140 (host file 'new.bind' removed)" err \
  || fail "bind failure not reported"
[ ! -e new.bind ] || fail "bind left the host copy of a secret the chip does not have"
echo KEEP > keep.bind; chmod 600 keep.bind
rc=0; "${PB[@]}" bind --force --out keep.bind >out 2>err || rc=$?
[ "$rc" -ne 0 ] || fail "bind --force succeeded although its write was cut"
grep -q "^trustm: bind: cannot write the secret to 0xE140 ('keep.bind' unchanged)" err \
  || fail "bind --force failure not reported: $(cat err)"
[ "$(cat keep.bind)" = KEEP ] || fail "bind --force changed the file although the chip write failed"
ls ./*.tmp* 2>/dev/null && fail "temporary files left behind"
"${C[@]}" bind --out good.bind >/dev/null
"${C[@]}" --binding good.bind info >/dev/null || fail "the chip cannot be bound after the cut binds"

step "bind: the write of the key's Execute condition is cut; the failure says what the chip holds"
for try in 1 2 3 4 5; do
  SIMPORT=$((20000 + RANDOM % 40000))
  start_sim "chipk$try" --tcp "127.0.0.1:$SIMPORT"
  sleep 0.2
  if kill -0 "${PIDS[-1]}" 2>/dev/null; then break; fi
  [ "$try" = 5 ] && fail "trustm-sim could not listen on a TCP port"
done
K=("$T" --device "$DEV")
"${K[@]}" keygen --slot 0xE0F1 --out kk.pem >/dev/null
start_proxy proxyk keyexec
PK=("$T" --device "tcp:127.0.0.1:$PROXYPORT")
rc=0; "${PK[@]}" bind --out k.bind >out 2>err || rc=$?
cat err
[ "$rc" -ne 0 ] || fail "bind succeeded although the Execute write was cut"
grep -q cut "$W/proxyk.port.log" || fail "the proxy did not cut (the test is blind)"
grep -q "^trustm: bind: the chip is bound (host copy in k.bind), but the Execute condition of key 0xE0F1 could not be set to Conf(0xE140) (.*), so it still signs in plaintext; run 'trustm --binding k.bind metadata set --oid 0xE0F1 --execute \"Conf(0xE140)\"'$" err \
  || fail "the half-done binding is not reported"
[ "$(stat -c %s k.bind)" = 64 ] || fail "the host copy of the secret the chip holds is gone"
"${K[@]}" --binding k.bind info | grep_all -q '^keys usable unshielded: .*0xE0F1' \
  || fail "info does not show the key as usable unshielded"
# The command the message gives finishes the job.
"${K[@]}" --binding k.bind metadata set --oid 0xE0F1 --execute "Conf(0xE140)" >/dev/null
expect_fail "chip error 0x07" "${K[@]}" sign --slot 0xE0F1 --in m.txt
"${K[@]}" --binding k.bind sign --slot 0xE0F1 --in m.txt --out kk.sig
openssl dgst -sha256 -verify kk.pem -signature kk.sig m.txt | grep_all -q 'Verified OK' || fail "bound key signature"
step "personalize: the chip refuses the certificate write after the trust anchor was written"
for try in 1 2 3 4 5; do
  SIMPORT=$((20000 + RANDOM % 40000))
  start_sim "chipr$try" --tcp "127.0.0.1:$SIMPORT"
  sleep 0.2
  if kill -0 "${PIDS[-1]}" 2>/dev/null; then break; fi
  [ "$try" = 5 ] && fail "trustm-sim could not listen on a TCP port"
done
R=("$T" --device "$DEV")
"${R[@]}" personalize --device-id dev-old --ca-cert ca.pem --ca-key ca.key --trust-anchor ca.pem >/dev/null
"${R[@]}" data read --oid 0xE0E1 > r.e1
"${R[@]}" data read --oid 0xE0E8 > r.e8
start_proxy proxyr deny:E0E1:1
PR=("$T" --device "tcp:127.0.0.1:$PROXYPORT")
rc=0
"${PR[@]}" personalize --device-id dev-new --ca-cert ca.pem --ca-key ca.key --trust-anchor other.pem >out 2>err || rc=$?
cat err
[ "$rc" -ne 0 ] || fail "personalize succeeded although the certificate write was refused"
grep -q rewritten "$W/proxyr.port.log" || fail "the proxy did not rewrite (the test is blind)"
grep -q "^trustm: cannot write 0xE0E1: chip" err || fail "the refused write is not reported"
grep -q "could not be restored\|could not be put back" err && fail "a restore is reported as failed on a healthy link"
grep -q "^trustm: personalize: FAILED AFTER THE KEY GENERATION: key slot 0xE0F1" err || fail "the key slot is not reported"
"${R[@]}" data read --oid 0xE0E8 > r2.e8
cmp -s r.e8 r2.e8 || fail "the trust anchor written before the refused certificate was not put back"
"${R[@]}" data read --oid 0xE0E1 > r2.e1
cmp -s r.e1 r2.e1 || fail "0xE0E1 changed"

step "cert write longer than one APDU: the second chunk is refused, the old content put back"
cat other.pem other.pem other.pem other.pem > big.pem
"${R[@]}" cert write --oid 0xE0E2 ca.pem >/dev/null
"${R[@]}" data read --oid 0xE0E2 > r.e2
start_proxy proxyc deny:E0E2:2
PC=("$T" --device "tcp:127.0.0.1:$PROXYPORT")
rc=0; "${PC[@]}" cert write --oid 0xE0E2 --chain big.pem >out 2>err || rc=$?
cat err
[ "$rc" -ne 0 ] || fail "cert write succeeded although its second chunk was refused"
grep -q rewritten "$W/proxyc.port.log" || fail "the proxy did not rewrite the second chunk (the test is blind)"
[ "$(wc -l <err)" -eq 1 ] && grep -q "^trustm: cannot write 0xE0E2: chip" err || fail "not one line for the refused write"
"${R[@]}" data read --oid 0xE0E2 > r2.e2
cmp -s r.e2 r2.e2 || fail "0xE0E2 keeps the first chunk of the refused write: $(head -c 80 r2.e2)"
"${R[@]}" cert write --oid 0xE0E2 --chain big.pem >/dev/null || fail "the direct write of big.pem fails (the test's file is bad)"

step "personalize: the link is cut at the certificate write; the restore fails and says so"
"${R[@]}" personalize --device-id dev-old --ca-cert ca.pem --ca-key ca.key --trust-anchor ca.pem >/dev/null
"${R[@]}" data read --oid 0xE0E1 > r.e1
start_proxy proxyx cut:E0E1
PX2=("$T" --device "tcp:127.0.0.1:$PROXYPORT")
rc=0
"${PX2[@]}" personalize --device-id dev-new --ca-cert ca.pem --ca-key ca.key --trust-anchor other.pem >out 2>err || rc=$?
cat err
[ "$rc" -ne 0 ] || fail "personalize succeeded although the link was cut"
grep -q cut "$W/proxyx.port.log" || fail "the proxy did not cut (the test is blind)"
grep -q "^trustm: cannot write 0xE0E1, and its previous content could not be put back (it may hold part of the new one; check it with 'trustm data read --oid 0xE0E1')" err \
  || fail "the failed restore of 0xE0E1 is not reported"
grep -q "^trustm: personalize: the previous trust anchor could not be restored to 0xE0E8; check it with 'trustm data read --oid 0xE0E8'$" err \
  || fail "the failed restore of the trust anchor is not reported"
# what the message says is true: 0xE0E8 holds the new anchor, 0xE0E1 the old certificate
# (the command the message names: it reads the object; 'cert read', named
# before, refuses a trust anchor object)
"${R[@]}" data read --oid 0xE0E8 > r3.e8
"${R[@]}" trust-anchor write --oid 0xE0E9 other.pem >/dev/null
"${R[@]}" data read --oid 0xE0E9 > other.hex
cmp -s r3.e8 other.hex || fail "0xE0E8 does not hold the anchor the message says was not restored"
"${R[@]}" data read --oid 0xE0E1 > r3.e1
cmp -s r.e1 r3.e1 || fail "0xE0E1 changed although the link was cut before its write"
echo PASS
