/* probe.c - a task program for the VM tier: asks the kernel for things an
 * isolated task must not get, or uses resources up to its limits, and prints
 * what happened as name=value lines. Static, so it runs in any task root. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char *ename(int r) {
        return r == 0 ? "ALLOWED" : errno == EPERM ? "EPERM" : strerrorname_np(errno);
}

static double now(clockid_t c) {
        struct timespec t;
        clock_gettime(c, &t);
        return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
        const char *mode = argc > 1 ? argv[1] : "";
        if (strcmp(mode, "syscalls") == 0) {
                int r = mount("none", "/tmp", "tmpfs", 0, NULL);
                printf("mount=%s\n", ename(r));
                r = unshare(CLONE_NEWNS);
                printf("unshare=%s\n", ename(r));
                r = (int)syscall(SYS_bpf, 0 /* BPF_MAP_CREATE */, NULL, 0);
                printf("bpf=%s\n", ename(r));
                r = (int)syscall(SYS_kexec_load, 0UL, 0UL, NULL, 0UL);
                printf("kexec_load=%s\n", ename(r));
                return 0;
        }
        if (strcmp(mode, "alloc") == 0) { /* alloc MB [hold]: touch MB megabytes (and keep them) */
                long mb = argc > 2 ? atol(argv[2]) : 64;
                for (long i = 0; i < mb; i++) {
                        char *p = malloc(1 << 20);
                        if (!p)
                                return 3;
                        memset(p, 1, 1 << 20);
                        printf("allocated=%ld\n", i + 1);
                        fflush(stdout);
                }
                while (argc > 3 && strcmp(argv[3], "hold") == 0)
                        pause();
                return 0;
        }
        if (strcmp(mode, "forks") == 0) { /* forks N: try N children, report how many started */
                int n = argc > 2 ? atoi(argv[2]) : 100, ok = 0, err = 0;
                pid_t kids[4096];
                for (int i = 0; i < n && i < 4096; i++) {
                        pid_t p = fork();
                        if (p == 0) {
                                pause();
                                _exit(0);
                        }
                        if (p < 0) {
                                err = errno;
                                break;
                        }
                        kids[ok++] = p;
                }
                printf("forked=%d fork_error=%s\n", ok, err ? strerrorname_np(err) : "none");
                for (int i = 0; i < ok; i++)
                        kill(kids[i], SIGKILL);
                while (wait(NULL) > 0)
                        ;
                return 0;
        }
        if (strcmp(mode, "burn") == 0) { /* burn SECONDS: spin, report CPU time / wall time */
                double secs = argc > 2 ? atof(argv[2]) : 5, w0 = now(CLOCK_MONOTONIC), c0 = now(CLOCK_PROCESS_CPUTIME_ID);
                volatile unsigned long x = 0;
                while (now(CLOCK_MONOTONIC) - w0 < secs)
                        for (int i = 0; i < 100000; i++)
                                x++;
                double pct = 100 * (now(CLOCK_PROCESS_CPUTIME_ID) - c0) / (now(CLOCK_MONOTONIC) - w0);
                printf("cpu_pct=%d\n", (int)(pct + 0.5));
                return 0;
        }
        if (strcmp(mode, "time") == 0 && argc > 4 && strcmp(argv[3], "--") == 0) {
                /* time N -- ARGV...: run ARGV N times (stdout/stderr to /dev/null),
                 * print the p50 of the whole runs in ms; exit 1 when one fails. */
                int n = atoi(argv[2]);
                if (n < 1 || n > 10000)
                        return 2;
                double *t = calloc((size_t)n, sizeof(double));
                if (!t)
                        return 1;
                for (int i = 0; i < n; i++) {
                        double t0 = now(CLOCK_MONOTONIC);
                        pid_t p = fork();
                        if (p == 0) {
                                freopen("/dev/null", "w", stdout);
                                freopen("/dev/null", "w", stderr);
                                execv(argv[4], &argv[4]);
                                _exit(127);
                        }
                        int st;
                        if (p < 0 || waitpid(p, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
                                fprintf(stderr, "probe time: run %d of %s failed\n", i, argv[4]);
                                return 1;
                        }
                        t[i] = (now(CLOCK_MONOTONIC) - t0) * 1e3;
                }
                for (int i = 1; i < n; i++) /* insertion sort: n is small */
                        for (int j = i; j > 0 && t[j - 1] > t[j]; j--) {
                                double x = t[j];
                                t[j] = t[j - 1];
                                t[j - 1] = x;
                        }
                printf("p50_ms=%.2f\n", t[n / 2]);
                return 0;
        }
        if (strcmp(mode, "as") == 0 && argc > 5 && strcmp(argv[4], "open") == 0) {
                /* as UID GID open PATH...: as that user (no other group), open each
                 * path read-only and print PATH=ALLOWED or the errno's name. */
                uid_t uid = (uid_t)atol(argv[2]);
                gid_t gid = (gid_t)atol(argv[3]);
                if (setgroups(0, NULL) < 0 || setresgid(gid, gid, gid) < 0 || setresuid(uid, uid, uid) < 0) {
                        perror("probe as");
                        return 3;
                }
                for (int i = 5; i < argc; i++) {
                        int fd = open(argv[i], O_RDONLY | O_CLOEXEC);
                        printf("%s=%s\n", argv[i], ename(fd < 0 ? -1 : 0));
                        if (fd >= 0)
                                close(fd);
                }
                return 0;
        }
        fprintf(stderr, "usage: probe syscalls | alloc MB | forks N | burn SECONDS | time N -- ARGV... | as UID GID "
                        "open PATH...\n");
        return 2;
}
