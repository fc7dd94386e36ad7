#!/usr/bin/env bash
# The Linux i2c-dev port against the simulator daemon: an LD_PRELOAD shim maps
# /dev/i2c-N onto the daemon's socket. Also: a bad device string fails cleanly,
# and two clients at once are serialised by the port's flock (both succeed).
set -euo pipefail
B=${TMA_BUILD_DIR:?}
SIMD=$(find "$B" -type f -name trustm-sim -perm -u+x -print -quit)
CLIENT=$(find "$B" -type f -name trustm_i2cdev_client -perm -u+x -print -quit)
SHIM=$(find "$B" -type f -name 'libtrustm_i2cdev_shim.so' -print -quit)
[ -n "$SIMD" ] && [ -n "$CLIENT" ] && [ -n "$SHIM" ] || { echo "missing binaries"; exit 1; }
D=$(mktemp -d)
PID=
cleanup() { [ -n "$PID" ] && kill "$PID" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$D"; }
trap cleanup EXIT
# real time: the i2c-dev port really sleeps, so the chip must age with the wall clock
"$SIMD" --socket "$D/sim.sock" --seed 9 --realtime >"$D/sim.log" 2>&1 &
PID=$!
for _ in $(seq 100); do [ -S "$D/sim.sock" ] && break; sleep 0.05; done
[ -S "$D/sim.sock" ] || { echo "simulator did not start"; cat "$D/sim.log"; exit 1; }
export TRUSTM_LOCK_DIR=$D
# the shim is not instrumented; ASan must not insist on coming first (leak
# detection stays on: the client must not leak on any path)
export ASAN_OPTIONS=verify_asan_link_order=0
export TRUSTM_SHIM_SOCKET=$D/sim.sock
run() { LD_PRELOAD=$SHIM "$CLIENT" "$@"; }
run /dev/i2c-7@0x30 "$D/sim.sock" 3
# wrong address: the chip never acknowledges -> clean failure, no hang
if run /dev/i2c-7@0x31 "$D/sim.sock" 1 2>"$D/err"; then echo "address 0x31 should fail"; exit 1; fi
grep -q "session failed" "$D/err" || { cat "$D/err"; exit 1; }
# malformed device strings
for bad in /dev/i2c-7@0x80 /dev/i2c-7@zz nosuch; do
    if run "$bad" "$D/sim.sock" 1 2>/dev/null; then echo "$bad should fail"; exit 1; fi
done
# two processes at once: serialised by the lock, both complete
run /dev/i2c-7 - 6 >"$D/a" 2>&1 &
A=$!
run /dev/i2c-7 - 6 >"$D/b" 2>&1 &
Bp=$!
wait $A || { cat "$D/a"; exit 1; }
wait $Bp || { cat "$D/b"; exit 1; }
echo "i2cdev port: ok"
