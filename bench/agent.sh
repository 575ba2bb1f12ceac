#!/bin/bash
# agent.sh BIN_DIR - the agent's footprint: fingerprint time and resident memory.
#
#   fingerprint_ms           median over FP_RUNS (default 21) runs of every fingerprinter, timed
#                            inside drover-agent -fingerprint (process start and JSON printing excluded)
#   agent_rss_idle_kib       VmRSS of an agent registered with a server, no allocations, after 3 s idle
#   agent_rss_100_tasks_kib  VmRSS of the same agent running 100 raw_exec tasks (sleep)
#   agent_pss_100_tasks_kib  its Pss (smaps_rollup): shared library pages divided among the
#                            processes that map them (VmRSS counts libcrypto's, libc's... whole)
#
# A server and an agent are started on free loopback ports with their own data dirs and stopped
# at the end (tasks first). Appends the figures, date, machine and commit to bench/RESULTS.md
# (BENCH_NO_RECORD=1: print only).
set -u
RM_WORK=$(cd "$(dirname "${BASH_SOURCE[0]}")/../tests/support" && pwd)/rm_work.sh # rm -rf that first detaches mounts
. "$(dirname "${BASH_SOURCE[0]}")/../tests/support/wait.sh" # wait_for SECONDS COMMAND...
. "$(dirname "${BASH_SOURCE[0]}")/../tests/support/ports.sh" # port_free, pick_port
BIN=$(cd "${1:-build/bin}" && pwd)
WORK=$(mktemp -d /tmp/drover-bench-agent-XXXXXX)
MARK="drover-bench-agent-$$"
server_pid=""
agent_pid=""
cleanup() {
        [ -n "$agent_pid" ] && kill "$agent_pid" 2>/dev/null
        [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null
        for p in $(pgrep -f "$MARK" 2>/dev/null); do kill -9 "$p" 2>/dev/null; done
        wait 2>/dev/null
        "$RM_WORK" "$WORK"
}
trap cleanup EXIT

rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
pss_kib() { awk '/^Pss:/ {print $2}' "/proc/$1/smaps_rollup" 2>/dev/null; }
# rss_by_mapping PID: where the resident memory is, from /proc/PID/smaps: KiB per
# mapped file (shared libraries summed over their segments), [heap], [stack],
# anonymous mappings (thread stacks, malloc arenas), largest first.
rss_by_mapping() {
        awk '/^[0-9a-f]+-[0-9a-f]+ / {name = (NF >= 6) ? $6 : "[anon]"; sub(".*/", "", name)}
             /^Rss:/ {rss[name] += $2}
             END {for (n in rss) if (rss[n] > 0) printf "%d %s\n", rss[n], n}' "/proc/$1/smaps" |
                sort -rn | head -n "${2:-14}" | awk '{printf "  %6d KiB  %s\n", $1, $2}'
}

header="$(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs, $(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -n1), commit $(git -C "$(dirname "$0")" rev-parse --short HEAD 2>/dev/null || echo unknown)"
echo "== bench/agent: $header"

# --- fingerprint_ms -------------------------------------------------------------
runs=${FP_RUNS:-21}
for _ in $(seq 1 "$runs"); do
        "$BIN/drover-agent" -fingerprint -log-level debug -data-dir "$WORK/fp" 2>&1 >/dev/null |
                sed -n 's/.*fingerprint took \([0-9.]*\) ms.*/\1/p'
done | sort -g >"$WORK/fp.txt"
n=$(wc -l <"$WORK/fp.txt")
if [ "$n" != "$runs" ]; then
        echo "agent.sh: expected $runs timings from drover-agent -fingerprint -log-level debug, got $n" >&2
        exit 1
fi
fingerprint_ms=$(sed -n "$(((n + 1) / 2))p" "$WORK/fp.txt")

# --- agent RSS: idle, then with 100 tasks -------------------------------------------
# AGENT_PORT_MIN..AGENT_PORT_MAX (default 30500-30989): the server's HTTP port; Raft
# takes port+1 and the agent port+10.
PORT_MIN=${AGENT_PORT_MIN:-30500}
PORT_MAX=${AGENT_PORT_MAX:-30989}
pick_port "$PORT_MIN" $((PORT_MAX - PORT_MIN + 1)) 1 10 || { echo "agent.sh: no free port in $PORT_MIN-$PORT_MAX" >&2; exit 1; }
ADDR="http://127.0.0.1:$PORT"
"$BIN/drover-server" -dev -data-dir "$WORK/server" -http-addr "127.0.0.1:$PORT" \
        -raft-addr "127.0.0.1:$((PORT + 1))" >"$WORK/server.log" 2>&1 &
server_pid=$!
wait_for 15 sh -c "curl -fs $ADDR/v1/status/leader | grep -q 127.0.0.1" || { echo "agent.sh: server did not start" >&2; exit 1; }
"$BIN/drover-agent" -servers "$ADDR" -data-dir "$WORK/agent" -http-addr "127.0.0.1:$((PORT + 10))" -raw-exec \
        >"$WORK/agent.log" 2>&1 &
agent_pid=$!
wait_for 15 sh -c "curl -fs $ADDR/v1/nodes | grep -q '\"Status\":\"ready\"'" || { echo "agent.sh: agent did not register" >&2; exit 1; }
sleep 3
agent_rss_idle_kib=$(rss_kib "$agent_pid")

cat >"$WORK/sleep100.hcl" <<HCL
job "bench-sleep" {
  datacenters = ["*"]
  group "g" {
    count = 100
    task "t" {
      driver = "raw_exec"
      config {
        command = "/bin/sh"
        args    = ["-c", "sleep 600; : $MARK"]
      }
      resources {
        cpu    = 10
        memory = 10
      }
    }
  }
}
HCL
running() { [ "$(curl -s "$ADDR/v1/job/bench-sleep/allocations" | grep -o '"ClientStatus":"running"' | wc -l)" = 100 ]; }
agent_rss_100_tasks_kib=""
if DROVER_ADDR=$ADDR "$BIN/drover" job run -detach "$WORK/sleep100.hcl" >"$WORK/run.out" 2>&1 && wait_for 60 running; then
        sleep 3
        agent_rss_100_tasks_kib=$(rss_kib "$agent_pid")
        agent_pss_100_tasks_kib=$(pss_kib "$agent_pid")
        echo "agent RSS with 100 tasks by mapping (smaps):"
        rss_by_mapping "$agent_pid"
else
        echo "agent.sh: 100 tasks did not all run within 60 s; agent_rss_100_tasks_kib not measured" >&2
        cat "$WORK/run.out" >&2
fi
DROVER_ADDR=$ADDR "$BIN/drover" job stop bench-sleep >/dev/null 2>&1
tasks_gone() { [ -z "$(pgrep -f "sleep 600; : $MARK")" ]; }
wait_for 30 tasks_gone || echo "agent.sh: tasks still running after job stop; killing them" >&2

out="$WORK/figures"
{
        echo "fingerprint_ms=$fingerprint_ms"
        echo "agent_rss_idle_kib=$agent_rss_idle_kib"
        [ -n "$agent_rss_100_tasks_kib" ] && echo "agent_rss_100_tasks_kib=$agent_rss_100_tasks_kib"
        [ -n "${agent_pss_100_tasks_kib:-}" ] && echo "agent_pss_100_tasks_kib=$agent_pss_100_tasks_kib"
} >"$out"
cat "$out"
if [ "${BENCH_NO_RECORD:-0}" != 1 ]; then
        results=$(cd "$(dirname "$0")" && pwd)/RESULTS.md
        {
                printf '\n### agent run: %s\n\n' "$header"
                echo '```'
                cat "$out"
                echo '```'
        } >>"$results"
        echo "figures appended to $results"
fi
