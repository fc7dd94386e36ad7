#!/usr/bin/env bash
# localhub attacked like a hostile device would (brief HUBSEC): credentials.
#  - a certificate whose key usage or extended key usage excludes TLS client
#    authentication does not authenticate a device, a module or a DPS
#    registration, whoever signed it (CA mode, thumbprint mode, DPS groups
#    and individual enrollments); a not-yet-valid certificate neither;
#  - DPS re-provisioning of an existing device replaces both of its
#    credentials: the old secondary key / thumbprint stops working;
#  - SAS keys outside IoT Hub's 16..64 bytes are refused by the CLI.
# Every refusal is CONNACK 5 (what IoT Hub answers), every control case is
# the same command with a good credential.
. "$(dirname "$0")/hub_lib.sh"
hub_start
SCOPE=$("$L" --json dps show | sed -n 's/.*"idScope":[[:space:]]*"\([^"]*\)".*/\1/p')
mk_ca root; ca_add_verified root

# leaf_ext FILE CN ISSUER EXTLINES: EC key + certificate with extensions
# (ISSUER "self" for a self-signed one).
leaf_ext() {
  local f=$1 cn=$2 ca=$3
  openssl ecparam -name prime256v1 -genkey -noout -out "$T/$f.key" 2>/dev/null
  printf "$4" >"$T/$f.ext"
  if [ "$ca" = self ]; then
    openssl req -x509 -new -key "$T/$f.key" -subj "/CN=$cn" -days 10 -out "$T/$f.pem" \
      -extensions e -config <(printf '[req]\ndistinguished_name=d\n[d]\n[e]\n'; printf "$4") 2>/dev/null
  else
    openssl req -new -key "$T/$f.key" -subj "/CN=$cn" -out "$T/$f.csr" 2>/dev/null
    openssl x509 -req -in "$T/$f.csr" -CA "$T/$ca.pem" -CAkey "$T/$ca.key" -CAcreateserial -days 10 \
      -extfile "$T/$f.ext" -out "$T/$f.pem" 2>/dev/null
  fi
  [ -s "$T/$f.pem" ] || fail "could not make certificate $f"
}
pub_ok() { # ID FILE: telemetry with that certificate is acknowledged
  local out
  out=$(mqttc "$1" $(x509_args "$2") "pub:devices/$1/messages/events/:ok-$2" 2>&1) || fail "$2 refused: $out"
  grep_in "$out" -q PUBACK || fail "$2: no PUBACK: $out"
}

# --- key usage, CA mode ----------------------------------------------------
for d in ku-good ku-none ku-server ku-certsign ku-enc; do "$L" device create --id $d --auth x509-ca >/dev/null; done
leaf_ext ku-good ku-good root 'keyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n'
leaf_ext ku-none ku-none root 'subjectKeyIdentifier=hash\n'
leaf_ext ku-server ku-server root 'extendedKeyUsage=serverAuth\n'
leaf_ext ku-certsign ku-certsign root 'keyUsage=critical,keyCertSign\n'
leaf_ext ku-enc ku-enc root 'keyUsage=critical,dataEncipherment\nextendedKeyUsage=emailProtection\n'
pub_ok ku-good ku-good
pub_ok ku-none ku-none
ok "CA-signed certificates for client authentication (or without usage extensions) are accepted"
expect_refused "CA mode: certificate for TLS servers only (EKU serverAuth)" mqttc ku-server $(x509_args ku-server)
expect_refused "CA mode: certificate for certificate signing only (keyUsage keyCertSign)" mqttc ku-certsign $(x509_args ku-certsign)
expect_refused "CA mode: certificate for e-mail encryption (keyUsage dataEncipherment, EKU emailProtection)" \
  mqttc ku-enc $(x509_args ku-enc)

# --- key usage, thumbprint mode and modules --------------------------------
leaf_ext tp-good tp-good self 'basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n'
leaf_ext tp-server tp-server self 'basicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n'
"$L" device create --id tp-good --auth x509-thumbprint --cert "$T/tp-good.pem" >/dev/null
"$L" device create --id tp-server --auth x509-thumbprint --cert "$T/tp-server.pem" >/dev/null
pub_ok tp-good tp-good
expect_refused "thumbprint mode: registered certificate for TLS servers only" mqttc tp-server $(x509_args tp-server)
"$L" module create --device ku-good --module m1 --auth x509-ca >/dev/null || fail "module create"
leaf_ext mod-server 'ku-good\/m1' root 'extendedKeyUsage=serverAuth\n'
leaf_ext mod-good 'ku-good\/m1' root 'extendedKeyUsage=clientAuth\n'
modc() { "$MQTTC" --port "$PORT" --cafile "$CAF" --id ku-good/m1 --user "localhost/ku-good/m1/?api-version=2021-04-12" "$@"; }
out=$(modc $(x509_args mod-good) 'pub:devices/ku-good/modules/m1/messages/events/:mod-ok' 2>&1) || fail "module refused: $out"
expect_refused "module, CA mode: certificate for TLS servers only" modc $(x509_args mod-server)

# --- key usage, DPS --------------------------------------------------------
dps() { local id=$1; shift; "$MQTTC" --port "$PORT" --cafile "$CAF" --id "$id" \
  --user "$SCOPE/registrations/$id/api-version=2019-03-31" "$@"; }
"$L" dps enrollment-group create --group-id g1 --ca root >/dev/null
leaf_ext reg-good reg-good root 'extendedKeyUsage=clientAuth\n'
leaf_ext reg-server reg-server root 'extendedKeyUsage=serverAuth\n'
out=$(dps reg-good $(x509_args reg-good) 'sub:$dps/registrations/res/#' 2>&1) || fail "DPS group registration refused: $out"
expect_refused "DPS group: certificate for TLS servers only" dps reg-server $(x509_args reg-server) 'sub:$dps/registrations/res/#'
leaf_ext ind-server ind-server self 'extendedKeyUsage=serverAuth\n'
"$L" dps enrollment create --registration-id ind-server --cert "$T/ind-server.pem" >/dev/null
expect_refused "DPS individual enrollment: certificate for TLS servers only" \
  dps ind-server $(x509_args ind-server) 'sub:$dps/registrations/res/#'

# --- validity not yet begun (CA and thumbprint mode) -----------------------
mkdir -p "$T/ca-db"; : >"$T/ca-db/index.txt"; echo 2000 >"$T/ca-db/serial"
printf '[ca]\ndefault_ca=c\n[c]\ndatabase=%s\nnew_certs_dir=%s\nserial=%s\ndefault_md=sha256\npolicy=p\n[p]\ncommonName=supplied\n' \
  "$T/ca-db/index.txt" "$T/ca-db" "$T/ca-db/serial" >"$T/ca-db/ca.cnf"
openssl ecparam -name prime256v1 -genkey -noout -out "$T/future.key" 2>/dev/null
openssl req -new -key "$T/future.key" -subj "/CN=future" -out "$T/future.csr" 2>/dev/null
openssl ca -batch -config "$T/ca-db/ca.cnf" -cert "$T/root.pem" -keyfile "$T/root.key" -in "$T/future.csr" \
  -out "$T/future.pem" -startdate 20990101000000Z -enddate 20990201000000Z -notext >/dev/null 2>&1 || fail "openssl ca"
"$L" device create --id future --auth x509-ca >/dev/null
"$L" device create --id future-tp --auth x509-thumbprint --cert "$T/future.pem" >/dev/null
expect_refused "CA mode: certificate not valid before 2099" mqttc future $(x509_args future)
expect_refused "thumbprint mode: certificate not valid before 2099" mqttc future-tp $(x509_args future)

# --- DPS re-provisioning replaces both credentials -------------------------
REGISTER() { echo "pub0:\$dps/registrations/PUT/iotdps-register/?\$rid=1:{\"registrationId\":\"$1\"}"; }
POLL='pub0:$dps/registrations/GET/iotdps-get-operationstatus/?$rid=2&operationId=${op}:'
K1=$(head -c 32 /dev/urandom | base64); K2=$(head -c 32 /dev/urandom | base64); EK=$(head -c 32 /dev/urandom | base64)
"$L" device create --id rp-sas --auth sas --primary-key "$K1" --secondary-key "$K2" >/dev/null
"$L" dps enrollment create --registration-id rp-sas --attestation symmetric-key --primary-key "$EK" >/dev/null
exp=$(( $(date +%s) + 600 ))
out=$(dps rp-sas --pass "$(sas_token "$SCOPE/registrations/rp-sas" "$EK" $exp registration)" 'sub:$dps/registrations/res/#' \
      "$(REGISTER rp-sas)" 'expect:res/202/' 'capture:op:operationId' "$POLL" 'expect:res/200/')
grep_in "$out" -q '"status":"assigned"' || fail "rp-sas not assigned: $out"
mqttc rp-sas --pass "$(sas_token localhost/devices/rp-sas "$EK" $exp)" 'pub:devices/rp-sas/messages/events/:new-key' \
  >/dev/null || fail "the re-provisioned key does not work"
expect_refused "old primary key after DPS re-provisioning" mqttc rp-sas --pass "$(sas_token localhost/devices/rp-sas "$K1" $exp)"
expect_refused "old secondary key after DPS re-provisioning" mqttc rp-sas --pass "$(sas_token localhost/devices/rp-sas "$K2" $exp)"

leaf_ext rp-old1 rp-x self 'extendedKeyUsage=clientAuth\n'
leaf_ext rp-old2 rp-x self 'extendedKeyUsage=clientAuth\n'
leaf_ext rp-new rp-x self 'extendedKeyUsage=clientAuth\n'
th() { openssl x509 -in "$T/$1.pem" -outform DER | sha256sum | cut -c1-64; }
"$L" device create --id rp-x --auth x509-thumbprint --thumbprint "$(th rp-old1)" --secondary-thumbprint "$(th rp-old2)" >/dev/null
pub_ok rp-x rp-old2
"$L" dps enrollment create --registration-id rp-x --cert "$T/rp-new.pem" >/dev/null
out=$(dps rp-x $(x509_args rp-new) 'sub:$dps/registrations/res/#' "$(REGISTER rp-x)" 'expect:res/202/' \
      'capture:op:operationId' "$POLL" 'expect:res/200/')
grep_in "$out" -q '"status":"assigned"' || fail "rp-x not assigned: $out"
pub_ok rp-x rp-new
expect_refused "old primary thumbprint after DPS re-provisioning" mqttc rp-x $(x509_args rp-old1)
expect_refused "old secondary thumbprint after DPS re-provisioning" mqttc rp-x $(x509_args rp-old2)

# --- SAS key length --------------------------------------------------------
k15=$(head -c 15 /dev/urandom | base64); k16=$(head -c 16 /dev/urandom | base64)
k64=$(head -c 64 /dev/urandom | base64 -w0); k65=$(head -c 65 /dev/urandom | base64 -w0)
bad_key() { # WHAT ARGS...: refused with the key rule, nothing created
  local what=$1 out; shift
  if out=$("$L" "$@" 2>&1); then fail "$what: accepted"; fi
  grep_in "$out" -q "16..64 bytes" || fail "$what: unclear error: $out"
  ok "$what refused: $out"
}
bad_key "a 3-byte device key" device create --id short1 --auth sas --primary-key QUJD --secondary-key "$k16"
bad_key "a 15-byte secondary key" device create --id short2 --auth sas --primary-key "$k16" --secondary-key "$k15"
bad_key "a 65-byte device key" device create --id long1 --auth sas --primary-key "$k65" --secondary-key "$k16"
bad_key "a 3-byte module key" module create --device ku-good --module m2 --primary-key QUJD --secondary-key "$k16"
bad_key "a 3-byte enrollment key" dps enrollment create --registration-id short3 --attestation symmetric-key \
  --primary-key QUJD --secondary-key "$k16"
bad_key "a 3-byte group key" dps enrollment-group create --group-id short4 --attestation symmetric-key \
  --primary-key QUJD --secondary-key "$k16"
for id in short1 short2 long1; do
  "$L" device show --id $id >/dev/null 2>&1 && fail "device $id was created with a refused key"
done
"$L" device create --id keys-16-64 --auth sas --primary-key "$k16" --secondary-key "$k64" >/dev/null || fail "16/64-byte keys refused"
ok "16- and 64-byte keys are accepted"
