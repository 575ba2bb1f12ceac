#!/bin/bash
# Rolling updates and deployments on loopback: one server, one agent (raw_exec).
# Usage: tests/integration/deploy.sh BIN_DIR
# - a service job of count 3 with update { max_parallel = 1, min_healthy_time = "1s" },
#   registered again with a changed env, is replaced one at a time: in Raft order each
#   stop and its placement come after the health mark of the placement before (never
#   two replacements at once), and its deployment ends "successful";
# - each successful version stays Stable in `drover job history`;
# - a change that needs no restart (priority) updates the allocations in place;
# - a job with canary = 1 places one canary (listed in PlacedCanaries) and waits for
#   `deployment promote`.
# Ports: DROVER_TEST_PORT_BASE (default 28500) to +499.
# Every wait is bounded; every process started here is stopped on exit.
set -u
RM_WORK=$(cd "$(dirname "${BASH_SOURCE[0]}")/../support" && pwd)/rm_work.sh # rm -rf that first detaches mounts
BIN=$(cd "${1:-build/bin}" && pwd)
WORK=$(mktemp -d /tmp/drover-deploy-XXXXXX)
. "$(dirname "$0")/../support/ports.sh" # port_free, pick_port
PORT_BASE=${DROVER_TEST_PORT_BASE:-28500}
pick_port "$PORT_BASE" 480 1 10 # this test's range: PORT_BASE to PORT_BASE + 499
ADDR="http://127.0.0.1:$PORT"
export DROVER_ADDR=$ADDR
MARK="drover-deploy-$$"
passed=0
failed=0
server_pid=""
agent_pid=""
cleanup() {
        [ -n "$agent_pid" ] && kill -9 "$agent_pid" 2>/dev/null
        [ -n "$server_pid" ] && kill -9 "$server_pid" 2>/dev/null
        for p in $(pgrep -f "# $MARK"); do kill -9 "$p" 2>/dev/null; done
        for p in $(pgrep -x sleep); do # the tasks' sleeps (their cwd is under $WORK)
                case "$(readlink "/proc/$p/cwd" 2>/dev/null)" in "$WORK"/*) kill -9 "$p" 2>/dev/null ;; esac
        done
        wait 2>/dev/null
        "$RM_WORK" "$WORK"
}
trap cleanup EXIT
. "$(dirname "$0")/lib.sh" # log, pass, fail, wait_for, api, api_code, jget

"$BIN/drover-server" -dev -data-dir "$WORK/server" -http-addr "127.0.0.1:$PORT" -raft-addr "127.0.0.1:$((PORT + 1))" \
        >>"$WORK/server.log" 2>&1 &
server_pid=$!
wait_for 20 sh -c "curl -fs $ADDR/v1/status/leader | grep -q 127.0.0.1" || { fail "server starts"; exit 1; }
"$BIN/drover-agent" -servers "$ADDR" -data-dir "$WORK/agent" -node-name deploy-node -raw-exec \
        -http-addr "127.0.0.1:$((PORT + 10))" >>"$WORK/agent.log" 2>&1 &
agent_pid=$!
wait_for 20 sh -c "curl -fs $ADDR/v1/nodes | grep -q '\"Status\":\"ready\"'" || { fail "agent registers"; exit 1; }

job_file() { # VERSION_ENV PRIORITY
        cat <<HCL
job "web" {
  priority = $2
  update {
    max_parallel     = 1
    min_healthy_time = "1s"
    healthy_deadline = "1m"
  }
  group "g" {
    count = 3
    task "t" {
      driver = "raw_exec"
      env {
        VERSION = "$1"
      }
      config {
        command = "/bin/sh"
        args    = ["-c", "sleep 600 # $MARK"]
      }
      resources {
        cpu    = 20
        memory = 16
      }
    }
  }
}
HCL
}

# watch JOB VERSION SECONDS: poll the job's allocations (one python process) until
# 3 desired-run allocs run VERSION and the latest deployment is successful; prints
# "min_running max_missing stopped_for_update deployment".
watch() {
        python3 - "$ADDR" "$1" "$2" "$3" <<'PY'
import json, sys, time, urllib.request
addr, job, ver, secs = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
get = lambda p: json.load(urllib.request.urlopen(addr + p, timeout=5))
min_running, end, dep = 3, time.time() + secs, None
while time.time() < end:
    allocs = get("/v1/job/%s/allocations" % job)
    run = [a for a in allocs if a["DesiredStatus"] == "run"]
    running = sum(1 for a in run if a["ClientStatus"] == "running")
    min_running = min(min_running, running)
    dep = get("/v1/job/%s/deployment" % job)
    done = sum(1 for a in run if a["ClientStatus"] == "running" and a["JobVersion"] == ver)
    if done == 3 and dep and dep["Status"] == "successful":
        break
    time.sleep(0.05)
stopped = sum(1 for a in allocs if a["DesiredDescription"] == "alloc is being updated due to job update")
g = (dep or {}).get("TaskGroups", {}).get("g", {})
print(min_running, stopped, (dep or {}).get("JobVersion"), (dep or {}).get("Status"), g.get("HealthyAllocs"), done)
PY
}

job_file 1 50 >"$WORK/web.hcl"
timeout 60 "$BIN/drover" job run "$WORK/web.hcl" >"$WORK/run.out" 2>&1
run_rc=$?
res=$(watch web 0 60)
if [ "$(echo "$res" | cut -d' ' -f3-)" = "0 successful 3 3" ] && [ $run_rc = 0 ] &&
        grep -q 'Monitoring deployment' "$WORK/run.out" && grep -q 'Deployment ".*" successful' "$WORK/run.out" &&
        grep -Eq '^g +3 +3 +3 +0 ' "$WORK/run.out"; then
        pass "first version: job run follows the deployment until it is successful ($res)"
else
        cat "$WORK/run.out"
        fail "first version: 3 allocations running, deployment successful (rc $run_rc, got: $res)"
fi

# --- a destructive update, one at a time ----------------------------------------------
job_file 2 50 >"$WORK/web2.hcl"
"$BIN/drover" job run -detach "$WORK/web2.hcl" >/dev/null 2>&1
res=$(watch web 1 90)
set -- $res
if [ "$1" -ge 2 ] && [ "$2" = 3 ] && [ "$3 $4 $5 $6" = "1 successful 3 3" ]; then
        pass "env change: 3 allocations replaced one at a time (min running $1), deployment of version 1 successful"
else
        fail "env change: replaced one at a time (min running, stopped for update, version, status, healthy, done: $res)"
fi
# One at a time, in Raft order: S (an allocation of version 0 stopped for the update, at
# its AllocModifyIndex), P (an allocation of version 1 placed, at its CreateIndex), H
# (a health mark: the deployment watcher's evaluation, at its CreateIndex). Each stop
# and placement must follow the health mark of the placement before: S P H S P H S P H;
# two replacements at once read S S P P ..., a placement before the health mark S P S P.
jmi=$(api /v1/job/web | jget 'd["JobModifyIndex"]')
order=$(python3 - "$ADDR" "${jmi:-0}" <<'PY'
import json, sys, urllib.request
addr, jmi = sys.argv[1], int(sys.argv[2])
get = lambda p: json.load(urllib.request.urlopen(addr + p, timeout=5))
ev = []
for a in get("/v1/job/web/allocations"):
    if a["JobVersion"] == 0 and a["DesiredDescription"] == "alloc is being updated due to job update":
        ev.append((get("/v1/allocation/" + a["ID"])["AllocModifyIndex"], 0, "S"))
    elif a["JobVersion"] == 1:
        ev.append((a["CreateIndex"], 1, "P"))
ev += [(e["CreateIndex"], 2, "H") for e in get("/v1/job/web/evaluations")
       if e["TriggeredBy"] == "deployment-watcher" and e["CreateIndex"] > jmi]
print("".join(x[2] for x in sorted(ev)))
PY
)
if [ "$order" = SPHSPHSPH ]; then
        pass "env change: in Raft order each stop and placement follow the last placement's health mark ($order)"
else
        api /v1/job/web/allocations | jget "[(a['ID'][:8], a['JobVersion'], a['DesiredStatus'], a['CreateIndex'], a['AllocModifyIndex']) for a in d]"
        fail "env change: one replacement at a time in Raft order (want SPHSPHSPH, got $order)"
fi
stable=$(api /v1/job/web | jget 'd.get("Stable")')
[ "$stable" = True ] && pass "the successful version is marked Stable" || fail "job Stable after success (got $stable)"

# --- in place: same allocations, new version ------------------------------------------
ids_before=$(api /v1/job/web/allocations | jget "sorted(a['ID'] for a in d if a['DesiredStatus']=='run')")
job_file 2 70 >"$WORK/web3.hcl"
"$BIN/drover" job run -detach "$WORK/web3.hcl" >/dev/null 2>&1
res=$(watch web 2 60)
set -- $res
if [ "$3 $4 $6" = "2 successful 3" ] &&
        [ "$(api /v1/job/web/allocations | jget "sorted(a['ID'] for a in d if a['DesiredStatus']=='run')")" = "$ids_before" ]; then
        pass "priority change: the same 3 allocations updated in place to version 2"
else
        api /v1/job/web/allocations | jget "[(a['ID'][:8], a['JobVersion'], a['DesiredStatus'], a['ClientStatus']) for a in d]"
        fail "priority change: updated in place ($res)"
fi
"$BIN/drover" job history web >"$WORK/history.out" 2>&1
hist=$(awk '/^Version/ {v=$3} /^Stable/ {printf "%s=%s ", v, $3}' "$WORK/history.out")
if [ "$hist" = "2=true 1=true 0=true " ]; then
        pass "drover job history: every successfully deployed version is Stable ($hist)"
else
        cat "$WORK/history.out"
        fail "drover job history Stable column (got $hist)"
fi
"$BIN/drover" deployment list >"$WORK/dlist.out" 2>&1
if grep -q '^ID ' "$WORK/dlist.out" && [ "$(grep -c ' web ' "$WORK/dlist.out")" -ge 3 ]; then
        pass "drover deployment list shows the job's deployments"
else
        cat "$WORK/dlist.out"
        fail "drover deployment list"
fi

# --- canary = 1: one canary beside the 3 old allocations, then promote -------------------
sed 's/max_parallel     = 1/max_parallel     = 1\n    canary           = 1/; s/job "web"/job "can"/' "$WORK/web.hcl" >"$WORK/can.hcl"
"$BIN/drover" job run -detach "$WORK/can.hcl" >/dev/null 2>&1
res=$(watch can 0 60)
sed 's/VERSION = "1"/VERSION = "2"/' "$WORK/can.hcl" >"$WORK/can2.hcl"
"$BIN/drover" job run -detach "$WORK/can2.hcl" >/dev/null 2>&1
canary_state() { # "old_running canaries_running canaries_healthy"
        api /v1/job/can/allocations | jget "'%d %d' % (sum(1 for a in d if a['JobVersion']==0 and a['DesiredStatus']=='run' and a['ClientStatus']=='running'), sum(1 for a in d if a['JobVersion']==1 and a['DesiredStatus']=='run' and (a.get('DeploymentStatus') or {}).get('Canary') and (a.get('DeploymentStatus') or {}).get('Healthy')))"
}
canary_ready() { [ "$(canary_state)" = "3 1" ]; } # the 3 old running, the canary healthy
wait_for 30 canary_ready
st1=$(canary_state)
sleep 2 # nothing more moves before promotion
st2=$(canary_state)
dep_id=$(api /v1/job/can/deployment | jget 'd["ID"]')
dep_st=$(api /v1/job/can/deployment | jget 'd["Status"]')
placed_canaries=$(api /v1/job/can/deployment | jget 'sorted(d["TaskGroups"]["g"]["PlacedCanaries"])')
canary_ids=$(api /v1/job/can/allocations | jget "sorted(a['ID'] for a in d if (a.get('DeploymentStatus') or {}).get('Canary'))")
if [ -n "$canary_ids" ] && [ "$canary_ids" != "[]" ] && [ "$placed_canaries" = "$canary_ids" ]; then
        pass "PlacedCanaries lists the canary allocation ($placed_canaries)"
else
        fail "PlacedCanaries (got $placed_canaries, canaries $canary_ids)"
fi
if [ "$st1" = "3 1" ] && [ "$st2" = "3 1" ] && [ "$dep_st" = running ]; then
        pass "canary = 1: one healthy canary beside the 3 old allocations, the deployment waits for promotion"
else
        fail "canary waits for promotion (old running + healthy canaries: $st1 then $st2, deployment $dep_st)"
fi
"$BIN/drover" deployment status "$dep_id" >"$WORK/dstatus.out" 2>&1
"$BIN/drover" deployment promote -detach "$dep_id" >"$WORK/promote.out" 2>&1
res=$(watch can 1 90)
set -- $res
if grep -q '^Deployed' "$WORK/dstatus.out" && grep -Eq '^g +false +3 +1 ' "$WORK/dstatus.out" &&
        grep -q "promoted" "$WORK/promote.out" && [ "$3 $4 $6" = "1 successful 3" ]; then
        pass "deployment promote: the rest replaced, deployment successful ($res)"
else
        cat "$WORK/dstatus.out" "$WORK/promote.out"
        fail "deployment promote (got: $res)"
fi

log "$passed passed, $failed failed"
[ "$failed" = 0 ]
