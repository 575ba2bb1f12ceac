/* transport_guard.c - see transport_guard.h. */
#include "controlplane/raft/transport_guard.h"

#include <errno.h>
#include <fcntl.h>
#include <raft.h>
#include <raft/uv.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include "common/dlist.h"
#include "common/error.h"
#include "common/log.h"
#include "controlplane/raft/frame_guard.h"

#define RELAY_BUF 65536
/* Bytes queued towards one side before the relay stops reading the other (and
 * resumes below half): a side that does not read holds the other back, not memory. */
#define RELAY_HIGH (4u << 20)

struct tg {
        struct raft_uv_transport *t; /* the one libraft holds */
        struct raft_uv_transport inner; /* raft_uv_tcp */
        bool inner_init;
        uv_loop_t *loop;
        uint64_t max;
        raft_uv_accept_cb accept_cb;
        struct dlist relays; /* live connections */
        int live;            /* on relays */
        bool closing, inner_closed, finished;
        raft_uv_transport_close_cb close_cb;
        _Atomic uint64_t rejected;
        char buf[RELAY_BUF]; /* every relay's reads: one at a time on the loop, passed on before the next */
};

enum { TO_PAIR, TO_TCP };

/* One incoming connection: the peer's TCP socket and our end of the socketpair
 * whose other end libraft reads, relayed both ways on the loop. */
struct relay {
        struct tg *tg;
        struct dlink link;
        uv_tcp_t tcp;
        uv_pipe_t pair;
        int open_handles; /* closed when 0: then freed */
        bool closing;
        bool close_when_sent; /* the peer closed: close once what it sent reached libraft */
        size_t queued[2];  /* bytes in uv_write towards the pair / the TCP side */
        bool paused[2];    /* reading the other side stopped for queued[dir] */
        struct frame_guard guard;
        char who[96];
};

struct relay_write {
        uv_write_t req;
        struct relay *r;
        int dir;
        size_t len;
        char data[];
};

static void maybe_finish(struct tg *tg);

static void on_relay_handle_closed(uv_handle_t *h) {
        struct relay *r = h->data;
        if (--r->open_handles > 0)
                return;
        struct tg *tg = r->tg;
        dlist_unlink(&tg->relays, &r->link);
        tg->live--;
        free(r);
        maybe_finish(tg);
}

/* Close both sides (libraft sees its pipe end; the peer its connection). */
static void relay_close(struct relay *r) {
        if (r->closing)
                return;
        r->closing = true;
        uv_close((uv_handle_t *)&r->tcp, on_relay_handle_closed);
        uv_close((uv_handle_t *)&r->pair, on_relay_handle_closed);
}

static uv_stream_t *relay_side(struct relay *r, int dir) {
        return dir == TO_PAIR ? (uv_stream_t *)&r->pair : (uv_stream_t *)&r->tcp;
}

static void relay_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
        struct relay *r = h->data;
        *buf = uv_buf_init(r->tg->buf, sizeof(r->tg->buf));
}

static void on_tcp_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf);
static void on_pair_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf);

/* Read the side that feeds dir again (its queue drained below half). */
static void relay_resume(struct relay *r, int dir) {
        if (!r->paused[dir] || r->closing || r->queued[dir] > RELAY_HIGH / 2)
                return;
        r->paused[dir] = false;
        int e = dir == TO_PAIR ? uv_read_start((uv_stream_t *)&r->tcp, relay_alloc, on_tcp_read)
                               : uv_read_start((uv_stream_t *)&r->pair, relay_alloc, on_pair_read);
        if (e < 0)
                relay_close(r);
}

static void on_relay_written(uv_write_t *req, int status) {
        struct relay_write *w = (struct relay_write *)req;
        struct relay *r = w->r;
        r->queued[w->dir] -= w->len;
        int dir = w->dir;
        free(w);
        if (status < 0 || (r->close_when_sent && r->queued[TO_PAIR] == 0))
                relay_close(r);
        else
                relay_resume(r, dir);
}

/* Send buf on towards dir: written at once when nothing is queued and the socket
 * takes it (the usual case), the rest queued; past RELAY_HIGH queued, the side
 * that feeds dir is not read until it drains. */
static void relay_send(struct relay *r, int dir, const char *buf, size_t n) {
        uv_stream_t *to = relay_side(r, dir);
        if (r->queued[dir] == 0) {
                uv_buf_t b = uv_buf_init((char *)buf, (unsigned)n);
                int w = uv_try_write(to, &b, 1);
                if (w < 0 && w != UV_EAGAIN) {
                        relay_close(r);
                        return;
                }
                if (w > 0) {
                        buf += w;
                        n -= (size_t)w;
                }
        }
        if (n == 0)
                return;
        struct relay_write *q = malloc(sizeof(*q) + n);
        if (!q) {
                relay_close(r);
                return;
        }
        memcpy(q->data, buf, n);
        q->r = r;
        q->dir = dir;
        q->len = n;
        uv_buf_t b = uv_buf_init(q->data, (unsigned)n);
        if (uv_write(&q->req, to, &b, 1, on_relay_written) < 0) {
                free(q);
                relay_close(r);
                return;
        }
        r->queued[dir] += n;
        if (r->queued[dir] > RELAY_HIGH) {
                r->paused[dir] = true;
                uv_read_stop(dir == TO_PAIR ? (uv_stream_t *)&r->tcp : (uv_stream_t *)&r->pair);
        }
}

static void log_rejected(struct relay *r, int why, uint64_t size) {
        char what[128];
        snprintf(what, sizeof(what), "raft: connection from server %s", r->who);
        frame_guard_log_refusal(&r->guard, why, size, what, atomic_fetch_add(&r->tg->rejected, 1) + 1);
}

/* From the peer: every byte through the frame guard before libraft may read it. */
static void on_tcp_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf) {
        struct relay *r = s->data;
        if (n == UV_EOF && r->queued[TO_PAIR] > 0) {
                r->close_when_sent = true;
                uv_read_stop(s);
                return;
        }
        if (n < 0) {
                relay_close(r);
                return;
        }
        uint64_t size = 0;
        int e = n > 0 ? frame_guard_feed(&r->guard, buf->base, (size_t)n, &size) : 0;
        if (e < 0) {
                log_rejected(r, e, size);
                relay_close(r);
                return;
        }
        if (n > 0)
                relay_send(r, TO_PAIR, buf->base, (size_t)n);
}

/* From libraft (it answers on the connection the peer opened: the handshake's ack). */
static void on_pair_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf) {
        struct relay *r = s->data;
        if (n < 0) {
                relay_close(r);
                return;
        }
        if (n > 0)
                relay_send(r, TO_TCP, buf->base, (size_t)n);
}

static void free_stream(uv_handle_t *h) {
        raft_free(h);
}

static void free_pipe(uv_handle_t *h) {
        raft_free(h);
}

/* Start relaying tcp_fd and sp1 (both taken, closed on failure). */
static int relay_start(struct tg *tg, int tcp_fd, int sp1, const char *who) {
        struct relay *r = calloc(1, sizeof(*r));
        if (!r) {
                close(tcp_fd);
                close(sp1);
                return -ENOMEM;
        }
        r->tg = tg;
        snprintf(r->who, sizeof(r->who), "%s", who);
        frame_guard_init(&r->guard, tg->max);
        r->tcp.data = r->pair.data = r;
        int e = uv_tcp_init(tg->loop, &r->tcp);
        if (e < 0) {
                close(tcp_fd);
                close(sp1);
                free(r);
                return e;
        }
        r->open_handles = 1;
        dlist_append(&tg->relays, &r->link);
        tg->live++;
        e = uv_pipe_init(tg->loop, &r->pair, 0);
        if (e < 0) {
                close(tcp_fd);
                close(sp1);
                r->closing = true;
                uv_close((uv_handle_t *)&r->tcp, on_relay_handle_closed);
                return e;
        }
        r->open_handles = 2;
        if ((e = uv_tcp_open(&r->tcp, tcp_fd)) < 0)
                close(tcp_fd);
        if (e < 0 || (e = uv_pipe_open(&r->pair, sp1)) < 0) {
                close(sp1); /* the pipe did not take it */
                relay_close(r);
                return e;
        }
        e = uv_read_start((uv_stream_t *)&r->tcp, relay_alloc, on_tcp_read);
        if (e == 0)
                e = uv_read_start((uv_stream_t *)&r->pair, relay_alloc, on_pair_read);
        if (e < 0)
                relay_close(r);
        return e;
}

/* libraft's TCP transport read the peer's handshake: put the relay in between. */
static void on_inner_accept(struct raft_uv_transport *inner, raft_id id, const char *address, uv_stream_t *stream) {
        struct tg *tg = inner->data;
        uv_os_fd_t fd = -1;
        int tcp_fd = -1, sp[2] = {-1, -1};
        uv_pipe_t *pipe = NULL;
        if (uv_fileno((uv_handle_t *)stream, &fd) == 0)
                tcp_fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
        uv_close((uv_handle_t *)stream, free_stream);
        const char *why = NULL;
        if (tg->closing)
                why = "the transport is closing";
        else if (tg->live >= TRANSPORT_GUARD_MAX_CONNS)
                why = "too many connections";
        else if (tcp_fd < 0 || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sp) < 0)
                why = strerror(errno);
        else if (!(pipe = raft_malloc(sizeof(*pipe))) || uv_pipe_init(tg->loop, pipe, 0) < 0) {
                raft_free(pipe);
                pipe = NULL;
                why = "out of memory";
        } else if (uv_pipe_open(pipe, sp[0]) < 0) {
                uv_close((uv_handle_t *)pipe, free_pipe);
                pipe = NULL;
                why = "cannot open the relay's pipe";
        }
        if (why) {
                log_warn("raft: connection from server %llu closed: %s", (unsigned long long)id, why);
                if (sp[0] >= 0 && !pipe)
                        close(sp[0]);
                if (sp[1] >= 0)
                        close(sp[1]);
                if (tcp_fd >= 0)
                        close(tcp_fd);
                return;
        }
        char who[96];
        snprintf(who, sizeof(who), "%llu (%.64s)", (unsigned long long)id, address);
        int e = relay_start(tg, tcp_fd, sp[1], who); /* takes both fds */
        if (e < 0) {
                log_warn("raft: connection from server %s closed: %s", who, uv_strerror(e));
                uv_close((uv_handle_t *)pipe, free_pipe); /* closes sp[0] */
                return;
        }
        tg->accept_cb(tg->t, id, address, (uv_stream_t *)pipe);
}

/* Closing: libraft's TCP transport closed and every relay's handles closed. */
static void maybe_finish(struct tg *tg) {
        if (!tg->closing || !tg->inner_closed || tg->finished || tg->live > 0)
                return;
        tg->finished = true;
        if (tg->close_cb)
                tg->close_cb(tg->t); /* may free tg (transport_guard_free) */
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
        int r = tg->inner.listen(&tg->inner, on_inner_accept);
        if (r != 0)
                snprintf(t->errmsg, sizeof(t->errmsg), "%s", tg->inner.errmsg);
        return r;
}

/* A connection libraft dials, on its way: libraft's request is answered from ours. */
struct dial {
        struct raft_uv_connect req; /* given to libraft's TCP transport */
        struct raft_uv_connect *outer;
        raft_uv_connect_cb cb;
};

/* Dialled connections carry messages one way: libraft only writes on them (the peer
 * answers on the connection it dialled itself). With Nagle's algorithm on, a message
 * written while the previous one is unacknowledged waits for that acknowledgement,
 * which the receiver, having nothing to send back on this connection, delays by up to
 * 40 ms: every commit that needed that message took 40 ms more. libraft does not set
 * TCP_NODELAY; the dialled socket gets it here, before the first message. */
static void on_dialled(struct raft_uv_connect *req, struct uv_stream_s *stream, int status) {
        struct dial *d = req->data;
        struct raft_uv_connect *outer = d->outer;
        raft_uv_connect_cb cb = d->cb;
        free(d);
        if (status == 0 && stream && stream->type == UV_TCP) {
                int e = uv_tcp_nodelay((uv_tcp_t *)stream, 1);
                if (e < 0)
                        log_warn("raft: TCP_NODELAY on a dialled connection: %s", uv_strerror(e));
        }
        cb(outer, stream, status);
}

static int tg_connect(struct raft_uv_transport *t, struct raft_uv_connect *req, raft_id id, const char *address,
                      raft_uv_connect_cb cb) {
        struct tg *tg = t->impl;
        struct dial *d = calloc(1, sizeof(*d));
        if (!d)
                return RAFT_NOMEM;
        d->req.data = d;
        d->outer = req;
        d->cb = cb;
        int rv = tg->inner.connect(&tg->inner, &d->req, id, address, on_dialled);
        if (rv != 0)
                free(d);
        return rv;
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
        for (struct dlink *k = tg->relays.head; k; k = k->next)
                relay_close(dlist_entry(k, struct relay, link));
        tg->inner.close(&tg->inner, on_inner_closed);
}

int transport_guard_init(struct raft_uv_transport *t, uv_loop_t *loop, uint64_t max_message, struct error *err) {
        struct tg *tg = calloc(1, sizeof(*tg));
        if (!tg)
                return errorf(err, -ENOMEM, "out of memory");
        tg->loop = loop;
        tg->max = max_message ? max_message : FRAME_GUARD_DEFAULT_MAX;
        int rv = raft_uv_tcp_init(&tg->inner, loop);
        if (rv != 0) {
                free(tg);
                return errorf(err, -EIO, "raft: transport: %s", raft_strerror(rv));
        }
        tg->inner.data = tg;
        tg->inner_init = true;
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
        free(tg);
        t->impl = NULL;
}

uint64_t transport_guard_rejected(const struct raft_uv_transport *t) {
        struct tg *tg = t ? t->impl : NULL;
        return tg ? atomic_load(&tg->rejected) : 0;
}
