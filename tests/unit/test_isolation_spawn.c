/* test_isolation_spawn.c - isolation_spawn() for real where the host allows
 * it: root, mount/pid/uts/ipc namespaces and (for the user namespace test)
 * user namespaces. No cgroup is used (the host's cgroups are never touched);
 * every mount is made inside the child's own mount namespace. Skips with the
 * reason elsewhere; the VM tier runs the same through the agent. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/error.h"
#include "isolation/caps.h"
#include "isolation/mounts.h"
#include "isolation/namespaces.h"
#include "isolation/process.h"
#include "isolation/seccomp.h"
#include "tests/unit/tmpdir.h"

/* Each test's task roots, outputs, records and secret live in one scratch
 * directory, removed with all of it by the suite's fini (after a failure too).
 * 0711: a task in a user namespace (host uid 80007) walks through it. */
static char scratch[TMPDIR_SIZE];

static void scratch_create(void) {
        tmpdir_create(scratch, "spawn");
        cr_assert_eq(chmod(scratch, 0711), 0);
}

static void scratch_remove(void) {
        tmpdir_remove(scratch);
}

TestSuite(isolation_spawn, .init = scratch_create, .fini = scratch_remove);

/* A new empty file scratch/<name>-<n> (0600), open read-write; its path in ret_path
 * (TMPDIR_PATH_MAX bytes). */
static int scratch_file(const char *name, char *ret_path) {
        static int n;
        snprintf(ret_path, TMPDIR_PATH_MAX, "%s/%s-%d", scratch, name, n++);
        int fd = open(ret_path, O_RDWR | O_CREAT | O_EXCL, 0600);
        cr_assert_geq(fd, 0, "%s: %s", ret_path, strerror(errno));
        return fd;
}

static bool can_isolate(bool userns) {
        if (geteuid() != 0)
                return false;
        struct error err = {0};
        struct ns_options o = {.user = userns};
        if (namespaces_check(namespaces_clone_flags(&o), &err) < 0)
                return false;
        if (!userns)
                return true;
        FILE *f = fopen("/proc/sys/user/max_user_namespaces", "re");
        int max = 0;
        if (f) {
                if (fscanf(f, "%d", &max) != 1)
                        max = 0;
                fclose(f);
        }
        return max > 0;
}

/* Run script with /bin/sh as uid 80007 in a task root whose /alloc is dir
 * (built from tpl when not NULL); its stdout into out. Returns the exit status. */
static int run_from(bool userns, const struct mount_template *tpl, const char *dir, const char *script, char *out,
                    size_t size) {
        static int runs;
        char root[TMPDIR_PATH_MAX], outp[TMPDIR_PATH_MAX];
        snprintf(root, sizeof(root), "%s/root-%d", scratch, runs++);
        cr_assert_eq(mkdir(root, 0711), 0, "%s: %s", root, strerror(errno));
        int ofd = scratch_file("out", outp);
        struct error err = {0};
        struct mount_plan *mp = NULL;
        struct mount_bind b[] = {{.source = dir, .target = "/alloc"}};
        cr_assert_eq(mount_plan_create(root, b, 1, &mp, &err), 0, "%s", err.msg);
        struct seccomp_profile *sp = NULL;
        cr_assert_eq(seccomp_profile_build(NULL, NULL, &sp, &err), 0, "%s", err.msg);
        uint64_t caps;
        cr_assert_eq(caps_compute(NULL, NULL, &caps, &err), 0);
        char *argv[] = {"/bin/sh", "-c", (char *)script, NULL};
        char *envp[] = {"PATH=/usr/bin:/bin", NULL};
        int null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
        struct ns_options o = {.user = userns};
        struct isolation_spec s = {
            .path = "/bin/sh",
            .argv = argv,
            .envp = envp,
            .cwd = "/",
            .stdin_fd = null_fd,
            .stdout_fd = ofd,
            .stderr_fd = ofd,
            .cgroup_fd = -1,
            .ns_flags = namespaces_clone_flags(&o),
            .mounts = mp,
            .mount_template = tpl,
            .hostname = "spawn-test",
            .set_user = true,
            .uid = 80007,
            .gid = 80007,
            .set_caps = true,
            .caps = caps,
            .last_cap = caps_last_cap(),
            .no_new_privs = true,
            .seccomp = sp,
        };
        pid_t pid;
        int pidfd;
        int r = isolation_spawn(&s, &pid, &pidfd, &err);
        int st = 0;
        if (r == 0) {
                while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
                        ;
                close(pidfd);
        }
        ssize_t n = pread(ofd, out, size - 1, 0);
        out[n > 0 ? n : 0] = '\0';
        close(ofd);
        close(null_fd);
        mount_plan_free(mp);
        seccomp_profile_free(sp);
        /* root (its mount points, what the task wrote) goes with the scratch directory */
        cr_assert_eq(r, 0, "spawn: %s", err.msg);
        return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static int run(bool userns, const char *dir, const char *script, char *out, size_t size) {
        return run_from(userns, NULL, dir, script, out, size);
}

static char secret_dir[TMPDIR_PATH_MAX];

static void make_secret(void) {
        snprintf(secret_dir, sizeof(secret_dir), "%s/secret", scratch);
        cr_assert_eq(mkdir(secret_dir, 0755), 0);
        cr_assert_eq(chmod(secret_dir, 0755), 0); /* whatever the umask */
        char p[TMPDIR_PATH_MAX];
        FILE *f = tmpdir_open_at(secret_dir, "secret", p);
        fputs("s3cret\n", f);
        fclose(f);
        chmod(p, 0600); /* root's own: only a capability can read it */
}

static const char script[] = "id -u; cat /proc/self/uid_map; grep CapEff /proc/self/status; "
                             "cat /alloc/secret 2>/dev/null || echo secret=denied; hostname";

Test(isolation_spawn, without_a_user_namespace_the_default_caps_reach_root_files, .init = make_secret) {
        if (!can_isolate(false))
                cr_skip_test("needs root and pid/mnt/uts/ipc namespaces");
        char out[4096];
        cr_expect_eq(run(false, secret_dir, script, out, sizeof(out)), 0, "%s", out);
        cr_expect(strstr(out, "80007\n"), "%s", out);
        cr_expect(strstr(out, "CapEff:\t00000000a80405fb"), "%s", out);
        /* cap_dac_override of Nomad's default set: the reason for user_namespace. */
        cr_expect(strstr(out, "s3cret"), "%s", out);
        cr_expect(strstr(out, "spawn-test"), "%s", out);
}

Test(isolation_spawn, a_user_namespace_maps_only_the_tasks_ids_and_keeps_caps_off_host_files, .init = make_secret) {
        if (!can_isolate(true))
                cr_skip_test("needs root and user namespaces");
        char out[4096];
        cr_expect_eq(run(true, secret_dir, script, out, sizeof(out)), 0, "%s", out);
        cr_expect(strstr(out, "80007\n"), "%s", out);
        char want[64];
        snprintf(want, sizeof(want), "%10u %10u %10u", 80007u, 80007u, 1u);
        cr_expect(strstr(out, want), "uid_map: %s", out);
        cr_expect(strstr(out, "CapEff:\t00000000a80405fb"), "%s", out);
        cr_expect(strstr(out, "secret=denied"), "%s", out);
        cr_expect(!strstr(out, "s3cret"), "%s", out);
        cr_expect(strstr(out, "spawn-test"), "%s", out);
}

/* The template helper's tmpfs (isolation/mounts.c), which lives in its own
 * namespace only. */
#define TEMPLATE_DIR_PREFIX "/tmp/drover-mnt-template-"

/* Whether path is dir or below it. */
static bool under(const char *path, const char *dir) {
        size_t n = strlen(dir);
        return strncmp(path, dir, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

/* The mounts of this namespace (the host's: the test runs in it) that this
 * test could have left behind: a mount point in its scratch directory or a
 * template helper's directory, or a bind of something from its scratch
 * directory anywhere. Other processes' mounts (agents of parallel tests) are
 * not counted. -1 when mountinfo cannot be read. */
static int own_mounts(void) {
        FILE *f = fopen("/proc/self/mountinfo", "re");
        if (!f)
                return -1;
        const char *base = strrchr(scratch, '/') + 1;
        char *line = NULL;
        size_t cap = 0;
        int n = 0;
        while (getline(&line, &cap, f) > 0) {
                char root[TMPDIR_PATH_MAX], at[TMPDIR_PATH_MAX];
                /* ID PARENT MAJ:MIN ROOT MOUNT-POINT ... (octal escapes kept: none in these paths) */
                if (sscanf(line, "%*s %*s %*s %511s %511s", root, at) != 2)
                        continue;
                n += under(at, scratch) || strncmp(at, TEMPLATE_DIR_PREFIX, strlen(TEMPLATE_DIR_PREFIX)) == 0 ||
                     strstr(root, base) != NULL;
        }
        free(line);
        fclose(f);
        return n;
}

/* What a task can see and write: the same with and without a mount template. */
static const char view[] = "id -u; grep CapEff /proc/self/status; cat /alloc/secret 2>/dev/null || echo secret=denied; "
                           "hostname; for d in /usr /bin /etc /dev /tmp /alloc /; do "
                           "touch $d/.w 2>/dev/null && echo $d=rw || echo $d=ro; done; "
                           "ls / | tr '\\n' ' '; echo; ls /dev | tr '\\n' ' '; echo; "
                           "test -e /bin/sh && echo sh=yes; echo x > /dev/null && echo null=ok; "
                           "grep -c ' / ' /proc/self/mountinfo; ps -o pid= 2>/dev/null | wc -l";

Test(isolation_spawn, a_root_built_from_the_mount_template_shows_the_same_view, .init = make_secret) {
        if (!can_isolate(false))
                cr_skip_test("needs root and pid/mnt/uts/ipc namespaces");
        struct error err = {0};
        struct mount_template *tpl = NULL;
        int own = own_mounts();
        cr_assert_geq(own, 0, "/proc/self/mountinfo: %s", strerror(errno));
        cr_assert_eq(mount_template_create(&tpl, &err), 0, "%s", err.msg);
        cr_assert_geq(mount_template_fd(tpl), 0);
        char plain[4096], from[4096];
        cr_expect_eq(run(false, secret_dir, view, plain, sizeof(plain)), 0, "%s", plain);
        cr_expect_eq(run_from(false, tpl, secret_dir, view, from, sizeof(from)), 0, "%s", from);
        cr_expect_str_eq(from, plain, "the same view from the template");
        cr_expect(strstr(from, "80007\n"), "%s", from);
        cr_expect(strstr(from, "/usr=ro\n/bin=ro\n/etc=ro\n/dev=rw\n/tmp=rw\n/alloc=rw\n"), "%s", from);
        cr_expect(strstr(from, "sh=yes\nnull=ok\n"), "%s", from);
        cr_expect(!strstr(from, " t ") && !strstr(from, "root "), "nothing of the template's own: %s", from);
        /* The task's write through /alloc reached the host directory. */
        char w[TMPDIR_PATH_MAX + 8];
        snprintf(w, sizeof(w), "%s/.w", secret_dir);
        cr_expect_eq(access(w, F_OK), 0);
        unlink(w);
        /* A user namespace cannot join the template (owned by the host's): the
         * plain way, the same result as without one. */
        if (can_isolate(true)) {
                char u1[4096], u2[4096];
                cr_expect_eq(run(true, secret_dir, script, u1, sizeof(u1)), 0, "%s", u1);
                cr_expect_eq(run_from(true, tpl, secret_dir, script, u2, sizeof(u2)), 0, "%s", u2);
                cr_expect_str_eq(u2, u1);
        }
        mount_template_free(tpl);
        cr_expect_eq(own_mounts(), own, "a mount of the test's left on the host (under %s or %s*)", scratch,
                     TEMPLATE_DIR_PREFIX);
}

/* ---- the supervisor: no privileges needed ---------------------------------------------------- */

#include <signal.h>
#include <sys/syscall.h>

/* Spawn script under a supervisor (no namespaces); its exit status and record. */
static int supervised(const char *cmd, int sig_after_ms, char *rec, size_t size, pid_t *ret_pid) {
        char recp[TMPDIR_PATH_MAX];
        int rfd = scratch_file("rec", recp);
        int null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
        char *argv[] = {"/bin/sh", "-c", (char *)cmd, NULL};
        char *envp[] = {"PATH=/usr/bin:/bin", NULL};
        struct isolation_spec s = {.path = "/bin/sh",
                                   .argv = argv,
                                   .envp = envp,
                                   .stdin_fd = null_fd,
                                   .stdout_fd = null_fd,
                                   .stderr_fd = null_fd,
                                   .cgroup_fd = -1,
                                   .supervise = true,
                                   .exit_record_fd = rfd};
        pid_t pid;
        int pidfd;
        struct error err = {0};
        cr_assert_eq(isolation_spawn(&s, &pid, &pidfd, &err), 0, "%s", err.msg);
        close(rfd);
        if (sig_after_ms) {
                usleep((useconds_t)sig_after_ms * 1000);
                kill(pid, SIGTERM); /* to the supervisor: it forwards it */
        }
        siginfo_t info = {0};
        cr_assert_eq(waitid((idtype_t)P_PIDFD, (id_t)pidfd, &info, WEXITED), 0);
        close(pidfd);
        close(null_fd);
        FILE *f = fopen(recp, "re");
        cr_assert_not_null(f);
        if (!fgets(rec, (int)size, f))
                rec[0] = '\0';
        fclose(f);
        *ret_pid = pid;
        return info.si_code == CLD_EXITED ? info.si_status : -info.si_status;
}

Test(isolation_spawn, a_supervisor_records_the_exit_code_and_the_signal) {
        char rec[64], want[64];
        pid_t pid;
        int st = supervised("sleep 0.1; exit 3", 0, rec, sizeof(rec), &pid);
        cr_expect_eq(st, 3, "the supervisor exits with the task's code");
        snprintf(want, sizeof(want), "%d 3 0\n", (int)pid);
        cr_expect_str_eq(rec, want, "the record names the supervisor's pid");
        st = supervised("exec sleep 30", 300, rec, sizeof(rec), &pid);
        cr_expect_eq(st, 128 + SIGTERM, "128 + the signal that killed the task");
        snprintf(want, sizeof(want), "%d 0 %d\n", (int)pid, SIGTERM);
        cr_expect_str_eq(rec, want, "SIGTERM forwarded to the task, and recorded as a signal");
}

Test(isolation_spawn, an_exec_failure_under_a_supervisor_is_still_reported) {
        char recp[TMPDIR_PATH_MAX];
        int rfd = scratch_file("rec", recp);
        char *argv[] = {"/nonexistent/prog", NULL};
        char *envp[] = {NULL};
        struct isolation_spec s = {.path = "/nonexistent/prog",
                                   .argv = argv,
                                   .envp = envp,
                                   .stdin_fd = 0,
                                   .stdout_fd = 1,
                                   .stderr_fd = 2,
                                   .cgroup_fd = -1,
                                   .supervise = true,
                                   .exit_record_fd = rfd};
        pid_t pid;
        int pidfd;
        struct error err = {0};
        cr_expect_eq(isolation_spawn(&s, &pid, &pidfd, &err), -ENOENT);
        cr_expect(strstr(err.msg, "execve"), "%s", err.msg);
        s.exit_record_fd = -1;
        cr_expect_eq(isolation_spawn(&s, &pid, &pidfd, &err), -EINVAL, "a supervisor without a record file");
        close(rfd);
}
