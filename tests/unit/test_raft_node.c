/* test_raft_node.c - libraft glue: a single voter elects itself, applies entries
 * in order with their log index, and replays them after a restart. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
#include <ftw.h>
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

static int fake_snapshot(void *data, void **ret_buf, size_t *ret_len) {
        struct fake_fsm *f = data;
        char *s = malloc(32);
        snprintf(s, 32, "%d", f->applied);
        *ret_buf = s;
        *ret_len = strlen(s);
        return 0;
}

static int fake_restore(void *data, const void *buf, size_t len) {
        struct fake_fsm *f = data;
        char tmp[32];
        snprintf(tmp, sizeof(tmp), "%.*s", (int)len, (const char *)buf);
        f->applied = atoi(tmp);
        return 0;
}

static const struct raft_fsm_ops fake_ops = {.apply = fake_apply, .snapshot = fake_snapshot, .restore = fake_restore};

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
        if (r->want && raft_node_is_leader(r->rn) && r->acked == 0 && r->ticks < 1000) {
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

/* A loopback port below the ephemeral range (32768-) that nothing holds now. */
static int free_port(void) {
        for (int i = 0; i < 200; i++) {
                int port = 20000 + (int)((getpid() * 7919 + i * 104729) % 12000);
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
        /* A new process over the same data dir gets the state back: the last
         * snapshot (taken every 16 entries) restored, then the entries after it. */
        struct fake_fsm g = {.in_order = true};
        run_once(dir, &g, 0, port);
        cr_assert_eq(g.applied, 45, "after restart: %d entries recovered", g.applied);
        nftw(dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
}
