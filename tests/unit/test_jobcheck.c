/* test_jobcheck.c - the values Nomad's validation refuses inside a job (common/jobcheck.c):
 * version constraints, distinct_hosts' boolean, the update and reschedule blocks. */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "common/error.h"
#include "common/jobcheck.h"

Test(jobcheck, version_constraints_as_go_version_reads_them) {
        static const char *const good[] = {"1",        ">= 1.2.0",        "~> 6.1",        ">= 5.10, < 7",
                                           "= v1.0.0", "!= 1.2.3-rc.1",   "<=1.2+build.5", " > 0.6.1 ",
                                           "1.2beta",  ">= 1.0.0-alpha-1"};
        static const char *const bad[] = {">= 1.x.y", "",     ">=", "1.2.", "latest", ">= 1, ",
                                          "=> 1.0",   "1.0-", "1+", "1..2", "~ 1.0",  ">= 1.0 2.0"};
        for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
                cr_expect(version_constraint_valid(good[i], false), "version \"%s\" refused", good[i]);
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
                cr_expect(!version_constraint_valid(bad[i], false), "version \"%s\" accepted", bad[i]);
        cr_expect(!version_constraint_valid(NULL, false));
        /* semver: at most three numbers, a pre-release only after '-' */
        cr_expect(version_constraint_valid(">= 0.6.1", true));
        cr_expect(version_constraint_valid("1", true));
        cr_expect(version_constraint_valid("< 2.0.0-rc.1", true));
        cr_expect(!version_constraint_valid("1.2.3.4", true));
        cr_expect(version_constraint_valid("1.2.3.4", false));
        cr_expect(!version_constraint_valid("1.2beta", true));
}

Test(jobcheck, go_bool_parse_takes_what_strconv_does) {
        static const char *const yes[] = {"1", "t", "T", "TRUE", "true", "True"};
        static const char *const no[] = {"0", "f", "F", "FALSE", "false", "False"};
        for (size_t i = 0; i < 6; i++) {
                cr_expect_eq(go_bool_parse(yes[i]), 1, "%s", yes[i]);
                cr_expect_eq(go_bool_parse(no[i]), 0, "%s", no[i]);
        }
        cr_expect_eq(go_bool_parse("maybe"), -1);
        cr_expect_eq(go_bool_parse("yes"), -1);
        cr_expect_eq(go_bool_parse("tRUE"), -1);
        cr_expect_eq(go_bool_parse(""), -1);
        cr_expect_eq(go_bool_parse(NULL), -1);
}

static int check(int (*fn)(const char *, const json_t *, struct error *), const char *text, struct error *err) {
        json_t *o = json_loads(text, JSON_DECODE_ANY, NULL);
        cr_assert_not_null(o, "bad test JSON: %s", text);
        int r = fn("job \"w\", group \"g\"", o, err);
        json_decref(o);
        return r;
}

Test(jobcheck, update_and_reschedule_blocks_name_the_field) {
        struct error err = {0};
        cr_expect_eq(check(update_block_validate, "{\"MaxParallel\":-1}", &err), -EINVAL);
        cr_expect_str_eq(err.msg, "job \"w\", group \"g\", update: max_parallel must be >= 0 (got -1)");
        cr_expect_eq(check(update_block_validate, "{\"Canary\":-2}", &err), -EINVAL);
        cr_expect(strstr(err.msg, "update: canary must be >= 0 (got -2)"), "%s", err.msg);
        cr_expect_eq(check(update_block_validate, "{\"MaxParallel\":\"two\"}", &err), -EINVAL);
        cr_expect(strstr(err.msg, "update: max_parallel must be an integer"), "%s", err.msg);
        cr_expect_eq(check(update_block_validate, "{\"HealthCheck\":\"pings\"}", &err), -EINVAL);
        cr_expect(strstr(err.msg, "update: health_check must be \"checks\", \"task_states\" or \"manual\" (got "
                                  "\"pings\")"),
                  "%s", err.msg);
        cr_expect_eq(check(update_block_validate, "[]", &err), -EINVAL);
        cr_expect_eq(check(update_block_validate,
                           "{\"MaxParallel\":0,\"Canary\":2,\"HealthCheck\":\"task_states\",\"MinHealthyTime\":"
                           "10000000000,\"AutoRevert\":true}",
                           &err),
                     0, "%s", err.msg);
        cr_expect_eq(check(update_block_validate, "null", &err), 0);
        cr_expect_eq(update_block_validate("job \"w\"", NULL, &err), 0);

        cr_expect_eq(check(reschedule_block_validate, "{\"DelayFunction\":\"x\"}", &err), -EINVAL);
        cr_expect_str_eq(err.msg, "job \"w\", group \"g\", reschedule: delay_function must be \"constant\", "
                                  "\"exponential\" or \"fibonacci\" (got \"x\")");
        cr_expect_eq(check(reschedule_block_validate, "{\"Attempts\":-3}", &err), -EINVAL);
        cr_expect(strstr(err.msg, "reschedule: attempts must be >= 0 (got -3)"), "%s", err.msg);
        static const char *const fns[] = {"constant", "exponential", "fibonacci", ""};
        for (size_t i = 0; i < 4; i++) {
                char text[128];
                snprintf(text, sizeof(text), "{\"DelayFunction\":\"%s\",\"Unlimited\":true}", fns[i]);
                cr_expect_eq(check(reschedule_block_validate, text, &err), 0, "%s: %s", fns[i], err.msg);
        }
}
