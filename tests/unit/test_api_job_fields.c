/* test_api_job_fields.c - a job's JSON with a field Nomad's API does not have is
 * refused with its path (controlplane/api/routes_jobs.c job_json_check_fields), while
 * what Nomad's tools send (`nomad job run -output`, the job files of the conformance
 * corpus) and what drover's own job read answers are accepted as they are. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/jobspec.h"
#include "controlplane/api/routes_internal.h"
#include "tests/support/api_harness.h"

static struct api_harness *s;

static void setup(void) {
        s = api_harness_new();
        cr_assert_not_null(s);
}

static void teardown(void) {
        api_harness_free(s);
}

TestSuite(api_job_fields, .init = setup, .fini = teardown);

static int req(const char *method, const char *target, const char *body, char **ret_text) {
        struct api_reply r;
        api_harness_request(s, method, target, body, body ? strlen(body) : 0, &r);
        if (ret_text)
                *ret_text = strdup(r.body ? r.body : "");
        int st = r.status;
        api_reply_clear(&r);
        return st;
}

#define TASK "{\"Name\":\"t\",\"Driver\":\"raw_exec\",\"Config\":{\"command\":\"x\"}%s}"
#define GROUP "{\"Name\":\"g\",\"Count\":1%s,\"Tasks\":[" TASK "]}"
#define JOB "{\"Job\":{\"ID\":\"web\",\"Type\":\"batch\",\"Datacenters\":[\"dc1\"]%s,\"TaskGroups\":[" GROUP "]}}"

static void expect_refused(const char *job_extra, const char *group_extra, const char *task_extra, const char *want) {
        char body[1024], *text = NULL;
        snprintf(body, sizeof(body), JOB, job_extra, group_extra, task_extra);
        cr_expect_eq(req("PUT", "/v1/jobs", body, &text), 400, "%s", body);
        cr_expect_str_eq(text, want);
        free(text);
        /* validate says the same, in ValidationErrors */
        cr_expect_eq(req("PUT", "/v1/validate/job", body, &text), 200);
        cr_expect(strstr(text, want) != NULL || strstr(text, "unknown field") != NULL, "%s", text);
        free(text);
        cr_expect_eq(req("PUT", "/v1/job/web/plan", body, NULL), 400);
}

Test(api_job_fields, an_unknown_field_is_refused_with_its_path) {
        expect_refused(",\"Datacenter\":\"dc1\"", "", "", "Job: unknown field \"Datacenter\"");
        expect_refused("", ",\"Cout\":2", "", "Job.TaskGroups[0]: unknown field \"Cout\"");
        expect_refused("", "", ",\"Comand\":\"x\"", "Job.TaskGroups[0].Tasks[0]: unknown field \"Comand\"");
        expect_refused("", "", ",\"Resources\":{\"CPU\":100,\"MemoryMb\":64}",
                       "Job.TaskGroups[0].Tasks[0].Resources: unknown field \"MemoryMb\"");
        expect_refused("", ",\"Constraints\":[{\"LTarget\":\"${attr.kernel.name}\",\"RTarget\":\"linux\",\"Op\":\"=\"}]", "",
                       "Job.TaskGroups[0].Constraints[0]: unknown field \"Op\"");
        expect_refused(",\"Update\":{\"MaxParallel\":1,\"Canaries\":1}", "", "",
                       "Job.Update: unknown field \"Canaries\"");
        char body[1024];
        snprintf(body, sizeof(body), JOB, "", "", "");
        cr_expect_eq(req("PUT", "/v1/jobs", body, NULL), 200, "the same job without them registers");
}

Test(api_job_fields, a_job_read_registers_again_unchanged) {
        char body[1024], *text = NULL;
        snprintf(body, sizeof(body), JOB, ",\"Meta\":{\"a\":\"b\"},\"Priority\":60", ",\"Meta\":{\"c\":\"d\"}",
                 ",\"Env\":{\"E\":\"1\"},\"KillTimeout\":5000000000");
        cr_assert_eq(req("PUT", "/v1/jobs", body, NULL), 200);
        cr_assert_eq(req("GET", "/v1/job/web", NULL, &text), 200);
        json_t *job = json_loads(text, 0, NULL);
        free(text);
        cr_assert_not_null(job);
        struct error err = {0};
        cr_expect_eq(job_json_check_fields(job, &err), 0, "%s", err.msg);
        char *again = json_dumps(json_pack("{s:o}", "Job", job), JSON_COMPACT);
        cr_expect_eq(req("PUT", "/v1/job/web", again, &text), 200, "%s", text);
        free(text);
        free(again);
}

Test(api_job_fields, nomads_output_and_the_corpus_are_accepted) {
        const char *dir = "tests/conformance/nomad-jobspecs";
        json_error_t je;
        char path[512];
        snprintf(path, sizeof(path), "%s/example-short.json", dir);
        json_t *out = json_load_file(path, 0, &je);
        cr_assert_not_null(out, "%s: %s", path, je.text);
        struct error err = {0};
        cr_expect_eq(job_json_check_fields(json_object_get(out, "Job"), &err), 0, "nomad job run -output: %s", err.msg);
        json_decref(out);
        DIR *d = opendir(dir);
        cr_assert_not_null(d);
        int checked = 0, registered = 0;
        struct dirent *e;
        while ((e = readdir(d))) {
                size_t n = strlen(e->d_name);
                if (!(n > 4 && strcmp(e->d_name + n - 4, ".hcl") == 0) && !(n > 6 && strcmp(e->d_name + n - 6, ".nomad") == 0))
                        continue;
                snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
                json_t *j = NULL;
                if (jobspec_parse_file(path, &j, &err) < 0)
                        continue; /* files drover refuses are test_jobspec.c's business */
                cr_expect_eq(job_json_check_fields(j, &err), 0, "%s: %s", e->d_name, err.msg);
                /* registered, then read back: drover's own answer passes too */
                char *body = json_dumps(json_pack("{s:O}", "Job", j), JSON_COMPACT), *text = NULL, rpath[600];
                if (req("PUT", "/v1/jobs", body, NULL) == 200) {
                        snprintf(rpath, sizeof(rpath), "/v1/job/%s?namespace=%s",
                                 json_string_value(json_object_get(j, "ID")),
                                 json_is_string(json_object_get(j, "Namespace"))
                                     ? json_string_value(json_object_get(j, "Namespace"))
                                     : "default");
                        cr_expect_eq(req("GET", rpath, NULL, &text), 200, "%s", rpath);
                        json_t *read = json_loads(text ? text : "", 0, NULL);
                        cr_expect_eq(job_json_check_fields(read, &err), 0, "%s read back: %s", e->d_name, err.msg);
                        json_decref(read);
                        free(text);
                        registered++;
                }
                free(body);
                json_decref(j);
                checked++;
        }
        closedir(d);
        cr_expect_gt(checked, 30, "the corpus was read (%d files)", checked);
        cr_expect_gt(registered, 20, "most of it registered and was read back (%d)", registered);
}
