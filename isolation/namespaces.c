/* namespaces.c - the task's namespaces (see namespaces.h). */
#include "isolation/namespaces.h"

#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/error.h"
#include "common/macros.h"

static const struct {
        uint64_t flag;
        const char *name; /* /proc/self/ns/<name> */
} table[] = {
    {CLONE_NEWPID, "pid"}, {CLONE_NEWNS, "mnt"}, {CLONE_NEWUTS, "uts"},
    {CLONE_NEWIPC, "ipc"}, {CLONE_NEWNET, "net"}, {CLONE_NEWUSER, "user"},
};

uint64_t namespaces_clone_flags(const struct ns_options *o) {
        uint64_t f = CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC;
        if (o && o->net)
                f |= CLONE_NEWNET;
        if (o && o->user)
                f |= CLONE_NEWUSER;
        return f;
}

int namespaces_check(uint64_t flags, struct error *err) {
        for (size_t i = 0; i < ARRAY_SIZE(table); i++) {
                if (!(flags & table[i].flag))
                        continue;
                char path[64];
                snprintf(path, sizeof(path), "/proc/self/ns/%s", table[i].name);
                if (access(path, F_OK) < 0)
                        return errorf(err, -ENOTSUP, "the kernel has no %s namespaces (%s: %s)", table[i].name, path,
                                      strerror(errno));
        }
        return 0;
}

void namespaces_format(uint64_t flags, char *buf, unsigned long size) {
        size_t len = 0;
        if (size)
                buf[0] = '\0';
        for (size_t i = 0; i < ARRAY_SIZE(table); i++)
                if (flags & table[i].flag) {
                        int n = snprintf(buf + len, size > len ? size - len : 0, "%s%s", len ? "," : "",
                                         table[i].name);
                        if (n > 0)
                                len += (size_t)n;
                        if (len >= size)
                                return;
                }
}
