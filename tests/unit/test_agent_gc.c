/* test_agent_gc.c - which terminal allocation directories are collected, and their removal. */
#include <criterion/criterion.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/error.h"
#include "nodeagent/alloc/alloc_gc.h"

#define S 1000000000LL
#define MB (1024ULL * 1024)

static void cand(struct gc_candidate *c, const char *id, int64_t finished_s, uint64_t mb) {
        *c = (struct gc_candidate){.finished_ns = finished_s * S, .bytes = mb * MB};
        snprintf(c->id, sizeof(c->id), "%s", id);
}

static bool collected(const struct gc_candidate *c, size_t n, const char *id) {
        for (size_t i = 0; i < n; i++)
                if (strcmp(c[i].id, id) == 0)
                        return c[i].collect;
        cr_assert_fail("no candidate %s", id);
        return false;
}

static const struct gc_disk roomy = {.total = 1000 * MB, .used = 100 * MB};

TestSuite(agent_gc);

Test(agent_gc, nothing_to_do_under_every_limit) {
        struct gc_candidate c[3];
        cand(&c[0], "a", 100, 1);
        cand(&c[1], "b", 200, 1);
        cand(&c[2], "c", 300, 1);
        struct gc_policy p = {.max_allocs = 50, .disk_usage_threshold = 80, .max_age_ns = 3600 * S};
        cr_expect_eq(alloc_gc_select(c, 3, 10, &p, 400 * S, roomy), 0);
}

Test(agent_gc, count_over_max_allocs_collects_the_oldest_first) {
        struct gc_candidate c[4];
        cand(&c[0], "new", 400, 1);
        cand(&c[1], "old", 100, 1);
        cand(&c[2], "mid", 300, 1);
        cand(&c[3], "older", 200, 1);
        struct gc_policy p = {.max_allocs = 5, .disk_usage_threshold = 80};
        /* 3 live + 4 terminal = 7 > 5: two go, the two oldest. */
        cr_expect_eq(alloc_gc_select(c, 4, 3, &p, 500 * S, roomy), 2);
        cr_expect(collected(c, 4, "old") && collected(c, 4, "older"));
        cr_expect(!collected(c, 4, "mid") && !collected(c, 4, "new"));
        /* Live allocations alone over the limit: every terminal one goes, no more. */
        cr_expect_eq(alloc_gc_select(c, 4, 9, &p, 500 * S, roomy), 4);
}

Test(agent_gc, a_full_disk_collects_until_under_the_threshold) {
        struct gc_candidate c[3];
        cand(&c[0], "a", 100, 50);
        cand(&c[1], "b", 200, 50);
        cand(&c[2], "c", 300, 50);
        struct gc_policy p = {.max_allocs = 50, .disk_usage_threshold = 80};
        /* 900 of 1000 MB used: 80% needs 100 MB freed: the two oldest. */
        struct gc_disk full = {.total = 1000 * MB, .used = 900 * MB};
        cr_expect_eq(alloc_gc_select(c, 3, 0, &p, 400 * S, full), 2);
        cr_expect(collected(c, 3, "a") && collected(c, 3, "b") && !collected(c, 3, "c"));
        /* Not enough to free: all of them, and no more. */
        full.used = 990 * MB;
        cr_expect_eq(alloc_gc_select(c, 3, 0, &p, 400 * S, full), 3);
}

Test(agent_gc, age_limit) {
        struct gc_candidate c[2];
        cand(&c[0], "stale", 100, 1);
        cand(&c[1], "fresh", 3500, 1);
        struct gc_policy p = {.max_allocs = 50, .disk_usage_threshold = 80, .max_age_ns = 3600 * S};
        cr_expect_eq(alloc_gc_select(c, 2, 0, &p, 3800 * S, roomy), 1);
        cr_expect(collected(c, 2, "stale") && !collected(c, 2, "fresh"));
        p.max_age_ns = 0;
        cr_expect_eq(alloc_gc_select(c, 2, 0, &p, 1000000 * S, roomy), 0, "0: never by age");
}

/* ---- on disk ---------------------------------------------------------------------------- */

static char dir[64];

static int rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *f) {
        return remove(p);
}

static void mk(const char *rel) {
        char path[400], cmd[450];
        snprintf(path, sizeof(path), "%s/%s", dir, rel);
        snprintf(cmd, sizeof(cmd), "mkdir -p '%s'", path);
        cr_assert_eq(system(cmd), 0);
}

static bool exists(const char *rel) {
        char path[700];
        struct stat sb;
        snprintf(path, sizeof(path), "%s/%s", dir, rel);
        return lstat(path, &sb) == 0;
}

#define A1 "00000000-0000-4000-8000-000000000001"
#define A2 "00000000-0000-4000-8000-000000000002"
#define A3 "00000000-0000-4000-8000-000000000003"

static bool a3_in_use(const char *id, void *data) {
        return strcmp(id, A3) == 0;
}

static int n_collected;
static void on_collected(const char *id, void *data) {
        n_collected++;
}

Test(agent_gc, run_removes_what_it_chose_and_no_symlink_target) {
        snprintf(dir, sizeof(dir), "/tmp/drover-gc-XXXXXX");
        cr_assert_not_null(mkdtemp(dir));
        mk("alloc/" A1 "/alloc/logs");
        mk("alloc/" A2 "/alloc/logs");
        mk("alloc/" A3 "/alloc/logs");
        mk("outside/keep");
        /* A symlink inside a collected directory: removed, its target untouched. */
        char target[256], link_path[256];
        snprintf(target, sizeof(target), "%s/outside", dir);
        snprintf(link_path, sizeof(link_path), "%s/alloc/" A1 "/alloc/logs/escape", dir);
        cr_assert_eq(symlink(target, link_path), 0);
        mk("alloc/not-an-id");
        struct gc_policy p = {.max_allocs = 1, .disk_usage_threshold = 100};
        struct error err = {0};
        n_collected = 0;
        int r = alloc_gc_run(dir, &p, 0, a3_in_use, on_collected, NULL, &err);
        cr_expect_eq(r, 2, "%s", err.msg);
        cr_expect_eq(n_collected, 2);
        cr_expect(!exists("alloc/" A1) && !exists("alloc/" A2), "the terminal ones are gone");
        cr_expect(exists("alloc/" A3), "the one in use stays");
        cr_expect(exists("outside/keep"), "the symlink's target is untouched");
        cr_expect(exists("alloc/not-an-id"), "what is not an allocation is left alone");
        nftw(dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
}

/* Files, FIFOs, empty and full directories, and a chain deeper than the collector
 * follows with a descriptor per directory (it goes on by path below): all removed. */
Test(agent_gc, run_removes_every_kind_of_entry_at_any_depth) {
        snprintf(dir, sizeof(dir), "/tmp/drover-gc-XXXXXX");
        cr_assert_not_null(mkdtemp(dir));
        mk("alloc/" A1 "/alloc/logs");
        mk("alloc/" A1 "/t/local/empty");
        char deep[400] = "alloc/" A1 "/t/tmp";
        for (int i = 0; i < 40; i++)
                strcat(deep, "/d");
        mk(deep);
        char path[700];
        snprintf(path, sizeof(path), "%s/%s/f", dir, deep);
        FILE *f = fopen(path, "w");
        cr_assert_not_null(f);
        fputs("x", f);
        fclose(f);
        snprintf(path, sizeof(path), "%s/alloc/" A1 "/alloc/logs/.t.stdout.fifo", dir);
        cr_assert_eq(mkfifo(path, 0600), 0);
        snprintf(path, sizeof(path), "%s/alloc/" A1 "/alloc/logs/t.stdout.0", dir);
        f = fopen(path, "w");
        cr_assert_not_null(f);
        fclose(f);
        mk("alloc/" A2 "/alloc/logs");
        struct gc_policy p = {.max_allocs = 1, .disk_usage_threshold = 100};
        struct error err = {0};
        n_collected = 0;
        cr_expect_eq(alloc_gc_run(dir, &p, 0, NULL, on_collected, NULL, &err), 1, "%s", err.msg);
        cr_expect(!exists("alloc/" A1), "the oldest is gone, with everything it held");
        cr_expect(exists("alloc/" A2), "the newest stays (max_allocs 1)");
        nftw(dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
}

Test(agent_gc, run_without_an_alloc_dir_does_nothing) {
        struct gc_policy p = {.max_allocs = 1, .disk_usage_threshold = 80};
        struct error err = {0};
        cr_expect_eq(alloc_gc_run("/nonexistent/drover", &p, 0, NULL, NULL, NULL, &err), 0);
}

/* ---- off the loop ----------------------------------------------------------------------- */

#include <fcntl.h>
#include <time.h>
#include <uv.h>

static int64_t mono_ns(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * S + ts.tv_nsec;
}

static void alloc_id(char *buf, size_t size, int i) {
        snprintf(buf, size, "00000000-0000-4000-8000-%012d", i);
}

/* n terminal allocation directories shaped like the agent's (alloc/logs, local,
 * secrets, tmp, two log files), dated an hour ago. */
static void make_allocs(int n) {
        char path[512];
        snprintf(path, sizeof(path), "%s/alloc", dir);
        cr_assert_eq(mkdir(path, 0755), 0);
        struct timespec old[2] = {{.tv_sec = time(NULL) - 3600}, {.tv_sec = time(NULL) - 3600}};
        for (int i = 0; i < n; i++) {
                char id[64];
                alloc_id(id, sizeof(id), i);
                const char *sub[] = {"", "/alloc", "/alloc/logs", "/local", "/secrets", "/tmp"};
                for (size_t k = 0; k < 6; k++) {
                        snprintf(path, sizeof(path), "%s/alloc/%s%s", dir, id, sub[k]);
                        cr_assert_eq(mkdir(path, 0755), 0, "%s", path);
                }
                const char *files[] = {"/alloc/logs/t.stdout.0", "/alloc/logs/t.stderr.0"};
                for (size_t k = 0; k < 2; k++) {
                        snprintf(path, sizeof(path), "%s/alloc/%s%s", dir, id, files[k]);
                        int fd = open(path, O_WRONLY | O_CREAT, 0644);
                        cr_assert_geq(fd, 0);
                        cr_assert_eq(write(fd, "x\n", 2), 2);
                        futimens(fd, old);
                        close(fd);
                }
                for (size_t k = 6; k-- > 0;) {
                        snprintf(path, sizeof(path), "%s/alloc/%s%s", dir, id, sub[k]);
                        utimensat(AT_FDCWD, path, old, 0);
                }
        }
}

struct loop_watch {
        int64_t last_tick, max_gap, started, finished;
        struct gc_outcome outcome;
        bool done;
        uv_timer_t tick;
};

static void on_tick(uv_timer_t *t) {
        struct loop_watch *w = t->data;
        int64_t now = mono_ns();
        if (now - w->last_tick > w->max_gap)
                w->max_gap = now - w->last_tick;
        w->last_tick = now;
}

static void on_done(const struct gc_outcome *o, void *data) {
        struct loop_watch *w = data;
        on_tick(&w->tick); /* the gap up to the end counts too */
        w->finished = mono_ns();
        w->outcome = *o;
        w->done = true;
        uv_timer_stop(&w->tick);
}

/* The bug this guards against: the agent removed 1,000 directories in one loop
 * callback; its heartbeats waited ~30 s behind it and the node was marked down.
 * A timer on the same loop must keep ticking while a collection runs: its longest
 * gap is a small part of the whole collection (a ratio, measured in this run). */
Test(agent_gc, collection_runs_off_the_loop, .timeout = 120) {
        snprintf(dir, sizeof(dir), "/tmp/drover-gc-XXXXXX");
        cr_assert_not_null(mkdtemp(dir));
        const int n = 1500;
        make_allocs(n);
        char keep[2][64];
        alloc_id(keep[0], sizeof(keep[0]), 7);
        alloc_id(keep[1], sizeof(keep[1]), 700);
        const char *in_use[] = {keep[0], keep[1]};

        uv_loop_t loop;
        uv_loop_init(&loop);
        struct loop_watch w = {0};
        uv_timer_init(&loop, &w.tick);
        w.tick.data = &w;
        struct alloc_gc *g = alloc_gc_create(&loop, dir, on_done, &w);
        cr_assert_not_null(g);
        struct gc_policy p = {.max_allocs = 2, .disk_usage_threshold = 100};
        w.started = w.last_tick = mono_ns();
        cr_assert_eq(alloc_gc_begin(g, &p, 0, in_use, 2), 0);
        cr_expect(alloc_gc_busy(g));
        cr_expect_eq(alloc_gc_begin(g, &p, 0, in_use, 2), -EBUSY, "one collection at a time");
        uv_timer_start(&w.tick, on_tick, 2, 2);
        uv_run(&loop, UV_RUN_DEFAULT);
        cr_assert(w.done);
        cr_expect(!alloc_gc_busy(g));
        cr_expect_eq(w.outcome.removed, n - 2, "%s", w.outcome.error);
        char path[128];
        snprintf(path, sizeof(path), "alloc/%s", keep[0]);
        cr_expect(exists(path), "an allocation in use stays");
        snprintf(path, sizeof(path), "alloc/%s", keep[1]);
        cr_expect(exists(path), "an allocation in use stays");
        int64_t total = w.finished - w.started;
        cr_expect_lt(w.max_gap * 4, total, "the loop stalled %lld ms of a %lld ms collection",
                     (long long)(w.max_gap / 1000000), (long long)(total / 1000000));
        alloc_gc_close(g);
        uv_close((uv_handle_t *)&w.tick, NULL);
        uv_run(&loop, UV_RUN_DEFAULT);
        cr_expect_eq(uv_loop_close(&loop), 0, "every handle closed");
        nftw(dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
}

/* A directory changed after the caller made its in-use list (a new allocation
 * starting) is never taken for a terminal one. */
Test(agent_gc, a_directory_changed_after_the_list_stays) {
        snprintf(dir, sizeof(dir), "/tmp/drover-gc-XXXXXX");
        cr_assert_not_null(mkdtemp(dir));
        make_allocs(3);
        char fresh[64], path[512];
        alloc_id(fresh, sizeof(fresh), 1);
        snprintf(path, sizeof(path), "%s/alloc/%s/local/new", dir, fresh);
        cr_assert_eq(mkdir(path, 0755), 0);
        int64_t list_made = (int64_t)time(NULL) * S - 60 * S;
        struct gc_policy p = {.max_allocs = 1, .disk_usage_threshold = 100, .live_changed_after_ns = list_made};
        struct error err = {0};
        cr_expect_eq(alloc_gc_run(dir, &p, 0, NULL, NULL, NULL, &err), 2, "%s", err.msg);
        char rel[128];
        snprintf(rel, sizeof(rel), "alloc/%s", fresh);
        cr_expect(exists(rel), "the one written since stays");
        p.live_changed_after_ns = 0;
        cr_expect_eq(alloc_gc_run(dir, &p, 0, NULL, NULL, NULL, &err), 0, "max_allocs 1: the last one stays");
        nftw(dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
}

/* One collection by the off-loop collector, to its end. */
static void collect_once(uv_loop_t *loop, struct alloc_gc *g, int max_allocs) {
        struct gc_policy p = {.max_allocs = max_allocs, .disk_usage_threshold = 100};
        cr_assert_eq(alloc_gc_begin(g, &p, 0, NULL, 0), 0);
        while (alloc_gc_busy(g))
                uv_run(loop, UV_RUN_ONCE); /* until the thread's "finished" comes */
}

static void on_done_count(const struct gc_outcome *o, void *data) {
        *(int *)data += o->removed;
}

/* The collector walks a terminal allocation's directory once (its size and newest
 * change), not again at each later collection: a file written into one after the first
 * walk does not make it look newer to the second, which takes the oldest by that walk. */
Test(agent_gc, a_terminal_directory_is_walked_once) {
        snprintf(dir, sizeof(dir), "/tmp/drover-gc-XXXXXX");
        cr_assert_not_null(mkdtemp(dir));
        make_allocs(3); /* all dated an hour ago: by ID, 0 is the oldest */
        uv_loop_t loop;
        uv_loop_init(&loop);
        int removed = 0;
        struct alloc_gc *g = alloc_gc_create(&loop, dir, on_done_count, &removed);
        cr_assert_not_null(g);
        collect_once(&loop, g, 3);
        cr_expect_eq(removed, 0, "3 allocations, max_allocs 3: nothing to collect");
        char id[64], path[512];
        alloc_id(id, sizeof(id), 0);
        snprintf(path, sizeof(path), "%s/alloc/%s/local/late", dir, id);
        int fd = open(path, O_WRONLY | O_CREAT, 0644);
        cr_assert_geq(fd, 0);
        close(fd);
        collect_once(&loop, g, 2);
        cr_expect_eq(removed, 1);
        snprintf(path, sizeof(path), "alloc/%s", id);
        cr_expect(!exists(path), "the oldest by the first walk went");
        alloc_id(id, sizeof(id), 1);
        snprintf(path, sizeof(path), "alloc/%s", id);
        cr_expect(exists(path));
        collect_once(&loop, g, 1);
        cr_expect_eq(removed, 2, "the one collected is forgotten, the others still known");
        alloc_gc_close(g);
        uv_run(&loop, UV_RUN_DEFAULT);
        cr_expect_eq(uv_loop_close(&loop), 0, "every handle closed");
        nftw(dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
}

/* Closing while a collection runs stops it and waits: no callback, no leak. */
Test(agent_gc, close_stops_a_running_collection, .timeout = 120) {
        snprintf(dir, sizeof(dir), "/tmp/drover-gc-XXXXXX");
        cr_assert_not_null(mkdtemp(dir));
        make_allocs(300);
        uv_loop_t loop;
        uv_loop_init(&loop);
        struct loop_watch w = {0};
        struct alloc_gc *g = alloc_gc_create(&loop, dir, on_done, &w);
        struct gc_policy p = {.max_allocs = 1, .disk_usage_threshold = 100};
        cr_assert_eq(alloc_gc_begin(g, &p, 0, NULL, 0), 0);
        alloc_gc_close(g);
        uv_run(&loop, UV_RUN_DEFAULT);
        cr_expect(!w.done, "no callback after close");
        cr_expect_eq(uv_loop_close(&loop), 0);
        nftw(dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
}

/* A collection waits while allocations are starting, for at most max_wait from the first
 * time it waited; with nothing starting it runs at once. */
Test(agent_gc, a_collection_waits_for_starts_but_not_for_ever) {
        const int64_t s = 1000000000LL, max_wait = 60 * s;
        cr_expect(!alloc_gc_defer(false, 0, 100 * s, max_wait), "nothing starting: collect now");
        cr_expect(!alloc_gc_defer(false, 90 * s, 100 * s, max_wait), "starts over: collect now");
        cr_expect(alloc_gc_defer(true, 0, 100 * s, max_wait), "starts pending: wait");
        cr_expect(alloc_gc_defer(true, 100 * s, 159 * s, max_wait), "still within the bound");
        cr_expect(!alloc_gc_defer(true, 100 * s, 160 * s, max_wait), "waited max_wait: collect though starts go on");
}
