/* state_acl.h - the ACL tables of the state store: policies (by name), roles
 * (by ID, also found by name), tokens (by AccessorID, found by the SHA-256 of
 * their secret) and whether the ACL system was bootstrapped. Written only
 * through the FSM (ACLPolicyUpsert, ACLPolicyDelete, ACLRoleUpsert,
 * ACLRoleDelete, ACLTokenUpsert, ACLTokenDelete, ACLBootstrap); kept in Raft
 * snapshots (state_save / state_restore); shared by state snapshots like the
 * other tables (copy-on-write: a write copies the small pointer arrays,
 * O(policies + tokens), never the records).
 *
 * Token secrets never reach the state (nor the Raft log): a token is stored with
 * its SecretHash only.
 *
 * The one secret kept in clear is the servers' own (ServerSecretSet,
 * controlplane/raft/fsm_server_secret.h): 256 random bits the first leader
 * commits, which followers present on the leader's /v1/internal/ routes. It is
 * in Raft snapshots (a new server gets it from there) and in the Raft log on the
 * servers' disks, never in an API answer: GET /v1/operator/snapshot drops it.
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

struct acl_policy;
struct acl_token;
struct error;
struct state_store;

#define STATE_ACL_MAX_POLICIES 1024
#define STATE_ACL_MAX_TOKENS 16384
#define STATE_ACL_POLICY_NAME_MAX 128
#define STATE_ACL_DESCRIPTION_MAX 256
#define STATE_ACL_MAX_ROLES 1024

/* A role (Nomad's ACLRole): a name for a set of policies. Tokens link to it by
 * ID; its policies are looked up at each request, so a change applies at once. */
struct state_acl_role {
        char id[37];
        char *name, *description;
        char **policies;
        size_t n_policies;
        uint64_t create_index, modify_index;
};

struct state_acl_policy {
        char *name, *description, *rules;
        struct acl_policy *parsed;
        uint64_t create_index, modify_index;
};

struct state_acl_token {
        struct acl_token *token;
        int64_t create_time; /* unix ns, from the command */
        uint64_t create_index, modify_index;
};

/* Reads (borrowed: valid until the next write to this store; forever for a snapshot). */
const struct state_acl_policy *state_acl_policy_get(const struct state_store *st, const char *name);
const struct state_acl_token *state_acl_token_get(const struct state_store *st, const char *accessor_id);
/* The token whose secret is `secret` (hashed once, compared hash to hash in
 * constant time against every token: O(tokens)); NULL when none. */
const struct state_acl_token *state_acl_token_by_secret(const struct state_store *st, const char *secret);
const struct state_acl_role *state_acl_role_get(const struct state_store *st, const char *id);
/* O(roles). */
const struct state_acl_role *state_acl_role_by_name(const struct state_store *st, const char *name);
/* In ID order. */
void state_acl_roles_foreach(const struct state_store *st, bool (*cb)(void *arg, const struct state_acl_role *r),
                             void *arg);
/* The acl_role_policies_fn of acl_resolve (data: the store). */
size_t state_acl_role_policies(void *st, const char *role_id, const char **ret_names, size_t max);
/* In name / AccessorID order. */
void state_acl_policies_foreach(const struct state_store *st, bool (*cb)(void *arg, const struct state_acl_policy *p),
                                void *arg);
/* Up to max AccessorIDs of tokens expired at now (unix ns), for the leader to
 * delete (ACLTokenDelete). O(tokens). */
size_t state_acl_tokens_expired(const struct state_store *st, int64_t now, char (*ret)[37], size_t max);
void state_acl_tokens_foreach(const struct state_store *st, bool (*cb)(void *arg, const struct state_acl_token *t),
                              void *arg);
/* Raft index of the bootstrap; 0 before. */
uint64_t state_acl_bootstrap_index(const struct state_store *st);
/* Latest index of a write to the ACL tables (0: none). */
uint64_t state_acl_index(const struct state_store *st);

/* The servers' secret (64 hex digits), or NULL before a leader set it. */
const char *state_acl_server_secret(const struct state_store *st);
/* The key of the server secret in state_save's JSON (API answers remove it). */
#define STATE_ACL_SERVER_SECRET_KEY "ServerSecret"

/* A policy's name: 1 to 128 of [a-zA-Z0-9-_] (Nomad's). */
bool state_acl_policy_name_valid(const char *name);

/* Writes (the FSM only; -EROFS on a snapshot). */
/* Parses rules (-EINVAL with err set when they are not a valid policy). */
int state_acl_policy_upsert(struct state_store *st, uint64_t index, const char *name, const char *description,
                            const char *rules, struct error *err);
int state_acl_policy_delete(struct state_store *st, uint64_t index, const char *name);
/* A role from its JSON (ID, Name, Description, Policies: [{Name}]): -EINVAL with
 * err when malformed, -EEXIST when another role holds the name. Policies need
 * not exist (they are skipped at resolution); the API checks them. */
int state_acl_role_upsert(struct state_store *st, uint64_t index, const json_t *role, struct error *err);
/* What state_acl_role_upsert would refuse, without writing (the API's check). */
int state_acl_role_check(const struct state_store *st, const json_t *role, struct error *err);
int state_acl_role_delete(struct state_store *st, uint64_t index, const char *id);
/* Takes t (freed on failure too). create_time kept for an existing AccessorID. */
int state_acl_token_upsert(struct state_store *st, uint64_t index, struct acl_token *t, int64_t create_time);
int state_acl_token_delete(struct state_store *st, uint64_t index, const char *accessor_id);
/* Set once: -EEXIST when a secret is there already (the first one stays),
 * -EINVAL when secret is not 64 lower-case hex digits. */
int state_acl_server_secret_set(struct state_store *st, uint64_t index, const char *secret);
/* The first management token; -EEXIST once bootstrapped (t freed either way). */
int state_acl_bootstrap(struct state_store *st, uint64_t index, struct acl_token *t, int64_t create_time);

/* ---- JSON (FSM commands, snapshots, the API) ---- */
/* Nomad's ACLToken: AccessorID, Name, Type, Policies, Global, CreateTime, CreateIndex,
 * ModifyIndex; SecretHash only when with_hash (commands, snapshots; never the API). */
json_t *state_acl_token_json(const struct state_acl_token *t, bool with_hash);
json_t *state_acl_policy_json(const struct state_acl_policy *p, bool with_rules);
/* Nomad's ACLRole: ID, Name, Description, Policies [{Name}], CreateIndex, ModifyIndex. */
json_t *state_acl_role_json(const struct state_acl_role *r);
/* A token from its JSON (with SecretHash), checked. */
int state_acl_token_from_json(const json_t *j, struct acl_token **ret, int64_t *ret_create_time, struct error *err);

/* Snapshots: adds "ACLPolicies", "ACLRoles", "ACLTokens", "ACLBootstrapIndex", "ACLIndex" and
 * (once set) "ServerSecret" to out;
 * restores them into a fresh store. */
int state_acl_save(const struct state_store *st, json_t *out);
int state_acl_restore(const json_t *snap, struct state_store *st, struct error *err);
