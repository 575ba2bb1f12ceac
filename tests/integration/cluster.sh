#!/bin/bash
# Integration tests of a 3-server control plane on 127.0.0.1: leader election, failover
# time, writes through random servers while the leader is killed twice and restarted
# (CLUSTER_JOBS jobs, default 300, the issue's 1,000 below, 8 writers, with 3 fake nodes heartbeating: every
# 2xx-acknowledged job present on every server afterwards with exactly one allocation
# placed, no node overcommitted: tests/integration/cluster_check.py), a full stop and restart
# keeping the state, a frozen follower catching up, consistent and ?stale reads through
# followers, operator snapshot save/restore, a wiped server brought up to date by a
# snapshot, `drover operator raft remove-peer` of a follower (2 voters commit; the
# server, wiped, rejoins), SIGTERM with writes in flight under AddressSanitizer (when an ASan build of
# drover-server exists: CLUSTER_ASAN_SERVER, default build/asan/bin/drover-server; `make
# server-asan` builds it), scheduler workers on followers, garbage collection of many
# finished batch jobs (CLUSTER_GC_JOBS, default 200; the issue's 10,000 run separately:
# tests/integration/cluster_gc.sh).
# Usage: tests/integration/cluster.sh BIN_DIR   (run by tests/integration/run.sh)
# Every loop is bounded in count and time; every process started here is stopped on exit.
# The history of test (1)'s requests and answers is kept in $CLUSTER_HISTORY (default
# build/cluster-history.tsv next to BIN_DIR) for offline checks: one request a line,
# tab-separated: time, server, request (method, path, body), HTTP code, answer body,
# seconds the answer took.
# Ports: CLUSTER_PORT_BASE (else DROVER_TEST_PORT_BASE, else 29000) .. +249.
# CLUSTER_KEEP=1 keeps the work directory (the servers' logs s0.log..s2.log and data dirs).
set -u
RM_WORK=$(cd "$(dirname "${BASH_SOURCE[0]}")/../support" && pwd)/rm_work.sh # rm -rf that first detaches mounts
BIN=$(cd "${1:-build/bin}" && pwd)
WORK=$(mktemp -d /tmp/drover-cluster-XXXXXX)
HISTORY=${CLUSTER_HISTORY:-$BIN/../cluster-history.tsv}
# Test (1)'s size: CLUSTER_JOBS (default 300), sent by CLUSTER_WRITERS (8) threads of
# tests/integration/cluster_writes.py, paced over 4/5 of CLUSTER_WRITES_TIMEOUT (150 s),
# which ends the writes in any case: test (1) takes about 120 s whatever the count.
# The issue's 1,000 (CLUSTER_JOBS=1000) is not the default. Measured on the 2-core CI
# host (2026-12-03, shared, load 6-22): the whole script took 338 s (88 s CPU, 16
# passed) at 300 and 543 s (152 s CPU) at 1,000, where test (1) passes (851 and 854 of
# 1,000 acknowledged, each on every server) and so do the full restart and the wiped
# server. Since session 25 the restore is built on the pool and swapped in (the
# 1,000-job state: 1.85-2.9 s on the pool, 0.1-1.8 ms on the loop; before, a 2.2-2.8 s
# stall lost the leadership). At 1,000 the test of followers' scheduler workers (54-62
# of 90 placed) and the GC test after it (none placed) failed until session 26: the
# nodes' disk (a fixed 100,000 MB, 333 allocations of the default 300 MB ephemeral disk
# a node) was full with test (1)'s allocations, which the restored state brings back
# (evaluations: DimensionExhausted {"disk": 3}); the disk is now sized from the job
# counts (NODE_DISK), and at 1,000 all 16 pass (2026-12-03, load ~5).
JOBS=${CLUSTER_JOBS:-300}
# A port is free when no socket of any state uses it locally: the range is inside the
# kernel's ephemeral one, so an outgoing connection may hold it (connecting would not tell).
. "$(dirname "$0")/../support/ports.sh" # port_free, pick_port, pick_servers
pick_servers "${CLUSTER_PORT_BASE:-${DROVER_TEST_PORT_BASE:-29000}}" 220 3 5 6 7 8 # P, http, raft, JOIN; and P+5..P+8
passed=0
failed=0
pids=("" "" "")
lone=""
beater="" # the fake nodes' heartbeats, from the writes of test (1) to the end

cleanup() {
        for i in 0 1 2; do
                [ -n "${pids[$i]}" ] && kill -CONT "${pids[$i]}" 2>/dev/null && kill -9 "${pids[$i]}" 2>/dev/null
        done
        [ -n "$lone" ] && kill -9 "$lone" 2>/dev/null
        [ -n "$beater" ] && kill "$beater" 2>/dev/null
        wait 2>/dev/null
        if [ -n "${CLUSTER_KEEP:-}" ]; then
                log "cluster: logs and data kept in $WORK (CLUSTER_KEEP)"
        else
                "$RM_WORK" "$WORK"
        fi
}
trap cleanup EXIT

log() { printf '%s\n' "$*"; }
pass() { passed=$((passed + 1)); log "PASS: cluster: $1"; }
fail() {
        failed=$((failed + 1))
        log "FAIL: cluster: $1"
        for i in 0 1 2; do log "--- server $i (last 15 lines)"; tail -n 15 "$WORK/s$i.log"; done
}

wait_for() { # wait_for SECONDS COMMAND...: bounded by the wall clock, however slow COMMAND is
        local end=$((SECONDS + $1))
        shift
        until "$@" >/dev/null 2>&1; do
                [ $SECONDS -ge $end ] && return 1
                sleep 0.1
        done
}

start() { # start I [SERVER_BINARY]
        "${2:-$BIN/drover-server}" -data-dir "$WORK/d$1" -http-addr "$(http "$1")" -raft-addr "$(raft "$1")" \
                -bootstrap-expect 3 -join "$JOIN" -num-schedulers 1 -raft-snapshot-threshold 64 \
                >>"$WORK/s$1.log" 2>&1 &
        pids[$1]=$!
}
stop() { # stop I SIGNAL
        [ -n "${pids[$1]}" ] || return 0
        kill "-$2" "${pids[$1]}" 2>/dev/null
        wait "${pids[$1]}" 2>/dev/null
        pids[$1]=""
}
leader_of() { curl -s -m 2 "http://$(http "$1")/v1/status/leader" | tr -d '"'; }
# the index of the leader as server I sees it, or nothing
leader_idx() {
        local l
        l=$(leader_of "$1")
        for k in 0 1 2; do [ "$l" = "$(raft $k)" ] && echo "$k"; done
}
all_agree() { # every running server names the same leader
        local first="" l
        for i in 0 1 2; do
                [ -n "${pids[$i]}" ] || continue
                l=$(leader_of "$i")
                [ -n "$l" ] || return 1
                [ -z "$first" ] && first=$l
                [ "$l" = "$first" ] || return 1
        done
}
job_json() { # job_json ID
        printf '{"Job":{"ID":"%s","Type":"batch","TaskGroups":[{"Name":"g","Tasks":[{"Name":"t","Driver":"raw_exec","Config":{"command":"/bin/true"}}]}]}}' "$1"
}
job_ids() { curl -s -m 5 "http://$(http "$1")/v1/jobs?stale" | grep -o '"ID":"cj-[0-9]*"' | cut -d'"' -f4 | sort -u; }
# Checks of what a server holds read with ?stale: its own state, not the leader's.
digest() { # the jobs, allocations and evaluations of server I: IDs, statuses and modify indexes
        for p in jobs allocations evaluations; do
                curl -s -m 5 "http://$(http "$1")/v1/$p?stale" |
                        grep -o '"ID":"[^"]*"\|"ModifyIndex":[0-9]*\|"Status":"[^"]*"\|"ClientStatus":"[^"]*"' | sort
        done | sha256sum | cut -c1-16
}

log "== drover cluster tests (work dir $WORK, servers on $JOIN)"

# --- formation ----------------------------------------------------------------------
for i in 0 1 2; do start $i; done
if wait_for 30 all_agree && [ -n "$(leader_idx 0)" ]; then
        pass "3 servers with -bootstrap-expect 3 elect one leader ($(leader_of 0)); all agree"
else
        fail "3 servers with -bootstrap-expect 3 elect one leader"
        log "$passed passed, $failed failed"
        exit 1
fi
peers=$(curl -s -m 2 "http://$(http 1)/v1/status/peers" | grep -o '"127.0.0.1:[0-9]*"' | wc -l)
voters=$(curl -s -m 2 "http://$(http 2)/v1/operator/raft/configuration" | grep -o '"Voter":true' | wc -l)
lp=$("$BIN/drover" -address="http://$(http 0)" operator raft list-peers)
# Node ID Address State Voter RaftProtocol, then Last Contact ("12ms", "0s (leader)") and Last Index
lp_rows=$(echo "$lp" | awk '$5 == "true" && $NF ~ /^[0-9]+$/ && ($7 ~ /^[0-9]+ms$/ || $0 ~ / 0s \(leader\) /)' | wc -l)
if [ "$peers" = 3 ] && [ "$voters" = 3 ] && [ "$lp_rows" = 3 ]; then
        pass "/v1/status/peers, /v1/operator/raft/configuration and list-peers show 3 voters; list-peers with each one's last contact and index"
else
        fail "3 voters in /v1/status/peers ($peers), the configuration ($voters) and list-peers with contact and index ($lp_rows): $(echo "$lp" | tr '\n' '|')"
fi

# --- failover time (and the scheduler configuration kept across it) ----------------------
L=$(leader_idx 0)
O=$(((L + 1) % 3))
sc_put=$(curl -s -m 5 -X PUT "http://$(http "$L")/v1/operator/scheduler/configuration" \
        -d '{"SchedulerAlgorithm":"spread","PreemptionConfig":{"ServiceSchedulerEnabled":true}}')
t0=$(date +%s%N)
stop "$L" 9
new=""
for _ in $(seq 1 200); do # 20 s at most
        new=$(leader_idx "$O")
        [ -n "$new" ] && [ "$new" != "$L" ] && break
        new=""
        sleep 0.1
done
ms=$((($(date +%s%N) - t0) / 1000000))
log "leader election after SIGKILL of the leader: ${ms} ms"
if [ -n "$new" ] && [ "$ms" -lt 5000 ]; then
        pass "SIGKILL of the leader: server $new leads after ${ms} ms (< 5000)"
else
        fail "SIGKILL of the leader: no new leader within 5 s (${ms} ms)"
fi
sc_get=$(curl -s -m 5 "http://$(http "${new:-$O}")/v1/operator/scheduler/configuration")
if echo "$sc_put" | grep -q '"Updated":true' && echo "$sc_get" | grep -q '"SchedulerAlgorithm":"spread"' &&
        echo "$sc_get" | grep -q '"ServiceSchedulerEnabled":true'; then
        pass "the scheduler configuration set on the old leader is the new leader's (replicated state)"
else
        fail "scheduler configuration across a leader change: PUT $sc_put; new leader's GET $sc_get"
fi
# The new leader started its duties (broker, blocked evals, heartbeat timers, periodic
# jobs) only after a Raft barrier applied everything the old leader committed.
barrier_line() { grep -m1 'this server is now the leader' "$WORK/s${new:-$O}.log"; }
wait_for 10 barrier_line
b_idx=$(barrier_line | grep -o 'barrier at index [0-9]*' | grep -o '[0-9]*$')
sc_idx=$(echo "$sc_put" | grep -o '"Index":[0-9]*' | grep -o '[0-9]*$')
elected_ln=$(grep -n -m1 'waiting for a barrier before the leader duties' "$WORK/s${new:-$O}.log" | cut -d: -f1)
duties_ln=$(grep -n -m1 'this server is now the leader' "$WORK/s${new:-$O}.log" | cut -d: -f1)
if [ -n "$b_idx" ] && [ -n "$elected_ln" ] && [ "$elected_ln" -lt "$duties_ln" ] && [ "$b_idx" -gt "${sc_idx:-0}" ]; then
        pass "the new leader started its duties from a Raft barrier (index $b_idx, after the old leader's last write at ${sc_idx:-?})"
else
        fail "leadership barrier: elected at log line '$elected_ln', duties at '$duties_ln', barrier index '$b_idx', last write '$sc_idx'"
fi
start "$L"
if wait_for 20 sh -c "[ \"\$(curl -s -m 2 http://$(http "$L")/v1/status/leader)\" = '\"$(raft "$new")\"' ]"; then
        pass "the killed server restarts and follows the new leader"
else
        fail "the killed server restarts and follows the new leader"
fi

# --- writes through random servers while the leader is killed twice and restarted -------
# Three fake nodes, sized so the jobs fill about 90% of them (CLUSTER_JOBS x 20 MHz and
# 16 MB against 3 x 7,500 MHz and 6,000 MB at 1,000 jobs), heartbeat every 2 s through
# whichever server answers, from here to the end of the script: every registration is
# placed by a plan committed while the leader dies (work in flight at each kill).
NODE_CPU=$(((JOBS * 20 / 3 * 10 / 9 + 99) / 100 * 100))
NODE_MEM=$(((JOBS * 16 / 3 * 10 / 9 + 99) / 100 * 100))
# Disk: every allocation of this script asks Nomad's default ephemeral disk (300 MB),
# and test (1)'s stay to the end (the restored snapshot brings them back) beside the
# 90 of the followers' workers test and the GC test's GC_JOBS: each node has room for
# all of them. (A fixed 100,000 MB held 333 a node: at CLUSTER_JOBS=1000 the 854
# acknowledged jobs and the 90 filled the nodes' disk, and the GC test placed none.)
GC_JOBS=${CLUSTER_GC_JOBS:-200}
NODE_DISK=$(((JOBS + 90 + GC_JOBS) * 300))
FAKE_NODES=00000000-0000-4000-8000-000000000001,00000000-0000-4000-8000-000000000002,00000000-0000-4000-8000-000000000003
register_nodes() { # register_nodes CPU MEMORY_MB: the 3 fake nodes (again: their resources change), NODE_DISK MB
        for n in 1 2 3; do
                printf '{"Node":{"ID":"00000000-0000-4000-8000-00000000000%d","SecretID":"s","Name":"cn-%d","Datacenter":"dc1","Status":"ready","NodeResources":{"Cpu":{"CpuShares":%d},"Memory":{"MemoryMB":%d},"Disk":{"DiskMB":%d}},"Drivers":{"raw_exec":{"Detected":true,"Healthy":true}}}}' "$n" "$n" "$1" "$2" "$NODE_DISK" |
                        curl -s -m 5 -o /dev/null -X PUT --data-binary @- "http://$(http $((n % 3)))/v1/node/register"
        done
}
beat() { # each fake node heartbeats through the first server that answers 2xx
        local n i
        for n in 1 2 3; do
                for i in 0 1 2; do
                        curl -s -m 2 -o /dev/null -w '%{http_code}' -X PUT -d '{"SecretID":"s"}' \
                                "http://$(http $i)/v1/node/00000000-0000-4000-8000-00000000000$n/heartbeat" | grep -q '^2' && break
                done
        done
}
register_nodes "$NODE_CPU" "$NODE_MEM"
# ... every 2 s until the end (a node marked down loses its allocations: their
# replacements would be counted as placed twice, and as growth the GC cannot undo)
(for _ in $(seq 1 900); do beat; sleep 2; done) &
beater=$!
downs0=$(cat "$WORK"/s?.log | grep -c "missed its heartbeat")
: >"$HISTORY"
WRITERS=${CLUSTER_WRITERS:-8}
t_start=$SECONDS
BUDGET=${CLUSTER_WRITES_TIMEOUT:-150}
# the writers: tests/integration/cluster_writes.py (kept-alive connections, the jobs
# paced over 4/5 of the budget; the history line of each answer written at once)
python3 "$(dirname "$0")/cluster_writes.py" --servers "$(http 0),$(http 1),$(http 2)" --jobs "$JOBS" \
        --history "$HISTORY" --writers "$WRITERS" --timeout "$BUDGET" --spread $((BUDGET * 4 / 5)) >"$WORK/writes.out" 2>&1 &
writes=$!
# The leader is SIGKILLed at 1/5 and 3/5 of the jobs (or of the time budget, whichever
# comes first), the killed server restarted at 2/5 and 4/5.
killed=""
phase=1
while [ $phase -le 4 ] && kill -0 "$writes" 2>/dev/null; do
        done_n=$(wc -l <"$HISTORY")
        if [ "$done_n" -ge $((JOBS * phase / 5)) ] || [ $((SECONDS - t_start)) -ge $((BUDGET * phase / 5)) ]; then
                if [ $((phase % 2)) = 1 ]; then
                        killed=$(leader_idx $(((${killed:-0} + 1) % 3)))
                        [ -n "$killed" ] && stop "$killed" 9 && log "  (job $done_n, $((SECONDS - t_start)) s: leader $killed SIGKILLed)"
                else
                        [ -n "$killed" ] && start "$killed" && log "  (job $done_n, $((SECONDS - t_start)) s: server $killed restarted)"
                fi
                phase=$((phase + 1))
        fi
        sleep 0.5
done
wait "$writes"
writes_s=$((SECONDS - t_start))
for i in 0 1 2; do [ -n "${pids[$i]}" ] || start $i; done
acked=$(awk -F'\t' '$4 ~ /^2/ {print $3}' "$HISTORY" | grep -o '"ID":"cj-[0-9]*"' | cut -d'"' -f4 | sort -u)
n_acked=$(echo "$acked" | grep -c .)
n_sent=$(wc -l <"$HISTORY")
# requests to the killed server get no answer (000); of those a live server answered, most must be acknowledged
n_answered=$(awk -F'\t' '$4 != "000"' "$HISTORY" | wc -l)
log "  $n_sent registrations sent in ${writes_s} s by $WRITERS writers ($(tr '\n' ' ' <"$WORK/writes.out"); load $(cut -d' ' -f1 /proc/loadavg); median answer $(cut -f6 "$HISTORY" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}') s); nodes of $NODE_CPU MHz, $NODE_MEM MB"
has_all() { # has_all I: every acknowledged job is on server I
        [ -z "$(comm -23 <(echo "$acked") <(job_ids "$1"))" ]
}
if [ "$n_acked" -gt $((n_answered / 2)) ] && wait_for 30 has_all 0 && wait_for 10 has_all 1 && wait_for 10 has_all 2; then
        pass "$n_acked of $n_sent registrations through random servers got 2xx while the leader was killed twice; every one is on all 3 servers (history: $HISTORY)"
else
        for i in 0 1 2; do log "server $i misses: $(comm -23 <(echo "$acked") <(job_ids $i) | tr '\n' ' ')"; done
        fail "$n_acked of $n_sent registrations acknowledged ($n_answered answered by a live server; more than half of those must be), or some not on all 3 servers"
fi
check_out=$(python3 "$(dirname "$0")/cluster_check.py" --history "$HISTORY" --servers "$(http 0),$(http 1),$(http 2)" \
        --nodes "$FAKE_NODES" --timeout 90 2>"$WORK/check.err")
check_rc=$?
downs=$(($(cat "$WORK"/s?.log | grep -c "missed its heartbeat") - downs0))
if [ $check_rc = 0 ] && [ "$downs" = 0 ]; then
        pass "every acknowledged job has exactly one allocation, placed and live, on all 3 servers; no allocation name twice; no node overcommitted ($(echo "$check_out" | tr '\n' ' '); $(grep -c . "$WORK/check.err") node readings)"
else
        tail -n 6 "$WORK/check.err"
        fail "placements after the writes: $(echo "$check_out" | tr '\n' ' '); nodes marked down meanwhile: $downs"
fi

# --- all three stopped and restarted keep their state ----------------------------------
stable() { # the digest of server 0 does not move for 2 s, and the others have it too
        local a b
        a=$(digest 0)
        sleep 2
        b=$(digest 0)
        [ "$a" = "$b" ] && [ "$(digest 1)" = "$a" ] && [ "$(digest 2)" = "$a" ]
}
wait_for 30 stable
before=$(digest 0)
for i in 0 1 2; do stop $i TERM; done
for i in 0 1 2; do start $i; done
same() { wait_for 1 all_agree && [ "$(digest 0)" = "$before" ] && [ "$(digest 1)" = "$before" ] && [ "$(digest 2)" = "$before" ]; }
if wait_for 30 same; then
        pass "all 3 servers stopped and restarted: the digest of jobs, allocations and evaluations is the same ($before)"
else
        fail "restart of all 3: digest before $before, after $(digest 0) $(digest 1) $(digest 2)"
fi

# --- a follower frozen for 10 s catches up -----------------------------------------------
wait_for 20 all_agree
L=$(leader_idx 0)
F=$(((L + 1) % 3))
W=$(((L + 2) % 3))
kill -STOP "${pids[$F]}"
frozen_ok=1
for n in $(seq 1 20); do
        code=$(job_json "cj-frozen-$n" | curl -s -m 5 -o /dev/null -w '%{http_code}' -X PUT --data-binary @- \
                "http://$(http $W)/v1/jobs")
        [ "${code:0:1}" = 2 ] || frozen_ok=0
done
sleep $((10 - 2))
kill -CONT "${pids[$F]}"
frozen_count() { [ "$(curl -s -m 5 "http://$(http "$F")/v1/jobs?stale" | grep -o '"ID":"cj-frozen-[0-9]*"' | sort -u | wc -l)" = 20 ]; }
if [ $frozen_ok = 1 ] && wait_for 15 frozen_count; then
        pass "a follower SIGSTOPped for 10 s catches up after SIGCONT (20 jobs written meanwhile)"
else
        fail "a follower SIGSTOPped for 10 s catches up after SIGCONT (writes ok: $frozen_ok)"
fi

# --- a server whose data dir was wiped rejoins and gets a snapshot ---------------------------
wait_for 20 all_agree
L=$(leader_idx 0)
F=$(((L + 1) % 3))
W=$(((L + 2) % 3))
stop "$F" 9
"$RM_WORK" "$WORK/d$F"
# more entries than the snapshot threshold (64) plus the log kept after it (32): the
# leader no longer has the entries the wiped server lacks, only a snapshot
for n in $(seq 1 60); do
        job_json "cj-wipe-$n" | curl -s -m 5 -o /dev/null -X PUT --data-binary @- "http://$(http $W)/v1/jobs"
done
start "$F"
restored_count() { curl -s -m 2 "http://$(http "$1")/v1/internal/raft/self" | grep -o '"SnapshotsRestored":[0-9]*' | cut -d: -f2; }
caught_up() {
        [ "$(curl -s -m 5 "http://$(http "$F")/v1/jobs?stale" | grep -o '"ID":"cj-wipe-[0-9]*"' | sort -u | wc -l)" = 60 ] &&
                [ "$(digest "$F")" = "$(digest "$L")" ]
}
wiped_ok=0
wait_for 30 caught_up && wiped_ok=1
RESTORED=$(restored_count "$F")
if [ $wiped_ok = 1 ] && [ "${RESTORED:-0}" -ge 1 ]; then
        pass "server $F with its data dir wiped rejoins: the leader's snapshot brought it up to date (SnapshotsRestored=$RESTORED, digest $(digest "$F") as the leader's)"
else
        fail "wiped server $F rejoins: 60 jobs written meanwhile: $(curl -s -m 5 "http://$(http "$F")/v1/jobs?stale" | grep -o '"ID":"cj-wipe-[0-9]*"' | sort -u | wc -l); snapshots restored: $(restored_count "$F")"
fi

# --- drover operator raft remove-peer: a follower removed, 2 voters commit, it rejoins wiped ---
wait_for 20 all_agree
L=$(leader_idx 0)
F=$(((L + 1) % 3))
W=$(((L + 2) % 3))
stop "$F" TERM
rp_out=$("$BIN/drover" -address="http://$(http $W)" operator raft remove-peer -peer-address="$(raft "$F")" 2>&1)
rp_rc=$?
peers_out=$("$BIN/drover" -address="http://$(http $W)" operator raft list-peers 2>&1)
rp_voters=$(echo "$peers_out" | awk '$5 == "true"' | wc -l)
rp_code=$(job_json "cj-rp-1" | curl -s -m 10 -o /dev/null -w '%{http_code}' -X PUT --data-binary @- "http://$(http $W)/v1/jobs")
"$RM_WORK" "$WORK/d$F"
start "$F"
rejoined() {
        [ "$(curl -s -m 2 "http://$(http "$L")/v1/operator/raft/configuration" | grep -o '"Voter":true' | wc -l)" = 3 ] &&
                curl -s -m 5 "http://$(http "$F")/v1/jobs?stale" | grep -q '"ID":"cj-rp-1"' &&
                [ "$(digest "$F")" = "$(digest "$L")" ]
}
if [ $rp_rc = 0 ] && [ "$rp_voters" = 2 ] && ! echo "$peers_out" | grep -q "$(raft "$F")" &&
        [ "${rp_code:0:1}" = 2 ] && wait_for 40 rejoined; then
        pass "remove-peer of follower $F ($rp_out): list-peers shows 2 voters, a write commits (HTTP $rp_code); the server, wiped, rejoins as a voter and has the state (digest $(digest "$F"))"
else
        fail "remove-peer: '$rp_out' (rc $rp_rc); voters in list-peers $rp_voters: $(echo "$peers_out" | tr '\n' '|'); write $rp_code; configuration now $(curl -s -m 2 "http://$(http "$L")/v1/operator/raft/configuration" | head -c 600)"
fi

# --- SIGTERM with writes in flight: a clean exit under AddressSanitizer ---------------------
ASAN_SERVER=${CLUSTER_ASAN_SERVER:-$BIN/../asan/bin/drover-server}
if [ -x "$ASAN_SERVER" ]; then
        wait_for 20 all_agree
        L=$(leader_idx 0)
        F=$(((L + 1) % 3))
        stop "$F" TERM
        ASAN_OPTIONS=detect_leaks=0:halt_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 start "$F" "$ASAN_SERVER"
        wait_for 30 sh -c "curl -s -m 2 http://$(http "$F")/v1/internal/raft/self | grep -q '\"Leader\":\"127'"
        writers=()
        for w in 1 2 3 4; do # writes through the ASan server (forwarded to the leader) and to the leader
                (for n in $(seq 1 200); do
                        job_json "cj-term-$w-$n" | curl -s -m 5 -o /dev/null -X PUT --data-binary @- \
                                "http://$(http $([ $((w % 2)) = 0 ] && echo "$F" || echo "$L"))/v1/jobs"
                done) &
                writers+=($!)
        done
        # A join of a server that never answers (a port nothing listens on), through F:
        # F holds it while the leader waits for the new server to catch up (forever).
        FAKE_PORT=$((P + 7))
        join_body="{\"ID\":99,\"Address\":\"127.0.0.1:$FAKE_PORT\",\"HTTPAddr\":\"127.0.0.1:$((P + 8))\"}"
        (curl -s -m 60 -o /dev/null -w '%{http_code}' -X PUT -d "$join_body" \
                "http://$(http "$F")/v1/operator/raft/join" >"$WORK/join-f.code") &
        joiner=$!
        sleep 2
        join_held=0
        kill -0 "$joiner" 2>/dev/null && join_held=1
        kill -TERM "${pids[$F]}"
        wait "${pids[$F]}"
        rc=$?
        pids[$F]=""
        wait "$joiner"
        join_code=$(cat "$WORK/join-f.code")
        for w in "${writers[@]}"; do kill "$w" 2>/dev/null; done
        wait "${writers[@]}" 2>/dev/null
        if [ $rc = 0 ] && [ $join_held = 1 ] && [ "$join_code" = 503 ] &&
                ! grep -q 'AddressSanitizer\|runtime error\|LeakSanitizer' "$WORK/s$F.log"; then
                pass "SIGTERM to server $F (ASan build) with writes and a raft join forwarded through it and pending: exit status 0, the held join answered 503, no AddressSanitizer report"
        else
                fail "SIGTERM with forwarded writes and a pending join under ASan: exit status $rc; join held $join_held, answered '$join_code'; $(grep -m3 'AddressSanitizer\|runtime error\|SUMMARY' "$WORK/s$F.log")"
        fi
        curl -s -m 10 -o /dev/null -X DELETE "http://$(http "$L")/v1/operator/raft/peer?id=99"
        start "$F"
        # The leader's side: a lone ASan server holds a join (a Raft membership change
        # that never completes) and writes (Raft apply callbacks) when SIGTERM comes.
        # Its ports were free when the script began, but an outgoing connection may have
        # taken one since (they are in the kernel's ephemeral range): a server that could
        # not bind exits at once, and is started again on the next free pair.
        LONE="127.0.0.1:$((P + 5))"
        for k in 5 23 25; do
                port_free $((P + k)) && port_free $((P + k + 1)) || continue
                LONE="127.0.0.1:$((P + k))"
                ASAN_OPTIONS=detect_leaks=0:halt_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
                        "$ASAN_SERVER" -data-dir "$WORK/lone" -http-addr "$LONE" -raft-addr "127.0.0.1:$((P + k + 1))" \
                        -num-schedulers 1 >"$WORK/lone.log" 2>&1 &
                lone=$!
                wait_for 30 sh -c "kill -0 $lone 2>/dev/null || exit 0; curl -s -m 2 http://$LONE/v1/status/leader | grep -q 127"
                kill -0 "$lone" 2>/dev/null && break
                log "the lone server exited at start ($(tail -1 "$WORK/lone.log")); next ports"
                wait "$lone"
                rm -rf "$WORK/lone"
        done
        (curl -s -m 60 -o /dev/null -w '%{http_code}' -X PUT -d "$join_body" "http://$LONE/v1/operator/raft/join" \
                >"$WORK/join-lone.code") &
        joiner=$!
        (for n in $(seq 1 300); do
                job_json "cj-lone-$n" | curl -s -m 5 -o /dev/null -X PUT --data-binary @- "http://$LONE/v1/jobs"
        done) &
        lone_writer=$!
        sleep 2
        join_held=0
        kill -0 "$joiner" 2>/dev/null && join_held=1
        kill -TERM "$lone"
        wait "$lone"
        rc=$?
        lone=""
        wait "$joiner"
        join_code=$(cat "$WORK/join-lone.code")
        kill "$lone_writer" 2>/dev/null
        wait "$lone_writer" 2>/dev/null
        if [ $rc = 0 ] && [ $join_held = 1 ] && [ "$join_code" != 000 ] && [ "$join_code" != 200 ] &&
                ! grep -q 'AddressSanitizer\|runtime error\|LeakSanitizer' "$WORK/lone.log"; then
                pass "SIGTERM to a leader (ASan build) holding a raft join and writes: exit status 0, the held join answered $join_code, no AddressSanitizer report"
        else
                fail "SIGTERM to a leader holding a raft join under ASan: exit status $rc; join held $join_held, answered '$join_code'; $(grep -m3 'AddressSanitizer\|runtime error\|SUMMARY\|MHD' "$WORK/lone.log")"
        fi
else
        log "SKIP: cluster: SIGTERM with writes in flight under AddressSanitizer: no ASan build at $ASAN_SERVER (make server-asan)"
fi

# --- reads: consistent by default (a follower asks the leader), ?stale answered locally ---
wait_for 20 all_agree
L=$(leader_idx 0)
F=$(((L + 1) % 3))
W=$(((L + 2) % 3))
ryw=0
for n in $(seq 1 10); do # a write through one follower, read at once through the other
        job_json "cj-ryw-$n" | curl -s -m 5 -o /dev/null -X PUT --data-binary @- "http://$(http $W)/v1/jobs"
        [ "$(curl -s -m 5 -o /dev/null -w '%{http_code}' "http://$(http $F)/v1/job/cj-ryw-$n")" = 200 ] && ryw=$((ryw + 1))
done
hdr=$(curl -s -m 5 -D - -o /dev/null "http://$(http $F)/v1/jobs?stale")
if [ $ryw = 10 ] && echo "$hdr" | grep -qi '^X-Nomad-KnownLeader: true' && echo "$hdr" | grep -qi '^X-Nomad-LastContact: [0-9]'; then
        pass "reads through a follower see the writes just made through the other follower (10/10); ?stale reads carry X-Nomad-KnownLeader and X-Nomad-LastContact"
else
        fail "consistent reads through a follower: $ryw/10 saw the write; headers: $(echo "$hdr" | grep -i x-nomad | tr -d '\r' | tr '\n' ' ')"
fi

# --- drover operator snapshot save / restore -----------------------------------------------
snap_ok=0
if "$BIN/drover" -address="http://$(http $F)" operator snapshot save "$WORK/state.snap" >/dev/null; then
        job_json "cj-after-snapshot" | curl -s -m 5 -o /dev/null -X PUT --data-binary @- "http://$(http $W)/v1/jobs"
        if "$BIN/drover" -address="http://$(http $W)" operator snapshot restore "$WORK/state.snap" >/dev/null; then
                restored() {
                        for i in 0 1 2; do
                                local ids
                                ids=$(curl -s -m 5 "http://$(http $i)/v1/jobs?stale" | grep -o '"ID":"cj-[a-z0-9-]*"')
                                echo "$ids" | grep -q '"cj-ryw-10"' || return 1
                                echo "$ids" | grep -q '"cj-after-snapshot"' && return 1
                        done
                        return 0
                }
                wait_for 15 restored && snap_ok=1
        fi
fi
if [ $snap_ok = 1 ]; then
        pass "operator snapshot save through a follower, restore through another: every server has the saved jobs and not the one registered after the save"
else
        fail "operator snapshot save / restore"
fi

# --- scheduler workers on every server: followers plan evals of the leader's broker ------
wait_for 20 all_agree
register_nodes 100000 100000 # room for every placement below
from_leader() { # evals finished by followers' workers, summed
        local t=0 i v
        for i in 0 1 2; do
                v=$(curl -s -m 2 "http://$(http $i)/v1/internal/raft/self" | grep -o '"FromLeader":[0-9]*' | cut -d: -f2)
                t=$((t + ${v:-0}))
        done
        echo $t
}
fw0=$(from_leader)
# all 30 at once: ready evaluations queue in the leader's broker while its own worker
# plans one (sent one by one, the leader's worker, nearest the broker, may take them all)
fwp=()
for n in $(seq 1 30); do
        printf '{"Job":{"ID":"cj-fw-%d","Type":"batch","TaskGroups":[{"Name":"g","Count":3,"Tasks":[{"Name":"t","Driver":"raw_exec","Config":{"command":"/bin/true"},"Resources":{"CPU":10,"MemoryMB":10}}]}]}}' "$n" |
                curl -s -m 10 -o /dev/null -X PUT --data-binary @- "http://$(http $((n % 3)))/v1/jobs" &
        fwp+=($!)
done
wait "${fwp[@]}" # each bounded by curl -m 10
all_placed() { # the 90 allocations of cj-fw-* on every server
        for i in 0 1 2; do
                [ "$(curl -s -m 5 "http://$(http $i)/v1/allocations?stale" | grep -o '"Name":"cj-fw-[0-9]*\.g\[[0-9]\]"' | sort -u | wc -l)" = 90 ] || return 1
        done
}
if wait_for 30 all_placed && [ "$(from_leader)" -gt "$fw0" ]; then
        pass "30 jobs x 3 placed on every server; followers' workers finished $(($(from_leader) - fw0)) evals meanwhile (taken from the leader's broker, planned on their own state, committed by the leader)"
else
        fail "followers' scheduler workers: placed everywhere: $(all_placed && echo yes || echo no); evals finished by followers: $(($(from_leader) - fw0))"
fi

# --- garbage collection: many short batch jobs run and stop; PUT /v1/system/gc -------------
wait_for 20 all_agree
L=$(leader_idx 0)
L=${L:-0}
downs0=$(cat "$WORK"/s?.log | grep -c "missed its heartbeat")
count() { # count I PATH: the entries of a list read with ?stale from server I
        curl -s -m 10 "http://$(http "$1")/v1/$2?stale" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))' 2>/dev/null
}
counts() { echo "$(count "$1" jobs) $(count "$1" allocations) $(count "$1" evaluations)"; }
snap_size() {
        "$BIN/drover" -address="http://$(http "$L")" operator snapshot save "$WORK/gc.snap" >/dev/null 2>&1 && stat -c %s "$WORK/gc.snap"
}
gc_count() { # gc_count STATUS: gc-* jobs with that status
        curl -s -m 30 "http://$(http "$L")/v1/jobs?prefix=gc-" |
                python3 -c 'import json,sys; print(sum(1 for j in json.load(sys.stdin) if j["Status"] == sys.argv[1]))' "$1"
}
beat
wait_for 10 stable
c0=$(counts "$L")
z0=$(snap_size)
gc_ok=0
c1="" c2="" z1=""
# Registration (16 in flight, kept-alive connections) and the fake nodes completing
# every allocation by API: tests/integration/cluster_gc.py.
gc_out=$(python3 "$(dirname "$0")/cluster_gc.py" --server "$(http "$L")" --read-server "$(http $(((L + 1) % 3)))" \
        --jobs "$GC_JOBS" --concurrency 16 \
        --nodes "$FAKE_NODES" \
        --timeout "${CLUSTER_GC_TIMEOUT:-240}")
gc_rc=$?
log "$(echo "$gc_out" | tr '\n' ' ')"
if [ $gc_rc = 0 ]; then
        c1=$(counts "$L")
        z1=$(snap_size)
        curl -s -m 30 -o /dev/null -X PUT "http://$(http "$L")/v1/system/gc"
        back() { # counts on every server no more than at the start (+10 evaluations and allocations:
                 # slack for node updates, and for an allocation an earlier blocked evaluation places
                 # once the gc-* jobs free capacity, seen once on a host at load 8)
                local i j a e
                beat # the fake nodes stay up: a node marked down meanwhile adds node-update evaluations
                for i in 0 1 2; do
                        read -r j a e <<<"$(counts $i)"
                        set -- $c0
                        [ -n "$j" ] && [ -n "$a" ] && [ -n "$e" ] && [ "$j" -le "$1" ] && [ "$a" -le $(($2 + 10)) ] && [ "$e" -le $(($3 + 10)) ] || return 1
                done
        }
        wait_for 30 back && gc_ok=1
        c2=$(counts "$L")
fi
z2=$(snap_size)
kill "$beater" 2>/dev/null
beater=""
downs=$(($(cat "$WORK"/s?.log | grep -c "missed its heartbeat") - downs0))
if [ $gc_ok = 1 ] && [ -n "$z2" ] && [ -n "$z1" ] && [ "$z1" -gt "$z0" ] && [ "$z2" -le $((z0 + z0 / 5 + 4096)) ]; then
        pass "GC: $GC_JOBS batch jobs placed and finished; jobs allocations evaluations: '$c0' at the start, '$c1' before PUT /v1/system/gc, '$c2' after (every server); snapshot $z0 -> $z1 -> $z2 bytes; nodes marked down meanwhile: $downs"
else
        fail "GC: counts (jobs allocations evaluations) at the start '$c0', before GC '$c1', after '$(counts "$L")'; dead gc-* jobs $(gc_count dead); snapshot $z0 -> $z1 -> $z2 bytes; nodes marked down meanwhile: $downs"
fi

log "cluster: $passed passed, $failed failed (${SECONDS} s)"
[ "$failed" = 0 ]
