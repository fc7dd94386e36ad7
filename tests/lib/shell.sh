# Helpers every bash test script shares (sourced).
#
# grep_all GREP-ARGS...: grep that reads all of its standard input before it
# answers. Test scripts run with `set -o pipefail`, where `cmd | grep -q x`
# fails at random: grep -q exits at the first match, and if cmd is still
# writing it dies of SIGPIPE, which pipefail turns into the pipeline's status
# (hub_c2d failed in CI this way). `cmd | grep_all -q x` keeps cmd's own exit
# status and never closes the pipe early.
grep_all() { local in; in=$(cat); grep "$@" <<<"$in"; }

# sanitizer_check HUB_STATE_DIR FILES...: print every sanitizer report, those
# localhub's plugin writes into its state folder (asan*, ubsan*) and those in
# the given output files of the simulator and the samples, and return 1 when
# there is one. Test cleanups call it, so a report after the last assertion
# still fails the test.
sanitizer_check() {
  local dir=$1 f bad=0
  shift
  for f in "$dir"/asan* "$dir"/ubsan*; do
    [ -e "$f" ] || continue
    echo "FAIL: sanitizer report from localhub's plugin ($f):" >&2; cat "$f" >&2; bad=1
  done
  for f in "$@"; do
    [ -f "$f" ] || continue
    if grep -qE 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$f"; then
      echo "FAIL: sanitizer report in $f:" >&2; cat "$f" >&2; bad=1
    fi
  done
  return $bad
}
