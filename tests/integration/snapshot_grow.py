#!/usr/bin/env python3
"""snapshot_grow.py IN OUT N [BROKEN]: a snapshot document (drover operator snapshot
save) grown to N allocations, each a copy of its first one with its own ID, name
and index (same job, node and resources: the node is large enough), written to
OUT; with BROKEN, the same document with one allocation's ID a number, which the
state store refuses (snapshot.sh). With SNAP_JOBS=M in the environment, M more
jobs too, copies of the first one with their own IDs."""
import copy
import json
import os
import sys


def main():
    src, out, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    with open(src) as f:
        doc = json.load(f)
    allocs = doc["State"]["Allocs"]
    if not allocs:
        sys.exit("snapshot_grow: the saved state has no allocation to copy")
    proto = allocs[0]
    grown = []
    for i in range(n):
        a = copy.deepcopy(proto)
        a["ID"] = "%08x-%04x-4000-8000-%012x" % (0x5A000000 + i, i & 0xFFFF, i)
        a["Name"] = "%s.g[%d]" % (a.get("JobID", "seed"), i)
        grown.append(a)
    doc["State"]["Allocs"] = grown
    # SNAP_JOBS (snapshot.sh): as many more jobs, copies of the first one
    jobs = doc["State"]["Jobs"]
    for i in range(int(os.environ.get("SNAP_JOBS", "0"))):
        j = copy.deepcopy(jobs[0])
        j["ID"] = j["Name"] = "grown-%05d" % i
        jobs.append(j)
    with open(out, "w") as f:
        json.dump(doc, f, separators=(",", ":"))
    if len(sys.argv) > 4:
        grown[n // 2]["ID"] = 12345
        with open(sys.argv[4], "w") as f:
            json.dump(doc, f, separators=(",", ":"))


if __name__ == "__main__":
    main()
