#!/bin/bash
# raft.sh BIN_DIR - placements committed through a 3-server loopback cluster (log on
# disk, libraft's fsync on): NODES fake nodes are registered, then JOBS batch jobs of
# COUNT allocations each are registered through random servers by CLIENTS concurrent
# clients; the figures are the placements committed per second (first registration to
# the last allocation in the state) and the p99 latency of a registration (HTTP request
# to its Raft commit, forwarding included).
# Prints name=value lines; appends them to bench/RESULTS.md (BENCH_NO_RECORD=1: print only).
set -u
BIN=$(cd "${1:-build/bin}" && pwd)
NODES=${NODES:-20}
JOBS=${JOBS:-200}
COUNT=${COUNT:-10}
CLIENTS=${CLIENTS:-16}
SCHEDULERS=${SCHEDULERS:-0} # scheduler workers per server (0: one per core)
WORK=$(mktemp -d /tmp/drover-bench-raft-XXXXXX)
port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
for _ in $(seq 1 50); do
        P=$((20000 + RANDOM % 12000))
        ok=1
        for k in 1 2 11 12 21 22; do port_free $((P + k)) || ok=0; done
        [ $ok = 1 ] && break
done
http() { echo "127.0.0.1:$((P + 1 + $1 * 10))"; }
JOIN="$(http 0),$(http 1),$(http 2)"
pids=()
cleanup() {
        for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done
        wait 2>/dev/null
        rm -rf "$WORK"
}
trap cleanup EXIT
for i in 0 1 2; do
        "$BIN/drover-server" -data-dir "$WORK/d$i" -http-addr "$(http $i)" -raft-addr "127.0.0.1:$((P + 2 + i * 10))" \
                -bootstrap-expect 3 -join "$JOIN" -heartbeat-ttl 1h -num-schedulers "$SCHEDULERS" -log-level warn >"$WORK/s$i.log" 2>&1 &
        pids+=($!)
done
for _ in $(seq 1 300); do
        l=$(curl -s -m 1 "http://$(http 0)/v1/status/leader")
        [ -n "$l" ] && [ "$l" != '""' ] && break
        sleep 0.1
done
for n in $(seq 1 "$NODES"); do
        id=$(printf '00000000-0000-4000-8000-%012d' "$n")
        printf '{"Node":{"ID":"%s","SecretID":"s","Name":"bench-%d","Datacenter":"dc1","Status":"ready","NodeResources":{"Cpu":{"CpuShares":1000000},"Memory":{"MemoryMB":10000000},"Disk":{"DiskMB":10000000}},"Drivers":{"raw_exec":{"Detected":true,"Healthy":true}}}}' "$id" "$n" |
                curl -s -o /dev/null -X PUT --data-binary @- "http://$(http $((n % 3)))/v1/node/register"
done
register() { # register N: one job through a random server; prints the request's time in ms
        local s=$((RANDOM % 3))
        printf '{"Job":{"ID":"bench-%d","Type":"batch","TaskGroups":[{"Name":"g","Count":%d,"Tasks":[{"Name":"t","Driver":"raw_exec","Config":{"command":"/bin/true"},"Resources":{"CPU":10,"MemoryMB":10}}]}]}}' "$1" "$COUNT" |
                curl -s -m 30 -o /dev/null -w '%{http_code} %{time_total}\n' -X PUT --data-binary @- \
                        "http://127.0.0.1:$((P + 1 + s * 10))/v1/jobs"
}
export -f register
export P COUNT
t0=$(date +%s%N)
seq 1 "$JOBS" | xargs -P "$CLIENTS" -I{} bash -c 'register {}' >"$WORK/lat"
want=$((JOBS * COUNT))
placed=0
for _ in $(seq 1 1200); do # 120 s at most
        placed=$(curl -s -m 10 "http://$(http 0)/v1/allocations" | grep -o '"DesiredStatus":"run"' | wc -l)
        [ "$placed" -ge "$want" ] && break
        sleep 0.1
done
t1=$(date +%s%N)
ok=$(grep -c '^2' "$WORK/lat")
rate=$(awk -v p="$placed" -v ns=$((t1 - t0)) 'BEGIN {print p / (ns / 1e9)}')
p99=$(awk '$1 ~ /^2/ {print $2 * 1000}' "$WORK/lat" | sort -n | awk '{a[NR]=$1} END {i=int(NR*0.99); if (i<1) i=1; print a[i]}')
header="$(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs, commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
echo "== bench/raft: $header; $NODES nodes, $JOBS jobs x $COUNT, $CLIENTS clients, 3 servers on loopback"
out=$(printf 'raft_jobs_acknowledged=%d\nraft_placements=%d\ncommitted_placements_per_sec=%.0f\ncommit_latency_p99_ms=%.1f\n' \
        "$ok" "$placed" "$rate" "$p99")
echo "$out"
if [ "${BENCH_NO_RECORD:-0}" != 1 ]; then
        results=$(cd "$(dirname "$0")" && pwd)/RESULTS.md
        printf '\n### raft run: %s\n\nNODES=%s JOBS=%s COUNT=%s CLIENTS=%s SCHEDULERS=%s\n\n```\n%s\n```\n' "$header" "$NODES" "$JOBS" \
                "$COUNT" "$CLIENTS" "$SCHEDULERS" "$out" >>"$results"
        echo "figures appended to $results"
fi
[ "$placed" -ge "$want" ]
