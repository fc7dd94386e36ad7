#!/usr/bin/env bash
# QoS 1 telemetry throughput over TLS against a local mosquitto, side by side
# in one run: the IoT Hub client (with its persistent file outbox) and
# mosquitto_pub (libmosquitto + OpenSSL, no persistence), same messages, same
# in-flight window, mutual TLS with a P-256 client certificate.
# Usage: [ROUNDS=9] [BASE=OTHER_BUILD_DIR] [IPM=0] bench/iothub_throughput.sh [BUILD_DIR] [COUNT] [PAYLOAD_SIZE]
#   ROUNDS timed rounds (order alternates); BASE also runs another build's
#   client (e.g. of an earlier commit) in every round and under callgrind;
#   IPM=0 skips the instruction and system call counts (valgrind, strace).
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
ROUNDS=${ROUNDS:-9}
echo "messages: $N x $SIZE B, QoS 1, window $WINDOW, TLS 1.2 ECDHE-ECDSA, loopback; $ROUNDS rounds, order alternating"
echo "(wall time from process start, incl. TLS handshake, to the last PUBACK; the machine may be loaded: see the spread)"
run_mp() {
  local t0 t1
  t0=$(date +%s.%N)
  mosquitto_pub -h localhost -p "$PORT" --cafile ca.pem --cert dev.pem --key dev.key -V mqttv311 -i bench-mp \
    -q 1 -t devices/bench/messages/events/ -l < lines.txt   # libmosquitto default in-flight window: 20
  t1=$(date +%s.%N)
  python3 -c "print(f'{$N/($t1-$t0):.0f}')"
}
run_ours() {  # $1: outbox file or "ram"; $2: client binary (default $PUB)
  local out pub=${2:-$PUB}
  if [ "$1" = ram ]; then
    out=$("$pub" localhost "$PORT" ca.pem dev.pem dev.key "$N" "$SIZE" $WINDOW "$W/unused" ram)
  else
    rm -f "$1"
    out=$("$pub" localhost "$PORT" ca.pem dev.pem dev.key "$N" "$SIZE" $WINDOW "$1")
  fi
  echo "$out" | sed -n 's/.* = \([0-9]*\) msg\/s.*/\1/p'
}
# BASE=<other build dir>: also run that build's client in every round (e.g. a
# build of an earlier commit), so before/after share the same machine load.
BASE_PUB=""
[ -n "${BASE:-}" ] && BASE_PUB="$(cd "$BASE" && pwd)/examples/bench_iothub_tls_pub"
mps=(); ours=(); rams=(); bfs=(); brs=()
for r in $(seq 1 "$ROUNDS"); do
  bf=0; br=0
  if [ $((r % 2)) -eq 1 ]; then
    mp=$(run_mp); o=$(run_ours "$W/outbox"); o2=$(run_ours ram)
    [ -n "$BASE_PUB" ] && { bf=$(run_ours "$W/outbox" "$BASE_PUB"); br=$(run_ours ram "$BASE_PUB"); }
  else
    [ -n "$BASE_PUB" ] && { br=$(run_ours ram "$BASE_PUB"); bf=$(run_ours "$W/outbox" "$BASE_PUB"); }
    o2=$(run_ours ram); o=$(run_ours "$W/outbox"); mp=$(run_mp)
  fi
  echo "round $r: mosquitto_pub $mp msg/s, iothub-client $o msg/s (file outbox), $o2 msg/s (RAM outbox)" \
    "${BASE_PUB:+; base build $bf (file), $br (RAM)}"
  mps+=("$mp"); ours+=("$o"); rams+=("$o2"); bfs+=("$bf"); brs+=("$br")
done
[ "$ROUNDS" -gt 0 ] && python3 - "${mps[*]}" "${ours[*]}" "${rams[*]}" "${bfs[*]}" "${brs[*]}" "$BASE_PUB" <<'P'
import statistics, sys
mp = [float(x) for x in sys.argv[1].split()]
us = [float(x) for x in sys.argv[2].split()]
ra = [float(x) for x in sys.argv[3].split()]
bf = [float(x) for x in sys.argv[4].split()]
br = [float(x) for x in sys.argv[5].split()]
def summ(name, v):
    q = statistics.quantiles(v, n=4) if len(v) >= 2 else [v[0]] * 3
    print(f"  {name:28s} median {statistics.median(v):7.0f} msg/s  min {min(v):7.0f}  q1 {q[0]:7.0f}  q3 {q[2]:7.0f}  max {max(v):7.0f}")
print("summary over rounds:")
summ("mosquitto_pub", mp)
summ("iothub-client (file outbox)", us)
summ("iothub-client (RAM outbox)", ra)
if sys.argv[6]:
    summ("base build (file outbox)", bf)
    summ("base build (RAM outbox)", br)
m1, m2, m3 = statistics.median(mp), statistics.median(us), statistics.median(ra)
r2 = [b / a for a, b in zip(mp, us)]
r3 = [b / a for a, b in zip(mp, ra)]
print(f"ratio iothub-client / mosquitto_pub (medians): file outbox {m2/m1:.2f}, RAM outbox {m3/m1:.2f} (target >= 1.0)")
print(f"ratio per round (same round, paired): file outbox median {statistics.median(r2):.2f} [{min(r2):.2f}..{max(r2):.2f}], "
      f"RAM outbox median {statistics.median(r3):.2f} [{min(r3):.2f}..{max(r3):.2f}]")
if sys.argv[6]:
    print(f"ratio base build / mosquitto_pub (medians): file outbox {statistics.median(bf)/m1:.2f}, "
          f"RAM outbox {statistics.median(br)/m1:.2f}")
P
# Load-independent measure: user-space instructions per message under
# callgrind (each client run with N1 and N2 messages; the difference divided
# by N2-N1 removes process start and TLS handshake), plus system calls per
# message with strace -c. Kernel work (TCP, the broker) is not in the
# instruction count; the system call count stands in for it.
if [ "${IPM:-1}" != 0 ] && command -v valgrind >/dev/null; then
  N1=${IPM_N1:-500}; N2=${IPM_N2:-2500}
  for n in $N1 $N2; do
    python3 - "$n" "$SIZE" > lines.$n <<'P'
import sys
n, size = int(sys.argv[1]), int(sys.argv[2])
for i in range(n):
    s = str(i)
    print(s + "x" * (size - len(s)))
P
  done
  ir() {  # $1 label, rest: command; prints instructions (Ir) of the whole process
    local log=cg.$1.log
    valgrind --tool=callgrind --callgrind-out-file="cg.$1.out" "${@:2}" > /dev/null 2> "$log" < "${STDIN_FILE:-/dev/null}"
    sed -n 's/.*Collected : \([0-9]*\).*/\1/p' "$log"
  }
  sc() {  # $1 label, rest: command; prints the number of system calls
    strace -f -c -o "sc.$1" "${@:2}" > /dev/null 2>&1 < "${STDIN_FILE:-/dev/null}"
    awk '$NF=="total"{print $4}' "sc.$1"   # % seconds usecs/call calls [errors] total
  }
  mp_cmd() { echo mosquitto_pub -h localhost -p "$PORT" --cafile ca.pem --cert dev.pem --key dev.key -V mqttv311 \
    -i bench-mp -q 1 -t devices/bench/messages/events/ -l; }
  # Clients: label and command (ours: binary, outbox argument, mode).
  labels=(mp file ram); names=("mosquitto_pub" "iothub-client (file outbox)" "iothub-client (RAM outbox)")
  if [ -n "$BASE_PUB" ]; then
    labels+=(bfile bram); names+=("base build (file outbox)" "base build (RAM outbox)")
  fi
  run_label() {  # $1 tool (ir|sc), $2 label, $3 message count
    local f=$1 l=$2 n=$3
    case $l in
      mp) STDIN_FILE=lines.$n $f "$l$n" $(mp_cmd) ;;
      file) rm -f ob.x; $f "$l$n" "$PUB" localhost "$PORT" ca.pem dev.pem dev.key "$n" "$SIZE" $WINDOW "$W/ob.x" ;;
      ram) $f "$l$n" "$PUB" localhost "$PORT" ca.pem dev.pem dev.key "$n" "$SIZE" $WINDOW "$W/unused" ram ;;
      bfile) rm -f ob.x; $f "$l$n" "$BASE_PUB" localhost "$PORT" ca.pem dev.pem dev.key "$n" "$SIZE" $WINDOW "$W/ob.x" ;;
      bram) $f "$l$n" "$BASE_PUB" localhost "$PORT" ca.pem dev.pem dev.key "$n" "$SIZE" $WINDOW "$W/unused" ram ;;
    esac
  }
  vals=()
  for l in "${labels[@]}"; do
    vals+=("$(run_label ir "$l" "$N1")" "$(run_label ir "$l" "$N2")" "$(run_label sc "$l" "$N1")" "$(run_label sc "$l" "$N2")")
  done
  python3 - "$N1" "$N2" "$(IFS='|'; echo "${names[*]}")" "${vals[@]}" <<'P'
import sys
a = sys.argv[1:]
n1, n2 = int(a[0]), int(a[1])
names = a[2].split("|")
v = [int(x) for x in a[3:]]
d = n2 - n1
ipm = [(v[4 * k + 1] - v[4 * k]) / d for k in range(len(names))]
spm = [(v[4 * k + 3] - v[4 * k + 2]) / d for k in range(len(names))]
print(f"per message (callgrind Ir and strace -c, ({n2} - {n1} messages) difference;")
print(" instructions do not depend on load, system calls somewhat: idle polls depend on timing):")
for name, i, s in zip(names, ipm, spm):
    print(f"  {name:28s} {i:9.0f} instructions/msg  {s:6.2f} syscalls/msg")
print(f"instruction ratio mosquitto_pub / iothub-client: file outbox {ipm[0]/ipm[1]:.2f}, RAM outbox {ipm[0]/ipm[2]:.2f} (>1: ours does less)")
if len(names) > 3:
    print(f"instruction ratio mosquitto_pub / base build: file outbox {ipm[0]/ipm[3]:.2f}, RAM outbox {ipm[0]/ipm[4]:.2f}")
P
fi
# For reference: the same with an fsync per outbox operation (power-cut
# durability; the default above survives a process kill), fewer messages.
NF=$(( N / 20 > 0 ? N / 20 : 1 ))
out2=$("$PUB" localhost "$PORT" ca.pem dev.pem dev.key "$NF" "$SIZE" $WINDOW "$W/outbox2" fsync)
echo "$out2   (outbox fsync per operation)"
