/* test_api_client.c - the servers' /v1/client/... routes (routes_client.c): the
 * allocation and its node are found, the permission is checked in the
 * allocation's namespace (read-job for stats, read-logs for logs), and a node
 * without an HTTP address or a server without a loop answers clearly. The
 * forwarding itself runs against real agents in tests/integration/run.sh. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "common/model.h"
#include "controlplane/state/state.h"
#include "tests/support/api_harness.h"
#include "tests/unit/fixtures.h"

#define AID "0b5e3f8e-3c2a-4b8e-9d7a-6a1f2e3d4c5b"
#define AID2 "1b5e3f8e-3c2a-4b8e-9d7a-6a1f2e3d4c5b"

static int call(struct api_harness *h, const char *token, const char *method, const char *target, const char *body,
                char *ret_body, size_t cap) {
        h->token = token;
        struct api_reply r;
        api_harness_request(h, method, target, body, body ? strlen(body) : 0, &r);
        if (ret_body)
                snprintf(ret_body, cap, "%s", r.body ? r.body : "");
        int st = r.status;
        api_reply_clear(&r);
        return st;
}

/* Node n1 (with an HTTP address when addr) and allocation id of job "web" in ns on it. */
static void put(struct api_harness *h, const char *node_id, const char *addr, const char *id, const char *ns) {
        struct node *n = fx_node(node_id, "dc1", 4000, 8192);
        if (addr)
                n->http_addr = strdup(addr);
        cr_assert_eq(state_upsert_node(h->state, state_latest_index(h->state) + 1, n), 0);
        node_unref(n);
        struct job *j = fx_job("web", JOB_SERVICE, 1, 100, 64);
        free(j->namespace);
        j->namespace = strdup(ns);
        struct alloc *a = fx_alloc(id, j, node_id, 0, 100, 64);
        cr_assert_eq(state_upsert_allocs(h->state, state_latest_index(h->state) + 1, &a, 1), 0);
        alloc_unref(a);
        job_unref(j);
}

Test(api_client, unknown_allocation_no_node_address_and_no_loop) {
        struct api_harness *h = api_harness_new();
        cr_assert_not_null(h);
        char body[512];
        cr_expect_eq(call(h, NULL, "GET", "/v1/client/allocation/" AID "/stats", NULL, body, sizeof(body)), 404);
        cr_expect(strstr(body, "Unknown allocation"), "%s", body);
        put(h, "node-a", NULL, AID, "default");
        cr_expect_eq(call(h, NULL, "GET", "/v1/client/allocation/" AID "/stats", NULL, body, sizeof(body)), 400);
        cr_expect(strstr(body, "does not advertise an HTTP address"), "%s", body);
        put(h, "node-b", "127.0.0.1:1", AID2, "default");
        /* The harness has no loop to run the request to the agent on. */
        cr_expect_eq(call(h, NULL, "GET", "/v1/client/allocation/1b5e3f8e/stats", NULL, body, sizeof(body)), 501,
                     "found by prefix, then: %s", body);
        cr_expect_eq(call(h, NULL, "GET", "/v1/client/fs/logs/" AID2 "?task=web", NULL, body, sizeof(body)), 501);
        cr_expect_eq(call(h, NULL, "GET", "/v1/client/fs/logs/" AID2, NULL, body, sizeof(body)), 400, "no task: %s",
                     body);
        cr_expect_eq(call(h, NULL, "PUT", "/v1/client/allocation/" AID2 "/stats", "{}", NULL, 0), 405);
        api_harness_free(h);
}

Test(api_client, acls_in_the_allocations_namespace) {
        struct api_harness *h = api_harness_new_acl(true);
        cr_assert_not_null(h);
        h->token = NULL;
        struct api_reply r;
        api_harness_request(h, "PUT", "/v1/acl/bootstrap", NULL, 0, &r);
        json_t *boot = json_loads(r.body ? r.body : "", 0, NULL);
        api_reply_clear(&r);
        char mgmt[128];
        snprintf(mgmt, sizeof(mgmt), "%s", json_string_value(json_object_get(boot, "SecretID")));
        json_decref(boot);
        cr_assert_eq(call(h, mgmt, "PUT", "/v1/acl/policy/ro",
                          "{\"Name\":\"ro\",\"Rules\":\"namespace \\\"default\\\" { policy = \\\"read\\\" }\"}", NULL,
                          0),
                     200);
        char body[512];
        cr_assert_eq(
            call(h, mgmt, "PUT", "/v1/acl/token", "{\"Name\":\"reader\",\"Policies\":[\"ro\"]}", body, sizeof(body)),
            200);
        json_t *tok = json_loads(body, 0, NULL);
        char ro[128];
        snprintf(ro, sizeof(ro), "%s", json_string_value(json_object_get(tok, "SecretID")));
        json_decref(tok);
        put(h, "node-a", "127.0.0.1:1", AID, "default");
        put(h, "node-b", "127.0.0.1:1", AID2, "prod");
        cr_expect_eq(call(h, NULL, "GET", "/v1/client/allocation/" AID "/stats", NULL, NULL, 0), 403, "anonymous");
        cr_expect_eq(call(h, ro, "GET", "/v1/client/allocation/" AID "/stats", NULL, NULL, 0), 501,
                     "read-job in default: allowed (then no loop)");
        cr_expect_eq(call(h, ro, "GET", "/v1/client/fs/logs/" AID "?task=web", NULL, body, sizeof(body)), 403,
                     "the read policy has no read-logs");
        cr_expect(strstr(body, "read-logs"), "%s", body);
        cr_expect_eq(call(h, ro, "GET", "/v1/client/allocation/" AID2 "/stats", NULL, body, sizeof(body)), 403,
                     "an allocation in \"prod\", asked without ?namespace");
        cr_expect(strstr(body, "prod"), "%s", body);
        cr_expect_eq(call(h, mgmt, "GET", "/v1/client/fs/logs/" AID2 "?task=web", NULL, NULL, 0), 501);
        api_harness_free(h);
}
