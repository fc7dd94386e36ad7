#!/usr/bin/env bash
# scripts/demo --keep as a new user follows it (session 7, USER): the printed
# commands are run as printed (all but the endless monitor-events stream),
# then the printed "When done" line from a shell that did not source
# demo.env must stop the hub and the simulator (it used to need
# LOCALHUB_HOME, and from another shell left mosquitto running). On the way:
# a sample run on the bound chip without --binding stops at once and says
# that the key needs it, instead of retrying the refused signature.
set -euo pipefail
TOP=${TMA_SOURCE_DIR:?}
HUB=${LOCALHUB:-${TMA_BUILD_DIR:?}/hub/localhub}
EX=${IOTHUB_SAMPLES:-$TMA_BUILD_DIR/examples}
W=$(mktemp -d)
D=$W/demo
HUB_PID=""
SIM_PID=""
cleanup() {
  if [ -d "$D/hub" ]; then LOCALHUB_HOME=$D/hub "$HUB" stop >/dev/null 2>&1 || true; fi
  if [ -n "$HUB_PID" ]; then kill "$HUB_PID" 2>/dev/null || true; fi
  if [ -n "$SIM_PID" ]; then kill "$SIM_PID" 2>/dev/null || true; fi
  rm -rf "$W"
}
trap cleanup EXIT
fails=0
bad() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }

TMA_DEMO_DIR=$D timeout 120 "$TOP/scripts/demo" --keep >"$W/keep.log" 2>&1 || {
  cat "$W/keep.log" >&2
  echo "FAIL: the demo did not finish" >&2
  exit 1
}
SIM_PID=$(sed -n 's/^SIM_PID=//p' "$D/demo.env")
HUB_PID=$(LOCALHUB_HOME=$D/hub "$HUB" status | sed -n 's/^pid: //p')
[ -n "$SIM_PID" ] && [ -n "$HUB_PID" ] || { echo "FAIL: no simulator or hub pid" >&2; exit 1; }

echo "== a sample without --binding on the bound chip"
rc=0
start=$(date +%s)
(
  . "$D/demo.env"
  unset TRUSTM_BINDING
  timeout 30 "$EX/iothub-telemetry" --connection-string "HostName=localhost;DeviceId=$DEVICE_ID;x509=true" \
    --port "$HUB_PORT" --count 1 --outbox "$W/nobind.outbox"
) >"$W/nobind.out" 2>&1 || rc=$?
took=$(($(date +%s) - start))
cat "$W/nobind.out"
[ "$rc" -eq 1 ] || bad "exit $rc, not 1"
grep -q "iothub-telemetry: the chip refuses to sign with 0xE0F1 (chip error 0x07.*a bound key needs --binding FILE); not retrying" \
  "$W/nobind.out" || bad "no 'a bound key needs --binding FILE' line"
[ "$took" -lt 10 ] || bad "took $took s: it kept retrying"

echo "== wrong binding files, and DPS without an enrollment"
head -c 64 /dev/urandom >"$W/wrong.key"
: >"$W/empty.key"
chmod 600 "$W/wrong.key" "$W/empty.key"
mkdir "$W/dir.key"
# one_err TEXT CMD...: exit 1 and TEXT in the one line on stderr
one_err() {
  local text=$1 rc=0
  shift
  (. "$D/demo.env"; unset TRUSTM_BINDING; timeout 30 "$@") >"$W/one.out" 2>"$W/one.err" </dev/null || rc=$?
  [ "$rc" -eq 1 ] || bad "exit $rc, not 1: $*"
  [ "$(wc -l <"$W/one.err")" -eq 1 ] || { bad "not one line on stderr: $*"; cat "$W/one.err" >&2; }
  grep -qF -- "$text" "$W/one.err" || bad "'$text' not in: $(cat "$W/one.err")"
  echo "ok: $(cat "$W/one.err")"
}
CS="HostName=localhost;DeviceId=demo-device-01;x509=true"
HP=$(sed -n 's/^HUB_PORT=//p' "$D/demo.env")
one_err "iothub-telemetry: shielded-connection handshake failed on sim:$D/chip.sock: the chip is not bound, or '$W/wrong.key' is not its binding secret (0xE140)" \
  "$EX/iothub-telemetry" --binding "$W/wrong.key" --connection-string "$CS" --port "$HP" --outbox "$W/w.outbox"
one_err "iothub-telemetry: binding file '$W/empty.key' is empty" \
  "$EX/iothub-telemetry" --binding "$W/empty.key" --connection-string "$CS" --port "$HP" --outbox "$W/w.outbox"
one_err "iothub-telemetry: binding file '$W/dir.key' is not a regular file" \
  "$EX/iothub-telemetry" --binding "$W/dir.key" --connection-string "$CS" --port "$HP" --outbox "$W/w.outbox"
SCOPE=$(LOCALHUB_HOME=$D/hub "$HUB" dps show | sed -n 's/^idScope: *//p')
one_err "provisioning refused: DPS did not accept the device (CONNACK 5, not authorized): check the id scope '$SCOPE', that an enabled enrollment or enrollment group covers registration id 'demo-device-01'" \
  "$EX/iothub-dps" --binding "$D/binding.key" --port "$HP" --id-scope "$SCOPE" --dps-host localhost --count 1 \
  --timeout-ms 5000 --outbox "$W/d.outbox"

printf 'evil host\x1b[2J\nx/y\n' >"$W/bad.assignment"
rc=0
(. "$D/demo.env"; timeout 30 "$EX/iothub-dps" --binding "$D/binding.key" --port "$HP" --id-scope "$SCOPE" \
  --dps-host localhost --count 1 --timeout-ms 5000 --outbox "$W/d2.outbox" --assignment "$W/bad.assignment") \
  >"$W/assign.out" 2>&1 || rc=$?
cat -v "$W/assign.out"
grep -q "bad.assignment is not an assignment (two lines: hub, device id); registering" "$W/assign.out" \
  || bad "a cached assignment with a bad host name was used"
grep -q '^assignment from' "$W/assign.out" && bad "the bad assignment was connected to"

echo "== a cloud-to-device message with control characters reaches the terminal escaped"
(
  . "$D/demo.env"
  timeout 30 "$EX/iothub-telemetry" --binding "$D/binding.key" --connection-string "$CS" --port "$HP" \
    --count 1 --run-ms 6000 --outbox "$W/esc.outbox" >"$W/esc.out" 2>&1 &
  for _ in $(seq 1 100); do grep -q '^connected' "$W/esc.out" && break; sleep 0.05; done
  LOCALHUB_HOME=$D/hub "$HUB" c2d send --device "$DEVICE_ID" --data $'red\e[31mX\r\aend' >/dev/null
  wait
)
cat -v "$W/esc.out"
grep -qF 'C2D message: red\x1B[31mX\x0D\x07end' "$W/esc.out" || bad "the C2D text is not printed escaped"
if LC_ALL=C grep -q $'[\x01-\x08\x0b-\x1f\x7f]' "$W/esc.out"; then bad "a control character reached the output"; fi

echo "== the printed commands, as printed"
sed -n '/keep running\.$/,/^When done/p' "$W/keep.log" | sed -e '1d' -e '$d' | grep -v 'monitor-events' >"$W/cmds.sh"
cat "$W/cmds.sh"
grep -q 'source ' "$W/cmds.sh" || bad "no 'source demo.env' line printed"
timeout 60 bash -e "$W/cmds.sh" >"$W/cmds.out" 2>&1 || bad "the printed commands failed (exit $?)"
cat "$W/cmds.out"
grep -q '^C2D message: hi$' "$W/cmds.out" || bad "the printed c2d send did not reach the sample"
grep -q '^  answered 200' "$W/cmds.out" || bad "the printed method call was not answered"

echo "== the printed 'When done' line, from a shell that did not source demo.env"
done_line=$(sed -n '/^When done/{n;p}' "$W/keep.log")
echo "$done_line"
env -u LOCALHUB_HOME -u TRUSTM_DEVICE -u TRUSTM_BINDING -u TRUSTM_LOCK_DIR bash -c "cd / && $done_line" \
  || bad "the 'When done' line failed"
for _ in $(seq 1 50); do
  kill -0 "$HUB_PID" 2>/dev/null || kill -0 "$SIM_PID" 2>/dev/null || break
  sleep 0.1
done
if kill -0 "$HUB_PID" 2>/dev/null && ! grep -q zombie <(ps -o stat= -p "$HUB_PID" | sed 's/Z.*/zombie/'); then
  bad "the hub (pid $HUB_PID) still runs after the 'When done' line"
fi
if kill -0 "$SIM_PID" 2>/dev/null && ! grep -q zombie <(ps -o stat= -p "$SIM_PID" | sed 's/Z.*/zombie/'); then
  bad "the simulator (pid $SIM_PID) still runs after the 'When done' line"
fi
[ ! -e "$D" ] || bad "the scratch folder is still there"

if [ "$fails" -ne 0 ]; then
  echo "$fails check(s) failed" >&2
  exit 1
fi
echo "all checks passed"
