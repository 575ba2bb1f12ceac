#!/bin/bash
# Authenticated nodes (docs/security.md): with a node registration secret set on
# the server, an agent without it is refused (403) and never registered; one with
# it (flag or DROVER_NODE_SECRET) registers, heartbeats and runs a job; a node's
# wrong secret is refused on heartbeats and allocation updates (node A's secret
# against node B's allocations: tests/unit/test_node_auth.c).
# Usage: tests/security/nodeauth.sh BIN_DIR
# Ports: DROVER_TEST_PORT_BASE (else PORT_LO, lib.sh) .. +999.
set -u
BIN=$(cd "${1:-build/bin}" && pwd)
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
. "$HERE/lib.sh"
start_test nodeauth 4
log "== drover node authentication tests (work dir $WORK, API $ADDR)"
DROVER_NODE_SECRET=join-me-7 start_server -heartbeat-ttl 1s -heartbeat-grace 1s

"$BIN/drover-agent" -servers "$ADDR" -data-dir "$WORK/intruder" -node-name intruder -raw-exec -http-addr "" \
        -node-secret wrong >>"$WORK/intruder.log" 2>&1 &
intruder=$!
pids+=($intruder)
"$BIN/drover-agent" -servers "$ADDR" -data-dir "$WORK/agent" -node-name member -raw-exec \
        -http-addr "127.0.0.1:$((PORT + 2))" -node-secret join-me-7 >>"$WORK/agent.log" 2>&1 &
pids+=($!)
DROVER_NODE_SECRET=join-me-7 "$BIN/drover-agent" -servers "$ADDR" -data-dir "$WORK/agent2" -node-name member2 \
        -raw-exec -http-addr "127.0.0.1:$((PORT + 3))" >>"$WORK/agent2.log" 2>&1 &
pids+=($!)
if wait_for 20 sh -c "curl -fs $ADDR/v1/nodes | grep -q '\"Name\":\"member\".*\"Status\":\"ready\"\\|\"Status\":\"ready\".*\"Name\":\"member\"'" &&
        wait_for 20 sh -c "curl -fs $ADDR/v1/nodes | grep -q member2"; then
        pass "agents with the registration secret (-node-secret, DROVER_NODE_SECRET) register"
else
        curl -s "$ADDR/v1/nodes"
        fail "agents with the registration secret (-node-secret, DROVER_NODE_SECRET) register"
fi
wait_for 10 grep -q "403" "$WORK/intruder.log" # the intruder has tried (and was refused)
if ! curl -fs "$ADDR/v1/nodes" | grep -q intruder && grep -q "403" "$WORK/intruder.log"; then
        pass "an agent with the wrong secret is refused 403 and not registered ($(grep -o 'node registration refused[^;]*' "$WORK/intruder.log" | head -1))"
else
        fail "an agent with the wrong secret is refused 403 and not registered"
fi
code=$(curl -s -o "$WORK/reg.body" -w '%{http_code}' -X PUT --data-binary \
        '{"Node":{"ID":"99999999-2222-3333-4444-555555555555","SecretID":"x","Name":"curl","Datacenter":"dc1"}}' \
        "$ADDR/v1/node/register")
if [ "$code" = 403 ] && ! curl -fs "$ADDR/v1/nodes" | grep -q '"curl"'; then
        pass "a registration without the secret: 403 ($(cat "$WORK/reg.body"))"
else
        fail "a registration without the secret: 403 (got $code)"
fi
code=$(curl -s -o /dev/null -w '%{http_code}' -X PUT --data-binary '{"SecretID":"x"}' \
        "$ADDR/v1/node/99999999-2222-3333-4444-555555555555/heartbeat")
[ "$code" = 404 ] && pass "an unknown node's heartbeat: 404" || fail "an unknown node's heartbeat: 404 (got $code)"
a=$(curl -fs "$ADDR/v1/nodes" | grep -o '"ID":"[^"]*"' | head -1 | cut -d'"' -f4)
code=$(curl -s -o /dev/null -w '%{http_code}' -X PUT --data-binary '{"SecretID":"guess","Allocs":[]}' \
        "$ADDR/v1/node/$a/allocations")
[ "$code" = 403 ] && pass "an allocation update with a wrong node secret: 403" ||
        fail "an allocation update with a wrong node secret: 403 (got $code)"
if timeout 60 "$BIN/drover" job run -address "$ADDR" "$ROOT/examples/hello.hcl" >"$WORK/run.out" 2>&1 &&
        grep -q 'finished with status "complete"' "$WORK/run.out" &&
        wait_for 30 sh -c "[ \$(curl -fs $ADDR/v1/job/hello/allocations | grep -o '\"ClientStatus\":\"complete\"' | wc -l) = 3 ]"; then
        pass "a job runs on the authenticated nodes (their watch sends the node secret)"
else
        cat "$WORK/run.out"
        fail "a job runs on the authenticated nodes (their watch sends the node secret)"
fi
if ! grep -q "missed its heartbeat" "$WORK/server.log"; then
        pass "authenticated nodes keep heartbeating (TTL 1 s)"
else
        fail "authenticated nodes keep heartbeating (TTL 1 s)"
fi
end_test
