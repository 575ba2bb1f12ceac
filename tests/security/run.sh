#!/bin/bash
# Hostile-input corpus: every entry of tests/security/manifest is sent to a real
# drover-server on 127.0.0.1 (SECURITY_SERVER: its ASan/UBSan build), or, for
# METHOD CLI, given to `drover job run`.
# Usage: tests/security/run.sh BIN_DIR
# Each must be refused (the expected 4xx with a non-empty message, or a non-zero
# exit with a message) in time, while a probe checks that /v1/status/leader keeps
# answering in time; afterwards the state (jobs, nodes, allocations, evaluations)
# must be what it was before.
# In time, when the 1-minute load average is below the number of cores
# ("absolute" mode, decided before each input): within REQ_MAX_S seconds (1; 2 for
# the ASan build), and each probe within LEADER_MAX_MS (100; 200 for the ASan
# build). On a busier machine ("relative" mode) the limits scale with what this
# run measures: before each input, BASE = the median of 3 GET /v1/status/leader;
# the input must be answered within REQ_MAX_S x max(1, load/cores) + REQ_RATIO
# (100) x BASE, and each probe within LEADER_MAX_MS x max(1, load/cores) +
# LEADER_RATIO (20) x the median BASE of the run (load: the highest seen). A
# freeze of the event loop (seconds) still fails either mode. The summary says
# which mode ran for how many inputs.
set -u
RM_WORK=$(cd "$(dirname "${BASH_SOURCE[0]}")/../support" && pwd)/rm_work.sh # rm -rf that first detaches mounts
BIN=$(cd "${1:-build/bin}" && pwd)
HERE=$(cd "$(dirname "$0")" && pwd)
REQ_MAX_SET=${REQ_MAX_S:-}${LEADER_MAX_MS:-}
REQ_MAX_S=${REQ_MAX_S:-1}
LEADER_MAX_MS=${LEADER_MAX_MS:-100}
WORK=$(mktemp -d /tmp/drover-sec-XXXXXX)
. "$HERE/lib.sh"
pick_ports 2 || { echo "FAIL: no free ports"; exit 1; }
ADDR="http://127.0.0.1:$PORT"
server_pid=""
probe_pid=""
passed=0
failed=0

cleanup() {
        [ -n "$probe_pid" ] && kill "$probe_pid" 2>/dev/null
        [ -n "$server_pid" ] && kill -9 "$server_pid" 2>/dev/null
        wait 2>/dev/null
        "$RM_WORK" "$WORK"
}
trap cleanup EXIT

log() { printf '%s\n' "$*"; }
pass() { passed=$((passed + 1)); }
fail() {
        failed=$((failed + 1))
        log "FAIL: $1"
}

log "== drover security corpus (work dir $WORK, API $ADDR)"
# SECURITY_SERVER=build/asan/bin/drover-server (make server-asan) runs the corpus
# against the AddressSanitizer/UBSan build; any sanitizer report fails the run.
SERVER=${SECURITY_SERVER:-$BIN/drover-server}
if [ ! -x "$SERVER" ]; then
        log "FAIL: no server binary at $SERVER"
        exit 1
fi
# AddressSanitizer makes the server about twice as slow: unless set, the time
# limits are doubled for another build (2 s a request, 200 ms a leader probe).
if [ "$SERVER" != "$BIN/drover-server" ] && [ -z "${REQ_MAX_SET:-}" ]; then
        REQ_MAX_S=$((REQ_MAX_S * 2))
        LEADER_MAX_MS=$((LEADER_MAX_MS * 2))
fi
ASAN_OPTIONS=detect_leaks=0:halt_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
        "$SERVER" -dev -data-dir "$WORK/server" -http-addr "127.0.0.1:$PORT" \
        -raft-addr "127.0.0.1:$((PORT + 1))" >>"$WORK/server.log" 2>&1 &
server_pid=$!
if ! wait_for 15 sh -c "curl -fs -m 1 $ADDR/v1/status/leader | grep -q 127.0.0.1"; then
        tail -n 30 "$WORK/server.log"
        log "FAIL: server did not start"
        exit 1
fi

# ---- generated inputs (too big to commit) -------------------------------------------
G="$WORK/gen"
mkdir -p "$G"
task='{"Name":"t","Driver":"raw_exec","Config":{"command":"/bin/true"},"Resources":{"CPU":100,"MemoryMB":32}}'
awk -v task="$task" 'BEGIN { printf "{\"Job\":{\"ID\":\"big\",\"Type\":\"batch\",\"TaskGroups\":[";
        for (i = 0; i < 100000; i++) printf "%s{\"Name\":\"g%d\",\"Count\":1,\"Tasks\":[%s]}", (i ? "," : ""), i, task;
        printf "]}}" }' >"$G/groups-100000"
{ printf '{"Job":{"ID":"'; head -c 10485760 /dev/zero | tr '\0' a; printf '","TaskGroups":[{"Name":"g","Tasks":[%s]}]}}' "$task"; } >"$G/id-10mb"
nest() { # N: N '[' then N ']'
        head -c "$1" /dev/zero | tr '\0' '['
        head -c "$1" /dev/zero | tr '\0' ']'
}
{ printf '{"Job":'; nest 100000; printf '}'; } >"$G/json-depth-100000"
{ printf '{"Job":{"ID":"deep","TaskGroups":[{"Name":"g","Tasks":[{"Name":"t","Driver":"raw_exec","Config":{"command":"/bin/true","x":'
  nest 100000; printf '}}]}]}}'; } >"$G/json-depth-100000-in-config"
{ printf '{"Job":{"ID":"x","Meta":{"a":"'; head -c $((17 * 1024 * 1024)) /dev/zero | tr '\0' a; printf '"}}}'; } >"$G/body-17mib"
awk -v task="$task" 'BEGIN { printf "{\"Job\":{\"ID\":\"meta\",\"Meta\":{";
        for (i = 0; i < 100000; i++) printf "%s\"k%d\":\"v\"", (i ? "," : ""), i;
        printf "},\"TaskGroups\":[{\"Name\":\"g\",\"Tasks\":[%s]}]}}", task }' >"$G/meta-entries-100000"
{ printf 'job "deep" {\n  meta = '; nest 100000; printf '\n}\n'; } >"$G/hcl-depth-100000"
{ printf 'job "big" {\n  # '; head -c $((17 * 1024 * 1024)) /dev/zero | tr '\0' a; printf '\n}\n'; } >"$G/hcl-17mib"

# ---- the state before, a seed job so that it is not empty ----------------------------------------------
cat >"$WORK/seed.json" <<EOF
{"Job":{"ID":"seed","Type":"batch","TaskGroups":[{"Name":"g","Count":1,"Tasks":[$task]}]}}
EOF
code=$(curl -s -m 5 -o /dev/null -w '%{http_code}' -X PUT --data-binary @"$WORK/seed.json" "$ADDR/v1/jobs")
[ "$code" = 200 ] || fail "seed job registered (got $code)"
sleep 1
digest() {
        for p in /v1/jobs /v1/nodes /v1/allocations /v1/evaluations; do
                curl -s -m 5 "$ADDR$p"
                echo
        done | sha256sum | cut -d' ' -f1
}
before=$(digest)

# ---- the leader probe ----------------------------------------------------------------------------------
(
        while :; do
                curl -s -o /dev/null -m 2 -w '%{http_code} %{time_total}\n' "$ADDR/v1/status/leader"
                sleep 0.02
        done
) >"$WORK/leader.times" 2>/dev/null &
probe_pid=$!

# ---- time limits: absolute on a quiet machine, relative to this run's baseline on a busy one -----------
REQ_RATIO=${REQ_RATIO:-100}
LEADER_RATIO=${LEADER_RATIO:-20}
CORES=$(nproc)
load1() { cut -d' ' -f1 /proc/loadavg; }
# baseline: the median of 3 GET /v1/status/leader, in seconds.
baseline() {
        for _ in 1 2 3; do curl -s -o /dev/null -m 2 -w '%{time_total}\n' "$ADDR/v1/status/leader"; done |
                sort -n | sed -n 2p
}
n_abs=0
n_rel=0
max_load=$(load1)
bases="$WORK/bases"
: >"$bases"

# ---- the corpus ----------------------------------------------------------------------------------------
n=0
slowest=0
slowest_name=""
while read -r file method path expect; do
        case "$file" in '' | '#'*) continue ;; esac
        n=$((n + 1))
        case "$file" in
        gen:*) in="$G/${file#gen:}" ;;
        *) in="$HERE/corpus/$file" ;;
        esac
        load=$(load1)
        base=$(baseline)
        echo "${base:-0}" >>"$bases"
        [ "$(echo "$load > $max_load" | bc)" = 1 ] && max_load=$load
        if [ "$(echo "$load < $CORES" | bc)" = 1 ]; then
                mode=absolute
                limit=$REQ_MAX_S
                n_abs=$((n_abs + 1))
        else
                mode=relative
                limit=$(echo "scale=3; f = $load / $CORES; if (f < 1) f = 1; $REQ_MAX_S * f + $REQ_RATIO * ${base:-0}" | bc)
                n_rel=$((n_rel + 1))
        fi
        if [ "$method" = CLI ]; then
                t0=$(date +%s.%N)
                timeout 10 "$BIN/drover" job run -detach -address="$ADDR" "$in" >"$WORK/out" 2>&1
                rc=$?
                t=$(echo "$(date +%s.%N) - $t0" | bc)
                got="exit $rc"
                ok=$([ "$rc" != 0 ] && [ "$rc" -lt 124 ] && [ -s "$WORK/out" ] && echo yes)
        else
                res=$(curl -s -m 10 -o "$WORK/out" -w '%{http_code} %{time_total}' -X "$method" \
                        -H 'Content-Type: application/json' --data-binary @"$in" "$ADDR$path")
                got=${res% *}
                t=${res#* }
                ok=$([ "$got" = "$expect" ] && [ -s "$WORK/out" ] && echo yes)
        fi
        if [ "$(echo "$t > $slowest" | bc)" = 1 ]; then slowest=$t; slowest_name=$file; fi
        if [ "$ok" != yes ]; then
                fail "$file: $method $path: expected $expect, got $got: $(head -c 300 "$WORK/out")"
        elif [ "$(echo "$t > $limit" | bc)" = 1 ]; then
                fail "$file: answered $got in ${t}s (limit ${limit}s, $mode: load $load on $CORES cores, baseline ${base}s)"
        else
                pass
        fi
        [ -n "${VERBOSE:-}" ] && log "$file: $got ${t}s ($mode limit ${limit}s): $(head -c 160 "$WORK/out" | tr '\n' ' ')"
done <"$HERE/manifest"

kill "$probe_pid" 2>/dev/null
wait "$probe_pid" 2>/dev/null
probe_pid=""

# ---- afterwards ----------------------------------------------------------------------------------------
after=$(digest)
if [ "$before" = "$after" ]; then pass; else fail "the state changed (digest $before -> $after)"; fi
if kill -0 "$server_pid" 2>/dev/null && ! grep -q "ERROR: AddressSanitizer\|runtime error:" "$WORK/server.log"; then pass; else
        fail "the server died or a sanitizer reported an error ($SERVER)"
        tail -n 30 "$WORK/server.log"
fi
[ "$(echo "$(load1) > $max_load" | bc)" = 1 ] && max_load=$(load1)
if [ "$n_rel" = 0 ] && [ "$(echo "$max_load < $CORES" | bc)" = 1 ]; then
        leader_mode=absolute
        leader_ms=$LEADER_MAX_MS
else
        leader_mode=relative
        med=$(sort -n "$bases" | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] + 0 }')
        leader_ms=$(printf '%.1f' "$(echo "scale=3; f = $max_load / $CORES; if (f < 1) f = 1; $LEADER_MAX_MS * f + $LEADER_RATIO * $med * 1000" | bc)")
fi
probes=$(wc -l <"$WORK/leader.times")
bad=$(awk -v lim="$leader_ms" '$1 != 200 || $2 * 1000 > lim' "$WORK/leader.times" | wc -l)
max_ms=$(awk 'BEGIN { m = 0 } { if ($2 > m) m = $2 } END { printf "%.1f", m * 1000 }' "$WORK/leader.times")
if [ "$probes" -gt 0 ] && [ "$bad" = 0 ]; then pass; else
        fail "/v1/status/leader: $bad of $probes probes failed or took over ${leader_ms} ms ($leader_mode; slowest ${max_ms} ms)"
fi
log "security corpus against $SERVER: $n inputs, slowest ${slowest}s ($slowest_name); leader probe: $probes probes, slowest ${max_ms} ms"
log "time limits: absolute (${REQ_MAX_S} s an input) for $n_abs inputs, relative for $n_rel; leader probe: $leader_mode, ${leader_ms} ms (load up to $max_load on $CORES cores)"
log "$passed passed, $failed failed"
[ "$failed" = 0 ]
