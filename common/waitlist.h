/* waitlist.h - a bounded list of waiters held until an event or their deadline,
 * each answered exactly once.
 *
 * The shape the server uses three times: blocking queries parked until the state
 * passes their index (api/routes_blocking.c), requests held while there is no
 * leader (api/hold.c), followers' dequeues held at the leader until an eval is
 * ready (broker/waiters.c). Each owner embeds a struct waitlist_node in its own
 * object and keeps only what is its own: what wakes a waiter (the `due` test of
 * a sweep, waitlist_take_oldest, waitlist_mark_all) and what its answer is (the
 * answer callback). The list keeps the order (oldest first), the bound, the
 * deadlines, and the rule that a waiter leaves the list before it is answered.
 *
 * Invariants:
 *   - at most max waiters are listed; waitlist_add beyond that fails, nothing moves;
 *   - a waiter added once is taken out once (a sweep, a take, a release), and an
 *     answer callback runs after it left the list, so the answer may add it (or
 *     another) again;
 *   - a sweep or a release visits only the waiters listed when it began, oldest
 *     first: one added by an answer waits for the next;
 *   - an answer may add waiters but must not take any out (no sweep, take or
 *     release from inside an answer).
 * Pure: no clock (the caller passes the time), no I/O, no allocation after
 * create (the nodes are the owner's). Single-threaded: the owner's thread.
 */
#pragma once

#include "common/dlist.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Embedded in the owner's object, zeroed before its first add (calloc, {0});
 * its fields are the list's (read them through the functions below). */
struct waitlist_node {
        struct dlink link; /* on the list (link.listed: whether it is) */
        int64_t since_ns;    /* added at */
        int64_t deadline_ns; /* due as expired from here */
        bool marked;         /* due at the next sweep (waitlist_mark_all) */
};

struct waitlist;

/* The owner's object that embeds node as its `member`. */
#define waitlist_entry(node, type, member) ((type *)((char *)(node)-offsetof(type, member)))

/* Why a waiter is answered. */
enum waitlist_why {
        WAITLIST_WOKEN,    /* the sweep's due test, or waitlist_take_oldest */
        WAITLIST_MARKED,   /* waitlist_mark_all before the sweep */
        WAITLIST_EXPIRED,  /* its deadline passed */
        WAITLIST_RELEASED, /* waitlist_release_all: shutdown, leadership lost */
};

/* A sweep's test of one waiter: true takes it out (answered WAITLIST_WOKEN). It
 * may note in its own object why, but must not change the list. */
typedef bool (*waitlist_due_fn)(void *arg, struct waitlist_node *w);
/* The answer, after w left the list. */
typedef void (*waitlist_answer_fn)(void *arg, struct waitlist_node *w, enum waitlist_why why);

/* max >= 1 (SIZE_MAX: the owner bounds them elsewhere). NULL when out of memory
 * or max is 0. */
struct waitlist *waitlist_create(size_t max);
/* Waiters still listed are forgotten (unlinked, not answered: release them
 * first). Accepts NULL; returns NULL. */
struct waitlist *waitlist_destroy(struct waitlist *wl);

/* w waits from now_ns until deadline_ns at most. 0; -ENOSPC when max wait (the
 * owner answers it at once); -EALREADY when w is listed. O(1). */
int waitlist_add(struct waitlist *wl, struct waitlist_node *w, int64_t now_ns, int64_t deadline_ns);
size_t waitlist_count(const struct waitlist *wl);
bool waitlist_full(const struct waitlist *wl);
/* Since when the oldest waiter waits; INT64_MAX when none does. O(1). */
int64_t waitlist_oldest_ns(const struct waitlist *wl);
/* No later than the earliest time a waiter is due without an event (its
 * deadline; INT64_MIN while one is marked); INT64_MAX when none is listed. Exact
 * after adds and sweeps; a take may leave it earlier than that until the next
 * sweep. O(1). */
int64_t waitlist_next_ns(const struct waitlist *wl);

/* The oldest waiter leaves the list (the caller answers it); NULL when none
 * waits. O(1). */
struct waitlist_node *waitlist_take_oldest(struct waitlist *wl);
/* Every waiter listed now is due (WAITLIST_MARKED) at the next sweep, those
 * added later are not. Nothing is answered here. O(listed). */
void waitlist_mark_all(struct waitlist *wl);
/* Answer, oldest first, each waiter listed when the sweep began that is marked
 * (WAITLIST_MARKED), else for which due says so (WAITLIST_WOKEN; due may be
 * NULL), else whose deadline passed by now_ns (WAITLIST_EXPIRED); the others stay
 * where they are. The count answered. O(listed); O(1) when due is NULL and no
 * waiter is due by time or mark. */
size_t waitlist_sweep(struct waitlist *wl, int64_t now_ns, waitlist_due_fn due, waitlist_answer_fn answer, void *arg);
/* Answer every waiter listed now with WAITLIST_RELEASED, oldest first; the count. */
size_t waitlist_release_all(struct waitlist *wl, waitlist_answer_fn answer, void *arg);
