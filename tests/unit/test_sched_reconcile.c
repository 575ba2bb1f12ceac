/* test_sched_reconcile.c - the pure reconciler, table-driven: each case lists the
 * group count, the existing allocs (index, node, client status) and the expected
 * stops and placements. */
#include <criterion/criterion.h>

#include "controlplane/scheduler/reconcile.h"
#include "controlplane/state/state_deploy.h"
#include "tests/unit/fixtures.h"

struct existing {
        int index;
        const char *node; /* "down" is a lost node */
        enum alloc_client client;
        enum alloc_desired desired;
};

struct rcase {
        const char *name;
        enum job_type type;
        int count;
        bool stopped;
        struct existing allocs[8];
        size_t n_allocs;
        /* expected */
        int stops[8]; /* indexes of the existing allocs stopped, in order */
        size_t n_stops;
        int n_lost_stops;  /* of which stopped as lost */
        int place[8];      /* indexes placed, in order */
        int place_prev[8]; /* which existing alloc each replaces (-1 none) */
        size_t n_place;
};

static bool lost_node(void *data, const char *node_id) {
        (void)data;
        return strcmp(node_id, "down") == 0;
}

#define R ALLOC_CLIENT_RUNNING
#define RUN ALLOC_DESIRED_RUN

static const struct rcase cases[] = {
    {"empty job places every index", JOB_SERVICE, 3, false, {{0}}, 0, {0}, 0, 0, {0, 1, 2}, {-1, -1, -1}, 3},
    {"nothing to do", JOB_SERVICE, 2, false, {{0, "n1", R, RUN}, {1, "n2", R, RUN}}, 2, {0}, 0, 0, {0}, {0}, 0},
    {"scale up fills the lowest free indexes",
     JOB_SERVICE,
     4,
     false,
     {{0, "n1", R, RUN}, {2, "n1", R, RUN}},
     2,
     {0},
     0,
     0,
     {1, 3},
     {-1, -1},
     2},
    {"scale down stops the highest indexes first",
     JOB_SERVICE,
     1,
     false,
     {{0, "n1", R, RUN}, {2, "n1", R, RUN}, {1, "n1", R, RUN}},
     3,
     {1, 2},
     2,
     0,
     {0},
     {0},
     0},
    {"job stopped stops all live allocs",
     JOB_SERVICE,
     2,
     true,
     {{0, "n1", R, RUN}, {1, "n1", ALLOC_CLIENT_COMPLETE, RUN}},
     2,
     {0},
     1,
     0,
     {0},
     {0},
     0},
    {"lost node: stopped as lost and replaced under the same name",
     JOB_SERVICE,
     2,
     false,
     {{0, "n1", R, RUN}, {1, "down", R, RUN}},
     2,
     {1},
     1,
     1,
     {1},
     {1},
     1},
    {"alloc already marked lost with its node: stopped as lost (desired stop) and replaced under the same name",
     JOB_SERVICE,
     2,
     false,
     {{0, "n1", R, RUN}, {1, "down", ALLOC_CLIENT_LOST, RUN}},
     2,
     {1},
     1,
     1,
     {1},
     {1},
     1},
    {"failed service alloc is replaced, not stopped again",
     JOB_SERVICE,
     1,
     false,
     {{0, "n1", ALLOC_CLIENT_FAILED, RUN}},
     1,
     {0},
     0,
     0,
     {0},
     {0},
     1},
    {"completed batch alloc is done, not replaced",
     JOB_BATCH,
     2,
     false,
     {{0, "n1", ALLOC_CLIENT_COMPLETE, RUN}},
     1,
     {0},
     0,
     0,
     {1},
     {-1},
     1},
    {"failed batch alloc is rescheduled once (the default policy) after its delay",
     JOB_BATCH,
     1,
     false,
     {{0, "n1", ALLOC_CLIENT_FAILED, RUN}},
     1,
     {0},
     0,
     0,
     {0},
     {0},
     1},
    {"completed service alloc is replaced",
     JOB_SERVICE,
     1,
     false,
     {{0, "n1", ALLOC_CLIENT_COMPLETE, RUN}},
     1,
     {0},
     0,
     0,
     {0},
     {0},
     1},
    {"stopped allocs are ignored and their index reused",
     JOB_SERVICE,
     1,
     false,
     {{0, "n1", R, ALLOC_DESIRED_STOP}},
     1,
     {0},
     0,
     0,
     {0},
     {-1},
     1},
    {"above count the highest index goes, even outside [0,count)",
     JOB_SERVICE,
     2,
     false,
     {{0, "n1", R, RUN}, {5, "n1", R, RUN}, {6, "n1", R, RUN}},
     3,
     {2},
     1,
     0,
     {0},
     {0},
     0},
    {"duplicate indexes count toward the total",
     JOB_SERVICE,
     2,
     false,
     {{1, "n1", R, RUN}, {1, "n2", R, RUN}},
     2,
     {0},
     0,
     0,
     {0},
     {0},
     0},
    {"lost alloc with a taken index is replaced at the lowest free one",
     JOB_SERVICE,
     3,
     false,
     {{0, "n1", R, RUN}, {0, "down", R, RUN}},
     2,
     {1},
     1,
     1,
     {1, 2},
     {-1, -1},
     2},
    {"count 0 stops everything",
     JOB_SERVICE,
     0,
     false,
     {{0, "n1", R, RUN}, {1, "down", R, RUN}},
     2,
     {1, 0},
     2,
     1,
     {0},
     {0},
     0},
};

static void run_case(const struct rcase *c) {
        struct job *j = fx_job("web", c->type, c->count, 100, 100);
        j->stop = c->stopped;
        struct alloc *allocs[8];
        for (size_t i = 0; i < c->n_allocs; i++) {
                char id[32];
                snprintf(id, sizeof(id), "a%zu", i);
                allocs[i] = fx_alloc(id, j, c->allocs[i].node, c->allocs[i].index, 100, 100);
                allocs[i]->client_status = c->allocs[i].client;
                allocs[i]->desired_status = c->allocs[i].desired;
        }
        struct reconcile_in in = {.job = j,
                                  .allocs = allocs,
                                  .n_allocs = c->n_allocs,
                                  .batch = c->type == JOB_BATCH,
                                  .node_lost = lost_node,
                                  .now = INT64_C(864000000000000) /* every reschedule delay has passed */};
        struct reconcile_out out;
        cr_assert_eq(sched_reconcile(&in, &out), 0, "%s", c->name);
        cr_expect_eq(out.n_stops, c->n_stops, "%s: %zu stops, want %zu", c->name, out.n_stops, c->n_stops);
        int lost = 0;
        for (size_t i = 0; i < out.n_stops && i < c->n_stops; i++) {
                cr_expect_eq(out.stops[i].alloc, allocs[c->stops[i]], "%s: stop %zu", c->name, i);
                if (out.stops[i].client_status == ALLOC_CLIENT_LOST) {
                        lost++;
                        cr_expect_str_eq(out.stops[i].description, sched_desc_lost);
                } else {
                        cr_expect_str_eq(out.stops[i].description, sched_desc_not_needed);
                }
        }
        cr_expect_eq(lost, c->n_lost_stops, "%s: %d lost stops", c->name, lost);
        cr_expect_eq(out.n_place, c->n_place, "%s: %zu placements, want %zu", c->name, out.n_place, c->n_place);
        for (size_t i = 0; i < out.n_place && i < c->n_place; i++) {
                cr_expect_eq(out.place[i].group, 0);
                cr_expect_eq(out.place[i].index, c->place[i], "%s: placement %zu index %d", c->name, i,
                             out.place[i].index);
                const struct alloc *want = c->place_prev[i] >= 0 ? allocs[c->place_prev[i]] : NULL;
                cr_expect_eq(out.place[i].prev, want, "%s: placement %zu previous alloc", c->name, i);
        }
        reconcile_out_free(&out);
        for (size_t i = 0; i < c->n_allocs; i++)
                alloc_unref(allocs[i]);
        job_unref(j);
}

Test(sched_reconcile, table) {
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
                run_case(&cases[i]);
}

Test(sched_reconcile, purged_job_stops_every_live_alloc) {
        struct job *j = fx_job("web", JOB_SERVICE, 1, 100, 100);
        struct alloc *a = fx_alloc("a0", j, "n1", 0, 100, 100);
        struct alloc *done = fx_alloc("a1", j, "n1", 1, 100, 100);
        done->client_status = ALLOC_CLIENT_COMPLETE;
        struct alloc *allocs[] = {a, done};
        struct reconcile_in in = {.job = NULL, .allocs = allocs, .n_allocs = 2};
        struct reconcile_out out;
        cr_assert_eq(sched_reconcile(&in, &out), 0);
        cr_assert_eq(out.n_stops, 1);
        cr_assert_eq(out.stops[0].alloc, a);
        cr_assert_eq(out.n_place, 0);
        reconcile_out_free(&out);
        alloc_unref(a);
        alloc_unref(done);
        job_unref(j);
}

/* Many groups: allocs of a removed group are stopped; each group gets its own slots,
 * ordered by group, with the group carried in its own field. */
Test(sched_reconcile, many_groups_ordered_and_removed_group_stopped) {
        enum { G = 40 };
        struct job *j = fx_job("web", JOB_SERVICE, 2, 100, 100);
        struct task_group proto = j->groups[0];
        j->groups = realloc(j->groups, G * sizeof(*j->groups));
        j->n_groups = G;
        for (size_t g = 1; g < G; g++) {
                memset(&j->groups[g], 0, sizeof(j->groups[g]));
                char name[32];
                snprintf(name, sizeof(name), "g%zu", g);
                j->groups[g].name = strdup(name);
                j->groups[g].count = (int)(g % 3);
                j->groups[g].tasks = calloc(1, sizeof(struct task));
                j->groups[g].n_tasks = 1;
                j->groups[g].tasks[0].name = strdup("t");
                j->groups[g].tasks[0].driver = strdup(proto.tasks[0].driver);
        }
        /* one alloc of g7 (count 1, index 0), one of a group that is gone */
        struct alloc *kept = fx_alloc("k", j, "n1", 0, 100, 100);
        free(kept->task_group);
        kept->task_group = strdup("g7");
        struct alloc *gone = fx_alloc("x", j, "n1", 0, 100, 100);
        free(gone->task_group);
        gone->task_group = strdup("removed");
        struct alloc *allocs[] = {kept, gone};
        struct reconcile_in in = {.job = j, .allocs = allocs, .n_allocs = 2, .node_lost = lost_node};
        struct reconcile_out out;
        cr_assert_eq(sched_reconcile(&in, &out), 0);
        cr_assert_eq(out.n_stops, 1);
        cr_assert_eq(out.stops[0].alloc, gone);
        size_t want = 2;
        for (size_t g = 1; g < G; g++)
                want += g % 3;
        cr_assert_eq(out.n_place, want - 1, "%zu", out.n_place);
        for (size_t i = 1; i < out.n_place; i++)
                cr_assert(out.place[i - 1].group <= out.place[i].group);
        for (size_t i = 0; i < out.n_place; i++)
                cr_assert(out.place[i].group != 7, "g7 already has its one alloc");
        reconcile_out_free(&out);
        alloc_unref(kept);
        alloc_unref(gone);
        job_unref(j);
}

/* ---- drain: migrations, migrate.max_parallel at a time ------------------------------------ */

static bool draining_node(void *data, const char *node_id) {
        return strcmp(node_id, "drain") == 0;
}

static struct reconcile_out drain_reconcile(struct job *j, struct alloc **allocs, size_t n) {
        struct reconcile_in in = {
            .job = j, .allocs = allocs, .n_allocs = n, .node_lost = lost_node, .node_draining = draining_node};
        struct reconcile_out out;
        cr_assert_eq(sched_reconcile(&in, &out), 0);
        return out;
}

Test(sched_reconcile, drain_migrates_max_parallel_at_a_time) {
        struct job *j = fx_job("web", JOB_SERVICE, 3, 100, 100);
        struct alloc *allocs[5];
        for (int i = 0; i < 3; i++) {
                char id[24];
                snprintf(id, sizeof(id), "a%d", i);
                allocs[i] = fx_alloc(id, j, "drain", i, 100, 100);
        }
        /* default max_parallel 1: one stopped as migrating, replaced under its name */
        struct reconcile_out out = drain_reconcile(j, allocs, 3);
        cr_assert_eq(out.n_stops, 1);
        cr_assert_str_eq(out.stops[0].description, sched_desc_migrate);
        cr_assert_eq(out.stops[0].client_status, -1);
        cr_assert_eq(out.n_place, 1);
        cr_assert_eq(out.place[0].prev, out.stops[0].alloc);
        cr_assert_eq(out.place[0].index, alloc_name_index(out.stops[0].alloc));
        reconcile_out_free(&out);
        /* max_parallel 2 on the group */
        j->groups[0].extra = json_pack("{s:{s:i}}", "Migrate", "MaxParallel", 2);
        out = drain_reconcile(j, allocs, 3);
        cr_assert_eq(out.n_stops, 2);
        cr_assert_eq(out.n_place, 2);
        reconcile_out_free(&out);
        /* a2 was migrated and its replacement is still pending: one more may go */
        allocs[2]->desired_status = ALLOC_DESIRED_STOP;
        allocs[2]->desired_description = strdup(sched_desc_migrate);
        allocs[3] = fx_alloc("r2", j, "n1", 2, 100, 100);
        allocs[3]->client_status = ALLOC_CLIENT_PENDING;
        allocs[3]->previous_allocation = strdup("a2");
        out = drain_reconcile(j, allocs, 4);
        cr_assert_eq(out.n_stops, 1, "2 - 1 in flight (got %zu)", out.n_stops);
        cr_assert_eq(out.n_place, 1);
        reconcile_out_free(&out);
        /* max_parallel 1 with one in flight: nothing until it runs */
        json_decref(j->groups[0].extra);
        j->groups[0].extra = NULL;
        out = drain_reconcile(j, allocs, 4);
        cr_assert_eq(out.n_stops, 0);
        cr_assert_eq(out.n_place, 0);
        reconcile_out_free(&out);
        allocs[3]->client_status = ALLOC_CLIENT_RUNNING;
        out = drain_reconcile(j, allocs, 4);
        cr_assert_eq(out.n_stops, 1, "the replacement runs: the next one goes");
        cr_assert_neq(out.stops[0].alloc, allocs[3], "never the replacement on a good node");
        reconcile_out_free(&out);
        /* without a draining node nothing moves */
        struct reconcile_in in = {.job = j, .allocs = allocs, .n_allocs = 4, .node_lost = lost_node};
        cr_assert_eq(sched_reconcile(&in, &out), 0);
        cr_assert_eq(out.n_stops, 0);
        cr_assert_eq(out.n_place, 0);
        reconcile_out_free(&out);
        for (int i = 0; i < 4; i++)
                alloc_unref(allocs[i]);
        job_unref(j);
}

/* ---- job updates: in place, destructive, update.max_parallel at a time ---------------------- */

/* Version 1 of j with one change made by edit. */
static struct job *next_version(const struct job *j, void (*edit)(struct job *)) {
        struct job *n = job_copy(j);
        n->version = j->version + 1;
        n->job_modify_index = j->job_modify_index + 10;
        edit(n);
        return n;
}

static void edit_env(struct job *j) {
        strmap_set(&j->groups[0].tasks[0].env, "VERSION", "2");
}

static void edit_priority(struct job *j) {
        j->priority = 80;
}

static void edit_env_and_count_5(struct job *j) {
        edit_env(j);
        j->groups[0].count = 5;
}

static void edit_env_and_count_1(struct job *j) {
        edit_env(j);
        j->groups[0].count = 1;
}

static void allocs_of(struct job *j, const char *node, int n, struct alloc **out) {
        for (int i = 0; i < n; i++) {
                char id[24];
                snprintf(id, sizeof(id), "a%d", i);
                out[i] = fx_alloc(id, j, node, i, 100, 100);
        }
}

static struct reconcile_out update_reconcile(struct job *j, struct alloc **allocs, size_t n, bool batch) {
        struct reconcile_in in = {.job = j, .allocs = allocs, .n_allocs = n, .batch = batch, .node_lost = lost_node};
        struct reconcile_out out;
        cr_assert_eq(sched_reconcile(&in, &out), 0);
        return out;
}

static void unref_all(struct alloc **a, size_t n) {
        for (size_t i = 0; i < n; i++)
                alloc_unref(a[i]);
}

Test(sched_reconcile, inplace_update_touches_every_alloc_and_places_nothing) {
        struct job *v0 = fx_job("web", JOB_SERVICE, 3, 100, 100);
        struct alloc *allocs[3];
        allocs_of(v0, "n1", 3, allocs);
        struct job *v1 = next_version(v0, edit_priority);
        struct reconcile_out out = update_reconcile(v1, allocs, 3, false);
        cr_assert_eq(out.n_stops, 0);
        cr_assert_eq(out.n_place, 0);
        cr_assert_eq(out.n_inplace, 3, "in place has no max_parallel (got %zu)", out.n_inplace);
        for (size_t i = 0; i < 3; i++)
                cr_assert_eq(out.inplace[i].group, 0);
        reconcile_out_free(&out);
        /* allocs already on v1 are left alone */
        out = update_reconcile(v0, allocs, 3, false);
        cr_assert_eq(out.n_inplace + out.n_stops + out.n_place, 0);
        reconcile_out_free(&out);
        unref_all(allocs, 3);
        job_unref(v0);
        job_unref(v1);
}

Test(sched_reconcile, destructive_update_one_at_a_time_by_default) {
        struct job *v0 = fx_job("web", JOB_SERVICE, 3, 100, 100);
        struct alloc *allocs[6];
        allocs_of(v0, "n1", 3, allocs);
        struct job *v1 = next_version(v0, edit_env);
        struct reconcile_out out = update_reconcile(v1, allocs, 3, false);
        cr_assert_eq(out.n_inplace, 0);
        cr_assert_eq(out.n_stops, 1, "max_parallel 1 (got %zu)", out.n_stops);
        cr_assert_eq(out.n_destructive, 1);
        cr_assert_str_eq(out.stops[0].description, sched_desc_update);
        cr_assert_eq(out.stops[0].alloc, allocs[0], "lowest index first");
        cr_assert_eq(out.n_place, 1);
        cr_assert_eq(out.place[0].index, 0, "replaced under the same name");
        cr_assert_eq(out.place[0].prev, allocs[0]);
        reconcile_out_free(&out);
        /* a0 stopped, its replacement pending on v1: nothing more until it is healthy */
        allocs[0]->desired_status = ALLOC_DESIRED_STOP;
        allocs[3] = fx_alloc("r0", v1, "n2", 0, 100, 100);
        allocs[3]->client_status = ALLOC_CLIENT_PENDING;
        out = update_reconcile(v1, allocs, 4, false);
        cr_assert_eq(out.n_stops + out.n_place, 0, "a pending replacement holds max_parallel");
        reconcile_out_free(&out);
        /* running outside a deployment counts as healthy: the next goes */
        allocs[3]->client_status = ALLOC_CLIENT_RUNNING;
        out = update_reconcile(v1, allocs, 4, false);
        cr_assert_eq(out.n_stops, 1);
        cr_assert_eq(out.stops[0].alloc, allocs[1]);
        reconcile_out_free(&out);
        /* tracked by a deployment: running is not enough, its health decides */
        allocs[3]->deployment_id = strdup("d1");
        out = update_reconcile(v1, allocs, 4, false);
        cr_assert_eq(out.n_stops, 0, "running but not yet healthy");
        reconcile_out_free(&out);
        allocs[3]->deploy_health = DEPLOY_HEALTH_UNHEALTHY;
        out = update_reconcile(v1, allocs, 4, false);
        cr_assert_eq(out.n_stops, 0, "unhealthy counts against max_parallel");
        reconcile_out_free(&out);
        allocs[3]->deploy_health = DEPLOY_HEALTH_HEALTHY;
        out = update_reconcile(v1, allocs, 4, false);
        cr_assert_eq(out.n_stops, 1);
        reconcile_out_free(&out);
        /* a paused or failed deployment blocks destructive updates, not in-place ones */
        struct reconcile_in in = {
            .job = v1, .allocs = allocs, .n_allocs = 4, .node_lost = lost_node, .updates_blocked = true};
        cr_assert_eq(sched_reconcile(&in, &out), 0);
        cr_assert_eq(out.n_stops + out.n_place, 0);
        reconcile_out_free(&out);
        unref_all(allocs, 4);
        job_unref(v0);
        job_unref(v1);
}

Test(sched_reconcile, destructive_update_max_parallel_and_batch_all_at_once) {
        struct job *v0 = fx_job("web", JOB_SERVICE, 4, 100, 100);
        struct alloc *allocs[4];
        allocs_of(v0, "n1", 4, allocs);
        struct job *v1 = next_version(v0, edit_env);
        json_decref(v1->extra);
        v1->extra = json_pack("{s:{s:i}}", "Update", "MaxParallel", 3);
        struct reconcile_out out = update_reconcile(v1, allocs, 4, false);
        cr_assert_eq(out.n_stops, 3, "job-level max_parallel 3 (got %zu)", out.n_stops);
        cr_assert_eq(out.n_place, 3);
        reconcile_out_free(&out);
        /* the group's block wins over the job's */
        json_decref(v1->groups[0].extra);
        v1->groups[0].extra = json_pack("{s:{s:i}}", "Update", "MaxParallel", 2);
        out = update_reconcile(v1, allocs, 4, false);
        cr_assert_eq(out.n_stops, 2);
        reconcile_out_free(&out);
        /* max_parallel 0: no rolling update */
        json_decref(v1->groups[0].extra);
        v1->groups[0].extra = json_pack("{s:{s:i}}", "Update", "MaxParallel", 0);
        out = update_reconcile(v1, allocs, 4, false);
        cr_assert_eq(out.n_stops, 4);
        reconcile_out_free(&out);
        unref_all(allocs, 4);
        job_unref(v0);
        job_unref(v1);
        /* batch: every outdated alloc at once */
        struct job *b0 = fx_job("b", JOB_BATCH, 4, 100, 100);
        allocs_of(b0, "n1", 4, allocs);
        struct job *b1 = next_version(b0, edit_env);
        out = update_reconcile(b1, allocs, 4, true);
        cr_assert_eq(out.n_stops, 4);
        cr_assert_eq(out.n_place, 4);
        reconcile_out_free(&out);
        unref_all(allocs, 4);
        job_unref(b0);
        job_unref(b1);
}

Test(sched_reconcile, scale_together_with_update) {
        struct job *v0 = fx_job("web", JOB_SERVICE, 3, 100, 100);
        struct alloc *allocs[3];
        allocs_of(v0, "n1", 3, allocs);
        /* up to 5 with a new env: 2 new slots now, plus one destructive update */
        struct job *up = next_version(v0, edit_env_and_count_5);
        struct reconcile_out out = update_reconcile(up, allocs, 3, false);
        cr_assert_eq(out.n_stops, 1);
        cr_assert_eq(out.n_destructive, 1);
        cr_assert_eq(out.n_place, 3, "2 new + 1 replacement (got %zu)", out.n_place);
        bool seen[5] = {0};
        for (size_t i = 0; i < out.n_place; i++)
                seen[out.place[i].index] = true;
        cr_assert(seen[0] && seen[3] && seen[4]);
        reconcile_out_free(&out);
        /* down to 1 with a new env: the 2 highest go as not needed, one update */
        struct job *down = next_version(v0, edit_env_and_count_1);
        out = update_reconcile(down, allocs, 3, false);
        cr_assert_eq(out.n_stops, 3);
        cr_assert_str_eq(out.stops[0].description, sched_desc_not_needed);
        cr_assert_str_eq(out.stops[1].description, sched_desc_not_needed);
        cr_assert_str_eq(out.stops[2].description, sched_desc_update);
        cr_assert_eq(out.stops[2].alloc, allocs[0]);
        cr_assert_eq(out.n_place, 1);
        cr_assert_eq(out.place[0].index, 0);
        reconcile_out_free(&out);
        unref_all(allocs, 3);
        job_unref(v0);
        job_unref(up);
        job_unref(down);
}

Test(sched_reconcile, scale_down_stops_older_versions_first) {
        struct job *v0 = fx_job("web", JOB_SERVICE, 3, 100, 100);
        struct alloc *allocs[3];
        allocs_of(v0, "n1", 2, allocs);
        struct job *v1 = next_version(v0, edit_priority);
        allocs[2] = fx_alloc("new", v1, "n1", 2, 100, 100);
        v1->groups[0].count = 1;
        struct reconcile_out out = update_reconcile(v1, allocs, 3, false);
        cr_assert_eq(out.n_stops, 2);
        cr_assert_neq(out.stops[0].alloc, allocs[2]);
        cr_assert_neq(out.stops[1].alloc, allocs[2], "the v1 alloc stays, though its index is highest");
        reconcile_out_free(&out);
        unref_all(allocs, 3);
        job_unref(v0);
        job_unref(v1);
}

/* ---- canaries ------------------------------------------------------------------------------ */

Test(sched_reconcile, canaries_beside_the_old_allocs_until_promoted) {
        struct job *v0 = fx_job("web", JOB_SERVICE, 3, 100, 100);
        struct alloc *allocs[5];
        allocs_of(v0, "n1", 3, allocs);
        struct job *v1 = next_version(v0, edit_env);
        struct deploy_group dg = {.name = "g", .desired_total = 3, .desired_canaries = 1, .promoted = false};
        struct deployment d = {
            .refcount = 1, .id = "d1", .job_id = "web", .job_version = 1, .groups = &dg, .n_groups = 1};
        struct reconcile_in in = {.job = v1, .allocs = allocs, .n_allocs = 3, .node_lost = lost_node, .deploy = &d};
        struct reconcile_out out;
        cr_assert_eq(sched_reconcile(&in, &out), 0);
        cr_assert_eq(out.n_stops, 0, "nothing replaced before promotion");
        cr_assert_eq(out.n_place, 1);
        cr_assert(out.place[0].canary);
        cr_assert_eq(out.place[0].index, 0, "named after the old alloc it will replace");
        cr_assert_null(out.place[0].prev);
        reconcile_out_free(&out);
        /* the canary runs: it does not count toward count, nothing more happens */
        allocs[3] = fx_alloc("c0", v1, "n2", 0, 100, 100);
        allocs[3]->deployment_id = strdup("d1");
        allocs[3]->deploy_canary = true;
        in.n_allocs = 4;
        cr_assert_eq(sched_reconcile(&in, &out), 0);
        cr_assert_eq(out.n_stops + out.n_place, 0);
        reconcile_out_free(&out);
        allocs[3]->deploy_health = DEPLOY_HEALTH_HEALTHY;
        cr_assert_eq(sched_reconcile(&in, &out), 0);
        cr_assert_eq(out.n_stops + out.n_place, 0, "healthy, still waiting for promotion");
        reconcile_out_free(&out);
        /* promoted: the canary counts; one old alloc goes as not needed, one is replaced,
         * its replacement under the name nobody holds */
        dg.promoted = true;
        cr_assert_eq(sched_reconcile(&in, &out), 0);
        cr_assert_eq(out.n_stops, 2);
        cr_assert_str_eq(out.stops[0].description, sched_desc_not_needed);
        cr_assert_eq(out.stops[0].alloc, allocs[2]);
        cr_assert_str_eq(out.stops[1].description, sched_desc_update);
        cr_assert_eq(out.stops[1].alloc, allocs[0]);
        cr_assert_eq(out.n_place, 1);
        cr_assert_not(out.place[0].canary);
        cr_assert_eq(out.place[0].index, 2, "index 0 is the canary's");
        reconcile_out_free(&out);
        unref_all(allocs, 4);
        job_unref(v0);
        job_unref(v1);
}
