/* update.h - what a job update means for a running allocation: Nomad's tasksUpdated
 * (scheduler/util.go) decides between an in-place update (the alloc keeps running and
 * only takes the new job version) and a destructive one (stopped and replaced under
 * the same name); and the group's `update` block, merged over the job's, with
 * Nomad's defaults. Pure functions, no state: tests/unit/test_sched_update.c.
 *
 * Destructive (a new allocation is needed): a different number of tasks, a task
 * added or renamed; the group's ephemeral disk, networks, constraints, affinities or
 * spreads, or the job's; the job's datacenters or node pool; per task: driver, user,
 * config, env, the meta the task sees (job, group and task meta combined: it reaches
 * the task as NOMAD_META_*), resources (cpu, cores, memory, memory_max, disk,
 * networks, devices), constraints, affinities, and the task's artifacts, templates, vault, consul, identity, lifecycle,
 * volume mounts, dispatch payload and kill signal; the group's volumes and consul block. Everything else (count,
 * priority, update/migrate/reschedule blocks, services, restart policy, kill timeout, logs, shutdown delay) updates in
 * place. Unlike Nomad, which re-checks the node's feasibility for an in-place candidate, constraint and datacenter
 * changes are always destructive. Cost: linear in the group's size; no allocation.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

struct job;
struct task_group;
struct alloc;

struct update_strategy {
        bool set;                     /* the job or the group has an update block */
        int max_parallel;             /* 0: no limit */
        bool health_checks;           /* health_check = "checks" (drover has no checks: as task_states) */
        bool health_manual;           /* health_check = "manual": only the API sets health */
        int64_t min_healthy_ns;       /* min_healthy_time, default 10 s */
        int64_t healthy_deadline_ns;  /* default 5 min */
        int64_t progress_deadline_ns; /* default 10 min; 0: none */
        int canary;
        bool auto_revert;
        bool auto_promote;
};

/* The group's strategy: the group's update block over the job's over the defaults
 * (max_parallel 1 for service jobs; batch and sysbatch jobs have no rolling update:
 * max_parallel 0, everything at once). */
void sched_update_strategy(const struct job *j, const struct task_group *tg, struct update_strategy *ret);

/* Does the alloc run another version of j (its job's JobModifyIndex or Version differs)? */
bool sched_alloc_outdated(const struct alloc *a, const struct job *j);

/* Does moving group `group` from job a to job b need new allocations? A group missing
 * from either is destructive. */
bool sched_tasks_updated(const struct job *a, const struct job *b, const char *group);
