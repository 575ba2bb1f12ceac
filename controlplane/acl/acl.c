/* acl.c - Nomad's ACL policies, their merge and capability checks. */
#include "controlplane/acl/acl.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/hcl.h"
#include "common/ids.h"
#include "common/macros.h"

/* Levels of the node, agent, operator and quota rules, ordered so that merging is max(). */
enum level { LV_NONE, LV_READ, LV_WRITE, LV_DENY };

struct ns_rule {
        char name[ACL_NAMESPACE_MAX + 1];
        bool glob;
        uint32_t caps; /* 1 << enum acl_cap; with DENY set, nothing else is */
};

struct acl_policy {
        struct ns_rule *ns;
        size_t n_ns;
        enum level node, agent, operator, quota;
};

struct acl {
        bool management;
        struct ns_rule *exact; /* sorted by name, one per name */
        size_t n_exact;
        struct ns_rule *globs; /* sorted by name, one per glob */
        size_t n_globs;
        enum level node, agent, operator, quota;
};

#define BIT(c) (UINT32_C(1) << (c))

static const char *const cap_names[ACL_CAP_COUNT] = {
    [ACL_CAP_DENY] = "deny",
    [ACL_CAP_LIST_JOBS] = "list-jobs",
    [ACL_CAP_PARSE_JOB] = "parse-job",
    [ACL_CAP_READ_JOB] = "read-job",
    [ACL_CAP_SUBMIT_JOB] = "submit-job",
    [ACL_CAP_DISPATCH_JOB] = "dispatch-job",
    [ACL_CAP_READ_LOGS] = "read-logs",
    [ACL_CAP_READ_FS] = "read-fs",
    [ACL_CAP_ALLOC_EXEC] = "alloc-exec",
    [ACL_CAP_ALLOC_NODE_EXEC] = "alloc-node-exec",
    [ACL_CAP_ALLOC_LIFECYCLE] = "alloc-lifecycle",
    [ACL_CAP_CSI_REGISTER_PLUGIN] = "csi-register-plugin",
    [ACL_CAP_CSI_WRITE_VOLUME] = "csi-write-volume",
    [ACL_CAP_CSI_READ_VOLUME] = "csi-read-volume",
    [ACL_CAP_CSI_LIST_VOLUME] = "csi-list-volume",
    [ACL_CAP_CSI_MOUNT_VOLUME] = "csi-mount-volume",
    [ACL_CAP_LIST_SCALING_POLICIES] = "list-scaling-policies",
    [ACL_CAP_READ_SCALING_POLICY] = "read-scaling-policy",
    [ACL_CAP_READ_JOB_SCALING] = "read-job-scaling",
    [ACL_CAP_SCALE_JOB] = "scale-job",
    [ACL_CAP_SUBMIT_RECOMMENDATION] = "submit-recommendation",
    [ACL_CAP_SENTINEL_OVERRIDE] = "sentinel-override",
};

int acl_cap_from_name(const char *name) {
        for (int i = 0; i < ACL_CAP_COUNT; i++)
                if (strcmp(cap_names[i], name) == 0)
                        return i;
        return -1;
}

const char *acl_cap_name(enum acl_cap cap) {
        return (unsigned)cap < ACL_CAP_COUNT ? cap_names[cap] : "?";
}

/* Nomad's expandNamespacePolicy. */
#define CAPS_READ                                                                                                      \
        (BIT(ACL_CAP_LIST_JOBS) | BIT(ACL_CAP_PARSE_JOB) | BIT(ACL_CAP_READ_JOB) | BIT(ACL_CAP_CSI_LIST_VOLUME) |      \
         BIT(ACL_CAP_CSI_READ_VOLUME) | BIT(ACL_CAP_READ_JOB_SCALING) | BIT(ACL_CAP_LIST_SCALING_POLICIES) |           \
         BIT(ACL_CAP_READ_SCALING_POLICY))
#define CAPS_WRITE                                                                                                     \
        (CAPS_READ | BIT(ACL_CAP_SCALE_JOB) | BIT(ACL_CAP_SUBMIT_JOB) | BIT(ACL_CAP_DISPATCH_JOB) |                    \
         BIT(ACL_CAP_READ_LOGS) | BIT(ACL_CAP_READ_FS) | BIT(ACL_CAP_ALLOC_EXEC) | BIT(ACL_CAP_ALLOC_LIFECYCLE) |      \
         BIT(ACL_CAP_CSI_MOUNT_VOLUME) | BIT(ACL_CAP_CSI_WRITE_VOLUME) | BIT(ACL_CAP_SUBMIT_RECOMMENDATION))
#define CAPS_SCALE                                                                                                     \
        (BIT(ACL_CAP_LIST_SCALING_POLICIES) | BIT(ACL_CAP_READ_SCALING_POLICY) | BIT(ACL_CAP_READ_JOB_SCALING) |       \
         BIT(ACL_CAP_SCALE_JOB))

static uint32_t caps_merge(uint32_t a, uint32_t b) {
        uint32_t m = a | b;
        return (m & BIT(ACL_CAP_DENY)) ? BIT(ACL_CAP_DENY) : m;
}

/* ---- parsing ------------------------------------------------------------------------ */

struct acl_policy *acl_policy_free(struct acl_policy *p) {
        if (p) {
                free(p->ns);
                free(p);
        }
        return NULL;
}

void acl_policy_freep(struct acl_policy **p) {
        acl_policy_free(*p);
}

static bool valid_namespace(const char *s) {
        size_t n = strlen(s);
        if (n == 0 || n > ACL_NAMESPACE_MAX)
                return false;
        for (const char *p = s; *p; p++)
                if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '-' ||
                      *p == '*'))
                        return false;
        return true;
}

/* A literal string attribute value, or an error naming where. */
static int literal(const char *pname, const struct hcl_item *it, const char **ret, struct error *err) {
        const struct hcl_value *v = it->value;
        if (!v || v->kind != HCL_STRING || v->tmpl)
                return errorf(err, -EINVAL, "policy \"%s\": line %d: %s must be a literal string", pname, it->line,
                              it->name);
        *ret = v->str;
        return 0;
}

static int parse_level(const char *pname, const struct hcl_item *blk, enum level *ret, struct error *err) {
        const char *policy = NULL;
        for (size_t i = 0; i < blk->body->n; i++) {
                const struct hcl_item *it = &blk->body->items[i];
                if (it->is_block || strcmp(it->name, "policy") != 0)
                        return errorf(err, -EINVAL, "policy \"%s\": line %d: %s: unexpected %s \"%s\" (only policy)",
                                      pname, it->line, blk->name, it->is_block ? "block" : "attribute", it->name);
                int r = literal(pname, it, &policy, err);
                if (r < 0)
                        return r;
        }
        enum level lv;
        if (!policy)
                return errorf(err, -EINVAL, "policy \"%s\": line %d: %s: missing policy (deny, read or write)", pname,
                              blk->line, blk->name);
        if (strcmp(policy, "deny") == 0)
                lv = LV_DENY;
        else if (strcmp(policy, "read") == 0)
                lv = LV_READ;
        else if (strcmp(policy, "write") == 0)
                lv = LV_WRITE;
        else
                return errorf(err, -EINVAL, "policy \"%s\": line %d: invalid %s policy \"%s\" (deny, read or write)",
                              pname, blk->line, blk->name, policy);
        *ret = lv;
        return 0;
}

/* node { policy = "..." } and its kind, merged into *lv (the highest wins). */
static int merge_level(const char *pname, const struct hcl_item *blk, enum level *lv, struct error *err) {
        enum level got = LV_NONE;
        int r = parse_level(pname, blk, &got, err);
        if (r == 0 && got > *lv)
                *lv = got;
        return r;
}

/* namespace "name" { policy = "..."  capabilities = [...]  variables { ... } } */
static int parse_namespace(const char *pname, const struct hcl_item *blk, struct ns_rule *ret, struct error *err) {
        if (blk->n_labels != 1)
                return errorf(err, -EINVAL, "policy \"%s\": line %d: namespace needs one label, its name", pname,
                              blk->line);
        if (!valid_namespace(blk->labels[0]))
                return errorf(err, -EINVAL,
                              "policy \"%s\": line %d: invalid namespace name \"%.*s\" (1 to %d of a-z A-Z 0-9 - *)",
                              pname, blk->line, 140, blk->labels[0], ACL_NAMESPACE_MAX);
        memset(ret, 0, sizeof(*ret));
        snprintf(ret->name, sizeof(ret->name), "%s", blk->labels[0]);
        ret->glob = strchr(ret->name, '*') != NULL;
        for (size_t i = 0; i < blk->body->n; i++) {
                const struct hcl_item *it = &blk->body->items[i];
                int r = 0;
                if (it->is_block && strcmp(it->name, "variables") == 0)
                        continue; /* Nomad Variables: drover has none to grant */
                if (it->is_block) {
                        r = errorf(err, -EINVAL, "policy \"%s\": line %d: namespace \"%s\": unexpected block \"%s\"",
                                   pname, it->line, ret->name, it->name);
                } else if (strcmp(it->name, "policy") == 0) {
                        const char *p = NULL;
                        r = literal(pname, it, &p, err);
                        if (r == 0 && strcmp(p, "deny") == 0)
                                ret->caps = caps_merge(ret->caps, BIT(ACL_CAP_DENY));
                        else if (r == 0 && strcmp(p, "read") == 0)
                                ret->caps = caps_merge(ret->caps, CAPS_READ);
                        else if (r == 0 && strcmp(p, "write") == 0)
                                ret->caps = caps_merge(ret->caps, CAPS_WRITE);
                        else if (r == 0 && strcmp(p, "scale") == 0)
                                ret->caps = caps_merge(ret->caps, CAPS_SCALE);
                        else if (r == 0)
                                r = errorf(err, -EINVAL,
                                           "policy \"%s\": line %d: invalid namespace policy \"%s\" (deny, read, "
                                           "write or scale)",
                                           pname, it->line, p);
                } else if (strcmp(it->name, "capabilities") == 0) {
                        const struct hcl_value *v = it->value;
                        if (!v || v->kind != HCL_LIST)
                                return errorf(err, -EINVAL, "policy \"%s\": line %d: capabilities must be a list",
                                              pname, it->line);
                        if (v->n > ACL_MAX_CAPABILITIES)
                                return errorf(err, -E2BIG, "policy \"%s\": line %d: more than %d capabilities", pname,
                                              it->line, ACL_MAX_CAPABILITIES);
                        for (size_t k = 0; k < v->n && r == 0; k++) {
                                const struct hcl_value *c = v->items[k];
                                int cap = c->kind == HCL_STRING && !c->tmpl ? acl_cap_from_name(c->str) : -1;
                                if (cap < 0)
                                        r = errorf(err, -EINVAL,
                                                   "policy \"%s\": line %d: invalid namespace capability \"%.*s\"",
                                                   pname, c->line, 64,
                                                   c->kind == HCL_STRING ? c->str : "(not a string)");
                                else
                                        ret->caps = caps_merge(ret->caps, BIT(cap));
                        }
                } else {
                        r = errorf(err, -EINVAL,
                                   "policy \"%s\": line %d: namespace \"%s\": unexpected attribute \"%s\" (policy, "
                                   "capabilities)",
                                   pname, it->line, ret->name, it->name);
                }
                if (r < 0)
                        return r;
        }
        return 0;
}

static int parse_items(const char *pname, const struct hcl_body *body, struct acl_policy *p, struct error *err) {
        if (body->n == 0)
                return errorf(err, -EINVAL, "policy \"%s\": empty policy (no rules)", pname);
        size_t n_ns = 0;
        for (size_t i = 0; i < body->n; i++)
                if (body->items[i].is_block && strcmp(body->items[i].name, "namespace") == 0)
                        n_ns++;
        if (n_ns > ACL_MAX_NAMESPACE_RULES)
                return errorf(err, -E2BIG, "policy \"%s\": %zu namespace rules, at most %d", pname, n_ns,
                              ACL_MAX_NAMESPACE_RULES);
        if (n_ns && !(p->ns = calloc(n_ns, sizeof(*p->ns))))
                return errorf(err, -ENOMEM, "out of memory");
        for (size_t i = 0; i < body->n; i++) {
                const struct hcl_item *it = &body->items[i];
                int r = 0;
                if (!it->is_block)
                        r = errorf(err, -EINVAL, "policy \"%s\": line %d: unexpected attribute \"%s\" at the top",
                                   pname, it->line, it->name);
                else if (strcmp(it->name, "namespace") == 0)
                        r = parse_namespace(pname, it, &p->ns[p->n_ns++], err);
                else if (it->n_labels == 0 && strcmp(it->name, "node") == 0)
                        r = merge_level(pname, it, &p->node, err);
                else if (it->n_labels == 0 && strcmp(it->name, "agent") == 0)
                        r = merge_level(pname, it, &p->agent, err);
                else if (it->n_labels == 0 && strcmp(it->name, "operator") == 0)
                        r = merge_level(pname, it, &p->operator, err);
                else if (it->n_labels == 0 && strcmp(it->name, "quota") == 0)
                        r = merge_level(pname, it, &p->quota, err);
                else if ((it->n_labels == 0 && strcmp(it->name, "plugin") == 0) ||
                         (it->n_labels == 1 &&
                          (strcmp(it->name, "node_pool") == 0 || strcmp(it->name, "host_volume") == 0)))
                        continue; /* resources drover does not have: accepted, grant nothing */
                else
                        r = errorf(err, -EINVAL,
                                   "policy \"%s\": line %d: unexpected block \"%s\" (namespace, node, agent, "
                                   "operator, quota)",
                                   pname, it->line, it->name);
                if (r < 0)
                        return r;
        }
        return 0;
}

int acl_policy_parse(const char *name, const char *src, size_t len, struct acl_policy **ret, struct error *err) {
        if (len > ACL_POLICY_MAX_BYTES)
                return errorf(err, -E2BIG, "policy \"%s\": %zu bytes, at most %d", name, len, ACL_POLICY_MAX_BYTES);
        _cleanup_(hcl_body_freep) struct hcl_body *body = NULL;
        int r = hcl_parse(src, len, name, &body, err);
        if (r < 0)
                return r;
        _cleanup_(acl_policy_freep) struct acl_policy *p = calloc(1, sizeof(*p));
        if (!p)
                return errorf(err, -ENOMEM, "out of memory");
        r = parse_items(name, body, p, err);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(p);
        return 0;
}

/* ---- the merged ACL ------------------------------------------------------------------ */

struct acl *acl_free(struct acl *a) {
        if (a) {
                free(a->exact);
                free(a->globs);
                free(a);
        }
        return NULL;
}

void acl_freep(struct acl **a) {
        acl_free(*a);
}

struct acl *acl_management(void) {
        struct acl *a = calloc(1, sizeof(*a));
        if (a)
                a->management = true;
        return a;
}

static int rule_cmp(const void *x, const void *y) {
        return strcmp(((const struct ns_rule *)x)->name, ((const struct ns_rule *)y)->name);
}

/* Sort and fold rules of the same name into one (caps_merge is commutative). */
static size_t fold(struct ns_rule *r, size_t n) {
        if (n == 0)
                return 0;
        qsort(r, n, sizeof(*r), rule_cmp);
        size_t out = 0;
        for (size_t i = 1; i < n; i++) {
                if (strcmp(r[i].name, r[out].name) == 0)
                        r[out].caps = caps_merge(r[out].caps, r[i].caps);
                else
                        r[++out] = r[i];
        }
        return out + 1;
}

int acl_create(const struct acl_policy *const *policies, size_t n, struct acl **ret, struct error *err) {
        if (n > ACL_MAX_MERGED)
                return errorf(err, -E2BIG, "%zu policies, at most %d per token", n, ACL_MAX_MERGED);
        _cleanup_(acl_freep) struct acl *a = calloc(1, sizeof(*a));
        if (!a)
                return errorf(err, -ENOMEM, "out of memory");
        size_t total = 0;
        for (size_t i = 0; i < n; i++)
                total += policies[i]->n_ns;
        if (total) {
                a->exact = calloc(total, sizeof(*a->exact));
                a->globs = calloc(total, sizeof(*a->globs));
                if (!a->exact || !a->globs)
                        return errorf(err, -ENOMEM, "out of memory");
        }
        for (size_t i = 0; i < n; i++) {
                const struct acl_policy *p = policies[i];
                for (size_t k = 0; k < p->n_ns; k++) {
                        if (p->ns[k].glob)
                                a->globs[a->n_globs++] = p->ns[k];
                        else
                                a->exact[a->n_exact++] = p->ns[k];
                }
#define MAXLV(f) a->f = p->f > a->f ? p->f : a->f
                MAXLV(node);
                MAXLV(agent);
                MAXLV(operator);
                MAXLV(quota);
#undef MAXLV
        }
        a->n_exact = fold(a->exact, a->n_exact);
        a->n_globs = fold(a->globs, a->n_globs);
        *ret = TAKE_PTR(a);
        return 0;
}

bool acl_is_management(const struct acl *a) {
        return a && a->management;
}

/* Glob with `*` only (go-glob): iterative, backtracking to the last star, O(len(p) * len(s)). */
static bool glob_match(const char *p, const char *s) {
        const char *star = NULL, *mark = NULL;
        while (*s) {
                if (*p == '*') {
                        star = p++;
                        mark = s;
                } else if (*p == *s) {
                        p++;
                        s++;
                } else if (star) {
                        p = star + 1;
                        s = ++mark;
                } else {
                        return false;
                }
        }
        while (*p == '*')
                p++;
        return *p == '\0';
}

/* The rule governing ns: its exact rule, else the most specific matching glob. */
static const struct ns_rule *rule_for(const struct acl *a, const char *ns) {
        if (!ns)
                return NULL;
        struct ns_rule key;
        if (strlen(ns) >= sizeof(key.name))
                return NULL; /* no rule can name it */
        snprintf(key.name, sizeof(key.name), "%s", ns);
        const struct ns_rule *r = a->n_exact ? bsearch(&key, a->exact, a->n_exact, sizeof(key), rule_cmp) : NULL;
        if (r)
                return r;
        const struct ns_rule *best = NULL;
        long best_diff = 0;
        long len = (long)strlen(ns);
        for (size_t i = 0; i < a->n_globs; i++) { /* sorted by name: the first of equal ones wins ties */
                const struct ns_rule *g = &a->globs[i];
                if (!glob_match(g->name, ns))
                        continue;
                long stars = 0;
                for (const char *p = g->name; *p; p++)
                        stars += *p == '*';
                long diff = len - (long)strlen(g->name) + stars;
                if (!best || diff < best_diff) {
                        best = g;
                        best_diff = diff;
                }
        }
        return best;
}

bool acl_allows(const struct acl *a, const char *ns, enum acl_cap cap) {
        if (!a || (unsigned)cap >= ACL_CAP_COUNT)
                return false;
        if (a->management)
                return true;
        const struct ns_rule *r = rule_for(a, ns);
        return r && (r->caps & BIT(cap)) != 0;
}

bool acl_allows_namespace(const struct acl *a, const char *ns) {
        if (!a)
                return false;
        if (a->management)
                return true;
        const struct ns_rule *r = rule_for(a, ns);
        return r && !(r->caps & BIT(ACL_CAP_DENY)) && r->caps != 0;
}

static bool level_allows(const struct acl *a, enum level lv, enum acl_access access) {
        if (!a)
                return false;
        if (a->management)
                return true;
        if (access == ACL_READ)
                return lv == LV_READ || lv == LV_WRITE;
        return lv == LV_WRITE;
}

bool acl_allows_node(const struct acl *a, enum acl_access access) {
        return level_allows(a, a ? a->node : LV_NONE, access);
}
bool acl_allows_agent(const struct acl *a, enum acl_access access) {
        return level_allows(a, a ? a->agent : LV_NONE, access);
}
bool acl_allows_operator(const struct acl *a, enum acl_access access) {
        return level_allows(a, a ? a->operator: LV_NONE, access);
}
bool acl_allows_quota(const struct acl *a, enum acl_access access) {
        return level_allows(a, a ? a->quota : LV_NONE, access);
}

/* ---- tokens ---------------------------------------------------------------------------- */

struct acl_token *acl_token_free(struct acl_token *t) {
        if (!t)
                return NULL;
        for (size_t i = 0; i < t->n_policies; i++)
                free(t->policies[i]);
        free(t->policies);
        free(t->roles);
        free(t);
        return NULL;
}

void acl_token_freep(struct acl_token **t) {
        acl_token_free(*t);
}

int acl_token_create(enum acl_token_type type, const char *name, const char *const *policies, size_t n,
                     struct acl_token **ret, char ret_secret[37], struct error *err) {
        if (type != ACL_TOKEN_CLIENT && type != ACL_TOKEN_MANAGEMENT)
                return errorf(err, -EINVAL, "token type must be client or management");
        if (name && strlen(name) >= ACL_TOKEN_NAME_MAX)
                return errorf(err, -EINVAL, "token name longer than %d bytes", ACL_TOKEN_NAME_MAX - 1);
        if (type == ACL_TOKEN_MANAGEMENT && n)
                return errorf(err, -EINVAL, "a management token cannot have policies");
        if (type == ACL_TOKEN_CLIENT && n > ACL_MAX_POLICIES)
                return errorf(err, -EINVAL, "a client token names at most %d policies (got %zu)", ACL_MAX_POLICIES, n);
        _cleanup_(acl_token_freep) struct acl_token *t = calloc(1, sizeof(*t));
        if (!t || (n && !(t->policies = calloc(n, sizeof(*t->policies)))))
                return errorf(err, -ENOMEM, "out of memory");
        for (size_t i = 0; i < n; i++) {
                if (!policies[i] || !*policies[i] || strlen(policies[i]) > ACL_NAMESPACE_MAX)
                        return errorf(err, -EINVAL, "policy name %zu: 1 to %d bytes", i, ACL_NAMESPACE_MAX);
                if (!(t->policies[i] = strdup(policies[i])))
                        return errorf(err, -ENOMEM, "out of memory");
                t->n_policies++;
        }
        t->type = type;
        snprintf(t->name, sizeof(t->name), "%s", name ? name : "");
        id_generate(t->accessor_id);
        char secret[ID_BUF];
        id_generate(secret);
        if (secret_hash(secret, t->secret_hash) < 0)
                return errorf(err, -EIO, "cannot hash the token secret (GnuTLS)");
        memcpy(ret_secret, secret, sizeof(secret));
        *ret = TAKE_PTR(t);
        return 0;
}

int acl_token_add_role(struct acl_token *t, const char *id, const char *name, struct error *err) {
        if (!t || t->type != ACL_TOKEN_CLIENT)
                return errorf(err, -EINVAL, "only a client token can have roles");
        if (!id || strlen(id) != 36)
                return errorf(err, -EINVAL, "role ID must be a UUID");
        if (name && strlen(name) > ACL_ROLE_NAME_MAX)
                return errorf(err, -EINVAL, "role name longer than %d bytes", ACL_ROLE_NAME_MAX);
        if (t->n_roles >= ACL_MAX_ROLES)
                return errorf(err, -E2BIG, "a token names at most %d roles", ACL_MAX_ROLES);
        struct acl_role_link *r = realloc(t->roles, (t->n_roles + 1) * sizeof(*r));
        if (!r)
                return errorf(err, -ENOMEM, "out of memory");
        t->roles = r;
        memcpy(r[t->n_roles].id, id, 37);
        snprintf(r[t->n_roles].name, sizeof(r[t->n_roles].name), "%s", name ? name : "");
        t->n_roles++;
        return 0;
}

bool acl_token_expired(const struct acl_token *t, int64_t now) {
        return t && t->expiration_time > 0 && now >= t->expiration_time;
}

bool acl_token_matches(const struct acl_token *t, const char *secret) {
        char h[SECRET_HASH_HEX];
        if (!t || !secret || secret_hash(secret, h) < 0)
                return false;
        return secret_equal(h, t->secret_hash);
}

/* Adds p to found unless it is there already (policies are few: O(n) each). */
static void add_once(const struct acl_policy **found, size_t *n, const struct acl_policy *p) {
        if (!p || *n >= ACL_MAX_MERGED)
                return;
        for (size_t i = 0; i < *n; i++)
                if (found[i] == p)
                        return;
        found[(*n)++] = p;
}

int acl_resolve(const struct acl_token *t, acl_policy_lookup_fn lookup, acl_role_policies_fn role_policies, void *data,
                struct acl **ret, struct error *err) {
        if (t && t->type == ACL_TOKEN_MANAGEMENT) {
                struct acl *a = acl_management();
                if (!a)
                        return errorf(err, -ENOMEM, "out of memory");
                *ret = a;
                return 0;
        }
        _cleanup_free_ const struct acl_policy **found = calloc(ACL_MAX_MERGED, sizeof(*found));
        if (!found)
                return errorf(err, -ENOMEM, "out of memory");
        size_t n = 0;
        if (!t) {
                add_once(found, &n, lookup(data, "anonymous"));
        } else {
                for (size_t i = 0; i < t->n_policies; i++)
                        add_once(found, &n, lookup(data, t->policies[i]));
                for (size_t i = 0; role_policies && i < t->n_roles && i < ACL_MAX_ROLES; i++) {
                        const char *names[ACL_MAX_POLICIES];
                        size_t k = role_policies(data, t->roles[i].id, names, ACL_MAX_POLICIES);
                        for (size_t j = 0; j < k && j < ACL_MAX_POLICIES; j++)
                                add_once(found, &n, lookup(data, names[j]));
                }
        }
        return acl_create(found, n, ret, err);
}
