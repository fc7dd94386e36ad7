#!/usr/bin/env python3
"""Checks the output of the QEMU Cortex-M4 firmware (tests/qemu/fw_main.c)
on the host, with openssl, and reads the simulator's statistics.

  check_run.py stats SOCK                   print trustm-sim's statistics JSON (op 0x05)
  check_run.py output OUT WORKDIR CADIR     check one "all" run's output
  check_run.py stats-delta BEFORE AFTER     check the commands that arrived
  check_run.py flash OUT                    check the MCU flash log run (fw_flash.c)

Exit 0 when every check passes; otherwise one line per failure and exit 1.
The firmware judges nothing: every value here comes from its printed hex.
"""
import hashlib
import json
import os
import socket
import struct
import subprocess
import sys

failures = []


def fail(msg):
    failures.append(msg)
    print("FAIL: " + msg)


def ok(msg):
    print("ok: " + msg)


def sim_stats(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect(path)
    s.sendall(bytes([0x05, 0x30, 0, 0]))

    def rd(n):
        b = b""
        while len(b) < n:
            c = s.recv(n - len(b))
            if not c:
                raise SystemExit("FAIL: simulator closed the connection")
            b += c
        return b

    st, ln = struct.unpack(">BH", rd(3))
    body = rd(ln)
    s.close()
    if st != 0:
        raise SystemExit("FAIL: statistics request answered with status 0x%02x" % st)
    return json.loads(body)


def parse(out):
    vals, stack, oks, other = {}, {}, set(), []
    for line in out.splitlines():
        if line.startswith("stack "):
            _, phase, op, n = line.split()
            stack[(phase, op)] = int(n)
        elif line.startswith("ok "):
            oks.add(tuple(line.split()[1:3]))
        elif "=" in line and "." in line.split("=")[0]:
            k, v = line.split("=", 1)
            vals[k] = v
        else:
            other.append(line)
    return vals, stack, oks, other


def der_len(n):
    if n < 0x80:
        return bytes([n])
    b = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(b)]) + b


def der_int(b):
    b = b.lstrip(b"\0") or b"\0"
    if b[0] & 0x80:
        b = b"\0" + b
    return b"\x02" + der_len(len(b)) + b


def rs_to_der(rs):
    body = der_int(rs[:32]) + der_int(rs[32:])
    return b"\x30" + der_len(len(body)) + body


def unwrap_cert(obj):
    """0xE0E0 content: the TLS-identity wrapper C0 len(2) chainlen(3)
    certlen(3) cert ..., or a plain DER certificate."""
    if obj[:1] == b"\xc0":
        n = int.from_bytes(obj[1:3], "big")
        if n + 3 != len(obj):
            raise ValueError("wrapper length %d, object %d bytes" % (n, len(obj)))
        clen = int.from_bytes(obj[6:9], "big")
        return obj[9:9 + clen]
    return obj


P256_SPKI = bytes.fromhex("3059301306072a8648ce3d020106082a8648ce3d030107034200")


def openssl(*args, input_=None):
    return subprocess.run(["openssl"] + list(args), input=input_, capture_output=True)


def verify(pub_pem, digest, sig_der, work, tag):
    """True when openssl accepts sig_der over the digest under pub_pem."""
    dpath = os.path.join(work, tag + ".dgst")
    spath = os.path.join(work, tag + ".sig")
    with open(dpath, "wb") as f:
        f.write(digest)
    with open(spath, "wb") as f:
        f.write(sig_der)
    r = openssl("pkeyutl", "-verify", "-pubin", "-inkey", pub_pem, "-in", dpath, "-sigfile", spath)
    return r.returncode == 0 and b"Signature Verified Successfully" in r.stdout


def check_output(out_path, work, cadir):
    out = open(out_path).read()
    vals, stack, oks, other = parse(out)
    if "DONE" not in other:
        fail("the firmware did not finish (no DONE line)")
    certs = {}
    for ph in ("plain", "shield"):
        def h(k):
            v = vals.get(ph + "." + k)
            if v is None:
                fail("%s: no %s printed" % (ph, k))
                return b""
            return bytes.fromhex(v)

        cert = unwrap_cert(h("cert_obj"))
        certs[ph] = cert
        cder = os.path.join(work, ph + "_cert.der")
        cpem = os.path.join(work, ph + "_cert.pem")
        kpem = os.path.join(work, ph + "_cert_pub.pem")
        with open(cder, "wb") as f:
            f.write(cert)
        if openssl("x509", "-inform", "DER", "-in", cder, "-out", cpem).returncode != 0:
            fail("%s: the 0xE0E0 certificate does not parse" % ph)
            continue
        r = openssl("verify", "-CAfile", os.path.join(cadir, "root.pem"), "-untrusted",
                    os.path.join(cadir, "ca.pem"), cpem)
        if r.returncode != 0:
            fail("%s: the certificate does not verify against the simulator's CA chain: %s"
                 % (ph, r.stdout.decode() + r.stderr.decode()))
        else:
            ok("%s: 0xE0E0 certificate (%d bytes DER) parses and verifies against the sim's CA chain"
               % (ph, len(cert)))
        openssl("x509", "-in", cpem, "-pubkey", "-noout", "-out", kpem)

        rnd, msg, digest = h("random"), h("msg"), h("digest")
        if len(rnd) != 32 or msg[:32] != rnd:
            fail("%s: random is not 32 bytes or not the start of the message" % ph)
        if hashlib.sha256(msg).digest() != digest:
            fail("%s: the chip's SHA-256 of the message is wrong" % ph)
        else:
            ok("%s: CalcHash digest = SHA-256(message)" % ph)

        sig_der, sig_rs = h("sig_e0f0_der"), h("sig_e0f0_rs")
        for tag, sig in (("sig_e0f0_der", sig_der), ("sig_e0f0_rs", rs_to_der(sig_rs))):
            if verify(kpem, digest, sig, work, ph + "_" + tag):
                ok("%s: %s verifies with the certificate's public key" % (ph, tag))
            else:
                fail("%s: %s does not verify with the certificate's public key" % (ph, tag))
        pub = h("pub_e0f1")
        ppem = os.path.join(work, ph + "_e0f1.pem")
        if len(pub) != 65 or pub[0] != 4:
            fail("%s: 0xE0F1 public key is not an uncompressed P-256 point" % ph)
            continue
        r = openssl("pkey", "-pubin", "-inform", "DER", "-out", ppem, input_=P256_SPKI + pub)
        if r.returncode != 0:
            fail("%s: 0xE0F1 public key is not on the curve" % ph)
            continue
        for tag in ("sig_e0f1", "sig_e0f1_restored"):
            if verify(ppem, digest, h(tag), work, ph + "_" + tag):
                ok("%s: %s verifies with the generated 0xE0F1 public key" % (ph, tag))
            else:
                fail("%s: %s does not verify with the generated 0xE0F1 public key" % (ph, tag))

        # The checks must be able to fail: a corrupted signature, a signature
        # under the wrong key, a wrong digest.
        bad = bytearray(sig_der)
        bad[-3] ^= 0x01
        if verify(kpem, digest, bytes(bad), work, ph + "_neg1"):
            fail("%s: a corrupted signature was accepted" % ph)
        if verify(kpem, digest, h("sig_e0f1"), work, ph + "_neg2"):
            fail("%s: the 0xE0F1 signature verified under the 0xE0F0 key" % ph)
        if verify(kpem, hashlib.sha256(b"other").digest(), sig_der, work, ph + "_neg3"):
            fail("%s: the signature verified over another digest" % ph)
        ok("%s: corrupted signature, wrong key and wrong digest are rejected by the same check" % ph)

        for step in ("open", "open_app", "close_app_hibernate", "reset_warm", "open_app_restore"):
            if (ph, step) not in oks:
                fail("%s: step %s not reported" % (ph, step))
    if certs.get("plain") and certs.get("plain") != certs.get("shield"):
        fail("plain and shielded reads of 0xE0E0 differ")
    if vals.get("plain.pub_e0f1") and vals.get("plain.pub_e0f1") == vals.get("shield.pub_e0f1"):
        fail("the two GenKeyPair runs gave the same key")
    # the stack table for docs/qemu-m4.md
    ops = sorted({op for (_, op) in stack}, key=lambda o: [k[1] for k in stack].index(o))
    print("stack high-water marks (bytes; plain / shielded):")
    for op in ops:
        print("  %-26s %6s %6s" % (op, stack.get(("plain", op), "-"), stack.get(("shield", op), "-")))
    print("  %-26s %6d" % ("max", max(stack.values()) if stack else 0))


def by_name(st):
    d = {}
    for c in st["commands"]:
        d[c["name"]] = d.get(c["name"], 0) + c["count"]
    return d


def check_delta(before_path, after_path):
    b = json.load(open(before_path))
    a = json.load(open(after_path))
    cb, ca = by_name(b), by_name(a)
    delta = {k: ca.get(k, 0) - cb.get(k, 0) for k in ca}
    # two runs (plain, shielded) of: open_app, restore; 4 CalcSign; ...
    exact = {"OpenApplication": 4, "CloseApplication": 4, "GetRandom": 2, "CalcHash": 2,
             "CalcSign": 8, "GenKeyPair": 2, "prl_hello": 1, "prl_finished": 1, "prl_control": 2}
    for k, n in exact.items():
        if delta.get(k, 0) != n:
            fail("simulator saw %d %s during the run, expected %d" % (delta.get(k, 0), k, n))
    if delta.get("GetDataObject", 0) < 4:
        fail("simulator saw %d GetDataObject, expected at least 4" % delta.get("GetDataObject", 0))
    warm = a["resets"]["warm"] - b["resets"]["warm"]
    if warm != 2:
        fail("simulator saw %d warm resets (RST pin), expected 2" % warm)
    slept = a["bus"]["host_sleep_us"] - b["bus"]["host_sleep_us"]
    if slept < 1000000:
        fail("the board glue reported only %d us of host time (op 0x07)" % slept)
    if not failures:
        ok("simulator statistics: " + ", ".join("%s %d" % (k, v) for k, v in sorted(delta.items()) if v)
           + "; warm resets %d; host time reported %.1f s; bus transactions %d; busy polls %d;"
           " retransmits %d" % (warm, slept / 1e6, a["bus"]["transactions"] - b["bus"]["transactions"],
                                a["bus"]["busy_polls"] - b["bus"]["busy_polls"],
                                a["link"]["retransmits"] - b["link"]["retransmits"]))


def flash_record(seq, n):
    """What fw_flash.c stores for seq (make_record())."""
    return bytes((seq * 31 + i * 7 + 1) & 0xFF for i in range(n))


def check_flash(out_path):
    """Replays the flash run against a model: every list must name exactly
    the records put and not deleted, every get return what was put, and all
    of it again after each reopen (a reboot: only the flash survives)."""
    model, max_put, fulls, lists, gets = {}, 0, 0, 0, 0
    stats, stack, done = None, {}, False
    for ln, line in enumerate(open(out_path).read().splitlines(), 1):
        w = line.split()
        where = "line %d (%s)" % (ln, line[:60])
        if line == "DONE":
            done = True
        elif w[:1] == ["stack"] and len(w) == 4:
            stack[w[2]] = max(stack.get(w[2], 0), int(w[3]))
        elif w[:1] == ["flash.put"]:
            seq, data = int(w[1]), bytes.fromhex(w[2])
            if data != flash_record(seq, len(data)):
                fail("%s: not the record fw_flash.c makes for %d" % (where, seq))
            if seq <= max_put:
                fail("%s: seq not increasing" % where)
            model[seq], max_put = data, seq
        elif w[:1] == ["flash.del"]:
            if model.pop(int(w[1]), None) is None:
                fail("%s: deleted a record that was not there" % where)
        elif w[:1] == ["flash.list"]:
            got = [int(x) for x in w[2].split(",")] if len(w) > 2 else []
            lists += 1
            if got != sorted(model):
                fail("%s: listed %s, stored %s" % (where, got, sorted(model)))
        elif w[:1] == ["flash.get"]:
            gets += 1
            if model.get(int(w[1])) != bytes.fromhex(w[2]):
                fail("%s: get returned other bytes than the put" % where)
        elif w[:1] == ["flash.get_status"]:
            if int(w[1]) in model or "not found" not in line:
                fail("%s: a deleted record must be not found" % where)
        elif w[:1] == ["flash.reopen"]:
            if int(w[3]) != (max_put + 1 if max_put else 0):
                fail("%s: seq_end after reopen is %s, expected %d" % (where, w[3], max_put + 1))
        elif w[:1] == ["flash.full"]:
            fulls += 1
        elif w[:1] == ["flash.stats"]:
            stats = dict(zip(w[1::2], (int(x) for x in w[2::2])))
    if not done:
        fail("the flash run did not finish (no DONE)")
    if stats is None or stats.get("violations") != 0:
        fail("flash rule violations (unaligned, second program, outside): %s" % stats)
    elif stats.get("erases", 0) <= 4:
        fail("no sector was reclaimed (erases %s)" % stats.get("erases"))
    if fulls == 0:
        fail("the log never filled up: the reclaim path did not run")
    if lists < 5 or gets < 30:
        fail("too few lists/gets checked (%d, %d)" % (lists, gets))
    if not failures:
        ok("flash log on the target: %d records live, %d lists and %d gets match the model "
           "across 3 reopens; full %d times, %d erases, %d programs, 0 rule violations; "
           "stack: %s" % (len(model), lists, gets, fulls, stats["erases"], stats["programs"],
                          ", ".join("%s %d" % kv for kv in sorted(stack.items()))))


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "stats":
        print(json.dumps(sim_stats(sys.argv[2])))
        return 0
    if len(sys.argv) == 5 and sys.argv[1] == "output":
        check_output(sys.argv[2], sys.argv[3], sys.argv[4])
    elif len(sys.argv) == 3 and sys.argv[1] == "flash":
        check_flash(sys.argv[2])
    elif len(sys.argv) == 4 and sys.argv[1] == "stats-delta":
        check_delta(sys.argv[2], sys.argv[3])
    else:
        print(__doc__)
        return 2
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
