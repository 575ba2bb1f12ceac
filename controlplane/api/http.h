/* http.h - libmicrohttpd bridged onto the server's libuv loop.
 *
 * libmicrohttpd reads requests on its own thread. A complete request is
 * suspended and handed to the loop thread (the one writer) through a queue and
 * a uv_async; the handler runs there and answers whenever it is ready — at
 * once, after a Raft commit, or much later for a blocking query — with
 * http_req_respond(), which resumes the connection.
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct error;
struct uv_loop_s;
struct http_server;
struct http_req;

typedef void (*http_handler_fn)(void *data, struct http_req *req);

/* Listen on addr:port (port 0 picks one; see http_server_port). */
int http_server_create(struct uv_loop_s *loop, const char *addr, int port, http_handler_fn handler, void *data,
                       struct http_server **ret, struct error *err);
int http_server_port(const struct http_server *s);
/* Stops accepting, answers 503 to requests still queued, frees. */
struct http_server *http_server_destroy(struct http_server *s);

const char *http_req_method(const struct http_req *r);
const char *http_req_path(const struct http_req *r);
/* Query argument, or NULL. */
const char *http_req_query(const struct http_req *r, const char *key);
/* Whether the query has the key, with or without a value ("?stale"). */
bool http_req_has_query(const struct http_req *r, const char *key);
const char *http_req_header(const struct http_req *r, const char *key);
const char *http_req_body(const struct http_req *r, size_t *ret_len);

/* Handler-owned slot, for blocking queries and Raft callbacks. */
void http_req_set_data(struct http_req *r, void *data);
void *http_req_data(const struct http_req *r);

/* Answer: JSON body (stolen), with X-Nomad-Index when index > 0. */
void http_req_respond_json(struct http_req *r, int status, json_t *body, uint64_t index);
/* Answer with a plain-text message (Nomad's error bodies are plain text). */
void http_req_respond_text(struct http_req *r, int status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* The query string, re-encoded ("a=b&c=d"), malloc'd; NULL when out of memory. */
char *http_req_query_string(const struct http_req *r);
/* What the answer's X-Nomad-KnownLeader and X-Nomad-LastContact (ms) say. */
void http_req_set_leader(struct http_req *r, bool known, uint64_t last_contact_ms);
/* Answer with bytes and an X-Nomad-Index (a forwarded request's answer). */
void http_req_respond_bytes(struct http_req *r, int status, const char *content_type, const void *buf, size_t len,
                            uint64_t index);
/* Answer with raw bytes (logs). */
void http_req_respond_raw(struct http_req *r, int status, const char *content_type, const void *buf, size_t len);
