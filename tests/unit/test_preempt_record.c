/* test_preempt_record.c - a committed plan that preempts: each victim records its
 * preemptor (Nomad's PreemptedByAllocation) in the store, through the raft encoding of
 * the plan result, in snapshots saved and restored, and in the API's JSON. */
#include <criterion/criterion.h>
#include <errno.h>

#include "common/error.h"
#include "common/model.h"
#include "controlplane/plan/applier.h"
#include "controlplane/state/state.h"
#include "tests/support/api_harness.h"
#include "tests/support/plan_fixture.h"
#include "tests/unit/fixtures.h"

static struct state_store *st;
static struct job *low, *high;

/* Into s, at the indexes after its latest: jobs low (priority 20) and high (80), node
 * n1 (1000 MHz / 1000 MB) holding low's v0 and v1 (400 each) and v2 (100). */
static void seed(struct state_store *s, struct job **ret_low, struct job **ret_high) {
        uint64_t idx = state_latest_index(s);
        struct job *lo = fx_job("low", JOB_SERVICE, 3, 400, 400), *hi = fx_job("high", JOB_SERVICE, 1, 800, 800);
        lo->priority = 20;
        hi->priority = 80;
        cr_assert_eq(state_upsert_job(s, ++idx, lo), 0);
        cr_assert_eq(state_upsert_job(s, ++idx, hi), 0);
        struct node *n = fx_node("n1", "dc1", 1000, 1000);
        cr_assert_eq(state_upsert_node(s, ++idx, n), 0);
        node_unref(n);
        struct alloc *a[3];
        for (int i = 0; i < 3; i++) {
                char id[16];
                snprintf(id, sizeof(id), "v%d", i);
                a[i] = fx_alloc(id, lo, "n1", i, i < 2 ? 400 : 100, i < 2 ? 400 : 100);
        }
        cr_assert_eq(state_upsert_allocs(s, ++idx, a, 3), 0);
        for (int i = 0; i < 3; i++)
                alloc_unref(a[i]);
        *ret_low = lo;
        *ret_high = hi;
}

static void setup(void) {
        st = state_create();
        seed(st, &low, &high); /* indexes 1 to 4 */
}

static void teardown(void) {
        job_unref(low);
        job_unref(high);
        state_destroy(st);
}

static const char *preempted_by(const struct state_store *s, const char *id) {
        const struct alloc *a = state_alloc_get(s, id);
        cr_assert_not_null(a, "alloc %s", id);
        const char *by = json_string_value(json_object_get(a->extra, "PreemptedByAllocation"));
        return by ? by : ""; /* absent, or "" as the JSON decoding of an alloc keeps it */
}

/* The plan a preempting scheduler makes: evict v0 and v1, place "p" listing them
 * (and "v2", which the plan does not stop: it must stay unmarked). */
static struct plan *plan_on(struct state_store *s, struct job *by, const char *place_id) {
        struct plan *p = plan_new("e1", "token", by);
        p->snapshot_index = state_latest_index(s);
        const char *desc = "Preempted by alloc ID p";
        for (int i = 0; i < 2; i++) {
                char id[16];
                snprintf(id, sizeof(id), "v%d", i);
                cr_assert_eq(plan_add_stop(p, (struct alloc *)state_alloc_get(s, id), ALLOC_DESIRED_EVICT, desc, -1),
                             0);
        }
        struct alloc *a = fx_alloc(place_id, by, "n1", 0, 800, 800);
        a->extra = json_pack("{s:[s,s,s]}", "PreemptedAllocations", "v0", "v1", "v2");
        cr_assert_eq(plan_add_place(p, a), 0);
        alloc_unref(a);
        return p;
}

static struct plan *preempting_plan(const char *place_id) {
        return plan_on(st, high, place_id);
}

TestSuite(preempt_record, .init = setup, .fini = teardown);

Test(preempt_record, victims_record_their_preemptor_through_raft_snapshots_and_the_api) {
        struct state_store *before = state_snapshot(st);
        struct plan *p = preempting_plan("p");
        struct plan_result *r = plan_fixture_commit(st, p, 0);
        struct error err = {0};
        cr_assert_eq(plan_result_count_place(r), 1, "the stops make room");
        /* as a follower applies it: decoded from the log entry */
        json_t *j = plan_result_to_json(r);
        struct plan_result *r2 = NULL;
        cr_assert_eq(plan_result_from_json(j, &r2, &err), 0, "%s", err.msg);
        cr_assert_eq(plan_result_apply(st, 10, r2), 0);

        for (int i = 0; i < 2; i++) {
                char id[16];
                snprintf(id, sizeof(id), "v%d", i);
                const struct alloc *v = state_alloc_get(st, id);
                cr_assert_eq(v->desired_status, ALLOC_DESIRED_EVICT);
                cr_assert_str_eq(preempted_by(st, id), "p", "%s", id);
                cr_assert_eq(v->modify_index, 10);
                cr_assert_eq(v->create_index, 4, "a new version of the same alloc");
        }
        cr_assert_str_empty(preempted_by(st, "v2"), "listed but not stopped by the plan: not a victim");
        cr_assert_str_empty(preempted_by(before, "v0"), "a snapshot taken before keeps the old version");
        cr_assert_str_empty(preempted_by(st, "p"));

        /* the API: the alloc and its stub show it; others show "" */
        json_t *aj = alloc_to_json(state_alloc_get(st, "v0"));
        cr_assert_str_eq(json_string_value(json_object_get(aj, "PreemptedByAllocation")), "p");
        json_decref(aj);
        aj = alloc_to_stub_json(state_alloc_get(st, "v1"));
        cr_assert_str_eq(json_string_value(json_object_get(aj, "PreemptedByAllocation")), "p");
        json_decref(aj);
        aj = alloc_to_json(state_alloc_get(st, "v2"));
        cr_assert_str_eq(json_string_value(json_object_get(aj, "PreemptedByAllocation")), "");
        json_decref(aj);

        /* a restart: saved and restored */
        json_t *saved = NULL;
        cr_assert_eq(state_save(st, &saved), 0);
        struct state_store *back = NULL;
        cr_assert_eq(state_restore(saved, &back, &err), 0, "%s", err.msg);
        cr_assert_str_eq(preempted_by(back, "v1"), "p");
        cr_assert_str_empty(preempted_by(back, "v2"));

        /* the preemptor updated in place later: no new version of its victims */
        struct alloc *again = alloc_copy(state_alloc_get(st, "p"));
        cr_assert_eq(state_upsert_allocs(st, 11, &again, 1), 0);
        alloc_unref(again);
        cr_assert_eq(state_alloc_get(st, "v0")->modify_index, 10);

        state_destroy(back);
        json_decref(saved);
        json_decref(j);
        plan_result_free(r);
        plan_result_free(r2);
        plan_free(p);
        state_destroy(before);
}

Test(preempt_record, a_rejected_preemption_marks_nothing) {
        /* the node went down: the plan's stops apply, its placement does not */
        cr_assert_eq(state_update_node_status(st, 5, "n1", NODE_DOWN, 0), 0);
        struct plan *p = preempting_plan("p");
        struct plan_result *r = plan_fixture_commit(st, p, 10);
        cr_assert_eq(plan_result_count_place(r), 0);
        cr_assert_str_empty(preempted_by(st, "v0"));
        cr_assert_str_empty(preempted_by(st, "v1"));
        plan_result_free(r);
        plan_free(p);
}

/* Through the HTTP routes: GET /v1/allocation/:id and the allocation list show the
 * victim's preemptor, and the preemptor its victims. */
API_HARNESS_SUITE(preempt_api, h);

Test(preempt_api, the_allocation_endpoints_show_who_preempted_whom) {
        struct state_store *live = h->state;
        struct job *lo, *hi;
        seed(live, &lo, &hi);
        struct plan *p = plan_on(live, hi, "p");
        struct plan_result *r = plan_fixture_commit(live, p, state_latest_index(live) + 1);

        json_t *j = NULL;
        cr_assert_eq(api_harness_call(h, "GET", "/v1/allocation/v0", NULL, &j, NULL), 200);
        cr_expect_str_eq(json_string_value(json_object_get(j, "PreemptedByAllocation")), "p");
        cr_expect_str_eq(json_string_value(json_object_get(j, "DesiredStatus")), "evict");
        json_decref(j);
        cr_assert_eq(api_harness_call(h, "GET", "/v1/allocation/v2", NULL, &j, NULL), 200);
        cr_expect_str_eq(json_string_value(json_object_get(j, "PreemptedByAllocation")), "");
        json_decref(j);
        cr_assert_eq(api_harness_call(h, "GET", "/v1/allocation/p", NULL, &j, NULL), 200);
        cr_expect_eq(json_array_size(json_object_get(j, "PreemptedAllocations")), 3, "as the scheduler listed them");
        json_decref(j);
        cr_assert_eq(api_harness_call(h, "GET", "/v1/allocations", NULL, &j, NULL), 200);
        int seen = 0;
        size_t i;
        json_t *v;
        json_array_foreach(j, i, v) {
                const char *id = json_string_value(json_object_get(v, "ID"));
                const char *by = json_string_value(json_object_get(v, "PreemptedByAllocation"));
                cr_expect(by, "%s", id);
                if (id && by && (strcmp(id, "v0") == 0 || strcmp(id, "v1") == 0)) {
                        cr_expect_str_eq(by, "p");
                        seen++;
                }
        }
        cr_expect_eq(seen, 2);
        json_decref(j);
        plan_result_free(r);
        plan_free(p);
        job_unref(lo);
        job_unref(hi);
}
