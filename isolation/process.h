/* process.h - start one isolated process: the parts of isolation/ together.
 *
 * Everything is prepared by the caller and here before clone3; the child
 * makes only raw syscalls, in this order: signals reset, (with CLONE_NEWUSER
 * in ns_flags: wait until the parent wrote the id maps, uid -> uid and
 * gid -> gid, one id each; see user_ns_map()), setsid, stdio,
 * mounts + pivot_root, hostname, bounding set, uid/gid, capabilities,
 * chdir, no_new_privs, Landlock, seccomp, execve. A failure is reported to
 * the parent as a fixed struct over a CLOEXEC pipe and turned into err.
 *
 * With supervise, the process the caller gets is a small supervisor (the
 * pid namespace's init when there is one): after the last step it forks the
 * task, which execs, forwards every catchable signal it receives to the task,
 * and when the task ends writes "<its own host pid> <exit code> <signal>\n"
 * (LOGMON_EXIT_FILE's format) into exit_record_fd and exits with the task's code
 * (128 + signal for a signal). The record outlives the caller: an agent that
 * was down when the task ended reads the real status from it (a pidfd cannot
 * give a non-child's). The supervisor is a copy of the caller that touches
 * nothing but raw syscalls; it runs under the task's uid, capabilities and
 * seccomp filter like the task.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct error;
struct mount_plan;
struct mount_template;
struct seccomp_profile;
struct landlock_ruleset;

struct isolation_spec {
        const char *path;          /* executable, as seen from inside the root */
        char *const *argv;
        char *const *envp;         /* the task's own environment only */
        const char *cwd;           /* inside the root */
        int stdin_fd, stdout_fd, stderr_fd;
        int cgroup_fd;             /* -1: stay in the agent's cgroup */
        uint64_t ns_flags;         /* namespaces_clone_flags(); 0 = none */
        const struct mount_plan *mounts;   /* NULL: no root change (needs no mount ns) */
        const struct mount_template *mount_template; /* NULL: none; with mounts and without
                                    * CLONE_NEWUSER, the root is built from it
                                    * (mount_plan_apply), which saves the old root's detach */
        const char *hostname;      /* NULL: keep (needs CLONE_NEWUTS) */
        bool set_user;
        uid_t uid;
        gid_t gid;
        bool set_caps;
        uint64_t caps;             /* caps_compute() */
        int last_cap;              /* caps_last_cap() */
        bool no_new_privs;
        const struct landlock_ruleset *landlock; /* NULL: none */
        const struct seccomp_profile *seccomp;   /* NULL: none */
        bool supervise;            /* start a supervisor that records the exit (above) */
        int exit_record_fd;        /* with supervise: a regular file opened for writing (CLOEXEC) */
        uint64_t *trace;           /* NULL, or ISOLATION_TRACE_SLOTS slots in memory shared with the
                                    * child (MAP_SHARED): CLOCK_MONOTONIC ns at which each step
                                    * ended, in the order isolation_trace_step() names them; 0 = not
                                    * reached. For benchmarks. */
};

#define ISOLATION_TRACE_SLOTS 16
/* The name of trace slot i ("child entered", "mount", "seccomp"...); NULL past the end. */
const char *isolation_trace_step(int i);

/* Start the process; ret_pid and ret_pidfd (CLOEXEC) on success. */
int isolation_spawn(const struct isolation_spec *s, pid_t *ret_pid, int *ret_pidfd, struct error *err);
