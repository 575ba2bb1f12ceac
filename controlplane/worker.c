/* worker.c - scheduler worker threads and the plan applier's loop side. */
#include "controlplane/worker.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "common/clock.h"
#include "common/dlist.h"
#include "common/error.h"
#include "common/http_client.h"
#include "common/json_fast.h"
#include "common/jsonx.h"
#include "common/limits.h"
#include "common/log.h"
#include "common/macros.h"
#include "common/model.h"
#include "controlplane/acl/secret.h"
#include "controlplane/api/routes_acl.h"
#include "controlplane/broker/broker.h"
#include "controlplane/broker/waiters.h"
#include "controlplane/plan/applier.h"
#include "controlplane/plan/check.h"
#include "controlplane/plan/codec.h"
#include "controlplane/raft/batch.h"
#include "controlplane/scheduler/scheduler.h"
#include "controlplane/state/state.h"
#include "controlplane/state/state_acl.h"

/* Candidate lists a worker keeps across evals: a few (pool, datacenters) keys, and
 * about 8 MiB of lists (16 bytes a candidate: 500,000 candidates). */
#define WORKER_CAND_ENTRIES 16
#define WORKER_CAND_BYTES (8u << 20)

enum req_kind { REQ_NONE, REQ_PLAN, REQ_EVAL_UPSERT, REQ_DONE, REQ_SNAPSHOT };

struct worker {
        struct workers *ws;
        int id;
        struct sched_cand_cache *cands; /* this worker's candidate lists (its thread only; NULL: none) */
        pthread_t thread;
        bool started;
        /* assigned by the loop (under ws->lock) */
        struct eval *eval;
        char *token;
        struct state_store *snap;
        bool busy;
        int64_t idle_since_ns; /* leader: when its last eval ended (the loop's; 0: never busy) */
        /* a request from the worker, answered by the loop (under ws->lock) */
        enum req_kind req;
        bool req_taken; /* the loop is serving it */
        struct plan *plan;
        struct eval *req_eval;
        int done_status;
        char done_msg[256];
        /* the answer */
        bool answered;
        int answer_status;
        struct plan_result *result;
        struct state_store *refreshed;
        struct dlink plan_link; /* on workers.plans */
        struct dlink eval_link; /* on workers.evals */
        /* a plan of another server's worker, queued here (leader): answered through cb */
        workers_remote_cb remote_cb;
        void *remote_arg;
        /* this worker schedules an eval of the leader's broker (follower): its HTTP address,
         * and the id of that eval during a round (its token is token) */
        char leader[64];
        const char *remote_eval_id;
};

struct workers {
        struct workers_config cfg;
        pthread_mutex_t lock;
        pthread_cond_t cond; /* workers wait for work and answers */
        uv_async_t async;
        bool stopping;
        int n;
        struct worker *w;
        struct dlist plans; /* workers whose plans wait for the applier */
        struct dlist evals; /* workers whose eval updates wait, sent with the next batch */
        struct plan_overlay *overlay;         /* results proposed, not yet applied */
        struct eval_waiters *waiters;         /* leader: other servers' workers waiting for an eval */
        struct check_job *checking;           /* plans being checked on the pool (one batch at a time) */
        struct dlist held; /* batches applied while a check reads their results */
        int batches_in_flight;
        char leader_http[64]; /* follower: the leader's HTTP address ("" on the leader, or none known) */
        char server_secret[SECRET_HASH_HEX];      /* the servers' secret from the state ("" before it is set) */
        uint64_t state_index;                     /* the live state's latest index (under lock) */
        int index_waiters;                        /* follower workers waiting for it to grow (under lock) */
        pthread_cond_t index_cond;                /* they wait on this, not on cond (no wake of idle workers) */
        unsigned long evals_processed, remote_evals_processed; /* under lock */
};

/* Plans committed together: one PlanApply entry carrying several results. */
struct plan_batch {
        struct workers *ws;
        size_t n;       /* plans: w[0..n) */
        size_t n_evals; /* eval updates: w[n..n+n_evals) */
        /* once applied (or failed): the outcome, and the next batch held (answer_held) */
        int status;
        uint64_t index;
        struct dlink held_link; /* on workers.held */
        struct worker *w[];
};

/* ---- worker thread side ------------------------------------------------------- */

static int ask_loop(struct worker *w, enum req_kind kind) {
        struct workers *ws = w->ws;
        pthread_mutex_lock(&ws->lock);
        w->req = kind;
        w->req_taken = false;
        w->answered = false;
        pthread_mutex_unlock(&ws->lock);
        uv_async_send(&ws->async);
        pthread_mutex_lock(&ws->lock);
        while (!w->answered && !ws->stopping)
                pthread_cond_wait(&ws->cond, &ws->lock);
        int r = w->answered ? w->answer_status : -ECANCELED;
        w->req = REQ_NONE;
        pthread_mutex_unlock(&ws->lock);
        return r;
}

static int planner_submit(void *data, struct plan *plan, struct plan_result **ret_result,
                          struct state_store **ret_new_snapshot, struct error *err) {
        struct worker *w = data;
        w->plan = plan;
        int r = ask_loop(w, REQ_PLAN);
        w->plan = NULL;
        if (r < 0) {
                w->result = plan_result_free(w->result);
                w->refreshed = state_destroy(w->refreshed);
        }
        if (r < 0)
                return errorf(err, r, "plan submit failed: %s", strerror(-r));
        *ret_result = w->result;
        w->result = NULL;
        if (ret_new_snapshot) {
                *ret_new_snapshot = w->refreshed;
                w->refreshed = NULL;
        } else {
                state_destroy(w->refreshed);
                w->refreshed = NULL;
        }
        return 0;
}

static int planner_upsert_eval(void *data, const struct eval *ev) {
        struct worker *w = data;
        w->req_eval = (struct eval *)ev;
        int r = ask_loop(w, REQ_EVAL_UPSERT);
        w->req_eval = NULL;
        return r;
}

static const struct planner_ops worker_planner = {
    .submit_plan = planner_submit,
    .update_eval = planner_upsert_eval,
    .create_eval = planner_upsert_eval,
};

/* ---- worker thread side, on a follower: evals of the leader's broker ------------------- */

#define REMOTE_TIMEOUT_MS 30000
#define REMOTE_IDLE_NS (100 * 1000 * 1000L) /* after a dequeue that failed or was not held */
#define REMOTE_INDEX_WAIT_MS 5000           /* for the local state to reach an index */

static bool stopping(struct workers *ws) {
        pthread_mutex_lock(&ws->lock);
        bool r = ws->stopping;
        pthread_mutex_unlock(&ws->lock);
        return r;
}

static void nap(struct workers *ws, long ns) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += ns;
        ts.tv_sec += ts.tv_nsec / 1000000000L;
        ts.tv_nsec %= 1000000000L;
        pthread_mutex_lock(&ws->lock);
        if (!ws->stopping)
                pthread_cond_timedwait(&ws->cond, &ws->lock, &ts);
        pthread_mutex_unlock(&ws->lock);
}

/* Until the live state has reached index (workers_state_reached), at most until
 * deadline (CLOCK_REALTIME, as the condition variable's clock) or stopping. */
static void wait_for_index(struct workers *ws, uint64_t index, const struct timespec *deadline) {
        pthread_mutex_lock(&ws->lock);
        ws->index_waiters++;
        while (!ws->stopping && ws->state_index < index &&
               pthread_cond_timedwait(&ws->index_cond, &ws->lock, deadline) != ETIMEDOUT)
                ;
        ws->index_waiters--;
        pthread_mutex_unlock(&ws->lock);
}

/* A snapshot of the local state once it has reached index (a follower applies the
 * log behind the leader): NULL after REMOTE_INDEX_WAIT_MS or when stopping. Woken
 * as the state moves; looked at again every 10 ms all the same. */
static struct state_store *snapshot_at(struct worker *w, uint64_t index) {
        for (int i = 0; i < REMOTE_INDEX_WAIT_MS / 10; i++) {
                if (ask_loop(w, REQ_SNAPSHOT) < 0)
                        return NULL;
                struct state_store *snap = w->refreshed;
                w->refreshed = NULL;
                if (snap && state_latest_index(snap) >= index)
                        return snap;
                state_destroy(snap);
                struct timespec ts;
                clock_gettime(CLOCK_REALTIME, &ts);
                ts.tv_nsec += 10 * 1000 * 1000L;
                ts.tv_sec += ts.tv_nsec / 1000000000L;
                ts.tv_nsec %= 1000000000L;
                wait_for_index(w->ws, index, &ts);
        }
        return NULL;
}

static int abort_when_stopping(void *arg) {
        return stopping(arg);
}

/* POST len bytes of content_type (NULL: JSON) to the leader's
 * /v1/internal/sched/<path>; *ret its 2xx answer (clear it). Given up when the
 * workers stop (a server's shutdown does not wait 30 s). */
static int remote_post(struct worker *w, const char *path, const void *body, size_t len, const char *content_type,
                       struct http_response *ret, struct error *err) {
        char url[320];
        snprintf(url, sizeof(url), "%s://%s/v1/internal/sched/%s", w->ws->cfg.tls ? "https" : "http", w->leader,
                 path);
        /* The leader's internal routes open to the servers' secret only (routes_acl.h). */
        char hdr[sizeof(API_SERVER_SECRET_HEADER) + 2 + SECRET_HASH_HEX];
        pthread_mutex_lock(&w->ws->lock);
        snprintf(hdr, sizeof(hdr), "%s: %s", API_SERVER_SECRET_HEADER, w->ws->server_secret);
        pthread_mutex_unlock(&w->ws->lock);
        const char *headers[] = {hdr, "Expect:", NULL}; /* no 100-continue round trip for a large plan */
        /* a plan's answer is at most the plan sent, itself at most the leader's body limit */
        int r = http_perform_max("POST", url, body, len, content_type, headers, LIMIT_HTTP_BODY, REMOTE_TIMEOUT_MS,
                                 2000, abort_when_stopping, w->ws, ret, err);
        explicit_bzero(hdr, sizeof(hdr));
        if (r == 0 && ret->status / 100 != 2) {
                char *q = strchr(url, '?');
                if (q)
                        *q = '\0'; /* the token stays out of the log */
                r = errorf(err, -EIO, "%s: %ld (%.160s)", url, ret->status, ret->body ? ret->body : "");
                http_response_clear(ret);
        }
        return r;
}

/* POST body (taken) to the leader's /v1/internal/sched/<what>; *ret its JSON answer. */
static int remote_call(struct worker *w, const char *what, json_t *body, json_t **ret, struct error *err) {
        char *text = body ? json_fast_dumps(body, JSON_COMPACT) : NULL;
        json_decref(body);
        *ret = NULL;
        if (!text)
                return errorf(err, -ENOMEM, "out of memory");
        struct http_response resp = {0};
        int r = remote_post(w, what, text, strlen(text), NULL, &resp, err);
        free(text);
        if (r == 0 && resp.status != 204 && !(*ret = json_fast_loadb(resp.body ? resp.body : "", resp.len, NULL)))
                r = errorf(err, -EINVAL, "/v1/internal/sched/%s: an answer that is not JSON", what);
        http_response_clear(&resp);
        return r;
}

/* The plan's result (the plan as the follower sent it) in the compact form of the
 * log (plan/codec.h) as the body, the plan's own fields in the query
 * (routes.h: sched_plan); the leader answers {"Whole":true,"AllocIndex":N}
 * when it committed the plan as sent (*ret NULL, as->alloc_index set), else the
 * result it committed (*ret) in the same compact form. */
static int remote_send_plan(struct worker *w, const struct plan *plan, struct plan_result *as,
                            struct plan_result **ret, struct error *err) {
        *ret = NULL; /* NULL with 0: committed whole, at as->alloc_index */
        void *buf = NULL;
        size_t len = 0;
        _cleanup_free_ char *token = http_escape(w->token ? w->token : "");
        if (!token || plan_result_encode(as, &buf, &len) < 0)
                return errorf(err, -ENOMEM, "out of memory");
        char path[256];
        snprintf(path, sizeof(path), "plan?token=%s&priority=%d&all_at_once=%d&snapshot_index=%llu", token,
                 plan->priority, plan->all_at_once ? 1 : 0, (unsigned long long)plan->snapshot_index);
        struct http_response resp = {0};
        int r = remote_post(w, path, buf, len, PLAN_CODEC_CONTENT_TYPE, &resp, err);
        free(buf);
        if (r < 0)
                return r;
        if (strcmp(resp.content_type, PLAN_CODEC_CONTENT_TYPE) == 0) {
                r = plan_result_decode(resp.body, resp.len, ret, err);
        } else {
                json_t *out = json_fast_loadb(resp.body, resp.len, NULL);
                if (!jx_bool(out, "Whole", false))
                        r = errorf(err, -EINVAL, "/v1/internal/sched/plan: an answer that is neither a result "
                                                 "nor {\"Whole\":true}");
                else
                        as->alloc_index = (uint64_t)jx_int(out, "AllocIndex", 0);
                json_decref(out);
        }
        http_response_clear(&resp);
        return r;
}

static int remote_submit(void *data, struct plan *plan, struct plan_result **ret_result,
                         struct state_store **ret_new_snapshot, struct error *err) {
        struct worker *w = data;
        struct plan_result *as = plan_result_new();
        if (!as)
                return errorf(err, -ENOMEM, "out of memory");
        as->job = job_ref(plan->job);
        as->eval_id = plan->eval_id ? strdup(plan->eval_id) : NULL;
        as->timestamp_ns = plan->timestamp_ns;
        int r = 0;
        for (size_t i = 0; i < plan->n_nodes && r == 0; i++)
                r = plan_result_add_node(as, &plan->nodes[i]);
        if (r < 0) {
                plan_result_free(as);
                return errorf(err, -ENOMEM, "out of memory");
        }
        struct plan_result *res = NULL;
        r = remote_send_plan(w, plan, as, &res, err);
        if (r < 0) {
                plan_result_free(as);
                return error_prefix(err, "plan submitted to the leader %s", w->leader), r;
        }
        if (!res)
                res = TAKE_PTR(as);
        plan_result_free(as);
        struct state_store *snap = NULL;
        uint64_t refresh = plan_result_refresh_index(res);
        if (refresh && !(snap = snapshot_at(w, refresh))) {
                plan_result_free(res);
                return errorf(err, -ETIMEDOUT, "the local state did not reach index %llu", (unsigned long long)refresh);
        }
        *ret_result = res;
        if (ret_new_snapshot)
                *ret_new_snapshot = snap;
        else
                state_destroy(snap);
        return 0;
}

static int remote_upsert_eval(void *data, const struct eval *ev) {
        struct worker *w = data;
        struct error err = {0};
        json_t *out = NULL;
        int r = remote_call(w, "eval",
                            json_pack("{s:o,s:s,s:s}", "Eval", eval_to_json(ev), "EvalID", w->remote_eval_id, "Token",
                                      w->token),
                            &out, &err);
        json_decref(out);
        if (r < 0)
                log_warn("worker %d: eval update through the leader %s failed: %s", w->id, w->leader, err.msg);
        return r;
}

static const struct planner_ops remote_planner = {
    .submit_plan = remote_submit,
    .update_eval = remote_upsert_eval,
    .create_eval = remote_upsert_eval,
};

/* One round on a follower: take an eval from the leader's broker, wait until this
 * server's state has what the leader had when it handed it out, schedule it here,
 * send the plans and eval updates to the leader, ack (or nack) it there. */
/* scheduler_process with the scheduler configuration of snap, the replicated state the
 * eval is planned against (PUT /v1/operator/scheduler/configuration), so that every
 * server's workers schedule the same way and a new leader keeps the operator's choice. */
static int process_eval(const struct state_store *snap, const struct eval *ev, const struct planner_ops *ops,
                        struct worker *w, struct error *err) {
        const struct state_sched_config *sc = state_sched_config(snap);
        const struct sched_preemption pre = {.system = sc->preempt_system,
                                             .sysbatch = sc->preempt_sysbatch,
                                             .service = sc->preempt_service,
                                             .batch = sc->preempt_batch};
        const struct scheduler_env env = {
            .algorithm = (enum sched_algorithm)sc->algorithm, .preemption = &pre, .cands = w->cands};
        return scheduler_process_env(snap, ev, ops, w, &env, err);
}

static void remote_round(struct worker *w) {
        struct workers *ws = w->ws;
        struct error err = {0};
        json_t *out = NULL;
        int64_t asked = clock_monotonic_ns();
        if (remote_call(w, "dequeue", json_pack("{s:i}", "WaitMs", WORKERS_DEQUEUE_WAIT_MS), &out, &err) < 0 ||
            !json_is_object(json_object_get(out, "Eval"))) {
                json_decref(out);
                /* at once again after a wait the leader held; a failure, or a leader
                 * that does not hold dequeues, is asked again after a pause */
                if (clock_monotonic_ns() - asked < WORKERS_DEQUEUE_WAIT_MS * NS_PER_MS / 2)
                        nap(ws, REMOTE_IDLE_NS);
                return;
        }
        struct eval *ev = NULL;
        const char *token = jx_str(out, "Token", "");
        uint64_t wait_index = (uint64_t)jx_int(out, "WaitIndex", 0);
        if (eval_from_json(json_object_get(out, "Eval"), &ev, &err) < 0 || !(w->token = strdup(token))) {
                log_warn("worker %d: undecodable eval from the leader: %s", w->id, err.msg);
                eval_unref(ev);
                json_decref(out);
                return;
        }
        json_decref(out);
        w->remote_eval_id = ev->id;
        struct state_store *snap = snapshot_at(w, wait_index);
        int r =
            snap ? process_eval(snap, ev, &remote_planner, w, &err)
                 : errorf(&err, -ETIMEDOUT, "the local state did not reach index %llu", (unsigned long long)wait_index);
        state_destroy(snap);
        if (r < 0)
                log_warn("worker %d: eval %s (job %s) of the leader's broker failed: %s; nacking", w->id, ev->id,
                         ev->job_id, err.msg);
        json_t *ack = json_pack("{s:s,s:s,s:b}", "EvalID", ev->id, "Token", w->token, "Nack", r < 0);
        struct error aerr = {0};
        if (remote_call(w, "ack", ack, &out, &aerr) < 0)
                log_warn("worker %d: ack of eval %s at the leader failed: %s", w->id, ev->id, aerr.msg);
        json_decref(out);
        pthread_mutex_lock(&ws->lock);
        ws->remote_evals_processed++;
        pthread_mutex_unlock(&ws->lock);
        w->remote_eval_id = NULL;
        eval_unref(ev);
        free(w->token);
        w->token = NULL;
}

/* Scheduler threads run below the loop's priority: the loop answers writes and
 * drives Raft (latency), the workers compute plans (throughput). On a host whose
 * cores are all busy, the kernel gives the loop the CPU first, and a write is not
 * kept waiting behind the scheduling of 1,000-allocation plans. The thread's nice
 * value is the process's plus WORKER_NICE (at most 19): raising one's own needs no
 * privilege, and a failure only costs latency. */
#define WORKER_NICE 10

static void lower_priority(int id) {
        errno = 0;
        int base = getpriority(PRIO_PROCESS, 0);
        if (base == -1 && errno != 0)
                return;
        int want = base + WORKER_NICE > 19 ? 19 : base + WORKER_NICE;
        if (setpriority(PRIO_PROCESS, (id_t)gettid(), want) < 0)
                log_debug("worker %d: cannot lower its priority: %s", id, strerror(errno));
}

static void *worker_main(void *arg) {
        struct worker *w = arg;
        struct workers *ws = w->ws;
        lower_priority(w->id);
        /* a follower's calls to the leader (dequeue, plan, ack, eval) over one kept
         * connection, not a new one each: each carries the eval's token (see
         * http_client_keep_thread_connection) */
        http_client_keep_thread_connection();
        for (;;) {
                pthread_mutex_lock(&ws->lock);
                while (!w->eval && !ws->stopping && !ws->leader_http[0])
                        pthread_cond_wait(&ws->cond, &ws->lock);
                if (ws->stopping) {
                        pthread_mutex_unlock(&ws->lock);
                        return NULL;
                }
                if (!w->eval) { /* a follower: the leader's evals (busy: not dispatched meanwhile) */
                        snprintf(w->leader, sizeof(w->leader), "%s", ws->leader_http);
                        w->busy = true;
                        pthread_mutex_unlock(&ws->lock);
                        remote_round(w);
                        pthread_mutex_lock(&ws->lock);
                        w->busy = false;
                        pthread_mutex_unlock(&ws->lock);
                        continue;
                }
                struct eval *ev = w->eval;
                struct state_store *snap = w->snap;
                pthread_mutex_unlock(&ws->lock);

                struct error err = {0};
                int r = process_eval(snap, ev, &worker_planner, w, &err);
                w->done_status = r;
                snprintf(w->done_msg, sizeof(w->done_msg), "%s", r < 0 ? err.msg : "");
                ask_loop(w, REQ_DONE);
        }
}

/* ---- loop side ------------------------------------------------------------------ */

static void remote_free(struct worker *w) {
        eval_unref(w->eval);
        free(w->token);
        plan_free(w->plan);
        plan_result_free(w->result);
        state_destroy(w->refreshed);
        free(w);
}

static void answer(struct worker *w, int status) {
        struct workers *ws = w->ws;
        if (w->remote_cb) { /* another server's plan: its answer goes back over HTTP */
                w->remote_cb(w->remote_arg, status, status == 0 ? w->result : NULL);
                remote_free(w);
                return;
        }
        pthread_mutex_lock(&ws->lock);
        w->answer_status = status;
        w->answered = true;
        pthread_cond_broadcast(&ws->cond);
        pthread_mutex_unlock(&ws->lock);
}

static void apply_next_plan(struct workers *ws);

/* A plan is answered: its eval's nack timer runs again (from full), as Nomad's. */
static void answer_plan(struct worker *w, int status) {
        if (w->eval && w->token)
                broker_resume_nack_timeout(w->ws->cfg.broker, w->eval->id, w->token);
        answer(w, status);
}

/* Each plan of an applied (or failed) batch gets its result: the commit's index, and a
 * fresh snapshot when part of it was rejected. */
static void answer_batch(struct workers *ws, struct plan_batch *b) {
        struct state_store *refreshed = NULL;
        for (size_t i = 0; i < b->n; i++) {
                struct worker *w = b->w[i];
                if (b->status == 0 && plan_result_refresh_index(w->result)) {
                        if (!refreshed)
                                refreshed = state_snapshot(*ws->cfg.state);
                        w->refreshed = refreshed ? state_snapshot(refreshed) : NULL;
                }
                if (b->status == 0)
                        plan_result_set_alloc_index(w->result, b->index);
                answer_plan(w, b->status);
        }
        state_destroy(refreshed);
        free(b);
}

/* The batches held while a check read their results, answered in the order applied. */
static void answer_held(struct workers *ws) {
        struct plan_batch *b;
        while ((b = dlist_shift_entry(&ws->held, struct plan_batch, held_link)))
                answer_batch(ws, b);
}

static void on_batch_applied(void *arg, int status, uint64_t index, const char *msg) {
        struct plan_batch *b = arg;
        struct workers *ws = b->ws;
        ws->batches_in_flight--;
        /* the state now holds these results (or they failed): out of the overlay at once */
        for (size_t i = 0; i < b->n; i++) {
                plan_overlay_remove(ws->overlay, b->w[i]->result);
                if (status < 0)
                        log_warn("plan applier: committing the plan of eval %s failed: %s",
                                 b->w[i]->eval ? b->w[i]->eval->id : "?", msg);
        }
        for (size_t i = b->n; i < b->n + b->n_evals; i++) {
                if (status < 0)
                        log_warn("worker: eval update failed: %s", msg);
                answer(b->w[i], status);
        }
        b->status = status;
        b->index = index;
        b->n_evals = 0;
        /* The check on the pool was queued after these results were proposed and may be
         * reading them (its overlay): their workers, who free them, wait until it is back. */
        if (ws->checking && b->n) {
                dlist_append(&ws->held, &b->held_link);
                return;
        }
        answer_batch(ws, b);
        apply_next_plan(ws);
}

/* Propose b's plans (their encoded results in parts[0..b->n), what they decode to in
 * decoded[0..b->n), both taken) together with the eval updates waiting, as one entry.
 * b NULL (out of memory): the eval updates waiting are answered with -ENOMEM. parts
 * and decoded have room for one more than b holds. */
static void propose_batch(struct workers *ws, struct plan_batch *b, struct batch_part *parts,
                          struct plan_result **decoded) {
        json_t *evals = json_array();
        struct worker *w;
        while ((w = dlist_shift_entry(&ws->evals, struct worker, eval_link))) {
                /* likewise an eval update or create (Nomad's Eval.Update / Eval.Create) */
                if (broker_check_token(ws->cfg.broker, w->eval ? w->eval->id : NULL, w->token) < 0) {
                        log_warn("worker %d: eval update refused: eval %s is no longer outstanding under its token",
                                 w->id, w->eval ? w->eval->id : "?");
                        answer(w, -ESTALE);
                        continue;
                }
                if (!b || json_array_append_new(evals, eval_to_json(w->req_eval)) < 0) {
                        answer(w, -ENOMEM);
                        continue;
                }
                b->w[b->n + b->n_evals++] = w;
        }
        if (!b || (b->n == 0 && b->n_evals == 0)) {
                json_decref(evals);
                free(parts);
                free(decoded);
                free(b);
                return;
        }
        size_t n_parts = b->n;
        int r = 0;
        if (b->n_evals) {
                json_t *o = json_pack("{s:s,s:O}", "Type", "EvalUpdate", "Evals", evals);
                char *cmd = o ? json_fast_dumps(o, JSON_COMPACT) : NULL;
                json_decref(o);
                if (cmd)
                        parts[n_parts++] = (struct batch_part){.kind = BATCH_JSON, .buf = cmd, .len = strlen(cmd)};
                else
                        r = -ENOMEM;
        }
        json_decref(evals);
        if (r == 0) {
                r = ws->cfg.ops->propose_parts(ws->cfg.data, parts, decoded, n_parts, on_batch_applied, b);
        } else {
                for (size_t i = 0; i < n_parts; i++) {
                        free((void *)parts[i].buf);
                        plan_result_free(decoded[i]);
                }
        }
        free(parts);
        free(decoded);
        if (r < 0) {
                for (size_t i = 0; i < b->n; i++) {
                        plan_overlay_remove(ws->overlay, b->w[i]->result);
                        answer_plan(b->w[i], r);
                }
                for (size_t i = b->n; i < b->n + b->n_evals; i++)
                        answer(b->w[i], r);
                free(b);
                return;
        }
        ws->batches_in_flight++;
}


/* A batch for n plans and the eval updates waiting, with its parts and their decoded
 * results (one more than it holds); all NULL when out of memory. */
static struct plan_batch *batch_new(struct workers *ws, size_t n, struct batch_part **ret_parts,
                                    struct plan_result ***ret_decoded) {
        size_t cap = n + dlist_count(&ws->evals);
        struct plan_batch *b = calloc(1, sizeof(*b) + cap * sizeof(b->w[0]));
        struct batch_part *parts = calloc(cap + 1, sizeof(*parts));
        struct plan_result **decoded = calloc(cap + 1, sizeof(*decoded));
        if (!b || !parts || !decoded) {
                free(b);
                free(parts);
                free(decoded);
                b = NULL;
                parts = NULL;
                decoded = NULL;
        }
        if (b)
                b->ws = ws;
        *ret_parts = parts;
        *ret_decoded = decoded;
        return b;
}

/* ---- the plans' checks on libuv's pool -------------------------------------------
 *
 * One batch at a time: the plans waiting, checked in order against a snapshot of the
 * state and a copy of the overlay (the results proposed, not yet applied), both taken
 * on the loop when the batch is queued. Plans that arrive meanwhile wait for it, so
 * that the next batch's overlay holds its results: two plans never both commit what
 * only one fits. An entry applied while a check runs leaves the overlay at once (the
 * next snapshot holds it), but the check's copy still reads its results: their
 * workers, who free them, are answered once the check is back (answer_held). */
struct check_job {
        uv_work_t work;
        struct workers *ws; /* NULL once abandoned (the workers stop): check_done only frees it */
        struct state_store *snap;
        struct plan_overlay *overlay; /* borrowed results in flight, then the batch's own */
        pthread_mutex_t mu;
        pthread_cond_t cv;
        bool checked; /* under mu: the pool thread is done with the plans and the overlay */
        int64_t queued_ns, started_ns, checked_ns;
        struct plan_check *v;
        size_t n;
        struct worker *w[]; /* w[i] submitted v[i].plan */
};

static void check_job_free(struct check_job *j) {
        for (size_t i = 0; j->v && i < j->n; i++) {
                plan_result_free(j->v[i].result);
                plan_result_free(j->v[i].decoded);
                free(j->v[i].buf);
        }
        free(j->v);
        plan_overlay_free(j->overlay);
        state_destroy(j->snap);
        pthread_cond_destroy(&j->cv);
        pthread_mutex_destroy(&j->mu);
        free(j);
}

/* On a pool thread: reads the snapshot, the plans and the overlay's results only. */
static void check_work(uv_work_t *req) {
        struct check_job *j = req->data;
        j->started_ns = clock_monotonic_ns();
        plan_check_batch(j->snap, j->overlay, j->v, j->n);
        j->checked_ns = clock_monotonic_ns();
        pthread_mutex_lock(&j->mu);
        j->checked = true;
        pthread_cond_signal(&j->cv);
        pthread_mutex_unlock(&j->mu);
}

/* The workers stop: the check no longer proposes. One no pool thread has begun is
 * cancelled; one under way is waited for (a few ms), since it reads plans that their
 * workers free once answered. check_done frees the job either way. */
static void check_abandon(struct check_job *j) {
        j->ws = NULL;
        if (uv_cancel((uv_req_t *)&j->work) == 0)
                return;
        pthread_mutex_lock(&j->mu);
        while (!j->checked)
                pthread_cond_wait(&j->cv, &j->mu);
        pthread_mutex_unlock(&j->mu);
}

/* Back on the loop: the results that commit something join the overlay and are
 * proposed as one entry with the eval updates waiting; no-ops and failures are
 * answered now. */
static void propose_checked(struct workers *ws, struct check_job *j) {
        struct batch_part *parts = NULL;
        struct plan_result **decoded = NULL;
        struct plan_batch *b = batch_new(ws, j->n, &parts, &decoded);
        for (size_t i = 0; i < j->n; i++) {
                struct worker *w = j->w[i];
                struct plan_check *c = &j->v[i];
                if (c->status < 0) {
                        log_warn("plan applier: %s", c->err.msg);
                        answer_plan(w, c->status);
                        continue;
                }
                w->result = TAKE_PTR(c->result);
                if (plan_result_is_noop(w->result)) {
                        if (plan_result_refresh_index(w->result))
                                w->refreshed = state_snapshot(*ws->cfg.state);
                        answer_plan(w, 0);
                        continue;
                }
                void *buf = TAKE_PTR(c->buf);
                if (!b || plan_overlay_add(ws->overlay, w->result) < 0) {
                        free(buf);
                        answer_plan(w, -ENOMEM);
                        continue;
                }
                parts[b->n] = (struct batch_part){.kind = BATCH_PLAN, .buf = buf, .len = c->len};
                decoded[b->n] = TAKE_PTR(c->decoded);
                b->w[b->n++] = w;
        }
        propose_batch(ws, b, parts, decoded);
}

static void check_done(uv_work_t *req, int status) {
        (void)status; /* cancelled only when abandoned */
        struct check_job *j = req->data;
        struct workers *ws = j->ws;
        if (ws) {
                ws->checking = NULL;
                answer_held(ws); /* this check no longer reads their results */
                log_debug("plan applier: %zu plan(s) checked and encoded on the pool in %.2f ms (%.2f ms queued, "
                          "%.2f ms back to the loop)",
                          j->n, (double)(j->checked_ns - j->started_ns) / 1e6,
                          (double)(j->started_ns - j->queued_ns) / 1e6,
                          (double)(clock_monotonic_ns() - j->checked_ns) / 1e6);
                propose_checked(ws, j);
        }
        check_job_free(j);
        if (ws)
                apply_next_plan(ws);
}

static struct check_job *check_job_new(size_t n) {
        struct check_job *j = calloc(1, sizeof(*j) + n * sizeof(j->w[0]));
        if (!j)
                return NULL;
        pthread_mutex_init(&j->mu, NULL);
        pthread_cond_init(&j->cv, NULL);
        j->work.data = j;
        if (!(j->v = calloc(n ? n : 1, sizeof(*j->v)))) {
                check_job_free(j);
                return NULL;
        }
        return j;
}

/* Take every plan waiting into j; a plan whose eval token is no longer outstanding (the
 * eval was nacked or timed out and handed to another worker) is refused here, on the
 * loop: only the holder of the current token may commit. */
static void take_plans(struct workers *ws, struct check_job *j) {
        struct worker *w;
        while ((w = dlist_shift_entry(&ws->plans, struct worker, plan_link))) {
                if (!j) {
                        answer_plan(w, -ENOMEM);
                        continue;
                }
                if (broker_check_token(ws->cfg.broker, w->eval ? w->eval->id : NULL, w->token) < 0) {
                        log_warn("plan applier: plan of eval %s rejected: its token is no longer outstanding",
                                 w->eval ? w->eval->id : "?");
                        answer_plan(w, -ESTALE);
                        continue;
                }
                j->v[j->n].plan = w->plan;
                j->w[j->n++] = w;
        }
}

/* Queue the plans waiting for their check on the pool (ws->checking), against a
 * snapshot of the state and a copy of the overlay taken now. */
static void start_check(struct workers *ws) {
        struct check_job *j = check_job_new(dlist_count(&ws->plans));
        take_plans(ws, j);
        if (!j || j->n == 0) {
                if (j)
                        check_job_free(j);
                return;
        }
        j->ws = ws;
        j->snap = state_snapshot(*ws->cfg.state);
        j->overlay = plan_overlay_copy(ws->overlay);
        j->queued_ns = clock_monotonic_ns();
        if (!j->snap || !j->overlay || uv_queue_work(ws->cfg.loop, &j->work, check_work, check_done) < 0) {
                for (size_t i = 0; i < j->n; i++)
                        answer_plan(j->w[i], -ENOMEM);
                check_job_free(j);
                return;
        }
        ws->checking = j;
}

/* The plan applier, pipelined and batched as Nomad's: every plan waiting is checked on
 * the pool (start_check) against the state plus the results still in flight, and what
 * fits is proposed as one entry without waiting for the entries before it. The eval
 * updates that workers asked for are proposed at once, not held for a check: a worker
 * updates its eval only once its plans are answered, so nothing they say waits on the
 * plans being checked (those that arrive while a check comes back ride with its plans,
 * after them). */
static void apply_next_plan(struct workers *ws) {
        /* with a check under way, the plans waiting go next (check_done comes back here) */
        if (!dlist_empty(&ws->plans) && !ws->checking)
                start_check(ws);
        if (dlist_empty(&ws->evals))
                return;
        struct batch_part *parts = NULL;
        struct plan_result **decoded = NULL;
        struct plan_batch *b = batch_new(ws, 0, &parts, &decoded);
        propose_batch(ws, b, parts, decoded);
}

static void finish_eval(struct workers *ws, struct worker *w) {
        struct broker *b = ws->cfg.broker;
        if (w->done_status < 0) {
                log_warn("worker %d: eval %s (job %s) failed: %s; nacking", w->id, w->eval->id, w->eval->job_id,
                         w->done_msg);
                broker_nack(b, w->eval->id, w->token);
        } else {
                broker_ack(b, w->eval->id, w->token);
        }
        pthread_mutex_lock(&ws->lock);
        eval_unref(w->eval);
        w->eval = NULL;
        free(w->token);
        w->token = NULL;
        state_destroy(w->snap);
        w->snap = NULL;
        w->busy = false;
        w->idle_since_ns = clock_monotonic_ns();
        ws->evals_processed++;
        pthread_mutex_unlock(&ws->lock);
        answer(w, 0);
}

static void serve_requests(struct workers *ws) {
        for (int i = 0; i < ws->n; i++) {
                struct worker *w = &ws->w[i];
                pthread_mutex_lock(&ws->lock);
                enum req_kind k = w->req_taken || w->answered ? REQ_NONE : w->req;
                if (k != REQ_NONE)
                        w->req_taken = true;
                pthread_mutex_unlock(&ws->lock);
                switch (k) {
                case REQ_NONE:
                        break;
                case REQ_PLAN:
                        /* no redelivery while the plan waits for the applier and Raft */
                        broker_pause_nack_timeout(ws->cfg.broker, w->eval->id, w->token);
                        dlist_append(&ws->plans, &w->plan_link);
                        break;
                case REQ_EVAL_UPSERT:
                        dlist_append(&ws->evals, &w->eval_link);
                        break;
                case REQ_DONE:
                        finish_eval(ws, w);
                        break;
                case REQ_SNAPSHOT:
                        w->refreshed = state_snapshot(*ws->cfg.state);
                        answer(w, w->refreshed ? 0 : -ENOMEM);
                        break;
                }
        }
        apply_next_plan(ws);
        workers_dispatch(ws);
}

static void on_async(uv_async_t *h) {
        serve_requests(h->data);
}

/* The local worker idle the longest (not busy), or NULL. */
static struct worker *longest_idle(struct workers *ws) {
        struct worker *best = NULL;
        pthread_mutex_lock(&ws->lock); /* a follower's round may have just ended or begun */
        for (int i = 0; i < ws->n; i++) {
                struct worker *w = &ws->w[i];
                if (!w->busy && (!best || w->idle_since_ns < best->idle_since_ns))
                        best = w;
        }
        pthread_mutex_unlock(&ws->lock);
        return best;
}

static void give_local(struct workers *ws, struct worker *w, struct eval *ev, char *token) {
        struct state_store *snap = state_snapshot(*ws->cfg.state);
        pthread_mutex_lock(&ws->lock);
        w->eval = ev;
        w->token = token;
        w->snap = snap;
        w->busy = true;
        pthread_cond_broadcast(&ws->cond);
        pthread_mutex_unlock(&ws->lock);
}

/* Ready evals go to whoever has waited for one the longest, this server's idle
 * workers and other servers' waiting ones alike (Nomad's broker serves its
 * waiters in order): every server's workers take a share of the evals, not only
 * those of a backlog. */
void workers_dispatch(struct workers *ws) {
        if (!ws || ws->stopping || !ws->cfg.ops->is_leader(ws->cfg.data))
                return;
        static const enum job_type types[] = {JOB_SERVICE, JOB_BATCH, JOB_SYSTEM, JOB_SYSBATCH};
        for (;;) {
                struct worker *w = longest_idle(ws);
                int64_t remote_since = eval_waiters_oldest_ns(ws->waiters);
                if (!w && remote_since == INT64_MAX)
                        return;
                struct eval *ev = NULL;
                char *token = NULL;
                if (broker_dequeue(ws->cfg.broker, types, ARRAY_SIZE(types), &ev, &token) < 0)
                        return;
                if (w && w->idle_since_ns <= remote_since) {
                        give_local(ws, w, ev, token);
                        continue;
                }
                eval_waiters_give(ws->waiters, ev, token);
                eval_unref(ev);
                free(token);
        }
}

int workers_wait_eval(struct workers *ws, int64_t wait_ns, eval_waiter_fn fn, void *arg) {
        if (ws->stopping || !ws->cfg.ops->is_leader(ws->cfg.data))
                return -EAGAIN;
        return eval_waiters_add(ws->waiters, clock_monotonic_ns(), wait_ns, fn, arg);
}

void workers_state_reached(struct workers *ws, uint64_t index) {
        if (!ws)
                return;
        pthread_mutex_lock(&ws->lock);
        ws->state_index = index;
        if (ws->index_waiters)
                pthread_cond_broadcast(&ws->index_cond);
        pthread_mutex_unlock(&ws->lock);
}

void workers_tick(struct workers *ws) {
        if (ws)
                eval_waiters_expire(ws->waiters, clock_monotonic_ns());
}

void workers_leadership_lost(struct workers *ws) {
        if (ws)
                eval_waiters_release_all(ws->waiters);
}

int workers_submit_remote(struct workers *ws, struct plan *plan, const char *token, workers_remote_cb cb, void *arg) {
        struct worker *w = calloc(1, sizeof(*w));
        if (w)
                w->eval = eval_new();
        if (!w || !w->eval || !(w->eval->id = strdup(plan->eval_id ? plan->eval_id : "")) ||
            !(w->token = strdup(token))) {
                if (w)
                        eval_unref(w->eval);
                free(w);
                plan_free(plan);
                return -ENOMEM;
        }
        w->ws = ws;
        w->id = -1;
        w->plan = plan;
        w->remote_cb = cb;
        w->remote_arg = arg;
        /* as a local plan: no redelivery while it waits for the applier and Raft */
        broker_pause_nack_timeout(ws->cfg.broker, w->eval->id, w->token);
        dlist_append(&ws->plans, &w->plan_link);
        apply_next_plan(ws);
        return 0;
}

void workers_set_leader(struct workers *ws, const char *leader_http) {
        if (!ws)
                return;
        const char *secret = state_acl_server_secret(*ws->cfg.state); /* the loop's: it writes the state */
        pthread_mutex_lock(&ws->lock);
        snprintf(ws->server_secret, sizeof(ws->server_secret), "%s", secret ? secret : "");
        const char *v = leader_http ? leader_http : "";
        if (strcmp(ws->leader_http, v) != 0) {
                snprintf(ws->leader_http, sizeof(ws->leader_http), "%s", v);
                pthread_cond_broadcast(&ws->cond);
        }
        pthread_mutex_unlock(&ws->lock);
}

void workers_counts(struct workers *ws, unsigned long *ret_local, unsigned long *ret_remote) {
        pthread_mutex_lock(&ws->lock);
        *ret_local = ws->evals_processed;
        *ret_remote = ws->remote_evals_processed;
        pthread_mutex_unlock(&ws->lock);
}

int workers_busy(const struct workers *ws) {
        int n = 0;
        for (int i = 0; i < ws->n; i++)
                n += ws->w[i].busy;
        return n;
}

int workers_create(const struct workers_config *cfg, struct workers **ret) {
        int n = cfg->n;
        struct workers *ws = calloc(1, sizeof(*ws));
        if (!ws)
                return -ENOMEM;
        ws->cfg = *cfg;
        ws->n = n;
        ws->w = calloc((size_t)n, sizeof(*ws->w));
        ws->overlay = plan_overlay_new();
        ws->waiters = eval_waiters_new(WORKERS_MAX_WAITERS);
        pthread_mutex_init(&ws->lock, NULL);
        pthread_cond_init(&ws->cond, NULL);
        pthread_cond_init(&ws->index_cond, NULL);
        if (!ws->w || !ws->overlay || !ws->waiters || uv_async_init(cfg->loop, &ws->async, on_async) < 0) {
                eval_waiters_free(ws->waiters);
                plan_overlay_free(ws->overlay);
                free(ws->w);
                free(ws);
                return -ENOMEM;
        }
        ws->async.data = ws;
        for (int i = 0; i < n; i++) {
                ws->w[i].ws = ws;
                ws->w[i].id = i;
                /* NULL (out of memory): this worker builds its candidates every time */
                ws->w[i].cands = sched_cand_cache_create(WORKER_CAND_ENTRIES, WORKER_CAND_BYTES);
                if (pthread_create(&ws->w[i].thread, NULL, worker_main, &ws->w[i]) == 0)
                        ws->w[i].started = true;
        }
        *ret = ws;
        return 0;
}

static void on_async_closed(uv_handle_t *h) {
        struct workers *ws = h->data;
        for (int i = 0; i < ws->n; i++) {
                struct worker *w = &ws->w[i];
                eval_unref(w->eval);
                free(w->token);
                state_destroy(w->snap);
                state_destroy(w->refreshed);
                plan_result_free(w->result);
                sched_cand_cache_destroy(w->cands);
        }
        pthread_mutex_destroy(&ws->lock);
        pthread_cond_destroy(&ws->cond);
        pthread_cond_destroy(&ws->index_cond);
        plan_overlay_free(ws->overlay);
        free(ws->w);
        explicit_bzero(ws->server_secret, sizeof(ws->server_secret));
        free(ws);
}

struct workers *workers_destroy(struct workers *ws) {
        if (!ws)
                return NULL;
        /* a check on the pool: its plans are answered once no thread reads them, and the
         * batches held for it once it no longer reads their results */
        struct check_job *j = TAKE_PTR(ws->checking);
        if (j) {
                log_debug("plan applier: stopping with %zu plan(s) being checked on the pool", j->n);
                check_abandon(j);
                for (size_t i = 0; i < j->n; i++)
                        answer_plan(j->w[i], -ECANCELED);
        }
        answer_held(ws);
        /* other servers' plans still queued: answered, their requests are going */
        struct worker *w;
        while ((w = dlist_shift_entry(&ws->plans, struct worker, plan_link)))
                if (w->remote_cb)
                        answer(w, -ECANCELED);
        eval_waiters_free(ws->waiters); /* answered: their requests are going too */
        ws->waiters = NULL;
        pthread_mutex_lock(&ws->lock);
        ws->stopping = true;
        pthread_cond_broadcast(&ws->cond);
        pthread_cond_broadcast(&ws->index_cond);
        pthread_mutex_unlock(&ws->lock);
        for (int i = 0; i < ws->n; i++)
                if (ws->w[i].started)
                        pthread_join(ws->w[i].thread, NULL);
        uv_close((uv_handle_t *)&ws->async, on_async_closed);
        return NULL;
}
