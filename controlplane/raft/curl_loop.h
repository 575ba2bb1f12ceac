/* curl_loop.h - a libcurl multi handle driven by a libuv loop: its sockets watched
 * with uv_poll, its timeouts with a uv_timer (CURLMOPT_SOCKETFUNCTION,
 * CURLMOPT_TIMERFUNCTION), so that HTTP requests to other servers run on the loop
 * itself, without a thread each, over connections kept between them.
 *
 * Runs on one loop thread; nothing in it blocks: libcurl resolves a host name on a
 * thread of its own (its threaded resolver) and an IP literal without resolving. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

struct curl_loop;
struct http_xfer;
typedef struct uv_loop_s uv_loop_t;

/* Called on the loop once per transfer added, with its libcurl result (a CURLcode,
 * for http_xfer_result) after the transfer left the multi handle; never after
 * curl_loop_remove or curl_loop_destroy. done may destroy or retire the curl_loop. */
typedef void (*curl_loop_done_fn)(void *arg, struct http_xfer *x, int curl_code);

/* max_conns: connections kept open (idle or busy) at most; NULL when out of memory. */
struct curl_loop *curl_loop_create(uv_loop_t *loop, unsigned max_conns, curl_loop_done_fn done, void *arg);
/* Start x (http_xfer_create); -ENOMEM or -EIO when libcurl refuses it (x is then
 * still the caller's and not started). */
int curl_loop_add(struct curl_loop *cl, struct http_xfer *x);
/* Take x out before it is done (done is not called for it); the caller frees it. */
void curl_loop_remove(struct curl_loop *cl, struct http_xfer *x);
/* Transfers added and not yet done nor removed. */
unsigned curl_loop_running(const struct curl_loop *cl);
/* Close every connection kept and free cl once its libuv handles are closed. The
 * transfers still running are dropped without their done: remove them first. */
void curl_loop_destroy(struct curl_loop *cl);
/* curl_loop_destroy once the transfers running end (at once when none): its
 * connections then close (the leader changed, and they lead to a follower). done is
 * still called for the running ones. */
void curl_loop_retire(struct curl_loop *cl);

/* Time spent in libcurl on the loop (socket_action, add, remove), for the debug log. */
struct curl_loop_stats {
        uint64_t transfers; /* done */
        uint64_t actions;   /* calls into libcurl */
        int64_t curl_ns;
};
void curl_loop_stats(const struct curl_loop *cl, struct curl_loop_stats *ret);
