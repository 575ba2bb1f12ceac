/* test_dlist.c - the intrusive list (common/dlist.h): order, unlink anywhere,
 * idempotent append and unlink, two lists through one element. */
#include <criterion/criterion.h>

#include "common/dlist.h"

struct item {
        int v;
        struct dlink a, b;
};

/* The values on l in order, as digits ("" when empty), walking next links and
 * checking each prev link on the way. */
static const char *order_a(struct dlist *l) {
        static char buf[32];
        size_t n = 0;
        struct dlink *prev = NULL;
        for (struct dlink *k = l->head; k && n < sizeof(buf) - 1; k = k->next) {
                cr_assert_eq(k->prev, prev, "prev link broken at %d", dlist_entry(k, struct item, a)->v);
                buf[n++] = (char)('0' + dlist_entry(k, struct item, a)->v);
                prev = k;
        }
        cr_assert_eq(l->tail, prev, "tail is not the last element");
        buf[n] = 0;
        return buf;
}

Test(dlist, appends_keep_order_and_unlink_works_at_head_middle_and_tail) {
        struct item it[5] = {{.v = 0}, {.v = 1}, {.v = 2}, {.v = 3}, {.v = 4}};
        struct dlist l = {0};
        cr_assert(dlist_empty(&l));
        cr_assert_null(dlist_first(&l, struct item, a));
        for (int i = 0; i < 5; i++)
                dlist_append(&l, &it[i].a);
        cr_assert_str_eq(order_a(&l), "01234");
        dlist_unlink(&l, &it[2].a);
        cr_assert_str_eq(order_a(&l), "0134");
        dlist_unlink(&l, &it[0].a);
        cr_assert_str_eq(order_a(&l), "134");
        dlist_unlink(&l, &it[4].a);
        cr_assert_str_eq(order_a(&l), "13");
        cr_assert_eq(dlist_first(&l, struct item, a), &it[1]);
        dlist_unlink(&l, &it[1].a);
        dlist_unlink(&l, &it[3].a);
        cr_assert(dlist_empty(&l));
        cr_assert_null(l.tail);
}

Test(dlist, a_second_append_or_unlink_changes_nothing) {
        struct item it[3] = {{.v = 0}, {.v = 1}, {.v = 2}};
        struct dlist l = {0};
        for (int i = 0; i < 3; i++)
                dlist_append(&l, &it[i].a);
        dlist_append(&l, &it[0].a); /* already listed: stays at the head */
        cr_assert_str_eq(order_a(&l), "012");
        dlist_unlink(&l, &it[1].a);
        dlist_unlink(&l, &it[1].a); /* not listed: no-op */
        cr_assert_str_eq(order_a(&l), "02");
        cr_assert_not(it[1].a.listed);
        dlist_append(&l, &it[1].a); /* listed again: at the tail */
        cr_assert_str_eq(order_a(&l), "021");
}

Test(dlist, one_element_on_two_lists_moves_independently) {
        struct item x = {.v = 7}, y = {.v = 8};
        struct dlist la = {0}, lb = {0};
        dlist_append(&la, &x.a);
        dlist_append(&la, &y.a);
        dlist_append(&lb, &y.b);
        dlist_append(&lb, &x.b);
        dlist_unlink(&la, &x.a);
        cr_assert_eq(dlist_first(&la, struct item, a), &y);
        cr_assert_eq(dlist_first(&lb, struct item, b), &y);
        cr_assert(x.b.listed);
        dlist_unlink(&lb, &y.b);
        cr_assert_eq(dlist_first(&lb, struct item, b), &x);
}

Test(dlist, shift_takes_the_oldest_first_and_count_follows) {
        struct item it[3] = {{.v = 0}, {.v = 1}, {.v = 2}};
        struct dlist l = {0};
        cr_assert_null(dlist_shift(&l));
        cr_assert_null(dlist_shift_entry(&l, struct item, a));
        for (int i = 0; i < 3; i++)
                dlist_append(&l, &it[i].a);
        cr_assert_eq(dlist_count(&l), 3);
        cr_assert_eq(dlist_shift_entry(&l, struct item, a), &it[0]);
        cr_assert_not(it[0].a.listed, "a shifted element is off the list");
        cr_assert_str_eq(order_a(&l), "12");
        cr_assert_eq(dlist_count(&l), 2);
        dlist_append(&l, &it[0].a); /* and may go on again, at the tail */
        cr_assert_str_eq(order_a(&l), "120");
        cr_assert_eq(dlist_shift_entry(&l, struct item, a), &it[1]);
        cr_assert_eq(dlist_shift_entry(&l, struct item, a), &it[2]);
        cr_assert_eq(dlist_shift_entry(&l, struct item, a), &it[0]);
        cr_assert(dlist_empty(&l));
        cr_assert_null(l.tail);
        cr_assert_eq(dlist_count(&l), 0);
}
