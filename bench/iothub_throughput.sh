#!/usr/bin/env bash
# QoS 1 telemetry throughput over TLS against a local mosquitto, side by side
# in one run: the IoT Hub client (with its persistent file outbox) and
# mosquitto_pub (libmosquitto + OpenSSL, no persistence), same messages, same
# in-flight window, mutual TLS with a P-256 client certificate.
# Usage: bench/iothub_throughput.sh [BUILD_DIR] [COUNT] [PAYLOAD_SIZE]
#   BUILD_DIR must hold examples/bench_iothub_tls_pub (a Release build without
#   sanitizers gives the meaningful numbers: scripts/bench builds one).
set -euo pipefail
B=$(cd "${1:-${TMA_BUILD_DIR:-build}}" && pwd)
N=${2:-20000}
SIZE=${3:-256}
WINDOW=20
PUB="$B/examples/bench_iothub_tls_pub"
[ -x "$PUB" ] || { echo "iothub_throughput: $PUB not built, skipped"; exit 0; }
W=$(mktemp -d)
BPID=""
cleanup() { [ -n "$BPID" ] && kill "$BPID" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$W"; }
trap cleanup EXIT
cd "$W"
openssl ecparam -name prime256v1 -genkey -noout -out ca.key 2>/dev/null
openssl req -x509 -new -key ca.key -subj "/CN=bench CA" -days 2 -out ca.pem \
  -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null
for n in srv dev; do
  openssl ecparam -name prime256v1 -genkey -noout -out $n.key.sec1 2>/dev/null
  openssl pkcs8 -topk8 -nocrypt -in $n.key.sec1 -out $n.key 2>/dev/null
done
openssl req -new -key srv.key -subj "/CN=localhost" -out srv.csr 2>/dev/null
printf 'subjectAltName=DNS:localhost\nextendedKeyUsage=serverAuth\n' > srv.ext
openssl x509 -req -in srv.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -extfile srv.ext -out srv.pem 2>/dev/null
openssl req -new -key dev.key -subj "/CN=bench" -out dev.csr 2>/dev/null
openssl x509 -req -in dev.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -out dev.pem 2>/dev/null
chmod 0755 "$W"; chmod 0644 ./*
for try in 1 2 3 4 5 6 7 8 9 10; do
  PORT=$((20000 + RANDOM % 30000))
  cat > m.conf <<C
listener $PORT 127.0.0.1
cafile $W/ca.pem
certfile $W/srv.pem
keyfile $W/srv.key
require_certificate true
tls_version tlsv1.2
allow_anonymous true
max_inflight_messages 0
max_queued_messages 0
C
  mosquitto -c m.conf > broker.log 2>&1 &
  BPID=$!
  for _ in $(seq 1 50); do grep -q running broker.log && break; sleep 0.05; done
  grep -q running broker.log && break
  kill $BPID 2>/dev/null || true; wait $BPID 2>/dev/null || true; BPID=""
done
[ -n "$BPID" ] || { cat broker.log; echo "mosquitto did not start"; exit 1; }
python3 - "$N" "$SIZE" > lines.txt <<'P'
import sys
n, size = int(sys.argv[1]), int(sys.argv[2])
for i in range(n):
    s = str(i)
    print(s + "x" * (size - len(s)))
P
ROUNDS=${ROUNDS:-3}
echo "messages: $N x $SIZE B, QoS 1, window $WINDOW, TLS 1.2 ECDHE-ECDSA, loopback; $ROUNDS alternating rounds"
mps=(); ours=(); rams=()
for r in $(seq 1 "$ROUNDS"); do
  t0=$(date +%s.%N)
  mosquitto_pub -h localhost -p "$PORT" --cafile ca.pem --cert dev.pem --key dev.key -V mqttv311 -i bench-mp \
    -q 1 -t devices/bench/messages/events/ -l < lines.txt   # libmosquitto default in-flight window: 20
  t1=$(date +%s.%N)
  mp=$(python3 -c "print(f'{$N/($t1-$t0):.0f}')")
  out=$("$PUB" localhost "$PORT" ca.pem dev.pem dev.key "$N" "$SIZE" $WINDOW "$W/outbox.$r")
  o=$(echo "$out" | sed -n 's/.* = \([0-9]*\) msg\/s.*/\1/p')
  out=$("$PUB" localhost "$PORT" ca.pem dev.pem dev.key "$N" "$SIZE" $WINDOW "$W/unused" ram)
  o2=$(echo "$out" | sed -n 's/.* = \([0-9]*\) msg\/s.*/\1/p')
  echo "round $r: mosquitto_pub $mp msg/s, iothub-client $o msg/s (file outbox), $o2 msg/s (RAM outbox)"
  mps+=("$mp"); ours+=("$o"); rams+=("$o2")
done
python3 - "${mps[*]}" "${ours[*]}" "${rams[*]}" <<'P'
import statistics, sys
mp = [float(x) for x in sys.argv[1].split()]
us = [float(x) for x in sys.argv[2].split()]
ra = [float(x) for x in sys.argv[3].split()]
m1, m2, m3 = statistics.median(mp), statistics.median(us), statistics.median(ra)
print(f"median: mosquitto_pub {m1:.0f} msg/s, iothub-client {m2:.0f} msg/s (file outbox), {m3:.0f} msg/s (RAM outbox)")
print(f"ratio iothub-client / mosquitto_pub (medians): file outbox {m2/m1:.2f}, RAM outbox {m3/m1:.2f} (target >= 1.0)")
P
# For reference: the same with an fsync per outbox operation (power-cut
# durability; the default above survives a process kill), fewer messages.
NF=$(( N / 20 > 0 ? N / 20 : 1 ))
out2=$("$PUB" localhost "$PORT" ca.pem dev.pem dev.key "$NF" "$SIZE" $WINDOW "$W/outbox2" fsync)
echo "$out2   (outbox fsync per operation)"
