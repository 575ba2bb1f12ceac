#!/bin/bash
# alloc restart and alloc signal on loopback: a real drover-server and drover-agent
# (raw_exec). The server forwards PUT /v1/client/allocation/:id/{restart,signal} to
# the agent, which restarts the task in place (not counted against a restart
# policy of zero attempts) or signals it.
# Usage: tests/integration/alloc_ctl.sh BIN_DIR. Ports from 25000-25499; every wait
# is bounded; every process started is stopped.
set -u
BIN=$(cd "${1:-build/bin}" && pwd)
WORK=$(mktemp -d /tmp/drover-allocctl-XXXXXX)
. "$(dirname "$0")/lib.sh" # log, pass, fail, wait_for, api, api_code, jget, setup_run, start_server, start_agent
setup_run 25000

start_server || exit 1
start_agent ctl-node || exit 1

# The task notes each start and each SIGUSR1 in files of the work dir.
cat >"$WORK/ctl.hcl" <<EOF
job "ctl" {
  group "g" {
    restart {
      attempts = 0
      mode     = "fail"
    }
    task "t" {
      driver      = "raw_exec"
      kill_signal = "SIGTERM"
      config {
        command = "/bin/sh"
        args    = ["-c", "echo start >> $WORK/starts; trap 'echo usr1 >> $WORK/usr1' USR1; trap 'exit 0' TERM; while :; do sleep 0.1; done"]
      }
      resources {
        cpu    = 20
        memory = 16
      }
    }
  }
}
EOF
"$BIN/drover" job run -detach "$WORK/ctl.hcl" >/dev/null
alloc_json() { api "/v1/allocations?prefix=" | python3 -c "
import json,sys
a=[x for x in json.load(sys.stdin) if x['JobID']=='ctl' and x['DesiredStatus']=='run']
print(a[0]['ID'] if a else '')"; }
task_field() { # task_field EXPR over the task state ts of task t
        api "/v1/allocation/$ALLOC" | jget "(lambda ts: $1)(d['TaskStates']['t'])"
}
starts() { [ -f "$WORK/starts" ] && wc -l <"$WORK/starts" || echo 0; }
wait_for 20 sh -c "[ -f $WORK/starts ]" || fail "task starts"
ALLOC=$(alloc_json)
wait_for 10 sh -c "curl -s $ADDR/v1/allocation/$ALLOC | grep -q '\"ClientStatus\":\"running\"'"

# --- restart: twice, with a policy of zero attempts: never counted ------------------
for n in 2 3; do
        if "$BIN/drover" alloc restart "${ALLOC:0:8}" >"$WORK/restart.out" 2>&1 &&
                wait_for 15 sh -c "[ \$(wc -l <$WORK/starts) -ge $n ]" &&
                wait_for 10 sh -c "curl -s $ADDR/v1/allocation/$ALLOC | python3 -c \"import json,sys; t=json.load(sys.stdin)['TaskStates']['t']; sys.exit(0 if t['State']=='running' and t['Restarts']==$((n - 1)) else 1)\""; then
                pass "alloc restart (by prefix) restarts the task in place (start $n, Restarts $((n - 1)))"
        else
                cat "$WORK/restart.out"
                fail "alloc restart (by prefix) restarts the task in place (start $n)"
        fi
done
events=$(task_field "','.join(e['Type'] for e in ts['Events'])")
if [[ "$events" == *"Restart Signaled,Terminated,Restarting,Started"* ]] && [[ "$events" != *"Not Restarting"* ]] &&
        [ "$(task_field "ts['Failed']")" = "False" ]; then
        pass "restart events: Restart Signaled, Terminated, Restarting, Started; the policy did not give up"
else
        fail "restart events (got $events)"
fi
msg=$(task_field "[e for e in ts['Events'] if e['Type']=='Restart Signaled'][0]['DisplayMessage']")
[ "$msg" = "User requested restart" ] && pass "Restart Signaled says \"User requested restart\"" ||
        fail "Restart Signaled message (got $msg)"

# --- signal --------------------------------------------------------------------------
if "$BIN/drover" alloc signal -s SIGUSR1 "$ALLOC" t >"$WORK/signal.out" 2>&1 &&
        wait_for 10 sh -c "[ -f $WORK/usr1 ]"; then
        pass "alloc signal -s SIGUSR1 reaches the task"
else
        cat "$WORK/signal.out"
        fail "alloc signal -s SIGUSR1 reaches the task"
fi
# The task has the signal; its Signaling event reaches the server with the agent's next
# status update (every 200 ms), so wait for it.
signaled() {
        [ "$(task_field "[e['Signal'] for e in ts['Events'] if e['Type']=='Signaling'][-1]" 2>/dev/null)" = "10" ]
}
wait_for 10 signaled && [ "$(task_field "ts['State']")" = "running" ] && [ "$(starts)" -eq 3 ] &&
        pass "a Signaling event with signal 10; the task keeps running, not restarted" ||
        fail "Signaling event (events: $(task_field "[e['Type'] for e in ts['Events']]"))"

# --- the API directly, and errors -------------------------------------------------------
echo '{"Task":"t","Signal":"SIGUSR1"}' >"$WORK/sig.json"
code=$(api_code PUT "/v1/client/allocation/$ALLOC/signal" "$WORK/sig.json")
[ "$code" = 200 ] && [ "$(cat "$WORK/body")" = "{}" ] && wait_for 10 sh -c "[ \$(wc -l <$WORK/usr1) -ge 2 ]" &&
        pass "PUT /v1/client/allocation/:id/signal answers 200 {} and signals" ||
        fail "PUT signal (got $code $(cat "$WORK/body"))"
echo '{"TaskName":"nosuch"}' >"$WORK/bad.json"
code=$(api_code PUT "/v1/client/allocation/$ALLOC/restart" "$WORK/bad.json")
[ "$code" = 404 ] && grep -q 'Unknown task "nosuch"' "$WORK/body" &&
        pass "restart of an unknown task: 404 naming it" || fail "restart of an unknown task (got $code $(cat "$WORK/body"))"
echo '{"TaskName":"t","AllTasks":true}' >"$WORK/bad.json"
code=$(api_code PUT "/v1/client/allocation/$ALLOC/restart" "$WORK/bad.json")
[ "$code" = 400 ] && pass "TaskName with AllTasks: 400" || fail "TaskName with AllTasks (got $code)"
echo '{"Signal":"SIGNOPE"}' >"$WORK/bad.json"
code=$(api_code PUT "/v1/client/allocation/$ALLOC/signal" "$WORK/bad.json")
[ "$code" = 400 ] && grep -q 'Unknown signal' "$WORK/body" && pass "an unknown signal: 400" ||
        fail "an unknown signal (got $code $(cat "$WORK/body"))"
code=$(api_code PUT "/v1/client/allocation/0000dead-0000-0000-0000-000000000000/restart" /dev/null)
[ "$code" = 404 ] && pass "restart of an unknown allocation: 404" || fail "unknown allocation (got $code)"
if "$BIN/drover" alloc signal -s SIGNOPE "$ALLOC" >"$WORK/err.out" 2>&1; then
        fail "drover alloc signal with a bad signal exits 1"
else
        grep -q 'Unknown signal' "$WORK/err.out" && pass "drover alloc signal with a bad signal exits 1 with the reason" ||
                fail "bad signal message ($(cat "$WORK/err.out"))"
fi
# The agent checks the allocation token: without it, 401.
code=$(curl -s -o /dev/null -w '%{http_code}' -X PUT "http://127.0.0.1:$((PORT + 10))/v1/client/allocation/$ALLOC/restart")
[ "$code" = 401 ] && pass "the agent refuses a restart without the allocation token" || fail "agent token check (got $code)"

# --- a stopped task: not running -----------------------------------------------------------
"$BIN/drover" job stop -detach ctl >/dev/null 2>&1
wait_for 15 sh -c "curl -s $ADDR/v1/allocation/$ALLOC | grep -q '\"ClientStatus\":\"complete\"'"
code=$(api_code PUT "/v1/client/allocation/$ALLOC/restart" /dev/null)
[ "$code" = 409 ] && grep -q 'Task not running' "$WORK/body" && pass "restart of a stopped allocation: 409 Task not running" ||
        fail "restart of a stopped allocation (got $code $(cat "$WORK/body"))"

log "alloc_ctl: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
