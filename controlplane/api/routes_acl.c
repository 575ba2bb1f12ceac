/* routes_acl.c - api_authorize(), the one permission check (see routes_acl.h). */
#include "controlplane/api/routes_acl.h"

#include <errno.h>
#include <stddef.h>

#include "common/error.h"

static const char *const perm_names[PERM__COUNT] = {
    [PERM_NONE] = "none",
    [PERM_NODE_SECRET] = "node-secret",
    [PERM_NS_READ_JOB] = "read-job",
    [PERM_NS_SUBMIT_JOB] = "submit-job",
    [PERM_NS_PARSE_JOB] = "parse-job",
    [PERM_NS_ALLOC_LIFECYCLE] = "alloc-lifecycle",
    [PERM_NODE_READ] = "node:read",
    [PERM_NODE_WRITE] = "node:write",
    [PERM_AGENT_READ] = "agent:read",
    [PERM_OPERATOR_READ] = "operator:read",
    [PERM_OPERATOR_WRITE] = "operator:write",
    [PERM_MANAGEMENT] = "management",
};

const char *api_perm_name(enum api_perm p) {
        return (unsigned)p < PERM__COUNT && perm_names[p] ? perm_names[p] : "unknown";
}

bool api_perm_namespaced(enum api_perm p) {
        return p == PERM_NS_READ_JOB || p == PERM_NS_SUBMIT_JOB || p == PERM_NS_PARSE_JOB ||
               p == PERM_NS_ALLOC_LIFECYCLE;
}

int api_authorize(bool acl_enabled, const struct http_req *req, enum api_perm perm, const char *ns, struct error *err) {
        (void)req;
        if (!acl_enabled || perm == PERM_NONE || perm == PERM_NODE_SECRET)
                return 0;
        /* No token store yet: nothing can prove the capability. */
        if (api_perm_namespaced(perm))
                return errorf(err, -EACCES, "Permission denied: %s on namespace \"%s\" needs an ACL token",
                              api_perm_name(perm), ns ? ns : "default");
        return errorf(err, -EACCES, "Permission denied: %s needs an ACL token", api_perm_name(perm));
}
