#!/usr/bin/env bash
# Chip cost of a mutual-TLS connect with the key on the (simulated) chip, from
# the simulator's own statistics (modelled chip time, commands seen):
#  - a first connect in a fresh process (open, read chain + trust anchor,
#    handshake with one CalcSign);
#  - each reconnect in the same process when the server resumes the session;
#  - each reconnect when the server does not resume (tickets and cache off).
# Peer: openssl s_server -Verify 1 -tls1_2 on loopback. Run: scripts/bench tls_connect
set -euo pipefail
B=${TMA_BUILD_DIR:?}
T=$B/tools/trustm
S=$B/sim/trustm-sim
[ -x "$T" ] && [ -x "$S" ] || { echo "tls_connect: trustm / trustm-sim not built"; exit 0; }
W=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done; rm -rf "$W"; }
trap cleanup EXIT
cd "$W"
N=5
openssl ecparam -name prime256v1 -genkey -noout -out ca.key 2>/dev/null
openssl req -x509 -new -key ca.key -subj "/CN=bench CA" -days 2 -out ca.pem \
  -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign
openssl ecparam -name prime256v1 -genkey -noout -out srv.key 2>/dev/null
openssl req -new -key srv.key -subj "/CN=localhost" -out srv.csr
printf 'subjectAltName=DNS:localhost\n' > srv.ext
openssl x509 -req -in srv.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -extfile srv.ext -out srv.pem 2>/dev/null
"$S" --socket "$W/c.sock" --state "$W/c.state" >/dev/null 2>&1 &
PIDS+=($!)
for _ in $(seq 1 100); do [ -S "$W/c.sock" ] && break; sleep 0.05; done
D=(--device "sim:$W/c.sock")
"$T" "${D[@]}" personalize --device-id bench-dev --ca-cert ca.pem --ca-key ca.key --trust-anchor ca.pem >/dev/null

stats() { # prints the daemon's statistics JSON
  python3 - "$W/c.sock" <<'PY'
import socket, struct, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])
s.sendall(bytes([0x05, 0x30, 0, 0]))
def rd(n):
    b = b""
    while len(b) < n:
        c = s.recv(n - len(b))
        if not c: raise SystemExit("closed")
        b += c
    return b
st, ln = rd(1)[0], struct.unpack(">H", rd(2))[0]
print(rd(ln).decode().rstrip("\0"))
PY
}
diff_stats() { # before.json after.json divisor label
  python3 - "$1" "$2" "$3" "$4" <<'PY'
import json, sys
a, b = (json.load(open(f)) for f in sys.argv[1:3])
n = int(sys.argv[3]); label = sys.argv[4]
ca = {c["name"]: c for c in a["commands"]}
out, total = [], 0
for c in b["commands"]:
    p = ca.get(c["name"], {"count": 0, "chip_us": 0})
    k = c["count"] - p["count"]
    if k:
        us = c["chip_us"] - p["chip_us"]
        total += us
        out.append("%s %g" % (c["name"], k / n))
print("%-38s modelled chip time %6.1f ms; commands: %s" % (label, total / n / 1000.0, ", ".join(out) or "none"))
PY
}
run_server() { # extra s_server args
  local try
  for try in 1 2 3 4 5 6 7 8 9 10; do
    PORT=$((20000 + RANDOM % 40000))
    openssl s_server -accept "127.0.0.1:$PORT" -cert srv.pem -key srv.key -CAfile ca.pem \
      -Verify 1 -verify_return_error -tls1_2 -rev "$@" </dev/null >"srv.$PORT.log" 2>&1 &
    SRV=$!
    for _ in $(seq 1 50); do grep -q '^ACCEPT' "srv.$PORT.log" && { PIDS+=($SRV); return 0; }; sleep 0.1; done
    kill $SRV 2>/dev/null || true
  done
  echo "tls_connect: no server"; exit 1
}

run_server
stats > s0.json
"$T" "${D[@]}" connect --host localhost --port "$PORT" --connects 1 >/dev/null
stats > s1.json
"$T" "${D[@]}" connect --host localhost --port "$PORT" --connects $((N + 1)) >/dev/null
stats > s2.json
run_server -no_ticket -no_cache
"$T" "${D[@]}" connect --host localhost --port "$PORT" --connects 1 >/dev/null
stats > s3.json
"$T" "${D[@]}" connect --host localhost --port "$PORT" --connects $((N + 1)) >/dev/null
stats > s4.json
python3 - <<'PY' > resumed.json
import json
a, b, c = (json.load(open(f)) for f in ("s0.json", "s1.json", "s2.json"))
# (s2 - s1) - (s1 - s0) = N resumed reconnects
ca, cb, cc = ({x["name"]: x for x in j["commands"]} for j in (a, b, c))
cmds = []
for name in set(cc) | set(cb):
    g = lambda d, k: d.get(name, {}).get(k, 0)
    cnt = (g(cc, "count") - g(cb, "count")) - (g(cb, "count") - g(ca, "count"))
    us = (g(cc, "chip_us") - g(cb, "chip_us")) - (g(cb, "chip_us") - g(ca, "chip_us"))
    cmds.append({"name": name, "count": cnt, "chip_us": us})
print(json.dumps({"commands": cmds}))
PY
python3 - <<'PY' > full.json
import json
a, b, c = (json.load(open(f)) for f in ("s2.json", "s3.json", "s4.json"))
ca, cb, cc = ({x["name"]: x for x in j["commands"]} for j in (a, b, c))
cmds = []
for name in set(cc) | set(cb):
    g = lambda d, k: d.get(name, {}).get(k, 0)
    cnt = (g(cc, "count") - g(cb, "count")) - (g(cb, "count") - g(ca, "count"))
    us = (g(cc, "chip_us") - g(cb, "chip_us")) - (g(cb, "chip_us") - g(ca, "chip_us"))
    cmds.append({"name": name, "count": cnt, "chip_us": us})
print(json.dumps({"commands": cmds}))
PY
echo '{"commands":[]}' > zero.json
diff_stats s0.json s1.json 1 "first connect (fresh process)"
diff_stats zero.json resumed.json $N "reconnect, session resumed"
diff_stats zero.json full.json $N "reconnect, no resumption"
