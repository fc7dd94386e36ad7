#!/usr/bin/env bash
# localhub: start/stop/status, state folder, CLI error handling (one line,
# non-zero exit), --help/--json/--version.
. "$(dirname "$0")/hub_lib.sh"

"$L" --help | grep_all -q "localhub" || fail "--help"
"$L" device --help | grep_all -q "device create" || fail "subcommand --help"
"$L" --version | grep_all -q "^localhub " || fail "--version"
# F17: a read-only command on a state folder that does not exist reports
# that and creates nothing (a mistyped --state must not start an empty hub).
for cmd in status "device list" "device show x" "ca list"; do
  set +e; "$L" --state "$T/typo" $cmd >/dev/null 2>"$T/err"; rc=$?; set -e
  [ $rc -eq 1 ] || fail "$cmd on a missing state folder: exit $rc"
  grep -q "no localhub state in $T/typo" "$T/err" || fail "$cmd on a missing state: $(cat "$T/err")"
  [ ! -e "$T/typo" ] || fail "$cmd created the state folder"
done
ok "read-only commands do not create state"

check_err() {  # DESCRIPTION args...: exit 1 with exactly one line on stderr
  local what=$1; shift
  set +e; "$L" "$@" >/dev/null 2>"$T/err"; local rc=$?; set -e
  [ $rc -eq 1 ] || fail "$what: exit $rc"
  [ "$(wc -l <"$T/err")" -eq 1 ] || fail "$what: stderr not one line: $(cat "$T/err")"
  grep -q "error:" "$T/err" || fail "$what: no error prefix"
}
check_err "no command"
check_err "unknown command" frobnicate
check_err "unknown option" status --frob
check_err "bad port" start --port 70000
check_err "port not a number" start --port abc
check_err "missing value" device create --id
check_err "missing id" device create
check_err "bad auth" device create --id x --auth magic
check_err "bad thumbprint" device create --id x --auth x509-thumbprint --thumbprint xyz
check_err "unknown device" device show nobody
check_err "ca add missing file" ca add name /nonexistent.pem
check_err "ca verify unknown" ca verify nobody /dev/null
check_err "method when stopped" method invoke --device nobody --name x
check_err "state folder with a space" --state "$T/with space" start
ok "CLI errors: one line, exit 1"

hub_start
"$L" --json status >"$T/st.json"
grep -q '"status":[[:space:]]*"running"' "$T/st.json" || fail "status json"
grep -q "\"port\":[[:space:]]*$PORT" "$T/st.json" || fail "status port"
[ -f "$LOCALHUB_HOME/registry.db" ] && [ -f "$LOCALHUB_HOME/pki/root-ca.pem" ] && [ -f "$LOCALHUB_HOME/mosquitto.conf" ] \
  || fail "state folder incomplete"
openssl verify -CAfile "$LOCALHUB_HOME/pki/root-ca.pem" "$LOCALHUB_HOME/pki/server.pem" >/dev/null || fail "server cert"
openssl x509 -in "$LOCALHUB_HOME/pki/server.pem" -noout -ext subjectAltName | grep_all -q "IP Address:127.0.0.1" || fail "SAN"
# TLS 1.2+ only; the server certificate verifies for localhost
echo | openssl s_client -connect 127.0.0.1:$PORT -tls1_1 >/dev/null 2>&1 && fail "TLS 1.1 accepted"
echo | openssl s_client -connect 127.0.0.1:$PORT -tls1_2 -CAfile "$CAF" -verify_hostname localhost -verify_return_error \
  >/dev/null 2>&1 || fail "TLS 1.2 with server verification failed"
ok "start: state folder, server certificate for localhost, TLS 1.2+"
# "localhost" is 127.0.0.1 and ::1 on Debian: with an IPv6 loopback the hub
# listens on both (a client that tries only the first address, like Node.js
# 18's, went to ::1 and was refused), with the same TLS rules
if python3 -c 'import socket; s = socket.socket(socket.AF_INET6); s.bind(("::1", 0))' 2>/dev/null; then
  grep -qx "listener $PORT ::1" "$LOCALHUB_HOME/mosquitto.conf" || fail "no ::1 listener: $(grep listener "$LOCALHUB_HOME/mosquitto.conf")"
  echo | openssl s_client -connect "[::1]:$PORT" -tls1_2 -CAfile "$CAF" -verify_hostname localhost -verify_return_error \
    >/dev/null 2>&1 || fail "TLS 1.2 on [::1] with server verification failed"
  echo | openssl s_client -connect "[::1]:$PORT" -tls1_1 >/dev/null 2>&1 && fail "TLS 1.1 accepted on [::1]"
  ok "start: also on [::1], same TLS rules"
else
  grep -q "::1" "$LOCALHUB_HOME/mosquitto.conf" && fail "::1 listener on a machine without IPv6 loopback"
  ok "start: no IPv6 loopback here, IPv4 only"
fi

check_err "second start" start --port "$PORT"
# a second hub on the same port fails cleanly
set +e; LOCALHUB_HOME="$T/other" "$L" start --port "$PORT" >/dev/null 2>"$T/err"; rc=$?; set -e
[ $rc -eq 1 ] || fail "second hub on a busy port: exit $rc"
LOCALHUB_HOME="$T/other" "$L" stop >/dev/null
ok "busy port refused"

"$L" stop | grep_all -q stopped || fail "stop"
"$L" status | grep_all -q "status: stopped" || fail "status after stop"
"$L" stop | grep_all -q "not running" || fail "second stop"
"$L" start --port "$PORT" >/dev/null || fail "start after stop"
# root CA is kept across restarts (devices keep trusting it)
ok "stop/start cycle"

# F16: the registry holds every SAS key: a state folder the user supplies with
# loose permissions is made private, the registry is 0600 whatever the umask.
mkdir -m 755 "$T/loose"
(umask 022; "$L" --state "$T/loose" device create --id k1 --auth sas >/dev/null) || fail "device create in a 755 folder"
[ "$(stat -c %a "$T/loose")" = 700 ] || fail "state folder left $(stat -c %a "$T/loose")"
[ "$(stat -c %a "$T/loose/registry.db")" = 600 ] || fail "registry.db is $(stat -c %a "$T/loose/registry.db")"
chmod 644 "$T/loose/registry.db"; chmod 755 "$T/loose"
"$L" --state "$T/loose" device list | grep_all -q k1 || fail "device list"
[ "$(stat -c %a "$T/loose")" = 700 ] && [ "$(stat -c %a "$T/loose/registry.db")" = 600 ] \
  || fail "an existing loose registry was not tightened"
ok "state folder 0700 and registry 0600"
