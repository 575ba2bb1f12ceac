#!/bin/bash
# e2e.sh BIN_DIR - end-to-end batch throughput on `drover dev`.
#
#   e2e_1000_s          seconds from `drover job run -detach` of a batch job of count N (default
#                       1000, E2E_COUNT) running /bin/true (raw_exec) until the job summary shows
#                       all N allocations complete; median over E2E_RUNS runs (default 3), each
#                       run a fresh job on the same cluster
#   e2e_allocs_per_sec  N / e2e_1000_s
#
# Each allocation asks for E2E_DISK_MB (default 10) MB of ephemeral disk: with Nomad's default
# of 300 MB, 1,000 allocations need 300 GB, and a host with 79 GB free fits 267 at a time (the
# rest are placed as the first complete, through blocked evaluations): that measures the disk,
# not the pipeline. E2E_DISK_MB=300 measures that case.
#
# Each run's line also shows the CPU seconds used so far by drover dev and the processes it
# started (drover-server, drover-agent), before and after the run: where the time goes; and
# what the harness itself took during the run (wait_loop_ms: this shell's CPU while it waited;
# children_ms: its children's, i.e. `drover job run`; answers: summaries read).
#
# The wait forks nothing: blocking queries on /v1/job/JOB/summary over one kept-alive
# connection by bash's /dev/tcp and read builtins, $EPOCHREALTIME for the clock, a read that
# times out on a FIFO for the pause. It costs about 150 ms of CPU per 1,000-task run (bash reads
# a socket a byte per read(2)); the earlier loop, curl and date every 100 ms, took 1.4-1.6 s
# per run (8% + 8% of the host's perf samples), CPU the 2-core cluster it measured then lacked.
#
# `drover dev` is started on free loopback ports with its own data dir and TMPDIR, and stopped
# (Ctrl-C) at the end. Fails if any allocation ends failed or lost. Appends the figures, date,
# machine and commit to bench/RESULTS.md (BENCH_NO_RECORD=1: print only). E2E_KEEP_LOGS=DIR
# keeps drover dev's logs (the server's and the agent's) there. E2E_TRACE=1 (needs jq): after
# each run, where each allocation's time went, step by step (bench/e2e_trace.jq).
set -u
RM_WORK=$(cd "$(dirname "${BASH_SOURCE[0]}")/../tests/support" && pwd)/rm_work.sh # rm -rf that first detaches mounts
BIN=$(cd "${1:-build/bin}" && pwd)
WORK=$(mktemp -d /tmp/drover-bench-e2e-XXXXXX)
COUNT=${E2E_COUNT:-1000}
RUNS=${E2E_RUNS:-3}
DISK_MB=${E2E_DISK_MB:-10}
dev_pid=""
cleanup() {
        [ "$BASHPID" = "$$" ] || return 0 # not in command substitutions
        if [ -n "$dev_pid" ]; then
                kill -INT "$dev_pid" 2>/dev/null
                for _ in $(seq 1 150); do kill -0 "$dev_pid" 2>/dev/null || break; sleep 0.1; done
                kill -9 "$dev_pid" 2>/dev/null
        fi
        wait 2>/dev/null
        [ -n "${E2E_KEEP_LOGS:-}" ] && find "$WORK" -name '*.log' -exec cp --backup=numbered -t "$E2E_KEEP_LOGS" {} + 2>/dev/null # for a failed run
        "$RM_WORK" "$WORK"
}
trap cleanup EXIT
trap "exit 143" TERM INT # so that a timeout or Ctrl-C still stops drover dev

wait_for() { # SECONDS COMMAND...
        local limit=$(($1 * 10)) i=0
        shift
        until "$@" >/dev/null 2>&1; do
                i=$((i + 1))
                [ $i -ge $limit ] && return 1
                sleep 0.1
        done
}
. "$(dirname "${BASH_SOURCE[0]}")/../tests/support/ports.sh" # port_free, pick_port
# cpu_line: "name=CPU-seconds ..." for drover dev and the processes it started (its
# children: drover-server, drover-agent; and the agent's log collector, drover-logmon), from /proc/PID/stat utime+stime; where the
# time of a run goes, without a profiler.
cpu_line() {
        local hz p
        hz=$(getconf CLK_TCK)
        # the log collector is the agent's fork (its command line, comm drover-logmon),
        # reparented away from it: found by the data dir in its command line
        for p in $( (echo "$dev_pid"; pgrep -P "$dev_pid"; pgrep -f -- "$WORK/data") 2>/dev/null | awk '!seen[$1]++'); do
                [ -r "/proc/$p/stat" ] || continue
                # comm may hold spaces: fields counted after its closing ")"
                sed 's/^.*) //' "/proc/$p/stat" | awk -v n="$(cat /proc/$p/comm)" -v hz="$hz" '{printf "%s=%.2f ", n, ($12 + $13) / hz; if ($14 + $15 > 0) printf "(%s_children=%.2f) ", n, ($14 + $15) / hz}'
                # /proc/PID/schedstat, its main thread (the agent's and server's event loop):
                # seconds on a CPU and runnable but waiting for one; the rest of the run's wall
                # time it slept (waited for I/O, a timer, an answer)
                [ "${E2E_TRACE:-0}" = 1 ] && awk -v n="$(cat /proc/$p/comm)" '{printf "(%s_main_cpu=%.2f runq_wait=%.2f) ", n, $1 / 1e9, $2 / 1e9}' /proc/$p/schedstat 2>/dev/null
        done
}

header="$(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs, $(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -n1), commit $(git -C "$(dirname "$0")" rev-parse --short HEAD 2>/dev/null || echo unknown)"
echo "== bench/e2e: $header"

# E2E_PORT_MIN..E2E_PORT_MAX (default 30500-30989): the HTTP port; Raft takes port+1 and
# the agent port+10. A range of its own, so that runs of others on this host do not collide.
PORT_MIN=${E2E_PORT_MIN:-30500}
PORT_MAX=${E2E_PORT_MAX:-30989}
mkdir -p "$WORK/tmp"
hz=$(getconf CLK_TCK)
mkfifo "$WORK/sleep.fifo" && exec {sleep_fd}<>"$WORK/sleep.fifo" # the wait loop's pause without /bin/sleep
# Up to three starts: a port found free can still be taken (as a connection's local
# port) before drover dev binds it.
for attempt in 1 2 3; do
        pick_port "$PORT_MIN" $((PORT_MAX - PORT_MIN + 1)) 1 2 10 ||
                { echo "e2e.sh: no free port in $PORT_MIN-$PORT_MAX" >&2; exit 1; }
        ADDR="http://127.0.0.1:$PORT"
        "$RM_WORK" "$WORK/data"
        TMPDIR="$WORK/tmp" "$BIN/drover" dev -port="$PORT" -data-dir="$WORK/data" >"$WORK/dev.log" 2>&1 &
        dev_pid=$!
        wait_for 30 sh -c "grep -q 'cluster running' '$WORK/dev.log' || ! kill -0 $dev_pid" && grep -q "cluster running" "$WORK/dev.log" && break
        kill -INT "$dev_pid" 2>/dev/null
        wait "$dev_pid" 2>/dev/null
        dev_pid=""
        echo "e2e.sh: drover dev did not start on port $PORT (attempt $attempt)" >&2
        cat "$WORK/dev.log" >&2
        [ "$attempt" = 3 ] && exit 1
done
wait_for 15 sh -c "curl -fs $ADDR/v1/nodes | grep -q '\"Status\":\"ready\"'" || { echo "e2e.sh: node not ready" >&2; exit 1; }

# The wait for completion forks nothing (bash builtins only: /dev/tcp, read, printf,
# $EPOCHREALTIME), so that the harness takes (almost) no CPU from the 2-core cluster it
# measures: with curl and date per 100 ms poll it took 8% + 8% of the host's samples.
# http_get PATH: GET $ADDR/PATH over one kept-alive HTTP/1.1 connection (reopened when it
# fails); sets http_body and http_index (X-Nomad-Index). The answer must carry a
# Content-Length (every JSON answer of the servers does). Returns 1 on any failure.
http_fd=""
http_get() {
        local line len="" status="" try
        http_body=""
        http_index=0
        for try in 1 2; do
                if [ -z "$http_fd" ]; then
                        exec {http_fd}<>"/dev/tcp/127.0.0.1/$PORT" 2>/dev/null || { http_fd=""; return 1; }
                fi
                printf 'GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n' "$1" >&"$http_fd" 2>/dev/null &&
                        IFS= read -r -t 330 -u "$http_fd" status && break
                exec {http_fd}>&- # closed by the server (idle timeout): once more on a new one
                http_fd=""
                [ "$try" = 2 ] && return 1
        done
        while IFS= read -r -t 10 -u "$http_fd" line; do
                line=${line%$'\r'}
                [ -z "$line" ] && break
                case ${line,,} in
                content-length:*) len=${line#*:} len=${len// /} ;;
                x-nomad-index:*) http_index=${line#*:} http_index=${http_index// /} ;;
                esac
        done
        if [[ ! $status =~ ^HTTP/1\.[01]\ 200 ]] || [[ ! $len =~ ^[0-9]+$ ]] ||
                { [ "$len" -gt 0 ] && ! IFS= read -r -N "$len" -t 10 -u "$http_fd" http_body; }; then
                exec {http_fd}>&-
                http_fd=""
                return 1
        fi
}
# summary_field FIELD: into $sum, the sum of FIELD over the task groups in $http_body (an
# answer of /v1/job/JOB/summary)
summary_field() {
        local body=$http_body re="\"$1\":([0-9]+)(.*)"
        sum=0
        while [[ $body =~ $re ]]; do
                sum=$((sum + BASH_REMATCH[1]))
                body=${BASH_REMATCH[2]}
        done
}
# self_cpu: into $self_ticks, this shell's own CPU ticks (utime + stime, /proc/$$/stat),
# and into $child_ticks, those of the children it waited for (cutime + cstime: `drover job
# run`, and anything the wait loop forks), by builtins
self_cpu() {
        local stat f
        read -r stat </proc/$$/stat
        stat=${stat##*) } # comm may hold spaces: fields counted after its closing ")"
        read -r -a f <<<"$stat"
        self_ticks=$((f[11] + f[12]))
        child_ticks=$((f[13] + f[14]))
}

# stages JOB T0 T1: where the run's time went, in seconds after `job run` (T0), first and
# last of N: the evaluation created, allocations placed (the scheduler's CreateTime), the
# agent's Received, Started and Terminated task events, the last status update committed
# (ModifyTime) and the run seen complete (T1). Needs jq; skipped without it.
stages() {
        command -v jq >/dev/null || return 0
        curl -fs "$ADDR/v1/job/$1/evaluations" >"$WORK/evals.json" || return 0
        curl -fs "$ADDR/v1/job/$1/allocations" >"$WORK/allocs.json" || return 0
        jq -rn --slurpfile E "$WORK/evals.json" --slurpfile A "$WORK/allocs.json" --arg t0 "$2" --arg t1 "$3" '
          $E[0] as $e | $A[0] as $a | ($t0 | tonumber * 1e9) as $z
          | def s: (. - $z) / 1e9 * 1000 | round / 1000;
            def span(f): [ $a[] | f ] | if length == 0 then "-" else "\(min | s)/\(max | s)" end;
            def ev(t): [ .TaskStates[]?.Events[]? | select(.Type == t) | .Time ] | min;
          "stages (s after job run, first/last): eval=\([ $e[].CreateTime ] | min | s)"
          + " placed=\(span(.CreateTime)) received=\(span(ev("Received")))"
          + " started=\(span(ev("Started"))) exited=\(span(ev("Terminated")))"
          + " committed=\(span(.ModifyTime)) seen_complete=\(($t1 | tonumber * 1e9) | s)"'
}

times=""
for run in $(seq 1 "$RUNS"); do
        job="e2e-$run"
        cat >"$WORK/$job.hcl" <<HCL
job "$job" {
  type        = "batch"
  datacenters = ["*"]
  group "g" {
    count = $COUNT
    task "t" {
      driver = "raw_exec"
      config {
        command = "/bin/true"
      }
      resources {
        cpu    = 1
        memory = 10
      }
    }
    ephemeral_disk {
      size = $DISK_MB
    }
  }
}
HCL
        cpu0=$(cpu_line)
        self_cpu
        h0=$self_ticks
        c0=$child_ticks
        t0=$EPOCHREALTIME
        DROVER_ADDR=$ADDR "$BIN/drover" job run -detach "$WORK/$job.hcl" >"$WORK/$job.out" 2>&1 ||
                { echo "e2e.sh: job run failed" >&2; cat "$WORK/$job.out" >&2; exit 1; }
        # Blocking queries on the summary (it moves with the allocations table), at most one
        # answer per 100 ms: a change while one is parked is seen at once, one during the
        # pause within 100 ms. Ends early when an allocation failed or was lost.
        done_ok=0
        bad=0
        idx=1
        answers=0
        deadline=$((EPOCHSECONDS + ${E2E_TIMEOUT:-120}))
        while [ "$EPOCHSECONDS" -lt "$deadline" ]; do
                if http_get "/v1/job/$job/summary?index=$idx&wait=5s"; then
                        answers=$((answers + 1))
                        summary_field Complete
                        if [ "$sum" = "$COUNT" ]; then done_ok=1; break; fi
                        summary_field Failed
                        bad=$sum
                        summary_field Lost
                        bad=$((bad + sum))
                        [ "$bad" != 0 ] && break
                        idx=$http_index
                fi
                read -r -t 0.1 -u "$sleep_fd" # the pause: a read that only times out
        done
        t1=$EPOCHREALTIME
        self_cpu
        harness_ms=$(((self_ticks - h0) * 1000 / hz))
        harness_children_ms=$(((child_ticks - c0) * 1000 / hz))
        if [ "$done_ok" != 1 ] || [ "$bad" != 0 ]; then
                http_get "/v1/job/$job/summary"
                summary_field Complete
                echo "e2e.sh: run $run: $sum of $COUNT complete, $bad failed or lost" >&2
                echo "$http_body" >&2
                exit 1
        fi
        s=$(echo "$t0 $t1" | awk '{printf "%.3f", $2 - $1}')
        echo "run $run: $s s (process CPU seconds before: ${cpu0}after: $(cpu_line)) (harness: wait_loop_ms=$harness_ms children_ms=$harness_children_ms answers=$answers)"
        stages "$job" "$t0" "$t1"
        if [ "${E2E_TRACE:-0}" = 1 ] && command -v jq >/dev/null; then
                jq -rn --slurpfile A "$WORK/allocs.json" --arg t0 "$t0" -f "$(dirname "$0")/e2e_trace.jq"
                [ -n "${E2E_KEEP_LOGS:-}" ] && cp "$WORK/allocs.json" "$E2E_KEEP_LOGS/allocs-$run.json"
        fi
        times="$times $s"
        DROVER_ADDR=$ADDR "$BIN/drover" job stop "$job" >/dev/null 2>&1
done
median=$(echo "$times" | tr ' ' '\n' | grep . | sort -g | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}')

out="$WORK/figures"
{
        echo "e2e_${COUNT}_s=$median"
        echo "e2e_allocs_per_sec=$(echo "$COUNT $median" | awk '{printf "%.1f", $1 / $2}')"
} >"$out"
cat "$out"
if [ "${BENCH_NO_RECORD:-0}" != 1 ]; then
        results=$(cd "$(dirname "$0")" && pwd)/RESULTS.md
        {
                printf '\n### e2e run: %s\n\n' "$header"
                echo "runs (s):$times"
                echo '```'
                cat "$out"
                echo '```'
        } >>"$results"
        echo "figures appended to $results"
fi
