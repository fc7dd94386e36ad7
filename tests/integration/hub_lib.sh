# Shared helpers for the localhub integration tests (sourced, not run).
# Each test gets its own state folder (mktemp -d) and a random free port; the
# hub is stopped and the folder removed on exit, also on failure.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/../lib/shell.sh"

: "${TMA_BUILD_DIR:?set by ctest}"
L="$TMA_BUILD_DIR/hub/localhub"
MQTTC="$TMA_BUILD_DIR/tests/hub_mqttc"
T=$(mktemp -d /tmp/hubtest.XXXXXX)
export LOCALHUB_HOME="$T/state"
PORT=""
FAILED=0

hub_cleanup() {
  local rc=$? d f
  # Every state folder of this test, not only the last LOCALHUB_HOME: a test
  # that moves to another folder (hub_sec_cli.sh) left its first broker
  # running before (a sanitizer-built mosquitto of about 370 MB per run) and
  # never read that broker's sanitizer reports.
  for d in $(printf '%s\n' "$LOCALHUB_HOME" "$T"/*/ | sed 's:/*$::' | sort -u); do
    [ -d "$d" ] || continue
    LOCALHUB_HOME="$d" "$L" stop >/dev/null 2>&1 || true
    # The plugin runs under ASan/UBSan inside mosquitto: any report fails the test.
    for f in "$d"/asan* "$d"/ubsan*; do
      [ -e "$f" ] || continue
      echo "FAIL: sanitizer report from the broker ($f):" >&2
      cat "$f" >&2
      rc=1
    done
  done
  if pgrep -f "mosquitto -c $T/" >/dev/null 2>&1; then
    echo "FAIL: a broker of this test survived 'localhub stop':" >&2
    pgrep -af "mosquitto -c $T/" >&2
    pkill -f "mosquitto -c $T/" 2>/dev/null || true
    rc=1
  fi
  if [ $rc -ne 0 ] && [ -f "$LOCALHUB_HOME/broker.log" ]; then
    echo "--- broker.log (tail)" >&2
    tail -30 "$LOCALHUB_HOME/broker.log" >&2
  fi
  rm -rf "$T"
  exit $rc
}
trap hub_cleanup EXIT
trap 'exit 1' INT TERM

fail() { echo "FAIL: $*" >&2; exit 1; }
# grep_in TEXT GREP-ARGS...: grep a captured output. Not `grep_in "$x" -q`:
# with pipefail that fails at random when grep -q exits on an early line and
# the shell's next (line-buffered) write gets SIGPIPE.
grep_in() { local text=$1; shift; grep "$@" <<<"$text"; }
ok() { echo "ok - $*"; }

hub_start() {
  local i
  for i in 1 2 3 4 5 6 7 8 9 10; do
    PORT=$((20000 + RANDOM % 40000))
    if "$L" start --port "$PORT" "$@" >"$T/start.out" 2>&1; then
      CAF="$LOCALHUB_HOME/pki/root-ca.pem"
      return 0
    fi
    # another test may hold the port: try another one
    grep -q "in use\|exited" "$T/start.out" || { cat "$T/start.out" >&2; return 1; }
  done
  cat "$T/start.out" >&2
  return 1
}

hub_restart() {
  "$L" stop >/dev/null
  "$L" start --port "$PORT" >/dev/null
}

# mk_ca NAME [PARENT]: EC P-256 CA certificate NAME.pem / NAME.key in $T.
mk_ca() {
  local n=$1 parent=${2:-}
  openssl ecparam -name prime256v1 -genkey -noout -out "$T/$n.key" 2>/dev/null
  if [ -z "$parent" ]; then
    openssl req -x509 -new -key "$T/$n.key" -subj "/CN=$n" -days 30 -out "$T/$n.pem" \
      -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null
  else
    openssl req -new -key "$T/$n.key" -subj "/CN=$n" -out "$T/$n.csr" 2>/dev/null
    printf 'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n' >"$T/$n.ext"
    openssl x509 -req -in "$T/$n.csr" -CA "$T/$parent.pem" -CAkey "$T/$parent.key" -CAcreateserial \
      -days 30 -extfile "$T/$n.ext" -out "$T/$n.pem" 2>/dev/null
  fi
}

# sign_expired CA_PEM CA_KEY CSR OUT: sign CSR with dates in January 2020
# (already expired; 'openssl ca' takes explicit dates), keeping the CSR's
# extensions.
sign_expired() {
  mkdir -p "$T/ca-db"; : >"$T/ca-db/index.txt"; echo 1000 >"$T/ca-db/serial"
  cat >"$T/ca-db/ca.cnf" <<EOF
[ca]
default_ca = c
[c]
database = $T/ca-db/index.txt
new_certs_dir = $T/ca-db
serial = $T/ca-db/serial
default_md = sha256
policy = p
copy_extensions = copy
[p]
commonName = supplied
EOF
  openssl ca -batch -config "$T/ca-db/ca.cnf" -cert "$1" -keyfile "$2" -in "$3" \
    -out "$4" -startdate 20200101000000Z -enddate 20200201000000Z -notext >/dev/null 2>&1
}

# mk_leaf FILE CN CA [selfsigned|expired]: device certificate FILE.pem/.key.
mk_leaf() {
  local f=$1 cn=$2 ca=$3 mode=${4:-}
  openssl ecparam -name prime256v1 -genkey -noout -out "$T/$f.key" 2>/dev/null
  if [ "$mode" = selfsigned ]; then
    openssl req -x509 -new -key "$T/$f.key" -subj "/CN=$cn" -days 10 -out "$T/$f.pem" 2>/dev/null
    return
  fi
  openssl req -new -key "$T/$f.key" -subj "/CN=$cn" -out "$T/$f.csr" 2>/dev/null
  if [ "$mode" = expired ]; then
    sign_expired "$T/$ca.pem" "$T/$ca.key" "$T/$f.csr" "$T/$f.pem"
  else
    openssl x509 -req -in "$T/$f.csr" -CA "$T/$ca.pem" -CAkey "$T/$ca.key" -CAcreateserial -days 10 \
      -out "$T/$f.pem" 2>/dev/null
  fi
}

# ca_add_verified NAME: upload CA NAME and prove possession like the portal flow.
ca_add_verified() {
  local n=$1 code
  code=$("$L" ca add "$n" "$T/$n.pem")
  openssl ecparam -name prime256v1 -genkey -noout -out "$T/$n-pop.key" 2>/dev/null
  openssl req -new -key "$T/$n-pop.key" -subj "/CN=$code" -out "$T/$n-pop.csr" 2>/dev/null
  openssl x509 -req -in "$T/$n-pop.csr" -CA "$T/$n.pem" -CAkey "$T/$n.key" -CAcreateserial -days 1 \
    -out "$T/$n-pop.pem" 2>/dev/null
  "$L" ca verify "$n" "$T/$n-pop.pem" >/dev/null
}

user_for() { echo "localhost/$1/?api-version=2021-04-12"; }

# pub_x509 ID CERTFILE [mosquitto_pub args...]: telemetry with mosquitto_pub.
pub_x509() {
  local id=$1 f=$2; shift 2
  mosquitto_pub -h localhost -p "$PORT" --cafile "$CAF" --cert "$T/$f.pem" --key "$T/$f.key" -V mqttv311 \
    -i "$id" -u "$(user_for "$id")" -q 1 "$@"
}

# expect_refused DESCRIPTION command...: must fail with CONNACK 5 (not authorised).
expect_refused() {
  local what=$1 out; shift
  if out=$("$@" 2>&1); then fail "$what: connection was accepted"; fi
  grep_in "$out" -qi "not authori" || fail "$what: expected CONNACK 5 (not authorised), got: $out"
  ok "$what refused with CONNACK 5"
}

# mqttc ID [--cert F] [--pass P] ... ACTIONS: the raw test client.
mqttc() {
  local id=$1; shift
  "$MQTTC" --port "$PORT" --cafile "$CAF" --id "$id" --user "$(user_for "$id")" "$@"
}

# wait_state ID KIND: until device ID is connected and (unless KIND is
# Connected) its session is subscribed to KIND (c2d, twin-desired, methods...).
wait_state() {
  local i out
  for i in $(seq 1 150); do
    out=$("$L" --json device show "$1")
    if grep_in "$out" -q '"connectionState":[[:space:]]*"Connected"' &&
       { [ "$2" = Connected ] || grep_in "$out" -q "\"$2\""; }; then
      return 0
    fi
    sleep 0.1
  done
  fail "device $1 never reached state $2: $out"
}

# wait_log PATTERN [FILE]: poll the telemetry log (or FILE) until a line
# matches the grep -E PATTERN; fails after 15 s. Use it for positive checks
# instead of a fixed sleep, and run it on the LAST message of a batch before
# the negative checks, so they see a log that already holds the later message.
wait_log() {
  local f=${2:-$LOCALHUB_HOME/telemetry.jsonl} i
  for i in $(seq 1 150); do
    [ -f "$f" ] && grep -qE "$1" "$f" && return 0
    sleep 0.1
  done
  fail "never logged: $1"
}

x509_args() { echo "--cert $T/$1.pem --key $T/$1.key"; }

# sas_token SR KEY_B64 EXPIRY [SKN]: computed with openssl, independently of localhub.
urlenc() {
  local s=$1 out="" c i
  for ((i = 0; i < ${#s}; i++)); do
    c=${s:i:1}
    case "$c" in [a-zA-Z0-9.~_-]) out+="$c" ;; *) out+=$(printf '%%%02X' "'$c") ;; esac
  done
  printf '%s' "$out"
}
sas_token() {
  local sr enc key se=$3 skn=${4:-} sig
  sr=$1; enc=$(urlenc "$sr")
  key=$(printf '%s' "$2" | base64 -d | od -An -tx1 | tr -d ' \n')
  sig=$(printf '%s\n%s' "$enc" "$se" | openssl dgst -sha256 -mac HMAC -macopt "hexkey:$key" -binary | base64)
  printf 'SharedAccessSignature sr=%s&sig=%s&se=%s%s' "$enc" "$(urlenc "$sig")" "$se" "${skn:+&skn=$skn}"
}

# invoke_pending DEVICE NAME TIMEOUT DEVICE_OUT JSON ERR: with DEVICE's mqttc
# already running in the background (its output in DEVICE_OUT, subscribed to
# methods, capturing the call's rid), invoke method NAME on it in the
# background ($INV is that pid, the answer goes to JSON, errors to ERR) and
# wait until the call reached the device (a CAPTURE rid= line).
invoke_pending() {
  local i
  wait_state "$1" methods
  "$L" --json method invoke --device "$1" --name "$2" --timeout "$3" >"$5" 2>"$6" &
  INV=$!
  for i in $(seq 1 50); do grep -q '^CAPTURE rid=' "$4" && break; sleep 0.1; done
  grep -q '^CAPTURE rid=' "$4" || fail "method call not at $1: $(cat "$4")"
}

# Another process (an sqlite3 shell, a backup) holding the registry's write
# lock for SECONDS; $LOCK is its pid, $T/lock.out says locked / released.
lock_registry() {  # SECONDS: hold the registry's write lock from another process
  python3 - "$LOCALHUB_HOME/registry.db" "$1" >"$T/lock.out" <<'PY' &
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute('BEGIN EXCLUSIVE')
print('locked', flush=True)
time.sleep(float(sys.argv[2]))
db.execute('ROLLBACK')
print('released', flush=True)
PY
  LOCK=$!
  for i in $(seq 1 50); do grep -q locked "$T/lock.out" && break; sleep 0.1; done
  grep -q locked "$T/lock.out" || fail "could not lock the registry"
}
