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
                if mode == "e140":
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
