/* routes.c - the HTTP API in Nomad's paths, on the loop thread: the route table,
 * the dispatcher and the helpers every handler shares (routes_internal.h lists
 * the files that hold the handlers).
 *
 * Reads come straight from the live state store (the loop thread is its only
 * writer, so a handler sees a consistent state). Writes become FSM commands
 * proposed through Raft; the answer goes out once the command is applied.
 * Blocking queries (?index=N&wait=D) park until the table they read moves
 * past N or the wait ends (routes_blocking.c).
 */
#include "controlplane/api/routes.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/error.h"
#include "common/ids.h"
#include "common/json_fast.h"
#include "common/jsonx.h"
#include "common/limits.h"
#include "common/log.h"
#include "common/macros.h"
#include "common/model.h"
#include "common/waitlist.h"
#include "controlplane/api/http.h"
#include "controlplane/api/routes_internal.h"
#include "controlplane/events/events.h"
#include "controlplane/scheduler/scheduler.h"

/* ---- helpers ----------------------------------------------------------------------- */

const char *ns_of(struct route_ctx *c) {
        const char *ns = http_req_query(c->req, "namespace");
        return ns && *ns ? ns : "default";
}

json_t *parse_body(struct route_ctx *c) {
        return parse_body_with(c, LIMIT_JSON_ELEMENTS, LIMIT_JSON_VALUES);
}

json_t *parse_body_with(struct route_ctx *c, size_t max_elements, size_t max_values) {
        size_t len;
        const char *body = http_req_body(c->req, &len);
        struct error err = {0};
        /* bounds before the (costly) decode: common/limits.c */
        if (limits_json_prescan_with(body, len, max_elements, max_values, &err) < 0) {
                http_req_respond_text(c->req, 400, "%s", err.msg);
                return NULL;
        }
        json_error_t je;
        json_t *j = json_fast_loadb(body, len, &je);
        if (!j)
                http_req_respond_text(c->req, 400, "Failed to decode request body: line %d, column %d: %s", je.line,
                                      je.column, je.text);
        return j;
}

const char *leader_address(struct route_ctx *c) {
        return c->s->ops->leader_address ? c->s->ops->leader_address(c->s->data) : NULL;
}

/* Whether a request the forward op could not send may wait for a leader
 * (routes_hold.c): none is known (-ENOTCONN; or its HTTP address is not known
 * yet), or this server was elected and does not lead yet (-EAGAIN: its barrier). */
static bool no_leader_yet(int forward_status) {
        return forward_status == -ENOTCONN || forward_status == -EAGAIN;
}

/* A write: true on the leader. A follower forwards it to the leader (once: a
 * request that was forwarded already is not sent on again) and answers with the
 * leader's answer; with no leader to forward to, the request is held for a retry
 * (routes_hold.c) until its hold time is up, then answered 500. */
bool is_leader_or_fail(struct route_ctx *c) {
        if (c->s->ops->is_leader(c->s->data))
                return true;
        if (!http_req_query(c->req, FORWARDED_ARG)) {
                int r = c->s->ops->forward ? c->s->ops->forward(c->s->data, c->req) : -ENOTCONN;
                if (r == 0 || (no_leader_yet(r) && api_hold_request(c->s, c->req)))
                        return false;
        }
        const char *leader = leader_address(c);
        http_req_respond_text(c->req, 500, "No cluster leader%s%s", leader ? "; leader is " : "", leader ? leader : "");
        return false;
}

/* Answer a write once its command is applied. */
struct pending_write {
        struct api *a;
        struct http_req *req;
        json_t *reply; /* answered with "Index" filled in; NULL = empty object */
        bool fill_eval_index;
};

/* The HTTP status of a write the FSM rejected or Raft failed to commit. */
static int write_error_status(int code) {
        switch (code) {
        case -EINVAL:
                return 400;
        case -EACCES:
        case -EPERM:
                return 403;
        case -ENOENT:
                return 404;
        case -EEXIST:
                return 409;
        default:
                return 500;
        }
}

/* A write this server stopped leading before it proposed: held for the next leader
 * (routes_hold.c), or answered 500 with what a follower's forward holds on too. */
static void not_proposed(struct api *a, struct http_req *req) {
        if (api_hold_request(a, req))
                return;
        http_req_respond_text(req, 500, "No cluster leader (this server stopped leading before it proposed the change; "
                                        "nothing was changed)");
}

void on_write_applied(void *arg, int status, uint64_t index, const char *msg) {
        struct pending_write *pw = arg;
        if (status == API_NOT_PROPOSED) {
                not_proposed(pw->a, pw->req);
                if (pw->reply)
                        json_decref(pw->reply);
        } else if (status < 0) {
                http_req_respond_text(pw->req, write_error_status(status), "%s", msg && *msg ? msg : strerror(-status));
                if (pw->reply)
                        json_decref(pw->reply);
        } else {
                json_t *r = pw->reply ? pw->reply : json_object();
                json_object_set_new(r, "Index", json_integer((json_int_t)index));
                if (pw->fill_eval_index) {
                        json_object_set_new(r, "EvalCreateIndex", json_integer((json_int_t)index));
                        json_object_set_new(r, "JobModifyIndex", json_integer((json_int_t)index));
                }
                /* Placeholders a handler left at 0 ("NodeModifyIndex" of a node update) take the
                 * index the command was applied at. */
                static const char *const placeholders[] = {"EvalCreateIndex", "NodeModifyIndex", "JobCreateIndex"};
                for (size_t i = 0; i < ARRAY_SIZE(placeholders); i++) {
                        json_t *v = json_object_get(r, placeholders[i]);
                        if (json_is_integer(v) && json_integer_value(v) == 0)
                                json_object_set_new(r, placeholders[i], json_integer((json_int_t)index));
                }
                /* The query metadata Nomad's write responses carry in their body: the write
                 * was applied by this server as leader. */
                json_object_set_new(r, "KnownLeader", json_true());
                json_object_set_new(r, "LastContact", json_integer(0));
                http_req_respond_json(pw->req, 200, r, index);
        }
        free(pw);
}

struct pending_write *pending_write_new(struct route_ctx *c, json_t *reply, bool eval_index) {
        struct pending_write *pw = calloc(1, sizeof(*pw));
        if (!pw) {
                if (reply)
                        json_decref(reply);
                http_req_respond_text(c->req, 500, "out of memory");
                return NULL;
        }
        pw->a = c->s;
        pw->req = c->req;
        pw->reply = reply;
        pw->fill_eval_index = eval_index;
        return pw;
}

void propose(struct route_ctx *c, json_t *cmd, json_t *reply, bool eval_index) {
        struct pending_write *pw = pending_write_new(c, reply, eval_index);
        if (!pw) {
                json_decref(cmd);
                return;
        }
        int r = c->s->ops->propose(c->s->data, cmd, on_write_applied, pw);
        if (r < 0) {
                if (reply)
                        json_decref(reply);
                free(pw);
                /* not the leader any more (Raft says so before the server's tick does):
                 * nothing was proposed, so the request may wait for the next leader */
                if (r == -EAGAIN)
                        not_proposed(c->s, c->req);
                else
                        http_req_respond_text(c->req, 500, "cannot propose the change: %s", strerror(-r));
        }
}

bool query_flag(struct route_ctx *c, const char *name) {
        const char *v = http_req_query(c->req, name);
        return v && (strcmp(v, "true") == 0 || strcmp(v, "1") == 0);
}

struct eval *new_eval(const struct job *j, const char *triggered_by, const char *node_id) {
        struct eval *e = eval_new();
        char id[ID_BUF];
        id_generate(id);
        e->id = strdup(id);
        e->namespace = strdup(j->namespace ? j->namespace : "default");
        e->priority = j->priority;
        e->type = j->type;
        e->triggered_by = strdup(triggered_by);
        e->job_id = strdup(j->id);
        e->node_id = node_id ? strdup(node_id) : NULL;
        e->status = EVAL_PENDING;
        e->create_time = e->modify_time = clock_now_ns();
        return e;
}

/* ---- the route table ------------------------------------------------------------------ */

/* First match of the pattern wins (so a fixed segment, "node/register", goes
 * before a parameter, "node/:id"); rows with the same pattern and different
 * methods sit together. A path that matches a pattern but none of its methods
 * is answered 405. */
const struct route api_routes[] = {
    /* events (a streamed answer) */
    {M_GET, "event/stream", h_event_stream, PERM_NS_READ_JOB},
    /* jobs */
    {M_GET, "jobs", h_jobs_list, PERM_NS_READ_JOB},
    {M_WRITE, "jobs", h_jobs_register, PERM_NS_SUBMIT_JOB},
    {M_WRITE, "jobs/parse", h_jobs_parse, PERM_NS_PARSE_JOB},
    {M_WRITE, "validate/job", h_validate_job, PERM_NS_READ_JOB},
    {M_GET, "job/:id", h_job_read, PERM_NS_READ_JOB},
    {M_WRITE, "job/:id", h_job_register, PERM_NS_SUBMIT_JOB},
    {M_DELETE, "job/:id", h_job_deregister, PERM_NS_SUBMIT_JOB},
    {M_GET, "job/:id/summary", h_job_summary, PERM_NS_READ_JOB},
    {M_GET, "job/:id/allocations", h_job_allocations, PERM_NS_READ_JOB},
    {M_GET, "job/:id/evaluations", h_job_evaluations, PERM_NS_READ_JOB},
    {M_WRITE, "job/:id/plan", h_job_plan, PERM_NS_SUBMIT_JOB},
    {M_WRITE, "job/:id/evaluate", h_job_evaluate, PERM_NS_SUBMIT_JOB},
    {M_GET, "job/:id/versions", h_job_versions, PERM_NS_READ_JOB},
    {M_WRITE, "job/:id/revert", h_job_revert, PERM_NS_SUBMIT_JOB},
    {M_WRITE, "job/:id/periodic/force", h_job_periodic_force, PERM_NS_SUBMIT_JOB},
    {M_WRITE, "job/:id/dispatch", h_job_dispatch, PERM_NS_SUBMIT_JOB},
    {M_GET, "job/:id/scale", h_job_scale_status, PERM_NS_READ_JOB},
    {M_WRITE, "job/:id/scale", h_job_scale, PERM_NS_SUBMIT_JOB},
    {M_GET, "scaling/policies", h_scaling_policies, PERM_NS_READ_JOB},
    {M_GET, "job/:id/deployments", h_job_deployments, PERM_NS_READ_JOB},
    {M_GET, "job/:id/deployment", h_job_deployment, PERM_NS_READ_JOB},
    /* deployments (routes_deployments.c) */
    {M_GET, "deployments", h_deployments_list, PERM_NS_READ_JOB},
    {M_GET, "deployment/allocations/:id", h_deployment_allocations, PERM_NS_READ_JOB},
    {M_WRITE, "deployment/promote/:id", h_deployment_promote, PERM_NS_SUBMIT_JOB},
    {M_WRITE, "deployment/fail/:id", h_deployment_fail, PERM_NS_SUBMIT_JOB},
    {M_WRITE, "deployment/pause/:id", h_deployment_pause, PERM_NS_SUBMIT_JOB},
    {M_GET, "deployment/:id", h_deployment_read, PERM_NS_READ_JOB},
    /* nodes */
    {M_GET, "nodes", h_nodes_list, PERM_NODE_READ},
    {M_WRITE, "node/register", h_node_register, PERM_NODE_SECRET},
    {M_GET, "node/:id", h_node_read, PERM_NODE_READ},
    {M_WRITE, "node/:id/heartbeat", h_node_heartbeat, PERM_NODE_SECRET},
    {M_GET, "node/:id/allocations", h_node_allocations, PERM_NODE_SECRET_OR_READ},
    {M_WRITE, "node/:id/allocations", h_node_alloc_update, PERM_NODE_SECRET},
    {M_WRITE, "node/:id/allocations/batch", h_node_allocations_batch, PERM_NODE_SECRET},
    {M_WRITE, "node/:id/eligibility", h_node_eligibility, PERM_NODE_WRITE},
    {M_WRITE, "node/:id/drain", h_node_drain, PERM_NODE_WRITE},
    {M_WRITE, "node/:id/evaluate", h_node_evaluate, PERM_NODE_WRITE},
    {M_WRITE | M_DELETE, "node/:id/purge", h_node_purge, PERM_NODE_WRITE},
    /* allocations and evaluations */
    {M_GET, "allocations", h_allocs_list, PERM_NS_READ_JOB},
    {M_GET, "allocation/:id", h_alloc_read, PERM_NS_READ_JOB},
    {M_GET, "alloc/:id", h_alloc_read, PERM_NS_READ_JOB},
    {M_WRITE, "allocation/:id/stop", h_alloc_stop, PERM_NS_ALLOC_LIFECYCLE},
    {M_GET, "evaluations", h_evals_list, PERM_NS_READ_JOB},
    {M_DELETE, "evaluations", h_evals_delete, PERM_MANAGEMENT},
    {M_GET, "evaluation/:id", h_eval_read, PERM_NS_READ_JOB},
    {M_GET, "evaluation/:id/allocations", h_eval_allocations, PERM_NS_READ_JOB},
    /* client: forwarded to the allocation's node (routes_client.c) */
    {M_GET, "client/allocation/:id/stats", h_client_alloc_stats, PERM_NS_READ_JOB},
    {M_GET, "client/fs/logs/:alloc", h_client_fs_logs, PERM_NS_READ_LOGS},
    {M_WRITE, "client/allocation/:id/restart", h_client_alloc_restart, PERM_NS_ALLOC_LIFECYCLE},
    {M_WRITE, "client/allocation/:id/signal", h_client_alloc_signal, PERM_NS_ALLOC_LIFECYCLE},
    /* status */
    {M_GET, "status/leader", h_status_leader, PERM_NONE},
    {M_GET, "status/peers", h_status_peers, PERM_NONE},
    {M_GET, "regions", h_regions, PERM_NONE},
    /* agent */
    {M_GET, "agent/self", h_agent_self, PERM_AGENT_READ},
    {M_GET, "agent/members", h_agent_members, PERM_NODE_READ},
    {M_GET, "agent/servers", h_agent_servers, PERM_AGENT_READ},
    {M_GET, "agent/health", h_agent_health, PERM_NONE},
    {M_GET, "agent/schedulers", h_agent_schedulers, PERM_AGENT_READ},
    {M_GET, "metrics", h_metrics, PERM_NONE},
    {M_WRITE, "search", h_search, PERM_NS_READ_JOB},
    {M_WRITE, "search/fuzzy", h_search_fuzzy, PERM_NS_READ_JOB},
    /* operator */
    {M_GET, "operator/raft/configuration", h_raft_configuration, PERM_OPERATOR_READ},
    {M_WRITE, "operator/raft/join", h_raft_join, PERM_JOIN_WRITE},
    {M_DELETE, "operator/raft/peer", h_raft_peer_remove, PERM_OPERATOR_WRITE},
    {M_GET, "operator/scheduler/configuration", h_sched_config_get, PERM_OPERATOR_READ},
    {M_WRITE, "operator/scheduler/configuration", h_sched_config_put, PERM_OPERATOR_WRITE},
    {M_GET, "operator/snapshot", h_operator_snapshot_get, PERM_MANAGEMENT},
    {M_WRITE, "operator/snapshot", h_operator_snapshot_put, PERM_MANAGEMENT},
    {M_WRITE, "system/gc", h_system_gc, PERM_MANAGEMENT},
    /* ACLs (routes_acl_endpoints.c); bootstrap works once, for anyone */
    {M_WRITE, "acl/bootstrap", h_acl_bootstrap, PERM_NONE},
    {M_GET, "acl/policies", h_acl_policies_list, PERM_MANAGEMENT},
    {M_GET, "acl/policy/:name", h_acl_policy_read, PERM_MANAGEMENT},
    {M_WRITE, "acl/policy/:name", h_acl_policy_put, PERM_MANAGEMENT},
    {M_DELETE, "acl/policy/:name", h_acl_policy_delete, PERM_MANAGEMENT},
    {M_GET, "acl/tokens", h_acl_tokens_list, PERM_MANAGEMENT},
    {M_WRITE, "acl/token", h_acl_token_create, PERM_MANAGEMENT},
    {M_GET, "acl/token/self", h_acl_token_self, PERM_ACL_TOKEN},
    {M_GET, "acl/token/:accessor", h_acl_token_read, PERM_MANAGEMENT},
    {M_DELETE, "acl/token/:accessor", h_acl_token_delete, PERM_MANAGEMENT},
    {M_GET, "acl/roles", h_acl_roles_list, PERM_MANAGEMENT},
    {M_WRITE, "acl/role", h_acl_role_create, PERM_MANAGEMENT},
    {M_GET, "acl/role/name/:name", h_acl_role_read_by_name, PERM_MANAGEMENT},
    {M_GET, "acl/role/:id", h_acl_role_read, PERM_MANAGEMENT},
    {M_WRITE, "acl/role/:id", h_acl_role_update, PERM_MANAGEMENT},
    {M_DELETE, "acl/role/:id", h_acl_role_delete, PERM_MANAGEMENT},
    /* server to server: a follower's scheduler workers (worker.h) present the
     * servers' secret; a joining server's probe (raft/cluster.c) the join token */
    {M_WRITE, "internal/sched/:what", h_internal_sched, PERM_SERVER},
    {M_GET, "internal/raft/self", h_internal_raft_self, PERM_JOIN_READ},
    /* a server leaving on SIGTERM (raft/leave.c) asks the leader to remove it */
    {M_DELETE, "internal/raft/peer", h_raft_peer_remove, PERM_SERVER},
};
const size_t api_routes_count = sizeof(api_routes) / sizeof(api_routes[0]);

/* ---- dispatch ------------------------------------------------------------------------- */

/* Reads of the state are consistent by default, as Nomad's: a follower forwards
 * them to the leader and answers with the leader's answer (blocking queries too).
 * With ?stale any server answers from its own state. Status, membership and
 * internal paths are always answered locally. True when the request was answered
 * here (forwarded, or refused for want of a leader). */
static bool forward_consistent_read(struct api *s, struct http_req *req, const char *top) {
        static const char *const state_reads[] = {"jobs",       "job",   "nodes",       "node",      "allocations",
                                                  "allocation", "alloc", "evaluations", "evaluation", "deployments", "deployment"};
        if (strcmp(http_req_method(req), "GET") != 0 || s->ops->is_leader(s->data) ||
            http_req_has_query(req, "stale") || http_req_has_query(req, FORWARDED_ARG))
                return false;
        bool state_read = false;
        for (size_t i = 0; i < ARRAY_SIZE(state_reads); i++)
                state_read |= strcmp(top, state_reads[i]) == 0;
        if (!state_read)
                return false;
        int r = s->ops->forward ? s->ops->forward(s->data, req) : -ENOTCONN;
        if (r == 0 || (no_leader_yet(r) && api_hold_request(s, req)))
                return true;
        const char *leader = s->ops->leader_address ? s->ops->leader_address(s->data) : NULL;
        http_req_respond_text(req, 500, "No cluster leader%s%s (add ?stale to read this server's state)",
                              leader ? "; leader is " : "", leader ? leader : "");
        return true;
}

static unsigned method_bit(const char *m) {
        static const struct {
                const char *name;
                unsigned bit;
        } methods[] = {{"GET", M_GET}, {"PUT", M_PUT}, {"POST", M_POST}, {"DELETE", M_DELETE}};
        for (size_t i = 0; i < ARRAY_SIZE(methods); i++)
                if (strcmp(m, methods[i].name) == 0)
                        return methods[i].bit;
        return 0;
}

/* Whether the path's segments match the pattern; fills c->param on a match. */
static bool pattern_match(const char *pattern, struct route_ctx *c) {
        const char *params[ROUTE_MAX_PARAMS] = {0};
        int np = 0, i = 0;
        const char *p = pattern;
        while (*p) {
                size_t len = strcspn(p, "/");
                if (i >= c->nseg)
                        return false;
                if (*p == ':') {
                        if (np == ROUTE_MAX_PARAMS)
                                return false;
                        params[np++] = c->seg[i];
                } else if (strlen(c->seg[i]) != len || strncmp(p, c->seg[i], len) != 0) {
                        return false;
                }
                i++;
                p += len;
                if (*p == '/')
                        p++;
        }
        if (i != c->nseg)
                return false;
        memcpy(c->param, params, sizeof(params));
        return true;
}

static void allowed_methods(const char *pattern, char *buf, size_t size) {
        unsigned bits = 0;
        for (size_t i = 0; i < api_routes_count; i++)
                if (strcmp(api_routes[i].pattern, pattern) == 0)
                        bits |= api_routes[i].methods;
        buf[0] = '\0';
        static const char *const names[] = {"GET", "PUT", "POST", "DELETE"};
        for (unsigned b = 0; b < ARRAY_SIZE(names); b++)
                if (bits & (1u << b))
                        snprintf(buf + strlen(buf), size - strlen(buf), "%s%s", buf[0] ? ", " : "", names[b]);
}

/* The row for this request: NULL after a 404 or 405. */
static const struct route *route_find(struct route_ctx *c, const char *method) {
        const struct route *first = NULL;
        unsigned bit = method_bit(method);
        for (size_t i = 0; i < api_routes_count; i++) {
                const struct route *r = &api_routes[i];
                if (first && strcmp(r->pattern, first->pattern) != 0)
                        continue;
                if (!first && !pattern_match(r->pattern, c))
                        continue;
                first = r;
                if (r->methods & bit)
                        return r;
        }
        const char *path = http_req_path(c->req);
        if (!first) {
                http_req_respond_text(c->req, 404, "Invalid URL path: \"%s\"", path);
                return NULL;
        }
        char allowed[64];
        allowed_methods(first->pattern, allowed, sizeof(allowed));
        http_req_respond_text(c->req, 405, "Invalid method: %s not allowed on %s (allowed: %s)", method, path, allowed);
        return NULL;
}

/* s copied, or fallback when s is NULL or "". */
static char *strdup_or(const char *s, const char *fallback) {
        return strdup(s && *s ? s : fallback);
}

struct api *api_create(const struct api_config *cfg) {
        struct api *a = calloc(1, sizeof(*a));
        if (!a)
                return NULL;
        char host[256] = "";
        if (!cfg->name || !*cfg->name) /* Nomad's default name: the host's */
                (void)gethostname(host, sizeof(host) - 1);
        a->state = cfg->state;
        a->heartbeats = cfg->heartbeats;
        a->raft_addr = strdup(cfg->raft_addr ? cfg->raft_addr : "");
        a->region = strdup_or(cfg->region, "global");
        a->datacenter = strdup_or(cfg->datacenter, "dc1");
        a->name = strdup_or(cfg->name, *host ? host : "localhost");
        a->node_secret = strdup(cfg->node_secret ? cfg->node_secret : "");
        a->join_token = strdup(cfg->join_token ? cfg->join_token : "");
        a->ops = cfg->ops;
        a->data = cfg->data;
        a->acl_enabled = cfg->acl_enabled;
        a->agents_https = cfg->agents_https;
        a->loop = cfg->loop;
        a->started_ns = clock_now_ns();
        a->events = events_create(0, 0, 0);
        a->num_schedulers = cfg->num_schedulers > 0 && cfg->num_schedulers <= 1024 ? cfg->num_schedulers : 0;
        a->worker_ids = a->num_schedulers ? calloc((size_t)a->num_schedulers, sizeof(*a->worker_ids)) : NULL;
        for (int i = 0; a->worker_ids && i < a->num_schedulers; i++)
                id_generate(a->worker_ids[i]);
        a->parked = waitlist_create(SIZE_MAX); /* the listeners' max_parked bound them */
        int hold_r = api_hold_init(a, cfg->hold_timeout_ms);
        if (!a->raft_addr || !a->region || !a->datacenter || !a->name || !a->node_secret || !a->join_token ||
            !a->events || (a->num_schedulers && !a->worker_ids) || !a->parked || hold_r < 0) {
                api_hold_free(a);
                waitlist_destroy(a->parked);
                free(a->worker_ids);
                events_destroy(a->events);
                free(a->raft_addr);
                free(a->region);
                free(a->datacenter);
                free(a->name);
                free(a->node_secret);
                free(a->join_token);
                free(a);
                return NULL;
        }
        return a;
}

struct api *api_destroy(struct api *a) {
        if (!a)
                return NULL;
        api_drop_parked(a);
        api_events_close(a);
        api_hold_free(a);
        waitlist_destroy(a->parked);
        free(a->worker_ids);
        free(a->raft_addr);
        free(a->region);
        free(a->datacenter);
        free(a->name);
        free(a->node_secret);
        if (a->join_token)
                explicit_bzero(a->join_token, strlen(a->join_token));
        free(a->join_token);
        free(a);
        return NULL;
}

void api_handle(void *data, struct http_req *req) {
        struct api *s = data;
        struct route_ctx c = {.s = s, .req = req};
        const char *path = http_req_path(req);
        if (strncmp(path, "/v1/", 4) != 0) {
                http_req_respond_text(req, 404, "Invalid URL path: \"%s\" (the API lives under /v1/)", path);
                return;
        }
        if (s->ops->leader_info) {
                bool known = false;
                uint64_t contact = 0;
                s->ops->leader_info(s->data, &known, &contact);
                http_req_set_leader(req, known, contact);
        } else {
                http_req_set_leader(req, true, 0);
        }
        _cleanup_free_ char *buf = strdup(path + 4);
        if (!buf) {
                http_req_respond_text(req, 500, "out of memory");
                return;
        }
        for (char *p = buf, *save = NULL, *tok; (tok = strtok_r(p, "/", &save)); p = NULL) {
                if (c.nseg == ROUTE_MAX_SEGS) {
                        http_req_respond_text(req, 404, "path too deep");
                        return;
                }
                c.seg[c.nseg++] = tok;
        }
        /* A periodic or dispatched child's ID has a '/' ("web/periodic-1700000000"):
         * job/<parent>/<periodic-N|dispatch-N-X>/... is one ID (the tokens are
         * adjacent in buf: put the '/' back and close the gap). */
        if (c.nseg >= 3 && strcmp(c.seg[0], "job") == 0 &&
            (strncmp(c.seg[2], "periodic-", 9) == 0 || strncmp(c.seg[2], "dispatch-", 9) == 0) &&
            c.seg[2] == c.seg[1] + strlen(c.seg[1]) + 1) {
                ((char *)c.seg[1])[strlen(c.seg[1])] = '/';
                for (int i = 2; i + 1 < c.nseg; i++)
                        c.seg[i] = c.seg[i + 1];
                c.nseg--;
        }
        c.route = route_find(&c, http_req_method(req));
        if (!c.route)
                return;
        /* One region per cluster (this server's -region): a request for another has
         * nowhere to go. */
        const char *region = http_req_query(req, "region");
        if (region && *region && strcmp(region, s->region) != 0) {
                http_req_respond_text(req, 500, "No path to region");
                return;
        }
        struct error err = {0};
        const struct api_credentials cr = {.acl_enabled = s->acl_enabled,
                                           .st = *s->state,
                                           .token = http_req_header(req, "X-Nomad-Token"),
                                           .server_secret = http_req_header(req, API_SERVER_SECRET_HEADER),
                                           .join_token = http_req_header(req, API_JOIN_TOKEN_HEADER),
                                           .join_token_conf = s->join_token};
        if (api_authorize_request(&cr, c.route->perm, ns_of(&c), &err) < 0) {
                s->denied++;
                http_req_respond_text(req, 403, "%s", err.msg);
                return;
        }
        if (forward_consistent_read(s, req, c.seg[0]))
                return;
        s->requests++;
        c.route->fn(&c);
}

void api_scheduler_env(const struct api *a, struct scheduler_env *env, struct sched_preemption *ret_preemption) {
        const struct state_sched_config *sc = state_sched_config(*a->state);
        *ret_preemption = (struct sched_preemption){.system = sc->preempt_system,
                                                    .sysbatch = sc->preempt_sysbatch,
                                                    .service = sc->preempt_service,
                                                    .batch = sc->preempt_batch};
        env->algorithm = (enum sched_algorithm)sc->algorithm;
        env->preemption = ret_preemption;
}
