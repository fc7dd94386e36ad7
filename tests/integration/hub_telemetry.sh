#!/usr/bin/env bash
# telemetry.jsonl is rotated (wrap13 F8: it grew for ever): past the size
# set with 'localhub start --telemetry-max-size' it becomes telemetry.jsonl.1
# (then .2 ... up to --telemetry-keep, the oldest dropped); monitor-events
# follows across rotations. A failed write is logged, counted in 'status'
# (telemetryWriteErrors) and the message is not acknowledged.
. "$(dirname "$0")/hub_lib.sh"
hub_start --telemetry-max-size 4K --telemetry-keep 2
"$L" device create --id t1 --auth sas >/dev/null
TOK=$("$L" generate-sas-token --device t1 --duration 3600)
pub() { mosquitto_pub -h localhost -p "$PORT" --cafile "$CAF" -V mqttv311 -i t1 -u "$(user_for t1)" -P "$TOK" -q 1 \
          -t 'devices/t1/messages/events/$.ct=application%2Fjson&$.ce=utf-8' "$@"; }
N=40
pad=$(head -c 200 /dev/zero | tr '\0' 'p')
"$L" --json monitor-events --device t1 --count $N --timeout 90 >"$T/mon.out" 2>"$T/mon.err" &
mon=$!
sleep 1
for i in $(seq 1 $N); do pub -m "{\"n\":$i,\"pad\":\"$pad\"}" || fail "message $i refused"; done
wait $mon || fail "monitor-events lost messages across rotations: $(cat "$T/mon.err"); got $(wc -l <"$T/mon.out")"
for i in $(seq 1 $N); do grep -q "\"n\":$i," "$T/mon.out" || fail "monitor-events missed message $i"; done
ok "monitor-events followed $N messages across rotations"
F="$LOCALHUB_HOME/telemetry.jsonl"
[ -f "$F.1" ] && [ -f "$F.2" ] || fail "no rotated files: $(ls "$LOCALHUB_HOME")"
[ -e "$F.3" ] && fail "more than --telemetry-keep 2 rotated files kept"
for f in "$F" "$F.1" "$F.2"; do
  [ "$(wc -c <"$f")" -le 4096 ] || fail "$f is over the 4K limit: $(wc -c <"$f") bytes"
done
last=$(cat "$F.2" "$F.1" "$F" | grep -o '"payload":"{\\"n\\":[0-9]*' | sed 's/.*://' | tr '\n' ' ')
[[ " $last " == *" $N "* ]] || fail "newest message not in the files: $last"
prev=0; for n in $last; do [ "$n" -eq $((prev + 1)) ] || [ $prev -eq 0 ] || fail "files not in order / gap: $last"; prev=$n; done
grep -q 'telemetry.jsonl rotated' "$LOCALHUB_HOME/broker.log" || fail "rotation not logged"
ok "rotated at 4 KB, 2 old files kept, oldest dropped, order kept ($(wc -l <"$F") + $(wc -l <"$F.1") + $(wc -l <"$F.2") lines)"

# The setting is kept for the next start.
"$L" stop >/dev/null
hub_start
pub -m '{"n":"after-restart"}' || fail "refused after restart"
wait_log 'after-restart'
[ "$(wc -c <"$F")" -le 4096 ] || fail "limit lost at restart"
ok "--telemetry-max-size kept across restarts"

# A write that fails (disk full: /dev/full) is logged and counted, and the
# message is not acknowledged (the device keeps it).
"$L" --json status | grep_all -q '"telemetryWriteErrors":[[:space:]]*0' || fail "status: $("$L" --json status)"
"$L" stop >/dev/null
mv "$F" "$T/saved.jsonl"; ln -s /dev/full "$F"
hub_start
if pub -m '{"n":"disk-full"}' 2>"$T/pub.err"; then fail "message acknowledged though it could not be written"; fi
"$L" --json status | grep_all -q '"telemetryWriteErrors":[[:space:]]*[1-9]' || fail "write error not counted: $("$L" --json status)"
grep -q 'cannot write telemetry.jsonl (No space left on device)' "$LOCALHUB_HOME/broker.log" || fail "write error not logged"
ok "failed write: not acknowledged, logged, counted in status ($(grep -o '"telemetryWriteErrors":[^,]*' <<<"$("$L" --json status)"))"
"$L" stop >/dev/null
rm "$F"
hub_start
pub -m '{"n":"disk-ok"}' || fail "refused after the disk came back"
wait_log 'disk-ok'
ok "writes resume once the disk is back"
