# lib.sh - helpers shared by the single-server integration scripts (run.sh,
# deploy.sh, job_kinds.sh). Source it after setting WORK (the run's work dir) and,
# for api/api_code, ADDR. Counters: passed, failed. FAIL_TAIL: log lines shown per
# file when a check fails (default 20).
log() { printf '%s\n' "$*"; }
pass() { passed=$((passed + 1)); log "PASS: $1"; }
fail() {
        failed=$((failed + 1))
        log "FAIL: $1"
        for f in "$WORK"/*.log; do [ -f "$f" ] && { log "--- $f (last ${FAIL_TAIL:-20} lines)"; tail -n "${FAIL_TAIL:-20}" "$f"; }; done
}

# wait_for SECONDS COMMAND... : poll every 0.1 s until COMMAND succeeds.
wait_for() {
        local limit=$(($1 * 10)) i=0
        shift
        until "$@" >/dev/null 2>&1; do
                i=$((i + 1))
                [ $i -ge $limit ] && return 1
                sleep 0.1
        done
}

api() { curl -s "$ADDR$1"; }
api_code() { curl -s -o "$WORK/body" -w '%{http_code}' -X "$1" --data-binary @"$3" "$ADDR$2"; }
# jget EXPR: evaluate a Python expression over the JSON on stdin (as d).
jget() { python3 -c "import json,sys; d=json.load(sys.stdin); print(eval(sys.argv[1]))" "$1" 2>/dev/null; }
