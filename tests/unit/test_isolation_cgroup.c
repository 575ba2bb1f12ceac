/* test_isolation_cgroup.c - cgroup v2 values computed from limits, and the
 * cgroup files read back, against a temporary directory tree (no cgroup2
 * mount needed); the real kernel is exercised by the VM tier. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/error.h"
#include "isolation/cgroup.h"

static const char *value_of(const struct cgroup_value *v, int n, const char *file) {
        for (int i = 0; i < n; i++)
                if (strcmp(v[i].file, file) == 0)
                        return v[i].value;
        return NULL;
}

Test(isolation_cgroup, cpu_weight_follows_runc_conversion) {
        cr_expect_eq(cgroup_cpu_weight(0), 1);
        cr_expect_eq(cgroup_cpu_weight(2), 1);
        cr_expect_eq(cgroup_cpu_weight(1024), 39); /* cpu.shares 1024 -> weight 39, as runc */
        cr_expect_eq(cgroup_cpu_weight(262144), 10000);
        cr_expect_eq(cgroup_cpu_weight(10000000), 10000);
        cr_expect(cgroup_cpu_weight(500) < cgroup_cpu_weight(1000));
}

Test(isolation_cgroup, memory_alone_is_the_hard_limit) {
        struct cgroup_limits l = {.cpu_mhz = 500, .memory_bytes = 256LL << 20};
        struct cgroup_value v[16];
        struct error err = {0};
        int n = cgroup_limit_values(&l, v, 16, &err);
        cr_assert_gt(n, 0, "%s", err.msg);
        cr_expect_str_eq(value_of(v, n, "memory.max"), "268435456");
        cr_expect_null(value_of(v, n, "memory.high"));
        cr_expect_str_eq(value_of(v, n, "memory.swap.max"), "0");
        cr_expect_str_eq(value_of(v, n, "cpu.weight"), "19"); /* 1 + (500 - 2) * 9999 / 262142 */
        cr_expect_null(value_of(v, n, "cpu.max"));
        cr_expect_null(value_of(v, n, "pids.max"));
}

Test(isolation_cgroup, memory_max_makes_memory_the_high_mark) {
        struct cgroup_limits l = {.memory_bytes = 64LL << 20, .memory_max_bytes = 128LL << 20};
        struct cgroup_value v[16];
        int n = cgroup_limit_values(&l, v, 16, NULL);
        cr_assert_gt(n, 0);
        cr_expect_str_eq(value_of(v, n, "memory.high"), "67108864");
        cr_expect_str_eq(value_of(v, n, "memory.max"), "134217728");
}

Test(isolation_cgroup, hard_cpu_pids_cpuset_io) {
        struct cgroup_limits l = {.cpu_max_quota_us = 50000, .pids_max = 32, .io_weight = 200};
        snprintf(l.cpuset_cpus, sizeof(l.cpuset_cpus), "0-1,3");
        struct cgroup_value v[16];
        int n = cgroup_limit_values(&l, v, 16, NULL);
        cr_assert_gt(n, 0);
        cr_expect_str_eq(value_of(v, n, "cpu.max"), "50000 100000");
        cr_expect_str_eq(value_of(v, n, "pids.max"), "32");
        cr_expect_str_eq(value_of(v, n, "cpuset.cpus"), "0-1,3");
        cr_expect_str_eq(value_of(v, n, "io.weight"), "default 200");
}

Test(isolation_cgroup, bad_limits_are_refused_with_the_reason) {
        struct cgroup_value v[16];
        struct error err = {0};
        struct cgroup_limits l = {.memory_bytes = 128LL << 20, .memory_max_bytes = 64LL << 20};
        cr_expect_eq(cgroup_limit_values(&l, v, 16, &err), -EINVAL);
        cr_expect(strstr(err.msg, "below memory"), "%s", err.msg);
        struct cgroup_limits c = {0};
        snprintf(c.cpuset_cpus, sizeof(c.cpuset_cpus), "0-;x");
        cr_expect_eq(cgroup_limit_values(&c, v, 16, &err), -EINVAL);
        struct cgroup_limits q = {.cpu_max_quota_us = 10};
        cr_expect_eq(cgroup_limit_values(&q, v, 16, &err), -EINVAL);
        struct cgroup_limits io = {.io_weight = 20000};
        cr_expect_eq(cgroup_limit_values(&io, v, 16, &err), -EINVAL);
        struct cgroup_limits none = {0};
        cr_expect_eq(cgroup_limit_values(&none, v, 16, &err), 0);
}

static void write_file(const char *dir, const char *name, const char *text) {
        char p[256];
        snprintf(p, sizeof(p), "%s/%s", dir, name);
        FILE *f = fopen(p, "w");
        cr_assert_not_null(f);
        fputs(text, f);
        fclose(f);
}

Test(isolation_cgroup, reads_oom_kills_and_populated_from_the_files) {
        char dir[] = "/tmp/drover-cg-XXXXXX";
        cr_assert_not_null(mkdtemp(dir));
        write_file(dir, "memory.events", "low 0\nhigh 3\nmax 7\noom 2\noom_kill 1\noom_group_kill 0\n");
        write_file(dir, "cgroup.events", "populated 1\nfrozen 0\n");
        struct cgroup *cg = NULL;
        struct error err = {0};
        cr_assert_eq(cgroup_open(dir, &cg, &err), 0, "%s", err.msg);
        uint64_t ooms = 99;
        cr_expect_eq(cgroup_oom_kills(cg, &ooms, &err), 0);
        cr_expect_eq(ooms, 1);
        cr_expect_eq(cgroup_populated(cg), 1);
        write_file(dir, "memory.events", "low 0\noom 0\noom_kill 0\n");
        cr_expect_eq(cgroup_oom_kills(cg, &ooms, &err), 0);
        cr_expect_eq(ooms, 0);
        cr_expect_str_eq(cgroup_path(cg), dir);
        cr_expect_geq(cgroup_fd(cg), 0);
        cgroup_free(cg);
        char p[256];
        snprintf(p, sizeof(p), "%s/memory.events", dir);
        unlink(p);
        snprintf(p, sizeof(p), "%s/cgroup.events", dir);
        unlink(p);
        rmdir(dir);
}

Test(isolation_cgroup, create_refuses_names_that_are_not_one_component) {
        struct cgroup_limits l = {0};
        struct cgroup *cg = NULL;
        struct error err = {0};
        cr_expect_eq(cgroup_create("/tmp", "../x", &l, &cg, &err), -EINVAL);
        cr_expect_eq(cgroup_create("/tmp", "", &l, &cg, &err), -EINVAL);
        cr_expect_null(cg);
}

Test(isolation_cgroup, check_names_the_missing_mount_or_controller) {
        struct error err = {0};
        const char *const ctls[] = {"memory", NULL};
        /* A plain directory is not a cgroup2 mount. */
        cr_expect_lt(cgroup_check("/tmp", ctls, &err), 0);
        cr_expect(strstr(err.msg, "/tmp"), "%s", err.msg);
        cr_expect_lt(cgroup_prepare_parent("/sys/fs/cgroup", "/elsewhere/drover.slice", ctls, &err), 0);
        cr_expect(strstr(err.msg, "not below"), "%s", err.msg);
}

Test(isolation_cgroup, cgroup_of_self_is_read_from_proc) {
        char path[512];
        struct error err = {0};
        int r = cgroup_of_pid(getpid(), "/sys/fs/cgroup", path, sizeof(path), &err);
        if (r == -ENOENT)
                cr_skip_test("this process is in no cgroup v2 hierarchy: %s", err.msg);
        cr_assert_eq(r, 0, "%s", err.msg);
        cr_expect_eq(strncmp(path, "/sys/fs/cgroup", 14), 0, "%s", path);
}

Test(isolation_cgroup, real_cgroup_lifecycle_needs_root_and_cgroup_v2) {
        struct error err = {0};
        const char *const ctls[] = {"memory", "pids", NULL};
        if (geteuid() != 0)
                cr_skip_test("needs root");
        if (cgroup_check("/sys/fs/cgroup", ctls, &err) < 0)
                cr_skip_test("no usable cgroup v2 here (%s); the VM tier runs it", err.msg);
        const char *parent = "/sys/fs/cgroup/drover-unit.slice";
        cr_assert_eq(cgroup_prepare_parent("/sys/fs/cgroup", parent, ctls, &err), 0, "%s", err.msg);
        struct cgroup_limits l = {.memory_bytes = 64LL << 20, .pids_max = 10};
        struct cgroup *cg = NULL;
        cr_assert_eq(cgroup_create(parent, "t.scope", &l, &cg, &err), 0, "%s", err.msg);
        cr_expect_eq(cgroup_populated(cg), 0);
        cr_expect_eq(cgroup_remove(cg, 1000, &err), 0, "%s", err.msg);
        struct stat st;
        cr_expect_lt(stat(cgroup_path(cg), &st), 0);
        cgroup_free(cg);
        rmdir(parent);
}
