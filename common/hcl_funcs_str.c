/* hcl_funcs_str.c - the string functions of the HCL2 library: case, trimming, format,
 * join/split, replace, substrings, regular expressions (POSIX extended, via regcomp; not
 * RE2: no \\d, no named groups), indent. Results are bounded (HCL_EVAL_MAX_STRING). */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <regex.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/hcl_eval.h"
#include "common/hcl_eval_int.h"
#include "common/hcl_expr.h"
#include "common/hcl_funcs.h"
#include "common/macros.h"

#define MAX_REGEX_INPUT (16u << 10)
#define MAX_REGEX_REPEAT 1000

/* ---- string ---------------------------------------------------------------------------- */

/* Case mapping of ASCII, Latin-1, Latin Extended-A, Greek and Cyrillic: every pair there is
 * two bytes of UTF-8 on both sides, so a string keeps its length. Others are left alone. */
static uint32_t cp_upper(uint32_t c) {
        if (c < 0x80)
                return (uint32_t)toupper((int)c);
        if (c >= 0xE0 && c <= 0xFE && c != 0xF7)
                return c - 0x20;
        if (c == 0xFF)
                return 0x178;
        if (c >= 0x100 && c <= 0x17F) {
                if ((c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17E))
                        return c % 2 == 0 ? c - 1 : c;
                if (c == 0x130 || c == 0x131 || c == 0x138 || c == 0x149 || c == 0x178 || c == 0x17F)
                        return c;
                return c % 2 == 1 ? c - 1 : c;
        }
        if (c == 0x3C2)
                return 0x3A3;
        if ((c >= 0x3B1 && c <= 0x3C9) || (c >= 0x430 && c <= 0x44F))
                return c - 0x20;
        if (c >= 0x450 && c <= 0x45F)
                return c - 0x50;
        return c;
}

static uint32_t cp_lower(uint32_t c) {
        if (c < 0x80)
                return (uint32_t)tolower((int)c);
        if (c >= 0xC0 && c <= 0xDE && c != 0xD7)
                return c + 0x20;
        if (c == 0x178)
                return 0xFF;
        if (c >= 0x100 && c <= 0x17F) {
                if ((c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17E))
                        return c % 2 == 1 ? c + 1 : c;
                if (c == 0x130 || c == 0x131 || c == 0x138 || c == 0x149 || c == 0x17F)
                        return c;
                return c % 2 == 0 ? c + 1 : c;
        }
        if ((c >= 0x391 && c <= 0x3A9 && c != 0x3A2) || (c >= 0x410 && c <= 0x42F))
                return c + 0x20;
        if (c >= 0x400 && c <= 0x40F)
                return c + 0x50;
        return c;
}

static int case_map(struct hcl_eval *ev, const struct hn *at, json_t *v, int mode, json_t **ret) {
        _cleanup_free_ char *s = NULL;
        size_t n = 0;
        int r = hf_arg_str(ev, at, v, &s, &n);
        if (r < 0)
                return r;
        bool word_start = true;
        for (size_t k = 0; k < n;) {
                unsigned char c = (unsigned char)s[k];
                size_t len = hf_cp_len_at(s, n, k);
                uint32_t cp = c;
                if (len == 2 && (c & 0xE0) == 0xC0)
                        cp = ((uint32_t)(c & 0x1F) << 6) | ((unsigned char)s[k + 1] & 0x3F);
                else if (len != 1)
                        cp = 0x10000; /* beyond the tables: unchanged */
                bool letter = cp >= 0x80 || isalnum((int)cp);
                uint32_t m = mode == 0 || (mode == 2 && word_start) ? cp_upper(cp) : mode == 1 ? cp_lower(cp) : cp;
                if (mode == 2)
                        word_start = !letter;
                if (m != cp && m < 0x80 && len == 1) {
                        s[k] = (char)m;
                } else if (m != cp && m >= 0x80 && m < 0x800 && len == 2) {
                        s[k] = (char)(0xC0 | (m >> 6));
                        s[k + 1] = (char)(0x80 | (m & 0x3F));
                }
                k += len;
        }
        return hf_ret_str(ev, at, s, n, ret);
}

int hf_upper(struct hcl_eval *ev, const struct hn *at, json_t **a, size_t n, json_t **ret) {
        return case_map(ev, at, a[0], 0, ret);
}
int hf_lower(struct hcl_eval *ev, const struct hn *at, json_t **a, size_t n, json_t **ret) {
        return case_map(ev, at, a[0], 1, ret);
}
int hf_title(struct hcl_eval *ev, const struct hn *at, json_t **a, size_t n, json_t **ret) {
        return case_map(ev, at, a[0], 2, ret);
}

static bool in_cutset(const char *cut, size_t cn, const char *s, size_t len) {
        for (size_t k = 0; k + len <= cn;) {
                size_t l = 1;
                while (k + l < cn && hf_is_cont((unsigned char)cut[k + l]))
                        l++;
                if (l == len && memcmp(cut + k, s, len) == 0)
                        return true;
                k += l;
        }
        return false;
}

static int do_trim(struct hcl_eval *ev, const struct hn *at, json_t *v, const char *cut, size_t cn, json_t **ret) {
        _cleanup_free_ char *s = NULL;
        size_t n = 0;
        int r = hf_arg_str(ev, at, v, &s, &n);
        if (r < 0)
                return r;
        size_t a0 = 0, z = n;
        while (a0 < z) {
                size_t l = hf_cp_len_at(s, z, a0);
                if (!in_cutset(cut, cn, s + a0, l))
                        break;
                a0 += l;
        }
        while (z > a0) {
                size_t l = hf_cp_len_before(s, z);
                if (!in_cutset(cut, cn, s + z - l, l))
                        break;
                z -= l;
        }
        return hf_ret_str(ev, at, s + a0, z - a0, ret);
}

int hf_trimspace(struct hcl_eval *ev, const struct hn *at, json_t **a, size_t n, json_t **ret) {
        static const char ws[] = " \t\n\r\v\f\xC2\x85\xC2\xA0";
        return do_trim(ev, at, a[0], ws, sizeof(ws) - 1, ret);
}

int hf_trim(struct hcl_eval *ev, const struct hn *at, json_t **a, size_t n, json_t **ret) {
        _cleanup_free_ char *cut = NULL;
        size_t cn = 0;
        int r = hf_arg_str(ev, at, a[1], &cut, &cn);
        return r < 0 ? r : do_trim(ev, at, a[0], cut, cn, ret);
}

static int trim_affix(struct hcl_eval *ev, const struct hn *at, json_t **a, bool prefix, json_t **ret) {
        _cleanup_free_ char *s = NULL, *x = NULL;
        size_t sn = 0, xn = 0;
        int r;
        if ((r = hf_arg_str(ev, at, a[0], &s, &sn)) < 0 || (r = hf_arg_str(ev, at, a[1], &x, &xn)) < 0)
                return r;
        if (xn <= sn && memcmp(prefix ? s : s + sn - xn, x, xn) == 0)
                return hf_ret_str(ev, at, prefix ? s + xn : s, sn - xn, ret);
        return hf_ret_str(ev, at, s, sn, ret);
}

int hf_trimprefix(struct hcl_eval *ev, const struct hn *at, json_t **a, size_t n, json_t **ret) {
        return trim_affix(ev, at, a, true, ret);
}
int hf_trimsuffix(struct hcl_eval *ev, const struct hn *at, json_t **a, size_t n, json_t **ret) {
        return trim_affix(ev, at, a, false, ret);
}

static int affix_test(struct hcl_eval *ev, const struct hn *at, json_t **a, int mode, json_t **ret) {
        _cleanup_free_ char *s = NULL, *x = NULL;
        size_t sn = 0, xn = 0;
        int r;
        if ((r = hf_arg_str(ev, at, a[0], &s, &sn)) < 0 || (r = hf_arg_str(ev, at, a[1], &x, &xn)) < 0)
                return r;
        bool yes =
            mode == 2 ? memmem(s, sn, x, xn) != NULL : xn <= sn && memcmp(mode == 0 ? s : s + sn - xn, x, xn) == 0;
        *ret = json_boolean(yes);
        return 0;
}
int hf_startswith(struct hcl_eval *ev, const struct hn *at, json_t **a, size_t n, json_t **ret) {
        return affix_test(ev, at, a, 0, ret);
}
int hf_endswith(struct hcl_eval *ev, const struct hn *at, json_t **a, size_t n, json_t **ret) {
        return affix_test(ev, at, a, 1, ret);
}
int hf_strcontains(struct hcl_eval *ev, const struct hn *at, json_t **a, size_t n, json_t **ret) {
        return affix_test(ev, at, a, 2, ret);
}

/* One format verb applied to v. */
static int format_one(struct hcl_eval *ev, const struct hn *at, struct hf_sb *b, const char *flags, int width, int prec,
                      char verb, json_t *v) {
        char spec[32], tmp[128];
        _cleanup_free_ char *s = NULL;
        int r;
        switch (verb) {
        case 'v':
        case 's': {
                if (verb == 'v' && (json_is_array(v) || (json_is_object(v) && !hcl_eval_is_runtime(v)))) {
                        if ((r = hev_measure(ev, at, v, HCL_EVAL_MAX_STRING, NULL)) < 0)
                                return r;
                        s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
                        if (!s)
                                return hev_oom(ev);
                } else if ((r = hf_arg_str(ev, at, v, &s, NULL)) < 0) {
                        return r;
                }
                size_t len = strlen(s);
                if (prec >= 0)
                        len = hf_utf8_offset(s, len, (size_t)prec);
                size_t cps = hf_utf8_count(s, len);
                size_t pad = width > 0 && (size_t)width > cps ? (size_t)width - cps : 0;
                bool left = strchr(flags, '-') != NULL;
                for (size_t k = 0; !left && k < pad; k++)
                        if ((r = hf_sb_put(ev, at, b, " ", 1)) < 0)
                                return r;
                if ((r = hf_sb_put(ev, at, b, s, len)) < 0)
                        return r;
                for (size_t k = 0; left && k < pad; k++)
                        if ((r = hf_sb_put(ev, at, b, " ", 1)) < 0)
                                return r;
                return 0;
        }
        case 'q': {
                if ((r = hf_arg_str(ev, at, v, &s, NULL)) < 0)
                        return r;
                _cleanup_json_ json_t *js = json_string(s);
                _cleanup_free_ char *q = js ? json_dumps(js, JSON_ENCODE_ANY) : NULL;
                if (!q)
                        return hev_oom(ev);
                return hf_sb_put(ev, at, b, q, strlen(q));
        }
        case 't': {
                bool x = false;
                if ((r = hev_to_bool(ev, at, v, &x)) < 0)
                        return r;
                return hf_sb_put(ev, at, b, x ? "true" : "false", x ? 4 : 5);
        }
        case 'd':
        case 'x':
        case 'X':
        case 'o':
        case 'b': {
                long long i = 0;
                if ((r = hf_arg_int(ev, at, v, &i)) < 0)
                        return r;
                if (verb == 'b') {
                        char bits[72];
                        size_t k = sizeof(bits) - 1;
                        bits[k] = '\0';
                        unsigned long long u = i < 0 ? (unsigned long long)(-i) : (unsigned long long)i;
                        do {
                                bits[--k] = (char)('0' + (u & 1));
                                u >>= 1;
                        } while (u);
                        if (i < 0)
                                bits[--k] = '-';
                        snprintf(spec, sizeof(spec), "%%%s*s", flags);
                        snprintf(tmp, sizeof(tmp), spec, width < 0 ? 0 : width, bits + k);
                } else {
                        snprintf(spec, sizeof(spec), "%%%s*ll%c", flags, verb == 'd' ? 'd' : verb);
                        snprintf(tmp, sizeof(tmp), spec, width < 0 ? 0 : MIN(width, 100), i);
                }
                return hf_sb_put(ev, at, b, tmp, strlen(tmp));
        }
        case 'f':
        case 'e':
        case 'E':
        case 'g':
        case 'G': {
                double d = 0;
                if ((r = hf_arg_num(ev, at, v, &d)) < 0)
                        return r;
                snprintf(spec, sizeof(spec), "%%%s*.*%c", flags, verb);
                _cleanup_free_ char *out = NULL;
                if (asprintf(&out, spec, width < 0 ? 0 : width, prec < 0 ? (verb == 'g' || verb == 'G' ? 17 : 6) : prec,
                             d) < 0)
                        return hev_oom(ev);
                if ((verb == 'g' || verb == 'G') && prec < 0) {
                        /* shortest form that reads back, as Go's %g */
                        for (int p = 1; p <= 17; p++) {
                                char t[64];
                                snprintf(t, sizeof(t), "%.*g", p, d);
                                if (strtod(t, NULL) == d) {
                                        free(out);
                                        out = strdup(t);
                                        if (!out)
                                                return hev_oom(ev);
                                        break;
                                }
                        }
                }
                return hf_sb_put(ev, at, b, out, strlen(out));
        }
        }
        return hev_fail(ev, at, "format: unsupported verb %%%c", verb);
}

/* format spec over args[0..n); next_arg advances. */
static int format_into(struct hcl_eval *ev, const struct hn *at, struct hf_sb *b, const char *spec, json_t **args,
                       size_t n) {
        size_t next = 0;
        int r;
        for (const char *p = spec; *p;) {
                if (*p != '%') {
                        const char *q = strchr(p, '%');
                        size_t len = q ? (size_t)(q - p) : strlen(p);
                        if ((r = hf_sb_put(ev, at, b, p, len)) < 0)
                                return r;
                        p += len;
                        continue;
                }
                p++;
                if (*p == '%') {
                        if ((r = hf_sb_put(ev, at, b, "%", 1)) < 0)
                                return r;
                        p++;
                        continue;
                }
                char flags[8] = {0};
                size_t nf = 0;
                while (*p && strchr("-+ 0#", *p) && nf < sizeof(flags) - 1)
                        flags[nf++] = *p++;
                int width = -1, prec = -1;
                if (isdigit((unsigned char)*p)) {
                        width = 0;
                        while (isdigit((unsigned char)*p) && width <= HF_MAX_WIDTH)
                                width = width * 10 + (*p++ - '0');
                }
                if (*p == '.') {
                        p++;
                        prec = 0;
                        while (isdigit((unsigned char)*p) && prec <= HF_MAX_WIDTH)
                                prec = prec * 10 + (*p++ - '0');
                }
                if (width > HF_MAX_WIDTH || prec > HF_MAX_WIDTH)
                        return hev_fail(ev, at, "format: expected a width and precision of at most %d", HF_MAX_WIDTH);
                if (!*p)
                        return hev_fail(ev, at, "format: expected a verb after '%%' at the end of the format");
                char verb = *p++;
                if (next >= n)
                        return hev_fail(ev, at, "format: not enough arguments for the verbs in \"%.60s\"", spec);
                if ((r = format_one(ev, at, b, flags, width, prec, verb, args[next++])) < 0)
                        return r;
        }
        if (next < n)
                return hev_fail(ev, at, "format: too many arguments; only %zu used by the format", next);
        return 0;
}

int hf_format(struct hcl_eval *ev, const struct hn *at, json_t **a, size_t n, json_t **ret) {
        _cleanup_free_ char *spec = NULL;
        _cleanup_(hf_sb_freep) struct hf_sb b = {0};
        int r;
        if ((r = hf_arg_str(ev, at, a[0], &spec, NULL)) < 0 || (r = format_into(ev, at, &b, spec, a + 1, n - 1)) < 0)
                return r;
        return hf_sb_done(ev, at, &b, ret);
}

int hf_formatlist(struct hcl_eval *ev, const struct hn *at, json_t **a, size_t n, json_t **ret) {
        _cleanup_free_ char *spec = NULL;
        int r;
        if ((r = hf_arg_str(ev, at, a[0], &spec, NULL)) < 0)
                return r;
        size_t len = SIZE_MAX;
        for (size_t k = 1; k < n; k++) {
                if (!json_is_array(a[k]))
                        continue;
                if (len != SIZE_MAX && json_array_size(a[k]) != len)
                        return hev_fail(ev, at, "formatlist: expected lists of the same length, found %zu and %zu", len,
                                        json_array_size(a[k]));
                len = json_array_size(a[k]);
        }
        if (len == SIZE_MAX)
                len = 1;
        _cleanup_json_ json_t *out = NULL;
        if ((r = hf_new_list(ev, &out)) < 0)
                return r;
        json_t *row[64];
        for (size_t i = 0; i < len; i++) {
                for (size_t k = 1; k < n && k <= ARRAY_SIZE(row); k++)
                        row[k - 1] = json_is_array(a[k]) ? json_array_get(a[k], i) : a[k];
                _cleanup_(hf_sb_freep) struct hf_sb b = {0};
                json_t *s = NULL;
                if ((r = format_into(ev, at, &b, spec, row, n - 1)) < 0 || (r = hf_sb_done(ev, at, &b, &s)) < 0 ||
                    (r = hf_list_add(ev, at, out, s)) < 0)
                        return r;
        }
        *ret = TAKE_PTR(out);
        return 0;
}

int hf_join(struct hcl_eval *ev, const struct hn *at, json_t **a, size_t n, json_t **ret) {
        _cleanup_free_ char *sep = NULL;
        size_t sn = 0;
        int r;
        if ((r = hf_arg_str(ev, at, a[0], &sep, &sn)) < 0)
                return r;
        _cleanup_(hf_sb_freep) struct hf_sb b = {0};
        bool first = true;
        for (size_t k = 1; k < n; k++) {
                if ((r = hf_arg_list(ev, at, a[k], "join")) < 0)
                        return r;
                for (size_t i = 0; i < json_array_size(a[k]); i++) {
                        _cleanup_free_ char *s = NULL;
                        size_t len = 0;
                        if ((r = hf_arg_str(ev, at, json_array_get(a[k], i), &s, &len)) < 0 ||
                            (!first && (r = hf_sb_put(ev, at, &b, sep, sn)) < 0) ||
                            (r = hf_sb_put(ev, at, &b, s, len)) < 0)
                                return r;
                        first = false;
                }
        }
        return hf_sb_done(ev, at, &b, ret);
}

int hf_split(struct hcl_eval *ev, const struct hn *at, json_t **a, size_t n, json_t **ret) {
        _cleanup_free_ char *sep = NULL, *s = NULL;
        size_t sepn = 0, sn = 0;
        int r;
        if ((r = hf_arg_str(ev, at, a[0], &sep, &sepn)) < 0 || (r = hf_arg_str(ev, at, a[1], &s, &sn)) < 0)
                return r;
        _cleanup_json_ json_t *out = NULL;
        if ((r = hf_new_list(ev, &out)) < 0)
                return r;
        if (sepn == 0) {
                for (size_t k = 0; k < sn;) {
                        size_t l = hf_cp_len_at(s, sn, k);
                        if ((r = hf_list_add(ev, at, out, json_stringn(s + k, l))) < 0)
                                return r;
                        k += l;
                }
        } else {
                const char *p = s, *end = s + sn;
                for (;;) {
                        const char *q = memmem(p, (size_t)(end - p), sep, sepn);
                        size_t len = q ? (size_t)(q - p) : (size_t)(end - p);
                        if ((r = hf_list_add(ev, at, out, json_stringn(p, len))) < 0)
                                return r;
                        if (!q)
                                break;
                        p = q + sepn;
                }
        }
        *ret = TAKE_PTR(out);
        return 0;
}

static void regfreep(regex_t **re) {
        if (*re) {
                regfree(*re);
                free(*re);
        }
}

/* glibc compiles a bounded repetition by copying its operand: `((a{999}){999}){999}` would
 * take gigabytes, and back-references make matching exponential. Refuse both. */
static int check_re(struct hcl_eval *ev, const struct hn *at, const char *pat) {
        unsigned long product = 1;
        for (const char *p = pat; *p; p++) {
                if (*p == '\\' && p[1]) {
                        if (isdigit((unsigned char)p[1]))
                                return hev_fail(ev, at, "regular expression: back-references are not supported");
                        p++;
                        continue;
                }
                if (*p != '{' || !isdigit((unsigned char)p[1]))
                        continue;
                char *end = NULL;
                unsigned long m = strtoul(p + 1, &end, 10);
                if (*end == ',' && isdigit((unsigned char)end[1]))
                        m = strtoul(end + 1, &end, 10);
                product *= m ? m : 1;
                if (product > MAX_REGEX_REPEAT)
                        return hev_fail(ev, at, "regular expression: repetition counts multiply to more than %d",
                                        MAX_REGEX_REPEAT);
        }
        return 0;
}

static int compile_re(struct hcl_eval *ev, const struct hn *at, const char *pat, regex_t **ret) {
        if (strlen(pat) > 256)
                return hev_fail(ev, at, "expected a regular expression of at most 256 bytes");
        int cr = check_re(ev, at, pat);
        if (cr < 0)
                return cr;
        regex_t *re = calloc(1, sizeof(*re));
        if (!re)
                return hev_oom(ev);
        int rc = regcomp(re, pat, REG_EXTENDED);
        if (rc != 0) {
                char msg[128];
                regerror(rc, re, msg, sizeof(msg));
                free(re);
                return hev_fail(ev, at, "invalid regular expression \"%.60s\" (POSIX extended syntax): %s", pat, msg);
        }
        *ret = re;
        return 0;
}

/* The match at m as a value: the whole match, or the list of its groups when it has some. */
static int match_value(struct hcl_eval *ev, const struct hn *at, const regex_t *re, const char *s, const regmatch_t *m,
                       json_t **ret) {
        if (re->re_nsub == 0)
                return hf_ret_str(ev, at, s + m[0].rm_so, (size_t)(m[0].rm_eo - m[0].rm_so), ret);
        _cleanup_json_ json_t *l = NULL;
        int r = hf_new_list(ev, &l);
        if (r < 0)
                return r;
        for (size_t g = 1; g <= re->re_nsub && g < 10; g++) {
                json_t *v =
                    m[g].rm_so < 0 ? json_null() : json_stringn(s + m[g].rm_so, (size_t)(m[g].rm_eo - m[g].rm_so));
                if ((r = hf_list_add(ev, at, l, v)) < 0)
                        return r;
        }
        *ret = TAKE_PTR(l);
        return 0;
}

static int regex_common(struct hcl_eval *ev, const struct hn *at, json_t **a, bool all, json_t **ret) {
        _cleanup_free_ char *pat = NULL, *s = NULL;
        size_t sn = 0;
        int r;
        if ((r = hf_arg_str(ev, at, a[0], &pat, NULL)) < 0 || (r = hf_arg_str(ev, at, a[1], &s, &sn)) < 0)
                return r;
        if (sn > MAX_REGEX_INPUT)
                return hev_fail(ev, at, "expected regex input of at most %u bytes", MAX_REGEX_INPUT);
        _cleanup_(regfreep) regex_t *re = NULL;
        if ((r = compile_re(ev, at, pat, &re)) < 0)
                return r;
        regmatch_t m[10];
        _cleanup_json_ json_t *out = NULL;
        if ((r = hf_new_list(ev, &out)) < 0)
                return r;
        size_t off = 0;
        while (off <= sn) {
                if ((r = hev_charge(ev, at, 16 + (sn - off) / 16, 0)) < 0)
                        return r;
                if (regexec(re, s + off, 10, m, off ? REG_NOTBOL : 0) != 0)
                        break;
                json_t *v = NULL;
                if ((r = match_value(ev, at, re, s + off, m, &v)) < 0)
                        return r;
                if (!all) {
                        *ret = v;
                        return 0;
                }
                if ((r = hf_list_add(ev, at, out, v)) < 0)
                        return r;
                off += m[0].rm_eo > 0 ? (size_t)m[0].rm_eo : 1;
        }
        if (!all)
                return hev_fail(ev, at, "regex: pattern \"%.60s\" does not match the string", pat);
        *ret = TAKE_PTR(out);
        return 0;
}

int hf_regex(struct hcl_eval *ev, const struct hn *at, json_t **a, size_t n, json_t **ret) {
        return regex_common(ev, at, a, false, ret);
}
int hf_regexall(struct hcl_eval *ev, const struct hn *at, json_t **a, size_t n, json_t **ret) {
        return regex_common(ev, at, a, true, ret);
}

int hf_replace(struct hcl_eval *ev, const struct hn *at, json_t **a, size_t n, json_t **ret) {
        _cleanup_free_ char *s = NULL, *sub = NULL, *rep = NULL;
        size_t sn = 0, subn = 0, repn = 0;
        int r;
        if ((r = hf_arg_str(ev, at, a[0], &s, &sn)) < 0 || (r = hf_arg_str(ev, at, a[1], &sub, &subn)) < 0 ||
            (r = hf_arg_str(ev, at, a[2], &rep, &repn)) < 0)
                return r;
        _cleanup_(hf_sb_freep) struct hf_sb b = {0};
        if (subn >= 2 && sub[0] == '/' && sub[subn - 1] == '/') {
                sub[subn - 1] = '\0';
                if (sn > MAX_REGEX_INPUT)
                        return hev_fail(ev, at, "expected regex input of at most %u bytes", MAX_REGEX_INPUT);
                _cleanup_(regfreep) regex_t *re = NULL;
                if ((r = compile_re(ev, at, sub + 1, &re)) < 0)
                        return r;
                regmatch_t m[10];
                size_t off = 0;
                while (off <= sn && regexec(re, s + off, 10, m, off ? REG_NOTBOL : 0) == 0) {
                        if ((r = hev_charge(ev, at, 16 + (sn - off) / 16, 0)) < 0 ||
                            (r = hf_sb_put(ev, at, &b, s + off, (size_t)m[0].rm_so)) < 0)
                                return r;
                        for (size_t k = 0; k < repn; k++) {
                                if (rep[k] == '$' && k + 1 < repn && isdigit((unsigned char)rep[k + 1])) {
                                        int g = rep[++k] - '0';
                                        if ((size_t)g <= re->re_nsub && m[g].rm_so >= 0 &&
                                            (r = hf_sb_put(ev, at, &b, s + off + m[g].rm_so,
                                                           (size_t)(m[g].rm_eo - m[g].rm_so))) < 0)
                                                return r;
                                } else if ((r = hf_sb_put(ev, at, &b, rep + k, 1)) < 0) {
                                        return r;
                                }
                        }
                        if (m[0].rm_eo == m[0].rm_so) {
                                if (off + (size_t)m[0].rm_eo < sn &&
                                    (r = hf_sb_put(ev, at, &b, s + off + m[0].rm_eo, 1)) < 0)
                                        return r;
                                off += (size_t)m[0].rm_eo + 1;
                        } else {
                                off += (size_t)m[0].rm_eo;
                        }
                }
                if (off < sn && (r = hf_sb_put(ev, at, &b, s + off, sn - off)) < 0)
                        return r;
                return hf_sb_done(ev, at, &b, ret);
        }
        if (subn == 0)
                return hf_ret_str(ev, at, s, sn, ret);
        const char *p = s, *end = s + sn;
        for (;;) {
                const char *q = memmem(p, (size_t)(end - p), sub, subn);
                size_t len = q ? (size_t)(q - p) : (size_t)(end - p);
                if ((r = hf_sb_put(ev, at, &b, p, len)) < 0)
                        return r;
                if (!q)
                        break;
                if ((r = hf_sb_put(ev, at, &b, rep, repn)) < 0)
                        return r;
                p = q + subn;
        }
        return hf_sb_done(ev, at, &b, ret);
}

int hf_substr(struct hcl_eval *ev, const struct hn *at, json_t **a, size_t n, json_t **ret) {
        _cleanup_free_ char *s = NULL;
        size_t sn = 0;
        long long off = 0, len = 0;
        int r;
        if ((r = hf_arg_str(ev, at, a[0], &s, &sn)) < 0 || (r = hf_arg_int(ev, at, a[1], &off)) < 0 ||
            (r = hf_arg_int(ev, at, a[2], &len)) < 0)
                return r;
        long long total = (long long)hf_utf8_count(s, sn);
        if (off < 0)
                off += total;
        if (off < 0 || off > total)
                return hev_fail(ev, at, "substr: offset out of range for a string of %lld characters", total);
        if (len < 0 || off + len > total)
                len = total - off;
        size_t b0 = hf_utf8_offset(s, sn, (size_t)off), b1 = hf_utf8_offset(s, sn, (size_t)(off + len));
        return hf_ret_str(ev, at, s + b0, b1 - b0, ret);
}

int hf_strrev(struct hcl_eval *ev, const struct hn *at, json_t **a, size_t n, json_t **ret) {
        _cleanup_free_ char *s = NULL;
        size_t sn = 0;
        int r = hf_arg_str(ev, at, a[0], &s, &sn);
        if (r < 0)
                return r;
        _cleanup_free_ char *o = malloc(sn + 1);
        if (!o)
                return hev_oom(ev);
        size_t w = sn;
        for (size_t k = 0; k < sn;) {
                size_t l = hf_cp_len_at(s, sn, k);
                w -= l;
                memcpy(o + w, s + k, l);
                k += l;
        }
        return hf_ret_str(ev, at, o, sn, ret);
}

int hf_chomp(struct hcl_eval *ev, const struct hn *at, json_t **a, size_t n, json_t **ret) {
        _cleanup_free_ char *s = NULL;
        size_t sn = 0;
        int r = hf_arg_str(ev, at, a[0], &s, &sn);
        if (r < 0)
                return r;
        while (sn && (s[sn - 1] == '\n' || s[sn - 1] == '\r'))
                sn--;
        return hf_ret_str(ev, at, s, sn, ret);
}

int hf_indent(struct hcl_eval *ev, const struct hn *at, json_t **a, size_t n, json_t **ret) {
        long long w = 0;
        _cleanup_free_ char *s = NULL;
        size_t sn = 0;
        int r;
        if ((r = hf_arg_int(ev, at, a[0], &w)) < 0 || (r = hf_arg_str(ev, at, a[1], &s, &sn)) < 0)
                return r;
        if (w < 0 || w > HF_MAX_WIDTH)
                return hev_fail(ev, at, "indent: expected 0 to %d spaces, found %lld", HF_MAX_WIDTH, w);
        _cleanup_(hf_sb_freep) struct hf_sb b = {0};
        for (size_t k = 0; k < sn; k++) {
                if ((r = hf_sb_put(ev, at, &b, s + k, 1)) < 0)
                        return r;
                if (s[k] == '\n')
                        for (long long i = 0; i < w; i++)
                                if ((r = hf_sb_put(ev, at, &b, " ", 1)) < 0)
                                        return r;
        }
        return hf_sb_done(ev, at, &b, ret);
}
