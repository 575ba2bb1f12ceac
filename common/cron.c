/* cron.c - cron expressions and TZif time zones. See cron.h. */
#include "common/cron.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/error.h"
#include "common/macros.h"

/* ---- expressions ------------------------------------------------------------------- */

struct field {
        const char *name;
        int lo, hi;
        const char *const *names; /* names[i] = value lo + i (NULL: numbers only) */
};

static const char *const month_names[] = {"JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL",
                                          "AUG", "SEP", "OCT", "NOV", "DEC", NULL};
static const char *const wday_names[] = {"SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT", NULL};

enum { F_SEC, F_MIN, F_HOUR, F_MDAY, F_MON, F_WDAY, F_YEAR, F_COUNT };
static const struct field fields[F_COUNT] = {
    [F_SEC] = {"second", 0, 59, NULL},       [F_MIN] = {"minute", 0, 59, NULL},
    [F_HOUR] = {"hour", 0, 23, NULL},        [F_MDAY] = {"day of month", 1, 31, NULL},
    [F_MON] = {"month", 1, 12, month_names}, [F_WDAY] = {"day of week", 0, 7, wday_names},
    [F_YEAR] = {"year", 1970, 2161, NULL},
};

static const struct {
        const char *name, *expr;
} macros[] = {
    {"@yearly", "0 0 0 1 1 *"}, {"@annually", "0 0 0 1 1 *"}, {"@monthly", "0 0 0 1 * *"}, {"@weekly", "0 0 0 * * 0"},
    {"@daily", "0 0 0 * * *"},  {"@midnight", "0 0 0 * * *"}, {"@hourly", "0 0 * * * *"},
};

/* One value: a number or a name. */
static int parse_value(const char *expr, const struct field *f, const char *s, size_t len, int *ret,
                       struct error *err) {
        if (len == 0)
                return errorf(err, -EINVAL, "cron \"%s\": %s: missing value", expr, f->name);
        if (isdigit((unsigned char)s[0])) {
                int v = 0;
                for (size_t i = 0; i < len; i++) {
                        if (!isdigit((unsigned char)s[i]) || v > 100000)
                                return errorf(err, -EINVAL, "cron \"%s\": %s: \"%.*s\" is not a number", expr, f->name,
                                              (int)len, s);
                        v = v * 10 + (s[i] - '0');
                }
                if (v < f->lo || v > f->hi)
                        return errorf(err, -EINVAL, "cron \"%s\": %s: %d out of range %d-%d", expr, f->name, v, f->lo,
                                      f->hi);
                *ret = v;
                return 0;
        }
        for (size_t i = 0; f->names && f->names[i]; i++)
                if (len == 3 && strncasecmp(s, f->names[i], 3) == 0) {
                        *ret = f->lo + (int)i;
                        return 0;
                }
        return errorf(err, -EINVAL, "cron \"%s\": %s: unknown value \"%.*s\"%s", expr, f->name, (int)len, s,
                      f->names ? "" : " (expected a number)");
}

static void set_bit(uint64_t *bits, int n) {
        bits[n / 64] |= UINT64_C(1) << (n % 64);
}

static bool has_bit(const uint64_t *bits, int n) {
        return bits[n / 64] >> (n % 64) & 1;
}

/* One field (s, len) into bits (offset so that bit 0 is value 0 or field lo for years). */
static int parse_field(const char *expr, int fi, const char *s, size_t len, uint64_t bits[3], bool *ret_star,
                       struct error *err) {
        const struct field *f = &fields[fi];
        int base = fi == F_YEAR ? f->lo : 0;
        *ret_star = len == 1 && (s[0] == '*' || s[0] == '?');
        if (*ret_star && s[0] == '?' && fi != F_MDAY && fi != F_WDAY)
                return errorf(err, -EINVAL, "cron \"%s\": %s: '?' is only for the day fields", expr, f->name);
        const char *end = s + len;
        while (s < end) {
                const char *comma = memchr(s, ',', (size_t)(end - s));
                const char *part_end = comma ? comma : end;
                const char *slash = memchr(s, '/', (size_t)(part_end - s));
                const char *range_end = slash ? slash : part_end;
                int lo, hi, step = 1;
                int r;
                if (range_end - s == 1 && (*s == '*' || *s == '?')) {
                        lo = f->lo;
                        hi = fi == F_WDAY ? 6 : f->hi;
                } else {
                        const char *dash = memchr(s, '-', (size_t)(range_end - s));
                        if ((r = parse_value(expr, f, s, (size_t)((dash ? dash : range_end) - s), &lo, err)) < 0)
                                return r;
                        if (dash) {
                                if ((r = parse_value(expr, f, dash + 1, (size_t)(range_end - dash - 1), &hi, err)) < 0)
                                        return r;
                                if (hi < lo)
                                        return errorf(err, -EINVAL, "cron \"%s\": %s: range %d-%d goes backwards", expr,
                                                      f->name, lo, hi);
                        } else {
                                hi = slash ? (fi == F_WDAY ? 6 : f->hi) : lo; /* "a/n": from a to the end */
                        }
                }
                if (slash) {
                        step = 0;
                        const char *p = slash + 1;
                        if (p == part_end)
                                return errorf(err, -EINVAL, "cron \"%s\": %s: missing step after '/'", expr, f->name);
                        for (; p < part_end; p++) {
                                if (!isdigit((unsigned char)*p) || step > 10000)
                                        return errorf(err, -EINVAL, "cron \"%s\": %s: bad step \"%.*s\"", expr, f->name,
                                                      (int)(part_end - slash - 1), slash + 1);
                                step = step * 10 + (*p - '0');
                        }
                        if (step < 1)
                                return errorf(err, -EINVAL, "cron \"%s\": %s: step must be at least 1", expr, f->name);
                }
                for (int v = lo; v <= hi; v += step)
                        set_bit(bits, (fi == F_WDAY && v == 7 ? 0 : v) - base);
                s = comma ? comma + 1 : end;
                if (comma && s == end)
                        return errorf(err, -EINVAL, "cron \"%s\": %s: list ends with ','", expr, f->name);
        }
        return 0;
}

int cron_parse(const char *expr, struct cron *ret, struct error *err) {
        if (!expr)
                return errorf(err, -EINVAL, "cron: missing expression");
        size_t elen = strnlen(expr, CRON_EXPR_MAX + 1);
        if (elen > CRON_EXPR_MAX)
                return errorf(err, -EINVAL, "cron: expression longer than %d bytes", CRON_EXPR_MAX);
        const char *text = expr;
        while (isspace((unsigned char)*text))
                text++;
        if (*text == '@') {
                size_t n = strcspn(text, " \t\r\n");
                const char *found = NULL;
                for (size_t i = 0; i < ARRAY_SIZE(macros); i++)
                        if (strlen(macros[i].name) == n && strncasecmp(text, macros[i].name, n) == 0)
                                found = macros[i].expr;
                if (!found || text[n + strspn(text + n, " \t\r\n")] != '\0')
                        return errorf(err, -EINVAL,
                                      "cron \"%s\": unknown macro (expected @yearly, @annually, @monthly, @weekly, "
                                      "@daily, @midnight or @hourly)",
                                      expr);
                text = found;
        }
        const char *start[8];
        size_t len[8];
        int n = 0;
        for (const char *p = text; *p;) {
                while (isspace((unsigned char)*p))
                        p++;
                if (!*p)
                        break;
                if (n == 7)
                        return errorf(err, -EINVAL, "cron \"%s\": more than 7 fields", expr);
                start[n] = p;
                while (*p && !isspace((unsigned char)*p))
                        p++;
                len[n] = (size_t)(p - start[n]);
                n++;
        }
        if (n < 5)
                return errorf(err, -EINVAL,
                              "cron \"%s\": %d fields; expected 5 (minute hour day-of-month month day-of-week), 6 "
                              "(second first) or 7 (second first, year last)",
                              expr, n);
        struct cron c = {0};
        int first = n == 5 ? F_MIN : F_SEC;
        uint64_t bits[F_COUNT][3] = {{0}};
        bool star[F_COUNT] = {false};
        for (int i = 0; i < n; i++) {
                int fi = first + i;
                int r = parse_field(expr, fi, start[i], len[i], bits[fi], &star[fi], err);
                if (r < 0)
                        return r;
        }
        if (n == 5)
                bits[F_SEC][0] = 1;
        c.second = bits[F_SEC][0];
        c.minute = bits[F_MIN][0];
        c.hour = (uint32_t)bits[F_HOUR][0];
        c.mday = (uint32_t)bits[F_MDAY][0];
        c.month = (uint16_t)bits[F_MON][0];
        c.wday = (uint8_t)bits[F_WDAY][0];
        c.mday_star = star[F_MDAY];
        c.wday_star = star[F_WDAY];
        c.any_year = n < 7 || star[F_YEAR];
        memcpy(c.year, bits[F_YEAR], sizeof(c.year));
        *ret = c;
        return 0;
}

/* ---- time zones (TZif, RFC 8536) ---------------------------------------------------- */

struct cron_tz {
        size_t n;        /* transitions */
        int64_t *at;     /* transition times, ascending */
        int32_t *off_at; /* offset in force from at[i] */
        int32_t first;   /* offset before the first transition */
};

struct cron_tz *cron_tz_free(struct cron_tz *tz) {
        if (tz) {
                free(tz->at);
                free(tz->off_at);
                free(tz);
        }
        return NULL;
}

static bool tz_name_ok(const char *name) {
        size_t n = strnlen(name, CRON_TZ_NAME_MAX + 1);
        if (n == 0 || n > CRON_TZ_NAME_MAX || name[0] == '/' || strstr(name, ".."))
                return false;
        for (const char *p = name; *p; p++)
                if (!isalnum((unsigned char)*p) && !strchr("_+-/", *p))
                        return false;
        return true;
}

static int64_t be(const unsigned char *p, int bytes) {
        uint64_t v = 0;
        for (int i = 0; i < bytes; i++)
                v = v << 8 | p[i];
        if (bytes == 4)
                return (int32_t)(uint32_t)v;
        return (int64_t)v;
}

#define TZIF_MAX (1 << 20)

static int tz_parse(const unsigned char *b, size_t size, struct cron_tz *tz) {
        if (size < 44 || memcmp(b, "TZif", 4) != 0)
                return -EBADMSG;
        int tsize = 4;
        size_t off = 0;
        for (int pass = 0; pass < 2; pass++) {
                if (off + 44 > size || memcmp(b + off, "TZif", 4) != 0)
                        return -EBADMSG;
                char version = (char)b[off + 4];
                int64_t isut = be(b + off + 20, 4), isstd = be(b + off + 24, 4), leap = be(b + off + 28, 4),
                        timecnt = be(b + off + 32, 4), typecnt = be(b + off + 36, 4), charcnt = be(b + off + 40, 4);
                if (isut < 0 || isstd < 0 || leap < 0 || timecnt < 0 || timecnt > 100000 || typecnt < 1 ||
                    typecnt > 256 || charcnt < 0)
                        return -EBADMSG;
                size_t data =
                    (size_t)(timecnt * tsize + timecnt + typecnt * 6 + charcnt + leap * (tsize + 4) + isstd + isut);
                off += 44;
                if (off + data > size)
                        return -EBADMSG;
                if (pass == 0 && version >= '2') {
                        off += data; /* skip the 32-bit block: read the 64-bit one */
                        tsize = 8;
                        continue;
                }
                const unsigned char *times = b + off, *idx = times + timecnt * tsize, *types = idx + timecnt;
                tz->at = calloc((size_t)timecnt + 1, sizeof(*tz->at));
                tz->off_at = calloc((size_t)timecnt + 1, sizeof(*tz->off_at));
                if (!tz->at || !tz->off_at)
                        return -ENOMEM;
                /* Before the first transition: the first standard-time type (RFC 8536 3.2). */
                tz->first = (int32_t)be(types, 4);
                for (int64_t t = 0; t < typecnt; t++)
                        if (!types[t * 6 + 4]) {
                                tz->first = (int32_t)be(types + t * 6, 4);
                                break;
                        }
                for (int64_t i = 0; i < timecnt; i++) {
                        if (idx[i] >= typecnt)
                                return -EBADMSG;
                        tz->at[i] = be(times + i * tsize, tsize);
                        tz->off_at[i] = (int32_t)be(types + idx[i] * 6, 4);
                        if (i > 0 && tz->at[i] <= tz->at[i - 1])
                                return -EBADMSG;
                }
                tz->n = (size_t)timecnt;
                return 0;
        }
        return -EBADMSG;
}

int cron_tz_load(const char *name, struct cron_tz **ret, struct error *err) {
        if (!name || !*name || strcmp(name, "UTC") == 0 || strcmp(name, "Etc/UTC") == 0) {
                *ret = NULL;
                return 0;
        }
        char path[512];
        if (strcmp(name, "Local") == 0) {
                snprintf(path, sizeof(path), "/etc/localtime");
        } else {
                if (!tz_name_ok(name))
                        return errorf(err, -EINVAL, "time zone \"%.64s\": not a time zone name (like Europe/Berlin)",
                                      name);
                const char *dir = getenv("TZDIR");
                snprintf(path, sizeof(path), "%s/%s", dir && *dir ? dir : "/usr/share/zoneinfo", name);
        }
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return errorf(err, -ENOENT, "time zone \"%s\": unknown (no %s; is the tzdata package installed?)", name,
                              path);
        struct stat sb;
        if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode) || sb.st_size > TZIF_MAX)
                return errorf(err, -EBADMSG, "time zone \"%s\": %s is not a time zone file", name, path);
        _cleanup_free_ unsigned char *buf = malloc((size_t)sb.st_size + 1);
        if (!buf)
                return errorf(err, -ENOMEM, "time zone \"%s\": out of memory", name);
        size_t got = 0;
        while (got < (size_t)sb.st_size) {
                ssize_t k = read(fd, buf + got, (size_t)sb.st_size - got);
                if (k <= 0)
                        break;
                got += (size_t)k;
        }
        struct cron_tz *tz = calloc(1, sizeof(*tz));
        if (!tz)
                return errorf(err, -ENOMEM, "time zone \"%s\": out of memory", name);
        int r = tz_parse(buf, got, tz);
        if (r < 0) {
                cron_tz_free(tz);
                return errorf(err, r, "time zone \"%s\": %s is not a valid TZif file", name, path);
        }
        *ret = tz;
        return 0;
}

int64_t cron_tz_offset(const struct cron_tz *tz, int64_t t) {
        if (!tz)
                return 0;
        if (tz->n == 0 || t < tz->at[0])
                return tz->first;
        size_t lo = 0, hi = tz->n; /* the last transition <= t */
        while (hi - lo > 1) {
                size_t mid = lo + (hi - lo) / 2;
                if (tz->at[mid] <= t)
                        lo = mid;
                else
                        hi = mid;
        }
        return tz->off_at[lo];
}

/* The UTC instant of wall time `local` (seconds as if UTC): see cron.h for gaps and
 * overlaps. */
static int64_t local_to_utc(const struct cron_tz *tz, int64_t local) {
        const int64_t window = 26 * 3600;
        int64_t oa = cron_tz_offset(tz, local - window), ob = cron_tz_offset(tz, local + window);
        int64_t ta = local - oa, tb = local - ob;
        bool a_ok = cron_tz_offset(tz, ta) == oa, b_ok = cron_tz_offset(tz, tb) == ob;
        if (a_ok && b_ok)
                return ta < tb ? ta : tb; /* twice (or the same): the first */
        if (a_ok)
                return ta;
        if (b_ok)
                return tb;
        return ta; /* in a gap: with the offset before it */
}

/* ---- next ------------------------------------------------------------------------------ */

static bool day_matches(const struct cron *c, const struct tm *tm) {
        bool md = c->mday >> tm->tm_mday & 1, wd = c->wday >> tm->tm_wday & 1;
        if (c->mday_star && c->wday_star)
                return true;
        if (c->mday_star)
                return wd;
        if (c->wday_star)
                return md;
        return md || wd;
}

int cron_next(const struct cron *c, const struct cron_tz *tz, int64_t after, int64_t *ret) {
        int64_t from = after + 1;
        int64_t local = from + cron_tz_offset(tz, from);
        struct tm tm;
        time_t tt = (time_t)local;
        if (!gmtime_r(&tt, &tm))
                return -ENOENT;
        int last_year = tm.tm_year + 1900 + CRON_SEARCH_YEARS;
        for (int guard = 0; guard < 1000000; guard++) {
                tt = (time_t)local;
                if (!gmtime_r(&tt, &tm))
                        return -ENOENT;
                int year = tm.tm_year + 1900;
                if (year > last_year || year > fields[F_YEAR].hi)
                        return -ENOENT;
                if (!c->any_year && (year < fields[F_YEAR].lo || !has_bit(c->year, year - fields[F_YEAR].lo))) {
                        tm = (struct tm){.tm_year = tm.tm_year + 1, .tm_mday = 1};
                } else if (!(c->month >> (tm.tm_mon + 1) & 1)) {
                        tm = (struct tm){.tm_year = tm.tm_year, .tm_mon = tm.tm_mon + 1, .tm_mday = 1};
                } else if (!day_matches(c, &tm)) {
                        tm = (struct tm){.tm_year = tm.tm_year, .tm_mon = tm.tm_mon, .tm_mday = tm.tm_mday + 1};
                } else if (!(c->hour >> tm.tm_hour & 1)) {
                        tm.tm_hour++;
                        tm.tm_min = tm.tm_sec = 0;
                } else if (!(c->minute >> tm.tm_min & 1)) {
                        tm.tm_min++;
                        tm.tm_sec = 0;
                } else if (!(c->second >> tm.tm_sec & 1)) {
                        tm.tm_sec++;
                } else {
                        int64_t t = local_to_utc(tz, local);
                        if (t > after) {
                                *ret = t;
                                return 0;
                        }
                        local++; /* the second occurrence of a wall time already passed */
                        continue;
                }
                local = (int64_t)timegm(&tm);
        }
        return -ENOENT;
}

/* ---- Nomad's Periodic block ------------------------------------------------------------ */

void cron_periodic_clear(struct cron_periodic *p) {
        if (!p)
                return;
        cron_tz_free(p->tz);
        memset(p, 0, sizeof(*p));
}

static int add_spec(struct cron_periodic *p, const json_t *v, struct error *err) {
        if (!json_is_string(v))
                return errorf(err, -EINVAL, "spec must be a string");
        if (p->n == CRON_MAX_SPECS)
                return errorf(err, -EINVAL, "at most %d cron specs", CRON_MAX_SPECS);
        return cron_parse(json_string_value(v), &p->spec[p->n++], err);
}

int cron_periodic_parse(const json_t *periodic, struct cron_periodic *ret, struct error *err) {
        memset(ret, 0, sizeof(*ret));
        if (!json_is_object(periodic))
                return errorf(err, -EINVAL, "Periodic must be an object");
        struct cron_periodic p = {.enabled = true};
        const json_t *en = json_object_get(periodic, "Enabled");
        if (json_is_boolean(en))
                p.enabled = json_is_true(en);
        p.prohibit_overlap = json_is_true(json_object_get(periodic, "ProhibitOverlap"));
        const json_t *type = json_object_get(periodic, "SpecType");
        if (type && !json_is_null(type) && (!json_is_string(type) || strcmp(json_string_value(type), "cron") != 0))
                return errorf(err, -EINVAL, "SpecType must be \"cron\"");
        const json_t *spec = json_object_get(periodic, "Spec"), *specs = json_object_get(periodic, "Specs");
        int r;
        if (json_is_string(spec) && *json_string_value(spec) && (r = add_spec(&p, spec, err)) < 0)
                return r;
        if (specs && !json_is_null(specs) && !json_is_array(specs))
                return errorf(err, -EINVAL, "Specs must be a list of strings");
        size_t i;
        const json_t *v;
        json_array_foreach(specs, i, v) {
                if ((r = add_spec(&p, v, err)) < 0)
                        return r;
        }
        if (p.n == 0)
                return errorf(err, -EINVAL, "a cron expression is required (cron = \"...\" or crons = [...])");
        const json_t *tz = json_object_get(periodic, "TimeZone");
        if (tz && !json_is_null(tz) && !json_is_string(tz))
                return errorf(err, -EINVAL, "TimeZone must be a string");
        if ((r = cron_tz_load(json_string_value(tz), &p.tz, err)) < 0)
                return r;
        *ret = p;
        return 0;
}

int cron_periodic_next(const struct cron_periodic *p, int64_t after, int64_t *ret) {
        int64_t best = 0;
        bool found = false;
        for (size_t i = 0; i < p->n; i++) {
                int64_t t;
                if (cron_next(&p->spec[i], p->tz, after, &t) == 0 && (!found || t < best)) {
                        best = t;
                        found = true;
                }
        }
        if (!found)
                return -ENOENT;
        *ret = best;
        return 0;
}
