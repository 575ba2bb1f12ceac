/* routes_acl.c - api_authorize(), the one permission check (see routes_acl.h). */
#include "controlplane/api/routes_acl.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "common/clock.h"
#include "common/error.h"
#include "common/macros.h"
#include "controlplane/acl/acl.h"
#include "controlplane/acl/secret.h"
#include "controlplane/state/state.h"
#include "controlplane/state/state_acl.h"

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
    [PERM_NODE_SECRET_OR_READ] = "node-secret or node:read",
    [PERM_ACL_TOKEN] = "acl-token",
    [PERM_NS_READ_LOGS] = "read-logs",
    [PERM_SERVER] = "server secret",
    [PERM_JOIN_READ] = "join token or operator:read",
    [PERM_JOIN_WRITE] = "join token or operator:write",
};

const char *api_perm_name(enum api_perm p) {
        return (unsigned)p < PERM__COUNT && perm_names[p] ? perm_names[p] : "unknown";
}

bool api_perm_namespaced(enum api_perm p) {
        return p == PERM_NS_READ_JOB || p == PERM_NS_SUBMIT_JOB || p == PERM_NS_PARSE_JOB ||
               p == PERM_NS_ALLOC_LIFECYCLE || p == PERM_NS_READ_LOGS;
}

static const struct acl_policy *lookup_policy(void *data, const char *name) {
        const struct state_acl_policy *p = data ? state_acl_policy_get(data, name) : NULL;
        return p ? p->parsed : NULL;
}

static bool allows(const struct acl *a, enum api_perm perm, const char *ns) {
        switch (perm) {
        case PERM_NS_READ_JOB:
                return acl_allows(a, ns, ACL_CAP_READ_JOB);
        case PERM_NS_SUBMIT_JOB:
                return acl_allows(a, ns, ACL_CAP_SUBMIT_JOB);
        case PERM_NS_PARSE_JOB:
                return acl_allows(a, ns, ACL_CAP_PARSE_JOB);
        case PERM_NS_ALLOC_LIFECYCLE:
                return acl_allows(a, ns, ACL_CAP_ALLOC_LIFECYCLE);
        case PERM_NS_READ_LOGS:
                return acl_allows(a, ns, ACL_CAP_READ_LOGS);
        case PERM_NODE_READ:
                return acl_allows_node(a, ACL_READ);
        case PERM_NODE_WRITE:
                return acl_allows_node(a, ACL_WRITE);
        case PERM_AGENT_READ:
                return acl_allows_agent(a, ACL_READ);
        case PERM_OPERATOR_READ:
        case PERM_JOIN_READ:
                return acl_allows_operator(a, ACL_READ);
        case PERM_OPERATOR_WRITE:
        case PERM_JOIN_WRITE:
                return acl_allows_operator(a, ACL_WRITE);
        case PERM_SERVER: /* servers only: api_authorize_request */
                return false;
        default: /* PERM_MANAGEMENT and anything unknown */
                return acl_is_management(a);
        }
}

int api_authorize(bool acl_enabled, const struct state_store *st, const char *token, enum api_perm perm, const char *ns,
                  struct error *err) {
        if (perm == PERM_SERVER) /* fail closed: only api_authorize_request opens it */
                return errorf(err, -EACCES, "Permission denied: a server-to-server route needs the servers' secret (%s)",
                              API_SERVER_SECRET_HEADER);
        if (!acl_enabled || perm == PERM_NONE || perm == PERM_NODE_SECRET || perm == PERM_NODE_SECRET_OR_READ)
                return 0;
        ns = ns && *ns ? ns : "default";
        const struct state_acl_token *t = NULL;
        if (token && *token) {
                t = st ? state_acl_token_by_secret(st, token) : NULL;
                if (!t)
                        return errorf(err, -EACCES, "Permission denied: ACL token not found");
                if (acl_token_expired(t->token, clock_now_ns()))
                        return errorf(err, -EACCES, "ACL token expired");
        } else if (perm == PERM_ACL_TOKEN) {
                return errorf(err, -EACCES, "Permission denied: %s needs an ACL token (X-Nomad-Token)",
                              api_perm_name(perm));
        }
        if (perm == PERM_ACL_TOKEN)
                return 0;
        _cleanup_(acl_freep) struct acl *a = NULL;
        struct error rerr = {0};
        if (acl_resolve(t ? t->token : NULL, lookup_policy, state_acl_role_policies, (void *)st, &a, &rerr) < 0)
                return errorf(err, -EACCES, "Permission denied: cannot resolve the token's policies: %s", rerr.msg);
        if (allows(a, perm, ns))
                return 0;
        char who[ACL_TOKEN_NAME_MAX + 32];
        if (t)
                snprintf(who, sizeof(who), "token \"%s\"", t->token->name);
        else
                snprintf(who, sizeof(who), "anonymous request (no X-Nomad-Token)");
        if (api_perm_namespaced(perm))
                return errorf(err, -EACCES, "Permission denied: %s lacks %s on namespace \"%s\"", who,
                              api_perm_name(perm), ns);
        return errorf(err, -EACCES, "Permission denied: %s lacks %s", who, api_perm_name(perm));
}

int api_authorize_request(const struct api_credentials *cr, enum api_perm perm, const char *ns, struct error *err) {
        if (perm == PERM_SERVER) {
                const char *want = cr->st ? state_acl_server_secret(cr->st) : NULL;
                if (!want)
                        return errorf(err, -EACCES,
                                      "Permission denied: a server-to-server route, and the servers' secret is not set "
                                      "yet (the leader commits it)");
                /* secret_equal reads both to the end: no early exit on a differing byte */
                if (!cr->server_secret || !secret_equal(cr->server_secret, want))
                        return errorf(err, -EACCES,
                                      "Permission denied: a server-to-server route needs the servers' secret (%s)",
                                      API_SERVER_SECRET_HEADER);
                return 0;
        }
        if (perm == PERM_JOIN_READ || perm == PERM_JOIN_WRITE) {
                bool configured = cr->join_token_conf && *cr->join_token_conf;
                if (configured && cr->join_token && secret_equal(cr->join_token, cr->join_token_conf))
                        return 0;
                if (!cr->acl_enabled) {
                        if (!configured)
                                return 0;
                        return errorf(err, -EACCES, "Permission denied: %s (%s) is missing or wrong",
                                      "joining this cluster needs its join token", API_JOIN_TOKEN_HEADER);
                }
                int r = api_authorize(true, cr->st, cr->token, perm, ns, err);
                if (r < 0 && !(cr->token && *cr->token)) /* the anonymous policy did not allow it */
                        return errorf(err, -EACCES,
                                      "Permission denied: a joining server presents the cluster's join token (%s, "
                                      "-join-token); anyone else an ACL token with %s",
                                      API_JOIN_TOKEN_HEADER, perm == PERM_JOIN_READ ? "operator:read" : "operator:write");
                return r;
        }
        return api_authorize(cr->acl_enabled, cr->st, cr->token, perm, ns, err);
}
