/* seccomp.c - the task's syscall filter (see seccomp.h). */
#include "isolation/seccomp.h"

#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <seccomp.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "common/error.h"
#include "common/macros.h"

const char *const seccomp_default_deny[] = {
    "acct",          "add_key",         "bpf",           "clock_adjtime",  "clock_settime",   "create_module",
    "delete_module", "finit_module",    "fsconfig",      "fsmount",        "fsopen",          "fspick",
    "get_kernel_syms", "init_module",   "ioperm",        "iopl",           "kcmp",            "kexec_file_load",
    "kexec_load",    "keyctl",          "lookup_dcookie", "mount",         "mount_setattr",   "move_mount",
    "name_to_handle_at", "nfsservctl",  "open_by_handle_at", "open_tree",  "perf_event_open", "pivot_root",
    "process_vm_readv", "process_vm_writev", "ptrace",  "query_module",   "quotactl",        "reboot",
    "request_key",   "setns",           "settimeofday",  "swapoff",        "swapon",          "syslog",
    "umount",        "umount2",         "unshare",       "uselib",         "userfaultfd",     "vm86",
    "vm86old",       "_sysctl",         "adjtimex",      NULL,
};

#define MAX_DENY 128

struct seccomp_profile {
        struct sock_fprog prog;
        struct sock_filter *insns;
        char denied[MAX_DENY][32];
        size_t n_denied;
};

static bool in_list(const char *const *list, const char *name) {
        for (size_t i = 0; list && list[i]; i++)
                if (strcmp(list[i], name) == 0)
                        return true;
        return false;
}

static void ctx_release(scmp_filter_ctx *c) {
        if (*c)
                seccomp_release(*c);
}

int seccomp_profile_build(const char *const *allow, const char *const *deny, struct seccomp_profile **ret,
                          struct error *err) {
        for (size_t i = 0; allow && allow[i]; i++)
                if (seccomp_syscall_resolve_name(allow[i]) == __NR_SCMP_ERROR)
                        return errorf(err, -EINVAL, "seccomp: unknown syscall \"%s\" in the allow list", allow[i]);
        for (size_t i = 0; deny && deny[i]; i++)
                if (seccomp_syscall_resolve_name(deny[i]) == __NR_SCMP_ERROR)
                        return errorf(err, -EINVAL, "seccomp: unknown syscall \"%s\" in the deny list", deny[i]);
        _cleanup_free_ struct seccomp_profile *p = calloc(1, sizeof(*p));
        if (!p)
                return errorf(err, -ENOMEM, "out of memory");
        _cleanup_(ctx_release) scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
        if (!ctx)
                return errorf(err, -ENOMEM, "seccomp_init failed");
        int r;
        const char *const *lists[2] = {seccomp_default_deny, deny};
        for (int l = 0; l < 2; l++)
                for (size_t i = 0; lists[l] && lists[l][i]; i++) {
                        const char *name = lists[l][i];
                        if (in_list(allow, name) || seccomp_profile_denies(p, name))
                                continue;
                        int nr = seccomp_syscall_resolve_name(name);
                        if (nr == __NR_SCMP_ERROR)
                                continue; /* not on this architecture (vm86 on x86-64) */
                        if (p->n_denied == MAX_DENY)
                                return errorf(err, -E2BIG, "seccomp: more than %d denied syscalls", MAX_DENY);
                        r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), nr, 0);
                        if (r < 0)
                                return errorf(err, r, "seccomp: deny %s: %s", name, strerror(-r));
                        snprintf(p->denied[p->n_denied++], sizeof(p->denied[0]), "%s", name);
                }
        if (!in_list(allow, "unshare")) {
                /* clone() that creates namespaces is unshare() by another name. */
                static const unsigned long ns_flags[] = {CLONE_NEWNS,  CLONE_NEWUTS, CLONE_NEWIPC,    CLONE_NEWUSER,
                                                         CLONE_NEWPID, CLONE_NEWNET, CLONE_NEWCGROUP, 0x00000080 /* CLONE_NEWTIME */};
                for (size_t i = 0; i < ARRAY_SIZE(ns_flags); i++) {
                        r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(clone), 1,
                                             SCMP_A0(SCMP_CMP_MASKED_EQ, ns_flags[i], ns_flags[i]));
                        if (r < 0)
                                return errorf(err, r, "seccomp: clone rule: %s", strerror(-r));
                }
                r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0);
                if (r < 0)
                        return errorf(err, r, "seccomp: clone3 rule: %s", strerror(-r));
        }
        /* Compile: libseccomp 2.5 exports BPF only to a file descriptor. */
        _cleanup_close_ int fd = memfd_create("drover-seccomp", MFD_CLOEXEC);
        if (fd < 0)
                return errorf(err, -errno, "memfd_create: %s", strerror(errno));
        r = seccomp_export_bpf(ctx, fd);
        if (r < 0)
                return errorf(err, r, "seccomp_export_bpf: %s", strerror(-r));
        off_t size = lseek(fd, 0, SEEK_END);
        if (size <= 0 || size % sizeof(struct sock_filter) != 0 || size / sizeof(struct sock_filter) > 0xffff)
                return errorf(err, -EIO, "seccomp: bad program size %lld", (long long)size);
        p->insns = malloc((size_t)size);
        if (!p->insns)
                return errorf(err, -ENOMEM, "out of memory");
        if (pread(fd, p->insns, (size_t)size, 0) != size) {
                free(p->insns);
                return errorf(err, -EIO, "seccomp: short read of the program");
        }
        p->prog.len = (unsigned short)(size / sizeof(struct sock_filter));
        p->prog.filter = p->insns;
        *ret = TAKE_PTR(p);
        return 0;
}

const struct sock_fprog *seccomp_profile_prog(const struct seccomp_profile *p) {
        return &p->prog;
}

int seccomp_profile_denies(const struct seccomp_profile *p, const char *name) {
        for (size_t i = 0; i < p->n_denied; i++)
                if (strcmp(p->denied[i], name) == 0)
                        return 1;
        return 0;
}

int seccomp_profile_apply(const struct seccomp_profile *p) {
        return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &p->prog, 0, 0) < 0 ? -errno : 0;
}

struct seccomp_profile *seccomp_profile_free(struct seccomp_profile *p) {
        if (!p)
                return NULL;
        int saved = errno;
        free(p->insns);
        free(p);
        errno = saved;
        return NULL;
}
