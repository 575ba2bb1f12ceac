#!/bin/sh
# run.sh BIN_DIR - the VM tier: boot Debian's kernel under qemu (software
# emulation) with an initramfs of busybox and our binaries, mount a real cgroup2
# hierarchy, run the privileged checks in tests/vm/init.sh, and read the verdicts
# from the serial console. Nothing on the host's cgroups is touched.
set -eu
bin=$(cd "$1" && pwd)
root=$(cd "$(dirname "$0")/../.." && pwd)
out="$root/build/vm"
mkdir -p "$out"
"$root/scripts/deps.sh" qemu-system-x86 busybox-static cpio
# The kernel: Debian's linux-image, unpacked into build/vm (not installed on the host).
if [ ! -f "$out/vmlinuz" ]; then
        pkg=$(apt-cache depends linux-image-amd64 2>/dev/null | sed -n 's/.*Depends: \(linux-image-[0-9].*\)/\1/p' | head -n 1)
        if [ -z "$pkg" ]; then
                apt-get update >/dev/null 2>&1 || true
                pkg=$(apt-cache depends linux-image-amd64 | sed -n 's/.*Depends: \(linux-image-[0-9].*\)/\1/p' | head -n 1)
        fi
        (cd "$out" && apt-get download "$pkg" >/dev/null)
        rm -rf "$out/kpkg"
        dpkg-deb -x "$out"/linux-image-*.deb "$out/kpkg"
        cp "$out"/kpkg/boot/vmlinuz-* "$out/vmlinuz"
        rm -rf "$out/kpkg" "$out"/linux-image-*.deb
fi
# The initramfs: busybox, our binaries and the shared libraries they need.
rd="$out/initramfs"
rm -rf "$rd"
mkdir -p "$rd/bin" "$rd/sbin" "$rd/etc" "$rd/proc" "$rd/sys" "$rd/dev" "$rd/tmp" "$rd/var/lib" "$rd/lib64" "$rd/usr/bin"
cp /bin/busybox "$rd/bin/busybox"
for app in $("$rd/bin/busybox" --list); do [ -e "$rd/bin/$app" ] || ln -s busybox "$rd/bin/$app"; done
# The task program of the exec checks (static: it runs inside any task root).
${CC:-cc} -static -O2 -Wall -Werror -o "$rd/bin/probe" "$root/tests/vm/probe.c"
cp "$root/tests/vm/jobs/"*.hcl "$rd/etc/" 2>/dev/null || true
for b in drover-agent drover-server drover; do
        cp "$bin/$b" "$rd/bin/"
        ldd "$bin/$b" | awk '/=> \//{print $3} /^\t\/lib/{print $1}' | while read -r lib; do
                mkdir -p "$rd$(dirname "$lib")"
                cp -L "$lib" "$rd$lib"
        done
done
cp /etc/os-release "$rd/etc/os-release"
# Debian's crun (and its libyajl), unpacked into build/vm/crun, not installed:
# the 200-start check compares the agent's exec starts with it in the same VM.
c="$out/crun"
if [ ! -x "$c/usr/bin/crun" ]; then
        mkdir -p "$c"
        (cd "$c" && { apt-get download crun libyajl2 >/dev/null 2>&1 || { apt-get update >/dev/null 2>&1; apt-get download crun libyajl2 >/dev/null 2>&1; }; }) || true
        for d in "$c"/*.deb; do [ -f "$d" ] && dpkg-deb -x "$d" "$c"; done
        rm -f "$c"/*.deb
fi
if [ -x "$c/usr/bin/crun" ]; then
        cp "$c/usr/bin/crun" "$rd/bin/crun"
        mkdir -p "$rd/lib/x86_64-linux-gnu"
        cp -L "$c"/usr/lib/x86_64-linux-gnu/libyajl.so.2 "$rd/lib/x86_64-linux-gnu/" 2>/dev/null || true
        LD_LIBRARY_PATH="$c/usr/lib/x86_64-linux-gnu" ldd "$c/usr/bin/crun" | awk '/=> \//{print $3} /^\t\/lib/{print $1}' | while read -r lib; do
                mkdir -p "$rd$(dirname "$lib")"
                [ -e "$rd$lib" ] || cp -L "$lib" "$rd$lib"
        done
fi
# VM_INIT: another PID 1 (bench/vm-start.sh); VM_FILES: "SRC:DST ..." copied in,
# with the shared libraries of the executables among them.
cp "${VM_INIT:-$root/tests/vm/init.sh}" "$rd/init"
for f in ${VM_FILES:-}; do
        cp -L "${f%%:*}" "$rd${f#*:}"
        ldd "${f%%:*}" 2>/dev/null | awk '/=> \//{print $3} /^\t\/lib/{print $1}' | while read -r lib; do
                mkdir -p "$rd$(dirname "$lib")"
                [ -e "$rd$lib" ] || cp -L "$lib" "$rd$lib"
        done
done
chmod +x "$rd/init"
(cd "$rd" && find . | cpio -o -H newc 2>/dev/null | gzip -1 >"$out/initramfs.cpio.gz")
# Two vCPUs: the reserved-cores checks give one to a task and the other to the rest.
boot() { # boot ACCEL_FLAGS...: run the VM once, console to console.log
        timeout "${VM_TIMEOUT:-1500}" qemu-system-x86_64 "$@" -m 1024 -smp 2 -nographic -no-reboot \
                -kernel "$out/vmlinuz" -initrd "$out/initramfs.cpio.gz" \
                -append "console=ttyS0 quiet loglevel=3 panic=-1" >"$out/console.log" 2>&1 || true
}
rm -f "$out/console.log"
start=$(date +%s)
# KVM when it is there and works (nested KVM often refuses -cpu host); else TCG.
if [ -w /dev/kvm ] && [ "${VM_ACCEL:-auto}" != tcg ]; then
        echo "==> booting the VM (qemu, kvm)"
        boot -enable-kvm -cpu host
fi
if ! grep -aq "VMTEST END" "$out/console.log" 2>/dev/null; then
        echo "==> booting the VM (qemu, software emulation)"
        boot -cpu max
fi
echo "    VM ran $(($(date +%s) - start)) s; console in $out/console.log"
grep -ao "VMTEST .*" "$out/console.log" | tr -d "\r" || true
passed=$(grep -ac "VMTEST PASS" "$out/console.log" || true)
failed=$(grep -ac "VMTEST FAIL" "$out/console.log" || true)
if ! grep -aq "VMTEST END" "$out/console.log"; then
        echo "the VM did not finish its tests; last console lines:"
        tail -n 30 "$out/console.log"
        failed=$((failed + 1))
fi
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
