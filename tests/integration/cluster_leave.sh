#!/bin/bash
# cluster_leave.sh BIN_DIR - graceful leave (issue #17, membership changes): 3 servers
# with -leave-on-terminate (bootstrap-expect 3) and a 4th without it, joined later, on
# 127.0.0.1. (1) SIGTERM to the 4th: it exits and stays in the Raft configuration (4
# servers listed); `drover server force-leave` removes it (3). (2) SIGTERM to a follower
# with the option: it leaves before it exits (2 voters) and writes still commit. (3)
# SIGTERM to the leader: it hands leadership over, is removed, exits; the last server
# leads alone (1 voter) and commits writes. Prints each leave's time and the time to the
# new leader. Before that, a hostile peer on the Raft port (a 1 TiB message) is cut off. Ports: DROVER_TEST_PORT_BASE (default 23000) + 0..400.
set -u
RM_WORK=$(cd "$(dirname "${BASH_SOURCE[0]}")/../support" && pwd)/rm_work.sh
BIN=$(cd "${1:-build/bin}" && pwd)
WORK=$(mktemp -d /tmp/drover-cluster-leave-XXXXXX)
. "$(dirname "$0")/../support/ports.sh" # port_free, pick_port, pick_servers
pick_servers "${DROVER_TEST_PORT_BASE:-23000}" 400 4 # P, http, raft, JOIN (the first three)
declare -A pids
cleanup() {
        for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done
        wait 2>/dev/null
        "$RM_WORK" "$WORK"
}
trap cleanup EXIT
fails=0
pass() { echo "PASS: cluster_leave: $*"; }
fail() {
        echo "FAIL: cluster_leave: $*"
        fails=$((fails + 1))
}
start() { # start I [flags...]
        local i=$1
        shift
        "$BIN/drover-server" -data-dir "$WORK/d$i" -http-addr "$(http "$i")" -raft-addr "$(raft "$i")" -name "s$i" \
                -join "$JOIN" -num-schedulers 1 "$@" >>"$WORK/s$i.log" 2>&1 &
        pids[$i]=$!
}
leader_of() { curl -s -m 1 "http://$(http "$1")/v1/status/leader" | tr -d '"'; }
# the index of the server that leads, asking the given ones; "" when none
find_leader() {
        local i l k
        for i in "$@"; do
                l=$(leader_of "$i")
                for k in 0 1 2 3; do [ "$l" = "$(raft $k)" ] && { echo $k; return; }; done
        done
}
wait_leader() { # wait_leader SECONDS SERVERS...: echo the leader's index
        local t=$1 L
        shift
        for _ in $(seq 1 $((t * 10))); do
                L=$(find_leader "$@")
                [ -n "$L" ] && { echo "$L"; return; }
                sleep 0.1
        done
}
n_peers() { # as the server I sees its configuration: "<servers> <voters>"
        curl -s -m 2 "http://$(http "$1")/v1/operator/raft/configuration" |
                python3 -c 'import json,sys; s=json.load(sys.stdin)["Servers"]; print(len(s), sum(1 for x in s if x["Voter"]))' 2>/dev/null
}
wait_peers() { # wait_peers I WANT SECONDS
        for _ in $(seq 1 $(($3 * 10))); do
                [ "$(n_peers "$1")" = "$2" ] && return 0
                sleep 0.1
        done
        return 1
}
write() { # a committed write through server I: a node registration answered 200
        printf '{"Node":{"ID":"00000000-0000-4000-8000-0000000000%02d","SecretID":"s","Name":"ln-%d","Datacenter":"dc1","Status":"ready","NodeResources":{"Cpu":{"CpuShares":1000},"Memory":{"MemoryMB":1000},"Disk":{"DiskMB":1000}}}}' "$2" "$2" |
                curl -s -m 10 -o /dev/null -w '%{http_code}' -X PUT --data-binary @- "http://$(http "$1")/v1/node/register"
}
stop_wait() { # SIGTERM server I and wait for its exit (at most 15 s): sets rc and ms
        local i=$1 t0
        rc=timeout
        t0=$(date +%s%N)
        kill -TERM "${pids[$i]}"
        for _ in $(seq 1 150); do
                kill -0 "${pids[$i]}" 2>/dev/null || break
                sleep 0.1
        done
        if ! kill -0 "${pids[$i]}" 2>/dev/null; then
                wait "${pids[$i]}"
                rc=$?
        fi
        ms=$((($(date +%s%N) - t0) / 1000000))
}

for i in 0 1 2; do start $i -bootstrap-expect 3 -leave-on-terminate; done
L=$(wait_leader 30 0 1 2)
[ -n "$L" ] || { echo "FAIL: cluster_leave: no leader"; exit 1; }
wait_peers "$L" "3 3" 20 || { echo "FAIL: cluster_leave: 3 voters expected, got '$(n_peers "$L")'"; exit 1; }

# (0) a hostile peer on the Raft port: libraft's handshake, then a message announcing a
# 1 TiB header. The leader closes the connection at once (frame_guard.h), logs it, and
# keeps committing.
hostile=$(python3 - "$(raft "$L")" <<'PY'
import socket, struct, sys, time
host, port = sys.argv[1].rsplit(":", 1)
s = socket.create_connection((host, int(port)), timeout=5)
addr = b"127.0.0.1:9\0"
addr += b"\0" * (-len(addr) % 8)
s.sendall(struct.pack("<QQQ", 1, 4242, len(addr)) + addr)
time.sleep(0.3)
s.sendall(struct.pack("<QQ", 1, 1 << 40))
t0 = time.time()
try:
    print("closed" if s.recv(16) == b"" else "data", "%.0f" % ((time.time() - t0) * 1000))
except socket.timeout:
    print("open", 5000)
PY
)
code=$(write "$L" 9)
if [ "${hostile%% *}" = closed ] && [ "$code" = 200 ] && grep -q "from server 4242 .* closed: a message of 1099511627792 bytes, over the cap" "$WORK/s$L.log"; then
        pass "a peer announcing a 1 TiB Raft message is cut off (${hostile#* } ms after its preamble), logged; writes still commit ($code)"
else
        fail "hostile peer: '$hostile', write $code; log: $(grep 'over the cap\|malformed' "$WORK/s$L.log" | tail -n 2)"
fi

# (1) a server without the option stays in the configuration; force-leave removes it
start 3
# force-leave goes by name: the leader learns it from its probe of the new server (every 5 s)
named_s3() { curl -s -m 2 "http://$(http "$L")/v1/agent/members" | grep -q '"s3\.'; }
if wait_peers "$L" "4 4" 60 && for _ in $(seq 1 100); do named_s3 && break; sleep 0.1; done && named_s3; then
        stop_wait 3
        sleep 1
        got=$(n_peers "$L")
        if [ "$rc" = 0 ] && [ "$got" = "4 4" ]; then
                pass "a server without -leave-on-terminate exits on SIGTERM ($ms ms) and stays in the configuration ($got)"
        else
                fail "server without the option: exit $rc, configuration '$got' (want '4 4')"
        fi
        out=$("$BIN/drover" -address="http://$(http "$L")" server force-leave s3 2>&1)
        if [ $? = 0 ] && wait_peers "$L" "3 3" 10; then
                pass "drover server force-leave s3 removed it: $(n_peers "$L") servers/voters"
        else
                fail "force-leave: '$out', configuration '$(n_peers "$L")'"
        fi
else
        fail "the 4th server did not become a voter: '$(n_peers "$L")'"
        kill -9 "${pids[3]}" 2>/dev/null
fi

# (2) a follower with the option leaves: 2 voters, writes commit
F=$(((L + 1) % 3))
stop_wait $F
got=$(n_peers "$L")
code=$(write "$L" 1)
if [ "$rc" = 0 ] && [ "$got" = "2 2" ] && [ "$code" = 200 ] && grep -q "leave: the leader removed this server" "$WORK/s$F.log"; then
        pass "a follower left on SIGTERM in $ms ms: '$got' servers/voters, a write commits ($code)"
else
        fail "follower's leave: exit $rc in $ms ms, configuration '$got' (want '2 2'), write $code; its log: $(grep 'leave' "$WORK/s$F.log" | tail -n 3)"
fi

# (3) the leader leaves: leadership goes to the last server, 1 voter, writes commit
R=$((3 - L - F))
t0=$(date +%s%N)
stop_wait "$L"
NL=$(wait_leader 10 "$R")
t_new=$((($(date +%s%N) - t0) / 1000000))
got=$(n_peers "$R")
code=$(write "$R" 2)
if [ "$rc" = 0 ] && [ "$NL" = "$R" ] && [ "$got" = "1 1" ] && [ "$code" = 200 ] &&
        grep -q "handing leadership over" "$WORK/s$L.log" && grep -q "leave: the leader removed" "$WORK/s$L.log"; then
        pass "the leader handed over and left on SIGTERM in $ms ms; s$R leads alone ('$got') ${t_new} ms after the signal; a write commits ($code)"
else
        fail "leader's leave: exit $rc in $ms ms, new leader '$NL' (want $R), configuration '$got' (want '1 1'), write $code; its log: $(grep 'leave' "$WORK/s$L.log" | tail -n 3)"
fi

# (4) the last voter does not leave: it says so and exits
stop_wait "$R"
if [ "$rc" = 0 ] && grep -q "only voter" "$WORK/s$R.log"; then
        pass "the last voter stays in its configuration and exits ($ms ms)"
else
        fail "last voter: exit $rc; its log: $(grep 'leave' "$WORK/s$R.log" | tail -n 3)"
fi
[ $fails = 0 ] || { for i in 0 1 2 3; do echo "--- s$i"; tail -n 15 "$WORK/s$i.log"; done; exit 1; }
