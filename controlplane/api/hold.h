/* hold.h - the bookkeeping of requests held while the cluster has no leader
 * (Nomad's rpc_hold_timeout): each held item waits for its next try, a backoff
 * that doubles from backoff_min up to backoff_max with jitter, or for a kick (the
 * leader changed: every item is due at once). Pure: no I/O, no clock (the caller
 * passes the time), the jitter from a seeded xorshift. The api's side
 * (routes_hold.c) re-runs the requests it takes out. Invariants:
 *   - at most max items are held; hold_add beyond that fails, nothing moves;
 *   - an item is taken out once (hold_take_due or hold_take_all), never twice;
 *   - an item is due when its try time is reached, its deadline passed, or a kick
 *     came after it was added; taking the due ones at one time `now` ends
 *     (an item added again at that `now` is due no sooner than now + backoff_min/2);
 *   - the memory is one array of max slots, allocated at create. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct hold;

struct hold_config {
        size_t max;             /* items held at once, >= 1 */
        int64_t backoff_min_ns; /* the first retry comes after [min/2, min], > 0 */
        int64_t backoff_max_ns; /* later ones double up to this (>= min) */
        uint64_t seed;          /* of the jitter (0: a fixed one) */
};

struct hold_due {
        void *item;
        bool expired; /* its deadline passed */
        bool kicked;  /* due because the leader changed */
};

/* NULL when out of memory or cfg is out of bounds. */
struct hold *hold_create(const struct hold_config *cfg);
/* Items still held are forgotten (take them out first). Accepts NULL; returns NULL. */
struct hold *hold_destroy(struct hold *h);
/* Hold item until its next try: tries is how many it had (0 the first time: its
 * backoff), deadline_ns the time after which it is due as expired. 0, or -ENOSPC
 * when max items are held. O(1). */
int hold_add(struct hold *h, void *item, unsigned tries, int64_t deadline_ns, int64_t now_ns);
/* The leader changed: every held item is due (kicked). O(held). */
void hold_kick(struct hold *h);
/* Take out up to max due items into ret; their count. O(held) when one is due,
 * O(1) otherwise. */
size_t hold_take_due(struct hold *h, int64_t now_ns, struct hold_due *ret, size_t max);
/* Take out up to max items, due or not, into ret; their count. */
size_t hold_take_all(struct hold *h, void **ret, size_t max);
size_t hold_count(const struct hold *h);
/* The earliest time an item is due (try time or deadline); INT64_MAX when none is held. */
int64_t hold_next_ns(const struct hold *h);
/* The delay before try number tries + 1 (jittered, advances the jitter). */
int64_t hold_backoff_ns(struct hold *h, unsigned tries);
