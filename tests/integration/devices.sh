#!/bin/bash
# Devices end to end on loopback: a drover-agent fingerprinted from the fixture tree
# of a host with NVIDIA GPUs (tests/fixtures/hosts/gpu-2numa: four H100 SXM5 and one
# RTX 3090, -fingerprint-root) registers a node with those devices; a job asking
# `device "nvidia/gpu" { count = 1 }` is placed there and its allocation holds one
# of the node's GPU instances; a job asking for more GPUs than the node has is not
# placed and its evaluation names the exhausted dimension; a device constraint on
# the model or on an attribute picks the matching GPU, and no GPU is held twice. (The
# assignments reach the state only since the plan codec carries AllocatedResources.)
# Usage: tests/integration/devices.sh BIN_DIR. Ports from 27000-27479 (or
# DROVER_TEST_PORT_BASE); every wait is bounded; every process started is stopped.
set -u
BIN=$(cd "${1:-build/bin}" && pwd)
FIX=$(cd "$(dirname "$0")/../fixtures" && pwd)
WORK=$(mktemp -d /tmp/drover-devices-XXXXXX)
. "$(dirname "$0")/lib.sh" # log, pass, fail, wait_for, api, api_code, jget, setup_run, start_server, start_agent
setup_run 27000
# The fixture host with the test pci.ids installed, so that the GPUs get their names.
ROOT=$WORK/root
cp -r "$FIX/hosts/gpu-2numa" "$ROOT" && mkdir -p "$ROOT/usr/share/misc" && cp "$FIX/pci.ids" "$ROOT/usr/share/misc/" ||
        { fail "copy the fixture host"; exit 1; }

start_server || exit 1
start_agent gpu-node -fingerprint-root "$ROOT" || exit 1

NODE=$(api /v1/nodes | jget "d[0]['ID']")
api "/v1/node/$NODE" >"$WORK/node.json"
# "vendor/type/name count" of each device group, sorted.
groups=$(jget "' '.join(sorted('%s/%s/%s=%d' % (g['Vendor'], g['Type'], g['Name'], len(g['Instances'])) for g in d['NodeResources']['Devices'] if g['Type'] == 'gpu'))" <"$WORK/node.json")
[[ "$groups" == *"nvidia/gpu/H100 SXM5 80GB=4"* && "$groups" == *"nvidia/gpu/GeForce RTX 3090=1"* ]] &&
        pass "the node registered the fixture's GPUs: $groups" || fail "node GPUs (got '$groups')"

# job NAME COUNT [ATTRIBUTE VALUE]: register a service job whose task asks for COUNT
# nvidia/gpu (with that device constraint).
job() {
        local c=""
        [ $# -ge 4 ] && c="          constraint {
            attribute = \"$3\"
            value     = \"$4\"
          }"
        raw_job "$1" "exec sleep 60" "        device \"nvidia/gpu\" {
          count = $2
$c
        }" >"$WORK/$1.hcl"
        "$BIN/drover" job run -detach "$WORK/$1.hcl" >"$WORK/run.out" 2>&1 || fail "job run $1: $(cat "$WORK/run.out")"
}
alloc_of() { api "/v1/job/$1/allocations" | jget "d[0]['ID'] if d else ''"; }
# ids ALLOC: the device instance IDs the allocation holds, sorted, comma-separated.
ids() { api "/v1/allocation/$1" | jget "','.join(sorted(i for v in d['AllocatedResources']['Tasks'].values() for dv in (v.get('Devices') or []) for i in dv['DeviceIDs']))"; }
# instances MODEL_SUBSTRING: the node's instance IDs of the groups whose name holds it.
instances() { jget "','.join(sorted(i['ID'] for g in d['NodeResources']['Devices'] if '$1' in g['Name'] for i in g['Instances']))" <"$WORK/node.json"; }
# held NAME: once an allocation of NAME runs (30 s at most), the device instances it holds.
held() { wait_for 30 sh -c "curl -s $ADDR/v1/job/$1/allocations | grep -q '\"ClientStatus\":\"running\"'" && ids "$(alloc_of "$1")"; }

# --- one GPU: placed, holding one of the node's GPUs ----------------------------------------------
job one 1
got=$(held one)
all="$(instances H100),$(instances 3090)"
[[ -n "$got" && "$got" != *,* && ",$all," == *",$got,"* ]] &&
        pass "a job asking for one nvidia/gpu runs on the GPU node holding $got" ||
        fail "one GPU: held '$got' (node has $all; allocations $(api /v1/job/one/allocations | head -c 300))"

# --- more GPUs than the node has: not placed, the evaluation names the dimension --------------------
job nine 9
wait_for 20 sh -c "curl -s $ADDR/v1/job/nine/evaluations | grep -q FailedTGAllocs"
dims=$(api /v1/job/nine/evaluations | jget "[e['FailedTGAllocs']['g']['DimensionExhausted'] for e in d if e.get('FailedTGAllocs')][0]")
[ -z "$(alloc_of nine)" ] && [[ "$dims" == *"devices: no free or matching nvidia/gpu"* ]] &&
        pass "nine GPUs on a node of five: not placed; DimensionExhausted $dims" ||
        fail "nine GPUs: allocs '$(alloc_of nine)', DimensionExhausted '$dims'"

# --- a constraint on the model picks the RTX 3090, one on an attribute an H100 ----------------------
job model 1 '${device.model}' "GeForce RTX 3090"
got=$(held model)
[ -n "$got" ] && [ "$got" = "$(instances 3090)" ] && pass "\${device.model} = GeForce RTX 3090 got the RTX 3090 ($got)" ||
        fail "model constraint: held '$got', the 3090 is $(instances 3090) ($(api /v1/job/model/evaluations | head -c 400))"
job attr 2 '${device.attr.device_id}' 0x2330
got=$(held attr)
h100=$(instances H100)
ok=1
for i in ${got//,/ }; do [[ ",$h100," == *",$i,"* ]] || ok=0; done
[[ ",$got," == *",$(ids "$(alloc_of one)"),"* ]] && ok=0 # held by job one already
[ "$(echo "$got" | tr ',' '\n' | grep -c .)" = 2 ] && [ $ok = 1 ] &&
        pass "\${device.attr.device_id} = 0x2330 got two H100s, not the one job one holds ($got)" ||
        fail "attr constraint: held '$got', the H100s are $h100 ($(api /v1/job/attr/evaluations | head -c 400))"

log "devices: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
