#!/usr/bin/env bash
# libtrustm EXECUTING on an emulated Cortex-M4 (QEMU mps2-an386) against the
# real simulator daemon (issue 3, DEVELOPERS.md: "no OS calls in the device
# core, so it ports to Cortex-M").
#
# 1. Cross-compiles the firmware: libtrustm with shielding, src/common/status.c,
#    the UNMODIFIED port template port/baremetal/trustm_port_baremetal.c and
#    the board glue in tests/qemu (C99, -Os, newlib-nano, no OS stubs).
# 2. Starts its own trustm-sim on a socket in a mktemp dir, binds it with the
#    trustm CLI (a fresh 64-byte platform binding secret), runs the firmware
#    under QEMU with UART0 connected straight to the daemon's socket, and
#    checks what the firmware printed with openssl (tests/qemu/check_run.py):
#    certificate chain, CalcHash, ECDSA signatures with 0xE0F0 (DER and r||s)
#    and a generated 0xE0F1 key, hibernate/restore, the same shielded; then the
#    simulator's statistics (the commands really arrived).
# 3. Negative cases: the checks reject a corrupted signature, a wrong key and
#    a wrong digest (check_run.py); the firmware with a wrong binding secret
#    ends with a clear handshake error and exit code 2; a missing secret file
#    is named.
# 4. The MCU flash log (src/iothub/storage_flash.c) on the target over a
#    RAM-backed NOR flash: put/next/get/del, fill to FULL, reclaim, reopen;
#    replayed against a model on the host.
# Needs gcc-arm-none-eabi, libnewlib-arm-none-eabi, qemu-system-arm, openssl,
# python3 (scripts/setup). A missing tool is a failure, not a skip.
# Usage: qemu_m4.sh TRUSTM_SIM TRUSTM_CLI
set -euo pipefail
ROOT=${TMA_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
SIM=${1:?usage: qemu_m4.sh TRUSTM_SIM TRUSTM_CLI}
CLI=${2:?usage: qemu_m4.sh TRUSTM_SIM TRUSTM_CLI}
Q="$ROOT/tests/qemu"
fail() { echo "FAIL: $*"; exit 1; }
for t in arm-none-eabi-gcc qemu-system-arm openssl python3 timeout; do
  command -v "$t" >/dev/null || fail "$t not installed (scripts/setup installs it)"
done
[ -x "$SIM" ] && [ -x "$CLI" ] || fail "trustm-sim or trustm not built ($SIM, $CLI)"
T0=$(date +%s.%N)

W=$(mktemp -d)
[ -n "${QEMU_M4_KEEP:-}" ] && echo "work dir: $W"
simpid=""
cleanup() {
  if [ -n "$simpid" ] && kill -0 "$simpid" 2>/dev/null; then
    kill "$simpid" 2>/dev/null; wait "$simpid" 2>/dev/null || true
  fi
  [ -n "${QEMU_M4_KEEP:-}" ] || rm -rf "$W"
}
trap cleanup EXIT

# ---- 1. the firmware
. "$Q/fw_build.sh"
qemu_fw_build "$W" "-I$ROOT/src/trustm -DTRUSTM_CFG_SHIELD=1" \
  "$ROOT"/src/trustm/*.c "$ROOT/src/common/status.c" "$ROOT/src/iothub/storage_flash.c" \
  "$ROOT/port/baremetal/trustm_port_baremetal.c" "$Q"/*.c

# ---- 2. the simulator, bound to a fresh secret
"$SIM" --socket "$W/sim.sock" --export-ca "$W/ca" 2>"$W/sim.log" &
simpid=$!
for _ in $(seq 100); do grep -q "listening on" "$W/sim.log" && break; sleep 0.1; done
grep -q "listening on" "$W/sim.log" || { cat "$W/sim.log"; fail "trustm-sim did not start"; }
"$CLI" --device "sim:$W/sim.sock" bind --key-exec-open --out "$W/pbs.bin" >"$W/bind.log" 2>&1 ||
  { cat "$W/bind.log"; fail "trustm bind failed"; }

# QEMU: UART0 (the first -serial) is the chip's bus, semihosting the console.
# -icount shift=0,sleep=off: the MCU's clock counts instructions (1 ns each)
# and an idle WFI jumps to the next SysTick at once, so the firmware's waits
# (the Security Monitor's decay before hibernate: tens of seconds of MCU time)
# take no wall time and nothing depends on how fast this machine is.
run_fw() { # mode pbsfile out -> exit code of QEMU (the firmware's)
  local rc=0
  timeout 25 qemu-system-arm -M mps2-an386 -nographic -monitor none -icount shift=0,sleep=off \
    -kernel "$W/fw.elf" -chardev "socket,id=chip,path=$W/sim.sock" -serial chardev:chip \
    -chardev "file,id=con,path=$3" \
    -semihosting-config "enable=on,target=native,chardev=con,arg=fw,arg=$1,arg=$2" >"$3.err" 2>&1 || rc=$?
  return $rc
}

python3 "$Q/check_run.py" stats "$W/sim.sock" >"$W/stats0.json"
rc=0; run_fw all "$W/pbs.bin" "$W/out.txt" || rc=$?
python3 "$Q/check_run.py" stats "$W/sim.sock" >"$W/stats1.json"
if [ $rc -ne 0 ]; then
  cat "$W/out.txt" "$W/out.txt.err"
  [ $rc -eq 124 ] && fail "the firmware did not finish within 25 s"
  fail "the firmware exited with code $rc"
fi
echo "ok: the firmware ran to DONE, $(grep -c '^ok ' "$W/out.txt") steps reported"
python3 "$Q/check_run.py" output "$W/out.txt" "$W" "$W/ca" || fail "the firmware's output does not check out"
python3 "$Q/check_run.py" stats-delta "$W/stats0.json" "$W/stats1.json" ||
  fail "the simulator's statistics do not show the firmware's commands"
grep -E '^(dwt_cyccnt_counts|sim_requests|plain.sec_wait_ms|shield.sec_wait_ms)' "$W/out.txt" | sed 's/^/info: /'

# ---- 3. negative cases on the target
head -c 64 /dev/urandom >"$W/wrong.bin"
rc=0; run_fw shield "$W/wrong.bin" "$W/neg.txt" || rc=$?
want="ERROR shield open_app: shield: handshake failed (platform binding secret does not match?)"
[ $rc -eq 2 ] && grep -qxF "$want" "$W/neg.txt" ||
  { cat "$W/neg.txt" "$W/neg.txt.err"; fail "wrong binding secret: expected exit 2 and '$want' (exit $rc)"; }
grep -q '^shield.random=' "$W/neg.txt" && fail "wrong binding secret: the firmware went on after the failed handshake"
echo "ok: wrong binding secret: exit 2, '$want'"
rc=0; run_fw shield "$W/missing.bin" "$W/neg2.txt" || rc=$?
[ $rc -eq 2 ] && grep -q "^ERROR cannot read a 64-byte binding secret from $W/missing.bin" "$W/neg2.txt" ||
  { cat "$W/neg2.txt"; fail "missing secret file: expected exit 2 and a message naming it (exit $rc)"; }
echo "ok: missing binding secret file: exit 2, named"

# ---- 4. the MCU flash log (src/iothub/storage_flash.c) on the target, on a
# RAM-backed NOR flash that enforces the program/erase rules; no chip
rc=0
timeout 25 qemu-system-arm -M mps2-an386 -nographic -monitor none -icount shift=0,sleep=off \
  -kernel "$W/fw.elf" -serial null -chardev "file,id=con,path=$W/flash.txt" \
  -semihosting-config "enable=on,target=native,chardev=con,arg=fw,arg=flash,arg=-" >"$W/flash.err" 2>&1 || rc=$?
[ $rc -eq 0 ] || { cat "$W/flash.txt" "$W/flash.err"; fail "the flash log firmware exited with code $rc"; }
python3 "$Q/check_run.py" flash "$W/flash.txt" || fail "the flash log run does not check out"

# ---- 5. the board's microsecond clock never steps back (a SysTick wrap read
# before its interrupt ran gave a time 1 ms early, and a gap computed from it
# wrapped to about 4,295 s): on the host's clock and on the instruction count
for ic in "" "-icount shift=0,sleep=off"; do
  rc=0
  # shellcheck disable=SC2086
  timeout 25 qemu-system-arm -M mps2-an386 -nographic -monitor none $ic \
    -kernel "$W/fw.elf" -serial null -chardev "file,id=con,path=$W/clock.txt" \
    -semihosting-config "enable=on,target=native,chardev=con,arg=fw,arg=clock,arg=-" >"$W/clock.err" 2>&1 || rc=$?
  [ $rc -eq 0 ] && grep -q '^clock_reads 1000000$' "$W/clock.txt" ||
    { cat "$W/clock.txt" "$W/clock.err"; fail "the clock firmware run failed (exit $rc)"; }
  grep -q '^clock_steps_back 0$' "$W/clock.txt" ||
    { cat "$W/clock.txt"; fail "board_now_us() stepped back (${ic:-host clock})"; }
done
echo "ok: board_now_us() monotonic over 1,000,000 reads, host clock and -icount"

# the daemon is still healthy after all that
python3 "$Q/check_run.py" stats "$W/sim.sock" >/dev/null || fail "the simulator no longer answers"
echo "ok: qemu_m4 passed in $(python3 -c "import sys; print('%.1f' % (float(sys.argv[2]) - float(sys.argv[1])))" "$T0" "$(date +%s.%N)") s"
