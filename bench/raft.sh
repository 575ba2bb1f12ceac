#!/bin/bash
# raft.sh BIN_DIR - placements committed through a 3-server loopback cluster (log on
# disk, libraft's fsync on): bench/raft_load (one process, libcurl multi) registers
# NODES fake nodes, then JOBS batch jobs of COUNT allocations each through the servers
# in turn, CLIENTS requests in flight; the figures are the placements committed per
# second (first registration to the last allocation in the state) and the p50/p99
# latency of a registration (HTTP request to its Raft commit, forwarding included).
# servers_cpu_s is the three servers' CPU time (user + system) during the load, and
# servers_cpu_s_per_100k_placements the same per 100,000 placements (less sensitive to
# the host's load than the wall figures). servers_loops_cpu_ms and servers_loops_runq_wait_ms:
# the three event loops' CPU time and time runnable but waiting for a CPU during the load;
# servers_loops_wakeups, how many times they were put on a CPU; servers_threads_wakeups, the
# same for every thread of the servers (the loops, workers, pool, transport). PERF=FILE records perf -g on each server
# (FILE.0-2). LOG_LEVEL=debug logs each write's time waiting for the loop and handled,
# each Raft entry's parts, time queued, proposed to applied and apply time, a forwarded
# write's time waiting for a place, starting it on the loop and until the leader's answer
# is read (on a kept or a new connection), and the
# plan applier's time checking plans on libuv's pool (and queued there, and back to the loop);
# KEEP_LOGS=DIR keeps the servers' logs (s0-2.log) there. LATENCIES=FILE keeps each
# registration's latency there (raft_load --latencies: job, server, start ms, latency ms). Prints name=value lines;
# appends them to bench/RESULTS.md (BENCH_NO_RECORD=1: print only).
set -u
# RUNS=N (default 5; 1 with KEEP_LOGS, LATENCIES or PERF): N runs, each with fresh servers, and
# the median of each figure as the headline (name=value lines as one run prints them), after one
# line per run. One run's p99 is the second-slowest of 100 registrations, and this shared host's
# run-to-run spread is wide (12-29 ms on one evening): a single run says little.
RUNS=${RUNS:-$([ -n "${KEEP_LOGS:-}${LATENCIES:-}${PERF:-}" ] && echo 1 || echo 5)}
if [ "$RUNS" -gt 1 ] && [ -z "${RAFT_BENCH_RUN:-}" ]; then
        all=""
        for r in $(seq 1 "$RUNS"); do
                one=$(RAFT_BENCH_RUN=$r BENCH_NO_RECORD=1 bash "$0" "$@") || { echo "$one"; exit 1; }
                echo "run $r: $(echo "$one" | grep -E '^(committed_placements_per_sec|commit_latency_p50_ms|commit_latency_p99_ms|servers_cpu_s)=' | tr '\n' ' ')"
                all="$all$(echo "$one" | grep -E '^[a-z_0-9]+=[0-9.]+$')
"
                [ "$r" = 1 ] && header=$(echo "$one" | sed -n 's/^== bench\/raft: //p')
        done
        # The median of each numeric figure over the runs (the middle one, or the mean of the two).
        out=$(echo "$all" | awk -F= 'NF == 2 { v[$1] = v[$1] " " $2; if (!($1 in seen)) { seen[$1] = 1; order[++n] = $1 } }
                END { for (i = 1; i <= n; i++) { k = order[i]; m = split(v[k], a, " "); for (x = 1; x <= m; x++)
                        for (y = x + 1; y <= m; y++) if (a[y] + 0 < a[x] + 0) { t = a[x]; a[x] = a[y]; a[y] = t }
                        med = m % 2 ? a[(m + 1) / 2] : (a[m / 2] + a[m / 2 + 1]) / 2; print k "=" med } }')
        p99s=$(echo "$all" | sed -n 's/^commit_latency_p99_ms=//p' | sort -n | tr '\n' ' ')
        under=$(echo "$all" | sed -n 's/^commit_latency_p99_ms=//p' | awk '$1 < 20 { n++ } END { print n + 0 }')
        out="$out
commit_latency_p99_ms_runs=\"${p99s% }\"
commit_latency_p99_runs_under_20ms=$under/$RUNS"
        echo "== bench/raft: median of $RUNS runs; first: $header"
        echo "$out"
        if [ "${BENCH_NO_RECORD:-0}" != 1 ]; then
                results=$(cd "$(dirname "$0")" && pwd)/RESULTS.md
                printf '\n### raft run: median of %s runs; first: %s\n\n```\n%s\n```\n' "$RUNS" "$header" "$out" >>"$results"
                echo "figures appended to $results"
        fi
        exit 0
fi
RM_WORK=$(cd "$(dirname "${BASH_SOURCE[0]}")/../tests/support" && pwd)/rm_work.sh # rm -rf that first detaches mounts
BIN=$(cd "${1:-build/bin}" && pwd)
NODES=${NODES:-100}
JOBS=${JOBS:-100}
COUNT=${COUNT:-1000}
CLIENTS=${CLIENTS:-32}
SCHEDULERS=${SCHEDULERS:-0} # scheduler workers per server (0: one per core)
WORK=$(mktemp -d /tmp/drover-bench-raft-XXXXXX)
# Ports from RAFT_BENCH_PORT_BASE (default 30000; 30000-30249, below the ephemeral range); free
# means no local socket of any state uses it (the range is inside the ephemeral one).
. "$(dirname "$0")/../tests/support/ports.sh" # port_free, pick_port, pick_servers
pick_servers "${RAFT_BENCH_PORT_BASE:-30000}" 220 3 # P, http, raft, JOIN
pids=()
cleanup() {
        for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done
        wait 2>/dev/null
        [ -n "${KEEP_LOGS:-}" ] && mkdir -p "$KEEP_LOGS" && cp "$WORK"/s*.log "$KEEP_LOGS"/
        "$RM_WORK" "$WORK"
}
trap cleanup EXIT
for i in 0 1 2; do
        "$BIN/drover-server" -data-dir "$WORK/d$i" -http-addr "$(http $i)" -raft-addr "$(raft $i)" \
                -bootstrap-expect 3 -join "$JOIN" -heartbeat-ttl 1h -num-schedulers "$SCHEDULERS" -log-level "${LOG_LEVEL:-warn}" >"$WORK/s$i.log" 2>&1 &
        pids+=($!)
done
for _ in $(seq 1 300); do
        l=$(curl -s -m 1 "http://$(http 0)/v1/status/leader")
        [ -n "$l" ] && [ "$l" != '""' ] && break
        sleep 0.1
done
LOAD=${LOAD:-$(cd "$BIN/.." && pwd)/bench/raft_load}
[ -x "$LOAD" ] || { echo "bench/raft: $LOAD not built (make bench-raft builds it)" >&2; exit 1; }
# CPU seconds (user + system) of the three servers so far, from /proc/PID/stat.
servers_cpu_s() {
        local t=0 p f
        for p in "${pids[@]}"; do
                f=$(sed 's/.*) //' "/proc/$p/stat" 2>/dev/null) || continue
                set -- $f
                t=$((t + ${12} + ${13}))
        done
        awk -v t="$t" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.2f", t / hz }'
}
# Minor page faults of the three servers so far (/proc/PID/stat field 10): fresh memory
# touched, which costs far more than the work on it on some virtual machines.
servers_minflt() {
        local t=0 p f
        for p in "${pids[@]}"; do
                f=$(sed 's/.*) //' "/proc/$p/stat" 2>/dev/null) || continue
                set -- $f
                t=$((t + ${8}))
        done
        echo "$t"
}
# The servers' event loops (each one's main thread), from /proc/PID/task/PID/schedstat: "RUN
# WAIT SLICES" summed over the three: RUN its CPU time in ns, WAIT its time runnable but waiting
# for a CPU (a loop that waits for a CPU holds every write it would answer or replicate), SLICES
# how many times it was put on a CPU.
loops_schedstat() {
        local run=0 wait=0 n=0 p
        for p in "${pids[@]}"; do
                set -- $(cat "/proc/$p/task/$p/schedstat" 2>/dev/null || echo 0 0 0)
                run=$((run + $1))
                wait=$((wait + $2))
                n=$((n + $3))
        done
        echo "$run $wait $n"
}
# How many times any thread of the three servers was put on a CPU (field 3 of each
# /proc/PID/task/*/schedstat): every hop between threads costs one, and on 2 CPUs
# each is a wait for a CPU. Threads that exit during the load are not counted.
threads_wakeups() {
        local p
        for p in "${pids[@]}"; do cat /proc/"$p"/task/*/schedstat 2>/dev/null; done | awk '{ n += $3 } END { print n + 0 }'
}
# PERF=FILE: perf record (PERF_ARGS, default -g) on the three servers during the load, FILE.0-2.
perf_pids=()
if [ -n "${PERF:-}" ]; then
        for i in 0 1 2; do
                perf record -q ${PERF_ARGS:--g} -o "$PERF.$i" -p "${pids[$i]}" >/dev/null 2>&1 &
                perf_pids+=($!)
        done
fi
la0=$(cut -d' ' -f1-3 /proc/loadavg)
cpu0=$(servers_cpu_s)
flt0=$(servers_minflt)
read -r lrun0 lwait0 ln0 <<<"$(loops_schedstat)"
tw0=$(threads_wakeups)
out=$("$LOAD" --servers "$JOIN" --nodes "$NODES" --jobs "$JOBS" --count "$COUNT" --concurrency "$CLIENTS" \
        --timeout "${TIMEOUT:-300}" ${LATENCIES:+--latencies "$LATENCIES"})
rc=$?
cpu1=$(servers_cpu_s)
flt1=$(servers_minflt)
read -r lrun1 lwait1 ln1 <<<"$(loops_schedstat)"
tw1=$(threads_wakeups)
# Evals finished by the leader's own workers and by the followers' (from the leader's broker).
evals=$(for i in 0 1 2; do curl -s -m 2 "http://$(http $i)/v1/internal/raft/self"; echo; done |
        grep -o '"Local":[0-9]*,"FromLeader":[0-9]*' | tr -dc '0-9,\n' |
        awk -F, '{ l += $1; r += $2 } END { printf "%d %d", l, r }')
rss=$(for p in "${pids[@]}"; do awk '/^VmRSS/ { print $2 }' "/proc/$p/status" 2>/dev/null; done | awk '{ t += $1 } END { printf "%.0f", t / 1024 }')
la1=$(cut -d' ' -f1-3 /proc/loadavg)
for p in "${perf_pids[@]}"; do kill -INT "$p" 2>/dev/null; done
for p in "${perf_pids[@]}"; do wait "$p" 2>/dev/null; done
placed=$(echo "$out" | sed -n 's/^raft_placements=//p')
out="$out
servers_cpu_s=$(awk -v a="$cpu0" -v b="$cpu1" 'BEGIN { printf "%.2f", b - a }')
servers_cpu_s_per_100k_placements=$(awk -v a="$cpu0" -v b="$cpu1" -v n="${placed:-0}" \
        'BEGIN { if (n > 0) printf "%.2f", (b - a) * 100000 / n; else print "n/a" }')
servers_minor_faults=$((flt1 - flt0))
servers_loops_cpu_ms=$(((lrun1 - lrun0) / 1000000))
servers_loops_runq_wait_ms=$(((lwait1 - lwait0) / 1000000))
servers_loops_wakeups=$((ln1 - ln0))
servers_threads_wakeups=$((tw1 - tw0))
servers_rss_mb=$rss
servers_evals_local=${evals% *}
servers_evals_from_leader=${evals#* }"
header="$(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs, commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown), load average $la0 -> $la1"
echo "== bench/raft: $header; $NODES nodes, $JOBS jobs x $COUNT, $CLIENTS in flight, 3 servers on loopback"
echo "$out"
if [ "${BENCH_NO_RECORD:-0}" != 1 ]; then
        results=$(cd "$(dirname "$0")" && pwd)/RESULTS.md
        printf '\n### raft run: %s\n\nNODES=%s JOBS=%s COUNT=%s CLIENTS=%s SCHEDULERS=%s\n\n```\n%s\n```\n' "$header" "$NODES" "$JOBS" \
                "$COUNT" "$CLIENTS" "$SCHEDULERS" "$out" >>"$results"
        echo "figures appended to $results"
fi
exit $rc
