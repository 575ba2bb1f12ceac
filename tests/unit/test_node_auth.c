/* test_node_auth.c - authenticated nodes (docs/security.md): the node registration
 * secret (or a client certificate), node secrets on every later call, and
 * constant-time comparison and SHA-256 of secrets (controlplane/acl/secret). */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "controlplane/acl/secret.h"
#include "tests/support/api_harness.h"

API_HARNESS_SUITE(node_auth, s);

static int req(const char *method, const char *target, const char *body, char *ret_msg, size_t cap) {
        struct api_reply r;
        api_harness_request(s, method, target, body, body ? strlen(body) : 0, &r);
        if (ret_msg)
                snprintf(ret_msg, cap, "%s", r.body ? r.body : "");
        int status = r.status;
        api_reply_clear(&r);
        return status;
}

#define NODE_A "11111111-2222-3333-4444-555555555555"
#define NODE_B "aaaaaaaa-2222-3333-4444-555555555555"

static void node_body(char *buf, size_t cap, const char *id, const char *secret, const char *reg) {
        snprintf(buf, cap,
                 "{%s%s%s\"Node\":{\"ID\":\"%s\",\"SecretID\":\"%s\",\"Name\":\"n-%.4s\",\"Datacenter\":\"dc1\","
                 "\"Status\":\"ready\",\"NodeResources\":{\"Cpu\":{\"CpuShares\":4000},\"Memory\":{\"MemoryMB\":8192}},"
                 "\"Drivers\":{\"raw_exec\":{\"Detected\":true,\"Healthy\":true}}}}",
                 reg ? "\"RegistrationSecret\":\"" : "", reg ? reg : "", reg ? "\"," : "", id, secret, id);
}

static size_t node_count(void) {
        struct api_reply r;
        api_harness_request(s, "GET", "/v1/nodes", NULL, 0, &r);
        json_t *j = json_loads(r.body ? r.body : "", 0, NULL);
        size_t n = json_array_size(j);
        json_decref(j);
        api_reply_clear(&r);
        return n;
}

Test(node_auth, registration_needs_the_secret_when_one_is_configured) {
        cr_assert_eq(api_harness_set_node_secret(s, "join-me"), 0);
        char body[1024], msg[512];
        node_body(body, sizeof(body), NODE_A, "sa", NULL);
        cr_expect_eq(req("PUT", "/v1/node/register", body, msg, sizeof(msg)), 403);
        cr_expect(strstr(msg, "registration secret"), "says what is missing: %s", msg);
        node_body(body, sizeof(body), NODE_A, "sa", "wrong");
        cr_expect_eq(req("PUT", "/v1/node/register", body, NULL, 0), 403);
        node_body(body, sizeof(body), NODE_A, "sa", "join-m");
        cr_expect_eq(req("PUT", "/v1/node/register", body, NULL, 0), 403, "a prefix of the secret is not the secret");
        cr_expect_eq(node_count(), 0, "no node was registered by the refused requests");
        node_body(body, sizeof(body), NODE_A, "sa", "join-me");
        cr_expect_eq(req("PUT", "/v1/node/register", body, msg, sizeof(msg)), 200, "%s", msg);
        cr_expect_eq(node_count(), 1);
}

Test(node_auth, a_client_certificate_stands_in_for_the_registration_secret) {
        cr_assert_eq(api_harness_set_node_secret(s, "join-me"), 0);
        s->client_verified = true;
        char body[1024];
        node_body(body, sizeof(body), NODE_A, "sa", NULL);
        cr_expect_eq(req("PUT", "/v1/node/register", body, NULL, 0), 200);
        cr_expect_eq(node_count(), 1);
}

Test(node_auth, without_a_configured_secret_registration_is_open_as_before) {
        char body[1024];
        node_body(body, sizeof(body), NODE_A, "sa", NULL);
        cr_expect_eq(req("PUT", "/v1/node/register", body, NULL, 0), 200);
}

Test(node_auth, node_a_secret_gets_nothing_of_node_b) {
        char body[1024], msg[512];
        node_body(body, sizeof(body), NODE_A, "secret-a", NULL);
        cr_assert_eq(req("PUT", "/v1/node/register", body, NULL, 0), 200);
        node_body(body, sizeof(body), NODE_B, "secret-b", NULL);
        cr_assert_eq(req("PUT", "/v1/node/register", body, NULL, 0), 200);
        s->token = "secret-a";
        cr_expect_eq(req("GET", "/v1/node/" NODE_A "/allocations", NULL, NULL, 0), 200);
        cr_expect_eq(req("GET", "/v1/node/" NODE_B "/allocations", NULL, msg, sizeof(msg)), 403,
                     "node A's secret fetches node B's allocations: %s", msg);
        cr_expect_eq(req("PUT", "/v1/node/" NODE_B "/heartbeat", "{\"SecretID\":\"secret-a\"}", NULL, 0), 403);
        cr_expect_eq(
            req("PUT", "/v1/node/" NODE_B "/allocations", "{\"SecretID\":\"secret-a\",\"Allocs\":[]}", NULL, 0), 403);
        /* node A re-registering as node B with its own secret is refused */
        node_body(body, sizeof(body), NODE_B, "secret-a", NULL);
        cr_expect_eq(req("PUT", "/v1/node/register", body, NULL, 0), 403);
        s->token = "secret-b";
        cr_expect_eq(req("GET", "/v1/node/" NODE_B "/allocations", NULL, NULL, 0), 200);
}

Test(node_auth, an_unknown_node_is_refused) {
        cr_expect_eq(req("PUT", "/v1/node/" NODE_A "/heartbeat", "{\"SecretID\":\"x\"}", NULL, 0), 404);
        char body[1024];
        node_body(body, sizeof(body), NODE_A, "secret-a", NULL);
        cr_assert_eq(req("PUT", "/v1/node/register", body, NULL, 0), 200);
        cr_expect_eq(req("PUT", "/v1/node/" NODE_A "/heartbeat", "{\"SecretID\":\"secret-\"}", NULL, 0), 403);
        cr_expect_eq(req("PUT", "/v1/node/" NODE_A "/heartbeat", "{\"SecretID\":\"secret-aa\"}", NULL, 0), 403);
        cr_expect_eq(req("PUT", "/v1/node/" NODE_A "/heartbeat", "{\"SecretID\":\"secret-a\"}", NULL, 0), 200);
}

Test(secret, equal_only_for_the_same_bytes) {
        cr_expect(secret_equal("abc", "abc"));
        cr_expect(!secret_equal("abc", "abd"));
        cr_expect(!secret_equal("abc", "ab"));
        cr_expect(!secret_equal("ab", "abc"));
        cr_expect(!secret_equal("", "a"));
        cr_expect(secret_equal("", ""));
        cr_expect(!secret_equal(NULL, "a"));
        cr_expect(!secret_equal(NULL, NULL));
}

Test(secret, sha256_hex) {
        char h[SECRET_HASH_HEX];
        cr_assert_eq(secret_hash("abc", h), 0);
        cr_expect_str_eq(h, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        cr_assert_eq(secret_hash("", h), 0);
        cr_expect_str_eq(h, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}
