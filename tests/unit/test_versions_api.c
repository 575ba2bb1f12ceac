/* test_versions_api.c - /v1/job/:id/{versions,revert,periodic/force,dispatch}
 * through the in-process harness (routes_job_kinds.c). */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/jsonx.h"
#include "common/model.h"
#include "controlplane/state/state.h"
#include "tests/support/api_harness.h"

API_HARNESS_SUITE(job_kinds_api, s);

static int req(const char *method, const char *target, const char *body, json_t **ret_json, char **ret_text) {
        return api_harness_call(s, method, target, body, ret_json, ret_text);
}

/* A batch job; extra: more top-level fields (",\"Periodic\":{...}"). */
static char *batch(const char *id, int count, const char *extra) {
        char *b = NULL;
        cr_assert(asprintf(&b,
                           "{\"Job\":{\"ID\":\"%s\",\"Type\":\"batch\",\"TaskGroups\":[{\"Name\":\"g\",\"Count\":%d,"
                           "\"Tasks\":[{\"Name\":\"t\",\"Driver\":\"raw_exec\",\"Config\":{\"command\":\"/bin/true\"},"
                           "\"DispatchPayload\":{\"File\":\"in.txt\"}}]}]%s}}",
                           id, count, extra) > 0);
        return b;
}

static void put(const char *id, int count, const char *extra) {
        char *b = batch(id, count, extra);
        char path[256];
        snprintf(path, sizeof(path), "/v1/job/%s", id);
        char *text = NULL;
        cr_assert_eq(req("PUT", path, b, NULL, &text), 200, "%s", text);
        free(text);
        free(b);
}

static size_t count_jobs_with_prefix(const char *prefix) {
        char path[256];
        snprintf(path, sizeof(path), "/v1/jobs?prefix=%s", prefix);
        json_t *j = NULL;
        cr_assert_eq(req("GET", path, NULL, &j, NULL), 200);
        size_t n = json_array_size(j);
        json_decref(j);
        return n;
}

Test(job_kinds_api, versions_newest_first_and_revert) {
        put("web", 1, "");
        put("web", 2, "");
        put("web", 3, "");
        json_t *j = NULL;
        cr_assert_eq(req("GET", "/v1/job/web/versions", NULL, &j, NULL), 200);
        json_t *v = json_object_get(j, "Versions");
        cr_assert_eq(json_array_size(v), 3);
        cr_expect_eq(jx_int(json_array_get(v, 0), "Version", -1), 2);
        cr_expect_eq(jx_int(json_array_get(v, 2), "Version", -1), 0);
        cr_expect(json_object_get(j, "Diffs") && json_is_null(json_object_get(j, "Diffs")));
        json_decref(j);
        char *text = NULL;
        cr_assert_eq(req("PUT", "/v1/job/web/revert", "{\"JobID\":\"web\",\"JobVersion\":2}", NULL, &text), 400);
        cr_expect(strstr(text, "can't revert to current version"), "%s", text);
        free(text);
        cr_assert_eq(req("PUT", "/v1/job/web/revert", "{\"JobID\":\"web\",\"JobVersion\":0,\"EnforcePriorVersion\":1}",
                         NULL, &text),
                     400);
        cr_expect(strstr(text, "Current job has version 2"), "%s", text);
        free(text);
        cr_assert_eq(req("PUT", "/v1/job/web/revert", "{\"JobID\":\"web\",\"JobVersion\":7}", NULL, &text), 404);
        free(text);
        cr_assert_eq(req("PUT", "/v1/job/web/revert", "{\"JobID\":\"web\",\"JobVersion\":0,\"EnforcePriorVersion\":2}",
                         &j, NULL),
                     200);
        cr_expect(*jx_str(j, "EvalID", ""), "a revert is evaluated");
        json_decref(j);
        const struct job *cur = state_job_get(s->state, "default", "web");
        cr_assert_eq(cur->version, 3);
        cr_assert_eq(cur->groups[0].count, 1, "version 0's count");
        cr_assert_eq(req("GET", "/v1/job/nope/versions", NULL, NULL, NULL), 404);
}

#define PERIODIC ",\"Periodic\":{\"Enabled\":true,\"Spec\":\"0 0 1 1 *\",\"SpecType\":\"cron\"}"

Test(job_kinds_api, periodic_parent_has_no_eval_and_force_launches_a_child) {
        json_t *j = NULL;
        char *b = batch("rep", 1, PERIODIC);
        cr_assert_eq(req("PUT", "/v1/job/rep", b, &j, NULL), 200);
        free(b);
        cr_expect_str_eq(jx_str(j, "EvalID", "x"), "", "no eval for a periodic parent");
        json_decref(j);
        cr_assert_eq(req("GET", "/v1/jobs", NULL, &j, NULL), 200);
        cr_expect(json_is_true(json_object_get(json_array_get(j, 0), "Periodic")));
        json_decref(j);
        cr_assert_eq(req("PUT", "/v1/job/rep/periodic/force", "{}", &j, NULL), 200);
        cr_expect(*jx_str(j, "EvalID", ""));
        json_decref(j);
        cr_assert_eq(count_jobs_with_prefix("rep/periodic-"), 1);
        cr_assert_eq(req("GET", "/v1/job/rep/summary", NULL, &j, NULL), 200);
        json_t *ch = json_object_get(j, "Children");
        cr_expect_eq(jx_int(ch, "Pending", -1) + jx_int(ch, "Running", -1), 1, "the child counts");
        cr_expect_eq(jx_int(ch, "Dead", -1), 0);
        json_decref(j);
        cr_assert_eq(req("GET", "/v1/jobs?prefix=rep/periodic-", NULL, &j, NULL), 200);
        const char *child = jx_str(json_array_get(j, 0), "ID", "");
        cr_expect_str_eq(jx_str(json_array_get(j, 0), "ParentID", ""), "rep");
        char path[256];
        snprintf(path, sizeof(path), "/v1/job/%s", child);
        json_decref(j);
        cr_assert_eq(req("GET", path, NULL, &j, NULL), 200, "a child's ID with its '/' is one path segment");
        cr_expect(!json_is_object(json_object_get(j, "Periodic"))); /* absent or null (Nomad: nil) */
        json_decref(j);
        put("plain", 1, "");
        char *text = NULL;
        cr_assert_eq(req("PUT", "/v1/job/plain/periodic/force", "{}", NULL, &text), 400);
        cr_expect(strstr(text, "non-periodic"), "%s", text);
        free(text);
        b = batch("bad", 1, ",\"Periodic\":{\"Spec\":\"* * * 13 *\"}");
        cr_assert_eq(req("PUT", "/v1/job/bad", b, NULL, &text), 400);
        cr_expect(strstr(text, "month: 13 out of range"), "%s", text);
        free(text);
        free(b);
}

#define PARAM ",\"ParameterizedJob\":{\"Payload\":\"required\",\"MetaRequired\":[\"who\"],\"MetaOptional\":[\"x\"]}"

Test(job_kinds_api, dispatch_checks_and_child) {
        put("disp", 1, PARAM);
        struct {
                const char *body, *want;
        } bad[] = {
            {"{\"Meta\":{\"who\":\"me\"}}", "Payload is not provided"},
            {"{\"Payload\":\"aGk=\"}", "required meta keys: [who]"},
            {"{\"Payload\":\"aGk=\",\"Meta\":{\"who\":\"me\",\"y\":\"1\"}}", "unpermitted metadata keys: [y]"},
            {"{\"Payload\":\"not base64!\",\"Meta\":{\"who\":\"me\"}}", "base64"},
        };
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                char *text = NULL;
                cr_assert_eq(req("PUT", "/v1/job/disp/dispatch", bad[i].body, NULL, &text), 400, "%s", bad[i].body);
                cr_expect(strstr(text, bad[i].want), "%s: %s", bad[i].body, text);
                free(text);
        }
        /* 16 KiB + 3 bytes of payload: too big. */
        size_t n = (16 * 1024 + 3) / 3 * 4;
        char *big = malloc(n + 64);
        strcpy(big, "{\"Meta\":{\"who\":\"me\"},\"Payload\":\"");
        size_t off = strlen(big);
        memset(big + off, 'A', n);
        strcpy(big + off + n, "\"}");
        char *text = NULL;
        cr_assert_eq(req("PUT", "/v1/job/disp/dispatch", big, NULL, &text), 400);
        cr_expect(strstr(text, "exceeds maximum size"), "%s", text);
        free(text);
        free(big);
        cr_assert_eq(count_jobs_with_prefix("disp/"), 0);
        json_t *j = NULL;
        cr_assert_eq(req("PUT", "/v1/job/disp/dispatch", "{\"Payload\":\"aGk=\",\"Meta\":{\"who\":\"me\",\"x\":\"2\"}}",
                         &j, NULL),
                     200);
        const char *child = jx_str(j, "DispatchedJobID", "");
        cr_expect(strncmp(child, "disp/dispatch-", 14) == 0, "%s", child);
        cr_expect(*jx_str(j, "EvalID", ""));
        const struct job *c = state_job_get(s->state, "default", child);
        cr_assert_not_null(c);
        cr_expect_str_eq(strmap_get(&c->meta, "who"), "me");
        cr_expect_str_eq(json_string_value(json_object_get(c->extra, "Payload")), "aGk=");
        cr_expect(json_is_true(json_object_get(c->extra, "Dispatched")));
        cr_expect_str_eq(job_parent_id(c), "disp");
        cr_expect(!job_is_parent(c), "a dispatched child is placed");
        json_decref(j);
        cr_assert_eq(req("PUT", "/v1/job/disp/dispatch", "{\"Payload\":\"aGk=\"}", NULL, &text), 400);
        free(text);
        put("plain", 1, "");
        cr_assert_eq(req("PUT", "/v1/job/plain/dispatch", "{}", NULL, &text), 400);
        cr_expect(strstr(text, "not a parameterized job"), "%s", text);
        free(text);
}
