/* test_drainer.c - controlplane/leader/drainer.c over a real state store and FSM:
 * allocations leave a draining node max_parallel at a time, batch work waits for
 * the deadline, system jobs go last, and the drain completes with the node
 * ineligible. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <string.h>

#include "controlplane/leader/drainer.h"
#include "controlplane/raft/fsm.h"
#include "controlplane/state/state.h"
#include "tests/unit/fixtures.h"

#define NOW 1000000000000LL
#define SEC 1000000000LL

static struct state_store *st;
static struct fsm *fsm;
static uint64_t idx;
static struct job *jobs[8]; /* the tests' references, dropped in teardown */
static int njobs;

static void setup(void) {
        st = state_create();
        fsm = fsm_create(&st, NULL, NULL);
        idx = 1;
        const char *names[] = {"node-a", "node-b"};
        for (int i = 0; i < 2; i++) {
                struct node *n = fx_node(names[i], "dc1", 4000, 8192);
                cr_assert_eq(state_upsert_node(st, idx++, n), 0);
                node_unref(n); /* the store holds its own reference */
        }
        njobs = 0;
}

static void teardown(void) {
        for (int i = 0; i < njobs; i++)
                job_unref(jobs[i]);
        fsm_destroy(fsm);
        state_destroy(st);
}

TestSuite(drainer, .init = setup, .fini = teardown);

static struct job *add_job(const char *id, enum job_type type, int count, int max_parallel) {
        struct job *j = fx_job(id, type, count, 100, 64);
        if (max_parallel > 0)
                j->groups[0].extra = json_pack("{s:{s:i}}", "Migrate", "MaxParallel", max_parallel);
        cr_assert_eq(state_upsert_job(st, idx++, j), 0);
        cr_assert_lt(njobs, 8);
        jobs[njobs++] = j;
        return j;
}

static void add_alloc(struct job *j, const char *id, const char *node, int i) {
        struct alloc *a = fx_alloc(id, j, node, i, 100, 64);
        cr_assert_eq(state_upsert_allocs(st, idx++, &a, 1), 0);
        alloc_unref(a);
}

static void start_drain(int64_t deadline_ns, bool ignore_system) {
        json_t *strategy =
            json_pack("{s:{s:I,s:b},s:I,s:I}", "DrainSpec", "Deadline", (json_int_t)deadline_ns, "IgnoreSystemJobs",
                      ignore_system, "ForceDeadline", (json_int_t)(deadline_ns > 0 ? NOW + deadline_ns : 0),
                      "StartedAt", (json_int_t)NOW);
        json_t *last = json_pack("{s:s,s:I}", "Status", "draining", "StartedAt", (json_int_t)(NOW / SEC));
        cr_assert_eq(state_update_node_drain(st, idx++, "node-a", strategy, last, false), 0);
        json_decref(strategy);
        json_decref(last);
}

/* One step at time now: applies the commands; returns how many AllocStops, and
 * whether the drain was completed. */
static int step(int64_t now, bool *ret_done) {
        json_t *cmds = NULL;
        cr_assert_eq(drainer_step(st, now, NULL, &cmds), 0);
        int stops = 0;
        bool done = false;
        size_t i;
        json_t *c;
        json_array_foreach(cmds, i, c) {
                const char *type = json_string_value(json_object_get(c, "Type"));
                if (strcmp(type, "AllocStop") == 0)
                        stops++;
                else if (strcmp(type, "NodeUpdateDrain") == 0)
                        done = true;
                cr_assert_eq(fsm_apply_command(fsm, idx++, c, NULL), 0, "%s", type);
        }
        json_decref(cmds);
        if (ret_done)
                *ret_done = done;
        return stops;
}

static int live_on(const char *node) {
        size_t n = 0;
        struct alloc *const *a = state_allocs_by_node(st, node, &n);
        int live = 0;
        for (size_t i = 0; i < n; i++)
                live += a[i]->desired_status == ALLOC_DESIRED_RUN;
        return live;
}

Test(drainer, nothing_to_do_without_a_draining_node) {
        struct job *j = add_job("web", JOB_SERVICE, 2, 1);
        add_alloc(j, "a1", "node-a", 0);
        bool done = true;
        cr_expect_eq(step(NOW, &done), 0);
        cr_expect_not(done);
}

Test(drainer, service_allocations_move_one_at_a_time_then_the_drain_completes) {
        struct job *j = add_job("web", JOB_SERVICE, 3, 1);
        add_alloc(j, "a1", "node-a", 0);
        add_alloc(j, "a2", "node-a", 1);
        add_alloc(j, "a3", "node-a", 2);
        start_drain(0, false);
        bool done = false;
        char rid[16];
        for (int round = 0; round < 3; round++) {
                cr_assert_eq(step(NOW + round, &done), 1, "round %d: one stop (max_parallel 1)", round);
                cr_assert_not(done);
                cr_expect_eq(step(NOW + round, &done), 0, "round %d: no second stop while one is missing", round);
                /* Nomad's IsDone: every allocation left is stopped (desired), so the last
                 * round completes the drain at once. */
                cr_expect_eq(done, round == 2, "round %d: done only when all three are stopped", round);
                /* The scheduler's replacement starts on node-b. */
                snprintf(rid, sizeof(rid), "b%d", round);
                add_alloc(j, rid, "node-b", round);
        }
        cr_expect_eq(live_on("node-a"), 0);
        cr_expect_eq(live_on("node-b"), 3);
        const struct node *n = state_node_get(st, "node-a");
        cr_expect_not(n->drain);
        cr_expect_not(n->eligible, "the node stays ineligible");
        cr_expect_null(json_object_get(n->extra, "DrainStrategy"));
        cr_expect_str_eq(json_string_value(json_object_get(json_object_get(n->extra, "LastDrain"), "Status")),
                         "complete");
        json_t *cmds = NULL;
        cr_assert_eq(drainer_step(st, NOW + 20, NULL, &cmds), 0);
        cr_expect_eq(json_array_size(cmds), 0, "a finished drain does nothing more");
        json_decref(cmds);
}

Test(drainer, max_parallel_two_stops_two_at_once) {
        struct job *j = add_job("web", JOB_SERVICE, 4, 2);
        for (int i = 0; i < 4; i++) {
                char id[16];
                snprintf(id, sizeof(id), "a%d", i);
                add_alloc(j, id, "node-a", i);
        }
        start_drain(0, false);
        cr_expect_eq(step(NOW, NULL), 2);
        cr_expect_eq(step(NOW, NULL), 0);
}

Test(drainer, batch_waits_for_the_deadline_and_system_jobs_go_last) {
        struct job *b = add_job("crunch", JOB_BATCH, 1, 0);
        struct job *sys = add_job("logs", JOB_SYSTEM, 1, 0);
        add_alloc(b, "batch1", "node-a", 0);
        add_alloc(sys, "sys1", "node-a", 0);
        start_drain(60 * SEC, false);
        bool done = true;
        cr_expect_eq(step(NOW + 1 * SEC, &done), 0, "batch finishes on its own before the deadline");
        cr_expect_not(done);
        cr_expect_eq(step(NOW + 61 * SEC, &done), 2, "the deadline stops everything left");
        cr_expect_eq(step(NOW + 62 * SEC, &done), 0);
        cr_expect(done);
}

Test(drainer, without_a_deadline_system_jobs_wait_for_the_rest) {
        struct job *web = add_job("web", JOB_SERVICE, 1, 1);
        struct job *sys = add_job("logs", JOB_SYSTEM, 1, 0);
        add_alloc(web, "w1", "node-a", 0);
        add_alloc(sys, "sys1", "node-a", 0);
        start_drain(0, false);
        bool done = true;
        cr_expect_eq(step(NOW, &done), 1, "the service alloc first");
        cr_expect_not(done);
        cr_expect_eq(live_on("node-a"), 1, "the system alloc is still there");
        cr_expect_eq(step(NOW, &done), 1, "then the system alloc");
        cr_expect_eq(step(NOW, &done), 0);
        cr_expect(done);
}

Test(drainer, ignore_system_jobs_leaves_them_and_still_completes) {
        struct job *sys = add_job("logs", JOB_SYSTEM, 1, 0);
        add_alloc(sys, "sys1", "node-a", 0);
        start_drain(0, true);
        bool done = false;
        cr_expect_eq(step(NOW, &done), 0);
        cr_expect(done);
        cr_expect_eq(live_on("node-a"), 1);
}
