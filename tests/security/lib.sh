# lib.sh - helpers shared by tests/security/*.sh (sourced, not run).
# Ports come from PORT_LO..PORT_LO+PORT_SPAN-1 (default 26000-26999, this tier's
# range); each script picks a free run of them.
RM_WORK=$(cd "$(dirname "${BASH_SOURCE[0]}")/../support" && pwd)/rm_work.sh # rm -rf that first detaches mounts
. "$(dirname "${BASH_SOURCE[0]}")/../support/wait.sh" # wait_for SECONDS COMMAND...
. "$(dirname "${BASH_SOURCE[0]}")/../support/ports.sh" # port_listens, port_free, pick_port

log() { printf '%s\n' "$*"; }
pass() { passed=$((passed + 1)); log "PASS: $1"; }
fail() {
        failed=$((failed + 1))
        log "FAIL: $1"
        for f in "$WORK"/*.log; do [ -f "$f" ] && { log "--- $f (last 20 lines)"; tail -n 20 "$f"; }; done
}

# pick_ports N: sets PORT so that PORT..PORT+N-1 are free (port_free, pick_port:
# ../support/ports.sh), 100 tries; 1 when none were.
pick_ports() {
        # shellcheck disable=SC2046
        PORT_TRIES=100 pick_port "${PORT_LO:-26000}" $((${PORT_SPAN:-1000} - $1)) $(seq 1 $(($1 - 1)))
}

# setup_work NAME: WORK (a fresh /tmp/drover-NAME-* dir), the pass/fail counters
# and pids; on exit every process in pids is stopped and WORK removed.
setup_work() {
        WORK=$(mktemp -d "/tmp/drover-$1-XXXXXX")
        passed=0
        failed=0
        pids=()
        trap cleanup_work EXIT
}
cleanup_work() {
        for p in "${pids[@]}"; do kill "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
        "$RM_WORK" "$WORK"
}

# start_test NAME N: what a one-server script sets up first: setup_work NAME, then N
# free ports from PORT_LO (DROVER_TEST_PORT_BASE when set: the caller's range) in
# PORT..PORT+N-1 (none free: FAIL and exit), ADDR the API on PORT, and t_start, the
# clock end_test reads.
start_test() {
        PORT_LO=${DROVER_TEST_PORT_BASE:-${PORT_LO:-26000}}
        setup_work "$1"
        pick_ports "$2" || { log "FAIL: no free ports from $PORT_LO"; exit 1; }
        ADDR="http://127.0.0.1:$PORT"
        t_start=$(date +%s)
}
# start_server FLAG...: drover-server -dev from BIN, its data in WORK/server and its log
# in WORK/server.log, the API on PORT, Raft on PORT+1, and these flags; server_pid its
# pid (in pids too). Returns once it has elected itself; not within 20 s: FAIL and exit.
start_server() {
        "$BIN/drover-server" -dev -data-dir "$WORK/server" -http-addr "127.0.0.1:$PORT" \
                -raft-addr "127.0.0.1:$((PORT + 1))" "$@" >"$WORK/server.log" 2>&1 &
        server_pid=$!
        pids+=("$server_pid")
        wait_for 20 sh -c "curl -fs -m 2 $ADDR/v1/status/leader | grep -q 127.0.0.1" || { fail "server starts"; exit 1; }
}
# end_test: the counts and the time since start_test; the status: 0 when nothing failed.
end_test() {
        log "$passed passed, $failed failed ($(($(date +%s) - t_start)) s)"
        [ "$failed" = 0 ]
}
