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
#include "common/base64.h"
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
        const char *method; /* GET, or PUT for restart and signal */
        char token_hdr[ALLOC_TOKEN_BUF + 32];
        bool raw; /* logs: answered as bytes, not JSON */
        /* logs without ?plain=true: one Nomad StreamFrame {"Offset", "Data", "File"} */
        bool framed;
        char frame_file[300]; /* "alloc/logs/<task>.<type>.0" */
        int rc;
        struct http_response resp;
        struct error err;
};

static void client_work(uv_work_t *w) {
        struct client_call *cc = w->data;
        const char *headers[] = {cc->token_hdr, NULL};
        cc->rc = http_perform_headers(cc->method, cc->url, NULL, headers, CLIENT_TIMEOUT_MS, CLIENT_CONNECT_MS, NULL, NULL,
                                      &cc->resp, &cc->err);
        if (cc->rc == 0 && cc->resp.len > CLIENT_MAX_ANSWER)
                cc->rc = errorf(&cc->err, -E2BIG, "the agent's answer is larger than %u bytes", CLIENT_MAX_ANSWER);
}

/* Nomad's framed log answer (what its API client reads without plain=true): the
 * bytes base64 in one frame whose Offset is where they end in the task's stream
 * (the agent's X-Drover-Log-End); nothing at all when there are no bytes. */
static void respond_frame(struct client_call *cc) {
        if (cc->resp.len == 0) {
                http_req_respond_bytes(cc->req, 200, "application/json", "", 0, 0);
                return;
        }
        _cleanup_free_ char *data = base64_encode((const unsigned char *)cc->resp.body, cc->resp.len);
        json_t *frame = data ? json_pack("{s:I,s:s,s:s}", "Offset",
                                         (json_int_t)(cc->resp.has_log_end ? cc->resp.log_end : cc->resp.len), "Data",
                                         data, "File", cc->frame_file)
                             : NULL;
        _cleanup_free_ char *text = frame ? json_dumps(frame, JSON_COMPACT) : NULL;
        json_decref(frame);
        if (!text) {
                http_req_respond_text(cc->req, 500, "out of memory");
                return;
        }
        http_req_respond_bytes(cc->req, 200, "application/json", text, strlen(text), 0);
}

static void client_done(uv_work_t *w, int status) {
        struct client_call *cc = w->data;
        if (status < 0 && cc->rc == 0)
                cc->rc = errorf(&cc->err, -ECANCELED, "canceled");
        if (cc->rc < 0)
                http_req_respond_text(cc->req, 502, "the allocation's node did not answer: %s", cc->err.msg);
        else if (cc->framed && cc->resp.status >= 200 && cc->resp.status < 300)
                respond_frame(cc);
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

static struct client_call *client_forward_method(struct route_ctx *c, const struct alloc *a, const struct node *n,
                                                 const char *method, const char *path_query, bool raw) {
        if (!c->s->loop) {
                http_req_respond_text(c->req, 501, "this server does not forward to agents");
                return NULL;
        }
        struct client_call *cc = calloc(1, sizeof(*cc));
        char token[ALLOC_TOKEN_BUF];
        if (!cc || alloc_token(n->secret_id, a->id, token) < 0 ||
            asprintf(&cc->url, "%s://%s%s", c->s->agents_https ? "https" : "http", n->http_addr, path_query) < 0) {
                free(cc);
                http_req_respond_text(c->req, 500, "out of memory");
                return NULL;
        }
        snprintf(cc->token_hdr, sizeof(cc->token_hdr), "X-Drover-Token: %s", token);
        cc->work.data = cc;
        cc->req = c->req;
        cc->method = method;
        cc->raw = raw;
        return cc;
}

/* Queue the call made ready above (its fields set); answered when the agent is. */
static void client_queue(struct route_ctx *c, struct client_call *cc) {
        if (uv_queue_work(c->s->loop, &cc->work, client_work, client_done) < 0) {
                free(cc->url);
                free(cc);
                http_req_respond_text(c->req, 500, "cannot queue the request to the agent");
        }
}

static void client_forward(struct route_ctx *c, const struct alloc *a, const struct node *n, const char *path_query,
                           bool raw) {
        struct client_call *cc = client_forward_method(c, a, n, "GET", path_query, raw);
        if (cc)
                client_queue(c, cc);
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
        struct client_call *cc = client_forward_method(c, a, n, "GET", path, true);
        if (!cc)
                return;
        /* Nomad answers framed JSON unless ?plain=true */
        cc->framed = !query_flag(c, "plain");
        snprintf(cc->frame_file, sizeof(cc->frame_file), "alloc/logs/%.200s.%.16s.0", task,
                 type && *type ? type : "stdout");
        client_queue(c, cc);
}

/* A JSON body's string field (absent or null: ""), bounded; false after a 400. */
static bool body_str(struct route_ctx *c, const json_t *body, const char *key, size_t max, char *out, size_t size) {
        const json_t *v = json_object_get(body, key);
        out[0] = '\0';
        if (!v || json_is_null(v))
                return true;
        if (!json_is_string(v) || json_string_length(v) > max) {
                http_req_respond_text(c->req, 400, "%s must be a string of at most %zu bytes", key, max);
                return false;
        }
        return query_escape(json_string_value(v), out, size) == 0 ||
               (http_req_respond_text(c->req, 400, "%s is too long", key), false);
}

/* The request's JSON object (an empty body is {}); NULL after a 400. */
static json_t *client_body(struct route_ctx *c) {
        size_t len;
        http_req_body(c->req, &len);
        if (len == 0)
                return json_object();
        json_t *body = parse_body(c);
        if (body && !json_is_object(body)) {
                json_decref(body);
                http_req_respond_text(c->req, 400, "the request body must be a JSON object");
                return NULL;
        }
        return body;
}

/* PUT /v1/client/allocation/:id/restart {"TaskName", "AllTasks"} (Nomad's
 * AllocRestartRequest): the node restarts the task, or every running task. */
void h_client_alloc_restart(struct route_ctx *c) {
        const struct node *n = NULL;
        const struct alloc *a = client_alloc(c, PERM_NS_ALLOC_LIFECYCLE, &n);
        if (!a)
                return;
        json_t *body = client_body(c);
        if (!body)
                return;
        char task[800];
        const json_t *all = json_object_get(body, "AllTasks");
        bool ok = body_str(c, body, "TaskName", 128, task, sizeof(task));
        if (ok && all && !json_is_boolean(all) && !json_is_null(all)) {
                http_req_respond_text(c->req, 400, "AllTasks must be a boolean");
                ok = false;
        }
        bool all_tasks = json_is_true(all);
        json_decref(body);
        if (!ok)
                return;
        if (all_tasks && *task) {
                http_req_respond_text(c->req, 400, "Task name cannot be set when restarting all tasks");
                return;
        }
        char path[1024];
        snprintf(path, sizeof(path), "/v1/client/allocation/%s/restart?task=%s&all=%s", a->id, task,
                 all_tasks ? "true" : "false");
        struct client_call *cc = client_forward_method(c, a, n, "PUT", path, false);
        if (cc)
                client_queue(c, cc);
}

/* PUT /v1/client/allocation/:id/signal {"Task", "Signal"} (Nomad's
 * AllocSignalRequest): the node sends the signal (default SIGKILL) to the task,
 * or to every running task. */
void h_client_alloc_signal(struct route_ctx *c) {
        const struct node *n = NULL;
        const struct alloc *a = client_alloc(c, PERM_NS_ALLOC_LIFECYCLE, &n);
        if (!a)
                return;
        json_t *body = client_body(c);
        if (!body)
                return;
        char task[800], sig[128];
        bool ok = body_str(c, body, "Task", 128, task, sizeof(task)) && body_str(c, body, "Signal", 32, sig, sizeof(sig));
        json_decref(body);
        if (!ok)
                return;
        char path[1024];
        snprintf(path, sizeof(path), "/v1/client/allocation/%s/signal?task=%s&signal=%s", a->id, task,
                 *sig ? sig : "SIGKILL");
        struct client_call *cc = client_forward_method(c, a, n, "PUT", path, false);
        if (cc)
                client_queue(c, cc);
}
