#!/bin/bash
# API conformance tier: a drover-server and a drover-agent on loopback (ports
# 29500-29999, or DROVER_TEST_PORT_BASE to +499), then tests/api/conformance.py over tests/api/shapes/.
# Usage: tests/api/run.sh BIN_DIR. Stops every process it started.
set -u
BIN=$(cd "${1:-build/bin}" && pwd)
HERE=$(cd "$(dirname "$0")" && pwd)
WORK=$(mktemp -d /tmp/drover-api-XXXXXX)
FAIL_TAIL=30
. "$HERE/../integration/lib.sh" # wait_for, fail, setup_run, start_server, start_agent
setup_run 29500 # ADDR, DROVER_ADDR; the daemons stopped and WORK removed on exit

start_server || exit 1
start_agent api-node || exit 1
python3 "$HERE/conformance.py" "$ADDR" "$HERE/shapes"
rc=$?
# shellcheck source=tests/api/cli.sh
. "$HERE/cli.sh"
[ $rc = 0 ] && [ "$cli_failed" = 0 ] && exit 0
fail "api conformance (conformance.py exit $rc, cli checks failed: $cli_failed)"
exit 1
