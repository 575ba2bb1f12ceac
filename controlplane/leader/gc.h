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

/* Every "GC" command due in the state at now (unix ns), in one pass: *ret_cmds is an
 * array of at most max_commands commands (empty when nothing is due; the rest, past
 * max_commands, next run), to be applied in order. At most max_objects IDs in one
 * command, so that applying one holds the servers' loops a bounded time:
 * allocations come before their eval, a job's allocations and evals before the job,
 * and a job or eval that does not fit whole goes in the next command unless this one
 * is empty (then it goes in parts over several). Each command carries "Since", st's
 * latest index. Pure and read-only: the leader runs it on its thread pool over a
 * snapshot (state_snapshot), not on its loop. 0 or -ENOMEM. */
int gc_collect_all(const struct state_store *st, int64_t now_ns, const struct gc_thresholds *t, size_t max_objects,
                   size_t max_commands, json_t **ret_cmds);
/* The first of them alone, or NULL when nothing is due. */
json_t *gc_collect(const struct state_store *st, int64_t now_ns, const struct gc_thresholds *t, size_t max_objects);

/* Apply a "GC" command: delete what it names (what is gone already is skipped). With
 * "Since", an object modified after that index is kept, and so is an eval that
 * still has allocations or a job that still has allocations or evals (their
 * collection waits for the next run): the commands of one run are applied while
 * the state moves on. */
int gc_apply(struct state_store *st, uint64_t index, const json_t *cmd);
