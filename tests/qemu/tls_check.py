#!/usr/bin/env python3
"""Host-side checks of qemu_tls_m4 (tests/qemu/tls_m4.sh): the firmware only
prints; this compares what it printed with what the server, the hub, the
hub CLI and the simulator saw.

  sizes FW.MAP FW.ELF [--detail]      image split: ours / mbedTLS / libc
  tls OUT SSERVER_OUT ST0 ST1 HUB_ROOT DEVICE_ID
  hub OUT TELEMETRY_JSONL METHOD_OUT ST0 ST1 DEVICE_ID TOO_LARGE
  refused OUT RC WANT_RC ST0 ST1 "EXPECTED LINE PREFIX" "no signature"|"one signature"
  resume OUT SSERVER_OUT ST0 ST1      `fw tls 2`: a full, then a resumed handshake
  reconnect OUT TELEMETRY_JSONL RELAY_LOG RELAY_STATE EVENTS_JSON ST0 ST1 DEVICE_ID N
                                      qemu_tls_m4_reconnect (tls_reconnect_m4.sh)
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


def connects(lines):
    """The firmware's connect attempts in order: dicts with t (ms, its
    clock), ok, resumed, signs (CalcSign of this attempt, counted by the
    firmware), compute_us, stack, error."""
    out, cur = [], None
    for line in lines:
        w = line.split(" ", 1)
        if line.startswith("open ") or (w[0] == "tls.handshake_ms" and (cur is None or "hs" in cur)):
            cur = {"t": int(w[1]) if w[0] == "open" else None, "ok": False, "resumed": None, "signs": None}
            out.append(cur)
            if w[0] == "open":
                continue
        if cur is None or len(w) != 2:
            continue
        k, v = w
        if k == "tls.handshake_ms":
            cur["hs"] = int(v)
        elif k == "tls.connect_chip_sign":
            cur["signs"] = int(v)
        elif k == "tls.compute_us":
            cur["compute_us"] = int(v)
        elif k == "tls.stack":
            cur["stack"] = int(v)
        elif k == "tls.connected":
            cur["ok"] = True
            cur["suite"] = v
        elif k == "tls.resumed":
            cur["resumed"] = int(v)
        elif k == "ERROR" and v.startswith("tls_connect"):
            cur["error"] = v
    return out


def check_resume(out, sserver, st0, st1):
    """`fw tls 2` against s_server -naccept 2 under -icount: the second
    handshake resumes the first's session and costs the chip nothing."""
    vals, lines = parse(out)
    if "DONE tls" not in lines:
        fail("no DONE tls")
    cs = connects(lines)
    if [c["ok"] for c in cs] != [True, True]:
        fail("connects %s, expected two good ones" % cs)
        return
    if [c["resumed"] for c in cs] != [0, 1]:
        fail("resumed %s, expected [0, 1] (full, then resumed)" % [c["resumed"] for c in cs])
    if [c["signs"] for c in cs] != [1, 0]:
        fail("the firmware counted CalcSign %s per handshake, expected [1, 0]" % [c["signs"] for c in cs])
    sent, got = vals.get("tls.sent", []), vals.get("tls.received", [])
    if len(sent) != 2 or len(got) != 2 or any(g != s_[:-1][::-1] + b"\n" for s_, g in zip(sent, got)):
        fail("the lines did not come back reversed in both rounds")
    log = open(sserver, errors="replace").read()
    hits = re.search(r"^\s*(\d+) session cache hits", log, re.M)
    if log.count("CONNECTION ESTABLISHED") != 2 or not hits or hits.group(1) != "1":
        fail("s_server did not log two connections and one session cache hit")
    d = delta(st0, st1)
    check_sim(d, "resume", 1)
    # Under -icount shift=0 the computing part in ns is the instructions
    # (tls_m4.sh): a resumed handshake does a small part of a full one's
    # work (no ECDHE, no signature, no certificate); measured 1-2 %.
    full, res = cs[0].get("compute_us", 0), cs[1].get("compute_us", 0)
    if not (full > 10000 and res < full // 10):
        fail("the resumed handshake computed %d us, the full one %d us" % (res, full))
    if not failures:
        ok("resume: full handshake %.1f M instructions (stack %d B), resumed %.2f M instructions (stack %d B), "
           "handshake %s ms vs %s ms; the chip made 1 signature in all; chip commands %s"
           % (full / 1000.0, cs[0].get("stack", 0), res / 1000.0, cs[1].get("stack", 0), cs[0].get("hs"),
              cs[1].get("hs"), sorted(d.items())))


def check_reconnect(out, telemetry, relay_log, relay_state, events, st0, st1, devid, n):
    """qemu_tls_m4_reconnect: see tests/qemu/tls_reconnect_m4.sh."""
    n = int(n)
    vals, lines = parse(out)
    if "DONE reconnect" not in lines:
        fail("no DONE reconnect")
    cfg = {k: int(one(vals, "cfg." + k) or 0) for k in
           ("keep_alive_s", "retry_min_ms", "retry_max_ms", "retry_jitter_max_ms", "window")}
    # what the firmware stored and what the hub acknowledged
    stored = {}
    for line in lines:
        m = re.match(r"^stored (\d+) t (\d+) payload=([0-9a-f]+)$", line)
        if m:
            stored[int(m.group(1))] = bytes.fromhex(m.group(3))
    if sorted(stored) != list(range(n)):
        fail("the firmware stored seqs %s, expected 0..%d" % (sorted(stored), n - 1))
    if vals.get("acked") != [str(i) for i in range(n)]:
        fail("acknowledged %s, expected each of 0..%d once, in order" % (vals.get("acked"), n - 1))
    for k, want in (("stats.published", n), ("stats.acked", n), ("stats.connects", 4),
                    ("stats.key_operations", 2), ("tls.signatures", 2)):
        if one(vals, k) != str(want):
            fail("%s is %s, expected %d" % (k, one(vals, k), want))
    # connect attempts: 4 good ones, full / resumed / full / resumed; every
    # failed one (the cut handshake) cost no signature
    cs = connects(lines)
    good = [c for c in cs if c["ok"]]
    if [c["resumed"] for c in good] != [0, 1, 0, 1]:
        fail("connects resumed %s, expected [0, 1, 0, 1] (full; resumed; full after the hub's restart; "
             "resumed after a cut handshake)" % [c["resumed"] for c in good])
    if [c["signs"] for c in good] != [1, 0, 1, 0]:
        fail("the firmware counted CalcSign %s per good connect, expected [1, 0, 1, 0]" % [c["signs"] for c in good])
    bad = [c for c in cs if not c["ok"]]
    if not bad:
        fail("no connect attempt failed: the handshake was not cut")
    if any(c["signs"] != 0 for c in bad):
        fail("a failed connect attempt cost a signature: %s" % bad)
    # the chip's side, per connect (the driver read the statistics after each)
    ev = json.load(open(events))
    if ev.get("error"):
        fail("the host's plan: %s" % ev["error"])
    snaps = [s["commands"] for s in ev["snapshots"]]
    if len(snaps) != 4:
        fail("%d statistics snapshots, expected 4" % len(snaps))
        return
    a0, a1 = by_name(json.load(open(st0))), by_name(json.load(open(st1)))
    seq = [a0] + snaps + [a1]
    ds = [{k: b.get(k, 0) - a.get(k, 0) for k in set(a) | set(b) if b.get(k, 0) != a.get(k, 0)}
          for a, b in zip(seq, seq[1:])]
    check_sim(ds[0], "start-up and connect 1 (full)", 1)
    for i, (what, want) in enumerate((("connect 2 (resumed)", {}),
                                      ("connect 3 (the hub restarted: full)", {"CalcSign": 1}),
                                      ("connect 4 (resumed, after a cut handshake)", {}),
                                      ("after connect 4", {}))):
        if ds[i + 1] != want:
            fail("%s: the simulator saw %s, expected %s" % (what, ds[i + 1] or "nothing", want or "no chip command"))
    # back-off: each drop's delay within the client's bounds (iothub.h:
    # min(min_ms << attempt, max_ms) + jitter <= jitter_max when it fits,
    # less the time the failed attempt took, floored at 0; the attempt
    # counter is not reset within 60 s of connection), and the next attempt
    # when the delay is over
    opens, retries = [], []
    for i, line in enumerate(lines):
        m = re.match(r"^open (\d+)$", line)
        if m:
            opens.append((i, int(m.group(1))))
        m = re.match(r"^retry (\d+) (\d+)$", line)
        if m:
            retries.append((i, int(m.group(1)), int(m.group(2))))
    if len(retries) < 4:
        fail("%d drops seen by the client, expected at least 4" % len(retries))
    mn, mx, jit = cfg["retry_min_ms"], cfg["retry_max_ms"], cfg["retry_jitter_max_ms"]
    delays = []
    for k, (i, t, d) in enumerate(retries):
        before = [o for o in opens if o[0] < i]
        after = [o for o in opens if o[0] > i]
        if not before:
            fail("back-off: a drop before any connect attempt")
            continue
        op = t - before[-1][1]
        base = min(mn << min(k, 31), mx)
        top = base + min(jit, mx - base - 1) if mx > base else base
        lo, hi = max(0, base - op - 2), max(0, top - op + 2)
        if not lo <= d <= hi:
            fail("back-off %d: %d ms after attempt %d (which took %d ms), expected %d..%d"
                 % (k, d, k, op, lo, hi))
        if after:
            waited = after[0][1] - t
            if not d - 1 <= waited <= d + 250:
                fail("back-off %d: scheduled %d ms, the next attempt came after %d ms" % (k, d, waited))
        delays.append("%d (%d..%d)" % (d, lo, hi))
    # the hub: every message, first arrivals in order, duplicates only
    # after a reconnect and at most the window per connection
    opens_hub = [e["t"] for e in map(json.loads, open(relay_log)) if e["ev"] == "hub-open"]
    by_payload = {v: k for k, v in stored.items()}
    recs = [json.loads(l) for l in open(telemetry) if l.strip()]
    recs = [r for r in recs if r.get("deviceId") == devid]
    first, dups, per_conn = {}, [], {}
    for r in recs:
        p = r.get("payload", "").encode()
        if p not in by_payload:
            fail("the hub has a message the firmware never stored: %r" % p)
            continue
        s_ = by_payload[p]
        conn = sum(1 for t in opens_hub if t <= r["enqueuedTimeMs"])
        if s_ in first:
            dups.append(s_)
            if conn <= first[s_]:
                fail("message %d: duplicate in the connection of its first arrival (hub connection %d)" % (s_, conn))
            per_conn[conn] = per_conn.get(conn, 0) + 1
        else:
            first[s_] = conn
    order = list(first)
    for s_ in range(n):
        if s_ not in first:
            fail("message %d never reached the hub" % s_)
    if order != sorted(order):
        fail("first arrivals out of order: %s" % order)
    for conn, k in per_conn.items():
        if k > cfg["window"]:
            fail("hub connection %d carried %d duplicates, more than the window %d" % (conn, k, cfg["window"]))
    # how soon the client noticed each cut: the relay's clock (Unix ms) and
    # the firmware's (SysTick, following the host clock: no -icount here)
    # aligned at the first connect (the relay opened the hub connection
    # when the firmware's first ClientHello came: within a few ms of "open")
    rlog = [json.loads(l) for l in open(relay_log)]
    noticed = []
    if opens and opens_hub:
        off = opens_hub[0] - opens[0][1]
        limit = cfg["keep_alive_s"] * 1500 + 300
        for e in rlog:
            if e["ev"] == "cut" and "handshake" not in e.get("why", ""):
                later = [r for r in retries if r[1] + off >= e["t"]]
                if not later:
                    fail("no drop seen by the client after the cut at %d" % e["t"])
                    continue
                dt = later[0][1] + off - e["t"]
                noticed.append(dt)
                if dt > limit:
                    fail("a cut was noticed after %d ms, more than 1.5 x the keep-alive (%d ms with slack)"
                         % (dt, limit))
    st = json.loads(open(relay_state).read())
    if st.get("cuts") != 3:
        fail("the relay cut %s times, expected 3 (two mid-stream, one in a handshake)" % st.get("cuts"))
    reasons = [l.split(" ", 2)[2] for l in lines if l.startswith("event disconnected ")]
    if not failures:
        ok("reconnect: %d messages at the hub, first arrivals in order, %d duplicates (%s) after %d reconnects "
           "(window %d); connects full/resumed/full/resumed with CalcSign 1/0/1/0 at the simulator, %d failed "
           "attempt(s) (cut handshake) with none; back-off delays %s ms; drops seen as: %s; mid-stream cuts "
           "noticed after %s ms; the relay dropped %d bytes of dead sessions; handshakes %s ms, stack %s B"
           % (len(first), len(dups), sorted(dups), len(good) - 1, cfg["window"], len(bad), ", ".join(delays),
              "; ".join(reasons), noticed, st.get("stale_bytes_dropped", 0), [c.get("hs") for c in good],
              [c.get("stack") for c in good]))


# Firmware objects are named DIRNAME_FILE.o by tests/qemu/fw_build.sh.
ORIGINS = [("tls_fw_", "firmware scenario (tls_fw)"), ("hub_fw_", "board: UART1, flash, shared hub glue (hub_fw)"),
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
    elif cmd == "resume" and len(sys.argv) == 6:
        check_resume(*sys.argv[2:])
    elif cmd == "reconnect" and len(sys.argv) == 11:
        check_reconnect(*sys.argv[2:])
    else:
        print(__doc__)
        return 2
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
