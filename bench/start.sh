#!/bin/sh
# start.sh BIN_DIR - isolated start latency (bench/start.c): cgroup + namespaces
# + bind-mount root + seccomp + capabilities + a non-root uid, until the exec of
# /bin/true; median and p90 over BENCH_N (200) starts.
#  - in one VM boot (tests/vm/run.sh, Debian's kernel, cgroup v2) against Debian's
#    crun running /bin/true in a busybox bundle, cgroups on for both: start_p50_ms,
#    cycle_p50_ms (start until the cgroup is gone), crun_cycle_p50_ms (a whole
#    `crun run`), start_vs_crun_ratio (cycle against cycle);
#  - on this host: host_start_p50_ms without a cgroup (the host's cgroups are not
#    touched) and host_bare_start_p50_ms, the same clone3 + exec without
#    isolation, measured in alternating rounds (BENCH_ROUNDS, 5) in this same run:
#    each is the median of the rounds' p50s; host_overhead_p50_ms is the median
#    of the rounds' differences, with the load average before and after;
#  - on this host, Debian's runc (installed here by this script, not by `make`)
#    running /bin/true in a busybox bundle, BENCH_RUNC_N (20) whole `runc run`s:
#    runc_p50_ms. Rootless (`runc spec --rootless`, run as nobody in a user
#    namespace): runc skips the cgroups it cannot write, so nothing is created in
#    the host's v1 hierarchy (off-limits); our host_start_p50_ms is cgroup-less
#    too. BENCH_RUNC=0 skips it.
#  - BENCH_OLD=PATH (another build of bench/start, e.g. from an older commit):
#    it runs too, in the same alternating rounds: host_old_start_p50_ms and _p90.
#  - host_trace_*: one more run with --trace, the median time of each step, and
#    host_*child_cpu_p50_ms: the started process's own CPU time (new, without the
#    mount template, bare), which the load does not inflate as it does wall time.
# Appends the figures to bench/RESULTS.md (BENCH_NO_RECORD=1: print only;
# BENCH_VM=0: the host part only).
set -eu
bin_dir=$1
root=$(cd "$(dirname "$0")/.." && pwd)
bench=$(cd "$(dirname "$bin_dir")" && pwd)/bench/start
[ -x "$bench" ] || { echo "start.sh: $bench not found (make bench-start builds it)" >&2; exit 2; }
n=${BENCH_N:-200}
header="$(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs, $(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -n1), commit $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)"
echo "== bench/start: $header"
out=$(mktemp)
trap 'rm -f "$out"' EXIT
# crun and its libyajl from Debian, unpacked into build/vm/crun (not installed).
c="$root/build/vm/crun"
if [ ! -x "$c/usr/bin/crun" ]; then
        mkdir -p "$c"
        (cd "$c" && apt-get download crun libyajl2 >/dev/null 2>&1 || { apt-get update >/dev/null 2>&1; apt-get download crun libyajl2 >/dev/null; })
        for d in "$c"/*.deb; do dpkg-deb -x "$d" "$c"; done
        rm -f "$c"/*.deb
fi
if [ "${BENCH_VM:-1}" = 1 ]; then
yajl=$(ls "$c"/usr/lib/x86_64-linux-gnu/libyajl.so.2* | head -n 1)
VM_INIT="$root/bench/vm-start.sh" \
        VM_FILES="$bench:/bin/start $yajl:/lib/x86_64-linux-gnu/libyajl.so.2 $c/usr/bin/crun:/bin/crun" \
        LD_LIBRARY_PATH="$c/usr/lib/x86_64-linux-gnu" "$root/tests/vm/run.sh" "$bin_dir" >"$out.vm" 2>&1 || {
        cat "$out.vm"
        rm -f "$out.vm"
        exit 1
}
grep -aE '^[a-z0-9_]+=[-0-9.]+' "$root/build/vm/console.log" | tr -d '\r' >"$out"
rm -f "$out.vm"
fi
median() { sort -n | awk '{v[NR] = $1} END {if (NR) printf "%.2f", v[int((NR + 1) / 2)]}'; }
echo "host_loadavg_before=$(cut -d' ' -f1-3 /proc/loadavg | tr ' ' /)" >>"$out"
rounds=${BENCH_ROUNDS:-5}
i=0
: >"$out.h"
old=${BENCH_OLD:-}
p50p90() { "$@" | sed -n 's/^x_start_p50_ms=\(.*\)/\1/p; s/^x_start_p90_ms=\(.*\)/\1/p' | tr '\n' ' '; }
# (The new binary's per-start CPU time is in the trace run's output below.)
while [ $i -lt "$rounds" ]; do
        # Columns: new p50 p90, bare p50 p90, old p50 p90 (or - -).
        iso=$(p50p90 "$bench" --n "$n" --prefix x_)
        bare=$(p50p90 "$bench" --bare --n "$n" --prefix x_)
        o="- -"
        [ -n "$old" ] && o=$(p50p90 "$old" --n "$n" --prefix x_)
        echo $iso $bare $o >>"$out.h" # unquoted: one space between fields
        i=$((i + 1))
done
echo "host_rounds=$rounds (p50s new/bare$([ -n "$old" ] && echo /old): $(awk '{printf "%s%s/%s%s", (NR > 1 ? " " : ""), $1, $3, ($5 != "-" ? "/" $5 : "")}' "$out.h"))" >>"$out"
echo "host_start_p50_ms=$(cut -d' ' -f1 "$out.h" | median)" >>"$out"
echo "host_start_p90_ms=$(cut -d' ' -f2 "$out.h" | median)" >>"$out"
echo "host_bare_start_p50_ms=$(cut -d' ' -f3 "$out.h" | median)" >>"$out"
echo "host_bare_start_p90_ms=$(cut -d' ' -f4 "$out.h" | median)" >>"$out"
echo "host_overhead_p50_ms=$(awk '{printf "%.2f\n", $1 - $3}' "$out.h" | median)" >>"$out"
if [ -n "$old" ]; then
        echo "host_old_start_p50_ms=$(cut -d' ' -f5 "$out.h" | median)" >>"$out"
        echo "host_old_start_p90_ms=$(cut -d' ' -f6 "$out.h" | median)" >>"$out"
        echo "host_old_overhead_p50_ms=$(awk '{printf "%.2f\n", $5 - $3}' "$out.h" | median)" >>"$out"
fi
"$bench" --trace --n "$n" --prefix host_trace_ | grep '^host_trace_\(step\|child_cpu\)' | sed 's/  #.*//' >>"$out"
"$bench" --no-template --n "$n" --prefix host_no_template_ | grep '^host_no_template_\(start_p50\|child_cpu\)' >>"$out"
"$bench" --bare --n "$n" --prefix host_bare_ | grep '^host_bare_child_cpu' >>"$out"
echo "host_loadavg_after=$(cut -d' ' -f1-3 /proc/loadavg | tr ' ' /)" >>"$out"
rm -f "$out.h"
if [ "${BENCH_RUNC:-1}" = 1 ]; then
        "$root/scripts/deps.sh" runc busybox-static >/dev/null
        probe="$(dirname "$bench")/probe"
        ${CC:-cc} -O2 -Wall -Werror -o "$probe" "$root/tests/vm/probe.c"
        rt=$(mktemp -d /tmp/drover-runc-XXXXXX)
        mkdir -p "$rt/bundle/rootfs/bin" "$rt/state"
        cp /bin/busybox "$rt/bundle/rootfs/bin/busybox"
        ln -s busybox "$rt/bundle/rootfs/bin/true"
        chmod 755 "$rt"
        chown -R 65534:65534 "$rt"
        as_nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups env -i PATH=/usr/sbin:/usr/bin:/bin "$@"; }
        (cd "$rt/bundle" && as_nobody runc spec --rootless)
        sed -i 's/"terminal": true/"terminal": false/; s/"sh"$/"\/bin\/true"/' "$rt/bundle/config.json"
        echo "runc_loadavg_before=$(cut -d' ' -f1-3 /proc/loadavg | tr ' ' /)" >>"$out"
        if r=$(as_nobody "$probe" time "${BENCH_RUNC_N:-20}" -- /usr/sbin/runc --root "$rt/state" run --bundle "$rt/bundle" drover-bench); then
                echo "runc_p50_ms=$(echo "$r" | sed -n 's/^p50_ms=//p')" >>"$out"
                echo "runc_runs=${BENCH_RUNC_N:-20} (rootless, as nobody; no cgroups)" >>"$out"
        else
                echo "runc_p50_ms=failed" >>"$out"
        fi
        echo "runc_loadavg_after=$(cut -d' ' -f1-3 /proc/loadavg | tr ' ' /)" >>"$out"
        rm -rf "$rt"
        awk -F= '/^host_start_p50_ms=/{a=$2} /^runc_p50_ms=/{b=$2} END{if (a && b + 0 > 0) printf "host_start_vs_runc_ratio=%.3f\n", a/b}' "$out" >>"$out"
fi
awk -F= '/^cycle_p50_ms=/{a=$2} /^crun_cycle_p50_ms=/{b=$2} END{if (a && b) printf "start_vs_crun_ratio=%.2f\n", a/b}' "$out" >>"$out.r"
cat "$out.r" >>"$out"
rm -f "$out.r"
sed -n 's/^crun_cycle_p50_ms=/crun_p50_ms=/p' "$out" >"$out.c"
cat "$out.c" >>"$out"
rm -f "$out.c"
cat "$out"
if [ "${BENCH_NO_RECORD:-0}" != 1 ]; then
        {
                printf '\n### start run: %s\n\n' "$header"
                if [ "${BENCH_VM:-1}" = 1 ]; then
                        printf 'VM: qemu (%s), Debian kernel, cgroup v2; %s starts each (crun: crun_runs). runc on this host: rootless, as nobody, so it creates no cgroup in the host'"'"'s v1 hierarchy.\n\n' \
                                "$([ -w /dev/kvm ] && echo kvm || echo software emulation)" "$n"
                else
                        printf 'Host part only (BENCH_VM=0); %s starts per round; runc rootless, as nobody (no cgroup in the host'"'"'s v1 hierarchy).\n\n' "$n"
                fi
                echo '```'
                cat "$out"
                echo '```'
        } >>"$root/bench/RESULTS.md"
        echo "figures appended to bench/RESULTS.md"
fi
