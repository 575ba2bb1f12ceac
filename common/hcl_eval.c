/* hcl_eval.c - HCL2 expression, template and body evaluation (see hcl_eval.h). */
#include "common/hcl_eval.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/hcl.h"
#include "common/hcl_eval_int.h"
#include "common/hcl_expr.h"
#include "common/macros.h"

#define RT_KEY "\x01drover.runtime"
#define MAX_SCOPE 256
#define MAX_EVAL_DEPTH 200
#define MAX_VALUE_DEPTH 256

enum local_state { L_NEW, L_BUSY, L_DONE };

struct local {
        char *name;
        const struct hcl_value *expr;
        json_t *val;
        enum local_state state;
        int line, col;
};

struct frame {
        const char *name;
        json_t *val; /* borrowed */
};

struct hcl_eval {
        char *file;
        char *dir;
        const char *cur_file; /* file of the text being evaluated */
        json_t *vars;
        struct local *locals;
        size_t n_locals;
        struct frame scope[MAX_SCOPE];
        size_t n_scope;
        json_t *splat[HCL_EXPR_MAX_DEPTH + 1];
        size_t n_splat;
        struct error *err;
        size_t work, bytes;
        int depth;
};

static int eval(struct hcl_eval *ev, const struct hn *n, json_t **ret);

/* ---- errors and bounds ----------------------------------------------------------------- */

int hev_fail(struct hcl_eval *ev, const struct hn *at, const char *fmt, ...) {
        char msg[200];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        return errorf(ev->err, -EINVAL, "%s:%d:%d: %s", ev->cur_file, at ? at->line : 1, at ? at->col : 1, msg);
}

int hev_oom(struct hcl_eval *ev) {
        return errorf(ev->err, -ENOMEM, "%s: out of memory", ev->cur_file);
}

/* A passed bound is -E2BIG, which try() and can() do not swallow. */
static int limit_fail(struct hcl_eval *ev, int r) {
        if (ev->err)
                ev->err->code = -E2BIG;
        return r < 0 ? -E2BIG : r;
}

int hev_charge(struct hcl_eval *ev, const struct hn *at, size_t work, size_t bytes) {
        ev->work += work;
        ev->bytes += bytes;
        if (ev->work > HCL_EVAL_MAX_WORK)
                return limit_fail(ev, hev_fail(ev, at,
                                               "expected at most %u evaluation steps, found more (a loop too "
                                               "large?)",
                                               HCL_EVAL_MAX_WORK));
        if (ev->bytes > HCL_EVAL_MAX_BYTES)
                return limit_fail(
                    ev, hev_fail(ev, at, "expected at most %u bytes of values, found more", HCL_EVAL_MAX_BYTES));
        return 0;
}

int hev_string(struct hcl_eval *ev, const struct hn *at, const char *s, size_t n, json_t **ret) {
        if (n > HCL_EVAL_MAX_STRING)
                return hev_fail(ev, at, "expected a string of at most %u bytes, found %zu bytes", HCL_EVAL_MAX_STRING,
                                n);
        int r = hev_charge(ev, at, 1, n);
        if (r < 0)
                return r;
        json_t *j = json_stringn(s, n);
        if (!j)
                return hev_fail(ev, at, "expected valid UTF-8 text in the string");
        *ret = j;
        return 0;
}

json_t *hev_num(double d) {
        if (!isfinite(d))
                return NULL;
        if (d == floor(d) && fabs(d) <= 9007199254740992.0)
                return json_integer((json_int_t)d);
        return json_real(d);
}

bool hcl_eval_is_runtime(const json_t *v) {
        return json_is_object(v) && json_object_size(v) == 1 && json_is_string(json_object_get(v, RT_KEY));
}

const char *hev_type(const json_t *v) {
        if (hcl_eval_is_runtime(v))
                return "run-time value";
        switch (json_typeof(v)) {
        case JSON_NULL:
                return "null";
        case JSON_TRUE:
        case JSON_FALSE:
                return "bool";
        case JSON_INTEGER:
        case JSON_REAL:
                return "number";
        case JSON_STRING:
                return "string";
        case JSON_ARRAY:
                return "list";
        case JSON_OBJECT:
                return "object";
        }
        return "?";
}

const char *hev_dir(const struct hcl_eval *ev) {
        return ev->dir;
}

static int number_text(const json_t *v, char *out, size_t sz) {
        if (json_is_integer(v))
                return snprintf(out, sz, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        double d = json_real_value(v);
        for (int prec = 1; prec <= 17; prec++) {
                snprintf(out, sz, "%.*g", prec, d);
                if (strtod(out, NULL) == d)
                        break;
        }
        return (int)strlen(out);
}

int hev_to_string(struct hcl_eval *ev, const struct hn *at, const json_t *v, char **ret, size_t *ret_len) {
        char tmp[64];
        const char *s = NULL;
        size_t n = 0;
        if (json_is_string(v)) {
                s = json_string_value(v);
                n = json_string_length(v);
        } else if (json_is_number(v)) {
                n = (size_t)number_text(v, tmp, sizeof(tmp));
                s = tmp;
        } else if (json_is_boolean(v)) {
                s = json_is_true(v) ? "true" : "false";
                n = strlen(s);
        } else if (json_is_null(v)) {
                return hev_fail(ev, at, "expected a string, found null");
        } else if (hcl_eval_is_runtime(v)) {
                return hev_fail(ev, at,
                                "expected a string, found the run-time value ${%s}, which is only known when "
                                "the task starts and can only be used in a string",
                                json_string_value(json_object_get(v, RT_KEY)));
        } else {
                return hev_fail(ev, at, "expected a string, found %s", hev_type(v));
        }
        char *c = malloc(n + 1);
        if (!c)
                return hev_oom(ev);
        memcpy(c, s, n);
        c[n] = '\0';
        *ret = c;
        if (ret_len)
                *ret_len = n;
        return 0;
}

int hev_to_number(struct hcl_eval *ev, const struct hn *at, const json_t *v, double *ret) {
        if (json_is_number(v)) {
                *ret = json_number_value(v);
                return 0;
        }
        if (json_is_string(v)) {
                const char *s = json_string_value(v);
                char *end = NULL;
                double d = strtod(s, &end);
                if (*s && end && *end == '\0' && isfinite(d) && strncasecmp(s, "0x", 2) != 0) {
                        *ret = d;
                        return 0;
                }
                return hev_fail(ev, at, "expected a number, found string \"%.40s\"", s);
        }
        return hev_fail(ev, at, "expected a number, found %s", hev_type(v));
}

int hev_to_bool(struct hcl_eval *ev, const struct hn *at, const json_t *v, bool *ret) {
        if (json_is_boolean(v)) {
                *ret = json_is_true(v);
                return 0;
        }
        if (json_is_string(v) &&
            (strcmp(json_string_value(v), "true") == 0 || strcmp(json_string_value(v), "false") == 0)) {
                *ret = json_string_value(v)[0] == 't';
                return 0;
        }
        return hev_fail(ev, at, "expected a bool, found %s", hev_type(v));
}

static int cmp_keys(const void *a, const void *b) {
        return strcmp(*(const char *const *)a, *(const char *const *)b);
}

int hev_sorted_keys(struct hcl_eval *ev, const json_t *obj, const char ***ret, size_t *ret_n) {
        size_t n = json_object_size(obj), k = 0;
        const char **keys = calloc(n ? n : 1, sizeof(*keys));
        if (!keys)
                return hev_oom(ev);
        const char *key;
        json_t *val;
        json_object_foreach((json_t *)obj, key, val) keys[k++] = key;
        qsort(keys, k, sizeof(*keys), cmp_keys);
        *ret = keys;
        *ret_n = k;
        return 0;
}

static int measure(struct hcl_eval *ev, const struct hn *at, const json_t *v, size_t cap, size_t *acc, int depth) {
        int r = hev_charge(ev, at, 1, 0);
        if (r < 0)
                return r;
        if (depth > MAX_VALUE_DEPTH)
                return hev_fail(ev, at, "expected values nested at most %d deep", MAX_VALUE_DEPTH);
        if (json_is_string(v))
                *acc += json_string_length(v) + 2;
        else if (json_is_array(v) || json_is_object(v))
                *acc += 2;
        else
                *acc += 24;
        if (*acc > cap)
                return limit_fail(ev, hev_fail(ev, at, "expected a value of at most %zu bytes, found more", cap));
        if (json_is_array(v)) {
                for (size_t i = 0; i < json_array_size(v); i++)
                        if ((r = measure(ev, at, json_array_get(v, i), cap, acc, depth + 1)) < 0)
                                return r;
        } else if (json_is_object(v)) {
                const char *k;
                json_t *e;
                json_object_foreach((json_t *)v, k, e) {
                        *acc += strlen(k) + 4;
                        if ((r = measure(ev, at, e, cap, acc, depth + 1)) < 0)
                                return r;
                }
        }
        return 0;
}

int hev_measure(struct hcl_eval *ev, const struct hn *at, const json_t *v, size_t cap, size_t *ret) {
        size_t acc = 0;
        int r = measure(ev, at, v, cap, &acc, 0);
        if (r == 0 && ret)
                *ret = acc;
        return r;
}

/* ---- context --------------------------------------------------------------------------- */

int hcl_eval_create(const char *file, const char *dir, struct hcl_eval **ret, struct error *err) {
        _cleanup_(hcl_eval_freep) struct hcl_eval *ev = calloc(1, sizeof(*ev));
        if (!ev)
                return errorf(err, -ENOMEM, "out of memory");
        ev->file = strdup(file ? file : "<input>");
        ev->dir = dir ? strdup(dir) : NULL;
        ev->vars = json_object();
        if (!ev->file || (dir && !ev->dir) || !ev->vars)
                return errorf(err, -ENOMEM, "out of memory");
        ev->cur_file = ev->file;
        *ret = TAKE_PTR(ev);
        return 0;
}

struct hcl_eval *hcl_eval_free(struct hcl_eval *ev) {
        if (!ev)
                return NULL;
        for (size_t k = 0; k < ev->n_locals; k++) {
                free(ev->locals[k].name);
                json_decref(ev->locals[k].val);
        }
        free(ev->locals);
        json_decref(ev->vars);
        free(ev->file);
        free(ev->dir);
        free(ev);
        return NULL;
}

void hcl_eval_freep(struct hcl_eval **ev) {
        hcl_eval_free(*ev);
}

int hcl_eval_set_var(struct hcl_eval *ev, const char *name, json_t *value, struct error *err) {
        if (json_object_set(ev->vars, name, value) < 0)
                return errorf(err, -ENOMEM, "out of memory");
        return 0;
}

int hcl_eval_add_local(struct hcl_eval *ev, const char *name, const struct hcl_value *expr, int line, int col,
                       struct error *err) {
        for (size_t k = 0; k < ev->n_locals; k++)
                if (strcmp(ev->locals[k].name, name) == 0)
                        return errorf(err, -EINVAL, "%s:%d:%d: duplicate local value \"%s\" (first at line %d)",
                                      ev->file, line, col, name, ev->locals[k].line);
        if (ev->n_locals >= 4096)
                return errorf(err, -E2BIG, "%s:%d:%d: expected at most 4096 local values", ev->file, line, col);
        struct local *l = realloc(ev->locals, (ev->n_locals + 1) * sizeof(*l));
        if (!l)
                return errorf(err, -ENOMEM, "out of memory");
        ev->locals = l;
        l[ev->n_locals] = (struct local){.name = strdup(name), .expr = expr, .line = line, .col = col};
        if (!l[ev->n_locals].name)
                return errorf(err, -ENOMEM, "out of memory");
        ev->n_locals++;
        return 0;
}

/* ---- hcl_value <-> json ---------------------------------------------------------------- */

static int eval_value(struct hcl_eval *ev, const struct hcl_value *v, json_t **ret);

static int eval_parsed(struct hcl_eval *ev, const char *text, enum hcl_text_mode mode, int line, int col,
                       json_t **ret) {
        _cleanup_(hn_freep) struct hn *n = NULL;
        int r = hcl_expr_parse(text, strlen(text), mode, ev->cur_file, line, col, &n, ev->err);
        if (r < 0)
                return r;
        return eval(ev, n, ret);
}

static int eval_value(struct hcl_eval *ev, const struct hcl_value *v, json_t **ret) {
        struct hn at = {.line = v->line, .col = v->col};
        json_t *j = NULL;
        int r = hev_charge(ev, &at, 1, 0);
        if (r < 0)
                return r;
        switch (v->kind) {
        case HCL_NULL:
                j = json_null();
                break;
        case HCL_BOOL:
                j = json_boolean(v->b);
                break;
        case HCL_INT:
                j = json_integer(v->i);
                break;
        case HCL_FLOAT:
                j = hev_num(v->f);
                break;
        case HCL_STRING:
                if (v->tmpl)
                        return eval_parsed(ev, v->tmpl, v->tmpl_heredoc ? HCL_TEXT_TEMPLATE : HCL_TEXT_QUOTED,
                                           v->tmpl_line, v->tmpl_col, ret);
                return hev_string(ev, &at, v->str, strlen(v->str), ret);
        case HCL_EXPR:
                return eval_parsed(ev, v->str, HCL_TEXT_EXPR, v->line, v->col, ret);
        case HCL_LIST: {
                _cleanup_json_ json_t *a = json_array();
                if (!a)
                        return hev_oom(ev);
                for (size_t k = 0; k < v->n; k++) {
                        json_t *e = NULL;
                        if ((r = eval_value(ev, v->items[k], &e)) < 0)
                                return r;
                        if (json_array_append_new(a, e) < 0)
                                return hev_oom(ev);
                }
                *ret = TAKE_PTR(a);
                return 0;
        }
        case HCL_OBJECT: {
                _cleanup_json_ json_t *o = json_object();
                if (!o)
                        return hev_oom(ev);
                for (size_t k = 0; k < v->n; k++) {
                        json_t *e = NULL;
                        _cleanup_json_ json_t *kv = NULL;
                        _cleanup_free_ char *ks = NULL;
                        const char *key = v->keys[k];
                        struct hn kat = {.line = v->items[k]->line, .col = v->items[k]->col};
                        if (key[0] == '(') {
                                /* `(expression) = value`: hcl.c keeps the key's source text */
                                if ((r = eval_parsed(ev, key, HCL_TEXT_EXPR, kat.line, kat.col, &kv)) < 0 ||
                                    (r = hev_to_string(ev, &kat, kv, &ks, NULL)) < 0)
                                        return r;
                                key = ks;
                        }
                        if ((r = eval_value(ev, v->items[k], &e)) < 0)
                                return r;
                        if (json_object_set_new(o, key, e) < 0)
                                return hev_fail(ev, &at, "expected UTF-8 object keys");
                }
                *ret = TAKE_PTR(o);
                return 0;
        }
        }
        if (!j)
                return hev_oom(ev);
        *ret = j;
        return 0;
}

static struct hcl_value *from_json(const json_t *v, int line, int col, int depth) {
        if (depth > MAX_VALUE_DEPTH)
                return NULL;
        struct hcl_value *h = calloc(1, sizeof(*h));
        if (!h)
                return NULL;
        h->line = line;
        h->col = col;
        if (hcl_eval_is_runtime(v)) {
                h->kind = HCL_STRING;
                if (asprintf(&h->str, "${%s}", json_string_value(json_object_get(v, RT_KEY))) < 0)
                        h->str = NULL;
                return h->str ? h : hcl_value_free(h);
        }
        switch (json_typeof(v)) {
        case JSON_NULL:
                h->kind = HCL_NULL;
                return h;
        case JSON_TRUE:
        case JSON_FALSE:
                h->kind = HCL_BOOL;
                h->b = json_is_true(v);
                return h;
        case JSON_INTEGER:
                h->kind = HCL_INT;
                h->i = json_integer_value(v);
                h->f = (double)h->i;
                return h;
        case JSON_REAL:
                h->kind = HCL_FLOAT;
                h->f = json_real_value(v);
                return h;
        case JSON_STRING:
                h->kind = HCL_STRING;
                h->str = strdup(json_string_value(v));
                return h->str ? h : hcl_value_free(h);
        case JSON_ARRAY:
        case JSON_OBJECT: {
                bool obj = json_is_object(v);
                h->kind = obj ? HCL_OBJECT : HCL_LIST;
                size_t n = obj ? json_object_size(v) : json_array_size(v);
                h->items = calloc(n ? n : 1, sizeof(*h->items));
                if (obj)
                        h->keys = calloc(n ? n : 1, sizeof(*h->keys));
                if (!h->items || (obj && !h->keys))
                        return hcl_value_free(h);
                if (!obj) {
                        for (size_t k = 0; k < n; k++) {
                                if (!(h->items[k] = from_json(json_array_get(v, k), line, col, depth + 1)))
                                        return hcl_value_free(h);
                                h->n++;
                        }
                        return h;
                }
                /* maps iterate in key order, as HCL's */
                const char **keys = NULL;
                size_t nk = 0, k = 0;
                const char *key;
                json_t *val;
                keys = calloc(n ? n : 1, sizeof(*keys));
                if (!keys)
                        return hcl_value_free(h);
                json_object_foreach((json_t *)v, key, val) keys[k++] = key;
                nk = k;
                qsort(keys, nk, sizeof(*keys), cmp_keys);
                for (k = 0; k < nk; k++) {
                        h->keys[k] = strdup(keys[k]);
                        h->items[k] = h->keys[k] ? from_json(json_object_get(v, keys[k]), line, col, depth + 1) : NULL;
                        if (!h->items[k]) {
                                free(h->keys[k]);
                                free(keys);
                                return hcl_value_free(h);
                        }
                        h->n++;
                }
                free(keys);
                return h;
        }
        }
        return hcl_value_free(h);
}

struct hcl_value *hcl_value_from_json(const json_t *v, int line, int col) {
        return from_json(v, line, col, 0);
}

/* ---- expressions ----------------------------------------------------------------------- */

static int runtime_new(struct hcl_eval *ev, const char *text, json_t **ret) {
        json_t *o = json_pack("{s:s}", RT_KEY, text);
        if (!o)
                return hev_oom(ev);
        *ret = o;
        return 0;
}

static int lookup_local(struct hcl_eval *ev, const struct hn *at, const char *name, json_t **ret) {
        for (size_t k = 0; k < ev->n_locals; k++) {
                struct local *l = &ev->locals[k];
                if (strcmp(l->name, name) != 0)
                        continue;
                if (l->state == L_DONE) {
                        *ret = json_incref(l->val);
                        return 0;
                }
                if (l->state == L_BUSY)
                        return hev_fail(ev, at, "local value \"%s\" refers to itself (a cycle among locals)", name);
                l->state = L_BUSY;
                const char *save = ev->cur_file;
                ev->cur_file = ev->file;
                json_t *v = NULL;
                int r = eval_value(ev, l->expr, &v);
                ev->cur_file = save;
                l->state = r < 0 ? L_NEW : L_DONE;
                if (r < 0)
                        return r;
                l->val = v;
                *ret = json_incref(v);
                return 0;
        }
        return hev_fail(ev, at, "undefined local value \"%s\": there is no local named \"%s\" in a locals block", name,
                        name);
}

static json_t *scope_get(const struct hcl_eval *ev, const char *name) {
        for (size_t k = ev->n_scope; k-- > 0;)
                if (strcmp(ev->scope[k].name, name) == 0)
                        return ev->scope[k].val;
        return NULL;
}

static int scope_push(struct hcl_eval *ev, const struct hn *at, const char *name, json_t *val) {
        if (ev->n_scope >= MAX_SCOPE)
                return hev_fail(ev, at, "expected at most %d nested iterators", MAX_SCOPE);
        ev->scope[ev->n_scope++] = (struct frame){.name = name, .val = val};
        return 0;
}

struct sbuf {
        char *s;
        size_t n, cap;
};

static int sbuf_put(struct hcl_eval *ev, const struct hn *at, struct sbuf *b, const char *s, size_t n) {
        if (b->n + n > HCL_EVAL_MAX_STRING)
                return hev_fail(ev, at, "expected a string of at most %u bytes, found more", HCL_EVAL_MAX_STRING);
        int r = hev_charge(ev, at, 1, n);
        if (r < 0)
                return r;
        if (b->n + n + 1 > b->cap) {
                size_t cap = b->cap ? b->cap : 64;
                while (cap < b->n + n + 1)
                        cap *= 2;
                char *p = realloc(b->s, cap);
                if (!p)
                        return hev_oom(ev);
                b->s = p;
                b->cap = cap;
        }
        memcpy(b->s + b->n, s, n);
        b->n += n;
        b->s[b->n] = '\0';
        return 0;
}

static int template_append(struct hcl_eval *ev, const struct hn *t, struct sbuf *b);

/* Iterate a collection: calls fn for each (key, value); arrays give index keys. */
typedef int (*each_fn)(struct hcl_eval *ev, const struct hn *n, json_t *key, json_t *val, void *ud);

static int for_each(struct hcl_eval *ev, const struct hn *n, const struct hn *at, json_t *coll, each_fn fn, void *ud) {
        int r;
        if (json_is_array(coll)) {
                for (size_t k = 0; k < json_array_size(coll); k++) {
                        _cleanup_json_ json_t *key = json_integer((json_int_t)k);
                        if (!key)
                                return hev_oom(ev);
                        if ((r = hev_charge(ev, at, 1, 0)) < 0 || (r = fn(ev, n, key, json_array_get(coll, k), ud)) < 0)
                                return r;
                }
                return 0;
        }
        if (json_is_object(coll) && !hcl_eval_is_runtime(coll)) {
                _cleanup_free_ const char **keys = NULL;
                size_t nk = 0;
                if ((r = hev_sorted_keys(ev, coll, &keys, &nk)) < 0)
                        return r;
                for (size_t k = 0; k < nk; k++) {
                        _cleanup_json_ json_t *key = json_string(keys[k]);
                        if (!key)
                                return hev_oom(ev);
                        if ((r = hev_charge(ev, at, 1, 0)) < 0 ||
                            (r = fn(ev, n, key, json_object_get(coll, keys[k]), ud)) < 0)
                                return r;
                }
                return 0;
        }
        return hev_fail(ev, at, "expected a list or a map to iterate over, found %s", hev_type(coll));
}

/* Bind the for variables of n (name[, name2]) around fn. */
static int bind2(struct hcl_eval *ev, const struct hn *n, json_t *key, json_t *val) {
        int r;
        if (n->name2) {
                if ((r = scope_push(ev, n, n->name, key)) < 0)
                        return r;
                return scope_push(ev, n, n->name2, val);
        }
        return scope_push(ev, n, n->name, val);
}

static void unbind2(struct hcl_eval *ev, const struct hn *n) {
        ev->n_scope -= n->name2 ? 2 : 1;
}

static int tfor_step(struct hcl_eval *ev, const struct hn *n, json_t *key, json_t *val, void *ud) {
        int r = bind2(ev, n, key, val);
        if (r < 0)
                return r;
        r = template_append(ev, n->b, ud);
        unbind2(ev, n);
        return r;
}

static int template_append(struct hcl_eval *ev, const struct hn *t, struct sbuf *b) {
        int r;
        for (size_t k = 0; k < t->n; k++) {
                const struct hn *p = t->kids[k];
                if (p->kind == HN_LIT && json_is_string(p->lit)) {
                        if ((r = sbuf_put(ev, p, b, json_string_value(p->lit), json_string_length(p->lit))) < 0)
                                return r;
                        continue;
                }
                if (p->kind == HN_TIF) {
                        _cleanup_json_ json_t *c = NULL;
                        bool yes = false;
                        if ((r = eval(ev, p->a, &c)) < 0 || (r = hev_to_bool(ev, p->a, c, &yes)) < 0)
                                return r;
                        const struct hn *branch = yes ? p->b : p->c;
                        if (branch && (r = template_append(ev, branch, b)) < 0)
                                return r;
                        continue;
                }
                if (p->kind == HN_TFOR) {
                        _cleanup_json_ json_t *coll = NULL;
                        if ((r = eval(ev, p->a, &coll)) < 0 || (r = for_each(ev, p, p->a, coll, tfor_step, b)) < 0)
                                return r;
                        continue;
                }
                _cleanup_json_ json_t *v = NULL;
                if ((r = eval(ev, p, &v)) < 0)
                        return r;
                if (hcl_eval_is_runtime(v)) {
                        const char *txt = json_string_value(json_object_get(v, RT_KEY));
                        if ((r = sbuf_put(ev, p, b, "${", 2)) < 0 || (r = sbuf_put(ev, p, b, txt, strlen(txt))) < 0 ||
                            (r = sbuf_put(ev, p, b, "}", 1)) < 0)
                                return r;
                        continue;
                }
                if (json_is_null(v))
                        return hev_fail(ev, p, "expected a value to put in the string, found null");
                _cleanup_free_ char *s = NULL;
                size_t n = 0;
                if ((r = hev_to_string(ev, p, v, &s, &n)) < 0 || (r = sbuf_put(ev, p, b, s, n)) < 0)
                        return r;
        }
        return 0;
}

static int eval_template(struct hcl_eval *ev, const struct hn *n, json_t **ret) {
        /* "${expr}" alone yields the value of expr, unconverted (a run-time reference becomes
         * its "${...}" text, as in any string) */
        const struct hn *k0 = n->n == 1 ? n->kids[0] : NULL;
        if (k0 && !(k0->kind == HN_LIT && json_is_string(k0->lit)) && k0->kind != HN_TIF && k0->kind != HN_TFOR) {
                json_t *v = NULL;
                int r = eval(ev, n->kids[0], &v);
                if (r < 0 || !hcl_eval_is_runtime(v)) {
                        if (r == 0)
                                *ret = v;
                        return r;
                }
                json_decref(v);
        }
        struct sbuf b = {0};
        int r = template_append(ev, n, &b);
        if (r == 0)
                r = hev_string(ev, n, b.s ? b.s : "", b.n, ret);
        free(b.s);
        return r;
}

static int eval_binary(struct hcl_eval *ev, const struct hn *n, json_t **ret) {
        _cleanup_json_ json_t *a = NULL, *b = NULL;
        int r;
        if ((r = eval(ev, n->a, &a)) < 0 || (r = eval(ev, n->b, &b)) < 0)
                return r;
        if (n->op == OP_AND || n->op == OP_OR) {
                bool x = false, y = false;
                if ((r = hev_to_bool(ev, n->a, a, &x)) < 0 || (r = hev_to_bool(ev, n->b, b, &y)) < 0)
                        return r;
                *ret = json_boolean(n->op == OP_AND ? (x && y) : (x || y));
                return 0;
        }
        if (n->op == OP_EQ || n->op == OP_NE) {
                if (hcl_eval_is_runtime(a) || hcl_eval_is_runtime(b))
                        return hev_fail(ev, n, "cannot compare a run-time value, known only when the task starts");
                bool eq = json_equal(a, b) || (json_is_null(a) && json_is_null(b));
                *ret = json_boolean(n->op == OP_EQ ? eq : !eq);
                return 0;
        }
        double x = 0, y = 0;
        if ((r = hev_to_number(ev, n->a, a, &x)) < 0 || (r = hev_to_number(ev, n->b, b, &y)) < 0)
                return r;
        double z = 0;
        switch (n->op) {
        case OP_LT:
                *ret = json_boolean(x < y);
                return 0;
        case OP_LE:
                *ret = json_boolean(x <= y);
                return 0;
        case OP_GT:
                *ret = json_boolean(x > y);
                return 0;
        case OP_GE:
                *ret = json_boolean(x >= y);
                return 0;
        case OP_ADD:
                z = x + y;
                break;
        case OP_SUB:
                z = x - y;
                break;
        case OP_MUL:
                z = x * y;
                break;
        case OP_DIV:
                if (y == 0)
                        return hev_fail(ev, n, "division by zero");
                z = x / y;
                break;
        case OP_MOD:
                if (y == 0)
                        return hev_fail(ev, n, "modulo by zero");
                z = fmod(x, y);
                break;
        default:
                return hev_fail(ev, n, "internal error: operator %d", n->op);
        }
        if (!(*ret = hev_num(z)))
                return hev_fail(ev, n, "arithmetic result out of range");
        return 0;
}

static int eval_index(struct hcl_eval *ev, const struct hn *at, json_t *coll, json_t *key, json_t **ret) {
        int r;
        if (json_is_array(coll)) {
                double d = 0;
                if ((r = hev_to_number(ev, at, key, &d)) < 0)
                        return r;
                if (d != floor(d) || d < 0 || d >= (double)json_array_size(coll))
                        return hev_fail(ev, at, "index %g out of range for a list of %zu elements", d,
                                        json_array_size(coll));
                *ret = json_incref(json_array_get(coll, (size_t)d));
                return 0;
        }
        if (json_is_object(coll) && !hcl_eval_is_runtime(coll)) {
                _cleanup_free_ char *k = NULL;
                if ((r = hev_to_string(ev, at, key, &k, NULL)) < 0)
                        return r;
                json_t *v = json_object_get(coll, k);
                if (!v)
                        return hev_fail(ev, at, "the map has no element \"%.60s\"", k);
                *ret = json_incref(v);
                return 0;
        }
        return hev_fail(ev, at, "expected a list or a map to index, found %s", hev_type(coll));
}

struct for_acc {
        json_t *out;
};

static int for_step(struct hcl_eval *ev, const struct hn *n, json_t *key, json_t *val, void *ud) {
        struct for_acc *acc = ud;
        int r = bind2(ev, n, key, val);
        if (r < 0)
                return r;
        _cleanup_json_ json_t *cond = NULL, *k = NULL, *v = NULL;
        _cleanup_free_ char *ks = NULL;
        bool keep = true;
        if (n->d && ((r = eval(ev, n->d, &cond)) < 0 || (r = hev_to_bool(ev, n->d, cond, &keep)) < 0))
                goto out;
        if (!keep)
                goto out;
        if ((r = eval(ev, n->c, &v)) < 0)
                goto out;
        if (!n->is_object) {
                if (json_array_size(acc->out) >= HCL_EVAL_MAX_ITEMS) {
                        r = hev_fail(ev, n, "expected at most %u elements, found more", HCL_EVAL_MAX_ITEMS);
                        goto out;
                }
                r = json_array_append(acc->out, v) < 0 ? hev_oom(ev) : 0;
                goto out;
        }
        if ((r = eval(ev, n->b, &k)) < 0 || (r = hev_to_string(ev, n->b, k, &ks, NULL)) < 0)
                goto out;
        json_t *have = json_object_get(acc->out, ks);
        if (n->expand) {
                if (!have) {
                        have = json_array();
                        if (!have || json_object_set_new(acc->out, ks, have) < 0) {
                                r = hev_oom(ev);
                                goto out;
                        }
                }
                r = json_array_append(have, v) < 0 ? hev_oom(ev) : 0;
        } else if (have) {
                r = hev_fail(ev, n->b,
                             "duplicate key \"%.60s\" in the for expression (add '...' after the value to "
                             "group values by key)",
                             ks);
        } else {
                r = json_object_set(acc->out, ks, v) < 0 ? hev_fail(ev, n->b, "expected UTF-8 keys") : 0;
        }
out:
        unbind2(ev, n);
        return r;
}

static int splat_step(struct hcl_eval *ev, const struct hn *n, json_t *key, json_t *val, void *ud) {
        struct for_acc *acc = ud;
        ev->splat[ev->n_splat++] = val;
        json_t *v = NULL;
        int r = eval(ev, n->b, &v);
        ev->n_splat--;
        if (r < 0)
                return r;
        return json_array_append_new(acc->out, v) < 0 ? hev_oom(ev) : 0;
}

/* try(a, b...): the first argument that evaluates without error; can(a): whether it does.
 * Their arguments are evaluated here, lazily; a passed bound (-E2BIG) or -ENOMEM is never
 * swallowed. */
static int eval_try(struct hcl_eval *ev, const struct hn *n, bool can, json_t **ret) {
        if (can ? n->n != 1 : n->n < 1)
                return hev_fail(ev, n,
                                can ? "can: expected 1 argument, found %zu"
                                    : "try: expected at least 1 "
                                      "argument, found %zu",
                                n->n);
        if (n->expand)
                return hev_fail(ev, n, "%s: expanded arguments (...) are not supported", n->name);
        int r = 0;
        for (size_t k = 0; k < n->n; k++) {
                json_t *v = NULL;
                r = eval(ev, n->kids[k], &v);
                if (r == -E2BIG || r == -ENOMEM)
                        return r;
                if (r == 0) {
                        if (can) {
                                json_decref(v);
                                v = json_true();
                        }
                        *ret = v;
                        return 0;
                }
        }
        if (can) {
                *ret = json_false();
                return 0;
        }
        return r; /* the last argument's error */
}

static int eval_call(struct hcl_eval *ev, const struct hn *n, json_t **ret) {
        json_t *args[64];
        size_t na = 0;
        int r = 0;
        if (strcmp(n->name, "try") == 0 || strcmp(n->name, "can") == 0)
                return eval_try(ev, n, n->name[0] == 'c', ret);
        if (n->n > ARRAY_SIZE(args))
                return hev_fail(ev, n, "expected at most %zu arguments, found %zu", ARRAY_SIZE(args), n->n);
        for (size_t k = 0; k < n->n; k++) {
                json_t *v = NULL;
                if ((r = eval(ev, n->kids[k], &v)) < 0)
                        goto out;
                if (n->expand && k == n->n - 1) {
                        if (!json_is_array(v)) {
                                json_decref(v);
                                r = hev_fail(ev, n->kids[k], "expected a list before '...', found %s", hev_type(v));
                                goto out;
                        }
                        if (na + json_array_size(v) > ARRAY_SIZE(args)) {
                                json_decref(v);
                                r = hev_fail(ev, n, "expected at most %zu arguments, found more", ARRAY_SIZE(args));
                                goto out;
                        }
                        for (size_t j = 0; j < json_array_size(v); j++)
                                args[na++] = json_incref(json_array_get(v, j));
                        json_decref(v);
                        continue;
                }
                args[na++] = v;
        }
        r = hcl_call(ev, n, n->name, args, na, ret);
out:
        for (size_t k = 0; k < na; k++)
                json_decref(args[k]);
        return r;
}

static int eval_node(struct hcl_eval *ev, const struct hn *n, json_t **ret) {
        int r;
        switch (n->kind) {
        case HN_LIT:
                if (json_is_real(n->lit)) {
                        *ret = hev_num(json_real_value(n->lit));
                        return *ret ? 0 : hev_oom(ev);
                }
                *ret = json_incref(n->lit);
                return 0;
        case HN_TEMPLATE:
                return eval_template(ev, n, ret);
        case HN_REF: {
                json_t *v = scope_get(ev, n->name);
                if (v) {
                        *ret = json_incref(v);
                        return 0;
                }
                if (strcmp(n->name, "var") == 0) {
                        *ret = json_incref(ev->vars);
                        return 0;
                }
                if (strcmp(n->name, "local") == 0)
                        return hev_fail(ev, n, "expected local.NAME, found local alone");
                return hev_fail(ev, n,
                                "undefined variable \"%s\" (variables are var.NAME, local.NAME, or run-time "
                                "values such as attr.*, node.*, meta.*, NOMAD_*)",
                                n->name);
        }
        case HN_RUNTIME:
                return runtime_new(ev, n->name, ret);
        case HN_TUPLE: {
                _cleanup_json_ json_t *a = json_array();
                if (!a)
                        return hev_oom(ev);
                for (size_t k = 0; k < n->n; k++) {
                        json_t *e = NULL;
                        if ((r = eval(ev, n->kids[k], &e)) < 0)
                                return r;
                        if (json_array_append_new(a, e) < 0)
                                return hev_oom(ev);
                }
                *ret = TAKE_PTR(a);
                return 0;
        }
        case HN_OBJECT: {
                _cleanup_json_ json_t *o = json_object();
                if (!o)
                        return hev_oom(ev);
                for (size_t k = 0; k + 1 < n->n; k += 2) {
                        _cleanup_json_ json_t *key = NULL;
                        _cleanup_free_ char *ks = NULL;
                        json_t *val = NULL;
                        if ((r = eval(ev, n->kids[k], &key)) < 0 ||
                            (r = hev_to_string(ev, n->kids[k], key, &ks, NULL)) < 0 ||
                            (r = eval(ev, n->kids[k + 1], &val)) < 0)
                                return r;
                        if (json_object_set_new(o, ks, val) < 0)
                                return hev_fail(ev, n->kids[k], "expected UTF-8 object keys");
                }
                *ret = TAKE_PTR(o);
                return 0;
        }
        case HN_CALL:
                return eval_call(ev, n, ret);
        case HN_UNARY: {
                _cleanup_json_ json_t *a = NULL;
                if ((r = eval(ev, n->a, &a)) < 0)
                        return r;
                if (n->op == OP_NOT) {
                        bool b = false;
                        if ((r = hev_to_bool(ev, n->a, a, &b)) < 0)
                                return r;
                        *ret = json_boolean(!b);
                        return 0;
                }
                double d = 0;
                if ((r = hev_to_number(ev, n->a, a, &d)) < 0)
                        return r;
                *ret = hev_num(-d);
                return *ret ? 0 : hev_oom(ev);
        }
        case HN_BINARY:
                return eval_binary(ev, n, ret);
        case HN_COND: {
                _cleanup_json_ json_t *c = NULL;
                bool yes = false;
                if ((r = eval(ev, n->a, &c)) < 0 || (r = hev_to_bool(ev, n->a, c, &yes)) < 0)
                        return r;
                return eval(ev, yes ? n->b : n->c, ret);
        }
        case HN_INDEX: {
                _cleanup_json_ json_t *a = NULL, *k = NULL;
                if ((r = eval(ev, n->a, &a)) < 0 || (r = eval(ev, n->b, &k)) < 0)
                        return r;
                return eval_index(ev, n, a, k, ret);
        }
        case HN_GETATTR: {
                if (n->a->kind == HN_REF && !scope_get(ev, n->a->name)) {
                        if (strcmp(n->a->name, "local") == 0)
                                return lookup_local(ev, n, n->name, ret);
                        if (strcmp(n->a->name, "var") == 0) {
                                json_t *v = json_object_get(ev->vars, n->name);
                                if (!v)
                                        return hev_fail(ev, n,
                                                        "undefined variable \"%s\": declare it with variable "
                                                        "\"%s\" { }",
                                                        n->name, n->name);
                                *ret = json_incref(v);
                                return 0;
                        }
                }
                _cleanup_json_ json_t *a = NULL;
                if ((r = eval(ev, n->a, &a)) < 0)
                        return r;
                if (!json_is_object(a) || hcl_eval_is_runtime(a))
                        return hev_fail(ev, n, "expected an object with attribute \"%s\", found %s", n->name,
                                        hev_type(a));
                json_t *v = json_object_get(a, n->name);
                if (!v)
                        return hev_fail(ev, n, "the object has no attribute \"%s\"", n->name);
                *ret = json_incref(v);
                return 0;
        }
        case HN_SPLAT: {
                _cleanup_json_ json_t *a = NULL;
                if ((r = eval(ev, n->a, &a)) < 0)
                        return r;
                struct for_acc acc = {.out = json_array()};
                _cleanup_json_ json_t *out = acc.out;
                if (!out)
                        return hev_oom(ev);
                if (json_is_null(a)) {
                        *ret = TAKE_PTR(out);
                        return 0;
                }
                if (ev->n_splat > HCL_EXPR_MAX_DEPTH)
                        return hev_fail(ev, n, "splats nested too deeply");
                if (!json_is_array(a)) {
                        _cleanup_json_ json_t *zero = json_integer(0);
                        if (!zero || (r = splat_step(ev, n, zero, a, &acc)) < 0)
                                return r < 0 ? r : hev_oom(ev);
                        *ret = TAKE_PTR(out);
                        return 0;
                }
                if ((r = for_each(ev, n, n, a, splat_step, &acc)) < 0)
                        return r;
                *ret = TAKE_PTR(out);
                return 0;
        }
        case HN_SPLAT_ITEM:
                if (!ev->n_splat)
                        return hev_fail(ev, n, "internal error: splat item outside a splat");
                *ret = json_incref(ev->splat[ev->n_splat - 1]);
                return 0;
        case HN_FOR: {
                _cleanup_json_ json_t *coll = NULL;
                if ((r = eval(ev, n->a, &coll)) < 0)
                        return r;
                struct for_acc acc = {.out = n->is_object ? json_object() : json_array()};
                _cleanup_json_ json_t *out = acc.out;
                if (!out)
                        return hev_oom(ev);
                if ((r = for_each(ev, n, n->a, coll, for_step, &acc)) < 0)
                        return r;
                *ret = TAKE_PTR(out);
                return 0;
        }
        case HN_TIF:
        case HN_TFOR:
                break;
        }
        return hev_fail(ev, n, "internal error: node kind %d", n->kind);
}

static int eval(struct hcl_eval *ev, const struct hn *n, json_t **ret) {
        int r = hev_charge(ev, n, 1, 0);
        if (r < 0)
                return r;
        if (++ev->depth > MAX_EVAL_DEPTH) {
                ev->depth--;
                return limit_fail(ev, hev_fail(ev, n,
                                               "expected at most %d levels of evaluation, found deeper "
                                               "(locals referring to locals?)",
                                               MAX_EVAL_DEPTH));
        }
        json_t *v = NULL;
        r = eval_node(ev, n, &v);
        ev->depth--;
        if (r < 0)
                return r;
        if (!v)
                return hev_oom(ev);
        *ret = v;
        return 0;
}

/* ---- public entry points --------------------------------------------------------------- */

int hcl_eval_value(struct hcl_eval *ev, const struct hcl_value *v, json_t **ret, struct error *err) {
        ev->err = err;
        ev->cur_file = ev->file;
        return eval_value(ev, v, ret);
}

int hcl_eval_text(struct hcl_eval *ev, const char *text, const char *file, int line, int col, json_t **ret,
                  struct error *err) {
        ev->err = err;
        ev->cur_file = file ? file : ev->file;
        int r = eval_parsed(ev, text, HCL_TEXT_EXPR, line, col, ret);
        ev->cur_file = ev->file;
        return r;
}

/* ---- for hcl_body.c -------------------------------------------------------------------- */

void hev_begin(struct hcl_eval *ev, struct error *err) {
        ev->err = err;
        ev->cur_file = ev->file;
}

int hev_value(struct hcl_eval *ev, const struct hcl_value *v, json_t **ret) {
        return eval_value(ev, v, ret);
}

int hev_scope_push(struct hcl_eval *ev, const struct hn *at, const char *name, json_t *val) {
        return scope_push(ev, at, name, val);
}

void hev_scope_pop(struct hcl_eval *ev) {
        if (ev->n_scope)
                ev->n_scope--;
}

const char *hev_file(const struct hcl_eval *ev) {
        return ev->cur_file;
}

int hcl_eval_all_locals(struct hcl_eval *ev, struct error *err) {
        hev_begin(ev, err);
        for (size_t k = 0; k < ev->n_locals; k++) {
                struct hn at = {.line = ev->locals[k].line, .col = ev->locals[k].col};
                json_t *v = NULL;
                int r = lookup_local(ev, &at, ev->locals[k].name, &v);
                if (r < 0)
                        return r;
                json_decref(v);
        }
        return 0;
}
