#!/bin/bash
# drover operator snapshot save / restore of a large state on loopback: one -dev
# server (real Raft, log on disk), one fake node registered through the API and one
# placed allocation; the saved snapshot is grown offline (snapshot_grow.py) to
# SNAP_ALLOCS allocations (default 25,000: a body past the 16 MiB request limit),
# restored with `drover operator snapshot restore` within 300 s, saved again and
# compared: every allocation is there, and what was registered after the save is
# gone. The same snapshot with one allocation broken is refused (400, the reason)
# and changes nothing. Prints the body size and the restore's wall and CPU time
# (the CLI's and the server's), and the longest stall of the server's loop meanwhile
# (loop_probe.py).
# SNAP_JOBS (default 0): as many more jobs in the grown snapshot.
# Usage: tests/integration/snapshot.sh BIN_DIR
# Ports: DROVER_TEST_PORT_BASE (default 31500) to +479.
set -u
BIN=$(cd "${1:-build/bin}" && pwd)
HERE=$(cd "$(dirname "$0")" && pwd)
WORK=$(mktemp -d /tmp/drover-snapshot-XXXXXX)
. "$HERE/lib.sh"
setup_run 31500
N=${SNAP_ALLOCS:-25000}

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
alloc_count() { python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["State"]["Allocs"]))' "$1" 2>/dev/null; }

start_server || exit 1
printf '{"Node":{"ID":"00000000-0000-4000-8000-000000000001","SecretID":"s","Name":"sn-1","Datacenter":"dc1","Status":"ready","NodeResources":{"Cpu":{"CpuShares":10000000},"Memory":{"MemoryMB":10000000},"Disk":{"DiskMB":10000000}},"Drivers":{"raw_exec":{"Detected":true,"Healthy":true}}}}' |
        curl -s -m 5 -o /dev/null -X PUT --data-binary @- "$ADDR/v1/node/register"
raw_job seed "sleep 1000" >"$WORK/seed.hcl"
"$BIN/drover" job run -detach "$WORK/seed.hcl" >/dev/null
wait_for 20 sh -c "curl -s $ADDR/v1/job/seed/allocations | grep -q '\"ID\"'" || fail "the seed job is placed"

"$BIN/drover" operator snapshot save "$WORK/small.snap" >/dev/null || fail "snapshot save"
python3 "$HERE/snapshot_grow.py" "$WORK/small.snap" "$WORK/big.snap" "$N" "$WORK/broken.snap" || fail "grow the snapshot"
SIZE=$(stat -c %s "$WORK/big.snap")
log "snapshot of $(alloc_count "$WORK/big.snap") allocations: $SIZE bytes"

raw_job later "sleep 1000" >"$WORK/later.hcl"
"$BIN/drover" job run -detach "$WORK/later.hcl" >/dev/null || fail "register a job after the save"

# a broken snapshot: 400 with the reason, nothing changed
if "$BIN/drover" operator snapshot restore "$WORK/broken.snap" >"$WORK/broken.out" 2>&1; then
        fail "a snapshot with a broken allocation is refused"
elif grep -q "400" "$WORK/broken.out" && grep -q "snapshot" "$WORK/broken.out" &&
        curl -s "$ADDR/v1/job/later" | grep -q '"ID":"later"'; then
        pass "a snapshot with a broken allocation is refused ($(head -c 160 "$WORK/broken.out")) and changes nothing"
else
        fail "a broken snapshot: $(cat "$WORK/broken.out")"
fi

# the longest stall of the server's loop while it restores (loop_probe.py)
rm -f "$WORK/probe.stop"
python3 "$HERE/loop_probe.py" "$ADDR" "$WORK/probe.stop" >"$WORK/probe.out" 2>&1 &
probe_pid=$!
c0=$(cpu_ticks "$server_pid")
t0=$(date +%s%N)
if timeout 300 /usr/bin/time -f '%U %S' -o "$WORK/cli.time" "$BIN/drover" operator snapshot restore "$WORK/big.snap" \
        >"$WORK/restore.out" 2>&1; then
        t1=$(date +%s%N)
        c1=$(cpu_ticks "$server_pid")
        touch "$WORK/probe.stop"
        wait "$probe_pid"
        log "during the restore: $(cat "$WORK/probe.out")"
        hz=$(getconf CLK_TCK)
        log "restore: wall $(((t1 - t0) / 1000000)) ms; server CPU $(((c1 - c0) * 1000 / hz)) ms; CLI user+sys $(awk '{print ($1 + $2) * 1000}' "$WORK/cli.time") ms; load $(cut -d' ' -f1 /proc/loadavg)"
        grep -o 'snapshot restore: .*' "$WORK/server.log" | tail -1
        "$BIN/drover" operator snapshot save "$WORK/again.snap" >/dev/null || fail "save after the restore"
        got=$(alloc_count "$WORK/again.snap")
        if [ "$got" = "$N" ] && ! curl -s "$ADDR/v1/jobs" | grep -q '"ID":"later"'; then
                pass "a $SIZE-byte snapshot of $N allocations restored: $got allocations saved again, the job registered after the save gone"
        else
                fail "after the restore: $got allocations (want $N); jobs: $(curl -s "$ADDR/v1/jobs" | head -c 300)"
        fi
else
        touch "$WORK/probe.stop"
        fail "restore of $SIZE bytes: $(head -c 400 "$WORK/restore.out")"
fi
curl -fs "$ADDR/v1/status/leader" >/dev/null && pass "the server still answers" || fail "the server still answers"

# Lists are built off the loop: while 4 lists of every allocation are fetched at once,
# the loop answers within half the time the quickest list took (on the loop, each
# list stalled it for its whole build).
rm -f "$WORK/probe.stop"
python3 "$HERE/loop_probe.py" "$ADDR" "$WORK/probe.stop" >"$WORK/lists_probe.out" 2>&1 &
probe_pid=$!
sleep 0.2
list_pids=()
for k in 1 2 3 4; do
        curl -s -m 120 -o "$WORK/allocs.$k" -w '%{time_total}\n' "$ADDR/v1/allocations" >"$WORK/list_time.$k" &
        list_pids+=($!)
done
wait "${list_pids[@]}"
touch "$WORK/probe.stop"
wait "$probe_pid"
list_min_ms=$(cat "$WORK"/list_time.* | awk 'NR == 1 || $1 < m { m = $1 } END { printf "%d", m * 1000 }')
stall_ms=$(sed -n 's/.*max_ms=\([0-9.]*\).*/\1/p' "$WORK/lists_probe.out" | cut -d. -f1)
count=$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))))' "$WORK/allocs.1" 2>/dev/null)
if [ "$count" = "$N" ] && [ -n "$stall_ms" ] && [ "$list_min_ms" -gt 0 ] && [ $((stall_ms * 2)) -lt "$list_min_ms" ]; then
        pass "4 lists of $N allocations at once: each took ${list_min_ms} ms or more, the loop stalled ${stall_ms} ms at most ($(cat "$WORK/lists_probe.out"))"
else
        fail "lists off the loop: $count allocations listed (want $N), the quickest list ${list_min_ms} ms, the loop's longest stall ${stall_ms:-?} ms ($(cat "$WORK/lists_probe.out"))"
fi

log "snapshot.sh: $passed passed, $failed failed"
[ "$failed" = 0 ]
