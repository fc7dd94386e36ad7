#!/usr/bin/env bash
# localhub: registry, twins, queued C2D (in the registry and in the broker's
# persistent session) survive `localhub stop; localhub start`.
. "$(dirname "$0")/hub_lib.sh"
hub_start
mk_ca root; ca_add_verified root
"$L" device create --id r1 --auth x509-ca >/dev/null; mk_leaf r1 r1 root
"$L" device create --id r2 --auth sas >/dev/null
C2D="devices/r1/messages/devicebound/#"

mqttc r1 $(x509_args r1) --clean 0 "sub:$C2D" 'sub:$iothub/twin/res/#' \
  'pub0:$iothub/twin/PATCH/properties/reported/?$rid=1:{"fw":"2.1"}' 'expect:res/204' >/dev/null
"$L" twin update --device r1 --desired '{"rate":5}' >/dev/null
# one message handed to the session but never acknowledged, two still queued
"$L" c2d send --device r1 --data inflight-msg >/dev/null
mqttc r1 $(x509_args r1) --clean 0 noack 'expect:inflight-msg' close >/dev/null
"$L" c2d send --device r1 --data queued-1 >/dev/null
"$L" c2d send --device r1 --data queued-2 >/dev/null

hub_restart
ok "restarted on port $PORT"
"$L" device list | grep_all -q '^r1' || fail "device r1 lost"
"$L" device list | grep_all -q '^r2' || fail "device r2 lost"
"$L" ca list | grep_all -q root || fail "CA lost"
"$L" --json status | grep_all -q '"queuedC2d":[[:space:]]*2' || fail "queued C2D lost: $("$L" --json status)"
out=$(mqttc r1 $(x509_args r1) --clean 0 'sub:$iothub/twin/res/#' 'pub0:$iothub/twin/GET/?$rid=g:' 'expect:$rid=g' sleep:1000)
grep_in "$out" -qF '"reported":{"fw":"2.1","$version":2}' || fail "reported twin lost: $out"
grep_in "$out" -qF '"desired":{"rate":5,"$version":2}' || fail "desired twin lost: $out"
grep_in "$out" -q 'MSG q1 d1 .* inflight-msg$' || fail "unacknowledged message not redelivered after restart: $out"
grep_in "$out" -q 'queued-1$' || fail "queued-1 lost: $out"
ok "registry, twins and queued C2D survive a restart"
