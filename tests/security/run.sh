#!/bin/bash
# Hostile-input corpus: every entry of tests/security/manifest is sent to a real
# drover-server on 127.0.0.1 (SECURITY_SERVER: its ASan/UBSan build), or, for
# METHOD CLI, given to `drover job run`.
# Usage: tests/security/run.sh BIN_DIR
# Each must be refused (the expected 4xx with a non-empty message, or a non-zero
# exit with a message) within REQ_MAX_S seconds (1; 2 for the ASan build); meanwhile
# a probe checks that /v1/status/leader answers within LEADER_MAX_MS (100; 200 for
# the ASan build); afterwards the state
# (jobs, nodes, allocations, evaluations) must be what it was before.
set -u
BIN=$(cd "${1:-build/bin}" && pwd)
HERE=$(cd "$(dirname "$0")" && pwd)
REQ_MAX_SET=${REQ_MAX_S:-}${LEADER_MAX_MS:-}
REQ_MAX_S=${REQ_MAX_S:-1}
LEADER_MAX_MS=${LEADER_MAX_MS:-100}
WORK=$(mktemp -d /tmp/drover-sec-XXXXXX)
port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
for _ in $(seq 1 50); do
        PORT=$((20000 + RANDOM % 12000))
        port_free "$PORT" && port_free $((PORT + 1)) && break
done
ADDR="http://127.0.0.1:$PORT"
server_pid=""
probe_pid=""
passed=0
failed=0

cleanup() {
        [ -n "$probe_pid" ] && kill "$probe_pid" 2>/dev/null
        [ -n "$server_pid" ] && kill -9 "$server_pid" 2>/dev/null
        wait 2>/dev/null
        rm -rf "$WORK"
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
for _ in $(seq 1 150); do
        curl -fs -m 1 "$ADDR/v1/status/leader" | grep -q 127.0.0.1 && break
        sleep 0.1
done
if ! curl -fs -m 1 "$ADDR/v1/status/leader" | grep -q 127.0.0.1; then
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
        elif [ "$(echo "$t > $REQ_MAX_S" | bc)" = 1 ]; then
                fail "$file: answered $got in ${t}s (limit ${REQ_MAX_S}s)"
        else
                pass
        fi
        [ -n "${VERBOSE:-}" ] && log "$file: $got ${t}s: $(head -c 160 "$WORK/out" | tr '\n' ' ')"
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
probes=$(wc -l <"$WORK/leader.times")
bad=$(awk -v lim="$LEADER_MAX_MS" '$1 != 200 || $2 * 1000 > lim' "$WORK/leader.times" | wc -l)
max_ms=$(awk 'BEGIN { m = 0 } { if ($2 > m) m = $2 } END { printf "%.1f", m * 1000 }' "$WORK/leader.times")
if [ "$probes" -gt 0 ] && [ "$bad" = 0 ]; then pass; else
        fail "/v1/status/leader: $bad of $probes probes failed or took over ${LEADER_MAX_MS} ms (slowest ${max_ms} ms)"
fi
log "security corpus against $SERVER: $n inputs, slowest ${slowest}s ($slowest_name); leader probe: $probes probes, slowest ${max_ms} ms"
log "$passed passed, $failed failed"
[ "$failed" = 0 ]
