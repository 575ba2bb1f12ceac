/* routes.h - the HTTP API in Nomad's paths (routes.c), as an opaque context.
 *
 * Reads come from the live state store; writes become FSM commands handed to
 * ops->propose, and the answer goes out once the command is applied. Whatever
 * else the routes need from the server (leadership, Raft membership) comes
 * through the ops table given at creation, so that tests plug in their own. */
#pragma once

#include <errno.h>
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The query argument a follower adds to a request it forwards to the leader. */
#define FORWARDED_ARG "drover-forwarded"

struct api;
struct error;
struct heartbeats;
struct http_req;
struct state_store;
struct uv_loop_s;

/* status 0: applied at index; negative: rejected by the state store or not
 * committed, msg says why (the signature of raft_node_apply_cb). */
typedef void (*api_apply_cb)(void *arg, int status, uint64_t index, const char *msg);
/* An api_apply_cb's status when the command never reached Raft: propose queued it
 * while this server led, and Raft refused it at the flush at the end of that loop
 * turn (leadership lost in between). Nothing was proposed, so a write may be held
 * and run again for the next leader. Not -EAGAIN: that status also comes for an
 * entry appended and then lost with leadership, which may still commit and must
 * not be sent again. */
#define API_NOT_PROPOSED (-ENOTCONN)

/* A membership change finished: status 0, or negative with msg. */
typedef void (*api_change_cb)(void *arg, int status, const char *msg);

/* The query of POST /v1/internal/sched/plan?token=T&priority=P&all_at_once=0|1&snapshot_index=N
 * (a follower's worker, worker.c), checked by the route: token non-empty, at most
 * API_SCHED_TOKEN_MAX printable bytes; priority 0-1000; snapshot_index a uint64. */
#define API_SCHED_TOKEN_MAX 128
struct api_sched_plan {
        const char *token;
        int priority;
        bool all_at_once;
        uint64_t snapshot_index;
};

struct api_ops {
        /* Propose a command (stolen) through Raft; cb after it is applied locally.
         * Negative when it could not even be proposed (not the leader: -EAGAIN). */
        int (*propose)(void *data, json_t *cmd, api_apply_cb cb, void *arg);
        /* Whether this server is the leader now. */
        bool (*is_leader)(void *data);
        /* The leader's Raft address, or NULL when none is known. */
        const char *(*leader_address)(void *data);
        /* The rest may be NULL (a server without Raft membership: the harness). */
        /* GET /v1/internal/raft/self: {ID, Address, HTTPAddr, Configured, IsLeader,
         * State, LastContact, LastIndex, CommitIndex, Servers}. */
        json_t *(*raft_self)(void *data);
        /* GET /v1/operator/raft/configuration in Nomad's shape. */
        json_t *(*raft_configuration)(void *data);
        /* Leader: add a server (by Raft ID and address) as a voter. */
        int (*raft_join)(void *data, uint64_t id, const char *raft_addr, const char *http_addr, api_change_cb cb,
                         void *arg);
        /* Leader: remove the server with this ID (0: the one at address). */
        int (*raft_remove)(void *data, uint64_t id, const char *raft_addr, api_change_cb cb, void *arg);
        /* Follower: send this request to the leader and answer it with the leader's
         * answer. 0 when under way; negative when it cannot (no leader known). */
        int (*forward)(void *data, struct http_req *req);
        /* Leader: collect garbage now, whatever its age (PUT /v1/system/gc); cb after
         * the GC command is applied (at once when there is nothing to collect). */
        int (*gc)(void *data, api_apply_cb cb, void *arg);
        /* GET /v1/operator/snapshot: answer req with the whole state as a snapshot
         * document (api_snapshot_document), serialised off the loop. NULL: the
         * route serialises it itself. */
        void (*snapshot_save)(void *data, struct http_req *req);
        /* PUT /v1/operator/snapshot on the leader: decode and check body (len bytes,
         * the request's, valid until req is answered) off the loop
         * (api_snapshot_restore_command), propose the command, answer req
         * (api_snapshot_restored, api_snapshot_restore_refused). NULL: the route does
         * it on the loop. */
        void (*snapshot_restore)(void *data, struct http_req *req, const char *body, size_t len);
        /* POST /v1/internal/sched/<what> (dequeue, ack, eval, plan): the leader's side of
         * the other servers' scheduler workers; answers req itself. NULL: 404. */
        void (*sched_rpc)(void *data, const char *what, struct http_req *req, const json_t *body);
        /* POST /v1/internal/sched/plan with a PLAN_CODEC_CONTENT_TYPE body: a follower's
         * plan as the compact form of its result (plan/codec.h; len bytes, at most the
         * server's request body limit, not yet decoded), its other fields from the
         * query, checked (api_sched_plan); answers req itself. NULL: 404. */
        void (*sched_plan)(void *data, struct http_req *req, const struct api_sched_plan *p, const void *body,
                           size_t len);
        /* Whether a leader is known, and ms since it was last heard (0 on the leader). */
        void (*leader_info)(void *data, bool *ret_known, uint64_t *ret_last_contact_ms);
        /* Run work(arg) on libuv's pool, then done(arg, canceled) on the loop, before the
         * server stops. 0, or negative (neither runs). NULL: lists are built inline. */
        int (*offload)(void *data, void (*work)(void *arg), void (*done)(void *arg, bool canceled), void *arg);
};

struct api_config {
        struct state_store *const *state; /* slot of the live state (a snapshot restore replaces it) */
        struct heartbeats *heartbeats;    /* node TTLs, reset on register and heartbeat */
        const char *raft_addr;            /* this server's Raft address (copied) */
        /* what this server answers for itself (copied): /v1/regions, /v1/agent/self and
         * members, the ?region= check. NULL or "": "global", "dc1", the host name */
        const char *region;
        const char *datacenter;
        const char *name;
        const char *node_secret;          /* node registration secret (copied); NULL or "": none asked */
        const char *join_token;           /* servers' join token (copied); NULL or "": none (routes_acl.h) */
        const struct api_ops *ops;
        void *data;       /* passed to every op */
        bool acl_enabled; /* false (Nomad's default): every route is allowed (routes_acl.h) */
        struct uv_loop_s *loop; /* for requests to agents (routes_client.c); NULL: they answer 501 */
        bool agents_https;      /* agents' endpoints are HTTPS (this server's -tls-http: TLS is cluster-wide) */
        int num_schedulers; /* this server's scheduler workers, for /v1/agent/schedulers (0: none) */
        /* how long a request that finds no leader is held for a retry before it is
         * answered 500 "No cluster leader" (Nomad's rpc_hold_timeout); 0: answered at once */
        int64_t hold_timeout_ms;
};

struct api *api_create(const struct api_config *cfg);
/* Answers parked blocking queries 503 and frees. */
struct api *api_destroy(struct api *a);

/* The scheduler configuration of the live state (PUT /v1/operator/scheduler/
 * configuration, replicated by the SchedulerConfig command) as a scheduler_env: algorithm and preemption (pointing into
 * *ret_preemption). Other env fields are left alone. */
struct scheduler_env;
struct sched_preemption;
void api_scheduler_env(const struct api *a, struct scheduler_env *env, struct sched_preemption *ret_preemption);
/* The document of GET /v1/operator/snapshot, which PUT /v1/operator/snapshot takes
 * back: {"Drover": "snapshot", "Version": 1, "Index": index, "State": <state_save>}.
 * Takes state (the state_save JSON), less the servers' secret (state_acl.h). */
json_t *api_snapshot_document(json_t *state, uint64_t index);

/* PUT /v1/operator/snapshot takes a body of up to LIMIT_SNAPSHOT_BODY (common/limits.h)
 * from a caller the route lets in (a management token when ACLs are on): the
 * http_server_opts large_body (any thread) and body_limit (loop; data is the struct
 * api) of the listener. */
bool api_large_body(const char *method, const char *path);
size_t api_body_limit(void *data, struct http_req *req);
/* Any thread: the StateRestore command of a snapshot document (body, len bytes),
 * decoded, checked and restored once into a throw-away state: 0 and *ret_cmd, or
 * -EINVAL (not a snapshot, or a state the store refuses; answered 400), -E2BIG,
 * -ENOMEM, with err saying why. Linear in len. */
int api_snapshot_restore_command(const char *body, size_t len, json_t **ret_cmd, struct error *err);
/* Answer a restore: refused before it was proposed (status negative, msg), or the
 * api_apply_cb of its command (arg: the http_req). */
void api_snapshot_restore_refused(struct http_req *req, int status, const char *msg);
void api_snapshot_restored(void *arg, int status, uint64_t index, const char *msg);

/* The http_handler_fn of the server: data is the struct api. */
void api_handle(void *data, struct http_req *req);
/* Re-run parked blocking queries whose index moved, answer timed-out ones. On the
 * leader it also moves node drains on (the server calls it every tick and after
 * each applied command). */
void api_wake_parked(struct api *a, bool timeouts_only);
/* The FSM applied cmd at index (or, cmd NULL, the compact plan of plan_eval_id):
 * the event stream's events for it (routes_events.c). Loop thread. */
void api_events_applied(struct api *a, uint64_t index, const json_t *cmd, const char *plan_eval_id);
/* Answers parked blocking queries and held requests 503 "server shutting down". */
void api_drop_parked(struct api *a);

/* A request this server got from its client (not one forwarded to it) that could
 * not reach a leader, and surely did not (a forward whose connection could not be
 * made, or that the other server refused with 500 "No cluster leader"): hold it
 * for a retry through the routes, as the routes hold one that finds no leader.
 * True when held (the caller then leaves req alone); false when holding is off, its
 * hold time is up, or API_HOLD_MAX are held: the caller answers it. Loop thread. */
bool api_hold_request(struct api *a, struct http_req *req);
/* The leader changed (this server's view of it): every held request is retried
 * at the next api_wake_parked. O(held), no request runs here. */
void api_hold_kick(struct api *a);
/* Requests held now. */
size_t api_hold_count(const struct api *a);
