#!/usr/bin/env bash
# The IoT Hub samples given what a new user types wrong (session 7, USER):
# connection strings with a missing, empty, misspelt, unknown or repeated
# part, identity and trust-anchor options that exclude each other, empty
# option values, devices that are not there, device ids IoT Hub does not
# allow. Each: exit status 2 (arguments) or 1 (the chip), one line on stderr
# that starts with the program's name and names the bad part, and never the
# SharedAccessKey. Nothing here needs a simulator or a hub: every case ends
# before a connection.
set -euo pipefail
. "$(dirname "$0")/../lib/sample_expect.sh"
cs() { expect iothub-telemetry 2 "bad connection string: $1" --connection-string "$2"; }

echo "== connection strings"
cs "DeviceId is missing" "HostName=h"
cs "HostName is missing" "DeviceId=d;x509=true"
cs "give x509=true" "HostName=h;DeviceId=d"
cs "x509 takes only 'true' (part 3)" "HostName=h;DeviceId=d;x509=false"
cs "x509 appears twice" "HostName=h;DeviceId=d;x509=true;x509=true"
cs "HostName appears twice" "HostName=h;HostName=g;DeviceId=d;x509=true"
cs "DeviceId appears twice" "HostName=h;DeviceId=a;DeviceId=b;x509=true"
cs "SharedAccessKey appears twice" "HostName=h;DeviceId=d;SharedAccessKey=$SECRET;SharedAccessKey=$SECRET"
cs "x509=true and SharedAccessKey exclude each other" "HostName=h;DeviceId=d;x509=true;SharedAccessKey=$SECRET"
cs "unknown key 'Foo'" "HostName=h;DeviceId=d;Foo=bar;x509=true"
cs "'GatewayHostname' is written 'GatewayHostName'" "HostName=h;DeviceId=d;x509=true;GatewayHostname=gw"
cs "'hostname' is written 'HostName'" "hostname=h;DeviceId=d;x509=true"
cs "part 1 has no '='" "garbage"
cs "part 3 has no '='" "HostName=h;DeviceId=d;${SECRET%=}"
cs "part 3 has an unknown key" "HostName=h;DeviceId=d;$SECRET"
cs "part 3 has an unknown key" "HostName=h;DeviceId=d;${SECRET%=}x=1"
cs "HostName has no value" "HostName=;DeviceId=d;x509=true"
cs "SharedAccessKey has no value" "HostName=h;DeviceId=d;SharedAccessKey="
cs "part 2 is empty" "HostName=h;;DeviceId=d;x509=true"
cs "part 1 is empty" ";HostName=h;DeviceId=d;x509=true"
cs "part 3 has no key before '='" "HostName=h;DeviceId=d;=x;x509=true"
cs "SharedAccessKeyName (a shared access policy) is not supported" \
  "HostName=h;DeviceId=d;SharedAccessKeyName=owner;SharedAccessKey=$SECRET"
expect iothub-telemetry 2 "is not base64" --connection-string "HostName=h;DeviceId=d;SharedAccessKey=not*base64"
expect iothub-telemetry 2 "bare host name" --connection-string "HostName=h;DeviceId=d;x509=true;GatewayHostName=gw:443"
expect iothub-twin-methods 2 "unknown key 'Bogus'" --connection-string "HostName=h;DeviceId=d;Bogus=1;x509=true"
expect iothub-twin-methods 2 "--count and --interval-ms are for the samples that send telemetry" \
  --connection-string "HostName=h;DeviceId=d;x509=true" --count 5
expect iothub-dps 2 "HostName appears twice" --id-scope 0ne00 --connection-string "HostName=h;HostName=h;DeviceId=d;x509=true"

echo "== the connection string from the environment (a SharedAccessKey kept out of ps)"
IOTHUB_DEVICE_CONNECTION_STRING="HostName=h;DeviceId=d;SharedAccessKey=$SECRET;Bogus=1" \
  expect iothub-telemetry 2 "bad connection string (IOTHUB_DEVICE_CONNECTION_STRING): " --count 1
IOTHUB_DEVICE_CONNECTION_STRING="HostName=h;DeviceId=d;SharedAccessKey=$SECRET;Bogus=1" \
  expect iothub-telemetry 2 "Bogus" --count 1
# an identity on the command line wins; the variable is not read with it
IOTHUB_DEVICE_CONNECTION_STRING="HostName=h;DeviceId=d;Bogus=1" \
  expect iothub-telemetry 2 "bad connection string: " --connection-string "HostName=h2;DeviceId=d2"
IOTHUB_DEVICE_CONNECTION_STRING="" expect iothub-telemetry 2 "the hub host and device id are needed" --count 1
"$EX/iothub-telemetry" --help | grep -q IOTHUB_DEVICE_CONNECTION_STRING || bad "--help does not name the variable"

echo "== options"
expect iothub-telemetry 2 "--connection-string excludes --host" --host h --connection-string "HostName=h;DeviceId=d;x509=true"
expect iothub-telemetry 2 "--connection-string excludes" --connection-string "HostName=h;DeviceId=d;x509=true" --sas-key "$SECRET"
expect iothub-telemetry 2 "--ca and --ca-oid exclude each other" --connection-string "HostName=h;DeviceId=d;x509=true" --ca ca.pem --ca-oid 0xE0E8
expect iothub-telemetry 2 "--device needs a value" --connection-string "HostName=h;DeviceId=d;x509=true" --device ""
expect iothub-telemetry 2 "--connection-string needs a value" --connection-string ""
expect iothub-telemetry 2 "unknown option or missing value: --bogus" --bogus
expect iothub-telemetry 2 "unexpected argument 'y'" --connection-string "HostName=h;DeviceId=d;x509=true" --model-id x y
# (SEC15) a key in a word the parser refuses is not echoed (expect() fails on
# SECRET in stdout or stderr): --opt=VALUE, a key or connection string where
# an option was expected
expect iothub-telemetry 2 "--sas-key=...: give the value as the next argument ('--sas-key VALUE'" \
  --host h --device-id d --sas-key="$SECRET"
expect iothub-dps 2 "--sas-key=...: give the value as the next argument" --sas-key="$SECRET"
expect iothub-telemetry 2 "--connection-string=...: give the value as the next argument" \
  --connection-string="HostName=h;DeviceId=d;SharedAccessKey=$SECRET"
expect iothub-telemetry 2 "unexpected argument 5, not shown: it may be a key" --host h --device-id d "$SECRET"
expect iothub-twin-methods 2 "unexpected argument 1, not shown: it may be a key" \
  "HostName=h;DeviceId=d;SharedAccessKey=$SECRET"
expect iothub-telemetry 2 "--port takes a number in 1..65535" --connection-string "HostName=h;DeviceId=d;x509=true" --port 0
expect iothub-telemetry 2 "the device id 'my device' has a character IoT Hub does not allow: ' '" \
  --host h --device-id "my device" --sas-key "$SECRET" --ca ca.pem
expect iothub-telemetry 2 "the device id 'a/b' has a character IoT Hub does not allow: '/'" \
  --connection-string "HostName=h;DeviceId=a/b;x509=true"
expect iothub-telemetry 2 "the module id 'm#1/x' has a character" \
  --connection-string "HostName=h;DeviceId=d;ModuleId=m#1/x;x509=true"
# '+' and '#' are MQTT wildcards: IoT Hub's current identity rules leave them out
expect iothub-telemetry 2 "the device id 'a+b' has a character IoT Hub does not allow: '+'" \
  --connection-string "HostName=h;DeviceId=a+b;x509=true"
expect iothub-telemetry 2 "the module id 'm#1' has a character IoT Hub does not allow: '#'" \
  --connection-string "HostName=h;DeviceId=d;ModuleId=m#1;x509=true"
expect iothub-telemetry 2 "the device id is longer than 128 characters" \
  --connection-string "HostName=h;DeviceId=$(printf 'd%.0s' $(seq 129));x509=true"
expect iothub-dps 2 "the id scope 'bad scope!' is not letters and digits" --id-scope "bad scope!"
mkfifo fifo
expect iothub-dps 2 "--assignment '$W/fifo' is not a regular file" --id-scope 0ne00 --assignment "$W/fifo"
[ -p fifo ] || bad "the FIFO given as --assignment was replaced"

expect iothub-telemetry 2 "--outbox '$W/fifo' is not a regular file" --connection-string "HostName=h;DeviceId=d;x509=true" --outbox "$W/fifo"
expect iothub-telemetry 2 "--outbox-flash '$W/fifo' is not a regular file" --connection-string "HostName=h;DeviceId=d;x509=true" --outbox-flash "$W/fifo"
[ -e fifo.lock ] && bad "a lock file was made next to the FIFO"
head -c 64 /dev/urandom >bind.key
chmod 600 bind.key
cp bind.key bind.orig
expect iothub-dps 2 "--assignment './bind.key' is the --binding file; it would be overwritten" --id-scope 0ne00 \
  --binding bind.key --assignment ./bind.key
expect iothub-telemetry 2 "--outbox 'bind.key' is the --binding file" --connection-string "HostName=h;DeviceId=d;x509=true" \
  --binding bind.key --outbox bind.key
expect iothub-dps 2 "--assignment and --outbox name the same file 'a.txt'" --id-scope 0ne00 --assignment a.txt --outbox ./a.txt
cmp -s bind.key bind.orig || bad "the binding file changed"
# Over 500 characters in a folder that exists: the length is what is wrong,
# not the folder (REV14 F4: the folder check ran first and said "cannot make
# it in '<cut folder name>'").
long=$(printf 'd%.0s' $(seq 1 200))
mkdir -p "$long/$long/$long"
expect iothub-telemetry 2 "--outbox: the path is longer than 500 characters" \
  --connection-string "HostName=h;DeviceId=d;x509=true" --outbox "$W/$long/$long/$long/ob"
expect iothub-dps 2 "--assignment: the path is longer than 500 characters" --id-scope 0ne00 \
  --assignment "$W/$long/$long/$long/a.txt"
rm -rf "${long:?}"

echo "== trust-anchor files"
openssl ecparam -name prime256v1 -genkey -noout -out ca.key 2>/dev/null
openssl req -x509 -new -key ca.key -subj "/CN=Test CA" -days 2 -out ca.pem 2>/dev/null
S=(--host 127.0.0.1 --port 1 --device-id d --sas-key "$SECRET" --count 0)
# A FIFO nobody writes reads as empty (it used to block the sample forever);
# a pipe being written, as the shell's <(...), is read.
expect iothub-telemetry 1 "trust anchors do not parse (--ca 'fifo')" "${S[@]}" --ca fifo
# (SEC15) a SAS device given no trust anchor refuses before connecting: no
# chip to read 0xE0E8 from, and no built-in default to fall back to
expect iothub-telemetry 1 "trust anchors: give --ca FILE (no chip is used with SAS)" "${S[@]}"
expect iothub-dps 1 "trust anchors: give --ca FILE (no chip is used with SAS)" --id-scope 0ne00 \
  --registration-id r1 --sas-key "$SECRET" --port 1 --count 0
expect iothub-telemetry 1 "'$W' is a directory" "${S[@]}" --ca "$W"
timeout 20 "$EX/iothub-telemetry" "${S[@]}" --timeout-ms 300 --outbox ps.outbox --ca <(sleep 0.2; cat ca.pem) \
  >ps.out 2>&1 || true
grep -q 'TLS setup\|cannot read' ps.out && bad "--ca <(...) was not read: $(cat ps.out)"
expect iothub-telemetry 1 "cannot read '$W/none.pem': No such file or directory" "${S[@]}" --ca "$W/none.pem"
echo "not a certificate" >notpem.txt
expect iothub-telemetry 1 "trust anchors do not parse (--ca 'notpem.txt')" "${S[@]}" --ca notpem.txt
ls ./*.outbox >/dev/null 2>&1 && rm -f ./*.outbox ./*.lock

echo "== one outbox, two processes"
# The first one keeps retrying a port nothing listens on, holding its outbox.
"$EX/iothub-telemetry" --host 127.0.0.1 --port 1 --device-id d --sas-key "$SECRET" --ca ca.pem \
  --outbox shared.outbox --count 1 --timeout-ms 20000 >first.out 2>&1 &
FIRST=$!
trap 'kill $FIRST 2>/dev/null || true; wait $FIRST 2>/dev/null || true; rm -rf "$W"' EXIT
for _ in $(seq 1 100); do grep -q 'stored as' first.out && break; sleep 0.05; done
grep -q 'stored as' first.out || bad "the first sample did not start: $(cat first.out)"
# (the outbox's messages start with "outbox:", as docs/iothub-samples.md shows them)
PREFIX=outbox expect iothub-telemetry 1 "outbox: 'shared.outbox' is in use by another process" --host 127.0.0.1 --port 1 \
  --device-id d --sas-key "$SECRET" --ca ca.pem --outbox shared.outbox --count 1 --timeout-ms 2000
kill "$FIRST"
wait "$FIRST" 2>/dev/null || true

echo "== devices"
C=(--connection-string "HostName=h;DeviceId=d;x509=true")
expect iothub-telemetry 1 "unknown --device 'bogus'" "${C[@]}" --device bogus
expect iothub-telemetry 1 "cannot open '/dev/i2c-99': No such file or directory" "${C[@]}" --device /dev/i2c-99
expect iothub-telemetry 1 "bad I2C address in '/dev/i2c-1@0x999'" "${C[@]}" --device /dev/i2c-1@0x999
expect iothub-telemetry 1 "cannot open '$W/none.sock': No such file or directory (is trustm-sim running?)" "${C[@]}" --device "sim:$W/none.sock"
expect iothub-telemetry 1 "--device sim is a blank simulator in this process" "${C[@]}"
# trustm-sim over TCP is reached on loopback only: said, not "is trustm-sim running?"
expect iothub-telemetry 1 "--device 'tcp:10.0.0.1:5000': give tcp:HOST:PORT with HOST 127.0.0.1, localhost or ::1 (trustm-sim is reached over loopback only)" \
  "${C[@]}" --device tcp:10.0.0.1:5000
expect iothub-dps 1 "--device 'tcp:127.0.0.1': give tcp:HOST:PORT" --id-scope 0ne00000001 --device tcp:127.0.0.1
echo x >open.key
chmod 644 open.key
expect iothub-telemetry 1 "binding file '$W/open.key' is readable by others (chmod 600 it)" "${C[@]}" --binding "$W/open.key"
expect iothub-telemetry 1 "binding file '$W/none.key': No such file or directory" "${C[@]}" --binding "$W/none.key"
# it exists but is not what the device kind needs: said
touch plain.sock
expect iothub-telemetry 1 "cannot open the chip at 'sim:$W/plain.sock': not a socket (is trustm-sim running?)" \
  "${C[@]}" --device "sim:$W/plain.sock"
expect iothub-telemetry 1 "cannot open '/dev/shm': not a character device" "${C[@]}" --device /dev/shm@0x30
ls ./*.outbox | grep -v shared.outbox && bad "an outbox was created by a refused run"

echo "== the chip holds no trust anchor"
# the in-process simulator's factory identity (certificate 0xE0E0, key
# 0xE0F0) and no anchor written: the object is named, nothing connects
F=(--connection-string "HostName=127.0.0.1;DeviceId=d;x509=true" --device sim --cert-oid 0xE0E0 --key-oid 0xE0F0
   --port 1 --timeout-ms 300 --count 1)
expect iothub-telemetry 1 "no trust anchor in 0xE0E8: not found" "${F[@]}"
expect iothub-twin-methods 1 "no trust anchor in 0xE0E8: not found" "${F[@]:0:10}"
expect iothub-telemetry 1 "no trust anchor in 0xE0E9: not found" "${F[@]}" --ca-oid 0xE0E9

echo "== outbox files that cannot be opened"
S=(--host 127.0.0.1 --port 1 --device-id d --sas-key "$SECRET" --ca ca.pem --count 1 --timeout-ms 300)
mkdir obdir
expect iothub-telemetry 2 "--outbox 'obdir' is not a regular file" "${S[@]}" --outbox obdir
expect iothub-telemetry 2 "--outbox-flash 'obdir' is not a regular file" "${S[@]}" --outbox-flash obdir
# a file still to be made whose folder cannot take it: refused before anything
expect iothub-telemetry 2 "--outbox '$W/none/x': cannot make it in '$W/none': No such file or directory" \
  "${S[@]}" --outbox "$W/none/x"
expect iothub-telemetry 2 "--outbox-flash 'none/f': cannot make it in 'none': No such file or directory" \
  "${S[@]}" --outbox-flash none/f
expect iothub-telemetry 2 "--outbox 'ca.pem/x': cannot make it in 'ca.pem': Not a directory" "${S[@]}" --outbox ca.pem/x
# (the DPS assignment used to be found unwritable only after a successful
# registration, so every run registered again)
expect iothub-dps 2 "--assignment '$W/none/a': cannot make it in '$W/none': No such file or directory" \
  --id-scope 0ne00 --registration-id r1 --sas-key "$SECRET" --ca ca.pem --port 1 --assignment "$W/none/a"
# the reason may be the lock file's ("<outbox>.lock" is taken first): both named
PREFIX=outbox expect iothub-telemetry 1 "outbox: cannot open '/proc/version' (with its lock file '/proc/version.lock')" \
  "${S[@]}" --outbox /proc/version
PREFIX=outbox expect iothub-telemetry 1 "outbox: cannot open '/proc/nofile': I/O error: No such file or directory" \
  "${S[@]}" --outbox-flash /proc/nofile
[ -z "$(ls -A obdir)" ] || bad "the folder given as --outbox was written into: $(ls -A obdir)"

echo "== DPS: no registration id"
expect iothub-dps 2 "--registration-id is needed (no certificate CN to use)" --id-scope 0ne00 --sas-key "$SECRET" --ca ca.pem

finish
