/* test_http_answer_cap.c - a server reading another server's answer stops at its
 * cap (http_perform_max, common/limits.h) and fails the call, whether the answer
 * announces its length or not; a forward to a leader that answers too much
 * (cluster_forward, LIMIT_FORWARD_ANSWER) fails with the reason, without keeping it. */
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

#include "common/error.h"
#include "common/http_client.h"
#include "common/limits.h"
#include "controlplane/raft/cluster.h"

/* One connection answered with size bytes of 'x', with a Content-Length or
 * (announce false) closed at the end; the bytes it managed to send in sent. */
struct talker {
        int fd, port;
        size_t size;
        bool announce;
        size_t sent;
};

static void *talk(void *arg) {
        struct talker *t = arg;
        int c = accept(t->fd, NULL, NULL);
        if (c < 0)
                return NULL;
        char req[4096];
        size_t n = 0;
        while (n < sizeof(req) - 1) {
                ssize_t r = read(c, req + n, sizeof(req) - 1 - n);
                if (r <= 0)
                        break;
                n += (size_t)r;
                req[n] = '\0';
                if (strstr(req, "\r\n\r\n"))
                        break;
        }
        char head[256];
        int hn = t->announce ? snprintf(head, sizeof(head),
                                        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
                                        "Connection: close\r\n\r\n",
                                        t->size)
                             : snprintf(head, sizeof(head), "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                                                            "Connection: close\r\n\r\n");
        if (send(c, head, (size_t)hn, MSG_NOSIGNAL) != hn) {
                close(c);
                return NULL;
        }
        static char chunk[1 << 16];
        memset(chunk, 'x', sizeof(chunk));
        while (t->sent < t->size) {
                size_t k = t->size - t->sent < sizeof(chunk) ? t->size - t->sent : sizeof(chunk);
                ssize_t w = send(c, chunk, k, MSG_NOSIGNAL); /* no SIGPIPE when the reader gave up */
                if (w <= 0)
                        break; /* the reader gave up */
                t->sent += (size_t)w;
        }
        close(c);
        return NULL;
}

static pthread_t talker_start(struct talker *t, size_t size, bool announce) {
        *t = (struct talker){.fd = socket(AF_INET, SOCK_STREAM, 0), .size = size, .announce = announce};
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        socklen_t len = sizeof(sa);
        cr_assert(t->fd >= 0 && bind(t->fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 && listen(t->fd, 1) == 0 &&
                  getsockname(t->fd, (struct sockaddr *)&sa, &len) == 0);
        t->port = ntohs(sa.sin_port);
        pthread_t th;
        cr_assert_eq(pthread_create(&th, NULL, talk, t), 0);
        return th;
}

static int get_max(struct talker *t, size_t max, struct http_response *resp, struct error *err) {
        char url[64];
        snprintf(url, sizeof(url), "http://127.0.0.1:%d/v1/x", t->port);
        return http_perform_max("GET", url, NULL, 0, NULL, NULL, max, 5000, 1000, NULL, NULL, resp, err);
}

Test(http_answer_cap, an_answer_within_the_cap_is_kept_whole) {
        for (int announce = 0; announce < 2; announce++) {
                struct talker t;
                pthread_t th = talker_start(&t, 100000, announce);
                struct http_response resp;
                struct error err = {0};
                cr_expect_eq(get_max(&t, 100000, &resp, &err), 0, "%s", err.msg);
                cr_expect_eq(resp.len, 100000);
                cr_expect_eq(resp.status, 200);
                http_response_clear(&resp);
                pthread_join(th, NULL);
                close(t.fd);
        }
}

Test(http_answer_cap, a_longer_answer_fails_the_call_announced_or_not) {
        for (int announce = 0; announce < 2; announce++) {
                struct talker t;
                size_t size = (size_t)48 * 1024 * 1024;
                pthread_t th = talker_start(&t, size, announce);
                struct http_response resp;
                struct error err = {0};
                cr_expect_eq(get_max(&t, 100000, &resp, &err), -E2BIG, "announce=%d", announce);
                cr_expect(strstr(err.msg, "larger than 100000 bytes"), "%s", err.msg);
                cr_expect_null(resp.body, "nothing kept");
                pthread_join(th, NULL);
                close(t.fd);
                cr_expect_lt(t.sent, size, "the reader stopped early (sent %zu of %zu)", t.sent, size);
        }
}

static void on_forward(void *arg, int status, const struct http_response *resp, const char *why) {
        char *out = arg;
        snprintf(out, 256, "%d %s", status, resp ? "answer" : why ? why : "");
}

Test(http_answer_cap, a_forward_fails_when_the_leader_answers_more_than_the_cap) {
        struct talker t;
        size_t size = LIMIT_FORWARD_ANSWER + (size_t)16 * 1024 * 1024; /* past the socket buffers */
        pthread_t th = talker_start(&t, size, false);
        uv_loop_t loop;
        uv_loop_init(&loop);
        struct cluster_config cfg = {.loop = &loop, .id = 1, .raft_addr = "127.0.0.1:1", .http_addr = "127.0.0.1:2"};
        struct cluster *c = cluster_create(&cfg);
        cr_assert_not_null(c);
        char addr[32], out[256] = "";
        snprintf(addr, sizeof(addr), "127.0.0.1:%d", t.port);
        cr_assert_eq(cluster_forward(c, addr, "GET", "/v1/allocations?drover-forwarded=1", NULL, 0, NULL, on_forward,
                                     out),
                     0);
        for (int i = 0; i < 100000 && !*out; i++)
                uv_run(&loop, UV_RUN_ONCE);
        pthread_join(th, NULL);
        close(t.fd);
        char want[64];
        snprintf(want, sizeof(want), "larger than %zu bytes", LIMIT_FORWARD_ANSWER);
        cr_expect(strncmp(out, "-7 ", 3) == 0 && strstr(out, want), "-E2BIG with the limit: %s", out);
        cr_expect_lt(t.sent, size, "the follower stopped reading (sent %zu of %zu)", t.sent, size);
        cluster_destroy(c);
        uv_run(&loop, UV_RUN_DEFAULT);
        cr_expect_eq(uv_loop_close(&loop), 0);
}
