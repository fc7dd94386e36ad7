#!/usr/bin/env bash
# The running hub renews its server certificate (wrap13 F3 remainder: a hub
# that was never restarted served the certificate mosquitto loaded at start
# for ever). The plugin checks it once a day, at the first tick and after an
# operator's reload (SIGHUP), and within 30 days of its end renews it from the
# same root and sends the broker SIGHUP: mosquitto 2.0 loads the listener
# certificate again for new connections, open connections stay.
# Also: a reload no longer resets the plugin's view of the clients (mosquitto
# re-runs BASIC_AUTH for every client it knows at a reload: a clean-session
# device lost its C2D subscription, offline sessions showed as Connected).
. "$(dirname "$0")/hub_lib.sh"
P="$LOCALHUB_HOME/pki"
hub_start
pid=$(cat "$LOCALHUB_HOME/broker.pid")

# served_cert FILE: the certificate a new TLS connection gets, into FILE.
served_cert() {
  echo | timeout 10 openssl s_client -connect "127.0.0.1:$PORT" -servername localhost -CAfile "$CAF" 2>/dev/null |
    openssl x509 -out "$1" 2>/dev/null || fail "no certificate from a new TLS connection"
}
# serial FILE: upper-case hex, without leading zeros (as the broker logs it
# from a BIGNUM; openssl x509 -serial keeps whole bytes).
serial() { openssl x509 -in "$1" -noout -serial | cut -d= -f2 | sed 's/^0*//'; }
# served_after_reload FILE: the served certificate once it is pki/server.pem
# (the broker handles its own SIGHUP at its next loop pass; 10 s at most).
served_after_reload() {
  local i
  for i in $(seq 1 50); do
    served_cert "$1"
    [ "$(serial "$1")" = "$(serial "$P/server.pem")" ] && return 0
    sleep 0.2
  done
}
served_cert "$T/s0.pem"
s0=$(serial "$T/s0.pem")
[ "$s0" = "$(serial "$P/server.pem")" ] || fail "setup: served serial $s0 is not pki/server.pem's"

# d1: connected (clean session), subscribed to C2D. d2: persistent session,
# offline, with a C2D message queued.
for d in d1 d2; do "$L" device create --id $d --auth sas >/dev/null; done
TOK1=$("$L" generate-sas-token --device d1 --duration 3600)
TOK2=$("$L" generate-sas-token --device d2 --duration 3600)
# sub ID TOKEN OUT [mosquitto_sub args]: exec, so that "sub ... &" gives
# mosquitto_sub's own pid in $!; -W ends it should the test fail meanwhile.
sub() {
  local id=$1 tok=$2 out=$3; shift 3
  exec mosquitto_sub -h localhost -p "$PORT" --cafile "$CAF" -V mqttv311 -i "$id" -u "$(user_for "$id")" -P "$tok" -q 1 \
    -t "devices/$id/messages/devicebound/#" "$@" >"$out" 2>&1
}
sub d1 "$TOK1" "$T/d1.out" -W 100 &
d1pid=$!
(sub d2 "$TOK2" "$T/d2a.out" -c -W 2) || true   # subscribe, stay 2 s, leave the session
wait_state d1 c2d
# x1: an X.509 device (CA with proof of possession, leaf through an
# intermediate: the TLS shim's chain) connected across the reloads.
mk_ca root
mk_ca inter root
ca_add_verified root
"$L" device create --id x1 --auth x509-ca >/dev/null
mk_leaf x1 x1 inter
cat "$T/x1.pem" "$T/inter.pem" >"$T/x1c.pem"; cp "$T/x1.key" "$T/x1c.key"
mosquitto_sub -h localhost -p "$PORT" --cafile "$CAF" --cert "$T/x1c.pem" --key "$T/x1c.key" -V mqttv311 -i x1 \
  -u "$(user_for x1)" -q 1 -t 'devices/x1/messages/devicebound/#' -W 100 >"$T/x1.out" 2>&1 &
x1pid=$!
wait_state x1 c2d
"$L" c2d send --device d1 --data before >/dev/null
"$L" c2d send --device d2 --data queued-for-d2 >/dev/null
for i in $(seq 1 50); do grep -q before "$T/d1.out" && break; sleep 0.1; done
grep -q before "$T/d1.out" || fail "setup: d1 got no C2D: $(cat "$T/d1.out")"
"$L" --json device show d2 | grep_all -q '"connectionState":[[:space:]]*"Disconnected"' || fail "setup: d2 is not offline"

# The operator (or a backup tool) puts a certificate that ends in 1 day in
# place, from the hub's root, and reloads the broker: the plugin sees it is
# due and renews it, then reloads again.
# short_cert: pki/server.pem replaced by a certificate for its key that ends in 1 day.
short_cert() {
  printf 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\nsubjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1\n' >"$T/srv.ext"
  openssl req -new -key "$P/server.key" -subj "/O=localhub/CN=localhost" -out "$T/srv.csr" 2>/dev/null
  openssl x509 -req -in "$T/srv.csr" -CA "$P/root-ca.pem" -CAkey "$P/root-ca.key" -CAcreateserial \
    -extfile "$T/srv.ext" -days 1 -out "$T/short.pem" 2>/dev/null
  openssl x509 -in "$T/short.pem" -noout -checkend 90000 >/dev/null && fail "setup: certificate should end within a day"
  cp "$T/short.pem" "$P/server.pem"
}
short_cert
s1=$(serial "$T/short.pem")
kill -HUP "$pid"
for i in $(seq 1 100); do grep -q "renewed with the same root CA" "$LOCALHUB_HOME/broker.log" && break; sleep 0.1; done
grep -q "server certificate was to expire on .*(serial 0*$s1): renewed with the same root CA" "$LOCALHUB_HOME/broker.log" ||
  fail "the running broker did not renew the 1-day certificate: $(grep localhub: "$LOCALHUB_HOME/broker.log" | tail -5)"
served_after_reload "$T/s2.pem"
s2=$(serial "$T/s2.pem")
[ "$s2" != "$s1" ] && [ "$s2" != "$s0" ] || fail "new TLS connections still get the old certificate (serial $s2; 1-day $s1, first $s0)"
[ "$s2" = "$(serial "$P/server.pem")" ] || fail "served serial $s2 is not the renewed pki/server.pem's"
openssl verify -CAfile "$P/root-ca.pem" "$T/s2.pem" >/dev/null || fail "served renewed certificate does not verify"
openssl x509 -in "$T/s2.pem" -noout -checkend $((800 * 86400)) >/dev/null || fail "renewed certificate ends within 800 days"
[ "$(cat "$LOCALHUB_HOME/broker.pid")" = "$pid" ] && kill -0 "$pid" || fail "the broker was restarted or died"
ok "1-day certificate renewed by the running broker: new TLS connections get serial $s2 (was $s1), openssl verify OK"

# The open connection was not dropped and still gets C2D; the offline
# session is still offline with its message queued, and gets it on return.
kill -0 "$d1pid" 2>/dev/null || fail "d1's connection was dropped: $(cat "$T/d1.out")"
grep -c "New client connected .* as d1 " "$LOCALHUB_HOME/broker.log" | grep -qx 1 || fail "d1 reconnected"
out=$("$L" --json device show d1)
grep_in "$out" -q '"connectionState":[[:space:]]*"Connected"' && grep_in "$out" -q '"c2d"' ||
  fail "after the reloads the hub lost d1's session: $out"
"$L" c2d send --device d1 --data after-renewal >/dev/null
for i in $(seq 1 50); do grep -q after-renewal "$T/d1.out" && break; sleep 0.1; done
grep -q after-renewal "$T/d1.out" || fail "d1 (connected across the renewal) no longer gets C2D: $(cat "$T/d1.out")"
kill -0 "$x1pid" 2>/dev/null || fail "x1's (X.509) connection was dropped: $(cat "$T/x1.out")"
"$L" c2d send --device x1 --data x1-after >/dev/null
for i in $(seq 1 50); do grep -q x1-after "$T/x1.out" && break; sleep 0.1; done
grep -q x1-after "$T/x1.out" || fail "x1 (X.509, connected across the renewal) no longer gets C2D: $(cat "$T/x1.out")"
ok "SAS and X.509 devices connected across the renewal and 2 reloads stay connected and still get C2D"
"$L" --json device show d2 | grep_all -q '"connectionState":[[:space:]]*"Disconnected"' ||
  fail "the reload marked the offline d2 Connected: $("$L" --json device show d2)"
"$L" c2d list --device d2 | grep -q . || fail "d2's queued C2D message was lost"
(sub d2 "$TOK2" "$T/d2b.out" -c -C 1 -W 10) || fail "d2 did not get its queued message: $(cat "$T/d2b.out")"
grep -q queued-for-d2 "$T/d2b.out" || fail "d2 got: $(cat "$T/d2b.out")"
ok "an offline persistent session kept its state and queued C2D across the reloads"
kill "$d1pid" "$x1pid"; wait "$d1pid" "$x1pid" 2>/dev/null || true
mosquitto_pub -h localhost -p "$PORT" --cafile "$CAF" -V mqttv311 -i d1 -u "$(user_for d1)" -P "$TOK1" -q 1 \
  -t devices/d1/messages/events/ -m after-renewal-new || fail "a new device connection fails after the renewal"
wait_log '"payload":"after-renewal-new"'
pub_x509 x1 x1c -t devices/x1/messages/events/ -m x1-new-conn || fail "a new X.509 connection (with intermediate) fails after the reloads"
wait_log '"payload":"x1-new-conn"'
# (s_client closing at once logs "OpenSSL Error ... unexpected eof": not ours)
grep -q "Unable to\|Error: \|cannot" "$LOCALHUB_HOME/broker.log" &&
  fail "broker errors: $(grep "Unable to\|Error: \|cannot" "$LOCALHUB_HOME/broker.log")"
ok "new SAS and X.509 (chain through an intermediate) connections work with the renewed certificate; no broker errors"

# Reloads let no refused client in (REV14 F2): while mosquitto re-checks its
# clients at a reload the plugin skips the check only for clients it knows.
# During 20 reloads and after them, a bad SAS token (a known device id), a
# client id the hub has never seen, and then a disabled device are refused,
# and nothing they publish reaches telemetry.
try_pub() {  # ID TOKEN PAYLOAD
  mosquitto_pub -h localhost -p "$PORT" --cafile "$CAF" -V mqttv311 -i "$1" -u "$(user_for "$1")" -P "$2" -q 1 \
    -t "devices/$1/messages/events/" -m "$3" >/dev/null 2>&1
}
se=${TOK1##*se=}
se=${se%%&*}
BAD1=${TOK1/se=$se/se=$((se - 1))}   # well formed, its signature does not match
[ "$BAD1" != "$TOK1" ] || fail "setup: cannot make a bad token from $TOK1"
reloads0=$(grep -c "broker reloaded" "$LOCALHUB_HOME/broker.log")
try_pub d1 "$BAD1" refused-before && fail "bad token accepted before the reloads"
( for i in $(seq 1 20); do kill -HUP "$pid"; sleep 0.05; done ) &
hup=$!
n=0
end=$((SECONDS + 3))
while [ $SECONDS -lt $end ]; do
  n=$((n + 1))
  try_pub d1 "$BAD1" "refused-d1-$n" && fail "bad token accepted during the reloads (attempt $n)"
  try_pub ghost "$TOK1" "refused-ghost-$n" && fail "unknown client id accepted during the reloads (attempt $n)"
done
wait "$hup"
sleep 0.5
kill -0 "$pid" || fail "broker gone after the reloads"
try_pub d1 "$BAD1" refused-after && fail "bad token accepted after the reloads"
try_pub ghost "$TOK1" refused-ghost-after && fail "unknown client id accepted after the reloads"
"$L" device disable --id d2 >/dev/null
try_pub d2 "$TOK2" refused-disabled && fail "disabled device accepted after the reloads"
try_pub d1 "$TOK1" accepted-after || fail "good token refused after the reloads"
wait_log '"payload":"accepted-after"'
grep -q '"payload":"refused-' "$LOCALHUB_HOME/telemetry.jsonl" && fail "a refused client's telemetry was stored"
reloads=$(( $(grep -c "broker reloaded" "$LOCALHUB_HOME/broker.log") - reloads0 ))
[ "$reloads" -ge 5 ] || fail "only $reloads reloads seen of 20 SIGHUPs"
ok "during and after $reloads reloads: bad SAS token ($n tries), unknown client id and disabled device refused, nothing stored"

# A broker that starts with a certificate already due (not through
# 'localhub start', which renews first) renews it at its first tick.
"$L" stop >/dev/null
hub_start
# Run the broker binary directly, with the environment start gave it.
old=$(cat "$LOCALHUB_HOME/broker.pid")
exe=$(readlink "/proc/$old/exe")
envs=$(tr '\0' '\n' <"/proc/$old/environ" | grep -E '^(LD_PRELOAD|ASAN_OPTIONS|UBSAN_OPTIONS)=' || true)
kill "$old"
for i in $(seq 1 100); do kill -0 "$old" 2>/dev/null || break; sleep 0.1; done
short_cert
s1=$(serial "$T/short.pem")
: >"$LOCALHUB_HOME/broker.log"
env $(tr '\n' ' ' <<<"$envs") "$exe" -c "$LOCALHUB_HOME/mosquitto.conf" >"$T/broker2.out" 2>&1 </dev/null &
echo $! >"$LOCALHUB_HOME/broker.pid"
for i in $(seq 1 100); do grep -q "renewed with the same root CA" "$LOCALHUB_HOME/broker.log" && break; sleep 0.1; done
grep -q "the server certificate expires on .*: the broker renews it now" "$LOCALHUB_HOME/broker.log" ||
  fail "no warning at plugin start: $(cat "$LOCALHUB_HOME/broker.log")"
grep -q "(serial 0*$s1): renewed with the same root CA" "$LOCALHUB_HOME/broker.log" ||
  fail "a broker started with a due certificate did not renew it: $(cat "$LOCALHUB_HOME/broker.log")"
served_after_reload "$T/s3.pem"
s3=$(serial "$T/s3.pem")
[ "$s3" != "$s1" ] && [ "$s3" = "$(serial "$P/server.pem")" ] || fail "served serial $s3 after the first-tick renewal"
openssl verify -CAfile "$P/root-ca.pem" "$T/s3.pem" >/dev/null || fail "renewed certificate does not verify"
ok "a broker started with a due certificate renews it at its first tick (serial $s3)"

# A root that ends first (REV14 F6): root 10 days, server certificate from it
# 5 days. 'localhub start' renews it up to the root's end; the plugin must
# then not promise a renewal ("the broker renews it now" was logged and
# none came: a new certificate cannot outlive the root), and says the
# root's end once (it was logged at init and again at the first tick).
"$L" stop >/dev/null
openssl ecparam -name prime256v1 -genkey -noout -out "$P/root-ca.key" 2>/dev/null
openssl req -x509 -new -key "$P/root-ca.key" -subj "/CN=localhub root" -days 10 -out "$P/root-ca.pem" \
  -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null
openssl req -new -key "$P/server.key" -subj "/O=localhub/CN=localhost" -out "$T/srv.csr" 2>/dev/null
openssl x509 -req -in "$T/srv.csr" -CA "$P/root-ca.pem" -CAkey "$P/root-ca.key" -CAcreateserial \
  -extfile "$T/srv.ext" -days 5 -out "$P/server.pem" 2>/dev/null
hub_start
for i in $(seq 1 100); do grep -q "plugin ready" "$LOCALHUB_HOME/broker.log" && break; sleep 0.1; done
sleep 1   # first ticks
log=$(grep "localhub:" "$LOCALHUB_HOME/broker.log")
grep_in "$log" -q "renews it now\|renewed with the same root CA" && fail "a renewal promised or made that cannot outlive the root: $log"
grep_in "$log" -q "server certificate expires on .*: not renewed, a new one would end with the root CA too" ||
  fail "no word on the server certificate ending with the root: $log"
[ "$(grep_in "$log" -c "the root CA expires on")" = 1 ] || fail "the root's end not said exactly once: $log"
ok "root ending first: the plugin says the server certificate is not renewed, and the root's end once"
