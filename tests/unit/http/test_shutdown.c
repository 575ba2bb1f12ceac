/* test_shutdown.c - http_server_destroy with requests still suspended
 * (controlplane/api/http.c): a parked blocking query, a request its handler is
 * slow to answer, and a request still queued behind a busy loop. libmicrohttpd
 * aborts when it is stopped with suspended connections; each of them must be
 * answered 503 instead, and a handler's later answer must be harmless (the
 * ASan build of this binary, in make unit-asan, catches a use after free). And
 * a stop in the middle of a stream of malformed requests, which libmicrohttpd
 * answers itself, must not crash it. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include "common/error.h"
#include "controlplane/api/http.h"
#include "tests/support/http_loop.h"

#define MAX_HELD 8

static struct http_loop hl;
static struct http_req *held[MAX_HELD]; /* loop thread only */
static int nheld;
static atomic_int handled;      /* requests handed to the handler */
static atomic_int in_busy;      /* the busy handler is blocking the loop */
static atomic_int release_busy; /* ... until this is set */
static atomic_int late_ok;      /* held requests answered after destroy, with no query left */

/* After destroy: a held request keeps its path, has no query, and its answer frees it. */
static void answer_held_late(void) {
        if (!nheld)
                return;
        int ok = 0;
        for (int i = 0; i < nheld; i++) {
                if (http_req_query(held[i], "index") == NULL && strncmp(http_req_path(held[i]), "/v1/", 4) == 0 &&
                    !http_req_has_query(held[i], "index"))
                        ok++;
                http_req_respond_text(held[i], 200, "late answer %d", i);
        }
        nheld = 0;
        atomic_store(&late_ok, ok);
}

static void handler(void *data, struct http_req *r) {
        (void)data;
        atomic_fetch_add(&handled, 1);
        if (strcmp(http_req_path(r), "/v1/busy") == 0) {
                /* Keeps the loop thread until released, then stops the server from
                 * inside a handler (as a signal handler on the loop would). */
                atomic_store(&in_busy, 1);
                for (int i = 0; i < 500 && !atomic_load(&release_busy); i++)
                        usleep(10000);
                held[nheld++] = r;
                hl.srv = http_server_destroy(hl.srv);
                answer_held_late();
                return;
        }
        cr_assert_lt(nheld, MAX_HELD);
        held[nheld++] = r; /* parked (GET ?index=N) or a slow handler (PUT): answered later */
}

static void start(void) {
        nheld = 0;
        atomic_store(&handled, 0);
        atomic_store(&late_ok, -1);
        hl.after_destroy = answer_held_late; /* after the destroy, as the handler that stops it does */
        struct http_server_opts o = {.addr = "127.0.0.1"};
        http_loop_start(&hl, &o, handler, NULL);
}

static void stop(void) {
        http_loop_stop(&hl);
}

static int send_request(const char *method, const char *path, const char *body) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        cr_assert_geq(fd, 0);
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)hl.port)};
        inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
        cr_assert_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
        char req[512];
        int n = snprintf(req, sizeof(req), "%s %s HTTP/1.1\r\nHost: x\r\nContent-Length: %zu\r\n\r\n%s", method,
                         path, body ? strlen(body) : 0, body ? body : "");
        cr_assert_eq(write(fd, req, (size_t)n), n);
        return fd;
}

/* Everything the server sends until it closes the connection or 5 s pass. */
static void read_all(int fd, char *buf, size_t cap) {
        size_t len = 0;
        buf[0] = '\0';
        for (int i = 0; i < 50; i++) {
                struct pollfd p = {.fd = fd, .events = POLLIN};
                if (poll(&p, 1, 100) != 1)
                        continue;
                ssize_t n = read(fd, buf + len, cap - 1 - len);
                if (n <= 0)
                        break;
                len += (size_t)n;
                buf[len] = '\0';
                if (strstr(buf, "server shutting down"))
                        break;
        }
}

static void wait_handled(int n) {
        for (int i = 0; i < 500 && atomic_load(&handled) < n; i++)
                usleep(10000);
        cr_assert_eq(atomic_load(&handled), n, "the handler got %d request(s)", n);
}

Test(http_shutdown, a_parked_query_and_a_slow_handler_get_503_and_late_answers_are_harmless) {
        start();
        int parked = send_request("GET", "/v1/jobs?index=5&wait=5m", NULL);
        int slow = send_request("PUT", "/v1/jobs", "{\"Job\":{}}");
        wait_handled(2);
        stop(); /* aborted in libmicrohttpd before: "called while we have suspended connections" */
        char buf[4096];
        read_all(parked, buf, sizeof(buf));
        cr_expect(strstr(buf, "HTTP/1.1 503") == buf, "the parked query: %s", buf);
        cr_expect(strstr(buf, "server shutting down") != NULL, "%s", buf);
        read_all(slow, buf, sizeof(buf));
        cr_expect(strstr(buf, "HTTP/1.1 503") == buf, "the slow handler's request: %s", buf);
        cr_expect(strstr(buf, "late answer") == NULL, "a late answer sends nothing: %s", buf);
        cr_expect_eq(atomic_load(&late_ok), 2, "both held requests stayed valid for their handler until answered");
        close(parked);
        close(slow);
}

Test(http_shutdown, a_request_queued_behind_a_busy_loop_gets_503_without_reaching_the_handler) {
        start();
        atomic_store(&in_busy, 0);
        atomic_store(&release_busy, 0);
        int busy = send_request("GET", "/v1/busy", NULL);
        for (int i = 0; i < 500 && !atomic_load(&in_busy); i++)
                usleep(10000);
        cr_assert_eq(atomic_load(&in_busy), 1);
        int queued = send_request("GET", "/v1/jobs", NULL);
        usleep(300000); /* read and queued by libmicrohttpd's thread; the loop is busy */
        atomic_store(&release_busy, 1);
        char buf[4096];
        read_all(queued, buf, sizeof(buf));
        cr_expect(strstr(buf, "HTTP/1.1 503") == buf, "the queued request: %s", buf);
        read_all(busy, buf, sizeof(buf));
        cr_expect(strstr(buf, "HTTP/1.1 503") == buf, "the busy handler's own request: %s", buf);
        stop();
        cr_expect_eq(atomic_load(&handled), 1, "the queued request never reached the handler");
        cr_expect_eq(atomic_load(&late_ok), 1);
        close(busy);
        close(queued);
}

/* Clients that keep connecting and sending a malformed request line (answered
 * 400 by libmicrohttpd itself), until told to stop. */
static atomic_int storm_stop;
static atomic_int storm_sent;

static void *storm(void *arg) {
        int p = *(int *)arg;
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)p)};
        inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
        while (!atomic_load(&storm_stop)) {
                int fd = socket(AF_INET, SOCK_STREAM, 0);
                if (fd < 0)
                        break;
                if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 && write(fd, "GET /x\r\n\r\n", 10) == 10)
                        atomic_fetch_add(&storm_sent, 1);
                close(fd);
        }
        return NULL;
}

/* libmicrohttpd 0.9.75 crashed (SEGV in its own thread) when it was stopped while
 * answering a malformed request it had just read: its error answer is not queued
 * once MHD_stop_daemon began, and it then read the missing response. http.c runs
 * libmicrohttpd on a thread of its own that ends before MHD_stop_daemon; here the
 * server is stopped again and again in the middle of such requests. */
Test(http_shutdown, stopping_while_malformed_requests_arrive_does_not_crash) {
        for (int round = 0; round < 30; round++) {
                start();
                atomic_store(&storm_stop, 0);
                atomic_store(&storm_sent, 0);
                int p = hl.port;
                pthread_t t[2];
                for (int i = 0; i < 2; i++)
                        cr_assert_eq(pthread_create(&t[i], NULL, storm, &p), 0);
                for (int i = 0; i < 500 && atomic_load(&storm_sent) < 20; i++)
                        usleep(1000);
                cr_assert_geq(atomic_load(&storm_sent), 20, "the server took requests before it was stopped");
                stop();
                atomic_store(&storm_stop, 1);
                for (int i = 0; i < 2; i++)
                        pthread_join(t[i], NULL);
                cr_expect_eq(atomic_load(&handled), 0, "a malformed request reached the handler");
        }
}
