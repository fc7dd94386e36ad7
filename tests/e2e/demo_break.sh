#!/usr/bin/env bash
# One step of the demo broken on purpose (scripts/demo --break WHAT): the demo
# must stop at that step with a message saying what went wrong, run no later
# step, exit 1, and leave nothing running.
# Usage: demo_break.sh WHAT STEP MESSAGE [--dps]
. "$(dirname "$0")/demo_lib.sh"
WHAT=$1 STEP=$2 MSG=$3
shift 3
run_demo --break "$WHAT" "$@"
cat "$W/demo.out"
[ "$RC" -eq 1 ] || fail "demo exit status $RC, expected 1"
line=$(grep -E '^(\x1b\[[0-9;]*m)?✗ Step ' "$W/demo.out" || true)
[ "$(grep -c . <<<"$line")" -eq 1 ] || fail "expected exactly one failed step, got: $line"
grep -qF "✗ Step $STEP (" <<<"$line" || fail "failed at the wrong step: $line (expected step $STEP)"
grep -qF -- "$MSG" "$W/demo.out" || fail "the failure does not say: $MSG"
grep -q 'Demo finished' "$W/demo.out" && fail "the demo claims success"
next=$(awk -v s="$STEP" 'BEGIN { split("0 1 2 3 4 4b 5", o, " "); for (i = 1; i <= 7; i++) if (o[i] == s) { print o[i + 1]; exit } }')
if [ -n "$next" ] && grep -qF "== Step $next " "$W/demo.out"; then
  fail "the demo went on to step $next after step $STEP failed"
fi
check_stopped
echo PASS
