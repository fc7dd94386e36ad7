#!/usr/bin/env bash
# scripts/demo's command line: --help, and bad arguments or a bad build folder
# refused with one clear line and no service started.
set -euo pipefail
: "${TMA_SOURCE_DIR:?set by ctest}" "${TMA_BUILD_DIR:?set by ctest}"
DEMO=$TMA_SOURCE_DIR/scripts/demo
W=$(mktemp -d /tmp/demo_args.XXXXXX)
trap 'rm -rf "$W"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

bash "$DEMO" --help >"$W/help" || fail "--help exit status"
grep -q '^Usage: scripts/demo \[--dps\] \[--keep\]' "$W/help" || fail "--help text: $(head -3 "$W/help")"
grep -q -- '--break' "$W/help" && fail "--help shows the hidden test switch"

# expect STATUS PATTERN ARGS...: exit STATUS, one line on stderr matching PATTERN.
expect() {
  local want=$1 pat=$2 rc=0
  shift 2
  TMA_DEMO_DIR=$W/d bash "$DEMO" "$@" >"$W/out" 2>"$W/err" || rc=$?
  [ "$rc" -eq "$want" ] || fail "'$*': exit $rc, expected $want"
  [ "$(wc -l <"$W/err")" -eq 1 ] || fail "'$*': expected one error line, got: $(cat "$W/err")"
  grep -q -- "$pat" "$W/err" || fail "'$*': $(cat "$W/err")"
  [ ! -e "$W/d/chip.sock" ] || fail "'$*' started the simulator"
  echo "refused: $* -> $(cat "$W/err")"
}
expect 2 "unknown option '--bogus'" --bogus
expect 2 "--break takes unverified-ca, wrong-trust-anchor or disabled-device" --break everything
expect 2 "--break needs a value" --break
TMA_BUILD_DIR=$W/nowhere expect 1 "is not a folder"
mkdir -p "$W/empty"
TMA_BUILD_DIR=$W/empty expect 1 "is missing"
echo PASS
