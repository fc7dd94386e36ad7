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
N=30
TLS_TEST=qemu_tls_reconnect TLS_TEST_CA="qemu reconnect CA"
# shellcheck source=tests/qemu/tls_fw/test_lib.sh
. "${TMA_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/qemu/tls_fw/test_lib.sh"

# tests/qemu/tls_relay.py in front of UPSTREAM_PORT: NAME.port, NAME.ctl,
# NAME.log; RPORT
start_relay() { # name upstream_port
  python3 "$Q/tls_relay.py" "$1.port" "$1.ctl" "$1.log" "$2" >"$1.out" 2>&1 &
  PIDS+=($!)
  for _ in $(seq 100); do [ -s "$1.port" ] && [ -S "$1.ctl" ] && break; sleep 0.05; done
  [ -s "$1.port" ] || fail "the relay did not start"
  RPORT=$(cat "$1.port")
}

# ---- 2. full and resumed handshake against s_server, instructions counted
openssl ecparam -name prime256v1 -genkey -noout -out srv.key 2>/dev/null
openssl req -new -key srv.key -subj /CN=localhost -out srv.csr 2>/dev/null
printf 'subjectAltName=DNS:localhost\nextendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature\n' >srv.ext
openssl x509 -req -in srv.csr -CA "$CAF" -CAkey "$LOCALHUB_HOME/pki/root-ca.key" -CAcreateserial -days 2 \
  -extfile srv.ext -out srv.pem 2>/dev/null || fail "cannot issue the s_server certificate from the hub root"
start_sserver srv.pem srv.key 2
# through the relay: it gives the second handshake a new connection to
# s_server (QEMU's UART stream is one TCP connection)
start_relay rs "$SPORT"
stats r0.json
QEMU_ICOUNT=1 run_fw resume.txt 40 "host=127.0.0.1,port=$RPORT,reconnect=1" tls 2
wait_fw resume.txt 40
stats r1.json
# s_server (-naccept 2) prints its session cache statistics when it ends
for _ in $(seq 50); do kill -0 "$spid" 2>/dev/null || break; sleep 0.1; done
[ $rc -eq 0 ] || { cat resume.txt resume.txt.err "$SOUT"; fail "resume: the firmware exited with code $rc"; }
python3 "$Q/tls_check.py" resume resume.txt "$SOUT" r0.json r1.json || { cat "$SOUT"; fail "resume run does not check out"; }

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
