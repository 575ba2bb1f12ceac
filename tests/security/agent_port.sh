#!/bin/bash
# The node agents' listener (drover-server -agent-addr; docs/security.md, "Floods").
# A drover-server with small bounds (-http-max-conns 200, so 200 + the reserve of
# 256 slots) and an agents-only listener; a drover-agent talks to that listener
# only, with a short heartbeat TTL (3 s + 3 s grace). Checked:
# - the agents' listener answers 404 to a public path and takes a registration;
# - a flood of busy connections fills every slot of the public listener: 200
#   parked blocking queries and 300 slow uploads to PUT /v1/node/register (a node
#   agent's path: neither refused nor evictable), held for 15 s. Meanwhile a
#   probe node heartbeats every 0.25 s, each on a fresh connection, through both
#   listeners: through the public one some fail (the flood holds every slot),
#   through the agents' one every heartbeat is answered within 2 s;
# - no node is marked down (the real agent's neither) until the flood ends;
# - with three servers, a node registers and heartbeats through a follower's
#   agents' listener: its calls are forwarded to the leader's agents' listener
#   (each server tells the others its -agent-addr: /v1/internal/raft/self
#   Servers[].AgentAddr), so a flood that fills the leader's public listener
#   meanwhile (as above) fails none of them.
# Usage: tests/security/agent_port.sh BIN_DIR
# Ports: DROVER_TEST_PORT_BASE (else PORT_LO, lib.sh) .. +999.
set -u
BIN=$(cd "${1:-build/bin}" && pwd)
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"
MAX=200
SLOW=300
SECS=15
command -v python3 >/dev/null || { log "SKIP: python3 not installed"; exit 0; }
ulimit -n "$(ulimit -Hn)" 2>/dev/null || ulimit -n 4096 2>/dev/null
[ "$(ulimit -n)" -ge 2048 ] || { log "SKIP: need 2048 file descriptors (ulimit -Hn is $(ulimit -Hn))"; exit 0; }
start_test agentport 4
AGENTS="http://127.0.0.1:$((PORT + 2))"
log "== drover agents' listener test (work dir $WORK, API $ADDR, agents $AGENTS, load $(cut -d' ' -f1-3 /proc/loadavg))"

start_server -agent-addr "127.0.0.1:$((PORT + 2))" -agent-max-conns 64 -http-max-conns $MAX -http-max-parked 1000 \
        -heartbeat-ttl 3s -heartbeat-grace 3s
"$BIN/drover-agent" -dev -servers "$AGENTS" -data-dir "$WORK/agent" -http-addr "127.0.0.1:$((PORT + 3))" \
        >"$WORK/agent.log" 2>&1 &
pids+=($!)

code=$(curl -s -m 5 -o "$WORK/public" -w '%{http_code}' "$AGENTS/v1/jobs")
if [ "$code" = 404 ] && grep -q "serves node agents only" "$WORK/public"; then
        pass "GET /v1/jobs on the agents' listener: 404 ($(cat "$WORK/public"))"
else
        fail "GET /v1/jobs on the agents' listener: 404 (got $code: $(cat "$WORK/public"))"
fi
ready_nodes() { curl -fs -m 5 "$ADDR/v1/nodes" | grep -o '"Status":"ready"' | wc -l; }
wait_for 20 sh -c "curl -fs -m 5 $ADDR/v1/nodes | grep -q '\"Status\":\"ready\"'" ||
        { fail "the drover-agent that talks only to the agents' listener registers and is ready"; exit 1; }
probe_id=99999999-0000-4000-8000-00000000a9e7
printf '{"Node":{"ID":"%s","SecretID":"agent-port-probe","Name":"agent-port-probe","Datacenter":"probe","NodeResources":{"Cpu":{"CpuShares":100},"Memory":{"MemoryMB":64}}}}' \
        $probe_id >"$WORK/probe.json"
# The probe registers through the agents' listener and heartbeats there from then
# until after the flood (it is stopped then; at most SECS + 40 s).
hb_secs=$((SECS + 40))
python3 "$HERE/flood.py" heartbeat $((PORT + 2)) $hb_secs $probe_id agent-port-probe "$WORK/hb_agents" \
        "$WORK/probe.json" 2>>"$WORK/flood.err" &
a_pid=$!
pids+=($a_pid)
wait_for 30 test -f "$WORK/hb_agents"
if [ "$(cat "$WORK/hb_agents.reg" 2>/dev/null)" = 200 ] && [ "$(ready_nodes)" = 2 ]; then
        pass "the drover-agent that talks only to the agents' listener is ready; a probe node registered there too"
else
        fail "the probe node registers through the agents' listener (register: $(cat "$WORK/hb_agents.reg" 2>/dev/null); ready: $(ready_nodes); $(cat "$WORK/flood.err"))"
        exit 1
fi
REOPEN_PER_S=50 python3 "$HERE/flood.py" flood "$PORT" "$SECS" "$WORK/flood" "park:$MAX" "slow:$SLOW" \
        2>>"$WORK/flood.err" &
flood_pid=$!
pids+=($flood_pid)
wait_for 15 test -f "$WORK/flood" || { cat "$WORK/flood.err"; fail "the flood opens its connections"; exit 1; }
log "flood: $(cat "$WORK/flood")"
python3 "$HERE/flood.py" heartbeat "$PORT" $((SECS - 3)) $probe_id agent-port-probe "$WORK/hb_public" 2>>"$WORK/flood.err" &
p_pid=$!
pids+=($p_pid)
sleep 2
conns=$(ss -Htn state established "sport = :$PORT" 2>/dev/null | wc -l)
wait "$p_pid" "$flood_pid"
missed=$(grep -c "missed its heartbeat" "$WORK/server.log") # at the flood's end, the probe still heartbeating
touch "$WORK/hb_agents.stop"
wait "$a_pid"
cat "$WORK/flood.end"
agents=$(cat "$WORK/hb_agents.end")
public=$(cat "$WORK/hb_public.end")
log "through the agents' listener (before, during and after the flood): $agents"
log "through the public listener (during the flood):  $public"
field() { echo "$1" | tr ' ' '\n' | sed -n "s/^$2=//p" | head -1; }
pfail=$(field "$public" failed)
if [ "${pfail:-0}" -ge 1 ] && [ "$conns" -ge $((MAX + 256)) ]; then
        pass "the flood fills every slot of the public listener: $conns connections established, $pfail of $(field "$public" heartbeats) heartbeats there failed"
else
        fail "the flood fills every slot of the public listener ($conns connections established; public heartbeats: $public)"
fi
hb=$(field "$agents" heartbeats)
max_ms=$(field "$agents" max_ms)
if [ "${hb:-0}" -ge $((SECS * 4)) ] && [ "$(field "$agents" failed)" = 0 ] && [ "${max_ms%.*}" -lt 2000 ]; then
        pass "every heartbeat through the agents' listener answered during the flood: $hb, max $max_ms ms, p99 $(field "$agents" p99_ms) ms"
else
        grep heartbeat "$WORK/hb_agents" | awk '$3 != 200 || $4 > 2000' | head -5
        fail "every heartbeat through the agents' listener answered within 2 s during the flood ($agents)"
fi
# (the flood's parked queries are released within a second of its end: a parked
# query whose client went away gives its slot back, tests/security/parked.sh)
if [ "$missed" = 0 ]; then
        pass "no node missed its heartbeat during the flood (TTL 3 s + grace 3 s; the agent's and the probe's)"
else
        grep "missed its heartbeat" "$WORK/server.log" | head -3
        fail "no node missed its heartbeat during the flood (missed: $missed)"
fi
kill "$server_pid"
wait "$server_pid" 2>/dev/null

# ---- through a follower: node calls forwarded to the leader's agents' listener -----------------
pick_ports 9 || { log "FAIL: no free ports from $PORT_LO"; exit 1; }
join="127.0.0.1:$PORT,127.0.0.1:$((PORT + 3)),127.0.0.1:$((PORT + 6))"
for i in 0 1 2; do
        h=$((PORT + 3 * i))
        "$BIN/drover-server" -data-dir "$WORK/c$i" -http-addr "127.0.0.1:$h" -raft-addr "127.0.0.1:$((h + 1))" \
                -agent-addr "127.0.0.1:$((h + 2))" -bootstrap-expect 3 -join "$join" -heartbeat-ttl 3s \
                -heartbeat-grace 3s -http-max-conns $MAX >"$WORK/c$i.log" 2>&1 &
        pids+=($!)
done
leader=""
leader_known() { # sets leader to the Raft address server 0 names as its leader
        leader=$(curl -fs -m 2 "http://127.0.0.1:$PORT/v1/status/leader" | tr -d '"')
        [ -n "$leader" ]
}
wait_for 30 leader_known
# a follower: the server whose Raft address is not the leader's
for i in 0 1 2; do [ "127.0.0.1:$((PORT + 3 * i + 1))" != "$leader" ] && { f=$((PORT + 3 * i)); break; }; done
lh=$((${leader##*:} - 1)) # the leader's HTTP port
agent_addrs() { # the agents' listeners the follower knows: "ID=AgentAddr ..." of the 3 servers
        curl -fs -m 5 "http://127.0.0.1:$f/v1/internal/raft/self" |
                python3 -c 'import json,sys; print(" ".join(sorted("%s=%s" % (s["ID"], s.get("AgentAddr", "")) for s in json.load(sys.stdin)["Servers"])))'
}
known_all() { [ "$(agent_addrs | grep -o '=127\.0\.0\.1:[0-9]*' | wc -l)" = 3 ]; }
if [ -n "$leader" ] && wait_for 20 known_all; then
        pass "three servers: a follower knows every server's agents' listener ($(agent_addrs))"
else
        fail "three servers: a follower knows every server's agents' listener (leader '$leader', follower's view: $(agent_addrs))"
fi
if [ -n "$leader" ]; then
        sed 's/agent-port-probe/cluster-probe/g' "$WORK/probe.json" >"$WORK/cluster.json"
        rm -f "$WORK/flood" "$WORK/flood.end"
        REOPEN_PER_S=50 python3 "$HERE/flood.py" flood "$lh" 14 "$WORK/flood" "park:$MAX" "slow:$SLOW" 2>>"$WORK/flood.err" &
        flood_pid=$!
        pids+=($flood_pid)
        wait_for 15 test -f "$WORK/flood" || fail "the flood of the leader's public listener opens its connections"
        lconns=$(ss -Htn state established "sport = :$lh" 2>/dev/null | wc -l)
        python3 "$HERE/flood.py" heartbeat $((f + 2)) 8 $probe_id cluster-probe "$WORK/hb_cluster" "$WORK/cluster.json" \
                2>>"$WORK/flood.err"
        # The flood outlasts the heartbeats (it must cover them even when they start
        # late); once they are done it is stopped, not waited for: the probe's node is
        # marked down TTL + grace (6 s) after its last heartbeat, about when a flood
        # left to run would end, and the check below would race that.
        kill "$flood_pid" 2>/dev/null
        wait "$flood_pid" 2>/dev/null
        log "the leader's public listener during the heartbeats: $lconns connections established ($(cat "$WORK/flood" 2>/dev/null))"
fi
cl=$(cat "$WORK/hb_cluster.end" 2>/dev/null)
# Read from the follower (?stale: its own state, Raft-replicated): a consistent read
# goes to the leader's public listener, whose flooded slots may still be closing.
status=$(curl -fs -m 5 "http://127.0.0.1:${f:-$PORT}/v1/node/$probe_id?stale" | grep -o '"Status":"[a-z]*"')
if [ "$(cat "$WORK/hb_cluster.reg" 2>/dev/null)" = 200 ] && [ "$(field "$cl" failed)" = 0 ] &&
        [ "$status" = '"Status":"ready"' ] && ! grep -q "missed its heartbeat" "$WORK"/c?.log; then
        pass "three servers: a node registers and heartbeats through a follower's agents' listener while the leader's public listener is flooded ($lconns connections): forwarded to the leader's agents' listener: $cl"
else
        fail "three servers: a node registers and heartbeats through a follower's agents' listener (leader '$leader', register $(cat "$WORK/hb_cluster.reg" 2>/dev/null), $cl, $status)"
fi
end_test
