/* test_api_hold.c - the routes hold a request that finds no leader
 * (controlplane/api/routes_hold.c, api_config.hold_timeout_ms) instead of
 * answering it 500, and only one this server got from its client: a request
 * forwarded to it, or any with holding off, is answered at once as before. The
 * harness ends each request with api_drop_parked, which answers a held one 503
 * "server shutting down": that answer is how a test sees it was held. A write
 * Raft refused at the flush (leadership lost in the loop turn it was proposed in)
 * is held the same way; one appended and then lost is not (it may commit). */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "controlplane/api/routes.h"
#include "controlplane/api/routes_internal.h"
#include "tests/support/api_harness.h"

#define JOB                                                                                                            \
        "{\"Job\":{\"ID\":\"w\",\"Type\":\"batch\",\"TaskGroups\":[{\"Name\":\"g\",\"Tasks\":[{\"Name\":\"t\","        \
        "\"Driver\":\"raw_exec\",\"Config\":{\"command\":\"/bin/true\"}}]}]}}"

static struct api_harness *h;

static void setup(void) {
        h = api_harness_new();
        cr_assert(h);
        h->leader = false; /* and no forward: no leader known */
}

static void teardown(void) {
        api_harness_free(h);
}

TestSuite(api_hold, .init = setup, .fini = teardown);

static int put(const char *target, char **ret_text) {
        return api_harness_call(h, "PUT", target, JOB, NULL, ret_text);
}

Test(api_hold, without_holding_a_write_without_leader_is_answered_500_at_once) {
        char *text = NULL;
        cr_expect_eq(put("/v1/jobs", &text), 500);
        cr_expect(text && strstr(text, "No cluster leader"), "%s", text);
        free(text);
}

Test(api_hold, with_holding_a_write_without_leader_is_held_not_answered) {
        cr_assert_eq(api_harness_set_hold(h, 5000), 0);
        char *text = NULL;
        cr_expect_eq(put("/v1/jobs", &text), 503, "held, then dropped by the harness");
        cr_expect(text && strstr(text, "server shutting down"), "%s", text);
        free(text);
        cr_expect_eq(api_hold_count(h->api), 0, "the drop emptied the list");
        /* a consistent read is held the same way */
        cr_expect_eq(api_harness_call(h, "GET", "/v1/jobs", NULL, NULL, NULL), 503);
        /* a stale read is answered from this server's state */
        cr_expect_eq(api_harness_call(h, "GET", "/v1/jobs?stale", NULL, NULL, NULL), 200);
}

Test(api_hold, a_request_forwarded_to_this_server_is_answered_at_once) {
        cr_assert_eq(api_harness_set_hold(h, 5000), 0);
        char *text = NULL;
        cr_expect_eq(put("/v1/jobs?" FORWARDED_ARG "=1", &text), 500, "the server that forwarded it holds it");
        cr_expect(text && strstr(text, "No cluster leader"), "%s", text);
        free(text);
}

Test(api_hold, a_write_with_a_leader_known_is_not_held) {
        cr_assert_eq(api_harness_set_hold(h, 5000), 0);
        h->leader = true;
        cr_expect_eq(put("/v1/jobs", NULL), 200);
}

Test(api_hold, a_write_refused_at_the_flush_is_held_for_the_next_leader) {
        cr_assert_eq(api_harness_set_hold(h, 5000), 0);
        h->leader = true;
        h->propose_fail_status = API_NOT_PROPOSED;
        char *text = NULL;
        cr_expect_eq(put("/v1/jobs", &text), 503, "held, then dropped by the harness: %s", text);
        cr_expect(text && strstr(text, "server shutting down"), "%s", text);
        free(text);
        cr_expect_eq(api_harness_call(h, "GET", "/v1/job/w?stale", NULL, NULL, NULL), 404, "nothing applied");
}

Test(api_hold, without_holding_a_write_refused_at_the_flush_says_nothing_changed) {
        h->leader = true;
        h->propose_fail_status = API_NOT_PROPOSED;
        char *text = NULL;
        cr_expect_eq(put("/v1/jobs", &text), 500);
        cr_expect(text && strstr(text, "No cluster leader") && strstr(text, "nothing was changed"), "%s", text);
        free(text);
}

Test(api_hold, a_write_lost_with_leadership_after_it_was_appended_is_not_held) {
        cr_assert_eq(api_harness_set_hold(h, 5000), 0);
        h->leader = true;
        h->propose_fail_status = -EAGAIN; /* appended, then lost: it may still commit */
        char *text = NULL;
        cr_expect_eq(put("/v1/jobs", &text), 500);
        cr_expect(text && !strstr(text, "server shutting down"), "%s", text);
        free(text);
        cr_expect_eq(api_hold_count(h->api), 0);
}

Test(api_hold, a_held_write_runs_again_when_the_leader_changes) {
        cr_assert_eq(api_harness_set_hold(h, 5000), 0);
        struct api_reply r;
        struct api_harness_pending *p = api_harness_begin(h, "PUT", "/v1/jobs", JOB, &r);
        cr_assert_not_null(p);
        cr_expect_not(api_harness_answered(p), "held");
        cr_expect_eq(api_hold_count(h->api), 1);
        h->leader = true;
        api_wake_parked(h->api, true);
        cr_expect_not(api_harness_answered(p), "not before its try or a kick");
        api_hold_kick(h->api);
        cr_expect_not(api_harness_answered(p), "a kick runs nothing by itself");
        api_wake_parked(h->api, true);
        cr_assert(api_harness_answered(p), "the kick made it due");
        cr_expect_eq(r.status, 200);
        cr_expect_eq(api_hold_count(h->api), 0);
        api_reply_clear(&r);
        api_harness_pending_free(p);
}

Test(api_hold, a_held_write_whose_time_is_up_is_answered_500_at_its_deadline) {
        cr_assert_eq(api_harness_set_hold(h, 1), 0); /* held 1 ms at most */
        struct api_reply r;
        struct api_harness_pending *p = api_harness_begin(h, "PUT", "/v1/jobs", JOB, &r);
        cr_assert_not_null(p);
        cr_expect_not(api_harness_answered(p), "held");
        usleep(5000);
        api_wake_parked(h->api, true);
        cr_assert(api_harness_answered(p));
        cr_expect_eq(r.status, 500);
        cr_expect(strstr(r.body, "No cluster leader"), "%s", r.body);
        api_reply_clear(&r);
        api_harness_pending_free(p);
}

Test(api_hold, a_held_request_whose_client_left_is_answered_503_at_its_next_try) {
        cr_assert_eq(api_harness_set_hold(h, 5000), 0);
        struct api_reply r;
        struct api_harness_pending *p = api_harness_begin(h, "PUT", "/v1/jobs", JOB, &r);
        cr_assert_not_null(p);
        api_harness_client_leaves(p);
        usleep((API_HOLD_BACKOFF_MIN_MS + 20) * 1000); /* past its first try */
        api_wake_parked(h->api, true);
        cr_assert(api_harness_answered(p));
        cr_expect_eq(r.status, 503);
        cr_expect(strstr(r.body, "client went away"), "%s", r.body);
        cr_expect_eq(h->api->hold_gone, 1);
        api_reply_clear(&r);
        api_harness_pending_free(p);
}
