#!/bin/sh
# init.sh - PID 1 inside the test VM. Prints "VMTEST PASS|FAIL <name>" lines.
export PATH=/bin:/sbin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mount -t cgroup2 cgroup2 /sys/fs/cgroup
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
check "a memory limit is enforced by the kernel" sh -c '
        mkdir /sys/fs/cgroup/t && echo +memory > /sys/fs/cgroup/cgroup.subtree_control &&
        echo 8388608 > /sys/fs/cgroup/t/memory.max && grep -q 8388608 /sys/fs/cgroup/t/memory.max'
echo "VMTEST END"
poweroff -f
