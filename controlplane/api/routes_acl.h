/* routes_acl.h - the one permission check of the HTTP API.
 *
 * Every route in the table (routes.c) names the capability it needs, in Nomad's
 * ACL vocabulary; the dispatcher calls api_authorize() once, before the handler
 * does any work. ACL tokens are not implemented yet: with ACLs disabled (Nomad's
 * own default) everything is allowed; with them enabled, only the routes that
 * need no capability are (a token system plugs in here, nowhere else). */
#pragma once

#include <stdbool.h>

struct error;
struct http_req;

enum api_perm {
        PERM_NONE = 0,           /* anyone: /v1/status/leader, /v1/agent/health, ... */
        PERM_NODE_SECRET,        /* a client agent, proven by its node SecretID in the body */
        PERM_NS_READ_JOB,        /* namespace capability read-job */
        PERM_NS_SUBMIT_JOB,      /* namespace capability submit-job */
        PERM_NS_PARSE_JOB,       /* namespace capability parse-job */
        PERM_NS_ALLOC_LIFECYCLE, /* namespace capability alloc-lifecycle */
        PERM_NODE_READ,          /* node policy read */
        PERM_NODE_WRITE,         /* node policy write */
        PERM_AGENT_READ,         /* agent policy read */
        PERM_OPERATOR_READ,      /* operator policy read */
        PERM_OPERATOR_WRITE,     /* operator policy write */
        PERM_MANAGEMENT,         /* a management token only */
        PERM__COUNT,
};

/* "read-job", "node:write", ... as Nomad names them. */
const char *api_perm_name(enum api_perm p);
/* Whether the namespace in the request matters for this capability. */
bool api_perm_namespaced(enum api_perm p);

/* 0: allowed. -EACCES: refused, err says why (answered 403 as it stands). The
 * token, when ACLs come, is read from the request's X-Nomad-Token header. */
int api_authorize(bool acl_enabled, const struct http_req *req, enum api_perm perm, const char *ns, struct error *err);
