# Shared helpers for the iothub integration scripts (sourced).
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/../lib/shell.sh"
: "${TMA_BUILD_DIR:?}" "${TMA_SOURCE_DIR:?}"
DEV="$TMA_BUILD_DIR/tests/iothub_testdev"
WORK=$(mktemp -d /tmp/iothub_it.XXXXXX)
BROKER_PID=""
PIDS=()

cleanup() {
  local p
  for p in "${PIDS[@]}" $BROKER_PID; do
    kill -9 "$p" 2>/dev/null || true
  done
  wait 2>/dev/null || true
  if [ -z "${IOTHUB_KEEP:-}" ]; then rm -rf "$WORK"; else echo "kept $WORK" >&2; fi
}
trap cleanup EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }

# make_broker_pki: a CA (ca.key, ca.pem) and a server certificate for
# "localhost" (srv.key, srv.pem) in $WORK, for BROKER_TLS=1 start_broker.
make_broker_pki() {
  ( cd "$WORK"
    openssl ecparam -name prime256v1 -genkey -noout -out ca.key 2>/dev/null
    openssl req -x509 -new -key ca.key -subj "/CN=iothub test CA" -days 2 -out ca.pem \
      -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null
    openssl ecparam -name prime256v1 -genkey -noout 2>/dev/null | openssl pkcs8 -topk8 -nocrypt -out srv.key
    openssl req -new -key srv.key -subj "/CN=localhost" -out srv.csr 2>/dev/null
    printf 'subjectAltName=DNS:localhost\nextendedKeyUsage=serverAuth\n' > srv.ext
    openssl x509 -req -in srv.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -extfile srv.ext \
      -out srv.pem 2>/dev/null
    chmod 0755 "$WORK"; chmod 0644 ./* ) || fail "test PKI"
}

# start_broker [persist]: start mosquitto on a free random loopback port.
# With BROKER_TLS=1, PORT is a TLS listener (make_broker_pki's certificate)
# and PPORT = PORT + 1 a plain one, for a checking subscriber.
start_broker() {
  local persist=${1:-}
  local try
  for try in 1 2 3 4 5 6 7 8 9 10; do
    PORT=${PORT_FIXED:-$((20000 + RANDOM % 30000))}
    PPORT=$((PORT + 1))
    {
      echo "listener $PORT 127.0.0.1"
      if [ -n "${BROKER_TLS:-}" ]; then
        echo "certfile $WORK/srv.pem"
        echo "keyfile $WORK/srv.key"
        echo "tls_version tlsv1.2"
        echo "listener $PPORT 127.0.0.1"
      fi
      echo "allow_anonymous true"
      echo "max_queued_messages 0"
      echo "max_inflight_messages ${BROKER_INFLIGHT:-0}"
      # the default log types plus subscriptions, so wait_sub can see them
      for t in error warning notice information subscribe; do echo "log_type $t"; done
      if [ -n "$persist" ]; then
        # mosquitto started as root drops to user "mosquitto": the store
        # directory must be writable for it.
        chmod 0711 "$WORK" && mkdir -p "$WORK/db" && chmod 0777 "$WORK/db"
        echo "persistence true"
        echo "persistence_location $WORK/db/"
      fi
    } > "$WORK/mosquitto.conf"
    mosquitto -c "$WORK/mosquitto.conf" > "$WORK/broker.log" 2>&1 &
    BROKER_PID=$!
    local i
    for i in $(seq 1 100); do
      if ! kill -0 $BROKER_PID 2>/dev/null; then break; fi
      if grep -q "mosquitto version .* running" "$WORK/broker.log"; then return 0; fi
      sleep 0.05
    done
    kill -9 $BROKER_PID 2>/dev/null || true
    wait $BROKER_PID 2>/dev/null || true
    BROKER_PID=""
    [ -n "${PORT_FIXED:-}" ] && sleep 0.2
  done
  cat "$WORK/broker.log" >&2
  fail "mosquitto did not start"
}

# restart_broker SIGNAL: stop the broker with SIGNAL and start it again on the same port.
restart_broker() {
  kill -"$1" $BROKER_PID 2>/dev/null || true
  wait $BROKER_PID 2>/dev/null || true
  BROKER_PID=""
  PORT_FIXED=$PORT start_broker persist
}

# wait_for FILE PATTERN SECONDS
wait_for() {
  local i
  for i in $(seq 1 $(( $3 * 20 ))); do
    if grep -q -- "$2" "$1" 2>/dev/null; then return 0; fi
    sleep 0.05
  done
  echo "--- $1:" >&2; tail -20 "$1" >&2 || true
  fail "timeout waiting for '$2' in $1"
}

# wait_sub CLIENT_ID: wait until the broker has logged a subscription of
# CLIENT_ID (log line "<time>: CLIENT_ID QOS FILTER"), so nothing published
# afterwards can miss it (a fixed sleep races on a loaded machine).
wait_sub() {
  local i
  for i in $(seq 1 400); do
    if grep -qF -- ": $1 " "$WORK/broker.log" 2>/dev/null; then return 0; fi
    sleep 0.05
  done
  cat "$WORK/broker.log" >&2
  fail "timeout waiting for a subscription of $1"
}
