/* test_cluster_forward.c - the target of a request a follower forwards to the leader:
 * marked as forwarded, and a blocking query's wait bounded by the forwarding timeout. */
#include <criterion/criterion.h>
#include <stdlib.h>

#include "controlplane/raft/cluster.h"

static void expect_target(const char *query, bool blocking, const char *wait, const char *want) {
        char *t = cluster_forward_target("/v1/jobs", query, blocking, wait, "drover-forwarded");
        cr_assert_not_null(t);
        cr_expect_str_eq(t, want);
        free(t);
}

Test(cluster_forward, a_write_or_a_plain_read_keeps_its_query_and_is_marked) {
        expect_target("", false, NULL, "/v1/jobs?drover-forwarded=1");
        expect_target("prefix=web&namespace=default", false, NULL,
                      "/v1/jobs?prefix=web&namespace=default&drover-forwarded=1");
        expect_target("wait=5m", false, "5m", "/v1/jobs?wait=5m&drover-forwarded=1");
}

Test(cluster_forward, a_blocking_query_waits_at_most_25_s_at_the_leader) {
        expect_target("index=7&wait=5m", true, "5m", "/v1/jobs?index=7&wait=25000ms&drover-forwarded=1");
        expect_target("index=7", true, NULL, "/v1/jobs?index=7&wait=25000ms&drover-forwarded=1");
        expect_target("wait=2s&index=7&prefix=a", true, "2s",
                      "/v1/jobs?index=7&prefix=a&wait=2000ms&drover-forwarded=1");
        expect_target("index=7&wait=500ms", true, "500ms", "/v1/jobs?index=7&wait=500ms&drover-forwarded=1");
        expect_target("index=7&wait=3", true, "3", "/v1/jobs?index=7&wait=3000ms&drover-forwarded=1");
        expect_target("index=7&wait=1h", true, "1h", "/v1/jobs?index=7&wait=25000ms&drover-forwarded=1");
        expect_target("index=7&wait=soon", true, "soon", "/v1/jobs?index=7&wait=25000ms&drover-forwarded=1");
        expect_target("index=7&waiter=1", true, NULL, "/v1/jobs?index=7&waiter=1&wait=25000ms&drover-forwarded=1");
}
