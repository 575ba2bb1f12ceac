/* test_acl.c - controlplane/acl: Nomad's policy language, merge, capability
 * checks and tokens, against the examples of Nomad's ACL documentation and the
 * cases of its acl package's tests. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "common/error.h"
#include "controlplane/acl/acl.h"

/* The ACL of the policies given as HCL sources (NULL-terminated). */
static struct acl *acl_of(const char *first, ...) {
        struct acl_policy *p[8];
        size_t n = 0;
        va_list ap;
        va_start(ap, first);
        for (const char *src = first; src; src = va_arg(ap, const char *)) {
                struct error err = {0};
                cr_assert_eq(acl_policy_parse("t", src, strlen(src), &p[n], &err), 0, "%s: %s", src, err.msg);
                n++;
        }
        va_end(ap);
        struct acl *a = NULL;
        struct error err = {0};
        cr_assert_eq(acl_create((const struct acl_policy *const *)p, n, &a, &err), 0, "%s", err.msg);
        for (size_t i = 0; i < n; i++)
                acl_policy_free(p[i]);
        return a;
}

static int parse_error(const char *src, char *msg, size_t cap) {
        struct acl_policy *p = NULL;
        struct error err = {0};
        int r = acl_policy_parse("bad", src, strlen(src), &p, &err);
        snprintf(msg, cap, "%s", err.msg);
        acl_policy_free(p);
        return r;
}

Test(acl, read_policy_with_extra_capabilities) {
        /* Nomad docs: namespace rules, "policy" and "capabilities" together */
        struct acl *a = acl_of("namespace \"default\" {\n"
                               "  policy       = \"read\"\n"
                               "  capabilities = [\"submit-job\", \"dispatch-job\", \"read-logs\"]\n"
                               "}\n",
                               NULL);
        cr_expect(acl_allows(a, "default", ACL_CAP_LIST_JOBS));
        cr_expect(acl_allows(a, "default", ACL_CAP_READ_JOB));
        cr_expect(acl_allows(a, "default", ACL_CAP_SUBMIT_JOB));
        cr_expect(acl_allows(a, "default", ACL_CAP_READ_LOGS));
        cr_expect(!acl_allows(a, "default", ACL_CAP_ALLOC_EXEC), "write-only capability not granted");
        cr_expect(!acl_allows(a, "other", ACL_CAP_READ_JOB), "no rule for the namespace: nothing");
        cr_expect(!acl_allows_node(a, ACL_READ) && !acl_allows_agent(a, ACL_READ) && !acl_allows_operator(a, ACL_READ));
        acl_free(a);
}

Test(acl, read_only_token_cannot_register_a_job) {
        struct acl *a = acl_of("namespace \"default\" { policy = \"read\" }", NULL);
        cr_expect(acl_allows(a, "default", ACL_CAP_READ_JOB));
        cr_expect(!acl_allows(a, "default", ACL_CAP_SUBMIT_JOB));
        cr_expect(!acl_allows(a, "default", ACL_CAP_READ_LOGS));
        acl_free(a);
}

Test(acl, policies_expand_as_nomad_does) {
        struct acl *w = acl_of("namespace \"default\" { policy = \"write\" }", NULL);
        struct acl *s = acl_of("namespace \"default\" { policy = \"scale\" }", NULL);
        enum acl_cap write_only[] = {
            ACL_CAP_SCALE_JOB,        ACL_CAP_SUBMIT_JOB,           ACL_CAP_DISPATCH_JOB,    ACL_CAP_READ_LOGS,
            ACL_CAP_READ_FS,          ACL_CAP_ALLOC_EXEC,           ACL_CAP_ALLOC_LIFECYCLE, ACL_CAP_CSI_MOUNT_VOLUME,
            ACL_CAP_CSI_WRITE_VOLUME, ACL_CAP_SUBMIT_RECOMMENDATION};
        for (size_t i = 0; i < sizeof(write_only) / sizeof(write_only[0]); i++)
                cr_expect(acl_allows(w, "default", write_only[i]), "write grants %s", acl_cap_name(write_only[i]));
        cr_expect(!acl_allows(w, "default", ACL_CAP_ALLOC_NODE_EXEC), "alloc-node-exec only when named");
        cr_expect(!acl_allows(w, "default", ACL_CAP_CSI_REGISTER_PLUGIN));
        cr_expect(acl_allows(s, "default", ACL_CAP_SCALE_JOB));
        cr_expect(acl_allows(s, "default", ACL_CAP_READ_JOB_SCALING));
        cr_expect(!acl_allows(s, "default", ACL_CAP_READ_JOB), "scale is not read");
        cr_expect(!acl_allows(s, "default", ACL_CAP_SUBMIT_JOB));
        acl_free(w);
        acl_free(s);
}

Test(acl, allow_namespace_as_nomad_tests_it) {
        /* Nomad acl_test.go TestAllowNamespace */
        struct {
                const char *policy;
                bool allow;
        } cases[] = {
            {"namespace \"foo\" {}", false},
            {"namespace \"foo\" { policy = \"deny\" }", false},
            {"namespace \"foo\" { capabilities = [\"deny\"] }", false},
            {"namespace \"foo\" { capabilities = [\"list-jobs\"] }", true},
            {"namespace \"foo\" { policy = \"read\" }", true},
        };
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                struct acl *a = acl_of(cases[i].policy, NULL);
                cr_expect_eq(acl_allows_namespace(a, "foo"), cases[i].allow, "%s", cases[i].policy);
                acl_free(a);
        }
}

Test(acl, wildcard_namespaces_most_specific_wins) {
        /* Nomad acl_test.go TestWildcardNamespaceMatching, namespace "production-api-services" */
        struct {
                const char *policy;
                bool allow;
        } cases[] = {
            {"namespace \"production-api-services\" { policy = \"deny\" }", false},
            {"namespace \"production-api-services\" { policy = \"write\" }", true},
            {"namespace \"production-api-*\" { policy = \"write\" }", true},
            {"namespace \"prod-api-*\" { policy = \"write\" }", false},
            {"namespace \"*-api-services\" { policy = \"write\" }", true},
            {"namespace \"*\" { policy = \"write\" }", true},
            {"namespace \"production-api-services\" { policy = \"deny\" }\n"
             "namespace \"production-api-*\" { policy = \"write\" }",
             false},
            {"namespace \"production-api-*\" { policy = \"deny\" }\n"
             "namespace \"production-*\" { policy = \"write\" }",
             false},
            {"namespace \"production-*\" { policy = \"deny\" }\n"
             "namespace \"production-api-*\" { policy = \"write\" }",
             true},
            {"namespace \"*\" { policy = \"deny\" }\n"
             "namespace \"production-api-services\" { policy = \"read\" }",
             true},
        };
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                struct acl *a = acl_of(cases[i].policy, NULL);
                cr_expect_eq(acl_allows_namespace(a, "production-api-services"), cases[i].allow, "%s", cases[i].policy);
                acl_free(a);
        }
}

Test(acl, glob_specificity_counts_stars) {
        /* difference = len(ns) - len(glob) + count('*'): "a*" (1+1) beats "*" (3+1) for "abc";
         * "*bc" and "a*c" tie at 1 + 1: the first in byte order ("*bc") wins. */
        struct acl *a = acl_of("namespace \"*\" { policy = \"deny\" }\n"
                               "namespace \"a*\" { policy = \"read\" }\n",
                               NULL);
        cr_expect(acl_allows(a, "abc", ACL_CAP_READ_JOB));
        cr_expect(!acl_allows(a, "xbc", ACL_CAP_READ_JOB));
        acl_free(a);
        a = acl_of("namespace \"a*c\" { policy = \"write\" }\n"
                   "namespace \"*bc\" { policy = \"read\" }\n",
                   NULL);
        cr_expect(acl_allows(a, "abc", ACL_CAP_READ_JOB));
        cr_expect(!acl_allows(a, "abc", ACL_CAP_SUBMIT_JOB), "tie: \"*bc\" sorts before \"a*c\"");
        cr_expect(acl_allows(a, "axxc", ACL_CAP_SUBMIT_JOB), "only a*c matches");
        acl_free(a);
}

Test(acl, merge_of_policies) {
        /* Nomad acl_test.go TestACLMerge: capabilities add up, deny wins, levels take the highest */
        struct acl *a = acl_of("namespace \"default\" { policy = \"read\" }\n"
                               "namespace \"other\" { policy = \"write\" }\n"
                               "node { policy = \"read\" }\n"
                               "agent { policy = \"write\" }\n"
                               "operator { policy = \"read\" }\n",
                               "namespace \"default\" { capabilities = [\"submit-job\"] }\n"
                               "namespace \"other\" { policy = \"deny\" }\n"
                               "node { policy = \"write\" }\n"
                               "agent { policy = \"deny\" }\n"
                               "quota { policy = \"read\" }\n",
                               NULL);
        cr_expect(acl_allows(a, "default", ACL_CAP_READ_JOB));
        cr_expect(acl_allows(a, "default", ACL_CAP_SUBMIT_JOB));
        cr_expect(!acl_allows(a, "other", ACL_CAP_READ_JOB), "deny in one policy wins over write in another");
        cr_expect(!acl_allows_namespace(a, "other"));
        cr_expect(acl_allows_node(a, ACL_READ) && acl_allows_node(a, ACL_WRITE));
        cr_expect(!acl_allows_agent(a, ACL_READ), "deny beats write");
        cr_expect(acl_allows_operator(a, ACL_READ) && !acl_allows_operator(a, ACL_WRITE));
        cr_expect(acl_allows_quota(a, ACL_READ) && !acl_allows_quota(a, ACL_WRITE));
        acl_free(a);
}

Test(acl, management_allows_everything_and_nothing_allows_nothing) {
        struct acl *m = acl_management();
        cr_assert_not_null(m);
        cr_expect(acl_is_management(m));
        cr_expect(acl_allows(m, "anything", ACL_CAP_ALLOC_NODE_EXEC));
        cr_expect(acl_allows_node(m, ACL_WRITE) && acl_allows_operator(m, ACL_WRITE));
        acl_free(m);
        struct acl *none = NULL;
        struct error err = {0};
        cr_assert_eq(acl_create(NULL, 0, &none, &err), 0);
        cr_expect(!acl_is_management(none));
        cr_expect(!acl_allows(none, "default", ACL_CAP_LIST_JOBS));
        cr_expect(!acl_allows_node(none, ACL_READ));
        acl_free(none);
        cr_expect(!acl_allows(NULL, "default", ACL_CAP_LIST_JOBS), "no ACL allows nothing");
}

Test(acl, bad_policies_are_refused_with_a_message) {
        struct {
                const char *src;
                const char *want;
        } cases[] = {
            {"", "empty policy"},
            {"namespace \"default\" { policy = \"admin\" }", "invalid namespace policy \"admin\""},
            {"namespace \"default\" { capabilities = [\"root\"] }", "invalid namespace capability \"root\""},
            {"namespace \"a/b\" { policy = \"read\" }", "invalid namespace name"},
            {"namespace { policy = \"read\" }", "one label"},
            {"node { policy = \"scale\" }", "invalid node policy \"scale\""},
            {"node { }", "missing policy"},
            {"operator { policy = var.x }", "literal string"},
            {"namespace \"default\" {\n policy = \"read\"\n owner = \"me\"\n}", "unexpected attribute \"owner\""},
            {"keyring { policy = \"write\" }", "unexpected block \"keyring\""},
            {"policy = \"write\"", "unexpected attribute \"policy\" at the top"},
            {"namespace \"default\" { policy = \"read\" ", "expected"},
        };
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                char msg[256];
                cr_expect_lt(parse_error(cases[i].src, msg, sizeof(msg)), 0, "accepted: %s", cases[i].src);
                cr_expect(strstr(msg, cases[i].want), "%s: message \"%s\" lacks \"%s\"", cases[i].src, msg,
                          cases[i].want);
        }
        /* bounds */
        static char big[ACL_POLICY_MAX_BYTES + 2];
        memset(big, ' ', sizeof(big) - 1);
        char msg[256];
        cr_expect_eq(parse_error(big, msg, sizeof(msg)), -E2BIG);
        char caps[4096] = "namespace \"d\" { capabilities = [";
        for (int i = 0; i <= ACL_MAX_CAPABILITIES; i++)
                strcat(caps, "\"read-job\",");
        strcat(caps, "] }");
        cr_expect_eq(parse_error(caps, msg, sizeof(msg)), -E2BIG, "%s", msg);
}

Test(acl, compatible_blocks_are_accepted) {
        struct acl *a = acl_of("namespace \"default\" {\n"
                               "  policy = \"read\"\n"
                               "  variables { path \"*\" { capabilities = [\"read\"] } }\n"
                               "}\n"
                               "node_pool \"prod\" { policy = \"read\" }\n"
                               "host_volume \"data\" { policy = \"read\" }\n"
                               "plugin { policy = \"list\" }\n",
                               NULL);
        cr_expect(acl_allows(a, "default", ACL_CAP_READ_JOB));
        acl_free(a);
}

static const struct acl_policy *lookup(void *data, const char *name) {
        struct acl_policy **p = data;
        if (strcmp(name, "readonly") == 0)
                return p[0];
        if (strcmp(name, "anonymous") == 0)
                return p[1];
        return NULL;
}

Test(acl, tokens_store_only_a_hash_and_resolve_to_their_policies) {
        struct error err = {0};
        struct acl_token *t = NULL;
        char secret[37];
        const char *pol[] = {"readonly", "gone"};
        cr_assert_eq(acl_token_create(ACL_TOKEN_CLIENT, "ci", pol, 2, &t, secret, &err), 0, "%s", err.msg);
        cr_expect_eq(strlen(secret), 36);
        cr_expect_eq(strlen(t->secret_hash), 64);
        cr_expect(strstr(t->secret_hash, secret) == NULL && strcmp(t->accessor_id, secret) != 0);
        char h[SECRET_HASH_HEX];
        cr_assert_eq(secret_hash(secret, h), 0);
        cr_expect_str_eq(t->secret_hash, h, "stored as SHA-256 of the secret");
        cr_expect(acl_token_matches(t, secret));
        char wrong[37];
        memcpy(wrong, secret, sizeof(wrong));
        wrong[0] = wrong[0] == 'a' ? 'b' : 'a';
        cr_expect(!acl_token_matches(t, wrong));
        cr_expect(!acl_token_matches(t, h), "the hash is not a secret");

        struct acl_policy *p[2] = {NULL, NULL};
        const char *ro = "namespace \"default\" { policy = \"read\" }";
        const char *anon = "namespace \"default\" { capabilities = [\"list-jobs\"] }";
        cr_assert_eq(acl_policy_parse("readonly", ro, strlen(ro), &p[0], &err), 0);
        cr_assert_eq(acl_policy_parse("anonymous", anon, strlen(anon), &p[1], &err), 0);
        struct acl *a = NULL;
        cr_assert_eq(acl_resolve(t, lookup, NULL, p, &a, &err), 0, "%s", err.msg);
        cr_expect(acl_allows(a, "default", ACL_CAP_READ_JOB));
        cr_expect(!acl_allows(a, "default", ACL_CAP_SUBMIT_JOB), "a policy that no longer exists grants nothing");
        acl_free(a);
        cr_assert_eq(acl_resolve(NULL, lookup, NULL, p, &a, &err), 0);
        cr_expect(acl_allows(a, "default", ACL_CAP_LIST_JOBS));
        cr_expect(!acl_allows(a, "default", ACL_CAP_READ_JOB), "anonymous gets the anonymous policy only");
        acl_free(a);
        acl_token_free(t);

        cr_assert_eq(acl_token_create(ACL_TOKEN_MANAGEMENT, "root", NULL, 0, &t, secret, &err), 0);
        cr_assert_eq(acl_resolve(t, lookup, NULL, p, &a, &err), 0);
        cr_expect(acl_is_management(a));
        acl_free(a);
        acl_token_free(t);
        cr_expect_lt(acl_token_create(ACL_TOKEN_MANAGEMENT, "x", pol, 1, &t, secret, &err), 0);
        cr_expect_lt(acl_token_create(ACL_TOKEN_CLIENT, "x", pol, ACL_MAX_POLICIES + 1, &t, secret, &err), 0);
        acl_policy_free(p[0]);
        acl_policy_free(p[1]);
}
