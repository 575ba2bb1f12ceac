/* raw_exec.c - run a command as a plain child process, without isolation.
 *
 * Everything the child needs (path, argv, envp, open files) is prepared in the
 * parent; between clone(CLONE_VM | CLONE_VFORK) and execve() the child only calls async-signal-safe
 * functions and reports a failure as a fixed struct over a CLOEXEC pipe.
 */
#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/error.h"
#include "common/macros.h"
#include "common/model.h"
#include "isolation/cgroup.h"
#include "nodeagent/drivers/driver.h"
#include "nodeagent/drivers/task_cgroup.h"
#include "nodeagent/logs/logmon.h"

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

/* What the child writes when it cannot exec. */
struct child_failure {
        int32_t stage; /* enum stage */
        int32_t err;   /* errno */
};

enum stage { STAGE_SETSID = 1, STAGE_STDIO, STAGE_CHDIR, STAGE_EXEC, STAGE_CGROUP };

static const char *stage_str(int32_t s) {
        switch (s) {
        case STAGE_SETSID:
                return "setsid";
        case STAGE_STDIO:
                return "redirect stdio";
        case STAGE_CHDIR:
                return "chdir to the task directory";
        case STAGE_CGROUP:
                return "join the task's cgroup";
        default:
                return "execve";
        }
}

static void raw_exec_fingerprint(struct driver_health *ret) {
        if (!driver_settings()->raw_exec_enabled) {
                ret->detected = false;
                ret->healthy = false;
                snprintf(ret->description, sizeof(ret->description),
                         "disabled: start the agent with -raw-exec to run tasks without isolation");
                return;
        }
        ret->detected = true;
        ret->healthy = true;
        /* Mounting the tasks' secrets/ tmpfs needs root (alloc_dir.h). */
        snprintf(ret->description, sizeof(ret->description), "%s",
                 geteuid() == 0 ? "Healthy" : "Healthy (agent not root: secrets/ is a 0700 directory, not a tmpfs)");
}

static int raw_exec_validate(const json_t *config, struct error *err) {
        if (!json_is_object(config))
                return errorf(err, -EINVAL, "raw_exec: config must be an object with \"command\"");
        json_t *cmd = json_object_get(config, "command");
        if (!json_is_string(cmd) || !*json_string_value(cmd))
                return errorf(err, -EINVAL, "raw_exec: config.command is required (the program to run)");
        json_t *args = json_object_get(config, "args");
        if (args && !json_is_null(args)) {
                if (!json_is_array(args))
                        return errorf(err, -EINVAL, "raw_exec: config.args must be a list of strings");
                size_t i;
                json_t *a;
                json_array_foreach(args, i, a) {
                        if (!json_is_string(a))
                                return errorf(err, -EINVAL, "raw_exec: config.args[%zu] must be a string", i);
                }
        }
        return 0;
}

static bool is_executable(const char *path) {
        struct stat st;
        return stat(path, &st) == 0 && S_ISREG(st.st_mode) && access(path, X_OK) == 0;
}

/* Resolve command like execvp would, but before fork. */
static int resolve_command(const char *cmd, const char *task_dir, const char *path_env, char **ret, struct error *err) {
        char *out = NULL;
        if (strchr(cmd, '/')) {
                if (cmd[0] == '/')
                        out = strdup(cmd);
                else if (asprintf(&out, "%s/%s", task_dir, cmd) < 0)
                        out = NULL;
                if (!out)
                        return errorf(err, -ENOMEM, "out of memory");
                if (!is_executable(out)) {
                        int e = access(out, F_OK) == 0 ? EACCES : ENOENT;
                        free(out);
                        return errorf(err, -e, "command \"%s\": %s", cmd,
                                      e == ENOENT ? "no such file" : "not an executable file");
                }
                *ret = out;
                return 0;
        }
        const char *p = path_env && *path_env ? path_env : DEFAULT_PATH;
        while (*p) {
                const char *colon = strchr(p, ':');
                size_t len = colon ? (size_t)(colon - p) : strlen(p);
                if (len) {
                        if (asprintf(&out, "%.*s/%s", (int)len, p, cmd) < 0)
                                return errorf(err, -ENOMEM, "out of memory");
                        if (is_executable(out)) {
                                *ret = out;
                                return 0;
                        }
                        free(out);
                        out = NULL;
                }
                if (!colon)
                        break;
                p = colon + 1;
        }
        return errorf(err, -ENOENT, "command \"%s\" not found in $PATH (%s)", cmd,
                      path_env && *path_env ? path_env : DEFAULT_PATH);
}

static void free_strv(char **v) {
        if (!v)
                return;
        for (char **p = v; *p; p++)
                free(*p);
        free(v);
}

static void free_strvp(char ***v) {
        free_strv(*v);
}

/* Field 22 of /proc/<pid>/stat (after the parenthesised comm). */
uint64_t driver_proc_start_ticks(int pid) {
        char path[64], buf[1024];
        snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return 0;
        ssize_t n = read(fd, buf, sizeof(buf) - 1);
        if (n <= 0)
                return 0;
        buf[n] = '\0';
        char *p = strrchr(buf, ')');
        if (!p)
                return 0;
        p++;
        /* fields 3.. follow; starttime is field 22, i.e. the 20th after ')' */
        for (int field = 3; field < 22 && p; field++)
                p = strchr(p + 1, ' ');
        return p ? strtoull(p + 1, NULL, 10) : 0;
}

int driver_pidfd_open(int pid) {
        return (int)syscall(SYS_pidfd_open, pid, 0);
}

static int open_log(const char *path, struct error *err) {
        int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
        if (fd < 0)
                return errorf(err, -errno, "open log file %s: %s", path, strerror(errno));
        return fd;
}

/* In the child: make target a copy of fd without CLOEXEC. */
static int child_dup(int fd, int target) {
        if (fd == target)
                return fcntl(fd, F_SETFD, 0);
        return dup2(fd, target) < 0 ? -1 : 0;
}

static _Noreturn void child_fail(int errfd, int32_t stage) {
        struct child_failure f = {.stage = stage, .err = errno};
        ssize_t n = write(errfd, &f, sizeof(f));
        (void)n;
        _exit(127);
}

struct child_args {
        const char *path;
        char **argv, **envp;
        const char *task_dir;
        int procs_fd, null_fd, out_fd, err_fd, report_fd;
};

/* The child, on its own stack in the agent's memory (CLONE_VM), the agent suspended
 * until it execs or exits: async-signal-safe calls only and no writes to the agent's
 * memory but errno. Its signal handlers are its own (no CLONE_SIGHAND). */
static int child_main(void *arg) {
        const struct child_args *a = arg;
        struct sigaction dfl = {.sa_handler = SIG_DFL};
        for (int s = 1; s < NSIG; s++)
                if (s != SIGKILL && s != SIGSTOP)
                        sigaction(s, &dfl, NULL);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        if (a->procs_fd >= 0 && write(a->procs_fd, "0", 1) != 1)
                child_fail(a->report_fd, STAGE_CGROUP);
        if (setsid() < 0)
                child_fail(a->report_fd, STAGE_SETSID);
        if (child_dup(a->null_fd, 0) < 0 || child_dup(a->out_fd, 1) < 0 || child_dup(a->err_fd, 2) < 0)
                child_fail(a->report_fd, STAGE_STDIO);
        if (chdir(a->task_dir) < 0)
                child_fail(a->report_fd, STAGE_CHDIR);
        execve(a->path, a->argv, a->envp);
        child_fail(a->report_fd, STAGE_EXEC);
}

/* A start handed to the log collector, until its answer comes. */
struct async_start {
        struct cgroup *cg; /* the task's, removed when it did not start */
        driver_started_fn done;
        void *data;
};

static void on_spawned(void *data, int r, pid_t pid, int pidfd, const struct error *err) {
        struct async_start *as = data;
        if (r < 0) {
                if (as->cg)
                        cgroup_remove(as->cg, 1000, NULL);
                as->done(as->data, r, NULL, -1, err);
        } else {
                struct driver_handle h = {.pid = pid, .start_ticks = driver_proc_start_ticks(pid),
                                          .started_at = clock_now_ns()};
                snprintf(h.driver, sizeof(h.driver), "%s", raw_exec_driver.name);
                if (as->cg)
                        snprintf(h.cgroup, sizeof(h.cgroup), "%s", cgroup_path(as->cg));
                as->done(as->data, 0, &h, pidfd, NULL);
        }
        cgroup_free(as->cg);
        free(as);
}

/* done == NULL: start now (ret_*); else hand the start to the collector and return
 * (done gets the outcome). */
static int start(const struct driver_spec *spec, driver_started_fn done, void *data, struct driver_handle *ret_handle,
                 int *ret_exit_fd, struct error *err) {
        if (!driver_settings()->raw_exec_enabled)
                return errorf(err, -EPERM, "raw_exec is disabled on this node (the agent's -raw-exec option enables it)");
        int r = raw_exec_validate(spec->config, err);
        if (r < 0)
                return r;
        const char *cmd = json_string_value(json_object_get(spec->config, "command"));
        const char *path_env = spec->env ? strmap_get(spec->env, "PATH") : NULL;
        if (!path_env)
                path_env = getenv("PATH");
        _cleanup_free_ char *path = NULL;
        r = resolve_command(cmd, spec->task_dir, path_env, &path, err);
        if (r < 0)
                return r;

        json_t *args = json_object_get(spec->config, "args");
        size_t nargs = json_is_array(args) ? json_array_size(args) : 0;
        _cleanup_(free_strvp) char **argv = calloc(nargs + 2, sizeof(char *));
        size_t nenv = spec->env ? spec->env->n : 0;
        _cleanup_(free_strvp) char **envp = calloc(nenv + 1, sizeof(char *));
        if (!argv || !envp || !(argv[0] = strdup(cmd)))
                return errorf(err, -ENOMEM, "out of memory");
        for (size_t i = 0; i < nargs; i++)
                if (!(argv[i + 1] = strdup(json_string_value(json_array_get(args, i)))))
                        return errorf(err, -ENOMEM, "out of memory");
        for (size_t i = 0; i < nenv; i++)
                if (asprintf(&envp[i], "%s=%s", spec->env->items[i].key, spec->env->items[i].value) < 0) {
                        envp[i] = NULL;
                        return errorf(err, -ENOMEM, "out of memory");
                }

        _cleanup_close_ int out_fd = open_log(spec->stdout_path, err);
        if (out_fd < 0)
                return out_fd;
        _cleanup_close_ int err_fd = open_log(spec->stderr_path, err);
        if (err_fd < 0)
                return err_fd;
        _cleanup_close_ int null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (null_fd < 0)
                return errorf(err, -errno, "open /dev/null: %s", strerror(errno));
        /* Its own cgroup where cgroup v2 is usable: for kill, OOM reports, stats. No limits. */
        _cleanup_(cgroup_freep) struct cgroup *cg = NULL;
        _cleanup_close_ int procs_fd = -1;
        if (task_cgroup_usable()) {
                r = task_cgroup_create(spec, NULL, &cg, err);
                if (r < 0)
                        return error_prefix(err, "raw_exec: task cgroup");
                char procs[4200];
                snprintf(procs, sizeof(procs), "%s/cgroup.procs", cgroup_path(cg));
                procs_fd = open(procs, O_WRONLY | O_CLOEXEC);
                if (procs_fd < 0) {
                        r = errorf(err, -errno, "open %s: %s", procs, strerror(errno));
                        cgroup_remove(cg, 1000, NULL);
                        return r;
                }
        }
        if (spec->spawner && spec->exit_dir) {
                struct logmon_spawn_req req = {.path = path, .argv = argv, .envp = envp, .cwd = spec->task_dir,
                                               .stdin_fd = null_fd, .stdout_fd = out_fd, .stderr_fd = err_fd,
                                               .cgroup_procs_fd = procs_fd, .exit_dir = spec->exit_dir};
                if (done) { /* the descriptors travel in the request: ours are closed on return */
                        struct async_start *as = calloc(1, sizeof(*as));
                        if (!as)
                                r = errorf(err, -ENOMEM, "out of memory");
                        else {
                                *as = (struct async_start){.cg = cg, .done = done, .data = data};
                                r = logmon_spawn_async(spec->spawner, &req, on_spawned, as, err);
                        }
                        if (r < 0) {
                                free(as);
                                if (cg)
                                        cgroup_remove(cg, 1000, NULL);
                                return r;
                        }
                        cg = NULL; /* as's now */
                        return 0;
                }
                pid_t pid;
                int pidfd;
                r = logmon_spawn(spec->spawner, &req, &pid, &pidfd, err);
                if (r < 0) {
                        if (cg)
                                cgroup_remove(cg, 1000, NULL);
                        return r;
                }
                struct driver_handle h = {.pid = pid, .start_ticks = driver_proc_start_ticks(pid), .started_at = clock_now_ns()};
                snprintf(h.driver, sizeof(h.driver), "%s", raw_exec_driver.name);
                if (cg)
                        snprintf(h.cgroup, sizeof(h.cgroup), "%s", cgroup_path(cg));
                *ret_handle = h;
                *ret_exit_fd = pidfd;
                return 0;
        }
        int pfd[2];
        if (pipe2(pfd, O_CLOEXEC) < 0)
                return errorf(err, -errno, "pipe: %s", strerror(errno));
        _cleanup_close_ int rd = pfd[0];
        _cleanup_close_ int wr = pfd[1];

        /* clone(CLONE_VM | CLONE_VFORK), posix_spawn's way: the child borrows the
         * agent's memory until it execs, so starting a task neither copies the agent's
         * page tables nor leaves every page of the agent copy-on-write (a fault and a
         * TLB flush per page the agent touches next: on a VM most of the cost of a
         * start). Signals stay blocked across it, so that no handler of the agent
         * runs in the child. */
        struct child_args ca = {.path = path, .argv = argv, .envp = envp, .task_dir = spec->task_dir,
                                .procs_fd = procs_fd, .null_fd = null_fd, .out_fd = out_fd, .err_fd = err_fd,
                                .report_fd = wr};
        _Alignas(16) char stack[32768];
        sigset_t all, saved;
        sigfillset(&all);
        pthread_sigmask(SIG_SETMASK, &all, &saved);
        pid_t pid = clone(child_main, stack + sizeof(stack), CLONE_VM | CLONE_VFORK | SIGCHLD, &ca);
        int clone_errno = errno;
        pthread_sigmask(SIG_SETMASK, &saved, NULL);
        if (pid < 0)
                return errorf(err, -clone_errno, "clone: %s", strerror(clone_errno));
        close(TAKE_FD(wr));
        struct child_failure f;
        ssize_t n;
        do
                n = read(rd, &f, sizeof(f));
        while (n < 0 && errno == EINTR);
        if (n == (ssize_t)sizeof(f)) {
                while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
                        ;
                if (cg)
                        cgroup_remove(cg, 1000, NULL);
                return errorf(err, -f.err, "%s %s: %s", stage_str(f.stage), path, strerror(f.err));
        }
        int pidfd = driver_pidfd_open(pid);
        if (pidfd < 0) {
                int e = errno;
                kill(-pid, SIGKILL);
                while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
                        ;
                if (cg)
                        cgroup_remove(cg, 1000, NULL);
                return errorf(err, -e, "pidfd_open: %s", strerror(e));
        }
        struct driver_handle h = {.pid = pid, .start_ticks = driver_proc_start_ticks(pid), .started_at = clock_now_ns()};
        snprintf(h.driver, sizeof(h.driver), "%s", raw_exec_driver.name);
        if (cg)
                snprintf(h.cgroup, sizeof(h.cgroup), "%s", cgroup_path(cg));
        *ret_handle = h;
        *ret_exit_fd = pidfd;
        return 0;
}

static int raw_exec_start(const struct driver_spec *spec, struct driver_handle *ret_handle, int *ret_exit_fd,
                          struct error *err) {
        return start(spec, NULL, NULL, ret_handle, ret_exit_fd, err);
}

static int raw_exec_start_async(const struct driver_spec *spec, driver_started_fn done, void *data,
                                struct error *err) {
        if (!spec->spawner || !spec->exit_dir || !logmon_attached(spec->spawner))
                return -EOPNOTSUPP;
        return start(spec, done, data, NULL, NULL, err);
}

int driver_wait_pidfd(const struct driver_handle *h, int exit_fd, struct driver_exit *ret, struct error *err) {
        siginfo_t info = {0};
        int r;
        do
                r = waitid((idtype_t)P_PIDFD, (id_t)exit_fd, &info, WEXITED | WNOHANG);
        while (r < 0 && errno == EINTR);
        if (r < 0) {
                if (errno == ECHILD) { /* recovered: not our child, status lost */
                        *ret = (struct driver_exit){.unknown = true};
                        task_cgroup_finish(h, ret);
                        return 0;
                }
                return errorf(err, -errno, "waitid pid %d: %s", (int)h->pid, strerror(errno));
        }
        if (info.si_pid == 0)
                return -EAGAIN;
        struct driver_exit ex = {0};
        if (info.si_code == CLD_EXITED)
                ex.exit_code = info.si_status;
        else
                ex.signal = info.si_status;
        task_cgroup_finish(h, &ex);
        *ret = ex;
        return 0;
}

static int raw_exec_wait(const struct driver_handle *h, int exit_fd, struct driver_exit *ret, struct error *err) {
        return driver_wait_pidfd(h, exit_fd, ret, err);
}

static int raw_exec_signal(const struct driver_handle *h, int sig, struct error *err) {
        if (h->pid <= 1)
                return errorf(err, -EINVAL, "bad pid %d", (int)h->pid);
        if (sig == SIGKILL && task_cgroup_kill(h) == 0) /* everything it forked, setsid or not */
                return 0;
        if (kill(-h->pid, sig) == 0 || kill(h->pid, sig) == 0)
                return 0;
        return errorf(err, -errno, "kill %d: %s", (int)h->pid, strerror(errno));
}

static int raw_exec_recover(struct driver_handle *h, int *ret_exit_fd, struct error *err) {
        if (h->pid <= 1)
                return errorf(err, -EINVAL, "bad pid %d", (int)h->pid);
        if (h->start_ticks == 0 || driver_proc_start_ticks(h->pid) != h->start_ticks)
                return errorf(err, -ESRCH, "task process %d is gone", (int)h->pid);
        int fd = driver_pidfd_open(h->pid);
        if (fd < 0)
                return errorf(err, -errno, "pidfd_open %d: %s", (int)h->pid, strerror(errno));
        task_cgroup_recover(h);
        *ret_exit_fd = fd;
        return 0;
}

const struct driver_ops raw_exec_driver = {
    .name = "raw_exec",
    .fingerprint = raw_exec_fingerprint,
    .validate = raw_exec_validate,
    .start = raw_exec_start,
    .start_async = raw_exec_start_async,
    .wait = raw_exec_wait,
    .signal = raw_exec_signal,
    .recover = raw_exec_recover,
};
