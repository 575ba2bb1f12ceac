/* test_state_acl.c - ACLs end to end below HTTP: the state's ACL tables
 * (controlplane/state/state_acl.c) written through the FSM's ACL commands,
 * snapshots and Raft snapshots of them, api_authorize() resolving tokens, and
 * the /v1/acl endpoints through the api harness. */
#include <criterion/criterion.h>
#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/error.h"
#include "controlplane/acl/acl.h"
#include "controlplane/acl/secret.h"
#include "controlplane/api/routes.h"
#include "controlplane/api/routes_acl.h"
#include "controlplane/raft/fsm.h"
#include "controlplane/raft/fsm_server_secret.h"
#include "controlplane/state/state.h"
#include "controlplane/state/state_acl.h"
#include "tests/support/api_harness.h"

/* A token command as the API builds it: the secret leaves only as its hash. */
static json_t *token_cmd(const char *type, enum acl_token_type tt, const char *policy, char secret[37]) {
        struct acl_token *t = NULL;
        const char *pols[] = {policy};
        cr_assert_eq(acl_token_create(tt, "t", pols, policy ? 1 : 0, &t, secret, NULL), 0);
        struct state_acl_token st = {.token = t, .create_time = 42};
        json_t *cmd = json_pack("{s:s, s:o}", "Type", type, "Token", state_acl_token_json(&st, true));
        acl_token_free(t);
        return cmd;
}

static int apply(struct fsm *f, struct state_store *st, json_t *cmd) {
        struct error err = {0};
        int r = fsm_apply_command(f, state_latest_index(st) + 1, cmd, &err);
        json_decref(cmd);
        return r;
}

static json_t *policy_cmd(const char *name, const char *rules) {
        return json_pack("{s:s, s:{s:s, s:s}}", "Type", "ACLPolicyUpsert", "Policy", "Name", name, "Rules", rules);
}

Test(state_acl, fsm_commands_write_policies_and_tokens_and_bootstrap_works_once) {
        struct state_store *st = state_create();
        struct fsm *f = fsm_create(&st, NULL, NULL);
        char mgmt[37], ro[37], again[37];
        cr_expect_eq(state_acl_bootstrap_index(st), 0);
        cr_assert_eq(apply(f, st, token_cmd("ACLBootstrap", ACL_TOKEN_MANAGEMENT, NULL, mgmt)), 0);
        uint64_t boot = state_acl_bootstrap_index(st);
        cr_expect_gt(boot, 0);
        cr_expect_eq(apply(f, st, token_cmd("ACLBootstrap", ACL_TOKEN_MANAGEMENT, NULL, again)), -EEXIST,
                     "bootstrap only once");
        cr_expect_null(state_acl_token_by_secret(st, again));
        cr_expect_eq(apply(f, st, policy_cmd("ro", "namespace \"default\" { policy = \"read\" }")), 0);
        cr_expect_eq(apply(f, st, policy_cmd("bad", "namespace \"default\" { policy = \"nope\" }")), -EINVAL);
        cr_expect_eq(apply(f, st, policy_cmd("../x", "node { policy = \"read\" }")), -EINVAL, "names are checked");
        cr_assert_eq(apply(f, st, token_cmd("ACLTokenUpsert", ACL_TOKEN_CLIENT, "ro", ro)), 0);

        const struct state_acl_token *t = state_acl_token_by_secret(st, ro);
        cr_assert_not_null(t);
        cr_expect_eq(t->token->type, ACL_TOKEN_CLIENT);
        cr_expect_str_eq(t->token->policies[0], "ro");
        cr_expect_eq(t->create_time, 42);
        cr_expect_null(state_acl_token_by_secret(st, "not-a-secret"));
        cr_expect_str_neq(t->token->secret_hash, ro, "stored hashed");
        cr_expect_not_null(state_acl_policy_get(st, "ro"));
        cr_expect_null(state_acl_policy_get(st, "bad"));

        /* a snapshot keeps what it saw */
        struct state_store *snap = state_snapshot(st);
        char acc[37];
        memcpy(acc, t->token->accessor_id, sizeof(acc));
        cr_assert_eq(apply(f, st, json_pack("{s:s, s:s}", "Type", "ACLTokenDelete", "AccessorID", acc)), 0);
        cr_assert_eq(apply(f, st, json_pack("{s:s, s:s}", "Type", "ACLPolicyDelete", "Name", "ro")), 0);
        cr_expect_null(state_acl_token_by_secret(st, ro));
        cr_expect_null(state_acl_policy_get(st, "ro"));
        cr_expect_not_null(state_acl_token_by_secret(snap, ro));
        cr_expect_not_null(state_acl_policy_get(snap, "ro"));
        cr_expect_eq(apply(f, st, json_pack("{s:s, s:s}", "Type", "ACLTokenDelete", "AccessorID", acc)), -ENOENT);
        cr_expect_eq(state_acl_policy_upsert(snap, 99, "x", "", "node { policy = \"read\" }", NULL), -EROFS);
        state_destroy(snap);
        fsm_destroy(f);
        state_destroy(st);
}

Test(state_acl, raft_snapshots_keep_policies_tokens_and_the_bootstrap_but_no_secret) {
        struct state_store *st = state_create();
        struct fsm *f = fsm_create(&st, NULL, NULL);
        char mgmt[37], ro[37];
        cr_assert_eq(apply(f, st, token_cmd("ACLBootstrap", ACL_TOKEN_MANAGEMENT, NULL, mgmt)), 0);
        cr_assert_eq(apply(f, st, policy_cmd("ro", "namespace \"default\" { policy = \"read\" }")), 0);
        cr_assert_eq(apply(f, st, token_cmd("ACLTokenUpsert", ACL_TOKEN_CLIENT, "ro", ro)), 0);
        json_t *snap = NULL;
        cr_assert_eq(state_save(st, &snap), 0);
        char *text = json_dumps(snap, JSON_COMPACT);
        cr_expect_null(strstr(text, ro), "the secret is not in the snapshot");
        cr_expect_null(strstr(text, mgmt));
        free(text);
        struct state_store *back = NULL;
        struct error err = {0};
        cr_assert_eq(state_restore(snap, &back, &err), 0, "%s", err.msg);
        cr_expect_eq(state_acl_bootstrap_index(back), state_acl_bootstrap_index(st));
        const struct state_acl_token *t = state_acl_token_by_secret(back, ro);
        cr_assert_not_null(t);
        cr_expect_eq(t->create_index, state_acl_token_by_secret(st, ro)->create_index);
        cr_expect_not_null(state_acl_token_by_secret(back, mgmt));
        const struct state_acl_policy *p = state_acl_policy_get(back, "ro");
        cr_assert_not_null(p);
        cr_expect_str_eq(p->rules, "namespace \"default\" { policy = \"read\" }");
        /* a restored store still refuses a second bootstrap */
        struct fsm *f2 = fsm_create(&back, NULL, NULL);
        char again[37];
        cr_expect_eq(apply(f2, back, token_cmd("ACLBootstrap", ACL_TOKEN_MANAGEMENT, NULL, again)), -EEXIST);
        fsm_destroy(f2);
        state_destroy(back);
        json_decref(snap);
        fsm_destroy(f);
        state_destroy(st);
}

Test(state_acl, api_authorize_resolves_tokens_through_the_state) {
        struct state_store *st = state_create();
        struct fsm *f = fsm_create(&st, NULL, NULL);
        char mgmt[37], ro[37];
        cr_assert_eq(apply(f, st, token_cmd("ACLBootstrap", ACL_TOKEN_MANAGEMENT, NULL, mgmt)), 0);
        cr_assert_eq(
            apply(f, st, policy_cmd("ro", "namespace \"default\" { policy = \"read\" }\nnode { policy = \"read\" }")),
            0);
        cr_assert_eq(apply(f, st, token_cmd("ACLTokenUpsert", ACL_TOKEN_CLIENT, "ro", ro)), 0);
        struct error err = {0};
        for (int p = 0; p < PERM__COUNT; p++)
                cr_expect_eq(api_authorize(true, st, mgmt, (enum api_perm)p, "prod", &err), p == PERM_SERVER ? -EACCES : 0,
                             "management: %s", api_perm_name((enum api_perm)p));
        cr_expect_eq(api_authorize(true, st, ro, PERM_NS_READ_JOB, "default", &err), 0);
        cr_expect_eq(api_authorize(true, st, ro, PERM_NODE_READ, NULL, &err), 0);
        cr_expect_eq(api_authorize(true, st, ro, PERM_ACL_TOKEN, NULL, &err), 0);
        cr_expect_eq(api_authorize(true, st, ro, PERM_NS_SUBMIT_JOB, "default", &err), -EACCES);
        cr_expect(strstr(err.msg, "Permission denied") && strstr(err.msg, "submit-job"), "%s", err.msg);
        cr_expect_eq(api_authorize(true, st, ro, PERM_NS_READ_JOB, "prod", &err), -EACCES);
        cr_expect_eq(api_authorize(true, st, ro, PERM_NODE_WRITE, NULL, &err), -EACCES);
        cr_expect_eq(api_authorize(true, st, ro, PERM_MANAGEMENT, NULL, &err), -EACCES);
        cr_expect_eq(api_authorize(true, st, "00000000-0000-0000-0000-000000000000", PERM_NS_READ_JOB, "default", &err),
                     -EACCES);
        cr_expect(strstr(err.msg, "ACL token not found"), "%s", err.msg);
        /* anonymous: nothing, until a policy named "anonymous" exists */
        cr_expect_eq(api_authorize(true, st, NULL, PERM_NS_READ_JOB, "default", &err), -EACCES);
        cr_expect_eq(api_authorize(true, st, "", PERM_ACL_TOKEN, NULL, &err), -EACCES);
        cr_assert_eq(apply(f, st, policy_cmd("anonymous", "namespace \"default\" { policy = \"read\" }")), 0);
        cr_expect_eq(api_authorize(true, st, NULL, PERM_NS_READ_JOB, "default", &err), 0);
        cr_expect_eq(api_authorize(true, st, NULL, PERM_NS_SUBMIT_JOB, "default", &err), -EACCES);
        /* a token whose policy was deleted keeps nothing of it */
        cr_assert_eq(apply(f, st, json_pack("{s:s, s:s}", "Type", "ACLPolicyDelete", "Name", "ro")), 0);
        cr_expect_eq(api_authorize(true, st, ro, PERM_NODE_READ, NULL, &err), -EACCES);
        /* ACLs off: everything */
        cr_expect_eq(api_authorize(false, st, "junk", PERM_MANAGEMENT, NULL, &err), 0);
        fsm_destroy(f);
        state_destroy(st);
}

static json_t *request(struct api_harness *h, const char *token, const char *method, const char *target,
                       const char *body, int want) {
        h->token = token;
        struct api_reply r;
        api_harness_request(h, method, target, body, body ? strlen(body) : 0, &r);
        cr_expect_eq(r.status, want, "%s %s: %d %s", method, target, r.status, r.body);
        json_t *j = json_loads(r.body ? r.body : "", JSON_DECODE_ANY, NULL);
        api_reply_clear(&r);
        return j;
}

Test(state_acl, the_acl_endpoints_bootstrap_policies_and_tokens) {
        struct api_harness *off = api_harness_new();
        json_decref(request(off, NULL, "PUT", "/v1/acl/bootstrap", NULL, 400));
        api_harness_free(off);

        struct api_harness *h = api_harness_new_acl(true);
        json_t *boot = request(h, NULL, "PUT", "/v1/acl/bootstrap", NULL, 200);
        const char *mgmt = json_string_value(json_object_get(boot, "SecretID"));
        cr_assert_not_null(mgmt);
        cr_expect_str_eq(json_string_value(json_object_get(boot, "Type")), "management");
        json_decref(request(h, NULL, "PUT", "/v1/acl/bootstrap", NULL, 400));
        json_decref(request(h, NULL, "GET", "/v1/acl/policies", NULL, 403));
        json_decref(request(h, mgmt, "PUT", "/v1/acl/policy/ro",
                            "{\"Name\":\"ro\",\"Rules\":\"namespace \\\"default\\\" { policy = \\\"read\\\" }\"}",
                            200));
        json_decref(request(h, mgmt, "PUT", "/v1/acl/policy/other", "{\"Name\":\"ro\",\"Rules\":\"\"}", 400));
        json_decref(request(h, mgmt, "PUT", "/v1/acl/token", "{\"Name\":\"x\",\"Policies\":[\"missing\"]}", 400));
        json_t *tok = request(h, mgmt, "PUT", "/v1/acl/token", "{\"Name\":\"reader\",\"Policies\":[\"ro\"]}", 200);
        const char *ro = json_string_value(json_object_get(tok, "SecretID"));
        const char *acc = json_string_value(json_object_get(tok, "AccessorID"));
        cr_assert(ro && acc);
        json_t *self = request(h, ro, "GET", "/v1/acl/token/self", NULL, 200);
        cr_expect_str_eq(json_string_value(json_object_get(self, "Name")), "reader");
        cr_expect_null(json_object_get(self, "SecretID"), "the secret only on create");
        cr_expect_null(json_object_get(self, "SecretHash"));
        json_decref(self);
        json_decref(request(h, ro, "GET", "/v1/jobs", NULL, 200));
        json_decref(request(h, ro, "PUT", "/v1/jobs", "{}", 403));
        json_t *list = request(h, mgmt, "GET", "/v1/acl/tokens", NULL, 200);
        cr_expect_eq(json_array_size(list), 2);
        json_decref(list);
        char path[128];
        snprintf(path, sizeof(path), "/v1/acl/token/%s", acc);
        json_decref(request(h, ro, "GET", path, NULL, 403));
        json_decref(request(h, mgmt, "GET", path, NULL, 200));
        json_decref(request(h, mgmt, "DELETE", path, NULL, 200));
        json_decref(request(h, mgmt, "GET", path, NULL, 404));
        json_decref(request(h, ro, "GET", "/v1/jobs", NULL, 403));
        json_decref(request(h, mgmt, "DELETE", "/v1/acl/policy/ro", NULL, 200));
        json_decref(request(h, mgmt, "GET", "/v1/acl/policy/ro", NULL, 404));
        json_decref(tok);
        json_decref(boot);
        api_harness_free(h);
}

Test(state_acl, node_allocations_take_the_node_secret_or_an_acl_token_with_node_read) {
        struct api_harness *h = api_harness_new_acl(true);
        static const char node_a[] =
            "{\"Node\":{\"ID\":\"aaaaaaaa-1111-3333-4444-555555555555\",\"SecretID\":\"secret-a\",\"Name\":\"a\","
            "\"Datacenter\":\"dc1\",\"Status\":\"ready\",\"NodeResources\":{\"Cpu\":{\"CpuShares\":4000},"
            "\"Memory\":{\"MemoryMB\":8192}}}}";
        static const char node_b[] =
            "{\"Node\":{\"ID\":\"aaaaaaaa-2222-3333-4444-555555555555\",\"SecretID\":\"secret-b\",\"Name\":\"b\","
            "\"Datacenter\":\"dc1\",\"Status\":\"ready\",\"NodeResources\":{\"Cpu\":{\"CpuShares\":4000},"
            "\"Memory\":{\"MemoryMB\":8192}}}}";
        json_decref(request(h, NULL, "PUT", "/v1/node/register", node_a, 200));
        json_decref(request(h, NULL, "PUT", "/v1/node/register", node_b, 200));
        static const char path[] = "/v1/node/aaaaaaaa-1111-3333-4444-555555555555/allocations";
        json_decref(request(h, "secret-a", "GET", path, NULL, 200));
        json_decref(request(h, "secret-b", "GET", path, NULL, 403));
        json_decref(request(h, NULL, "GET", path, NULL, 403));
        json_t *boot = request(h, NULL, "PUT", "/v1/acl/bootstrap", NULL, 200);
        const char *mgmt = json_string_value(json_object_get(boot, "SecretID"));
        json_decref(
            request(h, mgmt, "PUT", "/v1/acl/policy/nr", "{\"Rules\":\"node { policy = \\\"read\\\" }\"}", 200));
        json_decref(request(h, mgmt, "PUT", "/v1/acl/policy/jr",
                            "{\"Rules\":\"namespace \\\"default\\\" { policy = \\\"read\\\" }\"}", 200));
        json_t *nr = request(h, mgmt, "PUT", "/v1/acl/token", "{\"Policies\":[\"nr\"]}", 200);
        json_t *jr = request(h, mgmt, "PUT", "/v1/acl/token", "{\"Policies\":[\"jr\"]}", 200);
        json_decref(request(h, json_string_value(json_object_get(nr, "SecretID")), "GET", path, NULL, 200));
        json_decref(request(h, json_string_value(json_object_get(jr, "SecretID")), "GET", path, NULL, 403));
        json_decref(request(h, mgmt, "GET", path, NULL, 200));
        json_decref(request(h, "secret-a", "GET", path, NULL, 200));
        json_decref(nr);
        json_decref(jr);
        json_decref(boot);
        api_harness_free(h);
}

Test(state_acl, the_policy_count_is_bounded_with_a_400) {
        struct api_harness *h = api_harness_new_acl(true);
        json_t *boot = request(h, NULL, "PUT", "/v1/acl/bootstrap", NULL, 200);
        const char *mgmt = json_string_value(json_object_get(boot, "SecretID"));
        static const char body[] = "{\"Rules\":\"node { policy = \\\"read\\\" }\"}";
        char path[64];
        for (int i = 0; i < STATE_ACL_MAX_POLICIES; i++) {
                snprintf(path, sizeof(path), "/v1/acl/policy/p%d", i);
                h->token = mgmt;
                struct api_reply r;
                api_harness_request(h, "PUT", path, body, strlen(body), &r);
                cr_assert_eq(r.status, 200, "%s: %s", path, r.body);
                api_reply_clear(&r);
        }
        json_t *e = request(h, mgmt, "PUT", "/v1/acl/policy/one-more", body, 400);
        json_decref(e);
        json_decref(request(h, mgmt, "PUT", "/v1/acl/policy/p7", body, 200)); /* an update still goes */
        json_decref(boot);
        api_harness_free(h);
}

/* A token that expires: kept (and refused) until the leader deletes it. */
Test(state_acl, an_expired_token_is_refused_and_listed_for_deletion) {
        struct state_store *st = state_create();
        struct fsm *f = fsm_create(&st, NULL, NULL);
        char mgmt[37], soon[37], later[37];
        cr_assert_eq(apply(f, st, token_cmd("ACLBootstrap", ACL_TOKEN_MANAGEMENT, NULL, mgmt)), 0);
        cr_assert_eq(apply(f, st, policy_cmd("ro", "namespace \"default\" { policy = \"read\" }")), 0);
        int64_t now = clock_now_ns();
        const char *secrets[2] = {soon, later};
        int64_t when[2] = {now - NS_PER_SEC, now + 3600 * NS_PER_SEC};
        char acc[2][37];
        for (int i = 0; i < 2; i++) {
                struct acl_token *t = NULL;
                const char *pols[] = {"ro"};
                cr_assert_eq(acl_token_create(ACL_TOKEN_CLIENT, "t", pols, 1, &t, (char *)secrets[i], NULL), 0);
                t->expiration_time = when[i];
                memcpy(acc[i], t->accessor_id, 37);
                struct state_acl_token stt = {.token = t, .create_time = 42};
                json_t *cmd =
                    json_pack("{s:s, s:o}", "Type", "ACLTokenUpsert", "Token", state_acl_token_json(&stt, true));
                acl_token_free(t);
                cr_assert_eq(apply(f, st, cmd), 0);
        }
        /* the expiration time survives the log (JSON) */
        const struct state_acl_token *t = state_acl_token_get(st, acc[0]);
        cr_assert_not_null(t);
        cr_expect_eq(t->token->expiration_time, when[0]);
        cr_expect(acl_token_expired(t->token, now));
        cr_expect(!acl_token_expired(state_acl_token_get(st, acc[1])->token, now));
        cr_expect(!acl_token_expired(state_acl_token_get(st, acc[1])->token, 0), "0 expiration: never");
        struct error err = {0};
        int r = api_authorize(true, st, soon, PERM_NS_READ_JOB, "default", &err);
        cr_expect_eq(r, -EACCES);
        cr_expect_str_eq(err.msg, "ACL token expired");
        cr_expect_eq(api_authorize(true, st, later, PERM_NS_READ_JOB, "default", &err), 0, "%s", err.msg);
        /* only the expired one is listed for deletion; with a grace, not yet */
        char ids[4][37];
        cr_assert_eq(state_acl_tokens_expired(st, now, ids, 4), 1);
        cr_expect_str_eq(ids[0], acc[0]);
        cr_expect_eq(state_acl_tokens_expired(st, now - 2 * NS_PER_SEC, ids, 4), 0);
        fsm_destroy(f);
        state_destroy(st);
}

static json_t *role_cmd(const char *id, const char *name, const char *policy) {
        return json_pack("{s:s, s:{s:s, s:s, s:[{s:s}]}}", "Type", "ACLRoleUpsert", "Role", "ID", id, "Name", name,
                         "Policies", "Name", policy);
}

/* A client token with only a role link, as the API builds it. */
static json_t *role_token_cmd(const char *role_id, const char *role_name, char secret[37]) {
        struct acl_token *t = NULL;
        cr_assert_eq(acl_token_create(ACL_TOKEN_CLIENT, "r", NULL, 0, &t, secret, NULL), 0);
        cr_assert_eq(acl_token_add_role(t, role_id, role_name, NULL), 0);
        struct state_acl_token st = {.token = t, .create_time = 42};
        json_t *cmd = json_pack("{s:s, s:o}", "Type", "ACLTokenUpsert", "Token", state_acl_token_json(&st, true));
        acl_token_free(t);
        return cmd;
}

#define ROLE_ID "11111111-2222-3333-4444-555555555555"

Test(state_acl, a_token_gets_its_roles_policies_at_request_time_and_loses_them_with_the_role) {
        struct state_store *st = state_create();
        struct fsm *f = fsm_create(&st, NULL, NULL);
        char tok[37], mgmt[37];
        cr_assert_eq(apply(f, st, token_cmd("ACLBootstrap", ACL_TOKEN_MANAGEMENT, NULL, mgmt)), 0);
        cr_assert_eq(apply(f, st, policy_cmd("ro", "namespace \"default\" { policy = \"read\" }")), 0);
        cr_assert_eq(apply(f, st, policy_cmd("rw", "namespace \"default\" { policy = \"write\" }")), 0);
        cr_assert_eq(apply(f, st, policy_cmd("nodes", "node { policy = \"read\" }")), 0);
        cr_assert_eq(apply(f, st, role_cmd(ROLE_ID, "readers", "ro")), 0);
        cr_expect_eq(apply(f, st, role_cmd("22222222-2222-3333-4444-555555555555", "readers", "rw")), -EEXIST,
                     "role names are unique");
        cr_expect_eq(apply(f, st, role_cmd("bad", "x", "ro")), -EINVAL);
        cr_expect_eq(apply(f, st, role_cmd(ROLE_ID, "../x", "ro")), -EINVAL);
        cr_assert_eq(apply(f, st, role_token_cmd(ROLE_ID, "readers", tok)), 0);
        const struct state_acl_token *t = state_acl_token_by_secret(st, tok);
        cr_assert_not_null(t);
        cr_expect_eq(t->token->n_policies, 0);
        cr_assert_eq(t->token->n_roles, 1);
        struct error err = {0};
        cr_expect_eq(api_authorize(true, st, tok, PERM_NS_READ_JOB, "default", &err), 0, "%s", err.msg);
        cr_expect_eq(api_authorize(true, st, tok, PERM_NS_SUBMIT_JOB, "default", &err), -EACCES);
        cr_expect_eq(api_authorize(true, st, tok, PERM_NODE_READ, NULL, &err), -EACCES);
        /* the role changes: the token's grant changes with it, at the next request */
        cr_assert_eq(apply(f, st,
                           json_pack("{s:s, s:{s:s, s:s, s:[{s:s}, {s:s}]}}", "Type", "ACLRoleUpsert", "Role", "ID",
                                     ROLE_ID, "Name", "readers", "Policies", "Name", "rw", "Name", "nodes")),
                     0);
        cr_expect_eq(api_authorize(true, st, tok, PERM_NS_SUBMIT_JOB, "default", &err), 0, "%s", err.msg);
        cr_expect_eq(api_authorize(true, st, tok, PERM_NODE_READ, NULL, &err), 0, "%s", err.msg);
        cr_expect_eq(api_authorize(true, st, tok, PERM_NODE_WRITE, NULL, &err), -EACCES);
        /* snapshots keep roles and the links */
        json_t *snap = NULL;
        cr_assert_eq(state_save(st, &snap), 0);
        struct state_store *back = NULL;
        cr_assert_eq(state_restore(snap, &back, &err), 0, "%s", err.msg);
        const struct state_acl_role *r = state_acl_role_by_name(back, "readers");
        cr_assert_not_null(r);
        cr_expect_str_eq(r->id, ROLE_ID);
        cr_expect_eq(r->n_policies, 2);
        cr_expect_eq(r->create_index, state_acl_role_get(st, ROLE_ID)->create_index);
        cr_expect_eq(api_authorize(true, back, tok, PERM_NS_SUBMIT_JOB, "default", &err), 0, "%s", err.msg);
        state_destroy(back);
        json_decref(snap);
        /* deleting the role removes the grant */
        cr_assert_eq(apply(f, st, json_pack("{s:s, s:s}", "Type", "ACLRoleDelete", "ID", ROLE_ID)), 0);
        cr_expect_null(state_acl_role_get(st, ROLE_ID));
        cr_expect_eq(api_authorize(true, st, tok, PERM_NS_READ_JOB, "default", &err), -EACCES);
        cr_expect_eq(apply(f, st, json_pack("{s:s, s:s}", "Type", "ACLRoleDelete", "ID", ROLE_ID)), -ENOENT);
        fsm_destroy(f);
        state_destroy(st);
}

Test(state_acl, the_role_endpoints_create_read_update_and_delete) {
        struct api_harness *h = api_harness_new_acl(true);
        json_t *boot = request(h, NULL, "PUT", "/v1/acl/bootstrap", NULL, 200);
        const char *mgmt = json_string_value(json_object_get(boot, "SecretID"));
        cr_assert_not_null(mgmt);
        json_decref(request(h, mgmt, "PUT", "/v1/acl/policy/ro",
                            "{\"Name\":\"ro\",\"Rules\":\"namespace \\\"default\\\" { policy = \\\"read\\\" }\"}",
                            200));
        json_decref(
            request(h, mgmt, "POST", "/v1/acl/role", "{\"Name\":\"r\",\"Policies\":[{\"Name\":\"nope\"}]}", 400));
        json_decref(
            request(h, mgmt, "POST", "/v1/acl/role", "{\"Name\":\"a/b\",\"Policies\":[{\"Name\":\"ro\"}]}", 400));
        json_decref(request(h, NULL, "POST", "/v1/acl/role", "{\"Name\":\"r\",\"Policies\":[{\"Name\":\"ro\"}]}", 403));
        json_t *role =
            request(h, mgmt, "POST", "/v1/acl/role", "{\"Name\":\"r\",\"Policies\":[{\"Name\":\"ro\"}]}", 200);
        const char *id = json_string_value(json_object_get(role, "ID"));
        cr_assert(id && strlen(id) == 36);
        json_decref(request(h, mgmt, "POST", "/v1/acl/role", "{\"Name\":\"r\",\"Policies\":[{\"Name\":\"ro\"}]}", 409));
        json_t *byname = request(h, mgmt, "GET", "/v1/acl/role/name/r", NULL, 200);
        cr_expect_str_eq(json_string_value(json_object_get(byname, "ID")), id);
        json_decref(byname);
        json_t *list = request(h, mgmt, "GET", "/v1/acl/roles", NULL, 200);
        cr_expect_eq(json_array_size(list), 1);
        json_decref(list);
        /* a token with only the role, named by Name */
        json_decref(
            request(h, mgmt, "PUT", "/v1/acl/token", "{\"Name\":\"x\",\"Roles\":[{\"Name\":\"missing\"}]}", 400));
        json_decref(request(h, mgmt, "PUT", "/v1/acl/token", "{\"Name\":\"x\"}", 400));
        json_t *tok =
            request(h, mgmt, "PUT", "/v1/acl/token", "{\"Name\":\"viarole\",\"Roles\":[{\"Name\":\"r\"}]}", 200);
        const char *secret = json_string_value(json_object_get(tok, "SecretID"));
        cr_assert_not_null(secret);
        cr_expect_str_eq(json_string_value(json_object_get(json_array_get(json_object_get(tok, "Roles"), 0), "ID")),
                         id);
        json_decref(request(h, secret, "GET", "/v1/jobs", NULL, 200));
        json_decref(request(h, secret, "PUT", "/v1/jobs", "{}", 403));
        char path[128];
        snprintf(path, sizeof(path), "/v1/acl/role/%s", id);
        json_t *got = request(h, mgmt, "GET", path, NULL, 200);
        cr_expect_str_eq(json_string_value(json_object_get(got, "Name")), "r");
        json_decref(got);
        json_decref(request(h, mgmt, "POST", path, "{\"Name\":\"r2\",\"Policies\":[{\"Name\":\"ro\"}]}", 200));
        json_decref(request(h, mgmt, "GET", "/v1/acl/role/name/r2", NULL, 200));
        json_decref(request(h, mgmt, "GET", "/v1/acl/role/name/r", NULL, 404));
        json_decref(request(h, mgmt, "POST", "/v1/acl/role/00000000-0000-0000-0000-000000000000",
                            "{\"Name\":\"q\",\"Policies\":[{\"Name\":\"ro\"}]}", 404));
        json_decref(request(h, mgmt, "DELETE", path, NULL, 200));
        json_decref(request(h, mgmt, "GET", path, NULL, 404));
        json_decref(request(h, secret, "GET", "/v1/jobs", NULL, 403));
        json_decref(tok);
        json_decref(role);
        json_decref(boot);
        api_harness_free(h);
}

/* ---- the servers' secret (ServerSecretSet, fsm_server_secret.h) ---- */

Test(state_acl, the_server_secret_is_set_once_kept_in_raft_snapshots_and_left_out_of_the_api_document) {
        struct state_store *st = state_create();
        struct fsm *f = fsm_create(&st, NULL, NULL);
        cr_expect_null(state_acl_server_secret(st));
        json_t *bad = json_pack("{s:s,s:s}", "Type", "ServerSecretSet", "Secret", "not-hex");
        cr_expect_eq(apply(f, st, bad), -EINVAL, "a malformed secret is refused");
        cr_expect_null(state_acl_server_secret(st));
        json_t *cmd = fsm_server_secret_command(), *cmd2 = fsm_server_secret_command();
        cr_assert_not_null(cmd);
        char first[SECRET_HASH_HEX], second[SECRET_HASH_HEX];
        snprintf(first, sizeof(first), "%s", json_string_value(json_object_get(cmd, "Secret")));
        snprintf(second, sizeof(second), "%s", json_string_value(json_object_get(cmd2, "Secret")));
        cr_expect(secret_is_hex64(first) && secret_is_hex64(second), "%s %s", first, second);
        cr_expect_str_neq(first, second, "two draws of 256 random bits differ");
        cr_expect_eq(apply(f, st, cmd), 0);
        cr_expect_str_eq(state_acl_server_secret(st), first);
        /* a snapshot taken now keeps the secret it was taken with */
        struct state_store *snap = state_snapshot(st);
        cr_expect_eq(apply(f, st, cmd2), 0, "a second command is not an error (two leaders in a row)...");
        cr_expect_str_eq(state_acl_server_secret(st), first, "...and the first secret stays");
        cr_expect_str_eq(state_acl_server_secret(snap), first);
        /* Raft snapshots carry it: a new server restored from one has it */
        json_t *saved = NULL;
        cr_assert_eq(state_save(st, &saved), 0);
        cr_expect_str_eq(json_string_value(json_object_get(saved, STATE_ACL_SERVER_SECRET_KEY)), first);
        struct state_store *back = NULL;
        struct error err = {0};
        cr_assert_eq(state_restore(saved, &back, &err), 0, "%s", err.msg);
        cr_expect_str_eq(state_acl_server_secret(back), first);
        /* a snapshot with a malformed secret is refused */
        json_t *forged = json_deep_copy(saved);
        json_object_set_new(forged, STATE_ACL_SERVER_SECRET_KEY, json_string("XYZ"));
        struct state_store *none = NULL;
        cr_expect_eq(state_restore(forged, &none, &err), -EINVAL);
        cr_expect(strstr(err.msg, STATE_ACL_SERVER_SECRET_KEY), "%s", err.msg);
        json_decref(forged);
        /* the API's snapshot document does not */
        json_t *doc = api_snapshot_document(saved, 7);
        char *text = json_dumps(doc, JSON_COMPACT);
        cr_expect_null(strstr(text, first), "GET /v1/operator/snapshot must not carry the servers' secret");
        cr_expect_null(strstr(text, STATE_ACL_SERVER_SECRET_KEY));
        free(text);
        json_decref(doc);
        state_destroy(back);
        state_destroy(snap);
        fsm_destroy(f);
        state_destroy(st);
}
