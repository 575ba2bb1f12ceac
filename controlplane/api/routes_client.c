/* routes_client.c - /v1/client/allocation/:id/stats and /v1/client/fs/logs/:alloc
 * on the servers: forwarded to the agent of the node that runs the allocation
 * (its HTTPAddr; over HTTPS when this server's API is, presenting the server's
 * certificate: TLS is cluster-wide, as Nomad's tls.http), with the allocation's
 * token (common/alloc_token.h, made from
 * the node's secret), as Nomad's servers forward client RPCs. The transfer runs
 * on libuv's pool (blocking libcurl, 30 s, answers up to 64 MiB); the answer
 * goes back as it came. ACLs: read-job for stats, read-logs for logs, in the
 * allocation's own namespace (checked again here: the table checks the
 * namespace the request names). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "common/alloc_token.h"
#include "common/error.h"
#include "common/http_client.h"
#include "common/macros.h"
#include "common/model.h"
#include "controlplane/api/http.h"
#include "controlplane/api/routes_internal.h"

#define CLIENT_TIMEOUT_MS 30000
#define CLIENT_CONNECT_MS 5000
#define CLIENT_MAX_ANSWER (64u * 1024 * 1024)

struct client_call {
        uv_work_t work;
        struct http_req *req;
        char *url;
        char token_hdr[ALLOC_TOKEN_BUF + 32];
        bool raw; /* logs: answered as bytes, not JSON */
        int rc;
        struct http_response resp;
        struct error err;
};

static void client_work(uv_work_t *w) {
        struct client_call *cc = w->data;
        const char *headers[] = {cc->token_hdr, NULL};
        cc->rc = http_perform_headers("GET", cc->url, NULL, headers, CLIENT_TIMEOUT_MS, CLIENT_CONNECT_MS, NULL, NULL,
                                      &cc->resp, &cc->err);
        if (cc->rc == 0 && cc->resp.len > CLIENT_MAX_ANSWER)
                cc->rc = errorf(&cc->err, -E2BIG, "the agent's answer is larger than %u bytes", CLIENT_MAX_ANSWER);
}

static void client_done(uv_work_t *w, int status) {
        struct client_call *cc = w->data;
        if (status < 0 && cc->rc == 0)
                cc->rc = errorf(&cc->err, -ECANCELED, "canceled");
        if (cc->rc < 0)
                http_req_respond_text(cc->req, 502, "the allocation's node did not answer: %s", cc->err.msg);
        else if (cc->resp.status < 200 || cc->resp.status >= 300 || cc->raw)
                http_req_respond_raw(cc->req, (int)cc->resp.status, "text/plain; charset=utf-8", cc->resp.body,
                                     cc->resp.len);
        else
                http_req_respond_bytes(cc->req, 200, "application/json", cc->resp.body, cc->resp.len, 0);
        http_response_clear(&cc->resp);
        free(cc->url);
        free(cc);
}

/* The allocation of :id (full ID or unique prefix) and its node, after the
 * permission check in the allocation's namespace; NULL after an answer. */
static const struct alloc *client_alloc(struct route_ctx *c, enum api_perm perm, const struct node **ret_node) {
        const struct alloc *a = state_alloc_get(ctx_state(c), c->param[0]);
        if (!a && state_alloc_by_prefix(ctx_state(c), c->param[0], &a) < 0)
                a = NULL;
        if (!a) {
                http_req_respond_text(c->req, 404, "Unknown allocation \"%s\"", c->param[0]);
                return NULL;
        }
        struct error err = {0};
        const char *ns = a->namespace ? a->namespace : a->job && a->job->namespace ? a->job->namespace : "default";
        if (api_authorize(c->s->acl_enabled, ctx_state(c), http_req_header(c->req, "X-Nomad-Token"), perm, ns, &err) <
            0) {
                c->s->denied++;
                http_req_respond_text(c->req, 403, "%s", err.msg);
                return NULL;
        }
        const struct node *n = a->node_id ? state_node_get(ctx_state(c), a->node_id) : NULL;
        if (!n || !n->http_addr || !*n->http_addr) {
                http_req_respond_text(c->req, 400, "allocation \"%s\": its node %s does not advertise an HTTP address",
                                      a->id, n ? "" : "is unknown and");
                return NULL;
        }
        *ret_node = n;
        return a;
}

/* URL-encode a query value (task names are plain, but bound and escape anyway). */
static int query_escape(const char *in, char *out, size_t size) {
        static const char hex[] = "0123456789ABCDEF";
        size_t o = 0;
        for (const unsigned char *p = (const unsigned char *)in; *p; p++) {
                bool plain = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
                             *p == '-' || *p == '_' || *p == '.' || *p == '~';
                if (o + (plain ? 1 : 3) >= size)
                        return -E2BIG;
                if (plain)
                        out[o++] = (char)*p;
                else {
                        out[o++] = '%';
                        out[o++] = hex[*p >> 4];
                        out[o++] = hex[*p & 15];
                }
        }
        out[o] = '\0';
        return 0;
}

static void client_forward(struct route_ctx *c, const struct alloc *a, const struct node *n, const char *path_query,
                           bool raw) {
        if (!c->s->loop) {
                http_req_respond_text(c->req, 501, "this server does not forward to agents");
                return;
        }
        struct client_call *cc = calloc(1, sizeof(*cc));
        char token[ALLOC_TOKEN_BUF];
        if (!cc || alloc_token(n->secret_id, a->id, token) < 0 ||
            asprintf(&cc->url, "%s://%s%s", c->s->agents_https ? "https" : "http", n->http_addr, path_query) < 0) {
                free(cc);
                http_req_respond_text(c->req, 500, "out of memory");
                return;
        }
        snprintf(cc->token_hdr, sizeof(cc->token_hdr), "X-Drover-Token: %s", token);
        cc->work.data = cc;
        cc->req = c->req;
        cc->raw = raw;
        if (uv_queue_work(c->s->loop, &cc->work, client_work, client_done) < 0) {
                free(cc->url);
                free(cc);
                http_req_respond_text(c->req, 500, "cannot queue the request to the agent");
        }
}

void h_client_alloc_stats(struct route_ctx *c) {
        const struct node *n = NULL;
        const struct alloc *a = client_alloc(c, PERM_NS_READ_JOB, &n);
        if (!a)
                return;
        char path[128];
        snprintf(path, sizeof(path), "/v1/client/allocation/%s/stats", a->id);
        client_forward(c, a, n, path, false);
}

void h_client_fs_logs(struct route_ctx *c) {
        const struct node *n = NULL;
        const struct alloc *a = client_alloc(c, PERM_NS_READ_LOGS, &n);
        if (!a)
                return;
        const char *task = http_req_query(c->req, "task");
        const char *type = http_req_query(c->req, "type");
        const char *offset = http_req_query(c->req, "offset");
        const char *origin = http_req_query(c->req, "origin");
        char etask[800], etype[64], eoff[64], eorigin[64];
        if (!task || !*task || query_escape(task, etask, sizeof(etask)) < 0 ||
            query_escape(type ? type : "stdout", etype, sizeof(etype)) < 0 ||
            query_escape(offset ? offset : "0", eoff, sizeof(eoff)) < 0 ||
            query_escape(origin ? origin : "start", eorigin, sizeof(eorigin)) < 0) {
                http_req_respond_text(c->req, 400, "missing or bad task (?task=<name>), type, offset or origin");
                return;
        }
        char path[1200];
        snprintf(path, sizeof(path), "/v1/client/fs/logs/%s?task=%s&type=%s&offset=%s&origin=%s&plain=true", a->id,
                 etask, etype, eoff, eorigin);
        client_forward(c, a, n, path, true);
}
