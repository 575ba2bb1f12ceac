/* routes_operator.c - /v1/operator/raft/..., /v1/operator/scheduler/configuration,
 * /v1/system/gc and /v1/internal/raft/self. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/error.h"
#include "common/jsonx.h"
#include "common/limits.h"
#include "common/macros.h"
#include "controlplane/api/http.h"
#include "controlplane/api/routes_internal.h"
#include "controlplane/plan/codec.h"
#include "controlplane/scheduler/scheduler.h"
#include "controlplane/state/state.h"
#include "controlplane/state/state_acl.h"

/* ---- Raft membership ------------------------------------------------------------------- */

static void on_change_done(void *arg, int status, const char *msg) {
        struct http_req *req = arg;
        if (status == 0)
                http_req_respond_json(req, 200, json_object(), 0);
        else
                http_req_respond_text(req,
                                      status == -ENOENT                       ? 404
                                      : status == -EBUSY || status == -EAGAIN ? 503
                                                                              : 500,
                                      "raft membership change failed: %s", msg ? msg : strerror(-status));
}

static bool have_raft(struct route_ctx *c) {
        if (c->s->ops->raft_configuration)
                return true;
        http_req_respond_text(c->req, 404, "this server has no Raft membership to show");
        return false;
}

void h_raft_configuration(struct route_ctx *c) {
        if (!have_raft(c))
                return;
        json_t *conf = c->s->ops->raft_configuration(c->s->data);
        uint64_t idx = (uint64_t)jx_int(conf, "Index", 0);
        http_req_respond_json(c->req, 200, conf, idx);
}

void h_raft_join(struct route_ctx *c) {
        if (!have_raft(c) || !is_leader_or_fail(c))
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
        int r = c->s->ops->raft_join(c->s->data, (uint64_t)id, addr, http, on_change_done, c->req);
        if (r < 0)
                on_change_done(c->req, r, strerror(-r));
}

void h_raft_peer_remove(struct route_ctx *c) {
        if (!have_raft(c) || !is_leader_or_fail(c))
                return;
        const char *id = http_req_query(c->req, "id");
        const char *addr = http_req_query(c->req, "address");
        char *end = NULL;
        unsigned long long n = id ? strtoull(id, &end, 10) : 0;
        if ((!id || !*id || *end || n == 0) && (!addr || !*addr)) {
                http_req_respond_text(c->req, 400, "remove-peer: give ?id=<raft id> or ?address=<ip:port>");
                return;
        }
        int r = c->s->ops->raft_remove(c->s->data, id && n ? (uint64_t)n : 0, addr, on_change_done, c->req);
        if (r < 0)
                on_change_done(c->req, r, r == -ENOENT ? "no such peer" : strerror(-r));
}

void h_internal_raft_self(struct route_ctx *c) {
        if (!c->s->ops->raft_self) {
                http_req_respond_text(c->req, 404, "this server has no Raft membership to show");
                return;
        }
        http_req_respond_json(c->req, 200, c->s->ops->raft_self(c->s->data), 0);
}

/* ---- garbage collection ------------------------------------------------------------------ */

void h_system_gc(struct route_ctx *c) {
        if (!c->s->ops->gc) {
                http_req_respond_text(c->req, 404, "this server does not collect garbage");
                return;
        }
        if (!is_leader_or_fail(c))
                return;
        struct pending_write *pw = pending_write_new(c, NULL, false);
        if (!pw)
                return;
        int r = c->s->ops->gc(c->s->data, on_write_applied, pw);
        if (r < 0) {
                free(pw);
                http_req_respond_text(c->req, 500, "garbage collection failed: %s", strerror(-r));
        }
}

/* ---- scheduler configuration ------------------------------------------------------------- */

static const char *const alg_names[SCHED_ALG_COUNT] = {
    [SCHED_ALG_BINPACK] = "binpack", [SCHED_ALG_SPREAD] = "spread", [SCHED_ALG_DOTPRODUCT] = "dotproduct"};

_Static_assert(SCHED_ALG_COUNT == STATE_SCHED_ALGORITHMS, "state.h's algorithm count follows scheduler.h's");

static json_t *sched_config_json(const struct state_sched_config *ss) {
        return json_pack("{s:s,s:{s:b,s:b,s:b,s:b},s:b,s:b,s:b,s:I,s:I}", "SchedulerAlgorithm",
                         alg_names[ss->algorithm], "PreemptionConfig", "SystemSchedulerEnabled", ss->preempt_system,
                         "SysBatchSchedulerEnabled", ss->preempt_sysbatch, "BatchSchedulerEnabled", ss->preempt_batch,
                         "ServiceSchedulerEnabled", ss->preempt_service, "MemoryOversubscriptionEnabled", 0,
                         "RejectJobRegistration", ss->reject_job_registration, "PauseEvalBroker", 0, "CreateIndex",
                         (json_int_t)ss->create_index, "ModifyIndex", (json_int_t)ss->modify_index);
}

/* The configuration lives in the replicated state (a SchedulerConfig command), so
 * any server answers it and a new leader keeps it. */
void h_sched_config_get(struct route_ctx *c) {
        const struct state_sched_config *sc = state_sched_config(ctx_state(c));
        uint64_t idx = sc->modify_index ? sc->modify_index : 1;
        http_req_respond_json(
            c->req, 200, json_pack("{s:o,s:I,s:b,s:i}", "SchedulerConfig", sched_config_json(sc), "Index", (json_int_t)idx,
                                     "KnownLeader", c->s->ops->is_leader(c->s->data), "LastContact", 0),
            idx);
}

/* A bool member of obj, or def; -1 (and a 400) when it is there and not a bool. */
static int opt_bool(struct route_ctx *c, const json_t *obj, const char *key, bool def) {
        json_t *v = json_object_get(obj, key);
        if (!v)
                return def;
        if (!json_is_boolean(v)) {
                http_req_respond_text(c->req, 400, "%s must be true or false", key);
                return -1;
        }
        return json_is_true(v);
}

/* The SchedulerConfig command was applied (Updated: true), lost its check-and-set
 * race in the FSM (-ECANCELED: Updated: false, as Nomad answers), or failed. */
static void on_sched_config_applied(void *arg, int status, uint64_t index, const char *msg) {
        struct http_req *req = arg;
        if (status == -ECANCELED)
                http_req_respond_json(req, 200, json_pack("{s:b,s:I}", "Updated", 0, "Index", (json_int_t)index), 0);
        else if (status < 0)
                http_req_respond_text(req, status == -EINVAL ? 400 : 500, "scheduler configuration: %s",
                                      msg && *msg ? msg : strerror(-status));
        else
                http_req_respond_json(req, 200, json_pack("{s:b,s:I}", "Updated", 1, "Index", (json_int_t)index),
                                      index);
}

void h_sched_config_put(struct route_ctx *c) {
        if (!is_leader_or_fail(c))
                return;
        _cleanup_json_ json_t *body = parse_body(c);
        if (!body)
                return;
        if (!json_is_object(body)) {
                http_req_respond_text(c->req, 400, "the body is a SchedulerConfiguration object");
                return;
        }
        struct state_sched_config ss = *state_sched_config(ctx_state(c));
        const char *cas = http_req_query(c->req, "cas");
        unsigned long long want = 0;
        if (cas) {
                char *end;
                errno = 0;
                want = strtoull(cas, &end, 10);
                if (!*cas || *end || *cas == '-' || errno) {
                        http_req_respond_text(c->req, 400, "Invalid cas: \"%s\" (a ModifyIndex)", cas);
                        return;
                }
                /* Lost already: answer without a Raft round (the FSM checks again). */
                if (want != ss.modify_index) {
                        http_req_respond_json(
                            c->req, 200, json_pack("{s:b,s:I}", "Updated", 0, "Index", (json_int_t)ss.modify_index), 0);
                        return;
                }
        }
        const char *alg = jx_str(body, "SchedulerAlgorithm", alg_names[ss.algorithm]);
        int found = -1;
        for (int i = 0; i < SCHED_ALG_COUNT; i++)
                if (strcmp(alg, alg_names[i]) == 0)
                        found = i;
        if (found < 0 || (!*alg)) {
                http_req_respond_text(c->req, 400, "invalid scheduler algorithm \"%s\": binpack, spread or dotproduct",
                                      alg);
                return;
        }
        ss.algorithm = found;
        json_t *pc = json_object_get(body, "PreemptionConfig");
        if (pc && !json_is_object(pc)) {
                http_req_respond_text(c->req, 400, "PreemptionConfig must be an object");
                return;
        }
        int v;
        if ((v = opt_bool(c, pc, "SystemSchedulerEnabled", ss.preempt_system)) < 0)
                return;
        ss.preempt_system = v;
        if ((v = opt_bool(c, pc, "SysBatchSchedulerEnabled", ss.preempt_sysbatch)) < 0)
                return;
        ss.preempt_sysbatch = v;
        if ((v = opt_bool(c, pc, "BatchSchedulerEnabled", ss.preempt_batch)) < 0)
                return;
        ss.preempt_batch = v;
        if ((v = opt_bool(c, pc, "ServiceSchedulerEnabled", ss.preempt_service)) < 0)
                return;
        ss.preempt_service = v;
        if ((v = opt_bool(c, body, "RejectJobRegistration", ss.reject_job_registration)) < 0)
                return;
        ss.reject_job_registration = v;
        static const char *const unsupported[] = {"MemoryOversubscriptionEnabled", "PauseEvalBroker"};
        for (size_t i = 0; i < ARRAY_SIZE(unsupported); i++) {
                if ((v = opt_bool(c, body, unsupported[i], false)) < 0)
                        return;
                if (v) {
                        http_req_respond_text(c->req, 400, "%s: drover's scheduler does not support it",
                                              unsupported[i]);
                        return;
                }
        }
        json_t *cmd = json_pack("{s:s,s:i,s:b,s:b,s:b,s:b,s:b}", "Type", "SchedulerConfig", "Algorithm", ss.algorithm,
                                "PreemptSystem", ss.preempt_system, "PreemptSysBatch", ss.preempt_sysbatch,
                                "PreemptBatch", ss.preempt_batch, "PreemptService", ss.preempt_service,
                                "RejectJobRegistration", ss.reject_job_registration);
        if (cmd && cas)
                json_object_set_new(cmd, "CAS", json_integer((json_int_t)want));
        if (!cmd) {
                http_req_respond_text(c->req, 500, "out of memory");
                return;
        }
        int r = c->s->ops->propose(c->s->data, cmd, on_sched_config_applied, c->req);
        if (r < 0)
                http_req_respond_text(c->req, 500, "cannot propose the change: %s",
                                      r == -EAGAIN ? "not the leader" : strerror(-r));
}

/* ---- operator snapshot ------------------------------------------------------------------ */

json_t *api_snapshot_document(json_t *state, uint64_t index) {
        /* The servers' secret stays on the servers: a restored document has none, and
         * the leader commits a new one (fsm_server_secret.h). */
        if (json_is_object(state))
                json_object_del(state, STATE_ACL_SERVER_SECRET_KEY);
        return json_pack("{s:s,s:i,s:I,s:o}", "Drover", "snapshot", "Version", 1, "Index", (json_int_t)index, "State",
                         state);
}

/* GET /v1/operator/snapshot: the whole state (from the leader unless ?stale). */
void h_operator_snapshot_get(struct route_ctx *c) {
        if (!c->s->ops->is_leader(c->s->data) && !http_req_has_query(c->req, "stale") && !is_leader_or_fail(c))
                return;
        if (c->s->ops->snapshot_save) {
                c->s->ops->snapshot_save(c->s->data, c->req);
                return;
        }
        json_t *state = NULL;
        if (state_save(ctx_state(c), &state) < 0) {
                http_req_respond_text(c->req, 500, "cannot serialise the state");
                return;
        }
        uint64_t index = state_latest_index(ctx_state(c));
        http_req_respond_json(c->req, 200, api_snapshot_document(state, index), index);
}

/* ---- operator snapshot restore ------------------------------------------------------------ */

bool api_large_body(const char *method, const char *path) {
        return (strcmp(method, "PUT") == 0 || strcmp(method, "POST") == 0) &&
               strcmp(path, "/v1/operator/snapshot") == 0;
}

size_t api_body_limit(void *data, struct http_req *req) {
        const struct api *s = data;
        struct error err = {0};
        /* the route's own permission (routes.c: a management token) */
        if (api_authorize(s->acl_enabled, *s->state, http_req_header(req, "X-Nomad-Token"), PERM_MANAGEMENT, NULL,
                          &err) < 0)
                return 0;
        return LIMIT_SNAPSHOT_BODY;
}

int api_snapshot_restore_command(const char *body, size_t len, json_t **ret_cmd, struct error *err) {
        if (len > LIMIT_SNAPSHOT_BODY)
                return errorf(err, -E2BIG, "the snapshot is larger than %zu bytes", LIMIT_SNAPSHOT_BODY);
        /* The whole state in one body: a table holds more than a request's usual
         * 10,000 elements and 200,000 values; every value takes at least a byte, so
         * the body's size bounds them (the scan still bounds nesting and strings). */
        int r = limits_json_prescan_with(body, len, len + 1, len + 1, err);
        if (r < 0)
                return r;
        json_error_t je;
        _cleanup_json_ json_t *doc = json_loadb(body, len, 0, &je);
        if (!doc)
                return errorf(err, -EINVAL, "Failed to decode request body: line %d, column %d: %s", je.line,
                              je.column, je.text);
        json_t *state = json_object_get(doc, "State");
        if (strcmp(jx_str(doc, "Drover", ""), "snapshot") != 0 || jx_int(doc, "Version", 0) != 1 ||
            !json_is_object(state))
                return errorf(err, -EINVAL,
                              "not a drover snapshot (expected the document of GET /v1/operator/snapshot: Drover "
                              "\"snapshot\", Version 1, State)");
        /* Nobody plants a secret of their choice: the leader draws a new one. */
        json_object_del(state, STATE_ACL_SERVER_SECRET_KEY);
        struct state_store *check = NULL;
        struct error serr = {0};
        if ((r = state_restore(state, &check, &serr)) < 0)
                return errorf(err, r == -ENOMEM ? r : -EINVAL, "snapshot: %s", serr.msg);
        state_destroy(check);
        json_t *cmd = json_pack("{s:s,s:O}", "Type", "StateRestore", "State", state);
        if (!cmd)
                return errorf(err, -ENOMEM, "out of memory");
        *ret_cmd = cmd;
        return 0;
}

void api_snapshot_restore_refused(struct http_req *req, int status, const char *msg) {
        http_req_respond_text(req, status == -EINVAL ? 400 : status == -E2BIG ? 413 : 500, "%s",
                              msg && *msg ? msg : strerror(-status));
}

void api_snapshot_restored(void *arg, int status, uint64_t index, const char *msg) {
        struct http_req *req = arg;
        if (status < 0)
                api_snapshot_restore_refused(req, status, msg);
        else
                http_req_respond_json(req, 200,
                                      json_pack("{s:I,s:b,s:i}", "Index", (json_int_t)index, "KnownLeader", 1,
                                                "LastContact", 0),
                                      index);
}

/* PUT /v1/operator/snapshot: replace the whole state on every server with a saved
 * one, through Raft (a StateRestore command). The body may be up to
 * LIMIT_SNAPSHOT_BODY (api_body_limit); the server decodes and checks it off the
 * loop (ops->snapshot_restore); without that op (tests) it is done here. */
void h_operator_snapshot_put(struct route_ctx *c) {
        if (!is_leader_or_fail(c))
                return;
        size_t len;
        const char *body = http_req_body(c->req, &len);
        if (c->s->ops->snapshot_restore) {
                c->s->ops->snapshot_restore(c->s->data, c->req, body, len);
                return;
        }
        json_t *cmd = NULL;
        struct error err = {0};
        int r = api_snapshot_restore_command(body, len, &cmd, &err);
        if (r < 0) {
                api_snapshot_restore_refused(c->req, r, err.msg);
                return;
        }
        propose(c, cmd, NULL, false);
}

/* A query number in [min, max] (decimal, nothing else): false when absent or not. */
static bool query_u64(struct route_ctx *c, const char *name, uint64_t min, uint64_t max, uint64_t *ret) {
        const char *v = http_req_query(c->req, name);
        if (!v || *v < '0' || *v > '9' || strlen(v) > 20)
                return false;
        char *end;
        errno = 0;
        unsigned long long n = strtoull(v, &end, 10);
        if (errno || *end || n < min || n > max)
                return false;
        *ret = n;
        return true;
}

/* POST /v1/internal/sched/plan with a binary body (routes.h: sched_plan). */
static void internal_sched_plan(struct route_ctx *c) {
        if (!c->s->ops->sched_plan) {
                http_req_respond_text(c->req, 404, "this server runs no scheduler RPC");
                return;
        }
        struct api_sched_plan p = {.token = http_req_query(c->req, "token")};
        size_t tlen = p.token ? strlen(p.token) : 0;
        bool ok = tlen > 0 && tlen <= API_SCHED_TOKEN_MAX;
        for (size_t i = 0; ok && i < tlen; i++)
                ok = p.token[i] > 0x20 && p.token[i] < 0x7f;
        if (!ok) {
                http_req_respond_text(c->req, 400, "plan: ?token must be 1-%d printable characters",
                                      API_SCHED_TOKEN_MAX);
                return;
        }
        uint64_t prio, all;
        if (!query_u64(c, "priority", 0, 1000, &prio) || !query_u64(c, "all_at_once", 0, 1, &all) ||
            !query_u64(c, "snapshot_index", 0, UINT64_MAX, &p.snapshot_index)) {
                http_req_respond_text(c->req, 400,
                                      "plan: expected ?priority=0-1000, ?all_at_once=0|1 and ?snapshot_index=N");
                return;
        }
        p.priority = (int)prio;
        p.all_at_once = all == 1;
        size_t len;
        const char *body = http_req_body(c->req, &len);
        c->s->ops->sched_plan(c->s->data, c->req, &p, body, len);
}

/* POST /v1/internal/sched/:what: another server's scheduler worker (worker.h). A
 * plan comes as the compact form of its result (PLAN_CODEC_CONTENT_TYPE), the rest
 * as JSON. */
void h_internal_sched(struct route_ctx *c) {
        const char *ctype = http_req_header(c->req, "Content-Type");
        if (strcmp(c->param[0], "plan") == 0 && ctype && strcasecmp(ctype, PLAN_CODEC_CONTENT_TYPE) == 0) {
                internal_sched_plan(c);
                return;
        }
        if (!c->s->ops->sched_rpc) {
                http_req_respond_text(c->req, 404, "this server runs no scheduler RPC");
                return;
        }
        _cleanup_json_ json_t *body = parse_body(c);
        if (!body)
                return;
        c->s->ops->sched_rpc(c->s->data, c->param[0], c->req, body);
}
