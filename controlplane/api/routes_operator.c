/* routes_operator.c - /v1/operator/raft/..., /v1/operator/scheduler/configuration,
 * /v1/system/gc and /v1/internal/raft/self. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/jsonx.h"
#include "common/macros.h"
#include "controlplane/api/http.h"
#include "controlplane/api/routes_internal.h"

/* ---- Raft membership ------------------------------------------------------------------- */

static void on_change_done(void *arg, int status, const char *msg) {
        struct http_req *req = arg;
        if (status == 0)
                http_req_respond_json(req, 200, json_object(), 0);
        else
                http_req_respond_text(req, status == -ENOENT ? 404 : status == -EBUSY || status == -EAGAIN ? 503 : 500,
                                      "raft membership change failed: %s", msg ? msg : strerror(-status));
}

static bool have_raft(struct route_ctx *c) {
        if (c->s->ops->raft_configuration)
                return true;
        http_req_respond_text(c->req, 404, "this server has no Raft membership to show");
        return false;
}

void h_raft_configuration(struct route_ctx *c) {
        if (!have_raft(c))
                return;
        json_t *conf = c->s->ops->raft_configuration(c->s->data);
        uint64_t idx = (uint64_t)jx_int(conf, "Index", 0);
        http_req_respond_json(c->req, 200, conf, idx);
}

void h_raft_join(struct route_ctx *c) {
        if (!have_raft(c) || !is_leader_or_fail(c))
                return;
        _cleanup_json_ json_t *body = parse_body(c);
        if (!body)
                return;
        json_int_t id = jx_int(body, "ID", 0);
        const char *addr = jx_str(body, "Address", "");
        const char *http = jx_str(body, "HTTPAddr", "");
        if (id <= 0 || !*addr || !strchr(addr, ':') || strlen(addr) >= 64 || strlen(http) >= 64) {
                http_req_respond_text(c->req, 400,
                                      "join: the body is {\"ID\": <raft id > 0>, \"Address\": \"ip:port\", "
                                      "\"HTTPAddr\": \"ip:port\"}");
                return;
        }
        int r = c->s->ops->raft_join(c->s->data, (uint64_t)id, addr, http, on_change_done, c->req);
        if (r < 0)
                on_change_done(c->req, r, strerror(-r));
}

void h_raft_peer_remove(struct route_ctx *c) {
        if (!have_raft(c) || !is_leader_or_fail(c))
                return;
        const char *id = http_req_query(c->req, "id");
        const char *addr = http_req_query(c->req, "address");
        char *end = NULL;
        unsigned long long n = id ? strtoull(id, &end, 10) : 0;
        if ((!id || !*id || *end || n == 0) && (!addr || !*addr)) {
                http_req_respond_text(c->req, 400, "remove-peer: give ?id=<raft id> or ?address=<ip:port>");
                return;
        }
        int r = c->s->ops->raft_remove(c->s->data, id && n ? (uint64_t)n : 0, addr, on_change_done, c->req);
        if (r < 0)
                on_change_done(c->req, r, r == -ENOENT ? "no such peer" : strerror(-r));
}

void h_internal_raft_self(struct route_ctx *c) {
        if (!c->s->ops->raft_self) {
                http_req_respond_text(c->req, 404, "this server has no Raft membership to show");
                return;
        }
        http_req_respond_json(c->req, 200, c->s->ops->raft_self(c->s->data), 0);
}

/* ---- garbage collection ------------------------------------------------------------------ */

void h_system_gc(struct route_ctx *c) {
        if (!c->s->ops->gc) {
                http_req_respond_text(c->req, 404, "this server does not collect garbage");
                return;
        }
        if (!is_leader_or_fail(c))
                return;
        struct pending_write *pw = pending_write_new(c, NULL, false);
        if (!pw)
                return;
        int r = c->s->ops->gc(c->s->data, on_write_applied, pw);
        if (r < 0) {
                free(pw);
                http_req_respond_text(c->req, 500, "garbage collection failed: %s", strerror(-r));
        }
}
