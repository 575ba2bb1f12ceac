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
        char path[256], cmd[300];
        snprintf(path, sizeof(path), "%s/%s", dir, rel);
        snprintf(cmd, sizeof(cmd), "mkdir -p '%s'", path);
        cr_assert_eq(system(cmd), 0);
}

static bool exists(const char *rel) {
        char path[256];
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

Test(agent_gc, run_without_an_alloc_dir_does_nothing) {
        struct gc_policy p = {.max_allocs = 1, .disk_usage_threshold = 80};
        struct error err = {0};
        cr_expect_eq(alloc_gc_run("/nonexistent/drover", &p, 0, NULL, NULL, NULL, &err), 0);
}
