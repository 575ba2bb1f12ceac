#!/bin/bash
# Periodic re-fingerprinting on loopback: a drover-agent fingerprinted from a copy of
# the fixture host tests/fixtures/hosts/gpu-2numa (-fingerprint-root, a pass every
# second) whose /proc/meminfo turns unreadable keeps the node's memory (attribute
# memory.totalbytes, NodeResources.Memory) and its other sources, and logs the
# failure; once the file is readable again with another size, the next pass
# registers the node again with it.
# Usage: tests/integration/fingerprint_refresh.sh BIN_DIR. Ports from 27500-27979 (or
# DROVER_TEST_PORT_BASE); every wait is bounded; every process started is stopped.
set -u
BIN=$(cd "${1:-build/bin}" && pwd)
FIX=$(cd "$(dirname "$0")/../fixtures" && pwd)
WORK=$(mktemp -d /tmp/drover-fprefresh-XXXXXX)
. "$(dirname "$0")/lib.sh" # log, pass, fail, wait_for, api, jget, setup_run, start_server, start_agent
setup_run 27500
ROOT=$WORK/root
cp -r "$FIX/hosts/gpu-2numa" "$ROOT" || { fail "copy the fixture host"; exit 1; }

start_server || exit 1
start_agent fp-node -fingerprint-root "$ROOT" -fingerprint-interval 1s || exit 1
NODE=$(api /v1/nodes | jget "d[0]['ID']")
# "memory.totalbytes MemoryMB gpus" as the servers hold the node.
seen() { api "/v1/node/$NODE" | jget "'%s %s %s' % (d['Attributes'].get('memory.totalbytes', '-'), d['NodeResources']['Memory']['MemoryMB'], d['Attributes'].get('pci.gpu.count', '-'))"; }
first=$(seen)
[ "$first" = "268435456000 256000 5" ] && pass "the node registered the fixture's memory and GPUs ($first)" ||
        fail "first registration: $first"

# /proc/meminfo a directory: every read of it fails, root or not.
rm -f "$ROOT/proc/meminfo" && mkdir "$ROOT/proc/meminfo"
wait_for 15 grep -q "re-fingerprint: fingerprint memory: .*kept what it reported on its last successful pass" \
        "$WORK/agent.log" && pass "the failed pass is logged: $(grep -m 1 're-fingerprint: fingerprint memory' "$WORK/agent.log" | cut -c 1-200)" ||
        fail "no log line for the failed memory fingerprinter"
sleep 2 # two more failed passes
now=$(seen)
[ "$now" = "$first" ] && pass "after failed passes the node keeps its memory and GPUs ($now)" ||
        fail "after failed passes the servers hold '$now' (was '$first')"
! grep -q "fingerprint changed" "$WORK/agent.log" && pass "a failed pass does not register the node again" ||
        fail "a failed pass registered the node again"

rm -rf "$ROOT/proc/meminfo"
printf 'MemTotal:       131072000 kB\nMemFree:        1000 kB\n' >"$ROOT/proc/meminfo"
wait_for 15 sh -c "curl -s $ADDR/v1/node/$NODE | grep -q '\"memory.totalbytes\":\"134217728000\"'"
now=$(seen)
[ "$now" = "134217728000 128000 5" ] && pass "a successful pass replaces it: the node is registered again ($now)" ||
        fail "after meminfo came back with 128000 MB the servers hold '$now'"

log "fingerprint_refresh: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
