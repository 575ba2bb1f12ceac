/* server.c - wiring of drover-server: Raft, state, broker, workers, API, leader duties. */
#include "controlplane/server.h"

#include <errno.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/error.h"
#include "common/http_client.h"
#include "common/ids.h"
#include "common/json_fast.h"
#include "common/jsonx.h"
#include "common/limits.h"
#include "common/log.h"
#include "common/macros.h"
#include "common/model.h"
#include "common/tls.h"
#include "controlplane/raft/transport_tls.h"
#include "controlplane/server_internal.h"
#include "controlplane/api/http.h"
#include "controlplane/api/routes.h"
#include "controlplane/broker/blocked.h"
#include "controlplane/broker/broker.h"
#include "controlplane/leader/gc.h"
#include "controlplane/leader/heartbeat.h"
#include "controlplane/leader/leadership.h"
#include "controlplane/leader/offload.h"
#include "controlplane/leader/periodic.h"
#include "controlplane/plan/codec.h"
#include "controlplane/raft/batch.h"
#include "controlplane/raft/cluster.h"
#include "controlplane/raft/fsm.h"
#include "controlplane/raft/fsm_server_secret.h"
#include "controlplane/raft/leave.h"
#include "controlplane/raft/json_kept.h"
#include "controlplane/raft/plan_predecode.h"
#include "controlplane/raft/raft_node.h"
#include "controlplane/scheduler/plan.h"
#include "controlplane/state/state.h"
#include "controlplane/state/state_acl.h"
#include "controlplane/worker.h"

/* ---- proposing commands ------------------------------------------------------------ */

/* Commands proposed on one turn of the loop share one Raft entry (raft/batch.h):
 * they are queued here and the queue is flushed by a check handle, after the
 * turn's I/O callbacks, or at once when it reaches an entry's bounds. Each
 * proposal is one or more consecutive parts with one callback, which gets the
 * first rejection among its parts (or 0). Proposals that carry plan results (a
 * plan of 1,000 allocations takes milliseconds to apply on every server) and
 * those that do not (job registrations, node updates: microseconds) do not share
 * an entry: the queue is flushed where the kind changes, so the log keeps the
 * order in which they were proposed, and a small command is answered as soon as
 * its own entry is applied, not after the plans of the same turn. */
struct proposal {
        server_apply_cb cb;
        void *arg;
        size_t first, n; /* its parts */
};

struct proposal_batch {
        struct server *s;
        struct batch_part *parts; /* buffers owned */
        json_t **objs;            /* objs[i]: the object part i was dumped from, or NULL (owned) */
        struct plan_result **res; /* res[i]: what plan part i decodes to, or NULL (owned) */
        size_t n_parts, cap_parts, bytes;
        struct proposal *props;
        size_t n_props, cap_props;
        bool plans;                   /* its proposals carry plan results (BATCH_PLAN parts) */
        int64_t first_ns, flushed_ns; /* CLOCK_MONOTONIC: first proposal queued, entry proposed */
};

static struct proposal_batch *batch_free(struct proposal_batch *b) {
        if (!b)
                return NULL;
        for (size_t i = 0; i < b->n_parts; i++) {
                free((void *)b->parts[i].buf);
                json_decref(b->objs[i]);
                plan_result_free(b->res[i]);
        }
        free(b->parts);
        free(b->objs);
        free(b->res);
        free(b->props);
        free(b);
        return NULL;
}

static void batch_fail(struct proposal_batch *b, int status, const char *msg) {
        for (size_t i = 0; i < b->n_props; i++)
                if (b->props[i].cb)
                        b->props[i].cb(b->props[i].arg, status, 0, msg);
}

static void on_entry_applied(void *arg, int status, uint64_t index, const char *msg) {
        struct proposal_batch *b = arg;
        struct server *s = b->s;
        size_t plans = 0;
        for (size_t i = 0; i < b->n_parts; i++)
                plans += b->parts[i].kind == BATCH_PLAN;
        log_debug("raft: entry %llu (%zu proposals, %zu parts, %zu plans, %zu bytes): %.2f ms queued, %.2f ms "
                  "from proposed to applied",
                  (unsigned long long)index, b->n_props, b->n_parts, plans, b->bytes,
                  (double)(b->flushed_ns - b->first_ns) / 1e6, (double)(clock_monotonic_ns() - b->flushed_ns) / 1e6);
        if (b->n_parts == 1 && b->parts[0].kind == BATCH_JSON) { /* a lone command, sent as itself */
                if (b->props[0].cb)
                        b->props[0].cb(b->props[0].arg, status, index, msg);
        } else if (status < 0) { /* not committed (the FSM rejects parts, not batches) */
                batch_fail(b, status, msg);
        } else {
                for (size_t i = 0; i < b->n_props; i++) {
                        struct proposal *p = &b->props[i];
                        int code = 0;
                        const char *why = NULL;
                        for (size_t k = p->first; k < p->first + p->n && code == 0; k++)
                                code = fsm_batch_status(s->fsm, index, k, &why);
                        if (p->cb)
                                p->cb(p->arg, code, index, code < 0 ? why : NULL);
                }
        }
        batch_free(b);
}

static void fill_batch(void *fill_arg, void *dst) {
        const struct proposal_batch *b = fill_arg;
        batch_encode_to(b->parts, b->n_parts, dst);
}

static void flush_proposals(struct server *s) {
        struct proposal_batch *b = s->proposals;
        s->proposals = NULL;
        if (!b || b->n_props == 0) {
                batch_free(b);
                return;
        }
        int r;
        b->flushed_ns = clock_monotonic_ns();
        if (b->n_parts == 1 && b->parts[0].kind == BATCH_JSON) {
                r = raft_node_apply(s->raft, b->parts[0].buf, b->parts[0].len, on_entry_applied, b);
        } else {
                size_t len = 0;
                r = batch_encoded_len(b->parts, b->n_parts, &len);
                if (r == 0)
                        r = raft_node_apply_fill(s->raft, len, fill_batch, b, on_entry_applied, b);
                /* its plans decoded on the pool while the entry commits (for this
                 * server's FSM; without, it decodes them itself): their buffers go
                 * there, in the entry already */
                for (size_t i = 0; r == 0 && i < b->n_parts; i++)
                        if (b->parts[i].kind == BATCH_PLAN) {
                                if (b->res[i])
                                        plan_predecode_put(s->predecode, (void *)b->parts[i].buf, b->parts[i].len,
                                                           TAKE_PTR(b->res[i]));
                                else
                                        plan_predecode_start_owned(s->predecode, (void *)b->parts[i].buf,
                                                                   b->parts[i].len);
                                b->parts[i].buf = NULL;
                        }
        }
        /* its JSON commands' objects kept for this server's FSM, with their bytes (in
         * the entry already), so that it applies them without parsing them again */
        for (size_t i = 0; r == 0 && i < b->n_parts; i++)
                if (b->parts[i].kind == BATCH_JSON && b->objs[i]) {
                        json_kept_put(s->kept, (void *)b->parts[i].buf, b->parts[i].len, b->objs[i]);
                        b->parts[i].buf = NULL;
                        b->objs[i] = NULL;
                }
        if (r < 0) {
                /* refused before it was appended: nothing of it was proposed */
                if (r == -EAGAIN)
                        batch_fail(b, API_NOT_PROPOSED, "not the leader any more (nothing proposed)");
                else
                        batch_fail(b, r, strerror(-r));
                batch_free(b);
        }
}

static void on_flush_check(uv_check_t *h) {
        struct server *s = h->data;
        uv_check_stop(h);
        flush_proposals(s);
}

/* Queue parts (their buffers taken, freed on failure too) as one proposal; objs
 * (NULL, or one per part: the object a JSON part was dumped from, or NULL) and res
 * (likewise: what a plan part decodes to) taken too. */
static int propose_parts_objs(struct server *s, struct batch_part *parts, json_t **objs, struct plan_result **res,
                              size_t n, server_apply_cb cb, void *arg) {
        int r = 0;
        size_t bytes = 0;
        bool plans = false;
        for (size_t i = 0; i < n; i++) {
                bytes += parts[i].len;
                plans |= parts[i].kind == BATCH_PLAN;
        }
        if (s->stopping || !s->raft)
                r = -ECANCELED;
        else if (!raft_node_is_leader(s->raft))
                r = -EAGAIN;
        else if (n == 0 || n > BATCH_MAX_PARTS || (n > 1 && bytes > BATCH_MAX_BYTES) || bytes > LIMIT_SNAPSHOT_BODY)
                r = -E2BIG; /* one command (a snapshot restore) may pass BATCH_MAX_BYTES: it goes alone */
        if (r == 0 && s->proposals &&
            (s->proposals->n_parts + n > BATCH_MAX_PARTS || s->proposals->bytes + bytes > BATCH_MAX_BYTES ||
             s->proposals->plans != plans))
                flush_proposals(s);
        struct proposal_batch *b = s->proposals;
        if (r == 0 && !b) {
                b = s->proposals = calloc(1, sizeof(*b));
                if (b) {
                        b->s = s;
                        b->plans = plans;
                        b->first_ns = clock_monotonic_ns();
                } else {
                        r = -ENOMEM;
                }
        }
        if (r == 0 && b->n_parts + n > b->cap_parts) {
                size_t cap = b->cap_parts ? b->cap_parts * 2 : 16;
                while (cap < b->n_parts + n)
                        cap *= 2;
                struct batch_part *v = realloc(b->parts, cap * sizeof(*v));
                if (v)
                        b->parts = v;
                json_t **o = v ? realloc(b->objs, cap * sizeof(*o)) : NULL;
                if (o)
                        b->objs = o;
                struct plan_result **pr = o ? realloc(b->res, cap * sizeof(*pr)) : NULL;
                if (pr) {
                        b->res = pr;
                        b->cap_parts = cap;
                } else {
                        r = -ENOMEM;
                }
        }
        if (r == 0 && b->n_props == b->cap_props) {
                size_t cap = b->cap_props ? b->cap_props * 2 : 16;
                struct proposal *v = realloc(b->props, cap * sizeof(*v));
                if (v) {
                        b->props = v;
                        b->cap_props = cap;
                } else {
                        r = -ENOMEM;
                }
        }
        if (r < 0) {
                for (size_t i = 0; i < n; i++) {
                        free((void *)parts[i].buf);
                        json_decref(objs ? objs[i] : NULL);
                        plan_result_free(res ? res[i] : NULL);
                }
                return r;
        }
        b->props[b->n_props++] = (struct proposal){.cb = cb, .arg = arg, .first = b->n_parts, .n = n};
        memcpy(b->parts + b->n_parts, parts, n * sizeof(*parts));
        for (size_t i = 0; i < n; i++) {
                b->objs[b->n_parts + i] = objs ? objs[i] : NULL;
                b->res[b->n_parts + i] = res ? res[i] : NULL;
        }
        b->n_parts += n;
        b->bytes += bytes;
        uv_check_start(&s->flush, on_flush_check);
        return 0;
}

static int server_propose_parts(struct server *s, struct batch_part *parts, size_t n, server_apply_cb cb, void *arg) {
        return propose_parts_objs(s, parts, NULL, NULL, n, cb, arg);
}

int server_propose(struct server *s, json_t *cmd, server_apply_cb cb, void *arg) {
        char *buf = json_fast_dumps(cmd, JSON_COMPACT);
        if (!buf) {
                json_decref(cmd);
                return -ENOMEM;
        }
        struct batch_part part = {.kind = BATCH_JSON, .buf = buf, .len = strlen(buf)};
        return propose_parts_objs(s, &part, &cmd, NULL, 1, cb, arg); /* cmd kept for the apply (json_kept.h) */
}

#define TICK_NS (100 * NS_PER_MS)
/* A tick this late means the loop stalled. */
#define LOOP_STALL_NS (1 * NS_PER_SEC)

/* Nomad retries evals blocked by max-plan-attempts every minute. */
#define UNBLOCK_FAILED_INTERVAL_NS (60 * NS_PER_SEC)

/* ---- reactions to applied commands (every server; leader-only parts check) ------------ */

static void on_wake(uv_timer_t *t) {
        struct server *s = t->data;
        s->wake_pending = false;
        api_wake_parked(s->api, false);
}

static void server_state_changed(void *data) {
        struct server *s = data;
        workers_state_reached(s->workers, state_latest_index(s->state));
        if (s->wake_pending || s->stopping)
                return;
        s->wake_pending = true;
        uv_timer_start(&s->wake, on_wake, 0, 0);
}

/* Raft's view of the leader changed, or this server started leading: the
 * requests held for want of a leader are retried at the next wake. */
static void server_leader_changed(void *data) {
        struct server *s = data;
        if (s->stopping)
                return;
        api_hold_kick(s->api);
        server_state_changed(s);
}

static void server_on_evals(void *data, struct eval **evals, size_t n) {
        struct server *s = data;
        if (!s->leader)
                return;
        for (size_t i = 0; i < n; i++) {
                struct eval *e = evals[i];
                if (e->status == EVAL_PENDING)
                        broker_enqueue(s->broker, e);
                else if (e->status == EVAL_BLOCKED)
                        /* A worker that re-blocks an unblocked eval still holds it (not acked
                         * yet): with its token, an unblock missed meanwhile runs it again after
                         * the Ack; without, the broker dropped it as already tracked and the
                         * eval stayed blocked for good (a batch job on a full node stalled). */
                        blocked_reblock(s->blocked, e, broker_outstanding_token(s->broker, e->id));
        }
        workers_dispatch(s->workers);
}

static void server_on_node_ready(void *data, const char *computed_class, uint64_t index) {
        struct server *s = data;
        if (!s->leader)
                return;
        blocked_unblock(s->blocked, computed_class, index);
        workers_dispatch(s->workers);
}

static void server_on_applied(void *data, uint64_t index, const json_t *cmd, const char *plan_eval_id) {
        struct server *s = data;
        api_events_applied(s->api, index, cmd, plan_eval_id);
        /* the periodic dispatcher follows job changes as they are applied (periodic.h) */
        if (s->leader && cmd && periodic_applied(s->periodic, s->state, cmd, clock_now_ns() / NS_PER_SEC) < 0)
                log_warn("periodic: out of memory tracking a job change at index %llu", (unsigned long long)index);
}

static json_t *server_json_decoded(void *data, const void *buf, size_t len) {
        return json_kept_take(((struct server *)data)->kept, buf, len);
}

static struct plan_result *server_plan_decoded(void *data, const void *buf, size_t len) {
        struct server *s = data;
        struct plan_result *r = plan_predecode_take(s->predecode, buf, len);
        if (!r && s->leader)
                log_debug("plan: a result of %zu bytes not decoded ahead (still on the pool?): decoded on the loop",
                          len);
        return r;
}

/* A follower's committed plan, decoded on the pool while earlier entries apply (the
 * leader queued its own when it proposed them). */
static void server_plan_queued(void *data, const void *buf, size_t len) {
        struct server *s = data;
        if (!s->leader)
                plan_predecode_start(s->predecode, buf, len); /* else decoded at the apply */
}

static bool server_plan_ready(void *data, const void *buf, size_t len) {
        return plan_predecode_ready(((struct server *)data)->predecode, buf, len);
}

static const struct fsm_hooks server_fsm_hooks = {
    .applied = server_on_applied,
    .plan_decoded = server_plan_decoded,
    .json_decoded = server_json_decoded,
    .plan_queued = server_plan_queued,
    .plan_ready = server_plan_ready,
    .state_changed = server_state_changed,
    .evals = server_on_evals,
    .node_ready = server_on_node_ready,
    .capacity_freed = server_on_node_ready,
};

/* ---- what the routes and the workers ask of the server --------------------------------- */

static int propose_op(void *data, json_t *cmd, api_apply_cb cb, void *arg) {
        return server_propose(data, cmd, cb, arg);
}

static int propose_parts_op(void *data, struct batch_part *parts, struct plan_result **decoded, size_t n,
                            api_apply_cb cb, void *arg) {
        return propose_parts_objs(data, parts, NULL, decoded, n, cb, arg);
}

static bool is_leader_op(void *data) {
        return ((struct server *)data)->leader;
}

static const char *leader_address_op(void *data) {
        struct server *s = data;
        return raft_node_leader_address(s->raft, NULL);
}

static json_t *raft_self_op(void *data) {
        struct server *s = data;
        unsigned long evals_local = 0, evals_remote = 0;
        if (s->workers)
                workers_counts(s->workers, &evals_local, &evals_remote);
        const char *leader = raft_node_leader_address(s->raft, NULL);
        struct raft_node_peer *peers = NULL;
        size_t n = 0;
        json_t *voters = json_array();
        if (raft_node_peers(s->raft, &peers, &n) == 0)
                for (size_t i = 0; i < n; i++)
                        if (peers[i].voter)
                                json_array_append_new(voters, json_pack("{s:I,s:s}", "ID", (json_int_t)peers[i].id,
                                                                        "Address", peers[i].address));
        free(peers);
        json_t *self = json_pack(
            "{s:I,s:s,s:s,s:b,s:b,s:s,s:s,s:s,s:I,s:I,s:I,s:o,s:o}", "ID", (json_int_t)s->cfg->raft_id, "Address",
            s->cfg->raft_addr, "HTTPAddr", s->cfg->http_addr, "Configured", raft_node_has_configuration(s->raft),
            "IsLeader", raft_node_is_leader(s->raft), "State", s->raft ? raft_node_state_name(s->raft) : "discovering",
            "Phase", cluster_phase(s->cluster), "Leader", leader ? leader : "", "LastContact",
            (json_int_t)raft_node_last_contact_ms(s->raft), "LastIndex",
            (json_int_t)(s->raft ? raft_node_last_applied(s->raft) : 0), "CommitIndex",
            (json_int_t)raft_node_commit_index(s->raft), "Servers", cluster_servers_json(s->cluster), "Voters", voters);
        /* evals this server's workers finished: from its own broker, from the leader's */
        json_object_set_new(self, "SnapshotsRestored", json_integer((json_int_t)raft_node_snapshots_restored(s->raft)));
        json_object_set_new(
            self, "EvalsProcessed",
            json_pack("{s:I,s:I}", "Local", (json_int_t)evals_local, "FromLeader", (json_int_t)evals_remote));
        return self;
}

static json_t *raft_configuration_op(void *data) {
        struct server *s = data;
        struct raft_node_peer *peers = NULL;
        size_t n = 0;
        json_t *servers = json_array();
        if (raft_node_peers(s->raft, &peers, &n) == 0)
                for (size_t i = 0; i < n; i++) {
                        char id[24];
                        snprintf(id, sizeof(id), "%llu", (unsigned long long)peers[i].id);
                        const char *http = peers[i].id == (uint64_t)s->cfg->raft_id
                                               ? s->cfg->http_addr
                                               : cluster_http_addr(s->cluster, peers[i].id);
                        json_array_append_new(servers,
                                              json_pack("{s:s,s:s,s:s,s:b,s:b,s:s,s:s}", "ID", id, "Node",
                                                        http ? http : peers[i].address, "Address", peers[i].address,
                                                        "Leader", peers[i].leader, "Voter", peers[i].voter,
                                                        "RaftProtocol", "3", "HTTPAddr", http ? http : ""));
                }
        free(peers);
        return json_pack("{s:I,s:o}", "Index", (json_int_t)raft_node_configuration_index(s->raft), "Servers", servers);
}

static int raft_join_op(void *data, uint64_t id, const char *raft_addr, const char *http_addr, api_change_cb cb,
                        void *arg) {
        struct server *s = data;
        if (s->stopping)
                return -ECANCELED;
        cluster_learn(s->cluster, id, http_addr);
        log_info("raft: server %llu (%s, HTTP %s) asks to join", (unsigned long long)id, raft_addr, http_addr);
        return raft_node_add_voter(s->raft, id, raft_addr, cb, arg);
}

static int raft_remove_op(void *data, uint64_t id, const char *raft_addr, api_change_cb cb, void *arg) {
        struct server *s = data;
        if (s->stopping)
                return -ECANCELED;
        struct raft_node_peer *peers = NULL;
        size_t n = 0;
        int r = raft_node_peers(s->raft, &peers, &n);
        if (r < 0)
                return r;
        uint64_t found = 0;
        for (size_t i = 0; i < n; i++)
                if ((id && peers[i].id == id) || (!id && raft_addr && strcmp(peers[i].address, raft_addr) == 0))
                        found = peers[i].id;
        free(peers);
        if (!found)
                return -ENOENT;
        log_info("raft: removing server %llu from the configuration", (unsigned long long)found);
        return raft_node_remove(s->raft, found, cb, arg);
}

/* A forward that surely did not reach a leader: no connection could be made
 * (http_client.h), or the other server refused it for want of a leader (the text
 * of is_leader_or_fail's refusal, before any proposal; Nomad's clients match it
 * the same way). */
static bool forward_not_delivered(int status, const struct http_response *resp) {
        static const char no_leader[] = "No cluster leader";
        return status == -ECONNREFUSED || (status == 500 && resp && resp->body &&
                                           strncmp(resp->body, no_leader, sizeof(no_leader) - 1) == 0);
}

struct forward_call {
        struct server *s;
        struct http_req *req;
};

static void on_forwarded(void *arg, int status, const struct http_response *resp, const char *why) {
        struct forward_call fc = *(struct forward_call *)arg;
        free(arg);
        struct http_req *req = fc.req;
        if (forward_not_delivered(status, resp) && !fc.s->stopping && api_hold_request(fc.s->api, req))
                return; /* held: tried again once there is a leader (api/routes_hold.c) */
        if (status < 0) {
                http_req_respond_text(req, status == -ECANCELED ? 503 : 500, "forwarding to the leader failed: %s",
                                      why ? why : strerror(-status));
                return;
        }
        /* The leader's X-Nomad-* headers: a forwarded list keeps its next page's token. */
        http_req_set_next_token(req, resp->next_token[0] ? resp->next_token : NULL);
        if (resp->has_leader)
                http_req_set_leader(req, resp->known_leader, resp->last_contact_ms);
        bool ok = status >= 200 && status < 300;
        http_req_respond_bytes(req, status, ok ? "application/json" : "text/plain; charset=utf-8", resp->body,
                               resp->len, resp->index);
}

static int forward_op(void *data, struct http_req *req) {
        struct server *s = data;
        uint64_t leader_id = 0;
        if (!s->cluster || !raft_node_leader_address(s->raft, &leader_id) || leader_id == 0)
                return -ENOTCONN;
        if (leader_id == (uint64_t)s->cfg->raft_id) /* elected, barrier not applied yet: not to itself */
                return -EAGAIN;
        /* A node agent's call goes to the leader's agents' listener when it has one:
         * a flood of the leader's public listener cannot starve it there either. */
        const char *http = http_path_is_node_agent(http_req_method(req), http_req_path(req))
                                   ? cluster_agent_addr(s->cluster, leader_id)
                                   : NULL;
        if (!http)
                http = cluster_http_addr(s->cluster, leader_id);
        if (!http)
                return -ENOTCONN;
        _cleanup_free_ char *qs = http_req_query_string(req);
        _cleanup_free_ char *target = NULL;
        if (!qs || !(target = cluster_forward_target(http_req_path(req), qs, http_req_query(req, "index") != NULL,
                                                     http_req_query(req, "wait"), FORWARDED_ARG)))
                return -ENOMEM;
        size_t len = 0;
        const char *body = http_req_body(req, &len);
        struct forward_call *fc = malloc(sizeof(*fc));
        if (!fc)
                return -ENOMEM;
        *fc = (struct forward_call){.s = s, .req = req};
        int r = cluster_forward(s->cluster, http, http_req_method(req), target, body, len,
                                http_req_header(req, "X-Nomad-Token"), on_forwarded, fc);
        if (r < 0)
                free(fc);
        return r;
}

/* GET /v1/operator/snapshot: a view of the state is taken on the loop (O(1)) and
 * serialised on libuv's pool, as Raft's own snapshots are. */
struct snapshot_save {
        uv_work_t work;
        struct server *s;
        struct http_req *req;
        struct state_store *view;
        uint64_t index;
        char *out;
};

static void snapshot_save_work(uv_work_t *w) {
        struct snapshot_save *ss = w->data;
        json_t *state = NULL;
        if (state_save(ss->view, &state) < 0)
                return;
        json_t *doc = api_snapshot_document(state, ss->index);
        ss->out = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
        json_decref(doc);
}


static void snapshot_save_done(uv_work_t *w, int status) {
        struct snapshot_save *ss = w->data;
        struct server *s = ss->s;
        if (status < 0 || !ss->out)
                http_req_respond_text(ss->req, 500, "cannot serialise the state%s", status < 0 ? " (canceled)" : "");
        else
                http_req_respond_bytes(ss->req, 200, "application/json", ss->out, strlen(ss->out), ss->index);
        state_destroy(ss->view);
        free(ss->out);
        free(ss);
        s->snapshot_saves--;
        server_finish_stop(s);
}

static void snapshot_save_op(void *data, struct http_req *req) {
        struct server *s = data;
        if (s->stopping) {
                http_req_respond_text(req, 503, "the server is shutting down");
                return;
        }
        struct snapshot_save *ss = calloc(1, sizeof(*ss));
        if (ss)
                ss->view = state_snapshot(s->state);
        if (!ss || !ss->view) {
                free(ss);
                http_req_respond_text(req, 500, "out of memory");
                return;
        }
        ss->req = req;
        ss->s = s;
        ss->index = state_latest_index(s->state);
        ss->work.data = ss;
        if (uv_queue_work(s->loop, &ss->work, snapshot_save_work, snapshot_save_done) < 0) {
                state_destroy(ss->view);
                free(ss);
                http_req_respond_text(req, 500, "cannot queue the snapshot");
                return;
        }
        s->snapshot_saves++;
}

/* PUT /v1/operator/snapshot: the body (up to LIMIT_SNAPSHOT_BODY) decoded, checked
 * against a throw-away state and serialised as its StateRestore command on libuv's
 * pool; back on the loop only the proposal. */
struct snapshot_restore {
        uv_work_t work;
        struct server *s;
        struct http_req *req;
        const char *body; /* the request's: valid until req is answered */
        size_t len;
        char *cmd;
        int rc;
        struct error err;
        int64_t queued_ns;
};

static void snapshot_restore_work(uv_work_t *w) {
        struct snapshot_restore *sr = w->data;
        json_t *cmd = NULL;
        sr->rc = api_snapshot_restore_command(sr->body, sr->len, &cmd, &sr->err);
        if (sr->rc < 0)
                return;
        sr->cmd = json_dumps(cmd, JSON_COMPACT);
        json_decref(cmd);
        if (!sr->cmd)
                sr->rc = errorf(&sr->err, -ENOMEM, "out of memory");
}

static void snapshot_restore_done(uv_work_t *w, int status) {
        struct snapshot_restore *sr = w->data;
        struct server *s = sr->s;
        if (status < 0 || s->stopping) {
                free(sr->cmd);
                http_req_respond_text(sr->req, 503, "the server is shutting down");
        } else if (sr->rc < 0) {
                api_snapshot_restore_refused(sr->req, sr->rc, sr->err.msg);
        } else {
                log_info("snapshot restore: %zu bytes checked in %.1f ms off the loop; proposing %zu bytes",
                         sr->len, (double)(clock_monotonic_ns() - sr->queued_ns) / 1e6, strlen(sr->cmd));
                struct batch_part part = {.kind = BATCH_JSON, .buf = sr->cmd, .len = strlen(sr->cmd)};
                /* an entry of its own, which the FSM builds off the loop (raft_node.h, heavy) */
                flush_proposals(s);
                int r = server_propose_parts(s, &part, 1, api_snapshot_restored, sr->req); /* takes cmd */
                if (r == 0)
                        flush_proposals(s);
                if (r < 0)
                        api_snapshot_restore_refused(sr->req, r == -EINVAL ? -EIO : r,
                                                     r == -EAGAIN  ? "not the leader any more"
                                                     : r == -E2BIG ? "its StateRestore command is larger than "
                                                                     "LIMIT_SNAPSHOT_BODY"
                                                                   : strerror(-r));
        }
        free(sr);
        s->snapshot_restores--;
        server_finish_stop(s);
}

static void snapshot_restore_op(void *data, struct http_req *req, const char *body, size_t len) {
        struct server *s = data;
        if (s->stopping) {
                http_req_respond_text(req, 503, "the server is shutting down");
                return;
        }
        struct snapshot_restore *sr = calloc(1, sizeof(*sr));
        if (!sr) {
                http_req_respond_text(req, 500, "out of memory");
                return;
        }
        *sr = (struct snapshot_restore){.s = s, .req = req, .body = body, .len = len};
        sr->work.data = sr;
        sr->queued_ns = clock_monotonic_ns();
        if (uv_queue_work(s->loop, &sr->work, snapshot_restore_work, snapshot_restore_done) < 0) {
                free(sr);
                http_req_respond_text(req, 500, "cannot queue the snapshot's decoding");
                return;
        }
        s->snapshot_restores++;
}

static void leader_info_op(void *data, bool *ret_known, uint64_t *ret_last_contact_ms) {
        struct server *s = data;
        *ret_known = s->leader || raft_node_leader_address(s->raft, NULL) != NULL;
        *ret_last_contact_ms = raft_node_last_contact_ms(s->raft);
}

/* The leader deletes ACL tokens expired for longer than -acl-token-gc-threshold
 * (ACLTokenDelete), up to 64 a second. */
static void propose_acl_token_gc(struct server *s) {
        uint64_t mono = clock_monotonic_ns();
        if (mono - s->last_acl_gc_ns < (uint64_t)NS_PER_SEC)
                return;
        s->last_acl_gc_ns = mono;
        char ids[64][37];
        size_t n = state_acl_tokens_expired(s->state, clock_now_ns() - s->cfg->acl_token_gc_threshold_ms * NS_PER_MS,
                                            ids, 64);
        for (size_t i = 0; i < n; i++) {
                json_t *cmd = json_pack("{s:s, s:s}", "Type", "ACLTokenDelete", "AccessorID", ids[i]);
                if (cmd && server_propose(s, cmd, NULL, NULL) == 0)
                        log_info("acl: deleting expired token %s", ids[i]);
        }
}

/* The leader commits the servers' secret when the state has none (the cluster's
 * first leader, an upgrade, a PUT /v1/operator/snapshot): at most once a second. */
static void propose_server_secret(struct server *s) {
        uint64_t mono = clock_monotonic_ns();
        if (state_acl_server_secret(s->state) || mono - s->last_secret_ns < (uint64_t)NS_PER_SEC)
                return;
        s->last_secret_ns = mono;
        json_t *cmd = fsm_server_secret_command();
        if (!cmd || server_propose(s, cmd, NULL, NULL) < 0)
                log_warn("cannot propose the servers' secret (no randomness or out of memory); retrying");
}

/* api_ops.offload: the API's work on the pool (lists), counted until done so that
 * the server stops after it. */
struct api_offload {
        struct server *s;
        void (*work)(void *arg);
        void (*done)(void *arg, bool canceled);
        void *arg;
};

static void api_offload_work(void *arg) {
        struct api_offload *o = arg;
        o->work(o->arg);
}

static void api_offload_done(void *arg, bool canceled) {
        struct api_offload *o = arg;
        struct server *s = o->s;
        o->done(o->arg, canceled);
        free(o);
        s->api_offloads--;
        server_finish_stop(s);
}

static int api_offload_op(void *data, void (*work)(void *), void (*done)(void *, bool), void *arg) {
        struct server *s = data;
        if (s->stopping)
                return -ESHUTDOWN;
        struct api_offload *o = malloc(sizeof(*o));
        if (!o)
                return -ENOMEM;
        *o = (struct api_offload){.s = s, .work = work, .done = done, .arg = arg};
        int r = offload_run(s->loop, api_offload_work, api_offload_done, o);
        if (r < 0) {
                free(o);
                return r;
        }
        s->api_offloads++;
        return 0;
}

static const struct api_ops server_api_ops = {
    .offload = api_offload_op,
    .gc = server_gc_op,
    .forward = forward_op,
    .snapshot_save = snapshot_save_op,
    .snapshot_restore = snapshot_restore_op,
    .sched_rpc = server_sched_rpc_op,
    .sched_plan = server_sched_plan_op,
    .leader_info = leader_info_op,
    .propose = propose_op,
    .is_leader = is_leader_op,
    .leader_address = leader_address_op,
    .raft_self = raft_self_op,
    .raft_configuration = raft_configuration_op,
    .raft_join = raft_join_op,
    .raft_remove = raft_remove_op,
};

static const struct workers_ops server_workers_ops = {
    .propose = propose_op,
    .propose_parts = propose_parts_op,
    .is_leader = is_leader_op,
};

/* ---- leadership ------------------------------------------------------------------------ */

static bool restore_eval(void *arg, const struct eval *e) {
        struct server *s = arg;
        if (e->status == EVAL_PENDING)
                broker_enqueue(s->broker, (struct eval *)e);
        else if (e->status == EVAL_BLOCKED)
                blocked_block(s->blocked, (struct eval *)e);
        return true;
}

static bool restore_heartbeat(void *arg, const struct node *n) {
        struct server *s = arg;
        /* After a failover every live node gets a fresh TTL. */
        if (n->status == NODE_READY)
                heartbeats_reset(s->heartbeats, n->id, clock_monotonic_ns());
        return true;
}

/* A new leader rebuilds what only the leader keeps, from the state: the broker's
 * pending evals, the blocked evals, and a fresh TTL plus grace for every ready node
 * (none is marked down for heartbeats the old leader got). */
static void establish_leadership(void *data, uint64_t barrier_index) {
        struct server *s = data;
        log_info("raft: this server is now the leader (%s); its state is applied up to the barrier at index %llu",
                 s->cfg->raft_addr, (unsigned long long)barrier_index);
        s->leader = true;
        workers_set_leader(s->workers, NULL); /* no new round on the old leader's broker */
        s->last_gc_ns = clock_monotonic_ns(); /* the first GC one interval from now */
        broker_set_enabled(s->broker, true);
        blocked_set_enabled(s->blocked, true);
        state_evals_foreach(s->state, restore_eval, s);
        state_nodes_foreach(s->state, restore_heartbeat, s);
        int launched = periodic_restore(s->periodic, s->state, clock_now_ns() / NS_PER_SEC);
        if (launched > 0)
                log_info("periodic: %d job(s) missed launches while there was no leader: launched once each", launched);
        workers_dispatch(s->workers);
        server_leader_changed(s); /* the requests held for want of a leader run now */
}

/* The dispatcher launches a periodic job's child: its JobRegister, with an eval. */
static int periodic_launch_op(void *data, const struct job *child) {
        struct server *s = data;
        char eval_id[ID_BUF];
        id_generate(eval_id);
        json_t *cmd = periodic_register_command(child, eval_id, "periodic-job", clock_now_ns());
        if (!cmd)
                return -ENOMEM;
        log_info("periodic: launching %s", child->id);
        return server_propose(s, cmd, NULL, NULL);
}

/* A restored state's periodic jobs are read on libuv's pool (periodic.h). */
static int periodic_offload_op(void *data, void (*work)(void *), void (*done)(void *, bool), void *arg) {
        return offload_run(((struct server *)data)->loop, work, done, arg);
}

static const struct periodic_ops server_periodic_ops = {.launch = periodic_launch_op, .offload = periodic_offload_op};

static void revoke_leadership(void *data) {
        struct server *s = data;
        log_info("raft: leadership lost");
        s->leader = false;
        workers_leadership_lost(s->workers); /* other servers' waiting workers go to the next leader */
        broker_set_enabled(s->broker, false);
        blocked_set_enabled(s->blocked, false);
        heartbeats_clear(s->heartbeats);
        periodic_clear(s->periodic);
        /* its own commands still to commit are parsed like any other now (the same
         * objects): nothing kept waits for a take that may never come */
        json_kept_clear(s->kept);
}

static bool raft_leader_op(void *data, uint64_t *ret_term) {
        struct server *s = data;
        *ret_term = raft_node_term(s->raft);
        return raft_node_is_leader(s->raft);
}

static void on_leadership_barrier(void *arg, int status, uint64_t index) {
        struct server *s = arg;
        if (status < 0 && status != -ECANCELED)
                log_warn("raft: the leadership barrier failed (%s): leader duties not started", strerror(-status));
        leadership_barrier_done(s->leadership, status, index);
}

static int leadership_barrier_op(void *data) {
        struct server *s = data;
        log_info("raft: elected leader in term %llu: waiting for a barrier before the leader duties",
                 (unsigned long long)raft_node_term(s->raft));
        return raft_node_barrier(s->raft, on_leadership_barrier, s);
}

static const struct leadership_ops server_leadership_ops = {.raft_leader = raft_leader_op,
                                                            .barrier = leadership_barrier_op,
                                                            .establish = establish_leadership,
                                                            .revoke = revoke_leadership};

/* A node missed its heartbeat: mark it down, with an eval for every job it ran. */
static bool collect_job_of_alloc(void *arg, const struct alloc *a) {
        json_t *jobs = arg;
        if (!alloc_terminal(a) && a->job)
                json_object_set_new(jobs, a->job_id, json_integer(a->job->priority * 16 + (int)a->job->type));
        return true;
}

/* A node-down proposal that failed (leadership moved, Raft could not commit it)
 * is retried this much later, as long as this server leads and no heartbeat came. */
#define NODE_DOWN_RETRY_NS (1 * NS_PER_SEC)

struct node_down {
        struct server *s;
        char *id;
};

static void retry_node_down(struct server *s, const char *id, const char *why) {
        if (s->stopping || !s->leader)
                return;
        log_warn("node %s missed its heartbeat: marking it down failed (%s); retrying in 1 s", id, why);
        heartbeats_retry_at(s->heartbeats, id, clock_monotonic_ns() + NODE_DOWN_RETRY_NS);
}

static void on_node_down_applied(void *arg, int status, uint64_t index, const char *msg) {
        struct node_down *nd = arg;
        if (status == 0)
                log_warn("node %s missed its heartbeat: marked down at index %llu", nd->id, (unsigned long long)index);
        else if (status == -ENOENT)
                log_info("node %s: gone before it could be marked down (%s)", nd->id, msg);
        else
                retry_node_down(nd->s, nd->id, msg ? msg : strerror(-status));
        free(nd->id);
        free(nd);
}

static void mark_node_down(struct server *s, const char *node_id) {
        const struct node *n = state_node_get(s->state, node_id);
        if (!n || n->status == NODE_DOWN)
                return;
        json_t *jobs = json_object();
        state_allocs_by_node_foreach(s->state, node_id, collect_job_of_alloc, jobs);
        json_t *evals = json_array();
        const char *job_id;
        json_t *v;
        json_object_foreach(jobs, job_id, v) {
                struct eval *e = eval_new();
                char id[ID_BUF];
                id_generate(id);
                e->id = strdup(id);
                e->namespace = strdup("default");
                e->priority = (int)(json_integer_value(v) / 16);
                e->type = (enum job_type)(json_integer_value(v) % 16);
                e->triggered_by = strdup("node-update");
                e->job_id = strdup(job_id);
                e->node_id = strdup(node_id);
                e->status = EVAL_PENDING;
                e->create_time = e->modify_time = clock_now_ns();
                json_array_append_new(evals, eval_to_json(e));
                eval_unref(e);
        }
        json_decref(jobs);
        json_t *cmd = json_pack("{s:s,s:s,s:s,s:I,s:o}", "Type", "NodeStatusUpdate", "NodeID", node_id, "Status",
                                "down", "UpdatedAt", (json_int_t)(clock_now_ns() / NS_PER_SEC), "Evals", evals);
        struct node_down *nd = calloc(1, sizeof(*nd));
        if (nd)
                nd->id = strdup(node_id);
        if (!nd || !nd->id) {
                json_decref(cmd);
                free(nd);
                retry_node_down(s, node_id, "out of memory");
                return;
        }
        nd->s = s;
        int r = server_propose(s, cmd, on_node_down_applied, nd);
        if (r < 0) {
                retry_node_down(s, node_id, r == -EAGAIN ? "not the leader" : strerror(-r));
                free(nd->id);
                free(nd);
        }
}

/* Evals the broker or the blocked tracker gave up on or found superseded: write
 * their final status through Raft, all in one command. Takes the references and
 * the array. */
static void close_evals(struct server *s, struct eval **evals, size_t n, enum eval_status status, const char *why) {
        if (n == 0) {
                free(evals);
                return;
        }
        json_t *list = json_array();
        for (size_t i = 0; i < n; i++) {
                struct eval *e = eval_copy(evals[i]);
                e->status = status;
                free(e->status_description);
                e->status_description = strdup(why);
                e->modify_time = clock_now_ns();
                json_array_append_new(list, eval_to_json(e));
                log_info("eval %s: %s (%s)", e->id, eval_status_str(status), why);
                eval_unref(e);
                eval_unref(evals[i]);
        }
        free(evals);
        server_propose(s, json_pack("{s:s,s:o}", "Type", "EvalUpdate", "Evals", list), NULL, NULL);
}

static void on_tick(uv_timer_t *t) {
        struct server *s = t->data;
        leadership_observe(s->leadership);
        /* A loop that stood still (a long fsync, a snapshot, a stopped process) read
         * no heartbeats meanwhile: that time does not count against the nodes. */
        /* A follower's workers take their evals from the leader's broker. */
        uint64_t leader_id = 0;
        workers_set_leader(s->workers,
                           !s->leader && s->cluster && raft_node_leader_address(s->raft, &leader_id) && leader_id
                               ? cluster_http_addr(s->cluster, leader_id)
                               : NULL);
        int64_t now_tick = clock_monotonic_ns();
        int64_t gap = s->last_tick_ns ? now_tick - s->last_tick_ns : 0;
        s->last_tick_ns = now_tick;
        if (s->leader && gap > LOOP_STALL_NS) {
                log_warn("the server's loop stalled for %lld ms: node heartbeat deadlines moved as much later",
                         (long long)(gap / NS_PER_MS));
                heartbeats_postpone(s->heartbeats, gap - TICK_NS);
        }
        if (s->leader) {
                broker_tick(s->broker);
                struct eval **drained = NULL;
                size_t n_drained = broker_drain_failed(s->broker, &drained);
                close_evals(s, drained, n_drained, EVAL_FAILED, "evaluation reached delivery limit (3)");
                n_drained = broker_drain_cancelable(s->broker, &drained);
                close_evals(s, drained, n_drained, EVAL_CANCELED, "superseded by a newer evaluation of the job");
                n_drained = blocked_drain_duplicates(s->blocked, &drained);
                close_evals(s, drained, n_drained, EVAL_CANCELED,
                            "superseded by a newer blocked evaluation of the job");
                uint64_t now = clock_monotonic_ns();
                if (now - s->last_unblock_failed_ns >= UNBLOCK_FAILED_INTERVAL_NS) {
                        s->last_unblock_failed_ns = now;
                        blocked_unblock_failed(s->blocked);
                }
                if (!s->gc_running && now - s->last_gc_ns >= (uint64_t)s->cfg->gc_interval_ms * NS_PER_MS) {
                        s->last_gc_ns = now;
                        struct gc_thresholds th = {.eval_ns = s->cfg->eval_gc_threshold_ms * NS_PER_MS,
                                                   .job_ns = s->cfg->job_gc_threshold_ms * NS_PER_MS,
                                                   .node_ns = s->cfg->node_gc_threshold_ms * NS_PER_MS};
                        if (server_gc_start(s, &th, NULL, NULL) < 0)
                                log_warn("gc: out of memory; the periodic GC waits for the next interval");
                }
                propose_acl_token_gc(s);
                propose_server_secret(s);
                char **expired = NULL;
                size_t n = heartbeats_expired(s->heartbeats, clock_monotonic_ns(), &expired);
                for (size_t i = 0; i < n; i++) {
                        mark_node_down(s, expired[i]);
                        free(expired[i]);
                }
                free(expired);
                periodic_tick(s->periodic, s->state, clock_now_ns() / NS_PER_SEC);
                workers_dispatch(s->workers);
                workers_tick(s->workers);
        }
        api_wake_parked(s->api, true);
}

/* ---- start / stop ------------------------------------------------------------------------ */

static void on_signal(uv_signal_t *h, int signum) {
        struct server *s = h->data;
        log_info("received signal %d: shutting down", signum);
        server_stop(s);
}

static void on_left(void *arg, int status, const char *msg) {
        log_msg(status == 0 ? LOG_LVL_INFO : LOG_LVL_WARN, "leave: %s", msg);
        server_stop(arg);
}

/* SIGTERM with -leave-on-terminate: leave the Raft configuration, then stop
 * (raft/leave.h); a second SIGTERM stops at once. */
static void on_sigterm(uv_signal_t *h, int signum) {
        struct server *s = h->data;
        struct leave_config lc = {.loop = s->loop, .raft = &s->raft, .cluster = &s->cluster, .state = &s->state,
                                  .id = (uint64_t)s->cfg->raft_id, .done = on_left, .arg = s};
        uv_signal_start(h, on_signal, SIGTERM);
        if (!s->cfg->leave_on_terminate || !s->raft || !s->cluster || s->stopping || leave_start(&lc) < 0)
                on_signal(h, signum);
        else
                log_info("received signal %d: leaving the Raft configuration first (-leave-on-terminate)", signum);
}

static int start_raft(struct server *s, const struct raft_node_peer *voters, size_t n, bool bootstrap,
                      struct error *err) {
        struct raft_node_config rc = {
            .id = (uint64_t)s->cfg->raft_id,
            .address = s->cfg->raft_addr,
            .data_dir = s->cfg->data_dir,
            .bootstrap = bootstrap,
            .voters = voters,
            .n_voters = n,
            .election_timeout_ms = s->cfg->dev ? 300 : 1000,
            .heartbeat_timeout_ms = s->cfg->dev ? 50 : 100,
            .snapshot_threshold = (unsigned)s->cfg->raft_snapshot_threshold,
            .snapshot_trailing =
                (unsigned)(s->cfg->raft_snapshot_threshold < 2048 ? s->cfg->raft_snapshot_threshold / 2 : 1024),
            .leader_changed = server_leader_changed,
            .leader_changed_arg = s};
        char role[96]; /* the role every Raft peer must hold; the region is checked (config.c) */
        snprintf(role, sizeof(role), "server.%s.nomad", s->cfg->region);
        struct transport_tls_config tls = {.ca_file = s->cfg->tls_ca_file,
                                           .cert_file = s->cfg->tls_cert_file,
                                           .key_file = s->cfg->tls_key_file,
                                           .server_name = role};
        if (s->cfg->tls_rpc)
                rc.tls = &tls;
        return raft_node_create(s->loop, &rc, &fsm_raft_ops, s->fsm, &s->raft, err);
}

/* The cluster module found its peers: bootstrap with them (n > 0) or start empty. */
static int cluster_start_raft(void *data, const struct raft_node_peer *voters, size_t n) {
        struct server *s = data;
        struct error err = {0};
        if (s->stopping || s->raft)
                return -EALREADY;
        int r = start_raft(s, voters, n, n > 0, &err);
        if (r < 0) {
                log_error("cannot start Raft: %s", err.msg);
                server_stop(s);
        }
        return r;
}

static const struct cluster_ops server_cluster_ops = {.start_raft = cluster_start_raft};

/* Start an HTTP listener on addr ("ip:port", named by flag in errors) with o's
 * limits, serving the API's handler. */
static int listen_on(struct server *s, const char *flag, const char *addr, struct http_server_opts *o,
                     struct http_server **ret, struct error *err) {
        char host[64];
        snprintf(host, sizeof(host), "%s", addr);
        char *colon = strrchr(host, ':');
        if (!colon)
                return errorf(err, -EINVAL, "%s \"%s\": expected ip:port", flag, addr);
        *colon = '\0';
        o->addr = host;
        o->port = atoi(colon + 1);
        int r = http_server_start(s->loop, o, api_handle, s->api, ret, err);
        if (r < 0 && err)
                error_prefix(err, "%s", flag);
        return r;
}

int server_start(struct server *s, struct error *err) {
        /* The loop's handles first: server_stop closes them whatever failed later. */
        uv_timer_init(s->loop, &s->tick);
        s->tick.data = s;
        uv_timer_init(s->loop, &s->wake);
        s->wake.data = s;
        uv_check_init(s->loop, &s->flush);
        s->flush.data = s;
        uv_signal_init(s->loop, &s->sigint);
        s->sigint.data = s;
        uv_signal_init(s->loop, &s->sigterm);
        s->sigterm.data = s;
        s->state = state_create();
        s->broker = broker_create(&clock_real, NULL);
        s->blocked = blocked_create(s->broker);
        s->heartbeats = heartbeats_create(s->cfg->heartbeat_ttl_ms * NS_PER_MS, s->cfg->heartbeat_grace_ms * NS_PER_MS);
        s->periodic = periodic_create(&server_periodic_ops, s);
        s->leadership = leadership_create(&server_leadership_ops, s);
        s->predecode = plan_predecode_create(s->loop);
        s->kept = json_kept_create();
        if (!s->state || !s->broker || !s->blocked || !s->heartbeats || !s->periodic || !s->leadership ||
            !s->predecode || !s->kept)
                return errorf(err, -ENOMEM, "out of memory");
        s->fsm = fsm_create(&s->state, &server_fsm_hooks, s);
        struct api_config ac = {.node_secret = s->cfg->node_secret,
                                .join_token = s->cfg->join_token,
                                .acl_enabled = s->cfg->acl_enabled,
                                .agents_https = s->cfg->tls_http,
                                .num_schedulers = (int)s->cfg->num_schedulers,
                                .state = &s->state,
                                .heartbeats = s->heartbeats,
                                .raft_addr = s->cfg->raft_addr,
                                .region = s->cfg->region,
                                .datacenter = s->cfg->datacenter,
                                .name = s->cfg->name,
                                .hold_timeout_ms = s->cfg->rpc_hold_timeout_ms,
                                .ops = &server_api_ops,
                                .data = s,
                                .loop = s->loop};
        s->api = api_create(&ac);
        if (!s->fsm || !s->api)
                return errorf(err, -ENOMEM, "out of memory");
        struct workers_config wc = {.loop = s->loop,
                                    .broker = s->broker,
                                    .state = &s->state,
                                    .n = (int)s->cfg->num_schedulers,
                                    .ops = &server_workers_ops,
                                    .data = s,
                                    .tls = s->cfg->tls_http};
        int r = workers_create(&wc, &s->workers);
        if (r < 0)
                return errorf(err, r, "cannot start scheduler workers");
        /* HTTP before Raft: a server that discovers its peers answers them first. */
        struct tls_config tls = {.http = s->cfg->tls_http,
                                 .ca_file = s->cfg->tls_ca_file,
                                 .cert_file = s->cfg->tls_cert_file,
                                 .key_file = s->cfg->tls_key_file,
                                 .verify_client = s->cfg->tls_verify_https_client};
        struct http_server_opts ho = {.tls = &tls,
                                      .max_conns = (unsigned)s->cfg->http_max_conns,
                                      .max_conns_per_ip = (unsigned)s->cfg->http_max_conns_per_client,
                                      .max_parked = (unsigned)s->cfg->http_max_parked,
                                      .idle_timeout_s = (unsigned)((s->cfg->http_idle_timeout_ms + 999) / 1000),
                                      .large_body = api_large_body,
                                      .body_limit = api_body_limit};
        http_client_direct(true); /* calls to peers never go through the environment's proxy */
        if (tls.http) { /* calls to peers present this server's certificate */
                struct tls_client tc = {0};
                snprintf(tc.ca_cert, sizeof(tc.ca_cert), "%s", tls.ca_file);
                snprintf(tc.client_cert, sizeof(tc.client_cert), "%s", tls.cert_file);
                snprintf(tc.client_key, sizeof(tc.client_key), "%s", tls.key_file);
                http_client_set_tls(&tc);
        }
        r = listen_on(s, "-http-addr", s->cfg->http_addr, &ho, &s->http, err);
        if (r < 0)
                return r;
        if (*s->cfg->agent_addr) {
                /* Node agents' own listener: the same handler (so the same node-secret
                 * checks and the same forwarding of node writes to the leader), the same
                 * TLS, bounds of its own (docs/security.md, "Floods"). */
                struct http_server_opts ao = {.tls = &tls,
                                              .agents_only = true,
                                              .max_conns = (unsigned)s->cfg->agent_max_conns,
                                              .max_parked = (unsigned)s->cfg->agent_max_parked,
                                              .idle_timeout_s = ho.idle_timeout_s};
                r = listen_on(s, "-agent-addr", s->cfg->agent_addr, &ao, &s->agent_http, err);
                if (r < 0)
                        return r;
        }
        if (!server_config_clustered(s->cfg)) {
                r = start_raft(s, NULL, 0, s->cfg->bootstrap, err);
                if (r < 0)
                        return r;
        } else {
                struct cluster_config cc = {.loop = s->loop,
                                            .id = (uint64_t)s->cfg->raft_id,
                                            .raft_addr = s->cfg->raft_addr,
                                            .http_addr = s->cfg->http_addr,
                                            .agent_addr = s->cfg->agent_addr,
                                            .name = s->cfg->name,
                                            .datacenter = s->cfg->datacenter,
                                            .join = s->cfg->join,
                                            .bootstrap_expect = (unsigned)s->cfg->bootstrap_expect,
                                            .tls = s->cfg->tls_http,
                                            .join_token = s->cfg->join_token,
                                            .ops = &server_cluster_ops,
                                            .data = s};
                s->cluster = cluster_create(&cc);
                if (!s->cluster)
                        return errorf(err, -ENOMEM, "out of memory");
                /* A restart over existing Raft state rejoins through its stored configuration. */
                bool restart = raft_node_dir_has_state(s->cfg->data_dir);
                if (restart) {
                        r = start_raft(s, NULL, 0, false, err);
                        if (r < 0)
                                return r;
                }
                cluster_start(s->cluster, restart);
        }
        uv_timer_start(&s->tick, on_tick, 20, 100);
        uv_signal_start(&s->sigint, on_signal, SIGINT);
        uv_signal_start(&s->sigterm, on_sigterm, SIGTERM);
        log_info("drover-server: HTTP API on %s://%s%s%s, Raft on %s%s (ID %lld), data in %s, %lld scheduler "
                 "worker(s)%s",
                 s->cfg->tls_http ? "https" : "http", s->cfg->http_addr,
                 s->agent_http ? ", node agents' listener on " : "", s->agent_http ? s->cfg->agent_addr : "",
                 s->cfg->raft_addr,
                 s->cfg->tls_rpc ? " over mutual TLS" : "", (long long)s->cfg->raft_id, s->cfg->data_dir,
                 (long long)s->cfg->num_schedulers, s->cluster ? "; looking for the other servers" : "");
        return 0;
}

/* The last step of stopping: the HTTP daemon goes once nothing can answer a
 * request any more: Raft closed (its apply, barrier and membership callbacks
 * have run, each answering its request while the connection was there; the
 * workers, whose plans hold followers' requests, are gone with it) and no
 * snapshot save or follower's plan decoding is on the pool. */
void server_finish_stop(struct server *s) {
        if (!s->stopping || s->raft || s->raft_closing || s->snapshot_saves > 0 || s->snapshot_restores > 0 ||
            s->gc_collects > 0 || s->plan_decodes > 0 || s->api_offloads > 0 || !s->http)
                return;
        api_drop_parked(s->api);
        s->agent_http = http_server_destroy(s->agent_http);
        s->http = http_server_destroy(s->http);
        log_info("drover-server: stopped");
}

static void on_raft_closed(void *arg) {
        struct server *s = arg;
        s->raft = NULL;
        s->raft_closing = false;
        s->workers = workers_destroy(s->workers);
        s->leadership = leadership_destroy(s->leadership); /* no barrier callback after Raft closed */
        server_finish_stop(s);
}

void server_stop(struct server *s) {
        if (s->stopping)
                return;
        /* Commands not yet proposed are answered now; from here on every new
         * command, join, removal or snapshot save is refused at once. */
        struct proposal_batch *pending = s->proposals;
        s->proposals = NULL;
        if (pending)
                batch_fail(pending, -ECANCELED, "the server is shutting down");
        batch_free(pending);
        s->stopping = true;
        s->predecode = plan_predecode_destroy(s->predecode); /* the FSM decodes what is left itself */
        s->kept = json_kept_destroy(s->kept); /* likewise: it parses what is left */
        leadership_stop(s->leadership); /* no leader duty starts or runs from here on */
        uv_check_stop(&s->flush);
        uv_close((uv_handle_t *)&s->flush, NULL);
        s->cluster = cluster_destroy(s->cluster); /* answers the forwarded requests still held */
        api_drop_parked(s->api);
        uv_timer_stop(&s->tick);
        uv_close((uv_handle_t *)&s->tick, NULL);
        uv_timer_stop(&s->wake);
        uv_close((uv_handle_t *)&s->wake, NULL);
        uv_close((uv_handle_t *)&s->sigint, NULL);
        uv_close((uv_handle_t *)&s->sigterm, NULL);
        /* Raft before HTTP: closing it fails the proposals, barrier and membership
         * changes still in flight, and their callbacks answer their requests. */
        if (s->raft) {
                s->raft_closing = true;
                raft_node_close(s->raft, on_raft_closed, s);
        } else {
                s->workers = workers_destroy(s->workers);
                s->leadership = leadership_destroy(s->leadership);
                server_finish_stop(s);
        }
}
