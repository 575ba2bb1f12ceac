/* test_flags.c - the table-driven flag parser shared by drover-server and drover-agent. */
#include <criterion/criterion.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/error.h"
#include "common/flags.h"
#include "common/macros.h"

struct cfg {
        char *name;
        bool on;
        int64_t count;
        int64_t ttl_ms;
};

static const struct flag flags[] = {
    {"name", FLAG_STR, "anon", 0, 0, offsetof(struct cfg, name), "a name"},
    {"on", FLAG_BOOL, "false", 0, 0, offsetof(struct cfg, on), "a switch"},
    {"count", FLAG_INT, "3", 1, 10, offsetof(struct cfg, count), "a count"},
    {"ttl", FLAG_DURATION_MS, "10s", 100, 60000, offsetof(struct cfg, ttl_ms), "a duration"},
};

static int parse(struct cfg *c, int argc, char **argv, struct error *err) {
        *c = (struct cfg){0};
        int r = flags_defaults(c, flags, ARRAY_SIZE(flags), err);
        return r ? r : flags_parse(c, flags, ARRAY_SIZE(flags), argc, argv, err);
}

Test(flags, defaults_and_every_spelling) {
        struct cfg c;
        struct error err = {0};
        char *none[] = {"prog"};
        cr_assert_eq(parse(&c, 1, none, &err), 0, "%s", err.msg);
        cr_expect_str_eq(c.name, "anon");
        cr_expect(!c.on);
        cr_expect_eq(c.count, 3);
        cr_expect_eq(c.ttl_ms, 10000);
        flags_free(&c, flags, ARRAY_SIZE(flags));
        char *argv[] = {"prog", "-name", "x", "--on", "-count=7", "--ttl=0.5m"};
        cr_assert_eq(parse(&c, 6, argv, &err), 0, "%s", err.msg);
        cr_expect_str_eq(c.name, "x");
        cr_expect(c.on);
        cr_expect_eq(c.count, 7);
        cr_expect_eq(c.ttl_ms, 30000);
        flags_free(&c, flags, ARRAY_SIZE(flags));
        cr_expect_null(c.name);
        char *off[] = {"prog", "-on=false", "-ttl", "250ms"};
        cr_assert_eq(parse(&c, 4, off, &err), 0, "%s", err.msg);
        cr_expect(!c.on);
        cr_expect_eq(c.ttl_ms, 250);
        flags_free(&c, flags, ARRAY_SIZE(flags));
}

Test(flags, help_is_reported_not_printed) {
        struct cfg c;
        struct error err = {0};
        char *argv[] = {"prog", "-count", "2", "--help"};
        cr_expect_eq(parse(&c, 4, argv, &err), 1);
        flags_free(&c, flags, ARRAY_SIZE(flags));
}

Test(flags, bad_input_names_the_flag) {
        struct {
                int argc;
                char *argv[3];
                const char *expect;
        } cases[] = {
            {2, {"prog", "-nope"}, "unknown flag \"-nope\""},
            {2, {"prog", "stray"}, "unexpected argument \"stray\""},
            {2, {"prog", "-name"}, "flag -name needs a value"},
            {2, {"prog", "-on=maybe"}, "-on: expected true or false"},
            {2, {"prog", "-count=11"}, "-count: expected an integer from 1 to 10"},
            {2, {"prog", "-count=2x"}, "-count: expected an integer"},
            {2, {"prog", "-ttl=5x"}, "-ttl: expected a duration"},
            {2, {"prog", "-ttl=50ms"}, "within [100ms, 60000ms]"},
            {2, {"prog", "-"}, "unexpected argument \"-\""},
        };
        for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
                struct cfg c;
                struct error err = {0};
                cr_expect_lt(parse(&c, cases[i].argc, cases[i].argv, &err), 0, "%s accepted", cases[i].argv[1]);
                cr_expect(strstr(err.msg, cases[i].expect) != NULL, "%s: got \"%s\"", cases[i].argv[1], err.msg);
                flags_free(&c, flags, ARRAY_SIZE(flags));
        }
}

Test(flags, durations) {
        int64_t v;
        cr_expect_eq(flags_parse_duration_ms("1h", &v), 0);
        cr_expect_eq(v, 3600000);
        cr_expect_eq(flags_parse_duration_ms("42", &v), 0);
        cr_expect_eq(v, 42);
        cr_expect_lt(flags_parse_duration_ms("-1s", &v), 0);
        cr_expect_lt(flags_parse_duration_ms("s", &v), 0);
        cr_expect_lt(flags_parse_duration_ms("1d", &v), 0);
}

struct scfg {
        char *user, *secret, *unset_secret;
};

static const struct flag secret_flags[] = {
    {"user", FLAG_STR, "bob", 0, 0, offsetof(struct scfg, user), "a user"},
    {"secret", FLAG_STR, "", 0, 0, offsetof(struct scfg, secret), "a secret", true},
    {"unset-secret", FLAG_STR, "", 0, 0, offsetof(struct scfg, unset_secret), "a secret not set", true},
};

Test(flags, print_values_redacts_a_set_secret) {
        struct scfg c = {0};
        struct error err = {0};
        char *argv[] = {"prog", "-secret", "hunter2-s3cr3t"};
        cr_assert_eq(flags_defaults(&c, secret_flags, ARRAY_SIZE(secret_flags), &err), 0);
        cr_assert_eq(flags_parse(&c, secret_flags, ARRAY_SIZE(secret_flags), 3, argv, &err), 0, "%s", err.msg);
        cr_expect_str_eq(c.secret, "hunter2-s3cr3t"); /* the value is there for the daemon */
        FILE *f = tmpfile();
        cr_assert_not_null(f);
        fflush(stdout);
        int saved = dup(1);
        dup2(fileno(f), 1);
        flags_print_values(&c, secret_flags, ARRAY_SIZE(secret_flags));
        fflush(stdout);
        dup2(saved, 1);
        close(saved);
        char out[512] = {0};
        rewind(f);
        size_t n = fread(out, 1, sizeof(out) - 1, f);
        fclose(f);
        out[n] = '\0';
        cr_expect(strstr(out, "user = \"bob\""), "%s", out);
        cr_expect(strstr(out, "secret = \"<redacted>\""), "%s", out);
        cr_expect(!strstr(out, "hunter2"), "%s", out);
        cr_expect(strstr(out, "unset-secret = \"\""), "an unset secret shows as empty: %s", out);
        flags_free(&c, secret_flags, ARRAY_SIZE(secret_flags));
}
