#!/usr/bin/env python3
"""The host's side of qemu_tls_m4_reconnect (tests/qemu/tls_reconnect_m4.sh):
follows the firmware's output while it runs and cuts the connection under
it at chosen points through tests/qemu/tls_relay.py; after each connect
reads the simulator's statistics (what the chip saw, per connect).

  tls_reconnect.py OUT QEMU_PID RELAY_CONTROL SIM_SOCKET LOCALHUB HUB_PORT EVENTS_JSON

The plan (N = 30 telemetry messages stored by the firmware one every
300 ms, whatever the connection's state):
  connect 1 (full handshake); when 6 are acknowledged: cut right after the
  next device->hub record (a PUBLISH whose PUBACK is lost);
  connect 2 (resumed); when 12 are acknowledged: localhub is restarted (a
  new process: its TLS session cache is gone; its close_notify is the drop);
  connect 3 (full handshake); when 18 are acknowledged: the mid-stream cut
  again, and the next handshake is cut too (when the hub's ServerHello
  comes);
  connect 4 (resumed, after the cut handshake); then the firmware finishes.
The order keeps messages still to be stored at each step: a step that
needs traffic (a mid-stream cut) or another connect comes while the
firmware is still storing (the back-offs grow; the last is 5 s).
EVENTS_JSON: {"snapshots": [{"connect": k, "t": ms, "commands": {...}}],
"actions": [{"t": ms, "what": ...}], "error": null | text}.
Exit 0 when the plan ran through (the checks are tls_check.py's).
"""
import json
import os
import random
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from check_run import by_name, sim_stats  # noqa: E402

WAIT_S = 55.0


def now_ms():
    return int(time.time() * 1000)


def main():
    if len(sys.argv) != 8:
        print(__doc__)
        return 2
    out, qpid, control, sim, localhub, port, events = sys.argv[1:]
    qpid = int(qpid)
    ev = {"snapshots": [], "actions": [], "error": None}
    t_end = time.time() + WAIT_S

    def alive():
        try:
            os.kill(qpid, 0)
        except OSError:
            return False
        try:  # a zombie (exited, not yet reaped by the shell) is gone too
            with open("/proc/%d/stat" % qpid) as f:
                return f.read().split(") ")[-1][0] != "Z"
        except OSError:
            return False

    def lines():
        try:
            with open(out, errors="replace") as f:
                return f.read().splitlines()
        except OSError:
            return []

    def wait(what, cond):
        while time.time() < t_end:
            ls = lines()
            if cond(ls):
                return True
            if not alive():
                ls = lines()
                if cond(ls):
                    return True
                raise SystemExit(finish("the firmware ended while waiting for " + what))
            time.sleep(0.02)
        raise SystemExit(finish("timed out waiting for " + what))

    def finish(err):
        ev["error"] = err
        with open(events, "w") as f:
            json.dump(ev, f, indent=1)
        if err:
            print("driver: " + err)
            return 1
        return 0

    def relay(cmd):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(5)
        s.connect(control)
        s.sendall((cmd + "\n").encode())
        r = s.makefile("r").readline().strip()
        s.close()
        ev["actions"].append({"t": now_ms(), "what": cmd, "reply": r})
        if not r.startswith("ok"):
            raise SystemExit(finish("relay refused %r: %s" % (cmd, r)))

    def connects(ls):
        return sum(1 for l in ls if l.startswith("tls.resumed "))

    def acked(ls):
        return sum(1 for l in ls if l.startswith("acked "))

    def snapshot(k):
        wait("connect %d" % k, lambda ls: connects(ls) >= k)
        ev["snapshots"].append({"connect": k, "t": now_ms(), "commands": by_name(sim_stats(sim))})

    snapshot(1)
    wait("6 acknowledged", lambda ls: acked(ls) >= 6)
    relay("cut-after-up")
    snapshot(2)
    wait("12 acknowledged", lambda ls: acked(ls) >= 12)
    r = subprocess.run([localhub, "stop"], capture_output=True, text=True)
    ev["actions"].append({"t": now_ms(), "what": "localhub stop", "rc": r.returncode})
    # the same port; should another program have taken it meanwhile,
    # another one, and the relay is told
    for p in [port] + [str(random.randrange(20000, 60000)) for _ in range(5)]:
        r = subprocess.run([localhub, "start", "--port", p], capture_output=True, text=True)
        ev["actions"].append({"t": now_ms(), "what": "localhub start --port " + p, "rc": r.returncode})
        if r.returncode == 0:
            break
    if r.returncode != 0:
        return finish("localhub did not start again: %s" % (r.stdout + r.stderr))
    if p != port:
        relay("upstream " + p)
    snapshot(3)
    wait("18 acknowledged", lambda ls: acked(ls) >= 18)
    relay("cut-handshake")
    relay("cut-after-up")
    snapshot(4)
    wait("DONE", lambda ls: "DONE reconnect" in ls)
    return finish(None)


if __name__ == "__main__":
    sys.exit(main())
