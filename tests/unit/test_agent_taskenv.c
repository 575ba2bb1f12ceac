/* test_agent_taskenv.c - task environment and ${...} interpolation; agent flags. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/model.h"
#include "nodeagent/alloc/taskenv.h"
#include "nodeagent/config.h"

static struct strmap build(const struct strmap *task_env, char *const *host) {
        struct taskenv_params p = {.alloc_id = "a1",
                                   .alloc_index = 2,
                                   .alloc_name = "web.api[2]",
                                   .job_id = "web",
                                   .job_name = "web",
                                   .group_name = "api",
                                   .task_name = "srv",
                                   .dc = "dc1",
                                   .alloc_dir = "/d/alloc",
                                   .task_dir = "/d/srv/local",
                                   .task_env = task_env,
                                   .host_env = host};
        struct strmap m = {0};
        cr_assert_eq(taskenv_build(&p, &m), 0);
        return m;
}

Test(agent_taskenv, nomad_variables_are_set) {
        struct strmap m = build(NULL, NULL);
        cr_expect_str_eq(strmap_get(&m, "NOMAD_ALLOC_INDEX"), "2");
        cr_expect_str_eq(strmap_get(&m, "NOMAD_ALLOC_ID"), "a1");
        cr_expect_str_eq(strmap_get(&m, "NOMAD_ALLOC_NAME"), "web.api[2]");
        cr_expect_str_eq(strmap_get(&m, "NOMAD_JOB_NAME"), "web");
        cr_expect_str_eq(strmap_get(&m, "NOMAD_GROUP_NAME"), "api");
        cr_expect_str_eq(strmap_get(&m, "NOMAD_TASK_NAME"), "srv");
        cr_expect_str_eq(strmap_get(&m, "NOMAD_DC"), "dc1");
        cr_expect_str_eq(strmap_get(&m, "NOMAD_ALLOC_DIR"), "/d/alloc");
        cr_expect_str_eq(strmap_get(&m, "NOMAD_TASK_DIR"), "/d/srv/local");
        strmap_clear(&m);
}

Test(agent_taskenv, task_env_is_interpolated_and_overrides_the_host) {
        char *host[] = {"PATH=/bin", "HOME=/root", "NOMAD_ALLOC_ID=spoofed", NULL};
        struct strmap te = {0};
        strmap_set(&te, "HOME", "/home/${NOMAD_TASK_NAME}");
        strmap_set(&te, "WHO", "${NOMAD_JOB_NAME}-${NOMAD_ALLOC_INDEX}");
        struct strmap m = build(&te, host);
        cr_expect_str_eq(strmap_get(&m, "PATH"), "/bin");
        cr_expect_str_eq(strmap_get(&m, "HOME"), "/home/srv");
        cr_expect_str_eq(strmap_get(&m, "WHO"), "web-2");
        cr_expect_str_eq(strmap_get(&m, "NOMAD_ALLOC_ID"), "a1", "the host cannot override NOMAD_ variables");
        strmap_clear(&m);
        strmap_clear(&te);
}

Test(agent_taskenv, interpolation_keeps_unknown_references) {
        struct strmap m = build(NULL, NULL);
        static const struct {
                const char *in, *want;
        } cases[] = {
            {"echo ${NOMAD_ALLOC_INDEX}", "echo 2"},
            {"${NOMAD_JOB_NAME}.${NOMAD_GROUP_NAME}[${NOMAD_ALLOC_INDEX}]", "web.api[2]"},
            {"${UNKNOWN} and ${NOMAD_DC}", "${UNKNOWN} and dc1"},
            {"$NOMAD_DC $(hostname) ${", "$NOMAD_DC $(hostname) ${"},
            {"${}", "${}"},
            {"", ""},
        };
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                char *out = taskenv_interpolate(&m, cases[i].in);
                cr_expect_str_eq(out, cases[i].want, "input \"%s\"", cases[i].in);
                free(out);
        }
        json_t *cfg = json_pack("{s:s,s:[s,s],s:i}", "command", "/bin/${NOMAD_TASK_NAME}", "args", "-n",
                                "${NOMAD_ALLOC_INDEX}", "port", 80);
        json_t *out = taskenv_interpolate_json(&m, cfg);
        cr_expect_str_eq(json_string_value(json_object_get(out, "command")), "/bin/srv");
        cr_expect_str_eq(json_string_value(json_array_get(json_object_get(out, "args"), 1)), "2");
        cr_expect_eq(json_integer_value(json_object_get(out, "port")), 80);
        cr_expect_str_eq(json_string_value(json_object_get(cfg, "command")), "/bin/${NOMAD_TASK_NAME}",
                         "the job's config is not changed");
        json_decref(out);
        json_decref(cfg);
        strmap_clear(&m);
}

Test(agent_config, defaults_flags_and_bad_input) {
        unsetenv("DROVER_ADDR");
        struct agent_config cfg;
        struct error err = {0};
        char *argv1[] = {"drover-agent", "-data-dir", "/tmp/x", "--dc=eu1", "-dev", NULL};
        cr_assert_eq(agent_config_parse(&cfg, 5, argv1, &err), 0, "%s", err.msg);
        cr_expect_str_eq(cfg.servers, "http://127.0.0.1:4646");
        cr_expect_str_eq(cfg.data_dir, "/tmp/x");
        cr_expect_str_eq(cfg.dc, "eu1");
        cr_expect_str_eq(cfg.node_pool, "default");
        cr_expect(cfg.dev);
        agent_config_free(&cfg);

        setenv("DROVER_ADDR", "http://10.0.0.1:4646", 1);
        char *argv2[] = {"drover-agent", NULL};
        cr_assert_eq(agent_config_parse(&cfg, 1, argv2, &err), 0, "%s", err.msg);
        cr_expect_str_eq(cfg.servers, "http://10.0.0.1:4646");
        agent_config_free(&cfg);
        unsetenv("DROVER_ADDR");

        char *bad1[] = {"drover-agent", "-nope", NULL};
        cr_expect_lt(agent_config_parse(&cfg, 2, bad1, &err), 0);
        cr_expect(strstr(err.msg, "unknown flag \"-nope\"") != NULL, "%s", err.msg);
        agent_config_free(&cfg);
        char *bad2[] = {"drover-agent", "-servers", "10.0.0.1:4646", NULL};
        cr_expect_lt(agent_config_parse(&cfg, 3, bad2, &err), 0);
        cr_expect(strstr(err.msg, "must start with http://") != NULL, "%s", err.msg);
        agent_config_free(&cfg);
        char *bad3[] = {"drover-agent", "-data-dir", NULL};
        cr_expect_lt(agent_config_parse(&cfg, 2, bad3, &err), 0);
        cr_expect(strstr(err.msg, "needs a value") != NULL, "%s", err.msg);
        agent_config_free(&cfg);
}

Test(agent_config, server_list_is_split_and_trimmed) {
        char *s[4];
        struct error err = {0};
        int n = agent_config_servers(" http://a:1/, https://b:2 ,,http://c:3", s, 4, &err);
        cr_assert_eq(n, 3, "%s", err.msg);
        cr_expect_str_eq(s[0], "http://a:1");
        cr_expect_str_eq(s[1], "https://b:2");
        cr_expect_str_eq(s[2], "http://c:3");
        for (int i = 0; i < n; i++)
                free(s[i]);
        cr_expect_lt(agent_config_servers(" , ", s, 4, &err), 0);
}
