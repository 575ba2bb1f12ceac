#!/bin/bash
# The CLI over the cluster tests/api/run.sh started: job scale, status, -json, -t,
# completion, -help on every command, and blocking queries over HTTP (one returns
# on a change, one times out at wait). Sourced by run.sh with BIN, ADDR and WORK
# set; sets cli_failed=1 when a check fails.
export DROVER_ADDR=$ADDR
D="$BIN/drover"
cli_failed=0

check() { # check NAME COMMAND...: passes when COMMAND succeeds
        local name=$1
        shift
        if "$@" >"$WORK/check.out" 2>&1; then
                echo "PASS: cli $name"
        else
                echo "FAIL: cli $name"
                sed 's/^/    /' "$WORK/check.out" | head -20
                cli_failed=1
        fi
}

# json_check EXPR: reads JSON on stdin, fails unless the Python expression on `d` is true
json_check() { python3 -c "import json,sys; d=json.load(sys.stdin); sys.exit(0 if ($1) else 1)"; }

cat >"$WORK/cli.hcl" <<'JOBFILE'
job "clijob" {
  group "web" {
    count = 1
    scaling {
      min = 1
      max = 4
    }
    task "t" {
      driver = "raw_exec"
      config {
        command = "/bin/sleep"
        args    = ["300"]
      }
      resources {
        cpu    = 50
        memory = 32
      }
    }
  }
}
JOBFILE

scale_desired() { "$D" job scale -json clijob | json_check "d['TaskGroups']['web']['Desired'] == $1"; }
status_t() { "$D" job status -t '{{range .}}{{.ID}}={{.Type}};{{end}}' | grep -q 'clijob=service;'; }
status_json_has_job() { "$D" status -json | json_check "any(j['ID'] == 'clijob' for j in d)"; }
bad_template() {
        local out
        out=$("$D" node status -t '{{.Name' 2>/dev/null) && return 1
        [ -z "$out" ]
}
filtered() {
        curl -fs -G "$ADDR/v1/jobs" --data-urlencode 'filter=ID == "clijob"' | json_check "len(d) == 1" &&
                curl -fs -G "$ADDR/v1/jobs" --data-urlencode 'filter=ID == "nope"' | json_check "d == []"
}
completes() {
        # shellcheck disable=SC1090
        source <("$D" completion bash) || return 1
        COMP_WORDS=(drover job sc)
        COMP_CWORD=2
        _drover
        [ "${COMPREPLY[*]}" = scale ]
}

check "job run -detach" "$D" job run -detach "$WORK/cli.hcl"
check "job scale (group implied) follows the evaluation" sh -c "'$D' job scale clijob 2 | grep -q 'finished with status'"
check "job scale -json prints the scale status (Desired 2)" scale_desired 2
check "job scale with a bad count exits 1" sh -c "! '$D' job scale clijob web -3"
check "job status -t ranges over the jobs" status_t
check "status <prefix> shows the job" sh -c "'$D' status clij | grep -q 'clijob'"
check "status with no match exits 1" sh -c "! '$D' status zzzz-no-such"
check "status -json with no argument is the job list" status_json_has_job
check "node status -t" sh -c "'$D' node status -t '{{range .}}{{.Name}} {{.Status}}{{end}}' | grep -q 'api-node ready'"
check "a bad template exits 1 and prints nothing on stdout" bad_template
check "scaling policies list the scaling block" \
        sh -c "curl -fs '$ADDR/v1/scaling/policies?job=clijob' | grep -q '\"Group\":\"web\"'"
check "a filtered job list" filtered
check "completion bash completes subcommands" completes
check "version -json" sh -c "'$D' version -json | grep -q '\"Version\"'"
# -help on every command: each group's subcommands as its own -help lists them
helped=0
for group in job node alloc eval deployment server "operator raft" "operator snapshot" "operator scheduler" \
        "acl policy" "acl role" "acl token"; do
        # shellcheck disable=SC2086
        subs=$("$D" $group -help | awk '/^Subcommands:/{on=1; next} on && NF {print $1}')
        [ -n "$subs" ] || check "$group -help lists its subcommands" false
        for sub in $subs; do
                # shellcheck disable=SC2086
                "$D" $group "$sub" -help 2>&1 | grep -q '^Usage: drover' || check "$group $sub -help exits 0 with a usage" false
                helped=$((helped + 1))
        done
done
for cmd in status version completion dev agent-info "acl bootstrap"; do
        # shellcheck disable=SC2086
        check "$cmd -help exits 0 with a usage" sh -c "'$D' $cmd -help | grep -q '^Usage: drover'"
done
check "-help on each of $helped subcommands exits 0 with a usage" test "$helped" -ge 40
check "NOMAD_ADDR when DROVER_ADDR is unset" sh -c "DROVER_ADDR= NOMAD_ADDR='$ADDR' '$D' status clij | grep -q clijob"
check "DROVER_ADDR wins over NOMAD_ADDR" sh -c "NOMAD_ADDR=http://127.0.0.1:1 '$D' status clij | grep -q clijob"
check "deployment list -json is the list" sh -c "'$D' deployment list -json | python3 -c 'import json,sys; assert isinstance(json.load(sys.stdin), list)'"
check "deployment list -t" sh -c "'$D' deployment list -t '{{range .}}{{.JobID}} {{end}}' | grep -q conformance-deploy"
check "deployment status with an unknown flag exits 1" sh -c "! '$D' deployment status -nosuch x"

# Blocking queries: at the list's own index, one times out at wait=1s; another
# returns when a scale changes the jobs table. Ratios only, no absolute bounds
# beyond the wait itself.
idx=$(curl -fs -D - -o /dev/null "$ADDR/v1/jobs" | tr -d '\r' | awk -F': ' 'tolower($1)=="x-nomad-index"{print $2}')
t0=$(date +%s%N)
curl -fs "$ADDR/v1/jobs?index=$idx&wait=1s" >/dev/null
t1=$(date +%s%N)
(
        sleep 0.5
        "$D" job scale -detach clijob web 1 >/dev/null
) &
scaler=$!
curl -fs "$ADDR/v1/jobs?index=$idx&wait=30s" >/dev/null
t2=$(date +%s%N)
wait "$scaler"
timeout_ms=$(((t1 - t0) / 1000000))
change_ms=$(((t2 - t1) / 1000000))
if [ -n "$idx" ] && [ "$timeout_ms" -ge 900 ] && [ "$change_ms" -lt 20000 ]; then
        echo "PASS: cli blocking query times out at wait (${timeout_ms} ms for 1s) and returns on a change (${change_ms} ms, wait 30s)"
else
        echo "FAIL: cli blocking query (index '$idx'): timeout ${timeout_ms} ms (want >= 900), change ${change_ms} ms (want < 20000 of 30000)"
        cli_failed=1
fi
