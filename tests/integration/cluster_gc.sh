#!/bin/bash
# cluster_gc.sh BIN_DIR - issue #17's GC test at its size, run separately (it does not
# fit the integration tier's time on a 2-core machine; cluster.sh runs the same check
# with CLUSTER_GC_JOBS=200): 3 servers on 127.0.0.1 (default snapshot threshold), 3
# fake nodes; GC_JOBS (default 10,000) short batch jobs registered 16 at a time and
# completed by the fake nodes through the API (tests/integration/cluster_gc.py); then
# PUT /v1/system/gc. Passes when, on every server, the counts of jobs, allocations and
# evaluations are back to their starting values (+10 evaluations) and the snapshot
# (drover operator snapshot save) is back within 20% + 4 KiB of its starting size.
# Prints the leader's GC commands (how many, the longest apply: each holds every
# server's loop) and the loop stalls and elections logged. GC_PERF=FILE: perf record -g
# of the leader during the GC. Ports: GC_PORT_BASE, else DROVER_TEST_PORT_BASE (default
# 23500). Bounded: GC_TIMEOUT (default 1800 s) for the run, 120 s for the GC.
set -u
RM_WORK=$(cd "$(dirname "${BASH_SOURCE[0]}")/../support" && pwd)/rm_work.sh # rm -rf that first detaches mounts
BIN=$(cd "${1:-build/bin}" && pwd)
N=${GC_JOBS:-10000}
WORK=$(mktemp -d /tmp/drover-cluster-gc-XXXXXX)
. "$(dirname "$0")/../support/ports.sh" # port_free, pick_port, pick_servers
pick_servers "${GC_PORT_BASE:-${DROVER_TEST_PORT_BASE:-23500}}" 400 3 # P, http, raft, JOIN
pids=()
cleanup() {
        for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done
        wait 2>/dev/null
        "$RM_WORK" "$WORK"
}
trap cleanup EXIT
for i in 0 1 2; do
        "$BIN/drover-server" -data-dir "$WORK/d$i" -http-addr "$(http $i)" -raft-addr "$(raft $i)" \
                -bootstrap-expect 3 -join "$JOIN" -num-schedulers 1 >"$WORK/s$i.log" 2>&1 &
        pids+=($!)
done
leader=""
for _ in $(seq 1 300); do
        leader=$(curl -s -m 1 "http://$(http 0)/v1/status/leader" | tr -d '"')
        [ -n "$leader" ] && break
        sleep 0.1
done
L=""
for k in 0 1 2; do [ "$leader" = "$(raft $k)" ] && L=$k; done
[ -n "$L" ] || { echo "FAIL: cluster_gc: no leader"; exit 1; }
F=$(((L + 1) % 3))
NODES=""
for n in 1 2 3; do
        id=00000000-0000-4000-8000-00000000000$n
        NODES="$NODES${NODES:+,}$id"
        printf '{"Node":{"ID":"%s","SecretID":"s","Name":"gn-%d","Datacenter":"dc1","Status":"ready","NodeResources":{"Cpu":{"CpuShares":1000000},"Memory":{"MemoryMB":1000000},"Disk":{"DiskMB":1000000}},"Drivers":{"raw_exec":{"Detected":true,"Healthy":true}}}}' "$id" "$n" |
                curl -s -m 5 -o /dev/null -X PUT --data-binary @- "http://$(http "$L")/v1/node/register"
done
count() { curl -s -m 60 "http://$(http "$1")/v1/$2?stale" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))' 2>/dev/null; }
counts() { echo "$(count "$1" jobs) $(count "$1" allocations) $(count "$1" evaluations)"; }
snap_size() {
        "$BIN/drover" -address="http://$(http "$L")" operator snapshot save "$WORK/gc.snap" >/dev/null 2>&1 && stat -c %s "$WORK/gc.snap"
}
sleep 1
c0=$(counts "$L")
z0=$(snap_size)
la0=$(cut -d' ' -f1-3 /proc/loadavg)
t0=$SECONDS
python3 "$(dirname "$0")/cluster_gc.py" --server "$(http "$L")" --read-server "$(http "$F")" --jobs "$N" \
        --nodes "$NODES" --concurrency 16 --poll 2 --timeout "${GC_TIMEOUT:-1800}"
rc=$?
t_run=$((SECONDS - t0))
c1=$(counts "$L")
z1=$(snap_size)
t1=$SECONDS
perf_pid=""
if [ -n "${GC_PERF:-}" ]; then # GC_PERF=FILE: perf record -g of the leader during the GC
        perf record -g -o "$GC_PERF" -p "${pids[$L]}" >/dev/null 2>&1 &
        perf_pid=$!
        sleep 1
fi
gc_code=$(curl -s -m 120 -o "$WORK/gc.out" -w '%{http_code}' -X PUT "http://$(http "$L")/v1/system/gc")
back() {
        local i j a e
        for n in 1 2 3; do curl -s -m 2 -o /dev/null -X PUT -d '{"SecretID":"s"}' "http://$(http "$L")/v1/node/00000000-0000-4000-8000-00000000000$n/heartbeat"; done
        for i in 0 1 2; do
                read -r j a e <<<"$(counts $i)"
                set -- $c0
                [ -n "$j" ] && [ -n "$a" ] && [ -n "$e" ] && [ "$j" -le "$1" ] && [ "$a" -le "$2" ] && [ "$e" -le $(($3 + 10)) ] || return 1
        done
}
ok=0
for _ in $(seq 1 60); do back && ok=1 && break; sleep 1; done
t_gc=$((SECONDS - t1))
[ -n "$perf_pid" ] && kill -INT "$perf_pid" && wait "$perf_pid"
c2=$(counts "$L")
z2=$(snap_size)
echo "cluster_gc: $N jobs; load average $la0 -> $(cut -d' ' -f1-3 /proc/loadavg); run ${t_run} s, GC ${t_gc} s (PUT /v1/system/gc: $gc_code)"
gc_applies=$(grep -h "gc: applied" "$WORK/s$L.log" | sed -n 's/.* in \([0-9.]*\) ms$/\1/p' | sort -n)
gc_cpu=$(grep -h "gc: applied" "$WORK/s$L.log" | sed -n 's/.*(\([0-9.]*\) ms of CPU).*/\1/p' | sort -n)
echo "cluster_gc: leader: $(echo "$gc_applies" | grep -c .) GC command(s) applied, the longest in $(echo "$gc_applies" | tail -n 1) ms (wall), $(echo "$gc_cpu" | tail -n 1) ms (CPU); loop stalls over 1 s logged: $(cat "$WORK"/s?.log | grep -c "loop stalled"); leader elections: $(cat "$WORK"/s?.log | grep -c "this server is now the leader")"
echo "cluster_gc: jobs allocations evaluations: '$c0' at the start, '$c1' before GC, '$c2' after; snapshot $z0 -> $z1 -> $z2 bytes"
if [ $rc = 0 ] && [ $ok = 1 ] && [ "$gc_code" = 200 ] && [ -n "$z2" ] && [ "$z2" -le $((z0 + z0 / 5 + 4096)) ]; then
        echo "PASS: cluster_gc: $N short batch jobs ran and stopped; after GC every server's counts and the snapshot size are back near their starting values"
else
        echo "FAIL: cluster_gc (GC answer: $(head -c 300 "$WORK/gc.out"))"
        for i in 0 1 2; do echo "--- server $i"; grep -i 'gc\|error\|warn' "$WORK/s$i.log" | tail -n 8; done
        exit 1
fi
