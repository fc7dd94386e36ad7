#!/usr/bin/env bash
# trustm-sim daemon: command line, TCP listener (loopback only), garbage on
# the socket, trace output, clean exit on SIGTERM (socket removed), the socket
# path (never removes a file that is not a stale socket, never takes over a
# live daemon's socket), the state-file lock, clear errors for a bad --state.
set -u
BIN="${TMA_BUILD_DIR:?}/sim/trustm-sim"
tmp=$(mktemp -d)
pid=""
cleanup() {
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then kill -9 "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; fi
  rm -rf "$tmp"
}
trap cleanup EXIT
pass=0; fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*" >&2; }
check() { if eval "$1"; then ok; else bad "$2"; fi; }

# --- command line
check '"$BIN" --help | grep -q -- "--socket PATH"' "--help"
check '"$BIN" --version | grep -q "^trustm-sim [0-9]"' "--version"
"$BIN" >/dev/null 2>"$tmp/err"; rc=$?
check '[ $rc -eq 2 ] && [ $(wc -l <"$tmp/err") -eq 1 ]' "no arguments: exit 2 with one line (rc $rc)"
"$BIN" --socket "$tmp/s" --addr 0x99 2>/dev/null; rc=$?
check '[ $rc -eq 2 ]' "bad --addr accepted (rc $rc)"
"$BIN" --socket "$tmp/s" --seed -4 2>/dev/null; rc=$?
check '[ $rc -eq 2 ]' "bad --seed accepted (rc $rc)"
"$BIN" --socket "$tmp/s" --bogus 2>"$tmp/err"; rc=$?
check '[ $rc -eq 2 ] && grep -q "unknown option .--bogus" "$tmp/err"' "unknown option last (rc $rc, $(cat "$tmp/err"))"
"$BIN" --socket "$tmp/s" --tcp 10.1.2.3:5000 2>"$tmp/err"; rc=$?
check '[ $rc -eq 2 ] && [ ! -e "$tmp/s" ] && grep -q "loopback" "$tmp/err"' \
  "non-loopback TCP (rc $rc, $(cat "$tmp/err"))"
"$BIN" --export-ca "$tmp/ca" 2>/dev/null; rc=$?
check '[ $rc -eq 0 ] && openssl x509 -in "$tmp/ca/root.pem" -noout 2>/dev/null && openssl x509 -in "$tmp/ca/ca.pem" -noout 2>/dev/null' "--export-ca (rc $rc)"

# --- the socket path: a file that is not a socket is never touched
echo precious >"$tmp/f"
"$BIN" --socket "$tmp/f" 2>"$tmp/err"; rc=$?
check '[ $rc -eq 1 ] && [ "$(cat "$tmp/f")" = precious ] && [ $(wc -l <"$tmp/err") -eq 1 ] && grep -q "not a socket" "$tmp/err"' \
  "regular file at --socket PATH (rc $rc, $(cat "$tmp/err"), content '$(cat "$tmp/f" 2>/dev/null)')"
mkdir "$tmp/d"
"$BIN" --socket "$tmp/d" 2>"$tmp/err"; rc=$?
check '[ $rc -eq 1 ] && [ -d "$tmp/d" ] && grep -q "not a socket" "$tmp/err"' "directory at --socket PATH (rc $rc)"
# --state in a folder that does not exist: the message names the file and the reason
"$BIN" --socket "$tmp/s0" --state /nonexistent/dir/x 2>"$tmp/err"; rc=$?
check '[ $rc -eq 1 ] && [ $(wc -l <"$tmp/err") -eq 1 ] && grep -q "/nonexistent/dir/x.*No such file or directory" "$tmp/err" && [ ! -e "$tmp/s0" ]' \
  "--state in a missing folder (rc $rc): $(cat "$tmp/err")"
# one_err RC TEXT CMD...: exit RC, exactly one stderr line containing TEXT, no socket made
one_err() {
  local want=$1 text=$2 rc; shift 2
  rm -f "$tmp/s1"
  timeout 10 "$@" >/dev/null 2>"$tmp/err"; rc=$?
  check '[ $rc -eq $want ] && [ $(wc -l <"$tmp/err") -eq 1 ] && grep -qF -- "$text" "$tmp/err" && [ ! -e "$tmp/s1" ]' \
    "$* (rc $rc, want $want and '$text'): $(cat "$tmp/err")"
}
one_err 2 "bad --chip-version '2' (1 or 3)" "$BIN" --socket "$tmp/s1" --chip-version 2
one_err 2 "bad --chip-version '4' (1 or 3)" "$BIN" --socket "$tmp/s1" --chip-version 4
one_err 2 "bad --chip-version 'x' (1 or 3)" "$BIN" --socket "$tmp/s1" --chip-version x
one_err 1 "socket path '' is empty or too long" "$BIN" --socket ""
long=$tmp/$(printf 'x%.0s' $(seq 1 120))
one_err 1 "socket path '$long' is empty or too long" "$BIN" --socket "$long"
one_err 1 "cannot use socket path '/nonexistent/dir/s'" "$BIN" --socket /nonexistent/dir/s
# --state naming a folder: said, the folder untouched (no lock file made beside it)
mkdir "$tmp/stdir"
one_err 1 "state file '$tmp/stdir' is not a regular file" "$BIN" --socket "$tmp/s1" --state "$tmp/stdir"
check '[ -z "$(ls -A "$tmp/stdir")" ] && [ ! -e "$tmp/stdir.lock" ]' "--state folder touched: $(ls -A "$tmp/stdir" "$tmp"/stdir.lock 2>&1)"
# --export-ca into a folder that cannot be made
one_err 1 "cannot create '/proc/x': " "$BIN" --export-ca /proc/x
one_err 1 "cannot create '$tmp/none/ca': No such file or directory" "$BIN" --export-ca "$tmp/none/ca"
echo plain >"$tmp/plainfile"
one_err 1 "cannot export the factory CA to '$tmp/plainfile'" "$BIN" --export-ca "$tmp/plainfile"
one_err 1 "cannot open trace file '$tmp/none/t'" "$BIN" --socket "$tmp/s1" --trace "$tmp/none/t"

# --- daemon on a Unix socket and a random loopback TCP port
port=""
for try in 1 2 3 4 5 6 7 8; do
  cand=$((20000 + RANDOM % 40000))
  "$BIN" --socket "$tmp/s" --tcp "127.0.0.1:$cand" --trace "$tmp/trace" --seed 5 --state "$tmp/st" 2>"$tmp/daemon.err" &
  pid=$!
  for i in $(seq 1 100); do
    grep -q listening "$tmp/daemon.err" 2>/dev/null && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
  done
  if kill -0 "$pid" 2>/dev/null && grep -q listening "$tmp/daemon.err"; then port=$cand; break; fi
  wait "$pid" 2>/dev/null; pid=""
done
check '[ -n "$port" ]' "daemon did not start"
[ -n "$port" ] || { echo "sim_daemon: $pass passed, $fail failed"; exit 1; }

# request: hex string; prints the reply header+data as hex (reads n bytes)
req() { # $1 = request hex, $2 = reply bytes to read
  exec 3<>"/dev/tcp/127.0.0.1/$port" || return 1
  printf "$(echo "$1" | sed 's/\([0-9A-Fa-f][0-9A-Fa-f]\)/\\x\1/g; s/ //g')" >&3
  timeout 5 head -c "$2" <&3 | od -An -tx1 | tr -d ' \n'
  exec 3>&-
}
# I2C_STATE over TCP: write register pointer, read 4 bytes
r=$(req "01 30 00 01 82" 3); check '[ "$r" = "000000" ]' "write ACK over TCP ($r)"
r=$(req "02 30 00 04" 7); check '[ "$r" = "00000408800000" ]' "I2C_STATE over TCP ($r)"
r=$(req "0A 30 00 00" 3); check '[ "$r" = "100000" ]' "unknown op -> 0x10 ($r)"
r=$(req "01 31 00 01 82" 3); check '[ "$r" = "010000" ]' "other address -> NACK ($r)"
r=$(req "01 30 00 02 82 00" 3); check '[ "$r" = "020000" ]' "write to read-only register -> data NACK ($r)"
# garbage and half requests must not disturb the daemon
for i in 1 2 3 4 5; do
  exec 3<>"/dev/tcp/127.0.0.1/$port"; head -c $((RANDOM % 3000)) /dev/urandom >&3; exec 3>&-
done
exec 4<>"/dev/tcp/127.0.0.1/$port"; printf '\x01\x30\x10' >&4   # half a header, left open
r=$(req "02 30 00 04" 7); check '[ "${r:0:8}" = "00000408" ]' "daemon still serving after garbage ($r)"
exec 4>&-
r=$(req "05 30 00 00" 3); check '[ "${r:0:2}" = "00" ]' "statistics op"

# --- a second daemon never takes over a live one's socket or state
ino=$(stat -c %i "$tmp/s")
"$BIN" --socket "$tmp/s" 2>"$tmp/err"; rc=$?
check '[ $rc -eq 1 ] && [ $(wc -l <"$tmp/err") -eq 1 ] && grep -q "another trustm-sim is serving" "$tmp/err"' \
  "second daemon on a live socket (rc $rc): $(cat "$tmp/err")"
check '[ -S "$tmp/s" ] && [ "$(stat -c %i "$tmp/s")" = "$ino" ]' "live daemon's socket replaced"
"$BIN" --socket "$tmp/s2" --state "$tmp/st" 2>"$tmp/err"; rc=$?
check '[ $rc -eq 1 ] && [ $(wc -l <"$tmp/err") -eq 1 ] && grep -q "in use by another trustm-sim" "$tmp/err" && [ ! -e "$tmp/s2" ]' \
  "second daemon on the same state file (rc $rc): $(cat "$tmp/err")"
# nor does the in-process simulator (the CLI's default device) on that state
(cd "$tmp" && "$TMA_BUILD_DIR/tools/trustm" --state "$tmp/st" random) >"$tmp/out" 2>"$tmp/err"; rc=$?
check '[ $rc -ne 0 ] && [ ! -s "$tmp/out" ] && grep -q "state file .*: in use by another process" "$tmp/err"' \
  "in-process simulator on a served state file (rc $rc): $(cat "$tmp/err")"
r=$(req "02 30 00 04" 7); check '[ "${r:0:8}" = "00000408" ]' "first daemon disturbed by the refused ones ($r)"
check 'grep -q "DL \|\[ACK\]" "$tmp/trace"' "trace has transactions"

# --- client limit: 16 connections; the next ones get status 0x11 and a reason,
# not a bare reset, and the daemon serves again once clients leave
fds=()
for i in $(seq 1 16); do exec {fd}<>"/dev/tcp/127.0.0.1/$port"; fds+=("$fd"); done
sleep 0.3
r=$(req "02 30 00 04" 80)
want=$(printf 'trustm-sim: too many clients (limit 16); retry later' | od -An -tx1 | tr -d ' \n')
check '[ "$r" = "110034$want" ]' "17th client not refused with status 0x11 and a reason ($r)"
for i in $(seq 1 40); do exec {fd}<>"/dev/tcp/127.0.0.1/$port" && { printf '\x02\x30\x00\x04' >&$fd; exec {fd}>&-; }; done
for fd in "${fds[@]}"; do exec {fd}>&-; done
sleep 0.3
r=$(req "02 30 00 04" 7); check '[ "${r:0:8}" = "00000408" ]' "served again after the clients left ($r)"
check 'kill -0 "$pid"' "daemon died under many connections"

# power cycle: the chip NACKs during its start-up time, then answers again
r=$(req "04 30 00 00" 3); check '[ "$r" = "000000" ]' "power cycle op ($r)"
r=$(req "01 30 00 01 82" 3); check '[ "$r" = "010000" ]' "no NACK during start-up ($r)"
r=$(req "07 30 00 04 00 00 3A 98" 3); check '[ "$r" = "000000" ]' "sleep op ($r)"
r=$(req "01 30 00 01 82" 3); check '[ "$r" = "000000" ]' "chip not back after start-up ($r)"
r=$(req "03 30 00 00" 3); check '[ "$r" = "000000" ]' "warm reset op ($r)"
r=$(req "07 30 00 03 00 3A 98" 3); check '[ "$r" = "100000" ]' "sleep op with 3 bytes accepted ($r)"

# --- clean exit on SIGTERM
kill -TERM "$pid"; wait "$pid"; rc=$?; pid=""
check '[ $rc -eq 0 ]' "SIGTERM exit code $rc"
check '[ ! -e "$tmp/s" ]' "socket file removed on exit"

# --- a stale socket (daemon killed with -9) is reused; the state lock died with it
"$BIN" --socket "$tmp/s" --state "$tmp/st" 2>"$tmp/d2.err" &
pid=$!
for i in $(seq 1 100); do grep -q listening "$tmp/d2.err" 2>/dev/null && break; kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
check 'grep -q listening "$tmp/d2.err"' "restart after SIGTERM: $(cat "$tmp/d2.err")"
kill -9 "$pid"; wait "$pid" 2>/dev/null; pid=""
check '[ -S "$tmp/s" ]' "socket file left after kill -9 (precondition)"
"$BIN" --socket "$tmp/s" --state "$tmp/st" 2>"$tmp/d3.err" &
pid=$!
for i in $(seq 1 100); do grep -q listening "$tmp/d3.err" 2>/dev/null && break; kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
check 'grep -q listening "$tmp/d3.err"' "stale socket after kill -9 not reused: $(cat "$tmp/d3.err")"
kill -TERM "$pid"; wait "$pid"; rc=$?; pid=""
check '[ $rc -eq 0 ] && [ ! -e "$tmp/s" ]' "second SIGTERM exit (rc $rc)"
# the daemon gone, the in-process simulator takes the state (the lock went with it)
(cd "$tmp" && "$TMA_BUILD_DIR/tools/trustm" --state "$tmp/st" random) >"$tmp/out" 2>"$tmp/err"; rc=$?
check '[ $rc -eq 0 ] && grep -qE "^[0-9a-f]{64}$" "$tmp/out"' "in-process simulator after the daemon (rc $rc): $(cat "$tmp/err")"

# --- (SIMPERM15) private by default: under umask 000 the socket, the trace,
# the state file and its lock are the owner's alone (the trace can hold the
# plaintext binding secret, the state every key of the chip)
priv=$tmp/priv
( umask 000; mkdir "$priv" )
chmod 711 "$tmp" # others may reach $priv (0777), as in a shared /tmp
start_priv() { # ARGS...: daemon on $priv/s under umask 000; sets pid
  rm -f "$tmp/p.err"
  ( umask 000; exec "$BIN" --socket "$priv/s" "$@" ) 2>"$tmp/p.err" &
  pid=$!
  for i in $(seq 1 100); do grep -q listening "$tmp/p.err" 2>/dev/null && break; kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
  grep -q listening "$tmp/p.err"
}
stop_priv() { kill -TERM "$pid"; wait "$pid"; pid=""; }
# unix_req PATH: I2C_STATE through the Unix socket, the read's reply as hex (or the error)
unix_req() {
  /usr/bin/python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX)
try:
    s.connect(sys.argv[1])
except OSError as e:
    print(type(e).__name__); sys.exit(0)
s.sendall(bytes.fromhex("0130000182" "02300004")); r = b""
while len(r) < 10:
    d = s.recv(10 - len(r))
    if not d: break
    r += d
print(r[3:].hex())' "$1"
}
as_nobody=""
if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null && [ -x /usr/bin/python3 ]; then
  as_nobody="setpriv --reuid=65534 --regid=65534 --clear-groups"
fi
check 'start_priv --trace "$priv/t" --state "$priv/st" --seed 3' "daemon under umask 000: $(cat "$tmp/p.err")"
r=$(unix_req "$priv/s")
check '[ "${r:0:8}" = "00000408" ]' "owner through the 0600 socket ($r)"
check '[ "$(stat -c %a "$priv/s")" = 600 ] && [ -S "$priv/s" ]' "socket mode $(stat -c %a "$priv/s") under umask 000"
check '[ "$(stat -c %a "$priv/t")" = 600 ] && grep -q "\[ACK\]" "$priv/t" && ! grep -q note "$tmp/p.err"' \
  "new trace: mode $(stat -c %a "$priv/t") under umask 000 (created so, no note: $(cat "$tmp/p.err"))"
check '[ "$(stat -c %a "$priv/st")" = 600 ] && [ "$(stat -c %a "$priv/st.lock")" = 600 ]' \
  "state $(stat -c %a "$priv/st"), lock $(stat -c %a "$priv/st.lock") under umask 000"
if [ -n "$as_nobody" ]; then
  r=$($as_nobody bash -c "$(declare -f unix_req); unix_req '$priv/s'")
  check '[ "$r" = PermissionError ]' "another user connected to the socket ($r)"
fi
stop_priv
# an existing trace others can read is made 0600 before the first line, said
# once, its content kept; a stale STATE.tmp (0644, or a link) is never reused
printf 'earlier run\n' >"$priv/t2"; chmod 644 "$priv/t2"
printf 'junk' >"$priv/st.tmp"; chmod 644 "$priv/st.tmp"
check 'start_priv --trace "$priv/t2" --state "$priv/st" --seed 3' "daemon on an existing trace: $(cat "$tmp/p.err")"
check '[ "$(stat -c %a "$priv/t2")" = 600 ] && [ "$(head -n 1 "$priv/t2")" = "earlier run" ]' \
  "existing 0644 trace: mode $(stat -c %a "$priv/t2"), first line '$(head -n 1 "$priv/t2")'"
check 'grep -q "note: trace file .*t2. was mode 0644, made 0600" "$tmp/p.err" && [ $(wc -l <"$tmp/p.err") -eq 2 ]' \
  "the trace's new mode not said in one line: $(cat "$tmp/p.err")"
check '[ "$(stat -c %a "$priv/st")" = 600 ] && [ ! -e "$priv/st.tmp" ]' \
  "state saved over a stale 0644 STATE.tmp: mode $(stat -c %a "$priv/st")"
stop_priv
printf 'precious\n' >"$priv/victim"; chmod 644 "$priv/victim"
ln -s victim "$priv/st.tmp"
(cd "$priv" && umask 000 && "$TMA_BUILD_DIR/tools/trustm" --state "$priv/st" random) >"$tmp/out" 2>"$tmp/err"; rc=$?
check '[ $rc -eq 0 ] && [ "$(cat "$priv/victim")" = precious ] && [ "$(stat -c %a "$priv/victim")" = 644 ] && [ -f "$priv/st" ] && [ ! -L "$priv/st" ] && [ "$(stat -c %a "$priv/st")" = 600 ]' \
  "state saved through a STATE.tmp link (rc $rc, victim '$(head -c 20 "$priv/victim")' $(stat -c %a "$priv/victim"), state $(stat -c %a "$priv/st")): $(cat "$tmp/err")"
# a FIFO (or a terminal) is the caller's choice of reader: left as it is
( umask 000; mkfifo "$priv/fifo" )
cat "$priv/fifo" >"$tmp/fifo.out" &
catpid=$!
check 'start_priv --trace "$priv/fifo"' "daemon tracing into a FIFO: $(cat "$tmp/p.err")"
r=$(unix_req "$priv/s")
stop_priv
wait "$catpid"
check '[ "$(stat -c %a "$priv/fifo")" = 666 ] && grep -q "\[ACK\]" "$tmp/fifo.out" && ! grep -q note "$tmp/p.err"' \
  "FIFO trace: mode $(stat -c %a "$priv/fifo"), $(wc -l <"$tmp/fifo.out") lines, $(cat "$tmp/p.err")"
# a trace file others can read that is not ours to make private: refused
if [ -n "$as_nobody" ]; then
  printf 'root line\n' >"$priv/rt"; chmod 666 "$priv/rt"
  timeout 10 $as_nobody "$BIN" --socket "$priv/sn" --trace "$priv/rt" >/dev/null 2>"$tmp/err"; rc=$?
  check '[ $rc -eq 1 ] && [ $(wc -l <"$tmp/err") -eq 1 ] && grep -q "readable by others and cannot be made private" "$tmp/err" && [ "$(cat "$priv/rt")" = "root line" ] && [ ! -e "$priv/sn" ]' \
    "someone else's 0666 trace (rc $rc): $(cat "$tmp/err")"
fi

echo "sim_daemon: $pass passed, $fail failed"
[ $fail -eq 0 ]
