/* test_sched_reschedule.c - the `reschedule` block: policies, delays and trackers
 * (reschedule.c), the reconciler's decisions for failed allocs, and the follow-up
 * evaluation and tracker through the scheduler with a fake clock. */
#include <criterion/criterion.h>

#include "common/error.h"
#include "common/macros.h"
#include "controlplane/plan/applier.h"
#include "controlplane/scheduler/reconcile.h"
#include "controlplane/scheduler/reschedule.h"
#include "controlplane/scheduler/scheduler.h"
#include "controlplane/state/state.h"
#include "tests/unit/fixtures.h"
#include "tests/unit/live_planner.h"

#define S INT64_C(1000000000)
#define T0 (INT64_C(1700000000) * S) /* when the allocs failed */

static struct alloc *failed(const char *id, struct job *j, int index, const char *prev) {
        struct alloc *a = fx_alloc(id, j, "n1", index, 100, 100);
        a->client_status = ALLOC_CLIENT_FAILED;
        a->modify_time = T0;
        if (prev)
                a->previous_allocation = strdup(prev);
        return a;
}

/* A tracker of reschedules at the given times (seconds before T0) with the given delays. */
static void track(struct alloc *a, const int64_t *ago_s, const int64_t *delay_s, size_t n) {
        json_t *ev = json_array();
        for (size_t i = 0; i < n; i++)
                json_array_append_new(ev, json_pack("{s:I,s:I}", "RescheduleTime", (json_int_t)(T0 - ago_s[i] * S),
                                                    "Delay", (json_int_t)(delay_s[i] * S)));
        a->extra = json_pack("{s:{s:o}}", "RescheduleTracker", "Events", ev);
}

static void policy(struct job *j, const char *group_json) {
        j->groups[0].extra = json_loads(group_json, 0, NULL);
        cr_assert(j->groups[0].extra, "bad test JSON");
}

static struct reconcile_out reconcile(struct job *j, struct alloc **allocs, size_t n, int64_t now) {
        struct reconcile_in in = {.job = j, .allocs = allocs, .n_allocs = n, .batch = j->type == JOB_BATCH, .now = now};
        struct reconcile_out out;
        cr_assert_eq(sched_reconcile(&in, &out), 0);
        return out;
}

Test(sched_reschedule, defaults_per_job_type_and_overrides) {
        struct job *svc = fx_job("web", JOB_SERVICE, 1, 100, 100), *bat = fx_job("b", JOB_BATCH, 1, 100, 100);
        struct resched_policy p;
        sched_resched_policy(svc, &svc->groups[0], &p);
        cr_assert(p.unlimited && p.fn == RESCHED_EXPONENTIAL && p.delay_ns == 30 * S && p.max_delay_ns == 3600 * S);
        sched_resched_policy(bat, &bat->groups[0], &p);
        cr_assert(!p.unlimited && p.attempts == 1 && p.interval_ns == 86400 * S && p.delay_ns == 5 * S &&
                  p.fn == RESCHED_CONSTANT);
        /* job level, then group level over it */
        svc->extra =
            json_pack("{s:{s:i,s:b,s:s}}", "Reschedule", "Attempts", 3, "Unlimited", 0, "DelayFunction", "fibonacci");
        policy(svc, "{\"ReschedulePolicy\":{\"Attempts\":2,\"Delay\":7000000000}}");
        sched_resched_policy(svc, &svc->groups[0], &p);
        cr_assert(!p.unlimited && p.attempts == 2 && p.delay_ns == 7 * S && p.fn == RESCHED_FIBONACCI);
        job_unref(svc);
        job_unref(bat);
}

Test(sched_reschedule, a_delay_not_yet_passed_waits_and_asks_for_a_follow_up) {
        struct job *j = fx_job("web", JOB_SERVICE, 2, 100, 100);
        struct alloc *allocs[] = {failed("a0", j, 0, NULL), fx_alloc("a1", j, "n1", 1, 100, 100)};
        struct reconcile_out out = reconcile(j, allocs, 2, T0 + 10 * S);
        cr_assert_eq(out.n_place, 0, "the slot waits for its 30 s delay");
        cr_assert_eq(out.n_stops, 0);
        cr_assert_eq(out.followup_ns, T0 + 30 * S);
        cr_assert_eq(out.n_delayed, 1);
        cr_assert_eq(out.delayed[0].alloc, allocs[0]);
        cr_assert_eq(out.delayed[0].when, T0 + 30 * S);
        reconcile_out_free(&out);
        /* with a follow-up eval recorded, none is asked for again; that eval replaces it
         * even a little ahead of its time (Nomad's updateByReschedulable) */
        allocs[0]->extra = json_pack("{s:s}", "FollowupEvalID", "f-1");
        out = reconcile(j, allocs, 2, T0 + 10 * S);
        cr_assert_eq(out.n_place, 0);
        cr_assert_eq(out.n_delayed, 0);
        cr_assert_eq(out.followup_ns, 0);
        reconcile_out_free(&out);
        struct reconcile_in in = {.job = j, .allocs = allocs, .n_allocs = 2, .now = T0 + 28 * S, .eval_id = "f-1"};
        cr_assert_eq(sched_reconcile(&in, &out), 0);
        cr_assert_eq(out.n_place, 1, "the follow-up eval it names");
        cr_assert_eq(out.place[0].prev, allocs[0]);
        reconcile_out_free(&out);
        json_decref(allocs[0]->extra);
        allocs[0]->extra = NULL;
        out = reconcile(j, allocs, 2, T0 + 30 * S);
        cr_assert_eq(out.n_place, 1);
        cr_assert_eq(out.place[0].index, 0);
        cr_assert_eq(out.place[0].prev, allocs[0]);
        cr_assert_eq(out.followup_ns, 0);
        reconcile_out_free(&out);
        alloc_unref(allocs[0]);
        alloc_unref(allocs[1]);
        job_unref(j);
}

Test(sched_reschedule, attempts_within_the_interval_run_out) {
        struct job *j = fx_job("b", JOB_BATCH, 1, 100, 100);
        struct alloc *a = failed("a0", j, 0, NULL);
        struct alloc *allocs[] = {a};
        int64_t ago[] = {3600}, delay[] = {5};
        track(a, ago, delay, 1); /* rescheduled an hour ago: the one attempt of 24 h is used */
        struct reconcile_out out = reconcile(j, allocs, 1, T0 + 3600 * S);
        cr_assert_eq(out.n_place, 0);
        cr_assert_eq(out.followup_ns, 0, "not eligible: no follow-up");
        reconcile_out_free(&out);
        /* the same attempt 25 h ago no longer counts */
        ago[0] = 25 * 3600;
        json_decref(a->extra);
        track(a, ago, delay, 1);
        out = reconcile(j, allocs, 1, T0 + 3600 * S);
        cr_assert_eq(out.n_place, 1);
        reconcile_out_free(&out);
        /* attempts 0, not unlimited: never, and the slot stays failed */
        policy(j, "{\"ReschedulePolicy\":{\"Attempts\":0,\"Unlimited\":false}}");
        out = reconcile(j, allocs, 1, T0 + 3600 * S);
        cr_assert_eq(out.n_place, 0);
        reconcile_out_free(&out);
        /* unlimited: the attempts already made in the interval do not count */
        json_decref(j->groups[0].extra);
        policy(j, "{\"ReschedulePolicy\":{\"Attempts\":1,\"Interval\":86400000000000,\"Unlimited\":true,"
                  "\"Delay\":5000000000,\"DelayFunction\":\"constant\"}}");
        int64_t ago3[] = {7200, 5400, 3600}, delay3[] = {5, 5, 5};
        json_decref(a->extra);
        track(a, ago3, delay3, 3);
        out = reconcile(j, allocs, 1, T0 + 3600 * S);
        cr_assert_eq(out.n_place, 1, "three attempts in the interval, attempts 1, unlimited");
        reconcile_out_free(&out);
        json_decref(j->groups[0].extra);
        policy(j, "{\"ReschedulePolicy\":{\"Attempts\":1,\"Interval\":86400000000000,\"Unlimited\":false,"
                  "\"Delay\":5000000000,\"DelayFunction\":\"constant\"}}");
        out = reconcile(j, allocs, 1, T0 + 3600 * S);
        cr_assert_eq(out.n_place, 0, "the same, limited");
        reconcile_out_free(&out);
        alloc_unref(a);
        job_unref(j);
}

Test(sched_reschedule, delay_functions_and_max_delay) {
        struct job *j = fx_job("web", JOB_SERVICE, 1, 100, 100);
        struct alloc *a = failed("a0", j, 0, NULL);
        struct resched_policy p;
        int64_t when, ago[] = {100, 50}, delays[] = {10, 20};
        sched_resched_policy(j, &j->groups[0], &p); /* exponential 30 s, max 1 h */
        cr_assert(sched_resched_when(&p, a, T0, &when));
        cr_assert_eq(when, T0 + 30 * S, "the first delay");
        track(a, ago, delays, 2);
        cr_assert(sched_resched_when(&p, a, T0, &when));
        cr_assert_eq(when, T0 + 40 * S, "exponential: twice the last delay");
        p.max_delay_ns = 35 * S;
        cr_assert(sched_resched_when(&p, a, T0, &when));
        cr_assert_eq(when, T0 + 35 * S, "capped");
        p.max_delay_ns = 0;
        p.fn = RESCHED_FIBONACCI;
        cr_assert(sched_resched_when(&p, a, T0, &when));
        cr_assert_eq(when, T0 + 30 * S, "fibonacci: the last two delays added");
        p.fn = RESCHED_CONSTANT;
        cr_assert(sched_resched_when(&p, a, T0, &when));
        cr_assert_eq(when, T0 + 30 * S);
        /* the failure time is the latest task finish when there is one */
        a->task_states = calloc(1, sizeof(*a->task_states));
        a->n_task_states = 1;
        a->task_states[0].name = strdup("t");
        a->task_states[0].finished_at = T0 + 5 * S;
        cr_assert(sched_resched_when(&p, a, T0, &when));
        cr_assert_eq(when, T0 + 35 * S);
        alloc_unref(a);
        job_unref(j);
}

Test(sched_reschedule, trackers_grow_by_one_event_and_stay_bounded) {
        struct job *j = fx_job("web", JOB_SERVICE, 1, 100, 100);
        struct alloc *a = failed("a0", j, 0, NULL);
        struct resched_policy p;
        sched_resched_policy(j, &j->groups[0], &p);
        int64_t ago[7] = {70, 60, 50, 40, 30, 20, 10}, delays[7] = {1, 2, 4, 8, 16, 32, 64};
        track(a, ago, delays, 7);
        json_t *t = sched_resched_tracker(&p, a, T0);
        json_t *ev = json_object_get(json_object_get(t, "RescheduleTracker"), "Events");
        cr_assert_eq(json_array_size(ev), 5, "an unlimited policy keeps the last 5");
        json_t *last = json_array_get(ev, 4);
        cr_assert_str_eq(json_string_value(json_object_get(last, "PrevAllocID")), "a0");
        cr_assert_str_eq(json_string_value(json_object_get(last, "PrevNodeID")), "n1");
        cr_assert_eq(json_integer_value(json_object_get(last, "Delay")), 128 * S);
        cr_assert_eq(json_integer_value(json_object_get(last, "RescheduleTime")), T0);
        json_decref(t);
        alloc_unref(a);
        job_unref(j);
}

Test(sched_reschedule, a_failed_alloc_already_replaced_is_left_alone) {
        struct job *j = fx_job("web", JOB_SERVICE, 1, 100, 100);
        /* a0 failed and was replaced by a1, which failed too: only a1 is rescheduled */
        struct alloc *allocs[] = {failed("a0", j, 0, NULL), failed("a1", j, 0, "a0")};
        struct reconcile_out out = reconcile(j, allocs, 2, T0 + 3600 * S);
        cr_assert_eq(out.n_place, 1);
        cr_assert_eq(out.place[0].prev, allocs[1]);
        reconcile_out_free(&out);
        /* a1 running: nothing to do */
        allocs[1]->client_status = ALLOC_CLIENT_RUNNING;
        out = reconcile(j, allocs, 2, T0 + 3600 * S);
        cr_assert_eq(out.n_place, 0);
        cr_assert_eq(out.n_stops, 0);
        cr_assert_eq(out.followup_ns, 0);
        reconcile_out_free(&out);
        alloc_unref(allocs[0]);
        alloc_unref(allocs[1]);
        job_unref(j);
}

/* ---- through the scheduler, with a fake clock ------------------------------------------- */

static struct state_store *live;
static uint64_t idx;
static int ids;
static int64_t clock_now;
static int evals_created;

static int64_t fake_now(void *d) {
        return clock_now;
}
static const struct clock_ops fake_clock = {fake_now, fake_now, NULL};

static struct live_store planner_store = {&live, &idx};

static int create_eval(void *data, const struct eval *ev) {
        evals_created++;
        return live_write_eval(data, ev);
}

static const struct planner_ops ops = {live_submit, live_write_eval, create_eval};

static void setup(void) {
        live = state_create();
        idx = 100;
        ids = 0;
        evals_created = 0;
}

static void teardown(void) {
        state_destroy(live);
}

static void run(const char *eval_id) {
        const struct job *j = state_job_get(live, "default", "web");
        struct eval *e = fx_eval(eval_id, j, "alloc-failure");
        state_upsert_evals(live, ++idx, &e, 1);
        struct state_store *snap = state_snapshot(live);
        struct scheduler_env env = {.clock = &fake_clock, .gen_id = live_seq_id, .id_data = &ids};
        struct error err = {0};
        cr_assert_eq(scheduler_process_env(snap, e, &ops, &planner_store, &env, &err), 0, "%s", err.msg);
        state_destroy(snap);
        eval_unref(e);
}

struct found {
        const struct eval *followup;
        int pending;
};

static bool find_followup(void *arg, const struct eval *e) {
        struct found *f = arg;
        if (e->status == EVAL_PENDING && e->wait_until) {
                f->followup = e;
                f->pending++;
        }
        return true;
}

static bool find_live(void *arg, const struct alloc *a) {
        if (!alloc_terminal(a))
                *(const struct alloc **)arg = a;
        return true;
}

TestSuite(sched_reschedule_e2e, .init = setup, .fini = teardown);

Test(sched_reschedule_e2e, follow_up_eval_then_a_replacement_with_its_tracker) {
        struct node *n = fx_node("n1", "dc1", 4000, 8192);
        cr_assert_eq(state_upsert_node(live, ++idx, n), 0);
        node_unref(n);
        struct node *n2 = fx_node("n2", "dc1", 4000, 8192);
        cr_assert_eq(state_upsert_node(live, ++idx, n2), 0);
        node_unref(n2);
        struct job *j = fx_job("web", JOB_SERVICE, 1, 100, 100);
        cr_assert_eq(state_upsert_job(live, ++idx, j), 0);
        struct alloc *a = failed("a0", j, 0, NULL);
        free(a->name);
        a->name = strdup("web.g[0]");
        cr_assert_eq(state_upsert_allocs(live, ++idx, &a, 1), 0);
        alloc_unref(a);
        job_unref(j);
        /* 10 s after the failure: nothing placed, one follow-up at T0 + 30 s */
        clock_now = T0 + 10 * S;
        run("eval-1");
        struct found f = {0};
        state_evals_by_job_foreach(live, "default", "web", find_followup, &f);
        cr_assert_eq(f.pending, 1);
        cr_assert_eq(f.followup->wait_until, T0 + 30 * S);
        cr_assert_str_eq(f.followup->triggered_by, "alloc-failure");
        cr_assert_str_eq(f.followup->previous_eval, "eval-1");
        char followup_id[ID_BUF];
        snprintf(followup_id, sizeof(followup_id), "%s", f.followup->id);
        json_t *a0 = alloc_to_json(state_alloc_get(live, "a0"));
        cr_assert_str_eq(json_string_value(json_object_get(a0, "FollowupEvalID")), followup_id,
                         "the failed alloc records its follow-up eval");
        cr_assert_str_eq(json_string_value(json_object_get(a0, "ClientStatus")), "failed");
        cr_assert_str_eq(json_string_value(json_object_get(a0, "NextAllocation")), "");
        json_decref(a0);
        const struct alloc *now_live = NULL;
        state_allocs_by_job_foreach(live, "default", "web", find_live, &now_live);
        cr_assert_null(now_live);
        /* another eval meanwhile does not ask again */
        clock_now = T0 + 20 * S;
        run("eval-2");
        f = (struct found){0};
        state_evals_by_job_foreach(live, "default", "web", find_followup, &f);
        cr_assert_eq(f.pending, 1, "one follow-up, not %d", f.pending);
        /* at the follow-up's time: the replacement, with its tracker, away from n1 */
        clock_now = T0 + 30 * S;
        run("eval-3");
        state_allocs_by_job_foreach(live, "default", "web", find_live, &now_live);
        cr_assert_not_null(now_live);
        cr_assert_str_eq(now_live->previous_allocation, "a0");
        cr_assert_str_eq(now_live->node_id, "n2", "the reschedule penalty keeps it off the node it failed on");
        json_t *js = alloc_to_json(now_live);
        json_t *ev = json_object_get(json_object_get(js, "RescheduleTracker"), "Events");
        cr_assert_eq(json_array_size(ev), 1);
        cr_assert_eq(json_integer_value(json_object_get(json_array_get(ev, 0), "Delay")), 30 * S);
        cr_assert_str_eq(json_string_value(json_object_get(json_array_get(ev, 0), "PrevAllocID")), "a0");
        cr_assert_str_eq(json_string_value(json_object_get(js, "FollowupEvalID")), "", "not inherited");
        json_decref(js);
        js = alloc_to_json(state_alloc_get(live, "a0"));
        cr_assert_str_eq(json_string_value(json_object_get(js, "NextAllocation")), now_live->id,
                         "the failed alloc names its replacement");
        cr_assert_str_eq(json_string_value(json_object_get(js, "FollowupEvalID")), followup_id);
        json_decref(js);
}

static void add_failed(struct job *j, const char *id, int index, const char *node, int64_t failed_at) {
        struct alloc *a = failed(id, j, index, NULL);
        free(a->name);
        cr_assert_geq(asprintf(&a->name, "web.g[%d]", index), 0);
        free(a->node_id);
        a->node_id = strdup(node);
        a->modify_time = failed_at;
        cr_assert_eq(state_upsert_allocs(live, ++idx, &a, 1), 0);
        alloc_unref(a);
}

static const char *followup_of(const char *alloc_id) {
        const struct alloc *a = state_alloc_get(live, alloc_id);
        const char *id = a ? json_string_value(json_object_get(a->extra, "FollowupEvalID")) : NULL;
        return id ? id : "";
}

/* Delayed reschedules due within 5 s of each other share one follow-up eval (Nomad's
 * batchedFailedAllocWindowSize), the next one gets its own; that eval replaces every
 * alloc naming it, even the one due 3 s after its WaitUntil. A failed alloc on a node
 * that is not eligible gets the eval but no attribute update (the plan applier would
 * refuse the node), and the next evaluation finds that eval again by its time. */
Test(sched_reschedule_e2e, follow_up_evals_batch_and_are_recorded_in_the_allocs) {
        static const char *const nodes[] = {"n1", "n2", "n3"};
        for (size_t i = 0; i < 3; i++) {
                struct node *n = fx_node(nodes[i], "dc1", 4000, 8192);
                cr_assert_eq(state_upsert_node(live, ++idx, n), 0);
                node_unref(n);
        }
        struct job *j = fx_job("web", JOB_SERVICE, 4, 100, 100);
        cr_assert_eq(state_upsert_job(live, ++idx, j), 0);
        add_failed(j, "a0", 0, "n1", T0);
        add_failed(j, "a1", 1, "n1", T0 + 3 * S);
        add_failed(j, "a2", 2, "n1", T0 + 20 * S);
        add_failed(j, "a3", 3, "n3", T0 + 40 * S);
        job_unref(j);
        cr_assert_eq(state_update_node_eligibility(live, ++idx, "n3", false), 0);
        clock_now = T0 + 10 * S;
        run("eval-1");
        const char *f1 = followup_of("a0"), *f2 = followup_of("a2");
        cr_assert_str_neq(f1, "");
        cr_assert_str_eq(followup_of("a1"), f1, "due 3 s later: the same batch");
        cr_assert_str_neq(f2, "");
        cr_assert_str_neq(f2, f1, "due 20 s later: a batch of its own");
        cr_assert_str_eq(followup_of("a3"), "", "on an ineligible node: no attribute update");
        cr_assert_eq(state_eval_get(live, f1)->wait_until, T0 + 30 * S);
        cr_assert_eq(state_eval_get(live, f2)->wait_until, T0 + 50 * S);
        struct found f = {0};
        state_evals_by_job_foreach(live, "default", "web", find_followup, &f);
        cr_assert_eq(f.pending, 3, "two batches and a3's");
        /* again: no new eval for a0..a2 (recorded) nor for a3 (found by its time) */
        clock_now = T0 + 12 * S;
        run("eval-2");
        f = (struct found){0};
        state_evals_by_job_foreach(live, "default", "web", find_followup, &f);
        cr_assert_eq(f.pending, 3, "still 3, not %d", f.pending);
        /* the first follow-up at its time replaces a0 and a1 (due at T0 + 33 s), not a2 */
        char f1_id[ID_BUF];
        snprintf(f1_id, sizeof(f1_id), "%s", f1);
        clock_now = T0 + 30 * S;
        run(f1_id);
        cr_assert_not_null(state_alloc_get(live, "a0")->next_allocation);
        cr_assert_not_null(state_alloc_get(live, "a1")->next_allocation);
        cr_assert_null(state_alloc_get(live, "a2")->next_allocation);
        const struct alloc *next = state_alloc_get(live, state_alloc_get(live, "a1")->next_allocation);
        cr_assert_not_null(next);
        cr_assert_str_eq(next->previous_allocation, "a1");
        cr_assert_str_eq(next->name, "web.g[1]");
}

/* Each delay function's sequence of delays over a chain of reschedules (each replacement
 * carrying sched_resched_tracker of the one before it, failing in turn), up to max_delay,
 * and how many reschedules each policy allows within its interval. */
Test(sched_reschedule, delay_sequences_and_attempts_over_a_chain) {
        static const struct {
                const char *policy;
                int64_t delays_s[8];
                int n; /* reschedules allowed (<= 8 checked) */
        } cases[] = {
            {"{\"Attempts\":8,\"Interval\":86400000000000,\"Delay\":5000000000,\"DelayFunction\":\"constant\"}",
             {5, 5, 5, 5, 5, 5, 5, 5},
             8},
            {"{\"Attempts\":8,\"Interval\":86400000000000,\"Delay\":1000000000,\"DelayFunction\":\"exponential\","
             "\"MaxDelay\":10000000000}",
             {1, 2, 4, 8, 10, 10, 10, 10},
             8},
            {"{\"Attempts\":8,\"Interval\":86400000000000,\"Delay\":1000000000,\"DelayFunction\":\"fibonacci\","
             "\"MaxDelay\":10000000000}",
             {1, 1, 2, 3, 5, 8, 10, 10},
             8},
            {"{\"Unlimited\":true,\"Attempts\":0,\"Delay\":1000000000,\"DelayFunction\":\"exponential\","
             "\"MaxDelay\":0}",
             {1, 2, 4, 8, 16, 32, 64, 128},
             8},
            {"{\"Attempts\":3,\"Interval\":86400000000000,\"Delay\":2000000000,\"DelayFunction\":\"constant\"}",
             {2, 2, 2},
             3},
            {"{\"Attempts\":0,\"Unlimited\":false}", {0}, 0},
        };
        for (size_t c = 0; c < ARRAY_SIZE(cases); c++) {
                struct job *j = fx_job("b", JOB_BATCH, 1, 100, 100);
                char body[512];
                snprintf(body, sizeof(body), "{\"ReschedulePolicy\":%s}", cases[c].policy);
                policy(j, body);
                struct resched_policy p;
                sched_resched_policy(j, &j->groups[0], &p);
                struct alloc *a = failed("a0", j, 0, NULL);
                int64_t now = T0;
                int k = 0;
                for (; k < 9; k++) {
                        int64_t when;
                        if (!sched_resched_when(&p, a, now, &when))
                                break;
                        cr_assert_lt(k, cases[c].n, "case %zu: a reschedule %d beyond the %d allowed", c, k + 1,
                                     cases[c].n);
                        cr_assert_eq(when - a->modify_time, cases[c].delays_s[k] * S, "case %zu, reschedule %d: %lld s",
                                     c, k + 1, (long long)((when - a->modify_time) / S));
                        if (k == 7)
                                break; /* the table checks 8 */
                        /* the replacement, placed at when, fails 10 s later */
                        char id[16];
                        snprintf(id, sizeof(id), "a%d", k + 1);
                        struct alloc *next = failed(id, j, 0, a->id);
                        next->extra = sched_resched_tracker(&p, a, when);
                        cr_assert_not_null(next->extra);
                        now = next->modify_time = when + 10 * S;
                        alloc_unref(a);
                        a = next;
                }
                cr_assert_eq(k == 7 ? 8 : k, cases[c].n, "case %zu: %d reschedules allowed", c, k);
                alloc_unref(a);
                job_unref(j);
        }
}
