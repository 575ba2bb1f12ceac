/* test_gc.c - garbage collection of the state (controlplane/leader/gc.c): what is
 * old and finished goes, in one FSM command; what is live or recent stays. */
#include <criterion/criterion.h>
#include <jansson.h>

#include "controlplane/leader/gc.h"
#include "controlplane/state/state.h"
#include "tests/unit/fixtures.h"

#define S 1000000000LL
#define H (3600 * S)

static const struct gc_thresholds nomad = {.eval_ns = 1 * H, .job_ns = 4 * H, .node_ns = 24 * H};

struct counter {
        int n;
};
static bool cnt_eval(void *arg, const struct eval *e) {
        (void)e;
        ((struct counter *)arg)->n++;
        return true;
}
static bool cnt_alloc(void *arg, const struct alloc *a) {
        (void)a;
        ((struct counter *)arg)->n++;
        return true;
}
static int n_evals(const struct state_store *st) {
        struct counter c = {0};
        state_evals_foreach(st, cnt_eval, &c);
        return c.n;
}
static int n_allocs(const struct state_store *st) {
        struct counter c = {0};
        state_allocs_foreach(st, cnt_alloc, &c);
        return c.n;
}

/* A batch job "id" with one eval and one allocation, both finished at t. */
static void finished_job(struct state_store *st, uint64_t *idx, const char *id, int64_t t, bool alloc_done) {
        struct job *j = fx_job(id, JOB_BATCH, 1, 100, 100);
        j->submit_time = t;
        cr_assert_eq(state_upsert_job(st, ++*idx, j), 0);
        char eid[64], aid[64];
        snprintf(eid, sizeof(eid), "e-%s", id);
        snprintf(aid, sizeof(aid), "a-%s", id);
        struct eval *e = fx_eval(eid, j, "job-register");
        e->status = EVAL_COMPLETE;
        e->modify_time = t;
        cr_assert_eq(state_upsert_evals(st, ++*idx, &e, 1), 0);
        struct alloc *a = fx_alloc(aid, j, "n1", 0, 100, 100);
        free(a->eval_id);
        a->eval_id = strdup(eid);
        a->client_status = alloc_done ? ALLOC_CLIENT_COMPLETE : ALLOC_CLIENT_RUNNING;
        a->modify_time = t;
        cr_assert_eq(state_upsert_allocs(st, ++*idx, &a, 1), 0);
        eval_unref(e);
        alloc_unref(a);
        job_unref(j);
}

Test(gc, old_finished_work_goes_live_and_recent_work_stays) {
        struct state_store *st = state_create();
        uint64_t idx = 0;
        int64_t now = 100 * H;
        finished_job(st, &idx, "old", now - 5 * H, true);     /* dead for 5 h: job, eval, alloc go */
        finished_job(st, &idx, "recent", now - 2 * H, true);  /* eval older than 1 h goes; the job stays (< 4 h) */
        finished_job(st, &idx, "fresh", now - 10 * S, true);  /* everything stays */
        finished_job(st, &idx, "live", now - 50 * H, false);  /* a running allocation: everything stays */
        cr_assert_eq(state_job_get(st, "default", "old")->status, JOB_STATUS_DEAD);
        struct node *down = fx_node("gone", "dc1", 1000, 1000);
        down->status = NODE_DOWN;
        down->status_updated_at = (now - 30 * H) / S;
        cr_assert_eq(state_upsert_node(st, ++idx, down), 0);
        node_unref(down);
        cr_assert_eq(n_evals(st), 4);

        json_t *cmd = gc_collect(st, now, &nomad, 1000);
        cr_assert_not_null(cmd);
        cr_assert_eq(gc_apply(st, ++idx, cmd), 0);
        json_decref(cmd);
        cr_expect_null(state_job_get(st, "default", "old"));
        cr_expect_null(state_eval_get(st, "e-old"));
        cr_expect_null(state_alloc_get(st, "a-old"));
        cr_expect_not_null(state_job_get(st, "default", "recent"));
        cr_expect_null(state_eval_get(st, "e-recent"), "a terminal eval older than 1 h goes");
        cr_expect_null(state_alloc_get(st, "a-recent"), "with its terminal allocations");
        cr_expect_not_null(state_eval_get(st, "e-fresh"));
        cr_expect_not_null(state_alloc_get(st, "a-fresh"));
        cr_expect_not_null(state_eval_get(st, "e-live"), "an eval with a running allocation stays");
        cr_expect_not_null(state_alloc_get(st, "a-live"));
        cr_expect_null(state_node_get(st, "gone"), "a node down for 30 h goes");
        cr_expect_eq(n_evals(st), 2);
        cr_expect_eq(n_allocs(st), 2);

        /* nothing more is due at the same time; a forced GC (thresholds 0) takes the rest
         * that is finished */
        cr_expect_null(gc_collect(st, now, &nomad, 1000));
        static const struct gc_thresholds force = {0, 0, 0};
        cmd = gc_collect(st, now, &force, 1000);
        cr_assert_not_null(cmd);
        cr_assert_eq(gc_apply(st, ++idx, cmd), 0);
        json_decref(cmd);
        cr_expect_null(state_job_get(st, "default", "fresh"));
        cr_expect_not_null(state_job_get(st, "default", "live"));
        cr_expect_eq(n_evals(st), 1);
        cr_expect_eq(n_allocs(st), 1);
        state_destroy(st);
}

static size_t cmd_ids(const json_t *cmd) {
        return json_array_size(json_object_get(cmd, "Evals")) + json_array_size(json_object_get(cmd, "Allocs")) +
               json_array_size(json_object_get(cmd, "Jobs")) + json_array_size(json_object_get(cmd, "Nodes"));
}

Test(gc, one_command_holds_at_most_max_objects) {
        struct state_store *st = state_create();
        uint64_t idx = 0;
        char id[32];
        for (int i = 0; i < 20; i++) {
                snprintf(id, sizeof(id), "j%02d", i);
                finished_job(st, &idx, id, 0, true);
        }
        static const struct gc_thresholds force = {0, 0, 0};
        int rounds = 0;
        json_t *cmd;
        while ((cmd = gc_collect(st, 10 * H, &force, 7)) && rounds < 50) {
                cr_assert_leq(cmd_ids(cmd), 7, "round %d", rounds);
                cr_assert_eq(gc_apply(st, ++idx, cmd), 0);
                json_decref(cmd);
                rounds++;
        }
        json_decref(cmd);
        cr_expect_geq(rounds, 60 / 7 + 1, "split over several commands");
        cr_expect_eq(n_evals(st) + n_allocs(st), 0, "all collected in the end");
        state_destroy(st);
}

struct dangling {
        const struct state_store *st;
        int n;
};
static bool alloc_without_eval(void *arg, const struct alloc *a) {
        struct dangling *d = arg;
        d->n += !state_eval_get(d->st, a->eval_id);
        return true;
}
static bool eval_without_job(void *arg, const struct eval *e) {
        struct dangling *d = arg;
        d->n += !state_job_get(d->st, e->namespace, e->job_id);
        return true;
}

/* A backlog bigger than a command, with one eval whose allocations alone do not fit:
 * every command holds at most max IDs, and none leaves an allocation without its eval
 * or an eval without its job behind (the referring objects go first). */
Test(gc, a_backlog_goes_in_bounded_commands_referrers_first) {
        struct state_store *st = state_create();
        uint64_t idx = 0;
        char id[32];
        enum { SMALL = 300, BIG = 250, MAX = 100 };
        for (int i = 0; i < SMALL; i++) {
                snprintf(id, sizeof(id), "j%03d", i);
                finished_job(st, &idx, id, 0, true);
        }
        struct job *j = fx_job("big", JOB_BATCH, BIG, 1, 1);
        cr_assert_eq(state_upsert_job(st, ++idx, j), 0);
        struct eval *e = fx_eval("e-big", j, "job-register");
        e->status = EVAL_COMPLETE;
        cr_assert_eq(state_upsert_evals(st, ++idx, &e, 1), 0);
        for (int i = 0; i < BIG; i++) {
                snprintf(id, sizeof(id), "a-big-%03d", i);
                struct alloc *a = fx_alloc(id, j, "n2", i, 1, 1);
                free(a->eval_id);
                a->eval_id = strdup("e-big");
                a->client_status = ALLOC_CLIENT_COMPLETE;
                cr_assert_eq(state_upsert_allocs(st, ++idx, &a, 1), 0);
                alloc_unref(a);
        }
        eval_unref(e);
        job_unref(j);
        cr_assert_eq(state_job_get(st, "default", "big")->status, JOB_STATUS_DEAD);
        static const struct gc_thresholds force = {0, 0, 0};
        size_t total = 0;
        int rounds = 0;
        json_t *cmd;
        while ((cmd = gc_collect(st, 10 * H, &force, MAX)) && rounds < 100) {
                size_t n = cmd_ids(cmd);
                cr_assert_leq(n, MAX, "round %d: %zu IDs", rounds, n);
                cr_assert_gt(n, 0);
                total += n;
                cr_assert_eq(gc_apply(st, ++idx, cmd), 0);
                json_decref(cmd);
                rounds++;
                struct dangling d = {.st = st};
                state_allocs_foreach(st, alloc_without_eval, &d);
                state_evals_foreach(st, eval_without_job, &d);
                cr_assert_eq(d.n, 0, "round %d left %d object(s) whose eval or job is gone", rounds, d.n);
        }
        json_decref(cmd);
        cr_expect_eq(total, 3 * SMALL + BIG + 2, "each object named once");
        cr_expect_leq(rounds, (int)(total / MAX) + 3, "commands nearly full (%d rounds)", rounds);
        cr_expect_eq(n_evals(st) + n_allocs(st), 0);
        cr_expect_eq(state_count(st, STATE_TABLE_JOBS), 0);
        state_destroy(st);
}

/* The leader's way (server.c): every command of a run collected in one pass over a
 * snapshot, off the loop, then applied in order while the live state moves on. Each
 * holds at most max IDs, none leaves a dangling referrer, and what changed after the
 * snapshot (a job registered again, an allocation updated: its eval and job with it)
 * is kept for the next run, which collects what is then due. */
Test(gc, one_pass_over_a_snapshot_collects_every_command_and_later_changes_are_kept) {
        struct state_store *st = state_create();
        uint64_t idx = 0;
        char id[32];
        enum { JOBS = 300, MAX = 100 };
        for (int i = 0; i < JOBS; i++) {
                snprintf(id, sizeof(id), "j%03d", i);
                finished_job(st, &idx, id, 0, true);
        }
        finished_job(st, &idx, "live", 0, false);
        static const struct gc_thresholds force = {0, 0, 0};
        struct state_store *view = state_snapshot(st);
        json_t *cmds = NULL;
        cr_assert_eq(gc_collect_all(view, 10 * H, &force, MAX, 1000, &cmds), 0);
        state_destroy(view);
        /* whole jobs of 3 IDs each: 33 a command */
        cr_assert_eq(json_array_size(cmds), (JOBS + MAX / 3 - 1) / (MAX / 3), "%zu commands for %d IDs",
                     json_array_size(cmds), JOBS * 3);
        /* after the snapshot: j007 registered again, a-j010 updated */
        struct job *j = fx_job("j007", JOB_BATCH, 1, 100, 100);
        cr_assert_eq(state_upsert_job(st, ++idx, j), 0);
        job_unref(j);
        struct alloc *a = alloc_copy(state_alloc_get(st, "a-j010"));
        cr_assert_not_null(a);
        cr_assert_eq(state_upsert_allocs(st, ++idx, &a, 1), 0);
        alloc_unref(a);
        size_t i;
        json_t *cmd;
        json_array_foreach(cmds, i, cmd) {
                cr_assert_leq(cmd_ids(cmd), MAX, "command %zu", i);
                cr_assert_eq(gc_apply(st, ++idx, cmd), 0);
                struct dangling d = {.st = st};
                state_allocs_foreach(st, alloc_without_eval, &d);
                state_evals_foreach(st, eval_without_job, &d);
                cr_assert_eq(d.n, 0, "command %zu left %d object(s) whose eval or job is gone", i, d.n);
        }
        json_decref(cmds);
        cr_expect_not_null(state_job_get(st, "default", "j007"), "registered again after the snapshot: kept");
        cr_expect_not_null(state_alloc_get(st, "a-j010"), "updated after the snapshot: kept");
        cr_expect_not_null(state_eval_get(st, "e-j010"), "an eval that still has an allocation: kept");
        cr_expect_not_null(state_job_get(st, "default", "j010"), "a job that still has one: kept");
        cr_expect_null(state_job_get(st, "default", "j011"));
        cr_expect_not_null(state_job_get(st, "default", "live"));
        cr_expect_eq(n_allocs(st), 2, "a-j010 and the live one");
        /* the next run, on the state as it is now */
        cr_assert_eq(gc_collect_all(st, 10 * H, &force, MAX, 1000, &cmds), 0);
        json_array_foreach(cmds, i, cmd) cr_assert_eq(gc_apply(st, ++idx, cmd), 0);
        json_decref(cmds);
        cr_expect_null(state_job_get(st, "default", "j010"), "collected by the next run");
        cr_expect_eq(n_allocs(st), 1);
        /* a run is bounded: at most max_commands */
        for (int k = 0; k < 50; k++) {
                snprintf(id, sizeof(id), "k%03d", k);
                finished_job(st, &idx, id, 0, true);
        }
        cr_assert_eq(gc_collect_all(st, 10 * H, &force, 10, 3, &cmds), 0);
        cr_expect_eq(json_array_size(cmds), 3);
        json_decref(cmds);
        state_destroy(st);
}
