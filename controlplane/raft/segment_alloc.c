/* segment_alloc.c - libraft's open segments, allocated as written blocks. See
 * segment_alloc.h for why. */
#include "controlplane/raft/segment_alloc.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"

/* One write's worth of zeros (in .bss: no memory is used until the kernel reads it,
 * and then only the shared zero page). Aligned for O_DIRECT. */
#define FILL_CHUNK (1u << 20)
static _Alignas(4096) unsigned char zeros[FILL_CHUNK];

static atomic_bool enabled;
static atomic_ulong filled;
static atomic_bool fill_failed_logged;

typedef int (*posix_fallocate_fn)(int, off_t, off_t);
static posix_fallocate_fn libc_posix_fallocate;

/* Resolved before main, while one thread runs: libc's posix_fallocate, the next
 * definition after this executable's. */
__attribute__((constructor)) static void segment_alloc_init(void) {
        libc_posix_fallocate = (posix_fallocate_fn)dlsym(RTLD_NEXT, "posix_fallocate");
}

void segment_alloc_enable(void) {
        atomic_store(&enabled, true);
}

unsigned long segment_alloc_filled(void) {
        return atomic_load(&filled);
}

bool segment_alloc_is_segment(int fd) {
        char link[64], path[4096];
        snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
        ssize_t n = readlink(link, path, sizeof(path) - 1);
        if (n <= 0)
                return false;
        path[n] = '\0';
        const char *base = strrchr(path, '/');
        base = base ? base + 1 : path;
        if (strncmp(base, "open-", 5) != 0 || !base[5])
                return false;
        for (const char *p = base + 5; *p; p++)
                if (*p < '0' || *p > '9')
                        return false;
        return true;
}

int segment_alloc_fill(int fd, off_t offset, off_t len) {
        if (offset < 0 || len < 0)
                return EINVAL;
        int flags = fcntl(fd, F_GETFL);
        if (flags < 0)
                return errno;
        /* Direct writes leave no cached pages, which a later RWF_NOWAIT direct write
         * would have to invalidate (and so fail with EAGAIN). */
        bool set_direct = !(flags & O_DIRECT) && offset % 4096 == 0 && len % 4096 == 0 &&
                          fcntl(fd, F_SETFL, flags | O_DIRECT) == 0;
        int rc = 0;
        off_t pos = offset, end = offset + len;
        while (pos < end) {
                size_t n = end - pos < (off_t)FILL_CHUNK ? (size_t)(end - pos) : FILL_CHUNK;
                ssize_t w = pwrite(fd, zeros, n, pos);
                if (w < 0 && errno == EINTR)
                        continue;
                if (w < 0 && errno == EINVAL && set_direct) { /* the file system refuses direct I/O */
                        fcntl(fd, F_SETFL, flags);
                        set_direct = false;
                        continue;
                }
                if (w <= 0) {
                        rc = w < 0 ? errno : EIO;
                        break;
                }
                pos += w;
        }
        if (set_direct)
                fcntl(fd, F_SETFL, flags);
        if (rc == 0 && !(flags & (O_DSYNC | O_SYNC)) && fdatasync(fd) < 0)
                rc = errno;
        posix_fadvise(fd, offset, len, POSIX_FADV_DONTNEED); /* what a buffered write left */
        return rc;
}

/* libraft's (and anything else's) posix_fallocate: libc's, then, for an open
 * segment, zeros over the range. A failure of the zeros is logged once and not
 * reported: the range is allocated all the same, and libraft's writes to it only
 * take the slower way. */
int posix_fallocate(int fd, off_t offset, off_t len) {
        int r;
        if (libc_posix_fallocate)
                r = libc_posix_fallocate(fd, offset, len);
        else
                r = fallocate(fd, 0, offset, len) == 0 ? 0 : errno;
        if (r != 0 || !atomic_load(&enabled) || !segment_alloc_is_segment(fd))
                return r;
        int fr = segment_alloc_fill(fd, offset, len);
        if (fr == 0)
                atomic_fetch_add(&filled, 1);
        else if (!atomic_exchange(&fill_failed_logged, true))
                log_warn("raft: cannot zero-fill a new log segment (%s); its writes take libuv's pool",
                         strerror(fr));
        return r;
}
