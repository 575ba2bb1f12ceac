/* test_jobspec.c - Nomad job files -> API Job JSON, against the conformance corpus
 * (tests/conformance/nomad-jobspecs, a copy of the project's shared corpus; where each file
 * came from is in its SOURCES.md). DROVER_CONFORMANCE points elsewhere when set. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/jobspec.h"
#include "common/jsonx.h"
#include "common/macros.h"

#define NS(x) ((json_int_t)(x)*1000000000LL)

static const char *corpus_dir(void) {
        static char dir[512];
        const char *over = getenv("DROVER_CONFORMANCE");
        snprintf(dir, sizeof(dir), "%s", over && *over ? over : "tests/conformance/nomad-jobspecs");
        return dir;
}

static int parse_fixture(const char *name, json_t **ret, struct error *err) {
        char path[1024];
        snprintf(path, sizeof(path), "%s/%s", corpus_dir(), name);
        return jobspec_parse_file(path, ret, err);
}

static json_t *load(const char *name) {
        json_t *j = NULL;
        struct error err = {0};
        int r = parse_fixture(name, &j, &err);
        cr_assert_eq(r, 0, "%s: %s", name, err.msg);
        cr_assert(json_is_object(j));
        return j;
}

static json_t *parse_text(const char *src) {
        json_t *j = NULL;
        struct error err = {0};
        int r = jobspec_parse(src, strlen(src), "t.hcl", &j, &err);
        cr_assert_eq(r, 0, "parse: %s\n%s", err.msg, src);
        return j;
}

static void parse_text_err(const char *src, const char *want) {
        json_t *j = NULL;
        struct error err = {0};
        int r = jobspec_parse(src, strlen(src), "t.hcl", &j, &err);
        cr_assert_lt(r, 0, "parse unexpectedly succeeded:\n%s", src);
        cr_assert_null(j);
        cr_assert(strstr(err.msg, want), "error \"%s\" does not contain \"%s\"", err.msg, want);
}

/* Walk "A.0.B" (numbers index arrays); NULL when absent. */
static json_t *jget(json_t *root, const char *path) {
        char buf[256];
        snprintf(buf, sizeof(buf), "%s", path);
        json_t *cur = root;
        for (char *save = NULL, *tok = strtok_r(buf, ".", &save); tok && cur; tok = strtok_r(NULL, ".", &save)) {
                if (json_is_array(cur)) {
                        char *end = NULL;
                        long ix = strtol(tok, &end, 10);
                        cur = *end ? NULL : json_array_get(cur, (size_t)ix);
                } else {
                        cur = json_object_get(cur, tok);
                }
        }
        return cur;
}

static void expect_str(json_t *root, const char *path, const char *want) {
        json_t *v = jget(root, path);
        cr_assert(json_is_string(v), "%s: not a string", path);
        cr_assert_str_eq(json_string_value(v), want, "%s", path);
}

static void expect_int(json_t *root, const char *path, json_int_t want) {
        json_t *v = jget(root, path);
        cr_assert(json_is_integer(v), "%s: not an integer", path);
        cr_assert_eq(json_integer_value(v), want, "%s: %lld != %lld", path, (long long)json_integer_value(v),
                     (long long)want);
}

static void expect_bool(json_t *root, const char *path, bool want) {
        json_t *v = jget(root, path);
        cr_assert(json_is_boolean(v), "%s: not a bool", path);
        cr_assert_eq(json_is_true(v), want, "%s", path);
}

static void expect_absent(json_t *root, const char *path) {
        cr_assert_null(jget(root, path), "%s should be absent", path);
}

static void expect_len(json_t *root, const char *path, size_t n) {
        json_t *v = jget(root, path);
        cr_assert(json_is_array(v) || json_is_object(v), "%s: not a list/map", path);
        size_t got = json_is_array(v) ? json_array_size(v) : json_object_size(v);
        cr_assert_eq(got, n, "%s: size %zu != %zu", path, got, n);
}

static void expect_constraint(json_t *root, const char *path, const char *l, const char *r, const char *op) {
        char p[256];
        snprintf(p, sizeof(p), "%s.LTarget", path);
        expect_str(root, p, l);
        snprintf(p, sizeof(p), "%s.RTarget", path);
        expect_str(root, p, r);
        snprintf(p, sizeof(p), "%s.Operand", path);
        expect_str(root, p, op);
}

/* ---- the whole corpus ------------------------------------------------------------------ */

static const struct {
        const char *file;
        const char *msg;
} negatives[] = {
    {"bad-ports.hcl", "Port label does not conform to naming requirements ^[a-zA-Z0-9_]+$"},
    {"overlapping-ports.hcl", "found a port label collision"},
    {"multi-network.hcl", "duplicate \"network\" block"},
    {"multi-resource.hcl", "duplicate \"ephemeral_disk\" block"},
    {"basic_wrong_key.hcl", "basic_wrong_key.hcl:74:11: group \"binsl\", task \"binstore\", service (0) \"foo\", "
                            "check: unsupported argument \"nterval\""},
};

Test(jobspec_corpus, every_file_parses_or_fails_as_documented) {
        DIR *d = opendir(corpus_dir());
        cr_assert_not_null(d, "cannot open %s (run from the repository root, or set DROVER_CONFORMANCE)", corpus_dir());
        size_t parsed = 0, rejected = 0;
        struct dirent *de;
        while ((de = readdir(d))) {
                const char *n = de->d_name;
                if (n[0] == '.' || strcmp(n, "SOURCES.md") == 0)
                        continue;
                const char *want = NULL;
                for (size_t k = 0; k < ARRAY_SIZE(negatives); k++)
                        if (strcmp(n, negatives[k].file) == 0)
                                want = negatives[k].msg;
                json_t *j = NULL;
                struct error err = {0};
                int r = parse_fixture(n, &j, &err);
                if (want) {
                        cr_expect_lt(r, 0, "%s must be rejected", n);
                        cr_expect(strstr(err.msg, want), "%s: error \"%s\" lacks \"%s\"", n, err.msg, want);
                        cr_expect(strncmp(err.msg, n, strlen(n)) == 0, "%s: error lacks file name: %s", n, err.msg);
                        rejected++;
                } else {
                        cr_expect_eq(r, 0, "%s: %s", n, err.msg);
                        cr_expect(r < 0 || json_is_string(json_object_get(j, "ID")), "%s: no ID", n);
                        parsed++;
                }
                json_decref(j);
        }
        closedir(d);
        cr_assert_eq(rejected, ARRAY_SIZE(negatives));
        cr_assert_geq(parsed, 50, "only %zu files parsed", parsed);
}

/* ---- basic.hcl in depth ---------------------------------------------------------------- */

Test(jobspec_corpus, basic_job_level) {
        _cleanup_json_ json_t *j = load("basic.hcl");
        expect_str(j, "ID", "binstore-storagelocker");
        expect_str(j, "Name", "binstore-storagelocker");
        expect_str(j, "Type", "batch");
        expect_int(j, "Priority", 52);
        expect_bool(j, "AllAtOnce", true);
        expect_str(j, "Datacenters.0", "us2");
        expect_str(j, "Datacenters.1", "eu1");
        expect_str(j, "Region", "fooregion");
        expect_str(j, "Namespace", "foonamespace");
        expect_str(j, "NodePool", "dev");
        expect_str(j, "ConsulToken", "abc");
        expect_str(j, "VaultToken", "foo");
        expect_str(j, "Meta.foo", "bar");
        expect_len(j, "Constraints", 2);
        expect_constraint(j, "Constraints.0", "kernel.os", "windows", "=");
        expect_constraint(j, "Constraints.1", "${attr.vault.version}", ">= 0.6.1", "semver");
        expect_constraint(j, "Affinities.0", "${meta.team}", "mobile", "=");
        expect_int(j, "Affinities.0.Weight", 50);
        expect_str(j, "Spreads.0.Attribute", "${meta.rack}");
        expect_int(j, "Spreads.0.Weight", 100);
        expect_str(j, "Spreads.0.SpreadTarget.0.Value", "r1");
        expect_int(j, "Spreads.0.SpreadTarget.0.Percent", 40);
        expect_str(j, "Spreads.0.SpreadTarget.1.Value", "r2");
        expect_int(j, "Spreads.0.SpreadTarget.1.Percent", 60);
        expect_int(j, "Update.Stagger", NS(60));
        expect_int(j, "Update.MaxParallel", 2);
        expect_str(j, "Update.HealthCheck", "manual");
        expect_int(j, "Update.MinHealthyTime", NS(10));
        expect_int(j, "Update.HealthyDeadline", NS(600));
        expect_int(j, "Update.ProgressDeadline", NS(600));
        expect_bool(j, "Update.AutoRevert", true);
        expect_bool(j, "Update.AutoPromote", true);
        expect_int(j, "Update.Canary", 1);
        /* the job-level task becomes the first group */
        expect_len(j, "TaskGroups", 2);
        expect_str(j, "TaskGroups.0.Name", "outside");
        expect_len(j, "TaskGroups.0.Tasks", 1);
        expect_str(j, "TaskGroups.0.Tasks.0.Name", "outside");
        expect_str(j, "TaskGroups.0.Tasks.0.Driver", "java");
        expect_str(j, "TaskGroups.0.Tasks.0.Config.jar_path", "s3://my-cool-store/foo.jar");
        expect_str(j, "TaskGroups.0.Tasks.0.Meta.my-cool-key", "foobar");
        expect_str(j, "TaskGroups.1.Name", "binsl");
}

Test(jobspec_corpus, basic_group) {
        _cleanup_json_ json_t *j = load("basic.hcl");
        json_t *g = jget(j, "TaskGroups.1");
        expect_int(g, "Count", 5);
        expect_int(g, "StopAfterClientDisconnect", NS(120));
        expect_int(g, "MaxClientDisconnect", NS(120 * 3600));
        expect_constraint(g, "Constraints.0", "kernel.os", "linux", "=");
        expect_len(g, "Volumes", 3);
        expect_str(g, "Volumes.foo.Type", "host");
        expect_str(g, "Volumes.foo.Source", "/path");
        expect_str(g, "Volumes.bar.Type", "csi");
        expect_str(g, "Volumes.bar.Source", "bar-vol");
        expect_bool(g, "Volumes.bar.ReadOnly", true);
        expect_str(g, "Volumes.bar.AccessMode", "single-mode-writer");
        expect_str(g, "Volumes.bar.AttachmentMode", "file-system");
        expect_str(g, "Volumes.bar.MountOptions.FSType", "ext4");
        expect_bool(g, "Volumes.baz.PerAlloc", true);
        expect_str(g, "Volumes.baz.MountOptions.MountFlags.0", "ro");
        expect_constraint(g, "Affinities.0", "${node.datacenter}", "dc2", "=");
        expect_int(g, "Affinities.0.Weight", 100);
        expect_str(g, "Meta.elb_mode", "tcp");
        expect_str(g, "Meta.elb_interval", "10");
        expect_str(g, "Meta.elb_checks", "3");
        expect_int(g, "RestartPolicy.Interval", NS(600));
        expect_int(g, "RestartPolicy.Attempts", 5);
        expect_int(g, "RestartPolicy.Delay", NS(15));
        expect_str(g, "RestartPolicy.Mode", "delay");
        expect_bool(g, "RestartPolicy.RenderTemplates", false);
        expect_str(g, "Spreads.0.Attribute", "${node.datacenter}");
        expect_int(g, "Spreads.0.Weight", 50);
        expect_len(g, "Spreads.0.SpreadTarget", 3);
        expect_str(g, "Spreads.0.SpreadTarget.2.Value", "dc3");
        expect_int(g, "Spreads.0.SpreadTarget.0.Percent", 50);
        expect_int(g, "Spreads.0.SpreadTarget.2.Percent", 25);
        expect_int(g, "Disconnect.StopOnClientAfter", NS(120));
        expect_int(g, "Disconnect.LostAfter", NS(120 * 3600));
        expect_bool(g, "Disconnect.Replace", true);
        expect_str(g, "Disconnect.Reconcile", "best_score");
        expect_int(g, "ReschedulePolicy.Interval", NS(12 * 3600));
        expect_int(g, "ReschedulePolicy.Attempts", 5);
        expect_bool(g, "EphemeralDisk.Sticky", true);
        expect_int(g, "EphemeralDisk.SizeMB", 150);
        expect_int(g, "Update.MaxParallel", 3);
        expect_str(g, "Update.HealthCheck", "checks");
        expect_int(g, "Update.MinHealthyTime", NS(1));
        expect_int(g, "Update.HealthyDeadline", NS(60));
        expect_int(g, "Update.ProgressDeadline", NS(60));
        expect_bool(g, "Update.AutoRevert", false);
        expect_bool(g, "Update.AutoPromote", false);
        expect_int(g, "Update.Canary", 2);
        expect_int(g, "Migrate.MaxParallel", 2);
        expect_str(g, "Migrate.HealthCheck", "task_states");
        expect_int(g, "Migrate.MinHealthyTime", NS(11));
        expect_int(g, "Migrate.HealthyDeadline", NS(660));
        expect_len(g, "Tasks", 2);
        expect_str(g, "Tasks.0.Name", "binstore");
        expect_str(g, "Tasks.1.Name", "storagelocker");
}

Test(jobspec_corpus, basic_tasks) {
        _cleanup_json_ json_t *j = load("basic.hcl");
        json_t *t = jget(j, "TaskGroups.1.Tasks.0");
        expect_str(t, "Driver", "docker");
        expect_str(t, "User", "bob");
        expect_str(t, "Kind", "connect-proxy:test");
        expect_bool(t, "Leader", true);
        expect_str(t, "Config.image", "hashicorp/binstore");
        expect_str(t, "Config.labels.0.FOO", "bar");
        expect_constraint(t, "Affinities.0", "${meta.foo}", "a,b,c", "set_contains");
        expect_int(t, "Affinities.0.Weight", 25);
        expect_int(t, "Resources.CPU", 500);
        expect_int(t, "Resources.MemoryMB", 128);
        expect_int(t, "Resources.MemoryMaxMB", 256);
        expect_len(t, "Resources.Networks", 1);
        expect_int(t, "Resources.Networks.0.MBits", 100);
        expect_len(t, "Resources.Networks.0.ReservedPorts", 3);
        expect_str(t, "Resources.Networks.0.ReservedPorts.0.Label", "one");
        expect_int(t, "Resources.Networks.0.ReservedPorts.0.Value", 1);
        expect_str(t, "Resources.Networks.0.ReservedPorts.2.Label", "three");
        expect_int(t, "Resources.Networks.0.ReservedPorts.2.Value", 3);
        expect_len(t, "Resources.Networks.0.DynamicPorts", 3);
        expect_str(t, "Resources.Networks.0.DynamicPorts.0.Label", "http");
        expect_str(t, "Resources.Networks.0.DynamicPorts.1.Label", "https");
        expect_str(t, "Resources.Networks.0.DynamicPorts.2.Label", "admin");
        expect_int(t, "Resources.Networks.0.DynamicPorts.2.Value", 0);
        expect_len(t, "Resources.Devices", 2);
        expect_str(t, "Resources.Devices.0.Name", "nvidia/gpu");
        expect_int(t, "Resources.Devices.0.Count", 10);
        expect_constraint(t, "Resources.Devices.0.Constraints.0", "${device.attr.memory}", "2GB", ">");
        expect_constraint(t, "Resources.Devices.0.Affinities.0", "${device.model}", "1080ti", "=");
        expect_int(t, "Resources.Devices.0.Affinities.0.Weight", 50);
        expect_str(t, "Resources.Devices.1.Name", "intel/gpu");
        expect_absent(t, "Resources.Devices.1.Count");
        expect_int(t, "KillTimeout", NS(22));
        expect_int(t, "ShutdownDelay", NS(11));
        expect_int(t, "LogConfig.MaxFiles", 14);
        expect_int(t, "LogConfig.MaxFileSizeMB", 101);
        expect_bool(t, "LogConfig.Disabled", false);
        expect_int(t, "RestartPolicy.Attempts", 10);
        expect_str(t, "Env.HELLO", "world");
        expect_str(t, "VolumeMounts.0.Volume", "foo");
        expect_str(t, "VolumeMounts.0.Destination", "/mnt/foo");
        expect_len(t, "Artifacts", 2);
        expect_str(t, "Artifacts.0.GetterSource", "http://foo.com/artifact");
        expect_str(t, "Artifacts.0.GetterOptions.checksum", "md5:b8a4f3f72ecab0510a6a31e997461c5f");
        expect_str(t, "Artifacts.1.RelativeDest", "test/foo/");
        expect_str(t, "Artifacts.1.GetterMode", "file");
        expect_str(t, "Vault.Namespace", "ns1");
        expect_str(t, "Vault.Policies.1", "bar");
        expect_len(t, "Templates", 2);
        expect_int(t, "Templates.0.Splay", NS(10));
        expect_int(t, "Templates.0.VaultGrace", NS(33));
        expect_bool(t, "Templates.0.Envvars", true);
        expect_bool(t, "Templates.0.ErrMissingKey", true);
        expect_str(t, "Templates.1.ChangeMode", "script");
        expect_str(t, "Templates.1.ChangeScript.Command", "/bin/foo");
        expect_str(t, "Templates.1.ChangeScript.Args.1", "-verbose");
        expect_int(t, "Templates.1.ChangeScript.Timeout", NS(5));
        expect_bool(t, "Templates.1.ChangeScript.FailOnError", false);
        expect_str(t, "Templates.1.Perms", "777");
        expect_int(t, "Templates.1.Uid", 1001);
        expect_int(t, "Templates.1.Gid", 20);
        expect_str(t, "Templates.1.LeftDelim", "--");
        expect_str(t, "Templates.1.RightDelim", "__");
        expect_str(t, "Services.0.PortLabel", "http");
        expect_str(t, "Services.0.Tags.0", "foo");
        expect_str(t, "Services.0.CanaryTags.1", "bam");
        expect_str(t, "Services.0.Meta.abc", "123");
        expect_str(t, "Services.0.CanaryMeta.canary", "boom");
        expect_str(t, "Services.0.Checks.0.Name", "check-name");
        expect_int(t, "Services.0.Checks.0.Interval", NS(10));
        expect_int(t, "Services.0.Checks.0.Timeout", NS(2));
        expect_str(t, "Services.0.Checks.0.PortLabel", "admin");
        expect_str(t, "Services.0.Checks.0.GRPCService", "foo.Bar");
        expect_bool(t, "Services.0.Checks.0.GRPCUseTLS", true);
        expect_int(t, "Services.0.Checks.0.CheckRestart.Limit", 3);
        expect_int(t, "Services.0.Checks.0.CheckRestart.Grace", NS(10));
        expect_bool(t, "Services.0.Checks.0.CheckRestart.IgnoreWarnings", true);

        json_t *s = jget(j, "TaskGroups.1.Tasks.1");
        expect_str(s, "Lifecycle.Hook", "prestart");
        expect_bool(s, "Lifecycle.Sidecar", true);
        expect_int(s, "Resources.CPU", 500);
        expect_int(s, "Resources.MemoryMB", 128);
        expect_constraint(s, "Constraints.0", "kernel.arch", "amd64", "=");
        expect_str(s, "Vault.ChangeMode", "signal");
        expect_str(s, "Vault.ChangeSignal", "SIGUSR1");
        expect_bool(s, "Vault.Env", false);
}

/* ---- small fixtures -------------------------------------------------------------------- */

Test(jobspec_corpus, default_job_has_only_id_and_name) {
        _cleanup_json_ json_t *j = load("default-job.hcl");
        expect_str(j, "ID", "foo");
        expect_str(j, "Name", "foo");
        cr_assert_eq(json_object_size(j), 2);
}

Test(jobspec_corpus, specify_job_overrides_label) {
        _cleanup_json_ json_t *j = load("specify-job.hcl");
        expect_str(j, "ID", "job1");
        expect_str(j, "Name", "My Job");
}

Test(jobspec_corpus, constraint_shorthands) {
        static const struct {
                const char *file, *l, *r, *op;
        } cases[] = {
            {"version-constraint.hcl", "$attr.kernel.version", "~> 3.2", "version"},
            {"regexp-constraint.hcl", "$attr.kernel.version", "[0-9.]+", "regexp"},
            {"set-contains-constraint.hcl", "$meta.data", "foo,bar,baz", "set_contains"},
            {"distinctHosts-constraint.hcl", "", "true", "distinct_hosts"},
            {"distinctProperty-constraint.hcl", "${meta.rack}", "", "distinct_property"},
        };
        for (size_t k = 0; k < ARRAY_SIZE(cases); k++) {
                _cleanup_json_ json_t *j = load(cases[k].file);
                expect_len(j, "Constraints", 1);
                expect_constraint(j, "Constraints.0", cases[k].l, cases[k].r, cases[k].op);
        }
        _cleanup_json_ json_t *p = load("periodic-simple.nomad");
        expect_constraint(p, "Constraints.0", "${attr.kernel.name}", "darwin,linux", "set_contains_any");
        _cleanup_json_ json_t *s = parse_text("job \"x\" {\n constraint { set_contains_any = \"a,b\"\n"
                                              " attribute = \"${meta.x}\" }\n}\n");
        expect_constraint(s, "Constraints.0", "${meta.x}", "a,b", "set_contains_any");
}

Test(jobspec_corpus, periodic) {
        _cleanup_json_ json_t *a = load("periodic-cron.hcl");
        expect_str(a, "Periodic.SpecType", "cron");
        expect_str(a, "Periodic.Spec", "*/5 * * *");
        expect_bool(a, "Periodic.ProhibitOverlap", true);
        expect_str(a, "Periodic.TimeZone", "Europe/Minsk");
        _cleanup_json_ json_t *b = load("periodic-crons.hcl");
        expect_str(b, "Periodic.SpecType", "cron");
        expect_len(b, "Periodic.Specs", 2);
        expect_str(b, "Periodic.Specs.0", "*/5 * * *");
        expect_str(b, "Periodic.Specs.1", "*/7 * * *");
        expect_absent(b, "Periodic.Spec");
        _cleanup_json_ json_t *c = load("sysbatch_periodic.nomad");
        expect_str(c, "Type", "sysbatch");
        expect_str(c, "Periodic.Spec", "*/15 * * * * *");
}

Test(jobspec_corpus, parameterized) {
        _cleanup_json_ json_t *j = load("parameterized_job.hcl");
        expect_str(j, "ID", "parameterized_job");
        expect_str(j, "ParameterizedJob.Payload", "required");
        expect_str(j, "ParameterizedJob.MetaRequired.0", "foo");
        expect_str(j, "ParameterizedJob.MetaRequired.1", "bar");
        expect_str(j, "ParameterizedJob.MetaOptional.0", "baz");
        expect_str(j, "ParameterizedJob.MetaOptional.1", "bam");
        expect_str(j, "TaskGroups.0.Name", "foo");
        expect_str(j, "TaskGroups.0.Tasks.0.Name", "bar");
        expect_str(j, "TaskGroups.0.Tasks.0.Driver", "docker");
        expect_str(j, "TaskGroups.0.Tasks.0.DispatchPayload.File", "foo/bar");
}

Test(jobspec_corpus, reschedule) {
        _cleanup_json_ json_t *a = load("reschedule-job.hcl");
        expect_str(a, "Type", "batch");
        expect_str(a, "Datacenters.0", "dc1");
        expect_int(a, "Reschedule.Attempts", 15);
        expect_int(a, "Reschedule.Interval", NS(30 * 60));
        expect_str(a, "Reschedule.DelayFunction", "constant");
        expect_int(a, "Reschedule.Delay", NS(10));
        expect_int(a, "TaskGroups.0.Count", 3);
        expect_str(a, "TaskGroups.0.Tasks.0.Driver", "raw_exec");
        expect_str(a, "TaskGroups.0.Tasks.0.Config.command", "bash");
        expect_str(a, "TaskGroups.0.Tasks.0.Config.args.1", "echo hi");
        _cleanup_json_ json_t *b = load("reschedule-job-unlimited.hcl");
        expect_str(b, "Reschedule.DelayFunction", "exponential");
        expect_int(b, "Reschedule.Delay", NS(10));
        expect_int(b, "Reschedule.MaxDelay", NS(120));
        expect_bool(b, "Reschedule.Unlimited", true);
        expect_absent(b, "Reschedule.Attempts");
        expect_absent(b, "Reschedule.Interval");
        /* unlimited = "true" (a string) is coerced */
        _cleanup_json_ json_t *c = load("rescheduling_canary_autorevert.nomad");
        expect_bool(c, "TaskGroups.0.ReschedulePolicy.Unlimited", true);
        expect_int(c, "TaskGroups.0.Update.Canary", 3);
}

Test(jobspec_corpus, migrate) {
        _cleanup_json_ json_t *j = load("migrate-job.hcl");
        expect_int(j, "Migrate.MaxParallel", 2);
        expect_str(j, "Migrate.HealthCheck", "task_states");
        expect_int(j, "Migrate.MinHealthyTime", NS(11));
        expect_int(j, "Migrate.HealthyDeadline", NS(660));
        expect_str(j, "TaskGroups.0.Name", "bar");
        expect_int(j, "TaskGroups.0.Count", 3);
        expect_int(j, "TaskGroups.0.Migrate.MaxParallel", 3);
        expect_str(j, "TaskGroups.0.Migrate.HealthCheck", "checks");
        expect_int(j, "TaskGroups.0.Migrate.MinHealthyTime", NS(1));
        expect_int(j, "TaskGroups.0.Migrate.HealthyDeadline", NS(60));
        /* size = "101" (a string) is coerced */
        _cleanup_json_ json_t *d = load("drain_migrate.nomad");
        expect_int(d, "TaskGroups.0.EphemeralDisk.SizeMB", 101);
        expect_bool(d, "TaskGroups.0.EphemeralDisk.Migrate", true);
}

Test(jobspec_corpus, tg_network) {
        _cleanup_json_ json_t *j = load("tg-network.hcl");
        json_t *g = jget(j, "TaskGroups.0");
        expect_str(g, "Name", "bar");
        expect_int(g, "Count", 3);
        expect_int(g, "ShutdownDelay", NS(14));
        expect_len(g, "Networks", 1);
        expect_str(g, "Networks.0.Mode", "bridge");
        expect_len(g, "Networks.0.ReservedPorts", 1);
        expect_str(g, "Networks.0.ReservedPorts.0.Label", "http");
        expect_int(g, "Networks.0.ReservedPorts.0.Value", 80);
        expect_int(g, "Networks.0.ReservedPorts.0.To", 8080);
        expect_str(g, "Networks.0.ReservedPorts.0.HostNetwork", "public");
        expect_str(g, "Networks.0.DNS.Servers.0", "8.8.8.8");
        expect_str(g, "Networks.0.DNS.Options.0", "ndots:2");
        expect_str(g, "Networks.0.DNS.Options.1", "edns0");
        expect_str(g, "Services.0.Name", "connect-service");
        expect_str(g, "Services.0.PortLabel", "1234");
        json_t *sc = jget(g, "Services.0.Connect");
        expect_str(sc, "SidecarService.Tags.1", "side2");
        expect_int(sc, "SidecarService.Proxy.LocalServicePort", 8080);
        expect_str(sc, "SidecarService.Proxy.Upstreams.0.DestinationName", "other-service");
        expect_str(sc, "SidecarService.Proxy.Upstreams.0.DestinationPeer", "10.0.0.1:6379");
        expect_int(sc, "SidecarService.Proxy.Upstreams.0.LocalBindPort", 4567);
        expect_str(sc, "SidecarService.Proxy.Upstreams.0.LocalBindSocketMode", "0666");
        expect_str(sc, "SidecarService.Proxy.Upstreams.0.MeshGateway.Mode", "local");
        expect_int(sc, "SidecarTask.Resources.CPU", 500);
        expect_int(sc, "SidecarTask.Resources.MemoryMB", 1024);
        expect_str(sc, "SidecarTask.Env.FOO", "abc");
        expect_int(sc, "SidecarTask.ShutdownDelay", NS(5));
        expect_str(g, "Tasks.0.Driver", "raw_exec");
        expect_len(g, "Tasks.0.Resources.Networks", 1);
        expect_int(g, "Tasks.0.Resources.Networks.0.MBits", 10);
}

Test(jobspec_corpus, resources_cores) {
        _cleanup_json_ json_t *j = load("resources-cores.hcl");
        expect_str(j, "ID", "cores-test");
        expect_str(j, "TaskGroups.0.Name", "group");
        expect_int(j, "TaskGroups.0.Count", 5);
        expect_str(j, "TaskGroups.0.Tasks.0.Driver", "docker");
        expect_int(j, "TaskGroups.0.Tasks.0.Resources.Cores", 4);
        expect_int(j, "TaskGroups.0.Tasks.0.Resources.MemoryMB", 128);
        expect_absent(j, "TaskGroups.0.Tasks.0.Resources.CPU");
}

Test(jobspec_corpus, multiregion) {
        _cleanup_json_ json_t *j = load("multiregion.hcl");
        expect_str(j, "ID", "multiregion_job");
        expect_int(j, "Multiregion.Strategy.MaxParallel", 1);
        expect_str(j, "Multiregion.Strategy.OnFailure", "fail_all");
        expect_len(j, "Multiregion.Regions", 2);
        expect_str(j, "Multiregion.Regions.0.Name", "west");
        expect_int(j, "Multiregion.Regions.0.Count", 2);
        expect_str(j, "Multiregion.Regions.0.Datacenters.0", "west-1");
        expect_str(j, "Multiregion.Regions.0.Meta.region_code", "W");
        expect_str(j, "Multiregion.Regions.1.Name", "east");
        expect_int(j, "Multiregion.Regions.1.Count", 1);
        expect_str(j, "Multiregion.Regions.1.Datacenters.1", "east-2");
        expect_str(j, "Multiregion.Regions.1.Meta.region_code", "E");
}

Test(jobspec_corpus, artifacts) {
        _cleanup_json_ json_t *j = load("artifacts.hcl");
        json_t *a = jget(j, "TaskGroups.0.Tasks.0.Artifacts");
        cr_assert_eq(json_array_size(a), 4);
        expect_str(a, "0.GetterSource", "http://foo.com/bar");
        expect_str(a, "0.GetterOptions.foo", "bar");
        expect_str(a, "0.RelativeDest", "");
        expect_str(a, "1.GetterSource", "http://foo.com/baz");
        expect_absent(a, "1.GetterOptions");
        expect_absent(a, "1.RelativeDest");
        expect_str(a, "2.RelativeDest", "var/foo");
        expect_str(a, "3.GetterSource", "https://example.com/file.txt");
        expect_str(a, "3.GetterHeaders.User-Agent", "nomad");
        expect_str(a, "3.GetterHeaders.X-Nomad-Alloc", "alloc");
}

Test(jobspec_corpus, kill_signal_and_nested_config) {
        _cleanup_json_ json_t *k = load("job-with-kill-signal.hcl");
        expect_str(k, "TaskGroups.0.Name", "bar");
        expect_str(k, "TaskGroups.0.Tasks.0.Name", "bar");
        expect_str(k, "TaskGroups.0.Tasks.0.Driver", "docker");
        expect_str(k, "TaskGroups.0.Tasks.0.KillSignal", "SIGQUIT");
        expect_str(k, "TaskGroups.0.Tasks.0.Config.image", "hashicorp/image");
        _cleanup_json_ json_t *n = load("task-nested-config.hcl");
        json_t *cfg = jget(n, "TaskGroups.0.Tasks.0.Config");
        expect_str(cfg, "image", "hashicorp/image");
        cr_assert(json_is_array(json_object_get(cfg, "port_map")), "port_map must be a list of maps");
        expect_len(cfg, "port_map", 1);
        expect_int(cfg, "port_map.0.db", 1234);
}

Test(jobspec_corpus, config_compatibility_hcl1_semantics) {
        _cleanup_json_ json_t *j = load("config-compatibility.hcl");
        json_t *c = jget(j, "TaskGroups.0.Tasks.0.Config");
        expect_int(c, "attr_int", 3);
        expect_int(c, "attr_large_int", 21474836470LL);
        cr_assert_float_eq(json_real_value(jget(c, "attr_float")), 3.2, 1e-12);
        expect_str(c, "attr_list_hetro.1", "a");
        expect_str(c, "attr_list_hetro.3.k", "v");
        expect_len(c, "attr_list_empty", 0);
        expect_str(c, "attr_map.KEY2", "VAL2");
        expect_len(c, "attr_map_empty", 0);
        expect_str(c, "block1.0.key2", "v2");
        expect_str(c, "labeled_block.0.label1.0.k", "b");
        expect_str(c, "multi_labeled_block.0.label1.0.label2.0.label3.0.k", "b");
        expect_len(c, "repeated_block_type", 2);
        expect_int(c, "repeated_block_type.1.b", 3);
        expect_len(c, "label_repeated", 5);
        expect_int(c, "label_repeated.1.l1.0.a", 2);
        expect_int(c, "label_repeated.3.l2.0.l21.0.l23.0.a", 4);
        expect_str(c, "outer_block.0.l1.0.inner_block.0.l2.0.most_inner.0.l3.0.inner_map.K", "V");
}

Test(jobspec_corpus, scaling_policy) {
        _cleanup_json_ json_t *j = load("tg-scaling-policy.hcl");
        expect_str(j, "ID", "elastic");
        json_t *s = jget(j, "TaskGroups.0.Scaling");
        expect_str(s, "Type", "horizontal");
        expect_int(s, "Min", 5);
        expect_int(s, "Max", 100);
        expect_bool(s, "Enabled", false);
        expect_str(s, "Policy.foo", "bar");
        expect_bool(s, "Policy.b", true);
        expect_int(s, "Policy.val", 5);
        cr_assert_float_eq(json_real_value(jget(s, "Policy.f")), 0.1, 1e-12);
        expect_str(s, "Policy.check.0.foo.0.query", "some_query");
}

Test(jobspec_corpus, parse_ports) {
        _cleanup_json_ json_t *j = load("parse-ports.hcl");
        expect_len(j, "TaskGroups", 1);
        expect_len(j, "TaskGroups.0.Networks", 1);
        expect_len(j, "TaskGroups.0.Networks.0.ReservedPorts", 1);
        expect_int(j, "TaskGroups.0.Networks.0.ReservedPorts.0.Value", 9000);
        expect_len(j, "TaskGroups.0.Networks.0.DynamicPorts", 1);
        expect_int(j, "TaskGroups.0.Networks.0.DynamicPorts.0.Value", 0);
}

Test(jobspec_corpus, connect_upstream_opaque_config) {
        _cleanup_json_ json_t *j = load("connect-example.hcl");
        expect_int(j, "TaskGroups.0.Services.0.Connect.SidecarService.Proxy.Upstreams.0.Config.connect_timeout_ms",
                   9999);
        expect_str(j, "TaskGroups.0.Services.0.Connect.SidecarService.Proxy.Upstreams.0.DestinationName", "database");
        expect_str(j, "TaskGroups.0.Tasks.0.Env.COUNTING_SERVICE_URL", "http://${NOMAD_UPSTREAM_ADDR_database}");
}

Test(jobspec_corpus, restart_render_templates) {
        _cleanup_json_ json_t *j = load("restart-render-templates.hcl");
        expect_bool(j, "TaskGroups.0.RestartPolicy.RenderTemplates", true);
        expect_absent(j, "TaskGroups.0.Tasks.0.RestartPolicy");
        expect_bool(j, "TaskGroups.0.Tasks.1.RestartPolicy.RenderTemplates", false);
}

Test(jobspec_corpus, template_wait_and_heredoc_data) {
        _cleanup_json_ json_t *j = load("template-wait-config.hcl");
        expect_int(j, "TaskGroups.0.Tasks.0.Templates.0.Wait.Min", NS(5));
        expect_int(j, "TaskGroups.0.Tasks.0.Templates.0.Wait.Max", NS(60));
        _cleanup_json_ json_t *t = load("template_paths.nomad");
        expect_str(t, "TaskGroups.0.Tasks.0.Templates.1.EmbeddedTmpl", "Data shared between all task in alloc dir.\n");
        expect_str(t, "TaskGroups.0.Tasks.0.Templates.0.SourcePath", "${NOMAD_TASK_DIR}/foo/src");
        expect_str(t, "TaskGroups.0.Tasks.0.Artifacts.0.RelativeDest", "${NOMAD_META_ARTIFACT_DEST_DIR}");
}

Test(jobspec_corpus, identity_compat) {
        _cleanup_json_ json_t *j = load("identity-compat.nomad.hcl");
        json_t *t = jget(j, "TaskGroups.0.Tasks.0");
        expect_bool(t, "Identity.Env", true);
        expect_bool(t, "Identity.File", true);
        expect_len(t, "Identities", 1);
        expect_str(t, "Identities.0.Name", "foo");
        expect_str(t, "Identities.0.Audience.0", "bar");
        expect_bool(t, "Identities.0.File", true);
        cr_assert_not(jx_bool(jget(t, "Identities.0"), "Env", false));
        expect_str(t, "Identities.0.ChangeMode", "signal");
        expect_str(t, "Identities.0.ChangeSignal", "sighup");
        expect_int(t, "Identities.0.TTL", NS(7200));
}

Test(jobspec_corpus, example_short_json_and_hcl_agree) {
        _cleanup_json_ json_t *j = load("example-short.json");
        expect_str(j, "ID", "example");
        expect_absent(j, "Job");
        expect_str(j, "TaskGroups.0.Name", "cache");
        expect_str(j, "TaskGroups.0.Networks.0.DynamicPorts.0.Label", "db");
        expect_int(j, "TaskGroups.0.Networks.0.DynamicPorts.0.To", 6379);
        _cleanup_json_ json_t *h = load("example-short.nomad.hcl");
        static const char *const same[] = {
            "ID",
            "TaskGroups.0.Name",
            "TaskGroups.0.Tasks.0.Name",
            "TaskGroups.0.Tasks.0.Driver",
            "TaskGroups.0.Tasks.0.Config",
            "TaskGroups.0.Tasks.0.Resources.CPU",
            "TaskGroups.0.Tasks.0.Resources.MemoryMB",
            "TaskGroups.0.Networks.0.DynamicPorts.0.Label",
            "TaskGroups.0.Networks.0.DynamicPorts.0.Value",
            "TaskGroups.0.Networks.0.DynamicPorts.0.To",
        };
        for (size_t k = 0; k < ARRAY_SIZE(same); k++)
                cr_assert(json_equal(jget(j, same[k]), jget(h, same[k])), "%s differs between JSON and HCL", same[k]);
}

Test(jobspec_corpus, variable_default_substituted) {
        _cleanup_json_ json_t *j = load("thirteen_job_priority.nomad");
        expect_int(j, "Priority", 13);
        expect_str(j, "TaskGroups.0.Tasks.0.Config.image", "busybox:1");
}

Test(jobspec_corpus, e2e_files_values) {
        _cleanup_json_ json_t *a = load("anti_affinities.nomad");
        expect_int(a, "Affinities.0.Weight", -50);
        expect_int(a, "TaskGroups.0.Affinities.0.Weight", -50);
        _cleanup_json_ json_t *s = load("multiple_spread.nomad");
        expect_absent(s, "Spreads.0.SpreadTarget");
        expect_int(s, "TaskGroups.0.Spreads.0.SpreadTarget.0.Percent", 70);
        _cleanup_json_ json_t *l = load("lifecycle-service.nomad");
        expect_len(l, "TaskGroups.0.Tasks", 5);
        expect_str(l, "TaskGroups.0.Tasks.4.Lifecycle.Hook", "poststop");
        const char *tmpl = json_string_value(jget(l, "TaskGroups.0.Tasks.0.Templates.0.EmbeddedTmpl"));
        cr_assert_not_null(tmpl);
        cr_assert(strncmp(tmpl, "#!/bin/sh\n", 10) == 0, "%s", tmpl);
        cr_assert(strstr(tmpl, "\nsleep 1\ntouch ${NOMAD_ALLOC_DIR}/init-ran\n"), "%s", tmpl);
        _cleanup_json_ json_t *o = load("oversubscription-exec.hcl");
        expect_int(o, "TaskGroups.0.Tasks.0.Resources.MemoryMaxMB", 30);
        _cleanup_json_ json_t *m = load("sysbatch_timeout_basic.hcl");
        expect_int(m, "TaskGroups.0.MaxRunDuration", NS(5));
        _cleanup_json_ json_t *c = load("system_canary_v1.nomad.hcl");
        expect_int(c, "TaskGroups.0.Update.Canary", 50);
        _cleanup_json_ json_t *x = load("example.nomad.hcl");
        expect_str(x, "UI.Links.0.Label", "Learn more about Nomad");
        expect_str(x, "TaskGroups.0.Services.0.Provider", "nomad");
}

/* ---- error paths and coercions on inline input ------------------------------------------ */

Test(jobspec, unknown_keys_name_position_and_path) {
        parse_text_err("job \"j\" {\n  bogus = 1\n}\n", "t.hcl:2:3: job \"j\": unsupported argument \"bogus\"");
        parse_text_err("job \"j\" {\n group \"g\" {\n  task \"t\" {\n   resources {\n    cpux = 1\n   }\n  }\n }\n}\n",
                       "t.hcl:5:5: group \"g\", task \"t\", resources: unsupported argument \"cpux\"");
        parse_text_err("job \"j\" {\n group \"g\" {\n  weird {}\n }\n}\n",
                       "t.hcl:3:3: group \"g\": unsupported block type \"weird\"");
}

Test(jobspec, type_errors) {
        parse_text_err("job \"j\" {\n priority = \"high\"\n}\n",
                       "t.hcl:2:13: job \"j\": argument \"priority\": expected a whole number, found string \"high\"");
        parse_text_err("job \"j\" {\n update { stagger = \"10 parsecs\" }\n}\n", "expected a duration");
        parse_text_err("job \"j\" {\n all_at_once = \"maybe\"\n}\n", "expected a bool");
        parse_text_err("job \"j\" {\n datacenters = \"dc1\"\n}\n", "expected a list of strings");
        parse_text_err("job \"j\" {\n region = [\"a\"]\n}\n", "expected a string");
        parse_text_err("job \"j\" {\n update = {}\n}\n", "unsupported argument \"update\"");
}

Test(jobspec, structural_errors) {
        parse_text_err("", "expected a job block, found none");
        parse_text_err("job \"a\" {}\njob \"b\" {}\n", "t.hcl:2:1: expected one job block, found a second");
        parse_text_err("job {}\n", "expected one label");
        parse_text_err("job \"a\" {\n group \"g\" {\n  network { port \"a-b\" {} }\n }\n}\n",
                       "Port label does not conform");
        parse_text_err("job \"a\" {\n group {}\n}\n", "t.hcl:2:2: job \"a\": block \"group\": expected one label");
        parse_text_err("job \"a\" {\n count = \n}\n", "t.hcl:2:10: expected an expression, found newline");
        parse_text_err("{\"Job\": {\"ID\": }", "t.hcl:1:16:");
}

Test(jobspec, coercions_and_expressions) {
        _cleanup_json_ json_t *j = parse_text("variable \"n\" { default = 3 }\n"
                                              "job \"j\" {\n"
                                              "  all_at_once = \"true\"\n"
                                              "  meta = { a = 1, b = true, c = 1.5 }\n"
                                              "  group \"g\" {\n"
                                              "    count = var.n\n"
                                              "    task \"t\" {\n"
                                              "      driver = \"exec\"\n"
                                              "      config { cmd = \"${var.n}-${upper(\"x\")}\"\n args = [var.n, upper(\"x\")] }\n"
                                              "      env { PATH = \"${env.PATH}\" }\n"
                                              "      kill_timeout = \"1h30m0.5s\"\n"
                                              "      resources { cpu = \"250\" }\n"
                                              "    }\n"
                                              "  }\n"
                                              "}\n");
        expect_bool(j, "AllAtOnce", true);
        expect_str(j, "Meta.a", "1");
        expect_str(j, "Meta.b", "true");
        expect_str(j, "Meta.c", "1.5");
        expect_int(j, "TaskGroups.0.Count", 3);
        expect_str(j, "TaskGroups.0.Tasks.0.Config.cmd", "3-X");
        expect_int(j, "TaskGroups.0.Tasks.0.Config.args.0", 3);
        expect_str(j, "TaskGroups.0.Tasks.0.Config.args.1", "X");
        expect_str(j, "TaskGroups.0.Tasks.0.Env.PATH", "${env.PATH}");
        expect_int(j, "TaskGroups.0.Tasks.0.KillTimeout", NS(5400) + 500000000);
        expect_int(j, "TaskGroups.0.Tasks.0.Resources.CPU", 250);
}

Test(jobspec, durations) {
        static const struct {
                const char *s;
                int64_t ns;
        } ok[] = {
            {"0", 0},          {"10s", NS(10)}, {"1h30m", NS(5400)}, {"500ms", 500000000},   {"1.5h", NS(5400)},
            {"-2m", -NS(120)}, {"1us", 1000},   {"3ns", 3},          {"2h45m30s", NS(9930)}, {"0.25s", 250000000}};
        for (size_t k = 0; k < ARRAY_SIZE(ok); k++) {
                int64_t ns = -12345;
                cr_assert_eq(jobspec_parse_duration(ok[k].s, &ns), 0, "%s", ok[k].s);
                cr_assert_eq(ns, ok[k].ns, "%s: %lld", ok[k].s, (long long)ns);
        }
        static const char *const bad[] = {"", "10", "s", "10x", "1h 30m", "--1s", "9999999999999h"};
        for (size_t k = 0; k < ARRAY_SIZE(bad); k++) {
                int64_t ns = 0;
                cr_assert_lt(jobspec_parse_duration(bad[k], &ns), 0, "\"%s\" must be rejected", bad[k]);
        }
}

Test(jobspec, json_bare_object_and_missing_file) {
        _cleanup_json_ json_t *j = parse_text("  {\"ID\": \"x\", \"Priority\": 7}");
        expect_str(j, "ID", "x");
        expect_int(j, "Priority", 7);
        json_t *none = NULL;
        struct error err = {0};
        cr_assert_lt(jobspec_parse_file("/nonexistent/job.hcl", &none, &err), 0);
        cr_assert_null(none);
        cr_assert(strstr(err.msg, "/nonexistent/job.hcl"), "%s", err.msg);
}

Test(jobspec_corpus, truncated_basic_never_crashes) {
        char path[1024];
        snprintf(path, sizeof(path), "%s/basic.hcl", corpus_dir());
        FILE *f = fopen(path, "re");
        cr_assert_not_null(f, "%s", path);
        char buf[16384];
        size_t len = fread(buf, 1, sizeof(buf), f);
        fclose(f);
        cr_assert_gt(len, 1000);
        size_t failed = 0;
        for (size_t n = 0; n < len; n += 7) {
                char *copy = malloc(n ? n : 1);
                cr_assert_not_null(copy);
                memcpy(copy, buf, n);
                json_t *j = NULL;
                struct error err = {0};
                int r = jobspec_parse(copy, n, "basic.hcl", &j, &err);
                if (r < 0) {
                        failed++;
                        cr_assert_null(j);
                        cr_assert(strncmp(err.msg, "basic.hcl", 9) == 0, "%s", err.msg);
                }
                json_decref(j);
                free(copy);
        }
        cr_assert_gt(failed, 0);
}
