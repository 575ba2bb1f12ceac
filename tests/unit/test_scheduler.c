/* test_scheduler.c - the generic scheduler, feasibility and scores, through a planner backed by a live store. */
#include <criterion/criterion.h>
#include <errno.h>
#include <math.h>

#include "common/error.h"
#include "common/ids.h"
#include "controlplane/plan/applier.h"
#include "controlplane/scheduler/feasible.h"
#include "controlplane/scheduler/scheduler.h"
#include "controlplane/state/state.h"
#include "tests/unit/fixtures.h"

/* A planner backed by a live store: plans are checked and applied like the leader does. */
struct fake_planner {
        struct state_store *live;
        uint64_t index;
        int plans;
        struct eval *updated; /* last update_eval */
        struct eval *created; /* last create_eval */
        int n_created;
};

static int fp_submit(void *data, struct plan *plan, struct plan_result **ret, struct state_store **ret_snap,
                     struct error *err) {
        struct fake_planner *fp = data;
        struct plan_result *r = NULL;
        int rc = plan_evaluate(fp->live, plan, &r, err);
        if (rc < 0)
                return rc;
        fp->plans++;
        if (!plan_result_is_noop(r)) {
                fp->index++;
                cr_assert_eq(plan_result_apply(fp->live, fp->index, r), 0);
                plan_result_set_alloc_index(r, fp->index);
        }
        *ret = r;
        *ret_snap = plan_result_refresh_index(r) ? state_snapshot(fp->live) : NULL;
        return 0;
}

static int fp_update(void *data, const struct eval *ev) {
        struct fake_planner *fp = data;
        eval_unref(fp->updated);
        fp->updated = eval_copy(ev);
        struct eval *c = eval_copy(ev);
        state_upsert_evals(fp->live, ++fp->index, &c, 1);
        eval_unref(c);
        return 0;
}

static int fp_create(void *data, const struct eval *ev) {
        struct fake_planner *fp = data;
        eval_unref(fp->created);
        fp->created = eval_copy(ev);
        fp->n_created++;
        struct eval *c = eval_copy(ev);
        state_upsert_evals(fp->live, ++fp->index, &c, 1);
        eval_unref(c);
        return 0;
}

static const struct planner_ops fp_ops = {fp_submit, fp_update, fp_create};

static int64_t fixed_now(void *d) {
        return INT64_C(1700000000000000000);
}
static const struct clock_ops fixed_clock = {fixed_now, fixed_now, NULL};

static void seq_id(void *data, char buf[ID_BUF]) {
        int *n = data;
        snprintf(buf, ID_BUF, "00000000-0000-4000-8000-%012d", ++*n);
}

static struct state_store *live;
static struct fake_planner fp;
static int id_counter;

static void setup(void) {
        live = state_create();
        memset(&fp, 0, sizeof(fp));
        fp.live = live;
        fp.index = 100;
        id_counter = 0;
}

static void teardown(void) {
        eval_unref(fp.updated);
        eval_unref(fp.created);
        state_destroy(live);
}

static void add_node(struct node *n) {
        cr_assert_eq(state_upsert_node(live, ++fp.index, n), 0);
        node_unref(n);
}

static void add_job(struct job *j) {
        cr_assert_eq(state_upsert_job(live, ++fp.index, j), 0);
        job_unref(j);
}

static const struct sched_preemption *test_preemption; /* NULL: the defaults (system only) */
static bool random_ids;                                /* the scheduler's own ID generator instead of seq_id */
static struct sched_cand_cache *test_cands;            /* the worker's candidate cache (NULL: none) */

/* Run one eval for job id on a snapshot of the live store. */
static int run_eval(const char *eval_id, const char *job_id) {
        const struct job *j = state_job_get(live, "default", job_id);
        struct job *tmp = NULL;
        if (!j) { /* purged: the eval still names it */
                tmp = fx_job(job_id, JOB_SERVICE, 0, 0, 0);
                j = tmp;
        }
        struct eval *e = fx_eval(eval_id, j, "job-register");
        job_unref(tmp);
        state_upsert_evals(live, ++fp.index, &e, 1);
        struct state_store *snap = state_snapshot(live);
        struct scheduler_env env = {.clock = &fixed_clock,
                                    .gen_id = random_ids ? NULL : seq_id,
                                    .id_data = &id_counter,
                                    .preemption = test_preemption,
                                    .cands = test_cands};
        struct error err = {0};
        int r = scheduler_process_env(snap, e, &fp_ops, &fp, &env, &err);
        cr_assert_eq(r, 0, "scheduler: %s", err.msg);
        state_destroy(snap);
        eval_unref(e);
        return r;
}

struct collect {
        const struct alloc *v[64];
        int n;
        bool live_only;
};

static bool collect_cb(void *arg, const struct alloc *a) {
        struct collect *c = arg;
        if ((!c->live_only || !alloc_terminal(a)) && c->n < 64)
                c->v[c->n++] = a;
        return true;
}

static struct collect live_allocs(const char *job_id) {
        struct collect c = {.live_only = true};
        state_allocs_by_job_foreach(live, "default", job_id, collect_cb, &c);
        return c;
}

static bool has_index(const struct collect *c, int idx) {
        for (int i = 0; i < c->n; i++)
                if (alloc_name_index(c->v[i]) == idx)
                        return true;
        return false;
}

TestSuite(scheduler, .init = setup, .fini = teardown);

Test(scheduler, binpack_score_exact_values) {
        /* empty node: free 1,1 -> 20 - 20 = 0 */
        cr_assert_float_eq(sched_binpack_score(1000, 1000, 0, 0), 0.0, 1e-12);
        /* full node: 20 - (1 + 1) = 18 -> 1.0 */
        cr_assert_float_eq(sched_binpack_score(1000, 1000, 1000, 1000), 1.0, 1e-12);
        /* half: 20 - 2*10^0.5 = 13.675445... /18 */
        cr_assert_float_eq(sched_binpack_score(4000, 8000, 2000, 4000), (20 - 2 * sqrt(10)) / 18, 1e-12);
        /* cpu 25%, mem 75%: 20 - (10^0.75 + 10^0.25) */
        cr_assert_float_eq(sched_binpack_score(4000, 4000, 1000, 3000), (20 - pow(10, 0.75) - pow(10, 0.25)) / 18,
                           1e-12);
}

struct op_case {
        const char *l, *op, *r;
        bool want;
};

Test(scheduler, constraint_operators_table) {
        struct node *n = fx_node("node-1", "dc1", 4000, 8000);
        strmap_set(&n->attributes, "kernel.version", "6.1.0");
        strmap_set(&n->attributes, "tags", "ssd, gpu ,fast");
        strmap_set(&n->meta, "rack", "r12");
        static const struct op_case cases[] = {
            {"${attr.kernel.name}", "=", "linux", true},
            {"${attr.kernel.name}", "==", "linux", true},
            {"${attr.kernel.name}", "is", "darwin", false},
            {"${attr.kernel.name}", "", "linux", true},
            {"${attr.kernel.name}", "!=", "darwin", true},
            {"${attr.kernel.name}", "not", "linux", false},
            {"${attr.missing}", "=", "x", false},
            {"${attr.missing}", "!=", "x", true},
            {"${attr.cpu.numcores}", ">", "3", true},
            {"${attr.cpu.numcores}", ">=", "4", true},
            {"${attr.cpu.numcores}", "<", "10", true}, /* numeric, not lexical */
            {"${attr.cpu.numcores}", "<=", "3", false},
            {"${attr.os.version}", ">", "12.10", true}, /* floats: 12.4 > 12.1 */
            {"${meta.rack}", ">", "r1", true},          /* lexical */
            {"${attr.missing}", "<", "5", false},
            {"${attr.kernel.version}", "version", ">= 5.10, < 7", true},
            {"${attr.kernel.version}", "version", "~> 6.1", true},
            {"${attr.kernel.version}", "version", "~> 5.4", false},
            {"${attr.kernel.version}", "semver", "6.1.0", true},
            {"${attr.missing}", "version", ">= 1", false},
            {"${attr.kernel.name}", "regexp", "^lin.x$", true},
            {"${attr.kernel.name}", "regexp", "^win", false},
            {"${attr.tags}", "set_contains", "ssd,fast", true},
            {"${attr.tags}", "set_contains_all", "ssd,nvme", false},
            {"${attr.tags}", "set_contains_any", "nvme, gpu", true},
            {"${attr.tags}", "set_contains_any", "nvme", false},
            {"${attr.kernel.name}", "is_set", NULL, true},
            {"${attr.missing}", "is_set", NULL, false},
            {"${attr.missing}", "is_not_set", NULL, true},
            {"${node.unique.id}", "=", "node-1", true},
            {"${node.unique.name}", "=", "node-1", true},
            {"${node.datacenter}", "=", "dc1", true},
            {"${node.pool}", "=", "default", true},
            {"${meta.rack}", "=", "r12", true},
            {"${attr.kernel.name}", "bogus_op", "linux", false},
        };
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                struct constraint c = {(char *)cases[i].l, (char *)cases[i].r, (char *)cases[i].op};
                cr_expect_eq(sched_node_meets(n, &c), cases[i].want, "case %zu: %s %s %s", i, cases[i].l, cases[i].op,
                             cases[i].r ? cases[i].r : "");
        }
        node_unref(n);
}

Test(scheduler, binpacks_onto_the_fuller_node_that_fits) {
        add_node(fx_node("node-empty", "dc1", 4000, 8000));
        add_node(fx_node("node-half", "dc1", 4000, 8000));
        struct job *other = fx_job("other", JOB_SERVICE, 1, 2000, 4000);
        state_upsert_job(live, ++fp.index, other);
        struct alloc *a = fx_alloc("existing", other, "node-half", 0, 2000, 4000);
        state_upsert_allocs(live, ++fp.index, &a, 1);
        alloc_unref(a);
        job_unref(other);
        for (int t = 0; t < 2; t++) {
                char id[24];
                snprintf(id, sizeof(id), "job%d", t);
                add_job(fx_job(id, t ? JOB_BATCH : JOB_SERVICE, 1, 1000, 1000));
                run_eval(t ? "11111111-0000-4000-8000-000000000001" : "11111111-0000-4000-8000-000000000002", id);
                struct collect c = live_allocs(id);
                cr_assert_eq(c.n, 1);
                cr_assert_str_eq(c.v[0]->node_id, "node-half", "job %s", id);
                cr_assert_str_eq(c.v[0]->name, t ? "job1.g[0]" : "job0.g[0]");
                cr_assert_eq(c.v[0]->client_status, ALLOC_CLIENT_PENDING);
                cr_assert_not_null(c.v[0]->metrics);
                cr_assert_eq(json_integer_value(json_object_get(c.v[0]->metrics, "NodesEvaluated")), 2);
        }
        cr_assert_eq(fp.updated->status, EVAL_COMPLETE);
}

static int cmp_str(const void *a, const void *b) {
        return strcmp(*(const char *const *)a, *(const char *const *)b);
}

Test(scheduler, default_ids_are_distinct_uuids_and_alloc_strings_survive_the_eval) {
        random_ids = true;
        add_node(fx_node("node-a", "dc1", 100000, 100000));
        add_job(fx_job("web", JOB_SERVICE, 150, 10, 10)); /* more IDs than one draw of 64 */
        run_eval("11111111-0000-4000-8000-000000000003", "web");
        random_ids = false;
        size_t n;
        struct alloc *const *list = state_allocs_by_job(live, "default", "web", &n);
        cr_assert_eq(n, 150);
        const char *ids[150];
        bool seen[150] = {0};
        for (size_t i = 0; i < n; i++) {
                const struct alloc *a = list[i];
                cr_assert(id_is_valid(a->id), "%s", a->id);
                cr_assert_eq(a->id[14], '8', "%s: version 8 (sequenced)", a->id);
                cr_assert(strchr("89ab", a->id[19]), "%s: variant", a->id);
                cr_assert_str_eq(a->node_id, "node-a");
                cr_assert_str_eq(a->job_id, "web");
                cr_assert_str_eq(a->task_group, "g");
                cr_assert_str_eq(a->namespace, "default");
                cr_assert_str_eq(a->eval_id, "11111111-0000-4000-8000-000000000003");
                int idx = alloc_name_index(a);
                cr_assert(idx >= 0 && idx < 150 && !seen[idx], "%s", a->name);
                seen[idx] = true;
                char name[32];
                snprintf(name, sizeof(name), "web.g[%d]", idx);
                cr_assert_str_eq(a->name, name);
                ids[i] = a->id;
        }
        qsort(ids, n, sizeof(ids[0]), cmp_str);
        for (size_t i = 1; i < n; i++)
                cr_assert_str_neq(ids[i - 1], ids[i]);
}

Test(scheduler, infeasible_driver_fails_with_metrics_and_one_blocked_eval) {
        add_node(fx_node("n1", "dc1", 4000, 8000));
        add_node(fx_node("n2", "dc1", 4000, 8000));
        struct job *j = fx_job("web", JOB_SERVICE, 3, 100, 100);
        free(j->groups[0].tasks[0].driver);
        j->groups[0].tasks[0].driver = strdup("docker");
        add_job(j);
        run_eval("22222222-0000-4000-8000-000000000001", "web");
        cr_assert_eq(live_allocs("web").n, 0);
        cr_assert_eq(fp.n_created, 1);
        cr_assert_eq(fp.created->status, EVAL_BLOCKED);
        cr_assert_str_eq(fp.created->triggered_by, "queued-allocs");
        cr_assert_str_eq(fp.created->previous_eval, "22222222-0000-4000-8000-000000000001");
        cr_assert_eq(fp.updated->status, EVAL_COMPLETE);
        cr_assert_str_eq(fp.updated->blocked_eval, fp.created->id);
        json_t *m = json_object_get(fp.updated->failed_tg_allocs, "g");
        cr_assert_not_null(m);
        cr_assert_eq(json_integer_value(json_object_get(m, "NodesEvaluated")), 2);
        cr_assert_eq(json_integer_value(json_object_get(m, "NodesFiltered")), 2);
        cr_assert_eq(json_integer_value(json_object_get(m, "CoalescedFailures")), 2);
        cr_assert_eq(json_integer_value(json_object_get(json_object_get(m, "ConstraintFiltered"), "missing drivers")),
                     2);
        cr_assert_eq(json_integer_value(json_object_get(fp.updated->queued_allocations, "g")), 3);
}

Test(scheduler, exhausted_dimension_recorded) {
        add_node(fx_node("n1", "dc1", 1000, 8000));
        add_job(fx_job("big", JOB_BATCH, 1, 2000, 100));
        run_eval("33333333-0000-4000-8000-000000000001", "big");
        json_t *m = json_object_get(fp.updated->failed_tg_allocs, "g");
        cr_assert_eq(json_integer_value(json_object_get(m, "NodesExhausted")), 1);
        cr_assert_eq(json_integer_value(json_object_get(json_object_get(m, "DimensionExhausted"), "cpu")), 1);
}

/* resources { cores = 2 }: whole cores free on the node (its TotalCpuCores less the
 * cores its allocs hold), charged to the alloc as their MHz (cpu shares / cores), as
 * Nomad; a node reporting no cores has none to give. */
Test(scheduler, reserved_cores_are_counted_per_node_and_charged_as_mhz) {
        struct node *c4 = fx_node("c4", "dc1", 8000, 8000);
        c4->total_cores = 4; /* 2000 MHz a core */
        add_node(c4);
        add_node(fx_node("c0", "dc1", 8000, 8000)); /* TotalCpuCores 0 */
        struct job *j = fx_job("pin", JOB_SERVICE, 3, 0, 100);
        j->groups[0].tasks[0].resources.cores = 2;
        add_job(j);
        run_eval("3c3c3c3c-0000-4000-8000-000000000001", "pin");
        struct collect c = live_allocs("pin");
        cr_assert_eq(c.n, 2, "4 cores hold two allocs of 2");
        for (int i = 0; i < c.n; i++) {
                cr_assert_str_eq(c.v[i]->node_id, "c4");
                cr_assert_eq(c.v[i]->resources.cpu, 4000, "2 cores of 2000 MHz");
        }
        json_t *m = json_object_get(fp.updated->failed_tg_allocs, "g");
        cr_assert_eq(json_integer_value(json_object_get(m, "NodesExhausted")), 2);
        cr_assert_eq(json_integer_value(json_object_get(json_object_get(m, "DimensionExhausted"), "cores")), 2);
        /* c4's cpu is all taken by the cores' MHz: a plain ask goes to c0 */
        add_job(fx_job("plain", JOB_SERVICE, 1, 100, 100));
        run_eval("3c3c3c3c-0000-4000-8000-000000000002", "plain");
        c = live_allocs("plain");
        cr_assert_eq(c.n, 1);
        cr_assert_str_eq(c.v[0]->node_id, "c0");
}

Test(scheduler, constraint_filter_reason_names_the_constraint) {
        add_node(fx_node("n1", "dc1", 4000, 8000));
        struct job *j = fx_job("web", JOB_SERVICE, 1, 100, 100);
        fx_add_constraint(&j->constraints, &j->n_constraints, "${attr.kernel.name}", "=", "windows");
        add_job(j);
        run_eval("33333333-0000-4000-8000-000000000002", "web");
        json_t *m = json_object_get(fp.updated->failed_tg_allocs, "g");
        cr_assert_eq(json_integer_value(
                         json_object_get(json_object_get(m, "ConstraintFiltered"), "${attr.kernel.name} = windows")),
                     1);
}

Test(scheduler, count_up_places_only_missing_and_count_down_stops_highest) {
        for (int i = 0; i < 3; i++) {
                char id[24];
                snprintf(id, sizeof(id), "n%d", i);
                add_node(fx_node(id, "dc1", 8000, 16000));
        }
        add_job(fx_job("web", JOB_SERVICE, 2, 100, 100));
        run_eval("44444444-0000-4000-8000-000000000001", "web");
        struct collect c = live_allocs("web");
        cr_assert_eq(c.n, 2);
        const struct alloc *first0 = c.v[0];
        char keep[2][ID_BUF];
        snprintf(keep[0], ID_BUF, "%s", c.v[0]->id);
        snprintf(keep[1], ID_BUF, "%s", c.v[1]->id);
        (void)first0;

        add_job(fx_job("web", JOB_SERVICE, 5, 100, 100));
        run_eval("44444444-0000-4000-8000-000000000002", "web");
        c = live_allocs("web");
        cr_assert_eq(c.n, 5);
        for (int i = 0; i < 5; i++)
                cr_assert(has_index(&c, i), "index %d", i);
        cr_assert_not_null(state_alloc_get(live, keep[0]));
        cr_assert(!alloc_terminal(state_alloc_get(live, keep[0])));
        cr_assert(!alloc_terminal(state_alloc_get(live, keep[1])));

        add_job(fx_job("web", JOB_SERVICE, 2, 100, 100));
        run_eval("44444444-0000-4000-8000-000000000003", "web");
        c = live_allocs("web");
        cr_assert_eq(c.n, 2);
        cr_assert(has_index(&c, 0));
        cr_assert(has_index(&c, 1));
        struct collect all = {0};
        state_allocs_by_job_foreach(live, "default", "web", collect_cb, &all);
        int stopped = 0;
        for (int i = 0; i < all.n; i++)
                if (all.v[i]->desired_status == ALLOC_DESIRED_STOP) {
                        stopped++;
                        cr_assert_geq(alloc_name_index(all.v[i]), 2);
                        cr_assert_str_eq(all.v[i]->desired_description, "alloc not needed due to job update");
                }
        cr_assert_eq(stopped, 3);
}

Test(scheduler, job_stop_stops_everything) {
        add_node(fx_node("n1", "dc1", 8000, 16000));
        add_job(fx_job("web", JOB_SERVICE, 3, 100, 100));
        run_eval("55555555-0000-4000-8000-000000000001", "web");
        cr_assert_eq(live_allocs("web").n, 3);
        cr_assert_eq(state_deregister_job(live, ++fp.index, "default", "web", false), 0);
        run_eval("55555555-0000-4000-8000-000000000002", "web");
        cr_assert_eq(live_allocs("web").n, 0);
        cr_assert_eq(state_job_get(live, "default", "web")->status, JOB_STATUS_DEAD);
        /* purged job: nothing left to stop, eval completes */
        cr_assert_eq(state_deregister_job(live, ++fp.index, "default", "web", true), 0);
        run_eval("55555555-0000-4000-8000-000000000003", "web");
        cr_assert_eq(fp.updated->status, EVAL_COMPLETE);
}

Test(scheduler, down_node_allocs_replaced_for_service) {
        add_node(fx_node("n1", "dc1", 8000, 16000));
        add_job(fx_job("web", JOB_SERVICE, 2, 100, 100));
        run_eval("66666666-0000-4000-8000-000000000001", "web");
        struct collect c = live_allocs("web");
        cr_assert_eq(c.n, 2);
        char old_id[ID_BUF];
        snprintf(old_id, ID_BUF, "%s", c.v[0]->id);
        add_node(fx_node("n2", "dc1", 8000, 16000));
        state_update_node_status(live, ++fp.index, "n1", NODE_DOWN, 1);
        run_eval("66666666-0000-4000-8000-000000000002", "web");
        c = live_allocs("web");
        cr_assert_eq(c.n, 2);
        for (int i = 0; i < c.n; i++)
                cr_assert_str_eq(c.v[i]->node_id, "n2");
        cr_assert(has_index(&c, 0) && has_index(&c, 1));
        const struct alloc *old = state_alloc_get(live, old_id);
        cr_assert_eq(old->client_status, ALLOC_CLIENT_LOST);
        cr_assert_eq(old->desired_status, ALLOC_DESIRED_STOP);
        bool linked = false;
        for (int i = 0; i < c.n; i++)
                linked |= c.v[i]->previous_allocation && strcmp(c.v[i]->previous_allocation, old_id) == 0;
        cr_assert(linked);
}

Test(scheduler, completed_batch_allocs_not_replaced) {
        add_node(fx_node("n1", "dc1", 8000, 16000));
        add_job(fx_job("b", JOB_BATCH, 2, 100, 100));
        run_eval("77777777-0000-4000-8000-000000000001", "b");
        struct collect c = live_allocs("b");
        cr_assert_eq(c.n, 2);
        state_update_alloc_client(live, ++fp.index, c.v[0]->id, ALLOC_CLIENT_COMPLETE, NULL, NULL, 0, 0);
        int plans = fp.plans;
        run_eval("77777777-0000-4000-8000-000000000002", "b");
        cr_assert_eq(live_allocs("b").n, 1);
        cr_assert_eq(fp.plans, plans); /* nothing to do: no plan submitted */
}

Test(scheduler, same_eval_and_index_place_the_same_way) {
        for (int i = 0; i < 20; i++) {
                char id[24];
                snprintf(id, sizeof(id), "node-%02d", i);
                add_node(fx_node(id, "dc1", 4000, 8000));
        }
        add_job(fx_job("web", JOB_SERVICE, 6, 500, 500));
        struct eval *e = fx_eval("88888888-0000-4000-8000-000000000001", state_job_get(live, "default", "web"), "x");
        state_upsert_evals(live, ++fp.index, &e, 1);
        char first[6][32] = {{0}};
        for (int round = 0; round < 2; round++) {
                /* same live state each round: a fresh copy through save/restore */
                struct state_store *snap = state_snapshot(live);
                struct state_store *scratch = NULL;
                json_t *saved = NULL;
                state_save(live, &saved);
                state_restore(saved, &scratch, NULL);
                json_decref(saved);
                struct fake_planner p2 = {.live = scratch, .index = 1000};
                struct scheduler_env env = {.clock = &fixed_clock};
                cr_assert_eq(scheduler_process_env(snap, e, &fp_ops, &p2, &env, NULL), 0);
                struct collect c = {.live_only = true};
                state_allocs_by_job_foreach(scratch, "default", "web", collect_cb, &c);
                cr_assert_eq(c.n, 6);
                for (int i = 0; i < c.n; i++) {
                        int idx = alloc_name_index(c.v[i]);
                        if (round == 0)
                                snprintf(first[idx], 32, "%s", c.v[i]->node_id);
                        else
                                cr_assert_str_eq(first[idx], c.v[i]->node_id, "index %d", idx);
                }
                eval_unref(p2.updated);
                eval_unref(p2.created);
                state_destroy(scratch);
                state_destroy(snap);
        }
        eval_unref(e);
}

Test(scheduler, distinct_hosts_spreads_one_per_node) {
        for (int i = 0; i < 3; i++) {
                char id[24];
                snprintf(id, sizeof(id), "n%d", i);
                add_node(fx_node(id, "dc1", 8000, 16000));
        }
        struct job *j = fx_job("web", JOB_SERVICE, 4, 100, 100);
        fx_add_constraint(&j->constraints, &j->n_constraints, NULL, "distinct_hosts", "true");
        add_job(j);
        run_eval("99999999-0000-4000-8000-000000000001", "web");
        struct collect c = live_allocs("web");
        cr_assert_eq(c.n, 3);
        for (int i = 0; i < c.n; i++)
                for (int k = i + 1; k < c.n; k++)
                        cr_assert_str_neq(c.v[i]->node_id, c.v[k]->node_id);
        cr_assert_eq(json_integer_value(json_object_get(fp.updated->queued_allocations, "g")), 1);
}

static struct node *rack_node(const char *id, const char *rack) {
        struct node *n = fx_node(id, "dc1", 8000, 16000);
        strmap_set(&n->meta, "rack", rack);
        node_compute_class(n);
        return n;
}

Test(scheduler, distinct_property_limits_allocs_per_value) {
        add_node(rack_node("n1", "r1"));
        add_node(rack_node("n2", "r1"));
        add_node(rack_node("n3", "r2"));
        add_node(rack_node("n4", "r2"));
        add_node(fx_node("n5", "dc1", 8000, 16000)); /* no rack: never feasible */
        struct job *j = fx_job("web", JOB_SERVICE, 3, 100, 100);
        fx_add_constraint(&j->constraints, &j->n_constraints, "${meta.rack}", "distinct_property", NULL);
        add_job(j);
        run_eval("99999999-0000-4000-8000-000000000011", "web");
        struct collect c = live_allocs("web");
        cr_assert_eq(c.n, 2, "one per rack");
        const struct node *a = state_node_get(live, c.v[0]->node_id), *b = state_node_get(live, c.v[1]->node_id);
        cr_assert_str_neq(strmap_get(&a->meta, "rack"), strmap_get(&b->meta, "rack"));
        cr_assert_eq(json_integer_value(json_object_get(fp.updated->queued_allocations, "g")), 1);
        json_t *cf = json_object_get(
            json_object_get(fp.created->failed_tg_allocs ? fp.created->failed_tg_allocs : fp.updated->failed_tg_allocs,
                            "g"),
            "ConstraintFiltered");
        cr_assert(json_object_size(cf) > 0);

        /* Raising the limit to 2 lets the existing allocs stay and the third go in. */
        struct job *k = job_copy(state_job_get(live, "default", "web"));
        free(k->constraints[0].rtarget);
        k->constraints[0].rtarget = strdup("2");
        add_job(k);
        run_eval("99999999-0000-4000-8000-000000000012", "web");
        c = live_allocs("web");
        cr_assert_eq(c.n, 3);
        int r1 = 0;
        for (int i = 0; i < c.n; i++)
                r1 += strcmp(strmap_get(&state_node_get(live, c.v[i]->node_id)->meta, "rack"), "r1") == 0;
        cr_assert(r1 >= 1 && r1 <= 2);
}

Test(scheduler, distinct_property_on_group_counts_only_the_group) {
        add_node(rack_node("n1", "r1"));
        add_node(rack_node("n2", "r2"));
        struct job *j = fx_job("web", JOB_SERVICE, 2, 100, 100);
        fx_add_constraint(&j->groups[0].constraints, &j->groups[0].n_constraints, "${meta.rack}", "distinct_property",
                          "1");
        add_job(j);
        run_eval("99999999-0000-4000-8000-000000000013", "web");
        cr_assert_eq(live_allocs("web").n, 2);
}

Test(scheduler, datacenter_glob) {
        add_node(fx_node("n1", "us-east", 8000, 16000));
        add_node(fx_node("n2", "eu-west", 8000, 16000));
        struct job *j = fx_job("web", JOB_SERVICE, 2, 100, 100);
        free(j->datacenters[0]);
        j->datacenters[0] = strdup("us-*");
        add_job(j);
        run_eval("aaaaaaaa-0000-4000-8000-000000000001", "web");
        struct collect c = live_allocs("web");
        cr_assert_eq(c.n, 2);
        cr_assert_str_eq(c.v[0]->node_id, "n1");
        cr_assert_str_eq(c.v[1]->node_id, "n1");
}

/* ---- system and sysbatch ---------------------------------------------------------------- */

static int count_on(const struct collect *c, const char *node) {
        int k = 0;
        for (int i = 0; i < c->n; i++)
                k += strcmp(c->v[i]->node_id, node) == 0;
        return k;
}

/* Run the evals scheduler_node_evals makes for a node, as the server would. */
static int run_node_evals(const char *node_id) {
        struct eval **evals = NULL;
        size_t n = 0;
        struct scheduler_env env = {.clock = &fixed_clock, .gen_id = seq_id, .id_data = &id_counter};
        cr_assert_eq(scheduler_node_evals(live, node_id, &env, &evals, &n), 0);
        for (size_t i = 0; i < n; i++) {
                cr_assert_str_eq(evals[i]->triggered_by, "node-update");
                cr_assert_str_eq(evals[i]->node_id, node_id);
                state_upsert_evals(live, ++fp.index, &evals[i], 1);
                struct state_store *snap = state_snapshot(live);
                struct error err = {0};
                cr_assert_eq(scheduler_process_env(snap, evals[i], &fp_ops, &fp, &env, &err), 0, "%s", err.msg);
                state_destroy(snap);
                eval_unref(evals[i]);
        }
        free(evals);
        return (int)n;
}

Test(scheduler, system_job_one_alloc_per_node_and_new_nodes_get_one) {
        add_node(fx_node("n1", "dc1", 8000, 16000));
        add_node(fx_node("n2", "dc1", 8000, 16000));
        struct node *win = fx_node("n3", "dc1", 8000, 16000);
        strmap_set(&win->attributes, "kernel.name", "windows");
        node_compute_class(win);
        add_node(win);
        struct job *j = fx_job("sys", JOB_SYSTEM, 1, 100, 100);
        fx_add_constraint(&j->constraints, &j->n_constraints, "${attr.kernel.name}", "=", "linux");
        add_job(j);
        add_job(fx_job("web", JOB_SERVICE, 1, 100, 100)); /* not a system job: no node eval */
        run_eval("bbbbbbbb-0000-4000-8000-000000000001", "sys");
        struct collect c = live_allocs("sys");
        cr_assert_eq(c.n, 2);
        cr_assert_eq(count_on(&c, "n1"), 1);
        cr_assert_eq(count_on(&c, "n2"), 1);
        cr_assert_eq(count_on(&c, "n3"), 0, "filtered by the constraint");
        cr_assert_eq(fp.updated->status, EVAL_COMPLETE);
        cr_assert_null(fp.updated->failed_tg_allocs, "a filtered node is not a failure");
        cr_assert_str_eq(c.v[0]->name, "sys.g[0]");

        /* Evaluating again changes nothing. */
        int plans = fp.plans;
        run_eval("bbbbbbbb-0000-4000-8000-000000000002", "sys");
        cr_assert_eq(fp.plans, plans, "no-op plan not submitted");
        cr_assert_eq(live_allocs("sys").n, 2);

        /* A node joins: its registration's evals place the system job there. */
        add_node(fx_node("n4", "dc1", 8000, 16000));
        cr_assert_eq(run_node_evals("n4"), 1, "one eval: the system job only");
        c = live_allocs("sys");
        cr_assert_eq(c.n, 3);
        cr_assert_eq(count_on(&c, "n4"), 1);
}

Test(scheduler, system_job_stops_on_lost_and_ineligible_nodes_and_counts_full_ones) {
        add_node(fx_node("n1", "dc1", 8000, 16000));
        add_node(fx_node("n2", "dc1", 8000, 16000));
        add_node(fx_node("n3", "dc1", 8000, 16000));
        add_job(fx_job("sys", JOB_SYSTEM, 1, 1000, 1000));
        run_eval("cccccccc-0000-4000-8000-000000000001", "sys");
        cr_assert_eq(live_allocs("sys").n, 3);

        cr_assert_eq(state_update_node_status(live, ++fp.index, "n1", NODE_DOWN, 0), 0);
        cr_assert_eq(state_update_node_eligibility(live, ++fp.index, "n2", false), 0);
        /* a new node n4 is too small for the ask */
        struct node *small = fx_node("n4", "dc1", 500, 16000);
        add_node(small);
        run_eval("cccccccc-0000-4000-8000-000000000002", "sys");
        struct collect c = live_allocs("sys");
        cr_assert_eq(c.n, 1);
        cr_assert_eq(count_on(&c, "n3"), 1);
        struct collect all = {.live_only = false};
        state_allocs_by_job_foreach(live, "default", "sys", collect_cb, &all);
        bool lost = false, tainted = false;
        for (int i = 0; i < all.n; i++) {
                if (strcmp(all.v[i]->node_id, "n1") == 0)
                        lost = all.v[i]->client_status == ALLOC_CLIENT_LOST;
                if (strcmp(all.v[i]->node_id, "n2") == 0)
                        tainted = all.v[i]->desired_status == ALLOC_DESIRED_STOP &&
                                  strstr(all.v[i]->desired_description, "tainted");
        }
        cr_assert(lost, "the alloc on the down node is lost");
        cr_assert(tainted, "the alloc on the ineligible node is stopped");
        json_t *f = json_object_get(fp.updated->failed_tg_allocs, "g");
        cr_assert_not_null(f, "the node without room is a failed placement");
        cr_assert_eq(json_integer_value(json_object_get(json_object_get(f, "DimensionExhausted"), "cpu")), 1);
        cr_assert_eq(json_integer_value(json_object_get(fp.updated->queued_allocations, "g")), 1);
        cr_assert_eq(fp.n_created, 0, "system jobs make no blocked evals");
}

/* A node that misses its heartbeat has its allocations written lost (the FSM's
 * state_mark_node_allocs_lost) before the node-update eval runs: the system job's
 * eval stops them as lost ("stop lost", as Nomad's), not left "run lost". */
Test(scheduler, system_job_stops_allocs_marked_lost_with_their_node) {
        add_node(fx_node("n1", "dc1", 8000, 16000));
        add_node(fx_node("n2", "dc1", 8000, 16000));
        add_job(fx_job("sys", JOB_SYSTEM, 1, 1000, 1000));
        run_eval("cdcdcdcd-0000-4000-8000-000000000001", "sys");
        cr_assert_eq(live_allocs("sys").n, 2);
        cr_assert_eq(state_update_node_status(live, ++fp.index, "n1", NODE_DOWN, 0), 0);
        cr_assert_eq(state_mark_node_allocs_lost(live, ++fp.index, "n1", 0), 0);
        run_eval("cdcdcdcd-0000-4000-8000-000000000002", "sys");
        struct collect all = {.live_only = false};
        state_allocs_by_job_foreach(live, "default", "sys", collect_cb, &all);
        int on_n1 = 0;
        for (int i = 0; i < all.n; i++) {
                if (strcmp(all.v[i]->node_id, "n1") != 0)
                        continue;
                on_n1++;
                cr_expect_eq(all.v[i]->client_status, ALLOC_CLIENT_LOST);
                cr_expect_eq(all.v[i]->desired_status, ALLOC_DESIRED_STOP, "stopped, not left to run");
                cr_expect_str_eq(all.v[i]->desired_description ? all.v[i]->desired_description : "",
                                 "alloc is lost since its node is down");
        }
        cr_expect_eq(on_n1, 1, "no replacement on the down node");
        cr_expect_eq(live_allocs("sys").n, 1);
}

/* A node found out of cpu stays so for the rest of the attempt (placements only add
 * usage): Select skips ranking it again but still counts it exhausted, as Nomad's
 * iterator does. "small" is full from the start, "big" takes 20 of the 25: the failed
 * placement's Select sees both out of cpu, small for the 21st time. */
Test(scheduler, a_full_node_counts_as_exhausted_in_every_later_placement) {
        add_node(fx_node("small", "dc1", 1000, 8000));
        add_node(fx_node("big", "dc1", 8000, 16000));
        struct job *other = fx_job("other", JOB_SERVICE, 1, 900, 100);
        state_upsert_job(live, ++fp.index, other);
        struct alloc *a = fx_alloc("existing", other, "small", 0, 900, 100);
        state_upsert_allocs(live, ++fp.index, &a, 1);
        alloc_unref(a);
        job_unref(other);
        add_job(fx_job("fill", JOB_SERVICE, 25, 400, 100));
        run_eval("34343434-0000-4000-8000-000000000001", "fill");
        struct collect c = live_allocs("fill");
        cr_assert_eq(c.n, 20);
        cr_assert_eq(count_on(&c, "big"), 20);
        json_t *f = json_object_get(fp.updated->failed_tg_allocs, "g");
        cr_assert_not_null(f);
        cr_assert_eq(json_integer_value(json_object_get(f, "NodesEvaluated")), 2);
        cr_assert_eq(json_integer_value(json_object_get(f, "NodesExhausted")), 2);
        cr_assert_eq(json_integer_value(json_object_get(json_object_get(f, "DimensionExhausted"), "cpu")), 2);
}

static uint64_t full_skips(void) {
        struct sched_cand_cache_stats cs;
        sched_cand_cache_stats(test_cands, &cs);
        return cs.full_skips;
}

static json_int_t failed_metric(const char *group, const char *key, const char *dim) {
        json_t *f = json_object_get(fp.updated->failed_tg_allocs, group);
        cr_assert_not_null(f, "group %s did not fail", group);
        json_t *v = json_object_get(f, key);
        return json_integer_value(dim ? json_object_get(v, dim) : v);
}

/* The worker's candidate cache keeps what a node had free across evals: "small"
 * (1,000 MHz, 900 held by "existing") found out of cpu for a 400 MHz ask in one eval
 * is skipped without a usage look-up in the next eval of another job (still counted
 * exhausted, on cpu), a 50 MHz ask still fits it, and once "existing" stops (a write
 * that frees usage on the node) the 400 MHz ask is placed there again. */
Test(scheduler, a_full_node_stays_skipped_across_evals_until_usage_is_freed) {
        test_cands = sched_cand_cache_create(4, 1 << 20);
        struct node *n = fx_node("small", "dc1", 1000, 8000);
        free(n->node_class);
        n->node_class = strdup("tiny-boxes");
        add_node(n);
        struct job *other = fx_job("other", JOB_SERVICE, 1, 900, 100);
        state_upsert_job(live, ++fp.index, other);
        struct alloc *a = fx_alloc("existing", other, "small", 0, 900, 100);
        state_upsert_allocs(live, ++fp.index, &a, 1);
        alloc_unref(a);
        job_unref(other);
        add_job(fx_job("first", JOB_SERVICE, 1, 400, 100));
        run_eval("35353535-0000-4000-8000-000000000001", "first");
        cr_assert_eq(live_allocs("first").n, 0);
        cr_assert_eq(failed_metric("g", "ClassExhausted", "tiny-boxes"), 1);
        cr_assert_eq(full_skips(), 0, "the first look at a node looks its usage up");
        add_job(fx_job("second", JOB_SERVICE, 1, 400, 100));
        run_eval("35353535-0000-4000-8000-000000000002", "second");
        cr_assert_eq(live_allocs("second").n, 0);
        cr_assert_eq(full_skips(), 1, "seen full in the last eval, nothing freed since");
        cr_assert_eq(failed_metric("g", "NodesEvaluated", NULL), 1);
        cr_assert_eq(failed_metric("g", "NodesExhausted", NULL), 1);
        cr_assert_eq(failed_metric("g", "DimensionExhausted", "cpu"), 1);
        cr_assert_eq(failed_metric("g", "ClassExhausted", "tiny-boxes"), 1, "the node's class, not read from the node");
        add_job(fx_job("tiny", JOB_SERVICE, 1, 50, 100));
        run_eval("35353535-0000-4000-8000-000000000003", "tiny");
        cr_assert_eq(live_allocs("tiny").n, 1, "an ask within what was free is ranked, not skipped");
        cr_assert_eq(full_skips(), 1);
        cr_assert_eq(state_update_alloc_client(live, ++fp.index, "existing", ALLOC_CLIENT_COMPLETE, "done", NULL, 0, 0),
                     0);
        run_eval("35353535-0000-4000-8000-000000000004", "second");
        struct collect c = live_allocs("second");
        cr_assert_eq(c.n, 1, "usage freed on the node: it is looked at again");
        cr_assert_str_eq(c.v[0]->node_id, "small");
        cr_assert_eq(full_skips(), 1);
        test_cands = sched_cand_cache_destroy(test_cands);
}

Test(scheduler, sysbatch_runs_once_per_node_and_new_nodes_get_a_run) {
        add_node(fx_node("n1", "dc1", 8000, 16000));
        add_node(fx_node("n2", "dc1", 8000, 16000));
        add_job(fx_job("sb", JOB_SYSBATCH, 1, 100, 100));
        run_eval("dddddddd-0000-4000-8000-000000000001", "sb");
        struct collect c = live_allocs("sb");
        cr_assert_eq(c.n, 2);
        /* both complete */
        for (int i = 0; i < c.n; i++)
                cr_assert_eq(
                    state_update_alloc_client(live, ++fp.index, c.v[i]->id, ALLOC_CLIENT_COMPLETE, "done", NULL, 0, 0),
                    0);
        run_eval("dddddddd-0000-4000-8000-000000000002", "sb");
        cr_assert_eq(live_allocs("sb").n, 0, "completed runs are not placed again");
        add_node(fx_node("n3", "dc1", 8000, 16000));
        cr_assert_eq(run_node_evals("n3"), 1);
        c = live_allocs("sb");
        cr_assert_eq(c.n, 1);
        cr_assert_str_eq(c.v[0]->node_id, "n3");
}

Test(scheduler, system_job_stop_and_failed_alloc_replaced_on_its_node) {
        add_node(fx_node("n1", "dc1", 8000, 16000));
        add_job(fx_job("sys", JOB_SYSTEM, 1, 100, 100));
        run_eval("eeeeeeee-0000-4000-8000-000000000001", "sys");
        struct collect c = live_allocs("sys");
        cr_assert_eq(c.n, 1);
        char first[ID_BUF];
        snprintf(first, sizeof(first), "%s", c.v[0]->id);
        cr_assert_eq(state_update_alloc_client(live, ++fp.index, first, ALLOC_CLIENT_FAILED, "boom", NULL, 0, 0), 0);
        run_eval("eeeeeeee-0000-4000-8000-000000000002", "sys");
        c = live_allocs("sys");
        cr_assert_eq(c.n, 1);
        cr_assert_str_eq(c.v[0]->previous_allocation, first);
        struct job *j = job_copy(state_job_get(live, "default", "sys"));
        j->stop = true;
        add_job(j);
        run_eval("eeeeeeee-0000-4000-8000-000000000003", "sys");
        cr_assert_eq(live_allocs("sys").n, 0);
        struct eval **evals = NULL;
        size_t n = 9;
        cr_assert_eq(scheduler_node_evals(live, "n1", NULL, &evals, &n), 0);
        cr_assert_eq(n, 0, "a stopped system job gets no node evals");
        free(evals);
}

Test(scheduler, partial_commit_is_retried_on_refreshed_state) {
        add_node(fx_node("n1", "dc1", 1000, 8000));
        add_node(fx_node("n2", "dc1", 1000, 8000));
        add_job(fx_job("web", JOB_SERVICE, 2, 600, 100));
        const struct job *j = state_job_get(live, "default", "web");
        struct eval *e = fx_eval("bbbbbbbb-0000-4000-8000-000000000001", j, "job-register");
        state_upsert_evals(live, ++fp.index, &e, 1);
        struct state_store *snap = state_snapshot(live);
        /* after the snapshot, another job fills n1 */
        struct job *other = fx_job("other", JOB_SERVICE, 1, 900, 100);
        state_upsert_job(live, ++fp.index, other);
        struct alloc *a = fx_alloc("filler", other, "n1", 0, 900, 100);
        state_upsert_allocs(live, ++fp.index, &a, 1);
        alloc_unref(a);
        job_unref(other);
        struct error err = {0};
        cr_assert_eq(scheduler_process(snap, e, &fp_ops, &fp, &err), 0, "%s", err.msg);
        state_destroy(snap);
        eval_unref(e);
        struct collect c = live_allocs("web");
        cr_assert_eq(c.n, 1);
        cr_assert_str_eq(c.v[0]->node_id, "n2");
        cr_assert_eq(fp.plans, 1);     /* the retry found nothing that fits: no second plan */
        cr_assert_eq(fp.n_created, 1); /* the second one did not fit anywhere */
        cr_assert_eq(json_integer_value(json_object_get(fp.updated->queued_allocations, "g")), 1);
}

/* ---- spread, ports, reschedule penalty ---------------------------------------------------------- */

static void two_dcs(int per_dc) {
        for (int d = 1; d <= 2; d++)
                for (int i = 0; i < per_dc; i++) {
                        char id[48], dc[24];
                        snprintf(id, sizeof(id), "dc%d-n%d", d, i);
                        snprintf(dc, sizeof(dc), "dc%d", d);
                        add_node(fx_node(id, dc, 8000, 16000));
                }
}

static int in_dc(const struct collect *c, const char *dc) {
        int k = 0;
        for (int i = 0; i < c->n; i++)
                k += strcmp(state_node_get(live, c->v[i]->node_id)->datacenter, dc) == 0;
        return k;
}

static void add_spread(struct job *j, const char *attr, int weight, const char *t1, int p1) {
        j->spreads = calloc(1, sizeof(*j->spreads));
        j->n_spreads = 1;
        j->spreads[0].attribute = strdup(attr);
        j->spreads[0].weight = weight;
        if (t1) {
                j->spreads[0].targets = calloc(1, sizeof(struct spread_target));
                j->spreads[0].targets[0] = (struct spread_target){strdup(t1), p1};
                j->spreads[0].n_targets = 1;
        }
}

Test(scheduler, spread_with_targets_follows_the_percentages) {
        two_dcs(4);
        struct job *j = fx_job("web", JOB_SERVICE, 8, 100, 100);
        add_spread(j, "${node.datacenter}", 100, "dc1", 75); /* dc2 gets the remaining 25% */
        add_job(j);
        run_eval("ffffffff-0000-4000-8000-000000000001", "web");
        struct collect c = live_allocs("web");
        cr_assert_eq(c.n, 8);
        cr_assert_eq(in_dc(&c, "dc1"), 6, "dc1 has %d", in_dc(&c, "dc1"));
        cr_assert_eq(in_dc(&c, "dc2"), 2);
}

Test(scheduler, even_spread_without_targets) {
        two_dcs(3);
        struct job *j = fx_job("web", JOB_SERVICE, 6, 100, 100);
        add_spread(j, "${node.datacenter}", 50, NULL, 0);
        add_job(j);
        run_eval("ffffffff-0000-4000-8000-000000000002", "web");
        struct collect c = live_allocs("web");
        cr_assert_eq(c.n, 6);
        cr_assert_eq(in_dc(&c, "dc1"), 3, "dc1 has %d", in_dc(&c, "dc1"));
        json_t *meta = json_array_get(json_object_get(c.v[0]->metrics, "ScoreMetaData"), 0);
        cr_assert_not_null(json_object_get(json_object_get(meta, "Scores"), "allocation-spread"));
}

Test(scheduler, static_ports_never_collide_on_a_node) {
        add_node(fx_node("n1", "dc1", 8000, 16000));
        add_node(fx_node("n2", "dc1", 8000, 16000));
        struct job *j = fx_job("web", JOB_SERVICE, 3, 100, 100);
        fx_add_static_port(j, 8080);
        add_job(j);
        run_eval("ffffffff-0000-4000-8000-000000000003", "web");
        struct collect c = live_allocs("web");
        cr_assert_eq(c.n, 2, "one per node: the port is taken");
        cr_assert_str_neq(c.v[0]->node_id, c.v[1]->node_id);
        json_t *f = json_object_get(fp.updated->failed_tg_allocs, "g");
        cr_assert_eq(json_integer_value(
                         json_object_get(json_object_get(f, "DimensionExhausted"), "network: reserved port collision")),
                     2);
        /* another job on another port still fits */
        struct job *k = fx_job("api", JOB_SERVICE, 2, 100, 100);
        fx_add_static_port(k, 9090);
        add_job(k);
        run_eval("ffffffff-0000-4000-8000-000000000004", "api");
        cr_assert_eq(live_allocs("api").n, 2);
}

Test(scheduler, failed_alloc_rescheduled_away_from_its_node) {
        add_node(fx_node("n1", "dc1", 8000, 16000));
        struct job *j = fx_job("web", JOB_SERVICE, 1, 100, 100);
        j->groups[0].extra = json_pack("{s:{s:i}}", "ReschedulePolicy", "Delay", 0); /* replaced at once */
        add_job(j);
        run_eval("ffffffff-0000-4000-8000-000000000005", "web");
        /* n1 is busier than the new n2, so bin packing alone would pick n1 again */
        struct job *other = fx_job("other", JOB_SERVICE, 1, 4000, 8000);
        struct alloc *busy = fx_alloc("busy-1", other, "n1", 0, 4000, 8000);
        cr_assert_eq(state_upsert_allocs(live, ++fp.index, &busy, 1), 0);
        alloc_unref(busy);
        job_unref(other);
        add_node(fx_node("n2", "dc1", 8000, 16000));
        struct collect c = live_allocs("web");
        cr_assert_eq(c.n, 1);
        char node[64], id[ID_BUF];
        snprintf(node, sizeof(node), "%s", c.v[0]->node_id);
        snprintf(id, sizeof(id), "%s", c.v[0]->id);
        cr_assert_eq(state_update_alloc_client(live, ++fp.index, id, ALLOC_CLIENT_FAILED, "boom", NULL, 0, 0), 0);
        run_eval("ffffffff-0000-4000-8000-000000000006", "web");
        c = live_allocs("web");
        cr_assert_eq(c.n, 1);
        cr_assert_str_eq(c.v[0]->previous_allocation, id);
        cr_assert_str_neq(c.v[0]->node_id, node, "the failed alloc's node is penalised");
}

Test(scheduler, system_job_preempts_lower_priority_allocs_only) {
        add_node(fx_node("n1", "dc1", 8000, 16000));
        struct job *low = fx_job("low", JOB_SERVICE, 3, 2500, 100);
        low->priority = 20;
        add_job(low);
        run_eval("abababab-0000-4000-8000-000000000001", "low");
        struct job *mid = fx_job("mid", JOB_SERVICE, 1, 400, 100);
        mid->priority = 45; /* within 10 of the system job's 50: never preempted */
        add_job(mid);
        run_eval("abababab-0000-4000-8000-000000000002", "mid");
        cr_assert_eq(live_allocs("low").n, 3);
        cr_assert_eq(live_allocs("mid").n, 1);
        add_job(fx_job("sys", JOB_SYSTEM, 1, 3000, 100)); /* 7900 used + 3000 > 8000 */
        run_eval("abababab-0000-4000-8000-000000000003", "sys");
        struct collect c = live_allocs("sys");
        cr_assert_eq(c.n, 1, "placed by preemption");
        cr_assert_eq(live_allocs("mid").n, 1);
        cr_assert_eq(live_allocs("low").n, 1, "two of the low-priority allocs were needed");
        struct collect all = {.live_only = false};
        state_allocs_by_job_foreach(live, "default", "low", collect_cb, &all);
        char want[96];
        snprintf(want, sizeof(want), "Preempted by alloc ID %s", c.v[0]->id);
        int evicted = 0;
        for (int i = 0; i < all.n; i++)
                if (all.v[i]->desired_status == ALLOC_DESIRED_EVICT) {
                        evicted++;
                        cr_assert_str_eq(all.v[i]->desired_description, want);
                }
        cr_assert_eq(evicted, 2);
        cr_assert_null(fp.updated->failed_tg_allocs);

        /* a sysbatch job does not preempt */
        add_node(fx_node("n2", "dc1", 1000, 16000));
        struct job *sb = fx_job("sb", JOB_SYSBATCH, 1, 3000, 100);
        sb->priority = 90;
        add_job(sb);
        run_eval("abababab-0000-4000-8000-000000000004", "sb");
        cr_assert_eq(live_allocs("sb").n, 0);
        cr_assert_eq(live_allocs("mid").n, 1);
}

static void put_alloc(const char *id, struct job *j, const char *node, int index, int64_t cpu) {
        struct alloc *a = fx_alloc(id, j, node, index, cpu, 100);
        cr_assert_eq(state_upsert_allocs(live, ++fp.index, &a, 1), 0);
        alloc_unref(a);
}

static int count_evicted(const char *job, const char *want_desc) {
        struct collect all = {.live_only = false};
        state_allocs_by_job_foreach(live, "default", job, collect_cb, &all);
        int evicted = 0;
        for (int i = 0; i < all.n; i++)
                if (all.v[i]->desired_status == ALLOC_DESIRED_EVICT) {
                        evicted++;
                        if (want_desc)
                                cr_assert_str_eq(all.v[i]->desired_description, want_desc);
                }
        return evicted;
}

/* Service preemption, enabled in the scheduler configuration: of the full nodes, the
 * one whose victims have the lowest priority, and there the fewest victims; allocs
 * within 10 priority levels are never evicted; with the defaults a service job does
 * not preempt. */
Test(scheduler, service_preemption_is_configurable_and_takes_lowest_priority_fewest_victims) {
        add_node(fx_node("n1", "dc1", 8000, 16000));
        add_node(fx_node("n2", "dc1", 8000, 16000));
        add_node(fx_node("n3", "dc1", 8000, 16000));
        struct job *p30 = fx_job("p30", JOB_SERVICE, 1, 8000, 100);
        p30->priority = 30;
        struct job *p10 = fx_job("p10", JOB_SERVICE, 4, 2000, 100);
        p10->priority = 10;
        struct job *p75 = fx_job("p75", JOB_SERVICE, 2, 4000, 100);
        p75->priority = 75;
        put_alloc("a-p30-0", p30, "n1", 0, 8000);
        for (int i = 0; i < 4; i++) {
                char id[32];
                snprintf(id, sizeof(id), "a-p10-%d", i);
                put_alloc(id, p10, "n2", i, 2000);
        }
        put_alloc("a-p75-0", p75, "n3", 0, 4000);
        put_alloc("a-p75-1", p75, "n3", 1, 4000);
        add_job(p30);
        add_job(p10);
        add_job(p75);
        struct job *hi = fx_job("hi", JOB_SERVICE, 1, 3000, 100);
        hi->priority = 80;
        add_job(hi);

        /* defaults: service jobs do not preempt */
        run_eval("cdcdcdcd-0000-4000-8000-000000000001", "hi");
        cr_assert_eq(live_allocs("hi").n, 0);
        cr_assert_eq(count_evicted("p10", NULL) + count_evicted("p30", NULL) + count_evicted("p75", NULL), 0);

        static const struct sched_preemption on = {.system = true, .service = true};
        test_preemption = &on;
        run_eval("cdcdcdcd-0000-4000-8000-000000000002", "hi");
        struct collect c = live_allocs("hi");
        cr_assert_eq(c.n, 1, "placed by preemption");
        cr_assert_str_eq(c.v[0]->node_id, "n2", "the node whose victims have the lowest priority");
        char want[96];
        snprintf(want, sizeof(want), "Preempted by alloc ID %s", c.v[0]->id);
        cr_assert_eq(count_evicted("p10", want), 2, "3000 MHz needs two 2000 MHz victims, not more");
        /* the new alloc lists its victims (Nomad's PreemptedAllocations) */
        const json_t *pre = json_object_get(c.v[0]->extra, "PreemptedAllocations");
        cr_assert_eq(json_array_size(pre), 2);
        for (size_t i = 0; i < 2; i++) {
                const struct alloc *v = state_alloc_get(live, json_string_value(json_array_get(pre, i)));
                cr_assert(v && v->desired_status == ALLOC_DESIRED_EVICT && strcmp(v->job_id, "p10") == 0);
                cr_assert_str_eq(v->desired_description, want);
                /* and each victim records its preemptor (Nomad's PreemptedByAllocation) */
                json_t *vj = alloc_to_json(v);
                cr_assert_str_eq(json_string_value(json_object_get(vj, "PreemptedByAllocation")), c.v[0]->id);
                json_decref(vj);
        }
        json_t *aj = alloc_to_json(c.v[0]);
        cr_assert(json_equal(json_object_get(aj, "PreemptedAllocations"), pre), "the API shows the list");
        json_decref(aj);
        cr_assert_eq(count_evicted("p30", NULL), 0);
        cr_assert_eq(count_evicted("p75", NULL), 0, "within 10 priority levels: never a victim");
        cr_assert_eq(live_allocs("p10").n, 2);

        /* batch stays off in this configuration */
        struct job *b = fx_job("b", JOB_BATCH, 1, 3000, 100);
        b->priority = 90;
        add_job(b);
        run_eval("cdcdcdcd-0000-4000-8000-000000000003", "b");
        cr_assert_eq(live_allocs("b").n, 0);
}

/* Two workers schedule on the same snapshot and race for the last room of a node: the
 * plan applier commits the first, rejects the second's node, and the second retries on
 * the refreshed state; the node is never over-committed. */
Test(scheduler, two_workers_race_for_the_last_capacity) {
        add_node(fx_node("n1", "dc1", 1000, 8000));
        add_job(fx_job("a", JOB_SERVICE, 1, 700, 100));
        add_job(fx_job("b", JOB_SERVICE, 1, 700, 100));
        struct eval *ea =
            fx_eval("cafecafe-0000-4000-8000-000000000001", state_job_get(live, "default", "a"), "job-register");
        struct eval *eb =
            fx_eval("cafecafe-0000-4000-8000-000000000002", state_job_get(live, "default", "b"), "job-register");
        state_upsert_evals(live, ++fp.index, &ea, 1);
        state_upsert_evals(live, ++fp.index, &eb, 1);
        struct state_store *snap = state_snapshot(live); /* both workers see n1 empty */
        struct scheduler_env env = {.clock = &fixed_clock, .gen_id = seq_id, .id_data = &id_counter};
        struct error err = {0};
        cr_assert_eq(scheduler_process_env(snap, ea, &fp_ops, &fp, &env, &err), 0, "%s", err.msg);
        cr_assert_eq(scheduler_process_env(snap, eb, &fp_ops, &fp, &env, &err), 0, "%s", err.msg);
        state_destroy(snap);
        eval_unref(ea);
        eval_unref(eb);
        cr_assert_eq(live_allocs("a").n, 1);
        cr_assert_eq(live_allocs("b").n, 0, "the second plan was rejected, and nothing fits on the refresh");
        size_t n;
        struct alloc *const *on = state_allocs_by_node(live, "n1", &n);
        int64_t cpu = 0;
        for (size_t i = 0; i < n; i++)
                if (!alloc_terminal(on[i]))
                        cpu += on[i]->resources.cpu;
        cr_assert_leq(cpu, 1000, "n1 over-committed: %lld MHz", (long long)cpu);
        cr_assert_eq(fp.updated->status, EVAL_COMPLETE);
        cr_assert_eq(json_integer_value(json_object_get(fp.updated->queued_allocations, "g")), 1);
        cr_assert_eq(fp.n_created, 1, "b's placement waits in a blocked eval");
}
