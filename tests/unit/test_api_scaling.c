/* test_api_scaling.c - /v1/job/:id/scale (status, scaling a group, error paths),
 * /v1/scaling/policies and /v1/agent/schedulers through the in-process harness. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "common/model.h"
#include "controlplane/state/state.h"
#include "tests/support/api_harness.h"

API_HARNESS_SUITE(api_scaling, s);

static int req(const char *method, const char *target, const char *body, json_t **ret_json) {
        return api_harness_call(s, method, target, body, ret_json, NULL);
}

#define JOB(scaling)                                                                                                   \
        "{\"Job\":{\"ID\":\"web\",\"Type\":\"service\",\"Datacenters\":[\"dc1\"],\"TaskGroups\":[{\"Name\":\"g\","     \
        "\"Count\":1," scaling "\"Tasks\":[{\"Name\":\"t\",\"Driver\":\"raw_exec\",\"Config\":{\"command\":\"x\"},"    \
        "\"Resources\":{\"CPU\":100,\"MemoryMB\":64}}]}]}}"

static json_t *tg(json_t *status) {
        return json_object_get(json_object_get(status, "TaskGroups"), "g");
}

Test(api_scaling, scale_makes_a_new_version_with_the_count_and_records_the_event) {
        json_t *j = NULL;
        cr_assert_eq(req("PUT", "/v1/jobs", JOB(""), NULL), 200);
        const struct job *before = state_job_get(s->state, "default", "web");
        uint64_t version = before->version;
        cr_assert_eq(req("GET", "/v1/job/web/scale", NULL, &j), 200);
        cr_expect_eq(json_integer_value(json_object_get(tg(j), "Desired")), 1);
        cr_expect_eq(json_array_size(json_object_get(tg(j), "Events")), 0);
        cr_expect(json_is_false(json_object_get(j, "JobStopped")));
        json_decref(j);

        cr_assert_eq(
            req("POST", "/v1/job/web/scale", "{\"Count\":3,\"Target\":{\"Group\":\"g\"},\"Message\":\"more\"}", &j),
            200);
        cr_expect(json_is_string(json_object_get(j, "EvalID")) && *json_string_value(json_object_get(j, "EvalID")));
        json_decref(j);
        const struct job *after = state_job_get(s->state, "default", "web");
        cr_expect_eq(after->groups[0].count, 3);
        cr_expect_gt(after->version, version, "a new version of the job");
        cr_assert_eq(req("GET", "/v1/job/web/scale", NULL, &j), 200);
        cr_expect_eq(json_integer_value(json_object_get(tg(j), "Desired")), 3);
        json_t *ev = json_array_get(json_object_get(tg(j), "Events"), 0);
        cr_expect_eq(json_integer_value(json_object_get(ev, "Count")), 3);
        cr_expect_eq(json_integer_value(json_object_get(ev, "PreviousCount")), 1);
        cr_expect_str_eq(json_string_value(json_object_get(ev, "Message")), "more");
        json_decref(j);

        /* Count null: an event only; the job stays as it is. */
        cr_assert_eq(req("POST", "/v1/job/web/scale",
                         "{\"Count\":null,\"Target\":{\"Group\":\"g\"},\"Message\":\"autoscaler down\",\"Error\":true}",
                         NULL),
                     200);
        cr_expect_eq(state_job_get(s->state, "default", "web")->groups[0].count, 3);
        cr_assert_eq(req("GET", "/v1/job/web/scale", NULL, &j), 200);
        ev = json_array_get(json_object_get(tg(j), "Events"), 0);
        cr_expect(json_is_true(json_object_get(ev, "Error")), "newest first");
        cr_expect(json_is_null(json_object_get(ev, "Count")));
        cr_expect_eq(json_array_size(json_object_get(tg(j), "Events")), 2);
        json_decref(j);
}

Test(api_scaling, bad_requests_change_nothing) {
        cr_assert_eq(req("PUT", "/v1/jobs", JOB(""), NULL), 200);
        cr_expect_eq(req("POST", "/v1/job/nope/scale", "{\"Count\":2,\"Target\":{\"Group\":\"g\"}}", NULL), 404);
        cr_expect_eq(req("GET", "/v1/job/nope/scale", NULL, NULL), 404);
        cr_expect_eq(req("POST", "/v1/job/web/scale", "{\"Count\":2}", NULL), 400, "no Target.Group");
        cr_expect_eq(req("POST", "/v1/job/web/scale", "{\"Count\":2,\"Target\":{\"Group\":\"x\"}}", NULL), 400);
        cr_expect_eq(req("POST", "/v1/job/web/scale", "{\"Count\":-1,\"Target\":{\"Group\":\"g\"}}", NULL), 400);
        cr_expect_eq(req("POST", "/v1/job/web/scale", "{\"Count\":\"2\",\"Target\":{\"Group\":\"g\"}}", NULL), 400);
        cr_expect_eq(req("POST", "/v1/job/web/scale", "{\"Count\":1000000,\"Target\":{\"Group\":\"g\"}}", NULL), 400);
        cr_expect_eq(
            req("POST", "/v1/job/web/scale", "{\"Count\":2,\"Error\":true,\"Target\":{\"Group\":\"g\"}}", NULL), 400);
        cr_expect_eq(req("POST", "/v1/job/web/scale", "{\"Count\":2,\"Target\":{\"Group\":\"g\"},\"Message\":5}", NULL),
                     400);
        cr_expect_eq(state_job_get(s->state, "default", "web")->groups[0].count, 1);
}

Test(api_scaling, policies_come_from_scaling_blocks) {
        json_t *j = NULL;
        cr_assert_eq(req("GET", "/v1/scaling/policies", NULL, &j), 200);
        cr_expect(json_is_array(j) && json_array_size(j) == 0, "no jobs, no policies");
        json_decref(j);
        cr_assert_eq(req("PUT", "/v1/jobs", JOB("\"Scaling\":{\"Min\":1,\"Max\":5,\"Enabled\":false},"), NULL), 200);
        cr_assert_eq(req("GET", "/v1/scaling/policies", NULL, &j), 200);
        cr_assert_eq(json_array_size(j), 1);
        json_t *p = json_array_get(j, 0);
        cr_expect_str_eq(json_string_value(json_object_get(json_object_get(p, "Target"), "Group")), "g");
        cr_expect_str_eq(json_string_value(json_object_get(json_object_get(p, "Target"), "Job")), "web");
        cr_expect(json_is_false(json_object_get(p, "Enabled")));
        cr_expect_str_eq(json_string_value(json_object_get(p, "Type")), "horizontal");
        char *id = strdup(json_string_value(json_object_get(p, "ID")));
        cr_expect_eq(strlen(id), 36);
        json_decref(j);
        cr_assert_eq(req("GET", "/v1/scaling/policies", NULL, &j), 200);
        cr_expect_str_eq(json_string_value(json_object_get(json_array_get(j, 0), "ID")), id, "a stable ID");
        json_decref(j);
        free(id);
        cr_assert_eq(req("GET", "/v1/scaling/policies?job=other", NULL, &j), 200);
        cr_expect_eq(json_array_size(j), 0);
        json_decref(j);
}

Test(api_scaling, agent_schedulers_lists_the_workers) {
        json_t *j = NULL;
        cr_assert_eq(req("GET", "/v1/agent/schedulers", NULL, &j), 200);
        cr_expect(json_is_string(json_object_get(j, "server_id")));
        cr_expect(json_is_array(json_object_get(j, "schedulers")));
        json_decref(j);
}
