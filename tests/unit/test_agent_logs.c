/* test_agent_logs.c - the log collector: rotation by size and count, stable offsets, restarts. */
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
#include <time.h>
#include <unistd.h>

#include "common/error.h"
#include "nodeagent/logs/logmon.h"

static char dir[64];
static struct logmon *lm;

static int rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *f) {
        return remove(p);
}

static void setup(void) {
        snprintf(dir, sizeof(dir), "/tmp/drover-logs-XXXXXX");
        cr_assert_not_null(mkdtemp(dir));
        struct error err = {0};
        lm = logmon_create(dir, &err);
        cr_assert_not_null(lm, "%s", err.msg);
}

static void teardown(void) {
        logmon_stop(lm, dir, "web");
        logmon_destroy(lm);
        lm = NULL;
        nftw(dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
}

TestSuite(agent_logs, .init = setup, .fini = teardown);

static bool exists(const char *name) {
        char path[256];
        struct stat sb;
        snprintf(path, sizeof(path), "%s/%s", dir, name);
        return stat(path, &sb) == 0;
}

static long long size_of(const char *name) {
        char path[256];
        struct stat sb;
        snprintf(path, sizeof(path), "%s/%s", dir, name);
        return stat(path, &sb) == 0 ? (long long)sb.st_size : -1;
}

static void sleep_ms(long ms) {
        struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
        nanosleep(&ts, NULL);
}

/* Gone, or a zombie (the collector is detached: whoever is pid 1 here reaps it, or not). */
static bool wait_gone(pid_t pid) {
        for (int i = 0; i < 700; i++) {
                char path[64], st[512] = "";
                snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
                FILE *f = fopen(path, "r");
                if (!f)
                        return true;
                char *ok = fgets(st, sizeof(st), f);
                fclose(f);
                char *p = ok ? strrchr(st, ')') : NULL;
                if (p && p[1] == ' ' && p[2] == 'Z')
                        return true;
                sleep_ms(10);
        }
        return false;
}

/* Byte i of the stream: a pattern whose position can be checked anywhere. */
static char pattern(long long i) {
        return (char)('a' + (i * 7 + i / 1000) % 26);
}

static void write_stream(int fd, long long from, long long n) {
        char buf[8192];
        while (n > 0) {
                size_t k = n < (long long)sizeof(buf) ? (size_t)n : sizeof(buf);
                for (size_t i = 0; i < k; i++)
                        buf[i] = pattern(from + (long long)i);
                size_t off = 0;
                while (off < k) {
                        ssize_t w = write(fd, buf + off, k - off);
                        cr_assert(w > 0 || errno == EAGAIN || errno == EINTR, "write: %s", strerror(errno));
                        if (w > 0)
                                off += (size_t)w;
                }
                from += (long long)k;
                n -= (long long)k;
        }
}

static void check_file(const char *name, long long logical_start, long long len) {
        char path[256];
        snprintf(path, sizeof(path), "%s/%s", dir, name);
        FILE *f = fopen(path, "r");
        cr_assert_not_null(f, "%s", name);
        long long i = 0;
        int c;
        while ((c = fgetc(f)) != EOF) {
                if (c != pattern(logical_start + i)) {
                        cr_assert_fail("%s byte %lld: '%c', want '%c'", name, i, c, pattern(logical_start + i));
                        break;
                }
                i++;
        }
        fclose(f);
        cr_expect_eq(i, len, "%s holds %lld bytes, want %lld", name, i, len);
}

Test(agent_logs, rotation_keeps_max_files_of_exactly_max_size) {
        struct logmon_config cfg = {.dir = dir, .task = "web", .max_files = 3, .max_file_size = 100000};
        char out[LOGMON_PATH], err_path[LOGMON_PATH];
        struct error err = {0};
        cr_assert_eq(logmon_ensure(lm, &cfg, out, err_path, &err), 0, "%s", err.msg);
        struct stat sb;
        cr_assert_eq(stat(out, &sb), 0);
        cr_expect(S_ISFIFO(sb.st_mode), "the task writes into a FIFO");
        /* The driver opens it like a file: it must not block. */
        int fd = open(out, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        cr_assert_geq(fd, 0);
        write_stream(fd, 0, 550000); /* 5.5 files' worth */
        close(fd);
        int efd = open(err_path, O_WRONLY | O_APPEND);
        cr_assert_geq(efd, 0);
        cr_assert_eq(write(efd, "oops\n", 5), 5);
        close(efd);
        logmon_stop(lm, dir, "web"); /* returns once what was written is in the files */
        for (int i = 0; i <= 2; i++) {
                char name[64];
                snprintf(name, sizeof(name), "web.stdout.%d", i);
                cr_expect(!exists(name), "%s was deleted (max_files = 3)", name);
        }
        check_file("web.stdout.3", 300000, 100000);
        check_file("web.stdout.4", 400000, 100000);
        check_file("web.stdout.5", 500000, 50000);
        cr_expect_eq(size_of("web.stderr.0"), 5);
        long first, last;
        cr_assert_eq(logmon_file_range(dir, "web", "stdout", &first, &last), 0);
        cr_expect_eq(first, 3);
        cr_expect_eq(last, 5);
        cr_expect_eq(logmon_max_file_size(dir, "web"), 100000);
}

/* A stream's first file is made on its first output: a task that writes only to
 * stdout leaves no stderr file (an inode per task start for short batch tasks). */
Test(agent_logs, a_stream_gets_its_file_on_its_first_output) {
        struct logmon_config cfg = {.dir = dir, .task = "quiet", .max_files = 3, .max_file_size = 1000};
        char out[LOGMON_PATH], err_path[LOGMON_PATH];
        struct error err = {0};
        cr_assert_eq(logmon_ensure(lm, &cfg, out, err_path, &err), 0, "%s", err.msg);
        int fd = open(out, O_WRONLY | O_APPEND | O_CLOEXEC);
        cr_assert_geq(fd, 0);
        write_stream(fd, 0, 1500); /* a file and a half: the rotation still counts from 0 */
        close(fd);
        logmon_stop(lm, dir, "quiet");
        check_file("quiet.stdout.0", 0, 1000);
        check_file("quiet.stdout.1", 1000, 500);
        cr_expect(!exists("quiet.stderr.0"), "stderr was never written: no file");
        long first, last;
        cr_expect_eq(logmon_file_range(dir, "quiet", "stderr", &first, &last), -ENOENT);
}

static unsigned mode_of(const char *name) {
        char path[256];
        struct stat sb;
        snprintf(path, sizeof(path), "%s/%s", dir, name);
        cr_assert_eq(lstat(path, &sb), 0, "%s: %s", name, strerror(errno));
        return (unsigned)(sb.st_mode & 07777);
}

/* Task output can hold secrets: its files are the agent's alone (0600), whatever
 * the umask, and a file an older agent left world-readable is narrowed when it is
 * written again. */
Test(agent_logs, task_logs_are_not_world_readable) {
        umask(0); /* the collector forked below inherits it */
        char old[256];
        snprintf(old, sizeof(old), "%s/web.stdout.0", dir);
        int ofd = open(old, O_WRONLY | O_CREAT | O_EXCL, 0644);
        cr_assert_geq(ofd, 0);
        close(ofd);
        cr_assert_eq(mode_of("web.stdout.0"), 0644);
        struct logmon_config cfg = {.dir = dir, .task = "web", .max_files = 2, .max_file_size = 1000};
        char out[LOGMON_PATH], err_path[LOGMON_PATH];
        struct error err = {0};
        cr_assert_eq(logmon_ensure(lm, &cfg, out, err_path, &err), 0, "%s", err.msg);
        int fd = open(out, O_WRONLY | O_APPEND | O_CLOEXEC);
        cr_assert_geq(fd, 0);
        write_stream(fd, 0, 1500); /* web.stdout.0 (appended), then a rotation into .1 */
        close(fd);
        int efd = open(err_path, O_WRONLY | O_APPEND);
        cr_assert_geq(efd, 0);
        cr_assert_eq(write(efd, "oops\n", 5), 5);
        close(efd);
        logmon_stop(lm, dir, "web");
        cr_expect_eq(mode_of("web.stdout.0"), 0600, "the old file was narrowed when appended to");
        cr_expect_eq(mode_of("web.stdout.1"), 0600, "a file opened by a rotation");
        cr_expect_eq(mode_of("web.stderr.0"), 0600);
        char meta[64];
        int dfd = open(dir, O_RDONLY | O_DIRECTORY);
        cr_assert_geq(dfd, 0);
        cr_expect_gt(logmon_meta_read(dfd, "web", meta, sizeof(meta)), 0, "the task's log settings are there");
        close(dfd);
        char file[256];
        snprintf(file, sizeof(file), "%s/.web.logmeta", dir);
        if (getxattr(dir, LOGMON_META_XATTR "web", meta, sizeof(meta)) > 0)
                cr_expect_eq(access(file, F_OK), -1, "the directory's attribute holds them: no file");
        else
                cr_expect_eq(mode_of(".web.logmeta"), 0600);
        cr_expect_eq(mode_of(".web.stdout.fifo"), 0600);
        cr_expect_eq(size_of("web.stdout.1"), 500, "rotation still works: 1,500 bytes in files of 1,000");
}

Test(agent_logs, a_task_restart_and_a_new_collector_continue_the_files) {
        struct logmon_config cfg = {.dir = dir, .task = "web", .max_files = 10, .max_file_size = 1000};
        char out[LOGMON_PATH], err_path[LOGMON_PATH];
        struct error err = {0};
        cr_assert_eq(logmon_ensure(lm, &cfg, out, err_path, &err), 0, "%s", err.msg);
        pid_t pid = logmon_pid(lm);
        cr_assert_gt(pid, 1);
        /* Two runs of the task: the first closes its end, the second opens it again. */
        int fd = open(out, O_WRONLY | O_APPEND);
        write_stream(fd, 0, 1500);
        close(fd);
        char out2[LOGMON_PATH], err2[LOGMON_PATH];
        cr_assert_eq(logmon_ensure(lm, &cfg, out2, err2, &err), 0, "%s", err.msg);
        cr_expect_str_eq(out, out2, "the same FIFO");
        cr_expect_eq(logmon_pid(lm), pid, "the same collector");
        fd = open(out, O_WRONLY | O_APPEND);
        write_stream(fd, 1500, 1000);
        close(fd);
        logmon_stop(lm, dir, "web");
        check_file("web.stdout.2", 2000, 500);
        /* A collector that died (killed): the next ensure starts another, which appends. */
        kill(pid, SIGKILL);
        cr_assert(wait_gone(pid));
        cr_assert_eq(logmon_ensure(lm, &cfg, out, err_path, &err), 0, "%s", err.msg);
        cr_expect_neq(logmon_pid(lm), pid, "a new collector");
        fd = open(out, O_WRONLY | O_APPEND);
        write_stream(fd, 2500, 700);
        close(fd);
        logmon_stop(lm, dir, "web");
        check_file("web.stdout.0", 0, 1000);
        check_file("web.stdout.1", 1000, 1000);
        check_file("web.stdout.2", 2000, 1000);
        check_file("web.stdout.3", 3000, 200);
}

Test(agent_logs, one_collector_serves_every_task_and_outlives_the_agent) {
        char out[3][LOGMON_PATH], errp[LOGMON_PATH];
        const char *names[3] = {"web", "db", "cache"};
        struct error err = {0};
        for (int i = 0; i < 3; i++) {
                struct logmon_config cfg = {.dir = dir, .task = names[i], .max_files = 2, .max_file_size = 1000};
                cr_assert_eq(logmon_ensure(lm, &cfg, out[i], errp, &err), 0, "%s", err.msg);
        }
        pid_t pid = logmon_pid(lm);
        cr_assert_gt(pid, 1);
        int fd = open(out[1], O_WRONLY | O_APPEND);
        cr_assert_geq(fd, 0);
        write_stream(fd, 0, 300);
        /* The agent goes away (a crash, an upgrade): the task keeps writing. */
        logmon_destroy(lm);
        write_stream(fd, 300, 400);
        close(fd);
        lm = logmon_create(dir, &err);
        cr_assert_not_null(lm, "%s", err.msg);
        struct logmon_config cfg = {.dir = dir, .task = "db", .max_files = 2, .max_file_size = 1000};
        cr_assert_eq(logmon_ensure(lm, &cfg, out[1], errp, &err), 0, "%s", err.msg);
        cr_expect_eq(logmon_pid(lm), pid, "the restarted agent found the same collector");
        logmon_stop(lm, dir, "db");
        check_file("db.stdout.0", 0, 700);
        logmon_stop(lm, dir, "cache");
        logmon_stop(lm, dir, "web");
        /* No task left and no agent: it exits. */
        logmon_destroy(lm);
        lm = NULL;
        cr_expect(wait_gone(pid), "collector %d still runs with no task and no agent", (int)pid);
        lm = logmon_create(dir, &err);
}

Test(agent_logs, a_task_is_forgotten_when_its_directory_is_removed) {
        struct logmon_config cfg = {.dir = dir, .task = "web", .max_files = 2, .max_file_size = 1000};
        char out[LOGMON_PATH], err_path[LOGMON_PATH];
        struct error err = {0};
        cr_assert_eq(logmon_ensure(lm, &cfg, out, err_path, &err), 0, "%s", err.msg);
        pid_t pid = logmon_pid(lm);
        cr_assert_gt(pid, 1);
        logmon_destroy(lm); /* no agent: only the task keeps it */
        lm = NULL;
        nftw(dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
        cr_expect(wait_gone(pid), "pid %d still runs after its only task's directory was removed", (int)pid);
        mkdir(dir, 0700); /* for the teardown */
        lm = logmon_create(dir, &err);
}

Test(agent_logs, a_missing_directory_is_an_error) {
        struct logmon_config cfg = {
            .dir = "/nonexistent/drover/logs", .task = "web", .max_files = 2, .max_file_size = 10};
        char out[LOGMON_PATH], err_path[LOGMON_PATH];
        struct error err = {0};
        cr_expect_lt(logmon_ensure(lm, &cfg, out, err_path, &err), 0);
        cr_expect(strstr(err.msg, "/nonexistent/drover/logs"), "%s", err.msg);
}

/* ---- tasks the collector starts ------------------------------------------------------------- */

static pid_t spawn_in(const char *exit_dir, const char *script) {
        char *const argv[] = {"sh", "-c", (char *)script, NULL};
        int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
        struct logmon_spawn_req req = {.path = "/bin/sh",
                                       .argv = argv,
                                       .envp = NULL,
                                       .cwd = "/",
                                       .stdin_fd = devnull,
                                       .stdout_fd = devnull,
                                       .stderr_fd = devnull,
                                       .cgroup_procs_fd = -1,
                                       .exit_dir = exit_dir};
        pid_t pid = 0;
        int pidfd = -1;
        struct error err = {0};
        cr_assert_eq(logmon_spawn(lm, &req, &pid, &pidfd, &err), 0, "%s", err.msg);
        close(pidfd);
        close(devnull);
        return pid;
}

Test(agent_logs, the_collector_records_exit_codes_and_kills_tasks_whose_directory_is_gone) {
        char done_dir[128], gone_dir[128];
        snprintf(done_dir, sizeof(done_dir), "%s/done", dir);
        snprintf(gone_dir, sizeof(gone_dir), "%s/gone", dir);
        cr_assert_eq(mkdir(done_dir, 0755), 0);
        cr_assert_eq(mkdir(gone_dir, 0755), 0);
        pid_t done = spawn_in(done_dir, "exit 3");
        /* A task with a child in its process group: both go when the directory goes. */
        pid_t gone = spawn_in(gone_dir, "sleep 60 & wait");
        int code = -1, sig = -1;
        for (int i = 0; i < 300 && logmon_read_exit(done_dir, done, &code, &sig) != 0; i++)
                sleep_ms(10);
        cr_expect_eq(code, 3, "the collector wrote the exit code");
        cr_expect_eq(sig, 0);
        char rec[96], file[160];
        snprintf(file, sizeof(file), "%s/%s", done_dir, LOGMON_EXIT_FILE);
        if (geteuid() == 0 && getxattr(done_dir, LOGMON_EXIT_XATTR, rec, sizeof(rec)) > 0)
                cr_expect_eq(access(file, F_OK), -1, "as root the directory's attribute holds it: no file made");
        else
                cr_expect_eq(access(file, F_OK), 0, "without the attribute the file holds it");
        sleep_ms(300);
        cr_assert_eq(kill(gone, 0), 0, "runs while its directory is there");
        char cmd[256];
        snprintf(cmd, sizeof(cmd), "pgrep -s %d sleep >/dev/null", (int)gone);
        cr_assert_eq(system(cmd), 0, "its child runs too");
        snprintf(cmd, sizeof(cmd), "rm -rf %s", gone_dir);
        cr_assert_eq(system(cmd), 0);
        cr_expect(wait_gone(gone), "killed once its directory was removed");
        snprintf(cmd, sizeof(cmd), "for i in $(seq 50); do pgrep -s %d >/dev/null || exit 0; sleep 0.1; done; exit 1",
                 (int)gone);
        cr_expect_eq(system(cmd), 0, "and its process group with it");
}

/* ---- the log endpoint ------------------------------------------------------------------- */

/* An exec task's supervisor writes the file, the collector the attribute: the
 * reader takes the record of the pid it asks for from either. */
Test(agent_logs, the_exit_record_of_the_asked_pid_is_read_from_the_attribute_or_the_file) {
        char d[128], file[160];
        snprintf(d, sizeof(d), "%s/rec", dir);
        snprintf(file, sizeof(file), "%s/%s", d, LOGMON_EXIT_FILE);
        cr_assert_eq(mkdir(d, 0755), 0);
        int code = -1, sig = -1;
        cr_expect_eq(logmon_read_exit(d, 42, &code, &sig), -ENOENT);
        FILE *f = fopen(file, "w");
        cr_assert_not_null(f);
        fputs("42 7 0\n", f);
        fclose(f);
        cr_assert_eq(logmon_read_exit(d, 42, &code, &sig), 0);
        cr_expect_eq(code, 7);
        cr_expect_eq(logmon_read_exit(d, 43, &code, &sig), -ESRCH, "another pid's record");
        if (setxattr(d, LOGMON_EXIT_XATTR, "43 0 9\n", 7, 0) < 0) {
                cr_expect_neq(geteuid(), 0, "root sets trusted.* attributes here");
                return;
        }
        cr_assert_eq(logmon_read_exit(d, 43, &code, &sig), 0, "the attribute's pid");
        cr_expect_eq(code, 0);
        cr_expect_eq(sig, 9);
        cr_assert_eq(logmon_read_exit(d, 42, &code, &sig), 0, "the attribute is another run's: the file's");
        cr_expect_eq(code, 7);
        cr_expect_eq(unlink(file), 0);
        cr_expect_eq(logmon_read_exit(d, 42, &code, &sig), -ESRCH, "only another run's record");
        cr_expect_eq(setxattr(d, LOGMON_EXIT_XATTR, "43 x", 4, 0), 0);
        cr_expect_eq(logmon_read_exit(d, 43, &code, &sig), -EINVAL, "an unreadable record");
}

#include "common/alloc_token.h"
#include "common/http_client.h"
#include "nodeagent/logs/log_api.h"

#define SECRET "6f0c1d2e-3a4b-4c5d-8e9f-a0b1c2d3e4f5"
#define AID "0b5e3f8e-3c2a-4b8e-9d7a-6a1f2e3d4c5b"
#define AID2 "1b5e3f8e-3c2a-4b8e-9d7a-6a1f2e3d4c5b"

static void put(const char *rel, const char *content) {
        char path[512], cmd[600];
        snprintf(path, sizeof(path), "%s/%s", dir, rel);
        snprintf(cmd, sizeof(cmd), "mkdir -p \"$(dirname '%s')\"", path);
        cr_assert_eq(system(cmd), 0);
        FILE *f = fopen(path, "w");
        cr_assert_not_null(f, "%s", path);
        fputs(content, f);
        fclose(f);
}

static char *get_as(struct log_api *api, const char *token, const char *query, long *ret_status, uint64_t *ret_end) {
        char base[64], hdr[128];
        snprintf(base, sizeof(base), "http://127.0.0.1:%d", log_api_port(api));
        snprintf(hdr, sizeof(hdr), "X-Drover-Token: %s", token);
        const char *const hdrs[] = {hdr, NULL};
        struct http_response r;
        struct error err = {0};
        cr_assert_eq(http_request_headers(base, "GET", query, token ? hdrs : NULL, 5000, &r, &err), 0, "%s", err.msg);
        *ret_status = r.status;
        if (ret_end)
                *ret_end = r.has_log_end ? r.log_end : (uint64_t)-1;
        char *body = strdup(r.body);
        http_response_clear(&r);
        return body;
}

/* As a caller that shows the node secret. */
static char *get(struct log_api *api, const char *query, long *ret_status, uint64_t *ret_end) {
        return get_as(api, SECRET, query, ret_status, ret_end);
}

Test(agent_logs, the_endpoint_streams_from_stable_offsets_across_rotations) {
        /* Files 3 and 4 of 10-byte files are left: bytes 30..49 and 40.. of the stream. */
        put("alloc/" AID "/alloc/logs/.web.logmeta", "10 2\n");
        put("alloc/" AID "/alloc/logs/web.stdout.3", "3333333333");
        put("alloc/" AID "/alloc/logs/web.stdout.4", "44444");
        struct log_api *api = NULL;
        struct error err = {0};
        cr_assert_eq(log_api_start("127.0.0.1:0", dir, SECRET, &api, &err), 0, "%s", err.msg);
        long st;
        uint64_t end;
        char *b = get(api, "/v1/client/fs/logs/" AID "?task=web&type=stdout", &st, &end);
        cr_expect_eq(st, 200);
        cr_expect_str_eq(b, "333333333344444", "offset 0: from the oldest byte kept");
        cr_expect_eq(end, 45);
        free(b);
        b = get(api, "/v1/client/fs/logs/" AID "?task=web&type=stdout&offset=38", &st, &end);
        cr_expect_str_eq(b, "3344444");
        free(b);
        b = get(api, "/v1/client/fs/logs/" AID "?task=web&type=stdout&offset=45", &st, &end);
        cr_expect_str_eq(b, "", "nothing new after the end");
        cr_expect_eq(end, 45);
        free(b);
        b = get(api, "/v1/client/fs/logs/" AID "?task=web&type=stdout&offset=3&origin=end", &st, NULL);
        cr_expect_str_eq(b, "444");
        free(b);
        /* A rotation: file 5 appears and 3 goes; offset 45 still means the same byte. */
        put("alloc/" AID "/alloc/logs/web.stdout.4", "4444444444");
        put("alloc/" AID "/alloc/logs/web.stdout.5", "55");
        char path[256];
        snprintf(path, sizeof(path), "%s/alloc/" AID "/alloc/logs/web.stdout.3", dir);
        unlink(path);
        b = get(api, "/v1/client/fs/logs/" AID "?task=web&type=stdout&offset=45", &st, &end);
        cr_expect_str_eq(b, "4444455");
        cr_expect_eq(end, 52);
        free(b);
        /* A stream the task has not written to has no file yet: empty, not missing. */
        b = get(api, "/v1/client/fs/logs/" AID "?task=web&type=stderr", &st, &end);
        cr_expect_eq(st, 200, "no stderr file yet, but the task's logs were set up");
        cr_expect_str_eq(b, "");
        cr_expect_eq(end, 0);
        free(b);
        b = get(api, "/v1/client/fs/logs/" AID "?task=db&type=stderr", &st, NULL);
        cr_expect_eq(st, 404, "no files and no .logmeta: no such task's logs");
        free(b);
        log_api_stop(api);
}

Test(agent_logs, the_endpoint_does_not_follow_symlinks_out_of_the_allocation) {
        put("secret/web.stdout.0", "the node's secrets\n");
        char target[256], link_path[256];
        snprintf(target, sizeof(target), "%s/secret", dir);
        put("alloc/" AID2 "/alloc/placeholder", "");
        snprintf(link_path, sizeof(link_path), "%s/alloc/" AID2 "/alloc/logs", dir);
        cr_assert_eq(symlink(target, link_path), 0);
        struct log_api *api = NULL;
        struct error err = {0};
        cr_assert_eq(log_api_start("127.0.0.1:0", dir, SECRET, &api, &err), 0, "%s", err.msg);
        long st;
        char *b = get(api, "/v1/client/fs/logs/" AID2 "?task=web&type=stdout", &st, NULL);
        cr_expect_eq(st, 403, "a symlinked logs directory is refused (%ld: %s)", st, b);
        cr_expect(!strstr(b, "secrets"), "%s", b);
        free(b);
        /* A symlinked log file too. */
        put("alloc/" AID "/alloc/logs/.web.logmeta", "10 2\n");
        char file_link[256], file_target[256];
        snprintf(file_target, sizeof(file_target), "%s/secret/web.stdout.0", dir);
        snprintf(file_link, sizeof(file_link), "%s/alloc/" AID "/alloc/logs/web.stdout.0", dir);
        cr_assert_eq(symlink(file_target, file_link), 0);
        b = get(api, "/v1/client/fs/logs/" AID "?task=web&type=stdout", &st, NULL);
        cr_expect_eq(st, 404, "a symlinked log file is skipped (%ld: %s)", st, b);
        cr_expect(!strstr(b, "secrets"), "%s", b);
        free(b);
        b = get(api, "/v1/client/fs/logs/" AID "?task=..%2f..%2fsecret&type=stdout", &st, NULL);
        cr_expect_eq(st, 400, "a task name with a slash is refused");
        free(b);
        log_api_stop(api);
}

Test(agent_logs, the_endpoint_wants_the_allocation_token_or_the_node_secret) {
        put("alloc/" AID "/alloc/logs/web.stdout.0", "hello\n");
        put("alloc/" AID2 "/alloc/logs/web.stdout.0", "other\n");
        struct log_api *api = NULL;
        struct error err = {0};
        cr_assert_eq(log_api_start("127.0.0.1:0", dir, SECRET, &api, &err), 0, "%s", err.msg);
        long st;
        char *b = get_as(api, NULL, "/v1/client/fs/logs/" AID "?task=web", &st, NULL);
        cr_expect_eq(st, 401, "no token");
        cr_expect(!strstr(b, "hello"));
        free(b);
        b = get_as(api, "not-the-secret", "/v1/client/fs/logs/" AID "?task=web", &st, NULL);
        cr_expect_eq(st, 403, "a wrong token");
        free(b);
        char token[ALLOC_TOKEN_BUF], other[ALLOC_TOKEN_BUF], wrong_node[ALLOC_TOKEN_BUF];
        cr_assert_eq(alloc_token(SECRET, AID, token), 0);
        cr_assert_eq(alloc_token(SECRET, AID2, other), 0);
        cr_assert_eq(alloc_token("another-node-secret", AID, wrong_node), 0);
        cr_expect_eq(strlen(token), 64);
        cr_expect_str_neq(token, other);
        b = get_as(api, token, "/v1/client/fs/logs/" AID "?task=web", &st, NULL);
        cr_expect_eq(st, 200);
        cr_expect_str_eq(b, "hello\n", "the allocation's token opens it");
        free(b);
        b = get_as(api, token, "/v1/client/fs/logs/" AID2 "?task=web", &st, NULL);
        cr_expect_eq(st, 403, "and no other allocation");
        free(b);
        b = get_as(api, wrong_node, "/v1/client/fs/logs/" AID "?task=web", &st, NULL);
        cr_expect_eq(st, 403, "a token made for another node does not open it");
        free(b);
        b = get_as(api, SECRET, "/v1/client/fs/logs/" AID2 "?task=web", &st, NULL);
        cr_expect_eq(st, 200, "the node secret opens every allocation");
        free(b);
        log_api_stop(api);
}

Test(agent_logs, token_comparison) {
        cr_expect(alloc_token_equal("abc", "abc"));
        cr_expect(!alloc_token_equal("abd", "abc"));
        cr_expect(!alloc_token_equal("ab", "abc"));
        cr_expect(!alloc_token_equal("abcd", "abc"));
        cr_expect(!alloc_token_equal("", "abc"));
        cr_expect(!alloc_token_equal(NULL, "abc"));
        char t1[ALLOC_TOKEN_BUF], t2[ALLOC_TOKEN_BUF];
        cr_assert_eq(alloc_token("k", "m", t1), 0);
        cr_assert_eq(alloc_token("k", "m", t2), 0);
        cr_expect_str_eq(t1, t2, "deterministic");
        /* RFC 4231 test case 2: HMAC-SHA256("Jefe", "what do ya want for nothing?"). */
        cr_assert_eq(alloc_token("Jefe", "what do ya want for nothing?", t1), 0);
        cr_expect_str_eq(t1, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
        cr_expect_lt(alloc_token("", "m", t1), 0, "no secret, no token");
}
