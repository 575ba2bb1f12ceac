/* landlock.c - Landlock filesystem rules through raw syscalls (see landlock.h). */
#include "isolation/landlock.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/landlock.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/error.h"
#include "common/macros.h"

#ifndef LANDLOCK_ACCESS_FS_REFER
#define LANDLOCK_ACCESS_FS_REFER (1ULL << 13)
#endif
#ifndef LANDLOCK_ACCESS_FS_TRUNCATE
#define LANDLOCK_ACCESS_FS_TRUNCATE (1ULL << 14)
#endif

#define R_BITS (LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_READ_DIR)
#define W_BITS (LANDLOCK_ACCESS_FS_WRITE_FILE)
#define X_BITS (LANDLOCK_ACCESS_FS_EXECUTE)
#define C_BITS                                                                                                   \
        (LANDLOCK_ACCESS_FS_REMOVE_DIR | LANDLOCK_ACCESS_FS_REMOVE_FILE | LANDLOCK_ACCESS_FS_MAKE_CHAR |        \
         LANDLOCK_ACCESS_FS_MAKE_DIR | LANDLOCK_ACCESS_FS_MAKE_REG | LANDLOCK_ACCESS_FS_MAKE_SOCK |             \
         LANDLOCK_ACCESS_FS_MAKE_FIFO | LANDLOCK_ACCESS_FS_MAKE_BLOCK | LANDLOCK_ACCESS_FS_MAKE_SYM)

#define MAX_RULES 64

struct landlock_ruleset {
        int fd;
        uint64_t handled;
        int n;
        struct {
                char path[PATH_MAX];
                uint64_t access;
        } rules[MAX_RULES];
};

int landlock_abi(void) {
        long v = syscall(SYS_landlock_create_ruleset, NULL, 0, LANDLOCK_CREATE_RULESET_VERSION);
        return v < 0 ? -errno : (int)v;
}

int landlock_rule_parse(const char *rule, uint64_t *ret_access, const char **ret_path, struct error *err) {
        const char *colon = strchr(rule, ':');
        if (!colon || colon == rule || colon[1] != '/')
                return errorf(err, -EINVAL, "unveil \"%s\": expected MODE:/absolute/path (MODE of r, w, x, c)", rule);
        uint64_t a = 0;
        for (const char *p = rule; p < colon; p++) {
                switch (*p) {
                case 'r':
                        a |= R_BITS;
                        break;
                case 'w':
                        a |= W_BITS | LANDLOCK_ACCESS_FS_TRUNCATE;
                        break;
                case 'x':
                        a |= X_BITS;
                        break;
                case 'c':
                        a |= C_BITS | LANDLOCK_ACCESS_FS_REFER;
                        break;
                default:
                        return errorf(err, -EINVAL, "unveil \"%s\": unknown mode '%c' (use r, w, x, c)", rule, *p);
                }
        }
        *ret_access = a;
        *ret_path = colon + 1;
        return 0;
}

int landlock_ruleset_create(const char *const *rules, struct landlock_ruleset **ret, struct error *err) {
        int abi = landlock_abi();
        if (abi < 0)
                return errorf(err, abi, "Landlock is not available: %s", strerror(-abi));
        _cleanup_free_ struct landlock_ruleset *rs = calloc(1, sizeof(*rs));
        if (!rs)
                return errorf(err, -ENOMEM, "out of memory");
        rs->fd = -1;
        uint64_t handled = R_BITS | W_BITS | X_BITS | C_BITS;
        if (abi >= 2)
                handled |= LANDLOCK_ACCESS_FS_REFER;
        if (abi >= 3)
                handled |= LANDLOCK_ACCESS_FS_TRUNCATE;
        rs->handled = handled;
        for (size_t i = 0; rules && rules[i]; i++) {
                uint64_t a;
                const char *path;
                int r = landlock_rule_parse(rules[i], &a, &path, err);
                if (r < 0)
                        return r;
                if (rs->n == MAX_RULES)
                        return errorf(err, -E2BIG, "unveil: at most %d paths", MAX_RULES);
                if (strlen(path) >= PATH_MAX)
                        return errorf(err, -ENAMETOOLONG, "unveil: path too long");
                snprintf(rs->rules[rs->n].path, PATH_MAX, "%s", path);
                rs->rules[rs->n].access = a & handled;
                rs->n++;
        }
        struct landlock_ruleset_attr attr = {.handled_access_fs = handled};
        rs->fd = (int)syscall(SYS_landlock_create_ruleset, &attr, sizeof(attr), 0);
        if (rs->fd < 0)
                return errorf(err, -errno, "landlock_create_ruleset: %s", strerror(errno));
        fcntl(rs->fd, F_SETFD, FD_CLOEXEC);
        *ret = TAKE_PTR(rs);
        return 0;
}

int landlock_ruleset_count(const struct landlock_ruleset *r) {
        return r->n;
}

int landlock_ruleset_apply(const struct landlock_ruleset *rs) {
        for (int i = 0; i < rs->n; i++) {
                int fd = open(rs->rules[i].path, O_PATH | O_CLOEXEC);
                if (fd < 0) {
                        if (errno == ENOENT)
                                continue; /* nothing there to allow */
                        return -errno;
                }
                struct landlock_path_beneath_attr pb = {.allowed_access = rs->rules[i].access, .parent_fd = fd};
                long r = syscall(SYS_landlock_add_rule, rs->fd, LANDLOCK_RULE_PATH_BENEATH, &pb, 0);
                if (r < 0 && errno == EINVAL) { /* a file, not a directory, takes only file rights */
                        pb.allowed_access &= LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_WRITE_FILE |
                                             LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_TRUNCATE;
                        r = syscall(SYS_landlock_add_rule, rs->fd, LANDLOCK_RULE_PATH_BENEATH, &pb, 0);
                }
                int e = errno;
                close(fd);
                if (r < 0)
                        return -e;
        }
        return syscall(SYS_landlock_restrict_self, rs->fd, 0) < 0 ? -errno : 0;
}

struct landlock_ruleset *landlock_ruleset_free(struct landlock_ruleset *rs) {
        if (!rs)
                return NULL;
        int saved = errno;
        if (rs->fd >= 0)
                close(rs->fd);
        free(rs);
        errno = saved;
        return NULL;
}
