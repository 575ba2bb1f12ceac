#!/usr/bin/env python3
"""cluster_writes.py - the writes of cluster.sh's test (1): batch jobs registered through
randomly chosen servers, the history of every request and answer kept.

  cluster_writes.py --servers H:P,H:P,... --jobs N --history FILE [--writers 8]
                    [--timeout 150] [--spread 120] [--prefix cj-] [--cpu 20] [--memory 16]

--writers threads register jobs PREFIX1..PREFIXN (one allocation each, --cpu MHz and
--memory MB), each request to a server chosen at random, on kept-alive connections
(one per thread and server; a failed one is reconnected). A request is not retried:
a refused connection or no answer within 5 s is HTTP code 000. Each answer appends a
line to FILE at once (cluster.sh reads the count to time its leader kills):
time, server, request (method, path, body), HTTP code, answer body (tabs and newlines
made spaces, 4,096 bytes at most), seconds the answer took. The requests are paced
over --spread seconds (job n not sent before (n-1) x spread / N from the start: a
leader's death meets writes in flight, not a burst answered 500 in a second). Stops
at N jobs or after --timeout seconds. Prints name=value lines.
"""
import argparse
import http.client
import random
import sys
import threading
import time

from cluster_load import batch_job_json, run_numbered


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--servers", required=True)
    ap.add_argument("--jobs", type=int, required=True)
    ap.add_argument("--history", required=True)
    ap.add_argument("--writers", type=int, default=8)
    ap.add_argument("--timeout", type=int, default=150)
    ap.add_argument("--spread", type=float, default=120)
    ap.add_argument("--prefix", default="cj-")
    ap.add_argument("--cpu", type=int, default=20)
    ap.add_argument("--memory", type=int, default=16)
    a = ap.parse_args()
    servers = [s for s in a.servers.split(",") if s][:7]
    if not servers or not 1 <= a.jobs <= 100000 or not 1 <= a.writers <= 64 or not 1 <= a.timeout <= 3600 \
            or not 0 <= a.spread <= a.timeout:
        sys.exit("cluster_writes.py: --servers 1..7, --jobs 1..100000, --writers 1..64, --timeout 1..3600, "
                 "--spread 0..timeout")
    t_start = time.monotonic()
    deadline = t_start + a.timeout
    lock = threading.Lock()
    codes = {}
    out = open(a.history, "a", buffering=1)

    def write(n, conns):
        wait = t_start + (n - 1) * a.spread / a.jobs - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        server = random.choice(servers)
        req = batch_job_json("%s%d" % (a.prefix, n), a.cpu, a.memory)
        t = time.time()
        t0 = time.monotonic()
        code, body = "000", b""
        try:
            if server not in conns:
                host, port = server.rsplit(":", 1)
                conns[server] = http.client.HTTPConnection(host, int(port), timeout=5)
            conns[server].request("PUT", "/v1/jobs", body=req, headers={"Content-Type": "application/json"})
            r = conns[server].getresponse()
            body = r.read()
            code = "%03d" % r.status
        except (OSError, http.client.HTTPException):
            c = conns.pop(server, None)
            if c:
                c.close()
        text = body[:4096].decode("utf-8", "replace").translate({9: " ", 10: " ", 13: " "})
        with lock:
            codes[code] = codes.get(code, 0) + 1
            out.write("%.6f\t%s\tPUT /v1/jobs %s\t%s\t%s\t%.3f\n" % (t, server, req, code, text,
                                                                     time.monotonic() - t0))

    def close_all(conns):
        for c in conns.values():
            c.close()

    run_numbered(a.writers, a.jobs, deadline, write, close_all)
    out.close()
    print("writes_sent=%d" % sum(codes.values()))
    print("writes_codes=%s" % ",".join("%s:%d" % kv for kv in sorted(codes.items())))
    print("writes_s=%.1f" % (time.monotonic() - t_start))


if __name__ == "__main__":
    main()
