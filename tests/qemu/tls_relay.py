#!/usr/bin/env python3
"""A TCP relay between QEMU's UART1 and the hub that the test can cut, for
qemu_tls_m4_reconnect (tests/qemu/tls_reconnect_m4.sh; docs/qemu-m4.md,
"Reconnects on the target").

  tls_relay.py PORT_FILE CONTROL_SOCKET LOG UPSTREAM_PORT

QEMU connects to the relay (its socket chardev in client mode with
reconnect=1: after the relay closes the connection, QEMU connects again
a second later). The relay plays the device's modem and the network:

* It opens a connection to the hub (127.0.0.1:UPSTREAM_PORT) only when the
  device starts a TLS handshake (a ClientHello record in the bytes from
  QEMU) and forwards both ways from there. Bytes that arrive while no hub
  connection is open (what the device still writes into its dead TLS
  session: PINGREQ, close_notify) are dropped, as a modem drops writes to
  a closed socket, and counted.
* The device's own end of a session (an alert record: close_notify) closes
  the hub's side after it is forwarded (a device on a socket closes it
  after close_notify; the UART has no close of its own), so the next
  handshake gets a fresh hub connection and no late byte of the old one.
* When the hub closes its side, QEMU's side stays (the serial link to a
  modem does not break when its socket closes): the device notices
  through its protocol (keep-alive, TLS), as it must through a UART.
* On command it cuts as a network that vanishes does: QEMU's side is
  closed (QEMU connects again a second later; what the device writes
  meanwhile is lost) and the hub's side goes silent: nothing more is
  forwarded either way, the hub's bytes are read and dropped, and the
  connection is left to the hub, which ends it when its keep-alive runs
  out (1.5 x the device's; after 10 s the relay resets it). Neither a FIN
  nor a reset reaches the hub at the cut: OpenSSL 3 treats an EOF without
  close_notify as a fatal error and removes the session from its cache
  (so a FIN cut would make every reconnect a full handshake), a real
  dropped link sends nothing at all.

Control: one line per connection to the Unix socket CONTROL_SOCKET, one
line back:
  cut               cut now ("ok cut", or "ok idle" when nothing is up)
  cut-after-up      cut right after the next device->hub TLS record is
                    forwarded whole (QEMU's UART writes byte by byte, so
                    the relay follows the record headers): the hub gets a
                    PUBLISH, its PUBACK is lost
  cut-handshake     on the next hub connection, cut when the hub's first
                    bytes come (ServerHello), without forwarding them
  upstream PORT     the hub's port for the next connections
  state             a JSON object with the counters
LOG gets one JSON object per line per event, with "t" in Unix ms.
The relay listens on 127.0.0.1 on a port the kernel picks and writes it to
PORT_FILE. It ends on SIGTERM.
"""
import json
import os
import selectors
import signal
import socket
import sys
import time


def now_ms():
    return int(time.time() * 1000)


def client_hello_at(buf):
    """Offset of a TLS record holding a ClientHello, or -1: content type 22,
    version 3.x, record length L, handshake type 1 with length L - 4."""
    i = buf.find(b"\x16\x03")
    while i >= 0 and i + 9 <= len(buf):
        rec = int.from_bytes(buf[i + 3:i + 5], "big")
        hs = int.from_bytes(buf[i + 6:i + 9], "big")
        if buf[i + 2] <= 3 and buf[i + 5] == 1 and rec >= 4 and hs == rec - 4:
            return i
        i = buf.find(b"\x16\x03", i + 1)
    return -1


class Relay:
    def __init__(self, port_file, control, log, upstream):
        self.sel = selectors.DefaultSelector()
        self.log_f = open(log, "a", buffering=1)
        self.upstream_port = upstream
        self.lis = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.lis.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lis.bind(("127.0.0.1", 0))
        self.lis.listen(4)
        self.sel.register(self.lis, selectors.EVENT_READ, "listen")
        if os.path.exists(control):
            os.unlink(control)
        self.ctl = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.ctl.bind(control)
        self.ctl.listen(4)
        self.sel.register(self.ctl, selectors.EVENT_READ, "control")
        self.dev = None       # QEMU's connection
        self.hub = None       # the hub's connection
        self.pending = b""    # device bytes while no hub connection is open
        self.draining = []    # (socket, deadline): hub sides being closed
        self.silent = {}      # socket -> (cut time, deadline): hub sides after a cut
        self.arm_after_up = False
        self.up_left = 0      # device->hub: bytes left in the current record
        self.up_type = 0      # device->hub: its content type
        self.up_records = 0   # device->hub: records on this hub connection
        self.arm_handshake = False
        self.cut_this_handshake = False
        self.n = {"device_connections": 0, "hub_connections": 0, "hub_refused": 0, "cuts": 0,
                  "stale_bytes_dropped": 0, "to_hub": 0, "to_device": 0, "hub_closed": 0}
        tmp = port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write("%d\n" % self.lis.getsockname()[1])
        os.rename(tmp, port_file)

    def log(self, ev, **kw):
        kw.update(t=now_ms(), ev=ev)
        self.log_f.write(json.dumps(kw) + "\n")

    def close_dev(self):
        if self.dev is not None:
            self.sel.unregister(self.dev)
            self.dev.close()
            self.dev = None
        self.pending = b""
        self.up_left = 0

    def close_hub(self):
        """FIN after what was forwarded (shutdown, then read and drop until
        the hub closes or 2 s pass): a close with unread input would send a
        reset, and the hub could lose the last bytes forwarded."""
        if self.hub is not None:
            self.sel.unregister(self.hub)
            try:
                self.hub.shutdown(socket.SHUT_WR)
                self.hub.setblocking(False)
                self.draining.append((self.hub, time.time() + 2.0))
                self.sel.register(self.hub, selectors.EVENT_READ, "drain")
            except OSError:
                self.hub.close()
            self.hub = None
        self.up_left = 0

    def cut(self, why):
        up = self.hub is not None
        self.n["cuts"] += 1
        self.log("cut", why=why, hub_was_open=up)
        if self.hub is not None:
            self.sel.unregister(self.hub)
            self.sel.register(self.hub, selectors.EVENT_READ, "silent")
            self.silent[self.hub] = (time.time(), time.time() + 10.0)
            self.hub = None
            self.up_left = 0
        self.close_dev()

    def open_hub(self):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.settimeout(2.0)
        try:
            s.connect(("127.0.0.1", self.upstream_port))
        except OSError as e:
            s.close()
            self.n["hub_refused"] += 1
            self.log("hub-refused", port=self.upstream_port, error=str(e))
            return False
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.setblocking(False)
        self.hub = s
        self.sel.register(s, selectors.EVENT_READ, "hub")
        self.n["hub_connections"] += 1
        self.up_left, self.up_records = 0, 0
        self.cut_this_handshake = self.arm_handshake
        self.arm_handshake = False
        self.log("hub-open", port=self.upstream_port, cut_in_handshake=self.cut_this_handshake)
        return True

    def to_hub(self, data):
        self.hub.setblocking(True)
        self.hub.sendall(data)
        self.hub.setblocking(False)
        self.n["to_hub"] += len(data)

    def from_device(self, data):
        """Device bytes: dropped until a ClientHello while no hub connection
        is open; then forwarded record by record (the relay follows the
        record headers): a record is forwarded as it comes, and at each
        record boundary the next header decides: an alert (the device's
        close_notify, or a fatal alert: its TLS session ends, so the modem's
        socket closes, after forwarding it) closes the hub's side; a new
        ClientHello opens a new hub connection."""
        buf = self.pending + data
        self.pending = b""
        while buf:
            if self.hub is None:
                i = client_hello_at(buf)
                if i < 0:
                    keep = buf[-8:]  # a header split across two reads
                    self.n["stale_bytes_dropped"] += len(buf) - len(keep)
                    self.pending = keep
                    return
                if i > 0:
                    self.n["stale_bytes_dropped"] += i
                    self.log("stale-dropped", bytes=i)
                buf = buf[i:]
                self.log("client-hello")
                if not self.open_hub():
                    self.close_dev()  # the modem reports the failed connect: QEMU reconnects
                    return
            if self.up_left > 0:
                k = min(self.up_left, len(buf))
                self.to_hub(buf[:k])
                buf = buf[k:]
                self.up_left -= k
                if self.up_left == 0:
                    self.record_done()
                continue
            # a record boundary: its header (and a handshake header) first
            if len(buf) < 5 or (buf[0] == 0x16 and len(buf) < 9):
                self.pending = buf
                return
            if self.up_records > 0 and client_hello_at(buf[:9]) == 0:
                self.log("new-session")
                self.close_hub()
                continue
            self.up_type = buf[0]
            self.up_left = 5 + int.from_bytes(buf[3:5], "big")
            self.up_records += 1

    def record_done(self):
        if self.arm_after_up:
            self.arm_after_up = False
            self.cut("after a whole device record")
        elif self.up_type == 0x15:
            self.log("device-alert")
            self.close_hub()

    def from_hub(self, data):
        if self.cut_this_handshake:
            self.cut_this_handshake = False
            self.cut("in the handshake (%d hub bytes not forwarded)" % len(data))
            return
        self.dev.setblocking(True)
        self.dev.sendall(data)
        self.dev.setblocking(False)
        self.n["to_device"] += len(data)

    def control(self, conn):
        conn.settimeout(2.0)
        try:
            line = conn.makefile("r").readline().strip()
        except OSError:
            conn.close()
            return
        w = line.split()
        reply = "error: unknown command %r" % line
        if w == ["cut"]:
            if self.hub is None and self.dev is None:
                reply = "ok idle"
            else:
                self.cut("command")
                reply = "ok cut"
        elif w == ["cut-after-up"]:
            self.arm_after_up = True
            reply = "ok armed"
        elif w == ["cut-handshake"]:
            self.arm_handshake = True
            reply = "ok armed"
        elif len(w) == 2 and w[0] == "upstream" and w[1].isdigit():
            self.upstream_port = int(w[1])
            self.log("upstream", port=self.upstream_port)
            reply = "ok"
        elif w == ["state"]:
            reply = json.dumps(dict(self.n, hub_open=self.hub is not None, device_open=self.dev is not None))
        if line != "state":
            self.log("control", command=line, reply=reply)
        try:
            conn.sendall((reply + "\n").encode())
        except OSError:
            pass
        conn.close()

    def run(self):
        running = [True]
        signal.signal(signal.SIGTERM, lambda *_: running.__setitem__(0, False))
        while running[0]:
            for key, _ in self.sel.select(timeout=0.2):
                what, s = key.data, key.fileobj
                if what == "listen":
                    c, _ = s.accept()
                    if self.dev is not None:
                        self.log("device-replaced")
                        self.close_hub()
                        self.close_dev()
                    c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                    c.setblocking(False)
                    self.dev = c
                    self.sel.register(c, selectors.EVENT_READ, "device")
                    self.n["device_connections"] += 1
                    self.log("device-connected")
                elif what == "control":
                    c, _ = s.accept()
                    self.control(c)
                elif what == "device":
                    if s is not self.dev:
                        continue
                    try:
                        data = s.recv(65536)
                    except OSError:
                        data = b""
                    if not data:
                        self.log("device-closed")
                        self.close_hub()
                        self.close_dev()
                    else:
                        self.from_device(data)
                elif what == "hub":
                    if s is not self.hub:
                        continue
                    try:
                        data = s.recv(65536)
                    except OSError:
                        data = b""
                    if not data:
                        # the modem's socket closed; the serial link to it
                        # stays: the device notices through its protocol
                        self.n["hub_closed"] += 1
                        self.log("hub-closed")
                        self.close_hub()
                    else:
                        self.from_hub(data)
                elif what == "silent":
                    try:
                        data = s.recv(65536)
                    except OSError:
                        data = b""
                    if not data:
                        t_cut = self.silent.pop(s)[0]
                        self.sel.unregister(s)
                        s.close()
                        self.log("hub-closed-after-cut", after_ms=int((time.time() - t_cut) * 1000))
                elif what == "drain":
                    try:
                        data = s.recv(65536)
                    except OSError:
                        data = b""
                    if not data:
                        self.sel.unregister(s)
                        s.close()
                        self.draining = [d for d in self.draining if d[0] is not s]
            t = time.time()
            for s, (t_cut, deadline) in list(self.silent.items()):
                if t > deadline:
                    del self.silent[s]
                    self.sel.unregister(s)
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
                    s.close()
                    self.log("hub-reset-after-cut")
            for s, deadline in list(self.draining):
                if t > deadline:
                    self.sel.unregister(s)
                    s.close()
                    self.draining.remove((s, deadline))
        self.log("stop", **self.n)


def main():
    if len(sys.argv) != 5 or not sys.argv[4].isdigit():
        print(__doc__)
        return 2
    Relay(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
