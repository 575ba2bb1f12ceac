#!/bin/sh
# vm-start.sh - PID 1 of the bench-start VM: isolated start latency on a real
# cgroup v2 kernel, drover's isolation/ against crun, both with cgroups.
export PATH=/bin:/sbin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mount -t cgroup2 cgroup2 /sys/fs/cgroup
mount -t tmpfs -o size=1g tmpfs /var/lib
n=${BENCH_N:-200}
# Under software emulation a whole `crun run` takes over a second: fewer runs of it.
ncrun=$n
grep -q "QEMU TCG" /proc/cpuinfo && ncrun=40
if /bin/start --n "$n" --cgroup-parent /sys/fs/cgroup/drover.slice >/tmp/start.out 2>&1; then
        echo "VMTEST PASS isolated starts"
else
        echo "VMTEST FAIL isolated starts"
fi
cat /tmp/start.out
# crun: an OCI bundle whose rootfs is busybox, running /bin/true, cgroups on;
# --no-pivot as the initramfs root cannot be pivoted (drover moves the root there too).
b=/var/lib/bundle
mkdir -p $b/rootfs/bin $b/rootfs/proc $b/rootfs/dev $b/rootfs/sys $b/rootfs/tmp
cp /bin/busybox $b/rootfs/bin/busybox
ln -s busybox $b/rootfs/bin/true
(cd $b && /bin/crun spec >/dev/null 2>&1)
sed -i 's/"terminal": true/"terminal": false/; s/"sh"$/"\/bin\/true"/' $b/config.json
if /bin/start --cmd --n "$ncrun" --prefix crun_ -- /bin/crun run --no-pivot --bundle $b bench >/tmp/crun.out 2>&1; then
        echo "VMTEST PASS crun starts"
else
        echo "VMTEST FAIL crun starts"
        /bin/crun run --no-pivot --bundle $b bench
fi
cat /tmp/crun.out
echo "crun_runs=$ncrun"
echo "VMTEST END"
poweroff -f
