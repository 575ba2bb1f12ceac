/* mhd_loop.c - libmicrohttpd in external polling mode, on a thread of ours. */
#include "common/mhd_loop.h"

#include <errno.h>
#include <limits.h>
#include <microhttpd.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"

struct mhd_loop {
        struct MHD_Daemon *mhd;
        char name[32];
        int epoll_fd; /* libmicrohttpd's (MHD_DAEMON_INFO_EPOLL_FD), not ours to close */
        int wake_fd;  /* eventfd: run once more, or end when stop is set */
        atomic_bool stop;
        pthread_t thread;
        bool running; /* the thread was started and not joined */
        mhd_loop_tick_fn tick;
        void *tick_data;
};

/* libmicrohttpd 0.9.75 asks for an immediate run (timeout 0) forever when it cannot
 * go on with a connection: a chunk-size line longer than its read buffer (found by
 * fuzz_http: a 100 KB chunk extension, then silence, kept the thread at 100% CPU).
 * After this many runs in a row that asked for 0 ms while no new event came, each
 * wait is at least 1 ms: such a connection costs ~1,000 runs a second until its
 * owner's deadline closes it, and a real event still wakes the thread at once. */
#define SPIN_RUNS 64

void mhd_loop_wake(struct mhd_loop *l) {
        if (!l)
                return;
        uint64_t one = 1;
        while (write(l->wake_fd, &one, sizeof(one)) < 0 && errno == EINTR)
                ;
}

/* Wait for libmicrohttpd's events (its epoll set: the listening socket and the
 * connections), its next timeout or a wake, and run it, until stop is set. */
static void *serve(void *arg) {
        struct mhd_loop *l = arg;
        struct pollfd pf[2] = {{.fd = l->epoll_fd, .events = POLLIN}, {.fd = l->wake_fd, .events = POLLIN}};
        unsigned zero_runs = 0; /* runs in a row that asked for 0 ms and found no new event */
        for (;;) {
                MHD_UNSIGNED_LONG_LONG to = 0;
                int ms = -1; /* no timeout pending: wait for events only */
                if (MHD_get_timeout(l->mhd, &to) == MHD_YES)
                        ms = to < INT_MAX ? (int)to : INT_MAX;
                int tick_ms = l->tick ? l->tick(l->tick_data) : -1;
                if (tick_ms >= 0 && (ms < 0 || tick_ms < ms))
                        ms = tick_ms;
                if (ms == 0 && zero_runs >= SPIN_RUNS)
                        ms = 1;
                pf[0].revents = pf[1].revents = 0; /* left as they were when poll fails */
                int pr = poll(pf, 2, ms);
                zero_runs = pr == 0 && ms <= 1 ? zero_runs + 1 : 0;
                if (pr < 0 && errno != EINTR) {
                        log_debug("%s: poll: %s", l->name, strerror(errno));
                        struct timespec ts = {0, 10 * 1000000L}; /* ENOMEM: do not spin */
                        nanosleep(&ts, NULL);
                }
                uint64_t n;
                if (pf[1].revents && read(l->wake_fd, &n, sizeof(n)) < 0 && errno != EAGAIN && errno != EINTR)
                        log_debug("%s: read: %s", l->name, strerror(errno));
                if (atomic_load(&l->stop))
                        return NULL;
                MHD_run(l->mhd);
        }
}

int mhd_loop_start(struct MHD_Daemon *d, const char *name, mhd_loop_tick_fn tick, void *tick_data,
                   struct mhd_loop **ret) {
        const union MHD_DaemonInfo *ei = MHD_get_daemon_info(d, MHD_DAEMON_INFO_EPOLL_FD);
        if (!ei || ei->epoll_fd < 0)
                return -EINVAL; /* not started with MHD_USE_EPOLL */
        struct mhd_loop *l = calloc(1, sizeof(*l));
        if (!l)
                return -ENOMEM;
        l->mhd = d;
        l->tick = tick;
        l->tick_data = tick_data;
        snprintf(l->name, sizeof(l->name), "%s", name);
        l->epoll_fd = ei->epoll_fd;
        l->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (l->wake_fd < 0) {
                int r = -errno;
                free(l);
                return r;
        }
        int r = pthread_create(&l->thread, NULL, serve, l);
        if (r) {
                close(l->wake_fd);
                free(l);
                return -r;
        }
        l->running = true;
        *ret = l;
        return 0;
}

void mhd_loop_stop(struct mhd_loop *l) {
        if (!l || !l->running)
                return;
        atomic_store(&l->stop, true);
        mhd_loop_wake(l);
        pthread_join(l->thread, NULL);
        l->running = false;
}

void mhd_loop_log_line(char *buf, size_t size, const char *fmt, va_list ap) {
        vsnprintf(buf, size, fmt, ap);
        size_t n = strlen(buf);
        while (n && buf[n - 1] == '\n')
                buf[--n] = '\0';
}

struct mhd_loop *mhd_loop_free(struct mhd_loop *l) {
        if (!l)
                return NULL;
        int saved = errno;
        mhd_loop_stop(l);
        close(l->wake_fd);
        free(l);
        errno = saved;
        return NULL;
}
