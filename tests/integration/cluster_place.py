#!/usr/bin/env python3
"""cluster_place.py - cluster.sh's placement check of the jobs written while the leader was killed.

  cluster_place.py --servers H:P,H:P,H:P --jobs FILE

FILE lists job IDs, one a line: the registrations that got a 2xx answer. Each is a
batch job of one task group of count 1. On every server (read with ?stale: each
server's own state), passes when
  - every listed job has exactly one live allocation (desired "run", not complete,
    failed or lost) and it is on a node: placed, and placed once (an evaluation
    redelivered or a plan applied twice across the leader changes would show as two);
  - no two live allocations share a name (job.group[index]);
  - no node is overcommitted: the CPU and memory of the live allocations on a node
    (any job's) add up to at most the node's resources less what it reserves.
Prints one line per server and a last line naming what failed; exit status 0 when
every server passes. Every request has a 10 s timeout; the lists are bounded by
what the cluster holds (cluster.sh: a few hundred allocations).
"""
import argparse
import http.client
import json
import sys


def get(conn, path):
    conn.request("GET", path)
    r = conn.getresponse()
    body = r.read()
    if r.status != 200:
        raise RuntimeError("GET %s: %d %s" % (path, r.status, body[:200]))
    return json.loads(body)


def alloc_use(a):
    """(MHz, MB) an allocation holds: its tasks' allocated resources, else its Resources."""
    tasks = (a.get("AllocatedResources") or {}).get("Tasks") or {}
    if tasks:
        cpu = sum((t.get("Cpu") or {}).get("CpuShares", 0) for t in tasks.values())
        mem = sum((t.get("Memory") or {}).get("MemoryMB", 0) for t in tasks.values())
        return cpu, mem
    r = a.get("Resources") or {}
    return r.get("CPU", 0), r.get("MemoryMB", 0)


def check(server, want):
    host, port = server.rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    problems = []
    live = [a for a in get(conn, "/v1/allocations?stale")
            if a.get("DesiredStatus") == "run" and a.get("ClientStatus") not in ("complete", "failed", "lost")]
    by_job, names = {}, {}
    for a in live:
        by_job.setdefault(a["JobID"], []).append(a)
        names[a["Name"]] = names.get(a["Name"], 0) + 1
    unplaced = [j for j in want if len(by_job.get(j, [])) == 0 or not by_job[j][0].get("NodeID")]
    twice = [j for j in want if len(by_job.get(j, [])) > 1]
    dup = [n for n, c in names.items() if c > 1]
    if unplaced:
        problems.append("%d job(s) without a live placed allocation (%s)" % (len(unplaced), " ".join(unplaced[:5])))
    if twice:
        problems.append("%d job(s) with more than one live allocation (%s)" % (len(twice), " ".join(twice[:5])))
    if dup:
        problems.append("allocation names held twice: %s" % " ".join(dup[:5]))
    use = {}
    for a in live:
        full = get(conn, "/v1/allocation/%s?stale" % a["ID"])
        cpu, mem = alloc_use(full)
        u = use.setdefault(a.get("NodeID", ""), [0, 0, 0])
        u[0] += cpu
        u[1] += mem
        u[2] += 1
    over = []
    for node_id, (cpu, mem, n) in sorted(use.items()):
        if not node_id:
            continue
        node = get(conn, "/v1/node/%s?stale" % node_id)
        res, rsv = node.get("NodeResources") or {}, node.get("ReservedResources") or {}
        cap_cpu = (res.get("Cpu") or {}).get("CpuShares", 0) - (rsv.get("Cpu") or {}).get("CpuShares", 0)
        cap_mem = (res.get("Memory") or {}).get("MemoryMB", 0) - (rsv.get("Memory") or {}).get("MemoryMB", 0)
        if cpu > cap_cpu or mem > cap_mem:
            over.append("%s: %d allocations use %d MHz / %d MB of %d / %d" % (node_id[:8], n, cpu, mem, cap_cpu, cap_mem))
    if over:
        problems.append("overcommitted: " + "; ".join(over))
    print("  %s: %d live allocations on %d node(s); %d of %d jobs placed once; %s" %
          (server, len(live), len([k for k in use if k]), len(want) - len(unplaced) - len(twice), len(want),
           "; ".join(problems) or "ok"))
    return problems


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--servers", required=True)
    ap.add_argument("--jobs", required=True)
    a = ap.parse_args()
    with open(a.jobs) as f:
        want = [line.strip() for line in f if line.strip()][:100000]
    failed = []
    for s in [s for s in a.servers.split(",") if s][:16]:
        try:
            if check(s, want):
                failed.append(s)
        except (OSError, http.client.HTTPException, RuntimeError, ValueError) as e:
            print("  %s: %s" % (s, e))
            failed.append(s)
    print("failed: %s" % (" ".join(failed) or "none"))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
