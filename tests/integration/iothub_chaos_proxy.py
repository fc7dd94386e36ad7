#!/usr/bin/env python3
"""Hostile-network TCP proxy for the iothub chaos test (issue 6, "no message
lost across disconnects"): 127.0.0.1:<own port> -> 127.0.0.1:BROKER_PORT.

Every connection, while fewer than --max-cuts cuts have happened, is cut after
a number of bytes (both directions counted together) drawn from
--cut-after-bytes A:B (repeatable: one of the ranges is drawn first): exactly that many bytes are forwarded, then the
connection ends by a reset (SO_LINGER 0: RST), an orderly close (FIN both
ways) or, with --half-close, a FIN in one direction only while the other one
keeps flowing until its sender gives up. With --connect-cut-prob P a cut
connection is instead cut --connect-cut-range A:B bytes (default 1:200)
after the start of the device's first application data record, its MQTT
CONNECT: inside CONNECT or CONNACK, or with a longer range in what follows
(SUBSCRIBE, a DPS register request and its reply). Optionally every chunk is forwarded
in random pieces of 1..--fragment bytes and a direction pauses for
--stall-ms MIN:MAX with probability --stall-prob before a piece. After
--max-cuts cuts the proxy is a clean pipe (no cuts, no fragments, no stalls)
so that a run can finish; --clean-first K leaves the first K connections
alone.

Two more faults (CHAOS2): with --corrupt-prob P every forwarded piece of a
faulty connection has one random bit flipped with probability P (in the
directions --corrupt-dir names, in the phases --corrupt-phase names; at most
one flip per connection: TLS ends the connection at the first one). With
--blackout-after-bytes A:B a faulty connection goes silent after A..B bytes
(both directions counted): for --blackout-ms N nothing is forwarded either
way and nothing is closed; what arrives meanwhile is held (as TCP would
retransmit it) and forwarded when the link comes back, unless its sender has
given up by then. The log then says when the device closed its side
(dev_gone=MS after the blackout began) so a test can compare it with the
device's keep-alive. A faulty connection gets a cut when --cut-after-bytes
is given, and whichever of the other faults are configured.

The proxy follows the TLS record layer (5-byte headers, never decrypted) to
say where a cut landed: "handshake" (no application data record yet),
"connect" (the client's first application data record, its MQTT CONNECT, has
started, no application data came back yet: before or inside CONNACK) or
"session" (MQTT traffic), and whether it fell inside a record and in which
direction the last byte went.

Everything random comes from --seed: connection number k uses its own
generator seeded from (seed, k), so the cut positions and end kinds of a
failing run are replayed by the same seed (thread timing is not replayed).

One line per connection is appended to --log when the connection is over:
  conn=K plan=cut@N|clean end=rst|fin|half-dev|half-brk|eof-dev|eof-brk|error
  c2s=BYTES s2c=BYTES phase=handshake|connect|session at=c2s|s2c
  mid_record=0|1 app_c2s=RECORDS app_s2c=RECORDS frags=N stalls=N
  t=SECONDS_SINCE_START dur=SECONDS
  [flip=DIR:PHASE:OFFSET:BIT:hdr|body alerts_c2s=N alerts_s2c=N]
      (a bit was flipped: direction, phase, byte offset in the direction's
       stream, bit, in a TLS record header or body; then the TLS alert
       records each way, content type 21)
  [blackout=BYTES dev_gone=MS|none brk_gone=MS|none] (silent link at BYTES)
with --log-starts, when a connection is accepted:
  conn=K event=start plan=fault|clean
and, at the moment the device closes a silent connection:
  conn=K event=dev_gone blackout=BYTES ms=MS
The listening port is written to --port-file (atomically) once ready.
Python 3 standard library only."""
import argparse
import os
import random
import select
import socket
import struct
import sys
import threading
import time


T0 = time.monotonic()
LOG_LOCK = threading.Lock()


def log_event(path, line):
    with LOG_LOCK, open(path, "a") as f:
        f.write(line + "\n")


def parse_range(text, conv=int):
    a, _, b = text.partition(":")
    lo, hi = conv(a), conv(b if b else a)
    if lo < 0 or hi < lo:
        raise argparse.ArgumentTypeError(f"bad range {text!r}")
    return lo, hi


class Records:
    """TLS record-layer tracker for one direction (headers only)."""

    def __init__(self):
        self.hdr = b""
        self.left = 0          # body bytes left in the current record
        self.ctype = None      # content type of the current record
        self.app_started = 0   # application data records begun
        self.app_done = 0      # application data records complete
        self.alerts = 0        # alert records begun (content type 21)

    def feed(self, data):
        i = 0
        while i < len(data):
            if self.left > 0:
                n = min(self.left, len(data) - i)
                self.left -= n
                i += n
                if self.left == 0 and self.ctype == 23:
                    self.app_done += 1
                continue
            need = 5 - len(self.hdr)
            self.hdr += data[i:i + need]
            i += min(need, len(data) - i)
            if len(self.hdr) == 5:
                self.ctype = self.hdr[0]
                self.left = struct.unpack(">H", self.hdr[3:5])[0]
                self.hdr = b""
                if self.ctype == 21:
                    self.alerts += 1
                if self.ctype == 23:
                    self.app_started += 1
                    if self.left == 0:
                        self.app_done += 1

    def first_app_header(self, data):
        """Offset in data where the first application data record header
        begins, if it begins there (the tracker is not changed)."""
        hdr, left, i = self.hdr, self.left, 0
        if self.app_started > 0:
            return None
        while i < len(data):
            if left > 0:
                n = min(left, len(data) - i)
                left -= n
                i += n
                continue
            start = i - len(hdr)
            need = 5 - len(hdr)
            hdr += data[i:i + need]
            i += min(need, len(data) - i)
            if hdr[0] == 23:
                return max(start, 0)
            if len(hdr) == 5:
                left = struct.unpack(">H", hdr[3:5])[0]
                hdr = b""
        return None

    def where(self, data, k):
        """'hdr' if byte k of data (about to be fed) falls in a record
        header, else 'body' (the tracker is not changed)."""
        hdr, left, i = len(self.hdr), self.left, 0
        while i <= k:
            if left > 0:
                n = min(left, k + 1 - i)
                left -= n
                i += n
                if i > k:
                    return "body"
                continue
            if i == k:
                return "hdr"
            if hdr == 4:
                # header complete after this byte: its length is needed
                hdr_bytes = bytes(data[i - 4:i + 1]) if i >= 4 else (self.hdr + data[:i + 1])[-5:]
                left = struct.unpack(">H", hdr_bytes[3:5])[0]
                hdr = 0
            else:
                hdr += 1
            i += 1
        return "body"

    def mid_record(self):
        return self.left > 0 or len(self.hdr) > 0


class Conn:
    def __init__(self, k, args, dev, brk, plan_cut):
        self.k = k
        self.args = args
        self.dev = dev
        self.brk = brk
        self.rng = random.Random(args.seed * 1000003 + k)
        self.cut_at = (self.rng.randint(*self.rng.choice(args.cut_after_bytes))
                       if plan_cut and args.cut_after_bytes is not None else None)
        # A cut moved into the CONNECT/CONNACK exchange: placed when the
        # device's first application data record (its CONNECT) shows up.
        self.connect_cut = plan_cut and self.rng.random() < args.connect_cut_prob
        if self.connect_cut:
            self.cut_at = 1 << 62
        kinds = ["rst", "fin"] + (["half-dev", "half-brk"] if args.half_close else [])
        self.kind = self.rng.choice(kinds)
        self.faulty = plan_cut  # fragments and stalls only on connections that are cut
        if args.cut_after_bytes is None:
            # only corruption / blackout configured: no cut
            self.cut_at = None
            self.connect_cut = False
        self.corrupt_left = 1 if (plan_cut and args.corrupt_prob > 0) else 0
        self.flip = None
        self.blackout_at = (self.rng.randint(*args.blackout_after_bytes)
                            if plan_cut and args.blackout_after_bytes is not None else None)
        self.blackout_t0 = None   # monotonic time the link went silent
        self.blackout_end = None
        self.gone = {"c2s": None, "s2c": None}  # ms after blackout start the sender closed
        self.lock = threading.Lock()
        self.total = 0
        self.bytes = {"c2s": 0, "s2c": 0}
        self.rec = {"c2s": Records(), "s2c": Records()}
        self.ended = None        # how it ended (first reason wins)
        self.cut_info = None
        self.last_dir = "c2s"
        self.frags = 0
        self.stalls = 0
        self.closed_dirs = set()  # directions no longer forwarded
        self.done = threading.Event()
        self.pumps_left = 2
        self.t_start = time.monotonic()
        self.t_end = None

    def phase(self):
        c, s = self.rec["c2s"], self.rec["s2c"]
        if c.app_started == 0 and s.app_started == 0:
            return "handshake"
        if s.app_done == 0:
            return "connect"
        return "session"

    def take(self, direction, data):
        """How many bytes of data may go now; 0 when the direction is closed."""
        n = len(data)
        with self.lock:
            if self.connect_cut and direction == "c2s":
                off = self.rec["c2s"].first_app_header(data)
                if off is not None:
                    # With the default 1:200: CONNECT is ~160 bytes on the
                    # wire, CONNACK ~35, the cut lands inside either or
                    # between them.
                    self.cut_at = self.total + off + self.rng.randint(*self.args.connect_cut_range)
                    self.connect_cut = False
            if direction in self.closed_dirs or self.ended in ("rst", "fin"):
                return 0
            if self.blackout_at is not None and self.blackout_t0 is None:
                n = min(n, max(1, self.blackout_at - self.total))
            if self.cut_at is None or self.cut_info is not None:
                return n  # no cut planned, or the open side of a half-close
            room = self.cut_at - self.total
            return max(0, min(n, room))

    def account(self, direction, data):
        with self.lock:
            self.total += len(data)
            self.bytes[direction] += len(data)
            self.rec[direction].feed(data)
            self.last_dir = direction
            cut_now = self.cut_at is not None and self.ended is None and self.total >= self.cut_at
            if (self.blackout_at is not None and self.blackout_t0 is None and
                    self.total >= self.blackout_at):
                self.blackout_t0 = time.monotonic()
                self.blackout_end = self.blackout_t0 + self.args.blackout_ms / 1000.0
            if cut_now:
                self.cut_info = (self.phase(), self.last_dir, int(self.rec[direction].mid_record()))
                self.ended = self.kind
        if cut_now:
            self.do_cut()

    def do_cut(self):
        if self.kind == "rst":
            # Linger 0 makes the close (by the last pump) send RST. SHUT_RD
            # sends nothing on the wire, it only wakes the pump blocked in
            # recv() so that the sockets are released (closing a socket
            # another thread is reading would delay the RST until that read
            # returned).
            for s in (self.dev, self.brk):
                try:
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    s.shutdown(socket.SHUT_RD)
                except OSError:
                    pass
        elif self.kind == "fin":
            for s in (self.dev, self.brk):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
        elif self.kind == "half-dev":
            # The device sees EOF; what it sends still reaches the broker.
            with self.lock:
                self.closed_dirs.add("s2c")
            try:
                self.dev.shutdown(socket.SHUT_WR)
            except OSError:
                pass
        else:  # half-brk: the broker sees EOF; its answers still reach the device
            with self.lock:
                self.closed_dirs.add("c2s")
            try:
                self.brk.shutdown(socket.SHUT_WR)
            except OSError:
                pass

    def silent(self):
        with self.lock:
            return self.blackout_t0 is not None and time.monotonic() < self.blackout_end

    def corrupt(self, direction, data, rng):
        """Flip one bit of data with probability --corrupt-prob (first flip only)."""
        a = self.args
        if self.corrupt_left == 0 or direction not in a.corrupt_dir or rng.random() >= a.corrupt_prob:
            return data
        with self.lock:
            phase = self.phase()
            if phase not in a.corrupt_phase:
                return data
            self.corrupt_left = 0
            i, bit = rng.randrange(len(data)), rng.randrange(8)
            part = self.rec[direction].where(data, i)
            self.flip = f"{direction}:{phase}:{self.bytes[direction] + i}:{bit}:{part}"
        b = bytearray(data)
        b[i] ^= 1 << bit
        return bytes(b)

    def recv_held(self, direction, src, held):
        """During a blackout: keep reading (so a sender that gives up is
        seen), hold the bytes. Returns (held, eof)."""
        try:
            r, _, _ = select.select([src], [], [], 0.02)
            if not r:
                return held, False
            d = src.recv(65536)
        except OSError:
            d = b""
        if d:
            return held + d, False
        with self.lock:
            first = self.gone[direction] is None and self.blackout_t0 is not None
            if first:
                self.gone[direction] = int((time.monotonic() - self.blackout_t0) * 1000)
        if first and direction == "c2s":
            # at once, not when the connection is over (the blackout may
            # outlast the run)
            log_event(self.args.log, f"conn={self.k} event=dev_gone blackout={self.blackout_at} "
                                     f"ms={self.gone[direction]}")
        return held, True

    def pump(self, direction, src, dst, rng):
        frag = self.args.fragment if self.faulty else 0
        stall_p = self.args.stall_prob if self.faulty else 0.0
        held, eof = b"", False
        try:
            while True:
                if self.blackout_at is not None:
                    while self.silent():
                        if eof:
                            time.sleep(0.02)
                        else:
                            held, eof = self.recv_held(direction, src, held)
                    if held:
                        data, held = held, b""
                    elif eof:
                        data = b""
                    else:
                        r, _, _ = select.select([src], [], [], 0.05)
                        if not r:
                            continue
                        data = src.recv(65536)
                else:
                    data = src.recv(65536)
                if not data:
                    self.note_end("eof-dev" if direction == "c2s" else "eof-brk")
                    break
                while data:
                    if self.blackout_at is not None and self.silent():
                        held, data = held + data, b""
                        break
                    piece = len(data)
                    if frag > 0:
                        piece = min(piece, rng.randint(1, frag))
                    if stall_p > 0 and rng.random() < stall_p:
                        time.sleep(rng.randint(*self.args.stall_ms) / 1000.0)
                        with self.lock:
                            self.stalls += 1
                    n = self.take(direction, data[:piece])
                    if n == 0:
                        # closed direction (half-close): swallow what is left
                        data = b""
                        break
                    dst.sendall(self.corrupt(direction, data[:n], rng))
                    with self.lock:
                        self.frags += 1
                    self.account(direction, data[:n])
                    data = data[n:]
                with self.lock:
                    if self.ended in ("rst", "fin"):
                        break
        except OSError:
            self.note_end("error")
        # This direction is over: pass its end on (a half-closed connection
        # lives until one side gives up, then all of it goes).
        with self.lock:
            self.pumps_left -= 1
            last = self.pumps_left == 0
            ended = self.ended
        if ended in ("half-dev", "half-brk"):
            if not last:  # one side gave up: the whole connection goes
                for s in (self.dev, self.brk):
                    try:
                        s.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass
        elif ended not in ("rst", "fin"):
            try:  # natural end of this direction: pass the FIN on
                dst.shutdown(socket.SHUT_WR)
            except OSError:
                pass
        if last:
            for s in (self.dev, self.brk):
                try:
                    s.close()
                except OSError:
                    pass
            self.t_end = time.monotonic()
            self.done.set()

    def note_end(self, why):
        with self.lock:
            if self.ended is None:
                self.ended = why

    def log_line(self):
        if self.cut_info is not None:
            phase, at, mid = self.cut_info
        else:
            phase, at, mid = self.phase(), self.last_dir, int(self.rec[self.last_dir].mid_record())
        plan = ("fault" if self.faulty else "clean") if self.cut_at is None else (
            "cut@connect-unreached" if self.cut_at == 1 << 62 else f"cut@{self.cut_at}")
        return (f"conn={self.k} plan={plan} end={self.ended or 'open'} c2s={self.bytes['c2s']} "
                f"s2c={self.bytes['s2c']} phase={phase} at={at} mid_record={mid} "
                f"app_c2s={self.rec['c2s'].app_started} app_s2c={self.rec['s2c'].app_started} "
                f"frags={self.frags} stalls={self.stalls} "
                f"t={self.t_start - T0:.2f} dur={(self.t_end or time.monotonic()) - self.t_start:.2f}"
                + (f" flip={self.flip} alerts_c2s={self.rec['c2s'].alerts} alerts_s2c={self.rec['s2c'].alerts}"
                   if self.flip else "")
                + (f" blackout={self.blackout_at if self.blackout_t0 is not None else 'unreached'}"
                   f" dev_gone={self.gone['c2s'] if self.gone['c2s'] is not None else 'none'}"
                   f" brk_gone={self.gone['s2c'] if self.gone['s2c'] is not None else 'none'}"
                   if self.blackout_at is not None else ""))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--broker-port", type=int, required=True)
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--cut-after-bytes", type=parse_range, action="append", metavar="A:B",
                    help="repeatable: each cut connection draws one of the ranges, then a byte in it")
    ap.add_argument("--connect-cut-prob", type=float, default=0.0, metavar="P",
                    help="a cut connection is cut inside CONNECT/CONNACK instead, with probability P")
    ap.add_argument("--connect-cut-range", type=parse_range, default=(1, 200), metavar="A:B",
                    help="where such a cut lands, in bytes after the start of CONNECT's record (default 1:200)")
    ap.add_argument("--fragment", type=int, default=0, metavar="MAX")
    ap.add_argument("--stall-ms", type=parse_range, default=(0, 0), metavar="MIN:MAX")
    ap.add_argument("--stall-prob", type=float, default=0.0, metavar="P")
    ap.add_argument("--half-close", action="store_true")
    ap.add_argument("--clean-first", type=int, default=0, metavar="K",
                    help="the first K connections are clean pipes (e.g. let a DPS registration through)")
    ap.add_argument("--max-cuts", type=int, default=-1, metavar="N",
                    help="after N cuts forward cleanly (default: never stop cutting)")
    ap.add_argument("--corrupt-prob", type=float, default=0.0, metavar="P",
                    help="flip one random bit of a forwarded piece with probability P (one per faulty connection)")
    ap.add_argument("--corrupt-dir", default="c2s,s2c", metavar="DIRS",
                    help="directions to corrupt: c2s, s2c or both (default c2s,s2c)")
    ap.add_argument("--corrupt-phase", default="session", metavar="PHASES",
                    help="phases to corrupt in: handshake, connect, session (comma list; default session)")
    ap.add_argument("--blackout-after-bytes", type=parse_range, default=None, metavar="A:B",
                    help="a faulty connection goes silent (both ways, nothing closed) after A..B bytes")
    ap.add_argument("--blackout-ms", type=int, default=0, metavar="N",
                    help="how long the silence lasts")
    ap.add_argument("--log-starts", action="store_true",
                    help="also log 'conn=K event=start plan=fault|clean' when a connection is accepted")
    args = ap.parse_args()
    args.corrupt_dir = set(args.corrupt_dir.replace("both", "c2s,s2c").split(","))
    args.corrupt_phase = set(args.corrupt_phase.split(","))
    if (not args.corrupt_dir <= {"c2s", "s2c"} or not 0.0 <= args.corrupt_prob <= 1.0 or
            not args.corrupt_phase <= {"handshake", "connect", "session"}):
        ap.error("bad --corrupt-dir, --corrupt-phase or --corrupt-prob")
    if args.blackout_after_bytes is not None and args.blackout_ms <= 0:
        ap.error("--blackout-after-bytes needs --blackout-ms N > 0")
    if args.fragment < 0 or not 0.0 <= args.stall_prob <= 1.0 or not 0.0 <= args.connect_cut_prob <= 1.0:
        ap.error("bad --fragment or --stall-prob")

    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", 0))
    ls.listen(16)
    tmp = args.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(str(ls.getsockname()[1]))
    os.replace(tmp, args.port_file)
    log_lock = LOG_LOCK
    state = {"cuts": 0}

    def finish(conn):
        conn.done.wait()
        with log_lock:
            with open(args.log, "a") as f:
                f.write(conn.log_line() + "\n")

    k = 0
    while True:
        dev, _ = ls.accept()
        try:
            brk = socket.create_connection(("127.0.0.1", args.broker_port))
        except OSError:
            dev.close()
            with log_lock, open(args.log, "a") as f:
                f.write(f"conn={k} plan=none end=broker-unreachable c2s=0 s2c=0\n")
            k += 1
            continue
        for s in (dev, brk):
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        # A cut is planned while fewer than --max-cuts connections were cut
        # (the device runs one connection at a time, so the earlier one has
        # ended, cut or not, before the next is accepted).
        faults = (args.cut_after_bytes is not None or args.corrupt_prob > 0 or
                  args.blackout_after_bytes is not None)
        plan = (faults and k >= args.clean_first and
                (args.max_cuts < 0 or state["cuts"] < args.max_cuts))
        conn = Conn(k, args, dev, brk, plan)
        if args.log_starts:
            log_event(args.log, f"conn={k} event=start plan={'fault' if plan else 'clean'}")
        if plan:
            state["cuts"] += 1
        r1, r2 = random.Random(conn.rng.random()), random.Random(conn.rng.random())
        threading.Thread(target=conn.pump, args=("c2s", dev, brk, r1), daemon=True).start()
        threading.Thread(target=conn.pump, args=("s2c", brk, dev, r2), daemon=True).start()
        threading.Thread(target=finish, args=(conn,), daemon=True).start()
        k += 1


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit(0)
