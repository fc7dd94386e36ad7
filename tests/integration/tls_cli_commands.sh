#!/usr/bin/env bash
# Every trustm subcommand, run as a binary against the simulator (in process
# with a state file, and the daemon), checked by what another program sees:
# openssl on keys, CSRs, certificates and signatures, read-backs of objects,
# the daemon's trace for the shielded connection.
. "$(dirname "$0")/tls_cli_lib.sh"

make_pki
step "--version, --help everywhere"
"$T" --version | grep_all -q '^trustm [0-9]' || fail "--version"
"$T" --help | grep_all -q 'personalize' || fail "--help"
for c in info keygen csr cert trust-anchor data metadata lock bind current-limit random sign \
         verify counter personalize connect; do
  "$T" "$c" --help | grep_all -q "usage: trustm $c" || fail "$c --help"
done

step "in-process simulator with a state file: info, keygen persist across runs"
L=("$T" --device sim --state "$W/local.state")
"${L[@]}" info | grep_all -q '^coprocessor UID: *[0-9a-f]\{54\}$' || fail "info"
"${L[@]}" keygen --slot 0xE0F3 --curve p384 --out p384.pem
openssl pkey -pubin -in p384.pem -noout -text | grep_all -q 'NIST CURVE: P-384' || fail "p384 key"
"${L[@]}" csr --slot 0xE0F3 --pubkey p384.pem --subject "CN=persisted" --out p.csr
openssl req -in p.csr -noout -verify 2>&1 | grep_all -q 'verify OK' || fail "key did not persist"

step "personalize --json (machine-readable, no progress lines)"
"${L[@]}" personalize --device-id dev-json --ca-cert ca.pem --ca-key ca.key --json > p.json
"${L[@]}" cert read --oid 0xE0E1 --der --out pj.der
fp=$(openssl dgst -sha256 -r pj.der | cut -d' ' -f1 | tr a-f A-F)
python3 -c 'import json,sys; d=json.load(open("p.json")); assert d["subject"]=="CN=dev-json" and d["thumbprint_sha256"]==sys.argv[1] and d["trust_anchor_oid"] is None, d' "$fp" \
  || fail "personalize --json"

start_sim chip
C=("$T" --device "$DEV")
step "info --json"
"${C[@]}" info --json > info.json
python3 -c 'import json,sys; d=json.load(open("info.json")); assert len(d["uid"])==54 and "0xE0E1" in d["free_objects"] and d["shielded"] is False' \
  || fail "info --json"
step "info: a certificate object holding one 0x00 byte is free (Infineon's trustm_cert -c clears it so); another byte, or a data object's 0x00, is not"
"${C[@]}" data write --oid 0xE0E2 --hex 30 --erase > /dev/null
"${C[@]}" data write --oid 0xF1DB --hex 00 --erase > /dev/null
"${C[@]}" info --json > info2.json
python3 -c 'import json; f=json.load(open("info2.json"))["free_objects"]; assert "0xE0E2" not in f and "0xF1DB" not in f and "0xE0E3" in f, f' \
  || fail "info: one byte that is not 0x00, or a data object"
"${C[@]}" data write --oid 0xE0E2 --hex 00 --erase > /dev/null
"${C[@]}" info --json > info3.json
python3 -c 'import json; f=json.load(open("info3.json"))["free_objects"]; assert "0xE0E2" in f, f' || fail "info: cleared certificate object"
expect_fail "cert read: 0xE0E2 holds no certificate" "${C[@]}" cert read --oid 0xE0E2

step "keygen / csr (--pubkey, --new-key, public key recovered from signatures)"
"${C[@]}" keygen --slot 0xE0F2 --usage sign --out k2.pem
openssl pkey -pubin -in k2.pem -noout || fail "keygen PEM"
"${C[@]}" csr --slot 0xE0F2 --pubkey k2.pem --subject "CN=dev-002,O=Example" --out k2.csr
openssl req -in k2.csr -noout -verify 2>&1 | grep_all -q 'verify OK' || fail "csr --pubkey"
cmp <(openssl req -in k2.csr -noout -pubkey) k2.pem || fail "CSR key differs from keygen's"
"${C[@]}" csr --slot 0xE0F1 --new-key --subject "CN=dev-003" > k3.csr
openssl req -in k3.csr -noout -verify 2>&1 | grep_all -q 'verify OK' || fail "csr --new-key"
expect_fail "different key" "${C[@]}" csr --slot 0xE0F2 --pubkey p384.pem --subject "CN=x"
# No --pubkey: the public key is recovered from two chip signatures.
"${C[@]}" csr --slot 0xE0F2 --subject "CN=dev-002-recovered" --out k2r.csr
cmp <(openssl req -in k2r.csr -noout -pubkey) k2.pem || fail "recovered public key differs"
expect_fail "0xE0F3 holds no key" "${C[@]}" csr --slot 0xE0F3 --subject "CN=none"

step "cert write --chain / cert read --der --chain / csr from the paired certificate"
openssl x509 -req -in k3.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 10 -out k3.pem 2>/dev/null
cat k3.pem ca.pem > chain.pem
"${C[@]}" cert write --oid 0xE0E1 chain.pem --chain
"${C[@]}" cert read --oid 0xE0E1 --chain > back-chain.pem
[ "$(grep -c 'BEGIN CERTIFICATE' back-chain.pem)" = 2 ] || fail "chain read back"
"${C[@]}" cert read --oid 0xE0E1 --der --out leaf.der
cmp leaf.der <(openssl x509 -in k3.pem -outform DER) || fail "leaf DER"
"${C[@]}" data read --oid 0xE0E1 --length 1 | grep_all -q '^c0$' || fail "TLS-identity wrapper"
"${C[@]}" cert write --oid 0xE0E2 k3.pem --der-object
"${C[@]}" data read --oid 0xE0E2 --length 1 | grep_all -q '^30$' || fail "plain DER object"
"${C[@]}" csr --slot 0xE0F1 --subject "CN=dev-003-renew" --out renew.csr
openssl req -in renew.csr -noout -verify 2>&1 | grep_all -q 'verify OK' || fail "csr from 0xE0E1"

step "trust-anchor write FILE and --azure"
"${C[@]}" trust-anchor write --oid 0xE0E9 ca.pem > ta.out
grep -q "^note: 0xE0E9 is not locked: until it is ('trustm lock --oid 0xE0E9 --yes'.*change condition (LcsO < op)" ta.out \
  || fail "no reminder that the trust anchor stays unlocked: $(cat ta.out)"
cmp <("${C[@]}" data read --oid 0xE0E9 --out -) <(openssl x509 -in ca.pem -outform DER) || fail "TA"
"${C[@]}" trust-anchor write --azure > ta.out
[ "$(grep -c '^note: 0x\(E0E8\|F1E0\) is not locked' ta.out)" = 2 ] || fail "--azure: one note per object: $(cat ta.out)"
"${C[@]}" data read --oid 0xE0E8 --out - > g2.der
openssl x509 -inform DER -in g2.der -noout -subject | grep_all -q 'DigiCert Global Root G2' || fail "G2"
openssl x509 -inform DER -in g2.der -noout -fingerprint -sha256 | \
  grep -q 'CB:3C:CB:B7:60:31:E5:E0:13:8F:8D:D3:9A:23:F9:DE:47:FF:C3:5E:43:C1:14:4C:EA:27:D4:6A:5A:B1:CB:5F' \
  || fail "G2 fingerprint"
"${C[@]}" data read --oid 0xF1E0 --out - | openssl x509 -inform DER -noout -subject | \
  grep -q 'Microsoft RSA Root Certificate Authority 2017' || fail "backup root"

step "data write / read, metadata show / set, lock"
"${C[@]}" data write --oid 0xF1D1 --hex 'de ad be ef'
"${C[@]}" data read --oid 0xF1D1 | grep_all -q '^deadbeef$' || fail "data read"
printf 'hello' > h.bin
"${C[@]}" data write --oid 0xF1D1 --in h.bin --offset 2
"${C[@]}" data read --oid 0xF1D1 | grep_all -q '^dead68656c6c6f$' || fail "data write at offset"
"${C[@]}" data write --oid 0xF1D1 --in h.bin --erase
"${C[@]}" data read --oid 0xF1D1 --out got.bin; cmp got.bin h.bin || fail "erase & write"
"${C[@]}" metadata show --oid 0xE0E8 | grep_all -q 'type: *TA' || fail "metadata show"
"${C[@]}" metadata show --oid 0xE0F2 --json | python3 -c 'import json,sys; d=json.load(sys.stdin); assert d["read"].startswith("NEV") and "Sign" in d["key_usage"], d' \
  || fail "metadata --json of a key"
"${C[@]}" metadata set --oid 0xF1D2 --read NEV
expect_fail "access conditions not satisfied" "${C[@]}" data read --oid 0xF1D2
"${C[@]}" metadata set --oid 0xF1D2 --read ALW
"${C[@]}" data read --oid 0xF1D2 >/dev/null || fail "read ALW again"
"${C[@]}" metadata set --oid 0xF1D4 --change 'LcsO < op || Conf(0xE140)' --read 'LcsO < op && Int(0xE0EF)'
"${C[@]}" metadata show --oid 0xF1D4 > md4.txt
grep -q 'change: *LcsO < op || Conf(0xE140)$' md4.txt || fail "AC words round trip (change)"
grep -q 'read: *LcsO < op && Int(0xE0EF)$' md4.txt || fail "AC words round trip (read)"
"${C[@]}" metadata show --oid 0xF1D4 | grep_all -q '^object 0xF1D4 metadata: 20.*d007e1fc07fe20e140' \
  || fail "AC bytes"
expect_fail "bad --read" "${C[@]}" metadata set --oid 0xF1D4 --read 'Conf(0xE140) && ALW'
# the metadata-update condition (D8) and the reset type (F0) in words, not
# only in the hex line (before session 16)
"${C[@]}" metadata set --oid 0xF1D5 --raw 2008D80321E0EFF00111
"${C[@]}" metadata show --oid 0xF1D5 > md5.txt
grep -q 'metadata update: *Int(0xE0EF) (protected metadata update)$' md5.txt || fail "D8 in words: $(cat md5.txt)"
grep -q 'reset type: *0x11 (content zeroed, LcsO cr)$' md5.txt || fail "F0 in words: $(cat md5.txt)"
"${C[@]}" metadata show --oid 0xF1D5 --json | python3 -c 'import json,sys; d=json.load(sys.stdin); assert d["metadata_update"] == "Int(0xE0EF)" and d["reset_type"].startswith("0x11 (content zeroed"), d' \
  || fail "D8/F0 in the JSON"
"${C[@]}" lock --oid 0xF1D3 --yes | grep_all -q '0xF1D3 locked' || fail "lock"
"${C[@]}" metadata show --oid 0xF1D3 | grep_all -q 'life cycle (LcsO): op' || fail "LcsO op"
expect_fail "refused the change" "${C[@]}" metadata set --oid 0xF1D3 --read NEV
# A locked object refuses the first APDU: nothing of the new content is in
# it, and the message says so (it read back as before), not "may hold part".
before=$("${C[@]}" data read --oid 0xF1D3)
expect_fail "cannot write 0xF1D3; it reads back as before (nothing of the new content is in it): chip: access conditions not satisfied" \
  "${C[@]}" data write --oid 0xF1D3 --hex 0102030405 --erase
[ "$("${C[@]}" data read --oid 0xF1D3)" = "$before" ] || fail "the locked object changed"

step "current-limit, random, counter"
"${C[@]}" current-limit --set 10 | grep_all -q '^10 mA$' || fail "current-limit set"
"${C[@]}" current-limit | grep_all -q '^10 mA$' || fail "current-limit persists"
r=$("${C[@]}" random --length 16); [ ${#r} = 32 ] || fail "random length"
[ "$r" != "$("${C[@]}" random --length 16)" ] || fail "random repeats"
"${C[@]}" random --length 64 --out r.bin; [ "$(stat -c %s r.bin)" = 64 ] || fail "random --out"
"${C[@]}" counter read --oid 0xE120 | grep_all -q '^value 0 ' || fail "counter read"
"${C[@]}" counter add --oid 0xE120 --step 3 | grep_all -q '^value 3 ' || fail "counter add"

step "sign / verify (chip and openssl)"
echo "sign me" > m.txt
"${C[@]}" sign --slot 0xE0F2 --in m.txt --out m.sig
openssl dgst -sha256 -verify k2.pem -signature m.sig m.txt | grep_all -q 'Verified OK' || fail "openssl verify"
"${C[@]}" verify --in m.txt --sig m.sig --pubkey k2.pem | grep_all -q 'signature valid' || fail "chip verify"
echo "other" > m2.txt
expect_fail "does not verify" "${C[@]}" verify --in m2.txt --sig m.sig --pubkey k2.pem
"${C[@]}" sign --slot 0xE0F1 --in m.txt --out m1.sig
"${C[@]}" verify --in m.txt --sig m1.sig --cert-oid 0xE0E2 2>v.err | grep_all -q 'signature valid' || fail "verify with cert object"
[ ! -s v.err ] || fail "a plain DER object is given to the chip as it is: $(cat v.err)"
# 0xE0E1 holds the TLS-identity wrapper (k3 and the CA), which VerifySign
# refuses ("invalid certificate format"): the leaf's key is used, with a note.
"${C[@]}" verify --in m.txt --sig m1.sig --cert-oid 0xE0E1 2>v.err | grep_all -q 'signature valid' \
  || fail "verify with the TLS-identity wrapper of 0xE0E1: $(cat v.err)"
grep -q "^trustm: note: 0xE0E1 holds a TLS-identity wrapper, which VerifySign does not take" v.err \
  || fail "no note for the wrapper: $(cat v.err)"
rc=0; "${C[@]}" verify --in m2.txt --sig m1.sig --cert-oid 0xE0E1 >/dev/null 2>v.err || rc=$?
[ "$rc" = 1 ] && grep -q '^trustm: verify: signature does not verify$' v.err \
  || fail "a wrong message verified with 0xE0E1's key (rc=$rc): $(cat v.err)"
rc=0; "${C[@]}" verify --in m.txt --sig m.sig --cert-oid 0xE0E1 >/dev/null 2>v.err || rc=$?
[ "$rc" = 1 ] && grep -q 'signature does not verify' v.err || fail "0xE0F2's signature verified with 0xE0E1"
expect_fail "verify: 0xE0E3 holds no certificate" "${C[@]}" verify --in m.txt --sig m1.sig --cert-oid 0xE0E3

step "connect --prove: the key slot is checked against the certificate before any network I/O"
# 0xE0E1 holds k3 (issued for 0xE0F1's key) and the CA. The proof costs one
# signature, counted by the key and visible as a CalcSign in the trace.
start_tls_server srv.pem srv.key ca.pem 2
: > chip.trace
"${C[@]}" connect --host localhost --port "$PORT" --ca ca.pem --prove --send $'abc\n' --expect cba \
  > prove.out || fail "connect --prove on a matching key and certificate"
grep -q '^connect 1: ok.*chip signatures so far=2$' prove.out || fail "--prove did not sign: $(cat prove.out)"
n_prove=$(grep -c 'CalcSign' chip.trace)
: > chip.trace
"${C[@]}" connect --host localhost --port "$PORT" --ca ca.pem --send $'abc\n' --expect cba > noprove.out \
  || fail "connect without --prove"
grep -q '^connect 1: ok.*chip signatures so far=1$' noprove.out || fail "connect: $(cat noprove.out)"
n_plain=$(grep -c 'CalcSign' chip.trace)
[ "$n_plain" -gt 0 ] && [ "$n_prove" = $((2 * n_plain)) ] \
  || fail "--prove should cost one CalcSign more (trace: $n_prove with, $n_plain without)"
# 0xE0F2 holds k2, not the key of the certificate in 0xE0E1: refused before
# the network is touched (nothing listens on port 1; without --prove the
# error would be about connecting).
expect_fail "connect: the key in 0xE0F2 cannot be used with the certificate in 0xE0E1: tls: certificate does not match the key$" \
  "${C[@]}" connect --host localhost --address 127.0.0.1 --port 1 --ca ca.pem --key-oid 0xE0F2 --prove
expect_fail "cannot connect to 127.0.0.1 port 1" \
  "${C[@]}" connect --host localhost --address 127.0.0.1 --port 1 --ca ca.pem --key-oid 0xE0F2
# 0xE0F3 holds no key on this chip: the chip refuses the signature, and the
# chip's reason is what the user reads.
expect_fail "connect: the key in 0xE0F3 cannot be used with the certificate in 0xE0E1: chip: " \
  "${C[@]}" connect --host localhost --address 127.0.0.1 --port 1 --ca ca.pem --key-oid 0xE0F3 --prove

step "connect: client certificate objects the TLS binding reads (empty, RSA, under 256 bytes)"
expect_fail "connect: no client certificate in 0xE0E3: not found$" \
  "${C[@]}" connect --host localhost --address 127.0.0.1 --port 1 --ca ca.pem --cert-oid 0xE0E3
openssl req -x509 -newkey rsa:2048 -nodes -keyout rsa.key -subj "/CN=rsa" -days 10 -out rsa.pem 2>/dev/null
"${C[@]}" cert write --oid 0xE0E3 rsa.pem --der-object
expect_fail "connect: the key in 0xE0F1 cannot be used with the certificate in 0xE0E3: not supported$" \
  "${C[@]}" connect --host localhost --address 127.0.0.1 --port 1 --ca ca.pem --cert-oid 0xE0E3
# an EC key the chip has no curve for (P-521): not supported either
openssl ecparam -name secp521r1 -genkey -noout -out p521.key 2>/dev/null
openssl req -x509 -new -key p521.key -subj "/CN=p521" -days 10 -out p521.pem 2>/dev/null
"${C[@]}" cert write --oid 0xE0E3 p521.pem --der-object
expect_fail "connect: the key in 0xE0F1 cannot be used with the certificate in 0xE0E3: not supported$" \
  "${C[@]}" connect --host localhost --address 127.0.0.1 --port 1 --ca ca.pem --cert-oid 0xE0E3
# A certificate for 0xE0F1's key (k3.csr) under 256 bytes: DER length
# 30 81 xx. v1, serial 1, issued by a P-192 CA (a P-256 signature would
# push it to 260 bytes). Loaded, and proven against the key, before the
# network (nothing listens on port 1).
openssl ecparam -name prime192v1 -genkey -noout -out c192.key 2>/dev/null
openssl req -x509 -new -key c192.key -subj "/CN=c" -days 10 -out c192.pem 2>/dev/null
openssl x509 -req -in k3.csr -CA c192.pem -CAkey c192.key -set_serial 1 -days 10 -outform DER \
  -out short.der 2>/dev/null
[ "$(stat -c %s short.der)" -lt 256 ] && [ "$(od -An -tx1 -j1 -N1 short.der | tr -d ' ')" = 81 ] \
  || fail "short.der is $(stat -c %s short.der) bytes, not a 0x81 DER length"
"${C[@]}" data write --oid 0xE0E3 --in short.der --erase
expect_fail "connect: cannot connect to 127.0.0.1 port 1" \
  "${C[@]}" connect --host localhost --address 127.0.0.1 --port 1 --ca ca.pem --cert-oid 0xE0E3 --prove
# stale bytes after it in the object are not part of the certificate
printf '\x30\x03\x02\x01\x05' >> short.der
"${C[@]}" data write --oid 0xE0E3 --in short.der --erase
expect_fail "connect: cannot connect to 127.0.0.1 port 1" \
  "${C[@]}" connect --host localhost --address 127.0.0.1 --port 1 --ca ca.pem --cert-oid 0xE0E3 --prove
# cut inside the certificate: malformed, not a partial certificate
head -c 200 short.der > cut.der
"${C[@]}" data write --oid 0xE0E3 --in cut.der --erase
expect_fail "connect: no client certificate in 0xE0E3: malformed data$" \
  "${C[@]}" connect --host localhost --address 127.0.0.1 --port 1 --ca ca.pem --cert-oid 0xE0E3

step "bind: then every command runs over the shielded connection"
"${C[@]}" bind --out "$W/binding.key" > bind.out
grep -q 'shielded connection works' bind.out || fail "bind"
grep -q '^key 0xE0F1: Execute Conf(0xE140)' bind.out || fail "bind did not restrict 0xE0F1"
grep -q "^note: key 0xE0F1 is not locked: until it is ('trustm --binding $W/binding.key lock --oid 0xE0F1 --yes')" bind.out \
  || fail "bind does not say that the unlocked key's restriction can be undone"
expect_fail "chip error 0x07" "${C[@]}" sign --slot 0xE0F1 --in m.txt
[ "$(stat -c %a "$W/binding.key")" = 600 ] || fail "binding file mode"
expect_fail "access conditions not satisfied" "${C[@]}" data read --oid 0xE140
B=("$T" --device "$DEV" --binding "$W/binding.key")
"${B[@]}" info --json | python3 -c 'import json,sys; assert json.load(sys.stdin)["shielded"] is True' \
  || fail "info over the shielded connection"
: > chip.trace
"${B[@]}" sign --slot 0xE0F2 --in m.txt --out m3.sig
openssl dgst -sha256 -verify k2.pem -signature m3.sig m.txt | grep_all -q 'Verified OK' || fail "shielded sign"
grep -q 'CalcSign' chip.trace && fail "CalcSign visible in plaintext after binding"
grep -q 'PRL SCTR' chip.trace || fail "no protected records in the trace"
step "connect --prove after bind: refused in plain (the chip's 0x07 named), proven over the shielded link"
expect_fail "connect: the key in 0xE0F1 cannot be used with the certificate in 0xE0E1: chip: access conditions not satisfied$" \
  "${C[@]}" connect --host localhost --address 127.0.0.1 --port 1 --ca ca.pem --prove
start_tls_server srv.pem srv.key ca.pem 1
"${B[@]}" connect --host localhost --port "$PORT" --ca ca.pem --prove --send $'xyz\n' --expect zyx \
  > prove-b.out || fail "connect --prove over the shielded connection"
grep -q '^connect 1: ok.*chip signatures so far=2$' prove-b.out || fail "shielded --prove: $(cat prove-b.out)"
expect_fail "already locked" "${C[@]}" bind --out "$W/rebind.key"
[ ! -e "$W/rebind.key" ] && ! ls "$W"/rebind.key.tmp* 2>/dev/null || fail "a refused bind left a file"
echo PASS
