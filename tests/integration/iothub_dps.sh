#!/usr/bin/env bash
# DPS over MQTT with the test playing the provisioning service: register ->
# 202 with operationId and retry-after -> poll with that operationId -> 200
# assigned; then the device connects to the assigned hub as the assigned id.
. "$(dirname "$0")/iothub_lib.sh"
start_broker
SCOPE=0ne0009354C
REG=reg-device-01
OP=4.d0a671905ea5b2c8.e7173b7b-0001
# 1. the register request
mosquitto_sub -h 127.0.0.1 -p $PORT -i it-put -v -t '$dps/registrations/PUT/#' -C 1 -W 20 > "$WORK/put.txt" &
S1=$!; PIDS+=($S1)
mosquitto_sub -h 127.0.0.1 -p $PORT -i it-get -v -t '$dps/registrations/GET/#' -C 1 -W 20 > "$WORK/get.txt" &
S2=$!; PIDS+=($S2)
wait_sub it-put
wait_sub it-get
"$DEV" --port $PORT --device unused --outbox "$WORK/ob.log" --dps-scope $SCOPE --dps-reg $REG \
  --dps-payload '{"model":"thermo"}' --count 1 > "$WORK/dev.txt" &
D=$!; PIDS+=($D)
wait $S1 || fail "no register request"
grep -qxF '$dps/registrations/PUT/iotdps-register/?$rid=1 {"registrationId":"reg-device-01","payload":{"model":"thermo"}}' "$WORK/put.txt" \
  || { cat "$WORK/put.txt"; fail "register request bytes"; }
t0=$(date +%s%N)
mosquitto_pub -h 127.0.0.1 -p $PORT -t '$dps/registrations/res/202/?$rid=1&retry-after=1' \
  -m "{\"operationId\":\"$OP\",\"status\":\"assigning\"}"
wait $S2 || fail "no poll request"
t1=$(date +%s%N)
grep -qxF "\$dps/registrations/GET/iotdps-get-operationstatus/?\$rid=2&operationId=$OP (null)" "$WORK/get.txt" \
  || { cat "$WORK/get.txt"; fail "poll request bytes"; }
# retry-after=1 was honoured (allow scheduling slack)
[ $(( (t1 - t0) / 1000000 )) -ge 900 ] || fail "poll came after $(( (t1 - t0) / 1000000 )) ms, before retry-after"
mosquitto_pub -h 127.0.0.1 -p $PORT -t '$dps/registrations/res/200/?$rid=2' \
  -m "{\"operationId\":\"$OP\",\"status\":\"assigned\",\"registrationState\":{\"registrationId\":\"$REG\",\"assignedHub\":\"hub-b.azure-devices.net\",\"deviceId\":\"assigned-dev\",\"status\":\"assigned\",\"substatus\":\"initialAssignment\"}}"
wait $D || { cat "$WORK/dev.txt"; fail "device failed"; }
grep -qxF "DPS assigned hub=hub-b.azure-devices.net device=assigned-dev" "$WORK/dev.txt" || { cat "$WORK/dev.txt"; fail "assignment"; }
grep -q "DONE sent=1 acked=1" "$WORK/dev.txt" || { cat "$WORK/dev.txt"; fail "hub connection after DPS"; }
grep -qF "as assigned-dev (p2, c0, k30, u'hub-b.azure-devices.net/assigned-dev/?api-version=2021-04-12" "$WORK/broker.log" \
  || { cat "$WORK/broker.log"; fail "hub CONNECT after DPS"; }
grep -qF "as $REG (p2, c1, k60, u'$SCOPE/registrations/$REG/api-version=2019-03-31&ClientVersion=" "$WORK/broker.log" \
  || { cat "$WORK/broker.log"; fail "DPS CONNECT"; }

# 2. a refusal is reported with its error code
mosquitto_sub -h 127.0.0.1 -p $PORT -i it-put2 -v -t '$dps/registrations/PUT/#' -C 1 -W 20 > "$WORK/put2.txt" &
S3=$!; PIDS+=($S3)
wait_sub it-put2
"$DEV" --port $PORT --device unused --outbox "$WORK/ob2.log" --dps-scope $SCOPE --dps-reg $REG > "$WORK/dev2.txt" &
D2=$!; PIDS+=($D2)
wait $S3
mosquitto_pub -h 127.0.0.1 -p $PORT -t '$dps/registrations/res/401/?$rid=1' \
  -m '{"errorCode":401002,"trackingId":"t","message":"Invalid certificate.","timestampUtc":"x"}'
rc=0; wait $D2 || rc=$?
[ $rc -eq 3 ] || { cat "$WORK/dev2.txt"; fail "refusal exit code $rc"; }
grep -q "DPS failed .* status=401 error=401002" "$WORK/dev2.txt" || { cat "$WORK/dev2.txt"; fail "refusal report"; }
echo PASS
