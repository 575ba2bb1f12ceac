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
        http_req_respond_json(c->req, 200, j, a->modify_index);
}

void h_allocs_list(struct route_ctx *c) {
        if (block_until_newer(c, STATE_TABLE_ALLOCS))
                return;
        struct list_ctx l = {.c = c, .prefix = http_req_query(c->req, "prefix"), .out = json_array()};
        state_allocs_foreach(ctx_state(c), add_alloc_stub, &l);
        http_req_respond_json(c->req, 200, l.out, query_index(c, STATE_TABLE_ALLOCS));
}

void h_evals_list(struct route_ctx *c) {
        if (block_until_newer(c, STATE_TABLE_EVALS))
                return;
        struct list_ctx l = {.c = c, .prefix = http_req_query(c->req, "prefix"), .out = json_array()};
        state_evals_foreach(ctx_state(c), add_eval, &l);
        http_req_respond_json(c->req, 200, l.out, query_index(c, STATE_TABLE_EVALS));
}

void h_eval_read(struct route_ctx *c) {
        const struct eval *e = state_eval_get(ctx_state(c), c->param[0]);
        if (!e) {
                http_req_respond_text(c->req, 404, "eval not found");
                return;
        }
        if (block_until_newer(c, STATE_TABLE_EVALS))
                return;
        http_req_respond_json(c->req, 200, eval_to_json(e), e->modify_index);
}

void h_eval_allocations(struct route_ctx *c) {
        const struct eval *e = state_eval_get(ctx_state(c), c->param[0]);
        if (!e) {
                http_req_respond_text(c->req, 404, "eval not found");
                return;
        }
        struct list_ctx l = {.c = c, .out = json_array()};
        state_allocs_by_eval_foreach(ctx_state(c), e->id, add_alloc_stub, &l);
        http_req_respond_json(c->req, 200, l.out, query_index(c, STATE_TABLE_ALLOCS));
}
