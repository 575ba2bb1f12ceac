/* test_stream.c - streamed answers of the HTTP listener (controlplane/api/http.c):
 * a real listener on 127.0.0.1 with its loop on a thread and raw sockets as
 * clients; the handler's writes run on the loop thread, as in the server. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
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

static struct http_loop hl;
static uv_async_t act_async;
static struct http_req *held; /* the open stream; loop thread only */
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static char pending_write[128]; /* under mu: written by on_act */
static bool pending_end;
static int last_rc = 1;           /* under mu: the last on_act write's result */
static int oversize_rc = 1;       /* a write larger than the buffer, at begin */
static atomic_int closed;         /* on_close ran */
static atomic_int closed_on_loop; /* ... on the loop thread */

static void on_close(void *data) {
        (void)data;
        atomic_store(&closed_on_loop, pthread_equal(pthread_self(), hl.thread) ? 1 : 0);
        held = NULL;
        atomic_store(&closed, 1);
}

static void handler(void *data, struct http_req *r) {
        (void)data;
        cr_assert_eq(http_req_stream_begin(r, 200, "application/json", 64, on_close, NULL), 0);
        char big[100];
        memset(big, 'x', sizeof(big));
        pthread_mutex_lock(&mu);
        oversize_rc = http_req_stream_write(r, big, sizeof(big));
        pthread_mutex_unlock(&mu);
        cr_assert_eq(http_req_stream_write(r, "one\n", 4), 0);
        held = r;
}

static void on_act(uv_async_t *h) {
        (void)h;
        pthread_mutex_lock(&mu);
        if (held && pending_write[0]) {
                last_rc = http_req_stream_write(held, pending_write, strlen(pending_write));
                pending_write[0] = '\0';
        }
        if (held && pending_end) {
                http_req_stream_end(held, "bye\n", 4);
                held = NULL;
        }
        pending_end = false;
        pthread_mutex_unlock(&mu);
}

static bool keep_open_on_stop; /* the server stops under a stream its handler did not end */

static void before_destroy(void) {
        if (held && !keep_open_on_stop)
                http_req_stream_end(held, NULL, 0);
        held = NULL;
        uv_close((uv_handle_t *)&act_async, NULL);
}

static void setup(uv_loop_t *loop) {
        cr_assert_eq(uv_async_init(loop, &act_async, on_act), 0);
}

static void start(void) {
        hl.setup = setup;
        hl.before_destroy = before_destroy;
        struct http_server_opts o = {.addr = "127.0.0.1"};
        http_loop_start(&hl, &o, handler, NULL);
}

static void stop(void) {
        http_loop_stop(&hl);
}

static int connect_get(const char *path) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        cr_assert_geq(fd, 0);
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)hl.port)};
        inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
        cr_assert_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
        char req[256];
        int n = snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", path);
        cr_assert_eq(write(fd, req, (size_t)n), n);
        return fd;
}

/* Read into buf (appending) until it contains want, EOF, or 5 s pass; whether found. */
static bool read_until(int fd, char *buf, size_t cap, size_t *len, const char *want) {
        for (int i = 0; i < 50 && !strstr(buf, want); i++) {
                struct pollfd p = {.fd = fd, .events = POLLIN};
                if (poll(&p, 1, 100) != 1)
                        continue;
                ssize_t n = read(fd, buf + *len, cap - 1 - *len);
                if (n <= 0)
                        break;
                *len += (size_t)n;
                buf[*len] = '\0';
        }
        return strstr(buf, want) != NULL;
}

/* Start the server and open a stream; what came back, up to its first chunk
 * ("one\n"), is in buf. */
static int open_stream(char *buf, size_t cap, size_t *len) {
        start();
        int fd = connect_get("/v1/event/stream");
        buf[0] = '\0';
        *len = 0;
        cr_assert(read_until(fd, buf, cap, len, "one\n"), "got: %s", buf);
        return fd;
}

static void act(const char *write_text, bool end) {
        pthread_mutex_lock(&mu);
        snprintf(pending_write, sizeof(pending_write), "%s", write_text ? write_text : "");
        pending_end = end;
        last_rc = 1;
        pthread_mutex_unlock(&mu);
        uv_async_send(&act_async);
}

static int wait_rc(void) {
        for (int i = 0; i < 500; i++) {
                pthread_mutex_lock(&mu);
                int rc = last_rc;
                pthread_mutex_unlock(&mu);
                if (rc != 1)
                        return rc;
                usleep(10000);
        }
        return 1;
}

Test(http_stream, chunks_arrive_as_written_and_the_end_closes_the_body) {
        char buf[8192];
        size_t len;
        int fd = open_stream(buf, sizeof(buf), &len);
        cr_expect(strstr(buf, "HTTP/1.1 200") == buf, "%s", buf);
        cr_expect(strstr(buf, "chunked") != NULL, "a body of unknown length is chunked: %s", buf);
        cr_expect_eq(oversize_rc, -EAGAIN, "a write larger than the buffer is refused, not grown");
        act("two\n", false); /* arrives while the first is read: the connection was suspended, empty */
        cr_expect_eq(wait_rc(), 0);
        cr_assert(read_until(fd, buf, sizeof(buf), &len, "two\n"), "got: %s", buf);
        act(NULL, true);
        cr_expect(read_until(fd, buf, sizeof(buf), &len, "bye\n"), "the tail: %s", buf);
        cr_expect(read_until(fd, buf, sizeof(buf), &len, "\r\n0\r\n\r\n"), "the last chunk: %s", buf);
        cr_expect(strstr(buf, "one\n") < strstr(buf, "two\n") && strstr(buf, "two\n") < strstr(buf, "bye\n"));
        cr_expect_eq(atomic_load(&closed), 0, "on_close does not run after the handler ended the stream");
        close(fd);
        stop();
}

Test(http_stream, a_client_that_goes_away_is_reported_on_the_loop_thread) {
        char buf[4096];
        size_t len;
        int fd = open_stream(buf, sizeof(buf), &len);
        close(fd);
        /* The server notices when it next writes (or reads EOF): keep writing. */
        for (int i = 0; i < 100 && !atomic_load(&closed); i++) {
                act("ping\n", false);
                usleep(50000);
        }
        cr_expect_eq(atomic_load(&closed), 1, "on_close ran");
        cr_expect_eq(atomic_load(&closed_on_loop), 1, "on the loop thread");
        stop();
}

Test(http_stream, the_server_stops_under_an_open_stream) {
        char buf[4096];
        size_t len;
        int fd = open_stream(buf, sizeof(buf), &len);
        keep_open_on_stop = true; /* suspended, waiting for bytes, when the daemon stops */
        stop();
        cr_expect_eq(atomic_load(&closed), 1, "the handler heard of it (and let go of the request)");
        cr_expect_eq(atomic_load(&closed_on_loop), 1);
        close(fd);
}
