#!/bin/bash
# Task lifecycle hooks on loopback: a real drover-server and drover-agent (raw_exec).
# A batch job whose prestart task writes a file into the shared alloc/ directory that
# the main task reads, a prestart sidecar stopped once the main task is done, a
# poststart task started once the main task runs, and a poststop task that runs after
# it; each task appends "<name> <event> <time>" to a file, and the order is checked
# from those times. Then: a failing prestart fails the allocation without starting
# the main task, `alloc restart -all-tasks` runs a completed prestart task again
# before the main task, and a job with an unknown hook or a group without a main task
# is refused with a 400 naming it.
# Usage: tests/integration/lifecycle.sh BIN_DIR. Ports from 26000-26499; every wait is
# bounded; every process started is stopped.
set -u
BIN=$(cd "${1:-build/bin}" && pwd)
WORK=$(mktemp -d /tmp/drover-lifecycle-XXXXXX)
. "$(dirname "$0")/lib.sh" # log, pass, fail, wait_for, api, api_code, jget, setup_run, start_server, start_agent
setup_run 26000

start_server || exit 1
start_agent lifecycle-node || exit 1

# task NAME HOOK SIDECAR SCRIPT: a raw_exec task (HOOK "": a main task).
task() {
        local lc=""
        [ -n "$2" ] && lc="lifecycle {
        hook    = \"$2\"
        sidecar = $3
      }"
        cat <<EOF
    task "$1" {
      driver = "raw_exec"
      $lc
      config {
        command = "/bin/sh"
        args    = ["-c", "$4"]
      }
      resources {
        cpu    = 20
        memory = 16
      }
    }
EOF
}
# note NAME WHAT: the shell that appends "NAME WHAT <time>" to $WORK/times.
note() { printf 'echo %s %s $(date +%%s.%%N) >>%s/times' "$1" "$2" "$WORK"; }

job() { # job NAME GROUP_BODY
        cat <<EOF
job "$1" {
  type = "batch"
  group "g" {
    restart {
      attempts = 0
      mode     = "fail"
    }
$2
  }
}
EOF
}

job order "$(task init prestart false "$(note init start); sleep 0.3; echo from-init >\$NOMAD_ALLOC_DIR/handoff; $(note init end)")
$(task proxy prestart true "$(note proxy start); exec sleep 60")
$(task main "" false "$(note main start); cat \$NOMAD_ALLOC_DIR/handoff >$WORK/main-read || exit 7; sleep 0.5; $(note main end)")
$(task after poststart false "$(note after start)")
$(task cleanup poststop false "$(note cleanup start); sleep 0.3; $(note cleanup end)")" >"$WORK/order.hcl"

"$BIN/drover" job run -detach "$WORK/order.hcl" >"$WORK/run.out" 2>&1 || { cat "$WORK/run.out"; fail "job run order"; }
alloc_of() { api "/v1/job/$1/allocations" | jget "d[0]['ID'] if d else ''"; }
status_of() { api "/v1/allocation/$1" | jget "d['ClientStatus']"; }
wait_for 20 sh -c "curl -s $ADDR/v1/job/order/allocations | grep -q '\"ID\"'"
A=$(alloc_of order)
if wait_for 30 sh -c "curl -s $ADDR/v1/allocation/$A | grep -q '\"ClientStatus\":\"complete\"'"; then
        pass "the batch allocation with a sidecar completes ($(wc -l <"$WORK/times") notes)"
else
        fail "order: the allocation completes (status $(status_of "$A"); notes: $(cat "$WORK/times" 2>/dev/null | tr '\n' ';'))"
fi
[ "$(cat "$WORK/main-read" 2>/dev/null)" = from-init ] && pass "main read the file init wrote into alloc/" ||
        fail "main read init's file (got '$(cat "$WORK/main-read" 2>/dev/null)')"
# t NAME WHAT: the time noted, or empty.
t() { awk -v n="$1" -v w="$2" '$1 == n && $2 == w { print $3; exit }' "$WORK/times"; }
before() { [ -n "$1" ] && [ -n "$2" ] && awk -v a="$1" -v b="$2" 'BEGIN { exit !(a <= b) }'; }
before "$(t init end)" "$(t main start)" && pass "prestart init ended ($(t init end)) before main started ($(t main start))" ||
        fail "prestart before main: init end $(t init end), main start $(t main start)"
before "$(t proxy start)" "$(t main start)" && pass "the prestart sidecar started before main" ||
        fail "sidecar before main: proxy $(t proxy start), main $(t main start)"
# "Running" is the agent's word (the process is there), not the script's first line: the
# poststart task's Started event comes after main's.
started() { api "/v1/allocation/$A" | jget "[e['Time'] for e in d['TaskStates']['$1']['Events'] if e['Type']=='Started'][0]"; }
ms=$(started main)
as=$(started after)
before "$ms" "$as" && pass "poststart after started after main (Started at $as >= $ms ns)" ||
        fail "poststart after main: main Started $ms, after Started $as"
before "$(t main end)" "$(t cleanup start)" && pass "poststop cleanup started after main ended ($(t cleanup start))" ||
        fail "poststop after main: main end $(t main end), cleanup $(t cleanup start)"
[ -n "$(t cleanup end)" ] && pass "the allocation completed after poststop ended" || fail "poststop ran to its end"
events=$(api "/v1/allocation/$A" | jget "','.join(e['Type'] for e in d['TaskStates']['proxy']['Events'])")
[[ "$events" == *"Started,Killing"*"Killed"* ]] && pass "the sidecar was killed once main was done: $events" ||
        fail "sidecar events (got $events)"
for n in init main after cleanup; do
        [ "$(api "/v1/allocation/$A" | jget "(d['TaskStates']['$n']['State'], d['TaskStates']['$n']['Failed'])")" = "('dead', False)" ] ||
                fail "task $n dead and not failed"
done

# --- a failing prestart: the allocation fails, main never starts ---------------------------
job broken "$(task init prestart false "exit 3")
$(task main "" false "$(note broken-main start)")" >"$WORK/broken.hcl"
"$BIN/drover" job run -detach "$WORK/broken.hcl" >"$WORK/run.out" 2>&1 || { cat "$WORK/run.out"; fail "job run broken"; }
wait_for 20 sh -c "curl -s $ADDR/v1/job/broken/allocations | grep -q '\"ID\"'"
B=$(alloc_of broken)
if wait_for 30 sh -c "curl -s $ADDR/v1/allocation/$B | grep -q '\"ClientStatus\":\"failed\"'" &&
        [ -z "$(t broken-main start)" ] &&
        [ "$(api "/v1/allocation/$B" | jget "[e['Type'] for e in d['TaskStates']['main']['Events'] if e['Type']=='Started']")" = "[]" ]; then
        pass "a prestart that exits 3 fails the allocation; main never started"
else
        fail "failing prestart (status $(status_of "$B"))"
fi

# --- alloc restart -all-tasks: the completed prestart task runs again, before main ------------
cat >"$WORK/again.hcl" <<EOF
job "again" {
  type = "service"
  group "g" {
$(task init prestart false "echo ran >>$WORK/inits")
$(task main "" false "echo ran >>$WORK/mains; exec sleep 60")
  }
}
EOF
"$BIN/drover" job run -detach "$WORK/again.hcl" >"$WORK/run.out" 2>&1 || { cat "$WORK/run.out"; fail "job run again"; }
wait_for 20 sh -c "curl -s $ADDR/v1/job/again/allocations | grep -q '\"ID\"'"
R=$(alloc_of again)
lines() { cat "$1" 2>/dev/null | wc -l; }
wait_for 30 sh -c "[ \$(cat $WORK/mains 2>/dev/null | wc -l) -ge 1 ] && curl -s $ADDR/v1/allocation/$R | grep -q '\"ClientStatus\":\"running\"'"
"$BIN/drover" alloc restart -all-tasks "$R" >"$WORK/restart.out" 2>&1 || fail "alloc restart -all-tasks: $(cat "$WORK/restart.out")"
# The second main and the init's restart count reach the server in the agent's next
# status update, which may come after main has written its line: wait for all three.
restarted_all() {
        [ "$(lines "$WORK/mains")" -ge 2 ] && [ "$(lines "$WORK/inits")" = 2 ] &&
                [ "$(api "/v1/allocation/$R" | jget "d['TaskStates']['init']['Restarts']")" = 1 ]
}
if wait_for 30 restarted_all; then
        pass "alloc restart -all-tasks ran the completed prestart task again, then main ($(lines "$WORK/inits") inits, $(lines "$WORK/mains") mains)"
else
        fail "alloc restart -all-tasks (inits $(lines "$WORK/inits"), mains $(lines "$WORK/mains"), status $(status_of "$R"), init restarts $(api "/v1/allocation/$R" | jget "d['TaskStates']['init']['Restarts']"))"
fi
"$BIN/drover" job stop -detach again >/dev/null 2>&1

# --- an unknown hook: refused at registration ---------------------------------------------
cat >"$WORK/bad.json" <<'EOF'
{"Job": {"ID": "bad", "Type": "batch", "Datacenters": ["dc1"], "TaskGroups": [{"Name": "g", "Tasks": [
  {"Name": "m", "Driver": "raw_exec", "Config": {"command": "/bin/true"}},
  {"Name": "t", "Driver": "raw_exec", "Config": {"command": "/bin/true"}, "Lifecycle": {"Hook": "prestrat"}}]}]}}
EOF
code=$(api_code PUT /v1/jobs "$WORK/bad.json")
[ "$code" = 400 ] && grep -q 'Tasks\[1\].Lifecycle.Hook' "$WORK/body" && grep -q prestrat "$WORK/body" &&
        pass "an unknown hook: 400 naming the path ($(cat "$WORK/body"))" || fail "unknown hook (got $code $(cat "$WORK/body"))"

# --- a group of lifecycle tasks only: refused at registration, naming the group -------------
cat >"$WORK/nomain.json" <<'EOF'
{"Job": {"ID": "nomain", "Type": "batch", "Datacenters": ["dc1"], "TaskGroups": [{"Name": "helpers", "Tasks": [
  {"Name": "init", "Driver": "raw_exec", "Config": {"command": "/bin/true"}, "Lifecycle": {"Hook": "prestart"}},
  {"Name": "proxy", "Driver": "raw_exec", "Config": {"command": "/bin/true"}, "Lifecycle": {"Hook": "prestart", "Sidecar": true}}]}]}}
EOF
code=$(api_code PUT /v1/jobs "$WORK/nomain.json")
[ "$code" = 400 ] && grep -q 'group "helpers": needs a main task' "$WORK/body" &&
        pass "a group of lifecycle tasks only: 400 naming it ($(cat "$WORK/body"))" || fail "no main task (got $code $(cat "$WORK/body"))"

log "lifecycle: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
