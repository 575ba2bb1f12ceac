/* util.c - small file-system helpers. */
#include "nodeagent/util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/macros.h"

/* The whole path first: an allocation's directories sit under a data directory that
 * exists, so one mkdir() does it; only on ENOENT walk back to the deepest component
 * that exists and create the rest forward. */
int mkdir_p(const char *path, mode_t mode) {
        char buf[4096];
        size_t len = strlen(path);
        if (len >= sizeof(buf))
                return -ENAMETOOLONG;
        memcpy(buf, path, len + 1);
        while (len > 1 && buf[len - 1] == '/')
                buf[--len] = '\0';
        if (mkdir(buf, mode) == 0 || errno == EEXIST)
                return 0;
        if (errno != ENOENT)
                return -errno;
        /* Back: cut at each '/' until a mkdir succeeds or finds the parent there. */
        char *cut = buf + len;
        for (;;) {
                char *slash = cut;
                while (slash > buf && *slash != '/')
                        slash--;
                while (slash > buf && slash[-1] == '/') /* "a//b" */
                        slash--;
                if (slash == buf)
                        break; /* nothing exists down to the root (or a relative start) */
                *slash = '\0';
                cut = slash;
                if (mkdir(buf, mode) == 0 || errno == EEXIST)
                        break;
                if (errno != ENOENT)
                        return -errno;
        }
        /* Forward: restore each cut and create that component. */
        for (char *p = cut; p < buf + len; p++) {
                if (*p != '\0')
                        continue;
                *p = '/';
                char *end = p + 1;
                while (end < buf + len && *end != '\0')
                        end++;
                if (end == p + 1)
                        continue;
                if (end < buf + len) {
                        if (mkdir(buf, mode) < 0 && errno != EEXIST)
                                return -errno;
                }
        }
        if (mkdir(buf, mode) < 0 && errno != EEXIST)
                return -errno;
        return 0;
}

ssize_t read_small_file(const char *path, char *buf, size_t size) {
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        size_t len = 0;
        while (len + 1 < size) {
                ssize_t n = read(fd, buf + len, size - 1 - len);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (n == 0)
                        break;
                len += (size_t)n;
        }
        buf[len] = '\0';
        return (ssize_t)len;
}
