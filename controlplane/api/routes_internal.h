/* routes_internal.h - what the files of controlplane/api/ share: the api context,
 * the per-request context, the route table's types and the helpers every
 * handler uses. Not for callers outside controlplane/api/ (they use routes.h).
 *
 * Files:
 *   routes.c              the route table, dispatch (404/405), the permission
 *                         check call, api_create/destroy, shared helpers
 *   routes_acl.c          api_authorize(): the one permission check
 *   routes_blocking.c     blocking queries (?index=N&wait=D)
 *   routes_jobs.c         /v1/jobs, /v1/job/:id/..., /v1/validate/job
 *   job_fields.c          the field names of Nomad's job JSON (unknown ones refused)
 *   routes_job_kinds.c    /v1/job/:id/{versions,revert,periodic/force,dispatch}
 *   routes_nodes.c        /v1/nodes, /v1/node/:id/...
 *   routes_allocs_evals.c /v1/allocations, /v1/allocation/:id, /v1/evaluations, ...
 *   routes_status.c       /v1/status/{leader,peers}, /v1/regions
 *   routes_operator.c     /v1/operator/raft/..., /v1/system/gc, /v1/internal/raft/self
 *   routes_agent.c        /v1/agent/..., /v1/metrics, /v1/search
 *   routes_events.c       /v1/event/stream and the events applied commands produce
 *   routes_acl_endpoints.c /v1/acl/...: bootstrap, policies, tokens
 *   routes_client.c       /v1/client/...: forwarded to the allocation's node agent
 *   routes_scaling.c      /v1/job/:id/scale, /v1/scaling/policies
 *   routes_list.c         lists built off the loop; ?filter, ?per_page, ?next_token
 *   routes_deployments.c  /v1/deployments, /v1/deployment/..., the deployment watcher tick
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/dlist.h"
#include "common/ids.h"
#include "controlplane/api/routes.h"
#include "controlplane/api/routes_acl.h"
#include "controlplane/state/state.h"

/* What /v1/agent/self reports (the CLI's `drover version` says the same). */
#define API_VERSION "0.1.0"

struct eval;
struct events;
struct hold;
struct job;
struct waitlist;

struct api {
        struct state_store *const *state;
        struct heartbeats *heartbeats;
        char *raft_addr;
        char *region;     /* this server's (and its cluster's: no federation) */
        char *datacenter; /* this server's */
        char *name;       /* this server's; its member is "<name>.<region>" */
        char *node_secret; /* "" = registration needs no secret */
        char *join_token;  /* "" = none configured (routes_acl.h, PERM_JOIN_*) */
        const struct api_ops *ops;
        void *data;
        bool acl_enabled;
        bool agents_https; /* routes_client.c speaks https:// to agents */
        struct uv_loop_s *loop; /* requests to agents (routes_client.c); may be NULL */
        struct waitlist *parked;     /* blocking queries waiting for a newer index (routes_blocking.c) */
        int64_t parked_checked_ns;   /* monotonic: their clients last checked for having gone */
        uint64_t parked_gone;        /* released because their client went away (/v1/metrics) */
        int64_t started_ns;    /* wall clock at api_create */
        uint64_t requests;     /* answered by a handler (for /v1/metrics) */
        uint64_t denied;       /* refused by api_authorize */
        int drain_inflight;    /* drainer commands proposed and not yet applied */
        int64_t drain_last_ns; /* monotonic time of the last drainer step */
        int deploy_inflight;    /* deployment watcher commands proposed and not yet applied */
        int64_t deploy_last_ns; /* monotonic time of the last watcher step */
        struct events *events; /* the event stream's ring and subscribers; NULL once shut down */
        int log_follows;       /* ?follow=true log streams relayed from agents (routes_client.c) */
        struct hold *hold;       /* requests held for want of a leader (routes_hold.c); NULL: none are */
        int64_t hold_timeout_ns; /* how long one is held at most */
        uint64_t held_total;     /* requests held (once each), since start (/v1/metrics) */
        uint64_t hold_refused;   /* not held because API_HOLD_MAX were (answered at once) */
        uint64_t hold_gone;      /* released because their client went away */
        int lists_building;         /* lists on the pool (routes_list.c, at most LIST_BUILDS_MAX) */
        struct dlist lists_waiting; /* lists waiting for a place there, oldest first */
        int num_schedulers;                /* this server's scheduler workers (/v1/agent/schedulers) */
        char (*worker_ids)[ID_BUF];        /* their IDs, made at api_create */
};

/* Leader: move node drains on (controlplane/leader/drainer.h); at most every 250 ms,
 * never while its previous commands are still in flight. Called from api_wake_parked. */
void api_drain_tick(struct api *s);
/* Leader: move deployments on (controlplane/leader/deploy_watcher.h), like api_drain_tick. */
void api_deploy_tick(struct api *s);

#define ROUTE_MAX_PARAMS 2
#define ROUTE_MAX_SEGS 8

struct route;

struct route_ctx {
        struct api *s;
        struct http_req *req;
        const struct route *route;
        const char *param[ROUTE_MAX_PARAMS]; /* the :params of the pattern, in order */
        const char *seg[ROUTE_MAX_SEGS];     /* path segments after /v1/ */
        int nseg;
};

typedef void (*route_fn)(struct route_ctx *c);

/* Methods, as a bit set. */
enum {
        M_GET = 1u << 0,
        M_PUT = 1u << 1,
        M_POST = 1u << 2,
        M_DELETE = 1u << 3,
};
#define M_WRITE (M_PUT | M_POST)

struct route {
        unsigned methods;    /* M_* */
        const char *pattern; /* after /v1/: "job/:id/plan" (":" marks a parameter) */
        route_fn fn;
        enum api_perm perm; /* checked by api_authorize before fn runs */
};

/* The live state. */
static inline struct state_store *ctx_state(const struct route_ctx *c) {
        return *c->s->state;
}

/* ---- helpers (routes.c) ---- */
const char *ns_of(struct route_ctx *c);
/* The body decoded, or NULL after a 400. */
json_t *parse_body(struct route_ctx *c);
/* parse_body with other bounds on the elements of one array or object and on the
 * values in all (common/limits.h limits_json_prescan_with). */
json_t *parse_body_with(struct route_ctx *c, size_t max_elements, size_t max_values);
const char *leader_address(struct route_ctx *c);
/* True on the leader; a follower forwards the request (or answers 500). */
bool is_leader_or_fail(struct route_ctx *c);
/* Propose cmd (stolen); answer reply (stolen, NULL = {}) with Index once applied. */
void propose(struct route_ctx *c, json_t *cmd, json_t *reply, bool eval_index);
/* Answer a write once applied; for ops that apply commands of their own (gc). */
struct pending_write;
struct pending_write *pending_write_new(struct route_ctx *c, json_t *reply, bool eval_index);
void on_write_applied(void *arg, int status, uint64_t index, const char *msg);
struct eval *new_eval(const struct job *j, const char *triggered_by, const char *node_id);
/* The query flag ?name=true|1 (false when absent). */
bool query_flag(struct route_ctx *c, const char *name);
/* The route table (routes.c), for the dispatcher and its tests. */
extern const struct route api_routes[];
extern const size_t api_routes_count;

/* ---- blocking queries (routes_blocking.c) ---- */
/* The X-Nomad-Index of a read of `table` (never 0). */
uint64_t query_index(const struct route_ctx *c, enum state_table table);
/* True when the request was parked or answered 400 for a bad ?index/?wait. */
bool block_until_newer(struct route_ctx *c, enum state_table table);
/* The same for a read whose index is index_of(state) (a table outside enum state_table). */
bool block_until_newer_fn(struct route_ctx *c, uint64_t (*index_of)(const struct state_store *st));
int64_t parse_wait_ns(const char *w);

/* ---- requests held while there is no leader (routes_hold.c) ---- */
#define API_HOLD_MAX 1024           /* held at once; beyond, answered at once */
#define API_HOLD_BACKOFF_MIN_MS 100 /* the first retry after 50-100 ms */
#define API_HOLD_BACKOFF_MAX_MS 800 /* later ones doubling up to 400-800 ms */
/* Holding on with timeout_ms > 0 (0: off, every request answered at once). 0 or -1
 * (out of memory). */
int api_hold_init(struct api *a, int64_t timeout_ms);
/* Answer every held request 503 "server shutting down" (api_drop_parked). */
void api_hold_drop(struct api *a);
/* The same, and free the list (api_destroy). */
void api_hold_free(struct api *a);
/* Run the held requests that are due (api_wake_parked). */
void api_hold_wake(struct api *a);

/* ---- lists (routes_list.c) ---- */
/* What a list's build reads: on libuv's pool, so nothing of the request or the api,
 * only these (copies of the request's values, or NULL) and st. */
struct list_ctx {
        struct state_store *st; /* a snapshot of the state (or the live one, inline) */
        const char *prefix;     /* ?prefix */
        const char *ns;         /* the request's namespace (ns_of) */
        const char *key;        /* what the path names: a job's or an evaluation's ID */
        const char *arg;        /* one more value the route filters on (?job of the scaling policies) */
        json_t *out;            /* the array to fill */
};
typedef void (*list_build_fn)(struct list_ctx *l);
/* Lists built on the pool at once; more wait in order (routes_list.c). */
#define LIST_BUILDS_MAX 4
/* Answer the list build makes (key and arg copied; for a job's list, its namespace
 * is the request's) with ?filter, the order by ID and ?per_page / ?next_token
 * applied, built and serialised off the loop when the server can (api_ops.offload);
 * 400 at once for a bad filter or per_page. index: the answer's X-Nomad-Index. */
void list_offload(struct route_ctx *c, list_build_fn build, const char *key, const char *arg, uint64_t index);
/* Answer the lists still waiting for the pool 503 (api_drop_parked). */
void api_drop_lists(struct api *a);

/* ---- list helpers (routes_allocs_evals.c) ---- */
struct alloc;
struct node;
bool add_alloc_stub(void *arg, const struct alloc *a);
bool add_alloc_full(void *arg, const struct alloc *a);
bool add_eval(void *arg, const struct eval *e);

/* ---- handlers ---- */
/* routes_client.c */
void h_client_alloc_stats(struct route_ctx *c);
void h_client_fs_logs(struct route_ctx *c);
void h_client_alloc_restart(struct route_ctx *c);
void h_client_alloc_signal(struct route_ctx *c);
/* routes_jobs.c */
void h_jobs_list(struct route_ctx *c);
void h_jobs_register(struct route_ctx *c);
void h_jobs_parse(struct route_ctx *c);
void h_validate_job(struct route_ctx *c);
void h_job_read(struct route_ctx *c);
void h_job_register(struct route_ctx *c);
void h_job_deregister(struct route_ctx *c);
void h_job_summary(struct route_ctx *c);
void h_job_allocations(struct route_ctx *c);
void h_job_evaluations(struct route_ctx *c);
void h_job_plan(struct route_ctx *c);
void h_job_evaluate(struct route_ctx *c);
json_t *job_summary_json(struct state_store *st, const struct job *j);
/* routes_jobs.c, for every write that registers a job (register, revert, dispatch,
 * periodic force, scale): true on the leader while the scheduler configuration
 * accepts registrations; false once answered (forwarded, or 400). */
bool job_write_allowed(struct route_ctx *c);
/* Propose JobRegister of j (the caller keeps j) with eval e, or a new one triggered
 * by trigger when e is NULL (none for a periodic or parameterized parent, as Nomad);
 * reply (stolen) gets the eval's EvalID and is the answer once applied. */
void job_register_propose(struct route_ctx *c, const struct job *j, const struct eval *e, const char *trigger,
                          json_t *reply);
/* routes_job_kinds.c */
void h_job_versions(struct route_ctx *c);
void h_job_revert(struct route_ctx *c);
void h_job_periodic_force(struct route_ctx *c);
void h_job_dispatch(struct route_ctx *c);
/* routes_deployments.c */
void h_deployments_list(struct route_ctx *c);
void h_deployment_read(struct route_ctx *c);
void h_deployment_allocations(struct route_ctx *c);
void h_deployment_promote(struct route_ctx *c);
void h_deployment_fail(struct route_ctx *c);
void h_deployment_pause(struct route_ctx *c);
void h_job_deployments(struct route_ctx *c);
void h_job_deployment(struct route_ctx *c);
/* routes_nodes.c */
/* A node as the API shows it: no SecretID, the drain in Nomad's shape. */
json_t *node_public_json(const struct node *n);
void h_nodes_list(struct route_ctx *c);
void h_node_register(struct route_ctx *c);
void h_node_read(struct route_ctx *c);
void h_node_heartbeat(struct route_ctx *c);
void h_node_alloc_update(struct route_ctx *c);
void h_node_allocations(struct route_ctx *c);
/* At most this many IDs per POST /v1/node/:id/allocations/batch. */
#define ALLOC_BATCH_MAX 1024
void h_node_allocations_batch(struct route_ctx *c);
void h_node_eligibility(struct route_ctx *c);
void h_node_evaluate(struct route_ctx *c);
void h_node_purge(struct route_ctx *c);
void h_node_drain(struct route_ctx *c);
/* One node-update eval (JSON) per job with an allocation on the node and per system job. */
json_t *node_job_evals(struct route_ctx *c, const char *node_id);
/* routes_allocs_evals.c */
void h_allocs_list(struct route_ctx *c);
void h_alloc_read(struct route_ctx *c);
void h_alloc_stop(struct route_ctx *c);
void h_evals_list(struct route_ctx *c);
void h_evals_delete(struct route_ctx *c);
void h_eval_read(struct route_ctx *c);
void h_eval_allocations(struct route_ctx *c);
/* routes_status.c */
void h_status_leader(struct route_ctx *c);
void h_status_peers(struct route_ctx *c);
void h_regions(struct route_ctx *c);
/* routes_operator.c */
void h_raft_configuration(struct route_ctx *c);
void h_raft_join(struct route_ctx *c);
void h_raft_peer_remove(struct route_ctx *c);
void h_system_gc(struct route_ctx *c);
void h_operator_snapshot_get(struct route_ctx *c);
void h_operator_snapshot_put(struct route_ctx *c);
void h_internal_sched(struct route_ctx *c);
void h_internal_raft_self(struct route_ctx *c);
void h_sched_config_get(struct route_ctx *c);
void h_sched_config_put(struct route_ctx *c);
/* routes_agent.c */
void h_agent_self(struct route_ctx *c);
void h_agent_members(struct route_ctx *c);
void h_agent_servers(struct route_ctx *c);
void h_agent_health(struct route_ctx *c);
void h_metrics(struct route_ctx *c);
void h_search(struct route_ctx *c);
void h_search_fuzzy(struct route_ctx *c);
/* routes_events.c */
void h_event_stream(struct route_ctx *c);
/* Heartbeats and retries of full streams (from api_wake_parked). */
void api_events_tick(struct api *a, int64_t now_ns);
/* Ends every stream ("server shutting down") and frees the events; idempotent. */
void api_events_close(struct api *a);
/* routes_scaling.c (events: controlplane/state/state_scaling.h) */
void h_job_scale_status(struct route_ctx *c);
void h_job_scale(struct route_ctx *c);
void h_scaling_policies(struct route_ctx *c);
void h_agent_schedulers(struct route_ctx *c);
/* routes_acl_endpoints.c */
void h_acl_bootstrap(struct route_ctx *c);
void h_acl_policies_list(struct route_ctx *c);
void h_acl_policy_read(struct route_ctx *c);
void h_acl_policy_put(struct route_ctx *c);
void h_acl_policy_delete(struct route_ctx *c);
void h_acl_tokens_list(struct route_ctx *c);
void h_acl_token_create(struct route_ctx *c);
void h_acl_token_self(struct route_ctx *c);
void h_acl_token_read(struct route_ctx *c);
void h_acl_token_delete(struct route_ctx *c);
void h_acl_roles_list(struct route_ctx *c);
void h_acl_role_create(struct route_ctx *c);
void h_acl_role_read(struct route_ctx *c);
void h_acl_role_read_by_name(struct route_ctx *c);
void h_acl_role_update(struct route_ctx *c);
void h_acl_role_delete(struct route_ctx *c);
