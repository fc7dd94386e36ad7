#!/usr/bin/env bash
# localhub load benchmark (issue 5): N devices with their own certificates and
# mutual TLS publish QoS 1 telemetry. Builds an unsanitized Release tree in
# build/bench-hub so the numbers are not ASan's. Run on demand:
#   bench/hub_load.sh [DEVICES] [RATE_MSG_PER_S] [DURATION_S]
set -euo pipefail
N=${1:-1000}; RATE=${2:-5000}; DUR=${3:-20}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
B=$ROOT/build/bench-hub
cmake -S "$ROOT" -B "$B" -DCMAKE_BUILD_TYPE=Release -DTMA_SANITIZE=OFF -DTMA_TESTS=OFF >/dev/null
cmake --build "$B" -j2 --target localhub localhub_plugin localhub_tlsshim hub_load >/dev/null
L=$B/hub/localhub
T=$(mktemp -d /tmp/hubbench.XXXXXX)
export LOCALHUB_HOME=$T/state
cleanup() { "$L" stop >/dev/null 2>&1 || true; rm -rf "$T"; }
trap cleanup EXIT
ulimit -n 16384 2>/dev/null || ulimit -n "$(ulimit -Hn)"

for i in 1 2 3 4 5; do
  PORT=$((20000 + RANDOM % 40000))
  "$L" start --port "$PORT" >/dev/null 2>&1 && break
done
openssl ecparam -name prime256v1 -genkey -noout -out "$T/ca.key"
openssl req -x509 -new -key "$T/ca.key" -subj "/CN=bench CA" -days 7 -out "$T/ca.pem" \
  -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign 2>/dev/null
"$L" ca add bench "$T/ca.pem" --verified >/dev/null
# register the devices in one transaction (the CLI path is exercised by the tests)
{
  echo "BEGIN;"
  for i in $(seq 0 $((N - 1))); do
    id=$(printf 'load-%05d' "$i")
    echo "INSERT INTO devices(id,auth,status,created) VALUES('$id','x509-ca','enabled',0);"
    echo "INSERT INTO twins(device,desired,reported,dver,rver,dmeta,rmeta) VALUES('$id','{}','{}',1,1,'{}','{}');"
  done
  echo "COMMIT;"
} | sqlite3 "$LOCALHUB_HOME/registry.db"
mkdir -p "$T/certs"
"$B/hub/hub_load" --port "$PORT" --cafile "$LOCALHUB_HOME/pki/root-ca.pem" --ca-cert "$T/ca.pem" --ca-key "$T/ca.key" \
  --dir "$T/certs" --devices "$N" --rate "$RATE" --duration "$DUR" --threads 2 | tee "$T/result"
sleep 0.5
stored=$(grep -c '"deviceId":"load-' "$LOCALHUB_HOME/telemetry.jsonl" || true)
acked=$(sed -n 's/.* acked=\([0-9]*\).*/\1/p' "$T/result")
echo "stored_in_hub=$stored acked_by_hub=$acked lost_after_puback=$((acked > stored ? acked - stored : 0))"
echo "broker_rss_kb=$(ps -o rss= -p "$(cat "$LOCALHUB_HOME/broker.pid")")"
