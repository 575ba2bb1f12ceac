/* user.c - the task's user (see user.h). */
#include "isolation/user.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/error.h"
#include "common/macros.h"

struct uid_pool {
        uint32_t min, max, in_use;
        uint8_t *bits;
};

int uid_range_parse(const char *s, uint32_t *ret_min, uint32_t *ret_max, struct error *err) {
        char *end;
        errno = 0;
        unsigned long a = strtoul(s, &end, 10);
        if (errno || end == s || *end != '-')
                return errorf(err, -EINVAL, "uid range \"%s\": expected MIN-MAX such as 80000-89999", s);
        const char *b_s = end + 1;
        unsigned long b = strtoul(b_s, &end, 10);
        if (errno || end == b_s || *end)
                return errorf(err, -EINVAL, "uid range \"%s\": expected MIN-MAX such as 80000-89999", s);
        if (a < 1 || a > b || b >= 0x7fffffffUL || b - a >= 1000000)
                return errorf(err, -EINVAL,
                              "uid range \"%s\": need 1 <= MIN <= MAX < 2147483647 and at most 1000000 ids", s);
        *ret_min = (uint32_t)a;
        *ret_max = (uint32_t)b;
        return 0;
}

int uid_pool_create(uint32_t min, uint32_t max, struct uid_pool **ret, struct error *err) {
        if (min < 1 || min > max || max - min >= 1000000)
                return errorf(err, -EINVAL, "uid pool: bad range %u-%u", min, max);
        struct uid_pool *p = calloc(1, sizeof(*p));
        if (p)
                p->bits = calloc((max - min) / 8 + 1, 1);
        if (!p || !p->bits) {
                uid_pool_free(p);
                return errorf(err, -ENOMEM, "out of memory");
        }
        p->min = min;
        p->max = max;
        *ret = p;
        return 0;
}

static bool used(const struct uid_pool *p, uint32_t off) {
        return p->bits[off / 8] & (1u << (off % 8));
}

int uid_pool_take(struct uid_pool *p, uint32_t *ret) {
        for (uint32_t off = 0; off <= p->max - p->min; off++)
                if (!used(p, off)) {
                        p->bits[off / 8] |= (uint8_t)(1u << (off % 8));
                        p->in_use++;
                        *ret = p->min + off;
                        return 0;
                }
        return -EBUSY;
}

bool uid_pool_contains(const struct uid_pool *p, uint32_t id) {
        return id >= p->min && id <= p->max;
}

int uid_pool_mark(struct uid_pool *p, uint32_t id) {
        if (!uid_pool_contains(p, id))
                return -ERANGE;
        uint32_t off = id - p->min;
        if (!used(p, off)) {
                p->bits[off / 8] |= (uint8_t)(1u << (off % 8));
                p->in_use++;
        }
        return 0;
}

void uid_pool_release(struct uid_pool *p, uint32_t id) {
        if (!p || !uid_pool_contains(p, id))
                return;
        uint32_t off = id - p->min;
        if (used(p, off)) {
                p->bits[off / 8] &= (uint8_t) ~(1u << (off % 8));
                p->in_use--;
        }
}

uint32_t uid_pool_in_use(const struct uid_pool *p) {
        return p->in_use;
}

struct uid_pool *uid_pool_free(struct uid_pool *p) {
        if (p) {
                free(p->bits);
                free(p);
        }
        return NULL;
}

int user_lookup(const char *name, uid_t *ret_uid, gid_t *ret_gid, struct error *err) {
        char buf[4096];
        struct passwd pw, *res = NULL;
        int r = getpwnam_r(name, &pw, buf, sizeof(buf), &res);
        if (r == 0 && !res) {
                char *end;
                unsigned long id = strtoul(name, &end, 10);
                if (*name && !*end && id < 0x7fffffffUL)
                        r = getpwuid_r((uid_t)id, &pw, buf, sizeof(buf), &res);
                if (r == 0 && !res && *name && !*end && id < 0x7fffffffUL) {
                        *ret_uid = (uid_t)id;
                        *ret_gid = (gid_t)id;
                        return 0;
                }
        }
        if (r != 0)
                return errorf(err, -r, "look up user \"%s\": %s", name, strerror(r));
        if (!res)
                return errorf(err, -ENOENT, "user \"%s\" does not exist on this node", name);
        *ret_uid = pw.pw_uid;
        *ret_gid = pw.pw_gid;
        return 0;
}

int user_of_pid(int pid, uid_t *ret, struct error *err) {
        char path[64], line[256];
        snprintf(path, sizeof(path), "/proc/%d/status", pid);
        _cleanup_fclose_ FILE *f = fopen(path, "re");
        if (!f)
                return errorf(err, -errno, "open %s: %s", path, strerror(errno));
        while (fgets(line, sizeof(line), f))
                if (strncmp(line, "Uid:", 4) == 0) {
                        *ret = (uid_t)strtoul(line + 4, NULL, 10);
                        return 0;
                }
        return errorf(err, -EIO, "%s has no Uid line", path);
}

int user_switch(uid_t uid, gid_t gid) {
        if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0)
                return -errno;
        /* Raw syscalls: after a raw clone3 glibc's wrappers would try to apply
         * the change to threads of the parent that do not exist here. */
        if (syscall(SYS_setgroups, 0, NULL) < 0 || syscall(SYS_setresgid, gid, gid, gid) < 0 ||
            syscall(SYS_setresuid, uid, uid, uid) < 0)
                return -errno;
        return 0;
}

int user_ns_map(int pid, uid_t uid, gid_t gid, struct error *err) {
        static const char *const files[] = {"uid_map", "gid_map"};
        for (int i = 0; i < 2; i++) {
                char path[64], map[64];
                snprintf(path, sizeof(path), "/proc/%d/%s", pid, files[i]);
                int len = snprintf(map, sizeof(map), "%u %u 1\n", i ? (unsigned)gid : (unsigned)uid,
                                   i ? (unsigned)gid : (unsigned)uid);
                _cleanup_close_ int fd = open(path, O_WRONLY | O_CLOEXEC);
                if (fd < 0)
                        return errorf(err, -errno, "open %s: %s", path, strerror(errno));
                if (write(fd, map, (size_t)len) != len)
                        return errorf(err, -errno, "write %s \"%.*s\": %s", path, len - 1, map, strerror(errno));
        }
        return 0;
}
