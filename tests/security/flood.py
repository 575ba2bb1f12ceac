#!/usr/bin/env python3
"""flood.py - hold many connections open against a drover HTTP listener.

Usage: flood.py PORT STATUS_FILE SPEC...
SPEC is one of
  idle:SRC:N      N connections from source address SRC that send nothing
  park:SRC:N      N blocking queries (GET /v1/jobs?index=huge&wait=60s) from SRC
After opening everything it waits 1.5 s, then writes one line per spec to
STATUS_FILE: "KIND SRC opened=N closed=C answered=A codes=503:x,..." (closed: the
server closed the connection without an answer; answered: an HTTP answer came)
and then holds the connections until it is killed (SIGTERM).
"""
import os
import select
import signal
import socket
import sys
import time

port = int(sys.argv[1])
status_file = sys.argv[2]
specs = sys.argv[3:]
groups = []
for spec in specs:
    kind, src, n = spec.split(":")
    socks = []
    for _ in range(int(n)):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.bind((src, 0))
        s.setblocking(False)
        try:
            s.connect(("127.0.0.1", port))
        except BlockingIOError:
            pass
        socks.append(s)
    groups.append((kind, src, socks))

# Wait for the connects, then send the blocking queries.
deadline = time.time() + 5
pending = {s.fileno(): s for _, _, socks in groups for s in socks}
poller = select.poll()
for fd in pending:
    poller.register(fd, select.POLLOUT)
while pending and time.time() < deadline:
    for fd, _ in poller.poll(100):
        poller.unregister(fd)
        del pending[fd]
for kind, src, socks in groups:
    for s in socks:
        if kind == "park":
            try:
                s.send(b"GET /v1/jobs?index=18446744073709551000&wait=60s HTTP/1.1\r\nHost: x\r\n\r\n")
            except OSError:
                pass

time.sleep(1.5)
lines = []
for kind, src, socks in groups:
    closed = answered = 0
    codes = {}
    for s in socks:
        try:
            data = s.recv(4096)
        except BlockingIOError:
            continue  # nothing yet: idle or parked
        except OSError:
            closed += 1
            continue
        if not data:
            closed += 1
        else:
            answered += 1
            parts = data.split(b" ", 2)
            code = parts[1].decode() if len(parts) > 1 else "?"
            codes[code] = codes.get(code, 0) + 1
    lines.append("%s %s opened=%d closed=%d answered=%d codes=%s" % (
        kind, src, len(socks), closed, answered,
        ",".join("%s:%d" % kv for kv in sorted(codes.items())) or "-"))
with open(status_file + ".tmp", "w") as f:
    f.write("\n".join(lines) + "\n")
os.rename(status_file + ".tmp", status_file)
signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
while True:
    time.sleep(60)
