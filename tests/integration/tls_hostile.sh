#!/usr/bin/env bash
# TLS binding against hostile servers (review S10-TLSREV,
# docs/decisions/tls-review.md). Weak curves and hashes: a server leaf on
# P-192, a key exchange on P-192 only, a P-192 intermediate, a SHA-224
# signature (R1, all accepted before). A server that trickles a handshake
# record a byte a second (R2, held the handshake as long as it liked), one
# that stops reading after the handshake (R3, send blocked for ever). And
# what was fine already, kept so it stays so: RSA-1024 leaf, a chain deeper
# than mbedTLS' limit, an intermediate that breaks pathlen, a leaf without
# digitalSignature, a Certificate message over 16 KB, a server that closes
# while the client writes (no SIGPIPE death). Needs TLS_TEST_CLIENT.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/../lib/shell.sh"
CLIENT=${TLS_TEST_CLIENT:?set by ctest}
HOSTILE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/tls_hostile_server.py"
W=$(mktemp -d)
SRV_PID=""
PY_PID=""
cleanup() {
  s_server_stop
  if [ -n "$PY_PID" ]; then kill "$PY_PID" 2>/dev/null || true; wait "$PY_PID" 2>/dev/null || true; fi
  rm -rf "$W"
}
trap cleanup EXIT
cd "$W"
fail() { echo "FAIL: $*"; exit 1; }

ec() { openssl ecparam -name "$1" -genkey -noout -out "$2" 2>/dev/null; }
ec prime256v1 ca.key
openssl req -x509 -new -key ca.key -subj "/CN=Hostile Root" -days 30 -out ca.pem \
  -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null
ec prime256v1 dev.key
openssl req -new -key dev.key -subj "/CN=dev-hostile" -out dev.csr 2>/dev/null
openssl x509 -req -in dev.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 30 -out dev.pem 2>/dev/null
SRV_EXT='subjectAltName=DNS:localhost\nextendedKeyUsage=serverAuth\n'
CA_EXT='basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign\n'
# cert NAME KEYFILE ISSUER EXT [x509 args]: NAME.pem for KEYFILE, signed by ISSUER(.pem/.key)
cert() {
  local name=$1 key=$2 issuer=$3 ext=$4; shift 4
  openssl req -new -key "$key" -subj "/CN=$name" -out "$name.csr" 2>/dev/null
  printf "$ext" >"$name.ext"
  openssl x509 -req -in "$name.csr" -CA "$issuer.pem" -CAkey "$issuer.key" -CAcreateserial -days 30 \
    -extfile "$name.ext" -out "$name.pem" "$@" 2>/dev/null || fail "issue $name"
}
ec prime256v1 srv.key
cert localhost srv.key ca "$SRV_EXT"; cp localhost.pem good.pem

# run_client ARGS...: OUT, RC, MS (elapsed) of one client run.
run_client() {
  local t0=$(date +%s%N)
  RC=0
  OUT=$(timeout 60 "$CLIENT" --host localhost --ca ca.pem --cert dev.pem --key dev.key "$@" 2>&1) || RC=$?
  MS=$(( ($(date +%s%N) - t0) / 1000000 ))
}
# refused WHAT PATTERN CERT KEY [CHAIN] [s_server args]: one s_server, the
# client must exit 2 with an "error:" line matching PATTERN.
refused() {
  local what=$1 pat=$2 crt=$3 key=$4 chain=${5:-}; shift 5 || shift $#
  local extra=()
  [ -z "$chain" ] || extra=(-cert_chain "$chain")
  s_server_start -cert "$crt" -key "$key" "${extra[@]}" -tls1_2 -naccept 1 -rev "$@"
  run_client --port "$PORT" --send $'x\n' --expect x
  s_server_stop
  [ "$RC" -eq 2 ] || fail "$what: exit $RC, not a refusal: $OUT"
  echo "$OUT" | grep_all -qE "^error: .*($pat)" || fail "$what: expected '$pat', got: $OUT"
  echo "ok - $what: $(echo "$OUT" | grep '^error:' | head -1)"
}
LOW='DEFAULT:@SECLEVEL=0' # lets s_server use what its defaults would refuse

# The control: this PKI and this client work.
s_server_start -cert good.pem -key srv.key -tls1_2 -naccept 1 -rev
run_client --port "$PORT" --send $'abc\n' --expect cba
s_server_stop
[ "$RC" -eq 0 ] || fail "good server refused: $OUT"
echo "ok - the good server is accepted"

echo "-- R1: curves and hashes under 128-bit security"
ec prime192v1 p192.key
cert localhost p192.key ca "$SRV_EXT"; mv localhost.pem p192leaf.pem
refused "a server leaf on P-192" "alert 40|unacceptable key" p192leaf.pem p192.key "" -cipher "$LOW"
refused "ECDHE on P-192 only" "alert 40" good.pem srv.key "" -cipher "$LOW" -groups P-192
refused "ECDHE on secp224r1 only" "alert 40" good.pem srv.key "" -cipher "$LOW" -groups P-224
cert "Weak Intermediate" p192.key ca "$CA_EXT"; cp "Weak Intermediate.pem" weakmid.pem; cp p192.key weakmid.key
cert localhost srv.key weakmid "$SRV_EXT"; mv localhost.pem via_weakmid.pem
refused "a P-192 intermediate" "unacceptable key" via_weakmid.pem srv.key weakmid.pem -cipher "$LOW"
cert localhost srv.key ca "$SRV_EXT" -sha224; mv localhost.pem sha224.pem
refused "a SHA-224 signature on the server certificate" "unacceptable hash" sha224.pem srv.key "" -cipher "$LOW"

echo "-- fine before the review, kept"
openssl req -newkey rsa:1024 -nodes -keyout rsa1024.key -subj "/CN=localhost" -out rsa1024.csr 2>/dev/null
printf "$SRV_EXT" >rsa1024.ext
openssl x509 -req -in rsa1024.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 30 -extfile rsa1024.ext \
  -out rsa1024.pem 2>/dev/null
refused "an RSA-1024 server key" "unacceptable key" rsa1024.pem rsa1024.key "" -cipher "$LOW"
# A chain of 10 intermediates (mbedTLS verifies at most 8 plus leaf and root).
prev=ca; : >deep_chain.pem
for i in 1 2 3 4 5 6 7 8 9 10; do
  ec prime256v1 "m$i.key"; cert "M$i" "m$i.key" "$prev" "$CA_EXT"; mv "M$i.pem" "m$i.pem"
  cat "m$i.pem" deep_chain.pem >deep_chain.tmp; mv deep_chain.tmp deep_chain.pem; prev=m$i
done
cert localhost srv.key m10 "$SRV_EXT"; mv localhost.pem deep.pem
refused "a chain of 10 intermediates" "server chain too long" deep.pem srv.key deep_chain.pem
# pathlen:0 on the first intermediate, which then issues a second one.
ec prime256v1 pl0.key; cert "PL0" pl0.key ca 'basicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign\n'
mv PL0.pem pl0.pem
ec prime256v1 pl1.key; cert "PL1" pl1.key pl0 "$CA_EXT"; mv PL1.pem pl1.pem
cert localhost srv.key pl1 "$SRV_EXT"; mv localhost.pem via_pathlen.pem
cat pl1.pem pl0.pem >pathlen_chain.pem
refused "an intermediate beyond pathlen:0" "not trusted" via_pathlen.pem srv.key pathlen_chain.pem
cert localhost srv.key ca "${SRV_EXT}keyUsage=critical,keyAgreement\n"; mv localhost.pem ku.pem
# (OpenSSL itself declines to sign with such a key: alert 40 before our check.)
refused "an ECDSA leaf without digitalSignature" "key usage|alert 40" ku.pem srv.key
# A leaf carrying 1,200 DNS names: its Certificate message is over 16 KB.
{ printf 'subjectAltName=DNS:localhost'; for i in $(seq 1 1200); do printf ',DNS:host%04d.big.example' "$i"; done
  printf '\nextendedKeyUsage=serverAuth\n'; } >big.ext
cert localhost srv.key ca "$(cat big.ext)\n"; mv localhost.pem big.pem
[ "$(stat -c %s big.pem)" -gt 30000 ] || fail "big.pem is not big"
refused "a Certificate message over 16 KB" "a handshake message over 16 KB" big.pem srv.key

# hostile PY-MODE: start tls_hostile_server.py, sets PORT and PY_PID.
hostile() {
  rm -f port
  python3 "$HOSTILE" "$1" port good.pem srv.key >py.log 2>&1 &
  PY_PID=$!
  for _ in $(seq 1 100); do [ -s port ] && break; sleep 0.05; done
  [ -s port ] || fail "hostile server $1 did not start"
  PORT=$(cat port)
}
hostile_stop() { kill "$PY_PID" 2>/dev/null || true; wait "$PY_PID" 2>/dev/null || true; PY_PID=""; }

echo "-- R2: a handshake message trickled a byte a second"
hostile trickle
run_client --port "$PORT" --hs-timeout 2000
hostile_stop
[ "$RC" -eq 2 ] || fail "trickle: exit $RC: $OUT"
echo "$OUT" | grep_all -q '^error: .*timed out' || fail "trickle: no timeout: $OUT"
[ "$MS" -lt 8000 ] || fail "trickle: the handshake took $MS ms with a 2000 ms bound per message"
echo "ok - trickled handshake ends in a timeout after $MS ms (bound 2000 ms per message)"

echo "-- fatal alerts instead of a ServerHello: named in the error, over TCP"
for a in "42:bad certificate: the server rejected the client certificate" "70:protocol version" \
         "112:unrecognized name" "99:see RFC 5246 section 7.2"; do
  hostile "alert:${a%%:*}"
  run_client --port "$PORT" --hs-timeout 5000
  hostile_stop
  [ "$RC" -eq 2 ] || fail "alert ${a%%:*}: exit $RC: $OUT"
  echo "$OUT" | grep_all -qF "error: server aborted the handshake: alert ${a%%:*} (${a#*:})" \
    || fail "alert ${a%%:*}: $OUT"
  echo "ok - alert ${a%%:*}: $(echo "$OUT" | grep '^error:')"
done

echo "-- a record header announcing 65,535 bytes"
hostile oversize
run_client --port "$PORT" --hs-timeout 5000
hostile_stop
[ "$RC" -eq 2 ] || fail "oversize: exit $RC: $OUT"
echo "$OUT" | grep_all -q '^error: .*malformed or oversized record' || fail "oversize: $OUT"
[ "$MS" -lt 4000 ] || fail "oversize: $MS ms"
echo "ok - an oversized record is refused at once ($MS ms): $(echo "$OUT" | grep '^error:')"

echo "-- R3: a server that stops reading after the handshake"
hostile stall
run_client --port "$PORT" --hs-timeout 2000 --flood 400000000
hostile_stop
[ "$RC" -eq 2 ] || fail "stall: exit $RC (124 = still blocked after 60 s): $OUT"
echo "$OUT" | grep_all -qE '^flood: .* after [0-9]+ bytes' || fail "stall: no result line: $OUT"
echo "$OUT" | grep_all -q '^flood: ok' && fail "stall: every send succeeded: $OUT"
[ "$MS" -lt 30000 ] || fail "stall: $MS ms"
echo "ok - sends to a server that stopped reading fail after $MS ms: $(echo "$OUT" | grep '^flood')"

echo "-- a server that closes while the client writes"
hostile close
run_client --port "$PORT" --flood 400000000
hostile_stop
[ "$RC" -eq 2 ] || fail "close: exit $RC (141 = SIGPIPE): $OUT"
echo "$OUT" | grep_all -qE '^flood: .* after [0-9]+ bytes' || fail "close: no result line: $OUT"
echo "$OUT" | grep_all -q '^flood: ok' && fail "close: every send succeeded: $OUT"
echo "ok - writes after the server closed end in $(echo "$OUT" | grep '^flood')"
echo "-- R5: the master secret does not outlive a failed handshake or a close in the SSL context"
ec prime256v1 other.key
openssl req -x509 -new -key other.key -subj "/CN=Other Root" -days 30 -out other.pem 2>/dev/null
# The server trusts another root: it aborts (alert 48) after the client's
# whole flight, when the master secret has been derived.
s_server_start -cert good.pem -key srv.key -tls1_2 -naccept 1 -rev -Verify 1 -verify_return_error \
  -CAfile other.pem
run_client --port "$PORT" --check-wipe
s_server_stop
[ "$RC" -eq 2 ] || fail "wipe: the handshake did not fail: $OUT"
echo "$OUT" | grep_all -q '^wipe after failure: derived=1 in_context=0 saved=0' \
  || fail "wipe: the failed handshake's master secret is still in the context: $OUT"
echo "ok - after a failed handshake: $(echo "$OUT" | grep '^wipe')"
s_server_start -cert good.pem -key srv.key -tls1_2 -naccept 1 -rev
run_client --port "$PORT" --check-wipe --send $'w\n' --expect w
s_server_stop
[ "$RC" -eq 0 ] || fail "wipe: good connect failed: $OUT"
echo "$OUT" | grep_all -q '^wipe after close: derived=1 in_context=0 saved=1' \
  || fail "wipe: after close the master secret is elsewhere than the kept session: $OUT"
echo "ok - after close only the kept session holds it: $(echo "$OUT" | grep '^wipe')"

echo "-- a server that asks for renegotiation (HelloRequest) after the handshake"
# s_server reads commands from its stdin: R = renegotiate requesting a
# client certificate again. The client must refuse (no_renegotiation), never
# run a second handshake.
mkfifo cmd.fifo
exec 7<>cmd.fifo
for try in 1 2 3 4 5 6 7 8 9 10; do
  PORT=$((20000 + RANDOM % 40000)); : >srv.log
  openssl s_server -accept "127.0.0.1:$PORT" -cert good.pem -key srv.key -tls1_2 -naccept 1 -Verify 1 \
    -CAfile ca.pem <&7 >srv.log 2>&1 &
  SRV_PID=$!
  for _ in $(seq 1 50); do grep -q '^ACCEPT' srv.log && break; kill -0 "$SRV_PID" 2>/dev/null || break; sleep 0.1; done
  grep -q '^ACCEPT' srv.log && break
  s_server_stop
done
[ -n "$SRV_PID" ] || fail "s_server for renegotiation did not start"
# R only once the handshake is done (s_server prints the cipher then).
( for _ in $(seq 1 100); do grep -q 'CIPHER is' srv.log && break; sleep 0.1; done
  echo R >&7; sleep 1; echo pong >&7 ) &
run_client --port "$PORT" --send $'ping\n' --expect pong
wait $! 2>/dev/null || true
sleep 0.3
s_server_stop
exec 7>&-
grep -q 'no renegotiation' srv.log || { cat srv.log; fail "renegotiation: the server saw no refusal: $OUT"; }
grep -qE '^ +1 server renegotiates' srv.log || { cat srv.log; fail "renegotiation was not requested"; }
[ "$RC" -eq 2 ] || fail "renegotiation: exit $RC: $OUT"
echo "ok - HelloRequest refused (server log: no renegotiation); client: $(echo "$OUT" | grep '^error:')"

echo "-- an IP address as host: only a dNSName equal to it matches, an iPAddress SAN does not"
cert localhost srv.key ca 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n'; mv localhost.pem ipsan.pem
s_server_start -cert ipsan.pem -key srv.key -tls1_2 -naccept 1 -rev
OUT=$(timeout 60 "$CLIENT" --host 127.0.0.1 --port "$PORT" --ca ca.pem --key dev.key 2>&1) && RC=0 || RC=$?
s_server_stop
[ "$RC" -eq 2 ] || fail "IP host: exit $RC: $OUT"
echo "$OUT" | grep_all -q "not valid for host name '127.0.0.1'" || fail "IP host: $OUT"
echo "ok - IP host against an iPAddress SAN: $(echo "$OUT" | grep '^error:')"
echo PASS
