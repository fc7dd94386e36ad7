#!/usr/bin/env bash
# localhub keeps serving after the wall clock steps back (wrap13 F2): the
# broker runs under hub_clkshim, which moves its CLOCK_REALTIME one hour
# back on demand. Methods (also the hub's own 504 timeout), C2D and desired
# pushes must go on; with the tick gated on the wall clock they stopped for
# the hour (method invoke answered 504).
. "$(dirname "$0")/hub_lib.sh"
SHIM="$TMA_BUILD_DIR/tests/libhub_clkshim.so"
[ -f "$SHIM" ] || fail "missing $SHIM (target hub_clkshim)"
export HUB_CLKSHIM_FILE="$T/clock-step"
hub_start
# Restart the broker 'localhub start' launched, with its environment plus the shim.
old=$(cat "$LOCALHUB_HOME/broker.pid")
exe=$(readlink "/proc/$old/exe")
envs=$(tr '\0' '\n' <"/proc/$old/environ" | grep -E '^(LD_PRELOAD|ASAN_OPTIONS|UBSAN_OPTIONS)=' || true)
pre=$(grep '^LD_PRELOAD=' <<<"$envs" | cut -d= -f2- || true)
kill "$old"
for i in $(seq 1 100); do kill -0 "$old" 2>/dev/null || break; sleep 0.1; done
: >"$LOCALHUB_HOME/broker.log"
env $(grep -v '^LD_PRELOAD=' <<<"$envs" | tr '\n' ' ') LD_PRELOAD="${pre:+$pre:}$SHIM" \
  "$exe" \
  -c "$LOCALHUB_HOME/mosquitto.conf" >"$T/broker2.out" 2>&1 </dev/null &
echo $! >"$LOCALHUB_HOME/broker.pid"
for i in $(seq 1 100); do
  grep -q 'plugin ready' "$LOCALHUB_HOME/broker.log" 2>/dev/null && (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break
  sleep 0.1
done
grep -q 'plugin ready' "$LOCALHUB_HOME/broker.log" || fail "broker with the clock shim did not start: $(cat "$T/broker2.out")"
ok "broker restarted under the clock shim"

# SAS, not X.509: a certificate made now is not yet valid on a clock 1 h behind.
"$L" device create --id m1 --auth sas >/dev/null
TOK=$("$L" generate-sas-token --device m1 --duration 86400)

# call NAME: one device session that answers method NAME; prints the result.
call() {
  mqttc m1 --pass "$TOK" 'sub:$iothub/methods/POST/#' "expect:methods/POST/$1/" 'capture:rid:$rid' \
    "pub0:\$iothub/methods/res/200/?\$rid=\${rid}:{\"n\":\"$1\"}" >"$T/dev-$1.out" 2>&1 &
  local dev=$!
  wait_state m1 methods
  "$L" method invoke --device m1 --name "$1" --timeout 5 2>&1 || true
  kill $dev 2>/dev/null || true; wait $dev 2>/dev/null || true
}
out=$(call a)
grep_in "$out" -q '"n":[[:space:]]*"a"' || fail "method before the step: $out"
ok "method answered with the clock right"

echo 3600 >"$HUB_CLKSHIM_FILE"
sleep 0.5
t0=$(date +%s)
out=$(call b)
grep_in "$out" -q '"n":[[:space:]]*"b"' || fail "method after a 1 h step back of the broker's clock: $out"
ok "method answered after the broker's clock stepped back 1 h ($(( $(date +%s) - t0 )) s)"

# The hub's own timeout still runs: a device that does not answer -> 504
# after the 5 s asked, not 5 s + 1 h.
mqttc m1 --pass "$TOK" 'sub:$iothub/methods/POST/#' 'sleep:20000' >/dev/null 2>&1 &
dev=$!
wait_state m1 methods
t0=$(date +%s)
out=$("$L" method invoke --device m1 --name silent --timeout 5 2>&1 || true)
kill $dev 2>/dev/null || true; wait $dev 2>/dev/null || true
grep_in "$out" -q "did not answer within 5 s" || fail "no answer: expected the hub's 504 after 5 s, got: $out"
ok "unanswered method: the hub's 504 after $(( $(date +%s) - t0 )) s with the clock stepped back"

# C2D and a desired-property push to a connected device
mqttc m1 --pass "$TOK" 'sub:devices/m1/messages/devicebound/#' 'sub:$iothub/twin/PATCH/properties/desired/#' \
  'expect:after-step' 'expect:"k":7' >"$T/dev-c2d.out" 2>&1 &
dev=$!
wait_state m1 twin-desired
"$L" c2d send --device m1 --data "after-step" >/dev/null
"$L" twin update --device m1 --desired '{"k":7}' >/dev/null
wait $dev || fail "C2D or desired push not delivered after the step back: $(cat "$T/dev-c2d.out")"
ok "C2D and desired-property push delivered with the clock stepped back"

# Disabling a device still closes its session (kick requests are tick work).
mqttc m1 --pass "$TOK" 'sleep:15000' >"$T/dev-kick.out" 2>&1 &
dev=$!
wait_state m1 Connected
t0=$(date +%s%N)
"$L" device disable --id m1 >/dev/null
set +e; wait $dev; rc=$?; set -e
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
[ $rc -eq 4 ] && [ $ms -lt 10000 ] || fail "disabled device not disconnected (rc $rc after $ms ms): $(cat "$T/dev-kick.out")"
ok "disabled device disconnected after $ms ms with the clock stepped back"
