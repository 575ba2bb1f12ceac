/* test_limits.c - bounded input: safe names, sizes, ranges, linear duplicate checks. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common/error.h"
#include "common/limits.h"
#include "common/model.h"
#include "tests/unit/fixtures.h"

static struct job *valid_job(void) {
        struct job *j = fx_job("web", JOB_SERVICE, 1, 100, 64);
        j->groups[0].tasks[0].config = json_pack("{s:s}", "command", "/bin/true");
        job_canonicalize(j);
        struct error err = {0};
        cr_assert_eq(job_validate(j, &err), 0, "fixture must be valid: %s", err.msg);
        return j;
}

static void expect_refused(struct job *j, const char *needle) {
        struct error err = {0};
        cr_assert_eq(job_validate(j, &err), -EINVAL, "expected refusal containing '%s'", needle);
        cr_assert(strstr(err.msg, needle), "message '%s' lacks '%s'", err.msg, needle);
}

Test(limits, names_that_break_paths_are_refused) {
        const char *bad[] = {"../x", "a/b", "..", ".", "-rf", "a\\b", "tab\there", "del\x7f"};
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                struct error err = {0};
                cr_assert_eq(limits_check_name("task name", bad[i], &err), -EINVAL, "'%s' accepted", bad[i]);
                cr_assert(strstr(err.msg, "task name"), "message does not name the field: %s", err.msg);
        }
        const char *good[] = {"web", "api-1", "a.b", "...", "x_y", "caf\xc3\xa9", "with space"};
        for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
                cr_assert_eq(limits_check_name("task name", good[i], NULL), 0, "'%s' refused", good[i]);
        char longname[LIMIT_NAME_LEN + 2];
        memset(longname, 'a', sizeof(longname) - 1);
        longname[sizeof(longname) - 1] = '\0';
        cr_assert_eq(limits_check_name("job ID", longname, NULL), -EINVAL);
        longname[LIMIT_NAME_LEN] = '\0';
        cr_assert_eq(limits_check_name("job ID", longname, NULL), 0);
}

Test(limits, job_with_dotdot_task_or_group_name_is_refused) {
        struct job *j = valid_job();
        free(j->groups[0].tasks[0].name);
        j->groups[0].tasks[0].name = strdup("../x");
        expect_refused(j, "task name");
        free(j->groups[0].tasks[0].name);
        j->groups[0].tasks[0].name = strdup("t");
        free(j->groups[0].name);
        j->groups[0].name = strdup("a/b");
        expect_refused(j, "group name");
        job_unref(j);
}

Test(limits, periodic_children_keep_their_slash_but_nothing_else_does) {
        struct job *j = valid_job();
        free(j->id);
        j->id = strdup("web/periodic-1700000000");
        struct error err = {0};
        cr_assert_eq(job_validate(j, &err), 0, "%s", err.msg);
        free(j->id);
        j->id = strdup("../periodic-1");
        expect_refused(j, "job ID");
        job_unref(j);
}

Test(limits, ports_counts_and_durations_are_range_checked) {
        struct job *j = valid_job();
        struct task_group *tg = &j->groups[0];
        tg->networks = calloc(1, sizeof(*tg->networks));
        tg->n_networks = 1;
        tg->networks[0].reserved_ports = calloc(1, sizeof(struct port));
        tg->networks[0].n_reserved = 1;
        tg->networks[0].reserved_ports[0].label = strdup("http");
        tg->networks[0].reserved_ports[0].value = 70000;
        expect_refused(j, "static port 70000 out of range (1-65535)");
        tg->networks[0].reserved_ports[0].value = 8080;
        struct error err = {0};
        cr_assert_eq(job_validate(j, &err), 0, "%s", err.msg);
        tg->tasks[0].kill_timeout_ns = -5;
        expect_refused(j, "kill_timeout must be between 0");
        tg->tasks[0].kill_timeout_ns = 0;
        tg->restart.delay_ns = -1;
        expect_refused(j, "restart delay");
        tg->restart.delay_ns = 0;
        tg->ephemeral_disk_mb = -1;
        expect_refused(j, "ephemeral_disk");
        job_unref(j);
}

Test(limits, total_allocations_per_job_are_bounded) {
        struct job *j = valid_job();
        struct task_group *g = realloc(j->groups, 3 * sizeof(*g));
        j->groups = g;
        for (int i = 1; i < 3; i++) {
                memset(&g[i], 0, sizeof(g[i]));
                char name[16];
                snprintf(name, sizeof(name), "g%d", i);
                g[i].name = strdup(name);
                g[i].tasks = calloc(1, sizeof(struct task));
                g[i].n_tasks = 1;
                g[i].tasks[0].name = strdup("t");
                g[i].tasks[0].driver = strdup("raw_exec");
                g[i].tasks[0].config = json_pack("{s:s}", "command", "/bin/true");
                g[i].tasks[0].resources.cpu = 100;
                g[i].tasks[0].resources.memory_mb = 64;
        }
        j->n_groups = 3;
        g[0].count = g[1].count = g[2].count = LIMIT_ALLOCS / 2;
        expect_refused(j, "add up to more than");
        g[2].count = 0;
        struct error err = {0};
        cr_assert_eq(job_validate(j, &err), 0, "%s", err.msg);
        /* One group may hold them all (issue #18: 100,000 in one group or in many). */
        g[0].count = LIMIT_COUNT;
        g[1].count = 0;
        cr_assert_eq(LIMIT_COUNT, LIMIT_ALLOCS);
        cr_assert_eq(job_validate(j, &err), 0, "%s", err.msg);
        g[0].count = LIMIT_COUNT + 1;
        expect_refused(j, "count must be");
        g[0].count = LIMIT_ALLOCS / 2;
        g[1].count = LIMIT_ALLOCS / 2;
        free(g[2].name);
        g[2].name = strdup("g1");
        expect_refused(j, "duplicate group name \"g1\"");
        job_unref(j);
}

Test(limits, catastrophic_regexps_are_refused_before_compiling) {
        const char *bad[] = {"(a+)+$", "(a*)*", "((ab)+c)*", "(a+){2,}", "(.*a){10}", "(x)\\1"};
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
                cr_assert_eq(limits_check_regexp(bad[i], NULL), -EINVAL, "'%s' accepted", bad[i]);
        const char *good[] = {"^linux$", "a+b*c?", "(ab|cd)+", "[()+*]+", "^12\\.[0-9]+$", "(a)(b)+", "(a+)?b"};
        for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
                struct error err = {0};
                cr_assert_eq(limits_check_regexp(good[i], &err), 0, "'%s' refused: %s", good[i], err.msg);
        }
        char longre[LIMIT_REGEXP_LEN + 2];
        memset(longre, 'a', sizeof(longre) - 1);
        longre[sizeof(longre) - 1] = '\0';
        cr_assert_eq(limits_check_regexp(longre, NULL), -EINVAL);
}

Test(limits, meta_maps_are_bounded) {
        struct job *j = valid_job();
        for (int i = 0; i <= LIMIT_MAP_ENTRIES; i++) {
                char k[16];
                snprintf(k, sizeof(k), "k%d", i);
                strmap_set(&j->meta, k, "v");
        }
        expect_refused(j, "meta: more than");
        job_unref(j);
}

/* The duplicate-name checks were quadratic: a job of 100,000 groups took minutes on
 * the event loop. It must now be refused, naming the limit, in well under a second. */
Test(limits, a_job_of_100000_groups_is_refused_quickly) {
        enum { N = 100000 };
        struct task_group *g = calloc(N, sizeof(*g));
        for (size_t i = 0; i < N; i++) {
                char name[16];
                snprintf(name, sizeof(name), "g%zu", i);
                g[i].name = strdup(name);
                g[i].count = 1;
                g[i].tasks = calloc(1, sizeof(struct task));
                g[i].n_tasks = 1;
                g[i].tasks[0].name = strdup("t");
                g[i].tasks[0].driver = strdup("raw_exec");
                g[i].tasks[0].config = json_pack("{s:s}", "command", "/bin/true");
                g[i].tasks[0].resources.cpu = 100;
                g[i].tasks[0].resources.memory_mb = 64;
        }
        struct job *j = job_new();
        j->id = strdup("big");
        j->groups = g;
        j->n_groups = N;
        job_canonicalize(j);
        struct timespec a, b;
        clock_gettime(CLOCK_MONOTONIC, &a);
        expect_refused(j, "at most 1000 groups per job (got 100000)");
        clock_gettime(CLOCK_MONOTONIC, &b);
        double s = (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9;
        cr_assert_lt(s, 0.5, "validation of 100,000 groups took %.3f s", s);
        job_unref(j);
}

Test(limits, node_names_are_checked) {
        struct node *n = fx_node("n1", "dc1", 1000, 1000);
        struct error err = {0};
        cr_assert_eq(node_validate(n, &err), 0, "%s", err.msg);
        free(n->name);
        n->name = strdup("../etc");
        cr_assert_eq(node_validate(n, &err), -EINVAL);
        cr_assert(strstr(err.msg, "node Name"), "%s", err.msg);
        node_unref(n);
}

Test(limits, json_prescan_bounds_depth_width_and_strings) {
        struct error err = {0};
        const char *ok = "{\"Job\":{\"ID\":\"a\\\"[{,\",\"TaskGroups\":[{\"Name\":\"g\"},{}]}}";
        cr_assert_eq(limits_json_prescan(ok, strlen(ok), &err), 0, "%s", err.msg);
        char deep[2 * (LIMIT_JSON_DEPTH + 1) + 1];
        memset(deep, '[', LIMIT_JSON_DEPTH + 1);
        memset(deep + LIMIT_JSON_DEPTH + 1, ']', LIMIT_JSON_DEPTH + 1);
        deep[sizeof(deep) - 1] = '\0';
        cr_assert_eq(limits_json_prescan(deep, strlen(deep), &err), -EINVAL);
        cr_assert(strstr(err.msg, "nested deeper than 64"), "%s", err.msg);
        /* exactly the limit passes */
        cr_assert_eq(limits_json_prescan(deep + 1, strlen(deep) - 2, NULL), 0);
        size_t n = 2 * LIMIT_JSON_ELEMENTS + 2;
        char *wide = malloc(n + 1);
        wide[0] = '[';
        for (size_t i = 0; i < LIMIT_JSON_ELEMENTS; i++) {
                wide[1 + 2 * i] = '1';
                wide[2 + 2 * i] = ',';
        }
        wide[n - 1] = ']';
        wide[n] = '\0';
        cr_assert_eq(limits_json_prescan(wide, n, &err), -EINVAL);
        cr_assert(strstr(err.msg, "elements"), "%s", err.msg);
        free(wide);
        size_t sl = LIMIT_JSON_STRING + 3;
        char *str = malloc(sl + 1);
        memset(str, 'a', sl);
        str[0] = str[sl - 1] = '"';
        str[sl] = '\0';
        cr_assert_eq(limits_json_prescan(str, sl, &err), -EINVAL);
        cr_assert(strstr(err.msg, "string longer"), "%s", err.msg);
        free(str);
}

static int decode(const char *text, struct error *err) {
        json_error_t je;
        json_t *o = json_loads(text, 0, &je);
        cr_assert_not_null(o, "bad test JSON: %s", je.text);
        struct job *j = NULL;
        int r = job_from_json(o, &j, err);
        json_decref(o);
        if (j)
                job_unref(j);
        return r;
}

Test(limits, decoder_refuses_out_of_range_reals_and_huge_maps) {
        struct error err = {0};
        /* 1e300 fits no int64: refused, not cast (UBSan flags the cast). */
        cr_assert_eq(decode("{\"ID\":\"x\",\"Priority\":1e300}", &err), -EINVAL);
        cr_assert(strstr(err.msg, "Job.Priority"), "%s", err.msg);
        cr_assert_eq(decode("{\"ID\":\"x\",\"SubmitTime\":-1e19}", &err), -EINVAL);
        json_t *meta = json_object();
        for (int i = 0; i <= LIMIT_MAP_ENTRIES; i++) {
                char k[16];
                snprintf(k, sizeof(k), "k%d", i);
                json_object_set_new(meta, k, json_string("v"));
        }
        json_t *o = json_pack("{s:s,s:o}", "ID", "x", "Meta", meta);
        struct job *j = NULL;
        cr_assert_eq(job_from_json(o, &j, &err), -EINVAL);
        cr_assert(strstr(err.msg, "Job.Meta: more than 1024 entries"), "%s", err.msg);
        json_decref(o);
}

Test(limits, tasks_per_job_are_bounded) {
        enum { G = 11, T = LIMIT_TASKS }; /* 1100 tasks: each group within its limit, the job over */
        struct task_group *g = calloc(G, sizeof(*g));
        for (size_t i = 0; i < G; i++) {
                char name[16];
                snprintf(name, sizeof(name), "g%zu", i);
                g[i].name = strdup(name);
                g[i].count = 1;
                g[i].tasks = calloc(T, sizeof(struct task));
                g[i].n_tasks = T;
                for (size_t t = 0; t < T; t++) {
                        snprintf(name, sizeof(name), "t%zu", t);
                        g[i].tasks[t].name = strdup(name);
                        g[i].tasks[t].driver = strdup("raw_exec");
                        g[i].tasks[t].config = json_pack("{s:s}", "command", "/bin/true");
                        g[i].tasks[t].resources.cpu = 100;
                        g[i].tasks[t].resources.memory_mb = 64;
                }
        }
        struct job *j = job_new();
        j->id = strdup("wide");
        j->groups = g;
        j->n_groups = G;
        job_canonicalize(j);
        expect_refused(j, "at most 1000 tasks per job");
        j->n_groups = G - 1; /* 1000 tasks: accepted (the rest is freed below) */
        struct error err = {0};
        cr_assert_eq(job_validate(j, &err), 0, "%s", err.msg);
        j->n_groups = G;
        job_unref(j);
}

Test(limits, json_prescan_bounds_the_total_number_of_values) {
        /* 300 lists of 999 elements: each list within its limit, the body over 200,000. */
        size_t per = 2 * 999 + 2, n = 300 * per + 2;
        char *b = malloc(n + 1), *p = b;
        *p++ = '[';
        for (int l = 0; l < 300; l++) {
                *p++ = '[';
                for (int e = 0; e < 999; e++) {
                        *p++ = '1';
                        *p++ = e < 998 ? ',' : ']';
                }
                *p++ = l < 299 ? ',' : ']';
        }
        *p = '\0';
        struct error err = {0};
        cr_assert_eq(limits_json_prescan(b, strlen(b), &err), -EINVAL);
        cr_assert(strstr(err.msg, "more than 200000 values"), "%s", err.msg);
        free(b);
}
