#!/usr/bin/env bash
# monitor-events across telemetry.jsonl rotations that come faster than its
# 50 ms polls (rev13 F7: after two rotations between polls it read its old
# file, then the current one, and lost the file rotated in between).
# The writer here rotates exactly as the plugin does (telemetry_rotate():
# .K-1 -> .K from the highest K down, .0 -> .1, then a new file); the reader
# is stopped (SIGSTOP) while files rotate, so "behind by N files" is exact.
# Then a burst through the real broker with a 1 KB limit.
. "$(dirname "$0")/hub_lib.sh"
mkdir -p "$LOCALHUB_HOME"
# A failure while the reader is stopped must not leave it stopped for ever.
mon=""
trap 'rc=$?; set +e; [ -n "$mon" ] && kill -CONT "$mon" 2>/dev/null && kill "$mon" 2>/dev/null; (exit $rc); hub_cleanup' EXIT
F="$LOCALHUB_HOME/telemetry.jsonl"
KEEP=3
n=0
# put COUNT: append COUNT records (payload {"n":N}) to telemetry.jsonl.
put() {
  local i
  for ((i = 0; i < $1; i++)); do
    n=$((n + 1))
    printf '{"seq":%d,"deviceId":"r1","payload":"{\\"n\\":%d}"}\n' "$n" "$n" >>"$F"
  done
}
# rotate: what the plugin does when a record would pass the size limit.
rotate() {
  local i
  if [ "$KEEP" -eq 0 ]; then rm -f "$F"; fi
  for ((i = KEEP; i >= 1; i--)); do
    if [ $i -eq 1 ]; then [ -e "$F" ] && mv -f "$F" "$F.1"; else [ -e "$F.$((i - 1))" ] && mv -f "$F.$((i - 1))" "$F.$i"; fi
  done
  : >>"$F"
}
# got FILE: the n values monitor-events printed, space separated.
got() { grep -o '"n":[0-9]*' "$1" | sed 's/.*://' | tr '\n' ' '; }
# expect_seq FILE FROM TO [SKIP_FROM SKIP_TO]: exactly FROM..TO in order
# (without SKIP_FROM..SKIP_TO).
expect_seq() {
  local want="" i
  for ((i = $2; i <= $3; i++)); do
    if [ $# -ge 5 ] && [ $i -ge $4 ] && [ $i -le $5 ]; then continue; fi
    want+="$i "
  done
  [ "$(got "$1")" = "$want" ] || fail "monitor-events printed: $(got "$1")
expected: $want"
}
# wait_count FILE N: until FILE holds N events (10 s).
wait_count() {
  local i
  for i in $(seq 1 100); do
    [ "$(grep -c '"n":' "$1" || true)" -ge "$2" ] && return 0
    sleep 0.1
  done
  return 0
}

# 1. Behind by 2 and by 3 files (keep 3): nothing lost, each line once, in order.
: >"$F"
"$L" --json monitor-events --device r1 --count 60 --timeout 10 >"$T/m1.out" 2>"$T/m1.err" &
mon=$!
sleep 0.3
put 5; wait_count "$T/m1.out" 5
kill -STOP $mon
put 5; rotate; put 5; rotate; put 5          # two rotations while it sleeps
kill -CONT $mon
wait_count "$T/m1.out" 20
kill -STOP $mon
put 5; rotate; put 5; rotate; put 5; rotate; put 5   # three (= keep) rotations
kill -CONT $mon
wait_count "$T/m1.out" 40
# and a writer that never stops: rotations as fast as mv can go
for _ in 1 2 3 4; do put 3; rotate; put 2; done
wait $mon || fail "monitor-events did not get 60 events: $(cat "$T/m1.err"); got $(got "$T/m1.out")"
expect_seq "$T/m1.out" 1 60
grep -q "missed" "$T/m1.err" && fail "a reader within --telemetry-keep reported missed files: $(cat "$T/m1.err")"
ok "monitor-events 2 and 3 rotations behind (keep 3) and under rapid rotation: 60 of 60, in order, once each"

# 2. keep 1: a reader 2 files behind finds its old file deleted, but the
# oldest kept file is the next one: nothing lost, nothing reported. 4 files
# behind: the file between is lost; the reader says which records (the
# hub's "seq" jumps) and goes on with the oldest file still there.
KEEP=1
rm -f "$F".*; : >"$F"; n=0
"$L" --json monitor-events --device r1 --count 35 --timeout 10 >"$T/m2.out" 2>"$T/m2.err" &
mon=$!
sleep 0.3
put 5; wait_count "$T/m2.out" 5
kill -STOP $mon
put 5; rotate; put 5; rotate; put 5      # F0 deleted (the reader still holds it), F1 is .1
kill -CONT $mon
wait_count "$T/m2.out" 20
grep -q "missed" "$T/m2.err" && fail "reported a loss where none was: $(cat "$T/m2.err")"
kill -STOP $mon
put 5; rotate        # F2 (the reader's) -> .1
put 5; rotate        # F3 -> .1, F2 deleted
put 5; rotate        # F4 -> .1, F3 deleted unread: records 26-30 are gone
put 5
kill -CONT $mon
wait $mon || fail "monitor-events: $(cat "$T/m2.err"); got $(got "$T/m2.out")"
expect_seq "$T/m2.out" 1 40 26 30
grep -q "missed telemetry: records 26 to 30 " "$T/m2.err" || fail "no note naming the lost records: $(cat "$T/m2.err")"
[ "$(grep -c missed "$T/m2.err")" -eq 1 ] || fail "more than one note: $(cat "$T/m2.err")"
ok "keep 1: 2 files behind loses nothing; 4 behind loses only the deleted file and says so: $(grep missed "$T/m2.err")"

# 3. Through the broker: a 1 KB limit (one ~600-byte record a file), one
# connection publishing 90 messages as fast as it can (many rotations per
# 50 ms poll), --telemetry-keep 100, so the reader is never more than the
# kept files behind and must lose nothing.
rm -f "$F" "$F".*
hub_start --telemetry-max-size 1K --telemetry-keep 100
"$L" device create --id t1 --auth sas >/dev/null
TOK=$("$L" generate-sas-token --device t1 --duration 3600)
N=90
"$L" --json monitor-events --device t1 --count $N --timeout 20 >"$T/m3.out" 2>"$T/m3.err" &
mon=$!
sleep 0.5
for i in $(seq 1 $N); do printf '{"n":%d,"pad":"%0100d"}\n' "$i" 0; done >"$T/burst.txt"
mosquitto_pub -h localhost -p "$PORT" --cafile "$CAF" -V mqttv311 -i t1 -u "$(user_for t1)" -P "$TOK" -q 1 \
  -t 'devices/t1/messages/events/$.ct=application%2Fjson&$.ce=utf-8' -l <"$T/burst.txt" || fail "burst refused"
wait $mon || fail "monitor-events lost telemetry in a burst: $(cat "$T/m3.err"); got $(grep -c '"n":' "$T/m3.out")"
expect_seq "$T/m3.out" 1 $N
grep -q "missed" "$T/m3.err" && fail "reported a loss: $(cat "$T/m3.err")"
rot=$(grep -c 'telemetry.jsonl rotated' "$LOCALHUB_HOME/broker.log" || true)
[ "$rot" -ge 40 ] || fail "only $rot rotations: the burst did not exercise rotation"
ok "broker burst: $N messages, $rot rotations at 1 KB, monitor-events got all $N in order"
