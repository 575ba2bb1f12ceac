/* test_api_routes.c - the route table of controlplane/api/ (routes.c) and its
 * one permission check (routes_acl.c): the table is well formed, dispatch
 * answers 404/405 as Nomad does, and api_authorize refuses when ACLs are on. */
#include <criterion/criterion.h>
#include <errno.h>
#include <jansson.h>
#include <string.h>

#include "common/error.h"
#include "controlplane/api/routes_acl.h"
#include "controlplane/api/routes_internal.h"
#include "tests/support/api_harness.h"

static int count_segs(const char *p, int *ret_params) {
        int n = 1, params = *p == ':';
        for (; *p; p++)
                if (*p == '/') {
                        n++;
                        params += p[1] == ':';
                }
        *ret_params = params;
        return n;
}

Test(api_routes, the_table_is_well_formed) {
        cr_assert_gt(api_routes_count, 20);
        for (size_t i = 0; i < api_routes_count; i++) {
                const struct route *r = &api_routes[i];
                int params;
                int segs = count_segs(r->pattern, &params);
                cr_expect_leq(segs, ROUTE_MAX_SEGS, "%s: too many segments", r->pattern);
                cr_expect_leq(params, ROUTE_MAX_PARAMS, "%s: too many parameters", r->pattern);
                cr_expect_neq(r->methods, 0u, "%s: no method", r->pattern);
                cr_expect_not_null(r->fn, "%s: no handler", r->pattern);
                cr_expect(r->pattern[0] != '/' && r->pattern[strlen(r->pattern) - 1] != '/', "%s", r->pattern);
                /* Rows of one pattern sit together and never share a method. */
                for (size_t k = i + 1; k < api_routes_count; k++) {
                        if (strcmp(api_routes[k].pattern, r->pattern) != 0)
                                continue;
                        cr_expect_eq(r->methods & api_routes[k].methods, 0u, "%s: a method twice", r->pattern);
                        for (size_t m = i + 1; m < k; m++)
                                cr_expect_str_eq(api_routes[m].pattern, r->pattern, "%s: rows apart", r->pattern);
                }
                /* Reads never ask for a write capability. */
                if (r->methods == M_GET)
                        cr_expect(r->perm != PERM_NS_SUBMIT_JOB && r->perm != PERM_NODE_WRITE &&
                                      r->perm != PERM_OPERATOR_WRITE && r->perm != PERM_NODE_SECRET,
                                  "%s: a write capability on a read", r->pattern);
        }
}

static int status_of(struct api_harness *h, const char *method, const char *target, char **ret_body) {
        struct api_reply r;
        api_harness_request(h, method, target, NULL, 0, &r);
        int st = r.status;
        if (ret_body)
                *ret_body = strdup(r.body ? r.body : "");
        api_reply_clear(&r);
        return st;
}

Test(api_routes, unknown_paths_are_404_and_known_paths_with_a_wrong_method_405) {
        struct api_harness *h = api_harness_new();
        char *body = NULL;
        cr_expect_eq(status_of(h, "GET", "/v1/job/a/b/c", &body), 404);
        cr_expect(strstr(body, "Invalid URL path"), "%s", body);
        free(body);
        cr_expect_eq(status_of(h, "PATCH", "/v1/job/web", &body), 405);
        cr_expect(strstr(body, "GET, PUT, POST, DELETE"), "the allowed methods are listed: %s", body);
        free(body);
        cr_expect_eq(status_of(h, "GET", "/v1/node/register", &body), 405, "a fixed segment wins over :id");
        free(body);
        cr_expect_eq(status_of(h, "DELETE", "/v1/status/leader", NULL), 405);
        cr_expect_eq(status_of(h, "GET", "/v1/status/leader", NULL), 200);
        cr_expect_eq(status_of(h, "GET", "/v1/", NULL), 404);
        cr_expect_eq(status_of(h, "GET", "/v1/a/b/c/d/e/f/g/h/i", NULL), 404);
        api_harness_free(h);
}

Test(api_routes, acls_disabled_allow_everything_and_enabled_refuse_without_a_token) {
        struct error err = {0};
        for (int p = 0; p < PERM__COUNT; p++) {
                cr_expect_eq(api_authorize(false, NULL, NULL, (enum api_perm)p, "default", &err), 0, "%s",
                             api_perm_name((enum api_perm)p));
                cr_expect_str_neq(api_perm_name((enum api_perm)p), "unknown");
        }
        cr_expect_eq(api_authorize(true, NULL, NULL, PERM_NONE, "default", &err), 0);
        cr_expect_eq(api_authorize(true, NULL, NULL, PERM_NODE_SECRET, "default", &err), 0);
        cr_expect_eq(api_authorize(true, NULL, NULL, PERM_NS_SUBMIT_JOB, "prod", &err), -EACCES);
        cr_expect(strstr(err.msg, "submit-job") && strstr(err.msg, "\"prod\""), "%s", err.msg);
        cr_expect_eq(api_authorize(true, NULL, NULL, PERM_OPERATOR_WRITE, "default", &err), -EACCES);
        cr_expect(strstr(err.msg, "operator:write"), "%s", err.msg);
}

Test(api_routes, with_acls_enabled_the_dispatcher_answers_403_before_any_work) {
        struct api_harness *h = api_harness_new_acl(true);
        char *body = NULL;
        cr_expect_eq(status_of(h, "PUT", "/v1/jobs", &body), 403, "refused before the body is even read");
        cr_expect(strstr(body, "Permission denied"), "%s", body);
        free(body);
        cr_expect_eq(status_of(h, "GET", "/v1/status/leader", NULL), 200, "no capability needed");
        api_harness_free(h);
}
