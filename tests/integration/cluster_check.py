#!/usr/bin/env python3
"""cluster_check.py - cluster.sh's check of test (1): every acknowledged job placed, once,
on every server, and no node overcommitted.

  cluster_check.py --history FILE --servers H:P,H:P,... --nodes ID,ID,... [--timeout 90]

FILE is the history cluster.sh keeps, one request a line, tab-separated: time, server,
request (method, path and body), HTTP code, answer body, seconds the answer took. A job is acknowledged when its
registration got a 2xx answer. On every server (read with ?stale: what that server
holds), until all hold or --timeout seconds have passed:
  - every acknowledged job has exactly one allocation, and it is placed (a NodeID of
    one of --nodes) and not terminal: none lost, none applied twice;
  - no allocation name (job.group[index]) appears twice among the allocations;
  - per node, the sum of its non-terminal allocations' CPU and MemoryMB is at most the
    node's resources less its reserved ones.
Prints name=value lines and what fails; exit status 0 when every server holds.
"""
import argparse
import http.client
import json
import sys
import time

TERMINAL = ("complete", "failed", "lost")


def get(server, path):
    host, port = server.rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        conn.request("GET", path)
        r = conn.getresponse()
        body = r.read()
        return json.loads(body) if r.status == 200 else None
    except (OSError, http.client.HTTPException, ValueError):
        return None
    finally:
        conn.close()


def acknowledged(history):
    jobs = set()
    with open(history) as f:
        for line in f:
            cols = line.rstrip("\n").split("\t")
            if len(cols) < 5 or not cols[3].startswith("2"):
                continue
            try:
                jobs.add(json.loads(cols[2].split(" ", 2)[2])["Job"]["ID"])
            except (IndexError, ValueError, KeyError, TypeError):
                continue
    return jobs


def check_server(server, acked, nodes):
    """The list of what server fails, empty when it holds."""
    problems = []
    per_job = {}
    names = {}
    for node_id in nodes:
        node = get(server, "/v1/node/%s?stale" % node_id)
        allocs = get(server, "/v1/node/%s/allocations?stale" % node_id)
        if node is None or allocs is None:
            return ["%s: node %s or its allocations unreadable" % (server, node_id)]
        res, rsv = node.get("NodeResources") or {}, node.get("ReservedResources") or {}
        cap_cpu = (res.get("Cpu") or {}).get("CpuShares", 0) - (rsv.get("Cpu") or {}).get("CpuShares", 0)
        cap_mem = (res.get("Memory") or {}).get("MemoryMB", 0) - (rsv.get("Memory") or {}).get("MemoryMB", 0)
        cpu = mem = 0
        for al in allocs:
            if al.get("NodeID") != node_id:
                problems.append("%s: allocation %s of node %s lists NodeID %s" % (server, al["ID"], node_id, al.get("NodeID")))
            names.setdefault(al["Name"], []).append(al["ID"])
            if al.get("ClientStatus") in TERMINAL or al.get("DesiredStatus") in ("stop", "evict"):
                continue
            r = al.get("Resources") or {}
            cpu += r.get("CPU", 0)
            mem += r.get("MemoryMB", 0)
            if al["JobID"] in acked:
                per_job.setdefault(al["JobID"], []).append(al["ID"])
        if cpu > cap_cpu or mem > cap_mem:
            problems.append("%s: node %s overcommitted: cpu %d of %d, memory %d of %d MB" %
                            (server, node_id, cpu, cap_cpu, mem, cap_mem))
        print("  %s node %s: %d allocation(s), cpu %d of %d, memory %d of %d MB" %
              (server, node_id, len(allocs), cpu, cap_cpu, mem, cap_mem), file=sys.stderr)
    missing = sorted(acked - set(per_job))
    if missing:
        problems.append("%s: %d acknowledged job(s) without a live placed allocation: %s" %
                        (server, len(missing), " ".join(missing[:10])))
    twice = sorted(j for j, ids in per_job.items() if len(ids) > 1)
    if twice:
        problems.append("%s: %d job(s) with more than one live allocation: %s" % (server, len(twice), " ".join(twice[:10])))
    dup = sorted(n for n, ids in names.items() if len(ids) > 1 and n.split(".", 1)[0] in acked)
    if dup:
        problems.append("%s: %d allocation name(s) placed twice: %s" % (server, len(dup), " ".join(dup[:10])))
    return problems


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--history", required=True)
    ap.add_argument("--servers", required=True)
    ap.add_argument("--nodes", required=True)
    ap.add_argument("--timeout", type=int, default=90)
    a = ap.parse_args()
    servers = [s for s in a.servers.split(",") if s][:7]
    nodes = [n for n in a.nodes.split(",") if n][:64]
    if not servers or not nodes or not 1 <= a.timeout <= 3600:
        sys.exit("cluster_check.py: --servers and --nodes must name at least one, --timeout 1..3600")
    acked = acknowledged(a.history)
    deadline = time.monotonic() + a.timeout
    t0 = time.monotonic()
    while True:
        problems = []
        for s in servers:
            problems += check_server(s, acked, nodes)
        if not problems or time.monotonic() > deadline:
            break
        time.sleep(2)
    print("check_acknowledged=%d" % len(acked))
    print("check_wait_s=%.1f" % (time.monotonic() - t0))
    for p in problems:
        print("problem: %s" % p)
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
