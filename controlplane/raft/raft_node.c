/* raft_node.c - libraft glue. */
#include "controlplane/raft/raft_node.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <raft.h>
#include <raft/uv.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

#include "common/clock.h"
#include "common/error.h"
#include "common/log.h"
#include "controlplane/raft/segment_alloc.h"
#include "controlplane/raft/transport_guard.h"
#include "controlplane/raft/transport_tls.h"

struct raft_node {
        struct raft_io io;
        struct raft_uv_transport transport;
        struct raft raft;
        struct raft_fsm fsm;
        const struct raft_fsm_ops *ops;
        void *ops_data;
        void (*done)(void *arg);
        void *done_arg;
        bool io_init, transport_init, raft_init;
        bool transport_is_tls; /* transport_tls (cfg->tls), else libraft's TCP */
        /* The last FSM rejection: its message reaches the proposer's callback,
         * which libraft runs right after the apply of the same entry. */
        uint64_t reject_index;
        char reject_msg[256];
        void *snap_view; /* the FSM's view while a snapshot is being written */
        uv_loop_t *loop;
        int async_in_flight; /* io->async_work requests on the pool */
        bool close_pending;  /* raft_node_close waits for them */
        uint64_t restores;   /* snapshots restored into the FSM (at start, or sent by the leader) */
        /* A follower's committed entries, not yet applied to the FSM (see fsm_apply). */
        struct deferred *defer_head, *defer_tail;
        uv_idle_t *defer_idle;   /* drains them between turns of I/O; freed by its close */
        uv_timer_t *defer_timer; /* a head not ready (ops->ready) is looked at again; freed by its close */
        struct heavy *heavy;     /* a heavy entry or a snapshot being built on the pool (see heavy_start) */
        /* proposers' and barriers' callbacks whose entry is not applied yet, in index order */
        struct waiter *wait_head, *wait_tail;
        bool started;                  /* raft_start returned: a snapshot restored from here on is built off the loop */
        struct raft_transfer transfer; /* raft_node_transfer's request, while transferring */
        bool transferring;
        /* libraft's own tick and receive callbacks, called through ours (io_start) */
        int (*uv_start)(struct raft_io *io, unsigned msecs, raft_io_tick_cb tick, raft_io_recv_cb recv);
        raft_io_tick_cb raft_tick;
        raft_io_recv_cb raft_recv;
        void (*leader_changed)(void *arg); /* cfg's */
        void *leader_changed_arg;
        raft_id seen_leader; /* the view last reported to leader_changed */
        int seen_state;
};

/* ---- the leader's changes, as libraft handles its messages and ticks ----------------- */

static void leader_check(struct raft_node *rn) {
        raft_id id = 0;
        const char *addr = NULL;
        raft_leader(&rn->raft, &id, &addr);
        int state = raft_state(&rn->raft);
        if (id == rn->seen_leader && state == rn->seen_state)
                return;
        rn->seen_leader = id;
        rn->seen_state = state;
        if (rn->leader_changed)
                rn->leader_changed(rn->leader_changed_arg);
}

static void io_tick(struct raft_io *io) {
        struct raft_node *rn = (struct raft_node *)io; /* io is the first member */
        rn->raft_tick(io);
        leader_check(rn);
}

static void io_recv(struct raft_io *io, struct raft_message *msg) {
        struct raft_node *rn = (struct raft_node *)io;
        rn->raft_recv(io, msg);
        leader_check(rn);
}

static int io_start(struct raft_io *io, unsigned msecs, raft_io_tick_cb tick, raft_io_recv_cb recv) {
        struct raft_node *rn = (struct raft_node *)io;
        rn->raft_tick = tick;
        rn->raft_recv = recv;
        return rn->uv_start(io, msecs, io_tick, io_recv);
}

/* ---- io->async_work: libraft's uv I/O (0.15) has none; ours runs the work on
 * libuv's pool, so that snapshots are written off the loop. */

struct async_req {
        uv_work_t work;
        struct raft_node *rn;
        struct raft_io_async_work *req;
        int status;
};

static void async_run(uv_work_t *w) {
        struct async_req *ar = w->data;
        ar->status = ar->req->work(ar->req);
}

static void raft_close_now(struct raft_node *rn);

static void async_done(uv_work_t *w, int status) {
        struct async_req *ar = w->data;
        struct raft_node *rn = ar->rn;
        rn->async_in_flight--;
        ar->req->cb(ar->req, status < 0 ? RAFT_CANCELED : ar->status);
        free(ar);
        if (rn->close_pending && rn->async_in_flight == 0)
                raft_close_now(rn);
}

static int io_async_work(struct raft_io *io, struct raft_io_async_work *req, raft_io_async_work_cb cb) {
        struct raft_node *rn = (struct raft_node *)io; /* io is the first member */
        struct async_req *ar = calloc(1, sizeof(*ar));
        if (!ar)
                return RAFT_NOMEM;
        req->cb = cb;
        ar->work.data = ar;
        ar->rn = rn;
        ar->req = req;
        if (uv_queue_work(rn->loop, &ar->work, async_run, async_done) < 0) {
                free(ar);
                return RAFT_IOERR;
        }
        rn->async_in_flight++;
        return 0;
}

struct apply_req {
        struct raft_apply req;
        struct raft_node *rn;
        raft_node_apply_cb cb;
        void *arg;
};

/* libraft's on-disk format needs entry payloads in multiples of 8 bytes, so
 * every entry is framed as [8-byte little-endian length][payload][zero padding]. */
#define FRAME_HDR 8

/* libraft says only "I/O error" when it cannot listen: find out whether the
 * address is taken, to say so. */
static const char *listen_hint(const char *address) {
        char host[64];
        snprintf(host, sizeof(host), "%s", address);
        char *colon = strrchr(host, ':');
        if (!colon)
                return "";
        *colon = '\0';
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(colon + 1))};
        if (inet_pton(AF_INET, host, &sa.sin_addr) != 1)
                return "";
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return "";
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        int r = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
        int e = errno;
        close(fd);
        if (r == 0)
                return "";
        return e == EADDRINUSE ? " (the Raft address is already in use)" : " (cannot bind the Raft address)";
}

static size_t frame_size(size_t len) {
        return FRAME_HDR + ((len + 7) & ~(size_t)7);
}

static int unframe(const struct raft_buffer *buf, const void **ret, size_t *ret_len) {
        if (buf->len < FRAME_HDR)
                return -EINVAL;
        uint64_t len = 0;
        const unsigned char *p = buf->base;
        for (int i = 7; i >= 0; i--)
                len = len << 8 | p[i];
        if (len > buf->len - FRAME_HDR)
                return -EINVAL;
        *ret = p + FRAME_HDR;
        *ret_len = (size_t)len;
        return 0;
}

/* ---- a follower's applies, deferred.
 *
 * libraft's follower applies the newly committed entries before it acknowledges the
 * entries it has just written (appendFollowerCb: replicationApply, then the
 * AppendEntries result), so every commit round of the leader would wait for the
 * followers' apply of the previous round's entries: milliseconds for a plan of 1,000
 * allocations. A follower therefore copies each committed entry into a queue, and an
 * idle handle applies the queue, in log order, between turns of I/O, a few
 * milliseconds at a time. Nothing on a follower needs the FSM at libraft's
 * last_applied at once: its readers go by the state's own index, which moves as the
 * queue is applied. The queue is applied whole, synchronously, before anything
 * that does: an apply as leader (after an election), a barrier's callback, a
 * snapshot of the FSM; a restored snapshot replaces what it holds. An entry is
 * handed to ops->queued as it is queued (the server decodes its plans on the pool
 * meanwhile), and the idle handle leaves a head whose work is not done yet
 * (ops->ready) for up to RAFT_NODE_READY_WAIT_MS, looking again every millisecond
 * or when an entry comes, instead of doing that work on the loop. */

struct deferred {
        struct deferred *next;
        int64_t queued_ns; /* CLOCK_MONOTONIC */
        uint64_t index;
        size_t len;
        unsigned char data[];
};

/* How long one idle turn applies queued entries before it lets I/O in again. */
#define DEFER_SLICE_NS (2 * NS_PER_MS)

/* A command the state store rejects is still "applied" (deterministically, on
 * every server): libraft is told success so that the log moves on, and the
 * rejection reaches the proposer as the entry's result. */
static void note_reject(struct raft_node *rn, uint64_t index, int r, const struct error *err) {
        log_debug("raft: entry %llu rejected by the FSM: %s", (unsigned long long)index, err->msg);
        rn->reject_index = index;
        snprintf(rn->reject_msg, sizeof(rn->reject_msg), "%s", err->code ? err->msg : strerror(-r));
}

/* The FSM's code: 0, or its rejection (noted for the proposer). */
static int fsm_apply_now(struct raft_node *rn, uint64_t index, const void *data, size_t len) {
        struct error err = {0};
        int64_t t0 = clock_monotonic_ns();
        int r = rn->ops->apply(rn->ops_data, index, data, len, &err);
        log_debug("raft: entry %llu (%zu bytes) applied in %.2f ms", (unsigned long long)index, len,
                  (double)(clock_monotonic_ns() - t0) / 1e6);
        if (r < 0)
                note_reject(rn, index, r, &err);
        return r < 0 ? r : 0;
}

static bool heavy_start(struct raft_node *rn, struct deferred *entry, void *snap_buf, const void *data, size_t len);
static void wait_fire(struct raft_node *rn, uint64_t upto, uint64_t index, int code);

/* Whether an entry applied now would overtake one not applied yet. */
static bool applies_held(const struct raft_node *rn) {
        return rn->heavy || rn->defer_head;
}

/* Whether the head may wait for its work off the loop (ops->ready), a little. */
static bool defer_head_waits(struct raft_node *rn, const struct deferred *d) {
        return rn->ops->ready && rn->defer_timer &&
               clock_monotonic_ns() - d->queued_ns < RAFT_NODE_READY_WAIT_MS * NS_PER_MS &&
               !rn->ops->ready(rn->ops_data, d->data, d->len);
}

/* Apply one queued entry; false when the queue is empty, or when its head is a
 * heavy entry (now building on the pool: the queue waits for it), or (when
 * may_wait) its work off the loop is not done yet. */
static bool defer_apply_one(struct raft_node *rn, bool may_wait) {
        struct deferred *d = rn->defer_head;
        if (!d || rn->heavy || (may_wait && defer_head_waits(rn, d)))
                return false;
        rn->defer_head = d->next;
        if (!rn->defer_head)
                rn->defer_tail = NULL;
        if (heavy_start(rn, d, NULL, d->data, d->len))
                return false; /* it owns d now */
        int r = fsm_apply_now(rn, d->index, d->data, d->len);
        uint64_t index = d->index;
        free(d);
        wait_fire(rn, index, index, r);
        return true;
}

/* After applies: the idle handle runs while entries wait and none is building;
 * once nothing is held, every callback still waiting (barriers) runs. */
static void defer_settle(struct raft_node *rn) {
        if (rn->defer_idle && (!rn->defer_head || rn->heavy))
                uv_idle_stop(rn->defer_idle);
        if (!applies_held(rn))
                wait_fire(rn, UINT64_MAX, 0, 0);
}

static void defer_drain(struct raft_node *rn) {
        while (defer_apply_one(rn, false))
                ;
        defer_settle(rn);
}

static void defer_drop(struct raft_node *rn) {
        while (rn->defer_head) {
                struct deferred *d = rn->defer_head;
                rn->defer_head = d->next;
                free(d);
        }
        rn->defer_tail = NULL;
        if (rn->defer_idle)
                uv_idle_stop(rn->defer_idle);
}

static void on_defer_idle(uv_idle_t *h);

static void on_defer_timer(uv_timer_t *t) {
        struct raft_node *rn = t->data;
        if (rn->defer_head && !rn->heavy && rn->defer_idle)
                uv_idle_start(rn->defer_idle, on_defer_idle);
}

static void on_defer_idle(uv_idle_t *h) {
        struct raft_node *rn = h->data;
        int64_t t0 = clock_monotonic_ns();
        while (defer_apply_one(rn, true) && clock_monotonic_ns() - t0 < DEFER_SLICE_NS)
                ;
        defer_settle(rn);
        if (rn->defer_head && !rn->heavy && defer_head_waits(rn, rn->defer_head)) {
                uv_idle_stop(h); /* no spinning: looked at again in a millisecond, or when an entry comes */
                uv_timer_start(rn->defer_timer, on_defer_timer, 1, 0);
        }
}

static struct deferred *deferred_new(uint64_t index, const void *data, size_t len) {
        struct deferred *d = malloc(sizeof(*d) + len);
        if (!d)
                return NULL;
        d->next = NULL;
        d->queued_ns = clock_monotonic_ns();
        d->index = index;
        d->len = len;
        memcpy(d->data, data, len);
        return d;
}

/* Queue a follower's committed entry; false when it must be applied now (no
 * memory for the copy: applied at once, as without the queue). */
static bool defer_entry(struct raft_node *rn, uint64_t index, const void *data, size_t len) {
        if (!rn->defer_idle)
                return false;
        struct deferred *d = deferred_new(index, data, len);
        if (!d)
                return false;
        if (rn->defer_tail)
                rn->defer_tail->next = d;
        else
                rn->defer_head = d;
        rn->defer_tail = d;
        if (rn->ops->queued)
                rn->ops->queued(rn->ops_data, d->data, d->len);
        if (!rn->heavy)
                uv_idle_start(rn->defer_idle, on_defer_idle);
        return true;
}

/* ---- heavy entries and snapshots, built off the loop.
 *
 * An entry that replaces the whole state (ops->heavy) would hold the loop for
 * seconds: long enough to lose the leadership. It is built on libuv's pool
 * (ops->prepare) from its bytes alone; meanwhile every later entry waits in the
 * queue above, whatever this server's role, so that none is applied against the
 * state it replaces; then ops->install swaps it in on the loop, and the queue is
 * applied after it. A proposer's callback (on_applied) and a barrier's
 * (on_barrier) whose entry is still queued wait in rn->wait_head until it is
 * applied: they see the state after their entry, as without the queue. A snapshot
 * libraft restores once the server runs (sent by the leader) takes the same path;
 * the one it finds at start is restored synchronously, before anyone is served. */

struct heavy {
        uv_work_t work;
        struct raft_node *rn;
        bool cancelled; /* superseded by a snapshot: its result is discarded */
        bool snapshot;  /* a snapshot (snap_buf), else an entry (entry) */
        struct deferred *entry;
        void *snap_buf;   /* libraft's buffer, raft_free'd */
        const void *data; /* inside entry or snap_buf */
        size_t len;
        uint64_t before; /* the last index applied before it */
        void *prepared;
        int rc;
        struct error err;
        int64_t queued_ns;
};

struct discard_req {
        uv_work_t work;
        void (*discard)(void *prepared);
        void *prepared;
};

static void discard_work(uv_work_t *w) {
        struct discard_req *d = w->data;
        d->discard(d->prepared);
}

static void discard_done(uv_work_t *w, int status) {
        (void)status;
        free(w->data);
}

/* Free a prepared state (or the one it replaced) on the pool: that, too, is
 * proportional to the state's size. On the loop when it cannot be queued. */
static void discard_later(struct raft_node *rn, void *prepared) {
        if (!prepared)
                return;
        struct discard_req *d = calloc(1, sizeof(*d));
        if (d) {
                *d = (struct discard_req){.discard = rn->ops->discard, .prepared = prepared};
                d->work.data = d;
                if (uv_queue_work(rn->loop, &d->work, discard_work, discard_done) == 0)
                        return;
                free(d);
        }
        rn->ops->discard(prepared);
}

static void heavy_free(struct heavy *h) {
        free(h->entry);
        if (h->snap_buf)
                raft_free(h->snap_buf);
        free(h);
}

static void heavy_work(uv_work_t *w) {
        struct heavy *h = w->data;
        h->rc = h->rn->ops->prepare(h->data, h->len, h->snapshot, &h->prepared, &h->err);
}

static void heavy_done(uv_work_t *w, int status) {
        struct heavy *h = w->data;
        struct raft_node *rn = h->rn;
        rn->async_in_flight--;
        if (h->cancelled) {
                discard_later(rn, h->prepared);
                heavy_free(h);
                if (rn->close_pending && rn->async_in_flight == 0)
                        raft_close_now(rn);
                return;
        }
        rn->heavy = NULL;
        int64_t t0 = clock_monotonic_ns();
        uint64_t index = h->snapshot ? 0 : h->entry->index;
        struct error err = h->err;
        int r = status < 0 ? errorf(&err, -ECANCELED, "its build on the pool was cancelled") : h->rc;
        if (r == 0 && h->prepared) {
                err = (struct error){0};
                r = rn->ops->install(rn->ops_data, index, h->prepared, &err);
        }
        discard_later(rn, h->prepared);
        log_info("raft: %s %llu built off the loop in %.1f ms, swapped in in %.3f ms%s%s",
                 h->snapshot ? "a snapshot after index" : "entry",
                 (unsigned long long)(h->snapshot ? h->before : index), (double)(t0 - h->queued_ns) / 1e6,
                 (double)(clock_monotonic_ns() - t0) / 1e6, r < 0 ? "; rejected: " : "", r < 0 ? err.msg : "");
        if (h->snapshot && r == 0)
                rn->restores++;
        if (h->snapshot && r < 0) {
                /* libraft was told it was restored: this server's state would diverge */
                log_error("raft: a snapshot libraft restored cannot be built: %s; exiting", err.msg);
                abort();
        }
        if (!h->snapshot) {
                if (r < 0)
                        note_reject(rn, index, r, &err);
                wait_fire(rn, index, index, r);
        }
        heavy_free(h);
        if (rn->defer_head && rn->defer_idle)
                uv_idle_start(rn->defer_idle, on_defer_idle);
        defer_settle(rn);
        if (rn->close_pending && rn->async_in_flight == 0)
                raft_close_now(rn);
}

/* Start building a heavy entry (entry, taken on success) or a snapshot (snap_buf,
 * taken on success) on the pool; false when it is not heavy or cannot be queued:
 * the caller applies it on the loop. */
static bool heavy_start(struct raft_node *rn, struct deferred *entry, void *snap_buf, const void *data, size_t len) {
        const struct raft_fsm_ops *ops = rn->ops;
        if (!ops->heavy || !ops->prepare || !ops->install || !ops->discard || !rn->defer_idle || !rn->started ||
            rn->heavy)
                return false;
        if (entry && !ops->heavy(rn->ops_data, data, len))
                return false;
        struct heavy *h = calloc(1, sizeof(*h));
        if (!h)
                return false;
        *h = (struct heavy){.rn = rn,
                            .snapshot = !entry,
                            .entry = entry,
                            .snap_buf = snap_buf,
                            .data = data,
                            .len = len,
                            .queued_ns = clock_monotonic_ns()};
        h->before = entry ? entry->index - 1 : raft_last_applied(&rn->raft);
        h->work.data = h;
        if (uv_queue_work(rn->loop, &h->work, heavy_work, heavy_done) < 0) {
                free(h);
                return false;
        }
        rn->async_in_flight++;
        rn->heavy = h;
        if (rn->defer_idle)
                uv_idle_stop(rn->defer_idle);
        log_info("raft: %s of %zu bytes built on the pool; later entries wait for it",
                 entry ? "an entry replacing the state" : "a snapshot", len);
        return true;
}

/* ---- callbacks waiting for their entry to be applied */

struct apply_req;
struct barrier_req;
static void apply_answer(struct apply_req *ar, int code, const char *msg);
static void barrier_answer(struct barrier_req *br, int code);

struct waiter {
        struct waiter *next;
        uint64_t index;
        struct apply_req *ar; /* or */
        struct barrier_req *br;
};

/* Queue a callback behind the held entries; false (no memory): the caller answers now. */
static bool wait_push(struct raft_node *rn, uint64_t index, struct apply_req *ar, struct barrier_req *br) {
        struct waiter *w = malloc(sizeof(*w));
        if (!w)
                return false;
        *w = (struct waiter){.index = index, .ar = ar, .br = br};
        if (rn->wait_tail)
                rn->wait_tail->next = w;
        else
                rn->wait_head = w;
        rn->wait_tail = w;
        return true;
}

/* Answer the waiting callbacks of entries up to upto, in order; the entry at index
 * was just applied with code (its rejection, when negative, noted in rn). */
static void wait_fire(struct raft_node *rn, uint64_t upto, uint64_t index, int code) {
        while (rn->wait_head && rn->wait_head->index <= upto) {
                struct waiter *w = rn->wait_head;
                rn->wait_head = w->next;
                if (!rn->wait_head)
                        rn->wait_tail = NULL;
                int c = w->index == index ? code : 0;
                if (w->ar)
                        apply_answer(w->ar, c, c < 0 ? rn->reject_msg : NULL);
                else
                        barrier_answer(w->br, c);
                free(w);
        }
}

/* Every waiting callback answered with code (closing, or the entries superseded). */
static void wait_fail_all(struct raft_node *rn, int code, const char *msg) {
        while (rn->wait_head) {
                struct waiter *w = rn->wait_head;
                rn->wait_head = w->next;
                if (w->ar)
                        apply_answer(w->ar, code, msg);
                else
                        barrier_answer(w->br, code);
                free(w);
        }
        rn->wait_tail = NULL;
}

static int fsm_apply(struct raft_fsm *fsm, const struct raft_buffer *buf, void **result) {
        struct raft_node *rn = fsm->data;
        /* libraft bumps last_applied after this returns: this entry is the next. */
        uint64_t index = raft_last_applied(&rn->raft) + 1;
        *result = NULL;
        const void *data;
        size_t len;
        if (unframe(buf, &data, &len) < 0) {
                log_error("raft: entry %llu has a bad frame; skipped", (unsigned long long)index);
                return 0;
        }
        if ((raft_state(&rn->raft) == RAFT_FOLLOWER || rn->heavy) && defer_entry(rn, index, data, len))
                return 0;
        defer_drain(rn); /* in log order: what a follower queued first (up to a heavy entry) */
        if (rn->heavy)   /* behind a heavy entry; without memory to queue it, libraft retries */
                return defer_entry(rn, index, data, len) ? 0 : RAFT_NOMEM;
        if (rn->ops->heavy && rn->started && rn->ops->heavy(rn->ops_data, data, len)) {
                struct deferred *d = deferred_new(index, data, len);
                if (d && heavy_start(rn, d, NULL, d->data, d->len))
                        return 0;
                free(d); /* applied here, on the loop */
        }
        int r = fsm_apply_now(rn, index, data, len);
        if (r < 0)
                *result = (void *)(intptr_t)r;
        return 0;
}

/* Snapshots (libraft's FSM version 3): fsm_snapshot takes the view on the loop,
 * fsm_snapshot_async serialises it on the pool, fsm_snapshot_finalize releases
 * both on the loop. libraft takes one snapshot at a time. */
static int fsm_snapshot(struct raft_fsm *fsm, struct raft_buffer *bufs[], unsigned *n_bufs) {
        struct raft_node *rn = fsm->data;
        void *view = NULL;
        defer_drain(rn);      /* the snapshot is libraft's last_applied */
        if (applies_held(rn)) /* a heavy entry is building: libraft retries later */
                return RAFT_BUSY;
        if (rn->ops->snapshot_begin(rn->ops_data, &view) < 0)
                return RAFT_NOMEM;
        *bufs = raft_calloc(1, sizeof(**bufs));
        if (!*bufs) {
                rn->ops->snapshot_end(view);
                return RAFT_NOMEM;
        }
        rn->snap_view = view;
        *n_bufs = 1;
        return 0;
}

static int fsm_snapshot_async(struct raft_fsm *fsm, struct raft_buffer *bufs[], unsigned *n_bufs) {
        struct raft_node *rn = fsm->data;
        void *data = NULL;
        size_t len = 0;
        if (*n_bufs != 1 || rn->ops->snapshot_write(rn->snap_view, &data, &len) < 0)
                return RAFT_NOMEM;
        size_t flen = frame_size(len);
        unsigned char *copy = raft_malloc(flen);
        if (!copy) {
                free(data);
                return RAFT_NOMEM;
        }
        memset(copy, 0, flen);
        for (int i = 0; i < 8; i++)
                copy[i] = (unsigned char)((uint64_t)len >> (8 * i));
        memcpy(copy + FRAME_HDR, data, len);
        free(data);
        (*bufs)[0].base = copy;
        (*bufs)[0].len = flen;
        return 0;
}

static int fsm_snapshot_finalize(struct raft_fsm *fsm, struct raft_buffer *bufs[], unsigned *n_bufs) {
        struct raft_node *rn = fsm->data;
        if (*bufs) {
                for (unsigned i = 0; i < *n_bufs; i++)
                        raft_free((*bufs)[i].base);
                raft_free(*bufs);
        }
        *bufs = NULL;
        *n_bufs = 0;
        if (rn->snap_view)
                rn->ops->snapshot_end(rn->snap_view);
        rn->snap_view = NULL;
        return 0;
}

static int fsm_restore(struct raft_fsm *fsm, struct raft_buffer *buf) {
        struct raft_node *rn = fsm->data;
        const void *data;
        size_t len;
        defer_drop(rn);  /* entries the snapshot holds */
        if (rn->heavy) { /* so does a heavy one still building */
                rn->heavy->cancelled = true;
                rn->heavy = NULL;
        }
        wait_fail_all(rn, -EIO, "the entry was superseded by a snapshot before it was applied here");
        int r = unframe(buf, &data, &len);
        if (r == 0 && heavy_start(rn, NULL, buf->base, data, len))
                return 0; /* counted in restores once installed */
        if (r == 0)
                r = rn->ops->restore(rn->ops_data, data, len);
        if (r == 0)
                rn->restores++;
        raft_free(buf->base);
        return r < 0 ? RAFT_CORRUPT : 0;
}

/* The transport: mutual TLS when configured (-tls-rpc), else libraft's TCP with
 * its incoming messages bounded (transport_guard.h). */
static int transport_open(struct raft_node *rn, uv_loop_t *loop, const struct raft_node_config *cfg,
                          struct error *err) {
        if (cfg->tls) {
                rn->transport_is_tls = true;
                return transport_tls_init(&rn->transport, loop, cfg->tls, err);
        }
        return transport_guard_init(&rn->transport, loop, cfg->max_message, err);
}

static void transport_free(struct raft_node *rn) {
        if (rn->transport_is_tls)
                transport_tls_free(&rn->transport);
        else
                transport_guard_free(&rn->transport);
}

int raft_node_create(uv_loop_t *loop, const struct raft_node_config *cfg, const struct raft_fsm_ops *ops,
                     void *ops_data, struct raft_node **ret, struct error *err) {
        if (mkdir(cfg->data_dir, 0700) < 0 && errno != EEXIST)
                return errorf(err, -errno, "raft: cannot create data dir \"%s\": %s", cfg->data_dir, strerror(errno));
        struct raft_node *rn = calloc(1, sizeof(*rn));
        if (!rn)
                return -ENOMEM;
        rn->ops = ops;
        rn->ops_data = ops_data;
        rn->fsm = (struct raft_fsm){.version = 3,
                                    .data = rn,
                                    .apply = fsm_apply,
                                    .snapshot = fsm_snapshot,
                                    .restore = fsm_restore,
                                    .snapshot_finalize = fsm_snapshot_finalize,
                                    .snapshot_async = fsm_snapshot_async};
        int r = transport_open(rn, loop, cfg, err);
        if (r < 0) {
                free(rn);
                return r;
        }
        rn->transport_init = true;
        segment_alloc_enable(); /* the log's segments as written blocks: see segment_alloc.h */
        r = raft_uv_init(&rn->io, loop, cfg->data_dir, &rn->transport);
        if (r != 0) {
                transport_free(rn);
                free(rn);
                return errorf(err, -EIO, "raft: data dir \"%s\": %s", cfg->data_dir, raft_strerror(r));
        }
        rn->io_init = true;
        rn->loop = loop;

        rn->io.version = 2;
        rn->io.async_work = io_async_work;
        rn->uv_start = rn->io.start;
        rn->io.start = io_start;
        rn->leader_changed = cfg->leader_changed;
        rn->leader_changed_arg = cfg->leader_changed_arg;
        r = raft_init(&rn->raft, &rn->io, &rn->fsm, cfg->id, cfg->address);
        if (r != 0) {
                int code = errorf(err, -EIO, "raft: init: %s", raft_errmsg(&rn->raft));
                raft_uv_close(&rn->io);
                transport_free(rn);
                free(rn);
                return code;
        }
        rn->raft_init = true;
        /* From here on every failure closes through raft_node_close, which closes it.
         * Without it (no memory), a follower applies at once. */
        rn->defer_idle = malloc(sizeof(*rn->defer_idle));
        if (rn->defer_idle) {
                uv_idle_init(loop, rn->defer_idle);
                rn->defer_idle->data = rn;
        }
        rn->defer_timer = malloc(sizeof(*rn->defer_timer));
        if (rn->defer_timer) {
                uv_timer_init(loop, rn->defer_timer);
                rn->defer_timer->data = rn;
        }
        raft_set_election_timeout(&rn->raft, cfg->election_timeout_ms ? cfg->election_timeout_ms : 1000);
        raft_set_heartbeat_timeout(&rn->raft, cfg->heartbeat_timeout_ms ? cfg->heartbeat_timeout_ms : 100);
        raft_set_snapshot_threshold(&rn->raft, cfg->snapshot_threshold ? cfg->snapshot_threshold : 8192);
        raft_set_snapshot_trailing(&rn->raft, cfg->snapshot_trailing ? cfg->snapshot_trailing : 1024);
        /* Server-to-server limits: a snapshot transfer that does not finish in 30 s
         * is retried; a peer that cannot be reached is retried every second; a
         * server that falls behind is given a bounded number of catch-up rounds
         * before its promotion to voter fails. */
        raft_set_install_snapshot_timeout(&rn->raft, 30000);
        raft_uv_set_connect_retry_delay(&rn->io, 1000);
        raft_set_max_catch_up_rounds(&rn->raft, 10);
        raft_set_max_catch_up_round_duration(&rn->raft, 5000);
        raft_set_pre_vote(&rn->raft, true);
        if (cfg->bootstrap) {
                struct raft_configuration conf;
                raft_configuration_init(&conf);
                if (cfg->n_voters == 0)
                        r = raft_configuration_add(&conf, cfg->id, cfg->address, RAFT_VOTER);
                for (size_t i = 0; i < cfg->n_voters && r == 0; i++)
                        r = raft_configuration_add(&conf, cfg->voters[i].id, cfg->voters[i].address, RAFT_VOTER);
                if (r == 0)
                        r = raft_bootstrap(&rn->raft, &conf);
                raft_configuration_close(&conf);
                if (r != 0 && r != RAFT_CANTBOOTSTRAP) {
                        *ret = rn;
                        raft_node_close(rn, NULL, NULL);
                        *ret = NULL;
                        return errorf(err, -EIO, "raft: bootstrap: %s", raft_strerror(r));
                }
        }
        r = raft_start(&rn->raft);
        if (r != 0) {
                const char *detail = raft_errmsg(&rn->raft);
                int code = errorf(err, -EIO, "raft: start (address %s, dir %s): %s%s%s%s", cfg->address,
                                  cfg->data_dir, raft_strerror(r), detail && *detail ? ": " : "", detail ? detail : "",
                                  listen_hint(cfg->address));
                raft_node_close(rn, NULL, NULL);
                return code;
        }
        rn->started = true;
        *ret = rn;
        return 0;
}

static void free_handle(uv_handle_t *h) {
        free(h);
}

static void on_raft_closed(struct raft *r) {
        struct raft_node *rn = r->data;
        /* Entries not applied yet stay in the log: a restart applies them again. */
        defer_drop(rn);
        wait_fail_all(rn, -ECANCELED, "the server is shutting down");
        if (rn->defer_idle)
                uv_close((uv_handle_t *)rn->defer_idle, free_handle);
        if (rn->defer_timer)
                uv_close((uv_handle_t *)rn->defer_timer, free_handle);
        raft_uv_close(&rn->io);
        transport_free(rn);
        void (*done)(void *) = rn->done;
        void *arg = rn->done_arg;
        free(rn);
        if (done)
                done(arg);
}

void raft_node_close(struct raft_node *rn, void (*done)(void *arg), void *arg) {
        if (!rn) {
                if (done)
                        done(arg);
                return;
        }
        rn->done = done;
        rn->done_arg = arg;
        rn->raft.data = rn;
        if (rn->async_in_flight > 0) { /* a snapshot is being written: close after it */
                rn->close_pending = true;
                return;
        }
        raft_close_now(rn);
}

static void raft_close_now(struct raft_node *rn) {
        rn->close_pending = false;
        raft_close(&rn->raft, on_raft_closed);
}

static void apply_answer(struct apply_req *ar, int code, const char *msg) {
        if (ar->cb)
                ar->cb(ar->arg, code, ar->req.index, msg);
        free(ar);
}

static void on_applied(struct raft_apply *req, int status, void *result) {
        struct apply_req *ar = (struct apply_req *)req;
        struct raft_node *rn = ar->rn;
        int code = 0;
        const char *msg = NULL;
        if (status != 0) {
                code = status == RAFT_NOTLEADER || status == RAFT_LEADERSHIPLOST ? -EAGAIN : -EIO;
                msg = code == -EAGAIN ? "leadership lost before the entry was committed" : raft_strerror(status);
        } else if (result) {
                code = (int)(intptr_t)result;
                msg = rn->reject_index == req->index ? rn->reject_msg : strerror(-code);
        } else if (applies_held(rn) && wait_push(rn, req->index, ar, NULL)) {
                return; /* queued behind a heavy entry: answered once applied */
        }
        apply_answer(ar, code, msg);
}

int raft_node_apply_fill(struct raft_node *rn, size_t len, raft_node_fill_fn fill, void *fill_arg,
                         raft_node_apply_cb cb, void *arg) {
        struct apply_req *ar = calloc(1, sizeof(*ar));
        size_t flen = frame_size(len);
        unsigned char *copy = raft_malloc(flen);
        if (!ar || !copy) {
                free(ar);
                raft_free(copy);
                return -ENOMEM;
        }
        for (int i = 0; i < 8; i++)
                copy[i] = (unsigned char)((uint64_t)len >> (8 * i));
        fill(fill_arg, copy + FRAME_HDR);
        memset(copy + FRAME_HDR + len, 0, flen - FRAME_HDR - len); /* the padding only */
        ar->cb = cb;
        ar->arg = arg;
        ar->rn = rn;
        struct raft_buffer rb = {.base = copy, .len = flen};
        int r = raft_apply(&rn->raft, &ar->req, &rb, 1, on_applied);
        if (r != 0) {
                raft_free(copy);
                free(ar);
                return r == RAFT_NOTLEADER ? -EAGAIN : -EIO;
        }
        return 0;
}

struct fill_copy {
        const void *buf;
        size_t len;
};

static void fill_copy(void *fill_arg, void *dst) {
        const struct fill_copy *c = fill_arg;
        if (c->len)
                memcpy(dst, c->buf, c->len);
}

int raft_node_apply(struct raft_node *rn, const void *buf, size_t len, raft_node_apply_cb cb, void *arg) {
        struct fill_copy c = {.buf = buf, .len = len};
        return raft_node_apply_fill(rn, len, fill_copy, &c, cb, arg);
}

struct barrier_req {
        struct raft_barrier req;
        raft_node_barrier_cb cb;
        void *arg;
        struct raft_node *rn;
};

static void barrier_answer(struct barrier_req *br, int code) {
        if (br->cb)
                br->cb(br->arg, code, br->req.index);
        free(br);
}

static void on_barrier(struct raft_barrier *req, int status) {
        struct barrier_req *br = (struct barrier_req *)req;
        int code = 0;
        if (status == RAFT_NOTLEADER || status == RAFT_LEADERSHIPLOST)
                code = -EAGAIN;
        else if (status == RAFT_SHUTDOWN || status == RAFT_CANCELED)
                code = -ECANCELED;
        else if (status != 0)
                code = -EIO;
        if (code == 0) {
                defer_drain(br->rn); /* the barrier's promise: every entry before it applied */
                if (applies_held(br->rn) && wait_push(br->rn, req->index, NULL, br))
                        return; /* behind a heavy entry still building */
        }
        barrier_answer(br, code);
}

int raft_node_barrier(struct raft_node *rn, raft_node_barrier_cb cb, void *arg) {
        if (!rn)
                return -EAGAIN;
        struct barrier_req *br = calloc(1, sizeof(*br));
        if (!br)
                return -ENOMEM;
        br->cb = cb;
        br->arg = arg;
        br->rn = rn;
        int r = raft_barrier(&rn->raft, &br->req, on_barrier);
        if (r != 0) {
                free(br);
                return r == RAFT_NOTLEADER ? -EAGAIN : r == RAFT_NOMEM ? -ENOMEM : -EIO;
        }
        return 0;
}

uint64_t raft_node_term(struct raft_node *rn) {
        return rn ? (uint64_t)rn->raft.current_term : 0;
}

bool raft_node_is_leader(struct raft_node *rn) {
        return rn && raft_state(&rn->raft) == RAFT_LEADER;
}

const char *raft_node_leader_address(struct raft_node *rn, uint64_t *ret_id) {
        raft_id id = 0;
        const char *addr = NULL;
        if (rn) /* NULL: not started (or a test hub without Raft) */
                raft_leader(&rn->raft, &id, &addr);
        if (ret_id)
                *ret_id = id;
        return addr;
}

uint64_t raft_node_last_applied(struct raft_node *rn) {
        if (!rn)
                return 0;
        /* a heavy entry building, or a follower's queue: everything before is applied */
        if (rn->heavy)
                return rn->heavy->before;
        return rn->defer_head ? rn->defer_head->index - 1 : raft_last_applied(&rn->raft);
}

const char *raft_node_state_name(struct raft_node *rn) {
        if (!rn)
                return "unavailable";
        switch (raft_state(&rn->raft)) {
        case RAFT_FOLLOWER:
                return "follower";
        case RAFT_CANDIDATE:
                return "candidate";
        case RAFT_LEADER:
                return "leader";
        default:
                return "unavailable";
        }
}

int raft_node_peers(struct raft_node *rn, struct raft_node_peer **ret, size_t *ret_n) {
        *ret = NULL;
        *ret_n = 0;
        if (!rn)
                return 0;
        const struct raft_configuration *c = &rn->raft.configuration;
        if (c->n == 0)
                return 0;
        struct raft_node_peer *p = calloc(c->n, sizeof(*p));
        if (!p)
                return -ENOMEM;
        raft_id leader_id = 0;
        const char *leader_addr = NULL;
        raft_leader(&rn->raft, &leader_id, &leader_addr);
        bool leading = raft_state(&rn->raft) == RAFT_LEADER;
        for (unsigned i = 0; i < c->n; i++) {
                p[i].id = c->servers[i].id;
                snprintf(p[i].address, sizeof(p[i].address), "%s", c->servers[i].address);
                p[i].voter = c->servers[i].role == RAFT_VOTER;
                p[i].leader = c->servers[i].id == leader_id;
                if (leading && rn->raft.leader_state.progress) {
                        p[i].match_index = rn->raft.leader_state.progress[i].match_index;
                        p[i].recent = c->servers[i].id == rn->raft.id || rn->raft.leader_state.progress[i].recent_recv;
                }
        }
        *ret = p;
        *ret_n = c->n;
        return 0;
}

uint64_t raft_node_configuration_index(struct raft_node *rn) {
        return rn ? rn->raft.configuration_index : 0;
}

uint64_t raft_node_snapshots_restored(const struct raft_node *rn) {
        return rn ? rn->restores : 0;
}

uint64_t raft_node_commit_index(struct raft_node *rn) {
        return rn ? rn->raft.commit_index : 0;
}

uint64_t raft_node_last_contact_ms(struct raft_node *rn) {
        if (!rn || raft_state(&rn->raft) == RAFT_LEADER)
                return 0;
        raft_time now = rn->io.time(&rn->io);
        return now > rn->raft.election_timer_start ? now - rn->raft.election_timer_start : 0;
}

bool raft_node_has_configuration(struct raft_node *rn) {
        return rn && rn->raft.configuration.n > 0;
}

bool raft_node_dir_has_state(const char *data_dir) {
        static const char *const files[] = {"metadata1", "metadata2"};
        for (size_t i = 0; i < 2; i++) {
                char path[4096];
                struct stat st;
                snprintf(path, sizeof(path), "%s/%s", data_dir, files[i]);
                if (stat(path, &st) == 0 && st.st_size > 0)
                        return true;
        }
        return false;
}

/* ---- membership changes ---------------------------------------------------------- */

struct change_req {
        struct raft_change req;
        struct raft_node *rn;
        uint64_t id;
        bool promote; /* added as spare: assign voter next */
        raft_node_change_cb cb;
        void *arg;
};

static int change_code(int rv) {
        switch (rv) {
        case RAFT_NOTLEADER:
        case RAFT_LEADERSHIPLOST:
                return -EAGAIN;
        case RAFT_CANTCHANGE:
                return -EBUSY;
        case RAFT_DUPLICATEID:
        case RAFT_DUPLICATEADDRESS:
                return -EEXIST;
        case RAFT_BADID:
                return -ENOENT;
        case RAFT_BADROLE:
                return -EINVAL;
        default:
                return -EIO;
        }
}

static void change_done(struct change_req *cr, int rv) {
        if (cr->cb)
                cr->cb(cr->arg, rv == 0 ? 0 : change_code(rv), rv == 0 ? NULL : raft_strerror(rv));
        free(cr);
}

static void on_change(struct raft_change *req, int status) {
        struct change_req *cr = req->data;
        if (status == 0 && cr->promote) {
                cr->promote = false;
                int rv = raft_assign(&cr->rn->raft, &cr->req, cr->id, RAFT_VOTER, on_change);
                if (rv == 0)
                        return;
                status = rv;
        }
        if (status != 0)
                log_warn("raft: membership change for server %llu failed: %s", (unsigned long long)cr->id,
                         raft_strerror(status));
        change_done(cr, status);
}

int raft_node_add_voter(struct raft_node *rn, uint64_t id, const char *address, raft_node_change_cb cb, void *arg) {
        if (!rn || raft_state(&rn->raft) != RAFT_LEADER)
                return -EAGAIN;
        const struct raft_configuration *c = &rn->raft.configuration;
        int role = -1;
        for (unsigned i = 0; i < c->n; i++)
                if (c->servers[i].id == id) {
                        if (strcmp(c->servers[i].address, address) != 0)
                                return -EEXIST;
                        role = c->servers[i].role;
                }
        if (role == RAFT_VOTER) {
                if (cb)
                        cb(arg, 0, NULL);
                return 0;
        }
        struct change_req *cr = calloc(1, sizeof(*cr));
        if (!cr)
                return -ENOMEM;
        cr->req.data = cr;
        cr->rn = rn;
        cr->id = id;
        cr->cb = cb;
        cr->arg = arg;
        int rv;
        if (role < 0) {
                cr->promote = true;
                rv = raft_add(&rn->raft, &cr->req, id, address, on_change);
        } else {
                rv = raft_assign(&rn->raft, &cr->req, id, RAFT_VOTER, on_change);
        }
        if (rv != 0) {
                free(cr);
                return change_code(rv);
        }
        return 0;
}

int raft_node_remove(struct raft_node *rn, uint64_t id, raft_node_change_cb cb, void *arg) {
        if (!rn || raft_state(&rn->raft) != RAFT_LEADER)
                return -EAGAIN;
        struct change_req *cr = calloc(1, sizeof(*cr));
        if (!cr)
                return -ENOMEM;
        cr->req.data = cr;
        cr->rn = rn;
        cr->id = id;
        cr->cb = cb;
        cr->arg = arg;
        int rv = raft_remove(&rn->raft, &cr->req, id, on_change);
        if (rv != 0) {
                free(cr);
                return change_code(rv);
        }
        return 0;
}

static void on_transfer(struct raft_transfer *req) {
        struct raft_node *rn = req->data;
        rn->transferring = false;
}

int raft_node_transfer(struct raft_node *rn) {
        if (!rn || raft_state(&rn->raft) != RAFT_LEADER)
                return -EAGAIN;
        if (rn->transferring)
                return 0;
        rn->transfer.data = rn;
        int rv = raft_transfer(&rn->raft, &rn->transfer, 0, on_transfer);
        if (rv != 0)
                return rv == RAFT_NOTFOUND || rv == RAFT_BADID ? -ENOENT : change_code(rv);
        rn->transferring = true;
        return 0;
}

void raft_node_no_campaign(struct raft_node *rn) {
        if (rn && raft_state(&rn->raft) == RAFT_FOLLOWER)
                raft_set_election_timeout(&rn->raft, 3600 * 1000);
}
