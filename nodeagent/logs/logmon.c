/* logmon.c - the agent's side of its one log collector process (see logmon.h):
 * starting it, connecting, handing FIFOs over SCM_RIGHTS, asking it to stop or
 * spawn tasks; the FIFOs and logmeta files. The process itself is
 * logmon_collector.c. */
#include "nodeagent/logs/logmon.h"

#include <dirent.h>
#include <stddef.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <uv.h>

#include "common/error.h"
#include "common/macros.h"
#include "nodeagent/logs/logmon_int.h"
#include "nodeagent/util.h"

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
        int64_t until = logmon_now_ms() + STOP_WAIT_MS;
        while (lm->in_flight > 0 && lm->fd >= 0) {
                int64_t left = until - logmon_now_ms();
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
                logmon_take_fds(&mh, &fd, 1);
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
                logmon_close_fds_from(4);
                int devnull = open("/dev/null", O_RDWR);
                if (devnull >= 0) {
                        dup2(devnull, 0);
                        dup2(devnull, 1);
                        dup2(devnull, 2);
                        if (devnull > 2)
                                close(devnull);
                }
                logmon_collector_main(3);
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
        char b[64];
        _cleanup_close_ int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0 || logmon_meta_read(dfd, task, b, sizeof(b)) <= 0)
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

/* "<max file size> <max files>\n" for the log endpoint: dir's attribute
 * LOGMON_META_XATTR<task> (logmon.h), else <dir>/.<task>.logmeta, written whole under
 * a temporary name and renamed. */
static int write_logmeta(const char *dir, const char *task, const char *meta, const char *tmp, int64_t max_size,
                         int max_files) {
        char line[64], name[300];
        int n = snprintf(line, sizeof(line), "%lld %d\n", (long long)max_size, max_files);
        if (logmon_meta_xattr(task, name, sizeof(name)) && lsetxattr(dir, name, line, (size_t)n, 0) == 0)
                return 0;
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
        logmon_close_fds(*fds, 3);
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
        int mr = write_logmeta(cfg->dir, cfg->task, meta, tmp, m->max_size, m->max_files);
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
        if (!cfg->fresh)
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
        fremovexattr(fds[0], LOGMON_EXIT_XATTR); /* the last run's */
        unlinkat(fds[0], LOGMON_EXIT_FILE, 0);
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
                if (oldest && logmon_now_ms() - oldest->sent_ms >= SPAWN_WAIT_MS)
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
        *p = (struct pending){.seq = seq, .pidfd = -1, .sent_ms = logmon_now_ms(), .done = done, .data = data};
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

static int parse_exit(const char *b, pid_t pid, int *ret_code, int *ret_signal) {
        long p = 0, code = -1, sig = -1;
        if (sscanf(b, "%ld %ld %ld", &p, &code, &sig) != 3 || code < 0 || code > 255 || sig < 0 || sig >= 128)
                return -EINVAL;
        if (p != (long)pid)
                return -ESRCH;
        *ret_code = (int)code;
        *ret_signal = (int)sig;
        return 0;
}

int logmon_read_exit(const char *dir, pid_t pid, int *ret_code, int *ret_signal) {
        char path[LOGMON_PATH], b[96];
        int r = -ENOENT;
        ssize_t n = getxattr(dir, LOGMON_EXIT_XATTR, b, sizeof(b) - 1);
        if (n > 0) {
                b[n] = '\0';
                r = parse_exit(b, pid, ret_code, ret_signal);
                if (r == 0)
                        return 0;
        }
        /* Another run's attribute: the file may be this one's (an exec task's). */
        snprintf(path, sizeof(path), "%s/%s", dir, LOGMON_EXIT_FILE);
        if (read_small_file(path, b, sizeof(b)) <= 0)
                return r;
        return parse_exit(b, pid, ret_code, ret_signal);
}
