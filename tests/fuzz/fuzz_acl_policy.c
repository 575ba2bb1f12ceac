/* fuzz_acl_policy.c - libFuzzer target: ACL policies (controlplane/acl) on
 * arbitrary bytes: parse, merge with itself, and ask every kind of question. A
 * parsed policy merged twice must answer as merged once. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "common/error.h"
#include "controlplane/acl/acl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        struct error err = {0};
        struct acl_policy *p = NULL;
        if (acl_policy_parse("fuzz", (const char *)data, size, &p, &err) < 0)
                return 0;
        const struct acl_policy *one[1] = {p}, *two[2] = {p, p};
        struct acl *a = NULL, *b = NULL;
        if (acl_create(one, 1, &a, &err) < 0 || acl_create(two, 2, &b, &err) < 0)
                abort();
        static const char *const ns[] = {"default", "prod-api", "x", "", "*", "a-b-c-d-e-f"};
        for (size_t i = 0; i < sizeof(ns) / sizeof(ns[0]); i++) {
                for (int c = 0; c < ACL_CAP_COUNT; c++)
                        if (acl_allows(a, ns[i], (enum acl_cap)c) != acl_allows(b, ns[i], (enum acl_cap)c))
                                abort();
                if (acl_allows_namespace(a, ns[i]) != acl_allows_namespace(b, ns[i]))
                        abort();
        }
        if (acl_allows_node(a, ACL_WRITE) != acl_allows_node(b, ACL_WRITE) ||
            acl_allows_operator(a, ACL_READ) != acl_allows_operator(b, ACL_READ))
                abort();
        acl_free(a);
        acl_free(b);
        acl_policy_free(p);
        return 0;
}
