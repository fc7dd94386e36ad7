#!/usr/bin/env bash
# localhub: UTF-8 from a hostile device (MQTT 3.1.1 section 1.5.3, RFC 3629).
# A topic that is not well-formed UTF-8 closes the connection (mosquitto);
# a percent-encoded property key or value that decodes to something that is
# not UTF-8 drops the message like any malformed bag; a body that is not
# UTF-8 is stored base64-encoded; a twin PATCH that is not UTF-8 gets 400.
# Every line of telemetry.jsonl must stay strict UTF-8 JSON.
. "$(dirname "$0")/hub_lib.sh"
hub_start
mk_ca root; ca_add_verified root
"$L" device create --id u1 --auth x509-ca >/dev/null; mk_leaf u1 u1 root
E=devices/u1/messages/events/
hexbytes() { printf "$(sed 's/../\\x&/g' <<<"$1")"; }

# bodies: n=<i> in the bag names each message. Well-formed (a string) ...
good=(24 c280 dfbf e0a080 e282ac ed9fbf ee8080 efbfbf f0908080 f09f9880 f48fbfbf)
# ... and not (base64): overlong 2/3/4-byte forms, surrogates, above
# U+10FFFF, F5..FF and C0/C1 leads, stray continuation, cut short, a bad
# continuation byte in the 2nd and in the 3rd/4th position
bad=(c0af c1bf e08080 e09fbf eda080 edbfbf f0808080 f08fbfbf f4908080 f5808080 f888808080 ff fe 80 bf
     e282 f09f98 e228a1 f0288cbc f09f2880 61e2)
acts=()
i=0
for h in "${good[@]}" "${bad[@]}"; do
  hexbytes "$h" >"$T/b$i"
  acts+=("pubfile:${E}n=$i:$T/b$i")
  i=$((i + 1))
done
out=$(mqttc u1 $(x509_args u1) "${acts[@]}" 'pub:devices/u1/messages/events/n=last:end-of-bodies')
[ "$(grep_in "$out" -c PUBACK)" -eq $((i + 1)) ] || fail "bodies not all acknowledged: $out"
wait_log '"payload":"end-of-bodies"'
python3 - "$LOCALHUB_HOME/telemetry.jsonl" "${#good[@]}" "${good[@]}" "${bad[@]}" <<'PY' || fail "bodies stored wrong"
import base64, json, sys
path, ngood, hexes = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
recs = {}
for raw in open(path, 'rb'):
    r = json.loads(raw.decode('utf-8'))  # strict: no surrogates, no overlongs
    recs[r['applicationProperties'].get('n')] = r
bad = 0
for i, h in enumerate(hexes):
    body, r = bytes.fromhex(h), recs.get(str(i))
    if r is None:
        print('body %s: not stored' % h); bad += 1; continue
    if i < ngood:
        ok = r.get('payload') == body.decode('utf-8') and 'payloadBase64' not in r
    else:
        ok = 'payload' not in r and base64.b64decode(r.get('payloadBase64', '')) == body
    if not ok:
        print('body %s (%s): stored as %r' % (h, 'good' if i < ngood else 'bad', r)); bad += 1
sys.exit(1 if bad else 0)
PY
ok "${#good[@]} well-formed bodies stored as text, ${#bad[@]} ill-formed ones as base64"

# property bags: percent-encoded ill-formed UTF-8 in a value or a key drops
# the message (the connection stays); well-formed 2/3/4-byte text, encoded or
# raw, is stored decoded
out=$(mqttc u1 $(x509_args u1) "pub:${E}k=%FF:bag-ff" "pub:${E}k=%ED%A0%80:bag-surrogate" \
      "pub:${E}k=%E0%80%80:bag-overlong" "pub:${E}k=%F4%90%80%80:bag-above" "pub:${E}k=%E2%82:bag-cut" \
      "pub:${E}%C0%AF=v:bag-key" "pub:${E}%24.ct=%FF:bag-sys" "pub:${E}ok=1&k=%80:bag-second" \
      "pub:${E}k=%C3%A9%E2%82%AC%F0%9F%98%80%F4%8F%BF%BF:bag-encoded" "pub:${E}k=é€😀:bag-raw")
[ "$(grep_in "$out" -c PUBACK)" -eq 10 ] || fail "hostile bags broke the session: $out"
wait_log '"payload":"bag-raw"'
for m in ff surrogate overlong above cut key sys second; do
  grep -q "bag-$m" "$LOCALHUB_HOME/telemetry.jsonl" && fail "bag with ill-formed UTF-8 ($m) stored"
done
python3 - "$LOCALHUB_HOME/telemetry.jsonl" <<'PY' || fail "well-formed bag values stored wrong"
import json, sys
want = {'bag-encoded': '\u00e9\u20ac\U0001F600\U0010FFFF', 'bag-raw': '\u00e9\u20ac\U0001F600'}
got = {}
for raw in open(sys.argv[1], 'rb'):
    r = json.loads(raw.decode('utf-8'))
    if r.get('payload') in want: got[r['payload']] = r['applicationProperties'].get('k')
if got != want: print(got); sys.exit(1)
PY
ok "property bags: ill-formed UTF-8 dropped, 2/3/4-byte text kept"

# topics: raw bytes that are not UTF-8 (or a control character, which the
# spec lets a server refuse) close the connection; nothing is stored
for h in e08080 eda080 f4908080 c0af ff e282 01 c29f; do
  set +e
  out=$(mqttc u1 $(x509_args u1) "pub:${E}t=$(hexbytes $h):topic-$h" sleep:300 2>&1)
  rc=$?
  set -e
  [ $rc -eq 4 ] || fail "topic with $h: connection not closed (rc $rc): $out"
done
out=$(mqttc u1 $(x509_args u1) "pub:${E}t=$(hexbytes f09f9880):topic-ok")
wait_log '"payload":"topic-ok"'
grep -q 'topic-[0-9a-f]' "$LOCALHUB_HOME/telemetry.jsonl" && fail "a message with an ill-formed topic was stored"
grep -q '"t":"😀","payload":"topic-ok"\|"t":"😀"' "$LOCALHUB_HOME/telemetry.jsonl" || fail "raw 4-byte topic text not kept"
ok "ill-formed topics close the connection, a raw 4-byte character is accepted"

# twin: a reported PATCH that is not UTF-8 gets 400 and changes nothing
RES='sub:$iothub/twin/res/#'
P='$iothub/twin/PATCH/properties/reported/?$rid='
out=$(mqttc u1 $(x509_args u1) "$RES" "pub0:${P}p1:{\"s\":\"$(hexbytes f09f9880)\"}" 'expect:$rid=p1' \
      "pub0:${P}p2:{\"s\":\"$(hexbytes eda080)\"}" 'expect:$rid=p2' \
      "pub0:${P}p3:{\"$(hexbytes ff)\":1}" 'expect:$rid=p3' \
      "pub0:${P}p4:{\"s\":\"$(hexbytes e08080)\"}" 'expect:$rid=p4' \
      'pub0:$iothub/twin/GET/?$rid=g:' 'expect:$rid=g')
grep_in "$out" -qF '$iothub/twin/res/204/?$rid=p1&$version=2' || fail "4-byte text refused: $out"
for r in p2 p3 p4; do
  grep_in "$out" -qF "\$iothub/twin/res/400/?\$rid=$r {\"errorCode\":400004,\"message\":\"patch is not UTF-8 text\"}" \
    || fail "ill-formed patch $r not refused with 400: $out"
done
grep_in "$out" -qF '"reported":{"s":"😀","$version":2}' || fail "twin changed by a refused patch: $out"
"$L" --json twin show --device u1 | python3 -c 'import json,sys; json.loads(sys.stdin.buffer.read().decode("utf-8"))' \
  || fail "twin show is not UTF-8 JSON"
ok "twin PATCH that is not UTF-8: 400, twin unchanged"

# monitor-events reads it all back as strict UTF-8: the bodies, the end
# marker, two bag messages and the topic one
n=$((${#good[@]} + ${#bad[@]} + 4))
"$L" --json monitor-events --from-start --count $n --timeout 20 >"$T/mon.out" || fail "monitor-events did not read $n events"
python3 -c 'import sys; sys.stdin.buffer.read().decode("utf-8")' <"$T/mon.out" || fail "monitor-events output not UTF-8"
grep -qF '"payload":"wK8="' "$T/mon.out" || fail "monitor-events lost a base64 body: $(head -c 600 "$T/mon.out")"
grep -qF '"payload":"😀"' "$T/mon.out" || fail "monitor-events lost a 4-byte body: $(head -c 600 "$T/mon.out")"
ok "monitor-events reads the $n events back as UTF-8"
