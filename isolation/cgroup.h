/* cgroup.h - one cgroup v2 per task, through the cgroupfs files.
 *
 * Knows nothing of jobs: it takes a parent directory, a name and plain limits.
 * The parent (default /sys/fs/cgroup/drover.slice) is created on demand with
 * the controllers the limits need enabled in cgroup.subtree_control of every
 * level above it. A task starts directly inside its cgroup (clone3 with
 * CLONE_INTO_CGROUP and cgroup_fd()); cgroup_remove() kills whatever is left
 * (cgroup.kill) and removes the directory.
 *
 * libcgroup (Debian's libcgroup 2.0.2) is not used: its API discovers one
 * mount table from /proc/mounts at cgroup_init() and keeps it in process-wide
 * state, knows nothing of cgroup.kill or CLONE_INTO_CGROUP, and on a hybrid
 * host (v1 controllers plus a controller-less cgroup2) picks the v1 side. The
 * handful of files written here are the kernel's stable interface.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

struct error;
struct cgroup;

#define CGROUP_DEFAULT_MOUNT "/sys/fs/cgroup"
#define CGROUP_DEFAULT_PARENT "/sys/fs/cgroup/drover.slice"

struct cgroup_limits {
        int64_t cpu_mhz;         /* share of the node's CPU -> cpu.weight; 0 = unset */
        int64_t cpu_max_quota_us; /* hard limit -> cpu.max "quota period"; 0 = unset */
        int64_t cpu_max_period_us; /* 0 = 100000 */
        char cpuset_cpus[64];     /* reserved cores -> cpuset.cpus ("2-3"); "" = unset */
        int64_t memory_bytes;     /* memory.max, or memory.high when memory_max_bytes is set; 0 = unset */
        int64_t memory_max_bytes; /* memory.max when > memory_bytes; 0 = unset */
        int64_t pids_max;         /* pids.max; 0 = unset */
        int io_weight;            /* io.weight 1..10000; 0 = unset */
};

struct cgroup_value {
        char file[32];  /* "memory.max" */
        char value[64]; /* "268435456" */
        char controller[8]; /* "memory" */
        int optional;   /* 1: skipped when the file does not exist (memory.swap.max without swap) */
};

/* The files and values the limits translate to, in the order they are written.
 * Returns the count (<= max) or -EINVAL with err when a limit is out of range. */
int cgroup_limit_values(const struct cgroup_limits *l, struct cgroup_value *ret, size_t max, struct error *err);

/* Nomad's CPU share in MHz as cgroup v2 cpu.weight (runc's conversion from
 * cpu.shares, clamped to 1..10000). */
uint64_t cgroup_cpu_weight(int64_t mhz);

/* Is mount a cgroup2 mount with every controller of the NULL-terminated list
 * available? 0, or negative with err saying which is missing. */
int cgroup_check(const char *mount, const char *const *controllers, struct error *err);

/* Create parent (and its ancestors below the mount) and enable controllers
 * in cgroup.subtree_control from the mount down to parent. Idempotent. */
int cgroup_prepare_parent(const char *mount, const char *parent, const char *const *controllers, struct error *err);

/* mkdir parent/name and write the limits. The cgroup must not exist yet. */
int cgroup_create(const char *parent, const char *name, const struct cgroup_limits *l, struct cgroup **ret,
                  struct error *err);
/* An existing cgroup (an agent restart re-attaching to a task). */
int cgroup_open(const char *path, struct cgroup **ret, struct error *err);

/* O_PATH directory fd for clone3's cgroup field. Owned by the cgroup. */
int cgroup_fd(const struct cgroup *cg);
const char *cgroup_path(const struct cgroup *cg);

/* Kill every process in the cgroup (cgroup.kill; SIGKILL to each of
 * cgroup.procs on kernels before 5.14). */
int cgroup_kill(const struct cgroup *cg, struct error *err);
/* Processes left in the cgroup (cgroup.events "populated"): 1, 0 or negative. */
int cgroup_populated(const struct cgroup *cg);
/* The oom_kill count of memory.events (0 when the file is absent). */
int cgroup_oom_kills(const struct cgroup *cg, uint64_t *ret, struct error *err);
/* Kill what is left, wait up to timeout_ms for it to be gone, rmdir. */
int cgroup_remove(const struct cgroup *cg, int timeout_ms, struct error *err);

/* Read the cgroup of pid from /proc/<pid>/cgroup ("0::/path") as an absolute
 * path under mount. */
int cgroup_of_pid(int pid, const char *mount, char *ret, size_t size, struct error *err);

/* Accepts NULL; returns NULL. Does not remove the cgroup. */
struct cgroup *cgroup_free(struct cgroup *cg);
static inline void cgroup_freep(struct cgroup **cg) {
        cgroup_free(*cg);
}
