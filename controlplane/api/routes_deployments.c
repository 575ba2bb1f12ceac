/* routes_deployments.c - /v1/deployments, /v1/deployment/..., /v1/job/:id/deployment(s),
 * and the leader's deployment watcher tick (controlplane/leader/deploy_watcher.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/jsonx.h"
#include "common/log.h"
#include "common/macros.h"
#include "controlplane/api/http.h"
#include "controlplane/api/routes_internal.h"
#include "controlplane/leader/deploy_watcher.h"
#include "controlplane/state/state_deploy.h"

/* The index of a deployment read: its table's, or the allocations' when newer (the
 * group counts and PlacedCanaries are computed from the allocations), never 0. A
 * blocking query (?index, ?wait) waits on the same value. */
static uint64_t deploy_reads_index(const struct state_store *st) {
        uint64_t d = state_deploy_index(st), a = state_table_index(st, STATE_TABLE_ALLOCS);
        uint64_t i = d > a ? d : a;
        return i ? i : 1;
}

static uint64_t deploy_index(const struct route_ctx *c) {
        return deploy_reads_index(ctx_state(c));
}

static bool blocked(struct route_ctx *c) {
        return block_until_newer_fn(c, deploy_reads_index);
}

static bool add_deployment(void *arg, const struct deployment *d) {
        struct list_ctx *l = arg;
        if (l->prefix && strncmp(d->id, l->prefix, strlen(l->prefix)) != 0)
                return true;
        if (l->ns && strcmp(l->ns, "*") != 0 && strcmp(d->namespace ? d->namespace : "default", l->ns) != 0)
                return true;
        json_array_append_new(l->out, deployment_to_json(d, l->st));
        return true;
}

static void build_deployments(struct list_ctx *l) {
        state_deployments_foreach(l->st, add_deployment, l);
}

void h_deployments_list(struct route_ctx *c) {
        if (!blocked(c))
                list_offload(c, build_deployments, NULL, NULL, deploy_index(c));
}

/* The deployment of the path (ID or unique prefix), or NULL after a 404/400. */
static const struct deployment *path_deployment(struct route_ctx *c) {
        const struct deployment *d = NULL;
        int r = state_deployment_by_prefix(ctx_state(c), c->param[0], &d);
        if (r == -EEXIST)
                http_req_respond_text(c->req, 400, "deployment prefix \"%s\" matches several deployments", c->param[0]);
        else if (r < 0)
                http_req_respond_text(c->req, 404, "deployment not found");
        return r == 0 ? d : NULL;
}

void h_deployment_read(struct route_ctx *c) {
        const struct deployment *d = path_deployment(c);
        if (d && blocked(c))
                return;
        if (d)
                http_req_respond_json(c->req, 200, deployment_to_json(d, ctx_state(c)), deploy_index(c));
}

struct dallocs {
        const char *deployment_id;
        struct list_ctx l; /* no prefix: every allocation of the deployment */
};

static bool add_if_deployment(void *arg, const struct alloc *a) {
        struct dallocs *x = arg;
        if (a->deployment_id && strcmp(a->deployment_id, x->deployment_id) == 0)
                add_alloc_stub(&x->l, a);
        return true;
}

void h_deployment_allocations(struct route_ctx *c) {
        const struct deployment *d = path_deployment(c);
        if (!d || block_until_newer(c, STATE_TABLE_ALLOCS))
                return;
        struct dallocs x = {.deployment_id = d->id, .l = {.st = ctx_state(c), .out = json_array()}};
        state_allocs_by_job_foreach(ctx_state(c), d->namespace, d->job_id, add_if_deployment, &x);
        http_req_respond_json(c->req, 200, x.l.out, query_index(c, STATE_TABLE_ALLOCS));
}

static const struct job *path_job(struct route_ctx *c) {
        const struct job *j = state_job_get(ctx_state(c), ns_of(c), c->param[0]);
        if (!j)
                http_req_respond_text(c->req, 404, "job not found");
        return j;
}

/* A job's deployments: l->arg is its namespace, l->key its ID (no ?prefix, and the
 * namespace is the job's). */
static void build_job_deployments(struct list_ctx *l) {
        l->prefix = l->ns = NULL;
        state_deployments_by_job_foreach(l->st, l->arg, l->key, add_deployment, l);
}

void h_job_deployments(struct route_ctx *c) {
        const struct job *j = path_job(c);
        if (j && !blocked(c))
                list_offload(c, build_job_deployments, j->id, j->namespace, deploy_index(c));
}

void h_job_deployment(struct route_ctx *c) {
        const struct job *j = path_job(c);
        if (!j || blocked(c))
                return;
        const struct deployment *d = state_deployment_latest(ctx_state(c), j->namespace, j->id);
        http_req_respond_json(c->req, 200, d ? deployment_to_json(d, ctx_state(c)) : json_null(), deploy_index(c));
}

/* ---- promote, fail, pause ------------------------------------------------------------------ */

#define PROMOTE_MAX_GROUPS 256

/* Answer a deployment action: its command proposed, or the error. */
static void act(struct route_ctx *c, int r, json_t *cmd, const char *why) {
        if (r == -ENOENT) {
                http_req_respond_text(c->req, 404, "deployment not found");
                return;
        }
        if (r == -EINVAL) {
                http_req_respond_text(c->req, 400, "%s", why ? why : "invalid request");
                return;
        }
        if (r < 0) {
                http_req_respond_text(c->req, 500, "%s", strerror(-r));
                return;
        }
        json_t *evals = json_object_get(cmd, "Evals");
        const char *eval_id = jx_str(json_array_get(evals, 0), "ID", "");
        json_t *d = json_object_get(cmd, "Deployment");
        propose(c, cmd,
                json_pack("{s:s,s:I,s:I}", "EvalID", eval_id, "EvalCreateIndex", (json_int_t)0, "DeploymentModifyIndex",
                          (json_int_t)jx_int(d, "ModifyIndex", 0)),
                false);
}

static void on_deploy_applied(void *arg, int status, uint64_t index, const char *msg);

/* Propose cmd (taken) as the watcher's own commands go: counted in flight until applied. */
static void propose_watcher_cmd(struct api *s, json_t *cmd) {
        s->deploy_inflight++;
        if (s->ops->propose(s->data, cmd, on_deploy_applied, s) < 0)
                s->deploy_inflight--;
}

/* Nomad's texts for an action on a deployment that ended (its client matches on
 * them): "can't pause terminal deployment". false once answered 400. */
static bool active_or_fail(struct route_ctx *c, const struct deployment *d, const char *verb) {
        if (deploy_active(d->status))
                return true;
        http_req_respond_text(c->req, 400, "can't %s terminal deployment", verb);
        return false;
}

void h_deployment_promote(struct route_ctx *c) {
        if (!is_leader_or_fail(c))
                return;
        const struct deployment *d = path_deployment(c);
        _cleanup_json_ json_t *body = d ? parse_body(c) : NULL;
        if (!body)
                return;
        json_t *groups = json_object_get(body, "Groups");
        bool all = jx_bool(body, "All", false);
        size_t n = json_is_array(groups) ? json_array_size(groups) : 0;
        if (!all && n == 0) {
                http_req_respond_text(c->req, 400, "promote: give All = true or Groups");
                return;
        }
        if (n > PROMOTE_MAX_GROUPS) {
                http_req_respond_text(c->req, 400, "promote: more than %d groups", PROMOTE_MAX_GROUPS);
                return;
        }
        const char *names[PROMOTE_MAX_GROUPS];
        for (size_t i = 0; i < n; i++)
                if (!(names[i] = json_string_value(json_array_get(groups, i)))) {
                        http_req_respond_text(c->req, 400, "promote: Groups[%zu] must be a string", i);
                        return;
                }
        if (!active_or_fail(c, d, "promote"))
                return;
        json_t *cmd = NULL;
        const char *why = NULL;
        int r = deploy_cmd_promote(ctx_state(c), d->id, all ? NULL : names, n, clock_now_ns(), NULL, &cmd, &why);
        act(c, r, cmd, why);
}

void h_deployment_fail(struct route_ctx *c) {
        if (!is_leader_or_fail(c))
                return;
        const struct deployment *d = path_deployment(c);
        if (!d || !active_or_fail(c, d, "fail"))
                return;
        json_t *cmd = NULL, *revert = NULL;
        const char *why = NULL;
        int r = deploy_cmd_fail(ctx_state(c), d->id, clock_now_ns(), NULL, &cmd, &revert, &why);
        act(c, r, cmd, why);
        if (revert) /* after the failure, in the same Raft order: the job's stable version again */
                propose_watcher_cmd(c->s, revert);
}

void h_deployment_pause(struct route_ctx *c) {
        if (!is_leader_or_fail(c))
                return;
        const struct deployment *d = path_deployment(c);
        _cleanup_json_ json_t *body = d ? parse_body(c) : NULL;
        if (!body)
                return;
        json_t *p = json_object_get(body, "Pause");
        if (!json_is_boolean(p)) {
                http_req_respond_text(c->req, 400, "pause: Pause must be true or false");
                return;
        }
        if (!active_or_fail(c, d, json_is_true(p) ? "pause" : "resume"))
                return;
        json_t *cmd = NULL;
        const char *why = NULL;
        int r = deploy_cmd_pause(ctx_state(c), d->id, json_is_true(p), clock_now_ns(), NULL, &cmd, &why);
        act(c, r, cmd, why);
}

/* ---- the watcher's clock ------------------------------------------------------------------- */

#define DEPLOY_TICK_NS (250 * NS_PER_MS)

static void on_deploy_applied(void *arg, int status, uint64_t index, const char *msg) {
        struct api *s = arg;
        if (status < 0)
                log_warn("deployment watcher: command rejected at index %llu: %s", (unsigned long long)index,
                         msg ? msg : "unknown error");
        s->deploy_inflight--;
}

void api_deploy_tick(struct api *s) {
        if (s->deploy_inflight > 0 || !s->ops->is_leader(s->data))
                return;
        int64_t now = clock_monotonic_ns();
        if (now - s->deploy_last_ns < DEPLOY_TICK_NS)
                return;
        s->deploy_last_ns = now;
        json_t *cmds = NULL;
        if (deploy_watcher_step(*s->state, clock_now_ns(), NULL, &cmds) < 0)
                return;
        size_t i;
        json_t *cmd;
        json_array_foreach(cmds, i, cmd) propose_watcher_cmd(s, json_incref(cmd));
        json_decref(cmds);
}
