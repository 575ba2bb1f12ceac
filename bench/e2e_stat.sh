#!/bin/bash
# e2e_stat.sh OLD_BIN_DIR NEW_BIN_DIR - bench/e2e.sh for two builds, alternated (old, new,
# old, new, ...; E2E_STAT_PAIRS pairs, default 2), each run under `perf stat -p` of the agent
# and of the server, from their start to their exit. The agent's counts include its log
# collector and the tasks the collector starts (the collector is the agent's fork, made
# after perf attached: perf stat counts what a process forks). Syscall counts do not depend on the load of a
# shared host, CPU seconds and wall times do: compare the counts first. Each line: the
# build, its e2e time and the load average (1 min) before and after; then per process
# task-clock (ms of CPU) and the counts of E2E_STAT_EVENTS (default: all syscalls and the
# inode-writing ones the agent makes per allocation). Needs perf and root (tracepoints).
# Every run is one fresh `drover dev` (E2E_RUNS=1); the E2E_* settings of bench/e2e.sh
# apply (E2E_COUNT, E2E_PORT_MIN/MAX...). Prints only (BENCH_NO_RECORD=1 for each run).
#
#   bash bench/e2e_stat.sh /tmp/old/build/bin build/bin
set -u
[ $# -eq 2 ] || { echo "usage: e2e_stat.sh OLD_BIN_DIR NEW_BIN_DIR" >&2; exit 2; }
command -v perf >/dev/null || { echo "e2e_stat.sh: needs perf (apt-get install linux-perf)" >&2; exit 2; }
here=$(cd "$(dirname "$0")" && pwd)
pairs=${E2E_STAT_PAIRS:-2}
ev=${E2E_STAT_EVENTS:-task-clock,raw_syscalls:sys_enter,syscalls:sys_enter_mkdirat,syscalls:sys_enter_openat,syscalls:sys_enter_fchown,syscalls:sys_enter_fchmod,syscalls:sys_enter_rt_sigaction,syscalls:sys_enter_unlink,syscalls:sys_enter_rmdir}
out=$(mktemp -d /tmp/drover-e2e-stat-XXXXXX)
trap 'rm -rf "$out"' EXIT
load() { cut -d' ' -f1 /proc/loadavg; }
# pid_of COMM: the process of that name that bench/e2e.sh's drover dev started (found by
# its data dir in the command line; the collector is the agent's fork: same command line,
# its own comm)
pid_of() {
        local p
        for p in $(pgrep -f "drover-bench-e2e-" 2>/dev/null); do
                [ "$(cat "/proc/$p/comm" 2>/dev/null)" = "$1" ] && { echo "$p"; return 0; }
        done
        return 1
}
for i in $(seq 1 "$pairs"); do
        for which in old new; do
                bin=$1
                [ "$which" = new ] && bin=$2
                l0=$(load)
                E2E_RUNS=1 BENCH_NO_RECORD=1 bash "$here/e2e.sh" "$bin" >"$out/run" 2>&1 &
                run=$!
                # Each process as soon as it is there, before the job is run.
                stats=()
                left="drover-server drover-agent"
                for _ in $(seq 1 1200); do
                        for comm in $left; do
                                pid=$(pid_of "$comm") || continue
                                perf stat -x, -e "$ev" -p "$pid" -o "$out/${comm#drover-}" 2>/dev/null &
                                stats+=($!)
                                left=${left/$comm/}
                        done
                        [ -n "${left// /}" ] && kill -0 "$run" 2>/dev/null || break
                        sleep 0.02
                done
                wait "$run"
                # each perf stat ends when its process exits (drover dev stopped); a
                # straggler is stopped
                for s in "${stats[@]}"; do kill -INT "$s" 2>/dev/null; done
                wait "${stats[@]}" 2>/dev/null
                t=$(sed -n 's/^e2e_[0-9]*_s=//p' "$out/run")
                [ -n "$t" ] || { echo "e2e_stat.sh: $which run $i failed:" >&2; cat "$out/run" >&2; exit 1; }
                echo "$which run $i: $t s (load $l0 -> $(load))"
                for p in agent server; do
                        [ -s "$out/$p" ] || continue
                        echo "  $p: $(grep -v '^#' "$out/$p" | grep . | awk -F, '{sub(/^(raw_)?syscalls:sys_enter_?/, "", $3); printf "%s=%s ", ($3 == "" ? "syscalls" : $3), $1}')"
                        rm -f "$out/$p"
                done
        done
done
