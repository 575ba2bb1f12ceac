/* process.c - start one isolated process (see process.h). */
#include "isolation/process.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/sched.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/error.h"
#include "common/macros.h"
#include "isolation/caps.h"
#include "isolation/landlock.h"
#include "isolation/mounts.h"
#include "isolation/seccomp.h"
#include "isolation/user.h"

#ifndef CLONE_INTO_CGROUP
#define CLONE_INTO_CGROUP 0x200000000ULL
#endif

enum stage {
        ST_USERNS = 1,
        ST_SETSID,
        ST_STDIO,
        ST_MOUNTS,
        ST_PIVOT,
        ST_HOSTNAME,
        ST_BOUNDING,
        ST_USER,
        ST_CAPS,
        ST_CHDIR,
        ST_NNP,
        ST_LANDLOCK,
        ST_SECCOMP,
        ST_EXEC,
        ST_SUPERVISE,
        ST_COUNT,
};

/* With spec->trace: the CLOCK_MONOTONIC time (ns) at which stage i ended
 * (trace[0]: the child's first instruction), vDSO only. */
static inline void stamp(const struct isolation_spec *s, int i) {
        if (s->trace) {
                struct timespec t;
                clock_gettime(CLOCK_MONOTONIC, &t);
                s->trace[i] = (uint64_t)t.tv_sec * 1000000000ULL + (uint64_t)t.tv_nsec;
        }
}

static const char *stage_str(int s) {
        static const char *const names[] = {
            [ST_USERNS] = "wait for the user namespace's id maps",
            [ST_SETSID] = "setsid",
            [ST_STDIO] = "redirect stdio",
            [ST_MOUNTS] = "mount", /* with step -1: make the root private and a mount point */
            [ST_PIVOT] = "pivot_root into the task directory",
            [ST_HOSTNAME] = "sethostname",
            [ST_BOUNDING] = "drop bounding capabilities",
            [ST_USER] = "switch user",
            [ST_CAPS] = "set capabilities",
            [ST_CHDIR] = "chdir",
            [ST_NNP] = "set no_new_privs",
            [ST_LANDLOCK] = "apply Landlock rules",
            [ST_SECCOMP] = "install the seccomp filter",
            [ST_EXEC] = "execve",
            [ST_SUPERVISE] = "fork the task from its supervisor",
        };
        return s > 0 && s < (int)ARRAY_SIZE(names) && names[s] ? names[s] : "setup";
}

_Static_assert(ST_COUNT <= ISOLATION_TRACE_SLOTS, "trace slots");

const char *isolation_trace_step(int i) {
        if (i == 0)
                return "child entered";
        if (i == ST_USERNS)
                return "signals reset (with a user namespace: and its id maps written)";
        return i > 0 && i < ST_COUNT ? stage_str(i) : NULL;
}

struct child_failure {
        int32_t stage;
        int32_t err;  /* errno */
        int32_t step; /* mount index for ST_MOUNTS */
};

static _Noreturn void fail(int fd, int stage, int e, int step) {
        struct child_failure f = {.stage = stage, .err = e, .step = step};
        ssize_t n = write(fd, &f, sizeof(f));
        (void)n;
        _exit(127);
}

static int child_dup(int fd, int target) {
        if (fd == target)
                return fcntl(fd, F_SETFD, 0);
        return dup2(fd, target) < 0 ? -1 : 0;
}

/* ---- the supervisor (spec->supervise): raw syscalls only ---- */

static volatile pid_t supervised;

static void forward_signal(int sig) {
        if (supervised > 0)
                kill(supervised, sig);
}

static size_t put_num(char *buf, long v) {
        char tmp[24];
        size_t n = 0, k = 0;
        if (v < 0)
                v = 0;
        do
                tmp[n++] = (char)('0' + v % 10);
        while ((v /= 10) > 0);
        while (n > 0)
                buf[k++] = tmp[--n];
        return k;
}

/* The host pid of the caller: /proc/self of the host's /proc, read before any
 * mount (inside a new pid namespace getpid() says 1). 0 when unknown. */
static pid_t host_pid(void) {
        char buf[32];
        ssize_t n = readlink("/proc/self", buf, sizeof(buf) - 1);
        long v = 0;
        for (ssize_t i = 0; i < n && buf[i] >= '0' && buf[i] <= '9'; i++)
                v = v * 10 + (buf[i] - '0');
        return (pid_t)v;
}

/* Fork the task (it returns, to exec), wait for it in this process and record. */
static void supervise(const struct isolation_spec *s, pid_t self, int wr) {
        sigset_t all, none;
        sigfillset(&all);
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &all, NULL);
        long pid = syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0);
        if (pid < 0)
                fail(wr, ST_SUPERVISE, errno, 0);
        if (pid == 0) {
                sigprocmask(SIG_SETMASK, &none, NULL);
                return; /* the task: on to execve */
        }
        /* The task keeps wr until its execve (CLOEXEC): an exec failure still
         * reaches the caller, which then reaps this supervisor (exit code 127). */
        close(wr);
        supervised = (pid_t)pid;
        struct sigaction fw = {.sa_handler = forward_signal, .sa_flags = SA_RESTART};
        sigfillset(&fw.sa_mask);
        for (int sig = 1; sig < 32; sig++)
                if (sig != SIGKILL && sig != SIGSTOP && sig != SIGCHLD)
                        sigaction(sig, &fw, NULL);
        sigprocmask(SIG_SETMASK, &none, NULL);
        int status = 0;
        for (;;) {
                long r = syscall(SYS_wait4, pid, &status, 0, NULL);
                if (r == pid)
                        break;
                if (r < 0 && errno != EINTR)
                        _exit(127);
        }
        int code = WIFEXITED(status) ? WEXITSTATUS(status) : 0, sig = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
        char line[64];
        size_t k = put_num(line, self);
        line[k++] = ' ';
        k += put_num(line + k, code);
        line[k++] = ' ';
        k += put_num(line + k, sig);
        line[k++] = '\n';
        ssize_t w = pwrite(s->exit_record_fd, line, k, 0);
        (void)w;
        _exit(sig ? 128 + sig : code);
}

static _Noreturn void child(const struct isolation_spec *s, int wr, int go) {
        stamp(s, 0);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        struct sigaction dfl = {.sa_handler = SIG_DFL};
        for (int sig = 1; sig < NSIG; sig++)
                if (sig != SIGKILL && sig != SIGSTOP)
                        sigaction(sig, &dfl, NULL);
        if (go >= 0) {
                /* Nothing is mapped until the parent wrote uid_map and gid_map. */
                char c;
                ssize_t n;
                do
                        n = read(go, &c, 1);
                while (n < 0 && errno == EINTR);
                if (n != 1)
                        fail(wr, ST_USERNS, n < 0 ? errno : ECANCELED, 0);
        }
        stamp(s, ST_USERNS);
        pid_t self = s->supervise ? host_pid() : 0;
        if (setsid() < 0)
                fail(wr, ST_SETSID, errno, 0);
        stamp(s, ST_SETSID);
        if (child_dup(s->stdin_fd, 0) < 0 || child_dup(s->stdout_fd, 1) < 0 || child_dup(s->stderr_fd, 2) < 0)
                fail(wr, ST_STDIO, errno, 0);
        stamp(s, ST_STDIO);
        int r;
        if (s->mounts) {
                int step;
                bool userns = s->ns_flags & CLONE_NEWUSER;
                int tpl = userns ? -1 : mount_template_fd(s->mount_template);
                r = mount_plan_apply(s->mounts, tpl, userns ? (int)s->uid : -1, userns ? (int)s->gid : -1, &step);
                if (r < 0)
                        fail(wr, ST_MOUNTS, -r, step);
                stamp(s, ST_MOUNTS);
                if ((r = mount_plan_pivot(tpl)) < 0)
                        fail(wr, ST_PIVOT, -r, 0);
        }
        stamp(s, ST_PIVOT);
        if (s->hostname && sethostname(s->hostname, strlen(s->hostname)) < 0)
                fail(wr, ST_HOSTNAME, errno, 0);
        stamp(s, ST_HOSTNAME);
        if (s->set_caps && (r = caps_drop_bounding(s->caps, s->last_cap)) < 0)
                fail(wr, ST_BOUNDING, -r, 0);
        stamp(s, ST_BOUNDING);
        if (s->set_user && (r = user_switch(s->uid, s->gid)) < 0)
                fail(wr, ST_USER, -r, 0);
        stamp(s, ST_USER);
        if (s->set_caps && (r = caps_apply(s->caps, s->last_cap)) < 0)
                fail(wr, ST_CAPS, -r, 0);
        stamp(s, ST_CAPS);
        if (s->cwd && chdir(s->cwd) < 0)
                fail(wr, ST_CHDIR, errno, 0);
        stamp(s, ST_CHDIR);
        if (s->no_new_privs && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
                fail(wr, ST_NNP, errno, 0);
        stamp(s, ST_NNP);
        if (s->landlock && (r = landlock_ruleset_apply(s->landlock)) < 0)
                fail(wr, ST_LANDLOCK, -r, 0);
        stamp(s, ST_LANDLOCK);
        if (s->seccomp && (r = seccomp_profile_apply(s->seccomp)) < 0)
                fail(wr, ST_SECCOMP, -r, 0);
        stamp(s, ST_SECCOMP);
        if (s->supervise)
                supervise(s, self, wr); /* returns in the task, which still holds wr */
        stamp(s, ST_SUPERVISE);
        execve(s->path, s->argv, s->envp);
        fail(wr, ST_EXEC, errno, 0);
}

int isolation_spawn(const struct isolation_spec *s, pid_t *ret_pid, int *ret_pidfd, struct error *err) {
        if (s->mounts && !(s->ns_flags & CLONE_NEWNS))
                return errorf(err, -EINVAL, "a task root needs a mount namespace");
        if (s->hostname && !(s->ns_flags & CLONE_NEWUTS))
                return errorf(err, -EINVAL, "a hostname needs a uts namespace");
        if (s->supervise && s->exit_record_fd < 0)
                return errorf(err, -EINVAL, "a supervisor needs a file for the exit record");
        bool userns = s->ns_flags & CLONE_NEWUSER;
        if (userns && !s->set_user)
                return errorf(err, -EINVAL, "a user namespace needs the task's uid and gid to map");
        int pfd[2];
        if (pipe2(pfd, O_CLOEXEC) < 0)
                return errorf(err, -errno, "pipe: %s", strerror(errno));
        _cleanup_close_ int rd = pfd[0];
        _cleanup_close_ int wr = pfd[1];
        _cleanup_close_ int go_rd = -1;
        _cleanup_close_ int go_wr = -1;
        if (userns) {
                if (pipe2(pfd, O_CLOEXEC) < 0)
                        return errorf(err, -errno, "pipe: %s", strerror(errno));
                go_rd = pfd[0];
                go_wr = pfd[1];
        }
        int pidfd = -1;
        struct clone_args args = {
            /* From a template, the child joins a copy of its mount namespace
             * itself (mount_plan_apply): no copy of the caller's first. */
            .flags = (s->ns_flags & ~(uint64_t)(s->mounts && s->mount_template && !userns ? CLONE_NEWNS : 0)) |
                     CLONE_PIDFD | (s->cgroup_fd >= 0 ? CLONE_INTO_CGROUP : 0),
            .pidfd = (uint64_t)(uintptr_t)&pidfd,
            .exit_signal = SIGCHLD,
            .cgroup = s->cgroup_fd >= 0 ? (uint64_t)s->cgroup_fd : 0,
        };
        long pid = syscall(SYS_clone3, &args, sizeof(args));
        if (pid < 0)
                return errorf(err, -errno, "clone3: %s", strerror(errno));
        if (pid == 0)
                child(s, wr, go_rd);
        close(TAKE_FD(wr));
        _cleanup_close_ int pidfd_owned = pidfd;
        if (userns) {
                struct error map_err = {0};
                int r = user_ns_map((int)pid, s->uid, s->gid, &map_err);
                if (r == 0 && write(go_wr, "g", 1) != 1)
                        r = errorf(&map_err, -errno, "wake the child: %s", strerror(errno));
                if (r < 0) {
                        close(TAKE_FD(go_wr)); /* the child reads EOF and gives up */
                        while (waitpid((pid_t)pid, NULL, 0) < 0 && errno == EINTR)
                                ;
                        return errorf(err, r, "user namespace: %s", map_err.msg);
                }
        }
        struct child_failure f;
        ssize_t n;
        do
                n = read(rd, &f, sizeof(f));
        while (n < 0 && errno == EINTR);
        if (n == (ssize_t)sizeof(f)) {
                while (waitpid((pid_t)pid, NULL, 0) < 0 && errno == EINTR)
                        ;
                if (f.stage == ST_MOUNTS && f.step >= 0) {
                        char what[PATH_MAX + 64] = "";
                        mount_plan_describe(s->mounts, f.step, what, sizeof(what));
                        return errorf(err, -f.err, "mount %s: %s", what, strerror(f.err));
                }
                return errorf(err, -f.err, "%s %s: %s", stage_str(f.stage), f.stage == ST_EXEC ? s->path : "",
                              strerror(f.err));
        }
        *ret_pid = (pid_t)pid;
        *ret_pidfd = TAKE_FD(pidfd_owned);
        return 0;
}
