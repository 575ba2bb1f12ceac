/* routes_allocs_evals.c - /v1/allocations, /v1/allocation/:id, /v1/evaluations,
 * /v1/evaluation/:id and their sub-paths. */
#include <stdlib.h>
#include <string.h>

#include "common/alloc_token.h"
#include "common/clock.h"
#include "common/jsonx.h"
#include "common/macros.h"
#include "common/model.h"
#include "controlplane/api/http.h"
#include "controlplane/api/routes_internal.h"
#include "controlplane/state/state.h"

bool add_alloc_stub(void *arg, const struct alloc *a) {
        struct list_ctx *l = arg;
        if (l->prefix && strncmp(a->id, l->prefix, strlen(l->prefix)) != 0)
                return true;
        json_array_append_new(l->out, alloc_to_stub_json(a));
        return true;
}

bool add_alloc_full(void *arg, const struct alloc *a) {
        struct list_ctx *l = arg;
        json_array_append_new(l->out, alloc_to_json(a));
        return true;
}

bool add_eval(void *arg, const struct eval *e) {
        struct list_ctx *l = arg;
        if (l->prefix && strncmp(e->id, l->prefix, strlen(l->prefix)) != 0)
                return true;
        json_array_append_new(l->out, eval_to_json(e));
        return true;
}

void h_alloc_read(struct route_ctx *c) {
        if (block_until_newer(c, STATE_TABLE_ALLOCS))
                return;
        const struct alloc *a = state_alloc_get(ctx_state(c), c->param[0]);
        if (!a) {
                http_req_respond_text(c->req, 404, "alloc not found");
                return;
        }
        json_t *j = alloc_to_json(a);
        /* The token its node's agent wants before it serves the allocation's logs. */
        const struct node *n = a->node_id ? state_node_get(ctx_state(c), a->node_id) : NULL;
        char token[ALLOC_TOKEN_BUF];
        if (n && alloc_token(n->secret_id, a->id, token) == 0)
                json_object_set_new(j, "AllocToken", json_string(token));
        /* The table's index, as every read here: a client that blocks on it waits for
         * the next change (the allocation's own ModifyIndex is older than the table's
         * whenever another allocation changed since, and would answer at once forever). */
        http_req_respond_json(c->req, 200, j, query_index(c, STATE_TABLE_ALLOCS));
}

static void build_allocs(struct list_ctx *l) {
        state_allocs_foreach(l->st, add_alloc_stub, l);
}

static void build_evals(struct list_ctx *l) {
        state_evals_foreach(l->st, add_eval, l);
}

void h_allocs_list(struct route_ctx *c) {
        if (!block_until_newer(c, STATE_TABLE_ALLOCS))
                list_offload(c, build_allocs, NULL, NULL, query_index(c, STATE_TABLE_ALLOCS));
}

void h_evals_list(struct route_ctx *c) {
        if (!block_until_newer(c, STATE_TABLE_EVALS))
                list_offload(c, build_evals, NULL, NULL, query_index(c, STATE_TABLE_EVALS));
}

void h_eval_read(struct route_ctx *c) {
        const struct eval *e = state_eval_get(ctx_state(c), c->param[0]);
        if (!e) {
                http_req_respond_text(c->req, 404, "eval not found");
                return;
        }
        if (block_until_newer(c, STATE_TABLE_EVALS))
                return;
        http_req_respond_json(c->req, 200, eval_to_json(e), query_index(c, STATE_TABLE_EVALS));
}

/* An evaluation's allocations: l->key is its ID (l->prefix is not applied). */
static void build_eval_allocs(struct list_ctx *l) {
        l->prefix = NULL;
        state_allocs_by_eval_foreach(l->st, l->key, add_alloc_stub, l);
}

void h_eval_allocations(struct route_ctx *c) {
        const struct eval *e = state_eval_get(ctx_state(c), c->param[0]);
        if (!e) {
                http_req_respond_text(c->req, 404, "eval not found");
                return;
        }
        if (block_until_newer(c, STATE_TABLE_ALLOCS))
                return;
        list_offload(c, build_eval_allocs, e->id, NULL, query_index(c, STATE_TABLE_ALLOCS));
}

/* ---- writes ------------------------------------------------------------------------------ */

/* PUT /v1/allocation/:id/stop: the server stops it and evaluates its job, whose
 * scheduler places a replacement (Nomad's alloc stop). */
void h_alloc_stop(struct route_ctx *c) {
        if (!is_leader_or_fail(c))
                return;
        const struct alloc *a = state_alloc_get(ctx_state(c), c->param[0]);
        if (!a) {
                http_req_respond_text(c->req, 404, "alloc not found");
                return;
        }
        const struct job *j = state_job_get(ctx_state(c), a->namespace ? a->namespace : "default", a->job_id);
        if (!j)
                j = a->job;
        if (!j) {
                http_req_respond_text(c->req, 400, "alloc %s: its job is gone", a->id);
                return;
        }
        struct eval *e = new_eval(j, "alloc-stop", NULL);
        json_t *cmd = json_pack("{s:s,s:s,s:s,s:I,s:[o]}", "Type", "AllocStop", "AllocID", a->id, "Description",
                                "alloc was stopped by the user", "UpdatedAt", (json_int_t)clock_now_ns(), "Evals",
                                eval_to_json(e));
        json_t *reply = json_pack("{s:s}", "EvalID", e->id);
        eval_unref(e);
        propose(c, cmd, reply, false);
}

#define EVAL_DELETE_MAX 1000

/* DELETE /v1/evaluations {"EvalIDs": [...]}: only finished evaluations (complete,
 * failed, canceled) may go; one still pending or blocked is in the broker's hands. */
void h_evals_delete(struct route_ctx *c) {
        if (!is_leader_or_fail(c))
                return;
        _cleanup_json_ json_t *body = parse_body(c);
        if (!body)
                return;
        json_t *ids = json_object_get(body, "EvalIDs");
        if (!json_is_array(ids) || json_array_size(ids) == 0 || json_array_size(ids) > EVAL_DELETE_MAX) {
                http_req_respond_text(c->req, 400, "EvalIDs: a list of 1 to %d evaluation IDs is required",
                                      EVAL_DELETE_MAX);
                return;
        }
        size_t i;
        json_t *v;
        json_array_foreach(ids, i, v) {
                const struct eval *e = json_is_string(v) ? state_eval_get(ctx_state(c), json_string_value(v)) : NULL;
                if (!e) {
                        http_req_respond_text(c->req, 404, "EvalIDs[%zu]: eval not found", i);
                        return;
                }
                if (e->status != EVAL_COMPLETE && e->status != EVAL_FAILED && e->status != EVAL_CANCELED) {
                        http_req_respond_text(c->req, 400,
                                              "EvalIDs[%zu]: eval %s is %s; only complete, failed or canceled "
                                              "evaluations can be deleted",
                                              i, e->id, eval_status_str(e->status));
                        return;
                }
        }
        propose(c, json_pack("{s:s,s:O}", "Type", "EvalDelete", "EvalIDs", ids), NULL, false);
}
