#!/usr/bin/env python3
"""Host-side checks of qemu_tls_m4 (tests/qemu/tls_m4.sh): the firmware only
prints; this compares what it printed with what the server, the hub, the
hub CLI and the simulator saw.

  sizes FW.MAP FW.ELF [--detail]      image split: ours / mbedTLS / libc
  tls OUT SSERVER_OUT ST0 ST1 HUB_ROOT DEVICE_ID
  hub OUT TELEMETRY_JSONL METHOD_OUT ST0 ST1 DEVICE_ID TOO_LARGE
  refused OUT RC WANT_RC ST0 ST1 "EXPECTED LINE PREFIX" "no signature"|"one signature"
"""
import json
import os
import re
import subprocess
import sys
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from check_run import by_name  # noqa: E402  (the simulator statistics' reader)
from hub_check import username, vectors  # noqa: E402  (spec 1.2 user name, topics.vec)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HOST = "localhost"

failures = []


def fail(msg):
    failures.append(msg)
    print("check failed: " + msg)


def ok(msg):
    print("ok: " + msg)


def parse(path):
    vals, lines = {}, []
    for line in open(path, encoding="utf-8", errors="replace").read().splitlines():
        lines.append(line)
        m = re.match(r"^([A-Za-z0-9_.]+)=([0-9a-f]*)$", line)
        if m:
            vals.setdefault(m.group(1), []).append(bytes.fromhex(m.group(2)))
            continue
        m = re.match(r"^([A-Za-z0-9_.]+) (.*)$", line)
        if m:
            vals.setdefault(m.group(1), []).append(m.group(2))
    return vals, lines


def one(vals, key):
    v = vals.get(key)
    if not v:
        fail("the firmware printed no " + key)
        return None
    return v[-1]


def delta(st0, st1):
    a, b = by_name(json.load(open(st0))), by_name(json.load(open(st1)))
    return {k: b.get(k, 0) - a.get(k, 0) for k in set(a) | set(b) if b.get(k, 0) != a.get(k, 0)}


def openssl(*args, input_=None):
    return subprocess.run(["openssl"] + list(args), input=input_, capture_output=True)


def check_identity(vals, hub_root, devid):
    """The anchor the firmware read from 0xE0E8 is the hub root; the client
    certificate from 0xE0E1 is the device's."""
    anchor, cert = one(vals, "anchor"), one(vals, "cert")
    root_der = openssl("x509", "-in", hub_root, "-outform", "DER").stdout
    if anchor is not None and anchor != root_der:
        fail("the anchor read from 0xE0E8 is not the hub root")
    if cert is not None:
        r = openssl("x509", "-inform", "DER", "-noout", "-subject", "-nameopt", "RFC2253", input_=cert)
        if r.returncode != 0 or r.stdout.decode().strip() != "subject=CN=" + devid:
            fail("the certificate read from 0xE0E1 is not CN=%s (%s)" % (devid, r.stdout.decode().strip()))


def check_sim(d, what, signs, shielded=False):
    if d.get("CalcSign", 0) != signs:
        fail("%s: the simulator saw %d CalcSign, expected %d" % (what, d.get("CalcSign", 0), signs))
    if d.get("GetDataObject", 0) != 2:
        fail("%s: the simulator saw %d GetDataObject, expected 2 (0xE0E8, 0xE0E1)"
             % (what, d.get("GetDataObject", 0)))
    if d.get("OpenApplication", 0) != 1:
        fail("%s: %d OpenApplication, expected 1" % (what, d.get("OpenApplication", 0)))
    if d.get("GetRandom", 0) < 1:
        fail("%s: the DRBG was not seeded from the chip (no GetRandom)" % what)
    known = ["CalcSign", "GetDataObject", "OpenApplication", "GetRandom"]
    if shielded:
        # the shielded connection's handshake, once, at OpenApplication
        for k in ("prl_hello", "prl_finished"):
            if d.get(k, 0) != 1:
                fail("%s: %d %s, expected 1 (shielded connection)" % (what, d.get(k, 0), k))
        known += ["prl_hello", "prl_finished"]
    other = {k: v for k, v in d.items() if k not in known}
    if other:
        fail("%s: unexpected chip commands %s" % (what, other))


def check_tls(out, sserver, st0, st1, hub_root, devid):
    vals, lines = parse(out)
    if "DONE tls" not in lines:
        fail("no DONE tls")
    suite = one(vals, "tls.connected")
    if suite != "TLS-ECDHE-ECDSA-WITH-AES-128-GCM-SHA256":
        fail("suite %s" % suite)
    sent, got = one(vals, "tls.sent"), one(vals, "tls.received")
    if sent is not None and got is not None:
        want = sent[:-1][::-1] + b"\n"  # s_server -rev: the line reversed
        if got != want:
            fail("s_server sent back %r, expected %r" % (got, want))
    check_identity(vals, hub_root, devid)
    log = open(sserver, errors="replace").read()
    for need in ("Verification: OK", "Peer certificate: CN = " + devid, "Signature type: ECDSA",
                 "Protocol version: TLSv1.2", "CONNECTION ESTABLISHED"):
        if need not in log:
            fail("s_server did not log '%s'" % need)
    if "depth=0 CN = %s\nverify return:1" % devid not in log:
        fail("s_server did not verify the client certificate")
    d = delta(st0, st1)
    check_sim(d, "tls", 1)
    if one(vals, "tls.signatures") != "1":
        fail("the binding counted %s signatures" % one(vals, "tls.signatures"))
    if not failures:
        ok("tls: %s with s_server, client certificate CN=%s verified by the server, the chip made the one "
           "signature, line echoed reversed; chip commands %s" % (suite, devid, sorted(d.items())))


# What the hub records for each property set of tls_fw/main.c (the sets of
# tests/vectors/iothub/topics.vec): system properties by their hub names,
# application properties as given (a key without a value is null).
SETS = [
    ({}, {}),
    ({"content-type": "application/json;charset=utf-8"}, {}),
    ({"message-id": "msg-1", "content-type": "application/json", "content-encoding": "utf-8"}, {}),
    ({}, {"temp alert": "a&b=c", "flag": None, "empty": "", "iothub-creation-time-utc": "2021-04-21T11:30:16Z"}),
    ({"correlation-id": "c+1", "user-id": "u@x", "iothub-creation-time-utc": "2024-01-01T00:00:00Z"}, {}),
]
HUB_SYS = ("iothub-connection-", "iothub-enqueuedtime", "iothub-message-source")


def mqtt_packets(stream):
    """Split an MQTT byte stream into (type, flags, body)."""
    out, i = [], 0
    while i < len(stream):
        t = stream[i]
        n, mul, j = 0, 1, i + 1
        while True:
            if j >= len(stream):
                fail("the MQTT stream ends inside a packet header")
                return out
            b = stream[j]
            n += (b & 0x7F) * mul
            mul *= 128
            j += 1
            if not b & 0x80:
                break
        out.append((t >> 4, t & 0x0F, stream[j:j + n]))
        if j + n > len(stream):
            fail("the MQTT stream ends inside a packet")
        i = j + n
    return out


def check_wire(vals, devid, stored_sets):
    """What the client wrote into TLS: CONNECT as dev-m4 with the spec's
    user name and an empty password (X.509, as Azure Embedded C sends it;
    docs/design/iothub-client.md), each telemetry PUBLISH on the topic
    topics.vec expects for its property set, byte for byte."""
    stream = b"".join(vals.get("mqtt.tx", []))
    pk = mqtt_packets(stream)
    if not pk or pk[0][0] != 1:
        fail("the first MQTT packet is not CONNECT")
        return
    body = pk[0][2]
    flags = body[7]
    p = 10

    def field(p):
        n = int.from_bytes(body[p:p + 2], "big")
        return body[p + 2:p + 2 + n], p + 2 + n
    cid, p = field(p)
    user = pw = None
    if flags & 0x80:
        user, p = field(p)
    if flags & 0x40:
        pw, p = field(p)
    if cid != devid.encode() or user != username(ROOT, HOST, devid).encode() or pw != b"" or p != len(body):
        fail("CONNECT: client id %r, user name %r, password %r" % (cid, user, pw))
    vec = [t.replace("devices/dev-01/", "devices/%s/" % devid, 1) for t, _ in vectors(ROOT)]
    pubs = []
    for t, fl, b in pk:
        if t == 3:
            n = int.from_bytes(b[:2], "big")
            pubs.append(b[2:2 + n].decode("utf-8", "replace"))
    tel = [x for x in pubs if x.startswith("devices/%s/messages/events/" % devid)]
    want = [vec[s] for s in stored_sets]
    if tel != want:
        fail("telemetry topics on the wire %s, expected %s" % (tel, want))
    rest = [x for x in pubs if x not in tel]
    if rest != ["$iothub/methods/res/200/?$rid=" + (one(vals, "method.rid") or b"").decode()]:
        fail("other PUBLISHes %s" % rest)
    if pk[-1][0] != 14:
        fail("the last MQTT packet is not DISCONNECT")


def check_hub(out, telemetry, method_out, st0, st1, devid, too_large):
    vals, lines = parse(out)
    if "DONE hub" not in lines:
        fail("no DONE hub")
    if one(vals, "tls.connected") != "TLS-ECDHE-RSA-WITH-AES-128-GCM-SHA256":
        fail("suite %s" % one(vals, "tls.connected"))
    for k, want in (("stats.connects", "1"), ("stats.connect_attempts", "1"), ("stats.key_operations", "1"),
                    ("tls.signatures", "1"), ("tls.opens", "1"), ("stats.c2d_received", "1"),
                    ("stats.rx_too_large", too_large), ("tls.connect_chip_sign", "1"),
                    ("tls.connect_chip_random", "0")):
        if one(vals, k) != want:
            fail("%s is %s, expected %s" % (k, one(vals, k), want))
    stored = [l for l in lines if l.startswith("stored ")]
    n = len(stored)
    if n < 2 or one(vals, "stats.published") != str(n) or one(vals, "stats.acked") != str(n):
        fail("%d stored, published %s, acked %s" % (n, one(vals, "stats.published"), one(vals, "stats.acked")))
    if vals.get("acked") != [str(i) for i in range(n)]:
        fail("acknowledged in another order: %s" % vals.get("acked"))
    # the hub's record: in order, the payloads and properties sent
    recs = [json.loads(l) for l in open(telemetry) if l.strip()]
    recs = [r for r in recs if r.get("deviceId") == devid]
    if len(recs) != n:
        fail("the hub recorded %d messages from %s, the firmware stored %d" % (len(recs), devid, n))
    for i, (line, rec) in enumerate(zip(stored, recs)):
        m = re.match(r"^stored (\d+) set (\d+) payload=([0-9a-f]+)$", line)
        seq, s, payload = int(m.group(1)), int(m.group(2)), bytes.fromhex(m.group(3))
        if seq != i:
            fail("stored line %d has seq %d" % (i, seq))
        if rec.get("payload", "").encode() != payload:
            fail("message %d: the hub has payload %r, the firmware sent %r" % (i, rec.get("payload"), payload))
        sysp = {k: v for k, v in rec["systemProperties"].items() if not k.startswith(HUB_SYS)}
        want_sys, want_app = SETS[s]
        if sysp != want_sys:
            fail("message %d: system properties %s, expected %s" % (i, sysp, want_sys))
        if rec["applicationProperties"] != want_app:
            fail("message %d: application properties %s, expected %s" % (i, rec["applicationProperties"], want_app))
        auth = json.loads(rec["systemProperties"].get("iothub-connection-auth-method", "{}"))
        if auth.get("type") != "x509Certificate":
            fail("message %d: the hub authenticated the device by %s" % (i, auth.get("type")))
    check_wire(vals, devid, [int(l.split()[3]) for l in stored])
    seqs = [r["seq"] for r in recs]
    if seqs != sorted(seqs):
        fail("the hub's sequence numbers are out of order: %s" % seqs)
    # C2D as sent by `localhub c2d send` and printed by the firmware
    payload, bag = one(vals, "c2d.payload"), one(vals, "c2d.bag")
    if payload != b"hello m4 over tls":
        fail("C2D payload %r" % payload)
    if bag is not None:
        props = dict(urllib.parse.parse_qsl(bag.decode(), keep_blank_values=True))
        for k, v in (("color", "blue"), ("note", "50%off!"), ("$.mid", "m-7")):
            if props.get(k) != v:
                fail("C2D property %s = %r, expected %r (bag %r)" % (k, props.get(k), v, bag))
    # the method and its answer as the CLI got it
    if one(vals, "method.name") != b"reboot" or one(vals, "method.payload") != b'{"delay":1}':
        fail("method %r %r" % (one(vals, "method.name"), one(vals, "method.payload")))
    try:
        res = json.load(open(method_out))
    except ValueError:
        res = {}
        fail("localhub method invoke printed no JSON: %r" % open(method_out).read()[:200])
    resp = one(vals, "method.response")
    if res.get("status") != 200 or resp is None or res.get("payload") != json.loads(resp):
        fail("the CLI got %s, the firmware answered 200 %r" % (res, resp))
    d = delta(st0, st1)
    shielded = one(vals, "chip.protect") == "both"
    check_sim(d, "hub", 1, shielded)
    if not failures:
        ok("hub: %d messages at the hub in order with their properties (X.509), topics on the wire as "
           "topics.vec expects, C2D and method as sent, the answer as the CLI got it; chip commands %s"
           % (n, sorted(d.items())))


def check_refused(out, rc, want_rc, st0, st1, prefix, signs):
    """A refused run: exit code want_rc, one line starting with prefix (an
    ERROR line for a TLS failure, 3; AUTH_FAILED for a CONNACK refusal, 4)
    and nothing after it; signs: the chip signatures the attempt may cost."""
    vals, lines = parse(out)
    if rc != want_rc:
        fail("exit code %s, expected %s" % (rc, want_rc))
    errs = [l for l in lines if l.startswith(("ERROR ", "AUTH_FAILED"))]
    if len(errs) != 1 or not errs[0].startswith(prefix):
        fail("expected one line starting %r, got %s" % (prefix, errs))
    bad = ["DONE", "READY", "event connected", "acked", "connected_ms"]
    if want_rc == "3":
        bad.append("tls.connected")
    for b in bad:
        if any(l.startswith(b) for l in lines):
            fail("the firmware went on after the refusal (%s)" % b)
    d = delta(st0, st1)
    want = 0 if signs == "no signature" else 1
    if d.get("CalcSign", 0) != want:
        fail("%d CalcSign in a refused run, expected %d" % (d.get("CalcSign", 0), want))
    if not failures:
        ok("refused cleanly (exit %s, %d signature(s)): %s" % (rc, want, errs[0][:160]))


# Firmware objects are named DIRNAME_FILE.o by tests/qemu/fw_build.sh.
ORIGINS = [("tls_fw_", "firmware scenario (tls_fw)"), ("hub_fw_", "board: UART1, flash (hub_fw)"),
           ("qemu_", "board: start-up, UART0, SysTick, soft crypto"), ("baremetal_", "port template"),
           ("trustm_", "libtrustm (src/trustm)"), ("tls_", "TLS binding (src/tls)"), ("mqtt_", "MQTT (src/mqtt)"),
           ("iothub_", "IoT Hub client (src/iothub)"), ("common_", "common (src/common)")]


def sizes(map_path, elf, detail=False):
    """text+rodata+data per origin, from the linker map's input sections."""
    groups = {"ours": 0, "mbedtls": 0, "libc": 0}
    parts, mbed = {}, {}
    both = re.compile(r"^ \.(text|rodata|data)\S*\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)\s+(\S+)")
    name_only = re.compile(r"^ \.(text|rodata|data)\S*\s*$")
    rest = re.compile(r"^\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)\s+(\S+)")
    started, pending = False, False
    for line in open(map_path):
        if line.startswith("Linker script and memory map"):
            started = True
            continue
        if not started:
            continue
        m = both.match(line)
        if m:
            addr, size, obj = int(m.group(2), 16), int(m.group(3), 16), m.group(4)
        else:
            if name_only.match(line):
                pending = True
                continue
            m = rest.match(line) if pending else None
            pending = False
            if not m:
                continue
            addr, size, obj = int(m.group(1), 16), int(m.group(2), 16), m.group(3)
        pending = False
        if addr == 0 and size == 0:
            continue
        if "libmbedtls_m4.a" in obj:
            groups["mbedtls"] += size
            mo = re.search(r"\((\w+)\.o\)", obj)
            k = mo.group(1) if mo else obj
            mbed[k] = mbed.get(k, 0) + size
        elif "libc_nano" in obj or "libgcc" in obj or "/arm-none-eabi/" in obj:
            groups["libc"] += size
        else:
            groups["ours"] += size
            base = obj.rsplit("/", 1)[-1]
            label = next((l for p, l in ORIGINS if base.startswith(p)), base)
            parts[label] = parts.get(label, 0) + size
    r = subprocess.run(["arm-none-eabi-size", elf], capture_output=True, text=True).stdout.split("\n")[1].split()
    print("image %s B text, %s B data, %s B bss; text+rodata+data by origin: ours %d B, mbedTLS %d B, "
          "libc/libgcc %d B" % (r[0], r[1], r[2], groups["ours"], groups["mbedtls"], groups["libc"]))
    if detail:
        for label, n in sorted(parts.items(), key=lambda x: -x[1]):
            print("  ours     %-44s %7d B" % (label, n))
        for k, n in sorted(mbed.items(), key=lambda x: -x[1]):
            if n >= 1000:
                print("  mbedTLS  %-44s %7d B" % (k, n))
        rest_n = sum(n for n in mbed.values() if n < 1000)
        print("  mbedTLS  %-44s %7d B" % ("(objects under 1 KB)", rest_n))


def main():
    cmd = sys.argv[1] if len(sys.argv) > 1 else ""
    if cmd == "sizes" and len(sys.argv) in (4, 5):
        sizes(sys.argv[2], sys.argv[3], len(sys.argv) == 5 and sys.argv[4] == "--detail")
        return 0
    if cmd == "tls" and len(sys.argv) == 8:
        check_tls(*sys.argv[2:])
    elif cmd == "hub" and len(sys.argv) == 9:
        check_hub(*sys.argv[2:])
    elif cmd == "refused" and len(sys.argv) == 9:
        check_refused(*sys.argv[2:])
    else:
        print(__doc__)
        return 2
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
