#!/usr/bin/env bash
# scripts/demo run again in the scratch folder of an earlier run (session 7,
# USER): TMA_DEMO_DIR that is not empty is refused with one line, before any
# service starts and without touching what is there (the second run used to
# reuse the bound chip and the registered CA and stop in step 1 with
# "the hub did not accept the CA certificate").
set -euo pipefail
: "${TMA_SOURCE_DIR:?set by ctest}" "${TMA_BUILD_DIR:?set by ctest}"
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
fails=0
bad() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }
mkdir "$W/d"
echo "an earlier run's chip" >"$W/d/chip.state"
cp "$W/d/chip.state" "$W/before"
rc=0
TMA_DEMO_DIR=$W/d bash "$TMA_SOURCE_DIR/scripts/demo" >"$W/out" 2>"$W/err" || rc=$?
cat "$W/err"
[ "$rc" -eq 1 ] || bad "exit $rc, not 1"
[ "$(wc -l <"$W/err")" -eq 1 ] || bad "not one line on stderr"
grep -q "TMA_DEMO_DIR=$W/d is not empty" "$W/err" || bad "the message does not name the folder"
[ ! -e "$W/d/chip.sock" ] && [ ! -e "$W/d/hub" ] || bad "a service was started"
cmp -s "$W/d/chip.state" "$W/before" || bad "the folder's content was changed"
[ "$(ls -A "$W/d")" = "chip.state" ] || bad "files were added: $(ls -A "$W/d")"
# An empty folder given by the caller is fine: --help-free check that the
# refusal is about content, not existence (nothing is run: a missing build).
mkdir "$W/empty"
rc=0
TMA_DEMO_DIR=$W/empty TMA_BUILD_DIR=$W/nobuild bash "$TMA_SOURCE_DIR/scripts/demo" >/dev/null 2>"$W/err2" || rc=$?
grep -q "is not empty" "$W/err2" && bad "an empty folder was refused as not empty"
[ "$fails" -eq 0 ] || exit 1
echo "all checks passed"
