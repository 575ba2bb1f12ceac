#!/bin/bash
# Flood bounds of the HTTP listener (docs/security.md, "Floods").
# 1. The issue's flood against `drover dev` (default bounds; its agent talks to
#    the server's listener for node agents, -agent-addr, and so does not compete
#    with the flood: the probe's heartbeats below go through the public listener
#    and its reserve): 5,000 idle connections and 2,000 parked
#    blocking queries held for 30 s (whatever the server closes is opened
#    again). Meanwhile a probe (flood.py probe) heartbeats a second node every
#    0.25 s on a fresh connection, as an agent does, and reads the dev node's
#    status every 0.5 s on a connection opened before the flood, on which it
#    also registers a batch job a third of the way in. Every heartbeat must be
#    answered (each within 5 s), every read must say "ready", the job must run
#    to completion during the flood, and no node may miss its heartbeat.
#    Printed: heartbeat latency max and p99, the server's peak RSS.
# 2. The bounds at small figures against drover-server: blocking queries over
#    -http-max-parked get 503 and one address over -http-max-conns-per-client
#    is cut off; then, with more connections than -http-max-conns, the server
#    never holds more than the bound + the reserve of 256 (newcomers close the
#    oldest silent connections) and every GET is answered (200 or 503).
# The agents' own listener under a flood of busy connections: agent_port.sh.
# Usage: tests/security/flood.sh BIN_DIR
# FLOOD_IDLE, FLOOD_PARKED, FLOOD_SECONDS change part 1's figures (5000, 2000, 30).
set -u
BIN=$(cd "${1:-build/bin}" && pwd)
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"
IDLE=${FLOOD_IDLE:-5000}
PARKED=${FLOOD_PARKED:-2000}
SECONDS_=${FLOOD_SECONDS:-30}
setup_work flood
command -v python3 >/dev/null || { log "SKIP: python3 not installed"; exit 0; }
need=$((IDLE + PARKED + 1000))
ulimit -n "$(ulimit -Hn)" 2>/dev/null || ulimit -n "$need" 2>/dev/null # a hard limit "unlimited" is above fs.nr_open
[ "$(ulimit -n)" -ge "$need" ] || { log "SKIP: need $need file descriptors (ulimit -Hn is $(ulimit -Hn))"; exit 0; }
pick_ports 11 || { log "FAIL: no free ports in ${PORT_LO:-26000}-$((${PORT_LO:-26000} + ${PORT_SPAN:-1000} - 1))"; exit 1; }
ADDR="http://127.0.0.1:$PORT"
log "== drover flood test (work dir $WORK, API $ADDR, load average $(cut -d' ' -f1-3 /proc/loadavg))"
t_start=$(date +%s)

# ---- 1. the issue's flood against drover dev -------------------------------------------------
"$BIN/drover" dev -port="$PORT" -data-dir="$WORK/dev" >"$WORK/dev.log" 2>&1 &
pids+=($!)
dev_pid=$!
wait_for 30 grep -q "cluster running" "$WORK/dev.log" || { fail "drover dev starts"; exit 1; }
server_pid=$(ps -o pid=,comm= --ppid "$dev_pid" | awk '$2 == "drover-server" { print $1 }')
node=$(curl -fs -m 5 "$ADDR/v1/nodes" | grep -o '"ID":"[^"]*"' | head -1 | cut -d'"' -f4)
probe_id=99999999-0000-4000-8000-00000000f100
code=$(curl -s -m 5 -o "$WORK/probe.reg" -w '%{http_code}' -X PUT --data-binary \
        '{"Node":{"ID":"'$probe_id'","SecretID":"flood-probe-secret","Name":"flood-probe","Datacenter":"flood-probe","NodeResources":{"Cpu":{"CpuShares":100},"Memory":{"MemoryMB":64}}}}' \
        "$ADDR/v1/node/register")
[ -n "$server_pid" ] && [ -n "$node" ] && [ "$code" = 200 ] ||
        { fail "drover dev runs a node and takes a probe node (server pid '$server_pid', node '$node', register: $code $(cat "$WORK/probe.reg"))"; exit 1; }
printf '{"Job":{"ID":"flood-job","Type":"batch","Datacenters":["dc1"],"TaskGroups":[{"Name":"g","Count":1,"Tasks":[{"Name":"t","Driver":"raw_exec","Config":{"command":"/bin/true"},"Resources":{"CPU":10,"MemoryMB":10}}]}]}}' >"$WORK/job.json"
fds_before=$(ls "/proc/$server_pid/fd" | wc -l)

python3 "$HERE/flood.py" probe "$PORT" $((SECONDS_ + 2)) "$node" "$probe_id" flood-probe-secret "$WORK/job.json" \
        $((SECONDS_ / 3 + 1)) "$WORK/probe" 2>>"$WORK/flood.err" &
probe_pid=$!
pids+=($probe_pid)
sleep 1
python3 "$HERE/flood.py" flood "$PORT" "$SECONDS_" "$WORK/flood" "park:$PARKED" "idle:$IDLE" 2>>"$WORK/flood.err" &
flood_pid=$!
pids+=($flood_pid)
wait_for 15 test -f "$WORK/flood" || { cat "$WORK/flood.err"; fail "the flood opens its connections"; exit 1; }
log "flood: $(cat "$WORK/flood")"
fds_max=0
while kill -0 "$flood_pid" 2>/dev/null; do
        n=$(ls "/proc/$server_pid/fd" 2>/dev/null | wc -l)
        [ "$n" -gt "$fds_max" ] && fds_max=$n
        sleep 1
done
wait "$flood_pid"
missed=$(grep -c "missed its heartbeat" "$WORK/dev/server.log")
rss=$(awk '/VmHWM/ { print $2 }' "/proc/$server_pid/status")
wait "$probe_pid"
cat "$WORK/flood.end"
end=$(cat "$WORK/probe.end" 2>/dev/null)
log "probe: $end"
field() { echo "$end" | tr ' ' '\n' | sed -n "s/^$1=//p" | head -1; }
opened=$(awk '{ sub("opened=", "", $3); n += $3 } END { print n + 0 }' "$WORK/flood.end")
log "server: at most $((fds_max - fds_before)) connections held (descriptors $fds_before before), peak RSS $((rss / 1024)) MiB"
if [ "$opened" -ge $((IDLE + PARKED)) ] && [ "$(grep -c "refused (flood bounds" "$WORK/dev/server.log")" -ge 1 ]; then
        pass "$IDLE idle connections and $PARKED blocking queries held for ${SECONDS_} s against drover dev ($opened opened; the server reports its refusals)"
else
        fail "$IDLE idle connections and $PARKED blocking queries held for ${SECONDS_} s against drover dev (opened $opened)"
fi
hb=$(field heartbeats)
if [ "${hb:-0}" -ge $((SECONDS_ * 4)) ] && [ "$(field failed)" = 0 ]; then
        pass "every heartbeat during the flood answered: $hb, latency max $(field max_ms) ms, p99 $(field p99_ms) ms"
else
        grep heartbeat "$WORK/probe" | awk '$3 != 200' | head -5
        fail "every heartbeat during the flood answered ($end)"
fi
reads=$(field reads)
rfail=$(echo "$end" | grep -o 'reads=[0-9]* failed=[0-9]*' | sed 's/.*failed=//')
if [ "${reads:-0}" -ge $((SECONDS_ * 2)) ] && [ "$rfail" = 0 ] && [ "$(field not_ready)" = 0 ]; then
        pass "the node read every 0.5 s on a connection opened before the flood: ready $reads times (slowest $(field read_max_ms) ms)"
else
        awk '$2 != "heartbeat" && ($3 != 200 || $5 != "ready")' "$WORK/probe" | head -5
        fail "the node read every 0.5 s on a connection opened before the flood ($end)"
fi
sent=$(field job_sent)
done_at=$(field job_complete)
if [ "$sent" != - ] && [ "$done_at" != - ] && [ "${done_at%.*}" -lt $((SECONDS_ + 1)) ]; then
        pass "a job registered ${sent} s into the probe ran to completion at ${done_at} s, during the flood"
else
        fail "a job registered during the flood runs to completion during it (sent $sent, complete $done_at)"
fi
if [ "$missed" = 0 ] && curl -fs -m 5 "$ADDR/v1/node/$node" | grep -q '"Status":"ready"'; then
        pass "no node missed its heartbeat (TTL 10 s + grace 10 s); the dev node is ready after the flood"
else
        grep "missed its heartbeat" "$WORK/dev/server.log" | head -3
        fail "no node missed its heartbeat"
fi
if [ "$rss" -lt $((1024 * 1024)) ]; then
        pass "the server's peak RSS stays under 1 GiB ($((rss / 1024)) MiB)"
else
        fail "the server's peak RSS stays under 1 GiB ($((rss / 1024)) MiB)"
fi
kill "$dev_pid"
wait "$dev_pid"

# ---- 2. the bounds at small figures -------------------------------------------------------------
MAX=2000
"$BIN/drover-server" -dev -data-dir "$WORK/server" -http-addr "127.0.0.1:$PORT" -raft-addr "127.0.0.1:$((PORT + 1))" \
        -http-max-conns $MAX -http-max-parked 300 -http-max-conns-per-client 800 >>"$WORK/server.log" 2>&1 &
server_pid=$!
pids+=($server_pid)
wait_for 20 sh -c "curl -fs $ADDR/v1/status/leader | grep -q 127.0.0.1" || { fail "server starts"; exit 1; }
fds_before=$(ls "/proc/$server_pid/fd" | wc -l)
# within -http-max-conns: only the parked cap and the per-client bound refuse
python3 "$HERE/flood.py" flood "$PORT" 12 "$WORK/small" park:400:127.0.0.10 idle:1000:127.0.0.11 2>>"$WORK/flood.err" &
small_pid=$!
pids+=($small_pid)
wait_for 15 test -f "$WORK/small" || { cat "$WORK/flood.err"; fail "the second flood opens its connections"; exit 1; }
sleep 2
# then 1,500 more: beyond the bound, newcomers close the oldest silent connections
python3 "$HERE/flood.py" flood "$PORT" 6 "$WORK/more" idle:1500 2>>"$WORK/flood.err" &
more_pid=$!
pids+=($more_pid)
fds_max=0
codes=""
while kill -0 "$more_pid" 2>/dev/null; do
        n=$(ls "/proc/$server_pid/fd" 2>/dev/null | wc -l)
        [ "$n" -gt "$fds_max" ] && fds_max=$n
        codes="$codes $(curl -s -m 5 -o /dev/null -w '%{http_code}' "$ADDR/v1/jobs")"
        sleep 0.5
done
wait "$more_pid" "$small_pid"
cat "$WORK/small.end" "$WORK/more.end"
park=$(grep '^park' "$WORK/small.end")
n503=$(echo "$park" | grep -o '503:[0-9]*' | cut -d: -f2)
if [ "${n503:-0}" -ge 95 ] && echo "$park" | grep -q 'codes=503:[0-9]* '; then
        pass "400 blocking queries with -http-max-parked 300: $n503 answered 503 (the rest parked, asked again when answered)"
else
        fail "400 blocking queries with -http-max-parked 300 ($park)"
fi
over=$(grep '^idle:1000:127.0.0.11' "$WORK/small.end" | sed 's/.*closed=\([0-9]*\).*/\1/')
if [ "${over:-0}" -ge 150 ]; then
        pass "1,000 connections from one address with -http-max-conns-per-client 800: $over closed"
else
        fail "1,000 connections from one address with -http-max-conns-per-client 800: only ${over:-0} closed"
fi
held=$((fds_max - fds_before))
if [ "$held" -le $((MAX + 256 + 64)) ]; then
        pass "2,700 connections against -http-max-conns $MAX: at most $held held (the bound + 256 reserved)"
else
        fail "2,700 connections against -http-max-conns $MAX: $held held"
fi
if ! echo "$codes" | grep -qv '^\( \(200\|503\)\)*$'; then
        pass "every GET under pressure got an answer (200, or 503 server busy):$codes"
else
        fail "every GET under pressure got an answer (got$codes)"
fi
log "$passed passed, $failed failed ($(($(date +%s) - t_start)) s)"
[ "$failed" = 0 ]
