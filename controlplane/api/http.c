/* http.c - libmicrohttpd on its own thread, handlers on the libuv loop. */
#include "controlplane/api/http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "common/error.h"
#include "common/log.h"

#define MAX_BODY (16u * 1024 * 1024)

enum req_state { REQ_READING, REQ_QUEUED, REQ_ANSWERED };

struct http_req {
        struct http_server *srv;
        struct MHD_Connection *conn;
        char *method;
        char *path;
        char *body;
        size_t body_len;
        size_t body_cap; /* grows by doubling: exact-size reallocs copy O(n^2) bytes */
        bool too_large;
        enum req_state state;
        struct http_req *next; /* inbound queue */
        void *data;
        /* the answer */
        int status;
        char *resp;
        size_t resp_len;
        const char *content_type;
        uint64_t index;
        bool leader_known; /* X-Nomad-KnownLeader */
        uint64_t last_contact_ms;
};

struct http_server {
        struct MHD_Daemon *mhd;
        uv_async_t async;
        bool async_open;
        pthread_mutex_t lock;
        struct http_req *head, *tail; /* queued for the loop */
        http_handler_fn handler;
        void *data;
        int port;
};

const char *http_req_method(const struct http_req *r) {
        return r->method;
}
const char *http_req_path(const struct http_req *r) {
        return r->path;
}
const char *http_req_query(const struct http_req *r, const char *key) {
        return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, key);
}
const char *http_req_header(const struct http_req *r, const char *key) {
        return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, key);
}
const char *http_req_body(const struct http_req *r, size_t *ret_len) {
        if (ret_len)
                *ret_len = r->body_len;
        return r->body ? r->body : "";
}
void http_req_set_data(struct http_req *r, void *data) {
        r->data = data;
}
void *http_req_data(const struct http_req *r) {
        return r->data;
}

static void answer(struct http_req *r, int status, char *buf, size_t len, const char *ctype, uint64_t index) {
        if (r->state == REQ_ANSWERED) {
                free(buf);
                return;
        }
        r->status = status;
        r->resp = buf;
        r->resp_len = len;
        r->content_type = ctype;
        r->index = index;
        r->state = REQ_ANSWERED;
        MHD_resume_connection(r->conn); /* r belongs to MHD again from here */
}

void http_req_respond_json(struct http_req *r, int status, json_t *body, uint64_t index) {
        char *s = body ? json_dumps(body, JSON_COMPACT | JSON_ENCODE_ANY) : strdup("null");
        if (body)
                json_decref(body);
        answer(r, status, s, s ? strlen(s) : 0, "application/json", index);
}

void http_req_respond_text(struct http_req *r, int status, const char *fmt, ...) {
        char *s = NULL;
        va_list ap;
        va_start(ap, fmt);
        int n = vasprintf(&s, fmt, ap);
        va_end(ap);
        if (n < 0)
                s = NULL;
        answer(r, status, s, s ? strlen(s) : 0, "text/plain; charset=utf-8", 0);
}

void http_req_respond_raw(struct http_req *r, int status, const char *content_type, const void *buf, size_t len) {
        char *copy = malloc(len ? len : 1);
        if (copy && len)
                memcpy(copy, buf, len);
        answer(r, status, copy, len, content_type, 0);
}

void http_req_respond_bytes(struct http_req *r, int status, const char *content_type, const void *buf, size_t len,
                            uint64_t index) {
        char *copy = malloc(len ? len : 1);
        if (copy && len)
                memcpy(copy, buf, len);
        answer(r, status, copy, len, content_type, index);
}

void http_req_set_leader(struct http_req *r, bool known, uint64_t last_contact_ms) {
        r->leader_known = known;
        r->last_contact_ms = last_contact_ms;
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
                if (!escape || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '_' || c == '.' || c == '~')
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

bool http_req_has_query(const struct http_req *r, const char *key) {
        struct key_probe p = {.key = key};
        MHD_get_connection_values(r->conn, MHD_GET_ARGUMENT_KIND, probe_key, &p);
        return p.found;
}

char *http_req_query_string(const struct http_req *r) {
        struct qs q = {0};
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

static void req_free(struct http_req *r) {
        free(r->method);
        free(r->path);
        free(r->body);
        free(r->resp);
        free(r);
}

static void on_async(uv_async_t *h) {
        struct http_server *s = h->data;
        for (;;) {
                pthread_mutex_lock(&s->lock);
                struct http_req *r = s->head;
                if (r) {
                        s->head = r->next;
                        if (!s->head)
                                s->tail = NULL;
                }
                pthread_mutex_unlock(&s->lock);
                if (!r)
                        break;
                r->next = NULL;
                if (r->too_large)
                        http_req_respond_text(r, 413, "request body larger than %u bytes", MAX_BODY);
                else
                        s->handler(s->data, r);
        }
}

static enum MHD_Result send_answer(struct http_req *r) {
        struct MHD_Response *resp =
            MHD_create_response_from_buffer(r->resp_len, r->resp ? r->resp : (char *)"", MHD_RESPMEM_MUST_COPY);
        if (!resp)
                return MHD_NO;
        MHD_add_response_header(resp, "Content-Type", r->content_type ? r->content_type : "text/plain");
        if (r->index) {
                char buf[32];
                snprintf(buf, sizeof(buf), "%llu", (unsigned long long)r->index);
                MHD_add_response_header(resp, "X-Nomad-Index", buf);
                MHD_add_response_header(resp, "X-Nomad-KnownLeader", r->leader_known ? "true" : "false");
                snprintf(buf, sizeof(buf), "%llu", (unsigned long long)r->last_contact_ms);
                MHD_add_response_header(resp, "X-Nomad-LastContact", buf);
        }
        enum MHD_Result ret = MHD_queue_response(r->conn, (unsigned)r->status, resp);
        MHD_destroy_response(resp);
        return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                                  const char *version, const char *upload_data, size_t *upload_data_size,
                                  void **con_cls) {
        struct http_server *s = cls;
        struct http_req *r = *con_cls;
        if (!r) {
                r = calloc(1, sizeof(*r));
                if (!r)
                        return MHD_NO;
                r->srv = s;
                r->conn = conn;
                r->method = strdup(method);
                r->path = strdup(url);
                *con_cls = r;
                return MHD_YES;
        }
        if (r->state == REQ_READING && *upload_data_size > 0) {
                if (r->body_len + *upload_data_size > MAX_BODY) {
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
                r->state = REQ_QUEUED;
                MHD_suspend_connection(conn);
                pthread_mutex_lock(&s->lock);
                if (s->tail)
                        s->tail->next = r;
                else
                        s->head = r;
                s->tail = r;
                pthread_mutex_unlock(&s->lock);
                uv_async_send(&s->async);
                return MHD_YES;
        }
        if (r->state == REQ_ANSWERED)
                return send_answer(r);
        return MHD_YES;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls, enum MHD_RequestTerminationCode t) {
        struct http_req *r = *con_cls;
        if (!r)
                return;
        /* A request still queued or held by a handler is freed by whoever answers it. */
        if (r->state == REQ_QUEUED)
                return;
        req_free(r);
        *con_cls = NULL;
}

int http_server_create(uv_loop_t *loop, const char *addr, int port, http_handler_fn handler, void *data,
                       struct http_server **ret, struct error *err) {
        struct http_server *s = calloc(1, sizeof(*s));
        if (!s)
                return -ENOMEM;
        pthread_mutex_init(&s->lock, NULL);
        s->handler = handler;
        s->data = data;
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
        if (inet_pton(AF_INET, addr, &sa.sin_addr) != 1) {
                http_server_destroy(s);
                return errorf(err, -EINVAL, "http: bad listen address \"%s\" (want an IPv4 address)", addr);
        }
        if (uv_async_init(loop, &s->async, on_async) < 0) {
                http_server_destroy(s);
                return errorf(err, -EIO, "http: uv_async_init failed");
        }
        s->async.data = s;
        s->async_open = true;
        s->mhd = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME |
                                      MHD_USE_ERROR_LOG,
                                  (uint16_t)port, NULL, NULL, on_request, s, MHD_OPTION_SOCK_ADDR, &sa,
                                  MHD_OPTION_NOTIFY_COMPLETED, on_completed, s, MHD_OPTION_CONNECTION_TIMEOUT,
                                  (unsigned)120, MHD_OPTION_CONNECTION_LIMIT, (unsigned)4096,
                                  /* SO_REUSEADDR: a restart binds again despite TIME_WAIT connections */
                                  MHD_OPTION_LISTENING_ADDRESS_REUSE, (unsigned)1, MHD_OPTION_END);
        if (!s->mhd) {
                http_server_destroy(s);
                return errorf(err, -EADDRINUSE, "http: cannot listen on %s:%d (address in use or not permitted)", addr,
                              port);
        }
        const union MHD_DaemonInfo *info = MHD_get_daemon_info(s->mhd, MHD_DAEMON_INFO_BIND_PORT);
        s->port = info ? info->port : port;
        *ret = s;
        return 0;
}

int http_server_port(const struct http_server *s) {
        return s->port;
}

static void on_async_closed(uv_handle_t *h) {
        struct http_server *s = h->data;
        pthread_mutex_destroy(&s->lock);
        free(s);
}

struct http_server *http_server_destroy(struct http_server *s) {
        if (!s)
                return NULL;
        if (s->mhd) {
                MHD_stop_daemon(s->mhd);
                s->mhd = NULL;
        }
        /* Requests that never reached a handler die with the daemon. */
        for (struct http_req *r = s->head, *next; r; r = next) {
                next = r->next;
                req_free(r);
        }
        s->head = s->tail = NULL;
        if (s->async_open)
                uv_close((uv_handle_t *)&s->async, on_async_closed);
        else {
                pthread_mutex_destroy(&s->lock);
                free(s);
        }
        return NULL;
}
