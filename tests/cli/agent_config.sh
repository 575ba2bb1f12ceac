#!/bin/bash
# drover-server and drover-agent -config: Nomad's agent configuration file, HCL and
# JSON, a directory of files, later files over earlier ones and flags over files,
# takes effect in the running daemons (the ports they listen on, /v1/agent/self,
# the server's region, datacenter and name, the node's datacenter, class, pool, meta and HTTPAddr); keys a program does not
# use are logged once as notes; an unknown key stops a daemon with FILE:LINE:COL.
# Usage: tests/cli/agent_config.sh BIN_DIR. Ports: DROVER_TEST_PORT_BASE (26980).
set -u
RM_WORK=$(cd "$(dirname "${BASH_SOURCE[0]}")/../support" && pwd)/rm_work.sh # rm -rf that first detaches mounts
BIN=$(cd "${1:-build/bin}" && pwd)
HERE=$(cd "$(dirname "$0")" && pwd)
WORK=$(mktemp -d /tmp/drover-agentcfg-XXXXXX)
. "$HERE/../integration/lib.sh" # log, pass, fail, wait_for, pick_port, jget
passed=0
failed=0
server_pid=""
agent_pid=""
trap 'stop_daemons; "$RM_WORK" "$WORK"' EXIT
pick_port "${DROVER_TEST_PORT_BASE:-26980}" 480 1 10
unset DROVER_ADDR NOMAD_ADDR DROVER_TOKEN NOMAD_TOKEN DROVER_NODE_SECRET DROVER_JOIN_TOKEN
ADDR="http://127.0.0.1:$PORT"

# the server: an HCL file and a directory holding a JSON file that moves the API port
mkdir -p "$WORK/server.d"
cat >"$WORK/server.hcl" <<CONF
name       = "s1"
datacenter = "dc-files"
data_dir   = "$WORK/server"
log_level  = "INFO"
bind_addr  = "127.0.0.1"
ports {
  http = $((PORT + 5))
  rpc  = $((PORT + 1))
  serf = $((PORT + 2))
}
server {
  enabled          = true
  heartbeat_grace  = "20s"
}
telemetry {
  prometheus_metrics = true
}
CONF
printf '{"region": "eu-files", "ports": {"http": %d}, "server": {"num_schedulers": 2}, "acl": {"enabled": false}}\n' \
        "$PORT" \
        >"$WORK/server.d/10-port.json"
"$BIN/drover-server" -dev -config "$WORK/server.hcl" -config "$WORK/server.d" -heartbeat-grace 15s \
        -print-config >"$WORK/server.print" 2>&1
if grep -qx "http-addr = \"127.0.0.1:$PORT\"" "$WORK/server.print" &&
        grep -qx "raft-addr = \"127.0.0.1:$((PORT + 1))\"" "$WORK/server.print" &&
        grep -qx 'heartbeat-grace = "15000ms"' "$WORK/server.print" &&
        grep -qx 'num-schedulers = 2' "$WORK/server.print" &&
        grep -qx 'region = "eu-files"' "$WORK/server.print" && grep -qx 'dc = "dc-files"' "$WORK/server.print" &&
        grep -qx 'name = "s1"' "$WORK/server.print" &&
        grep -q '^# config: ports.serf is not used by drover-server (.*server.hcl:9:3)' "$WORK/server.print"; then
        pass "server -print-config: HCL, then the directory's JSON (its port and region win), then the flag (heartbeat-grace)"
else
        cat "$WORK/server.print"
        fail "server -print-config: HCL, then the directory's JSON (its port and region win), then the flag (heartbeat-grace)"
fi
"$BIN/drover-server" -dev -config "$WORK/server.hcl" -config "$WORK/server.d" >"$WORK/server.log" 2>&1 &
server_pid=$!
if wait_for 15 sh -c "curl -fs $ADDR/v1/status/leader | grep -q 127.0.0.1:$((PORT + 1))" &&
        [ "$(curl -fs "$ADDR/v1/agent/self" | jget 'd["config"]["ACL"]["Enabled"]')" = False ] &&
        [ "$(curl -fs "$ADDR/v1/agent/self" | jget 'd["member"]["Port"]')" = $((PORT + 1)) ] &&
        ! port_listens $((PORT + 5)) && [ -d "$WORK/server" ]; then
        pass "server -config: API on ports.http of the later file, Raft on ports.rpc, data_dir used"
else
        fail "server -config: API on ports.http of the later file, Raft on ports.rpc, data_dir used"
fi
# the API answers with the files' name (HCL), datacenter (HCL) and region (JSON)
self=$(curl -fs "$ADDR/v1/agent/self")
got=$(printf '%s' "$self" | jget '"%s %s %s %s %s %s" % (d["config"]["Region"], d["config"]["Datacenter"], d["config"]["Name"], d["member"]["Name"], d["member"]["Tags"]["region"], d["member"]["Tags"]["dc"])')
members=$(curl -fs "$ADDR/v1/agent/members" | jget '"%s %s %s" % (d["ServerName"], d["ServerRegion"], d["ServerDC"])')
if [ "$got" = "eu-files dc-files s1 s1.eu-files eu-files dc-files" ] &&
        [ "$members" = "s1.eu-files eu-files dc-files" ] &&
        [ "$(curl -fs "$ADDR/v1/regions" | jget 'd')" = "['eu-files']" ] &&
        [ "$(curl -s -o /dev/null -w '%{http_code}' "$ADDR/v1/jobs?region=eu-files")" = 200 ] &&
        curl -s "$ADDR/v1/jobs?region=global" | grep -q 'No path to region'; then
        pass "server -config: /v1/agent/self, members and /v1/regions show the files' region, datacenter and name; ?region= of another is refused"
else
        printf '%s\n%s\n' "$got" "$members"
        fail "server -config: /v1/agent/self, members and /v1/regions show the files' region, datacenter and name; ?region= of another is refused"
fi
if [ "$(grep -c 'config: telemetry.prometheus_metrics is not used by drover-server' "$WORK/server.log")" = 1 ] &&
        grep -q 'config: ports.serf is not used by drover-server' "$WORK/server.log"; then
        pass "server -config: keys it does not use are logged once as notes"
else
        fail "server -config: keys it does not use are logged once as notes"
fi

# the agent: HCL, then JSON over it (rack replaced, a key added), then a flag
cat >"$WORK/agent.hcl" <<CONF
name       = "files-node"
datacenter = "dc-files"
region     = "ignored"
data_dir   = "$WORK/agent"
log_level  = "DEBUG"
bind_addr  = "127.0.0.1"
ports {
  http = $((PORT + 10))
}
server {
  enabled = false
}
client {
  enabled    = true
  servers    = ["127.0.0.1:$PORT"]
  node_class = "from-hcl"
  node_pool  = "default"
  meta {
    rack = "r1"
    zone = "z1"
  }
  options = { "driver.raw_exec.enable" = "1" }
}
CONF
cat >"$WORK/agent.json" <<CONF
{
  "client": {
    "node_class": "from-json",
    "meta": {"rack": "r2", "owner": "ops"}
  }
}
CONF
"$BIN/drover-agent" -config "$WORK/agent.hcl" -config "$WORK/agent.json" -dc dc-flag >"$WORK/agent.log" 2>&1 &
agent_pid=$!
node=""
if wait_for 20 sh -c "curl -fs $ADDR/v1/nodes | grep -q '\"Status\":\"ready\"'"; then
        id=$(curl -fs "$ADDR/v1/nodes" | jget 'd[0]["ID"]')
        node=$(curl -fs "$ADDR/v1/node/$id")
fi
got=$(printf '%s' "$node" | jget '"%s %s %s %s %s %s %s" % (d["Name"], d["Datacenter"], d["NodeClass"], d["NodePool"], d["Meta"].get("rack"), d["Meta"].get("zone"), d["Meta"].get("owner"))')
if [ "$got" = "files-node dc-flag from-json default r2 z1 ops" ]; then
        pass "agent -config: name, client.node_class (JSON over HCL), meta merged, -dc over datacenter"
else
        fail "agent -config: name, client.node_class (JSON over HCL), meta merged, -dc over datacenter (got '$got')"
fi
if [ "$(printf '%s' "$node" | jget 'd["HTTPAddr"]')" = "127.0.0.1:$((PORT + 10))" ] && port_listens $((PORT + 10)) &&
        [ "$(printf '%s' "$node" | jget 'd["Drivers"]["raw_exec"]["Detected"]')" = True ] &&
        [ -d "$WORK/agent" ]; then
        pass "agent -config: ports.http is the log endpoint (HTTPAddr), client.options enables raw_exec, data_dir used"
else
        printf '%s\n' "$node" | head -c 600
        fail "agent -config: ports.http is the log endpoint (HTTPAddr), client.options enables raw_exec, data_dir used"
fi
if grep -q 'config: region is not used by drover-agent (.*agent.hcl:3:1)' "$WORK/agent.log" &&
        grep -q 'config: server.enabled is not used by drover-agent' "$WORK/agent.log"; then
        pass "agent -config: keys it does not use are logged as notes with FILE:LINE:COL"
else
        fail "agent -config: keys it does not use are logged as notes with FILE:LINE:COL"
fi
stop_daemons
agent_pid=""
server_pid=""

# an unknown key stops each before it starts anything, naming where
printf '{\n  "client": {\n    "node_clas": "x"\n  }\n}\n' >"$WORK/bad.json"
printf 'server {\n  bootstrap_expekt = 3\n}\n' >"$WORK/bad.hcl"
"$BIN/drover-agent" -config "$WORK/bad.json" -data-dir "$WORK/nope" >"$WORK/bad-agent.out" 2>&1
arc=$?
"$BIN/drover-server" -config "$WORK/bad.hcl" -data-dir "$WORK/nope" >"$WORK/bad-server.out" 2>&1
src=$?
if [ $arc = 2 ] && [ $src = 2 ] &&
        grep -q 'bad.json:3:5: unknown setting "node_clas" in client (client.node_clas' "$WORK/bad-agent.out" &&
        grep -q 'bad.hcl:2:3: unknown setting "bootstrap_expekt" in server (server.bootstrap_expekt' \
                "$WORK/bad-server.out" && [ ! -e "$WORK/nope" ]; then
        pass "an unknown key stops drover-agent (JSON) and drover-server (HCL) with FILE:LINE:COL and the key path"
else
        cat "$WORK/bad-agent.out" "$WORK/bad-server.out"
        fail "an unknown key stops drover-agent (JSON) and drover-server (HCL) with FILE:LINE:COL and the key path"
fi
echo "agent_config: $passed passed, $failed failed"
[ "$failed" = 0 ]
