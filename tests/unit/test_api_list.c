/* test_api_list.c - list options on every list (controlplane/api/routes_list.c):
 * ?filter, ?per_page/?next_token with X-Nomad-NextToken, their error paths, and
 * blocking queries on the lists and reads that have them. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/support/api_harness.h"

API_HARNESS_SUITE(api_list, s);

static int req(const char *method, const char *target, const char *body, json_t **ret_json, char *ret_token) {
        struct api_reply r;
        api_harness_request(s, method, target, body, body ? strlen(body) : 0, &r);
        if (ret_json)
                *ret_json = json_loads(r.body ? r.body : "", JSON_DECODE_ANY, NULL);
        if (ret_token)
                strcpy(ret_token, r.next_token);
        int status = r.status;
        api_reply_clear(&r);
        return status;
}

static void add_job(const char *id, const char *team, int priority) {
        char body[1024];
        snprintf(
            body, sizeof(body),
            "{\"Job\":{\"ID\":\"%s\",\"Type\":\"batch\",\"Priority\":%d,\"Datacenters\":[\"dc1\"],"
            "\"Meta\":{\"team\":\"%s\"},\"TaskGroups\":[{\"Name\":\"g\",\"Count\":1,\"Tasks\":[{\"Name\":\"t\","
            "\"Driver\":\"raw_exec\",\"Config\":{\"command\":\"x\"},\"Resources\":{\"CPU\":100,\"MemoryMB\":64}}]}]}}",
            id, priority, team);
        cr_assert_eq(req("PUT", "/v1/jobs", body, NULL, NULL), 200);
}

static char *ids(json_t *arr) {
        static char buf[512];
        buf[0] = '\0';
        size_t i;
        json_t *v;
        json_array_foreach(arr, i, v) {
                strcat(buf, json_string_value(json_object_get(v, "ID")));
                strcat(buf, " ");
        }
        return buf;
}

Test(api_list, filter_on_jobs) {
        add_job("web", "api", 50);
        add_job("db", "data", 70);
        add_job("cache", "api", 30);
        json_t *j = NULL;
        /* the job stub has no Meta; Priority and ID are on it */
        cr_assert_eq(req("GET", "/v1/jobs?filter=Priority%20%3E%3D%2050", NULL, NULL, NULL), 400, "no >= operator");
        cr_assert_eq(req("GET", "/v1/jobs?filter=Priority%20%3D%3D%2070", NULL, &j, NULL), 200);
        cr_expect_str_eq(ids(j), "db ");
        json_decref(j);
        cr_assert_eq(req("GET", "/v1/jobs?filter=ID%20matches%20%22%5Ec%22%20or%20ID%20%3D%3D%20web", NULL, &j, NULL),
                     200);
        cr_expect_str_eq(ids(j), "cache web ");
        json_decref(j);
        cr_assert_eq(req("GET", "/v1/jobs?filter=not%20(Type%20%3D%3D%20batch)", NULL, &j, NULL), 200);
        cr_expect_eq(json_array_size(j), 0);
        json_decref(j);
}

Test(api_list, bad_filter_is_400_with_its_column) {
        struct api_reply r;
        api_harness_request(s, "GET", "/v1/allocations?filter=ClientStatus%20%3D%3D", NULL, 0, &r);
        cr_expect_eq(r.status, 400);
        cr_expect(r.body && strstr(r.body, "column"), "%s", r.body ? r.body : "");
        api_reply_clear(&r);
        cr_expect_eq(req("GET", "/v1/evaluations?filter=(", NULL, NULL, NULL), 400);
        cr_expect_eq(req("GET", "/v1/nodes?filter=%22x%22%20on%20Meta", NULL, NULL, NULL), 400);
}

Test(api_list, pages_in_id_order_with_next_token) {
        const char *names[] = {"e", "b", "d", "a", "c"};
        for (int i = 0; i < 5; i++)
                add_job(names[i], "t", 50);
        json_t *j = NULL;
        char token[256];
        cr_assert_eq(req("GET", "/v1/jobs?per_page=2", NULL, &j, token), 200);
        cr_expect_str_eq(ids(j), "a b ");
        cr_expect_str_eq(token, "c");
        json_decref(j);
        cr_assert_eq(req("GET", "/v1/jobs?per_page=2&next_token=c", NULL, &j, token), 200);
        cr_expect_str_eq(ids(j), "c d ");
        cr_expect_str_eq(token, "e");
        json_decref(j);
        cr_assert_eq(req("GET", "/v1/jobs?per_page=2&next_token=e", NULL, &j, token), 200);
        cr_expect_str_eq(ids(j), "e ");
        cr_expect_str_eq(token, "", "the last page has no next token");
        json_decref(j);
        /* filter first, then pages */
        cr_assert_eq(req("GET", "/v1/jobs?per_page=1&filter=ID%20!%3D%20a", NULL, &j, token), 200);
        cr_expect_str_eq(ids(j), "b ");
        cr_expect_str_eq(token, "c");
        json_decref(j);
        cr_expect_eq(req("GET", "/v1/jobs?per_page=-1", NULL, NULL, NULL), 400);
        cr_expect_eq(req("GET", "/v1/jobs?per_page=abc", NULL, NULL, NULL), 400);
        cr_expect_eq(req("GET", "/v1/jobs?per_page=99999999999", NULL, NULL, NULL), 400);
        cr_assert_eq(req("GET", "/v1/jobs?per_page=0", NULL, &j, token), 200);
        cr_expect_eq(json_array_size(j), 5, "0: no pages");
        json_decref(j);
}

Test(api_list, blocking_on_lists_and_reads) {
        add_job("web", "api", 50);
        /* each parks (the harness then answers 503 or 504) when asked for a change
         * past the X-Nomad-Index it answered with */
        const char *paths[] = {"/v1/job/web/summary",
                               "/v1/job/web/evaluations",
                               "/v1/job/web/allocations",
                               "/v1/job/web/scale",
                               "/v1/jobs",
                               "/v1/evaluations",
                               "/v1/allocations",
                               "/v1/nodes",
                               "/v1/scaling/policies",
                               "/v1/job/web"};
        for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
                struct api_reply r;
                api_harness_request(s, "GET", paths[i], NULL, 0, &r);
                cr_expect_eq(r.status, 200, "%s", paths[i]);
                cr_expect_gt(r.index, 0, "%s has an X-Nomad-Index", paths[i]);
                char t[256];
                snprintf(t, sizeof(t), "%s?index=%llu&wait=1s", paths[i], (unsigned long long)r.index);
                api_reply_clear(&r);
                int st = req("GET", t, NULL, NULL, NULL);
                cr_expect(st == 503 || st == 504, "%s parks (got %d)", paths[i], st);
        }
}

Test(api_list, a_read_answers_its_tables_index_and_parks_on_it) {
        add_job("web", "api", 50);
        add_job("db", "api", 50); /* web's eval is now older than the table */
        json_t *l = NULL;
        cr_assert_eq(req("GET", "/v1/evaluations?filter=JobID%20%3D%3D%20%22web%22", NULL, &l, NULL), 200);
        cr_assert_eq(json_array_size(l), 1);
        char path[160];
        snprintf(path, sizeof(path), "/v1/evaluation/%s", json_string_value(json_object_get(json_array_get(l, 0), "ID")));
        json_decref(l);
        struct api_reply r;
        api_harness_request(s, "GET", path, NULL, 0, &r);
        cr_assert_eq(r.status, 200);
        uint64_t idx = r.index;
        api_reply_clear(&r);
        api_harness_request(s, "GET", "/v1/evaluations", NULL, 0, &r);
        cr_expect_eq(idx, r.index, "the eval read answers the evaluations table's index");
        api_reply_clear(&r);
        char t[256];
        snprintf(t, sizeof(t), "%s?index=%llu&wait=1s", path, (unsigned long long)idx);
        int st = req("GET", t, NULL, NULL, NULL);
        cr_expect(st == 503 || st == 504, "parks at its own index (got %d)", st);
        add_job("api", "api", 50); /* a third eval: the table moves */
        api_harness_request(s, "GET", t, NULL, 0, &r);
        cr_expect_eq(r.status, 200, "answers once the table moved");
        cr_expect_gt(r.index, idx);
        api_reply_clear(&r);
        cr_expect_eq(req("GET", "/v1/evaluation/00000000-0000-0000-0000-000000000000?index=1&wait=1s", NULL, NULL, NULL),
                     404);
}
