#!/usr/bin/env bash
# localhub: a device's answers to direct methods while another process holds
# the registry's write lock (review REV16 of decision 22). The broker keeps
# an answer in memory until the registry takes it; only an answer to a call
# of this device that is in flight and within its time-out may be kept:
#  - an answer that comes after the call's time-out is not the call's answer
#    (IoT Hub answers the caller 504 and drops it). Before: kept during the
#    lock and written after it, so the caller got the late answer (200);
#  - answers to no call of this device (forged ids, another device's call,
#    one already answered) are not kept. Before: each was copied into memory
#    until the lock ended, so a device sending large ones grew the broker
#    without bound (hundreds of MB in this test).
. "$(dirname "$0")/hub_lib.sh"
hub_start
mk_ca root; ca_add_verified root
for d in m1 m2; do "$L" device create --id $d --auth x509-ca >/dev/null; mk_leaf $d $d root; done

# 1. The call reaches m1, the registry is locked, m1 answers 1 s after the
# call's 5 s time-out, the lock ends about 2 s later (within the CLI's own
# wait, time-out + 5 s): the caller gets the hub's 504, not the late answer
# (or, on a machine so slow that the lock outlasts the CLI's wait, the CLI's
# own 504: still not the late answer).
mqttc m1 $(x509_args m1) --timeout 30 'sub:$iothub/methods/POST/#' 'expect:methods/POST/late/' 'capture:rid:$rid' \
  sleep:6000 'pub:$iothub/methods/res/200/?$rid=${rid}:{"late":true}' sleep:300 >"$T/m1.out" 2>&1 &
M1=$!
invoke_pending m1 late 5 "$T/m1.out" "$T/late.json" "$T/late.err"
lock_registry 7.5
wait $M1 || fail "m1: $(cat "$T/m1.out")"
grep -q released "$T/lock.out" && fail "the lock ended before m1's late answer: the test proves nothing"
rc=0; wait $INV || rc=$?
wait $LOCK
grep -q '"late"' "$T/late.json" && fail "an answer 1 s after the call's time-out reached the caller: $(cat "$T/late.json")"
[ $rc -ne 0 ] && grep -q '504101 GatewayTimeout' "$T/late.err" ||
  fail "late answer during a lock: the caller did not get 504 (exit $rc): $(cat "$T/late.json" "$T/late.err")"
ok "an answer after the call's time-out, during a lock: the caller gets 504, not the late answer"

# 2. Memory during a lock. m2 sends answers of 1 MB to no call of its own
# (ids of no call), 300 before a lock: written at once, they match nothing,
# and the broker's memory is then what a busy broker holds (the plugin runs
# under ASan, whose quarantine keeps 256 MB of freed blocks). During the
# lock m2 answers its call in flight, then sends that answer again 300 times
# and 300 answers to no call, 1 MB each: only the first answer may be kept.
# Measured on this machine: the broker grew 3-20 MB (fixed plugin), 105 MB
# (previous plugin, which held every one until the lock ended).
rss_kb() { sed -n 's/^VmRSS:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/$(cat "$LOCALHUB_HOME/broker.pid")/status"; }
head -c 1048576 /dev/zero | tr '\0' 'x' >"$T/big.json"
FORGED=() DUP=()
for i in $(seq 1 300); do
  FORGED+=("pubfile:\$iothub/methods/res/200/?\$rid=$((1000000 + i)):$T/big.json")
  DUP+=('pubfile:$iothub/methods/res/200/?$rid=${rid}:'"$T/big.json")
done
mqttc m2 $(x509_args m2) --timeout 60 "${FORGED[@]}" >"$T/m2a.out" 2>&1 || fail "m2 before the lock: $(cat "$T/m2a.out")"
mqttc m2 $(x509_args m2) --timeout 60 'sub:$iothub/methods/POST/#' 'expect:methods/POST/big/' 'capture:rid:$rid' \
  sleep:1500 'pub:$iothub/methods/res/200/?$rid=${rid}:{"first":true}' "${DUP[@]}" "${FORGED[@]}" >"$T/m2b.out" 2>&1 &
M2=$!
invoke_pending m2 big 60 "$T/m2b.out" "$T/big.out" "$T/big.err"
r0=$(rss_kb)
lock_registry 30
wait $M2 || fail "m2 during the lock: $(cat "$T/m2b.out")"
r1=$(rss_kb)
grep -q released "$T/lock.out" && fail "the lock ended before m2's answers were sent"
kill "$LOCK"; wait "$LOCK" || true
wait $INV || fail "method invoke: $(cat "$T/big.err")"
grep -q '"first":[[:space:]]*true' "$T/big.out" || fail "the answer given during the lock lost: $(head -c 300 "$T/big.out")"
[ $((r1 - r0)) -lt 61440 ] ||
  fail "601 answers of 1 MB during a lock, one to a call in flight: the broker grew from $r0 kB to $r1 kB"
ok "601 answers of 1 MB during a lock, one to a call in flight: broker $r0 kB -> $r1 kB, the first answer reaches the caller"
