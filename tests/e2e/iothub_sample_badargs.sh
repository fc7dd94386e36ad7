#!/usr/bin/env bash
# The samples' argument review (brief S9-SAMPLES, docs/decisions/samples-review.md):
# every bad argument below gets exit status 2 and one line on stderr naming
# it. Before, each was taken: numbers with blanks or a sign ("-FFFFFFFFFFFF1F18"
# wrapped to 0xE0E8), an option given twice (the last one won), a fifth
# --ca-oid reported as a bad value, host names and addresses that failed
# only as "cannot connect" after --timeout-ms, a model id
# that the hub would refuse, paths that were cut short. Then two
# results the samples used to turn into success or into something else:
# telemetry messages the outbox refused (exit 0 before, now 1) and a cached
# DPS assignment with an over-long line (its tail was taken for the device
# id). No simulator, no hub: every run ends before a connection or fails to
# connect to a closed loopback port.
set -euo pipefail
. "$(dirname "$0")/../lib/sample_expect.sh"

openssl ecparam -name prime256v1 -genkey -noout -out ca.key 2>/dev/null
openssl req -x509 -new -key ca.key -subj "/CN=badargs CA" -days 2 -out ca.pem 2>/dev/null
# A SAS identity with a trust-anchor file and a closed port: runs that get
# past the arguments fail to connect within half a second (exit 1).
SAS=(--host localhost --device-id d --sas-key "$SECRET" --ca ca.pem --port 1 --timeout-ms 500)
T=iothub-telemetry

echo "== numbers: digits only"
expect $T 2 "--count takes a number in 0..100000000" "${SAS[@]}" --count " 5"
expect $T 2 "--count takes a number in 0..100000000" "${SAS[@]}" --count +5
expect $T 2 "--count takes a number in 0..100000000" "${SAS[@]}" --count "5 "
expect $T 2 "--interval-ms takes a number" "${SAS[@]}" --interval-ms -0
expect $T 2 "--port takes a number in 1..65535" --host localhost --device-id d --sas-key "$SECRET" --ca ca.pem --port " 443"
expect $T 2 "--keep-alive takes a number in 1..1177" "${SAS[@]}" --keep-alive 0x10
expect $T 2 "--retry-ms takes MIN:MAX:JITTER" "${SAS[@]}" --retry-ms " 1000:2000:10"
expect $T 2 "--retry-ms takes MIN:MAX:JITTER" "${SAS[@]}" --retry-ms "1000:+2000:10"
expect $T 2 "bad --cert-oid  E0E1" --connection-string "HostName=h;DeviceId=d;x509=true" --cert-oid " E0E1"
expect $T 2 "bad --ca-oid -FFFFFFFFFFFF1F18" --connection-string "HostName=h;DeviceId=d;x509=true" --ca-oid -FFFFFFFFFFFF1F18
expect $T 2 "bad --key-oid +E0F1" --connection-string "HostName=h;DeviceId=d;x509=true" --key-oid +E0F1

echo "== repeated options"
expect $T 2 "--ca-oid is given more than 4 times" --connection-string "HostName=h;DeviceId=d;x509=true" \
  --ca-oid 0xE0E8 --ca-oid 0xE0E9 --ca-oid 0xF1E0 --ca-oid 0xF1E1 --ca-oid 0xF1D0
expect $T 2 "--host is given twice" "${SAS[@]}" --host other
expect $T 2 "--outbox is given twice" "${SAS[@]}" --outbox a.outbox --outbox b.outbox
expect $T 2 "--connection-string is given twice" --connection-string "HostName=h;DeviceId=d;x509=true" \
  --connection-string "HostName=h2;DeviceId=d;x509=true"
expect iothub-dps 2 "--id-scope is given twice" --id-scope 0ne00 --id-scope 0ne01
# four are allowed (the check stops at the fifth, not before)
rc=0
timeout 20 "$EX/$T" --connection-string "HostName=localhost;DeviceId=d;x509=true" --device "sim:$W/none.sock" \
  --ca-oid 0xE0E8 --ca-oid 0xE0E9 --ca-oid 0xF1E0 --ca-oid 0xF1E1 >out.txt 2>err.txt || rc=$?
[ $rc -eq 1 ] && grep -q "none.sock" err.txt || bad "four --ca-oid: exit $rc, $(cat err.txt)"

echo "== names that could only fail at connect time"
expect $T 2 "the hub host name (--host) is not a host name" --host "bad host" --device-id d --sas-key "$SECRET" --ca ca.pem
expect $T 2 "the hub host name (HostName) is not a host name" --connection-string "HostName=hub_1.example;DeviceId=d;x509=true"
expect $T 2 "the gateway (--gateway, GatewayHostName) is not a host name" "${SAS[@]}" --gateway "gw_1"
expect $T 2 "--address takes an IPv4 or IPv6 address" "${SAS[@]}" --address "127.0.0.1 "
expect iothub-dps 2 "--dps-host is not a host name" --id-scope 0ne00 --dps-host "dps host"
expect iothub-dps 2 "--registration-id takes 1..128 letters" --id-scope 0ne00 --registration-id "reg 1"
expect iothub-dps 2 "--registration-id takes 1..128 letters" --id-scope 0ne00 --registration-id "reg/1"
expect iothub-dps 2 "--registration-id needs a value" --id-scope 0ne00 --registration-id ""
expect iothub-dps 2 "--registration-id takes 1..128 letters" --id-scope 0ne00 --registration-id "$(printf 'r%.0s' $(seq 129))"
expect $T 2 "--model-id takes a DTMI" "${SAS[@]}" --model-id "bad id"
expect $T 2 "--model-id takes a DTMI" "${SAS[@]}" --model-id "dtmi:com:example:Thermostat"
expect $T 2 "--model-id takes a DTMI" "${SAS[@]}" --model-id "dtmi:com:example_:Thermostat;1"
expect $T 2 "--model-id takes a DTMI" "${SAS[@]}" --model-id "dtmi:com:example:Thermostat;01"
# good values still pass the checks (and fail to connect: exit 1)
for args in "--address ::1" "--address 127.0.0.1" "--model-id dtmi:com:example:Thermostat;1" \
  "--model-id dtmi:a:b_c:d1;999999999" "--gateway gw-1.example"; do
  rc=0
  # shellcheck disable=SC2086
  timeout 20 "$EX/$T" "${SAS[@]}" --count 1 $args >out.txt 2>err.txt || rc=$?
  [ $rc -eq 1 ] && grep -q "no connection for 500 ms" err.txt || bad "$args: exit $rc: $(cat err.txt)"
done

echo "== paths that would be cut short"
LONG=$(printf 'p%.0s' $(seq 1 501))
expect $T 2 "--outbox: the path is longer than 500 characters" "${SAS[@]}" --outbox "$LONG"
expect iothub-dps 2 "--assignment: the path is longer than 500 characters" --id-scope 0ne00 --assignment "$LONG"
ls | grep -q '^ppppp' && bad "a file with the long name was made"

echo "== telemetry the outbox refused is not a success"
# a 2 x 128-byte flash takes messages up to 32 bytes: every message is refused
rc=0
timeout 20 "$EX/$T" "${SAS[@]}" --count 2 --interval-ms 10 --outbox-flash "$W/tiny.flash:2:128:16" \
  >out.txt 2>err.txt || rc=$?
[ $rc -eq 1 ] || bad "refused messages: exit $rc, not 1"
grep -q "message 0 not stored" err.txt || bad "no 'not stored' line: $(cat err.txt)"
grep -q "iothub-telemetry: 2 of 2 message(s) were not stored" err.txt || bad "no summary of the refused messages"

echo "== an empty TRUSTM_DEVICE is not the default device"
TRUSTM_DEVICE="" expect $T 2 "TRUSTM_DEVICE is set but empty" --connection-string "HostName=h;DeviceId=d;x509=true"

echo "== DPS telemetry the outbox refused is not a success either"
printf 'localhost\ndev1\n' > tiny.assign
rc=0
timeout 20 "$EX/iothub-dps" --id-scope 0ne00 --registration-id r1 --sas-key "$SECRET" --ca ca.pem \
  --port 1 --timeout-ms 500 --count 1 --assignment tiny.assign --outbox-flash "$W/tiny2.flash:2:128:16" \
  >out.txt 2>err.txt || rc=$?
[ $rc -eq 1 ] || bad "DPS refused message: exit $rc, not 1"
grep -q "iothub-dps: 1 of 1 message(s) were not stored" err.txt || bad "DPS: no summary of the refused message: $(cat err.txt)"

echo "== a cached DPS assignment with an over-long line is not used"
# (a device id line of 200 characters was read as its first 128: another device)
{ printf 'localhost\n'; printf 'd%.0s' $(seq 1 200); printf '\n'; } > long.assign
rc=0
timeout 20 "$EX/iothub-dps" --id-scope 0ne00 --registration-id r1 --sas-key "$SECRET" --ca ca.pem \
  --dps-host localhost --port 1 --timeout-ms 500 --assignment long.assign >out.txt 2>err.txt || rc=$?
[ $rc -eq 1 ] || bad "long assignment: exit $rc, not 1"
grep -q "long.assign is not an assignment" err.txt || bad "long assignment taken: $(cat out.txt err.txt)"
grep -q "^assignment from" out.txt && bad "long assignment used: $(cat out.txt)"
printf 'hub.example\ndev1\nextra\n' > three.assign
rc=0
timeout 20 "$EX/iothub-dps" --id-scope 0ne00 --registration-id r1 --sas-key "$SECRET" --ca ca.pem \
  --dps-host localhost --port 1 --timeout-ms 500 --assignment three.assign >out.txt 2>err.txt || rc=$?
grep -q "three.assign is not an assignment" err.txt || bad "three-line assignment taken: $(cat out.txt err.txt)"
printf 'localhost\ndev1\n' > good.assign
rc=0
timeout 20 "$EX/iothub-dps" --id-scope 0ne00 --registration-id r1 --sas-key "$SECRET" --ca ca.pem \
  --port 1 --timeout-ms 500 --assignment good.assign >out.txt 2>err.txt || rc=$?
grep -q "^assignment from good.assign: localhost as dev1" out.txt || bad "a good assignment was not used: $(cat out.txt err.txt)"
# the longest device id IoT Hub allows (128 characters) fits with its line
# end, also written by hand with CRLF (it was refused: the check for a whole
# line ran out of buffer at the '\n')
ID128=$(printf 'd%.0s' $(seq 1 128))
printf 'localhost\n%s\n' "$ID128" > id128.assign
printf 'localhost\r\n%s\r\n' "$ID128" > id128crlf.assign
for f in id128.assign id128crlf.assign; do
  rc=0
  timeout 20 "$EX/iothub-dps" --id-scope 0ne00 --registration-id r1 --sas-key "$SECRET" --ca ca.pem \
    --port 1 --timeout-ms 500 --assignment "$f" >out.txt 2>err.txt || rc=$?
  grep -q "^assignment from $f: localhost as $ID128\$" out.txt || bad "$f (128-character id) not used: $(cat out.txt err.txt)"
  grep -q "is not an assignment" err.txt && bad "$f (128-character id) refused: $(cat err.txt)"
done
# one character more is not a device id
printf 'localhost\n%sd\n' "$ID128" > id129.assign
rc=0
timeout 20 "$EX/iothub-dps" --id-scope 0ne00 --registration-id r1 --sas-key "$SECRET" --ca ca.pem \
  --dps-host localhost --port 1 --timeout-ms 500 --assignment id129.assign >out.txt 2>err.txt || rc=$?
grep -q "id129.assign is not an assignment" err.txt || bad "129-character id taken: $(cat out.txt err.txt)"

finish
