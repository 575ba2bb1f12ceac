/* hold.h - the bookkeeping of requests held while the cluster has no leader
 * (Nomad's rpc_hold_timeout): each held item waits for its next try, a backoff
 * that doubles from backoff_min up to backoff_max with jitter, or for a kick (the
 * leader changed: every item is due at once). The list, its bound and the rule
 * that an item leaves it before it is answered are a common/waitlist.h; what is
 * the hold's own is the backoff and the kick. Pure: no I/O, no clock (the caller
 * passes the time), the jitter from a seeded xorshift. The api's side
 * (routes_hold.c) re-runs the requests it is handed. Invariants:
 *   - at most max items are held; hold_add beyond that fails, nothing moves;
 *   - an item is answered once per add (hold_wake or hold_release_all);
 *   - an item is due when its try time is reached, its deadline passed, or a kick
 *     came after it was added; hold_wake answers those held when it began
 *     (an item added again by an answer is due no sooner than now + backoff_min/2);
 *   - no memory per item: each embeds its struct waitlist_node. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/waitlist.h"

struct hold;

struct hold_config {
        size_t max;             /* items held at once, >= 1 */
        int64_t backoff_min_ns; /* the first retry comes after [min/2, min], > 0 */
        int64_t backoff_max_ns; /* later ones double up to this (>= min) */
        uint64_t seed;          /* of the jitter (0: a fixed one) */
};

/* NULL when out of memory or cfg is out of bounds. */
struct hold *hold_create(const struct hold_config *cfg);
/* Items still held are forgotten (release them first). Accepts NULL; returns NULL. */
struct hold *hold_destroy(struct hold *h);
/* Hold item w until its next try: tries is how many it had (0 the first time: its
 * backoff), deadline_ns the time after which it is due anyway. 0, or -ENOSPC
 * when max items are held. O(1). */
int hold_add(struct hold *h, struct waitlist_node *w, unsigned tries, int64_t deadline_ns, int64_t now_ns);
/* The leader changed: every held item is due (answered WAITLIST_MARKED by the next
 * hold_wake). O(held). */
void hold_kick(struct hold *h);
/* Answer the items due at now_ns: WAITLIST_MARKED when kicked, else
 * WAITLIST_EXPIRED (their try time or deadline came); the count. O(held) when one
 * is due, O(1) otherwise. */
size_t hold_wake(struct hold *h, int64_t now_ns, waitlist_answer_fn answer, void *arg);
/* Answer every item held now, due or not (WAITLIST_RELEASED); the count. */
size_t hold_release_all(struct hold *h, waitlist_answer_fn answer, void *arg);
size_t hold_count(const struct hold *h);
/* The earliest time an item is due (try time or deadline); INT64_MAX when none is held. */
int64_t hold_next_ns(const struct hold *h);
/* The delay before try number tries + 1 (jittered, advances the jitter). */
int64_t hold_backoff_ns(struct hold *h, unsigned tries);
