/* test_plan.c - the plan applier: per-node checks, partial rejection, all_at_once, apply, JSON. */
#include <criterion/criterion.h>
#include <errno.h>

#include "common/error.h"
#include "common/hashmap.h"
#include "common/macros.h"
#include "controlplane/plan/applier.h"
#include "controlplane/plan/check.h"
#include "controlplane/plan/codec.h"
#include "controlplane/state/state.h"
#include "tests/support/plan_fixture.h"
#include "tests/unit/fixtures.h"

static struct state_store *st;
static struct job *job;

static void setup(void) {
        st = state_create();
        job = fx_job("web", JOB_SERVICE, 4, 600, 600);
        state_upsert_job(st, 1, job);
        const char *ids[] = {"n1", "n2"};
        for (int i = 0; i < 2; i++) {
                struct node *n = fx_node(ids[i], "dc1", 1000, 1000);
                state_upsert_node(st, 2, n);
                node_unref(n);
        }
}

static void teardown(void) {
        job_unref(job);
        state_destroy(st);
}

static struct plan *mkplan(const char *eval_id, const char *const *nodes, size_t n, const char *prefix) {
        struct plan *p = plan_new(eval_id, "token", job);
        p->snapshot_index = state_latest_index(st);
        for (size_t i = 0; i < n; i++) {
                char id[32];
                snprintf(id, sizeof(id), "%s-%zu", prefix, i);
                struct alloc *a = fx_alloc(id, job, nodes[i], (int)i, 600, 600);
                a->client_status = ALLOC_CLIENT_PENDING;
                cr_assert_eq(plan_add_place(p, a), 0);
                alloc_unref(a);
        }
        return p;
}

TestSuite(plan, .init = setup, .fini = teardown);

Test(plan, everything_fits_and_applies) {
        const char *nodes[] = {"n1", "n2"};
        struct plan *p = mkplan("e1", nodes, 2, "a");
        struct plan_result *r = plan_fixture_commit(st, p, 0);
        cr_assert_eq(plan_result_refresh_index(r), 0);
        cr_assert_eq(plan_result_count_place(r), 2);
        cr_assert_eq(plan_result_apply(st, 10, r), 0);
        const struct alloc *a = state_alloc_get(st, "a-0");
        cr_assert_not_null(a);
        cr_assert_eq(a->create_index, 10);
        cr_assert_eq(a->job->version, state_job_get(st, "default", "web")->version);
        cr_assert_eq(state_table_index(st, STATE_TABLE_ALLOCS), 10);
        plan_result_free(r);
        plan_free(p);
}

Test(plan, node_gone_or_down_is_rejected_with_refresh_index) {
        state_update_node_status(st, 5, "n2", NODE_DOWN, 1);
        const char *nodes[] = {"n1", "n2", "ghost"};
        struct plan *p = mkplan("e1", nodes, 3, "a");
        struct plan_result *r = plan_fixture_commit(st, p, 0);
        cr_assert_eq(plan_result_refresh_index(r), 5);
        cr_assert_eq(plan_result_count_place(r), 1);
        cr_assert(plan_result_rejected(r, "n2"));
        cr_assert(plan_result_rejected(r, "ghost"));
        cr_assert(!plan_result_rejected(r, "n1"));
        plan_result_free(r);
        plan_free(p);
}

Test(plan, ineligible_node_rejects_placements_but_takes_stops) {
        struct alloc *old = fx_alloc("old", job, "n1", 0, 100, 100);
        state_upsert_allocs(st, 3, &old, 1);
        state_update_node_eligibility(st, 4, "n1", false);
        struct plan *p = plan_new("e1", NULL, job);
        plan_add_stop(p, old, ALLOC_DESIRED_STOP, "alloc not needed due to job update", -1);
        struct plan_result *r = plan_fixture_commit(st, p, 0);
        cr_assert_eq(plan_result_count_stop(r), 1);
        cr_assert_eq(plan_result_refresh_index(r), 0);
        plan_result_free(r);
        plan_free(p);
        const char *nodes[] = {"n1"};
        p = mkplan("e2", nodes, 1, "b");
        cr_assert_eq(plan_evaluate(st, p, &r, NULL), 0);
        cr_assert(plan_result_rejected(r, "n1"));
        plan_result_free(r);
        plan_free(p);
        alloc_unref(old);
}

Test(plan, competing_plans_second_is_partially_rejected) {
        const char *nodes1[] = {"n1"};
        const char *nodes2[] = {"n1", "n2"};
        struct plan *p1 = mkplan("e1", nodes1, 1, "a");
        struct plan *p2 = mkplan("e2", nodes2, 2, "b"); /* made from the same state as p1 */
        struct plan_result *r1 = NULL, *r2 = NULL;
        r1 = plan_fixture_commit(st, p1, 10);
        cr_assert_eq(plan_evaluate(st, p2, &r2, NULL), 0);
        cr_assert(plan_result_rejected(r2, "n1")); /* 600 + 600 > 1000 */
        cr_assert_eq(plan_result_count_place(r2), 1);
        cr_assert_eq(plan_result_refresh_index(r2), 10);
        cr_assert_eq(plan_result_apply(st, 11, r2), 0);
        cr_assert_null(state_alloc_get(st, "b-0"));
        cr_assert_not_null(state_alloc_get(st, "b-1"));
        plan_result_free(r1);
        plan_result_free(r2);
        plan_free(p1);
        plan_free(p2);
}

/* A partial commit's refresh index covers the commit itself: a worker that waits for
 * its state to reach it (a follower) then sees what the result placed, and does not
 * place it again. The applier's own index (10) is older than the commit (11). */
Test(plan, partial_commit_refresh_index_covers_the_commit) {
        const char *nodes1[] = {"n1"};
        const char *nodes2[] = {"n1", "n2"};
        struct plan *p1 = mkplan("e1", nodes1, 1, "a");
        struct plan *p2 = mkplan("e2", nodes2, 2, "b");
        struct plan_result *r1 = NULL, *r2 = NULL;
        r1 = plan_fixture_commit(st, p1, 10);
        cr_assert_eq(plan_evaluate(st, p2, &r2, NULL), 0);
        cr_assert_eq(plan_result_refresh_index(r2), 10);
        struct state_store *at10 = state_snapshot(st); /* a follower's state at the refresh index */
        cr_assert_eq(plan_result_apply(st, 11, r2), 0);
        plan_result_set_alloc_index(r2, 11);
        cr_assert_eq(plan_result_refresh_index(r2), 11);
        cr_assert_null(state_alloc_get(at10, "b-1")); /* index 10 lacks the commit */
        cr_assert_geq(state_latest_index(st), plan_result_refresh_index(r2));
        cr_assert_not_null(state_alloc_get(st, "b-1"));
        /* a whole commit has no refresh index, and gets none */
        plan_result_set_alloc_index(r1, 10);
        cr_assert_eq(plan_result_refresh_index(r1), 0);
        state_destroy(at10);
        plan_result_free(r1);
        plan_result_free(r2);
        plan_free(p1);
        plan_free(p2);
}

Test(plan, stop_frees_room_for_a_placement_in_the_same_plan) {
        struct alloc *old = fx_alloc("old", job, "n1", 0, 600, 600);
        state_upsert_allocs(st, 3, &old, 1);
        const char *nodes[] = {"n1"};
        struct plan *p = mkplan("e1", nodes, 1, "a");
        struct plan_result *r = plan_fixture_commit(st, p, 0);
        cr_assert(plan_result_rejected(r, "n1"));
        plan_result_free(r);
        plan_add_stop(p, old, ALLOC_DESIRED_STOP, "alloc not needed due to job update", -1);
        cr_assert_eq(plan_evaluate(st, p, &r, NULL), 0);
        cr_assert_eq(plan_result_refresh_index(r), 0);
        cr_assert_eq(plan_result_apply(st, 12, r), 0);
        cr_assert_eq(state_alloc_get(st, "old")->desired_status, ALLOC_DESIRED_STOP);
        cr_assert_str_eq(state_alloc_get(st, "old")->desired_description, "alloc not needed due to job update");
        plan_result_free(r);
        plan_free(p);
        alloc_unref(old);
}

Test(plan, all_at_once_rejects_everything) {
        job->all_at_once = true;
        state_update_node_status(st, 5, "n2", NODE_DOWN, 1);
        const char *nodes[] = {"n1", "n2"};
        struct plan *p = mkplan("e1", nodes, 2, "a");
        cr_assert(p->all_at_once);
        struct plan_result *r = plan_fixture_commit(st, p, 0);
        cr_assert(plan_result_is_noop(r));
        cr_assert_eq(plan_result_refresh_index(r), 5);
        cr_assert(plan_result_rejected(r, "n1"));
        cr_assert(plan_result_rejected(r, "n2"));
        plan_result_free(r);
        plan_free(p);
}

/* n nodes "m0000".. (cpu 100 where small(i, n), else 1000; memory 1000) and a plan that
 * places one alloc "p0000".. (600 MHz, 100 MB) on each, in node order. */
static struct plan *plan_one_per_node(int n, const char *eval_id, bool (*small)(int i, int n)) {
        for (int i = 0; i < n; i++) {
                char id[16];
                snprintf(id, sizeof(id), "m%04d", i);
                struct node *nd = fx_node(id, "dc1", small(i, n) ? 100 : 1000, 1000);
                state_upsert_node(st, 3, nd);
                node_unref(nd);
        }
        struct plan *p = plan_new(eval_id, "token", job);
        for (int i = 0; i < n; i++) {
                char id[16], node[16];
                snprintf(id, sizeof(id), "p%04d", i);
                snprintf(node, sizeof(node), "m%04d", i);
                struct alloc *a = fx_alloc(id, job, node, i, 600, 100);
                cr_assert_eq(plan_add_place(p, a), 0);
                alloc_unref(a);
        }
        return p;
}

static bool middle_one(int i, int n) {
        return i == n / 2;
}

static bool every_third(int i, int n) {
        (void)n;
        return i % 3 == 0;
}

/* all_at_once over many nodes, one of them too small: nothing is placed and every node
 * of the plan is listed as rejected exactly once (the kept ones through a set, in plan
 * order after the failed one). */
Test(plan, all_at_once_over_many_nodes_rejects_each_node_once) {
        enum { N = 2000 };
        job->all_at_once = true;
        struct plan *p = plan_one_per_node(N, "e-aao", middle_one);
        struct plan_result *r = plan_fixture_commit(st, p, 0);
        cr_assert(plan_result_is_noop(r));
        cr_assert_eq(r->n_nodes, 0);
        cr_assert_eq(plan_result_refresh_index(r), 3);
        cr_assert_eq(r->n_rejected, N);
        cr_assert_str_eq(r->rejected_nodes[0], "m1000"); /* the one that failed first */
        _cleanup_(hashmap_destroyp) struct hashmap *seen = hashmap_create(0);
        for (size_t i = 0; i < r->n_rejected; i++)
                cr_assert_eq(hashmap_put(seen, r->rejected_nodes[i], NULL, NULL), 0, "%s twice", r->rejected_nodes[i]);
        for (int i = 0; i < N; i++) {
                char node[16];
                snprintf(node, sizeof(node), "m%04d", i);
                cr_assert(hashmap_contains(seen, node), "%s", node);
        }
        plan_result_free(r);
        plan_free(p);
}

Test(plan, result_json_round_trip_applies_the_same) {
        struct alloc *old = fx_alloc("old", job, "n2", 0, 100, 100);
        state_upsert_allocs(st, 3, &old, 1);
        const char *nodes[] = {"n1"};
        struct plan *p = mkplan("e1", nodes, 1, "a");
        plan_add_stop(p, old, ALLOC_DESIRED_STOP, "alloc is lost since its node is down", ALLOC_CLIENT_LOST);
        struct plan_result *r = plan_fixture_commit(st, p, 0);
        json_t *j = plan_result_to_json(r);
        char *text = json_dumps(j, JSON_COMPACT);
        json_t *back = json_loads(text, 0, NULL);
        struct plan_result *r2 = NULL;
        struct error err = {0};
        cr_assert_eq(plan_result_from_json(back, &r2, &err), 0, "%s", err.msg);
        cr_assert_eq(plan_result_count_place(r2), 1);
        cr_assert_eq(plan_result_count_stop(r2), 1);
        cr_assert_eq(plan_result_apply(st, 20, r2), 0);
        const struct alloc *a = state_alloc_get(st, "a-0");
        cr_assert_not_null(a);
        cr_assert_str_eq(a->job->id, "web");
        cr_assert_eq(a->resources.cpu, 600);
        cr_assert_eq(state_alloc_get(st, "old")->client_status, ALLOC_CLIENT_LOST);
        json_t *bad = json_string("x");
        struct plan_result *r3 = NULL;
        cr_assert_lt(plan_result_from_json(bad, &r3, &err), 0);
        cr_assert_null(r3);
        json_decref(bad);
        free(text);
        json_decref(j);
        json_decref(back);
        plan_result_free(r);
        plan_result_free(r2);
        plan_free(p);
        alloc_unref(old);
}

/* Two plans batched into one entry, made from the same state: the applier checks the
 * second against the state plus the first's uncommitted result. */
Test(plan, batch_second_plan_is_partially_rejected_for_the_last_capacity) {
        const char *nodes1[] = {"n1"};
        const char *nodes2[] = {"n1", "n2"};
        struct plan *p1 = mkplan("e1", nodes1, 1, "a");
        struct plan *p2 = mkplan("e2", nodes2, 2, "b");
        struct plan_overlay *o = plan_overlay_new();
        struct plan_result *r1 = NULL, *r2 = NULL;
        cr_assert_eq(plan_evaluate_overlay(st, o, p1, &r1, NULL), 0);
        cr_assert_eq(plan_result_count_place(r1), 1);
        cr_assert_eq(plan_overlay_add(o, r1), 0);
        cr_assert_eq(plan_evaluate_overlay(st, o, p2, &r2, NULL), 0);
        cr_assert(plan_result_rejected(r2, "n1")); /* 600 in flight + 600 > 1000 */
        cr_assert_not(plan_result_rejected(r2, "n2"));
        cr_assert_eq(plan_result_count_place(r2), 1);
        cr_assert_neq(plan_result_refresh_index(r2), 0);
        cr_assert_eq(plan_overlay_add(o, r2), 0);
        /* the entry is applied in order, then both leave the overlay */
        cr_assert_eq(plan_result_apply(st, 10, r1), 0);
        cr_assert_eq(plan_result_apply(st, 10, r2), 0);
        plan_overlay_remove(o, r1);
        plan_overlay_remove(o, r2);
        cr_assert_eq(plan_overlay_count(o), 0);
        cr_assert_not_null(state_alloc_get(st, "a-0"));
        cr_assert_null(state_alloc_get(st, "b-0"));
        cr_assert_not_null(state_alloc_get(st, "b-1"));
        plan_result_free(r1);
        plan_result_free(r2);
        plan_overlay_free(o);
        plan_free(p1);
        plan_free(p2);
}

/* plan_check_batch (the applier's work on the pool): against a snapshot plus a result
 * in flight, plans checked in order, each against the ones before it in the batch;
 * what commits something is encoded, and decodes to what was checked (decoded, the
 * FSM's result for those bytes). */
Test(plan, check_batch_checks_in_order_against_the_flight_and_the_batch) {
        const char *n1[] = {"n1"};
        const char *n2[] = {"n2"};
        const char *both[] = {"n1", "n2"};
        struct plan *inflight = mkplan("e0", n1, 1, "f");
        struct plan *p1 = mkplan("e1", n2, 1, "a");
        struct plan *p2 = mkplan("e2", both, 2, "b");
        struct plan_overlay *live = plan_overlay_new();
        struct plan_result *r0 = NULL;
        cr_assert_eq(plan_evaluate_overlay(st, live, inflight, &r0, NULL), 0);
        cr_assert_eq(plan_overlay_add(live, r0), 0);
        struct state_store *snap = state_snapshot(st);
        struct plan_overlay *o = plan_overlay_copy(live);
        cr_assert_eq(plan_overlay_count(o), 1);
        struct plan_check v[2] = {{.plan = p1}, {.plan = p2}};
        plan_check_batch(snap, o, v, 2);
        cr_assert_eq(v[0].status, 0);
        cr_assert_eq(plan_result_count_place(v[0].result), 1, "n2 was free");
        cr_assert_not_null(v[0].buf);
        cr_assert_eq(v[1].status, 0);
        cr_assert(plan_result_rejected(v[1].result, "n1"), "600 in flight + 600 > 1,000");
        cr_assert(plan_result_rejected(v[1].result, "n2"), "600 of the batch's first plan + 600 > 1,000");
        cr_assert(plan_result_is_noop(v[1].result));
        cr_assert_null(v[1].buf, "a no-op is not encoded");
        cr_assert_eq(plan_overlay_count(o), 2, "the batch's first result joined the copy");
        cr_assert_eq(plan_overlay_count(live), 1, "not the loop's overlay");
        struct plan_result *back = NULL;
        cr_assert_eq(plan_result_decode(v[0].buf, v[0].len, &back, NULL), 0);
        cr_assert_eq(plan_result_count_place(back), 1);
        cr_assert_eq(plan_result_apply(st, 10, back), 0);
        cr_assert_not_null(state_alloc_get(st, "a-0"));
        plan_result_free(back);
        /* the encoding decoded again on the same thread, for the FSM: what it applies */
        cr_assert_not_null(v[0].decoded, "the committed result decoded from its bytes");
        cr_assert_eq(plan_result_count_place(v[0].decoded), 1);
        cr_assert_null(v[1].decoded, "nothing encoded, nothing decoded");
        void *again = NULL;
        size_t again_len = 0;
        cr_assert_eq(plan_result_encode(v[0].decoded, &again, &again_len), 0);
        cr_expect(again_len == v[0].len && memcmp(again, v[0].buf, again_len) == 0, "decodes to the same bytes");
        free(again);
        for (int i = 0; i < 2; i++) {
                plan_result_free(v[i].result);
                plan_result_free(v[i].decoded);
                free(v[i].buf);
        }
        plan_result_free(r0);
        plan_overlay_free(o);
        plan_overlay_free(live);
        state_destroy(snap);
        plan_free(inflight);
        plan_free(p1);
        plan_free(p2);
}

/* A result already applied but still in the overlay is counted once, not twice. */
Test(plan, overlay_does_not_count_an_applied_result_twice) {
        struct job *small = fx_job("small", JOB_SERVICE, 1, 300, 300);
        state_upsert_job(st, 3, small);
        const char *nodes1[] = {"n1"};
        struct plan *p1 = mkplan("e1", nodes1, 1, "a"); /* 600 */
        struct plan *p2 = plan_new("e2", "token", small);
        struct alloc *s = fx_alloc("s-0", small, "n1", 0, 300, 300);
        cr_assert_eq(plan_add_place(p2, s), 0);
        alloc_unref(s);
        struct plan_overlay *o = plan_overlay_new();
        struct plan_result *r1 = NULL, *r2 = NULL;
        cr_assert_eq(plan_evaluate_overlay(st, o, p1, &r1, NULL), 0);
        cr_assert_eq(plan_overlay_add(o, r1), 0);
        cr_assert_eq(plan_result_apply(st, 10, r1), 0);
        cr_assert_eq(plan_evaluate_overlay(st, o, p2, &r2, NULL), 0); /* 600 + 300 <= 1000 */
        cr_assert_not(plan_result_rejected(r2, "n1"));
        cr_assert_eq(plan_result_count_place(r2), 1);
        plan_result_free(r1);
        plan_result_free(r2);
        plan_overlay_free(o);
        plan_free(p1);
        plan_free(p2);
        job_unref(small);
}

/* An uncommitted stop frees its room for the next plan in the batch. */
Test(plan, overlay_stop_frees_room_for_a_later_plan) {
        struct alloc *old = fx_alloc("old", job, "n1", 0, 600, 600);
        state_upsert_allocs(st, 3, &old, 1);
        struct plan *p1 = plan_new("e1", "token", job);
        cr_assert_eq(plan_add_stop(p1, old, ALLOC_DESIRED_STOP, "alloc not needed", -1), 0);
        const char *nodes[] = {"n1"};
        struct plan *p2 = mkplan("e2", nodes, 1, "a");
        struct plan_overlay *o = plan_overlay_new();
        struct plan_result *r1 = NULL, *r2 = NULL, *r3 = NULL;
        cr_assert_eq(plan_evaluate(st, p2, &r3, NULL), 0);
        cr_assert(plan_result_rejected(r3, "n1")); /* without the stop: no room */
        cr_assert_eq(plan_evaluate_overlay(st, o, p1, &r1, NULL), 0);
        cr_assert_eq(plan_overlay_add(o, r1), 0);
        cr_assert_eq(plan_evaluate_overlay(st, o, p2, &r2, NULL), 0);
        cr_assert_not(plan_result_rejected(r2, "n1"));
        plan_result_free(r1);
        plan_result_free(r2);
        plan_result_free(r3);
        plan_overlay_free(o);
        plan_free(p1);
        plan_free(p2);
        alloc_unref(old);
}

/* An in-place update (a placement with the ID of a live alloc) replaces it: its
 * resources count once, from the node's kept usage less the replaced version. */
Test(plan, in_place_update_counts_the_alloc_once) {
        struct alloc *old = fx_alloc("a-0", job, "n1", 0, 600, 600);
        state_upsert_allocs(st, 3, &old, 1);
        alloc_unref(old);
        const char *nodes[] = {"n1"};
        struct plan *p = mkplan("e1", nodes, 1, "a"); /* a-0 again, 600 of 1000 */
        struct plan_result *r = plan_fixture_commit(st, p, 0);
        cr_assert(plan_result_rejected(r, "n1"), "without the stored create index a-0 is new: 600 + 600");
        plan_result_free(r);
        plan_free(p);
        p = mkplan("e1", nodes, 1, "a");
        p->nodes[0].place[0]->create_index = 3; /* an in-place update, as the scheduler's */
        cr_assert_eq(plan_evaluate(st, p, &r, NULL), 0);
        cr_assert_not(plan_result_rejected(r, "n1"), "600 replaced by 600 fits in 1000");
        plan_result_free(r);
        plan_free(p);
        p = mkplan("e2", nodes, 1, "b"); /* a new alloc: 600 + 600 */
        cr_assert_eq(plan_evaluate(st, p, &r, NULL), 0);
        cr_assert(plan_result_rejected(r, "n1"));
        plan_result_free(r);
        plan_free(p);
}

static struct alloc *holding(const char *id, const char *node, const char *allocated) {
        struct alloc *a = fx_alloc(id, job, node, 0, 100, 100);
        a->client_status = ALLOC_CLIENT_PENDING;
        a->allocated = json_loads(allocated, 0, NULL);
        cr_assert_not_null(a->allocated);
        return a;
}

static struct plan *plan_of(const char *eval_id, struct alloc *a) {
        struct plan *p = plan_new(eval_id, "token", job);
        p->snapshot_index = state_latest_index(st);
        cr_assert_eq(plan_add_place(p, a), 0);
        alloc_unref(a);
        return p;
}

#define PORT(n) "{\"Shared\":{\"Ports\":[{\"Label\":\"http\",\"Value\":" #n "}]}}"
#define GPU(id) "{\"Tasks\":{\"t\":{\"Devices\":[{\"Name\":\"gpu\",\"DeviceIDs\":[\"" id "\"]}]}}}"

/* A port committed on the node (by a plan built from an older snapshot) cannot be
 * given again; another port, or the same port on another node, can. */
Test(plan, a_port_already_held_on_the_node_is_rejected) {
        struct alloc *held = holding("held", "n1", PORT(20001));
        state_upsert_allocs(st, 3, &held, 1);
        alloc_unref(held);
        struct plan *same = plan_of("e1", holding("x", "n1", PORT(20001)));
        cr_assert_str_eq(plan_node_misfit(st, &same->nodes[0]), "port 20001 already allocated");
        struct plan_result *r = plan_fixture_commit(st, same, 0);
        cr_assert(plan_result_rejected(r, "n1"));
        plan_result_free(r);
        struct plan *other = plan_of("e2", holding("y", "n1", PORT(20002)));
        cr_assert_null(plan_node_misfit(st, &other->nodes[0]));
        struct plan *elsewhere = plan_of("e3", holding("z", "n2", PORT(20001)));
        cr_assert_null(plan_node_misfit(st, &elsewhere->nodes[0]));
        /* once the holder stops in the same plan, the port is free */
        cr_assert_eq(plan_add_stop(same, (struct alloc *)state_alloc_get(st, "held"), ALLOC_DESIRED_STOP, "stop", -1),
                     0);
        cr_assert_null(plan_node_misfit(st, &same->nodes[0]));
        plan_free(same);
        plan_free(other);
        plan_free(elsewhere);
}

/* Two plans racing (the first proposed, not yet applied) for one device instance:
 * the second is rejected on that node. */
Test(plan, racing_plans_cannot_give_one_device_instance_twice) {
        struct plan *p1 = plan_of("e1", holding("g1", "n1", GPU("gpu-0")));
        struct plan *p2 = plan_of("e2", holding("g2", "n1", GPU("gpu-0")));
        struct plan *p3 = plan_of("e3", holding("g3", "n1", GPU("gpu-1")));
        struct plan_overlay *o = plan_overlay_new();
        struct plan_result *r1 = NULL, *r2 = NULL, *r3 = NULL;
        cr_assert_eq(plan_evaluate_overlay(st, o, p1, &r1, NULL), 0);
        cr_assert_not(plan_result_rejected(r1, "n1"));
        cr_assert_eq(plan_overlay_add(o, r1), 0);
        cr_assert_eq(plan_evaluate_overlay(st, o, p2, &r2, NULL), 0);
        cr_assert(plan_result_rejected(r2, "n1"), "gpu-0 is in flight");
        cr_assert_eq(plan_evaluate_overlay(st, o, p3, &r3, NULL), 0);
        cr_assert_not(plan_result_rejected(r3, "n1"), "gpu-1 is free");
        cr_assert_eq(plan_result_apply(st, 10, r1), 0);
        plan_overlay_remove(o, r1);
        cr_assert_str_eq(plan_node_misfit(st, &p2->nodes[0]), "device gpu-0 already allocated");
        plan_result_free(r1);
        plan_result_free(r2);
        plan_result_free(r3);
        plan_overlay_free(o);
        plan_free(p1);
        plan_free(p2);
        plan_free(p3);
}

/* A job whose group network asks for mbits, and a node whose fastest host network
 * offers 1,000 Mbit/s (plenty of cpu and memory). */
static struct job *bw_job(const char *id, int mbits) {
        struct job *j = fx_job(id, JOB_SERVICE, 2, 100, 100);
        struct task_group *g = &j->groups[0];
        g->networks = calloc(1, sizeof(*g->networks));
        g->n_networks = 1;
        g->networks[0].mbits = mbits;
        state_upsert_job(st, 3, j);
        struct node *n = fx_node("bw", "dc1", 8000, 8000);
        n->networks = json_pack("[{s:s,s:s,s:i}]", "Mode", "host", "Device", "eth0", "Speed", 1000);
        state_upsert_node(st, 3, n);
        node_unref(n);
        return j;
}

static struct plan *bw_plan(const char *eval_id, struct job *j, const char *alloc_id) {
        struct plan *p = plan_new(eval_id, "token", j);
        p->snapshot_index = state_latest_index(st);
        struct alloc *a = fx_alloc(alloc_id, j, "bw", 0, 100, 100);
        a->client_status = ALLOC_CLIENT_PENDING;
        cr_assert_eq(plan_add_place(p, a), 0);
        alloc_unref(a);
        return p;
}

/* Two plans made from the same state race for the node's last bandwidth (600 + 600 of
 * 1,000 Mbit/s; cpu and memory plenty): the first, in flight, wins; the second is
 * rejected for that node, in flight or once the first is applied. A smaller ask still
 * fits, and a plan that preempts the holder in the same plan fits too. */
Test(plan, racing_plans_cannot_both_take_the_last_bandwidth) {
        struct job *j = bw_job("bwjob", 600);
        struct job *small = bw_job("small", 400);
        struct plan *p1 = bw_plan("e1", j, "bw-0");
        struct plan *p2 = bw_plan("e2", j, "bw-1");
        struct plan *p3 = bw_plan("e3", small, "small-0");
        struct plan_overlay *o = plan_overlay_new();
        struct plan_result *r1 = NULL, *r2 = NULL, *r3 = NULL;
        cr_assert_null(plan_node_misfit(st, &p2->nodes[0]), "alone, 600 of 1,000 fits");
        cr_assert_eq(plan_evaluate_overlay(st, o, p1, &r1, NULL), 0);
        cr_assert_not(plan_result_rejected(r1, "bw"));
        cr_assert_eq(plan_overlay_add(o, r1), 0);
        cr_assert_eq(plan_evaluate_overlay(st, o, p2, &r2, NULL), 0);
        cr_assert(plan_result_rejected(r2, "bw"), "600 are in flight: 600 + 600 > 1,000");
        cr_assert_eq(plan_result_count_place(r2), 0);
        cr_assert_eq(plan_evaluate_overlay(st, o, p3, &r3, NULL), 0);
        cr_assert_not(plan_result_rejected(r3, "bw"), "600 + 400 fits in 1,000");
        cr_assert_eq(plan_result_apply(st, 10, r1), 0);
        plan_overlay_remove(o, r1);
        cr_assert_str_eq(plan_node_misfit(st, &p2->nodes[0]), "network: bandwidth exceeded");
        /* the holder preempted by the same plan frees its bandwidth */
        cr_assert_eq(
            plan_add_stop(p2, (struct alloc *)state_alloc_get(st, "bw-0"), ALLOC_DESIRED_EVICT, "preempted", -1), 0);
        cr_assert_null(plan_node_misfit(st, &p2->nodes[0]));
        plan_result_free(r1);
        plan_result_free(r2);
        plan_result_free(r3);
        plan_overlay_free(o);
        plan_free(p1);
        plan_free(p2);
        plan_free(p3);
        job_unref(j);
        job_unref(small);
}

/* plan_result_apply copies the allocs the plan still holds; plan_result_apply_take inserts
 * them themselves (one object for plan, result and store), with the same outcome. */
Test(plan, apply_copies_the_allocs_a_plan_still_holds) {
        const char *nodes[] = {"n1", "n2"};
        struct plan *p = mkplan("e1", nodes, 2, "a");
        struct plan_result *r = plan_fixture_commit(st, p, 10);
        const struct alloc *stored = state_alloc_get(st, "a-0");
        cr_assert_not_null(stored);
        cr_assert_neq(stored, p->nodes[0].place[0]);
        cr_assert_eq(stored->create_index, 10);
        cr_assert_eq(p->nodes[0].place[0]->create_index, 0, "the plan's alloc is untouched");
        plan_result_free(r);
        plan_free(p);
}

Test(plan, apply_take_inserts_the_plans_allocs_without_copy) {
        const char *nodes[] = {"n1", "n2"};
        struct plan *p = mkplan("e1", nodes, 2, "b");
        struct plan_result *r = plan_fixture_commit(st, p, 0);
        cr_assert_eq(plan_result_apply_take(st, 11, r), 0);
        cr_assert_eq(p->n_nodes, 2);
        for (size_t i = 0; i < p->n_nodes; i++) {
                struct alloc *mine = p->nodes[i].place[0];
                const struct alloc *stored = state_alloc_get(st, mine->id);
                cr_assert_eq(stored, mine, "inserted itself, not a copy");
                cr_assert_eq(stored->create_index, 11);
                cr_assert_eq(stored->modify_index, 11);
        }
        plan_result_free(r);
        plan_free(p);
        /* the store's reference outlives the plan's and the result's */
        const struct alloc *b0 = state_alloc_get(st, "b-0");
        cr_assert_not_null(b0);
        cr_assert_str_eq(b0->node_id, "n1");
        cr_assert_eq(b0->create_index, 11);
        cr_assert_eq(state_node_usage(st, "n1").cpu, 600);
}

/* A plan over many nodes (one placement each, as c1m's at 5,000 nodes), some full:
 * the result holds each node once, in plan order, the full ones rejected, and one
 * apply writes every placement with the job's status and each node's usage right. */
Test(plan, many_nodes_partial_commit_applies_each_node_once) {
        enum { N = 300 };
        struct plan *p = plan_one_per_node(N, "e-many", every_third);
        struct plan_result *r = plan_fixture_commit(st, p, 0);
        cr_assert_neq(plan_result_refresh_index(r), 0);
        cr_assert_eq(r->n_rejected, N / 3);
        cr_assert_eq(r->n_nodes, N - N / 3);
        cr_assert_str_eq(r->nodes[0].node_id, "m0001");
        cr_assert_str_eq(r->nodes[1].node_id, "m0002");
        cr_assert_str_eq(r->nodes[2].node_id, "m0004");
        /* adding a node's entry again merges into it */
        cr_assert_eq(plan_result_add_node(r, &p->nodes[1]), 0);
        cr_assert_eq(r->n_nodes, N - N / 3);
        cr_assert_eq(r->nodes[0].n_place, 2);
        r->nodes[0].n_place = 1; /* (the same alloc twice: not applied) */
        alloc_unref(r->nodes[0].place[1]);
        cr_assert_eq(plan_result_apply(st, 20, r), 0);
        for (int i = 0; i < N; i++) {
                char id[16], node[16];
                snprintf(id, sizeof(id), "p%04d", i);
                snprintf(node, sizeof(node), "m%04d", i);
                cr_assert_eq(state_alloc_get(st, id) != NULL, i % 3 != 0, "%s", id);
                cr_assert_eq(state_node_usage(st, node).cpu, i % 3 != 0 ? 600 : 0);
        }
        size_t n;
        state_allocs_by_job(st, "default", "web", &n);
        cr_assert_eq(n, N - N / 3);
        cr_assert_eq(state_job_get(st, "default", "web")->status, JOB_STATUS_RUNNING);
        plan_result_free(r);
        plan_free(p);
}

/* plan_add_place_at with the node's hash and no hint, over more nodes than its filter
 * tells apart: a node new to the plan gets an entry, a node already there (the filter
 * saying maybe, or a false maybe for a new one) gets its own entry again, never a
 * second one; plan_node_find agrees. */
Test(plan, add_place_at_with_the_hash_finds_every_node_once) {
        struct plan *p = plan_new("e1", "token", job);
        enum { NODES = 3000 };
        for (int round = 0; round < 2; round++)
                for (int i = 0; i < NODES; i++) {
                        char node[16], id[32];
                        snprintf(node, sizeof(node), "n%04d", i);
                        snprintf(id, sizeof(id), "a-%d-%d", round, i);
                        struct alloc *a = fx_alloc(id, job, node, i, 10, 10);
                        size_t hint = 0;
                        cr_assert_eq(plan_add_place_at(p, a, hashmap_hash(node), &hint), 0);
                        alloc_unref(a);
                        cr_assert_str_eq(p->nodes[hint - 1].node_id, node);
                }
        cr_assert_eq(p->n_nodes, NODES);
        for (int i = 0; i < NODES; i++) {
                char node[16];
                snprintf(node, sizeof(node), "n%04d", i);
                const struct plan_node *pn = plan_node_find(p, node);
                cr_assert(pn && pn->n_place == 2, "%s", node);
                cr_assert_eq(plan_node_find_hashed(p, node, hashmap_hash(node)), pn);
        }
        plan_free(p);
}

/* A placer's remembered entry (plan_add_place_at) is used when it names the alloc's
 * node, and corrected when it does not: each alloc lands on its own node's entry. */
Test(plan, add_place_at_follows_the_node_not_a_stale_hint) {
        struct plan *p = plan_new("e1", "token", job);
        size_t hint = 0;
        struct alloc *a = fx_alloc("a-0", job, "n1", 0, 10, 10);
        cr_assert_eq(plan_add_place_at(p, a, hashmap_hash(a->node_id), &hint), 0);
        alloc_unref(a);
        cr_expect_eq(hint, 1);
        a = fx_alloc("a-1", job, "n2", 1, 10, 10);
        cr_assert_eq(plan_add_place_at(p, a, hashmap_hash(a->node_id), &hint), 0, "hint names n1, the alloc n2");
        alloc_unref(a);
        cr_expect_eq(hint, 2);
        a = fx_alloc("a-2", job, "n2", 2, 10, 10);
        cr_assert_eq(plan_add_place_at(p, a, hashmap_hash(a->node_id), &hint), 0);
        alloc_unref(a);
        size_t bogus = 99;
        a = fx_alloc("a-3", job, "n1", 3, 10, 10);
        cr_assert_eq(plan_add_place_at(p, a, hashmap_hash(a->node_id), &bogus), 0,
                     "a hint past the entries is not trusted");
        alloc_unref(a);
        cr_expect_eq(bogus, 1);
        cr_assert_eq(p->n_nodes, 2);
        const struct plan_node *n1 = plan_node_find(p, "n1"), *n2 = plan_node_find(p, "n2");
        cr_assert(n1 && n2);
        cr_expect_eq(n1->n_place, 2);
        cr_expect_eq(n2->n_place, 2);
        cr_expect_str_eq(n1->place[1]->id, "a-3");
        cr_expect_str_eq(n2->place[1]->id, "a-2");
        plan_free(p);
}
