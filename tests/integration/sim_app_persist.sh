#!/usr/bin/env bash
# trustm-sim chip state through the daemon: personalization survives a
# restart, `kill -9` during writes never corrupts the state file (and every
# acknowledged write is kept), and a corrupted state file is refused.
# Usage: sim_app_persist.sh PATH-TO-trustm-sim PATH-TO-sim_app_client
set -u
BIN="${1:?trustm-sim}"
CLI="${2:?sim_app_client}"
tmp=$(mktemp -d)
pid=""
cleanup() {
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then kill -9 "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; fi
  [ -n "${wpid:-}" ] && kill -9 "$wpid" 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT
pass=0; fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*" >&2; }
check() { if eval "$1"; then ok; else bad "$2"; fi; }
finish() { [ $fail -gt 0 ] && [ -s "$tmp/client.err" ] && sed "s/^/client: /" "$tmp/client.err" >&2; echo "sim_app_persist: $pass passed, $fail failed"; [ $fail -eq 0 ] && [ $pass -gt 0 ]; exit $?; }

SOCK="$tmp/s"
STATE="$tmp/chip.nv"
OPEN="F0000010D27600000447656E41757468 4170706C"

start() {
  rm -f "$SOCK"
  # the redirection below truncates the log in the child, asynchronously: without
  # this rm the loop could still see the previous daemon's "listening" line
  rm -f "$tmp/daemon.err"
  "$BIN" --socket "$SOCK" --state "$STATE" --seed 33 2>"$tmp/daemon.err" &
  pid=$!
  for i in $(seq 1 200); do
    grep -q listening "$tmp/daemon.err" 2>/dev/null && return 0
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
  done
  wait "$pid" 2>/dev/null
  pid=""
  return 1
}
stop() { # SIGTERM, wait; a clean exit is 0 (ASan/LSan reports at exit make it non-zero)
  [ -n "$pid" ] || return 0
  local rc
  kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; rc=$?; pid=""
  check '[ $rc -eq 0 ]' "daemon exit status $rc after SIGTERM: $(tail -5 "$tmp/daemon.err" 2>/dev/null)"
}
crash() { # SIGKILL, wait
  [ -n "$pid" ] || return 0
  kill -9 "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; pid=""
}
unhex() { printf "$(printf '%s' "$1" | sed 's/../\\x&/g')"; } # hex -> bytes, no xxd needed
run() { "$CLI" "$SOCK" --reset "$OPEN" "$@" 2>>"$tmp/client.err" | tail -n +2; }

# ---- 1. personalize a fresh chip
check 'start' "daemon did not start: $(cat "$tmp/daemon.err" 2>/dev/null)"
[ -n "$pid" ] || finish
out=$(run 81000006E0C200000064 \
          B8030009010002E0F102000110 \
          82400008F1D30000CAFEBABE \
          82010009E0E100002003C00107 \
          82020005E120000005 \
          81000006E0E000000611)
uid=$(echo "$out" | sed -n 1p)
pub=$(echo "$out" | sed -n 2p | cut -c 21-)   # 00000047 020044 034200 | 04 X Y
cert=$(echo "$out" | sed -n 6p)
check '[ ${#uid} -eq 62 ] && [ "${uid:0:8}" = 0000001B ]' "UID read: $uid"
check '[ ${#pub} -eq 130 ] && [ "${pub:0:2}" = 04 ]' "GenKeyPair: $(echo "$out" | sed -n 2p)"
check '[ "$(echo "$out" | sed -n 3,5p | tr -d "\n")" = 000000000000000000000000 ]' "writes: $out"
stop
check '[ -s "$STATE" ]' "no state file after the daemon stopped"

# ---- 2. after a restart everything is still there
check 'start' "restart failed: $(cat "$tmp/daemon.err" 2>/dev/null)"
dg=BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD
out=$(run 81000006E0C200000064 81000002F1D3 81010002E0E1 81000002E120 81000006E0E000000611 \
          B1110028010020${dg}030002E0F1)
check '[ "$(echo "$out" | sed -n 1p)" = "$uid" ]' "UID changed across restart"
check '[ "$(echo "$out" | sed -n 2p)" = 00000004CAFEBABE ]' "F1D3 lost: $(echo "$out" | sed -n 2p)"
check '[ "$(echo "$out" | sed -n 3p | cut -c 9-16)" = 2018C001 ] && [ "$(echo "$out" | sed -n 3p | cut -c 17-18)" = 07 ]' "E0E1 lock lost: $(echo "$out" | sed -n 3p)"
check '[ "$(echo "$out" | sed -n 4p)" = 0000000800000005FFFFFFFF ]' "counter lost: $(echo "$out" | sed -n 4p)"
check '[ "$(echo "$out" | sed -n 5p)" = "$cert" ]' "factory certificate changed (re-provisioned?)"
sig=$(echo "$out" | sed -n 6p | cut -c 9-)
siglen=$(( ${#sig} / 2 ))
unhex "3059301306072A8648CE3D020106082A8648CE3D030107034200$pub" >"$tmp/pub.der"
unhex "$(printf '30%02X' "$siglen")$sig" >"$tmp/sig.der"
unhex "$dg" >"$tmp/dg.bin"
check 'openssl pkeyutl -verify -pubin -keyform DER -inkey "$tmp/pub.der" -in "$tmp/dg.bin" -sigfile "$tmp/sig.der" >/dev/null 2>&1' \
  "key in E0F1 after restart does not match the public key generated before"
stop

# ---- 3. kill -9 in the middle of a stream of writes, three times
for round in 1 2 3; do
  check 'start' "restart (round $round) failed: $(cat "$tmp/daemon.err" 2>/dev/null)"
  [ -n "$pid" ] || break
  args=()
  for v in $(seq 1 12); do
    hex=$(printf '%02X' $(( (round * 40 + v) & 0xFF )))
    args+=("824005E0F1E00000$(printf "$hex%.0s" $(seq 1 1500))")
  done
  "$CLI" "$SOCK" --reset "$OPEN" "${args[@]}" >"$tmp/w.out" 2>/dev/null &
  wpid=$!
  sleep "$(( (RANDOM % 3) + 2 )).$(( RANDOM % 10 ))"
  crash
  wait "$wpid" 2>/dev/null; wpid=""
  acked=$(( $(grep -c '^00000000$' "$tmp/w.out") - 1 ))   # minus OpenApplication
  [ $acked -lt 0 ] && acked=0
  check 'start' "daemon refused the state after kill -9 (round $round): $(cat "$tmp/daemon.err" 2>/dev/null)"
  [ -n "$pid" ] || break
  got=$(run 81000006F1E0000005DC | head -1)
  body=${got:8}
  first=${body:0:2}
  check '[ ${#body} -eq 3000 ] && [ -z "$(echo "$body" | sed "s/$first//g")" ]' "F1E0 torn after kill -9 (round $round): ${got:0:40}..."
  # the value is the last acknowledged write or the one in flight
  if [ $acked -gt 0 ]; then
    lo=$(( (round * 40 + acked) & 0xFF )); hi=$(( (round * 40 + acked + 1) & 0xFF ))
    v=$((16#$first))
    check '[ $v -eq $lo ] || [ $v -eq $hi ]' "round $round: read 0x$first, acknowledged up to 0x$(printf %02X $lo)"
  fi
  stop
done

# ---- 4. a corrupted state file is refused, not reset
cp "$STATE" "$tmp/backup"
size=$(stat -c %s "$STATE")
b=$(od -An -tu1 -j $(( size / 2 )) -N1 "$STATE" | tr -d ' ')
printf "\\x$(printf %02X $(( b ^ 0xFF )))" | dd of="$STATE" bs=1 seek=$(( size / 2 )) conv=notrunc 2>/dev/null
check '! start' "daemon accepted a corrupted state file"
check 'grep -qi "state\|store\|corrupt\|integrity" "$tmp/daemon.err"' "no clear reason for refusing the state: $(cat "$tmp/daemon.err" 2>/dev/null)"
check '! cmp -s "$STATE" "$tmp/backup" && [ $(stat -c %s "$STATE") -eq $size ]' "corrupted state file was rewritten"
head -c $(( size / 3 )) "$tmp/backup" >"$STATE"
check '! start' "daemon accepted a truncated state file"

finish
