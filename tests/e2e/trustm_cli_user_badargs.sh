#!/usr/bin/env bash
# The trustm CLI given what a new user types wrong (session 7, USER): every
# bad argument gets one line on stderr and a non-zero exit, and loses
# nothing:
#  - an output that cannot be written is found before the chip is touched
#    (keygen, csr --new-key, sign): no key generated for a lost public half;
#  - an output path that is a FIFO, a device or a symbolic link is written
#    through, never replaced by a regular file (as root, 'random --out
#    /dev/null' used to put a regular file in place of /dev/null);
#  - 'lock --oid ,' and empty list items are refused, not skipped;
#  - '--device ""' is refused instead of silently using the simulator;
#  - connect: --ca with --ca-oid, and --expect without --send, are refused.
# The chip is the in-process simulator with a state file in a scratch folder.
set -euo pipefail
TM=${TRUSTM_CLI:-${TMA_BUILD_DIR:?}/tools/trustm}
W=$(mktemp -d)
BG=()
cleanup() {
  local p
  for p in "${BG[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  rm -rf "$W"
}
trap cleanup EXIT
cd "$W"
T=("$TM" --state "$W/chip.state")
fails=0
bad() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }

# expect_err TEXT CMD...: non-zero exit, exactly one stderr line "trustm: ..." containing TEXT.
expect_err() {
  local text=$1 rc=0
  shift
  timeout 20 "$@" >out.txt 2>err.txt </dev/null || rc=$?
  if [ "$rc" -eq 0 ]; then bad "accepted: ${*:2}"; return; fi
  if [ "$rc" -ge 124 ]; then bad "hang or crash (rc $rc): ${*:2}"; cat err.txt >&2; return; fi
  if [ "$(wc -l <err.txt)" -ne 1 ] || ! grep -q '^trustm: ' err.txt; then
    bad "not one 'trustm:' line on stderr: ${*:2}"; cat err.txt >&2; return
  fi
  grep -qF -- "$text" err.txt || { bad "'$text' not in: $(cat err.txt)"; return; }
  echo "ok: ${*:2} -> $(cat err.txt)"
}
free_objects() { "${T[@]}" info | sed -n 's/^free objects: *//p'; }
no_tmp_left() { ! ls "$W" | grep -q '\.tmp[0-9]' || bad "temporary file left: $(ls "$W" | grep '\.tmp')"; }

openssl ecparam -name prime256v1 -genkey -noout -out ca.key 2>/dev/null
openssl req -x509 -new -key ca.key -subj "/CN=Test CA" -days 2 -out ca.pem \
  -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null
mkdir adir

echo "== outputs checked before the chip is touched"
before=$(free_objects)
case ",$before," in *,0xE0F1,*) ;; *) bad "0xE0F1 not free at the start: $before" ;; esac
expect_err "cannot create '$W/nodir/pub.pem'" "${T[@]}" keygen --slot 0xE0F1 --out "$W/nodir/pub.pem"
expect_err "'adir' is a directory" "${T[@]}" keygen --slot 0xE0F1 --out adir
expect_err "cannot create '$W/nodir/x.csr'" "${T[@]}" csr --slot 0xE0F2 --subject CN=x --new-key --out "$W/nodir/x.csr"
expect_err "output file name must not be empty" "${T[@]}" keygen --slot 0xE0F3 --out ""
expect_err "'-' (standard output) is not possible here" "${T[@]}" personalize --device-id d1 --ca-cert ca.pem --ca-key ca.key --out -
expect_err "'-' (standard output) is not possible here" "${T[@]}" bind --out -
[ ! -e ./- ] || bad "a file named '-' was made"
[ "$(free_objects)" = "$before" ] || bad "a refused keygen/csr changed the chip: free before '$before', after '$(free_objects)'"
"${T[@]}" keygen --slot 0xE0F1 --out pub.pem >/dev/null
openssl pkey -pubin -in pub.pem -noout || bad "keygen --out wrote no public key"
echo hi >msg.txt
expect_err "'adir' is a directory" "${T[@]}" sign --slot 0xE0F1 --in msg.txt --out adir
expect_err "is there a key in it?" "${T[@]}" sign --slot 0xE0F3 --in msg.txt
"${T[@]}" sign --slot 0xE0F1 --in msg.txt --out msg.sig
openssl dgst -sha256 -verify pub.pem -signature msg.sig msg.txt >/dev/null || bad "sign --out: signature does not verify"
no_tmp_left

echo "== an output that is an input (or another output) is refused before anything happens"
cp ca.key ca.key.orig
cp ca.pem ca.pem.orig
before=$(free_objects)
expect_err "--csr-out 'ca.key' is the --ca-key file" "${T[@]}" personalize --device-id d1 --ca-cert ca.pem --ca-key ca.key --csr-out ca.key
expect_err "--out './ca.pem' is the --ca-cert file" "${T[@]}" personalize --device-id d1 --ca-cert ca.pem --ca-key ca.key --out ./ca.pem
expect_err "--out and --csr-out name the same file" "${T[@]}" personalize --device-id d1 --ca-cert ca.pem --ca-key ca.key --out d.pem --csr-out ./d.pem
ln -s ca.key key.link
expect_err "--out 'key.link' is the --ca-key file" "${T[@]}" personalize --device-id d1 --ca-cert ca.pem --ca-key ca.key --out key.link
expect_err "--out 'msg.txt' is the --in file" "${T[@]}" sign --slot 0xE0F1 --in msg.txt --out msg.txt
expect_err "--out 'pub.pem' is the --pubkey file" "${T[@]}" csr --slot 0xE0F1 --subject CN=x --pubkey pub.pem --out pub.pem
cmp -s ca.key ca.key.orig || bad "the CA key was overwritten"
cmp -s ca.pem ca.pem.orig || bad "the CA certificate was overwritten"
[ "$(free_objects)" = "$before" ] || bad "a refused personalize changed the chip"
[ ! -e d.pem ] || bad "d.pem was written"
head -c 64 /dev/urandom >host.bind
chmod 600 host.bind
cp host.bind host.bind.orig
# (the in-process chip is not bound: the refusal must come before the chip is opened)
expect_err "'./host.bind' is the binding file (--binding)" "${T[@]}" --binding host.bind keygen --slot 0xE0F3 --out ./host.bind
cmp -s host.bind host.bind.orig || bad "the binding file was overwritten"

echo "== a FIFO, a device or a link as output is written through, never replaced"
mkfifo fifo
timeout 20 cat fifo >from-fifo &
BG+=($!)
"${T[@]}" random --length 16 --out fifo || bad "random --out FIFO failed"
wait "${BG[0]}" || bad "the FIFO's reader did not get the bytes (the FIFO was replaced?)"
BG=()
[ -p fifo ] || bad "the FIFO was replaced by a regular file"
[ "$(wc -c <from-fifo)" -eq 16 ] || bad "the FIFO's reader got $(wc -c <from-fifo) bytes, not 16"
echo "old content that is longer than the new" >target
ln -s target link
"${T[@]}" random --length 8 --out link
[ -L link ] || bad "the symbolic link was replaced by a regular file"
[ "$(wc -c <target)" -eq 8 ] || bad "the link's target holds $(wc -c <target) bytes, not 8"
# (Not tried on /dev/null or /dev/stdout themselves: the old code, run as
# root, would have replaced them on the machine running the test.)
ln -s adir dirlink
expect_err "is a directory" "${T[@]}" random --length 8 --out dirlink
no_tmp_left

echo "== output that cannot be delivered is a failure"
rc=0
"${T[@]}" random --length 8 >&- 2>err.txt || rc=$?
[ "$rc" -ne 0 ] && grep -q '^trustm: cannot write to standard output$' err.txt \
  || bad "random with stdout closed: exit $rc, stderr '$(cat err.txt)'"
rc=0
"${T[@]}" info >&- 2>err.txt || rc=$?
[ "$rc" -ne 0 ] || bad "info with stdout closed exited 0"

echo "== lock: an empty list or item is refused, nothing locked"
expect_err "single commas" "${T[@]}" lock --oid , --yes
expect_err "single commas" "${T[@]}" lock --oid "" --yes
expect_err "single commas" "${T[@]}" lock --oid 0xF1D0,,0xF1D1 --yes
expect_err "single commas" "${T[@]}" lock --oid 0xF1D0, --yes
expect_err "bad object id '0xZZ'" "${T[@]}" lock --oid 0xF1D0,0xZZ --yes
for o in 0xF1D0 0xF1D1; do
  "${T[@]}" metadata show --oid $o | grep -q 'life cycle (LcsO): cr' || bad "$o was locked by a refused lock"
done

echo "== global options"
expect_err "--device needs a value" "${T[@]}" --device "" info
expect_err "--state needs a value" "$TM" --state "" info
expect_err "--binding needs a value" "${T[@]}" --binding "" info
expect_err "unknown option '--bogus'" "${T[@]}" --bogus info
expect_err "unknown command 'frob'" "${T[@]}" frob
expect_err "cannot open '/dev/i2c-99'" "$TM" --device /dev/i2c-99 info
expect_err "is trustm-sim running?" "$TM" --device "sim:$W/no.sock" info
expect_err "unknown device" "$TM" --device "$W" info
# it exists but is not what the device kind needs: say what it is
expect_err "cannot open '/dev/shm': not a character device" "$TM" --device /dev/shm@0x30 info
touch plain.sock
expect_err "cannot reach the simulator at '$W/plain.sock': not a socket (is trustm-sim running?)" \
  "$TM" --device "sim:$W/plain.sock" info
expect_err "no chip answers on /dev/null" "$TM" --device /dev/null info
expect_err "bad I2C address" "$TM" --device /dev/i2c-1@0x999 info
expect_err "binding file '$W/none'" "${T[@]}" --binding "$W/none" info

echo "== no device chosen: a new simulated chip is announced once"
mkdir nodev
(cd nodev && env -u TRUSTM_DEVICE -u TRUSTM_SIM_STATE "$TM" random --length 8 >/dev/null 2>../note1.txt)
(cd nodev && env -u TRUSTM_DEVICE -u TRUSTM_SIM_STATE "$TM" random --length 8 >/dev/null 2>../note2.txt)
grep -q "^trustm: note: no --device or \$TRUSTM_DEVICE: using a new simulated chip in this process" note1.txt \
  || bad "no note on the first use of the default simulator: $(cat note1.txt)"
[ ! -s note2.txt ] || bad "the note came again: $(cat note2.txt)"

echo "== arguments of the commands"
head -c 2000000 /dev/zero >huge.bin
echo "not a certificate" >notpem.txt
expect_err "ECC key slot" "${T[@]}" keygen --slot 0xE0E1
expect_err "ECC key slot" "${T[@]}" keygen --slot 0x1E0F1
expect_err "--slot needs a value" "${T[@]}" keygen --slot
expect_err "--curve must be p256 or p384" "${T[@]}" keygen --slot 0xE0F1 --curve p521
# key usage: the three words of an ECC key; 'enc' (RSA decryption only) is
# refused, it used to make an ECC key that could neither sign nor agree
before=$(free_objects)
expect_err "bad --usage 'enc' (auth,sign,agreement)" "${T[@]}" keygen --slot 0xE0F2 --usage enc
expect_err "bad --usage 'sign,enc'" "${T[@]}" keygen --slot 0xE0F2 --usage sign,enc
expect_err "bad --usage 'bogus'" "${T[@]}" keygen --slot 0xE0F2 --usage bogus
expect_err "bad --usage ','" "${T[@]}" keygen --slot 0xE0F2 --usage ,
expect_err "csr: bad --curve or --usage" "${T[@]}" csr --slot 0xE0F2 --subject CN=x --new-key --usage enc
[ "$(free_objects)" = "$before" ] || bad "a refused --usage generated a key: free before '$before', after '$(free_objects)'"
"${T[@]}" keygen --slot 0xE0F2 --usage agreement >/dev/null || bad "keygen --usage agreement failed"
"${T[@]}" metadata show --oid 0xE0F2 | grep -q '^  key usage: *KeyAgree$' || bad "--usage agreement: $("${T[@]}" metadata show --oid 0xE0F2)"
expect_err "bad subject" "${T[@]}" csr --slot 0xE0F1 --subject 'CN=x,BOGUS=y'
# metadata set: locking only through 'trustm lock'; a bad --type; nothing written
md_before=$("${T[@]}" metadata show --oid 0xF1D0)
expect_err "locking goes through 'trustm lock --yes'" "${T[@]}" metadata set --oid 0xF1D0 --raw 2003C00107
expect_err "bad --type '0x99'" "${T[@]}" metadata set --oid 0xF1D0 --type 0x99
expect_err "bad --type '256'" "${T[@]}" metadata set --oid 0xF1D0 --type 256
[ "$("${T[@]}" metadata show --oid 0xF1D0)" = "$md_before" ] || bad "a refused metadata set changed 0xF1D0"
expect_err "holds no valid certificate" "${T[@]}" cert write --oid 0xE0E1 notpem.txt
expect_err "too large" "${T[@]}" cert write --oid 0xE0E1 huge.bin
expect_err "cannot open '$W/none'" "${T[@]}" cert write --oid 0xE0E1 "$W/none"
mkfifo infifo
# a FIFO nobody writes reads as empty (it used to block forever); <(...) is read
expect_err "'infifo' holds no valid certificate" "${T[@]}" cert write --oid 0xE0E2 infifo
expect_err "'adir' is a directory" "${T[@]}" cert write --oid 0xE0E2 adir
"${T[@]}" trust-anchor write --oid 0xE0E9 <(cat ca.pem) >/dev/null || bad "trust-anchor write <(...) failed"
# more certificates than the object takes: refused, the object unchanged
# (two in a trust-anchor file used to be written past the caller's one
# certificate variable: an ASan stack-buffer-overflow)
cat ca.pem ca.pem >two.pem
cat ca.pem ca.pem ca.pem ca.pem ca.pem >five.pem
ta_before=$("${T[@]}" data read --oid 0xE0E9)
expect_err "'two.pem' holds 2 certificates; a trust anchor object takes exactly one" \
  "${T[@]}" trust-anchor write --oid 0xE0E9 two.pem
expect_err "'five.pem' holds 5 certificates; at most 4 fit" "${T[@]}" trust-anchor write --oid 0xE0E9 five.pem
[ "$("${T[@]}" data read --oid 0xE0E9)" = "$ta_before" ] || bad "a refused trust-anchor write changed 0xE0E9"
before=$(free_objects)
expect_err "'two.pem' holds 2 certificates; a trust anchor object takes exactly one" \
  "${T[@]}" personalize --device-id d1 --ca-cert ca.pem --ca-key ca.key --trust-anchor two.pem
openssl req -x509 -new -key ca.key -subj "/CN=Not a CA" -days 2 -addext basicConstraints=critical,CA:FALSE -out leaf.pem 2>/dev/null
# (these three used to free the file's bytes twice: an ASan double-free)
expect_err "'five.pem' holds 5 certificates; at most 4 fit" \
  "${T[@]}" personalize --device-id d1 --ca-cert ca.pem --ca-key ca.key --trust-anchor five.pem
expect_err "'leaf.pem' is not a CA certificate" \
  "${T[@]}" personalize --device-id d1 --ca-cert ca.pem --ca-key ca.key --trust-anchor leaf.pem
[ "$(free_objects)" = "$before" ] || bad "a refused personalize --trust-anchor changed the chip"
expect_err "'five.pem' holds 5 certificates; at most 4 fit" "${T[@]}" cert write --oid 0xE0E2 --chain five.pem
# a file that opens but cannot be read
expect_err "cannot read '/proc/self/mem'" "${T[@]}" cert write --oid 0xE0E2 /proc/self/mem
expect_err "not valid hex" "${T[@]}" data write --oid 0xF1D0 --hex 0g
expect_err "do not fit" "${T[@]}" data write --oid 0xF1D0 --hex 01 --offset 5000
expect_err "object id 0xE000..0xFFFF" "${T[@]}" data read --oid 0x0001
expect_err "6..15" "${T[@]}" current-limit --set 16
expect_err "8..256" "${T[@]}" random --length 7
expect_err "bad --device-id 'a b'" "${T[@]}" personalize --device-id 'a b' --ca-cert ca.pem --ca-key ca.key
expect_err "not a private key" "${T[@]}" personalize --device-id d1 --ca-cert ca.pem --ca-key notpem.txt
expect_err "--ca and --ca-oid exclude each other" "${T[@]}" connect --host h --port 1 --ca ca.pem --ca-oid 0xE0E8
expect_err "--expect needs --send" "${T[@]}" connect --host h --port 1 --expect x
expect_err "bad --ca-oid '0xZZ'" "${T[@]}" connect --host h --port 1 --ca-oid 0xZZ
expect_err "single commas" "${T[@]}" connect --host h --port 1 --ca-oid 0xE0E8,
expect_err "1..65535" "${T[@]}" connect --host h --port 70000
no_tmp_left

echo "== connect: a server's unexpected answer is shown on one line, control characters escaped"
mkdir tls
(
  cd tls
  openssl ecparam -name prime256v1 -genkey -noout -out ca.key 2>/dev/null
  openssl req -x509 -new -key ca.key -subj "/CN=T CA" -days 2 -out ca.pem \
    -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null
  openssl ecparam -name prime256v1 -genkey -noout -out srv.key 2>/dev/null
  openssl req -new -key srv.key -subj /CN=localhost -out srv.csr 2>/dev/null
  printf 'subjectAltName=DNS:localhost\n' >ext
  openssl x509 -req -in srv.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -extfile ext -out srv.pem 2>/dev/null
)
TC=("$TM" --state "$W/tls/chip.state")
"${TC[@]}" personalize --device-id tls-dev --ca-cert tls/ca.pem --ca-key tls/ca.key --trust-anchor tls/ca.pem >/dev/null
SRV=""
for _ in 1 2 3 4 5 6 7 8 9 10; do
  P=$((20000 + RANDOM % 40000))
  # -rev: the server sends back each line reversed, control characters included
  openssl s_server -accept "$P" -cert tls/srv.pem -key tls/srv.key -CAfile tls/ca.pem -Verify 1 -rev -quiet \
    >tls/srv.log 2>&1 &
  SRV=$!
  for _ in $(seq 1 50); do
    grep -q 'ACCEPT' tls/srv.log 2>/dev/null && break
    kill -0 "$SRV" 2>/dev/null || break
    sleep 0.05
  done
  kill -0 "$SRV" 2>/dev/null && break
  wait "$SRV" 2>/dev/null || true
  SRV=""
done
if [ -z "$SRV" ]; then
  bad "openssl s_server did not start"
else
  BG+=("$SRV")
  sleep 0.2
  expect_err "connect: got 'cJ2[\x1Bba\x0A', expected 'zzzz'" "${TC[@]}" connect --host localhost --port "$P" \
    --send $'ab\e[2Jc\n' --expect zzzz
fi

if [ "$fails" -ne 0 ]; then
  echo "$fails check(s) failed" >&2
  exit 1
fi
echo "all checks passed"
