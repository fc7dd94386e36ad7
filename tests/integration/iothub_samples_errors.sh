#!/usr/bin/env bash
# The IoT Hub samples on bad input: one-line errors (no sanitizer report, so
# nothing leaks on the early exits), a non-base64 SharedAccessKey refused, a
# file that is not an outbox refused and left unchanged, a damaged outbox
# reported with the later records recovered and the original kept aside.
set -euo pipefail
: "${IOTHUB_SAMPLES:?set by ctest}"
TEL="$IOTHUB_SAMPLES/iothub-telemetry"
W=$(mktemp -d /tmp/iothub_samples.XXXXXX)
trap 'rm -rf "$W"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
ok() { echo "ok - $*"; }
# Leak detection stays on (the ASan default) and any report fails the check.
export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=1
cd "$W"

# run EXPECTED_RC args...: the sample exits with EXPECTED_RC and one stderr line.
one_line() {
  local want=$1; shift
  set +e; "$TEL" "$@" >"$W/out" 2>"$W/err"; local rc=$?; set -e
  [ "$rc" -eq "$want" ] || fail "$*: exit $rc, want $want: $(cat "$W/err")"
  [ "$(wc -l <"$W/err")" -eq 1 ] || fail "$*: stderr is not one line:
$(cat "$W/err")"
}

CS='HostName=localhost;DeviceId=d;SharedAccessKey=YWJj'
one_line 1 --connection-string "$CS"
grep -q "trust anchors" "$W/err" || fail "no --ca: $(cat "$W/err")"
ok "missing --ca: one line, nothing leaked"

one_line 2 --connection-string 'HostName=localhost;DeviceId=d;SharedAccessKey=!!!'
grep -q "not base64" "$W/err" || fail "bad key: $(cat "$W/err")"
one_line 2 --host localhost --device-id d --sas-key 'YWJ'
grep -q "not base64" "$W/err" || fail "bad --sas-key: $(cat "$W/err")"
ok "non-base64 SharedAccessKey refused"

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$W/ca.key" -out "$W/ca.pem" \
  -subj /CN=test-ca -days 1 >/dev/null 2>&1 || fail "openssl"
seq 1 1000 >notes.txt
cp notes.txt notes.orig
one_line 1 --connection-string "$CS" --ca ca.pem --port 1 --count 1 --timeout-ms 500 --outbox notes.txt
grep -q "'notes.txt' is not an outbox file" "$W/err" || fail "foreign outbox: $(cat "$W/err")"
cmp -s notes.txt notes.orig || fail "notes.txt was changed"
ok "a file that is not an outbox is refused and left unchanged"

# An outbox with three messages, the middle one damaged (CRC-32 records
# after an 8-byte header; data = topic length (BE16), topic, payload).
python3 - <<'PY'
import struct, zlib
topic = b"devices/d/messages/events/"
out = bytearray(b"TMAOUTB\x01")
for seq, body in ((0, b"first"), (1, b"second"), (2, b"third")):
    data = struct.pack(">H", len(topic)) + topic + body
    rec = bytes([0x50]) + struct.pack("<II", seq, len(data)) + data
    rec += struct.pack("<I", zlib.crc32(rec) & 0xFFFFFFFF)
    if seq == 1:
        rec = rec[:20] + bytes([rec[20] ^ 0x10]) + rec[21:]
    out += rec
open("ob.log", "wb").write(out)
PY
cp ob.log ob.orig
set +e; "$TEL" --connection-string "$CS" --ca ca.pem --port 1 --count 0 --timeout-ms 300 --outbox ob.log \
  >"$W/out" 2>"$W/err"; set -e
grep -q "ob.log was damaged: 47 byte(s) in 1 place(s) skipped" "$W/err" || fail "damage not reported: $(cat "$W/err")"
grep -q "kept as ob.log.damaged" "$W/err" || fail "no copy named: $(cat "$W/err")"
cmp -s ob.log.damaged ob.orig || fail "the copy aside differs from the damaged file"
grep -q "outbox: 2 unacknowledged message(s)" "$W/out" || fail "records after the damage lost: $(cat "$W/out")"
grep -q "ob.log: rewritten from format 1 to format 2" "$W/err" || fail "migration not reported: $(cat "$W/err")"
if grep -q "LeakSanitizer\|AddressSanitizer\|runtime error" "$W/err"; then fail "sanitizer: $(cat "$W/err")"; fi
ok "damaged outbox: reported, later records recovered, original kept aside"

# A format-2 file header that fails its CRC: refused, left as it is
printf 'TMAOUTB\002saltsaltbadcP0000000000000' >hdr.log
cp hdr.log hdr.orig
one_line 1 --connection-string "$CS" --ca ca.pem --port 1 --count 1 --timeout-ms 500 --outbox hdr.log
grep -q "'hdr.log' has a damaged file header" "$W/err" || fail "damaged header: $(cat "$W/err")"
cmp -s hdr.log hdr.orig || fail "hdr.log was changed"
ok "an outbox whose file header is damaged is refused and left unchanged"
