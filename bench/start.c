/* start.c - isolated start latency: how long isolation/ takes from nothing to
 * the exec of /bin/true (cgroup with limits + pid/mnt/uts/ipc namespaces +
 * the bind-mount root + seccomp + capabilities + a non-root uid), and the
 * whole cycle until the cgroup is removed again. With --cmd it instead times
 * full runs of another command (an OCI runtime's `run`) for comparison.
 *
 *   start [--n 200] [--prefix NAME_] [--root DIR] [--cgroup-parent DIR]
 *   start --bare [--n 200] [--prefix NAME_]      (the same clone3 + exec, no isolation: the baseline)
 *   start --cmd [--n 200] [--prefix NAME_] -- ARGV...
 *   start --trace ...   (also: the median time of each step, <prefix>step_<name>_us)
 *   start --no-template ...  (the root built in a copy of the caller's mount namespace,
 *                             not from a mount template as the exec driver does)
 *
 * Prints name=value lines: <prefix>start_p50_ms, _p90_ms, <prefix>cycle_p50_ms...,
 * <prefix>child_cpu_p50_ms (the started process's own CPU time, user + system).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/error.h"
#include "isolation/caps.h"
#include "isolation/cgroup.h"
#include "isolation/mounts.h"
#include "isolation/namespaces.h"
#include "isolation/process.h"
#include "isolation/seccomp.h"

static double now_ms(void) {
        struct timespec t;
        clock_gettime(CLOCK_MONOTONIC, &t);
        return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

static int cmp(const void *a, const void *b) {
        double x = *(const double *)a, y = *(const double *)b;
        return x < y ? -1 : x > y;
}

static double pct(double *v, int n, double p) {
        qsort(v, (size_t)n, sizeof(*v), cmp);
        int i = (int)(p * (n - 1) + 0.5);
        return v[i];
}

int main(int argc, char **argv) {
        int n = 200;
        const char *prefix = "", *root = NULL, *parent = NULL;
        char **cmd = NULL;
        int bare = 0, trace = 0, template = 1;
        for (int i = 1; i < argc; i++) {
                if (strcmp(argv[i], "--n") == 0 && i + 1 < argc)
                        n = atoi(argv[++i]);
                else if (strcmp(argv[i], "--prefix") == 0 && i + 1 < argc)
                        prefix = argv[++i];
                else if (strcmp(argv[i], "--root") == 0 && i + 1 < argc)
                        root = argv[++i];
                else if (strcmp(argv[i], "--cgroup-parent") == 0 && i + 1 < argc)
                        parent = argv[++i];
                else if (strcmp(argv[i], "--cmd") == 0)
                        continue;
                else if (strcmp(argv[i], "--bare") == 0)
                        bare = 1;
                else if (strcmp(argv[i], "--trace") == 0)
                        trace = 1;
                else if (strcmp(argv[i], "--no-template") == 0)
                        template = 0;
                else if (strcmp(argv[i], "--") == 0 && i + 1 < argc) {
                        cmd = &argv[i + 1];
                        break;
                } else {
                        fprintf(stderr, "usage: start [--n N] [--prefix P] [--root DIR] [--cgroup-parent DIR] "
                                        "[--bare] [--trace] [--no-template] [--cmd -- ARGV...]\n");
                        return 2;
                }
        }
        if (n < 2 || n > 100000)
                n = 200;
        double *start = calloc((size_t)n, sizeof(double)), *cycle = calloc((size_t)n, sizeof(double));
        double *cpu = calloc((size_t)n, sizeof(double));
        if (!start || !cycle || !cpu)
                return 1;
        if (cmd) {
                int devnull = open("/dev/null", O_WRONLY);
                for (int i = 0; i < n; i++) {
                        double t0 = now_ms();
                        pid_t p = fork();
                        if (p == 0) {
                                dup2(devnull, 1);
                                dup2(devnull, 2);
                                execvp(cmd[0], cmd);
                                _exit(127);
                        }
                        int st;
                        waitpid(p, &st, 0);
                        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
                                fprintf(stderr, "start: %s failed (status %d)\n", cmd[0], st);
                                return 1;
                        }
                        cycle[i] = now_ms() - t0;
                }
                printf("%scycle_p50_ms=%.2f\n%scycle_p90_ms=%.2f\n", prefix, pct(cycle, n, 0.5), prefix,
                       pct(cycle, n, 0.9));
                return 0;
        }
        char tmp[] = "/tmp/drover-bench-root-XXXXXX";
        if (!root) {
                if (!mkdtemp(tmp))
                        return 1;
                root = tmp;
                chmod(root, 0755);
        }
        struct error err = {0};
        const char *const ctls[] = {"cpu", "memory", "pids", NULL};
        if (parent && cgroup_prepare_parent(CGROUP_DEFAULT_MOUNT, parent, ctls, &err) < 0) {
                fprintf(stderr, "start: %s\n", err.msg);
                return 1;
        }
        /* The seccomp filter is compiled once per profile, as the exec driver
         * does (its cache): a start loads the compiled program. */
        struct seccomp_profile *sp = NULL;
        if (!bare && seccomp_profile_build(NULL, NULL, &sp, &err) < 0) {
                fprintf(stderr, "start: %s\n", err.msg);
                return 1;
        }
        /* --trace: slot 0 the parent's preparation, 1.. the child's steps
         * (isolation_trace_step(k - 1)), the last the parent's wait for the exec. */
        enum { NSTEP = ISOLATION_TRACE_SLOTS + 2 };
        uint64_t *shared = NULL;
        double *steps = NULL;
        if (trace) {
                shared = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
                steps = calloc((size_t)n * NSTEP, sizeof(double));
                if (shared == MAP_FAILED || !steps)
                        return 1;
        }
        /* The mount template, built once as the exec driver does. */
        struct mount_template *mt = NULL;
        if (!bare && template && mount_template_create(&mt, &err) < 0) {
                fprintf(stderr, "start: %s\n", err.msg);
                return 1;
        }
        char *targv[] = {"/bin/true", NULL};
        char *envp[] = {"PATH=/bin:/usr/bin", NULL};
        int null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
        for (int i = 0; i < n; i++) {
                double t0 = now_ms();
                struct cgroup *cg = NULL;
                if (parent) {
                        char name[64];
                        snprintf(name, sizeof(name), "bench-%d.scope", i);
                        struct cgroup_limits l = {.cpu_mhz = 100, .memory_bytes = 64LL << 20, .pids_max = 64};
                        if (cgroup_create(parent, name, &l, &cg, &err) < 0) {
                                fprintf(stderr, "start: %s\n", err.msg);
                                return 1;
                        }
                }
                struct mount_plan *mp = NULL;
                uint64_t caps = 0;
                if (!bare &&
                    (mount_plan_create(root, NULL, 0, &mp, &err) < 0 || caps_compute(NULL, NULL, &caps, &err) < 0)) {
                        fprintf(stderr, "start: %s\n", err.msg);
                        return 1;
                }
                struct isolation_spec s = {
                    .path = "/bin/true",
                    .argv = targv,
                    .envp = envp,
                    .cwd = "/",
                    .stdin_fd = null_fd,
                    .stdout_fd = null_fd,
                    .stderr_fd = null_fd,
                    .cgroup_fd = cg ? cgroup_fd(cg) : -1,
                    .ns_flags = namespaces_clone_flags(NULL),
                    .mounts = mp,
                    .mount_template = mt,
                    .hostname = "bench",
                    .set_user = true,
                    .uid = 80000,
                    .gid = 80000,
                    .set_caps = true,
                    .caps = caps,
                    .last_cap = caps_last_cap(),
                    .no_new_privs = true,
                    .seccomp = sp,
                };
                if (bare) /* the same process start with nothing of the isolation */
                        s = (struct isolation_spec){.path = "/bin/true",
                                                    .argv = targv,
                                                    .envp = envp,
                                                    .stdin_fd = null_fd,
                                                    .stdout_fd = null_fd,
                                                    .stderr_fd = null_fd,
                                                    .cgroup_fd = -1};
                double t_spawn = now_ms();
                if (trace) {
                        memset(shared, 0, ISOLATION_TRACE_SLOTS * sizeof(uint64_t));
                        s.trace = shared;
                }
                pid_t pid;
                int pidfd;
                if (isolation_spawn(&s, &pid, &pidfd, &err) < 0) {
                        fprintf(stderr, "start: %s\n", err.msg);
                        return 1;
                }
                start[i] = now_ms() - t0;
                if (trace) {
                        double *row = steps + (size_t)i * NSTEP, prev = t_spawn;
                        row[0] = t_spawn - t0;
                        for (int k = 0; k < ISOLATION_TRACE_SLOTS; k++) {
                                if (!shared[k]) {
                                        row[k + 1] = -1; /* not reached (that step is off) */
                                        continue;
                                }
                                double t = (double)shared[k] / 1e6;
                                row[k + 1] = t - prev;
                                prev = t;
                        }
                        row[NSTEP - 1] = t0 + start[i] - prev;
                }
                int st;
                struct rusage ru;
                wait4(pid, &st, 0, &ru);
                /* The child's CPU time, user + system, /bin/true included: what
                 * the start costs the node, whatever the load (wall time under
                 * load is mostly waiting for a CPU). */
                cpu[i] = (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 +
                         (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
                close(pidfd);
                if (cg && cgroup_remove(cg, 2000, &err) < 0) {
                        fprintf(stderr, "start: %s\n", err.msg);
                        return 1;
                }
                cycle[i] = now_ms() - t0;
                cgroup_free(cg);
                mount_plan_free(mp);
                if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
                        fprintf(stderr, "start: /bin/true in the task root failed (status %d)\n", st);
                        return 1;
                }
        }
        seccomp_profile_free(sp);
        mount_template_free(mt);
        if (trace) {
                double *col = calloc((size_t)n, sizeof(double));
                if (!col)
                        return 1;
                for (int k = 0; k < NSTEP; k++) {
                        int m = 0;
                        for (int i = 0; i < n; i++)
                                if (steps[(size_t)i * NSTEP + k] >= 0)
                                        col[m++] = steps[(size_t)i * NSTEP + k];
                        if (m == 0)
                                continue;
                        const char *name = k == 0           ? "prepare (parent: cgroup, mount plan, caps)"
                                           : k == NSTEP - 1 ? "until execve (parent sees the pipe close)"
                                                            : isolation_trace_step(k - 1);
                        char key[64];
                        size_t j = 0;
                        for (const char *c = name; *c && *c != ' ' && j + 1 < sizeof(key); c++)
                                key[j++] = *c;
                        key[j] = '\0';
                        double p50 = pct(col, m, 0.5);
                        printf("%sstep_%02d_%s_us=%.0f  # p50 of %d; p90 %.0f us; %s\n", prefix, k, key, p50 * 1e3, m,
                               pct(col, m, 0.9) * 1e3, name);
                }
                free(col);
        }
        printf("%sstart_p50_ms=%.2f\n%sstart_p90_ms=%.2f\n", prefix, pct(start, n, 0.5), prefix, pct(start, n, 0.9));
        printf("%scycle_p50_ms=%.2f\n%scycle_p90_ms=%.2f\n", prefix, pct(cycle, n, 0.5), prefix, pct(cycle, n, 0.9));
        printf("%schild_cpu_p50_ms=%.3f\n", prefix, pct(cpu, n, 0.5));
        if (root == tmp) {
                /* Only empty mount points are left (the mounts died with each task's
                 * namespace): rmdir, never a recursive delete through a bind mount. */
                static const char *const dirs[] = {"bin", "lib", "lib64", "usr", "etc", "sbin", "tmp", "proc", "dev"};
                char d[128];
                for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
                        snprintf(d, sizeof(d), "%s/%s", tmp, dirs[i]);
                        rmdir(d);
                }
                rmdir(tmp);
        }
        return 0;
}
