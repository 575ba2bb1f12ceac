/* test_deploy_api.c - the deployment reads over the routes (api_harness): list
 * options (?filter, ?per_page/?next_token) on /v1/deployments and
 * /v1/job/:id/deployments, blocking queries (?index, ?wait) on every deployment
 * read, and a successful deployment's Stable flag in /v1/job/:id/versions after a
 * newer version is registered, and /v1/deployment/allocations/:id. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/jsonx.h"
#include "controlplane/raft/fsm.h"
#include "controlplane/state/state.h"
#include "controlplane/state/state_deploy.h"
#include "tests/unit/fixtures.h"
#include "tests/support/api_harness.h"

API_HARNESS_SUITE(deploy_api, s);

static int req(const char *method, const char *target, const char *body, json_t **ret_json, char *ret_token,
               uint64_t *ret_index) {
        struct api_reply r;
        api_harness_request(s, method, target, body, body ? strlen(body) : 0, &r);
        if (ret_json)
                *ret_json = json_loads(r.body ? r.body : "", JSON_DECODE_ANY, NULL);
        if (ret_token)
                strcpy(ret_token, r.next_token);
        if (ret_index)
                *ret_index = r.index;
        int status = r.status;
        api_reply_clear(&r);
        return status;
}

/* A service job with an update block: each registration of a new spec starts a deployment. */
static void add_service(const char *id, const char *version) {
        char body[1024];
        snprintf(
            body, sizeof(body),
            "{\"Job\":{\"ID\":\"%s\",\"Type\":\"service\",\"Datacenters\":[\"dc1\"],"
            "\"Update\":{\"MaxParallel\":1,\"MinHealthyTime\":1000000000},"
            "\"TaskGroups\":[{\"Name\":\"g\",\"Count\":1,\"Tasks\":[{\"Name\":\"t\",\"Driver\":\"raw_exec\","
            "\"Env\":{\"V\":\"%s\"},\"Config\":{\"command\":\"x\"},\"Resources\":{\"CPU\":100,\"MemoryMB\":64}}]}]}}",
            id, version);
        cr_assert_eq(req("PUT", "/v1/jobs", body, NULL, NULL, NULL), 200);
}

static const char *field(json_t *arr, size_t i, const char *key) {
        return jx_str(json_array_get(arr, i), key, "");
}

Test(deploy_api, lists_take_filter_and_pages) {
        const char *jobs[] = {"a", "b", "c"};
        for (int i = 0; i < 3; i++)
                add_service(jobs[i], "1");
        add_service("a", "2"); /* a second deployment of a */
        json_t *all = NULL;
        cr_assert_eq(req("GET", "/v1/deployments", NULL, &all, NULL, NULL), 200);
        cr_assert_eq(json_array_size(all), 4);
        for (size_t i = 1; i < 4; i++)
                cr_expect_lt(strcmp(field(all, i - 1, "ID"), field(all, i, "ID")), 0, "in ID order");
        /* pages of 3 then 1, the token the ID the second page starts at */
        json_t *p = NULL;
        char token[256];
        cr_assert_eq(req("GET", "/v1/deployments?per_page=3", NULL, &p, token, NULL), 200);
        cr_expect_eq(json_array_size(p), 3);
        cr_expect_str_eq(token, field(all, 3, "ID"));
        json_decref(p);
        char t[512];
        snprintf(t, sizeof(t), "/v1/deployments?per_page=3&next_token=%s", token);
        cr_assert_eq(req("GET", t, NULL, &p, token, NULL), 200);
        cr_expect_eq(json_array_size(p), 1);
        cr_expect_str_eq(field(p, 0, "ID"), field(all, 3, "ID"));
        cr_expect_str_eq(token, "", "the last page");
        json_decref(p);
        /* filter: a's deployments, then the running one among them */
        cr_assert_eq(req("GET", "/v1/deployments?filter=JobID%20%3D%3D%20%22a%22", NULL, &p, NULL, NULL), 200);
        cr_expect_eq(json_array_size(p), 2);
        json_decref(p);
        cr_assert_eq(req("GET", "/v1/job/a/deployments?filter=Status%20%3D%3D%20%22running%22", NULL, &p, NULL, NULL),
                     200);
        cr_expect_eq(json_array_size(p), 1, "the older one was cancelled");
        cr_expect_eq(jx_int(json_array_get(p, 0), "JobVersion", -1), 1);
        json_decref(p);
        cr_assert_eq(req("GET", "/v1/job/a/deployments?per_page=1", NULL, &p, token, NULL), 200);
        cr_expect_eq(json_array_size(p), 1);
        cr_expect_neq(token[0], '\0', "a second page");
        json_decref(p);
        cr_expect_eq(req("GET", "/v1/deployments?filter=JobID%20%3D%3D", NULL, NULL, NULL, NULL), 400);
        cr_expect_eq(req("GET", "/v1/job/a/deployments?per_page=-1", NULL, NULL, NULL, NULL), 400);
        json_decref(all);
}

Test(deploy_api, reads_block_until_a_newer_index) {
        add_service("a", "1");
        json_t *l = NULL;
        cr_assert_eq(req("GET", "/v1/deployments", NULL, &l, NULL, NULL), 200);
        char id[64];
        snprintf(id, sizeof(id), "%s", field(l, 0, "ID"));
        json_decref(l);
        char paths[4][128];
        snprintf(paths[0], sizeof(paths[0]), "/v1/deployments");
        snprintf(paths[1], sizeof(paths[1]), "/v1/deployment/%s", id);
        snprintf(paths[2], sizeof(paths[2]), "/v1/job/a/deployments");
        snprintf(paths[3], sizeof(paths[3]), "/v1/job/a/deployment");
        uint64_t idx[4];
        for (int i = 0; i < 4; i++) {
                cr_assert_eq(req("GET", paths[i], NULL, NULL, NULL, &idx[i]), 200, "%s", paths[i]);
                cr_assert_gt(idx[i], 0);
                char t[1024];
                snprintf(t, sizeof(t), "%s?index=%llu&wait=1s", paths[i], (unsigned long long)idx[i]);
                int st = req("GET", t, NULL, NULL, NULL, NULL);
                /* parked: the harness drops it (503) or answers 504 */
                cr_expect(st == 503 || st == 504, "%s parks at its own index (got %d)", paths[i], st);
                snprintf(t, sizeof(t), "%s?index=%llu&wait=1s", paths[i], (unsigned long long)idx[i] - 1);
                cr_expect_eq(req("GET", t, NULL, NULL, NULL, NULL), 200, "%s answers past an older index", paths[i]);
        }
        cr_expect_eq(req("GET", "/v1/deployments?index=x", NULL, NULL, NULL, NULL), 400);
        cr_expect_eq(req("GET", "/v1/deployments?index=1&wait=soon", NULL, NULL, NULL, NULL), 400);
        /* a new version: a new deployment, the reads move past the index they answered */
        add_service("a", "2");
        for (int i = 0; i < 4; i++) {
                char t[1024];
                snprintf(t, sizeof(t), "%s?index=%llu&wait=1s", paths[i], (unsigned long long)idx[i]);
                cr_expect_eq(req("GET", t, NULL, NULL, NULL, NULL), 200, "%s after a change", paths[i]);
        }
}

Test(deploy_api, stable_stays_on_the_version_after_a_newer_one) {
        add_service("a", "1");
        add_service("a", "2");
        /* the watcher's command for a successful deployment of version 0, late */
        json_t *l = NULL;
        cr_assert_eq(req("GET", "/v1/job/a/deployments?filter=JobVersion%20%3D%3D%200", NULL, &l, NULL, NULL), 200);
        cr_assert_eq(json_array_size(l), 1);
        json_t *d = json_deep_copy(json_array_get(l, 0));
        json_object_set_new(d, "Status", json_string("successful"));
        json_t *cmd = json_pack("{s:s,s:o,s:{s:s,s:s,s:i}}", "Type", "DeploymentUpsert", "Deployment", d, "StableJob",
                                "Namespace", "default", "JobID", "a", "Version", 0);
        struct error err = {0};
        cr_assert_eq(fsm_apply_command(s->fsm, state_latest_index(s->state) + 1, cmd, &err), 0, "%s", err.msg);
        json_decref(cmd);
        json_decref(l);
        json_t *v = NULL;
        cr_assert_eq(req("GET", "/v1/job/a/versions", NULL, &v, NULL, NULL), 200);
        json_t *versions = json_object_get(v, "Versions");
        cr_assert_eq(json_array_size(versions), 2);
        for (size_t i = 0; i < 2; i++) {
                json_t *x = json_array_get(versions, i);
                cr_expect_eq(json_is_true(json_object_get(x, "Stable")), jx_int(x, "Version", -1) == 0,
                             "only version 0 is Stable (version %lld)", (long long)jx_int(x, "Version", -1));
        }
        json_decref(v);
}

Test(deploy_api, deployment_allocations_lists_the_deployments_allocations) {
        add_service("a", "1");
        const struct deployment *d = state_deployment_latest(s->state, "default", "a");
        cr_assert_not_null(d);
        char did[64];
        snprintf(did, sizeof(did), "%s", d->id);
        /* two allocations of the deployment and one of none, as a plan would store them */
        static const char *const ids[] = {"11111111-0000-0000-0000-000000000001",
                                          "22222222-0000-0000-0000-000000000002",
                                          "33333333-0000-0000-0000-000000000003"};
        for (int i = 0; i < 3; i++) {
                struct alloc *x =
                    fx_alloc(ids[i], (struct job *)state_job_get(s->state, "default", "a"), "n1", i, 50, 32);
                x->deployment_id = i < 2 ? strdup(did) : NULL;
                cr_assert_eq(state_upsert_allocs(s->state, state_latest_index(s->state) + 1, &x, 1), 0);
                alloc_unref(x);
        }
        char t[256];
        snprintf(t, sizeof(t), "/v1/deployment/allocations/%s", did);
        json_t *l = NULL;
        cr_assert_eq(req("GET", t, NULL, &l, NULL, NULL), 200);
        cr_assert_eq(json_array_size(l), 2, "the deployment's two allocations, not the third");
        for (size_t i = 0; i < 2; i++)
                cr_expect_eq(strncmp(field(l, i, "ID"), "3333", 4) != 0, 1);
        json_decref(l);
}
