#!/usr/bin/python3
"""sched_mixed_lp.py - how tight is bench/sched's `mixed` lower bound, and how few nodes can
hold its allocations at all (issue #18's packing target: nodes used <= 1.05 x the bound).

    /usr/bin/python3 bench/sched_mixed_lp.py [--nodes 1000] [--time-limit 60] [--spread] SEED...
    /usr/bin/python3 bench/sched_mixed_lp.py --online SEED...

Needs SciPy >= 1.9 (HiGHS: linprog, milp); Debian: `apt-get install python3-scipy`. A
measurement aid only: nothing builds or tests with it.

It re-creates scenario_mixed's workload (bench/sched_scenarios.c: the same splitmix64
stream, job shapes and class constraints; the allocations no node can hold are left out,
as in the bench) and prints, per seed, one line of name=value figures:

- lp, bound: the configuration LP (Gilmore-Gomory) by column generation. A column is a
  pattern, the allocations one node of one class can hold together (integer counts per
  (cpu, memory, classes allowed) type, each within both capacities); the master covers
  every type's demand with the fewest patterns, at most the class's nodes of each class;
  a column prices out by a two-dimensional integer knapsack (milp) per class. Its optimum
  is a lower bound on the nodes of any placement (every placement is a set of patterns),
  at least as strong as the bench's volume LP bound (nodes_lower_bound) and its class-aware
  one; bound = ceil(lp).
- nodes_lower_bound: the bench's volume LP bound, recomputed; ip_ratio = ip / it.
- ip: an integer packing (price and branch: the master over the generated columns, solved
  as an integer program within --time-limit seconds). A pattern may cover more than a
  type's demand; dropping the extra allocations keeps the packing valid, so ip nodes
  can hold the whole workload: an upper bound on the best offline placement.
- with --online instead: the online greedy at its best (online()): drover's binpack score
  with a full scan, used nodes first, arrival order, no soft constraints.
- items, types, cpu, mem: the allocations, distinct types and their demand, to compare
  with the bench's sched_mixed_offline_placed and nodes_lower_bound.
"""
import argparse
import math
import sys

try:
    import numpy as np
    from scipy.optimize import Bounds, LinearConstraint, linprog, milp
except ImportError as e:
    sys.exit(f"sched_mixed_lp.py: {e}: needs SciPy >= 1.9 with HiGHS (Debian: apt-get install python3-scipy)")

MASK64 = (1 << 64) - 1
SHAPES = [(8000, 8192, "compute"), (4000, 32768, "memory")]  # scenario_mixed's classes


def rng_next(s):
    """bench/sched_util.c rng_next (splitmix64) on a one-element list."""
    s[0] = (s[0] + 0x9E3779B97F4A7C15) & MASK64
    z = s[0]
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
    return z ^ (z >> 31)


def rng_range(s, lo, hi):
    return lo + rng_next(s) % (hi - lo + 1)


def workload(seed, nodes):
    """scenario_mixed's jobs: (count, cpu, mem, class constraint or None, spread over the
    datacenters), draw for draw."""
    s = [(seed * 7 + 3) & MASK64]
    target, asked, jobs = nodes * 6000 * 6 // 10, 0, []
    while asked < target:
        count = rng_range(s, 2, 30)
        if rng_range(s, 0, 1):  # cpu-heavy
            cpu, mem = 100 * rng_range(s, 5, 30), 128 * rng_range(s, 1, 8)
        else:  # memory-heavy
            cpu, mem = 100 * rng_range(s, 1, 8), 1024 * rng_range(s, 1, 8)
        pick = rng_range(s, 0, 29)  # < 10: pinned; 10..15 an affinity (soft, left out); 16..18 spread
        pinned = ("memory" if mem > 2048 else "compute") if pick < 10 else None
        if rng_range(s, 0, 49) == 0:
            mem = 40000  # cannot place anywhere
        jobs.append((count, cpu, mem, pinned, 16 <= pick < 19))
        asked += count * cpu
    return jobs


def item_types(jobs, keep_spread):
    """[(cpu, mem, class mask, demand)] of the placeable allocations. keep_spread: a job's
    spread over the datacenters kept as an even split of its allocations between the two
    classes (node i has class and datacenter i mod 2), as the bench's offline reference
    with the spread blocks kept (scen_offline) does."""
    demand = {}
    for count, cpu, mem, pinned, spread in jobs:
        mask = 0
        for k, (c, m, name) in enumerate(SHAPES):
            if (pinned is None or pinned == name) and cpu <= c and mem <= m:
                mask |= 1 << k
        for i in range(count if mask else 0):
            one = 1 << (i % len(SHAPES))
            m = one if keep_spread and spread and mask & one else mask
            demand[(cpu, mem, m)] = demand.get((cpu, mem, m), 0) + 1
    return [(c, m, mask, d) for (c, m, mask), d in sorted(demand.items())]


def most_in_one(t, k):
    return min(t[3], SHAPES[k][0] // t[0], SHAPES[k][1] // t[1])


def price(types, pi, k):
    """The pattern of class k with the largest dual value: (value, column) or (0, None)."""
    idx = [i for i, t in enumerate(types) if t[2] >> k & 1 and pi[i] > 1e-12]
    if not idx:
        return 0.0, None
    a = np.array([[types[i][0] for i in idx], [types[i][1] for i in idx]], float)
    r = milp(-np.array([pi[i] for i in idx]), integrality=np.ones(len(idx)),
             constraints=LinearConstraint(a, -np.inf, [SHAPES[k][0], SHAPES[k][1]]),
             bounds=Bounds(0, [most_in_one(types[i], k) for i in idx]), options={"mip_rel_gap": 1e-9})
    col = np.zeros(len(types))
    col[idx] = np.round(r.x)
    return float(pi @ col), col


def master_lp(cols, cls, demand, counts):
    a = np.array(cols).T
    per_class = np.array([[1.0 if c == k else 0.0 for c in cls] for k in range(len(SHAPES))])
    return linprog(np.ones(len(cols)), A_ub=np.vstack([-a, per_class]), b_ub=np.concatenate([-demand, counts]),
                   bounds=(0, None), method="highs")


def volume_bound(types, counts):
    """The bench's nodes_lower_bound (scen_lower_bound): over 101 weights w, the fewest nodes,
    largest share w cpu_k / cpu + (1 - w) mem_k / mem first, whose shares reach 1."""
    cpu = sum(t[0] * t[3] for t in types)
    mem = sum(t[1] * t[3] for t in types)
    best = 0
    for step in range(101):
        w = step / 100.0
        shares = sorted(((w * c / cpu + (1 - w) * m / mem, int(n)) for (c, m, _), n in zip(SHAPES, counts)),
                        reverse=True)
        need, total = 0, 0.0
        for share, n in shares:
            k = min(n, max(0, math.ceil((1 - 1e-9 - total) / share)))
            need += k
            total += k * share
        best = max(best, need)
    return best


def solve(seed, nodes, time_limit, keep_spread):
    types = item_types(workload(seed, nodes), keep_spread)
    n = len(types)
    demand = np.array([t[3] for t in types], float)
    counts = np.array([nodes // 2 + (nodes % 2 > k) for k in range(len(SHAPES))], float)
    cols, cls = [], []
    for i, t in enumerate(types):  # start: one type per pattern, as many as fit
        for k in range(len(SHAPES)):
            if t[2] >> k & 1:
                col = np.zeros(n)
                col[i] = most_in_one(t, k)
                cols.append(col)
                cls.append(k)
    for it in range(1, 2001):  # column generation (about 200 rounds here)
        r = master_lp(cols, cls, demand, counts)
        duals = r.ineqlin.marginals
        pi, nu = -duals[:n], duals[n:]
        added = 0
        for k in range(len(SHAPES)):
            value, col = price(types, pi, k)
            if col is not None and value > 1 - nu[k] + 1e-7:  # negative reduced cost
                cols.append(col)
                cls.append(k)
                added += 1
        if not added:
            break
    a = np.array(cols).T
    per_class = np.array([[1.0 if c == k else 0.0 for c in cls] for k in range(len(SHAPES))])
    ri = milp(np.ones(len(cols)), integrality=np.ones(len(cols)),
              constraints=[LinearConstraint(a, demand, np.inf), LinearConstraint(per_class, 0, counts)],
              options={"time_limit": time_limit, "mip_rel_gap": 0})
    out = {"seed": seed, "items": int(demand.sum()), "types": n,
           "cpu": sum(t[0] * t[3] for t in types), "mem": sum(t[1] * t[3] for t in types),
           "nodes_lower_bound": volume_bound(types, counts), "rounds": it, "columns": len(cols),
           "lp": round(r.fun, 3), "bound": math.ceil(r.fun - 1e-6)}
    if ri.x is not None:
        x = np.round(ri.x)
        out["ip"] = int(x.sum())
        for k, (_, _, name) in enumerate(SHAPES):
            out["ip_" + name] = int(sum(x[p] for p in range(len(cols)) if cls[p] == k))
        out["ip_ratio"] = round(out["ip"] / out["nodes_lower_bound"], 3)
    out["ip_proved_optimal"] = int(ri.status == 0)
    return out


def binpack_score(cap_c, cap_m, used_c, used_m, cpu, mem):
    """controlplane/scheduler/rank.c sched_fit_score under binpack, for every node at once."""
    fc, fm = 1 - (used_c + cpu) / cap_c, 1 - (used_m + mem) / cap_m
    fit = np.clip(20 - 10 ** fc - 10 ** fm, 0, 18) / 18  # Nomad's ScoreFit
    after, before = np.abs(fc - fm), np.abs(fc + cpu / cap_c - fm - mem / cap_m)
    return (fit + 1 - after + before - after) / 2


def online(seed, nodes):
    """The online greedy at its best: drover's binpack score over every node (no candidate
    limit), used nodes first, the jobs in arrival order, one placement at a time (no
    workers), class constraints kept, no job anti-affinity, affinity or spread. Nodes used
    (all, compute, memory)."""
    cls = np.arange(nodes) % 2
    cap_c = np.where(cls == 0, SHAPES[0][0], SHAPES[1][0]).astype(float)
    cap_m = np.where(cls == 0, SHAPES[0][1], SHAPES[1][1]).astype(float)
    used_c, used_m = np.zeros(nodes), np.zeros(nodes)
    for count, cpu, mem, pinned, _ in workload(seed, nodes):
        allowed = np.ones(nodes, bool) if pinned is None else cls == [s[2] for s in SHAPES].index(pinned)
        for _ in range(count):
            fit = allowed & (used_c + cpu <= cap_c) & (used_m + mem <= cap_m)
            if not fit.any():
                break
            if (fit & (used_c > 0)).any():
                fit &= used_c > 0
            i = int(np.argmax(np.where(fit, binpack_score(cap_c, cap_m, used_c, used_m, cpu, mem), -np.inf)))
            used_c[i] += cpu
            used_m[i] += mem
    on = used_c > 0
    return int(on.sum()), int((on & (cls == 0)).sum()), int((on & (cls == 1)).sum())


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--nodes", type=int, default=1000)
    ap.add_argument("--time-limit", type=float, default=60.0, help="seconds for the integer packing")
    ap.add_argument("--spread", action="store_true", help="keep the spread blocks (an even split per job)")
    ap.add_argument("--online", action="store_true", help="the online greedy at its best instead (online())")
    ap.add_argument("seeds", type=int, nargs="+")
    args = ap.parse_args()
    for seed in args.seeds:
        if args.online:
            types = item_types(workload(seed, args.nodes), False)
            lb = volume_bound(types, [args.nodes // 2 + (args.nodes % 2 > k) for k in range(len(SHAPES))])
            used, comp, memo = online(seed, args.nodes)
            print("seed=%d nodes_lower_bound=%d online_nodes_used=%d online_compute=%d online_memory=%d "
                  "online_ratio=%.3f" % (seed, lb, used, comp, memo, used / lb), flush=True)
            continue
        out = solve(seed, args.nodes, args.time_limit, args.spread)
        print(" ".join("%s=%s" % kv for kv in out.items()), flush=True)


if __name__ == "__main__":
    sys.exit(main())
