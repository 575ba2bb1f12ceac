/* followup.h - follow-up evaluations of delayed reschedules (Nomad's
 * reconciler handleDelayedReschedules): the failed allocs whose replacement waits for
 * its reschedule delay are sorted by that time and cut into batches of allocs due
 * within FOLLOWUP_BATCH_NS of the batch's first; each batch gets one evaluation
 * (TriggeredBy alloc-failure, WaitUntil the batch's first time, PreviousEval the eval
 * being processed), created before the plan is submitted, and each alloc of the batch
 * records its ID in FollowupEvalID (an attribute update in the plan: the same alloc,
 * its extra JSON with FollowupEvalID, nothing else changed). When that eval runs, the
 * reconciler replaces the allocs that name it even if their time is a little ahead.
 *
 * A batch reuses the job's pending eval for the same time (or one this evaluation made
 * in an earlier attempt) instead of creating another. An alloc on a node that is not
 * ready or not eligible gets no attribute update (the plan applier refuses placements
 * there): the eval is still created and found again by time next time.
 * Cost: O(d log d) for d delayed allocs, plus one walk of the job's evals per batch. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "common/ids.h"

#define FOLLOWUP_BATCH_NS (INT64_C(5) * 1000000000) /* Nomad's batchedFailedAllocWindowSize */

struct sched_attempt;
struct reconcile_delayed;

struct sched_followup {
        int64_t when;
        char id[ID_BUF];
};

/* 0, or a negative errno (creating an eval failed, -ENOMEM). */
int sched_followups(struct sched_attempt *at, const struct reconcile_delayed *delayed, size_t n);
