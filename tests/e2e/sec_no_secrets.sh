#!/usr/bin/env bash
# Security by default, rules 3-5 end to end (docs/security.md): no secret in
# a log, on a terminal or in a file anyone else can read, on the paths that
# succeed and on the paths that fail.
#  - SAS: a device key and the shared access signatures made from it appear
#    in none of: the samples' stdout/stderr (connected, refused for a wrong
#    key, refused for a wrong trust anchor, DPS with a symmetric key), the
#    broker's log and output, telemetry.jsonl, mosquitto's persistence, the
#    outbox files; only registry.db holds the key, as the real hub does.
#  - The platform binding secret: printed by no trustm command (bind,
#    personalize --bind, info, metadata), and 0xE140 cannot be read back,
#    with or without the shielded connection.
#  - Files: everything run under umask 000; the binding file, the outboxes,
#    the DPS assignment, localhub's state folder and keys are still private.
. "$TMA_SOURCE_DIR/tests/integration/hub_lib.sh"
EX="$TMA_BUILD_DIR/examples"
TM="$TMA_BUILD_DIR/tools/trustm"
umask 000
hub_start
cd "$T"
O="$T/out"; mkdir -m 700 "$O"

# --- SAS ------------------------------------------------------------------------
"$L" device create --id sasdev --auth sas >/dev/null
CS=$("$L" device connection-string sasdev)
KEY=${CS##*SharedAccessKey=}
[ ${#KEY} -ge 40 ] || fail "no key in '$CS'"
IOTHUB_DEVICE_CONNECTION_STRING=$CS timeout 30 "$EX/iothub-telemetry" --port "$PORT" --ca "$CAF" --count 2 \
  --interval-ms 100 --run-ms 3000 --outbox "$T/sas.outbox" >"$O/tel-ok.out" 2>&1 \
  || fail "iothub-telemetry: $(tail -3 "$O/tel-ok.out")"
[ "$(grep -c '"deviceId":"sasdev"' "$LOCALHUB_HOME/telemetry.jsonl")" -eq 2 ] || fail "expected 2 stored messages"
# a key of the right form that is not the device's: CONNACK 5
WRONG=$(printf 'not the key of sasdev, 32 bytes' | base64)
if timeout 30 "$EX/iothub-telemetry" --connection-string "HostName=localhost;DeviceId=sasdev;SharedAccessKey=$WRONG" \
  --port "$PORT" --ca "$CAF" --count 1 --timeout-ms 5000 --outbox "$T/wrong.outbox" >"$O/tel-wrongkey.out" 2>&1; then
  fail "a wrong key connected"
fi
grep -q "refused\|not authorized" "$O/tel-wrongkey.out" || fail "wrong key: $(cat "$O/tel-wrongkey.out")"
grep -q "refused CONNECT of 'sasdev'" "$LOCALHUB_HOME/broker.log" || fail "the refusal is not in broker.log"
# the right key against a trust anchor that is not the hub's: the TLS check refuses
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/other.key" \
  -subj "/CN=Other Root" -days 2 -out "$T/other.pem" 2>/dev/null
if IOTHUB_DEVICE_CONNECTION_STRING=$CS timeout 30 "$EX/iothub-telemetry" --port "$PORT" --ca "$T/other.pem" \
  --count 1 --timeout-ms 3000 --outbox "$T/other.outbox" >"$O/tel-wrongca.out" 2>&1; then
  fail "connected with a trust anchor that is not the hub's"
fi
grep -q "not trusted\|verif" "$O/tel-wrongca.out" || fail "wrong CA: $(cat "$O/tel-wrongca.out")"
# DPS with a symmetric-key enrollment: the enrollment key and the derived device key
DKEY=$("$L" --json dps enrollment create --registration-id sasdps --attestation symmetric-key \
  | sed -n 's/.*"primaryKey":[[:space:]]*"\([^"]*\)".*/\1/p')
SCOPE=$("$L" --json dps show | sed -n 's/.*"idScope":[[:space:]]*"\([^"]*\)".*/\1/p')
timeout 40 "$EX/iothub-dps" --id-scope "$SCOPE" --registration-id sasdps --sas-key "$DKEY" --dps-host localhost \
  --port "$PORT" --ca "$CAF" --count 1 --outbox "$T/dps.outbox" --assignment "$T/dps.assign" >"$O/dps.out" 2>&1 \
  || fail "iothub-dps: $(tail -5 "$O/dps.out")"
"$L" device show sasdps >/dev/null || fail "DPS did not create the device"
ok "SAS device connected, wrong key and wrong trust anchor refused, DPS symmetric key provisioned"

# --- binding secret -----------------------------------------------------------
export TRUSTM_DEVICE=sim TRUSTM_SIM_STATE="$T/chip.state"
openssl ecparam -name prime256v1 -genkey -noout -out "$T/ca.key"
openssl req -x509 -new -key "$T/ca.key" -subj "/CN=Sec Test CA" -days 30 -addext basicConstraints=critical,CA:TRUE \
  -addext keyUsage=critical,keyCertSign -out "$T/ca.pem" 2>/dev/null
"$TM" personalize --device-id secdev --ca-cert "$T/ca.pem" --ca-key "$T/ca.key" --trust-anchor "$CAF" \
  --bind --binding-out "$T/binding.key" --out "$T/dev.pem" >"$O/personalize.out" 2>&1 \
  || fail "personalize --bind: $(cat "$O/personalize.out")"
[ "$(stat -c %s "$T/binding.key")" = 64 ] || fail "binding.key is not 64 bytes"
export TRUSTM_BINDING="$T/binding.key"
"$TM" info >"$O/info.out" 2>&1 || fail "info over the binding: $(cat "$O/info.out")"
"$TM" metadata show --oid 0xE140 >"$O/md.out" 2>&1 || fail "metadata show: $(cat "$O/md.out")"
"$TM" bind --out "$T/binding2.key" >"$O/rebind.out" 2>&1 || fail "rebind: $(cat "$O/rebind.out")"
export TRUSTM_BINDING="$T/binding2.key"
# 0xE140 is never read back: not over the shielded connection, not in the clear
for b in "$T/binding2.key" ""; do
  if TRUSTM_BINDING=$b "$TM" data read --oid 0xE140 >"$O/read-e140${b:+-bound}.out" 2>&1; then
    fail "0xE140 was read back${b:+ over the shielded connection}: $(cat "$O/read-e140${b:+-bound}.out")"
  fi
done
# the device's TLS key is not exported either (no command reads a key slot)
if "$TM" data read --oid 0xE0F1 >"$O/read-key.out" 2>&1; then fail "key slot 0xE0F1 was read"; fi
ok "binding secret written, used, renewed; 0xE140 and the key slot not readable"

# --- nothing secret anywhere it could be seen --------------------------------
# The strings looked for: the SAS keys (as given and as the hub encodes them
# in a URL), any shared access signature (the token's 'sig=' or the word
# SharedAccessSignature), both binding secrets in hex (upper and lower case,
# also their first 16 bytes alone).
pats=("$KEY" "$WRONG" "$DKEY" "SharedAccessSignature" "sig=")
for k in "$T/binding.key" "$T/binding2.key"; do
  h=$(od -An -tx1 -v "$k" | tr -d ' \n')
  pats+=("$h" "${h:0:32}" "$(tr a-f A-F <<<"$h")" "$(tr a-f A-F <<<"${h:0:32}")")
done
files=("$O"/* "$T/sas.outbox" "$T/dps.outbox" "$T/dps.assign")
while IFS= read -r -d '' f; do files+=("$f"); done \
  < <(find "$LOCALHUB_HOME" -type f ! -name 'registry.db*' -print0)
n=0
for f in "${files[@]}"; do
  [ -f "$f" ] || continue
  n=$((n + 1))
  for p in "${pats[@]}"; do
    if grep -a -F -q -e "$p" "$f"; then fail "'$p' found in $f: $(grep -a -F -m1 -e "$p" "$f" | head -c 300)"; fi
  done
done
[ "$n" -ge 15 ] || fail "only $n files searched"
# the binding secrets as raw bytes: in no output (they are only in their own files)
for k in "$T/binding.key" "$T/binding2.key"; do
  for f in "$O"/*; do
    python3 - "$k" "$f" <<'EOF' || fail "raw binding secret bytes in $f"
import sys
k = open(sys.argv[1], 'rb').read()
d = open(sys.argv[2], 'rb').read()
sys.exit(1 if k[:16] in d or k[16:32] in d or k[32:48] in d or k[48:] in d else 0)
EOF
  done
done
# the search does find a key where it is (the registry; with WAL maybe in -wal)
grep -a -F -q -e "$KEY" "$LOCALHUB_HOME"/registry.db* || fail "the key is not found even in the registry"
ok "no key, signature or binding secret in $n output, log and state files"

# --- file modes under umask 000 ---------------------------------------------
modes() { stat -c '%a %n' "$@"; }
for f in "$T/binding.key" "$T/binding2.key" "$T/sas.outbox" "$T/sas.outbox.lock" "$T/dps.outbox" "$T/dps.assign" \
  "$T/chip.state" "$LOCALHUB_HOME"/registry.db* "$LOCALHUB_HOME/pki/root-ca.key" "$LOCALHUB_HOME/pki/server.key" \
  "$LOCALHUB_HOME/broker.log" "$LOCALHUB_HOME/telemetry.jsonl"; do
  [ -e "$f" ] || fail "$f missing"
  m=$(stat -c %a "$f")
  [ "$m" = 600 ] || fail "$f has mode $m under umask 000 (expected 600)"
done
for d in "$LOCALHUB_HOME" "$LOCALHUB_HOME/pki"; do
  [ "$(stat -c %a "$d")" = 700 ] || fail "$d has mode $(stat -c %a "$d")"
done
ok "under umask 000: secrets, outboxes, assignment, chip state and the hub's keys 0600, folders 0700"
