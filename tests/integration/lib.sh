# lib.sh - helpers shared by the single-server integration scripts (run.sh,
# deploy.sh, job_kinds.sh, alloc_ctl.sh, lifecycle.sh, devices.sh, agent_state.sh,
# agent_grace.sh, tests/cli/golden.sh). The functions read
# WORK (the run's work dir), ADDR (api, api_code, start_*), BIN and PORT (start_*)
# when called. Counters: passed, failed. FAIL_TAIL: log lines shown per file when a
# check fails (default 20).
RM_WORK=$(cd "$(dirname "${BASH_SOURCE[0]}")/../support" && pwd)/rm_work.sh # rm -rf that first detaches mounts
. "$(dirname "${BASH_SOURCE[0]}")/../support/wait.sh" # wait_for SECONDS COMMAND...
. "$(dirname "${BASH_SOURCE[0]}")/../support/ports.sh" # port_listens, port_free, pick_port
log() { printf '%s\n' "$*"; }
pass() { passed=$((passed + 1)); log "PASS: $1"; }
fail() {
        failed=$((failed + 1))
        log "FAIL: $1"
        for f in "$WORK"/*.log; do [ -f "$f" ] && { log "--- $f (last ${FAIL_TAIL:-20} lines)"; tail -n "${FAIL_TAIL:-20}" "$f"; }; done
}

api() { curl -s "$ADDR$1"; }
api_code() { curl -s -o "$WORK/body" -w '%{http_code}' -X "$1" --data-binary @"$3" "$ADDR$2"; }
# jget EXPR: evaluate a Python expression over the JSON on stdin (as d).
jget() { python3 -c "import json,sys; d=json.load(sys.stdin); print(eval(sys.argv[1]))" "$1" 2>/dev/null; }

# start_server: a -dev drover-server on PORT (Raft on PORT + 1) logging to
# $WORK/server.log; sets server_pid; waits (15 s) until it leads.
start_server() {
        "$BIN/drover-server" -dev -data-dir "$WORK/server" -http-addr "127.0.0.1:$PORT" \
                -raft-addr "127.0.0.1:$((PORT + 1))" >>"$WORK/server.log" 2>&1 &
        server_pid=$!
        wait_for 15 sh -c "curl -fs $ADDR/v1/status/leader | grep -q 127.0.0.1" || {
                fail "server starts"
                return 1
        }
}

# launch_agent NODE_NAME [ARG...]: a raw_exec drover-agent of the server at ADDR, its
# endpoint on PORT + 10, logging to ${AGENT_LOG:-$WORK/agent.log}, with the further
# ARGs, in the background (variables set before the call reach its environment);
# sets agent_pid.
launch_agent() {
        local name=$1
        shift
        "$BIN/drover-agent" -servers "$ADDR" -data-dir "$WORK/agent" -node-name "$name" -raw-exec \
                -http-addr "127.0.0.1:$((PORT + 10))" "$@" >>"${AGENT_LOG:-$WORK/agent.log}" 2>&1 &
        agent_pid=$!
}

# wait_ready: wait (15 s) until a node is ready; fails "agent registers" otherwise.
wait_ready() {
        wait_for 15 sh -c "curl -fs $ADDR/v1/nodes | grep -q '\"Status\":\"ready\"'" || {
                fail "agent registers"
                return 1
        }
}

# start_agent NODE_NAME [ARG...]: launch_agent, then wait_ready.
start_agent() {
        launch_agent "$@"
        wait_ready
}

# kill_agent: SIGKILL the agent launched last and reap it.
kill_agent() {
        kill -9 "$agent_pid" 2>/dev/null
        wait "$agent_pid" 2>/dev/null
}
alive() { kill -0 "$1" 2>/dev/null; }

# raw_job NAME SCRIPT [RESOURCES]: the HCL of a service job NAME of one group "g" with
# one raw_exec task "t" running /bin/sh -c SCRIPT (cpu 20, memory 16, then the lines
# RESOURCES inside its resources block).
raw_job() {
        cat <<EOF
job "$1" {
  group "g" {
    task "t" {
      driver = "raw_exec"
      config {
        command = "/bin/sh"
        args    = ["-c", "$2"]
      }
      resources {
        cpu    = 20
        memory = 16
${3:-}
      }
    }
  }
}
EOF
}

# run_job_until NAME FILE: job run $WORK/NAME.hcl, then wait (20 s) until FILE is not
# empty and an allocation of NAME runs.
run_job_until() {
        "$BIN/drover" job run -detach "$WORK/$1.hcl" >/dev/null &&
                wait_for 20 sh -c "[ -s $2 ] && curl -s $ADDR/v1/job/$1/allocations | grep -q '\"ClientStatus\":\"running\"'"
}

# stop_daemons: SIGTERM the agent and the server started above, SIGKILL after 0.5 s.
stop_daemons() {
        [ -n "${agent_pid:-}" ] && kill "$agent_pid" 2>/dev/null
        [ -n "${server_pid:-}" ] && kill "$server_pid" 2>/dev/null
        sleep 0.5
        [ -n "${agent_pid:-}" ] && kill -9 "$agent_pid" 2>/dev/null
        [ -n "${server_pid:-}" ] && kill -9 "$server_pid" 2>/dev/null
        wait 2>/dev/null
}

# setup_run BASE: the usual start of a single-server script: PORT from [BASE, BASE + 480)
# with PORT + 1 and PORT + 10 free, ADDR and DROVER_ADDR, the counters, and an EXIT trap
# that stops the daemons and removes WORK.
setup_run() {
        pick_port "${DROVER_TEST_PORT_BASE:-$1}" 480 1 10
        ADDR="http://127.0.0.1:$PORT"
        export DROVER_ADDR=$ADDR
        passed=0
        failed=0
        server_pid=""
        agent_pid=""
        trap 'stop_daemons; "$RM_WORK" "$WORK"' EXIT
}
