/* routes_client.c - /v1/client/allocation/:id/{stats,restart,signal} and
 * /v1/client/fs/logs/:alloc on the servers: forwarded to the agent of the node
 * that runs the allocation (its HTTPAddr; over HTTPS when this server's API is,
 * presenting the server's certificate: TLS is cluster-wide, as Nomad's tls.http),
 * with the allocation's token (common/alloc_token.h, made from the node's secret),
 * as Nomad's servers forward client RPCs. Each transfer runs on libuv's pool
 * (blocking libcurl); a one-shot answer (30 s, up to 64 MiB) goes back as it came.
 * ACLs: read-job for stats, read-logs for logs, alloc-lifecycle for restart and
 * signal, in the allocation's own namespace (checked again here: the table checks
 * the namespace the request names).
 *
 * Logs with ?follow=true are relayed as a stream (http.h's streamed answers): the
 * server asks the agent for what the task wrote after the last byte it relayed
 * (the agent answers what its files hold and ends), at most FOLLOW_ASK_BYTES at a
 * time, every FOLLOW_POLL_MS while nothing new came, and writes it on to the
 * client in pieces of FOLLOW_PIECE bytes (one Nomad StreamFrame each, or plain
 * bytes with ?plain=true). Back-pressure: a piece that does not fit the stream's
 * buffer (FOLLOW_BUFFER) waits, and the agent is not asked again until every
 * byte taken from it went into the stream, so a follow holds at most
 * FOLLOW_ASK_BYTES + FOLLOW_BUFFER. The stream ends when the client goes away,
 * when the agent stops answering (FOLLOW_FAILURES asks in a row), or once the
 * task is dead (or its allocation terminal or gone) and two asks made after that
 * brought nothing. Framed streams
 * get Nomad's heartbeat frame ({}) after FOLLOW_HEARTBEAT_NS of silence, which
 * is also how a client gone from a quiet task is noticed; a plain stream of a
 * quiet task notices it at the task's next output. At most FOLLOW_MAX follows
 * per server. Everything but the transfers runs on the loop thread. */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "common/alloc_token.h"
#include "common/base64.h"
#include "common/clock.h"
#include "common/error.h"
#include "common/http_client.h"
#include "common/macros.h"
#include "common/model.h"
#include "controlplane/api/http.h"
#include "controlplane/api/routes_internal.h"

#define CLIENT_TIMEOUT_MS 30000
#define CLIENT_CONNECT_MS 5000
#define CLIENT_MAX_ANSWER (64u * 1024 * 1024)

#define FOLLOW_MAX 64                           /* log follows relayed by one server at once */
#define FOLLOW_ASK_BYTES (256u * 1024)          /* bytes taken from the agent per ask */
#define FOLLOW_PIECE (32u * 1024)               /* bytes per write into the stream (one frame) */
#define FOLLOW_BUFFER (128u * 1024)             /* the stream's buffer toward the client */
#define FOLLOW_POLL_MS 200                      /* between asks while the task writes nothing */
#define FOLLOW_RETRY_MS 50                      /* a piece waits this long for room in the stream */
#define FOLLOW_HEARTBEAT_NS (10LL * 1000000000) /* a framed stream's silence before a {} frame */
#define FOLLOW_ASK_TIMEOUT_MS 10000
#define FOLLOW_FAILURES 5 /* asks failing in a row that end a stream */

#define container_of(p, type, member) ((type *)((char *)(p)-offsetof(type, member)))

/* One request to an agent, made on libuv's pool. */
struct agent_ask {
        uv_work_t work;
        char *url;
        const char *method; /* GET, or PUT for restart and signal */
        char token_hdr[ALLOC_TOKEN_BUF + 32];
        size_t cap; /* answer bytes kept at most */
        long timeout_ms;
        int rc;
        struct http_response resp;
        struct error err;
};

static void ask_work(uv_work_t *w) {
        struct agent_ask *k = container_of(w, struct agent_ask, work);
        const char *headers[] = {k->token_hdr, NULL};
        k->rc = http_perform_capped(k->method, k->url, headers, k->cap, k->timeout_ms, CLIENT_CONNECT_MS, &k->resp,
                                    &k->err);
}

/* k asks a's node for path_query (a one-shot answer); -ENOMEM. */
static int ask_init(struct agent_ask *k, const struct api *s, const struct alloc *a, const struct node *n,
                    const char *method, const char *path_query) {
        char token[ALLOC_TOKEN_BUF];
        if (alloc_token(n->secret_id, a->id, token) < 0 ||
            asprintf(&k->url, "%s://%s%s", s->agents_https ? "https" : "http", n->http_addr, path_query) < 0) {
                k->url = NULL;
                return -ENOMEM;
        }
        snprintf(k->token_hdr, sizeof(k->token_hdr), "X-Drover-Token: %s", token);
        k->method = method;
        k->cap = CLIENT_MAX_ANSWER + 1;
        k->timeout_ms = CLIENT_TIMEOUT_MS;
        return 0;
}

/* Answer req for an ask that failed (502) or that the agent refused (its status
 * and text, as they came); false when the agent answered 2xx. */
static bool respond_failed(struct http_req *req, struct agent_ask *k, int work_status) {
        if (work_status < 0 && k->rc == 0)
                k->rc = errorf(&k->err, -ECANCELED, "canceled");
        if (k->rc < 0)
                http_req_respond_text(req, 502, "the allocation's node did not answer: %s", k->err.msg);
        else if (k->resp.status < 200 || k->resp.status >= 300)
                http_req_respond_raw(req, (int)k->resp.status, "text/plain; charset=utf-8", k->resp.body, k->resp.len);
        else
                return false;
        return true;
}

/* Nomad's StreamFrame {"Offset", "Data", "File"}: len bytes base64, Offset where
 * they end in the task's stream; malloc'd JSON text, NULL when out of memory. */
static char *log_frame(const char *data, size_t len, uint64_t end, const char *file) {
        _cleanup_free_ char *b64 = base64_encode((const unsigned char *)data, len);
        json_t *frame = b64 ? json_pack("{s:I,s:s,s:s}", "Offset", (json_int_t)end, "Data", b64, "File", file) : NULL;
        char *text = frame ? json_dumps(frame, JSON_COMPACT) : NULL;
        json_decref(frame);
        return text;
}

/* ---- one-shot calls ---------------------------------------------------------------------- */

struct client_call {
        struct agent_ask ask;
        struct http_req *req;
        bool raw; /* logs: answered as bytes, not JSON */
        /* logs without ?plain=true: one Nomad StreamFrame {"Offset", "Data", "File"} */
        bool framed;
        char frame_file[300]; /* "alloc/logs/<task>.<type>.0" */
};

/* Nomad's framed log answer (what its API client reads without plain=true): the
 * bytes in one frame whose Offset is where they end in the task's stream (the
 * agent's X-Drover-Log-End); nothing at all when there are no bytes. */
static void respond_frame(struct client_call *cc) {
        const struct http_response *r = &cc->ask.resp;
        if (r->len == 0) {
                http_req_respond_bytes(cc->req, 200, "application/json", "", 0, 0);
                return;
        }
        _cleanup_free_ char *text = log_frame(r->body, r->len, r->has_log_end ? r->log_end : r->len, cc->frame_file);
        if (!text)
                http_req_respond_text(cc->req, 500, "out of memory");
        else
                http_req_respond_bytes(cc->req, 200, "application/json", text, strlen(text), 0);
}

static void client_done(uv_work_t *w, int status) {
        struct client_call *cc = container_of(w, struct client_call, ask.work);
        const struct http_response *r = &cc->ask.resp;
        if (cc->ask.rc == 0 && r->truncated)
                cc->ask.rc =
                    errorf(&cc->ask.err, -E2BIG, "the agent's answer is larger than %u bytes", CLIENT_MAX_ANSWER);
        if (respond_failed(cc->req, &cc->ask, status))
                ;
        else if (cc->framed)
                respond_frame(cc);
        else if (cc->raw)
                http_req_respond_raw(cc->req, (int)r->status, "text/plain; charset=utf-8", r->body, r->len);
        else
                http_req_respond_bytes(cc->req, 200, "application/json", r->body, r->len, 0);
        http_response_clear(&cc->ask.resp);
        free(cc->ask.url);
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

/* A server without a loop (tests) does not forward: false after a 501. */
static bool forwards(struct route_ctx *c) {
        if (!c->s->loop)
                http_req_respond_text(c->req, 501, "this server does not forward to agents");
        return c->s->loop != NULL;
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

/* Ask a's node for path_query and answer with what it says (framed: a log frame
 * of frame_file; raw: bytes; else JSON). */
static void client_call(struct route_ctx *c, const struct alloc *a, const struct node *n, const char *method,
                        const char *path_query, bool raw, const char *frame_file) {
        if (!forwards(c))
                return;
        struct client_call *cc = calloc(1, sizeof(*cc));
        if (!cc || ask_init(&cc->ask, c->s, a, n, method, path_query) < 0) {
                free(cc);
                http_req_respond_text(c->req, 500, "out of memory");
                return;
        }
        cc->req = c->req;
        cc->raw = raw;
        cc->framed = frame_file != NULL;
        if (frame_file)
                snprintf(cc->frame_file, sizeof(cc->frame_file), "%s", frame_file);
        if (uv_queue_work(c->s->loop, &cc->ask.work, ask_work, client_done) < 0) {
                free(cc->ask.url);
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
        client_call(c, a, n, "GET", path, false, NULL);
}

/* ---- log follows ------------------------------------------------------------------------- */

struct log_follow {
        struct agent_ask ask;
        struct api *s;
        struct http_req *req; /* NULL once the stream ended or the client went away */
        uv_timer_t timer;     /* the next ask, or the next try of a piece that did not fit */
        char *base;           /* the agent's log URL, up to its offset */
        char alloc_id[ID_BUF];
        char task[130];
        bool framed;
        char frame_file[300];
        uint64_t offset; /* the next byte of the task's stream to ask for */
        /* bytes taken from the agent and not yet in the stream: out[out_off] is byte
         * out_at of the task's stream */
        char *out;
        size_t out_len, out_off;
        uint64_t out_at;
        bool got;       /* the last answer had bytes */
        bool more;      /* ... and was cut at FOLLOW_ASK_BYTES: ask again at once */
        bool last;      /* the task was over before the last ask */
        bool busy;      /* an ask is on the pool */
        bool streaming; /* the stream began (the first answer was a 2xx) */
        bool gone;      /* the client went away */
        int failures;   /* asks that failed in a row */
        int empty_over; /* empty answers in a row to asks made after the task was over */
        int64_t wrote_ns;
};

static void follow_timer_closed(uv_handle_t *h) {
        struct log_follow *f = h->data;
        http_response_clear(&f->ask.resp);
        free(f->ask.url);
        free(f->base);
        free(f->out);
        free(f);
}

/* Only while no ask is on the pool. */
static void follow_free(struct log_follow *f) {
        f->s->log_follows--;
        uv_timer_stop(&f->timer);
        uv_close((uv_handle_t *)&f->timer, follow_timer_closed);
}

static void follow_end(struct log_follow *f) {
        http_req_stream_end(f->req, NULL, 0);
        f->req = NULL;
        follow_free(f);
}

/* The client went away (or the server stops). */
static void follow_gone(void *data) {
        struct log_follow *f = data;
        f->req = NULL;
        f->gone = true;
        if (!f->busy)
                follow_free(f);
}

/* The task will write no more: dead, its allocation terminal on its node, or gone. */
static bool follow_task_over(const struct log_follow *f) {
        const struct alloc *a = state_alloc_get(*f->s->state, f->alloc_id);
        if (!a || alloc_client_terminal(a->client_status))
                return true;
        const struct task_state *ts = alloc_task_state(a, f->task);
        return ts && ts->state == TASK_DEAD;
}

static void follow_asked(uv_work_t *w, int status);

/* Ask the agent for what follows f->offset (or end f). */
static void follow_ask(struct log_follow *f) {
        free(f->ask.url);
        if (asprintf(&f->ask.url, "%s&offset=%llu&origin=start", f->base, (unsigned long long)f->offset) < 0) {
                f->ask.url = NULL;
                follow_end(f);
                return;
        }
        f->last = follow_task_over(f);
        if (uv_queue_work(f->s->loop, &f->ask.work, ask_work, follow_asked) < 0) {
                follow_end(f);
                return;
        }
        f->busy = true;
}

/* One piece into the stream (len 0: a heartbeat frame; nothing in a plain stream). */
static int follow_write(struct log_follow *f, const char *data, size_t len, uint64_t end) {
        int r;
        if (!f->framed) {
                r = len ? http_req_stream_write(f->req, data, len) : 0;
        } else {
                _cleanup_free_ char *text = len ? log_frame(data, len, end, f->frame_file) : strdup("{}");
                r = text ? http_req_stream_write(f->req, text, strlen(text)) : -ENOMEM;
        }
        if (r == 0)
                f->wrote_ns = clock_monotonic_ns();
        return r;
}

static void follow_tick(uv_timer_t *t);

/* Write what was taken from the agent; once all of it is in, ask again (or end). */
static void follow_flush(struct log_follow *f) {
        while (f->out_off < f->out_len) {
                size_t n = f->out_len - f->out_off < FOLLOW_PIECE ? f->out_len - f->out_off : FOLLOW_PIECE;
                int r = follow_write(f, f->out + f->out_off, n, f->out_at + n);
                if (r == -EAGAIN || r == -ENOMEM) { /* the client is slow: the agent is not read meanwhile */
                        uv_timer_start(&f->timer, follow_tick, FOLLOW_RETRY_MS, 0);
                        return;
                }
                if (r < 0)
                        return; /* -EPIPE: the client went away, follow_gone comes */
                f->out_off += n;
                f->out_at += n;
        }
        free(f->out);
        f->out = NULL;
        f->out_len = f->out_off = 0;
        /* Two empty asks after the task was over: its last bytes had time to
         * reach the files (the collector writes them after the task exits). */
        f->empty_over = f->last && !f->got ? f->empty_over + 1 : 0;
        if (f->empty_over >= 2) {
                follow_end(f);
                return;
        }
        if (f->framed && !f->got && clock_monotonic_ns() - f->wrote_ns >= FOLLOW_HEARTBEAT_NS &&
            follow_write(f, NULL, 0, 0) == -EPIPE)
                return;
        uv_timer_start(&f->timer, follow_tick, f->more ? 0 : FOLLOW_POLL_MS, 0);
}

static void follow_tick(uv_timer_t *t) {
        struct log_follow *f = t->data;
        if (f->out)
                follow_flush(f);
        else
                follow_ask(f);
}

static void follow_asked(uv_work_t *w, int status) {
        struct log_follow *f = container_of(w, struct log_follow, ask.work);
        struct agent_ask *k = &f->ask;
        f->busy = false;
        if (f->gone) {
                follow_free(f);
                return;
        }
        if (!f->streaming) {
                if (respond_failed(f->req, k, status)) {
                        f->req = NULL;
                        follow_free(f);
                        return;
                }
                int r = http_req_stream_begin(f->req, 200, f->framed ? "application/json" : "text/plain; charset=utf-8",
                                              FOLLOW_BUFFER, follow_gone, f);
                if (r < 0) {
                        http_req_respond_text(f->req, 500, "cannot stream the logs: %s", strerror(-r));
                        f->req = NULL;
                        follow_free(f);
                        return;
                }
                f->streaming = true;
                f->wrote_ns = clock_monotonic_ns();
        } else if (status < 0 || k->rc < 0 || k->resp.status < 200 || k->resp.status >= 300) {
                http_response_clear(&k->resp);
                if (++f->failures >= FOLLOW_FAILURES) {
                        follow_end(f); /* the agent stopped answering (its node went away) */
                        return;
                }
                uv_timer_start(&f->timer, follow_tick, FOLLOW_POLL_MS, 0);
                return;
        }
        f->failures = 0;
        const struct http_response *r = &k->resp;
        f->out_at = r->has_log_start ? r->log_start : r->has_log_end && !r->truncated ? r->log_end - r->len : f->offset;
        f->offset = f->out_at + r->len;
        f->got = r->len > 0;
        f->more = r->truncated;
        f->out_len = r->len;
        f->out_off = 0;
        f->out = TAKE_PTR(k->resp.body);
        http_response_clear(&k->resp);
        follow_flush(f);
}

/* GET .../logs?follow=true: the first ask answers like a one-shot one when it
 * fails; else the stream begins with its bytes. */
static void follow_start(struct route_ctx *c, const struct alloc *a, const struct node *n, const char *base_path,
                         const char *first_query, const char *task, const char *frame_file, bool framed) {
        if (!forwards(c))
                return;
        if (c->s->log_follows >= FOLLOW_MAX) {
                http_req_respond_text(c->req, 503, "%d log follows already relayed by this server; retry later",
                                      FOLLOW_MAX);
                return;
        }
        struct log_follow *f = calloc(1, sizeof(*f));
        if (!f || ask_init(&f->ask, c->s, a, n, "GET", base_path) < 0) {
                free(f);
                http_req_respond_text(c->req, 500, "out of memory");
                return;
        }
        f->base = TAKE_PTR(f->ask.url);
        f->ask.cap = FOLLOW_ASK_BYTES;
        f->ask.timeout_ms = FOLLOW_ASK_TIMEOUT_MS;
        f->s = c->s;
        f->req = c->req;
        f->framed = framed;
        snprintf(f->alloc_id, sizeof(f->alloc_id), "%s", a->id);
        snprintf(f->task, sizeof(f->task), "%s", task);
        snprintf(f->frame_file, sizeof(f->frame_file), "%s", frame_file);
        uv_timer_init(c->s->loop, &f->timer);
        f->timer.data = f;
        c->s->log_follows++;
        if (asprintf(&f->ask.url, "%s%s", f->base, first_query) < 0)
                f->ask.url = NULL;
        if (!f->ask.url || uv_queue_work(c->s->loop, &f->ask.work, ask_work, follow_asked) < 0) {
                http_req_respond_text(c->req, 500, "cannot queue the request to the agent");
                follow_free(f);
                return;
        }
        f->last = follow_task_over(f);
        f->busy = true;
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
        if (!task || !*task || strlen(task) > 128 || query_escape(task, etask, sizeof(etask)) < 0 ||
            query_escape(type ? type : "stdout", etype, sizeof(etype)) < 0 ||
            query_escape(offset ? offset : "0", eoff, sizeof(eoff)) < 0 ||
            query_escape(origin ? origin : "start", eorigin, sizeof(eorigin)) < 0) {
                http_req_respond_text(c->req, 400, "missing or bad task (?task=<name>), type, offset or origin");
                return;
        }
        char path[1200], query[160], frame_file[300];
        snprintf(path, sizeof(path), "/v1/client/fs/logs/%s?task=%s&type=%s&plain=true", a->id, etask, etype);
        snprintf(query, sizeof(query), "&offset=%s&origin=%s", eoff, eorigin);
        /* Nomad answers framed JSON unless ?plain=true */
        bool framed = !query_flag(c, "plain");
        snprintf(frame_file, sizeof(frame_file), "alloc/logs/%.200s.%.16s.0", task, type && *type ? type : "stdout");
        if (query_flag(c, "follow")) {
                follow_start(c, a, n, path, query, task, frame_file, framed);
                return;
        }
        strncat(path, query, sizeof(path) - strlen(path) - 1);
        client_call(c, a, n, "GET", path, true, framed ? frame_file : NULL);
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

/* A restart's or a signal's allocation, node and JSON body, after the
 * alloc-lifecycle check; NULL after an answer. */
static json_t *lifecycle_body(struct route_ctx *c, const struct alloc **ret_a, const struct node **ret_n) {
        *ret_a = client_alloc(c, PERM_NS_ALLOC_LIFECYCLE, ret_n);
        return *ret_a ? client_body(c) : NULL;
}

/* PUT /v1/client/allocation/:id/restart {"TaskName", "AllTasks"} (Nomad's
 * AllocRestartRequest): the node restarts the task, or every running task. */
void h_client_alloc_restart(struct route_ctx *c) {
        const struct node *n = NULL;
        const struct alloc *a = NULL;
        json_t *body = lifecycle_body(c, &a, &n);
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
        client_call(c, a, n, "PUT", path, false, NULL);
}

/* PUT /v1/client/allocation/:id/signal {"Task", "Signal"} (Nomad's
 * AllocSignalRequest): the node sends the signal (default SIGKILL) to the task,
 * or to every running task. */
void h_client_alloc_signal(struct route_ctx *c) {
        const struct node *n = NULL;
        const struct alloc *a = NULL;
        json_t *body = lifecycle_body(c, &a, &n);
        if (!body)
                return;
        char task[800], sig[128];
        bool ok =
            body_str(c, body, "Task", 128, task, sizeof(task)) && body_str(c, body, "Signal", 32, sig, sizeof(sig));
        json_decref(body);
        if (!ok)
                return;
        char path[1024];
        snprintf(path, sizeof(path), "/v1/client/allocation/%s/signal?task=%s&signal=%s", a->id, task,
                 *sig ? sig : "SIGKILL");
        client_call(c, a, n, "PUT", path, false, NULL);
}
