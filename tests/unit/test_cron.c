/* test_cron.c - cron expressions and time zones (common/cron.h). */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/cron.h"
#include "common/error.h"

/* 2024-01-01 00:00:00 UTC, a Monday. */
#define T2024 INT64_C(1704067200)

static int64_t next_of(const char *expr, const struct cron_tz *tz, int64_t after) {
        struct cron c;
        struct error err = {0};
        cr_assert_eq(cron_parse(expr, &c, &err), 0, "%s: %s", expr, err.msg);
        int64_t t = 0;
        cr_assert_eq(cron_next(&c, tz, after, &t), 0, "%s: no next time", expr);
        return t;
}

static void bad(const char *expr, const char *want) {
        struct cron c;
        struct error err = {0};
        cr_assert_eq(cron_parse(expr, &c, &err), -EINVAL, "%s was accepted", expr);
        cr_assert(strstr(err.msg, want), "%s: message \"%s\" lacks \"%s\"", expr, err.msg, want);
}

Test(cron, five_fields_minutes) {
        cr_assert_eq(next_of("* * * * *", NULL, T2024), T2024 + 60);
        cr_assert_eq(next_of("*/5 * * * *", NULL, T2024), T2024 + 300);
        cr_assert_eq(next_of("*/5 * * * *", NULL, T2024 + 299), T2024 + 300);
        cr_assert_eq(next_of("30 2 * * *", NULL, T2024), T2024 + 2 * 3600 + 1800);
        cr_assert_eq(next_of("0 0 1 * *", NULL, T2024), T2024 + 31 * 86400, "February 1st");
}

Test(cron, six_fields_start_with_seconds) {
        cr_assert_eq(next_of("* * * * * *", NULL, T2024), T2024 + 1);
        cr_assert_eq(next_of("*/15 * * * * *", NULL, T2024 + 1), T2024 + 15);
        cr_assert_eq(next_of("10 0 * * * *", NULL, T2024), T2024 + 10);
}

Test(cron, ranges_steps_lists_and_names) {
        /* Mon-Fri at 09:00: from Saturday 2024-01-06 the next is Monday the 8th. */
        int64_t sat = T2024 + 5 * 86400;
        cr_assert_eq(next_of("0 9 * * MON-FRI", NULL, sat), T2024 + 7 * 86400 + 9 * 3600);
        cr_assert_eq(next_of("0 9 * * 1-5", NULL, sat), T2024 + 7 * 86400 + 9 * 3600);
        cr_assert_eq(next_of("0 0 * * sun", NULL, T2024), T2024 + 6 * 86400, "Sunday the 7th");
        cr_assert_eq(next_of("0 0 * * 7", NULL, T2024), T2024 + 6 * 86400, "7 is Sunday too");
        cr_assert_eq(next_of("15,45 * * * *", NULL, T2024 + 16 * 60), T2024 + 45 * 60);
        cr_assert_eq(next_of("10-20/5 * * * *", NULL, T2024 + 16 * 60), T2024 + 20 * 60);
        cr_assert_eq(next_of("50/5 * * * *", NULL, T2024), T2024 + 50 * 60);
        cr_assert_eq(next_of("0 0 1 MAR *", NULL, T2024), INT64_C(1709251200), "2024-03-01");
        /* Both day fields restricted: either matches (the 15th, or a Sunday). */
        cr_assert_eq(next_of("0 0 15 * 0", NULL, T2024), T2024 + 6 * 86400);
        cr_assert_eq(next_of("0 0 29 2 *", NULL, T2024), INT64_C(1709164800), "2024-02-29");
        cr_assert_eq(next_of("0 0 0 1 1 * 2026", NULL, T2024), INT64_C(1767225600), "7 fields: a year");
}

Test(cron, macros) {
        cr_assert_eq(next_of("@hourly", NULL, T2024), T2024 + 3600);
        cr_assert_eq(next_of("@daily", NULL, T2024), T2024 + 86400);
        cr_assert_eq(next_of("@midnight", NULL, T2024), T2024 + 86400);
        cr_assert_eq(next_of("@weekly", NULL, T2024), T2024 + 6 * 86400);
        cr_assert_eq(next_of("@monthly", NULL, T2024), T2024 + 31 * 86400);
        cr_assert_eq(next_of("@yearly", NULL, T2024), INT64_C(1735689600));
        cr_assert_eq(next_of("@annually", NULL, T2024), INT64_C(1735689600));
}

Test(cron, errors_name_the_field) {
        bad("61 * * * *", "minute: 61 out of range 0-59");
        bad("* 24 * * *", "hour: 24 out of range");
        bad("* * 0 * *", "day of month: 0 out of range");
        bad("* * * 13 *", "month: 13 out of range");
        bad("* * * FOO *", "month: unknown value \"FOO\"");
        bad("* * * *", "4 fields");
        bad("* * * * * * * *", "more than 7 fields");
        bad("*/0 * * * *", "step must be at least 1");
        bad("5-1 * * * *", "goes backwards");
        bad("1, * * * *", "list ends with");
        bad("1,,2 * * * *", "missing value");
        bad("@every 5m", "unknown macro");
        bad("? * * * *", "only for the day fields");
        bad("L * * * *", "unknown value");
        char big[CRON_EXPR_MAX + 10];
        memset(big, '1', sizeof(big) - 1);
        big[sizeof(big) - 1] = '\0';
        bad(big, "longer than");
}

Test(cron, never_matching_gives_up) {
        struct cron c;
        cr_assert_eq(cron_parse("0 0 30 2 *", &c, NULL), 0);
        int64_t t;
        cr_assert_eq(cron_next(&c, NULL, T2024, &t), -ENOENT);
}

static struct cron_tz *tz_or_skip(const char *name) {
        struct cron_tz *tz = NULL;
        struct error err = {0};
        int r = cron_tz_load(name, &tz, &err);
        if (r == -ENOENT)
                cr_skip_test("no tz database here: %s", err.msg);
        cr_assert_eq(r, 0, "%s", err.msg);
        return tz;
}

Test(cron, time_zone_offsets) {
        struct cron_tz *tz = tz_or_skip("Europe/Berlin");
        cr_assert_eq(cron_tz_offset(tz, T2024), 3600, "CET in January");
        cr_assert_eq(cron_tz_offset(tz, T2024 + 180 * 86400), 7200, "CEST in June");
        /* 02:00 Berlin on Monday 2024-01-01 is 01:00 UTC. */
        cr_assert_eq(next_of("0 2 * * *", tz, T2024), T2024 + 3600);
        cron_tz_free(tz);
        struct cron_tz *utc = NULL;
        cr_assert_eq(cron_tz_load("UTC", &utc, NULL), 0);
        cr_assert_null(utc, "UTC needs no file");
}

/* 2024-03-31: Berlin jumps from 02:00 CET to 03:00 CEST at 01:00 UTC. */
#define BERLIN_SPRING INT64_C(1711846800)
/* 2024-10-27: Berlin falls back from 03:00 CEST to 02:00 CET at 01:00 UTC. */
#define BERLIN_FALL INT64_C(1729990800)

Test(cron, dst_gap_runs_once_after_the_jump) {
        struct cron_tz *tz = tz_or_skip("Europe/Berlin");
        /* 02:30 does not exist that night: it runs at 03:30 CEST (01:30 UTC), once. */
        int64_t t = next_of("30 2 * * *", tz, BERLIN_SPRING - 6 * 3600);
        cr_assert_eq(t, BERLIN_SPRING + 1800);
        cr_assert_eq(cron_tz_offset(tz, t), 7200);
        int64_t t2 = next_of("30 2 * * *", tz, t);
        cr_assert_eq(t2, BERLIN_SPRING + 86400 - 1800, "the next night, 02:30 CEST (00:30 UTC)");
        /* Hourly: 01:00 CET, then 03:00 CEST: no launch lost, none doubled. */
        int64_t h1 = next_of("0 * * * *", tz, BERLIN_SPRING - 3600);
        int64_t h2 = next_of("0 * * * *", tz, h1);
        cr_assert_eq(h1, BERLIN_SPRING, "03:00 CEST is the instant of the jump");
        cr_assert_eq(h2, BERLIN_SPRING + 3600);
        cron_tz_free(tz);
}

Test(cron, dst_overlap_runs_once) {
        struct cron_tz *tz = tz_or_skip("Europe/Berlin");
        /* 02:30 happens twice: at 00:30 UTC (CEST) and 01:30 UTC (CET). Runs at the first. */
        int64_t t = next_of("30 2 * * *", tz, BERLIN_FALL - 6 * 3600);
        cr_assert_eq(t, BERLIN_FALL - 1800);
        int64_t t2 = next_of("30 2 * * *", tz, t);
        cr_assert_eq(t2, BERLIN_FALL + 86400 + 1800, "the next night, 02:30 CET (01:30 UTC)");
        cron_tz_free(tz);
}

Test(cron, bad_time_zones) {
        struct cron_tz *tz = NULL;
        struct error err = {0};
        cr_assert_eq(cron_tz_load("../../etc/passwd", &tz, &err), -EINVAL);
        cr_assert_eq(cron_tz_load("/etc/passwd", &tz, &err), -EINVAL);
        cr_assert_eq(cron_tz_load("Mars/Olympus_Mons", &tz, &err), -ENOENT);
        cr_assert(strstr(err.msg, "Mars/Olympus_Mons"), "%s", err.msg);
        /* A file that is not TZif. */
        char dir[] = "/tmp/drover-tz-XXXXXX";
        cr_assert_not_null(mkdtemp(dir));
        char path[256];
        snprintf(path, sizeof(path), "%s/Fake", dir);
        FILE *f = fopen(path, "w");
        fputs("not a zone file at all, but long enough to be read as a header.....", f);
        fclose(f);
        setenv("TZDIR", dir, 1); /* this test's process only (criterion forks per test) */
        cr_assert_eq(cron_tz_load("Fake", &tz, &err), -EBADMSG);
        unsetenv("TZDIR");
        unlink(path);
        rmdir(dir);
}
