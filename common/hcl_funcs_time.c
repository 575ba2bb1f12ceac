/* hcl_funcs_time.c - the datetime functions that do not read the clock: timeadd, timecmp,
 * formatdate, over RFC 3339 timestamps ("2024-05-01T10:00:00Z", "...+02:00"). timestamp()
 * is left out on purpose: a job file evaluates to the same Job wherever it is parsed. */
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/hcl_eval.h"
#include "common/hcl_eval_int.h"
#include "common/hcl_funcs.h"
#include "common/jobspec.h"
#include "common/macros.h"

struct ts {
        int64_t sec; /* UTC, seconds since the epoch */
        int64_t nsec;
        int off; /* minutes east of UTC */
};

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm). */
static int64_t days_from_civil(int64_t y, int64_t m, int64_t d) {
        y -= m <= 2;
        int64_t era = (y >= 0 ? y : y - 399) / 400;
        int64_t yoe = y - era * 400;
        int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
        int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, int *m, int *d) {
        z += 719468;
        int64_t era = (z >= 0 ? z : z - 146096) / 146097;
        int64_t doe = z - era * 146097;
        int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
        int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        int64_t mp = (5 * doy + 2) / 153;
        *d = (int)(doy - (153 * mp + 2) / 5 + 1);
        *m = (int)(mp < 10 ? mp + 3 : mp - 9);
        *y = yoe + era * 400 + (*m <= 2);
}

static int digits(const char **p, int n) {
        int v = 0;
        for (int k = 0; k < n; k++) {
                if (!isdigit((unsigned char)**p))
                        return -1;
                v = v * 10 + (*(*p)++ - '0');
        }
        return v;
}

static int parse_ts(struct hcl_eval *ev, const struct hn *at, json_t *v, struct ts *ret) {
        _cleanup_free_ char *s = NULL;
        int r = hf_arg_str(ev, at, v, &s, NULL);
        if (r < 0)
                return r;
        const char *p = s;
        int y = digits(&p, 4), mo = -1, d = -1, h = -1, mi = -1, se = -1;
        if (y >= 0 && *p++ == '-' && (mo = digits(&p, 2)) >= 0 && *p++ == '-' && (d = digits(&p, 2)) >= 0 &&
            *p++ == 'T' && (h = digits(&p, 2)) >= 0 && *p++ == ':' && (mi = digits(&p, 2)) >= 0 && *p++ == ':')
                se = digits(&p, 2);
        if (se < 0 || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || se > 60)
                return hev_fail(ev, at,
                                "expected an RFC 3339 timestamp such as \"2024-05-01T10:00:00Z\", found "
                                "\"%.40s\"",
                                s);
        int64_t nsec = 0;
        if (*p == '.') {
                p++;
                int n = 0;
                while (isdigit((unsigned char)*p)) {
                        if (n++ < 9)
                                nsec = nsec * 10 + (*p - '0');
                        p++;
                }
                if (!n)
                        return hev_fail(ev, at, "expected digits after '.' in the timestamp \"%.40s\"", s);
                for (; n < 9; n++)
                        nsec *= 10;
        }
        int off = 0;
        if (*p == 'Z') {
                p++;
        } else if (*p == '+' || *p == '-') {
                int sign = *p++ == '-' ? -1 : 1;
                int oh = digits(&p, 2), om = -1;
                if (oh >= 0 && *p++ == ':')
                        om = digits(&p, 2);
                if (om < 0 || oh > 23 || om > 59)
                        return hev_fail(ev, at, "expected a UTC offset such as +02:00 in \"%.40s\"", s);
                off = sign * (oh * 60 + om);
        } else {
                return hev_fail(ev, at, "expected Z or a UTC offset at the end of the timestamp \"%.40s\"", s);
        }
        if (*p)
                return hev_fail(ev, at, "unexpected text after the timestamp \"%.40s\"", s);
        ret->sec = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + se - (int64_t)off * 60;
        ret->nsec = nsec;
        ret->off = off;
        return 0;
}

struct civil {
        int64_t year;
        int mon, day, hour, min, sec, wday;
};

static struct civil to_civil(const struct ts *t) {
        int64_t local = t->sec + (int64_t)t->off * 60;
        int64_t days = local >= 0 ? local / 86400 : -((-local + 86399) / 86400);
        int64_t rem = local - days * 86400;
        struct civil c = {.hour = (int)(rem / 3600), .min = (int)(rem / 60 % 60), .sec = (int)(rem % 60)};
        civil_from_days(days, &c.year, &c.mon, &c.day);
        c.wday = (int)(((days % 7) + 11) % 7); /* 1970-01-01 was a Thursday */
        return c;
}

static void offset_text(int off, bool colon, char *out, size_t sz) {
        int a = off < 0 ? -off : off;
        snprintf(out, sz, colon ? "%c%02d:%02d" : "%c%02d%02d", off < 0 ? '-' : '+', a / 60, a % 60);
}

int hf_timeadd(struct hcl_eval *ev, const struct hn *at, json_t **a, size_t n, json_t **ret) {
        struct ts t;
        _cleanup_free_ char *ds = NULL;
        int r;
        if ((r = parse_ts(ev, at, a[0], &t)) < 0 || (r = hf_arg_str(ev, at, a[1], &ds, NULL)) < 0)
                return r;
        int64_t ns = 0;
        if (jobspec_parse_duration(ds, &ns) < 0)
                return hev_fail(ev, at, "timeadd: expected a duration such as \"1h30m\", found \"%.40s\"", ds);
        int64_t total = t.nsec + ns % 1000000000LL;
        t.sec += ns / 1000000000LL + (total >= 1000000000LL ? 1 : total < 0 ? -1 : 0);
        t.nsec = (total % 1000000000LL + 1000000000LL) % 1000000000LL;
        struct civil c = to_civil(&t);
        if (c.year < 0 || c.year > 9999)
                return hev_fail(ev, at, "timeadd: the result is outside the years 0 to 9999");
        char out[64], zone[16] = "Z";
        if (t.off)
                offset_text(t.off, true, zone, sizeof(zone));
        snprintf(out, sizeof(out), "%04d-%02d-%02dT%02d:%02d:%02d%s", (int)c.year, c.mon, c.day, c.hour, c.min, c.sec,
                 zone);
        return hf_ret_str(ev, at, out, strlen(out), ret);
}

int hf_timecmp(struct hcl_eval *ev, const struct hn *at, json_t **a, size_t n, json_t **ret) {
        struct ts x, y;
        int r;
        if ((r = parse_ts(ev, at, a[0], &x)) < 0 || (r = parse_ts(ev, at, a[1], &y)) < 0)
                return r;
        int c = x.sec != y.sec ? (x.sec < y.sec ? -1 : 1) : x.nsec != y.nsec ? (x.nsec < y.nsec ? -1 : 1) : 0;
        *ret = json_integer(c);
        return 0;
}

int hf_formatdate(struct hcl_eval *ev, const struct hn *at, json_t **a, size_t n, json_t **ret) {
        static const char *const months[] = {"January", "February", "March",     "April",   "May",      "June",
                                             "July",    "August",   "September", "October", "November", "December"};
        static const char *const days[] = {"Sunday",   "Monday", "Tuesday", "Wednesday",
                                           "Thursday", "Friday", "Saturday"};
        _cleanup_free_ char *spec = NULL;
        struct ts t;
        int r;
        if ((r = hf_arg_str(ev, at, a[0], &spec, NULL)) < 0 || (r = parse_ts(ev, at, a[1], &t)) < 0)
                return r;
        struct civil c = to_civil(&t);
        _cleanup_(hf_sb_freep) struct hf_sb b = {0};
        for (const char *p = spec; *p;) {
                char tmp[64];
                tmp[0] = '\0';
                if (*p == '\'') {
                        p++;
                        if (*p == '\'') {
                                p++;
                                if ((r = hf_sb_put(ev, at, &b, "'", 1)) < 0)
                                        return r;
                                continue;
                        }
                        const char *q = strchr(p, '\'');
                        if (!q)
                                return hev_fail(ev, at, "formatdate: unterminated quoted literal in the format");
                        if ((r = hf_sb_put(ev, at, &b, p, (size_t)(q - p))) < 0)
                                return r;
                        p = q + 1;
                        continue;
                }
                if (!isalpha((unsigned char)*p)) {
                        if ((r = hf_sb_put(ev, at, &b, p, 1)) < 0)
                                return r;
                        p++;
                        continue;
                }
                char ch = *p;
                size_t k = 0;
                while (p[k] == ch)
                        k++;
                p += k;
                int h12 = c.hour % 12 ? c.hour % 12 : 12;
                switch (ch) {
                case 'Y':
                        if (k == 4)
                                snprintf(tmp, sizeof(tmp), "%04d", (int)c.year);
                        else if (k == 2)
                                snprintf(tmp, sizeof(tmp), "%02d", (int)(c.year % 100));
                        break;
                case 'M':
                        if (k <= 2)
                                snprintf(tmp, sizeof(tmp), k == 2 ? "%02d" : "%d", c.mon);
                        else if (k == 3)
                                snprintf(tmp, sizeof(tmp), "%.3s", months[c.mon - 1]);
                        else if (k == 4)
                                snprintf(tmp, sizeof(tmp), "%s", months[c.mon - 1]);
                        break;
                case 'D':
                        if (k <= 2)
                                snprintf(tmp, sizeof(tmp), k == 2 ? "%02d" : "%d", c.day);
                        break;
                case 'E':
                        if (k == 3)
                                snprintf(tmp, sizeof(tmp), "%.3s", days[c.wday]);
                        else if (k == 4)
                                snprintf(tmp, sizeof(tmp), "%s", days[c.wday]);
                        break;
                case 'h':
                case 'H':
                case 'm':
                case 's':
                        if (k <= 2) {
                                int v = ch == 'h' ? c.hour : ch == 'H' ? h12 : ch == 'm' ? c.min : c.sec;
                                snprintf(tmp, sizeof(tmp), k == 2 ? "%02d" : "%d", v);
                        }
                        break;
                case 'A':
                case 'a':
                        if (k == 2)
                                snprintf(tmp, sizeof(tmp), "%s",
                                         c.hour < 12 ? (ch == 'A' ? "AM" : "am") : (ch == 'A' ? "PM" : "pm"));
                        break;
                case 'Z':
                        if (k == 1 || k == 5) {
                                if (k == 1 && t.off == 0)
                                        snprintf(tmp, sizeof(tmp), "Z");
                                else
                                        offset_text(t.off, true, tmp, sizeof(tmp));
                        } else if (k == 3 && t.off == 0) {
                                snprintf(tmp, sizeof(tmp), "UTC");
                        } else if (k == 3 || k == 4) {
                                offset_text(t.off, false, tmp, sizeof(tmp));
                        }
                        break;
                }
                if (!tmp[0])
                        return hev_fail(ev, at, "formatdate: invalid date format verb \"%.*s\"", (int)MIN(k, 10),
                                        p - k);
                if ((r = hf_sb_put(ev, at, &b, tmp, strlen(tmp))) < 0)
                        return r;
        }
        return hf_sb_done(ev, at, &b, ret);
}
