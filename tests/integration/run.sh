#!/bin/bash
# Integration tests: real drover-server and drover-agent processes on 127.0.0.1.
# Usage: tests/integration/run.sh BIN_DIR
# Every wait is bounded; every process this script starts is stopped on exit.
set -u
RM_WORK=$(cd "$(dirname "${BASH_SOURCE[0]}")/../support" && pwd)/rm_work.sh # rm -rf that first detaches mounts
BIN=$(cd "${1:-build/bin}" && pwd)
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
WORK=$(mktemp -d /tmp/drover-it-XXXXXX)
# A base port with PORT, PORT+1 (Raft) and PORT+10 (agent) free.
. "$(dirname "$0")/../support/ports.sh" # port_listens, port_free, pick_port
# DROVER_TEST_PORT_BASE: a helper's own range instead (its first 480 ports).
PORT_BASE=${DROVER_TEST_PORT_BASE:-20000}
PORT_SPAN=$([ -n "${DROVER_TEST_PORT_BASE:-}" ] && echo 480 || echo 12000)
pick_port "$PORT_BASE" "$PORT_SPAN" 1 10 # below the ephemeral range (32768-)
ADDR="http://127.0.0.1:$PORT"
AGENT_HTTP="127.0.0.1:$((PORT + 10))"
MARK="drover-it-$$"
export DROVER_ADDR=$ADDR
passed=0
failed=0
server_pid=""
agent_pid=""

cleanup() {
        [ -n "$agent_pid" ] && kill -9 "$agent_pid" 2>/dev/null
        [ -n "${agent_b_pid:-}" ] && kill -9 "$agent_b_pid" 2>/dev/null
        [ -n "$server_pid" ] && kill -9 "$server_pid" 2>/dev/null
        pkill -9 -f "$MARK" 2>/dev/null
        wait 2>/dev/null
        "$RM_WORK" "$WORK"
}
trap cleanup EXIT

FAIL_TAIL=30
. "$(dirname "$0")/lib.sh" # log, pass, fail, wait_for, api, api_code, jget

start_server() {
        "$BIN/drover-server" -dev -data-dir "$WORK/server" -http-addr "127.0.0.1:$PORT" \
                -raft-addr "127.0.0.1:$((PORT + 1))" -heartbeat-ttl 1s -heartbeat-grace 1s \
                >>"$WORK/server.log" 2>&1 &
        server_pid=$!
        wait_for 15 sh -c "curl -fs $ADDR/v1/status/leader | grep -q 127.0.0.1"
}

start_agent() {
        "$BIN/drover-agent" -servers "$ADDR" -data-dir "$WORK/agent" -node-name it-node -raw-exec \
                -http-addr "$AGENT_HTTP" >>"$WORK/agent.log" 2>&1 &
        agent_pid=$!
        wait_for 15 sh -c "curl -fs $ADDR/v1/nodes | grep -q '\"Status\":\"ready\"'"
}

count_status() { # count_status JOB STATUS
        api "/v1/job/$1/allocations" | grep -o "\"ClientStatus\":\"$2\"" | wc -l
}

# ---------------------------------------------------------------------------
log "== drover integration tests (work dir $WORK, API $ADDR)"

if start_server; then pass "server starts and elects itself leader"; else
        fail "server starts and elects itself leader"
        log "$passed passed, $failed failed"
        exit 1
fi
if start_agent; then pass "agent registers and its node becomes ready"; else
        fail "agent registers and its node becomes ready"
        log "$passed passed, $failed failed"
        exit 1
fi

# --- idle means idle: with nothing to do, neither process spins -----------------
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
s0=$(cpu_ticks "$server_pid")
a0=$(cpu_ticks "$agent_pid")
sleep 2
busy=$(($(cpu_ticks "$server_pid") - s0 + $(cpu_ticks "$agent_pid") - a0))
# 2 s of wall time is 200 ticks per process; a blocking-query loop burns most of them.
if [ "$busy" -lt 40 ]; then
        pass "idle cluster: server and agent used $busy ticks of CPU in 2 s (blocking queries block)"
else
        fail "idle cluster: server and agent used $busy ticks of CPU in 2 s (a busy loop?)"
fi

# --- a stalled server loop does not mark nodes down -----------------------------
# SIGSTOP for 3 s (longer than TTL 1 s + grace 1 s): the agent's heartbeats wait in the
# socket; the server must not count the time it could not read them against the node.
kill -STOP "$server_pid"
sleep 3
kill -CONT "$server_pid"
sleep 2
if api /v1/nodes | grep -q '"Status":"ready"' && ! grep -q "missed its heartbeat" "$WORK/server.log" &&
        grep -q "loop stalled" "$WORK/server.log"; then
        pass "server stalled 3 s (SIGSTOP) with TTL 1 s + grace 1 s: the node stays ready"
else
        api /v1/nodes
        fail "server stalled 3 s (SIGSTOP) with TTL 1 s + grace 1 s: the node stays ready"
fi

# --- a batch job runs to completion and its logs are readable -------------------
if "$BIN/drover" job run "$ROOT/examples/hello.hcl" >"$WORK/run.out" 2>&1 &&
        grep -q 'finished with status "complete"' "$WORK/run.out" &&
        [ "$(grep -c 'Allocation ".*" created' "$WORK/run.out")" = 3 ]; then
        pass "job run places 3 allocations and reports the evaluation complete"
else
        cat "$WORK/run.out"
        fail "job run places 3 allocations and reports the evaluation complete"
fi

if wait_for 20 sh -c "[ \$(curl -s $ADDR/v1/job/hello/allocations | grep -o '\"ClientStatus\":\"complete\"' | wc -l) = 3 ]"; then
        pass "the 3 hello allocations complete"
else
        api /v1/job/hello/allocations
        fail "the 3 hello allocations complete"
fi

ok=1
for id in $(api /v1/job/hello/allocations | grep -o '"ID":"[0-9a-f-]*"' | cut -d'"' -f4); do
        short=$(echo "$id" | cut -c1-8)
        out=$("$BIN/drover" alloc logs "$short" 2>&1)
        idx=$(api "/v1/allocation/$id" | grep -o '"Name":"hello.hello\[[0-9]\]"' | grep -o '\[[0-9]\]' | tr -d '[]')
        case "$out" in
        *"hello from allocation $idx "*) ;;
        *) ok=0; log "alloc $short (index $idx) printed: $out" ;;
        esac
done
[ $ok = 1 ] && pass "alloc logs (by ID prefix) shows each allocation's own index" || fail "alloc logs shows each allocation's index"

# --- HCL2: variables, locals, functions and a dynamic block, evaluated by job run ---
if "$BIN/drover" job run -var 'greeting=hi there' -var 'names=["ann", "bob"]' "$ROOT/examples/variables.hcl" \
        >"$WORK/vars.out" 2>&1 &&
        wait_for 20 sh -c "curl -s $ADDR/v1/job/variables/allocations | grep -q '\"ClientStatus\":\"complete\"'"; then
        vid=$(api /v1/job/variables/allocations | grep -o '"ID":"[0-9a-f-]*"' | head -n 1 | cut -d'"' -f4 | cut -c1-8)
        out=$("$BIN/drover" alloc logs "$vid" bob 2>&1)
        case "$out" in
        *"Hi There, Ann and Bob! (task bob, BOB is 2 of 2)"*)
                pass "job run -var evaluates variables, locals, functions and a dynamic block; \${NOMAD_TASK_NAME} is filled in at run time" ;;
        *)
                log "task bob printed: $out"
                fail "job run -var evaluates variables, locals, functions and a dynamic block" ;;
        esac
else
        cat "$WORK/vars.out"
        api /v1/job/variables/allocations
        fail "job run -var evaluates variables, locals, functions and a dynamic block"
fi

# alloc logs -f follows a task as it writes, and returns when it is dead
cat >"$WORK/tick.hcl" <<EOF
job "tick" {
  type = "batch"
  group "g" {
    task "t" {
      driver = "raw_exec"
      config {
        command = "/bin/sh"
        args    = ["-c", "for i in 1 2 3 4 5; do echo tick \$i; sleep 0.3; done # $MARK"]
      }
    }
  }
}
EOF
"$BIN/drover" job run -detach "$WORK/tick.hcl" >/dev/null 2>&1
wait_for 10 sh -c "curl -s $ADDR/v1/job/tick/allocations | grep -q '\"ID\"'"
tick=$(api /v1/job/tick/allocations | grep -o '"ID":"[^"]*"' | head -n 1 | cut -d'"' -f4)
if timeout 30 "$BIN/drover" alloc logs -f "${tick%%-*}" >"$WORK/tick.out" 2>&1 &&
        [ "$(tr '\n' ' ' <"$WORK/tick.out")" = "tick 1 tick 2 tick 3 tick 4 tick 5 " ] &&
        [ "$("$BIN/drover" alloc logs -tail -n 2 "${tick%%-*}" | tr '\n' ' ')" = "tick 4 tick 5 " ]; then
        pass "alloc logs -f follows the task to its end; -tail -n 2 prints the last 2 lines"
else
        cat "$WORK/tick.out"
        fail "alloc logs -f follows the task to its end; -tail -n 2 prints the last 2 lines"
fi

# logs { max_files = 3, max_file_size = 1 }: 50 MB of output leaves at most 3 files of 1 MiB,
# and alloc logs -f, following from the start, still shows the lines written after the rotations
cat >"$WORK/chatty.hcl" <<EOF
job "chatty" {
  type = "batch"
  group "g" {
    task "t" {
      driver = "raw_exec"
      config {
        command = "/bin/sh"
        args    = ["-c", "sleep 2; yes 0123456789012345678901234567890123456789012345678 | head -c 50000000; for i in 1 2 3; do echo after-rotation-\$i; sleep 0.5; done # $MARK"]
      }
      logs {
        max_files     = 3
        max_file_size = 1
      }
    }
  }
}
EOF
"$BIN/drover" job run -detach "$WORK/chatty.hcl" >/dev/null 2>&1
wait_for 10 sh -c "curl -s $ADDR/v1/job/chatty/allocations | grep -q '\"ID\"'"
chatty=$(api /v1/job/chatty/allocations | grep -o '"ID":"[^"]*"' | head -n 1 | cut -d'"' -f4)
timeout 60 "$BIN/drover" alloc logs -f "${chatty%%-*}" 2>&1 | grep -a after-rotation >"$WORK/chatty.out"
chatty_logs="$WORK/agent/alloc/$chatty/alloc/logs"
nfiles=$(ls "$chatty_logs" | grep -c '^t\.stdout\.[0-9]*$')
bytes=$(cat "$chatty_logs"/t.stdout.* | wc -c)
if [ "$(tr '\n' ' ' <"$WORK/chatty.out")" = "after-rotation-1 after-rotation-2 after-rotation-3 " ] &&
        [ "$nfiles" -le 3 ] && [ "$bytes" -le $((3 * 1024 * 1024)) ] && [ -e "$chatty_logs/t.stdout.47" ]; then
        pass "log rotation: 50 MB with max_files 3 x 1 MiB leaves $nfiles files ($bytes bytes); logs -f shows the lines after the rotations"
else
        ls -la "$chatty_logs"
        cat "$WORK/chatty.out"
        fail "log rotation: 50 MB with max_files 3 x 1 MiB leaves at most 3 files; logs -f shows the lines after the rotations ($nfiles files, $bytes bytes)"
fi
first=$(ls "$chatty_logs" | sed -n 's/^t\.stdout\.\([0-9]*\)$/\1/p' | sort -n | head -n 1)
token=$(api "/v1/allocation/$chatty" | grep -o '"AllocToken":"[0-9a-f]*"' | cut -d'"' -f4)
start=$(curl -s -D - -o /dev/null -H "X-Drover-Token: $token" \
        "http://$AGENT_HTTP/v1/client/fs/logs/$chatty?task=t&type=stdout&offset=0" |
        tr -d '\r' | awk -F': ' 'tolower($1)=="x-drover-log-start"{print $2}')
if [ "$("$BIN/drover" alloc logs -tail -n 1 "${chatty%%-*}")" = "after-rotation-3" ] &&
        [ -n "$first" ] && [ "$start" = $((first * 1048576)) ]; then
        pass "log rotation: -tail reads the newest file; offset 0 starts at the oldest byte still kept"
else
        fail "log rotation: -tail reads the newest file; offset 0 starts at the oldest byte still kept (file $first, start $start)"
fi

# the agent's log endpoint: loopback, and only with the allocation's token (or the node secret)
no_token=$(curl -s -o /dev/null -w '%{http_code}' "http://$AGENT_HTTP/v1/client/fs/logs/$chatty?task=t")
other=$(api /v1/job/tick/allocations | grep -o '"ID":"[^"]*"' | head -n 1 | cut -d'"' -f4)
wrong=$(curl -s -o /dev/null -w '%{http_code}' -H "X-Drover-Token: $token" "http://$AGENT_HTTP/v1/client/fs/logs/$other?task=t")
secret=$(curl -s -o /dev/null -w '%{http_code}' -H "X-Drover-Token: $(cat "$WORK/agent/node-secret")" \
        "http://$AGENT_HTTP/v1/client/fs/logs/$other?task=t")
if [ -n "$token" ] && [ "$no_token" = 401 ] && [ "$wrong" = 403 ] && [ "$secret" = 200 ]; then
        pass "agent log endpoint: 401 without a token, 403 with another allocation's, 200 with the node secret"
else
        fail "agent log endpoint: 401 without a token, 403 with another allocation's, 200 with the node secret (token '$token': $no_token $wrong $secret)"
fi
# the servers forward /v1/client/fs/logs to the allocation's node (no token needed from the caller)
# without plain=true, Nomad's framed JSON: {"Offset": end of the bytes, "Data": base64, "File"}
frame=$(curl -s "$ADDR/v1/client/fs/logs/$chatty?task=t&type=stdout&origin=end&offset=17")
if [ "$(curl -s "$ADDR/v1/client/fs/logs/$chatty?task=t&type=stdout&origin=end&offset=17&plain=true")" = "after-rotation-3" ] &&
        echo "$frame" | python3 -c 'import base64,json,sys; f=json.load(sys.stdin); sys.exit(0 if base64.b64decode(f["Data"]).rstrip(b"\n") == b"after-rotation-3" and f["File"] == "alloc/logs/t.stdout.0" and isinstance(f["Offset"], int) and f["Offset"] >= 17 else 1)' &&
        [ "$(curl -s -o /dev/null -w '%{http_code}' "$ADDR/v1/client/fs/logs/$chatty?task=nosuch")" = 404 ] &&
        [ "$(curl -s -o /dev/null -w '%{http_code}' "$ADDR/v1/client/fs/logs/00000000-0000-4000-8000-000000000000?task=t")" = 404 ]; then
        pass "server: /v1/client/fs/logs is forwarded to the allocation's node (the last line, plain or as a Nomad frame; 404 for an unknown task or allocation)"
else
        fail "server: /v1/client/fs/logs is forwarded to the allocation's node ('$(curl -s "$ADDR/v1/client/fs/logs/$chatty?task=t&type=stdout&origin=end&offset=17&plain=true")', frame '$frame')"
fi

if "$BIN/drover" job status hello >"$WORK/status.out" 2>&1 && grep -q "Complete" "$WORK/status.out" &&
        grep -Eq "^hello +0 +0 +0 +0 +3 +0" "$WORK/status.out"; then
        pass "job status shows the summary: 3 complete"
else
        cat "$WORK/status.out"
        fail "job status shows the summary: 3 complete"
fi

aid=$(api /v1/job/hello/allocations | grep -o '"ID":"[0-9a-f-]*"' | head -1 | cut -d'"' -f4)
if "$BIN/drover" alloc status "$(echo "$aid" | cut -c1-6)" >"$WORK/astatus.out" 2>&1 &&
        grep -q 'Task "say" is "dead"' "$WORK/astatus.out" && grep -q "Terminated" "$WORK/astatus.out"; then
        pass "alloc status shows task state and events"
else
        cat "$WORK/astatus.out"
        fail "alloc status shows task state and events"
fi

if "$BIN/drover" node status >"$WORK/node.out" 2>&1 && grep -q "it-node" "$WORK/node.out" && grep -q ready "$WORK/node.out"; then
        pass "node status lists the node as ready"
else
        cat "$WORK/node.out"
        fail "node status lists the node as ready"
fi

# --- the exec driver: this host (v1 controllers + a controller-less cgroup2, or no root)
# cannot isolate tasks; the node says why, and placement avoids it -----------------------
nid0=$(api /v1/nodes | grep -o '"ID":"[^"]*"' | head -n 1 | cut -d'"' -f4)
if "$BIN/drover-agent" -fingerprint -data-dir "$WORK/fp" 2>/dev/null | grep -q '"driver.exec": *"1"'; then
        log "SKIP: exec checks: this host can isolate tasks (the VM tier covers them)"
elif "$BIN/drover" node status -verbose "$nid0" >"$WORK/nodev.out" 2>&1 &&
        grep -q "^exec  *false  *false  *exec: " "$WORK/nodev.out"; then
        pass "node status -verbose shows exec undetected with the reason ($(grep '^exec ' "$WORK/nodev.out" | sed 's/  */ /g' | cut -c1-90))"
        if "$BIN/drover" job run "$ROOT/examples/isolated.hcl" >"$WORK/iso.out" 2>&1; then :; fi
        if grep -q 'Constraint "missing drivers": 1 nodes excluded' "$WORK/iso.out" && [ "$(count_status isolated running)" = 0 ] &&
                [ "$(count_status isolated complete)" = 0 ]; then
                pass "an exec job is not placed on this node, with the reason in the placement failure"
        else
                cat "$WORK/iso.out"
                fail "an exec job is not placed on this node, with the reason in the placement failure"
        fi
        "$BIN/drover" job stop -purge isolated >/dev/null 2>&1 || true
else
        cat "$WORK/nodev.out"
        fail "node status -verbose shows exec undetected with the reason"
fi

# --- blocking queries: a node's allocations with ?index=N&wait=D -------------------
node_id=$(api /v1/nodes | grep -o '"ID":"[^"]*"' | head -n 1 | cut -d'"' -f4)
hdr_index() { curl -s -D - -o /dev/null "$1" | tr -d '\r' | awk -F': ' 'tolower($1)=="x-nomad-index"{print $2}'; }
idx=$(hdr_index "$ADDR/v1/node/$node_id/allocations")
t0=$(date +%s%N)
idx2=$(hdr_index "$ADDR/v1/node/$node_id/allocations?index=$idx&wait=1s")
waited_ms=$((($(date +%s%N) - t0) / 1000000))
if [ -n "$idx" ] && [ "$idx2" = "$idx" ] && [ "$waited_ms" -ge 900 ]; then
        pass "blocking query: nothing changed, it answers after wait=1s with the same index ($idx)"
else
        fail "blocking query: nothing changed, it answers after wait=1s with the same index (got '$idx' -> '$idx2' after $waited_ms ms)"
fi
hdr_index "$ADDR/v1/node/$node_id/allocations?index=$idx&wait=30s" >"$WORK/woken" &
woken_pid=$!
sleep 0.3
"$BIN/drover" job run -detach "$ROOT/examples/hello.hcl" >/dev/null 2>&1 # same job, new eval: no change
cat >"$WORK/wake.hcl" <<EOF
job "wake" {
  type = "batch"
  group "g" {
    task "t" {
      driver = "raw_exec"
      config {
        command = "/bin/true"
      }
    }
  }
}
EOF
"$BIN/drover" job run -detach "$WORK/wake.hcl" >/dev/null 2>&1
if wait_for 10 sh -c "! kill -0 $woken_pid 2>/dev/null" && [ "$(cat "$WORK/woken")" -gt "$idx" ] 2>/dev/null; then
        pass "blocking query: a placement on the node wakes it with a newer index ($(cat "$WORK/woken"))"
else
        kill "$woken_pid" 2>/dev/null
        fail "blocking query: a placement on the node wakes it with a newer index"
fi
# Let the wake job settle (dead) before the next part compares the state.
wait_for 15 sh -c "curl -s $ADDR/v1/job/wake | grep -q '\"Status\":\"dead\"'" || log "note: job wake did not settle"

# --- bad input: clear errors, 400s, and the state unchanged ------------------------
before=$(api /v1/jobs)
before_idx=$(curl -s -D - -o /dev/null "$ADDR/v1/jobs" | tr -d '\r' | awk -F': ' 'tolower($1)=="x-nomad-index"{print $2}')

printf 'job "broken" {\n  group "g" {\n    count = \n  }\n}\n' >"$WORK/broken.hcl"
if ! "$BIN/drover" job run "$WORK/broken.hcl" >"$WORK/bad.out" 2>&1 && grep -q "broken.hcl:[0-9]*:[0-9]*" "$WORK/bad.out"; then
        pass "malformed HCL: the CLI names file:line:column"
else
        cat "$WORK/bad.out"
        fail "malformed HCL: the CLI names file:line:column"
fi

check_400() { # NAME BODY_FILE EXPECTED_SUBSTRING
        local code
        code=$(api_code PUT /v1/jobs "$2")
        if [ "$code" = 400 ] && grep -q -- "$3" "$WORK/body"; then pass "API 400: $1"; else
                log "got $code: $(cat "$WORK/body")"
                fail "API 400: $1"
        fi
}
job_json() { # GROUP_COUNT DRIVER CPU TASK2NAME
        printf '{"Job":{"ID":"bad","Type":"batch","TaskGroups":[{"Name":"g","Count":%s,"Tasks":[{"Name":"t","Driver":"%s","Config":{"command":"/bin/true"},"Resources":{"CPU":%s,"MemoryMB":32}}%s]}]}}' "$1" "$2" "$3" "$4"
}
printf '{"Job": {"ID": "x",' >"$WORK/j1"
check_400 "malformed JSON" "$WORK/j1" "line 1"
job_json 1 nosuchdriver 100 "" >"$WORK/j2"
check_400 "unknown driver" "$WORK/j2" 'unknown driver "nosuchdriver"'
job_json -1 raw_exec 100 "" >"$WORK/j3"
check_400 "negative count" "$WORK/j3" "count must be >= 0 (got -1)"
job_json 1 raw_exec 0 "" >"$WORK/j4"
check_400 "zero cpu" "$WORK/j4" "cpu must be >= 1 MHz (got 0)"
job_json 1 raw_exec 100 ',{"Name":"t","Driver":"raw_exec","Config":{"command":"/bin/true"}}' >"$WORK/j5"
check_400 "duplicate task names" "$WORK/j5" 'duplicate task name "t"'
# A task name that climbs out of the allocation directory is refused, and nothing is
# created next to the agent's allocations (the agent builds task dirs from names).
job_json 1 raw_exec 100 "" | sed 's/"Name":"t"/"Name":"..\/escaped"/' >"$WORK/j6"
check_400 "task name ../escaped" "$WORK/j6" 'task name: "../escaped" must not contain'
if [ -z "$(find "$WORK" -name escaped 2>/dev/null)" ]; then pass "task name ../escaped: no directory created"; else
        fail "task name ../escaped: no directory created"
fi

printf 'job "dup" {\n  group "g" {\n    task "t" {\n      driver = "raw_exec"\n      config { command = "/bin/true" }\n    }\n    task "t" {\n      driver = "raw_exec"\n      config { command = "/bin/true" }\n    }\n  }\n}\n' >"$WORK/dup.hcl"
if ! "$BIN/drover" job run "$WORK/dup.hcl" >"$WORK/dup.out" 2>&1 && grep -q 'duplicate task name "t"' "$WORK/dup.out"; then
        pass "duplicate task names: the CLI refuses before sending"
else
        cat "$WORK/dup.out"
        fail "duplicate task names: the CLI refuses before sending"
fi

code=$(curl -s -o "$WORK/body" -w '%{http_code}' "$ADDR/v1/jobs?index=abc")
if [ "$code" = 400 ] && grep -q "Invalid index" "$WORK/body"; then pass "API 400: malformed ?index"; else
        fail "API 400: malformed ?index (got $code: $(cat "$WORK/body"))"
fi
code=$(curl -s -o "$WORK/body" -w '%{http_code}' -X DELETE "$ADDR/v1/nodes")
if [ "$code" = 405 ]; then pass "API 405: DELETE on a read-only path"; else
        fail "API 405: DELETE on a read-only path (got $code)"
fi

after=$(api /v1/jobs)
after_idx=$(curl -s -D - -o /dev/null "$ADDR/v1/jobs" | tr -d '\r' | awk -F': ' 'tolower($1)=="x-nomad-index"{print $2}')
if [ -n "$before_idx" ] && [ "$before" = "$after" ] && [ "$before_idx" = "$after_idx" ]; then
        pass "rejected input left the state unchanged"
else
        log "before: $before_idx $before"
        log "after:  $after_idx $after"
        fail "rejected input left the state unchanged"
fi

# --- no room: the eval blocks, and runs when capacity frees -------------------------
node_mem=$(api "/v1/node/$(api /v1/nodes | grep -o '"ID":"[^"]*"' | head -n 1 | cut -d'"' -f4)" |
        grep -o '"MemoryMB":[0-9]*' | head -n 1 | cut -d: -f2)
big=$((node_mem * 6 / 10))
big_job() { # NAME SECONDS
        cat >"$WORK/$1.hcl" <<EOF
job "$1" {
  type = "batch"
  group "g" {
    task "t" {
      driver = "raw_exec"
      config {
        command = "/bin/sh"
        args    = ["-c", "sleep $2 # $MARK"]
      }
      resources {
        cpu    = 50
        memory = $big
      }
    }
  }
}
EOF
}
big_job filler 3
big_job waiter 0
"$BIN/drover" job run "$WORK/filler.hcl" >/dev/null 2>&1
"$BIN/drover" job run "$WORK/waiter.hcl" >"$WORK/waiter.out" 2>&1
waiter_rc=$?
if [ "$waiter_rc" = 2 ] && grep -q "waiting for additional capacity" "$WORK/waiter.out" &&
        "$BIN/drover" job status waiter | grep -Eq '^g +1 '; then
        pass "a job that does not fit: job run exits 2, the eval blocks, 1 queued (${big} MB of ${node_mem})"
else
        echo "rc=$waiter_rc"
        cat "$WORK/waiter.out"
        "$BIN/drover" job status waiter
        fail "a job that does not fit: job run exits 2, the eval blocks, 1 queued"
fi
if wait_for 20 sh -c "[ \$(curl -s $ADDR/v1/job/waiter/allocations | grep -o '\"ClientStatus\":\"complete\"' | wc -l) = 1 ]"; then
        pass "when the filler completes, the blocked eval is unblocked and the waiter runs"
else
        api /v1/job/waiter/evaluations
        fail "when the filler completes, the blocked eval is unblocked and the waiter runs"
fi

# --- [api-cli] agent, metrics, search, parse/validate/plan, alloc stop, eval list -----------
# (checks of the route table's endpoints against the real server; helper: apij PATH FILTER)
code_of() { curl -s -o "$WORK/api.body" -w '%{http_code}' "$@"; }
if [ "$(api /v1/agent/self | jget 'd["config"]["Region"], d["member"]["Status"], d["stats"]["nomad"]["leader"]')" = "('global', 'alive', 'true')" ] &&
        [ "$(api /v1/agent/members | jget 'len(d["Members"]), d["ServerRegion"]')" = "(1, 'global')" ] &&
        [ "$(api /v1/agent/health | jget 'd["server"]["ok"]')" = True ] &&
        [ "$(api /v1/regions)" = '["global"]' ] && [ "$(api /v1/agent/servers | jget 'len(d)')" = 1 ]; then
        pass "API: /v1/agent/{self,members,health,servers} and /v1/regions in Nomad's shapes"
else
        fail "API: /v1/agent/{self,members,health,servers} and /v1/regions in Nomad's shapes"
fi
jobs_now=$(api /v1/jobs | jget 'len(d)')
if [ "$(api /v1/metrics | jget '[g["Value"] for g in d["Gauges"] if g["Name"]=="nomad.state.jobs"][0]')" = "$jobs_now.0" ] &&
        curl -s "$ADDR/v1/metrics?format=prometheus" | grep -qx "nomad_state_jobs $jobs_now"; then
        pass "API: /v1/metrics counts the jobs ($jobs_now) in JSON and in Prometheus text"
else
        fail "API: /v1/metrics counts the jobs ($jobs_now) in JSON and in Prometheus text"
fi
if [ "$(curl -s -X POST -d '{"Prefix":"wa","Context":"jobs"}' "$ADDR/v1/search" | jget 'sorted(d["Matches"]["jobs"])')" = "['waiter', 'wake']" ] &&
        [ "$(curl -s -X POST -d '{"Text":"AITE","Context":"jobs"}' "$ADDR/v1/search/fuzzy" | jget 'd["Matches"]["jobs"][0]["ID"]')" = waiter ]; then
        pass "API: /v1/search by prefix and /v1/search/fuzzy by substring"
else
        fail "API: /v1/search by prefix and /v1/search/fuzzy by substring"
fi
parse_body='{"JobHCL":"job \"parsed\" {\n group \"g\" {\n  task \"t\" {\n   driver = \"raw_exec\"\n   config { command = \"/bin/true\" }\n  }\n }\n}\n","Canonicalize":true}'
if [ "$(curl -s -X POST --data-binary "$parse_body" "$ADDR/v1/jobs/parse" | jget 'd["ID"], d["TaskGroups"][0]["Count"]')" = "('parsed', 1)" ] &&
        [ "$(code_of -X POST -d '{"JobHCL":"job {"}' "$ADDR/v1/jobs/parse")" = 400 ] &&
        [ "$(code_of "$ADDR/v1/job/parsed")" = 404 ]; then
        pass "API: /v1/jobs/parse turns HCL into a job without registering it; bad HCL is 400"
else
        fail "API: /v1/jobs/parse turns HCL into a job without registering it; bad HCL is 400"
fi
cat >"$WORK/svc.hcl" <<EOF
job "svc" {
  group "g" {
    count = 2
    migrate {
      max_parallel = 1
    }
    task "t" {
      driver = "raw_exec"
      config {
        command = "/bin/sleep"
        args    = ["600"]
      }
      resources {
        cpu    = 50
        memory = 32
      }
    }
  }
}
EOF
sed 's/count = 2/count = -1/' "$WORK/svc.hcl" >"$WORK/svc-bad.hcl"
"$BIN/drover" job validate "$WORK/svc.hcl" >"$WORK/validate.out" 2>&1
v_ok=$?
"$BIN/drover" job validate "$WORK/svc-bad.hcl" >"$WORK/validate-bad.out" 2>&1
v_bad=$?
if [ $v_ok = 0 ] && grep -q "Job validation successful" "$WORK/validate.out" && [ $v_bad = 1 ]; then
        pass "CLI: job validate: 0 for a valid job, 1 with the reason for an invalid one"
else
        cat "$WORK/validate.out" "$WORK/validate-bad.out"
        fail "CLI: job validate: 0 for a valid job, 1 with the reason for an invalid one ($v_ok, $v_bad)"
fi
"$BIN/drover" job plan "$WORK/svc.hcl" >"$WORK/plan.out" 2>&1
p_new=$?
if [ $p_new = 1 ] && grep -q '+ Task Group: "g" (2 create)' "$WORK/plan.out" && grep -q "All tasks successfully allocated" "$WORK/plan.out" &&
        [ "$(code_of "$ADDR/v1/job/svc")" = 404 ]; then
        pass "CLI: job plan of a new job: 2 create, exit 1, nothing registered"
else
        cat "$WORK/plan.out"
        fail "CLI: job plan of a new job: 2 create, exit 1, nothing registered (exit $p_new)"
fi
"$BIN/drover" job run -detach "$WORK/svc.hcl" >/dev/null 2>&1
wait_for 20 sh -c "[ \$(curl -s $ADDR/v1/job/svc/allocations | grep -o '\"ClientStatus\":\"running\"' | wc -l) = 2 ]"
"$BIN/drover" job plan "$WORK/svc.hcl" >"$WORK/plan2.out" 2>&1
p_same=$?
if [ $p_same = 0 ] && grep -q 'Task Group: "g" (2 ignore)' "$WORK/plan2.out"; then
        pass "CLI: job plan of the unchanged running job: 2 ignore, exit 0"
else
        cat "$WORK/plan2.out"
        fail "CLI: job plan of the unchanged running job: 2 ignore, exit 0 (exit $p_same)"
fi
sed 's/count = 2/count = 3/' "$WORK/svc.hcl" >"$WORK/svc3.hcl"
"$BIN/drover" job plan "$WORK/svc3.hcl" >"$WORK/plan3.out" 2>&1
p_more=$?
if [ $p_more = 1 ] && grep -q '^+/- Job: "svc"' "$WORK/plan3.out" && grep -q '^+/- Task Group: "g" (1 create, 2 in-place update)' "$WORK/plan3.out" &&
        grep -q '+/- Count: "2" => "3"' "$WORK/plan3.out"; then
        pass "CLI: job plan of count 2 -> 3: the Count diff, 1 create, 2 in-place update (as Nomad: the job version changed, the tasks did not), exit 1"
else
        cat "$WORK/plan3.out"
        fail "CLI: job plan of count 2 -> 3 (exit $p_more)"
fi
if "$BIN/drover" job inspect svc | jget 'd["Job"]["ID"], d["Job"]["TaskGroups"][0]["Count"]' | grep -qx "('svc', 2)"; then
        pass "CLI: job inspect prints {\"Job\": ...}"
else
        fail "CLI: job inspect prints {\"Job\": ...}"
fi
victim=$(api /v1/job/svc/allocations | jget '[a["ID"] for a in d if a["ClientStatus"]=="running"][0]')
"$BIN/drover" alloc stop "${victim:0:8}" >"$WORK/astop.out" 2>&1
if wait_for 20 sh -c "[ \$(curl -s $ADDR/v1/job/svc/allocations | grep -o '\"ClientStatus\":\"running\"' | wc -l) = 2 ]" &&
        [ "$(api "/v1/allocation/$victim" | jget 'd["DesiredStatus"], d["ClientStatus"]')" = "('stop', 'complete')" ]; then
        pass "CLI: alloc stop stops the allocation and the job gets a replacement"
else
        cat "$WORK/astop.out"
        fail "CLI: alloc stop stops the allocation and the job gets a replacement"
fi
"$BIN/drover" eval list -job=svc >"$WORK/evals.out" 2>&1
if head -n 1 "$WORK/evals.out" | grep -q "^ID *Priority *Triggered By *Job ID" && grep -q "alloc-stop" "$WORK/evals.out" &&
        grep -q "job-register" "$WORK/evals.out"; then
        pass "CLI: eval list shows the job's evaluations (job-register, alloc-stop)"
else
        cat "$WORK/evals.out"
        fail "CLI: eval list shows the job's evaluations"
fi
if "$BIN/drover" agent-info >"$WORK/ai.out" 2>&1 && grep -q "^agent" "$WORK/ai.out" && grep -q "  leader = true" "$WORK/ai.out" &&
        "$BIN/drover" agent-info -help | grep -q "Usage: drover agent-info"; then
        pass "CLI: agent-info shows this server's sections"
else
        cat "$WORK/ai.out"
        fail "CLI: agent-info shows this server's sections"
fi
done_eval=$(api /v1/evaluations | jget '[e["ID"] for e in d if e["Status"]=="complete"][0]')
if [ "$(code_of -X DELETE -d "{\"EvalIDs\":[\"$done_eval\"]}" "$ADDR/v1/evaluations")" = 200 ] &&
        [ "$(code_of "$ADDR/v1/evaluation/$done_eval")" = 404 ] &&
        [ "$(code_of -X PATCH "$ADDR/v1/jobs")" = 405 ]; then
        pass "API: DELETE /v1/evaluations removes a finished evaluation; PATCH is 405"
else
        fail "API: DELETE /v1/evaluations removes a finished evaluation; PATCH is 405"
fi

if [ "$(curl -s -X PUT -d '{"SchedulerAlgorithm":"spread"}' "$ADDR/v1/operator/scheduler/configuration" | jget 'd["Updated"]')" = True ] &&
        [ "$(api /v1/operator/scheduler/configuration | jget 'd["SchedulerConfig"]["SchedulerAlgorithm"]')" = spread ] &&
        [ "$(code_of -X PUT -d '{"SchedulerAlgorithm":"best"}' "$ADDR/v1/operator/scheduler/configuration")" = 400 ] &&
        [ "$(curl -s -X PUT -d '{"SchedulerAlgorithm":"binpack"}' "$ADDR/v1/operator/scheduler/configuration" | jget 'd["Updated"]')" = True ]; then
        pass "API: /v1/operator/scheduler/configuration GET and PUT (spread, back to binpack); a bad algorithm is 400"
else
        fail "API: /v1/operator/scheduler/configuration GET and PUT"
fi

# --- [api-cli] node drain: allocations move one at a time to another node ---------------------
node_a=$(api /v1/nodes | jget '[n["ID"] for n in d if n["Name"]=="it-node"][0]')
"$BIN/drover" node eligibility -disable "$node_a" >/dev/null 2>&1
elig=$(api "/v1/node/$node_a" | jget 'd["SchedulingEligibility"]')
"$BIN/drover" node eligibility -enable "$node_a" >/dev/null 2>&1
if [ "$elig" = ineligible ] && [ "$(api "/v1/node/$node_a" | jget 'd["SchedulingEligibility"]')" = eligible ]; then
        pass "CLI: node eligibility -disable / -enable"
else
        fail "CLI: node eligibility -disable / -enable (got $elig)"
fi
sed 's/count = 2/count = 3/; s/job "svc"/job "mig"/' "$WORK/svc.hcl" >"$WORK/mig.hcl"
"$BIN/drover" job run -detach "$WORK/mig.hcl" >/dev/null 2>&1
wait_for 20 sh -c "[ \$(curl -s $ADDR/v1/job/mig/allocations | grep -o '\"ClientStatus\":\"running\"' | wc -l) = 3 ]"
"$BIN/drover-agent" -servers "$ADDR" -data-dir "$WORK/agent-b" -node-name it-node-b -raw-exec \
        -http-addr "127.0.0.1:$((PORT + 12))" >>"$WORK/agent-b.log" 2>&1 &
agent_b_pid=$!
wait_for 15 sh -c "curl -s $ADDR/v1/nodes | grep -q '\"Name\":\"it-node-b\",[^}]*\"Status\":\"ready\"'" ||
        wait_for 15 sh -c "[ \$(curl -s $ADDR/v1/nodes | grep -o '\"Status\":\"ready\"' | wc -l) -ge 2 ]"
node_b=$(api /v1/nodes | jget '[n["ID"] for n in d if n["Name"]=="it-node-b"][0]')
running_mig() { api /v1/job/mig/allocations | jget 'sum(1 for a in d if a["DesiredStatus"]=="run" and a["ClientStatus"]=="running")'; }
"$BIN/drover" node drain -enable -yes -deadline 2m "$node_a" >"$WORK/drain.out" 2>&1 &
drain_pid=$!
min_running=3
for _ in $(seq 1 600); do
        r=$(running_mig)
        [ -n "$r" ] && [ "$r" -lt "$min_running" ] && min_running=$r
        kill -0 $drain_pid 2>/dev/null || break
        sleep 0.1
done
wait $drain_pid
drain_rc=$?
on_b=$(api "/v1/node/$node_b/allocations" | jget 'sum(1 for a in d if a["JobID"]=="mig" and a["DesiredStatus"]=="run")')
node_a_json=$(api "/v1/node/$node_a" | jget 'd["Drain"], d["SchedulingEligibility"], d["LastDrain"]["Status"]')
# One at a time: in Raft order, each drain stop (its node-drain eval) comes after the
# replacement of the one before it was placed: E B E B E B, never E E ...
order=$( (api /v1/job/mig/evaluations | jget '"\n".join("%d E" % e["CreateIndex"] for e in d if e["TriggeredBy"]=="node-drain")'
        api "/v1/node/$node_b/allocations" | jget '"\n".join("%d B" % a["CreateIndex"] for a in d if a["JobID"]=="mig")') |
        sort -n | awk '{printf "%s", $2}')
"$BIN/drover" node status >"$WORK/nodes.out" 2>&1
if [ $drain_rc = 0 ] && [ "$min_running" -ge 2 ] && [ "$on_b" = 3 ] && [ "$order" = EBEBEB ] && [ "$node_a_json" = "(False, 'ineligible', 'complete')" ] &&
        grep -q "Drain complete" "$WORK/drain.out" && grep -Eq ' it-node +.* false +ineligible +ready' "$WORK/nodes.out"; then
        pass "drain: 3 allocations move to node B one at a time ($order), never more than one missing (min running $min_running); A ineligible, drain complete"
else
        cat "$WORK/drain.out"
        fail "drain: allocations move one at a time (rc $drain_rc, order $order, min running $min_running, on B $on_b, A $node_a_json)"
fi
# Back to one node for what follows: A eligible again, B gone.
"$BIN/drover" node eligibility -enable "$node_a" >/dev/null 2>&1
"$BIN/drover" job stop -purge -detach mig >/dev/null 2>&1
"$BIN/drover" job stop -purge -detach svc >/dev/null 2>&1
kill -9 "$agent_b_pid" 2>/dev/null
wait "$agent_b_pid" 2>/dev/null
if [ "$(code_of -X PUT "$ADDR/v1/node/$node_b/purge")" = 200 ] && [ "$(code_of "$ADDR/v1/node/$node_b")" = 404 ]; then
        pass "API: node purge forgets node B"
else
        fail "API: node purge forgets node B"
fi

# --- losing the agent: node down, allocations lost --------------------------------
cat >"$WORK/sleeper.hcl" <<EOF
job "sleeper" {
  type = "service"
  group "s" {
    count = 2
    task "sleep" {
      driver = "raw_exec"
      config {
        command = "/bin/bash"
        args    = ["-c", "exec -a $MARK-sleep sleep 600"]
      }
      resources {
        cpu    = 50
        memory = 16
      }
    }
  }
}
EOF
"$BIN/drover" job run -detach "$WORK/sleeper.hcl" >/dev/null 2>&1
if wait_for 20 sh -c "[ \$(curl -s $ADDR/v1/job/sleeper/allocations | grep -o '\"ClientStatus\":\"running\"' | wc -l) = 2 ]"; then
        pass "service job: 2 allocations running"
        nid=$(api /v1/nodes | grep -o '"ID":"[^"]*"' | head -n 1 | cut -d'"' -f4)
        if "$BIN/drover" node status "${nid%%-*}" | grep -A2 "^Allocated Resources" | grep -q "^100/[0-9]* MHz  *32 MiB/"; then
                pass "node status shows what the 2 running allocations reserve (100 MHz, 32 MiB)"
        else
                "$BIN/drover" node status "${nid%%-*}"
                fail "node status shows what the 2 running allocations reserve (100 MHz, 32 MiB)"
        fi
else
        api /v1/job/sleeper/allocations
        fail "service job: 2 allocations running"
fi

# --- task stats: the agent's endpoint, forwarded by the server, and alloc status -stats ---
sleeper_id=$(api /v1/job/sleeper/allocations | jget '[a["ID"] for a in d if a["ClientStatus"]=="running"][0]')
stats_rss() { api "/v1/client/allocation/$sleeper_id/stats" | jget 'd["Tasks"]["sleep"]["ResourceUsage"]["MemoryStats"]["RSS"]'; }
rss=$(stats_rss)
"$BIN/drover" alloc status -stats "${sleeper_id%%-*}" >"$WORK/stats.out" 2>&1
if [ -n "$rss" ] && [ "$rss" -gt 0 ] 2>/dev/null && grep -q "^Memory Stats" "$WORK/stats.out" &&
        grep -q "^CPU Stats" "$WORK/stats.out" &&
        [ "$(curl -s -o /dev/null -w '%{http_code}' "http://$AGENT_HTTP/v1/client/allocation/$sleeper_id/stats")" = 401 ]; then
        pass "stats: the server forwards /v1/client/allocation/:id/stats (sleep's RSS $rss bytes); alloc status -stats shows memory and CPU; the agent wants a token"
else
        cat "$WORK/stats.out"
        fail "stats: /v1/client/allocation/:id/stats through the server (RSS '$rss'), alloc status -stats"
fi

# --- agent restart: the new agent re-attaches to the running tasks -------------------
pids_before=$(pgrep -f "$MARK-sleep" | sort | tr '\n' ' ')
allocs_before=$(api /v1/job/sleeper/allocations | grep -o '"ID":"[^"]*"' | sort | tr '\n' ' ')
kill -9 "$agent_pid"
wait "$agent_pid" 2>/dev/null
start_agent
if wait_for 10 sh -c "[ \$(grep -c 're-attached to pid' '$WORK/agent.log') -ge 2 ]" && sleep 3 &&
        [ -n "$pids_before" ] && [ "$(pgrep -f "$MARK-sleep" | sort | tr '\n' ' ')" = "$pids_before" ] &&
        [ "$(count_status sleeper running)" = 2 ] &&
        [ "$(api /v1/job/sleeper/allocations | grep -o '"ID":"[^"]*"' | sort | tr '\n' ' ')" = "$allocs_before" ] &&
        api /v1/nodes | grep -q '"Status":"ready"'; then
        pass "agent SIGKILLed and restarted: it re-attaches to the same 2 task processes, no new allocations"
else
        log "pids before: $pids_before; now: $(pgrep -f "$MARK-sleep" | tr '\n' ' ')"
        api /v1/job/sleeper/allocations
        fail "agent SIGKILLed and restarted: it re-attaches to the same 2 task processes, no new allocations"
fi

kill -9 "$agent_pid"
wait "$agent_pid" 2>/dev/null
agent_pid=""
t0=$(date +%s)
if wait_for 20 sh -c "curl -s $ADDR/v1/nodes | grep -q '\"Status\":\"down\"'"; then
        pass "after SIGKILL of the agent the node is down ($(($(date +%s) - t0)) s; TTL 1 s + grace 1 s)"
else
        api /v1/nodes
        fail "after SIGKILL of the agent the node is down"
fi
if wait_for 10 sh -c "[ \$(curl -s $ADDR/v1/job/sleeper/allocations | grep -o '\"ClientStatus\":\"lost\"' | wc -l) = 2 ]"; then
        pass "its running allocations are lost"
else
        api /v1/job/sleeper/allocations
        fail "its running allocations are lost"
fi
# as Nomad's: the node-update evaluation stops them (DesiredStatus stop) and says why
lost_stopped() {
        [ "$(api /v1/job/sleeper/allocations | python3 -c 'import json,sys; print(sum(a["ClientStatus"] == "lost" and a["DesiredStatus"] == "stop" and a["DesiredDescription"] == "alloc is lost since its node is down" for a in json.load(sys.stdin)))')" = 2 ]
}
if wait_for 10 lost_stopped; then
        pass "the lost allocations are stopped: DesiredStatus stop, \"alloc is lost since its node is down\""
else
        api /v1/job/sleeper/allocations
        fail "the lost allocations are stopped: DesiredStatus stop, \"alloc is lost since its node is down\""
fi

# --- the node comes back: leftovers of its lost allocations are killed -----------------
# (a function, not sh -c: pgrep -f would count the sh whose command line holds the pattern)
sleepers_are() { [ "$(pgrep -f "$MARK-sleep" | wc -l)" = "$1" ]; }
start_agent
if wait_for 20 sh -c "[ \$(curl -s $ADDR/v1/job/sleeper/allocations | grep -o '\"ClientStatus\":\"running\"' | wc -l) = 2 ]" &&
        wait_for 10 sleepers_are 2 && [ "$(count_status sleeper lost)" = 2 ]; then
        pass "agent back: 2 replacement allocations run, the lost ones' processes are gone and they stay lost"
else
        log "processes: $(pgrep -af "$MARK-sleep")"
        api /v1/job/sleeper/allocations
        fail "agent back: 2 replacement allocations run, the lost ones' processes are gone and they stay lost"
fi

# --- server restart: the state comes back from the Raft log -------------------------
before=$(api /v1/jobs | grep -o '"ID":"[^"]*"' | sort | tr '\n' ' ')
kill -TERM "$server_pid"
wait "$server_pid" 2>/dev/null
server_pid=""
if start_server && [ "$(api /v1/jobs | grep -o '"ID":"[^"]*"' | sort | tr '\n' ' ')" = "$before" ] &&
        [ "$(count_status sleeper lost)" = 2 ] && [ "$(count_status sleeper running)" = 2 ] &&
        api /v1/nodes | grep -q '"Status":"ready"'; then
        pass "after a server restart the jobs, allocations and node status are all there"
else
        api /v1/jobs
        fail "after a server restart the jobs, allocations and node status are all there"
fi

# --- fingerprint: a fixture host's GPUs reach the server; a GPU taken out re-registers it ---
# A second agent reads /proc and /sys from a copy of tests/fixtures/hosts/gpu-2numa.
cp -r "$ROOT/tests/fixtures/hosts/gpu-2numa" "$WORK/fproot"
"$BIN/drover-agent" -servers "$ADDR" -data-dir "$WORK/agent-fp" -node-name it-gpu-node -http-addr "" -raw-exec \
        -fingerprint-root "$WORK/fproot" -fingerprint-interval 1s -node-class gpu -gc-interval 1s \
        -gc-max-allocs 2 >>"$WORK/agent-fp.log" 2>&1 &
fp_pid=$!
gpu_node_shows() { # PATTERN: node status -verbose of it-gpu-node matches it
        local id
        id=$("$BIN/drover" node status | awk '$4 == "it-gpu-node" && $8 == "ready" {print $1}')
        [ -n "$id" ] && "$BIN/drover" node status -verbose "$id" | grep -Eq "$1"
}
if wait_for 15 gpu_node_shows '^nvidia/gpu/0x2330 +4 +4 +0000:18:00.0 \(numa 0\)' &&
        gpu_node_shows '^cpu.numcores = 16$' && gpu_node_shows '^numa.node.count = 2$' &&
        gpu_node_shows '^nvidia/gpu/0x2204 +1 ' && ! gpu_node_shows '^aspeed'; then
        pass "fingerprint: node status -verbose shows the fixture host's GPUs, cores and NUMA nodes"
else
        "$BIN/drover" node status
        fail "fingerprint: node status -verbose shows the fixture host's GPUs, cores and NUMA nodes"
fi
rm -rf "$WORK/fproot/sys/bus/pci/devices/0000:ab:00.0"
if wait_for 15 gpu_node_shows '^nvidia/gpu/0x2330 +3 +3 ' && grep -q "fingerprint changed" "$WORK/agent-fp.log"; then
        pass "fingerprint: a GPU taken out is seen by the periodic fingerprint and the node registered again"
else
        fail "fingerprint: a GPU taken out is seen by the periodic fingerprint and the node registered again"
fi
if [ "$(grep -c "fingerprint changed" "$WORK/agent-fp.log")" = 1 ]; then
        pass "fingerprint: an unchanged host is not registered again"
else
        fail "fingerprint: an unchanged host is not registered again"
fi
# allocation directory GC: 3 terminal allocations on a node with -gc-max-allocs 2 leave 2 directories
cat >"$WORK/gc.hcl" <<EOF
job "gc" {
  type = "batch"
  constraint {
    attribute = "\${node.class}"
    value     = "gpu"
  }
  group "g" {
    count = 3
    task "t" {
      driver = "raw_exec"
      config {
        command = "/bin/true"
      }
    }
  }
}
EOF
gc_dirs() { [ "$(ls "$WORK/agent-fp/alloc" 2>/dev/null | wc -l)" = "$1" ]; }
if "$BIN/drover" job run "$WORK/gc.hcl" >"$WORK/gc.out" 2>&1 &&
        wait_for 20 sh -c "[ \$(curl -s $ADDR/v1/job/gc/allocations | grep -o '\"ClientStatus\":\"complete\"' | wc -l) = 3 ]" &&
        wait_for 10 gc_dirs 2 && grep -Eq "collected [0-9]+ terminal allocation director" "$WORK/agent-fp.log"; then
        pass "alloc GC: 3 terminal allocations with -gc-max-allocs 2 leave 2 directories (the oldest collected)"
else
        cat "$WORK/gc.out"
        ls "$WORK/agent-fp/alloc"
        fail "alloc GC: 3 terminal allocations with -gc-max-allocs 2 leave 2 directories (the oldest collected)"
fi
kill -9 "$fp_pid" 2>/dev/null
wait "$fp_pid" 2>/dev/null
# --- garbage collection: finished jobs go, running ones stay -------------------------
evals_before=$(api /v1/evaluations | grep -o '"ID":"[0-9a-f-]*"' | wc -l)
gc_code=$(curl -s -o "$WORK/gc.out" -w '%{http_code}' -X PUT "$ADDR/v1/system/gc")
evals_after=$(api /v1/evaluations | grep -o '"ID":"[0-9a-f-]*"' | wc -l)
if [ "$gc_code" = 200 ] && ! api /v1/jobs | grep -q '"ID":"hello"' && api /v1/jobs | grep -q '"ID":"sleeper"' &&
        [ "$(count_status sleeper running)" = 2 ] && [ "$evals_after" -lt "$evals_before" ]; then
        pass "PUT /v1/system/gc: the finished batch jobs go, the running service stays; evaluations $evals_before -> $evals_after"
else
        cat "$WORK/gc.out"
        api /v1/jobs
        fail "PUT /v1/system/gc (answer $gc_code; evaluations $evals_before -> $evals_after)"
fi

# --- event stream: GET /v1/event/stream (newline-delimited JSON, topic filters) --------
# Both streams start at the next index, so a late connect still replays the event.
ev_from=$(($(curl -s -D - -o /dev/null "$ADDR/v1/jobs" | tr -d '\r' | awk -F': ' 'tolower($1)=="x-nomad-index"{print $2}') + 1))
curl -sN --max-time 30 "$ADDR/v1/event/stream?index=$ev_from&topic=Job:evstream" >"$WORK/ev-job.out" 2>/dev/null &
ev_job_pid=$!
curl -sN --max-time 30 "$ADDR/v1/event/stream?index=$ev_from&topic=Node" >"$WORK/ev-node.out" 2>/dev/null &
ev_node_pid=$!
sed 's/^job "hello"/job "evstream"/' "$ROOT/examples/hello.hcl" >"$WORK/evstream.hcl"
"$BIN/drover" job run -detach "$WORK/evstream.hcl" >"$WORK/ev-run.out" 2>&1
if wait_for 15 grep -q '"Topic":"Job","Type":"JobRegistered","Key":"evstream","Namespace":"default"' "$WORK/ev-job.out" &&
        head -n 1 "$WORK/ev-job.out" | python3 -c 'import json,sys; d=json.load(sys.stdin); assert d["Events"][0]["Payload"]["Job"]["ID"]=="evstream" and d["Index"]>0'; then
        pass "event stream: ?topic=Job:evstream gets JobRegistered with the job as payload"
else
        cat "$WORK/ev-run.out" "$WORK/ev-job.out"
        fail "event stream: ?topic=Job:evstream gets JobRegistered with the job as payload"
fi
# The Node stream's connection got its answer headers (curl wrote nothing yet, or node events only).
if kill -0 "$ev_node_pid" 2>/dev/null && ! grep -q '"Topic":"Job"\|"Topic":"Evaluation"' "$WORK/ev-node.out"; then
        pass "event stream: ?topic=Node shows no job or evaluation events"
else
        fail "event stream: ?topic=Node shows no job or evaluation events"
fi
kill "$ev_job_pid" "$ev_node_pid" 2>/dev/null
wait "$ev_job_pid" "$ev_node_pid" 2>/dev/null
ev_replay=$(curl -sN --max-time 3 "$ADDR/v1/event/stream?index=$ev_from&topic=Job:evstream&topic=Allocation:*")
if printf '%s\n' "$ev_replay" | grep -q '"Type":"JobRegistered","Key":"evstream"' &&
        printf '%s\n' "$ev_replay" | grep -q '"Topic":"Allocation","Type":"PlanResult"' &&
        printf '%s\n' "$ev_replay" | python3 -c 'import json,sys
allocs=[e["Payload"]["Allocation"] for l in sys.stdin if l.strip() for e in json.loads(l)["Events"] if e["Topic"]=="Allocation"]
assert allocs and all("Job" not in a and a["JobID"]=="evstream" for a in allocs)' &&
        ! printf '%s\n' "$ev_replay" | grep -q '"Topic":"Evaluation"'; then
        pass "event stream: ?index=N replays the ring (job and its allocations, without their job; no evaluations)"
else
        printf '%s\n' "$ev_replay" | cut -c1-200
        fail "event stream: ?index=N replays the ring (job and its allocations, without their job; no evaluations)"
fi
if [ "$(code_of "$ADDR/v1/event/stream?topic=Jobs")" = 400 ] && grep -q unknown "$WORK/api.body"; then
        pass "event stream: an unknown topic is a 400 that names it"
else
        fail "event stream: an unknown topic is a 400 that names it"
fi
"$BIN/drover" job stop -purge evstream >/dev/null 2>&1

# --- drover dev: a one-host cluster that Ctrl-C stops ------------------------------
DEV_PORT=$(pick_port "$PORT_BASE" "$PORT_SPAN" 1 2 10; echo "$PORT") # a subshell: PORT stays the main server's
"$BIN/drover" dev -port="$DEV_PORT" >"$WORK/dev.log" 2>&1 &
dev_pid=$!
if wait_for 20 grep -q "cluster running" "$WORK/dev.log" &&
        "$BIN/drover" job run -address="http://127.0.0.1:$DEV_PORT" "$ROOT/examples/hello.hcl" >"$WORK/dev-run.out" 2>&1 &&
        wait_for 20 sh -c "[ \$(curl -s http://127.0.0.1:$DEV_PORT/v1/job/hello/allocations | grep -o '\"ClientStatus\":\"complete\"' | wc -l) = 3 ]"; then
        pass "drover dev: server and agent come up and run examples/hello.hcl"
else
        cat "$WORK/dev.log" "$WORK/dev-run.out" 2>/dev/null
        fail "drover dev: server and agent come up and run examples/hello.hcl"
fi
dev_data=$(sed -n 's/.*(data in \([^)]*\)).*/\1/p' "$WORK/dev.log" | head -n 1)
kill -INT "$dev_pid"
# Nothing listens on the port any more (the stopped server's connections may stay in
# TIME_WAIT there, which lib.sh's port_free counts as taken).
if wait_for 15 sh -c "! kill -0 $dev_pid 2>/dev/null" && ! port_listens "$DEV_PORT" &&
        ! pgrep -f "drover-(server|agent).*127.0.0.1:$DEV_PORT" >/dev/null && [ -n "$dev_data" ] && [ ! -e "$dev_data" ]; then
        pass "drover dev: Ctrl-C stops the server and the agent and removes its data dir"
else
        kill -0 "$dev_pid" 2>/dev/null && echo "drover dev still runs"
        port_listens "$DEV_PORT" && echo "port $DEV_PORT still answers"
        pgrep -af "drover-(server|agent)"
        echo "data dir: '$dev_data'"
        [ -n "$dev_data" ] && [ -e "$dev_data" ] && find "$dev_data" | head -20
        cat "$WORK/dev.log"
        fail "drover dev: Ctrl-C stops the server and the agent and removes its data dir"
fi

# --- nothing of ours is left behind ------------------------------------------------------
# Stop the agents and remove their data directories: each agent's log collector then kills
# the tasks it started (their directories are gone), and exits with no agent and no task.
# Ours: any process working in, or holding a file of, this run's work directory.
ours_left() {
        local p
        for p in /proc/[0-9]*; do
                [ "${p#/proc/}" = $$ ] || [ "${p#/proc/}" = "$server_pid" ] && continue
                if readlink "$p/cwd" 2>/dev/null | grep -q "^$WORK/" ||
                        ls -l "$p/fd" 2>/dev/null | grep -q " -> $WORK/"; then
                        echo "${p#/proc/}"
                fi
        done
}
nothing_ours_left() { [ -z "$(ours_left)" ]; }
[ -n "$agent_pid" ] && kill -9 "$agent_pid" 2>/dev/null
wait "$agent_pid" 2>/dev/null
agent_pid=""
had=$(ours_left | wc -l)
"$RM_WORK" "$WORK"/agent "$WORK"/agent-b "$WORK"/agent-fp
if wait_for 15 nothing_ours_left; then
        pass "no leftovers: agents stopped and data dirs removed, their collectors and tasks are gone ($had processes before)"
else
        for p in $(ours_left); do log "left: $p $(tr '\0' ' ' <"/proc/$p/cmdline")"; done
        fail "no leftovers: a collector or task of this run still runs after its data dir was removed"
fi

# --- three servers: election, failover, forwarding, restart, a frozen follower ---------
if "$ROOT/tests/integration/cluster.sh" "$BIN"; then
        pass "cluster tests (tests/integration/cluster.sh)"
else
        fail "cluster tests (tests/integration/cluster.sh)"
fi
if "$ROOT/tests/integration/cluster_leave.sh" "$BIN"; then
        pass "graceful leave (tests/integration/cluster_leave.sh)"
else
        fail "graceful leave (tests/integration/cluster_leave.sh)"
fi

log "$passed passed, $failed failed"
[ "$failed" = 0 ]
