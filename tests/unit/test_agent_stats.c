/* test_agent_stats.c - task stats: cgroup v2 and procfs readers on fixture trees
 * (tests/fixtures/stats, see tests/fixtures/README.md), CPU percentages, the pid
 * file, and the agent's /v1/client/allocation/:id/stats on a live child. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/alloc_token.h"
#include "common/error.h"
#include "common/http_client.h"
#include "nodeagent/drivers/driver.h"
#include "nodeagent/drivers/task_stats.h"
#include "nodeagent/logs/log_api.h"

#define FX "tests/fixtures/stats"

Test(agent_stats, cgroup_v2_files_of_a_recent_kernel) {
        struct task_usage u;
        cr_assert_eq(task_stats_cgroup(FX "/cgroup", &u), 0);
        cr_expect_eq(u.total_us, 2500000);
        cr_expect_eq(u.user_us, 2000000);
        cr_expect_eq(u.system_us, 500000);
        cr_expect_eq(u.throttled_periods, 7);
        cr_expect_eq(u.throttled_us, 350000);
        cr_expect_eq(u.usage, 209715200, "memory.current");
        cr_expect_eq(u.max_usage, 268435456, "memory.peak");
        cr_expect_eq(u.swap, 4096);
        cr_expect_eq(u.rss, 199229440, "memory.stat anon");
        cr_expect_eq(u.cache, 8388608, "memory.stat file, not file_mapped");
        cr_expect_eq(u.mapped_file, 1048576);
        cr_expect_eq(u.kernel, 2097152, "memory.stat kernel, not kernel_stack");
        unsigned all =
            TU_RSS | TU_CACHE | TU_SWAP | TU_USAGE | TU_MAX_USAGE | TU_KERNEL | TU_MAPPED | TU_CPU | TU_THROTTLE;
        cr_expect_eq(u.measured, all);
}

Test(agent_stats, an_older_kernel_without_the_cpu_controller_measures_less) {
        struct task_usage u;
        cr_assert_eq(task_stats_cgroup(FX "/cgroup-nocpu", &u), 0);
        cr_expect(u.measured & TU_CPU);
        cr_expect_not(u.measured & TU_THROTTLE, "no nr_throttled without the cpu controller");
        cr_expect_not(u.measured & TU_MAX_USAGE, "no memory.peak before 5.19");
        cr_expect_not(u.measured & TU_SWAP);
        cr_expect_eq(u.kernel, 16384 + 32768, "kernel_stack + slab");
        cr_expect_eq(u.rss, 786432);
        json_t *j = task_usage_json(&u, 0);
        json_t *mm = json_object_get(json_object_get(j, "MemoryStats"), "Measured");
        char *s = json_dumps(mm, JSON_COMPACT);
        cr_expect(strstr(s, "\"RSS\"") && !strstr(s, "Max Usage") && !strstr(s, "Swap"), "%s", s);
        free(s);
        json_decref(j);
        cr_expect_eq(task_stats_cgroup(FX "/no-such-cgroup", &u), -ENOENT);
}

Test(agent_stats, procfs_sums_the_process_tree_only) {
        struct task_usage u;
        long hz = sysconf(_SC_CLK_TCK);
        cr_assert_eq(task_stats_procs(FX "/proc", 100, 5000, &u), 0);
        cr_expect_eq(u.n_pids, 3, "100, its child and grandchild; not 200");
        cr_expect_eq(u.rss, (1000 + 2000 + 500) * 1024ull);
        cr_expect_eq(u.swap, 8 * 1024ull);
        cr_expect_eq(u.user_us, (uint64_t)(50 + 100) * 1000000 / (uint64_t)hz);
        cr_expect_eq(u.system_us, (uint64_t)(10 + 20) * 1000000 / (uint64_t)hz);
        cr_expect_eq(u.total_us, u.user_us + u.system_us);
        cr_expect_eq(task_stats_procs(FX "/proc", 100, 4999, &u), -ESRCH, "another process under a reused pid");
        cr_expect_eq(task_stats_procs(FX "/proc", 300, 0, &u), -ESRCH);
        cr_assert_eq(task_stats_procs(FX "/proc", 102, 0, &u), 0);
        cr_expect_eq(u.n_pids, 1);
}

Test(agent_stats, pids_of_a_cgroup_each_with_its_own_use_in_nomads_shape) {
        struct task_usage u = {0};
        long hz = sysconf(_SC_CLK_TCK);
        cr_assert_eq(task_stats_cgroup_pids(FX "/cgroup", FX "/proc", &u), 2, "100 and 102; 999 has exited");
        cr_expect_eq(u.procs[0].pid, 100);
        cr_expect_eq(u.procs[0].rss, 1000 * 1024ull);
        cr_expect_eq(u.procs[1].pid, 102);
        cr_expect_eq(u.procs[1].rss, 500 * 1024ull);
        json_t *j = task_usage_pids_json(&u);
        cr_expect_eq(json_object_size(j), 2);
        json_t *m = json_object_get(json_object_get(j, "102"), "MemoryStats");
        cr_expect_eq(json_integer_value(json_object_get(m, "RSS")), 500 * 1024);
        char *measured = json_dumps(json_object_get(m, "Measured"), JSON_COMPACT);
        cr_expect_str_eq(measured, "[\"RSS\",\"Swap\"]");
        free(measured);
        json_t *c = json_object_get(json_object_get(j, "100"), "CpuStats");
        cr_expect_eq(json_array_size(json_object_get(c, "Measured")), 0, "no per-process CPU sample claimed");
        cr_expect_eq(json_integer_value(json_object_get(c, "TotalUsageUs")), (json_int_t)(50 + 10) * 1000000 / hz);
        json_decref(j);
        cr_expect_eq(task_stats_cgroup_pids(FX "/no-such-cgroup", FX "/proc", &u), -ENOENT);
        cr_expect_eq(task_stats_cgroup_pids(FX "/cgroup-nocpu", FX "/proc", &u), -ENOENT, "no cgroup.procs");
        /* The procfs reader lists the tree the same way. */
        cr_assert_eq(task_stats_procs(FX "/proc", 100, 0, &u), 0);
        cr_expect_eq(u.procs[1].pid, 101);
        cr_expect_eq(u.procs[1].swap, 8 * 1024ull);
}

Test(agent_stats, percent_from_two_samples) {
        struct task_usage a = {.measured = TU_CPU, .total_us = 1000000, .user_us = 800000, .system_us = 200000};
        struct task_usage b = a;
        b.total_us += 500000; /* half a core over one second */
        b.user_us += 400000;
        b.system_us += 100000;
        task_usage_cpu_percent(&b, &a, 1000000000);
        cr_expect_float_eq(b.percent, 50.0, 1e-9);
        cr_expect_float_eq(b.user_percent, 40.0, 1e-9);
        cr_expect_float_eq(b.system_percent, 10.0, 1e-9);
        json_t *j = task_usage_json(&b, 2000);
        cr_expect_float_eq(json_real_value(json_object_get(json_object_get(j, "CpuStats"), "TotalTicks")), 1000.0, 1e-9,
                           "50%% of a 2000 MHz core");
        json_decref(j);
        /* Counters that went backwards (a new process under the same key): nothing. */
        struct task_usage c = a;
        c.total_us = 10;
        task_usage_cpu_percent(&c, &b, 1000000000);
        cr_expect_float_eq(c.percent, 0.0, 1e-9);
}

/* ---- the pid file and the endpoint ----------------------------------------------------------- */

#define SECRET "6f0c1d2e-3a4b-4c5d-8e9f-a0b1c2d3e4f5"
#define AID "0b5e3f8e-3c2a-4b8e-9d7a-6a1f2e3d4c5b"

static int rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *f) {
        return remove(p);
}

Test(agent_stats, pid_file_round_trip) {
        char dir[] = "/tmp/drover-stats-XXXXXX";
        cr_assert_not_null(mkdtemp(dir));
        struct driver_handle h = {.pid = 1234, .start_ticks = 99};
        snprintf(h.cgroup, sizeof(h.cgroup), "/sys/fs/cgroup/drover.slice/a b.web.scope");
        cr_assert_eq(task_pid_file_write(dir, &h), 0);
        int dfd = open(dir, O_RDONLY | O_DIRECTORY);
        pid_t pid;
        uint64_t start;
        char cg[256];
        cr_assert_eq(task_pid_file_read(dfd, &pid, &start, cg), 0);
        cr_expect_eq(pid, 1234);
        cr_expect_eq(start, 99);
        cr_expect_str_eq(cg, h.cgroup, "a path with a space survives");
        /* As root the directory's attribute holds it, and no file is made (a new
         * inode per task); otherwise the file. */
        char file[256], got[400];
        snprintf(file, sizeof(file), "%s/%s", dir, TASK_PID_FILE);
        ssize_t n = getxattr(dir, TASK_PID_XATTR, got, sizeof(got));
        if (n > 0) {
                cr_expect_eq(access(file, F_OK), -1, "the attribute holds the record: no %s", TASK_PID_FILE);
                cr_expect(strncmp(got, "1234 99 /sys/fs/cgroup/", 23) == 0);
        } else {
                cr_expect_neq(geteuid(), 0, "root, on a file system with trusted.* attributes, sets the attribute");
                cr_expect_eq(access(file, F_OK), 0, "without the attribute the file holds the record");
        }
        h.cgroup[0] = '\0';
        cr_assert_eq(task_pid_file_write(dir, &h), 0);
        cr_assert_eq(task_pid_file_read(dfd, &pid, &start, cg), 0);
        cr_expect_str_eq(cg, "");
        task_pid_file_remove(dir);
        cr_expect_eq(task_pid_file_read(dfd, &pid, &start, cg), -ENOENT);
        close(dfd);
        nftw(dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
}

Test(agent_stats, pid_file_of_an_earlier_agent_is_read) {
        char dir[] = "/tmp/drover-stats-XXXXXX", file[256];
        cr_assert_not_null(mkdtemp(dir));
        snprintf(file, sizeof(file), "%s/%s", dir, TASK_PID_FILE);
        FILE *f = fopen(file, "w");
        cr_assert_not_null(f);
        fputs("4321 7 -\n", f);
        fclose(f);
        int dfd = open(dir, O_RDONLY | O_DIRECTORY);
        pid_t pid;
        uint64_t start;
        char cg[256];
        cr_assert_eq(task_pid_file_read(dfd, &pid, &start, cg), 0, "no attribute: the file is read");
        cr_expect_eq(pid, 4321);
        cr_expect_eq(start, 7);
        cr_expect_str_eq(cg, "");
        struct driver_handle h = {.pid = 55, .start_ticks = 8};
        cr_assert_eq(task_pid_file_write(dir, &h), 0);
        cr_assert_eq(task_pid_file_read(dfd, &pid, &start, cg), 0);
        cr_expect_eq(pid, 55, "the record written last is the one read");
        task_pid_file_remove(dir);
        if (access(file, F_OK) == 0) /* it was written to the attribute: the old file stays, read again */
                cr_expect_eq(task_pid_file_read(dfd, &pid, &start, cg) == 0 ? pid : 0, 4321);
        close(dfd);
        nftw(dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
}

static json_t *get_stats(struct log_api *api, const char *token, long *ret_status) {
        char base[64], hdr[128];
        snprintf(base, sizeof(base), "http://127.0.0.1:%d", log_api_port(api));
        snprintf(hdr, sizeof(hdr), "X-Drover-Token: %s", token ? token : "");
        const char *const hdrs[] = {hdr, NULL};
        struct http_response r;
        struct error err = {0};
        cr_assert_eq(http_request_headers(base, "GET", "/v1/client/allocation/" AID "/stats", token ? hdrs : NULL, 5000,
                                          &r, &err),
                     0, "%s", err.msg);
        *ret_status = r.status;
        json_t *j = r.status == 200 ? json_loads(r.body, 0, NULL) : NULL;
        http_response_clear(&r);
        return j;
}

Test(agent_stats, the_endpoint_reports_a_running_task_in_nomads_shape) {
        char dir[] = "/tmp/drover-stats-XXXXXX", task_dir[128], cmd[512];
        cr_assert_not_null(mkdtemp(dir));
        snprintf(task_dir, sizeof(task_dir), "%s/alloc/" AID "/web", dir);
        snprintf(cmd, sizeof(cmd), "mkdir -p %s %s/alloc/" AID "/alloc/logs %s/alloc/" AID "/gone", task_dir, dir, dir);
        cr_assert_eq(system(cmd), 0);
        /* A task with a child that holds 32 MiB: the tree's RSS shows it. */
        pid_t pid = fork();
        cr_assert_geq(pid, 0);
        if (pid == 0) {
                setpgid(0, 0);
                execl("/bin/sh", "sh", "-c",
                      "sh -c 'x=$(head -c 33554432 /dev/zero | tr \"\\0\" a); sleep 30; echo ${#x}'", NULL);
                _exit(127);
        }
        struct driver_handle h = {.pid = pid, .start_ticks = driver_proc_start_ticks(pid)};
        cr_assert_eq(task_pid_file_write(task_dir, &h), 0);
        /* "gone": a task whose process no longer exists. */
        struct driver_handle dead = {.pid = 999999, .start_ticks = 1};
        snprintf(cmd, sizeof(cmd), "%s/alloc/" AID "/gone", dir);
        cr_assert_eq(task_pid_file_write(cmd, &dead), 0);
        struct log_api *api = NULL;
        struct error err = {0};
        cr_assert_eq(log_api_start("127.0.0.1:0", dir, SECRET, &api, &err), 0, "%s", err.msg);
        long st;
        cr_expect_null(get_stats(api, NULL, &st));
        cr_expect_eq(st, 401);
        cr_expect_null(get_stats(api, "not-the-token", &st));
        cr_expect_eq(st, 403);
        char token[ALLOC_TOKEN_BUF];
        cr_assert_eq(alloc_token(SECRET, AID, token), 0);
        /* Wait (bounded) until tail has read the 32 MiB: its RSS holds them. */
        uint64_t rss = 0;
        json_t *j = NULL;
        for (int i = 0; i < 100 && rss < 32ull << 20; i++) {
                json_decref(j);
                j = get_stats(api, token, &st);
                cr_assert_eq(st, 200);
                rss = (uint64_t)json_integer_value(
                    json_object_get(json_object_get(json_object_get(j, "ResourceUsage"), "MemoryStats"), "RSS"));
                struct timespec ts = {0, 50 * 1000000};
                nanosleep(&ts, NULL);
        }
        cr_expect_geq(rss, 32ull << 20, "the allocation's RSS includes the child's 32 MiB (%llu)",
                      (unsigned long long)rss);
        json_t *tasks = json_object_get(j, "Tasks");
        cr_expect_eq(json_object_size(tasks), 1, "web only: \"gone\" runs nothing, \"alloc\" is no task");
        json_t *web = json_object_get(tasks, "web");
        cr_expect_not_null(json_object_get(json_object_get(web, "ResourceUsage"), "CpuStats"));
        cr_expect_gt(json_integer_value(json_object_get(web, "Timestamp")), 0);
        char key[16];
        snprintf(key, sizeof(key), "%d", (int)pid);
        json_t *pids = json_object_get(web, "Pids");
        cr_expect_not_null(json_object_get(pids, key), "Pids lists the task's process");
        cr_expect_geq(json_object_size(pids), 2, "and its children");
        const char *k;
        json_t *v;
        json_int_t sum_rss = 0;
        json_object_foreach(pids, k, v) {
                sum_rss += json_integer_value(json_object_get(json_object_get(v, "MemoryStats"), "RSS"));
        }
        cr_expect_eq(sum_rss,
                     json_integer_value(
                         json_object_get(json_object_get(json_object_get(web, "ResourceUsage"), "MemoryStats"), "RSS")),
                     "each process with its own RSS: together the task's");
        cr_expect_gt(json_integer_value(json_object_get(j, "Timestamp")), 0);
        json_decref(j);
        kill(-pid, SIGKILL);
        waitpid(pid, NULL, 0);
        j = get_stats(api, token, &st);
        cr_expect_eq(st, 200);
        cr_expect_eq(json_object_size(json_object_get(j, "Tasks")), 0, "nothing runs");
        json_decref(j);
        log_api_stop(api);
        nftw(dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
}
