#!/usr/bin/env bash
# localhub's CLI and registry under misuse (brief HUBSEC):
#  - --state pointing at a shared or foreign folder (sticky like /tmp, or a
#    non-empty folder that is not localhub's) is refused and left as it was,
#    never chmod'ed 700 behind the user's back; an empty folder or a loose
#    localhub folder is still made private (F16);
#  - --bind / --hostname that would break into mosquitto.conf are refused;
#  - two 'localhub start' at once on one folder start one broker;
#  - a corrupted or foreign registry.db: every command fails with a one-line
#    reason, the file is not changed (no lost registry), start refuses;
#  - three CLIs queueing C2D and two creating devices at once, with the
#    plugin polling the same registry: the queue limit holds exactly, every
#    device exists once, every refusal is a clear error.
. "$(dirname "$0")/hub_lib.sh"

# --- state folders ---------------------------------------------------------
mkdir -m 1777 "$T/shared"; echo mine >"$T/shared/someone-elses-file"; chmod 1777 "$T/shared"
if out=$("$L" --state "$T/shared" device create --id s1 --auth sas 2>&1); then fail "shared sticky folder taken: $out"; fi
grep_in "$out" -q "accessible by others (mode 777)" || fail "unclear error for a shared folder: $out"
[ "$(stat -c %a "$T/shared")" = 1777 ] || fail "shared folder changed to $(stat -c %a "$T/shared")"
[ -e "$T/shared/registry.db" ] && fail "a registry was created in the shared folder"
ok "a shared (sticky, world-writable) folder is refused and left 1777: $out"
mkdir -m 755 "$T/project"; echo code >"$T/project/main.c"
if out=$("$L" --state "$T/project" device create --id s1 --auth sas 2>&1); then fail "foreign folder taken: $out"; fi
grep_in "$out" -q "not an empty or localhub folder" || fail "unclear error for a foreign folder: $out"
[ "$(stat -c %a "$T/project")" = 755 ] || fail "foreign folder changed to $(stat -c %a "$T/project")"
ok "a non-empty folder that is not localhub's is refused and left 755"
mkdir -m 755 "$T/fresh"
"$L" --state "$T/fresh" device create --id s1 --auth sas >/dev/null || fail "an empty 755 folder was refused"
[ "$(stat -c %a "$T/fresh")" = 700 ] || fail "empty folder left $(stat -c %a "$T/fresh")"
chmod 755 "$T/fresh"
"$L" --state "$T/fresh" device show --id s1 >/dev/null || fail "a loose localhub folder was refused"
[ "$(stat -c %a "$T/fresh")" = 700 ] || fail "loose localhub folder left $(stat -c %a "$T/fresh")"
ok "an empty folder and a loose localhub folder are still made private"

# --- corrupted registry ----------------------------------------------------
export LOCALHUB_HOME="$T/corrupt"
for i in 1 2 3 4 5 6 7 8; do "$L" device create --id "c$i" --auth sas >/dev/null; done
"$L" c2d send --device c1 --data keep-me >/dev/null
# garbage over the b-tree pages after the header page
head -c 3000 /dev/urandom | dd of="$LOCALHUB_HOME/registry.db" bs=1 seek=1200 conv=notrunc 2>/dev/null
before=$(sha256sum <"$LOCALHUB_HOME/registry.db")
check_corrupt() { # ARGS...: exit 1, one line naming the registry, file unchanged
  local out
  if out=$("$L" "$@" 2>&1); then fail "'$*' succeeded on a corrupted registry: $out"; fi
  [ "$(grep_in "$out" -c .)" -eq 1 ] || fail "'$*': not one line: $out"
  grep_in "$out" -q "registry.db\|registry:" || fail "'$*': reason does not name the registry: $out"
  [ "$(sha256sum <"$LOCALHUB_HOME/registry.db")" = "$before" ] || fail "'$*' changed the corrupted registry"
}
for cmd in "device list" "device create --id c9 --auth sas" "c2d send --device c1 --data x" "status" \
           "start --port 1" "device delete --id c1" "twin update --device c1 --desired {\"a\":1}"; do
  check_corrupt $cmd
done
ok "a corrupted registry: every command fails with one line, the file is not changed"
echo "not a database at all" >"$LOCALHUB_HOME/registry.db"; rm -f "$LOCALHUB_HOME"/registry.db-*
before=$(sha256sum <"$LOCALHUB_HOME/registry.db")
check_corrupt device list
check_corrupt device create --id x1 --auth sas
ok "a registry.db that is not SQLite is refused and kept"

# --- start options that would reach mosquitto.conf ------------------------
# --bind is written into the broker configuration: a newline in it added a
# second listener (on every interface) and left the hub's port without TLS.
export LOCALHUB_HOME="$T/binds"
p=$((20000 + RANDOM % 40000))
for bad in $'127.0.0.1\nlistener '"$((p + 1))"$'\nallow_anonymous true' '127.0.0.1 8883' '' '127.0.0.1#x'; do
  if out=$("$L" start --port "$p" --bind "$bad" 2>&1); then "$L" stop >/dev/null 2>&1; fail "--bind '$bad' accepted"; fi
  grep_in "$out" -q -- "--bind must be one IP address or host name" || fail "unclear --bind error: $out"
  [ -e "$LOCALHUB_HOME/broker.pid" ] && fail "a broker was started for --bind '$bad'"
done
for bad in $'localhost\nx' 'local host' 'evil/host' ''; do
  if out=$("$L" start --port "$p" --hostname "$bad" 2>&1); then "$L" stop >/dev/null 2>&1; fail "--hostname '$bad' accepted"; fi
  grep_in "$out" -q -- "invalid --hostname" || fail "unclear --hostname error: $out"
done
[ -e "$LOCALHUB_HOME/mosquitto.conf" ] && fail "a configuration was written for a refused start"
ok "--bind / --hostname with newlines, spaces or other characters are refused before anything is written"

# --- two starts at once on one state folder ---------------------------------
# Before, both found no broker and both started one; 'stop' then stopped one.
export LOCALHUB_HOME="$T/twostarts"
"$L" device create --id x --auth sas >/dev/null
CONF="$LOCALHUB_HOME/mosquitto.conf"
extra_cleanup() { # brokers of this folder the test may have started besides the one 'stop' knows
  local p
  for p in $(pgrep -f "mosquitto -c $CONF" || true); do kill "$p" 2>/dev/null || true; done
}
# hub_cleanup exits with the status it finds in $?: the test's, not
# extra_cleanup's (with a bare 'extra_cleanup; hub_cleanup' every failure
# from here on passed)
trap 'rc_=$?; extra_cleanup; (exit $rc_); hub_cleanup' EXIT
for try in 1 2 3 4 5; do
  p=$((20000 + RANDOM % 40000))
  "$L" start --port "$p" >"$T/start1.out" 2>&1 & S1=$!
  "$L" start --port "$((p + 1))" >"$T/start2.out" 2>&1 & S2=$!
  rc1=0; rc2=0; wait $S1 || rc1=$?; wait $S2 || rc2=$?
  # a port another test holds makes one fail for another reason: try again
  if grep -q "in use\|exited" "$T/start1.out" "$T/start2.out"; then "$L" stop >/dev/null 2>&1 || true; extra_cleanup; continue; fi
  break
done
[ $((rc1 + rc2)) -eq 1 ] || fail "two concurrent starts: rc $rc1 and $rc2: $(cat "$T/start1.out" "$T/start2.out")"
grep -q "already running" "$T/start1.out" "$T/start2.out" || fail "no 'already running': $(cat "$T/start1.out" "$T/start2.out")"
[ "$(pgrep -fc "mosquitto -c $CONF" || true)" -eq 1 ] || fail "$(pgrep -fc "mosquitto -c $CONF") brokers on one state folder"
"$L" stop >/dev/null
sleep 0.5
[ "$(pgrep -fc "mosquitto -c $CONF" || true)" -eq 0 ] || fail "a broker survived 'localhub stop'"
ok "two starts at once: one broker, the other start says it is already running; stop leaves none"

# --- concurrent CLIs with the plugin running -------------------------------
export LOCALHUB_HOME="$T/state"
hub_start
"$L" device create --id q1 --auth sas >/dev/null
pids=()
for j in 1 2 3; do
  ( for i in $(seq 1 20); do
      "$L" c2d send --device q1 --data "m$j-$i" >/dev/null 2>>"$T/c2d_err_$j" || echo x >>"$T/c2d_refused_$j"
    done ) & pids+=($!)
done
for j in 1 2; do
  ( for i in $(seq 1 10); do
      "$L" device create --id "cc$i" --auth sas >/dev/null 2>>"$T/dc_err_$j" || echo x >>"$T/dc_refused_$j"
    done ) & pids+=($!)
done
for p in "${pids[@]}"; do wait "$p"; done
queued=$("$L" --json c2d list --device q1 | grep -c '"messageId"' || true)
[ "$queued" -eq 50 ] || fail "$queued messages queued (limit 50)"
refused=$(cat "$T"/c2d_refused_* 2>/dev/null | wc -l)
[ "$refused" -eq 10 ] || fail "$refused sends refused, expected 10"
[ "$(cat "$T"/c2d_err_* | grep -vc 'DeviceMaximumQueueDepthExceeded')" -eq 0 ] || fail "other C2D errors: $(cat "$T"/c2d_err_*)"
[ "$(cat "$T"/dc_refused_* 2>/dev/null | wc -l)" -eq 10 ] || fail "device creates: $(cat "$T"/dc_err_* 2>/dev/null)"
[ "$(cat "$T"/dc_err_* | grep -vc 'already exists')" -eq 0 ] || fail "other create errors: $(cat "$T"/dc_err_*)"
n=$("$L" --json device list | grep -c '"deviceId"')
[ "$n" -eq 11 ] || fail "$n devices after concurrent creates (expected q1 + cc1..cc10)"
ok "3 CLIs queueing C2D + 2 creating devices with the plugin running: limit 50 exact, each device once"

# --- keys on the command line (SEC15) ---------------------------------------
# --name=VALUE is taken as az takes it; a refused option or stray word never
# brings a key into the error line (stderr ends in terminals and CI logs).
export LOCALHUB_HOME="$T/keys"
K1=$(printf 'sec15 primary key, 32 bytes long' | base64)
K2=$(printf 'sec15 second key, also 32 bytes.' | base64)
"$L" device create --id kq --primary-key="$K1" --secondary-key="$K2" >/dev/null || fail "--primary-key=KEY refused"
keys=$("$L" --json device show --id kq)
grep_in "$keys" -qF "$K1" && grep_in "$keys" -qF "$K2" || fail "--primary-key=KEY not stored: $keys"
"$L" generate-sas-token --device kq --key="$K1" | grep -q '^SharedAccessSignature sr=' || fail "--key=KEY refused"
"$L" --state="$T/keys2" device create --id ks >/dev/null && [ -f "$T/keys2/registry.db" ] || fail "--state=DIR"
nokey() {  # WANT args...: exit 1, one error line containing WANT, neither key in it
  local want=$1; shift
  if "$L" "$@" >"$T/ko" 2>"$T/ke"; then fail "accepted: $*"; fi
  [ "$(wc -l <"$T/ke")" -eq 1 ] && grep -qF -- "$want" "$T/ke" || fail "'$want' not in: $(cat "$T/ke")"
  if grep -qF -e "$K1" -e "$K2" -e "${K1:0:16}" -e "${K2:0:16}" "$T/ke" "$T/ko"; then fail "key echoed: $(cat "$T/ke")"; fi
}
nokey "unknown option --primarykey for this command" device create --id k2 --primarykey="$K1"
nokey "an unexpected argument, not shown: it may be a key" device create --id k3 --primary-key "$K1" "$K2"
nokey "an unexpected argument, not shown: it may be a key" generate-sas-token --device kq "$K2"
nokey "an unexpected argument, not shown: it may be a key" device create --id k4 "HostName=x;DeviceId=k4;SharedAccessKey=$K2"
nokey "unexpected argument 'extra'" device create --id k5 extra
nokey "option --json takes no value" --json=yes device list
ok "--name=VALUE accepted; keys in refused options or stray words are not echoed"
