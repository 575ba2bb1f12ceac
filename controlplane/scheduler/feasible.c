/* feasible.c - constraint operators, targets and the bin-pack score. See feasible.h. */
#include "controlplane/scheduler/feasible.h"

#include <ctype.h>
#include <errno.h>
#include <fnmatch.h>
#include <math.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/hashmap.h"

const char *sched_resolve_target(const struct node *n, const char *t, bool *ret_found) {
        *ret_found = false;
        if (!t)
                return NULL;
        if (strncmp(t, "${", 2) != 0) {
                *ret_found = true;
                return t;
        }
        size_t len = strlen(t);
        if (len < 3 || t[len - 1] != '}')
                return NULL;
        char key[256];
        if (len - 3 >= sizeof(key))
                return NULL;
        memcpy(key, t + 2, len - 3);
        key[len - 3] = '\0';
        const char *v = NULL;
        if (strcmp(key, "node.unique.id") == 0)
                v = n->id;
        else if (strcmp(key, "node.unique.name") == 0)
                v = n->name;
        else if (strcmp(key, "node.datacenter") == 0)
                v = n->datacenter;
        else if (strcmp(key, "node.region") == 0)
                v = n->region && *n->region ? n->region : "global";
        else if (strcmp(key, "node.class") == 0)
                v = n->node_class;
        else if (strcmp(key, "node.pool") == 0)
                v = n->node_pool ? n->node_pool : "default";
        else if (strncmp(key, "attr.", 5) == 0)
                v = strmap_get(&n->attributes, key + 5);
        else if (strncmp(key, "meta.", 5) == 0)
                v = strmap_get(&n->meta, key + 5);
        *ret_found = v != NULL;
        return v;
}

static bool parse_int(const char *s, long long *ret) {
        char *end;
        errno = 0;
        long long v = strtoll(s, &end, 10);
        if (end == s || *end || errno)
                return false;
        *ret = v;
        return true;
}

static bool parse_float(const char *s, double *ret) {
        char *end;
        errno = 0;
        double v = strtod(s, &end);
        if (end == s || *end || errno)
                return false;
        *ret = v;
        return true;
}

static bool check_order(const char *op, const char *l, const char *r) {
        int c;
        long long li, ri;
        double lf, rf;
        if (parse_int(l, &li) && parse_int(r, &ri))
                c = li < ri ? -1 : li > ri;
        else if (parse_float(l, &lf) && parse_float(r, &rf))
                c = lf < rf ? -1 : lf > rf;
        else
                c = strcmp(l, r);
        if (strcmp(op, "<") == 0)
                return c < 0;
        if (strcmp(op, "<=") == 0)
                return c <= 0;
        if (strcmp(op, ">") == 0)
                return c > 0;
        return c >= 0;
}

/* A parsed version: up to 8 dotted numeric segments (n of them given), the
 * pre-release after '-' (up to '+'; empty: none); "v" prefix and +build ignored. */
struct version {
        long seg[8];
        int n;
        char pre[64];
        bool junk; /* something else followed the version */
};

static void version_parse(const char *s, struct version *v) {
        memset(v, 0, sizeof(*v));
        while (isspace((unsigned char)*s))
                s++;
        if (*s == 'v' || *s == 'V')
                s++;
        while (v->n < 8 && isdigit((unsigned char)*s)) {
                v->seg[v->n++] = strtol(s, (char **)&s, 10);
                if (*s != '.')
                        break;
                s++;
        }
        if (*s == '-') {
                size_t k = 0;
                for (s++; *s && *s != '+' && !isspace((unsigned char)*s) && k + 1 < sizeof(v->pre); s++)
                        v->pre[k++] = *s;
                v->pre[k] = '\0';
        }
        if (*s == '+')
                while (*s && !isspace((unsigned char)*s))
                        s++;
        while (isspace((unsigned char)*s))
                s++;
        v->junk = *s != '\0';
}

/* Semantic Versioning 2.0 pre-release precedence: dot-separated identifiers, numeric
 * ones compared as numbers and lower than alphanumeric ones; a shorter list that is a
 * prefix is lower. No pre-release is higher than any. */
static int pre_cmp(const char *a, const char *b) {
        if (!*a || !*b)
                return !*a && !*b ? 0 : !*a ? 1 : -1;
        while (*a || *b) {
                if (!*a || !*b)
                        return !*a ? -1 : 1;
                size_t la = strcspn(a, "."), lb = strcspn(b, ".");
                bool na = la && strspn(a, "0123456789") >= la, nb = lb && strspn(b, "0123456789") >= lb;
                int c;
                if (na && nb) {
                        long x = strtol(a, NULL, 10), y = strtol(b, NULL, 10);
                        c = x < y ? -1 : x > y;
                } else if (na != nb) {
                        c = na ? -1 : 1;
                } else {
                        size_t l = la < lb ? la : lb;
                        c = strncmp(a, b, l);
                        if (!c)
                                c = la < lb ? -1 : la > lb;
                }
                if (c)
                        return c < 0 ? -1 : 1;
                a += la + (a[la] == '.');
                b += lb + (b[lb] == '.');
        }
        return 0;
}

static int version_cmp_parsed(const struct version *a, const struct version *b) {
        for (int i = 0; i < 8; i++)
                if (a->seg[i] != b->seg[i])
                        return a->seg[i] < b->seg[i] ? -1 : 1;
        return pre_cmp(a->pre, b->pre);
}

int sched_version_cmp(const char *a, const char *b) {
        struct version va, vb;
        version_parse(a, &va);
        version_parse(b, &vb);
        return version_cmp_parsed(&va, &vb);
}

/* semver: strict MAJOR.MINOR.PATCH[-pre][+build], nothing else. */
static bool strict_semver(const struct version *v) {
        return v->n == 3 && !v->junk;
}

static bool version_clause(const char *have, const char *clause, bool semver) {
        while (isspace((unsigned char)*clause))
                clause++;
        static const char *const ops[] = {">=", "<=", "!=", "~>", "=", ">", "<"};
        const char *op = "=";
        for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
                if (strncmp(clause, ops[i], strlen(ops[i])) == 0) {
                        op = ops[i];
                        clause += strlen(ops[i]);
                        break;
                }
        struct version want, hv;
        version_parse(clause, &want);
        version_parse(have, &hv);
        if (want.n == 0 || hv.n == 0 || want.junk || hv.junk)
                return false;
        if (semver && (!strict_semver(&want) || !strict_semver(&hv)))
                return false;
        int n = want.n;
        int c = version_cmp_parsed(&hv, &want);
        if (strcmp(op, "=") == 0)
                return c == 0;
        if (strcmp(op, "!=") == 0)
                return c != 0;
        if (strcmp(op, ">") == 0)
                return c > 0;
        if (strcmp(op, ">=") == 0)
                return c >= 0;
        if (strcmp(op, "<") == 0)
                return c < 0;
        if (strcmp(op, "<=") == 0)
                return c <= 0;
        /* ~> 1.2.3 means >= 1.2.3, < 1.3; ~> 1.2 means >= 1.2, < 2 */
        if (c < 0)
                return false;
        int keep = n > 1 ? n - 1 : 1;
        for (int i = 0; i < keep - 1; i++)
                if (hv.seg[i] != want.seg[i])
                        return false;
        return n == 1 ? hv.seg[0] == want.seg[0] : hv.seg[keep - 1] == want.seg[keep - 1];
}

static bool check_version(const char *have, const char *constraint, bool semver) {
        char *dup = strdup(constraint);
        if (!dup)
                return false;
        bool ok = true;
        char *save = NULL;
        for (char *tok = strtok_r(dup, ",", &save); tok && ok; tok = strtok_r(NULL, ",", &save))
                ok = version_clause(have, tok, semver);
        free(dup);
        return ok;
}

/* ---- compiled regexps, one per pattern per evaluation ------------------------------- */

struct sched_regexps {
        struct hashmap *by_pattern; /* pattern -> struct re_entry * */
        size_t compiled;
};

struct re_entry {
        bool ok; /* compiled; a pattern that does not compile matches nothing */
        regex_t re;
};

struct sched_regexps *sched_regexps_create(void) {
        struct sched_regexps *c = calloc(1, sizeof(*c));
        if (c && !(c->by_pattern = hashmap_create(HASHMAP_OWN_KEYS))) {
                free(c);
                return NULL;
        }
        return c;
}

struct sched_regexps *sched_regexps_destroy(struct sched_regexps *c) {
        if (!c)
                return NULL;
        size_t it = 0;
        void *v;
        while (hashmap_next(c->by_pattern, &it, NULL, &v)) {
                struct re_entry *e = v;
                if (e->ok)
                        regfree(&e->re);
                free(e);
        }
        hashmap_destroy(c->by_pattern);
        free(c);
        return NULL;
}

size_t sched_regexps_compiled(const struct sched_regexps *c) {
        return c ? c->compiled : 0;
}

static bool check_regexp(const char *l, const char *pattern, struct sched_regexps *cache) {
        struct re_entry *e = cache ? hashmap_get(cache->by_pattern, pattern) : NULL;
        if (e)
                return e->ok && regexec(&e->re, l, 0, NULL, 0) == 0;
        struct re_entry local;
        e = cache ? malloc(sizeof(*e)) : &local;
        if (!e)
                return false;
        e->ok = regcomp(&e->re, pattern, REG_EXTENDED | REG_NOSUB) == 0;
        bool match = e->ok && regexec(&e->re, l, 0, NULL, 0) == 0;
        if (cache) {
                cache->compiled++;
                if (hashmap_put(cache->by_pattern, pattern, e, NULL) < 0) {
                        if (e->ok)
                                regfree(&e->re);
                        free(e);
                }
        } else if (e->ok) {
                regfree(&e->re);
        }
        return match;
}

/* Walk a comma-separated list: the next entry, trimmed of spaces, in *item and
 * *len; false at the end. *p advances. */
static bool next_item(const char **p, const char **item, size_t *len) {
        if (!*p || !**p)
                return false;
        const char *e = strchr(*p, ',');
        const char *s = *p;
        size_t n = e ? (size_t)(e - s) : strlen(s);
        *p = e ? e + 1 : NULL;
        while (n && isspace((unsigned char)*s))
                s++, n--;
        while (n && isspace((unsigned char)s[n - 1]))
                n--;
        *item = s;
        *len = n;
        return true;
}

/* Is the item among the entries of set? */
static bool set_has(const char *set, const char *item, size_t ilen) {
        const char *s;
        size_t len;
        for (const char *p = set; next_item(&p, &s, &len);)
                if (len == ilen && strncmp(s, item, len) == 0)
                        return true;
        return false;
}

/* set_contains_all (any: set_contains_any): the entries of r against those of l. */
static bool check_set(const char *l, const char *r, bool any) {
        const char *s;
        size_t len;
        for (const char *p = r; next_item(&p, &s, &len);) {
                bool has = set_has(l, s, len);
                if (any && has)
                        return true;
                if (!any && !has)
                        return false;
        }
        return !any;
}

static bool streq(const char *a, const char *b) {
        return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

bool sched_check_operand(const char *op, const char *l, bool lf, const char *r, bool rf) {
        return sched_check_operand_re(op, l, lf, r, rf, NULL);
}

bool sched_check_operand_re(const char *op, const char *l, bool lf, const char *r, bool rf,
                            struct sched_regexps *cache) {
        if (!op || !*op)
                op = "=";
        if (strcmp(op, "distinct_hosts") == 0 || strcmp(op, "distinct_property") == 0)
                return true;
        if (strcmp(op, "=") == 0 || strcmp(op, "==") == 0 || strcmp(op, "is") == 0)
                return lf && rf && streq(l, r);
        if (strcmp(op, "!=") == 0 || strcmp(op, "not") == 0)
                return !streq(lf ? l : NULL, rf ? r : NULL);
        if (strcmp(op, "<") == 0 || strcmp(op, "<=") == 0 || strcmp(op, ">") == 0 || strcmp(op, ">=") == 0)
                return lf && rf && check_order(op, l, r);
        if (strcmp(op, "is_set") == 0)
                return lf;
        if (strcmp(op, "is_not_set") == 0)
                return !lf;
        if (strcmp(op, "version") == 0 || strcmp(op, "semver") == 0)
                return lf && rf && check_version(l, r, strcmp(op, "semver") == 0);
        if (strcmp(op, "regexp") == 0)
                return lf && rf && check_regexp(l, r, cache);
        if (strcmp(op, "set_contains") == 0 || strcmp(op, "set_contains_all") == 0)
                return lf && rf && check_set(l, r, false);
        if (strcmp(op, "set_contains_any") == 0)
                return lf && rf && check_set(l, r, true);
        return false;
}

bool sched_node_meets(const struct node *n, const struct constraint *c) {
        return sched_node_meets_re(n, c, NULL);
}

bool sched_node_meets_re(const struct node *n, const struct constraint *c, struct sched_regexps *cache) {
        bool lf, rf;
        const char *l = sched_resolve_target(n, c->ltarget, &lf);
        const char *r = sched_resolve_target(n, c->rtarget, &rf);
        return sched_check_operand_re(c->operand, l, lf, r, rf, cache);
}

static bool escapes(const char *t) {
        return t && (strstr(t, "${node.unique.") || strstr(t, "${attr.unique.") || strstr(t, "${meta.unique."));
}

bool sched_constraint_escapes(const struct constraint *c) {
        return escapes(c->ltarget) || escapes(c->rtarget);
}

void sched_constraint_string(const struct constraint *c, char *buf, size_t size) {
        snprintf(buf, size, "%s %s %s", c->ltarget ? c->ltarget : "", c->operand && *c->operand ? c->operand : "=",
                 c->rtarget ? c->rtarget : "");
}

bool sched_dc_match(const char *pattern, const char *dc) {
        return pattern && dc && fnmatch(pattern, dc, 0) == 0;
}

/* 10^(free share) of one dimension, memoised: Select scores the same few (used, avail)
 * pairs over and over (nodes of a few shapes, usage in steps of the asks; c1m: about
 * 2,000 exp calls per eval), and a hit returns the exp result stored for the same
 * inputs, so scores stay bit-identical. A direct-mapped table of POW_MEMO entries,
 * 12 KiB per thread: each scheduler worker has its own, no locking. */
#define POW_MEMO 512
static _Thread_local struct pow_memo {
        int64_t used, avail; /* avail 0: empty (never stored) */
        double v;
} pow_memo[POW_MEMO];

static double free_pow10(int64_t avail, int64_t used) {
        if (avail <= 0)
                return 1.0; /* a free share of 0 */
        uint64_t h = (uint64_t)used * 0x9E3779B97F4A7C15ull ^ (uint64_t)avail * 0xC2B2AE3D27D4EB4Full;
        struct pow_memo *e = &pow_memo[h >> 55]; /* the top 9 bits: POW_MEMO entries */
        if (e->avail != avail || e->used != used) {
                /* 10^x as e^(x ln 10): the same value to the last bits or so, at a third
                 * of pow's cost */
                double free_share = 1.0 - (double)used / (double)avail;
                *e = (struct pow_memo){used, avail, exp(free_share * M_LN10)};
        }
        return e->v;
}

double sched_binpack_score(int64_t avail_cpu, int64_t avail_mem, int64_t used_cpu, int64_t used_mem) {
        double total = free_pow10(avail_cpu, used_cpu) + free_pow10(avail_mem, used_mem);
        double score = 20.0 - total;
        if (score > 18.0)
                score = 18.0;
        else if (score < 0.0)
                score = 0.0;
        return score / 18.0;
}
