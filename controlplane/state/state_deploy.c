/* state_deploy.c - deployments and their table. See state_deploy.h. */
#include "controlplane/state/state_deploy.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/hashmap.h"
#include "common/jsonx.h"
#include "common/macros.h"
#include "common/model.h"
#include "controlplane/scheduler/update.h"
#include "controlplane/state/state.h"
#include "controlplane/state/state_internal.h"

static const char *const status_names[DEPLOY_STATUS_MAX] = {"running", "paused", "failed", "successful", "cancelled"};

const char *deploy_status_str(enum deploy_status s) {
        return s < DEPLOY_STATUS_MAX ? status_names[s] : "unknown";
}

int deploy_status_parse(const char *s, enum deploy_status *ret) {
        for (int i = 0; s && i < DEPLOY_STATUS_MAX; i++)
                if (strcmp(s, status_names[i]) == 0) {
                        *ret = (enum deploy_status)i;
                        return 0;
                }
        return -EINVAL;
}

bool deploy_active(enum deploy_status s) {
        return s == DEPLOY_RUNNING || s == DEPLOY_PAUSED;
}

/* ---- the object --------------------------------------------------------------------------- */

struct deployment *deployment_ref(struct deployment *d) {
        if (d)
                __atomic_add_fetch(&d->refcount, 1, __ATOMIC_RELAXED);
        return d;
}

struct deployment *deployment_unref(struct deployment *d) {
        if (!d || __atomic_sub_fetch(&d->refcount, 1, __ATOMIC_ACQ_REL) > 0)
                return NULL;
        free(d->id);
        free(d->namespace);
        free(d->job_id);
        free(d->status_description);
        for (size_t i = 0; i < d->n_groups; i++)
                free(d->groups[i].name);
        free(d->groups);
        free(d);
        return NULL;
}

static char *xstrdup(const char *s) {
        return s ? strdup(s) : NULL;
}

struct deployment *deployment_copy(const struct deployment *d) {
        struct deployment *c = calloc(1, sizeof(*c));
        if (!c)
                return NULL;
        *c = *d;
        c->refcount = 1;
        c->id = xstrdup(d->id);
        c->namespace = xstrdup(d->namespace);
        c->job_id = xstrdup(d->job_id);
        c->status_description = xstrdup(d->status_description);
        c->groups = d->n_groups ? calloc(d->n_groups, sizeof(*c->groups)) : NULL;
        c->n_groups = 0;
        if (d->n_groups && !c->groups)
                return deployment_unref(c);
        for (size_t i = 0; i < d->n_groups; i++) {
                c->groups[i] = d->groups[i];
                c->n_groups = i + 1;
                if (!(c->groups[i].name = xstrdup(d->groups[i].name)))
                        return deployment_unref(c);
        }
        if (!c->id || !c->job_id)
                return deployment_unref(c);
        return c;
}

const struct deploy_group *deployment_group(const struct deployment *d, const char *name) {
        for (size_t i = 0; d && name && i < d->n_groups; i++)
                if (strcmp(d->groups[i].name, name) == 0)
                        return &d->groups[i];
        return NULL;
}

/* ---- JSON ---------------------------------------------------------------------------------- */

json_t *deployment_to_json(const struct deployment *d, const struct state_store *st) {
        json_t *tgs = json_object();
        /* without st, or out of memory: counts of 0 and no canaries */
        _cleanup_free_ struct deploy_counts *counts = calloc(d->n_groups + 1, sizeof(*counts));
        _cleanup_free_ json_t **canaries = calloc(d->n_groups + 1, sizeof(*canaries));
        bool counted = st && counts && canaries && state_deploy_group_counts(st, d, counts, canaries) == 0;
        for (size_t i = 0; i < d->n_groups; i++) {
                const struct deploy_group *g = &d->groups[i];
                struct deploy_counts c = counted ? counts[i] : (struct deploy_counts){0};
                char by[48]; /* Go's time.Time, as Nomad's API client decodes it */
                model_time_format(g->require_progress_by, by, sizeof(by));
                json_object_set_new(
                    tgs, g->name,
                    json_pack("{s:b,s:b,s:b,s:i,s:i,s:i,s:i,s:i,s:I,s:s,s:o,s:I,s:I,s:b}", "AutoRevert", g->auto_revert,
                              "AutoPromote", g->auto_promote, "Promoted", g->promoted, "DesiredTotal", g->desired_total,
                              "DesiredCanaries", g->desired_canaries, "PlacedAllocs", c.placed, "HealthyAllocs",
                              c.healthy, "UnhealthyAllocs", c.unhealthy, "ProgressDeadline",
                              (json_int_t)g->progress_deadline_ns, "RequireProgressBy", by, "PlacedCanaries",
                              counted ? canaries[i] : json_array(), "MinHealthyTime", (json_int_t)g->min_healthy_ns,
                              "HealthyDeadline", (json_int_t)g->healthy_deadline_ns, "ManualHealth", g->manual_health));
        }
        return json_pack("{s:s,s:s,s:s,s:I,s:I,s:I,s:I,s:s,s:s,s:o,s:I,s:I,s:I,s:I,s:b}", "ID", d->id, "Namespace",
                         d->namespace ? d->namespace : "default", "JobID", d->job_id, "JobVersion",
                         (json_int_t)d->job_version, "JobModifyIndex", (json_int_t)d->job_modify_index,
                         "JobSpecModifyIndex", (json_int_t)d->job_modify_index, "JobCreateIndex",
                         (json_int_t)d->job_create_index, "Status", deploy_status_str(d->status), "StatusDescription",
                         d->status_description ? d->status_description : "", "TaskGroups", tgs, "CreateIndex",
                         (json_int_t)d->create_index, "ModifyIndex", (json_int_t)d->modify_index, "CreateTime",
                         (json_int_t)d->create_time, "ModifyTime", (json_int_t)d->modify_time, "IsMultiregion", 0);
}

int deployment_from_json(const json_t *obj, struct deployment **ret, struct error *err) {
        if (!json_is_object(obj))
                return errorf(err, -EINVAL, "Deployment: expected object");
        const char *id = jx_str(obj, "ID", NULL), *job = jx_str(obj, "JobID", NULL);
        if (!id || !*id || !job || !*job)
                return errorf(err, -EINVAL, "Deployment: ID and JobID are required");
        struct deployment *d = calloc(1, sizeof(*d));
        if (!d)
                return -ENOMEM;
        d->refcount = 1;
        d->id = strdup(id);
        d->job_id = strdup(job);
        d->namespace = strdup(jx_str(obj, "Namespace", "default"));
        d->job_version = (uint64_t)jx_int(obj, "JobVersion", 0);
        d->job_modify_index = (uint64_t)jx_int(obj, "JobModifyIndex", 0);
        d->job_create_index = (uint64_t)jx_int(obj, "JobCreateIndex", 0);
        if (deploy_status_parse(jx_str(obj, "Status", "running"), &d->status) < 0) {
                deployment_unref(d);
                return errorf(err, -EINVAL, "Deployment.Status: unknown status \"%s\"", jx_str(obj, "Status", ""));
        }
        d->status_description = strdup(jx_str(obj, "StatusDescription", ""));
        d->create_index = (uint64_t)jx_int(obj, "CreateIndex", 0);
        d->modify_index = (uint64_t)jx_int(obj, "ModifyIndex", 0);
        d->create_time = jx_int(obj, "CreateTime", 0);
        d->modify_time = jx_int(obj, "ModifyTime", 0);
        json_t *tgs = json_object_get(obj, "TaskGroups");
        size_t n = json_is_object(tgs) ? json_object_size(tgs) : 0;
        if (n > JOB_MAX_GROUPS) {
                deployment_unref(d);
                return errorf(err, -EINVAL, "Deployment.TaskGroups: more than %d groups", JOB_MAX_GROUPS);
        }
        d->groups = calloc(n + 1, sizeof(*d->groups));
        if (!d->groups || !d->id || !d->job_id || !d->namespace || !d->status_description) {
                deployment_unref(d);
                return -ENOMEM;
        }
        const char *name;
        json_t *g;
        json_object_foreach(tgs, name, g) {
                struct deploy_group *x = &d->groups[d->n_groups++];
                x->name = strdup(name);
                x->desired_total = (int)jx_int(g, "DesiredTotal", 0);
                x->desired_canaries = (int)jx_int(g, "DesiredCanaries", 0);
                x->auto_revert = jx_bool(g, "AutoRevert", false);
                x->auto_promote = jx_bool(g, "AutoPromote", false);
                x->promoted = jx_bool(g, "Promoted", false);
                x->progress_deadline_ns = jx_int(g, "ProgressDeadline", 0);
                json_t *by = json_object_get(g, "RequireProgressBy");
                if (by && !json_is_null(by) && model_time_parse(by, &x->require_progress_by) < 0) {
                        deployment_unref(d);
                        return errorf(err, -EINVAL,
                                      "Deployment.TaskGroups.%s.RequireProgressBy: expected an RFC 3339 time or "
                                      "nanoseconds",
                                      name);
                }
                x->min_healthy_ns = jx_int(g, "MinHealthyTime", 0);
                x->healthy_deadline_ns = jx_int(g, "HealthyDeadline", 0);
                x->manual_health = jx_bool(g, "ManualHealth", false);
                if (!x->name) {
                        deployment_unref(d);
                        return -ENOMEM;
                }
        }
        *ret = d;
        return 0;
}

/* ---- the table ------------------------------------------------------------------------------ */

/* One version of the table: shared by snapshots, copied by the writer's first change
 * after that. Ordered by CreateIndex (oldest first). */
struct deploy_tables {
        int refcount;
        struct deployment **v;
        size_t n;
        uint64_t index;
};

struct deploy_tables *state_deploy_tables_ref(struct deploy_tables *t) {
        if (t)
                __atomic_add_fetch(&t->refcount, 1, __ATOMIC_RELAXED);
        return t;
}

void state_deploy_tables_unref(struct deploy_tables *t) {
        if (!t || __atomic_sub_fetch(&t->refcount, 1, __ATOMIC_ACQ_REL) > 0)
                return;
        for (size_t i = 0; i < t->n; i++)
                deployment_unref(t->v[i]);
        free(t->v);
        free(t);
}

static const struct deploy_tables *tables(const struct state_store *st) {
        return *state_raw_deploy((struct state_store *)st);
}

/* The writer's own copy, with room for one more row. */
static int tables_mut(struct state_store *st, struct deploy_tables **ret) {
        if (state_is_snapshot(st))
                return -EROFS;
        struct deploy_tables **tp = state_raw_deploy(st);
        struct deploy_tables *t = *tp;
        if (t && __atomic_load_n(&t->refcount, __ATOMIC_ACQUIRE) == 1) {
                struct deployment **v = realloc(t->v, (t->n + 1) * sizeof(*v));
                if (!v)
                        return -ENOMEM;
                t->v = v;
                *ret = t;
                return 0;
        }
        struct deploy_tables *c = calloc(1, sizeof(*c));
        size_t n = t ? t->n : 0;
        if (!c || !(c->v = calloc(n + 1, sizeof(*c->v)))) {
                free(c);
                return -ENOMEM;
        }
        c->refcount = 1;
        for (size_t i = 0; i < n; i++)
                c->v[i] = deployment_ref(t->v[i]);
        c->n = n;
        c->index = t ? t->index : 0;
        state_deploy_tables_unref(t);
        *tp = c;
        *ret = c;
        return 0;
}

const struct deployment *state_deployment_get(const struct state_store *st, const char *id) {
        const struct deploy_tables *t = tables(st);
        for (size_t i = 0; t && id && i < t->n; i++)
                if (strcmp(t->v[i]->id, id) == 0)
                        return t->v[i];
        return NULL;
}

int state_deployment_by_prefix(const struct state_store *st, const char *prefix, const struct deployment **ret) {
        const struct deploy_tables *t = tables(st);
        const struct deployment *found = NULL;
        size_t lp = prefix ? strlen(prefix) : 0;
        for (size_t i = 0; t && lp && i < t->n; i++) {
                if (strncmp(t->v[i]->id, prefix, lp) != 0)
                        continue;
                if (strcmp(t->v[i]->id, prefix) == 0) {
                        *ret = t->v[i];
                        return 0;
                }
                if (found)
                        return -EEXIST;
                found = t->v[i];
        }
        if (!found)
                return -ENOENT;
        *ret = found;
        return 0;
}

void state_deployments_foreach(const struct state_store *st, bool (*cb)(void *arg, const struct deployment *d),
                               void *arg) {
        const struct deploy_tables *t = tables(st);
        for (size_t i = t ? t->n : 0; i-- > 0;)
                if (!cb(arg, t->v[i]))
                        return;
}

static bool same_job(const struct deployment *d, const char *ns, const char *job_id) {
        return strcmp(d->job_id, job_id) == 0 &&
               strcmp(d->namespace ? d->namespace : "default", ns ? ns : "default") == 0;
}

void state_deployments_by_job_foreach(const struct state_store *st, const char *ns, const char *job_id,
                                      bool (*cb)(void *arg, const struct deployment *d), void *arg) {
        const struct deploy_tables *t = tables(st);
        for (size_t i = t ? t->n : 0; job_id && i-- > 0;)
                if (same_job(t->v[i], ns, job_id) && !cb(arg, t->v[i]))
                        return;
}

const struct deployment *state_deployment_latest(const struct state_store *st, const char *ns, const char *job_id) {
        const struct deploy_tables *t = tables(st);
        for (size_t i = t ? t->n : 0; job_id && i-- > 0;)
                if (same_job(t->v[i], ns, job_id))
                        return t->v[i];
        return NULL;
}

uint64_t state_deploy_index(const struct state_store *st) {
        const struct deploy_tables *t = tables(st);
        return t ? t->index : 0;
}

static void count_alloc(struct deploy_counts *c, const struct alloc *a) {
        c->placed++;
        c->placed_canaries += a->deploy_canary;
        c->healthy += a->deploy_health == DEPLOY_HEALTH_HEALTHY;
        c->healthy_canaries += a->deploy_canary && a->deploy_health == DEPLOY_HEALTH_HEALTHY;
        c->unhealthy += a->deploy_health == DEPLOY_HEALTH_UNHEALTHY;
}

struct deploy_counts state_deploy_counts(const struct state_store *st, const struct deployment *d, const char *group) {
        struct deploy_counts c = {0};
        size_t n = 0;
        struct alloc *const *allocs = state_allocs_by_job(st, d->namespace, d->job_id, &n);
        for (size_t i = 0; i < n; i++) {
                const struct alloc *a = allocs[i];
                if (!a->deployment_id || strcmp(a->deployment_id, d->id) != 0 ||
                    (group && (!a->task_group || strcmp(a->task_group, group) != 0)))
                        continue;
                count_alloc(&c, a);
        }
        return c;
}

int state_deploy_group_counts(const struct state_store *st, const struct deployment *d, struct deploy_counts *ret,
                              json_t **ret_canaries) {
        memset(ret, 0, d->n_groups * sizeof(*ret));
        _cleanup_(hashmap_destroyp) struct hashmap *by_name = hashmap_create(0); /* name -> index + 1 */
        if (!by_name || hashmap_reserve(by_name, d->n_groups) < 0)
                return -ENOMEM;
        for (size_t g = 0; g < d->n_groups; g++)
                if (hashmap_put(by_name, d->groups[g].name, (void *)(uintptr_t)(g + 1), NULL) < 0)
                        return -ENOMEM;
        _cleanup_free_ json_t **ids = ret_canaries ? calloc(d->n_groups + 1, sizeof(*ids)) : NULL;
        if (ret_canaries && !ids)
                return -ENOMEM;
        int r = 0;
        for (size_t g = 0; ids && g < d->n_groups && r == 0; g++)
                r = (ids[g] = json_array()) ? 0 : -ENOMEM;
        size_t n = 0;
        struct alloc *const *allocs = state_allocs_by_job(st, d->namespace, d->job_id, &n);
        for (size_t i = 0; i < n && r == 0; i++) {
                const struct alloc *a = allocs[i];
                if (!a->deployment_id || !a->task_group || strcmp(a->deployment_id, d->id) != 0)
                        continue;
                uintptr_t g = (uintptr_t)hashmap_get(by_name, a->task_group);
                if (!g--)
                        continue;
                count_alloc(&ret[g], a);
                if (ids && a->deploy_canary && json_array_append_new(ids[g], json_string(a->id)) < 0)
                        r = -ENOMEM;
        }
        if (r < 0) {
                for (size_t g = 0; ids && g < d->n_groups; g++)
                        json_decref(ids[g]);
                memset(ret, 0, d->n_groups * sizeof(*ret));
                return r;
        }
        if (ids)
                memcpy(ret_canaries, ids, d->n_groups * sizeof(*ids));
        return 0;
}

/* ---- writes --------------------------------------------------------------------------------- */

/* Drop the job's oldest terminal deployments beyond STATE_DEPLOY_PER_JOB. */
static void trim_job(struct deploy_tables *t, const char *ns, const char *job_id) {
        size_t have = 0;
        for (size_t i = 0; i < t->n; i++)
                have += same_job(t->v[i], ns, job_id);
        for (size_t i = 0; i < t->n && have > STATE_DEPLOY_PER_JOB;) {
                if (same_job(t->v[i], ns, job_id) && !deploy_active(t->v[i]->status)) {
                        deployment_unref(t->v[i]);
                        memmove(&t->v[i], &t->v[i + 1], (t->n - i - 1) * sizeof(*t->v));
                        t->n--;
                        have--;
                        continue;
                }
                i++;
        }
}

int state_upsert_deployment(struct state_store *st, uint64_t index, struct deployment *d) {
        struct deploy_tables *t;
        int r = tables_mut(st, &t);
        if (r < 0)
                return r;
        d->modify_index = index;
        size_t i = 0;
        while (i < t->n && strcmp(t->v[i]->id, d->id) != 0)
                i++;
        if (i < t->n) {
                d->create_index = t->v[i]->create_index;
                deployment_unref(t->v[i]);
                t->v[i] = deployment_ref(d);
        } else {
                d->create_index = index;
                t->v[t->n++] = deployment_ref(d);
                trim_job(t, d->namespace, d->job_id);
        }
        t->index = index;
        state_raw_bump_latest(st, index);
        return 0;
}

int state_delete_job_deployments(struct state_store *st, uint64_t index, const char *ns, const char *job_id) {
        const struct deploy_tables *ro = tables(st);
        bool any = false;
        for (size_t i = 0; ro && i < ro->n && !any; i++)
                any = same_job(ro->v[i], ns, job_id);
        if (!any)
                return 0;
        struct deploy_tables *t;
        int r = tables_mut(st, &t);
        if (r < 0)
                return r;
        size_t k = 0;
        for (size_t i = 0; i < t->n; i++) {
                if (same_job(t->v[i], ns, job_id))
                        deployment_unref(t->v[i]);
                else
                        t->v[k++] = t->v[i];
        }
        t->n = k;
        t->index = index;
        state_raw_bump_latest(st, index);
        return 0;
}

/* An ID the same on every server: a hash of what the Raft entry holds. */
static void derived_id(const struct job *j, uint64_t index, char buf[37]) {
        uint64_t h1 = 1469598103934665603ULL, h2 = 0x9e3779b97f4a7c15ULL ^ index;
        const char *parts[] = {j->namespace ? j->namespace : "default", j->id};
        for (size_t p = 0; p < 2; p++)
                for (const unsigned char *s = (const unsigned char *)parts[p]; *s; s++) {
                        h1 = (h1 ^ *s) * 1099511628211ULL;
                        h2 = (h2 ^ *s) * 0xff51afd7ed558ccdULL;
                }
        h1 ^= j->version * 0xc4ceb9fe1a85ec53ULL + index;
        h2 ^= h1 >> 29;
        h2 *= 0xbf58476d1ce4e5b9ULL;
        snprintf(buf, 37, "%08x-%04x-%04x-%04x-%012llx", (unsigned)(h1 >> 32), (unsigned)(h1 >> 16) & 0xffff,
                 (unsigned)h1 & 0xffff, (unsigned)(h2 >> 48), (unsigned long long)(h2 & 0xffffffffffffULL));
}

static int cancel_older(struct state_store *st, uint64_t index, const struct job *j, int64_t now_ns) {
        const struct deployment *old = state_deployment_latest(st, j->namespace, j->id);
        if (!old || !deploy_active(old->status) || old->job_version == j->version)
                return 0;
        struct deployment *c = deployment_copy(old);
        if (!c)
                return -ENOMEM;
        c->status = DEPLOY_CANCELLED;
        free(c->status_description);
        c->status_description = strdup("Cancelled due to newer version of job");
        c->modify_time = now_ns;
        int r = c->status_description ? state_upsert_deployment(st, index, c) : -ENOMEM;
        deployment_unref(c);
        return r;
}

int state_deploy_for_job(struct state_store *st, uint64_t index, const struct job *j, int64_t now_ns) {
        if (!j)
                return 0;
        int r = cancel_older(st, index, j, now_ns);
        if (r < 0 || j->type != JOB_SERVICE || j->stop)
                return r;
        const struct deployment *latest = state_deployment_latest(st, j->namespace, j->id);
        if (latest && latest->job_version == j->version && latest->job_modify_index == j->job_modify_index)
                return 0;
        bool any = false;
        for (size_t g = 0; g < j->n_groups && !any; g++) {
                struct update_strategy us;
                sched_update_strategy(j, &j->groups[g], &us);
                any = us.set && (us.max_parallel > 0 || us.canary > 0);
        }
        if (!any)
                return 0;
        struct deployment *d = calloc(1, sizeof(*d));
        if (!d)
                return -ENOMEM;
        char id[37];
        derived_id(j, index, id);
        d->refcount = 1;
        d->id = strdup(id);
        d->namespace = strdup(j->namespace ? j->namespace : "default");
        d->job_id = strdup(j->id);
        d->job_version = j->version;
        d->job_modify_index = j->job_modify_index;
        d->job_create_index = j->create_index;
        d->status = DEPLOY_RUNNING;
        d->status_description = strdup("Deployment is running");
        d->create_time = d->modify_time = now_ns;
        d->groups = calloc(j->n_groups + 1, sizeof(*d->groups));
        r = d->id && d->namespace && d->job_id && d->status_description && d->groups ? 0 : -ENOMEM;
        for (size_t g = 0; r == 0 && g < j->n_groups; g++) {
                struct update_strategy us;
                sched_update_strategy(j, &j->groups[g], &us);
                if (!us.set)
                        continue;
                struct deploy_group *x = &d->groups[d->n_groups++];
                *x = (struct deploy_group){.name = strdup(j->groups[g].name),
                                           .desired_total = j->groups[g].count,
                                           /* the first version has nothing to canary */
                                           .desired_canaries = j->version > 0 ? us.canary : 0,
                                           .auto_revert = us.auto_revert,
                                           .auto_promote = us.auto_promote,
                                           .promoted = us.canary == 0 || j->version == 0,
                                           .progress_deadline_ns = us.progress_deadline_ns,
                                           .require_progress_by =
                                               us.progress_deadline_ns ? now_ns + us.progress_deadline_ns : 0,
                                           .min_healthy_ns = us.min_healthy_ns,
                                           .healthy_deadline_ns = us.healthy_deadline_ns,
                                           .manual_health = us.health_manual};
                if (!x->name)
                        r = -ENOMEM;
        }
        if (r == 0)
                r = state_upsert_deployment(st, index, d);
        deployment_unref(d);
        return r;
}

int state_deploy_set_health(struct state_store *st, uint64_t index, const char *const *ids, size_t n, bool healthy,
                            int64_t now_ns) {
        if (state_is_snapshot(st))
                return -EROFS;
        for (size_t i = 0; i < n; i++) {
                const struct alloc *old = state_alloc_get(st, ids[i]);
                if (!old)
                        continue;
                struct alloc *c = alloc_copy(old);
                if (!c)
                        return -ENOMEM;
                c->deploy_health = healthy ? DEPLOY_HEALTH_HEALTHY : DEPLOY_HEALTH_UNHEALTHY;
                c->deploy_health_time = now_ns;
                c->modify_index = index;
                int r = state_raw_put_alloc(st, c);
                alloc_unref(c);
                if (r < 0)
                        return r;
                state_raw_bump(st, STATE_TABLE_ALLOCS, index);
        }
        return 0;
}

/* ---- snapshots ------------------------------------------------------------------------------ */

int state_deploy_save(const struct state_store *st, json_t *out) {
        const struct deploy_tables *t = tables(st);
        json_t *arr = json_array();
        if (!arr)
                return -ENOMEM;
        for (size_t i = 0; t && i < t->n; i++)
                if (json_array_append_new(arr, deployment_to_json(t->v[i], NULL)) < 0) {
                        json_decref(arr);
                        return -ENOMEM;
                }
        json_object_set_new(out, "Deployments", arr);
        json_object_set_new(out, "DeploymentsIndex", json_integer((json_int_t)(t ? t->index : 0)));
        return 0;
}

int state_deploy_restore(const json_t *snap, struct state_store *st, struct error *err) {
        json_t *arr = json_object_get(snap, "Deployments");
        if (!arr || json_is_null(arr))
                return 0; /* a snapshot from before deployments */
        if (!json_is_array(arr))
                return errorf(err, -EINVAL, "snapshot: Deployments: expected array");
        size_t i;
        json_t *v;
        json_array_foreach(arr, i, v) {
                struct deployment *d = NULL;
                int r = deployment_from_json(v, &d, err);
                if (r < 0)
                        return error_prefix(err, "snapshot: Deployments[%zu]", i);
                struct deploy_tables *t;
                if ((r = tables_mut(st, &t)) < 0) {
                        deployment_unref(d);
                        return r;
                }
                t->v[t->n++] = d; /* as saved: indexes kept */
        }
        struct deploy_tables *t;
        int r = tables_mut(st, &t);
        if (r < 0)
                return r;
        t->index = (uint64_t)jx_int(snap, "DeploymentsIndex", 0);
        return 0;
}
