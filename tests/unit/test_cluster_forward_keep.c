/* test_cluster_forward_keep.c - a follower's forwards run on its loop over kept
 * connections (controlplane/raft/curl_loop.c): a second request to the leader
 * reuses the first one's connection, an answer over the forward's limit is refused
 * (not cut short) and costs only its own connection, and forwards to another
 * leader close the connections to the old one. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include "common/http_client.h"
#include "common/limits.h"
#include "controlplane/raft/cluster.h"

/* A keep-alive "leader" on a thread: one connection at a time, each request on it
 * answered with the next of answers (a Content-Length, so the connection stays
 * open), until the client closes it; it counts connections and requests. An answer
 * "" closes the connection and stops listening (connections refused from then). */
struct keeper {
        int fd;
        char addr[32];
        const char *const *answers;  /* NULL-terminated */
        int conns, requests, closed; /* closed: connections the client closed */
        pthread_t th;
};

/* One request's head read from c (its body is "{}" or none); false at EOF. */
static bool read_request(int c) {
        char req[4096];
        size_t n = 0;
        while (n < sizeof(req) - 1) {
                ssize_t r = read(c, req + n, sizeof(req) - 1 - n);
                if (r <= 0)
                        return false;
                n += (size_t)r;
                req[n] = '\0';
                char *end = strstr(req, "\r\n\r\n");
                if (end && (!strstr(req, "Content-Length: 2") || strlen(end + 4) >= 2))
                        return true;
        }
        return false;
}

static void *keeper_serve(void *arg) {
        struct keeper *k = arg;
        while (k->answers[k->requests]) {
                int c = accept(k->fd, NULL, NULL);
                if (c < 0)
                        return NULL;
                __atomic_add_fetch(&k->conns, 1, __ATOMIC_SEQ_CST);
                while (k->answers[k->requests] && read_request(c)) {
                        const char *a = k->answers[k->requests];
                        if (!*a) { /* "": the leader dies with the request read, before its answer */
                                __atomic_add_fetch(&k->requests, 1, __ATOMIC_SEQ_CST);
                                close(c);
                                shutdown(k->fd, SHUT_RDWR);
                                return NULL;
                        }
                        ssize_t w = send(c, a, strlen(a), MSG_NOSIGNAL);
                        (void)w;
                        __atomic_add_fetch(&k->requests, 1, __ATOMIC_SEQ_CST);
                }
                if (!read_request(c)) /* the client closed it */
                        __atomic_add_fetch(&k->closed, 1, __ATOMIC_SEQ_CST);
                close(c);
        }
        return NULL;
}

static void keeper_start(struct keeper *k, const char *const *answers) {
        *k = (struct keeper){.fd = socket(AF_INET, SOCK_STREAM, 0), .answers = answers};
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        socklen_t len = sizeof(sa);
        cr_assert(k->fd >= 0 && bind(k->fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 && listen(k->fd, 4) == 0 &&
                  getsockname(k->fd, (struct sockaddr *)&sa, &len) == 0);
        snprintf(k->addr, sizeof(k->addr), "127.0.0.1:%d", ntohs(sa.sin_port));
        cr_assert_eq(pthread_create(&k->th, NULL, keeper_serve, k), 0);
}

static void keeper_stop(struct keeper *k) {
        shutdown(k->fd, SHUT_RDWR); /* ends an accept still waiting */
        pthread_join(k->th, NULL);
        close(k->fd);
}

static const char small[] = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}";

struct seen {
        int calls, status;
        char why[256];
};

static void on_seen(void *arg, int status, const struct http_response *resp, const char *why) {
        struct seen *s = arg;
        s->calls++;
        s->status = status;
        snprintf(s->why, sizeof(s->why), "%s", resp ? resp->body : why ? why : "");
}

static struct cluster *cluster_on(uv_loop_t *loop) {
        uv_loop_init(loop);
        struct cluster_config cc = {.loop = loop, .id = 1, .raft_addr = "127.0.0.1:1", .http_addr = "127.0.0.1:2"};
        struct cluster *c = cluster_create(&cc);
        cr_assert_not_null(c);
        return c;
}

static void cluster_off(struct cluster *c, uv_loop_t *loop) {
        cluster_destroy(c);
        uv_run(loop, UV_RUN_DEFAULT);
        cr_expect_eq(uv_loop_close(loop), 0);
}

/* Forward method to addr and run the loop until answered (bounded). */
static struct seen forward(struct cluster *c, uv_loop_t *loop, const char *addr, const char *method) {
        struct seen s = {0};
        bool body = strcmp(method, "GET") != 0;
        cr_assert_eq(cluster_forward(c, addr, method, "/v1/jobs?drover-forwarded=1", body ? "{}" : NULL, body ? 2 : 0,
                                     NULL, on_seen, &s),
                     0);
        for (int i = 0; i < 100000 && s.calls == 0; i++)
                uv_run(loop, UV_RUN_ONCE);
        cr_assert_eq(s.calls, 1);
        return s;
}

Test(cluster_forward_keep, a_second_forward_reuses_the_connection_and_an_answer_over_the_limit_is_refused) {
        char big[256];
        snprintf(big, sizeof(big), "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n\r\n{",
                 LIMIT_FORWARD_ANSWER + 1);
        const char *const answers[] = {small, small, small, big, small, NULL};
        struct keeper k;
        keeper_start(&k, answers);
        uv_loop_t loop;
        struct cluster *c = cluster_on(&loop);
        struct seen s = forward(c, &loop, k.addr, "PUT");
        cr_expect_eq(s.status, 200, "%s", s.why);
        cr_expect_str_eq(s.why, "{}");
        s = forward(c, &loop, k.addr, "GET");
        cr_expect_eq(s.status, 200, "%s", s.why);
        s = forward(c, &loop, k.addr, "PUT");
        cr_expect_eq(s.status, 200, "%s", s.why);
        cr_expect_eq(__atomic_load_n(&k.conns, __ATOMIC_SEQ_CST), 1, "three forwards, one connection");

        s = forward(c, &loop, k.addr, "GET");
        cr_expect_eq(s.status, -E2BIG, "over the limit: %d %s", s.status, s.why);
        char want[64];
        snprintf(want, sizeof(want), "larger than %zu bytes", LIMIT_FORWARD_ANSWER);
        cr_expect(strstr(s.why, want), "%s", s.why);
        s = forward(c, &loop, k.addr, "GET");
        cr_expect_eq(s.status, 200, "the next one is answered: %s", s.why);
        cr_expect_eq(__atomic_load_n(&k.conns, __ATOMIC_SEQ_CST), 2, "a new connection after the refused answer");
        cluster_off(c, &loop);
        keeper_stop(&k);
        cr_expect_eq(k.requests, 5);
}

/* A POST is not sent on a kept connection (libcurl may send a request again when a
 * kept one turns out closed): each opens and closes its own. */
Test(cluster_forward_keep, a_post_takes_a_connection_of_its_own) {
        const char *const answers[] = {small, small, NULL};
        struct keeper k;
        keeper_start(&k, answers);
        uv_loop_t loop;
        struct cluster *c = cluster_on(&loop);
        for (int i = 0; i < 2; i++)
                cr_expect_eq(forward(c, &loop, k.addr, "POST").status, 200);
        keeper_stop(&k);
        cr_expect_eq(k.conns, 2);
        cr_expect_eq(k.closed, 2, "each closed after its answer");
        cluster_off(c, &loop);
}

/* Forwards to another server (a new leader) close the kept connections to the old
 * one once they have no forward left. */
Test(cluster_forward_keep, a_new_leader_closes_the_connections_to_the_old_one) {
        const char *const answers[] = {small, NULL};
        struct keeper a, b;
        keeper_start(&a, answers);
        keeper_start(&b, answers);
        uv_loop_t loop;
        struct cluster *c = cluster_on(&loop);
        cluster_learn(c, 2, a.addr);
        cluster_learn(c, 3, b.addr);
        cr_expect_eq(forward(c, &loop, a.addr, "GET").status, 200);
        cr_expect_eq(forward(c, &loop, b.addr, "GET").status, 200);
        for (int i = 0; i < 1000 && __atomic_load_n(&a.closed, __ATOMIC_SEQ_CST) == 0; i++) {
                uv_run(&loop, UV_RUN_NOWAIT);
                usleep(1000);
        }
        cr_expect_eq(__atomic_load_n(&a.closed, __ATOMIC_SEQ_CST), 1, "the old leader's connection closed");
        cr_expect_eq(__atomic_load_n(&b.closed, __ATOMIC_SEQ_CST), 0, "the new leader's kept");
        cluster_off(c, &loop);
        keeper_stop(&a);
        keeper_stop(&b);
        cr_expect_eq(b.closed, 1, "closed when the server stops");
}

/* The leader reads a request on a kept connection and dies before answering:
 * libcurl sends it again on a fresh connection, which is refused. The request may
 * have arrived, so the forward fails -ECONNRESET, never -ECONNREFUSED (that one the
 * server holds and sends again, api/routes_hold.c). */
Test(cluster_forward_keep, a_request_lost_on_a_kept_connection_is_not_told_refused) {
        const char *const answers[] = {small, "", NULL};
        struct keeper k;
        keeper_start(&k, answers);
        uv_loop_t loop;
        struct cluster *c = cluster_on(&loop);
        cr_expect_eq(forward(c, &loop, k.addr, "PUT").status, 200);
        struct seen s = forward(c, &loop, k.addr, "PUT");
        cr_expect_eq(s.status, -ECONNRESET, "%d %s", s.status, s.why);
        cr_expect_eq(__atomic_load_n(&k.requests, __ATOMIC_SEQ_CST), 2, "the second request arrived");
        cluster_off(c, &loop);
        pthread_join(k.th, NULL);
        close(k.fd);
}

/* A "leader" on a thread that takes every connection at once (poll) and answers a
 * request at once unless it is a blocking query (index= in its target), which it
 * holds until the client goes. */
struct holder {
        int fd, stop_pipe[2];
        char addr[32];
        int held; /* blocking queries read and held */
        pthread_t th;
};

#define HOLDER_CONNS 128

static void *holder_serve(void *arg) {
        struct holder *h = arg;
        struct pollfd p[HOLDER_CONNS + 2] = {{.fd = h->fd, .events = POLLIN},
                                             {.fd = h->stop_pipe[0], .events = POLLIN}};
        char buf[HOLDER_CONNS + 2][1024] = {{0}};
        size_t len[HOLDER_CONNS + 2] = {0};
        int n = 2;
        while (poll(p, (nfds_t)n, 10000) > 0 && !(p[1].revents & POLLIN)) {
                if ((p[0].revents & POLLIN) && n < HOLDER_CONNS + 2) {
                        int c = accept(h->fd, NULL, NULL);
                        if (c >= 0) {
                                p[n] = (struct pollfd){.fd = c, .events = POLLIN};
                                len[n++] = 0;
                        }
                }
                for (int i = 2; i < n; i++) {
                        if (!(p[i].revents & (POLLIN | POLLHUP)))
                                continue;
                        ssize_t r = read(p[i].fd, buf[i] + len[i], sizeof(buf[i]) - 1 - len[i]);
                        if (r <= 0) { /* gone: drop it */
                                close(p[i].fd);
                                p[i].fd = -1;
                                continue;
                        }
                        len[i] += (size_t)r;
                        buf[i][len[i]] = '\0';
                        char *end = strstr(buf[i], "\r\n\r\n");
                        if (!end || (strstr(buf[i], "Content-Length: 2") && strlen(end + 4) < 2))
                                continue;
                        if (strstr(buf[i], "index=")) {
                                __atomic_add_fetch(&h->held, 1, __ATOMIC_SEQ_CST);
                        } else {
                                ssize_t w = send(p[i].fd, small, strlen(small), MSG_NOSIGNAL);
                                (void)w;
                        }
                        len[i] = 0;
                }
        }
        for (int i = 2; i < n; i++)
                if (p[i].fd >= 0)
                        close(p[i].fd);
        return NULL;
}

/* More blocking queries than the writes' places (32) are forwarded and held at the
 * leader; a write forwarded after them is answered at once, not queued behind them. */
Test(cluster_forward_keep, a_write_is_not_kept_waiting_behind_blocking_queries, .timeout = 60) {
        struct holder h = {.fd = socket(AF_INET, SOCK_STREAM, 0)};
        cr_assert_eq(pipe(h.stop_pipe), 0);
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        socklen_t slen = sizeof(sa);
        cr_assert(h.fd >= 0 && bind(h.fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 && listen(h.fd, 128) == 0 &&
                  getsockname(h.fd, (struct sockaddr *)&sa, &slen) == 0);
        snprintf(h.addr, sizeof(h.addr), "127.0.0.1:%d", ntohs(sa.sin_port));
        cr_assert_eq(pthread_create(&h.th, NULL, holder_serve, &h), 0);
        uv_loop_t loop;
        struct cluster *c = cluster_on(&loop);
        enum { BLOCKING = 40 };
        struct seen watch[BLOCKING] = {{0}};
        for (int i = 0; i < BLOCKING; i++)
                cr_assert_eq(cluster_forward(c, h.addr, "GET",
                                             "/v1/node/x/allocations?index=7&wait=25s&drover-forwarded=1", NULL, 0,
                                             NULL, on_seen, &watch[i]),
                             0);
        for (int i = 0; i < 100000 && __atomic_load_n(&h.held, __ATOMIC_SEQ_CST) < BLOCKING; i++)
                uv_run(&loop, UV_RUN_NOWAIT);
        cr_expect_eq(__atomic_load_n(&h.held, __ATOMIC_SEQ_CST), BLOCKING, "every blocking query reached the leader");
        struct seen w = {0};
        cr_assert_eq(
            cluster_forward(c, h.addr, "PUT", "/v1/node/x/heartbeat?drover-forwarded=1", "{}", 2, NULL, on_seen, &w),
            0);
        for (int i = 0; i < 100000 && w.calls == 0; i++)
                uv_run(&loop, UV_RUN_NOWAIT);
        cr_expect_eq(w.calls, 1, "the write was answered");
        cr_expect_eq(w.status, 200);
        for (int i = 0; i < BLOCKING; i++)
                cr_expect_eq(watch[i].calls, 0, "blocking query %d still held", i);
        cluster_destroy(c);
        for (int i = 0; i < BLOCKING; i++)
                cr_expect_eq(watch[i].status, -ECANCELED);
        uv_run(&loop, UV_RUN_DEFAULT);
        cr_expect_eq(uv_loop_close(&loop), 0);
        ssize_t wr = write(h.stop_pipe[1], "x", 1);
        (void)wr;
        pthread_join(h.th, NULL);
        close(h.fd);
        close(h.stop_pipe[0]);
        close(h.stop_pipe[1]);
}
