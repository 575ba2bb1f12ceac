#!/bin/bash
# bigjob.sh BIN_DIR - one batch job of BIGJOB_COUNT allocations (default 100,000) in ONE
# group, on a -dev server with BIGJOB_NODES fake nodes (default 100, registered through
# the API, large enough for all): issue #18's "a job's cost is linear in its size".
#
#   bigjob_register_s    the registration's HTTP answer (validation and Raft commit)
#   bigjob_placed_s      from the registration until the job summary shows every
#                        allocation placed (Starting = COUNT), polled every 100 ms
#   bigjob_leader_max_ms the slowest answer of /v1/status/leader during the placement
#                        (the server answers other requests meanwhile)
#   bigjob_server_hwm_kib the server's peak RSS (VmHWM) at the end
#
# Ports from BIGJOB_PORT_BASE (default 24700, +0..+99). Appends to bench/RESULTS.md
# unless BENCH_NO_RECORD=1.
set -u
BIN=$(cd "${1:-build/bin}" && pwd)
COUNT=${BIGJOB_COUNT:-100000}
NODES=${BIGJOB_NODES:-100}
WORK=$(mktemp -d /tmp/drover-bench-bigjob-XXXXXX)
sp=""
cleanup() {
        [ -n "$sp" ] && kill "$sp" 2>/dev/null && wait "$sp" 2>/dev/null
        rm -rf "$WORK"
}
trap cleanup EXIT
port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && [ -z "$(ss -Htan "sport = :$1" 2>/dev/null)" ]; }
P=""
for _ in $(seq 1 50); do
        p=$((${BIGJOB_PORT_BASE:-24700} + RANDOM % 98))
        port_free "$p" && port_free $((p + 1)) && { P=$p; break; }
done
[ -n "$P" ] || { echo "bigjob.sh: no free port" >&2; exit 1; }
A=http://127.0.0.1:$P
"$BIN/drover-server" -dev -data-dir "$WORK/d" -http-addr "127.0.0.1:$P" -raft-addr "127.0.0.1:$((P + 1))" \
        -heartbeat-ttl 1h -log-level warn >"$WORK/server.log" 2>&1 &
sp=$!
for _ in $(seq 1 100); do curl -s -m 1 "$A/v1/status/leader" | grep -q 127 && break; sleep 0.1; done
kill -0 "$sp" 2>/dev/null || { echo "bigjob.sh: the server did not start" >&2; cat "$WORK/server.log" >&2; exit 1; }
for n in $(seq 1 "$NODES"); do
        printf '{"Node":{"ID":"00000000-0000-4000-8000-%012d","SecretID":"s","Name":"bn-%d","Datacenter":"dc1","Status":"ready","NodeResources":{"Cpu":{"CpuShares":1000000},"Memory":{"MemoryMB":10000000},"Disk":{"DiskMB":100000000}},"Drivers":{"raw_exec":{"Detected":true,"Healthy":true}},"Attributes":{"driver.raw_exec":"1"}}}' "$n" "$n" |
                curl -sf -m 5 -o /dev/null -X PUT --data-binary @- "$A/v1/node/register" || { echo "bigjob.sh: node $n not registered" >&2; exit 1; }
done
printf '{"Job":{"ID":"big","Type":"batch","Datacenters":["dc1"],"TaskGroups":[{"Name":"g","Count":%d,"EphemeralDisk":{"SizeMB":1},"Tasks":[{"Name":"t","Driver":"raw_exec","Config":{"command":"/bin/true"},"Resources":{"CPU":1,"MemoryMB":10}}]}]}}' "$COUNT" >"$WORK/job.json"
t0=$EPOCHREALTIME
code=$(curl -s -m 60 -o "$WORK/reg.out" -w '%{http_code}' -X PUT --data-binary @"$WORK/job.json" "$A/v1/jobs")
[ "$code" = 200 ] || { echo "bigjob.sh: registration answered $code: $(cat "$WORK/reg.out")" >&2; exit 1; }
t1=$EPOCHREALTIME
leader_max=0
placed=""
deadline=$((SECONDS + ${BIGJOB_TIMEOUT:-120}))
while [ $SECONDS -lt $deadline ]; do
        s=$(curl -s -m 10 "$A/v1/job/big/summary")
        [[ $s =~ \"Starting\":([0-9]+) ]] && [ "${BASH_REMATCH[1]}" = "$COUNT" ] && { placed=$EPOCHREALTIME; break; }
        l0=$EPOCHREALTIME
        curl -s -m 10 -o /dev/null "$A/v1/status/leader"
        ms=$(echo "($EPOCHREALTIME - $l0) * 1000" | bc)
        leader_max=$(echo "if ($ms > $leader_max) $ms else $leader_max" | bc)
        sleep 0.1
done
[ -n "$placed" ] || { echo "bigjob.sh: not all $COUNT placed within the timeout: $s" >&2; exit 1; }
hwm=$(awk '/VmHWM/ {print $2}' "/proc/$sp/status")
header="$(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs, commit $(git -C "$(dirname "$0")" rev-parse --short HEAD 2>/dev/null || echo unknown), load average $(cut -d' ' -f1-3 /proc/loadavg)"
{
        printf 'bigjob_count=%d\nbigjob_register_s=%.3f\nbigjob_placed_s=%.3f\nbigjob_leader_max_ms=%.1f\nbigjob_server_hwm_kib=%d\n' \
                "$COUNT" "$(echo "$t1 - $t0" | bc)" "$(echo "$placed - $t0" | bc)" "$leader_max" "$hwm"
} >"$WORK/figures"
echo "== bench/bigjob: $header; one group of $COUNT on $NODES nodes"
cat "$WORK/figures"
if [ "${BENCH_NO_RECORD:-0}" != 1 ]; then
        { printf '\n### bigjob run: %s\n\n```\n' "$header"; cat "$WORK/figures"; printf '```\n'; } >>"$(dirname "$0")/RESULTS.md"
fi
