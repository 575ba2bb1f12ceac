/* state_write.c - the write API of the state store (the FSM's single writer). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/hashmap.h"
#include "common/macros.h"
#include "controlplane/state/state.h"
#include "controlplane/state/state_deploy.h"
#include "controlplane/state/state_internal.h"
#include "controlplane/state/state_versions.h"

#define CHECK_WRITABLE(st)                  \
        do {                                \
                if (state_is_snapshot(st))  \
                        return -EROFS;      \
        } while (0)

/* ---- job status (Nomad's getJobStatus) ----------------------------------------------- */

static bool job_runs_forever(const struct job *j) {
        /* A dispatched child keeps its ParameterizedJob block but runs once. */
        return j->type == JOB_SYSTEM || job_is_parent(j);
}

struct eval_scan {
        bool has_eval, live;
};

static bool scan_eval(void *arg, const struct eval *ev) {
        struct eval_scan *p = arg;
        p->has_eval = true;
        if (ev->status == EVAL_PENDING || ev->status == EVAL_BLOCKED) {
                p->live = true;
                return false;
        }
        return true;
}

static enum job_status compute_job_status(const struct state_store *st, const struct job *j) {
        if (job_runs_forever(j))
                return j->stop ? JOB_STATUS_DEAD : JOB_STATUS_RUNNING;
        if (state_job_live_allocs(st, j->namespace, j->id) > 0) /* no walk of the job's allocs */
                return JOB_STATUS_RUNNING;
        size_t n;
        state_allocs_by_job(st, j->namespace, j->id, &n);
        bool has_alloc = n > 0;
        struct eval_scan e = {0};
        state_evals_by_job_foreach(st, j->namespace, j->id, scan_eval, &e);
        if (e.live)
                return JOB_STATUS_PENDING;
        if (j->stop || e.has_eval || has_alloc)
                return JOB_STATUS_DEAD;
        return JOB_STATUS_PENDING;
}

/* Recompute the status of job ns/id; write a new version when it changed. */
static int refresh_job_status(struct state_store *st, uint64_t index, const char *ns, const char *id) {
        const struct job *j = state_job_get(st, ns, id);
        if (!j)
                return 0;
        enum job_status s = compute_job_status(st, j);
        if (s == j->status)
                return 0;
        struct job *c = job_copy(j);
        if (!c)
                return -ENOMEM;
        c->status = s;
        c->modify_index = index;
        int r = state_raw_put_job(st, c);
        job_unref(c);
        if (r == 0)
                state_raw_bump(st, STATE_TABLE_JOBS, index);
        return r;
}

/* ---- jobs -------------------------------------------------------------------------------- */

static json_t *job_spec_json(const struct job *j) {
        json_t *o = job_to_json(j);
        if (!o)
                return NULL;
        static const char *const server_set[] = {"Status", "StatusDescription", "Version", "SubmitTime",
                                                 "CreateIndex", "ModifyIndex", "JobModifyIndex", "Stable",
                                                 "VersionTag", "JobSummary"};
        for (size_t i = 0; i < ARRAY_SIZE(server_set); i++)
                json_object_del(o, server_set[i]);
        return o;
}

static bool job_spec_changed(const struct job *a, const struct job *b) {
        _cleanup_json_ json_t *ja = job_spec_json(a);
        _cleanup_json_ json_t *jb = job_spec_json(b);
        return !ja || !jb || !json_equal(ja, jb);
}

/* j registers old's spec again: the same version, which keeps the Stable flag a
 * deployment gave it (Nomad writes nothing for an unchanged job; without the flag,
 * auto_revert would pass this version over). 0 or -ENOMEM. */
static int keep_stable(struct job *j, const struct job *old) {
        if (!job_version_stable(old) || job_version_stable(j))
                return 0;
        json_t *extra = j->extra ? json_deep_copy(j->extra) : json_object(); /* j's may be shared with a copy's */
        if (!extra || json_object_set_new(extra, "Stable", json_true()) < 0) {
                json_decref(extra);
                return -ENOMEM;
        }
        json_decref(j->extra);
        j->extra = extra;
        return 0;
}

int state_upsert_job(struct state_store *st, uint64_t index, struct job *j) {
        CHECK_WRITABLE(st);
        if (!j || !j->id)
                return -EINVAL;
        const struct job *old = state_job_get(st, j->namespace, j->id);
        if (old) {
                j->create_index = old->create_index;
                if (job_spec_changed(old, j)) {
                        j->version = old->version + 1;
                        j->job_modify_index = index;
                } else {
                        j->version = old->version;
                        j->job_modify_index = old->job_modify_index;
                        if (keep_stable(j, old) < 0)
                                return -ENOMEM;
                }
        } else {
                j->create_index = index;
                j->job_modify_index = index;
                j->version = 0;
        }
        j->modify_index = index;
        int r = state_raw_put_job(st, j);
        if (r < 0)
                return r;
        state_raw_bump(st, STATE_TABLE_JOBS, index);
        /* The status depends on allocs and evals now in the store. */
        const struct job *in = state_job_get(st, j->namespace, j->id);
        enum job_status s = compute_job_status(st, in);
        if (s != in->status) {
                if (__atomic_load_n(&j->refcount, __ATOMIC_ACQUIRE) == 2)
                        j->status = s; /* only the caller and the table hold it: not published yet */
                else if ((r = refresh_job_status(st, index, j->namespace, j->id)) < 0)
                        return r;
        }
        return state_versions_record(st, state_job_get(st, j->namespace, j->id));
}

int state_deregister_job(struct state_store *st, uint64_t index, const char *ns, const char *id, bool purge) {
        CHECK_WRITABLE(st);
        if (purge)
                return state_delete_job(st, index, ns, id);
        const struct job *old = state_job_get(st, ns, id);
        if (!old)
                return -ENOENT;
        if (old->stop)
                return 0;
        struct job *c = job_copy(old);
        if (!c)
                return -ENOMEM;
        c->stop = true;
        int r = state_upsert_job(st, index, c);
        job_unref(c);
        return r;
}

int state_delete_job(struct state_store *st, uint64_t index, const char *ns, const char *id) {
        CHECK_WRITABLE(st);
        int r = state_raw_del_job(st, ns, id);
        if (r == 0) {
                state_raw_bump(st, STATE_TABLE_JOBS, index);
                r = state_versions_drop(st, ns, id);
        }
        if (r == 0)
                r = state_delete_job_deployments(st, index, ns, id);
        return r;
}

/* ---- nodes ------------------------------------------------------------------------------- */

int state_upsert_node(struct state_store *st, uint64_t index, struct node *n) {
        CHECK_WRITABLE(st);
        if (!n || !n->id)
                return -EINVAL;
        const struct node *old = state_node_get(st, n->id);
        if (old) {
                n->create_index = old->create_index;
                n->eligible = old->eligible;
                n->drain = old->drain;
        } else {
                n->create_index = index;
        }
        n->modify_index = index;
        if (!n->computed_class)
                node_compute_class(n);
        int r = state_raw_put_node(st, n);
        if (r == 0)
                state_raw_bump(st, STATE_TABLE_NODES, index);
        return r;
}

static int node_edit(struct state_store *st, uint64_t index, const char *id, struct node **ret) {
        const struct node *old = state_node_get(st, id);
        if (!old)
                return -ENOENT;
        struct node *c = node_copy(old);
        if (!c)
                return -ENOMEM;
        c->modify_index = index;
        *ret = c;
        return 0;
}

static int node_commit(struct state_store *st, uint64_t index, struct node *c) {
        int r = state_raw_put_node(st, c);
        node_unref(c);
        if (r == 0)
                state_raw_bump(st, STATE_TABLE_NODES, index);
        return r;
}

int state_update_node_status(struct state_store *st, uint64_t index, const char *id, enum node_status status,
                             int64_t updated_at) {
        CHECK_WRITABLE(st);
        struct node *c;
        int r = node_edit(st, index, id, &c);
        if (r < 0)
                return r;
        c->status = status;
        c->status_updated_at = updated_at;
        return node_commit(st, index, c);
}

int state_update_node_eligibility(struct state_store *st, uint64_t index, const char *id, bool eligible) {
        CHECK_WRITABLE(st);
        struct node *c;
        int r = node_edit(st, index, id, &c);
        if (r < 0)
                return r;
        c->eligible = eligible;
        return node_commit(st, index, c);
}

int state_update_node_drain(struct state_store *st, uint64_t index, const char *id, const json_t *strategy,
                            const json_t *last_drain, bool eligible) {
        CHECK_WRITABLE(st);
        struct node *c;
        int r = node_edit(st, index, id, &c);
        if (r < 0)
                return r;
        c->drain = strategy != NULL;
        c->eligible = eligible;
        if (!c->extra)
                c->extra = json_object();
        if (!c->extra) {
                node_unref(c);
                return -ENOMEM;
        }
        /* A node copy's extra is its own (node_copy goes through JSON). */
        if (strategy)
                json_object_set_new(c->extra, "DrainStrategy", json_deep_copy(strategy));
        else
                json_object_del(c->extra, "DrainStrategy");
        if (last_drain)
                json_object_set_new(c->extra, "LastDrain", json_deep_copy(last_drain));
        return node_commit(st, index, c);
}

int state_delete_node(struct state_store *st, uint64_t index, const char *id) {
        CHECK_WRITABLE(st);
        int r = state_raw_del_node(st, id);
        if (r == 0)
                state_raw_bump(st, STATE_TABLE_NODES, index);
        return r;
}

/* ---- allocs ------------------------------------------------------------------------------ */

static char *xstrdup(const char *s) {
        return s ? strdup(s) : NULL;
}

static int put_alloc_version(struct state_store *st, uint64_t index, struct alloc *c) {
        int r = state_raw_put_alloc(st, c);
        if (r == 0)
                state_raw_bump(st, STATE_TABLE_ALLOCS, index);
        return r;
}

/* Store a changed copy of an allocation (takes the caller's reference) and
 * recompute its job's status. */
static int put_alloc_and_refresh(struct state_store *st, uint64_t index, struct alloc *c) {
        int r = put_alloc_version(st, index, c);
        if (r == 0)
                r = refresh_job_status(st, index, c->namespace, c->job_id);
        alloc_unref(c);
        return r;
}

int state_mark_node_allocs_lost(struct state_store *st, uint64_t index, const char *node_id, int64_t now_ns) {
        CHECK_WRITABLE(st);
        size_t n;
        struct alloc *const *list = state_allocs_by_node(st, node_id, &n);
        /* Collect first: writing swaps entries of the list we walk. */
        _cleanup_free_ struct alloc **live = n ? calloc(n, sizeof(*live)) : NULL;
        size_t k = 0;
        if (n && !live)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++)
                if (!alloc_terminal(list[i]))
                        live[k++] = list[i];
        for (size_t i = 0; i < k; i++) {
                struct alloc *c = alloc_copy(live[i]);
                if (!c)
                        return -ENOMEM;
                c->client_status = ALLOC_CLIENT_LOST;
                free(c->client_description);
                c->client_description = strdup("alloc is lost since its node is down");
                c->modify_index = index;
                c->alloc_modify_index = index;
                c->modify_time = now_ns;
                int r = put_alloc_and_refresh(st, index, c);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* The client's side of an existing alloc onto its new version (Nomad's upsertAllocsImpl). */
static int keep_client_fields(struct alloc *a, const struct alloc *old) {
        a->client_status = old->client_status;
        if (alloc_set_str(a, &a->client_description, old->client_description) < 0) /* a may hold arena strings */
                return -ENOMEM;
        task_states_free(a->task_states, a->n_task_states);
        a->task_states = NULL;
        a->n_task_states = 0;
        if (old->n_task_states) {
                a->task_states = calloc(old->n_task_states, sizeof(*a->task_states));
                if (!a->task_states)
                        return -ENOMEM;
                for (size_t i = 0; i < old->n_task_states; i++) {
                        a->n_task_states = i + 1;
                        if (task_state_copy(&a->task_states[i], &old->task_states[i]) < 0)
                                return -ENOMEM;
                }
        }
        return 0;
}

/* Nomad's Allocation.PreemptedByAllocation: each alloc that a new alloc of the plan lists
 * in its PreemptedAllocations (the plan stopped it, "evict", just before) records the
 * new alloc's ID, as a new version in its unmodelled fields, which snapshots and the API
 * carry. A victim that is absent or not evicted is left alone. 0 or -ENOMEM. */
static int mark_preempted(struct state_store *st, uint64_t index, const struct alloc *by) {
        const json_t *ids = by->extra ? json_object_get(by->extra, "PreemptedAllocations") : NULL;
        size_t i;
        const json_t *v;
        json_array_foreach(ids, i, v) {
                const struct alloc *old = json_is_string(v) ? state_alloc_get(st, json_string_value(v)) : NULL;
                if (!old || old->desired_status != ALLOC_DESIRED_EVICT)
                        continue;
                const char *cur = json_string_value(json_object_get(old->extra, "PreemptedByAllocation"));
                if (cur && strcmp(cur, by->id) == 0)
                        continue;
                struct alloc *c = alloc_copy_set_extra(old, "PreemptedByAllocation", json_string(by->id));
                if (!c)
                        return -ENOMEM;
                c->modify_index = index;
                c->alloc_modify_index = index;
                int r = put_alloc_version(st, index, c);
                alloc_unref(c);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* Nomad's Allocation.NextAllocation: a new alloc that replaces another (its
 * PreviousAllocation) is recorded in the replaced alloc, as a new version at index.
 * An absent predecessor is left alone. 0 or -ENOMEM. */
static int mark_next(struct state_store *st, uint64_t index, const struct alloc *next) {
        const struct alloc *old = state_alloc_get(st, next->previous_allocation);
        if (!old || (old->next_allocation && strcmp(old->next_allocation, next->id) == 0))
                return 0;
        struct alloc *c = alloc_copy(old);
        if (!c)
                return -ENOMEM;
        int r = alloc_set_str(c, &c->next_allocation, next->id);
        if (r == 0) {
                c->modify_index = index;
                c->alloc_modify_index = index;
                r = put_alloc_version(st, index, c);
        }
        alloc_unref(c);
        return r;
}

int state_upsert_allocs(struct state_store *st, uint64_t index, struct alloc *const *allocs, size_t n) {
        CHECK_WRITABLE(st);
        for (size_t i = 0; i < n; i++) {
                struct alloc *a = allocs[i];
                if (!a || !a->id)
                        return -EINVAL;
                struct state_alloc_write w;
                int r = state_raw_put_alloc_begin(st, a->id, &w);
                if (r < 0)
                        return r;
                const struct alloc *old = w.old;
                if (old) { /* an in-place update: what the client reported since the plan stays */
                        a->create_index = old->create_index;
                        if (!a->create_time)
                                a->create_time = old->create_time;
                        /* and the replacement recorded meanwhile (mark_next) */
                        if (!a->next_allocation && old->next_allocation &&
                            (r = alloc_set_str(a, &a->next_allocation, old->next_allocation)) < 0) {
                                state_raw_put_alloc_end(st, NULL, &w);
                                return r;
                        }
                        if ((r = keep_client_fields(a, old)) < 0) {
                                state_raw_put_alloc_end(st, NULL, &w);
                                return r;
                        }
                } else {
                        a->create_index = index;
                }
                a->modify_index = index;
                a->alloc_modify_index = index;
                if ((r = state_raw_put_alloc_end(st, a, &w)) < 0)
                        return r;
                state_raw_bump(st, STATE_TABLE_ALLOCS, index);
                if (!old && a->extra && (r = mark_preempted(st, index, a)) < 0)
                        return r;
                if (!old && a->previous_allocation && *a->previous_allocation && (r = mark_next(st, index, a)) < 0)
                        return r;
        }
        /* Job statuses once per distinct job (allocs of a plan share one: the hash set
         * is only for allocs whose job differs from the one before). */
        struct hashmap *seen = n > 1 ? hashmap_create(HASHMAP_OWN_KEYS) : NULL;
        if (n > 1 && !seen)
                return -ENOMEM;
        int ret = 0;
        const struct alloc *prev = NULL;
        for (size_t i = 0; i < n && ret == 0; i++) {
                if (!allocs[i]->job_id)
                        continue;
                const char *ns = allocs[i]->namespace ? allocs[i]->namespace : "default";
                if (prev && strcmp(prev->job_id, allocs[i]->job_id) == 0 &&
                    strcmp(prev->namespace ? prev->namespace : "default", ns) == 0)
                        continue; /* the job of the alloc before: refreshed already */
                prev = allocs[i];
                if (seen) {
                        char *key = NULL;
                        if (asprintf(&key, "%s\x1f%s", ns, allocs[i]->job_id) < 0) {
                                ret = -ENOMEM;
                                break;
                        }
                        int r = hashmap_contains(seen, key) ? 1 : hashmap_put(seen, key, NULL, NULL);
                        free(key);
                        if (r != 0) {
                                ret = r < 0 ? r : 0;
                                continue;
                        }
                }
                ret = refresh_job_status(st, index, allocs[i]->namespace, allocs[i]->job_id);
        }
        hashmap_destroy(seen);
        return ret;
}

int state_stop_alloc(struct state_store *st, uint64_t index, const char *id, enum alloc_desired desired,
                     const char *description, int client, int64_t now_ns) {
        CHECK_WRITABLE(st);
        const struct alloc *old = state_alloc_get(st, id);
        if (!old)
                return -ENOENT;
        struct alloc *c = alloc_copy(old);
        if (!c)
                return -ENOMEM;
        c->desired_status = desired;
        free(c->desired_description);
        c->desired_description = xstrdup(description);
        if (client >= 0 && client < ALLOC_CLIENT_MAX)
                c->client_status = (enum alloc_client)client;
        c->modify_index = index;
        c->alloc_modify_index = index;
        if (now_ns)
                c->modify_time = now_ns;
        return put_alloc_and_refresh(st, index, c);
}

/* Free the fields of one task state (the model frees arrays only). */
static void task_state_clear(struct task_state *t) {
        struct task_state *one = malloc(sizeof(*one));
        if (!one)
                return; /* leaks one task state's strings rather than crash */
        *one = *t;
        task_states_free(one, 1);
        memset(t, 0, sizeof(*t));
}

static int merge_task_states(struct alloc *c, const struct task_state *ts, size_t n_ts) {
        for (size_t i = 0; i < n_ts; i++) {
                struct task_state fresh = {0};
                int r = task_state_copy(&fresh, &ts[i]);
                if (r < 0)
                        return r;
                struct task_state *dst = NULL;
                for (size_t k = 0; k < c->n_task_states && !dst; k++)
                        if (ts[i].name && c->task_states[k].name && strcmp(c->task_states[k].name, ts[i].name) == 0)
                                dst = &c->task_states[k];
                if (dst) {
                        task_state_clear(dst);
                } else {
                        struct task_state *v = realloc(c->task_states, (c->n_task_states + 1) * sizeof(*v));
                        if (!v) {
                                task_state_clear(&fresh);
                                return -ENOMEM;
                        }
                        c->task_states = v;
                        dst = &v[c->n_task_states++];
                }
                *dst = fresh;
        }
        return 0;
}

int state_update_alloc_client(struct state_store *st, uint64_t index, const char *id, enum alloc_client status,
                              const char *description, const struct task_state *ts, size_t n_ts, int64_t now_ns) {
        CHECK_WRITABLE(st);
        const struct alloc *old = state_alloc_get(st, id);
        if (!old)
                return -ENOENT;
        struct alloc *c = alloc_copy(old);
        if (!c)
                return -ENOMEM;
        /* An allocation given up as lost stays lost when its node comes back and
         * reports how its tasks ended (the agent kills what still ran): the
         * servers replaced it, and the summary should say why. */
        bool keep_lost = old->client_status == ALLOC_CLIENT_LOST && alloc_client_terminal(status);
        if (!keep_lost) {
                c->client_status = status;
                if (description) {
                        free(c->client_description);
                        c->client_description = strdup(description);
                }
        }
        int r = merge_task_states(c, ts, n_ts);
        if (r < 0) {
                alloc_unref(c);
                return r;
        }
        c->modify_index = index;
        if (now_ns)
                c->modify_time = now_ns;
        return put_alloc_and_refresh(st, index, c);
}

int state_delete_alloc(struct state_store *st, uint64_t index, const char *id) {
        CHECK_WRITABLE(st);
        int r = state_raw_del_alloc(st, id);
        if (r == 0)
                state_raw_bump(st, STATE_TABLE_ALLOCS, index);
        return r;
}

/* ---- evals ------------------------------------------------------------------------------- */

struct blocked_scan {
        struct eval *v[16];
        size_t k;
        const char *except;
};

static bool scan_blocked(void *arg, const struct eval *e) {
        struct blocked_scan *p = arg;
        if (e->status == EVAL_BLOCKED && strcmp(e->id, p->except) != 0 && p->k < ARRAY_SIZE(p->v))
                p->v[p->k++] = (struct eval *)e;
        return true;
}

/* Nomad: a job's blocked evals are cancelled when one of its evals completes cleanly. */
static int cancel_blocked(struct state_store *st, uint64_t index, const struct eval *done) {
        struct blocked_scan c = {.except = done->id};
        state_evals_by_job_foreach(st, done->namespace, done->job_id, scan_blocked, &c);
        for (size_t i = 0; i < c.k; i++) {
                struct eval *e = eval_copy(c.v[i]);
                if (!e)
                        return -ENOMEM;
                e->status = EVAL_CANCELED;
                free(e->status_description);
                if (asprintf(&e->status_description, "evaluation \"%s\" successful", done->id) < 0)
                        e->status_description = NULL;
                e->modify_index = index;
                int r = state_raw_put_eval(st, e);
                eval_unref(e);
                if (r < 0)
                        return r;
        }
        return 0;
}

int state_upsert_evals(struct state_store *st, uint64_t index, struct eval *const *evals, size_t n) {
        CHECK_WRITABLE(st);
        for (size_t i = 0; i < n; i++) {
                struct eval *e = evals[i];
                if (!e || !e->id)
                        return -EINVAL;
                const struct eval *old = state_eval_get(st, e->id);
                e->create_index = old ? old->create_index : index;
                e->modify_index = index;
                int r = state_raw_put_eval(st, e);
                if (r < 0)
                        return r;
                state_raw_bump(st, STATE_TABLE_EVALS, index);
                if (e->job_id && e->status == EVAL_COMPLETE &&
                    (!e->failed_tg_allocs || json_object_size(e->failed_tg_allocs) == 0)) {
                        r = cancel_blocked(st, index, e);
                        if (r < 0)
                                return r;
                }
                if (e->job_id) {
                        r = refresh_job_status(st, index, e->namespace, e->job_id);
                        if (r < 0)
                                return r;
                }
        }
        return 0;
}

int state_delete_eval(struct state_store *st, uint64_t index, const char *id) {
        CHECK_WRITABLE(st);
        int r = state_raw_del_eval(st, id);
        if (r == 0)
                state_raw_bump(st, STATE_TABLE_EVALS, index);
        return r;
}
