#!/bin/bash
# API conformance tier: a drover-server and a drover-agent on loopback (ports
# 43500-43999, or DROVER_TEST_PORT_BASE to +499), then tests/api/conformance.py over tests/api/shapes/.
# Usage: tests/api/run.sh BIN_DIR. Stops every process it started.
set -u
RM_WORK=$(cd "$(dirname "${BASH_SOURCE[0]}")/../support" && pwd)/rm_work.sh # rm -rf that first detaches mounts
. "$(dirname "${BASH_SOURCE[0]}")/../support/wait.sh" # wait_for SECONDS COMMAND...
BIN=$(cd "${1:-build/bin}" && pwd)
HERE=$(cd "$(dirname "$0")" && pwd)
WORK=$(mktemp -d /tmp/drover-api-XXXXXX)
port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
PORT_BASE=${DROVER_TEST_PORT_BASE:-43500}
for _ in $(seq 1 50); do
        PORT=$((PORT_BASE + RANDOM % 480))
        port_free "$PORT" && port_free $((PORT + 1)) && port_free $((PORT + 10)) && break
done
ADDR="http://127.0.0.1:$PORT"
pids=()
cleanup() {
        for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
        sleep 0.5
        for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done
        wait 2>/dev/null
        "$RM_WORK" "$WORK"
}
trap cleanup EXIT
show_logs() { for f in "$WORK"/*.log; do echo "--- $f (last 30 lines)"; tail -n 30 "$f"; done; }

"$BIN/drover-server" -dev -data-dir "$WORK/server" -http-addr "127.0.0.1:$PORT" \
        -raft-addr "127.0.0.1:$((PORT + 1))" >"$WORK/server.log" 2>&1 &
pids+=($!)
if ! wait_for 20 sh -c "curl -fs $ADDR/v1/status/leader | grep -q 127.0.0.1"; then
        echo "FAIL: api conformance: the server did not elect itself"; show_logs; exit 1
fi
"$BIN/drover-agent" -servers "$ADDR" -data-dir "$WORK/agent" -node-name api-node -raw-exec \
        -http-addr "127.0.0.1:$((PORT + 10))" >"$WORK/agent.log" 2>&1 &
pids+=($!)
if ! wait_for 20 sh -c "curl -fs $ADDR/v1/nodes | grep -q '\"Status\":\"ready\"'"; then
        echo "FAIL: api conformance: the agent's node did not become ready"; show_logs; exit 1
fi
python3 "$HERE/conformance.py" "$ADDR" "$HERE/shapes"
rc=$?
# shellcheck source=tests/api/cli.sh
. "$HERE/cli.sh"
[ $rc = 0 ] && [ "$cli_failed" = 0 ] && exit 0
show_logs
exit 1
