/* fuzz_agent_logs.c - libFuzzer target: the agent's log endpoint
 * (nodeagent/logs/log_api.c), a real listener on 127.0.0.1 over a data
 * directory built once with traps in it.
 *
 * Input: the first line is the request target, after "/v1/client/fs/logs/"
 * unless it starts with '/' ("{A}"/"{B}"/"{C}"/"{D}" stand for the allocation IDs
 * below); the next lines are extra request headers. The target and headers go out
 * as one GET with the node secret as X-Drover-Token (unless the input sends its
 * own) and "Connection: close"; the answer is read until the server closes.
 *
 * The data directory (alloc/<id>/alloc/logs/<task>.<type>.<n>):
 *   {A}: web.stdout.0..2 and web.stderr.0 (rotated, .web.logmeta says 16 bytes),
 *        evil.stdout.0 a symlink to a file outside, dir.stdout.0 a directory;
 *   {B}: alloc/logs is a symlink to a directory outside;
 *   {C}: alloc is a symlink to a directory outside;
 *   {D}: no such allocation.
 * Every file outside holds MARKER. Checked besides memory safety: the answer
 * starts with an HTTP status line; MARKER never comes back; a 200 carries
 * X-Drover-Log-Start <= X-Drover-Log-End and exactly End - Start bytes. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/error.h"
#include "common/log.h"
#include "nodeagent/logs/log_api.h"
#include "fuzz_sock.h"

#define MARKER "OUTSIDE-THE-ALLOCATION-7f3a"
#define SECRET "fuzz-node-secret"
static const char *const ids[] = {"11111111-1111-4111-8111-111111111111", "22222222-2222-4222-8222-222222222222",
                                  "33333333-3333-4333-8333-333333333333", "44444444-4444-4444-8444-444444444444"};

static char root[256];
static struct log_api *api;

static void put(const char *path, const char *text) {
        FILE *f = fopen(path, "w");
        if (!f || fputs(text, f) < 0 || fclose(f) != 0) {
                fprintf(stderr, "fuzz_agent_logs: cannot write %s\n", path);
                abort();
        }
}

/* mkdir root/<rel>, rel a printf format */
static void mkdirf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void mkdirf(const char *fmt, ...) {
        char rel[400], p[700];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(rel, sizeof(rel), fmt, ap);
        va_end(ap);
        snprintf(p, sizeof(p), "%s/%s", root, rel);
        if (mkdir(p, 0700) < 0 && errno != EEXIST)
                abort();
}

/* root/<link> -> root/<target> */
static void link_under(const char *target, const char *link) {
        char t[700], l[700];
        snprintf(t, sizeof(t), "%s/%s", root, target);
        snprintf(l, sizeof(l), "%s/%s", root, link);
        if (symlink(t, l) < 0)
                abort();
}

static void putf(const char *text, const char *fmt, const char *a, const char *b) {
        char rel[400], p[700];
        snprintf(rel, sizeof(rel), fmt, a, b);
        snprintf(p, sizeof(p), "%s/%s", root, rel);
        put(p, text);
}

static void init(void) {
        signal(SIGPIPE, SIG_IGN);
        log_set_level(LOG_LVL_ERROR);
        snprintf(root, sizeof(root), "/tmp/fuzz-agent-logs-XXXXXX");
        if (!mkdtemp(root))
                abort();
        const char *dirs[] = {"data", "data/alloc", "outside", "outside/logs", "outside/alloc-like",
                              "outside/alloc-like/logs"};
        for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++)
                mkdirf("%s", dirs[i]);
        putf(MARKER "\n", "outside/secret%s%s", "", "");
        const char *outside_logs[] = {"logs", "alloc-like/logs"};
        const char *traps[] = {"web.stdout.0", "web.stderr.0", ".web.logmeta", "evil.stdout.0"};
        for (int i = 0; i < 2; i++)
                for (int k = 0; k < 4; k++)
                        putf(k == 2 ? "1" : MARKER "\n", "outside/%s/%s", outside_logs[i], traps[k]);
        /* {A}: the real one, with traps inside */
        mkdirf("data/alloc/%s", ids[0]);
        mkdirf("data/alloc/%s/alloc", ids[0]);
        mkdirf("data/alloc/%s/alloc/logs", ids[0]);
        const char *logs[][2] = {{"web.stdout.0", "0123456789abcdef"},
                                 {"web.stdout.1", "ghijklmnopqrstuv"},
                                 {"web.stdout.2", "wxyz\n"},
                                 {"web.stderr.0", "error line\n"},
                                 {".web.logmeta", "16"}};
        for (size_t i = 0; i < sizeof(logs) / sizeof(logs[0]); i++)
                putf(logs[i][1], "data/alloc/%s/alloc/logs/%s", ids[0], logs[i][0]);
        char l[300];
        snprintf(l, sizeof(l), "data/alloc/%s/alloc/logs/evil.stdout.0", ids[0]);
        link_under("outside/secret", l);
        mkdirf("data/alloc/%s/alloc/logs/dir.stdout.0", ids[0]);
        /* {B}: alloc/logs leaves the allocation */
        mkdirf("data/alloc/%s", ids[1]);
        mkdirf("data/alloc/%s/alloc", ids[1]);
        snprintf(l, sizeof(l), "data/alloc/%s/alloc/logs", ids[1]);
        link_under("outside/logs", l);
        /* {C}: alloc leaves the allocation */
        mkdirf("data/alloc/%s", ids[2]);
        snprintf(l, sizeof(l), "data/alloc/%s/alloc", ids[2]);
        link_under("outside/alloc-like", l);
        char p[700];
        snprintf(p, sizeof(p), "%s/data", root);
        struct error err = {0};
        if (log_api_start("127.0.0.1:0", p, SECRET, &api, &err) < 0) {
                fprintf(stderr, "fuzz_agent_logs: %s\n", err.msg);
                abort();
        }
}

/* Append s to buf (bounded), with {A}..{D} replaced by the IDs. */
static size_t expand(char *buf, size_t len, size_t cap, const char *s, size_t n) {
        for (size_t i = 0; i < n && len + 40 < cap; i++) {
                if (i + 2 < n && s[i] == '{' && s[i + 1] >= 'A' && s[i + 1] <= 'D' && s[i + 2] == '}') {
                        len += (size_t)snprintf(buf + len, cap - len, "%s", ids[s[i + 1] - 'A']);
                        i += 2;
                        continue;
                }
                buf[len++] = s[i];
        }
        return len;
}

static unsigned long long header_num(const char *resp, const char *name) {
        const char *h = strcasestr(resp, name);
        return h ? strtoull(h + strlen(name), NULL, 10) : 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        static int ready;
        if (!ready) {
                init();
                ready = 1;
        }
        if (size > 8192)
                return 0;
        const char *in = (const char *)data, *nl = memchr(in, '\n', size);
        size_t first = nl ? (size_t)(nl - in) : size;
        static char req[32768];
        size_t len = (size_t)snprintf(req, sizeof(req), "GET ");
        if (first == 0 || in[0] != '/')
                len += (size_t)snprintf(req + len, sizeof(req) - len, "/v1/client/fs/logs/");
        len = expand(req, len, sizeof(req), in, first);
        len += (size_t)snprintf(req + len, sizeof(req) - len, " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n");
        const char *rest = nl ? nl + 1 : in + size;
        size_t rlen = (size_t)(in + size - rest);
        if (!memmem(rest, rlen, "X-Drover-Token", 14))
                len += (size_t)snprintf(req + len, sizeof(req) - len, "X-Drover-Token: " SECRET "\r\n");
        for (const char *l = rest; l < in + size;) {
                const char *e = memchr(l, '\n', (size_t)(in + size - l));
                size_t n = e ? (size_t)(e - l) : (size_t)(in + size - l);
                len = expand(req, len, sizeof(req), l, n);
                len += (size_t)snprintf(req + len, sizeof(req) - len, "\r\n");
                l += n + 1;
        }
        len += (size_t)snprintf(req + len, sizeof(req) - len, "\r\n");

        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)log_api_port(api))};
        inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
        if (fd < 0 || fuzz_connect(fd, &sa) < 0) {
                fprintf(stderr, "fuzz_agent_logs: connect: %s\n", strerror(errno));
                abort();
        }
        for (size_t off = 0; off < len;) {
                ssize_t n = fuzz_write(fd, req + off, len - off);
                if (n <= 0)
                        break;
                off += (size_t)n;
        }
        shutdown(fd, SHUT_WR);
        static char resp[1 << 16];
        size_t rl = 0;
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        for (;;) {
                struct pollfd pf = {.fd = fd, .events = POLLIN};
                int pr = poll(&pf, 1, 100);
                clock_gettime(CLOCK_MONOTONIC, &t1);
                if (t1.tv_sec - t0.tv_sec > 5)
                        break;
                if (pr <= 0)
                        continue;
                ssize_t n = fuzz_read(fd, resp + rl, sizeof(resp) - 1 - rl);
                if (n <= 0)
                        break;
                rl += (size_t)n;
        }
        close(fd);
        resp[rl] = '\0';
        if (memmem(resp, rl, MARKER, strlen(MARKER))) {
                fprintf(stderr, "fuzz_agent_logs: a file outside the allocation was served for:\n%s\n---\n%s\n", req,
                        resp);
                abort();
        }
        if (rl > 0 && strncmp(resp, "HTTP/1.", 7) != 0) {
                fprintf(stderr, "fuzz_agent_logs: not an HTTP answer: %.200s\n", resp);
                abort();
        }
        const char *body = strstr(resp, "\r\n\r\n");
        if (strncmp(resp, "HTTP/1.1 200", 12) == 0 && body && strcasestr(resp, "X-Drover-Log-End:") &&
            !strstr(resp, "Transfer-Encoding")) {
                unsigned long long start = header_num(resp, "X-Drover-Log-Start:"),
                                   end = header_num(resp, "X-Drover-Log-End:");
                size_t blen = rl - (size_t)(body + 4 - resp);
                if (start > end || blen != end - start) {
                        fprintf(stderr, "fuzz_agent_logs: start %llu, end %llu, %zu bytes for:\n%s\n", start, end,
                                blen, req);
                        abort();
                }
        }
        return 0;
}
