/* waiters.h - other servers' scheduler workers waiting at the leader for an eval.
 *
 * A follower's worker asks the leader's broker for an eval
 * (POST /v1/internal/sched/dequeue) and, when none is ready, may wait for one
 * (Nomad's Eval.Dequeue blocks up to its timeout). The leader keeps each such
 * request here, oldest first, until the dispatcher hands it an eval, its wait
 * ends, or the leader steps down. Bounded: at most `max` wait at once; a request
 * beyond that is answered at once with nothing.
 *
 * Every waiter is answered exactly once through its callback: with an eval
 * (borrowed for the call) or with none (ev and token NULL). The callback runs after
 * the waiter left the list, so it may add a new one. Single-threaded: the loop's.
 * The list, its bound and its deadlines are a common/waitlist.h.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct eval;
struct eval_waiters;

typedef void (*eval_waiter_fn)(void *arg, const struct eval *ev, const char *token);

/* max >= 1; NULL otherwise or when out of memory. */
struct eval_waiters *eval_waiters_new(size_t max);
/* Answers every waiter with none (whose callbacks must not wait again), then frees q. */
void eval_waiters_free(struct eval_waiters *q);
/* Wait from now_ns for wait_ns at most. -EAGAIN when max already wait (the caller
 * answers at once), -ENOMEM. */
int eval_waiters_add(struct eval_waiters *q, int64_t now_ns, int64_t wait_ns, eval_waiter_fn fn, void *arg);
size_t eval_waiters_count(const struct eval_waiters *q);
/* Since when the oldest waiter waits; INT64_MAX when none does. */
int64_t eval_waiters_oldest_ns(const struct eval_waiters *q);
/* The oldest waiter gets ev and token (borrowed). False when none waits. */
bool eval_waiters_give(struct eval_waiters *q, const struct eval *ev, const char *token);
/* Waiters whose wait ended by now_ns are answered with none. O(waiters). */
void eval_waiters_expire(struct eval_waiters *q, int64_t now_ns);
/* Every waiter is answered with none (leadership lost, the server stopping). */
void eval_waiters_release_all(struct eval_waiters *q);
