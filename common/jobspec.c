/* jobspec.c - decode the HCL AST of a Nomad job file into the API Job JSON object.
 *
 * Table driven: every block type has a static schema (common/jobspec_schema.c) mapping HCL
 * names to JSON keys and value kinds; a few block types have a post hook for the rules that
 * are not a plain mapping (constraint shorthands, port lists, identities, parser-set types).
 */
#include "common/jobspec.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/error.h"
#include "common/hcl.h"
#include "common/limits.h"
#include "common/hcl_eval.h"
#include "common/jobspec_schema.h"
#include "common/jobspec_vars.h"
#include "common/jsonx.h"
#include "common/macros.h"

#define PATH_MAX_LEN 512

struct js_ctx {
        const char *file;
        const char *job_path; /* `job "id"`, used when an error has no deeper path */
        struct error *err;
};

/* ---- errors ---------------------------------------------------------------------------- */

static int js_fail(const struct js_ctx *c, int line, int col, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static int js_fail(const struct js_ctx *c, int line, int col, const char *path, const char *fmt, ...) {
        char msg[220];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        if (!path || !*path)
                path = c->job_path;
        if (path && *path)
                return errorf(c->err, -EINVAL, "%s:%d:%d: %s: %s", c->file, line, col, path, msg);
        return errorf(c->err, -EINVAL, "%s:%d:%d: %s", c->file, line, col, msg);
}

static int js_oom(const struct js_ctx *c) {
        return errorf(c->err, -ENOMEM, "%s: out of memory", c->file);
}

/* ---- scalar conversions ---------------------------------------------------------------- */

static void describe_value(const struct hcl_value *v, char *out, size_t sz) {
        switch (v->kind) {
        case HCL_STRING:
                snprintf(out, sz, "string \"%.40s\"", v->str);
                break;
        case HCL_EXPR:
                snprintf(out, sz, "expression %.40s", v->str);
                break;
        case HCL_INT:
                snprintf(out, sz, "number %" PRId64, v->i);
                break;
        case HCL_BOOL:
                snprintf(out, sz, "bool %s", v->b ? "true" : "false");
                break;
        default:
                snprintf(out, sz, "%s", hcl_kind_name(v->kind));
                break;
        }
}

static int type_error(const struct js_ctx *c, const struct hcl_value *v, const char *path, const char *name,
                      const char *want) {
        char found[80];
        describe_value(v, found, sizeof(found));
        return js_fail(c, v->line, v->col, path, "argument \"%s\": expected %s, found %s", name, want, found);
}

/* String form of a scalar; NULL when v is not a scalar. Caller frees. */
static char *scalar_string(const struct js_ctx *c, const struct hcl_value *v) {
        char tmp[64];
        switch (v->kind) {
        case HCL_STRING:
                return strdup(v->str);
        case HCL_INT:
                snprintf(tmp, sizeof(tmp), "%" PRId64, v->i);
                return strdup(tmp);
        case HCL_FLOAT:
                snprintf(tmp, sizeof(tmp), "%.17g", v->f);
                return strdup(tmp);
        case HCL_BOOL:
                return strdup(v->b ? "true" : "false");
        default:
                return NULL;
        }
}

static bool parse_int_str(const char *s, int64_t *out) {
        char *end = NULL;
        errno = 0;
        long long ll = strtoll(s, &end, 10);
        if (!*s || *end || errno)
                return false;
        *out = ll;
        return true;
}

/* Go strconv.ParseBool */
static int parse_bool_str(const char *s, bool *out) {
        static const char *const t[] = {"1", "t", "T", "TRUE", "true", "True"};
        static const char *const f[] = {"0", "f", "F", "FALSE", "false", "False"};
        for (size_t k = 0; k < ARRAY_SIZE(t); k++) {
                if (strcmp(s, t[k]) == 0) {
                        *out = true;
                        return 0;
                }
                if (strcmp(s, f[k]) == 0) {
                        *out = false;
                        return 0;
                }
        }
        return -EINVAL;
}

int jobspec_parse_duration(const char *s, int64_t *ret_ns) {
        static const struct {
                const char *unit;
                int64_t ns;
        } units[] = {{"ns", 1},       {"us", 1000},        {"\xC2\xB5s", 1000},  {"\xCE\xBCs", 1000},
                     {"ms", 1000000}, {"s", 1000000000LL}, {"m", 60000000000LL}, {"h", 3600000000000LL}};
        const char *p = s;
        bool neg = false;
        if (*p == '-' || *p == '+')
                neg = *p++ == '-';
        if (strcmp(p, "0") == 0) {
                *ret_ns = 0;
                return 0;
        }
        if (!*p)
                return -EINVAL;
        __int128 total = 0;
        while (*p) {
                if (!isdigit((unsigned char)*p) && *p != '.')
                        return -EINVAL;
                __int128 whole = 0, frac = 0, scale = 1;
                bool digits = false;
                while (isdigit((unsigned char)*p)) {
                        whole = whole * 10 + (*p++ - '0');
                        digits = true;
                        if (whole > INT64_MAX)
                                return -ERANGE;
                }
                if (*p == '.') {
                        p++;
                        while (isdigit((unsigned char)*p)) {
                                if (scale < 1000000000000000000LL) {
                                        frac = frac * 10 + (*p - '0');
                                        scale *= 10;
                                }
                                p++;
                                digits = true;
                        }
                }
                if (!digits)
                        return -EINVAL;
                size_t best = 0;
                int64_t mult = 0;
                for (size_t k = 0; k < ARRAY_SIZE(units); k++) {
                        size_t n = strlen(units[k].unit);
                        if (strncmp(p, units[k].unit, n) == 0 && n > best) {
                                best = n;
                                mult = units[k].ns;
                        }
                }
                if (!best)
                        return -EINVAL; /* missing unit */
                p += best;
                total += whole * mult + frac * mult / scale;
                if (total > INT64_MAX)
                        return -ERANGE;
        }
        *ret_ns = neg ? -(int64_t)total : (int64_t)total;
        return 0;
}

static int conv_scalar(const struct js_ctx *c, enum js_kind kind, const struct hcl_value *v0, const char *path,
                       const char *name, json_t **out) {
        const struct hcl_value *v = v0;
        switch (kind) {
        case K_STR: {
                if (v->kind == HCL_NULL) {
                        *out = json_null();
                        return 0;
                }
                if (v->kind == HCL_LIST || v->kind == HCL_OBJECT)
                        return type_error(c, v, path, name, "a string");
                _cleanup_free_ char *s = scalar_string(c, v);
                if (!s)
                        return js_oom(c);
                *out = json_string(s);
                break;
        }
        case K_INT: {
                int64_t i = 0;
                if (v->kind == HCL_INT)
                        i = v->i;
                else if (v->kind == HCL_FLOAT && fabs(v->f) < 9.2e18 && v->f == (double)(int64_t)v->f) /* no UB cast */
                        i = (int64_t)v->f;
                else if (!(v->kind == HCL_STRING && parse_int_str(v->str, &i)))
                        return type_error(c, v, path, name, "a whole number");
                *out = json_integer(i);
                break;
        }
        case K_FLOAT: {
                double d = 0;
                char *end = NULL;
                if (v->kind == HCL_INT || v->kind == HCL_FLOAT)
                        d = v->f;
                else if (v->kind == HCL_STRING && *v->str && (d = strtod(v->str, &end), *end == '\0'))
                        ;
                else
                        return type_error(c, v, path, name, "a number");
                if (!isfinite(d)) /* json_real refuses NaN and Inf */
                        return type_error(c, v, path, name, "a finite number");
                *out = json_real(d);
                break;
        }
        case K_BOOL: {
                bool b = false;
                if (v->kind == HCL_BOOL)
                        b = v->b;
                else if (!(v->kind == HCL_STRING && parse_bool_str(v->str, &b) == 0))
                        return type_error(c, v, path, name, "a bool");
                *out = json_boolean(b);
                break;
        }
        case K_DUR: {
                int64_t ns = 0;
                if (v->kind == HCL_INT)
                        ns = v->i; /* a bare number is nanoseconds, as Go's time.Duration */
                else if (!(v->kind == HCL_STRING && jobspec_parse_duration(v->str, &ns) == 0))
                        return type_error(c, v, path, name, "a duration such as \"10s\" or \"1h30m\"");
                *out = json_integer(ns);
                break;
        }
        default:
                return js_fail(c, v->line, v->col, path, "argument \"%s\": internal error: kind %d", name, kind);
        }
        return *out ? 0 : js_oom(c);
}

static int conv_strlist(const struct js_ctx *c, const struct hcl_value *v0, const char *path, const char *name,
                        json_t **out) {
        const struct hcl_value *v = v0;
        if (v->kind != HCL_LIST)
                return type_error(c, v, path, name, "a list of strings");
        _cleanup_json_ json_t *arr = json_array();
        if (!arr)
                return js_oom(c);
        for (size_t k = 0; k < v->n; k++) {
                json_t *s = NULL;
                int r = conv_scalar(c, K_STR, v->items[k], path, name, &s);
                if (r < 0)
                        return r;
                if (json_array_append_new(arr, s) < 0)
                        return js_oom(c);
        }
        *out = TAKE_PTR(arr);
        return 0;
}

/* Opaque value: literals as they are, expressions resolved or kept as "${...}". */
static int conv_any(const struct js_ctx *c, const struct hcl_value *v0, const char *path, const char *name,
                    json_t **out) {
        const struct hcl_value *v = v0;
        switch (v->kind) {
        case HCL_NULL:
                *out = json_null();
                break;
        case HCL_BOOL:
                *out = json_boolean(v->b);
                break;
        case HCL_INT:
                *out = json_integer(v->i);
                break;
        case HCL_FLOAT:
                *out = json_real(v->f);
                break;
        case HCL_STRING:
        case HCL_EXPR:
                return conv_scalar(c, K_STR, v, path, name, out);
        case HCL_LIST: {
                _cleanup_json_ json_t *arr = json_array();
                if (!arr)
                        return js_oom(c);
                for (size_t k = 0; k < v->n; k++) {
                        json_t *e = NULL;
                        int r = conv_any(c, v->items[k], path, name, &e);
                        if (r < 0)
                                return r;
                        if (json_array_append_new(arr, e) < 0)
                                return js_oom(c);
                }
                *out = TAKE_PTR(arr);
                return 0;
        }
        case HCL_OBJECT: {
                _cleanup_json_ json_t *obj = json_object();
                if (!obj)
                        return js_oom(c);
                for (size_t k = 0; k < v->n; k++) {
                        json_t *e = NULL;
                        int r = conv_any(c, v->items[k], path, name, &e);
                        if (r < 0)
                                return r;
                        if (json_object_set_new(obj, v->keys[k], e) < 0)
                                return js_oom(c);
                }
                *out = TAKE_PTR(obj);
                return 0;
        }
        }
        return *out ? 0 : js_oom(c);
}

/* A block body as an opaque value, HCL1 style: attributes become keys, every nested block
 * is appended to a list under its type, and each label wraps the body in {label: [body]}. */
static int body_to_any(const struct js_ctx *c, const struct hcl_body *b, const char *path, json_t **out) {
        _cleanup_json_ json_t *obj = json_object();
        if (!obj)
                return js_oom(c);
        for (size_t k = 0; k < b->n; k++) {
                const struct hcl_item *it = &b->items[k];
                json_t *val = NULL;
                int r;
                if (!it->is_block) {
                        r = conv_any(c, it->value, path, it->name, &val);
                        if (r < 0)
                                return r;
                        if (json_object_set_new(obj, it->name, val) < 0)
                                return js_oom(c);
                        continue;
                }
                r = body_to_any(c, it->body, path, &val);
                if (r < 0)
                        return r;
                for (size_t l = it->n_labels; l-- > 0;) {
                        json_t *wrap = json_pack("{s:[o]}", it->labels[l], val);
                        if (!wrap)
                                return js_oom(c);
                        val = wrap;
                }
                json_t *list = json_object_get(obj, it->name);
                if (!json_is_array(list)) {
                        list = json_array();
                        if (!list || json_object_set_new(obj, it->name, list) < 0) {
                                json_decref(val);
                                return js_oom(c);
                        }
                }
                if (json_array_append_new(list, val) < 0)
                        return js_oom(c);
        }
        *out = TAKE_PTR(obj);
        return 0;
}

/* String map from an object attribute or from a block of attributes. */
static int conv_strmap(const struct js_ctx *c, const struct hcl_item *it, const char *path, json_t *into) {
        if (it->is_block) {
                if (it->n_labels)
                        return js_fail(c, it->line, it->col, path, "block \"%s\": expected no labels, found %zu",
                                       it->name, it->n_labels);
                for (size_t k = 0; k < it->body->n; k++) {
                        const struct hcl_item *e = &it->body->items[k];
                        if (e->is_block)
                                return js_fail(c, e->line, e->col, path, "%s: unsupported block type \"%s\"", it->name,
                                               e->name);
                        json_t *s = NULL;
                        int r = conv_scalar(c, K_STR, e->value, path, e->name, &s);
                        if (r < 0)
                                return r;
                        if (json_object_set_new(into, e->name, s) < 0)
                                return js_oom(c);
                }
                return 0;
        }
        const struct hcl_value *v = it->value;
        if (v->kind != HCL_OBJECT)
                return type_error(c, v, path, it->name, "a map of strings");
        for (size_t k = 0; k < v->n; k++) {
                json_t *s = NULL;
                int r = conv_scalar(c, K_STR, v->items[k], path, v->keys[k], &s);
                if (r < 0)
                        return r;
                if (json_object_set_new(into, v->keys[k], s) < 0)
                        return js_oom(c);
        }
        return 0;
}

/* ---- schema-driven decoding ------------------------------------------------------------- */

static const struct js_field *find_field(const struct js_schema *s, const char *name) {
        for (const struct js_field *f = s->fields; f->hcl; f++)
                if (strcmp(f->hcl, name) == 0)
                        return f;
        return NULL;
}

static bool is_block_kind(enum js_kind k) {
        return k == K_BLOCK;
}

static void path_join(char *out, size_t sz, const char *path, const char *comp) {
        if (path && *path)
                snprintf(out, sz, "%s, %s", path, comp);
        else
                snprintf(out, sz, "%s", comp);
}

static const char *item_name_attr(const struct hcl_item *it) {
        for (size_t k = 0; k < it->body->n; k++) {
                const struct hcl_item *e = &it->body->items[k];
                if (!e->is_block && strcmp(e->name, "name") == 0 && e->value->kind == HCL_STRING)
                        return e->value->str;
        }
        return NULL;
}

static int decode_block(const struct js_ctx *c, const struct js_schema *s, const struct hcl_item *it, const char *path,
                        const char *label_key, json_t **out);

static int js_decode_body(const struct js_ctx *c, const struct js_schema *s, const struct hcl_body *b, const char *path,
                          json_t *obj) {
        /* Pass 1: names exist, attribute vs block, single blocks appear once. */
        for (size_t k = 0; k < b->n; k++) {
                const struct hcl_item *it = &b->items[k];
                const struct js_field *f = find_field(s, it->name);
                if (!f || (it->is_block && !is_block_kind(f->kind) && f->kind != K_STRMAP && f->kind != K_ANY))
                        return js_fail(c, it->line, it->col, path, "unsupported %s \"%s\"",
                                       it->is_block ? "block type" : "argument", it->name);
                if (!it->is_block && is_block_kind(f->kind))
                        return js_fail(c, it->line, it->col, path,
                                       "unsupported argument \"%s\"; a block of this name is expected (%s { ... })",
                                       it->name, it->name);
                if (is_block_kind(f->kind) && !(f->flags & (FL_REPEAT | FL_MAP))) {
                        for (size_t j = 0; j < k; j++)
                                if (b->items[j].is_block && strcmp(b->items[j].name, it->name) == 0)
                                        return js_fail(c, it->line, it->col, path,
                                                       "duplicate \"%s\" block (first at line %d); only one is "
                                                       "allowed",
                                                       it->name, b->items[j].line);
                }
        }
        /* Pass 2: decode. */
        for (size_t k = 0; k < b->n; k++) {
                const struct hcl_item *it = &b->items[k];
                const struct js_field *f = find_field(s, it->name);
                json_t *val = NULL;
                int r = 0;
                switch (f->kind) {
                case K_IGNORE:
                        continue;
                case K_STRLIST:
                        r = conv_strlist(c, it->value, path, it->name, &val);
                        break;
                case K_ANY:
                        if (it->is_block) {
                                char sub[PATH_MAX_LEN];
                                path_join(sub, sizeof(sub), path, it->name);
                                r = body_to_any(c, it->body, sub, &val);
                        } else {
                                r = conv_any(c, it->value, path, it->name, &val);
                        }
                        break;
                case K_STRMAP: {
                        json_t *m = json_object_get(obj, f->json);
                        if (!m) {
                                m = json_object();
                                if (!m || json_object_set_new(obj, f->json, m) < 0)
                                        return js_oom(c);
                        }
                        r = conv_strmap(c, it, path, m);
                        if (r < 0)
                                return r;
                        continue;
                }
                case K_BLOCK: {
                        char comp[200], sub[PATH_MAX_LEN];
                        if (f->flags & (FL_LABEL | FL_MAP)) {
                                if (it->n_labels != 1)
                                        return js_fail(c, it->line, it->col, path,
                                                       "block \"%s\": expected one label, found %zu", it->name,
                                                       it->n_labels);
                                snprintf(comp, sizeof(comp), "%s \"%.80s\"", it->name, it->labels[0]);
                        } else if (it->n_labels) {
                                return js_fail(c, it->line, it->col, path,
                                               "block \"%s\": expected no labels, found %zu", it->name, it->n_labels);
                        } else if (f->sub->path_index) {
                                size_t idx = 0;
                                for (size_t j = 0; j < k; j++)
                                        idx += b->items[j].is_block && strcmp(b->items[j].name, it->name) == 0;
                                const char *nm = item_name_attr(it);
                                if (nm)
                                        snprintf(comp, sizeof(comp), "%s (%zu) \"%.80s\"", it->name, idx, nm);
                                else
                                        snprintf(comp, sizeof(comp), "%s (%zu)", it->name, idx);
                        } else {
                                snprintf(comp, sizeof(comp), "%s", it->name);
                        }
                        path_join(sub, sizeof(sub), path, comp);
                        r = decode_block(c, f->sub, it, sub, f->flags & (FL_LABEL | FL_MAP) ? f->label_key : NULL,
                                         &val);
                        if (r < 0)
                                return r;
                        if (f->flags & FL_MAP) {
                                json_t *m = json_object_get(obj, f->json);
                                if (!m) {
                                        m = json_object();
                                        if (!m || json_object_set_new(obj, f->json, m) < 0) {
                                                json_decref(val);
                                                return js_oom(c);
                                        }
                                }
                                if (json_object_get(m, it->labels[0])) {
                                        json_decref(val);
                                        return js_fail(c, it->line, it->col, path, "duplicate %s \"%s\"", it->name,
                                                       it->labels[0]);
                                }
                                if (json_object_set_new(m, it->labels[0], val) < 0)
                                        return js_oom(c);
                                continue;
                        }
                        if (f->flags & (FL_REPEAT | FL_LIST)) {
                                json_t *l = json_object_get(obj, f->json);
                                if (!l) {
                                        l = json_array();
                                        if (!l || json_object_set_new(obj, f->json, l) < 0) {
                                                json_decref(val);
                                                return js_oom(c);
                                        }
                                }
                                if (json_array_append_new(l, val) < 0)
                                        return js_oom(c);
                                continue;
                        }
                        break;
                }
                default:
                        r = conv_scalar(c, f->kind, it->value, path, it->name, &val);
                        break;
                }
                if (r < 0)
                        return r;
                if (json_object_set_new(obj, f->json, val) < 0)
                        return js_oom(c);
        }
        return 0;
}

static int decode_block(const struct js_ctx *c, const struct js_schema *s, const struct hcl_item *it, const char *path,
                        const char *label_key, json_t **out) {
        _cleanup_json_ json_t *obj = json_object();
        if (!obj)
                return js_oom(c);
        if (label_key && json_object_set_new(obj, label_key, json_string(it->labels[0])) < 0)
                return js_oom(c);
        int r = js_decode_body(c, s, it->body, path, obj);
        if (r < 0)
                return r;
        if (s->post) {
                r = s->post(c, obj, it, path);
                if (r < 0)
                        return r;
        }
        *out = TAKE_PTR(obj);
        return 0;
}

/* ---- post hooks ------------------------------------------------------------------------ */

static int set_str(const struct js_ctx *c, json_t *obj, const char *key, const char *val) {
        return json_object_set_new(obj, key, json_string(val)) < 0 ? js_oom(c) : 0;
}

/* constraint / affinity: shorthand operators and the default "=" operand. */
int js_post_constraint(const struct js_ctx *c, json_t *obj, const struct hcl_item *it, const char *path) {
        static const char *const shorthands[] = {"version",      "semver",           "regexp",
                                                 "set_contains", "set_contains_any", "set_contains_all"};
        char key[48];
        for (size_t k = 0; k < ARRAY_SIZE(shorthands); k++) {
                snprintf(key, sizeof(key), "_%s", shorthands[k]);
                json_t *v = json_object_get(obj, key);
                if (!v)
                        continue;
                if (json_object_set(obj, "RTarget", v) < 0 || set_str(c, obj, "Operand", shorthands[k]) < 0)
                        return js_oom(c);
                json_object_del(obj, key);
        }
        json_t *dh = json_object_get(obj, "_distinct_hosts");
        if (dh) {
                bool on = json_is_true(dh);
                json_object_del(obj, "_distinct_hosts");
                if (on && (set_str(c, obj, "Operand", "distinct_hosts") < 0 || set_str(c, obj, "RTarget", "true") < 0))
                        return js_oom(c);
        }
        json_t *dp = json_object_get(obj, "_distinct_property");
        if (dp) {
                if (json_object_set(obj, "LTarget", dp) < 0 || set_str(c, obj, "Operand", "distinct_property") < 0)
                        return js_oom(c);
                json_object_del(obj, "_distinct_property");
        }
        if (!json_object_get(obj, "LTarget") && set_str(c, obj, "LTarget", "") < 0)
                return js_oom(c);
        if (!json_object_get(obj, "RTarget") && set_str(c, obj, "RTarget", "") < 0)
                return js_oom(c);
        const char *op = jx_str(obj, "Operand", "");
        if (!*op && set_str(c, obj, "Operand", "=") < 0)
                return js_oom(c);
        return 0;
}

static bool port_label_ok(const char *s) {
        if (!*s)
                return false;
        for (; *s; s++)
                if (!isalnum((unsigned char)*s) && *s != '_')
                        return false;
        return true;
}

/* network: port blocks -> ReservedPorts (static set) / DynamicPorts (Value 0). */
int js_post_network(const struct js_ctx *c, json_t *obj, const struct hcl_item *it, const char *path) {
        /* take the scratch list out of obj, keeping our own reference */
        _cleanup_json_ json_t *ports = json_incref(json_object_get(obj, "_ports"));
        if (!ports)
                return 0;
        json_object_del(obj, "_ports");
        size_t k = 0, item = 0;
        json_t *p;
        json_array_foreach(ports, k, p) {
                /* position of the k-th port block */
                const struct hcl_item *pi = it;
                while (item < it->body->n &&
                       !(it->body->items[item].is_block && strcmp(it->body->items[item].name, "port") == 0))
                        item++;
                if (item < it->body->n)
                        pi = &it->body->items[item++];
                const char *label = jx_str(p, "Label", "");
                if (!port_label_ok(label))
                        return js_fail(c, pi->line, pi->col, path,
                                       "port \"%s\": Port label does not conform to naming requirements "
                                       "^[a-zA-Z0-9_]+$",
                                       label);
                for (size_t j = 0; j < k; j++)
                        if (strcasecmp(label, jx_str(json_array_get(ports, j), "Label", "")) == 0)
                                return js_fail(c, pi->line, pi->col, path, "found a port label collision: %s", label);
                json_t *st = json_object_get(p, "_static");
                const char *key = st ? "ReservedPorts" : "DynamicPorts";
                json_t *v = st ? json_incref(st) : json_integer(0);
                json_object_del(p, "_static");
                if (!v || json_object_set_new(p, "Value", v) < 0)
                        return js_oom(c);
                json_t *l = json_object_get(obj, key);
                if (!l) {
                        l = json_array();
                        if (!l || json_object_set_new(obj, key, l) < 0)
                                return js_oom(c);
                }
                if (json_array_append(l, p) < 0)
                        return js_oom(c);
        }
        return 0;
}

/* task: an identity without a name is the default Identity; named ones go to Identities. */
int js_post_task(const struct js_ctx *c, json_t *obj, const struct hcl_item *it, const char *path) {
        _cleanup_json_ json_t *ids = json_incref(json_object_get(obj, "_identity"));
        if (!ids)
                return 0;
        json_object_del(obj, "_identity");
        size_t k;
        json_t *id;
        json_array_foreach(ids, k, id) {
                const char *name = jx_str(id, "Name", "");
                if (!*name || strcmp(name, "default") == 0) {
                        if (json_object_get(obj, "Identity"))
                                return js_fail(c, it->line, it->col, path, "duplicate default identity block");
                        if (json_object_set(obj, "Identity", id) < 0)
                                return js_oom(c);
                        continue;
                }
                json_t *l = json_object_get(obj, "Identities");
                if (!l) {
                        l = json_array();
                        if (!l || json_object_set_new(obj, "Identities", l) < 0)
                                return js_oom(c);
                }
                if (json_array_append(l, id) < 0)
                        return js_oom(c);
        }
        return 0;
}

int js_post_periodic(const struct js_ctx *c, json_t *obj, const struct hcl_item *it, const char *path) {
        if (!json_object_get(obj, "SpecType"))
                return set_str(c, obj, "SpecType", "cron");
        return 0;
}

int js_post_group_scaling(const struct js_ctx *c, json_t *obj, const struct hcl_item *it, const char *path) {
        if (!json_object_get(obj, "Type"))
                return set_str(c, obj, "Type", "horizontal");
        return 0;
}

int js_post_task_scaling(const struct js_ctx *c, json_t *obj, const struct hcl_item *it, const char *path) {
        const char *label = it->n_labels ? it->labels[0] : "";
        if (strcmp(label, "cpu") != 0 && strcmp(label, "mem") != 0)
                return js_fail(c, it->line, it->col, path, "expected scaling label \"cpu\" or \"mem\", found \"%s\"",
                               label);
        char type[32];
        snprintf(type, sizeof(type), "vertical_%s", label);
        json_object_del(obj, "_label");
        return set_str(c, obj, "Type", type);
}

/* job: tasks written directly under the job become groups of their own, listed first. */
static int js_post_job(const struct js_ctx *c, json_t *obj, const struct hcl_item *it, const char *path) {
        _cleanup_json_ json_t *tasks = json_incref(json_object_get(obj, "_tasks"));
        if (!tasks)
                return 0;
        json_object_del(obj, "_tasks");
        json_t *groups = json_object_get(obj, "TaskGroups");
        if (!groups) {
                groups = json_array();
                if (!groups || json_object_set_new(obj, "TaskGroups", groups) < 0)
                        return js_oom(c);
        }
        size_t k;
        json_t *t;
        json_array_foreach(tasks, k, t) {
                json_t *g = json_pack("{s:O?,s:[O]}", "Name", json_object_get(t, "Name"), "Tasks", t);
                if (!g || json_array_insert_new(groups, k, g) < 0)
                        return js_oom(c);
        }
        return 0;
}

/* ---- entry points ---------------------------------------------------------------------- */

static int parse_json(const char *src, size_t len, const char *filename, json_t **ret_job, struct error *err) {
        json_error_t je;
        _cleanup_json_ json_t *root = json_loadb(src, len, 0, &je);
        if (!root)
                return errorf(err, -EINVAL, "%s:%d:%d: %s", filename, je.line, je.column, je.text);
        if (!json_is_object(root))
                return errorf(err, -EINVAL, "%s:1:1: expected a JSON object", filename);
        json_t *job = json_object_get(root, "Job");
        if (job) {
                if (!json_is_object(job))
                        return errorf(err, -EINVAL, "%s: \"Job\": expected an object", filename);
                *ret_job = json_incref(job);
                return 0;
        }
        *ret_job = TAKE_PTR(root);
        return 0;
}

int jobspec_parse_opts(const char *src, size_t len, const char *filename, const struct jobspec_opts *opts,
                       json_t **ret_job, struct error *err) {
        if (!filename)
                filename = "<input>";
        if (!src)
                return errorf(err, -EINVAL, "%s: no input", filename);
        if (len > LIMIT_JOBSPEC_SIZE) /* the server's body limit: a larger job could not be sent */
                return errorf(err, -EFBIG, "%s: job file larger than %d bytes (%zu)", filename, LIMIT_JOBSPEC_SIZE, len);
        size_t k = 0;
        while (k < len && isspace((unsigned char)src[k]))
                k++;
        if (k < len && src[k] == '{')
                return parse_json(src, len, filename, ret_job, err);

        _cleanup_(hcl_body_freep) struct hcl_body *body = NULL;
        int r = hcl_parse(src, len, filename, &body, err);
        if (r < 0)
                return r;
        struct js_ctx c = {.file = filename, .err = err};
        struct hcl_item *job = NULL;
        for (size_t i = 0; i < body->n; i++) {
                struct hcl_item *it = &body->items[i];
                if (it->is_block && strcmp(it->name, "job") == 0) {
                        if (job)
                                return js_fail(&c, it->line, it->col, NULL,
                                               "expected one job block, found a second (first at line %d)", job->line);
                        if (it->n_labels != 1)
                                return js_fail(&c, it->line, it->col, NULL,
                                               "expected one label (the job ID) on the job block, found %zu",
                                               it->n_labels);
                        job = it;
                } else if (!(it->is_block && (strcmp(it->name, "variable") == 0 || strcmp(it->name, "locals") == 0))) {
                        return js_fail(&c, it->line, it->col, NULL,
                                       "expected a job, variable or locals block, found %s \"%s\"",
                                       it->is_block ? "block" : "argument", it->name);
                }
        }
        if (!job)
                return errorf(err, -EINVAL, "%s:1:1: expected a job block, found none", filename);

        _cleanup_(hcl_eval_freep) struct hcl_eval *ev = NULL;
        if ((r = hcl_eval_create(filename, opts ? opts->dir : NULL, &ev, err)) < 0 ||
            (r = jobspec_vars_setup(ev, body, filename, opts, err)) < 0 || (r = hcl_eval_all_locals(ev, err)) < 0 ||
            (r = hcl_eval_body(ev, job->body, err)) < 0)
                return r;

        _cleanup_json_ json_t *obj = json_pack("{s:s,s:s}", "ID", job->labels[0], "Name", job->labels[0]);
        if (!obj)
                return js_oom(&c);
        char path[PATH_MAX_LEN];
        snprintf(path, sizeof(path), "job \"%.80s\"", job->labels[0]);
        c.job_path = path;
        /* Paths inside the job start at the group ("group \"g\", task \"t\": ..."); errors in
         * the job's own attributes fall back to the job path. */
        r = js_decode_body(&c, &js_schema_job, job->body, "", obj);
        if (r < 0)
                return r;
        r = js_post_job(&c, obj, job, path);
        if (r < 0)
                return r;
        *ret_job = TAKE_PTR(obj);
        return 0;
}

int jobspec_parse(const char *src, size_t len, const char *filename, json_t **ret_job, struct error *err) {
        return jobspec_parse_opts(src, len, filename, NULL, ret_job, err);
}

int jobspec_parse_file(const char *path, json_t **ret_job, struct error *err) {
        return jobspec_parse_file_opts(path, NULL, ret_job, err);
}

int jobspec_parse_file_opts(const char *path, const struct jobspec_opts *opts, json_t **ret_job, struct error *err) {
        _cleanup_fclose_ FILE *f = fopen(path, "re");
        if (!f)
                return errorf(err, -errno, "open '%s': %s", path, strerror(errno));
        _cleanup_free_ char *data = NULL;
        size_t len = 0, cap = 0;
        for (;;) {
                if (len + 4096 > cap) {
                        cap = cap ? cap * 2 : 8192;
                        if (len > LIMIT_JOBSPEC_SIZE) /* stop reading: jobspec_parse refuses it */
                                return errorf(err, -EFBIG, "'%s': job file larger than %d bytes", path,
                                              LIMIT_JOBSPEC_SIZE);
                        char *n = realloc(data, cap);
                        if (!n)
                                return errorf(err, -ENOMEM, "'%s': out of memory", path);
                        data = n;
                }
                size_t got = fread(data + len, 1, cap - len, f);
                len += got;
                if (got == 0) {
                        if (ferror(f))
                                return errorf(err, -EIO, "read '%s'", path);
                        break;
                }
        }
        const char *base = strrchr(path, '/');
        struct jobspec_opts o = opts ? *opts : (struct jobspec_opts){0};
        _cleanup_free_ char *dir = base ? strndup(path, (size_t)(base - path)) : strdup(".");
        if (!dir)
                return errorf(err, -ENOMEM, "out of memory");
        if (!o.dir)
                o.dir = *dir ? dir : "/";
        return jobspec_parse_opts(data ? data : "", len, base ? base + 1 : path, &o, ret_job, err);
}
