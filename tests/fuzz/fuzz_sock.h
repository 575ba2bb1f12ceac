/* fuzz_sock.h - socket calls for the fuzz harnesses that survive EINTR: libFuzzer's
 * timers (and TSan's) interrupt blocking calls, and an interrupted connect, read or
 * write is not the server's fault. */
#pragma once

#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

/* connect(2) to a loopback address; an interrupted connect goes on in the kernel, so
 * wait (at most 5 s) until it completed and read its result. 0 or -1 with errno. */
static inline int fuzz_connect(int fd, const struct sockaddr_in *sa) {
        if (connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) == 0)
                return 0;
        if (errno != EINTR)
                return -1;
        struct pollfd pf = {.fd = fd, .events = POLLOUT};
        int pr;
        do
                pr = poll(&pf, 1, 5000);
        while (pr < 0 && errno == EINTR);
        int err = 0;
        socklen_t l = sizeof(err);
        if (pr <= 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &l) < 0) {
                errno = pr == 0 ? ETIMEDOUT : errno;
                return -1;
        }
        if (err) {
                errno = err;
                return -1;
        }
        return 0;
}

/* read(2) and write(2), retried when interrupted. */
static inline ssize_t fuzz_read(int fd, void *buf, size_t len) {
        ssize_t n;
        do
                n = read(fd, buf, len);
        while (n < 0 && errno == EINTR);
        return n;
}

static inline ssize_t fuzz_write(int fd, const void *buf, size_t len) {
        ssize_t n;
        do
                n = write(fd, buf, len);
        while (n < 0 && errno == EINTR);
        return n;
}
