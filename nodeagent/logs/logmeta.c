/* logmeta.c - a task's log settings (max file size, file count) in its logs
 * directory: the attribute LOGMON_META_XATTR<task>, else the file .<task>.logmeta.
 * Apart from logmon.c so that the log endpoint (log_api.c) and its fuzz target read
 * them without the collector. */
#include "nodeagent/logs/logmon.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <sys/xattr.h>
#include <unistd.h>

bool logmon_meta_xattr(const char *task, char *buf, size_t size) {
        int n = snprintf(buf, size, "%s%s", LOGMON_META_XATTR, task);
        return n > 0 && (size_t)n < size && n <= 255;
}

ssize_t logmon_meta_read(int dirfd, const char *task, char *buf, size_t size) {
        char name[300];
        ssize_t n = -1;
        if (size < 2)
                return -EINVAL;
        if (logmon_meta_xattr(task, name, sizeof(name)) && (n = fgetxattr(dirfd, name, buf, size - 1)) >= 0) {
                buf[n] = '\0';
                return n;
        }
        snprintf(name, sizeof(name), ".%s.logmeta", task);
        int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0)
                return -errno;
        n = read(fd, buf, size - 1);
        int e = errno;
        close(fd);
        if (n < 0)
                return -e;
        buf[n] = '\0';
        return n;
}
