/* test_api_blocking.c - blocking queries parked until the table they read moves
 * past their index (controlplane/api/routes_blocking.c): api_wake_parked answers
 * them when it moved, at a tick when their wait ran out, 503 when their client
 * went away, and api_drop_parked answers every one 503. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/waitlist.h"
#include "controlplane/api/routes.h"
#include "controlplane/api/routes_internal.h"
#include "tests/support/api_harness.h"

#define JOB(id)                                                                                                        \
        "{\"Job\":{\"ID\":\"" id "\",\"Type\":\"batch\",\"TaskGroups\":[{\"Name\":\"g\",\"Tasks\":[{\"Name\":\"t\","   \
        "\"Driver\":\"raw_exec\",\"Config\":{\"command\":\"/bin/true\"}}]}]}}"

API_HARNESS_SUITE(api_blocking, h);

/* GET /v1/jobs?index=<the jobs' index>&wait=wait, left parked. */
static struct api_harness_pending *park_jobs(const char *wait, struct api_reply *ret, uint64_t *ret_index) {
        struct api_reply r;
        api_harness_request(h, "GET", "/v1/jobs", NULL, 0, &r);
        cr_assert_eq(r.status, 200);
        *ret_index = r.index;
        api_reply_clear(&r);
        char target[128];
        snprintf(target, sizeof(target), "/v1/jobs?index=%llu&wait=%s", (unsigned long long)*ret_index, wait);
        struct api_harness_pending *p = api_harness_begin(h, "GET", target, NULL, ret);
        cr_assert_not_null(p);
        cr_assert_not(api_harness_answered(p), "parked");
        return p;
}

Test(api_blocking, a_parked_query_is_answered_when_its_table_moves_not_at_a_tick_before) {
        cr_assert_eq(api_harness_call(h, "PUT", "/v1/jobs", JOB("a"), NULL, NULL), 200);
        struct api_reply r;
        uint64_t idx;
        struct api_harness_pending *p = park_jobs("5m", &r, &idx);
        cr_expect_eq(waitlist_count(h->api->parked), 1);
        api_wake_parked(h->api, false);
        cr_expect_not(api_harness_answered(p), "nothing moved");
        cr_assert_eq(api_harness_call(h, "PUT", "/v1/jobs", JOB("b"), NULL, NULL), 200);
        api_wake_parked(h->api, true);
        cr_expect_not(api_harness_answered(p), "a tick answers only the waits that ran out");
        api_wake_parked(h->api, false);
        cr_assert(api_harness_answered(p), "the table moved");
        cr_expect_eq(r.status, 200);
        cr_expect_gt(r.index, idx);
        cr_expect(strstr(r.body, "\"b\""), "%s", r.body);
        cr_expect_eq(waitlist_count(h->api->parked), 0);
        api_reply_clear(&r);
        api_harness_pending_free(p);
}

Test(api_blocking, a_wait_that_ran_out_is_answered_at_the_tick_with_the_same_index) {
        struct api_reply r;
        uint64_t idx;
        struct api_harness_pending *p = park_jobs("1ms", &r, &idx);
        usleep(5000);
        api_wake_parked(h->api, true);
        cr_assert(api_harness_answered(p));
        cr_expect_eq(r.status, 200);
        cr_expect_eq(r.index, idx);
        api_reply_clear(&r);
        api_harness_pending_free(p);
}

Test(api_blocking, a_query_whose_client_left_is_released_503_and_counted) {
        struct api_reply ra, rb;
        uint64_t idx;
        struct api_harness_pending *a = park_jobs("5m", &ra, &idx), *b = park_jobs("5m", &rb, &idx);
        api_harness_client_leaves(a);
        api_wake_parked(h->api, true); /* the first wake looks at the clients */
        cr_assert(api_harness_answered(a));
        cr_expect_eq(ra.status, 503);
        cr_expect(strstr(ra.body, "client went away"), "%s", ra.body);
        cr_expect_eq(h->api->parked_gone, 1);
        cr_expect_not(api_harness_answered(b), "its client is still there");
        cr_expect_eq(waitlist_count(h->api->parked), 1);
        api_drop_parked(h->api);
        cr_assert(api_harness_answered(b));
        cr_expect_eq(rb.status, 503);
        cr_expect(strstr(rb.body, "server shutting down"), "%s", rb.body);
        cr_expect_eq(waitlist_count(h->api->parked), 0);
        api_reply_clear(&ra);
        api_reply_clear(&rb);
        api_harness_pending_free(a);
        api_harness_pending_free(b);
}
