/* test_tls.c - common/tls and the HTTP listener's TLS and flood bounds
 * (controlplane/api/http.c) in process: a real listener on 127.0.0.1 with its
 * loop on a thread, libcurl (common/http_client) and raw sockets as clients.
 * Certificates: tests/security/pem (README there). Also the agents-only
 * listener (-agent-addr): its path filter, its own bounds, its TLS. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include "common/clock.h"
#include "common/error.h"
#include "common/http_client.h"
#include "common/tls.h"
#include "controlplane/api/http.h"
#include "tests/support/http_loop.h"

#define PEM "tests/security/pem/"

/* ---- common/tls ------------------------------------------------------------------ */

Test(tls, config_load_checks_files_and_the_key_pair) {
        struct tls_pems p = {0};
        struct error err = {0};
        struct tls_config ok = {.http = true,
                                .ca_file = PEM "ca.pem",
                                .cert_file = PEM "server.pem",
                                .key_file = PEM "server-key.pem",
                                .verify_client = true};
        cr_assert_eq(tls_config_load(&ok, &p, &err), 0, "%s", err.msg);
        cr_expect(p.ca && strstr(p.ca, "BEGIN CERTIFICATE"));
        cr_expect(p.key && strstr(p.key, "PRIVATE KEY"));
        tls_pems_free(&p);

        struct tls_config bad = ok;
        bad.key_file = PEM "client-key.pem";
        cr_expect_eq(tls_config_load(&bad, &p, &err), -EINVAL);
        cr_expect(strstr(err.msg, "certificate") && strstr(err.msg, "client-key.pem"), "%s", err.msg);
        bad = ok;
        bad.ca_file = "";
        cr_expect_eq(tls_config_load(&bad, &p, &err), -EINVAL);
        cr_expect(strstr(err.msg, "verify_https_client needs ca_file"), "%s", err.msg);
        bad = ok;
        bad.cert_file = NULL;
        cr_expect_eq(tls_config_load(&bad, &p, &err), -EINVAL);
        bad = ok;
        bad.key_file = PEM "missing.pem";
        cr_expect_eq(tls_config_load(&bad, &p, &err), -ENOENT);
        cr_expect(strstr(err.msg, "missing.pem"), "%s", err.msg);
        bad = ok;
        bad.ca_file = PEM "README.md";
        cr_expect_eq(tls_config_load(&bad, &p, &err), -EINVAL, "a CA file without a certificate");
        bad = ok;
        bad.http = false;
        cr_expect_lt(tls_config_load(&bad, &p, &err), 0);
}

Test(tls, read_file_is_bounded) {
        char *buf = NULL;
        struct error err = {0};
        cr_expect_eq(tls_read_file("tests/security/pem", &buf, &err), -EINVAL, "a directory");
        char path[] = "/tmp/drover-tls-big-XXXXXX";
        int fd = mkstemp(path);
        cr_assert_geq(fd, 0);
        cr_assert_eq(ftruncate(fd, TLS_PEM_MAX + 1), 0);
        close(fd);
        cr_expect_eq(tls_read_file(path, &buf, &err), -EFBIG);
        cr_expect(strstr(err.msg, "larger than"), "%s", err.msg);
        unlink(path);
        cr_expect_null(buf);
}

Test(tls, client_settings_from_flags_then_environment) {
        setenv("DROVER_CACERT", PEM "ca.pem", 1);
        unsetenv("DROVER_CLIENT_CERT");
        setenv("NOMAD_CLIENT_CERT", PEM "client.pem", 1);
        setenv("NOMAD_CLIENT_KEY", PEM "client-key.pem", 1);
        setenv("DROVER_CLIENT_KEY", PEM "server-key.pem", 1);
        struct tls_client c = {0};
        snprintf(c.ca_cert, sizeof(c.ca_cert), "%s", "/from/flag.pem");
        struct error err = {0};
        cr_assert_eq(tls_client_from_env(&c, &err), 0);
        cr_expect_str_eq(c.ca_cert, "/from/flag.pem", "a flag wins over the environment");
        cr_expect_str_eq(c.client_cert, PEM "client.pem", "NOMAD_* when DROVER_* is unset");
        cr_expect_str_eq(c.client_key, PEM "server-key.pem", "DROVER_* before NOMAD_*");
        cr_expect_lt(tls_client_check(&c, &err), 0, "the flag's CA file does not exist");
        struct tls_client half = {0};
        snprintf(half.client_cert, sizeof(half.client_cert), "%s", PEM "client.pem");
        cr_expect_eq(tls_client_check(&half, &err), -EINVAL);
        cr_expect(strstr(err.msg, "needs its key"), "%s", err.msg);
        unsetenv("DROVER_CACERT");
        unsetenv("NOMAD_CLIENT_CERT");
        unsetenv("NOMAD_CLIENT_KEY");
        unsetenv("DROVER_CLIENT_KEY");
}

Test(tls, node_agent_paths) {
        cr_expect(http_path_is_node_agent("PUT", "/v1/node/register"));
        cr_expect(http_path_is_node_agent("PUT", "/v1/node/abc/heartbeat"));
        cr_expect(http_path_is_node_agent("POST", "/v1/node/abc/heartbeat"));
        cr_expect(http_path_is_node_agent("GET", "/v1/node/abc/allocations"));
        cr_expect(http_path_is_node_agent("PUT", "/v1/node/abc/allocations"));
        cr_expect(http_path_is_node_agent("POST", "/v1/node/abc/allocations/batch"));
        cr_expect(!http_path_is_node_agent("GET", "/v1/node/abc/allocations/batch"));
        cr_expect(!http_path_is_node_agent("GET", "/v1/node/register"));
        cr_expect(!http_path_is_node_agent("GET", "/v1/node/abc/heartbeat"));
        cr_expect(!http_path_is_node_agent("GET", "/v1/node/abc"));
        cr_expect(!http_path_is_node_agent("GET", "/v1/node//allocations"));
        cr_expect(!http_path_is_node_agent("GET", "/v1/nodes"));
        cr_expect(!http_path_is_node_agent("GET", "/v1/jobs"));
        cr_expect(!http_path_is_node_agent("PUT", "/v1/node/abc/allocations/x"));
        cr_expect(!http_path_is_node_agent("DELETE", "/v1/node/abc/allocations"));
        cr_expect(!http_path_is_node_agent("GET", "/v1/node/abc/allocations/"));
        cr_expect(!http_path_is_node_agent("GET", "/v1/node/abc/x/allocations"));
        cr_expect(!http_path_is_node_agent("PUT", "/v1/node/register/x"));
}

/* ---- a real listener ------------------------------------------------------------------ */

static struct http_loop hl;
static struct http_req *held[64];
static int n_held;
static char base[64];

/* Blocking queries (?index=N, N > 0) are held until teardown; everything else is 200 "ok". */
static void handler(void *data, struct http_req *r) {
        (void)data;
        const char *idx = http_req_query(r, "index");
        if (idx && strcmp(idx, "0") != 0 && n_held < 64) {
                held[n_held++] = r;
                return;
        }
        http_req_respond_text(r, 200, "ok %s", http_req_path(r));
}

static void release_held(void) {
        for (int i = 0; i < n_held; i++)
                http_req_respond_text(held[i], 200, "released");
        n_held = 0;
}

static void start(const struct http_server_opts *o) {
        hl.before_destroy = release_held;
        http_loop_start(&hl, o, handler, NULL);
        snprintf(base, sizeof(base), "%s://127.0.0.1:%d", o->tls ? "https" : "http", hl.port);
}

static void stop(void) {
        http_loop_stop(&hl);
        http_client_set_tls(NULL);
}

static long get(const char *method, const char *path, char *msg, size_t cap) {
        struct http_response r;
        struct error err = {0};
        char url[256];
        snprintf(url, sizeof(url), "%s%s", base, path);
        if (http_perform(method, url, NULL, 5000, 2000, NULL, NULL, &r, &err) < 0) {
                snprintf(msg, cap, "%s", err.msg);
                return 0;
        }
        snprintf(msg, cap, "%s", r.body);
        long st = r.status;
        http_response_clear(&r);
        return st;
}

static void client_tls(const char *ca, const char *cert, const char *key) {
        struct tls_client c = {0};
        snprintf(c.ca_cert, sizeof(c.ca_cert), "%s", ca ? ca : "");
        snprintf(c.client_cert, sizeof(c.client_cert), "%s", cert ? cert : "");
        snprintf(c.client_key, sizeof(c.client_key), "%s", key ? key : "");
        http_client_set_tls(&c);
}

/* A raw connection from 127.0.0.1 that sends req (may be NULL: idle). */
static int raw(const char *req) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        cr_assert_geq(fd, 0);
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)hl.port)};
        inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
        cr_assert_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
        if (req)
                cr_assert_eq(write(fd, req, strlen(req)), (ssize_t)strlen(req));
        return fd;
}

/* Whether an answer arrives on fd within ms. */
static bool answered_within(int fd, int ms) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        return poll(&p, 1, ms) == 1;
}

Test(tls, mutual_tls_refuses_clients_without_a_certificate_of_the_ca) {
        struct tls_config t = {.http = true,
                               .ca_file = PEM "ca.pem",
                               .cert_file = PEM "server.pem",
                               .key_file = PEM "server-key.pem",
                               .verify_client = true};
        struct http_server_opts o = {.addr = "127.0.0.1", .tls = &t};
        start(&o);
        char msg[512];
        client_tls(PEM "ca.pem", PEM "client.pem", PEM "client-key.pem");
        cr_expect_eq(get("GET", "/v1/jobs", msg, sizeof(msg)), 200, "%s", msg);
        client_tls(PEM "ca.pem", NULL, NULL);
        cr_expect_eq(get("GET", "/v1/jobs", msg, sizeof(msg)), 403);
        cr_expect(strstr(msg, "no client certificate presented"), "%s", msg);
        client_tls(PEM "ca.pem", PEM "intruder.pem", PEM "intruder-key.pem");
        cr_expect_eq(get("PUT", "/v1/node/register", msg, sizeof(msg)), 403, "not even a node agent's path");
        cr_expect(strstr(msg, "client certificate rejected"), "%s", msg);
        client_tls(PEM "intruder.pem", PEM "client.pem", PEM "client-key.pem");
        cr_expect_eq(get("GET", "/v1/jobs", msg, sizeof(msg)), 0, "a client that does not trust the server's CA");
        /* plain HTTP to the TLS port: no answer */
        char plain[64];
        snprintf(plain, sizeof(plain), "http://127.0.0.1:%d", hl.port);
        snprintf(base, sizeof(base), "%s", plain);
        cr_expect_eq(get("GET", "/v1/jobs", msg, sizeof(msg)), 0, "plain HTTP answered: %s", msg);
        stop();
}

Test(tls, blocking_queries_over_the_cap_get_503_but_not_a_node_agents) {
        struct http_server_opts o = {.addr = "127.0.0.1", .max_parked = 2};
        start(&o);
        int a = raw("GET /v1/jobs?index=5 HTTP/1.1\r\nHost: x\r\n\r\n");
        int b = raw("GET /v1/jobs?index=5 HTTP/1.1\r\nHost: x\r\n\r\n");
        cr_expect(!answered_within(a, 300) && !answered_within(b, 1), "two blocking queries parked");
        char msg[256];
        cr_expect_eq(get("GET", "/v1/jobs?index=7", msg, sizeof(msg)), 503);
        cr_expect(strstr(msg, "2 blocking queries already waiting"), "%s", msg);
        cr_expect_eq(get("GET", "/v1/jobs", msg, sizeof(msg)), 200, "a request that does not block is served");
        cr_expect_eq(get("GET", "/v1/jobs?index=0", msg, sizeof(msg)), 200, "index=0 does not block");
        int agent = raw("GET /v1/node/abc/allocations?index=9 HTTP/1.1\r\nHost: x\r\n\r\n");
        cr_expect(!answered_within(agent, 300), "a node agent's watch is parked beyond the cap, not refused");
        cr_expect_geq(http_server_refused(hl.srv), 1);
        stop();
        close(a);
        close(b);
        close(agent);
}

Test(tls, beyond_max_conns_only_node_agents_are_served) {
        struct http_server_opts o = {.addr = "127.0.0.1", .max_conns = 4};
        start(&o);
        int idle[4];
        for (int i = 0; i < 4; i++)
                idle[i] = raw(NULL);
        usleep(200 * 1000); /* accepted */
        char msg[256];
        cr_expect_eq(get("GET", "/v1/jobs", msg, sizeof(msg)), 503);
        cr_expect(strstr(msg, "server busy: more than 4 connections open"), "%s", msg);
        cr_expect_eq(get("PUT", "/v1/node/abc/heartbeat", msg, sizeof(msg)), 200, "%s", msg);
        /* the oldest idle connections got the short timeout: closed within about 2 s */
        bool closed = false;
        for (int t = 0; t < 50 && !closed; t++) {
                char c;
                closed = answered_within(idle[0], 100) && read(idle[0], &c, 1) == 0;
        }
        cr_expect(closed, "the oldest idle connection is evicted under pressure");
        stop();
        for (int i = 0; i < 4; i++)
                close(idle[i]);
}

Test(tls, beyond_the_reserve_a_newcomer_closes_the_oldest_silent_connection_at_once) {
        struct http_server_opts o = {.addr = "127.0.0.1", .max_conns = 4, .reserved_conns = 2};
        start(&o);
        int idle[6];
        for (int i = 0; i < 6; i++) {
                idle[i] = raw(NULL);
                usleep(20 * 1000); /* accepted in this order */
        }
        usleep(200 * 1000);
        char msg[256];
        int64_t t0 = clock_monotonic_ns();
        cr_expect_eq(get("PUT", "/v1/node/abc/heartbeat", msg, sizeof(msg)), 200, "%s", msg);
        cr_expect_lt(clock_monotonic_ns() - t0, 1000000000LL, "accepted at once, not left in the accept queue");
        char c;
        cr_expect(answered_within(idle[0], 500) && read(idle[0], &c, 1) == 0,
                  "the oldest silent connection is closed at once, not after the 2 s timeout");
        cr_expect(!answered_within(idle[5], 1), "the newest silent connection stays");
        stop();
        for (int i = 0; i < 6; i++)
                close(idle[i]);
}

Test(tls, a_body_trickling_in_past_the_body_timeout_is_cut_off) {
        struct http_server_opts o = {.addr = "127.0.0.1", .body_timeout_s = 1};
        start(&o);
        int fast = raw("PUT /v1/jobs HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nab");
        cr_assert_eq(write(fast, "cd", 2), 2);
        cr_expect(answered_within(fast, 2000), "a body sent at once is served");
        int slow = raw("PUT /v1/jobs HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\na");
        usleep(1300 * 1000);
        ssize_t w = write(slow, "b", 1);
        (void)w;
        char buf[64];
        cr_assert(answered_within(slow, 2000), "neither answered nor closed");
        ssize_t n = read(slow, buf, sizeof(buf));
        cr_expect(n <= 0, "closed without an answer (read %zd bytes)", n);
        stop();
        close(fast);
        close(slow);
}

/* libmicrohttpd 0.9.75 cannot go on with a chunk-size line longer than its read
 * buffer: it asks to run again at once, forever (found by fuzz_http). The listener
 * thread must not spin on it, and the body timeout closes the connection even
 * though no body byte reaches the handler. */
Test(tls, a_chunk_line_longer_than_the_buffer_neither_spins_nor_outlives_the_body_timeout) {
        struct http_server_opts o = {.addr = "127.0.0.1", .body_timeout_s = 1};
        start(&o);
        int fd = raw("PUT /v1/jobs HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n3;");
        static char ext[100 * 1024];
        memset(ext, 'x', sizeof(ext));
        cr_assert_eq(fcntl(fd, F_SETFL, O_NONBLOCK), 0);
        size_t sent = 0;
        for (int i = 0; i < 100 && sent < sizeof(ext); i++) {
                ssize_t n = write(fd, ext + sent, sizeof(ext) - sent);
                if (n > 0)
                        sent += (size_t)n;
                else
                        usleep(10 * 1000);
        }
        cr_assert_eq(sent, sizeof(ext), "the extension is in the socket buffers");
        struct rusage u0, u1;
        getrusage(RUSAGE_SELF, &u0);
        int64_t t0 = clock_monotonic_ns();
        usleep(700 * 1000); /* before the 1 s deadline */
        getrusage(RUSAGE_SELF, &u1);
        int64_t wall = clock_monotonic_ns() - t0;
        int64_t cpu =
            (u1.ru_utime.tv_sec - u0.ru_utime.tv_sec + u1.ru_stime.tv_sec - u0.ru_stime.tv_sec) * 1000000000LL +
            (u1.ru_utime.tv_usec - u0.ru_utime.tv_usec + u1.ru_stime.tv_usec - u0.ru_stime.tv_usec) * 1000LL;
        cr_expect_lt(cpu, wall / 3, "the listener spins: %lld ms of CPU in %lld ms", (long long)(cpu / 1000000),
                     (long long)(wall / 1000000));
        cr_assert(answered_within(fd, 3000), "still open 3.7 s after the headers (body timeout 1 s)");
        char buf[64];
        ssize_t n = read(fd, buf, sizeof(buf));
        cr_expect(n <= 0, "closed without an answer (read %zd bytes)", n);
        char msg[64];
        cr_expect_eq(get("GET", "/v1/jobs", msg, sizeof(msg)), 200, "others are served: %s", msg);
        stop();
        close(fd);
}

Test(tls, headers_trickling_in_past_the_header_timeout_are_cut_off) {
        struct http_server_opts o = {.addr = "127.0.0.1", .header_timeout_s = 1};
        start(&o);
        int slow = raw("GET /v1/jobs HTTP/1.1\r\n");
        for (int i = 0; i < 6; i++) { /* 1.8 s of one header line every 0.3 s: never idle */
                usleep(300 * 1000);
                ssize_t w = send(slow, "X-A: b\r\n", 8, MSG_NOSIGNAL); /* closed after 1 s */
                (void)w;
        }
        /* Closed by the listener's own deadline (mhd_loop's tick), no other client needed. */
        cr_assert(answered_within(slow, 2000), "the slow client is still open");
        char buf[64];
        ssize_t n = read(slow, buf, sizeof(buf));
        cr_expect(n <= 0, "closed without an answer (read %zd bytes)", n);
        char msg[64];
        cr_expect_eq(get("GET", "/v1/jobs", msg, sizeof(msg)), 200, "a new client is served");
        stop();
        close(slow);
}

/* ---- an agents-only listener (drover-server -agent-addr) ----------------------------- */

Test(tls, an_agents_only_listener_answers_404_to_every_other_path) {
        struct http_server_opts o = {.addr = "127.0.0.1", .agents_only = true};
        start(&o);
        char msg[256];
        cr_expect_eq(get("PUT", "/v1/node/register", msg, sizeof(msg)), 200, "%s", msg);
        cr_expect_eq(get("PUT", "/v1/node/abc/heartbeat", msg, sizeof(msg)), 200, "%s", msg);
        cr_expect_eq(get("GET", "/v1/node/abc/allocations", msg, sizeof(msg)), 200, "%s", msg);
        cr_expect_eq(get("POST", "/v1/node/abc/allocations/batch", msg, sizeof(msg)), 200, "%s", msg);
        const char *const public[][2] = {{"GET", "/v1/jobs"},
                                         {"PUT", "/v1/jobs"},
                                         {"GET", "/v1/node/abc"},
                                         {"GET", "/v1/node/abc/heartbeat"},
                                         {"GET", "/v1/agent/self"},
                                         {"GET", "/v1/event/stream"},
                                         {"GET", "/v1/client/fs/logs/x"},
                                         {"DELETE", "/v1/node/abc/allocations"}};
        for (size_t i = 0; i < sizeof(public) / sizeof(public[0]); i++) {
                cr_expect_eq(get(public[i][0], public[i][1], msg, sizeof(msg)), 404, "%s %s: %s", public[i][0],
                             public[i][1], msg);
                cr_expect(strstr(msg, "serves node agents only"), "%s", msg);
        }
        /* a public request with a body is refused before the body is kept */
        int up = raw("PUT /v1/jobs HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nabcd");
        cr_assert(answered_within(up, 2000));
        char buf[256];
        ssize_t n = read(up, buf, sizeof(buf) - 1);
        cr_expect(n > 12 && strncmp(buf, "HTTP/1.1 404", 12) == 0, "%.*s", (int)(n > 0 ? n : 0), buf);
        stop();
        close(up);
}

Test(tls, an_agents_only_listener_bounds_its_own_watches_without_exemption) {
        struct http_server_opts o = {.addr = "127.0.0.1", .agents_only = true, .max_parked = 2};
        start(&o);
        int a = raw("GET /v1/node/a/allocations?index=5 HTTP/1.1\r\nHost: x\r\n\r\n");
        int b = raw("GET /v1/node/b/allocations?index=5 HTTP/1.1\r\nHost: x\r\n\r\n");
        cr_expect(!answered_within(a, 300) && !answered_within(b, 1), "two watches parked");
        char msg[256];
        cr_expect_eq(get("GET", "/v1/node/c/allocations?index=7", msg, sizeof(msg)), 503, "%s", msg);
        cr_expect(strstr(msg, "2 blocking queries already waiting"), "%s", msg);
        cr_expect_eq(get("PUT", "/v1/node/c/heartbeat", msg, sizeof(msg)), 200, "a heartbeat still goes through");
        stop();
        close(a);
        close(b);
}

Test(tls, an_agents_only_listener_keeps_the_client_certificate_rule) {
        struct tls_config t = {.http = true,
                               .ca_file = PEM "ca.pem",
                               .cert_file = PEM "server.pem",
                               .key_file = PEM "server-key.pem",
                               .verify_client = true};
        struct http_server_opts o = {.addr = "127.0.0.1", .tls = &t, .agents_only = true};
        start(&o);
        char msg[512];
        client_tls(PEM "ca.pem", PEM "client.pem", PEM "client-key.pem");
        cr_expect_eq(get("PUT", "/v1/node/abc/heartbeat", msg, sizeof(msg)), 200, "%s", msg);
        cr_expect_eq(get("GET", "/v1/jobs", msg, sizeof(msg)), 404, "%s", msg);
        client_tls(PEM "ca.pem", NULL, NULL);
        cr_expect_eq(get("PUT", "/v1/node/abc/heartbeat", msg, sizeof(msg)), 403, "%s", msg);
        cr_expect(strstr(msg, "no client certificate presented"), "%s", msg);
        stop();
}
