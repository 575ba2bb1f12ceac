/* routes.c - the HTTP API in Nomad's paths, on the loop thread.
 *
 * Reads come straight from the live state store (the loop thread is its only
 * writer, so a handler sees a consistent state). Writes become FSM commands
 * proposed through Raft; the answer goes out once the command is applied.
 * Blocking queries (?index=N&wait=D) park until the table they read moves
 * past N or the wait ends.
 */
#include "controlplane/api/routes.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc_token.h"
#include "common/clock.h"
#include "common/error.h"
#include "common/ids.h"
#include "common/jsonx.h"
#include "common/limits.h"
#include "common/log.h"
#include "common/macros.h"
#include "common/model.h"
#include "controlplane/api/http.h"
#include "controlplane/leader/heartbeat.h"
#include "controlplane/scheduler/scheduler.h"
#include "controlplane/state/state.h"

#define MAX_SEGS 8

struct api {
        struct state_store *const *state;
        struct heartbeats *heartbeats;
        char *raft_addr;
        const struct api_ops *ops;
        void *data;
        struct parked_query *parked; /* blocking queries waiting for a newer index */
};

struct route_ctx {
        struct api *s;
        struct http_req *req;
        const char *seg[MAX_SEGS]; /* path segments after /v1/ */
        int nseg;
        char *buf; /* backing storage for seg[] */
};

/* ---- blocking queries ----------------------------------------------------------- */

/* The X-Nomad-Index of a read of `table`: never 0, as in Nomad, so that a client that
 * blocks on the index it got waits instead of spinning on an empty table. */
static uint64_t query_index(const struct route_ctx *c, enum state_table table) {
        uint64_t i = state_table_index((*c->s->state), table);
        return i ? i : 1;
}

struct parked_query {
        struct http_req *req;
        enum state_table table;
        uint64_t min_index;
        int64_t deadline_ns; /* monotonic */
        bool expired;
        struct parked_query *next;
};

/* ?wait=: "5s", "500ms", "2m", "1h" (a bare number is seconds); missing: Nomad's 5
 * minutes; capped at 10 minutes. -1 when malformed. */
static int64_t parse_wait_ns(const char *w) {
        if (!w || !*w)
                return 300LL * NS_PER_SEC;
        char *end;
        errno = 0;
        double v = strtod(w, &end);
        if (errno || end == w || !isfinite(v) || v < 0) /* "nan", "inf": refused before any cast */
                return -1;
        int64_t mult;
        if (!*end || strcmp(end, "s") == 0)
                mult = NS_PER_SEC;
        else if (strcmp(end, "ms") == 0)
                mult = NS_PER_MS;
        else if (strcmp(end, "m") == 0)
                mult = 60 * NS_PER_SEC;
        else if (strcmp(end, "h") == 0)
                mult = 3600 * NS_PER_SEC;
        else
                return -1;
        double ns = v * (double)mult;
        return ns > 600.0 * NS_PER_SEC ? 600LL * NS_PER_SEC : (int64_t)ns;
}

/* True when the request was parked (the handler returns and runs again later) or
 * answered 400 for a malformed ?index or ?wait. */
static bool block_until_newer(struct route_ctx *c, enum state_table table) {
        const char *idx = http_req_query(c->req, "index");
        if (!idx)
                return false;
        struct parked_query *pq = http_req_data(c->req);
        char *end;
        errno = 0;
        uint64_t min = strtoull(idx, &end, 10);
        if (!pq && (errno || end == idx || *end || *idx == '-')) {
                http_req_respond_text(c->req, 400, "Invalid index: \"%s\" (expected a Raft index, 0 or more)", idx);
                return true;
        }
        int64_t wait_ns = parse_wait_ns(http_req_query(c->req, "wait"));
        if (!pq && wait_ns < 0) {
                http_req_respond_text(c->req, 400, "Invalid wait time: \"%s\" (expected a duration such as 5s or 500ms)",
                                      http_req_query(c->req, "wait"));
                return true;
        }
        if (pq) {
                /* Re-run after a wake: answer if expired or moved, else stay parked. */
                if (pq->expired || state_table_index((*c->s->state), table) > pq->min_index) {
                        http_req_set_data(c->req, NULL);
                        free(pq);
                        return false;
                }
                pq->next = c->s->parked;
                c->s->parked = pq;
                return true;
        }
        if (min == 0 || state_table_index((*c->s->state), table) > min)
                return false;
        pq = calloc(1, sizeof(*pq));
        if (!pq)
                return false;
        pq->req = c->req;
        pq->table = table;
        pq->min_index = min;
        pq->deadline_ns = clock_monotonic_ns() + wait_ns;
        http_req_set_data(c->req, pq);
        pq->next = c->s->parked;
        c->s->parked = pq;
        return true;
}

void api_wake_parked(struct api *s, bool timeouts_only) {
        if (!s)
                return;
        struct parked_query *list = s->parked;
        s->parked = NULL;
        int64_t now = clock_monotonic_ns();
        while (list) {
                struct parked_query *pq = list;
                list = pq->next;
                pq->next = NULL;
                pq->expired = now >= pq->deadline_ns;
                bool moved = state_table_index(*s->state, pq->table) > pq->min_index;
                if (pq->expired || (!timeouts_only && moved)) {
                        api_handle(s, pq->req); /* re-parks itself if nothing is due */
                } else {
                        pq->next = s->parked;
                        s->parked = pq;
                }
        }
}

void api_drop_parked(struct api *s) {
        if (!s)
                return;
        while (s->parked) {
                struct parked_query *pq = s->parked;
                s->parked = pq->next;
                http_req_set_data(pq->req, NULL);
                http_req_respond_text(pq->req, 503, "server shutting down");
                free(pq);
        }
}

/* ---- helpers ----------------------------------------------------------------------- */

static const char *ns_of(struct route_ctx *c) {
        const char *ns = http_req_query(c->req, "namespace");
        return ns && *ns ? ns : "default";
}

static json_t *parse_body(struct route_ctx *c) {
        size_t len;
        const char *body = http_req_body(c->req, &len);
        struct error err = {0};
        if (limits_json_prescan(body, len, &err) < 0) { /* bounds before the (costly) decode: common/limits.c */
                http_req_respond_text(c->req, 400, "%s", err.msg);
                return NULL;
        }
        json_error_t je;
        json_t *j = json_loadb(body, len, 0, &je);
        if (!j)
                http_req_respond_text(c->req, 400, "Failed to decode request body: line %d, column %d: %s", je.line,
                                      je.column, je.text);
        return j;
}

static const char *leader_address(struct route_ctx *c) {
        return c->s->ops->leader_address ? c->s->ops->leader_address(c->s->data) : NULL;
}

/* A write: true on the leader. A follower forwards it to the leader (once: a
 * request that was forwarded already is not sent on again) and answers with the
 * leader's answer. */
static bool is_leader_or_fail(struct route_ctx *c) {
        if (c->s->ops->is_leader(c->s->data))
                return true;
        if (c->s->ops->forward && !http_req_query(c->req, FORWARDED_ARG) && c->s->ops->forward(c->s->data, c->req) == 0)
                return false;
        const char *leader = leader_address(c);
        http_req_respond_text(c->req, 500, "No cluster leader%s%s", leader ? "; leader is " : "",
                              leader ? leader : "");
        return false;
}

/* Answer a write once its command is applied. */
struct pending_write {
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

static void on_write_applied(void *arg, int status, uint64_t index, const char *msg) {
        struct pending_write *pw = arg;
        if (status < 0) {
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
                http_req_respond_json(pw->req, 200, r, index);
        }
        free(pw);
}

static void propose(struct route_ctx *c, json_t *cmd, json_t *reply, bool eval_index) {
        struct pending_write *pw = calloc(1, sizeof(*pw));
        if (!pw) {
                json_decref(cmd);
                if (reply)
                        json_decref(reply);
                http_req_respond_text(c->req, 500, "out of memory");
                return;
        }
        pw->req = c->req;
        pw->reply = reply;
        pw->fill_eval_index = eval_index;
        int r = c->s->ops->propose(c->s->data, cmd, on_write_applied, pw);
        if (r < 0) {
                if (reply)
                        json_decref(reply);
                free(pw);
                http_req_respond_text(c->req, 500, "cannot propose the change: %s",
                                      r == -EAGAIN ? "not the leader" : strerror(-r));
        }
}

static struct eval *new_eval(const struct job *j, const char *triggered_by, const char *node_id) {
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

/* ---- jobs --------------------------------------------------------------------------- */

static void job_register(struct route_ctx *c, const char *path_id) {
        if (!is_leader_or_fail(c))
                return;
        _cleanup_json_ json_t *body = parse_body(c);
        if (!body)
                return;
        json_t *jj = json_object_get(body, "Job");
        if (!json_is_object(jj)) {
                http_req_respond_text(c->req, 400, "Job must be specified: the body is {\"Job\": {...}}");
                return;
        }
        struct error err = {0};
        struct job *j = NULL;
        if (job_from_json(jj, &j, &err) < 0) {
                http_req_respond_text(c->req, 400, "%s", err.msg);
                return;
        }
        job_canonicalize(j);
        if (job_validate(j, &err) < 0) {
                http_req_respond_text(c->req, 400, "%s", err.msg);
                job_unref(j);
                return;
        }
        if (path_id && strcmp(path_id, j->id) != 0) {
                http_req_respond_text(c->req, 400, "Job ID does not match name in the path (\"%s\" vs \"%s\")",
                                      j->id, path_id);
                job_unref(j);
                return;
        }
        j->submit_time = clock_now_ns();
        struct eval *e = new_eval(j, "job-register", NULL);
        json_t *cmd = json_pack("{s:s,s:o,s:o}", "Type", "JobRegister", "Job", job_to_json(j), "Eval",
                                eval_to_json(e));
        json_t *reply = json_pack("{s:s,s:s}", "EvalID", e->id, "Warnings", "");
        job_unref(j);
        eval_unref(e);
        propose(c, cmd, reply, true);
}

static void job_deregister(struct route_ctx *c, const char *id) {
        if (!is_leader_or_fail(c))
                return;
        const struct job *j = state_job_get((*c->s->state), ns_of(c), id);
        if (!j) {
                http_req_respond_text(c->req, 404, "job not found");
                return;
        }
        const char *purge = http_req_query(c->req, "purge");
        struct eval *e = new_eval(j, "job-deregister", NULL);
        json_t *cmd = json_pack("{s:s,s:s,s:s,s:b,s:o}", "Type", "JobDeregister", "Namespace", j->namespace, "JobID",
                                j->id, "Purge", purge && strcmp(purge, "true") == 0, "Eval", eval_to_json(e));
        json_t *reply = json_pack("{s:s}", "EvalID", e->id);
        eval_unref(e);
        propose(c, cmd, reply, true);
}

static json_t *summary_json(struct route_ctx *c, const struct job *j) {
        json_t *groups = json_object();
        for (size_t g = 0; g < j->n_groups; g++) {
                struct state_group_summary sum = {0};
                state_job_group_summary((*c->s->state), j, j->groups[g].name, &sum);
                json_object_set_new(groups, j->groups[g].name,
                                    json_pack("{s:i,s:i,s:i,s:i,s:i,s:i,s:i}", "Queued", sum.queued, "Starting",
                                              sum.starting, "Running", sum.running, "Failed", sum.failed, "Complete",
                                              sum.complete, "Lost", sum.lost, "Unknown", sum.unknown));
        }
        return json_pack("{s:s,s:s,s:o,s:{s:i,s:i,s:i},s:I,s:I}", "JobID", j->id, "Namespace", j->namespace,
                         "Summary", groups, "Children", "Pending", 0, "Running", 0, "Dead", 0, "CreateIndex",
                         (json_int_t)j->create_index, "ModifyIndex", (json_int_t)j->modify_index);
}

struct list_ctx {
        struct route_ctx *c;
        const char *prefix;
        json_t *out;
};

static bool add_job_stub(void *arg, const struct job *j) {
        struct list_ctx *l = arg;
        if (l->prefix && strncmp(j->id, l->prefix, strlen(l->prefix)) != 0)
                return true;
        json_t *sum = summary_json(l->c, j);
        json_array_append_new(l->out, job_to_stub_json(j, sum));
        json_decref(sum);
        return true;
}

static void jobs_list(struct route_ctx *c) {
        if (block_until_newer(c, STATE_TABLE_JOBS))
                return;
        struct list_ctx l = {.c = c, .prefix = http_req_query(c->req, "prefix"), .out = json_array()};
        state_jobs_foreach((*c->s->state), ns_of(c), add_job_stub, &l);
        http_req_respond_json(c->req, 200, l.out, query_index(c, STATE_TABLE_JOBS));
}

static bool add_alloc_stub(void *arg, const struct alloc *a) {
        struct list_ctx *l = arg;
        if (l->prefix && strncmp(a->id, l->prefix, strlen(l->prefix)) != 0)
                return true;
        json_array_append_new(l->out, alloc_to_stub_json(a));
        return true;
}

static bool add_alloc_full(void *arg, const struct alloc *a) {
        struct list_ctx *l = arg;
        json_array_append_new(l->out, alloc_to_json(a));
        return true;
}

static bool add_eval(void *arg, const struct eval *e) {
        struct list_ctx *l = arg;
        if (l->prefix && strncmp(e->id, l->prefix, strlen(l->prefix)) != 0)
                return true;
        json_array_append_new(l->out, eval_to_json(e));
        return true;
}

static void job_routes(struct route_ctx *c) {
        const char *m = http_req_method(c->req);
        const char *id = c->seg[1];
        if (c->nseg == 2) {
                if (strcmp(m, "GET") == 0) {
                        if (block_until_newer(c, STATE_TABLE_JOBS))
                                return;
                        const struct job *j = state_job_get((*c->s->state), ns_of(c), id);
                        if (!j)
                                http_req_respond_text(c->req, 404, "job not found");
                        else
                                http_req_respond_json(c->req, 200, job_to_json(j), j->modify_index);
                } else if (strcmp(m, "PUT") == 0 || strcmp(m, "POST") == 0) {
                        job_register(c, id);
                } else if (strcmp(m, "DELETE") == 0) {
                        job_deregister(c, id);
                } else {
                        http_req_respond_text(c->req, 405, "method %s not allowed on /v1/job/<id>", m);
                }
                return;
        }
        if (strcmp(m, "GET") != 0) {
                http_req_respond_text(c->req, 405, "method %s not allowed", m);
                return;
        }
        const struct job *j = state_job_get((*c->s->state), ns_of(c), id);
        if (!j) {
                http_req_respond_text(c->req, 404, "job not found");
                return;
        }
        const char *what = c->seg[2];
        struct list_ctx l = {.c = c, .out = json_array()};
        if (strcmp(what, "summary") == 0) {
                json_decref(l.out);
                http_req_respond_json(c->req, 200, summary_json(c, j), query_index(c, STATE_TABLE_ALLOCS));
        } else if (strcmp(what, "allocations") == 0) {
                if (block_until_newer(c, STATE_TABLE_ALLOCS)) {
                        json_decref(l.out);
                        return;
                }
                state_allocs_by_job_foreach((*c->s->state), j->namespace, j->id, add_alloc_stub, &l);
                http_req_respond_json(c->req, 200, l.out, query_index(c, STATE_TABLE_ALLOCS));
        } else if (strcmp(what, "evaluations") == 0) {
                state_evals_by_job_foreach((*c->s->state), j->namespace, j->id, add_eval, &l);
                http_req_respond_json(c->req, 200, l.out, query_index(c, STATE_TABLE_EVALS));
        } else {
                json_decref(l.out);
                http_req_respond_text(c->req, 404, "unknown path /v1/job/%s/%s", id, what);
        }
}

/* ---- nodes ------------------------------------------------------------------------- */

static json_t *node_public_json(const struct node *n) {
        json_t *o = node_to_json(n);
        json_object_del(o, "SecretID");
        return o;
}

static bool add_node_stub(void *arg, const struct node *n) {
        struct list_ctx *l = arg;
        if (l->prefix && strncmp(n->id, l->prefix, strlen(l->prefix)) != 0)
                return true;
        json_array_append_new(l->out, node_to_stub_json(n));
        return true;
}

/* A node joining or back to ready: an eval per system/sysbatch job (Nomad's createNodeEvals). */
static json_t *node_evals_json(struct route_ctx *c, const char *node_id) {
        json_t *arr = json_array();
        struct eval **ev = NULL;
        size_t n = 0;
        if (scheduler_node_evals((*c->s->state), node_id, NULL, &ev, &n) == 0)
                for (size_t i = 0; i < n; i++) {
                        json_array_append_new(arr, eval_to_json(ev[i]));
                        eval_unref(ev[i]);
                }
        free(ev);
        return arr;
}

static void node_register(struct route_ctx *c) {
        if (!is_leader_or_fail(c))
                return;
        _cleanup_json_ json_t *body = parse_body(c);
        if (!body)
                return;
        json_t *nj = json_object_get(body, "Node");
        struct error err = {0};
        struct node *n = NULL;
        if (!json_is_object(nj)) {
                http_req_respond_text(c->req, 400, "missing node: the body is {\"Node\": {...}}");
                return;
        }
        if (node_from_json(nj, &n, &err) < 0) {
                http_req_respond_text(c->req, 400, "%s", err.msg);
                return;
        }
        if (node_validate(n, &err) < 0 || !n->secret_id || !*n->secret_id) {
                http_req_respond_text(c->req, 400, "%s", err.code ? err.msg : "node: missing SecretID");
                node_unref(n);
                return;
        }
        const struct node *old = state_node_get((*c->s->state), n->id);
        if (old && old->secret_id && strcmp(old->secret_id, n->secret_id) != 0) {
                http_req_respond_text(c->req, 403, "node secret ID does not match; refusing to re-register node %s",
                                      n->id);
                node_unref(n);
                return;
        }
        n->status = NODE_READY;
        n->status_updated_at = clock_now_ns() / NS_PER_SEC;
        node_compute_class(n);
        int64_t ttl = heartbeats_reset(c->s->heartbeats, n->id, clock_monotonic_ns());
        json_t *cmd = json_pack("{s:s,s:o,s:o}", "Type", "NodeRegister", "Node", node_to_json(n), "Evals",
                                node_evals_json(c, n->id));
        json_t *reply = json_pack("{s:I,s:s}", "HeartbeatTTL", (json_int_t)ttl, "NodeID", n->id);
        node_unref(n);
        propose(c, cmd, reply, false);
}

static bool secret_ok(struct route_ctx *c, const struct node *n, const json_t *body) {
        const char *secret = jx_str(body, "SecretID", NULL);
        if (!secret || !n->secret_id || strcmp(secret, n->secret_id) != 0) {
                http_req_respond_text(c->req, 403, "node secret ID does not match for node %s", n->id);
                return false;
        }
        return true;
}

static void node_heartbeat(struct route_ctx *c, const char *id) {
        if (!is_leader_or_fail(c))
                return;
        _cleanup_json_ json_t *body = parse_body(c);
        if (!body)
                return;
        const struct node *n = state_node_get((*c->s->state), id);
        if (!n) {
                http_req_respond_text(c->req, 404, "node %s not found; register first", id);
                return;
        }
        if (!secret_ok(c, n, body))
                return;
        int64_t ttl = heartbeats_reset(c->s->heartbeats, id, clock_monotonic_ns());
        if (n->status == NODE_READY) {
                http_req_respond_json(c->req, 200, json_pack("{s:I}", "HeartbeatTTL", (json_int_t)ttl),
                                      state_latest_index((*c->s->state)));
                return;
        }
        /* Down (or initializing) and back: mark ready through Raft. */
        json_t *cmd = json_pack("{s:s,s:s,s:s,s:I,s:o}", "Type", "NodeStatusUpdate", "NodeID", id, "Status", "ready",
                                "UpdatedAt", (json_int_t)(clock_now_ns() / NS_PER_SEC), "Evals",
                                node_evals_json(c, id));
        propose(c, cmd, json_pack("{s:I}", "HeartbeatTTL", (json_int_t)ttl), false);
}

static void node_alloc_update(struct route_ctx *c, const char *id) {
        if (!is_leader_or_fail(c))
                return;
        _cleanup_json_ json_t *body = parse_body(c);
        if (!body)
                return;
        const struct node *n = state_node_get((*c->s->state), id);
        if (!n) {
                http_req_respond_text(c->req, 404, "node %s not found", id);
                return;
        }
        if (!secret_ok(c, n, body))
                return;
        json_t *allocs = json_object_get(body, "Allocs");
        if (!json_is_array(allocs)) {
                http_req_respond_text(c->req, 400, "Allocs must be a list of allocation updates");
                return;
        }
        json_t *updates = json_array();
        size_t i;
        json_t *u;
        json_array_foreach(allocs, i, u) {
                const char *aid = jx_str(u, "ID", NULL);
                const char *cs = jx_str(u, "ClientStatus", NULL);
                enum alloc_client st;
                if (!aid || !cs || alloc_client_parse(cs, &st) < 0) {
                        http_req_respond_text(c->req, 400,
                                              "Allocs[%zu]: need ID and ClientStatus (pending, running, complete, failed)",
                                              i);
                        json_decref(updates);
                        return;
                }
                const struct alloc *a = state_alloc_get((*c->s->state), aid);
                if (!a || !a->node_id || strcmp(a->node_id, id) != 0)
                        continue; /* gone (GC) or not this node's: ignore, like Nomad */
                json_t *ts = json_object_get(u, "TaskStates");
                if (ts && !json_is_object(ts)) {
                        http_req_respond_text(c->req, 400, "Allocs[%zu].TaskStates must be an object", i);
                        json_decref(updates);
                        return;
                }
                struct task_state *states = NULL;
                size_t ns = 0;
                struct error err = {0};
                if (ts && task_states_from_json(ts, &states, &ns, &err) < 0) {
                        http_req_respond_text(c->req, 400, "Allocs[%zu]: %s", i, err.msg);
                        json_decref(updates);
                        return;
                }
                task_states_free(states, ns);
                json_array_append_new(updates, json_pack("{s:s,s:s,s:s,s:O*}", "ID", aid, "ClientStatus", cs,
                                                         "ClientDescription", jx_str(u, "ClientDescription", ""),
                                                         "TaskStates", ts));
        }
        if (json_array_size(updates) == 0) {
                json_decref(updates);
                http_req_respond_json(c->req, 200, json_pack("{s:I}", "Index", (json_int_t)state_latest_index((*c->s->state))),
                                      state_latest_index((*c->s->state)));
                return;
        }
        json_t *cmd = json_pack("{s:s,s:s,s:o,s:I}", "Type", "AllocClientUpdate", "NodeID", id, "Allocs", updates,
                                "UpdatedAt", (json_int_t)clock_now_ns());
        propose(c, cmd, NULL, false);
}

static void node_routes(struct route_ctx *c) {
        const char *m = http_req_method(c->req);
        if (c->nseg == 2 && strcmp(c->seg[1], "register") == 0) {
                if (strcmp(m, "PUT") == 0 || strcmp(m, "POST") == 0)
                        node_register(c);
                else
                        http_req_respond_text(c->req, 405, "use PUT /v1/node/register");
                return;
        }
        const char *id = c->seg[1];
        if (c->nseg == 2) {
                if (strcmp(m, "GET") != 0) {
                        http_req_respond_text(c->req, 405, "method %s not allowed", m);
                        return;
                }
                if (block_until_newer(c, STATE_TABLE_NODES))
                        return;
                const struct node *n = state_node_get((*c->s->state), id);
                if (!n)
                        http_req_respond_text(c->req, 404, "node not found");
                else
                        http_req_respond_json(c->req, 200, node_public_json(n), n->modify_index);
                return;
        }
        const char *what = c->seg[2];
        if (strcmp(what, "heartbeat") == 0 && (strcmp(m, "PUT") == 0 || strcmp(m, "POST") == 0)) {
                node_heartbeat(c, id);
        } else if (strcmp(what, "allocations") == 0 && (strcmp(m, "PUT") == 0 || strcmp(m, "POST") == 0)) {
                node_alloc_update(c, id);
        } else if (strcmp(what, "allocations") == 0 && strcmp(m, "GET") == 0) {
                if (!state_node_get((*c->s->state), id)) {
                        http_req_respond_text(c->req, 404, "node not found");
                        return;
                }
                if (block_until_newer(c, STATE_TABLE_ALLOCS))
                        return;
                struct list_ctx l = {.c = c, .out = json_array()};
                state_allocs_by_node_foreach((*c->s->state), id, add_alloc_full, &l);
                http_req_respond_json(c->req, 200, l.out, query_index(c, STATE_TABLE_ALLOCS));
        } else {
                http_req_respond_text(c->req, 404, "unknown path /v1/node/%s/%s", id, what);
        }
}

/* ---- allocations and evaluations ---------------------------------------------------- */

static void alloc_routes(struct route_ctx *c) {
        if (block_until_newer(c, STATE_TABLE_ALLOCS))
                return;
        const struct alloc *a = state_alloc_get((*c->s->state), c->seg[1]);
        if (!a) {
                http_req_respond_text(c->req, 404, "alloc not found");
                return;
        }
        json_t *j = alloc_to_json(a);
        /* The token its node's agent wants before it serves the allocation's logs. */
        const struct node *n = a->node_id ? state_node_get((*c->s->state), a->node_id) : NULL;
        char token[ALLOC_TOKEN_BUF];
        if (n && alloc_token(n->secret_id, a->id, token) == 0)
                json_object_set_new(j, "AllocToken", json_string(token));
        http_req_respond_json(c->req, 200, j, a->modify_index);
}

static void eval_routes(struct route_ctx *c) {
        const struct eval *e = state_eval_get((*c->s->state), c->seg[1]);
        if (!e) {
                http_req_respond_text(c->req, 404, "eval not found");
                return;
        }
        if (c->nseg == 2) {
                if (block_until_newer(c, STATE_TABLE_EVALS))
                        return;
                http_req_respond_json(c->req, 200, eval_to_json(e), e->modify_index);
        } else if (strcmp(c->seg[2], "allocations") == 0) {
                struct list_ctx l = {.c = c, .out = json_array()};
                state_allocs_by_eval_foreach((*c->s->state), e->id, add_alloc_stub, &l);
                http_req_respond_json(c->req, 200, l.out, query_index(c, STATE_TABLE_ALLOCS));
        } else {
                http_req_respond_text(c->req, 404, "unknown path");
        }
}

static void list_routes(struct route_ctx *c) {
        const char *what = c->seg[0];
        struct list_ctx l = {.c = c, .prefix = http_req_query(c->req, "prefix"), .out = json_array()};
        enum state_table t;
        if (strcmp(what, "nodes") == 0) {
                t = STATE_TABLE_NODES;
                if (block_until_newer(c, t))
                        goto parked;
                state_nodes_foreach((*c->s->state), add_node_stub, &l);
        } else if (strcmp(what, "allocations") == 0) {
                t = STATE_TABLE_ALLOCS;
                if (block_until_newer(c, t))
                        goto parked;
                state_allocs_foreach((*c->s->state), add_alloc_stub, &l);
        } else {
                t = STATE_TABLE_EVALS;
                if (block_until_newer(c, t))
                        goto parked;
                state_evals_foreach((*c->s->state), add_eval, &l);
        }
        http_req_respond_json(c->req, 200, l.out, query_index(c, t));
        return;
parked:
        json_decref(l.out);
}

static void status_routes(struct route_ctx *c) {
        const char *leader = leader_address(c);
        if (strcmp(c->seg[1], "leader") == 0) {
                http_req_respond_json(c->req, 200, json_string(leader ? leader : ""), 0);
                return;
        }
        /* peers: the Raft addresses of the voters */
        json_t *conf = c->s->ops->raft_configuration ? c->s->ops->raft_configuration(c->s->data) : NULL;
        json_t *out = json_array();
        size_t i;
        json_t *srv;
        json_array_foreach(json_object_get(conf, "Servers"), i, srv) {
                if (jx_bool(srv, "Voter", false))
                        json_array_append_new(out, json_string(jx_str(srv, "Address", "")));
        }
        if (!conf)
                json_array_append_new(out, json_string(c->s->raft_addr));
        json_decref(conf);
        http_req_respond_json(c->req, 200, out, 0);
}

/* ---- Raft membership ------------------------------------------------------------------- */

static void on_change_done(void *arg, int status, const char *msg) {
        struct http_req *req = arg;
        if (status == 0)
                http_req_respond_json(req, 200, json_object(), 0);
        else
                http_req_respond_text(req, status == -ENOENT ? 404 : status == -EBUSY || status == -EAGAIN ? 503 : 500,
                                      "raft membership change failed: %s", msg ? msg : strerror(-status));
}

static void operator_routes(struct route_ctx *c) {
        const char *m = http_req_method(c->req);
        const struct api_ops *ops = c->s->ops;
        if (!ops->raft_configuration) {
                http_req_respond_text(c->req, 404, "this server has no Raft membership to show");
                return;
        }
        const char *what = c->seg[2];
        if (strcmp(what, "configuration") == 0) {
                if (strcmp(m, "GET") != 0) {
                        http_req_respond_text(c->req, 405, "method %s not allowed (GET only)", m);
                        return;
                }
                json_t *conf = ops->raft_configuration(c->s->data);
                uint64_t idx = (uint64_t)jx_int(conf, "Index", 0);
                http_req_respond_json(c->req, 200, conf, idx);
                return;
        }
        if (strcmp(what, "join") == 0) {
                if (strcmp(m, "PUT") != 0 && strcmp(m, "POST") != 0) {
                        http_req_respond_text(c->req, 405, "use PUT /v1/operator/raft/join");
                        return;
                }
                if (!is_leader_or_fail(c))
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
                int r = ops->raft_join(c->s->data, (uint64_t)id, addr, http, on_change_done, c->req);
                if (r < 0)
                        on_change_done(c->req, r, strerror(-r));
                return;
        }
        if (strcmp(what, "peer") == 0) {
                if (strcmp(m, "DELETE") != 0) {
                        http_req_respond_text(c->req, 405, "use DELETE /v1/operator/raft/peer?id=ID or ?address=ip:port");
                        return;
                }
                if (!is_leader_or_fail(c))
                        return;
                const char *id = http_req_query(c->req, "id");
                const char *addr = http_req_query(c->req, "address");
                char *end = NULL;
                unsigned long long n = id ? strtoull(id, &end, 10) : 0;
                if ((!id || !*id || *end || n == 0) && (!addr || !*addr)) {
                        http_req_respond_text(c->req, 400, "remove-peer: give ?id=<raft id> or ?address=<ip:port>");
                        return;
                }
                int r = ops->raft_remove(c->s->data, id && n ? (uint64_t)n : 0, addr, on_change_done, c->req);
                if (r < 0)
                        on_change_done(c->req, r, r == -ENOENT ? "no such peer" : strerror(-r));
                return;
        }
        http_req_respond_text(c->req, 404, "Invalid URL path: \"%s\"", http_req_path(c->req));
}

static void system_gc(struct route_ctx *c) {
        const char *m = http_req_method(c->req);
        if (strcmp(m, "PUT") != 0 && strcmp(m, "POST") != 0) {
                http_req_respond_text(c->req, 405, "use PUT /v1/system/gc");
                return;
        }
        if (!c->s->ops->gc) {
                http_req_respond_text(c->req, 404, "this server does not collect garbage");
                return;
        }
        if (!is_leader_or_fail(c))
                return;
        struct pending_write *pw = calloc(1, sizeof(*pw));
        if (!pw) {
                http_req_respond_text(c->req, 500, "out of memory");
                return;
        }
        pw->req = c->req;
        int r = c->s->ops->gc(c->s->data, on_write_applied, pw);
        if (r < 0) {
                free(pw);
                http_req_respond_text(c->req, 500, "garbage collection failed: %s", strerror(-r));
        }
}

/* ---- operator snapshot ------------------------------------------------------------------ */

json_t *api_snapshot_document(json_t *state, uint64_t index) {
        return json_pack("{s:s,s:i,s:I,s:o}", "Drover", "snapshot", "Version", 1, "Index", (json_int_t)index, "State",
                         state);
}

/* GET: the whole state (from the leader unless ?stale); PUT: replace the whole state
 * on every server with a saved one, through Raft (a StateRestore command). */
static void operator_snapshot(struct route_ctx *c) {
        const char *m = http_req_method(c->req);
        if (strcmp(m, "GET") == 0) {
                if (!c->s->ops->is_leader(c->s->data) && !http_req_has_query(c->req, "stale") &&
                    !is_leader_or_fail(c))
                        return;
                if (c->s->ops->snapshot_save) {
                        c->s->ops->snapshot_save(c->s->data, c->req);
                        return;
                }
                json_t *state = NULL;
                if (state_save(*c->s->state, &state) < 0) {
                        http_req_respond_text(c->req, 500, "cannot serialise the state");
                        return;
                }
                uint64_t index = state_latest_index(*c->s->state);
                http_req_respond_json(c->req, 200, api_snapshot_document(state, index), index);
                return;
        }
        if (strcmp(m, "PUT") != 0 && strcmp(m, "POST") != 0) {
                http_req_respond_text(c->req, 405, "method %s not allowed on /v1/operator/snapshot (GET or PUT)", m);
                return;
        }
        if (!is_leader_or_fail(c))
                return;
        _cleanup_json_ json_t *body = parse_body(c);
        if (!body)
                return;
        json_t *state = json_object_get(body, "State");
        if (strcmp(jx_str(body, "Drover", ""), "snapshot") != 0 || jx_int(body, "Version", 0) != 1 ||
            !json_is_object(state)) {
                http_req_respond_text(c->req, 400, "not a drover snapshot (expected the document of GET "
                                                   "/v1/operator/snapshot: Drover \"snapshot\", Version 1, State)");
                return;
        }
        struct state_store *check = NULL;
        struct error err = {0};
        if (state_restore(state, &check, &err) < 0) {
                http_req_respond_text(c->req, 400, "snapshot: %s", err.msg);
                return;
        }
        state_destroy(check);
        propose(c, json_pack("{s:s,s:O}", "Type", "StateRestore", "State", state), NULL, false);
}

/* POST /v1/internal/sched/<what>: another server's scheduler worker (worker.h). */
static void internal_sched(struct route_ctx *c) {
        if (strcmp(http_req_method(c->req), "POST") != 0 && strcmp(http_req_method(c->req), "PUT") != 0) {
                http_req_respond_text(c->req, 405, "use POST /v1/internal/sched/%s", c->seg[2]);
                return;
        }
        if (!c->s->ops->sched_rpc) {
                http_req_respond_text(c->req, 404, "this server runs no scheduler RPC");
                return;
        }
        _cleanup_json_ json_t *body = parse_body(c);
        if (!body)
                return;
        c->s->ops->sched_rpc(c->s->data, c->seg[2], c->req, body);
}

static void internal_routes(struct route_ctx *c) {
        if (!c->s->ops->raft_self) {
                http_req_respond_text(c->req, 404, "this server has no Raft membership to show");
                return;
        }
        http_req_respond_json(c->req, 200, c->s->ops->raft_self(c->s->data), 0);
}

/* ---- dispatch ------------------------------------------------------------------------- */

/* Reads of the state are consistent by default, as Nomad's: a follower forwards
 * them to the leader and answers with the leader's answer (blocking queries too).
 * With ?stale any server answers from its own state. Status, membership and
 * internal paths are always answered locally. True when the request was answered
 * here (forwarded, or refused for want of a leader). */
static bool forward_consistent_read(struct api *s, struct http_req *req, const char *top) {
        static const char *const state_reads[] = {"jobs",        "job",        "nodes",      "node", "allocations",
                                                  "allocation", "alloc",      "evaluations", "evaluation"};
        if (strcmp(http_req_method(req), "GET") != 0 || s->ops->is_leader(s->data) ||
            http_req_has_query(req, "stale") || http_req_has_query(req, FORWARDED_ARG))
                return false;
        bool state_read = false;
        for (size_t i = 0; i < sizeof(state_reads) / sizeof(state_reads[0]); i++)
                state_read |= strcmp(top, state_reads[i]) == 0;
        if (!state_read)
                return false;
        if (s->ops->forward && s->ops->forward(s->data, req) == 0)
                return true;
        const char *leader = s->ops->leader_address ? s->ops->leader_address(s->data) : NULL;
        http_req_respond_text(req, 500, "No cluster leader%s%s (add ?stale to read this server's state)",
                              leader ? "; leader is " : "", leader ? leader : "");
        return true;
}

/* Read-only paths: true for GET, else answered 405. */
static bool get_only(struct route_ctx *c) {
        const char *m = http_req_method(c->req);
        if (strcmp(m, "GET") == 0)
                return true;
        http_req_respond_text(c->req, 405, "method %s not allowed on %s (GET only)", m, http_req_path(c->req));
        return false;
}

struct api *api_create(const struct api_config *cfg) {
        struct api *a = calloc(1, sizeof(*a));
        if (!a)
                return NULL;
        a->state = cfg->state;
        a->heartbeats = cfg->heartbeats;
        a->raft_addr = strdup(cfg->raft_addr ? cfg->raft_addr : "");
        a->ops = cfg->ops;
        a->data = cfg->data;
        if (!a->raft_addr) {
                free(a);
                return NULL;
        }
        return a;
}

struct api *api_destroy(struct api *a) {
        if (!a)
                return NULL;
        api_drop_parked(a);
        free(a->raft_addr);
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
        c.buf = strdup(path + 4);
        if (!c.buf) {
                http_req_respond_text(req, 500, "out of memory");
                return;
        }
        for (char *p = c.buf, *save = NULL, *tok; (tok = strtok_r(p, "/", &save)); p = NULL) {
                if (c.nseg == MAX_SEGS) {
                        http_req_respond_text(req, 404, "path too deep");
                        free(c.buf);
                        return;
                }
                c.seg[c.nseg++] = tok;
        }
        const char *m = http_req_method(req);
        const char *top = c.nseg ? c.seg[0] : "";
        if (forward_consistent_read(s, req, top)) {
                free(c.buf);
                return;
        }
        if (strcmp(top, "jobs") == 0 && c.nseg == 1) {
                if (strcmp(m, "GET") == 0)
                        jobs_list(&c);
                else if (strcmp(m, "PUT") == 0 || strcmp(m, "POST") == 0)
                        job_register(&c, NULL);
                else
                        http_req_respond_text(req, 405, "method %s not allowed on /v1/jobs", m);
        } else if (strcmp(top, "job") == 0 && c.nseg >= 2 && c.nseg <= 3) {
                job_routes(&c);
        } else if (strcmp(top, "node") == 0 && c.nseg >= 2 && c.nseg <= 3) {
                node_routes(&c);
        } else if ((strcmp(top, "nodes") == 0 || strcmp(top, "allocations") == 0 ||
                    strcmp(top, "evaluations") == 0) &&
                   c.nseg == 1) {
                if (get_only(&c))
                        list_routes(&c);
        } else if ((strcmp(top, "allocation") == 0 || strcmp(top, "alloc") == 0) && c.nseg == 2) {
                if (get_only(&c))
                        alloc_routes(&c);
        } else if (strcmp(top, "evaluation") == 0 && c.nseg >= 2 && c.nseg <= 3) {
                if (get_only(&c))
                        eval_routes(&c);
        } else if (strcmp(top, "operator") == 0 && c.nseg == 2 && strcmp(c.seg[1], "snapshot") == 0) {
                operator_snapshot(&c);
        } else if (strcmp(top, "operator") == 0 && c.nseg == 3 && strcmp(c.seg[1], "raft") == 0) {
                operator_routes(&c);
        } else if (strcmp(top, "system") == 0 && c.nseg == 2 && strcmp(c.seg[1], "gc") == 0) {
                system_gc(&c);
        } else if (strcmp(top, "internal") == 0 && c.nseg == 3 && strcmp(c.seg[1], "sched") == 0) {
                internal_sched(&c);
        } else if (strcmp(top, "internal") == 0 && c.nseg == 3 && strcmp(c.seg[1], "raft") == 0 &&
                   strcmp(c.seg[2], "self") == 0) {
                if (get_only(&c))
                        internal_routes(&c);
        } else if (strcmp(top, "status") == 0 && c.nseg == 2 &&
                   (strcmp(c.seg[1], "leader") == 0 || strcmp(c.seg[1], "peers") == 0)) {
                if (get_only(&c))
                        status_routes(&c);
        } else {
                http_req_respond_text(req, 404, "Invalid URL path: \"%s\"", path);
        }
        free(c.buf);
}
