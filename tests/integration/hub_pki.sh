#!/usr/bin/env bash
# localhub's server certificate is renewed at start from the same root when
# it ends within 30 days or has ended (wrap13 F3: made once for 825 days,
# then every device's handshake failed); the root is kept (the devices' trust
# anchor) and only reported when it ends within a year.
. "$(dirname "$0")/hub_lib.sh"
P="$LOCALHUB_HOME/pki"
hub_start
"$L" stop >/dev/null
root_fp=$(openssl x509 -in "$P/root-ca.pem" -noout -fingerprint -sha256)
"$L" device create --id d1 --auth sas >/dev/null
TOK=$("$L" generate-sas-token --device d1 --duration 3600)

# issue SUBJECT-ARGS...: a server certificate from the hub's own root, the
# hub's extensions, with the openssl x509 date options given.
issue() {
  printf 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\nsubjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1\n' >"$T/srv.ext"
  openssl req -new -key "$P/server.key" -subj "/O=localhub/CN=localhost" -out "$T/srv.csr" 2>/dev/null
  openssl x509 -req -in "$T/srv.csr" -CA "$P/root-ca.pem" -CAkey "$P/root-ca.key" -CAcreateserial \
    -extfile "$T/srv.ext" "$@" -out "$P/server.pem" 2>/dev/null
}
# check_renewed WHAT: start renewed the server certificate: chains to the
# same root, valid for 800 days at least, and devices connect.
check_renewed() {
  hub_start
  grep -q "server certificate .* renewed with the same root CA" "$T/start.out" ||
    fail "$1: start did not report a renewal: $(cat "$T/start.out")"
  openssl verify -CAfile "$P/root-ca.pem" "$P/server.pem" >/dev/null || fail "$1: renewed certificate does not chain to the root"
  openssl x509 -in "$P/server.pem" -noout -checkend $((800 * 86400)) >/dev/null ||
    fail "$1: renewed certificate ends within 800 days: $(openssl x509 -in "$P/server.pem" -noout -enddate)"
  [ "$(openssl x509 -in "$P/root-ca.pem" -noout -fingerprint -sha256)" = "$root_fp" ] || fail "$1: the root CA changed"
  mosquitto_pub -h localhost -p "$PORT" --cafile "$CAF" -V mqttv311 -i d1 -u "$(user_for d1)" -P "$TOK" -q 1 \
    -t devices/d1/messages/events/ -m "after-$1" || fail "$1: device cannot connect with the renewed certificate"
  wait_log "\"payload\":\"after-$1\""
  "$L" stop >/dev/null
}

issue -days 1
openssl x509 -in "$P/server.pem" -noout -checkend 172800 >/dev/null && fail "setup: certificate should end within 2 days"
check_renewed "ends in 1 day"
ok "server certificate ending in 1 day renewed at start from the same root (openssl verify, > 800 days, device connects)"

# already expired (dates in the past, as with 'openssl ca')
openssl req -new -key "$P/server.key" -subj "/O=localhub/CN=localhost" -out "$T/srv.csr" 2>/dev/null
sign_expired "$P/root-ca.pem" "$P/root-ca.key" "$T/srv.csr" "$P/server.pem" || fail "setup: openssl ca"
openssl verify -CAfile "$P/root-ca.pem" "$P/server.pem" >/dev/null 2>&1 && fail "setup: certificate should be expired"
check_renewed "expired"
ok "expired server certificate renewed at start"

# a certificate far from its end is kept
before=$(openssl x509 -in "$P/server.pem" -noout -fingerprint -sha256)
hub_start
grep -q renewed "$T/start.out" && fail "a certificate with 825 days left was renewed"
[ "$(openssl x509 -in "$P/server.pem" -noout -fingerprint -sha256)" = "$before" ] || fail "server certificate changed"
"$L" --json status | grep_all -q '"serverCertNotAfter"' || fail "status lacks serverCertNotAfter"
"$L" --json status | grep_all -q '"warnings":[[:space:]]*\[\]' || fail "status warns with a fresh PKI: $("$L" --json status)"
"$L" stop >/dev/null
ok "a server certificate far from its end is kept; status names its end, no warning"

# A root that ends within a year: start and status warn, the root is kept,
# the renewed server certificate does not outlive it.
openssl genrsa -out "$T/r.key" 2048 2>/dev/null
openssl req -x509 -new -key "$T/r.key" -subj "/O=localhub/CN=localhub root CA" -days 100 -out "$T/r.pem" \
  -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null
cp "$T/r.pem" "$P/root-ca.pem"; cp "$T/r.key" "$P/root-ca.key"
root_fp=$(openssl x509 -in "$P/root-ca.pem" -noout -fingerprint -sha256)
issue -days 2
hub_start
grep -q "warning: the root CA .* expires on" "$T/start.out" || fail "no warning for a root ending in 100 days: $(cat "$T/start.out")"
grep -q "renewed with the same root CA" "$T/start.out" || fail "server certificate not renewed: $(cat "$T/start.out")"
openssl verify -CAfile "$P/root-ca.pem" "$P/server.pem" >/dev/null || fail "renewed certificate does not chain to the 100-day root"
[ "$(openssl x509 -in "$P/root-ca.pem" -noout -fingerprint -sha256)" = "$root_fp" ] || fail "the root CA was replaced"
openssl x509 -in "$P/server.pem" -noout -checkend $((101 * 86400)) >/dev/null &&
  fail "server certificate outlives its root: $(openssl x509 -in "$P/server.pem" -noout -enddate)"
openssl x509 -in "$P/server.pem" -noout -checkend $((90 * 86400)) >/dev/null ||
  fail "server certificate shorter than its root allows: $(openssl x509 -in "$P/server.pem" -noout -enddate)"
"$L" --json status | grep_all -q '"warnings":[[:space:]]*\["root CA expires on' || fail "status does not warn: $("$L" --json status)"
ok "root ending within a year: start and status warn, root kept, server certificate up to the root's end"
grep -q "localhub: the root CA expires on" "$LOCALHUB_HOME/broker.log" || fail "the broker does not warn about the root"
ok "the running broker warns about the root too (broker.log)"
"$L" stop >/dev/null

# A server certificate of your own (not issued by the root) is never
# replaced; start and the broker warn when it nears its end.
openssl req -x509 -new -key "$P/server.key" -subj "/CN=localhost" -days 2 -out "$P/server.pem" \
  -addext subjectAltName=DNS:localhost,IP:127.0.0.1 2>/dev/null
own=$(openssl x509 -in "$P/server.pem" -noout -fingerprint -sha256)
hub_start
grep -q "warning: the server certificate .* was not issued by" "$T/start.out" || fail "no warning for an own certificate: $(cat "$T/start.out")"
[ "$(openssl x509 -in "$P/server.pem" -noout -fingerprint -sha256)" = "$own" ] || fail "an own server certificate was replaced"
grep -q "localhub: the server certificate expires on .*renews it" "$LOCALHUB_HOME/broker.log" || fail "the broker does not warn"
ok "a server certificate not issued by the root is kept; start and broker.log warn"
