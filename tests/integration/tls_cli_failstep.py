#!/usr/bin/env python3
"""TCP proxy between the trustm CLI and trustm-sim (tls_cli_failstep.sh).

Forwards both ways and cuts both connections
- mode 'keygen': when the host sends the first CalcSign APDU (B1 11) after a
  GenKeyPair APDU (B8 03/04): the chip step that follows the key generation
  in 'trustm personalize' fails, as a dropped bus or a reset chip would;
- mode 'e140': when the host sends SetDataObject (82 40) to 0xE140, before
  it reaches the chip ('trustm bind' fails at its chip write).
- mode 'keyexec': when the host sends its second protected record (a data
  frame with PCTR 08 and SCTR 23): in 'trustm bind' the first is the proof
  (GetRandom), the second the write of the key's Execute condition, so the
  chip is bound but the key is not restricted.
- mode 'cut:OOOO' (hex object id): when the host sends SetDataObject to
  that object, before it reaches the chip.
- mode 'deny:OOOO:K': forwards everything, but the K-th SetDataObject APDU
  to object OOOO is sent to the chip as one to 0xE0E0 (the factory
  certificate, change condition NEV), its frame checksum recomputed: the
  chip refuses that write with an error while the link stays up, as a
  chip refuses a write it does not allow. K = 2 hits the second chunk of a
  write longer than one APDU (TRUSTM_WRITE_CHUNK, 1549 bytes).
Usage: PORT_FILE UPSTREAM_PORT MODE.
Writes its listening port into PORT_FILE once ready; 'cut' is appended to
PORT_FILE.log when it cut a connection.
"""
import os
import re
import select
import socket
import sys

E140_WRITE = re.compile(rb"\x82\x40..\xe1\x40", re.S)
# I2C write to the data register: 80, FCTR (data frame), LEN, PCTR 08, SCTR 23.
PROTECTED_RECORD = re.compile(rb"\x80[\x00-\x7f]\x00.\x08\x23", re.S)


def crc16(data):
    """The data-link CRC of the Trust M frames (sim/codec.c sim_crc16)."""
    crc = 0
    for b in data:
        for _ in range(8):
            crc = (crc >> 1) ^ 0x8408 if (crc ^ b) & 1 else crc >> 1
            b >>= 1
    return crc


class Rewriter:
    """Parses the socket requests (docs/sim-socket-protocol.md) the host
    sends and rewrites the object id of the K-th SetDataObject to one."""

    def __init__(self, oid, k):
        self.oid, self.k, self.seen, self.buf, self.done = oid, k, 0, b"", False

    def feed(self, d):
        self.buf += d
        out = b""
        while len(self.buf) >= 4:
            op, n = self.buf[0], int.from_bytes(self.buf[2:4], "big")
            size = 4 if op == 0x02 else 4 + n
            if len(self.buf) < size:
                break
            req, self.buf = bytearray(self.buf[:size]), self.buf[size:]
            # write to the data register: 80 FCTR LEN(2) PCTR APDU... FCS(2);
            # a data frame (FCTR bit 7 clear) whose packet starts an APDU
            f = req[4:]
            if (op == 0x01 and len(f) >= 13 and f[0] == 0x80 and not f[1] & 0x80
                    and f[5] == 0x82 and f[6] in (0x00, 0x40)
                    and int.from_bytes(f[9:11], "big") == self.oid):
                self.seen += 1
                if self.seen == self.k:
                    f[9:11] = b"\xe0\xe0"
                    c = crc16(f[1:-2])
                    f[-2:] = c.to_bytes(2, "big")
                    req[4:] = f
                    self.done = True
            out += bytes(req)
        return out


def main():
    port_file, up_port, mode = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", 0))
    ls.listen(4)
    with open(port_file + ".tmp", "w") as f:
        f.write(str(ls.getsockname()[1]))
    os.rename(port_file + ".tmp", port_file)
    while True:
        c, _ = ls.accept()
        u = socket.create_connection(("127.0.0.1", up_port))
        rw = None
        if mode.startswith("deny:"):
            _, o, k = mode.split(":")
            rw = Rewriter(int(o, 16), int(k))
        cut_write = None
        if mode.startswith("cut:"):
            o = int(mode[4:], 16)
            cut_write = re.compile(rb"\x82[\x00\x40]..%s" % re.escape(o.to_bytes(2, "big")), re.S)
        seen_keygen = False
        records = 0
        tail = b""
        cut = False
        while not cut:
            r, _, _ = select.select([c, u], [], [])
            if c in r:
                d = c.recv(65536)
                if not d:
                    break
                tail = (tail + d)[-4096:]
                if rw is not None:
                    was = rw.done
                    d = rw.feed(d)
                    if rw.done and not was:
                        with open(port_file + ".log", "a") as f:
                            f.write("rewritten\n")
                elif cut_write is not None:
                    cut = cut_write.search(tail) is not None
                elif mode == "e140":
                    cut = E140_WRITE.search(tail) is not None
                elif mode == "keyexec":
                    if PROTECTED_RECORD.search(d) is not None:
                        records += 1
                    cut = records == 2
                elif not seen_keygen and (b"\xb8\x03\x00" in tail or b"\xb8\x04\x00" in tail):
                    seen_keygen = True
                    tail = b""
                elif seen_keygen and b"\xb1\x11\x00" in tail:
                    cut = True
                if cut:
                    with open(port_file + ".log", "a") as f:
                        f.write("cut\n")
                    break
                u.sendall(d)
            if u in r:
                d = u.recv(65536)
                if not d:
                    break
                c.sendall(d)
        c.close()
        u.close()


if __name__ == "__main__":
    main()
