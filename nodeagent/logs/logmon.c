/* logmon.c - the log collector process: FIFOs in, rotated files out (see logmon.h). */
#include "nodeagent/logs/logmon.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/error.h"
#include "common/macros.h"
#include "nodeagent/util.h"

#define COMM "drover-logmon"
#define READY_TIMEOUT_MS 2000
#define STOP_WAIT_MS 1000
#define NAME_MAX_ 512

/* ---- the collector (after fork: no malloc, no stdio) -------------------------------- */

struct stream {
        const char *task, *type;
        int fifo;
        int fd;
        long index;
        int64_t size;
};

struct collector {
        int dirfd;
        int max_files;
        int64_t max_size;
        struct stream s[2];
};

static volatile sig_atomic_t stop_requested;

static void on_term(int sig) {
        (void)sig;
        stop_requested = 1;
}

/* dst = a + b (+ c ...), bounded; async-signal-safe. */
static void cat3(char *dst, size_t size, const char *a, const char *b, const char *c) {
        size_t k = 0;
        for (const char *parts[] = {a, b, c}, **p = parts; p < parts + 3; p++)
                for (const char *s = *p; s && *s && k + 1 < size; s++)
                        dst[k++] = *s;
        dst[k] = '\0';
}

static void ltoa_(long v, char *buf) {
        char tmp[24];
        int n = 0;
        if (v < 0)
                v = 0;
        do {
                tmp[n++] = (char)('0' + v % 10);
                v /= 10;
        } while (v);
        for (int i = 0; i < n; i++)
                buf[i] = tmp[n - 1 - i];
        buf[n] = '\0';
}

static void file_name(const struct stream *st, long index, char *out, size_t size) {
        char num[24], mid[NAME_MAX_];
        ltoa_(index, num);
        cat3(mid, sizeof(mid), st->task, ".", st->type);
        cat3(out, size, mid, ".", num);
}

static int open_current(struct collector *c, struct stream *st) {
        char name[NAME_MAX_];
        file_name(st, st->index, name, sizeof(name));
        st->fd = openat(c->dirfd, name, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0644);
        if (st->fd < 0)
                return -errno;
        struct stat sb;
        st->size = fstat(st->fd, &sb) == 0 ? sb.st_size : 0;
        return 0;
}

static void rotate(struct collector *c, struct stream *st) {
        close(st->fd);
        st->index++;
        if (open_current(c, st) < 0)
                st->fd = -1;
        long old = st->index - c->max_files;
        if (old >= 0) {
                char name[NAME_MAX_];
                file_name(st, old, name, sizeof(name));
                unlinkat(c->dirfd, name, 0);
        }
}

static void write_all(int fd, const char *p, size_t n) {
        while (n > 0 && fd >= 0) {
                ssize_t w = write(fd, p, n);
                if (w < 0) {
                        if (errno == EINTR)
                                continue;
                        return; /* a full disk drops output rather than blocking the task */
                }
                p += w;
                n -= (size_t)w;
        }
}

static void take(struct collector *c, struct stream *st, const char *p, size_t n) {
        while (n > 0) {
                if (st->fd < 0 || st->size >= c->max_size)
                        rotate(c, st);
                if (st->fd < 0)
                        return;
                size_t room = (size_t)(c->max_size - st->size), chunk = n < room ? n : room;
                write_all(st->fd, p, chunk);
                st->size += (int64_t)chunk;
                p += chunk;
                n -= chunk;
                if (st->size >= c->max_size)
                        rotate(c, st);
        }
}

/* Read what is there; returns false at EOF or error. */
static bool pump(struct collector *c, struct stream *st, char *buf, size_t size) {
        for (;;) {
                ssize_t n = read(st->fifo, buf, size);
                if (n > 0) {
                        take(c, st, buf, (size_t)n);
                        if ((size_t)n < size)
                                return true;
                        continue;
                }
                if (n < 0 && errno == EINTR)
                        continue;
                return n < 0 && errno == EAGAIN;
        }
}

/* In the forked collector: close every descriptor from 3 up except keep[] (sorted
 * here in place). close_range(2) does it in a few calls; one close() per possible
 * descriptor (up to RLIMIT_NOFILE, often 20,000 or more) cost every task start
 * milliseconds on the agent's loop. Async-signal-safe: no allocation. */
static void close_fds_from_to(unsigned lo, unsigned hi) {
        if (lo > hi)
                return;
        if (syscall(SYS_close_range, lo, hi, 0) == 0)
                return;
        long maxfd = sysconf(_SC_OPEN_MAX);
        unsigned top = maxfd > 0 && maxfd < 65536 ? (unsigned)maxfd : 65536;
        for (unsigned fd = lo; fd <= hi && fd < top; fd++)
                close((int)fd);
}

static void close_all_but(int *keep, size_t n) {
        for (size_t i = 1; i < n; i++) /* insertion sort: n is a handful */
                for (size_t j = i; j > 0 && keep[j - 1] > keep[j]; j--) {
                        int t = keep[j];
                        keep[j] = keep[j - 1];
                        keep[j - 1] = t;
                }
        unsigned lo = 3;
        for (size_t i = 0; i < n; i++) {
                if (keep[i] < 0 || (unsigned)keep[i] < lo)
                        continue;
                if ((unsigned)keep[i] > lo)
                        close_fds_from_to(lo, (unsigned)keep[i] - 1);
                lo = (unsigned)keep[i] + 1;
        }
        close_fds_from_to(lo, ~0U);
}

static __attribute__((noreturn)) void collector_main(struct collector *c, int ready_fd, const char *pidfile) {
        static char buf[65536];
        struct sigaction sa = {.sa_handler = SIG_DFL};
        for (int sig = 1; sig < 32; sig++)
                if (sig != SIGKILL && sig != SIGSTOP)
                        sigaction(sig, &sa, NULL);
        sa.sa_handler = SIG_IGN;
        sigaction(SIGPIPE, &sa, NULL);
        sa.sa_handler = on_term;
        sigaction(SIGTERM, &sa, NULL);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        prctl(PR_SET_NAME, COMM, 0, 0, 0);
        for (int i = 0; i < 2; i++)
                if (open_current(c, &c->s[i]) < 0)
                        c->s[i].fd = -1;
        /* The pid file says who we are, for logmon_stop and the next logmon_ensure. */
        char pid[24], tmp[NAME_MAX_ + 8];
        ltoa_((long)getpid(), pid);
        size_t plen = strlen(pid);
        pid[plen++] = '\n';
        cat3(tmp, sizeof(tmp), pidfile, ".tmp", NULL);
        int pf = openat(c->dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
        if (pf >= 0) {
                write_all(pf, pid, plen);
                close(pf);
                renameat(c->dirfd, tmp, c->dirfd, pidfile);
        }
        write_all(ready_fd, "1", 1);
        close(ready_fd);
        while (!stop_requested) {
                struct pollfd p[2] = {{.fd = c->s[0].fifo, .events = POLLIN}, {.fd = c->s[1].fifo, .events = POLLIN}};
                int r = poll(p, 2, 1000);
                if (r < 0 && errno != EINTR)
                        break;
                if (r == 0) {
                        struct stat sb;
                        if (fstat(c->dirfd, &sb) < 0 || sb.st_nlink == 0)
                                _exit(0); /* the allocation directory was collected */
                        continue;
                }
                for (int i = 0; i < 2; i++)
                        if (r > 0 && (p[i].revents & (POLLIN | POLLHUP)))
                                pump(c, &c->s[i], buf, sizeof(buf));
        }
        for (int i = 0; i < 2; i++)
                pump(c, &c->s[i], buf, sizeof(buf));
        unlinkat(c->dirfd, pidfile, 0);
        _exit(0);
}

/* ---- the agent's side ---------------------------------------------------------------- */

static int read_pid(const char *dir, const char *task, pid_t *ret) {
        char path[4200], buf[32];
        snprintf(path, sizeof(path), "%s/.%s.logmon.pid", dir, task);
        if (read_small_file(path, buf, sizeof(buf)) <= 0)
                return -ENOENT;
        long pid = strtol(buf, NULL, 10);
        if (pid <= 1)
                return -EINVAL;
        /* Ours only if it still is a collector (pids get reused). */
        char comm_path[64], comm[32];
        snprintf(comm_path, sizeof(comm_path), "/proc/%ld/comm", pid);
        if (read_small_file(comm_path, comm, sizeof(comm)) <= 0 || strncmp(comm, COMM, strlen(COMM)) != 0)
                return -ESRCH;
        *ret = (pid_t)pid;
        return 0;
}

int logmon_file_range(const char *dir, const char *task, const char *type, long *ret_first, long *ret_last) {
        DIR *d = opendir(dir);
        if (!d)
                return -errno;
        char prefix[NAME_MAX_];
        int plen = snprintf(prefix, sizeof(prefix), "%s.%s.", task, type);
        long first = -1, last = -1;
        struct dirent *de;
        while ((de = readdir(d))) {
                if (strncmp(de->d_name, prefix, (size_t)plen) != 0)
                        continue;
                const char *num = de->d_name + plen;
                char *end;
                long v = strtol(num, &end, 10);
                if (end == num || *end || *num == '-' || *num == '+')
                        continue;
                if (first < 0 || v < first)
                        first = v;
                if (v > last)
                        last = v;
        }
        closedir(d);
        if (first < 0)
                return -ENOENT;
        *ret_first = first;
        *ret_last = last;
        return 0;
}

int64_t logmon_max_file_size(const char *dir, const char *task) {
        char path[4200], buf[64];
        snprintf(path, sizeof(path), "%s/.%s.logmeta", dir, task);
        if (read_small_file(path, buf, sizeof(buf)) <= 0)
                return 0;
        long long v = strtoll(buf, NULL, 10);
        return v > 0 ? v : 0;
}

static int make_fifo(const char *path, struct error *err) {
        struct stat sb;
        if (lstat(path, &sb) == 0) {
                if (S_ISFIFO(sb.st_mode))
                        return 0;
                if (unlink(path) < 0)
                        return errorf(err, -errno, "remove %s: %s", path, strerror(errno));
        }
        if (mkfifo(path, 0600) < 0 && errno != EEXIST)
                return errorf(err, -errno, "mkfifo %s: %s", path, strerror(errno));
        return 0;
}

int logmon_ensure(const struct logmon_config *cfg, char *ret_stdout, char *ret_stderr, struct error *err) {
        char fifo[2][LOGMON_PATH], meta[LOGMON_PATH], tmp[LOGMON_PATH + 8];
        const char *types[2] = {"stdout", "stderr"};
        int max_files = cfg->max_files > 0 ? cfg->max_files : LOGMON_DEFAULT_MAX_FILES;
        int64_t max_size = cfg->max_file_size > 0 ? cfg->max_file_size : LOGMON_DEFAULT_MAX_FILE_SIZE;
        for (int i = 0; i < 2; i++) {
                snprintf(fifo[i], sizeof(fifo[i]), "%s/.%s.%s.fifo", cfg->dir, cfg->task, types[i]);
                int r = make_fifo(fifo[i], err);
                if (r < 0)
                        return r;
        }
        snprintf(meta, sizeof(meta), "%s/.%s.logmeta", cfg->dir, cfg->task);
        snprintf(tmp, sizeof(tmp), "%s.tmp", meta);
        FILE *f = fopen(tmp, "we");
        if (!f || fprintf(f, "%lld %d\n", (long long)max_size, max_files) < 0 || fclose(f) != 0 ||
            rename(tmp, meta) < 0)
                return errorf(err, -EIO, "write %s: %s", meta, strerror(errno ? errno : EIO));
        pid_t running;
        if (read_pid(cfg->dir, cfg->task, &running) == 0)
                goto done;

        /* Everything the collector needs is made here, before the fork. */
        struct collector c = {.max_files = max_files, .max_size = max_size};
        c.dirfd = open(cfg->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (c.dirfd < 0)
                return errorf(err, -errno, "open %s: %s", cfg->dir, strerror(errno));
        for (int i = 0; i < 2; i++) {
                long first, last;
                c.s[i] = (struct stream){.task = cfg->task, .type = types[i], .fd = -1, .index = 0};
                if (logmon_file_range(cfg->dir, cfg->task, types[i], &first, &last) == 0)
                        c.s[i].index = last;
                /* Read and write: the FIFO never reports EOF between task restarts. */
                c.s[i].fifo = open(fifo[i], O_RDWR | O_NONBLOCK | O_CLOEXEC);
                if (c.s[i].fifo < 0) {
                        int e = errno;
                        if (i)
                                close(c.s[0].fifo);
                        close(c.dirfd);
                        return errorf(err, -e, "open %s: %s", fifo[i], strerror(e));
                }
        }
        char pidfile[NAME_MAX_ + 32];
        snprintf(pidfile, sizeof(pidfile), ".%s.logmon.pid", cfg->task);
        int ready[2];
        int r = 0;
        if (pipe2(ready, O_CLOEXEC) < 0) {
                r = errorf(err, -errno, "pipe: %s", strerror(errno));
                goto out;
        }
        pid_t pid = fork();
        if (pid < 0) {
                r = errorf(err, -errno, "fork: %s", strerror(errno));
                close(ready[0]);
                close(ready[1]);
                goto out;
        }
        if (pid == 0) {
                /* Detach: a session of its own, and a grandchild that init reaps. */
                setsid();
                if (fork() != 0)
                        _exit(0);
                close(ready[0]);
                int keep[] = {c.dirfd, c.s[0].fifo, c.s[1].fifo, ready[1]};
                /* Every other descriptor of the agent (sockets, the state db) is closed. */
                close_all_but(keep, ARRAY_SIZE(keep));
                int devnull = open("/dev/null", O_RDWR);
                if (devnull >= 0) {
                        dup2(devnull, 0);
                        dup2(devnull, 1);
                        dup2(devnull, 2);
                        if (devnull > 2)
                                close(devnull);
                }
                collector_main(&c, ready[1], pidfile);
        }
        close(ready[1]);
        waitpid(pid, NULL, 0);
        struct pollfd p = {.fd = ready[0], .events = POLLIN};
        char b = 0;
        if (poll(&p, 1, READY_TIMEOUT_MS) != 1 || read(ready[0], &b, 1) != 1)
                r = errorf(err, -ETIMEDOUT, "the log collector of task %s did not start", cfg->task);
        close(ready[0]);
out:
        close(c.dirfd);
        close(c.s[0].fifo);
        close(c.s[1].fifo);
        if (r < 0)
                return r;
done:
        memcpy(ret_stdout, fifo[0], LOGMON_PATH);
        memcpy(ret_stderr, fifo[1], LOGMON_PATH);
        return 0;
}

int logmon_signal(const char *dir, const char *task) {
        pid_t pid;
        int r = read_pid(dir, task, &pid);
        if (r < 0)
                return r;
        /* Watch it before the signal, so that its exit cannot be missed. */
        int pfd = (int)syscall(SYS_pidfd_open, pid, 0);
        if (kill(pid, SIGTERM) < 0) {
                r = -errno;
                if (pfd >= 0)
                        close(pfd);
                return r;
        }
        return pfd >= 0 ? pfd : -ENOSYS;
}

void logmon_stop(const char *dir, const char *task) {
        pid_t pid;
        if (read_pid(dir, task, &pid) < 0)
                return;
        int pfd = logmon_signal(dir, task);
        /* Wait (briefly) until it has written what the task left in the FIFO, so
         * that whoever reads the logs of a dead task reads all of them. */
        if (pfd >= 0) {
                struct pollfd p = {.fd = pfd, .events = POLLIN};
                poll(&p, 1, STOP_WAIT_MS);
                close(pfd);
                return;
        }
        for (int i = 0; i < STOP_WAIT_MS / 5 && kill(pid, 0) == 0; i++)
                usleep(5000);
}
