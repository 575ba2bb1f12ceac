#!/bin/bash
# ACLs (docs/security.md, "ACLs"): a server with -acl-enabled; `drover acl
# bootstrap` gives the first management token (once); without a token nothing
# needing a capability is allowed; a token with only read on namespace "default"
# lists jobs but cannot register one; a write token can; a deleted token is
# refused; every denial is 403 with a message; the ACL state survives a restart
# (Raft log / snapshot); an agent registers and runs a job with ACLs on.
# Usage: tests/security/acl.sh BIN_DIR
set -u
BIN=$(cd "${1:-build/bin}" && pwd)
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"
setup_work acl
pick_ports 3 || { log "FAIL: no free ports in 26000-26999"; exit 1; }
ADDR="http://127.0.0.1:$PORT"
export DROVER_ADDR=$ADDR
unset DROVER_TOKEN NOMAD_TOKEN
log "== drover ACL tests (work dir $WORK, API $ADDR)"
start_server() {
        "$BIN/drover-server" -dev -acl-enabled -acl-token-gc-threshold 3s -data-dir "$WORK/server" -http-addr "127.0.0.1:$PORT" \
                -raft-addr "127.0.0.1:$((PORT + 1))" >>"$WORK/server.log" 2>&1 &
        server=$!
        pids+=($server)
        wait_for 20 sh -c "curl -fs $ADDR/v1/status/leader | grep -q 127.0.0.1"
}
start_server || { fail "server starts"; exit 1; }

# code METHOD PATH [TOKEN] [BODY]: the HTTP status; the body in $WORK/body
code() {
        local args=(-s -o "$WORK/body" -w '%{http_code}' -X "$1")
        [ -n "${3:-}" ] && args+=(-H "X-Nomad-Token: $3")
        [ -n "${4:-}" ] && args+=(--data-binary "$4")
        curl "${args[@]}" "$ADDR$2"
}
expect() { # expect WANT DESCRIPTION METHOD PATH [TOKEN] [BODY]
        local want=$1 what=$2 got
        shift 2
        got=$(code "$@")
        if [ "$got" = "$want" ]; then pass "$what: $got ($(head -c 120 "$WORK/body"))"; else fail "$what: want $want, got $got ($(head -c 200 "$WORK/body"))"; fi
}
job() { printf '{"Job":{"ID":"%s","Name":"%s","Type":"batch","Datacenters":["dc1"],"TaskGroups":[{"Name":"g","Count":1,"Tasks":[{"Name":"t","Driver":"raw_exec","Config":{"command":"/bin/true"}}]}]}}' "$1" "$1"; }

expect 403 "anonymous: job list denied" GET /v1/jobs
expect 403 "anonymous: register denied" PUT /v1/jobs "" "$(job anon)"
expect 403 "anonymous: node list denied" GET /v1/nodes
expect 200 "anonymous: /v1/status/leader allowed" GET /v1/status/leader
expect 403 "?token= is not accepted" GET "/v1/jobs?token=x"

if "$BIN/drover" acl bootstrap >"$WORK/boot.out" 2>&1; then
        MGMT=$(awk -F'= ' '/^Secret ID/ {print $2}' "$WORK/boot.out")
        pass "drover acl bootstrap gives a management token"
else
        fail "drover acl bootstrap ($(cat "$WORK/boot.out"))"
        exit 1
fi
if ! "$BIN/drover" acl bootstrap >"$WORK/boot2.out" 2>&1 && grep -q "already done" "$WORK/boot2.out"; then
        pass "a second bootstrap is refused ($(head -1 "$WORK/boot2.out"))"
else
        fail "a second bootstrap is refused ($(cat "$WORK/boot2.out"))"
fi
expect 403 "an unknown token is denied" GET /v1/jobs 11111111-2222-3333-4444-555555555555
expect 200 "the management token lists jobs" GET /v1/jobs "$MGMT"

printf 'namespace "default" {\n  policy = "read"\n}\nnode {\n  policy = "read"\n}\n' >"$WORK/ro.hcl"
printf 'namespace "default" {\n  policy = "write"\n}\n' >"$WORK/rw.hcl"
export DROVER_TOKEN=$MGMT
if "$BIN/drover" acl policy apply -description "read only" readonly "$WORK/ro.hcl" >/dev/null &&
        "$BIN/drover" acl policy apply writer "$WORK/rw.hcl" >/dev/null &&
        "$BIN/drover" acl policy list | grep -q readonly &&
        "$BIN/drover" acl policy info readonly | grep -q 'policy = "read"'; then
        pass "drover acl policy apply/list/info"
else
        fail "drover acl policy apply/list/info"
fi
printf 'namespace "default" {\n  policy = "bogus"\n}\n' >"$WORK/bad.hcl"
if ! "$BIN/drover" acl policy apply bad "$WORK/bad.hcl" >"$WORK/bad.out" 2>&1 && grep -q "400" "$WORK/bad.out"; then
        pass "an invalid policy is refused 400 ($(head -c 160 "$WORK/bad.out"))"
else
        fail "an invalid policy is refused 400 ($(cat "$WORK/bad.out"))"
fi
"$BIN/drover" acl token create -name ro -policy readonly >"$WORK/ro.out" 2>&1
RO=$(awk -F'= ' '/^Secret ID/ {print $2}' "$WORK/ro.out")
RO_ACC=$(awk -F'= ' '/^Accessor ID/ {print $2}' "$WORK/ro.out")
"$BIN/drover" acl token create -name=rw -policy=writer >"$WORK/rw.out" 2>&1
RW=$(awk -F'= ' '/^Secret ID/ {print $2}' "$WORK/rw.out")
if [ -n "$RO" ] && [ -n "$RW" ] && "$BIN/drover" acl token list | grep -q ro; then
        pass "drover acl token create/list"
else
        fail "drover acl token create/list ($(cat "$WORK/ro.out" "$WORK/rw.out"))"
fi
unset DROVER_TOKEN

expect 200 "read-only token lists jobs" GET /v1/jobs "$RO"
expect 200 "read-only token (node:read) lists nodes" GET /v1/nodes "$RO"
expect 403 "read-only token cannot register a job" PUT /v1/jobs "$RO" "$(job ro)"
expect 403 "read-only token cannot write ACL policies" PUT /v1/acl/policy/x "$RO" '{"Name":"x","Rules":""}'
expect 403 "a write token for \"default\" cannot register in \"prod\"" PUT "/v1/jobs?namespace=prod" "$RW" "$(job rwprod)"
expect 200 "write token registers a job" PUT /v1/jobs "$RW" "$(job rw)"
expect 403 "write token cannot list nodes (no node policy)" GET /v1/nodes "$RW"
if "$BIN/drover" acl token self -token "$RO" | grep -q "Secret ID *= <hidden>"; then
        pass "drover acl token self -token: the token, without its secret"
else
        fail "drover acl token self -token"
fi
if ! curl -s -H "X-Nomad-Token: $MGMT" "$ADDR/v1/acl/tokens" | grep -q "$RO\|SecretHash"; then
        pass "token list carries neither secrets nor their hashes"
else
        fail "token list carries neither secrets nor their hashes"
fi
if NOMAD_TOKEN=$MGMT "$BIN/drover" job status >"$WORK/st.out" 2>&1 && grep -q '^rw ' "$WORK/st.out"; then
        pass "NOMAD_TOKEN reaches every command (job status lists rw)"
else
        fail "NOMAD_TOKEN reaches every command ($(cat "$WORK/st.out"))"
fi
if ! "$BIN/drover" job status >"$WORK/st2.out" 2>&1 && grep -q 403 "$WORK/st2.out"; then
        pass "the CLI without a token: 403 ($(head -c 120 "$WORK/st2.out"))"
else
        fail "the CLI without a token: 403 ($(cat "$WORK/st2.out"))"
fi

# anonymous policy
printf 'namespace "default" {\n  policy = "read"\n}\n' >"$WORK/anon.hcl"
DROVER_TOKEN=$MGMT "$BIN/drover" acl policy apply anonymous "$WORK/anon.hcl" >/dev/null
expect 200 "the anonymous policy applies without a token" GET /v1/jobs
expect 403 "... and grants only what it says" PUT /v1/jobs "" "$(job anon)"
DROVER_TOKEN=$MGMT "$BIN/drover" acl policy delete anonymous >/dev/null

# roles: a token with only a role gets the role's policies, as the role is now
export DROVER_TOKEN=$MGMT
if "$BIN/drover" acl role create -name=readers -description="read only" -policy=readonly >"$WORK/role.out" 2>&1 &&
        ROLE_ID=$(awk -F'= ' '/^ID/ {print $2}' "$WORK/role.out") && [ ${#ROLE_ID} = 36 ] &&
        "$BIN/drover" acl role list | grep -q readers &&
        "$BIN/drover" acl role info -by-name readers | grep -q "Policies *= \[readonly\]"; then
        pass "drover acl role create/list/info"
else
        fail "drover acl role create/list/info ($(cat "$WORK/role.out"))"
fi
"$BIN/drover" acl token create -name viarole -role-name readers >"$WORK/viarole.out" 2>&1
ROLETOK=$(awk -F'= ' '/^Secret ID/ {print $2}' "$WORK/viarole.out")
grep -q "Roles *= \[readers\]" "$WORK/viarole.out" && pass "drover acl token create -role-name: the token carries the role" ||
        fail "drover acl token create -role-name ($(cat "$WORK/viarole.out"))"
unset DROVER_TOKEN
expect 200 "a token with only a role: the role's policy lets it list jobs" GET /v1/jobs "$ROLETOK"
expect 200 "... and list nodes (node:read in the role's policy)" GET /v1/nodes "$ROLETOK"
expect 403 "... and nothing else: no job register" PUT /v1/jobs "$ROLETOK" "$(job viarole)"
expect 403 "... no ACL writes" PUT /v1/acl/policy/x "$ROLETOK" '{"Name":"x","Rules":""}'
expect 403 "... no other namespace" GET "/v1/jobs?namespace=prod" "$ROLETOK"
expect 400 "a role naming a missing policy is refused" POST /v1/acl/role "$MGMT" '{"Name":"r","Policies":[{"Name":"nope"}]}'
expect 409 "a second role with the same name is refused" POST /v1/acl/role "$MGMT" '{"Name":"readers","Policies":[{"Name":"writer"}]}'
DROVER_TOKEN=$MGMT "$BIN/drover" acl role update -policy=writer "$ROLE_ID" >/dev/null
expect 200 "the role now names the write policy: the same token registers a job at once" PUT /v1/jobs "$ROLETOK" "$(job viarole)"
expect 403 "... and lost node:read with the read policy" GET /v1/nodes "$ROLETOK"

# restart: ACL state is in Raft
kill "$server" && wait "$server" 2>/dev/null
start_server || { fail "server restarts"; exit 1; }
expect 200 "after a restart the read-only token still works" GET /v1/jobs "$RO"
expect 200 "after a restart the role and the token's link to it are kept" PUT /v1/jobs "$ROLETOK" "$(job viarole2)"
if DROVER_TOKEN=$MGMT "$BIN/drover" acl role delete "$ROLE_ID" >/dev/null; then
        pass "drover acl role delete"
else
        fail "drover acl role delete"
fi
expect 403 "deleting the role removes the grant from its tokens" GET /v1/jobs "$ROLETOK"
expect 403 "after a restart anonymous is denied again (policy deleted)" GET /v1/jobs

if DROVER_TOKEN=$MGMT "$BIN/drover" acl token info "$RO_ACC" | grep -q "$RO_ACC" &&
        ! DROVER_TOKEN=$MGMT "$BIN/drover" acl token info 2>"$WORK/usage.err" && grep -q "^Usage: drover acl token info" "$WORK/usage.err" &&
        ! DROVER_TOKEN=$MGMT "$BIN/drover" acl policy info no-such-policy 2>"$WORK/nf.err" && grep -q "^Error reading the ACL policy: .*404" "$WORK/nf.err"; then
        pass "drover acl token info; without its argument: the usage; a missing policy: Error reading the ACL policy ($(head -c 80 "$WORK/nf.err"))"
else
        fail "drover acl token info / usage / missing policy: $(cat "$WORK/usage.err" "$WORK/nf.err" 2>/dev/null | head -c 300)"
fi
if DROVER_TOKEN=$MGMT "$BIN/drover" acl token delete "$RO_ACC" >/dev/null; then
        pass "drover acl token delete"
else
        fail "drover acl token delete"
fi
expect 403 "a deleted token is refused" GET /v1/jobs "$RO"

# token expiration: a token made with -ttl 2s works, then is refused with "ACL
# token expired", then the leader deletes it
DROVER_TOKEN=$MGMT "$BIN/drover" acl token create -name short -policy readonly -ttl 2s >"$WORK/short.out" 2>&1
SHORT=$(awk -F'= ' '/^Secret ID/ {print $2}' "$WORK/short.out")
SHORT_ACC=$(awk -F'= ' '/^Accessor ID/ {print $2}' "$WORK/short.out")
if [ -n "$SHORT" ] && ! grep -q "Expiry Time *= <none>" "$WORK/short.out" && grep -q "Expiry Time" "$WORK/short.out"; then
        pass "drover acl token create -ttl 2s: the token has an expiry time"
else
        fail "drover acl token create -ttl 2s: the token has an expiry time ($(cat "$WORK/short.out"))"
fi
expect 200 "a token before its expiry works" GET /v1/jobs "$SHORT"
sleep 2.5
expect 403 "an expired token is refused" GET /v1/jobs "$SHORT"
grep -q "ACL token expired" "$WORK/body" && pass "... with \"ACL token expired\"" ||
        fail "... with \"ACL token expired\" ($(cat "$WORK/body"))"
if wait_for 10 sh -c "[ \$(curl -s -o /dev/null -w '%{http_code}' -H 'X-Nomad-Token: $MGMT' $ADDR/v1/acl/token/$SHORT_ACC) = 404 ]"; then
        pass "the leader deletes the expired token"
else
        fail "the leader deletes the expired token"
fi
expect 400 "a TTL beyond 24h is refused" PUT /v1/acl/token "$MGMT" '{"Name":"long","Type":"management","ExpirationTTL":"25h"}'
expect 400 "ExpirationTTL and ExpirationTime together are refused" PUT /v1/acl/token "$MGMT" \
        '{"Name":"both","Type":"management","ExpirationTTL":"1h","ExpirationTime":1}'
expect 200 "ExpirationTTL in nanoseconds (Nomad's JSON) is accepted" PUT /v1/acl/token "$MGMT" \
        '{"Name":"ns","Type":"management","ExpirationTTL":60000000000}'
grep -q '"ExpirationTime":' "$WORK/body" && pass "... and the reply carries ExpirationTime" ||
        fail "... and the reply carries ExpirationTime ($(cat "$WORK/body"))"
expect 403 "a client token cannot list tokens" GET /v1/acl/tokens "$RW"

# agents keep working under ACLs: their node secret (registration, heartbeats, the
# allocation watch) needs no ACL token
"$BIN/drover-agent" -servers "$ADDR" -data-dir "$WORK/agent" -node-name member -raw-exec \
        -http-addr "127.0.0.1:$((PORT + 2))" >>"$WORK/agent.log" 2>&1 &
pids+=($!)
if wait_for 40 sh -c "curl -fs -H 'X-Nomad-Token: $MGMT' $ADDR/v1/job/rw/allocations | grep -q '\"ClientStatus\":\"complete\"'"; then
        pass "with ACLs on, an agent registers and runs the job registered by the write token"
else
        curl -s -H "X-Nomad-Token: $MGMT" "$ADDR/v1/job/rw/allocations"
        fail "with ACLs on, an agent registers and runs the job registered by the write token"
fi

log "== acl: $passed passed, $failed failed"
[ "$failed" = 0 ]
