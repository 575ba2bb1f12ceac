/* test_agent_watch.c - the server side of the agent's allocation watch, in process
 * (tests/support/api_harness): the light list (ID -> AllocModifyIndex, Nomad's
 * Node.GetClientAllocs) that the agent's own status updates do not change, and the
 * batch fetch of full allocations (Nomad's Alloc.GetAllocs), only for the node's
 * secret and only of that node's allocations. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "common/error.h"
#include "common/model.h"
#include "controlplane/state/state.h"
#include "tests/support/api_harness.h"

#define NODE_A "11111111-2222-3333-4444-55555555aaaa"
#define NODE_B "11111111-2222-3333-4444-55555555bbbb"
#define ALLOC_1 "aaaaaaaa-0000-0000-0000-000000000001"
#define ALLOC_2 "aaaaaaaa-0000-0000-0000-000000000002"
#define ALLOC_B "bbbbbbbb-0000-0000-0000-000000000001"

static struct api_harness *s;

static int req(const char *method, const char *target, const char *token, const char *body, json_t **ret_json) {
        struct api_reply r;
        s->token = token;
        api_harness_request(s, method, target, body, body ? strlen(body) : 0, &r);
        s->token = NULL;
        if (ret_json)
                *ret_json = json_loads(r.body ? r.body : "", JSON_DECODE_ANY, NULL);
        int status = r.status;
        api_reply_clear(&r);
        return status;
}

static void register_node(const char *id, const char *secret) {
        char body[1024];
        snprintf(
            body, sizeof(body),
            "{\"Node\":{\"ID\":\"%s\",\"SecretID\":\"%s\",\"Name\":\"n\",\"Datacenter\":\"dc1\","
            "\"Status\":\"ready\",\"NodeResources\":{\"Cpu\":{\"CpuShares\":4000},\"Memory\":{\"MemoryMB\":8192}}}}",
            id, secret);
        cr_assert_eq(req("PUT", "/v1/node/register", NULL, body, NULL), 200);
}

/* Placed as the plan applier would: a job copy in every allocation. */
static void place(const char *alloc_id, const char *node_id) {
        json_t *o =
            json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:{s:s,s:s,s:s,s:[{s:s,s:[{s:s,s:s}]}]}}", "ID", alloc_id, "NodeID",
                      node_id, "Namespace", "default", "JobID", "web", "TaskGroup", "g", "DesiredStatus", "run",
                      "ClientStatus", "pending", "Job", "ID", "web", "Namespace", "default", "Type", "batch",
                      "TaskGroups", "Name", "g", "Tasks", "Name", "t", "Driver", "raw_exec");
        struct alloc *a = NULL;
        struct error err = {0};
        cr_assert_eq(alloc_from_json(o, &a, &err), 0, "%s", err.msg);
        json_decref(o);
        cr_assert_eq(state_upsert_allocs(s->state, state_latest_index(s->state) + 1, &a, 1), 0);
        alloc_unref(a);
}

static void setup(void) {
        s = api_harness_new();
        cr_assert_not_null(s);
        register_node(NODE_A, "secret-a");
        register_node(NODE_B, "secret-b");
        place(ALLOC_1, NODE_A);
        place(ALLOC_2, NODE_A);
        place(ALLOC_B, NODE_B);
}

static void teardown(void) {
        api_harness_free(s);
}

TestSuite(agent_watch, .init = setup, .fini = teardown);

static uint64_t light_index_of(const char *alloc_id) {
        json_t *j = NULL;
        cr_assert_eq(req("GET", "/v1/node/" NODE_A "/allocations?light=true", "secret-a", NULL, &j), 200);
        json_t *v = json_object_get(json_object_get(j, "Allocs"), alloc_id);
        uint64_t idx = json_is_integer(v) ? (uint64_t)json_integer_value(v) : 0;
        json_decref(j);
        return idx;
}

Test(agent_watch, light_list_maps_ids_to_alloc_modify_index_without_jobs) {
        json_t *j = NULL;
        cr_assert_eq(req("GET", "/v1/node/" NODE_A "/allocations?light=true", "secret-a", NULL, &j), 200);
        json_t *m = json_object_get(j, "Allocs");
        cr_assert(json_is_object(m));
        cr_expect_eq(json_object_size(m), 2, "only node A's allocations");
        cr_expect_null(json_object_get(m, ALLOC_B));
        const struct alloc *a = state_alloc_get(s->state, ALLOC_1);
        cr_assert_not_null(a);
        cr_expect_eq(json_integer_value(json_object_get(m, ALLOC_1)), (json_int_t)a->alloc_modify_index);
        char *dump = json_dumps(j, JSON_COMPACT);
        cr_expect_null(strstr(dump, "TaskGroups"), "no job in the light list: %s", dump);
        free(dump);
        json_decref(j);
        /* the full answer stays for other clients */
        cr_assert_eq(req("GET", "/v1/node/" NODE_A "/allocations", NULL, NULL, &j), 200);
        cr_expect(json_is_array(j) && json_array_size(j) == 2);
        cr_expect(json_is_object(json_object_get(json_array_get(j, 0), "Job")));
        json_decref(j);
        cr_expect_eq(req("GET", "/v1/node/" NODE_A "/allocations?light=true", "secret-b", NULL, NULL), 403);
}

Test(agent_watch, the_agents_own_updates_leave_the_light_index_and_a_stop_moves_it) {
        uint64_t before = light_index_of(ALLOC_1);
        cr_assert_gt(before, 0);
        uint64_t mi = state_alloc_get(s->state, ALLOC_1)->modify_index;
        cr_assert_eq(
            req("PUT", "/v1/node/" NODE_A "/allocations", NULL,
                "{\"SecretID\":\"secret-a\",\"Allocs\":[{\"ID\":\"" ALLOC_1 "\",\"ClientStatus\":\"running\"}]}", NULL),
            200);
        cr_expect_gt(state_alloc_get(s->state, ALLOC_1)->modify_index, mi, "the update was applied");
        cr_expect_eq(light_index_of(ALLOC_1), before, "an agent update does not make the agent fetch again");
        cr_assert_eq(req("PUT", "/v1/allocation/" ALLOC_1 "/stop", NULL, "{}", NULL), 200);
        cr_expect_gt(light_index_of(ALLOC_1), before, "a server-side change does");
}

Test(agent_watch, batch_fetch_answers_the_nodes_allocations_in_full) {
        json_t *j = NULL;
        const char *body = "{\"AllocIDs\":[\"" ALLOC_2 "\",\"" ALLOC_B "\",\"no-such-alloc\"]}";
        cr_assert_eq(req("POST", "/v1/node/" NODE_A "/allocations/batch", "secret-a", body, &j), 200);
        cr_assert(json_is_array(j));
        cr_expect_eq(json_array_size(j), 1, "another node's and unknown IDs are left out");
        json_t *a = json_array_get(j, 0);
        cr_expect_str_eq(json_string_value(json_object_get(a, "ID")), ALLOC_2);
        cr_expect(json_is_object(json_object_get(a, "Job")), "in full, with its job");
        cr_expect(json_is_integer(json_object_get(a, "AllocModifyIndex")));
        json_decref(j);
        cr_expect_eq(req("POST", "/v1/node/" NODE_A "/allocations/batch", NULL, body, NULL), 403, "needs the secret");
        cr_expect_eq(req("POST", "/v1/node/" NODE_A "/allocations/batch", "secret-b", body, NULL), 403,
                     "another node's secret gets nothing");
        cr_expect_eq(req("POST", "/v1/node/" NODE_A "/allocations/batch", "secret-a", "{\"AllocIDs\":\"x\"}", NULL),
                     400);
        cr_expect_eq(req("POST", "/v1/node/nope/allocations/batch", "secret-a", body, NULL), 404);
        /* bounded: more IDs than ALLOC_BATCH_MAX (1024) are refused */
        json_t *ids = json_array();
        for (int i = 0; i < 1025; i++)
                json_array_append_new(ids, json_string(ALLOC_1));
        json_t *big = json_pack("{s:o}", "AllocIDs", ids);
        char *bigs = json_dumps(big, JSON_COMPACT);
        cr_expect_eq(req("POST", "/v1/node/" NODE_A "/allocations/batch", "secret-a", bigs, NULL), 400);
        free(bigs);
        json_decref(big);
}

Test(agent_watch, since_lists_only_what_changed_after_it_with_the_count) {
        json_t *j = NULL;
        cr_assert_eq(req("GET", "/v1/node/" NODE_A "/allocations?light=true", "secret-a", NULL, &j), 200);
        cr_expect_null(json_object_get(j, "Count"), "no count without since");
        json_decref(j);
        uint64_t since = state_table_index(s->state, STATE_TABLE_ALLOCS);
        char path[160];
        snprintf(path, sizeof(path), "/v1/node/" NODE_A "/allocations?light=true&since=%llu", (unsigned long long)since);
        cr_assert_eq(req("GET", path, "secret-a", NULL, &j), 200);
        cr_expect_eq(json_object_size(json_object_get(j, "Allocs")), 0, "nothing changed after it");
        cr_expect_eq(json_integer_value(json_object_get(j, "Count")), 2, "the node has two");
        json_decref(j);
        cr_assert_eq(req("PUT", "/v1/allocation/" ALLOC_2 "/stop", NULL, "{}", NULL), 200);
        place("aaaaaaaa-0000-0000-0000-000000000003", NODE_A);
        cr_assert_eq(req("GET", path, "secret-a", NULL, &j), 200);
        json_t *m = json_object_get(j, "Allocs");
        cr_expect_eq(json_object_size(m), 2, "the stopped one and the new one");
        cr_expect_not_null(json_object_get(m, ALLOC_2));
        cr_expect_null(json_object_get(m, ALLOC_1), "unchanged: left out");
        cr_expect_eq(json_integer_value(json_object_get(j, "Count")), 3);
        json_decref(j);
        /* an index the servers never reached (another history): the whole list, no count */
        snprintf(path, sizeof(path), "/v1/node/" NODE_A "/allocations?light=true&since=%llu",
                 (unsigned long long)state_table_index(s->state, STATE_TABLE_ALLOCS) + 100);
        cr_assert_eq(req("GET", path, "secret-a", NULL, &j), 200);
        cr_expect_eq(json_object_size(json_object_get(j, "Allocs")), 3);
        cr_expect_null(json_object_get(j, "Count"));
        json_decref(j);
        cr_assert_eq(req("GET", "/v1/node/" NODE_A "/allocations?light=true&since=x", "secret-a", NULL, &j), 200);
        cr_expect_eq(json_object_size(json_object_get(j, "Allocs")), 3, "a since that is no number: in full");
        json_decref(j);
}

Test(agent_watch, batch_fetch_sends_each_job_version_once_and_not_one_the_agent_holds) {
        json_t *j = NULL;
        const char *body = "{\"AllocIDs\":[\"" ALLOC_1 "\",\"" ALLOC_2 "\"]}";
        cr_assert_eq(req("POST", "/v1/node/" NODE_A "/allocations/batch", "secret-a", body, &j), 200);
        cr_assert(json_is_array(j) && json_array_size(j) == 2);
        cr_expect(json_is_object(json_object_get(json_array_get(j, 1), "Job")), "without Jobs (an older agent): all");
        json_decref(j);
        body = "{\"AllocIDs\":[\"" ALLOC_1 "\",\"" ALLOC_2 "\"],\"Jobs\":[]}";
        cr_assert_eq(req("POST", "/v1/node/" NODE_A "/allocations/batch", "secret-a", body, &j), 200);
        cr_assert(json_is_array(j) && json_array_size(j) == 2);
        json_t *a1 = json_array_get(j, 0), *a2 = json_array_get(j, 1);
        cr_expect(json_is_object(json_object_get(a1, "Job")), "the first carries the job");
        cr_expect_null(json_object_get(a2, "Job"), "the second of that version does not");
        cr_expect_str_eq(json_string_value(json_object_get(a1, "JobKey")), "default/web@0@0");
        cr_expect_str_eq(json_string_value(json_object_get(a2, "JobKey")), "default/web@0@0");
        json_decref(j);
        body = "{\"AllocIDs\":[\"" ALLOC_1 "\"],\"Jobs\":[\"default/web@0@0\"]}";
        cr_assert_eq(req("POST", "/v1/node/" NODE_A "/allocations/batch", "secret-a", body, &j), 200);
        cr_expect_null(json_object_get(json_array_get(j, 0), "Job"), "held by the agent: left out");
        json_decref(j);
        cr_expect_eq(req("POST", "/v1/node/" NODE_A "/allocations/batch", "secret-a",
                         "{\"AllocIDs\":[],\"Jobs\":\"x\"}", NULL),
                     400);
}
