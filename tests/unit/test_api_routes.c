/* test_api_routes.c - the route table of controlplane/api/ (routes.c) and its
 * one permission check (routes_acl.c): the table is well formed, dispatch
 * answers 404/405 as Nomad does, and api_authorize refuses when ACLs are on. */
#include <criterion/criterion.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "common/error.h"
#include "controlplane/api/http.h"
#include "controlplane/api/routes_acl.h"
#include "controlplane/api/routes_internal.h"
#include "controlplane/raft/fsm_server_secret.h"
#include "controlplane/state/state_acl.h"
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
                cr_expect_eq(api_authorize(false, NULL, NULL, (enum api_perm)p, "default", &err),
                             p == PERM_SERVER ? -EACCES : 0, "%s", api_perm_name((enum api_perm)p));
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

/* ---- server to server: the servers' secret and the join token ---- */

static const char *const internal_sched[] = {"dequeue", "plan", "eval", "ack", "anything"};

/* PUT /v1/acl/bootstrap: the management token's secret into ret. */
static void bootstrap(struct api_harness *h, char ret[37]) {
        struct api_reply r;
        api_harness_request(h, "POST", "/v1/acl/bootstrap", NULL, 0, &r);
        cr_assert_eq(r.status, 200, "%s", r.body);
        json_t *j = json_loads(r.body, 0, NULL);
        snprintf(ret, 37, "%s", json_string_value(json_object_get(j, "SecretID")));
        json_decref(j);
        api_reply_clear(&r);
}

/* Commits a fresh server secret into the harness's state, as the leader does. */
static void commit_server_secret(struct api_harness *h, char ret[65]) {
        json_t *cmd = fsm_server_secret_command();
        cr_assert_not_null(cmd);
        snprintf(ret, 65, "%s", json_string_value(json_object_get(cmd, "Secret")));
        cr_assert_eq(fsm_server_secret_apply(h->state, state_latest_index(h->state) + 1, cmd), 0);
        json_decref(cmd);
}

Test(api_routes, every_internal_route_needs_a_server_credential) {
        for (size_t i = 0; i < api_routes_count; i++)
                if (strncmp(api_routes[i].pattern, "internal/", 9) == 0)
                        cr_expect(api_routes[i].perm == PERM_SERVER || api_routes[i].perm == PERM_JOIN_READ,
                                  "%s: %s", api_routes[i].pattern, api_perm_name(api_routes[i].perm));
                else if (strcmp(api_routes[i].pattern, "operator/raft/join") == 0)
                        cr_expect_eq(api_routes[i].perm, PERM_JOIN_WRITE);
}

Test(api_routes, internal_sched_routes_answer_403_without_the_servers_secret_acls_on_or_off) {
        for (int acl = 0; acl < 2; acl++) {
                struct api_harness *h = api_harness_new_acl(acl);
                char path[64], *body = NULL;
                /* before a leader committed a secret nothing opens them */
                h->server_secret = "";
                cr_expect_eq(status_of(h, "POST", "/v1/internal/sched/dequeue", &body), 403);
                cr_expect(strstr(body, "not set yet"), "%s", body);
                free(body);
                char secret[65];
                commit_server_secret(h, secret);
                char mgmt_secret[37];
                if (acl) /* a management token is no server */
                        bootstrap(h, mgmt_secret);
                char wrong[65];
                snprintf(wrong, sizeof(wrong), "%s", secret);
                wrong[63] = wrong[63] == '0' ? '1' : '0'; /* the last digit differs */
                uint64_t denied = h->api->denied;
                for (size_t k = 0; k < sizeof(internal_sched) / sizeof(internal_sched[0]); k++) {
                        snprintf(path, sizeof(path), "/v1/internal/sched/%s", internal_sched[k]);
                        h->server_secret = NULL;
                        h->token = NULL;
                        cr_expect_eq(status_of(h, "POST", path, &body), 403, "%s anonymous", path);
                        cr_expect(strstr(body, "X-Drover-Server-Secret"), "%s", body);
                        free(body);
                        if (acl) {
                                h->token = mgmt_secret;
                                cr_expect_eq(status_of(h, "POST", path, NULL), 403, "%s with a management token", path);
                                h->token = NULL;
                        }
                        h->server_secret = wrong;
                        cr_expect_eq(status_of(h, "POST", path, NULL), 403, "%s with a wrong secret", path);
                        h->server_secret = secret;
                        /* past the check: the harness runs no scheduler RPC (404) */
                        cr_expect_eq(status_of(h, "POST", path, NULL), 404, "%s with the secret", path);
                }
                cr_expect_eq(h->api->denied - denied, acl ? 15u : 10u, "each refusal counted");
                h->server_secret = NULL;
                api_harness_free(h);
        }
}

Test(api_routes, raft_self_and_join_take_the_join_token_or_operator_acls) {
        const char *join = "0123456789abcdef-join";
        struct api_harness *h = api_harness_new();
        /* ACLs off, no join token configured: open, as before */
        cr_expect_eq(status_of(h, "GET", "/v1/internal/raft/self", NULL), 404, "past the check (no Raft here)");
        cr_expect_eq(status_of(h, "PUT", "/v1/operator/raft/join", NULL), 404);
        /* ACLs off, a join token configured: it is needed */
        cr_assert_eq(api_harness_set_join_token(h, false, join), 0);
        char *body = NULL;
        cr_expect_eq(status_of(h, "PUT", "/v1/operator/raft/join", &body), 403);
        cr_expect(strstr(body, "join token"), "%s", body);
        free(body);
        h->join_token = "0123456789abcdef-joim";
        cr_expect_eq(status_of(h, "GET", "/v1/internal/raft/self", NULL), 403, "a wrong join token");
        h->join_token = join;
        cr_expect_eq(status_of(h, "GET", "/v1/internal/raft/self", NULL), 404);
        cr_expect_eq(status_of(h, "PUT", "/v1/operator/raft/join", NULL), 404);
        /* ACLs on: the join token, or an ACL token with operator:write */
        cr_assert_eq(api_harness_set_join_token(h, true, join), 0);
        cr_expect_eq(status_of(h, "PUT", "/v1/operator/raft/join", NULL), 404, "the join token needs no ACL token");
        h->join_token = NULL;
        cr_expect_eq(status_of(h, "PUT", "/v1/operator/raft/join", &body), 403);
        cr_expect(strstr(body, "X-Drover-Join-Token"), "%s", body);
        free(body);
        cr_expect_eq(status_of(h, "GET", "/v1/internal/raft/self", NULL), 403);
        char mgmt[37];
        bootstrap(h, mgmt);
        h->token = mgmt;
        cr_expect_eq(status_of(h, "PUT", "/v1/operator/raft/join", NULL), 404, "an operator (management) token");
        h->token = NULL;
        /* the servers' secret opens no join */
        char secret[65];
        commit_server_secret(h, secret);
        h->server_secret = secret;
        cr_expect_eq(status_of(h, "PUT", "/v1/operator/raft/join", NULL), 403);
        h->server_secret = NULL;
        api_harness_free(h);
}

Test(api_routes, token_create_refuses_policies_or_roles_that_are_not_bounded_lists) {
        struct api_harness *h = api_harness_new_acl(true);
        char mgmt[37];
        bootstrap(h, mgmt);
        h->token = mgmt;
        static const struct {
                const char *body, *want;
        } cases[] = {
            {"{\"Name\":\"x\",\"Policies\":\"ro\"}", "token Policies must be a list of policy names"},
            {"{\"Name\":\"x\",\"Roles\":{}}", "token Roles must be a list of {\"ID\"} or {\"Name\"}"},
            {"{\"Name\":\"x\",\"Roles\":[{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}]}",
             "a token names at most 16 roles (got 17)"},
        };
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                struct api_reply r;
                api_harness_request(h, "PUT", "/v1/acl/token", cases[i].body, strlen(cases[i].body), &r);
                cr_expect_eq(r.status, 400, "%s: %d", cases[i].body, r.status);
                cr_expect(r.body && strstr(r.body, cases[i].want), "%s: %s", cases[i].body, r.body);
                api_reply_clear(&r);
        }
        h->token = NULL;
        api_harness_free(h);
}

/* What the harness's sched_plan saw (internal_plan_query_is_checked). */
struct seen_plan {
        int calls;
        char token[160];
        int priority;
        bool all_at_once;
        uint64_t snapshot_index;
        size_t len;
};
static struct seen_plan seen;

static void record_plan(struct api_harness *h, struct http_req *req, const struct api_sched_plan *p, const void *body,
                        size_t len) {
        (void)h, (void)body;
        seen.calls++;
        snprintf(seen.token, sizeof(seen.token), "%s", p->token);
        seen.priority = p->priority;
        seen.all_at_once = p->all_at_once;
        seen.snapshot_index = p->snapshot_index;
        seen.len = len;
        http_req_respond_text(req, 200, "ok");
}

/* A follower's plan in the compact form: its fields come from the query and are
 * checked before the body reaches the server (a 400 says which); JSON still goes
 * to the JSON RPC. */
Test(api_routes, internal_plan_query_is_checked) {
        struct api_harness *h = api_harness_new();
        char secret[65], *body = NULL;
        commit_server_secret(h, secret);
        h->server_secret = secret;
        h->sched_plan = record_plan;
        h->content_type = "application/octet-stream";
        struct api_reply r;
        memset(&seen, 0, sizeof(seen));
        api_harness_request(h, "POST",
                            "/v1/internal/sched/plan?token=0f1e-2d&priority=70&all_at_once=1&snapshot_index="
                            "18446744073709551615",
                            "DPR2xyz", 7, &r);
        cr_expect_eq(r.status, 200, "%s", r.body);
        api_reply_clear(&r);
        cr_expect_eq(seen.calls, 1);
        cr_expect_str_eq(seen.token, "0f1e-2d");
        cr_expect_eq(seen.priority, 70);
        cr_expect(seen.all_at_once);
        cr_expect_eq(seen.snapshot_index, UINT64_MAX);
        cr_expect_eq(seen.len, 7u);
        char long_token[API_SCHED_TOKEN_MAX + 2];
        memset(long_token, 'a', sizeof(long_token) - 1);
        long_token[sizeof(long_token) - 1] = '\0';
        char path[512];
        const char *bad[] = {
            "priority=50&all_at_once=0&snapshot_index=1",                     /* no token */
            "token=&priority=50&all_at_once=0&snapshot_index=1",              /* empty */
            "token=a%20b&priority=50&all_at_once=0&snapshot_index=1",         /* a space */
            "token=t&priority=1001&all_at_once=0&snapshot_index=1",           /* out of range */
            "token=t&priority=-1&all_at_once=0&snapshot_index=1",             /* negative */
            "token=t&priority=5x&all_at_once=0&snapshot_index=1",             /* not a number */
            "token=t&priority=50&all_at_once=2&snapshot_index=1",             /* not 0|1 */
            "token=t&priority=50&all_at_once=0&snapshot_index=18446744073709551616", /* > uint64 */
            "token=t&priority=50&all_at_once=0",                              /* missing */
            NULL,                                                             /* a token too long */
        };
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                if (bad[i])
                        snprintf(path, sizeof(path), "/v1/internal/sched/plan?%s", bad[i]);
                else
                        snprintf(path, sizeof(path),
                                 "/v1/internal/sched/plan?token=%s&priority=50&all_at_once=0&snapshot_index=1",
                                 long_token);
                api_harness_request(h, "POST", path, "DPR2", 4, &r);
                cr_expect_eq(r.status, 400, "%s: %d %s", path, r.status, r.body);
                api_reply_clear(&r);
        }
        cr_expect_eq(seen.calls, 1, "no bad query reached the server");
        /* JSON goes to the JSON RPC, which the harness does not run */
        h->content_type = "application/json";
        cr_expect_eq(status_of(h, "POST", "/v1/internal/sched/plan", &body), 404);
        free(body);
        cr_expect_eq(seen.calls, 1);
        h->server_secret = NULL;
        api_harness_free(h);
}
