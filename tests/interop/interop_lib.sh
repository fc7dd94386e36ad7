# shellcheck shell=bash
# The start-up and bookkeeping the interop scripts share (infineon_host.sh,
# linux_tools.sh, ifx_update_tool.sh): sourced, not run. It gives
#   interop_bin NAME            the first file NAME in the build $B (executable
#                               unless it is a shared library), empty if none;
#   interop_need DIR WHAT FILE...  exit 2 unless every FILE is under DIR
#                               (a checkout of WHAT);
#   W, pass, fail, PID, PIDS    a fresh work folder, the counts, the simulators
#                               to stop at the end (PID: the one of the
#                               scenario, PIDS: all others), removed on exit
#                               unless INTEROP_KEEP is set;
#   check NAME COMMAND...       runs COMMAND, PASS or FAIL NAME (with the end
#                               of its output), counted;
#   interop_start_chip NAME [trustm-sim options]
#                               a fresh real-time trustm-sim in $W/NAME (D),
#                               bus trace, exported CA; PID its pid;
#   stop_chip                   stops it;
#   interop_done                "N passed, M failed", status 0 when none failed.
# Needs $B (the build) set before it is sourced; $SIMD is the simulator.

interop_bin() { # interop_bin NAME
    case $1 in
    *.so) find "$B" -type f -name "$1" -print -quit ;;
    *) find "$B" -type f -name "$1" -perm -u+x -print -quit ;;
    esac
}

interop_need() { # interop_need DIR WHAT FILE...
    local dir=$1 what=$2 f
    shift 2
    for f in "$@"; do
        [ -f "$dir/$f" ] || { echo "$dir/$f missing: not $what"; exit 2; }
    done
}

W=$(mktemp -d)
PID=
PIDS=()
pass=0 fail=0
interop_cleanup() {
    local p
    for p in $PID "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
    wait 2>/dev/null
    if [ -n "${INTEROP_KEEP:-}" ]; then echo "kept $W (traces, outputs)"; else rm -rf "$W"; fi
}
trap interop_cleanup EXIT

check() { # check NAME COMMAND...
    local name=$1; shift
    if "$@" >"$W/last.log" 2>&1; then pass=$((pass + 1)); echo "PASS $name"
    else fail=$((fail + 1)); echo "FAIL $name"; sed 's/^/    /' "$W/last.log" | tail -40; fi
}

# one simulated chip per scenario (real time: Infineon's library really sleeps)
interop_start_chip() { # interop_start_chip NAME [trustm-sim options]
    D=$W/$1
    shift
    mkdir -p "$D"
    "$SIMD" --socket "$D/sim.sock" --state "$D/chip.state" --realtime "$@" --trace "$D/trace.txt" \
        --export-ca "$D/ca" >"$D/sim.log" 2>&1 &
    PID=$!
    for _ in $(seq 100); do [ -S "$D/sim.sock" ] && break; sleep 0.05; done
    [ -S "$D/sim.sock" ] || { echo "simulator did not start"; cat "$D/sim.log"; exit 2; }
}
stop_chip() { kill "$PID" 2>/dev/null; wait "$PID" 2>/dev/null; PID=; }

interop_done() {
    echo "$pass passed, $fail failed"
    [ "$fail" -eq 0 ]
}
