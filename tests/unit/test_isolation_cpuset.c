/* test_isolation_cpuset.c - which cores a task reserves: CPU lists in the
 * kernel's format and the per-node core allocator (lowest free ids, the
 * others' shared set, marking again after an agent restart). */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "common/error.h"
#include "isolation/cpuset.h"

static struct cpulist L(const char *s) {
        struct cpulist c;
        struct error err = {0};
        cr_assert_eq(cpulist_parse(s, &c, &err), 0, "%s: %s", s, err.msg);
        return c;
}

static const char *
F(const struct cpulist *c) {
        static char buf[256];
        cr_assert_geq(cpulist_format(c, buf, sizeof(buf)), 0);
        return buf;
}

Test(isolation_cpuset, cpu_lists_parse_and_format) {
        struct cpulist c = L("0-3,8,10-11\n");
        cr_expect_eq(cpulist_count(&c), 7);
        cr_expect_str_eq(F(&c), "0-3,8,10-11");
        c = L("5,1,2");
        cr_expect_str_eq(F(&c), "1-2,5");
        c = L("");
        cr_expect(cpulist_empty(&c));
        cr_expect_str_eq(F(&c), "");
        c = L("1023");
        cr_expect_str_eq(F(&c), "1023");
        struct error err = {0};
        static const char *const bad[] = {"a", "3-1", "1024", "0-", "1,,2", "-1", "0 1", "99999999999999999999"};
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                error_clear(&err);
                cr_expect_eq(cpulist_parse(bad[i], &c, &err), -EINVAL, "\"%s\" accepted", bad[i]);
                cr_expect(strstr(err.msg, "not a CPU list"), "%s", err.msg);
        }
        char small[4];
        c = L("0-3,8");
        cr_expect_eq(cpulist_format(&c, small, sizeof(small)), -ENOSPC);
}

Test(isolation_cpuset, cores_are_taken_lowest_first_and_others_get_the_rest) {
        struct core_alloc *a = NULL;
        struct error err = {0};
        struct cpulist usable = L("0-3"), got, sh;
        cr_assert_eq(core_alloc_create(&usable, &a, &err), 0);
        core_alloc_shared(a, &sh);
        cr_expect_str_eq(F(&sh), "0-3");
        cr_assert_eq(core_alloc_take(a, 2, &got, &err), 0, "%s", err.msg);
        cr_expect_str_eq(F(&got), "0-1");
        struct cpulist second;
        cr_assert_eq(core_alloc_take(a, 1, &second, &err), 0);
        cr_expect_str_eq(F(&second), "2");
        core_alloc_shared(a, &sh);
        cr_expect_str_eq(F(&sh), "3", "reserved cores are not in the others' set");
        cr_expect_eq(core_alloc_reserved(a), 3);
        struct cpulist none;
        cr_expect_eq(core_alloc_take(a, 2, &none, &err), -EBUSY);
        cr_expect(strstr(err.msg, "2 cores asked, 1 of 4 free"), "%s", err.msg);
        cr_expect_eq(core_alloc_take(a, 0, &none, &err), -EINVAL);
        core_alloc_release(a, &got);
        cr_assert_eq(core_alloc_take(a, 2, &got, &err), 0);
        cr_expect_str_eq(F(&got), "0-1", "released cores are handed out again");
        cr_assert_eq(core_alloc_take(a, 1, &none, &err), 0);
        core_alloc_shared(a, &sh);
        cr_expect_str_eq(F(&sh), "0-3", "every core reserved: the others are not left without a CPU");
        core_alloc_free(a);
}

Test(isolation_cpuset, a_restarted_agent_marks_reservations_again) {
        struct core_alloc *a = NULL;
        struct cpulist usable = L("0-7"), got;
        cr_assert_eq(core_alloc_create(&usable, &a, NULL), 0);
        struct cpulist held = L("2-3");
        cr_expect_eq(core_alloc_mark(a, &held), 0);
        struct cpulist clash = L("3-4");
        cr_expect_eq(core_alloc_mark(a, &clash), -EBUSY);
        struct cpulist outside = L("9");
        cr_expect_eq(core_alloc_mark(a, &outside), -ERANGE);
        cr_expect_eq(core_alloc_reserved(a), 2, "a refused mark marks nothing");
        cr_assert_eq(core_alloc_take(a, 3, &got, NULL), 0);
        cr_expect_str_eq(F(&got), "0-1,4");
        core_alloc_free(a);
        struct cpulist empty = L("");
        cr_expect_eq(core_alloc_create(&empty, &a, NULL), -EINVAL);
}
