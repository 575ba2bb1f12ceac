/* logmon.c - the agent's one log collector process: FIFOs in, rotated files out (see logmon.h). */
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
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/error.h"
#include "common/macros.h"
#include "nodeagent/util.h"

#define COMM "drover-logmon"
#define READY_TIMEOUT_MS 2000
#define STOP_WAIT_MS 1000
#define IDLE_EXIT_MS 5000 /* a collector nobody connected to exits */
#define MAX_CLIENTS 8
#define NAME_MAX_ 512

/* ---- the protocol ------------------------------------------------------------------------ */

enum { OP_OPEN = 1, OP_STOP = 2 };

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
enum { EV_LISTEN = 1, EV_CLIENT = 2, EV_FIFO = 3 };
#define EV(kind, slot) (((uint64_t)(kind) << 32) | (uint32_t)(slot))

static struct task tasks[LOGMON_MAX_TASKS];
static int n_tasks;
static int clients[MAX_CLIENTS];
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
        st->fd = openat(t->dirfd, name, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0644);
        struct stat sb;
        st->size = st->fd >= 0 && fstat(st->fd, &sb) == 0 ? sb.st_size : 0;
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

/* One message from a client; false when the client is gone. */
static bool serve(int fd) {
        struct msg m;
        union {
                struct cmsghdr h;
                char b[CMSG_SPACE(sizeof(int) * 4)];
        } cbuf;
        struct iovec iov = {.iov_base = &m, .iov_len = sizeof(m)};
        struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf.b, .msg_controllen = sizeof(cbuf.b)};
        ssize_t n = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
        if (n < 0)
                return errno == EAGAIN || errno == EINTR;
        if (n == 0)
                return false;
        int fds[4] = {-1, -1, -1, -1}, nfds = 0;
        for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c))
                if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
                        int k = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
                        for (int i = 0; i < k && nfds < 4; i++)
                                memcpy(&fds[nfds++], CMSG_DATA(c) + i * sizeof(int), sizeof(int));
                }
        if (n != (ssize_t)sizeof(m) || (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)))
                close_fds(fds, nfds);
        else if (m.op == OP_OPEN)
                do_open(&m, fds, nfds);
        else if (m.op == OP_STOP)
                do_stop(fds, nfds);
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
                int32_t me = (int32_t)getpid();
                ssize_t w = send(c, &me, sizeof(me), MSG_NOSIGNAL | MSG_DONTWAIT);
                (void)w;
                struct epoll_event ev = {.events = EPOLLIN, .data.u64 = EV(EV_CLIENT, slot)};
                epoll_ctl(epfd, EPOLL_CTL_ADD, c, &ev);
        }
}

/* Tasks whose log directory was removed (the allocation was collected) are forgotten. */
static void sweep(void) {
        for (int i = 0; i < LOGMON_MAX_TASKS; i++) {
                struct stat sb;
                if (tasks[i].used && (fstat(tasks[i].dirfd, &sb) < 0 || sb.st_nlink == 0))
                        drop_task(i);
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
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        prctl(PR_SET_NAME, COMM, 0, 0, 0);
        for (int i = 0; i < MAX_CLIENTS; i++)
                clients[i] = -1;
        epfd = epoll_create1(EPOLL_CLOEXEC);
        if (epfd < 0)
                _exit(1);
        struct epoll_event ev = {.events = EPOLLIN, .data.u64 = EV(EV_LISTEN, 0)};
        epoll_ctl(epfd, EPOLL_CTL_ADD, lfd, &ev);
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
                if (n_clients == 0 && n_tasks == 0 && (had_client || now - started >= IDLE_EXIT_MS)) {
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

struct logmon {
        struct sockaddr_un addr;
        socklen_t addr_len;
        int fd;    /* -1 while not connected */
        pid_t pid; /* the collector's, from its hello; 0 until read */
};

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

void logmon_destroy(struct logmon *lm) {
        if (!lm)
                return;
        int e = errno;
        if (lm->fd >= 0)
                close(lm->fd);
        free(lm);
        errno = e;
}

pid_t logmon_pid(struct logmon *lm) {
        if (!lm || lm->fd < 0)
                return 0;
        struct pollfd p = {.fd = lm->fd, .events = POLLIN};
        int32_t pid;
        if (lm->pid == 0 && poll(&p, 1, STOP_WAIT_MS) == 1 && recv(lm->fd, &pid, sizeof(pid), MSG_DONTWAIT) == sizeof(pid))
                lm->pid = pid;
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
        ssize_t n;
        do
                n = sendmsg(lm->fd, &mh, MSG_NOSIGNAL);
        while (n < 0 && errno == EINTR);
        return n == (ssize_t)sizeof(*m) ? 0 : -errno;
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
                close(lm->fd);
                lm->fd = -1;
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

static void closep_array(int (*fds)[3]) {
        close_fds(*fds, 3);
}

int logmon_ensure(struct logmon *lm, const struct logmon_config *cfg, char *ret_stdout, char *ret_stderr,
                  struct error *err) {
        char fifo[2][LOGMON_PATH], meta[LOGMON_PATH], tmp[LOGMON_PATH + 8];
        if (!lm)
                return errorf(err, -EINVAL, "no log collector");
        struct msg m = {.op = OP_OPEN,
                        .max_files = cfg->max_files > 0 ? cfg->max_files : LOGMON_DEFAULT_MAX_FILES,
                        .max_size = cfg->max_file_size > 0 ? cfg->max_file_size : LOGMON_DEFAULT_MAX_FILE_SIZE};
        if (strlen(cfg->task) >= sizeof(m.task))
                return errorf(err, -ENAMETOOLONG, "task name \"%.32s...\" is too long for a log file name", cfg->task);
        snprintf(m.task, sizeof(m.task), "%s", cfg->task);
        for (int i = 0; i < 2; i++) {
                snprintf(fifo[i], sizeof(fifo[i]), "%s/.%s.%s.fifo", cfg->dir, cfg->task, types[i]);
                int r = make_fifo(fifo[i], err);
                if (r < 0)
                        return r;
                long first, last;
                if (logmon_file_range(cfg->dir, cfg->task, types[i], &first, &last) == 0)
                        m.index[i] = last;
        }
        snprintf(meta, sizeof(meta), "%s/.%s.logmeta", cfg->dir, cfg->task);
        snprintf(tmp, sizeof(tmp), "%s.tmp", meta);
        FILE *f = fopen(tmp, "we");
        if (!f || fprintf(f, "%lld %d\n", (long long)m.max_size, m.max_files) < 0 || fclose(f) != 0 ||
            rename(tmp, meta) < 0)
                return errorf(err, -EIO, "write %s: %s", meta, strerror(errno ? errno : EIO));
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
