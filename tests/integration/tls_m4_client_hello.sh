#!/usr/bin/env bash
# tls_m4_client_hello: the ClientHello the Cortex-M4 build sends (mbedTLS
# without SHA-512/384, P-256 only: tests/qemu/tls_fw/mbedtls_config_m4.h),
# read back by `openssl s_server -trace`. Every signature_algorithms entry
# must name a hash (the code review CODEREV10 found (none, ECDSA) and
# (none, RSA) twice each: the hash list named SHA-512/384 the build lacks and
# mbedTLS wrote them as hash 0) and every group must be one of 128-bit
# security or more. The handshake must complete.
#   tls_m4_client_hello.sh TRUSTM_SIM TRUSTM_CLI LOCALHUB CACHE_DIR
set -euo pipefail
TLS_TEST=tls_m4_client_hello TLS_TEST_CA="tls hello CA"
. "${TMA_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/qemu/tls_fw/test_lib.sh"

openssl ecparam -name prime256v1 -genkey -noout -out srv.key 2>/dev/null
openssl req -new -key srv.key -subj /CN=localhost -out srv.csr 2>/dev/null
printf 'subjectAltName=DNS:localhost\nextendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature\n' >srv.ext
openssl x509 -req -in srv.csr -CA "$CAF" -CAkey "$LOCALHUB_HOME/pki/root-ca.key" -CAcreateserial -days 2 \
  -extfile srv.ext -out srv.pem 2>/dev/null || fail "cannot issue the s_server certificate from the hub root"

# start_sserver of test_lib.sh with -trace (the ClientHello decoded)
SPORT=""
for _ in 1 2 3 4 5 6 7 8; do
  p=$((20000 + RANDOM % 40000))
  openssl s_server -trace -accept "127.0.0.1:$p" -naccept 1 -rev -tls1_2 -cert srv.pem -key srv.key \
    -CAfile ca.pem -Verify 1 -verify_return_error >"hello.$p.out" 2>&1 &
  spid=$!
  for _ in $(seq 50); do grep -q '^ACCEPT' "hello.$p.out" && break; kill -0 $spid 2>/dev/null || break; sleep 0.1; done
  if grep -q '^ACCEPT' "hello.$p.out" && kill -0 $spid 2>/dev/null; then
    PIDS+=("$spid"); SPORT=$p; break
  fi
  wait $spid 2>/dev/null || true
done
[ -n "$SPORT" ] || fail "openssl s_server did not start"

run_fw hello.txt 40 "host=127.0.0.1,port=$SPORT" tls
wait_fw hello.txt 40
[ "$rc" -eq 0 ] || { cat hello.txt hello.txt.err "hello.$SPORT.out"; fail "the firmware's handshake failed (exit $rc)"; }

python3 - "hello.$SPORT.out" <<'EOF' || { cat "hello.$SPORT.out"; fail "ClientHello check"; }
import re, sys
text = open(sys.argv[1], errors="replace").read()
hello = text.split("ClientHello", 1)
if len(hello) < 2:
    sys.exit("no ClientHello in the trace")
hello = hello[1].split("Sent Record", 1)[0]
def ext(name):
    m = re.search(r"extension_type=%s\(\d+\), length=\d+\n((?:\s{10,}\S.*\n)*)" % name, hello)
    if m is None:
        sys.exit("no %s extension" % name)
    return [l.strip() for l in m.group(1).splitlines() if l.strip()]
bad = 0
sigalgs = ext("signature_algorithms")
print("signature_algorithms:", sigalgs)
for s in sigalgs:
    code = int(re.search(r"\(0x([0-9a-fA-F]{4})\)", s).group(1), 16)
    if code >> 8 == 0 or s.startswith("UNKNOWN"):
        print("FAIL: signature_algorithms entry without a hash or unknown:", s)
        bad += 1
groups = ext("supported_groups")
print("supported_groups:", groups)
weak = [g for g in groups if not re.match(r"(secp256r1|secp384r1|secp521r1|ecdh_x25519|X25519)", g)]
if weak:
    print("FAIL: groups below 128-bit security or unknown:", weak)
    bad += 1
sys.exit(1 if bad else 0)
EOF
echo "ok: tls_m4_client_hello passed in $(secs "$T0") s"
