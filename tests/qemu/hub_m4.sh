#!/usr/bin/env bash
# The project's MQTT client and IoT Hub device client EXECUTING on an emulated
# Cortex-M4 (QEMU mps2-an386) against a real mosquitto (issue 6,
# DEVELOPERS.md: "C99, no heap, no OS calls in the device-side core, so it
# ports to ESP32 and Cortex-M"). docs/qemu-m4.md, section "The IoT Hub client
# on the target".
#
# 1. Cross-compiles src/mqtt/*.c, src/iothub/*.c, src/common/*.c (C99, -Os,
#    core warnings as errors, newlib-nano WITHOUT the nosys stubs: an OS call
#    would not link) with the board glue of tests/qemu (start-up, SysTick,
#    semihosting console, software HMAC-SHA256) and tests/qemu/hub_fw (UART1
#    transport and connector, RAM-backed NOR flash for the outbox, the
#    scenario).
# 2. Starts its own mosquitto on a random loopback port (no TLS: the target
#    has no TLS stack here) whose password file holds the user name and the
#    SAS token this script computes from the spec (sections 1.2 and 1.3) for
#    a random device key and the firmware's frozen clock: the broker accepts
#    the firmware only if its CONNECT carries exactly those credentials.
#    A mosquitto_sub records what the broker carries on the telemetry and
#    method-response topics; the broker log (log_type all) records client id,
#    user name, subscriptions and every PUBLISH.
# 3. Runs the firmware under QEMU, UART1 (the second -serial) connected by TCP
#    to the broker. When it prints READY (all telemetry acknowledged), sends a
#    C2D message too large for the firmware, a C2D message and a direct
#    method call with mosquitto_pub, answers the firmware's reported-
#    properties patch and sends a desired patch; the firmware idles longer
#    than its keep-alive (PINGREQ). Then tests/qemu/hub_check.py compares
#    what the broker carried with the spec, tests/vectors/iothub/topics.vec
#    and what the firmware printed.
# 3b. The same again with the UART's transmitter modelled at 115200 baud
#    (one byte in the holding register, send() returns 0 while it is busy;
#    QEMU's own UART takes every byte at once), on the same persistent
#    session.
# 4. Negative cases: the firmware with another device key is refused
#    (CONNACK 5), says so, exits 4 and publishes and subscribes nothing; the
#    checker rejects a capture with one telemetry byte changed, with two
#    messages swapped and with the method response missing.
# Needs gcc-arm-none-eabi, libnewlib-arm-none-eabi, qemu-system-arm,
# mosquitto, mosquitto-clients, python3 (scripts/setup). A missing tool is a
# failure, not a skip.
# Usage: hub_m4.sh      (QEMU_HUB_KEEP=1 keeps the work dir)
set -euo pipefail
ROOT=${TMA_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
Q="$ROOT/tests/qemu"
fail() { echo "FAIL: $*"; exit 1; }
for t in arm-none-eabi-gcc arm-none-eabi-size qemu-system-arm mosquitto mosquitto_sub mosquitto_pub \
         mosquitto_passwd python3 timeout; do
  command -v "$t" >/dev/null || fail "$t not installed (scripts/setup installs it)"
done
T0=$(date +%s.%N)

W=$(mktemp -d)
[ -n "${QEMU_HUB_KEEP:-}" ] && echo "work dir: $W"
pids=()
cleanup() {
  local p
  for p in "${pids[@]}"; do
    if kill -0 "$p" 2>/dev/null; then kill "$p" 2>/dev/null; wait "$p" 2>/dev/null || true; fi
  done
  [ -n "${QEMU_HUB_KEEP:-}" ] || rm -rf "$W"
}
trap cleanup EXIT

# ---- 1. the firmware
. "$Q/fw_build.sh"
qemu_fw_build "$W" "-I$ROOT/src/iothub -I$ROOT/src/mqtt -I$Q/hub_fw" \
  "$ROOT"/src/mqtt/*.c "$ROOT"/src/iothub/*.c "$ROOT"/src/common/*.c "$Q/board.c" "$Q/startup.c" \
  "$Q/soft_crypto.c" "$Q/ram_nor.c" "$Q"/hub_fw/*.c

# ---- 2. credentials and the broker
HOST=qemu-hub.azure-devices.net
DEV=dev-01
EPOCH=$(sed -n 's/^#define HUB_EPOCH \([0-9]*\)u.*/\1/p' "$Q/hub_fw/main.c")
LIFE=$(sed -n 's/^#define HUB_SAS_LIFETIME \([0-9]*\)u.*/\1/p' "$Q/hub_fw/main.c")
[ -n "$EPOCH" ] && [ -n "$LIFE" ] || fail "cannot read HUB_EPOCH / HUB_SAS_LIFETIME from hub_fw/main.c"
KEY=$(head -c 32 /dev/urandom | base64)
WRONG=$(head -c 32 /dev/urandom | base64)
USER_NAME=$(python3 "$Q/hub_check.py" username "$ROOT" "$HOST" "$DEV")
python3 "$Q/hub_check.py" sas "$HOST" "$DEV" "$KEY" $((EPOCH + LIFE)) >"$W/sas.txt"
# mosquitto started as root drops to the user "mosquitto": it must reach the
# password file (a hash of this run's throw-away token)
chmod 0711 "$W"; touch "$W/passwd"; chmod 0644 "$W/passwd"
mosquitto_passwd -b "$W/passwd" "$USER_NAME" "$(cat "$W/sas.txt")" || fail "mosquitto_passwd failed"
rm -f "$W/sas.txt"

PORT=""
for _ in 1 2 3 4 5 6 7 8; do
  p=$((20000 + RANDOM % 40000))
  cat >"$W/mosq.conf" <<CONF
listener $p 127.0.0.1
allow_anonymous true
password_file $W/passwd
persistence false
log_dest stderr
log_type all
connection_messages true
CONF
  : >"$W/broker.log"
  mosquitto -c "$W/mosq.conf" >"$W/broker.log" 2>&1 &
  bp=$!
  for _ in $(seq 50); do
    grep -q "Opening ipv4 listen socket on port $p" "$W/broker.log" && kill -0 $bp 2>/dev/null && break
    kill -0 $bp 2>/dev/null || break
    sleep 0.1
  done
  sleep 0.1
  if kill -0 $bp 2>/dev/null && grep -q "Opening ipv4 listen socket on port $p" "$W/broker.log"; then
    pids+=("$bp"); PORT=$p; break
  fi
  wait $bp 2>/dev/null || true
done
[ -n "$PORT" ] || { cat "$W/broker.log"; fail "mosquitto did not start"; }

# the observer: telemetry and method responses, topic and payload (hex)
mosquitto_sub -h 127.0.0.1 -p "$PORT" -i hostsub -q 1 -t "devices/$DEV/messages/events/#" \
  -t '$iothub/methods/res/#' -t '$iothub/twin/PATCH/properties/reported/#' -F '%t %x' \
  >"$W/sub.txt" 2>"$W/sub.err" &
pids+=("$!")
for _ in $(seq 50); do grep -q 'hostsub 1 \$iothub/twin/PATCH/properties/reported/#' "$W/broker.log" && break; sleep 0.1; done
grep -q 'hostsub 1 \$iothub/twin/PATCH/properties/reported/#' "$W/broker.log" ||
  { cat "$W/sub.err"; fail "mosquitto_sub did not subscribe"; }

# ---- 3. the firmware, UART1 on the broker's TCP port
# No -icount: QEMU's virtual clock (SysTick) then follows the host clock, the
# time base of the broker and of this script, so the client's keep-alive and
# timeouts and the broker's mean the same seconds; the firmware sleeps (WFI)
# until the next tick when a step moved nothing.
run_fw() { # key out [baud] -> starts QEMU in the background, pid in $qpid
  timeout 40 qemu-system-arm -M mps2-an386 -nographic -monitor none -kernel "$W/fw.elf" \
    -serial null -chardev "socket,id=net,host=127.0.0.1,port=$PORT" -serial chardev:net \
    -chardev "file,id=con,path=$2" \
    -semihosting-config "enable=on,target=native,chardev=con,arg=fw,arg=$1${3:+,arg=$3}" \
    >"$2.err" 2>&1 &
  qpid=$!
}
# the cloud's side after READY: a C2D message too large for the firmware, a
# C2D message and a method call; then, when
# the firmware has sent its reported-properties patch (twin.patch_rid N), the
# hub's answer `$iothub/twin/res/204/?$rid=N&$version=2` and a desired
# notification (spec 4)
cloud() { # out qemu-pid
  local out=$1 qp=$2 rid=""
  # first a C2D message larger than the firmware's 1 KB receive buffer: the
  # client must skip it without acknowledging it and go on
  head -c 3000 /dev/zero | tr '\0' x >"$W/big.bin"
  mosquitto_pub -h 127.0.0.1 -p "$PORT" -i hostbig -q 1 -t "devices/$DEV/messages/devicebound/%24.mid=big" \
    -f "$W/big.bin" || fail "mosquitto_pub (large C2D) failed"
  mosquitto_pub -h 127.0.0.1 -p "$PORT" -i hostc2d -q 1 -t "devices/$DEV/messages/devicebound/%24.mid=m1&k=v" \
    -m 'hello from the cloud' || fail "mosquitto_pub (C2D) failed"
  mosquitto_pub -h 127.0.0.1 -p "$PORT" -i hostmethod -q 0 -t '$iothub/methods/POST/reboot/?$rid=7' \
    -m '{"delay":5}' || fail "mosquitto_pub (method) failed"
  for _ in $(seq 300); do
    rid=$(sed -n 's/^twin.patch_rid \([0-9]*\)$/\1/p' "$out")
    [ -n "$rid" ] && break
    kill -0 "$qp" 2>/dev/null || return 0
    sleep 0.1
  done
  [ -n "$rid" ] || return 0
  mosquitto_pub -h 127.0.0.1 -p "$PORT" -i hosttwin -q 0 -t "\$iothub/twin/res/204/?\$rid=$rid&\$version=2" \
    -n || fail "mosquitto_pub (twin response) failed"
  mosquitto_pub -h 127.0.0.1 -p "$PORT" -i hostdesired -q 0 -t '$iothub/twin/PATCH/properties/desired/?$version=4' \
    -m '{"interval":30,"$version":4}' || fail "mosquitto_pub (desired) failed"
}
TQ=$(date +%s.%N)
run_fw "$KEY" "$W/out.txt"
pids+=("$qpid")
for _ in $(seq 300); do
  grep -q '^READY' "$W/out.txt" 2>/dev/null && break
  kill -0 "$qpid" 2>/dev/null || break
  sleep 0.1
done
grep -q '^READY' "$W/out.txt" || {
  rc=0; wait "$qpid" || rc=$?; cat "$W/out.txt" "$W/out.txt.err"; tail -20 "$W/broker.log"
  fail "the firmware did not get all telemetry acknowledged (exit $rc)"; }
echo "ok: the firmware is connected and all telemetry was acknowledged (READY)"
cloud "$W/out.txt" "$qpid"
rc=0; wait "$qpid" || rc=$?
QEMU_S=$(python3 -c "import sys; print('%.1f' % (float(sys.argv[2]) - float(sys.argv[1])))" "$TQ" "$(date +%s.%N)")
if [ $rc -ne 0 ]; then
  cat "$W/out.txt" "$W/out.txt.err"; tail -20 "$W/broker.log"
  [ $rc -eq 124 ] && fail "the firmware did not finish within 40 s"
  fail "the firmware exited with code $rc"
fi
# the method response is QoS 0 and went out before DISCONNECT; give the
# observer a moment to write it
for _ in $(seq 30); do grep -q '^\$iothub/methods/res/' "$W/sub.txt" && break; sleep 0.1; done
echo "ok: the firmware ran to DONE in $QEMU_S s"
cp "$W/broker.log" "$W/main_broker.log"; cp "$W/sub.txt" "$W/main_sub.txt"
python3 "$Q/hub_check.py" run "$ROOT" "$W/out.txt" "$W/main_sub.txt" "$W/main_broker.log" "$USER_NAME" ||
  fail "what the broker carried does not check out"

# ---- 3b. the same with the UART's transmitter modelled at 115200 baud:
# send() takes one byte when the holding register is free and returns 0
# otherwise, as on silicon; the client must cope with a busy transport
run_paced() {
  local out="$W/paced.txt" sub0 rc=0
  sub0=$(wc -l <"$W/sub.txt")
  run_fw "$KEY" "$out" 115200
  pids+=("$qpid")
  for _ in $(seq 300); do
    grep -q '^READY' "$out" 2>/dev/null && break
    kill -0 "$qpid" 2>/dev/null || break
    sleep 0.1
  done
  grep -q '^READY' "$out" || { wait "$qpid" || true; cat "$out" "$out.err"; fail "paced run: no READY"; }
  cloud "$out" "$qpid"
  wait "$qpid" || rc=$?
  [ $rc -eq 0 ] || { cat "$out" "$out.err"; fail "paced run: the firmware exited with code $rc"; }
  for _ in $(seq 30); do
    [ "$(tail -n +"$((sub0 + 1))" "$W/sub.txt" | grep -c '^\$iothub/methods/res/')" -ge 1 ] && break; sleep 0.1
  done
  tail -n +"$((sub0 + 1))" "$W/sub.txt" >"$W/paced_sub.txt"
  tail -n +"$((LOGP + 1))" "$W/broker.log" >"$W/paced_broker.log"
}
LOGP=$(wc -l <"$W/broker.log")
run_paced
python3 "$Q/hub_check.py" run "$ROOT" "$W/paced.txt" "$W/paced_sub.txt" "$W/paced_broker.log" "$USER_NAME" paced ||
  fail "paced run (115200 baud): what the broker carried does not check out"
echo "ok: the same at 115200 baud (busy transport): $(grep -c '' "$W/paced_sub.txt") messages carried, $(sed -n 's/^uart.tx_full //p' "$W/paced.txt") busy send() calls"

# ---- 4. negative cases
# the checker can fail: one byte of a telemetry payload changed, two
# messages swapped, the method response missing
# (the same capture of the main pass that passed above, changed once each)
python3 - "$W/main_sub.txt" "$W" <<'PY'
import sys
lines = open(sys.argv[1]).read().splitlines()
tel = [i for i, l in enumerate(lines) if '/messages/events/' in l]
a = list(lines); t, h = a[tel[3]].rsplit(' ', 1); a[tel[3]] = t + ' ' + h[:-2] + ('00' if h[-2:] != '00' else '01')
b = list(lines); b[tel[1]], b[tel[2]] = b[tel[2]], b[tel[1]]
c = [l for l in lines if not l.startswith('$iothub/methods/res/')]
for n, v in (('bad1', a), ('bad2', b), ('bad3', c)):
    open(sys.argv[2] + '/' + n + '.txt', 'w').write('\n'.join(v) + '\n')
PY
for nw in "bad1:message 3: payload" "bad2:message 1: topic" "bad3:observer: 0 method responses"; do
  n=${nw%%:*}
  if python3 "$Q/hub_check.py" run "$ROOT" "$W/out.txt" "$W/$n.txt" "$W/main_broker.log" "$USER_NAME" >"$W/$n.log" 2>&1; then
    fail "the checker accepted a corrupted capture ($n)"
  fi
  grep -qF "check failed: ${nw#*:}" "$W/$n.log" || { cat "$W/$n.log"; fail "the checker rejected $n for another reason"; }
done
echo "ok: the checker rejects a changed payload byte, swapped messages, a missing method response"

# another device key: the broker refuses the CONNECT (CONNACK 5)
LOG0=$(wc -l <"$W/broker.log"); SUB0=$(wc -l <"$W/sub.txt")
run_fw "$WRONG" "$W/neg.txt"
pids+=("$qpid")
rc=0; wait "$qpid" || rc=$?
sleep 0.3
tail -n +"$((LOG0 + 1))" "$W/broker.log" >"$W/neg_broker.log"
python3 "$Q/hub_check.py" refused "$W/neg.txt" "$rc" "$W/neg_broker.log" "$SUB0" "$W/sub.txt" ||
  { cat "$W/neg.txt" "$W/neg.txt.err" "$W/neg_broker.log"; fail "wrong device key: not refused cleanly"; }
echo "ok: wrong device key: CONNACK 5, exit 4, nothing published or subscribed"

grep -E '^(stack\.|run_ms|connected_ms|all_acked_ms|uart\.|flash\.)' "$W/out.txt" | sed 's/^/info: /'
grep -E '^(stack\.|run_ms|all_acked_ms)' "$W/paced.txt" | sed 's/^/info: paced: /'
echo "ok: qemu_hub_m4 passed in $(python3 -c "import sys; print('%.1f' % (float(sys.argv[2]) - float(sys.argv[1])))" "$T0" "$(date +%s.%N)") s"
