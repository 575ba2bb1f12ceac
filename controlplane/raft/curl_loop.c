/* curl_loop.c - see curl_loop.h. The libcurl/libuv pairing of libcurl's
 * docs/examples/multi-uv.c: one uv_poll per socket libcurl asks to watch
 * (curl_multi_assign keeps it beside the socket), one uv_timer for libcurl's
 * timeouts, curl_multi_socket_action on each event, finished transfers read with
 * curl_multi_info_read right after. */
#include "controlplane/raft/curl_loop.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdlib.h>
#include <uv.h>

#include "common/clock.h"
#include "common/dlist.h"
#include "common/http_client.h"

struct sock {
        uv_poll_t poll;
        struct curl_loop *cl;
        curl_socket_t fd;
        struct dlink link; /* cl->socks, until closing */
};

struct curl_loop {
        uv_loop_t *loop;
        CURLM *multi;
        uv_timer_t timer;
        curl_loop_done_fn done;
        void *arg;
        struct dlist socks;
        unsigned running;
        unsigned open_handles; /* the timer and the socks' polls not yet closed */
        bool closing;          /* destroyed: freed once open_handles is 0 */
        bool retiring;         /* destroyed when running reaches 0 */
        struct curl_loop_stats stats;
};

static void maybe_free(struct curl_loop *cl) {
        if (cl->closing && cl->open_handles == 0)
                free(cl);
}

static void on_timer_closed(uv_handle_t *h) {
        struct curl_loop *cl = h->data;
        cl->open_handles--;
        maybe_free(cl);
}

static void on_poll_closed(uv_handle_t *h) {
        struct sock *s = h->data;
        struct curl_loop *cl = s->cl;
        free(s);
        cl->open_handles--;
        maybe_free(cl);
}

static void sock_close(struct sock *s) {
        dlist_unlink(&s->cl->socks, &s->link);
        uv_poll_stop(&s->poll);
        uv_close((uv_handle_t *)&s->poll, on_poll_closed);
}

/* The transfers libcurl finished, each out of the multi handle before its done. */
static void read_done(struct curl_loop *cl) {
        CURLMsg *m;
        int left;
        while (!cl->closing && (m = curl_multi_info_read(cl->multi, &left))) {
                if (m->msg != CURLMSG_DONE)
                        continue;
                CURL *easy = m->easy_handle;
                CURLcode code = m->data.result;
                struct http_xfer *x = NULL;
                curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&x);
                curl_multi_remove_handle(cl->multi, easy);
                cl->running--;
                cl->stats.transfers++;
                cl->done(cl->arg, x, (int)code);
        }
        if (!cl->closing && cl->retiring && cl->running == 0)
                curl_loop_destroy(cl);
}

static void socket_action(struct curl_loop *cl, curl_socket_t fd, int flags) {
        int still;
        int64_t t0 = clock_monotonic_ns();
        curl_multi_socket_action(cl->multi, fd, flags, &still);
        cl->stats.curl_ns += clock_monotonic_ns() - t0;
        cl->stats.actions++;
        read_done(cl);
}

static void on_poll(uv_poll_t *p, int status, int events) {
        struct sock *s = p->data;
        int flags = status < 0 ? CURL_CSELECT_ERR
                               : ((events & UV_READABLE) ? CURL_CSELECT_IN : 0) |
                                     ((events & UV_WRITABLE) ? CURL_CSELECT_OUT : 0);
        socket_action(s->cl, s->fd, flags);
}

static void on_timeout(uv_timer_t *t) {
        socket_action(t->data, CURL_SOCKET_TIMEOUT, 0);
}

/* CURLMOPT_SOCKETFUNCTION: watch fd for what libcurl waits for, or stop (before
 * libcurl closes it). */
static int on_socket(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp) {
        (void)easy;
        struct curl_loop *cl = userp;
        struct sock *s = socketp;
        if (what == CURL_POLL_REMOVE) {
                if (s) {
                        curl_multi_assign(cl->multi, fd, NULL);
                        sock_close(s);
                }
                return 0;
        }
        if (!s) {
                if (!(s = calloc(1, sizeof(*s))))
                        return -1;
                if (uv_poll_init_socket(cl->loop, &s->poll, fd) < 0) {
                        free(s);
                        return -1;
                }
                s->cl = cl;
                s->fd = fd;
                s->poll.data = s;
                cl->open_handles++;
                dlist_append(&cl->socks, &s->link);
                curl_multi_assign(cl->multi, fd, s);
        }
        int events = (what & CURL_POLL_IN ? UV_READABLE : 0) | (what & CURL_POLL_OUT ? UV_WRITABLE : 0);
        return uv_poll_start(&s->poll, events, on_poll) < 0 ? -1 : 0;
}

/* CURLMOPT_TIMERFUNCTION: -1 stops the timer; 0 runs it on the next loop turn, not
 * from inside libcurl. */
static int on_timer_set(CURLM *multi, long timeout_ms, void *userp) {
        (void)multi;
        struct curl_loop *cl = userp;
        if (timeout_ms < 0)
                uv_timer_stop(&cl->timer);
        else
                uv_timer_start(&cl->timer, on_timeout, (uint64_t)timeout_ms, 0);
        return 0;
}

struct curl_loop *curl_loop_create(uv_loop_t *loop, unsigned max_conns, curl_loop_done_fn done, void *arg) {
        curl_global_init(CURL_GLOBAL_DEFAULT); /* refcounted: the blocking client's init may not have run yet */
        struct curl_loop *cl = calloc(1, sizeof(*cl));
        if (!cl || !(cl->multi = curl_multi_init())) {
                free(cl);
                return NULL;
        }
        cl->loop = loop;
        cl->done = done;
        cl->arg = arg;
        uv_timer_init(loop, &cl->timer);
        cl->timer.data = cl;
        cl->open_handles = 1;
        curl_multi_setopt(cl->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
        curl_multi_setopt(cl->multi, CURLMOPT_SOCKETDATA, cl);
        curl_multi_setopt(cl->multi, CURLMOPT_TIMERFUNCTION, on_timer_set);
        curl_multi_setopt(cl->multi, CURLMOPT_TIMERDATA, cl);
        curl_multi_setopt(cl->multi, CURLMOPT_MAXCONNECTS, (long)max_conns);
        return cl;
}

int curl_loop_add(struct curl_loop *cl, struct http_xfer *x) {
        int64_t t0 = clock_monotonic_ns();
        CURLMcode mc = curl_multi_add_handle(cl->multi, http_xfer_handle(x));
        cl->stats.curl_ns += clock_monotonic_ns() - t0;
        if (mc != CURLM_OK)
                return mc == CURLM_OUT_OF_MEMORY ? -ENOMEM : -EIO;
        cl->running++;
        return 0;
}

void curl_loop_remove(struct curl_loop *cl, struct http_xfer *x) {
        curl_multi_remove_handle(cl->multi, http_xfer_handle(x));
        cl->running--;
        if (!cl->closing && cl->retiring && cl->running == 0)
                curl_loop_destroy(cl);
}

unsigned curl_loop_running(const struct curl_loop *cl) {
        return cl->running;
}

void curl_loop_destroy(struct curl_loop *cl) {
        if (!cl || cl->closing)
                return;
        cl->closing = true;
        /* Every socket's poll stops here, before the cleanup closes the sockets, and
         * the cleanup calls back nothing. */
        struct sock *s;
        while ((s = dlist_first(&cl->socks, struct sock, link)))
                sock_close(s);
        curl_multi_setopt(cl->multi, CURLMOPT_SOCKETFUNCTION, NULL);
        curl_multi_setopt(cl->multi, CURLMOPT_TIMERFUNCTION, NULL);
        curl_multi_cleanup(cl->multi);
        cl->multi = NULL;
        uv_timer_stop(&cl->timer);
        uv_close((uv_handle_t *)&cl->timer, on_timer_closed);
}

void curl_loop_retire(struct curl_loop *cl) {
        cl->retiring = true;
        if (cl->running == 0)
                curl_loop_destroy(cl);
}

void curl_loop_stats(const struct curl_loop *cl, struct curl_loop_stats *ret) {
        *ret = cl->stats;
}
