/* http_req.h - one HTTP request as a handler sees it, whatever carries it.
 *
 * A transport embeds struct http_req as the first member of its own request and
 * points ops at its const table: api/http.c (libmicrohttpd, the daemon) and the
 * unit tests' in-process harness (tests/support/api_harness.c) are the two. The
 * handlers (api/routes*.c, server.c) call only the functions below, which read
 * the shared fields or make one indirect call through ops; the answers
 * (http_req_respond_*) are built once, in http_req.c, for every transport.
 * Loop thread only, like the handlers.
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/waitlist.h"

struct http_req;

typedef void (*http_stream_close_fn)(void *data);

/* What a transport provides. Required: query, query_values, has_query,
 * query_string, header, answer. Optional (NULL): client_gone (the client never
 * leaves), the stream_* (streams unsupported: http_req_stream_begin answers
 * -EOPNOTSUPP). Each has the contract of the http_req_* of the same name. */
struct http_req_ops {
        const char *(*query)(const struct http_req *r, const char *key);
        size_t (*query_values)(const struct http_req *r, const char *key, const char **ret, size_t max);
        bool (*has_query)(const struct http_req *r, const char *key);
        char *(*query_string)(const struct http_req *r);
        const char *(*header)(const struct http_req *r, const char *key);
        bool (*client_gone)(const struct http_req *r);
        /* The answer: buf is malloc'd (len bytes then a NUL) or NULL when out of
         * memory (an empty body), and the transport's from here, whatever happens;
         * content_type is static; index > 0 adds X-Nomad-Index with the leader
         * fields. The shared fields (next_token, leader) are read now. */
        void (*answer)(struct http_req *r, int status, char *buf, size_t len, const char *content_type, uint64_t index);
        int (*stream_begin)(struct http_req *r, int status, const char *content_type, size_t max_buffered,
                            http_stream_close_fn on_close, void *data);
        int (*stream_write)(struct http_req *r, const void *buf, size_t len);
        void (*stream_end)(struct http_req *r, const void *tail, size_t tail_len);
        size_t (*stream_buffered)(struct http_req *r);
};

/* The part every transport shares. The transport sets ops, method, path, body,
 * body_len and verified before it hands the request to a handler; handlers use
 * the functions below, never the fields. */
struct http_req {
        const struct http_req_ops *ops;
        const char *method;
        const char *path;
        const char *body; /* NULL: none */
        size_t body_len;
        bool verified; /* the client's certificate was checked (mutual TLS) */
        void *data;    /* the handler's slot */
        /* the answer's headers, set by the handler before it answers */
        bool leader_known; /* X-Nomad-KnownLeader */
        uint64_t last_contact_ms;
        char next_token[256]; /* X-Nomad-NextToken; "" = none */
        /* held while the cluster had no leader (api/routes_hold.c): since when
         * (CLOCK_MONOTONIC ns; 0: never), how many tries since the last kick, and
         * its place on the list of held requests */
        int64_t held_since_ns;
        unsigned held_tries;
        struct waitlist_node held_node;
};

static inline const char *http_req_method(const struct http_req *r) {
        return r->method;
}
static inline const char *http_req_path(const struct http_req *r) {
        return r->path;
}
/* Query argument, or NULL. */
static inline const char *http_req_query(const struct http_req *r, const char *key) {
        return r->ops->query(r, key);
}
/* Every value of a repeated query key (?topic=a&topic=b), up to max, in order;
 * the count found (may exceed max). Pointers live as long as r. */
static inline size_t http_req_query_values(const struct http_req *r, const char *key, const char **ret, size_t max) {
        return r->ops->query_values(r, key, ret, max);
}
/* Whether the query has the key, with or without a value ("?stale"). */
static inline bool http_req_has_query(const struct http_req *r, const char *key) {
        return r->ops->has_query(r, key);
}
/* The query string, re-encoded ("a=b&c=d"), malloc'd; NULL when out of memory. */
static inline char *http_req_query_string(const struct http_req *r) {
        return r->ops->query_string(r);
}
static inline const char *http_req_header(const struct http_req *r, const char *key) {
        return r->ops->header(r, key);
}
/* The body ("" when none); its length in *ret_len when not NULL. */
static inline const char *http_req_body(const struct http_req *r, size_t *ret_len) {
        if (ret_len)
                *ret_len = r->body_len;
        return r->body ? r->body : "";
}
/* The client presented a certificate signed by the listener's CA (mutual TLS
 * with verify_client: every request that reaches a handler did). */
static inline bool http_req_client_verified(const struct http_req *r) {
        return r->verified;
}
/* Whether the client of a request the handler holds has closed its connection (a
 * poll of the socket, no wait): the handler may then answer it at once, freeing
 * what it holds for it. False when unknown (not held, server stopped). */
static inline bool http_req_client_gone(const struct http_req *r) {
        return r->ops->client_gone && r->ops->client_gone(r);
}

/* Handler-owned slot, for blocking queries and Raft callbacks. */
static inline void http_req_set_data(struct http_req *r, void *data) {
        r->data = data;
}
static inline void *http_req_data(const struct http_req *r) {
        return r->data;
}

/* The answer's X-Nomad-NextToken (a paginated list's next page); copied, at most
 * 255 bytes (longer is cut). NULL clears it. Before the answer. */
void http_req_set_next_token(struct http_req *r, const char *token);
/* What the answer's X-Nomad-KnownLeader and X-Nomad-LastContact (ms) say. Before
 * the answer. */
static inline void http_req_set_leader(struct http_req *r, bool known, uint64_t last_contact_ms) {
        r->leader_known = known;
        r->last_contact_ms = last_contact_ms;
}

/* Answer: JSON body (stolen; NULL answers "null"), with X-Nomad-Index when index > 0. */
void http_req_respond_json(struct http_req *r, int status, json_t *body, uint64_t index);
/* Answer with a plain-text message (Nomad's error bodies are plain text). */
void http_req_respond_text(struct http_req *r, int status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Answer with bytes and an X-Nomad-Index (a forwarded request's answer). */
void http_req_respond_bytes(struct http_req *r, int status, const char *content_type, const void *buf, size_t len,
                            uint64_t index);
/* Answer with buf (malloc'd, stolen: freed by the transport) and an X-Nomad-Index. */
void http_req_respond_owned(struct http_req *r, int status, const char *content_type, char *buf, size_t len,
                            uint64_t index);
/* Answer with raw bytes (logs). */
void http_req_respond_raw(struct http_req *r, int status, const char *content_type, const void *buf, size_t len);

/* ---- streamed answers (GET /v1/event/stream) ----
 * A handler that begins a stream answers with a chunked body it writes piece by
 * piece, on the loop thread, for as long as it likes. Bytes wait in a buffer of
 * at most max_buffered bytes (HTTP_STREAM_MAX_BUFFER when 0) until the client
 * reads them: a write that does not fit gets -EAGAIN and nothing grows. While the
 * buffer is empty the connection is suspended (no polling).
 * on_close runs on the loop thread when the client went away (or the server
 * stops) before the handler ended the stream; r is freed after it returns and
 * must not be used again. After http_req_stream_end the handler must not touch
 * r either (on_close does not run then). */
#define HTTP_STREAM_MAX_BUFFER (256u * 1024)
#define HTTP_STREAM_MAX_TAIL 4096 /* the last words of http_req_stream_end */
/* 0, or -EINVAL when r was answered already, -ENOMEM, -EOPNOTSUPP when the
 * transport has no streams. On failure r is still the handler's to answer. */
int http_req_stream_begin(struct http_req *r, int status, const char *content_type, size_t max_buffered,
                          http_stream_close_fn on_close, void *data);
/* 0 when buffered; -EAGAIN when len does not fit now; -EPIPE once the client
 * went away (on_close follows) or the stream was ended. */
int http_req_stream_write(struct http_req *r, const void *buf, size_t len);
/* Send tail (up to HTTP_STREAM_MAX_TAIL bytes, even when the buffer is full; may be
 * NULL) after what is buffered, then close the body. */
void http_req_stream_end(struct http_req *r, const void *tail, size_t tail_len);
/* Bytes buffered and not yet sent (tests). */
size_t http_req_stream_buffered(struct http_req *r);
