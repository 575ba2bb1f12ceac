# lib.sh - helpers shared by tests/security/*.sh (sourced, not run).
# Ports come from PORT_LO..PORT_LO+PORT_SPAN-1 (default 26000-26999, this tier's
# range); each script picks a free run of them.
RM_WORK=$(cd "$(dirname "${BASH_SOURCE[0]}")/../support" && pwd)/rm_work.sh # rm -rf that first detaches mounts
. "$(dirname "${BASH_SOURCE[0]}")/../support/wait.sh" # wait_for SECONDS COMMAND...

log() { printf '%s\n' "$*"; }
pass() { passed=$((passed + 1)); log "PASS: $1"; }
fail() {
        failed=$((failed + 1))
        log "FAIL: $1"
        for f in "$WORK"/*.log; do [ -f "$f" ] && { log "--- $f (last 20 lines)"; tail -n 20 "$f"; }; done
}

# Free: nothing listens there and no socket (not even one in TIME-WAIT, which
# would make bind fail) uses it as its local port.
port_free() {
        ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null &&
                { ! command -v ss >/dev/null || [ -z "$(ss -Htan "sport = :$1" 2>/dev/null)" ]; }
}
# pick_ports N: sets PORT so that PORT..PORT+N-1 are free.
pick_ports() {
        local n=$1 k ok
        for _ in $(seq 1 100); do
                PORT=$((${PORT_LO:-26000} + RANDOM % (${PORT_SPAN:-1000} - n)))
                ok=1
                for k in $(seq 0 $((n - 1))); do port_free $((PORT + k)) || { ok=0; break; }; done
                [ $ok = 1 ] && return 0
        done
        return 1
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
