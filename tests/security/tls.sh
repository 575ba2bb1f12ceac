#!/bin/bash
# TLS and mutual TLS on the HTTP API and on Raft (docs/security.md): certificates
# are made with drover tls (and checked with openssl); a server with -tls-http -tls-verify-https-client must refuse
# plain HTTP, clients without a certificate and certificates of another CA, and
# serve the CLI and an agent (register, heartbeats, a job run) over mTLS.
# Usage: tests/security/tls.sh BIN_DIR
set -u
RM_WORK=$(cd "$(dirname "${BASH_SOURCE[0]}")/../support" && pwd)/rm_work.sh # rm -rf that first detaches mounts
BIN=$(cd "${1:-build/bin}" && pwd)
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
. "$HERE/lib.sh"
WORK=$(mktemp -d /tmp/drover-tls-XXXXXX)
passed=0
failed=0
server_pid=""
agent_pid=""
cleanup() {
        [ -n "$agent_pid" ] && kill "$agent_pid" 2>/dev/null && wait "$agent_pid" 2>/dev/null
        [ -n "$server_pid" ] && kill -9 "$server_pid" 2>/dev/null
        wait 2>/dev/null
        "$RM_WORK" "$WORK"
}
trap cleanup EXIT

command -v openssl >/dev/null || { log "SKIP: openssl not installed (make deps installs it)"; exit 0; }
pick_ports 3 || { log "FAIL: no free ports in 26000-26999"; exit 1; }
C="$WORK/certs"
mkdir -p "$C"
# drover tls makes every certificate: the cluster CA (in $C/ca) and another CA (in
# $C/other), each with its server, client and CLI certificates, then linked to
# short names (ca.pem, server.pem, cli.pem, agent.pem, otherca.pem, intruder.pem,
# rogue.pem and their -key.pem)
mkdir -p "$C/ca" "$C/other"
mkcerts() {
        (cd "$1" && "$BIN/drover" tls ca create -days 2 && "$BIN/drover" tls cert create -server -days 2 &&
                "$BIN/drover" tls cert create -client -days 2 && "$BIN/drover" tls cert create -cli -days 2) \
                >>"$WORK/certs.out" 2>&1
}
link() { ln -s "$C/$1.pem" "$C/$2.pem" && ln -s "$C/$1-key.pem" "$C/$2-key.pem"; }
mkcerts "$C/ca" && mkcerts "$C/other" && ln -s "$C/ca/nomad-agent-ca.pem" "$C/ca.pem" &&
        ln -s "$C/other/nomad-agent-ca.pem" "$C/otherca.pem" && link ca/global-server-nomad server &&
        link ca/global-cli-nomad cli && link ca/global-client-nomad agent && link other/global-cli-nomad intruder &&
        link other/global-server-nomad rogue ||
        { cat "$WORK/certs.out"; log "FAIL: cannot make test certificates with drover tls"; exit 1; }
# what drover tls made: valid for openssl too, with Nomad's names and usages
if openssl verify -CAfile "$C/ca.pem" "$C/server.pem" "$C/cli.pem" "$C/agent.pem" >/dev/null 2>&1 &&
        ! openssl verify -CAfile "$C/ca.pem" "$C/rogue.pem" >/dev/null 2>&1 &&
        openssl x509 -in "$C/server.pem" -noout -text | grep -q "DNS:server.global.nomad, DNS:localhost, IP Address:127.0.0.1" &&
        openssl x509 -in "$C/server.pem" -noout -text | grep -q "TLS Web Client Authentication, TLS Web Server Authentication" &&
        ! openssl x509 -in "$C/cli.pem" -noout -text | grep -q "TLS Web Server Authentication" &&
        [ "$(stat -c %a "$C/ca/global-server-nomad-key.pem")" = 600 ]; then
        pass "drover tls ca create / cert create -server|-client|-cli: certificates openssl verifies, with Nomad's names"
else
        openssl x509 -in "$C/server.pem" -noout -text
        fail "drover tls ca create / cert create -server|-client|-cli: certificates openssl verifies, with Nomad's names"
fi
if ! (cd "$C/ca" && "$BIN/drover" tls cert create -server) >"$WORK/again.out" 2>&1 && grep -q "already exists" "$WORK/again.out" &&
        (cd "$C/ca" && "$BIN/drover" tls cert create -server -region eu -additional-dnsname web.example \
                -additional-ipaddress 10.1.2.3) >/dev/null 2>&1 &&
        openssl x509 -in "$C/ca/eu-server-nomad.pem" -noout -text | grep -q "DNS:server.eu.nomad, DNS:localhost, DNS:web.example, IP Address:127.0.0.1, IP Address:10.1.2.3" &&
        ! (cd "$C/ca" && "$BIN/drover" tls cert create -client -additional-ipaddress 10.1.2) >"$WORK/badip.out" 2>&1 &&
        grep -q "not an IP address" "$WORK/badip.out"; then
        pass "drover tls cert create: never overwrites; -region, -additional-dnsname/-ipaddress; a bad IP is refused"
else
        cat "$WORK/again.out" "$WORK/badip.out"
        fail "drover tls cert create: never overwrites; -region, -additional-dnsname/-ipaddress; a bad IP is refused"
fi
ADDR="https://127.0.0.1:$PORT"
MTLS=(--cacert "$C/ca.pem" --cert "$C/cli.pem" --key "$C/cli-key.pem")
# refused NAME CODES TEXT URL [CURL_ARG...]: curl -s -m 5 CURL_ARG... URL gets one of
# CODES ("403", "000" for no answer at all, or "403 000") and, when TEXT is not empty,
# an answer with TEXT in it; a pass or a fail that shows the code and the answer's start.
refused() {
        local name=$1 codes=$2 text=$3 url=$4 code body
        shift 4
        rm -f "$WORK/refused.body"
        code=$(curl -s -m 5 "$@" -o "$WORK/refused.body" -w '%{http_code}' "$url")
        body=$(head -c 200 "$WORK/refused.body" 2>/dev/null)
        if [[ " $codes " == *" $code "* ]] && { [ -z "$text" ] || grep -q "$text" "$WORK/refused.body" 2>/dev/null; }; then
                pass "$name: $code${body:+ (${body:0:100})}"
        else
                fail "$name: $codes (got $code${body:+: $body})"
        fi
}
# raft_refused NAME ADDR LOG TEXT OPENSSL_ARG...: an openssl s_client to the Raft port
# at ADDR with these certificate flags; passes when the server then logs, in LOG (a
# glob), that it refused the connection with TEXT in the reason (within 5 s).
raft_refused() {
        local name=$1 addr=$2 logs=$3 text=$4
        shift 4
        sleep 1 | timeout 10 openssl s_client -connect "$addr" "$@" >"$WORK/sclient.out" 2>&1
        if wait_for 5 sh -c "cat $logs | grep -q 'raft tls: incoming connection refused: .*$text'"; then
                pass "$name"
        else
                cat "$WORK/sclient.out"
                fail "$name"
        fi
}
log "== drover TLS tests (work dir $WORK, API $ADDR)"

# --- a key that does not match the certificate stops the server with a message ---
if ! "$BIN/drover-server" -dev -data-dir "$WORK/bad" -http-addr "127.0.0.1:$PORT" -raft-addr "127.0.0.1:$((PORT + 1))" \
        -tls-http -tls-cert-file "$C/server.pem" -tls-key-file "$C/cli-key.pem" >"$WORK/bad.out" 2>&1 &&
        grep -q "tls: certificate" "$WORK/bad.out"; then
        pass "server refuses to start with a key that does not match its certificate"
else
        cat "$WORK/bad.out"
        fail "server refuses to start with a key that does not match its certificate"
fi

"$BIN/drover-server" -dev -data-dir "$WORK/server" -http-addr "127.0.0.1:$PORT" -raft-addr "127.0.0.1:$((PORT + 1))" \
        -heartbeat-ttl 1s -heartbeat-grace 1s -tls-http -tls-ca-file "$C/ca.pem" -tls-cert-file "$C/server.pem" \
        -tls-key-file "$C/server-key.pem" -tls-verify-https-client >>"$WORK/server.log" 2>&1 &
server_pid=$!
if wait_for 20 sh -c "curl -fs $(printf '%q ' "${MTLS[@]}") $ADDR/v1/status/leader | grep -q 127.0.0.1"; then
        pass "server answers over mTLS with a client certificate from its CA"
else
        fail "server answers over mTLS with a client certificate from its CA"
        log "$passed passed, $failed failed"
        exit 1
fi

# --- plain HTTP is refused --------------------------------------------------------
refused "plain HTTP to the TLS listener gets no answer" 000 "" "http://127.0.0.1:$PORT/v1/status/leader"

# --- HTTPS without a client certificate: 403 with a message ----------------------
refused "HTTPS without a client certificate" 403 "no client certificate" "$ADDR/v1/jobs" --cacert "$C/ca.pem"

# --- a certificate from another CA: refused --------------------------------------
INTRUDER=(--cacert "$C/ca.pem" --cert "$C/intruder.pem" --key "$C/intruder-key.pem")
refused "a client certificate from another CA" 403 "rejected" "$ADDR/v1/jobs" "${INTRUDER[@]}"
# ...and a PUT with a body from it changes nothing
code=$(curl -s -m 5 "${INTRUDER[@]}" -X PUT --data-binary '{"Node":{"ID":"x"}}' -o /dev/null -w '%{http_code}' "$ADDR/v1/node/register")
if [ "$code" = 403 ] && curl -fs "${MTLS[@]}" "$ADDR/v1/nodes" | grep -qx '\[\]'; then
        pass "node registration with another CA's certificate: 403, no node"
else
        fail "node registration with another CA's certificate: 403, no node (got $code)"
fi

# --- a client that does not trust the server's CA refuses the server -------------
if ! curl -fs -m 5 --cacert "$C/otherca.pem" --cert "$C/cli.pem" --key "$C/cli-key.pem" \
        "$ADDR/v1/status/leader" >/dev/null 2>&1; then
        pass "a client trusting another CA refuses the server's certificate"
else
        fail "a client trusting another CA refuses the server's certificate"
fi

# --- the CLI: flags and environment ----------------------------------------------
if "$BIN/drover" node status -address "$ADDR" -ca-cert "$C/ca.pem" -client-cert "$C/cli.pem" \
        -client-key "$C/cli-key.pem" >"$WORK/cli1.out" 2>&1; then
        pass "drover node status with -ca-cert/-client-cert/-client-key"
else
        cat "$WORK/cli1.out"
        fail "drover node status with -ca-cert/-client-cert/-client-key"
fi
if DROVER_ADDR=$ADDR NOMAD_CACERT="$C/ca.pem" DROVER_CLIENT_CERT="$C/cli.pem" DROVER_CLIENT_KEY="$C/cli-key.pem" \
        "$BIN/drover" job status >"$WORK/cli2.out" 2>&1; then
        pass "drover job status with NOMAD_CACERT, DROVER_CLIENT_CERT, DROVER_CLIENT_KEY"
else
        cat "$WORK/cli2.out"
        fail "drover job status with NOMAD_CACERT, DROVER_CLIENT_CERT, DROVER_CLIENT_KEY"
fi
if ! "$BIN/drover" job status -address "$ADDR" -ca-cert "$C/ca.pem" >"$WORK/cli3.out" 2>&1 &&
        grep -q "403" "$WORK/cli3.out"; then
        pass "drover without a client certificate: refused ($(head -c 80 "$WORK/cli3.out"))"
else
        cat "$WORK/cli3.out"
        fail "drover without a client certificate: refused"
fi
if ! "$BIN/drover" job status -address "$ADDR" -ca-cert "$C/ca.pem" -client-cert "$C/cli.pem" >"$WORK/cli4.out" 2>&1 &&
        grep -q "needs its key" "$WORK/cli4.out"; then
        pass "drover -client-cert without -client-key: an error before any request"
else
        cat "$WORK/cli4.out"
        fail "drover -client-cert without -client-key: an error before any request"
fi

# --- an agent registers, heartbeats and runs a job over mTLS ----------------------
"$BIN/drover-agent" -servers "$ADDR" -data-dir "$WORK/agent" -node-name tls-node -raw-exec \
        -http-addr "127.0.0.1:$((PORT + 2))" -tls-ca-file "$C/ca.pem" -tls-cert-file "$C/agent.pem" \
        -tls-key-file "$C/agent-key.pem" -tls-http -tls-verify-https-client >>"$WORK/agent.log" 2>&1 &
agent_pid=$!
if wait_for 20 sh -c "curl -fs $(printf '%q ' "${MTLS[@]}") $ADDR/v1/nodes | grep -q '\"Status\":\"ready\"'"; then
        pass "agent registers over mTLS and its node becomes ready"
else
        fail "agent registers over mTLS and its node becomes ready"
fi
sleep 3 # > TTL 1 s + grace 1 s: heartbeats over mTLS keep the node ready
if curl -fs "${MTLS[@]}" "$ADDR/v1/nodes" | grep -q '"Status":"ready"'; then
        pass "node stays ready over mTLS heartbeats (TTL 1 s, 3 s later)"
else
        fail "node stays ready over mTLS heartbeats (TTL 1 s, 3 s later)"
fi
export DROVER_ADDR=$ADDR DROVER_CACERT="$C/ca.pem" DROVER_CLIENT_CERT="$C/cli.pem" DROVER_CLIENT_KEY="$C/cli-key.pem"
if timeout 60 "$BIN/drover" job run "$ROOT/examples/hello.hcl" >"$WORK/run.out" 2>&1 &&
        grep -q 'finished with status "complete"' "$WORK/run.out" &&
        wait_for 30 sh -c "[ \$(curl -fs $(printf '%q ' "${MTLS[@]}") $ADDR/v1/job/hello/allocations | grep -o '\"ClientStatus\":\"complete\"' | wc -l) = 3 ]"; then
        pass "a job runs over mTLS: 3 allocations complete"
else
        cat "$WORK/run.out"
        curl -s "${MTLS[@]}" "$ADDR/v1/job/hello/allocations" | head -c 600
        fail "a job runs over mTLS: 3 allocations complete"
fi
# --- the agent's own endpoint (logs, stats) is HTTPS with client certificates -------
AGENT="127.0.0.1:$((PORT + 2))"
ALLOC=$(curl -fs "${MTLS[@]}" "$ADDR/v1/job/hello/allocations" | grep -o '"ID":"[0-9a-f-]\{36\}"' | head -1 | cut -d'"' -f4)
[ -n "$ALLOC" ] || fail "an allocation of hello on the agent, for its log endpoint's checks"
LOGS="$AGENT/v1/client/fs/logs/$ALLOC?task=say"
refused "plain HTTP to the agent's -tls-http log endpoint gets no answer" 000 "" "http://$LOGS"
refused "HTTPS to the agent without a client certificate" 403 "client certificate" "https://$LOGS" --cacert "$C/ca.pem"
refused "HTTPS to the agent with a certificate from another CA is refused" "403 000" "" "https://$LOGS" "${INTRUDER[@]}"
if timeout 30 "$BIN/drover" alloc logs "$ALLOC" >"$WORK/alogs.out" 2>&1 && grep -q "hello from allocation" "$WORK/alogs.out"; then
        pass "drover alloc logs reads the task's log from the agent over HTTPS ($(head -1 "$WORK/alogs.out"))"
else
        fail "drover alloc logs reads the task's log from the agent over HTTPS ($(cat "$WORK/alogs.out"))"
fi
if curl -fs -m 30 "${MTLS[@]}" "$ADDR/v1/client/fs/logs/$ALLOC?task=say&type=stdout&plain=true" >"$WORK/fwd.out" 2>&1 &&
        grep -q "hello from allocation" "$WORK/fwd.out"; then
        pass "the server forwards /v1/client/fs/logs to the agent over HTTPS"
else
        fail "the server forwards /v1/client/fs/logs to the agent over HTTPS ($(head -c 200 "$WORK/fwd.out"))"
fi
# an agent without a client certificate cannot register
"$BIN/drover-agent" -servers "$ADDR" -data-dir "$WORK/agent2" -node-name no-cert-node -raw-exec -http-addr "" \
        -tls-ca-file "$C/ca.pem" >>"$WORK/agent2.log" 2>&1 &
agent2_pid=$!
wait_for 15 grep -q "403" "$WORK/agent2.log" # it has tried (and was refused)
kill "$agent2_pid" 2>/dev/null
wait "$agent2_pid" 2>/dev/null
if ! curl -fs "${MTLS[@]}" "$ADDR/v1/nodes" | grep -q no-cert-node && grep -q "403" "$WORK/agent2.log"; then
        pass "an agent without a client certificate is refused (403) and not registered"
else
        tail -5 "$WORK/agent2.log"
        fail "an agent without a client certificate is refused (403) and not registered"
fi

# --- three servers with mTLS form a cluster; a follower forwards over HTTPS ----------
kill "$agent_pid" 2>/dev/null && wait "$agent_pid" 2>/dev/null
agent_pid=""
kill -9 "$server_pid" 2>/dev/null
wait "$server_pid" 2>/dev/null
server_pid=""
if pick_ports 6; then
        join="127.0.0.1:$PORT,127.0.0.1:$((PORT + 2)),127.0.0.1:$((PORT + 4))"
        cpids=()
        for i in 0 1 2; do
                "$BIN/drover-server" -data-dir "$WORK/c$i" -http-addr "127.0.0.1:$((PORT + 2 * i))" \
                        -raft-addr "127.0.0.1:$((PORT + 2 * i + 1))" -bootstrap-expect 3 -join "$join" -num-schedulers 1 \
                        -tls-http -tls-ca-file "$C/ca.pem" -tls-cert-file "$C/server.pem" -tls-key-file "$C/server-key.pem" \
                        -tls-verify-https-client >>"$WORK/c$i.log" 2>&1 &
                cpids+=($!)
        done
        leader() { curl -fs -m 2 "${MTLS[@]}" "https://127.0.0.1:$((PORT + 2 * $1))/v1/status/leader" | tr -d '"'; }
        agree() { l=$(leader 0) && [ -n "$l" ] && [ "$l" = "$(leader 1)" ] && [ "$l" = "$(leader 2)" ]; }
        if wait_for 40 agree; then
                pass "3 servers with -tls-verify-https-client find each other over HTTPS and elect one leader ($(leader 0))"
                # a write sent to a follower is forwarded to the leader over mTLS
                lraft=$(leader 0)
                f=0
                [ "$lraft" = "127.0.0.1:$((PORT + 1))" ] && f=1
                if DROVER_ADDR="https://127.0.0.1:$((PORT + 2 * f))" timeout 60 "$BIN/drover" job run -detach \
                        "$ROOT/examples/hello.hcl" >"$WORK/fwd.out" 2>&1 &&
                        wait_for 20 sh -c "curl -fs $(printf '%q ' "${MTLS[@]}") https://127.0.0.1:$((PORT + 4))/v1/jobs | grep -q hello"; then
                        pass "a job registered through a follower is forwarded to the leader over mTLS"
                else
                        cat "$WORK/fwd.out"
                        fail "a job registered through a follower is forwarded to the leader over mTLS"
                fi
        else
                for i in 0 1 2; do tail -5 "$WORK/c$i.log"; done
                fail "3 servers with -tls-verify-https-client find each other over HTTPS and elect one leader"
        fi
        for p in "${cpids[@]}"; do kill -9 "$p" 2>/dev/null; done
        wait 2>/dev/null
else
        fail "no free ports for the cluster"
fi

# --- Raft over mutual TLS (-tls-rpc): three servers elect and replicate; a server
# with another CA's certificate is added by the leader (plain HTTP join) but never
# gets a Raft connection: it stays a non-voter with an empty log ---------------------
if pick_ports 6; then
        join="127.0.0.1:$PORT,127.0.0.1:$((PORT + 2)),127.0.0.1:$((PORT + 4))"
        RP=$PORT
        rpids=()
        for i in 0 1 2; do
                "$BIN/drover-server" -data-dir "$WORK/r$i" -http-addr "127.0.0.1:$((RP + 2 * i))" \
                        -raft-addr "127.0.0.1:$((RP + 2 * i + 1))" -bootstrap-expect 3 -join "$join" -num-schedulers 1 \
                        -tls-rpc -tls-ca-file "$C/ca.pem" -tls-cert-file "$C/server.pem" -tls-key-file "$C/server-key.pem" \
                        >>"$WORK/r$i.log" 2>&1 &
                rpids+=($!)
        done
        rleader() { curl -fs -m 2 "http://127.0.0.1:$((RP + 2 * $1))/v1/status/leader" | tr -d '"'; }
        ragree() { l=$(rleader 0) && [ -n "$l" ] && [ "$l" = "$(rleader 1)" ] && [ "$l" = "$(rleader 2)" ]; }
        if wait_for 90 ragree && grep -q "over mutual TLS" "$WORK/r0.log"; then
                pass "3 servers with Raft over mutual TLS elect one leader ($(rleader 0))"
        else
                fail "3 servers with Raft over mutual TLS elect one leader"
        fi
        # replication: each follower's own state (?stale) holds the job. Sent to server 0
        # once, right after the election: a follower that cannot reach the leader yet, or a
        # leader before its barrier, holds it until it can (-rpc-hold-timeout, 5 s; tested
        # in tests/integration/cluster_hold.sh), so no retry is needed.
        DROVER_ADDR="http://127.0.0.1:$RP" timeout 60 "$BIN/drover" job run -detach "$ROOT/examples/hello.hcl" \
                >"$WORK/rjob.out" 2>&1
        replicated() {
                local i
                for i in 0 1 2; do
                        curl -fs "http://127.0.0.1:$((RP + 2 * i))/v1/jobs?stale" | grep -q '"ID":"hello"' || return 1
                done
        }
        if wait_for 20 replicated; then
                pass "a job is replicated to every server's own state over Raft with TLS"
        else
                cat "$WORK/rjob.out"
                fail "a job is replicated to every server's own state over Raft with TLS"
        fi
        # a server whose certificate comes from another CA
        if pick_ports 2; then
                "$BIN/drover-server" -data-dir "$WORK/rogue" -http-addr "127.0.0.1:$PORT" -raft-addr "127.0.0.1:$((PORT + 1))" \
                        -join "127.0.0.1:$RP" -num-schedulers 1 -tls-rpc -tls-ca-file "$C/otherca.pem" \
                        -tls-cert-file "$C/rogue.pem" -tls-key-file "$C/rogue-key.pem" >>"$WORK/rogue.log" 2>&1 &
                rpids+=($!)
                RG=$PORT
                # the leader adds it (HTTP join is not what is tested here), then cannot reach it over Raft
                wait_for 20 sh -c "curl -fs http://127.0.0.1:$RP/v1/operator/raft/configuration | grep -q '127.0.0.1:$((RG + 1))'"
                sleep 5 # several connect attempts (one a second)
                conf=$(curl -fs "http://127.0.0.1:$RP/v1/operator/raft/configuration")
                rogue_voter=$(printf '%s' "$conf" | grep -o "\"Address\":\"127.0.0.1:$((RG + 1))\",[^}]*\"Voter\":[a-z]*" |
                        grep -o 'Voter":[a-z]*')
                if [ "$rogue_voter" != 'Voter":true' ] &&
                        ! curl -fs "http://127.0.0.1:$RG/v1/jobs?stale" | grep -q hello &&
                        [ -z "$(curl -fs "http://127.0.0.1:$RG/v1/status/leader" | tr -d '"')" ] &&
                        cat "$WORK"/r?.log | grep -q "raft tls: outgoing connection refused: 127.0.0.1:$((RG + 1)).*issuer is unknown"; then
                        pass "a server with another CA's certificate never becomes a voter nor receives the log (${rogue_voter:-not in the configuration})"
                else
                        printf '%s\n' "$conf"
                        fail "a server with another CA's certificate never becomes a voter nor receives the log"
                fi
        else
                fail "no free ports for the rogue server"
        fi
        # openssl s_client without a client certificate: the handshake is refused
        lraft=$(rleader 0)
        lraft=${lraft:-127.0.0.1:$((RP + 1))}
        if sleep 1 | timeout 10 openssl s_client -connect "$lraft" -CAfile "$C/ca.pem" >"$WORK/sclient.out" 2>&1; then
                sc=0
        else
                sc=1
        fi
        if [ $sc = 1 ] && ! grep -q "DRVRAFT" "$WORK/sclient.out" &&
                wait_for 5 sh -c "cat '$WORK'/r?.log | grep -q 'raft tls: incoming connection refused: .*Certificate is required'"; then
                pass "openssl s_client without a client certificate to the Raft port is refused"
        else
                cat "$WORK/sclient.out"
                fail "openssl s_client without a client certificate to the Raft port is refused"
        fi
        # a certificate from the cluster CA without the server role (the CLI's) is refused too
        raft_refused "a certificate of the cluster CA without the server role is refused on the Raft port" "$lraft" \
                "'$WORK'/r?.log" 'not for "server.global.nomad"' -CAfile "$C/ca.pem" -cert "$C/cli.pem" -key "$C/cli-key.pem"
        for p in "${rpids[@]}"; do kill "$p" 2>/dev/null; done
        wait 2>/dev/null
else
        fail "no free ports for the Raft TLS cluster"
fi

# --- the Raft role names the configured region (-region eu): two servers with
# server.eu.nomad certificates elect a leader over mutual TLS; a server certificate
# of the same CA for the region "global" is refused on their Raft port -------------
if pick_ports 4; then
        EP=$PORT
        join="127.0.0.1:$EP,127.0.0.1:$((EP + 2))"
        epids=()
        for i in 0 1; do
                "$BIN/drover-server" -region eu -data-dir "$WORK/eu$i" -http-addr "127.0.0.1:$((EP + 2 * i))" \
                        -raft-addr "127.0.0.1:$((EP + 2 * i + 1))" -bootstrap-expect 2 -join "$join" -num-schedulers 1 \
                        -tls-rpc -tls-ca-file "$C/ca.pem" -tls-cert-file "$C/ca/eu-server-nomad.pem" \
                        -tls-key-file "$C/ca/eu-server-nomad-key.pem" >>"$WORK/eu$i.log" 2>&1 &
                epids+=($!)
        done
        eleader() { curl -fs -m 2 "http://127.0.0.1:$((EP + 2 * $1))/v1/status/leader" | tr -d '"'; }
        eagree() { l=$(eleader 0) && [ -n "$l" ] && [ "$l" = "$(eleader 1)" ]; }
        if wait_for 90 eagree; then
                pass "2 servers of region eu with server.eu.nomad certificates elect one leader over Raft with TLS"
        else
                tail -n 20 "$WORK/eu0.log"
                fail "2 servers of region eu with server.eu.nomad certificates elect one leader over Raft with TLS"
        fi
        raft_refused "a server certificate for region global is refused on a region eu server's Raft port" \
                "127.0.0.1:$((EP + 1))" "'$WORK/eu0.log'" 'not for "server.eu.nomad"' -CAfile "$C/ca.pem" \
                -cert "$C/server.pem" -key "$C/server-key.pem"
        if ! timeout 10 "$BIN/drover-server" -region "eu/x" -print-config >"$WORK/badregion.out" 2>&1 &&
                grep -q "a region is 1 to 63 letters" "$WORK/badregion.out"; then
                pass "-region with a character outside letters, digits and '-' is refused at start"
        else
                cat "$WORK/badregion.out"
                fail "-region with a character outside letters, digits and '-' is refused at start"
        fi
        for p in "${epids[@]}"; do kill "$p" 2>/dev/null; done
        wait 2>/dev/null
else
        fail "no free ports for the region eu servers"
fi

log "$passed passed, $failed failed"
[ "$failed" = 0 ]
