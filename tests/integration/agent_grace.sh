#!/bin/bash
# The agent does not kill its tasks when its server loses its data: a real
# drover-server and drover-agent (raw_exec, -server-loss-grace 12s) on loopback.
# Two service jobs run `sleep`: "keep", registered before a copy of the server's
# data dir is taken, and "gone", after. The server is killed, its data dir wiped
# and it is started again on the same address: the agent registers again (404),
# both allocations are missing from the new server's list, and both tasks keep
# their pids while the agent logs what it would stop. Within the grace period the
# server is killed again and the copy restored: "keep" reappears and is kept
# (same pid, running on the server); "gone" is stopped once the grace is over.
# Then the agent is SIGKILLed, the server wiped, and an agent started again: it
# takes keep's task over from agent.db although the server does not list it,
# holds it for its grace period (6 s) and stops it after.
# Usage: tests/integration/agent_grace.sh BIN_DIR. Ports from 21000-21479
# (DROVER_TEST_PORT_BASE); every wait is bounded (a passing run takes about 45 s);
# every process started is stopped.
set -u
BIN=$(cd "${1:-build/bin}" && pwd)
WORK=$(mktemp -d /tmp/drover-grace-XXXXXX)
. "$(dirname "$0")/lib.sh" # log, pass, fail, wait_for, api, jget, setup_run, start_server, start_agent, raw_job, ...
setup_run 21000
GRACE=12

start_server || exit 1
start_agent grace-node -server-loss-grace ${GRACE}s || exit 1

# job NAME: a service job whose task writes its pid to $WORK/NAME.pid, then sleeps.
job() {
        raw_job "$1" "echo \$\$ > $WORK/$1.pid; exec sleep 1000" >"$WORK/$1.hcl"
        run_job_until "$1" "$WORK/$1.pid"
}
# restart_server [SAVED]: SIGKILL the server, wipe its data dir (or put SAVED in its
# place), start it again on the same address.
restart_server() {
        kill -9 "$server_pid" 2>/dev/null
        wait "$server_pid" 2>/dev/null
        "$RM_WORK" "$WORK/server"
        [ -n "${1:-}" ] && cp -a "$1" "$WORK/server"
        wait_for 10 sh -c "! (exec 3<>/dev/tcp/127.0.0.1/$PORT) 2>/dev/null"
        start_server
}
count() { grep -c "$1" "$WORK/agent.log"; }

job keep || fail "job keep runs"
KEEP=$(cat "$WORK/keep.pid")
# A consistent copy of the server's state with "keep" only: stop it, copy, start it.
kill "$server_pid"
wait "$server_pid" 2>/dev/null
cp -a "$WORK/server" "$WORK/saved"
start_server || exit 1
job gone || fail "job gone runs (after the server restarted on its own data)"
GONE=$(cat "$WORK/gone.pid")
alive "$KEEP" && alive "$GONE" && pass "both tasks run (pids $KEEP, $GONE)" || fail "both tasks run"

# --- the server loses its data ---------------------------------------------------------
restart_server || exit 1
t0=$(date +%s)
if wait_for 15 sh -c "[ \$(grep -c 'would stop it at' $WORK/agent.log) -ge 2 ]"; then
        pass "the agent logs what it would stop (2 allocations) after the server lost its data"
else
        fail "the agent logs \"would stop\" for both allocations"
fi
grep -q "the servers did not know this node" "$WORK/agent.log" &&
        pass "the forced registration is named as a sign of loss" || fail "forced registration logged"
sleep 2
if alive "$KEEP" && alive "$GONE" && [ "$(count 'stopping its tasks')" = 0 ]; then
        pass "during the grace period both tasks keep their pids ($(($(date +%s) - t0)) s after the wipe)"
else
        fail "tasks kept during the grace period"
fi

# --- within the grace, the old state comes back: "keep" reappears ---------------------------
restart_server "$WORK/saved" || exit 1
t1=$(date +%s)
wait_for 15 grep -q "back on the server; kept" "$WORK/agent.log" &&
        pass "the allocation of keep reappears and is kept" || fail "keep reappears"
if wait_for $((GRACE + 15)) sh -c "! kill -0 $GONE"; then
        t2=$(date +%s)
        grep -q "still missing from the server after the grace period; stopping its tasks" "$WORK/agent.log" &&
                [ $((t2 - t0)) -ge $GRACE ] &&
                pass "gone is stopped once the grace is over ($((t2 - t0)) s after the wipe, $((t2 - t1)) s after the restore; grace ${GRACE} s)" ||
                fail "gone stopped for the grace's end (after $((t2 - t0)) s)"
else
        fail "gone is stopped after the grace period"
fi
status=$(api "/v1/job/keep/allocations" | jget "d[0]['ClientStatus']")
if alive "$KEEP" && [ "$(cat "$WORK/keep.pid")" = "$KEEP" ] && [ "$status" = running ] &&
        [ "$(count 'alloc .*no longer on the server')" = 0 ]; then
        pass "keep still runs with the same pid ($KEEP), running on the server"
else
        fail "keep kept (alive: $(alive "$KEEP" && echo yes || echo no), status $status)"
fi

# --- the agent restarts while the server has lost its data --------------------------------
# SIGKILL the agent, wipe the server, start an agent again (grace GRACE2): the new
# server lists nothing, yet keep's task (its handle and definition in agent.db) is
# taken over and held for the grace period, then stopped.
GRACE2=6
kill_agent
restart_server || exit 1
AGENT_LOG=$WORK/agent2.log launch_agent grace-node -server-loss-grace ${GRACE2}s
t3=$(date +%s)
if wait_for 15 sh -c "grep -q 'would stop it at' $WORK/agent2.log"; then
        grep -q "the previous agent ran it and the servers do not list it" "$WORK/agent2.log" &&
                pass "the restarted agent takes over keep's task, which the wiped server does not list, and logs what it would stop" ||
                fail "the orphaned allocation is named"
else
        fail "the restarted agent logs \"would stop\" for keep"
fi
sleep 1
alive "$KEEP" && ! grep -q "stopping its tasks" "$WORK/agent2.log" &&
        pass "during the restarted agent's grace period keep's task keeps its pid ($KEEP)" ||
        fail "keep's task kept during the restarted agent's grace period"
if wait_for $((GRACE2 + 15)) sh -c "! kill -0 $KEEP"; then
        t4=$(date +%s)
        grep -q "still missing from the server after the grace period; stopping its tasks" "$WORK/agent2.log" &&
                [ $((t4 - t3)) -ge $GRACE2 ] &&
                pass "keep's task is stopped once the grace is over ($((t4 - t3)) s after the agent started; grace ${GRACE2} s)" ||
                fail "keep's task stopped for the grace's end (after $((t4 - t3)) s)"
else
        fail "keep's task is stopped after the restarted agent's grace period"
fi

stop_daemons
"$RM_WORK" "$WORK/saved"
log "agent_grace: $passed passed, $failed failed"
[ "$failed" = 0 ]
