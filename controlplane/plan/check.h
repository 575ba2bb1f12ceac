/* check.h - the plan applier's per-plan work, off the leader's loop: a batch of plans
 * checked in order against a state snapshot plus the results still in flight, and each
 * result that commits something encoded for the log.
 *
 * Pure and thread-agnostic: it reads `snap` (an immutable snapshot, state_snapshot())
 * and the plans, and writes only the batch's own entries and `overlay`. The server
 * runs it on libuv's pool (worker.c), one batch at a time, so that the loop only takes
 * the snapshot and a copy of the overlay, queues the batch, and proposes what comes
 * back. The caller keeps the plans and the results the overlay borrows alive until it
 * returns. */
#pragma once

#include <stddef.h>

#include "common/error.h"

struct plan;
struct plan_overlay;
struct plan_result;
struct state_store;

struct plan_check {
        const struct plan *plan;    /* in: borrowed */
        int status;                 /* out: 0, or a negative errno (err says why) */
        struct error err;           /* out: when status < 0 */
        struct plan_result *result; /* out, owned: NULL when status < 0 */
        void *buf;                  /* out, owned (free): the result encoded (plan/codec.h); NULL for a no-op */
        size_t len;
        /* out, owned: buf decoded again (plan_result_decode, on the same thread), what
         * this server's FSM applies for these bytes (raft/plan_predecode.h); NULL when
         * it could not be (the FSM decodes them then) */
        struct plan_result *decoded;
};

/* Check v[0..n) in order with plan_evaluate_overlay(snap, overlay, ...): each plan
 * against the snapshot, the results overlay holds (those proposed, not yet applied)
 * and the results before it in the batch, which are added to overlay as they are
 * made (a no-op result is not); encode every result that is not a no-op. Two plans of
 * a batch that compete for a node's last capacity: the first is placed, the second
 * rejected on that node. Cost: plan_evaluate's per plan, plus the encoding. */
void plan_check_batch(const struct state_store *snap, struct plan_overlay *overlay, struct plan_check *v, size_t n);
