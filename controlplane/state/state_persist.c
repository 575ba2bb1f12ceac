/* state_persist.c - the whole store to JSON and back (Raft snapshots). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/hashmap.h"
#include "common/jsonx.h"
#include "common/macros.h"
#include "controlplane/state/state.h"
#include "controlplane/state/state_acl.h"
#include "controlplane/state/state_deploy.h"
#include "controlplane/state/state_internal.h"
#include "controlplane/state/state_scaling.h"
#include "controlplane/state/state_versions.h"

static const char *const table_names[STATE_TABLE_COUNT] = {"jobs", "nodes", "allocs", "evals"};

struct save_ctx {
        json_t *jobs, *nodes, *allocs, *evals, *alloc_jobs;
        struct hashmap *job_refs; /* "%p" of a job object -> index+1 in alloc_jobs */
        int r;
};

static bool save_job(void *arg, const struct job *j) {
        struct save_ctx *c = arg;
        if (json_array_append_new(c->jobs, job_to_json(j)) < 0)
                c->r = -ENOMEM;
        return c->r == 0;
}

static bool save_node(void *arg, const struct node *n) {
        struct save_ctx *c = arg;
        if (json_array_append_new(c->nodes, node_to_json(n)) < 0)
                c->r = -ENOMEM;
        return c->r == 0;
}

static bool save_eval(void *arg, const struct eval *e) {
        struct save_ctx *c = arg;
        if (json_array_append_new(c->evals, eval_to_json(e)) < 0)
                c->r = -ENOMEM;
        return c->r == 0;
}

/* Allocs share job versions: each distinct job object is written once. */
static bool save_alloc(void *arg, const struct alloc *a) {
        struct save_ctx *c = arg;
        json_t *o = alloc_to_json(a);
        if (!o) {
                c->r = -ENOMEM;
                return false;
        }
        json_object_del(o, "Job");
        if (a->job) {
                char key[32];
                snprintf(key, sizeof(key), "%p", (void *)a->job);
                uintptr_t ref = (uintptr_t)hashmap_get(c->job_refs, key);
                if (!ref) {
                        json_array_append_new(c->alloc_jobs, job_to_json(a->job));
                        ref = json_array_size(c->alloc_jobs);
                        if (hashmap_put(c->job_refs, key, (void *)ref, NULL) < 0)
                                c->r = -ENOMEM;
                }
                json_object_set_new(o, "JobRef", json_integer((json_int_t)ref - 1));
        }
        if (json_array_append_new(c->allocs, o) < 0)
                c->r = -ENOMEM;
        return c->r == 0;
}

static json_t *sched_config_save(const struct state_sched_config *sc) {
        return json_pack("{s:i,s:b,s:b,s:b,s:b,s:b,s:I,s:I}", "Algorithm", sc->algorithm, "PreemptSystem",
                         sc->preempt_system, "PreemptSysBatch", sc->preempt_sysbatch, "PreemptBatch", sc->preempt_batch,
                         "PreemptService", sc->preempt_service, "RejectJobRegistration", sc->reject_job_registration,
                         "CreateIndex", (json_int_t)sc->create_index, "ModifyIndex", (json_int_t)sc->modify_index);
}

/* SchedulerConfig of a snapshot into st (absent: the defaults stay). */
static int sched_config_restore(struct state_store *st, const json_t *j, struct error *err) {
        if (!j)
                return 0;
        if (!json_is_object(j))
                return errorf(err, -EINVAL, "state snapshot: SchedulerConfig must be an object");
        struct state_sched_config sc = {
            .algorithm = (int)jx_int(j, "Algorithm", 0),
            .preempt_system = json_is_true(json_object_get(j, "PreemptSystem")),
            .preempt_sysbatch = json_is_true(json_object_get(j, "PreemptSysBatch")),
            .preempt_batch = json_is_true(json_object_get(j, "PreemptBatch")),
            .preempt_service = json_is_true(json_object_get(j, "PreemptService")),
            .reject_job_registration = json_is_true(json_object_get(j, "RejectJobRegistration")),
        };
        json_int_t created = jx_int(j, "CreateIndex", 0), modified = jx_int(j, "ModifyIndex", 0);
        if (sc.algorithm < 0 || sc.algorithm >= STATE_SCHED_ALGORITHMS || created < 0 || modified < created)
                return errorf(err, -EINVAL, "state snapshot: SchedulerConfig: bad Algorithm or indexes");
        if (modified == 0)
                return 0; /* never set: the defaults */
        int r = state_set_sched_config(st, (uint64_t)created, &sc, false, 0);
        if (r == 0)
                r = state_set_sched_config(st, (uint64_t)modified, &sc, false, 0);
        return r < 0 ? errorf(err, r, "state snapshot: SchedulerConfig: %s", strerror(-r)) : 0;
}

int state_save(const struct state_store *st, json_t **ret) {
        struct save_ctx c = {.jobs = json_array(),
                             .nodes = json_array(),
                             .allocs = json_array(),
                             .evals = json_array(),
                             .alloc_jobs = json_array(),
                             .job_refs = hashmap_create(HASHMAP_OWN_KEYS)};
        json_t *idx = json_object();
        json_t *out = json_object();
        if (!c.jobs || !c.nodes || !c.allocs || !c.evals || !c.alloc_jobs || !c.job_refs || !idx || !out)
                c.r = -ENOMEM;
        if (c.r == 0)
                state_jobs_foreach(st, NULL, save_job, &c);
        if (c.r == 0)
                state_nodes_foreach(st, save_node, &c);
        if (c.r == 0)
                state_evals_foreach(st, save_eval, &c);
        if (c.r == 0)
                state_allocs_foreach(st, save_alloc, &c);
        if (c.r == 0)
                for (int t = 0; t < STATE_TABLE_COUNT; t++)
                        json_object_set_new(idx, table_names[t],
                                            json_integer((json_int_t)state_table_index(st, (enum state_table)t)));
        hashmap_destroy(c.job_refs);
        if (c.r < 0) {
                json_decref(c.jobs);
                json_decref(c.nodes);
                json_decref(c.allocs);
                json_decref(c.evals);
                json_decref(c.alloc_jobs);
                json_decref(idx);
                json_decref(out);
                return c.r;
        }
        json_object_set_new(out, "Index", json_integer((json_int_t)state_latest_index(st)));
        json_object_set_new(out, "TableIndexes", idx);
        json_t *sc = sched_config_save(state_sched_config(st));
        if (!sc) {
                json_decref(out);
                return -ENOMEM;
        }
        json_object_set_new(out, "SchedulerConfig", sc);
        json_object_set_new(out, "Jobs", c.jobs);
        json_object_set_new(out, "Nodes", c.nodes);
        json_object_set_new(out, "Evals", c.evals);
        json_object_set_new(out, "AllocJobs", c.alloc_jobs);
        json_object_set_new(out, "Allocs", c.allocs);
        int r = state_acl_save(st, out);
        if (r == 0)
                r = state_versions_save(st, out);
        if (r == 0)
                r = state_deploy_save(st, out);
        if (r == 0)
                r = state_scaling_save(st, out);
        if (r < 0) {
                json_decref(out);
                return r;
        }
        *ret = out;
        return 0;
}

int state_restore(const json_t *snap, struct state_store **ret, struct error *err) {
        if (!json_is_object(snap))
                return errorf(err, -EINVAL, "state snapshot: expected a JSON object");
        struct state_store *st = state_create();
        if (!st)
                return errorf(err, -ENOMEM, "state snapshot: out of memory");
        int r = 0;
        size_t i;
        json_t *v;
        struct job **alloc_jobs = NULL;
        size_t n_alloc_jobs = json_array_size(json_object_get(snap, "AllocJobs"));

        json_array_foreach(json_object_get(snap, "Jobs"), i, v) {
                struct job *j = NULL;
                if ((r = job_from_json(v, &j, err)) < 0) {
                        error_prefix(err, "state snapshot: Jobs[%zu]", i);
                        goto fail;
                }
                r = state_raw_put_job(st, j);
                job_unref(j);
                if (r < 0)
                        goto oom;
        }
        json_array_foreach(json_object_get(snap, "Nodes"), i, v) {
                struct node *n = NULL;
                if ((r = node_from_json(v, &n, err)) < 0) {
                        error_prefix(err, "state snapshot: Nodes[%zu]", i);
                        goto fail;
                }
                r = state_raw_put_node(st, n);
                node_unref(n);
                if (r < 0)
                        goto oom;
        }
        json_array_foreach(json_object_get(snap, "Evals"), i, v) {
                struct eval *e = NULL;
                if ((r = eval_from_json(v, &e, err)) < 0) {
                        error_prefix(err, "state snapshot: Evals[%zu]", i);
                        goto fail;
                }
                r = state_raw_put_eval(st, e);
                eval_unref(e);
                if (r < 0)
                        goto oom;
        }
        if (n_alloc_jobs) {
                alloc_jobs = calloc(n_alloc_jobs, sizeof(*alloc_jobs));
                if (!alloc_jobs)
                        goto oom;
        }
        json_array_foreach(json_object_get(snap, "AllocJobs"), i, v) {
                if ((r = job_from_json(v, &alloc_jobs[i], err)) < 0) {
                        error_prefix(err, "state snapshot: AllocJobs[%zu]", i);
                        goto fail;
                }
                /* Share the table's object when it is the same version. */
                const struct job *cur = state_job_get(st, alloc_jobs[i]->namespace, alloc_jobs[i]->id);
                if (cur && cur->version == alloc_jobs[i]->version &&
                    cur->job_modify_index == alloc_jobs[i]->job_modify_index &&
                    cur->modify_index == alloc_jobs[i]->modify_index) {
                        job_unref(alloc_jobs[i]);
                        alloc_jobs[i] = job_ref((struct job *)cur);
                }
        }
        json_array_foreach(json_object_get(snap, "Allocs"), i, v) {
                struct alloc *a = NULL;
                if ((r = alloc_from_json(v, &a, err)) < 0) {
                        error_prefix(err, "state snapshot: Allocs[%zu]", i);
                        goto fail;
                }
                json_t *ref = json_object_get(v, "JobRef");
                if (json_is_integer(ref)) {
                        json_int_t k = json_integer_value(ref);
                        if (k < 0 || (size_t)k >= n_alloc_jobs) {
                                alloc_unref(a);
                                r = errorf(err, -EINVAL, "state snapshot: Allocs[%zu].JobRef %lld out of range", i,
                                           (long long)k);
                                goto fail;
                        }
                        job_unref(a->job);
                        a->job = job_ref(alloc_jobs[k]);
                }
                r = state_raw_put_alloc(st, a);
                alloc_unref(a);
                if (r < 0)
                        goto oom;
        }
        if ((r = state_acl_restore(snap, st, err)) < 0)
                goto fail;
        if ((r = state_versions_restore(snap, st, err)) < 0)
                goto fail;
        if ((r = state_deploy_restore(snap, st, err)) < 0)
                goto fail;
        if ((r = state_scaling_restore(snap, st, err)) < 0)
                goto fail;
        uint64_t tables[STATE_TABLE_COUNT] = {0};
        json_t *idx = json_object_get(snap, "TableIndexes");
        for (int t = 0; t < STATE_TABLE_COUNT; t++)
                tables[t] = (uint64_t)jx_int(idx, table_names[t], 0);
        if ((r = sched_config_restore(st, json_object_get(snap, "SchedulerConfig"), err)) < 0)
                goto fail;
        state_raw_set_indexes(st, (uint64_t)jx_int(snap, "Index", 0), tables);
        for (size_t k = 0; k < n_alloc_jobs; k++)
                job_unref(alloc_jobs[k]);
        free(alloc_jobs);
        *ret = st;
        return 0;
oom:
        r = errorf(err, -ENOMEM, "state snapshot: out of memory");
fail:
        for (size_t k = 0; alloc_jobs && k < n_alloc_jobs; k++)
                job_unref(alloc_jobs[k]);
        free(alloc_jobs);
        state_destroy(st);
        return r;
}
