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
/bin/drover-agent -servers $A -data-dir $D -http-addr 127.0.0.1:4656 >/tmp/agent.log 2>&1 &
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
    restart {
      attempts = 0
      mode = "fail"
    }
    task "$1" {
      driver = "exec"
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
        args = ["-c", "echo uid=$(id -u); grep CapEff /proc/self/status; echo procs=$(ls /proc | grep -c \"^[0-9]\"); touch /usr/x && echo usr=writable || echo usr=readonly; echo host=$(hostname); /bin/probe syscalls"]'
check "an exec task runs to completion" wait_for 60 done_ probe
out probe >/tmp/probe.out
cat /tmp/probe.out
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
uid_of() { for p in /proc/[0-9]*; do grep -q "$1" $p/cmdline 2>/dev/null && sed -n 's/^Uid:[^0-9]*\([0-9]*\).*/\1/p' $p/status && return; done; }
u1=$(uid_of 7778)
u2=$(uid_of 7779)
echo "uids: $u1 $u2"
check "tasks of different jobs run as different uids" sh -c "[ -n '$u1' ] && [ -n '$u2' ] && [ '$u1' != '$u2' ]"
check "a task's directory is private to its uid" sh -c "stat -c '%u %a' $D/alloc/*/daemon/local | grep -q '^$u1 700$'"
# The agent dies and comes back: it re-attaches to both isolated tasks (their
# cgroups found again from /proc), so stopping still reaches the setsid child.
kill -9 $agent_pid
/bin/drover-agent -servers $A -data-dir $D -http-addr 127.0.0.1:4656 >>/tmp/agent.log 2>&1 &
agent_pid=$!
reattached() { [ "$(grep -c 're-attached to pid' /tmp/agent.log)" -ge 2 ]; }
check "a restarted agent re-attaches to the running exec tasks" wait_for 60 reattached
/bin/drover job stop daemon >/dev/null 2>&1
/bin/drover job stop second >/dev/null 2>&1
check "job stop leaves no process of the task behind (setsid child included)" wait_for 30 sh -c "! ps | grep -q '[s]leep 777[789]'"

job oom batch 'command = "/bin/probe"
        args = ["alloc", "200"]' 'cpu = 100
        memory = 32'
check "a task beyond its memory limit ends" wait_for 60 done_ oom
check "it is reported as OOM Killed" sh -c "wget -qO- $A/v1/job/oom/allocations >/dev/null; alloc_id=\$(wget -qO- $A/v1/job/oom/allocations | grep -o '\"ID\":\"[0-9a-f-]*\"' | head -n 1 | cut -d'\"' -f4); wget -qO- $A/v1/allocation/\$alloc_id | grep -q 'OOM Killed'"

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

# Repeated starts and stops (4 x 5 tasks; software emulation keeps it short).
job repeat batch 'command = "/bin/true"'
sed -i 's/  group "g" {/  group "g" {\n    count = 5/' /tmp/repeat.hcl
all_done() { [ "$(allocs repeat | grep -o '"ClientStatus":"complete"' | wc -l)" -ge 5 ]; }
i=0
while [ $i -lt 4 ]; do
        /bin/drover job run /tmp/repeat.hcl >/dev/null 2>&1
        wait_for 60 all_done
        /bin/drover job stop -purge repeat >/dev/null 2>&1 || /bin/drover job stop repeat >/dev/null 2>&1
        i=$((i + 1))
done
sleep 1
check "after the tasks ended their cgroups are gone" sh -c "! ls /sys/fs/cgroup/drover.slice | grep -q scope"
check "no task mount is left in the host's mount table" sh -c "! grep -q '/alloc/' /proc/mounts"
check "no task process is left (uids 80000+)" sh -c "! for p in /proc/[0-9]*; do sed -n 's/^Uid:[^0-9]*\(8[0-9][0-9][0-9][0-9]\).*/\1/p' \$p/status 2>/dev/null; done | grep -q ."
echo "---- agent log (tail)"
tail -n 15 /tmp/agent.log
echo "VMTEST END"
poweroff -f
