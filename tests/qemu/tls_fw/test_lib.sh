# Set-up shared by the tests that run the X.509 device firmware
# (tls_m4.sh, tls_reconnect_m4.sh). Sourced, with the caller's arguments
# TRUSTM_SIM TRUSTM_CLI LOCALHUB CACHE_DIR and TLS_TEST (its work folder's
# name) and TLS_TEST_CA (the device CA's name) set:
#   - checks the tools (a missing one is a failure), T0, the work folder W
#     and cleanup of tests/lib/localhub_chip.sh (QEMU_TLS_KEEP=1 keeps W);
#   - builds mbedTLS for the M4 (in CACHE_DIR, kept between runs) and the
#     firmware W/fw/fw.elf (tls_fw/build.sh);
#   - localhub (PORT, CAF), a verified device CA, the device DEVID (dev-m4,
#     x509-ca), a trustm-sim daemon personalised for it (SOCK);
#   - secs T0, stats FILE (the simulator's statistics JSON), and
#       run_fw OUT TMO NET ARGS...  QEMU in the background (pid qpid):
#         UART0 the chip's bus (SOCK), UART1 the network (NET: the socket
#         chardev's options), semihosting the console (OUT), "fw ARGS...";
#         no -icount unless QEMU_ICOUNT is set: SysTick then follows the host
#         clock, the time base of the server and of the hub
#       wait_fw OUT TMO  its exit code in rc; a timeout is a failure
#       start_sserver CERT KEY N  `openssl s_server -rev` on a random port
#         for N connections, client certificate required (ca.pem): SPORT,
#         spid, SOUT (its output).
ROOT=${TMA_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)}
Q="$ROOT/tests/qemu"
export TRUSTM_SIM=${1:?usage: TRUSTM_SIM TRUSTM_CLI LOCALHUB CACHE_DIR}
export TRUSTM_CLI=${2:?usage}
export LOCALHUB=${3:?usage}
CACHE=${4:?usage}
mkdir -p "$CACHE" && CACHE=$(cd "$CACHE" && pwd)
TRUSTM_SIM=$(realpath "$TRUSTM_SIM") TRUSTM_CLI=$(realpath "$TRUSTM_CLI") LOCALHUB=$(realpath "$LOCALHUB")
for t in arm-none-eabi-gcc arm-none-eabi-size arm-none-eabi-nm qemu-system-arm openssl python3 timeout; do
  command -v "$t" >/dev/null || { echo "FAIL: $t not installed (scripts/setup installs it)"; exit 1; }
done
T0=$(date +%s.%N)
. "$ROOT/tests/lib/shell.sh"
. "$ROOT/tests/lib/localhub_chip.sh"
lhc_init "${TLS_TEST:?}"
keep_stop() {
  "$LOCALHUB" stop >/dev/null 2>&1 || true
  local p; for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
}
[ -n "${QEMU_TLS_KEEP:-}" ] && { echo "work dir: $W"; trap 'keep_stop' EXIT; }
secs() { python3 -c "import sys; print('%.1f' % (float(sys.argv[2]) - float(sys.argv[1])))" "$1" "$(date +%s.%N)"; }

# shellcheck source=tests/qemu/tls_fw/build.sh
. "$Q/tls_fw/build.sh"
tls_fw_build "$CACHE" "$W/fw"

lhc_start_hub
lhc_device_ca "${TLS_TEST_CA:?}"
DEVID=dev-m4
"$LOCALHUB" device create --id "$DEVID" --auth x509-ca >/dev/null
lhc_chip "$DEVID"
SOCK="$W/chip.sock"
stats() { python3 "$Q/check_run.py" stats "$SOCK" >"$1" || fail "simulator statistics ($1)"; }

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
wait_fw() { # out tmo -> rc
  rc=0; wait "$qpid" || rc=$?
  [ $rc -eq 124 ] && { cat "$1" "$1.err"; fail "$(basename "$1"): the firmware did not finish within $2 s"; }
  return 0
}
start_sserver() { # cert key naccept
  local p
  for _ in 1 2 3 4 5 6 7 8; do
    p=$((20000 + RANDOM % 40000))
    openssl s_server -accept "127.0.0.1:$p" -naccept "$3" -rev -tls1_2 -cert "$1" -key "$2" \
      -CAfile ca.pem -Verify 1 -verify_return_error >"sserver.$p.out" 2>&1 &
    spid=$!
    for _ in $(seq 50); do grep -q '^ACCEPT' "sserver.$p.out" && break; kill -0 $spid 2>/dev/null || break; sleep 0.1; done
    if grep -q '^ACCEPT' "sserver.$p.out" && kill -0 $spid 2>/dev/null; then
      PIDS+=("$spid"); SPORT=$p; SOUT="sserver.$p.out"; return 0
    fi
    wait $spid 2>/dev/null || true
  done
  fail "openssl s_server did not start"
}
