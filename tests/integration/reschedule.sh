#!/bin/bash
# The reschedule block on loopback: a real drover-server and drover-agent (raw_exec).
# A batch job whose task exits 1 (restart attempts 0), with reschedule attempts = 2 and
# delay = 1s: the agent's report of each failure commits an alloc-failure evaluation,
# the scheduler waits the delay (a follow-up evaluation) and places a replacement that
# names its predecessor (PreviousAllocation) and carries its RescheduleTracker, while
# the predecessor names it (NextAllocation) and the follow-up evaluation it waited for
# (FollowupEvalID); after the two attempts the third failure stays failed (no
# NextAllocation, no FollowupEvalID): three failed allocations, no fourth.
# Usage: tests/integration/reschedule.sh BIN_DIR. Ports from 31000-31479; every wait is
# bounded in wall time (the whole run under 60 s); every process started is stopped.
set -u
BIN=$(cd "${1:-build/bin}" && pwd)
WORK=$(mktemp -d /tmp/drover-resched-XXXXXX)
. "$(dirname "$0")/lib.sh" # log, pass, fail, wait_for, api, jget, setup_run, start_server, start_agent
setup_run 31000

start_server || exit 1
start_agent resched-node || exit 1

cat >"$WORK/fail.hcl" <<HCL
job "fail" {
  type = "batch"
  group "g" {
    restart {
      attempts = 0
      mode     = "fail"
    }
    reschedule {
      attempts = 2
      interval = "1h"
      delay    = "1s"
    }
    task "t" {
      driver = "raw_exec"
      config {
        command = "/bin/sh"
        args    = ["-c", "echo run >> $WORK/runs; exit 1"]
      }
      resources {
        cpu    = 20
        memory = 16
      }
    }
  }
}
HCL
t0=$SECONDS
"$BIN/drover" job run -detach "$WORK/fail.hcl" >/dev/null || fail "job run"

# allocs_where EXPR: how many allocations of the job satisfy EXPR over a (the stub).
allocs_where() { api "/v1/job/fail/allocations" | jget "len([a for a in d if $1])"; }
three_failed() { [ "$(allocs_where "a['ClientStatus'] == 'failed'")" = 3 ]; }
# within_s SECONDS COMMAND...: COMMAND every 0.2 s until it succeeds, for at most SECONDS
# of wall time (wait_for bounds tries, which a loaded host stretches past this run's budget).
within_s() {
        local end=$((SECONDS + $1))
        shift
        until "$@"; do
                [ $SECONDS -ge $end ] && return 1
                sleep 0.2
        done
}
if within_s 30 three_failed; then
        pass "the failed allocation was rescheduled twice: three failed allocations after $((SECONDS - t0)) s"
else
        api "/v1/job/fail/allocations" | jget "[(a['ID'][:8], a['ClientStatus']) for a in d]"
        fail "the failed allocation was rescheduled twice: three failed allocations"
fi

# The attempts are used up: nothing more, even after several delays.
sleep 4
n=$(allocs_where "True")
runs=$(wc -l <"$WORK/runs" 2>/dev/null || echo 0)
if [ "$n" = 3 ] && [ "$runs" = 3 ]; then
        pass "no fourth allocation once the attempts are used up (3 allocations, 3 runs)"
else
        fail "no fourth allocation once the attempts are used up ($n allocations, $runs runs)"
fi

# The chain through GET /v1/allocation/:id: each replacement names its predecessor and
# carries one more tracker event (the predecessor, its node, Delay 1 s), and was placed
# no earlier than the delay after the failure it replaces; each predecessor names its
# replacement (NextAllocation) and, where the delay was still to run when its failure
# was evaluated (a loaded host may evaluate it later), the follow-up evaluation
# (FollowupEvalID: an alloc-failure eval with a WaitUntil, GET /v1/evaluation/:id).
check_chain() {
        python3 - "$ADDR" <<'PY'
import calendar, json, sys, time, urllib.request
addr = sys.argv[1]
get = lambda p: json.load(urllib.request.urlopen(addr + p, timeout=5))
def ns(t):  # RFC 3339 in UTC with nanoseconds -> unix ns
    base, _, frac = t.rstrip("Z").partition(".")
    return calendar.timegm(time.strptime(base, "%Y-%m-%dT%H:%M:%S")) * 10**9 + int((frac or "0").ljust(9, "0")[:9])
allocs = [get("/v1/allocation/" + a["ID"]) for a in get("/v1/job/fail/allocations")]
first = [a for a in allocs if not a.get("PreviousAllocation")]
assert len(first) == 1, "one original allocation, got %d" % len(first)
a, n, followups = first[0], 0, 0
while True:
    nxt = [b for b in allocs if b.get("PreviousAllocation") == a["ID"]]
    if not nxt:
        break
    assert len(nxt) == 1, "one replacement per allocation"
    b = nxt[0]
    ev = (b.get("RescheduleTracker") or {}).get("Events") or []
    n += 1
    assert len(ev) == n, "replacement %d has %d tracker events" % (n, len(ev))
    last = ev[-1]
    assert last["PrevAllocID"] == a["ID"] and last["PrevNodeID"] == a["NodeID"], last
    assert last["Delay"] == 1000000000, last
    finished = max(ns(t["FinishedAt"]) for t in a["TaskStates"].values())
    assert finished > 0, a["TaskStates"]
    assert b["CreateTime"] >= finished + 1000000000 - 50000000, "placed %.3f s after the failure" % (
        (b["CreateTime"] - finished) / 1e9)
    assert a["NextAllocation"] == b["ID"], "NextAllocation %r, replaced by %s" % (a["NextAllocation"], b["ID"])
    if a["FollowupEvalID"]:
        followups += 1
        e = get("/v1/evaluation/" + a["FollowupEvalID"])
        assert e["TriggeredBy"] == "alloc-failure" and e["JobID"] == "fail", e
        assert e["WaitUntil"] and not e["WaitUntil"].startswith("0001"), e["WaitUntil"]
    a = b
assert n == 2, "two reschedules, got %d" % n
assert followups >= 1, "no replaced allocation records a follow-up evaluation"
assert a["NextAllocation"] == "" and a["FollowupEvalID"] == "", "the last: %r %r" % (a["NextAllocation"], a["FollowupEvalID"])
print("chain of", n + 1, "with", followups, "follow-up evals")
PY
}
if check_chain >"$WORK/chain.out" 2>&1; then
        pass "GET /v1/allocation/:id: each replacement's PreviousAllocation and RescheduleTracker (1 then 2 events, Delay 1 s), each predecessor's NextAllocation and FollowupEvalID ($(cat "$WORK/chain.out"))"
else
        cat "$WORK/chain.out"
        fail "GET /v1/allocation/:id: each replacement's PreviousAllocation and RescheduleTracker, each predecessor's NextAllocation and FollowupEvalID"
fi

log "$passed passed, $failed failed"
[ "$failed" = 0 ]
