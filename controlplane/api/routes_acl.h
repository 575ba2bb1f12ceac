/* routes_acl.h - the one permission check of the HTTP API.
 *
 * Every route in the table (routes.c) names the capability it needs, in Nomad's
 * ACL vocabulary; the dispatcher calls api_authorize() once, before the handler
 * does any work. With ACLs disabled (Nomad's own default) everything is allowed.
 * With them enabled, the request's X-Nomad-Token (never a query argument) is
 * looked up in the state's ACL tables by the SHA-256 of the secret: a management
 * token allows everything, a client token what its policies grant, no token what
 * the policy named "anonymous" grants (nothing when there is none). */
#pragma once

#include <stdbool.h>

struct error;
struct state_store;

enum api_perm {
        PERM_NONE = 0,            /* anyone: /v1/status/leader, /v1/agent/health, ... */
        PERM_NODE_SECRET,         /* a client agent, proven by its node SecretID in the body */
        PERM_NS_READ_JOB,         /* namespace capability read-job */
        PERM_NS_SUBMIT_JOB,       /* namespace capability submit-job */
        PERM_NS_PARSE_JOB,        /* namespace capability parse-job */
        PERM_NS_ALLOC_LIFECYCLE,  /* namespace capability alloc-lifecycle */
        PERM_NODE_READ,           /* node policy read */
        PERM_NODE_WRITE,          /* node policy write */
        PERM_AGENT_READ,          /* agent policy read */
        PERM_OPERATOR_READ,       /* operator policy read */
        PERM_OPERATOR_WRITE,      /* operator policy write */
        PERM_MANAGEMENT,          /* a management token only */
        PERM_NODE_SECRET_OR_READ, /* node:read, or the node's SecretID: the handler checks */
        PERM_ACL_TOKEN,           /* any valid ACL token (not anonymous): /v1/acl/token/self */
        PERM_NS_READ_LOGS,        /* namespace capability read-logs */
        /* Server to server (api_authorize_request): never an ACL token's. */
        PERM_SERVER,     /* the servers' secret (X-Drover-Server-Secret): /v1/internal/sched/... */
        PERM_JOIN_READ,  /* the join token (X-Drover-Join-Token), or operator:read */
        PERM_JOIN_WRITE, /* the join token, or operator:write: /v1/operator/raft/join */
        PERM__COUNT,
};

/* The headers servers present to each other. */
#define API_SERVER_SECRET_HEADER "X-Drover-Server-Secret"
#define API_JOIN_TOKEN_HEADER "X-Drover-Join-Token"

/* "read-job", "node:write", ... as Nomad names them. */
const char *api_perm_name(enum api_perm p);
/* Whether the namespace in the request matters for this capability. */
bool api_perm_namespaced(enum api_perm p);

/* 0: allowed. -EACCES: refused, err says why ("Permission denied: ..."; answered
 * 403). token: the X-Nomad-Token header's value, NULL or "" for none; st: the
 * state whose ACL tables resolve it. Cost: one SHA-256 and O(tokens) hash
 * comparisons, plus the merge of the token's policies. */
int api_authorize(bool acl_enabled, const struct state_store *st, const char *token, enum api_perm perm, const char *ns,
                  struct error *err);

/* What a request presents, and what this server holds to check it against. */
struct api_credentials {
        bool acl_enabled;
        const struct state_store *st; /* its ACL tables and the servers' secret */
        const char *token;            /* X-Nomad-Token, NULL or "" for none */
        const char *server_secret;    /* X-Drover-Server-Secret presented, NULL for none */
        const char *join_token;       /* X-Drover-Join-Token presented, NULL for none */
        const char *join_token_conf;  /* this server's -join-token; NULL or "": none configured */
};

/* The dispatcher's check, for every route (api_authorize for the ACL ones):
 * - PERM_SERVER: allowed only when the presented secret equals the state's
 *   server secret (compared in constant time), ACLs on or off; no ACL token,
 *   management included, opens it. Before a leader committed a secret nothing
 *   does (-EACCES, "not set yet").
 * - PERM_JOIN_READ/PERM_JOIN_WRITE: allowed when the presented join token equals
 *   the configured one (constant time); else, ACLs on: operator:read/write of
 *   the ACL token; ACLs off: allowed only when no join token is configured.
 * 0 or -EACCES with err saying why (answered 403). */
int api_authorize_request(const struct api_credentials *cr, enum api_perm perm, const char *ns, struct error *err);
