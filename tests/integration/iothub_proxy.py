#!/usr/bin/env python3
"""TCP proxy for the iothub integration tests: forwards 127.0.0.1:<own port>
to the broker, and while the file BLACKHOLE exists it swallows everything the
device sends (the broker never sees those PUBLISHes, so no PUBACK comes back:
the messages are in flight and must stay in the device's outbox).

usage: iothub_proxy.py BROKER_PORT PORT_FILE BLACKHOLE COUNT_FILE
Writes its listening port to PORT_FILE once ready, and the number of bytes it
swallowed to COUNT_FILE (rewritten as it grows)."""
import os
import socket
import sys
import threading

swallowed = 0
lock = threading.Lock()


def write_file(path, text):
    """Writes TEXT to PATH through a rename, so a reader polling PATH never
    sees it half-written."""
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def listen(port_file):
    """A socket listening on a free port of 127.0.0.1, its number written to
    PORT_FILE (the test scripts wait for that file). Also used by
    iothub_reconnect_pace.py."""
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", 0))
    ls.listen(8)
    write_file(port_file, str(ls.getsockname()[1]))
    return ls


def pump(src, dst, from_device):
    global swallowed
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            if from_device and os.path.exists(blackhole):
                with lock:
                    swallowed += len(data)
                    write_file(count_file, str(swallowed))
                continue
            dst.sendall(data)
    except OSError:
        pass
    for s in (src, dst):
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def main():
    ls = listen(port_file)
    while True:
        dev, _ = ls.accept()
        try:
            up = socket.create_connection(("127.0.0.1", broker_port))
        except OSError:
            dev.close()
            continue
        threading.Thread(target=pump, args=(dev, up, True), daemon=True).start()
        threading.Thread(target=pump, args=(up, dev, False), daemon=True).start()


if __name__ == "__main__":
    broker_port = int(sys.argv[1])
    port_file, blackhole, count_file = sys.argv[2], sys.argv[3], sys.argv[4]
    main()
