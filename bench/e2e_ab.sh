#!/bin/bash
# e2e_ab.sh OLD_BIN_DIR NEW_BIN_DIR - bench/e2e.sh for two builds, alternated in one run
# (old, new, old, new, ...; E2E_AB_PAIRS pairs, default 3), so that both meet the same
# load on a shared host. Each line: the build, its time, and the load average (1 min)
# before and after; then each build's median and the ratio new/old. Every run is one
# fresh `drover dev` (E2E_RUNS=1); the E2E_* settings of bench/e2e.sh apply (E2E_COUNT,
# E2E_PORT_MIN/MAX, E2E_TRACE...). Prints only (BENCH_NO_RECORD=1 for each run).
#
#   git worktree add /tmp/old HEAD~1 && make -C /tmp/old -j2 && bash bench/e2e_ab.sh /tmp/old/build/bin build/bin
set -u
[ $# -eq 2 ] || { echo "usage: e2e_ab.sh OLD_BIN_DIR NEW_BIN_DIR" >&2; exit 2; }
here=$(cd "$(dirname "$0")" && pwd)
pairs=${E2E_AB_PAIRS:-3}
load() { cut -d' ' -f1 /proc/loadavg; }
old_t=""
new_t=""
for i in $(seq 1 "$pairs"); do
        for which in old new; do
                bin=$1
                [ "$which" = new ] && bin=$2
                l0=$(load)
                out=$(E2E_RUNS=1 BENCH_NO_RECORD=1 bash "$here/e2e.sh" "$bin" 2>&1)
                t=$(echo "$out" | sed -n 's/^e2e_[0-9]*_s=//p')
                [ -n "$t" ] || { echo "e2e_ab.sh: $which run $i failed:" >&2; echo "$out" >&2; exit 1; }
                echo "$which run $i: $t s (load $l0 -> $(load))"
                [ "${E2E_TRACE:-0}" = 1 ] && echo "$out" | grep -v '^==\|^e2e_\|^figures'
                if [ "$which" = old ]; then old_t="$old_t $t"; else new_t="$new_t $t"; fi
        done
done
median() { echo "$1" | tr ' ' '\n' | grep . | sort -g | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }
mo=$(median "$old_t")
mn=$(median "$new_t")
echo "e2e_ab_old_s=$mo"
echo "e2e_ab_new_s=$mn"
echo "e2e_ab_new_over_old=$(echo "$mn $mo" | awk '{printf "%.2f", $1 / $2}')"
