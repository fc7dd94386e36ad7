#!/usr/bin/env python3
"""Misbehaving TLS servers for tls_hostile.sh (one connection each).

usage: tls_hostile_server.py MODE PORTFILE [CERT KEY]
Listens on 127.0.0.1 at a free port, writes the port to PORTFILE, serves one
connection, then exits (at most 60 s in all).

  trickle  plain TCP: after the ClientHello, a record header announcing a
           16,000-byte handshake record, then one body byte a second: every
           single read succeeds, the message never completes.
  oversize plain TCP: after the ClientHello, a handshake record header that
           announces 65,535 bytes (over any TLS 1.2 record limit).
  stall    TLS handshake (CERT, KEY), then never reads again: the client's
           sends fill the socket buffers and block.
  close    TLS handshake (CERT, KEY), then close: the client's next sends
           meet a reset, then EPIPE.
  alert:N  plain TCP: after the ClientHello, a fatal alert N (TLS 1.2
           record) instead of a ServerHello, then close.
"""
import socket
import ssl
import struct
import sys
import time

mode, portfile = sys.argv[1], sys.argv[2]
ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
ls.bind(("127.0.0.1", 0))
ls.listen(1)
ls.settimeout(30)
with open(portfile + ".tmp", "w") as f:
    f.write(str(ls.getsockname()[1]))
import os
os.replace(portfile + ".tmp", portfile)

s, _ = ls.accept()
s.settimeout(30)
start = time.monotonic()
if mode == "trickle":
    s.recv(4096)
    s.sendall(bytes([0x16, 3, 3]) + struct.pack(">H", 16000))
    try:
        while time.monotonic() - start < 40:
            s.sendall(b"\x02")
            time.sleep(1)
    except OSError:
        pass
    print("trickle: client left after %.1f s" % (time.monotonic() - start), flush=True)
elif mode.startswith("alert:"):
    s.recv(4096)
    s.sendall(bytes([0x15, 3, 3, 0, 2, 2, int(mode[6:])]))
    time.sleep(1)
elif mode == "oversize":
    s.recv(4096)
    s.sendall(bytes([0x16, 3, 3, 0xFF, 0xFF]) + b"\x02" * 100)
    time.sleep(40)
else:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(sys.argv[3], sys.argv[4])
    t = ctx.wrap_socket(s, server_side=True)
    print("%s: handshake done" % mode, flush=True)
    if mode == "stall":
        # Small receive buffer, never read: the client's window closes.
        time.sleep(40)
    elif mode == "close":
        # Plain close: the client's next records meet a reset, the ones
        # after that EPIPE (SIGPIPE for a write() without MSG_NOSIGNAL).
        t.close()
        time.sleep(2)
