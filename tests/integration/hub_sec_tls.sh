#!/usr/bin/env bash
# localhub's TLS side against an unauthenticated client (brief HUBSEC). The
# chain an intermediate-signed device sent stays with its TLS session. Before,
# it was kept only in a bounded table by leaf digest, and eight handshakes
# with leaves made to land in the victim's slot (no CONNECT needed, refused
# anyway) displaced it: the victim's resumed session then got CONNACK 5 on
# every reconnect, until it happened to make a full handshake. And TLS 1.2
# offers exactly the four suites IoT Hub enforces.
. "$(dirname "$0")/hub_lib.sh"
COLLIDE="$TMA_BUILD_DIR/tests/hub_sec_collide"
hub_start
mk_ca root; ca_add_verified root
mk_ca inter root
"$L" device create --id dev1 --auth x509-ca >/dev/null
mk_leaf dev1 dev1 inter
cat "$T/dev1.pem" "$T/inter.pem" >"$T/dev1chain.pem"
# the attacker's template: any self-signed certificate and its key
mk_leaf evil evil root selfsigned
"$COLLIDE" "$T/dev1.pem" "$T/evil.pem" "$T/collide" 8 >/dev/null || fail "could not make colliding certificates"

for v in 1.2 1.3; do
  mqttc dev1 --cert "$T/dev1chain.pem" --key "$T/dev1.key" --tls-max $v sleep:2500 reconnect >"$T/victim.out" 2>&1 &
  VIC=$!
  wait_state dev1 Connected
  for i in 1 2 3 4 5 6 7 8; do
    "$MQTTC" --port "$PORT" --cafile "$CAF" --id evil --user "$(user_for evil)" --cert "$T/collide$i.pem" \
      --key "$T/evil.key" >"$T/evil.out" 2>&1 || true
    grep -q "CONNACK 5" "$T/evil.out" || fail "attacker handshake $i did not complete: $(cat "$T/evil.out")"
  done
  wait $VIC || true
  out=$(cat "$T/victim.out")
  grep_in "$out" -q '^TLS resumed' || fail "TLS $v: the victim's session was not resumed (test needs it): $out"
  [ "$(grep_in "$out" -c '^CONNACK 0')" -eq 2 ] || fail "TLS $v: resumed session refused after the flood: $out"
  ok "TLS $v: eight colliding handshakes do not cost the victim its chain on resumption"
done

# TLS 1.2 suites: exactly IoT Hub's four (spec 1.1): a suite without forward
# secrecy, with CBC-SHA1, DHE or ChaCha20 is refused in the handshake.
suite() { echo | timeout 10 openssl s_client -connect "127.0.0.1:$PORT" -servername localhost -tls1_2 \
  -cipher "$1" -CAfile "$CAF" -cert "$T/dev1.pem" -key "$T/dev1.key" 2>&1 || true; }
for c in ECDHE-RSA-AES128-GCM-SHA256 ECDHE-RSA-AES256-GCM-SHA384 ECDHE-RSA-AES128-SHA256 ECDHE-RSA-AES256-SHA384; do
  out=$(suite "$c")
  grep_in "$out" -q "Cipher is $c" || fail "IoT Hub suite $c refused: $out"
done
for c in AES128-SHA AES128-GCM-SHA256 AES256-SHA256 ECDHE-RSA-AES128-SHA DHE-RSA-AES128-GCM-SHA256 \
         ECDHE-RSA-CHACHA20-POLY1305; do
  out=$(suite "$c")
  grep_in "$out" -q "Cipher is $c" && fail "suite $c accepted"
  grep_in "$out" -qi "handshake failure\|no shared cipher\|alert" || fail "suite $c: no handshake failure: $out"
done
ok "TLS 1.2: IoT Hub's four ECDHE-RSA suites accepted; static RSA, CBC-SHA1, DHE and ChaCha20 refused"
