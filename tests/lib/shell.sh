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

# s_server_start S_SERVER-ARGS...: `openssl s_server` on a random loopback
# port (tried up to 10 times) with the given arguments, output in ./srv.log;
# sets PORT and SRV_PID once it accepts; calls the script's fail() if it
# never starts. s_server_stop: stop it (nothing if it is not running).
s_server_start() {
  local try i
  for try in 1 2 3 4 5 6 7 8 9 10; do
    PORT=$((20000 + RANDOM % 40000))
    : > srv.log
    openssl s_server -accept "127.0.0.1:$PORT" "$@" </dev/null >srv.log 2>&1 &
    SRV_PID=$!
    for i in $(seq 1 50); do
      if grep -q '^ACCEPT' srv.log; then return 0; fi
      if ! kill -0 "$SRV_PID" 2>/dev/null; then break; fi
      sleep 0.1
    done
    kill "$SRV_PID" 2>/dev/null || true; wait "$SRV_PID" 2>/dev/null || true; SRV_PID=""
  done
  fail "s_server did not start"
}
s_server_stop() {
  if [ -n "${SRV_PID:-}" ]; then kill "$SRV_PID" 2>/dev/null || true; wait "$SRV_PID" 2>/dev/null || true; SRV_PID=""; fi
}
