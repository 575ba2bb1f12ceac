/* fuzz_http.c - libFuzzer target: the HTTP listener itself
 * (controlplane/api/http.c), a real libmicrohttpd daemon on 127.0.0.1 with its
 * libuv loop on a thread, as in drover-server.
 *
 * Input: the bytes a client sends on one connection (methods, headers, chunked
 * or oversized bodies, pipelined requests, garbage); what comes back is read
 * until the server closes or goes silent, then the client closes. Two markers expand:
 *   "{{BIG}}"  16 MiB + 1 bytes of body (the server's limit is 16 MiB: 413);
 *   a first byte '!' stops the server while the request may be queued, parked or
 *   held by the handler, then starts a new one (http_server_destroy's 503 path).
 * The handler answers by path, on the loop thread as the server's routes do:
 *   /v1/park... and every GET with ?index=N are held and answered later by a 1 ms
 *   timer (a blocking query; max_parked is 2, so more get 503 at once);
 *   /v1/stream... begins a streamed answer, writes, ends it on the timer;
 *   /v1/echo... answers JSON with the query (every accessor) and the body length;
 *   the rest answer 404 at once.
 * Checked besides memory safety: what comes back starts with an HTTP status line;
 * an oversized body is answered 413 (when the answer arrives). */
#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "common/error.h"
#include "common/log.h"
#include "controlplane/api/http.h"
#include "fuzz_sock.h"

#define MAX_HELD 64
#define BIG_BODY (16u * 1024 * 1024 + 1)
#define IDLE_MS 30

static uv_loop_t loop;
static uv_async_t cmd_async;
static uv_timer_t slow_timer;
static pthread_t loop_thread;
static struct http_server *srv; /* loop thread; port read under mu */
static int port;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int cmd_restart, cmd_done; /* under mu */
/* Held by the handler (loop thread only): answered, or streams ended, by the timer. */
static struct http_req *held[MAX_HELD];
static int nheld;
static struct http_req *streams[MAX_HELD];
static int nstreams;

static void stream_closed(void *data) {
        struct http_req *r = data;
        for (int i = 0; i < nstreams; i++)
                if (streams[i] == r) {
                        streams[i] = streams[--nstreams];
                        return;
                }
}

static void answer_echo(struct http_req *r, int status) {
        const char *vals[4];
        size_t n = http_req_query_values(r, "topic", vals, 4), blen = 0;
        http_req_body(r, &blen);
        char *qs = http_req_query_string(r);
        const char *ct = http_req_header(r, "Content-Type");
        json_t *o = json_pack("{s:s?,s:s?,s:I,s:s?,s:b,s:I,s:s?}", "Path", http_req_path(r), "Method",
                              http_req_method(r), "Body", (json_int_t)blen, "Query", qs, "Stale",
                              http_req_has_query(r, "stale"), "Topics", (json_int_t)n, "ContentType", ct);
        free(qs);
        http_req_set_next_token(r, http_req_query(r, "next_token"));
        http_req_respond_json(r, status, o, 7);
}

static void handler(void *data, struct http_req *r) {
        (void)data;
        const char *path = http_req_path(r), *idx = http_req_query(r, "index");
        bool blocking = strcmp(http_req_method(r), "GET") == 0 && idx && *idx && strcmp(idx, "0") != 0;
        if ((strncmp(path, "/v1/park", 8) == 0 || blocking) && nheld < MAX_HELD) {
                held[nheld++] = r;
                return;
        }
        if (strncmp(path, "/v1/stream", 10) == 0 && nstreams < MAX_HELD) {
                if (http_req_stream_begin(r, 200, "application/json", 64, stream_closed, r) == 0) {
                        http_req_stream_write(r, "{\"a\":1}\n", 8);
                        streams[nstreams++] = r;
                        return;
                }
        }
        if (strncmp(path, "/v1/echo", 8) == 0) {
                answer_echo(r, 200);
                return;
        }
        http_req_respond_text(r, 404, "no route for %s %s", http_req_method(r), path);
}

static void on_slow(uv_timer_t *t) {
        (void)t;
        for (int i = 0; i < nheld; i++)
                answer_echo(held[i], 200); /* after a restart: an orphan, freed */
        nheld = 0;
        while (nstreams > 0) {
                struct http_req *r = streams[--nstreams];
                http_req_stream_end(r, "{\"end\":true}\n", 13);
        }
}

static void start_server(void) {
        struct error err = {0};
        struct http_server_opts o = {.addr = "127.0.0.1", .max_parked = 2, .max_conns = 64, .body_timeout_s = 2};
        if (http_server_start(&loop, &o, handler, NULL, &srv, &err) < 0) {
                fprintf(stderr, "fuzz_http: %s\n", err.msg);
                abort();
        }
}

static void on_cmd(uv_async_t *h) {
        (void)h;
        pthread_mutex_lock(&mu);
        bool restart = cmd_restart;
        cmd_restart = 0;
        pthread_mutex_unlock(&mu);
        if (!restart)
                return;
        /* Streams hear of it through on_close; held requests become orphans the
         * timer answers (and so frees) later. */
        srv = http_server_destroy(srv);
        start_server();
        pthread_mutex_lock(&mu);
        port = http_server_port(srv);
        cmd_done = 1;
        pthread_cond_signal(&cv);
        pthread_mutex_unlock(&mu);
}

static void *run_loop(void *arg) {
        (void)arg;
        uv_run(&loop, UV_RUN_DEFAULT);
        return NULL;
}

static void init(void) {
        signal(SIGPIPE, SIG_IGN);
        log_set_level(LOG_LVL_ERROR);
        if (uv_loop_init(&loop) < 0 || uv_async_init(&loop, &cmd_async, on_cmd) < 0 ||
            uv_timer_init(&loop, &slow_timer) < 0)
                abort();
        uv_timer_start(&slow_timer, on_slow, 1, 1);
        start_server();
        port = http_server_port(srv);
        if (pthread_create(&loop_thread, NULL, run_loop, NULL) != 0)
                abort();
}

static void restart(void) {
        pthread_mutex_lock(&mu);
        cmd_restart = 1;
        cmd_done = 0;
        uv_async_send(&cmd_async);
        while (!cmd_done)
                pthread_cond_wait(&cv, &mu);
        pthread_mutex_unlock(&mu);
}

static int current_port(void) {
        pthread_mutex_lock(&mu);
        int p = port;
        pthread_mutex_unlock(&mu);
        return p;
}

static void write_all(int fd, const char *buf, size_t len) {
        while (len > 0) {
                ssize_t n = fuzz_write(fd, buf, len);
                if (n <= 0)
                        return; /* the server closed early (a refused request): fine */
                buf += n;
                len -= (size_t)n;
        }
}

static char big[BIG_BODY];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        static bool ready;
        if (!ready) {
                init();
                memset(big, 'x', sizeof(big));
                ready = true;
        }
        bool stop_midway = size > 0 && data[0] == '!';
        if (stop_midway) {
                data++;
                size--;
        }
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                abort();
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)current_port())};
        inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
        if (fuzz_connect(fd, &sa) < 0) {
                fprintf(stderr, "fuzz_http: connect: %s\n", strerror(errno));
                abort();
        }
        /* A write into a server that has answered (413) and stopped reading ends
         * instead of blocking past libFuzzer's -timeout: under TSan, its alarm
         * handler then deadlocks in malloc rather than reporting. */
        struct timeval snd = {.tv_sec = 3};
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &snd, sizeof(snd));
        /* The input, with its first {{BIG}} expanded (later ones are dropped). */
        bool sent_big = false;
        const char *p = (const char *)data, *end = p + size;
        while (p < end) {
                const char *m = memmem(p, (size_t)(end - p), "{{BIG}}", 7);
                size_t chunk = m ? (size_t)(m - p) : (size_t)(end - p);
                write_all(fd, p, chunk);
                if (!m)
                        break;
                if (!sent_big) /* one per input: each is 16 MiB */
                        write_all(fd, big, sizeof(big));
                sent_big = true;
                p = m + 7;
        }
        if (stop_midway)
                restart();
        /* Read until the server closes or stays silent for IDLE_MS (held requests
         * are answered within a few ms; a keep-alive connection stays open), 2 s at
         * most. The connection is then closed with whatever is still held or
         * unread: the "client went away" paths. */
        static char resp[1 << 16];
        size_t len = 0;
        struct timespec t0;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        for (;;) {
                struct pollfd pf = {.fd = fd, .events = POLLIN};
                int pr = poll(&pf, 1, IDLE_MS);
                struct timespec t1;
                clock_gettime(CLOCK_MONOTONIC, &t1);
                if (pr < 0 && errno == EINTR && t1.tv_sec - t0.tv_sec < 2)
                        continue; /* a fuzzer timer, not the server */
                if (pr <= 0 || t1.tv_sec - t0.tv_sec >= 2)
                        break;
                char tmp[8192];
                ssize_t n = fuzz_read(fd, tmp, sizeof(tmp));
                if (n <= 0)
                        break;
                size_t k = (size_t)n < sizeof(resp) - 1 - len ? (size_t)n : sizeof(resp) - 1 - len;
                memcpy(resp + len, tmp, k);
                len += k;
        }
        close(fd);
        resp[len] = '\0';
        if (getenv("FUZZ_HTTP_TRACE")) { /* where the time goes, per input */
                struct timespec t2;
                clock_gettime(CLOCK_MONOTONIC, &t2);
                fprintf(stderr, "fuzz_http: %lld ms, %zu bytes back: %.40s\n",
                        (long long)((t2.tv_sec - t0.tv_sec) * 1000 + (t2.tv_nsec - t0.tv_nsec) / 1000000), len, resp);
        }
        if (len > 0 && !(len >= 12 && strncmp(resp, "HTTP/1.", 7) == 0 && resp[8] == ' ')) {
                fprintf(stderr, "fuzz_http: the answer does not start with a status line: %.200s\n", resp);
                abort();
        }
        /* A body over 16 MiB never reaches the handler (it is answered 413). */
        for (const char *b = resp; sent_big && (b = strstr(b, "\"Body\":")); b += 7) {
                if (strtoull(b + 7, NULL, 10) > 16u * 1024 * 1024) {
                        fprintf(stderr, "fuzz_http: a body over 16 MiB reached the handler: %.200s\n", resp);
                        abort();
                }
        }
        return 0;
}
