/* transport_guard.c - see transport_guard.h. */
#include "controlplane/raft/transport_guard.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <raft.h>
#include <raft/uv.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include "common/error.h"
#include "common/log.h"
#include "controlplane/raft/frame_guard.h"

#define PUMP_BUF 16384

struct tg {
        struct raft_uv_transport *t; /* the one libraft holds */
        struct raft_uv_transport inner; /* raft_uv_tcp */
        bool inner_init;
        uv_loop_t *loop;
        uint64_t max;
        raft_uv_accept_cb accept_cb;
        int stop_fd; /* eventfd: readable once the transport closes */
        uv_async_t async; /* a pump thread ended */
        bool async_init;
        pthread_mutex_t mu;
        int live; /* pump threads, under mu */
        bool closing, inner_closed, finished;
        raft_uv_transport_close_cb close_cb;
        _Atomic uint64_t rejected;
};

struct pump {
        struct tg *tg;
        int tcp_fd, pair_fd;
        char who[96];
        unsigned char in[PUMP_BUF], out[PUMP_BUF]; /* in: peer -> libraft; out: libraft -> peer */
        struct frame_guard guard;
};

/* Write all of buf to fd (non-blocking) unless the transport stops; false when
 * the connection is over. */
static bool write_all(struct pump *p, int fd, const unsigned char *buf, size_t n) {
        while (n > 0) {
                ssize_t w = send(fd, buf, n, MSG_NOSIGNAL);
                if (w > 0) {
                        buf += w;
                        n -= (size_t)w;
                        continue;
                }
                if (w < 0 && errno != EAGAIN && errno != EINTR)
                        return false;
                struct pollfd pf[2] = {{.fd = fd, .events = POLLOUT}, {.fd = p->tg->stop_fd, .events = POLLIN}};
                if (poll(pf, 2, -1) < 0 && errno != EINTR)
                        return false;
                if (pf[1].revents)
                        return false;
        }
        return true;
}

/* Copy both ways until either side closes, the transport stops or the peer
 * sends a message over the cap. */
static void pump_run(struct pump *p) {
        for (;;) {
                struct pollfd pf[3] = {{.fd = p->tcp_fd, .events = POLLIN},
                                       {.fd = p->pair_fd, .events = POLLIN},
                                       {.fd = p->tg->stop_fd, .events = POLLIN}};
                if (poll(pf, 3, -1) < 0) {
                        if (errno == EINTR)
                                continue;
                        return;
                }
                if (pf[2].revents)
                        return;
                if (pf[0].revents) {
                        ssize_t n = read(p->tcp_fd, p->in, sizeof(p->in));
                        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
                                return;
                        if (n > 0) {
                                uint64_t size = 0;
                                int r = frame_guard_feed(&p->guard, p->in, (size_t)n, &size);
                                if (r < 0) {
                                        uint64_t k = atomic_fetch_add(&p->tg->rejected, 1) + 1;
                                        if (r == -EMSGSIZE)
                                                log_warn("raft: connection from server %s closed: a message of %llu "
                                                         "bytes, over the cap of %llu bytes (%llu "
                                                         "connection(s) closed so far)",
                                                         p->who, (unsigned long long)size,
                                                         (unsigned long long)p->guard.max, (unsigned long long)k);
                                        else
                                                log_warn("raft: connection from server %s closed: malformed Raft "
                                                         "message framing (type %llu, header of %llu bytes; %llu "
                                                         "connection(s) closed so far)",
                                                         p->who, (unsigned long long)p->guard.type,
                                                         (unsigned long long)p->guard.hdr_len, (unsigned long long)k);
                                        return;
                                }
                                if (!write_all(p, p->pair_fd, p->in, (size_t)n))
                                        return;
                        }
                }
                if (pf[1].revents) {
                        ssize_t n = read(p->pair_fd, p->out, sizeof(p->out));
                        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
                                return;
                        if (n > 0 && !write_all(p, p->tcp_fd, p->out, (size_t)n))
                                return;
                }
        }
}

static void *pump_main(void *arg) {
        struct pump *p = arg;
        struct tg *tg = p->tg;
        pump_run(p);
        close(p->tcp_fd);
        close(p->pair_fd);
        free(p);
        /* Wake the loop before letting go of the lock: once live is 0 and the lock
         * free, the loop may finish closing and free tg. */
        pthread_mutex_lock(&tg->mu);
        tg->live--;
        if (tg->async_init)
                uv_async_send(&tg->async);
        pthread_mutex_unlock(&tg->mu);
        return NULL;
}

static void free_stream(uv_handle_t *h) {
        raft_free(h);
}

static void free_pipe(uv_handle_t *h) {
        raft_free(h);
}

/* libraft's TCP transport read the peer's handshake: put the pump in between. */
static void on_inner_accept(struct raft_uv_transport *inner, raft_id id, const char *address, uv_stream_t *stream) {
        struct tg *tg = inner->data;
        uv_os_fd_t fd = -1;
        int tcp_fd = -1, sp[2] = {-1, -1};
        struct pump *p = NULL;
        uv_pipe_t *pipe = NULL;
        if (uv_fileno((uv_handle_t *)stream, &fd) == 0)
                tcp_fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
        uv_close((uv_handle_t *)stream, free_stream);
        if (tg->closing || tcp_fd < 0 || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sp) < 0)
                goto fail;
        p = calloc(1, sizeof(*p));
        pipe = raft_malloc(sizeof(*pipe));
        if (!p || !pipe || uv_pipe_init(tg->loop, pipe, 0) < 0) {
                raft_free(pipe);
                pipe = NULL;
                goto fail;
        }
        if (uv_pipe_open(pipe, sp[0]) < 0) {
                uv_close((uv_handle_t *)pipe, free_pipe);
                pipe = NULL;
                goto fail;
        }
        p->tg = tg;
        p->tcp_fd = tcp_fd;
        p->pair_fd = sp[1];
        snprintf(p->who, sizeof(p->who), "%llu (%.64s)", (unsigned long long)id, address);
        frame_guard_init(&p->guard, tg->max);
        pthread_mutex_lock(&tg->mu);
        bool room = tg->live < TRANSPORT_GUARD_MAX_CONNS;
        if (room)
                tg->live++;
        pthread_mutex_unlock(&tg->mu);
        pthread_t th;
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        pthread_attr_setstacksize(&attr, 128 * 1024);
        int e = room ? pthread_create(&th, &attr, pump_main, p) : EMFILE;
        pthread_attr_destroy(&attr);
        if (e != 0) {
                if (room) {
                        pthread_mutex_lock(&tg->mu);
                        tg->live--;
                        pthread_mutex_unlock(&tg->mu);
                }
                log_warn("raft: connection from server %llu closed: %s", (unsigned long long)id,
                         e == EMFILE ? "too many connections" : strerror(e));
                uv_close((uv_handle_t *)pipe, free_pipe); /* closes sp[0] */
                close(sp[1]);
                close(tcp_fd);
                free(p);
                return;
        }
        tg->accept_cb(tg->t, id, address, (uv_stream_t *)pipe);
        return;
fail:
        free(p);
        if (sp[0] >= 0 && !pipe)
                close(sp[0]);
        if (sp[1] >= 0)
                close(sp[1]);
        if (tcp_fd >= 0)
                close(tcp_fd);
}

static void maybe_finish(struct tg *tg);

static void on_async(uv_async_t *h) {
        maybe_finish(h->data);
}

static void on_async_closed(uv_handle_t *h) {
        struct tg *tg = h->data;
        if (tg->close_cb)
                tg->close_cb(tg->t); /* may free tg (transport_guard_free) */
}

/* Closing: libraft's TCP transport closed and every pump thread gone. */
static void maybe_finish(struct tg *tg) {
        if (!tg->closing || !tg->inner_closed || tg->finished)
                return;
        pthread_mutex_lock(&tg->mu);
        bool done = tg->live == 0;
        pthread_mutex_unlock(&tg->mu);
        if (!done)
                return;
        tg->finished = true;
        if (tg->async_init)
                uv_close((uv_handle_t *)&tg->async, on_async_closed);
        else if (tg->close_cb)
                tg->close_cb(tg->t);
}

static int tg_init(struct raft_uv_transport *t, raft_id id, const char *address) {
        struct tg *tg = t->impl;
        int r = tg->inner.init(&tg->inner, id, address);
        if (r != 0)
                snprintf(t->errmsg, sizeof(t->errmsg), "%s", tg->inner.errmsg);
        return r;
}

static int tg_listen(struct raft_uv_transport *t, raft_uv_accept_cb cb) {
        struct tg *tg = t->impl;
        tg->accept_cb = cb;
        /* created here, not at init: a transport that never listens (libraft failed
         * to start) is freed without a close, so it must hold no handle */
        if (!tg->async_init) {
                if (uv_async_init(tg->loop, &tg->async, on_async) < 0) {
                        snprintf(t->errmsg, sizeof(t->errmsg), "cannot create the transport's wake-up handle");
                        return RAFT_NOMEM;
                }
                tg->async.data = tg;
                tg->async_init = true;
        }
        int r = tg->inner.listen(&tg->inner, on_inner_accept);
        if (r != 0)
                snprintf(t->errmsg, sizeof(t->errmsg), "%s", tg->inner.errmsg);
        return r;
}

/* Dialled connections: libraft only writes on them. */
static int tg_connect(struct raft_uv_transport *t, struct raft_uv_connect *req, raft_id id, const char *address,
                      raft_uv_connect_cb cb) {
        struct tg *tg = t->impl;
        return tg->inner.connect(&tg->inner, req, id, address, cb);
}

static void on_inner_closed(struct raft_uv_transport *inner) {
        struct tg *tg = inner->data;
        tg->inner_closed = true;
        maybe_finish(tg);
}

static void tg_close(struct raft_uv_transport *t, raft_uv_transport_close_cb cb) {
        struct tg *tg = t->impl;
        tg->closing = true;
        tg->close_cb = cb;
        uint64_t one = 1;
        if (write(tg->stop_fd, &one, sizeof(one)) < 0)
                log_debug("raft: cannot signal the pump threads: %s", strerror(errno));
        tg->inner.close(&tg->inner, on_inner_closed);
}

int transport_guard_init(struct raft_uv_transport *t, uv_loop_t *loop, uint64_t max_message, struct error *err) {
        struct tg *tg = calloc(1, sizeof(*tg));
        if (!tg)
                return errorf(err, -ENOMEM, "out of memory");
        tg->loop = loop;
        tg->max = max_message ? max_message : FRAME_GUARD_DEFAULT_MAX;
        tg->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (tg->stop_fd < 0) {
                int r = errorf(err, -errno, "raft: eventfd: %s", strerror(errno));
                free(tg);
                return r;
        }
        int rv = raft_uv_tcp_init(&tg->inner, loop);
        if (rv != 0) {
                close(tg->stop_fd);
                free(tg);
                return errorf(err, -EIO, "raft: transport: %s", raft_strerror(rv));
        }
        tg->inner.data = tg;
        tg->inner_init = true;
        pthread_mutex_init(&tg->mu, NULL);
        memset(t, 0, sizeof(*t));
        tg->t = t;
        t->impl = tg;
        t->init = tg_init;
        t->listen = tg_listen;
        t->connect = tg_connect;
        t->close = tg_close;
        return 0;
}

void transport_guard_free(struct raft_uv_transport *t) {
        struct tg *tg = t ? t->impl : NULL;
        if (!tg)
                return;
        if (tg->inner_init)
                raft_uv_tcp_close(&tg->inner);
        close(tg->stop_fd);
        pthread_mutex_destroy(&tg->mu);
        free(tg);
        t->impl = NULL;
}

uint64_t transport_guard_rejected(const struct raft_uv_transport *t) {
        struct tg *tg = t ? t->impl : NULL;
        return tg ? atomic_load(&tg->rejected) : 0;
}
