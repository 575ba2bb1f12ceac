/* test_cluster_forward.c - the target of a request a follower forwards to the leader:
 * marked as forwarded, and a blocking query's wait bounded by the forwarding timeout;
 * the forwarded request carries the caller's token and its answer keeps the
 * leader's X-Nomad-* headers; forwards in flight are answered when the cluster
 * module is destroyed. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include "common/http_client.h"
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

/* A one-request "leader": records the request head, answers a list page. */
struct fake_leader {
        int fd;
        char request[4096];
};

static void *leader_serve(void *arg) {
        struct fake_leader *l = arg;
        int c = accept(l->fd, NULL, NULL);
        if (c < 0)
                return NULL;
        size_t n = 0;
        while (n < sizeof(l->request) - 1 && !strstr(l->request, "\r\n\r\n")) {
                ssize_t r = read(c, l->request + n, sizeof(l->request) - 1 - n);
                if (r <= 0)
                        break;
                n += (size_t)r;
                l->request[n] = '\0';
        }
        static const char answer[] = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 12\r\n"
                                     "X-Nomad-Index: 42\r\nX-Nomad-KnownLeader: true\r\nX-Nomad-LastContact: 0\r\n"
                                     "X-Nomad-NextToken: web-2\r\nConnection: close\r\n\r\n[{\"ID\":\"a\"}]";
        ssize_t w = write(c, answer, sizeof(answer) - 1);
        (void)w;
        close(c);
        return NULL;
}

struct forwarded {
        bool done;
        int status;
        uint64_t index;
        char next_token[256], body[256];
        bool known_leader;
};

static void on_answer(void *arg, int status, const struct http_response *resp, const char *why) {
        struct forwarded *f = arg;
        f->done = true;
        f->status = status;
        cr_assert_not_null(resp, "%s", why ? why : "");
        f->index = resp->index;
        f->known_leader = resp->has_leader && resp->known_leader;
        snprintf(f->next_token, sizeof(f->next_token), "%s", resp->next_token);
        snprintf(f->body, sizeof(f->body), "%s", resp->body);
}

/* A fake leader answering one request on a thread, and a cluster module on a
 * new loop to call it at addr ("127.0.0.1:port"). */
struct fake_cluster {
        struct fake_leader l;
        pthread_t th;
        uv_loop_t loop;
        struct cluster *c;
        char addr[32];
};

/* A TCP socket listening on 127.0.0.1 at a port the kernel picks, written to addr
 * ("127.0.0.1:port"). Until accepted, a connection waits in the backlog unanswered. */
static int loopback_listener(char addr[32]) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        socklen_t len = sizeof(sa);
        cr_assert(fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 && listen(fd, 4) == 0 &&
                  getsockname(fd, (struct sockaddr *)&sa, &len) == 0);
        snprintf(addr, 32, "127.0.0.1:%d", ntohs(sa.sin_port));
        return fd;
}

/* A cluster module on a new loop, server 1 (raft 127.0.0.1:1, HTTP 127.0.0.1:2) with
 * cfg's name, datacenter and agents' listener when cfg is given. */
static struct cluster *cluster_on(uv_loop_t *loop, const struct cluster_config *cfg) {
        uv_loop_init(loop);
        struct cluster_config cc = cfg ? *cfg : (struct cluster_config){0};
        cc.loop = loop;
        cc.id = 1;
        cc.raft_addr = "127.0.0.1:1";
        cc.http_addr = "127.0.0.1:2";
        struct cluster *c = cluster_create(&cc);
        cr_assert_not_null(c);
        return c;
}

/* Destroy c, finish what its loop still runs, and close the loop. */
static void cluster_off(struct cluster *c, uv_loop_t *loop) {
        cluster_destroy(c);
        uv_run(loop, UV_RUN_DEFAULT);
        cr_expect_eq(uv_loop_close(loop), 0);
}

static void fake_cluster_start(struct fake_cluster *fc) {
        fc->l = (struct fake_leader){.fd = loopback_listener(fc->addr)};
        cr_assert_eq(pthread_create(&fc->th, NULL, leader_serve, &fc->l), 0);
        fc->c = cluster_on(&fc->loop, NULL);
}

/* Run fc's loop until f is answered (bounded), stop the fake leader, and expect its
 * 200. */
static void fake_cluster_answered(struct fake_cluster *fc, const struct forwarded *f) {
        for (int i = 0; i < 5000 && !f->done; i++)
                uv_run(&fc->loop, UV_RUN_ONCE);
        pthread_join(fc->th, NULL);
        close(fc->l.fd);
        cr_assert(f->done);
        cr_expect_eq(f->status, 200);
}

Test(cluster_forward, the_request_carries_the_token_and_the_answer_keeps_the_headers) {
        struct fake_cluster fc;
        fake_cluster_start(&fc);
        struct forwarded f = {0};
        cr_expect_eq(cluster_forward(fc.c, fc.addr, "GET", "/v1/jobs?per_page=1", NULL, 0, "bad\r\nX-Evil: 1", on_answer,
                                     &f),
                     -EINVAL, "a token with a line break is refused");
        cr_assert_eq(cluster_forward(fc.c, fc.addr, "GET", "/v1/jobs?per_page=1&drover-forwarded=1", NULL, 0,
                                     "0f1e2d3c-secret", on_answer, &f),
                     0);
        fake_cluster_answered(&fc, &f);
        cr_expect_eq(f.index, 42);
        cr_expect_str_eq(f.next_token, "web-2", "X-Nomad-NextToken kept");
        cr_expect(f.known_leader);
        cr_expect_str_eq(f.body, "[{\"ID\":\"a\"}]");
        cr_expect(strstr(fc.l.request, "X-Nomad-Token: 0f1e2d3c-secret\r\n") != NULL, "the token went along: %s",
                  fc.l.request);
        cr_expect(strstr(fc.l.request, "GET /v1/jobs?per_page=1&drover-forwarded=1 ") == fc.l.request);
        cluster_off(fc.c, &fc.loop);
}

/* A forward whose answer has not come when the server stops is answered at once
 * (its connection still exists then), and never again. */
struct fwd_seen {
        int calls, status;
        char why[128];
};

static void on_fwd(void *arg, int status, const struct http_response *resp, const char *why) {
        (void)resp;
        struct fwd_seen *f = arg;
        f->calls++;
        f->status = status;
        snprintf(f->why, sizeof(f->why), "%s", why ? why : "");
}

Test(cluster_forward, destroy_answers_the_forwards_still_in_flight) {
        char leader[32];
        int ls = loopback_listener(leader); /* a "leader" that accepts and never answers */
        uv_loop_t loop;
        struct cluster *c = cluster_on(&loop, NULL);
        struct fwd_seen f = {0};
        cr_assert_eq(cluster_forward(c, leader, "PUT", "/v1/jobs?drover-forwarded=1", "{}", 2, NULL, on_fwd, &f), 0);
        uv_run(&loop, UV_RUN_NOWAIT);
        cr_assert_eq(f.calls, 0, "no answer yet");
        cluster_destroy(c);
        cr_assert_eq(f.calls, 1, "answered by cluster_destroy");
        cr_assert_eq(f.status, -ECANCELED);
        cr_assert(strstr(f.why, "shutting down"), "%s", f.why);
        close(ls);
        uv_run(&loop, UV_RUN_DEFAULT);
        cr_assert_eq(f.calls, 1, "not answered twice");
        cr_assert_eq(uv_loop_close(&loop), 0);
}

/* A server's own call to another's internal route (a leave): the servers' secret
 * goes along as X-Drover-Server-Secret, never a missing one or one that could
 * inject a header; a leader that never answers costs the call's timeout, not the
 * 30 s of a forward. */
Test(cluster_forward, a_servers_call_carries_the_secret_and_its_own_timeout) {
        struct fake_cluster fc;
        fake_cluster_start(&fc);
        struct forwarded f = {0};
        const char *path = "/v1/internal/raft/peer?id=7&drover-forwarded=1";
        cr_expect_eq(cluster_call_server(fc.c, fc.addr, "DELETE", path, NULL, 1000, on_answer, &f), -EACCES);
        cr_expect_eq(cluster_call_server(fc.c, fc.addr, "DELETE", path, "", 1000, on_answer, &f), -EACCES);
        cr_expect_eq(cluster_call_server(fc.c, fc.addr, "DELETE", path, "ab\r\nX-Evil: 1", 1000, on_answer, &f), -EINVAL);
        cr_assert_eq(cluster_call_server(fc.c, fc.addr, "DELETE", path, "c0ffee", 1000, on_answer, &f), 0);
        fake_cluster_answered(&fc, &f);
        cr_expect(strstr(fc.l.request, "DELETE /v1/internal/raft/peer?id=7&drover-forwarded=1 ") == fc.l.request, "%s",
                  fc.l.request);
        cr_expect(strstr(fc.l.request, "X-Drover-Server-Secret: c0ffee\r\n") != NULL, "%s", fc.l.request);
        cr_expect(strstr(fc.l.request, "X-Nomad-Token") == NULL, "%s", fc.l.request);

        int ls = loopback_listener(fc.addr); /* accepts (backlog) and never answers */
        struct fwd_seen g = {0};
        uint64_t t0 = uv_hrtime();
        cr_assert_eq(cluster_call_server(fc.c, fc.addr, "DELETE", path, "c0ffee", 300, on_fwd, &g), 0);
        for (int i = 0; i < 100000 && g.calls == 0; i++)
                uv_run(&fc.loop, UV_RUN_ONCE);
        double ms = (double)(uv_hrtime() - t0) / 1e6;
        cr_expect_eq(g.calls, 1);
        cr_expect_lt(g.status, 0, "a silent server is an error (%d)", g.status);
        cr_expect(ms >= 250 && ms < 5000, "answered after its 300 ms timeout, not the forward's 30 s (%.0f ms)", ms);
        close(ls);
        cluster_off(fc.c, &fc.loop);
}

static const json_t *server_with_id(const json_t *servers, json_int_t id) {
        size_t i;
        const json_t *s;
        json_array_foreach(servers, i, s) if (json_integer_value(json_object_get(s, "ID")) == id) return s;
        return NULL;
}

static const char *str_of(const json_t *o, const char *key) {
        const char *v = json_string_value(json_object_get(o, key));
        return v ? v : "(none)";
}

/* How a server describes itself and the others in /v1/internal/raft/self: its own
 * name and datacenter, and those the others told (bounded); an older server that
 * tells neither keeps working, without them. */
Test(cluster_forward, servers_carry_the_names_and_datacenters_they_told) {
        uv_loop_t loop;
        struct cluster *c = cluster_on(&loop, &(struct cluster_config){.name = "s1", .datacenter = "dc-a"});
        char long_name[CLUSTER_NAME_MAX + 1];
        memset(long_name, 'x', sizeof(long_name) - 1);
        long_name[sizeof(long_name) - 1] = '\0';
        cluster_learn_member(c, 2, "127.0.0.1:12", "s2", "dc-b");
        cluster_learn(c, 3, "127.0.0.1:13");                           /* an older server */
        cluster_learn_member(c, 4, "127.0.0.1:14", long_name, "a\nb"); /* neither is kept */
        cluster_learn(c, 2, "127.0.0.1:22");                           /* a new address keeps the name */
        json_t *servers = cluster_servers_json(c);
        cr_assert_eq(json_array_size(servers), 4);
        const json_t *s1 = server_with_id(servers, 1), *s2 = server_with_id(servers, 2),
                     *s3 = server_with_id(servers, 3), *s4 = server_with_id(servers, 4);
        cr_assert(s1 && s2 && s3 && s4);
        cr_expect_str_eq(str_of(s1, "Name"), "s1");
        cr_expect_str_eq(str_of(s1, "Datacenter"), "dc-a");
        cr_expect_str_eq(str_of(s2, "Name"), "s2");
        cr_expect_str_eq(str_of(s2, "Datacenter"), "dc-b");
        cr_expect_str_eq(str_of(s2, "HTTPAddr"), "127.0.0.1:22");
        cr_expect_null(json_object_get(s3, "Name"));
        cr_expect_null(json_object_get(s3, "Datacenter"));
        cr_expect_null(json_object_get(s4, "Name"));
        cr_expect_null(json_object_get(s4, "Datacenter"));
        json_decref(servers);
        cluster_off(c, &loop);
}

/* Each server's agents' listener (-agent-addr), as it told: where a follower sends
 * a node agent's call for the leader. Only a concrete IP:port is kept. */
Test(cluster_forward, servers_carry_their_agents_listener) {
        uv_loop_t loop;
        struct cluster *c = cluster_on(&loop, &(struct cluster_config){.agent_addr = "127.0.0.1:3"});
        cluster_learn_member(c, 2, "127.0.0.1:12", "s2", "dc1");
        cluster_learn_agent(c, 2, "127.0.0.1:13");
        cluster_learn(c, 3, "127.0.0.1:22");
        cluster_learn_agent(c, 3, "0.0.0.0:23"); /* names no server */
        cluster_learn(c, 4, "127.0.0.1:32");
        cluster_learn_agent(c, 4, "host:33\r\nX: y"); /* not an address */
        cluster_learn_agent(c, 5, "127.0.0.1:43");    /* an unknown server: not added */
        cr_expect_str_eq(cluster_agent_addr(c, 1), "127.0.0.1:3");
        cr_expect_str_eq(cluster_agent_addr(c, 2), "127.0.0.1:13");
        cr_expect_null(cluster_agent_addr(c, 3));
        cr_expect_null(cluster_agent_addr(c, 4));
        cr_expect_null(cluster_agent_addr(c, 5));
        json_t *servers = cluster_servers_json(c);
        cr_assert_eq(json_array_size(servers), 4);
        cr_expect_str_eq(str_of(server_with_id(servers, 1), "AgentAddr"), "127.0.0.1:3");
        cr_expect_str_eq(str_of(server_with_id(servers, 2), "AgentAddr"), "127.0.0.1:13");
        cr_expect_null(json_object_get(server_with_id(servers, 3), "AgentAddr"));
        json_decref(servers);
        cluster_off(c, &loop);
}

/* A forward that could make no connection fails -ECONNREFUSED: nothing of it was
 * sent, so the caller may hold it and send it again (api/routes_hold.c). */
Test(cluster_forward, a_refused_connection_is_told_apart_nothing_was_sent) {
        char gone[32];
        close(loopback_listener(gone)); /* a port nothing listens on */
        uv_loop_t loop;
        struct cluster *c = cluster_on(&loop, NULL);
        struct fwd_seen f = {0};
        cr_assert_eq(cluster_forward(c, gone, "PUT", "/v1/jobs?drover-forwarded=1", "{}", 2, NULL, on_fwd, &f), 0);
        for (int i = 0; i < 5000 && f.calls == 0; i++)
                uv_run(&loop, UV_RUN_ONCE);
        cr_assert_eq(f.calls, 1);
        cr_expect_eq(f.status, -ECONNREFUSED, "%d: %s", f.status, f.why);
        cluster_off(c, &loop);
}

/* More forwards than may be in flight at once (32): the rest wait on a list; a stop
 * answers each of them once, those in flight and those waiting. */
Test(cluster_forward, forwards_beyond_the_bound_wait_and_a_stop_answers_all_once) {
        char leader[32];
        int ls = loopback_listener(leader); /* accepts nothing, answers nothing */
        uv_loop_t loop;
        struct cluster *c = cluster_on(&loop, NULL);
        struct fwd_seen f[40] = {0};
        for (int i = 0; i < 40; i++)
                cr_assert_eq(cluster_forward(c, leader, "PUT", "/v1/jobs?drover-forwarded=1", "{}", 2, NULL, on_fwd,
                                             &f[i]),
                             0);
        uv_run(&loop, UV_RUN_NOWAIT);
        cluster_destroy(c);
        for (int i = 0; i < 40; i++) {
                cr_expect_eq(f[i].calls, 1, "forward %d answered by cluster_destroy", i);
                cr_expect_eq(f[i].status, -ECANCELED);
        }
        close(ls);
        uv_run(&loop, UV_RUN_DEFAULT);
        for (int i = 0; i < 40; i++)
                cr_expect_eq(f[i].calls, 1, "forward %d not answered twice", i);
        cr_assert_eq(uv_loop_close(&loop), 0);
}
