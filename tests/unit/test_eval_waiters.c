/* test_eval_waiters.c - other servers' workers waiting at the leader for an eval
 * (controlplane/broker/waiters.h): served oldest first, each answered exactly once
 * (an eval, the end of its wait, or a release), bounded, and safe against a
 * callback that waits again. */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "common/model.h"
#include "controlplane/broker/waiters.h"

#define MS 1000000LL

struct seen {
        int calls;
        char got[64]; /* the eval's id, or "-" for none */
        struct eval_waiters *again; /* wait once more from the callback */
};

static void on_answer(void *arg, const struct eval *ev, const char *token) {
        struct seen *s = arg;
        s->calls++;
        cr_assert_eq(ev == NULL, token == NULL, "an eval comes with its token");
        snprintf(s->got, sizeof(s->got), "%s", ev ? ev->id : "-");
        if (s->again) {
                struct eval_waiters *q = s->again;
                s->again = NULL;
                cr_assert_eq(eval_waiters_add(q, 0, 10 * MS, on_answer, s), 0);
        }
}

static struct eval *eval_named(const char *id) {
        struct eval *e = eval_new();
        cr_assert_not_null(e);
        e->id = strdup(id);
        return e;
}

Test(eval_waiters, the_oldest_waiter_gets_the_eval_and_each_is_answered_once) {
        struct eval_waiters *q = eval_waiters_new(8);
        struct seen a = {0}, b = {0}, c = {0};
        cr_assert_eq(eval_waiters_oldest_ns(q), INT64_MAX);
        cr_assert_eq(eval_waiters_add(q, 100, 1000 * MS, on_answer, &a), 0);
        cr_assert_eq(eval_waiters_add(q, 200, 1000 * MS, on_answer, &b), 0);
        cr_assert_eq(eval_waiters_add(q, 300, 1000 * MS, on_answer, &c), 0);
        cr_assert_eq(eval_waiters_oldest_ns(q), 100);
        struct eval *e1 = eval_named("e1"), *e2 = eval_named("e2");
        cr_assert(eval_waiters_give(q, e1, "t1"));
        cr_assert(eval_waiters_give(q, e2, "t2"));
        cr_assert_str_eq(a.got, "e1");
        cr_assert_str_eq(b.got, "e2");
        cr_assert_eq(c.calls, 0);
        cr_assert_eq(eval_waiters_oldest_ns(q), 300);
        cr_assert_eq(eval_waiters_count(q), 1);
        eval_waiters_free(q); /* c hears "none" */
        cr_assert_eq(c.calls, 1);
        cr_assert_str_eq(c.got, "-");
        cr_assert_eq(a.calls + b.calls, 2);
        eval_unref(e1);
        eval_unref(e2);
}

Test(eval_waiters, a_wait_ends_with_none_at_its_deadline_and_not_before) {
        struct eval_waiters *q = eval_waiters_new(8);
        struct seen shortw = {0}, longw = {0};
        cr_assert_eq(eval_waiters_add(q, 0, 100 * MS, on_answer, &longw), 0);
        cr_assert_eq(eval_waiters_add(q, 0, 50 * MS, on_answer, &shortw), 0);
        eval_waiters_expire(q, 49 * MS);
        cr_assert_eq(shortw.calls + longw.calls, 0);
        eval_waiters_expire(q, 50 * MS); /* the younger one ends first: not only the head is looked at */
        cr_assert_eq(shortw.calls, 1);
        cr_assert_str_eq(shortw.got, "-");
        cr_assert_eq(longw.calls, 0);
        cr_assert_eq(eval_waiters_count(q), 1);
        eval_waiters_expire(q, 100 * MS);
        cr_assert_eq(longw.calls, 1);
        cr_assert_not(eval_waiters_give(q, NULL, NULL), "nobody left to give to");
        eval_waiters_free(q);
        cr_assert_eq(shortw.calls + longw.calls, 2);
}

Test(eval_waiters, beyond_the_bound_a_waiter_is_refused_and_a_release_answers_all) {
        struct eval_waiters *q = eval_waiters_new(2);
        struct seen s[3] = {{0}};
        cr_assert_eq(eval_waiters_add(q, 0, MS, on_answer, &s[0]), 0);
        cr_assert_eq(eval_waiters_add(q, 0, MS, on_answer, &s[1]), 0);
        cr_assert_eq(eval_waiters_add(q, 0, MS, on_answer, &s[2]), -EAGAIN);
        eval_waiters_release_all(q);
        cr_assert_eq(s[0].calls, 1);
        cr_assert_eq(s[1].calls, 1);
        cr_assert_eq(s[2].calls, 0, "a refused waiter is the caller's to answer");
        cr_assert_eq(eval_waiters_count(q), 0);
        eval_waiters_free(q);
}

Test(eval_waiters, a_callback_that_waits_again_is_not_answered_by_the_same_sweep) {
        struct eval_waiters *q = eval_waiters_new(4);
        struct seen s = {.again = q};
        cr_assert_eq(eval_waiters_add(q, 0, MS, on_answer, &s), 0);
        eval_waiters_expire(q, 5 * MS); /* answered, and waits again from 0 for 10 ms */
        cr_assert_eq(s.calls, 1);
        cr_assert_eq(eval_waiters_count(q), 1);
        s.again = q;
        eval_waiters_release_all(q); /* answered; its new wait outlives the release */
        cr_assert_eq(s.calls, 2);
        cr_assert_eq(eval_waiters_count(q), 1);
        eval_waiters_free(q);
        cr_assert_eq(s.calls, 3);
}
