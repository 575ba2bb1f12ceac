/* test_api_list.c - list options on every list (controlplane/api/routes_list.c):
 * ?filter, ?per_page/?next_token with X-Nomad-NextToken, their error paths,
 * blocking queries on the lists and reads that have them, and lists built off the
 * loop (api_ops.offload): from the state when asked, bounded, answered at shutdown. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "controlplane/api/routes.h"
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

/* Off the loop (api_ops.offload): a list answers later, from the state as it was
 * when asked, with that index; pages and filters apply there too. */
Test(api_list, a_list_built_off_the_loop_answers_the_state_it_was_asked_of) {
        add_job("a", "api", 50);
        s->defer_offload = true;
        struct api_reply r = {0}, paged = {0};
        struct api_harness_pending *p = api_harness_begin(s, "GET", "/v1/jobs", NULL, &r);
        struct api_harness_pending *pp =
            api_harness_begin(s, "GET", "/v1/jobs?per_page=1&filter=Meta.team%20%3D%3D%20%22api%22", NULL, &paged);
        cr_assert(p && pp);
        cr_expect_not(api_harness_answered(p), "not answered before the pool ran it");
        cr_expect_eq(s->offloaded, 2);
        s->defer_offload = false;
        add_job("b", "api", 50); /* after the ask: not in its answer */
        add_job("c", "api", 50);
        cr_expect_eq(api_harness_run_offloaded(s), 2);
        cr_assert(api_harness_answered(p) && api_harness_answered(pp));
        cr_expect_eq(r.status, 200);
        json_t *j = json_loads(r.body, 0, NULL);
        cr_expect_str_eq(ids(j), "a ", "the state when asked");
        json_decref(j);
        cr_expect_eq(paged.status, 200);
        cr_expect_str_eq(paged.next_token, "", "one job then: no next page");
        struct api_reply now;
        api_harness_request(s, "GET", "/v1/jobs", NULL, 0, &now);
        cr_expect_gt(now.index, r.index, "the answer's index is the one it was asked at");
        api_reply_clear(&now);
        api_reply_clear(&r);
        api_reply_clear(&paged);
        api_harness_pending_free(p);
        api_harness_pending_free(pp);
}

/* At most LIST_BUILDS_MAX lists on the pool at once; the others wait, in order, and
 * start as those end. A bad filter is answered at once, never offloaded. */
Test(api_list, lists_beyond_the_bound_wait_for_the_pool_in_order) {
        add_job("a", "api", 50);
        s->defer_offload = true;
        enum { N = 6 };
        struct api_reply r[N];
        struct api_harness_pending *p[N];
        for (int i = 0; i < N; i++) {
                memset(&r[i], 0, sizeof(r[i]));
                p[i] = api_harness_begin(s, "GET", i % 2 ? "/v1/allocations" : "/v1/evaluations", NULL, &r[i]);
                cr_assert(p[i]);
        }
        struct api_reply bad;
        api_harness_request(s, "GET", "/v1/jobs?filter=Meta.team%20%3D%3D", NULL, 0, &bad);
        cr_expect_eq(bad.status, 400, "a bad filter: at once");
        api_reply_clear(&bad);
        cr_expect_eq(s->offloaded, 4, "4 on the pool, 2 waiting");
        cr_expect_eq(api_harness_run_offloaded(s), 4);
        for (int i = 0; i < N; i++)
                cr_expect_eq(api_harness_answered(p[i]), i < 4, "list %d", i);
        cr_expect_eq(s->offloaded, 2, "the 2 waiting took the places freed");
        cr_expect_eq(api_harness_run_offloaded(s), 2);
        for (int i = 0; i < N; i++) {
                cr_expect_eq(r[i].status, 200, "list %d", i);
                api_reply_clear(&r[i]);
                api_harness_pending_free(p[i]);
        }
}

/* At shutdown (api_drop_parked) a list waiting for the pool is answered 503; those
 * on it answer when they end. */
Test(api_list, a_list_waiting_for_the_pool_is_answered_at_shutdown) {
        s->defer_offload = true;
        enum { N = 5 };
        struct api_reply r[N];
        struct api_harness_pending *p[N];
        for (int i = 0; i < N; i++) {
                memset(&r[i], 0, sizeof(r[i]));
                cr_assert(p[i] = api_harness_begin(s, "GET", "/v1/nodes", NULL, &r[i]));
        }
        api_drop_parked(s->api);
        cr_expect_eq(r[4].status, 503, "the one waiting");
        cr_expect_not(api_harness_answered(p[0]));
        s->defer_offload = false;
        cr_expect_eq(api_harness_run_offloaded(s), 4);
        for (int i = 0; i < N; i++) {
                cr_expect_eq(r[i].status, i < 4 ? 200 : 503, "list %d", i);
                api_reply_clear(&r[i]);
                api_harness_pending_free(p[i]);
        }
}
