#!/bin/sh
# sched.sh BIN_DIR [ARGS...] - the scheduler benchmark (bench/sched*.c): placement throughput,
# eval latency and packing of the real scheduler and plan applier, in process.
# The binary is built next to BIN_DIR: $(dirname BIN_DIR)/bench/sched. ARGS go to it
# (sched --help); SCHED_BENCH_ARGS too, for `make bench-sched SCHED_BENCH_ARGS=...`.
# Exits with the benchmark's status: non-zero when a node was over-committed.
# Appends the name=value figures, with date, machine and commit, to bench/RESULTS.md
# (BENCH_NO_RECORD=1: print only). SCHED_SCENARIOS=0 skips the named scenarios.
set -eu

if [ $# -lt 1 ]; then
        echo "usage: $0 BIN_DIR [ARGS...]" >&2
        exit 2
fi
bin_dir=$1
shift
bench=$(dirname "$bin_dir")/bench/sched
if [ ! -x "$bench" ]; then
        echo "sched.sh: $bench not found: build it with 'make $bench' (or run 'make bench-sched')" >&2
        exit 2
fi

header="$(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs, $(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -n1), commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
echo "== bench/sched: $header"
out=$(mktemp)
trap 'rm -f "$out"' EXIT
# SCHED_BENCH_ARGS is split on spaces on purpose (several flags).
# shellcheck disable=SC2086
status=0
"$bench" ${SCHED_BENCH_ARGS:-} "$@" >"$out" || status=$?
# The named scenarios (issue #18): c1m (at SCHED_C1M_SCALE of the full million, 0.1 by
# default: the full run needs several GB), mixed (three scoring algorithms), preempt.
if [ "$status" = 0 ] && [ "${SCHED_SCENARIOS:-1}" = 1 ]; then
        "$bench" --scenario all --workers 2 --scale "${SCHED_C1M_SCALE:-0.1}" >>"$out" || status=$?
fi
cat "$out"
if [ "$status" = 0 ] && [ "${BENCH_NO_RECORD:-0}" != 1 ]; then
        results=$(cd "$(dirname "$0")" && pwd)/RESULTS.md
        {
                printf '\n### sched run: %s\n\n' "$header"
                [ -n "${SCHED_BENCH_ARGS:-}$*" ] && printf 'Flags: `%s`\n\n' "${SCHED_BENCH_ARGS:-} $*"
                echo '```'
                grep -E '^[a-z0-9_]+=[-0-9.]+$' "$out"
                echo '```'
        } >>"$results"
        echo "figures appended to $results"
fi
exit "$status"
