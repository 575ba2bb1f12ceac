/* test_http_client.c - common/http_client.c against a loopback server that counts the
 * TCP connections it accepts: with http_client_keep_connections a thread's GETs and PUTs
 * share one connection, while every POST opens its own; without it, every call does;
 * http_client_cleanup frees the kept one, and the next call keeps a new one. */
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/error.h"
#include "common/http_client.h"

#define MAX_CONNS 16

static int lfd = -1;
static int port;
static pthread_t server;
static atomic_int accepted, answered, stop_server;

/* Answer each complete request (its head and Content-Length body) with a kept-alive
 * 200 {}; up to MAX_CONNS connections at once, served by poll. */
static void *serve(void *arg) {
        (void)arg;
        struct pollfd p[MAX_CONNS + 1];
        char buf[MAX_CONNS + 1][4096];
        size_t have[MAX_CONNS + 1] = {0};
        int n = 1;
        p[0] = (struct pollfd){.fd = lfd, .events = POLLIN};
        while (!atomic_load(&stop_server)) {
                if (poll(p, (nfds_t)n, 50) <= 0)
                        continue;
                if ((p[0].revents & POLLIN) && n <= MAX_CONNS) {
                        int fd = accept(lfd, NULL, NULL);
                        if (fd >= 0) {
                                atomic_fetch_add(&accepted, 1);
                                p[n] = (struct pollfd){.fd = fd, .events = POLLIN};
                                have[n++] = 0;
                        }
                }
                for (int i = 1; i < n; i++) {
                        if (!(p[i].revents & (POLLIN | POLLHUP)))
                                continue;
                        ssize_t r = read(p[i].fd, buf[i] + have[i], sizeof(buf[i]) - 1 - have[i]);
                        if (r <= 0) { /* closed: the last one takes its place */
                                close(p[i].fd);
                                p[i] = p[n - 1];
                                memcpy(buf[i], buf[n - 1], have[n - 1]);
                                have[i] = have[n - 1];
                                n--;
                                i--;
                                continue;
                        }
                        have[i] += (size_t)r;
                        buf[i][have[i]] = '\0';
                        char *end = strstr(buf[i], "\r\n\r\n");
                        if (!end)
                                continue;
                        const char *cl = strcasestr(buf[i], "Content-Length:");
                        size_t want = (size_t)(end + 4 - buf[i]) + (cl && cl < end ? strtoul(cl + 15, NULL, 10) : 0);
                        if (have[i] < want)
                                continue;
                        have[i] = 0;
                        static const char answer[] = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                                                     "Content-Length: 2\r\n\r\n{}";
                        if (write(p[i].fd, answer, sizeof(answer) - 1) == (ssize_t)sizeof(answer) - 1)
                                atomic_fetch_add(&answered, 1);
                }
        }
        for (int i = 0; i < n; i++)
                close(p[i].fd);
        return NULL;
}

static void setup(void) {
        lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        cr_assert(lfd >= 0);
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        cr_assert(bind(lfd, (struct sockaddr *)&a, sizeof(a)) == 0);
        socklen_t len = sizeof(a);
        cr_assert(getsockname(lfd, (struct sockaddr *)&a, &len) == 0);
        port = ntohs(a.sin_port);
        cr_assert(listen(lfd, 16) == 0);
        pthread_create(&server, NULL, serve, NULL);
}

static void teardown(void) {
        atomic_store(&stop_server, 1);
        pthread_join(server, NULL);
}

/* One request; asserts it was answered 200. */
static void call(const char *method, const char *body) {
        char url[64];
        snprintf(url, sizeof(url), "http://127.0.0.1:%d/v1/x", port);
        struct http_response res;
        struct error err = {0};
        cr_assert_eq(http_perform(method, url, body, 5000, 2000, NULL, NULL, &res, &err), 0, "%s: %s", method,
                     err.msg);
        cr_assert_eq(res.status, 200);
        cr_assert_str_eq(res.body, "{}");
        http_response_clear(&res);
}

Test(http_client, kept_connection_for_get_and_put_not_post, .init = setup, .fini = teardown) {
        http_client_keep_connections(true);
        call("GET", NULL);
        call("PUT", "{\"a\":1}");
        call("GET", NULL);
        call("PUT", "{\"a\":2}");
        cr_assert_eq(atomic_load(&accepted), 1, "GETs and PUTs of one thread share one connection (got %d)",
                     atomic_load(&accepted));
        call("POST", "{\"a\":3}");
        call("POST", "{\"a\":4}");
        cr_assert_eq(atomic_load(&accepted), 3, "each POST on a connection of its own (got %d)",
                     atomic_load(&accepted));
        call("GET", NULL);
        cr_assert_eq(atomic_load(&accepted), 3, "the kept connection still serves GETs (got %d)",
                     atomic_load(&accepted));
        cr_assert_eq(atomic_load(&answered), 7);
        http_client_cleanup(); /* the kept handle freed: the next GET keeps a new one */
        call("GET", NULL);
        call("PUT", "{}");
        cr_assert_eq(atomic_load(&accepted), 4, "after http_client_cleanup, one new connection (got %d)",
                     atomic_load(&accepted));
}

Test(http_client, a_connection_per_call_by_default, .init = setup, .fini = teardown) {
        call("GET", NULL);
        call("PUT", "{}");
        call("GET", NULL);
        cr_assert_eq(atomic_load(&accepted), 3, "got %d", atomic_load(&accepted));
}

/* Two POSTs from a thread of its own; how many were answered 200 (no Criterion
 * assertion off the test's thread). */
static void *two_posts(void *arg) {
        int *ok = arg;
        char url[64];
        snprintf(url, sizeof(url), "http://127.0.0.1:%d/v1/x", port);
        for (int i = 0; i < 2; i++) {
                struct http_response res;
                struct error err = {0};
                if (http_perform("POST", url, "{\"t\":1}", 5000, 2000, NULL, NULL, &res, &err) == 0 && res.status == 200)
                        (*ok)++;
                http_response_clear(&res);
        }
        return NULL;
}

/* A thread that keeps its connection (a scheduler worker calling the leader) sends its
 * POSTs on it too; another thread still opens one per POST. */
Test(http_client, a_thread_that_keeps_its_connection_posts_on_it, .init = setup, .fini = teardown) {
        http_client_keep_thread_connection();
        call("POST", "{\"a\":1}");
        call("POST", "{\"a\":2}");
        call("GET", NULL);
        call("POST", "{\"a\":3}");
        cr_assert_eq(atomic_load(&accepted), 1, "one connection for the thread's calls (got %d)",
                     atomic_load(&accepted));
        pthread_t t;
        int ok = 0;
        cr_assert_eq(pthread_create(&t, NULL, two_posts, &ok), 0);
        pthread_join(t, NULL);
        cr_assert_eq(ok, 2, "the other thread's POSTs were answered");
        cr_assert_eq(atomic_load(&accepted), 3, "another thread: a connection per POST (got %d)",
                     atomic_load(&accepted));
        cr_assert_eq(atomic_load(&answered), 6);
}

/* A proxy named by the environment (here a port nobody listens on): the CLI's calls go
 * to it, as libcurl's default; a server's or an agent's (http_client_direct) go to the
 * server itself. */
Test(http_client, direct_calls_ignore_the_environment_s_proxy, .init = setup, .fini = teardown) {
        int dead = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0); /* bound, never listening: connect refused */
        cr_assert(dead >= 0);
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        cr_assert(bind(dead, (struct sockaddr *)&a, sizeof(a)) == 0);
        socklen_t len = sizeof(a);
        cr_assert(getsockname(dead, (struct sockaddr *)&a, &len) == 0);
        char proxy[64], url[64];
        snprintf(proxy, sizeof(proxy), "http://127.0.0.1:%d", ntohs(a.sin_port));
        setenv("http_proxy", proxy, 1);
        setenv("all_proxy", proxy, 1);
        unsetenv("no_proxy");
        unsetenv("NO_PROXY");
        snprintf(url, sizeof(url), "http://127.0.0.1:%d/v1/x", port);
        struct http_response res;
        struct error err = {0};
        cr_assert_lt(http_perform("GET", url, NULL, 5000, 2000, NULL, NULL, &res, &err), 0,
                     "by default the call goes to the environment's proxy (refused here)");
        http_response_clear(&res);
        cr_assert_eq(atomic_load(&accepted), 0);
        http_client_direct(true);
        call("GET", NULL);
        call("POST", "{}");
        cr_assert_eq(atomic_load(&accepted), 2, "direct calls reach the server (got %d)", atomic_load(&accepted));
        close(dead);
}
