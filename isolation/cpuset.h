/* cpuset.h - the cores tasks reserve (resources { cores = N }).
 *
 * The scheduler only counts a node's cores; which ones a task gets is chosen
 * on the node, here, as Nomad's client does: the lowest free ids of the cores
 * the agent may use. A reserved core belongs to one task (its cgroup's
 * cpuset.cpus); every other task's cpuset is the usable cores minus the
 * reserved ones. Knows nothing of cgroups or tasks: sets of CPU ids in, sets
 * out. Not thread-safe (the agent's loop thread owns it).
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

struct error;
struct core_alloc;

#define CPULIST_MAX 1024 /* CPU ids 0..1023 */

struct cpulist {
        uint64_t w[CPULIST_MAX / 64];
};

/* "0-3,8,10-11" (the kernel's cpulist format; "" is empty; a trailing newline
 * is fine). -EINVAL with err for anything else or an id >= CPULIST_MAX. */
int cpulist_parse(const char *s, struct cpulist *ret, struct error *err);
/* The cpulist format into buf; -ENOSPC when it does not fit, else the length. */
int cpulist_format(const struct cpulist *c, char *buf, size_t size);
int cpulist_count(const struct cpulist *c);
int cpulist_empty(const struct cpulist *c);

/* usable: the cores tasks may run on (the cgroup root's cpuset.cpus.effective). */
int core_alloc_create(const struct cpulist *usable, struct core_alloc **ret, struct error *err);
/* Reserve n free cores, the lowest ids first. -EBUSY with err when fewer are free. */
int core_alloc_take(struct core_alloc *a, int n, struct cpulist *ret, struct error *err);
/* Mark c reserved again (a task an earlier agent started). -EBUSY when one of
 * them is already reserved, -ERANGE when one is not usable; nothing is marked then. */
int core_alloc_mark(struct core_alloc *a, const struct cpulist *c);
void core_alloc_release(struct core_alloc *a, const struct cpulist *c);
/* The cores of the tasks that reserved none: usable minus reserved (usable
 * when every core is reserved, so that no task is left without a CPU). */
void core_alloc_shared(const struct core_alloc *a, struct cpulist *ret);
int core_alloc_reserved(const struct core_alloc *a);
struct core_alloc *core_alloc_free(struct core_alloc *a);
