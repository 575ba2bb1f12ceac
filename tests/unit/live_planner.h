/* live_planner.h - a planner whose plans are checked and applied to a live store as
 * the leader's plan applier does, for the scheduler tests that run whole evaluations
 * (static inline: each test file gets its own copy). The planner's data is a struct
 * live_store naming the store and the index its writes take (one past the last). */
#pragma once

#include <criterion/criterion.h>
#include <stdio.h>

#include "controlplane/plan/applier.h"
#include "controlplane/scheduler/scheduler.h"
#include "controlplane/state/state.h"

struct live_store {
        struct state_store **st; /* the test's store, which setup creates */
        uint64_t *idx;
};

static inline int live_submit(void *data, struct plan *plan, struct plan_result **ret, struct state_store **ret_snap,
                              struct error *err) {
        struct live_store *ls = data;
        struct plan_result *r = NULL;
        int rc = plan_evaluate(*ls->st, plan, &r, err);
        if (rc < 0)
                return rc;
        if (!plan_result_is_noop(r)) {
                cr_assert_eq(plan_result_apply(*ls->st, ++*ls->idx, r), 0);
                plan_result_set_alloc_index(r, *ls->idx);
        }
        *ret = r;
        *ret_snap = plan_result_refresh_index(r) ? state_snapshot(*ls->st) : NULL;
        return 0;
}

/* Allocation IDs in sequence: data is the test's counter (int). */
static inline void live_seq_id(void *data, char buf[ID_BUF]) {
        snprintf(buf, ID_BUF, "00000000-0000-4000-8000-%012d", ++*(int *)data);
}

static inline int live_write_eval(void *data, const struct eval *ev) {
        struct live_store *ls = data;
        struct eval *c = eval_copy(ev);
        state_upsert_evals(*ls->st, ++*ls->idx, &c, 1);
        eval_unref(c);
        return 0;
}
