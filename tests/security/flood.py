#!/usr/bin/env python3
"""flood.py - a connection flood against a drover HTTP listener, and a probe.

  flood.py flood PORT SECONDS STATUS SPEC...
      Keep connections open for SECONDS against 127.0.0.1:PORT. SPEC is
        idle:N[:SRC]   N connections that send nothing
        park:N[:SRC]   N blocking queries (GET /v1/jobs?index=huge&wait=120s)
        slow:N[:SRC]   N slow uploads to a node agent's path (PUT /v1/node/register
                       announcing 1 MB, then one byte every SLOW_EVERY s, 0.5):
                       busy connections the server may neither evict nor refuse
      from source address SRC, or spread over 127.0.0.2..127.0.0.9 (Linux routes
      all of 127/8 on lo), so that neither one address's ephemeral ports nor a
      per-client bound caps the size. A connection the server closes, or a query
      it answers, is opened again (at most REOPEN_PER_S a second, default 1000):
      the flood holds its size for SECONDS. Each SPEC's first round is opened
      once the previous one has connected (5 s at most), so that blocking
      queries given first are parked before the idle crowd comes. Then (or
      after 10 s) it writes STATUS ("ready after T s: SPEC=established...");
      at the end STATUS.end, a line per SPEC: opened, closed (by the server,
      without an answer), answered (and their status codes), failed (connect or
      bind errors), and the fewest and most connections established at a
      once-a-second sample.

  flood.py probe PORT SECONDS NODE_ID PROBE_ID PROBE_SECRET JOB_FILE JOB_AT OUT
      For SECONDS: every 0.5 s GET /v1/node/NODE_ID on a keep-alive connection
      opened before the flood (opened again if the server closes it); on it too,
      at JOB_AT s, PUT /v1/jobs with JOB_FILE, then GET the job's allocations
      until one is complete. Every 0.25 s, on a fresh connection as an agent
      sends it, PUT /v1/node/PROBE_ID/heartbeat. OUT: a line per request
      ("T WHAT CODE MS [STATUS]"; a failure has code 0); OUT.end: heartbeats=N
      failed=F max_ms= p99_ms= reads=N failed=F not_ready=R reconnects=C
      read_max_ms= job_sent=T job_complete=T ("-": never).

  flood.py heartbeat PORT SECONDS PROBE_ID PROBE_SECRET OUT [REGISTER_FILE]
      Only the probe's heartbeats (every 0.25 s, a fresh connection each) to
      127.0.0.1:PORT; OUT and OUT.end as the probe's (heartbeats=N failed=F
      max_ms= p99_ms=). With REGISTER_FILE, first PUT /v1/node/register with it
      (the heartbeats follow at once, however long Python took to start on a
      loaded host); OUT.reg: its status code. OUT exists once they begin; they
      end early once OUT.stop exists.
"""
import json
import math
import os
import select
import socket
import sys
import threading
import time

REOPEN_PER_S = int(os.environ.get("REOPEN_PER_S", "1000"))
SOURCES = ["127.0.0.%d" % i for i in range(2, 10)]  # for a SPEC without SRC
HB_INTERVAL = 0.25
PARK_REQ = b"GET /v1/jobs?index=18446744073709551000&wait=120s HTTP/1.1\r\nHost: flood\r\n\r\n"
SLOW_REQ = b"PUT /v1/node/register HTTP/1.1\r\nHost: flood\r\nContent-Length: 1000000\r\n\r\n{"
SLOW_EVERY = 0.5


def write_atomic(path, text):
    with open(path + ".tmp", "w") as f:
        f.write(text)
    os.rename(path + ".tmp", path)


class Flood:
    def __init__(self, port, specs):
        self.port = port
        self.ep = select.epoll()
        self.conns = {}  # fd -> [socket, spec, connected]
        self.want = {}  # spec -> connections to hold
        self.stats = {}  # spec -> counters
        self.reopen = []  # specs whose connection is to be opened again
        self.next_src = 0
        for spec in specs:
            self.want[spec] = int(spec.split(":")[1])
            self.stats[spec] = {"opened": 0, "closed": 0, "answered": 0, "codes": {}, "min": None, "max": 0,
                                "failed": 0}

    def open(self, spec):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        src = spec.split(":")[2] if spec.count(":") == 2 else None
        if not src:
            src = SOURCES[self.next_src % len(SOURCES)]
            self.next_src += 1
        try:
            s.bind((src, 0))
            s.connect_ex(("127.0.0.1", self.port))
        except OSError:
            s.close()
            self.stats[spec]["failed"] += 1
            self.reopen.append(spec)
            return
        self.conns[s.fileno()] = [s, spec, False]
        self.ep.register(s.fileno(), select.EPOLLOUT | select.EPOLLIN | select.EPOLLRDHUP)
        self.stats[spec]["opened"] += 1

    def drop(self, fd):
        s, spec, _ = self.conns.pop(fd)
        self.ep.unregister(fd)
        s.close()
        self.reopen.append(spec)

    def event(self, fd, ev):
        c = self.conns.get(fd)
        if not c:
            return
        s, spec, connected = c
        if not connected and ev & select.EPOLLOUT:
            if s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) != 0:
                self.stats[spec]["failed"] += 1
                self.drop(fd)
                return
            c[2] = True
            self.ep.modify(fd, select.EPOLLIN | select.EPOLLRDHUP)
            if spec.startswith("park") or spec.startswith("slow"):
                try:
                    s.send(PARK_REQ if spec.startswith("park") else SLOW_REQ)
                except OSError:
                    pass
            if not ev & (select.EPOLLIN | select.EPOLLRDHUP | select.EPOLLHUP | select.EPOLLERR):
                return
        try:
            data = s.recv(4096)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        st = self.stats[spec]
        if data:
            st["answered"] += 1
            parts = data.split(b" ", 2)
            code = parts[1].decode(errors="replace") if len(parts) > 1 else "?"
            st["codes"][code] = st["codes"].get(code, 0) + 1
        else:
            st["closed"] += 1
        self.drop(fd)

    def established(self):
        n = {k: 0 for k in self.want}
        for _, spec, connected in self.conns.values():
            n[spec] += connected
        return n

    def summary(self):
        lines = []
        for spec, st in self.stats.items():
            codes = ",".join("%s:%d" % kv for kv in sorted(st["codes"].items())) or "-"
            lines.append("%s want=%d opened=%d closed=%d answered=%d codes=%s failed=%d held_min=%s held_max=%d" % (
                spec, self.want[spec], st["opened"], st["closed"], st["answered"], codes, st["failed"],
                st["min"], st["max"]))
        return "\n".join(lines) + "\n"

    def run(self, seconds, status):
        start = time.monotonic()
        for spec, n in self.want.items():  # in order: each spec's round connected (5 s at most) before the next
            for _ in range(n):
                self.open(spec)
            t = time.monotonic()
            while any(not c[2] and c[1] == spec for c in self.conns.values()) and time.monotonic() - t < 5:
                for fd, ev in self.ep.poll(0.1, 1024):
                    self.event(fd, ev)
        end = start + seconds
        ready = False
        sample = start + 1
        budget, budget_t = REOPEN_PER_S, start
        trickle = start
        while time.monotonic() < end:
            for fd, ev in self.ep.poll(0.1, 1024):
                self.event(fd, ev)
            now = time.monotonic()
            if now >= trickle:  # the slow uploads' next byte
                trickle = now + SLOW_EVERY
                for s, spec, connected in list(self.conns.values()):
                    if connected and spec.startswith("slow"):
                        try:
                            s.send(b" ")
                        except OSError:
                            pass
            if now - budget_t >= 1:
                budget, budget_t = REOPEN_PER_S, now
            while self.reopen and budget > 0:
                self.open(self.reopen.pop())
                budget -= 1
            if not ready and (not any(not c[2] for c in self.conns.values()) or now - start > 10):
                ready = True
                est = self.established()
                write_atomic(status, "ready after %.1f s: %s\n" % (
                    now - start, " ".join("%s=%d" % kv for kv in est.items())))
            if ready and now >= sample:
                sample = now + 1
                for spec, n in self.established().items():
                    st = self.stats[spec]
                    st["min"] = n if st["min"] is None else min(st["min"], n)
                    st["max"] = max(st["max"], n)
        write_atomic(status + ".end", self.summary())


def http(sock, method, path, body=b""):
    """One request on sock; returns (status code, body); raises OSError when the
    connection is gone."""
    req = "%s %s HTTP/1.1\r\nHost: probe\r\nContent-Length: %d\r\n\r\n" % (method, path, len(body))
    sock.sendall(req.encode() + body)
    buf = b""
    while b"\r\n\r\n" not in buf:
        d = sock.recv(65536)
        if not d:
            raise OSError("closed")
        buf += d
    head, rest = buf.split(b"\r\n\r\n", 1)
    lines = head.split(b"\r\n")
    code = int(lines[0].split(b" ")[1])
    length = 0
    for h in lines[1:]:
        k, _, v = h.partition(b":")
        if k.strip().lower() == b"content-length":
            length = int(v)
    while len(rest) < length:
        d = sock.recv(65536)
        if not d:
            raise OSError("closed")
        rest += d
    return code, rest[:length]


def connect(port, timeout):
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.settimeout(timeout)
    return s


def heartbeats(port, seconds, probe_id, probe_secret, out, ret):
    """Every HB_INTERVAL s, a heartbeat of node PROBE_ID on a fresh connection."""
    body = json.dumps({"SecretID": probe_secret, "Status": "ready"}).encode()
    start = time.monotonic()
    tick = start
    while tick < start + seconds and not os.path.exists(out + ".stop"):
        t0 = time.monotonic()
        try:
            with connect(port, 5) as s:
                code, _ = http(s, "PUT", "/v1/node/%s/heartbeat" % probe_id, body)
        except (OSError, ValueError, IndexError):
            code = 0
        ret.append((t0 - start, code, (time.monotonic() - t0) * 1000))
        tick += HB_INTERVAL
        time.sleep(max(0, tick - time.monotonic()))


def probe(port, seconds, node_id, probe_id, probe_secret, job_file, job_at, out):
    keep = connect(port, 5)
    hb = []
    t = threading.Thread(target=heartbeats, args=(port, seconds, probe_id, probe_secret, out, hb))
    t.start()
    with open(job_file, "rb") as f:
        job = f.read()
    job_id = json.loads(job)["Job"]["ID"]
    reads, failed, not_ready, reconnects, read_max = 0, 0, 0, 0, 0.0
    job_sent = job_done = None
    start = time.monotonic()
    tick = start
    with open(out, "w") as f:
        while tick < start + seconds:
            t0 = time.monotonic()
            what = "node"
            try:
                if keep is None:
                    keep = connect(port, 5)
                    reconnects += 1
                code, body = http(keep, "GET", "/v1/node/%s" % node_id)
                status = json.loads(body).get("Status", "-") if code == 200 else "-"
                if job_sent is None and t0 - start >= job_at:
                    what = "job"
                    if http(keep, "PUT", "/v1/jobs", job)[0] == 200:
                        job_sent = t0 - start
                elif job_sent is not None and job_done is None:
                    what = "allocs"
                    c, b = http(keep, "GET", "/v1/job/%s/allocations" % job_id)
                    if c == 200 and any(a.get("ClientStatus") == "complete" for a in json.loads(b)):
                        job_done = t0 - start
            except (OSError, ValueError, IndexError):
                code, status = 0, "-"
                if keep is not None:
                    keep.close()
                keep = None
            ms = (time.monotonic() - t0) * 1000
            reads += 1
            read_max = max(read_max, ms)
            failed += code != 200
            not_ready += code == 200 and status != "ready"
            f.write("%.1f %s %d %.1f %s\n" % (t0 - start, what, code, ms, status))
            f.flush()
            tick += 0.5
            time.sleep(max(0, tick - time.monotonic()))
    t.join()
    write_atomic(out + ".end", "%s reads=%d failed=%d not_ready=%d reconnects=%d read_max_ms=%.1f job_sent=%s "
                 "job_complete=%s\n" % (
                     heartbeat_summary(hb, out), reads, failed, not_ready, reconnects, read_max,
                     "-" if job_sent is None else "%.1f" % job_sent, "-" if job_done is None else "%.1f" % job_done))


def heartbeat_summary(hb, out):
    """Append hb's lines to OUT; "heartbeats=N failed=F max_ms= p99_ms=" of them."""
    with open(out, "a") as f:
        for at, code, ms in hb:
            f.write("%.1f heartbeat %d %.1f\n" % (at, code, ms))
    ok = sorted(ms for _, code, ms in hb if code == 200)
    p99 = ok[min(len(ok) - 1, math.ceil(0.99 * len(ok)) - 1)] if ok else 0
    return "heartbeats=%d failed=%d max_ms=%.1f p99_ms=%.1f" % (len(hb), len(hb) - len(ok), ok[-1] if ok else 0, p99)


def heartbeat_only(port, seconds, probe_id, probe_secret, out, register=None):
    hb = []
    if register:
        with open(register, "rb") as f, connect(port, 5) as s:
            code = http(s, "PUT", "/v1/node/register", f.read())[0]
        write_atomic(out + ".reg", "%d\n" % code)
    open(out, "w").close()
    heartbeats(port, seconds, probe_id, probe_secret, out, hb)
    write_atomic(out + ".end", heartbeat_summary(hb, out) + "\n")


if __name__ == "__main__":
    if len(sys.argv) >= 5 and sys.argv[1] == "flood":
        Flood(int(sys.argv[2]), sys.argv[5:]).run(float(sys.argv[3]), sys.argv[4])
    elif len(sys.argv) == 10 and sys.argv[1] == "probe":
        probe(int(sys.argv[2]), float(sys.argv[3]), *sys.argv[4:8], float(sys.argv[8]), sys.argv[9])
    elif len(sys.argv) in (7, 8) and sys.argv[1] == "heartbeat":
        heartbeat_only(int(sys.argv[2]), float(sys.argv[3]), *sys.argv[4:])
    else:
        sys.exit(__doc__)
