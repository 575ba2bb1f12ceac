/* json_fast.c - json_loadb for drover's own JSON, without jansson's stream. See
 * json_fast.h: every path that is not the plain subset returns NULL from the
 * scan, and json_fast_loadb then asks json_loadb. */
#include "common/json_fast.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct scan {
        const char *p, *end;
        char *tmp; /* unescaped strings */
        size_t tmp_cap;
};

static void skip_ws(struct scan *s) {
        while (s->p < s->end && (*s->p == ' ' || *s->p == '\n' || *s->p == '\r' || *s->p == '\t'))
                s->p++;
}

static bool tmp_reserve(struct scan *s, size_t n) {
        if (n <= s->tmp_cap)
                return true;
        size_t cap = s->tmp_cap ? s->tmp_cap : 256;
        while (cap < n)
                cap *= 2;
        char *t = realloc(s->tmp, cap);
        if (!t)
                return false;
        s->tmp = t;
        s->tmp_cap = cap;
        return true;
}

/* The string whose opening quote was just passed: its bytes in *ret (into the
 * input, or unescaped into s->tmp until the next string), n in *ret_len. false
 * outside the subset: a control character or a byte >= 0x80 (jansson checks its
 * UTF-8), a \u escape, an unknown escape, no closing quote. */
static bool scan_string(struct scan *s, const char **ret, size_t *ret_len) {
        const char *start = s->p, *q = start;
        while (q < s->end) {
                unsigned char c = (unsigned char)*q;
                if (c == '"') {
                        *ret = start;
                        *ret_len = (size_t)(q - start);
                        s->p = q + 1;
                        return true;
                }
                if (c == '\\' || c < 0x20 || c >= 0x80)
                        break;
                q++;
        }
        if (q >= s->end || *q != '\\')
                return false;
        size_t n = (size_t)(q - start);
        if (!tmp_reserve(s, (size_t)(s->end - start)))
                return false;
        memcpy(s->tmp, start, n);
        while (q < s->end) {
                unsigned char c = (unsigned char)*q++;
                if (c == '"') {
                        *ret = s->tmp;
                        *ret_len = n;
                        s->p = q;
                        return true;
                }
                if (c < 0x20 || c >= 0x80)
                        return false;
                if (c == '\\') {
                        if (q >= s->end)
                                return false;
                        switch (*q++) {
                        case '"': c = '"'; break;
                        case '\\': c = '\\'; break;
                        case '/': c = '/'; break;
                        case 'b': c = '\b'; break;
                        case 'f': c = '\f'; break;
                        case 'n': c = '\n'; break;
                        case 'r': c = '\r'; break;
                        case 't': c = '\t'; break;
                        default: return false; /* \u (jansson checks surrogates) or invalid */
                        }
                }
                s->tmp[n++] = (char)c; /* n < the bytes read: within tmp's reservation */
        }
        return false;
}

/* -?(0|[1-9][0-9]*) within int64_t (jansson's strtoll; nanosecond times have 19
 * digits), not followed by a fraction or an exponent. */
static json_t *scan_integer(struct scan *s) {
        const char *q = s->p;
        bool neg = q < s->end && *q == '-';
        if (neg)
                q++;
        const char *digits = q;
        uint64_t v = 0; /* 19 digits fit: < 10^19 < 2^64 */
        while (q < s->end && *q >= '0' && *q <= '9') {
                if (q - digits == 19)
                        return NULL;
                v = v * 10 + (uint64_t)(*q - '0');
                q++;
        }
        size_t nd = (size_t)(q - digits);
        if (nd == 0 || (nd > 1 && *digits == '0'))
                return NULL;
        if (q < s->end && (*q == '.' || *q == 'e' || *q == 'E'))
                return NULL; /* a real: jansson's strtod */
        if (v > (uint64_t)INT64_MAX + (neg ? 1 : 0))
                return NULL; /* jansson: "too big integer" */
        s->p = q;
        return json_integer(neg ? (json_int_t)(0 - v) : (json_int_t)v);
}

static bool literal(struct scan *s, const char *word, size_t n) {
        if ((size_t)(s->end - s->p) < n || memcmp(s->p, word, n) != 0)
                return false;
        s->p += n;
        return true;
}

static json_t *scan_value(struct scan *s, int depth);

static json_t *scan_object(struct scan *s, int depth) {
        json_t *o = json_object();
        if (!o)
                return NULL;
        skip_ws(s);
        if (s->p < s->end && *s->p == '}') {
                s->p++;
                return o;
        }
        for (;;) {
                const char *key;
                size_t klen;
                if (s->p >= s->end || *s->p != '"')
                        break;
                s->p++;
                if (!scan_string(s, &key, &klen))
                        break;
                /* an unescaped key lives in tmp, which the value's strings reuse before
                 * the set below copies the key: saved first */
                char kbuf[128];
                char *kheap = NULL;
                if (key == s->tmp) {
                        if (klen <= sizeof(kbuf)) {
                                memcpy(kbuf, key, klen);
                                key = kbuf;
                        } else if ((kheap = malloc(klen))) {
                                memcpy(kheap, key, klen);
                                key = kheap;
                        } else {
                                break;
                        }
                }
                skip_ws(s);
                json_t *v = NULL;
                if (s->p < s->end && *s->p == ':') {
                        s->p++;
                        skip_ws(s);
                        v = scan_value(s, depth);
                }
                int r = v ? json_object_setn_new_nocheck(o, key, klen, v) : -1;
                free(kheap);
                if (r < 0)
                        break;
                skip_ws(s);
                if (s->p >= s->end)
                        break;
                if (*s->p == '}') {
                        s->p++;
                        return o;
                }
                if (*s->p != ',')
                        break;
                s->p++;
                skip_ws(s);
        }
        json_decref(o);
        return NULL;
}

static json_t *scan_array(struct scan *s, int depth) {
        json_t *a = json_array();
        if (!a)
                return NULL;
        skip_ws(s);
        if (s->p < s->end && *s->p == ']') {
                s->p++;
                return a;
        }
        for (;;) {
                json_t *v = scan_value(s, depth);
                if (!v || json_array_append_new(a, v) < 0)
                        break;
                skip_ws(s);
                if (s->p >= s->end)
                        break;
                if (*s->p == ']') {
                        s->p++;
                        return a;
                }
                if (*s->p != ',')
                        break;
                s->p++;
                skip_ws(s);
        }
        json_decref(a);
        return NULL;
}

/* A value at s->p (whitespace skipped), depth containers around it. */
static json_t *scan_value(struct scan *s, int depth) {
        if (s->p >= s->end)
                return NULL;
        switch (*s->p) {
        case '{':
                if (depth >= JSON_FAST_MAX_DEPTH)
                        return NULL;
                s->p++;
                return scan_object(s, depth + 1);
        case '[':
                if (depth >= JSON_FAST_MAX_DEPTH)
                        return NULL;
                s->p++;
                return scan_array(s, depth + 1);
        case '"': {
                const char *str;
                size_t n;
                s->p++;
                return scan_string(s, &str, &n) ? json_stringn_nocheck(str, n) : NULL;
        }
        case 't':
                return literal(s, "true", 4) ? json_true() : NULL;
        case 'f':
                return literal(s, "false", 5) ? json_false() : NULL;
        case 'n':
                return literal(s, "null", 4) ? json_null() : NULL;
        default:
                return scan_integer(s);
        }
}

json_t *json_fast_scan(const char *buf, size_t len) {
        struct scan s = {.p = buf, .end = buf + len};
        json_t *v = NULL;
        skip_ws(&s);
        /* jansson wants an object or an array at the top (no JSON_DECODE_ANY) */
        if (s.p < s.end && (*s.p == '{' || *s.p == '['))
                v = scan_value(&s, 0);
        if (v) {
                skip_ws(&s);
                if (s.p != s.end) /* jansson: "end of file expected" */
                        v = (json_decref(v), NULL);
        }
        free(s.tmp);
        return v;
}

json_t *json_fast_loadb(const char *buf, size_t len, json_error_t *err) {
        json_t *v = json_fast_scan(buf, len);
        if (!v)
                return json_loadb(buf, len, 0, err);
        if (err) { /* as jansson leaves it after a success */
                memset(err, 0, sizeof(*err));
                err->line = err->column = -1;
                snprintf(err->source, sizeof(err->source), "<buffer>");
        }
        return v;
}

/* ---- writing ---------------------------------------------------------------------- */

struct out {
        char *p;
        size_t len, cap;
        bool bad; /* out of memory or outside the subset: json_dumps writes it */
};

static void out_reserve(struct out *o, size_t n) {
        if (o->bad || o->len + n <= o->cap)
                return;
        size_t cap = o->cap ? o->cap : 1024;
        while (cap < o->len + n)
                cap *= 2;
        char *p = realloc(o->p, cap);
        if (!p) {
                o->bad = true;
                return;
        }
        o->p = p;
        o->cap = cap;
}

static void out_put(struct out *o, const char *s, size_t n) {
        out_reserve(o, n);
        if (o->bad)
                return;
        memcpy(o->p + o->len, s, n);
        o->len += n;
}

static void out_char(struct out *o, char c) {
        out_reserve(o, 1);
        if (!o->bad)
                o->p[o->len++] = c;
}

/* As jansson's dump_string without flags: " and \ and the short escapes; any other
 * control character (\u00XX) and any byte >= 0x80 (its UTF-8 walk) are left to it. */
static void out_string(struct out *o, const char *s, size_t n) {
        out_reserve(o, 2 * n + 2); /* every byte escaped, and the quotes */
        if (o->bad)
                return;
        char *d = o->p + o->len;
        *d++ = '"';
        for (size_t i = 0; i < n; i++) {
                unsigned char c = (unsigned char)s[i];
                if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') {
                        *d++ = (char)c;
                        continue;
                }
                char e;
                switch (c) {
                case '"': e = '"'; break;
                case '\\': e = '\\'; break;
                case '\b': e = 'b'; break;
                case '\f': e = 'f'; break;
                case '\n': e = 'n'; break;
                case '\r': e = 'r'; break;
                case '\t': e = 't'; break;
                default: o->bad = true; return;
                }
                *d++ = '\\';
                *d++ = e;
        }
        *d++ = '"';
        o->len = (size_t)(d - o->p);
}

static void out_integer(struct out *o, json_int_t v) {
        char buf[24], *e = buf + sizeof(buf), *b = e;
        uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
        do {
                *--b = (char)('0' + u % 10);
                u /= 10;
        } while (u);
        if (v < 0)
                *--b = '-';
        out_put(o, b, (size_t)(e - b));
}

static void out_value(struct out *o, json_t *j, int depth) {
        if (o->bad)
                return;
        switch (json_typeof(j)) {
        case JSON_OBJECT: {
                if (depth >= JSON_FAST_MAX_DEPTH) {
                        o->bad = true;
                        return;
                }
                out_char(o, '{');
                bool first = true;
                for (void *it = json_object_iter(j); it && !o->bad; it = json_object_iter_next(j, it)) {
                        if (!first)
                                out_char(o, ',');
                        first = false;
                        out_string(o, json_object_iter_key(it), json_object_iter_key_len(it));
                        out_char(o, ':');
                        out_value(o, json_object_iter_value(it), depth + 1);
                }
                out_char(o, '}');
                return;
        }
        case JSON_ARRAY: {
                if (depth >= JSON_FAST_MAX_DEPTH) {
                        o->bad = true;
                        return;
                }
                out_char(o, '[');
                size_t n = json_array_size(j);
                for (size_t i = 0; i < n && !o->bad; i++) {
                        if (i)
                                out_char(o, ',');
                        out_value(o, json_array_get(j, i), depth + 1);
                }
                out_char(o, ']');
                return;
        }
        case JSON_STRING:
                out_string(o, json_string_value(j), json_string_length(j));
                return;
        case JSON_INTEGER:
                out_integer(o, json_integer_value(j));
                return;
        case JSON_TRUE:
                out_put(o, "true", 4);
                return;
        case JSON_FALSE:
                out_put(o, "false", 5);
                return;
        case JSON_NULL:
                out_put(o, "null", 4);
                return;
        default: /* a real: jansson's own formatting */
                o->bad = true;
                return;
        }
}

char *json_fast_dumps(const json_t *j, size_t flags) {
        if ((flags & ~(size_t)JSON_ENCODE_ANY) != JSON_COMPACT || !j ||
            (!(flags & JSON_ENCODE_ANY) && !json_is_object(j) && !json_is_array(j)))
                return json_dumps(j, flags);
        struct out o = {0};
        out_value(&o, (json_t *)j, 0); /* the iteration API takes no const; nothing is changed */
        out_char(&o, '\0');
        if (o.bad) {
                free(o.p);
                return json_dumps(j, flags);
        }
        return o.p;
}
