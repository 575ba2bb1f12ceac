/* test_sched_units.c - the scheduler's parts on their own: candidate selection and
 * feasibility (candidates.c), ranking (rank.c) and the AllocationMetric (metrics.c),
 * driven on a small state store without the planner. */
#include <criterion/criterion.h>
#include <math.h>

#include "common/clock.h"
#include "common/hashmap.h"
#include "common/macros.h"
#include "controlplane/scheduler/candidates.h"
#include "controlplane/scheduler/feasible.h"
#include "controlplane/scheduler/metrics.h"
#include "controlplane/scheduler/rank.h"
#include "controlplane/scheduler/sched_internal.h"
#include "controlplane/state/state.h"
#include "tests/unit/fixtures.h"

static const struct scheduler_ops svc_ops = {.name = "service", .attempts = 5};
static struct state_store *st;
static struct sched_ctx ctx;
static struct sched_attempt at;
static struct eval *ev;
static uint64_t idx;

static void setup(void) {
        st = state_create();
        idx = 10;
}

static void teardown(void) {
        sched_attempt_free(&at);
        json_decref(ctx.class_elig);
        eval_unref(ev);
        state_destroy(st);
        memset(&at, 0, sizeof(at));
        memset(&ctx, 0, sizeof(ctx));
        ev = NULL;
}

static void node(const char *id, const char *dc, int64_t cpu, int64_t mem, const char *cls) {
        struct node *n = fx_node(id, dc, cpu, mem);
        free(n->node_class);
        n->node_class = strdup(cls);
        node_compute_class(n);
        cr_assert_eq(state_upsert_node(st, ++idx, n), 0);
        node_unref(n);
}

/* Start an attempt for job j (the store takes it). */
static void begin(struct job *j) {
        cr_assert_eq(state_upsert_job(st, ++idx, j), 0);
        ev = fx_eval("eval-1", j, "job-register");
        ctx = (struct sched_ctx){.ops = &svc_ops, .snap = st, .eval = ev, .clock = &clock_real};
        ctx.class_elig = json_object();
        at = (struct sched_attempt){.c = &ctx, .job = state_job_get(st, "default", j->id)};
        at.plan = plan_new(ev->id, NULL, (struct job *)at.job);
        job_unref(j);
        cr_assert_eq(sched_build_cands(&at), 0);
}

static struct sched_cand *cand(const char *id) {
        for (size_t i = 0; i < at.n_cands; i++)
                if (strcmp(sched_cand_get(&at, i)->n->id, id) == 0)
                        return sched_cand_get(&at, i);
        return NULL;
}

TestSuite(sched_units, .init = setup, .fini = teardown);

Test(sched_units, candidates_are_ready_eligible_nodes_of_the_pool_and_datacenters) {
        node("n1", "dc1", 4000, 8000, "a");
        node("n2", "dc2", 4000, 8000, "a");
        node("n3", "eu-1", 4000, 8000, "a");
        struct node *down = fx_node("n4", "dc1", 4000, 8000);
        down->status = NODE_DOWN;
        cr_assert_eq(state_upsert_node(st, ++idx, down), 0);
        node_unref(down);
        struct node *other = fx_node("n5", "dc1", 4000, 8000);
        free(other->node_pool);
        other->node_pool = strdup("gpu");
        cr_assert_eq(state_upsert_node(st, ++idx, other), 0);
        node_unref(other);
        struct job *j = fx_job("web", JOB_SERVICE, 1, 100, 100);
        free(j->datacenters[0]);
        j->datacenters[0] = strdup("dc*");
        begin(j);
        cr_assert_eq(at.n_cands, 2);
        cr_assert(cand("n1") && cand("n2") && !cand("n3") && !cand("n4") && !cand("n5"));
        cr_assert_eq(at.pool.nodes_in_pool, 4, "n5 is in another pool");
        cr_assert_eq(json_integer_value(json_object_get(at.pool.nodes_available, "dc1")), 1);
        cr_assert_eq(json_integer_value(json_object_get(at.pool.nodes_available, "dc2")), 1);
}

Test(sched_units, feasibility_memoised_per_class_and_escaped_checked_per_node) {
        node("n1", "dc1", 4000, 8000, "a");
        node("n2", "dc1", 4000, 8000, "b");
        struct job *j = fx_job("web", JOB_SERVICE, 1, 100, 100);
        fx_add_constraint(&j->groups[0].constraints, &j->groups[0].n_constraints, "${node.class}", "=", "a");
        fx_add_constraint(&j->groups[0].constraints, &j->groups[0].n_constraints, "${node.unique.name}", "!=", "n3");
        begin(j);
        struct sched_group g;
        cr_assert_eq(sched_group_init(&at, &g, 0), 0);
        cr_assert(g.escaped);
        char buf[160];
        cr_assert_null(sched_feasible(&at, &g, cand("n1"), buf, sizeof(buf)));
        const char *why = sched_feasible(&at, &g, cand("n2"), buf, sizeof(buf));
        cr_assert_str_eq(why, "${node.class} = a");
        cr_assert_eq(hashmap_count(g.memo), 2, "one memo entry per computed class");
        cr_assert(json_is_true(json_object_get(ctx.class_elig, cand("n1")->n->computed_class)));
        cr_assert(json_is_false(json_object_get(ctx.class_elig, cand("n2")->n->computed_class)));
        sched_group_free(&g);
}

Test(sched_units, missing_driver_filters) {
        node("n1", "dc1", 4000, 8000, "a");
        struct job *j = fx_job("web", JOB_SERVICE, 1, 100, 100);
        free(j->groups[0].tasks[0].driver);
        j->groups[0].tasks[0].driver = strdup("exec");
        begin(j);
        struct sched_group g;
        cr_assert_eq(sched_group_init(&at, &g, 0), 0);
        char buf[160];
        cr_assert_str_eq(sched_feasible(&at, &g, cand("n1"), buf, sizeof(buf)), "missing drivers");
        sched_group_free(&g);
}

Test(sched_units, limit_is_log2_for_service_and_100_with_affinity) {
        for (int i = 0; i < 40; i++) {
                char id[32];
                snprintf(id, sizeof(id), "n%02d", i);
                node(id, "dc1", 4000, 8000, "a");
        }
        struct job *j = fx_job("web", JOB_SERVICE, 3, 100, 100);
        begin(j);
        struct sched_group g;
        cr_assert_eq(sched_group_init(&at, &g, 0), 0);
        cr_assert_eq(g.limit, 6, "ceil(log2(40))");
        sched_group_free(&g);
        struct job *k = job_copy(at.job);
        k->affinities = calloc(1, sizeof(*k->affinities));
        k->affinities[0] = (struct affinity){strdup("${node.class}"), strdup("a"), strdup("="), 50};
        k->n_affinities = 1;
        at.job = k;
        cr_assert_eq(sched_group_init(&at, &g, 0), 0);
        cr_assert_eq(g.limit, 100);
        sched_group_free(&g);
        job_unref(k);
}

Test(sched_units, small_groups_score_more_candidates) {
        static const struct scheduler_ops batch_ops = {.name = "batch", .attempts = 2, .batch = true};
        for (int i = 0; i < 64; i++) {
                char id[32];
                snprintf(id, sizeof(id), "n%02d", i);
                node(id, "dc1", 4000, 8000, "a");
        }
        const struct {
                bool batch;
                int count, limit;
        } cases[] = {
            {false, 4, 32}, /* 4 x 16 <= 64 nodes: a small group */
            {false, 5, 6},  /* 80 > 64: ceil(log2(64)) as Nomad */
            {true, 1, 32},
            {true, 5, 2}, /* Nomad's power of two choices */
        };
        begin(fx_job("web", JOB_SERVICE, 1, 100, 100));
        struct job *k = job_copy(at.job);
        at.job = k;
        for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
                ctx.ops = cases[i].batch ? &batch_ops : &svc_ops;
                k->groups[0].count = cases[i].count;
                struct sched_group g;
                cr_assert_eq(sched_group_init(&at, &g, 0), 0);
                cr_assert_eq(g.limit, cases[i].limit, "case %zu: limit %d", i, g.limit);
                sched_group_free(&g);
        }
        job_unref(k);
}

Test(sched_units, rank_fits_and_names_the_exhausted_dimension) {
        node("n1", "dc1", 1000, 1000, "a");
        struct job *j = fx_job("web", JOB_SERVICE, 2, 600, 100);
        begin(j);
        struct sched_group g;
        cr_assert_eq(sched_group_init(&at, &g, 0), 0);
        struct sched_option o;
        const char *dim = NULL;
        struct sched_cand *cd = cand("n1");
        cr_assert(sched_rank(&at, &g, cd, &o, &dim));
        /* Nomad's ScoreFit less the stranded share (free cpu 0.4, free memory 0.9 after)
         * and less the imbalance the placement adds to the empty, balanced node (0.5) */
        cr_assert_float_eq(o.binpack, (sched_binpack_score(1000, 1000, 600, 100) + 1.0 - 0.5 - 0.5) / 2, 1e-12);
        cr_assert(!o.has_anti);
        cr_assert(!o.used);
        cd->u.cpu += 600; /* as if placed */
        cr_assert(!sched_rank(&at, &g, cd, &o, &dim));
        cr_assert_str_eq(dim, "cpu");
        sched_group_free(&g);
}

/* Nomad's JobAntiAffinityIterator and NodeReschedulingPenaltyIterator: a node already
 * holding n allocs of the group scores -(n + 1) / count, the failed alloc's node -1,
 * and the final score is the mean of the scores that applied. */
Test(sched_units, job_anti_affinity_and_reschedule_penalty_scores) {
        node("n1", "dc1", 1000, 1000, "a");
        node("n2", "dc1", 1000, 1000, "a");
        struct job *j = fx_job("web", JOB_SERVICE, 4, 100, 100);
        struct alloc *a = fx_alloc("old-1", j, "n1", 0, 100, 100);
        cr_assert_eq(state_upsert_allocs(st, ++idx, &a, 1), 0);
        alloc_unref(a);
        begin(j);
        struct sched_group g;
        cr_assert_eq(sched_group_init(&at, &g, 0), 0);
        struct sched_option o;
        const char *dim = NULL;
        cr_assert(sched_rank(&at, &g, cand("n1"), &o, &dim));
        cr_assert(o.has_anti && !o.has_penalty);
        cr_assert_float_eq(o.anti, -2.0 / 4.0, 1e-12);
        cr_assert_float_eq(o.final, (o.binpack + o.anti) / 2, 1e-12);
        cr_assert(sched_rank(&at, &g, cand("n2"), &o, &dim));
        cr_assert(!o.has_anti && !o.has_penalty, "no alloc of the job on n2");
        cr_assert_float_eq(o.final, o.binpack, 1e-12);
        g.penalty_node = "n2";
        cr_assert(sched_rank(&at, &g, cand("n2"), &o, &dim));
        cr_assert(o.has_penalty && !o.has_anti);
        cr_assert_float_eq(o.penalty, -1.0, 1e-12);
        cr_assert_float_eq(o.final, (o.binpack - 1.0) / 2, 1e-12);
        g.penalty_node = "n1"; /* both apply: the mean of three */
        cr_assert(sched_rank(&at, &g, cand("n1"), &o, &dim));
        cr_assert(o.has_anti && o.has_penalty);
        cr_assert_float_eq(o.final, (o.binpack - 0.5 - 1.0) / 3, 1e-12);
        sched_group_free(&g);
}

/* An even spread's score (no targets) as a walk of every value seen computes it: the
 * reference for the least and largest counts the group keeps as they grow. */
static double even_spread_by_walk(const struct sched_distinct_prop *p, uintptr_t used) {
        uintptr_t min = used, max = used;
        size_t it = 0;
        void *val;
        bool any = false;
        while (hashmap_next(p->counts, &it, NULL, &val)) {
                uintptr_t c = (uintptr_t)val;
                min = c < min ? c : min;
                max = c > max ? c : max;
                any = true;
        }
        if (!any || max == 0 || min == max)
                return 0.0;
        return used < max ? (double)(max - used) / (double)max : -(double)(max - min) / (double)max;
}

Test(sched_units, even_spread_keeps_min_and_max_as_a_walk_finds_them) {
        enum { NODES = 9, STEPS = 400 };
        char id[NODES][16];
        for (int i = 0; i < NODES; i++) {
                snprintf(id[i], sizeof(id[i]), "n%d", i);
                node(id[i], "dc1", 100000, 100000, "a");
        }
        struct job *j = fx_job("web", JOB_SERVICE, 50, 10, 10);
        j->groups[0].spreads = calloc(1, sizeof(*j->groups[0].spreads));
        j->groups[0].spreads[0] = (struct spread){.attribute = strdup("${node.unique.name}"), .weight = 50};
        j->groups[0].n_spreads = 1;
        begin(j);
        struct sched_group g;
        cr_assert_eq(sched_group_init(&at, &g, 0), 0);
        cr_assert_eq(g.n_props, 1);
        const struct sched_distinct_prop *p = &g.props[0];
        uint32_t x = 12345;
        for (int step = 0; step < STEPS; step++) {
                x = x * 1103515245u + 12345u;
                int k = (int)((x >> 16) % (step < 40 ? 4 : NODES)); /* new values keep appearing late */
                cr_assert_eq(sched_group_placed(&g, cand(id[k])->n), 0);
                for (int m = 0; m < NODES; m++) {
                        uintptr_t used = (uintptr_t)hashmap_get(p->counts, id[m]);
                        double want = even_spread_by_walk(p, used);
                        double got = sched_spread_score(&g, cand(id[m])->n);
                        cr_assert_float_eq(got, want, 1e-12, "step %d node %s: %f != %f", step, id[m], got, want);
                }
        }
        sched_group_free(&g);
}

/* Every ${node.*} variable Nomad documents resolves to the node's value. */
Test(sched_units, every_documented_node_variable_resolves) {
        struct node *n = fx_node("id-7", "dc3", 4000, 8000);
        free(n->name);
        n->name = strdup("host-7");
        free(n->node_class);
        n->node_class = strdup("gpu");
        free(n->node_pool);
        n->node_pool = strdup("batch");
        n->region = strdup("eu");
        static const struct {
                const char *target, *want;
        } cases[] = {
            {"${node.unique.id}", "id-7"}, {"${node.unique.name}", "host-7"}, {"${node.datacenter}", "dc3"},
            {"${node.region}", "eu"},      {"${node.class}", "gpu"},          {"${node.pool}", "batch"},
        };
        for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
                bool found = false;
                const char *v = sched_resolve_target(n, cases[i].target, &found);
                cr_expect(found, "%s", cases[i].target);
                cr_expect_str_eq(v ? v : "(null)", cases[i].want, "%s", cases[i].target);
        }
        /* a node recorded before regions were: Nomad's default region */
        free(n->region);
        n->region = NULL;
        bool found = false;
        cr_expect_str_eq(sched_resolve_target(n, "${node.region}", &found), "global");
        cr_expect(found);
        cr_expect_null(sched_resolve_target(n, "${node.zone}", &found));
        node_unref(n);
}

static void node_in(const char *id, const char *region) {
        struct node *n = fx_node(id, "dc1", 4000, 8000);
        n->region = strdup(region);
        node_compute_class(n);
        cr_assert_eq(state_upsert_node(st, ++idx, n), 0);
        node_unref(n);
}

/* ${node.region} in a constraint, an affinity and a spread. Nodes of two regions differ
 * in class, so the per-class memo cannot mix them up. */
Test(sched_units, node_region_in_constraints_affinities_and_spreads) {
        node_in("n-eu", "eu");
        node_in("n-us", "us");
        struct job *j = fx_job("web", JOB_SERVICE, 4, 100, 100);
        fx_add_constraint(&j->groups[0].constraints, &j->groups[0].n_constraints, "${node.region}", "=", "eu");
        j->affinities = calloc(1, sizeof(*j->affinities));
        j->affinities[0] = (struct affinity){strdup("${node.region}"), strdup("us"), strdup("="), 40};
        j->n_affinities = 1;
        j->groups[0].spreads = calloc(1, sizeof(*j->groups[0].spreads));
        j->groups[0].spreads[0] = (struct spread){.attribute = strdup("${node.region}"), .weight = 50};
        j->groups[0].n_spreads = 1;
        begin(j);
        cr_assert_str_neq(cand("n-eu")->n->computed_class, cand("n-us")->n->computed_class);
        struct sched_group g;
        cr_assert_eq(sched_group_init(&at, &g, 0), 0);
        char buf[160];
        cr_expect_null(sched_feasible(&at, &g, cand("n-eu"), buf, sizeof(buf)));
        const char *why = sched_feasible(&at, &g, cand("n-us"), buf, sizeof(buf));
        cr_expect_str_eq(why ? why : "(feasible)", "${node.region} = eu");
        cr_expect_float_eq(sched_affinity_score(at.job, g.tg, cand("n-us")->n, NULL), 1.0, 1e-12);
        cr_expect_float_eq(sched_affinity_score(at.job, g.tg, cand("n-eu")->n, NULL), 0.0, 1e-12);
        /* even spread over regions: one alloc in eu, none in us yet */
        cr_assert_eq(sched_group_placed(&g, cand("n-eu")->n), 0);
        cr_expect_lt(sched_spread_score(&g, cand("n-eu")->n), sched_spread_score(&g, cand("n-us")->n),
                     "the region that has one already scores lower");
        sched_group_free(&g);
}

Test(sched_units, affinity_score_is_weighted_share) {
        struct node *n = fx_node("n1", "dc1", 1000, 1000);
        struct job *j = fx_job("web", JOB_SERVICE, 1, 100, 100);
        j->affinities = calloc(2, sizeof(*j->affinities));
        j->affinities[0] = (struct affinity){strdup("${attr.kernel.name}"), strdup("linux"), strdup("="), 60};
        j->affinities[1] = (struct affinity){strdup("${node.datacenter}"), strdup("dc2"), strdup("="), -20};
        j->n_affinities = 2;
        cr_assert_float_eq(sched_affinity_score(j, &j->groups[0], n, NULL), 60.0 / 80.0, 1e-12);
        free(j->affinities[1].rtarget);
        j->affinities[1].rtarget = strdup("dc1"); /* the negative one now matches too */
        cr_assert_float_eq(sched_affinity_score(j, &j->groups[0], n, NULL), 40.0 / 80.0, 1e-12);
        job_unref(j);
        node_unref(n);
}

Test(sched_units, select_prefers_the_fuller_node_and_records_scores) {
        node("empty", "dc1", 4000, 4000, "a");
        node("full", "dc1", 4000, 4000, "a");
        struct job *j = fx_job("web", JOB_SERVICE, 1, 500, 500);
        begin(j);
        cand("full")->u = (struct sched_usage){3000, 3000, 0};
        cand("full")->usage_ready = true;
        struct sched_group g;
        cr_assert_eq(sched_group_init(&at, &g, 0), 0);
        struct sched_metric m = {0};
        struct sched_cand *w = sched_select(&at, &g, &m);
        cr_assert_not_null(w);
        cr_assert_str_eq(w->n->id, "full");
        cr_assert_eq(m.evaluated, 2);
        cr_assert_eq(json_array_size(m.score_meta), 2);
        cr_assert_str_eq(json_string_value(json_object_get(json_array_get(m.score_meta, 0), "NodeID")), "full");
        sched_metric_free(&m);
        sched_group_free(&g);
}

Test(sched_units, metric_counts_and_json) {
        struct node *n = fx_node("n1", "dc1", 1000, 1000);
        free(n->node_class);
        n->node_class = strdup("big");
        struct sched_metric m = {.start_ns = 100};
        m.evaluated = 3;
        sched_metric_filter(&m, n, "${attr.kernel.name} = windows");
        sched_metric_filter(&m, n, "${attr.kernel.name} = windows");
        sched_metric_exhaust(&m, n, "memory");
        json_t *avail = json_pack("{s:i}", "dc1", 1);
        struct sched_metric_pool p = {.nodes_in_pool = 7, .node_pool = "default", .nodes_available = avail};
        json_t *o = sched_metric_json(&p, &m, 350, 4);
        cr_assert_eq(json_integer_value(json_object_get(o, "NodesEvaluated")), 3);
        cr_assert_eq(json_integer_value(json_object_get(o, "NodesFiltered")), 2);
        cr_assert_eq(json_integer_value(json_object_get(o, "NodesExhausted")), 1);
        cr_assert_eq(json_integer_value(json_object_get(o, "NodesInPool")), 7);
        cr_assert_eq(json_integer_value(json_object_get(json_object_get(o, "ClassFiltered"), "big")), 2);
        cr_assert_eq(json_integer_value(
                         json_object_get(json_object_get(o, "ConstraintFiltered"), "${attr.kernel.name} = windows")),
                     2);
        cr_assert_eq(json_integer_value(json_object_get(json_object_get(o, "DimensionExhausted"), "memory")), 1);
        cr_assert_eq(json_integer_value(json_object_get(o, "AllocationTime")), 250);
        cr_assert_eq(json_integer_value(json_object_get(o, "CoalescedFailures")), 4);
        cr_assert_eq(json_integer_value(json_object_get(json_object_get(o, "NodesAvailable"), "dc1")), 1);
        json_decref(o);
        json_decref(avail);
        sched_metric_free(&m);
        cr_assert_eq(m.class_filtered.n, 0);
        cr_assert_null(m.class_filtered.v);
        node_unref(n);
}

/* Reasons built in one reused buffer are counted apart; a restarted metric counts
 * the next placement alone, and a key left at zero stays out of the JSON. */
Test(sched_units, metric_restart_and_reused_reason_buffer) {
        struct node *n = fx_node("n1", "dc1", 1000, 1000);
        struct sched_metric m = {.start_ns = 100};
        char buf[64];
        snprintf(buf, sizeof(buf), "distinct_property: rack=%s", "r1");
        sched_metric_filter(&m, n, buf);
        snprintf(buf, sizeof(buf), "distinct_property: rack=%s", "r2");
        sched_metric_filter(&m, n, buf);
        sched_metric_filter(&m, n, buf);
        sched_metric_exhaust(&m, n, "memory");
        struct sched_metric_pool p = {.nodes_in_pool = 1, .node_pool = "default"};
        json_t *o = sched_metric_json(&p, &m, 150, 0);
        json_t *cf = json_object_get(o, "ConstraintFiltered");
        cr_expect_eq(json_integer_value(json_object_get(cf, "distinct_property: rack=r1")), 1);
        cr_expect_eq(json_integer_value(json_object_get(cf, "distinct_property: rack=r2")), 2);
        json_decref(o);
        sched_metric_restart(&m, 200, true);
        cr_expect_eq(m.filtered, 0);
        cr_expect_eq(m.exhausted, 0);
        cr_expect(m.no_meta);
        sched_metric_exhaust(&m, n, "cpu");
        o = sched_metric_json(&p, &m, 250, 0);
        cr_expect_eq(json_object_size(json_object_get(o, "ConstraintFiltered")), 0, "zero counts are left out");
        json_t *de = json_object_get(o, "DimensionExhausted");
        cr_expect_eq(json_object_size(de), 1);
        cr_expect_eq(json_integer_value(json_object_get(de, "cpu")), 1);
        cr_expect_eq(json_integer_value(json_object_get(o, "AllocationTime")), 50);
        json_decref(o);
        sched_metric_free(&m);
        node_unref(n);
}

Test(sched_units, regexp_compiled_once_per_evaluation) {
        for (int i = 0; i < 20; i++) {
                char id[32];
                snprintf(id, sizeof(id), "node-%02d", i);
                node(id, "dc1", 4000, 8000, "a");
        }
        struct job *j = fx_job("web", JOB_SERVICE, 1, 100, 100);
        /* unique.* escapes the class memo: checked on every node */
        fx_add_constraint(&j->constraints, &j->n_constraints, "${node.unique.name}", "regexp", "^node-[0-1][0-9]$");
        begin(j);
        ctx.regexps = sched_regexps_create();
        struct sched_group g;
        cr_assert_eq(sched_group_init(&at, &g, 0), 0);
        char buf[160];
        int feasible = 0;
        for (size_t i = 0; i < at.n_cands; i++)
                feasible += sched_feasible(&at, &g, sched_cand_get(&at, i), buf, sizeof(buf)) == NULL;
        cr_assert_eq(feasible, 20);
        cr_assert_eq(sched_regexps_compiled(ctx.regexps), 1, "one regcomp for 20 nodes");
        sched_group_free(&g);
        ctx.regexps = sched_regexps_destroy(ctx.regexps);
}

Test(sched_units, driver_attribute_counts_as_available) {
        struct node *n = fx_node("n1", "dc1", 4000, 8000);
        cr_assert(!node_has_driver(n, "exec"));
        strmap_set(&n->attributes, "driver.exec", "1");
        cr_assert(node_has_driver(n, "exec"));
        strmap_set(&n->attributes, "driver.exec", "false");
        cr_assert(!node_has_driver(n, "exec"));
        n->drivers[0].healthy = false; /* the drivers list wins over attributes */
        strmap_set(&n->attributes, "driver.raw_exec", "1");
        cr_assert(!node_has_driver(n, "raw_exec"));
        node_unref(n);
}

Test(sched_units, node_pool_all_takes_every_pool) {
        node("n1", "dc1", 4000, 8000, "a");
        struct node *other = fx_node("n2", "dc1", 4000, 8000);
        free(other->node_pool);
        other->node_pool = strdup("gpu");
        cr_assert_eq(state_upsert_node(st, ++idx, other), 0);
        node_unref(other);
        struct job *j = fx_job("web", JOB_SERVICE, 1, 100, 100);
        free(j->node_pool);
        j->node_pool = strdup("all");
        begin(j);
        cr_assert_eq(at.n_cands, 2);
}

Test(sched_units, interpolated_targets) {
        struct node *n = fx_node("n1", "dc1", 4000, 8000);
        free(n->node_class);
        n->node_class = strdup("big");
        strmap_set(&n->meta, "rack", "r7");
        bool found;
        cr_assert_str_eq(sched_resolve_target(n, "${node.class}", &found), "big");
        cr_assert_str_eq(sched_resolve_target(n, "${meta.rack}", &found), "r7");
        cr_assert_str_eq(sched_resolve_target(n, "${attr.kernel.name}", &found), "linux");
        cr_assert_str_eq(sched_resolve_target(n, "literal", &found), "literal");
        cr_assert(found);
        cr_assert_null(sched_resolve_target(n, "${meta.none}", &found));
        cr_assert(!found);
        cr_assert_null(sched_resolve_target(n, "${bogus.key}", &found));
        node_unref(n);
}

Test(sched_units, version_and_semver_with_prereleases) {
        struct {
                const char *have, *op, *want;
                bool ok;
        } cases[] = {
            {"1.2.3", "version", ">= 1.2.3-rc.1", true},
            {"1.2.3-rc.1", "version", "< 1.2.3", true},
            {"1.2.3-rc.2", "version", "> 1.2.3-rc.1", true},
            {"1.2.3-rc.10", "version", "> 1.2.3-rc.9", true}, /* numeric identifiers */
            {"1.2.3-alpha", "version", "< 1.2.3-alpha.1", true},
            {"1.2.3-1", "version", "< 1.2.3-alpha", true},
            {"1.2.3+build.7", "version", "= 1.2.3", true},
            {"1.2", "version", "< 1.2.1", true},
            {"1.2", "semver", "< 1.2.1", false},  /* not strict */
            {"1.2.0", "semver", ">= 1.2", false}, /* not strict */
            {"1.2.0", "semver", ">= 1.1.9, < 2.0.0", true},
            {"2.0.0-beta", "semver", "< 2.0.0", true},
            {"1.2.3 junk", "version", "= 1.2.3", false},
        };
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
                cr_expect_eq(sched_check_operand(cases[i].op, cases[i].have, true, cases[i].want, true), cases[i].ok,
                             "%s %s %s", cases[i].have, cases[i].op, cases[i].want);
        cr_assert_lt(sched_version_cmp("1.0.0-rc.1", "1.0.0"), 0);
        cr_assert_eq(sched_version_cmp("v1.0.0", "1.0.0+x"), 0);
}

Test(sched_units, fit_score_spread_mirrors_binpack_and_dotproduct_prefers_the_aligned_node) {
        /* spread is Nomad's ScoreFitSpread: the emptier node scores higher */
        double full = sched_fit_score(SCHED_ALG_BINPACK, 4000, 4000, 3000, 3000, 100, 100);
        double empty = sched_fit_score(SCHED_ALG_BINPACK, 4000, 4000, 500, 500, 100, 100);
        cr_assert_gt(full, empty);
        cr_assert_float_eq(sched_fit_score(SCHED_ALG_SPREAD, 4000, 4000, 3000, 3000, 100, 100),
                           1.0 - sched_binpack_score(4000, 4000, 3000, 3000), 1e-12);
        cr_assert_lt(sched_fit_score(SCHED_ALG_SPREAD, 4000, 4000, 3000, 3000, 100, 100),
                     sched_fit_score(SCHED_ALG_SPREAD, 4000, 4000, 500, 500, 100, 100));
        /* a cpu-heavy ask (1000 MHz / 100 MB): node A has cpu left (0 / 2900 used before),
         * node B memory (2000 / 900): after placing, both are used 3/4 in one dimension
         * and 1/4 in the other, so Nomad's ScoreFit and the stranded share cannot tell
         * them apart; binpack prefers A, which the ask evens out (free shares 1 / 0.275
         * -> 0.75 / 0.25) where it makes B more lopsided (0.5 / 0.775 -> 0.25 / 0.75), and
         * the dot product prefers A, whose free capacity has the ask's shape */
        double bp_a = sched_fit_score(SCHED_ALG_BINPACK, 4000, 4000, 1000, 3000, 1000, 100);
        double bp_b = sched_fit_score(SCHED_ALG_BINPACK, 4000, 4000, 3000, 1000, 1000, 100);
        double s_ab = sched_binpack_score(4000, 4000, 1000, 3000);
        cr_assert_float_eq(s_ab, sched_binpack_score(4000, 4000, 3000, 1000), 1e-12);
        cr_assert_float_eq(bp_a, (s_ab + 1.0 - 0.5 + (0.725 - 0.5)) / 2, 1e-12);
        cr_assert_float_eq(bp_b, (s_ab + 1.0 - 0.5 + (0.275 - 0.5)) / 2, 1e-12);
        cr_assert_gt(bp_a, bp_b);
        double dp_a = sched_fit_score(SCHED_ALG_DOTPRODUCT, 4000, 4000, 1000, 3000, 1000, 100);
        double dp_b = sched_fit_score(SCHED_ALG_DOTPRODUCT, 4000, 4000, 3000, 1000, 1000, 100);
        cr_assert_gt(dp_a, dp_b);
        /* A's alignment: ask (0.25, 0.025) against free before (1.0, 0.275) */
        double align = (0.25 * 1.0 + 0.025 * 0.275) / (sqrt(0.25 * 0.25 + 0.025 * 0.025) * sqrt(1.0 + 0.275 * 0.275));
        cr_assert_float_eq(dp_a, (sched_binpack_score(4000, 4000, 1000, 3000) + align) / 2, 1e-12);
        cr_assert(dp_a >= 0.0 && dp_a <= 1.0 && dp_b >= 0.0 && dp_b <= 1.0);
}

Test(sched_units, binpack_prefers_the_node_left_balanced_over_one_left_stranded) {
        /* an ask of 100 MHz / 100 MB on two 1000/1000 nodes: A ends at 1000 MHz / 600 MB
         * (no cpu left, 40% of its memory stranded), B at 700 / 700. Nomad's ScoreFit
         * prefers A (the fuller by the sum of 10^free); drover's binpack prefers B */
        double nomad_a = sched_binpack_score(1000, 1000, 1000, 600),
               nomad_b = sched_binpack_score(1000, 1000, 700, 700);
        cr_assert_gt(nomad_a, nomad_b);
        double a = sched_fit_score(SCHED_ALG_BINPACK, 1000, 1000, 1000, 600, 100, 100);
        double b = sched_fit_score(SCHED_ALG_BINPACK, 1000, 1000, 700, 700, 100, 100);
        cr_assert_float_eq(a, (nomad_a + 1.0 - 0.4) / 2, 1e-12);
        cr_assert_float_eq(b, (nomad_b + 1.0) / 2, 1e-12);
        cr_assert_gt(b, a);
        /* a full, balanced node scores 1; a memory-only ask that fills a node's memory
         * and leaves its cpu: S 9/18, stranded 1, imbalance added 0.1 */
        cr_assert_float_eq(sched_fit_score(SCHED_ALG_BINPACK, 1000, 1000, 1000, 1000, 100, 100), 1.0, 1e-12);
        cr_assert_float_eq(sched_fit_score(SCHED_ALG_BINPACK, 1000, 1000, 0, 1000, 0, 100),
                           (9.0 / 18.0 + 1.0 - 1.0 - 0.1) / 2, 1e-12);
}

/* Two nodes: "snug", empty, which the ask fills to 90%, and "used", four times larger,
 * already holding 100/100, which the ask leaves a quarter full. */
static void snug_and_used(int spread, bool affinity) {
        node("snug", "dc1", 1000, 1000, "a");
        node("used", "dc1", 4000, 4000, "b");
        struct job *j = fx_job("web", JOB_SERVICE, 1, 900, 900);
        if (spread) {
                j->groups[0].spreads = calloc(1, sizeof(*j->groups[0].spreads));
                j->groups[0].spreads[0] = (struct spread){.attribute = strdup("${node.datacenter}"), .weight = 50};
                j->groups[0].n_spreads = 1;
        }
        if (affinity) {
                j->groups[0].affinities = calloc(1, sizeof(*j->groups[0].affinities));
                j->groups[0].affinities[0] = (struct affinity){strdup("${node.class}"), strdup("a"), strdup("="), 50};
                j->groups[0].n_affinities = 1;
        }
        begin(j);
        cand("used")->u = (struct sched_usage){100, 100, 0};
        cand("used")->usage_ready = true;
}

static const char *select_one(void) {
        struct sched_group g;
        cr_assert_eq(sched_group_init(&at, &g, 0), 0);
        struct sched_metric m = {.no_meta = true};
        struct sched_cand *w = sched_select(&at, &g, &m);
        cr_assert_not_null(w);
        sched_metric_free(&m);
        sched_group_free(&g);
        return w->n->id;
}

Test(sched_units, binpack_never_opens_an_empty_node_while_a_used_one_fits) {
        snug_and_used(0, false);
        struct sched_option o_snug, o_used;
        const char *dim;
        struct sched_group g;
        cr_assert_eq(sched_group_init(&at, &g, 0), 0);
        cr_assert(g.pack_used_first);
        cr_assert(sched_rank(&at, &g, cand("snug"), &o_snug, &dim));
        cr_assert(sched_rank(&at, &g, cand("used"), &o_used, &dim));
        sched_group_free(&g);
        cr_assert_gt(o_snug.final, o_used.final, "the empty node scores higher");
        cr_assert(!o_snug.used && o_used.used);
        cr_assert_str_eq(select_one(), "used");
        ctx.algorithm = SCHED_ALG_DOTPRODUCT;
        cr_assert_str_eq(select_one(), "used");
        ctx.algorithm = SCHED_ALG_SPREAD; /* spread scoring has no used-first rule */
        cr_assert_eq(sched_group_init(&at, &g, 0), 0);
        cr_assert(!g.pack_used_first);
        sched_group_free(&g);
}

Test(sched_units, used_first_yields_to_affinity_and_spread_blocks) {
        snug_and_used(0, true); /* the affinity names "snug"'s class: it wins though empty */
        cr_assert_str_eq(select_one(), "snug");
}

Test(sched_units, used_first_is_off_for_groups_with_spread_blocks) {
        snug_and_used(1, false); /* one datacenter: spread scores 0 on both, the score decides */
        struct sched_group g;
        cr_assert_eq(sched_group_init(&at, &g, 0), 0);
        cr_assert(!g.pack_used_first);
        sched_group_free(&g);
        cr_assert_str_eq(select_one(), "snug");
}

Test(sched_units, rank_uses_the_eval_algorithm) {
        node("n1", "dc1", 1000, 1000, "a");
        struct job *j = fx_job("web", JOB_SERVICE, 2, 600, 100);
        begin(j);
        ctx.algorithm = SCHED_ALG_SPREAD;
        struct sched_group g;
        cr_assert_eq(sched_group_init(&at, &g, 0), 0);
        struct sched_option o;
        const char *dim = NULL;
        cr_assert(sched_rank(&at, &g, cand("n1"), &o, &dim));
        cr_assert_float_eq(o.binpack, 1.0 - sched_binpack_score(1000, 1000, 600, 100), 1e-12);
        sched_group_free(&g);
}

/* sched_rank memoises a node's fit score (rank.c cand_fit): a score asked again must be
 * the one computed afresh, after the node's usage moved, and for another group whose
 * ask lands on the same usage (the memo's generation). */
Test(sched_units, rank_fit_memo_follows_usage_and_group) {
        node("n1", "dc1", 4000, 4000, "a");
        begin(fx_job("web", JOB_SERVICE, 2, 600, 100));
        struct job *k = job_copy(at.job);
        at.job = k;
        struct sched_cand *cd = cand("n1");
        struct sched_option o;
        const char *dim = NULL;
        struct sched_group g;
        cr_assert_eq(sched_group_init(&at, &g, 0), 0);
        cd->u = (struct sched_usage){300, 50, 0}; /* as if a placement landed */
        cd->usage_ready = true;
        cr_assert(sched_rank(&at, &g, cd, &o, &dim));
        cr_assert_eq(o.binpack, sched_fit_score(SCHED_ALG_BINPACK, 4000, 4000, 900, 150, 600, 100));
        cd->u = (struct sched_usage){0, 0, 0}; /* and gone again (a stop) */
        double first = sched_fit_score(SCHED_ALG_BINPACK, 4000, 4000, 600, 100, 600, 100);
        for (int i = 0; i < 2; i++) { /* the second: from the memo */
                cr_assert(sched_rank(&at, &g, cd, &o, &dim));
                cr_assert_eq(o.binpack, first);
        }
        cd->u = (struct sched_usage){0, 50, 0}; /* memory alone moved */
        cr_assert(sched_rank(&at, &g, cd, &o, &dim));
        cr_assert_eq(o.binpack, sched_fit_score(SCHED_ALG_BINPACK, 4000, 4000, 600, 150, 600, 100));
        cd->u = (struct sched_usage){50, 50, 0}; /* and cpu alone */
        cr_assert(sched_rank(&at, &g, cd, &o, &dim));
        cr_assert_eq(o.binpack, sched_fit_score(SCHED_ALG_BINPACK, 4000, 4000, 650, 150, 600, 100));
        cd->u = (struct sched_usage){0, 0, 0};
        cr_assert(sched_rank(&at, &g, cd, &o, &dim));
        sched_group_free(&g);
        /* a group asking 300/50 on the node at 300/50: the same sums as the first rank,
         * another score (the ask's own share counts) */
        cd->u = (struct sched_usage){300, 50, 0};
        k->groups[0].tasks[0].resources.cpu = 300;
        k->groups[0].tasks[0].resources.memory_mb = 50;
        cr_assert_eq(sched_group_init(&at, &g, 0), 0);
        cr_assert(sched_rank(&at, &g, cd, &o, &dim));
        double other = sched_fit_score(SCHED_ALG_BINPACK, 4000, 4000, 600, 100, 300, 50);
        cr_assert_neq(other, sched_fit_score(SCHED_ALG_BINPACK, 4000, 4000, 600, 100, 600, 100));
        cr_assert_eq(o.binpack, other);
        sched_group_free(&g);
        job_unref(k);
}
