/* deploy_watcher.c - the deployment watcher: see deploy_watcher.h. */
#include "controlplane/leader/deploy_watcher.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/hashmap.h"
#include "common/jsonx.h"
#include "common/macros.h"
#include "common/model.h"
#include "controlplane/scheduler/update.h"
#include "controlplane/state/state.h"
#include "controlplane/state/state_deploy.h"
#include "controlplane/state/state_versions.h"

struct step {
        const struct state_store *st;
        int64_t now;
        const struct deploy_watcher_env *env;
        json_t *cmds;
};

static void gen_id(const struct deploy_watcher_env *env, char buf[ID_BUF]) {
        if (env && env->gen_id)
                env->gen_id(env->id_data, buf);
        else
                id_generate(buf);
}

static json_t *job_eval(const struct deploy_watcher_env *env, const struct job *j, const char *trigger, int64_t now) {
        char id[ID_BUF];
        gen_id(env, id);
        return json_pack("{s:s,s:s,s:i,s:s,s:s,s:s,s:s,s:I,s:I,s:I}", "ID", id, "Namespace",
                         j->namespace ? j->namespace : "default", "Priority", j->priority, "Type",
                         job_type_str(j->type), "TriggeredBy", trigger, "JobID", j->id, "Status", "pending",
                         "JobModifyIndex", (json_int_t)j->job_modify_index, "CreateTime", (json_int_t)now, "ModifyTime",
                         (json_int_t)now);
}

/* A DeploymentUpsert of c (taken), with an eval of j when j is given. */
static json_t *upsert_cmd(const struct deploy_watcher_env *env, struct deployment *c, const struct job *j, int64_t now,
                          bool stable) {
        c->modify_time = now;
        json_t *cmd = json_pack("{s:s,s:o}", "Type", "DeploymentUpsert", "Deployment", deployment_to_json(c, NULL));
        if (cmd && j)
                json_object_set_new(cmd, "Evals", json_pack("[o]", job_eval(env, j, "deployment-watcher", now)));
        if (cmd && stable)
                json_object_set_new(cmd, "StableJob",
                                    json_pack("{s:s,s:s,s:I}", "Namespace", c->namespace, "JobID", c->job_id, "Version",
                                              (json_int_t)c->job_version));
        deployment_unref(c);
        return cmd;
}

static int set_status(struct deployment *c, enum deploy_status st, const char *desc) {
        c->status = st;
        free(c->status_description);
        c->status_description = strdup(desc);
        return c->status_description ? 0 : -ENOMEM;
}

/* ---- health ----------------------------------------------------------------------------- */

/* 1 healthy, 0 unhealthy, -1 not yet. */
static int judge(const struct alloc *a, const struct deploy_group *g, int64_t now) {
        if (a->client_status == ALLOC_CLIENT_FAILED || a->client_status == ALLOC_CLIENT_LOST)
                return 0;
        if (g->manual_health)
                return -1;
        bool deadline =
            g->healthy_deadline_ns > 0 && a->create_time > 0 && now - a->create_time > g->healthy_deadline_ns;
        if (a->client_status != ALLOC_CLIENT_RUNNING || a->n_task_states == 0)
                return deadline ? 0 : -1;
        int64_t since = 0;
        for (size_t i = 0; i < a->n_task_states; i++) {
                const struct task_state *ts = &a->task_states[i];
                if (ts->state != TASK_RUNNING || ts->started_at <= 0)
                        return deadline ? 0 : -1;
                since = ts->started_at > since ? ts->started_at : since;
        }
        if (now - since >= g->min_healthy_ns)
                return 1;
        return deadline ? 0 : -1;
}

struct tally {
        int healthy, unhealthy, placed, canaries_healthy, canaries;
        bool progressed;
};

/* The deployment's allocs: new health marks into healthy/unhealthy (JSON arrays),
 * counts per group (after the marks) into t[]. *ret_outdated: allocs of an older
 * version still running. */
static void scan(const struct step *s, const struct deployment *d, const struct job *j, json_t *healthy,
                 json_t *unhealthy, struct tally *t, bool *ret_outdated) {
        size_t n = 0;
        struct alloc *const *allocs = state_allocs_by_job(s->st, d->namespace, d->job_id, &n);
        *ret_outdated = false;
        for (size_t i = 0; i < n; i++) {
                const struct alloc *a = allocs[i];
                bool mine = a->deployment_id && strcmp(a->deployment_id, d->id) == 0;
                if (!mine) {
                        if (!alloc_terminal(a) && sched_alloc_outdated(a, j))
                                *ret_outdated = true;
                        continue;
                }
                size_t gi = 0;
                while (gi < d->n_groups && (!a->task_group || strcmp(d->groups[gi].name, a->task_group) != 0))
                        gi++;
                if (gi == d->n_groups)
                        continue;
                struct tally *g = &t[gi];
                enum deploy_health h = a->deploy_health;
                if (h == DEPLOY_HEALTH_UNSET && a->desired_status == ALLOC_DESIRED_RUN) {
                        int v = judge(a, &d->groups[gi], s->now);
                        if (v == 1) {
                                json_array_append_new(healthy, json_string(a->id));
                                h = DEPLOY_HEALTH_HEALTHY;
                                g->progressed = true;
                        } else if (v == 0) {
                                json_array_append_new(unhealthy, json_string(a->id));
                                h = DEPLOY_HEALTH_UNHEALTHY;
                        }
                }
                if (a->desired_status != ALLOC_DESIRED_RUN && h != DEPLOY_HEALTH_UNHEALTHY)
                        continue; /* replaced or stopped: no longer counts */
                g->placed++;
                g->canaries += a->deploy_canary;
                if (h == DEPLOY_HEALTH_HEALTHY) {
                        g->healthy++;
                        g->canaries_healthy += a->deploy_canary;
                } else if (h == DEPLOY_HEALTH_UNHEALTHY) {
                        g->unhealthy++;
                }
        }
}

/* ---- auto-revert ------------------------------------------------------------------------- */

/* The job's newest Stable version older than d's, from the versions table (the last
 * STATE_JOB_VERSIONS_MAX versions), or NULL. */
static const struct job *stable_spec(const struct state_store *st, const struct deployment *d) {
        size_t n = 0;
        struct job *const *v = state_job_versions(st, d->namespace, d->job_id, &n);
        for (size_t i = 0; i < n; i++) /* newest first */
                if (v[i]->version < d->job_version && job_version_stable(v[i]))
                        return v[i];
        return NULL;
}

/* The JobRegister that brings spec back as the job's next version (with its eval). */
static json_t *revert_cmd(const struct deploy_watcher_env *env, const struct job *spec, int64_t now) {
        json_t *jj = job_to_json(spec);
        if (!jj)
                return NULL;
        static const char *const server_set[] = {"Status", "StatusDescription", "Version",     "SubmitTime",
                                                 "Stable", "CreateIndex",       "ModifyIndex", "JobModifyIndex"};
        for (size_t i = 0; i < sizeof(server_set) / sizeof(server_set[0]); i++)
                json_object_del(jj, server_set[i]);
        json_object_set_new(jj, "SubmitTime", json_integer(now));
        return json_pack("{s:s,s:o,s:[o]}", "Type", "JobRegister", "Job", jj, "Evals",
                         job_eval(env, spec, "job-register", now));
}

static bool any_auto_revert(const struct deployment *d) {
        for (size_t g = 0; g < d->n_groups; g++)
                if (d->groups[g].auto_revert)
                        return true;
        return false;
}

/* Mark c failed with Nomad's description: base, then with auto_revert what happens to
 * the job ("- rolling back to job version N" or "- no stable job version to auto revert
 * to"). *ret_spec: the version to register again, or NULL. */
static int fail_status(const struct state_store *st, struct deployment *c, const char *base,
                       const struct job **ret_spec) {
        *ret_spec = any_auto_revert(c) ? stable_spec(st, c) : NULL;
        char desc[160];
        if (*ret_spec)
                snprintf(desc, sizeof(desc), "%s - rolling back to job version %llu", base,
                         (unsigned long long)(*ret_spec)->version);
        else if (any_auto_revert(c))
                snprintf(desc, sizeof(desc), "%s - no stable job version to auto revert to", base);
        else
                snprintf(desc, sizeof(desc), "%s", base);
        return set_status(c, DEPLOY_FAILED, desc);
}

/* The watcher's failure of c (taken): its upsert, then the revert when there is one. */
static int fail_one(struct step *s, struct deployment *c, const struct job *j, const char *why) {
        const struct job *spec = NULL;
        int r = fail_status(s->st, c, why, &spec);
        if (r < 0) {
                deployment_unref(c);
                return r;
        }
        json_t *cmd = upsert_cmd(s->env, c, j, s->now, false);
        if (!cmd || json_array_append_new(s->cmds, cmd) < 0)
                return -ENOMEM;
        if (!spec)
                return 0;
        json_t *rev = revert_cmd(s->env, spec, s->now);
        return rev ? json_array_append_new(s->cmds, rev) : -ENOMEM;
}

/* ---- one deployment ---------------------------------------------------------------------- */

/* A running deployment's description, as Nomad's: whether canaries wait for a promotion,
 * by hand or automatic. */
static const char *running_desc(const struct deployment *d) {
        bool manual = false, automatic = false;
        for (size_t g = 0; g < d->n_groups; g++) {
                const struct deploy_group *dg = &d->groups[g];
                if (dg->desired_canaries > 0 && !dg->promoted) {
                        manual = manual || !dg->auto_promote;
                        automatic = automatic || dg->auto_promote;
                }
        }
        return manual      ? "Deployment is running but requires manual promotion"
               : automatic ? "Deployment is running pending automatic promotion"
                           : "Deployment is running";
}

static int step_one(struct step *s, const struct deployment *d) {
        const struct job *j = state_job_get(s->st, d->namespace, d->job_id);
        if (!j || j->version != d->job_version)
                return 0; /* the next registration cancels it */
        _cleanup_json_ json_t *healthy = json_array();
        _cleanup_json_ json_t *unhealthy = json_array();
        struct tally *t = calloc(d->n_groups + 1, sizeof(*t));
        if (!healthy || !unhealthy || !t) {
                free(t);
                return -ENOMEM;
        }
        bool outdated;
        scan(s, d, j, healthy, unhealthy, t, &outdated);
        int r = 0;
        if (json_array_size(healthy) || json_array_size(unhealthy)) {
                json_t *cmd = json_pack("{s:s,s:s,s:O,s:O,s:I,s:[o]}", "Type", "DeploymentAllocHealth", "DeploymentID",
                                        d->id, "Healthy", healthy, "Unhealthy", unhealthy, "Timestamp",
                                        (json_int_t)s->now, "Evals", job_eval(s->env, j, "deployment-watcher", s->now));
                r = cmd ? json_array_append_new(s->cmds, cmd) : -ENOMEM;
        }
        if (r < 0 || d->status != DEPLOY_RUNNING) {
                free(t);
                return r;
        }
        bool failed = false, done = !outdated, bump = false, promote = false;
        const char *why = NULL;
        for (size_t g = 0; g < d->n_groups; g++) {
                const struct deploy_group *dg = &d->groups[g];
                if (t[g].unhealthy) {
                        failed = true;
                        why = "Failed due to unhealthy allocations";
                }
                bool complete = (dg->promoted || t[g].canaries == 0) && t[g].healthy >= dg->desired_total;
                if (!complete && dg->require_progress_by && s->now > dg->require_progress_by && !t[g].progressed) {
                        failed = true;
                        why = why ? why : "Failed due to progress deadline";
                }
                if (!complete)
                        done = false;
                bump = bump || (t[g].progressed && dg->progress_deadline_ns);
                if (!dg->promoted && dg->auto_promote && dg->desired_canaries > 0 &&
                    t[g].canaries_healthy >= dg->desired_canaries)
                        promote = true;
        }
        bool relabel = strcmp(d->status_description ? d->status_description : "", running_desc(d)) != 0;
        struct deployment *c = NULL;
        if (failed || done || bump || promote || relabel) {
                if (!(c = deployment_copy(d))) {
                        free(t);
                        return -ENOMEM;
                }
                for (size_t g = 0; g < c->n_groups; g++) {
                        struct deploy_group *dg = &c->groups[g];
                        if (t[g].progressed && dg->progress_deadline_ns)
                                dg->require_progress_by = s->now + dg->progress_deadline_ns;
                        if (promote && !dg->promoted && dg->auto_promote &&
                            t[g].canaries_healthy >= dg->desired_canaries)
                                dg->promoted = true;
                }
        }
        free(t);
        if (!c)
                return 0;
        if (failed)
                return fail_one(s, c, j, why);
        r = done ? set_status(c, DEPLOY_SUCCESSFUL, "Deployment completed successfully")
                 : set_status(c, DEPLOY_RUNNING, running_desc(c));
        if (r < 0) {
                deployment_unref(c);
                return r;
        }
        json_t *cmd = upsert_cmd(s->env, c, promote ? j : NULL, s->now, done);
        return cmd && json_array_append_new(s->cmds, cmd) == 0 ? 0 : -ENOMEM;
}

static bool collect_active(void *arg, const struct deployment *d) {
        json_t *ids = arg;
        if (deploy_active(d->status))
                json_array_append_new(ids, json_string(d->id));
        return true;
}

int deploy_watcher_step(const struct state_store *st, int64_t now_ns, const struct deploy_watcher_env *env,
                        json_t **ret_cmds) {
        struct step s = {.st = st, .now = now_ns, .env = env, .cmds = json_array()};
        _cleanup_json_ json_t *ids = json_array();
        if (!s.cmds || !ids) {
                json_decref(s.cmds);
                return -ENOMEM;
        }
        state_deployments_foreach(st, collect_active, ids);
        size_t i;
        json_t *v;
        json_array_foreach(ids, i, v) {
                const struct deployment *d = state_deployment_get(st, json_string_value(v));
                int r = d ? step_one(&s, d) : 0;
                if (r < 0) {
                        json_decref(s.cmds);
                        return r;
                }
        }
        *ret_cmds = s.cmds;
        return 0;
}

/* ---- the API's actions -------------------------------------------------------------------- */

static const struct deployment *active_of(const struct state_store *st, const char *id, const char **why) {
        const struct deployment *d = state_deployment_get(st, id);
        if (d && !deploy_active(d->status)) {
                *why = "can't change a deployment that is not active";
                return NULL;
        }
        return d;
}

int deploy_cmd_promote(const struct state_store *st, const char *id, const char *const *groups, size_t n_groups,
                       int64_t now_ns, const struct deploy_watcher_env *env, json_t **ret_cmd, const char **ret_why) {
        *ret_why = NULL;
        const struct deployment *d = active_of(st, id, ret_why);
        if (!d)
                return *ret_why ? -EINVAL : -ENOENT;
        if (d->status == DEPLOY_PAUSED) {
                *ret_why = "can't promote a paused deployment";
                return -EINVAL;
        }
        /* The requested groups as a set, and every group's counts in one pass over the
         * job's allocations: O(allocs + groups), whatever the number of groups. */
        _cleanup_(hashmap_destroyp) struct hashmap *wanted = groups ? hashmap_create(0) : NULL;
        if (groups && !wanted)
                return -ENOMEM;
        for (size_t k = 0; groups && k < n_groups; k++)
                if (groups[k] && hashmap_put(wanted, groups[k], NULL, NULL) < 0)
                        return -ENOMEM;
        _cleanup_free_ struct deploy_counts *counts = calloc(d->n_groups ? d->n_groups : 1, sizeof(*counts));
        if (!counts || state_deploy_group_counts(st, d, counts, NULL) < 0)
                return -ENOMEM;
        struct deployment *c = deployment_copy(d);
        if (!c)
                return -ENOMEM;
        bool any = false;
        for (size_t g = 0; g < c->n_groups; g++) {
                if ((wanted && !hashmap_contains(wanted, c->groups[g].name)) || c->groups[g].desired_canaries == 0 ||
                    c->groups[g].promoted)
                        continue;
                if (counts[g].healthy_canaries < c->groups[g].desired_canaries) {
                        *ret_why = "not all canaries are healthy yet";
                        deployment_unref(c);
                        return -EINVAL;
                }
                c->groups[g].promoted = true;
                any = true;
        }
        if (!any) {
                *ret_why = "no canaries to promote";
                deployment_unref(c);
                return -EINVAL;
        }
        if (set_status(c, DEPLOY_RUNNING, running_desc(c)) < 0) {
                deployment_unref(c);
                return -ENOMEM;
        }
        const struct job *j = state_job_get(st, d->namespace, d->job_id);
        *ret_cmd = upsert_cmd(env, c, j, now_ns, false);
        return *ret_cmd ? 0 : -ENOMEM;
}

int deploy_cmd_fail(const struct state_store *st, const char *id, int64_t now_ns, const struct deploy_watcher_env *env,
                    json_t **ret_cmd, json_t **ret_revert, const char **ret_why) {
        *ret_why = NULL;
        const struct deployment *d = active_of(st, id, ret_why);
        if (!d)
                return *ret_why ? -EINVAL : -ENOENT;
        struct deployment *c = deployment_copy(d);
        if (!c)
                return -ENOMEM;
        const struct job *spec = NULL;
        if (fail_status(st, c, "Deployment marked as failed", &spec) < 0) {
                deployment_unref(c);
                return -ENOMEM;
        }
        _cleanup_json_ json_t *rev = spec ? revert_cmd(env, spec, now_ns) : NULL;
        if (spec && !rev) {
                deployment_unref(c);
                return -ENOMEM;
        }
        const struct job *j = state_job_get(st, d->namespace, d->job_id);
        json_t *cmd = upsert_cmd(env, c, j, now_ns, false);
        if (!cmd)
                return -ENOMEM;
        *ret_cmd = cmd;
        *ret_revert = TAKE_PTR(rev);
        return 0;
}

int deploy_cmd_pause(const struct state_store *st, const char *id, bool pause, int64_t now_ns,
                     const struct deploy_watcher_env *env, json_t **ret_cmd, const char **ret_why) {
        *ret_why = NULL;
        const struct deployment *d = active_of(st, id, ret_why);
        if (!d)
                return *ret_why ? -EINVAL : -ENOENT;
        struct deployment *c = deployment_copy(d);
        if (!c)
                return -ENOMEM;
        const char *desc = pause ? "Deployment is paused" : running_desc(c);
        if (set_status(c, pause ? DEPLOY_PAUSED : DEPLOY_RUNNING, desc) < 0) {
                deployment_unref(c);
                return -ENOMEM;
        }
        const struct job *j = pause ? NULL : state_job_get(st, d->namespace, d->job_id);
        *ret_cmd = upsert_cmd(env, c, j, now_ns, false);
        return *ret_cmd ? 0 : -ENOMEM;
}
