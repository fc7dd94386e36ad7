# Shared by tests/integration/tls_cli_*.sh (sourced). Needs TRUSTM_CLI and
# TRUSTM_SIM (set by tests/tls.cmake); the CLI is installed into a private
# prefix and run from there, as users run it. Everything lives in a mktemp -d dir,
# daemons are started on unique paths/ports and killed by the EXIT trap.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/../lib/shell.sh"
: "${TRUSTM_CLI:?set by ctest}"
SIMD=${TRUSTM_SIM:?set by ctest}
W=$(mktemp -d)
PIDS=()
cleanup() {
  local p
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  rm -rf "$W"
}
trap cleanup EXIT
cd "$W"
fail() { echo "FAIL: $*"; exit 1; }
# The tests run the installed binary: install the CLI into a prefix of our own.
cmake --install "${TMA_BUILD_DIR:?set by ctest}" --prefix "$W/prefix" --component trustm-cli \
  >/dev/null || fail "cmake --install of trustm failed"
T=$W/prefix/bin/trustm
step() { echo "== $*"; }

# start_sim NAME [extra args]: trustm-sim daemon on $W/NAME.sock with state
# $W/NAME.state and trace $W/NAME.trace; sets DEV=sim:$W/NAME.sock
start_sim() {
  local name=$1; shift
  "$SIMD" --socket "$W/$name.sock" --state "$W/$name.state" --trace "$W/$name.trace" "$@" \
    >"$W/$name.log" 2>&1 &
  PIDS+=($!)
  for _ in $(seq 1 100); do [ -S "$W/$name.sock" ] && break; sleep 0.05; done
  [ -S "$W/$name.sock" ] || fail "trustm-sim did not start: $(cat "$W/$name.log")"
  DEV="sim:$W/$name.sock"
}

# start_tls_server CERT KEY CA NACCEPT: openssl s_server requiring a client
# certificate; sets PORT and SRV_LOG.
start_tls_server() {
  local cert=$1 key=$2 ca=$3 n=$4 try pid
  for try in 1 2 3 4 5 6 7 8 9 10; do
    PORT=$((20000 + RANDOM % 40000))
    SRV_LOG="$W/srv.$PORT.log"
    openssl s_server -accept "127.0.0.1:$PORT" -cert "$cert" -key "$key" -CAfile "$ca" \
      -Verify 1 -verify_return_error -tls1_2 -naccept "$n" -rev </dev/null >"$SRV_LOG" 2>&1 &
    pid=$!
    for _ in $(seq 1 50); do
      grep -q '^ACCEPT' "$SRV_LOG" && { PIDS+=($pid); return 0; }
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true
  done
  fail "s_server did not start"
}

# expect_fail PATTERN CMD...: CMD must exit non-zero with exactly one line on
# stderr, starting with "trustm: " and matching PATTERN.
expect_fail() {
  local pat=$1; shift
  local rc=0
  "$@" >"$W/out" 2>"$W/err" || rc=$?
  [ "$rc" -ne 0 ] || fail "expected failure ($pat): $*"
  [ "$(wc -l <"$W/err")" -eq 1 ] || fail "expected one error line for '$*', got: $(cat "$W/err")"
  grep -q "^trustm: .*$pat" "$W/err" || fail "expected '$pat' for '$*', got: $(cat "$W/err")"
  echo "   refused: $(cat "$W/err")"
}

# PKI made with openssl: a device CA, a server cert for localhost, another CA.
make_pki() {
  openssl ecparam -name prime256v1 -genkey -noout -out ca.key 2>/dev/null
  openssl req -x509 -new -key ca.key -subj "/CN=Test Device CA/O=trustm-azure tests" -days 30 \
    -out ca.pem -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign
  openssl ecparam -name prime256v1 -genkey -noout -out other.key 2>/dev/null
  openssl req -x509 -new -key other.key -subj "/CN=Other CA" -days 30 -out other.pem \
    -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign
  openssl ecparam -name prime256v1 -genkey -noout -out srv.key 2>/dev/null
  openssl req -new -key srv.key -subj "/CN=localhost" -out srv.csr
  printf 'subjectAltName=DNS:localhost\nextendedKeyUsage=serverAuth\n' > srv.ext
  openssl x509 -req -in srv.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 30 \
    -extfile srv.ext -out srv.pem 2>/dev/null
}
