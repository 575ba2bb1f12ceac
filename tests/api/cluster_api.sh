#!/bin/bash
# The API on a 3-server loopback cluster: a list a follower forwards to the leader
# keeps the leader's X-Nomad-NextToken (and X-Nomad-Index, X-Nomad-KnownLeader), and
# scaling events go through Raft, so every server answers the same
# /v1/job/:id/scale events; each server lists every member with the name and
# datacenter it was started with (-name, -dc). Usage: tests/api/cluster_api.sh BIN_DIR.
# Ports from 25700-25999 (DROVER_TEST_PORT_BASE moves them, to +299); every wait is
# bounded; every process started is stopped.
set -u
RM_WORK=$(cd "$(dirname "${BASH_SOURCE[0]}")/../support" && pwd)/rm_work.sh # rm -rf that first detaches mounts
BIN=$(cd "${1:-build/bin}" && pwd)
WORK=$(mktemp -d /tmp/drover-clapi-XXXXXX)
. "$(dirname "$0")/../support/ports.sh" # port_free, pick_port
pick_port "${DROVER_TEST_PORT_BASE:-25700}" 280 1 2 10 11 12
BASE=$PORT
http() { echo "127.0.0.1:$((BASE + $1))"; }
raft() { echo "127.0.0.1:$((BASE + 10 + $1))"; }
passed=0
failed=0
pids=()
cleanup() {
        for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
        sleep 0.5
        for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done
        wait 2>/dev/null
        "$RM_WORK" "$WORK"
}
trap cleanup EXIT
. "$(dirname "$0")/../integration/lib.sh" # log, pass, fail, wait_for, jget

JOIN="$(http 0),$(http 1),$(http 2)"
for i in 0 1 2; do
        "$BIN/drover-server" -data-dir "$WORK/d$i" -http-addr "$(http $i)" -raft-addr "$(raft $i)" \
                -bootstrap-expect 3 -join "$JOIN" -num-schedulers 1 -name "srv$i" -dc "dc-$i" >>"$WORK/s$i.log" 2>&1 &
        pids+=($!)
done
leader_idx() {
        local l
        l=$(curl -s -m 2 "http://$(http 0)/v1/status/leader" | tr -d '"')
        for i in 0 1 2; do [ "$l" = "$(raft $i)" ] && echo $i; done
}
wait_for 40 sh -c "[ -n \"\$(curl -s -m 2 http://$(http 0)/v1/status/leader | tr -d '\"')\" ] &&
        [ \"\$(curl -s -m 2 http://$(http 1)/v1/status/leader)\" = \"\$(curl -s -m 2 http://$(http 2)/v1/status/leader)\" ]" || {
        fail "the 3 servers elect a leader"
        exit 1
}
L=$(leader_idx)
[ -n "$L" ] || { fail "a leader is known"; exit 1; }
F=$(((L + 1) % 3))
pass "3 servers, leader $L, follower $F"

# --- every server lists the members with their own names and datacenters --------------
members() { # members SERVER: "name dc" of each member, sorted
        curl -s -m 2 "http://$(http "$1")/v1/agent/members" |
                jget "' '.join(sorted(m['Name'] + '/' + m['Tags']['dc'] for m in d['Members']))"
}
want_members="srv0.global/dc-0 srv1.global/dc-1 srv2.global/dc-2"
all_named() { for i in 0 1 2; do [ "$(members $i)" = "$want_members" ] || return 1; done; }
if wait_for 15 all_named; then
        pass "every server lists the 3 members with their own names and dcs ($want_members)"
else
        for i in 0 1 2; do log "server $i: $(members $i)"; done
        fail "members with their names and dcs"
fi

for j in a b c; do
        printf '{"Job":{"ID":"%s","Type":"service","Datacenters":["dc1"],"TaskGroups":[{"Name":"g","Count":1,"Tasks":[{"Name":"t","Driver":"raw_exec","Config":{"command":"/bin/true"},"Resources":{"CPU":20,"MemoryMB":16}}]}]}}' "$j" >"$WORK/$j.json"
        curl -s -o /dev/null -X PUT --data-binary @"$WORK/$j.json" "http://$(http "$L")/v1/jobs"
done
# --- a forwarded list keeps the leader's X-Nomad-* headers ------------------------------
hdr() { # hdr FILE NAME: the header's value
        grep -i "^$2:" "$1" | tail -1 | cut -d: -f2- | tr -d ' \r'
}
curl -s -D "$WORK/lh" -o "$WORK/lb" "http://$(http "$L")/v1/jobs?per_page=1"
curl -s -D "$WORK/fh" -o "$WORK/fb" "http://$(http "$F")/v1/jobs?per_page=1"
lt=$(hdr "$WORK/lh" X-Nomad-NextToken)
ft=$(hdr "$WORK/fh" X-Nomad-NextToken)
if [ -n "$lt" ] && [ "$lt" = "$ft" ] && [ "$(hdr "$WORK/fh" X-Nomad-KnownLeader)" = true ] &&
        [ "$(hdr "$WORK/fh" X-Nomad-Index)" = "$(hdr "$WORK/lh" X-Nomad-Index)" ] && cmp -s "$WORK/lb" "$WORK/fb"; then
        pass "a follower's forwarded list keeps X-Nomad-NextToken ($ft), X-Nomad-Index and X-Nomad-KnownLeader"
else
        cat "$WORK/fh"
        fail "forwarded list headers (leader token '$lt', follower token '$ft')"
fi
# The second page through the follower, from its token.
curl -s -D "$WORK/fh2" -o "$WORK/fb2" "http://$(http "$F")/v1/jobs?per_page=1&next_token=$ft"
[ "$(jget "d[0]['ID']" <"$WORK/fb2")" = "$ft" ] && [ -n "$(hdr "$WORK/fh2" X-Nomad-NextToken)" ] &&
        pass "the next page through the follower starts at the token and has its own" ||
        fail "second page through the follower ($(cat "$WORK/fb2" | head -c 200))"

# --- scaling events through Raft ---------------------------------------------------------
scale() { # scale SERVER BODY
        curl -s -o "$WORK/sc" -w '%{http_code}' -X POST --data-binary "$2" "http://$(http "$1")/v1/job/a/scale"
}
c1=$(scale "$F" '{"Count":2,"Target":{"Group":"g"},"Message":"up through a follower","Meta":{"by":"test"}}')
c2=$(scale "$L" '{"Count":null,"Target":{"Group":"g"},"Message":"autoscaler: no metrics","Error":true}')
[ "$c1" = 200 ] && [ "$c2" = 200 ] && pass "scale (forwarded) and an error event answer 200" ||
        fail "scale requests ($c1, $c2)"
events() { curl -s "http://$(http "$1")/v1/job/a/scale?stale" | jget "json.dumps(d['TaskGroups']['g']['Events'], sort_keys=True)"; }
same_everywhere() {
        local e0 e1 e2
        e0=$(events 0) && e1=$(events 1) && e2=$(events 2) || return 1
        [ "$e0" = "$e1" ] && [ "$e1" = "$e2" ] && [ "$(echo "$e0" | jget 'len(d)')" = 2 ]
}
if wait_for 15 same_everywhere; then
        pass "every server answers the same 2 scaling events (read ?stale from its own state)"
else
        for i in 0 1 2; do log "server $i: $(events $i)"; done
        fail "every server answers the same scaling events"
fi
e=$(events "$F")
[ "$(echo "$e" | jget "d[0]['Error'] and d[0]['Count'] is None and d[1]['Count']==2 and d[1]['PreviousCount']==1 and d[1]['Meta']=={'by':'test'} and len(d[1]['EvalID'])==36 and d[0]['CreateIndex']>d[1]['CreateIndex']")" = True ] &&
        pass "events newest first: the error event, then the scale to 2 with its evaluation, meta and indexes" ||
        fail "event contents ($e)"

log "cluster api: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
