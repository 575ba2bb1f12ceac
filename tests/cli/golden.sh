#!/bin/bash
# CLI golden-output tests: a drover-server and a drover-agent (raw_exec) on
# loopback, a job run, then the table output of the common commands compared with
# tests/cli/golden/<name>.txt after normalising what changes from run to run
# (IDs, times, ages, ports, Raft indexes). A mismatch fails with a diff.
# DROVER_GOLDEN_UPDATE=1 rewrites the golden files instead (review the diff).
# Usage: tests/cli/golden.sh BIN_DIR. Ports from 25500-25999; every wait is
# bounded; every process started is stopped.
set -u
BIN=$(cd "${1:-build/bin}" && pwd)
HERE=$(cd "$(dirname "$0")" && pwd)
GOLDEN=$HERE/golden
WORK=$(mktemp -d /tmp/drover-golden-XXXXXX)
. "$HERE/../integration/lib.sh" # log, pass, fail, wait_for, api, api_code, jget, setup_run, start_server, start_agent
setup_run 25500
unset DROVER_TOKEN NOMAD_TOKEN NOMAD_ADDR
export TZ=UTC


# Same-length placeholders keep the tables' alignment checked; ages ("4s ago",
# "1m2s ago") differ in length, so the padding after one is squeezed to two spaces
# (and so is the padding of the Created header above a column of them);
# the leader's Last Index (1 or 2 digits, by how far the log got) is N and 11 spaces
# (N alone as the last column); the golden server's Raft port in server members (and
# in its port= tag) is PPPPP.
normalise() {
        sed -E \
                -e 's/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/UUUUUUUU-UUUU-UUUU-UUUU-UUUUUUUUUUUU/g' \
                -e 's/\b[0-9a-f]{8}\b/IIIIIIII/g' \
                -e 's/[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}[+-][0-9]{4}/YYYY-MM-DDThh:mm:ss+zzzz/g' \
                -e 's/[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?Z/YYYY-MM-DDThh:mm:ss.nZ/g' \
                -e 's/127\.0\.0\.1:[0-9]{5}/127.0.0.1:PPPPP/g' \
                -e 's/\b[0-9]+[dhms]([0-9]+[dhms])* ago( +|$)/<age>  /g' \
                -e 's/<age>  $/<age>/' \
                -e 's/ Created +Modified$/ Created  Modified/' \
                -e 's/^(Job Modify Index: )[0-9]+$/\1N/' \
                -e 's/(-check-index )[0-9]+/\1N/' \
                -e 's/^(Modify Index +=) [0-9]+$/\1 N/' \
                -e 's/(job modify index:? )[0-9]+/\1N/g' \
                -e 's/(\(leader\) +)[0-9]+ +/\1N           /' \
                -e 's/(\(leader\) +)[0-9]+$/\1N/' \
                -e 's/^(golden\.global +127\.0\.0\.1 +)[0-9]{5}/\1PPPPP/' \
                -e 's/([ ,]port=)[0-9]{5}([, ])/\1PPPPP\2/' \
                -e "s#$WORK#WORK#g"
}

# check NAME COMMAND...: run a drover command, normalise its output and exit code,
# compare with golden/NAME.txt.
check() {
        local name=$1 rc
        shift
        "$BIN/drover" "$@" >"$WORK/out.raw" 2>&1
        rc=$?
        { normalise <"$WORK/out.raw"; echo "exit $rc"; } >"$WORK/$name.txt"
        if [ "${DROVER_GOLDEN_UPDATE:-0}" = 1 ]; then
                cp "$WORK/$name.txt" "$GOLDEN/$name.txt"
                log "UPDATED: $name"
                return
        fi
        if [ ! -f "$GOLDEN/$name.txt" ]; then
                fail "golden $name: no tests/cli/golden/$name.txt (DROVER_GOLDEN_UPDATE=1 writes it)"
        elif diff -u "$GOLDEN/$name.txt" "$WORK/$name.txt" >"$WORK/diff"; then
                pass "golden $name (drover $*)"
        else
                cat "$WORK/diff"
                fail "golden $name (drover $*): output differs from tests/cli/golden/$name.txt"
        fi
}

# lib.sh's start_server, with the server named "golden" rather than after the
# host, so that `server members` reads the same on every machine.
"$BIN/drover-server" -dev -name golden -data-dir "$WORK/server" -http-addr "127.0.0.1:$PORT" \
        -raft-addr "127.0.0.1:$((PORT + 1))" >>"$WORK/server.log" 2>&1 &
server_pid=$!
wait_for 15 sh -c "curl -fs $ADDR/v1/status/leader | grep -q 127.0.0.1" || { fail "server starts"; exit 1; }
check node-status-empty node status
check job-status-empty job status
start_agent golden-node || exit 1

cat >"$WORK/web.hcl" <<'EOF'
job "web" {
  datacenters = ["dc1"]
  group "app" {
    count = 2
    update {
      max_parallel     = 1
      min_healthy_time = "1s"
      healthy_deadline = "1m"
    }
    task "server" {
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
EOF
check job-run-detach job run -detach "$WORK/web.hcl"
wait_for 60 sh -c "curl -s $ADDR/v1/deployments | grep -q '\"Status\":\"successful\"'" || fail "the deployment succeeds"
# Every evaluation (the registration's and the deployment watcher's) has finished.
wait_for 20 sh -c "curl -s $ADDR/v1/evaluations | python3 -c \"import json,sys; e=json.load(sys.stdin); sys.exit(0 if len(e)==2 and all(x['Status']=='complete' for x in e) else 1)\"" ||
        fail "two complete evaluations"
ALLOC=$(api "/v1/job/web/allocations" | jget "[a['ID'] for a in d if a['Name']=='web.app[0]'][0]")
EVAL=$(api "/v1/evaluations" | jget "[e['ID'] for e in d if e['TriggeredBy']=='job-register'][0]")
DEP=$(api "/v1/deployments" | jget "d[0]['ID']")

check job-status-list job status
check job-status job status web
check node-status node status
check alloc-status alloc status "${ALLOC:0:8}"
check eval-list eval list
check eval-status eval status "$EVAL"
check deployment-list deployment list
check deployment-status deployment status "${DEP:0:8}"
check job-history job history web
check job-plan-unchanged job plan "$WORK/web.hcl"
sed -i 's/count = 2/count = 3/' "$WORK/web.hcl"
check job-plan-count job plan "$WORK/web.hcl"
check server-members server members
check server-members-detailed server members -detailed
check server-members-bad-flag server members -verbose
# -json: the API's answer as it came.
if [ "$("$BIN/drover" server members -json | jget 'json.dumps(d, sort_keys=True)')" = \
        "$(api /v1/agent/members | jget 'json.dumps(d, sort_keys=True)')" ]; then
        pass "server members -json is /v1/agent/members"
else
        fail "server members -json is /v1/agent/members"
fi
check raft-peers operator raft list-peers
check status-prefix status web
check alloc-status-unknown alloc status ffffffff
check job-status-unknown job status nosuch
check job-run-missing-file job run "$WORK/none.hcl"

# The scheduler configuration, check-and-set included.
check sched-get operator scheduler get-config
check sched-set operator scheduler set-config -scheduler-algorithm=spread -preempt-batch-scheduler=true
check sched-get-changed operator scheduler get-config
check sched-set-stale operator scheduler set-config -check-index=1 -scheduler-algorithm=binpack
check sched-set-bad operator scheduler set-config -scheduler-algorithm=fastest
# Global flags: -region names the only region or fails; -self finds this host's node.
check region-other job status -region=elsewhere
check region-global job status -region=global web
# job run -check-index: 0 means "only a new job"; a stale index is refused.
check job-run-check-index-0 job run -detach -check-index 0 "$WORK/web.hcl"
check job-run-check-index-stale job run -detach -check-index 1 "$WORK/web.hcl"
JMI=$(api "/v1/job/web" | jget "d['JobModifyIndex']")
check job-run-check-index job run -detach -check-index "$JMI" "$WORK/web.hcl"
check node-status-self node status -self -t '{{.Name}} {{.Status}}'
check alloc-restart-usage alloc restart
check alloc-signal-unknown-task alloc signal -s SIGUSR1 "${ALLOC:0:8}" nosuch
# Flags before the command: -address, -region and -namespace in both forms (the address
# in the environment is wrong, so the answer shows the flag's was used); any other flag
# is refused with where it goes (Nomad takes none there).
DROVER_ADDR=http://127.0.0.1:1 check before-address-space -address "$ADDR" -region global node status -self -t "{{.Name}} {{.Status}}"
DROVER_ADDR=http://127.0.0.1:1 check before-address-equals -address="$ADDR" -namespace=default node status -self -t "{{.Name}} {{.Status}}"
check before-token -token x job status
check before-json -json job status
check before-unknown -verbose job status
check before-address-bare -address
# drover dev's flags through the daemons' flag table: both forms, bad values refused
# before anything starts (the good forms start a cluster: tests/cli/dev_config.sh)
check dev-port-bad dev -port=x
check dev-port-bad-space dev -port 26000x
check dev-port-range dev -port 65526
check dev-port-bare dev -port
check dev-unknown-flag dev -acl-enabled

# server members over a two-server cluster: each server is asked directly on its HTTP
# address, so a killed one is "failed" and the other "alive". Four ports of its own.
SAVED_PORT=$PORT
pick_port "${DROVER_TEST_PORT_BASE:-25500}" 480 1 2 3
CP=$PORT PORT=$SAVED_PORT
for i in 0 1; do
        "$BIN/drover-server" -name "c$i" -data-dir "$WORK/c$i" -http-addr "127.0.0.1:$((CP + 2 * i))" \
                -raft-addr "127.0.0.1:$((CP + 2 * i + 1))" -bootstrap-expect 2 \
                -join "127.0.0.1:$CP,127.0.0.1:$((CP + 2))" >>"$WORK/c$i.log" 2>&1 &
        cpid[i]=$!
done
C0=http://127.0.0.1:$CP
both_known() { [ "$(curl -s -m 2 "$C0/v1/operator/raft/configuration" | jget 'sum(1 for s in d["Servers"] if s["HTTPAddr"])')" = 2 ]; }
member_status() { "$BIN/drover" server members -address "$C0" | awk -v n="$1" '$1 == n { print $4 }'; }
# "name=status ..." of the members as the server itself answers them
api_status() { curl -s -m 2 "$C0/v1/agent/members" | jget "' '.join(m['Name'] + '=' + m['Status'] for m in sorted(d['Members'], key=lambda m: m['Name']))"; }
if wait_for 30 both_known && [ "$(member_status c0.global) $(member_status c1.global)" = "alive alive" ] &&
        [ "$(api_status)" = "c0.global=alive c1.global=alive" ]; then
        kill -9 "${cpid[1]}"
        wait "${cpid[1]}" 2>/dev/null
        if [ "$(member_status c0.global) $(member_status c1.global)" = "alive failed" ]; then
                pass "server members: a killed server is failed, the other alive"
                # the server's own answer says so too, once the dead one missed its
                # probes (every 5 s; failed after 15 s silent: controlplane/api/routes_agent.c)
                t0=$(date +%s) seen=
                while [ $(($(date +%s) - t0)) -lt 30 ]; do
                        seen=$(api_status)
                        [ "$seen" = "c0.global=alive c1.global=failed" ] && break
                        sleep 1
                done
                if [ "$seen" = "c0.global=alive c1.global=failed" ]; then
                        pass "/v1/agent/members: the killed server failed after $(($(date +%s) - t0)) s ($seen)"
                else
                        fail "/v1/agent/members: the killed server shown failed within 30 s (saw: $seen)"
                fi
        else
                "$BIN/drover" server members -address "$C0"
                fail "server members: a killed server is failed, the other alive"
        fi
else
        "$BIN/drover" server members -address "$C0"
        fail "server members: a two-server cluster, both alive"
fi
kill -9 "${cpid[@]}" 2>/dev/null
wait "${cpid[@]}" 2>/dev/null

log "cli golden: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
