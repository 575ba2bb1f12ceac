/* test_api.c - the HTTP routes and the FSM together, in process (tests/support/api_harness):
 * Nomad's paths and shapes, every bad request answered 4xx with the state unchanged. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/jobspec.h"
#include "controlplane/api/http.h"
#include "controlplane/api/job_fields.h"
#include "controlplane/api/routes_internal.h"
#include "controlplane/raft/fsm.h"
#include "controlplane/state/state.h"
#include "tests/support/api_harness.h"

API_HARNESS_SUITE(api, s);

static int req(const char *method, const char *target, const char *body, json_t **ret_json) {
        return api_harness_call(s, method, target, body, ret_json, NULL);
}

#define JOB(id, extra)                                                                                                 \
        "{\"Job\":{\"ID\":\"" id "\",\"Type\":\"batch\"" extra ",\"TaskGroups\":[{\"Name\":\"g\",\"Count\":2,"           \
        "\"Tasks\":[{\"Name\":\"t\",\"Driver\":\"raw_exec\",\"Config\":{\"command\":\"/bin/true\"}}]}]}}"

Test(api, register_read_list_and_stop_a_job) {
        json_t *j = NULL;
        cr_assert_eq(req("PUT", "/v1/jobs", JOB("web", ""), &j), 200);
        cr_expect(json_is_string(json_object_get(j, "EvalID")));
        cr_expect_gt(json_integer_value(json_object_get(j, "Index")), 0);
        json_decref(j);
        cr_assert_eq(req("GET", "/v1/job/web", NULL, &j), 200);
        cr_expect_str_eq(json_string_value(json_object_get(j, "ID")), "web");
        cr_expect_eq(json_integer_value(json_object_get(json_array_get(json_object_get(j, "TaskGroups"), 0), "Count")),
                     2);
        json_decref(j);
        cr_assert_eq(req("GET", "/v1/jobs", NULL, &j), 200);
        cr_expect_eq(json_array_size(j), 1);
        json_decref(j);
        cr_assert_eq(req("GET", "/v1/jobs?prefix=w", NULL, &j), 200);
        cr_expect_eq(json_array_size(j), 1);
        json_decref(j);
        cr_assert_eq(req("GET", "/v1/job/web/evaluations", NULL, &j), 200);
        cr_expect_eq(json_array_size(j), 1, "the register made one eval");
        json_decref(j);
        cr_assert_eq(req("DELETE", "/v1/job/web", NULL, &j), 200);
        json_decref(j);
        cr_assert_eq(req("GET", "/v1/job/web", NULL, &j), 200);
        cr_expect(json_is_true(json_object_get(j, "Stop")));
        json_decref(j);
        cr_assert_eq(req("DELETE", "/v1/job/web?purge=true", NULL, NULL), 200);
        cr_expect_eq(req("GET", "/v1/job/web", NULL, NULL), 404);
}

Test(api, bad_requests_are_4xx_and_change_nothing) {
        cr_assert_eq(req("PUT", "/v1/jobs", JOB("keep", ""), NULL), 200);
        uint64_t before = state_latest_index(s->state);
        static const struct {
                const char *method, *target, *body;
                int status;
        } cases[] = {
            {"PUT", "/v1/jobs", "", 400},
            {"PUT", "/v1/jobs", "{\"Job\":", 400},
            {"PUT", "/v1/jobs", "[]", 400},
            {"PUT", "/v1/jobs", "{\"Job\":null}", 400},
            {"PUT", "/v1/jobs", JOB("x", ",\"Priority\":101"), 400},
            {"PUT", "/v1/jobs", JOB("has space", ""), 400},
            {"PUT", "/v1/jobs",
             "{\"Job\":{\"ID\":\"x\",\"TaskGroups\":[{\"Name\":\"g\",\"Count\":-1,\"Tasks\":[{\"Name\":\"t\","
             "\"Driver\":\"raw_exec\",\"Config\":{\"command\":\"x\"}}]}]}}",
             400},
            {"PUT", "/v1/jobs",
             "{\"Job\":{\"ID\":\"x\",\"TaskGroups\":[{\"Name\":\"g\",\"Tasks\":[{\"Name\":\"t\",\"Driver\":\"nonesuch\"}]}]}}",
             400},
            {"PUT", "/v1/job/other", JOB("keep", ""), 400}, /* path and body disagree */
            {"GET", "/v1/jobs?index=abc", NULL, 400},
            {"GET", "/v1/jobs?index=1&wait=forever", NULL, 400},
            {"GET", "/v1/jobs?index=1&wait=nan", NULL, 400}, /* was a NaN cast to int64 (UB) */
            {"GET", "/v1/jobs?index=1&wait=inf", NULL, 400},
            {"PUT", "/v1/jobs", "{\"Job\":{\"ID\":\"x\",\"Meta\":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["
                                "]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}}", 400}, /* depth 66 */
            {"DELETE", "/v1/nodes", NULL, 405},
            {"PATCH", "/v1/jobs", NULL, 405},
            {"GET", "/v1/job/missing", NULL, 404},
            {"GET", "/v1/allocation/missing", NULL, 404},
            {"GET", "/v1/evaluation/missing", NULL, 404},
            {"GET", "/v2/jobs", NULL, 404},
            {"GET", "/v1/nope", NULL, 404},
            {"PUT", "/v1/node/register", "{\"Node\":{}}", 400},
            {"PUT", "/v1/node/register", "{}", 400},
            {"PUT", "/v1/node/unknown/heartbeat", "{}", 404},
            {"PUT", "/v1/node/unknown/allocations", "{\"Allocs\":[]}", 404},
        };
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                struct api_reply r;
                const char *b = cases[i].body;
                api_harness_request(s, cases[i].method, cases[i].target, b, b ? strlen(b) : 0, &r);
                cr_expect_eq(r.status, cases[i].status, "%s %s: got %d (%s)", cases[i].method, cases[i].target,
                             r.status, r.body);
                cr_expect(r.body && *r.body, "%s %s: an error says why", cases[i].method, cases[i].target);
                api_reply_clear(&r);
        }
        cr_expect_eq(state_latest_index(s->state), before, "a rejected request changed the state");
}

/* A node is in the region of the servers it registers with: stamped on the node
 * (${node.region}, the node's JSON), another region refused. */
Test(api, node_registration_records_the_servers_region) {
        cr_assert_eq(api_harness_set_identity(s, "eu-west", "dc1", "s1"), 0);
        const char *node = "{\"Node\":{\"ID\":\"11111111-2222-3333-4444-555555555555\",\"SecretID\":\"s3cret\","
                           "\"Name\":\"n1\",\"Datacenter\":\"dc1\",\"Status\":\"ready\","
                           "\"NodeResources\":{\"Cpu\":{\"CpuShares\":4000},\"Memory\":{\"MemoryMB\":8192}}%s}}";
        char body[512];
        struct api_reply r;
        snprintf(body, sizeof(body), node, ",\"Region\":\"us-east\"");
        api_harness_request(s, "PUT", "/v1/node/register", body, strlen(body), &r);
        cr_expect_eq(r.status, 400, "a node of another region");
        cr_expect(r.body && strstr(r.body, "region \"us-east\" is not this cluster's region \"eu-west\""), "%s",
                  r.body);
        api_reply_clear(&r);
        cr_expect_null(state_node_get(s->state, "11111111-2222-3333-4444-555555555555"));
        snprintf(body, sizeof(body), node, "");
        api_harness_request(s, "PUT", "/v1/node/register", body, strlen(body), &r);
        cr_assert_eq(r.status, 200, "%s", r.body);
        api_reply_clear(&r);
        const struct node *n = state_node_get(s->state, "11111111-2222-3333-4444-555555555555");
        cr_assert_not_null(n);
        cr_expect_str_eq(n->region, "eu-west");
        json_t *j = NULL;
        cr_assert_eq(req("GET", "/v1/node/11111111-2222-3333-4444-555555555555", NULL, &j), 200);
        cr_expect_str_eq(json_string_value(json_object_get(j, "Region")), "eu-west");
        json_decref(j);
}

Test(api, node_register_heartbeat_and_allocation_updates) {
        json_t *j = NULL;
        const char *node = "{\"Node\":{\"ID\":\"11111111-2222-3333-4444-555555555555\",\"SecretID\":\"s3cret\","
                           "\"Name\":\"n1\",\"Datacenter\":\"dc1\",\"Status\":\"ready\","
                           "\"NodeResources\":{\"Cpu\":{\"CpuShares\":4000},\"Memory\":{\"MemoryMB\":8192}},"
                           "\"Drivers\":{\"raw_exec\":{\"Detected\":true,\"Healthy\":true}}}}";
        cr_assert_eq(req("PUT", "/v1/node/register", node, &j), 200);
        cr_expect_gt(json_integer_value(json_object_get(j, "HeartbeatTTL")), 0);
        json_decref(j);
        cr_assert_eq(req("GET", "/v1/nodes", NULL, &j), 200);
        cr_expect_str_eq(json_string_value(json_object_get(json_array_get(j, 0), "Status")), "ready");
        json_decref(j);
        /* the same node with another secret is refused */
        char stolen[1024];
        snprintf(stolen, sizeof(stolen), "%s", node);
        char *p = strstr(stolen, "s3cret");
        memcpy(p, "other!", 6);
        cr_expect_eq(req("PUT", "/v1/node/register", stolen, NULL), 403);
        cr_expect_eq(req("PUT", "/v1/node/11111111-2222-3333-4444-555555555555/heartbeat", "{}", NULL), 403,
                     "a heartbeat without the node's secret is refused");
        cr_expect_eq(req("PUT", "/v1/node/11111111-2222-3333-4444-555555555555/heartbeat", "{\"SecretID\":\"s3cret\"}",
                         NULL),
                     200);
        cr_assert_eq(req("GET", "/v1/node/11111111-2222-3333-4444-555555555555/allocations", NULL, &j), 200);
        cr_expect_eq(json_array_size(j), 0);
        json_decref(j);
        /* a blocking query on an unchanged table waits (the harness answers a parked one 503/504) */
        struct api_reply r;
        api_harness_request(s, "GET", "/v1/node/11111111-2222-3333-4444-555555555555/allocations?index=999999&wait=1s",
                            NULL, 0, &r);
        cr_expect(r.status == 503 || r.status == 504, "parked, not answered at once (got %d)", r.status);
        api_reply_clear(&r);
}

/* Another server's purge of the job is committed just ahead of our stop. */
static void purge_first(struct api_harness *srv, void *arg) {
        json_t *cmd = json_pack("{s:s,s:s,s:s,s:b}", "Type", "JobDeregister", "Namespace", "default", "JobID",
                                (const char *)arg, "Purge", 1);
        cr_assert_eq(fsm_apply_command(srv->fsm, state_latest_index(srv->state) + 1, cmd, NULL), 0);
        json_decref(cmd);
}

Test(api, a_write_the_state_store_rejects_is_answered_with_its_error) {
        cr_assert_eq(req("PUT", "/v1/jobs", JOB("racy", ""), NULL), 200);
        api_harness_before_apply(s, purge_first, "racy");
        struct api_reply r;
        api_harness_request(s, "DELETE", "/v1/job/racy", NULL, 0, &r);
        cr_expect_eq(r.status, 404, "a stop of a job purged meanwhile: got %d (%s)", r.status, r.body);
        cr_expect(r.body && strstr(r.body, "JobDeregister of job \"racy\"") && strstr(r.body, "not found"),
                  "the answer says what was rejected and why: %s", r.body);
        api_reply_clear(&r);
        /* the same stop without the race is accepted */
        cr_assert_eq(req("PUT", "/v1/jobs", JOB("calm", ""), NULL), 200);
        cr_expect_eq(req("DELETE", "/v1/job/calm", NULL, NULL), 200);
}

Test(api, fsm_rejection_carries_the_code_and_message) {
        struct error err = {0};
        json_t *cmd = json_pack("{s:s,s:s,s:s,s:I}", "Type", "NodeStatusUpdate", "NodeID", "no-such-node", "Status",
                                "down", "UpdatedAt", (json_int_t)1);
        cr_expect_eq(fsm_apply_command(s->fsm, state_latest_index(s->state) + 1, cmd, &err), -ENOENT);
        cr_expect(strstr(err.msg, "NodeStatusUpdate of node \"no-such-node\""), "%s", err.msg);
        json_decref(cmd);
        cmd = json_pack("{s:s}", "Type", "Nonesuch");
        cr_expect_eq(fsm_apply_command(s->fsm, 1, cmd, &err), -EINVAL);
        cr_expect(strstr(err.msg, "unknown command type"), "%s", err.msg);
        json_decref(cmd);
}

/* The "leader" answers what a forwarded write would get. */
static int fake_leader(struct api_harness *h, struct http_req *req) {
        (void)h;
        http_req_respond_bytes(req, 200, "application/json", "{\"Index\":77}", 12, 77);
        return 0;
}

Test(api, a_follower_forwards_writes_and_consistent_reads_and_answers_stale_reads_itself) {
        cr_assert_eq(req("PUT", "/v1/jobs", JOB("local", ""), NULL), 200);
        s->leader = false;
        /* no leader known: a write and a consistent read are refused, a stale read is
         * answered from this server's state with KnownLeader false */
        struct api_reply r;
        api_harness_request(s, "PUT", "/v1/jobs", JOB("w", ""), strlen(JOB("w", "")), &r);
        cr_expect_eq(r.status, 500, "got %d", r.status);
        cr_expect(strstr(r.body, "No cluster leader"), "%s", r.body);
        api_reply_clear(&r);
        api_harness_request(s, "GET", "/v1/jobs", NULL, 0, &r);
        cr_expect_eq(r.status, 500, "a consistent read needs the leader: got %d", r.status);
        cr_expect(strstr(r.body, "No cluster leader"), "%s", r.body);
        api_reply_clear(&r);
        api_harness_request(s, "GET", "/v1/jobs?stale", NULL, 0, &r);
        cr_expect_eq(r.status, 200);
        cr_expect(!r.leader_known);
        cr_expect(strstr(r.body, "\"local\""), "stale reads are local: %s", r.body);
        api_reply_clear(&r);
        api_harness_request(s, "GET", "/v1/status/leader", NULL, 0, &r);
        cr_expect_eq(r.status, 200, "status paths are always local");
        api_reply_clear(&r);
        /* a leader is known: writes go to it and its answer comes back as it is */
        s->forward = fake_leader;
        uint64_t before = state_latest_index(s->state);
        api_harness_request(s, "PUT", "/v1/jobs", JOB("w", ""), strlen(JOB("w", "")), &r);
        cr_expect_eq(r.status, 200);
        cr_expect_eq(r.index, 77, "the leader's X-Nomad-Index");
        api_reply_clear(&r);
        cr_expect_eq(req("DELETE", "/v1/job/local", NULL, NULL), 200);
        cr_expect_eq(s->forwarded, 2, "both writes forwarded");
        cr_expect_eq(state_latest_index(s->state), before, "a follower applies nothing itself");
        /* so do consistent reads; stale ones stay here; both carry the leader headers */
        api_harness_request(s, "GET", "/v1/jobs", NULL, 0, &r);
        cr_expect_eq(r.index, 77, "the leader answered the consistent read");
        cr_expect(r.leader_known);
        cr_expect_eq(r.last_contact_ms, 42);
        api_reply_clear(&r);
        cr_expect_eq(s->forwarded, 3);
        api_harness_request(s, "GET", "/v1/job/local?stale=true", NULL, 0, &r);
        cr_expect_eq(r.status, 200);
        cr_expect(strstr(r.body, "\"local\""), "%s", r.body);
        cr_expect(r.leader_known);
        cr_expect_eq(r.last_contact_ms, 42);
        api_reply_clear(&r);
        cr_expect_eq(s->forwarded, 3, "a stale read is not forwarded");
        /* a request forwarded once is not sent on again */
        api_harness_request(s, "PUT", "/v1/jobs?drover-forwarded=1", JOB("w", ""), strlen(JOB("w", "")), &r);
        cr_expect_eq(r.status, 500);
        cr_expect_eq(s->forwarded, 3);
        api_reply_clear(&r);
}

/* A node that registers gets an eval for every system job (and none for others). */
Test(api, node_register_makes_evals_for_system_jobs) {
        json_t *j = NULL;
        cr_assert_eq(req("PUT", "/v1/jobs",
                         "{\"Job\":{\"ID\":\"sys\",\"Type\":\"system\",\"TaskGroups\":[{\"Name\":\"g\",\"Tasks\":"
                         "[{\"Name\":\"t\",\"Driver\":\"raw_exec\",\"Config\":{\"command\":\"/bin/true\"}}]}]}}",
                         NULL),
                     200);
        cr_assert_eq(req("PUT", "/v1/jobs", JOB("web", ""), NULL), 200);
        const char *node = "{\"Node\":{\"ID\":\"11111111-2222-3333-4444-555555555556\",\"SecretID\":\"s3cret\","
                           "\"Name\":\"n2\",\"Datacenter\":\"dc1\",\"Status\":\"ready\","
                           "\"NodeResources\":{\"Cpu\":{\"CpuShares\":4000},\"Memory\":{\"MemoryMB\":8192}},"
                           "\"Drivers\":{\"raw_exec\":{\"Detected\":true,\"Healthy\":true}}}}";
        cr_assert_eq(req("PUT", "/v1/node/register", node, NULL), 200);
        cr_assert_eq(req("GET", "/v1/job/sys/evaluations", NULL, &j), 200);
        cr_assert_eq(json_array_size(j), 2, "the register's eval and the node's");
        int node_update = 0;
        size_t i;
        json_t *e;
        json_array_foreach(j, i, e) {
                if (strcmp(json_string_value(json_object_get(e, "TriggeredBy")), "node-update") == 0) {
                        node_update++;
                        cr_expect_str_eq(json_string_value(json_object_get(e, "NodeID")),
                                         "11111111-2222-3333-4444-555555555556");
                }
        }
        cr_expect_eq(node_update, 1);
        json_decref(j);
        cr_assert_eq(req("GET", "/v1/job/web/evaluations", NULL, &j), 200);
        cr_expect_eq(json_array_size(j), 1, "a service job gets no node eval");
        json_decref(j);
}

/* ---- a job's JSON with a field Nomad's API does not have is refused with its path
 * (routes_jobs.c job_json_check_fields), while what Nomad's tools send (`nomad job run
 * -output`, the conformance corpus) and drover's own job read are accepted ---------- */

static int req_text(const char *method, const char *target, const char *body, char **ret_text) {
        return api_harness_call(s, method, target, body, NULL, ret_text);
}

#define F_TASK "{\"Name\":\"t\",\"Driver\":\"raw_exec\",\"Config\":{\"command\":\"x\"}%s}"
#define F_GROUP "{\"Name\":\"g\",\"Count\":1%s,\"Tasks\":[" F_TASK "]}"
#define F_JOB "{\"Job\":{\"ID\":\"web\",\"Type\":\"batch\",\"Datacenters\":[\"dc1\"]%s,\"TaskGroups\":[" F_GROUP "]}}"

static void expect_refused(const char *job_extra, const char *group_extra, const char *task_extra, const char *want) {
        char body[1024], *text = NULL;
        snprintf(body, sizeof(body), F_JOB, job_extra, group_extra, task_extra);
        cr_expect_eq(req_text("PUT", "/v1/jobs", body, &text), 400, "%s", body);
        cr_expect_str_eq(text, want);
        free(text);
        /* validate says the same, in ValidationErrors */
        cr_expect_eq(req_text("PUT", "/v1/validate/job", body, &text), 200);
        cr_expect(strstr(text, want) != NULL || strstr(text, "unknown field") != NULL, "%s", text);
        free(text);
        cr_expect_eq(req_text("PUT", "/v1/job/web/plan", body, NULL), 400);
}

Test(api, job_fields_an_unknown_field_is_refused_with_its_path) {
        expect_refused(",\"Datacenter\":\"dc1\"", "", "", "Job: unknown field \"Datacenter\"");
        expect_refused("", ",\"Cout\":2", "", "Job.TaskGroups[0]: unknown field \"Cout\"");
        expect_refused("", "", ",\"Comand\":\"x\"", "Job.TaskGroups[0].Tasks[0]: unknown field \"Comand\"");
        expect_refused("", "", ",\"Resources\":{\"CPU\":100,\"MemoryMb\":64}",
                       "Job.TaskGroups[0].Tasks[0].Resources: unknown field \"MemoryMb\"");
        expect_refused("", ",\"Constraints\":[{\"LTarget\":\"${attr.kernel.name}\",\"RTarget\":\"linux\",\"Op\":\"=\"}]", "",
                       "Job.TaskGroups[0].Constraints[0]: unknown field \"Op\"");
        expect_refused(",\"Update\":{\"MaxParallel\":1,\"Canaries\":1}", "", "",
                       "Job.Update: unknown field \"Canaries\"");
        expect_refused("", ",\"Volumes\":{\"data\":{\"Type\":\"host\",\"Sourc\":\"x\"}}", "",
                       "Job.TaskGroups[0].Volumes[\"data\"]: unknown field \"Sourc\"");
        char body[1024];
        snprintf(body, sizeof(body), F_JOB, "", "", "");
        cr_expect_eq(req_text("PUT", "/v1/jobs", body, NULL), 200, "the same job without them registers");
}

/* Every nested struct: one unknown key, refused with its exact path. The extra goes
 * where F_JOB puts the job's, the group's or the task's; the error names the level's
 * path, then the path below it and the field. */
enum level { AT_JOB, AT_GROUP, AT_TASK };

static const char *const level_path[] = {"Job", "Job.TaskGroups[0]", "Job.TaskGroups[0].Tasks[0]"};

static const struct {
        enum level at;
        const char *extra, *path, *field;
} nested_cases[] = {
    /* the job's own structs (F_JOB's job extra) */
    {AT_JOB, ",\"Multiregion\":{\"Strategy\":{\"MaxParallel\":1},\"Region\":[]}", ".Multiregion", "Region"},
    {AT_JOB, ",\"Multiregion\":{\"Strategy\":{\"MaxParallel\":1,\"OnFail\":\"x\"}}", ".Multiregion.Strategy", "OnFail"},
    {AT_JOB, ",\"Multiregion\":{\"Regions\":[{\"Name\":\"a\",\"DCs\":[]}]}", ".Multiregion.Regions[0]", "DCs"},
    {AT_JOB, ",\"Periodic\":{\"Spec\":\"* * * * *\",\"Cron\":\"x\"}", ".Periodic", "Cron"},
    {AT_JOB, ",\"ParameterizedJob\":{\"Payload\":\"optional\",\"Meta\":[]}", ".ParameterizedJob", "Meta"},
    {AT_JOB, ",\"Reschedule\":{\"Attempts\":1,\"Attempt\":1}", ".Reschedule", "Attempt"},
    {AT_JOB, ",\"Migrate\":{\"MaxParallel\":1,\"Parallel\":1}", ".Migrate", "Parallel"},
    {AT_JOB, ",\"Spreads\":[{\"Attribute\":\"a\",\"Target\":[]}]", ".Spreads[0]", "Target"},
    {AT_JOB, ",\"Affinities\":[{\"LTarget\":\"a\",\"Weigth\":1}]", ".Affinities[0]", "Weigth"},
    {AT_JOB, ",\"UI\":{\"Description\":\"x\",\"Link\":[]}", ".UI", "Link"},
    {AT_JOB, ",\"UI\":{\"Links\":[{\"Label\":\"a\",\"Href\":\"x\"}]}", ".UI.Links[0]", "Href"},
    /* a group's (its group extra) */
    {AT_GROUP, ",\"Networks\":[{\"Mode\":\"host\",\"Port\":[]}]", ".Networks[0]", "Port"},
    {AT_GROUP, ",\"Networks\":[{\"DynamicPorts\":[{\"Label\":\"http\",\"Static\":80}]}]",
     ".Networks[0].DynamicPorts[0]", "Static"},
    {AT_GROUP, ",\"Networks\":[{\"ReservedPorts\":[{\"Label\":\"http\",\"Value\":80,\"Host\":\"x\"}]}]",
     ".Networks[0].ReservedPorts[0]", "Host"},
    {AT_GROUP, ",\"Networks\":[{\"DNS\":{\"Server\":[]}}]", ".Networks[0].DNS", "Server"},
    {AT_GROUP, ",\"Networks\":[{\"CNI\":{\"Arg\":{}}}]", ".Networks[0].CNI", "Arg"},
    {AT_GROUP, ",\"Volumes\":{\"data\":{\"Type\":\"host\",\"Src\":\"x\"}}", ".Volumes[\"data\"]", "Src"},
    {AT_GROUP, ",\"Volumes\":{\"data\":{\"Type\":\"csi\",\"MountOptions\":{\"FSType\":\"ext4\",\"Flags\":[]}}}",
     ".Volumes[\"data\"].MountOptions", "Flags"},
    {AT_GROUP, ",\"Services\":[{\"Name\":\"web\",\"Port\":\"http\"}]", ".Services[0]", "Port"},
    {AT_GROUP, ",\"Scaling\":{\"Min\":1,\"Max\":2,\"Policies\":{}}", ".Scaling", "Policies"},
    {AT_GROUP, ",\"Disconnect\":{\"LostAfter\":1,\"Replaces\":true}", ".Disconnect", "Replaces"},
    {AT_GROUP, ",\"Consul\":{\"Namespce\":\"x\"}", ".Consul", "Namespce"},
    {AT_GROUP, ",\"Spreads\":[{\"Attribute\":\"a\",\"SpreadTarget\":[{\"Value\":\"x\",\"Pct\":50}]}]",
     ".Spreads[0].SpreadTarget[0]", "Pct"},
    {AT_GROUP, ",\"EphemeralDisk\":{\"Size\":10}", ".EphemeralDisk", "Size"},
    {AT_GROUP, ",\"ReschedulePolicy\":{\"Unlimitted\":true}", ".ReschedulePolicy", "Unlimitted"},
    {AT_GROUP, ",\"Migrate\":{\"MinHealthy\":1}", ".Migrate", "MinHealthy"},
    {AT_GROUP, ",\"RestartPolicy\":{\"Mod\":\"fail\"}", ".RestartPolicy", "Mod"},
    /* a task's (its task extra) */
    {AT_TASK, ",\"Services\":[{\"Name\":\"s\",\"Checks\":[{\"Type\":\"http\",\"Intervall\":1}]}]",
     ".Services[0].Checks[0]", "Intervall"},
    {AT_TASK, ",\"Services\":[{\"Checks\":[{\"CheckRestart\":{\"Limit\":1,\"Graces\":1}}]}]",
     ".Services[0].Checks[0].CheckRestart", "Graces"},
    {AT_TASK, ",\"Services\":[{\"CheckRestart\":{\"Limits\":1}}]", ".Services[0].CheckRestart", "Limits"},
    {AT_TASK, ",\"Services\":[{\"Identity\":{\"Aud\":[]}}]", ".Services[0].Identity", "Aud"},
    {AT_TASK, ",\"Services\":[{\"Connect\":{\"Native\":false,\"Sidecar\":{}}}]", ".Services[0].Connect", "Sidecar"},
    {AT_TASK, ",\"Services\":[{\"Connect\":{\"SidecarService\":{\"Port\":\"x\",\"Proxi\":{}}}}]",
     ".Services[0].Connect.SidecarService", "Proxi"},
    {AT_TASK, ",\"Services\":[{\"Connect\":{\"SidecarService\":{\"Proxy\":{\"Upstream\":[]}}}}]",
     ".Services[0].Connect.SidecarService.Proxy", "Upstream"},
    {AT_TASK, ",\"Services\":[{\"Connect\":{\"SidecarService\":{\"Proxy\":{\"Upstreams\":[{\"LocalPort\":1}]}}}}]",
     ".Services[0].Connect.SidecarService.Proxy.Upstreams[0]", "LocalPort"},
    {AT_TASK,
     ",\"Services\":[{\"Connect\":{\"SidecarService\":{\"Proxy\":"
     "{\"Upstreams\":[{\"MeshGateway\":{\"Mod\":\"x\"}}]}}}}]",
     ".Services[0].Connect.SidecarService.Proxy.Upstreams[0].MeshGateway", "Mod"},
    {AT_TASK, ",\"Services\":[{\"Connect\":{\"SidecarService\":{\"Proxy\":{\"Expose\":{\"Paths\":[{\"Port\":1}]}}}}}]",
     ".Services[0].Connect.SidecarService.Proxy.Expose.Paths[0]", "Port"},
    {AT_TASK, ",\"Services\":[{\"Connect\":{\"SidecarTask\":{\"Driver\":\"docker\",\"Image\":\"x\"}}}]",
     ".Services[0].Connect.SidecarTask", "Image"},
    {AT_TASK, ",\"Services\":[{\"Connect\":{\"SidecarTask\":{\"Resources\":{\"Memory\":1}}}}]",
     ".Services[0].Connect.SidecarTask.Resources", "Memory"},
    {AT_TASK, ",\"Templates\":[{\"DestPath\":\"x\",\"Destination\":\"y\"}]", ".Templates[0]", "Destination"},
    {AT_TASK, ",\"Templates\":[{\"Wait\":{\"Min\":1,\"Maxi\":2}}]", ".Templates[0].Wait", "Maxi"},
    {AT_TASK, ",\"Templates\":[{\"ChangeScript\":{\"Command\":\"x\",\"Arg\":[]}}]", ".Templates[0].ChangeScript",
     "Arg"},
    {AT_TASK, ",\"Artifacts\":[{\"GetterSource\":\"x\",\"Source\":\"y\"}]", ".Artifacts[0]", "Source"},
    {AT_TASK, ",\"Vault\":{\"Policies\":[],\"Policy\":\"x\"}", ".Vault", "Policy"},
    {AT_TASK, ",\"Lifecycle\":{\"Hook\":\"prestart\",\"SideCar\":true}", ".Lifecycle", "SideCar"},
    {AT_TASK, ",\"DispatchPayload\":{\"Files\":\"x\"}", ".DispatchPayload", "Files"},
    {AT_TASK, ",\"VolumeMounts\":[{\"Volume\":\"v\",\"Dest\":\"/x\"}]", ".VolumeMounts[0]", "Dest"},
    {AT_TASK, ",\"CSIPluginConfig\":{\"ID\":\"x\",\"Kind\":\"node\"}", ".CSIPluginConfig", "Kind"},
    {AT_TASK, ",\"ScalingPolicies\":[{\"Min\":1,\"Minimum\":1}]", ".ScalingPolicies[0]", "Minimum"},
    {AT_TASK, ",\"Identity\":{\"Name\":\"x\",\"Audiences\":[]}", ".Identity", "Audiences"},
    {AT_TASK, ",\"Identities\":[{\"Name\":\"x\",\"Ttl\":1}]", ".Identities[0]", "Ttl"},
    {AT_TASK, ",\"Actions\":[{\"Name\":\"a\",\"Cmd\":\"x\"}]", ".Actions[0]", "Cmd"},
    {AT_TASK, ",\"Consul\":{\"Clusters\":\"x\"}", ".Consul", "Clusters"},
    {AT_TASK, ",\"Secrets\":[{\"Name\":\"a\",\"Provide\":\"x\"}]", ".Secrets[0]", "Provide"},
    {AT_TASK, ",\"LogConfig\":{\"MaxFile\":1}", ".LogConfig", "MaxFile"},
    {AT_TASK, ",\"Affinities\":[{\"Operator\":\"=\"}]", ".Affinities[0]", "Operator"},
    {AT_TASK, ",\"Resources\":{\"Networks\":[{\"MBits\":10,\"Ports\":[]}]}", ".Resources.Networks[0]", "Ports"},
    {AT_TASK, ",\"Resources\":{\"Networks\":[{\"ReservedPorts\":[{\"Label\":\"a\",\"Static\":1}]}]}",
     ".Resources.Networks[0].ReservedPorts[0]", "Static"},
    {AT_TASK, ",\"Resources\":{\"Devices\":[{\"Name\":\"nvidia/gpu\",\"Cnt\":1}]}", ".Resources.Devices[0]", "Cnt"},
    {AT_TASK, ",\"Resources\":{\"Devices\":[{\"Name\":\"gpu\",\"Constraints\":[{\"Op\":\"=\"}]}]}",
     ".Resources.Devices[0].Constraints[0]", "Op"},
    {AT_TASK, ",\"Resources\":{\"NUMA\":{\"Affinity\":\"x\",\"Device\":[]}}", ".Resources.NUMA", "Device"},
};

/* Case i's extras (job, group, task: F_JOB's three) and the error it must get. */
static void nested_case(size_t i, const char *ret_extra[3], char *want, size_t want_size) {
        ret_extra[0] = ret_extra[1] = ret_extra[2] = "";
        ret_extra[nested_cases[i].at] = nested_cases[i].extra;
        snprintf(want, want_size, "%s%s: unknown field \"%s\"", level_path[nested_cases[i].at], nested_cases[i].path,
                 nested_cases[i].field);
}

Test(api, job_fields_every_nested_struct_refuses_an_unknown_field_with_its_path) {
        const char *x[3];
        char body[2048], want[256];
        for (size_t i = 0; i < sizeof(nested_cases) / sizeof(nested_cases[0]); i++) {
                nested_case(i, x, want, sizeof(want));
                snprintf(body, sizeof(body), F_JOB, x[0], x[1], x[2]);
                json_error_t je;
                json_t *b = json_loads(body, 0, &je);
                cr_assert_not_null(b, "case %zu: %s: %s", i, body, je.text);
                struct error err = {0};
                cr_expect_eq(job_json_check_fields(json_object_get(b, "Job"), &err), -EINVAL, "case %zu: %s", i, body);
                cr_expect_str_eq(err.msg, want, "case %zu", i);
                json_decref(b);
        }
        /* and through the API: the register answers the same (a group's case, a task's) */
        cr_assert_eq(nested_cases[12].at, AT_GROUP);
        cr_assert_eq(nested_cases[27].at, AT_TASK);
        for (size_t i = 12; i <= 27; i += 15) {
                nested_case(i, x, want, sizeof(want));
                expect_refused(x[0], x[1], x[2], want);
        }
}

/* The same structs with Nomad's names only, and free-form maps holding any key: accepted. */
Test(api, job_fields_nomads_names_and_free_form_maps_are_accepted) {
        static const char *const job_extra =
            ",\"Meta\":{\"anything\":\"x\"},\"Multiregion\":{\"Strategy\":{\"MaxParallel\":1,\"OnFailure\":\"fail_all\"},"
            "\"Regions\":[{\"Name\":\"east\",\"Count\":1,\"Datacenters\":[\"dc1\"],\"NodePool\":\"default\",\"Meta\":{\"k\":\"v\"}}]},"
            "\"UI\":{\"Description\":\"d\",\"Links\":[{\"Label\":\"l\",\"URL\":\"u\"}]}";
        static const char *const group_extra =
            ",\"Networks\":[{\"Mode\":\"bridge\",\"Hostname\":\"h\",\"DNS\":{\"Servers\":[\"1.1.1.1\"],\"Searches\":[],"
            "\"Options\":[]},\"CNI\":{\"Args\":{\"any\":\"x\"}},\"DynamicPorts\":[{\"Label\":\"http\",\"To\":8080,"
            "\"HostNetwork\":\"default\",\"IgnoreCollision\":false}]}],"
            "\"Volumes\":{\"data\":{\"Name\":\"data\",\"Type\":\"csi\",\"Source\":\"s\",\"AccessMode\":\"single-node-writer\","
            "\"AttachmentMode\":\"file-system\",\"PerAlloc\":true,\"MountOptions\":{\"FSType\":\"ext4\",\"MountFlags\":[]}}},"
            "\"Scaling\":{\"Min\":1,\"Max\":3,\"Enabled\":true,\"Policy\":{\"cooldown\":\"1m\",\"check\":{}}},"
            "\"Disconnect\":{\"LostAfter\":1,\"Replace\":true,\"Reconcile\":\"best_score\"},"
            "\"Services\":[{\"Name\":\"web\",\"PortLabel\":\"http\",\"Provider\":\"nomad\",\"Tags\":[\"a\"],"
            "\"Checks\":[{\"Type\":\"http\",\"Path\":\"/\",\"Interval\":1,\"Timeout\":1,\"Header\":{\"X-Any\":[\"v\"]},"
            "\"CheckRestart\":{\"Limit\":3,\"Grace\":1,\"IgnoreWarnings\":false}}],"
            "\"Connect\":{\"SidecarService\":{\"Port\":\"p\",\"Proxy\":{\"Config\":{\"any\":1},\"Upstreams\":[{"
            "\"DestinationName\":\"db\",\"LocalBindPort\":5432,\"MeshGateway\":{\"Mode\":\"local\"},\"Config\":{\"x\":1}}],"
            "\"Expose\":{\"Paths\":[{\"Path\":\"/h\",\"Protocol\":\"http\",\"LocalPathPort\":1,\"ListenerPort\":\"e\"}]}}},"
            "\"SidecarTask\":{\"Driver\":\"docker\",\"Config\":{\"image\":\"x\"},\"Resources\":{\"CPU\":50},"
            "\"LogConfig\":{\"MaxFiles\":1}},\"Gateway\":{\"anything\":{}}}}]";
        static const char *const task_extra =
            ",\"Templates\":[{\"EmbeddedTmpl\":\"x\",\"DestPath\":\"local/x\",\"ChangeMode\":\"script\","
            "\"ChangeScript\":{\"Command\":\"c\",\"Args\":[],\"Timeout\":1,\"FailOnError\":true},"
            "\"Wait\":{\"Min\":1,\"Max\":2},\"Envvars\":false,\"Uid\":1,\"Gid\":1}],"
            "\"Artifacts\":[{\"GetterSource\":\"https://x\",\"GetterOptions\":{\"checksum\":\"md5:x\"},\"RelativeDest\":\"local/\"}],"
            "\"Vault\":{\"Policies\":[\"p\"],\"ChangeMode\":\"restart\"},\"Lifecycle\":{\"Hook\":\"prestart\",\"Sidecar\":false},"
            "\"DispatchPayload\":{\"File\":\"f\"},\"VolumeMounts\":[{\"Volume\":\"data\",\"Destination\":\"/d\",\"ReadOnly\":true}],"
            "\"Identity\":{\"Name\":\"default\",\"Audience\":[\"a\"],\"Env\":true},\"Identities\":[{\"Name\":\"x\",\"TTL\":1}],"
            "\"ScalingPolicies\":[{\"Type\":\"vertical_cpu\",\"Min\":1,\"Max\":2,\"Policy\":{\"any\":1}}],"
            "\"Resources\":{\"CPU\":100,\"Devices\":[{\"Name\":\"gpu\",\"Count\":1,\"Constraints\":[{\"LTarget\":\"a\"}]}],"
            "\"NUMA\":{\"Affinity\":\"require\"},\"Networks\":[{\"MBits\":10,\"ReservedPorts\":[{\"Label\":\"a\",\"Value\":1}]}]},"
            "\"Env\":{\"ANY\":\"1\"}";
        char body[8192];
        snprintf(body, sizeof(body), F_JOB, job_extra, group_extra, task_extra);
        json_error_t je;
        json_t *b = json_loads(body, 0, &je);
        cr_assert_not_null(b, "%s", je.text);
        struct error err = {0};
        cr_expect_eq(job_json_check_fields(json_object_get(b, "Job"), &err), 0, "%s", err.msg);
        json_decref(b);
}

Test(api, job_fields_a_job_read_registers_again_unchanged) {
        char body[1024], *text = NULL;
        snprintf(body, sizeof(body), F_JOB, ",\"Meta\":{\"a\":\"b\"},\"Priority\":60", ",\"Meta\":{\"c\":\"d\"}",
                 ",\"Env\":{\"E\":\"1\"},\"KillTimeout\":5000000000");
        cr_assert_eq(req_text("PUT", "/v1/jobs", body, NULL), 200);
        cr_assert_eq(req_text("GET", "/v1/job/web", NULL, &text), 200);
        json_t *job = json_loads(text, 0, NULL);
        free(text);
        cr_assert_not_null(job);
        struct error err = {0};
        cr_expect_eq(job_json_check_fields(job, &err), 0, "%s", err.msg);
        json_t *wrapped = json_pack("{s:o}", "Job", job);
        char *again = json_dumps(wrapped, JSON_COMPACT);
        json_decref(wrapped);
        cr_expect_eq(req_text("PUT", "/v1/job/web", again, &text), 200, "%s", text);
        free(text);
        free(again);
}

Test(api, job_fields_nomads_output_and_the_corpus_are_accepted) {
        const char *dir = "tests/conformance/nomad-jobspecs";
        json_error_t je;
        char path[512];
        snprintf(path, sizeof(path), "%s/example-short.json", dir);
        json_t *out = json_load_file(path, 0, &je);
        cr_assert_not_null(out, "%s: %s", path, je.text);
        struct error err = {0};
        cr_expect_eq(job_json_check_fields(json_object_get(out, "Job"), &err), 0, "nomad job run -output: %s", err.msg);
        json_decref(out);
        DIR *d = opendir(dir);
        cr_assert_not_null(d);
        int checked = 0, registered = 0;
        struct dirent *e;
        while ((e = readdir(d))) {
                size_t n = strlen(e->d_name);
                if (!(n > 4 && strcmp(e->d_name + n - 4, ".hcl") == 0) && !(n > 6 && strcmp(e->d_name + n - 6, ".nomad") == 0))
                        continue;
                snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
                json_t *j = NULL;
                if (jobspec_parse_file(path, &j, &err) < 0)
                        continue; /* files drover refuses are test_jobspec.c's business */
                cr_expect_eq(job_json_check_fields(j, &err), 0, "%s: %s", e->d_name, err.msg);
                /* registered, then read back: drover's own answer passes too */
                json_t *wrapped = json_pack("{s:O}", "Job", j);
                char *body = json_dumps(wrapped, JSON_COMPACT), *text = NULL, rpath[600];
                json_decref(wrapped);
                if (req_text("PUT", "/v1/jobs", body, NULL) == 200) {
                        snprintf(rpath, sizeof(rpath), "/v1/job/%s?namespace=%s",
                                 json_string_value(json_object_get(j, "ID")),
                                 json_is_string(json_object_get(j, "Namespace"))
                                     ? json_string_value(json_object_get(j, "Namespace"))
                                     : "default");
                        cr_expect_eq(req_text("GET", rpath, NULL, &text), 200, "%s", rpath);
                        json_t *read = json_loads(text ? text : "", 0, NULL);
                        cr_expect_eq(job_json_check_fields(read, &err), 0, "%s read back: %s", e->d_name, err.msg);
                        json_decref(read);
                        free(text);
                        registered++;
                }
                free(body);
                json_decref(j);
                checked++;
        }
        closedir(d);
        cr_expect_gt(checked, 30, "the corpus was read (%d files)", checked);
        cr_expect_gt(registered, 20, "most of it registered and was read back (%d)", registered);
}
