/* state_acl.c - the ACL tables of the state store. See state_acl.h. */
#include "controlplane/state/state_acl.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/jsonx.h"
#include "common/macros.h"
#include "controlplane/acl/acl.h"
#include "controlplane/acl/secret.h"
#include "controlplane/state/state.h"
#include "controlplane/state/state_internal.h"

/* Records are immutable once in a table and shared by every table version. */
struct pol_rec {
        int refcount;
        struct state_acl_policy p;
};
struct tok_rec {
        int refcount;
        struct state_acl_token t;
};
struct role_rec {
        int refcount;
        struct state_acl_role r;
};

/* One version of the ACL tables; shared by snapshots (refcount), copied by the
 * writer's first change after that. Arrays sorted by name / AccessorID. */
struct acl_tables {
        int refcount;
        struct pol_rec **pols;
        size_t n_pols;
        struct tok_rec **toks;
        size_t n_toks;
        struct role_rec **roles;
        size_t n_roles;
        uint64_t bootstrap_index, index;
        char server_secret[SECRET_HASH_HEX]; /* "" until the first leader set it */
};

#define REC_OF(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))

static void pol_unref(struct pol_rec *r) {
        if (!r || __atomic_sub_fetch(&r->refcount, 1, __ATOMIC_ACQ_REL) > 0)
                return;
        free(r->p.name);
        free(r->p.description);
        free(r->p.rules);
        acl_policy_free(r->p.parsed);
        free(r);
}

static void tok_unref(struct tok_rec *r) {
        if (!r || __atomic_sub_fetch(&r->refcount, 1, __ATOMIC_ACQ_REL) > 0)
                return;
        acl_token_free(r->t.token);
        free(r);
}

static void role_unref(struct role_rec *r) {
        if (!r || __atomic_sub_fetch(&r->refcount, 1, __ATOMIC_ACQ_REL) > 0)
                return;
        free(r->r.name);
        free(r->r.description);
        for (size_t i = 0; i < r->r.n_policies; i++)
                free(r->r.policies[i]);
        free(r->r.policies);
        free(r);
}

struct acl_tables *state_acl_tables_ref(struct acl_tables *a) {
        if (a)
                __atomic_add_fetch(&a->refcount, 1, __ATOMIC_RELAXED);
        return a;
}

void state_acl_tables_unref(struct acl_tables *a) {
        if (!a || __atomic_sub_fetch(&a->refcount, 1, __ATOMIC_ACQ_REL) > 0)
                return;
        for (size_t i = 0; i < a->n_pols; i++)
                pol_unref(a->pols[i]);
        for (size_t i = 0; i < a->n_toks; i++)
                tok_unref(a->toks[i]);
        for (size_t i = 0; i < a->n_roles; i++)
                role_unref(a->roles[i]);
        free(a->pols);
        free(a->toks);
        free(a->roles);
        explicit_bzero(a->server_secret, sizeof(a->server_secret));
        free(a);
}

/* The tables, exclusively the writer's, with room for one more row in each. */
static int tables_mut(struct state_store *st, struct acl_tables **ret) {
        if (state_is_snapshot(st))
                return -EROFS;
        struct acl_tables **ap = state_raw_acl(st);
        struct acl_tables *a = *ap;
        if (a && __atomic_load_n(&a->refcount, __ATOMIC_ACQUIRE) == 1) {
                struct pol_rec **p = realloc(a->pols, (a->n_pols + 1) * sizeof(*p));
                if (!p)
                        return -ENOMEM;
                a->pols = p;
                struct tok_rec **t = realloc(a->toks, (a->n_toks + 1) * sizeof(*t));
                if (!t)
                        return -ENOMEM;
                a->toks = t;
                struct role_rec **r = realloc(a->roles, (a->n_roles + 1) * sizeof(*r));
                if (!r)
                        return -ENOMEM;
                a->roles = r;
                *ret = a;
                return 0;
        }
        struct acl_tables *c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        c->refcount = 1;
        size_t np = a ? a->n_pols : 0, nt = a ? a->n_toks : 0, nr = a ? a->n_roles : 0;
        c->pols = calloc(np + 1, sizeof(*c->pols));
        c->toks = calloc(nt + 1, sizeof(*c->toks));
        c->roles = calloc(nr + 1, sizeof(*c->roles));
        if (!c->pols || !c->toks || !c->roles) {
                state_acl_tables_unref(c);
                return -ENOMEM;
        }
        for (size_t i = 0; i < np; i++) {
                c->pols[i] = a->pols[i];
                __atomic_add_fetch(&a->pols[i]->refcount, 1, __ATOMIC_RELAXED);
        }
        for (size_t i = 0; i < nt; i++) {
                c->toks[i] = a->toks[i];
                __atomic_add_fetch(&a->toks[i]->refcount, 1, __ATOMIC_RELAXED);
        }
        for (size_t i = 0; i < nr; i++) {
                c->roles[i] = a->roles[i];
                __atomic_add_fetch(&a->roles[i]->refcount, 1, __ATOMIC_RELAXED);
        }
        c->n_pols = np;
        c->n_toks = nt;
        c->n_roles = nr;
        if (a) {
                c->bootstrap_index = a->bootstrap_index;
                c->index = a->index;
                memcpy(c->server_secret, a->server_secret, sizeof(c->server_secret));
        }
        state_acl_tables_unref(a);
        *ap = c;
        *ret = c;
        return 0;
}

static const struct acl_tables *tables(const struct state_store *st) {
        return *state_raw_acl((struct state_store *)st);
}

/* The three tables (policies by name, tokens by AccessorID, roles by ID) are
 * sorted arrays of shared records; these helpers serve all three. */
enum table { T_POL, T_TOK, T_ROLE };

static size_t table_len(const struct acl_tables *a, enum table t) {
        if (!a)
                return 0;
        return t == T_POL ? a->n_pols : t == T_TOK ? a->n_toks : a->n_roles;
}

static const char *table_key(const struct acl_tables *a, enum table t, size_t i) {
        return t == T_POL ? a->pols[i]->p.name : t == T_TOK ? a->toks[i]->t.token->accessor_id : a->roles[i]->r.id;
}

/* Binary search: the position of key, or where it would go (*found false). */
static size_t table_find(const struct acl_tables *a, enum table t, const char *key, bool *found) {
        size_t lo = 0, hi = table_len(a, t);
        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                int c = strcmp(table_key(a, t, mid), key);
                if (c == 0) {
                        *found = true;
                        return mid;
                }
                if (c < 0)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        *found = false;
        return lo;
}

static size_t pol_find(const struct acl_tables *a, const char *name, bool *found) {
        return table_find(a, T_POL, name, found);
}

static size_t tok_find(const struct acl_tables *a, const char *id, bool *found) {
        return table_find(a, T_TOK, id, found);
}

static size_t role_find(const struct acl_tables *a, const char *id, bool *found) {
        return table_find(a, T_ROLE, id, found);
}

/* The row at i of the writer's tables: replaced by rec (found; the old record
 * unreferenced), or rec inserted there (the arrays have room: tables_mut).
 * -ENOSPC, rec untouched, when an insert would pass max. */
static int table_put(struct acl_tables *a, enum table t, size_t i, bool found, void *rec, size_t max) {
        size_t n = table_len(a, t);
        if (!found && n >= max)
                return -ENOSPC;
        switch (t) {
        case T_POL:
                if (found)
                        pol_unref(a->pols[i]);
                else
                        memmove(&a->pols[i + 1], &a->pols[i], (n - i) * sizeof(*a->pols));
                a->pols[i] = rec;
                a->n_pols += !found;
                break;
        case T_TOK:
                if (found)
                        tok_unref(a->toks[i]);
                else
                        memmove(&a->toks[i + 1], &a->toks[i], (n - i) * sizeof(*a->toks));
                a->toks[i] = rec;
                a->n_toks += !found;
                break;
        case T_ROLE:
                if (found)
                        role_unref(a->roles[i]);
                else
                        memmove(&a->roles[i + 1], &a->roles[i], (n - i) * sizeof(*a->roles));
                a->roles[i] = rec;
                a->n_roles += !found;
                break;
        }
        return 0;
}

static void touch(struct state_store *st, struct acl_tables *a, uint64_t index);

/* Delete the row with this key: -ENOENT when there is none. */
static int table_delete(struct state_store *st, uint64_t index, enum table t, const char *key) {
        bool found;
        key = key ? key : "";
        table_find(*state_raw_acl(st), t, key, &found);
        if (!found)
                return -ENOENT;
        struct acl_tables *a;
        int r = tables_mut(st, &a);
        if (r < 0)
                return r;
        size_t i = table_find(a, t, key, &found), n = table_len(a, t);
        switch (t) {
        case T_POL:
                pol_unref(a->pols[i]);
                memmove(&a->pols[i], &a->pols[i + 1], (n - i - 1) * sizeof(*a->pols));
                a->n_pols--;
                break;
        case T_TOK:
                tok_unref(a->toks[i]);
                memmove(&a->toks[i], &a->toks[i + 1], (n - i - 1) * sizeof(*a->toks));
                a->n_toks--;
                break;
        case T_ROLE:
                role_unref(a->roles[i]);
                memmove(&a->roles[i], &a->roles[i + 1], (n - i - 1) * sizeof(*a->roles));
                a->n_roles--;
                break;
        }
        touch(st, a, index);
        return 0;
}

/* ---- reads ---- */

const struct state_acl_role *state_acl_role_get(const struct state_store *st, const char *id) {
        const struct acl_tables *a = tables(st);
        bool found;
        size_t i = role_find(a, id ? id : "", &found);
        return found ? &a->roles[i]->r : NULL;
}

const struct state_acl_role *state_acl_role_by_name(const struct state_store *st, const char *name) {
        const struct acl_tables *a = tables(st);
        for (size_t i = 0; a && name && i < a->n_roles; i++)
                if (strcmp(a->roles[i]->r.name, name) == 0)
                        return &a->roles[i]->r;
        return NULL;
}

void state_acl_roles_foreach(const struct state_store *st, bool (*cb)(void *arg, const struct state_acl_role *r),
                             void *arg) {
        const struct acl_tables *a = tables(st);
        for (size_t i = 0; a && i < a->n_roles; i++)
                if (!cb(arg, &a->roles[i]->r))
                        return;
}

size_t state_acl_role_policies(void *st, const char *role_id, const char **ret_names, size_t max) {
        const struct state_acl_role *r = st ? state_acl_role_get(st, role_id) : NULL;
        size_t n = 0;
        for (; r && n < r->n_policies && n < max; n++)
                ret_names[n] = r->policies[n];
        return n;
}

const struct state_acl_policy *state_acl_policy_get(const struct state_store *st, const char *name) {
        const struct acl_tables *a = tables(st);
        bool found;
        size_t i = pol_find(a, name ? name : "", &found);
        return found ? &a->pols[i]->p : NULL;
}

const struct state_acl_token *state_acl_token_get(const struct state_store *st, const char *accessor_id) {
        const struct acl_tables *a = tables(st);
        bool found;
        size_t i = tok_find(a, accessor_id ? accessor_id : "", &found);
        return found ? &a->toks[i]->t : NULL;
}

const struct state_acl_token *state_acl_token_by_secret(const struct state_store *st, const char *secret) {
        const struct acl_tables *a = tables(st);
        char h[SECRET_HASH_HEX];
        if (!a || !secret || !*secret || strlen(secret) > 128 || secret_hash(secret, h) < 0)
                return NULL;
        const struct state_acl_token *hit = NULL;
        for (size_t i = 0; i < a->n_toks; i++) /* no early exit: the time says nothing of which */
                if (secret_equal(h, a->toks[i]->t.token->secret_hash))
                        hit = &a->toks[i]->t;
        return hit;
}

void state_acl_policies_foreach(const struct state_store *st, bool (*cb)(void *arg, const struct state_acl_policy *p),
                                void *arg) {
        const struct acl_tables *a = tables(st);
        for (size_t i = 0; a && i < a->n_pols; i++)
                if (!cb(arg, &a->pols[i]->p))
                        return;
}

void state_acl_tokens_foreach(const struct state_store *st, bool (*cb)(void *arg, const struct state_acl_token *t),
                              void *arg) {
        const struct acl_tables *a = tables(st);
        for (size_t i = 0; a && i < a->n_toks; i++)
                if (!cb(arg, &a->toks[i]->t))
                        return;
}

uint64_t state_acl_bootstrap_index(const struct state_store *st) {
        const struct acl_tables *a = tables(st);
        return a ? a->bootstrap_index : 0;
}

uint64_t state_acl_index(const struct state_store *st) {
        const struct acl_tables *a = tables(st);
        return a ? a->index : 0;
}

const char *state_acl_server_secret(const struct state_store *st) {
        const struct acl_tables *a = tables(st);
        return a && a->server_secret[0] ? a->server_secret : NULL;
}

bool state_acl_policy_name_valid(const char *name) {
        size_t n = name ? strlen(name) : 0;
        if (n == 0 || n > STATE_ACL_POLICY_NAME_MAX)
                return false;
        for (size_t i = 0; i < n; i++) {
                char ch = name[i];
                if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '-' ||
                      ch == '_'))
                        return false;
        }
        return true;
}

/* ---- writes ---- */

static void touch(struct state_store *st, struct acl_tables *a, uint64_t index) {
        a->index = index;
        state_raw_bump_latest(st, index);
}

int state_acl_server_secret_set(struct state_store *st, uint64_t index, const char *secret) {
        if (!secret_is_hex64(secret))
                return -EINVAL;
        if (state_acl_server_secret(st))
                return -EEXIST;
        struct acl_tables *a;
        int r = tables_mut(st, &a);
        if (r < 0)
                return r;
        memcpy(a->server_secret, secret, SECRET_HASH_HEX);
        touch(st, a, index);
        return 0;
}

int state_acl_policy_upsert(struct state_store *st, uint64_t index, const char *name, const char *description,
                            const char *rules, struct error *err) {
        if (!state_acl_policy_name_valid(name))
                return errorf(err, -EINVAL, "invalid policy name \"%.64s\": 1 to %d of a-z A-Z 0-9 - _",
                              name ? name : "", STATE_ACL_POLICY_NAME_MAX);
        if (description && strlen(description) > STATE_ACL_DESCRIPTION_MAX)
                return errorf(err, -EINVAL, "policy \"%s\": description longer than %d bytes", name,
                              STATE_ACL_DESCRIPTION_MAX);
        if (!rules)
                return errorf(err, -EINVAL, "policy \"%s\": no Rules", name);
        struct pol_rec *r = calloc(1, sizeof(*r));
        if (!r)
                return errorf(err, -ENOMEM, "out of memory");
        r->refcount = 1;
        int e = acl_policy_parse(name, rules, strlen(rules), &r->p.parsed, err);
        if (e < 0) {
                pol_unref(r);
                return e;
        }
        r->p.name = strdup(name);
        r->p.description = strdup(description ? description : "");
        r->p.rules = strdup(rules);
        struct acl_tables *a;
        if (!r->p.name || !r->p.description || !r->p.rules || (e = tables_mut(st, &a)) < 0) {
                pol_unref(r);
                return errorf(err, e < 0 ? e : -ENOMEM, "%s", e == -EROFS ? "read-only state" : "out of memory");
        }
        bool found;
        size_t i = pol_find(a, name, &found);
        r->p.create_index = found ? a->pols[i]->p.create_index : index;
        r->p.modify_index = index;
        if (table_put(a, T_POL, i, found, r, STATE_ACL_MAX_POLICIES) < 0) {
                pol_unref(r);
                return errorf(err, -EINVAL, "too many ACL policies (at most %d)", STATE_ACL_MAX_POLICIES);
        }
        touch(st, a, index);
        return 0;
}

int state_acl_policy_delete(struct state_store *st, uint64_t index, const char *name) {
        return table_delete(st, index, T_POL, name);
}

int state_acl_role_check(const struct state_store *st, const json_t *role, struct error *err) {
        if (!json_is_object(role))
                return errorf(err, -EINVAL, "ACL role: expected an object");
        const char *id = jx_str(role, "ID", ""), *name = jx_str(role, "Name", ""),
                   *desc = jx_str(role, "Description", "");
        if (strlen(id) != 36)
                return errorf(err, -EINVAL, "ACL role: ID must be a UUID");
        if (!state_acl_policy_name_valid(name) || strlen(name) > ACL_ROLE_NAME_MAX)
                return errorf(err, -EINVAL, "invalid ACL role name \"%.64s\": 1 to %d of a-z A-Z 0-9 - _", name,
                              ACL_ROLE_NAME_MAX);
        if (strlen(desc) > STATE_ACL_DESCRIPTION_MAX)
                return errorf(err, -EINVAL, "ACL role \"%s\": description longer than %d bytes", name,
                              STATE_ACL_DESCRIPTION_MAX);
        const json_t *pols = json_object_get(role, "Policies");
        size_t n = json_array_size(pols);
        if (!json_is_array(pols) || n == 0 || n > ACL_MAX_POLICIES)
                return errorf(err, -EINVAL, "ACL role \"%s\": Policies must list 1 to %d policies", name,
                              ACL_MAX_POLICIES);
        const struct state_acl_role *holder = state_acl_role_by_name(st, name);
        if (holder && strcmp(holder->id, id) != 0)
                return errorf(err, -EEXIST, "ACL role name \"%s\" is taken by role %s", name, holder->id);
        for (size_t i = 0; i < n; i++) {
                const json_t *pj = json_array_get(pols, i);
                const char *pn = json_is_string(pj) ? json_string_value(pj) : jx_str(pj, "Name", "");
                if (!state_acl_policy_name_valid(pn))
                        return errorf(err, -EINVAL, "ACL role \"%s\": invalid policy name in Policies[%zu]", name, i);
        }
        return 0;
}

int state_acl_role_upsert(struct state_store *st, uint64_t index, const json_t *role, struct error *err) {
        int e = state_acl_role_check(st, role, err);
        if (e < 0)
                return e;
        const char *id = jx_str(role, "ID", ""), *name = jx_str(role, "Name", ""),
                   *desc = jx_str(role, "Description", "");
        json_t *pols = json_object_get(role, "Policies");
        size_t n = json_array_size(pols);
        struct role_rec *r = calloc(1, sizeof(*r));
        if (!r)
                return errorf(err, -ENOMEM, "out of memory");
        r->refcount = 1;
        memcpy(r->r.id, id, 37);
        r->r.name = strdup(name);
        r->r.description = strdup(desc);
        r->r.policies = calloc(n, sizeof(*r->r.policies));
        if (!r->r.name || !r->r.description || !r->r.policies) {
                role_unref(r);
                return errorf(err, -ENOMEM, "out of memory");
        }
        for (size_t i = 0; i < n; i++) {
                json_t *pj = json_array_get(pols, i);
                const char *pn = json_is_string(pj) ? json_string_value(pj) : jx_str(pj, "Name", "");
                bool dup = false;
                for (size_t k = 0; k < r->r.n_policies; k++)
                        dup = dup || strcmp(r->r.policies[k], pn) == 0;
                if (dup)
                        continue;
                if (!(r->r.policies[r->r.n_policies] = strdup(pn))) {
                        role_unref(r);
                        return errorf(err, -ENOMEM, "out of memory");
                }
                r->r.n_policies++;
        }
        struct acl_tables *a;
        if ((e = tables_mut(st, &a)) < 0) {
                role_unref(r);
                return errorf(err, e, "%s", e == -EROFS ? "read-only state" : "out of memory");
        }
        bool found;
        size_t i = role_find(a, id, &found);
        r->r.create_index = found ? a->roles[i]->r.create_index : index;
        r->r.modify_index = index;
        if (table_put(a, T_ROLE, i, found, r, STATE_ACL_MAX_ROLES) < 0) {
                role_unref(r);
                return errorf(err, -ENOSPC, "too many ACL roles (at most %d)", STATE_ACL_MAX_ROLES);
        }
        touch(st, a, index);
        return 0;
}

int state_acl_role_delete(struct state_store *st, uint64_t index, const char *id) {
        return table_delete(st, index, T_ROLE, id);
}

static int token_put(struct state_store *st, uint64_t index, struct acl_token *t, int64_t create_time, bool bootstrap) {
        struct tok_rec *rec = calloc(1, sizeof(*rec));
        if (!rec) {
                acl_token_free(t);
                return -ENOMEM;
        }
        rec->refcount = 1;
        rec->t.token = t;
        rec->t.create_time = create_time;
        rec->t.create_index = rec->t.modify_index = index;
        if (bootstrap && state_acl_bootstrap_index(st)) {
                tok_unref(rec);
                return -EEXIST;
        }
        struct acl_tables *a;
        int r = tables_mut(st, &a);
        if (r < 0) {
                tok_unref(rec);
                return r;
        }
        bool found;
        size_t i = tok_find(a, t->accessor_id, &found);
        if (found) {
                rec->t.create_index = a->toks[i]->t.create_index;
                rec->t.create_time = a->toks[i]->t.create_time;
        }
        if (table_put(a, T_TOK, i, found, rec, STATE_ACL_MAX_TOKENS) < 0) {
                tok_unref(rec);
                return -ENOSPC;
        }
        if (bootstrap)
                a->bootstrap_index = index;
        touch(st, a, index);
        return 0;
}

int state_acl_token_upsert(struct state_store *st, uint64_t index, struct acl_token *t, int64_t create_time) {
        return token_put(st, index, t, create_time, false);
}

int state_acl_bootstrap(struct state_store *st, uint64_t index, struct acl_token *t, int64_t create_time) {
        if (t && t->type != ACL_TOKEN_MANAGEMENT) {
                acl_token_free(t);
                return -EINVAL;
        }
        return token_put(st, index, t, create_time, true);
}

int state_acl_token_delete(struct state_store *st, uint64_t index, const char *accessor_id) {
        return table_delete(st, index, T_TOK, accessor_id);
}

/* ---- JSON ---- */

json_t *state_acl_token_json(const struct state_acl_token *t, bool with_hash) {
        json_t *pols = json_array();
        for (size_t i = 0; pols && i < t->token->n_policies; i++)
                json_array_append_new(pols, json_string(t->token->policies[i]));
        json_t *o =
            json_pack("{s:s, s:s, s:s, s:o, s:b, s:I, s:I, s:I}", "AccessorID", t->token->accessor_id, "Name",
                      t->token->name, "Type", t->token->type == ACL_TOKEN_MANAGEMENT ? "management" : "client",
                      "Policies", pols ? pols : json_array(), "Global", 0, "CreateTime", (json_int_t)t->create_time,
                      "CreateIndex", (json_int_t)t->create_index, "ModifyIndex", (json_int_t)t->modify_index);
        json_t *roles = json_array();
        for (size_t i = 0; roles && i < t->token->n_roles; i++)
                json_array_append_new(
                    roles, json_pack("{s:s, s:s}", "ID", t->token->roles[i].id, "Name", t->token->roles[i].name));
        if (o && roles)
                json_object_set_new(o, "Roles", roles);
        else
                json_decref(roles);
        if (o && t->token->expiration_time)
                json_object_set_new(o, "ExpirationTime", json_integer((json_int_t)t->token->expiration_time));
        if (o && with_hash)
                json_object_set_new(o, "SecretHash", json_string(t->token->secret_hash));
        return o;
}

json_t *state_acl_policy_json(const struct state_acl_policy *p, bool with_rules) {
        json_t *o = json_pack("{s:s, s:s, s:I, s:I}", "Name", p->name, "Description", p->description, "CreateIndex",
                              (json_int_t)p->create_index, "ModifyIndex", (json_int_t)p->modify_index);
        if (o && with_rules)
                json_object_set_new(o, "Rules", json_string(p->rules));
        return o;
}

json_t *state_acl_role_json(const struct state_acl_role *r) {
        json_t *pols = json_array();
        for (size_t i = 0; pols && i < r->n_policies; i++)
                json_array_append_new(pols, json_pack("{s:s}", "Name", r->policies[i]));
        return json_pack("{s:s, s:s, s:s, s:o, s:I, s:I}", "ID", r->id, "Name", r->name, "Description", r->description,
                         "Policies", pols ? pols : json_array(), "CreateIndex", (json_int_t)r->create_index,
                         "ModifyIndex", (json_int_t)r->modify_index);
}

int state_acl_token_from_json(const json_t *j, struct acl_token **ret, int64_t *ret_create_time, struct error *err) {
        if (!json_is_object(j))
                return errorf(err, -EINVAL, "ACL token: expected an object");
        const char *acc = jx_str(j, "AccessorID", ""), *hash = jx_str(j, "SecretHash", ""),
                   *name = jx_str(j, "Name", "");
        const char *type = jx_str(j, "Type", "client");
        if (strlen(acc) != 36)
                return errorf(err, -EINVAL, "ACL token: AccessorID must be a UUID");
        if (!secret_is_hex64(hash))
                return errorf(err, -EINVAL, "ACL token %s: SecretHash must be 64 hex digits", acc);
        if (strlen(name) >= ACL_TOKEN_NAME_MAX)
                return errorf(err, -EINVAL, "ACL token %s: Name longer than %d bytes", acc, ACL_TOKEN_NAME_MAX - 1);
        bool mgmt = strcmp(type, "management") == 0;
        if (!mgmt && strcmp(type, "client") != 0)
                return errorf(err, -EINVAL, "ACL token %s: Type must be client or management", acc);
        json_t *pols = json_object_get(j, "Policies"), *roles = json_object_get(j, "Roles");
        size_t n = json_array_size(pols), nr = json_array_size(roles);
        if (n > ACL_MAX_POLICIES || nr > ACL_MAX_ROLES || (mgmt && (n || nr)) || (!mgmt && n + nr == 0))
                return errorf(err, -EINVAL,
                              "ACL token %s: a client token needs 1 to %d policies or 1 to %d roles, a management "
                              "token none",
                              acc, ACL_MAX_POLICIES, ACL_MAX_ROLES);
        _cleanup_(acl_token_freep) struct acl_token *t = calloc(1, sizeof(*t));
        if (!t || (n && !(t->policies = calloc(n, sizeof(*t->policies)))))
                return errorf(err, -ENOMEM, "out of memory");
        for (size_t i = 0; i < n; i++) {
                const char *p = json_string_value(json_array_get(pols, i));
                if (!state_acl_policy_name_valid(p))
                        return errorf(err, -EINVAL, "ACL token %s: invalid policy name in Policies[%zu]", acc, i);
                if (!(t->policies[i] = strdup(p)))
                        return errorf(err, -ENOMEM, "out of memory");
                t->n_policies++;
        }
        t->type = mgmt ? ACL_TOKEN_MANAGEMENT : ACL_TOKEN_CLIENT;
        for (size_t i = 0; i < nr; i++) {
                json_t *rl = json_array_get(roles, i);
                int r = acl_token_add_role(t, jx_str(rl, "ID", ""), jx_str(rl, "Name", ""), err);
                if (r < 0) {
                        error_prefix(err, "ACL token %s: Roles[%zu]", acc, i);
                        return r;
                }
        }
        json_t *exp = json_object_get(j, "ExpirationTime");
        if (exp && (!json_is_integer(exp) || json_integer_value(exp) < 0))
                return errorf(err, -EINVAL, "ACL token %s: ExpirationTime must be unix nanoseconds", acc);
        t->expiration_time = exp ? (int64_t)json_integer_value(exp) : 0;
        memcpy(t->accessor_id, acc, 37);
        memcpy(t->secret_hash, hash, SECRET_HASH_HEX);
        strcpy(t->name, name);
        *ret_create_time = jx_int(j, "CreateTime", 0);
        *ret = TAKE_PTR(t);
        return 0;
}

size_t state_acl_tokens_expired(const struct state_store *st, int64_t now, char (*ret)[37], size_t max) {
        const struct acl_tables *a = tables(st);
        size_t n = 0;
        for (size_t i = 0; a && i < a->n_toks && n < max; i++) {
                const struct acl_token *t = a->toks[i]->t.token;
                if (acl_token_expired(t, now))
                        memcpy(ret[n++], t->accessor_id, 37);
        }
        return n;
}

int state_acl_save(const struct state_store *st, json_t *out) {
        const struct acl_tables *a = tables(st);
        json_t *pols = json_array(), *toks = json_array(), *roles = json_array();
        if (!pols || !toks || !roles) {
                json_decref(pols);
                json_decref(toks);
                json_decref(roles);
                return -ENOMEM;
        }
        int r = 0;
        for (size_t i = 0; a && i < a->n_pols && r == 0; i++)
                r = json_array_append_new(pols, state_acl_policy_json(&a->pols[i]->p, true)) < 0 ? -ENOMEM : 0;
        for (size_t i = 0; a && i < a->n_toks && r == 0; i++)
                r = json_array_append_new(toks, state_acl_token_json(&a->toks[i]->t, true)) < 0 ? -ENOMEM : 0;
        for (size_t i = 0; a && i < a->n_roles && r == 0; i++)
                r = json_array_append_new(roles, state_acl_role_json(&a->roles[i]->r)) < 0 ? -ENOMEM : 0;
        json_object_set_new(out, "ACLPolicies", pols);
        json_object_set_new(out, "ACLRoles", roles);
        json_object_set_new(out, "ACLTokens", toks);
        json_object_set_new(out, "ACLBootstrapIndex", json_integer((json_int_t)(a ? a->bootstrap_index : 0)));
        json_object_set_new(out, "ACLIndex", json_integer((json_int_t)(a ? a->index : 0)));
        if (a && a->server_secret[0])
                json_object_set_new(out, STATE_ACL_SERVER_SECRET_KEY, json_string(a->server_secret));
        return r;
}

int state_acl_restore(const json_t *snap, struct state_store *st, struct error *err) {
        size_t i;
        json_t *v;
        json_array_foreach(json_object_get(snap, "ACLPolicies"), i, v) {
                uint64_t ci = (uint64_t)jx_int(v, "CreateIndex", 0), mi = (uint64_t)jx_int(v, "ModifyIndex", 0);
                int r = state_acl_policy_upsert(st, mi, jx_str(v, "Name", ""), jx_str(v, "Description", ""),
                                                json_string_value(json_object_get(v, "Rules")), err);
                if (r < 0) {
                        error_prefix(err, "state snapshot: ACLPolicies[%zu]", i);
                        return r;
                }
                struct acl_tables *a = *state_raw_acl(st);
                bool found;
                a->pols[pol_find(a, jx_str(v, "Name", ""), &found)]->p.create_index = ci;
        }
        json_array_foreach(json_object_get(snap, "ACLRoles"), i, v) {
                int r = state_acl_role_upsert(st, (uint64_t)jx_int(v, "ModifyIndex", 0), v, err);
                if (r < 0) {
                        error_prefix(err, "state snapshot: ACLRoles[%zu]", i);
                        return r;
                }
                struct acl_tables *a = *state_raw_acl(st);
                bool found;
                a->roles[role_find(a, jx_str(v, "ID", ""), &found)]->r.create_index =
                    (uint64_t)jx_int(v, "CreateIndex", 0);
        }
        json_array_foreach(json_object_get(snap, "ACLTokens"), i, v) {
                struct acl_token *t = NULL;
                int64_t ct = 0;
                int r = state_acl_token_from_json(v, &t, &ct, err);
                if (r < 0) {
                        error_prefix(err, "state snapshot: ACLTokens[%zu]", i);
                        return r;
                }
                char acc[37];
                memcpy(acc, t->accessor_id, sizeof(acc));
                if ((r = state_acl_token_upsert(st, (uint64_t)jx_int(v, "ModifyIndex", 0), t, ct)) < 0)
                        return errorf(err, r, "state snapshot: ACLTokens[%zu]: %s", i, strerror(-r));
                struct acl_tables *a = *state_raw_acl(st);
                bool found;
                a->toks[tok_find(a, acc, &found)]->t.create_index = (uint64_t)jx_int(v, "CreateIndex", 0);
        }
        struct acl_tables *a = *state_raw_acl(st);
        if (a) {
                a->bootstrap_index = (uint64_t)jx_int(snap, "ACLBootstrapIndex", 0);
                a->index = (uint64_t)jx_int(snap, "ACLIndex", 0);
        } else if (jx_int(snap, "ACLBootstrapIndex", 0) > 0) {
                /* bootstrapped, and every token deleted since */
                struct acl_tables *m;
                int r = tables_mut(st, &m);
                if (r < 0)
                        return errorf(err, r, "state snapshot: out of memory");
                m->bootstrap_index = (uint64_t)jx_int(snap, "ACLBootstrapIndex", 0);
                m->index = (uint64_t)jx_int(snap, "ACLIndex", 0);
        }
        const json_t *secret = json_object_get(snap, STATE_ACL_SERVER_SECRET_KEY);
        if (secret) {
                if (!secret_is_hex64(json_string_value(secret)))
                        return errorf(err, -EINVAL, "state snapshot: %s: expected 64 lower-case hex digits",
                                      STATE_ACL_SERVER_SECRET_KEY);
                struct acl_tables *m;
                int r = tables_mut(st, &m);
                if (r < 0)
                        return errorf(err, r, "state snapshot: out of memory");
                memcpy(m->server_secret, json_string_value(secret), SECRET_HASH_HEX);
        }
        return 0;
}
