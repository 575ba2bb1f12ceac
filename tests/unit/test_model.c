/* test_model.c - data model: JSON round trips, defaults and validation. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "common/error.h"
#include "common/model.h"

static struct job *job_from_text(const char *text) {
        json_error_t je;
        json_t *o = json_loads(text, 0, &je);
        cr_assert_not_null(o, "bad test JSON: %s", je.text);
        struct job *j = NULL;
        struct error err = {0};
        int r = job_from_json(o, &j, &err);
        json_decref(o);
        cr_assert_eq(r, 0, "job_from_json: %s", err.msg);
        return j;
}

static const char *base_job =
    "{\"ID\":\"web\",\"Type\":\"service\",\"TaskGroups\":[{\"Name\":\"api\",\"Count\":2,"
    "\"Tasks\":[{\"Name\":\"srv\",\"Driver\":\"raw_exec\",\"Config\":{\"command\":\"/bin/true\"},"
    "\"Resources\":{\"CPU\":250,\"MemoryMB\":64},\"Services\":[{\"Name\":\"web\",\"PortLabel\":\"http\"}]}],"
    "\"EphemeralDisk\":{\"SizeMB\":150,\"Sticky\":true}}],\"Meta\":{\"team\":\"a\"},\"Multiregion\":null,"
    "\"UI\":{\"Description\":\"kept\"}}";

Test(model, job_json_round_trip_keeps_unmodelled_fields) {
        struct job *j = job_from_text(base_job);
        cr_assert_str_eq(j->id, "web");
        cr_assert_eq(j->n_groups, 1);
        cr_assert_eq(j->groups[0].count, 2);
        cr_assert_eq(j->groups[0].ephemeral_disk_mb, 150);
        cr_assert_eq(j->groups[0].tasks[0].resources.cpu, 250);
        json_t *out = job_to_json(j);
        /* Fields drover does not model come back as they were sent. */
        cr_assert_str_eq(json_string_value(json_object_get(json_object_get(out, "UI"), "Description")), "kept");
        json_t *tg = json_array_get(json_object_get(out, "TaskGroups"), 0);
        cr_assert(json_is_true(json_object_get(json_object_get(tg, "EphemeralDisk"), "Sticky")));
        json_t *task = json_array_get(json_object_get(tg, "Tasks"), 0);
        cr_assert_str_eq(json_string_value(json_object_get(json_array_get(json_object_get(task, "Services"), 0), "Name")),
                         "web");
        /* And a second trip is stable. */
        struct job *j2 = NULL;
        cr_assert_eq(job_from_json(out, &j2, NULL), 0);
        json_t *out2 = job_to_json(j2);
        cr_assert(json_equal(out, out2), "round trip not stable");
        json_decref(out);
        json_decref(out2);
        job_unref(j2);
        job_unref(j);
}

Test(model, canonicalize_fills_nomad_defaults) {
        struct job *j = job_from_text("{\"ID\":\"b\",\"Type\":\"batch\",\"TaskGroups\":[{\"Name\":\"g\",\"Tasks\":"
                                      "[{\"Name\":\"t\",\"Driver\":\"raw_exec\",\"Config\":{\"command\":\"x\"}}]}]}");
        job_canonicalize(j);
        cr_assert_eq(j->priority, 50);
        cr_assert_str_eq(j->region, "global");
        cr_assert_str_eq(j->namespace, "default");
        cr_assert_str_eq(j->node_pool, "default");
        cr_assert_eq(j->n_datacenters, 1);
        cr_assert_str_eq(j->datacenters[0], "*");
        cr_assert_eq(j->groups[0].count, 1);
        cr_assert_eq(j->groups[0].restart.attempts, 3); /* batch default */
        cr_assert_eq(j->groups[0].tasks[0].resources.cpu, 100);
        cr_assert_eq(j->groups[0].tasks[0].resources.memory_mb, 300);
        cr_assert_eq(j->groups[0].tasks[0].kill_timeout_ns, 5000000000LL);
        struct res_ask ask = task_group_ask(&j->groups[0]);
        cr_assert_eq(ask.cpu, 100);
        cr_assert_eq(ask.disk_mb, 300);
        job_unref(j);
}

struct bad_case {
        const char *json;
        const char *want;
};

Test(model, validation_errors_name_the_place) {
        static const struct bad_case cases[] = {
            {"{\"ID\":\"w\",\"TaskGroups\":[{\"Name\":\"g\",\"Count\":-1,\"Tasks\":[{\"Name\":\"t\",\"Driver\":\"raw_exec\","
             "\"Config\":{\"command\":\"x\"}}]}]}",
             "job \"w\", group \"g\": count must be >= 0 (got -1)"},
            {"{\"ID\":\"w\",\"TaskGroups\":[{\"Name\":\"g\",\"Tasks\":[{\"Name\":\"t\",\"Driver\":\"nope\"}]}]}",
             "unknown driver \"nope\""},
            {"{\"ID\":\"w\",\"TaskGroups\":[{\"Name\":\"g\",\"Tasks\":[{\"Name\":\"t\",\"Driver\":\"raw_exec\","
             "\"Config\":{\"command\":\"x\"}},{\"Name\":\"t\",\"Driver\":\"raw_exec\",\"Config\":{\"command\":\"x\"}}]}]}",
             "duplicate task name \"t\""},
            {"{\"ID\":\"w\",\"TaskGroups\":[{\"Name\":\"g\",\"Tasks\":[{\"Name\":\"t\",\"Driver\":\"raw_exec\","
             "\"Config\":{\"command\":\"x\"},\"Resources\":{\"CPU\":-5}}]}]}",
             "cpu must be >= 1 MHz (got -5)"},
            {"{\"ID\":\"w\",\"TaskGroups\":[{\"Name\":\"g\",\"Tasks\":[{\"Name\":\"t\",\"Driver\":\"raw_exec\"}]}]}",
             "missing \"command\""},
            {"{\"ID\":\"w\",\"Priority\":500,\"TaskGroups\":[{\"Name\":\"g\",\"Tasks\":[{\"Name\":\"t\","
             "\"Driver\":\"raw_exec\",\"Config\":{\"command\":\"x\"}}]}]}",
             "priority must be between 1 and 100 (got 500)"},
            {"{\"ID\":\"w\",\"TaskGroups\":[]}", "missing task group"},
            {"{\"ID\":\"has space\",\"TaskGroups\":[]}", "job ID must be 1-128 characters"},
            /* a long ID is cut in the message, so that what is wrong still shows */
            {"{\"ID\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
             "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
             "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
             "\",\"TaskGroups\":[]}",
             "characters (got 292: \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa...\")"},
        };
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                struct job *j = job_from_text(cases[i].json);
                job_canonicalize(j);
                struct error err = {0};
                cr_assert_lt(job_validate(j, &err), 0, "case %zu accepted", i);
                cr_assert(strstr(err.msg, cases[i].want), "case %zu: got \"%s\", want \"%s\"", i, err.msg,
                          cases[i].want);
                job_unref(j);
        }
}

/* A raw_exec task with that lifecycle (LC "": a main task). */
#define LC_TASK(name, lc) "{\"Name\":\"" name "\",\"Driver\":\"raw_exec\",\"Config\":{\"command\":\"x\"}" lc "}"
#define LC_PRESTART ",\"Lifecycle\":{\"Hook\":\"prestart\"}"
#define LC_SIDECAR ",\"Lifecycle\":{\"Hook\":\"prestart\",\"Sidecar\":true}"
#define LC_POSTSTOP ",\"Lifecycle\":{\"Hook\":\"poststop\"}"

Test(model, a_group_of_lifecycle_tasks_only_is_refused_naming_it) {
        /* The first group is fine; the second has lifecycle tasks only (a sidecar counts as one). */
        struct job *j = job_from_text("{\"ID\":\"w\",\"TaskGroups\":[{\"Name\":\"ok\",\"Tasks\":[" LC_TASK(
            "init", LC_PRESTART) "," LC_TASK("main", "") "]},{\"Name\":\"side\",\"Tasks\":[" LC_TASK("init", LC_PRESTART) "," LC_TASK("proxy", LC_SIDECAR) "," LC_TASK("cleanup", LC_POSTSTOP) "]}]}");
        job_canonicalize(j);
        struct error err = {0};
        cr_assert_eq(job_validate(j, &err), -EINVAL);
        cr_expect(strstr(err.msg, "job \"w\", group \"side\": needs a main task"), "%s", err.msg);
        job_unref(j);
        j = job_from_text("{\"ID\":\"w\",\"TaskGroups\":[{\"Name\":\"g\",\"Tasks\":[" LC_TASK(
            "proxy", LC_SIDECAR) "," LC_TASK("main", "") "," LC_TASK("cleanup", LC_POSTSTOP) "]}]}");
        job_canonicalize(j);
        cr_expect_eq(job_validate(j, &err), 0, "a main task beside lifecycle tasks: %s", err.msg);
        job_unref(j);
}

#define TASK_OK "{\"Name\":\"t\",\"Driver\":\"raw_exec\",\"Config\":{\"command\":\"x\"}}"

Test(model, constraint_operators_ports_and_spreads_validated) {
        static const struct bad_case cases[] = {
            {"{\"ID\":\"w\",\"Constraints\":[{\"LTarget\":\"${attr.kernel.name}\",\"Operand\":\"~~\",\"RTarget\":"
             "\"linux\"}],\"TaskGroups\":[{\"Name\":\"g\",\"Tasks\":[" TASK_OK "]}]}",
             "job \"w\", constraint 0: unknown operator \"~~\" (known: =, !="},
            {"{\"ID\":\"w\",\"TaskGroups\":[{\"Name\":\"g\",\"Constraints\":[{\"LTarget\":\"${attr.a}\",\"Operand\":"
             "\"like\",\"RTarget\":\"x\"}],\"Tasks\":[" TASK_OK "]}]}",
             "job \"w\", group \"g\", constraint 0: unknown operator \"like\""},
            {"{\"ID\":\"w\",\"TaskGroups\":[{\"Name\":\"g\",\"Tasks\":[{\"Name\":\"t\",\"Driver\":\"raw_exec\","
             "\"Config\":{\"command\":\"x\"},\"Constraints\":[{\"LTarget\":\"${attr.a}\",\"Operand\":\"=~\","
             "\"RTarget\":\"x\"}]}]}]}",
             "job \"w\", group \"g\", task \"t\", constraint 0: unknown operator \"=~\""},
            {"{\"ID\":\"w\",\"Affinities\":[{\"LTarget\":\"${node.class}\",\"Operand\":\"distinct_hosts\","
             "\"RTarget\":\"true\",\"Weight\":50}],\"TaskGroups\":[{\"Name\":\"g\",\"Tasks\":[" TASK_OK "]}]}",
             "job \"w\", affinity 0: unknown operator \"distinct_hosts\""},
            {"{\"ID\":\"w\",\"Affinities\":[{\"LTarget\":\"${node.class}\",\"Operand\":\"=\",\"RTarget\":\"a\","
             "\"Weight\":500}],\"TaskGroups\":[{\"Name\":\"g\",\"Tasks\":[" TASK_OK "]}]}",
             "weight must be between -100 and 100"},
            {"{\"ID\":\"w\",\"Constraints\":[{\"LTarget\":\"${attr.a}\",\"Operand\":\"regexp\",\"RTarget\":\"(\"}],"
             "\"TaskGroups\":[{\"Name\":\"g\",\"Tasks\":[" TASK_OK "]}]}",
             "constraint 0: invalid regexp \"(\""},
            {"{\"ID\":\"w\",\"Constraints\":[{\"Operand\":\"is_set\"}],\"TaskGroups\":[{\"Name\":\"g\",\"Tasks\":["
             TASK_OK "]}]}",
             "operator \"is_set\" needs an attribute"},
            {"{\"ID\":\"w\",\"Constraints\":[{\"LTarget\":\"${meta.rack}\",\"Operand\":\"distinct_property\","
             "\"RTarget\":\"zero\"}],\"TaskGroups\":[{\"Name\":\"g\",\"Tasks\":[" TASK_OK "]}]}",
             "distinct_property limit must be a positive integer (got \"zero\")"},
            {"{\"ID\":\"w\",\"TaskGroups\":[{\"Name\":\"g\",\"Networks\":[{\"ReservedPorts\":[{\"Label\":\"http\","
             "\"Value\":70000}]}],\"Tasks\":[" TASK_OK "]}]}",
             "job \"w\", group \"g\", network: port \"http\" has a static port 70000 out of range (1-65535)"},
            {"{\"ID\":\"w\",\"TaskGroups\":[{\"Name\":\"g\",\"Networks\":[{\"ReservedPorts\":[{\"Label\":\"a\","
             "\"Value\":8080},{\"Label\":\"b\",\"Value\":8080}]}],\"Tasks\":[" TASK_OK "]}]}",
             "static port 8080 is reserved twice"},
            {"{\"ID\":\"w\",\"TaskGroups\":[{\"Name\":\"g\",\"Networks\":[{\"DynamicPorts\":[{\"Label\":\"a\","
             "\"To\":99999}]}],\"Tasks\":[" TASK_OK "]}]}",
             "port \"a\" maps to port 99999, out of range"},
            {"{\"ID\":\"w\",\"Spreads\":[{\"Attribute\":\"${node.datacenter}\",\"Weight\":50,\"SpreadTarget\":["
             "{\"Value\":\"dc1\",\"Percent\":70},{\"Value\":\"dc2\",\"Percent\":50}]}],"
             "\"TaskGroups\":[{\"Name\":\"g\",\"Tasks\":[" TASK_OK "]}]}",
             "spread 0: target percentages add up to 120"},
            {"{\"ID\":\"w\",\"TaskGroups\":[{\"Name\":\"g\",\"Tasks\":[" TASK_OK "]},{\"Name\":\"g\",\"Tasks\":["
             TASK_OK "]}]}",
             "duplicate group name \"g\""},
        };
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                struct job *j = job_from_text(cases[i].json);
                cr_assert_not_null(j, "case %zu does not decode", i);
                job_canonicalize(j);
                struct error err = {0};
                cr_assert_lt(job_validate(j, &err), 0, "case %zu accepted", i);
                cr_assert(strstr(err.msg, cases[i].want), "case %zu: got \"%s\", want \"%s\"", i, err.msg,
                          cases[i].want);
                job_unref(j);
        }
}

/* Values Nomad's validation refuses and the model keeps as text or unmodelled JSON
 * (common/jobcheck.c): each a 400 at registration naming the field. */
Test(model, update_reschedule_version_distinct_hosts_and_system_count_validated) {
        static const struct bad_case cases[] = {
            {"{\"ID\":\"w\",\"Update\":{\"MaxParallel\":-1},\"TaskGroups\":[{\"Name\":\"g\",\"Tasks\":[" TASK_OK "]}]}",
             "job \"w\", update: max_parallel must be >= 0 (got -1)"},
            {"{\"ID\":\"w\",\"TaskGroups\":[{\"Name\":\"g\",\"Update\":{\"MaxParallel\":-1},\"Tasks\":[" TASK_OK "]}]}",
             "job \"w\", group \"g\", update: max_parallel must be >= 0 (got -1)"},
            {"{\"ID\":\"w\",\"TaskGroups\":[{\"Name\":\"g\",\"ReschedulePolicy\":{\"DelayFunction\":\"x\"},"
             "\"Tasks\":[" TASK_OK "]}]}",
             "job \"w\", group \"g\", reschedule: delay_function must be \"constant\", \"exponential\" or "
             "\"fibonacci\" (got \"x\")"},
            {"{\"ID\":\"w\",\"Type\":\"batch\",\"Reschedule\":{\"DelayFunction\":\"linear\"},\"TaskGroups\":[{"
             "\"Name\":\"g\",\"Tasks\":[" TASK_OK "]}]}",
             "job \"w\", reschedule: delay_function must be"},
            {"{\"ID\":\"w\",\"Constraints\":[{\"LTarget\":\"${attr.kernel.version}\",\"Operand\":\"version\","
             "\"RTarget\":\">= 1.x.y\"}],\"TaskGroups\":[{\"Name\":\"g\",\"Tasks\":[" TASK_OK "]}]}",
             "job \"w\", constraint 0: invalid version constraint \">= 1.x.y\""},
            {"{\"ID\":\"w\",\"Affinities\":[{\"LTarget\":\"${attr.v}\",\"Operand\":\"semver\",\"RTarget\":"
             "\"1.2.3.4\",\"Weight\":50}],\"TaskGroups\":[{\"Name\":\"g\",\"Tasks\":[" TASK_OK "]}]}",
             "job \"w\", affinity 0: invalid semver constraint \"1.2.3.4\""},
            {"{\"ID\":\"w\",\"TaskGroups\":[{\"Name\":\"g\",\"Constraints\":[{\"Operand\":\"distinct_hosts\","
             "\"RTarget\":\"maybe\"}],\"Tasks\":[" TASK_OK "]}]}",
             "job \"w\", group \"g\", constraint 0: distinct_hosts value must be true or false (got \"maybe\")"},
            {"{\"ID\":\"w\",\"Type\":\"system\",\"TaskGroups\":[{\"Name\":\"g\",\"Count\":3,\"Tasks\":[" TASK_OK
             "]}]}",
             "job \"w\", group \"g\": count must be 0 or 1 in a system job (got 3)"},
        };
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                struct job *j = job_from_text(cases[i].json);
                job_canonicalize(j);
                struct error err = {0};
                cr_expect_eq(job_validate(j, &err), -EINVAL, "case %zu accepted", i);
                cr_expect(strstr(err.msg, cases[i].want), "case %zu: got \"%s\", want \"%s\"", i, err.msg,
                          cases[i].want);
                job_unref(j);
        }
        /* what Nomad accepts still passes: system count 0 and 1, sysbatch count 3 (Nomad's
         * docs: sysbatch groups may run more than one), True as distinct_hosts' value */
        static const char *const good[] = {
            "{\"ID\":\"w\",\"Type\":\"system\",\"TaskGroups\":[{\"Name\":\"g\",\"Count\":0,\"Tasks\":[" TASK_OK "]},"
            "{\"Name\":\"h\",\"Count\":1,\"Tasks\":[" TASK_OK "]}]}",
            "{\"ID\":\"w\",\"Type\":\"sysbatch\",\"TaskGroups\":[{\"Name\":\"g\",\"Count\":3,\"Tasks\":[" TASK_OK "]}]}",
            "{\"ID\":\"w\",\"Update\":{\"MaxParallel\":0,\"HealthCheck\":\"manual\"},\"Constraints\":[{\"Operand\":"
            "\"distinct_hosts\",\"RTarget\":\"True\"},{\"LTarget\":\"${attr.kernel.version}\",\"Operand\":"
            "\"version\",\"RTarget\":\">= 5.10, < 7\"}],\"TaskGroups\":[{\"Name\":\"g\",\"ReschedulePolicy\":{"
            "\"DelayFunction\":\"fibonacci\"},\"Tasks\":[" TASK_OK "]}]}",
        };
        for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
                struct job *j = job_from_text(good[i]);
                job_canonicalize(j);
                struct error err = {0};
                cr_expect_eq(job_validate(j, &err), 0, "good case %zu: %s", i, err.msg);
                job_unref(j);
        }
}

Test(model, every_nomad_operator_is_accepted) {
        static const char *const ops[] = {"=", "==", "is", "!=", "not", "<", "<=", ">", ">=", "regexp",
                                          "version", "semver", "set_contains", "set_contains_all",
                                          "set_contains_any", "is_set", "is_not_set", "distinct_hosts",
                                          "distinct_property"};
        for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
                char text[512];
                snprintf(text, sizeof(text),
                         "{\"ID\":\"w\",\"Constraints\":[{\"LTarget\":\"${attr.a}\",\"Operand\":\"%s\",\"RTarget\":"
                         "\"1\"}],\"TaskGroups\":[{\"Name\":\"g\",\"Tasks\":[" TASK_OK "]}]}",
                         ops[i]);
                struct job *j = job_from_text(text);
                job_canonicalize(j);
                struct error err = {0};
                cr_assert_eq(job_validate(j, &err), 0, "operator %s: %s", ops[i], err.msg);
                job_unref(j);
                cr_assert(constraint_operand_known(ops[i], false));
                cr_assert_eq(constraint_operand_known(ops[i], true), strncmp(ops[i], "distinct_", 9) != 0);
        }
        cr_assert(!constraint_operand_known("~~", false));
}

/* Limits answer at once, and many groups validate in linear time (hash set of names). */
Test(model, group_and_task_limits) {
        struct job *j = job_from_text("{\"ID\":\"w\",\"TaskGroups\":[{\"Name\":\"g\",\"Tasks\":[" TASK_OK "]}]}");
        job_canonicalize(j);
        struct task_group proto = j->groups[0];
        size_t n = JOB_MAX_GROUPS;
        j->groups = realloc(j->groups, (n + 1) * sizeof(*j->groups));
        for (size_t g = 1; g <= n; g++) {
                j->groups[g] = proto;
                j->groups[g].name = malloc(16);
                snprintf(j->groups[g].name, 16, "g%zu", g);
        }
        j->n_groups = n; /* the limit itself is fine */
        struct error err = {0};
        cr_assert_eq(job_validate(j, &err), 0, "%s", err.msg);
        j->n_groups = n + 1;
        cr_assert_lt(job_validate(j, &err), 0);
        char want[64];
        snprintf(want, sizeof(want), "at most %d groups per job (got %zu)", JOB_MAX_GROUPS, n + 1);
        cr_assert(strstr(err.msg, want), "%s", err.msg);
        j->n_groups = n;
        free(j->groups[n - 1].name);
        j->groups[n - 1].name = strdup("g17"); /* a duplicate, found by the hash set */
        cr_assert_lt(job_validate(j, &err), 0);
        cr_assert(strstr(err.msg, "duplicate group name \"g17\""), "%s", err.msg);
        /* the groups share the prototype's tasks: free only the names */
        for (size_t g = 1; g <= n; g++) {
                free(j->groups[g].name);
                memset(&j->groups[g], 0, sizeof(j->groups[g]));
        }
        j->n_groups = 1;
        job_unref(j);
}

Test(model, explicit_zero_cpu_or_memory_is_rejected) {
        /* An absent cpu gets Nomad's default of 100 MHz; an explicit 0 is an error. */
        struct job *j = job_from_text("{\"ID\":\"w\",\"TaskGroups\":[{\"Name\":\"g\",\"Tasks\":[{\"Name\":\"t\","
                                      "\"Driver\":\"raw_exec\",\"Config\":{\"command\":\"x\"},"
                                      "\"Resources\":{\"CPU\":0}}]}]}");
        job_canonicalize(j);
        struct error err = {0};
        cr_assert_lt(job_validate(j, &err), 0);
        cr_assert(strstr(err.msg, "task \"t\", resources: cpu must be >= 1 MHz (got 0)"), "%s", err.msg);
        job_unref(j);
        j = job_from_text("{\"ID\":\"w\",\"TaskGroups\":[{\"Name\":\"g\",\"Tasks\":[{\"Name\":\"t\","
                          "\"Driver\":\"raw_exec\",\"Config\":{\"command\":\"x\"},\"Resources\":{\"MemoryMB\":0}}]}]}");
        job_canonicalize(j);
        cr_assert_lt(job_validate(j, &err), 0);
        cr_assert(strstr(err.msg, "memory must be >= 10 MB (got 0)"), "%s", err.msg);
        job_unref(j);
        j = job_from_text("{\"ID\":\"w\",\"TaskGroups\":[{\"Name\":\"g\",\"Tasks\":[{\"Name\":\"t\","
                          "\"Driver\":\"raw_exec\",\"Config\":{\"command\":\"x\"},\"Resources\":{\"Cores\":-1}}]}]}");
        job_canonicalize(j);
        cr_assert_lt(job_validate(j, &err), 0);
        cr_assert(strstr(err.msg, "cores must be >= 0"), "%s", err.msg);
        job_unref(j);
}

Test(model, decode_errors_carry_the_json_path) {
        json_t *o = json_loads("{\"ID\":\"w\",\"TaskGroups\":[{\"Name\":\"g\",\"Count\":\"three\"}]}", 0, NULL);
        struct job *j = NULL;
        struct error err = {0};
        cr_assert_lt(job_from_json(o, &j, &err), 0);
        cr_assert_str_eq(err.msg, "Job.TaskGroups[0].Count: expected an integer");
        cr_assert_null(j);
        json_decref(o);
        o = json_loads("{\"ID\":\"w\",\"Type\":\"cron\"}", 0, NULL);
        cr_assert_lt(job_from_json(o, &j, &err), 0);
        cr_assert(strstr(err.msg, "unknown job type \"cron\""), "%s", err.msg);
        json_decref(o);
}

/* Every list of objects in a job (groups, tasks, constraints, affinities, spreads
 * and their targets, networks and their ports) refuses an element that is not an
 * object, naming the element's own path; before, a port or a spread target that was
 * a string decoded as an empty one. */
static void decode_err(const char *group_body, const char *want) {
        char text[1024];
        snprintf(text, sizeof(text), "{\"ID\":\"w\",\"TaskGroups\":[{\"Name\":\"g\",%s}]}", group_body);
        json_error_t jerr;
        json_t *o = json_loads(text, 0, &jerr);
        cr_assert_not_null(o, "%s: %s", text, jerr.text);
        struct job *j = NULL;
        struct error err = {0};
        cr_assert_lt(job_from_json(o, &j, &err), 0, "%s was accepted", group_body);
        cr_assert_str_eq(err.msg, want);
        cr_assert_null(j);
        json_decref(o);
}

Test(model, list_elements_that_are_not_objects_are_refused_with_their_path) {
        decode_err("\"Tasks\":[{\"Name\":\"t\"}, 7]", "Job.TaskGroups[0].Tasks[1]: expected an object");
        decode_err("\"Constraints\":[\"x\"]", "Job.TaskGroups[0].Constraints[0]: expected an object");
        decode_err("\"Affinities\":[{}, []]", "Job.TaskGroups[0].Affinities[1]: expected an object");
        decode_err("\"Spreads\":[{\"Attribute\":\"a\",\"SpreadTarget\":[{\"Value\":\"x\"},\"y\"]}]",
                   "Job.TaskGroups[0].Spreads[0].SpreadTarget[1]: expected an object");
        decode_err("\"Networks\":[{\"ReservedPorts\":[\"http\"]}]",
                   "Job.TaskGroups[0].Networks[0].ReservedPorts[0]: expected an object");
        decode_err("\"Networks\":[{\"DynamicPorts\":[{\"Label\":\"a\"},{\"Value\":\"80\"}]}]",
                   "Job.TaskGroups[0].Networks[0].DynamicPorts[1].Value: expected an integer");
        decode_err("\"Spreads\":{}", "Job.TaskGroups[0].Spreads: expected a list");
        json_t *o = json_loads("{\"ID\":\"w\",\"TaskGroups\":[1]}", 0, NULL);
        struct job *j = NULL;
        struct error err = {0};
        cr_assert_lt(job_from_json(o, &j, &err), 0);
        cr_assert_str_eq(err.msg, "Job.TaskGroups[0]: expected an object");
        json_decref(o);
}

Test(model, alloc_round_trip_and_task_states) {
        struct alloc *a = alloc_new();
        a->id = strdup("11111111-2222-3333-4444-555555555555");
        a->name = strdup("hello.hello[2]");
        a->job_id = strdup("hello");
        a->task_group = strdup("hello");
        a->client_status = ALLOC_CLIENT_RUNNING;
        a->resources = (struct res_ask){.cpu = 100, .memory_mb = 32, .disk_mb = 300};
        a->task_states = calloc(1, sizeof(*a->task_states));
        a->n_task_states = 1;
        a->task_states[0].name = strdup("say");
        a->task_states[0].state = TASK_DEAD;
        a->task_states[0].started_at = 1700000000123456789LL;
        task_state_add_event(&a->task_states[0], "Terminated", "Exit Code: 3", 1700000001000000000LL, 3, 0);
        cr_assert_eq(alloc_name_index(a), 2);
        json_t *o = alloc_to_json(a);
        struct alloc *b = NULL;
        struct error err = {0};
        cr_assert_eq(alloc_from_json(o, &b, &err), 0, "%s", err.msg);
        cr_assert_str_eq(b->name, "hello.hello[2]");
        cr_assert_eq(b->client_status, ALLOC_CLIENT_RUNNING);
        cr_assert_eq(b->resources.memory_mb, 32);
        cr_assert_eq(b->n_task_states, 1);
        cr_assert_eq(b->task_states[0].state, TASK_DEAD);
        cr_assert_eq(b->task_states[0].started_at, 1700000000123456789LL, "RFC 3339 time lost precision");
        cr_assert_eq(b->task_states[0].events[0].exit_code, 3);
        struct alloc *c = alloc_copy(b);
        cr_assert_str_eq(c->task_states[0].events[0].message, "Exit Code: 3");
        cr_assert_not(alloc_terminal(c));
        c->desired_status = ALLOC_DESIRED_STOP;
        cr_assert(alloc_terminal(c));
        json_decref(o);
        alloc_unref(a);
        alloc_unref(b);
        alloc_unref(c);
}

Test(model, node_class_ignores_unique_attributes) {
        struct node *a = node_new(), *b = node_new();
        a->datacenter = strdup("dc1");
        b->datacenter = strdup("dc1");
        strmap_set(&a->attributes, "kernel.name", "linux");
        strmap_set(&b->attributes, "kernel.name", "linux");
        strmap_set(&a->attributes, "unique.hostname", "a");
        strmap_set(&b->attributes, "unique.hostname", "b");
        node_compute_class(a);
        node_compute_class(b);
        cr_assert_str_eq(a->computed_class, b->computed_class);
        strmap_set(&b->attributes, "kernel.name", "freebsd");
        node_compute_class(b);
        cr_assert_str_neq(a->computed_class, b->computed_class);
        node_unref(a);
        node_unref(b);
}

/* Allocs made in a string arena share it for their structs too: each keeps the
 * arena alive, a field replaced with alloc_set_str is freed on its own, a copy lives on
 * the heap, and whichever goes last frees the arena (ASan checks the order). */
Test(model, allocs_in_an_arena_free_with_its_last_reference) {
        struct str_arena *s = str_arena_new();
        cr_assert_not_null(s);
        struct alloc *v[100];
        for (int i = 0; i < 100; i++) {
                char id[16];
                snprintf(id, sizeof(id), "a-%d", i);
                v[i] = alloc_new_in(s);
                cr_assert_not_null(v[i]);
                cr_assert_eq((uintptr_t)v[i] % _Alignof(max_align_t), 0, "aligned");
                cr_assert_eq(v[i]->refcount, 1);
                cr_assert(v[i]->strings == s);
                cr_assert_null(v[i]->id, "zeroed");
                v[i]->id = str_arena_add(s, id, strlen(id));
                v[i]->node_id = str_arena_add(s, "n1", 2);
        }
        cr_assert_eq(alloc_set_str(v[7], &v[7]->client_description, "running"), 0);
        str_arena_unref(s); /* the allocs hold it now */
        struct alloc *c = alloc_copy(v[7]);
        cr_assert_not_null(c);
        cr_assert_null(c->strings);
        for (int i = 99; i >= 0; i -= 2)
                alloc_unref(v[i]);
        cr_expect_str_eq(v[42]->id, "a-42", "the others are intact");
        for (int i = 0; i < 100; i += 2)
                alloc_unref(v[i]);
        cr_expect_str_eq(c->id, "a-7");
        cr_expect_str_eq(c->client_description, "running");
        alloc_unref(c);
}

/* A sealed arena alloc knows each field's owner by its bit (no walk of the arena's
 * chunks): the arena's strings are never freed with it, a field it set later (NULL at
 * the seal) or replaced with alloc_set_str is, once. A wrong bit is an invalid free or
 * a leak, which the ASan build of this suite reports. */
Test(model, sealed_arena_alloc_frees_exactly_its_own_strings) {
        struct str_arena *s = str_arena_new();
        cr_assert_not_null(s);
        struct alloc *a = alloc_new_in(s);
        cr_assert_not_null(a);
        cr_expect_eq(a->arena_bits, ALLOC_ARENA_STRUCT, "unsealed: the owner is asked of the arena");
        a->id = str_arena_add(s, "a-1", 3);
        a->node_id = str_arena_add(s, "n1", 2);
        a->client_description = str_arena_add(s, "pending", 7);
        /* more chunks: the arena's chunk list is what an unsealed alloc would walk */
        for (int i = 0; i < 64; i++)
                cr_assert_not_null(str_arena_alloc(s, 4096));
        a->job_id = str_arena_add(s, "web", 3); /* in a newer chunk than the id */
        alloc_arena_sealed(a);
        uint16_t want = ALLOC_ARENA_STRUCT | ALLOC_ARENA_SEALED | 1u << ALLOC_STR_BIT_id |
                        1u << ALLOC_STR_BIT_node_id | 1u << ALLOC_STR_BIT_client_description |
                        1u << ALLOC_STR_BIT_job_id;
        cr_expect_eq(a->arena_bits, want, "the non-NULL fields, and only they, are the arena's");
        str_arena_unref(s); /* a holds it */

        a->deployment_id = strdup("d-1"); /* set after the seal on a NULL field: a's own */
        cr_assert_not_null(a->deployment_id);
        cr_assert_eq(alloc_set_str(a, &a->client_description, "running"), 0);
        cr_expect_eq(a->arena_bits & (1u << ALLOC_STR_BIT_client_description), 0, "replaced: a's own now");
        cr_assert_eq(alloc_set_str(a, &a->client_description, "complete"), 0); /* frees "running" */
        cr_assert_eq(alloc_set_str(a, &a->node_id, NULL), 0);
        cr_expect_null(a->node_id);
        char not_a_field[4] = "x", *p = not_a_field;
        cr_expect_eq(alloc_set_str(a, &p, "y"), -EINVAL);
        cr_expect(p == not_a_field, "untouched");
        cr_expect_eq(a->arena_bits & (1u << ALLOC_STR_BIT_job_id), 1u << ALLOC_STR_BIT_job_id);

        struct alloc *c = alloc_copy(a);
        cr_assert_not_null(c);
        cr_expect_eq(c->arena_bits, 0, "a copy's strings are all its own");
        alloc_unref(a); /* frees "d-1" and "complete", not the arena's; then the arena and a */
        cr_expect_str_eq(c->job_id, "web");
        cr_expect_str_eq(c->client_description, "complete");
        cr_expect_str_eq(c->deployment_id, "d-1");
        alloc_unref(c);
}
