/* gc.h - garbage collection of the state, as Nomad's core jobs do it (pure: the
 * state and the time are passed in; the leader proposes the result as one "GC"
 * FSM command, which every server applies).
 *
 * Collected:
 * - an evaluation that is terminal (complete, failed, canceled), last modified
 *   more than eval_threshold ago, whose allocations are all terminal: with them;
 * - a job that is dead (stopped, or a finished batch job) whose evaluations are all
 *   collectable and whose allocations are all terminal, last changed more than
 *   job_threshold ago: with its evaluations and allocations;
 * - a node down for more than node_threshold with no live allocation.
 * A threshold of 0 collects everything that qualifies (PUT /v1/system/gc). */
#pragma once

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

struct state_store;

struct gc_thresholds {
        int64_t eval_ns;
        int64_t job_ns;
        int64_t node_ns;
};

/* The "GC" command for the state at now (unix ns), or NULL when nothing is due.
 * At most max_objects IDs in one command (the rest next time), so that applying one
 * holds the servers' loops a bounded time: allocations come before their eval, a
 * job's allocations and evals before the job, and a job or eval that does not fit
 * whole waits for the next command unless this one is empty (then it goes in parts
 * over several). */
json_t *gc_collect(const struct state_store *st, int64_t now_ns, const struct gc_thresholds *t, size_t max_objects);

/* Apply a "GC" command: delete what it names (what is gone already is skipped). */
int gc_apply(struct state_store *st, uint64_t index, const json_t *cmd);
