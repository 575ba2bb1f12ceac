#!/bin/bash
# A write that finds no leader is held, not refused (issue #17, Nomad's rpc_hold_timeout;
# controlplane/api/routes_hold.c), on 3 servers on 127.0.0.1:
#  (0) a write sent to a server as soon as it listens, before the cluster formed (no
#      leader, then a leader before its barrier): answered 2xx;
#  (1) the leader is SIGKILLed and HOLD_WRITES (24) jobs are PUT to a follower at once, in
#      parallel: every one is answered 2xx once a new leader is elected, and each exists
#      afterwards on every server, registered once (Version 0: none was applied twice);
#  (2) a server restarted alone (no quorum: no leader ever) with -rpc-hold-timeout 1s
#      answers a write 500 "No cluster leader" after the hold (>= 0.9 s), and a client
#      that hangs up first frees its slot (drover.rpc.held back to 0);
#  (3) with -rpc-hold-timeout 0 the same write is answered 500 at once (< 1 s: no hold);
#  (4) SIGTERM with held writes answers them 503 and exits cleanly (under ASan when
#      build/asan/bin/drover-server exists: HOLD_ASAN_SERVER).
# Usage: tests/integration/cluster_hold.sh BIN_DIR. Ports: DROVER_TEST_PORT_BASE (29300)
# .. +250. Every wait is bounded; every process started here is stopped on exit.
set -u
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh" # pick_port, pick_servers, wait_for, RM_WORK (log, pass and fail are this file's own)
BIN=$(cd "${1:-build/bin}" && pwd)
WORK=$(mktemp -d /tmp/drover-hold-XXXXXX)
N=${HOLD_WRITES:-24}
ASAN=${HOLD_ASAN_SERVER:-$BIN/../asan/bin/drover-server}
pick_servers "${DROVER_TEST_PORT_BASE:-29300}" 220 3 # the 3 servers' HTTP and Raft ports: P, http, raft, JOIN
passed=0
failed=0
pids=("" "" "")
cleanup() {
        for i in 0 1 2; do [ -n "${pids[$i]}" ] && kill -9 "${pids[$i]}" 2>/dev/null; done
        wait 2>/dev/null
        if [ -n "${HOLD_KEEP:-}" ]; then echo "cluster_hold: kept $WORK"; else "$RM_WORK" "$WORK"; fi
}
trap cleanup EXIT
log() { printf '%s\n' "$*"; }
pass() { passed=$((passed + 1)); log "PASS: cluster_hold: $1"; }
fail() {
        failed=$((failed + 1))
        log "FAIL: cluster_hold: $1"
        for i in 0 1 2; do [ -f "$WORK/s$i.log" ] && { log "--- server $i (last 15 lines)"; tail -n 15 "$WORK/s$i.log"; }; done
}
start() { # start I [HOLD [BINARY]]
        "${3:-$BIN/drover-server}" -data-dir "$WORK/d$1" -http-addr "$(http "$1")" -raft-addr "$(raft "$1")" \
                -bootstrap-expect 3 -join "$JOIN" -num-schedulers 1 -rpc-hold-timeout "${2:-${HOLD_TIMEOUT:-30s}}" -log-level "${HOLD_LOG_LEVEL:-info}" \
                >>"$WORK/s$1.log" 2>&1 &
        pids[$1]=$!
}
kill9() { [ -n "${pids[$1]}" ] && kill -9 "${pids[$1]}" 2>/dev/null && wait "${pids[$1]}" 2>/dev/null; pids[$1]=""; }
leader_of() { curl -s -m 2 "http://$(http "$1")/v1/status/leader" | tr -d '"'; }
leader_idx() {
        local l k
        l=$(leader_of "$1")
        for k in 0 1 2; do [ "$l" = "$(raft $k)" ] && echo "$k"; done
}
all_agree() {
        local l0
        l0=$(leader_of 0)
        [ -n "$l0" ] && [ "$l0" = "$(leader_of 1)" ] && [ "$l0" = "$(leader_of 2)" ]
}
job_json() {
        printf '{"Job":{"ID":"%s","Type":"batch","TaskGroups":[{"Name":"g","Tasks":[{"Name":"t","Driver":"raw_exec","Config":{"command":"/bin/true"}}]}]}}' "$1"
}
# put I ID OUT: PUT the job to server I; OUT gets "CODE SECONDS" then the body
put() {
        local r
        r=$(curl -s -m "${PUT_TIMEOUT:-60}" -o "$3.body" -w '%{http_code} %{time_total}' -X PUT \
                --data-binary "$(job_json "$2")" "http://$(http "$1")/v1/jobs")
        printf '%s\n' "${r:-000 0}" >"$3"
}
held() { curl -s -m 2 "http://$(http "$1")/v1/metrics?format=prometheus" | awk -v n="$2" '$1 == n {print $2}'; }

up() { curl -s -m 1 -o /dev/null "http://$(http "$1")/v1/status/leader"; }

log "== drover cluster_hold tests (work dir $WORK, servers on $JOIN)"
for i in 0 1 2; do start $i; done
# --- (0) a write sent while the cluster forms (no leader yet, then one before its barrier) ---
wait_for 20 up 0
PUT_TIMEOUT=60 put 0 early-1 "$WORK/early1"
read -r code secs <"$WORK/early1"
if ! wait_for 60 all_agree; then
        fail "3 servers elect a leader"
        exit 1
fi
case $code in
2??) pass "a write sent to server 0 as soon as it listens, before the cluster formed: answered $code after ${secs} s" ;;
*) fail "a write sent while the cluster forms: $code after ${secs} s: $(head -c 200 "$WORK/early1.body")" ;;
esac
L=$(leader_idx 0)
F=$(((L + 1) % 3))
log "leader: server $L ($(leader_of 0)); writes go to server $F"

# --- (1) writes sent to a follower while the leader dies -------------------------------
kill9 "$L"
for k in $(seq 1 "$N"); do put "$F" "hold-$k" "$WORK/put$k" & done
answered() { [ "$(ls "$WORK" | grep -c '^put[0-9]*$')" -ge "$N" ]; }
wait_for 120 answered
sleep 0.5
ok2=0
other=""
for k in $(seq 1 "$N"); do
        read -r code secs <"$WORK/put$k"
        case $code in
        2??) ok2=$((ok2 + 1)) ;;
        *) other="$other hold-$k:$code:$(head -c 120 "$WORK/put$k.body")" ;;
        esac
done
slowest=$(cat "$WORK"/put[0-9]* | awk '{print $2}' | sort -n | tail -1)
new=$(leader_idx "$F")
if [ "$ok2" = "$N" ]; then
        pass "$N writes PUT to follower $F right after SIGKILL of leader $L: all answered 2xx (slowest ${slowest} s; new leader ${new:-?})"
else
        fail "writes to a follower during the leader's death: $ok2 of $N answered 2xx;$other"
fi
# every acknowledged job on both remaining servers, registered once
registered_once() { # registered_once SERVER
        local k v
        for k in $(seq 1 "$N"); do
                read -r code _ <"$WORK/put$k"
                case $code in 2??) ;; *) continue ;; esac
                v=$(curl -s -m 2 "http://$(http "$1")/v1/job/hold-$k?stale" | grep -o '"Version":[0-9]*' | head -1)
                [ "$v" = '"Version":0' ] || return 1
        done
}
S2=$(((L + 2) % 3))
if wait_for 30 registered_once "$F" && wait_for 30 registered_once "$S2"; then
        pass "each acknowledged job exists on both remaining servers, at Version 0 (applied once, none re-sent)"
else
        fail "acknowledged jobs on the remaining servers (Version 0 each)"
fi

# --- (2) a lone server without quorum: the hold bound, and a client that hangs up -----------
for i in 0 1 2; do kill9 "$i"; done
start "$F" 1s
wait_for 20 up "$F"
sleep 1
PUT_TIMEOUT=20 put "$F" lone-1 "$WORK/lone1"
read -r code secs <"$WORK/lone1"
if [ "$code" = 500 ] && grep -q "No cluster leader" "$WORK/lone1.body" &&
        awk -v s="$secs" 'BEGIN { exit !(s >= 0.9 && s < 15) }'; then
        pass "no quorum, -rpc-hold-timeout 1s: a write is held, then answered 500 No cluster leader after ${secs} s"
else
        fail "no quorum, -rpc-hold-timeout 1s: got $code after ${secs} s: $(head -c 200 "$WORK/lone1.body")"
fi
kill9 "$F"
start "$F" 30s
wait_for 20 up "$F"
curl -s -m 1 -o /dev/null -X PUT --data-binary "$(job_json gone-1)" "http://$(http "$F")/v1/jobs"
held_now=$(held "$F" drover_rpc_held)
freed() { [ "$(held "$F" drover_rpc_held)" = 0 ] && [ "$(held "$F" drover_rpc_hold_client_gone)" = 1 ]; }
if [ "$held_now" = 1 ] && wait_for 10 freed; then
        pass "a held write whose client hangs up gives its slot back (drover.rpc.held 1 -> 0, hold_client_gone 1)"
else
        fail "a held write whose client hangs up: held $held_now, then $(held "$F" drover_rpc_held), gone $(held "$F" drover_rpc_hold_client_gone)"
fi

# --- (3) -rpc-hold-timeout 0: the old immediate answer --------------------------------------
kill9 "$F"
start "$F" 0
wait_for 20 up "$F"
sleep 1
PUT_TIMEOUT=20 put "$F" zero-1 "$WORK/zero1"
read -r code secs <"$WORK/zero1"
if [ "$code" = 500 ] && grep -q "No cluster leader" "$WORK/zero1.body" && awk -v s="$secs" 'BEGIN { exit !(s < 1) }'; then
        pass "-rpc-hold-timeout 0: a write without a leader is answered 500 No cluster leader at once (${secs} s)"
else
        fail "-rpc-hold-timeout 0: got $code after ${secs} s: $(head -c 200 "$WORK/zero1.body")"
fi

# --- (4) SIGTERM with held writes -----------------------------------------------------------
kill9 "$F"
srv=$BIN/drover-server
[ -x "$ASAN" ] && srv=$ASAN
start "$F" 30s "$srv"
wait_for 30 up "$F"
for k in 1 2 3; do PUT_TIMEOUT=30 put "$F" term-$k "$WORK/term$k" & done
held3() { [ "$(held "$F" drover_rpc_held)" = 3 ]; }
wait_for 10 held3
kill -TERM "${pids[$F]}"
rc=0
wait "${pids[$F]}" || rc=$?
pids[$F]=""
terms() { [ -s "$WORK/term1" ] && [ -s "$WORK/term2" ] && [ -s "$WORK/term3" ]; }
wait_for 10 terms
codes=$(cat "$WORK"/term[123] 2>/dev/null | awk '{print $1}' | sort | tr '\n' ' ')
if [ "$rc" = 0 ] && [ "$codes" = "503 503 503 " ] && ! grep -q "ERROR: AddressSanitizer\|runtime error" "$WORK/s$F.log"; then
        pass "SIGTERM with 3 held writes: each answered 503, clean exit ($(basename "$(dirname "$(dirname "$srv")")")/drover-server)"
else
        fail "SIGTERM with held writes: exit $rc, answers '$codes'"
fi

log "cluster_hold: $passed passed, $failed failed"
[ "$failed" = 0 ]
