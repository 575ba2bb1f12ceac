#!/bin/bash
# alloc restart and alloc signal on loopback: a real drover-server and drover-agent
# (raw_exec). The server forwards PUT /v1/client/allocation/:id/{restart,signal} to
# the agent, which restarts the task in place (not counted against a restart
# policy of zero attempts) or signals it; GET /v1/client/fs/logs/:id?follow=true
# through the server streams what a task writes as it comes, and ends with the task
# or when its client goes away.
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

# --- logs followed through the server (?follow=true) -----------------------------------
# A task prints a numbered line every 0.2 s; the server relays what it writes as it
# comes (the agent answers only what its files hold: the server asks it again).
# raw_job NAME TYPE SCRIPT: a one-task (t) raw_exec job of TYPE running sh -c SCRIPT.
raw_job() {
        printf 'job "%s" {\n  type = "%s"\n  group "g" {\n    task "t" {\n      driver = "raw_exec"\n' "$1" "$2"
        printf '      config {\n        command = "/bin/sh"\n        args    = ["-c", "%s"]\n      }\n' "$3"
        printf '      resources {\n        cpu    = 20\n        memory = 16\n      }\n    }\n  }\n}\n'
}
raw_job chatty service 'i=0; while :; do i=$((i+1)); echo line $i; sleep 0.2; done' >"$WORK/chatty.hcl"
"$BIN/drover" job run -detach "$WORK/chatty.hcl" >/dev/null
job_alloc() { api "/v1/job/$1/allocations" | jget "[a['ID'] for a in d if a['DesiredStatus']=='run'][0]"; }
wait_for 20 sh -c "curl -s $ADDR/v1/job/chatty/allocations | grep -q '\"ClientStatus\":\"running\"'"
CA=$(job_alloc chatty)
LOGS="$ADDR/v1/client/fs/logs/$CA?task=t&type=stdout&follow=true"
wait_for 10 sh -c "curl -s '$ADDR/v1/client/fs/logs/$CA?task=t&type=stdout&plain=true' | grep -q 'line 2'"
# From the end (origin=end, offset=0): every line seen was written while following.
start=$(date +%s%N)
curl -sN --max-time 2.5 "$LOGS&plain=true&origin=end&offset=0" >"$WORK/follow.out"
took=$((($(date +%s%N) - start) / 1000000))
if python3 - "$WORK/follow.out" <<'EOF'; then
import sys
nums = [int(l.split()[1]) for l in open(sys.argv[1]) if l.startswith("line ")]
ok = len(nums) >= 6 and nums == list(range(nums[0], nums[0] + len(nums)))
print(f"followed {len(nums)} new lines in 2.5 s: {nums[:1]}..{nums[-1:]}")
sys.exit(0 if ok else 1)
EOF
        [ "$took" -ge 2400 ] && pass "GET logs?follow=true&plain=true through the server: new lines arrive, in order, none lost (${took} ms)" ||
                fail "follow ended early (${took} ms)"
else
        fail "follow (plain) through the server: $(head -c 300 "$WORK/follow.out")"
fi
# Framed (Nomad's StreamFrames, what its API client reads): Offsets grow, Data decodes.
curl -sN --max-time 2 "$LOGS&origin=end&offset=0" >"$WORK/follow.json"
if python3 - "$WORK/follow.json" <<'EOF'; then
import base64, json, sys
text, dec, i, frames = open(sys.argv[1]).read(), json.JSONDecoder(), 0, []
while i < len(text):
    f, i = dec.raw_decode(text, i)
    frames.append(f)
data = [f for f in frames if f.get("Data")]
offs = [f["Offset"] for f in data]
lines = "".join(base64.b64decode(f["Data"]).decode() for f in data).split("\n")
ok = len(data) >= 3 and offs == sorted(set(offs)) and all(f["File"] == "alloc/logs/t.stdout.0" for f in data)
ok = ok and sum(1 for l in lines if l.startswith("line ")) >= 5
print(f"{len(data)} frames, offsets {offs[:2]}..{offs[-1:]}")
sys.exit(0 if ok else 1)
EOF
        pass "GET logs?follow=true through the server: StreamFrames as they come, Offsets growing"
else
        fail "follow (framed) through the server: $(head -c 300 "$WORK/follow.json")"
fi
# Clients that go away mid-stream: 70 at once for 4 s (the server relays at most 64
# follows; the rest get 503), then all gone. Their follows end (a leak would keep
# the slots): a new one streams again, and the server answers as before. The framed
# follow above may still hold its slot when they arrive (the server notices a client
# gone at the task's next output, every 0.2 s): one 200 fewer is not a fault, more
# than 64 or a count that does not add up to 70 is.
args=()
for i in $(seq 70); do args+=(-o "$WORK/gone.$i" "$LOGS&plain=true&origin=end"); done
curl -sN -Z --parallel-immediate --parallel-max 100 --max-time 4 -w '%{http_code}\n' "${args[@]}" >"$WORK/gone.codes"
ok200=$(grep -c '^200$' "$WORK/gone.codes")
busy=$(grep -c '^503$' "$WORK/gone.codes")
follow_again() { # a new follow streams for 1 s (a slot is free again)
        curl -sN --max-time 1 "$LOGS&plain=true&origin=end&offset=0" >"$WORK/again.out"
        [ "$(grep -c '^line ' "$WORK/again.out")" -ge 2 ]
}
wait_for 10 follow_again
if kill -0 "$server_pid" 2>/dev/null && [ "$ok200" -ge 63 ] && [ "$ok200" -le 64 ] && [ $((ok200 + busy)) = 70 ] &&
        [ "$(grep -c '^line ' "$WORK/again.out")" -ge 2 ] && [ "$(api_code GET /v1/agent/health /dev/null)" = 200 ]; then
        pass "70 followers gone mid-stream ($ok200 streamed, $busy told 503): the server is healthy and a new follow streams"
else
        fail "followers gone mid-stream: $ok200 x 200, $busy x 503, again: $(head -c 200 "$WORK/again.out")"
fi
# A task that ends ends the stream: every line, then the stream closes by itself;
# its last 700 kB come at once (more than the server takes from the agent per ask).
raw_job short batch 'sleep 1; for i in 1 2 3 4 5; do echo short $i; sleep 0.2; done; head -c 700000 /dev/zero | tr -c x x; echo; echo done' >"$WORK/short.hcl"
"$BIN/drover" job run -detach "$WORK/short.hcl" >/dev/null
wait_for 20 sh -c "curl -s $ADDR/v1/job/short/allocations | grep -q '\"ClientStatus\":\"running\"'"
SA=$(job_alloc short)
wait_for 5 sh -c "curl -s '$ADDR/v1/client/fs/logs/$SA?task=t&type=stdout&plain=true' | grep -q 'short 1'"
start=$(date +%s)
curl -sN --max-time 20 "$ADDR/v1/client/fs/logs/$SA?task=t&type=stdout&plain=true&follow=true" >"$WORK/short.out"
rc=$?
took=$(($(date +%s) - start))
want=$(printf 'short %s\n' 1 2 3 4 5; head -c 700000 /dev/zero | tr -c x x; printf '\ndone\n')
[ "$rc" = 0 ] && [ "$(cat "$WORK/short.out")" = "$want" ] && [ "$took" -lt 15 ] &&
        pass "a follow ends by itself once the task is dead: every byte ($(wc -c <"$WORK/short.out")), then the end (${took} s)" ||
        fail "follow of a task that ends (curl $rc after ${took} s): $(head -c 300 "$WORK/short.out")"
# The same, framed, of the dead task: the frames hold the same bytes, and the stream ends.
curl -sN --max-time 20 "$ADDR/v1/client/fs/logs/$SA?task=t&type=stdout&follow=true" >"$WORK/short.json"
python3 - "$WORK/short.json" "$WORK/short.out" <<'EOF' && pass "framed follow of a dead task: the same bytes, in frames of at most 32 KiB, then the end" || fail "framed follow of a dead task"
import base64, json, sys
text, dec, i, data = open(sys.argv[1]).read(), json.JSONDecoder(), 0, b""
while i < len(text):
    f, i = dec.raw_decode(text, i)
    piece = base64.b64decode(f.get("Data", ""))
    assert len(piece) <= 32768 and (not piece or f["Offset"] == len(data) + len(piece)), f["Offset"]
    data += piece
sys.exit(0 if data == open(sys.argv[2], "rb").read() else 1)
EOF
# Without follow: one frame with every byte (Offset where they end); a follow whose
# first ask fails answers as without follow (404 for a task with no logs).
curl -s --max-time 20 "$ADDR/v1/client/fs/logs/$SA?task=t&type=stdout" >"$WORK/once.json"
python3 - "$WORK/once.json" "$WORK/short.out" <<'EOF' && pass "without follow: one StreamFrame with every byte, Offset $(wc -c <"$WORK/short.out")" || fail "one-shot framed logs: $(head -c 200 "$WORK/once.json")"
import base64, json, sys
f, want = json.load(open(sys.argv[1])), open(sys.argv[2], "rb").read()
sys.exit(0 if base64.b64decode(f["Data"]) == want and f["Offset"] == len(want) else 1)
EOF
code=$(curl -s --max-time 10 -o "$WORK/nolog.out" -w '%{http_code}' "$ADDR/v1/client/fs/logs/$CA?task=nosuch&follow=true")
[ "$code" = 404 ] && pass "a follow of a task without logs: 404 from the agent, not a stream" ||
        fail "follow of a task without logs (got $code $(head -c 200 "$WORK/nolog.out"))"
# drover alloc logs -f follows through the servers: live lines, and to the end of a dead task.
timeout 2 "$BIN/drover" alloc logs -f -tail -n 1 "${CA:0:8}" >"$WORK/cli.out" 2>&1
timeout 20 "$BIN/drover" alloc logs -f "$SA" >"$WORK/cli-short.out" 2>&1
rc=$?
if [ "$(grep -c '^line ' "$WORK/cli.out")" -ge 6 ] && [ "$rc" = 0 ] && [ "$(cat "$WORK/cli-short.out")" = "$want" ]; then
        pass "drover alloc logs -f through the server: $(grep -c '^line ' "$WORK/cli.out") lines in 2 s; a dead task's every byte, then exit 0"
else
        fail "drover alloc logs -f (rc $rc): $(head -c 200 "$WORK/cli.out") / $(head -c 200 "$WORK/cli-short.out")"
fi
"$BIN/drover" job stop -detach chatty >/dev/null 2>&1

# --- a stopped task: not running -----------------------------------------------------------
"$BIN/drover" job stop -detach ctl >/dev/null 2>&1
wait_for 15 sh -c "curl -s $ADDR/v1/allocation/$ALLOC | grep -q '\"ClientStatus\":\"complete\"'"
code=$(api_code PUT "/v1/client/allocation/$ALLOC/restart" /dev/null)
[ "$code" = 409 ] && grep -q 'Task not running' "$WORK/body" && pass "restart of a stopped allocation: 409 Task not running" ||
        fail "restart of a stopped allocation (got $code $(cat "$WORK/body"))"

log "alloc_ctl: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
