#!/usr/bin/env python3
"""Host-side checks of the IoT Hub firmware run on QEMU (tests/qemu/hub_m4.sh).

  hub_check.py username ROOT HOST DEVICE      the CONNECT user name the spec asks for
  hub_check.py sas HOST DEVICE KEY_B64 SE     the SAS password the spec asks for
  hub_check.py run ROOT OUT SUB BROKER_LOG USER_NAME [paced]
  hub_check.py refused OUT EXIT_CODE BROKER_LOG_PART SUB_LINES_BEFORE SUB

Expected values come from /work/shared/spec/azure-iot-mqtt.md (sections 1.2,
1.3, 2, 4, 6) and tests/vectors/iothub/topics.vec, computed here with
Python's own hmac/base64, never from the client's code. Exit 0 when every
check holds, 1 with the failed checks listed.
"""
import base64
import hashlib
import hmac
import re
import sys

UNRESERVED = set(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~")
N = 20
HOST = "qemu-hub.azure-devices.net"
DEV = "dev-01"


def urlenc(s):
    """Spec 1.3 (Embedded C rule): every byte outside A-Z a-z 0-9 - _ . ~ as %XX, upper-case hex."""
    return "".join(chr(b) if b in UNRESERVED else "%%%02X" % b for b in s.encode())


def client_type(root):
    m = re.search(r'#define IOTHUB_CLIENT_TYPE "([^"]*)"', open(root + "/include/iothub/iothub.h").read())
    return m.group(1)


def username(root, host, dev):
    # spec 1.2: {host}/{deviceId}/?api-version=2021-04-12 + DeviceClientType={urlenc}
    return "%s/%s/?api-version=2021-04-12&DeviceClientType=%s" % (host, dev, urlenc(client_type(root)))


def sas(host, dev, key_b64, se):
    # spec 1.3: sr = urlenc(resource), sign urlenc(resource) "\n" se with the
    # base64-decoded key, sig = urlenc(base64(mac)), no skn for a device key
    sr = urlenc("%s/devices/%s" % (host, dev))
    mac = hmac.new(base64.b64decode(key_b64), ("%s\n%d" % (sr, se)).encode(), hashlib.sha256).digest()
    return "SharedAccessSignature sr=%s&sig=%s&se=%d" % (sr, urlenc(base64.b64encode(mac).decode()), se)


def vectors(root):
    """Device telemetry vectors for dev-01 in file order: (expected topic, props)."""
    out = []
    for line in open(root + "/tests/vectors/iothub/topics.vec"):
        f = line.rstrip("\n").split("\t")
        if f[0] == "telemetry" and f[2] == "dev-01" and f[3] == "-":
            out.append((f[4], f[5:]))
    return out


def parse_out(path):
    kv, lines = {}, open(path, errors="replace").read().splitlines()
    for l in lines:
        m = re.match(r"^([A-Za-z0-9_.]+)=([0-9a-f]*)$", l)
        if m:
            kv.setdefault(m.group(1), []).append(bytes.fromhex(m.group(2)))
            continue
        m = re.match(r"^([A-Za-z0-9_.]+) (.*)$", l)
        if m:
            kv.setdefault(m.group(1), []).append(m.group(2))
    return kv, lines


def one(kv, k):
    v = kv.get(k, [])
    return v[0] if len(v) == 1 else None


class Checks:
    def __init__(self):
        self.bad = []

    def __call__(self, ok, what):
        if not ok:
            self.bad.append(what)
        return ok


def broker_connects(log_lines, cid):
    out = []
    for l in log_lines:
        m = re.search(r"New client connected from \S+ as (\S+) \(p(\d+), c(\d+), k(\d+)(?:, u'(.*)')?\)\.$", l)
        if m and m.group(1) == cid:
            out.append(m.groups())
    return out


def run(root, out_path, sub_path, log_path, user_name, mode=""):
    ck = Checks()
    kv, out_lines = parse_out(out_path)
    log = open(log_path, errors="replace").read().splitlines()
    sub = [l for l in open(sub_path, errors="replace").read().splitlines() if l]
    ck("DONE" in kv, "the firmware did not print DONE")
    ck(user_name == username(root, HOST, DEV), "user name given to the broker is not the spec's")

    # CONNECT: client id, user name, protocol level, clean session, keep-alive
    # as the broker saw them; the password was checked by the broker itself
    # (password_file holds the SAS token computed by this script)
    conns = broker_connects(log, DEV)
    ck(len(conns) == 1, "broker: expected exactly one accepted connection as client id %s, saw %d" % (DEV, len(conns)))
    if conns:
        cid, proto, clean, ka, user = conns[0]
        ck(proto == "2", "broker: protocol is not MQTT 3.1.1 (p%s)" % proto)
        ck(clean == "0", "broker: clean session is set (IoT Hub devices keep their session)")
        ck(ka == "4", "broker: keep-alive %s, firmware configured 4" % ka)
        ck(user == user_name, "broker: user name %r, spec %r" % (user, user_name))

    # subscriptions as the broker recorded them (spec 4 C2D QoS 1, 5 twin, 6 methods)
    want_subs = {"devices/%s/messages/devicebound/#" % DEV: "1", "$iothub/twin/res/#": "0",
                 "$iothub/twin/PATCH/properties/desired/#": "0", "$iothub/methods/POST/#": "0"}
    got_subs = {}
    for l in log:
        m = re.match(r"^\d+: %s (\d) (\S+)$" % re.escape(DEV), l)
        if m:
            got_subs[m.group(2)] = m.group(1)
    ck(got_subs == want_subs, "broker: subscriptions %r, expected %r" % (got_subs, want_subs))

    # telemetry: exactly N, in order, topics equal to the vectors, payloads as stored
    vec = vectors(root)
    ck(len(vec) == 5, "topics.vec: expected 5 device telemetry vectors for dev-01, found %d" % len(vec))
    tel = [l.rsplit(" ", 1) for l in sub if "/messages/events/" in l]
    ck(len(tel) == N, "observer: %d telemetry messages, expected %d" % (len(tel), N))
    stored = [re.match(r"^(\d+) set (\d+) payload=([0-9a-f]+)$", s) for s in kv.get("stored", [])]
    ck(len(stored) == N and all(stored), "firmware: %d stored lines, expected %d" % (len(stored), N))
    for i in range(min(N, len(tel))):
        topic, hexp = tel[i] if len(tel[i]) == 2 else (tel[i][0], "")
        want_topic = vec[i % 5][0] if len(vec) == 5 else None
        ck(topic == want_topic, "message %d: topic %r, vector %r" % (i, topic, want_topic))
        want_payload = ('{"n":%d,"fw":"qemu-m4"}' % i).encode()
        try:
            got = bytes.fromhex(hexp)
        except ValueError:
            got = None
        ck(got == want_payload, "message %d: payload %r, expected %r" % (i, got, want_payload))
        if i < len(stored) and stored[i]:
            ck(int(stored[i].group(1)) == i and int(stored[i].group(2)) == i % 5
               and bytes.fromhex(stored[i].group(3)) == want_payload,
               "firmware: stored line %d does not match message %d" % (i, i))
    pubs = [l for l in log if re.search(r"Received PUBLISH from %s \(d0, q1, r0, m\d+, 'devices/%s/messages/events/"
                                        % (re.escape(DEV), re.escape(DEV)), l)]
    ck(len(pubs) == N, "broker: %d first-time QoS 1 telemetry PUBLISHes from %s, expected %d" % (len(pubs), DEV, N))
    ck(not any(re.search(r"Received PUBLISH from %s \(d1" % re.escape(DEV), l) for l in log),
       "broker: the firmware retransmitted (DUP) in a clean run")

    # the firmware's own account: every message acknowledged, outbox empty, flash rules kept
    ck(sorted(int(a) for a in kv.get("acked", [])) == list(range(N)), "firmware: acknowledged seqs are not 0..%d" % (N - 1))
    for k, v in (("stats.published", N), ("stats.acked", N), ("outbox.stored", N), ("outbox.acked", N),
                 ("outbox.dropped", 0), ("outbox.refused", 0), ("outbox_count", 0), ("flash.violations", 0),
                 ("stats.connects", 1), ("stats.connect_attempts", 1), ("stats.retransmitted", 0),
                 ("stats.c2d_received", 1), ("uart.opens", 1), ("connected_at_end", 1)):
        ck(one(kv, k) == str(v), "firmware: %s is %r, expected %d" % (k, one(kv, k), v))
    ck(int(one(kv, "flash.programs") or 0) >= N, "firmware: fewer flash programs than messages stored")

    # C2D as sent by mosquitto_pub: bag still encoded, properties decoded
    ck(one(kv, "c2d.bag") == b"%24.mid=m1&k=v", "firmware: C2D bag %r" % one(kv, "c2d.bag"))
    ck(one(kv, "c2d.payload") == b"hello from the cloud", "firmware: C2D payload %r" % one(kv, "c2d.payload"))
    ck(c2d_props(out_lines) == [("$.mid", "m1"), ("k", "v")], "firmware: C2D properties %r" % c2d_props(out_lines))

    # the method call and its answer as the broker carried it
    ck(one(kv, "method.name") == b"reboot", "firmware: method name %r" % one(kv, "method.name"))
    ck(one(kv, "method.rid") == b"7", "firmware: method rid %r" % one(kv, "method.rid"))
    ck(one(kv, "method.payload") == b'{"delay":5}', "firmware: method payload %r" % one(kv, "method.payload"))
    res = [l.rsplit(" ", 1) for l in sub if l.startswith("$iothub/methods/res/")]
    ck(len(res) == 1, "observer: %d method responses, expected 1" % len(res))
    if len(res) == 1:
        ck(res[0][0] == "$iothub/methods/res/200/?$rid=7", "observer: method response topic %r" % res[0][0])
        body = one(kv, "method.response")
        ck(body is not None and len(res[0]) == 2 and res[0][1] == body.hex(),
           "observer: method response body differs from what the firmware sent")
    # the twin: reported patch as the broker carried it, the hub's 204 with
    # the new $version and a desired notification as the firmware parsed them
    # (spec 4)
    patch, prid = one(kv, "twin.patch"), one(kv, "twin.patch_rid")
    rep = [l.rsplit(" ", 1) for l in sub if l.startswith("$iothub/twin/PATCH/properties/reported/")]
    ck(patch == b'{"fw":"qemu-m4","telemetry_acked":20}', "firmware: twin patch %r" % patch)
    ck(len(rep) == 1 and prid is not None and rep[0][0] == "$iothub/twin/PATCH/properties/reported/?$rid=" + prid
       and len(rep[0]) == 2 and patch is not None and rep[0][1] == patch.hex(),
       "observer: reported patch %r, firmware rid %r" % (rep, prid))
    for k, v in (("twin.res.status", "204"), ("twin.res.rid_number", prid), ("twin.res.version", "2"),
                 ("twin.desired.version", "4")):
        ck(one(kv, k) == v, "firmware: %s is %r, expected %r" % (k, one(kv, k), v))
    ck(one(kv, "twin.res.rid") == (prid or "").encode(), "firmware: twin response rid %r" % one(kv, "twin.res.rid"))
    ck(one(kv, "twin.res.payload") == b"", "firmware: twin 204 response has a body")
    ck(one(kv, "twin.desired.payload") == b'{"interval":30,"$version":4}',
       "firmware: desired payload %r" % one(kv, "twin.desired.payload"))

    # the C2D message (QoS 1) was acknowledged, so the hub would not send it
    # again; the 3000-byte one before it (larger than the 1 KB rx buffer) was
    # skipped and NOT acknowledged (the hub delivers it again later:
    # include/iothub/client.h, rx_too_large)
    def mid_of(bag):
        return [m.group(1) for m in (re.search(r"Sending PUBLISH to %s \(d0, q1, r0, m(\d+), 'devices/%s/messages/devicebound/%s'"
                                               % (re.escape(DEV), re.escape(DEV), re.escape(bag)), l) for l in log) if m]

    def acked_mid(mid):
        return any(re.search(r"Received PUBACK from %s \(Mid: %s, RC:0\)$" % (re.escape(DEV), mid), l) for l in log)
    small, big = mid_of("%24.mid=m1&k=v"), mid_of("%24.mid=big")
    ck(len(small) == 1 and len(big) == 1, "broker: C2D deliveries to %s: %r / %r, expected one each" % (DEV, small, big))
    ck(len(small) == 1 and acked_mid(small[0]), "broker: the C2D message was not acknowledged (PUBACK)")
    ck(len(big) == 1 and not acked_mid(big[0]), "broker: the oversized C2D message was acknowledged")
    # the paced pass reconnects the same persistent session (clean session
    # 0): the broker first delivers the oversized message of the main pass
    # again (DUP), which the client skips again: nothing was lost
    redelivered = [l for l in log if re.search(r"Sending PUBLISH to %s \(d1, q1, r0, m\d+, 'devices/%s/messages/devicebound/%%24\.mid=big'"
                                               % (re.escape(DEV), re.escape(DEV)), l)]
    want_skip = 2 if mode == "paced" else 1
    ck(len(redelivered) == want_skip - 1, "broker: %d redeliveries of the oversized C2D message, expected %d"
       % (len(redelivered), want_skip - 1))
    ck(one(kv, "stats.rx_too_large") == str(want_skip),
       "firmware: rx_too_large %r, expected %d" % (one(kv, "stats.rx_too_large"), want_skip))

    # keep-alive: in the main pass the firmware idled 4.5 s with a 4 s
    # keep-alive: one PINGREQ answered, still connected, no reconnect
    pings = [l for l in log if re.search(r"Received PINGREQ from %s$" % re.escape(DEV), l)]
    pongs = [l for l in log if re.search(r"Sending PINGRESP to %s$" % re.escape(DEV), l)]
    if mode != "paced":
        ck(len(pings) >= 1 and len(pongs) == len(pings), "broker: PINGREQ %d, PINGRESP %d from/to %s after the idle spell"
           % (len(pings), len(pongs), DEV))
        ck(one(kv, "idle_connected") == "1", "firmware: not connected after the idle spell")

    got_disc = any(re.search(r"Received DISCONNECT from %s$" % re.escape(DEV), l) for l in log)
    if mode == "paced":
        # the UART's transmitter modelled at a baud rate: send() returned 0
        # while busy, and everything above still arrived intact and in order
        ck(int(one(kv, "uart.tx_full") or 0) > 0, "paced run: the transport never reported busy")
        ck(one(kv, "uart.baud") is not None, "paced run: the firmware did not take the baud rate")
        # Finding F1 (fixed): a DISCONNECT that a busy transport did not take
        # at once used to be dropped; iothub_client_disconnect() now waits
        # for the transport (mqtt_client_disconnect_within()).
    ck(got_disc, "broker: no DISCONNECT from the firmware")
    return report(ck, "run")


def c2d_props(lines):
    out = []
    for l in lines:
        m = re.match(r"^c2d\.prop=([0-9a-f]*)(?: ([0-9a-f]*))?$", l)
        if m:
            out.append((bytes.fromhex(m.group(1)).decode(errors="replace"),
                        None if m.group(2) is None else bytes.fromhex(m.group(2)).decode(errors="replace")))
    return out


def refused(out_path, rc, log_path, sub_before, sub_path):
    ck = Checks()
    kv, _ = parse_out(out_path)
    log = open(log_path, errors="replace").read().splitlines()
    ck(rc == "4", "firmware exit code %s, expected 4 (AUTH_FAILED)" % rc)
    af = one(kv, "AUTH_FAILED")
    ck(af is not None and af.startswith("refused: not authorized"), "firmware: AUTH_FAILED line %r" % af)
    ck("READY" not in kv and "stored" not in kv and "DONE" not in kv, "firmware went on after the refusal")
    ck(len([l for l in log if re.search(r"Sending CONNACK to \S+ \(0, 5\)", l)]) == 1,
       "broker: not exactly one CONNACK 5 (not authorised)")
    ck(not any(re.search(r"Sending CONNACK to \S+ \(0, 0\)", l) for l in log), "broker: accepted a CONNECT")
    ck(not broker_connects(log, DEV), "broker: accepted a connection as %s" % DEV)
    ck(not any(re.search(r"Received (PUBLISH|SUBSCRIBE) from %s" % re.escape(DEV), l) for l in log),
       "broker: the refused firmware published or subscribed")
    ck(len([l for l in open(sub_path).read().splitlines() if l]) == int(sub_before),
       "observer: new messages arrived during the refused run")
    return report(ck, "refused")


def report(ck, what):
    if ck.bad:
        for b in ck.bad:
            print("check failed: " + b)
        return 1
    print("ok: %s checks passed" % what)
    return 0


def main(a):
    if a[:1] == ["username"] and len(a) == 4:
        print(username(a[1], a[2], a[3]))
        return 0
    if a[:1] == ["sas"] and len(a) == 5:
        print(sas(a[1], a[2], a[3], int(a[4])))
        return 0
    if a[:1] == ["run"] and len(a) in (6, 7):
        return run(*a[1:])
    if a[:1] == ["refused"] and len(a) == 6:
        return refused(*a[1:])
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
