/* generic.c - the generic (service and batch) scheduler: one attempt reconciles the
 * job's groups against its allocations (reconcile.c), places what is missing over the
 * shuffled candidates (candidates.c, rank.c, place.c) and submits the plan; partial
 * commits are retried on refreshed state; unplaced work becomes one blocked eval.
 * Follows Nomad's scheduler/generic_sched.go.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/macros.h"
#include "controlplane/scheduler/candidates.h"
#include "controlplane/scheduler/feasible.h"
#include "controlplane/scheduler/followup.h"
#include "controlplane/scheduler/place.h"
#include "controlplane/scheduler/reconcile.h"
#include "controlplane/scheduler/sched_internal.h"
#include "controlplane/state/state.h"
#include "controlplane/state/state_deploy.h"

int64_t sched_now(const struct sched_ctx *c) {
        return c->clock->now_ns(c->clock->data);
}

void sched_ctx_release(struct sched_ctx *c) {
        json_decref(c->failed_tg);
        json_decref(c->queued);
        json_decref(c->class_elig);
        c->failed_tg = c->queued = c->class_elig = NULL;
        c->owned_snap = state_destroy(c->owned_snap);
        c->regexps = sched_regexps_destroy(c->regexps);
        free(c->followups);
        c->followups = NULL;
        c->n_followups = 0;
}

/* ---- one attempt: reconcile, place, submit ------------------------------------------------------ */

static bool node_lost(void *data, const char *node_id) {
        const struct node *n = state_node_get(data, node_id);
        return !n || n->status == NODE_DOWN;
}

static bool node_draining(void *data, const char *node_id) {
        const struct node *n = state_node_get(data, node_id);
        return n && n->drain;
}

/* An in-place update: the same alloc (ID, node, resources) on the job's new version.
 * The store keeps what its client reported meanwhile (state_upsert_allocs). */
static int place_inplace(struct sched_attempt *at, const struct alloc *old, const struct deployment *d) {
        struct alloc *a = alloc_copy(old);
        if (!a)
                return -ENOMEM;
        job_unref(a->job);
        a->job = job_ref((struct job *)at->job);
        if (d) { /* the new version's deployment adopts it; the watcher judges its health */
                free(a->deployment_id);
                if (!(a->deployment_id = strdup(d->id)))
                        return alloc_unref(a), -ENOMEM;
                a->deploy_health = DEPLOY_HEALTH_UNSET;
                a->deploy_health_time = 0;
        }
        free(a->eval_id);
        a->eval_id = strdup(at->c->eval->id);
        a->modify_time = sched_now(at->c);
        int r = a->eval_id ? plan_add_place(at->plan, a) : -ENOMEM;
        alloc_unref(a);
        return r;
}

/* The job's deployment for its current version while it is active, else NULL. */
static const struct deployment *current_deployment(const struct sched_attempt *at) {
        const struct job *j = at->job;
        if (!j)
                return NULL;
        const struct deployment *d = state_deployment_latest(at->c->snap, j->namespace, j->id);
        return d && d->job_version == j->version && d->job_modify_index == j->job_modify_index ? d : NULL;
}

/* New placements belong to the version's active deployment. Before submission the
 * plan is the only holder of its new allocs, so they are stamped in place. */
static int stamp_deployment(struct sched_attempt *at, const struct deployment *d) {
        if (!d || !deploy_active(d->status))
                return 0;
        for (size_t i = 0; i < at->plan->n_nodes; i++)
                for (size_t k = 0; k < at->plan->nodes[i].n_place; k++) {
                        struct alloc *a = at->plan->nodes[i].place[k];
                        if (a->create_index || a->deployment_id)
                                continue; /* an in-place update, already stamped */
                        if (!(a->deployment_id = strdup(d->id)))
                                return -ENOMEM;
                }
        return 0;
}

/* The reconciler's stops and in-place updates go into the plan; its slots to place
 * come back. */
static int reconcile(struct sched_attempt *at, struct reconcile_out *out) {
        const struct eval *ev = at->c->eval;
        const struct deployment *d = current_deployment(at);
        bool active = d && deploy_active(d->status);
        struct reconcile_in in = {.job = at->job,
                                  .updates_blocked = d && d->status != DEPLOY_RUNNING && d->status != DEPLOY_SUCCESSFUL,
                                  .deploy = active ? d : NULL,
                                  .batch = at->c->ops->batch,
                                  .node_lost = node_lost,
                                  .node_draining = node_draining,
                                  .data = (void *)at->c->snap,
                                  .now = sched_now(at->c),
                                  .eval_id = ev->id};
        in.allocs = state_allocs_by_job(at->c->snap, ev->namespace, ev->job_id, &in.n_allocs);
        int r = sched_reconcile(&in, out);
        for (size_t i = 0; r == 0 && i < out->n_stops; i++)
                r = plan_add_stop(at->plan, out->stops[i].alloc, ALLOC_DESIRED_STOP, out->stops[i].description,
                                  out->stops[i].client_status);
        for (size_t i = 0; r == 0 && i < out->n_inplace; i++)
                r = place_inplace(at, out->inplace[i].alloc, active ? d : NULL);
        return r;
}

/* Service and batch: reconcile, then place the missing slots. */
static int generic_build(struct sched_attempt *at) {
        struct reconcile_out rec = {0};
        int r = reconcile(at, &rec);
        if (r == 0 && rec.n_delayed)
                r = sched_followups(at, rec.delayed, rec.n_delayed);
        if (r == 0 && rec.n_place) {
                if ((r = sched_build_cands(at)) == 0)
                        r = sched_place(at, rec.place, rec.n_place);
                if (r == 0)
                        r = stamp_deployment(at, current_deployment(at));
        } else if (r == 0 && at->job && !at->job->stop) {
                for (size_t g = 0; g < at->job->n_groups; g++)
                        json_object_set_new(at->c->queued, at->job->groups[g].name, json_integer(0));
        }
        reconcile_out_free(&rec);
        return r;
}

static int run_attempt(struct sched_ctx *c, int (*build)(struct sched_attempt *at), bool *ret_done,
                       bool *ret_progress) {
        const struct eval *ev = c->eval;
        struct sched_attempt at = {.c = c};
        int r;
        *ret_done = true;
        *ret_progress = false;
        json_decref(c->failed_tg);
        json_decref(c->queued);
        json_decref(c->class_elig);
        c->failed_tg = json_object();
        c->queued = json_object();
        c->class_elig = json_object();
        c->escaped = false;
        if (!c->failed_tg || !c->queued || !c->class_elig)
                return errorf(c->err, -ENOMEM, "scheduler: out of memory");
        at.job = state_job_get(c->snap, ev->namespace, ev->job_id);
        at.plan = plan_new(ev->id, NULL, (struct job *)at.job);
        if (!at.plan)
                return errorf(c->err, -ENOMEM, "scheduler: out of memory");
        at.plan->snapshot_index = state_latest_index(c->snap);
        at.plan->timestamp_ns = sched_now(c);
        if ((r = build(&at)) < 0)
                goto oom;
        if (plan_is_noop(at.plan)) {
                sched_attempt_free(&at);
                return 0;
        }
        struct plan_result *res = NULL;
        struct state_store *fresh = NULL;
        r = c->planner->submit_plan(c->planner_data, at.plan, &res, &fresh, c->err);
        sched_attempt_free(&at);
        if (r < 0) {
                state_destroy(fresh);
                return error_prefix(c->err, "scheduler: eval %s", ev->id);
        }
        *ret_progress = !plan_result_is_noop(res);
        if (plan_result_refresh_index(res)) {
                *ret_done = false;
                if (!fresh) {
                        plan_result_free(res);
                        return errorf(c->err, -EAGAIN, "scheduler: eval %s: missing state refresh after partial commit",
                                      ev->id);
                }
        }
        if (fresh) {
                state_destroy(c->owned_snap);
                c->owned_snap = fresh;
                c->snap = fresh;
        }
        plan_result_free(res);
        return 0;
oom:
        sched_attempt_free(&at);
        return errorf(c->err, r, "scheduler: eval %s: %s", ev->id, strerror(-r));
}

/* ---- evals ------------------------------------------------------------------------------------ */

static char *xstrdup(const char *s) {
        return s ? strdup(s) : NULL;
}

static int create_blocked(struct sched_ctx *c, const char *trigger) {
        const struct eval *ev = c->eval;
        struct eval *b = eval_new();
        if (!b)
                return -ENOMEM;
        c->gen_id(c->id_data, c->blocked_id);
        const struct job *j = state_job_get(c->snap, ev->namespace, ev->job_id);
        int64_t now = sched_now(c);
        b->id = strdup(c->blocked_id);
        b->namespace = xstrdup(ev->namespace);
        b->priority = ev->priority;
        b->type = ev->type;
        b->triggered_by = strdup(trigger);
        b->job_id = xstrdup(ev->job_id);
        b->job_modify_index = j ? j->job_modify_index : ev->job_modify_index;
        b->status = EVAL_BLOCKED;
        b->previous_eval = xstrdup(ev->id);
        b->class_eligibility = c->class_elig ? json_deep_copy(c->class_elig) : NULL;
        b->escaped_computed_class = c->escaped;
        b->snapshot_index = state_latest_index(c->snap);
        b->create_time = now;
        b->modify_time = now;
        int r = c->planner->create_eval(c->planner_data, b);
        eval_unref(b);
        if (r < 0)
                c->blocked_id[0] = '\0';
        return r;
}

int sched_finish_eval(struct sched_ctx *c, enum eval_status status, const char *description) {
        struct eval *e = eval_copy(c->eval);
        if (!e)
                return errorf(c->err, -ENOMEM, "scheduler: out of memory");
        e->status = status;
        free(e->status_description);
        e->status_description = xstrdup(description);
        json_decref(e->failed_tg_allocs);
        e->failed_tg_allocs = c->failed_tg && json_object_size(c->failed_tg) ? json_deep_copy(c->failed_tg) : NULL;
        json_decref(e->queued_allocations);
        e->queued_allocations = c->queued ? json_deep_copy(c->queued) : NULL;
        if (status == EVAL_BLOCKED) {
                json_decref(e->class_eligibility);
                e->class_eligibility = c->class_elig ? json_deep_copy(c->class_elig) : NULL;
                e->escaped_computed_class = c->escaped;
        }
        if (c->blocked_id[0]) {
                free(e->blocked_eval);
                e->blocked_eval = strdup(c->blocked_id);
        }
        e->snapshot_index = state_latest_index(c->snap);
        e->modify_time = sched_now(c);
        int r = c->planner->update_eval(c->planner_data, e);
        eval_unref(e);
        if (r < 0)
                return errorf(c->err, r, "scheduler: eval %s: update failed", c->eval->id);
        return 0;
}

int sched_run_attempts(struct sched_ctx *c, int (*build)(struct sched_attempt *at), bool block) {
        int attempts = 0;
        for (;;) {
                bool done, progress;
                int r = run_attempt(c, build, &done, &progress);
                if (r < 0)
                        return r;
                if (done)
                        break;
                attempts = progress ? 0 : attempts + 1;
                if (attempts >= c->ops->attempts) {
                        char msg[96];
                        snprintf(msg, sizeof(msg), "maximum attempts reached (%d)", c->ops->attempts);
                        if ((r = create_blocked(c, "max-plan-attempts")) < 0)
                                return errorf(c->err, r, "scheduler: eval %s: creating blocked eval failed",
                                              c->eval->id);
                        return sched_finish_eval(c, EVAL_FAILED, msg);
                }
        }
        if (block && c->failed_tg && json_object_size(c->failed_tg)) {
                if (c->eval->status == EVAL_BLOCKED)
                        return sched_finish_eval(c, EVAL_BLOCKED, NULL); /* re-block the same eval */
                int r = create_blocked(c, "queued-allocs");
                if (r < 0)
                        return errorf(c->err, r, "scheduler: eval %s: creating blocked eval failed", c->eval->id);
        }
        return sched_finish_eval(c, EVAL_COMPLETE, NULL);
}

int sched_generic_process(struct sched_ctx *c) {
        return sched_run_attempts(c, generic_build, true);
}
