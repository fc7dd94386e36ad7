#!/usr/bin/env python3
"""A TLS "broker" that refuses every connection after its CONNECT, for
iothub_reconnect_pace.sh: MODE close answers CONNACK 0 (accepted) and closes
the connection at the next packet, the SUBSCRIBE (a hub dropping a throttled
or over-quota device right after CONNACK); MODE refuse3 answers CONNACK 3 (server unavailable) and
closes; MODE silent takes the CONNECT and answers nothing, closing after
HOLD seconds. One line per connection in LOG: "<ms since start> <mode>
<resumed>". With CLIENT_CA the server asks for a client certificate signed
by it, and every connection gets a new TLS context, so no session is
resumed: a device with the key in the chip signs in every handshake.

usage: iothub_reconnect_pace.py CERT KEY PORT_FILE LOG MODE [HOLD [CLIENT_CA]]"""
import ssl
import sys
import threading
import time

from iothub_proxy import listen  # the same listening socket and port file

cert, key, port_file, log, mode = sys.argv[1:6]
hold = float(sys.argv[6]) if len(sys.argv) > 6 else 0.0
client_ca = sys.argv[7] if len(sys.argv) > 7 else None
t0 = time.monotonic()
lock = threading.Lock()


def read_packet(s):
    """One MQTT packet (fixed header + remaining length + body), or None."""
    first = s.recv(1)
    if not first:
        return None
    n, mult = 0, 1
    for _ in range(4):
        b = s.recv(1)
        if not b:
            return None
        n += (b[0] & 0x7F) * mult
        mult *= 128
        if not b[0] & 0x80:
            break
    body = b""
    while len(body) < n:
        chunk = s.recv(n - len(body))
        if not chunk:
            return None
        body += chunk
    return first[0], body


def serve(conn):
    try:
        pkt = read_packet(conn)
        if pkt is None or pkt[0] >> 4 != 1:
            return
        with lock:
            with open(log, "a") as f:
                f.write("%d %s %d\n" % (int((time.monotonic() - t0) * 1000), mode, conn.session_reused))
        if mode == "close":
            conn.sendall(b"\x20\x02\x00\x00")
            read_packet(conn)  # the SUBSCRIBE: the device saw the CONNACK
        elif mode == "refuse3":
            conn.sendall(b"\x20\x02\x00\x03")
        else:
            time.sleep(hold)
    except (OSError, ssl.SSLError):
        pass
    finally:
        try:
            conn.close()
        except OSError:
            pass


def context():
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    if client_ca:
        ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.load_verify_locations(client_ca)
    return ctx


def main():
    ctx = context()
    ls = listen(port_file)
    while True:
        raw, _ = ls.accept()
        try:
            raw.settimeout(20)
            if client_ca:
                ctx = context()
            conn = ctx.wrap_socket(raw, server_side=True)
        except (OSError, ssl.SSLError):
            raw.close()
            continue
        threading.Thread(target=serve, args=(conn,), daemon=True).start()


main()
