#!/usr/bin/env bash
# Twin GET / reported PATCH / desired notification and a direct method with
# its response, with the test playing the hub on a plain mosquitto.
. "$(dirname "$0")/iothub_lib.sh"
start_broker
# Everything the device publishes on $iothub/...
mosquitto_sub -h 127.0.0.1 -p $PORT -i it-hub -q 0 -v -t '$iothub/#' > "$WORK/hub.txt" &
PIDS+=($!)
wait_sub it-hub
"$DEV" --port $PORT --device dev-t --outbox "$WORK/ob.log" --twin --methods --run-ms 20000 > "$WORK/dev.txt" &
D=$!; PIDS+=($D)
wait_for "$WORK/dev.txt" "TWIN_PATCH ok" 10
wait_for "$WORK/hub.txt" 'PATCH/properties/reported' 5
# The requests the device sent, byte for byte.
# (mosquitto_sub -v prints an empty payload as "(null)")
grep -qxF '$iothub/twin/GET/?$rid=1 (null)' "$WORK/hub.txt" || { cat "$WORK/hub.txt"; fail "twin GET request"; }
grep -qxF '$iothub/twin/PATCH/properties/reported/?$rid=2 {"firmware":"1.0.0","interval":5}' "$WORK/hub.txt" || { cat "$WORK/hub.txt"; fail "twin PATCH request"; }
# Hub answers and pushes.
mosquitto_pub -h 127.0.0.1 -p $PORT -t '$iothub/twin/res/200/?$rid=1' -m '{"desired":{"interval":10,"$version":3},"reported":{"$version":7}}'
mosquitto_pub -h 127.0.0.1 -p $PORT -t '$iothub/twin/res/204/?$rid=2&$version=8' -n
mosquitto_pub -h 127.0.0.1 -p $PORT -t '$iothub/twin/PATCH/properties/desired/?$version=4' -m '{"interval":20,"$version":4}'
mosquitto_pub -h 127.0.0.1 -p $PORT -t '$iothub/methods/POST/reboot/?$rid=42' -m '{"delay":1}'
wait_for "$WORK/dev.txt" "METHOD_RESPONSE" 10
wait_for "$WORK/hub.txt" 'methods/res/200' 5
kill -TERM $D; rc=0; wait $D || rc=$?
[ $rc -eq 0 ] || { cat "$WORK/dev.txt"; fail "device exit status $rc after SIGTERM (sanitizer report?)"; }
expect() { grep -qxF -- "$1" "$WORK/dev.txt" || { cat "$WORK/dev.txt"; fail "missing line: $1"; }; }
expect 'TWIN kind=response status=200 rid=1 version=-1 body={"desired":{"interval":10,"$version":3},"reported":{"$version":7}}'
expect 'TWIN kind=response status=204 rid=2 version=8 body='
expect 'TWIN kind=desired status=0 rid= version=4 body={"interval":20,"$version":4}'
expect 'METHOD name=reboot rid=42 body={"delay":1}'
expect 'METHOD_RESPONSE ok'
grep -qxF '$iothub/methods/res/200/?$rid=42 {"result":"ok"}' "$WORK/hub.txt" || { cat "$WORK/hub.txt"; fail "method response"; }
echo PASS
