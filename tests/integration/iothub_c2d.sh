#!/usr/bin/env bash
# C2D published by mosquitto_pub reaches the callback with the property bag
# parsed (encoded and raw '$', null and empty values, percent-escapes).
. "$(dirname "$0")/iothub_lib.sh"
start_broker
"$DEV" --port $PORT --device VxDev1 --outbox "$WORK/ob.log" --c2d --run-ms 15000 > "$WORK/dev.txt" &
D=$!; PIDS+=($D)
wait_for "$WORK/dev.txt" "EVENT connected" 10
wait_sub VxDev1
mosquitto_pub -h 127.0.0.1 -p $PORT -q 1 -t 'devices/VxDev1/messages/devicebound/%24.mid=ee06e90f&%24.to=%2Fdevices%2FVxDev1%2Fmessages%2Fdevicebound&%24.ce=utf-8&app%20key=a%26b%3Dc&nullkey&emptykey=' -m 'hello device'
mosquitto_pub -h 127.0.0.1 -p $PORT -q 1 -t 'devices/VxDev1/messages/devicebound/$.mid=raw&iothub-ack=full' -m '{"x":1}'
mosquitto_pub -h 127.0.0.1 -p $PORT -q 1 -t 'devices/VxDev1/messages/devicebound/' -m 'no props'
# For another device: must not be delivered
mosquitto_pub -h 127.0.0.1 -p $PORT -q 1 -t 'devices/Other/messages/devicebound/' -m 'not mine'
wait_for "$WORK/dev.txt" "C2D 3 body=no props" 10
kill -TERM $D; rc=0; wait $D || rc=$?
[ $rc -eq 0 ] || { cat "$WORK/dev.txt"; fail "device exit status $rc after SIGTERM (sanitizer report?)"; }
expect() { grep -qxF -- "$1" "$WORK/dev.txt" || { cat "$WORK/dev.txt"; fail "missing line: $1"; }; }
expect "C2D 1 body=hello device"
expect 'PROP $.mid=ee06e90f'
expect 'PROP $.to=/devices/VxDev1/messages/devicebound'
expect 'PROP $.ce=utf-8'
expect 'PROP app key=a&b=c'
expect 'PROP nullkey'
expect 'PROP emptykey='
expect 'C2D 2 body={"x":1}'
expect 'PROP $.mid=raw'
expect 'PROP iothub-ack=full'
grep -q "not mine" "$WORK/dev.txt" && fail "received another device's C2D"
grep -q " c2d=3$" "$WORK/dev.txt" || { cat "$WORK/dev.txt"; fail "expected exactly 3 C2D"; }
echo PASS
