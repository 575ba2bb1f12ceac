/* logmon_collector.c - the log collector process: what runs after the fork (see
 * logmon.h). It reads tasks' FIFOs into rotated files, starts, reaps and records
 * the exit of the tasks it is asked to spawn (.drover-exit), and serves the
 * agents connected to it; no malloc and no stdio here. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h> /* snprintf, renameat */
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include "nodeagent/logs/logmon_int.h"

/* ---- the collector (after fork: no malloc, no stdio) -------------------------------------- */

struct stream {
        int fifo;
        int fd;
        bool opened; /* its current file was opened (made on the first output: a task that writes nothing gets no file) */
        long index;
        int64_t size;
};

struct task {
        bool used;
        int dirfd;
        dev_t dev; /* of the stdout FIFO: the task's identity */
        ino_t ino;
        int max_files;
        int64_t max_size;
        char name[LOGMON_TASK_MAX];
        struct stream s[2];
};

/* epoll data: kind in the high bits, slot below. */
enum { EV_LISTEN = 1, EV_CLIENT = 2, EV_FIFO = 3, EV_SIGCHLD = 4 };
#define EV(kind, slot) (((uint64_t)(kind) << 32) | (uint32_t)(slot))

static struct task tasks[LOGMON_MAX_TASKS];
static int n_tasks;
static int clients[MAX_CLIENTS];
/* Tasks it started: it is their parent, reaps them and writes their exit status. */
static struct child {
        pid_t pid;
        int dirfd;
        int killfd; /* its cgroup's cgroup.kill (a task started into a cgroup), else -1 */
} children[LOGMON_MAX_TASKS];
static int n_children;
static int sigfd = -1;
static struct spawn_msg spawn_buf;
static char *spawn_argv[LOGMON_SPAWN_ARGS + 1], *spawn_envp[LOGMON_SPAWN_ARGS + 1];
static _Alignas(16) char child_stack[32768];
static volatile int32_t child_stage, child_err; /* written by a failing child (CLONE_VM) */
static int n_clients;
static int epfd;
static char buf[65536];
static volatile sig_atomic_t stop_requested;
/* The signals whose disposition the collector changes (logmon_collector_main);
 * a task it starts resets these before it execs. */
static const int changed_signals[] = {SIGPIPE, SIGHUP, SIGTERM};

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

static void ltoa_(long v, char *out) {
        char tmp[24];
        int n = 0;
        if (v < 0)
                v = 0;
        do {
                tmp[n++] = (char)('0' + v % 10);
                v /= 10;
        } while (v);
        for (int i = 0; i < n; i++)
                out[i] = tmp[n - 1 - i];
        out[n] = '\0';
}

static void file_name(const struct task *t, int type, long index, char *out, size_t size) {
        char num[24], mid[NAME_MAX_];
        ltoa_(index, num);
        cat3(mid, sizeof(mid), t->name, ".", types[type]);
        cat3(out, size, mid, ".", num);
}

static void open_current(struct task *t, int type) {
        struct stream *st = &t->s[type];
        char name[NAME_MAX_];
        file_name(t, type, st->index, name, sizeof(name));
        st->opened = true;
        /* 0600: task output can hold secrets; the agent (root) reads it for the log endpoint. */
        st->fd = openat(t->dirfd, name, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
        struct stat sb;
        bool ok = st->fd >= 0 && fstat(st->fd, &sb) == 0;
        st->size = ok ? sb.st_size : 0;
        if (ok && (sb.st_mode & 077)) /* left world-readable by an older agent */
                fchmod(st->fd, 0600);
}

static void rotate(struct task *t, int type) {
        struct stream *st = &t->s[type];
        if (st->fd >= 0)
                close(st->fd);
        st->index++;
        open_current(t, type);
        long old = st->index - t->max_files;
        if (old >= 0) {
                char name[NAME_MAX_];
                file_name(t, type, old, name, sizeof(name));
                unlinkat(t->dirfd, name, 0);
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

static void take(struct task *t, int type, const char *p, size_t n) {
        struct stream *st = &t->s[type];
        while (n > 0) {
                if (!st->opened)
                        open_current(t, type);
                else if (st->fd < 0 || st->size >= t->max_size)
                        rotate(t, type);
                if (st->fd < 0)
                        return;
                size_t room = (size_t)(t->max_size - st->size), chunk = n < room ? n : room;
                write_all(st->fd, p, chunk);
                st->size += (int64_t)chunk;
                p += chunk;
                n -= chunk;
                if (st->size >= t->max_size)
                        rotate(t, type);
        }
}

/* Read what the FIFO holds (it is non-blocking). */
static void pump(struct task *t, int type) {
        for (int rounds = 0; rounds < 64; rounds++) { /* bounded: other tasks get their turn */
                ssize_t n = read(t->s[type].fifo, buf, sizeof(buf));
                if (n > 0) {
                        take(t, type, buf, (size_t)n);
                        continue;
                }
                if (n < 0 && errno == EINTR)
                        continue;
                return;
        }
}

static void drop_task(int slot) {
        struct task *t = &tasks[slot];
        for (int i = 0; i < 2; i++) {
                epoll_ctl(epfd, EPOLL_CTL_DEL, t->s[i].fifo, NULL);
                close(t->s[i].fifo);
                if (t->s[i].fd >= 0)
                        close(t->s[i].fd);
        }
        close(t->dirfd);
        t->used = false;
        n_tasks--;
}

void logmon_close_fds(const int *fds, int n) {
        for (int i = 0; i < n; i++)
                if (fds[i] >= 0)
                        close(fds[i]);
}

static int find_task(dev_t dev, ino_t ino) {
        for (int i = 0; i < LOGMON_MAX_TASKS; i++)
                if (tasks[i].used && tasks[i].dev == dev && tasks[i].ino == ino)
                        return i;
        return -1;
}

static void do_open(const struct msg *m, int *fds, int nfds) {
        struct stat sb;
        if (nfds != 3 || fstat(fds[1], &sb) < 0 || !S_ISFIFO(sb.st_mode) || m->max_files < 1 || m->max_size < 1 ||
            memchr(m->task, '\0', sizeof(m->task)) == NULL || find_task(sb.st_dev, sb.st_ino) >= 0) {
                logmon_close_fds(fds, nfds); /* bad, or served already (a restarted agent, a restarted task) */
                return;
        }
        int slot = -1;
        for (int i = 0; i < LOGMON_MAX_TASKS && slot < 0; i++)
                if (!tasks[i].used)
                        slot = i;
        if (slot < 0) {
                logmon_close_fds(fds, nfds);
                return;
        }
        struct task *t = &tasks[slot];
        *t = (struct task){.used = true, .dirfd = fds[0], .dev = sb.st_dev, .ino = sb.st_ino,
                           .max_files = m->max_files, .max_size = m->max_size};
        memcpy(t->name, m->task, sizeof(t->name));
        n_tasks++;
        for (int i = 0; i < 2; i++) {
                t->s[i].fifo = fds[1 + i];
                t->s[i].index = m->index[i] > 0 ? (long)m->index[i] : 0;
                t->s[i].fd = -1; /* opened on the first output (take) */
                struct epoll_event ev = {.events = EPOLLIN, .data.u64 = EV(EV_FIFO, slot * 2 + i)};
                epoll_ctl(epfd, EPOLL_CTL_ADD, t->s[i].fifo, &ev);
        }
}

static void do_stop(int *fds, int nfds) {
        struct stat sb;
        if (nfds == 2 && fstat(fds[0], &sb) == 0) {
                int slot = find_task(sb.st_dev, sb.st_ino);
                if (slot >= 0) {
                        pump(&tasks[slot], 0);
                        pump(&tasks[slot], 1);
                        drop_task(slot);
                }
        }
        logmon_close_fds(fds, nfds); /* the ack: the agent's end reads EOF */
}

/* ---- tasks started by the collector ------------------------------------------------------------ */

struct spawn_child {
        const char *path, *cwd;
        int fds[5]; /* exit dir, stdin, stdout, stderr, cgroup.procs or -1 */
};

static __attribute__((noreturn)) void spawn_fail(int32_t stage) {
        child_err = errno;
        child_stage = stage;
        _exit(127);
}

/* The task, on child_stack in the collector's memory until it execs (CLONE_VM |
 * CLONE_VFORK). Async-signal-safe calls only. */
static int spawn_child_main(void *arg) {
        const struct spawn_child *sc = arg;
        /* Every other signal is at its default already (logmon_collector_main). */
        struct sigaction dfl = {.sa_handler = SIG_DFL};
        for (size_t i = 0; i < sizeof(changed_signals) / sizeof(changed_signals[0]); i++)
                sigaction(changed_signals[i], &dfl, NULL);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        if (sc->fds[4] >= 0 && write(sc->fds[4], "0", 1) != 1)
                spawn_fail(LOGMON_STAGE_CGROUP);
        if (setsid() < 0)
                spawn_fail(LOGMON_STAGE_SETSID);
        for (int i = 0; i < 3; i++)
                if (dup2(sc->fds[1 + i], i) < 0)
                        spawn_fail(LOGMON_STAGE_STDIO);
        if (chdir(sc->cwd) < 0)
                spawn_fail(LOGMON_STAGE_CHDIR);
        execve(sc->path, spawn_argv, spawn_envp);
        spawn_fail(LOGMON_STAGE_EXEC);
}

static void send_reply(int client, const struct reply *r, int pidfd) {
        union {
                struct cmsghdr h;
                char b[CMSG_SPACE(sizeof(int))];
        } cbuf;
        memset(&cbuf, 0, sizeof(cbuf));
        struct iovec iov = {.iov_base = (void *)r, .iov_len = sizeof(*r)};
        struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
        if (pidfd >= 0) {
                mh.msg_control = cbuf.b;
                mh.msg_controllen = sizeof(cbuf.b);
                struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
                c->cmsg_level = SOL_SOCKET;
                c->cmsg_type = SCM_RIGHTS;
                c->cmsg_len = CMSG_LEN(sizeof(int));
                memcpy(CMSG_DATA(c), &pidfd, sizeof(int));
        }
        ssize_t n = sendmsg(client, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
        (void)n;
}

/* Split spawn_buf.data into path, cwd, argv and envp; false when malformed. */
static bool unpack_spawn(size_t n, const char **ret_path, const char **ret_cwd) {
        const struct spawn_msg *m = &spawn_buf;
        if (n < offsetof(struct spawn_msg, data) || m->len > sizeof(m->data) ||
            n != offsetof(struct spawn_msg, data) + m->len || m->argc < 1 || m->argc > LOGMON_SPAWN_ARGS ||
            m->envc > LOGMON_SPAWN_ARGS)
                return false;
        const char *p = m->data, *end = m->data + m->len;
        const char *strs[2 + 2 * LOGMON_SPAWN_ARGS];
        uint32_t want = 2 + m->argc + m->envc;
        for (uint32_t i = 0; i < want; i++) {
                const char *z = p < end ? memchr(p, '\0', (size_t)(end - p)) : NULL;
                if (!z)
                        return false;
                strs[i] = p;
                p = z + 1;
        }
        *ret_path = strs[0];
        *ret_cwd = strs[1];
        for (uint32_t i = 0; i < m->argc; i++)
                spawn_argv[i] = (char *)strs[2 + i];
        spawn_argv[m->argc] = NULL;
        for (uint32_t i = 0; i < m->envc; i++)
                spawn_envp[i] = (char *)strs[2 + m->argc + i];
        spawn_envp[m->envc] = NULL;
        return true;
}

/* cgroup.kill next to the cgroup.procs the task joined (fds[4]), found through
 * /proc/self/fd; -1 without a cgroup, or where that cannot be opened. */
static int open_cgroup_kill(const int *fds, int nfds) {
        if (nfds < 5 || fds[4] < 0)
                return -1;
        char link[64], path[4096];
        snprintf(link, sizeof(link), "/proc/self/fd/%d", fds[4]);
        ssize_t n = readlink(link, path, sizeof(path) - 1);
        static const char procs[] = "/cgroup.procs";
        size_t pl = sizeof(procs) - 1;
        if (n <= (ssize_t)pl || (size_t)n + 1 >= sizeof(path))
                return -1;
        path[n] = '\0';
        if (strcmp(path + n - (ssize_t)pl, procs) != 0)
                return -1;
        snprintf(path + n - (ssize_t)pl, sizeof(path) - (size_t)n + pl, "/cgroup.kill");
        return open(path, O_WRONLY | O_CLOEXEC);
}

static void do_spawn(int client, size_t n, int *fds, int nfds) {
        struct reply r = {.op = OP_SPAWNED, .seq = spawn_buf.seq, .stage = LOGMON_STAGE_PROTOCOL, .err = EINVAL};
        struct spawn_child sc = {.fds = {-1, -1, -1, -1, -1}};
        int slot = -1;
        for (int i = 0; i < LOGMON_MAX_TASKS && slot < 0; i++)
                if (children[i].pid == 0)
                        slot = i;
        if (slot < 0) {
                r.err = EAGAIN;
        } else if ((nfds == 4 || nfds == 5) && unpack_spawn(n, &sc.path, &sc.cwd)) {
                for (int i = 0; i < nfds; i++)
                        sc.fds[i] = fds[i];
                sigset_t all, saved;
                sigfillset(&all);
                sigprocmask(SIG_SETMASK, &all, &saved);
                child_stage = 0;
                child_err = 0;
                pid_t pid = clone(spawn_child_main, child_stack + sizeof(child_stack), CLONE_VM | CLONE_VFORK | SIGCHLD,
                                  &sc);
                int e = errno;
                sigprocmask(SIG_SETMASK, &saved, NULL);
                if (pid < 0) {
                        r.stage = LOGMON_STAGE_FORK;
                        r.err = e;
                } else if (child_stage != 0) {
                        r.stage = child_stage; /* it exited 127; reaped with the others */
                        r.err = child_err;
                } else {
                        /* Not reaped yet (only the loop reaps), so the pid is still ours. */
                        int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
                        children[slot] = (struct child){.pid = pid, .dirfd = fds[0], .killfd = open_cgroup_kill(fds, nfds)};
                        fds[0] = -1;
                        n_children++;
                        r.pid = pid;
                        r.stage = 0;
                        r.err = 0;
                        send_reply(client, &r, pidfd);
                        if (pidfd >= 0)
                                close(pidfd);
                        logmon_close_fds(fds, nfds);
                        return;
                }
        }
        logmon_close_fds(fds, nfds);
        send_reply(client, &r, -1);
}

static void write_status_file(int dirfd, pid_t pid, int status) {
        char line[64], num[24];
        size_t k = 0;
        long fields[3] = {pid, WIFEXITED(status) ? WEXITSTATUS(status) : 0, WIFSIGNALED(status) ? WTERMSIG(status) : 0};
        for (int i = 0; i < 3; i++) {
                ltoa_(fields[i], num);
                for (const char *c = num; *c && k < sizeof(line) - 2; c++)
                        line[k++] = *c;
                line[k++] = i < 2 ? ' ' : '\n';
        }
        if (fsetxattr(dirfd, LOGMON_EXIT_XATTR, line, k, 0) == 0)
                return;
        int fd = openat(dirfd, LOGMON_EXIT_FILE ".tmp", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0)
                return;
        write_all(fd, line, k);
        close(fd);
        renameat(dirfd, LOGMON_EXIT_FILE ".tmp", dirfd, LOGMON_EXIT_FILE);
}

static void reap_children(void);

/* SIGCHLD: reap every child that ended and record how. */
static void reap(void) {
        struct signalfd_siginfo si;
        while (read(sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si))
                ;
        reap_children();
}

/* Without a signalfd: once a second (the loop's timeout). */
static void reap_without_signalfd(void) {
        reap_children();
}

static void reap_children(void) {
        for (;;) {
                int status;
                pid_t pid = waitpid(-1, &status, WNOHANG);
                if (pid <= 0)
                        return;
                for (int i = 0; i < LOGMON_MAX_TASKS; i++)
                        if (children[i].pid == pid) {
                                write_status_file(children[i].dirfd, pid, status);
                                close(children[i].dirfd);
                                if (children[i].killfd >= 0)
                                        close(children[i].killfd);
                                children[i] = (struct child){0};
                                n_children--;
                                break;
                        }
        }
}

/* One message from a client; false when the client is gone. */
static bool serve(int fd) {
        union {
                struct cmsghdr h;
                char b[CMSG_SPACE(sizeof(int) * 8)];
        } cbuf;
        struct iovec iov = {.iov_base = &spawn_buf, .iov_len = sizeof(spawn_buf)};
        struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf.b, .msg_controllen = sizeof(cbuf.b)};
        ssize_t n = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
        if (n < 0)
                return errno == EAGAIN || errno == EINTR;
        if (n == 0)
                return false;
        int fds[8] = {-1, -1, -1, -1, -1, -1, -1, -1}, nfds = logmon_take_fds(&mh, fds, 8);
        struct msg m;
        memcpy(&m, &spawn_buf, sizeof(m) < (size_t)n ? sizeof(m) : (size_t)n);
        if (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC))
                logmon_close_fds(fds, nfds);
        else if (n == (ssize_t)sizeof(m) && m.op == OP_OPEN)
                do_open(&m, fds, nfds);
        else if (n == (ssize_t)sizeof(m) && m.op == OP_STOP)
                do_stop(fds, nfds);
        else if (spawn_buf.op == OP_SPAWN)
                do_spawn(fd, (size_t)n, fds, nfds);
        else
                logmon_close_fds(fds, nfds);
        return true;
}

static void accept_clients(int lfd) {
        for (;;) {
                int c = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
                if (c < 0)
                        return;
                struct ucred cred;
                socklen_t len = sizeof(cred);
                if (n_clients == MAX_CLIENTS || getsockopt(c, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0 ||
                    cred.uid != geteuid()) {
                        close(c);
                        continue;
                }
                int slot = 0;
                while (clients[slot] >= 0)
                        slot++;
                clients[slot] = c;
                n_clients++;
                /* Hello: who we are (SO_PEERCRED names whoever called listen(), the
                 * agent that started us). */
                struct reply hello = {.op = OP_HELLO, .pid = (int32_t)getpid()};
                send_reply(c, &hello, -1);
                struct epoll_event ev = {.events = EPOLLIN, .data.u64 = EV(EV_CLIENT, slot)};
                epoll_ctl(epfd, EPOLL_CTL_ADD, c, &ev);
        }
}

/* Tasks whose log directory was removed (the allocation was collected) are forgotten.
 * Tasks it started whose directory was removed (the allocation's directory, or the
 * agent's whole data directory, is gone: nobody will ever ask for their status)
 * are killed: their whole cgroup (cgroup.kill) when they were started into one,
 * else their process group (they called setsid); they are reaped as usual. */
static void sweep(void) {
        for (int i = 0; i < LOGMON_MAX_TASKS; i++) {
                struct stat sb;
                if (tasks[i].used && (fstat(tasks[i].dirfd, &sb) < 0 || sb.st_nlink == 0))
                        drop_task(i);
        }
        for (int i = 0; i < LOGMON_MAX_TASKS && n_children > 0; i++) {
                struct stat sb;
                if (children[i].pid > 0 && (fstat(children[i].dirfd, &sb) < 0 || sb.st_nlink == 0)) {
                        /* In a cgroup: all of it, a child that left the process
                         * group (setsid) included. */
                        if (children[i].killfd < 0 || pwrite(children[i].killfd, "1", 1, 0) != 1)
                                kill(-children[i].pid, SIGKILL);
                        kill(children[i].pid, SIGKILL);
                }
        }
}

int logmon_take_fds(struct msghdr *mh, int *fds, int max) {
        int nfds = 0;
        for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR(mh, c))
                if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
                        int k = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
                        for (int i = 0; i < k; i++) {
                                int f;
                                memcpy(&f, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
                                if (nfds < max)
                                        fds[nfds++] = f;
                                else
                                        close(f);
                        }
                }
        return nfds;
}

int64_t logmon_now_ms(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* In the forked collector: close every descriptor from lo up (close_range(2), one
 * close() per possible descriptor where it is missing). Async-signal-safe. */
void logmon_close_fds_from(unsigned lo) {
        if (syscall(SYS_close_range, lo, ~0U, 0) == 0)
                return;
        long maxfd = sysconf(_SC_OPEN_MAX);
        unsigned top = maxfd > 0 && maxfd < 65536 ? (unsigned)maxfd : 65536;
        for (unsigned fd = lo; fd < top; fd++)
                close((int)fd);
}

__attribute__((noreturn)) void logmon_collector_main(int lfd) {
        /* Every signal at its default but changed_signals, so that a task it starts
         * needs only those reset (one sigaction each, not one per signal). */
        struct sigaction sa = {.sa_handler = SIG_DFL};
        for (int sig = 1; sig < NSIG; sig++)
                if (sig != SIGKILL && sig != SIGSTOP)
                        sigaction(sig, &sa, NULL);
        sa.sa_handler = SIG_IGN;
        sigaction(SIGPIPE, &sa, NULL);
        sigaction(SIGHUP, &sa, NULL);
        sa.sa_handler = on_term;
        sigaction(SIGTERM, &sa, NULL);
        sigset_t chld;
        sigemptyset(&chld);
        sigaddset(&chld, SIGCHLD);
        sigprocmask(SIG_SETMASK, &chld, NULL); /* SIGCHLD through sigfd only */
        prctl(PR_SET_NAME, COMM, 0, 0, 0);
        for (int i = 0; i < MAX_CLIENTS; i++)
                clients[i] = -1;
        epfd = epoll_create1(EPOLL_CLOEXEC);
        if (epfd < 0)
                _exit(1);
        struct epoll_event ev = {.events = EPOLLIN, .data.u64 = EV(EV_LISTEN, 0)};
        epoll_ctl(epfd, EPOLL_CTL_ADD, lfd, &ev);
        sigfd = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);
        struct epoll_event sev = {.events = EPOLLIN, .data.u64 = EV(EV_SIGCHLD, 0)};
        if (sigfd >= 0)
                epoll_ctl(epfd, EPOLL_CTL_ADD, sigfd, &sev);
        int64_t started = logmon_now_ms(), last_sweep = started;
        bool had_client = false;
        while (!stop_requested) {
                struct epoll_event evs[64];
                int n = epoll_wait(epfd, evs, 64, 1000);
                if (n < 0 && errno != EINTR)
                        break;
                for (int i = 0; i < n; i++) {
                        uint32_t kind = (uint32_t)(evs[i].data.u64 >> 32), slot = (uint32_t)evs[i].data.u64;
                        if (kind == EV_LISTEN) {
                                accept_clients(lfd);
                        } else if (kind == EV_CLIENT) {
                                int fd = clients[slot];
                                for (int k = 0; k < 64 && fd >= 0; k++) { /* a burst of starts: several per wakeup */
                                        if (!serve(fd)) {
                                                epoll_ctl(epfd, EPOLL_CTL_DEL, fd, NULL);
                                                close(fd);
                                                clients[slot] = -1;
                                                n_clients--;
                                                break;
                                        }
                                        struct pollfd p = {.fd = fd, .events = POLLIN};
                                        if (poll(&p, 1, 0) != 1)
                                                break;
                                }
                        } else if (kind == EV_SIGCHLD) {
                                reap();
                        } else if (kind == EV_FIFO && tasks[slot / 2].used) {
                                pump(&tasks[slot / 2], (int)(slot % 2));
                        }
                }
                int64_t now = logmon_now_ms();
                if (now - last_sweep >= 1000) {
                        sweep();
                        last_sweep = now;
                }
                if (n_clients > 0)
                        had_client = true;
                /* No agent and nothing to collect: done (after a grace at start, for the
                 * agent that started it to connect). */
                if (sigfd < 0)
                        reap_without_signalfd();
                if (n_clients == 0 && n_tasks == 0 && n_children == 0 && (had_client || now - started >= IDLE_EXIT_MS)) {
                        accept_clients(lfd); /* one that connected just now keeps it */
                        if (n_clients == 0)
                                break;
                }
        }
        for (int i = 0; i < LOGMON_MAX_TASKS; i++)
                if (tasks[i].used) {
                        pump(&tasks[i], 0);
                        pump(&tasks[i], 1);
                }
        _exit(0);
}
