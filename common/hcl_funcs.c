/* hcl_funcs.c - the HCL2 function library Nomad job files use (a table, looked up by name).
 *
 * Families: string (hcl_funcs_str.c), collection, numeric, encoding, type conversion,
 * filesystem (file(), relative to the job file's directory; basename, dirname), datetime
 * (hcl_funcs_time.c). Every result is bounded (HCL_EVAL_MAX_STRING, HCL_EVAL_MAX_ITEMS).
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/error.h"
#include "common/hcl_eval.h"
#include "common/hcl_eval_int.h"
#include "common/hcl_expr.h"
#include "common/hcl_funcs.h"
#include "common/macros.h"

typedef int (*fn_t)(struct hcl_eval *ev, const struct hn *at, json_t **a, size_t n, json_t **ret);

/* ---- helpers --------------------------------------------------------------------------- */

int hf_arg_str(struct hcl_eval *ev, const struct hn *at, json_t *v, char **ret, size_t *len) {
        return hev_to_string(ev, at, v, ret, len);
}

int hf_arg_num(struct hcl_eval *ev, const struct hn *at, json_t *v, double *ret) {
        return hev_to_number(ev, at, v, ret);
}

int hf_arg_int(struct hcl_eval *ev, const struct hn *at, json_t *v, long long *ret) {
        double d = 0;
        int r = hf_arg_num(ev, at, v, &d);
        if (r < 0)
                return r;
        if (d != floor(d) || fabs(d) > 9007199254740992.0)
                return hev_fail(ev, at, "expected a whole number, found %g", d);
        *ret = (long long)d;
        return 0;
}

int hf_arg_list(struct hcl_eval *ev, const struct hn *at, json_t *v, const char *fname) {
        if (!json_is_array(v))
                return hev_fail(ev, at, "%s: expected a list, found %s", fname, hev_type(v));
        return 0;
}

int hf_arg_map(struct hcl_eval *ev, const struct hn *at, json_t *v, const char *fname) {
        if (!json_is_object(v) || hcl_eval_is_runtime(v))
                return hev_fail(ev, at, "%s: expected a map, found %s", fname, hev_type(v));
        return 0;
}

int hf_new_list(struct hcl_eval *ev, json_t **ret) {
        *ret = json_array();
        return *ret ? 0 : hev_oom(ev);
}

int hf_list_add(struct hcl_eval *ev, const struct hn *at, json_t *list, json_t *v /* stolen */) {
        if (!v)
                return hev_oom(ev);
        if (json_array_size(list) >= HCL_EVAL_MAX_ITEMS) {
                json_decref(v);
                return hev_fail(ev, at, "expected at most %u elements, found more", HCL_EVAL_MAX_ITEMS);
        }
        int r = hev_charge(ev, at, 1, 8);
        if (r < 0) {
                json_decref(v);
                return r;
        }
        return json_array_append_new(list, v) < 0 ? hev_oom(ev) : 0;
}

int hf_ret_str(struct hcl_eval *ev, const struct hn *at, const char *s, size_t n, json_t **ret) {
        return hev_string(ev, at, s, n, ret);
}

bool hf_is_cont(unsigned char c) {
        return (c & 0xC0) == 0x80;
}

size_t hf_utf8_count(const char *s, size_t n) {
        size_t c = 0;
        for (size_t k = 0; k < n; k++)
                c += !hf_is_cont((unsigned char)s[k]);
        return c;
}

/* Byte offset of code point number cp (clamped to n). */
size_t hf_utf8_offset(const char *s, size_t n, size_t cp) {
        size_t k = 0;
        while (k < n && cp) {
                k++;
                while (k < n && hf_is_cont((unsigned char)s[k]))
                        k++;
                cp--;
        }
        return k;
}

size_t hf_cp_len_at(const char *s, size_t n, size_t k) {
        size_t l = 1;
        while (k + l < n && hf_is_cont((unsigned char)s[k + l]))
                l++;
        return l;
}

size_t hf_cp_len_before(const char *s, size_t k) {
        size_t l = 1;
        while (l < k && hf_is_cont((unsigned char)s[k - l]))
                l++;
        return l;
}

int hf_sb_put(struct hcl_eval *ev, const struct hn *at, struct hf_sb *b, const char *s, size_t n) {
        if (b->n + n > HCL_EVAL_MAX_STRING)
                return hev_fail(ev, at, "expected a result of at most %u bytes, found more", HCL_EVAL_MAX_STRING);
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

void hf_sb_freep(struct hf_sb *b) {
        free(b->s);
}

int hf_sb_done(struct hcl_eval *ev, const struct hn *at, struct hf_sb *b, json_t **ret) {
        return hf_ret_str(ev, at, b->s ? b->s : "", b->n, ret);
}

/* ---- collections ----------------------------------------------------------------------- */

static int f_length(struct hcl_eval *ev, const struct hn *at, json_t **a, size_t n, json_t **ret) {
        json_t *v = a[0];
        if (json_is_string(v))
                *ret = json_integer((json_int_t)hf_utf8_count(json_string_value(v), json_string_length(v)));
        else if (json_is_array(v))
                *ret = json_integer((json_int_t)json_array_size(v));
        else if (json_is_object(v) && !hcl_eval_is_runtime(v))
                *ret = json_integer((json_int_t)json_object_size(v));
        else
                return hev_fail(ev, at, "length: expected a string, list or map, found %s", hev_type(v));
        return 0;
}

static int f_concat(struct hcl_eval *ev, const struct hn *at, json_t **a, size_t n, json_t **ret) {
        _cleanup_json_ json_t *out = NULL;
        int r = hf_new_list(ev, &out);
        for (size_t k = 0; r == 0 && k < n; k++) {
                if ((r = hf_arg_list(ev, at, a[k], "concat")) < 0)
                        return r;
                for (size_t i = 0; r == 0 && i < json_array_size(a[k]); i++)
                        r = hf_list_add(ev, at, out, json_incref(json_array_get(a[k], i)));
        }
        if (r < 0)
                return r;
        *ret = TAKE_PTR(out);
        return 0;
}

static int f_contains(struct hcl_eval *ev, const struct hn *at, json_t **a, size_t n, json_t **ret) {
        int r = hf_arg_list(ev, at, a[0], "contains");
        if (r < 0)
                return r;
        bool found = false;
        for (size_t i = 0; !found && i < json_array_size(a[0]); i++)
                found = json_equal(json_array_get(a[0], i), a[1]);
        *ret = json_boolean(found);
        return 0;
}

static int f_index(struct hcl_eval *ev, const struct hn *at, json_t **a, size_t n, json_t **ret) {
        int r = hf_arg_list(ev, at, a[0], "index");
        if (r < 0)
                return r;
        for (size_t i = 0; i < json_array_size(a[0]); i++)
                if (json_equal(json_array_get(a[0], i), a[1])) {
                        *ret = json_integer((json_int_t)i);
                        return 0;
                }
        return hev_fail(ev, at, "index: the value is not in the list");
}

static int keys_or_values(struct hcl_eval *ev, const struct hn *at, json_t *m, bool values, json_t **ret) {
        int r = hf_arg_map(ev, at, m, values ? "values" : "keys");
        if (r < 0)
                return r;
        _cleanup_free_ const char **keys = NULL;
        size_t nk = 0;
        _cleanup_json_ json_t *out = NULL;
        if ((r = hev_sorted_keys(ev, m, &keys, &nk)) < 0 || (r = hf_new_list(ev, &out)) < 0)
                return r;
        for (size_t k = 0; k < nk; k++)
                if ((r = hf_list_add(ev, at, out,
                                     values ? json_incref(json_object_get(m, keys[k])) : json_string(keys[k]))) < 0)
                        return r;
        *ret = TAKE_PTR(out);
        return 0;
}

static int f_keys(struct hcl_eval *ev, const struct hn *at, json_t **a, size_t n, json_t **ret) {
        return keys_or_values(ev, at, a[0], false, ret);
}
static int f_values(struct hcl_eval *ev, const struct hn *at, json_t **a, size_t n, json_t **ret) {
        return keys_or_values(ev, at, a[0], true, ret);
}

static int f_lookup(struct hcl_eval *ev, const struct hn *at, json_t **a, size_t n, json_t **ret) {
        _cleanup_free_ char *k = NULL;
        int r;
        if ((r = hf_arg_map(ev, at, a[0], "lookup")) < 0 || (r = hf_arg_str(ev, at, a[1], &k, NULL)) < 0)
                return r;
        json_t *v = json_object_get(a[0], k);
        if (v) {
                *ret = json_incref(v);
                return 0;
        }
        if (n < 3)
                return hev_fail(ev, at, "lookup: the map has no key \"%.60s\" and no default was given", k);
        *ret = json_incref(a[2]);
        return 0;
}

static int f_merge(struct hcl_eval *ev, const struct hn *at, json_t **a, size_t n, json_t **ret) {
        _cleanup_json_ json_t *out = json_object();
        if (!out)
                return hev_oom(ev);
        for (size_t k = 0; k < n; k++) {
                if (json_is_null(a[k]))
                        continue;
                int r = hf_arg_map(ev, at, a[k], "merge");
                if (r < 0 || (r = hev_charge(ev, at, json_object_size(a[k]), 0)) < 0)
                        return r;
                if (json_object_update(out, a[k]) < 0)
                        return hev_oom(ev);
        }
        *ret = TAKE_PTR(out);
        return 0;
}

static int f_element(struct hcl_eval *ev, const struct hn *at, json_t **a, size_t n, json_t **ret) {
        long long i = 0;
        int r;
        if ((r = hf_arg_list(ev, at, a[0], "element")) < 0 || (r = hf_arg_int(ev, at, a[1], &i)) < 0)
                return r;
        size_t len = json_array_size(a[0]);
        if (!len)
                return hev_fail(ev, at, "element: cannot use element on an empty list");
        if (i < 0)
                return hev_fail(ev, at, "element: expected a non-negative index, found %lld", i);
        *ret = json_incref(json_array_get(a[0], (size_t)i % len));
        return 0;
}

static int flatten_into(struct hcl_eval *ev, const struct hn *at, json_t *out, json_t *l, int depth) {
        if (depth > HCL_EXPR_MAX_DEPTH)
                return hev_fail(ev, at, "flatten: lists nested too deeply");
        for (size_t i = 0; i < json_array_size(l); i++) {
                json_t *e = json_array_get(l, i);
                int r = json_is_array(e) ? flatten_into(ev, at, out, e, depth + 1)
                                         : hf_list_add(ev, at, out, json_incref(e));
                if (r < 0)
                        return r;
        }
        return 0;
}

static int f_flatten(struct hcl_eval *ev, const struct hn *at, json_t **a, size_t n, json_t **ret) {
        _cleanup_json_ json_t *out = NULL;
        int r;
        if ((r = hf_arg_list(ev, at, a[0], "flatten")) < 0 || (r = hf_new_list(ev, &out)) < 0 ||
            (r = flatten_into(ev, at, out, a[0], 0)) < 0)
                return r;
        *ret = TAKE_PTR(out);
        return 0;
}

/* Elements of l without repeats, first occurrence kept. Quadratic in the worst case, so the
 * work is charged and bounded by HCL_EVAL_MAX_WORK. */
static int distinct_of(struct hcl_eval *ev, const struct hn *at, json_t *l, json_t **ret) {
        _cleanup_json_ json_t *out = NULL;
        int r = hf_new_list(ev, &out);
        if (r < 0)
                return r;
        for (size_t i = 0; i < json_array_size(l); i++) {
                json_t *e = json_array_get(l, i);
                bool dup = false;
                if ((r = hev_charge(ev, at, json_array_size(out) / 8 + 1, 0)) < 0)
                        return r;
                for (size_t j = 0; !dup && j < json_array_size(out); j++)
                        dup = json_equal(json_array_get(out, j), e);
                if (!dup && (r = hf_list_add(ev, at, out, json_incref(e))) < 0)
                        return r;
        }
        *ret = TAKE_PTR(out);
        return 0;
}

static int f_distinct(struct hcl_eval *ev, const struct hn *at, json_t **a, size_t n, json_t **ret) {
        int r = hf_arg_list(ev, at, a[0], "distinct");
        return r < 0 ? r : distinct_of(ev, at, a[0], ret);
}

static int f_range(struct hcl_eval *ev, const struct hn *at, json_t **a, size_t n, json_t **ret) {
        double start = 0, limit = 0, step = 1;
        int r;
        if (n == 1)
                r = hf_arg_num(ev, at, a[0], &limit);
        else if ((r = hf_arg_num(ev, at, a[0], &start)) == 0 && (r = hf_arg_num(ev, at, a[1], &limit)) == 0 && n == 3)
                r = hf_arg_num(ev, at, a[2], &step);
        if (r < 0)
                return r;
        if (n < 3 && limit < start)
                step = -1;
        if (step == 0)
                return hev_fail(ev, at, "range: step must not be zero");
        if ((limit - start) / step > HCL_EVAL_MAX_ITEMS)
                return hev_fail(ev, at, "range: expected at most %u elements, found %.0f", HCL_EVAL_MAX_ITEMS,
                                ceil((limit - start) / step));
        _cleanup_json_ json_t *out = NULL;
        if ((r = hf_new_list(ev, &out)) < 0)
                return r;
        for (size_t i = 0;; i++) {
                double v = start + step * (double)i;
                if (step > 0 ? v >= limit : v <= limit)
                        break;
                if ((r = hf_list_add(ev, at, out, hev_num(v))) < 0)
                        return r;
        }
        *ret = TAKE_PTR(out);
        return 0;
}

static int f_slice(struct hcl_eval *ev, const struct hn *at, json_t **a, size_t n, json_t **ret) {
        long long s = 0, e = 0;
        int r;
        if ((r = hf_arg_list(ev, at, a[0], "slice")) < 0 || (r = hf_arg_int(ev, at, a[1], &s)) < 0 ||
            (r = hf_arg_int(ev, at, a[2], &e)) < 0)
                return r;
        long long len = (long long)json_array_size(a[0]);
        if (s < 0 || e > len || s > e)
                return hev_fail(ev, at, "slice: expected 0 <= start <= end <= %lld, found %lld and %lld", len, s, e);
        _cleanup_json_ json_t *out = NULL;
        if ((r = hf_new_list(ev, &out)) < 0)
                return r;
        for (long long i = s; i < e; i++)
                if ((r = hf_list_add(ev, at, out, json_incref(json_array_get(a[0], (size_t)i)))) < 0)
                        return r;
        *ret = TAKE_PTR(out);
        return 0;
}

static int cmp_json_str(const void *x, const void *y) {
        return strcmp(json_string_value(*(json_t *const *)x), json_string_value(*(json_t *const *)y));
}

/* A new list of l's elements as strings, sorted bytewise. */
static int sorted_strings(struct hcl_eval *ev, const struct hn *at, json_t *l, json_t **ret) {
        size_t len = json_array_size(l);
        _cleanup_free_ json_t **v = calloc(len ? len : 1, sizeof(*v));
        if (!v)
                return hev_oom(ev);
        int r = 0;
        size_t k = 0;
        for (; k < len; k++) {
                _cleanup_free_ char *s = NULL;
                size_t sn = 0;
                if ((r = hf_arg_str(ev, at, json_array_get(l, k), &s, &sn)) < 0)
                        break;
                if (!(v[k] = json_stringn(s, sn))) {
                        r = hev_oom(ev);
                        break;
                }
        }
        if (r == 0)
                r = hev_charge(ev, at, len * 4, 0);
        if (r == 0)
                qsort(v, len, sizeof(*v), cmp_json_str);
        _cleanup_json_ json_t *out = NULL;
        if (r == 0)
                r = hf_new_list(ev, &out);
        for (size_t i = 0; i < k; i++) {
                if (r == 0)
                        r = hf_list_add(ev, at, out, v[i]);
                else
                        json_decref(v[i]);
        }
        if (r < 0)
                return r;
        *ret = TAKE_PTR(out);
        return 0;
}

static int f_sort(struct hcl_eval *ev, const struct hn *at, json_t **a, size_t n, json_t **ret) {
        int r = hf_arg_list(ev, at, a[0], "sort");
        return r < 0 ? r : sorted_strings(ev, at, a[0], ret);
}

static int f_reverse(struct hcl_eval *ev, const struct hn *at, json_t **a, size_t n, json_t **ret) {
        _cleanup_json_ json_t *out = NULL;
        int r;
        if ((r = hf_arg_list(ev, at, a[0], "reverse")) < 0 || (r = hf_new_list(ev, &out)) < 0)
                return r;
        for (size_t i = json_array_size(a[0]); i-- > 0;)
                if ((r = hf_list_add(ev, at, out, json_incref(json_array_get(a[0], i)))) < 0)
                        return r;
        *ret = TAKE_PTR(out);
        return 0;
}

static int f_zipmap(struct hcl_eval *ev, const struct hn *at, json_t **a, size_t n, json_t **ret) {
        int r;
        if ((r = hf_arg_list(ev, at, a[0], "zipmap")) < 0 || (r = hf_arg_list(ev, at, a[1], "zipmap")) < 0)
                return r;
        if (json_array_size(a[0]) != json_array_size(a[1]))
                return hev_fail(ev, at, "zipmap: expected lists of the same length, found %zu keys and %zu values",
                                json_array_size(a[0]), json_array_size(a[1]));
        _cleanup_json_ json_t *out = json_object();
        if (!out)
                return hev_oom(ev);
        for (size_t i = 0; i < json_array_size(a[0]); i++) {
                _cleanup_free_ char *k = NULL;
                if ((r = hf_arg_str(ev, at, json_array_get(a[0], i), &k, NULL)) < 0 ||
                    (r = hev_charge(ev, at, 1, 8)) < 0)
                        return r;
                if (json_object_set(out, k, json_array_get(a[1], i)) < 0)
                        return hev_oom(ev);
        }
        *ret = TAKE_PTR(out);
        return 0;
}

static bool empty_value(const json_t *v) {
        return json_is_null(v) || (json_is_string(v) && json_string_length(v) == 0);
}

static int f_coalesce(struct hcl_eval *ev, const struct hn *at, json_t **a, size_t n, json_t **ret) {
        for (size_t k = 0; k < n; k++)
                if (!empty_value(a[k])) {
                        *ret = json_incref(a[k]);
                        return 0;
                }
        return hev_fail(ev, at, "coalesce: no non-null, non-empty argument");
}

static int f_compact(struct hcl_eval *ev, const struct hn *at, json_t **a, size_t n, json_t **ret) {
        _cleanup_json_ json_t *out = NULL;
        int r;
        if ((r = hf_arg_list(ev, at, a[0], "compact")) < 0 || (r = hf_new_list(ev, &out)) < 0)
                return r;
        for (size_t i = 0; i < json_array_size(a[0]); i++) {
                json_t *e = json_array_get(a[0], i);
                if (!empty_value(e) && (r = hf_list_add(ev, at, out, json_incref(e))) < 0)
                        return r;
        }
        *ret = TAKE_PTR(out);
        return 0;
}

static int f_sum(struct hcl_eval *ev, const struct hn *at, json_t **a, size_t n, json_t **ret) {
        int r = hf_arg_list(ev, at, a[0], "sum");
        if (r < 0)
                return r;
        if (!json_array_size(a[0]))
                return hev_fail(ev, at, "sum: cannot sum an empty list");
        double s = 0;
        for (size_t i = 0; i < json_array_size(a[0]); i++) {
                double d = 0;
                if ((r = hf_arg_num(ev, at, json_array_get(a[0], i), &d)) < 0)
                        return r;
                s += d;
        }
        *ret = hev_num(s);
        return *ret ? 0 : hev_fail(ev, at, "sum: result out of range");
}

static int all_any(struct hcl_eval *ev, const struct hn *at, json_t *l, bool all, json_t **ret) {
        int r = hf_arg_list(ev, at, l, all ? "alltrue" : "anytrue");
        if (r < 0)
                return r;
        bool acc = all;
        for (size_t i = 0; i < json_array_size(l); i++) {
                bool b = false;
                if ((r = hev_to_bool(ev, at, json_array_get(l, i), &b)) < 0)
                        return r;
                acc = all ? acc && b : acc || b;
        }
        *ret = json_boolean(acc);
        return 0;
}
static int f_alltrue(struct hcl_eval *ev, const struct hn *at, json_t **a, size_t n, json_t **ret) {
        return all_any(ev, at, a[0], true, ret);
}
static int f_anytrue(struct hcl_eval *ev, const struct hn *at, json_t **a, size_t n, json_t **ret) {
        return all_any(ev, at, a[0], false, ret);
}

static int f_chunklist(struct hcl_eval *ev, const struct hn *at, json_t **a, size_t n, json_t **ret) {
        long long size = 0;
        _cleanup_json_ json_t *out = NULL, *cur = NULL;
        int r;
        if ((r = hf_arg_list(ev, at, a[0], "chunklist")) < 0 || (r = hf_arg_int(ev, at, a[1], &size)) < 0 ||
            (r = hf_new_list(ev, &out)) < 0)
                return r;
        if (size < 0)
                return hev_fail(ev, at, "chunklist: expected a size of 0 or more, found %lld", size);
        for (size_t i = 0; i < json_array_size(a[0]); i++) {
                if (!cur && (r = hf_new_list(ev, &cur)) < 0)
                        return r;
                if ((r = hf_list_add(ev, at, cur, json_incref(json_array_get(a[0], i)))) < 0)
                        return r;
                if (size && json_array_size(cur) == (size_t)size && (r = hf_list_add(ev, at, out, TAKE_PTR(cur))) < 0)
                        return r;
        }
        if (cur && (r = hf_list_add(ev, at, out, TAKE_PTR(cur))) < 0)
                return r;
        *ret = TAKE_PTR(out);
        return 0;
}

static int f_coalescelist(struct hcl_eval *ev, const struct hn *at, json_t **a, size_t n, json_t **ret) {
        for (size_t k = 0; k < n; k++) {
                int r = hf_arg_list(ev, at, a[k], "coalescelist");
                if (r < 0)
                        return r;
                if (json_array_size(a[k])) {
                        *ret = json_incref(a[k]);
                        return 0;
                }
        }
        return hev_fail(ev, at, "coalescelist: no non-empty list");
}

static int f_one(struct hcl_eval *ev, const struct hn *at, json_t **a, size_t n, json_t **ret) {
        int r = hf_arg_list(ev, at, a[0], "one");
        if (r < 0)
                return r;
        if (json_array_size(a[0]) > 1)
                return hev_fail(ev, at, "one: expected a list of zero or one element, found %zu",
                                json_array_size(a[0]));
        *ret = json_array_size(a[0]) ? json_incref(json_array_get(a[0], 0)) : json_null();
        return 0;
}

static bool list_has(const json_t *l, const json_t *v) {
        for (size_t i = 0; i < json_array_size(l); i++)
                if (json_equal(json_array_get(l, i), (json_t *)v))
                        return true;
        return false;
}

/* setunion (mode 0), setintersection (1), setsubtract (2): results keep first-seen order. */
static int set_op(struct hcl_eval *ev, const struct hn *at, json_t **a, size_t n, int mode, json_t **ret) {
        static const char *const names[] = {"setunion", "setintersection", "setsubtract"};
        _cleanup_json_ json_t *all = NULL, *out = NULL;
        int r;
        for (size_t k = 0; k < n; k++)
                if ((r = hf_arg_list(ev, at, a[k], names[mode])) < 0 ||
                    (r = hev_charge(ev, at, json_array_size(a[k]) * n, 0)) < 0)
                        return r;
        if ((r = hf_new_list(ev, &all)) < 0)
                return r;
        for (size_t k = 0; k < (mode == 0 ? n : 1); k++)
                for (size_t i = 0; i < json_array_size(a[k]); i++)
                        if ((r = hf_list_add(ev, at, all, json_incref(json_array_get(a[k], i)))) < 0)
                                return r;
        _cleanup_json_ json_t *uniq = NULL;
        if ((r = distinct_of(ev, at, all, &uniq)) < 0 || (r = hf_new_list(ev, &out)) < 0)
                return r;
        for (size_t i = 0; i < json_array_size(uniq); i++) {
                json_t *e = json_array_get(uniq, i);
                bool keep = true;
                for (size_t k = 1; mode && k < n; k++)
                        keep = keep && (mode == 1 ? list_has(a[k], e) : !list_has(a[k], e));
                if (keep && (r = hf_list_add(ev, at, out, json_incref(e))) < 0)
                        return r;
        }
        *ret = TAKE_PTR(out);
        return 0;
}

static int f_setunion(struct hcl_eval *ev, const struct hn *at, json_t **a, size_t n, json_t **ret) {
        return set_op(ev, at, a, n, 0, ret);
}
static int f_setintersection(struct hcl_eval *ev, const struct hn *at, json_t **a, size_t n, json_t **ret) {
        return set_op(ev, at, a, n, 1, ret);
}
static int f_setsubtract(struct hcl_eval *ev, const struct hn *at, json_t **a, size_t n, json_t **ret) {
        return set_op(ev, at, a, n, 2, ret);
}

/* ---- numeric --------------------------------------------------------------------------- */

static int num1(struct hcl_eval *ev, const struct hn *at, json_t *v, double (*fn)(double), json_t **ret) {
        double d = 0;
        int r = hf_arg_num(ev, at, v, &d);
        if (r < 0)
                return r;
        *ret = hev_num(fn(d));
        return *ret ? 0 : hev_fail(ev, at, "result out of range");
}

static double signum(double d) {
        return d > 0 ? 1 : d < 0 ? -1 : 0;
}

static int f_abs(struct hcl_eval *ev, const struct hn *at, json_t **a, size_t n, json_t **ret) {
        return num1(ev, at, a[0], fabs, ret);
}
static int f_ceil(struct hcl_eval *ev, const struct hn *at, json_t **a, size_t n, json_t **ret) {
        return num1(ev, at, a[0], ceil, ret);
}
static int f_floor(struct hcl_eval *ev, const struct hn *at, json_t **a, size_t n, json_t **ret) {
        return num1(ev, at, a[0], floor, ret);
}
static int f_signum(struct hcl_eval *ev, const struct hn *at, json_t **a, size_t n, json_t **ret) {
        return num1(ev, at, a[0], signum, ret);
}

static int minmax(struct hcl_eval *ev, const struct hn *at, json_t **a, size_t n, bool max, json_t **ret) {
        double best = 0;
        for (size_t k = 0; k < n; k++) {
                double d = 0;
                int r = hf_arg_num(ev, at, a[k], &d);
                if (r < 0)
                        return r;
                if (k == 0 || (max ? d > best : d < best))
                        best = d;
        }
        *ret = hev_num(best);
        return 0;
}
static int f_min(struct hcl_eval *ev, const struct hn *at, json_t **a, size_t n, json_t **ret) {
        return minmax(ev, at, a, n, false, ret);
}
static int f_max(struct hcl_eval *ev, const struct hn *at, json_t **a, size_t n, json_t **ret) {
        return minmax(ev, at, a, n, true, ret);
}

static int f_pow(struct hcl_eval *ev, const struct hn *at, json_t **a, size_t n, json_t **ret) {
        double x = 0, y = 0;
        int r;
        if ((r = hf_arg_num(ev, at, a[0], &x)) < 0 || (r = hf_arg_num(ev, at, a[1], &y)) < 0)
                return r;
        *ret = hev_num(pow(x, y));
        return *ret ? 0 : hev_fail(ev, at, "pow: result out of range");
}

static int f_log(struct hcl_eval *ev, const struct hn *at, json_t **a, size_t n, json_t **ret) {
        double x = 0, b = 0;
        int r;
        if ((r = hf_arg_num(ev, at, a[0], &x)) < 0 || (r = hf_arg_num(ev, at, a[1], &b)) < 0)
                return r;
        *ret = hev_num(log(x) / log(b));
        return *ret ? 0 : hev_fail(ev, at, "log: result out of range");
}

static int f_parseint(struct hcl_eval *ev, const struct hn *at, json_t **a, size_t n, json_t **ret) {
        _cleanup_free_ char *s = NULL;
        long long base = 0;
        int r;
        if ((r = hf_arg_str(ev, at, a[0], &s, NULL)) < 0 || (r = hf_arg_int(ev, at, a[1], &base)) < 0)
                return r;
        if (base < 2 || base > 62)
                return hev_fail(ev, at, "parseint: expected a base from 2 to 62, found %lld", base);
        const char *p = s;
        bool neg = false;
        if (*p == '-' || *p == '+')
                neg = *p++ == '-';
        if (!*p)
                return hev_fail(ev, at, "parseint: cannot parse \"%.40s\" as a base %lld integer", s, base);
        double v = 0;
        for (; *p; p++) {
                int d = isdigit((unsigned char)*p)   ? *p - '0'
                        : islower((unsigned char)*p) ? *p - 'a' + 10
                        : isupper((unsigned char)*p) ? *p - 'A' + (base <= 36 ? 10 : 36)
                                                     : 99;
                if (d >= base)
                        return hev_fail(ev, at, "parseint: cannot parse \"%.40s\" as a base %lld integer", s, base);
                v = v * (double)base + d;
        }
        *ret = hev_num(neg ? -v : v);
        return *ret ? 0 : hev_fail(ev, at, "parseint: result out of range");
}

/* ---- encoding -------------------------------------------------------------------------- */

static int f_jsonencode(struct hcl_eval *ev, const struct hn *at, json_t **a, size_t n, json_t **ret) {
        int r = hev_measure(ev, at, a[0], HCL_EVAL_MAX_STRING, NULL);
        if (r < 0)
                return r;
        _cleanup_free_ char *s = json_dumps(a[0], JSON_COMPACT | JSON_ENCODE_ANY | JSON_SORT_KEYS);
        if (!s)
                return hev_oom(ev);
        return hf_ret_str(ev, at, s, strlen(s), ret);
}

/* Whole reals read from JSON become integers, as every number here. */
static json_t *normalize(json_t *v) {
        if (json_is_real(v)) {
                json_t *x = hev_num(json_real_value(v));
                json_decref(v);
                return x;
        }
        if (json_is_array(v)) {
                for (size_t i = 0; i < json_array_size(v); i++) {
                        json_t *e = normalize(json_incref(json_array_get(v, i)));
                        if (!e || json_array_set_new(v, i, e) < 0) {
                                json_decref(v);
                                return NULL;
                        }
                }
        } else if (json_is_object(v)) {
                const char *k;
                json_t *e;
                void *tmp;
                json_object_foreach_safe(v, tmp, k, e) {
                        json_t *x = normalize(json_incref(e));
                        if (!x || json_object_set_new(v, k, x) < 0) {
                                json_decref(v);
                                return NULL;
                        }
                }
        }
        return v;
}

static int f_jsondecode(struct hcl_eval *ev, const struct hn *at, json_t **a, size_t n, json_t **ret) {
        _cleanup_free_ char *s = NULL;
        size_t sn = 0;
        int r = hf_arg_str(ev, at, a[0], &s, &sn);
        if (r < 0 || (r = hev_charge(ev, at, sn / 8 + 1, sn * 4)) < 0)
                return r;
        json_error_t je;
        json_t *v = json_loadb(s, sn, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &je);
        if (!v)
                return hev_fail(ev, at, "jsondecode: invalid JSON at %d:%d: %s", je.line, je.column, je.text);
        if (hcl_eval_is_runtime(v)) {
                json_decref(v);
                return hev_fail(ev, at, "jsondecode: reserved key in the object");
        }
        *ret = normalize(v);
        return *ret ? 0 : hev_oom(ev);
}

/* YAML block style: maps in key order with quoted keys, "- " list items, scalars as JSON
 * (a valid YAML flow scalar), empty collections as {} and []. */
static int yaml_scalar(struct hcl_eval *ev, const struct hn *at, struct hf_sb *b, json_t *v) {
        _cleanup_free_ char *s = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
        if (!s)
                return hev_oom(ev);
        int r = hf_sb_put(ev, at, b, s, strlen(s));
        return r < 0 ? r : hf_sb_put(ev, at, b, "\n", 1);
}

static bool yaml_block(json_t *v) {
        return (json_is_object(v) && json_object_size(v)) || (json_is_array(v) && json_array_size(v));
}

static int yaml_node(struct hcl_eval *ev, const struct hn *at, struct hf_sb *b, json_t *v, size_t indent, int depth) {
        static const char spaces[] = "                                                                ";
        int r;
        if (depth > HCL_EXPR_MAX_DEPTH || indent >= sizeof(spaces))
                return hev_fail(ev, at, "yamlencode: value nested too deeply");
        if (json_is_array(v) && json_array_size(v)) {
                for (size_t i = 0; i < json_array_size(v); i++) {
                        json_t *e = json_array_get(v, i);
                        if ((r = hf_sb_put(ev, at, b, spaces, indent)) < 0 ||
                            (r = hf_sb_put(ev, at, b, yaml_block(e) ? "-\n" : "- ", 2)) < 0 ||
                            (r = yaml_block(e) ? yaml_node(ev, at, b, e, indent + 2, depth + 1)
                                               : yaml_scalar(ev, at, b, e)) < 0)
                                return r;
                }
                return 0;
        }
        if (json_is_object(v) && json_object_size(v)) {
                _cleanup_free_ const char **keys = NULL;
                size_t nk = 0;
                if ((r = hev_sorted_keys(ev, v, &keys, &nk)) < 0)
                        return r;
                for (size_t i = 0; i < nk; i++) {
                        json_t *e = json_object_get(v, keys[i]);
                        _cleanup_json_ json_t *k = json_string(keys[i]);
                        _cleanup_free_ char *ks = k ? json_dumps(k, JSON_ENCODE_ANY) : NULL;
                        if (!ks)
                                return hev_oom(ev);
                        if ((r = hf_sb_put(ev, at, b, spaces, indent)) < 0 ||
                            (r = hf_sb_put(ev, at, b, ks, strlen(ks))) < 0 ||
                            (r = hf_sb_put(ev, at, b, yaml_block(e) ? ":\n" : ": ", 2)) < 0 ||
                            (r = yaml_block(e) ? yaml_node(ev, at, b, e, indent + 2, depth + 1)
                                               : yaml_scalar(ev, at, b, e)) < 0)
                                return r;
                }
                return 0;
        }
        return yaml_scalar(ev, at, b, v);
}

static int f_yamlencode(struct hcl_eval *ev, const struct hn *at, json_t **a, size_t n, json_t **ret) {
        _cleanup_(hf_sb_freep) struct hf_sb b = {0};
        int r = yaml_node(ev, at, &b, a[0], 0, 0);
        return r < 0 ? r : hf_sb_done(ev, at, &b, ret);
}

static int f_base64encode(struct hcl_eval *ev, const struct hn *at, json_t **a, size_t n, json_t **ret) {
        static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        _cleanup_free_ char *s = NULL;
        size_t sn = 0;
        int r = hf_arg_str(ev, at, a[0], &s, &sn);
        if (r < 0)
                return r;
        _cleanup_free_ char *o = malloc((sn + 2) / 3 * 4 + 1);
        if (!o)
                return hev_oom(ev);
        size_t w = 0;
        for (size_t k = 0; k < sn; k += 3) {
                unsigned v = (unsigned char)s[k] << 16;
                if (k + 1 < sn)
                        v |= (unsigned char)s[k + 1] << 8;
                if (k + 2 < sn)
                        v |= (unsigned char)s[k + 2];
                o[w++] = tbl[(v >> 18) & 63];
                o[w++] = tbl[(v >> 12) & 63];
                o[w++] = k + 1 < sn ? tbl[(v >> 6) & 63] : '=';
                o[w++] = k + 2 < sn ? tbl[v & 63] : '=';
        }
        return hf_ret_str(ev, at, o, w, ret);
}

static int f_base64decode(struct hcl_eval *ev, const struct hn *at, json_t **a, size_t n, json_t **ret) {
        _cleanup_free_ char *s = NULL;
        size_t sn = 0;
        int r = hf_arg_str(ev, at, a[0], &s, &sn);
        if (r < 0)
                return r;
        _cleanup_free_ char *o = malloc(sn / 4 * 3 + 3);
        if (!o)
                return hev_oom(ev);
        size_t w = 0;
        unsigned acc = 0;
        int bits = 0;
        size_t k = 0;
        for (; k < sn && s[k] != '='; k++) {
                const char *tbl = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
                const char *p = strchr(tbl, s[k]);
                if (!p || !s[k])
                        return hev_fail(ev, at, "base64decode: invalid base64 character at offset %zu", k);
                acc = (acc << 6) | (unsigned)(p - tbl);
                bits += 6;
                if (bits >= 8) {
                        bits -= 8;
                        o[w++] = (char)((acc >> bits) & 0xFF);
                }
        }
        size_t pad = sn - k;
        if (sn % 4 != 0 || pad > 2)
                return hev_fail(ev, at, "base64decode: expected padded base64 text (a multiple of 4 characters)");
        for (; k < sn; k++)
                if (s[k] != '=')
                        return hev_fail(ev, at, "base64decode: invalid base64 character at offset %zu", k);
        json_t *j = json_stringn(o, w);
        if (!j)
                return hev_fail(ev, at, "base64decode: the decoded bytes are not valid UTF-8");
        json_decref(j);
        return hf_ret_str(ev, at, o, w, ret);
}

static int f_urlencode(struct hcl_eval *ev, const struct hn *at, json_t **a, size_t n, json_t **ret) {
        _cleanup_free_ char *s = NULL;
        size_t sn = 0;
        int r = hf_arg_str(ev, at, a[0], &s, &sn);
        if (r < 0)
                return r;
        _cleanup_(hf_sb_freep) struct hf_sb b = {0};
        for (size_t k = 0; k < sn; k++) {
                unsigned char c = (unsigned char)s[k];
                char t[4];
                if (isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
                        t[0] = (char)c;
                        r = hf_sb_put(ev, at, &b, t, 1);
                } else if (c == ' ') {
                        r = hf_sb_put(ev, at, &b, "+", 1);
                } else {
                        snprintf(t, sizeof(t), "%%%02X", c);
                        r = hf_sb_put(ev, at, &b, t, 3);
                }
                if (r < 0)
                        return r;
        }
        return hf_sb_done(ev, at, &b, ret);
}

/* One CSV record (RFC 4180) from *p; fields appended to row. */
static int csv_record(struct hcl_eval *ev, const struct hn *at, const char **p, const char *end, json_t *row) {
        for (;;) {
                _cleanup_(hf_sb_freep) struct hf_sb f = {0};
                int r = 0;
                if (*p < end && **p == '"') {
                        (*p)++;
                        for (;;) {
                                if (*p >= end)
                                        return hev_fail(ev, at, "csvdecode: unterminated quoted field");
                                if (**p == '"') {
                                        if (*p + 1 < end && (*p)[1] == '"') {
                                                r = hf_sb_put(ev, at, &f, "\"", 1);
                                                *p += 2;
                                        } else {
                                                (*p)++;
                                                break;
                                        }
                                } else {
                                        r = hf_sb_put(ev, at, &f, *p, 1);
                                        (*p)++;
                                }
                                if (r < 0)
                                        return r;
                        }
                } else {
                        const char *s = *p;
                        while (*p < end && **p != ',' && **p != '\n' && **p != '\r')
                                (*p)++;
                        if ((r = hf_sb_put(ev, at, &f, s, (size_t)(*p - s))) < 0)
                                return r;
                }
                if ((r = hf_list_add(ev, at, row, json_stringn(f.s ? f.s : "", f.n))) < 0)
                        return r;
                if (*p < end && **p == ',') {
                        (*p)++;
                        continue;
                }
                if (*p < end && **p == '\r')
                        (*p)++;
                if (*p < end && **p == '\n')
                        (*p)++;
                return 0;
        }
}

static int f_csvdecode(struct hcl_eval *ev, const struct hn *at, json_t **a, size_t n, json_t **ret) {
        _cleanup_free_ char *s = NULL;
        size_t sn = 0;
        int r = hf_arg_str(ev, at, a[0], &s, &sn);
        if (r < 0)
                return r;
        const char *p = s, *end = s + sn;
        _cleanup_json_ json_t *hdr = NULL, *out = NULL;
        if ((r = hf_new_list(ev, &hdr)) < 0 || (r = hf_new_list(ev, &out)) < 0)
                return r;
        if (sn == 0 || (r = csv_record(ev, at, &p, end, hdr)) < 0)
                return r < 0 ? r : hev_fail(ev, at, "csvdecode: expected a header line, found nothing");
        while (p < end) {
                _cleanup_json_ json_t *row = NULL;
                if ((r = hf_new_list(ev, &row)) < 0 || (r = csv_record(ev, at, &p, end, row)) < 0)
                        return r;
                if (json_array_size(row) != json_array_size(hdr))
                        return hev_fail(ev, at, "csvdecode: a record has %zu fields, the header %zu",
                                        json_array_size(row), json_array_size(hdr));
                json_t *o = json_object();
                for (size_t i = 0; o && i < json_array_size(hdr); i++)
                        if (json_object_set(o, json_string_value(json_array_get(hdr, i)), json_array_get(row, i)) < 0) {
                                json_decref(o);
                                o = NULL;
                        }
                if ((r = hf_list_add(ev, at, out, o)) < 0)
                        return r;
        }
        *ret = TAKE_PTR(out);
        return 0;
}

/* ---- type conversion ------------------------------------------------------------------- */

static int f_tostring(struct hcl_eval *ev, const struct hn *at, json_t **a, size_t n, json_t **ret) {
        if (json_is_null(a[0])) {
                *ret = json_null();
                return 0;
        }
        _cleanup_free_ char *s = NULL;
        size_t sn = 0;
        int r = hf_arg_str(ev, at, a[0], &s, &sn);
        return r < 0 ? r : hf_ret_str(ev, at, s, sn, ret);
}

static int f_tonumber(struct hcl_eval *ev, const struct hn *at, json_t **a, size_t n, json_t **ret) {
        if (json_is_null(a[0])) {
                *ret = json_null();
                return 0;
        }
        double d = 0;
        int r = hf_arg_num(ev, at, a[0], &d);
        if (r < 0)
                return r;
        *ret = hev_num(d);
        return 0;
}

static int f_tobool(struct hcl_eval *ev, const struct hn *at, json_t **a, size_t n, json_t **ret) {
        if (json_is_null(a[0])) {
                *ret = json_null();
                return 0;
        }
        bool b = false;
        int r = hev_to_bool(ev, at, a[0], &b);
        if (r < 0)
                return r;
        *ret = json_boolean(b);
        return 0;
}

static int f_tolist(struct hcl_eval *ev, const struct hn *at, json_t **a, size_t n, json_t **ret) {
        int r = hf_arg_list(ev, at, a[0], "tolist");
        if (r < 0)
                return r;
        *ret = json_incref(a[0]);
        return 0;
}

static int f_toset(struct hcl_eval *ev, const struct hn *at, json_t **a, size_t n, json_t **ret) {
        int r = hf_arg_list(ev, at, a[0], "toset");
        if (r < 0)
                return r;
        bool all_str = true;
        for (size_t i = 0; i < json_array_size(a[0]); i++)
                all_str = all_str && json_is_string(json_array_get(a[0], i));
        _cleanup_json_ json_t *d = NULL;
        if ((r = distinct_of(ev, at, a[0], &d)) < 0)
                return r;
        if (!all_str) {
                *ret = TAKE_PTR(d);
                return 0;
        }
        return sorted_strings(ev, at, d, ret); /* sets of strings iterate in lexical order */
}

static int f_tomap(struct hcl_eval *ev, const struct hn *at, json_t **a, size_t n, json_t **ret) {
        int r = hf_arg_map(ev, at, a[0], "tomap");
        if (r < 0)
                return r;
        *ret = json_incref(a[0]);
        return 0;
}

/* ---- filesystem ------------------------------------------------------------------------ */

static int open_rel(struct hcl_eval *ev, const struct hn *at, json_t *v, const char *fname, int *ret_fd,
                    char **ret_path) {
        _cleanup_free_ char *p = NULL;
        int r = hf_arg_str(ev, at, v, &p, NULL);
        if (r < 0)
                return r;
        if (!hev_dir(ev))
                return hev_fail(ev, at, "%s: not available for a job that was not read from a file", fname);
        _cleanup_free_ char *full = NULL;
        if (p[0] == '/')
                full = strdup(p);
        else if (asprintf(&full, "%s/%s", hev_dir(ev), p) < 0)
                full = NULL;
        if (!full)
                return hev_oom(ev);
        /* O_NONBLOCK: a FIFO must not hang the parser; only regular files are read */
        int fd = open(full, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
        *ret_fd = fd;
        *ret_path = TAKE_PTR(full);
        return 0;
}

static int f_file(struct hcl_eval *ev, const struct hn *at, json_t **a, size_t n, json_t **ret) {
        _cleanup_free_ char *path = NULL;
        _cleanup_close_ int fd = -1;
        int r = open_rel(ev, at, a[0], "file", &fd, &path);
        if (r < 0)
                return r;
        if (fd < 0)
                return hev_fail(ev, at, "file: cannot open \"%.120s\": %s", path, strerror(errno));
        struct stat st;
        if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
                return hev_fail(ev, at, "file: \"%.120s\" is not a regular file", path);
        if (st.st_size > (off_t)HCL_EVAL_MAX_FILE)
                return hev_fail(ev, at, "file: \"%.120s\" is larger than %u bytes", path, HCL_EVAL_MAX_FILE);
        _cleanup_free_ char *buf = malloc((size_t)st.st_size + 1);
        if (!buf)
                return hev_oom(ev);
        size_t got = 0;
        while (got < (size_t)st.st_size) {
                ssize_t k = read(fd, buf + got, (size_t)st.st_size - got);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k <= 0)
                        break;
                got += (size_t)k;
        }
        json_t *j = json_stringn(buf, got);
        if (!j)
                return hev_fail(ev, at, "file: \"%.120s\" is not UTF-8 text", path);
        json_decref(j);
        return hf_ret_str(ev, at, buf, got, ret);
}

static int f_fileexists(struct hcl_eval *ev, const struct hn *at, json_t **a, size_t n, json_t **ret) {
        _cleanup_free_ char *path = NULL;
        _cleanup_close_ int fd = -1;
        int r = open_rel(ev, at, a[0], "fileexists", &fd, &path);
        if (r < 0)
                return r;
        struct stat st;
        *ret = json_boolean(fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode));
        return 0;
}

/* basename/dirname as Go's filepath.Base/Dir on clean paths ("a/b/" -> "b" and "a"). */
static int path_part(struct hcl_eval *ev, const struct hn *at, json_t *v, bool base, json_t **ret) {
        _cleanup_free_ char *p = NULL;
        size_t n = 0;
        int r = hf_arg_str(ev, at, v, &p, &n);
        if (r < 0)
                return r;
        size_t end = n;
        while (end > 1 && p[end - 1] == '/')
                end--;
        if (end == 0)
                return hf_ret_str(ev, at, ".", 1, ret);
        size_t slash = end;
        while (slash > 0 && p[slash - 1] != '/')
                slash--;
        if (base)
                return end == 1 && p[0] == '/' ? hf_ret_str(ev, at, "/", 1, ret)
                                               : hf_ret_str(ev, at, p + slash, end - slash, ret);
        if (slash == 0)
                return hf_ret_str(ev, at, ".", 1, ret);
        while (slash > 1 && p[slash - 1] == '/')
                slash--;
        return hf_ret_str(ev, at, p, slash, ret);
}

static int f_basename(struct hcl_eval *ev, const struct hn *at, json_t **a, size_t n, json_t **ret) {
        return path_part(ev, at, a[0], true, ret);
}
static int f_dirname(struct hcl_eval *ev, const struct hn *at, json_t **a, size_t n, json_t **ret) {
        return path_part(ev, at, a[0], false, ret);
}

/* ---- the table ------------------------------------------------------------------------- */

static const struct func {
        const char *name;
        unsigned min, max; /* max 0: variadic */
        fn_t fn;
} funcs[] = {
    {"abs", 1, 1, f_abs},
    {"alltrue", 1, 1, f_alltrue},
    {"anytrue", 1, 1, f_anytrue},
    {"base64decode", 1, 1, f_base64decode},
    {"base64encode", 1, 1, f_base64encode},
    {"basename", 1, 1, f_basename},
    {"ceil", 1, 1, f_ceil},
    {"chomp", 1, 1, hf_chomp},
    {"chunklist", 2, 2, f_chunklist},
    {"coalesce", 1, 0, f_coalesce},
    {"coalescelist", 1, 0, f_coalescelist},
    {"compact", 1, 1, f_compact},
    {"concat", 1, 0, f_concat},
    {"contains", 2, 2, f_contains},
    {"csvdecode", 1, 1, f_csvdecode},
    {"dirname", 1, 1, f_dirname},
    {"distinct", 1, 1, f_distinct},
    {"element", 2, 2, f_element},
    {"endswith", 2, 2, hf_endswith},
    {"file", 1, 1, f_file},
    {"fileexists", 1, 1, f_fileexists},
    {"flatten", 1, 1, f_flatten},
    {"floor", 1, 1, f_floor},
    {"format", 1, 0, hf_format},
    {"formatdate", 2, 2, hf_formatdate},
    {"formatlist", 1, 0, hf_formatlist},
    {"indent", 2, 2, hf_indent},
    {"index", 2, 2, f_index},
    {"join", 2, 0, hf_join},
    {"jsondecode", 1, 1, f_jsondecode},
    {"jsonencode", 1, 1, f_jsonencode},
    {"keys", 1, 1, f_keys},
    {"length", 1, 1, f_length},
    {"log", 2, 2, f_log},
    {"lookup", 2, 3, f_lookup},
    {"lower", 1, 1, hf_lower},
    {"max", 1, 0, f_max},
    {"merge", 0, 0, f_merge},
    {"min", 1, 0, f_min},
    {"one", 1, 1, f_one},
    {"parseint", 2, 2, f_parseint},
    {"pow", 2, 2, f_pow},
    {"range", 1, 3, f_range},
    {"regex", 2, 2, hf_regex},
    {"regexall", 2, 2, hf_regexall},
    {"replace", 3, 3, hf_replace},
    {"reverse", 1, 1, f_reverse},
    {"setintersection", 1, 0, f_setintersection},
    {"setsubtract", 2, 2, f_setsubtract},
    {"setunion", 1, 0, f_setunion},
    {"signum", 1, 1, f_signum},
    {"slice", 3, 3, f_slice},
    {"sort", 1, 1, f_sort},
    {"split", 2, 2, hf_split},
    {"startswith", 2, 2, hf_startswith},
    {"strcontains", 2, 2, hf_strcontains},
    {"strrev", 1, 1, hf_strrev},
    {"substr", 3, 3, hf_substr},
    {"sum", 1, 1, f_sum},
    {"timeadd", 2, 2, hf_timeadd},
    {"timecmp", 2, 2, hf_timecmp},
    {"title", 1, 1, hf_title},
    {"tobool", 1, 1, f_tobool},
    {"tolist", 1, 1, f_tolist},
    {"tomap", 1, 1, f_tomap},
    {"tonumber", 1, 1, f_tonumber},
    {"toset", 1, 1, f_toset},
    {"tostring", 1, 1, f_tostring},
    {"trim", 2, 2, hf_trim},
    {"trimprefix", 2, 2, hf_trimprefix},
    {"trimspace", 1, 1, hf_trimspace},
    {"trimsuffix", 2, 2, hf_trimsuffix},
    {"upper", 1, 1, hf_upper},
    {"urlencode", 1, 1, f_urlencode},
    {"values", 1, 1, f_values},
    {"yamlencode", 1, 1, f_yamlencode},
    {"zipmap", 2, 2, f_zipmap},
};

/* Whether v holds a run-time placeholder anywhere (the walk is charged as work). */
static bool has_runtime(struct hcl_eval *ev, const struct hn *at, json_t *v, int depth) {
        if (hcl_eval_is_runtime(v))
                return true;
        if (depth > 512 || hev_charge(ev, at, 0, 0) < 0)
                return false;
        if (json_is_array(v)) {
                if (hev_charge(ev, at, json_array_size(v) / 16, 0) < 0)
                        return false;
                for (size_t i = 0; i < json_array_size(v); i++)
                        if (has_runtime(ev, at, json_array_get(v, i), depth + 1))
                                return true;
        } else if (json_is_object(v)) {
                if (hev_charge(ev, at, json_object_size(v) / 16, 0) < 0)
                        return false;
                const char *k;
                json_t *e;
                json_object_foreach(v, k, e) if (has_runtime(ev, at, e, depth + 1)) return true;
        }
        return false;
}

static int cmp_func(const void *key, const void *elem) {
        return strcmp(key, ((const struct func *)elem)->name);
}

int hcl_call(struct hcl_eval *ev, const struct hn *at, const char *name, json_t **args, size_t n, json_t **ret) {
        const struct func *f = bsearch(name, funcs, ARRAY_SIZE(funcs), sizeof(funcs[0]), cmp_func);
        if (!f)
                return hev_fail(ev, at, "unknown function \"%s\"", name);
        if (n < f->min || (f->max && n > f->max)) {
                if (f->max == f->min)
                        return hev_fail(ev, at, "%s: expected %u argument%s, found %zu", name, f->min,
                                        f->min == 1 ? "" : "s", n);
                if (!f->max)
                        return hev_fail(ev, at, "%s: expected at least %u argument%s, found %zu", name, f->min,
                                        f->min == 1 ? "" : "s", n);
                return hev_fail(ev, at, "%s: expected %u to %u arguments, found %zu", name, f->min, f->max, n);
        }
        /* a run-time value is only known when the task starts: no function can use it */
        for (size_t k = 0; k < n; k++)
                if (has_runtime(ev, at, args[k], 0))
                        return hev_fail(ev, at,
                                        "%s: argument %zu is a run-time value, known only when the task starts; "
                                        "use it directly in a string instead",
                                        name, k + 1);
        int r = hev_charge(ev, at, 1, 0); /* also reports a bound has_runtime() ran into */
        if (r < 0)
                return r;
        json_t *out = NULL;
        r = f->fn(ev, at, args, n, &out);
        if (r < 0)
                return r;
        if (!out)
                return hev_oom(ev);
        *ret = out;
        return 0;
}
