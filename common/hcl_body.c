/* hcl_body.c - evaluate whole bodies in place, expand dynamic blocks, convert values to type
 * constraints (see hcl_eval.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/hcl.h"
#include "common/hcl_eval.h"
#include "common/hcl_eval_int.h"
#include "common/hcl_expr.h"
#include "common/macros.h"

/* ---- type constraints ------------------------------------------------------------------ */

static void type_text(const struct hn *t, char *out, size_t sz) {
        if (t->kind == HN_REF) {
                snprintf(out, sz, "%s", t->name);
        } else if (t->kind == HN_CALL && t->n == 1) {
                char inner[96];
                type_text(t->kids[0], inner, sizeof(inner));
                snprintf(out, sz, "%s(%s)", t->name, inner);
        } else if (t->kind == HN_OBJECT) {
                snprintf(out, sz, "{...}");
        } else if (t->kind == HN_TUPLE) {
                snprintf(out, sz, "[...]");
        } else {
                snprintf(out, sz, "?");
        }
}

static int convert(struct hcl_eval *ev, const struct hn *t, const struct hn *at, json_t *v, const char *what,
                   json_t **ret, int depth);

static int mismatch(struct hcl_eval *ev, const struct hn *t, const struct hn *at, json_t *v, const char *what) {
        char tt[120];
        type_text(t, tt, sizeof(tt));
        return hev_fail(ev, at, "%s: expected a value of type %s, found %s", what, tt, hev_type(v));
}

static int convert_elems(struct hcl_eval *ev, const struct hn *et, const struct hn *t, const struct hn *at, json_t *v,
                         const char *what, bool object, json_t **ret, int depth) {
        _cleanup_json_ json_t *out = object ? json_object() : json_array();
        if (!out)
                return hev_oom(ev);
        int r;
        if (object) {
                if (!json_is_object(v) || hcl_eval_is_runtime(v))
                        return mismatch(ev, t, at, v, what);
                const char *k;
                json_t *e;
                json_object_foreach(v, k, e) {
                        json_t *c = NULL;
                        if ((r = convert(ev, et, at, e, what, &c, depth + 1)) < 0)
                                return r;
                        if (json_object_set_new(out, k, c) < 0)
                                return hev_oom(ev);
                }
        } else {
                if (!json_is_array(v))
                        return mismatch(ev, t, at, v, what);
                for (size_t i = 0; i < json_array_size(v); i++) {
                        json_t *c = NULL;
                        if ((r = convert(ev, et, at, json_array_get(v, i), what, &c, depth + 1)) < 0)
                                return r;
                        bool dup = false;
                        if (strcmp(t->name, "set") == 0)
                                for (size_t j = 0; !dup && j < json_array_size(out); j++)
                                        dup = json_equal(json_array_get(out, j), c);
                        if (dup) {
                                json_decref(c);
                                continue;
                        }
                        if (json_array_append_new(out, c) < 0)
                                return hev_oom(ev);
                }
        }
        *ret = TAKE_PTR(out);
        return 0;
}

static int convert(struct hcl_eval *ev, const struct hn *t, const struct hn *at, json_t *v, const char *what,
                   json_t **ret, int depth) {
        int r;
        if (depth > HCL_EXPR_MAX_DEPTH)
                return hev_fail(ev, at, "%s: value nested too deeply for its type", what);
        if ((r = hev_charge(ev, at, 1, 0)) < 0)
                return r;
        if (json_is_null(v)) {
                *ret = json_null();
                return 0;
        }
        if (t->kind == HN_REF) {
                if (strcmp(t->name, "any") == 0) {
                        *ret = json_incref(v);
                        return 0;
                }
                if (strcmp(t->name, "string") == 0) {
                        if (!json_is_string(v) && !json_is_number(v) && !json_is_boolean(v))
                                return mismatch(ev, t, at, v, what);
                        _cleanup_free_ char *s = NULL;
                        size_t n = 0;
                        if ((r = hev_to_string(ev, at, v, &s, &n)) < 0)
                                return r;
                        return hev_string(ev, at, s, n, ret);
                }
                if (strcmp(t->name, "number") == 0) {
                        double d = 0;
                        if ((!json_is_number(v) && !json_is_string(v)) || hev_to_number(ev, at, v, &d) < 0)
                                return mismatch(ev, t, at, v, what);
                        *ret = hev_num(d);
                        return *ret ? 0 : hev_oom(ev);
                }
                if (strcmp(t->name, "bool") == 0) {
                        bool b = false;
                        if (hev_to_bool(ev, at, v, &b) < 0)
                                return mismatch(ev, t, at, v, what);
                        *ret = json_boolean(b);
                        return 0;
                }
        } else if (t->kind == HN_CALL && t->n == 1 && !t->expand) {
                if (strcmp(t->name, "list") == 0 || strcmp(t->name, "set") == 0)
                        return convert_elems(ev, t->kids[0], t, at, v, what, false, ret, depth);
                if (strcmp(t->name, "map") == 0)
                        return convert_elems(ev, t->kids[0], t, at, v, what, true, ret, depth);
                if (strcmp(t->name, "object") == 0 && t->kids[0]->kind == HN_OBJECT) {
                        const struct hn *o = t->kids[0];
                        if (!json_is_object(v) || hcl_eval_is_runtime(v))
                                return mismatch(ev, t, at, v, what);
                        _cleanup_json_ json_t *out = json_object();
                        if (!out)
                                return hev_oom(ev);
                        for (size_t k = 0; k + 1 < o->n; k += 2) {
                                const char *name = json_string_value(o->kids[k]->lit);
                                if (!name)
                                        return hev_fail(ev, o->kids[k], "%s: expected attribute names in object({...})",
                                                        what);
                                json_t *e = json_object_get(v, name);
                                if (!e)
                                        return hev_fail(ev, at, "%s: attribute \"%s\" is required", what, name);
                                json_t *c = NULL;
                                if ((r = convert(ev, o->kids[k + 1], at, e, what, &c, depth + 1)) < 0)
                                        return r;
                                if (json_object_set_new(out, name, c) < 0)
                                        return hev_oom(ev);
                        }
                        *ret = TAKE_PTR(out);
                        return 0;
                }
                if (strcmp(t->name, "tuple") == 0 && t->kids[0]->kind == HN_TUPLE) {
                        const struct hn *tu = t->kids[0];
                        if (!json_is_array(v) || json_array_size(v) != tu->n)
                                return mismatch(ev, t, at, v, what);
                        _cleanup_json_ json_t *out = json_array();
                        if (!out)
                                return hev_oom(ev);
                        for (size_t k = 0; k < tu->n; k++) {
                                json_t *c = NULL;
                                if ((r = convert(ev, tu->kids[k], at, json_array_get(v, k), what, &c, depth + 1)) < 0)
                                        return r;
                                if (json_array_append_new(out, c) < 0)
                                        return hev_oom(ev);
                        }
                        *ret = TAKE_PTR(out);
                        return 0;
                }
        }
        char tt[120];
        type_text(t, tt, sizeof(tt));
        return hev_fail(ev, t,
                        "%s: unknown type %s (expected string, number, bool, any, list(T), set(T), map(T), "
                        "object({...}) or tuple([...]))",
                        what, tt);
}

int hcl_eval_convert(struct hcl_eval *ev, const struct hcl_value *type_expr, json_t *value, const char *what, int line,
                     int col, json_t **ret, struct error *err) {
        hev_begin(ev, err);
        if (!type_expr) {
                *ret = json_incref(value);
                return 0;
        }
        if (type_expr->kind != HCL_EXPR)
                return errorf(err, -EINVAL, "%s:%d:%d: %s: expected a type such as string or list(string), found %s",
                              hev_file(ev), type_expr->line, type_expr->col, what, hcl_kind_name(type_expr->kind));
        _cleanup_(hn_freep) struct hn *t = NULL;
        int r = hcl_expr_parse(type_expr->str, strlen(type_expr->str), HCL_TEXT_EXPR, hev_file(ev), type_expr->line,
                               type_expr->col, &t, err);
        if (r < 0)
                return r;
        struct hn at = {.line = line, .col = col};
        return convert(ev, t, &at, value, what, ret, 0);
}

/* ---- copies ---------------------------------------------------------------------------- */

static struct hcl_value *value_copy(const struct hcl_value *v) {
        struct hcl_value *c = calloc(1, sizeof(*c));
        if (!c)
                return NULL;
        *c = *v;
        c->str = NULL;
        c->tmpl = NULL;
        c->items = NULL;
        c->keys = NULL;
        c->n = 0;
        if ((v->str && !(c->str = strdup(v->str))) || (v->tmpl && !(c->tmpl = strdup(v->tmpl))))
                return hcl_value_free(c);
        if (v->n) {
                c->items = calloc(v->n, sizeof(*c->items));
                if (!c->items || (v->keys && !(c->keys = calloc(v->n, sizeof(*c->keys)))))
                        return hcl_value_free(c);
                for (size_t k = 0; k < v->n; k++) {
                        if (v->keys && !(c->keys[k] = strdup(v->keys[k])))
                                return hcl_value_free(c);
                        if (!(c->items[k] = value_copy(v->items[k]))) {
                                free(c->keys ? c->keys[k] : NULL);
                                return hcl_value_free(c);
                        }
                        c->n++;
                }
        }
        return c;
}

static struct hcl_body *body_copy(const struct hcl_body *b);

static int item_copy(const struct hcl_item *it, struct hcl_item *c) {
        *c = (struct hcl_item){.is_block = it->is_block, .line = it->line, .col = it->col};
        if (!(c->name = strdup(it->name)))
                return -ENOMEM;
        if (it->value && !(c->value = value_copy(it->value)))
                return -ENOMEM;
        if (it->n_labels) {
                if (!(c->labels = calloc(it->n_labels, sizeof(*c->labels))))
                        return -ENOMEM;
                for (size_t k = 0; k < it->n_labels; k++) {
                        if (!(c->labels[k] = strdup(it->labels[k])))
                                return -ENOMEM;
                        c->n_labels++;
                }
        }
        if (it->body && !(c->body = body_copy(it->body)))
                return -ENOMEM;
        return 0;
}

static struct hcl_body *body_copy(const struct hcl_body *b) {
        struct hcl_body *c = calloc(1, sizeof(*c));
        if (!c)
                return NULL;
        c->line = b->line;
        c->col = b->col;
        if (b->n && !(c->items = calloc(b->n, sizeof(*c->items))))
                return hcl_body_free(c);
        for (size_t k = 0; k < b->n; k++) {
                int r = item_copy(&b->items[k], &c->items[k]);
                c->n++;
                if (r < 0)
                        return hcl_body_free(c);
        }
        return c;
}

/* ---- bodies ---------------------------------------------------------------------------- */

struct items {
        struct hcl_item *v;
        size_t n, cap;
};

static void items_clear(struct items *l) {
        for (size_t k = 0; k < l->n; k++)
                hcl_item_clear(&l->v[k]);
        free(l->v);
        l->v = NULL;
        l->n = l->cap = 0;
}

/* Move *it into l (it is zeroed). */
static int items_push(struct hcl_eval *ev, struct items *l, struct hcl_item *it) {
        if (l->n == l->cap) {
                size_t cap = l->cap ? l->cap * 2 : 8;
                struct hcl_item *v = realloc(l->v, cap * sizeof(*v));
                if (!v)
                        return hev_oom(ev);
                l->v = v;
                l->cap = cap;
        }
        l->v[l->n++] = *it;
        *it = (struct hcl_item){0};
        return 0;
}

static int body_eval(struct hcl_eval *ev, struct hcl_body *b, int depth);

struct dyn {
        const struct hcl_item *it;
        const char *iter;
        const struct hcl_value *labels;
        const struct hcl_body *content;
        struct items *out;
        int depth;
};

static int dyn_one(struct hcl_eval *ev, const struct hn *at, struct dyn *d, json_t *key, json_t *val) {
        _cleanup_json_ json_t *obj = json_pack("{s:O,s:O}", "key", key, "value", val);
        if (!obj)
                return hev_oom(ev);
        int r = hev_scope_push(ev, at, d->iter, obj);
        if (r < 0)
                return r;
        struct hcl_item gen = {.is_block = true, .line = d->it->line, .col = d->it->col};
        _cleanup_json_ json_t *labels = NULL;
        if (d->labels) {
                if ((r = hev_value(ev, d->labels, &labels)) < 0)
                        goto out;
                if (!json_is_array(labels) || json_array_size(labels) > 8) {
                        r = hev_fail(ev, at, "dynamic \"%s\": labels: expected a list of at most 8 strings",
                                     d->it->labels[0]);
                        goto out;
                }
                if (!(gen.labels = calloc(json_array_size(labels) + 1, sizeof(*gen.labels)))) {
                        r = hev_oom(ev);
                        goto out;
                }
                for (size_t k = 0; k < json_array_size(labels); k++) {
                        size_t n = 0;
                        if ((r = hev_to_string(ev, at, json_array_get(labels, k), &gen.labels[k], &n)) < 0)
                                goto out;
                        gen.n_labels++;
                }
        }
        if (!(gen.name = strdup(d->it->labels[0])) || !(gen.body = body_copy(d->content))) {
                r = hev_oom(ev);
                goto out;
        }
        if ((r = body_eval(ev, gen.body, d->depth + 1)) < 0)
                goto out;
        r = items_push(ev, d->out, &gen);
out:
        hcl_item_clear(&gen);
        hev_scope_pop(ev);
        return r;
}

static int expand_dynamic(struct hcl_eval *ev, const struct hcl_item *it, struct items *out, int depth) {
        struct hn at = {.line = it->line, .col = it->col};
        if (it->n_labels != 1)
                return hev_fail(ev, &at,
                                "dynamic block: expected one label (the type of the blocks to generate), "
                                "found %zu",
                                it->n_labels);
        struct dyn d = {.it = it, .iter = it->labels[0], .out = out, .depth = depth};
        const struct hcl_value *for_each = NULL;
        for (size_t k = 0; k < it->body->n; k++) {
                const struct hcl_item *e = &it->body->items[k];
                struct hn eat = {.line = e->line, .col = e->col};
                if (!e->is_block && strcmp(e->name, "for_each") == 0) {
                        for_each = e->value;
                } else if (!e->is_block && strcmp(e->name, "labels") == 0) {
                        d.labels = e->value;
                } else if (!e->is_block && strcmp(e->name, "iterator") == 0) {
                        if (e->value->kind != HCL_EXPR || hcl_runtime_root(e->value->str, strlen(e->value->str)) ||
                            strspn(e->value->str, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") !=
                                strlen(e->value->str))
                                return hev_fail(ev, &eat, "dynamic \"%s\": iterator: expected a name", it->labels[0]);
                        d.iter = e->value->str;
                } else if (e->is_block && strcmp(e->name, "content") == 0 && e->n_labels == 0) {
                        if (d.content)
                                return hev_fail(ev, &eat, "dynamic \"%s\": expected one content block, found a second",
                                                it->labels[0]);
                        d.content = e->body;
                } else {
                        return hev_fail(ev, &eat,
                                        "dynamic \"%s\": unsupported %s \"%s\" (expected for_each, iterator, "
                                        "labels and a content block)",
                                        it->labels[0], e->is_block ? "block" : "argument", e->name);
                }
        }
        if (!for_each)
                return hev_fail(ev, &at, "dynamic \"%s\": expected a for_each argument", it->labels[0]);
        if (!d.content)
                return hev_fail(ev, &at, "dynamic \"%s\": expected a content block", it->labels[0]);
        _cleanup_json_ json_t *coll = NULL;
        int r = hev_value(ev, for_each, &coll);
        if (r < 0)
                return r;
        struct hn fat = {.line = for_each->line, .col = for_each->col};
        if (json_is_array(coll)) {
                for (size_t k = 0; k < json_array_size(coll); k++) {
                        _cleanup_json_ json_t *key = json_integer((json_int_t)k);
                        if (!key)
                                return hev_oom(ev);
                        if ((r = hev_charge(ev, &fat, 16, 0)) < 0 ||
                            (r = dyn_one(ev, &fat, &d, key, json_array_get(coll, k))) < 0)
                                return r;
                }
                return 0;
        }
        if (!json_is_object(coll) || hcl_eval_is_runtime(coll))
                return hev_fail(ev, &fat, "dynamic \"%s\": for_each: expected a list or a map, found %s", it->labels[0],
                                hev_type(coll));
        _cleanup_free_ const char **keys = NULL;
        size_t nk = 0;
        if ((r = hev_sorted_keys(ev, coll, &keys, &nk)) < 0)
                return r;
        for (size_t k = 0; k < nk; k++) {
                _cleanup_json_ json_t *key = json_string(keys[k]);
                if (!key)
                        return hev_oom(ev);
                if ((r = hev_charge(ev, &fat, 16, 0)) < 0 ||
                    (r = dyn_one(ev, &fat, &d, key, json_object_get(coll, keys[k]))) < 0)
                        return r;
        }
        return 0;
}

static int body_eval(struct hcl_eval *ev, struct hcl_body *b, int depth) {
        struct hn bat = {.line = b->line, .col = b->col};
        if (depth > HCL_MAX_DEPTH)
                return hev_fail(ev, &bat, "expected at most %d levels of nested blocks", HCL_MAX_DEPTH);
        struct items out = {0};
        int r = 0;
        for (size_t k = 0; k < b->n; k++) {
                struct hcl_item *it = &b->items[k];
                if (!it->is_block) {
                        json_t *v = NULL;
                        size_t size = 0;
                        struct hn vat = {.line = it->value->line, .col = it->value->col};
                        if ((r = hev_value(ev, it->value, &v)) < 0)
                                goto fail;
                        /* the copy below unshares what the value shares: charge it */
                        if ((r = hev_measure(ev, &vat, v, HCL_EVAL_MAX_BYTES, &size)) < 0 ||
                            (r = hev_charge(ev, &vat, 0, size)) < 0) {
                                json_decref(v);
                                goto fail;
                        }
                        struct hcl_value *lit = hcl_value_from_json(v, it->value->line, it->value->col);
                        json_decref(v);
                        if (!lit) {
                                r = hev_fail(ev, &bat, "value too large or nested too deeply");
                                goto fail;
                        }
                        hcl_value_free(it->value);
                        it->value = lit;
                } else if (strcmp(it->name, "dynamic") == 0) {
                        if ((r = expand_dynamic(ev, it, &out, depth)) < 0)
                                goto fail;
                        hcl_item_clear(it);
                        *it = (struct hcl_item){0};
                        continue;
                } else if ((r = body_eval(ev, it->body, depth + 1)) < 0) {
                        goto fail;
                }
                if ((r = items_push(ev, &out, it)) < 0)
                        goto fail;
        }
        free(b->items);
        b->items = out.v;
        b->n = out.n;
        return 0;
fail:
        items_clear(&out);
        return r;
}

int hcl_eval_body(struct hcl_eval *ev, struct hcl_body *body, struct error *err) {
        hev_begin(ev, err);
        return body_eval(ev, body, 0);
}
