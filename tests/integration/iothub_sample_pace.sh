#!/usr/bin/env bash
# The samples' loop (examples/sample_common.c, sample_run) waits when there is
# nothing to do, also while every stored message is in flight and its PUBACK
# is late (IoT Hub throttling holds PUBACKs back; here a proxy swallows the
# PUBLISH, so none comes). Before (RETRY16): in that state the loop asked the
# client for work again at once, thousands of steps a second, one CPU core
# at 100 % until the PUBACK came or the connection ended (30 s here).
# Measured: the telemetry sample's CPU time (utime + stime, /proc) over 3 s
# of a PUBLISH without PUBACK, and over 3 s of an outbox message it cannot
# read; the old loop spent about all of it in both.
. "$(dirname "$0")/iothub_lib.sh"
: "${IOTHUB_SAMPLES:?set by ctest}"
TEL="$IOTHUB_SAMPLES/iothub-telemetry"
make_broker_pki
BROKER_TLS=1 start_broker
python3 "$(dirname "$0")/iothub_proxy.py" $PORT "$WORK/proxy.port" "$WORK/blackhole" "$WORK/swallowed" &
PIDS+=($!)
for _ in $(seq 1 100); do [ -s "$WORK/proxy.port" ] && break; sleep 0.05; done
[ -s "$WORK/proxy.port" ] || fail "proxy did not start"

# cpu_ticks PID: utime + stime of PID in clock ticks
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
HZ=$(getconf CLK_TCK)

# Message 0 goes through and is acknowledged; then the proxy swallows what
# the device sends, so message 1 (stored 1 s later) waits for a PUBACK that
# never comes, for the rest of the run.
"$TEL" --connection-string 'HostName=localhost;DeviceId=pace-d;SharedAccessKey=YWJjZGVm' --ca "$WORK/ca.pem" \
  --port "$(cat "$WORK/proxy.port")" --count 2 --interval-ms 1000 --run-ms 6000 --outbox "$WORK/ob.log" \
  > "$WORK/tel.txt" 2> "$WORK/tel.err" &
T=$!; PIDS+=($T)
wait_for "$WORK/tel.txt" "message 0 acknowledged" 20
touch "$WORK/blackhole"
wait_for "$WORK/tel.txt" "message 1 stored" 5
for _ in $(seq 1 100); do
  [ "$(cat "$WORK/swallowed" 2>/dev/null || echo 0)" -gt 0 ] && break
  sleep 0.02
done
[ "$(cat "$WORK/swallowed" 2>/dev/null || echo 0)" -gt 0 ] || fail "message 1 was never sent"
c0=$(cpu_ticks $T); t0=$(date +%s%N)
sleep 3
c1=$(cpu_ticks $T); t1=$(date +%s%N)
kill -0 $T 2>/dev/null || fail "the sample ended early: $(cat "$WORK/tel.err")"
grep -q "message 1 acknowledged" "$WORK/tel.txt" && fail "message 1 was acknowledged: the proxy let it through"
cpu_ms=$(( (c1 - c0) * 1000 / HZ )); wall_ms=$(( (t1 - t0) / 1000000 ))
echo "CPU while waiting for a PUBACK: $cpu_ms ms in $wall_ms ms"
# A loop that waits on the socket uses a few ms a second (sanitizer build
# included); the spinning one used all it got, 50 % even on a loaded host.
[ $(( cpu_ms * 10 )) -le "$wall_ms" ] || fail "the sample spins while its message waits for a PUBACK: $cpu_ms ms CPU in $wall_ms ms"
# It ends at --run-ms with message 1 still in the outbox (exit 1, as it should).
wait $T 2>/dev/null || true
grep -q "1 still in the outbox" "$WORK/tel.txt" || fail "message 1 not kept: $(tail -3 "$WORK/tel.txt")"

# An outbox whose next message cannot be read into the sample's 8 KB record
# buffer (written by a build with a larger one: 9,000 bytes): the client
# returns the storage status at every step and the connection stays. The
# loop reads it again after 20 ms, not at once, and says so once.
python3 - "$WORK/big.outbox" <<'PY'
import struct, sys, zlib
topic = b"devices/pace-d/messages/events/"
data = struct.pack(">H", len(topic)) + topic + b"x" * 9000
rec = bytes([0x50]) + struct.pack("<II", 0, len(data)) + data
rec += struct.pack("<I", zlib.crc32(rec) & 0xFFFFFFFF)
open(sys.argv[1], "wb").write(b"TMAOUTB\x01" + rec)
PY
"$TEL" --connection-string 'HostName=localhost;DeviceId=pace-d;SharedAccessKey=YWJjZGVm' --ca "$WORK/ca.pem" \
  --port $PORT --count 0 --run-ms 5000 --outbox "$WORK/big.outbox" > "$WORK/big.txt" 2> "$WORK/big.err" &
T=$!; PIDS+=($T)
wait_for "$WORK/big.txt" "^connected" 20
sleep 0.5
c0=$(cpu_ticks $T); t0=$(date +%s%N)
sleep 3
c1=$(cpu_ticks $T); t1=$(date +%s%N)
kill -0 $T 2>/dev/null || fail "the sample ended early: $(cat "$WORK/big.err")"
wait $T 2>/dev/null || true
cpu_ms=$(( (c1 - c0) * 1000 / HZ )); wall_ms=$(( (t1 - t0) / 1000000 ))
echo "CPU with an outbox it cannot read: $cpu_ms ms in $wall_ms ms"
[ "$(grep -c 'cannot be read' "$WORK/big.err")" -eq 1 ] || fail "the read error is not reported once: $(head -5 "$WORK/big.err")"
grep -q "1 still in the outbox" "$WORK/big.txt" || fail "the message was not kept: $(tail -3 "$WORK/big.txt")"
[ $(( cpu_ms * 10 )) -le "$wall_ms" ] || fail "the sample spins on an outbox read error: $cpu_ms ms CPU in $wall_ms ms"
echo PASS
