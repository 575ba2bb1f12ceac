/* mounts.h - the task's filesystem view, made of bind mounts only.
 *
 * The root is the task directory; the host's /bin /lib /lib64 /usr /etc (those
 * that exist) are bind-mounted read-only into it, as Nomad exec's chroot_env
 * lists them, but nothing is copied; /tmp is a private tmpfs, /proc a fresh
 * procfs of the task's pid namespace, /dev a tmpfs with the harmless device
 * nodes bound from the host; extra binds (the allocation directory) as given.
 * The plan is computed and its mount points created in the parent; the child
 * (inside its new mount namespace) only calls mount, pivot_root, chdir.
 */
#pragma once

#include <stdbool.h>

struct error;
struct mount_plan;

struct mount_bind {
        const char *source;      /* host path */
        const char *target;      /* path inside the task root, absolute ("/alloc") */
        bool read_only;
};

/* root: the task directory (becomes "/"). binds: extra binds, n_binds of them. */
int mount_plan_create(const char *root, const struct mount_bind *binds, int n_binds, struct mount_plan **ret,
                      struct error *err);
/* Number of mounts the child will make (tests). */
int mount_plan_count(const struct mount_plan *p);
/* The i-th mount's target inside the root, source and flags as text (tests). */
int mount_plan_describe(const struct mount_plan *p, int i, char *buf, unsigned long size);

/* In the child, async-signal-safe: make the mounts, leaving the working
 * directory at the root (mount_plan_pivot() next).
 * template_fd >= 0 (mount_template_fd(); the child was cloned without
 * CLONE_NEWNS and not into a user namespace): the task root and extra binds
 * are copied (open_tree) from the caller's namespace, then the child joins a
 * private copy of the template's namespace, and the host directories and
 * device nodes are bound from the template's read-only copies (no remount).
 * Else: a private copy of the caller's namespace (CLONE_NEWNS) as it is.
 * file_uid/file_gid >= 0 (a user namespace that does not map host root): the
 * /dev tmpfs and the files on it are created as them (setfsuid), after the
 * host paths were all reached as the agent. On failure returns -errno and sets
 * *ret_step to the index of the failing mount (-1: before the first). */
int mount_plan_apply(const struct mount_plan *p, int template_fd, int file_uid, int file_gid, int *ret_step);
/* After mount_plan_apply, with the same template_fd: make the working
 * directory the root. Without a template: pivot_root and detach the old root
 * (the host's; the detach waits for an RCU grace period, milliseconds under
 * load: bench/start --trace). With one: move the root over the template's
 * (which holds only what the task sees anyway) and chroot, nothing detached.
 * -errno on failure. */
int mount_plan_pivot(int template_fd);

/* A mount namespace built once per agent (a helper process): a read-only
 * tmpfs root holding read-only, nosuid copies of the host's /bin, /lib, /lib64,
 * /usr, /etc, /sbin and the device nodes, and an empty mount point for the
 * task root. Needs CAP_SYS_ADMIN. Creating it detaches the host's root once;
 * starts from it detach nothing. */
struct mount_template;
int mount_template_create(struct mount_template **ret, struct error *err);
/* The namespace's fd (for isolation_spec.mount_template_fd); -1 for NULL. */
int mount_template_fd(const struct mount_template *t);
struct mount_template *mount_template_free(struct mount_template *t);

struct mount_plan *mount_plan_free(struct mount_plan *p);
static inline void mount_plan_freep(struct mount_plan **p) {
        mount_plan_free(*p);
}
