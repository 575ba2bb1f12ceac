/* seccomp.h - the task's syscall filter, built with libseccomp in the parent.
 *
 * The default profile allows everything except a deny-list of syscalls that
 * reach into the kernel or other processes (module loading, mounts, namespaces,
 * BPF, ptrace, keyrings, reboot, swap, clock setting...), which fail with
 * EPERM; clone() with namespace flags fails with EPERM too, and clone3() with
 * ENOSYS (its flags live in memory a filter cannot read; libc falls back to
 * clone). The profile is compiled to a classic BPF program before the task
 * process exists, so the child only calls prctl().
 */
#pragma once

#include <stddef.h>

struct error;
struct sock_fprog;
struct seccomp_profile;

/* NULL-terminated list of the syscalls denied by default. */
extern const char *const seccomp_default_deny[];

/* Build a profile: the default deny-list, minus allow[], plus deny[] (both
 * NULL-terminated lists of syscall names, may be NULL). An unknown name is
 * -EINVAL with err naming it. */
int seccomp_profile_build(const char *const *allow, const char *const *deny, struct seccomp_profile **ret,
                          struct error *err);
/* The compiled program, for prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, prog). */
const struct sock_fprog *seccomp_profile_prog(const struct seccomp_profile *p);
/* Is name denied by the profile (for tests and diagnostics)? */
int seccomp_profile_denies(const struct seccomp_profile *p, const char *name);
/* In the child (async-signal-safe): install the filter; needs no_new_privs or CAP_SYS_ADMIN. */
int seccomp_profile_apply(const struct seccomp_profile *p);

struct seccomp_profile *seccomp_profile_free(struct seccomp_profile *p);
static inline void seccomp_profile_freep(struct seccomp_profile **p) {
        seccomp_profile_free(*p);
}
