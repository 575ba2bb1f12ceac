/* worker.c - scheduler worker threads and the plan applier's loop side. */
#include "controlplane/worker.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "common/error.h"
#include "common/jsonx.h"
#include "common/log.h"
#include "common/model.h"
#include "controlplane/broker/broker.h"
#include "controlplane/plan/applier.h"
#include "controlplane/plan/codec.h"
#include "controlplane/raft/batch.h"
#include "controlplane/scheduler/scheduler.h"
#include "controlplane/state/state.h"

enum req_kind { REQ_NONE, REQ_PLAN, REQ_EVAL_UPSERT, REQ_DONE };

struct worker {
        struct workers *ws;
        int id;
        pthread_t thread;
        bool started;
        /* assigned by the loop (under ws->lock) */
        struct eval *eval;
        char *token;
        struct state_store *snap;
        bool busy;
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
        struct worker *next_plan; /* plan queue link */
        struct worker *next_eval; /* eval-update queue link */
};

struct workers {
        struct workers_config cfg;
        pthread_mutex_t lock;
        pthread_cond_t cond; /* workers wait for work and answers */
        uv_async_t async;
        bool stopping;
        int n;
        struct worker *w;
        struct worker *plan_head, *plan_tail; /* plans waiting for the applier */
        struct worker *eval_head, *eval_tail; /* eval updates waiting, sent with the next batch */
        struct plan_overlay *overlay;          /* results proposed, not yet applied */
        int batches_in_flight;
};

/* Plans committed together: one PlanApply entry carrying several results. */
struct plan_batch {
        struct workers *ws;
        size_t n;       /* plans: w[0..n) */
        size_t n_evals; /* eval updates: w[n..n+n_evals) */
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

static void *worker_main(void *arg) {
        struct worker *w = arg;
        struct workers *ws = w->ws;
        for (;;) {
                pthread_mutex_lock(&ws->lock);
                while (!w->eval && !ws->stopping)
                        pthread_cond_wait(&ws->cond, &ws->lock);
                if (ws->stopping) {
                        pthread_mutex_unlock(&ws->lock);
                        return NULL;
                }
                struct eval *ev = w->eval;
                struct state_store *snap = w->snap;
                pthread_mutex_unlock(&ws->lock);

                struct error err = {0};
                int r = scheduler_process(snap, ev, &worker_planner, w, &err);
                w->done_status = r;
                snprintf(w->done_msg, sizeof(w->done_msg), "%s", r < 0 ? err.msg : "");
                ask_loop(w, REQ_DONE);
        }
}

/* ---- loop side ------------------------------------------------------------------ */

static void answer(struct worker *w, int status) {
        struct workers *ws = w->ws;
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

static void on_batch_applied(void *arg, int status, uint64_t index, const char *msg) {
        struct plan_batch *b = arg;
        struct workers *ws = b->ws;
        ws->batches_in_flight--;
        /* the state now holds these results (or they failed): out of the overlay at once */
        for (size_t i = 0; i < b->n; i++)
                plan_overlay_remove(ws->overlay, b->w[i]->result);
        struct state_store *refreshed = NULL;
        for (size_t i = 0; i < b->n; i++) {
                struct worker *w = b->w[i];
                if (status < 0)
                        log_warn("plan applier: committing the plan of eval %s failed: %s",
                                 w->eval ? w->eval->id : "?", msg);
                if (status == 0 && plan_result_refresh_index(w->result)) {
                        if (!refreshed)
                                refreshed = state_snapshot(*ws->cfg.state);
                        w->refreshed = refreshed ? state_snapshot(refreshed) : NULL;
                }
                if (status == 0)
                        plan_result_set_alloc_index(w->result, index);
                answer_plan(w, status);
        }
        for (size_t i = b->n; i < b->n + b->n_evals; i++) {
                if (status < 0)
                        log_warn("worker: eval update failed: %s", msg);
                answer(b->w[i], status);
        }
        state_destroy(refreshed);
        free(b);
        apply_next_plan(ws);
}

/* The plan applier: take every plan waiting, check each against the latest state
 * plus the results still in flight (and those before it in this batch), and
 * propose what fits as one entry, without waiting for the entries before it. The
 * eval updates that workers asked for meanwhile ride in the same entry, after the
 * plans (a worker updates its eval only once its plans are answered). */
static void apply_next_plan(struct workers *ws) {
        size_t waiting = 0;
        for (struct worker *w = ws->plan_head; w; w = w->next_plan)
                waiting++;
        for (struct worker *w = ws->eval_head; w; w = w->next_eval)
                waiting++;
        if (!waiting)
                return;
        struct plan_batch *b = calloc(1, sizeof(*b) + waiting * sizeof(b->w[0]));
        if (!b) {
                while (ws->plan_head) {
                        struct worker *w = ws->plan_head;
                        ws->plan_head = w->next_plan;
                        w->next_plan = NULL;
                        answer_plan(w, -ENOMEM);
                }
                while (ws->eval_head) {
                        struct worker *w = ws->eval_head;
                        ws->eval_head = w->next_eval;
                        w->next_eval = NULL;
                        answer(w, -ENOMEM);
                }
                ws->plan_tail = ws->eval_tail = NULL;
                return;
        }
        b->ws = ws;
        /* parts: one compact plan result per plan, then one EvalUpdate for the evals */
        struct batch_part *parts = calloc(waiting + 1, sizeof(*parts));
        if (!parts) {
                free(b);
                b = NULL;
        }
        while (ws->plan_head) {
                struct worker *w = ws->plan_head;
                ws->plan_head = w->next_plan;
                if (!ws->plan_head)
                        ws->plan_tail = NULL;
                w->next_plan = NULL;
                if (!b) {
                        answer_plan(w, -ENOMEM);
                        continue;
                }
                /* The eval may have been nacked (timed out) and handed to another
                 * worker meanwhile: only the holder of the current token may commit. */
                const char *token = w->eval ? broker_outstanding_token(ws->cfg.broker, w->eval->id) : NULL;
                if (!token || !w->token || strcmp(token, w->token) != 0) {
                        log_warn("plan applier: plan of eval %s rejected: its token is no longer outstanding",
                                 w->eval ? w->eval->id : "?");
                        answer_plan(w, -ESTALE);
                        continue;
                }
                struct error err = {0};
                struct plan_result *res = NULL;
                int r = plan_evaluate_overlay(*ws->cfg.state, ws->overlay, w->plan, &res, &err);
                if (r < 0) {
                        log_warn("plan applier: %s", err.msg);
                        answer_plan(w, r);
                        continue;
                }
                w->result = res;
                if (plan_result_is_noop(res)) {
                        if (plan_result_refresh_index(res))
                                w->refreshed = state_snapshot(*ws->cfg.state);
                        answer_plan(w, 0);
                        continue;
                }
                void *buf = NULL;
                size_t len = 0;
                if (plan_overlay_add(ws->overlay, res) < 0 || plan_result_encode(res, &buf, &len) < 0) {
                        plan_overlay_remove(ws->overlay, res);
                        answer_plan(w, -ENOMEM);
                        continue;
                }
                parts[b->n] = (struct batch_part){.kind = BATCH_PLAN, .buf = buf, .len = len};
                b->w[b->n++] = w;
        }
        json_t *evals = json_array();
        while (ws->eval_head) {
                struct worker *w = ws->eval_head;
                ws->eval_head = w->next_eval;
                if (!ws->eval_head)
                        ws->eval_tail = NULL;
                w->next_eval = NULL;
                if (!b || json_array_append_new(evals, eval_to_json(w->req_eval)) < 0) {
                        answer(w, -ENOMEM);
                        continue;
                }
                b->w[b->n + b->n_evals++] = w;
        }
        if (!b || (b->n == 0 && b->n_evals == 0)) {
                json_decref(evals);
                free(parts);
                free(b);
                return;
        }
        size_t n_parts = b->n;
        int r = 0;
        if (b->n_evals) {
                json_t *o = json_pack("{s:s,s:O}", "Type", "EvalUpdate", "Evals", evals);
                char *cmd = o ? json_dumps(o, JSON_COMPACT) : NULL;
                json_decref(o);
                if (cmd)
                        parts[n_parts++] = (struct batch_part){.kind = BATCH_JSON, .buf = cmd, .len = strlen(cmd)};
                else
                        r = -ENOMEM;
        }
        json_decref(evals);
        if (r == 0)
                r = ws->cfg.ops->propose_parts(ws->cfg.data, parts, n_parts, on_batch_applied, b);
        else
                for (size_t i = 0; i < n_parts; i++)
                        free((void *)parts[i].buf);
        free(parts);
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
                        if (ws->plan_tail)
                                ws->plan_tail->next_plan = w;
                        else
                                ws->plan_head = w;
                        ws->plan_tail = w;
                        break;
                case REQ_EVAL_UPSERT:
                        if (ws->eval_tail)
                                ws->eval_tail->next_eval = w;
                        else
                                ws->eval_head = w;
                        ws->eval_tail = w;
                        break;
                case REQ_DONE:
                        finish_eval(ws, w);
                        break;
                }
        }
        apply_next_plan(ws);
        workers_dispatch(ws);
}

static void on_async(uv_async_t *h) {
        serve_requests(h->data);
}

void workers_dispatch(struct workers *ws) {
        if (!ws || ws->stopping || !ws->cfg.ops->is_leader(ws->cfg.data))
                return;
        static const enum job_type types[] = {JOB_SERVICE, JOB_BATCH, JOB_SYSTEM, JOB_SYSBATCH};
        for (int i = 0; i < ws->n; i++) {
                struct worker *w = &ws->w[i];
                if (w->busy)
                        continue;
                struct eval *ev = NULL;
                char *token = NULL;
                if (broker_dequeue(ws->cfg.broker, types, 4, &ev, &token) < 0)
                        return;
                struct state_store *snap = state_snapshot(*ws->cfg.state);
                pthread_mutex_lock(&ws->lock);
                w->eval = ev;
                w->token = token;
                w->snap = snap;
                w->busy = true;
                pthread_cond_broadcast(&ws->cond);
                pthread_mutex_unlock(&ws->lock);
        }
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
        pthread_mutex_init(&ws->lock, NULL);
        pthread_cond_init(&ws->cond, NULL);
        if (!ws->w || !ws->overlay || uv_async_init(cfg->loop, &ws->async, on_async) < 0) {
                plan_overlay_free(ws->overlay);
                free(ws->w);
                free(ws);
                return -ENOMEM;
        }
        ws->async.data = ws;
        for (int i = 0; i < n; i++) {
                ws->w[i].ws = ws;
                ws->w[i].id = i;
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
        }
        pthread_mutex_destroy(&ws->lock);
        pthread_cond_destroy(&ws->cond);
        plan_overlay_free(ws->overlay);
        free(ws->w);
        free(ws);
}

struct workers *workers_destroy(struct workers *ws) {
        if (!ws)
                return NULL;
        pthread_mutex_lock(&ws->lock);
        ws->stopping = true;
        pthread_cond_broadcast(&ws->cond);
        pthread_mutex_unlock(&ws->lock);
        for (int i = 0; i < ws->n; i++)
                if (ws->w[i].started)
                        pthread_join(ws->w[i].thread, NULL);
        uv_close((uv_handle_t *)&ws->async, on_async_closed);
        return NULL;
}
