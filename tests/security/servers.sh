#!/bin/bash
# Server-to-server authentication (docs/security.md, "Servers among themselves"):
#  1. a plain 3-server cluster (no ACLs, no join token) forms as before, and its
#     /v1/internal/sched/* routes refuse a caller without the servers' secret while
#     the followers' scheduler workers, which present it, still finish evals;
#  2. -acl-enabled with -join and no -join-token is refused at start;
#  3. 3 servers with -acl-enabled and a -join-token form a cluster and elect a
#     leader; a join or a raft/self probe without the join token (or with a wrong
#     one, or with only the servers' secret) gets 403; every internal route gets
#     403 from an anonymous caller, a management token and a wrong secret; the
#     followers' workers still finish evals; the secret is in no API answer
#     (GET /v1/operator/snapshot included) and in no server log.
# Usage: tests/security/servers.sh BIN_DIR   (ports from PORT_LO..PORT_LO+PORT_SPAN-1: lib.sh)
set -u
BIN=$(cd "${1:-build/bin}" && pwd)
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"
setup_work servers
unset DROVER_TOKEN NOMAD_TOKEN DROVER_JOIN_TOKEN
JOIN_TOKEN="jt-$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')"
SCHED=(dequeue plan eval ack)

http() { echo "127.0.0.1:$((PORT + $1 * 2))"; }
raft() { echo "127.0.0.1:$((PORT + 1 + $1 * 2))"; }
start_cluster() { # start_cluster NAME EXTRA_FLAGS...: 3 servers, -bootstrap-expect 3
        local name=$1 i
        shift
        pick_ports 6 || { log "FAIL: no free ports from ${PORT_LO:-26000}"; exit 1; }
        JOIN="$(http 0),$(http 1),$(http 2)"
        for i in 0 1 2; do
                "$BIN/drover-server" -data-dir "$WORK/$name$i" -http-addr "$(http $i)" -raft-addr "$(raft $i)" \
                        -bootstrap-expect 3 -join "$JOIN" -num-schedulers 1 "$@" >>"$WORK/$name$i.log" 2>&1 &
                pids+=($!)
        done
}
leader_of() { curl -s -m 2 "http://$(http "$1")/v1/status/leader" | tr -d '"'; }
all_agree() {
        local l0 l1 l2
        l0=$(leader_of 0) l1=$(leader_of 1) l2=$(leader_of 2)
        [ -n "$l0" ] && [ "$l0" = "$l1" ] && [ "$l1" = "$l2" ]
}
leader_idx() {
        local l k
        l=$(leader_of 0)
        for k in 0 1 2; do [ "$l" = "$(raft $k)" ] && echo "$k"; done
}
# code METHOD URL [HEADER...]: the HTTP status; the body in $WORK/body
code() {
        local m=$1 u=$2 args=() h
        shift 2
        for h in "$@"; do args+=(-H "$h"); done
        curl -s -m 10 -o "$WORK/body" -w '%{http_code}' -X "$m" "${args[@]}" --data-binary '{}' "$u"
}
expect_code() { # expect_code WANT DESCRIPTION METHOD URL [HEADER...]
        local want=$1 what=$2 got
        shift 2
        got=$(code "$@")
        if [ "$got" = "$want" ]; then pass "$what: $got ($(head -c 110 "$WORK/body"))"; else fail "$what: want $want, got $got ($(head -c 200 "$WORK/body"))"; fi
}
# The followers' workers at work: fake nodes with room, then batch jobs through every server.
register_nodes() { # register_nodes [HEADER]
        local n
        for n in 1 2 3; do
                printf '{"Node":{"ID":"00000000-0000-4000-8000-00000000000%d","SecretID":"s","Name":"sn-%d","Datacenter":"dc1","Status":"ready","NodeResources":{"Cpu":{"CpuShares":100000},"Memory":{"MemoryMB":100000},"Disk":{"DiskMB":100000}},"Drivers":{"raw_exec":{"Detected":true,"Healthy":true}}}}' "$n" "$n" |
                        curl -s -m 5 -o /dev/null -X PUT ${1:+-H "$1"} --data-binary @- "http://$(http $((n % 3)))/v1/node/register"
        done
}
register_jobs() { # register_jobs PREFIX COUNT [HEADER]
        local n
        for n in $(seq 1 "$2"); do
                printf '{"Job":{"ID":"%s-%d","Type":"batch","TaskGroups":[{"Name":"g","Count":2,"Tasks":[{"Name":"t","Driver":"raw_exec","Config":{"command":"/bin/true"},"Resources":{"CPU":10,"MemoryMB":10}}]}]}}' "$1" "$n" |
                        curl -s -m 5 -o /dev/null -X PUT ${3:+-H "$3"} --data-binary @- "http://$(http $((n % 3)))/v1/jobs"
        done
}
from_leader() { # from_leader [HEADER]: evals finished by followers' workers, summed
        local t=0 i v
        for i in 0 1 2; do
                v=$(curl -s -m 2 ${1:+-H "$1"} "http://$(http $i)/v1/internal/raft/self" | grep -o '"FromLeader":[0-9]*' | cut -d: -f2)
                t=$((t + ${v:-0}))
        done
        echo $t
}
followers_worked() { [ "$(from_leader "$@")" -gt "$fw0" ]; } # since fw0 was read
placed() { # placed PREFIX COUNT [HEADER]: every allocation of PREFIX-* exists on the leader
        [ "$(curl -s -m 5 ${3:+-H "$3"} "http://$(http 0)/v1/allocations" | grep -o "\"Name\":\"$1-[0-9]*\.g\[[0-9]\]\"" | sort -u | wc -l)" = $(($2 * 2)) ]
}
stop_cluster() {
        for p in "${pids[@]}"; do kill "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
        pids=()
}

log "== drover server-to-server tests (work dir $WORK)"

# --- 1. a plain cluster: forms, its internal routes are closed, followers schedule -------------
start_cluster plain
if wait_for 40 all_agree && [ -n "$(leader_idx)" ]; then
        pass "plain: 3 servers without ACLs elect a leader ($(leader_of 0))"
        L=$(leader_idx)
        for w in "${SCHED[@]}"; do
                expect_code 403 "plain: anonymous POST /v1/internal/sched/$w on the leader" POST "http://$(http "$L")/v1/internal/sched/$w"
        done
        register_nodes
        fw0=$(from_leader)
        register_jobs plain 20
        if wait_for 40 placed plain 20 && wait_for 20 followers_worked; then
                pass "plain: 20 jobs placed; followers' workers finished $(($(from_leader) - fw0)) evals (they present the secret)"
        else
                fail "plain: followers' workers finished $(($(from_leader) - fw0)) evals; placed: $(placed plain 20 && echo yes || echo no)"
        fi
else
        fail "plain: 3 servers without ACLs elect a leader"
fi
stop_cluster

# --- 2. ACLs and -join without a join token: refused at start ------------------------------
if "$BIN/drover-server" -acl-enabled -bootstrap-expect 3 -join 127.0.0.1:1,127.0.0.1:2 -data-dir "$WORK/nojt" \
        >"$WORK/nojt.out" 2>&1; then
        fail "-acl-enabled -join without -join-token starts"
else
        grep -q "join-token" "$WORK/nojt.out" && pass "-acl-enabled -join without -join-token is refused: $(head -c 120 "$WORK/nojt.out")" ||
                fail "-acl-enabled -join without -join-token: no message ($(cat "$WORK/nojt.out"))"
fi
if "$BIN/drover-server" -join-token short -data-dir "$WORK/short" >"$WORK/short.out" 2>&1; then
        fail "a 5-character -join-token is accepted"
else
        pass "a 5-character -join-token is refused: $(head -c 100 "$WORK/short.out")"
fi

# --- 3. an ACL cluster with a join token ----------------------------------------------------
JT="X-Drover-Join-Token: $JOIN_TOKEN"
start_cluster acl -acl-enabled -join-token "$JOIN_TOKEN"
if ! wait_for 40 all_agree || [ -z "$(leader_idx)" ]; then
        fail "acl: 3 servers with -acl-enabled and -join-token elect a leader"
        log "$passed passed, $failed failed"
        exit 1
fi
pass "acl: 3 servers with -acl-enabled and -join-token form a cluster and elect a leader ($(leader_of 0))"
L=$(leader_idx)
F=$(((L + 1) % 3))
n_voters() { # n_voters I: the voters of server I's Raft configuration (raft/self with the join token)
        curl -s -m 2 -H "$JT" "http://$(http "$1")/v1/internal/raft/self" |
                python3 -c 'import json,sys; print(len(json.load(sys.stdin)["Voters"]))' 2>/dev/null
}
voters=$(n_voters "$F")
[ "$voters" = 3 ] && pass "acl: every server is a voter (raft/self with the join token)" || fail "acl: voters seen: $voters"

JOIN_BODY='{"ID":999,"Address":"127.0.0.1:9","HTTPAddr":"127.0.0.1:8"}'
for s in "$L" "$F"; do
        for hdr in "" "X-Drover-Join-Token: wrong-token-0123456789" "X-Drover-Server-Secret: $(printf '%064d' 0)"; do
                got=$(curl -s -m 10 -o "$WORK/body" -w '%{http_code}' -X PUT ${hdr:+-H "$hdr"} --data-binary "$JOIN_BODY" \
                        "http://$(http "$s")/v1/operator/raft/join")
                [ "$got" = 403 ] && pass "acl: a join to server $s with ${hdr:-no credential} is refused: 403 ($(head -c 100 "$WORK/body"))" ||
                        fail "acl: a join to server $s with ${hdr:-no credential}: $got ($(head -c 200 "$WORK/body"))"
        done
        expect_code 403 "acl: a raft/self probe of server $s without the join token" GET "http://$(http "$s")/v1/internal/raft/self"
done
voters=$(n_voters "$L")
[ "$voters" = 3 ] && pass "acl: the refused joins added no voter" || fail "acl: voters after refused joins: $voters"

if DROVER_ADDR="http://$(http "$L")" "$BIN/drover" acl bootstrap >"$WORK/boot.out" 2>&1; then
        MGMT=$(awk -F'= ' '/^Secret ID/ {print $2}' "$WORK/boot.out")
        pass "acl: bootstrap on the cluster"
else
        fail "acl: bootstrap ($(cat "$WORK/boot.out"))"
        MGMT=none
fi
TOK="X-Nomad-Token: $MGMT"
for s in "$L" "$F"; do
        for w in "${SCHED[@]}"; do
                u="http://$(http "$s")/v1/internal/sched/$w"
                expect_code 403 "acl: anonymous POST /v1/internal/sched/$w on server $s" POST "$u"
                expect_code 403 "acl: management token on /v1/internal/sched/$w of server $s" POST "$u" "$TOK"
                expect_code 403 "acl: a wrong secret on /v1/internal/sched/$w of server $s" POST "$u" \
                        "X-Drover-Server-Secret: $(printf '%064d' 0)"
                expect_code 403 "acl: the join token on /v1/internal/sched/$w of server $s" POST "$u" "$JT"
        done
done
register_nodes
fw0=$(from_leader "$JT")
register_jobs acl 20 "$TOK"
if wait_for 40 placed acl 20 "$TOK" && wait_for 20 followers_worked "$JT"; then
        pass "acl: 20 jobs placed; followers' workers finished $(($(from_leader "$JT") - fw0)) evals meanwhile"
else
        fail "acl: followers' workers finished $(($(from_leader "$JT") - fw0)) evals; placed: $(placed acl 20 "$TOK" && echo yes || echo no)"
fi
# The secret leaves the servers nowhere: not in the operator snapshot, not in a log.
code GET "http://$(http "$L")/v1/operator/snapshot" "$TOK" >/dev/null
if grep -q '"ACLTokens"' "$WORK/body" && ! grep -q 'ServerSecret' "$WORK/body"; then
        pass "acl: GET /v1/operator/snapshot carries no ServerSecret"
else
        fail "acl: the operator snapshot: $(head -c 200 "$WORK/body")"
fi
secret=$(grep -raoh '"ServerSecretSet","Secret":"[0-9a-f]\{64\}"' "$WORK/acl$L" 2>/dev/null | head -1 |
        grep -o '[0-9a-f]\{64\}')
if [ -n "$secret" ]; then
        if grep -rq "$secret" "$WORK"/*.log; then fail "acl: the servers' secret is in a log"; else pass "acl: the servers' secret (found in the Raft log on disk) is in no server log"; fi
        expect_code 200 "acl: the leader's dequeue with the servers' secret" POST "http://$(http "$L")/v1/internal/sched/dequeue" \
                "X-Drover-Server-Secret: $secret"
        # An eval update from a worker whose token is no longer outstanding (its eval was
        # redelivered, or never handed to it) is refused and nothing is written.
        sid=00000000-0000-4000-8000-0000000057a1
        got=$(curl -s -m 10 -o "$WORK/body" -w '%{http_code}' -X POST -H "X-Drover-Server-Secret: $secret" \
                --data-binary "{\"Eval\":{\"ID\":\"$sid\",\"Namespace\":\"default\",\"JobID\":\"acl-1\",\"Type\":\"batch\",\"Priority\":50,\"TriggeredBy\":\"job-register\",\"Status\":\"complete\"},\"EvalID\":\"$sid\",\"Token\":\"stale\"}" \
                "http://$(http "$L")/v1/internal/sched/eval")
        if [ "$got" = 409 ] && [ "$(code GET "http://$(http "$L")/v1/evaluation/$sid" "$TOK")" = 404 ]; then
                pass "acl: an eval update under a token no longer outstanding: 409, nothing written"
        else
                fail "acl: a stale eval update: want 409 and no eval, got $got ($(head -c 200 "$WORK/body"))"
        fi
else
        log "SKIP: the servers' secret was not found in the Raft log files (stored otherwise); log check skipped"
fi
stop_cluster
log "$passed passed, $failed failed"
[ "$failed" = 0 ]
