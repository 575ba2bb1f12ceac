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

/* In the child, async-signal-safe: make the mounts and pivot into root.
 * file_uid/file_gid >= 0 (a user namespace that does not map host root): the
 * /dev tmpfs and the files on it are created as them (setfsuid), after the
 * host paths were all reached as the agent. On failure returns -errno and sets
 * *ret_step to the index of the failing mount (or -1 for the pivot). */
int mount_plan_apply(const struct mount_plan *p, int file_uid, int file_gid, int *ret_step);

struct mount_plan *mount_plan_free(struct mount_plan *p);
static inline void mount_plan_freep(struct mount_plan **p) {
        mount_plan_free(*p);
}
