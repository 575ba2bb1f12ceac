/* waitlist.c - see waitlist.h. */
#include "common/waitlist.h"

#include <errno.h>
#include <stdlib.h>

struct waitlist {
        struct dlist l; /* oldest first */
        size_t n, max;
        int64_t next_ns; /* see waitlist_next_ns */
};

struct waitlist *waitlist_create(size_t max) {
        if (max == 0)
                return NULL;
        struct waitlist *wl = calloc(1, sizeof(*wl));
        if (!wl)
                return NULL;
        wl->max = max;
        wl->next_ns = INT64_MAX;
        return wl;
}

static struct waitlist_node *node_of(struct dlink *k) {
        return k ? dlist_entry(k, struct waitlist_node, link) : NULL;
}

static void node_remove(struct waitlist *wl, struct waitlist_node *w) {
        dlist_unlink(&wl->l, &w->link);
        if (--wl->n == 0)
                wl->next_ns = INT64_MAX;
}

struct waitlist *waitlist_destroy(struct waitlist *wl) {
        if (!wl)
                return NULL;
        while (wl->l.head)
                node_remove(wl, node_of(wl->l.head));
        free(wl);
        return NULL;
}

static int64_t node_due_ns(const struct waitlist_node *w) {
        return w->marked ? INT64_MIN : w->deadline_ns;
}

int waitlist_add(struct waitlist *wl, struct waitlist_node *w, int64_t now_ns, int64_t deadline_ns) {
        if (w->link.listed)
                return -EALREADY;
        if (wl->n >= wl->max)
                return -ENOSPC;
        *w = (struct waitlist_node){.since_ns = now_ns, .deadline_ns = deadline_ns};
        dlist_append(&wl->l, &w->link);
        wl->n++;
        if (deadline_ns < wl->next_ns)
                wl->next_ns = deadline_ns;
        return 0;
}

size_t waitlist_count(const struct waitlist *wl) {
        return wl ? wl->n : 0;
}

bool waitlist_full(const struct waitlist *wl) {
        return wl->n >= wl->max;
}

int64_t waitlist_oldest_ns(const struct waitlist *wl) {
        return wl->l.head ? node_of(wl->l.head)->since_ns : INT64_MAX;
}

int64_t waitlist_next_ns(const struct waitlist *wl) {
        return wl && wl->n ? wl->next_ns : INT64_MAX;
}

struct waitlist_node *waitlist_take_oldest(struct waitlist *wl) {
        struct waitlist_node *w = node_of(wl->l.head);
        if (w)
                node_remove(wl, w);
        return w;
}

void waitlist_mark_all(struct waitlist *wl) {
        for (struct dlink *k = wl->l.head; k; k = k->next)
                node_of(k)->marked = true;
        if (wl->n)
                wl->next_ns = INT64_MIN;
}

/* Why w is due at now_ns, or -1 when it is not. */
static int why_due(struct waitlist_node *w, int64_t now_ns, waitlist_due_fn due, void *arg) {
        if (w->marked)
                return WAITLIST_MARKED;
        if (due && due(arg, w))
                return WAITLIST_WOKEN;
        if (now_ns >= w->deadline_ns)
                return WAITLIST_EXPIRED;
        return -1;
}

static void recompute_next(struct waitlist *wl) {
        wl->next_ns = INT64_MAX;
        for (struct dlink *k = wl->l.head; k; k = k->next)
                if (node_due_ns(node_of(k)) < wl->next_ns)
                        wl->next_ns = node_due_ns(node_of(k));
}

size_t waitlist_sweep(struct waitlist *wl, int64_t now_ns, waitlist_due_fn due, waitlist_answer_fn answer, void *arg) {
        if (!due && wl->next_ns > now_ns)
                return 0;
        size_t k = 0;
        /* an answer may append: look no further than the waiters there were */
        struct waitlist_node *w = node_of(wl->l.head), *last = node_of(wl->l.tail);
        while (w) {
                struct waitlist_node *after = w == last ? NULL : node_of(w->link.next);
                int why = why_due(w, now_ns, due, arg);
                if (why >= 0) {
                        node_remove(wl, w);
                        answer(arg, w, (enum waitlist_why)why);
                        k++;
                }
                w = after;
        }
        recompute_next(wl);
        return k;
}

size_t waitlist_release_all(struct waitlist *wl, waitlist_answer_fn answer, void *arg) {
        size_t n = wl->n, k = 0; /* not those the answers add */
        for (struct waitlist_node *w; k < n && (w = waitlist_take_oldest(wl)); k++)
                answer(arg, w, WAITLIST_RELEASED);
        return k;
}
