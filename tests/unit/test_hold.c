/* test_hold.c - the bookkeeping of requests held for want of a leader
 * (controlplane/api/hold.h): backoff bounds, the cap, due and expired items,
 * kicks, each item taken out once. Time is the test's. */
#include <criterion/criterion.h>
#include <errno.h>

#include "common/clock.h"
#include "controlplane/api/hold.h"

#define MS NS_PER_MS

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
        int a, b, c, d;
        cr_expect_eq(hold_add(h, &a, 0, 5000 * MS, 0), 0);
        cr_expect_eq(hold_add(h, &b, 0, 5000 * MS, 0), 0);
        cr_expect_eq(hold_add(h, &c, 0, 5000 * MS, 0), 0);
        cr_expect_eq(hold_add(h, &d, 0, 5000 * MS, 0), -ENOSPC);
        cr_expect_eq(hold_count(h), 3);
        void *all[8];
        cr_expect_eq(hold_take_all(h, all, 8), 3);
        cr_expect_eq(hold_count(h), 0);
        cr_expect_eq(hold_next_ns(h), INT64_MAX);
        cr_expect_eq(hold_add(h, &d, 0, 5000 * MS, 0), 0, "a slot freed is usable again");
        hold_destroy(h);
}

Test(hold, an_item_is_due_at_its_try_time_once_and_expired_after_its_deadline) {
        struct hold *h = new_hold(8);
        int a, b;
        struct hold_due due[8];
        cr_assert_eq(hold_add(h, &a, 0, 5000 * MS, 1000 * MS), 0); /* try within [1050, 1100] ms */
        cr_assert_eq(hold_add(h, &b, 0, 1010 * MS, 1000 * MS), 0); /* its deadline comes first */
        cr_expect_eq(hold_take_due(h, 1000 * MS, due, 8), 0, "nothing due yet");
        cr_expect_eq(hold_next_ns(h), 1010 * MS);
        cr_assert_eq(hold_take_due(h, 1010 * MS, due, 8), 1);
        cr_expect_eq(due[0].item, &b);
        cr_expect(due[0].expired && !due[0].kicked);
        cr_expect_eq(hold_take_due(h, 1049 * MS, due, 8), 0);
        cr_assert_eq(hold_take_due(h, 1100 * MS, due, 8), 1);
        cr_expect_eq(due[0].item, &a);
        cr_expect(!due[0].expired);
        cr_expect_eq(hold_take_due(h, 9000 * MS, due, 8), 0, "taken out once");
        hold_destroy(h);
}

Test(hold, a_kick_makes_every_item_due_at_once) {
        struct hold *h = new_hold(8);
        int items[5];
        for (int i = 0; i < 5; i++)
                cr_assert_eq(hold_add(h, &items[i], 6, 5000 * MS, 0), 0); /* tries after >= 400 ms */
        struct hold_due due[8];
        cr_expect_eq(hold_take_due(h, 1 * MS, due, 8), 0);
        hold_kick(h);
        /* taken out two by two: the kick holds for those not taken yet */
        size_t n = 0;
        for (size_t k; (k = hold_take_due(h, 1 * MS, due + n, 2)) > 0;)
                n += k;
        cr_expect_eq(n, 5);
        for (size_t i = 0; i < n; i++)
                cr_expect(due[i].kicked && !due[i].expired);
        /* added again at the same time: not due before its backoff */
        cr_assert_eq(hold_add(h, &items[0], 0, 5000 * MS, 1 * MS), 0);
        cr_expect_eq(hold_take_due(h, 1 * MS, due, 8), 0);
        cr_expect_eq(hold_take_due(h, 101 * MS, due, 8), 1);
        cr_expect(!due[0].kicked, "a kick counts for the items held when it came");
        hold_destroy(h);
}

Test(hold, a_kick_with_nothing_held_changes_nothing) {
        struct hold *h = new_hold(2);
        hold_kick(h);
        cr_expect_eq(hold_next_ns(h), INT64_MAX);
        int a;
        cr_assert_eq(hold_add(h, &a, 0, 5000 * MS, 0), 0);
        struct hold_due due[2];
        cr_expect_eq(hold_take_due(h, 0, due, 2), 0, "a kick before an item was added does not make it due");
        hold_destroy(h);
}
