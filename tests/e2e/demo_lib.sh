# Shared by tests/e2e/demo_*.sh (sourced): runs scripts/demo from the
# already-built tree (TMA_BUILD_DIR, set by ctest) in a scratch folder the
# test owns, and stops whatever the demo left running (--keep) on exit.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/../lib/shell.sh"
: "${TMA_SOURCE_DIR:?set by ctest}" "${TMA_BUILD_DIR:?set by ctest}" "${LOCALHUB:?}" "${TRUSTM_CLI:?}"
W=$(mktemp -d /tmp/demo_e2e.XXXXXX)
D=$W/demo
export TRUSTM_LOCK_DIR=$W   # the chip port's lock file, out of /tmp
cleanup() {
  local pid
  # The demo writes its simulator's pid as soon as it runs (sim.pid) and
  # stops its own services when it fails; with --keep they are ours to stop.
  if [ -f "$D/sim.pid" ]; then
    pid=$(cat "$D/sim.pid")
    [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
  fi
  if [ -d "$D/hub" ]; then "$LOCALHUB" --state "$D/hub" stop >/dev/null 2>&1 || true; fi
  rm -rf "$W"
}
trap cleanup EXIT
trap 'exit 143' TERM INT
fail() {
  echo "FAIL: $*" >&2
  [ -f "$W/demo.out" ] && { echo "--- demo transcript (last 40 lines)" >&2; tail -40 "$W/demo.out" >&2; }
  exit 1
}

# run_demo ARGS...: the demo; sets RC and leaves the transcript in $W/demo.out.
run_demo() {
  RC=0
  TMA_DEMO_DIR=$D bash "$TMA_SOURCE_DIR/scripts/demo" "$@" >"$W/demo.out" 2>&1 || RC=$?
}

# need FIXED_STRING: the transcript contains this line fragment.
need() { grep -qF -- "$1" "$W/demo.out" || fail "transcript lacks: $1"; }

# chip_stats PORT: the simulator's statistics JSON (socket protocol op 0x05)
# over its loopback TCP port.
chip_stats() {
  local fd hdr hi lo
  exec {fd}<>"/dev/tcp/127.0.0.1/$1"
  printf '\x05\x00\x00\x00' >&"$fd"
  hdr=$(dd bs=1 count=3 <&"$fd" 2>/dev/null | od -An -tu1)
  read -r _ hi lo <<<"$hdr"
  dd bs=$((hi * 256 + lo)) count=1 iflag=fullblock <&"$fd" 2>/dev/null
  exec {fd}>&-
}
# stat_count JSON NAME: how often the chip executed command NAME.
stat_count() {
  grep -o "\"name\":\"$2\",\"count\":[0-9]*" <<<"$1" | sed 's/.*://' | awk '{s+=$1} END {print s+0}'
}

# check_chip_side: the chip's view of the run, from the simulator's own
# counters and its bus trace (independent of what the demo printed).
check_chip_side() {
  local trace=$D/chip.trace env=$D/demo.env port hello stats signs plain_before plain_after
  [ -f "$env" ] || fail "the demo wrote no demo.env"
  port=$(sed -n 's/^SIM_TCP=//p' "$env")
  # The binding's handshake (first SCTR Hello) splits the trace.
  hello=$(grep -n -m1 'PRL SCTR 00 Hello' "$trace" | cut -d: -f1)
  [ -n "$hello" ] || fail "no shielded-connection handshake in the trace"
  head -n $((hello - 1)) "$trace" >"$W/plain.trace"
  tail -n +"$hello" "$trace" >"$W/shielded.trace"

  # The key object is never read. The pattern does match a data read: the
  # factory certificate 0xE0E0 read in step 0 must be found by it.
  grep -qE ' W 30 .* 81 00 00 0[26] E0 E0 .*GetDataObject' "$W/plain.trace" \
    || fail "the read of 0xE0E0 is not in the trace (the key-read check would be blind)"
  if grep -E ' W 30 .* [08]1 00 00 0[26] E0 F[0-3] .*GetDataObject' "$trace"; then
    fail "a private-key object was read"
  fi

  # After binding: no plaintext APDU at all, only protected records.
  plain_after=$(grep -c 'APDU' "$W/shielded.trace" || true)
  [ "$plain_after" -eq 0 ] || fail "$plain_after plaintext APDUs after binding"
  grep -q 'CalcSign' "$W/shielded.trace" && fail "CalcSign in plaintext after binding"
  grep -qE 'PRL SCTR 2[02] ' "$W/shielded.trace" && fail "a record with an unprotected command after binding"
  grep -qE ' W 30 .*PRL SCTR 2[13] record\(protected\)' "$W/shielded.trace" \
    || fail "no protected command records after binding"

  # The chip computed more signatures than the trace shows in plaintext: the
  # rest (the TLS handshakes) travelled inside protected records.
  stats=$(chip_stats "$port")
  signs=$(stat_count "$stats" CalcSign)
  plain_before=$(grep -c ' W 30 .*APDU B1 CalcSign' "$W/plain.trace" || true)
  [ "$plain_before" -eq 1 ] || fail "expected the CSR's signature in plaintext before binding, saw $plain_before"
  echo "chip: CalcSign executed $signs times, $plain_before in plaintext (the CSR, before binding)"
  [ "$signs" -ge $((plain_before + ${1:-1})) ] || fail "the chip signed too rarely: $signs"

  # The key's metadata forbids reading it (checked over the shielded link).
  "$TRUSTM_CLI" --device "sim:$D/chip.sock" --binding "$D/binding.key" metadata show --oid 0xE0F1 >"$W/meta.out" \
    || fail "metadata of 0xE0F1"
  grep -qE 'read: +NEV' "$W/meta.out" || fail "0xE0F1 is readable: $(cat "$W/meta.out")"
}

# check_stopped: nothing the demo started is still running.
check_stopped() {
  local i
  for i in $(seq 1 20); do
    pgrep -f -- "$D/" >/dev/null || return 0
    sleep 0.1
  done
  pgrep -af -- "$D/" >&2 || true
  fail "the demo left processes running"
}
