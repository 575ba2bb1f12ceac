/* routes_jobs.c - /v1/jobs, /v1/job/:id and what hangs under it. */
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/error.h"
#include "common/jsonx.h"
#include "common/macros.h"
#include "common/model.h"
#include "controlplane/api/http.h"
#include "controlplane/api/routes_internal.h"
#include "controlplane/state/state.h"

static void job_register(struct route_ctx *c, const char *path_id) {
        if (!is_leader_or_fail(c))
                return;
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
        if (job_from_json(jj, &j, &err) < 0) {
                http_req_respond_text(c->req, 400, "%s", err.msg);
                return;
        }
        job_canonicalize(j);
        if (job_validate(j, &err) < 0) {
                http_req_respond_text(c->req, 400, "%s", err.msg);
                job_unref(j);
                return;
        }
        if (path_id && strcmp(path_id, j->id) != 0) {
                http_req_respond_text(c->req, 400, "Job ID does not match name in the path (\"%s\" vs \"%s\")",
                                      j->id, path_id);
                job_unref(j);
                return;
        }
        j->submit_time = clock_now_ns();
        struct eval *e = new_eval(j, "job-register", NULL);
        json_t *cmd = json_pack("{s:s,s:o,s:o}", "Type", "JobRegister", "Job", job_to_json(j), "Eval",
                                eval_to_json(e));
        json_t *reply = json_pack("{s:s,s:s}", "EvalID", e->id, "Warnings", "");
        job_unref(j);
        eval_unref(e);
        propose(c, cmd, reply, true);
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

json_t *job_summary_json(struct route_ctx *c, const struct job *j) {
        json_t *groups = json_object();
        for (size_t g = 0; g < j->n_groups; g++) {
                struct state_group_summary sum = {0};
                state_job_group_summary(ctx_state(c), j, j->groups[g].name, &sum);
                json_object_set_new(groups, j->groups[g].name,
                                    json_pack("{s:i,s:i,s:i,s:i,s:i,s:i,s:i}", "Queued", sum.queued, "Starting",
                                              sum.starting, "Running", sum.running, "Failed", sum.failed, "Complete",
                                              sum.complete, "Lost", sum.lost, "Unknown", sum.unknown));
        }
        return json_pack("{s:s,s:s,s:o,s:{s:i,s:i,s:i},s:I,s:I}", "JobID", j->id, "Namespace", j->namespace,
                         "Summary", groups, "Children", "Pending", 0, "Running", 0, "Dead", 0, "CreateIndex",
                         (json_int_t)j->create_index, "ModifyIndex", (json_int_t)j->modify_index);
}

static bool add_job_stub(void *arg, const struct job *j) {
        struct list_ctx *l = arg;
        if (l->prefix && strncmp(j->id, l->prefix, strlen(l->prefix)) != 0)
                return true;
        json_t *sum = job_summary_json(l->c, j);
        json_array_append_new(l->out, job_to_stub_json(j, sum));
        json_decref(sum);
        return true;
}

void h_jobs_list(struct route_ctx *c) {
        if (block_until_newer(c, STATE_TABLE_JOBS))
                return;
        struct list_ctx l = {.c = c, .prefix = http_req_query(c->req, "prefix"), .out = json_array()};
        state_jobs_foreach(ctx_state(c), ns_of(c), add_job_stub, &l);
        http_req_respond_json(c->req, 200, l.out, query_index(c, STATE_TABLE_JOBS));
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
        if (j)
                http_req_respond_json(c->req, 200, job_summary_json(c, j), query_index(c, STATE_TABLE_ALLOCS));
}

void h_job_allocations(struct route_ctx *c) {
        const struct job *j = path_job(c);
        if (!j || block_until_newer(c, STATE_TABLE_ALLOCS))
                return;
        struct list_ctx l = {.c = c, .out = json_array()};
        state_allocs_by_job_foreach(ctx_state(c), j->namespace, j->id, add_alloc_stub, &l);
        http_req_respond_json(c->req, 200, l.out, query_index(c, STATE_TABLE_ALLOCS));
}

void h_job_evaluations(struct route_ctx *c) {
        const struct job *j = path_job(c);
        if (!j)
                return;
        struct list_ctx l = {.c = c, .out = json_array()};
        state_evals_by_job_foreach(ctx_state(c), j->namespace, j->id, add_eval, &l);
        http_req_respond_json(c->req, 200, l.out, query_index(c, STATE_TABLE_EVALS));
}
