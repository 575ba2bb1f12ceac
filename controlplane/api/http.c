/* http.c - libmicrohttpd on its own thread, handlers on the libuv loop.
 *
 * libmicrohttpd runs in "external polling" mode, driven by a thread of ours
 * (common/mhd_loop.h, which says why): all its work - accepting, reading, its own
 * error answers, the callbacks on_connection, on_request, on_completed and
 * stream_read - happens in MHD_run there. http_server_destroy stops that thread
 * before MHD_stop_daemon, so libmicrohttpd never processes a connection while it
 * is stopping (tests/fuzz/regressions/fuzz_http). */
#include "controlplane/api/http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <limits.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "common/clock.h"
#include "common/dlist.h"
#include "common/error.h"
#include "common/limits.h"
#include "common/log.h"
#include "common/mhd_loop.h"
#include "common/tls.h"

/* REQ_ASKING: a large_body route's body passed LIMIT_HTTP_BODY; the connection
 * waits, suspended, for the loop's body_limit (http.h), then reads on. */
enum req_state { REQ_READING, REQ_ASKING, REQ_QUEUED, REQ_ANSWERED, REQ_STREAMING };

/* A streamed answer, shared by the loop thread (writes) and libmicrohttpd's
 * (reads): every field under lock. */
struct http_stream {
        pthread_mutex_t lock;
        char *buf;
        size_t head, len, cap; /* unsent bytes are buf[head, head + len) */
        bool ended;            /* the handler is done: close once drained */
        bool suspended;        /* the reader found nothing and suspended the connection */
        bool mhd_done;         /* libmicrohttpd is done with the request */
        bool loop_done;        /* the handler will not touch the request again */
        http_stream_close_fn on_close;
        void *close_data;
};

/* A request of this transport: what handlers see (http_req.h) comes first. */
struct mhd_req {
        struct http_req req;
        struct http_server *srv;
        struct MHD_Connection *conn;
        char *method;
        char *path;
        char *body;
        size_t body_len;
        size_t body_cap; /* grows by doubling: exact-size reallocs copy O(n^2) bytes */
        size_t body_max; /* LIMIT_HTTP_BODY, or what body_limit granted (written before the resume) */
        bool asked;      /* body_limit was asked (once per request) */
        bool too_large;
        bool priority; /* a node agent's request: exempt from the flood bounds */
        bool parked;   /* counted in srv->parked until answered */
        /* Held by the handler (handed over by on_async, not yet answered): in
         * srv->held, loop thread only. */
        struct dlink held;
        /* Answered 503 by http_server_destroy while the handler held it: the
         * handler still owns the pointer, so libmicrohttpd does not free it; after
         * the daemon stops, conn and srv are NULL and the handler's own answer
         * (any http_req_respond_*) only frees it. */
        bool orphan;
        bool draining;   /* answered from the loop, not yet sent: counted in srv->draining */
        int deny_status; /* non-zero: answered at once from the MHD thread */
        char deny_msg[200];
        int64_t body_start_ns; /* first body byte, for body_timeout_s */
        /* In srv->reading_* (MHD's thread only) from its complete headers until its body
         * is complete, it asks for a larger cap or it ends: closed by sweep_reading when
         * the body is not complete within body_timeout_s of the headers. */
        struct dlink reading;
        int64_t headers_ns;
        /* A write's times (CLOCK_MONOTONIC), for the debug log of its answer: whole
         * (queued for the loop by libmicrohttpd's thread), handed to the handler. */
        int64_t queued_ns, handled_ns;
        enum req_state state;
        struct mhd_req *next; /* inbound queue */
        /* the answer */
        int status;
        char *resp;
        size_t resp_len;
        const char *content_type;
        uint64_t index;
        struct http_stream *stream;    /* state REQ_STREAMING */
        bool stream_queued;            /* its callback response is queued */
        struct dlink streaming; /* in srv->streams until libmicrohttpd is done with it */
};

struct http_server {
        struct MHD_Daemon *mhd;
        struct mhd_loop *mloop; /* libmicrohttpd's only thread */
        uv_async_t async;
        bool async_open;
        pthread_mutex_t lock;
        struct mhd_req *head, *tail; /* queued for the loop */
        struct mhd_req *closed;      /* streams the client left, for the loop's on_close */
        struct dlist streams;        /* streams libmicrohttpd still serves (destroy resumes them); under lock */
        struct dlist held;           /* handed to the handler, not answered; loop thread only */
        bool stopping;               /* under lock: destroy began, nothing more is queued */
        atomic_uint draining;        /* answered from the loop, not yet completed by libmicrohttpd */
        http_handler_fn handler;
        void *data;
        int port;
        struct http_server_opts o; /* limits with defaults filled; addr and tls not kept */
        bool verify_client;
        struct tls_pems pems; /* libmicrohttpd keeps pointers to these */
        atomic_uint conns;    /* open connections */
        /* Connections not in a request and not yet given the short timeout, oldest
         * first: under pressure the oldest are evicted. MHD's thread only. */
        struct dlist idle;
        struct dlist fresh;   /* accept order */
        struct dlist reading; /* headers order */
        atomic_uint parked;                          /* blocking queries queued for or held by the loop */
        atomic_uint_fast64_t refused;
        atomic_int_fast64_t warned_ns;       /* when refusals were last logged */
        atomic_uint_fast64_t warned_refused; /* refused at that time */
};

#define REFUSED_LOG_INTERVAL_NS (10 * 1000000000LL)

/* Count a refusal (flood bounds, timeouts, a client certificate missing or
 * rejected); at most one warning per 10 s says how many and the last reason. */
static void count_refused(struct http_server *s, const char *why) {
        uint64_t total = atomic_fetch_add(&s->refused, 1) + 1;
        int64_t now = clock_monotonic_ns(), last = atomic_load(&s->warned_ns);
        if (now - last < REFUSED_LOG_INTERVAL_NS || !atomic_compare_exchange_strong(&s->warned_ns, &last, now))
                return;
        uint64_t before = atomic_exchange(&s->warned_refused, total);
        log_warn("http: %llu connections or requests refused (flood bounds, timeouts, client certificates) since "
                 "the last report; last: %s",
                 (unsigned long long)(total - before), why);
}

/* Per connection (its socket_context), touched on libmicrohttpd's thread only
 * (its mhd_loop; the loop thread inside MHD_stop_daemon, after that ended). */
struct conn_info {
        struct MHD_Connection *conn;
        struct dlink idle; /* in srv->idle while listed */
        bool reserve;   /* accepted beyond max_conns: node agents only */
        bool shortened; /* given HTTP_RESERVED_TIMEOUT_S */
        /* In srv->fresh from accept until its first request's headers are complete. */
        struct dlink fresh;
        int64_t accepted_ns;
};

static struct conn_info *oldest_fresh(struct http_server *s) {
        return dlist_first(&s->fresh, struct conn_info, fresh);
}

static struct conn_info *oldest_idle(struct http_server *s) {
        return dlist_first(&s->idle, struct conn_info, idle);
}

static struct mhd_req *oldest_reading(struct http_server *s) {
        return dlist_first(&s->reading, struct mhd_req, reading);
}

/* Shut conn's socket down (libmicrohttpd then sees the end and frees it) and count
 * the refusal, why being the reason logged. */
static void cut_off(struct http_server *s, struct MHD_Connection *conn, const char *why) {
        const union MHD_ConnectionInfo *fi = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        if (fi) {
                shutdown(fi->connect_fd, SHUT_RDWR);
                count_refused(s, why);
        }
}

/* Close the oldest connections still without complete headers after
 * header_timeout_s. */
static void sweep_fresh(struct http_server *s, int64_t now) {
        int64_t limit = (int64_t)s->o.header_timeout_s * 1000000000LL;
        struct conn_info *c;
        for (int i = 0; i < 16 && (c = oldest_fresh(s)) && now - c->accepted_ns > limit; i++) {
                dlist_unlink(&s->fresh, &c->fresh);
                cut_off(s, c->conn, "request headers not complete within the header timeout");
        }
}

static void reading_append(struct http_server *s, struct mhd_req *r) {
        r->headers_ns = clock_monotonic_ns();
        dlist_append(&s->reading, &r->reading);
}

/* Close the requests whose body is not complete within body_timeout_s of their
 * headers. The check as body bytes arrive (on_request) misses a body that stops,
 * and one libmicrohttpd cannot go on with: a chunk-size line longer than its read
 * buffer (it then runs the connection without reading, common/mhd_loop.c). */
static void sweep_reading(struct http_server *s, int64_t now) {
        int64_t limit = (int64_t)s->o.body_timeout_s * 1000000000LL;
        struct mhd_req *r;
        while ((r = oldest_reading(s)) && now - r->headers_ns > limit) {
                dlist_unlink(&s->reading, &r->reading);
                cut_off(s, r->conn, "request body not complete within the body timeout");
                /* libmicrohttpd sees the shutdown only when it reads, which it does not
                 * while its buffer is full: its idle timeout closes the connection then. */
                MHD_set_connection_option(r->conn, MHD_CONNECTION_OPTION_TIMEOUT, 1u);
        }
}

static void idle_append(struct http_server *s, struct conn_info *c) {
        if (!c->shortened)
                dlist_append(&s->idle, &c->idle);
}

static void shorten(struct http_server *s, struct conn_info *c) {
        dlist_unlink(&s->idle, &c->idle);
        c->shortened = true;
        MHD_set_connection_option(c->conn, MHD_CONNECTION_OPTION_TIMEOUT, (unsigned)HTTP_RESERVED_TIMEOUT_S);
}

/* Beyond max_conns + reserved_conns: close at once the oldest connection that
 * has not sent a request yet, else the oldest idle one, else the newcomer. The
 * count stays at the bound, so libmicrohttpd never reaches its own limit (there
 * it stops accepting, and an agent's new connection would wait in the kernel's
 * accept queue behind the whole flood): a newcomer - a heartbeat among them -
 * is accepted at once and takes the place of the oldest silent client. */
static void evict_one(struct http_server *s, struct conn_info *newcomer) {
        struct conn_info *v = oldest_fresh(s), *idle = oldest_idle(s);
        if (v == newcomer)
                v = NULL;
        if (!v)
                v = idle && idle != newcomer ? idle : newcomer;
        dlist_unlink(&s->fresh, &v->fresh);
        dlist_unlink(&s->idle, &v->idle);
        v->shortened = true; /* never listed again */
        cut_off(s, v->conn,
                v == newcomer ? "connection limit reached and no idle connection to close"
                              : "connection limit reached: closed the oldest idle connection");
}

static struct conn_info *conn_info_of(struct MHD_Connection *conn) {
        const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
        return ci ? ci->socket_context : NULL;
}

_Static_assert(offsetof(struct mhd_req, req) == 0, "struct http_req comes first");

static struct mhd_req *mhd_of(const struct http_req *req) {
        return (struct mhd_req *)req;
}

/* An orphan (see struct mhd_req) has no connection left: no arguments, no headers. */
static const char *mhd_query(const struct http_req *req, const char *key) {
        const struct mhd_req *r = mhd_of(req);
        return r->conn ? MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, key) : NULL;
}
static const char *mhd_header(const struct http_req *req, const char *key) {
        const struct mhd_req *r = mhd_of(req);
        return r->conn ? MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, key) : NULL;
}

static void req_free(struct mhd_req *r);

/* Hand a suspended connection back to libmicrohttpd: r may be gone once this
 * returns. In external polling mode libmicrohttpd acts on a resume only in its
 * next MHD_run (microhttpd.h, MHD_resume_connection), hence the wake. */
static void resume(struct mhd_req *r) {
        struct http_server *s = r->srv;
        MHD_resume_connection(r->conn);
        mhd_loop_wake(s->mloop);
}

static void answer(struct mhd_req *r, int status, char *buf, size_t len, const char *ctype, uint64_t index) {
        if (r->orphan && !r->conn) { /* the server answered it when it stopped: the handler lets go */
                free(buf);
                req_free(r);
                return;
        }
        if (r->state == REQ_ANSWERED || r->state == REQ_STREAMING) {
                free(buf);
                return;
        }
        dlist_unlink(&r->srv->held, &r->held);
        if (r->parked) {
                r->parked = false;
                atomic_fetch_sub(&r->srv->parked, 1);
        }
        r->status = status;
        r->resp = buf;
        r->resp_len = len;
        r->content_type = ctype;
        r->index = index;
        r->state = REQ_ANSWERED;
        if (r->handled_ns && r->method && strcmp(r->method, "GET") != 0) {
                int64_t now = clock_monotonic_ns();
                log_debug("http: %s %s: %d after %.2f ms waiting for the loop and %.2f ms handled", r->method,
                          r->path ? r->path : "?", status, (double)(r->handled_ns - r->queued_ns) / 1e6,
                          (double)(now - r->handled_ns) / 1e6);
        }
        r->draining = true; /* destroy waits for answers on their way out */
        atomic_fetch_add(&r->srv->draining, 1);
        resume(r); /* r belongs to MHD again from here */
}

static void mhd_answer(struct http_req *req, int status, char *buf, size_t len, const char *ctype, uint64_t index) {
        answer(mhd_of(req), status, buf, len, ctype, index);
}

struct qs {
        char *buf;
        size_t len, cap;
        bool failed;
};

static void qs_put(struct qs *q, const char *s, bool escape) {
        for (; *s && !q->failed; s++) {
                if (q->len + 4 >= q->cap) {
                        size_t cap = q->cap ? q->cap * 2 : 128;
                        char *n = realloc(q->buf, cap);
                        if (!n) {
                                q->failed = true;
                                return;
                        }
                        q->buf = n;
                        q->cap = cap;
                }
                unsigned char c = (unsigned char)*s;
                if (!escape || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
                    c == '_' || c == '.' || c == '~')
                        q->buf[q->len++] = (char)c;
                else
                        q->len += (size_t)snprintf(q->buf + q->len, 4, "%%%02X", c);
        }
}

static enum MHD_Result add_arg(void *cls, enum MHD_ValueKind kind, const char *key, const char *value) {
        struct qs *q = cls;
        (void)kind;
        if (q->len)
                qs_put(q, "&", false);
        qs_put(q, key, true);
        if (value) {
                qs_put(q, "=", false);
                qs_put(q, value, true);
        }
        return MHD_YES;
}

struct key_probe {
        const char *key;
        bool found;
};

static enum MHD_Result probe_key(void *cls, enum MHD_ValueKind kind, const char *key, const char *value) {
        struct key_probe *p = cls;
        (void)kind;
        (void)value;
        if (strcmp(key, p->key) != 0)
                return MHD_YES;
        p->found = true;
        return MHD_NO;
}

struct values_probe {
        const char *key;
        const char **out;
        size_t n, max;
};

static enum MHD_Result collect_values(void *cls, enum MHD_ValueKind kind, const char *key, const char *value) {
        struct values_probe *p = cls;
        (void)kind;
        if (strcmp(key, p->key) != 0)
                return MHD_YES;
        if (p->n < p->max)
                p->out[p->n] = value ? value : "";
        p->n++;
        return MHD_YES;
}

static size_t mhd_query_values(const struct http_req *req, const char *key, const char **ret, size_t max) {
        const struct mhd_req *r = mhd_of(req);
        struct values_probe p = {.key = key, .out = ret, .max = max};
        if (!r->conn)
                return 0;
        MHD_get_connection_values(r->conn, MHD_GET_ARGUMENT_KIND, collect_values, &p);
        return p.n;
}

static bool mhd_has_query(const struct http_req *req, const char *key) {
        const struct mhd_req *r = mhd_of(req);
        struct key_probe p = {.key = key};
        if (!r->conn)
                return false;
        MHD_get_connection_values(r->conn, MHD_GET_ARGUMENT_KIND, probe_key, &p);
        return p.found;
}

static char *mhd_query_string(const struct http_req *req) {
        const struct mhd_req *r = mhd_of(req);
        struct qs q = {0};
        if (!r->conn)
                return strdup("");
        MHD_get_connection_values(r->conn, MHD_GET_ARGUMENT_KIND, add_arg, &q);
        if (q.failed) {
                free(q.buf);
                return NULL;
        }
        if (!q.buf)
                return strdup("");
        q.buf[q.len] = '\0';
        return q.buf;
}

static void req_free(struct mhd_req *r) {
        if (r->stream) {
                pthread_mutex_destroy(&r->stream->lock);
                free(r->stream->buf);
                free(r->stream);
        }
        free(r->method);
        free(r->path);
        free(r->body);
        free(r->resp);
        free(r);
}

/* Streams libmicrohttpd is done with: tell their handlers (unless they ended
 * them meanwhile) and free them. Loop thread. */
static void run_closed(struct http_server *s) {
        pthread_mutex_lock(&s->lock);
        struct mhd_req *list = s->closed;
        s->closed = NULL;
        pthread_mutex_unlock(&s->lock);
        while (list) {
                struct mhd_req *r = list;
                list = r->next;
                struct http_stream *st = r->stream;
                pthread_mutex_lock(&st->lock);
                bool tell = !st->loop_done;
                st->loop_done = true;
                pthread_mutex_unlock(&st->lock);
                if (tell && st->on_close)
                        st->on_close(st->close_data);
                req_free(r);
        }
}

/* Loop thread: the cap of r's body (a large_body route past LIMIT_HTTP_BODY), from
 * the handler's body_limit, then r reads on (its pending bytes come again). */
static void grant_body(struct http_server *s, struct mhd_req *r) {
        size_t cap = s->o.body_limit ? s->o.body_limit(s->data, &r->req) : 0;
        pthread_mutex_lock(&s->lock);
        r->body_max = cap > LIMIT_HTTP_BODY ? cap : LIMIT_HTTP_BODY;
        r->state = REQ_READING;
        pthread_mutex_unlock(&s->lock);
        resume(r);
}

static void on_async(uv_async_t *h) {
        struct http_server *s = h->data;
        run_closed(s);
        for (;;) {
                pthread_mutex_lock(&s->lock);
                struct mhd_req *r = s->head;
                if (r) {
                        s->head = r->next;
                        if (!s->head)
                                s->tail = NULL;
                }
                pthread_mutex_unlock(&s->lock);
                if (!r)
                        break;
                r->next = NULL;
                if (r->state == REQ_ASKING) { /* not the handler's yet: its cap, then it reads on */
                        grant_body(s, r);
                        continue;
                }
                dlist_append(&s->held, &r->held); /* until answered or streamed */
                r->handled_ns = clock_monotonic_ns();
                if (r->too_large)
                        http_req_respond_text(&r->req, 413, "request body larger than %zu bytes", r->body_max);
                else
                        s->handler(s->data, &r->req);
        }
}

/* ---- streamed answers ---- */

static int mhd_stream_begin(struct http_req *req, int status, const char *content_type, size_t max_buffered,
                            http_stream_close_fn on_close, void *data) {
        struct mhd_req *r = mhd_of(req);
        if (r->state != REQ_QUEUED)
                return -EINVAL;
        struct http_stream *st = calloc(1, sizeof(*st));
        if (!st)
                return -ENOMEM;
        st->cap = max_buffered ? max_buffered : HTTP_STREAM_MAX_BUFFER;
        st->buf = malloc(st->cap + HTTP_STREAM_MAX_TAIL);
        if (!st->buf) {
                free(st);
                return -ENOMEM;
        }
        pthread_mutex_init(&st->lock, NULL);
        st->on_close = on_close;
        st->close_data = data;
        dlist_unlink(&r->srv->held, &r->held); /* destroy ends it with the other streams */
        if (r->parked) { /* a stream is not a blocking query: it holds no parked slot */
                r->parked = false;
                atomic_fetch_sub(&r->srv->parked, 1);
        }
        r->stream = st;
        pthread_mutex_lock(&r->srv->lock);
        dlist_append(&r->srv->streams, &r->streaming);
        pthread_mutex_unlock(&r->srv->lock);
        r->status = status;
        r->content_type = content_type;
        r->state = REQ_STREAMING;
        resume(r); /* on_request queues the callback response */
        return 0;
}

/* Append under st->lock; HTTP_STREAM_MAX_TAIL bytes are kept beyond cap for the tail. */
static void stream_put(struct http_stream *st, const void *buf, size_t len) {
        if (st->head && st->head + st->len + len > st->cap + HTTP_STREAM_MAX_TAIL) {
                memmove(st->buf, st->buf + st->head, st->len);
                st->head = 0;
        }
        memcpy(st->buf + st->head + st->len, buf, len);
        st->len += len;
}

/* Under st->lock: a reader waiting for bytes goes on. */
static void stream_wake(struct mhd_req *r) {
        struct http_stream *st = r->stream;
        if (st->suspended && !st->mhd_done) {
                st->suspended = false;
                resume(r);
        }
}

static int mhd_stream_write(struct http_req *req, const void *buf, size_t len) {
        struct mhd_req *r = mhd_of(req);
        struct http_stream *st = r->stream;
        if (!st)
                return -EINVAL;
        pthread_mutex_lock(&st->lock);
        int rc = 0;
        if (st->mhd_done || st->ended)
                rc = -EPIPE;
        else if (len > st->cap - st->len)
                rc = -EAGAIN;
        else if (len) {
                stream_put(st, buf, len);
                stream_wake(r);
        }
        pthread_mutex_unlock(&st->lock);
        return rc;
}

static void mhd_stream_end(struct http_req *req, const void *tail, size_t tail_len) {
        struct mhd_req *r = mhd_of(req);
        struct http_stream *st = r->stream;
        if (!st)
                return;
        pthread_mutex_lock(&st->lock);
        if (!st->mhd_done && !st->ended && tail && tail_len) {
                if (tail_len > HTTP_STREAM_MAX_TAIL)
                        tail_len = HTTP_STREAM_MAX_TAIL;
                stream_put(st, tail, tail_len);
        }
        st->ended = true;
        st->loop_done = true; /* r is freed by on_completed, or by run_closed when queued there already */
        stream_wake(r);
        pthread_mutex_unlock(&st->lock);
}

static size_t mhd_stream_buffered(struct http_req *req) {
        struct mhd_req *r = mhd_of(req);
        struct http_stream *st = r->stream;
        if (!st)
                return 0;
        pthread_mutex_lock(&st->lock);
        size_t n = st->len;
        pthread_mutex_unlock(&st->lock);
        return n;
}

/* libmicrohttpd's thread: the next bytes of the body, or suspend until there are. */
static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max) {
        struct mhd_req *r = cls;
        struct http_stream *st = r->stream;
        (void)pos;
        pthread_mutex_lock(&st->lock);
        ssize_t n;
        if (st->len) {
                size_t k = st->len < max ? st->len : max;
                memcpy(buf, st->buf + st->head, k);
                st->head += k;
                st->len -= k;
                if (!st->len)
                        st->head = 0;
                n = (ssize_t)k;
        } else if (st->ended) {
                n = MHD_CONTENT_READER_END_OF_STREAM;
        } else {
                st->suspended = true;
                MHD_suspend_connection(r->conn); /* resumed by the next write or the end */
                n = 0;
        }
        pthread_mutex_unlock(&st->lock);
        return n;
}

static enum MHD_Result send_stream(struct mhd_req *r) {
        struct MHD_Response *resp =
            MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 32 * 1024, stream_read, r, NULL);
        if (!resp)
                return MHD_NO;
        MHD_add_response_header(resp, "Content-Type", r->content_type ? r->content_type : "application/json");
        enum MHD_Result ret = MHD_queue_response(r->conn, (unsigned)r->status, resp);
        MHD_destroy_response(resp);
        return ret;
}

static enum MHD_Result send_answer(struct mhd_req *r) {
        struct MHD_Response *resp =
            MHD_create_response_from_buffer(r->resp_len, r->resp ? r->resp : (char *)"", MHD_RESPMEM_MUST_COPY);
        if (!resp)
                return MHD_NO;
        MHD_add_response_header(resp, "Content-Type", r->content_type ? r->content_type : "text/plain");
        if (r->index) {
                char buf[32];
                snprintf(buf, sizeof(buf), "%llu", (unsigned long long)r->index);
                MHD_add_response_header(resp, "X-Nomad-Index", buf);
                MHD_add_response_header(resp, "X-Nomad-KnownLeader", r->req.leader_known ? "true" : "false");
                snprintf(buf, sizeof(buf), "%llu", (unsigned long long)r->req.last_contact_ms);
                MHD_add_response_header(resp, "X-Nomad-LastContact", buf);
        }
        if (r->req.next_token[0])
                MHD_add_response_header(resp, "X-Nomad-NextToken", r->req.next_token);
        enum MHD_Result ret = MHD_queue_response(r->conn, (unsigned)r->status, resp);
        MHD_destroy_response(resp);
        return ret;
}

bool http_path_is_node_agent(const char *method, const char *path) {
        if (strcmp(path, "/v1/node/register") == 0)
                return strcmp(method, "PUT") == 0 || strcmp(method, "POST") == 0;
        if (strncmp(path, "/v1/node/", 9) != 0)
                return false;
        const char *id = path + 9, *slash = strchr(id, '/');
        if (!slash || slash == id)
                return false;
        const char *what = slash + 1;
        if (strcmp(what, "heartbeat") == 0 || strcmp(what, "allocations/batch") == 0)
                return strcmp(method, "PUT") == 0 || strcmp(method, "POST") == 0;
        return strcmp(what, "allocations") == 0 &&
               (strcmp(method, "GET") == 0 || strcmp(method, "PUT") == 0 || strcmp(method, "POST") == 0);
}

uint64_t http_server_refused(const struct http_server *s) {
        return atomic_load(&((struct http_server *)s)->refused);
}

/* A held request's connection is suspended: libmicrohttpd neither reads nor closes
 * it until the answer resumes it, so the loop may look at its socket. POLLRDHUP: the
 * client shut its side (closed, or died and the kernel closed it), bytes still
 * unread (a TLS alert, a pipelined request) or not. */
static bool mhd_client_gone(const struct http_req *req) {
        const struct mhd_req *r = mhd_of(req);
        if (!r->held.listed || r->orphan || !r->conn)
                return false;
        const union MHD_ConnectionInfo *ci = MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        if (!ci || ci->connect_fd < 0)
                return false;
        struct pollfd p = {.fd = ci->connect_fd, .events = POLLRDHUP};
        return poll(&p, 1, 0) == 1 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR));
}

static const struct http_req_ops mhd_req_ops = {
    .query = mhd_query,
    .query_values = mhd_query_values,
    .has_query = mhd_has_query,
    .query_string = mhd_query_string,
    .header = mhd_header,
    .client_gone = mhd_client_gone,
    .answer = mhd_answer,
    .stream_begin = mhd_stream_begin,
    .stream_write = mhd_stream_write,
    .stream_end = mhd_stream_end,
    .stream_buffered = mhd_stream_buffered,
};

static void deny(struct mhd_req *r, int status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void deny(struct mhd_req *r, int status, const char *fmt, ...) {
        if (r->deny_status)
                return;
        r->deny_status = status;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(r->deny_msg, sizeof(r->deny_msg), fmt, ap);
        va_end(ap);
        count_refused(r->srv, r->deny_msg);
}

/* First call for a request: who may go on. */
static void admit(struct http_server *s, struct mhd_req *r, struct MHD_Connection *conn) {
        if (s->verify_client) {
                const union MHD_ConnectionInfo *ti = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_GNUTLS_SESSION);
                struct error err = {0};
                if (tls_peer_verify(ti ? ti->tls_session : NULL, &err) < 0) {
                        deny(r, 403,
                             "%s; this server verifies HTTPS clients (verify_https_client): present a "
                             "certificate signed by its CA (-client-cert, -client-key)",
                             err.msg);
                        return;
                }
        }
        if (s->o.agents_only && !http_path_is_node_agent(r->method, r->path)) {
                deny(r, 404,
                     "%s %.64s: this listener (-agent-addr) serves node agents only (register, "
                     "heartbeat, allocations); use the HTTP API address (-http-addr)",
                     r->method, r->path);
                return;
        }
        if (r->priority)
                return;
        const struct conn_info *ci = conn_info_of(conn);
        if (ci && ci->reserve)
                deny(r, 503,
                     "server busy: more than %u connections open (the rest are kept for node agents); retry "
                     "later",
                     s->o.max_conns);
}

static enum MHD_Result answer_now(struct mhd_req *r) {
        r->status = r->deny_status;
        r->resp = strdup(r->deny_msg);
        r->resp_len = r->resp ? strlen(r->resp) : 0;
        r->content_type = "text/plain; charset=utf-8";
        r->state = REQ_ANSWERED;
        return send_answer(r);
}

/* MHD thread, s->lock held (released here): suspend r's connection and queue r
 * for the loop (on_async). */
static void suspend_for_loop(struct http_server *s, struct mhd_req *r) {
        MHD_suspend_connection(r->conn);
        if (s->tail)
                s->tail->next = r;
        else
                s->head = r;
        s->tail = r;
        pthread_mutex_unlock(&s->lock);
        uv_async_send(&s->async);
}

/* MHD thread: r's body passed LIMIT_HTTP_BODY on a large_body route: suspend r
 * (its pending bytes not consumed) and queue it for the loop's grant_body. False
 * at shutdown: nobody would answer, so it is simply too large. */
static bool ask_body_limit(struct http_server *s, struct mhd_req *r) {
        r->asked = true;
        dlist_unlink(&s->reading, &r->reading); /* granted: HTTP_LARGE_BODY_TIMEOUT_S, checked as bytes arrive */
        pthread_mutex_lock(&s->lock);
        if (s->stopping) {
                pthread_mutex_unlock(&s->lock);
                return false;
        }
        r->state = REQ_ASKING;
        suspend_for_loop(s, r);
        return true;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                                  const char *version, const char *upload_data, size_t *upload_data_size,
                                  void **con_cls) {
        struct http_server *s = cls;
        struct mhd_req *r = *con_cls;
        if (!r) {
                r = calloc(1, sizeof(*r));
                if (!r)
                        return MHD_NO;
                r->srv = s;
                r->conn = conn;
                r->req.ops = &mhd_req_ops;
                r->req.verified = s->verify_client; /* admit() refuses every other request */
                r->method = strdup(method);
                r->path = strdup(url);
                r->body_max = LIMIT_HTTP_BODY;
                *con_cls = r;
                if (!r->method || !r->path)
                        return MHD_NO;
                r->req.method = r->method;
                r->req.path = r->path;
                /* On an agents-only listener every client is an agent: none is exempt. */
                r->priority = !s->o.agents_only && http_path_is_node_agent(method, url);
                struct conn_info *ci = conn_info_of(conn);
                if (ci) {
                        dlist_unlink(&s->idle, &ci->idle); /* busy: not evictable until its answer is sent */
                        dlist_unlink(&s->fresh, &ci->fresh);
                }
                admit(s, r, conn);
                reading_append(s, r);
                return MHD_YES;
        }
        if (r->state == REQ_READING && *upload_data_size > 0) {
                int64_t now = clock_monotonic_ns();
                /* a granted large body (http.h: large_body) has HTTP_LARGE_BODY_TIMEOUT_S */
                unsigned timeout_s = r->body_max > LIMIT_HTTP_BODY ? HTTP_LARGE_BODY_TIMEOUT_S : s->o.body_timeout_s;
                if (!r->body_start_ns)
                        r->body_start_ns = now;
                else if (now - r->body_start_ns > (int64_t)timeout_s * 1000000000LL) {
                        count_refused(s, "request body not complete within the body timeout");
                        return MHD_NO; /* a body trickling in for longer than body_timeout_s: cut off */
                }
                if (r->deny_status) {
                        /* discarded: the answer is already decided */
                } else if (!r->too_large && r->body_len + *upload_data_size > r->body_max) {
                        if (!r->asked && s->o.large_body && s->o.large_body(r->method, r->path) && ask_body_limit(s, r))
                                return MHD_YES; /* these bytes come again after the resume */
                        r->too_large = true;
                } else if (!r->too_large) {
                        size_t need = r->body_len + *upload_data_size + 1;
                        if (need > r->body_cap) {
                                size_t cap = r->body_cap ? r->body_cap : 4096;
                                while (cap < need)
                                        cap *= 2;
                                char *nb = realloc(r->body, cap);
                                if (!nb)
                                        return MHD_NO;
                                r->body = nb;
                                r->body_cap = cap;
                        }
                        memcpy(r->body + r->body_len, upload_data, *upload_data_size);
                        r->body_len += *upload_data_size;
                        r->body[r->body_len] = '\0';
                }
                *upload_data_size = 0;
                return MHD_YES;
        }
        if (r->state == REQ_READING) {
                dlist_unlink(&s->reading, &r->reading); /* the body is complete */
                /* A blocking query (GET with ?index=N, N > 0) may be parked for minutes. */
                const char *idx = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "index");
                bool blocking = strcmp(r->method, "GET") == 0 && idx && *idx && strcmp(idx, "0") != 0;
                if (blocking && !r->deny_status && !r->priority && atomic_load(&s->parked) >= s->o.max_parked)
                        deny(r, 503, "server busy: %u blocking queries already waiting; retry later", s->o.max_parked);
                if (r->deny_status)
                        return answer_now(r);
                pthread_mutex_lock(&s->lock);
                if (s->stopping) { /* destroy took the queue already: nobody would answer */
                        pthread_mutex_unlock(&s->lock);
                        deny(r, 503, "server shutting down");
                        return answer_now(r);
                }
                r->state = REQ_QUEUED;
                r->req.body = r->body; /* complete: the handler's from here */
                r->req.body_len = r->body_len;
                if (blocking) {
                        r->parked = true;
                        atomic_fetch_add(&s->parked, 1);
                }
                r->queued_ns = clock_monotonic_ns();
                suspend_for_loop(s, r);
                return MHD_YES;
        }
        if (r->state == REQ_ANSWERED)
                return send_answer(r);
        if (r->state == REQ_STREAMING && !r->stream_queued) {
                r->stream_queued = true;
                return send_stream(r);
        }
        return MHD_YES;
}

/* mhd_loop's tick (MHD's thread): the header and body deadlines, without waiting
 * for the next connection or body bytes to notice them. */
static int on_tick(void *data) {
        struct http_server *s = data;
        if (dlist_empty(&s->fresh) && dlist_empty(&s->reading))
                return -1;
        int64_t now = clock_monotonic_ns();
        sweep_fresh(s, now);
        sweep_reading(s, now);
        int64_t next = INT64_MAX;
        struct conn_info *c = oldest_fresh(s);
        struct mhd_req *r = oldest_reading(s);
        if (c)
                next = c->accepted_ns + (int64_t)s->o.header_timeout_s * 1000000000LL;
        if (r && r->headers_ns + (int64_t)s->o.body_timeout_s * 1000000000LL < next)
                next = r->headers_ns + (int64_t)s->o.body_timeout_s * 1000000000LL;
        if (next == INT64_MAX)
                return -1;
        int64_t ms = (next - now) / 1000000 + 1; /* past the deadline, not at it */
        return ms < 0 ? 0 : ms > 60000 ? 60000 : (int)ms;
}

static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode code) {
        struct http_server *s = cls;
        if (code == MHD_CONNECTION_NOTIFY_STARTED) {
                unsigned n = atomic_fetch_add(&s->conns, 1) + 1;
                struct conn_info *c = calloc(1, sizeof(*c));
                if (!c)
                        return; /* served without flood accounting; closed by the idle timeout */
                c->conn = conn;
                *socket_context = c;
                c->accepted_ns = clock_monotonic_ns();
                sweep_fresh(s, c->accepted_ns);
                dlist_append(&s->fresh, &c->fresh);
                if (n <= s->o.max_conns) {
                        idle_append(s, c);
                        return;
                }
                /* Under pressure: the new connection must ask for something soon and only
                 * agents are served on it; the two oldest idle connections get the short
                 * timeout too, so that a flood of silent clients drains instead of filling
                 * every slot and the accept queue behind them. */
                c->reserve = true;
                shorten(s, c);
                struct conn_info *idle;
                for (int i = 0; i < 2 && (idle = oldest_idle(s)); i++)
                        shorten(s, idle);
                if (n > s->o.max_conns + s->o.reserved_conns)
                        evict_one(s, c);
        } else if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
                atomic_fetch_sub(&s->conns, 1);
                struct conn_info *c = *socket_context;
                if (c) {
                        dlist_unlink(&s->idle, &c->idle);
                        dlist_unlink(&s->fresh, &c->fresh);
                        free(c);
                        *socket_context = NULL;
                }
        }
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls, enum MHD_RequestTerminationCode t) {
        struct http_server *s = cls;
        struct conn_info *ci = conn_info_of(conn);
        if (ci && t == MHD_REQUEST_TERMINATED_COMPLETED_OK)
                idle_append(s, ci); /* kept alive for the next request: evictable again */
        struct mhd_req *r = *con_cls;
        if (!r)
                return;
        dlist_unlink(&s->reading, &r->reading);
        if (r->draining)
                atomic_fetch_sub(&s->draining, 1);
        if (r->orphan) { /* the handler still holds it: freed by its answer */
                *con_cls = NULL;
                return;
        }
        /* A request still queued or held by a handler is freed by whoever answers it. */
        if (r->state == REQ_QUEUED)
                return;
        if (r->state == REQ_STREAMING) {
                /* Freed here once the handler ended it; else the loop tells it first (run_closed). */
                struct http_stream *st = r->stream;
                pthread_mutex_lock(&st->lock);
                st->mhd_done = true;
                bool handler_done = st->loop_done;
                pthread_mutex_unlock(&st->lock);
                *con_cls = NULL;
                pthread_mutex_lock(&s->lock);
                dlist_unlink(&s->streams, &r->streaming);
                if (handler_done) {
                        pthread_mutex_unlock(&s->lock);
                        req_free(r);
                        return;
                }
                r->next = s->closed;
                s->closed = r;
                pthread_mutex_unlock(&s->lock);
                uv_async_send(&s->async);
                return;
        }
        req_free(r);
        *con_cls = NULL;
}

/* Descriptors for every connection the limits allow: the soft limit (often
 * 1024) is raised to the hard one (to want where the hard one is unlimited);
 * a hard limit below want is logged, as the flood bounds then cannot hold. */
static void raise_nofile(unsigned want) {
        struct rlimit rl;
        if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
                return;
        rlim_t cur = rl.rlim_cur, to = rl.rlim_max != RLIM_INFINITY ? rl.rlim_max : cur > want ? cur : want;
        if (to > cur) {
                rl.rlim_cur = to;
                if (setrlimit(RLIMIT_NOFILE, &rl) == 0)
                        log_debug("http: RLIMIT_NOFILE raised from %llu to %llu", (unsigned long long)cur,
                                  (unsigned long long)to);
                else
                        to = cur;
        }
        if (to < want)
                log_warn("http: RLIMIT_NOFILE is %llu, below the %u descriptors the connection bounds need; raise "
                         "the hard limit (ulimit -Hn, systemd's LimitNOFILE=) or lower -http-max-conns",
                         (unsigned long long)to, want);
}

/* libmicrohttpd's messages ("Server reached connection limit...") come once per
 * refused connection under a flood: debug level, not the operator's log. */
static void mhd_log(void *cls, const char *fmt, va_list ap) {
        struct http_server *s = cls;
        char buf[256];
        mhd_loop_log_line(buf, sizeof(buf), fmt, ap);
        log_debug("http: %s", buf);
        if (strstr(buf, "connection limit")) /* "Server reached (per-IP) connection limit..." */
                count_refused(s, buf);
}

#define DEF(f, d) (o->f ? o->f : (d))

int http_server_start(uv_loop_t *loop, const struct http_server_opts *o, http_handler_fn handler, void *data,
                      struct http_server **ret, struct error *err) {
        struct http_server *s = calloc(1, sizeof(*s));
        if (!s)
                return -ENOMEM;
        pthread_mutex_init(&s->lock, NULL);
        s->handler = handler;
        s->data = data;
        s->o.max_conns = DEF(max_conns, o->agents_only ? HTTP_AGENTS_DEFAULT_MAX_CONNS : HTTP_DEFAULT_MAX_CONNS);
        s->o.reserved_conns = DEF(reserved_conns, HTTP_DEFAULT_RESERVED_CONNS);
        s->o.max_conns_per_ip = o->max_conns_per_ip;
        s->o.idle_timeout_s = DEF(idle_timeout_s, HTTP_DEFAULT_IDLE_TIMEOUT_S);
        s->o.body_timeout_s = DEF(body_timeout_s, HTTP_DEFAULT_BODY_TIMEOUT_S);
        s->o.header_timeout_s = DEF(header_timeout_s, HTTP_DEFAULT_HEADER_TIMEOUT_S);
        s->o.agents_only = o->agents_only;
        s->o.large_body = o->large_body;
        s->o.body_limit = o->body_limit;
        s->o.max_parked = DEF(max_parked, o->agents_only ? HTTP_AGENTS_DEFAULT_MAX_PARKED : HTTP_DEFAULT_MAX_PARKED);
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)o->port)};
        if (inet_pton(AF_INET, o->addr, &sa.sin_addr) != 1) {
                http_server_destroy(s);
                return errorf(err, -EINVAL, "http: bad listen address \"%s\" (want an IPv4 address)", o->addr);
        }
        /* No MHD_USE_INTERNAL_POLLING_THREAD: an mhd_loop polls (see the top of this file). */
        unsigned flags = MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
        struct MHD_OptionItem tls_opts[4] = {{MHD_OPTION_END, 0, NULL}};
        if (o->tls && o->tls->http) {
                int r = tls_config_load(o->tls, &s->pems, err);
                if (r < 0) {
                        http_server_destroy(s);
                        return r;
                }
                s->verify_client = o->tls->verify_client;
                flags |= MHD_USE_TLS;
                size_t n = 0;
                tls_opts[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_KEY, 0, s->pems.key};
                tls_opts[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_CERT, 0, s->pems.cert};
                if (s->pems.ca) /* clients are asked for a certificate, checked in admit() */
                        tls_opts[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_TRUST, 0, s->pems.ca};
                tls_opts[n] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};
        }
        if (uv_async_init(loop, &s->async, on_async) < 0) {
                http_server_destroy(s);
                return errorf(err, -EIO, "http: uv_async_init failed");
        }
        s->async.data = s;
        s->async_open = true;
        /* libmicrohttpd's own limit, reached only while evicted connections are
         * still closing (evict_one keeps the count at max_conns + reserved_conns). */
        unsigned limit = s->o.max_conns + 2 * s->o.reserved_conns;
        raise_nofile(limit + 256);
        s->mhd =
            MHD_start_daemon(flags, (uint16_t)o->port, NULL, NULL, on_request, s, MHD_OPTION_SOCK_ADDR, &sa,
                             MHD_OPTION_NOTIFY_COMPLETED, on_completed, s, MHD_OPTION_NOTIFY_CONNECTION, on_connection,
                             s, MHD_OPTION_CONNECTION_TIMEOUT, s->o.idle_timeout_s, MHD_OPTION_CONNECTION_LIMIT, limit,
                             MHD_OPTION_PER_IP_CONNECTION_LIMIT, s->o.max_conns_per_ip,
                             /* SO_REUSEADDR: a restart binds again despite TIME_WAIT connections */
                             MHD_OPTION_LISTENING_ADDRESS_REUSE, (unsigned)1, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, s,
                             MHD_OPTION_ARRAY, tls_opts, MHD_OPTION_END);
        if (!s->mhd) {
                http_server_destroy(s);
                return errorf(err, -EADDRINUSE, "http: cannot listen on %s:%d (address in use or not permitted)",
                              o->addr, o->port);
        }
        const union MHD_DaemonInfo *info = MHD_get_daemon_info(s->mhd, MHD_DAEMON_INFO_BIND_PORT);
        s->port = info ? info->port : o->port;
        int r = mhd_loop_start(s->mhd, "http", on_tick, s, &s->mloop);
        if (r < 0) {
                http_server_destroy(s);
                return errorf(err, r, "http: cannot start the listener's thread");
        }
        *ret = s;
        return 0;
}

int http_server_create(uv_loop_t *loop, const char *addr, int port, http_handler_fn handler, void *data,
                       struct http_server **ret, struct error *err) {
        struct http_server_opts o = {.addr = addr, .port = port};
        return http_server_start(loop, &o, handler, data, ret, err);
}

int http_server_port(const struct http_server *s) {
        return s->port;
}

static void server_free(struct http_server *s) {
        mhd_loop_free(s->mloop);
        tls_pems_free(&s->pems);
        pthread_mutex_destroy(&s->lock);
        free(s);
}

static void on_async_closed(uv_handle_t *h) {
        server_free(h->data);
}

/* Answer r 503 at shutdown (loop thread, r suspended and not answered). A
 * request its handler holds becomes an orphan (see struct mhd_req). */
static void shutdown_answer(struct mhd_req *r, bool handler_holds) {
        r->orphan = handler_holds;
        char *msg = strdup("server shutting down");
        answer(r, 503, msg, msg ? strlen(msg) : 0, "text/plain; charset=utf-8", 0);
}

#define DRAIN_WAIT_NS (1000 * 1000000LL) /* how long destroy lets the 503s go out */

struct http_server *http_server_destroy(struct http_server *s) {
        if (!s)
                return NULL;
        struct mhd_req *orphans = NULL;
        if (s->mhd) {
                /* libmicrohttpd refuses to stop with connections suspended (it aborts):
                 * every request still suspended is answered and resumed first.
                 * - queued, not yet handed to the handler: 503, freed by libmicrohttpd;
                 * - held by a handler (a parked blocking query, a pending Raft apply
                 *   or forwarded call): 503, kept for the handler, whose later answer
                 *   only frees it;
                 * - streams waiting for bytes end now (their handlers hear of it in
                 *   run_closed). */
                pthread_mutex_lock(&s->lock);
                s->stopping = true; /* on_request answers what arrives from now on itself */
                struct mhd_req *queued = s->head;
                s->head = s->tail = NULL;
                for (struct dlink *k = s->streams.head; k; k = k->next) {
                        struct mhd_req *r = dlist_entry(k, struct mhd_req, streaming);
                        pthread_mutex_lock(&r->stream->lock);
                        r->stream->ended = true;
                        stream_wake(r);
                        pthread_mutex_unlock(&r->stream->lock);
                }
                pthread_mutex_unlock(&s->lock);
                for (struct mhd_req *r = queued, *next; r; r = next) {
                        next = r->next;
                        r->next = NULL;
                        shutdown_answer(r, false);
                }
                struct mhd_req *r;
                while ((r = dlist_first(&s->held, struct mhd_req, held))) { /* answer() unlinks it */
                        shutdown_answer(r, true);
                        r->next = orphans;
                        orphans = r;
                }
                /* Let the answers go out (bounded: a client that does not read is cut off). */
                int64_t until = clock_monotonic_ns() + DRAIN_WAIT_NS;
                while (atomic_load(&s->draining) > 0 && clock_monotonic_ns() < until) {
                        struct timespec ts = {0, 2 * 1000000L};
                        nanosleep(&ts, NULL);
                }
                /* Then end its thread: libmicrohttpd is idle from here on, and MHD_stop_daemon
                 * (on this thread) only closes the connections, telling on_completed
                 * and on_connection; it processes no request while stopping. */
                mhd_loop_stop(s->mloop);
                MHD_stop_daemon(s->mhd);
                s->mhd = NULL;
        }
        /* libmicrohttpd is gone: the orphans are the handlers' alone. */
        for (struct mhd_req *r = orphans, *next; r; r = next) {
                next = r->next;
                r->next = NULL;
                r->conn = NULL;
                r->srv = NULL;
                free(r->resp);
                r->resp = NULL;
        }
        run_closed(s); /* streams left open: their handlers hear of it now */
        if (s->async_open)
                uv_close((uv_handle_t *)&s->async, on_async_closed);
        else
                server_free(s);
        return NULL;
}
