#!/bin/bash
# drover dev -config: Nomad's agent file sets the API port (ports.http), the data
# directory (kept after Ctrl-C, as -data-dir) and ACLs; keys dev does not use are
# noted; an unknown key stops it with file:line:col. Usage: tests/cli/dev_config.sh BIN_DIR.
# tests/cli/agent_config.sh does the same for drover-server and drover-agent.
set -u
RM_WORK=$(cd "$(dirname "${BASH_SOURCE[0]}")/../support" && pwd)/rm_work.sh # rm -rf that first detaches mounts
BIN=$(cd "${1:-build/bin}" && pwd)
HERE=$(cd "$(dirname "$0")" && pwd)
WORK=$(mktemp -d /tmp/drover-devcfg-XXXXXX)
. "$HERE/../integration/lib.sh" # log, pass, fail, wait_for, pick_port
passed=0
failed=0
dev_pid=""
trap '[ -n "$dev_pid" ] && kill -INT "$dev_pid" 2>/dev/null; sleep 1; "$RM_WORK" "$WORK"' EXIT
pick_port "${DROVER_TEST_PORT_BASE:-26500}" 480 1 2 10
unset DROVER_ADDR NOMAD_ADDR DROVER_TOKEN NOMAD_TOKEN

cat >"$WORK/dev.hcl" <<CONF
data_dir  = "$WORK/data"
bind_addr = "0.0.0.0"
ports {
  http = $PORT
}
acl {
  enabled = true
}
name       = "laptop-1"
region     = "home"
datacenter = "desk"
client {
  node_class = "laptop"
}
CONF
"$BIN/drover" dev -config "$WORK/dev.hcl" >"$WORK/dev.log" 2>&1 &
dev_pid=$!
if wait_for 30 grep -q "cluster running" "$WORK/dev.log" &&
        curl -fs "http://127.0.0.1:$PORT/v1/status/leader" | grep -q "127.0.0.1:$((PORT + 1))" &&
        [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/v1/jobs")" = 403 ] &&
        [ -d "$WORK/data/server" ] && grep -q "config: bind_addr is not used by drover dev (.*/dev.hcl:2:1)" "$WORK/dev.log"; then
        pass "dev -config: ports.http, data_dir and acl.enabled are honoured; bind_addr is noted"
else
        cat "$WORK/dev.log"
        fail "dev -config: ports.http, data_dir and acl.enabled are honoured; bind_addr is noted"
fi
token=$(DROVER_ADDR="http://127.0.0.1:$PORT" "$BIN/drover" acl bootstrap 2>/dev/null | awk '/^Secret ID/{print $4}')
if [ -n "$token" ] && wait_for 20 sh -c "curl -fs -H 'X-Nomad-Token: $token' http://127.0.0.1:$PORT/v1/nodes | grep -q '\"NodeClass\":\"laptop\"'"; then
        pass "dev -config: the agent registers with client.node_class (read with the bootstrap token)"
else
        fail "dev -config: the agent registers with client.node_class (token '${token:0:8}')"
fi
self=$(curl -fs -H "X-Nomad-Token: $token" "http://127.0.0.1:$PORT/v1/agent/self")
nodes=$(curl -fs -H "X-Nomad-Token: $token" "http://127.0.0.1:$PORT/v1/nodes?region=home")
if python3 -c 'import json,sys; c=json.loads(sys.argv[1])["config"]; n=json.loads(sys.argv[2])
assert (c["Region"], c["Datacenter"], c["Name"]) == ("home", "desk", "laptop-1"), c
assert [(x["Name"], x["Datacenter"]) for x in n] == [("laptop-1", "desk")], n' "$self" "$nodes"; then
        pass "dev -config: name, region and datacenter reach the server and the agent"
else
        fail "dev -config: name, region and datacenter reach the server and the agent ($self | $nodes)"
fi
kill -INT "$dev_pid"
if wait_for 20 sh -c "! kill -0 $dev_pid 2>/dev/null" && [ -d "$WORK/data/server" ]; then
        pass "dev -config: Ctrl-C stops it and keeps the configured data_dir"
else
        fail "dev -config: Ctrl-C stops it and keeps the configured data_dir"
fi
dev_pid=""

# The flags as "-name value" too (the daemons' flag table), over what a file sets: the
# file's port would be PORT+5, -port PORT wins; -data-dir keeps the data on Ctrl-C.
printf 'ports {\n  http = %s\n}\n' "$((PORT + 5))" >"$WORK/other-port.hcl"
"$BIN/drover" dev -config "$WORK/other-port.hcl" -port "$PORT" -data-dir "$WORK/data2" >"$WORK/dev2.log" 2>&1 &
dev_pid=$!
if wait_for 30 grep -q "cluster running" "$WORK/dev2.log" &&
        curl -fs "http://127.0.0.1:$PORT/v1/status/leader" | grep -q "127.0.0.1:$((PORT + 1))" &&
        [ -d "$WORK/data2/server" ]; then
        pass "dev -port N -data-dir D: the space form is honoured, over the file's port"
else
        cat "$WORK/dev2.log"
        fail "dev -port N -data-dir D: the space form is honoured, over the file's port"
fi
kill -INT "$dev_pid"
wait_for 20 sh -c "! kill -0 $dev_pid 2>/dev/null" || fail "dev -port N: Ctrl-C stops it"
dev_pid=""
for bad in "-port=x" "-port 26000x" "-port" "-data-dir"; do
        # shellcheck disable=SC2086 # the flag and its value are two words on purpose
        if ! "$BIN/drover" dev $bad >"$WORK/bad-flag.out" 2>&1 && grep -q "^drover dev: .*-${bad:1:4}" "$WORK/bad-flag.out" &&
                ! grep -q "Starting" "$WORK/bad-flag.out"; then
                pass "dev $bad: refused with exit 1 before anything starts"
        else
                cat "$WORK/bad-flag.out"
                fail "dev $bad: refused with exit 1 before anything starts"
        fi
done

printf 'ports {\n  http = %s\n  htp = 1\n}\n' "$PORT" >"$WORK/bad.hcl"
if ! "$BIN/drover" dev -config "$WORK/bad.hcl" >"$WORK/bad.out" 2>&1 &&
        grep -q "bad.hcl:3:3: unknown setting \"htp\" in ports (ports.htp" "$WORK/bad.out" && ! grep -q "Starting" "$WORK/bad.out"; then
        pass "dev -config: an unknown key stops it before anything starts, with file:line:col"
else
        cat "$WORK/bad.out"
        fail "dev -config: an unknown key stops it before anything starts, with file:line:col"
fi
echo "dev_config: $passed passed, $failed failed"
[ "$failed" = 0 ]
