/* check.c - a batch of plans checked in order and encoded for the log. See check.h. */
#include "controlplane/plan/check.h"

#include <errno.h>

#include "controlplane/plan/applier.h"
#include "controlplane/plan/codec.h"
#include "controlplane/scheduler/plan.h"

static void check_one(const struct state_store *snap, struct plan_overlay *overlay, struct plan_check *c) {
        c->status = plan_evaluate_overlay(snap, overlay, c->plan, &c->result, &c->err);
        if (c->status < 0 || plan_result_is_noop(c->result))
                return;
        if (plan_overlay_add(overlay, c->result) < 0 || plan_result_encode(c->result, &c->buf, &c->len) < 0) {
                plan_overlay_remove(overlay, c->result);
                c->result = plan_result_free(c->result);
                c->status = errorf(&c->err, -ENOMEM, "plan applier: out of memory");
                return;
        }
        /* the apply's own decoding of these bytes, here rather than in one more task on
         * the pool (a wakeup each way, which on a busy host costs more than the work) */
        struct error derr = {0};
        if (plan_result_decode(c->buf, c->len, &c->decoded, &derr) < 0)
                c->decoded = NULL;
}

void plan_check_batch(const struct state_store *snap, struct plan_overlay *overlay, struct plan_check *v, size_t n) {
        for (size_t i = 0; i < n; i++)
                check_one(snap, overlay, &v[i]);
}
