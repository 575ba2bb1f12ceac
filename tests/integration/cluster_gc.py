#!/usr/bin/env python3
"""cluster_gc.py - the load of cluster.sh's GC check: N short batch jobs that run and stop.

  cluster_gc.py --server H:P [--read-server H:P] --jobs N --nodes ID,ID,... [--prefix gc-]
                [--concurrency 16] [--timeout 300] [--poll 1.0]

Registers N batch jobs (one allocation each) through --server with --concurrency
requests in flight on kept-alive connections, then plays the fake nodes: heartbeats
them and reports every placed allocation of the jobs complete (chunks of 500 per
request) until every job is dead or --timeout seconds have passed. The lists of
allocations and jobs are read with ?stale from --read-server (a follower: building
10,000 stubs then does not stall the leader's loop), every --poll seconds. Prints
name=value lines; exit status 0 when every job was acknowledged and is dead.
"""
import argparse
import http.client
import json
import sys
import threading
import time

from cluster_load import batch_job, run_numbered


def request(conn, method, path, body=None):
    data = json.dumps(body).encode() if body is not None else None
    conn.request(method, path, body=data, headers={"Content-Type": "application/json"})
    r = conn.getresponse()
    return r.status, r.read()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--server", required=True)
    ap.add_argument("--jobs", type=int, required=True)
    ap.add_argument("--nodes", required=True)
    ap.add_argument("--prefix", default="gc-")
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--timeout", type=int, default=300)
    ap.add_argument("--read-server", default="")
    ap.add_argument("--poll", type=float, default=1.0)
    a = ap.parse_args()
    if not 1 <= a.jobs <= 100000 or not 1 <= a.concurrency <= 256 or not 1 <= a.timeout <= 3600:
        sys.exit("cluster_gc.py: --jobs 1..100000, --concurrency 1..256, --timeout 1..3600")
    host, port = a.server.rsplit(":", 1)
    nodes = [n for n in a.nodes.split(",") if n]
    deadline = time.monotonic() + a.timeout
    t0 = time.monotonic()

    acked = [0]
    lock = threading.Lock()

    def register(n, conns):
        conn = conns.setdefault("c", http.client.HTTPConnection(host, int(port), timeout=30))
        job = batch_job("%s%d" % (a.prefix, n), 10, 10)
        for _ in range(5):  # a dropped connection or a 5xx (a leader change) is retried
            try:
                st, _ = request(conn, "PUT", "/v1/jobs", job)
            except (OSError, http.client.HTTPException):
                conn.close()
                conn = conns["c"] = http.client.HTTPConnection(host, int(port), timeout=30)
                continue
            if 200 <= st < 300:
                with lock:
                    acked[0] += 1
                break
            time.sleep(0.2)

    run_numbered(a.concurrency, a.jobs, deadline, register, lambda conns: [c.close() for c in conns.values()])
    t_reg = time.monotonic() - t0

    conn = http.client.HTTPConnection(host, int(port), timeout=60)
    rhost, rport = (a.read_server or a.server).rsplit(":", 1)
    rconn = http.client.HTTPConnection(rhost, int(rport), timeout=60)
    dead = 0
    completed = 0
    while time.monotonic() < deadline:
        for n in nodes:
            request(conn, "PUT", "/v1/node/%s/heartbeat" % n, {"SecretID": "s"})
        st, body = request(rconn, "GET", "/v1/allocations?stale")
        by_node = {}
        for al in json.loads(body) if st == 200 else []:
            if al["JobID"].startswith(a.prefix) and al["ClientStatus"] not in ("complete", "failed", "lost"):
                by_node.setdefault(al["NodeID"], []).append({"ID": al["ID"], "ClientStatus": "complete"})
        for node, ups in by_node.items():
            for i in range(0, len(ups), 500):
                st, _ = request(conn, "PUT", "/v1/node/%s/allocations" % node, {"SecretID": "s", "Allocs": ups[i:i + 500]})
                if 200 <= st < 300:
                    completed += len(ups[i:i + 500])
        st, body = request(rconn, "GET", "/v1/jobs?stale&prefix=%s" % a.prefix)
        dead = sum(1 for j in json.loads(body) if j["Status"] == "dead") if st == 200 else 0
        print("  %.1f s: %d allocation(s) completed now, %d in all; %d job(s) dead" %
              (time.monotonic() - t0, sum(len(u) for u in by_node.values()), completed, dead), file=sys.stderr)
        if dead >= a.jobs:
            break
        time.sleep(a.poll)
    print("gc_jobs_acknowledged=%d" % acked[0])
    print("gc_jobs_dead=%d" % dead)
    print("gc_allocs_completed=%d" % completed)
    print("gc_register_s=%.1f" % t_reg)
    print("gc_run_s=%.1f" % (time.monotonic() - t0))
    sys.exit(0 if acked[0] == a.jobs and dead >= a.jobs else 1)


if __name__ == "__main__":
    main()
