/* api_harness.c - see api_harness.h. */
#include "tests/support/api_harness.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/error.h"
#include "common/model.h"
#include "controlplane/api/http.h"
#include "controlplane/config.h"
#include "controlplane/leader/heartbeat.h"
#include "controlplane/server.h"
#include "controlplane/state/state.h"

/* ---- the fake request (what api/http.c does over libmicrohttpd) ---------------------- */

struct http_req {
        const char *method;
        char path[2048];
        char query[2048];
        const char *body;
        size_t body_len;
        void *data;
        struct api_reply *reply;
        bool answered;
};

const char *http_req_method(const struct http_req *r) {
        return r->method;
}

const char *http_req_path(const struct http_req *r) {
        return r->path;
}

const char *http_req_query(const struct http_req *r, const char *key) {
        /* values are returned from a small ring so that several may be held at once */
        static char ring[8][512];
        static int next;
        size_t klen = strlen(key);
        for (const char *p = r->query; *p;) {
                const char *amp = strchr(p, '&');
                size_t len = amp ? (size_t)(amp - p) : strlen(p);
                if (len >= klen && strncmp(p, key, klen) == 0 && (len == klen || p[klen] == '=')) {
                        char *v = ring[next++ % 8];
                        size_t vlen = len > klen ? len - klen - 1 : 0;
                        if (vlen >= sizeof(ring[0]))
                                vlen = sizeof(ring[0]) - 1;
                        memcpy(v, p + klen + (len > klen), vlen);
                        v[vlen] = '\0';
                        return v;
                }
                p += len + (amp ? 1 : 0);
        }
        return NULL;
}

const char *http_req_header(const struct http_req *r, const char *key) {
        (void)r, (void)key;
        return NULL;
}

const char *http_req_body(const struct http_req *r, size_t *ret_len) {
        *ret_len = r->body_len;
        return r->body ? r->body : "";
}

void http_req_set_data(struct http_req *r, void *data) {
        r->data = data;
}

void *http_req_data(const struct http_req *r) {
        return r->data;
}

static void answer(struct http_req *r, int status, char *body, uint64_t index) {
        if (r->answered) { /* a handler must answer once */
                fprintf(stderr, "api_harness: %s %s answered twice\n", r->method, r->path);
                abort();
        }
        r->answered = true;
        r->reply->status = status;
        r->reply->body = body;
        r->reply->index = index;
}

void http_req_respond_json(struct http_req *r, int status, json_t *body, uint64_t index) {
        char *s = json_dumps(body, JSON_COMPACT | JSON_ENCODE_ANY);
        json_decref(body);
        answer(r, status, s ? s : strdup(""), index);
}

void http_req_respond_text(struct http_req *r, int status, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        char *s = NULL;
        if (vasprintf(&s, fmt, ap) < 0)
                s = strdup("");
        va_end(ap);
        answer(r, status, s, 0);
}

void http_req_respond_raw(struct http_req *r, int status, const char *content_type, const void *buf, size_t len) {
        (void)content_type;
        char *s = malloc(len + 1);
        if (s) {
                memcpy(s, buf, len);
                s[len] = '\0';
        }
        answer(r, status, s, 0);
}

/* ---- the fake hub (what server.c does around Raft) ------------------------------------- */

static void (*before_apply)(struct server *s, void *arg);
static void *before_apply_arg;

void api_harness_before_apply(void (*fn)(struct server *s, void *arg), void *arg) {
        before_apply = fn;
        before_apply_arg = arg;
}

int server_propose(struct server *s, json_t *cmd, server_apply_cb cb, void *arg) {
        if (before_apply) { /* once: an entry committed just before this one */
                void (*fn)(struct server *, void *) = before_apply;
                before_apply = NULL;
                fn(s, before_apply_arg);
        }
        uint64_t index = state_latest_index(s->state) + 1;
        struct error err = {0};
        /* a rejected command is applied too (Raft moved on); the proposer hears why */
        int r = fsm_apply_command(s, index, cmd, &err);
        json_decref(cmd);
        if (cb)
                cb(arg, r < 0 ? r : 0, index, r < 0 ? err.msg : NULL);
        return 0;
}

void server_state_changed(struct server *s) {
        (void)s;
}

void server_on_evals(struct server *s, struct eval **evals, size_t n) {
        (void)s, (void)evals, (void)n;
}

void server_on_node_ready(struct server *s, const char *computed_class, uint64_t index) {
        (void)s, (void)computed_class, (void)index;
}

void server_on_capacity_freed(struct server *s, const char *computed_class, uint64_t index) {
        (void)s, (void)computed_class, (void)index;
}

/* ---- the harness ----------------------------------------------------------------------- */

struct server *api_harness_new(void) {
        struct server *s = calloc(1, sizeof(*s));
        struct server_config *cfg = calloc(1, sizeof(*cfg));
        if (!s || !cfg) {
                free(s);
                free(cfg);
                return NULL;
        }
        cfg->raft_addr = strdup("127.0.0.1:4647");
        cfg->http_addr = strdup("127.0.0.1:4646");
        cfg->heartbeat_ttl_ms = 10000;
        cfg->heartbeat_grace_ms = 10000;
        s->cfg = cfg;
        s->state = state_create();
        s->heartbeats = heartbeats_create(cfg->heartbeat_ttl_ms * NS_PER_MS, cfg->heartbeat_grace_ms * NS_PER_MS);
        s->leader = true;
        if (!s->state || !s->heartbeats || !cfg->raft_addr || !cfg->http_addr) {
                api_harness_free(s);
                return NULL;
        }
        return s;
}

void api_harness_free(struct server *s) {
        if (!s)
                return;
        api_drop_parked(s);
        state_destroy(s->state);
        heartbeats_destroy(s->heartbeats);
        if (s->cfg) {
                free(s->cfg->raft_addr);
                free(s->cfg->http_addr);
                free(s->cfg);
        }
        free(s);
}

void api_harness_request(struct server *s, const char *method, const char *target, const char *body, size_t len,
                         struct api_reply *ret) {
        memset(ret, 0, sizeof(*ret));
        struct http_req r = {.method = method, .body = body, .body_len = len, .reply = ret};
        const char *q = strchr(target, '?');
        size_t plen = q ? (size_t)(q - target) : strlen(target);
        if (plen >= sizeof(r.path))
                plen = sizeof(r.path) - 1;
        memcpy(r.path, target, plen);
        snprintf(r.query, sizeof(r.query), "%s", q ? q + 1 : "");
        api_handle(s, &r);
        if (!r.answered) {
                /* parked (blocking query): take it out of the list before r goes away */
                api_drop_parked(s);
                if (!r.answered)
                        answer(&r, 504, strdup("parked"), 0);
        }
}

void api_reply_clear(struct api_reply *r) {
        free(r->body);
        memset(r, 0, sizeof(*r));
}
