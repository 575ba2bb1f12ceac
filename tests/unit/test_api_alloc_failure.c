/* test_api_alloc_failure.c - PUT /v1/node/:id/allocations (routes_nodes.c) over the
 * api_harness: an agent's report of a newly failed allocation commits, with the update,
 * one evaluation per job (TriggeredBy alloc-failure, the job's priority and type) when
 * the job runs and the group's reschedule policy leaves an attempt (Nomad's
 * Node.UpdateAlloc); the scheduler then applies the delay (test_sched_reschedule.c). */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common/model.h"
#include "controlplane/state/state.h"
#include "tests/support/api_harness.h"
#include "tests/unit/fixtures.h"

API_HARNESS_SUITE(api_alloc_failure, s);

#define NODE_ID API_HARNESS_NODE_ID
#define NODE API_HARNESS_NODE

static int req(const char *method, const char *target, const char *body) {
        return api_harness_call(s, method, target, body, NULL, NULL);
}

/* A job of this type (batch unless said) of groups "g" and "h" (count 1 each, priority 70)
 * with this group ReschedulePolicy JSON on "g" ("" for none). */
static void add_job_of(const char *id, const char *type, const char *policy) {
        char body[2048];
        snprintf(body, sizeof(body),
                 "{\"Job\":{\"ID\":\"%s\",\"Type\":\"%s\",\"Priority\":70,\"Datacenters\":[\"dc1\"],\"TaskGroups\":["
                 "{\"Name\":\"g\",\"Count\":1%s%s,\"Tasks\":[{\"Name\":\"t\",\"Driver\":\"raw_exec\","
                 "\"Config\":{\"command\":\"/bin/false\"},\"Resources\":{\"CPU\":100,\"MemoryMB\":64}}]},"
                 "{\"Name\":\"h\",\"Count\":1,\"Tasks\":[{\"Name\":\"t\",\"Driver\":\"raw_exec\","
                 "\"Config\":{\"command\":\"/bin/false\"},\"Resources\":{\"CPU\":100,\"MemoryMB\":64}}]}]}}",
                 id, type, *policy ? ",\"ReschedulePolicy\":" : "", policy);
        cr_assert_eq(req("PUT", "/v1/jobs", body), 200, "%s", body);
}

static void add_job(const char *id, const char *policy) {
        add_job_of(id, "batch", policy);
}

/* A running allocation of job's group on the node, with this RescheduleTracker JSON
 * (NULL: none). */
static void put_alloc(const char *id, const char *job, const char *group, const char *tracker) {
        const struct job *jb = state_job_get(s->state, "default", job);
        cr_assert_not_null(jb);
        struct alloc *a = fx_alloc(id, (struct job *)jb, NODE_ID, 0, 100, 64);
        free(a->task_group);
        free(a->name);
        a->task_group = strdup(group);
        cr_assert(asprintf(&a->name, "%s.%s[0]", job, group) > 0);
        if (tracker)
                cr_assert_not_null(a->extra = json_loads(tracker, 0, NULL));
        cr_assert_eq(state_upsert_allocs(s->state, state_latest_index(s->state) + 1, &a, 1), 0);
        alloc_unref(a);
}

/* The agent reports these allocations with this client status. */
static void report(const char *status, const char *const *ids, size_t n) {
        json_t *allocs = json_array();
        for (size_t i = 0; i < n; i++)
                json_array_append_new(allocs, json_pack("{s:s,s:s}", "ID", ids[i], "ClientStatus", status));
        json_t *body = json_pack("{s:s,s:o}", "SecretID", "s3cret", "Allocs", allocs);
        char *text = json_dumps(body, 0);
        cr_assert_eq(req("PUT", "/v1/node/" NODE_ID "/allocations", text), 200);
        free(text);
        json_decref(body);
}

struct count {
        int n;
        const struct eval *last;
};

static bool count_failure_evals(void *arg, const struct eval *e) {
        struct count *c = arg;
        if (e->triggered_by && strcmp(e->triggered_by, "alloc-failure") == 0) {
                c->n++;
                c->last = e;
        }
        return true;
}

static struct count failure_evals(const char *job) {
        struct count c = {0};
        state_evals_by_job_foreach(s->state, "default", job, count_failure_evals, &c);
        return c;
}

static void setup_node(void) {
        cr_assert_eq(req("PUT", "/v1/node/register", NODE), 200);
}

Test(api_alloc_failure, a_newly_failed_alloc_gets_one_eval_per_job_and_request) {
        setup_node();
        add_job("a", "{\"Attempts\":3,\"Interval\":86400000000000,\"Delay\":2000000000}");
        add_job("b", "");
        put_alloc("aaaaaaaa-0000-4000-8000-000000000001", "a", "g", NULL);
        put_alloc("aaaaaaaa-0000-4000-8000-000000000002", "a", "h", NULL);
        put_alloc("bbbbbbbb-0000-4000-8000-000000000001", "b", "g", NULL);
        const char *ids[] = {"aaaaaaaa-0000-4000-8000-000000000001", "aaaaaaaa-0000-4000-8000-000000000002",
                             "bbbbbbbb-0000-4000-8000-000000000001"};
        report("failed", ids, 3);
        struct count a = failure_evals("a"), b = failure_evals("b");
        cr_assert_eq(a.n, 1, "two failed allocs of job a: one eval, not %d", a.n);
        cr_assert_eq(b.n, 1, "job b (batch defaults: one attempt): one eval, not %d", b.n);
        cr_expect_eq(a.last->priority, 70);
        cr_expect_eq(a.last->type, JOB_BATCH);
        cr_expect_eq(a.last->status, EVAL_PENDING);
        cr_expect(!a.last->node_id || !*a.last->node_id, "no NodeID: %s", a.last->node_id);
        cr_expect_eq(state_alloc_get(s->state, ids[0])->client_status, ALLOC_CLIENT_FAILED, "the update is committed");
        /* reported again (the agent retries a batch): already failed, no second eval */
        report("failed", ids, 3);
        cr_expect_eq(failure_evals("a").n, 1);
        cr_expect_eq(failure_evals("b").n, 1);
}

Test(api_alloc_failure, no_eval_for_running_or_complete_allocs) {
        setup_node();
        add_job("a", "");
        put_alloc("aaaaaaaa-0000-4000-8000-000000000001", "a", "g", NULL);
        put_alloc("aaaaaaaa-0000-4000-8000-000000000002", "a", "h", NULL);
        const char *run[] = {"aaaaaaaa-0000-4000-8000-000000000001"},
                   *done[] = {"aaaaaaaa-0000-4000-8000-000000000002"};
        report("running", run, 1);
        report("complete", done, 1);
        cr_expect_eq(failure_evals("a").n, 0);
        /* a complete alloc that then reads failed is terminal already */
        report("failed", done, 1);
        cr_expect_eq(failure_evals("a").n, 0);
}

Test(api_alloc_failure, no_eval_for_a_stopped_job_nor_a_system_job) {
        setup_node();
        add_job("a", "");
        add_job_of("sys", "system", "");
        put_alloc("aaaaaaaa-0000-4000-8000-000000000001", "a", "g", NULL);
        put_alloc("dddddddd-0000-4000-8000-000000000001", "sys", "g", NULL);
        cr_assert_eq(req("DELETE", "/v1/job/a", NULL), 200);
        cr_assert(state_job_get(s->state, "default", "a")->stop);
        const char *ids[] = {"aaaaaaaa-0000-4000-8000-000000000001", "dddddddd-0000-4000-8000-000000000001"};
        report("failed", ids, 2);
        cr_expect_eq(failure_evals("a").n, 0);
        cr_expect_eq(failure_evals("sys").n, 0, "system jobs have no reschedule policy");
}

/* Nomad's RescheduleEligible: attempts used up within the interval, or attempts 0. */
Test(api_alloc_failure, no_eval_once_the_attempts_are_used_up) {
        setup_node();
        add_job("a", "{\"Attempts\":2,\"Interval\":3600000000000,\"Delay\":1000000000,\"Unlimited\":false}");
        add_job("z", "{\"Attempts\":0,\"Unlimited\":false}");
        char tracker[512];
        long long now = (long long)time(NULL) * 1000000000LL;
        snprintf(tracker, sizeof(tracker),
                 "{\"RescheduleTracker\":{\"Events\":[{\"RescheduleTime\":%lld,\"Delay\":1000000000},"
                 "{\"RescheduleTime\":%lld,\"Delay\":1000000000}]}}",
                 now - 60 * 1000000000LL, now - 30 * 1000000000LL);
        put_alloc("aaaaaaaa-0000-4000-8000-000000000001", "a", "g", tracker); /* the third of 2 attempts */
        put_alloc("cccccccc-0000-4000-8000-000000000001", "z", "g", NULL);
        const char *ids[] = {"aaaaaaaa-0000-4000-8000-000000000001", "cccccccc-0000-4000-8000-000000000001"};
        report("failed", ids, 2);
        cr_expect_eq(failure_evals("a").n, 0, "two reschedules in the hour: no third");
        cr_expect_eq(failure_evals("z").n, 0, "attempts 0");
        /* one of the two older than the interval: one attempt left */
        snprintf(tracker, sizeof(tracker),
                 "{\"RescheduleTracker\":{\"Events\":[{\"RescheduleTime\":%lld,\"Delay\":1000000000},"
                 "{\"RescheduleTime\":%lld,\"Delay\":1000000000}]}}",
                 now - 7200 * 1000000000LL, now - 30 * 1000000000LL);
        put_alloc("aaaaaaaa-0000-4000-8000-000000000002", "a", "g", tracker);
        const char *more[] = {"aaaaaaaa-0000-4000-8000-000000000002"};
        report("failed", more, 1);
        cr_expect_eq(failure_evals("a").n, 1);
}
