#!/usr/bin/env bash
# localhub: a C2D message (and a module input) queued for a device (module)
# that connects while another process (an sqlite3 shell, a backup) holds the
# registry's write lock is delivered once, after the lock, and the broker
# keeps serving other clients meanwhile (brief HUBLOCK15). Before, the plugin
# published the message and then tried to delete its row; with the lock held
# elsewhere the DELETE failed, and the message was published again at the
# next tick, and the next: 31 copies reached the device in a 13 s lock.
. "$(dirname "$0")/hub_lib.sh"
hub_start
mk_ca root; ca_add_verified root
for d in d1 d2; do "$L" device create --id $d --auth x509-ca >/dev/null; mk_leaf $d $d root; done
"$L" module create --device d1 --module m1 --auth x509-ca >/dev/null; mk_leaf m1 'd1\/m1' root
C2D="devices/d1/messages/devicebound/#"
modc() { "$MQTTC" --port "$PORT" --cafile "$CAF" --id d1/m1 --user "localhost/d1/m1/?api-version=2021-04-12" \
  $(x509_args m1) "$@"; }


# d1 and its module m1: persistent sessions subscribed to C2D and inputs,
# offline when the messages are queued
mqttc d1 $(x509_args d1) --clean 0 "sub:$C2D" >/dev/null
modc --clean 0 'sub:devices/d1/modules/m1/inputs/#' >/dev/null
"$L" c2d send --device d1 --data c2d-once >/dev/null
"$L" module send-input --device d1 --module m1 --input in1 --data input-once >/dev/null
# d2: connected before the lock; sends telemetry 12.3 s after it starts,
# when the CONNECTs of d1 and m1 are over and the plugin has had ticks to
# deliver to them (their connection-state writes once waited the 5 s busy
# time each; they no longer wait since HUBLOCK16, hub_write_lock.sh).
mqttc d2 $(x509_args d2) sleep:12300 'pub:devices/d2/messages/events/:during-lock' >"$T/tel.out" 2>&1 &
TEL=$!
t0=$(date +%s%N)
wait_state d2 Connected
lock_registry 16
# d1 and m1 connect during the lock (resuming their subscribed sessions) and
# stay until well after it
mqttc d1 $(x509_args d1) --clean 0 --timeout 30 sleep:20000 >"$T/d1.out" 2>&1 &
D1=$!
modc --clean 0 --timeout 30 sleep:20000 >"$T/m1.out" 2>&1 &
M1=$!
wait $TEL || fail "telemetry during the lock: $(cat "$T/tel.out")"
took_ms=$(( ($(date +%s%N) - t0) / 1000000 ))
grep -q PUBACK "$T/tel.out" || fail "no PUBACK during the lock: $(cat "$T/tel.out")"
grep -q released "$T/lock.out" && fail "telemetry acknowledged only after the lock was gone ($took_ms ms)"
[ "$took_ms" -lt 13800 ] || fail "PUBACK ${took_ms} ms after d2 started (publish at about 12300 ms): delivery stalled the broker"
ok "telemetry of another device during the lock acknowledged ${took_ms} ms after it started (publish at about 12300 ms)"
# still inside the lock: both connected, nothing delivered yet, both still queued
grep -q '^CONNACK 0' "$T/d1.out" && grep -q '^CONNACK 0' "$T/m1.out" ||
  fail "d1 or m1 not connected 12 s into the lock: $(cat "$T/d1.out" "$T/m1.out")"
grep -l "^MSG" "$T/d1.out" "$T/m1.out" && fail "delivered while the registry was locked (its row could not be deleted)"
[ "$("$L" --json c2d list --device d1 | grep_all -c messageId)" = 1 ] || fail "C2D message not queued during the lock"
wait $LOCK
wait $D1 || fail "d1: $(cat "$T/d1.out")"
wait $M1 || fail "m1: $(cat "$T/m1.out")"
n=$(grep -c '^MSG .* devices/d1/messages/devicebound/.* c2d-once$' "$T/d1.out" || true)
[ "$n" = 1 ] || fail "C2D message delivered $n times (once expected): $(head -3 "$T/d1.out")"
[ "$("$L" --json c2d list --device d1 | grep_all -c messageId)" = 0 ] || fail "delivered C2D message still queued"
ok "C2D message queued before a registry lock delivered exactly once, after it, to a device that connected during it"
n=$(grep -c '^MSG .* devices/d1/modules/m1/inputs/in1/.* input-once$' "$T/m1.out" || true)
[ "$n" = 1 ] || fail "module input delivered $n times (once expected): $(head -3 "$T/m1.out")"
ok "module input queued before a registry lock delivered exactly once, after it, to a module that connected during it"
