/* test_waitlist.c - the bounded list of waiters held until an event or their
 * deadline (common/waitlist.h): the bound, oldest first, each answered once and
 * with its reason, marks that count for the waiters listed when they came, and
 * sweeps that do not answer what their answers add. Time is the test's. */
#include <criterion/criterion.h>
#include <errno.h>

#include "common/waitlist.h"

struct item {
        struct waitlist_node node;
        int id;
        bool wake;              /* the due test says so */
        int answers;            /* how often answered */
        enum waitlist_why why;  /* the last reason */
        struct waitlist *again; /* add once more from the answer, at `again_at` for 10 */
        int64_t again_at;
};

struct log {
        int order[16]; /* ids, in the order answered */
        int n;
};

static bool item_due(void *arg, struct waitlist_node *w) {
        (void)arg;
        return waitlist_entry(w, struct item, node)->wake;
}

static void item_answer(void *arg, struct waitlist_node *w, enum waitlist_why why) {
        struct log *log = arg;
        struct item *it = waitlist_entry(w, struct item, node);
        cr_assert_not(w->link.listed, "answered after it left the list");
        it->answers++;
        it->why = why;
        if (log && log->n < 16)
                log->order[log->n++] = it->id;
        if (it->again) {
                struct waitlist *wl = it->again;
                it->again = NULL;
                cr_assert_eq(waitlist_add(wl, &it->node, it->again_at, it->again_at + 10), 0);
        }
}

static struct waitlist *new_list(size_t max) {
        struct waitlist *wl = waitlist_create(max);
        cr_assert_not_null(wl);
        return wl;
}

Test(waitlist, at_most_max_waiters_then_refused_and_a_listed_one_not_twice) {
        cr_expect_null(waitlist_create(0));
        cr_expect_null(waitlist_destroy(NULL));
        struct waitlist *wl = new_list(2);
        struct item a = {.id = 1}, b = {.id = 2}, c = {.id = 3};
        cr_expect_eq(waitlist_add(wl, &a.node, 0, 100), 0);
        cr_expect_eq(waitlist_add(wl, &a.node, 0, 100), -EALREADY);
        cr_expect_not(waitlist_full(wl));
        cr_expect_eq(waitlist_add(wl, &b.node, 0, 100), 0);
        cr_expect(waitlist_full(wl));
        cr_expect_eq(waitlist_add(wl, &c.node, 0, 100), -ENOSPC);
        cr_expect_eq(waitlist_count(wl), 2);
        cr_expect_not(c.node.link.listed, "a refused waiter is not listed");
        cr_expect_eq(waitlist_take_oldest(wl), &a.node);
        cr_expect_eq(waitlist_add(wl, &c.node, 0, 100), 0, "a place freed is usable again");
        wl = waitlist_destroy(wl); /* b and c forgotten, not answered */
        cr_expect_eq(b.answers + c.answers, 0);
}

Test(waitlist, the_oldest_is_taken_first) {
        struct waitlist *wl = new_list(8);
        struct item it[3] = {{.id = 1}, {.id = 2}, {.id = 3}};
        cr_expect_eq(waitlist_oldest_ns(wl), INT64_MAX);
        cr_expect_null(waitlist_take_oldest(wl));
        for (int i = 0; i < 3; i++)
                cr_assert_eq(waitlist_add(wl, &it[i].node, 100 * (i + 1), 1000), 0);
        cr_expect_eq(waitlist_oldest_ns(wl), 100);
        cr_expect_eq(waitlist_take_oldest(wl), &it[0].node);
        cr_expect_eq(waitlist_take_oldest(wl), &it[1].node);
        cr_expect_eq(waitlist_oldest_ns(wl), 300);
        cr_expect_eq(waitlist_count(wl), 1);
        waitlist_destroy(wl);
}

Test(waitlist, a_sweep_expires_at_the_deadline_and_not_before_and_looks_past_the_head) {
        struct waitlist *wl = new_list(8);
        struct item longw = {.id = 1}, shortw = {.id = 2};
        struct log log = {0};
        cr_assert_eq(waitlist_add(wl, &longw.node, 0, 100), 0);
        cr_assert_eq(waitlist_add(wl, &shortw.node, 0, 50), 0);
        cr_expect_eq(waitlist_next_ns(wl), 50);
        cr_expect_eq(waitlist_sweep(wl, 49, NULL, item_answer, &log), 0);
        cr_expect_eq(waitlist_sweep(wl, 50, NULL, item_answer, &log), 1);
        cr_expect_eq(shortw.answers, 1);
        cr_expect_eq(shortw.why, WAITLIST_EXPIRED);
        cr_expect_eq(longw.answers, 0);
        cr_expect_eq(waitlist_next_ns(wl), 100);
        cr_expect_eq(waitlist_sweep(wl, 100, NULL, item_answer, &log), 1);
        cr_expect_eq(longw.answers, 1);
        cr_expect_eq(waitlist_next_ns(wl), INT64_MAX);
        cr_expect_eq(waitlist_sweep(wl, 1000, NULL, item_answer, &log), 0, "answered once");
        waitlist_destroy(wl);
}

Test(waitlist, the_due_test_wakes_some_in_order_and_the_rest_stay_in_order) {
        struct waitlist *wl = new_list(8);
        struct item it[4] = {{.id = 1}, {.id = 2, .wake = true}, {.id = 3}, {.id = 4, .wake = true}};
        struct log log = {0};
        for (int i = 0; i < 4; i++)
                cr_assert_eq(waitlist_add(wl, &it[i].node, i, 1000), 0);
        cr_expect_eq(waitlist_sweep(wl, 10, item_due, item_answer, &log), 2);
        cr_assert_eq(log.n, 2);
        cr_expect_eq(log.order[0], 2);
        cr_expect_eq(log.order[1], 4);
        cr_expect_eq(it[1].why, WAITLIST_WOKEN);
        /* due and expired at once: the event is the reason */
        it[2].wake = true;
        cr_expect_eq(waitlist_sweep(wl, 1000, item_due, item_answer, &log), 2);
        cr_expect_eq(log.order[2], 1);
        cr_expect_eq(it[0].why, WAITLIST_EXPIRED);
        cr_expect_eq(log.order[3], 3);
        cr_expect_eq(it[2].why, WAITLIST_WOKEN);
        cr_expect_eq(waitlist_count(wl), 0);
        waitlist_destroy(wl);
}

Test(waitlist, a_mark_counts_for_the_waiters_listed_when_it_came) {
        struct waitlist *wl = new_list(8);
        struct item a = {.id = 1}, b = {.id = 2}, later = {.id = 3};
        struct log log = {0};
        waitlist_mark_all(wl); /* nothing listed: changes nothing */
        cr_expect_eq(waitlist_next_ns(wl), INT64_MAX);
        cr_assert_eq(waitlist_add(wl, &a.node, 0, 5000), 0);
        cr_expect_eq(waitlist_sweep(wl, 0, NULL, item_answer, &log), 0, "a mark before the add does not count");
        cr_assert_eq(waitlist_add(wl, &b.node, 0, 5000), 0);
        waitlist_mark_all(wl);
        cr_expect_eq(a.answers + b.answers, 0, "a mark answers nobody by itself");
        cr_expect_eq(waitlist_next_ns(wl), INT64_MIN);
        cr_assert_eq(waitlist_add(wl, &later.node, 1, 5000), 0);
        cr_expect_eq(waitlist_sweep(wl, 1, NULL, item_answer, &log), 2);
        cr_expect_eq(a.why, WAITLIST_MARKED);
        cr_expect_eq(b.why, WAITLIST_MARKED);
        cr_expect_eq(later.answers, 0);
        cr_expect_eq(waitlist_next_ns(wl), 5000);
        /* added again after its answer: not marked any more */
        cr_assert_eq(waitlist_add(wl, &a.node, 1, 5000), 0);
        cr_expect_eq(waitlist_sweep(wl, 1, NULL, item_answer, &log), 0);
        cr_expect_eq(waitlist_release_all(wl, item_answer, &log), 2);
        cr_expect_eq(later.why, WAITLIST_RELEASED);
        waitlist_destroy(wl);
}

Test(waitlist, an_answer_that_waits_again_is_not_answered_by_the_same_sweep_or_release) {
        struct waitlist *wl = new_list(4);
        struct item a = {.id = 1, .again = wl, .again_at = 5}, b = {.id = 2};
        struct log log = {0};
        cr_assert_eq(waitlist_add(wl, &a.node, 0, 1), 0); /* the last one listed */
        cr_expect_eq(waitlist_sweep(wl, 5, NULL, item_answer, &log), 1, "answered, and waits again until 15");
        cr_expect_eq(waitlist_count(wl), 1);
        cr_expect_eq(waitlist_next_ns(wl), 15);
        cr_assert_eq(waitlist_add(wl, &b.node, 6, 100), 0);
        a.again = wl;
        a.again_at = 20;
        cr_expect_eq(waitlist_sweep(wl, 15, NULL, item_answer, &log), 1, "a once, b stays");
        cr_expect_eq(a.answers, 2);
        cr_expect_eq(waitlist_next_ns(wl), 30);
        a.again = wl;
        cr_expect_eq(waitlist_release_all(wl, item_answer, &log), 2, "b and a; a's new wait outlives the release");
        cr_expect_eq(a.answers, 3);
        cr_expect_eq(b.why, WAITLIST_RELEASED);
        cr_expect_eq(waitlist_count(wl), 1);
        cr_expect_eq(waitlist_release_all(wl, item_answer, NULL), 1);
        cr_expect_eq(a.answers, 4);
        waitlist_destroy(wl);
}
