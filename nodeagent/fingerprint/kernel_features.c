/* kernel_features.c - what the kernel offers the isolation and watching code: BTF, BPF, seccomp.
 *
 * Attributes: kernel.btf (true when /sys/kernel/btf/vmlinux exists, so CO-RE
 * programs load), kernel.bpf (true when the bpf() syscall is built in:
 * /proc/sys/kernel/unprivileged_bpf_disabled exists), kernel.seccomp (true when
 * /proc/sys/kernel/seccomp/actions_avail exists) and kernel.seccomp.actions.
 * The agent falls back to cgroup.events / pidfd when BPF is missing (STYLE.md).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/error.h"
#include "common/model.h"
#include "nodeagent/fingerprint/fp_sources.h"
#include "nodeagent/fingerprint/fp_util.h"

static bool exists(const struct fingerprint_ctx *ctx, const char *rel) {
        char path[4096];
        return access(fp_path(ctx, rel, path, sizeof(path)), F_OK) == 0;
}

static int fp_kernel_run(const struct fingerprint_ctx *ctx, struct node *n, struct error *err) {
        int r = 0;
        r |= fp_set(n, "kernel.btf", exists(ctx, "/sys/kernel/btf/vmlinux") ? "true" : "false");
        r |= fp_set(n, "kernel.bpf", exists(ctx, "/proc/sys/kernel/unprivileged_bpf_disabled") ? "true" : "false");
        char actions[512];
        bool seccomp = fp_read(ctx, "/proc/sys/kernel/seccomp/actions_avail", actions, sizeof(actions)) >= 0;
        r |= fp_set(n, "kernel.seccomp", seccomp ? "true" : "false");
        if (seccomp) {
                for (char *p = actions; *p; p++)
                        if (*p == ' ')
                                *p = ',';
                r |= fp_set(n, "kernel.seccomp.actions", actions);
        }
        if (r < 0)
                return errorf(err, -ENOMEM, "out of memory");
        return 0;
}

const struct fingerprint_ops fp_kernel = {.name = "kernel", .run = fp_kernel_run};
