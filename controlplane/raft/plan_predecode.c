/* plan_predecode.c - the leader's own plan results, decoded ahead on the pool. See
 * plan_predecode.h. */
#include "controlplane/raft/plan_predecode.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "common/clock.h"
#include "common/error.h"
#include "common/log.h"
#include "controlplane/plan/codec.h"
#include "controlplane/scheduler/plan.h"

struct pending {
        uv_work_t work;
        struct plan_predecode *pp; /* NULL once dropped: the pool's callback frees it */
        struct pending *next;
        bool done; /* back on the loop: res (NULL when the decoding failed) may be read */
        /* decoded on the pool (under mu, signalled on cv): res may be read, before done */
        pthread_mutex_t mu;
        pthread_cond_t cv;
        bool decoded;
        size_t len;
        struct plan_result *res;
        unsigned char *buf; /* the proposed bytes, owned */
};

struct plan_predecode {
        uv_loop_t *loop;
        struct pending *head, *tail; /* in the order queued, i.e. proposed */
        size_t n;
};

struct plan_predecode *plan_predecode_create(uv_loop_t *loop) {
        struct plan_predecode *pp = calloc(1, sizeof(*pp));
        if (pp)
                pp->loop = loop;
        return pp;
}

static void pending_free(struct pending *p) {
        plan_result_free(p->res);
        pthread_cond_destroy(&p->cv);
        pthread_mutex_destroy(&p->mu);
        free(p->buf);
        free(p);
}

/* Out of the queue: freed now when back from the pool, else by decode_done. */
static void drop(struct pending *p) {
        p->pp = NULL;
        p->next = NULL;
        if (p->done)
                pending_free(p);
}

static struct pending *unlink_head(struct plan_predecode *pp) {
        struct pending *p = pp->head;
        pp->head = p->next;
        if (!pp->head)
                pp->tail = NULL;
        pp->n--;
        return p;
}

struct plan_predecode *plan_predecode_destroy(struct plan_predecode *pp) {
        if (!pp)
                return NULL;
        while (pp->head)
                drop(unlink_head(pp));
        free(pp);
        return NULL;
}

/* On a pool thread: reads only its own copy. */
static void decode_work(uv_work_t *w) {
        struct pending *p = w->data;
        struct error err = {0};
        if (plan_result_decode(p->buf, p->len, &p->res, &err) < 0)
                p->res = NULL;
        pthread_mutex_lock(&p->mu);
        p->decoded = true;
        pthread_cond_signal(&p->cv);
        pthread_mutex_unlock(&p->mu);
}

static void decode_done(uv_work_t *w, int status) {
        struct pending *p = w->data;
        p->done = true;
        if (status < 0) { /* canceled: never decoded */
                plan_result_free(p->res);
                p->res = NULL;
        }
        if (!p->pp)
                pending_free(p);
}

/* A pending for buf (taken) and res (taken: NULL, or buf decoded already); NULL,
 * both freed, when out of memory or pp is NULL. */
static struct pending *pending_new(struct plan_predecode *pp, void *buf, size_t len, struct plan_result *res) {
        struct pending *p = pp ? malloc(sizeof(*p)) : NULL;
        if (!p) {
                free(buf);
                plan_result_free(res);
                return NULL;
        }
        *p = (struct pending){.pp = pp, .len = len, .buf = buf, .res = res, .done = res, .decoded = res};
        p->work.data = p;
        pthread_mutex_init(&p->mu, NULL);
        pthread_cond_init(&p->cv, NULL);
        return p;
}

/* p as the newest, the oldest dropped past PLAN_PREDECODE_MAX. */
static void enqueue(struct plan_predecode *pp, struct pending *p) {
        if (pp->n == PLAN_PREDECODE_MAX)
                drop(unlink_head(pp));
        if (pp->tail)
                pp->tail->next = p;
        else
                pp->head = p;
        pp->tail = p;
        pp->n++;
}

int plan_predecode_start_owned(struct plan_predecode *pp, void *buf, size_t len) {
        struct pending *p = pending_new(pp, buf, len, NULL);
        if (!p)
                return pp ? -ENOMEM : -EINVAL;
        int r = uv_queue_work(pp->loop, &p->work, decode_work, decode_done);
        if (r < 0) {
                pending_free(p);
                return r;
        }
        enqueue(pp, p);
        return 0;
}

int plan_predecode_put(struct plan_predecode *pp, void *buf, size_t len, struct plan_result *res) {
        struct pending *p = pending_new(pp, buf, len, res);
        if (!p)
                return pp ? -ENOMEM : -EINVAL;
        enqueue(pp, p);
        return 0;
}

int plan_predecode_start(struct plan_predecode *pp, const void *buf, size_t len) {
        if (!pp)
                return -EINVAL;
        void *copy = malloc(len ? len : 1);
        if (!copy)
                return -ENOMEM;
        if (len)
                memcpy(copy, buf, len);
        return plan_predecode_start_owned(pp, copy, len);
}

/* A decoding not back on the loop: one no pool thread has begun is cancelled (false:
 * the FSM decodes the bytes itself, once); one being decoded is waited for (true),
 * rather than decoded a second time on the loop while a pool thread finishes the
 * same work: the loop is held either way, and waiting leaves the CPU to that thread. */
static bool wait_decoded(struct pending *p) {
        if (uv_cancel((uv_req_t *)&p->work) == 0)
                return false; /* decode_done runs with UV_ECANCELED and frees it */
        int64_t t0 = clock_monotonic_ns();
        pthread_mutex_lock(&p->mu);
        while (!p->decoded)
                pthread_cond_wait(&p->cv, &p->mu);
        pthread_mutex_unlock(&p->mu);
        log_debug("plan: waited %.2f ms for a result being decoded on the pool", (clock_monotonic_ns() - t0) / 1e6);
        return true;
}

struct plan_result *plan_predecode_take(struct plan_predecode *pp, const void *buf, size_t len) {
        if (!pp)
                return NULL;
        struct pending *match = NULL;
        for (struct pending *p = pp->head; p && !match; p = p->next)
                if (p->len == len && memcmp(p->buf, buf, len) == 0)
                        match = p;
        if (!match)
                return NULL;
        for (;;) {
                struct pending *p = unlink_head(pp);
                if (p == match)
                        break;
                drop(p);
        }
        struct plan_result *res = match->done || wait_decoded(match) ? match->res : NULL;
        match->res = NULL;
        drop(match);
        return res;
}

bool plan_predecode_ready(struct plan_predecode *pp, const void *buf, size_t len) {
        struct pending *match = NULL;
        for (struct pending *p = pp ? pp->head : NULL; p && !match; p = p->next)
                if (p->len == len && memcmp(p->buf, buf, len) == 0)
                        match = p;
        if (!match || match->done)
                return true;
        pthread_mutex_lock(&match->mu);
        bool decoded = match->decoded;
        pthread_mutex_unlock(&match->mu);
        return decoded;
}

size_t plan_predecode_count(const struct plan_predecode *pp) {
        return pp ? pp->n : 0;
}
