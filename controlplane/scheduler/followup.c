/* followup.c - follow-up evaluations of delayed reschedules. See followup.h. */
#include "controlplane/scheduler/followup.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/hashmap.h"
#include "common/macros.h"
#include "common/model.h"
#include "controlplane/scheduler/candidates.h"
#include "controlplane/scheduler/plan.h"
#include "controlplane/scheduler/reconcile.h"
#include "controlplane/scheduler/sched_internal.h"
#include "controlplane/state/state.h"

/* Follow-up evals by time ("%lld" of the unix ns): this evaluation's (earlier
 * attempts), and the job's pending evals in the snapshot. */
struct by_time {
        struct hashmap *ids; /* key -> const char *id (borrowed) */
        int r;
};

static void time_key(char buf[24], int64_t when) {
        snprintf(buf, 24, "%lld", (long long)when);
}

static bool add_pending(void *arg, const struct eval *e) {
        struct by_time *t = arg;
        char key[24];
        if (e->status != EVAL_PENDING || !e->wait_until || !e->id)
                return true;
        time_key(key, e->wait_until);
        if (!hashmap_contains(t->ids, key) && hashmap_put(t->ids, key, (void *)e->id, NULL) < 0)
                t->r = -ENOMEM;
        return t->r == 0;
}

static char *xstrdup(const char *s) {
        return s ? strdup(s) : NULL;
}

static int create_eval(struct sched_ctx *c, int64_t when, char id[ID_BUF]) {
        const struct eval *ev = c->eval;
        struct eval *f = eval_new();
        if (!f)
                return -ENOMEM;
        c->gen_id(c->id_data, id);
        const struct job *j = state_job_get(c->snap, ev->namespace, ev->job_id);
        int64_t now = sched_now(c);
        f->id = strdup(id);
        f->namespace = xstrdup(ev->namespace);
        f->priority = ev->priority;
        f->type = ev->type;
        f->triggered_by = strdup("alloc-failure");
        f->job_id = xstrdup(ev->job_id);
        f->job_modify_index = j ? j->job_modify_index : ev->job_modify_index;
        f->status = EVAL_PENDING;
        f->previous_eval = xstrdup(ev->id);
        f->wait_until = when;
        f->create_time = now;
        f->modify_time = now;
        int r = !f->id || !f->triggered_by ? -ENOMEM : c->planner->create_eval(c->planner_data, f);
        eval_unref(f);
        return r;
}

/* The follow-up eval for time when: one this evaluation has, the job's pending one, or
 * a new one (c->followups has room for it). */
static int followup_for(struct sched_ctx *c, struct hashmap *ids, int64_t when, const char **ret_id) {
        char key[24];
        time_key(key, when);
        if ((*ret_id = hashmap_get(ids, key)))
                return 0;
        struct sched_followup *f = &c->followups[c->n_followups];
        f->when = when;
        int r = create_eval(c, when, f->id);
        if (r < 0 || (r = hashmap_put(ids, key, f->id, NULL)) < 0)
                return r;
        c->n_followups++;
        *ret_id = f->id;
        return 0;
}

/* The failed alloc a, recording follow-up eval id: an attribute update in the plan. */
static int record(struct sched_attempt *at, const struct alloc *a, const char *id) {
        const struct node *n = a->node_id ? state_node_get(at->c->snap, a->node_id) : NULL;
        if (!n || n->status != NODE_READY || !n->eligible)
                return 0;
        struct alloc *c = alloc_copy_set_extra(a, "FollowupEvalID", json_string(id));
        if (!c)
                return -ENOMEM;
        int r = plan_add_place(at->plan, c);
        alloc_unref(c);
        return r;
}

static int by_when(const void *x, const void *y) {
        const struct reconcile_delayed *a = x, *b = y;
        if (a->when != b->when)
                return a->when < b->when ? -1 : 1;
        return strcmp(a->alloc->id, b->alloc->id);
}

int sched_followups(struct sched_attempt *at, const struct reconcile_delayed *delayed, size_t n) {
        _cleanup_free_ struct reconcile_delayed *v = malloc(n * sizeof(*v));
        if (!v)
                return -ENOMEM;
        memcpy(v, delayed, n * sizeof(*v));
        qsort(v, n, sizeof(*v), by_when);
        struct sched_ctx *c = at->c;
        struct sched_followup *f = realloc(c->followups, (c->n_followups + n) * sizeof(*f)); /* a batch at most each */
        if (!f)
                return -ENOMEM;
        c->followups = f;
        _cleanup_(hashmap_destroyp) struct hashmap *ids = hashmap_create(HASHMAP_OWN_KEYS);
        if (!ids)
                return -ENOMEM;
        struct by_time t = {ids, 0};
        char key[24];
        for (size_t i = 0; i < c->n_followups && t.r == 0; i++) {
                time_key(key, f[i].when);
                t.r = hashmap_put(ids, key, f[i].id, NULL) < 0 ? -ENOMEM : 0;
        }
        if (t.r == 0)
                state_evals_by_job_foreach(c->snap, c->eval->namespace, c->eval->job_id, add_pending, &t);
        if (t.r < 0)
                return t.r;
        for (size_t i = 0; i < n;) {
                int64_t start = v[i].when;
                const char *id = NULL;
                int r = followup_for(c, ids, start, &id);
                if (r < 0)
                        return r;
                for (; i < n && v[i].when - start < FOLLOWUP_BATCH_NS; i++)
                        if ((r = record(at, v[i].alloc, id)) < 0)
                                return r;
        }
        return 0;
}
