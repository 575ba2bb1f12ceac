/* test_agent_taskenv.c - task environment and ${...} interpolation; agent flags. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/model.h"
#include "nodeagent/alloc/taskenv.h"
#include "nodeagent/config.h"

/* The variables of task "srv" of web.api[2] on dc1. */
static struct taskenv_params params(void) {
        return (struct taskenv_params){.alloc_id = "a1",
                                       .alloc_index = 2,
                                       .alloc_name = "web.api[2]",
                                       .job_id = "web",
                                       .job_name = "web",
                                       .group_name = "api",
                                       .task_name = "srv",
                                       .dc = "dc1",
                                       .alloc_dir = "/d/alloc",
                                       .task_dir = "/d/srv/local",
                                       .cpu_limit = 500,
                                       .memory_limit = 256};
}

static struct strmap build_with(const struct strmap *task_env, char *const *host, const char *passthrough,
                                const struct taskenv_user *user) {
        struct taskenv_params p = params();
        p.task_env = task_env;
        p.host_env = host;
        p.passthrough = passthrough;
        p.user = user;
        struct strmap m = {0};
        cr_assert_eq(taskenv_build(&p, &m), 0);
        return m;
}

static struct strmap build(const struct strmap *task_env, char *const *host) {
        return build_with(task_env, host, NULL, NULL);
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

/* The agent's environment: its node secret, a proxy with credentials, its own PATH. */
static char *agent_env[] = {"PATH=/agent/bin",
                            "HOME=/root",
                            "USER=root",
                            "DROVER_NODE_SECRET=s3cret",
                            "https_proxy=http://u:pw@proxy:3128",
                            "LANG=C.UTF-8",
                            "TZ=Europe/Paris",
                            "EXTRA=1",
                            "NOMAD_ALLOC_ID=spoofed",
                            "=odd",
                            "NOEQUALS",
                            NULL};

Test(agent_taskenv, tasks_get_a_fixed_base_not_the_agents_environment) {
        struct taskenv_user svc = {.name = "svc", .home = "/home/svc", .shell = "/bin/bash"};
        struct strmap m = build_with(NULL, agent_env, NULL, &svc);
        cr_expect_str_eq(strmap_get(&m, "PATH"), TASKENV_DEFAULT_PATH, "not the agent's PATH");
        cr_expect_str_eq(strmap_get(&m, "HOME"), "/home/svc", "the task user's, not the agent's");
        cr_expect_str_eq(strmap_get(&m, "USER"), "svc");
        cr_expect_str_eq(strmap_get(&m, "LOGNAME"), "svc");
        cr_expect_str_eq(strmap_get(&m, "SHELL"), "/bin/bash");
        cr_expect_str_eq(strmap_get(&m, "LANG"), "C.UTF-8");
        cr_expect_str_eq(strmap_get(&m, "TZ"), "Europe/Paris");
        cr_expect_null(strmap_get(&m, "LC_ALL"), "not set on the agent");
        cr_expect_null(strmap_get(&m, "DROVER_NODE_SECRET"), "the agent's secret stays with the agent");
        cr_expect_null(strmap_get(&m, "https_proxy"));
        cr_expect_null(strmap_get(&m, "EXTRA"));
        cr_expect_str_eq(strmap_get(&m, "NOMAD_ALLOC_ID"), "a1");
        size_t base = 0;
        for (size_t i = 0; i < m.n; i++)
                base += strncmp(m.items[i].key, "NOMAD_", 6) != 0 && strncmp(m.items[i].key, "DROVER_", 7) != 0;
        cr_expect_eq(base, 7, "PATH, HOME, USER, LOGNAME, SHELL, LANG, TZ and nothing else (%zu)", base);
        strmap_clear(&m);

        /* No user entry (a dynamic workload id): no HOME, USER, LOGNAME, SHELL. */
        m = build_with(NULL, agent_env, NULL, NULL);
        cr_expect_null(strmap_get(&m, "HOME"));
        cr_expect_null(strmap_get(&m, "USER"));
        strmap_clear(&m);

        /* The operator passes named variables through (client.options "env.passthrough"). */
        m = build_with(NULL, agent_env, " EXTRA,https_proxy ,,NOPE", &svc);
        cr_expect_str_eq(strmap_get(&m, "EXTRA"), "1");
        cr_expect_str_eq(strmap_get(&m, "https_proxy"), "http://u:pw@proxy:3128");
        cr_expect_null(strmap_get(&m, "NOPE"));
        cr_expect_null(strmap_get(&m, "EXTR"), "whole names only");
        cr_expect_null(strmap_get(&m, "DROVER_NODE_SECRET"));
        strmap_clear(&m);
}

Test(agent_taskenv, task_env_is_interpolated_and_overrides_the_base) {
        struct strmap te = {0};
        strmap_set(&te, "HOME", "/home/${NOMAD_TASK_NAME}");
        strmap_set(&te, "PATH", "/opt/${DROVER_JOB_NAME}/bin:${PATH}");
        strmap_set(&te, "WHO", "${NOMAD_JOB_NAME}-${DROVER_ALLOC_INDEX}");
        strmap_set(&te, "DROVER_DC", "overridden");
        struct taskenv_user root = {.name = "root", .home = "/root", .shell = "/bin/sh"};
        struct strmap m = build_with(&te, agent_env, NULL, &root);
        cr_expect_str_eq(strmap_get(&m, "PATH"), "/opt/web/bin:" TASKENV_DEFAULT_PATH);
        cr_expect_str_eq(strmap_get(&m, "HOME"), "/home/srv");
        cr_expect_str_eq(strmap_get(&m, "WHO"), "web-2");
        cr_expect_str_eq(strmap_get(&m, "DROVER_DC"), "overridden", "a job's env may set the DROVER_ names");
        cr_expect_str_eq(strmap_get(&m, "NOMAD_DC"), "dc1", "...which leaves the NOMAD_ one");
        cr_expect_str_eq(strmap_get(&m, "NOMAD_ALLOC_ID"), "a1", "the agent cannot override NOMAD_ variables");
        strmap_clear(&m);
        strmap_clear(&te);
}

Test(agent_taskenv, every_nomad_variable_has_its_drover_twin) {
        json_t *allocated = json_loads("{\"Shared\":{\"Ports\":[{\"Label\":\"http\",\"Value\":23456,\"To\":8080,"
                                       "\"HostIP\":\"10.1.2.3\"}]},\"Tasks\":{\"srv\":{\"Networks\":[{\"IP\":"
                                       "\"10.9.9.9\",\"DynamicPorts\":[{\"Label\":\"rpc\",\"Value\":21000}]}]}}}",
                                       0, NULL);
        cr_assert(allocated);
        struct taskenv_params p = params();
        p.namespace = "default";
        p.region = "global";
        p.node_id = "n1";
        p.node_name = "host1";
        p.secrets_dir = "/d/srv/secrets";
        p.allocated = allocated;
        struct strmap m = {0};
        cr_assert_eq(taskenv_build(&p, &m), 0);
        size_t nomad = 0, drover = 0;
        for (size_t i = 0; i < m.n; i++) {
                const char *k = m.items[i].key;
                if (strncmp(k, "NOMAD_", 6) == 0) {
                        nomad++;
                        char twin[256];
                        snprintf(twin, sizeof(twin), "DROVER_%s", k + 6);
                        const char *v = strmap_get(&m, twin);
                        cr_expect(v && strcmp(v, m.items[i].value) == 0, "%s=%s: %s=%s", k, m.items[i].value, twin,
                                  v ? v : "(unset)");
                } else if (strncmp(k, "DROVER_", 7) == 0) {
                        drover++;
                }
        }
        /* 14 names, ALLOC_INDEX, CPU_LIMIT, MEMORY_LIMIT, 6 per port. */
        cr_expect_eq(nomad, 14 + 3 + 6 * 2, "%zu NOMAD_ variables", nomad);
        cr_expect_eq(drover, nomad);
        cr_expect_str_eq(strmap_get(&m, "DROVER_CPU_LIMIT"), "500");
        cr_expect_str_eq(strmap_get(&m, "DROVER_MEMORY_LIMIT"), "256");
        cr_expect_str_eq(strmap_get(&m, "DROVER_PORT_http"), "8080");
        cr_expect_str_eq(strmap_get(&m, "DROVER_HOST_ADDR_rpc"), "10.9.9.9:21000");
        strmap_clear(&m);
        json_decref(allocated);
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

Test(agent_config, env_passthrough_is_empty_unless_given) {
        struct agent_config cfg;
        struct error err = {0};
        char *none[] = {"drover-agent", NULL};
        cr_assert_eq(agent_config_parse(&cfg, 1, none, &err), 0, "%s", err.msg);
        cr_expect_str_eq(cfg.env_passthrough, "", "tasks get none of the agent's variables by default");
        agent_config_free(&cfg);
        char *some[] = {"drover-agent", "-env-passthrough", "HTTP_PROXY,NO_PROXY", NULL};
        cr_assert_eq(agent_config_parse(&cfg, 3, some, &err), 0, "%s", err.msg);
        cr_expect_str_eq(cfg.env_passthrough, "HTTP_PROXY,NO_PROXY");
        agent_config_free(&cfg);
}
