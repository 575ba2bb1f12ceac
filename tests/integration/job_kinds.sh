#!/bin/bash
# Job versions, periodic and parameterized jobs on loopback: a real drover-server
# and drover-agent (raw_exec). Usage: tests/integration/job_kinds.sh BIN_DIR
# Ports from 28000-28499 (below the ephemeral range, 32768-, so no outgoing connection holds them when the server restarts); every wait is bounded; every process started is stopped.
set -u
BIN=$(cd "${1:-build/bin}" && pwd)
WORK=$(mktemp -d /tmp/drover-kinds-XXXXXX)
. "$(dirname "$0")/lib.sh" # log, pass, fail, wait_for, api, api_code, jget, setup_run, start_server, start_agent
setup_run 28000

start_server || exit 1
start_agent kinds-node || exit 1

# --- versions: history and revert ---------------------------------------------------
versioned() { # versioned COUNT
        cat >"$WORK/v.hcl" <<EOF
job "ver" {
  type = "batch"
  group "g" {
    count = $1
    task "t" {
      driver = "raw_exec"
      config { command = "/bin/true" }
      resources { cpu = 20
        memory = 16 }
    }
  }
}
EOF
        "$BIN/drover" job run -detach "$WORK/v.hcl" >/dev/null
}
versioned 1 && versioned 2
"$BIN/drover" job history ver >"$WORK/history.out" 2>&1
if grep -q "^Version     = 1" "$WORK/history.out" && grep -q "^Version     = 0" "$WORK/history.out" &&
        grep -q "^Submit Date = " "$WORK/history.out"; then
        pass "job history lists versions 1 and 0"
else
        cat "$WORK/history.out"
        fail "job history lists versions 1 and 0"
fi
if "$BIN/drover" job revert -detach ver 0 >"$WORK/revert.out" 2>&1 &&
        wait_for 10 sh -c "curl -fs $ADDR/v1/job/ver | grep -q '\"Version\":2'" &&
        api /v1/job/ver | grep -q '"Count":1'; then
        pass "job revert ver 0 registers version 2 with version 0's count"
else
        cat "$WORK/revert.out"
        fail "job revert ver 0 registers version 2 with version 0's count"
fi
if ! "$BIN/drover" job revert -detach ver 2 >"$WORK/revert2.out" 2>&1 &&
        grep -q "can't revert to current version" "$WORK/revert2.out"; then
        pass "job revert to the current version is refused"
else
        cat "$WORK/revert2.out"
        fail "job revert to the current version is refused"
fi

# --- periodic: the cron launches children that run; force launches one -------------
cat >"$WORK/p.hcl" <<'EOF'
job "rep" {
  type = "batch"
  periodic {
    cron             = "* * * * * *"
    prohibit_overlap = true
  }
  group "g" {
    task "t" {
      driver = "raw_exec"
      config { command = "/bin/true" }
      resources { cpu = 20
        memory = 16 }
    }
  }
}
EOF
"$BIN/drover" job run -detach "$WORK/p.hcl" >"$WORK/p.out" 2>&1
child_done() { # a child of rep whose allocation completed
        for id in $(api "/v1/jobs?prefix=rep/periodic-" | grep -o '"ID":"rep/periodic-[0-9]*"' | cut -d'"' -f4); do
                api "/v1/job/$id/allocations" | grep -q '"ClientStatus":"complete"' && return 0
        done
        return 1
}
if wait_for 20 child_done && [ "$(api /v1/job/rep/allocations)" = "[]" ] &&
        api "/v1/jobs?prefix=rep/" | grep -q '"ParentID":"rep"'; then
        pass "periodic job (cron * * * * * *): a child rep/periodic-<t> ran to completion, the parent placed nothing"
else
        api "/v1/jobs?prefix=rep"
        fail "periodic job (cron * * * * * *): a child rep/periodic-<t> ran to completion, the parent placed nothing"
fi
"$BIN/drover" job stop -detach rep >/dev/null 2>&1
sleep 1.5
before=$(api "/v1/jobs?prefix=rep/periodic-" | grep -o '"ID":"rep/periodic-' | wc -l)
sleep 2
after=$(api "/v1/jobs?prefix=rep/periodic-" | grep -o '"ID":"rep/periodic-' | wc -l)
if [ "$before" = "$after" ]; then pass "a stopped periodic job launches nothing more ($after children)"; else
        fail "a stopped periodic job launches nothing more ($before then $after children)"
fi
sed -i 's|"\* \* \* \* \* \*"|"0 0 1 1 *"|' "$WORK/p.hcl" # yearly: only force launches now
"$BIN/drover" job run -detach "$WORK/p.hcl" >/dev/null 2>&1
n0=$(api "/v1/jobs?prefix=rep/periodic-" | grep -o '"ID":"rep/periodic-' | wc -l)
if "$BIN/drover" job periodic force rep >"$WORK/force.out" 2>&1 &&
        grep -q 'finished with status "complete"' "$WORK/force.out" &&
        [ "$(api "/v1/jobs?prefix=rep/periodic-" | grep -o '"ID":"rep/periodic-' | wc -l)" -gt "$n0" ]; then
        pass "job periodic force launches a child now and its evaluation completes"
else
        cat "$WORK/force.out"
        fail "job periodic force launches a child now and its evaluation completes"
fi

"$BIN/drover" job status rep >"$WORK/status.out" 2>&1
if grep -q "^Periodic *= true" "$WORK/status.out" && grep -q "^Next Periodic Launch = .*-01-01T00:00:00" "$WORK/status.out" &&
        grep -q "^Previously Launched Jobs" "$WORK/status.out" && grep -q "^rep/periodic-[0-9]* " "$WORK/status.out"; then
        pass "job status of a periodic job: next launch (yearly: January 1st), children summary and list"
else
        cat "$WORK/status.out"
        fail "job status of a periodic job: next launch (yearly: January 1st), children summary and list"
fi

# --- parameterized: dispatch with meta and a payload -------------------------------
cat >"$WORK/d.hcl" <<'EOF'
job "disp" {
  type = "batch"
  parameterized {
    payload       = "required"
    meta_required = ["who"]
  }
  group "g" {
    restart {
      attempts = 0
      mode     = "fail"
    }
    task "t" {
      driver = "raw_exec"
      config {
        command = "/bin/sh"
        args    = ["-c", "grep -q hello ${NOMAD_TASK_DIR}/in/payload.txt"]
      }
      dispatch_payload { file = "in/payload.txt" }
      resources { cpu = 20
        memory = 16 }
    }
  }
}
EOF
"$BIN/drover" job run -detach "$WORK/d.hcl" >/dev/null 2>&1
if [ "$(api /v1/job/disp/allocations)" = "[]" ] && api /v1/jobs | grep -q '"ParameterizedJob":true'; then
        pass "a parameterized job registers without allocations"
else
        fail "a parameterized job registers without allocations"
fi
echo "hello world" >"$WORK/payload.txt"
if ! "$BIN/drover" job dispatch disp "$WORK/payload.txt" >"$WORK/d1.out" 2>&1 &&
        grep -q "required meta keys: \[who\]" "$WORK/d1.out"; then
        pass "dispatch without a required meta key is refused"
else
        cat "$WORK/d1.out"
        fail "dispatch without a required meta key is refused"
fi
if ! "$BIN/drover" job dispatch -meta who=me -meta nope=1 disp "$WORK/payload.txt" >"$WORK/d2.out" 2>&1 &&
        grep -q "unpermitted metadata keys" "$WORK/d2.out"; then
        pass "dispatch with an unknown meta key is refused"
else
        cat "$WORK/d2.out"
        fail "dispatch with an unknown meta key is refused"
fi
if "$BIN/drover" job dispatch -meta who=me disp - <"$WORK/payload.txt" >"$WORK/d3.out" 2>&1 &&
        grep -q "^Dispatched Job ID = disp/dispatch-[0-9]*-[0-9a-f]\{8\}" "$WORK/d3.out" &&
        grep -q 'finished with status "complete"' "$WORK/d3.out"; then
        child=$(grep "^Dispatched Job ID" "$WORK/d3.out" | awk '{print $5}')
        if wait_for 15 sh -c "curl -fs '$ADDR/v1/job/$child/allocations' | grep -q '\"ClientStatus\":\"complete\"'" &&
                api "/v1/job/$child" | grep -q '"who":"me"'; then
                pass "dispatch runs a child whose task reads the payload from local/ (meta merged)"
        else
                api "/v1/job/$child/allocations"
                fail "dispatch runs a child whose task reads the payload from local/ (meta merged)"
        fi
else
        cat "$WORK/d3.out"
        fail "dispatch runs a child (Dispatched Job ID, evaluation complete)"
fi

# --- a new leader launches the missed runs of a periodic job once ---------------------
cat >"$WORK/c.hcl" <<'EOF'
job "catch" {
  type = "batch"
  periodic { cron = "*/20 * * * * *" }
  group "g" {
    task "t" {
      driver = "raw_exec"
      config { command = "/bin/true" }
      resources { cpu = 20
        memory = 16 }
    }
  }
}
EOF
"$BIN/drover" job run "$WORK/c.hcl" >"$WORK/c.out" 2>&1
if grep -q "^Job registration successful" "$WORK/c.out" &&
        grep -q "^Approximate next launch time: .*s from now)" "$WORK/c.out"; then
        pass "job run of a periodic job: registered, next launch time, no evaluation to monitor"
else
        cat "$WORK/c.out"
        fail "job run of a periodic job: registered, next launch time, no evaluation to monitor"
fi
# Down from just after a :00/:20/:40 launch time to past the next one (and up again
# before the one after).
past_a_launch() { [ $(($(date +%s) % 20)) -eq 1 ]; } # 1 s after :00, :20 or :40
wait_for 25 past_a_launch
kill "$server_pid"
wait "$server_pid" 2>/dev/null
sleep 21
"$BIN/drover-server" -dev -data-dir "$WORK/server" -http-addr "127.0.0.1:$PORT" \
        -raft-addr "127.0.0.1:$((PORT + 1))" >>"$WORK/server.log" 2>&1 &
server_pid=$!
catch_up() { # exactly one child launched off the 20 s grid: the catch-up
        [ "$(api "/v1/jobs?prefix=catch/periodic-" | grep -o '"ID":"catch/periodic-[0-9]*"' | cut -d- -f2 |
                tr -d '"' | awk '$1 % 20 != 0' | wc -l)" = 1 ]
}
if wait_for 15 catch_up && sleep 1 && catch_up &&
        grep -q "missed launches while there was no leader" "$WORK/server.log"; then
        pass "after 21 s without a leader the new leader launched the missed periodic run once"
else
        api "/v1/jobs?prefix=catch/"
        fail "after 21 s without a leader the new leader launched the missed periodic run once"
fi

log "$passed passed, $failed failed"
[ "$failed" = 0 ]
