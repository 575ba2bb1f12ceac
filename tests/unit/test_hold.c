/* test_hold.c - the bookkeeping of requests held for want of a leader
 * (controlplane/api/hold.h): backoff bounds, the cap, due and expired items,
 * kicks, each item answered once. Time is the test's. */
#include <criterion/criterion.h>
#include <errno.h>

#include "common/clock.h"
#include "controlplane/api/hold.h"

#define MS NS_PER_MS

/* What a wake or a release answered, in order. */
struct due {
        struct waitlist_node *item[8];
        enum waitlist_why why[8];
        size_t n;
};

static void collect(void *arg, struct waitlist_node *w, enum waitlist_why why) {
        struct due *d = arg;
        cr_assert_lt(d->n, 8);
        d->item[d->n] = w;
        d->why[d->n++] = why;
}

/* The items due at now_ns, into a fresh *d; their count. */
static size_t wake(struct hold *h, int64_t now_ns, struct due *d) {
        *d = (struct due){0};
        cr_assert_eq(hold_wake(h, now_ns, collect, d), d->n);
        return d->n;
}

static struct hold *new_hold(size_t max) {
        const struct hold_config c = {.max = max, .backoff_min_ns = 100 * MS, .backoff_max_ns = 800 * MS, .seed = 42};
        struct hold *h = hold_create(&c);
        cr_assert(h);
        return h;
}

Test(hold, create_refuses_bad_bounds) {
        struct hold_config c = {.max = 0, .backoff_min_ns = 1, .backoff_max_ns = 1};
        cr_expect_null(hold_create(&c));
        c = (struct hold_config){.max = 4, .backoff_min_ns = 0, .backoff_max_ns = 1};
        cr_expect_null(hold_create(&c));
        c = (struct hold_config){.max = 4, .backoff_min_ns = 10, .backoff_max_ns = 5};
        cr_expect_null(hold_create(&c));
        cr_expect_null(hold_destroy(NULL));
}

Test(hold, backoff_doubles_within_jitter_up_to_the_cap) {
        struct hold *h = new_hold(4);
        for (int round = 0; round < 200; round++) {
                int64_t b0 = hold_backoff_ns(h, 0), b1 = hold_backoff_ns(h, 1), b9 = hold_backoff_ns(h, 9);
                cr_assert(b0 >= 50 * MS && b0 <= 100 * MS, "try 1 after %lld ns", (long long)b0);
                cr_assert(b1 >= 100 * MS && b1 <= 200 * MS, "try 2 after %lld ns", (long long)b1);
                cr_assert(b9 >= 400 * MS && b9 <= 800 * MS, "try 10 after %lld ns (capped)", (long long)b9);
        }
        hold_destroy(h);
}

Test(hold, at_most_max_items_then_refused) {
        struct hold *h = new_hold(3);
        struct waitlist_node a = {0}, b = {0}, c = {0}, d = {0};
        cr_expect_eq(hold_add(h, &a, 0, 5000 * MS, 0), 0);
        cr_expect_eq(hold_add(h, &b, 0, 5000 * MS, 0), 0);
        cr_expect_eq(hold_add(h, &c, 0, 5000 * MS, 0), 0);
        cr_expect_eq(hold_add(h, &d, 0, 5000 * MS, 0), -ENOSPC);
        cr_expect_eq(hold_count(h), 3);
        struct due all = {0};
        cr_expect_eq(hold_release_all(h, collect, &all), 3);
        cr_expect_eq(all.why[0], WAITLIST_RELEASED);
        cr_expect_eq(hold_count(h), 0);
        cr_expect_eq(hold_next_ns(h), INT64_MAX);
        cr_expect_eq(hold_add(h, &d, 0, 5000 * MS, 0), 0, "a slot freed is usable again");
        hold_release_all(h, collect, &all);
        hold_destroy(h);
}

Test(hold, an_item_is_due_at_its_try_time_once_and_at_its_deadline_if_that_comes_first) {
        struct hold *h = new_hold(8);
        struct waitlist_node a = {0}, b = {0};
        struct due due;
        cr_assert_eq(hold_add(h, &a, 0, 5000 * MS, 1000 * MS), 0); /* try within [1050, 1100] ms */
        cr_assert_eq(hold_add(h, &b, 0, 1010 * MS, 1000 * MS), 0); /* its deadline comes first */
        cr_expect_eq(wake(h, 1000 * MS, &due), 0, "nothing due yet");
        cr_expect_eq(hold_next_ns(h), 1010 * MS);
        cr_assert_eq(wake(h, 1010 * MS, &due), 1);
        cr_expect_eq(due.item[0], &b);
        cr_expect_eq(due.why[0], WAITLIST_EXPIRED, "due by time, not kicked");
        cr_expect_eq(wake(h, 1049 * MS, &due), 0);
        cr_assert_eq(wake(h, 1100 * MS, &due), 1);
        cr_expect_eq(due.item[0], &a);
        cr_expect_eq(wake(h, 9000 * MS, &due), 0, "answered once");
        hold_destroy(h);
}

Test(hold, a_kick_makes_every_item_due_at_once) {
        struct hold *h = new_hold(8);
        struct waitlist_node items[5] = {0};
        for (int i = 0; i < 5; i++)
                cr_assert_eq(hold_add(h, &items[i], 6, 5000 * MS, 0), 0); /* tries after >= 400 ms */
        struct due due;
        cr_expect_eq(wake(h, 1 * MS, &due), 0);
        hold_kick(h);
        cr_expect_eq(hold_count(h), 5, "a kick answers nobody by itself");
        cr_expect_eq(wake(h, 1 * MS, &due), 5);
        for (size_t i = 0; i < due.n; i++)
                cr_expect_eq(due.why[i], WAITLIST_MARKED, "kicked");
        /* added again at the same time: not due before its backoff */
        cr_assert_eq(hold_add(h, &items[0], 0, 5000 * MS, 1 * MS), 0);
        cr_expect_eq(wake(h, 1 * MS, &due), 0);
        cr_expect_eq(wake(h, 101 * MS, &due), 1);
        cr_expect_eq(due.why[0], WAITLIST_EXPIRED, "a kick counts for the items held when it came");
        hold_destroy(h);
}

Test(hold, a_kick_with_nothing_held_changes_nothing) {
        struct hold *h = new_hold(2);
        hold_kick(h);
        cr_expect_eq(hold_next_ns(h), INT64_MAX);
        struct waitlist_node a = {0};
        cr_assert_eq(hold_add(h, &a, 0, 5000 * MS, 0), 0);
        struct due due;
        cr_expect_eq(wake(h, 0, &due), 0, "a kick before an item was added does not make it due");
        hold_destroy(h);
}
