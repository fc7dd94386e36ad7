#!/usr/bin/env bash
# Issue 6 "Nothing lost" on the microcontroller flash log: the telemetry
# sample keeps its outbox in the flash log (src/iothub/storage_flash.c) on a
# file that behaves like NOR flash (--outbox-flash, port/flash_file.c) and
# sends over TLS (SAS) to mosquitto through iothub_proxy.py. It is SIGKILLed
# KILLS times mid-stream and restarted on the same flash; the flash is small
# (FLASH_SPEC), so the ring wraps and reclaims sectors many times. Odd kills
# come after the proxy has swallowed what the device sent for a moment (so
# messages in flight at the kill never reached the broker and only the flash
# can deliver them); even kills land at a random point of the stream.
# Checked at a subscriber on the broker:
#  - every message whose "stored" line a run printed (put() returned, the
#    record is committed) arrives; messages are identified by (run, n): the
#    sample numbers from 0 in every run, the run is found from the wall-clock
#    part of the message id;
#  - first occurrences arrive in the order they were stored;
#  - duplicates at most the in-flight window per kill;
#  - at most one message per kill arrives that no run printed (its put was
#    committed, the kill came before the print), and only right after the
#    last one printed;
#  - the final run drains the outbox and exits 0; no sanitizer report.
# Then bad input: files that are not a flash, the flash with another
# geometry, bad geometry strings, the flash in use by another process: one
# error line, non-zero exit, the file unchanged. Env: FLASH_N_RUN (messages per killed run, 600;
# a third of them reach the broker before the kill comes),
# FLASH_KILLS (5), FLASH_SPEC (":32:512:16"), IOTHUB_KEEP=1 keeps the work dir.
. "$(dirname "$0")/iothub_lib.sh"
: "${IOTHUB_SAMPLES:?set by ctest}"
TEL="$IOTHUB_SAMPLES/iothub-telemetry"
HERE=$(cd "$(dirname "$0")" && pwd)
KILLS=${FLASH_KILLS:-5}
PER_RUN=${FLASH_N_RUN:-600}
GOING=$((PER_RUN / 3))
SPEC=${FLASH_SPEC:-:32:512:16}
FINAL=150
WINDOW=16
FLASH="$WORK/ob.flash"
cd "$WORK"
t_start=$(date +%s.%N)

sane() { sanitizer_check /nonexistent "$WORK"/*.err || fail "sanitizer report"; }

# PKI: a CA and the broker's certificate for "localhost"; the device uses
# SAS. mosquitto: TLS listener for the device (any user name and password:
# SAS is not checked here), plain one for the checking subscriber.
make_broker_pki
BROKER_TLS=1 start_broker
mosquitto_sub -h 127.0.0.1 -p $PPORT -i flash-sub -q 1 -v -t 'devices/dev-f/messages/events/#' > sub.txt 2> sub.err &
PIDS+=($!)
wait_sub flash-sub
python3 "$HERE/iothub_proxy.py" $PORT proxy.port blackhole swallowed &
PIDS+=($!)
for _ in $(seq 1 100); do [ -s proxy.port ] && break; sleep 0.05; done
[ -s proxy.port ] || fail "proxy did not start"
PROXY_PORT=$(cat proxy.port)
CS="HostName=localhost;DeviceId=dev-f;SharedAccessKey=$(printf 'flash-e2e-test-key-0123456789ab' | base64)"
run_args=(--connection-string "$CS" --ca ca.pem --port "$PROXY_PORT" --outbox-flash "$FLASH$SPEC"
          --timeout-ms 30000 --retry-ms 50:500:50)
received() { grep -c '"n":' sub.txt || true; }
swal() { local v; v=$(cat swallowed 2>/dev/null || true); echo "${v:-0}"; }
stored() { grep -c '^message [0-9]* stored as' "$1" || true; }

# Killed runs: each queues up to PER_RUN messages, 5 ms apart.
for k in $(seq 1 "$KILLS"); do
  rm -f blackhole
  echo "$(date +%s%3N)" > "run$k.start"
  "$TEL" "${run_args[@]}" --count "$PER_RUN" --interval-ms 5 > "run$k.out" 2> "run$k.err" &
  D=$!; PIDS+=($D)
  base=$(received)
  # let it get going: GOING more messages at the broker
  for _ in $(seq 1 400); do
    [ "$(received)" -ge $((base + GOING)) ] && break
    kill -0 $D 2>/dev/null || break
    sleep 0.025
  done
  kill -0 $D 2>/dev/null || { cat "run$k.out" "run$k.err" >&2; fail "run $k ended before the kill"; }
  if [ $((k % 2)) -eq 1 ]; then
    # swallow what the device sends until a window's worth is in flight
    : > swallowed; touch blackhole
    for _ in $(seq 1 200); do
      [ "$(swal)" -ge 1500 ] && break
      sleep 0.01
    done
    how="after $(swal) bytes swallowed"
  else
    sleep "0.$((RANDOM % 20))"
    how="at a random point"
  fi
  kill -9 $D; wait $D 2>/dev/null || true
  echo "$(date +%s%3N)" > "run$k.end"
  n=$(stored "run$k.out")
  [ "$n" -gt 0 ] && [ "$n" -lt "$PER_RUN" ] || fail "run $k: kill not mid-stream ($n of $PER_RUN stored)"
  if [ $((k % 2)) -eq 1 ] && [ "$(swal)" -lt 1500 ]; then
    fail "run $k: only $(swal) bytes were in flight at the kill"
  fi
  ! grep -q 'not stored' "run$k.out" "run$k.err" || fail "run $k: a message was not stored (flash full?)"
  echo "kill $k: $how; $n message(s) stored, $(received) received so far"
done
rm -f blackhole
# Final run: sends what the flash kept, then FINAL new messages, and exits
# once all are acknowledged.
k=$((KILLS + 1))
echo "$(date +%s%3N)" > "run$k.start"
rc=0
timeout -s KILL 30 "$TEL" "${run_args[@]}" --count $FINAL --interval-ms 2 > "run$k.out" 2> "run$k.err" || rc=$?
echo "$(date +%s%3N)" > "run$k.end"
total=0
for r in $(seq 1 $k); do total=$((total + $(stored "run$r.out"))); done
for _ in $(seq 1 100); do [ "$(received)" -ge "$total" ] && break; sleep 0.05; done
sleep 0.3
# The stream check runs first, so a failed final run shows what was lost.
check=0
python3 - "$k" "$WINDOW" "$SPEC" <<'P' || check=$?
import re, sys
runs, window, spec = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
kills = runs - 1
win = []   # (start_ms, end_ms) of each run
logged = []  # per run: list of n printed as stored, in order
for r in range(1, runs + 1):
    win.append((int(open(f"run{r}.start").read()), int(open(f"run{r}.end").read())))
    ns = [int(m.group(1)) for m in re.finditer(r"^message (\d+) stored as \d+:", open(f"run{r}.out").read(), re.M)]
    assert ns == list(range(len(ns))), f"run {r}: stored lines out of order"
    logged.append(ns)
order, seen, total, rec_bytes = [], set(), 0, 0
for line in open("sub.txt", errors="replace"):
    m = re.search(r"\.mid=(\d+)-(\d+)", line)
    b = re.search(r'"n":(\d+)', line)
    if not m or not b:
        continue
    n, t = int(m.group(1)), int(m.group(2))
    assert n == int(b.group(1)), f"message id and body disagree: {line!r}"
    rs = [i for i, (a, e) in enumerate(win) if a <= t <= e]
    assert len(rs) == 1, f"message {line.strip()!r} does not fall in one run's time window"
    key = (rs[0], n)
    total += 1
    rec_bytes += len(line)
    if key not in seen:
        seen.add(key)
        order.append(key)
want = {(r, n) for r in range(runs) for n in logged[r]}
missing = sorted(want - seen)
extra = sorted(seen - want)
dups = total - len(seen)
stored = len(want)
print(f"stored={stored} received={total} unique={len(seen)} duplicates={dups} missing={len(missing)} "
      f"unprinted={len(extra)} kills={kills}")
ok = True
if missing:
    print("LOST (stored, never received):", missing[:20]); ok = False
if order != sorted(order):
    i = next(i for i in range(1, len(order)) if order[i] < order[i - 1])
    print("out of order at", i, order[max(0, i - 3):i + 3]); ok = False
for (r, n) in extra:
    # a committed put whose line the kill cut off: only the next one of a killed run
    if r >= kills or n != len(logged[r]):
        print("unexpected message", (r, n)); ok = False
if len(extra) > kills:
    print("more unprinted messages than kills"); ok = False
if dups > window * kills:
    print(f"too many duplicates: {dups} > {window} x {kills}"); ok = False
# The ring wrapped: the records written (about one broker line each) are
# many times the flash.
parts = spec.split(":")
flash = int(parts[1]) * int(parts[2])
avg = rec_bytes / max(total, 1)
print(f"about {int(avg)} bytes per record, {stored} records: {stored * avg / flash:.1f} x the {flash}-byte flash")
if stored * avg < 3 * flash:
    print("the flash did not wrap: raise FLASH_N_RUN or shrink FLASH_SPEC"); ok = False
sys.exit(0 if ok else 1)
P
[ $rc -eq 0 ] || { tail -n 5 "run$k.out" "run$k.err" >&2; fail "final run exited with $rc (137: did not finish in 30 s)"; }
[ $check -eq 0 ] || fail "stream check failed"
grep -q "^done: $FINAL queued, .* 0 still in the outbox" "run$k.out" || fail "final run: $(grep '^done' "run$k.out")"
grep -q "unacknowledged message(s) from an earlier run" "run$k.out" || fail "final run recovered nothing"
sane

# --- bad input: one line on stderr, non-zero exit, the flash file unchanged ---
one_line_err() { # EXPECTED_RC FILE_TO_KEEP args...
  local want=$1 keep=$2 before after rc=0; shift 2
  before=$(sha256sum "$keep")
  "$TEL" "$@" > bad.out 2> bad.err || rc=$?
  after=$(sha256sum "$keep")
  [ "$rc" -eq "$want" ] || fail "$*: exit $rc, want $want: $(cat bad.err)"
  [ "$(wc -l < bad.err)" -eq 1 ] || fail "$*: stderr is not one line: $(cat bad.err)"
  [ "$before" = "$after" ] || fail "$*: $keep changed"
}
bad_args=(--connection-string "$CS" --ca ca.pem --port 1 --count 1 --timeout-ms 300)
head -c 5000 /dev/urandom > wrong.flash
one_line_err 1 wrong.flash "${bad_args[@]}" --outbox-flash wrong.flash
grep -q "'wrong.flash' (5000 bytes) is not a flash file" bad.err || fail "not a flash: $(cat bad.err)"
one_line_err 1 wrong.flash "${bad_args[@]}" --outbox-flash wrong.flash:16:4096:16
head -c $((16 * 4096 + 20)) /dev/zero > zero.flash   # the right size, no trailer
one_line_err 1 zero.flash "${bad_args[@]}" --outbox-flash zero.flash:16:4096:16
grep -q "is not a flash file" bad.err || fail "not a flash: $(cat bad.err)"
# the flash with another geometry, also one of the same size (which the log
# would take for a foreign flash and erase): refused, untouched
for g in :16:512:16 :64:256:16 :32:512:32; do
  one_line_err 1 "$FLASH" "${bad_args[@]}" --outbox-flash "$FLASH$g"
  grep -q "is a flash of 32 x 512 bytes, unit 16, not" bad.err || fail "wrong geometry $g: $(cat bad.err)"
done
for g in :1:4096:16 :16:4096:3 :16:4096 :16:100:16 :16:4096:16:1 ":x:4096:16" ":16:4096:64"; do
  one_line_err 2 "$FLASH" "${bad_args[@]}" --outbox-flash "$FLASH$g"
  grep -q -- "--outbox-flash takes FILE\[:SECTORS:SECTOR_SIZE:UNIT\]" bad.err || fail "geometry $g: $(cat bad.err)"
done
one_line_err 2 "$FLASH" "${bad_args[@]}" --outbox-flash "$FLASH$SPEC" --outbox other.log
grep -q "exclusive" bad.err || fail "both outboxes: $(cat bad.err)"
[ ! -e other.log ] || fail "--outbox file created although the options were refused"
# one device per flash: a second process is refused while the first runs
# (which sends nothing, so the flash stays as it is)
# (which sends nothing, so the flash stays as it is); given without its
# geometry, the flash is opened with its own
"$TEL" "${run_args[@]/%$SPEC/}" --count 0 --run-ms 30000 > holder.out 2> holder.err &
H=$!; PIDS+=($H)
for _ in $(seq 1 200); do grep -q '^connected' holder.out && break; sleep 0.05; done
grep -q '^connected' holder.out || fail "holder did not connect: $(cat holder.err)"
grep -q "^outbox: flash log on $FLASH, 32 sectors of 512 bytes, program unit 16" holder.out \
  || fail "flash without geometry: $(head -3 holder.out)"
grep -q "unacknowledged" holder.out && fail "the final run left messages in the flash"
one_line_err 1 "$FLASH" "${bad_args[@]}" --outbox-flash "$FLASH$SPEC"
grep -q "in use by another process" bad.err || fail "flash in use: $(cat bad.err)"
kill $H; wait $H 2>/dev/null || true
for s in iothub-telemetry iothub-twin-methods iothub-dps; do
  [ -x "$IOTHUB_SAMPLES/$s" ] || continue
  "$IOTHUB_SAMPLES/$s" --help | grep_all -q -- "--outbox-flash FILE\[:SECTORS:SECTOR_SIZE:UNIT\]" \
    || fail "$s --help does not mention --outbox-flash"
done
echo "bad input: not a flash (2 kinds), 3 other geometries, 7 bad geometry strings, both outboxes, flash in use: refused, files unchanged"
sane
echo "time: $(python3 -c "import time; print(f'{time.time() - $t_start:.1f}')") s"
echo PASS
