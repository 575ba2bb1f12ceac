/* waiters.c - other servers' workers waiting at the leader for an eval (waiters.h),
 * on a waitlist: what wakes one is an eval ready (the oldest gets it), its answer
 * the callback. */
#include "controlplane/broker/waiters.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>

#include "common/waitlist.h"

struct waiter {
        struct waitlist_node node;
        eval_waiter_fn fn;
        void *arg;
};

struct eval_waiters {
        struct waitlist *list;
};

struct eval_waiters *eval_waiters_new(size_t max) {
        struct eval_waiters *q = calloc(1, sizeof(*q));
        if (q && !(q->list = waitlist_create(max))) {
                free(q);
                return NULL;
        }
        return q;
}

void eval_waiters_free(struct eval_waiters *q) {
        if (!q)
                return;
        eval_waiters_release_all(q);
        waitlist_destroy(q->list);
        free(q);
}

int eval_waiters_add(struct eval_waiters *q, int64_t now_ns, int64_t wait_ns, eval_waiter_fn fn, void *arg) {
        if (waitlist_full(q->list))
                return -EAGAIN;
        struct waiter *w = calloc(1, sizeof(*w));
        if (!w)
                return -ENOMEM;
        w->fn = fn;
        w->arg = arg;
        waitlist_add(q->list, &w->node, now_ns, now_ns + wait_ns); /* cannot fail: not full, w is new */
        return 0;
}

size_t eval_waiters_count(const struct eval_waiters *q) {
        return waitlist_count(q->list);
}

int64_t eval_waiters_oldest_ns(const struct eval_waiters *q) {
        return waitlist_oldest_ns(q->list);
}

/* w left the list: it hears its answer (the callback may add a waiter). */
static void answer(struct waitlist_node *node, const struct eval *ev, const char *token) {
        struct waiter *w = waitlist_entry(node, struct waiter, node);
        eval_waiter_fn fn = w->fn;
        void *arg = w->arg;
        free(w);
        fn(arg, ev, token);
}

static void answer_none(void *arg, struct waitlist_node *node, enum waitlist_why why) {
        (void)arg;
        (void)why;
        answer(node, NULL, NULL);
}

bool eval_waiters_give(struct eval_waiters *q, const struct eval *ev, const char *token) {
        struct waitlist_node *node = waitlist_take_oldest(q->list);
        if (!node)
                return false;
        answer(node, ev, token);
        return true;
}

void eval_waiters_expire(struct eval_waiters *q, int64_t now_ns) {
        waitlist_sweep(q->list, now_ns, NULL, answer_none, NULL);
}

void eval_waiters_release_all(struct eval_waiters *q) {
        waitlist_release_all(q->list, answer_none, NULL);
}
