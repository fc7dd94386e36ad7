#!/usr/bin/env bash
# localhub: device twin (GET, reported PATCH merge with null-delete and 204 +
# $version, desired PATCH push, $metadata, 400 on rule violations).
. "$(dirname "$0")/hub_lib.sh"
hub_start
mk_ca root; ca_add_verified root
"$L" device create --id t1 --auth x509-ca >/dev/null; mk_leaf t1 t1 root
RES='sub:$iothub/twin/res/#'
DES='sub:$iothub/twin/PATCH/properties/desired/#'
PATCH='$iothub/twin/PATCH/properties/reported/?$rid='

out=$(mqttc t1 $(x509_args t1) "$RES" 'pub0:$iothub/twin/GET/?$rid=g1:' 'expect:res/200/?$rid=g1')
grep_in "$out" -qF 'MSG q0 d0 $iothub/twin/res/200/?$rid=g1 {"desired":{"$version":1},"reported":{"$version":1}}' \
  || fail "initial GET: $out"
ok "GET returns desired and reported with \$version (QoS 0)"

out=$(mqttc t1 $(x509_args t1) "$RES" "pub0:${PATCH}p1:{\"fw\":\"1.0\",\"nested\":{\"a\":1,\"b\":2}}" 'expect:$rid=p1' \
      "pub0:${PATCH}p2:{\"nested\":{\"a\":null},\"fw\":null,\"new\":true}" 'expect:$rid=p2' \
      'pub0:$iothub/twin/GET/?$rid=g2:' 'expect:$rid=g2')
grep_in "$out" -qF '$iothub/twin/res/204/?$rid=p1&$version=2' || fail "first PATCH: $out"
grep_in "$out" -qF '$iothub/twin/res/204/?$rid=p2&$version=3' || fail "second PATCH: $out"
grep_in "$out" -qF '"reported":{"nested":{"b":2},"new":true,"$version":3}' || fail "merge/null-delete wrong: $out"
ok "reported PATCH merges, deletes nulls, answers 204 with the new \$version"

"$L" twin show --device t1 >"$T/twin.json"
grep -q '"\$metadata"' "$T/twin.json" || fail "no \$metadata in the service view"
grep -q '"\$lastUpdated"' "$T/twin.json" || fail "no \$lastUpdated"
ok "twin show has \$metadata/\$lastUpdated"

# desired PATCH is pushed to a subscribed device
mqttc t1 $(x509_args t1) "$DES" 'expect:properties/desired/?$version=2' >"$T/push.out" &
DEV=$!
wait_state t1 twin-desired
"$L" twin update --device t1 --desired '{"interval":30,"mode":{"x":"y"}}' >"$T/update.json"
wait $DEV || fail "desired push not received: $(cat "$T/push.out")"
grep -qF 'MSG q0 d0 $iothub/twin/PATCH/properties/desired/?$version=2 {"interval":30,"mode":{"x":"y"},"$version":2}' "$T/push.out" \
  || fail "desired push payload: $(cat "$T/push.out")"
grep -q '"interval":[[:space:]]*30' "$T/update.json" || fail "twin update output"
ok "desired PATCH pushed with \$version"

# rules -> 400 (depth > 10, '$' in a key, bad JSON, 4 KB+ strings)
deep='{"a":{"b":{"c":{"d":{"e":{"f":{"g":{"h":{"i":{"j":{"k":1}}}}}}}}}}}'
long=$(head -c 5000 /dev/zero | tr '\0' 'x')
out=$(mqttc t1 $(x509_args t1) "$RES" "pub0:${PATCH}b1:$deep" 'expect:$rid=b1' \
      "pub0:${PATCH}b2:{\"\$bad\":1}" 'expect:$rid=b2' "pub0:${PATCH}b3:{not json" 'expect:$rid=b3' \
      "pub0:${PATCH}b4:{\"s\":\"$long\"}" 'expect:$rid=b4' \
      "pub0:${PATCH}b5:{\"ok\":{\"b\":{\"c\":{\"d\":{\"e\":{\"f\":{\"g\":{\"h\":{\"i\":1}}}}}}}}}" 'expect:$rid=b5')
for r in b1 b2 b3 b4; do grep_in "$out" -qF "res/400/?\$rid=$r" || fail "$r not refused with 400: $out"; done
grep_in "$out" -qF 'res/204/?$rid=b5&$version=4' || fail "depth-10 patch refused: $out"
ok "depth, key, JSON and string-size rules answer 400"
"$L" twin update --device t1 --desired '{broken' 2>/dev/null && fail "CLI accepted bad JSON"
"$L" twin update --device t1 --desired "$deep" 2>"$T/err" && fail "CLI accepted a too deep patch"
grep -q "400" "$T/err" || fail "no 400 reason"
"$L" twin show --device nobody 2>/dev/null && fail "twin of unknown device"
ok "twin CLI refuses bad input"
