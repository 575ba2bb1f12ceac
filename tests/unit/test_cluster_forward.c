/* test_cluster_forward.c - the target of a request a follower forwards to the leader:
 * marked as forwarded, and a blocking query's wait bounded by the forwarding timeout;
 * forwards in flight answered when the cluster module is destroyed. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

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

/* A forward whose answer has not come when the server stops is answered at once
 * (its connection still exists then), and never again when the pool finishes it. */
struct fwd_seen {
        int calls, status;
        char why[128];
};

static void on_fwd(void *arg, int status, const char *body, size_t len, uint64_t index, const char *why) {
        (void)body, (void)len, (void)index;
        struct fwd_seen *f = arg;
        f->calls++;
        f->status = status;
        snprintf(f->why, sizeof(f->why), "%s", why ? why : "");
}

Test(cluster_forward, destroy_answers_the_forwards_still_in_flight) {
        int ls = socket(AF_INET, SOCK_STREAM, 0); /* a "leader" that accepts and never answers */
        struct sockaddr_in sa = {.sin_family = AF_INET};
        inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
        cr_assert_eq(bind(ls, (struct sockaddr *)&sa, sizeof(sa)), 0);
        cr_assert_eq(listen(ls, 4), 0);
        socklen_t sl = sizeof(sa);
        getsockname(ls, (struct sockaddr *)&sa, &sl);
        char leader[32];
        snprintf(leader, sizeof(leader), "127.0.0.1:%d", ntohs(sa.sin_port));
        uv_loop_t loop;
        uv_loop_init(&loop);
        struct cluster_config cc = {.loop = &loop, .id = 1, .raft_addr = "127.0.0.1:1", .http_addr = "127.0.0.1:2"};
        struct cluster *c = cluster_create(&cc);
        cr_assert_not_null(c);
        struct fwd_seen f = {0};
        cr_assert_eq(cluster_forward(c, leader, "PUT", "/v1/jobs?drover-forwarded=1", "{}", 2, on_fwd, &f), 0);
        uv_run(&loop, UV_RUN_NOWAIT);
        cr_assert_eq(f.calls, 0, "no answer yet");
        cluster_destroy(c);
        cr_assert_eq(f.calls, 1, "answered by cluster_destroy");
        cr_assert_eq(f.status, -ECANCELED);
        cr_assert(strstr(f.why, "shutting down"), "%s", f.why);
        close(ls); /* the request on the pool fails now */
        uv_run(&loop, UV_RUN_DEFAULT);
        cr_assert_eq(f.calls, 1, "not answered twice");
        cr_assert_eq(uv_loop_close(&loop), 0);
}
