/* logmon.c - the agent's one log collector process: FIFOs in, rotated files out (see logmon.h). */
#include "nodeagent/logs/logmon.h"

#include <dirent.h>
#include <stddef.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <uv.h>

#include "common/error.h"
#include "common/macros.h"
#include "nodeagent/util.h"

#define COMM "drover-logmon"
#define READY_TIMEOUT_MS 2000
#define STOP_WAIT_MS 1000
#define SPAWN_WAIT_MS 5000
#define IDLE_EXIT_MS 5000 /* a collector nobody connected to exits */
#define MAX_CLIENTS 8
#define NAME_MAX_ 512

/* ---- the protocol ------------------------------------------------------------------------ */

enum { OP_OPEN = 1, OP_STOP = 2, OP_SPAWN = 3, OP_HELLO = 100, OP_SPAWNED = 101 };

/* Agent -> collector, one SOCK_SEQPACKET message each.
 * OP_OPEN carries 3 descriptors: the log directory, the stdout and stderr FIFOs.
 * OP_STOP carries 2: the stdout FIFO (O_PATH: names the task) and the write end
 * of a pipe the collector closes once the task's output is written. */
struct msg {
        uint32_t op;
        int32_t max_files;
        int64_t max_size;
        int64_t index[2]; /* the files to append to first (the agent lists the directory) */
        char task[LOGMON_TASK_MAX];
};

/* OP_SPAWN carries 4 or 5 descriptors: the directory for the exit file, stdin,
 * stdout, stderr, and the task cgroup's cgroup.procs when it has one. data holds
 * path, working directory, argc arguments and envc environment entries, each
 * NUL-terminated. */
struct spawn_msg {
        uint32_t op;
        uint32_t seq; /* echoed in the reply */
        uint32_t argc, envc;
        uint32_t len; /* bytes of data used */
        char data[LOGMON_SPAWN_MAX];
};

/* Collector -> agent: OP_HELLO on connect (pid), OP_SPAWNED for each OP_SPAWN (pid,
 * or stage and errno when it failed; a pidfd of the task with it on success). */
struct reply {
        uint32_t op;
        uint32_t seq;
        int32_t pid;
        int32_t stage; /* enum logmon_spawn_stage, 0 = started */
        int32_t err;
};

/* ---- the collector (after fork: no malloc, no stdio) -------------------------------------- */

struct stream {
        int fifo;
        int fd;
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
static const char *const types[2] = {"stdout", "stderr"};

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
                if (st->fd < 0 || st->size >= t->max_size)
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

static void close_fds(const int *fds, int n) {
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
                close_fds(fds, nfds); /* bad, or served already (a restarted agent, a restarted task) */
                return;
        }
        int slot = -1;
        for (int i = 0; i < LOGMON_MAX_TASKS && slot < 0; i++)
                if (!tasks[i].used)
                        slot = i;
        if (slot < 0) {
                close_fds(fds, nfds);
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
                open_current(t, i);
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
        close_fds(fds, nfds); /* the ack: the agent's end reads EOF */
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
        struct sigaction dfl = {.sa_handler = SIG_DFL};
        for (int sig = 1; sig < NSIG; sig++)
                if (sig != SIGKILL && sig != SIGSTOP)
                        sigaction(sig, &dfl, NULL);
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
                        close_fds(fds, nfds);
                        return;
                }
        }
        close_fds(fds, nfds);
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
        int fds[8] = {-1, -1, -1, -1, -1, -1, -1, -1}, nfds = 0;
        for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c))
                if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
                        int k = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
                        for (int i = 0; i < k; i++) {
                                int f;
                                memcpy(&f, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
                                if (nfds < 8)
                                        fds[nfds++] = f;
                                else
                                        close(f);
                        }
                }
        struct msg m;
        memcpy(&m, &spawn_buf, sizeof(m) < (size_t)n ? sizeof(m) : (size_t)n);
        if (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC))
                close_fds(fds, nfds);
        else if (n == (ssize_t)sizeof(m) && m.op == OP_OPEN)
                do_open(&m, fds, nfds);
        else if (n == (ssize_t)sizeof(m) && m.op == OP_STOP)
                do_stop(fds, nfds);
        else if (spawn_buf.op == OP_SPAWN)
                do_spawn(fd, (size_t)n, fds, nfds);
        else
                close_fds(fds, nfds);
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

static int64_t now_ms(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* In the forked collector: close every descriptor from lo up (close_range(2), one
 * close() per possible descriptor where it is missing). Async-signal-safe. */
static void close_fds_from(unsigned lo) {
        if (syscall(SYS_close_range, lo, ~0U, 0) == 0)
                return;
        long maxfd = sysconf(_SC_OPEN_MAX);
        unsigned top = maxfd > 0 && maxfd < 65536 ? (unsigned)maxfd : 65536;
        for (unsigned fd = lo; fd < top; fd++)
                close((int)fd);
}

static __attribute__((noreturn)) void collector_main(int lfd) {
        struct sigaction sa = {.sa_handler = SIG_DFL};
        for (int sig = 1; sig < 32; sig++)
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
        int64_t started = now_ms(), last_sweep = started;
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
                int64_t now = now_ms();
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

/* ---- the agent's side ---------------------------------------------------------------------- */

/* A spawn sent to the collector and not yet handed back to its caller. */
struct pending {
        struct pending *next;
        uint32_t seq;
        bool answered; /* rep/pidfd hold the answer (or r the failure): deliver it */
        int r;         /* < 0: no answer (the collector died, or did not answer in time) */
        struct reply rep;
        int pidfd;
        int64_t sent_ms;
        logmon_spawn_fn done;
        void *data;
        char path[256]; /* for the error message */
        char why[160];  /* when r < 0 */
};

struct logmon {
        struct sockaddr_un addr;
        socklen_t addr_len;
        uint32_t seq;
        int fd;    /* -1 while not connected */
        pid_t pid; /* the collector's, from its hello; 0 until read */
        /* Asynchronous spawns (logmon_attach): answers are read when the socket is readable. */
        uv_loop_t *loop;
        uv_poll_t *poll; /* on fd, while connected and attached; closed with the connection */
        uv_timer_t *timer; /* delivers answers read outside the poll callback; spots a silent collector */
        struct pending *head, *tail; /* in the order sent: the collector answers in that order */
        size_t in_flight;            /* sent, not answered */
        bool delivering;
};

static void disconnect(struct logmon *lm, int r, const char *why);
static void arm(struct logmon *lm);
static int read_reply(struct logmon *lm, int timeout_ms, struct reply *ret, int *ret_fd);
static void match_reply(struct logmon *lm, const struct reply *rep, int fd);

struct logmon *logmon_create(const char *data_dir, struct error *err) {
        struct stat sb;
        if (stat(data_dir, &sb) < 0) {
                errorf(err, -errno, "log collector: %s: %s", data_dir, strerror(errno));
                return NULL;
        }
        struct logmon *lm = calloc(1, sizeof(*lm));
        if (!lm) {
                errorf(err, -ENOMEM, "out of memory");
                return NULL;
        }
        lm->fd = -1;
        lm->addr.sun_family = AF_UNIX;
        /* Abstract namespace: sun_path[0] = '\0', then the name (not NUL-terminated). */
        int n = snprintf(lm->addr.sun_path + 1, sizeof(lm->addr.sun_path) - 1, "drover-logmon-%lx-%lx",
                         (unsigned long)sb.st_dev, (unsigned long)sb.st_ino);
        lm->addr_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)n);
        return lm;
}

static void on_handle_closed(uv_handle_t *h) {
        free(h);
}

static void kill_started(const struct pending *p) {
        if (p->rep.stage == 0 && p->rep.pid > 1) {
                kill(-p->rep.pid, SIGKILL); /* its own session and process group */
                kill(p->rep.pid, SIGKILL);
        }
}

void logmon_destroy(struct logmon *lm) {
        if (!lm)
                return;
        int e = errno;
        /* Spawns still in flight: wait (bounded) for the answers, so that a task the
         * collector started for a caller who will never hear of it is killed, not left
         * running untracked; each caller hears -ECANCELED. */
        int64_t until = now_ms() + STOP_WAIT_MS;
        while (lm->in_flight > 0 && lm->fd >= 0) {
                int64_t left = until - now_ms();
                struct reply rep;
                int fd = -1;
                if (left <= 0 || read_reply(lm, (int)left, &rep, &fd) < 0)
                        break;
                match_reply(lm, &rep, fd);
        }
        if (lm->fd >= 0)
                disconnect(lm, -ECANCELED, "the agent is shutting down");
        while (lm->head) {
                struct pending *p = lm->head;
                lm->head = p->next;
                if (p->answered && p->r == 0)
                        kill_started(p);
                if (p->pidfd >= 0)
                        close(p->pidfd);
                struct error err = {0};
                errorf(&err, -ECANCELED, "log collector: the agent is shutting down: %s was not started", p->path);
                p->done(p->data, -ECANCELED, 0, -1, &err);
                free(p);
        }
        if (lm->timer) {
                uv_close((uv_handle_t *)lm->timer, on_handle_closed);
                lm->timer = NULL;
        }
        if (lm->loop)
                uv_run(lm->loop, UV_RUN_NOWAIT); /* the close callbacks */
        free(lm);
        errno = e;
}

/* Read one reply (waiting up to timeout_ms); a hello is remembered and skipped.
 * *ret_fd gets a descriptor that came with it, or -1. */
static int read_reply(struct logmon *lm, int timeout_ms, struct reply *ret, int *ret_fd) {
        for (;;) {
                struct pollfd p = {.fd = lm->fd, .events = POLLIN};
                int r = poll(&p, 1, timeout_ms);
                if (r < 0 && errno == EINTR)
                        continue;
                if (r <= 0)
                        return r == 0 ? -ETIMEDOUT : -errno;
                struct reply rep;
                union {
                        struct cmsghdr h;
                        char b[CMSG_SPACE(sizeof(int) * 2)];
                } cbuf;
                struct iovec iov = {.iov_base = &rep, .iov_len = sizeof(rep)};
                struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf.b, .msg_controllen = sizeof(cbuf.b)};
                ssize_t n = recvmsg(lm->fd, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
                if (n < 0 && (errno == EAGAIN || errno == EINTR))
                        continue;
                if (n <= 0)
                        return n == 0 ? -ECONNRESET : -errno;
                int fd = -1;
                for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c))
                        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
                                int k = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
                                for (int i = 0; i < k; i++) {
                                        int f;
                                        memcpy(&f, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
                                        if (fd < 0)
                                                fd = f;
                                        else
                                                close(f);
                                }
                        }
                if (n != (ssize_t)sizeof(rep)) {
                        if (fd >= 0)
                                close(fd);
                        continue;
                }
                if (rep.op == OP_HELLO) {
                        lm->pid = rep.pid;
                        if (fd >= 0)
                                close(fd);
                        continue;
                }
                *ret = rep;
                *ret_fd = fd;
                return 0;
        }
}

pid_t logmon_pid(struct logmon *lm) {
        if (!lm || lm->fd < 0)
                return 0;
        struct reply rep;
        int fd;
        /* The hello is the first message of a connection; nothing else waits before it. */
        while (lm->pid == 0 && read_reply(lm, STOP_WAIT_MS, &rep, &fd) == 0)
                match_reply(lm, &rep, fd); /* an asynchronous spawn's answer: delivered later */
        return lm->pid;
}

static int try_connect(struct logmon *lm) {
        int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        if (connect(fd, (struct sockaddr *)&lm->addr, lm->addr_len) < 0) {
                int e = errno;
                close(fd);
                return -e;
        }
        lm->fd = fd;
        lm->pid = 0;
        if (lm->loop) {
                lm->poll = malloc(sizeof(*lm->poll));
                if (!lm->poll || uv_poll_init(lm->loop, lm->poll, fd) < 0) {
                        free(lm->poll); /* answers are then read when a spawn waits for a slot, or on timeout */
                        lm->poll = NULL;
                } else {
                        lm->poll->data = lm;
                }
        }
        return 0;
}

/* Bind the collector's socket here, then fork it: connections queue in the
 * socket's backlog until it accepts them, so nobody waits for it to be ready. */
static int spawn(struct logmon *lm, struct error *err) {
        _cleanup_close_ int lfd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (lfd < 0)
                return errorf(err, -errno, "log collector: socket: %s", strerror(errno));
        if (bind(lfd, (struct sockaddr *)&lm->addr, lm->addr_len) < 0) {
                if (errno == EADDRINUSE) /* another one started meanwhile */
                        return 0;
                return errorf(err, -errno, "log collector: bind: %s", strerror(errno));
        }
        if (listen(lfd, 128) < 0)
                return errorf(err, -errno, "log collector: listen: %s", strerror(errno));
        pid_t pid = fork();
        if (pid < 0)
                return errorf(err, -errno, "log collector: fork: %s", strerror(errno));
        if (pid == 0) {
                /* Detach: a session of its own, and a grandchild that init reaps. */
                setsid();
                if (fork() != 0)
                        _exit(0);
                /* Every other descriptor of the agent (sockets, the state db, tasks' pipes) is closed. */
                if (lfd != 3 && dup2(lfd, 3) < 0)
                        _exit(1);
                /* dup2 clears close-on-exec: without it every task it starts would hold
                 * the listening socket, and a dead collector's name would stay taken. */
                fcntl(3, F_SETFD, FD_CLOEXEC);
                close_fds_from(4);
                int devnull = open("/dev/null", O_RDWR);
                if (devnull >= 0) {
                        dup2(devnull, 0);
                        dup2(devnull, 1);
                        dup2(devnull, 2);
                        if (devnull > 2)
                                close(devnull);
                }
                collector_main(3);
        }
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
                ;
        return 0;
}

static int ensure_connected(struct logmon *lm, bool start, struct error *err) {
        if (lm->fd >= 0)
                return 0;
        int r = try_connect(lm);
        if (r == 0 || !start)
                return r == 0 ? 0 : errorf(err, r, "log collector: connect: %s", strerror(-r));
        r = spawn(lm, err);
        if (r < 0)
                return r;
        r = try_connect(lm);
        return r == 0 ? 0 : errorf(err, r, "log collector: connect: %s", strerror(-r));
}

/* sendmsg, waiting (at most SPAWN_WAIT_MS) for room: once the loop watches the socket
 * (uv_poll_init) it is non-blocking, and a full send buffer (a collector short of
 * CPU, with 64 starts' environments queued) is EAGAIN, not a broken connection.
 * Treating it as one failed every start in flight (and each then waited out its
 * restart delay, 15 s for a batch job). -1 with errno (ETIMEDOUT: still no room). */
static ssize_t send_waiting(int fd, const struct msghdr *mh) {
        for (;;) {
                ssize_t n = sendmsg(fd, mh, MSG_NOSIGNAL);
                if (n >= 0 || (errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK))
                        return n;
                if (errno == EINTR)
                        continue;
                struct pollfd p = {.fd = fd, .events = POLLOUT};
                int r = poll(&p, 1, SPAWN_WAIT_MS);
                if (r == 0) {
                        errno = ETIMEDOUT;
                        return -1;
                }
                if (r < 0 && errno != EINTR)
                        return -1;
        }
}

static int send_once(struct logmon *lm, const struct msg *m, const int *fds, int nfds) {
        union {
                struct cmsghdr h;
                char b[CMSG_SPACE(sizeof(int) * 4)];
        } cbuf;
        memset(&cbuf, 0, sizeof(cbuf));
        struct iovec iov = {.iov_base = (void *)m, .iov_len = sizeof(*m)};
        struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf.b,
                            .msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)nfds)};
        struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nfds);
        memcpy(CMSG_DATA(c), fds, sizeof(int) * (size_t)nfds);
        ssize_t n = send_waiting(lm->fd, &mh);
        return n == (ssize_t)sizeof(*m) ? 0 : n < 0 ? -errno : -EIO;
}

/* Send, reconnecting (and starting a collector when start) once if the one we knew is gone. */
static int send_msg(struct logmon *lm, const struct msg *m, const int *fds, int nfds, bool start, struct error *err) {
        for (int attempt = 0;; attempt++) {
                int r = ensure_connected(lm, start, err);
                if (r < 0)
                        return r;
                r = send_once(lm, m, fds, nfds);
                if (r == 0)
                        return 0;
                disconnect(lm, r, "the connection to it broke");
                if (attempt == 1 || (r != -EPIPE && r != -ECONNRESET && r != -ENOTCONN && r != -ECONNREFUSED))
                        return errorf(err, r, "log collector: send: %s", strerror(-r));
        }
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
        char path[4200], b[64];
        snprintf(path, sizeof(path), "%s/.%s.logmeta", dir, task);
        if (read_small_file(path, b, sizeof(b)) <= 0)
                return 0;
        long long v = strtoll(b, NULL, 10);
        return v > 0 ? v : 0;
}

/* mkfifo first: a new task's directory has none (one call); only when something is
 * there already, look at what. */
static int make_fifo(const char *path, struct error *err) {
        if (mkfifo(path, 0600) == 0)
                return 0;
        if (errno != EEXIST)
                return errorf(err, -errno, "mkfifo %s: %s", path, strerror(errno));
        struct stat sb;
        if (lstat(path, &sb) == 0 && S_ISFIFO(sb.st_mode))
                return 0;
        if (unlink(path) < 0 && errno != ENOENT)
                return errorf(err, -errno, "remove %s: %s", path, strerror(errno));
        if (mkfifo(path, 0600) < 0 && errno != EEXIST)
                return errorf(err, -errno, "mkfifo %s: %s", path, strerror(errno));
        return 0;
}

/* The newest index of the task's stdout and stderr files in dir (-1: none), in one
 * pass over the directory (logmon_file_range per stream took two). */
static void last_indexes(const char *dir, const char *task, int64_t ret_last[2]) {
        ret_last[0] = ret_last[1] = 0;
        DIR *d = opendir(dir);
        if (!d)
                return;
        char prefix[2][NAME_MAX_];
        int plen[2];
        for (int i = 0; i < 2; i++)
                plen[i] = snprintf(prefix[i], sizeof(prefix[i]), "%s.%s.", task, types[i]);
        long last[2] = {-1, -1};
        struct dirent *de;
        while ((de = readdir(d)))
                for (int i = 0; i < 2; i++) {
                        if (strncmp(de->d_name, prefix[i], (size_t)plen[i]) != 0)
                                continue;
                        const char *num = de->d_name + plen[i];
                        char *end;
                        long v = strtol(num, &end, 10);
                        if (end != num && !*end && *num != '-' && *num != '+' && v > last[i])
                                last[i] = v;
                }
        closedir(d);
        for (int i = 0; i < 2; i++)
                if (last[i] >= 0)
                        ret_last[i] = last[i];
}

/* <dir>/.<task>.logmeta: "<max file size> <max files>\n" for the log endpoint, written
 * whole under a temporary name and renamed (no stdio: no buffer to allocate). */
static int write_logmeta(const char *meta, const char *tmp, int64_t max_size, int max_files) {
        char line[64];
        int n = snprintf(line, sizeof(line), "%lld %d\n", (long long)max_size, max_files);
        int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0)
                return -errno;
        ssize_t w = write(fd, line, (size_t)n);
        int r = w == n ? 0 : w < 0 ? -errno : -EIO;
        if (close(fd) < 0 && r == 0)
                r = -errno;
        if (r == 0 && rename(tmp, meta) < 0)
                r = -errno;
        return r;
}

static void closep_array(int (*fds)[3]) {
        close_fds(*fds, 3);
}

static int prepare(const struct logmon_config *cfg, const struct msg *m, char (*fifo)[LOGMON_PATH], struct error *err) {
        char meta[LOGMON_PATH], tmp[LOGMON_PATH + 8];
        for (int i = 0; i < 2; i++) {
                snprintf(fifo[i], LOGMON_PATH, "%s/.%s.%s.fifo", cfg->dir, cfg->task, types[i]);
                int r = cfg->prepared ? 0 : make_fifo(fifo[i], err);
                if (r < 0)
                        return r;
        }
        if (cfg->prepared)
                return 0;
        snprintf(meta, sizeof(meta), "%s/.%s.logmeta", cfg->dir, cfg->task);
        snprintf(tmp, sizeof(tmp), "%s.tmp", meta);
        int mr = write_logmeta(meta, tmp, m->max_size, m->max_files);
        if (mr < 0)
                return errorf(err, mr, "write %s: %s", meta, strerror(-mr));
        return 0;
}

static int open_msg(const struct logmon_config *cfg, struct msg *m, struct error *err) {
        *m = (struct msg){.op = OP_OPEN,
                          .max_files = cfg->max_files > 0 ? cfg->max_files : LOGMON_DEFAULT_MAX_FILES,
                          .max_size = cfg->max_file_size > 0 ? cfg->max_file_size : LOGMON_DEFAULT_MAX_FILE_SIZE};
        if (strlen(cfg->task) >= sizeof(m->task))
                return errorf(err, -ENAMETOOLONG, "task name \"%.32s...\" is too long for a log file name", cfg->task);
        snprintf(m->task, sizeof(m->task), "%s", cfg->task);
        return 0;
}

int logmon_prepare(const struct logmon_config *cfg, struct error *err) {
        struct msg m;
        char fifo[2][LOGMON_PATH];
        int r = open_msg(cfg, &m, err);
        if (r < 0)
                return r;
        struct logmon_config c = *cfg;
        c.prepared = false;
        return prepare(&c, &m, fifo, err);
}

int logmon_ensure(struct logmon *lm, const struct logmon_config *cfg, char *ret_stdout, char *ret_stderr,
                  struct error *err) {
        char fifo[2][LOGMON_PATH];
        if (!lm)
                return errorf(err, -EINVAL, "no log collector");
        struct msg m;
        int pr = open_msg(cfg, &m, err);
        if (pr == 0)
                pr = prepare(cfg, &m, fifo, err);
        if (pr < 0)
                return pr;
        last_indexes(cfg->dir, cfg->task, m.index);
        _cleanup_(closep_array) int fds[3] = {-1, -1, -1};
        fds[0] = open(cfg->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fds[0] < 0)
                return errorf(err, -errno, "open %s: %s", cfg->dir, strerror(errno));
        for (int i = 0; i < 2; i++) {
                /* Read and write: the FIFO never reports EOF between task restarts, and
                 * a task opening it for writing never blocks. */
                fds[1 + i] = open(fifo[i], O_RDWR | O_NONBLOCK | O_CLOEXEC);
                if (fds[1 + i] < 0)
                        return errorf(err, -errno, "open %s: %s", fifo[i], strerror(errno));
        }
        int r = send_msg(lm, &m, fds, 3, true, err);
        if (r < 0)
                return r;
        memcpy(ret_stdout, fifo[0], LOGMON_PATH);
        memcpy(ret_stderr, fifo[1], LOGMON_PATH);
        return 0;
}

int logmon_signal(struct logmon *lm, const char *dir, const char *task) {
        char fifo[LOGMON_PATH];
        if (!lm)
                return -EINVAL;
        snprintf(fifo, sizeof(fifo), "%s/.%s.stdout.fifo", dir, task);
        _cleanup_close_ int ffd = open(fifo, O_PATH | O_CLOEXEC | O_NOFOLLOW);
        if (ffd < 0)
                return -errno;
        int p[2];
        if (pipe2(p, O_CLOEXEC) < 0)
                return -errno;
        struct msg m = {.op = OP_STOP};
        struct error err = {0};
        int fds[2] = {ffd, p[1]};
        int r = send_msg(lm, &m, fds, 2, false, &err);
        close(p[1]);
        if (r < 0) {
                close(p[0]);
                return r;
        }
        return p[0];
}

void logmon_stop(struct logmon *lm, const char *dir, const char *task) {
        int fd = logmon_signal(lm, dir, task);
        if (fd < 0)
                return;
        /* Wait (briefly) until it has written what the task left in the FIFO, so
         * that whoever reads the logs of a dead task reads all of them. */
        struct pollfd p = {.fd = fd, .events = POLLIN};
        poll(&p, 1, STOP_WAIT_MS);
        close(fd);
}

/* Pack req, send it (reconnecting, or starting a collector, once) and return its seq. */
static int send_spawn(struct logmon *lm, const struct logmon_spawn_req *req, uint32_t *ret_seq, struct error *err) {
        if (!lm)
                return errorf(err, -EINVAL, "no log collector");
        static struct spawn_msg m; /* 128 KiB: not on the stack; loop thread only */
        size_t len = 0, argc = 0, envc = 0;
        bool fits = true;
#define PUT(str)                                                                 \
        do {                                                                     \
                size_t l_ = strlen(str) + 1;                                     \
                if (len + l_ > sizeof(m.data)) {                                 \
                        fits = false;                                            \
                } else {                                                         \
                        memcpy(m.data + len, (str), l_);                         \
                        len += l_;                                               \
                }                                                                \
        } while (0)
        PUT(req->path);
        PUT(req->cwd);
        for (; req->argv[argc] && fits; argc++)
                PUT(req->argv[argc]);
        for (; req->envp && req->envp[envc] && fits; envc++)
                PUT(req->envp[envc]);
#undef PUT
        if (!fits || argc > LOGMON_SPAWN_ARGS || envc > LOGMON_SPAWN_ARGS || argc == 0)
                return errorf(err, -E2BIG,
                              "the task's command line and environment exceed what the agent passes on "
                              "(%d KiB, %d arguments and %d variables)",
                              LOGMON_SPAWN_MAX / 1024, LOGMON_SPAWN_ARGS, LOGMON_SPAWN_ARGS);
        m.op = OP_SPAWN;
        m.seq = ++lm->seq;
        m.argc = (uint32_t)argc;
        m.envc = (uint32_t)envc;
        m.len = (uint32_t)len;
        int fds[5] = {-1, req->stdin_fd, req->stdout_fd, req->stderr_fd, req->cgroup_procs_fd};
        fds[0] = open(req->exit_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fds[0] < 0)
                return errorf(err, -errno, "open %s: %s", req->exit_dir, strerror(errno));
        unlinkat(fds[0], LOGMON_EXIT_FILE, 0); /* the last run's */
        size_t msg_len = offsetof(struct spawn_msg, data) + len;
        int r = 0;
        for (int attempt = 0; attempt < 2; attempt++) {
                r = ensure_connected(lm, true, err);
                if (r < 0)
                        break;
                union {
                        struct cmsghdr h;
                        char b[CMSG_SPACE(sizeof(int) * 5)];
                } cbuf;
                memset(&cbuf, 0, sizeof(cbuf));
                int nfds = req->cgroup_procs_fd >= 0 ? 5 : 4;
                struct iovec iov = {.iov_base = &m, .iov_len = msg_len};
                struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf.b,
                                    .msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)nfds)};
                struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
                c->cmsg_level = SOL_SOCKET;
                c->cmsg_type = SCM_RIGHTS;
                c->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nfds);
                memcpy(CMSG_DATA(c), fds, sizeof(int) * (size_t)nfds);
                ssize_t n = send_waiting(lm->fd, &mh);
                if (n == (ssize_t)msg_len) {
                        r = 0;
                        break;
                }
                r = n < 0 ? -errno : -EIO;
                disconnect(lm, r, "the connection to it broke");
                if (r != -EPIPE && r != -ECONNRESET && r != -ENOTCONN && r != -ECONNREFUSED)
                        break;
        }
        close(fds[0]);
        if (r < 0)
                return *err->msg ? r : errorf(err, r, "log collector: send: %s", strerror(-r));
        *ret_seq = m.seq;
        return 0;
}

/* The answer rep (pidfd: its descriptor, or -1) as the caller sees it. */
static int spawn_result(const struct reply *rep, int pidfd, const char *path, struct error *err) {
        if (rep->stage != 0)
                return errorf(err, -(rep->err ? rep->err : EIO), "%s %s: %s", logmon_stage_str(rep->stage), path,
                              strerror(rep->err ? rep->err : EIO));
        if (pidfd < 0)
                return errorf(err, -ENOSYS, "log collector: started pid %d but sent no pidfd", (int)rep->pid);
        return 0;
}

int logmon_spawn(struct logmon *lm, const struct logmon_spawn_req *req, pid_t *ret_pid, int *ret_pidfd,
                 struct error *err) {
        uint32_t seq;
        int r = send_spawn(lm, req, &seq, err);
        if (r < 0)
                return r;
        struct reply rep;
        int pidfd = -1;
        for (;;) {
                r = read_reply(lm, SPAWN_WAIT_MS, &rep, &pidfd);
                if (r < 0 || (rep.op == OP_SPAWNED && rep.seq == seq))
                        break;
                match_reply(lm, &rep, pidfd); /* an asynchronous spawn's */
                pidfd = -1;
        }
        if (r < 0) {
                disconnect(lm, r, "no answer"); /* an answer may still come: start afresh */
                return errorf(err, r, "log collector: no answer to start the task: %s", strerror(-r));
        }
        r = spawn_result(&rep, pidfd, req->path, err);
        if (r < 0) {
                if (pidfd >= 0)
                        close(pidfd);
                return r;
        }
        *ret_pid = rep.pid;
        *ret_pidfd = pidfd;
        return 0;
}

/* ---- asynchronous spawns ------------------------------------------------------------------- */

/* Hand answered spawns, oldest first, to their callers (who may spawn again meanwhile). */
static void deliver(struct logmon *lm) {
        if (lm->delivering)
                return;
        lm->delivering = true;
        while (lm->head && lm->head->answered) {
                struct pending *p = lm->head;
                lm->head = p->next;
                if (!lm->head)
                        lm->tail = NULL;
                struct error err = {0};
                int r = p->r < 0 ? errorf(&err, p->r, "log collector: %s before it answered (%s was not started)",
                                          p->why, p->path)
                                 : spawn_result(&p->rep, p->pidfd, p->path, &err);
                if (r < 0 && p->pidfd >= 0)
                        close(p->pidfd);
                p->done(p->data, r, r < 0 ? 0 : p->rep.pid, r < 0 ? -1 : p->pidfd, &err);
                free(p);
        }
        lm->delivering = false;
        arm(lm);
}

/* An OP_SPAWNED answer (fd: its pidfd or -1) for the oldest spawn of that seq. */
static void match_reply(struct logmon *lm, const struct reply *rep, int fd) {
        for (struct pending *p = lm->head; p; p = p->next)
                if (!p->answered && rep->op == OP_SPAWNED && p->seq == rep->seq) {
                        p->answered = true;
                        p->rep = *rep;
                        p->pidfd = fd;
                        lm->in_flight--;
                        return;
                }
        if (fd >= 0)
                close(fd); /* a synchronous spawn's that gave up waiting */
}

/* The connection is gone (r, why): every spawn in flight fails, after the answers
 * that were already there are taken. */
static void disconnect(struct logmon *lm, int r, const char *why) {
        if (lm->fd < 0)
                return;
        struct reply rep;
        int fd;
        while (lm->in_flight > 0 && read_reply(lm, 0, &rep, &fd) == 0)
                match_reply(lm, &rep, fd);
        for (struct pending *p = lm->head; p; p = p->next)
                if (!p->answered) {
                        p->answered = true;
                        p->r = r < 0 ? r : -ECONNRESET;
                        p->pidfd = -1;
                        snprintf(p->why, sizeof(p->why), "%s", why);
                }
        lm->in_flight = 0;
        if (lm->poll) {
                uv_close((uv_handle_t *)lm->poll, on_handle_closed);
                lm->poll = NULL;
        }
        close(lm->fd);
        lm->fd = -1;
        arm(lm);
}

static void on_readable(uv_poll_t *h, int status, int events) {
        struct logmon *lm = h->data;
        (void)events;
        struct reply rep;
        int fd;
        int r = status < 0 ? status : 0;
        while (r == 0 && lm->in_flight > 0) {
                r = read_reply(lm, 0, &rep, &fd);
                if (r == 0)
                        match_reply(lm, &rep, fd);
        }
        if (r < 0 && r != -ETIMEDOUT)
                disconnect(lm, r, "the log collector exited");
        deliver(lm);
}

static void on_timer(uv_timer_t *t) {
        struct logmon *lm = t->data;
        if (lm->in_flight > 0) {
                struct pending *oldest = lm->head;
                while (oldest && oldest->answered)
                        oldest = oldest->next;
                if (oldest && now_ms() - oldest->sent_ms >= SPAWN_WAIT_MS)
                        disconnect(lm, -ETIMEDOUT, "no answer in 5 s");
        }
        deliver(lm);
}

/* Poll while spawns are in flight (an idle agent's loop is not kept running by it);
 * the timer: at once when answers wait, else every second for a silent collector. */
static void arm(struct logmon *lm) {
        if (!lm->loop)
                return;
        if (lm->poll) {
                if (lm->in_flight > 0)
                        uv_poll_start(lm->poll, UV_READABLE | UV_DISCONNECT, on_readable);
                else
                        uv_poll_stop(lm->poll);
        }
        if (!lm->timer)
                return;
        if (lm->head && lm->head->answered && !lm->delivering)
                uv_timer_start(lm->timer, on_timer, 0, 0);
        else if (lm->in_flight > 0)
                uv_timer_start(lm->timer, on_timer, 1000, 0);
        else
                uv_timer_stop(lm->timer);
}

int logmon_attach(struct logmon *lm, uv_loop_t *loop) {
        if (!lm || !loop)
                return -EINVAL;
        if (lm->loop)
                return lm->loop == loop ? 0 : -EBUSY;
        lm->timer = malloc(sizeof(*lm->timer));
        if (!lm->timer)
                return -ENOMEM;
        uv_timer_init(loop, lm->timer);
        lm->timer->data = lm;
        lm->loop = loop;
        if (lm->fd >= 0) { /* connected before: watch this connection too */
                lm->poll = malloc(sizeof(*lm->poll));
                if (lm->poll && uv_poll_init(loop, lm->poll, lm->fd) == 0) {
                        lm->poll->data = lm;
                } else {
                        free(lm->poll);
                        lm->poll = NULL;
                }
        }
        return 0;
}

bool logmon_attached(const struct logmon *lm) {
        return lm && lm->loop;
}

size_t logmon_spawns_in_flight(const struct logmon *lm) {
        return lm ? lm->in_flight : 0;
}

int logmon_spawn_async(struct logmon *lm, const struct logmon_spawn_req *req, logmon_spawn_fn done, void *data,
                       struct error *err) {
        if (!lm || !lm->loop)
                return errorf(err, -EINVAL, "log collector: not attached to a loop");
        /* At the bound: take the oldest answer first (it is due: the collector answers
         * in order), so that the collector's queue, and the descriptors in it, stay bounded. */
        while (lm->in_flight >= LOGMON_SPAWN_INFLIGHT && lm->fd >= 0) {
                struct reply rep;
                int fd = -1;
                int r = read_reply(lm, SPAWN_WAIT_MS, &rep, &fd);
                if (r < 0)
                        disconnect(lm, r, r == -ETIMEDOUT ? "no answer in 5 s" : "the log collector exited");
                else
                        match_reply(lm, &rep, fd);
        }
        struct pending *p = calloc(1, sizeof(*p));
        if (!p)
                return errorf(err, -ENOMEM, "out of memory");
        uint32_t seq;
        int r = send_spawn(lm, req, &seq, err);
        if (r < 0) {
                free(p);
                arm(lm);
                return r;
        }
        *p = (struct pending){.seq = seq, .pidfd = -1, .sent_ms = now_ms(), .done = done, .data = data};
        snprintf(p->path, sizeof(p->path), "%s", req->path);
        if (lm->tail)
                lm->tail->next = p;
        else
                lm->head = p;
        lm->tail = p;
        lm->in_flight++;
        arm(lm);
        return 0;
}

const char *logmon_stage_str(int stage) {
        switch (stage) {
        case LOGMON_STAGE_SETSID:
                return "setsid";
        case LOGMON_STAGE_STDIO:
                return "redirect stdio";
        case LOGMON_STAGE_CHDIR:
                return "chdir to the task directory";
        case LOGMON_STAGE_CGROUP:
                return "join the task's cgroup";
        case LOGMON_STAGE_FORK:
                return "clone";
        case LOGMON_STAGE_PROTOCOL:
                return "log collector: bad request";
        default:
                return "execve";
        }
}

int logmon_read_exit(const char *dir, pid_t pid, int *ret_code, int *ret_signal) {
        char path[LOGMON_PATH], b[96];
        snprintf(path, sizeof(path), "%s/%s", dir, LOGMON_EXIT_FILE);
        if (read_small_file(path, b, sizeof(b)) <= 0)
                return -ENOENT;
        long p = 0, code = -1, sig = -1;
        if (sscanf(b, "%ld %ld %ld", &p, &code, &sig) != 3 || code < 0 || code > 255 || sig < 0 || sig >= 128)
                return -EINVAL;
        if (p != (long)pid)
                return -ESRCH;
        *ret_code = (int)code;
        *ret_signal = (int)sig;
        return 0;
}
