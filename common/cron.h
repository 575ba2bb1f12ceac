/* cron.h - cron expressions and time zones for periodic jobs (Nomad's `periodic`).
 *
 * An expression has 5, 6 or 7 fields separated by blanks:
 *   5: minute hour day-of-month month day-of-week
 *   6: second minute hour day-of-month month day-of-week
 *   7: second minute hour day-of-month month day-of-week year
 * Each field is `*`, a value, a range `a-b`, a step `*` `/n`, `a/n` or `a-b/n`, or a
 * comma-separated list of those. Months take JAN..DEC, days of week SUN..SAT (case
 * does not matter; 0 and 7 are both Sunday); `?` is `*` in the day fields. When both
 * day fields are restricted a day matching either runs (classic cron). Macros:
 * @yearly (@annually), @monthly, @weekly, @daily (@midnight), @hourly.
 *
 * Times are unix seconds. A time zone comes from the system's tz database
 * (TZif files under $TZDIR, else /usr/share/zoneinfo); "", "UTC" and "Etc/UTC" need
 * no file; "Local" is /etc/localtime. No process-wide state (no TZ, no tzset):
 * safe from any thread. Past a zone file's last transition its last offset holds
 * (Debian's tzdata lists the transitions up to 2037; the POSIX rule in the file's
 * footer is not read).
 *
 * Daylight saving: an expression is matched against local wall-clock time. A wall
 * time skipped by a forward jump (02:30 on a spring-forward night) runs at the
 * instant that wall time would have had with the offset before the jump (03:30 new
 * time), as Go's time package and so Nomad do; a wall time that happens twice (fall
 * back) runs once, at its first occurrence.
 *
 * Costs: cron_parse O(length); cron_next O(days searched) with at most
 * CRON_SEARCH_YEARS years searched; cron_tz_offset O(log transitions).
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

struct error;

#define CRON_EXPR_MAX 256   /* bytes of one expression */
#define CRON_SEARCH_YEARS 5 /* cron_next gives up after this (e.g. "0 0 30 2 *") */
#define CRON_TZ_NAME_MAX 64

struct cron {
        uint64_t second, minute; /* bit n: value n */
        uint32_t hour, mday;     /* mday: bits 1..31 */
        uint16_t month;          /* bits 1..12 */
        uint8_t wday;            /* bits 0..6, 0 = Sunday */
        bool mday_star, wday_star;
        bool any_year;
        uint64_t year[3]; /* bit (y - 1970), 1970..2161 */
};

/* Parse expr. -EINVAL with err naming the field: `cron "61 * * * *": minute: 61 out of
 * range 0-59`. */
int cron_parse(const char *expr, struct cron *ret, struct error *err);

struct cron_tz;
/* Load a time zone by IANA name (see above). -EINVAL for a bad name, -ENOENT when the
 * database does not have it, -EBADMSG for a file that is not TZif. */
int cron_tz_load(const char *name, struct cron_tz **ret, struct error *err);
/* NULL ok; returns NULL. */
struct cron_tz *cron_tz_free(struct cron_tz *tz);
/* Seconds east of UTC in tz at t (tz NULL = UTC). */
int64_t cron_tz_offset(const struct cron_tz *tz, int64_t t);

/* The first time strictly after `after` that c matches in tz (NULL = UTC): 0 and
 * *ret, or -ENOENT when none within CRON_SEARCH_YEARS. */
int cron_next(const struct cron *c, const struct cron_tz *tz, int64_t after, int64_t *ret);

/* ---- Nomad's Periodic block ---- */

#define CRON_MAX_SPECS 16

/* {"Enabled", "Spec" or "Specs", "SpecType" ("cron"), "ProhibitOverlap", "TimeZone"}
 * parsed; Enabled defaults to true, TimeZone to UTC. */
struct cron_periodic {
        struct cron spec[CRON_MAX_SPECS];
        size_t n;
        struct cron_tz *tz;
        bool enabled, prohibit_overlap;
};

/* -EINVAL (err: "spec \"..\": ..." / "time zone ...") for a block that cannot run;
 * *ret is left cleared then. */
int cron_periodic_parse(const json_t *periodic, struct cron_periodic *ret, struct error *err);
void cron_periodic_clear(struct cron_periodic *p);
/* The earliest next time of any spec, strictly after `after`; -ENOENT when none. */
int cron_periodic_next(const struct cron_periodic *p, int64_t after, int64_t *ret);
