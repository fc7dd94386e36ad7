# End-to-end set-up shared by the tests that run a sample with its key in a
# simulated chip against localhub (sourced after tests/lib/shell.sh).
#
# lhc_init NAME: a work folder W (/tmp/NAME.XXXXXX) with the hub state in it,
#   PIDS for background processes, a cleanup trap (stops the hub, kills PIDS,
#   fails on sanitizer reports, removes W), fail MESSAGE (prints the tails of
#   W/*.out), and the shell in W.
# lhc_start_hub: localhub on a random free port: PORT, CAF (the hub's root).
# lhc_device_ca CN: a device CA (ca.key, ca.pem) registered as verified "devca".
# lhc_chip DEVICE_ID [SIM OPTIONS...]: a trustm-sim daemon (W/chip.sock,
#   W/chip.state) personalized for DEVICE_ID by the trustm CLI with ca.pem and
#   the hub root as trust anchor: DEV is its device string.
# Needs LOCALHUB, TRUSTM_SIM, TRUSTM_CLI in the environment.

lhc_init() {
  W=$(mktemp -d "/tmp/$1.XXXXXX")
  export LOCALHUB_HOME="$W/state"
  export TRUSTM_LOCK_DIR="$W" # the chip port lock files go away with the test
  PIDS=()
  trap lhc_cleanup EXIT
  cd "$W"
}

lhc_cleanup() {
  local rc=$? p
  "$LOCALHUB" stop >/dev/null 2>&1 || true
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  # Sanitizer reports fail the test even where they come after the last
  # assertion: the plugin's (logged into the hub state folder by localhub)
  # and those of the simulator and samples (in their *.out files).
  sanitizer_check "$LOCALHUB_HOME" "$W"/*.out || rc=1
  rm -rf "$W"
  exit $rc
}

fail() {
  local f
  echo "FAIL: $*" >&2
  for f in "$W"/*.out; do [ -f "$f" ] && { echo "--- $f" >&2; tail -15 "$f" >&2; }; done
  exit 1
}

lhc_start_hub() {
  local try
  for try in 1 2 3 4 5 6 7 8 9 10; do
    PORT=$((20000 + RANDOM % 40000))
    "$LOCALHUB" start --port "$PORT" > start.out 2>&1 && break
    PORT=""
  done
  [ -n "$PORT" ] || fail "localhub did not start"
  CAF="$LOCALHUB_HOME/pki/root-ca.pem"
}

lhc_device_ca() {
  openssl ecparam -name prime256v1 -genkey -noout -out ca.key 2>/dev/null
  openssl req -x509 -new -key ca.key -subj "/CN=$1" -days 30 -out ca.pem \
    -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null
  "$LOCALHUB" ca add devca ca.pem --verified > /dev/null
}

lhc_chip() {
  local id=$1 i
  shift
  "$TRUSTM_SIM" --socket "$W/chip.sock" --state "$W/chip.state" "$@" > sim.out 2>&1 &
  PIDS+=($!)
  for i in $(seq 1 100); do [ -S "$W/chip.sock" ] && break; sleep 0.05; done
  DEV="sim:$W/chip.sock"
  "$TRUSTM_CLI" --device "$DEV" personalize --device-id "$id" --ca-cert ca.pem --ca-key ca.key \
    --trust-anchor "$CAF" > pers.out 2>&1 || fail "personalize"
}
