/* agent_state.h - the agent's local state store (SQLite, <data-dir>/agent.db).
 *
 * It keeps what only this host knows and a restarted agent needs: the driver
 * handle of every task that is running (pid, process start time), so that the
 * next agent re-attaches to the task instead of losing or duplicating it. What
 * the servers know (allocations, the task states last reported) comes back from
 * them, with one exception: the definition of every allocation the agent runs
 * (its JSON, and its job's, saved once per job version), so that an agent started while the servers do not
 * list an allocation whose tasks still run can still stop them (kill_signal,
 * kill_timeout; docs/agent.md "When the servers lose their data").
 *
 * WAL journal, synchronous=NORMAL: a committed write survives the agent being
 * killed (the case that matters: tasks survive it too). Loop thread only.
 *
 * Batching (the agent's mode): writes from agent_state_set_batching(s, true) on join
 * one transaction, opened by the first write, until agent_state_commit (the agent
 * commits once per loop iteration, before it waits for I/O). 1,000 task starts and
 * exits then cost a few commits, not 2,000. Reads on s see uncommitted writes; the
 * next agent sees what was committed: a write is durable one loop iteration after it
 * was made (a task's handle is saved after it started anyway). Close commits.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "nodeagent/drivers/driver.h"

struct error;
struct agent_state;

/* Open (creating) <data_dir>/agent.db. A file that is not a readable SQLite
 * database, or one of a newer schema, is an error and is left as it is. */
int agent_state_open(const char *data_dir, struct agent_state **ret, struct error *err);
/* Accepts NULL; returns NULL. */
struct agent_state *agent_state_close(struct agent_state *s);

/* Writes join one transaction until agent_state_commit (see above). */
void agent_state_set_batching(struct agent_state *s, bool on);
/* Commit the batched writes, if any; accepts NULL. On failure they are rolled back. */
int agent_state_commit(struct agent_state *s, struct error *err);

/* Remember the handle of a task that just started (replaces an older one). */
int agent_state_put_handle(struct agent_state *s, const char *alloc_id, const char *task, const struct driver_handle *h,
                           struct error *err);
/* 0 and *ret, or -ENOENT, or negative with err. */
int agent_state_get_handle(struct agent_state *s, const char *alloc_id, const char *task, struct driver_handle *ret,
                           struct error *err);
/* Forget a task's handle (it exited); absent is fine. */
int agent_state_del_handle(struct agent_state *s, const char *alloc_id, const char *task, struct error *err);
/* Forget everything about an allocation (its handles, restart trackers and definition). */
int agent_state_del_alloc(struct agent_state *s, const char *alloc_id, struct error *err);
/* fn(alloc_id) for every allocation that has task handles; stops at fn's first
 * non-zero return, which it returns. */
int agent_state_foreach_alloc(struct agent_state *s, int (*fn)(const char *alloc_id, void *data), void *data,
                              struct error *err);
/* How many handles an allocation has saved (0 when none). */
int agent_state_count_handles(struct agent_state *s, const char *alloc_id, struct error *err);
/* A task's restart tracker (restart.h) and its pending restart, so that a restarted
 * agent neither starts a task before its restart delay ends nor counts its
 * failures afresh. Times are unix ns; next_start_ns 0 = no restart pending. */
struct task_restart_state {
        int attempts;            /* failures counted in the policy's current interval */
        int64_t window_start_ns; /* when that interval began */
        int64_t next_start_ns;   /* when the restart delay ends */
};
/* Save it (replaces the task's older one); forgotten with the allocation. */
int agent_state_put_restart(struct agent_state *s, const char *alloc_id, const char *task,
                            const struct task_restart_state *rs, struct error *err);
/* 0 and *ret, or -ENOENT (none saved), or negative with err. */
int agent_state_get_restart(struct agent_state *s, const char *alloc_id, const char *task,
                            struct task_restart_state *ret, struct error *err);
/* Remember the definition of an allocation this agent runs (its JSON object;
 * replaces an older one). job_key: the key its job was saved under
 * (agent_state_put_job), the definition then without "Job"; NULL: the job is in
 * the definition. Kept until agent_state_del_alloc, which also forgets the job
 * once no other allocation has it. */
int agent_state_put_alloc(struct agent_state *s, const char *alloc_id, const char *definition, const char *job_key,
                          struct error *err);
/* 1 when a job is saved under job_key, 0 when not, or negative with err. */
int agent_state_has_job(struct agent_state *s, const char *job_key, struct error *err);
/* Save a job's JSON under job_key (a job version: namespace/id@JobModifyIndex@Version). */
int agent_state_put_job(struct agent_state *s, const char *job_key, const char *definition, struct error *err);
/* 0 and *ret (malloc'd, the caller frees it: the allocation's JSON with its job
 * under "Job"), or -ENOENT (none saved: an agent older than schema version 2
 * started it), or negative with err. */
int agent_state_get_alloc(struct agent_state *s, const char *alloc_id, char **ret, struct error *err);
/* fn(alloc_id) for every saved definition of an allocation that has no task
 * handles (its tasks are dead, or not started yet); stops as
 * agent_state_foreach_alloc. */
int agent_state_foreach_idle_alloc(struct agent_state *s, int (*fn)(const char *alloc_id, void *data), void *data,
                                   struct error *err);
