/* routes_acl_endpoints.c - /v1/acl/...: bootstrap, policies, roles and tokens, in
 * Nomad's paths and shapes. Writes become FSM commands (ACLBootstrap,
 * ACLPolicyUpsert, ACLPolicyDelete, ACLRoleUpsert, ACLRoleDelete,
 * ACLTokenUpsert, ACLTokenDelete); a token's SecretID is made
 * here, answered once (create, bootstrap) and travels through Raft only as its
 * SHA-256. Who may call what is in the route table (routes.c). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/error.h"
#include "common/ids.h"
#include "common/jobspec.h"
#include "common/jsonx.h"
#include "common/macros.h"
#include "controlplane/acl/acl.h"
#include "controlplane/api/http.h"
#include "controlplane/api/routes_internal.h"
#include "controlplane/state/state_acl.h"

/* Nomad answers the ACL endpoints 400 when ACLs are off. */
static bool acl_on_or_fail(struct route_ctx *c) {
        if (c->s->acl_enabled)
                return true;
        http_req_respond_text(c->req, 400, "ACL support disabled (start the server with -acl-enabled)");
        return false;
}

static uint64_t acl_index(const struct route_ctx *c) {
        uint64_t i = state_acl_index(ctx_state(c));
        return i ? i : 1;
}

/* The reply to a create: the token as stored, and its secret (this once). */
static json_t *token_reply(const struct acl_token *t, const char *secret, int64_t now) {
        struct state_acl_token st = {.token = (struct acl_token *)t, .create_time = now};
        json_t *o = state_acl_token_json(&st, false);
        if (o)
                json_object_set_new(o, "SecretID", json_string(secret));
        return o;
}

static void propose_token(struct route_ctx *c, const char *type, struct acl_token *t, const char *secret) {
        int64_t now = clock_now_ns();
        struct state_acl_token st = {.token = t, .create_time = now};
        json_t *tj = state_acl_token_json(&st, true);
        json_t *reply = token_reply(t, secret, now);
        json_t *cmd = tj ? json_pack("{s:s, s:o}", "Type", type, "Token", tj) : NULL;
        if (!cmd || !reply) {
                json_decref(cmd);
                json_decref(reply);
                http_req_respond_text(c->req, 500, "out of memory");
                return;
        }
        propose(c, cmd, reply, false);
}

void h_acl_bootstrap(struct route_ctx *c) {
        if (!acl_on_or_fail(c) || !is_leader_or_fail(c))
                return;
        uint64_t done = state_acl_bootstrap_index(ctx_state(c));
        if (done) {
                http_req_respond_text(c->req, 400, "ACL bootstrap already done (reset index: %llu)",
                                      (unsigned long long)done);
                return;
        }
        _cleanup_(acl_token_freep) struct acl_token *t = NULL;
        char secret[37];
        struct error err = {0};
        if (acl_token_create(ACL_TOKEN_MANAGEMENT, "Bootstrap Token", NULL, 0, &t, secret, &err) < 0) {
                http_req_respond_text(c->req, 500, "%s", err.msg);
                return;
        }
        propose_token(c, "ACLBootstrap", t, secret);
}

static bool count_one_policy(void *arg, const struct state_acl_policy *p) {
        (void)p;
        ++*(size_t *)arg;
        return true;
}

static bool count_one_token(void *arg, const struct state_acl_token *t) {
        (void)t;
        ++*(size_t *)arg;
        return true;
}

/* ---- policies ---- */

static bool add_policy(void *arg, const struct state_acl_policy *p) {
        json_array_append_new(arg, state_acl_policy_json(p, false));
        return true;
}

/* ---- what policies, tokens and roles share ---- */

enum acl_object { OBJ_POLICY, OBJ_TOKEN, OBJ_ROLE };

static const struct {
        const char *what;     /* for "... not found" */
        const char *del_type; /* its delete command */
        const char *key;      /* the command's field naming it (c->param[0]) */
} objects[] = {
    [OBJ_POLICY] = {"ACL policy", "ACLPolicyDelete", "Name"},
    [OBJ_TOKEN] = {"ACL token", "ACLTokenDelete", "AccessorID"},
    [OBJ_ROLE] = {"ACL role", "ACLRoleDelete", "ID"},
};

/* A read: 404 "<what> not found" when j is NULL, else j at index. */
static void respond_object(struct route_ctx *c, enum acl_object o, json_t *j, uint64_t index) {
        if (!j)
                http_req_respond_text(c->req, 404, "%s not found", objects[o].what);
        else
                http_req_respond_json(c->req, 200, j, index);
}

/* DELETE of the object named by c->param[0]: 404 when there is none, else its
 * delete command, answered once applied. */
static void delete_object(struct route_ctx *c, enum acl_object o) {
        if (!acl_on_or_fail(c) || !is_leader_or_fail(c))
                return;
        const struct state_store *st = ctx_state(c);
        const char *key = c->param[0];
        bool exists = o == OBJ_POLICY  ? state_acl_policy_get(st, key) != NULL
                      : o == OBJ_TOKEN ? state_acl_token_get(st, key) != NULL
                                       : state_acl_role_get(st, key) != NULL;
        if (!exists) {
                respond_object(c, o, NULL, 0);
                return;
        }
        propose(c, json_pack("{s:s, s:s}", "Type", objects[o].del_type, objects[o].key, key), NULL, false);
}

void h_acl_policies_list(struct route_ctx *c) {
        if (!acl_on_or_fail(c))
                return;
        json_t *out = json_array();
        state_acl_policies_foreach(ctx_state(c), add_policy, out);
        http_req_respond_json(c->req, 200, out, acl_index(c));
}

void h_acl_policy_read(struct route_ctx *c) {
        if (!acl_on_or_fail(c))
                return;
        const struct state_acl_policy *p = state_acl_policy_get(ctx_state(c), c->param[0]);
        respond_object(c, OBJ_POLICY, p ? state_acl_policy_json(p, true) : NULL, p ? p->modify_index : 0);
}

void h_acl_policy_put(struct route_ctx *c) {
        if (!acl_on_or_fail(c) || !is_leader_or_fail(c))
                return;
        _cleanup_json_ json_t *body = parse_body(c);
        if (!body)
                return;
        const char *name = jx_str(body, "Name", c->param[0]);
        const char *desc = jx_str(body, "Description", "");
        const char *rules = jx_str(body, "Rules", NULL);
        if (strcmp(name, c->param[0]) != 0) {
                http_req_respond_text(c->req, 400, "ACL policy name \"%.64s\" does not match the path (\"%.64s\")",
                                      name, c->param[0]);
                return;
        }
        if (!state_acl_policy_name_valid(name)) {
                http_req_respond_text(c->req, 400, "invalid ACL policy name \"%.64s\": 1 to %d of a-z A-Z 0-9 - _",
                                      name, STATE_ACL_POLICY_NAME_MAX);
                return;
        }
        if (strlen(desc) > STATE_ACL_DESCRIPTION_MAX) {
                http_req_respond_text(c->req, 400, "ACL policy description longer than %d bytes",
                                      STATE_ACL_DESCRIPTION_MAX);
                return;
        }
        struct error err = {0};
        struct acl_policy *parsed = NULL;
        if (!rules || acl_policy_parse(name, rules, strlen(rules), &parsed, &err) < 0) {
                http_req_respond_text(c->req, 400, "invalid ACL policy: %s", rules ? err.msg : "Rules missing");
                return;
        }
        acl_policy_free(parsed);
        size_t n = 0;
        state_acl_policies_foreach(ctx_state(c), count_one_policy, &n);
        if (n >= STATE_ACL_MAX_POLICIES && !state_acl_policy_get(ctx_state(c), name)) {
                http_req_respond_text(c->req, 400, "too many ACL policies (at most %d)", STATE_ACL_MAX_POLICIES);
                return;
        }
        json_t *cmd = json_pack("{s:s, s:{s:s, s:s, s:s}}", "Type", "ACLPolicyUpsert", "Policy", "Name", name,
                                "Description", desc, "Rules", rules);
        if (!cmd) {
                http_req_respond_text(c->req, 500, "out of memory");
                return;
        }
        propose(c, cmd, NULL, false);
}

void h_acl_policy_delete(struct route_ctx *c) {
        delete_object(c, OBJ_POLICY);
}

/* ---- tokens ---- */

static bool add_token(void *arg, const struct state_acl_token *t) {
        json_array_append_new(arg, state_acl_token_json(t, false));
        return true;
}

void h_acl_tokens_list(struct route_ctx *c) {
        if (!acl_on_or_fail(c))
                return;
        json_t *out = json_array();
        state_acl_tokens_foreach(ctx_state(c), add_token, out);
        http_req_respond_json(c->req, 200, out, acl_index(c));
}

/* ExpirationTTL (nanoseconds, as Nomad's JSON, or a duration string "10m") or
 * ExpirationTime (unix ns): *ret the unix ns at which the token expires, 0 for
 * never. Answers 400 itself and returns -1 when either is out of bounds. */
static int token_expiration(struct route_ctx *c, const json_t *body, int64_t *ret) {
        json_t *ttl = json_object_get(body, "ExpirationTTL"), *at = json_object_get(body, "ExpirationTime");
        int64_t now = clock_now_ns(), ns = 0;
        if (ttl && at && !json_is_null(ttl) && !json_is_null(at)) {
                http_req_respond_text(c->req, 400, "give ExpirationTTL or ExpirationTime, not both");
                return -1;
        }
        if (ttl && !json_is_null(ttl)) {
                if (json_is_integer(ttl))
                        ns = (int64_t)json_integer_value(ttl);
                else if (!json_is_string(ttl) || jobspec_parse_duration(json_string_value(ttl), &ns) < 0) {
                        http_req_respond_text(c->req, 400, "ExpirationTTL must be nanoseconds or a duration (\"10m\")");
                        return -1;
                }
                if (ns == 0)
                        return *ret = 0, 0;
        } else if (at && !json_is_null(at)) {
                if (!json_is_integer(at)) {
                        http_req_respond_text(c->req, 400, "ExpirationTime must be unix nanoseconds");
                        return -1;
                }
                int64_t t = (int64_t)json_integer_value(at);
                if (t == 0)
                        return *ret = 0, 0;
                ns = t > now ? t - now : -1;
        } else {
                return *ret = 0, 0;
        }
        if (ns < ACL_TOKEN_TTL_MIN_NS || ns > ACL_TOKEN_TTL_MAX_NS) {
                http_req_respond_text(c->req, 400, "a token's expiration must be 1s to 24h from now (got %lld ms)",
                                      (long long)(ns / 1000000));
                return -1;
        }
        *ret = now + ns;
        return 0;
}

/* body[key]: absent, or a list of at most max entries (*ret, *ret_n); false once
 * answered 400 ("token <key> must be <shape>", "a token names at most <max> <what>"). */
static bool token_list(struct route_ctx *c, const json_t *body, const char *key, const char *shape, size_t max,
                       const char *what, json_t **ret, size_t *ret_n) {
        json_t *l = json_object_get(body, key);
        if (l && !json_is_array(l)) {
                http_req_respond_text(c->req, 400, "token %s must be %s", key, shape);
                return false;
        }
        size_t n = json_array_size(l);
        if (n > max) {
                http_req_respond_text(c->req, 400, "a token names at most %zu %s (got %zu)", max, what, n);
                return false;
        }
        *ret = l;
        *ret_n = n;
        return true;
}

void h_acl_token_create(struct route_ctx *c) {
        if (!acl_on_or_fail(c) || !is_leader_or_fail(c))
                return;
        _cleanup_json_ json_t *body = parse_body(c);
        if (!body)
                return;
        const char *type = jx_str(body, "Type", "client");
        enum acl_token_type tt;
        if (strcmp(type, "client") == 0)
                tt = ACL_TOKEN_CLIENT;
        else if (strcmp(type, "management") == 0)
                tt = ACL_TOKEN_MANAGEMENT;
        else {
                http_req_respond_text(c->req, 400, "token Type must be \"client\" or \"management\" (got \"%.32s\")",
                                      type);
                return;
        }
        json_t *pols;
        size_t n;
        if (!token_list(c, body, "Policies", "a list of policy names", ACL_MAX_POLICIES, "policies", &pols, &n))
                return;
        const char *names[ACL_MAX_POLICIES];
        for (size_t i = 0; i < n; i++) {
                names[i] = json_string_value(json_array_get(pols, i));
                if (!names[i] || !state_acl_policy_get(ctx_state(c), names[i])) {
                        http_req_respond_text(c->req, 400, "ACL policy \"%.64s\" does not exist",
                                              names[i] ? names[i] : "(not a string)");
                        return;
                }
        }
        json_t *roles;
        size_t nr;
        if (!token_list(c, body, "Roles", "a list of {\"ID\"} or {\"Name\"}", ACL_MAX_ROLES, "roles", &roles, &nr))
                return;
        if (tt == ACL_TOKEN_MANAGEMENT && (n || nr)) {
                http_req_respond_text(c->req, 400, "a management token cannot have policies or roles");
                return;
        }
        if (tt == ACL_TOKEN_CLIENT && n + nr == 0) {
                http_req_respond_text(c->req, 400, "a client token needs at least one policy or role");
                return;
        }
        const struct state_acl_role *linked[ACL_MAX_ROLES];
        for (size_t i = 0; i < nr; i++) {
                json_t *rl = json_array_get(roles, i);
                const char *rid = jx_str(rl, "ID", ""), *rname = jx_str(rl, "Name", "");
                linked[i] = *rid ? state_acl_role_get(ctx_state(c), rid) : state_acl_role_by_name(ctx_state(c), rname);
                if (!linked[i]) {
                        http_req_respond_text(c->req, 400, "ACL role %s\"%.64s\" does not exist", *rid ? "ID " : "",
                                              *rid ? rid : rname);
                        return;
                }
        }
        size_t count = 0;
        state_acl_tokens_foreach(ctx_state(c), count_one_token, &count);
        if (count >= STATE_ACL_MAX_TOKENS) {
                http_req_respond_text(c->req, 400, "too many ACL tokens (at most %d); delete unused ones",
                                      STATE_ACL_MAX_TOKENS);
                return;
        }
        int64_t expires = 0;
        if (token_expiration(c, body, &expires) < 0)
                return;
        _cleanup_(acl_token_freep) struct acl_token *t = NULL;
        char secret[37];
        struct error err = {0};
        if (acl_token_create(tt, jx_str(body, "Name", ""), names, n, &t, secret, &err) < 0) {
                http_req_respond_text(c->req, 400, "%s", err.msg);
                return;
        }
        for (size_t i = 0; i < nr; i++) {
                bool dup = false;
                for (size_t k = 0; k < i; k++)
                        dup = dup || linked[k] == linked[i];
                if (!dup && acl_token_add_role(t, linked[i]->id, linked[i]->name, &err) < 0) {
                        http_req_respond_text(c->req, 400, "%s", err.msg);
                        return;
                }
        }
        t->expiration_time = expires;
        propose_token(c, "ACLTokenUpsert", t, secret);
}

void h_acl_token_self(struct route_ctx *c) {
        if (!acl_on_or_fail(c))
                return;
        const struct state_acl_token *t =
            state_acl_token_by_secret(ctx_state(c), http_req_header(c->req, "X-Nomad-Token"));
        if (!t)
                http_req_respond_text(c->req, 403, "Permission denied: ACL token not found");
        else if (acl_token_expired(t->token, clock_now_ns()))
                http_req_respond_text(c->req, 403, "ACL token expired");
        else
                http_req_respond_json(c->req, 200, state_acl_token_json(t, false), t->modify_index);
}

void h_acl_token_read(struct route_ctx *c) {
        if (!acl_on_or_fail(c))
                return;
        const struct state_acl_token *t = state_acl_token_get(ctx_state(c), c->param[0]);
        respond_object(c, OBJ_TOKEN, t ? state_acl_token_json(t, false) : NULL, t ? t->modify_index : 0);
}

void h_acl_token_delete(struct route_ctx *c) {
        delete_object(c, OBJ_TOKEN);
}

/* ---- roles ---- */

static bool add_role(void *arg, const struct state_acl_role *r) {
        json_array_append_new(arg, state_acl_role_json(r));
        return true;
}

static bool count_one_role(void *arg, const struct state_acl_role *r) {
        (void)r;
        (*(size_t *)arg)++;
        return true;
}

void h_acl_roles_list(struct route_ctx *c) {
        if (!acl_on_or_fail(c))
                return;
        json_t *out = json_array();
        state_acl_roles_foreach(ctx_state(c), add_role, out);
        http_req_respond_json(c->req, 200, out, acl_index(c));
}

static void respond_role(struct route_ctx *c, const struct state_acl_role *r) {
        respond_object(c, OBJ_ROLE, r ? state_acl_role_json(r) : NULL, r ? r->modify_index : 0);
}

void h_acl_role_read(struct route_ctx *c) {
        if (acl_on_or_fail(c))
                respond_role(c, state_acl_role_get(ctx_state(c), c->param[0]));
}

void h_acl_role_read_by_name(struct route_ctx *c) {
        if (acl_on_or_fail(c))
                respond_role(c, state_acl_role_by_name(ctx_state(c), c->param[0]));
}

/* Create (id NULL: a fresh ID) or update one role from the request body, checked
 * here as the FSM would, so that a bad role is a 400 and never a log entry. */
static void role_write(struct route_ctx *c, const char *id) {
        if (!acl_on_or_fail(c) || !is_leader_or_fail(c))
                return;
        _cleanup_json_ json_t *body = parse_body(c);
        if (!body)
                return;
        char fresh[ID_BUF];
        if (!id) {
                if (*jx_str(body, "ID", "")) {
                        http_req_respond_text(c->req, 400,
                                              "a new ACL role cannot set its ID (update it at /v1/acl/role/:id)");
                        return;
                }
                id_generate(fresh);
                id = fresh;
        } else {
                const char *bid = jx_str(body, "ID", id);
                if (strcmp(bid, id) != 0) {
                        http_req_respond_text(c->req, 400, "ACL role ID \"%.64s\" does not match the path", bid);
                        return;
                }
                if (!state_acl_role_get(ctx_state(c), id)) {
                        http_req_respond_text(c->req, 404, "ACL role not found");
                        return;
                }
        }
        /* Only the policies' names go into the command, [{"Name"}], whatever else came. */
        json_t *given = json_object_get(body, "Policies");
        _cleanup_json_ json_t *pols = json_is_array(given) ? json_array() : NULL;
        for (size_t i = 0; pols && i < json_array_size(given) && i <= ACL_MAX_POLICIES; i++) {
                json_t *pj = json_array_get(given, i);
                const char *pn = json_is_string(pj) ? json_string_value(pj) : jx_str(pj, "Name", "");
                if (!state_acl_policy_get(ctx_state(c), pn)) {
                        http_req_respond_text(c->req, 400, "ACL role: policy \"%.64s\" does not exist", pn);
                        return;
                }
                json_array_append_new(pols, json_pack("{s:s}", "Name", pn));
        }
        size_t n = 0;
        state_acl_roles_foreach(ctx_state(c), count_one_role, &n);
        if (id == fresh && n >= STATE_ACL_MAX_ROLES) {
                http_req_respond_text(c->req, 400, "too many ACL roles (at most %d)", STATE_ACL_MAX_ROLES);
                return;
        }
        json_t *role = json_pack("{s:s, s:s, s:s, s:O}", "ID", id, "Name", jx_str(body, "Name", ""), "Description",
                                 jx_str(body, "Description", ""), "Policies", pols ? pols : json_null());
        if (!role) {
                http_req_respond_text(c->req, 500, "out of memory");
                return;
        }
        struct error err = {0};
        int r = state_acl_role_check(ctx_state(c), role, &err);
        if (r < 0) {
                json_decref(role);
                http_req_respond_text(c->req, r == -EEXIST ? 409 : 400, "%s", err.msg);
                return;
        }
        json_t *reply = json_deep_copy(role);
        json_t *cmd = json_pack("{s:s, s:o}", "Type", "ACLRoleUpsert", "Role", role);
        if (!cmd || !reply) {
                json_decref(cmd);
                json_decref(reply);
                http_req_respond_text(c->req, 500, "out of memory");
                return;
        }
        propose(c, cmd, reply, false);
}

void h_acl_role_create(struct route_ctx *c) {
        role_write(c, NULL);
}

void h_acl_role_update(struct route_ctx *c) {
        role_write(c, c->param[0]);
}

void h_acl_role_delete(struct route_ctx *c) {
        delete_object(c, OBJ_ROLE);
}
