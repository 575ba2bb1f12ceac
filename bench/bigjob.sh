#!/bin/bash
# bigjob.sh BIN_DIR - issue #18's "a job's cost is linear in its size", in two runs, each
# on a fresh -dev server with BIGJOB_NODES fake nodes (default 100, registered through
# the API, large enough for all):
#   one group:   one batch job of BIGJOB_COUNT allocations (default 100,000) in ONE group;
#   many groups: one batch job of BIGJOB_GROUPS groups (default 1,000) of
#                BIGJOB_GROUP_COUNT allocations each (default 100); its lines carry the
#                suffix _groups (bigjob_placed_s_groups=...).
# BIGJOB_RUNS picks them ("one groups", the default; "one" or "groups" alone).
#
#   bigjob_count           allocations of the job
#   bigjob_register_s      the registration's HTTP answer (validation and Raft commit)
#   bigjob_placed_s        from the registration until the job summary shows every
#                          allocation placed (Starting = the count, summed over groups),
#                          polled every 100 ms
#   bigjob_leader_max_ms   the slowest answer of /v1/status/leader during the placement
#                          (the server answers other requests meanwhile)
#   bigjob_server_hwm_kib  the server's peak RSS (VmHWM) at the end
#   bigjob_server_cpu_s    the server's CPU (user + sys) from its start to the end,
#                          summary polls included
#   bigjob_summary_cpu_ms  the server's CPU per GET /v1/job/:id/summary once placed
#                          (the mean of 5; the host is shared, so CPU, not wall time)
#   bigjob_jobs_list_cpu_ms the server's CPU per GET /v1/jobs (every job's summary), mean of 3
#
# Ports from BIGJOB_PORT_BASE (default 24700, +0..+99). Appends to bench/RESULTS.md
# unless BENCH_NO_RECORD=1.
set -u
BIN=$(cd "${1:-build/bin}" && pwd)
COUNT=${BIGJOB_COUNT:-100000}
GROUPS_N=${BIGJOB_GROUPS:-1000}
GROUP_COUNT=${BIGJOB_GROUP_COUNT:-100}
NODES=${BIGJOB_NODES:-100}
WORK=$(mktemp -d /tmp/drover-bench-bigjob-XXXXXX)
TCK=$(getconf CLK_TCK)
sp=""
stop_server() {
        [ -n "$sp" ] && kill "$sp" 2>/dev/null && wait "$sp" 2>/dev/null
        sp=""
}
cleanup() {
        stop_server
        rm -rf "$WORK"
}
trap cleanup EXIT
. "$(dirname "${BASH_SOURCE[0]}")/../tests/support/ports.sh" # port_free, pick_port
# The server's CPU so far (user + sys), in ms.
server_cpu_ms() { awk -v t="$TCK" '{print int(($14 + $15) * 1000 / t)}' "/proc/$sp/stat"; }

# start_server: a fresh -dev server on a free port (sets A, sp) with NODES fake nodes.
start_server() {
        local P n PORT
        pick_port "${BIGJOB_PORT_BASE:-24700}" 98 1 || { echo "bigjob.sh: no free port" >&2; exit 1; }
        P=$PORT
        A=http://127.0.0.1:$P
        rm -rf "$WORK/d"
        "$BIN/drover-server" -dev -data-dir "$WORK/d" -http-addr "127.0.0.1:$P" -raft-addr "127.0.0.1:$((P + 1))" \
                -heartbeat-ttl 1h -log-level warn >"$WORK/server.log" 2>&1 &
        sp=$!
        for _ in $(seq 1 100); do curl -s -m 1 "$A/v1/status/leader" | grep -q 127 && break; sleep 0.1; done
        kill -0 "$sp" 2>/dev/null || { echo "bigjob.sh: the server did not start" >&2; cat "$WORK/server.log" >&2; exit 1; }
        for n in $(seq 1 "$NODES"); do
                printf '{"Node":{"ID":"00000000-0000-4000-8000-%012d","SecretID":"s","Name":"bn-%d","Datacenter":"dc1","Status":"ready","NodeResources":{"Cpu":{"CpuShares":1000000},"Memory":{"MemoryMB":10000000},"Disk":{"DiskMB":100000000}},"Drivers":{"raw_exec":{"Detected":true,"Healthy":true}},"Attributes":{"driver.raw_exec":"1"}}}' "$n" "$n" |
                        curl -sf -m 5 -o /dev/null -X PUT --data-binary @- "$A/v1/node/register" || { echo "bigjob.sh: node $n not registered" >&2; exit 1; }
        done
}

# job_json GROUPS PER_GROUP: the batch job "big" of GROUPS groups of PER_GROUP each.
job_json() {
        python3 - "$1" "$2" <<'PY'
import json, sys
groups, per = int(sys.argv[1]), int(sys.argv[2])
task = {"Name": "t", "Driver": "raw_exec", "Config": {"command": "/bin/true"}, "Resources": {"CPU": 1, "MemoryMB": 10}}
name = lambda g: "g" if groups == 1 else "g%d" % g
tgs = [{"Name": name(g), "Count": per, "EphemeralDisk": {"SizeMB": 1}, "Tasks": [task]} for g in range(groups)]
print(json.dumps({"Job": {"ID": "big", "Type": "batch", "Datacenters": ["dc1"], "TaskGroups": tgs}}))
PY
}

# run_case GROUPS PER_GROUP SUFFIX: one run; its figures, names + SUFFIX, go to $WORK/figures.
run_case() {
        local groups=$1 per=$2 sfx=$3 total=$(($1 * $2)) t0 t1 code s placed leader_max l0 ms hwm cpu0 cpu1 i
        start_server
        job_json "$groups" "$per" >"$WORK/job.json"
        t0=$EPOCHREALTIME
        code=$(curl -s -m 120 -o "$WORK/reg.out" -w '%{http_code}' -X PUT --data-binary @"$WORK/job.json" "$A/v1/jobs")
        [ "$code" = 200 ] || { echo "bigjob.sh: registration answered $code: $(head -c 300 "$WORK/reg.out")" >&2; exit 1; }
        t1=$EPOCHREALTIME
        leader_max=0
        placed=""
        local deadline=$((SECONDS + ${BIGJOB_TIMEOUT:-180}))
        while [ $SECONDS -lt $deadline ]; do
                s=$(curl -s -m 30 "$A/v1/job/big/summary" | python3 -c "import json,sys; print(sum(g['Starting'] for g in json.load(sys.stdin)['Summary'].values()))" 2>/dev/null)
                [ "$s" = "$total" ] && { placed=$EPOCHREALTIME; break; }
                l0=$EPOCHREALTIME
                curl -s -m 30 -o /dev/null "$A/v1/status/leader"
                ms=$(echo "($EPOCHREALTIME - $l0) * 1000" | bc)
                leader_max=$(echo "if ($ms > $leader_max) $ms else $leader_max" | bc)
                sleep 0.1
        done
        [ -n "$placed" ] || { echo "bigjob.sh: not all $total placed within the timeout: $s" >&2; exit 1; }
        cpu0=$(server_cpu_ms)
        for i in 1 2 3 4 5; do curl -s -m 60 -o /dev/null "$A/v1/job/big/summary"; done
        cpu1=$(server_cpu_ms)
        local summary_ms=$(((cpu1 - cpu0) / 5))
        cpu0=$(server_cpu_ms)
        for i in 1 2 3; do curl -s -m 60 -o /dev/null "$A/v1/jobs"; done
        cpu1=$(server_cpu_ms)
        local list_ms=$(((cpu1 - cpu0) / 3))
        hwm=$(awk '/VmHWM/ {print $2}' "/proc/$sp/status")
        printf 'bigjob_count%s=%d\nbigjob_register_s%s=%.3f\nbigjob_placed_s%s=%.3f\nbigjob_leader_max_ms%s=%.1f\nbigjob_server_hwm_kib%s=%d\nbigjob_server_cpu_s%s=%.2f\nbigjob_summary_cpu_ms%s=%d\nbigjob_jobs_list_cpu_ms%s=%d\n' \
                "$sfx" "$total" "$sfx" "$(echo "$t1 - $t0" | bc)" "$sfx" "$(echo "$placed - $t0" | bc)" \
                "$sfx" "$leader_max" "$sfx" "$hwm" "$sfx" "$(echo "$(server_cpu_ms) / 1000" | bc -l)" \
                "$sfx" "$summary_ms" "$sfx" "$list_ms" >>"$WORK/figures"
        stop_server
}

: >"$WORK/figures"
what=""
for r in ${BIGJOB_RUNS:-one groups}; do
        case $r in
        one) run_case 1 "$COUNT" "" && what="$what; one group of $COUNT" ;;
        groups) run_case "$GROUPS_N" "$GROUP_COUNT" _groups && what="$what; $GROUPS_N groups of $GROUP_COUNT" ;;
        *) echo "bigjob.sh: BIGJOB_RUNS: unknown run '$r' (one, groups)" >&2; exit 2 ;;
        esac
done
header="$(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs, commit $(git -C "$(dirname "$0")" rev-parse --short HEAD 2>/dev/null || echo unknown), load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== bench/bigjob: $header$what on $NODES nodes"
cat "$WORK/figures"
if [ "${BENCH_NO_RECORD:-0}" != 1 ]; then
        { printf '\n### bigjob run: %s%s\n\n```\n' "$header" "$what"; cat "$WORK/figures"; printf '```\n'; } >>"$(dirname "$0")/RESULTS.md"
fi
