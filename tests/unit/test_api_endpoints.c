/* test_api_endpoints.c - the endpoints beyond jobs/nodes/allocs basics, through the
 * in-process harness: agent, regions, metrics, search, parse, validate, plan,
 * evaluate. Field names and types are those Nomad's API client reads. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/model.h"
#include "controlplane/raft/fsm.h"
#include "controlplane/state/state.h"
#include "tests/support/api_harness.h"

API_HARNESS_SUITE(api_endpoints, s);

static int req(const char *method, const char *target, const char *body, json_t **ret_json, char **ret_text) {
        return api_harness_call(s, method, target, body, ret_json, ret_text);
}

#define NODE_ID API_HARNESS_NODE_ID
#define NODE API_HARNESS_NODE
#define SVC(id, count, mem)                                                                                            \
        "{\"Job\":{\"ID\":\"" id "\",\"Type\":\"service\",\"Datacenters\":[\"dc1\"],\"TaskGroups\":[{\"Name\":\"g\","  \
        "\"Count\":" #count                                                                                            \
        ",\"Tasks\":[{\"Name\":\"t\",\"Driver\":\"raw_exec\",\"Config\":{\"command\":\"/bin/sleep\"},"                 \
        "\"Resources\":{\"CPU\":100,\"MemoryMB\":" #mem "}}]}]}}"

static json_t *at(json_t *o, const char *a, const char *b) {
        return json_object_get(json_object_get(o, a), b);
}

Test(api_endpoints, agent_self_members_servers_health_and_regions) {
        json_t *j = NULL;
        cr_assert_eq(req("GET", "/v1/agent/self", NULL, &j, NULL), 200);
        cr_expect_str_eq(json_string_value(at(j, "config", "Region")), "global");
        cr_expect(json_is_string(at(j, "member", "Name")) && json_is_integer(at(j, "member", "Port")));
        cr_expect_eq(json_integer_value(at(j, "member", "Port")), 4647, "the harness's Raft port");
        cr_expect_str_eq(json_string_value(json_object_get(at(j, "stats", "nomad"), "server")), "true");
        json_decref(j);
        cr_assert_eq(req("GET", "/v1/agent/members", NULL, &j, NULL), 200);
        cr_expect_str_eq(json_string_value(json_object_get(j, "ServerRegion")), "global");
        cr_expect_eq(json_array_size(json_object_get(j, "Members")), 1);
        cr_expect_str_eq(json_string_value(json_object_get(json_array_get(json_object_get(j, "Members"), 0), "Status")),
                         "alive");
        json_decref(j);
        cr_assert_eq(req("GET", "/v1/agent/servers", NULL, &j, NULL), 200);
        cr_expect_str_eq(json_string_value(json_array_get(j, 0)), "127.0.0.1:4647");
        json_decref(j);
        cr_assert_eq(req("GET", "/v1/agent/health", NULL, &j, NULL), 200);
        cr_expect(json_is_true(at(j, "server", "ok")));
        json_decref(j);
        cr_assert_eq(req("GET", "/v1/regions", NULL, &j, NULL), 200);
        cr_expect_str_eq(json_string_value(json_array_get(j, 0)), "global");
        json_decref(j);
}

/* The member of Name in /v1/agent/members, or NULL. */
static json_t *member_named(json_t *members, const char *name) {
        size_t i;
        json_t *m;
        json_array_foreach(json_object_get(members, "Members"), i, m) {
                if (strcmp(json_string_value(json_object_get(m, "Name")), name) == 0)
                        return m;
        }
        return NULL;
}

Test(api_endpoints, region_datacenter_and_name_come_from_the_configuration) {
        cr_assert_eq(api_harness_set_identity(s, "eu-west", "dc-a", "s1"), 0);
        json_t *j = NULL;
        char *text = NULL;
        cr_assert_eq(req("GET", "/v1/agent/self", NULL, &j, NULL), 200);
        cr_expect_str_eq(json_string_value(at(j, "config", "Region")), "eu-west");
        cr_expect_str_eq(json_string_value(at(j, "config", "Datacenter")), "dc-a");
        cr_expect_str_eq(json_string_value(at(j, "config", "Name")), "s1");
        cr_expect_str_eq(json_string_value(at(j, "config", "NodeName")), "s1");
        cr_expect_str_eq(json_string_value(at(j, "member", "Name")), "s1.eu-west");
        cr_expect_str_eq(json_string_value(json_object_get(at(j, "member", "Tags"), "region")), "eu-west");
        cr_expect_str_eq(json_string_value(json_object_get(at(j, "member", "Tags"), "dc")), "dc-a");
        json_decref(j);
        cr_assert_eq(req("GET", "/v1/agent/members", NULL, &j, NULL), 200);
        cr_expect_str_eq(json_string_value(json_object_get(j, "ServerName")), "s1.eu-west");
        cr_expect_str_eq(json_string_value(json_object_get(j, "ServerRegion")), "eu-west");
        cr_expect_str_eq(json_string_value(json_object_get(j, "ServerDC")), "dc-a");
        cr_expect_not_null(member_named(j, "s1.eu-west"));
        json_decref(j);
        cr_assert_eq(req("GET", "/v1/regions", NULL, &j, NULL), 200);
        cr_expect_eq(json_array_size(j), 1);
        cr_expect_str_eq(json_string_value(json_array_get(j, 0)), "eu-west");
        json_decref(j);
        /* ?region=: its own is served, any other (the default "global" too) has no path */
        cr_expect_eq(req("GET", "/v1/jobs?region=eu-west", NULL, NULL, NULL), 200);
        cr_expect_eq(req("GET", "/v1/status/leader?region=eu-west", NULL, NULL, NULL), 200);
        cr_expect_eq(req("GET", "/v1/jobs?region=global", NULL, NULL, &text), 500);
        cr_expect(strstr(text, "No path to region"), "%s", text);
        free(text);
}

#define SVC_IN(id, region)                                                                                             \
        "{\"Job\":{\"ID\":\"" id "\",\"Region\":\"" region "\",\"Type\":\"service\",\"Datacenters\":[\"dc1\"],"        \
        "\"TaskGroups\":[{\"Name\":\"g\",\"Count\":1,\"Tasks\":[{\"Name\":\"t\",\"Driver\":\"raw_exec\","              \
        "\"Config\":{\"command\":\"/bin/sleep\"},\"Resources\":{\"CPU\":100,\"MemoryMB\":64}}]}]}}"

static const char *job_region(const char *id) {
        static char out[64];
        char path[128];
        json_t *j = NULL;
        snprintf(path, sizeof(path), "/v1/job/%s", id);
        out[0] = '\0';
        if (req("GET", path, NULL, &j, NULL) == 200)
                snprintf(out, sizeof(out), "%s", json_string_value(json_object_get(j, "Region")));
        json_decref(j);
        return out;
}

Test(api_endpoints, a_job_is_in_the_servers_region_and_another_region_has_no_path) {
        cr_assert_eq(api_harness_set_identity(s, "eu-west", "dc-a", "s1"), 0);
        json_t *j = NULL;
        char *text = NULL;
        /* none, "global" (the API client's default) and its own: this server's region */
        cr_assert_eq(req("PUT", "/v1/jobs", SVC("none", 1, 64), NULL, NULL), 200);
        cr_expect_str_eq(job_region("none"), "eu-west");
        cr_assert_eq(req("PUT", "/v1/jobs", SVC_IN("glob", "global"), NULL, NULL), 200);
        cr_expect_str_eq(job_region("glob"), "eu-west");
        cr_assert_eq(req("PUT", "/v1/job/own", SVC_IN("own", "eu-west"), NULL, NULL), 200);
        cr_expect_str_eq(job_region("own"), "eu-west");
        /* another: register, plan and validate answer as ?region= does; nothing committed */
        cr_expect_eq(req("PUT", "/v1/jobs", SVC_IN("far", "us-east"), NULL, &text), 500);
        cr_expect(strstr(text, "No path to region"), "%s", text);
        free(text);
        cr_expect_eq(req("PUT", "/v1/job/far/plan", SVC_IN("far", "us-east"), NULL, NULL), 500);
        cr_expect_eq(req("PUT", "/v1/validate/job", SVC_IN("far", "us-east"), NULL, &text), 500);
        cr_expect(strstr(text, "No path to region"), "%s", text);
        free(text);
        cr_expect_eq(req("GET", "/v1/job/far", NULL, NULL, NULL), 404);
        cr_assert_eq(req("GET", "/v1/jobs", NULL, &j, NULL), 200);
        cr_expect_eq(json_array_size(j), 3);
        json_decref(j);
        cr_assert_eq(req("PUT", "/v1/job/own/plan", SVC_IN("own", "global"), &j, NULL), 200);
        json_decref(j);
        cr_assert_eq(req("PUT", "/v1/validate/job", SVC_IN("v", "eu-west"), &j, NULL), 200);
        cr_expect_str_eq(json_string_value(json_object_get(j, "Error")), "");
        json_decref(j);
        /* an HCL job's region = "..." takes the same path */
        cr_assert_eq(req("PUT", "/v1/jobs/parse",
                         "{\"JobHCL\":\"job \\\"hcl\\\" {\\n region = \\\"us-east\\\"\\n datacenters = [\\\"dc1\\\"]\\n"
                         " group \\\"g\\\" {\\n task \\\"t\\\" {\\n driver = \\\"raw_exec\\\"\\n"
                         " config {\\n command = \\\"/bin/sleep\\\"\\n }\\n }\\n }\\n}\"}",
                         &j, NULL),
                     200);
        cr_assert_str_eq(json_string_value(json_object_get(j, "Region")), "us-east");
        json_t *body = json_pack("{s:O}", "Job", j);
        char *dump = json_dumps(body, 0);
        cr_expect_eq(req("PUT", "/v1/jobs", dump, NULL, NULL), 500);
        cr_expect_eq(req("GET", "/v1/job/hcl", NULL, NULL, NULL), 404);
        json_object_set_new(j, "Region", json_string("eu-west"));
        free(dump);
        dump = json_dumps(body, 0);
        cr_expect_eq(req("PUT", "/v1/jobs", dump, NULL, NULL), 200);
        cr_expect_str_eq(job_region("hcl"), "eu-west");
        free(dump);
        json_decref(body);
        json_decref(j);
}

Test(api_endpoints, on_a_global_server_a_job_stays_global) {
        cr_assert_eq(req("PUT", "/v1/jobs", SVC("none", 1, 64), NULL, NULL), 200);
        cr_expect_str_eq(job_region("none"), "global");
        cr_expect_eq(req("PUT", "/v1/jobs", SVC_IN("far", "eu-west"), NULL, NULL), 500);
        cr_expect_eq(req("GET", "/v1/job/far", NULL, NULL, NULL), 404);
}

Test(api_endpoints, the_default_identity_is_global_dc1_and_the_host_name) {
        json_t *j = NULL;
        char host[256] = "";
        cr_assert_eq(gethostname(host, sizeof(host) - 1), 0);
        cr_assert_eq(req("GET", "/v1/agent/self", NULL, &j, NULL), 200);
        cr_expect_str_eq(json_string_value(at(j, "config", "Datacenter")), "dc1");
        cr_expect_str_eq(json_string_value(at(j, "config", "Name")), host);
        char member[300];
        snprintf(member, sizeof(member), "%s.global", host);
        cr_expect_str_eq(json_string_value(at(j, "member", "Name")), member);
        json_decref(j);
        cr_expect_eq(req("GET", "/v1/jobs?region=eu-west", NULL, NULL, NULL), 500);
}

/* Three voters; this server (the harness's Raft address 127.0.0.1:4647) is a follower. */
static json_t *three_servers(struct api_harness *h) {
        (void)h;
        return json_pack("{s:I,s:[{s:s,s:s,s:b,s:b},{s:s,s:s,s:b,s:b},{s:s,s:s,s:b,s:b}]}", "Index", (json_int_t)5,
                         "Servers", "ID", "7", "Address", "127.0.0.1:5647", "Leader", true, "Voter", true, "ID", "1",
                         "Address", "127.0.0.1:4647", "Leader", false, "Voter", true, "ID", "9", "Address",
                         "127.0.0.1:6647", "Leader", false, "Voter", true);
}

Test(api_endpoints, in_a_cluster_each_server_names_itself_and_its_peers_by_raft_id) {
        s->raft_configuration = three_servers;
        cr_assert_eq(api_harness_set_identity(s, "eu-west", "dc-a", "s1"), 0);
        json_t *j = NULL;
        cr_assert_eq(req("GET", "/v1/agent/members", NULL, &j, NULL), 200);
        cr_expect_eq(json_array_size(json_object_get(j, "Members")), 3);
        cr_expect_str_eq(json_string_value(json_object_get(j, "ServerName")), "s1.eu-west");
        json_t *self = member_named(j, "s1.eu-west"), *leader = member_named(j, "server-7.eu-west");
        cr_assert(self && leader && member_named(j, "server-9.eu-west"), "%s", json_dumps(j, 0));
        cr_expect_eq(json_integer_value(json_object_get(self, "Port")), 4647);
        cr_expect_str_eq(json_string_value(json_object_get(json_object_get(self, "Tags"), "leader")), "false");
        cr_expect_str_eq(json_string_value(json_object_get(json_object_get(leader, "Tags"), "leader")), "true");
        cr_expect_str_eq(json_string_value(json_object_get(json_object_get(leader, "Tags"), "region")), "eu-west");
        json_decref(j);
        cr_assert_eq(req("GET", "/v1/agent/self", NULL, &j, NULL), 200);
        cr_expect_str_eq(json_string_value(at(j, "member", "Name")), "s1.eu-west");
        json_decref(j);
        cr_assert_eq(req("GET", "/v1/agent/servers", NULL, &j, NULL), 200);
        cr_expect_eq(json_array_size(j), 3);
        json_decref(j);
}

/* What raft/self says: server 7 told its name and datacenter, 9 is an older server
 * that tells neither, 1 (this one) its own. */
static json_t *told_names(struct api_harness *h) {
        (void)h;
        return json_pack("{s:I,s:[{s:I,s:s,s:s,s:s},{s:I,s:s},{s:I,s:s,s:s,s:s}]}", "ID", (json_int_t)1, "Servers",
                         "ID", (json_int_t)7, "HTTPAddr", "127.0.0.1:5646", "Name", "s7", "Datacenter", "dc-b", "ID",
                         (json_int_t)9, "HTTPAddr", "127.0.0.1:6646", "ID", (json_int_t)1, "HTTPAddr", "127.0.0.1:4646",
                         "Name", "s1", "Datacenter", "dc-a");
}

Test(api_endpoints, peers_are_listed_with_the_name_and_dc_they_told) {
        s->raft_configuration = three_servers;
        s->raft_self = told_names;
        cr_assert_eq(api_harness_set_identity(s, "eu-west", "dc-a", "s1"), 0);
        json_t *j = NULL;
        cr_assert_eq(req("GET", "/v1/agent/members", NULL, &j, NULL), 200);
        cr_expect_eq(json_array_size(json_object_get(j, "Members")), 3);
        json_t *self = member_named(j, "s1.eu-west"), *told = member_named(j, "s7.eu-west"),
               *old = member_named(j, "server-9.eu-west");
        cr_assert(self && told && old, "%s", json_dumps(j, 0));
        cr_expect_str_eq(json_string_value(json_object_get(json_object_get(told, "Tags"), "dc")), "dc-b");
        cr_expect_str_eq(json_string_value(json_object_get(json_object_get(told, "Tags"), "leader")), "true");
        cr_expect_eq(json_integer_value(json_object_get(told, "Port")), 5647);
        /* an older server: this server's datacenter, as before */
        cr_expect_str_eq(json_string_value(json_object_get(json_object_get(old, "Tags"), "dc")), "dc-a");
        cr_expect_str_eq(json_string_value(json_object_get(json_object_get(self, "Tags"), "dc")), "dc-a");
        /* not heard from yet, on a server that has just started: alive until it asks */
        cr_expect_str_eq(json_string_value(json_object_get(old, "Status")), "alive");
        json_decref(j);
}

Test(api_endpoints, metrics_in_json_and_prometheus_follow_the_state) {
        json_t *j = NULL;
        char *text = NULL;
        cr_assert_eq(req("PUT", "/v1/jobs", SVC("web", 1, 64), NULL, NULL), 200);
        cr_assert_eq(req("GET", "/v1/metrics", NULL, &j, NULL), 200);
        cr_expect(json_is_string(json_object_get(j, "Timestamp")));
        json_t *g;
        size_t i;
        double jobs = -1;
        json_array_foreach(json_object_get(j, "Gauges"), i, g) {
                if (strcmp(json_string_value(json_object_get(g, "Name")), "nomad.state.jobs") == 0)
                        jobs = json_real_value(json_object_get(g, "Value"));
        }
        cr_expect_eq(jobs, 1.0, "one job registered (got %g)", jobs);
        cr_expect(json_is_array(json_object_get(j, "Counters")) && json_is_array(json_object_get(j, "Samples")));
        json_decref(j);
        cr_assert_eq(req("GET", "/v1/metrics?format=prometheus", NULL, NULL, &text), 200);
        cr_expect(strstr(text, "# TYPE nomad_state_jobs gauge\nnomad_state_jobs 1\n"), "%s", text);
        free(text);
        cr_expect_eq(req("GET", "/v1/metrics?format=xml", NULL, NULL, NULL), 400);
}

Test(api_endpoints, search_by_prefix_and_fuzzy) {
        json_t *j = NULL;
        cr_assert_eq(req("PUT", "/v1/node/register", NODE, NULL, NULL), 200);
        cr_assert_eq(req("PUT", "/v1/jobs", SVC("web-api", 1, 64), NULL, NULL), 200);
        cr_assert_eq(req("PUT", "/v1/jobs", SVC("db", 1, 64), NULL, NULL), 200);
        cr_assert_eq(req("POST", "/v1/search", "{\"Prefix\":\"we\",\"Context\":\"jobs\"}", &j, NULL), 200);
        cr_expect_eq(json_array_size(at(j, "Matches", "jobs")), 1);
        cr_expect_str_eq(json_string_value(json_array_get(at(j, "Matches", "jobs"), 0)), "web-api");
        cr_expect(json_is_false(at(j, "Truncations", "jobs")));
        cr_expect_null(at(j, "Matches", "nodes"), "only the context asked for");
        json_decref(j);
        cr_assert_eq(req("POST", "/v1/search", "{\"Prefix\":\"1111\",\"Context\":\"all\"}", &j, NULL), 200);
        cr_expect_eq(json_array_size(at(j, "Matches", "nodes")), 1);
        cr_expect_eq(json_array_size(at(j, "Matches", "jobs")), 0);
        json_decref(j);
        cr_assert_eq(req("POST", "/v1/search/fuzzy", "{\"Text\":\"API\",\"Context\":\"all\"}", &j, NULL), 200);
        json_t *m = json_array_get(at(j, "Matches", "jobs"), 0);
        cr_expect_str_eq(json_string_value(json_object_get(m, "ID")), "web-api");
        cr_expect_str_eq(json_string_value(json_array_get(json_object_get(m, "Scope"), 0)), "default");
        json_decref(j);
        cr_expect_eq(req("POST", "/v1/search", "{\"Prefix\":\"a\",\"Context\":\"bogus\"}", NULL, NULL), 400);
        cr_expect_eq(req("POST", "/v1/search/fuzzy", "{\"Text\":\"a\"}", NULL, NULL), 400, "fuzzy needs 2 characters");
        cr_expect_eq(req("GET", "/v1/search", NULL, NULL, NULL), 405);
}

Test(api_endpoints, parse_turns_hcl_into_a_job_and_validate_reports_errors) {
        json_t *j = NULL;
        const char *body = "{\"JobHCL\":\"variable \\\"n\\\" { default = 1 }\\njob \\\"p\\\" {\\n group \\\"g\\\" {\\n"
                           "  count = var.n\\n  task \\\"t\\\" {\\n   driver = \\\"raw_exec\\\"\\n"
                           "   config { command = \\\"/bin/true\\\" }\\n  }\\n }\\n}\\n\","
                           "\"Variables\":\"n = 3\\n\",\"Canonicalize\":true}";
        cr_assert_eq(req("POST", "/v1/jobs/parse", body, &j, NULL), 200);
        cr_expect_str_eq(json_string_value(json_object_get(j, "ID")), "p");
        cr_expect_eq(json_integer_value(json_object_get(json_array_get(json_object_get(j, "TaskGroups"), 0), "Count")),
                     3, "the variable from Variables");
        json_decref(j);
        cr_expect_eq(req("POST", "/v1/jobs/parse", "{\"JobHCL\":\"job {\"}", NULL, NULL), 400);
        cr_expect_eq(req("POST", "/v1/jobs/parse", "{\"JobHCL\":\"\"}", NULL, NULL), 400);
        cr_expect_eq(req("POST", "/v1/jobs/parse", "{\"JobHCL\":\"job \\\"x\\\" {}\",\"Variables\":\"a = 1\\nbad\"}", NULL,
                         NULL),
                     400, "a Variables line that is not name = value (the lines before it are freed: ASan)");
        cr_assert_eq(req("POST", "/v1/validate/job", SVC("ok", 1, 64), &j, NULL), 200);
        cr_expect_eq(json_array_size(json_object_get(j, "ValidationErrors")), 0);
        cr_expect_str_eq(json_string_value(json_object_get(j, "Error")), "");
        json_decref(j);
        cr_assert_eq(req("POST", "/v1/validate/job", SVC("bad", -1, 64), &j, NULL), 200);
        cr_expect_eq(json_array_size(json_object_get(j, "ValidationErrors")), 1);
        cr_expect_neq(strlen(json_string_value(json_object_get(j, "Error"))), 0);
        json_decref(j);
        cr_expect_eq(state_count(s->state, STATE_TABLE_JOBS), 0, "neither parse nor validate registers");
}

Test(api_endpoints, plan_is_a_dry_run_with_placements_and_failures) {
        json_t *j = NULL;
        cr_assert_eq(req("PUT", "/v1/node/register", NODE, NULL, NULL), 200);
        uint64_t before = state_latest_index(s->state);
        cr_assert_eq(req("PUT", "/v1/job/web/plan", SVC("web", 3, 64), &j, NULL), 200);
        cr_expect_eq(json_integer_value(at(at(j, "Annotations", "DesiredTGUpdates"), "g", "Place")), 3);
        cr_expect_eq(json_object_size(json_object_get(j, "FailedTGAllocs")), 0, "%s", json_dumps(j, 0));
        cr_expect_str_eq(json_string_value(at(j, "Diff", "Type")), "Added");
        json_decref(j);
        cr_expect_eq(state_latest_index(s->state), before, "a plan changes nothing");
        cr_expect_eq(state_count(s->state, STATE_TABLE_ALLOCS), 0);
        /* Too big for the node: the group's failure is reported, and its placements are
         * still counted as Place (what the scheduler meant to do, as Nomad's plan says
         * "2 create" and warns that they failed). */
        cr_assert_eq(req("PUT", "/v1/job/big/plan", SVC("big", 2, 100000), &j, NULL), 200);
        cr_expect_eq(json_integer_value(at(at(j, "Annotations", "DesiredTGUpdates"), "g", "Place")), 2);
        cr_expect_not_null(at(j, "FailedTGAllocs", "g"), "the group that did not fit");
        json_decref(j);
        cr_expect_eq(req("PUT", "/v1/job/other/plan", SVC("web", 1, 64), NULL, NULL), 400, "path and body disagree");
        cr_expect_eq(req("GET", "/v1/job/web/plan", NULL, NULL, NULL), 405);
}

Test(api_endpoints, evaluate_makes_an_eval_for_a_registered_job) {
        json_t *j = NULL;
        cr_expect_eq(req("PUT", "/v1/job/none/evaluate", "{}", NULL, NULL), 404);
        cr_assert_eq(req("PUT", "/v1/jobs", SVC("web", 1, 64), NULL, NULL), 200);
        cr_assert_eq(req("PUT", "/v1/job/web/evaluate", "{}", &j, NULL), 200);
        const char *id = json_string_value(json_object_get(j, "EvalID"));
        cr_assert_not_null(id);
        json_t *e = NULL;
        char path[128];
        snprintf(path, sizeof(path), "/v1/evaluation/%s", id);
        cr_assert_eq(req("GET", path, NULL, &e, NULL), 200);
        cr_expect_str_eq(json_string_value(json_object_get(e, "TriggeredBy")), "job-eval");
        json_decref(e);
        json_decref(j);
}

static const struct node *node_now(void) {
        return state_node_get(s->state, NODE_ID);
}

Test(api_endpoints, eligibility_and_drain_of_a_node) {
        json_t *j = NULL;
        cr_assert_eq(req("PUT", "/v1/node/register", NODE, NULL, NULL), 200);
        cr_expect_eq(req("PUT", "/v1/node/nope/eligibility", "{\"Eligibility\":\"ineligible\"}", NULL, NULL), 404);
        cr_expect_eq(req("PUT", "/v1/node/" NODE_ID "/eligibility", "{\"Eligibility\":\"maybe\"}", NULL, NULL), 400);
        cr_assert_eq(req("PUT", "/v1/node/" NODE_ID "/eligibility", "{\"Eligibility\":\"ineligible\"}", &j, NULL), 200);
        cr_expect(json_is_array(json_object_get(j, "EvalIDs")));
        cr_expect_gt(json_integer_value(json_object_get(j, "Index")), 0);
        json_decref(j);
        cr_expect_not(node_now()->eligible);
        cr_assert_eq(req("PUT", "/v1/node/" NODE_ID "/eligibility", "{\"Eligibility\":\"eligible\"}", NULL, NULL), 200);
        cr_expect(node_now()->eligible);
        /* Drain: ineligible, with Nomad's DrainStrategy on the node. */
        cr_assert_eq(req("PUT", "/v1/node/" NODE_ID "/drain",
                         "{\"DrainSpec\":{\"Deadline\":3600000000000,\"IgnoreSystemJobs\":true}}", NULL, NULL),
                     200);
        cr_expect(node_now()->drain);
        cr_expect_not(node_now()->eligible);
        cr_assert_eq(req("GET", "/v1/node/" NODE_ID, NULL, &j, NULL), 200);
        json_t *ds = json_object_get(j, "DrainStrategy");
        /* Nomad's DrainStrategy embeds its DrainSpec; its times are RFC 3339. */
        cr_expect_eq(json_integer_value(json_object_get(ds, "Deadline")), 3600000000000LL);
        cr_expect(json_is_true(json_object_get(ds, "IgnoreSystemJobs")));
        const char *force = json_string_value(json_object_get(ds, "ForceDeadline"));
        cr_assert_not_null(force);
        cr_expect(strlen(force) > 20 && force[4] == '-' && force[10] == 'T' && strcmp(force, "0001-01-01T00:00:00Z"),
                  "ForceDeadline: %s", force);
        cr_expect(json_is_string(json_object_get(json_object_get(j, "LastDrain"), "StartedAt")));
        cr_expect_str_eq(json_string_value(json_object_get(json_object_get(j, "LastDrain"), "Status")), "draining");
        cr_expect(json_is_true(json_object_get(j, "Drain")));
        json_decref(j);
        cr_expect_eq(req("PUT", "/v1/node/" NODE_ID "/eligibility", "{\"Eligibility\":\"eligible\"}", NULL, NULL), 400,
                     "not eligible while draining");
        /* The agent re-registers: the drain stays. */
        cr_assert_eq(req("PUT", "/v1/node/register", NODE, NULL, NULL), 200);
        cr_expect(node_now()->drain);
        cr_expect_not_null(json_object_get(node_now()->extra, "DrainStrategy"));
        cr_expect_eq(req("PUT", "/v1/node/" NODE_ID "/drain", "{\"DrainSpec\":{\"Deadline\":\"1h\"}}", NULL, NULL),
                     400);
        /* Disable with MarkEligible. */
        cr_assert_eq(req("PUT", "/v1/node/" NODE_ID "/drain", "{\"DrainSpec\":null,\"MarkEligible\":true}", NULL, NULL),
                     200);
        cr_expect_not(node_now()->drain);
        cr_expect(node_now()->eligible);
        cr_assert_eq(req("GET", "/v1/node/" NODE_ID, NULL, &j, NULL), 200);
        cr_expect(json_is_null(json_object_get(j, "DrainStrategy")));
        cr_expect_str_eq(json_string_value(json_object_get(json_object_get(j, "LastDrain"), "Status")), "canceled");
        json_decref(j);
}

static void put_alloc(const char *id, const char *job, const char *node) {
        const struct job *jb = state_job_get(s->state, "default", job);
        cr_assert_not_null(jb);
        struct alloc *a = alloc_new();
        a->id = strdup(id);
        a->namespace = strdup("default");
        a->eval_id = strdup("e");
        a->name = strdup("web.g[0]");
        a->node_id = strdup(node);
        a->job_id = strdup(job);
        a->job = job_ref((struct job *)jb);
        a->task_group = strdup("g");
        a->desired_status = ALLOC_DESIRED_RUN;
        a->client_status = ALLOC_CLIENT_RUNNING;
        cr_assert_eq(state_upsert_allocs(s->state, state_latest_index(s->state) + 1, &a, 1), 0);
        alloc_unref(a);
}

#define PRIO_JOB(id, prio, mem)                                                                                        \
        "{\"Job\":{\"ID\":\"" id "\",\"Type\":\"service\",\"Priority\":" #prio ",\"Datacenters\":[\"dc1\"],"        \
        "\"TaskGroups\":[{\"Name\":\"g\",\"Count\":1,\"Tasks\":[{\"Name\":\"t\",\"Driver\":\"raw_exec\","             \
        "\"Config\":{\"command\":\"/bin/sleep\"},\"Resources\":{\"CPU\":100,\"MemoryMB\":" #mem "}}]}]}}"

/* A plan that preempts lists the victims (PreemptedAllocs) and counts them under the
 * group whose placement evicts them, and commits nothing. */
Test(api_endpoints, plan_lists_the_allocations_it_would_preempt) {
        json_t *j = NULL;
        cr_assert_eq(req("PUT", "/v1/node/register", NODE, NULL, NULL), 200);
        cr_assert_eq(req("PUT", "/v1/jobs", PRIO_JOB("low", 20, 64), NULL, NULL), 200);
        const char *victim = "aaaaaaaa-0000-0000-0000-0000000000a1";
        put_alloc(victim, "low", NODE_ID);
        /* The victim holds nearly all of the node's memory. */
        struct alloc *a = alloc_copy(state_alloc_get(s->state, victim));
        cr_assert_not_null(a);
        a->resources.cpu = 100;
        a->resources.memory_mb = 8000;
        cr_assert_eq(state_upsert_allocs(s->state, state_latest_index(s->state) + 1, &a, 1), 0);
        alloc_unref(a);
        /* Without service preemption (Nomad's default), the high-priority job does not fit. */
        cr_assert_eq(req("PUT", "/v1/job/high/plan", PRIO_JOB("high", 80, 4000), &j, NULL), 200);
        cr_expect(json_is_null(at(j, "Annotations", "PreemptedAllocs")), "%s", json_dumps(j, 0));
        cr_expect_not_null(at(j, "FailedTGAllocs", "g"));
        json_decref(j);
        cr_assert_eq(req("PUT", "/v1/operator/scheduler/configuration",
                         "{\"PreemptionConfig\":{\"ServiceSchedulerEnabled\":true}}", NULL, NULL),
                     200);
        uint64_t before = state_latest_index(s->state);
        cr_assert_eq(req("PUT", "/v1/job/high/plan", PRIO_JOB("high", 80, 4000), &j, NULL), 200);
        json_t *ann = json_object_get(j, "Annotations");
        json_t *pre = json_object_get(ann, "PreemptedAllocs");
        cr_assert_eq(json_array_size(pre), 1, "%s", json_dumps(j, 0));
        cr_expect_str_eq(json_string_value(json_object_get(json_array_get(pre, 0), "ID")), victim);
        cr_expect_str_eq(json_string_value(json_object_get(json_array_get(pre, 0), "JobID")), "low");
        json_t *g = json_object_get(json_object_get(ann, "DesiredTGUpdates"), "g");
        cr_expect_eq(json_integer_value(json_object_get(g, "Place")), 1);
        cr_expect_eq(json_integer_value(json_object_get(g, "Preemptions")), 1);
        cr_expect_eq(json_integer_value(json_object_get(g, "Stop")), 0, "another job's alloc is no Stop of this one");
        cr_expect_str_eq(json_string_value(json_object_get(j, "NextPeriodicLaunch")), "0001-01-01T00:00:00Z");
        json_decref(j);
        cr_expect_eq(state_latest_index(s->state), before, "a plan changes nothing");
        cr_expect_eq(state_alloc_get(s->state, victim)->desired_status, ALLOC_DESIRED_RUN);
}

/* An enabled periodic job's plan says when it would launch next. */
Test(api_endpoints, plan_of_a_periodic_job_gives_its_next_launch) {
        json_t *j = NULL;
        cr_assert_eq(req("PUT", "/v1/node/register", NODE, NULL, NULL), 200);
        const char *job = "{\"Job\":{\"ID\":\"cron\",\"Type\":\"batch\",\"Datacenters\":[\"dc1\"],"
                          "\"Periodic\":{\"Enabled\":true,\"Spec\":\"0 3 * * *\",\"TimeZone\":\"UTC\"},"
                          "\"TaskGroups\":[{\"Name\":\"g\",\"Count\":1,\"Tasks\":[{\"Name\":\"t\","
                          "\"Driver\":\"raw_exec\",\"Config\":{\"command\":\"/bin/true\"},"
                          "\"Resources\":{\"CPU\":100,\"MemoryMB\":64}}]}]}}";
        cr_assert_eq(req("PUT", "/v1/job/cron/plan", job, &j, NULL), 200);
        const char *next = json_string_value(json_object_get(j, "NextPeriodicLaunch"));
        cr_assert_not_null(next, "%s", json_dumps(j, 0));
        /* Tomorrow or today at 03:00 UTC, never Go's zero time. */
        cr_expect(strlen(next) == 20 && strcmp(next + 10, "T03:00:00Z") == 0, "%s", next);
        json_decref(j);
}

Test(api_endpoints, node_evaluate_alloc_stop_and_purge) {
        json_t *j = NULL;
        cr_assert_eq(req("PUT", "/v1/node/register", NODE, NULL, NULL), 200);
        cr_assert_eq(req("PUT", "/v1/jobs", SVC("web", 1, 64), NULL, NULL), 200);
        put_alloc("aaaaaaaa-0000-0000-0000-000000000001", "web", NODE_ID);
        cr_assert_eq(req("PUT", "/v1/node/" NODE_ID "/evaluate", "{}", &j, NULL), 200);
        cr_expect_eq(json_array_size(json_object_get(j, "EvalIDs")), 1, "one eval: the job on the node");
        json_decref(j);
        cr_expect_eq(req("PUT", "/v1/allocation/nope/stop", "{}", NULL, NULL), 404);
        cr_assert_eq(req("PUT", "/v1/allocation/aaaaaaaa-0000-0000-0000-000000000001/stop", "{}", &j, NULL), 200);
        cr_expect(json_is_string(json_object_get(j, "EvalID")));
        json_decref(j);
        const struct alloc *a = state_alloc_get(s->state, "aaaaaaaa-0000-0000-0000-000000000001");
        cr_expect_eq(a->desired_status, ALLOC_DESIRED_STOP);
        cr_assert_eq(req("DELETE", "/v1/node/" NODE_ID "/purge", NULL, NULL, NULL), 200);
        cr_expect_null(node_now());
        cr_expect_eq(req("GET", "/v1/node/" NODE_ID, NULL, NULL, NULL), 404);
}

Test(api_endpoints, evaluations_delete_only_finished_ones) {
        json_t *j = NULL;
        cr_assert_eq(req("PUT", "/v1/jobs", SVC("web", 1, 64), &j, NULL), 200);
        char body[256];
        snprintf(body, sizeof(body), "{\"EvalIDs\":[\"%s\"]}", json_string_value(json_object_get(j, "EvalID")));
        json_decref(j);
        cr_expect_eq(req("DELETE", "/v1/evaluations", body, NULL, NULL), 400, "a pending eval stays");
        cr_expect_eq(req("DELETE", "/v1/evaluations", "{\"EvalIDs\":[\"nope\"]}", NULL, NULL), 404);
        cr_expect_eq(req("DELETE", "/v1/evaluations", "{\"EvalIDs\":[]}", NULL, NULL), 400);
        /* The scheduler finishes it. */
        json_t *cmd = NULL;
        cr_assert_eq(req("GET", "/v1/evaluations", NULL, &j, NULL), 200);
        json_t *e = json_deep_copy(json_array_get(j, 0));
        json_decref(j);
        json_object_set_new(e, "Status", json_string("complete"));
        cmd = json_pack("{s:s,s:[o]}", "Type", "EvalUpdate", "Evals", e);
        cr_assert_eq(fsm_apply_command(s->fsm, state_latest_index(s->state) + 1, cmd, NULL), 0);
        json_decref(cmd);
        cr_assert_eq(req("DELETE", "/v1/evaluations", body, NULL, NULL), 200);
        cr_expect_eq(state_count(s->state, STATE_TABLE_EVALS), 0);
}

Test(api_endpoints, scheduler_configuration_get_put_cas_and_reject_job_registration) {
        json_t *j = NULL;
        cr_assert_eq(req("GET", "/v1/operator/scheduler/configuration", NULL, &j, NULL), 200);
        json_t *sc = json_object_get(j, "SchedulerConfig");
        cr_expect_str_eq(json_string_value(json_object_get(sc, "SchedulerAlgorithm")), "binpack");
        cr_expect(json_is_true(at(sc, "PreemptionConfig", "SystemSchedulerEnabled")));
        cr_expect(json_is_false(at(sc, "PreemptionConfig", "ServiceSchedulerEnabled")));
        json_int_t mi = json_integer_value(json_object_get(sc, "ModifyIndex"));
        json_decref(j);
        cr_expect_eq(
            req("PUT", "/v1/operator/scheduler/configuration", "{\"SchedulerAlgorithm\":\"best\"}", NULL, NULL), 400);
        cr_expect_eq(req("PUT", "/v1/operator/scheduler/configuration", "{\"PauseEvalBroker\":true}", NULL, NULL), 400);
        cr_expect_eq(req("PUT", "/v1/operator/scheduler/configuration",
                         "{\"PreemptionConfig\":{\"ServiceSchedulerEnabled\":\"yes\"}}", NULL, NULL),
                     400);
        cr_assert_eq(req("PUT", "/v1/operator/scheduler/configuration",
                         "{\"SchedulerAlgorithm\":\"spread\",\"RejectJobRegistration\":true,"
                         "\"PreemptionConfig\":{\"ServiceSchedulerEnabled\":true}}",
                         &j, NULL),
                     200);
        cr_expect(json_is_true(json_object_get(j, "Updated")));
        json_decref(j);
        cr_assert_eq(req("GET", "/v1/operator/scheduler/configuration", NULL, &j, NULL), 200);
        sc = json_object_get(j, "SchedulerConfig");
        cr_expect_str_eq(json_string_value(json_object_get(sc, "SchedulerAlgorithm")), "spread");
        cr_expect(json_is_true(at(sc, "PreemptionConfig", "ServiceSchedulerEnabled")));
        cr_expect_gt(json_integer_value(json_object_get(sc, "ModifyIndex")), mi);
        json_decref(j);
        char *text = NULL;
        cr_expect_eq(req("PUT", "/v1/jobs", SVC("web", 1, 64), NULL, &text), 400, "registration refused");
        cr_expect(strstr(text, "disabled by the scheduler configuration"), "%s", text);
        free(text);
        /* A stale check-and-set changes nothing. */
        cr_assert_eq(
            req("PUT", "/v1/operator/scheduler/configuration?cas=999", "{\"RejectJobRegistration\":false}", &j, NULL),
            200);
        cr_expect(json_is_false(json_object_get(j, "Updated")));
        json_decref(j);
        cr_expect_eq(req("PUT", "/v1/jobs", SVC("web", 1, 64), NULL, NULL), 400);
        cr_assert_eq(
            req("PUT", "/v1/operator/scheduler/configuration", "{\"RejectJobRegistration\":false}", NULL, NULL), 200);
        cr_expect_eq(req("PUT", "/v1/jobs", SVC("web", 1, 64), NULL, NULL), 200);
}

Test(api_endpoints, plan_of_a_changed_job_shows_the_field_diffs) {
        json_t *j = NULL;
        cr_assert_eq(req("PUT", "/v1/node/register", NODE, NULL, NULL), 200);
        cr_assert_eq(req("PUT", "/v1/jobs", SVC("web", 2, 64), NULL, NULL), 200);
        cr_assert_eq(req("PUT", "/v1/job/web/plan", SVC("web", 2, 64), &j, NULL), 200);
        cr_expect_str_eq(json_string_value(at(j, "Diff", "Type")), "None", "%s", json_dumps(at(j, "Diff", "TaskGroups"), 0));
        json_decref(j);
        cr_assert_eq(req("PUT", "/v1/job/web/plan", SVC("web", 3, 64), &j, NULL), 200);
        cr_expect_str_eq(json_string_value(at(j, "Diff", "Type")), "Edited");
        json_t *tg = json_array_get(at(j, "Diff", "TaskGroups"), 0);
        cr_expect_str_eq(json_string_value(json_object_get(tg, "Type")), "Edited");
        json_t *f = json_array_get(json_object_get(tg, "Fields"), 0);
        cr_expect_str_eq(json_string_value(json_object_get(f, "Name")), "Count");
        cr_expect_str_eq(json_string_value(json_object_get(f, "Old")), "2");
        cr_expect_str_eq(json_string_value(json_object_get(f, "New")), "3");
        cr_expect_eq(json_integer_value(json_object_get(json_object_get(tg, "Updates"), "Place")), 3,
                     "the harness runs no scheduler: nothing is placed yet, so 3 to create");
        json_decref(j);
}
