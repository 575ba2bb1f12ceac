#!/bin/sh
# init.sh - PID 1 inside the test VM. Prints "VMTEST PASS|FAIL <name>" lines.
# Runs drover itself: a server and an agent on loopback, and jobs through the
# agent's exec driver on the VM's real kernel (cgroup v2, namespaces, seccomp).
export PATH=/bin:/sbin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mount -t cgroup2 cgroup2 /sys/fs/cgroup
ip link set lo up
# The agent's data on a tmpfs: the initramfs reports no free disk, and every
# allocation asks for its group's ephemeral disk (300 MB by default).
mount -t tmpfs -o size=4g tmpfs /var/lib
echo vm-host >/etc/hostname
# A root-only file in a directory every task root binds read-only.
echo s3cret >/etc/vm-secret
chmod 600 /etc/vm-secret
check() { # check NAME COMMAND...
        name=$1
        shift
        if "$@" >/tmp/check.out 2>&1; then echo "VMTEST PASS $name"; else
                echo "VMTEST FAIL $name"
                cat /tmp/check.out
        fi
}
check "cgroup2 is mounted with controllers" grep -q memory /sys/fs/cgroup/cgroup.controllers
check "agent fingerprint runs" sh -c '/bin/drover-agent -fingerprint -data-dir /var/lib/agent >/tmp/fp.json'
check "fingerprint reports cgroups v2" grep -q '"os.cgroups.version": *"2"' /tmp/fp.json
check "fingerprint reports cpu cores" grep -q '"cpu.numcores"' /tmp/fp.json
check "fingerprint detects the exec driver" grep -q '"driver.exec": *"1"' /tmp/fp.json
check "raw_exec is off unless enabled" sh -c '! grep -q "driver.raw_exec" /tmp/fp.json'

# ---- drover itself -----------------------------------------------------------------------
A=http://127.0.0.1:4646
D=/var/lib/agent
/bin/drover-server -dev -data-dir /var/lib/server -http-addr 127.0.0.1:4646 -raft-addr 127.0.0.1:4647 \
        >/tmp/server.log 2>&1 &
/bin/drover-agent -servers $A -data-dir $D -http-addr 127.0.0.1:4656 -log-level debug >/tmp/agent.log 2>&1 &
agent_pid=$!
wait_for() { # wait_for SECONDS COMMAND...
        n=$(($1 * 5))
        shift
        while [ $n -gt 0 ]; do
                "$@" >/dev/null 2>&1 && return 0
                sleep 0.2
                n=$((n - 1))
        done
        return 1
}
node_ready() { wget -qO- $A/v1/nodes | grep -q '"Status":"ready"'; }
check "server and agent start, the node is ready" wait_for 60 node_ready
allocs() { wget -qO- "$A/v1/job/$1/allocations"; }
done_() { allocs "$1" | grep -q '"ClientStatus":"\(complete\|failed\)"'; }
running() { allocs "$1" | grep -q '"ClientStatus":"running"'; }
out() { cat $D/alloc/*/alloc/logs/"$1".stdout.0 2>/dev/null; }
alloc_json() { id=$(allocs "$1" | grep -o '"ID":"[0-9a-f-]*"' | head -n 1 | cut -d'"' -f4); wget -qO- "$A/v1/allocation/$id"; }
job() { # job NAME TYPE TASK_CONFIG [RESOURCES]: write and run an exec job
        cat >/tmp/$1.hcl <<HCL
job "$1" {
  datacenters = ["*"]
  type = "$2"
  group "g" {
    count = ${COUNT:-1}
    restart {
      attempts = 0
      mode = "fail"
    }
    task "$1" {
      driver = "${DRIVER:-exec}"
      kill_timeout = "1s"
      config {
        $3
      }
      resources {
        ${4:-cpu = 100
        memory = 64}
      }
    }
  }
}
HCL
        /bin/drover job run -detach /tmp/$1.hcl >/tmp/$1.run 2>&1
}

job probe batch 'command = "/bin/sh"
        args = ["-c", "echo uid=$(id -u); grep CapEff /proc/self/status; echo procs=$(ls /proc | grep -c \"^[0-9]\"); touch /usr/x && echo usr=writable || echo usr=readonly; echo host=$(hostname); cat /etc/vm-secret >/dev/null 2>&1 && echo secret=readable || echo secret=denied; /bin/probe syscalls"]'
check "an exec task runs to completion" wait_for 60 done_ probe
out probe >/tmp/probe.out
cat /tmp/probe.out
check "the exec driver builds task roots from its mount template" grep -q 'mount template ready' /tmp/agent.log
check "the task runs as a non-root dynamic user" grep -q '^uid=8[0-9][0-9][0-9][0-9]$' /tmp/probe.out
check "the task holds only the default capabilities" grep -q 'CapEff:.*00000000a80405fb' /tmp/probe.out
# sh, the $(...) subshell, ls and grep: a handful, not the VM's server, agent and init.
check "the task sees only its own processes" grep -q '^procs=[1-5]$' /tmp/probe.out
check "the task cannot write /usr" grep -q '^usr=readonly$' /tmp/probe.out
check "the task's hostname is its allocation's name" grep -q '^host=probe\.g\[0\]$' /tmp/probe.out
check "mount is EPERM" grep -q '^mount=EPERM$' /tmp/probe.out
check "unshare is EPERM" grep -q '^unshare=EPERM$' /tmp/probe.out
check "bpf is EPERM" grep -q '^bpf=EPERM$' /tmp/probe.out
check "kexec_load is EPERM" grep -q '^kexec_load=EPERM$' /tmp/probe.out
# Nomad's default set holds cap_dac_override: without a user namespace it
# reaches root-only host files (what user_namespace is for).
check "without a user namespace the default caps read a root-only file" grep -q '^secret=readable$' /tmp/probe.out

job userns batch 'command = "/bin/sh"
        args = ["-c", "echo uid=$(id -u); echo map=$(cat /proc/self/uid_map); grep CapEff /proc/self/status; cat /etc/vm-secret >/dev/null 2>&1 && echo secret=readable || echo secret=denied; echo procs=$(ls /proc | grep -c \"^[0-9]\"); touch /usr/x 2>/dev/null && echo usr=writable || echo usr=readonly"]
        user_namespace = true'
check "a task with user_namespace = true runs to completion" wait_for 60 done_ userns
out userns >/tmp/userns.out
cat /tmp/userns.out
check "user namespace: a non-root dynamic uid" grep -q '^uid=8[0-9][0-9][0-9][0-9]$' /tmp/userns.out
check "user namespace: only the task's own uid is mapped" sh -c "u=\$(sed -n 's/^uid=//p' /tmp/userns.out); grep -q \"^map= *\$u \$u 1\$\" /tmp/userns.out"
check "user namespace: the default caps no longer reach a root-only file" grep -q '^secret=denied$' /tmp/userns.out
check "user namespace: still its own pid namespace and a read-only /usr" sh -c "grep -q '^procs=[1-5]$' /tmp/userns.out && grep -q '^usr=readonly$' /tmp/userns.out"

job daemon service 'command = "/bin/sh"
        args = ["-c", "setsid /bin/sleep 7777 & exec /bin/sleep 7778"]'
daemon_up() { running daemon && ps | grep -q '[s]leep 7777'; }
check "a service task with a setsid child runs" wait_for 60 daemon_up
job second service 'command = "/bin/sleep"
        args = ["7779"]' 'cpu = 20
        memory = 16'
second_up() { running second && ps | grep -q '[s]leep 7779'; }
check "a second service task runs" wait_for 60 second_up
second_up || { cat /tmp/second.run; wget -qO- $A/v1/job/second/evaluations; echo; }
# Reserved cores: the VM has 2; a task with cores = 1 gets one as its cpuset,
# the other running tasks the rest.
job pinned service 'command = "/bin/sleep"
        args = ["7780"]' 'cores = 1
        memory = 16'
cg=/sys/fs/cgroup/drover.slice
pinned_up() { running pinned && ps | grep -q '[s]leep 7780'; }
check "a task with cores = 1 runs" wait_for 60 pinned_up
pinned_up || { cat /tmp/pinned.run; wget -qO- $A/v1/job/pinned/evaluations; echo; tail -n 5 /tmp/agent.log; }
cpus() { cat $cg/*.$1.scope/cpuset.cpus.effective 2>/dev/null; }
echo "cpuset: pinned=$(cpus pinned) second=$(cpus second) daemon=$(cpus daemon) all=$(cat /sys/fs/cgroup/cpuset.cpus.effective)"
check "its cgroup's cpuset.cpus.effective is one reserved core" sh -c "[ \"\$(cat $cg/*.pinned.scope/cpuset.cpus.effective)\" = 0 ]"
check "other tasks' cpusets exclude the reserved core" sh -c "[ \"\$(cat $cg/*.second.scope/cpuset.cpus.effective)\" = 1 ] && [ \"\$(cat $cg/*.daemon.scope/cpuset.cpus.effective)\" = 1 ]"
uid_of() { for p in /proc/[0-9]*; do grep -q "$1" $p/cmdline 2>/dev/null && sed -n 's/^Uid:[^0-9]*\([0-9]*\).*/\1/p' $p/status && return; done; }
u1=$(uid_of 7778)
u2=$(uid_of 7779)
echo "uids: $u1 $u2"
check "tasks of different jobs run as different uids" sh -c "[ -n '$u1' ] && [ -n '$u2' ] && [ '$u1' != '$u2' ]"
check "a task's directory is private to its uid" sh -c "stat -c '%u %a' $D/alloc/*/daemon/local | grep -q '^$u1 700$'"
# Task files (docs/security.md): the allocation directories are their tasks',
# secrets/ is a tmpfs, and a task of one job cannot read another's files.
gid_of() { for p in /proc/[0-9]*; do grep -q "$1" $p/cmdline 2>/dev/null && sed -n 's/^Gid:[^0-9]*\([0-9]*\).*/\1/p' $p/status && return; done; }
adir_of() { for a in $D/alloc/*; do [ -d "$a/$1" ] && echo "$a" && return; done; }
g1=$(gid_of 7778)
g2=$(gid_of 7779)
A1=$(adir_of daemon)
echo "daemon: uid $u1 gid $g1 dir $A1 ($(stat -c '%u:%g %a' $A1)); alloc/ $(stat -c '%u:%g %a' $A1/alloc)"
check "an allocation directory is its task's, 0700" sh -c "[ \"\$(stat -c '%u %a' $A1)\" = '$u1 700' ]"
check "its alloc/ is root's with the allocation's group, 1770" sh -c "[ \"\$(stat -c '%u %g %a' $A1/alloc)\" = '0 $g1 1770' ]"
check "a running task's secrets/ is a tmpfs on the host" grep -q " $A1/daemon/secrets tmpfs rw,nosuid,nodev,noexec" /proc/mounts
/bin/probe as $u2 $g2 open $A1 $A1/alloc/data $A1/daemon/local $A1/daemon/secrets >/tmp/other.out 2>&1
/bin/probe as $u1 $g1 open $A1/daemon/local $A1/alloc/data >/tmp/own.out 2>&1
cat /tmp/other.out /tmp/own.out
check "another job's task uid cannot open this allocation's directories" sh -c "[ \"\$(grep -c '=EACCES$' /tmp/other.out)\" = 4 ]"
check "the task's own uid can" sh -c "[ \"\$(grep -c '=ALLOWED$' /tmp/own.out)\" = 2 ]"
job secrets batch 'command = "/bin/sh"
        args = ["-c", "grep \" /secrets \" /proc/self/mounts; echo x >/secrets/t && echo secrets=writable; echo secrets_mode=$(stat -c %a /secrets); echo y >/alloc/data/y && echo alloc=writable"]'
check "a task reading its secrets/ runs to completion" wait_for 60 done_ secrets
out secrets >/tmp/secrets.out
cat /tmp/secrets.out
check "inside the task /secrets is a noexec tmpfs of 1 MiB" grep -q '^tmpfs /secrets tmpfs rw,nosuid,nodev,noexec.*size=1024k' /tmp/secrets.out
check "the task can write its /secrets (0700, its own) and /alloc/data" sh -c "grep -q '^secrets=writable$' /tmp/secrets.out && grep -q '^secrets_mode=700$' /tmp/secrets.out && grep -q '^alloc=writable$' /tmp/secrets.out"
S=$(adir_of secrets)
check "a task that ended has its secrets/ detached" sh -c "[ -n '$S' ] && ! grep -q ' $S/secrets/secrets ' /proc/mounts"
# Stats: a task holding 48 MiB shows them in GET /v1/client/allocation/:id/stats,
# which the server forwards to the agent (the task's cgroup: memory.stat anon).
job hog service 'command = "/bin/probe"
        args = ["alloc", "48", "hold"]' 'cpu = 100
        memory = 128'
hog_id() { allocs hog | grep -o '"ID":"[0-9a-f-]*"' | head -n 1 | cut -d'"' -f4; }
hog_rss() { wget -qO- "$A/v1/client/allocation/$(hog_id)/stats" | sed -n 's/^{"ResourceUsage":{"MemoryStats":{"RSS":\([0-9]*\).*/\1/p'; }
hog_holds() { r=$(hog_rss); [ -n "$r" ] && [ "$r" -ge 50000000 ]; }
check "stats: a task holding 48 MiB shows them as its RSS (through the server)" wait_for 60 hog_holds
wget -qO- "$A/v1/client/allocation/$(hog_id)/stats"
echo
check "stats: alloc status -stats prints its memory" sh -c "/bin/drover alloc status -stats $(hog_id) | grep -A2 '^Memory Stats' | grep -q MiB"
/bin/drover job stop hog >/dev/null 2>&1
# An exec task that ends while the agent is down: its supervisor records exit code 3,
# the next agent reports it; the running siblings keep their pids.
job three service 'command = "/bin/sh"
        args = ["-c", "while [ ! -e /local/go ]; do sleep 0.2; done; exit 3"]'
check "a task waiting for its go file runs" wait_for 60 running three
sib_pids() { ps | grep '[s]leep 77[0-9][0-9]' | awk '{print $1}' | sort | tr '\n' ' '; }
pids_before=$(sib_pids)
# The agent dies and comes back: it re-attaches to both isolated tasks (their
# cgroups found again from /proc), so stopping still reaches the setsid child.
kill -9 $agent_pid
for d in $D/alloc/*/three/local; do touch "$d/go"; done
wait_for 10 sh -c "! ps | grep -q '[w]hile \[ ! -e /local/go'"
# (raw_exec enabled from here on: the check of a removed raw_exec task below.)
/bin/drover-agent -servers $A -data-dir $D -http-addr 127.0.0.1:4656 -log-level debug -raw-exec >>/tmp/agent.log 2>&1 &
agent_pid=$!
reattached() { [ "$(grep -c 're-attached to pid' /tmp/agent.log)" -ge 2 ]; }
check "a restarted agent re-attaches to the running exec tasks" wait_for 60 reattached
three_3() { for id in $(allocs three | grep -o '"ID":"[0-9a-f-]*"' | cut -d'"' -f4); do wget -qO- "$A/v1/allocation/$id"; done | grep -q '"ExitCode":3'; }
check "the task that exited 3 while the agent was down is reported with exit code 3" wait_for 60 three_3
alloc_json three | grep -o '"Type":"Terminated"[^}]*'
echo "sibling pids before: $pids_before; after: $(sib_pids)"
check "its siblings kept their pids" sh -c "[ -n '$pids_before' ] && [ \"\$(ps | grep '[s]leep 77[0-9][0-9]' | awk '{print \$1}' | sort | tr '\\n' ' ')\" = '$pids_before' ]"
/bin/drover job stop three >/dev/null 2>&1 # a rescheduled one would wait for its go file
# A reserved core is charged its share of the node's MHz (Nomad's accounting): on
# these 2 cores a second reservation fits only once the other tasks are gone.
/bin/drover job stop daemon >/dev/null 2>&1
/bin/drover job stop second >/dev/null 2>&1
check "job stop leaves no process of the task behind (setsid child included)" wait_for 30 sh -c "! ps | grep -q '[s]leep 777[0-9]'"
# The restarted agent knows core 0 is taken (kept on the task's cgroup): a
# second reservation gets core 1.
job pinned2 service 'command = "/bin/sleep"
        args = ["7781"]' 'cores = 1
        memory = 16'
pinned2_up() { running pinned2 && ps | grep -q '[s]leep 7781'; }
check "after an agent restart a second cores = 1 task runs" wait_for 60 pinned2_up
echo "cpuset after restart: pinned=$(cpus pinned) pinned2=$(cpus pinned2)"
check "it gets the other core (reservations survive the agent restart)" sh -c "[ \"\$(cat $cg/*.pinned2.scope/cpuset.cpus.effective)\" = 1 ] && [ \"\$(cat $cg/*.pinned.scope/cpuset.cpus.effective)\" = 0 ]"
/bin/drover job stop pinned >/dev/null 2>&1
/bin/drover job stop pinned2 >/dev/null 2>&1
check "the tasks with reserved cores stop" wait_for 30 sh -c "! ps | grep -q '[s]leep 778[0-9]'"
# A raw_exec task (started by the log collector, in a cgroup of its own) whose
# allocation directory is removed: the collector kills its whole cgroup, so
# its setsid child (another process group) goes too.
DRIVER=raw_exec job rawd service 'command = "/bin/sh"
        args = ["-c", "setsid /bin/sleep 7790 & exec /bin/sleep 7791"]'
rawd_up() { running rawd && ps | grep -q '[s]leep 7790' && ps | grep -q '[s]leep 7791'; }
check "a raw_exec task with a setsid child runs (agent with -raw-exec)" wait_for 60 rawd_up
rawd_up || { cat /tmp/rawd.run; tail -n 5 /tmp/agent.log; }
check "the raw_exec task has a cgroup of its own" sh -c "ls $cg | grep -q '\.rawd\.scope$'"
rawd_id=$(allocs rawd | grep -o '"ID":"[0-9a-f-]*"' | head -n 1 | cut -d'"' -f4)
# Its secrets/ is a tmpfs mount point, which rm cannot remove: detached first,
# as an operator must (docs/security.md "Task files").
if [ -n "$rawd_id" ]; then
        for m in "$D/alloc/$rawd_id"/*/secrets; do umount -l "$m" 2>/dev/null; done
        rm -rf "$D/alloc/$rawd_id"
fi
check "removing its allocation directory kills it and its setsid child (cgroup.kill)" wait_for 30 sh -c "! ps | grep -q '[s]leep 779[01]'"
/bin/drover job stop rawd >/dev/null 2>&1
wait_for 30 sh -c "! ps | grep -q '[s]leep 779[01]'"
job shared service 'command = "/bin/sleep"
        args = ["7782"]'
shared_up() { running shared && ps | grep -q '[s]leep 7782'; }
wait_for 60 shared_up
check "released cores go back to the other tasks" sh -c "c=\$(cat $cg/*.shared.scope/cpuset.cpus.effective); [ \"\$c\" = 0-1 ]"
/bin/drover job stop shared >/dev/null 2>&1
wait_for 30 sh -c "! ps | grep -q '[s]leep 7782'"

# ---- oom: BEGIN (tests/vm/oom-only.sh runs this block alone) ----
# The kernel's OOM killer: memory = 32 MB, and memory_max = 256 MB, which is
# ignored (no memory oversubscription: Nomad enforces memory_max only with
# MemoryOversubscriptionEnabled, which drover's servers never have), and a task
# touching 200 MB, one MB at a time. The kernel kills it at memory.max = 32 MiB;
# the agent reports a Terminated event "OOM Killed" and the task failed.
job oom batch 'command = "/bin/probe"
        args = ["alloc", "200"]' 'cpu = 100
        memory = 32
        memory_max = 256'
check "oom: a task with memory = 32 MB touching 200 MB ends" wait_for 60 done_ oom
alloc_json oom >/tmp/oom.json
grep -o '"Type":"Terminated"[^}]*' /tmp/oom.json
grep -o '"TaskStates":{"oom":{[^[]*' /tmp/oom.json
check "oom: its Terminated event says OOM Killed, with signal 9" sh -c "grep -o '\"Type\":\"Terminated\"[^}]*' /tmp/oom.json | grep 'Exit Message: .\"OOM Killed.\"' | grep -q '\"Signal\":9'"
check "oom: the task is dead and failed, and so is the allocation" sh -c "t=\$(grep -o '\"TaskStates\":{\"oom\":{[^[]*' /tmp/oom.json); echo \"\$t\" | grep -q '\"State\":\"dead\"' && echo \"\$t\" | grep -q '\"Failed\":true' && grep -q '\"ClientStatus\":\"failed\"' /tmp/oom.json"
oom_mb=$(out oom | sed -n 's/^allocated=//p' | tail -n 1)
echo "oom: the task touched ${oom_mb:-?} MB before the kill"
check "oom: it was killed at memory (32 MB), not memory_max (256 MB)" sh -c "[ -n '$oom_mb' ] && [ '$oom_mb' -lt 40 ]"
check "oom: the agent said once that the task's memory_max is ignored" sh -c "[ \"\$(grep -c 'task oom: memory_max (256 MB) is ignored' /tmp/agent.log)\" = 1 ]"
# ---- oom: END ----

job forkbomb batch 'command = "/bin/probe"
        args = ["forks", "500"]
        pids_limit = 32'
check "a fork bomb ends" wait_for 60 done_ forkbomb
out forkbomb
check "it is stopped at pids.max" sh -c "out=\$(cat $D/alloc/*/alloc/logs/forkbomb.stdout.0); echo \$out; echo \$out | grep -q 'fork_error=EAGAIN' && n=\${out#forked=} && n=\${n%% *} && [ \$n -lt 32 ]"

mhz=$(grep -m 1 'cpu MHz' /proc/cpuinfo | cut -d: -f2 | cut -d. -f1 | tr -d ' ')
job burn batch 'command = "/bin/probe"
        args = ["burn", "5"]
        cpu_hard_limit = true' "cpu = $((${mhz:-1000} / 2))
        memory = 32"
check "a CPU burner limited to half a core ends" wait_for 90 done_ burn
out burn
check "it used at most 55% of a core over 5 s" sh -c "p=\$(cat $D/alloc/*/alloc/logs/burn.stdout.0 | sed -n 's/cpu_pct=//p'); [ -n \"\$p\" ] && [ \$p -le 55 ] && [ \$p -ge 20 ]"

job unveil batch 'command = "/bin/sh"
        args = ["-c", "cat /etc/os-release >/dev/null && echo unveiled=readable; cat /etc/hostname >/dev/null 2>&1 && echo other=readable || echo other=denied"]
        unveil = ["r:/etc/os-release"]'
check "a Landlock task ends" wait_for 60 done_ unveil
out unveil
if grep -q 'no Landlock' /tmp/agent.log; then echo "VMTEST SKIP Landlock (kernel without it)"; else
        out unveil >/tmp/unveil.out
        check "Landlock: unveiled path readable, others denied" sh -c "grep -q unveiled=readable /tmp/unveil.out && grep -q other=denied /tmp/unveil.out"
fi

# 200 starts and stops through the agent: 10 jobs of 20 tasks, one after the other.
all_done() { [ "$(allocs "$1" | grep -o '"ClientStatus":"complete"' | wc -l)" -ge 20 ]; }
i=0
ok=0
while [ $i -lt 10 ]; do
        COUNT=20
        job rep$i batch 'command = "/bin/true"'
        COUNT=1
        wait_for 180 all_done rep$i && ok=$((ok + 1))
        /bin/drover job stop -purge rep$i >/dev/null 2>&1 || /bin/drover job stop rep$i >/dev/null 2>&1
        i=$((i + 1))
done
n=$(grep -c 'exec: task rep[0-9] started in' /tmp/agent.log)
echo "rounds complete: $ok of 10; exec starts logged: $n"
check "200 exec tasks started and completed through the agent (10 jobs of 20)" sh -c "[ $ok = 10 ] && [ $n -ge 200 ]"
sleep 1
# The exec driver's start latency (cgroup, namespaces, mounts, seccomp,
# capabilities, until execve) on these 200 starts, against Debian's crun in
# this same VM: whole `crun run`s of /bin/true in a busybox bundle.
sed -n 's/.*exec: task rep[0-9] started in \([0-9]*\) us.*/\1/p' /tmp/agent.log | sort -n >/tmp/starts
n=$(wc -l </tmp/starts)
p50_us=$(sed -n "$((n / 2 + 1))p" /tmp/starts)
echo "agent_exec_starts=$n"
echo "agent_exec_start_p50_ms=$((${p50_us:-0} / 1000)).$(printf '%03d' $((${p50_us:-0} % 1000)))"
if [ -x /bin/crun ]; then
        b=/var/lib/bundle
        mkdir -p $b/rootfs/bin $b/rootfs/proc $b/rootfs/dev $b/rootfs/sys $b/rootfs/tmp
        cp /bin/busybox $b/rootfs/bin/busybox
        ln -sf busybox $b/rootfs/bin/true
        (cd $b && /bin/crun spec >/dev/null 2>&1)
        sed -i 's/"terminal": true/"terminal": false/; s/"sh"$/"\/bin\/true"/' $b/config.json
        /bin/probe time 20 -- /bin/crun run --no-pivot --bundle $b vmbench >/tmp/crun.out 2>&1
        cat /tmp/crun.out
        c=$(sed -n 's/^p50_ms=//p' /tmp/crun.out)
        echo "crun_cycle_p50_ms=$c"
        # A whole `crun run` (create, start, /bin/true, exit, delete): crun has no
        # lighter figure here (timing `crun create` alone hung in this VM).
        check "the exec driver's start p50 through the agent is at most a crun run's p50 (same VM)" awk -v a="${p50_us:-0}" -v c="${c:-0}" 'BEGIN { exit !(c > 0 && a > 0 && a / 1000 <= c) }'
        awk -v a="${p50_us:-0}" -v c="${c:-0}" 'BEGIN { if (c > 0) printf "agent_start_vs_crun_run_ratio=%.2f\n", a / 1000 / c }'
else
        echo "VMTEST SKIP crun comparison (no crun in the VM: build/vm/crun missing)"
fi
check "after the tasks ended their cgroups are gone" sh -c "! ls /sys/fs/cgroup/drover.slice | grep -q scope"
check "no task mount is left in the host's mount table" sh -c "! grep -q '/alloc/' /proc/mounts"
check "no task process is left (uids 80000+)" sh -c "! for p in /proc/[0-9]*; do sed -n 's/^Uid:[^0-9]*\(8[0-9][0-9][0-9][0-9]\).*/\1/p' \$p/status 2>/dev/null; done | grep -q ."
echo "---- agent log (tail)"
tail -n 15 /tmp/agent.log
echo "VMTEST END"
poweroff -f
