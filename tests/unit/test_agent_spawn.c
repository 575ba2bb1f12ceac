/* test_agent_spawn.c - tasks started by the log collector without the agent's loop waiting
 * (logmon_spawn_async): several in flight, answers in order, failures, a collector that dies. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "common/error.h"
#include "nodeagent/logs/logmon.h"

#define N_SPAWNS 100 /* more than LOGMON_SPAWN_INFLIGHT */

static char dir[64];
static struct logmon *lm;
static uv_loop_t loop;
static int devnull = -1;

struct answer {
        int calls;
        int order; /* position among the answers */
        int r;
        pid_t pid;
        int pidfd;
        char msg[256];
};

static struct answer answers[N_SPAWNS];
static int n_answers;

static int rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *f) {
        return remove(p);
}

static void setup(void) {
        snprintf(dir, sizeof(dir), "/tmp/drover-spawn-XXXXXX");
        cr_assert_not_null(mkdtemp(dir));
        struct error err = {0};
        lm = logmon_create(dir, &err);
        cr_assert_not_null(lm, "%s", err.msg);
        cr_assert_eq(uv_loop_init(&loop), 0);
        cr_assert_eq(logmon_attach(lm, &loop), 0);
        devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
        memset(answers, 0, sizeof(answers));
        n_answers = 0;
}

static void teardown(void) {
        logmon_destroy(lm);
        lm = NULL;
        uv_run(&loop, UV_RUN_DEFAULT);
        cr_expect_eq(uv_loop_close(&loop), 0, "logmon_destroy left a handle open");
        close(devnull);
        nftw(dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS); /* the collector kills what is left */
}

TestSuite(agent_spawn, .init = setup, .fini = teardown, .timeout = 60);

static void on_done(void *data, int r, pid_t pid, int pidfd, const struct error *err) {
        struct answer *a = data;
        a->calls++;
        a->order = n_answers++;
        a->r = r;
        a->pid = pid;
        a->pidfd = pidfd;
        snprintf(a->msg, sizeof(a->msg), "%s", err ? err->msg : "");
}

static int spawn(int i, const char *path, const char *script, struct error *err) {
        char exit_dir[128];
        snprintf(exit_dir, sizeof(exit_dir), "%s/t%d", dir, i);
        mkdir(exit_dir, 0755);
        char *const argv[] = {"sh", "-c", (char *)script, NULL};
        struct logmon_spawn_req req = {.path = path,
                                       .argv = argv,
                                       .cwd = "/",
                                       .stdin_fd = devnull,
                                       .stdout_fd = devnull,
                                       .stderr_fd = devnull,
                                       .cgroup_procs_fd = -1,
                                       .exit_dir = exit_dir};
        return logmon_spawn_async(lm, &req, on_done, &answers[i], err);
}

static int open_fds(void) {
        int n = 0;
        DIR *d = opendir("/proc/self/fd");
        for (struct dirent *de; d && (de = readdir(d));)
                n += de->d_name[0] != '.';
        if (d)
                closedir(d);
        return n;
}

static void sleep_ms(long ms) {
        struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
        nanosleep(&ts, NULL);
}

static void run_until(int n) {
        for (int i = 0; i < 2000 && n_answers < n; i++)
                uv_run(&loop, UV_RUN_ONCE);
}

Test(agent_spawn, several_spawns_are_in_flight_and_answered_in_order) {
        size_t most = 0;
        for (int i = 0; i < N_SPAWNS; i++) {
                char script[64];
                snprintf(script, sizeof(script), "exit %d", i % 100);
                struct error err = {0};
                /* One bad path among them: its failure is its own. */
                cr_assert_eq(spawn(i, i == 7 ? "/nonexistent/drover-task" : "/bin/sh", script, &err), 0, "%s", err.msg);
                size_t now = logmon_spawns_in_flight(lm);
                if (now > most)
                        most = now;
                cr_assert_leq(now, LOGMON_SPAWN_INFLIGHT, "in flight: bounded");
        }
        cr_expect_eq(n_answers, 0, "no answer is handed over inside logmon_spawn_async");
        cr_expect_gt(most, 1, "the agent did not wait for each answer (most in flight: %zu)", most);
        run_until(N_SPAWNS);
        cr_assert_eq(n_answers, N_SPAWNS);
        cr_expect_eq(logmon_spawns_in_flight(lm), 0);
        for (int i = 0; i < N_SPAWNS; i++) {
                struct answer *a = &answers[i];
                cr_expect_eq(a->calls, 1, "spawn %d answered once", i);
                cr_expect_eq(a->order, i, "answers come in the order sent");
                if (i == 7) {
                        cr_expect_lt(a->r, 0);
                        cr_expect(strstr(a->msg, "execve") && strstr(a->msg, "/nonexistent/drover-task"), "%s", a->msg);
                        cr_expect_eq(a->pidfd, -1);
                        continue;
                }
                cr_expect_eq(a->r, 0, "spawn %d: %s", i, a->msg);
                cr_expect_gt(a->pid, 1);
                cr_expect_geq(a->pidfd, 0);
                close(a->pidfd);
        }
        /* Each ran as its own process with its own exit code. */
        for (int i = 0; i < N_SPAWNS; i++) {
                if (i == 7)
                        continue;
                char exit_dir[128];
                snprintf(exit_dir, sizeof(exit_dir), "%s/t%d", dir, i);
                int code = -1, sig = -1;
                for (int k = 0; k < 300 && logmon_read_exit(exit_dir, answers[i].pid, &code, &sig) != 0; k++)
                        sleep_ms(10);
                cr_expect_eq(code, i % 100, "spawn %d's exit code", i);
        }
}

/* A collector that reads slowly (stopped here for 300 ms, as one short of CPU on a
 * loaded host): the socket, non-blocking under the loop, fills with starts whose
 * environments are large; the agent waits for room instead of taking the full buffer
 * for a broken connection (which failed every start in flight). */
Test(agent_spawn, a_full_socket_waits_for_the_collector_instead_of_failing_the_spawns) {
        struct error err = {0};
        cr_assert_eq(spawn(0, "/bin/sh", "exit 0", &err), 0, "%s", err.msg);
        run_until(1);
        cr_assert_eq(answers[0].r, 0, "%s", answers[0].msg);
        close(answers[0].pidfd);
        pid_t collector = logmon_pid(lm);
        cr_assert_gt(collector, 1);
        static char big[16][4096];
        char *envp[17];
        for (int k = 0; k < 16; k++) {
                snprintf(big[k], sizeof(big[k]), "DROVER_FILL_%d=", k);
                memset(big[k] + strlen(big[k]), 'x', sizeof(big[k]) - strlen(big[k]) - 1);
                big[k][sizeof(big[k]) - 1] = '\0';
                envp[k] = big[k];
        }
        envp[16] = NULL;
        cr_assert_eq(kill(collector, SIGSTOP), 0);
        pid_t waker = fork();
        if (waker == 0) {
                sleep_ms(300);
                kill(collector, SIGCONT);
                _exit(0);
        }
        int n = 48; /* 48 x 64 KiB of environment: more than a socket buffer holds */
        for (int i = 1; i <= n; i++) {
                char exit_dir[128];
                snprintf(exit_dir, sizeof(exit_dir), "%s/t%d", dir, i);
                mkdir(exit_dir, 0755);
                char *const argv[] = {"sh", "-c", "exit 0", NULL};
                struct logmon_spawn_req req = {.path = "/bin/sh",
                                               .argv = argv,
                                               .envp = envp,
                                               .cwd = "/",
                                               .stdin_fd = devnull,
                                               .stdout_fd = devnull,
                                               .stderr_fd = devnull,
                                               .cgroup_procs_fd = -1,
                                               .exit_dir = exit_dir};
                cr_assert_eq(logmon_spawn_async(lm, &req, on_done, &answers[i], &err), 0, "spawn %d: %s", i, err.msg);
        }
        kill(collector, SIGCONT);
        waitpid(waker, NULL, 0);
        run_until(n + 1);
        cr_assert_eq(n_answers, n + 1);
        for (int i = 1; i <= n; i++) {
                cr_expect_eq(answers[i].r, 0, "spawn %d: %s", i, answers[i].msg);
                if (answers[i].pidfd >= 0)
                        close(answers[i].pidfd);
        }
}

Test(agent_spawn, a_collector_that_dies_fails_the_spawns_in_flight_and_leaks_nothing) {
        struct error err = {0};
        cr_assert_eq(spawn(0, "/bin/sh", "exit 0", &err), 0, "%s", err.msg);
        run_until(1);
        cr_assert_eq(answers[0].r, 0, "%s", answers[0].msg);
        close(answers[0].pidfd);
        pid_t collector = logmon_pid(lm);
        cr_assert_gt(collector, 1);
        int fds_before = open_fds();
        /* Stopped: the requests wait in its socket, unanswered, until it is killed. */
        cr_assert_eq(kill(collector, SIGSTOP), 0);
        for (int i = 1; i <= 5; i++)
                cr_assert_eq(spawn(i, "/bin/sh", "sleep 30", &err), 0, "%s", err.msg);
        cr_expect_eq(logmon_spawns_in_flight(lm), 5);
        int cfd = (int)syscall(SYS_pidfd_open, collector, 0);
        cr_assert_eq(kill(collector, SIGKILL), 0);
        run_until(6);
        /* Gone for good (its listening socket too) before the next spawn, which would
         * otherwise connect to the dying one and fail the same way. */
        struct pollfd pf = {.fd = cfd, .events = POLLIN};
        cr_expect_eq(poll(&pf, 1, 5000), 1, "the collector exits");
        close(cfd);
        cr_assert_eq(n_answers, 6);
        for (int i = 1; i <= 5; i++) {
                cr_expect_eq(answers[i].calls, 1);
                cr_expect_lt(answers[i].r, 0, "spawn %d failed", i);
                cr_expect_eq(answers[i].pidfd, -1);
                cr_expect(strstr(answers[i].msg, "exited before it answered"), "the reason: %s", answers[i].msg);
        }
        cr_expect_eq(logmon_spawns_in_flight(lm), 0);
        uv_run(&loop, UV_RUN_NOWAIT); /* the old connection's poll handle closes */
        cr_expect_leq(open_fds(), fds_before, "no descriptor leaked (%d before, %d after)", fds_before, open_fds());
        /* The next spawn starts a new collector. */
        cr_assert_eq(spawn(6, "/bin/sh", "exit 4", &err), 0, "%s", err.msg);
        run_until(7);
        cr_expect_eq(answers[6].r, 0, "%s", answers[6].msg);
        cr_expect_neq(logmon_pid(lm), collector);
        if (answers[6].pidfd >= 0)
                close(answers[6].pidfd);
}

Test(agent_spawn, destroy_cancels_spawns_in_flight) {
        struct error err = {0};
        cr_assert_eq(spawn(0, "/bin/sh", "sleep 30", &err), 0, "%s", err.msg);
        cr_assert_eq(spawn(1, "/bin/sh", "sleep 30", &err), 0, "%s", err.msg);
        logmon_destroy(lm);
        lm = NULL;
        for (int i = 0; i < 2; i++) {
                cr_expect_eq(answers[i].calls, 1);
                cr_expect_eq(answers[i].r, -ECANCELED, "%s", answers[i].msg);
        }
        /* Answered before the destroy gave up: those tasks were killed (nobody tracks them). */
        for (int i = 0; i < 2; i++) {
                char exit_dir[128];
                snprintf(exit_dir, sizeof(exit_dir), "%s/t%d", dir, i);
                char path[160], rec[96];
                snprintf(path, sizeof(path), "%s/" LOGMON_EXIT_FILE, exit_dir);
                struct stat sb;
                bool recorded = false;
                for (int k = 0; k < 300 && !recorded; k++) {
                        recorded = getxattr(exit_dir, LOGMON_EXIT_XATTR, rec, sizeof(rec)) > 0 || stat(path, &sb) == 0;
                        if (!recorded)
                                sleep_ms(10);
                }
                cr_expect(recorded, "task %d was killed and reaped, not left running for 30 s", i);
        }
}
