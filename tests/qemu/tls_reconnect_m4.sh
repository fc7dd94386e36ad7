#!/usr/bin/env bash
# Reconnects of the whole X.509 device on the emulated Cortex-M4 (QEMU
# mps2-an386; issue 6; docs/qemu-m4.md, "Reconnects on the target"): the
# firmware of qemu_tls_m4 (tests/qemu/tls_fw) with the connection cut under
# it, the outbox re-sending what was not acknowledged, the IoT Hub client's
# own back-off, and the TLS session resumed so that a reconnect costs the
# chip no signature where the server resumes it.
#
# 1. The firmware (tls_fw/build.sh; mbedTLS for the M4 shared with
#    qemu_tls_m4 in CACHE_DIR), localhub, device dev-m4 (x509-ca), trustm-sim
#    personalised by the trustm CLI (tests/lib/localhub_chip.sh).
# 2. resume pass, under -icount shift=0: `fw tls 2` against openssl s_server
#    (-naccept 2): a full handshake, then one resuming the session: its
#    instructions and stack next to the full one's; 1 CalcSign in all.
# 3. reconnect pass: UART1 goes to tests/qemu/tls_relay.py (QEMU's socket
#    chardev with reconnect=1), which forwards to localhub and which
#    tests/qemu/tls_reconnect.py cuts while the firmware stores 30 messages:
#    mid-stream (one PUBLISH reaches the hub, its PUBACK is lost), then by
#    restarting localhub (its TLS session cache is gone), then mid-stream
#    again with the next handshake cut too. The host checks (tls_check.py
#    reconnect): all 30 at the hub, first arrivals in order, duplicates at
#    most the in-flight window per reconnect and never within the connection
#    of the first arrival; per connect the simulator saw exactly 1 CalcSign
#    for the first and for the one after the restart, nothing at all for the
#    resumed ones (the cut handshake included); every back-off within the
#    client's bounds; each mid-stream cut noticed within 1.5 x keep-alive.
# 4. The checker rejects a doctored capture: a message missing at the hub, a
#    resumed connect that cost a CalcSign, a back-off outside the bounds, a
#    duplicate in the connection of its first arrival.
# Usage: tls_reconnect_m4.sh TRUSTM_SIM TRUSTM_CLI LOCALHUB CACHE_DIR
#        (QEMU_TLS_KEEP=1 keeps the work dir)
set -euo pipefail
ROOT=${TMA_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
Q="$ROOT/tests/qemu"
export TRUSTM_SIM=${1:?usage: tls_reconnect_m4.sh TRUSTM_SIM TRUSTM_CLI LOCALHUB CACHE_DIR}
export TRUSTM_CLI=${2:?usage}
export LOCALHUB=${3:?usage}
CACHE=${4:?usage}
N=30
mkdir -p "$CACHE" && CACHE=$(cd "$CACHE" && pwd)
TRUSTM_SIM=$(realpath "$TRUSTM_SIM") TRUSTM_CLI=$(realpath "$TRUSTM_CLI") LOCALHUB=$(realpath "$LOCALHUB")
for t in arm-none-eabi-gcc arm-none-eabi-size qemu-system-arm openssl python3 timeout; do
  command -v "$t" >/dev/null || { echo "FAIL: $t not installed (scripts/setup installs it)"; exit 1; }
done
T0=$(date +%s.%N)
. "$ROOT/tests/lib/shell.sh"
. "$ROOT/tests/lib/localhub_chip.sh"
lhc_init qemu_tls_reconnect
[ -n "${QEMU_TLS_KEEP:-}" ] && { echo "work dir: $W"; trap 'keep_stop' EXIT; }
keep_stop() {
  "$LOCALHUB" stop >/dev/null 2>&1 || true
  local p; for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
}
secs() { python3 -c "import sys; print('%.1f' % (float(sys.argv[2]) - float(sys.argv[1])))" "$1" "$(date +%s.%N)"; }

# ---- 1. firmware, hub, device, chip
# shellcheck source=tests/qemu/tls_fw/build.sh
. "$Q/tls_fw/build.sh"
tls_fw_build "$CACHE" "$W/fw"
lhc_start_hub
lhc_device_ca "qemu reconnect CA"
DEVID=dev-m4
"$LOCALHUB" device create --id "$DEVID" --auth x509-ca >/dev/null
lhc_chip "$DEVID"
SOCK="$W/chip.sock"
stats() { python3 "$Q/check_run.py" stats "$SOCK" >"$1" || fail "simulator statistics ($1)"; }

# QEMU as in tls_m4.sh: UART0 the chip, UART1 the network (NET: chardev
# options), semihosting the console; $qpid
run_fw() { # out tmo net args...
  local out=$1 tmo=$2 net=$3 a="" x
  shift 3
  for x in "$@"; do a="$a,arg=$x"; done
  # shellcheck disable=SC2086
  timeout "$tmo" qemu-system-arm -M mps2-an386 -nographic -monitor none ${QEMU_ICOUNT:+-icount shift=0} \
    -kernel "$W/fw/fw.elf" \
    -chardev "socket,id=chip,path=$SOCK" -serial chardev:chip \
    -chardev "socket,id=net,$net" -serial chardev:net \
    -chardev "file,id=con,path=$out" \
    -semihosting-config "enable=on,target=native,chardev=con,arg=fw$a" >"$out.err" 2>&1 &
  qpid=$!
  PIDS+=("$qpid")
}
# tests/qemu/tls_relay.py in front of UPSTREAM_PORT: NAME.port, NAME.ctl,
# NAME.log; RPORT
start_relay() { # name upstream_port
  python3 "$Q/tls_relay.py" "$1.port" "$1.ctl" "$1.log" "$2" >"$1.out" 2>&1 &
  PIDS+=($!)
  for _ in $(seq 100); do [ -s "$1.port" ] && [ -S "$1.ctl" ] && break; sleep 0.05; done
  [ -s "$1.port" ] || fail "the relay did not start"
  RPORT=$(cat "$1.port")
}
wait_fw() { # out tmo -> rc
  rc=0; wait "$qpid" || rc=$?
  [ $rc -eq 124 ] && { cat "$1" "$1.err"; fail "$(basename "$1"): the firmware did not finish within $2 s"; }
  return 0
}

# ---- 2. full and resumed handshake against s_server, instructions counted
openssl ecparam -name prime256v1 -genkey -noout -out srv.key 2>/dev/null
openssl req -new -key srv.key -subj /CN=localhost -out srv.csr 2>/dev/null
printf 'subjectAltName=DNS:localhost\nextendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature\n' >srv.ext
openssl x509 -req -in srv.csr -CA "$CAF" -CAkey "$LOCALHUB_HOME/pki/root-ca.key" -CAcreateserial -days 2 \
  -extfile srv.ext -out srv.pem 2>/dev/null || fail "cannot issue the s_server certificate from the hub root"
SPORT=""
for _ in 1 2 3 4 5 6 7 8; do
  p=$((20000 + RANDOM % 40000))
  openssl s_server -accept "127.0.0.1:$p" -naccept 2 -rev -tls1_2 -cert srv.pem -key srv.key \
    -CAfile ca.pem -Verify 1 -verify_return_error >"sserver.out" 2>&1 &
  spid=$!
  for _ in $(seq 50); do grep -q '^ACCEPT' sserver.out && break; kill -0 $spid 2>/dev/null || break; sleep 0.1; done
  if grep -q '^ACCEPT' sserver.out && kill -0 $spid 2>/dev/null; then PIDS+=("$spid"); SPORT=$p; break; fi
  wait $spid 2>/dev/null || true
done
[ -n "$SPORT" ] || fail "openssl s_server did not start"
# through the relay: it gives the second handshake a new connection to
# s_server (QEMU's UART stream is one TCP connection)
start_relay rs "$SPORT"
stats r0.json
QEMU_ICOUNT=1 run_fw resume.txt 40 "host=127.0.0.1,port=$RPORT,reconnect=1" tls 2
wait_fw resume.txt 40
stats r1.json
# s_server (-naccept 2) prints its session cache statistics when it ends
for _ in $(seq 50); do kill -0 "$spid" 2>/dev/null || break; sleep 0.1; done
[ $rc -eq 0 ] || { cat resume.txt resume.txt.err sserver.out; fail "resume: the firmware exited with code $rc"; }
python3 "$Q/tls_check.py" resume resume.txt sserver.out r0.json r1.json || { cat sserver.out; fail "resume run does not check out"; }

# ---- 3. the IoT Hub client through the relay, cut under it
start_relay relay "$PORT"
n0=$(grep -c '' "$LOCALHUB_HOME/telemetry.jsonl" 2>/dev/null || true)
stats c0.json
t=$(date +%s.%N)
# reconnect=1: after the relay closes the connection QEMU connects again 1 s later
run_fw rc.txt 60 "host=127.0.0.1,port=$RPORT,reconnect=1" reconnect "$DEVID" "$N"
drc=0
python3 "$Q/tls_reconnect.py" rc.txt "$qpid" relay.ctl "$SOCK" "$LOCALHUB" "$PORT" events.json >driver.out 2>&1 || drc=$?
wait_fw rc.txt 60
stats c1.json
[ $drc -eq 0 ] || { cat driver.out rc.txt; fail "the host's plan did not run through"; }
[ $rc -eq 0 ] || { cat rc.txt rc.txt.err; fail "reconnect: the firmware exited with code $rc"; }
echo "ok: reconnect pass ran to DONE in $(secs "$t") s"
python3 - relay.ctl <<'PY' >relay.state || fail "relay state"
import socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.sendall(b"state\n")
print(s.makefile().readline().strip())
PY
tail -n +"$((n0 + 1))" "$LOCALHUB_HOME/telemetry.jsonl" >rc.telemetry.jsonl
python3 "$Q/tls_check.py" reconnect rc.txt rc.telemetry.jsonl relay.log relay.state events.json c0.json c1.json \
  "$DEVID" "$N" || fail "reconnect run does not check out"

# ---- 4. the checker can fail
python3 - rc.telemetry.jsonl events.json rc.txt <<'PY'
import json, re, sys
tel = open(sys.argv[1]).read().splitlines()
ev = json.load(open(sys.argv[2]))
out = open(sys.argv[3]).read().splitlines()
# a message missing at the hub (every copy of n=5)
open("bad1.jsonl", "w").write("\n".join(l for l in tel if '"{\\"n\\":5,' not in l) + "\n")
# a resumed connect that cost the chip a signature
e = json.loads(json.dumps(ev))
for s in e["snapshots"][1:]:
    s["commands"]["CalcSign"] = s["commands"].get("CalcSign", 0) + 1
json.dump(e, open("bad2.json", "w"))
# a back-off the client would not choose: 20 s longer than scheduled
b = []
done = False
for l in out:
    m = re.match(r"^retry (\d+) (\d+)$", l)
    if m and not done:
        l = "retry %s %d" % (m.group(1), int(m.group(2)) + 20000)
        done = True
    b.append(l)
open("bad3.txt", "w").write("\n".join(b) + "\n")
# a duplicate in the connection of its first arrival (the hub took a
# message twice without a reconnect in between)
recs = [json.loads(l) for l in tel]
dup = dict(recs[2]); dup["seq"] = recs[2]["seq"]
c = tel[:3] + [json.dumps(dup)] + tel[3:]
open("bad4.jsonl", "w").write("\n".join(c) + "\n")
PY
for bad in "rc.txt bad1.jsonl events.json:message 5 never reached the hub" \
           "rc.txt rc.telemetry.jsonl bad2.json:CalcSign" \
           "bad3.txt rc.telemetry.jsonl events.json:back-off" \
           "rc.txt bad4.jsonl events.json:duplicate in the connection of its first arrival"; do
  files=${bad%%:*}
  read -r f_out f_tel f_ev <<<"$files"
  if python3 "$Q/tls_check.py" reconnect "$f_out" "$f_tel" relay.log relay.state "$f_ev" c0.json c1.json \
    "$DEVID" "$N" >bad.log 2>&1; then
    fail "the checker accepted a doctored capture ($files)"
  fi
  grep -q "check failed: .*${bad#*:}" bad.log || { cat bad.log; fail "the checker rejected $files for another reason"; }
done
echo "ok: the checker rejects a missing message, a signature on a resumed connect, a back-off out of bounds, a duplicate without a reconnect"
echo "ok: qemu_tls_m4_reconnect passed in $(secs "$T0") s"
