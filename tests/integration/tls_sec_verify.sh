#!/usr/bin/env bash
# TLS binding, server verification from a hostile server's side (brief
# HUBSEC): every certificate below is refused with a reason that names it.
# The cases tls_handshake.sh does not already cover: a server certificate
# that is not valid yet, one whose extended key usage excludes TLS servers,
# a chain whose intermediate the server does not send, a certificate signed
# by a leaf (not a CA), a name that only the subject CN carries while the
# SAN names another host, and a server that is its own (untrusted) root.
# Needs TLS_TEST_CLIENT (set by tests/tls.cmake).
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/../lib/shell.sh"
CLIENT=${TLS_TEST_CLIENT:?set by ctest}
W=$(mktemp -d)
SRV_PID=""
cleanup() {
  if [ -n "$SRV_PID" ]; then kill "$SRV_PID" 2>/dev/null || true; wait "$SRV_PID" 2>/dev/null || true; fi
  rm -rf "$W"
}
trap cleanup EXIT
cd "$W"
fail() { echo "FAIL: $*"; exit 1; }

ec() { openssl ecparam -name prime256v1 -genkey -noout -out "$1" 2>/dev/null; }
ec ca.key
openssl req -x509 -new -key ca.key -subj "/CN=Sec Root" -days 30 -out ca.pem \
  -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null
ec dev.key
openssl req -new -key dev.key -subj "/CN=dev-sec" -out dev.csr 2>/dev/null
printf 'extendedKeyUsage=clientAuth\n' >dev.ext
openssl x509 -req -in dev.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 30 -extfile dev.ext -out dev.pem 2>/dev/null
ec srv.key
openssl req -new -key srv.key -subj "/CN=localhost" -out srv.csr 2>/dev/null
# issue NAME EXTLINES [CA-NAME]: server certificate NAME.pem for srv.key
issue() {
  local ca=${3:-ca}
  printf "$2" >"$1.ext"
  openssl x509 -req -in srv.csr -CA "$ca.pem" -CAkey "$ca.key" -CAcreateserial -days 30 -extfile "$1.ext" \
    -out "$1.pem" 2>/dev/null || fail "issue $1"
}
issue good 'subjectAltName=DNS:localhost\nextendedKeyUsage=serverAuth\n'
issue eku_client 'subjectAltName=DNS:localhost\nextendedKeyUsage=clientAuth\n'
# The SAN names another host: the CN "localhost" must not count (RFC 6125).
issue san_other 'subjectAltName=DNS:iothub.example.com\nextendedKeyUsage=serverAuth\n'
# An intermediate CA the server does not send.
ec mid.key
openssl req -new -key mid.key -subj "/CN=Sec Intermediate" -out mid.csr 2>/dev/null
printf 'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign\n' >mid.ext
openssl x509 -req -in mid.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 30 -extfile mid.ext -out mid.pem 2>/dev/null
issue via_mid 'subjectAltName=DNS:localhost\nextendedKeyUsage=serverAuth\n' mid
# A leaf (CA:FALSE) used as the issuer of the server certificate.
ec leaf.key
openssl req -new -key leaf.key -subj "/CN=Sec Leaf" -out leaf.csr 2>/dev/null
printf 'basicConstraints=critical,CA:FALSE\n' >leaf.ext
openssl x509 -req -in leaf.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 30 -extfile leaf.ext -out leaf.pem 2>/dev/null
issue via_leaf 'subjectAltName=DNS:localhost\nextendedKeyUsage=serverAuth\n' leaf
# Self-signed server certificate (its own root, not trusted by the device).
openssl req -x509 -new -key srv.key -subj "/CN=localhost" -days 30 -out selfsigned.pem \
  -addext subjectAltName=DNS:localhost 2>/dev/null
# Not valid yet: validity starts in 2099 (openssl ca sets the dates).
mkdir -p ca.db; : >ca.db/index.txt; echo 1000 >ca.db/serial
cat >ca.cnf <<CNF
[ca]
default_ca = d
[d]
database = ca.db/index.txt
new_certs_dir = ca.db
serial = ca.db/serial
default_md = sha256
policy = p
copy_extensions = copy
[p]
commonName = supplied
CNF
printf 'subjectAltName=DNS:localhost\nextendedKeyUsage=serverAuth\n' >future.ext
openssl ca -batch -config ca.cnf -cert ca.pem -keyfile ca.key -in srv.csr -out future.pem -extfile future.ext \
  -startdate 20990101000000Z -enddate 20990201000000Z -notext >/dev/null 2>&1 || fail "openssl ca (future)"

# start_server CERT [CHAIN-FILE]: one s_server accepting one connection,
# sending the certificates of CHAIN-FILE after CERT.
start_server() {
  local cert=$1 chain=()
  [ -z "${2:-}" ] || chain=(-cert_chain "$2")
  s_server_start -cert "$cert" "${chain[@]}" -key srv.key -CAfile ca.pem -tls1_2 -naccept 1 -rev
}
stop_server() { s_server_stop; }
# refused CERT PATTERN WHAT [CHAIN-FILE]: the client must fail with
# "error: ...PATTERN".
refused() {
  local cert=$1 pat=$2 what=$3 out rc=0
  start_server "$cert" "${4:-}"
  out=$("$CLIENT" --host localhost --port "$PORT" --ca ca.pem --cert dev.pem --key dev.key \
        --send $'x\n' --expect x 2>&1) || rc=$?
  stop_server
  [ "$rc" -ne 0 ] || fail "$what: accepted ($out)"
  echo "$out" | grep_all -qE "^error: .*($pat)" || fail "$what: expected '$pat', got: $out"
  echo "ok - $what refused: $(echo "$out" | grep '^error:' | head -1)"
}

# The control: the good certificate is accepted by the same client command.
start_server good.pem
out=$("$CLIENT" --host localhost --port "$PORT" --ca ca.pem --cert dev.pem --key dev.key \
      --send $'abc\n' --expect cba 2>&1) || fail "good server refused: $out"
stop_server
echo "ok - the good server certificate is accepted"

refused future.pem "not valid yet" "a server certificate not valid yet"
refused eku_client.pem "key usage" "a server certificate for client authentication only (EKU)"
refused san_other.pem "not valid for host name 'localhost'" "a SAN naming another host (CN = localhost does not count)"
refused via_mid.pem "not trusted" "a chain without its intermediate"
refused via_leaf.pem "not trusted" "a certificate issued by a leaf (CA:FALSE)" leaf.pem
refused selfsigned.pem "not trusted" "a self-signed server certificate"
# With the intermediate sent, the same leaf is accepted (the refusal above
# was about the missing certificate, not about intermediates as such).
start_server via_mid.pem mid.pem
out=$("$CLIENT" --host localhost --port "$PORT" --ca ca.pem --cert dev.pem --key dev.key \
      --send $'abc\n' --expect cba 2>&1) || fail "chain with its intermediate refused: $out"
stop_server
echo "ok - the same leaf with its intermediate is accepted"
