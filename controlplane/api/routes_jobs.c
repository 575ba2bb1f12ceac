/* routes_jobs.c - /v1/jobs, /v1/job/:id and what hangs under it. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/clock.h"
#include "common/cron.h"
#include "common/error.h"
#include "common/jobspec.h"
#include "common/jsonx.h"
#include "common/macros.h"
#include "common/model.h"
#include "controlplane/api/http.h"
#include "controlplane/api/job_fields.h"
#include "controlplane/api/routes_internal.h"
#include "controlplane/leader/periodic.h"
#include "controlplane/scheduler/plan.h"
#include "controlplane/scheduler/scheduler.h"
#include "controlplane/state/state.h"

/* Nomad's EnforceIndex: register only while the job's JobModifyIndex is the
 * body's JobModifyIndex (0: only a new job). Checked on the leader before the
 * proposal, as Nomad's Job.Register does. false once answered 400. */
static bool enforce_index_ok(struct route_ctx *c, const json_t *body, const struct job *j) {
        if (!json_is_true(json_object_get(body, "EnforceIndex")))
                return true;
        const json_t *want_j = json_object_get(body, "JobModifyIndex");
        if (want_j && !json_is_integer(want_j)) {
                http_req_respond_text(c->req, 400, "JobModifyIndex must be an integer");
                return false;
        }
        uint64_t want = (uint64_t)(want_j ? json_integer_value(want_j) : 0);
        const struct job *cur = state_job_get(ctx_state(c), j->namespace, j->id);
        if (!cur && want == 0)
                return true;
        if (!cur)
                http_req_respond_text(c->req, 400, "Enforcing job modify index %llu: job does not exist",
                                      (unsigned long long)want);
        else if (want == 0)
                http_req_respond_text(c->req, 400, "Enforcing job modify index 0: job already exists");
        else if (cur->job_modify_index != want)
                http_req_respond_text(c->req, 400,
                                      "Enforcing job modify index %llu: job exists with conflicting job modify index: "
                                      "%llu",
                                      (unsigned long long)want, (unsigned long long)cur->job_modify_index);
        else
                return true;
        return false;
}

/* Nomad's regionForJob: a job without a region, or in "global" (the API client's
 * default), is in this server's region; one naming another region would be
 * forwarded there, and drover has no other region (as the ?region= check in
 * routes.c). false once answered 500, before anything is validated or proposed. */
static bool job_region_ok(struct route_ctx *c, struct job *j) {
        if (!j->region || !*j->region || strcmp(j->region, "global") == 0) {
                char *own = strdup(c->s->region);
                if (!own) {
                        http_req_respond_text(c->req, 500, "out of memory");
                        return false;
                }
                free(j->region);
                j->region = own;
                return true;
        }
        if (strcmp(j->region, c->s->region) == 0)
                return true;
        http_req_respond_text(c->req, 500, "No path to region");
        return false;
}

/* The request body's {"Job": {...}}, decoded, canonicalized and validated, its ID
 * checked against path_id when given, its region this server's, EnforceIndex honoured:
 * NULL once answered (400; 500 for another region). */
static struct job *job_from_body(struct route_ctx *c, const char *path_id) {
        _cleanup_json_ json_t *body = parse_body(c);
        if (!body)
                return NULL;
        json_t *jj = json_object_get(body, "Job");
        if (!json_is_object(jj)) {
                http_req_respond_text(c->req, 400, "Job must be specified: the body is {\"Job\": {...}}");
                return NULL;
        }
        struct error err = {0};
        struct job *j = NULL;
        if (job_json_check_fields(jj, &err) < 0 || job_from_json(jj, &j, &err) < 0) {
                http_req_respond_text(c->req, 400, "%s", err.msg);
                return NULL;
        }
        if (!job_region_ok(c, j))
                return job_unref(j);
        job_canonicalize(j);
        if (job_validate(j, &err) < 0) {
                http_req_respond_text(c->req, 400, "%s", err.msg);
                return job_unref(j);
        }
        if (path_id && strcmp(path_id, j->id) != 0) {
                http_req_respond_text(c->req, 400, "Job ID does not match name in the path (\"%s\" vs \"%s\")", j->id,
                                      path_id);
                return job_unref(j);
        }
        if (!enforce_index_ok(c, body, j))
                return job_unref(j);
        return j;
}

bool job_write_allowed(struct route_ctx *c) {
        if (!is_leader_or_fail(c))
                return false;
        if (state_sched_config(ctx_state(c))->reject_job_registration) {
                http_req_respond_text(c->req, 400,
                                      "job registration, dispatch, and scale are disabled by the scheduler "
                                      "configuration");
                return false;
        }
        return true;
}

void job_register_propose(struct route_ctx *c, const struct job *j, const struct eval *e, const char *trigger,
                          json_t *reply) {
        struct eval *own = NULL;
        if (!e && !job_is_parent(j)) /* Nomad creates no eval for a periodic or parameterized parent */
                e = own = new_eval(j, trigger, NULL);
        json_t *cmd = json_pack("{s:s,s:o}", "Type", "JobRegister", "Job", job_to_json(j));
        if (cmd && e)
                json_object_set_new(cmd, "Eval", eval_to_json(e));
        if (reply && e)
                json_object_set_new(reply, "EvalID", json_string(e->id));
        eval_unref(own);
        if (!cmd || !reply) {
                json_decref(cmd);
                json_decref(reply);
                http_req_respond_text(c->req, 500, "out of memory");
                return;
        }
        propose(c, cmd, reply, true);
}

static void job_register(struct route_ctx *c, const char *path_id) {
        if (!job_write_allowed(c))
                return;
        struct job *j = job_from_body(c, path_id);
        if (!j)
                return;
        j->submit_time = clock_now_ns();
        /* a periodic/parameterized parent gets no eval; its children run (routes_job_kinds.c) */
        job_register_propose(c, j, NULL, "job-register", json_pack("{s:s,s:s}", "EvalID", "", "Warnings", ""));
        job_unref(j);
}

void h_jobs_register(struct route_ctx *c) {
        job_register(c, NULL);
}

void h_job_register(struct route_ctx *c) {
        job_register(c, c->param[0]);
}

void h_job_deregister(struct route_ctx *c) {
        if (!is_leader_or_fail(c))
                return;
        const struct job *j = state_job_get(ctx_state(c), ns_of(c), c->param[0]);
        if (!j) {
                http_req_respond_text(c->req, 404, "job not found");
                return;
        }
        struct eval *e = new_eval(j, "job-deregister", NULL);
        json_t *cmd = json_pack("{s:s,s:s,s:s,s:b,s:o}", "Type", "JobDeregister", "Namespace", j->namespace, "JobID",
                                j->id, "Purge", query_flag(c, "purge"), "Eval", eval_to_json(e));
        json_t *reply = json_pack("{s:s}", "EvalID", e->id);
        eval_unref(e);
        propose(c, cmd, reply, true);
}

json_t *job_summary_json(struct state_store *st, const struct job *j) {
        json_t *groups = json_object();
        _cleanup_free_ struct state_group_summary *sums = calloc(j->n_groups + 1, sizeof(*sums));
        if (sums)
                (void)state_job_summary(st, j, sums); /* -ENOMEM leaves counts of 0 */
        for (size_t g = 0; sums && g < j->n_groups; g++) {
                const struct state_group_summary *sum = &sums[g];
                json_object_set_new(groups, j->groups[g].name,
                                    json_pack("{s:i,s:i,s:i,s:i,s:i,s:i,s:i}", "Queued", sum->queued, "Starting",
                                              sum->starting, "Running", sum->running, "Failed", sum->failed, "Complete",
                                              sum->complete, "Lost", sum->lost, "Unknown", sum->unknown));
        }
        struct periodic_children ch = {0};
        if (job_is_parent(j)) /* O(jobs): see periodic.h */
                periodic_children(st, j->namespace, j->id, &ch);
        return json_pack("{s:s,s:s,s:o,s:{s:i,s:i,s:i},s:I,s:I}", "JobID", j->id, "Namespace", j->namespace, "Summary",
                         groups, "Children", "Pending", ch.pending, "Running", ch.running, "Dead", ch.dead, "CreateIndex",
                         (json_int_t)j->create_index, "ModifyIndex", (json_int_t)j->modify_index);
}

static bool add_job_stub(void *arg, const struct job *j) {
        struct list_ctx *l = arg;
        if (l->prefix && strncmp(j->id, l->prefix, strlen(l->prefix)) != 0)
                return true;
        json_t *sum = job_summary_json(l->st, j);
        json_array_append_new(l->out, job_to_stub_json(j, sum));
        json_decref(sum);
        return true;
}

static void build_jobs(struct list_ctx *l) {
        state_jobs_foreach(l->st, l->ns, add_job_stub, l);
}

void h_jobs_list(struct route_ctx *c) {
        if (!block_until_newer(c, STATE_TABLE_JOBS))
                list_offload(c, build_jobs, NULL, NULL, query_index(c, STATE_TABLE_JOBS));
}

void h_job_read(struct route_ctx *c) {
        if (block_until_newer(c, STATE_TABLE_JOBS))
                return;
        const struct job *j = state_job_get(ctx_state(c), ns_of(c), c->param[0]);
        if (!j)
                http_req_respond_text(c->req, 404, "job not found");
        else
                http_req_respond_json(c->req, 200, job_to_json(j), j->modify_index);
}

/* The job of the path, or NULL after a 404. */
static const struct job *path_job(struct route_ctx *c) {
        const struct job *j = state_job_get(ctx_state(c), ns_of(c), c->param[0]);
        if (!j)
                http_req_respond_text(c->req, 404, "job not found");
        return j;
}

void h_job_summary(struct route_ctx *c) {
        const struct job *j = path_job(c);
        if (j && !block_until_newer(c, STATE_TABLE_ALLOCS))
                http_req_respond_json(c->req, 200, job_summary_json(ctx_state(c), j), query_index(c, STATE_TABLE_ALLOCS));
}

/* A job's lists: l->arg is its namespace, l->key its ID (?prefix is not applied). */
static void build_job_allocs(struct list_ctx *l) {
        l->prefix = NULL;
        state_allocs_by_job_foreach(l->st, l->arg, l->key, add_alloc_stub, l);
}

static void build_job_evals(struct list_ctx *l) {
        l->prefix = NULL;
        state_evals_by_job_foreach(l->st, l->arg, l->key, add_eval, l);
}

void h_job_allocations(struct route_ctx *c) {
        const struct job *j = path_job(c);
        if (j && !block_until_newer(c, STATE_TABLE_ALLOCS))
                list_offload(c, build_job_allocs, j->id, j->namespace, query_index(c, STATE_TABLE_ALLOCS));
}

void h_job_evaluations(struct route_ctx *c) {
        const struct job *j = path_job(c);
        if (j && !block_until_newer(c, STATE_TABLE_EVALS))
                list_offload(c, build_job_evals, j->id, j->namespace, query_index(c, STATE_TABLE_EVALS));
}

/* ---- parse and validate ---------------------------------------------------------------- */

/* Variables of /v1/jobs/parse: HCL var-file text, one `name = value` a line, into
 * "name=value" strings for jobspec_opts.vars. -EINVAL on a line that is not one. */
#define PARSE_MAX_VARS 64
#define PARSE_MAX_VARS_TEXT 65536

static int split_var_lines(char *text, char **vars, size_t *ret_n, struct error *err) {
        size_t line = 0;
        size_t *n = ret_n; /* counted as they are made: the caller frees them even after an error */
        *n = 0;
        for (char *save = NULL, *l = strtok_r(text, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
                line++;
                while (*l == ' ' || *l == '\t')
                        l++;
                if (!*l || *l == '#')
                        continue;
                char *eq = strchr(l, '=');
                if (!eq || eq == l || *n == PARSE_MAX_VARS)
                        return errorf(err, -EINVAL, "Variables line %zu: expected name = value (at most %d)", line,
                                      PARSE_MAX_VARS);
                char *name_end = eq;
                while (name_end > l && (name_end[-1] == ' ' || name_end[-1] == '\t'))
                        name_end--;
                *name_end = '\0';
                char *v = eq + 1;
                while (*v == ' ' || *v == '\t')
                        v++;
                size_t vl = strlen(v);
                while (vl && (v[vl - 1] == ' ' || v[vl - 1] == '\t' || v[vl - 1] == '\r'))
                        v[--vl] = '\0';
                if (vl >= 2 && v[0] == '"' && v[vl - 1] == '"') {
                        v[vl - 1] = '\0';
                        v++;
                }
                if (asprintf(&vars[*n], "%s=%s", l, v) < 0)
                        return -ENOMEM;
                (*n)++;
        }
        return 0;
}

void h_jobs_parse(struct route_ctx *c) {
        _cleanup_json_ json_t *body = parse_body(c);
        if (!body)
                return;
        const char *hcl = jx_str(body, "JobHCL", NULL);
        if (!hcl || !*hcl) {
                http_req_respond_text(c->req, 400,
                                      "Job spec is empty: the body is {\"JobHCL\": \"job \\\"x\\\" {...}\"}");
                return;
        }
        const char *vtext = jx_str(body, "Variables", "");
        if (strlen(vtext) > PARSE_MAX_VARS_TEXT) {
                http_req_respond_text(c->req, 400, "Variables: %zu bytes, at most %d", strlen(vtext),
                                      PARSE_MAX_VARS_TEXT);
                return;
        }
        _cleanup_free_ char *vcopy = strdup(vtext);
        char *vars[PARSE_MAX_VARS] = {0};
        size_t nvars = 0;
        struct error err = {0};
        int r = vcopy ? split_var_lines(vcopy, vars, &nvars, &err) : -ENOMEM;
        json_t *job = NULL;
        if (r == 0) {
                struct jobspec_opts opts = {.vars = (const char *const *)vars, .n_vars = nvars};
                r = jobspec_parse_opts(hcl, strlen(hcl), "input.hcl", &opts, &job, &err);
        }
        for (size_t i = 0; i < nvars; i++)
                free(vars[i]);
        if (r < 0) {
                http_req_respond_text(c->req, r == -ENOMEM ? 500 : 400, "%s", err.msg[0] ? err.msg : strerror(-r));
                return;
        }
        if (jx_bool(body, "Canonicalize", false)) {
                struct job *j = NULL;
                if (job_from_json(job, &j, &err) < 0) {
                        json_decref(job);
                        http_req_respond_text(c->req, 400, "%s", err.msg);
                        return;
                }
                job_canonicalize(j);
                json_decref(job);
                job = job_to_json(j);
                job_unref(j);
        }
        http_req_respond_json(c->req, 200, job, 0);
}

/* Nomad answers 200 with the problems in the body (ValidationErrors, Error). */
void h_validate_job(struct route_ctx *c) {
        _cleanup_json_ json_t *body = parse_body(c);
        if (!body)
                return;
        json_t *jj = json_object_get(body, "Job");
        if (!json_is_object(jj)) {
                http_req_respond_text(c->req, 400, "Job must be specified: the body is {\"Job\": {...}}");
                return;
        }
        struct error err = {0};
        struct job *j = NULL;
        int r = job_json_check_fields(jj, &err);
        if (r == 0)
                r = job_from_json(jj, &j, &err);
        if (r == 0 && !job_region_ok(c, j)) {
                job_unref(j);
                return;
        }
        if (r == 0) {
                job_canonicalize(j);
                r = job_validate(j, &err);
                job_unref(j);
        }
        json_t *errs = json_array();
        if (r < 0)
                json_array_append_new(errs, json_string(err.msg));
        http_req_respond_json(c->req, 200,
                              json_pack("{s:b,s:o,s:s,s:s}", "DriverConfigValidated", r == 0, "ValidationErrors", errs,
                                        "Error", r < 0 ? err.msg : "", "Warnings", ""),
                              0);
}

/* ---- evaluate ---------------------------------------------------------------------------- */

void h_job_evaluate(struct route_ctx *c) {
        if (!is_leader_or_fail(c))
                return;
        const struct job *j = path_job(c);
        if (!j)
                return;
        if (j->stop) {
                http_req_respond_text(c->req, 400, "can't evaluate a stopped job \"%s\"", j->id);
                return;
        }
        struct eval *e = new_eval(j, "job-eval", NULL);
        e->job_modify_index = j->modify_index;
        json_t *cmd = json_pack("{s:s,s:[o]}", "Type", "EvalUpdate", "Evals", eval_to_json(e));
        json_t *reply = json_pack("{s:s}", "EvalID", e->id);
        eval_unref(e);
        propose(c, cmd, reply, true);
}

/* ---- plan: a dry run of the scheduler -------------------------------------------------- */

struct dry_run {
        struct plan_result *result; /* what the plan would commit */
        struct eval *final;         /* the eval as the scheduler left it (FailedTGAllocs) */
        bool blocked;               /* a blocked eval would be created */
        uint64_t index;
};

static int dry_submit(void *data, struct plan *plan, struct plan_result **ret_result,
                      struct state_store **ret_new_snapshot, struct error *err) {
        struct dry_run *d = data;
        struct plan_result *res = plan_result_new();
        if (!res)
                return errorf(err, -ENOMEM, "out of memory");
        for (size_t i = 0; i < plan->n_nodes; i++)
                if (plan_result_add_node(res, &plan->nodes[i]) < 0) {
                        plan_result_free(res);
                        return errorf(err, -ENOMEM, "out of memory");
                }
        plan_result_set_alloc_index(res, d->index);
        /* The scheduler frees what it is handed; keep a copy of our own. */
        struct plan_result *mine = plan_result_new();
        for (size_t i = 0; mine && i < plan->n_nodes; i++)
                plan_result_add_node(mine, &plan->nodes[i]);
        plan_result_free(d->result);
        d->result = mine;
        *ret_result = res;
        *ret_new_snapshot = NULL;
        return 0;
}

static int dry_update_eval(void *data, const struct eval *ev) {
        struct dry_run *d = data;
        eval_unref(d->final);
        d->final = eval_ref((struct eval *)ev);
        return 0;
}

static int dry_create_eval(void *data, const struct eval *ev) {
        struct dry_run *d = data;
        if (ev->status == EVAL_BLOCKED)
                d->blocked = true;
        return 0;
}

static const struct planner_ops dry_ops = {
    .submit_plan = dry_submit,
    .update_eval = dry_update_eval,
    .create_eval = dry_create_eval,
};

struct tg_updates {
        const char *group;
        int place, stop, migrate, inplace, destructive, ignore, preemptions;
};

static struct tg_updates *tg_of(struct tg_updates *u, size_t n, const char *group) {
        for (size_t i = 0; i < n; i++)
                if (group && strcmp(u[i].group, group) == 0)
                        return &u[i];
        return NULL;
}

/* The IDs in a plan that the annotations look up, as sets (jansson objects hash their
 * keys): so that counting stays linear in the plan and the job's allocations. */
struct plan_ids {
        json_t *touched;  /* placed or stopped */
        json_t *replaced; /* a placement's previous allocation */
};

static int plan_ids_build(const struct plan_result *res, struct plan_ids *ids) {
        ids->touched = json_object();
        ids->replaced = json_object();
        if (!ids->touched || !ids->replaced)
                return -ENOMEM;
        for (size_t i = 0; res && i < res->n_nodes; i++) {
                const struct plan_node *pn = &res->nodes[i];
                for (size_t k = 0; k < pn->n_place; k++) {
                        const struct alloc *a = pn->place[k];
                        if (json_object_set_new(ids->touched, a->id, json_true()) < 0)
                                return -ENOMEM;
                        if (a->previous_allocation && *a->previous_allocation &&
                            json_object_set_new(ids->replaced, a->previous_allocation, json_true()) < 0)
                                return -ENOMEM;
                }
                for (size_t k = 0; k < pn->n_stop; k++)
                        if (json_object_set_new(ids->touched, pn->stop[k].alloc->id, json_true()) < 0)
                                return -ENOMEM;
        }
        return 0;
}

/* Annotations from the plan against the live state: DesiredTGUpdates (per group: Place,
 * Stop, Migrate, InPlaceUpdate, DestructiveUpdate, Ignore, Preemptions) and
 * PreemptedAllocs, the stubs of other jobs' allocations the plan evicts (Nomad's
 * PlanAnnotations). A group's Preemptions counts the allocations its placements evict
 * (each placement's PreemptedAllocations). Place counts what the scheduler meant to
 * place, as Nomad's reconciler does: the placements found and those that failed
 * (failed: the eval's FailedTGAllocs, whose CoalescedFailures are the failures after
 * the first). NULL on out of memory. */
static json_t *annotations(struct route_ctx *c, const struct job *j, const struct plan_result *res,
                           const json_t *failed) {
        struct tg_updates *u = calloc(j->n_groups ? j->n_groups : 1, sizeof(*u));
        struct plan_ids ids = {0};
        json_t *preempted = json_array();
        if (!u || !preempted || plan_ids_build(res, &ids) < 0) {
                free(u);
                json_decref(ids.touched);
                json_decref(ids.replaced);
                json_decref(preempted);
                return NULL;
        }
        for (size_t g = 0; g < j->n_groups; g++)
                u[g].group = j->groups[g].name;
        struct state_store *st = ctx_state(c);
        for (size_t i = 0; res && i < res->n_nodes; i++) {
                const struct plan_node *pn = &res->nodes[i];
                for (size_t k = 0; k < pn->n_place; k++) {
                        const struct alloc *a = pn->place[k];
                        struct tg_updates *t = tg_of(u, j->n_groups, a->task_group);
                        if (!t || alloc_terminal(a)) /* a failed alloc recording its FollowupEvalID */
                                continue;
                        if (state_alloc_get(st, a->id))
                                t->inplace++;
                        else if (a->previous_allocation && *a->previous_allocation)
                                t->destructive++;
                        else
                                t->place++;
                        t->preemptions +=
                            (int)json_array_size(json_object_get(a->extra, "PreemptedAllocations"));
                }
                /* Stops that a destructive update replaces are counted there, not as Stop;
                 * another job's allocation evicted is a preemption. */
                for (size_t k = 0; k < pn->n_stop; k++) {
                        const struct alloc *a = pn->stop[k].alloc;
                        bool other_job = !a->job_id || strcmp(a->job_id, j->id) != 0 ||
                                         strcmp(a->namespace ? a->namespace : "default", j->namespace) != 0;
                        if (other_job) {
                                if (pn->stop[k].desired == ALLOC_DESIRED_EVICT)
                                        json_array_append_new(preempted, alloc_to_stub_json(a));
                                continue;
                        }
                        struct tg_updates *t = tg_of(u, j->n_groups, a->task_group);
                        if (!t || json_object_get(ids.replaced, a->id))
                                continue;
                        if (pn->stop[k].desired == ALLOC_DESIRED_EVICT)
                                t->migrate++;
                        else
                                t->stop++;
                }
        }
        const char *tg;
        const json_t *m;
        json_object_foreach((json_t *)failed, tg, m) {
                struct tg_updates *t = tg_of(u, j->n_groups, tg);
                if (t)
                        t->place += 1 + (int)json_integer_value(json_object_get(m, "CoalescedFailures"));
        }
        /* Ignore: live allocations of the job the plan does not touch. */
        size_t n = 0;
        struct alloc *const *allocs = state_allocs_by_job(st, j->namespace, j->id, &n);
        for (size_t i = 0; i < n; i++) {
                const struct alloc *a = allocs[i];
                if (alloc_terminal(a) || json_object_get(ids.touched, a->id))
                        continue;
                struct tg_updates *t = tg_of(u, j->n_groups, a->task_group);
                if (t)
                        t->ignore++;
        }
        json_t *dtg = json_object();
        for (size_t g = 0; dtg && g < j->n_groups; g++)
                json_object_set_new(dtg, u[g].group,
                                    json_pack("{s:i,s:i,s:i,s:i,s:i,s:i,s:i,s:i}", "Ignore", u[g].ignore, "Place",
                                              u[g].place, "Migrate", u[g].migrate, "Stop", u[g].stop, "InPlaceUpdate",
                                              u[g].inplace, "DestructiveUpdate", u[g].destructive, "Canary", 0,
                                              "Preemptions", u[g].preemptions));
        free(u);
        json_decref(ids.touched);
        json_decref(ids.replaced);
        /* Nomad answers null when nothing is preempted. */
        if (json_array_size(preempted) == 0) {
                json_decref(preempted);
                preempted = json_null();
        }
        return json_pack("{s:o,s:o}", "DesiredTGUpdates", dtg, "PreemptedAllocs", preempted);
}

/* A JSON scalar as Nomad's FieldDiff prints it: strings bare, the rest as JSON. */
static char *scalar_text(const json_t *v) {
        if (!v)
                return strdup("");
        if (json_is_string(v))
                return strdup(json_string_value(v));
        char *t = json_dumps(v, JSON_ENCODE_ANY);
        return t ? t : strdup("");
}

/* The scalar fields of two JSON objects that differ, as Nomad's FieldDiff
 * {Type: Added/Edited/Deleted, Name, Old, New}; objects and arrays are not compared. */
static void scalar_field_diffs(const json_t *a, const json_t *b, json_t *out) {
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)a, k, v) {
                json_t *w = json_object_get(b, k);
                if (json_is_object(v) || json_is_array(v) || json_is_object(w) || json_is_array(w) ||
                    (w && json_equal(v, w)))
                        continue;
                char *os = scalar_text(v), *ns = scalar_text(w);
                json_array_append_new(out, json_pack("{s:s,s:s,s:s,s:s}", "Type", w ? "Edited" : "Deleted", "Name", k,
                                                     "Old", os ? os : "", "New", ns ? ns : ""));
                free(os);
                free(ns);
        }
        json_object_foreach((json_t *)b, k, v) {
                if (json_object_get(a, k) || json_is_object(v) || json_is_array(v))
                        continue;
                char *ns = scalar_text(v);
                json_array_append_new(out, json_pack("{s:s,s:s,s:s,s:s}", "Type", "Added", "Name", k, "Old", "", "New",
                                                     ns ? ns : ""));
                free(ns);
        }
}

static const json_t *group_named(const json_t *groups, const char *name) {
        size_t i;
        json_t *g;
        json_array_foreach(groups, i, g) {
                if (strcmp(jx_str(g, "Name", ""), name) == 0)
                        return g;
        }
        return NULL;
}

/* Nomad's JobDiff: {Type: Added/Edited/None, ID, Fields, Objects, TaskGroups: [{Type,
 * Name, Fields, Objects, Tasks, Updates}]}. Fields are the scalar fields that changed,
 * of the job and of each group; a group's Updates are its DesiredTGUpdates. */
static json_t *job_diff(const struct job *old, const struct job *new_job, const json_t *dtg) {
        json_t *b = job_to_json(new_job);
        json_t *a = old ? job_to_json(old) : json_object();
        static const char *const volatile_keys[] = {"CreateIndex", "ModifyIndex",       "JobModifyIndex", "SubmitTime",
                                                    "Version",     "StatusDescription", "Stable",         "Status"};
        for (size_t i = 0; i < ARRAY_SIZE(volatile_keys); i++) {
                json_object_del(a, volatile_keys[i]);
                json_object_del(b, volatile_keys[i]);
        }
        json_t *fields = json_array(), *tgs = json_array();
        if (old)
                scalar_field_diffs(a, b, fields);
        json_t *ga = json_object_get(a, "TaskGroups"), *gb = json_object_get(b, "TaskGroups");
        size_t i;
        json_t *g;
        json_array_foreach(gb, i, g) {
                const char *name = jx_str(g, "Name", "");
                const json_t *prev = group_named(ga, name);
                const char *type = !prev ? "Added" : json_equal((json_t *)prev, g) ? "None" : "Edited";
                json_t *gf = json_array();
                if (prev)
                        scalar_field_diffs(prev, g, gf);
                json_array_append_new(tgs, json_pack("{s:s,s:s,s:o,s:[],s:[],s:O*}", "Type", type, "Name", name,
                                                     "Fields", gf, "Objects", "Tasks", "Updates",
                                                     json_object_get(dtg, name)));
        }
        json_array_foreach(ga, i, g) {
                const char *name = jx_str(g, "Name", "");
                if (!group_named(gb, name))
                        json_array_append_new(tgs, json_pack("{s:s,s:s,s:[],s:[],s:[]}", "Type", "Deleted", "Name",
                                                             name, "Fields", "Objects", "Tasks"));
        }
        const char *type = !old ? "Added" : json_equal(a, b) ? "None" : "Edited";
        json_decref(a);
        json_decref(b);
        return json_pack("{s:s,s:s,s:o,s:[],s:o}", "Type", type, "ID", new_job->id, "Fields", fields, "Objects",
                         "TaskGroups", tgs);
}

/* A plan's NextPeriodicLaunch: when an enabled periodic job would launch next (RFC 3339,
 * UTC), Go's zero time for any other job, as Nomad's Job.Plan answers. */
static json_t *next_periodic_launch(const struct job *j) {
        char buf[64] = "0001-01-01T00:00:00Z";
        struct cron_periodic p;
        struct error err = {0};
        int64_t next = 0;
        if (job_is_periodic(j) && cron_periodic_parse(json_object_get(j->extra, "Periodic"), &p, &err) == 0) {
                if (p.enabled && cron_periodic_next(&p, clock_now_ns() / 1000000000, &next) == 0) {
                        time_t secs = (time_t)next;
                        struct tm tm;
                        gmtime_r(&secs, &tm);
                        strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
                }
                cron_periodic_clear(&p);
        }
        return json_string(buf);
}

void h_job_plan(struct route_ctx *c) {
        struct job *j = job_from_body(c, c->param[0]);
        if (!j)
                return;
        struct error err = {0};
        struct state_store *live = ctx_state(c);
        const struct job *old = state_job_get(live, j->namespace, j->id);
        /* A private, writable copy of the state with the job registered in it. */
        json_t *saved = NULL;
        struct state_store *copy = NULL;
        uint64_t index = state_latest_index(live) + 1;
        int r = state_save(live, &saved);
        if (r == 0)
                r = state_restore(saved, &copy, &err);
        json_decref(saved);
        j->submit_time = clock_now_ns();
        if (old)
                j->version = old->version + 1;
        if (r == 0)
                r = state_upsert_job(copy, index, j);
        struct eval *e = new_eval(j, "job-register", NULL);
        e->job_modify_index = index;
        struct dry_run d = {.index = index};
        if (r == 0)
                r = state_upsert_evals(copy, index, &e, 1);
        {
                struct scheduler_env env = {0};
                struct sched_preemption pre;
                api_scheduler_env(c->s, &env, &pre);
                if (r == 0)
                        r = scheduler_process_env(copy, e, &dry_ops, &d, &env, &err);
        }
        json_t *ann = r < 0 ? NULL : annotations(c, j, d.result, d.final ? d.final->failed_tg_allocs : NULL);
        if (r == 0 && !ann)
                r = -ENOMEM;
        if (r < 0) {
                http_req_respond_text(c->req, 500, "plan: %s", err.msg[0] ? err.msg : strerror(-r));
        } else {
                json_t *failed =
                    d.final && d.final->failed_tg_allocs ? json_deep_copy(d.final->failed_tg_allocs) : json_object();
                json_t *diff = job_diff(old, j, json_object_get(ann, "DesiredTGUpdates"));
                json_t *out = json_pack("{s:o,s:o,s:I,s:n,s:s,s:o}", "Annotations", ann, "FailedTGAllocs", failed,
                                        "JobModifyIndex", (json_int_t)(old ? old->modify_index : 0), "CreatedEvals",
                                        "Warnings", "", "Diff", diff);
                json_object_set_new(out, "Index", json_integer((json_int_t)state_latest_index(live)));
                json_object_set_new(out, "NextPeriodicLaunch", next_periodic_launch(j));
                http_req_respond_json(c->req, 200, out, state_latest_index(live));
        }
        plan_result_free(d.result);
        eval_unref(d.final);
        eval_unref(e);
        state_destroy(copy);
        job_unref(j);
}
