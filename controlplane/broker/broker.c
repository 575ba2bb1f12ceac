/* broker.c - the eval broker: ready queues per scheduler type, per-job
 * serialisation, tokens and nack timers, delayed evals, failed and cancelable
 * lists. Follows nomad/eval_broker.go; see broker.h for the contract. */
#include "controlplane/broker/broker.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/ids.h"
#include "common/macros.h"
#include "common/model.h"
#include "controlplane/broker/bheap.h"
#include "common/hashmap.h"

/* Where a tracked eval is. */
enum place { P_NONE, P_READY, P_PENDING, P_DELAYED, P_WAITING, P_UNACKED, P_FAILED, P_COUNT };

struct ent {
        struct eval *eval; /* reference */
        char *jobkey;      /* "namespace/job" */
        uint64_t seq;      /* order of first enqueue: FIFO tie-break */
        int dequeues;
        enum place place;
        int64_t due_ns;           /* P_DELAYED / P_WAITING, monotonic */
        int64_t nack_deadline_ns; /* P_UNACKED, monotonic */
        bool nack_paused;
        char token[ID_BUF];   /* P_UNACKED */
        struct eval *requeue; /* reblocked while outstanding: enqueue after Ack */
};

struct ptrvec {
        void **v;
        size_t n, cap;
};

struct broker {
        const struct clock_ops *clock;
        struct broker_config cfg;
        bool enabled;
        uint64_t seq;
        struct hashmap *evals;     /* eval id -> ent, every tracked eval */
        struct hashmap *job_evals; /* jobkey -> ent that holds the job (ready, unacked, waiting, failed) */
        struct hashmap *pending;   /* jobkey -> struct bheap * of ents waiting for the job */
        struct bheap ready[JOB_TYPE_MAX];
        struct bheap delayed; /* P_DELAYED and P_WAITING by due_ns */
        struct ptrvec unacked;
        struct ptrvec failed;     /* ents, FIFO */
        struct ptrvec cancelable; /* eval references */
        size_t counts[P_COUNT][JOB_TYPE_MAX];
};

/* ---- small helpers ----------------------------------------------------------------- */

static int vec_push(struct ptrvec *v, void *p) {
        if (v->n == v->cap) {
                size_t cap = v->cap ? v->cap * 2 : 8;
                void **nv = realloc(v->v, cap * sizeof(*nv));
                if (!nv)
                        return -ENOMEM;
                v->v = nv;
                v->cap = cap;
        }
        v->v[v->n++] = p;
        return 0;
}

static void vec_remove(struct ptrvec *v, void *p) {
        for (size_t i = 0; i < v->n; i++) {
                if (v->v[i] == p) {
                        v->v[i] = v->v[--v->n];
                        return;
                }
        }
}

static void vec_free(struct ptrvec *v) {
        free(v->v);
        *v = (struct ptrvec){0};
}

static int64_t mono_now(const struct broker *b) {
        return b->clock->monotonic_ns(b->clock->data);
}

static int64_t wall_now(const struct broker *b) {
        return b->clock->now_ns(b->clock->data);
}

static void set_place(struct broker *b, struct ent *x, enum place p) {
        b->counts[x->place][x->eval->type]--;
        b->counts[p][x->eval->type]++;
        x->place = p;
}

/* Ready: higher priority first, then older create_index, then enqueue order. */
static bool ready_less(const void *pa, const void *pb) {
        const struct ent *a = pa, *c = pb;
        if (a->eval->priority != c->eval->priority)
                return a->eval->priority > c->eval->priority;
        if (a->eval->create_index != c->eval->create_index)
                return a->eval->create_index < c->eval->create_index;
        return a->seq < c->seq;
}

/* Pending (one job): newest first, by modify_index, then create_index, then order. */
static bool pending_less(const void *pa, const void *pb) {
        const struct ent *a = pa, *c = pb;
        if (a->eval->modify_index != c->eval->modify_index)
                return a->eval->modify_index > c->eval->modify_index;
        if (a->eval->create_index != c->eval->create_index)
                return a->eval->create_index > c->eval->create_index;
        return a->seq > c->seq;
}

static bool due_less(const void *pa, const void *pb) {
        const struct ent *a = pa, *c = pb;
        if (a->due_ns != c->due_ns)
                return a->due_ns < c->due_ns;
        return a->seq < c->seq;
}

static void ent_free(struct ent *x) {
        eval_unref(x->eval);
        eval_unref(x->requeue);
        free(x->jobkey);
        free(x);
}

/* Forget an ent that is in no queue any more. */
static void ent_remove(struct broker *b, struct ent *x) {
        set_place(b, x, P_NONE);
        b->counts[P_NONE][x->eval->type]--;
        hashmap_remove(b->evals, x->eval->id, NULL);
        ent_free(x);
}

/* ---- create / destroy / enable ------------------------------------------------------- */

struct broker_config broker_config_default(void) {
        return (struct broker_config){.nack_timeout_ns = 60 * NS_PER_SEC,
                                      .delivery_limit = 3,
                                      .initial_nack_delay_ns = 1 * NS_PER_SEC,
                                      .subsequent_nack_delay_ns = 20 * NS_PER_SEC};
}

struct broker *broker_create(const struct clock_ops *clock, const struct broker_config *cfg) {
        struct broker_config c = cfg ? *cfg : broker_config_default();
        if (!clock || !clock->now_ns || !clock->monotonic_ns || c.nack_timeout_ns <= 0 || c.delivery_limit < 1 ||
            c.initial_nack_delay_ns < 0 || c.subsequent_nack_delay_ns < 0)
                return NULL;
        struct broker *b = calloc(1, sizeof(*b));
        if (!b)
                return NULL;
        b->clock = clock;
        b->cfg = c;
        b->evals = hashmap_create(HASHMAP_OWN_KEYS);
        b->job_evals = hashmap_create(HASHMAP_OWN_KEYS);
        b->pending = hashmap_create(HASHMAP_OWN_KEYS);
        for (int t = 0; t < JOB_TYPE_MAX; t++)
                bheap_init(&b->ready[t], ready_less);
        bheap_init(&b->delayed, due_less);
        if (!b->evals || !b->job_evals || !b->pending)
                return broker_destroy(b);
        return b;
}

/* Drop everything (leadership lost, or destroy). */
static void flush(struct broker *b) {
        struct ent *x;
        struct bheap *h;
        size_t pos = 0;
        if (b->evals) {
                while (hashmap_next(b->evals, &pos, NULL, (void **)&x))
                        ent_free(x);
                hashmap_clear(b->evals);
        }
        if (b->job_evals)
                hashmap_clear(b->job_evals);
        if (b->pending) {
                pos = 0;
                while (hashmap_next(b->pending, &pos, NULL, (void **)&h)) {
                        bheap_clear(h);
                        free(h);
                }
                hashmap_clear(b->pending);
        }
        for (int t = 0; t < JOB_TYPE_MAX; t++)
                bheap_clear(&b->ready[t]);
        bheap_clear(&b->delayed);
        vec_free(&b->unacked);
        vec_free(&b->failed);
        for (size_t i = 0; i < b->cancelable.n; i++)
                eval_unref(b->cancelable.v[i]);
        vec_free(&b->cancelable);
        memset(b->counts, 0, sizeof(b->counts));
}

struct broker *broker_destroy(struct broker *b) {
        if (!b)
                return NULL;
        int saved = errno;
        flush(b);
        hashmap_destroy(b->evals);
        hashmap_destroy(b->job_evals);
        hashmap_destroy(b->pending);
        free(b);
        errno = saved;
        return NULL;
}

void broker_set_enabled(struct broker *b, bool enabled) {
        if (!enabled && b->enabled)
                flush(b);
        b->enabled = enabled;
}

bool broker_enabled(const struct broker *b) {
        return b->enabled;
}

/* ---- enqueue ---------------------------------------------------------------------------- */

/* Nomad's enqueueLocked: ready if the ent holds (or can take) its job, else pending. */
static int make_ready(struct broker *b, struct ent *x) {
        struct ent *holder = hashmap_get(b->job_evals, x->jobkey);
        int r;
        if (holder && holder != x) {
                struct bheap *p = hashmap_get(b->pending, x->jobkey);
                if (!p) {
                        p = malloc(sizeof(*p));
                        if (!p)
                                return -ENOMEM;
                        bheap_init(p, pending_less);
                        r = hashmap_put(b->pending, x->jobkey, p, NULL);
                        if (r < 0) {
                                free(p);
                                return r;
                        }
                }
                r = bheap_push(p, x);
                if (r < 0)
                        return r;
                set_place(b, x, P_PENDING);
                return 0;
        }
        if (!holder) {
                r = hashmap_put(b->job_evals, x->jobkey, x, NULL);
                if (r < 0)
                        return r;
        }
        r = bheap_push(&b->ready[x->eval->type], x);
        if (r < 0) {
                if (!holder)
                        hashmap_remove(b->job_evals, x->jobkey, NULL);
                return r;
        }
        set_place(b, x, P_READY);
        return 0;
}

static int push_delayed(struct broker *b, struct ent *x, int64_t due_ns, enum place p) {
        x->due_ns = due_ns;
        int r = bheap_push(&b->delayed, x);
        if (r < 0)
                return r;
        set_place(b, x, p);
        return 0;
}

int broker_enqueue_token(struct broker *b, struct eval *e, const char *token) {
        if (!b->enabled)
                return -ENOTCONN;
        if (!e || !e->id || (unsigned)e->type >= JOB_TYPE_MAX)
                return -EINVAL;
        struct ent *x = hashmap_get(b->evals, e->id);
        if (x) {
                /* Already tracked. Reblocked by the worker that holds it: run it again after Ack. */
                if (token && x->place == P_UNACKED && strcmp(x->token, token) == 0) {
                        eval_unref(x->requeue);
                        x->requeue = eval_ref(e);
                }
                return 0;
        }
        x = calloc(1, sizeof(*x));
        if (!x)
                return -ENOMEM;
        if (asprintf(&x->jobkey, "%s/%s", e->namespace ? e->namespace : "default", e->job_id ? e->job_id : "") < 0) {
                free(x);
                return -ENOMEM;
        }
        x->eval = eval_ref(e);
        x->seq = ++b->seq;
        x->place = P_NONE;
        b->counts[P_NONE][e->type]++;
        int r = hashmap_put(b->evals, e->id, x, NULL);
        if (r < 0) {
                b->counts[P_NONE][e->type]--;
                ent_free(x);
                return r;
        }
        int64_t wall = wall_now(b);
        if (e->wait_until > wall)
                r = push_delayed(b, x, mono_now(b) + (e->wait_until - wall), P_DELAYED);
        else
                r = make_ready(b, x);
        if (r < 0)
                ent_remove(b, x);
        return r;
}

int broker_enqueue(struct broker *b, struct eval *e) {
        return broker_enqueue_token(b, e, NULL);
}

/* ---- dequeue / ack / nack ------------------------------------------------------------------ */

int broker_dequeue(struct broker *b, const enum job_type *types, size_t n_types, struct eval **ret_eval,
                   char **ret_token) {
        if (!b->enabled)
                return -ENOTCONN;
        if (!types || n_types == 0)
                return -EINVAL;
        struct ent *best = NULL;
        for (size_t i = 0; i < n_types; i++) {
                if ((unsigned)types[i] >= JOB_TYPE_MAX)
                        return -EINVAL;
                struct ent *top = bheap_peek(&b->ready[types[i]]);
                if (top && (!best || ready_less(top, best)))
                        best = top;
        }
        if (!best)
                return -EAGAIN;
        _cleanup_free_ char *token = malloc(ID_BUF);
        if (!token)
                return -ENOMEM;
        int r = vec_push(&b->unacked, best);
        if (r < 0)
                return r;
        bheap_pop(&b->ready[best->eval->type]);
        best->dequeues++;
        id_generate(best->token);
        memcpy(token, best->token, ID_BUF);
        best->nack_deadline_ns = mono_now(b) + b->cfg.nack_timeout_ns;
        best->nack_paused = false;
        set_place(b, best, P_UNACKED);
        *ret_eval = eval_ref(best->eval);
        *ret_token = TAKE_PTR(token);
        return 0;
}

static int find_outstanding(const struct broker *b, const char *eval_id, const char *token, struct ent **ret) {
        struct ent *x = eval_id ? hashmap_get(b->evals, eval_id) : NULL;
        if (!x || x->place != P_UNACKED)
                return -ENOENT;
        if (!token || strcmp(x->token, token) != 0)
                return -EPERM;
        *ret = x;
        return 0;
}

/* The job of x (acked or failed) is free: the newest pending eval of the job
 * becomes ready, the older ones become cancelable (Nomad's MarkForCancel). */
static void release_job(struct broker *b, struct ent *x) {
        if (hashmap_get(b->job_evals, x->jobkey) != x)
                return;
        hashmap_remove(b->job_evals, x->jobkey, NULL);
        struct bheap *p = NULL;
        hashmap_remove(b->pending, x->jobkey, (void **)&p);
        if (!p)
                return;
        struct ent *newest = bheap_pop(p);
        struct ent *old;
        while ((old = bheap_pop(p))) {
                if (vec_push(&b->cancelable, old->eval) == 0)
                        eval_ref(old->eval);
                ent_remove(b, old);
        }
        bheap_clear(p);
        free(p);
        if (newest && make_ready(b, newest) < 0)
                ent_remove(b, newest);
}

int broker_ack(struct broker *b, const char *eval_id, const char *token) {
        struct ent *x;
        int r = find_outstanding(b, eval_id, token, &x);
        if (r < 0)
                return r;
        vec_remove(&b->unacked, x);
        struct eval *requeue = TAKE_PTR(x->requeue);
        release_job(b, x);
        ent_remove(b, x);
        if (requeue) {
                broker_enqueue(b, requeue);
                eval_unref(requeue);
        }
        return 0;
}

static int64_t nack_delay(const struct broker *b, int prev_dequeues) {
        if (prev_dequeues <= 0)
                return 0;
        if (prev_dequeues == 1)
                return b->cfg.initial_nack_delay_ns;
        return (int64_t)(prev_dequeues - 1) * b->cfg.subsequent_nack_delay_ns;
}

static void nack_ent(struct broker *b, struct ent *x) {
        vec_remove(&b->unacked, x);
        x->requeue = eval_unref(x->requeue);
        int r;
        if (x->dequeues >= b->cfg.delivery_limit) {
                r = vec_push(&b->failed, x);
                if (r == 0)
                        set_place(b, x, P_FAILED);
        } else {
                int64_t delay = nack_delay(b, x->dequeues);
                r = delay > 0 ? push_delayed(b, x, mono_now(b) + delay, P_WAITING) : make_ready(b, x);
        }
        if (r < 0) {
                release_job(b, x);
                ent_remove(b, x);
        }
}

int broker_nack(struct broker *b, const char *eval_id, const char *token) {
        struct ent *x;
        int r = find_outstanding(b, eval_id, token, &x);
        if (r < 0)
                return r;
        nack_ent(b, x);
        return 0;
}

int broker_outstanding_reset(struct broker *b, const char *eval_id, const char *token) {
        struct ent *x;
        int r = find_outstanding(b, eval_id, token, &x);
        if (r < 0)
                return r;
        x->nack_deadline_ns = mono_now(b) + b->cfg.nack_timeout_ns;
        return 0;
}

int broker_pause_nack_timeout(struct broker *b, const char *eval_id, const char *token) {
        struct ent *x;
        int r = find_outstanding(b, eval_id, token, &x);
        if (r < 0)
                return r;
        x->nack_paused = true;
        return 0;
}

int broker_resume_nack_timeout(struct broker *b, const char *eval_id, const char *token) {
        struct ent *x;
        int r = find_outstanding(b, eval_id, token, &x);
        if (r < 0)
                return r;
        x->nack_paused = false;
        x->nack_deadline_ns = mono_now(b) + b->cfg.nack_timeout_ns;
        return 0;
}

const char *broker_outstanding_token(const struct broker *b, const char *eval_id) {
        struct ent *x = eval_id ? hashmap_get(b->evals, eval_id) : NULL;
        return x && x->place == P_UNACKED ? x->token : NULL;
}

int broker_check_token(const struct broker *b, const char *eval_id, const char *token) {
        struct ent *x;
        return find_outstanding(b, eval_id, token, &x);
}

/* ---- timers ---------------------------------------------------------------------------------- */

size_t broker_tick(struct broker *b) {
        if (!b->enabled)
                return 0;
        int64_t now = mono_now(b);
        size_t n = 0;
        /* Nack timeouts. nack_ent swap-removes index i, so look at i again. */
        for (size_t i = 0; i < b->unacked.n;) {
                struct ent *x = b->unacked.v[i];
                if (!x->nack_paused && x->nack_deadline_ns <= now) {
                        nack_ent(b, x);
                        n++;
                } else {
                        i++;
                }
        }
        struct ent *x;
        while ((x = bheap_peek(&b->delayed)) && x->due_ns <= now) {
                bheap_pop(&b->delayed);
                if (make_ready(b, x) < 0) {
                        release_job(b, x);
                        ent_remove(b, x);
                }
                n++;
        }
        return n;
}

int64_t broker_next_timeout_ns(const struct broker *b) {
        if (!b->enabled)
                return -1;
        bool any = false;
        int64_t next = 0;
        for (size_t i = 0; i < b->unacked.n; i++) {
                const struct ent *x = b->unacked.v[i];
                if (!x->nack_paused && (!any || x->nack_deadline_ns < next)) {
                        next = x->nack_deadline_ns;
                        any = true;
                }
        }
        const struct ent *d = bheap_peek(&b->delayed);
        if (d && (!any || d->due_ns < next)) {
                next = d->due_ns;
                any = true;
        }
        if (!any)
                return -1;
        int64_t now = mono_now(b);
        return next > now ? next - now : 0;
}

/* ---- failed / cancelable ----------------------------------------------------------------------- */

size_t broker_drain_failed(struct broker *b, struct eval ***ret) {
        *ret = NULL;
        size_t n = b->failed.n;
        if (n == 0)
                return 0;
        struct eval **out = malloc(n * sizeof(*out));
        if (!out)
                return 0;
        struct ptrvec failed = b->failed;
        b->failed = (struct ptrvec){0};
        for (size_t i = 0; i < n; i++) {
                struct ent *x = failed.v[i];
                out[i] = eval_ref(x->eval);
                release_job(b, x);
                ent_remove(b, x);
        }
        vec_free(&failed);
        *ret = out;
        return n;
}

size_t broker_drain_cancelable(struct broker *b, struct eval ***ret) {
        size_t n = b->cancelable.n;
        *ret = n ? (struct eval **)b->cancelable.v : NULL;
        if (!n)
                vec_free(&b->cancelable);
        b->cancelable = (struct ptrvec){0};
        return n;
}

/* ---- stats ----------------------------------------------------------------------------------------- */

void broker_stats(const struct broker *b, struct broker_stats *ret) {
        struct broker_stats s = {0};
        for (int t = 0; t < JOB_TYPE_MAX; t++) {
                struct broker_type_stats *ts = &s.by_type[t];
                ts->ready = b->counts[P_READY][t];
                ts->unacked = b->counts[P_UNACKED][t];
                ts->pending = b->counts[P_PENDING][t];
                ts->delayed = b->counts[P_DELAYED][t] + b->counts[P_WAITING][t];
                s.total_ready += ts->ready;
                s.total_unacked += ts->unacked;
                s.total_pending += ts->pending;
                s.total_delayed += b->counts[P_DELAYED][t];
                s.total_waiting += b->counts[P_WAITING][t];
                s.total_failed += b->counts[P_FAILED][t];
        }
        s.total_cancelable = b->cancelable.n;
        *ret = s;
}
