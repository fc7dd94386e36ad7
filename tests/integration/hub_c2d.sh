#!/usr/bin/env bash
# localhub: cloud-to-device queue (50 messages, TTL, QoS 1, redelivery
# without PUBACK, CleanSession=1 purge) with mosquitto_sub and hub_mqttc.
. "$(dirname "$0")/hub_lib.sh"
hub_start
mk_ca root; ca_add_verified root
"$L" device create --id d1 --auth x509-ca >/dev/null; mk_leaf d1 d1 root
C2D="devices/d1/messages/devicebound/#"

# first session subscribes (persistent), then goes away
mqttc d1 $(x509_args d1) --clean 0 "sub:$C2D" >/dev/null
"$L" c2d send --device d1 --data hello --props "k1=v1;flag" --message-id mid-1 --content-type application/json >/dev/null
# a real client: mosquitto_sub resumes the persistent session and gets it
mosquitto_sub -h localhost -p "$PORT" --cafile "$CAF" --cert "$T/d1.pem" --key "$T/d1.key" -V mqttv311 \
  -i d1 -u "$(user_for d1)" -c -q 1 -t "$C2D" -C 1 -W 10 -v >"$T/sub.out"
grep -q '^devices/d1/messages/devicebound/%24.mid=mid-1&%24.to=%2Fdevices%2Fd1%2Fmessages%2Fdevicebound&%24.ct=application%2Fjson&k1=v1&flag hello$' "$T/sub.out" \
  || fail "C2D topic/properties wrong: $(cat "$T/sub.out")"
ok "queued C2D delivered with system and application properties"

# QoS 1 and redelivery: no PUBACK -> delivered again (DUP) on the next session
"$L" c2d send --device d1 --data again >/dev/null
out=$(mqttc d1 $(x509_args d1) --clean 0 noack "expect:again" close)
# (DUP may already be set if the previous session was still closing when the
# message was handed over)
grep_in "$out" -q "^MSG q1 d[01] devices/d1/messages/devicebound/.* again$" || fail "not delivered at QoS 1: $out"
out=$(mqttc d1 $(x509_args d1) --clean 0 "expect:again")
grep_in "$out" -q "^MSG q1 d1 .* again$" || fail "not redelivered after missing PUBACK: $out"
out=$(mqttc d1 $(x509_args d1) --clean 0 sleep:700)
grep_in "$out" -q again && fail "acknowledged message delivered a third time"
ok "QoS 1 delivery, redelivery without PUBACK, completion by PUBACK"

# queue depth 50
for i in $(seq 1 50); do "$L" c2d send --device d1 --data "n$i" >/dev/null; done
"$L" c2d send --device d1 --data n51 2>"$T/err" && fail "51st message accepted"
grep -q 403004 "$T/err" || fail "no 403004 reason: $(cat "$T/err")"
out=$(mqttc d1 $(x509_args d1) --clean 0 "expect: n50" sleep:300)
[ "$(grep_in "$out" -c '^MSG q1')" -eq 50 ] || fail "expected 50 deliveries"
ok "queue holds 50 messages and refuses the 51st with 403004"

# TTL
"$L" c2d send --device d1 --data short-lived --ttl 1 >/dev/null
"$L" c2d send --device d1 --data long-lived --ttl 600 >/dev/null
sleep 2.2
out=$(mqttc d1 $(x509_args d1) --clean 0 "expect:long-lived" sleep:300)
grep_in "$out" -q short-lived && fail "expired message delivered"
ok "expired messages are dropped"

# list and purge the queue
"$L" c2d send --device d1 --data to-purge-1 --message-id p-1 >/dev/null
"$L" c2d send --device d1 --data to-purge-2 >/dev/null
"$L" --json c2d list --device d1 | grep_all -q '"messageId":[[:space:]]*"p-1"' || fail "c2d list"
# (az's names for --device: --device-id and -d)
"$L" --json c2d list --device-id d1 | grep_all -q '"messageId":[[:space:]]*"p-1"' || fail "c2d list --device-id"
"$L" --json c2d purge -d d1 | grep_all -q '"purged":[[:space:]]*2' || fail "c2d purge"
out=$(mqttc d1 $(x509_args d1) --clean 0 sleep:700)
grep_in "$out" -q to-purge && fail "purged message delivered"
ok "c2d list and purge"

# CleanSession=1 removes queued messages
"$L" c2d send --device d1 --data purged >/dev/null
mqttc d1 $(x509_args d1) --clean 1 sleep:100 >/dev/null
out=$(mqttc d1 $(x509_args d1) --clean 0 "sub:$C2D" sleep:700)
grep_in "$out" -q purged && fail "CleanSession=1 did not purge the queue"
ok "CleanSession=1 purges the queue"

# bad input
"$L" c2d send --device nobody --data x 2>/dev/null && fail "unknown device accepted"
"$L" c2d send --device d1 --data x --props 'bad key=v' 2>/dev/null && fail "bad property accepted"
"$L" c2d send --device d1 --data x --ttl 0 2>/dev/null && fail "ttl 0 accepted"
"$L" c2d send --device d1 --data x --bogus 1 2>/dev/null && fail "unknown option accepted"
ok "bad c2d input refused"
