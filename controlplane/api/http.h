/* http.h - libmicrohttpd bridged onto the server's libuv loop.
 *
 * libmicrohttpd reads requests on its own thread. A complete request is
 * suspended and handed to the loop thread (the one writer) through a queue and
 * a uv_async; the handler runs there and answers whenever it is ready — at
 * once, after a Raft commit, or much later for a blocking query — with
 * http_req_respond_*(), which resumes the connection. What a handler sees of
 * a request is http_req.h; this file is its transport over the network (the
 * unit tests' api harness is the other).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "controlplane/api/http_req.h"

struct error;
struct uv_loop_s;
struct http_server;
struct tls_config;

typedef void (*http_handler_fn)(void *data, struct http_req *req);

/* Defaults of struct http_server_opts' limits (a 0 field takes them). */
#define HTTP_DEFAULT_MAX_CONNS 4096     /* connections open at once, all clients */
#define HTTP_DEFAULT_RESERVED_CONNS 256 /* on top of max_conns, kept for node agents */
#define HTTP_DEFAULT_IDLE_TIMEOUT_S 60  /* a connection silent this long is closed */
#define HTTP_DEFAULT_BODY_TIMEOUT_S 30  /* a request body must arrive within this */
#define HTTP_DEFAULT_HEADER_TIMEOUT_S 10 /* a new connection must have sent its request headers within this */
#define HTTP_DEFAULT_MAX_PARKED 2048    /* blocking queries held by handlers */
#define HTTP_RESERVED_TIMEOUT_S 2       /* a connection in the reserve must send its request within this */
#define HTTP_AGENTS_DEFAULT_MAX_CONNS 8192  /* an agents-only listener's connections (about two per node) */
#define HTTP_AGENTS_DEFAULT_MAX_PARKED 8192 /* an agents-only listener's watches (one per node) */

/* How a listener is set up. Flood bounds (docs/security.md, "Floods"):
 * - max_conns connections are served for anyone; beyond them, up to
 *   reserved_conns more are accepted but must send a node-agent request (see
 *   http_path_is_node_agent) within HTTP_RESERVED_TIMEOUT_S, else they are
 *   closed or answered 503: a flood of idle clients cannot lock agents out.
 *   Beyond both, each newcomer closes at once the oldest connection without a
 *   request (else the oldest idle one, else itself): accepting never stops, so
 *   an agent's connection never waits in the accept queue behind a flood.
 * - max_conns_per_ip bounds one source address (0: no bound).
 * - max_parked bounds blocking queries (GET with ?index=N, N > 0) handed to the
 *   loop and not yet answered; beyond it, those of clients other than node
 *   agents get 503 at once.
 * - idle_timeout_s closes silent connections; body_timeout_s bounds the upload
 *   of one request body (a slow body is cut off with the connection);
 *   header_timeout_s bounds the time from accept to complete request headers
 *   (checked, oldest first, whenever a connection is accepted: a client that
 *   trickles header bytes is closed once others arrive).
 * agents_only makes a listener for node agents alone (drover-server -agent-addr):
 * a request whose path http_path_is_node_agent does not accept is answered 404
 * before its body is read, and nobody is exempt from its bounds (all its clients
 * are agents): beyond max_conns its connections get 503 and the eviction above,
 * beyond max_parked its watches get 503. Its bounds are its own, so a flood of
 * the public listener cannot reach a heartbeat sent here. */
struct http_server_opts {
        const char *addr; /* IPv4 address to listen on */
        int port;         /* 0 picks one */
        const struct tls_config *tls; /* NULL or !tls->http: plain HTTP */
        unsigned max_conns;
        unsigned reserved_conns;
        unsigned max_conns_per_ip;
        unsigned idle_timeout_s;
        unsigned body_timeout_s;
        unsigned header_timeout_s;
        unsigned max_parked;
        bool agents_only;
        /* Request bodies are at most LIMIT_HTTP_BODY (common/limits.h), else 413,
         * except on a route large_body names (any thread, pure: method and path
         * alone; NULL: none). When such a body passes LIMIT_HTTP_BODY, its
         * connection waits, suspended, for body_limit(handler data, req) on the loop
         * (headers and query there, no body yet), which returns the body's cap: 0
         * (or anything not above LIMIT_HTTP_BODY) keeps the usual one, so the
         * caller's permission is checked before a byte past it is kept. A granted
         * body reads into a buffer that grows by doubling and may take
         * HTTP_LARGE_BODY_TIMEOUT_S to arrive. */
        bool (*large_body)(const char *method, const char *path);
        size_t (*body_limit)(void *data, struct http_req *req);
};
#define HTTP_LARGE_BODY_TIMEOUT_S 600 /* upload time of a body granted above LIMIT_HTTP_BODY */

/* Listen as o says (copied; tls files read here). */
int http_server_start(struct uv_loop_s *loop, const struct http_server_opts *o, http_handler_fn handler, void *data,
                      struct http_server **ret, struct error *err);
/* Listen on addr:port over plain HTTP with the default limits. */
int http_server_create(struct uv_loop_s *loop, const char *addr, int port, http_handler_fn handler, void *data,
                       struct http_server **ret, struct error *err);
/* The requests node agents make to stay alive (register, heartbeat, allocation
 * updates, their allocation watch): served ahead of the flood bounds. */
bool http_path_is_node_agent(const char *method, const char *path);
/* Requests refused by the flood bounds since start (tests and metrics). */
uint64_t http_server_refused(const struct http_server *s);
int http_server_port(const struct http_server *s);
/* Stops the listener, on the loop thread. Every request not yet answered is
 * answered 503 "server shutting down" first (waiting up to a second for those
 * answers to go out): those still queued, and those a handler holds (a parked
 * blocking query, a pending Raft apply or forwarded call). A held request stays
 * valid for its handler: after destroy it has no query or headers (NULL, as if
 * absent), and the handler's own later answer (any http_req_respond_*) sends
 * nothing and frees it — a handler must still answer every request it holds,
 * exactly once. Streams end and their on_close runs. Frees s. */
struct http_server *http_server_destroy(struct http_server *s);
