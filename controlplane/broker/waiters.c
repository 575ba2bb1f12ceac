/* waiters.c - other servers' workers waiting at the leader for an eval (waiters.h). */
#include "controlplane/broker/waiters.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>

#include "common/dlist.h"

struct waiter {
        struct dlink link;
        int64_t since_ns, deadline_ns;
        eval_waiter_fn fn;
        void *arg;
};

struct eval_waiters {
        struct dlist list; /* oldest first */
        size_t n, max;
};

struct eval_waiters *eval_waiters_new(size_t max) {
        struct eval_waiters *q = calloc(1, sizeof(*q));
        if (q)
                q->max = max;
        return q;
}

void eval_waiters_free(struct eval_waiters *q) {
        if (!q)
                return;
        eval_waiters_release_all(q);
        free(q);
}

int eval_waiters_add(struct eval_waiters *q, int64_t now_ns, int64_t wait_ns, eval_waiter_fn fn, void *arg) {
        if (q->n >= q->max)
                return -EAGAIN;
        struct waiter *w = calloc(1, sizeof(*w));
        if (!w)
                return -ENOMEM;
        *w = (struct waiter){.since_ns = now_ns, .deadline_ns = now_ns + wait_ns, .fn = fn, .arg = arg};
        dlist_append(&q->list, &w->link);
        q->n++;
        return 0;
}

size_t eval_waiters_count(const struct eval_waiters *q) {
        return q->n;
}

int64_t eval_waiters_oldest_ns(const struct eval_waiters *q) {
        const struct waiter *w = dlist_first(&q->list, struct waiter, link);
        return w ? w->since_ns : INT64_MAX;
}

/* w leaves the list, then hears its answer (the callback may add a waiter). */
static void answer(struct eval_waiters *q, struct waiter *w, const struct eval *ev, const char *token) {
        dlist_unlink(&q->list, &w->link);
        q->n--;
        eval_waiter_fn fn = w->fn;
        void *arg = w->arg;
        free(w);
        fn(arg, ev, token);
}

bool eval_waiters_give(struct eval_waiters *q, const struct eval *ev, const char *token) {
        struct waiter *w = dlist_first(&q->list, struct waiter, link);
        if (!w)
                return false;
        answer(q, w, ev, token);
        return true;
}

void eval_waiters_expire(struct eval_waiters *q, int64_t now_ns) {
        /* a callback may append: look no further than the waiters there were */
        struct dlink *l = q->list.head, *last = q->list.tail;
        while (l) {
                struct dlink *next = l == last ? NULL : l->next;
                struct waiter *w = dlist_entry(l, struct waiter, link);
                if (now_ns >= w->deadline_ns)
                        answer(q, w, NULL, NULL);
                l = next;
        }
}

void eval_waiters_release_all(struct eval_waiters *q) {
        size_t n = q->n; /* not those the callbacks add */
        while (n-- > 0 && !dlist_empty(&q->list))
                answer(q, dlist_first(&q->list, struct waiter, link), NULL, NULL);
}
