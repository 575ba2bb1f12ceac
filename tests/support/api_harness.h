/* api_harness.h - the HTTP routes and the FSM of drover-server in one process,
 * without sockets, Raft or threads: a fake request feeds controlplane/api/routes.c
 * through http_req.h's ops (a transport beside api/http.c, the libmicrohttpd one;
 * the answers are built by the same http_req.c), and the harness plugs into the
 * routes' api_ops: its propose applies each command to the state store at once
 * through the FSM, as the single voter would. Nothing here replaces a function of
 * the libraries (the unit binary links them whole: a duplicate fails the link).
 * Unit tests and the API fuzz target use it. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct api;
struct api_sched_plan;
struct fsm;
struct heartbeats;
struct http_req;
struct state_store;

struct api_harness {
        struct state_store *state; /* the live state: read it, do not write it */
        struct heartbeats *heartbeats;
        struct fsm *fsm;
        struct api *api;
        bool leader; /* what api_ops.is_leader answers (true) */
        /* api_ops.forward of a follower: NULL = no leader known */
        int (*forward)(struct api_harness *h, struct http_req *req);
        int forwarded; /* requests handed to forward */
        /* api_ops.raft_configuration: NULL = none (a server without Raft membership).
         * Set it before an api_harness_set_*, which re-creates the routes with it. */
        json_t *(*raft_configuration)(struct api_harness *h);
        /* api_ops.raft_self (how the servers describe themselves to each other):
         * NULL = none; used only with raft_configuration, set before the same way. */
        json_t *(*raft_self)(struct api_harness *h);
        const char *token;    /* sent as X-Nomad-Token when not NULL */
        const char *server_secret; /* sent as X-Drover-Server-Secret when not NULL */
        const char *join_token;    /* sent as X-Drover-Join-Token when not NULL */
        const char *content_type;  /* sent as Content-Type when not NULL */
        /* api_ops.sched_plan (a follower's plan in the compact form): NULL = 404 */
        void (*sched_plan)(struct api_harness *h, struct http_req *req, const struct api_sched_plan *p,
                           const void *body, size_t len);
        bool client_verified; /* as if over mutual TLS (http_req_client_verified) */
        /* Non-zero: api_ops.propose applies nothing and calls back with this status, as
         * Raft does for a proposal refused at its flush (API_NOT_PROPOSED) or an entry
         * lost with leadership (-EAGAIN). */
        int propose_fail_status;
        void (*before_apply)(struct api_harness *h, void *arg);
        void *before_apply_arg;
        /* api_ops.offload: false (the default) refuses, so lists are built inline;
         * true keeps each work (at most 16) for api_harness_run_offloaded, as the pool
         * would run it later. */
        bool defer_offload;
        size_t offloaded; /* works kept and not yet run */
        struct harness_offload {
                void (*work)(void *arg);
                void (*done)(void *arg, bool canceled);
                void *arg;
        } offload[16];
};

struct api_reply {
        int status;     /* 0 when the handler answered nothing (a parked blocking query) */
        char *body;     /* malloc'd, NUL-terminated */
        uint64_t index; /* X-Nomad-Index, 0 when none */
        bool leader_known; /* X-Nomad-KnownLeader */
        uint64_t last_contact_ms;
        char next_token[256]; /* X-Nomad-NextToken, "" when none */
};

struct api_harness *api_harness_new(void);
/* The same with ACLs enabled or not (api_config.acl_enabled). */
struct api_harness *api_harness_new_acl(bool acl_enabled);
void api_harness_free(struct api_harness *h);
/* One request; target is "/v1/...?a=b". body may be NULL. A query the handler
 * parks (blocking) is answered at once with the harness's 504. */
void api_harness_request(struct api_harness *h, const char *method, const char *target, const char *body, size_t len,
                         struct api_reply *ret);
void api_reply_clear(struct api_reply *r);
/* A request that may stay unanswered: a blocking query the handler parks, a
 * request it holds. body: NULL or a string that outlives the request. Answered
 * later into *ret (status 0 until then) by api_wake_parked, api_drop_parked...;
 * NULL when out of memory. */
struct api_harness_pending;
struct api_harness_pending *api_harness_begin(struct api_harness *h, const char *method, const char *target,
                                              const char *body, struct api_reply *ret);
bool api_harness_answered(const struct api_harness_pending *p);
/* From now on its client has closed its connection (http_req_client_gone). */
void api_harness_client_leaves(struct api_harness_pending *p);
/* Frees p; one not answered yet is answered first (api_drop_parked: every parked
 * and held request is). Accepts NULL. */
void api_harness_pending_free(struct api_harness_pending *p);
/* The same, for the suites' req() helpers: body NULL or a string; the reply's body
 * handed back parsed (JSON_DECODE_ANY; NULL when not JSON) in ret_json and copied
 * (malloc'd) in ret_text, each when not NULL and the caller's to free. Returns the
 * status (0: parked, see api_reply). */
int api_harness_call(struct api_harness *h, const char *method, const char *target, const char *body,
                     json_t **ret_json, char **ret_text);
/* Re-create the routes with this node registration secret (NULL: none). 0 or -ENOMEM. */
int api_harness_set_node_secret(struct api_harness *h, const char *secret);
/* Re-create the routes with ACLs on or off and this join token (NULL: none). 0 or -ENOMEM. */
int api_harness_set_join_token(struct api_harness *h, bool acl_enabled, const char *join_token);
/* Re-create the routes holding requests that find no leader this long (api_config
 * hold_timeout_ms; 0: none held). A held request is answered 503 "server shutting
 * down" by the api_drop_parked that ends api_harness_request. 0 or -ENOMEM. */
int api_harness_set_hold(struct api_harness *h, int64_t timeout_ms);
/* Re-create the routes with this region, datacenter and name (api_config; NULL:
 * the defaults). 0 or -ENOMEM. */
int api_harness_set_identity(struct api_harness *h, const char *region, const char *datacenter, const char *name);
/* Run the works kept by api_ops.offload (defer_offload), oldest first, each work
 * then its done; what their dones offload meanwhile waits for the next call.
 * Returns how many ran. */
size_t api_harness_run_offloaded(struct api_harness *h);
/* Run fn once, just before the next proposed command is applied: as if another
 * command had been committed ahead of it in the log. */
void api_harness_before_apply(struct api_harness *h, void (*fn)(struct api_harness *h, void *arg), void *arg);

/* A ready raw_exec node of dc1 (4000 MHz, 8192 MB, 50,000 MB of disk) whose SecretID is
 * "s3cret": the body of the suites' PUT /v1/node/register, and its ID. */
#define API_HARNESS_NODE_ID "11111111-2222-3333-4444-555555555555"
#define API_HARNESS_NODE                                                                                               \
        "{\"Node\":{\"ID\":\"" API_HARNESS_NODE_ID "\",\"SecretID\":\"s3cret\",\"Name\":\"n1\","                       \
        "\"Datacenter\":\"dc1\",\"Status\":\"ready\",\"NodeResources\":{\"Cpu\":{\"CpuShares\":4000},"                 \
        "\"Memory\":{\"MemoryMB\":8192},\"Disk\":{\"DiskMB\":50000}},"                                                 \
        "\"Drivers\":{\"raw_exec\":{\"Detected\":true,\"Healthy\":true}},"                                             \
        "\"Attributes\":{\"driver.raw_exec\":\"1\",\"kernel.name\":\"linux\"}}}"

/* The Criterion fixture most API suites share: a fresh harness for each test in
 * the file-static `var`, made by the suite's .init hook and freed by its .fini.
 *     API_HARNESS_SUITE(api_members, s);
 * stands for the static pointer, the two hooks and TestSuite(api_members, ...).
 * Only for files that include <criterion/criterion.h>; a suite whose set-up does
 * more (registers nodes first) writes its own hooks around api_harness_new. */
#define API_HARNESS_SUITE(suite, var)                                                                                  \
        static struct api_harness *var;                                                                                \
        static void suite##_harness_init(void) {                                                                       \
                var = api_harness_new();                                                                               \
                cr_assert_not_null(var, "api_harness_new");                                                            \
        }                                                                                                              \
        static void suite##_harness_fini(void) {                                                                       \
                api_harness_free(var);                                                                                 \
                var = NULL;                                                                                            \
        }                                                                                                              \
        TestSuite(suite, .init = suite##_harness_init, .fini = suite##_harness_fini)
