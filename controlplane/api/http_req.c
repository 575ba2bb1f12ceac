/* http_req.c - the answers every transport shares (see http_req.h): each builds
 * the body once and hands it to the transport's ops->answer. */
#include "controlplane/api/http_req.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/json_fast.h"

void http_req_set_next_token(struct http_req *r, const char *token) {
        snprintf(r->next_token, sizeof(r->next_token), "%s", token ? token : "");
}

void http_req_respond_json(struct http_req *r, int status, json_t *body, uint64_t index) {
        char *s = body ? json_fast_dumps(body, JSON_COMPACT | JSON_ENCODE_ANY) : strdup("null");
        json_decref(body);
        r->ops->answer(r, status, s, s ? strlen(s) : 0, "application/json", index);
}

void http_req_respond_text(struct http_req *r, int status, const char *fmt, ...) {
        char *s = NULL;
        va_list ap;
        va_start(ap, fmt);
        int n = vasprintf(&s, fmt, ap);
        va_end(ap);
        if (n < 0)
                s = NULL;
        r->ops->answer(r, status, s, s ? (size_t)n : 0, "text/plain; charset=utf-8", 0);
}

void http_req_respond_bytes(struct http_req *r, int status, const char *content_type, const void *buf, size_t len,
                            uint64_t index) {
        char *copy = malloc(len + 1);
        if (copy) {
                if (len)
                        memcpy(copy, buf, len);
                copy[len] = '\0';
        }
        r->ops->answer(r, status, copy, copy ? len : 0, content_type, index);
}

void http_req_respond_owned(struct http_req *r, int status, const char *content_type, char *buf, size_t len,
                            uint64_t index) {
        r->ops->answer(r, status, buf, buf ? len : 0, content_type, index);
}

void http_req_respond_raw(struct http_req *r, int status, const char *content_type, const void *buf, size_t len) {
        http_req_respond_bytes(r, status, content_type, buf, len, 0);
}

int http_req_stream_begin(struct http_req *r, int status, const char *content_type, size_t max_buffered,
                          http_stream_close_fn on_close, void *data) {
        if (!r->ops->stream_begin)
                return -EOPNOTSUPP;
        return r->ops->stream_begin(r, status, content_type, max_buffered, on_close, data);
}

int http_req_stream_write(struct http_req *r, const void *buf, size_t len) {
        return r->ops->stream_write ? r->ops->stream_write(r, buf, len) : -EPIPE;
}

void http_req_stream_end(struct http_req *r, const void *tail, size_t tail_len) {
        if (r->ops->stream_end)
                r->ops->stream_end(r, tail, tail_len);
}

size_t http_req_stream_buffered(struct http_req *r) {
        return r->ops->stream_buffered ? r->ops->stream_buffered(r) : 0;
}
