#!/usr/bin/env bash
# Issue 6 under a hostile network, second part (brief CHAOS2; the first is
# iothub_chaos.sh). Key in the simulated chip, mutual TLS, localhub, the
# samples through iothub_chaos_proxy.py. Parts (docs/design/network-faults.md):
#  A. twin + methods: iothub-twin-methods through a proxy that cuts; the
#     service updates desired properties and invokes methods meanwhile.
#     The hub ends holding reported.desiredVersion = the last desired
#     $version, the device ends knowing that version, every method call
#     ends with the device's answer (200) or the hub's 404/504 within the
#     CLI's timeout, and a call on the clean link at the end gets 200.
#  B. C2D (run at the same time as A, its own device and proxy): the
#     telemetry sample through cuts while the service queues C2D messages:
#     every one printed at least once (duplicates counted), the hub's queue
#     ends empty, all telemetry acknowledged.
#  C. corrupted bytes: one bit flipped per faulty connection in MQTT
#     traffic (both directions): TLS refuses the record, the device
#     reconnects; all telemetry at the hub, in order.
#  C2. stalled inbound path (F4): a small proxy flips a length bit in one
#     record header the broker sends; the device's TLS waits for bytes that
#     never come. The device must drop that connection within 1.25 x its
#     keep-alive (the MQTT client's stall check: KA; before it: 1.5 x KA),
#     not before 0.75 x KA, and deliver everything. Its own chip and device,
#     run while A and B run.
#  D. silent link: the proxy stops forwarding (nothing closed) for longer
#     than 1.5 x the device's keep-alive (2 s): the device drops the
#     connection within 1.5 x keep-alive (+ slack) and reconnects; all
#     telemetry at the hub, in order.
# Usage: iothub_chaos2.sh [SEED] (default 3). CHAOS_KEEP=1 keeps the work dir;
# CHAOS2_PARTS=ABCD (default) picks parts (A and B run together).
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/../lib/shell.sh"
: "${TMA_BUILD_DIR:?}"
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SAMPLES=${IOTHUB_SAMPLES:-$TMA_BUILD_DIR/examples}
CLI=${TRUSTM_CLI:-$TMA_BUILD_DIR/tools/trustm}
SIM=${TRUSTM_SIM:-$TMA_BUILD_DIR/sim/trustm-sim}
LH=${LOCALHUB:-$TMA_BUILD_DIR/hub/localhub}
SEED=${1:-3}
PARTS=${CHAOS2_PARTS:-ABCD}
C_EVENTS=0
WINDOW=16
KA=2                  # device keep-alive in part D (s)
W=$(mktemp -d /tmp/iothub_chaos2.XXXXXX)
export TRUSTM_LOCK_DIR="$W"
export LOCALHUB_HOME="$W/lh"
PIDS=()
LH_UP=""
cleanup() {
  local rc=$? p f
  [ -n "$LH_UP" ] && "$LH" stop >/dev/null 2>&1 || true
  for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  sanitizer_check "$W/lh" "$W"/*.out || rc=1
  if [ -n "${CHAOS_KEEP:-}" ]; then echo "kept $W" >&2; else rm -rf "$W"; fi
  exit $rc
}
trap cleanup EXIT
fail() {
  echo "FAIL: $*" >&2
  for f in "$W"/*.out "$W"/*.log; do [ -f "$f" ] && { echo "--- $f" >&2; tail -15 "$f" >&2; }; done
  exit 1
}
cd "$W"
T0=$(date +%s.%N)
since() { python3 -c "import time; print(f'{time.time() - $T0:.1f}')"; }

# localhub on a free port, a device CA, three devices (one key slot each).
for try in 1 2 3 4 5 6 7 8 9 10; do
  LPORT=$((20000 + RANDOM % 40000))
  "$LH" start --port "$LPORT" > lh-start.out 2>&1 && { LH_UP=1; break; }
  LPORT=""
done
[ -n "$LPORT" ] || fail "localhub did not start"
openssl ecparam -name prime256v1 -genkey -noout -out ca.key 2>/dev/null
openssl req -x509 -new -key ca.key -subj "/CN=chaos2 CA" -days 2 -out ca.pem \
  -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null
"$LH" ca add devca ca.pem --verified > /dev/null || fail "ca add"
# Two simulated chips: a process holds its chip for its whole run (file
# lock), and parts A and B run at the same time (and C2, chip 3). Chip 1:
# c2-twin (key slot 0xE0F1) and c2-tel (0xE0F2, parts C and D); chip 2:
# c2-c2d; chip 3: c2-hdr (C2).
CHIPS="chip chip2"
[[ $PARTS == *C* ]] && CHIPS="$CHIPS chip3"
for chip in $CHIPS; do
  "$SIM" --socket "$W/$chip.sock" --state "$W/$chip.state" > "sim-$chip.out" 2>&1 &
  PIDS+=($!)
  for _ in $(seq 1 100); do [ -S "$W/$chip.sock" ] && break; sleep 0.05; done
  [ -S "$W/$chip.sock" ] || fail "simulator $chip did not start"
done
DEV="sim:$W/chip.sock"
DEV2="sim:$W/chip2.sock"
DEV3="sim:$W/chip3.sock"
pers() { # DEVICE-ID CHIP SLOT-DIGIT
  "$LH" device create --id "$1" --auth x509-ca > /dev/null || fail "device create $1"
  "$CLI" --device "$2" personalize --device-id "$1" --ca-cert ca.pem --ca-key ca.key \
    --slot "0xE0F$3" --cert-oid "0xE0E$3" --trust-anchor "$LOCALHUB_HOME/pki/root-ca.pem" > "pers-$1.out" 2>&1 \
    || fail "personalize $1"
}
pers c2-twin "$DEV" 1
pers c2-tel "$DEV" 2
pers c2-c2d "$DEV2" 1
[[ $PARTS == *C* ]] && pers c2-hdr "$DEV3" 1
oids() { case $1 in c2-tel) echo "--cert-oid 0xE0E2 --key-oid 0xE0F2";; *) echo "--cert-oid 0xE0E1 --key-oid 0xE0F1";; esac; }

start_proxy() { # NAME PROXY-OPTIONS...: sets PROXY_PORT
  local name=$1; shift
  python3 "$HERE/iothub_chaos_proxy.py" --broker-port "$LPORT" --port-file "$W/$name.port" \
    --log "$W/$name.log" "$@" > "$W/$name.proxy.out" 2>&1 &
  PIDS+=($!)
  eval "PROXY_PID_$name=$!"
  for _ in $(seq 1 100); do [ -s "$W/$name.port" ] && break; sleep 0.05; done
  [ -s "$W/$name.port" ] || fail "proxy $name did not start"
  PROXY_PORT=$(cat "$W/$name.port")
}
stop_proxy() { local v="PROXY_PID_$1"; kill "${!v}" 2>/dev/null || true; wait "${!v}" 2>/dev/null || true; }
cuts_in() { grep -cE 'plan=cut@[0-9]+ end=(rst|fin|half-dev|half-brk) ' "$W/$1.log" || true; }

# Hub-side telemetry check: first occurrences 0..N-1 in order, duplicates
# at most the window per reconnect. Prints the duplicate count.
check_events() { # DEVICE N CONNECTS
  "$LH" monitor-events --device "$1" --from-start --count "$2" --timeout 10 > "ev-$1.out" 2>&1 \
    || fail "$1: the hub did not get $2 messages"
  "$LH" monitor-events --device "$1" --from-start --count 100000 --timeout 2 > "ev-$1.out" 2>&1 || true
  python3 - "ev-$1.out" "$2" $((WINDOW * ($3 > 0 ? $3 - 1 : 0))) <<'P'
import re, sys
vals = [int(v) for v in re.findall(r'"n":\s*(\d+)', open(sys.argv[1]).read())]
n, bound = int(sys.argv[2]), int(sys.argv[3])
first = []
seen = set()
for v in vals:
    if v not in seen:
        seen.add(v); first.append(v)
if first != list(range(n)):
    sys.exit(f"hub events: first occurrences {first[:12]}..., want 0..{n - 1} in order")
if len(vals) - n > bound:
    sys.exit(f"{len(vals) - n} duplicates > {bound}")
print(len(vals) - n)
P
}

# ---------------------------------------------------------------- C2 (start)
# A stalled inbound path (F4, fixed). The random flips of part C land in a
# record header only now and then (seed 3: never), so here a small proxy
# flips a length bit in the header of the broker's 10th application data
# record: the device's TLS waits for 2048 more bytes that never come, its
# window fills, it sends nothing. The MQTT client's stall check sends
# PINGREQ ping_timeout_ms (KA/2 here, set by the IoT client) after the last
# packet received and gives up KA/2 later: KA after the flip. The client
# before the check waited for the keep-alive: KA + KA/2. The bound, 1.25 x
# KA, fails that; the floor, 0.75 x KA, shows that the device stalled and
# waited for a PINGRESP (a refused record would end the connection at once).
# It runs on its own chip while A and B run (their runs are 30 s long), so
# it adds no time; part C checks it.
KA_C2=4
N_C2=100
if [[ $PARTS == *C* ]]; then
cat > hdrflip.py <<'PY'
# Part C2 (F4): a TCP proxy that, on its first connection, flips one bit in
# the length of the AFTER-th application data record header the broker sends
# (TLS 1.2 record: type, version, 2-byte length), so the record seems 2048
# bytes (or 4096, 8192) longer than it is: the device's TLS waits for bytes
# that never come. Later connections pass untouched. It logs when it flipped
# and when the device then closed that connection:
#   flip record=AFTER len_hi=OLD->NEW
#   dev_gone ms=MS   (from the flip to the device's FIN or reset)
#   brk_gone ms=MS   (from the flip to the end of the broker's side)
import os, socket, sys, threading, time
bport, portfile, logname, after = int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4])
log_lock = threading.Lock()
def log(line):
    with log_lock, open(logname, "a") as f:
        f.write(line + "\n")
flip_t = [None]

def s2c(src, dst, flip):
    hdr, left, apps = bytearray(), 0, 0
    try:
        while True:
            d = src.recv(65536)
            if not d:
                break
            if flip and flip_t[0] is None:
                d = bytearray(d)
                i = 0
                while i < len(d) and flip_t[0] is None:
                    if left > 0:
                        n = min(left, len(d) - i); left -= n; i += n; continue
                    hdr.append(d[i])
                    if len(hdr) == 4 and hdr[0] == 23 and apps + 1 == after:
                        bit = next(b for b in (3, 4, 5) if not d[i] & (1 << b))
                        old = d[i]
                        d[i] ^= 1 << bit
                        flip_t[0] = time.monotonic()
                        log(f"flip record={after} len_hi={old:#04x}->{d[i]:#04x}")
                    if len(hdr) == 5:
                        left = (hdr[3] << 8) | hdr[4]
                        apps += hdr[0] == 23
                        hdr = bytearray()
                    i += 1
                d = bytes(d)
            dst.sendall(d)
    except OSError:
        pass
    if flip and flip_t[0] is not None:
        log(f"brk_gone ms={int((time.monotonic() - flip_t[0]) * 1000)}")
    try:
        dst.shutdown(socket.SHUT_WR)
    except OSError:
        pass

def c2s(src, dst, flip):
    try:
        while True:
            d = src.recv(65536)
            if not d:
                break
            dst.sendall(d)
    except OSError:
        pass
    if flip and flip_t[0] is not None:
        log(f"dev_gone ms={int((time.monotonic() - flip_t[0]) * 1000)}")
    for s in (dst, src):
        try:
            s.close()
        except OSError:
            pass

ls = socket.socket()
ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(("127.0.0.1", 0))
ls.listen(8)
with open(portfile + ".tmp", "w") as f:
    f.write(str(ls.getsockname()[1]))
os.replace(portfile + ".tmp", portfile)
k = 0
while True:
    dev, _ = ls.accept()
    k += 1
    brk = socket.create_connection(("127.0.0.1", bport))
    threading.Thread(target=s2c, args=(brk, dev, k == 1), daemon=True).start()
    threading.Thread(target=c2s, args=(dev, brk, k == 1), daemon=True).start()
PY
python3 hdrflip.py "$LPORT" "$W/hdr.port" "$W/hdr.log" 10 > hdr.proxy.out 2>&1 &
HDR_PID=$!
PIDS+=($HDR_PID)
for _ in $(seq 1 100); do [ -s "$W/hdr.port" ] && break; sleep 0.05; done
[ -s "$W/hdr.port" ] || fail "C2: the header-flip proxy did not start"
run_c2() { # in the background: the run and its checks; the summary goes to c2.res
  timeout -s KILL 40 "$SAMPLES/iothub-telemetry" --device "$DEV3" \
    --connection-string "HostName=localhost;DeviceId=c2-hdr;x509=true" --port "$(cat "$W/hdr.port")" \
    --count $N_C2 --interval-ms 0 --keep-alive $KA_C2 --timeout-ms 15000 --retry-ms 50:1000:100 \
    --outbox "$W/hdr.outbox" > hdr.out 2>&1 || fail "C2: the sample exited with $?"
  kill "$HDR_PID" 2>/dev/null || true
  grep -q "^done: $N_C2 queued, $N_C2 acknowledged, 0 still in the outbox" hdr.out || fail "C2: $(grep '^done' hdr.out)"
  grep -q '^flip ' hdr.log || fail "C2: no record header was flipped"
  local dev_gone brk g b c2conn c2dups
  # The device's close, and the broker's side: the broker answers the
  # device's close at once, and under load the proxy's two threads may log
  # that answer a few ms before the close itself, so "first" allows 250 ms.
  # A broker that gave up on its own (its keep-alive: 1.5 x KA) would be
  # seconds earlier.
  dev_gone=$(grep -m1 '^dev_gone ' hdr.log || true)
  [ -n "$dev_gone" ] || fail "C2: the device never closed the stalled connection ($(grep -m1 '_gone ' hdr.log || echo no close))"
  g=${dev_gone#dev_gone ms=}
  brk=$(grep -m1 '^brk_gone ' hdr.log || true)
  if [ -n "$brk" ]; then
    b=${brk#brk_gone ms=}
    [ "$b" -ge $((g - 250)) ] || fail "C2: the broker closed the stalled connection first (after ${b} ms, the device after ${g} ms)"
  fi
  [ "$g" -le $((KA_C2 * 1250)) ] \
    || fail "C2: the device dropped the stalled connection after ${g} ms (keep-alive ${KA_C2} s: want <= $((KA_C2 * 1250)) ms)"
  [ "$g" -ge $((KA_C2 * 750)) ] || fail "C2: dropped after ${g} ms: no stall (want >= $((KA_C2 * 750)) ms)"
  c2conn=$(grep -c '^connected' hdr.out || true)
  [ "$c2conn" -ge 2 ] || fail "C2: $c2conn connection(s): the device never reconnected"
  c2dups=$(check_events c2-hdr $N_C2 "$c2conn") || fail "C2: $c2dups"
  echo "C2: record header length flipped (high byte $(sed -n 's/^flip .*len_hi=//p' hdr.log)), the device dropped the stalled connection after ${g} ms (keep-alive ${KA_C2} s, bound $((KA_C2 * 1250)) ms), $c2conn connections; $N_C2 of $N_C2 at the hub in order, $c2dups duplicates" > c2.res
}
run_c2 &
C2_PID=$!
PIDS+=($C2_PID)
fi

# ---------------------------------------------------------------- A + B
if [[ $PARTS == *[AB]* ]]; then
# A: twin + methods, 10 cuts: in the handshake, or (7 in 10) up to 900 bytes
# after CONNECT began: CONNECT/CONNACK, SUBSCRIBE, the twin GET and PATCHes,
# desired pushes and method calls of the early session. (A twin session
# moves little data: a cut planned further in might never come, and the
# last, clean, call below would meet a faulty connection.)
start_proxy twin --seed "$SEED" --cut-after-bytes 1:800 --connect-cut-prob 0.7 --connect-cut-range 1:900 \
  --fragment 7 --half-close --max-cuts 10 --log-starts
TW_PORT=$PROXY_PORT
# B: C2D with the telemetry sample, 8 cuts, most of them in MQTT sessions.
start_proxy c2d --seed $((SEED + 100)) --cut-after-bytes 1:800 --cut-after-bytes 5000:9000 \
  --cut-after-bytes 5000:9000 --cut-after-bytes 5000:9000 --connect-cut-prob 0.15 \
  --fragment 7 --half-close --max-cuts 8
C2D_PORT=$PROXY_PORT
RUN_MS=17000
# The twin device must outlive the service side's last method call, which
# a loaded machine (CI: two tests per core pair) can push past 17 s.
TWIN_RUN_MS=30000
timeout -s KILL 60 "$SAMPLES/iothub-twin-methods" --device "$DEV" $(oids c2-twin) \
  --connection-string "HostName=localhost;DeviceId=c2-twin;x509=true" --port "$TW_PORT" \
  --run-ms $TWIN_RUN_MS --timeout-ms 15000 --retry-ms 50:1000:100 --outbox "$W/twin.outbox" > twin.out 2>&1 &
TWIN=$!; PIDS+=($TWIN)
timeout -s KILL 40 "$SAMPLES/iothub-telemetry" --device "$DEV2" $(oids c2-c2d) \
  --connection-string "HostName=localhost;DeviceId=c2-c2d;x509=true" --port "$C2D_PORT" \
  --count 300 --interval-ms 30 --run-ms $RUN_MS --timeout-ms 15000 --retry-ms 50:1000:100 \
  --outbox "$W/c2d.outbox" > c2d.out 2>&1 &
TEL=$!; PIDS+=($TEL)
# The service side while the links are cut: desired updates, method calls
# (in the background, each timed), C2D messages.
NUP=8; NC2D=20
c=0
for i in $(seq 1 $NUP); do
  "$LH" twin update --device c2-twin --desired "{\"step\":$i}" > /dev/null || fail "twin update $i"
  ( s=$(date +%s.%N); r=0
    "$LH" method invoke --device c2-twin --name reboot --payload "{\"call\":$i}" --timeout 5 > "m$i.res" 2> "m$i.err" || r=$?
    e=$(date +%s.%N); echo "$r $(python3 -c "print(f'{$e - $s:.2f}')")" > "m$i.rc" ) &
  PIDS+=($!)
  for _ in 1 2 3; do
    [ $c -lt $NC2D ] && { "$LH" c2d send --device c2-c2d --data "c2d-$c" --message-id "mid-$c" > /dev/null \
      || fail "c2d send $c"; c=$((c + 1)); }
  done
  sleep 0.6
done
while [ $c -lt $NC2D ]; do
  "$LH" c2d send --device c2-c2d --data "c2d-$c" --message-id "mid-$c" > /dev/null || fail "c2d send $c"; c=$((c + 1))
done
echo "A+B: service side done at $(since)s ($NUP desired updates, $NUP method calls, $NC2D C2D messages)"
for i in $(seq 1 $NUP); do for _ in $(seq 1 150); do [ -s "m$i.rc" ] && break; sleep 0.1; done; done
# Wait for the first clean connection (the cuts are over) and the device's
# CONNACK on it: the last call meets a clean link.
for _ in $(seq 1 200); do
  grep -q 'event=start plan=clean' twin.log && grep -E '^(connected|disconnected)' twin.out | tail -1 | grep -q '^connected' && break
  sleep 0.1
done
grep -q 'event=start plan=clean' twin.log || fail "A: the cuts were not over after 20 s"
# (404 while the device's SUBSCRIBE is still on its way is retried; a 504
# is not: the device was there and did not answer)
for try in 1 2 3 4 5 6; do
  "$LH" method invoke --device c2-twin --name reboot --payload '{"call":"last"}' --timeout 5 > mlast.res 2> mlast.err \
    && break
  grep -q 404103 mlast.err && [ $try -lt 6 ] || fail "A: a method call on the clean link failed: $(cat mlast.err)"
  sleep 0.5
done
status200() { python3 -c "import json,sys; r=json.load(open(sys.argv[1])); sys.exit(0 if r['status']==200 and r['payload']=={'result':'scheduled'} else 1)" "$1"; }
status200 mlast.res || fail "A: last call: $(cat mlast.res)"
wait $TWIN || fail "A: the twin sample exited with $?"
wait $TEL || fail "B: the telemetry sample exited with $?"
stop_proxy twin; stop_proxy c2d

# A: checks.
tcuts=$(cuts_in twin)
[ "$tcuts" -ge 8 ] || fail "A: only $tcuts cuts"
"$LH" --json twin show --device c2-twin > twin.json || fail "A: twin show"
read -r hubv hubrep <<<"$(python3 - twin.json <<'P'
import json, sys
t = json.load(open(sys.argv[1]))
p = t.get("properties", t)
print(p["desired"]["$version"], p["reported"].get("desiredVersion", "none"))
P
)" || fail "A: twin.json: $(cat twin.json)"
devv=$(sed -n 's/^desired version now \([0-9]*\).*/\1/p' twin.out | tail -1)
[ "$devv" = "$hubv" ] || fail "A: the device ends with desired version '$devv', the hub has $hubv"
[ "$hubrep" = "$hubv" ] || fail "A: the hub's reported.desiredVersion is $hubrep, desired \$version $hubv"
grep -q '"sample"' twin.json || fail "A: reported sample property missing"
ok200=0; e404=0; e504=0
for i in $(seq 1 $NUP); do
  [ -s "m$i.rc" ] || fail "A: method call $i did not end (CLI hang)"
  read -r r t < "m$i.rc"
  python3 -c "import sys; sys.exit(0 if $t <= 15 else 1)" || fail "A: method call $i took ${t}s (timeout 5 s)"
  if [ "$r" = 0 ]; then
    status200 "m$i.res" || fail "A: call $i: $(cat "m$i.res")"
    grep -q "^method reboot called with {\"call\":$i}" twin.out || fail "A: call $i answered 200 but the device never saw it"
    ok200=$((ok200 + 1))
  elif grep -q 404 "m$i.err"; then e404=$((e404 + 1))
  elif grep -q 504 "m$i.err"; then
    python3 -c "import sys; sys.exit(0 if $t >= 4.5 else 1)" || fail "A: call $i: 504 after ${t}s, before its timeout"
    e504=$((e504 + 1))
  else fail "A: call $i: exit $r: $(cat "m$i.err")"; fi
done
tconn=$(grep -c '^connected' twin.out || true)
reread=$(grep -c '^desired version now .* (twin read)' twin.out || true)
# The last connection (the clean one) read the twin.
sed -n "$(grep -n '^connected' twin.out | tail -1 | cut -d: -f1),\$p" twin.out | grep -q '(twin read)$' \
  || fail "A: the last connection did not read the twin"
# Desired versions the device never got pushed (sent while it was cut off):
# it learned them by reading the twin after a reconnect.
missed=$(python3 - twin.out "$hubv" <<'P'
import re, sys
pushed = {int(v) for v in re.findall(r'^desired update, version (\d+):', open(sys.argv[1]).read(), re.M)}
print(len(set(range(2, int(sys.argv[2]) + 1)) - pushed))
P
)
echo "A: $tcuts cuts, $tconn connections, twin read $reread times, $missed desired versions not pushed (cut off) and learned from a read; desired \$version $hubv at the hub = device's = reported.desiredVersion; methods: $ok200 x 200, $e404 x 404, $e504 x 504, last call 200"

# B: checks.
bcuts=$(cuts_in c2d)
[ "$bcuts" -ge 7 ] || fail "B: only $bcuts cuts"
bses=$(grep -cE 'plan=cut@[0-9]+ end=(rst|fin|half-dev|half-brk) .*phase=session' c2d.log || true)
[ "$bses" -ge 3 ] || fail "B: only $bses cuts in MQTT sessions"
c2dup=$(python3 - c2d.out $NC2D <<'P'
import re, sys
got = re.findall(r'^C2D message: c2d-(\d+)$', open(sys.argv[1]).read(), re.M)
n = int(sys.argv[2])
missing = sorted(set(range(n)) - {int(g) for g in got})
if missing:
    sys.exit(f"C2D messages never printed: {missing}")
print(len(got) - n)
P
) || fail "B: $c2dup"
"$LH" c2d list --device c2-c2d > c2dlist.out 2>&1 || fail "B: c2d list"
# (one line per waiting message: its id, enqueue and expiry times, size)
grep -q 'mid-' c2dlist.out && fail "B: the hub's queue is not empty: $(cat c2dlist.out)"
grep -q '^done: 300 queued, 300 acknowledged, 0 still in the outbox' c2d.out || fail "B: $(grep '^done' c2d.out)"
bconn=$(grep -c '^connected' c2d.out || true)
echo "B: $bcuts cuts ($bses in sessions), $bconn connections; $NC2D of $NC2D C2D messages printed, $c2dup duplicate(s); hub queue empty; 300 of 300 telemetry acknowledged ($(since)s)"

fi

# ---------------------------------------------------------------- C
if [[ $PARTS == *C* ]]; then
# Corrupted bytes: 8 connections get one bit flipped in MQTT traffic. A flip
# in a record's body fails its MAC: the receiver sends an alert and closes.
# A flip in a record header's length makes the receiver wait for bytes that
# never come while the sender waits for PUBACKs: only the keep-alive ends
# that (a real finding of this test: with the default 240 s the run hung),
# so the device runs with --keep-alive $KA here too.
start_proxy corrupt --seed $((SEED + 200)) --corrupt-prob 0.06 --corrupt-dir both --corrupt-phase session --max-cuts 8
N_C=300
t0=$(date +%s.%N)
timeout -s KILL 40 "$SAMPLES/iothub-telemetry" --device "$DEV" $(oids c2-tel) \
  --connection-string "HostName=localhost;DeviceId=c2-tel;x509=true" --port "$PROXY_PORT" \
  --count $N_C --interval-ms 0 --keep-alive $KA --timeout-ms 15000 --retry-ms 50:1000:100 --outbox "$W/tel.outbox" > corrupt.out 2>&1 \
  || fail "C: the sample exited with $?"
stop_proxy corrupt
wall=$(python3 -c "import time; print(f'{time.time() - $t0:.1f}')")
grep -q "^done: $N_C queued, $N_C acknowledged, 0 still in the outbox" corrupt.out || fail "C: $(grep '^done' corrupt.out)"
flips=$(grep -c ' flip=' corrupt.log || true)
[ "$flips" -ge 6 ] || fail "C: only $flips bit flips happened"
# The side that got the flipped record answers with a TLS alert (encrypted:
# its type is not visible; bad_record_mac is what both stacks send for a
# record whose MAC fails). A receiver that closes with unread bytes sends a
# reset, which can overtake its alert (end=error): then only the reset is
# seen. Every body flip needs one of the two. Most of the flips the DEVICE
# receives (s2c: our mbedTLS client answering) need the alert. For flips the
# broker receives, alert or reset is all we ask: mosquitto sends its alert
# and closes with the device's next records unread, so its kernel's reset
# often overtakes the alert, the more so on a loaded machine (a fresh-machine
# run saw 2 of 8 alerts, all flips c2s; docs/fresh-machine.md).
read -r bodyflips alerted noanswer s2cflips s2calerted <<<"$(grep ' flip=[a-z0-9]*:[a-z]*:[0-9]*:[0-9]:body ' corrupt.log | awk '
  { d = $0; sub(/.* flip=/, "", d); split(d, f, ":");
    want = (f[1] == "c2s") ? "alerts_s2c=" : "alerts_c2s="; n = $0; sub(".*" want, "", n); sub(/ .*/, "", n);
    b++; if (f[1] == "s2c") sb++
    if (n + 0 >= 1) { a++; if (f[1] == "s2c") sa++ } else if ($0 !~ / end=error /) bad++ }
  END { print b + 0, a + 0, bad + 0, sb + 0, sa + 0 }')"
[ "$noanswer" -eq 0 ] || fail "C: $noanswer record(s) with a flipped body bit answered by neither an alert nor a reset"
[ "$s2calerted" -ge $(((s2cflips + 1) / 2)) ] || fail "C: only $s2calerted of the $s2cflips body flips the device received answered by its alert"
hdrflips=$(grep -c ' flip=[a-z0-9]*:[a-z]*:[0-9]*:[0-9]:hdr ' corrupt.log || true)
fdirs=$(sed -n 's/.* flip=\([a-z0-9]*\):.*/\1/p' corrupt.log | sort -u | tr '\n' ' ')
cconn=$(grep -c '^connected' corrupt.out || true)
[ "$cconn" -ge $((flips / 2 + 1)) ] || fail "C: $flips flips but only $cconn connections"
cdups=$(check_events c2-tel $N_C "$cconn") || fail "C: $cdups"
C_EVENTS=$((N_C + cdups))   # D's messages come after these at the hub
echo "C: $flips bit flips ($hdrflips in record headers, $alerted of $bodyflips body flips answered by an alert, $s2calerted of $s2cflips by the device; directions: $fdirs), $cconn connections, ${wall}s; $N_C of $N_C at the hub in order, $cdups duplicates"

# C2, started before A and B: the stalled connection (its checks ran with it).
wait "$C2_PID" || exit 1
cat c2.res
fi

# ---------------------------------------------------------------- D
if [[ $PARTS == *D* ]]; then
# Silent link: two connections go quiet for up to 8 s (> 1.5 x 2 s + slack) after 6..9 kB
# (past the handshake, which moves up to ~4.5 kB: a silent handshake is
# ended by the TLS read timeout, not the keep-alive; network-faults.md).
start_proxy black --seed $((SEED + 300)) --blackout-after-bytes 6000:9000 --blackout-ms 8000 --max-cuts 2
N_D=200
t0=$(date +%s.%N)
timeout -s KILL 40 "$SAMPLES/iothub-telemetry" --device "$DEV" $(oids c2-tel) \
  --connection-string "HostName=localhost;DeviceId=c2-tel;x509=true" --port "$PROXY_PORT" \
  --count $N_D --interval-ms 30 --keep-alive $KA --timeout-ms 15000 --retry-ms 50:1000:100 \
  --outbox "$W/tel.outbox" > black.out 2>&1 || fail "D: the sample exited with $?"
stop_proxy black
wall=$(python3 -c "import time; print(f'{time.time() - $t0:.1f}')")
grep -q "^done: $N_D queued, $N_D acknowledged, 0 still in the outbox" black.out || fail "D: $(grep '^done' black.out)"
gone=$(sed -n 's/.* event=dev_gone blackout=[0-9]* ms=\([0-9]*\)$/\1/p' black.log | tr '\n' ' ')
[ "$(echo $gone | wc -w)" -eq 2 ] \
  || fail "D: the device dropped $(echo $gone | wc -w) of 2 silent connections (blackout 8 s, keep-alive ${KA} s)"
for g in $gone; do
  # PINGREQ after <= KA s of silence, PINGRESP awaited KA/2 s, steps of <= 100 ms;
  # 2.5 s of slack for a loaded machine (the old client took KA + 30 s)
  [ "$g" -le $((KA * 1500 + 2500)) ] || fail "D: the device dropped the silent link after ${g} ms (keep-alive ${KA} s)"
  [ "$g" -ge $((KA * 500)) ] || fail "D: dropped after ${g} ms, before a PINGREQ could time out"
done
dconn=$(grep -c '^connected' black.out || true)
[ "$dconn" -ge 3 ] || fail "D: $dconn connections for 2 blackouts"
# The hub now has C's N_C messages and D's (n = 0.. again): check D's part.
"$LH" monitor-events --device c2-tel --from-start --count 100000 --timeout 2 > ev-d.out 2>&1 || true
ddups=$(python3 - ev-d.out $C_EVENTS $N_D $((WINDOW * (dconn - 1))) <<'P'
import re, sys
vals = [int(v) for v in re.findall(r'"n":\s*(\d+)', open(sys.argv[1]).read())]
skip, nd, bound = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
d = vals[skip:]   # after part C's events
first, seen = [], set()
for v in d:
    if v not in seen:
        seen.add(v); first.append(v)
if first != list(range(nd)):
    sys.exit(f"D at the hub: first occurrences {first[:12]}..., want 0..{nd - 1}")
if len(d) - nd > bound:
    sys.exit(f"D: {len(d) - nd} duplicates > {bound}")
print(len(d) - nd)
P
) || fail "D: $ddups"
echo "D: 2 blackouts of up to 8 s, device dropped the silent link after $gone ms (keep-alive ${KA} s, bound $((KA * 1500 + 2500)) ms), $dconn connections, ${wall}s; $N_D of $N_D at the hub in order, $ddups duplicates"
fi
echo "PASS seed=$SEED parts=$PARTS total=$(since)s"
