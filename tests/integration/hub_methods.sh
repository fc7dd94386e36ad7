#!/usr/bin/env bash
# localhub: direct methods (device answer, 404 offline, 504 timeout).
. "$(dirname "$0")/hub_lib.sh"
hub_start
mk_ca root; ca_add_verified root
for d in m1 m2; do "$L" device create --id $d --auth x509-ca >/dev/null; mk_leaf $d $d root; done

mqttc m1 $(x509_args m1) 'sub:$iothub/methods/POST/#' 'expect:methods/POST/reboot/' 'capture:rid:$rid' \
  'pub0:$iothub/methods/res/201/?$rid=${rid}:{"done":true,"took":3}' sleep:300 >"$T/dev.out" &
DEV=$!
wait_state m1 methods
"$L" method invoke --device m1 --name reboot --payload '{"delay":1}' --timeout 10 >"$T/res.json"
wait $DEV || fail "device side failed: $(cat "$T/dev.out")"
grep -q 'MSG q0 d0 $iothub/methods/POST/reboot/?$rid=[0-9]* {"delay":1}' "$T/dev.out" || fail "request at device: $(cat "$T/dev.out")"
grep -q '"status":[[:space:]]*201' "$T/res.json" || fail "status not relayed: $(cat "$T/res.json")"
grep -q '"took":[[:space:]]*3' "$T/res.json" || fail "payload not relayed: $(cat "$T/res.json")"
ok "method invoke returns the device's status and payload"

"$L" method invoke --device m2 --name reboot --timeout 5 2>"$T/err" && fail "offline device answered"
grep -q 404 "$T/err" || fail "offline: $(cat "$T/err")"
ok "offline device gives 404"

mqttc m2 $(x509_args m2) 'sub:$iothub/methods/POST/#' sleep:8000 >/dev/null &
DEV=$!
wait_state m2 methods
start=$(date +%s)
"$L" method invoke --device m2 --name slow --timeout 5 2>"$T/err" && fail "silent device answered"
grep -q 504 "$T/err" || fail "timeout: $(cat "$T/err")"
el=$(( $(date +%s) - start ))
[ $el -ge 4 ] && [ $el -le 8 ] || fail "timeout took ${el}s"
kill $DEV 2>/dev/null || true; wait $DEV 2>/dev/null || true
ok "unanswered call gives 504 after the timeout"

"$L" method invoke --device m1 --name reboot --timeout 3 2>/dev/null && fail "timeout 3 accepted"
"$L" method invoke --device m1 --name 'bad/name' 2>/dev/null && fail "bad method name accepted"
"$L" method invoke --device m1 --name x --payload '{bad' 2>/dev/null && fail "bad payload accepted"
"$L" method invoke --device ghost --name x 2>/dev/null && fail "unknown device accepted"
ok "bad method input refused"
