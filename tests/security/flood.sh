#!/bin/bash
# Flood bounds of the HTTP listener (docs/security.md, "Floods"): thousands of
# idle connections and hundreds of parked blocking queries while an agent keeps
# heartbeating with TTL 1 s + grace 1 s. The node must stay ready, a plain GET
# must stay within FLOOD_RATIO (10) times its median latency measured before the
# flood, blocking queries over the cap get 503, one address over its connection
# bound is cut off, and when more connections come than -http-max-conns the
# oldest idle ones are closed (the server never holds more than max + 256), the
# agent's heartbeats still get through and other clients get an answer (200, or
# 503 "server busy" on a connection taken from the reserve); a job registered
# during the flood runs on the node.
# Usage: tests/security/flood.sh BIN_DIR
set -u
BIN=$(cd "${1:-build/bin}" && pwd)
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"
WORK=$(mktemp -d /tmp/drover-flood-XXXXXX)
RATIO=${FLOOD_RATIO:-10}
IDLE_PER_SRC=${FLOOD_IDLE_PER_SRC:-500} # from 4 addresses: 2,000 idle connections
PARKED=${FLOOD_PARKED:-400}             # blocking queries; the cap is 300
MAX_CONNS=3400
passed=0
failed=0
server_pid=""
agent_pid=""
flood_pids=()
cleanup() {
        for p in "${flood_pids[@]}"; do kill "$p" 2>/dev/null; done
        [ -n "$agent_pid" ] && kill "$agent_pid" 2>/dev/null && wait "$agent_pid" 2>/dev/null
        [ -n "$server_pid" ] && kill -9 "$server_pid" 2>/dev/null
        wait 2>/dev/null
        [ -n "${KEEP:-}" ] || rm -rf "$WORK"
}
trap cleanup EXIT
command -v python3 >/dev/null || { log "SKIP: python3 not installed"; exit 0; }
ulimit -n 20000 2>/dev/null || ulimit -n "$(ulimit -Hn)"
[ "$(ulimit -n)" -ge 6000 ] || { log "SKIP: need 6,000 file descriptors (ulimit -n is $(ulimit -n))"; exit 0; }
pick_ports 3 || { log "FAIL: no free ports in 26000-26999"; exit 1; }
ADDR="http://127.0.0.1:$PORT"
log "== drover flood test (work dir $WORK, API $ADDR)"

"$BIN/drover-server" -dev -data-dir "$WORK/server" -http-addr "127.0.0.1:$PORT" -raft-addr "127.0.0.1:$((PORT + 1))" \
        -heartbeat-ttl 1s -heartbeat-grace 1s -http-max-conns $MAX_CONNS -http-max-parked 300 \
        -http-max-conns-per-client 800 >>"$WORK/server.log" 2>&1 &
server_pid=$!
wait_for 20 sh -c "curl -fs $ADDR/v1/status/leader | grep -q 127.0.0.1" || { fail "server starts"; exit 1; }
"$BIN/drover-agent" -servers "$ADDR" -data-dir "$WORK/agent" -node-name flood-node -raw-exec \
        -http-addr "127.0.0.1:$((PORT + 2))" >>"$WORK/agent.log" 2>&1 &
agent_pid=$!
wait_for 20 sh -c "curl -fs $ADDR/v1/nodes | grep -q '\"Status\":\"ready\"'" || { fail "agent registers"; exit 1; }

# median_get N: the median of N sequential GET /v1/jobs, in microseconds (an answer
# other than 200 counts as 1,000 s).
median_get() {
        for _ in $(seq 1 "$1"); do curl -s -m 10 -o /dev/null -w '%{http_code} %{time_total}\n' "$ADDR/v1/jobs"; done |
                awk '{ if ($1 == 200) printf "%d\n", $2 * 1000000; else print 999999999 }' | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'
}
node_ready() { curl -fs -m 5 "$ADDR/v1/nodes" | grep -q '"Status":"ready"'; }
base=$(median_get 21)
log "baseline: median GET /v1/jobs $base us (load average $(cut -d' ' -f1-3 /proc/loadavg))"

flood() { # flood STATUS SPEC...
        local st=$1
        shift
        python3 "$HERE/flood.py" "$PORT" "$st" "$@" 2>>"$WORK/flood.err" &
        flood_pids+=($!)
        wait_for 60 test -f "$st"
}
specs=()
for i in 2 3 4 5; do specs+=("idle:127.0.0.$i:$IDLE_PER_SRC"); done
specs+=("park:127.0.0.7:$PARKED" "idle:127.0.0.8:1000")
t0=$(date +%s)
flood "$WORK/a.status" "${specs[@]}" || { cat "$WORK/flood.err"; fail "flood opens its connections"; exit 1; }
cat "$WORK/a.status"

# --- blocking queries over the cap: 503 at once; the rest stay parked ------------
park=$(grep '^park' "$WORK/a.status")
n503=$(echo "$park" | grep -o '503:[0-9]*' | cut -d: -f2)
if [ "${n503:-0}" -ge $((PARKED - 300 - 5)) ] && [ "${n503:-0}" -le $((PARKED - 300 + 5)) ]; then
        pass "$PARKED blocking queries with the cap at 300 (one more is the agent's watch): ${n503} answered 503 at once, the rest parked"
else
        fail "$PARKED blocking queries with the cap at 300: expected about $((PARKED - 300)) answered 503 ($park)"
fi
# --- one address over -http-max-conns-per-client 800 is cut off ----------------
over=$(grep '^idle 127.0.0.8' "$WORK/a.status" | sed 's/.*closed=\([0-9]*\).*/\1/')
if [ "${over:-0}" -ge 150 ]; then
        pass "1,000 connections from one address with a bound of 800: $over closed by the server"
else
        fail "1,000 connections from one address with a bound of 800: only ${over:-0} closed"
fi
# --- meanwhile: plain GETs stay fast and the node stays ready --------------------
during=$(median_get 21)
log "during the flood: median GET /v1/jobs $during us (baseline $base us; load average $(cut -d' ' -f1-3 /proc/loadavg))"
if [ "$during" -le $((base * RATIO)) ]; then
        pass "GET /v1/jobs under the flood: median $during us <= $RATIO x baseline ($base us)"
else
        fail "GET /v1/jobs under the flood: median $during us > $RATIO x baseline ($base us)"
fi
# --- a job registered during the flood runs on the node -------------------------
printf '{"Job":{"ID":"flood-job","Type":"batch","Datacenters":["dc1"],"TaskGroups":[{"Name":"g","Count":1,"Tasks":[{"Name":"t","Driver":"raw_exec","Config":{"command":"/bin/true"},"Resources":{"CPU":10,"MemoryMB":10}}]}]}}' |
        curl -s -m 10 -o /dev/null -X PUT --data-binary @- "$ADDR/v1/jobs"
flood_job_done() { curl -s -m 5 "$ADDR/v1/job/flood-job/allocations" | grep -q '"ClientStatus":"complete"'; }
if wait_for 30 flood_job_done; then
        pass "a job registered during the flood runs to completion on the node"
else
        fail "a job registered during the flood runs to completion on the node ($(curl -s -m 5 "$ADDR/v1/job/flood-job/allocations" | head -c 200))"
fi
sleep $((t0 + 6 - $(date +%s) > 0 ? t0 + 6 - $(date +%s) : 0))
if node_ready && ! grep -q "missed its heartbeat" "$WORK/server.log"; then
        pass "node stays ready through the flood (TTL 1 s + grace 1 s, $(( $(date +%s) - t0 )) s)"
else
        fail "node stays ready through the flood (TTL 1 s + grace 1 s)"
fi

# --- more connections than -http-max-conns: the oldest idle ones are evicted ------
held() { ss -Htn state established "( sport = :$PORT )" 2>/dev/null | wc -l; }
open=$(held)
more=$((MAX_CONNS - open + 800))
flood "$WORK/b.status" "idle:127.0.0.9:$((more / 2))" "idle:127.0.0.10:$((more - more / 2))" ||
        { fail "second flood opens its connections"; exit 1; }
cat "$WORK/b.status"
t1=$(date +%s)
peak=0
codes=""
while [ $(($(date +%s) - t1)) -lt 5 ]; do
        h=$(held)
        [ "$h" -gt "$peak" ] && peak=$h
        codes="$codes $(curl -s -m 5 -o /dev/null -w '%{http_code}' "$ADDR/v1/jobs")"
        sleep 0.5
done
log "server held $open connections, $more more came: at most $peak held; GET /v1/jobs answered:$codes"
if [ "$peak" -le $((MAX_CONNS + 256 + 5)) ] && [ "$(held)" -lt $((open + more)) ]; then
        pass "$((open + more)) connections against -http-max-conns $MAX_CONNS: at most $peak held, the oldest idle ones closed"
else
        fail "$((open + more)) connections against -http-max-conns $MAX_CONNS: $peak held"
fi
if ! echo "$codes" | grep -qv '^\( \(200\|503\)\)*$'; then
        pass "every GET under pressure got an answer (200 or 503 server busy)"
else
        fail "every GET under pressure got an answer (got$codes)"
fi
if ! grep -q "missed its heartbeat" "$WORK/server.log"; then
        pass "under pressure for $(($(date +%s) - t1)) s the agent's heartbeats still get through (node ready)"
else
        grep "missed its heartbeat" "$WORK/server.log" | head -3
        fail "under pressure the agent's heartbeats still get through"
fi
if grep -q "refused (flood bounds" "$WORK/server.log"; then
        pass "the server reports the refusals (at most one warning per 10 s): $(grep -c 'refused (flood bounds' "$WORK/server.log") warning(s)"
else
        fail "the server reports the refusals"
fi
for p in "${flood_pids[@]}"; do kill "$p" 2>/dev/null; done
flood_pids=()
if wait_for 30 node_ready; then
        pass "after the flood the API answers and the node is ready"
else
        fail "after the flood the API answers and the node is ready"
fi
log "$passed passed, $failed failed"
[ "$failed" = 0 ]
