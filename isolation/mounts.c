/* mounts.c - the task's filesystem view (see mounts.h). */
#include "isolation/mounts.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/statvfs.h>
#include <sys/vfs.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/error.h"
#include "common/macros.h"

enum kind { M_BIND, M_TMPFS, M_PROC, M_DEVNODE, M_SYMLINK };

struct mnt {
        enum kind kind;
        bool read_only;
        const char *source; /* host path; symlink target for M_SYMLINK (in text[]) */
        const char *target; /* absolute host path under root (in text[]) */
        const char *data;   /* tmpfs options (in text[]) */
};

#define MAX_MOUNTS 40
/* The strings of every mount, one after the other: a plan is built per task,
 * so it stays small (a few pages touched, not 2 x PATH_MAX per mount). */
#define PLAN_TEXT (MAX_MOUNTS * 2 * 512)

struct mount_plan {
        char root[PATH_MAX];
        int n;
        int dev_first; /* the /dev tmpfs: from here on the child creates files */
        struct mnt m[MAX_MOUNTS];
        size_t used;
        char text[PLAN_TEXT];
};

/* a followed by b, NUL-terminated, in p->text; NULL when it does not fit. */
static const char *intern(struct mount_plan *p, const char *a, const char *b) {
        size_t al = strlen(a), bl = strlen(b);
        if (al + bl >= PATH_MAX || p->used + al + bl + 1 > sizeof(p->text))
                return NULL;
        char *s = p->text + p->used;
        memcpy(s, a, al);
        memcpy(s + al, b, bl + 1);
        p->used += al + bl + 1;
        return s;
}

static const char *const host_dirs[] = {"/bin", "/lib", "/lib64", "/usr", "/etc", "/sbin"};
static const char *const dev_nodes[] = {"null", "zero", "full", "random", "urandom", "tty"};

static int add(struct mount_plan *p, enum kind k, const char *source, const char *target, bool ro, const char *data,
               struct error *err) {
        if (p->n == MAX_MOUNTS)
                return errorf(err, -E2BIG, "more than %d mounts", MAX_MOUNTS);
        struct mnt *m = &p->m[p->n];
        m->kind = k;
        m->read_only = ro;
        m->source = intern(p, source ? source : "", "");
        m->target = intern(p, p->root, target);
        m->data = intern(p, data ? data : "", "");
        if (!m->source || !m->target || !m->data)
                return errorf(err, -ENAMETOOLONG, "mount path too long: %s", target);
        p->n++;
        return 0;
}

/* mkdir -p of path (absolute, under root); existing directories are fine. */
static int mkdirs(const char *path, struct error *err) {
        /* The usual case, a task root that exists: one mkdir, no walk from "/". */
        if (mkdir(path, 0755) == 0 || errno == EEXIST)
                return 0;
        if (errno != ENOENT)
                return errorf(err, -errno, "mkdir %s: %s", path, strerror(errno));
        char buf[PATH_MAX];
        snprintf(buf, sizeof(buf), "%s", path);
        for (char *s = buf + 1; *s; s++) {
                if (*s != '/')
                        continue;
                *s = '\0';
                if (mkdir(buf, 0755) < 0 && errno != EEXIST)
                        return errorf(err, -errno, "mkdir %s: %s", buf, strerror(errno));
                *s = '/';
        }
        if (mkdir(buf, 0755) < 0 && errno != EEXIST)
                return errorf(err, -errno, "mkdir %s: %s", buf, strerror(errno));
        return 0;
}

int mount_plan_create(const char *root, const struct mount_bind *binds, int n_binds, struct mount_plan **ret,
                      struct error *err) {
        if (!root || root[0] != '/')
                return errorf(err, -EINVAL, "task root \"%s\" must be an absolute path", root ? root : "");
        /* malloc, not calloc: only the pages written below are touched. */
        _cleanup_free_ struct mount_plan *p = malloc(sizeof(*p));
        if (p) {
                p->n = 0;
                p->dev_first = 0;
                p->used = 0;
        }
        if (!p)
                return errorf(err, -ENOMEM, "out of memory");
        if ((size_t)snprintf(p->root, sizeof(p->root), "%s", root) >= sizeof(p->root) - 64)
                return errorf(err, -ENAMETOOLONG, "task root too long");
        for (size_t l = strlen(p->root); l > 1 && p->root[l - 1] == '/'; l--)
                p->root[l - 1] = '\0'; /* the child takes targets relative to it */
        int r = 0;
        struct stat st;
        for (size_t i = 0; r == 0 && i < ARRAY_SIZE(host_dirs); i++)
                if (stat(host_dirs[i], &st) == 0 && S_ISDIR(st.st_mode))
                        r = add(p, M_BIND, host_dirs[i], host_dirs[i], true, NULL, err);
        /* Extra binds before /dev: from there on a child in a user namespace
         * creates files as the task's user (mount_plan_apply). */
        for (int i = 0; r == 0 && i < n_binds; i++) {
                if (!binds[i].target || binds[i].target[0] != '/' || strstr(binds[i].target, ".."))
                        return errorf(err, -EINVAL, "bind target \"%s\" must be absolute without \"..\"",
                                      binds[i].target ? binds[i].target : "");
                if (stat(binds[i].source, &st) < 0)
                        return errorf(err, -errno, "bind source %s: %s", binds[i].source, strerror(errno));
                r = add(p, M_BIND, binds[i].source, binds[i].target, binds[i].read_only, NULL, err);
        }
        if (r == 0)
                r = add(p, M_TMPFS, "tmpfs", "/tmp", false, "mode=1777,size=65536k", err);
        if (r == 0)
                r = add(p, M_PROC, "proc", "/proc", false, NULL, err);
        p->dev_first = p->n;
        if (r == 0)
                r = add(p, M_TMPFS, "tmpfs", "/dev", false, "mode=755,size=64k", err);
        for (size_t i = 0; r == 0 && i < ARRAY_SIZE(dev_nodes); i++) {
                char src[64], dst[64];
                snprintf(src, sizeof(src), "/dev/%s", dev_nodes[i]);
                snprintf(dst, sizeof(dst), "/dev/%s", dev_nodes[i]);
                if (stat(src, &st) == 0 && S_ISCHR(st.st_mode))
                        r = add(p, M_DEVNODE, src, dst, false, NULL, err);
        }
        if (r == 0)
                r = add(p, M_TMPFS, "tmpfs", "/dev/shm", false, "mode=1777,size=65536k", err);
        static const char *const links[][2] = {
            {"/proc/self/fd", "/dev/fd"},
            {"/proc/self/fd/0", "/dev/stdin"},
            {"/proc/self/fd/1", "/dev/stdout"},
            {"/proc/self/fd/2", "/dev/stderr"},
        };
        for (size_t i = 0; r == 0 && i < ARRAY_SIZE(links); i++)
                r = add(p, M_SYMLINK, links[i][0], links[i][1], false, NULL, err);
        if (r < 0)
                return r;
        /* Mount points, created now so that the child only mounts. /dev's
         * entries live on the tmpfs and are made by the child. */
        size_t rl = strlen(p->root);
        for (int i = 0; i < p->n; i++) {
                struct mnt *m = &p->m[i];
                if (strncmp(m->target + rl, "/dev/", 5) == 0)
                        continue;
                r = mkdirs(m->target, err);
                if (r < 0)
                        return r;
        }
        *ret = TAKE_PTR(p);
        return 0;
}

int mount_plan_count(const struct mount_plan *p) {
        return p->n;
}

int mount_plan_describe(const struct mount_plan *p, int i, char *buf, unsigned long size) {
        if (i < 0 || i >= p->n)
                return -ERANGE;
        static const char *const kinds[] = {"bind", "tmpfs", "proc", "dev", "symlink"};
        const struct mnt *m = &p->m[i];
        snprintf(buf, size, "%s %s %s%s", kinds[m->kind], m->target + strlen(p->root), m->source,
                 m->read_only ? " ro" : "");
        return 0;
}

/* ---- the child ------------------------------------------------------------------------------ */

static int bind_ro(const char *target, unsigned long extra) {
        return mount(NULL, target, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | extra, NULL);
}

/* The flags a remount must keep: in a user namespace the source's nosuid,
 * nodev, noexec and atime flags are locked, and dropping one is EPERM. */
static unsigned long kept_flags(const char *target) {
        struct statfs f;
        if (statfs(target, &f) < 0)
                return 0;
        unsigned long m = 0;
        m |= f.f_flags & ST_NOSUID ? MS_NOSUID : 0;
        m |= f.f_flags & ST_NODEV ? MS_NODEV : 0;
        m |= f.f_flags & ST_NOEXEC ? MS_NOEXEC : 0;
        m |= f.f_flags & ST_NOATIME ? MS_NOATIME : 0;
        m |= f.f_flags & ST_NODIRATIME ? MS_NODIRATIME : 0;
        m |= f.f_flags & ST_RELATIME ? MS_RELATIME : 0;
        return m;
}

/* t: the target relative to the task root, the working directory. */
static int apply_one(const struct mnt *m, const char *t) {
        switch (m->kind) {
        case M_BIND:
                if (mount(m->source, t, NULL, MS_BIND | MS_REC, NULL) < 0)
                        return -errno;
                if (m->read_only && bind_ro(t, MS_NOSUID) < 0 && bind_ro(t, MS_NOSUID | kept_flags(t)) < 0)
                        return -errno;
                return 0;
        case M_TMPFS:
                if (mkdir(t, 0755) < 0 && errno != EEXIST)
                        return -errno;
                return mount("tmpfs", t, "tmpfs", MS_NOSUID | MS_NODEV, m->data) < 0 ? -errno : 0;
        case M_PROC:
                return mount("proc", t, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0 ? -errno : 0;
        case M_DEVNODE: {
                int fd = open(t, O_WRONLY | O_CREAT | O_CLOEXEC, 0666);
                if (fd < 0)
                        return -errno;
                close(fd);
                return mount(m->source, t, NULL, MS_BIND, NULL) < 0 ? -errno : 0;
        }
        case M_SYMLINK:
                return symlink(m->source, t) < 0 && errno != EEXIST ? -errno : 0;
        }
        return -EINVAL;
}

int mount_plan_apply(const struct mount_plan *p, int file_uid, int file_gid, int *ret_step) {
        *ret_step = -1;
        /* Nothing below propagates back to the host. */
        if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
                return -errno;
        /* The root must be a mount point for pivot_root. */
        if (mount(p->root, p->root, NULL, MS_BIND | MS_REC, NULL) < 0)
                return -errno;
        /* Into the root now, while the host's directories above it are still
         * searched as the agent's uid (a user namespace changes fsuid below). */
        if (chdir(p->root) < 0)
                return -errno;
        for (int i = 0; i < p->n; i++) {
                if (i == p->dev_first && file_uid >= 0) {
                        /* In a user namespace where host root is not mapped, new files
                         * need a mapped owner: the task's. So /dev (the task's own
                         * 64k tmpfs) belongs to the task there. setfsuid cannot
                         * fail loudly; a creation below would say EOVERFLOW. */
                        syscall(SYS_setfsgid, (gid_t)file_gid);
                        syscall(SYS_setfsuid, (uid_t)file_uid);
                }
                int r = apply_one(&p->m[i], p->m[i].target + strlen(p->root) + 1);
                if (r < 0) {
                        *ret_step = i;
                        return r;
                }
        }
        *ret_step = -1;
        if (syscall(SYS_pivot_root, ".", ".") == 0) {
                /* The old root is stacked under the new one: detach it. */
                if (umount2(".", MNT_DETACH) < 0)
                        return -errno;
        } else if (errno == EINVAL) {
                /* The initial ramfs cannot be pivoted away: move the root over it instead. */
                if (mount(".", "/", NULL, MS_MOVE, NULL) < 0 || chroot(".") < 0)
                        return -errno;
        } else {
                return -errno;
        }
        return chdir("/") < 0 ? -errno : 0;
}

struct mount_plan *mount_plan_free(struct mount_plan *p) {
        free(p);
        return NULL;
}
