#!/bin/bash
# What a task gets from the agent and what agent.db carries across agent restarts:
# a real drover-server and drover-agent (raw_exec) on loopback.
# 1. A task's environment is its own: the agent runs with AGENT_ONLY_SECRET and
#    PASS_ME in its environment and -env-passthrough PASS_ME; the task sees PASS_ME,
#    not AGENT_ONLY_SECRET, the default PATH, and DROVER_ALLOC_ID = NOMAD_ALLOC_ID.
# 2. An unreadable agent.db: the agent is SIGKILLed while that task runs, garbage
#    is written over agent.db and the agent started again: it exits non-zero with
#    "refusing to start ... move agent.db away", starts nothing (the task keeps its
#    pid, no second start). With the real agent.db back, an agent re-attaches.
# 3. A pending restart delay survives an agent restart: a task that exits 1 with
#    restart { attempts = 2, delay = "10s", mode = "fail" }; the agent is SIGKILLed
#    during the delay and started again at once: the task is not started again
#    before the delay ends, and 3 starts in all (the attempts keep counting).
# Usage: tests/integration/agent_state.sh BIN_DIR. Ports from 26500-26979
# (DROVER_TEST_PORT_BASE); every wait is bounded (a passing run takes about 45 s);
# every process started is stopped.
set -u
BIN=$(cd "${1:-build/bin}" && pwd)
WORK=$(mktemp -d /tmp/drover-astate-XXXXXX)
. "$(dirname "$0")/lib.sh" # log, pass, fail, wait_for, api, jget, setup_run, start_server, launch_agent, raw_job, ...
setup_run 26500

# agent: start a drover-agent on WORK/agent (sets agent_pid), with two variables in its
# environment, one passed through to tasks.
agent() { AGENT_ONLY_SECRET=hush PASS_ME=yes launch_agent state-node -env-passthrough PASS_ME; }
lines() { [ -f "$1" ] && wc -l <"$1" || echo 0; }

start_server || exit 1
agent
wait_ready || exit 1

# --- 1. the task's environment ------------------------------------------------------------
raw_job envjob "env > $WORK/env.out; echo \$\$ >> $WORK/env.starts; exec sleep 1000" >"$WORK/envjob.hcl"
run_job_until envjob "$WORK/env.starts" || fail "job envjob runs"
ENVPID=$(head -n 1 "$WORK/env.starts" 2>/dev/null)
envv() { sed -n "s/^$1=//p" "$WORK/env.out"; }
if [ -s "$WORK/env.out" ] && ! grep -q AGENT_ONLY_SECRET "$WORK/env.out" && [ "$(envv PASS_ME)" = yes ] &&
        [ "$(envv PATH)" = /usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin ] &&
        [ -n "$(envv NOMAD_ALLOC_ID)" ] && [ "$(envv DROVER_ALLOC_ID)" = "$(envv NOMAD_ALLOC_ID)" ] &&
        [ "$(envv DROVER_TASK_NAME)" = t ]; then
        pass "the task gets its own environment: no AGENT_ONLY_SECRET, PASS_ME passed through, default PATH, DROVER_ twins ($(wc -l <"$WORK/env.out") variables)"
else
        fail "the task's environment: $(tr '\n' ' ' <"$WORK/env.out" 2>/dev/null)"
fi

# --- 2. an unreadable agent.db -------------------------------------------------------------
kill_agent
mkdir -p "$WORK/saved"
cp -a "$WORK/agent"/agent.db* "$WORK/saved/"
rm -f "$WORK/agent"/agent.db-wal "$WORK/agent"/agent.db-shm
head -c 8192 /dev/urandom >"$WORK/agent/agent.db"
: >"$WORK/agent.log"
agent
if wait_for 20 sh -c "! kill -0 $agent_pid"; then
        wait "$agent_pid"
        rc=$?
        if [ "$rc" != 0 ] && grep -q "refusing to start: tasks an earlier agent started may still run" "$WORK/agent.log" &&
                grep -q "move agent.db away to start afresh" "$WORK/agent.log"; then
                pass "a garbage agent.db: the agent refuses to start (exit $rc): $(grep -m1 refusing "$WORK/agent.log")"
        else
                fail "a garbage agent.db: exit $rc and the message"
        fi
else
        fail "a garbage agent.db: the agent exits"
        kill_agent
fi
alive "$ENVPID" && [ "$(lines "$WORK/env.starts")" = 1 ] &&
        pass "nothing was started: the task keeps its pid ($ENVPID), one start" ||
        fail "the refused agent started nothing (pid $ENVPID alive: $(alive "$ENVPID" && echo yes || echo no), starts $(lines "$WORK/env.starts"))"
rm -f "$WORK/agent"/agent.db*
cp -a "$WORK/saved"/agent.db* "$WORK/agent/"
agent
sleep 3
alive "$ENVPID" && [ "$(lines "$WORK/env.starts")" = 1 ] && alive "$agent_pid" &&
        pass "with agent.db back the agent runs and re-attaches (same pid, no second start)" ||
        fail "with agent.db back the agent re-attaches"

# --- 3. a pending restart delay across an agent restart ------------------------------------
cat >"$WORK/flaky.hcl" <<EOF
job "flaky" {
  group "g" {
    reschedule {
      attempts  = 0
      unlimited = false
    }
    restart {
      attempts = 2
      interval = "10m"
      delay    = "10s"
      mode     = "fail"
    }
    task "t" {
      driver = "raw_exec"
      config {
        command = "/bin/sh"
        args    = ["-c", "date +%s >> $WORK/flaky.starts; exit 1"]
      }
      resources {
        cpu    = 20
        memory = 16
      }
    }
  }
}
EOF
"$BIN/drover" job run -detach "$WORK/flaky.hcl" >/dev/null || fail "job flaky is registered"
wait_for 20 sh -c "curl -s $ADDR/v1/job/flaky/allocations | grep -q Restarting" ||
        fail "flaky fails once and waits on its restart delay"
T0=$(head -n 1 "$WORK/flaky.starts" 2>/dev/null || echo 0)
kill_agent
agent
left=$((T0 + 8 - $(date +%s)))
[ "$left" -gt 0 ] && sleep "$left"
[ "$(lines "$WORK/flaky.starts")" = 1 ] &&
        pass "the restarted agent did not start flaky before its delay ended ($(($(date +%s) - T0)) s after the first start)" ||
        fail "flaky was started again before its delay ended: $(tr '\n' ' ' <"$WORK/flaky.starts")"
if wait_for 40 sh -c "curl -s $ADDR/v1/job/flaky/allocations | grep -q '\"ClientStatus\":\"failed\"'"; then
        sleep 2
        n=$(lines "$WORK/flaky.starts")
        T1=$(sed -n 2p "$WORK/flaky.starts")
        [ "$n" = 3 ] && [ $((T1 - T0)) -ge 10 ] &&
                pass "flaky started again $((T1 - T0)) s after the first start (delay 10 s), 3 starts in all, then failed" ||
                fail "flaky: $n starts (want 3), the second $((T1 - T0)) s after the first (want >= 10)"
else
        fail "flaky fails after its attempts ($(lines "$WORK/flaky.starts") starts)"
fi

"$BIN/drover" job stop envjob >/dev/null 2>&1
wait_for 20 sh -c "! kill -0 $ENVPID 2>/dev/null" || {
        fail "job stop ends envjob's task"
        kill -9 "$ENVPID" 2>/dev/null
}
stop_daemons
log "agent_state: $passed passed, $failed failed"
[ "$failed" = 0 ]
