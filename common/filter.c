/* filter.c - compile and match Nomad's list filter expressions (filter.h). A
 * recursive-descent parser builds a small tree; depth and size are bounded
 * before anything recurses further. */
#include "common/filter.h"

#include <ctype.h>
#include <errno.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/limits.h"

enum node_kind { N_AND, N_OR, N_NOT, N_MATCH };
enum op {
        OP_EQ,
        OP_NE,
        OP_CONTAINS,
        OP_NOT_CONTAINS,
        OP_IN,
        OP_NOT_IN,
        OP_MATCHES,
        OP_NOT_MATCHES,
        OP_EMPTY,
        OP_NOT_EMPTY
};

struct fnode {
        enum node_kind kind;
        struct fnode *a, *b; /* N_AND/N_OR: both; N_NOT: a */
        /* N_MATCH */
        enum op op;
        char *sel[FILTER_MAX_SELECTOR_PARTS];
        int nsel;
        char *value;
        bool value_quoted; /* a string literal: never compared as a number or bool */
        regex_t re;
        bool has_re;
};

struct filter {
        struct fnode *root;
};

struct parser {
        const char *s, *p;
        int depth, terms;
        struct error *err;
        int r;
};

static void node_free(struct fnode *n) {
        if (!n)
                return;
        node_free(n->a);
        node_free(n->b);
        for (int i = 0; i < n->nsel; i++)
                free(n->sel[i]);
        free(n->value);
        if (n->has_re)
                regfree(&n->re);
        free(n);
}

struct filter *filter_free(struct filter *f) {
        if (f) {
                node_free(f->root);
                free(f);
        }
        return NULL;
}

static bool fail(struct parser *ps, const char *what) {
        if (ps->r == 0)
                ps->r = errorf(ps->err, -EINVAL, "filter: %s at column %d", what, (int)(ps->p - ps->s) + 1);
        return false;
}

static void skip_ws(struct parser *ps) {
        while (*ps->p && isspace((unsigned char)*ps->p))
                ps->p++;
}

static bool is_word_char(char c) {
        return isalnum((unsigned char)c) || c == '_' || c == '-' || c == '/' || c == ':';
}

/* The keyword kw, as a whole word, at the cursor: consumed. */
static bool keyword(struct parser *ps, const char *kw) {
        skip_ws(ps);
        size_t n = strlen(kw);
        if (strncmp(ps->p, kw, n) != 0 || is_word_char(ps->p[n]) || ps->p[n] == '.')
                return false;
        ps->p += n;
        return true;
}

static bool punct(struct parser *ps, const char *t) {
        skip_ws(ps);
        size_t n = strlen(t);
        if (strncmp(ps->p, t, n) != 0)
                return false;
        ps->p += n;
        return true;
}

/* A "quoted" (with \" and \\ escapes) or `raw` string; NULL after an error. */
static char *quoted(struct parser *ps) {
        char q = *ps->p;
        const char *start = ++ps->p;
        char *out = malloc(strlen(start) + 1), *o = out;
        if (!out) {
                ps->r = -ENOMEM;
                return NULL;
        }
        while (*ps->p && *ps->p != q) {
                if (q == '"' && *ps->p == '\\' && ps->p[1])
                        ps->p++;
                *o++ = *ps->p++;
        }
        if (*ps->p != q) {
                ps->p = start - 1;
                free(out);
                fail(ps, "unterminated string");
                return NULL;
        }
        ps->p++;
        *o = '\0';
        return out;
}

static char *word(struct parser *ps) {
        const char *start = ps->p;
        while (is_word_char(*ps->p) || *ps->p == '.')
                ps->p++;
        if (ps->p == start) {
                fail(ps, "expected a value");
                return NULL;
        }
        char *w = strndup(start, (size_t)(ps->p - start));
        if (!w)
                ps->r = -ENOMEM;
        return w;
}

static char *value(struct parser *ps, bool *ret_quoted) {
        skip_ws(ps);
        *ret_quoted = *ps->p == '"' || *ps->p == '`';
        return *ret_quoted ? quoted(ps) : word(ps);
}

static bool selector(struct parser *ps, struct fnode *n) {
        skip_ws(ps);
        for (;;) {
                if (n->nsel == FILTER_MAX_SELECTOR_PARTS)
                        return fail(ps, "selector has too many parts");
                char *part = NULL;
                if (n->nsel > 0 && *ps->p == '[') {
                        ps->p++;
                        skip_ws(ps);
                        if (*ps->p != '"' && *ps->p != '`')
                                return fail(ps, "expected a quoted key in [ ]");
                        part = quoted(ps);
                        if (!part)
                                return false;
                        skip_ws(ps);
                        if (*ps->p != ']') {
                                free(part);
                                return fail(ps, "expected ]");
                        }
                        ps->p++;
                } else {
                        const char *start = ps->p;
                        while (isalnum((unsigned char)*ps->p) || *ps->p == '_' || *ps->p == '-')
                                ps->p++;
                        if (ps->p == start)
                                return fail(ps, "expected a selector");
                        part = strndup(start, (size_t)(ps->p - start));
                        if (!part) {
                                ps->r = -ENOMEM;
                                return false;
                        }
                }
                n->sel[n->nsel++] = part;
                if (*ps->p == '.')
                        ps->p++;
                else if (*ps->p != '[')
                        return true;
        }
}

static bool compile_regexp(struct parser *ps, struct fnode *n) {
        struct error e = {0};
        if (strlen(n->value) > LIMIT_REGEXP_LEN || limits_check_regexp(n->value, &e) < 0)
                return fail(ps, strlen(n->value) > LIMIT_REGEXP_LEN ? "regexp too long" : "regexp of unbounded cost");
        if (regcomp(&n->re, n->value, REG_EXTENDED | REG_NOSUB) != 0)
                return fail(ps, "invalid regexp");
        n->has_re = true;
        return true;
}

static struct fnode *parse_or(struct parser *ps);

static struct fnode *new_node(struct parser *ps, enum node_kind k) {
        struct fnode *n = calloc(1, sizeof(*n));
        if (!n)
                ps->r = -ENOMEM;
        else
                n->kind = k;
        return n;
}

static struct fnode *parse_match(struct parser *ps) {
        if (++ps->terms > FILTER_MAX_TERMS) {
                fail(ps, "too many terms");
                return NULL;
        }
        struct fnode *n = new_node(ps, N_MATCH);
        if (!n)
                return NULL;
        skip_ws(ps);
        if (*ps->p == '"' || *ps->p == '`' || isdigit((unsigned char)*ps->p) || *ps->p == '-') {
                /* value [not] in selector */
                if (!(n->value = value(ps, &n->value_quoted)))
                        goto err;
                if (keyword(ps, "in"))
                        n->op = OP_IN;
                else if (keyword(ps, "not") && keyword(ps, "in"))
                        n->op = OP_NOT_IN;
                else {
                        fail(ps, "expected in or not in");
                        goto err;
                }
                if (!selector(ps, n))
                        goto err;
                return n;
        }
        /* A bare word then "in": a value; else a selector. */
        const char *save = ps->p;
        while (is_word_char(*ps->p) || *ps->p == '.')
                ps->p++;
        const char *after = ps->p;
        ps->p = save;
        struct parser peek = *ps;
        peek.p = after;
        if (after > save && (keyword(&peek, "in") || (keyword(&peek, "not") && keyword(&peek, "in")))) {
                if (!(n->value = word(ps)))
                        goto err;
                n->op = keyword(ps, "in") ? OP_IN : (keyword(ps, "not"), keyword(ps, "in"), OP_NOT_IN);
                if (!selector(ps, n))
                        goto err;
                return n;
        }
        if (!selector(ps, n))
                goto err;
        if (punct(ps, "=="))
                n->op = OP_EQ;
        else if (punct(ps, "!="))
                n->op = OP_NE;
        else if (keyword(ps, "contains"))
                n->op = OP_CONTAINS;
        else if (keyword(ps, "matches"))
                n->op = OP_MATCHES;
        else if (keyword(ps, "is")) {
                n->op = keyword(ps, "not") ? OP_NOT_EMPTY : OP_EMPTY;
                if (!keyword(ps, "empty")) {
                        fail(ps, "expected empty");
                        goto err;
                }
                return n;
        } else if (keyword(ps, "not")) {
                if (keyword(ps, "contains"))
                        n->op = OP_NOT_CONTAINS;
                else if (keyword(ps, "matches"))
                        n->op = OP_NOT_MATCHES;
                else {
                        fail(ps, "expected contains or matches after not");
                        goto err;
                }
        } else {
                fail(ps, "expected an operator (==, !=, contains, matches, in, is empty)");
                goto err;
        }
        if (!(n->value = value(ps, &n->value_quoted)))
                goto err;
        if ((n->op == OP_MATCHES || n->op == OP_NOT_MATCHES) && !compile_regexp(ps, n))
                goto err;
        return n;
err:
        node_free(n);
        return NULL;
}

static struct fnode *parse_unary(struct parser *ps) {
        if (++ps->depth > FILTER_MAX_DEPTH) {
                fail(ps, "expression nested too deeply");
                return NULL;
        }
        struct fnode *n = NULL;
        skip_ws(ps);
        if (keyword(ps, "not")) {
                struct fnode *inner = parse_unary(ps);
                if (inner && !(n = new_node(ps, N_NOT)))
                        node_free(inner);
                else if (n)
                        n->a = inner;
        } else if (punct(ps, "(")) {
                n = parse_or(ps);
                if (n && !punct(ps, ")")) {
                        fail(ps, "expected )");
                        node_free(n);
                        n = NULL;
                }
        } else {
                n = parse_match(ps);
        }
        ps->depth--;
        return n;
}

static struct fnode *parse_binary(struct parser *ps, enum node_kind k) {
        struct fnode *left = k == N_OR ? parse_binary(ps, N_AND) : parse_unary(ps);
        while (left && keyword(ps, k == N_OR ? "or" : "and")) {
                struct fnode *right = k == N_OR ? parse_binary(ps, N_AND) : parse_unary(ps);
                struct fnode *n = right ? new_node(ps, k) : NULL;
                if (!n) {
                        node_free(left);
                        node_free(right);
                        return NULL;
                }
                n->a = left;
                n->b = right;
                left = n;
        }
        return left;
}

static struct fnode *parse_or(struct parser *ps) {
        return parse_binary(ps, N_OR);
}

int filter_compile(const char *expr, struct filter **ret, struct error *err) {
        if (!expr)
                return errorf(err, -EINVAL, "filter: missing");
        if (strlen(expr) > FILTER_MAX_LEN)
                return errorf(err, -EINVAL, "filter: longer than %d bytes", FILTER_MAX_LEN);
        struct parser ps = {.s = expr, .p = expr, .err = err};
        skip_ws(&ps);
        if (!*ps.p)
                return errorf(err, -EINVAL, "filter: empty expression");
        struct fnode *root = parse_or(&ps);
        skip_ws(&ps);
        if (root && *ps.p) {
                fail(&ps, "unexpected text");
                node_free(root);
                root = NULL;
        }
        if (!root)
                return ps.r ? ps.r : errorf(err, -EINVAL, "filter: invalid expression");
        struct filter *f = calloc(1, sizeof(*f));
        if (!f) {
                node_free(root);
                return -ENOMEM;
        }
        f->root = root;
        *ret = f;
        return 0;
}

/* ---- matching ----------------------------------------------------------------- */

static const json_t *resolve(const struct fnode *n, const json_t *obj) {
        const json_t *v = obj;
        for (int i = 0; i < n->nsel && v; i++)
                v = json_is_object(v) ? json_object_get(v, n->sel[i]) : NULL;
        return v;
}

/* value == JSON scalar v, compared as v's type. */
static bool scalar_equal(const struct fnode *n, const json_t *v) {
        switch (json_typeof(v)) {
        case JSON_STRING:
                return strcmp(json_string_value(v), n->value) == 0;
        case JSON_INTEGER:
        case JSON_REAL: {
                if (n->value_quoted)
                        return false;
                char *end;
                double d = strtod(n->value, &end);
                return end != n->value && !*end && d == json_number_value(v);
        }
        case JSON_TRUE:
                return !n->value_quoted && strcmp(n->value, "true") == 0;
        case JSON_FALSE:
                return !n->value_quoted && strcmp(n->value, "false") == 0;
        case JSON_NULL:
                return !n->value_quoted && strcmp(n->value, "null") == 0;
        default:
                return false;
        }
}

/* value in v: an element of a list, a key of an object, a substring of a string. */
static bool contains(const struct fnode *n, const json_t *v) {
        if (json_is_string(v))
                return strstr(json_string_value(v), n->value) != NULL;
        if (json_is_object(v))
                return json_object_get(v, n->value) != NULL;
        if (json_is_array(v)) {
                size_t i;
                json_t *e;
                json_array_foreach(v, i, e) if (scalar_equal(n, e)) return true;
        }
        return false;
}

static bool empty(const json_t *v) {
        return !v || json_is_null(v) || (json_is_string(v) && !*json_string_value(v)) ||
               (json_is_array(v) && json_array_size(v) == 0) || (json_is_object(v) && json_object_size(v) == 0);
}

static bool match_node(const struct fnode *n, const json_t *obj) {
        switch (n->kind) {
        case N_AND:
                return match_node(n->a, obj) && match_node(n->b, obj);
        case N_OR:
                return match_node(n->a, obj) || match_node(n->b, obj);
        case N_NOT:
                return !match_node(n->a, obj);
        case N_MATCH:
                break;
        }
        const json_t *v = resolve(n, obj);
        switch (n->op) {
        case OP_EMPTY:
                return empty(v);
        case OP_NOT_EMPTY:
                return !empty(v);
        case OP_EQ:
                return v && scalar_equal(n, v);
        case OP_NE:
                return !(v && scalar_equal(n, v));
        case OP_CONTAINS:
        case OP_IN:
                return v && contains(n, v);
        case OP_NOT_CONTAINS:
        case OP_NOT_IN:
                return !(v && contains(n, v));
        case OP_MATCHES:
                return json_is_string(v) && regexec(&n->re, json_string_value(v), 0, NULL, 0) == 0;
        case OP_NOT_MATCHES:
                return !(json_is_string(v) && regexec(&n->re, json_string_value(v), 0, NULL, 0) == 0);
        }
        return false;
}

bool filter_match(const struct filter *f, const json_t *obj) {
        return f && match_node(f->root, obj);
}
