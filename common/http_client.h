/* http_client.h - small blocking HTTP/JSON client over libcurl (CLI, agent, the
 * servers' internal RPCs), and the same requests for a caller's multi handle
 * (http_xfer: a follower's forwards on its event loop). */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

struct error;
struct tls_client;

/* TLS for every later request of this process (the CLI's -ca-cert/-client-cert/
 * -client-key, the agent's tls settings, a server talking to its peers): the CA
 * that https:// servers must be signed by and the certificate to present. Call
 * once at start, before any thread makes a request; NULL or empty fields keep
 * libcurl's defaults (the system CAs, no client certificate). */
void http_client_set_tls(const struct tls_client *tls);

/* The ACL token (X-Nomad-Token) sent with every later request of this process
 * (the CLI's -token, DROVER_TOKEN, NOMAD_TOKEN), unless a request names its own
 * X-Nomad-Token header. NULL or "" = none. -EINVAL when longer than
 * HTTP_CLIENT_TOKEN_MAX or not printable ASCII without spaces. Call before
 * requests start, as http_client_set_tls. */
#define HTTP_CLIENT_TOKEN_MAX 128
int http_client_set_token(const char *token);

/* Connect to every URL directly, ignoring the proxy variables of the environment
 * (http_proxy, https_proxy, all_proxy, no_proxy), when direct: a server's calls to its
 * peers and an agent's to its servers, which must not go through a proxy the host's
 * environment names for its users (the cluster would stop at it, and it would see the
 * calls' tokens). The CLI keeps libcurl's default and honours them, as Nomad's CLI
 * does. Call before requests start, as http_client_set_tls. */
void http_client_direct(bool direct);

/* Keep one libcurl handle per thread (and so its connection to the server) for the
 * idempotent GET and PUT requests of this process, instead of a new TCP connection per
 * call (the agent: its heartbeats, watches and status updates). POST and the other
 * methods always take a fresh handle and connection: libcurl sends a request again on a
 * kept connection that turns out closed, which only an idempotent one tolerates. A
 * thread's handle is freed when the thread exits, or by http_client_cleanup. Call
 * before requests start, as http_client_set_tls. */
void http_client_keep_connections(bool keep);

/* The calling thread keeps one handle, and so one connection, for all its requests,
 * POST included: for a thread whose every request the server may receive twice without
 * harm (libcurl sends a request again, on a fresh connection, when the kept one turns
 * out closed before any answer). A server's scheduler workers, whose calls to the
 * leader carry their eval's token: a plan or an ack the leader took once is refused
 * the second time, a dequeue the leader never read is not lost. */
void http_client_keep_thread_connection(void);
/* Free the kept handles (their connections close) and libcurl's global state: once no
 * request runs and none will (the agent's client, closed). */
void http_client_cleanup(void);

struct http_response {
        long status;      /* HTTP status, 0 when no answer */
        char *body;       /* NUL-terminated, malloc'd */
        size_t len;
        uint64_t index;   /* X-Nomad-Index, 0 when absent */
        uint64_t log_end; /* X-Drover-Log-End (the agent's log endpoint), valid when has_log_end */
        bool has_log_end;
        uint64_t log_start; /* X-Drover-Log-Start: where the agent's log answer begins */
        bool has_log_start;
        bool truncated; /* http_perform_capped stopped reading at its cap */
        /* The other X-Nomad-* answer headers, so that a forwarded answer keeps them. */
        char next_token[256];      /* X-Nomad-NextToken, "" when absent (longer is cut) */
        bool has_leader;           /* X-Nomad-KnownLeader was there */
        bool known_leader;         /* ... and said true */
        uint64_t last_contact_ms;  /* X-Nomad-LastContact */
        char content_type[64];     /* Content-Type, "" when absent (longer is cut) */
};

void http_response_clear(struct http_response *r);

/* The transfer itself, blocking, for callers that run it on a thread of their own
 * (the agent runs it on libuv's pool). `url` is complete; body may be NULL;
 * timeouts in ms (0: 60 s total, 5 s to connect). `should_abort(abort_arg)`, when
 * not NULL, is polled during the transfer; non-zero cancels it. Returns 0 when an
 * answer came (any status: ret->status, ->body never NULL, ->index), else negative
 * with err saying what failed: -ECONNREFUSED when no connection could be made, so
 * that nothing of the request was sent (refused, unreachable, not resolved, timed
 * out connecting); -ECONNRESET when the connection failed once made (the request
 * may have arrived); -ETIMEDOUT, -ECANCELED, -ENOMEM. */
int http_perform(const char *method, const char *url, const char *body, long timeout_ms, long connect_timeout_ms,
                 int (*should_abort)(void *abort_arg), void *abort_arg, struct http_response *ret, struct error *err);

/* http_perform with extra headers ("Name: value", NULL-terminated list; may be NULL). */
int http_perform_headers(const char *method, const char *url, const char *body, const char *const *headers,
                         long timeout_ms, long connect_timeout_ms, int (*should_abort)(void *abort_arg),
                         void *abort_arg, struct http_response *ret, struct error *err);

/* http_perform_headers with a body of len bytes (binary ok) of type content_type
 * (NULL: application/json). */
int http_perform_body(const char *method, const char *url, const void *body, size_t len, const char *content_type,
                      const char *const *headers, long timeout_ms, long connect_timeout_ms,
                      int (*should_abort)(void *abort_arg), void *abort_arg, struct http_response *ret,
                      struct error *err);

/* A body-less http_perform_headers that keeps at most max_body bytes of the answer
 * (0: no cap): a longer answer ends the transfer there, with ret->truncated set,
 * and is still an answer (0 returned, ret->len == max_body). */
int http_perform_capped(const char *method, const char *url, const char *const *headers, size_t max_body,
                        long timeout_ms, long connect_timeout_ms, struct http_response *ret, struct error *err);

/* http_perform_body whose answer may not pass max_answer bytes (the servers'
 * calls to each other, common/limits.h): a longer one (its Content-Length, or the
 * bytes as they come) ends the transfer and the call fails with -E2BIG, err
 * naming the URL and the limit, nothing kept. max_answer 0: no limit. */
int http_perform_max(const char *method, const char *url, const void *body, size_t len, const char *content_type,
                     const char *const *headers, size_t max_answer, long timeout_ms, long connect_timeout_ms,
                     int (*should_abort)(void *abort_arg), void *abort_arg, struct http_response *ret,
                     struct error *err);

/* A body-less GET whose answer is handed to on_data piece by piece as it arrives
 * (a followed log), with no overall timeout (5 s to connect). on_data returns 0 to
 * go on, non-zero to stop (then -ECANCELED). A non-2xx answer is not handed over:
 * its body (up to 64 KiB) is in ret->body. 0 once the answer ended (ret->status),
 * else negative with err. */
int http_stream(const char *url, const char *const *headers, int (*on_data)(void *arg, const char *buf, size_t len),
                void *arg, struct http_response *ret, struct error *err);

/* One request: base "http://127.0.0.1:4646", path "/v1/jobs?prefix=x". body may
 * be NULL. timeout_ms 0 = 60 s. Returns 0 when an answer came (any status),
 * negative with err filled when the server could not be reached. */
int http_request(const char *base, const char *method, const char *path, const char *body, long timeout_ms,
                 struct http_response *ret, struct error *err);

/* A body-less request with extra headers ("Name: value", NULL-terminated list). */
int http_request_headers(const char *base, const char *method, const char *path, const char *const *headers,
                         long timeout_ms, struct http_response *ret, struct error *err);

/* Convenience: expect 2xx and a JSON body. A non-2xx answer becomes an error
 * carrying the server's message: "Unexpected response code: 400 (job ...)". */
int http_json(const char *base, const char *method, const char *path, const json_t *body, long timeout_ms,
              json_t **ret_json, uint64_t *ret_index, struct error *err);

/* Percent-encode s for a URL path segment or query value (malloc'd). */
char *http_escape(const char *s);

/* ---- a request driven by the caller's libcurl multi handle ---------------------------
 * (controlplane/raft/curl_loop.c runs them on a server's event loop). The options,
 * headers, TLS settings and answer limit are http_perform_max's, set by the same code.
 * Connections are the multi handle's: with reuse, a request takes an idle kept one to
 * the same host if there is one (none idle longer than HTTP_XFER_IDLE_MAX_S, within
 * the servers' 60 s idle timeout), else opens one and leaves it for the next; without,
 * it opens its own and closes it. Not thread-safe: one thread drives it. */
struct http_xfer;
#define HTTP_XFER_IDLE_MAX_S 50L

/* A request ready to add to a multi handle (http_xfer_handle): method and url are
 * the caller's and must outlive it (its error texts name them); body (len bytes,
 * application/json, may be NULL) too: libcurl sends it from there; headers are
 * copied. NULL with err when out of memory. */
struct http_xfer *http_xfer_create(const char *method, const char *url, const void *body, size_t len,
                                   const char *const *headers, size_t max_answer, long timeout_ms,
                                   long connect_timeout_ms, bool reuse, struct error *err);
/* Its CURL easy handle (CURLOPT_PRIVATE is x). */
void *http_xfer_handle(struct http_xfer *x);
/* Once the multi handle says it is done with curl_code (a CURLcode): 0 and *ret (the
 * answer, any status, x's until http_xfer_destroy) or negative with err, as
 * http_perform_max. A request that went out on a connection, kept or fresh, is never
 * -ECONNREFUSED: libcurl resends one whose kept connection turns out closed, and the
 * first may have arrived. */
int http_xfer_result(struct http_xfer *x, int curl_code, const struct http_response **ret, struct error *err);
/* The caller's pointer beside x (NULL until set). */
void http_xfer_set_user(struct http_xfer *x, void *user);
void *http_xfer_user(const struct http_xfer *x);
/* It ran on a connection an earlier request had opened. */
bool http_xfer_reused(struct http_xfer *x);
/* Frees x and its answer (removed from its multi handle first); NULL accepted. */
struct http_xfer *http_xfer_destroy(struct http_xfer *x);
