/* http_client.c - libcurl easy handles: one per call, or one kept per thread for GET
 * and PUT (http_client_keep_connections), or one per http_xfer for a caller's multi
 * handle; every one's options set by xfer_setup. */
#include "common/http_client.h"

#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/error.h"
#include "common/json_fast.h"
#include "common/macros.h"
#include "common/tls.h"

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
/* Written once before requests start (http_client_set_tls), read-only after. */
static struct tls_client client_tls;

void http_client_set_tls(const struct tls_client *tls) {
        if (tls)
                client_tls = *tls;
        else
                memset(&client_tls, 0, sizeof(client_tls));
}

/* "X-Nomad-Token: ..." for every request; "" = none (http_client_set_token). */
static char client_token_header[sizeof("X-Nomad-Token: ") + HTTP_CLIENT_TOKEN_MAX];

int http_client_set_token(const char *token) {
        client_token_header[0] = '\0';
        if (!token || !*token)
                return 0;
        size_t n = strlen(token);
        if (n > HTTP_CLIENT_TOKEN_MAX)
                return -EINVAL;
        for (size_t i = 0; i < n; i++)
                if (token[i] < 0x21 || token[i] > 0x7e) /* no spaces, CR/LF or controls in a header */
                        return -EINVAL;
        snprintf(client_token_header, sizeof(client_token_header), "X-Nomad-Token: %s", token);
        return 0;
}

/* Written once before requests start, read-only after. */
static bool keep_connections;
static bool client_direct; /* http_client_direct */

void http_client_direct(bool direct) {
        client_direct = direct;
}

/* The thread's kept handle (http_client_keep_connections) in a slot of its own (the
 * thread's key value), freed at the thread's exit or by http_client_cleanup. Every
 * kept handle is also listed in kept_all, under kept_lock; http_client_cleanup frees them
 * all and moves kept_gen on, so that a slot filled before it is known to hold a freed
 * handle (by its generation, not by the pointer, which a new handle may reuse). */
struct kept_slot {
        CURL *c;
        uint64_t gen;
};
static pthread_key_t kept_handle_key;
#define KEPT_MAX 64 /* threads with a kept handle; beyond, a handle per call */
static pthread_mutex_t kept_lock = PTHREAD_MUTEX_INITIALIZER;
static CURL *kept_all[KEPT_MAX];
static size_t n_kept;
static uint64_t kept_gen = 1;

void http_client_keep_connections(bool keep) {
        keep_connections = keep;
}

/* Set by a thread whose every request may be sent again (http_client_keep_thread_connection). */
static _Thread_local bool thread_keeps_all;
static bool kept_key_ok; /* kept_handle_key exists (written once, in curl_init_once) */

void http_client_keep_thread_connection(void) {
        thread_keeps_all = true;
}

static void kept_slot_free(void *p) {
        struct kept_slot *slot = p;
        CURL *c = NULL;
        pthread_mutex_lock(&kept_lock);
        if (slot->c && slot->gen == kept_gen) {
                c = slot->c;
                for (size_t i = 0; i < n_kept; i++)
                        if (kept_all[i] == c) {
                                kept_all[i] = kept_all[--n_kept];
                                break;
                        }
        }
        pthread_mutex_unlock(&kept_lock);
        if (c)
                curl_easy_cleanup(c);
        free(slot);
}

void http_client_cleanup(void) {
        pthread_mutex_lock(&kept_lock);
        for (size_t i = 0; i < n_kept; i++)
                curl_easy_cleanup(kept_all[i]);
        n_kept = 0;
        kept_gen++;
        pthread_mutex_unlock(&kept_lock);
        curl_global_cleanup();
}

static void curl_init_once(void) {
        curl_global_init(CURL_GLOBAL_DEFAULT);
        if (pthread_key_create(&kept_handle_key, kept_slot_free) != 0)
                keep_connections = false;
        else
                kept_key_ok = true;
}

/* A handle for this request: the thread's kept one (its options cleared, its connection
 * kept) for a GET or PUT when connections are kept, or for any request of a thread that
 * keeps its connection, else a new one. */
static CURL *handle_for(const char *method, bool *ret_kept) {
        *ret_kept = (keep_connections && (strcmp(method, "GET") == 0 || strcmp(method, "PUT") == 0)) ||
                    (thread_keeps_all && kept_key_ok);
        if (!*ret_kept)
                return curl_easy_init();
        struct kept_slot *slot = pthread_getspecific(kept_handle_key);
        if (!slot && (slot = calloc(1, sizeof(*slot))) && pthread_setspecific(kept_handle_key, slot) != 0) {
                free(slot);
                slot = NULL;
        }
        CURL *c = NULL;
        if (slot) {
                pthread_mutex_lock(&kept_lock);
                if (slot->c && slot->gen != kept_gen)
                        slot->c = NULL; /* freed by http_client_cleanup */
                if (!slot->c && n_kept < KEPT_MAX && (slot->c = curl_easy_init())) {
                        kept_all[n_kept++] = slot->c;
                        slot->gen = kept_gen;
                }
                c = slot->c;
                pthread_mutex_unlock(&kept_lock);
        }
        if (!c) { /* no slot or no room on the list: a handle for this call alone */
                *ret_kept = false;
                return curl_easy_init();
        }
        return c; /* reset after its last request */
}

void http_response_clear(struct http_response *r) {
        free(r->body);
        memset(r, 0, sizeof(*r));
}

/* Where an answer's bytes go: ret's body (up to max), or on_data while the
 * status is a 2xx (http_stream). */
struct body_sink {
        struct http_response *r;
        size_t max;         /* 0: no cap */
        bool fail_over_max; /* past max the call fails (-E2BIG) instead of keeping max bytes */
        CURL *curl;
        int (*on_data)(void *arg, const char *buf, size_t len);
        void *arg;
        bool stopped; /* on_data asked to stop */
        size_t cap;   /* bytes allocated for r->body: grows by doubling (exact-size reallocs copy O(n^2)) */
};

#define STREAM_ERROR_BODY_MAX (64u * 1024) /* a streamed request's non-2xx answer kept */

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *userdata) {
        struct body_sink *sink = userdata;
        struct http_response *r = sink->r;
        size_t n = size * nmemb, want = n;
        if (sink->on_data) {
                long status = 0;
                curl_easy_getinfo(sink->curl, CURLINFO_RESPONSE_CODE, &status);
                if (status >= 200 && status < 300) {
                        sink->stopped = sink->on_data(sink->arg, ptr, n) != 0;
                        return sink->stopped ? 0 : n;
                }
        }
        if (sink->max && r->len + n > sink->max) {
                if (sink->fail_over_max) {
                        r->truncated = true;
                        return 0; /* nothing more kept: the call fails */
                }
                n = sink->max - r->len; /* keep what fits, then end the transfer */
                r->truncated = true;
        }
        if (r->len + n + 1 > sink->cap) {
                size_t cap = sink->cap ? sink->cap : 4096;
                while (cap < r->len + n + 1)
                        cap *= 2;
                char *nb = realloc(r->body, cap);
                if (!nb)
                        return 0;
                r->body = nb;
                sink->cap = cap;
        }
        memcpy(r->body + r->len, ptr, n);
        r->len += n;
        r->body[r->len] = '\0';
        return r->truncated ? 0 : want;
}

/* The value of header line buf (n bytes, not NUL-terminated) when it is key
 * ("Name:"), trimmed, into out (cut to size); false when it is another header. */
static bool header_value(const char *buf, size_t n, const char *key, char *out, size_t size) {
        size_t k = strlen(key);
        if (n <= k || strncasecmp(buf, key, k) != 0)
                return false;
        const char *v = buf + k, *end = buf + n;
        while (v < end && (*v == ' ' || *v == '\t'))
                v++;
        while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' '))
                end--;
        size_t len = (size_t)(end - v) < size - 1 ? (size_t)(end - v) : size - 1;
        memcpy(out, v, len);
        out[len] = '\0';
        return true;
}

static size_t on_header(char *buf, size_t size, size_t nitems, void *userdata) {
        struct http_response *r = userdata;
        size_t n = size * nitems;
        static const char key[] = "X-Nomad-Index:";
        static const char log_end[] = "X-Drover-Log-End:";
        if (n > sizeof(key) && strncasecmp(buf, key, sizeof(key) - 1) == 0)
                r->index = strtoull(buf + sizeof(key) - 1, NULL, 10);
        if (n > sizeof(log_end) && strncasecmp(buf, log_end, sizeof(log_end) - 1) == 0) {
                r->log_end = strtoull(buf + sizeof(log_end) - 1, NULL, 10);
                r->has_log_end = true;
        }
        header_value(buf, n, "X-Nomad-NextToken:", r->next_token, sizeof(r->next_token));
        char v[32];
        if (header_value(buf, n, "X-Drover-Log-Start:", v, sizeof(v))) {
                r->log_start = strtoull(v, NULL, 10);
                r->has_log_start = true;
        }
        if (header_value(buf, n, "X-Nomad-KnownLeader:", v, sizeof(v))) {
                r->has_leader = true;
                r->known_leader = strcmp(v, "true") == 0;
        }
        if (header_value(buf, n, "X-Nomad-LastContact:", v, sizeof(v)))
                r->last_contact_ms = strtoull(v, NULL, 10);
        header_value(buf, n, "Content-Type:", r->content_type, sizeof(r->content_type));
        return n;
}

struct abort_ctx {
        int (*should_abort)(void *);
        void *arg;
};

static int on_progress(void *p, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un) {
        (void)dt, (void)dn, (void)ut, (void)un;
        const struct abort_ctx *a = p;
        return a->should_abort(a->arg) ? 1 : 0;
}

/* A request's body: len bytes of type content_type (NULL: JSON). */
struct req_body {
        const void *buf;
        size_t len;
        const char *content_type;
};

/* The code of a failed transfer (http_client.h, http_perform): -ECONNREFUSED only
 * when no connection was made, so that nothing of the request was sent (refused,
 * unreachable, a name not resolved, the connect timeout on a fresh handle, which
 * made no connection: CURLINFO_CONNECT_TIME_T 0); -ECONNRESET when the connection
 * failed after it was made (the request may have arrived). */
static int transfer_error(CURL *c, CURLcode cr, bool kept, bool stopped) {
        if (cr == CURLE_COULDNT_CONNECT || cr == CURLE_COULDNT_RESOLVE_HOST || cr == CURLE_COULDNT_RESOLVE_PROXY)
                return -ECONNREFUSED;
        if (cr == CURLE_OPERATION_TIMEDOUT) {
                curl_off_t connect_us = -1;
                if (!kept && curl_easy_getinfo(c, CURLINFO_CONNECT_TIME_T, &connect_us) == CURLE_OK && connect_us == 0)
                        return -ECONNREFUSED;
                return -ETIMEDOUT;
        }
        if (cr == CURLE_ABORTED_BY_CALLBACK || stopped)
                return -ECANCELED;
        return cr == CURLE_OUT_OF_MEMORY ? -ENOMEM : -ECONNRESET;
}

/* One transfer's options and what they point to, for the time it runs: the headers,
 * curl's error text, where the answer goes, and whether the request went out. */
struct xfer {
        CURL *c;
        struct curl_slist *hdrs;
        char cerr[CURL_ERROR_SIZE];
        struct body_sink sink;
        struct abort_ctx actx;
        bool sent; /* a connection was ready and the request was about to go (CURLOPT_PREREQFUNCTION) */
};

static int on_prereq(void *p, char *conn_primary_ip, char *conn_local_ip, int conn_primary_port, int conn_local_port) {
        (void)conn_primary_ip, (void)conn_local_ip, (void)conn_primary_port, (void)conn_local_port;
        ((struct xfer *)p)->sent = true;
        return CURL_PREREQFUNC_OK;
}

/* The headers of a request: its Content-Type, headers, and the process's token
 * unless headers name one. NULL when out of memory. */
static struct curl_slist *request_headers(const struct req_body *body, const char *const *headers) {
        char ctype[96];
        snprintf(ctype, sizeof(ctype), "Content-Type: %s",
                 body && body->content_type ? body->content_type : "application/json");
        struct curl_slist *hdrs = curl_slist_append(NULL, ctype), *more;
        bool own_token = false;
        for (size_t i = 0; hdrs && headers && headers[i]; i++) {
                if (!(more = curl_slist_append(hdrs, headers[i]))) {
                        curl_slist_free_all(hdrs);
                        return NULL;
                }
                own_token |= strncasecmp(headers[i], "X-Nomad-Token:", 14) == 0;
        }
        if (hdrs && client_token_header[0] && !own_token && !(more = curl_slist_append(hdrs, client_token_header))) {
                curl_slist_free_all(hdrs);
                return NULL;
        }
        return hdrs;
}

/* Set x->c's options for one request (x->sink and x->actx filled by the caller;
 * the answer goes to ret): every transfer of this file, blocking or driven by a
 * multi handle, is set up here. timeout_ms 0: 60 s; negative: none. */
static int xfer_setup(struct xfer *x, const char *method, const char *url, const struct req_body *body,
                      const char *const *headers, long timeout_ms, long connect_timeout_ms, struct http_response *ret,
                      struct error *err) {
        CURL *c = x->c;
        x->cerr[0] = '\0';
        x->sent = false;
        x->sink.r = ret;
        x->sink.curl = c;
        if (!(x->hdrs = request_headers(body, headers)))
                return errorf(err, -ENOMEM, "http: out of memory");
        curl_easy_setopt(c, CURLOPT_URL, url);
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, x->hdrs);
        curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
        if (client_direct)
                curl_easy_setopt(c, CURLOPT_PROXY, ""); /* "" : no proxy, whatever the environment says */
        curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms > 0 ? timeout_ms : timeout_ms < 0 ? 0L : 60000L);
        curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, connect_timeout_ms > 0 ? connect_timeout_ms : 5000L);
        curl_easy_setopt(c, CURLOPT_ERRORBUFFER, x->cerr);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, &x->sink);
        if (x->sink.fail_over_max && x->sink.max) /* an announced Content-Length over it fails before a byte */
                curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)x->sink.max);
        curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
        curl_easy_setopt(c, CURLOPT_HEADERDATA, ret);
        curl_easy_setopt(c, CURLOPT_PREREQFUNCTION, on_prereq);
        curl_easy_setopt(c, CURLOPT_PREREQDATA, x);
        if (x->actx.should_abort) {
                curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
                curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
                curl_easy_setopt(c, CURLOPT_XFERINFODATA, &x->actx);
        }
        if (*client_tls.ca_cert)
                curl_easy_setopt(c, CURLOPT_CAINFO, client_tls.ca_cert);
        if (*client_tls.client_cert) {
                curl_easy_setopt(c, CURLOPT_SSLCERT, client_tls.client_cert);
                curl_easy_setopt(c, CURLOPT_SSLKEY, client_tls.client_key);
        }
        if (body) {
                curl_easy_setopt(c, CURLOPT_POSTFIELDS, body->buf);
                curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body->len);
        }
        return 0;
}

/* What a transfer that ended with cr gave: 0 and ret (status, body) or negative with
 * err (http_perform). kept: its handle's connection may have been used before. */
static int xfer_result(struct xfer *x, CURLcode cr, bool kept, const char *method, const char *url,
                       struct http_response *ret, struct error *err) {
        int r = 0;
        bool over = (cr == CURLE_WRITE_ERROR && ret->truncated) || cr == CURLE_FILESIZE_EXCEEDED;
        if (over && !x->sink.fail_over_max)
                cr = CURLE_OK; /* the cap ended it: an answer all the same */
        if (over && x->sink.fail_over_max) {
                long status = 0;
                curl_easy_getinfo(x->c, CURLINFO_RESPONSE_CODE, &status);
                r = errorf(err, -E2BIG,
                           "%s %s: the answer (status %ld) is larger than %zu bytes, the limit of this call", method,
                           url, status, x->sink.max);
                http_response_clear(ret);
        } else if (cr != CURLE_OK) {
                int code = transfer_error(x->c, cr, kept, x->sink.stopped);
                /* libcurl sends a request again on a fresh connection when a kept one
                 * turns out closed: refused then, the first one may still have arrived */
                if (code == -ECONNREFUSED && x->sent)
                        code = -ECONNRESET;
                r = errorf(err, code, "%s %s: %s", method, url, *x->cerr ? x->cerr : curl_easy_strerror(cr));
                http_response_clear(ret);
        } else {
                curl_easy_getinfo(x->c, CURLINFO_RESPONSE_CODE, &ret->status);
                if (!ret->body && !(ret->body = strdup(""))) {
                        r = errorf(err, -ENOMEM, "out of memory");
                        http_response_clear(ret);
                }
        }
        return r;
}

/* body: NULL, or the request's body. sink_opts: NULL, or the cap and on_data of the
 * answer's body (its r is ret). timeout_ms 0: 60 s; negative: none. */
static int perform(const char *method, const char *url, const struct req_body *body, const char *const *headers,
                   const struct body_sink *sink_opts, long timeout_ms, long connect_timeout_ms,
                   int (*should_abort)(void *abort_arg), void *abort_arg, struct http_response *ret,
                   struct error *err) {
        pthread_once(&curl_once, curl_init_once);
        memset(ret, 0, sizeof(*ret));
        bool kept;
        struct xfer x = {.c = handle_for(method, &kept),
                         .sink = sink_opts ? *sink_opts : (struct body_sink){0},
                         .actx = {should_abort, abort_arg}};
        if (!x.c)
                return errorf(err, -ENOMEM, "http: cannot create a curl handle");
        int r = xfer_setup(&x, method, url, body, headers, timeout_ms, connect_timeout_ms, ret, err);
        if (r == 0 && kept) /* not a connection the server is about to close as idle */
                curl_easy_setopt(x.c, CURLOPT_MAXAGE_CONN, HTTP_XFER_IDLE_MAX_S);
        if (r == 0)
                r = xfer_result(&x, curl_easy_perform(x.c), kept, method, url, ret, err);
        if (kept)
                curl_easy_reset(x.c); /* no pointer to this call's locals left in it; its connection stays */
        else
                curl_easy_cleanup(x.c);
        curl_slist_free_all(x.hdrs);
        return r;
}

/* ---- a transfer driven by the caller's multi handle --------------------------------- */

struct http_xfer {
        struct xfer x;
        const char *method, *url; /* the caller's, for error texts */
        struct http_response resp;
        void *user;
};

struct http_xfer *http_xfer_create(const char *method, const char *url, const void *body, size_t len,
                                   const char *const *headers, size_t max_answer, long timeout_ms,
                                   long connect_timeout_ms, bool reuse, struct error *err) {
        pthread_once(&curl_once, curl_init_once);
        struct http_xfer *h = calloc(1, sizeof(*h));
        if (!h || !(h->x.c = curl_easy_init())) {
                free(h);
                errorf(err, -ENOMEM, "http: cannot create a curl handle");
                return NULL;
        }
        h->method = method;
        h->url = url;
        h->x.sink = (struct body_sink){.max = max_answer, .fail_over_max = true};
        const struct req_body rb = {body, len, NULL};
        if (xfer_setup(&h->x, method, url, body ? &rb : NULL, headers, timeout_ms, connect_timeout_ms, &h->resp, err) <
            0)
                return http_xfer_destroy(h);
        curl_easy_setopt(h->x.c, CURLOPT_PRIVATE, h);
        if (!reuse) {
                curl_easy_setopt(h->x.c, CURLOPT_FRESH_CONNECT, 1L);
                curl_easy_setopt(h->x.c, CURLOPT_FORBID_REUSE, 1L);
        } else {
                curl_easy_setopt(h->x.c, CURLOPT_MAXAGE_CONN, HTTP_XFER_IDLE_MAX_S);
        }
        return h;
}

void *http_xfer_handle(struct http_xfer *h) {
        return h->x.c;
}

int http_xfer_result(struct http_xfer *h, int curl_code, const struct http_response **ret, struct error *err) {
        /* a request that went out on any connection, kept or not, is never "refused" */
        int r = xfer_result(&h->x, (CURLcode)curl_code, h->x.sent, h->method, h->url, &h->resp, err);
        *ret = r == 0 ? &h->resp : NULL;
        return r;
}

void http_xfer_set_user(struct http_xfer *h, void *user) {
        h->user = user;
}

void *http_xfer_user(const struct http_xfer *h) {
        return h->user;
}

bool http_xfer_reused(struct http_xfer *h) {
        long connects = 1;
        return curl_easy_getinfo(h->x.c, CURLINFO_NUM_CONNECTS, &connects) == CURLE_OK && connects == 0;
}

struct http_xfer *http_xfer_destroy(struct http_xfer *h) {
        if (!h)
                return NULL;
        curl_easy_cleanup(h->x.c);
        curl_slist_free_all(h->x.hdrs);
        http_response_clear(&h->resp);
        free(h);
        return NULL;
}

/* body (NUL-terminated JSON) as a req_body; NULL stays NULL. */
static const struct req_body *json_body(const char *body, struct req_body *rb) {
        if (!body)
                return NULL;
        *rb = (struct req_body){body, strlen(body), NULL};
        return rb;
}

int http_perform(const char *method, const char *url, const char *body, long timeout_ms, long connect_timeout_ms,
                 int (*should_abort)(void *abort_arg), void *abort_arg, struct http_response *ret, struct error *err) {
        struct req_body rb;
        return perform(method, url, json_body(body, &rb), NULL, NULL, timeout_ms, connect_timeout_ms, should_abort,
                       abort_arg, ret, err);
}

int http_perform_headers(const char *method, const char *url, const char *body, const char *const *headers,
                         long timeout_ms, long connect_timeout_ms, int (*should_abort)(void *abort_arg),
                         void *abort_arg, struct http_response *ret, struct error *err) {
        struct req_body rb;
        return perform(method, url, json_body(body, &rb), headers, NULL, timeout_ms, connect_timeout_ms, should_abort,
                       abort_arg, ret, err);
}

int http_perform_body(const char *method, const char *url, const void *body, size_t len, const char *content_type,
                      const char *const *headers, long timeout_ms, long connect_timeout_ms,
                      int (*should_abort)(void *abort_arg), void *abort_arg, struct http_response *ret,
                      struct error *err) {
        const struct req_body rb = {body, len, content_type};
        return perform(method, url, body ? &rb : NULL, headers, NULL, timeout_ms, connect_timeout_ms, should_abort,
                       abort_arg, ret, err);
}

int http_perform_capped(const char *method, const char *url, const char *const *headers, size_t max_body,
                        long timeout_ms, long connect_timeout_ms, struct http_response *ret, struct error *err) {
        const struct body_sink sink = {.max = max_body};
        return perform(method, url, NULL, headers, &sink, timeout_ms, connect_timeout_ms, NULL, NULL, ret, err);
}

int http_perform_max(const char *method, const char *url, const void *body, size_t len, const char *content_type,
                     const char *const *headers, size_t max_answer, long timeout_ms, long connect_timeout_ms,
                     int (*should_abort)(void *abort_arg), void *abort_arg, struct http_response *ret,
                     struct error *err) {
        const struct req_body rb = {body, len, content_type};
        const struct body_sink sink = {.max = max_answer, .fail_over_max = true};
        return perform(method, url, body ? &rb : NULL, headers, &sink, timeout_ms, connect_timeout_ms, should_abort,
                       abort_arg, ret, err);
}

int http_stream(const char *url, const char *const *headers, int (*on_data)(void *arg, const char *buf, size_t len),
                void *arg, struct http_response *ret, struct error *err) {
        const struct body_sink sink = {.max = STREAM_ERROR_BODY_MAX, .on_data = on_data, .arg = arg};
        return perform("GET", url, NULL, headers, &sink, -1, 0, NULL, NULL, ret, err);
}

int http_request_headers(const char *base, const char *method, const char *path, const char *const *headers,
                         long timeout_ms, struct http_response *ret, struct error *err) {
        memset(ret, 0, sizeof(*ret));
        _cleanup_free_ char *url = NULL;
        if (asprintf(&url, "%s%s", base, path) < 0)
                return errorf(err, -ENOMEM, "out of memory");
        return perform(method, url, NULL, headers, NULL, timeout_ms, 0, NULL, NULL, ret, err);
}

int http_request(const char *base, const char *method, const char *path, const char *body, long timeout_ms,
                 struct http_response *ret, struct error *err) {
        memset(ret, 0, sizeof(*ret));
        _cleanup_free_ char *url = NULL;
        if (asprintf(&url, "%s%s", base, path) < 0)
                return errorf(err, -ENOMEM, "out of memory");
        return http_perform(method, url, body, timeout_ms, 5000, NULL, NULL, ret, err);
}

int http_json(const char *base, const char *method, const char *path, const json_t *body, long timeout_ms,
              json_t **ret_json, uint64_t *ret_index, struct error *err) {
        _cleanup_free_ char *payload = body ? json_fast_dumps(body, JSON_COMPACT) : NULL;
        struct http_response resp;
        int r = http_request(base, method, path, payload, timeout_ms, &resp, err);
        if (r < 0)
                return r;
        if (resp.status < 200 || resp.status > 299) {
                size_t n = resp.len;
                while (n && (resp.body[n - 1] == '\n' || resp.body[n - 1] == '\r'))
                        resp.body[--n] = '\0';
                r = errorf(err, resp.status == 404 ? -ENOENT : -EIO, "Unexpected response code: %ld (%s)", resp.status,
                           resp.body);
                http_response_clear(&resp);
                return r;
        }
        if (ret_json) {
                json_error_t je;
                json_t *j = json_loadb(resp.body, resp.len, JSON_DECODE_ANY, &je);
                if (!j) {
                        http_response_clear(&resp);
                        return errorf(err, -EBADMSG, "%s %s: bad JSON in answer: %s", method, path, je.text);
                }
                *ret_json = j;
        }
        if (ret_index)
                *ret_index = resp.index;
        http_response_clear(&resp);
        return 0;
}

char *http_escape(const char *s) {
        static const char hex[] = "0123456789ABCDEF";
        char *out = malloc(strlen(s) * 3 + 1), *p = out;
        if (!out)
                return NULL;
        for (; *s; s++) {
                unsigned char c = (unsigned char)*s;
                if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
                    c == '_' || c == '.' || c == '~') {
                        *p++ = (char)c;
                } else {
                        *p++ = '%';
                        *p++ = hex[c >> 4];
                        *p++ = hex[c & 15];
                }
        }
        *p = '\0';
        return out;
}
