/* routes_nodes.c - /v1/nodes and /v1/node/:id/...: what client agents call
 * (register, heartbeat, allocation updates) and what operators call. */
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/error.h"
#include "common/jsonx.h"
#include "common/macros.h"
#include "common/model.h"
#include "controlplane/api/http.h"
#include "controlplane/api/routes_internal.h"
#include "controlplane/leader/heartbeat.h"
#include "controlplane/scheduler/scheduler.h"
#include "controlplane/state/state.h"

static json_t *node_public_json(const struct node *n) {
        json_t *o = node_to_json(n);
        json_object_del(o, "SecretID");
        return o;
}

static bool add_node_stub(void *arg, const struct node *n) {
        struct list_ctx *l = arg;
        if (l->prefix && strncmp(n->id, l->prefix, strlen(l->prefix)) != 0)
                return true;
        json_array_append_new(l->out, node_to_stub_json(n));
        return true;
}

/* A node joining or back to ready: an eval per system/sysbatch job (Nomad's createNodeEvals). */
static json_t *node_evals_json(struct route_ctx *c, const char *node_id) {
        json_t *arr = json_array();
        struct eval **ev = NULL;
        size_t n = 0;
        if (scheduler_node_evals(ctx_state(c), node_id, NULL, &ev, &n) == 0)
                for (size_t i = 0; i < n; i++) {
                        json_array_append_new(arr, eval_to_json(ev[i]));
                        eval_unref(ev[i]);
                }
        free(ev);
        return arr;
}

void h_node_register(struct route_ctx *c) {
        if (!is_leader_or_fail(c))
                return;
        _cleanup_json_ json_t *body = parse_body(c);
        if (!body)
                return;
        json_t *nj = json_object_get(body, "Node");
        struct error err = {0};
        struct node *n = NULL;
        if (!json_is_object(nj)) {
                http_req_respond_text(c->req, 400, "missing node: the body is {\"Node\": {...}}");
                return;
        }
        if (node_from_json(nj, &n, &err) < 0) {
                http_req_respond_text(c->req, 400, "%s", err.msg);
                return;
        }
        if (node_validate(n, &err) < 0 || !n->secret_id || !*n->secret_id) {
                http_req_respond_text(c->req, 400, "%s", err.code ? err.msg : "node: missing SecretID");
                node_unref(n);
                return;
        }
        const struct node *old = state_node_get(ctx_state(c), n->id);
        if (old && old->secret_id && strcmp(old->secret_id, n->secret_id) != 0) {
                http_req_respond_text(c->req, 403, "node secret ID does not match; refusing to re-register node %s",
                                      n->id);
                node_unref(n);
                return;
        }
        n->status = NODE_READY;
        n->status_updated_at = clock_now_ns() / NS_PER_SEC;
        node_compute_class(n);
        int64_t ttl = heartbeats_reset(c->s->heartbeats, n->id, clock_monotonic_ns());
        json_t *cmd = json_pack("{s:s,s:o,s:o}", "Type", "NodeRegister", "Node", node_to_json(n), "Evals",
                                node_evals_json(c, n->id));
        json_t *reply = json_pack("{s:I,s:s}", "HeartbeatTTL", (json_int_t)ttl, "NodeID", n->id);
        node_unref(n);
        propose(c, cmd, reply, false);
}

static bool secret_ok(struct route_ctx *c, const struct node *n, const json_t *body) {
        const char *secret = jx_str(body, "SecretID", NULL);
        if (!secret || !n->secret_id || strcmp(secret, n->secret_id) != 0) {
                http_req_respond_text(c->req, 403, "node secret ID does not match for node %s", n->id);
                return false;
        }
        return true;
}

void h_node_heartbeat(struct route_ctx *c) {
        const char *id = c->param[0];
        if (!is_leader_or_fail(c))
                return;
        _cleanup_json_ json_t *body = parse_body(c);
        if (!body)
                return;
        const struct node *n = state_node_get(ctx_state(c), id);
        if (!n) {
                http_req_respond_text(c->req, 404, "node %s not found; register first", id);
                return;
        }
        if (!secret_ok(c, n, body))
                return;
        int64_t ttl = heartbeats_reset(c->s->heartbeats, id, clock_monotonic_ns());
        if (n->status == NODE_READY) {
                http_req_respond_json(c->req, 200, json_pack("{s:I}", "HeartbeatTTL", (json_int_t)ttl),
                                      state_latest_index(ctx_state(c)));
                return;
        }
        /* Down (or initializing) and back: mark ready through Raft. */
        json_t *cmd = json_pack("{s:s,s:s,s:s,s:I,s:o}", "Type", "NodeStatusUpdate", "NodeID", id, "Status", "ready",
                                "UpdatedAt", (json_int_t)(clock_now_ns() / NS_PER_SEC), "Evals",
                                node_evals_json(c, id));
        propose(c, cmd, json_pack("{s:I}", "HeartbeatTTL", (json_int_t)ttl), false);
}

void h_node_alloc_update(struct route_ctx *c) {
        const char *id = c->param[0];
        if (!is_leader_or_fail(c))
                return;
        _cleanup_json_ json_t *body = parse_body(c);
        if (!body)
                return;
        const struct node *n = state_node_get(ctx_state(c), id);
        if (!n) {
                http_req_respond_text(c->req, 404, "node %s not found", id);
                return;
        }
        if (!secret_ok(c, n, body))
                return;
        json_t *allocs = json_object_get(body, "Allocs");
        if (!json_is_array(allocs)) {
                http_req_respond_text(c->req, 400, "Allocs must be a list of allocation updates");
                return;
        }
        json_t *updates = json_array();
        size_t i;
        json_t *u;
        json_array_foreach(allocs, i, u) {
                const char *aid = jx_str(u, "ID", NULL);
                const char *cs = jx_str(u, "ClientStatus", NULL);
                enum alloc_client st;
                if (!aid || !cs || alloc_client_parse(cs, &st) < 0) {
                        http_req_respond_text(c->req, 400,
                                              "Allocs[%zu]: need ID and ClientStatus (pending, running, complete, failed)",
                                              i);
                        json_decref(updates);
                        return;
                }
                const struct alloc *a = state_alloc_get(ctx_state(c), aid);
                if (!a || !a->node_id || strcmp(a->node_id, id) != 0)
                        continue; /* gone (GC) or not this node's: ignore, like Nomad */
                json_t *ts = json_object_get(u, "TaskStates");
                if (ts && !json_is_object(ts)) {
                        http_req_respond_text(c->req, 400, "Allocs[%zu].TaskStates must be an object", i);
                        json_decref(updates);
                        return;
                }
                struct task_state *states = NULL;
                size_t ns = 0;
                struct error err = {0};
                if (ts && task_states_from_json(ts, &states, &ns, &err) < 0) {
                        http_req_respond_text(c->req, 400, "Allocs[%zu]: %s", i, err.msg);
                        json_decref(updates);
                        return;
                }
                task_states_free(states, ns);
                json_array_append_new(updates, json_pack("{s:s,s:s,s:s,s:O*}", "ID", aid, "ClientStatus", cs,
                                                         "ClientDescription", jx_str(u, "ClientDescription", ""),
                                                         "TaskStates", ts));
        }
        if (json_array_size(updates) == 0) {
                json_decref(updates);
                http_req_respond_json(c->req, 200, json_pack("{s:I}", "Index", (json_int_t)state_latest_index(ctx_state(c))),
                                      state_latest_index(ctx_state(c)));
                return;
        }
        json_t *cmd = json_pack("{s:s,s:s,s:o,s:I}", "Type", "AllocClientUpdate", "NodeID", id, "Allocs", updates,
                                "UpdatedAt", (json_int_t)clock_now_ns());
        propose(c, cmd, NULL, false);
}

void h_nodes_list(struct route_ctx *c) {
        if (block_until_newer(c, STATE_TABLE_NODES))
                return;
        struct list_ctx l = {.c = c, .prefix = http_req_query(c->req, "prefix"), .out = json_array()};
        state_nodes_foreach(ctx_state(c), add_node_stub, &l);
        http_req_respond_json(c->req, 200, l.out, query_index(c, STATE_TABLE_NODES));
}

void h_node_read(struct route_ctx *c) {
        if (block_until_newer(c, STATE_TABLE_NODES))
                return;
        const struct node *n = state_node_get(ctx_state(c), c->param[0]);
        if (!n)
                http_req_respond_text(c->req, 404, "node not found");
        else
                http_req_respond_json(c->req, 200, node_public_json(n), n->modify_index);
}

void h_node_allocations(struct route_ctx *c) {
        const char *id = c->param[0];
        if (!state_node_get(ctx_state(c), id)) {
                http_req_respond_text(c->req, 404, "node not found");
                return;
        }
        if (block_until_newer(c, STATE_TABLE_ALLOCS))
                return;
        struct list_ctx l = {.c = c, .out = json_array()};
        state_allocs_by_node_foreach(ctx_state(c), id, add_alloc_full, &l);
        http_req_respond_json(c->req, 200, l.out, query_index(c, STATE_TABLE_ALLOCS));
}
