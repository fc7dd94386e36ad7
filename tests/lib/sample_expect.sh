# The harness of the samples' argument tests (iothub_sample_user_args,
# iothub_sample_badargs), sourced after `set -euo pipefail`: EX (the samples),
# a work folder W (removed on exit, the shell in it), no device or connection
# string from the caller's environment, SECRET (a SharedAccessKey the tests
# put in arguments), and:
#   expect PROG RC TEXT ARGS...  runs PROG with ARGS; wants exit status RC,
#       exactly one line on stderr that starts "PROG: " (or "$PREFIX: ") and
#       contains TEXT, and SECRET echoed nowhere (stdout or stderr)
#   bad MESSAGE                 counts a failure (fails) and goes on
#   finish                      exits 1 when anything failed
EX=${IOTHUB_SAMPLES:-${TMA_BUILD_DIR:?}/examples}
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
cd "$W"
unset TRUSTM_DEVICE TRUSTM_BINDING IOTHUB_DEVICE_CONNECTION_STRING
SECRET=c2VjcmV0c2VjcmV0c2VjcmV0MTI=
fails=0
bad() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }

expect() {
  local prog=$1 want=$2 text=$3 rc=0
  shift 3
  timeout 20 "$EX/$prog" "$@" >out.txt 2>err.txt </dev/null || rc=$?
  if [ "$rc" -ne "$want" ]; then bad "$prog $*: exit $rc, not $want ($(head -2 err.txt))"; return; fi
  if [ "$(wc -l <err.txt)" -ne 1 ] || ! grep -qE "^($prog|${PREFIX:-$prog}): " err.txt; then
    bad "$prog $*: not one '$prog:' line on stderr:"; cat err.txt >&2; return
  fi
  grep -qF -- "$text" err.txt || { bad "$prog $*: '$text' not in: $(cat err.txt)"; return; }
  if grep -qF -- "${SECRET%=}" err.txt out.txt || grep -qF -- "c2VjcmV0" err.txt out.txt; then
    bad "$prog $*: the key was echoed: $(cat err.txt)"; return
  fi
  echo "ok: $prog -> $(cat err.txt)"
}

finish() {
  if [ "$fails" -ne 0 ]; then
    echo "$fails check(s) failed" >&2
    exit 1
  fi
  echo "all checks passed"
}
