/* acl.h - Nomad's ACL system as a library: policies in HCL, their merge into an
 * ACL object, capability checks, and tokens whose secrets are stored hashed.
 *
 * Pure: no I/O, no clock, no logging; every function is safe to call from any
 * thread on objects it does not share for writing. The API layer builds one
 * `struct acl` per token (acl_resolve) and asks it one question per request
 * (acl_allows, acl_allows_node, ...). docs/security.md, "ACL library", lists the
 * rules with examples.
 *
 * Policy language (Nomad's acl/policy.go):
 *
 *     namespace "default" { policy = "read"  capabilities = ["submit-job"] }
 *     namespace "prod-*"  { policy = "write" }
 *     node     { policy = "read" }      # also agent, operator, quota
 *     node_pool "x" { ... }  host_volume "x" { ... }  plugin { ... }
 *                                        # checked and accepted, not enforced
 *
 * - namespace policy: "deny", "read", "write" or "scale", expanded into Nomad's
 *   capability lists and added to `capabilities`; "deny" (as policy or
 *   capability) overrides everything else granted for that namespace name, in
 *   any policy merged with it.
 * - namespace names: 1 to 128 of [a-zA-Z0-9-*]; a name with `*` is a glob. A
 *   namespace is governed by its exact rule if there is one, else by the
 *   matching glob with the smallest len(namespace) - len(glob) + count('*') (the
 *   most specific); ties go to the glob first in byte order.
 * - node, agent, operator, quota: "deny", "read" or "write"; merged by the
 *   highest of deny > write > read.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "controlplane/acl/secret.h"

struct error;

#define ACL_POLICY_MAX_BYTES (64 * 1024) /* policy source */
#define ACL_MAX_NAMESPACE_RULES 256      /* namespace blocks in one policy */
#define ACL_MAX_CAPABILITIES 64          /* entries of one `capabilities` list */
#define ACL_NAMESPACE_MAX 128            /* bytes of a namespace name or glob */
#define ACL_MAX_POLICIES 64              /* policies named by one token or one role */
#define ACL_MAX_ROLES 16                 /* roles named by one token */
#define ACL_ROLE_NAME_MAX 128            /* bytes of a role's name (Nomad's limit is 256) */
/* Policies merged into one ACL: a token's own and its roles', each once. */
#define ACL_MAX_MERGED (ACL_MAX_POLICIES * (1 + ACL_MAX_ROLES))
/* A token's ExpirationTTL: Nomad's default maximum (24 h); the minimum is 1 s
 * (Nomad's default 1 min is a server setting there). */
#define ACL_TOKEN_TTL_MIN_NS INT64_C(1000000000)
#define ACL_TOKEN_TTL_MAX_NS (INT64_C(24) * 3600 * 1000000000)

/* Namespace capabilities (Nomad's NamespaceCapability*). */
enum acl_cap {
        ACL_CAP_DENY,
        ACL_CAP_LIST_JOBS,
        ACL_CAP_PARSE_JOB,
        ACL_CAP_READ_JOB,
        ACL_CAP_SUBMIT_JOB,
        ACL_CAP_DISPATCH_JOB,
        ACL_CAP_READ_LOGS,
        ACL_CAP_READ_FS,
        ACL_CAP_ALLOC_EXEC,
        ACL_CAP_ALLOC_NODE_EXEC,
        ACL_CAP_ALLOC_LIFECYCLE,
        ACL_CAP_CSI_REGISTER_PLUGIN,
        ACL_CAP_CSI_WRITE_VOLUME,
        ACL_CAP_CSI_READ_VOLUME,
        ACL_CAP_CSI_LIST_VOLUME,
        ACL_CAP_CSI_MOUNT_VOLUME,
        ACL_CAP_LIST_SCALING_POLICIES,
        ACL_CAP_READ_SCALING_POLICY,
        ACL_CAP_READ_JOB_SCALING,
        ACL_CAP_SCALE_JOB,
        ACL_CAP_SUBMIT_RECOMMENDATION,
        ACL_CAP_SENTINEL_OVERRIDE,
        ACL_CAP_COUNT
};

/* "submit-job" -> ACL_CAP_SUBMIT_JOB; -1 when unknown. */
int acl_cap_from_name(const char *name);
const char *acl_cap_name(enum acl_cap cap);

/* What a request needs of the node, agent, operator or quota rules. */
enum acl_access { ACL_READ, ACL_WRITE };

/* ---- policies ------------------------------------------------------------------ */

struct acl_policy;

/* Parse and check one policy (HCL). name is used in messages ("policy \"dev\":
 * line 3: invalid namespace policy \"admin\""). src need not be NUL-terminated. */
int acl_policy_parse(const char *name, const char *src, size_t len, struct acl_policy **ret, struct error *err);
struct acl_policy *acl_policy_free(struct acl_policy *p);
void acl_policy_freep(struct acl_policy **p);

/* ---- the merged ACL --------------------------------------------------------------- */

struct acl;

/* Merge n policies (n <= ACL_MAX_MERGED; 0 gives an ACL that allows nothing). */
int acl_create(const struct acl_policy *const *policies, size_t n, struct acl **ret, struct error *err);
/* An ACL that allows everything (a management token). NULL when out of memory. */
struct acl *acl_management(void);
struct acl *acl_free(struct acl *a);
void acl_freep(struct acl **a);

bool acl_is_management(const struct acl *a);
/* The capability in that namespace (cost: O(exact rules + glob rules)). */
bool acl_allows(const struct acl *a, const char *ns, enum acl_cap cap);
/* Any capability other than deny in that namespace (Nomad's AllowNamespace). */
bool acl_allows_namespace(const struct acl *a, const char *ns);
bool acl_allows_node(const struct acl *a, enum acl_access access);
bool acl_allows_agent(const struct acl *a, enum acl_access access);
bool acl_allows_operator(const struct acl *a, enum acl_access access);
bool acl_allows_quota(const struct acl *a, enum acl_access access);

/* ---- tokens ------------------------------------------------------------------------ */

enum acl_token_type { ACL_TOKEN_CLIENT, ACL_TOKEN_MANAGEMENT };

#define ACL_TOKEN_NAME_MAX 256

/* A role a token carries (Nomad's ACLTokenRoleLink): the ID is what resolution
 * follows; the name is the role's name when the token was made, for display. */
struct acl_role_link {
        char id[37];
        char name[ACL_ROLE_NAME_MAX + 1];
};

/* A token as stored: the secret only as its SHA-256. A client token names at
 * least one policy or role. */
struct acl_token {
        char accessor_id[37];              /* public, a UUID */
        char secret_hash[SECRET_HASH_HEX]; /* SHA-256 of the SecretID, hex */
        char name[ACL_TOKEN_NAME_MAX];
        enum acl_token_type type;
        int64_t expiration_time; /* unix ns after which the token is refused and collected; 0: never */
        char **policies;         /* names; client tokens only */
        size_t n_policies;
        struct acl_role_link *roles; /* client tokens only; at most ACL_MAX_ROLES */
        size_t n_roles;
};

/* A new token with fresh random AccessorID and SecretID (the kernel's CSPRNG);
 * the secret goes to ret_secret once and is kept only hashed. A client token
 * names 0 to ACL_MAX_POLICIES policies (0 only when roles are added with
 * acl_token_add_role before it is used); a management token none. */
int acl_token_create(enum acl_token_type type, const char *name, const char *const *policies, size_t n,
                     struct acl_token **ret, char ret_secret[37], struct error *err);
/* Adds a role link (-E2BIG past ACL_MAX_ROLES, -EINVAL for a management token,
 * an ID that is not 36 bytes or a name longer than ACL_ROLE_NAME_MAX). */
int acl_token_add_role(struct acl_token *t, const char *id, const char *name, struct error *err);
struct acl_token *acl_token_free(struct acl_token *t);
void acl_token_freep(struct acl_token **t);
/* secret is this token's SecretID (hashed and compared in constant time). */
bool acl_token_matches(const struct acl_token *t, const char *secret);
/* Whether t has an expiration time at or before now (unix ns). */
bool acl_token_expired(const struct acl_token *t, int64_t now);

/* Returns the named policy or NULL (borrowed: it must outlive the call). */
typedef const struct acl_policy *(*acl_policy_lookup_fn)(void *data, const char *name);

/* The policy names of the role with that ID: up to max borrowed names into
 * ret_names (valid for the call); returns how many, 0 when the role does not exist. */
typedef size_t (*acl_role_policies_fn)(void *data, const char *role_id, const char **ret_names, size_t max);

/* The ACL of a token: management -> everything; client -> the union of its
 * policies and the policies of its roles, each merged once (policy names and
 * roles that no longer exist are skipped, as Nomad does: deleting a role or a
 * policy takes its grant away at the next request); NULL token -> the policy
 * named "anonymous" if it exists, else nothing allowed. role_policies may be
 * NULL (no roles are followed). */
int acl_resolve(const struct acl_token *t, acl_policy_lookup_fn lookup, acl_role_policies_fn role_policies, void *data,
                struct acl **ret, struct error *err);
