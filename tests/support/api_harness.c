/* api_harness.c - see api_harness.h. */
#include "tests/support/api_harness.h"

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/clock.h"
#include "common/error.h"
#include "common/model.h"
#include "controlplane/api/http_req.h"
#include "controlplane/api/routes.h"
#include "controlplane/leader/heartbeat.h"
#include "controlplane/raft/fsm.h"
#include "controlplane/state/state.h"

/* ---- the fake request: a transport of http_req.h, as api/http.c is over libmicrohttpd ---- */

struct harness_req {
        struct http_req req; /* first: what the routes see */
        char path[2048];
        char query[2048];
        struct api_reply *reply;
        bool answered;
        bool gone; /* http_req_client_gone (api_harness_client_leaves) */
        const char *token;
        const char *server_secret, *join_token, *content_type;
};

_Static_assert(offsetof(struct harness_req, req) == 0, "struct http_req comes first");

static const struct harness_req *harness_req_of(const struct http_req *r) {
        return (const struct harness_req *)r;
}

/* The next value of key in the query from *pos on ("" for a bare key), copied into
 * out (cut to size bytes) and percent-decoded as libmicrohttpd does ('+' is a space)
 * when out is not NULL; *pos moves past it. False when key is not there. */
static bool query_next(const char **pos, const char *key, char *out, size_t size) {
        size_t klen = strlen(key);
        for (const char *p = *pos; *p;) {
                const char *amp = strchr(p, '&');
                size_t len = amp ? (size_t)(amp - p) : strlen(p);
                const char *next = p + len + (amp ? 1 : 0);
                if (len < klen || strncmp(p, key, klen) != 0 || (len != klen && p[klen] != '=')) {
                        p = next;
                        continue;
                }
                *pos = next;
                if (!out)
                        return true;
                size_t vlen = len > klen ? len - klen - 1 : 0;
                if (vlen >= size)
                        vlen = size - 1;
                memcpy(out, p + klen + (len > klen), vlen);
                out[vlen] = '\0';
                char *o = out;
                for (const char *i = out; *i; i++) {
                        unsigned hex;
                        if (*i == '%' && i[1] && i[2] && sscanf(i + 1, "%2x", &hex) == 1) {
                                *o++ = (char)hex;
                                i += 2;
                        } else {
                                *o++ = *i == '+' ? ' ' : *i;
                        }
                }
                *o = '\0';
                return true;
        }
        return false;
}

static const char *fake_query(const struct http_req *r, const char *key) {
        /* values are returned from a small ring so that several may be held at once */
        static char ring[8][512];
        static int next;
        const char *pos = harness_req_of(r)->query;
        char *v = ring[next % 8];
        if (!query_next(&pos, key, v, sizeof(ring[0])))
                return NULL;
        next++;
        return v;
}

static size_t fake_query_values(const struct http_req *r, const char *key, const char **ret, size_t max) {
        static char ring[32][512];
        static int next;
        const char *pos = harness_req_of(r)->query;
        size_t n = 0;
        for (; n < max && query_next(&pos, key, ring[next % 32], sizeof(ring[0])); n++)
                ret[n] = ring[next++ % 32];
        while (query_next(&pos, key, NULL, 0)) /* the count goes on past max */
                n++;
        return n;
}

static bool fake_has_query(const struct http_req *r, const char *key) {
        const char *pos = harness_req_of(r)->query;
        return query_next(&pos, key, NULL, 0);
}

static char *fake_query_string(const struct http_req *r) {
        return strdup(harness_req_of(r)->query);
}

static const char *fake_header(const struct http_req *req, const char *key) {
        const struct harness_req *r = harness_req_of(req);
        if (strcasecmp(key, "X-Nomad-Token") == 0)
                return r->token;
        if (strcasecmp(key, "X-Drover-Server-Secret") == 0)
                return r->server_secret;
        if (strcasecmp(key, "X-Drover-Join-Token") == 0)
                return r->join_token;
        if (strcasecmp(key, "Content-Type") == 0)
                return r->content_type;
        return NULL;
}

static void fake_answer(struct http_req *req, int status, char *buf, size_t len, const char *content_type,
                        uint64_t index) {
        struct harness_req *r = (struct harness_req *)req;
        (void)len, (void)content_type;
        if (r->answered) { /* a handler must answer once */
                fprintf(stderr, "api_harness: %s %s answered twice\n", req->method, r->path);
                abort();
        }
        r->answered = true;
        r->reply->status = status;
        r->reply->body = buf ? buf : strdup("");
        r->reply->index = index;
        r->reply->leader_known = req->leader_known;
        r->reply->last_contact_ms = req->last_contact_ms;
        snprintf(r->reply->next_token, sizeof(r->reply->next_token), "%s", req->next_token);
}

static bool fake_client_gone(const struct http_req *r) {
        return harness_req_of(r)->gone;
}

/* No socket: the client leaves only when a test says so; streamed answers need the
 * real listener (tests/unit/http, tests/integration): the fake request lives only
 * for one api_harness_request call, or until api_harness_pending_free (no stream_*). */
static const struct http_req_ops fake_req_ops = {
    .query = fake_query,
    .query_values = fake_query_values,
    .has_query = fake_has_query,
    .query_string = fake_query_string,
    .header = fake_header,
    .client_gone = fake_client_gone,
    .answer = fake_answer,
};

/* ---- the server's side of the routes and the FSM, as callbacks -------------------------- */

/* What the single voter does: apply each command at once, at the next index. */
static int harness_propose(void *data, json_t *cmd, api_apply_cb cb, void *arg) {
        struct api_harness *h = data;
        if (h->before_apply) { /* once: an entry committed just before this one */
                void (*fn)(struct api_harness *, void *) = h->before_apply;
                h->before_apply = NULL;
                fn(h, h->before_apply_arg);
        }
        if (h->propose_fail_status) {
                json_decref(cmd);
                if (cb)
                        cb(arg, h->propose_fail_status, 0, "refused by the harness");
                return 0;
        }
        uint64_t index = state_latest_index(h->state) + 1;
        struct error err = {0};
        /* a rejected command is applied too (Raft moved on); the proposer hears why */
        int r = fsm_apply_command(h->fsm, index, cmd, &err);
        json_decref(cmd);
        if (cb)
                cb(arg, r < 0 ? r : 0, index, r < 0 ? err.msg : NULL);
        return 0;
}

static bool harness_is_leader(void *data) {
        return ((struct api_harness *)data)->leader;
}

static const char *harness_leader_address(void *data) {
        struct api_harness *h = data;
        return h->leader ? "127.0.0.1:4647" : NULL;
}

static int harness_forward(void *data, struct http_req *req) {
        struct api_harness *h = data;
        if (!h->forward)
                return -ENOTCONN;
        h->forwarded++;
        return h->forward(h, req);
}

static void harness_leader_info(void *data, bool *ret_known, uint64_t *ret_last_contact_ms) {
        struct api_harness *h = data;
        *ret_known = h->leader || h->forward;
        *ret_last_contact_ms = h->leader ? 0 : 42;
}

static json_t *harness_raft_configuration(void *data) {
        struct api_harness *h = data;
        return h->raft_configuration ? h->raft_configuration(h) : NULL;
}

static json_t *harness_raft_self(void *data) {
        struct api_harness *h = data;
        return h->raft_self ? h->raft_self(h) : NULL;
}

static void harness_sched_plan(void *data, struct http_req *req, const struct api_sched_plan *p, const void *body,
                               size_t len) {
        struct api_harness *h = data;
        if (h->sched_plan)
                h->sched_plan(h, req, p, body, len);
        else
                http_req_respond_text(req, 404, "the harness runs no scheduler RPC");
}

static int harness_offload(void *data, void (*work)(void *), void (*done)(void *, bool), void *arg) {
        struct api_harness *h = data;
        if (!h->defer_offload)
                return -EOPNOTSUPP;
        if (h->offloaded == sizeof(h->offload) / sizeof(h->offload[0]))
                return -EAGAIN;
        h->offload[h->offloaded++] = (struct harness_offload){work, done, arg};
        return 0;
}

size_t api_harness_run_offloaded(struct api_harness *h) {
        size_t n = h->offloaded;
        struct harness_offload now[sizeof(h->offload) / sizeof(h->offload[0])];
        memcpy(now, h->offload, n * sizeof(now[0]));
        h->offloaded = 0;
        for (size_t i = 0; i < n; i++) {
                now[i].work(now[i].arg);
                now[i].done(now[i].arg, false);
        }
        return n;
}

#define HARNESS_API_OPS                                                                                                \
        .forward = harness_forward, .leader_info = harness_leader_info, .propose = harness_propose,                    \
        .is_leader = harness_is_leader, .leader_address = harness_leader_address, .sched_plan = harness_sched_plan,    \
        .offload = harness_offload

static const struct api_ops harness_api_ops = {HARNESS_API_OPS};
/* The same with a Raft membership (h->raft_configuration set). */
static const struct api_ops harness_raft_api_ops = {HARNESS_API_OPS, .raft_configuration = harness_raft_configuration};
/* The same with raft/self (h->raft_self set too). */
static const struct api_ops harness_raft_self_api_ops = {
    HARNESS_API_OPS, .raft_configuration = harness_raft_configuration, .raft_self = harness_raft_self};

void api_harness_before_apply(struct api_harness *h, void (*fn)(struct api_harness *h, void *arg), void *arg) {
        h->before_apply = fn;
        h->before_apply_arg = arg;
}

/* ---- the harness ----------------------------------------------------------------------- */

struct api_harness *api_harness_new(void) {
        return api_harness_new_acl(false);
}

struct api_harness *api_harness_new_acl(bool acl_enabled) {
        struct api_harness *h = calloc(1, sizeof(*h));
        if (!h)
                return NULL;
        h->leader = true;
        h->state = state_create();
        h->heartbeats = heartbeats_create(10000 * NS_PER_MS, 10000 * NS_PER_MS);
        h->fsm = fsm_create(&h->state, NULL, h);
        struct api_config ac = {.state = &h->state,
                                .heartbeats = h->heartbeats,
                                .raft_addr = "127.0.0.1:4647",
                                .ops = &harness_api_ops,
                                .data = h,
                                .acl_enabled = acl_enabled};
        h->api = api_create(&ac);
        if (!h->state || !h->heartbeats || !h->fsm || !h->api) {
                api_harness_free(h);
                return NULL;
        }
        return h;
}

/* New routes over the same state (the old ones destroyed) with ac's secrets, ACLs
 * and identity; 0 or -ENOMEM. */
static int harness_recreate(struct api_harness *h, struct api_config ac) {
        ac.state = &h->state;
        ac.heartbeats = h->heartbeats;
        ac.raft_addr = "127.0.0.1:4647";
        ac.ops = !h->raft_configuration ? &harness_api_ops
                 : h->raft_self         ? &harness_raft_self_api_ops
                                        : &harness_raft_api_ops;
        ac.data = h;
        struct api *a = api_create(&ac);
        if (!a)
                return -ENOMEM;
        api_destroy(h->api);
        h->api = a;
        return 0;
}

int api_harness_set_node_secret(struct api_harness *h, const char *secret) {
        return harness_recreate(h, (struct api_config){.node_secret = secret});
}

int api_harness_set_join_token(struct api_harness *h, bool acl_enabled, const char *join_token) {
        return harness_recreate(h, (struct api_config){.acl_enabled = acl_enabled, .join_token = join_token});
}

int api_harness_set_hold(struct api_harness *h, int64_t timeout_ms) {
        return harness_recreate(h, (struct api_config){.hold_timeout_ms = timeout_ms});
}

int api_harness_set_identity(struct api_harness *h, const char *region, const char *datacenter, const char *name) {
        return harness_recreate(h, (struct api_config){.region = region, .datacenter = datacenter, .name = name});
}

void api_harness_free(struct api_harness *h) {
        if (!h)
                return;
        api_destroy(h->api);
        fsm_destroy(h->fsm);
        state_destroy(h->state);
        heartbeats_destroy(h->heartbeats);
        free(h);
}

/* r as api_harness_request's fake request of target, answering into ret. */
static void harness_req_init(struct api_harness *h, struct harness_req *r, const char *method, const char *target,
                             const char *body, size_t len, struct api_reply *ret) {
        memset(ret, 0, sizeof(*ret));
        *r = (struct harness_req){.req = {.ops = &fake_req_ops,
                                          .method = method,
                                          .body = body,
                                          .body_len = len,
                                          .verified = h->client_verified},
                                  .reply = ret,
                                  .token = h->token,
                                  .server_secret = h->server_secret,
                                  .content_type = h->content_type,
                                  .join_token = h->join_token};
        r->req.path = r->path;
        const char *q = strchr(target, '?');
        size_t plen = q ? (size_t)(q - target) : strlen(target);
        if (plen >= sizeof(r->path))
                plen = sizeof(r->path) - 1;
        memcpy(r->path, target, plen);
        snprintf(r->query, sizeof(r->query), "%s", q ? q + 1 : "");
}

void api_harness_request(struct api_harness *h, const char *method, const char *target, const char *body, size_t len,
                         struct api_reply *ret) {
        struct harness_req r;
        harness_req_init(h, &r, method, target, body, len, ret);
        api_handle(h->api, &r.req);
        if (!r.answered) {
                /* parked (blocking query): take it out of the list before r goes away */
                api_drop_parked(h->api);
                if (!r.answered)
                        fake_answer(&r.req, 504, strdup("parked"), 6, "text/plain", 0);
        }
}

struct api_harness_pending {
        struct harness_req r;
        struct api_harness *h;
};

struct api_harness_pending *api_harness_begin(struct api_harness *h, const char *method, const char *target,
                                              const char *body, struct api_reply *ret) {
        struct api_harness_pending *p = calloc(1, sizeof(*p));
        if (!p)
                return NULL;
        p->h = h;
        harness_req_init(h, &p->r, method, target, body, body ? strlen(body) : 0, ret);
        api_handle(h->api, &p->r.req);
        return p;
}

bool api_harness_answered(const struct api_harness_pending *p) {
        return p->r.answered;
}

void api_harness_client_leaves(struct api_harness_pending *p) {
        p->r.gone = true;
}

void api_harness_pending_free(struct api_harness_pending *p) {
        if (!p)
                return;
        if (!p->r.answered)
                api_drop_parked(p->h->api); /* out of the lists before p goes away */
        free(p);
}

void api_reply_clear(struct api_reply *r) {
        free(r->body);
        memset(r, 0, sizeof(*r));
}

int api_harness_call(struct api_harness *h, const char *method, const char *target, const char *body,
                     json_t **ret_json, char **ret_text) {
        struct api_reply r;
        api_harness_request(h, method, target, body, body ? strlen(body) : 0, &r);
        const char *text = r.body ? r.body : "";
        if (ret_json)
                *ret_json = json_loads(text, JSON_DECODE_ANY, NULL);
        if (ret_text)
                *ret_text = strdup(text);
        int status = r.status;
        api_reply_clear(&r);
        return status;
}
