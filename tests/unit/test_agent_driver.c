/* test_agent_driver.c - raw_exec through task_proc on a libuv loop: output,
 * exit codes, exec failures, and stop with escalation to SIGKILL. */
#include <criterion/criterion.h>
#include <errno.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "common/error.h"
#include "common/model.h"
#include "nodeagent/drivers/driver.h"
#include "nodeagent/drivers/task_proc.h"

static char dir[64], out_path[128], err_path[128];
static uv_loop_t loop;

static int rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *f) {
        return remove(p);
}

static void setup(void) {
        struct driver_settings ds = *driver_settings();
        ds.raw_exec_enabled = true; /* opt-in, as drover dev does */
        driver_configure(&ds);
        snprintf(dir, sizeof(dir), "/tmp/drover-drv-XXXXXX");
        cr_assert_not_null(mkdtemp(dir));
        snprintf(out_path, sizeof(out_path), "%s/t.stdout.0", dir);
        snprintf(err_path, sizeof(err_path), "%s/t.stderr.0", dir);
        uv_loop_init(&loop);
}

static void teardown(void) {
        uv_run(&loop, UV_RUN_NOWAIT);
        uv_loop_close(&loop);
        nftw(dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
}

TestSuite(agent_driver, .init = setup, .fini = teardown, .timeout = 30);

struct result {
        bool done;
        struct driver_exit ex;
        int64_t at_ms;
};

static int64_t now_ms(void) {
        struct timespec t;
        clock_gettime(CLOCK_MONOTONIC, &t);
        return t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static void on_exit_cb(struct task_proc *p, const struct driver_exit *ex, void *data) {
        struct result *r = data;
        r->done = true;
        r->ex = *ex;
        r->at_ms = now_ms();
        task_proc_free(p);
}

static int start(json_t *config, const struct strmap *env, struct result *res, struct task_proc **ret,
                 struct error *err) {
        struct driver_spec spec = {.task_name = "t",
                                   .config = config,
                                   .env = env,
                                   .task_dir = dir,
                                   .stdout_path = out_path,
                                   .stderr_path = err_path};
        int r = task_proc_start(&loop, &raw_exec_driver, &spec, on_exit_cb, res, ret, err);
        json_decref(config);
        return r;
}

static void run_until_done(struct result *res, int64_t limit_ms) {
        int64_t end = now_ms() + limit_ms;
        while (!res->done && now_ms() < end)
                uv_run(&loop, UV_RUN_ONCE);
}

static char *slurp(const char *path) {
        FILE *f = fopen(path, "r");
        if (!f)
                return strdup("");
        static char buf[4096];
        size_t n = fread(buf, 1, sizeof(buf) - 1, f);
        buf[n] = '\0';
        fclose(f);
        return strdup(buf);
}

Test(agent_driver, output_goes_to_log_files_and_the_exit_code_is_reported) {
        struct result res = {0};
        struct task_proc *p = NULL;
        struct error err = {0};
        struct strmap env = {0};
        strmap_set(&env, "GREETING", "hello");
        strmap_set(&env, "PATH", "/usr/bin:/bin");
        json_t *cfg = json_pack("{s:s,s:[s,s]}", "command", "sh", "args", "-c",
                                "echo hi; echo \"$GREETING from $(pwd)\"; echo oops >&2; exit 3");
        cr_assert_eq(start(cfg, &env, &res, &p, &err), 0, "%s", err.msg);
        run_until_done(&res, 5000);
        cr_assert(res.done, "the exit was noticed");
        cr_expect_eq(res.ex.exit_code, 3);
        cr_expect_eq(res.ex.signal, 0);
        char *out = slurp(out_path), *errs = slurp(err_path);
        char want[256];
        snprintf(want, sizeof(want), "hi\nhello from %s\n", dir);
        cr_expect_str_eq(out, want, "stdout: the env is passed and the task runs in its task dir");
        cr_expect_str_eq(errs, "oops\n");
        free(out);
        free(errs);
        strmap_clear(&env);
}

Test(agent_driver, output_is_appended_across_restarts) {
        for (int i = 0; i < 2; i++) {
                struct result res = {0};
                struct task_proc *p = NULL;
                struct error err = {0};
                json_t *cfg = json_pack("{s:s,s:[s]}", "command", "/bin/echo", "args", i ? "second" : "first");
                cr_assert_eq(start(cfg, NULL, &res, &p, &err), 0, "%s", err.msg);
                run_until_done(&res, 5000);
                cr_assert(res.done);
                cr_expect_eq(res.ex.exit_code, 0);
        }
        char *out = slurp(out_path);
        cr_expect_str_eq(out, "first\nsecond\n");
        free(out);
}

Test(agent_driver, missing_command_is_a_clear_error) {
        struct result res = {0};
        struct task_proc *p = NULL;
        struct error err = {0};
        int r = start(json_pack("{s:s}", "command", "drover-no-such-command"), NULL, &res, &p, &err);
        cr_expect_eq(r, -ENOENT);
        cr_expect(strstr(err.msg, "\"drover-no-such-command\" not found") != NULL, "%s", err.msg);

        r = start(json_pack("{s:s}", "command", "/nonexistent/bin/tool"), NULL, &res, &p, &err);
        cr_expect_eq(r, -ENOENT);
        cr_expect(strstr(err.msg, "/nonexistent/bin/tool") != NULL, "%s", err.msg);

        /* a file that exists but cannot be executed */
        char path[128];
        snprintf(path, sizeof(path), "%s/notexec", dir);
        FILE *f = fopen(path, "w");
        fputs("#!/bin/sh\n", f);
        fclose(f);
        r = start(json_pack("{s:s}", "command", path), NULL, &res, &p, &err);
        cr_expect_eq(r, -EACCES, "%s", err.msg);
        cr_expect(strstr(err.msg, "not an executable") != NULL, "%s", err.msg);
}

Test(agent_driver, exec_failure_in_the_child_is_reported) {
        /* executable bit but not a valid program: execve itself fails (ENOEXEC) */
        char path[128];
        snprintf(path, sizeof(path), "%s/garbage", dir);
        FILE *f = fopen(path, "w");
        fputs("\x7f"
              "ELF garbage",
              f);
        fclose(f);
        chmod(path, 0755);
        struct result res = {0};
        struct task_proc *p = NULL;
        struct error err = {0};
        int r = start(json_pack("{s:s}", "command", path), NULL, &res, &p, &err);
        cr_expect_lt(r, 0);
        cr_expect(strstr(err.msg, "execve") != NULL && strstr(err.msg, path) != NULL, "%s", err.msg);
}

Test(agent_driver, bad_config_is_refused) {
        struct error err = {0};
        json_t *c1 = json_pack("{s:[s]}", "args", "x");
        cr_expect_lt(raw_exec_driver.validate(c1, &err), 0);
        cr_expect(strstr(err.msg, "command is required") != NULL, "%s", err.msg);
        json_t *c2 = json_pack("{s:s,s:[i]}", "command", "/bin/true", "args", 5);
        cr_expect_lt(raw_exec_driver.validate(c2, &err), 0);
        cr_expect(strstr(err.msg, "args[0]") != NULL, "%s", err.msg);
        json_decref(c1);
        json_decref(c2);
}

Test(agent_driver, stop_kills_a_sleep_with_the_kill_signal) {
        struct result res = {0};
        struct task_proc *p = NULL;
        struct error err = {0};
        cr_assert_eq(start(json_pack("{s:s,s:[s]}", "command", "sleep", "args", "100"), NULL, &res, &p, &err), 0, "%s",
                     err.msg);
        uv_run(&loop, UV_RUN_NOWAIT);
        cr_assert(!res.done, "sleep 100 is still running");
        pid_t pid = task_proc_handle(p)->pid;
        cr_expect_eq(kill(pid, 0), 0);
        int64_t t0 = now_ms(); /* no upper bound on the time: SIGINT, not the SIGKILL escalation, proves it */
        cr_expect_eq(task_proc_kill(p, SIGINT, 5 * 1000000000LL), 0);
        run_until_done(&res, 5000);
        cr_assert(res.done, "sleep stopped");
        cr_expect_eq(res.ex.signal, SIGINT, "killed by the kill signal, got signal %d", res.ex.signal);
        (void)t0;
        cr_expect_neq(kill(pid, 0), 0, "process gone and reaped");
}

Test(agent_driver, stop_escalates_to_sigkill_after_the_kill_timeout) {
        struct result res = {0};
        struct task_proc *p = NULL;
        struct error err = {0};
        /* ignores SIGINT and SIGTERM; its child sleep inherits that */
        cr_assert_eq(start(json_pack("{s:s,s:[s,s]}", "command", "/bin/sh", "args", "-c",
                                     "trap '' INT TERM; echo ready; sleep 100; echo survived"),
                           NULL, &res, &p, &err),
                     0, "%s", err.msg);
        /* Wait (bounded) until the shell has installed its trap and said so. */
        for (int i = 0; i < 500; i++) {
                char *o = slurp(out_path);
                bool ready = o && strstr(o, "ready");
                free(o);
                if (ready)
                        break;
                usleep(10 * 1000);
        }
        int64_t t0 = now_ms();
        task_proc_kill(p, SIGTERM, 400 * 1000000LL);
        run_until_done(&res, 5000);
        cr_assert(res.done, "the task died");
        int64_t took = res.at_ms - t0;
        cr_expect_eq(res.ex.signal, SIGKILL, "signal %d", res.ex.signal);
        cr_expect(took >= 390, "killed after %lld ms, before the kill timeout (400 ms)", (long long)took);
        usleep(100 * 1000);
        char *out = slurp(out_path);
        cr_expect_str_eq(out, "ready\n", "the whole process group died, so nothing ran after sleep");
        free(out);
}
