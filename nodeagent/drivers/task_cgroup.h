/* task_cgroup.h - the cgroup v2 of one task, shared by raw_exec and exec.
 *
 * Translates a driver_spec into isolation/cgroup's plain parameters: the
 * cgroup is <parent>/<alloc id>.<task>.scope under the agent's configured
 * parent. Stopping with SIGKILL kills the whole cgroup; after the task's main
 * process exits, the rest of the cgroup is killed, memory.events read for OOM
 * kills and the directory removed.
 */
#pragma once

#include <stdbool.h>

struct cgroup;
struct cgroup_limits;
struct driver_exit;
struct driver_handle;
struct driver_spec;
struct error;

/* Controllers the exec driver needs; NULL-terminated. */
extern const char *const task_cgroup_controllers[];

/* Is cgroup v2 usable for per-task cgroups (no controllers needed)? */
bool task_cgroup_usable(void);

/* Create the task's cgroup with limits (NULL: none, no controllers needed). */
int task_cgroup_create(const struct driver_spec *spec, const struct cgroup_limits *limits, struct cgroup **ret,
                       struct error *err);

/* SIGKILL: cgroup.kill on h->cgroup. Returns -ENOENT when h has no cgroup. */
int task_cgroup_kill(const struct driver_handle *h);

/* After the main process exited: kill leftovers, OOM kills into ex, rmdir. */
void task_cgroup_finish(const struct driver_handle *h, struct driver_exit *ex);

/* Remove the cgroup at path (killing what is left in it) when it is below the
 * configured parent: the cgroup of a task that ended while no agent ran. */
void task_cgroup_remove_path(const char *path);

/* Fill h->cgroup from /proc/<pid>/cgroup when it is below the configured parent. */
void task_cgroup_recover(struct driver_handle *h);
