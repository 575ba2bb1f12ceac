/* server_sched.c - the leader's side of the other servers' scheduler workers
 * (POST /v1/internal/sched/{dequeue,plan,eval,ack}): an eval handed out (or waited
 * for), a plan decoded on libuv's pool and queued for the applier, an eval update
 * committed, an ack. */
#include "controlplane/server_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/error.h"
#include "common/jsonx.h"
#include "common/log.h"
#include "common/macros.h"
#include "common/model.h"
#include "controlplane/api/http.h"
#include "controlplane/broker/broker.h"
#include "controlplane/plan/codec.h"
#include "controlplane/scheduler/plan.h"
#include "controlplane/state/state.h"
#include "controlplane/worker.h"

static void respond_rpc_status(struct http_req *req, int status, const char *msg) {
        if (status == -EAGAIN || status == -ENOTCONN)
                http_req_respond_text(req, 503, "not the leader");
        else
                http_req_respond_text(req, status == -ESTALE ? 409 : 500, "%s", msg ? msg : strerror(-status));
}

/* Committed whole (no node rejected): the result is the plan the follower sent, so
 * the answer is its index alone, not the plan back (encoding and decoding 1,000
 * allocations twice more per plan). */
static bool plan_whole(const struct plan_result *r) {
        return r->n_rejected == 0 && r->refresh_index == 0;
}

static void on_remote_plan(void *arg, int status, const struct plan_result *r) {
        struct http_req *req = arg;
        if (status < 0) {
                respond_rpc_status(req, status, status == -ESTALE ? "the eval's token is no longer outstanding" : NULL);
                return;
        }
        json_t *out = plan_whole(r) ? json_pack("{s:b,s:I}", "Whole", 1, "AllocIndex", (json_int_t)r->alloc_index)
                                    : json_pack("{s:o}", "Result", plan_result_to_wire(r));
        http_req_respond_json(req, 200, out, r->alloc_index);
}

/* The same for a plan sent in the compact form: a result that is not whole goes back
 * in that form too. */
static void on_remote_plan_bin(void *arg, int status, const struct plan_result *r) {
        struct http_req *req = arg;
        void *buf = NULL;
        size_t len = 0;
        if (status < 0 || plan_whole(r)) {
                on_remote_plan(arg, status, r);
        } else if (plan_result_encode(r, &buf, &len) < 0) {
                http_req_respond_text(req, 500, "out of memory");
        } else {
                http_req_respond_bytes(req, 200, PLAN_CODEC_CONTENT_TYPE, buf, len, r->alloc_index);
                free(buf);
        }
}

static void on_remote_eval(void *arg, int status, uint64_t index, const char *msg) {
        struct http_req *req = arg;
        if (status < 0)
                respond_rpc_status(req, status, msg);
        else
                http_req_respond_json(req, 200, json_pack("{s:I}", "Index", (json_int_t)index), index);
}

/* A plan of another server: the result r (taken) of its plan, with the plan's own fields. */
static int remote_plan(struct plan_result *r, const struct api_sched_plan *f, struct plan **ret, struct error *err) {
        struct plan *p = plan_new(r->eval_id, f->token, r->job);
        if (!p) {
                plan_result_free(r);
                return errorf(err, -ENOMEM, "out of memory");
        }
        p->priority = f->priority;
        p->all_at_once = f->all_at_once;
        p->snapshot_index = f->snapshot_index;
        p->timestamp_ns = r->timestamp_ns;
        int rc = 0;
        for (size_t i = 0; i < r->n_nodes && rc == 0; i++) {
                const struct plan_node *pn = &r->nodes[i];
                for (size_t k = 0; k < pn->n_place && rc == 0; k++)
                        rc = plan_add_place(p, pn->place[k]);
                for (size_t k = 0; k < pn->n_stop && rc == 0; k++)
                        rc = plan_add_stop(p, pn->stop[k].alloc, pn->stop[k].desired, pn->stop[k].description,
                                           pn->stop[k].client_status);
        }
        plan_result_free(r);
        if (rc < 0) {
                plan_free(p);
                return errorf(err, rc, "plan: out of memory");
        }
        *ret = p;
        return 0;
}

/* Queue plan p (taken) of another server's worker on the applier; answered through cb. */
static void submit_remote_plan(struct server *s, struct http_req *req, struct plan_result *r,
                               const struct api_sched_plan *f, workers_remote_cb cb) {
        struct plan *p = NULL;
        struct error err = {0};
        if (remote_plan(r, f, &p, &err) < 0) {
                http_req_respond_text(req, 500, "plan: %s", err.msg);
                return;
        }
        int rc = workers_submit_remote(s->workers, p, f->token, cb, req);
        if (rc < 0)
                respond_rpc_status(req, rc, NULL);
}

/* A follower's plan (1,000 allocations: milliseconds, most of them the first touch of
 * the memory its objects take) is decoded on libuv's pool, not on the loop, which
 * meanwhile answers writes and drives Raft; the decoded result is submitted on the
 * loop. The request and its body stay held until answered; server_stop waits for
 * these (server_finish_stop). Plans of different evals may reach the applier in another
 * order than they came: each is checked against the latest state on its own. */
struct plan_decode {
        uv_work_t work;
        struct server *s;
        struct http_req *req;
        struct api_sched_plan f; /* token: a copy (the query string goes with the connection) */
        const void *body;
        size_t len;
        struct plan_result *r;
        struct error err;
        int64_t queued_ns, decoded_ns;
};

static void plan_decode_work(uv_work_t *w) {
        struct plan_decode *pd = w->data;
        if (plan_result_decode(pd->body, pd->len, &pd->r, &pd->err) < 0)
                pd->r = NULL;
        pd->decoded_ns = clock_monotonic_ns();
}

static void plan_decode_done(uv_work_t *w, int status) {
        struct plan_decode *pd = w->data;
        struct server *s = pd->s;
        log_debug("plan: a follower's plan of %zu bytes decoded on the pool, %.2f ms until decoded, %.2f ms more "
                  "until back on the loop",
                  pd->len, (double)(pd->decoded_ns - pd->queued_ns) / 1e6,
                  (double)(clock_monotonic_ns() - pd->decoded_ns) / 1e6);
        if (status < 0 || !s->leader || s->stopping) {
                plan_result_free(pd->r);
                respond_rpc_status(pd->req, -EAGAIN, NULL);
        } else if (!pd->r) {
                http_req_respond_text(pd->req, 400, "plan: %s", pd->err.msg);
        } else {
                submit_remote_plan(s, pd->req, pd->r, &pd->f, on_remote_plan_bin);
        }
        free((char *)pd->f.token);
        free(pd);
        s->plan_decodes--;
        server_finish_stop(s);
}

void server_sched_plan_op(void *data, struct http_req *req, const struct api_sched_plan *f, const void *body,
                          size_t len) {
        struct server *s = data;
        if (!s->leader || s->stopping) {
                respond_rpc_status(req, -EAGAIN, NULL);
                return;
        }
        struct plan_decode *pd = calloc(1, sizeof(*pd));
        char *token = f->token ? strdup(f->token) : NULL;
        if (!pd || !token) {
                free(pd);
                free(token);
                http_req_respond_text(req, 500, "out of memory");
                return;
        }
        *pd = (struct plan_decode){.s = s, .req = req, .f = *f, .body = body, .len = len};
        pd->f.token = token;
        pd->work.data = pd;
        pd->queued_ns = clock_monotonic_ns();
        if (uv_queue_work(s->loop, &pd->work, plan_decode_work, plan_decode_done) < 0) {
                free(token);
                free(pd);
                http_req_respond_text(req, 500, "cannot queue the plan's decoding");
                return;
        }
        s->plan_decodes++;
}

/* A dequeue's answer: the eval, its token, and the index the follower's state must
 * reach before it plans (what this server has now); {} when none. */
static void answer_dequeue(struct server *s, struct http_req *req, const struct eval *ev, const char *token) {
        if (!ev) {
                http_req_respond_json(req, 200, json_object(), 0);
                return;
        }
        uint64_t wait = state_latest_index(s->state);
        http_req_respond_json(
            req, 200, json_pack("{s:o,s:s,s:I}", "Eval", eval_to_json(ev), "Token", token, "WaitIndex", (json_int_t)wait),
            wait);
}

struct dequeue_wait {
        struct server *s;
        struct http_req *req;
};

static void on_dequeue_waited(void *arg, const struct eval *ev, const char *token) {
        struct dequeue_wait *dw = arg;
        answer_dequeue(dw->s, dw->req, ev, token);
        free(dw);
}

/* Another server's worker takes an eval: one ready now, else (with "WaitMs") the
 * next one the dispatcher hands it within that wait (WORKERS_DEQUEUE_MAX_WAIT_MS at
 * most), else none. */
static void sched_dequeue(struct server *s, struct http_req *req, const json_t *body) {
        static const enum job_type types[] = {JOB_SERVICE, JOB_BATCH, JOB_SYSTEM, JOB_SYSBATCH};
        struct eval *ev = NULL;
        char *token = NULL;
        if (broker_dequeue(s->broker, types, ARRAY_SIZE(types), &ev, &token) == 0) {
                answer_dequeue(s, req, ev, token);
                eval_unref(ev);
                free(token);
                return;
        }
        json_int_t wait_ms = jx_int(body, "WaitMs", 0);
        if (wait_ms > WORKERS_DEQUEUE_MAX_WAIT_MS)
                wait_ms = WORKERS_DEQUEUE_MAX_WAIT_MS;
        struct dequeue_wait *dw = wait_ms > 0 ? malloc(sizeof(*dw)) : NULL;
        if (dw)
                *dw = (struct dequeue_wait){.s = s, .req = req};
        if (!dw || workers_wait_eval(s->workers, (int64_t)wait_ms * NS_PER_MS, on_dequeue_waited, dw) < 0) {
                free(dw);
                answer_dequeue(s, req, NULL, NULL);
        }
}

void server_sched_rpc_op(void *data, const char *what, struct http_req *req, const json_t *body) {
        struct server *s = data;
        if (!s->leader || s->stopping) {
                respond_rpc_status(req, -EAGAIN, NULL);
                return;
        }
        if (strcmp(what, "dequeue") == 0) {
                sched_dequeue(s, req, body);
        } else if (strcmp(what, "ack") == 0) {
                const char *id = jx_str(body, "EvalID", ""), *token = jx_str(body, "Token", "");
                int r =
                    jx_bool(body, "Nack", false) ? broker_nack(s->broker, id, token) : broker_ack(s->broker, id, token);
                if (r < 0)
                        respond_rpc_status(req, -ESTALE, "the eval's token is no longer outstanding");
                else
                        http_req_respond_json(req, 200, json_object(), 0);
                workers_dispatch(s->workers);
        } else if (strcmp(what, "eval") == 0) {
                json_t *e = json_object_get(body, "Eval");
                if (!json_is_object(e)) {
                        http_req_respond_text(req, 400, "expected {\"Eval\": {...}, \"EvalID\", \"Token\"}");
                        return;
                }
                /* only the worker that still holds its eval writes (Nomad's Eval.Update / Eval.Create) */
                const char *id = jx_str(body, "EvalID", ""), *token = jx_str(body, "Token", "");
                if (broker_check_token(s->broker, id, token) < 0) {
                        log_warn("eval update from another server refused: eval \"%.64s\" is no longer outstanding "
                                 "under its token",
                                 id);
                        respond_rpc_status(req, -ESTALE, "the eval's token is no longer outstanding");
                        return;
                }
                int r =
                    server_propose(s, json_pack("{s:s,s:[O]}", "Type", "EvalUpdate", "Evals", e), on_remote_eval, req);
                if (r < 0)
                        respond_rpc_status(req, r, NULL);
        } else if (strcmp(what, "plan") == 0) { /* the JSON form, as sent before the compact one */
                struct plan_result *r = NULL;
                struct error err = {0};
                if (plan_result_from_wire(json_object_get(body, "Plan"), &r, &err) < 0) {
                        http_req_respond_text(req, 400, "plan: %s", err.msg);
                        return;
                }
                const struct api_sched_plan f = {.token = jx_str(body, "Token", ""),
                                                 .priority = (int)jx_int(body, "Priority", 50),
                                                 .all_at_once = jx_bool(body, "AllAtOnce", false),
                                                 .snapshot_index = (uint64_t)jx_int(body, "SnapshotIndex", 0)};
                submit_remote_plan(s, req, r, &f, on_remote_plan);
        } else {
                http_req_respond_text(req, 404, "unknown scheduler RPC \"%s\" (dequeue, ack, eval, plan)", what);
        }
}
