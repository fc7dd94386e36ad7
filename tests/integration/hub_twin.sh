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

# RFC 7396: a null anywhere in a patch deletes, it is never stored - also
# inside an object the twin does not have yet, at every depth (spec 4: a
# twin holds no nulls); a scalar replaced by an object gets metadata for the
# object's members
out=$(mqttc t1 $(x509_args t1) "$RES" "pub0:${PATCH}n0:{\"sc\":5}" 'expect:$rid=n0' \
      "pub0:${PATCH}n1:{\"sc\":{\"in\":1,\"gone\":null},\"nn\":{\"b\":{\"c\":null,\"d\":1},\"e\":null}}" 'expect:$rid=n1' \
      'pub0:$iothub/twin/GET/?$rid=n2:' 'expect:$rid=n2')
grep_in "$out" -qF 'res/204/?$rid=n1' || fail "null patch refused: $out"
grep_in "$out" -q 'res/200/?$rid=n2 .*"sc":{"in":1},"nn":{"b":{"d":1}}' || fail "nulls in a new object stored: $out"
"$L" twin show --device t1 >"$T/twin2.json"
python3 - "$T/twin2.json" <<'PY' || fail "metadata of the new objects: $(cat "$T/twin2.json")"
import json, sys
t = json.load(open(sys.argv[1]))['properties']['reported']
m = t['$metadata']
assert t['sc'] == {'in': 1} and t['nn'] == {'b': {'d': 1}}, t
assert set(m['sc']) == {'$lastUpdated', 'in'}, m['sc']
assert set(m['nn']) == {'$lastUpdated', 'b'} and set(m['nn']['b']) == {'$lastUpdated', 'd'}, m['nn']
PY
ok "nulls inside new objects are dropped at every depth; a scalar replaced by an object gets member metadata"

# a section over 32 KB -> 400 and nothing changes; 31 KB is fine
v=$(head -c 3900 /dev/zero | tr '\0' 'v')
big='{'; for k in 1 2 3 4 5 6 7; do big+="\"k$k\":\"$v\","; done; big+='"k8":"'$v'"}'
out=$(mqttc t1 $(x509_args t1) "$RES" 'pub0:$iothub/twin/GET/?$rid=s0:' 'expect:$rid=s0' \
      "pub0:${PATCH}s1:$big" 'expect:$rid=s1' "pub0:${PATCH}s2:{\"k9\":\"$v\"}" 'expect:$rid=s2' \
      'pub0:$iothub/twin/GET/?$rid=s3:' 'expect:$rid=s3')
ver=$(grep_in "$out" -m1 -o '"reported":{.*"\$version":[0-9]*' | grep -o '[0-9]*$')
grep_in "$out" -qF "res/204/?\$rid=s1&\$version=$((ver + 1))" || fail "31 KB section refused: $(cut -c1-300 <<<"$out")"
grep_in "$out" -qF 'res/400/?$rid=s2 {"errorCode":400004,"message":"twin section would exceed 32768 bytes"}' \
  || fail "33 KB section not refused: $(grep_in "$out" s2 | cut -c1-300)"
grep_in "$out" -q "res/200/?\$rid=s3 .*\"k8\":\"v*\",\"\$version\":$((ver + 1))}}" || fail "twin changed by the refused patch"
grep_in "$out" -q '"k9"' && fail "k9 stored by the refused patch"
ok "a section over 32 KB answers 400 and changes nothing"

# a device whose twin row is missing (a crash between the two writes of a
# DPS assignment, which creates the device, then its twin): GET and PATCH
# answer 404, the connection stays
"$L" device create --id t2 --auth x509-ca >/dev/null; mk_leaf t2 t2 root
python3 -c 'import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute("DELETE FROM twins WHERE device=?", ("t2",)); c.commit()' \
  "$LOCALHUB_HOME/registry.db"
out=$(mqttc t2 $(x509_args t2) "$RES" "pub0:${PATCH}x1:{\"a\":1}" 'expect:$rid=x1' \
      'pub0:$iothub/twin/GET/?$rid=x2:' 'expect:$rid=x2' 'pub:devices/t2/messages/events/:after-404')
grep_in "$out" -qF 'res/404/?$rid=x1 {"errorCode":404000,"message":"device has no twin"}' || fail "PATCH without a twin: $out"
grep_in "$out" -qF 'res/404/?$rid=x2' || fail "GET without a twin: $out"
grep_in "$out" -q PUBACK || fail "connection lost after the 404: $out"
ok "PATCH and GET of a device without a twin row answer 404"
