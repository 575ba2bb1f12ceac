/* test_raft_node.c - libraft glue: a single voter elects itself, applies entries
 * in order with their log index, and replays them after a restart; an entry that
 * replaces the state is built off the loop while later entries wait behind it. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
#include <ftw.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "common/error.h"
#include "controlplane/raft/raft_node.h"

struct fake_fsm {
        int applied;
        uint64_t last_index;
        bool in_order;
        char last[32];
        int snapshots;
};

static int fake_apply(void *data, uint64_t index, const void *buf, size_t len, struct error *err) {
        struct fake_fsm *f = data;
        if (len >= 3 && memcmp(buf, "bad", 3) == 0) /* the FSM rejects these, deterministically */
                return errorf(err, -ENOENT, "fake fsm: rejected %.*s", (int)len, (const char *)buf);
        if (index <= f->last_index)
                f->in_order = false;
        f->last_index = index;
        f->applied++;
        snprintf(f->last, sizeof(f->last), "%.*s", (int)len, (const char *)buf);
        return 0;
}

/* The view is a copy of the count taken on the loop; it is written on the pool. */
static int fake_snapshot_begin(void *data, void **ret_view) {
        struct fake_fsm *f = data;
        int *v = malloc(sizeof(*v));
        if (!v)
                return -ENOMEM;
        *v = f->applied;
        f->snapshots++;
        *ret_view = v;
        return 0;
}

static int fake_snapshot_write(void *view, void **ret_buf, size_t *ret_len) {
        char *s = malloc(32);
        snprintf(s, 32, "%d", *(int *)view);
        *ret_buf = s;
        *ret_len = strlen(s);
        return 0;
}

static void fake_snapshot_end(void *view) {
        free(view);
}

static int fake_restore(void *data, const void *buf, size_t len) {
        struct fake_fsm *f = data;
        char tmp[32];
        snprintf(tmp, sizeof(tmp), "%.*s", (int)len, (const char *)buf);
        f->applied = atoi(tmp);
        return 0;
}

static const struct raft_fsm_ops fake_ops = {.apply = fake_apply,
                                             .snapshot_begin = fake_snapshot_begin,
                                             .snapshot_write = fake_snapshot_write,
                                             .snapshot_end = fake_snapshot_end,
                                             .restore = fake_restore};

struct run {
        uv_loop_t loop;
        struct raft_node *rn;
        int acked;
        int want;
        int rejected; /* entries proposed as "bad-N": their callbacks carry the FSM's error */
        bool closed;
        uv_timer_t t;
        int ticks;
};

static void on_applied(void *arg, int status, uint64_t index, const char *msg) {
        struct run *r = arg;
        cr_assert_eq(status, 0, "status %d: %s", status, msg);
        cr_assert_gt(index, 0);
        r->acked++;
}

static void on_rejected(void *arg, int status, uint64_t index, const char *msg) {
        struct run *r = arg;
        cr_assert_eq(status, -ENOENT, "the FSM's code reaches the proposer (got %d)", status);
        cr_assert_gt(index, 0);
        cr_assert(msg && strstr(msg, "fake fsm: rejected bad-"), "the FSM's message reaches the proposer: %s", msg);
        r->rejected++;
        r->acked++;
}

static void on_closed(void *arg) {
        ((struct run *)arg)->closed = true;
}

static void on_tick(uv_timer_t *t) {
        struct run *r = t->data;
        r->ticks++;
        if (r->want > 0 && raft_node_is_leader(r->rn) && r->ticks < 1000) {
                for (int i = 0; i < r->want; i++) {
                        char buf[32];
                        bool bad = i % 10 == 5;
                        int n = snprintf(buf, sizeof(buf), bad ? "bad-%d" : "entry-%d", i);
                        cr_assert_eq(raft_node_apply(r->rn, buf, (size_t)n, bad ? on_rejected : on_applied, r), 0);
                }
                r->want = -r->want;
        }
        if ((r->want <= 0 && r->acked == -r->want) || r->ticks > 300) {
                uv_timer_stop(t);
                uv_close((uv_handle_t *)t, NULL);
                raft_node_close(r->rn, on_closed, r);
        }
}

static void run_once(const char *dir, struct fake_fsm *f, int entries, int port) {
        struct run r = {.want = entries};
        uv_loop_init(&r.loop);
        char addr[32];
        snprintf(addr, sizeof(addr), "127.0.0.1:%d", port);
        struct raft_node_config cfg = {.id = 1, .address = addr, .data_dir = dir, .bootstrap = true,
                                       .election_timeout_ms = 150, .heartbeat_timeout_ms = 20,
                                       .snapshot_threshold = 16, .snapshot_trailing = 4};
        struct error err = {0};
        cr_assert_eq(raft_node_create(&r.loop, &cfg, &fake_ops, f, &r.rn, &err), 0, "%s", err.msg);
        uv_timer_init(&r.loop, &r.t);
        r.t.data = &r;
        uv_timer_start(&r.t, on_tick, 10, 10);
        uv_run(&r.loop, UV_RUN_DEFAULT);
        cr_assert(r.closed);
        cr_assert_eq(r.acked, entries, "acked %d of %d", r.acked, entries);
        cr_assert_eq(r.rejected, entries / 10, "rejections heard: %d", r.rejected);
        uv_loop_close(&r.loop);
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
        (void)st, (void)flag, (void)ftw;
        return remove(path);
}

/* A loopback port below the ephemeral range (32768-) that nothing holds now; within
 * DROVER_TEST_PORT_BASE .. +999 when that is set. */
static int free_port(void) {
        const char *base_env = getenv("DROVER_TEST_PORT_BASE");
        int base = base_env ? atoi(base_env) : 20000, span = base_env ? 1000 : 12000;
        for (int i = 0; i < 200; i++) {
                int port = base + (int)((getpid() * 7919 + i * 104729) % span);
                int fd = socket(AF_INET, SOCK_STREAM, 0);
                struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
                inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
                int r = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
                close(fd);
                if (r == 0)
                        return port;
        }
        return 0;
}

Test(raft_node, single_voter_applies_in_order_and_replays_after_restart) {
        char dir[] = "build/raft-test-XXXXXX";
        cr_assert_not_null(mkdtemp(dir));
        int port = free_port();
        cr_assert_neq(port, 0, "no free loopback port");
        struct fake_fsm f = {.in_order = true};
        run_once(dir, &f, 50, port);
        cr_assert_eq(f.applied, 45, "50 entries, 5 of them rejected");
        cr_assert(f.in_order, "entries applied out of order");
        cr_assert_str_eq(f.last, "entry-49");
        cr_assert_geq(f.snapshots, 1, "50 entries, snapshots every 16 (one at a time): %d taken", f.snapshots);
        /* A new process over the same data dir gets the state back: the last
         * snapshot (taken every 16 entries) restored, then the entries after it. */
        struct fake_fsm g = {.in_order = true};
        run_once(dir, &g, 0, port);
        cr_assert_eq(g.applied, 45, "after restart: %d entries recovered", g.applied);
        nftw(dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
}

/* Three voters on one loop, bootstrapped with the same configuration: one leader,
 * and what it commits reaches every FSM; the configuration lists all three. */
/* What one server's leader_changed callback saw (raft_node_config). */
struct leader_seen {
        struct raft_node **rn;
        int changes;
        bool knew_leader; /* a leader's address was known at one of them */
};

static void on_leader_changed(void *arg) {
        struct leader_seen *l = arg;
        l->changes++;
        l->knew_leader |= *l->rn && raft_node_leader_address(*l->rn, NULL) != NULL;
}

struct trio {
        struct raft_node *rn[3];
        struct fake_fsm f[3];
        int acked, proposed, closed, ticks;
        struct leader_seen seen[3];
        uv_timer_t t;
};

static void trio_applied(void *arg, int status, uint64_t index, const char *msg) {
        struct trio *t = arg;
        cr_assert_eq(status, 0, "%s", msg);
        cr_assert_gt(index, 0);
        t->acked++;
}

static void trio_closed(void *arg) {
        ((struct trio *)arg)->closed++;
}

static void trio_tick(uv_timer_t *h) {
        struct trio *t = h->data;
        t->ticks++;
        int leader = -1, leaders = 0;
        for (int i = 0; i < 3; i++)
                if (raft_node_is_leader(t->rn[i])) {
                        leader = i;
                        leaders++;
                }
        cr_assert_leq(leaders, 1, "two leaders at once");
        if (leader >= 0 && t->proposed == 0) {
                struct raft_node_peer *p = NULL;
                size_t n = 0;
                cr_assert_eq(raft_node_peers(t->rn[leader], &p, &n), 0);
                cr_expect_eq(n, 3, "three servers in the configuration");
                int voters = 0, leads = 0;
                for (size_t i = 0; i < n; i++) {
                        voters += p[i].voter;
                        leads += p[i].leader;
                }
                cr_expect_eq(voters, 3);
                cr_expect_eq(leads, 1);
                free(p);
                for (int i = 0; i < 3; i++)
                        if (i != leader)
                                cr_expect_eq(raft_node_barrier(t->rn[i], NULL, NULL), -EAGAIN,
                                             "a follower cannot send a barrier");
                for (int i = 0; i < 10; i++) {
                        char buf[16];
                        int len = snprintf(buf, sizeof(buf), "entry-%d", i);
                        cr_assert_eq(raft_node_apply(t->rn[leader], buf, (size_t)len, trio_applied, t), 0);
                }
                t->proposed = 10;
        }
        bool all = t->acked == 10;
        for (int i = 0; i < 3; i++)
                all = all && t->f[i].applied == 10;
        if (all || t->ticks > 1000) {
                uv_timer_stop(h);
                uv_close((uv_handle_t *)h, NULL);
                for (int i = 0; i < 3; i++)
                        raft_node_close(t->rn[i], trio_closed, t);
        }
}

Test(raft_node, three_voters_elect_one_leader_and_replicate) {
        struct trio t = {0};
        uv_loop_t loop;
        uv_loop_init(&loop);
        char dirs[3][32];
        char addrs[3][32];
        struct raft_node_peer voters[3] = {0};
        for (int i = 0; i < 3; i++) {
                snprintf(dirs[i], sizeof(dirs[i]), "build/raft-trio-XXXXXX");
                cr_assert_not_null(mkdtemp(dirs[i]));
                int port = free_port() + i * 3;
                snprintf(addrs[i], sizeof(addrs[i]), "127.0.0.1:%d", port);
                voters[i].id = (uint64_t)(i + 1);
                snprintf(voters[i].address, sizeof(voters[i].address), "%s", addrs[i]);
                voters[i].voter = true;
                t.f[i].in_order = true;
        }
        for (int i = 0; i < 3; i++) {
                t.seen[i].rn = &t.rn[i];
                struct raft_node_config cfg = {.id = (uint64_t)(i + 1), .address = addrs[i], .data_dir = dirs[i],
                                               .bootstrap = true, .voters = voters, .n_voters = 3,
                                               .election_timeout_ms = 150, .heartbeat_timeout_ms = 20,
                                               .leader_changed = on_leader_changed, .leader_changed_arg = &t.seen[i]};
                struct error err = {0};
                cr_assert_eq(raft_node_create(&loop, &cfg, &fake_ops, &t.f[i], &t.rn[i], &err), 0, "%s", err.msg);
        }
        uv_timer_init(&loop, &t.t);
        t.t.data = &t;
        uv_timer_start(&t.t, trio_tick, 10, 10);
        uv_run(&loop, UV_RUN_DEFAULT);
        cr_assert_eq(t.closed, 3);
        cr_assert_eq(t.acked, 10, "the leader acknowledged %d of 10", t.acked);
        for (int i = 0; i < 3; i++) {
                cr_expect_eq(t.f[i].applied, 10, "server %d applied %d of 10", i + 1, t.f[i].applied);
                cr_expect(t.f[i].in_order);
                /* the event the held requests wait for (api/routes_hold.c) */
                cr_expect(t.seen[i].changes > 0 && t.seen[i].knew_leader,
                          "server %d: %d leader changes reported, a leader known at one: %d", i + 1,
                          t.seen[i].changes, t.seen[i].knew_leader);
                nftw(dirs[i], rm_entry, 8, FTW_DEPTH | FTW_PHYS);
        }
        uv_loop_close(&loop);
}

/* A barrier's callback runs once every entry proposed before it is applied, with
 * an index after theirs; a server that does not lead cannot send one. */
struct barrier_run {
        uv_loop_t loop;
        struct raft_node *rn;
        struct fake_fsm *f;
        int acked, ticks;
        bool sent, done, closed;
        int status;
        uint64_t index, applied_at_barrier, last_entry;
        int fsm_applied_at_barrier, acked_at_barrier;
        uv_timer_t t;
};

static void barrier_entry_applied(void *arg, int status, uint64_t index, const char *msg) {
        struct barrier_run *b = arg;
        cr_assert_eq(status, 0, "%s", msg);
        b->acked++;
        if (index > b->last_entry)
                b->last_entry = index;
}

static void barrier_done(void *arg, int status, uint64_t index) {
        struct barrier_run *b = arg;
        b->done = true;
        b->status = status;
        b->index = index;
        b->applied_at_barrier = raft_node_last_applied(b->rn);
        b->fsm_applied_at_barrier = b->f->applied;
        b->acked_at_barrier = b->acked;
}

static void barrier_closed(void *arg) {
        ((struct barrier_run *)arg)->closed = true;
}

static void barrier_tick(uv_timer_t *t) {
        struct barrier_run *b = t->data;
        b->ticks++;
        if (!b->sent && raft_node_is_leader(b->rn)) {
                cr_assert_gt(raft_node_term(b->rn), 0);
                for (int i = 0; i < 20; i++) {
                        char buf[16];
                        int n = snprintf(buf, sizeof(buf), "entry-%d", i);
                        cr_assert_eq(raft_node_apply(b->rn, buf, (size_t)n, barrier_entry_applied, b), 0);
                }
                cr_assert_eq(raft_node_barrier(b->rn, barrier_done, b), 0);
                b->sent = true;
        }
        if (b->done || b->ticks > 300) {
                uv_timer_stop(t);
                uv_close((uv_handle_t *)t, NULL);
                raft_node_close(b->rn, barrier_closed, b);
        }
}

/* A single voter in dir (made here) on a free port, with ops over fsm, its loop run
 * until tick (every 10 ms on t, with t->data = arg) closes everything. */
static void run_single_voter(char *dir, uv_loop_t *loop, const struct raft_fsm_ops *ops, void *fsm,
                             struct raft_node **rn, uv_timer_t *t, uv_timer_cb tick, void *arg) {
        cr_assert_not_null(mkdtemp(dir));
        int port = free_port();
        cr_assert_neq(port, 0, "no free loopback port");
        uv_loop_init(loop);
        char addr[32];
        snprintf(addr, sizeof(addr), "127.0.0.1:%d", port);
        struct raft_node_config cfg = {.id = 1, .address = addr, .data_dir = dir, .bootstrap = true,
                                       .election_timeout_ms = 150, .heartbeat_timeout_ms = 20,
                                       .snapshot_threshold = 1024, .snapshot_trailing = 64};
        struct error err = {0};
        cr_assert_eq(raft_node_create(loop, &cfg, ops, fsm, rn, &err), 0, "%s", err.msg);
        uv_timer_init(loop, t);
        t->data = arg;
        uv_timer_start(t, tick, 10, 10);
        uv_run(loop, UV_RUN_DEFAULT);
}

Test(raft_node, barrier_completes_after_every_earlier_entry_is_applied) {
        cr_assert_eq(raft_node_barrier(NULL, barrier_done, NULL), -EAGAIN, "no Raft: no barrier");
        char dir[] = "build/raft-test-XXXXXX";
        struct fake_fsm f = {.in_order = true};
        struct barrier_run b = {.f = &f};
        run_single_voter(dir, &b.loop, &fake_ops, &f, &b.rn, &b.t, barrier_tick, &b);
        cr_assert(b.closed);
        cr_assert(b.done, "the barrier completed");
        cr_assert_eq(b.status, 0);
        cr_assert_eq(b.fsm_applied_at_barrier, 20, "every entry before the barrier is in the FSM when it completes");
        cr_assert_eq(b.acked_at_barrier, 20, "and their proposers were answered");
        cr_assert_gt(b.index, b.last_entry, "the barrier's index follows the entries'");
        cr_assert_geq(b.applied_at_barrier, b.last_entry);
        uv_loop_close(&b.loop);
        nftw(dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
}

/* ---- a heavy entry ("heavy-V": the state becomes V) built on the pool ---------------- */

struct heavy_fsm {
        int value;   /* the state: replaced whole by a heavy entry */
        int seen[8]; /* read-N: the value it was applied against */
        int applied;
        atomic_int building; /* prepare is running on the pool */
        int installs;
        uint64_t heavy_index;
};

/* The number after the prefix of an entry (its bytes are not NUL-terminated). */
static int entry_number(const void *buf, size_t len, size_t prefix) {
        char tmp[32];
        snprintf(tmp, sizeof(tmp), "%.*s", (int)len, (const char *)buf);
        return atoi(tmp + prefix);
}

static int heavy_apply(void *data, uint64_t index, const void *buf, size_t len, struct error *err) {
        struct heavy_fsm *f = data;
        (void)index;
        int n;
        if (len > 5 && memcmp(buf, "read-", 5) == 0 && (n = entry_number(buf, len, 5)) >= 0 && n < 8) {
                f->seen[n] = f->value;
                f->applied++;
                return 0;
        }
        if (len > 6 && memcmp(buf, "heavy-", 6) == 0) { /* only without the pool */
                f->value = entry_number(buf, len, 6);
                f->applied++;
                return 0;
        }
        return errorf(err, -EINVAL, "unknown entry");
}

static bool heavy_heavy(void *data, const void *buf, size_t len) {
        (void)data;
        return len > 6 && memcmp(buf, "heavy-", 6) == 0;
}

static int heavy_prepare(const void *buf, size_t len, bool snapshot, void **ret, struct error *err) {
        cr_assert(!snapshot);
        int v = entry_number(buf, len, 6);
        if (v < 0)
                return errorf(err, -EINVAL, "heavy: a negative state %d", v);
        int *p = malloc(sizeof(*p));
        cr_assert_not_null(p);
        *p = v;
        usleep(300 * 1000); /* the seconds a whole state takes to build */
        *ret = p;
        return 0;
}

static int heavy_install(void *data, uint64_t index, void *prepared, struct error *err) {
        struct heavy_fsm *f = data;
        (void)err;
        int *p = prepared;
        int old = f->value;
        f->value = *p;
        *p = old;
        f->installs++;
        f->heavy_index = index;
        f->applied++;
        return 0;
}

static void heavy_discard(void *prepared) {
        free(prepared);
}

static int heavy_restore(void *data, const void *buf, size_t len) {
        (void)data, (void)buf, (void)len;
        return 0;
}

static const struct raft_fsm_ops heavy_ops = {.apply = heavy_apply,
                                              .snapshot_begin = fake_snapshot_begin,
                                              .snapshot_write = fake_snapshot_write,
                                              .snapshot_end = fake_snapshot_end,
                                              .restore = heavy_restore,
                                              .heavy = heavy_heavy,
                                              .prepare = heavy_prepare,
                                              .install = heavy_install,
                                              .discard = heavy_discard};

struct heavy_run {
        uv_loop_t loop;
        struct raft_node *rn;
        struct heavy_fsm *f;
        uv_timer_t t;
        int ticks, ticks_while_building;
        bool sent, closed;
        int answered;           /* proposers' callbacks */
        int value_at_answer[8]; /* the FSM's state when read-N's proposer heard back */
        int heavy_status;       /* heavy-V's proposer */
        int rejected_status;
        char rejected_msg[128];
        int value_at_barrier;
        bool barrier_done;
        uint64_t last_applied_while_building;
        uint64_t heavy_answer_index;
};

static void heavy_read_answered(void *arg, int status, uint64_t index, const char *msg) {
        struct heavy_run *h = arg;
        (void)index;
        cr_assert_eq(status, 0, "%s", msg ? msg : "");
        /* which read: the one whose seen[] was written last is not known here; record
         * the state at each answer, in order (reads are answered in log order) */
        h->value_at_answer[h->answered++ % 8] = h->f->value;
}

static void heavy_entry_answered(void *arg, int status, uint64_t index, const char *msg) {
        struct heavy_run *h = arg;
        (void)msg;
        h->heavy_status = status;
        h->heavy_answer_index = index;
        h->value_at_answer[h->answered++ % 8] = h->f->value;
}

static void heavy_bad_answered(void *arg, int status, uint64_t index, const char *msg) {
        struct heavy_run *h = arg;
        (void)index;
        h->rejected_status = status;
        snprintf(h->rejected_msg, sizeof(h->rejected_msg), "%s", msg ? msg : "");
        h->value_at_answer[h->answered++ % 8] = h->f->value;
}

static void heavy_barrier_done(void *arg, int status, uint64_t index) {
        struct heavy_run *h = arg;
        (void)index;
        cr_assert_eq(status, 0);
        h->value_at_barrier = h->f->value;
        h->barrier_done = true;
}

static void heavy_closed(void *arg) {
        ((struct heavy_run *)arg)->closed = true;
}

static void propose(struct heavy_run *h, const char *what, raft_node_apply_cb cb) {
        cr_assert_eq(raft_node_apply(h->rn, what, strlen(what), cb, h), 0);
}

static void heavy_tick(uv_timer_t *t) {
        struct heavy_run *h = t->data;
        h->ticks++;
        if (atomic_load(&h->f->building)) {
                h->ticks_while_building++;
                h->last_applied_while_building = raft_node_last_applied(h->rn);
        }
        if (!h->sent && raft_node_is_leader(h->rn)) {
                /* read-0 | heavy-7 read-1 heavy--1 (rejected on the pool) read-2 | barrier */
                propose(h, "read-0", heavy_read_answered);
                propose(h, "heavy-7", heavy_entry_answered);
                propose(h, "read-1", heavy_read_answered);
                propose(h, "heavy--1", heavy_bad_answered);
                propose(h, "read-2", heavy_read_answered);
                cr_assert_eq(raft_node_barrier(h->rn, heavy_barrier_done, h), 0);
                h->sent = true;
        }
        if ((h->barrier_done && h->answered == 5) || h->ticks > 500) {
                uv_timer_stop(t);
                uv_close((uv_handle_t *)t, NULL);
                raft_node_close(h->rn, heavy_closed, h);
        }
}

/* The pool's prepare marks itself building (the test reads it from the loop). */
static struct heavy_fsm *building_fsm;

static int heavy_prepare_marked(const void *buf, size_t len, bool snapshot, void **ret, struct error *err) {
        atomic_store(&building_fsm->building, 1);
        int r = heavy_prepare(buf, len, snapshot, ret, err);
        atomic_store(&building_fsm->building, 0);
        return r;
}

Test(raft_node, heavy_entry_is_built_off_the_loop_and_later_entries_see_its_state) {
        char dir[] = "build/raft-test-XXXXXX";
        struct heavy_fsm f = {0};
        building_fsm = &f;
        struct raft_fsm_ops ops = heavy_ops;
        ops.prepare = heavy_prepare_marked;
        struct heavy_run h = {.f = &f};
        run_single_voter(dir, &h.loop, &ops, &f, &h.rn, &h.t, heavy_tick, &h);
        cr_assert(h.closed);
        cr_assert_eq(f.installs, 1, "one heavy entry installed, the rejected one not (got %d)", f.installs);
        cr_assert_eq(f.seen[0], 0, "read-0, before the heavy entry, saw the old state");
        cr_assert_eq(f.seen[1], 7, "read-1, queued behind the heavy entry, saw the state it built (got %d)", f.seen[1]);
        cr_assert_eq(f.seen[2], 7, "read-2 too, behind the rejected one (got %d)", f.seen[2]);
        cr_assert_eq(h.heavy_status, 0);
        cr_assert_eq(h.heavy_answer_index, f.heavy_index, "its proposer heard its index");
        cr_assert_eq(h.rejected_status, -EINVAL, "a build that fails is the entry's rejection");
        cr_assert(strstr(h.rejected_msg, "negative state"), "with the FSM's message: %s", h.rejected_msg);
        cr_assert_eq(h.answered, 5);
        cr_assert_eq(h.value_at_answer[0], 0);
        for (int i = 1; i < 5; i++)
                cr_assert_eq(h.value_at_answer[i], 7, "answer %d came after the swap (state %d)", i,
                             h.value_at_answer[i]);
        cr_assert(h.barrier_done);
        cr_assert_eq(h.value_at_barrier, 7, "the barrier waited for the swap");
        /* a 300 ms build: a loop held for it would tick only after it */
        cr_assert_geq(h.ticks_while_building, 10, "the loop kept turning during the builds (%d ticks)",
                      h.ticks_while_building);
        cr_assert_lt(h.last_applied_while_building, f.heavy_index + 2,
                     "while building, what is applied stops before the entry building");
        uv_loop_close(&h.loop);
        nftw(dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
}
