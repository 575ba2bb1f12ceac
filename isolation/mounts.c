/* mounts.c - the task's filesystem view (see mounts.h). */
#include "isolation/mounts.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/statvfs.h>
#include <sys/vfs.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <sched.h>
#include <signal.h>
#include <unistd.h>

#include "common/error.h"
#include "common/macros.h"

enum kind { M_BIND, M_TMPFS, M_PROC, M_DEVNODE, M_SYMLINK };

struct mnt {
        enum kind kind;
        bool read_only;
        bool in_template;   /* a host directory or device node the template holds under TPL_DIR */
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

/* In the template namespace: where its read-only copies of host_dirs and the
 * device nodes live, and the mount point of the task's root. */
#define TPL_DIR "/t"
#define TPL_ROOT "/root"

static int add(struct mount_plan *p, enum kind k, const char *source, const char *target, bool ro, const char *data,
               struct error *err) {
        if (p->n == MAX_MOUNTS)
                return errorf(err, -E2BIG, "more than %d mounts", MAX_MOUNTS);
        struct mnt *m = &p->m[p->n];
        m->kind = k;
        m->read_only = ro;
        m->in_template = false;
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
                if (stat(host_dirs[i], &st) == 0 && S_ISDIR(st.st_mode)) {
                        r = add(p, M_BIND, host_dirs[i], host_dirs[i], true, NULL, err);
                        if (r == 0)
                                p->m[p->n - 1].in_template = true;
                }
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
                if (stat(src, &st) == 0 && S_ISCHR(st.st_mode)) {
                        r = add(p, M_DEVNODE, src, dst, false, NULL, err);
                        if (r == 0)
                                p->m[p->n - 1].in_template = true;
                }
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

#ifndef OPEN_TREE_CLONE
#define OPEN_TREE_CLONE 1
#endif
#ifndef OPEN_TREE_CLOEXEC
#define OPEN_TREE_CLOEXEC O_CLOEXEC
#endif
#ifndef MOVE_MOUNT_F_EMPTY_PATH
#define MOVE_MOUNT_F_EMPTY_PATH 0x00000004
#endif

/* A detached recursive copy of path (in the caller's mount namespace). */
static int clone_tree(const char *path) {
        long fd = syscall(SYS_open_tree, AT_FDCWD, path, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE);
        return fd < 0 ? -errno : (int)fd;
}

static int attach_tree(int fd, const char *target) {
        return syscall(SYS_move_mount, fd, "", AT_FDCWD, target, MOVE_MOUNT_F_EMPTY_PATH) < 0 ? -errno : 0;
}

/* TPL_DIR followed by src into buf (no allocation: the child calls it). */
static const char *tpl_path(char *buf, size_t size, const char *src) {
        size_t a = sizeof(TPL_DIR) - 1, b = strlen(src);
        if (a + b + 1 > size)
                return src;
        memcpy(buf, TPL_DIR, a);
        memcpy(buf + a, src, b + 1);
        return buf;
}

/* t: the target relative to the task root, the working directory. tree_fd:
 * an extra bind's detached copy (template mode), else -1. */
static int apply_one(const struct mnt *m, const char *t, bool tpl, int tree_fd) {
        char src[PATH_MAX];
        const char *source = tpl && m->in_template ? tpl_path(src, sizeof(src), m->source) : m->source;
        switch (m->kind) {
        case M_BIND:
                if (tree_fd >= 0) {
                        int r = attach_tree(tree_fd, t);
                        if (r < 0)
                                return r;
                } else if (mount(source, t, NULL, MS_BIND | MS_REC, NULL) < 0) {
                        return -errno;
                }
                /* A bind of the template's copy is read-only and nosuid already. */
                if (m->read_only && !(tpl && m->in_template) && bind_ro(t, MS_NOSUID) < 0 &&
                    bind_ro(t, MS_NOSUID | kept_flags(t)) < 0)
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
                return mount(source, t, NULL, MS_BIND, NULL) < 0 ? -errno : 0;
        }
        case M_SYMLINK:
                return symlink(m->source, t) < 0 && errno != EEXIST ? -errno : 0;
        }
        return -EINVAL;
}

/* Template mode, before the mounts: detached copies of the task root and the
 * extra binds (host paths, reachable only from here), then a private copy of
 * the template namespace, the root attached at TPL_ROOT. */
static int enter_template(const struct mount_plan *p, int template_fd, int *tree_fds) {
        _cleanup_close_ int root = clone_tree(p->root);
        if (root < 0)
                return root;
        for (int i = 0; i < p->n; i++)
                if (p->m[i].kind == M_BIND && !p->m[i].in_template && (tree_fds[i] = clone_tree(p->m[i].source)) < 0)
                        return tree_fds[i];
        if (setns(template_fd, CLONE_NEWNS) < 0 || unshare(CLONE_NEWNS) < 0)
                return -errno;
        int r = attach_tree(root, TPL_ROOT);
        if (r < 0)
                return r;
        return chdir(TPL_ROOT) < 0 ? -errno : 0;
}

int mount_plan_apply(const struct mount_plan *p, int template_fd, int file_uid, int file_gid, int *ret_step) {
        *ret_step = -1;
        int tree_fds[MAX_MOUNTS];
        for (int i = 0; i < p->n; i++)
                tree_fds[i] = -1;
        int r = 0;
        if (template_fd >= 0) {
                r = enter_template(p, template_fd, tree_fds);
        } else if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
                   mount(p->root, p->root, NULL, MS_BIND | MS_REC, NULL) < 0 || chdir(p->root) < 0) {
                /* Nothing below propagates back to the host; the root must be a
                 * mount point for pivot_root; into it now, while the host's
                 * directories above it are still searched as the agent's uid (a
                 * user namespace changes fsuid below). */
                r = -errno;
        }
        for (int i = 0; r == 0 && i < p->n; i++) {
                if (i == p->dev_first && file_uid >= 0) {
                        /* In a user namespace where host root is not mapped, new files
                         * need a mapped owner: the task's. So /dev (the task's own
                         * 64k tmpfs) belongs to the task there. setfsuid cannot
                         * fail loudly; a creation below would say EOVERFLOW. */
                        syscall(SYS_setfsgid, (gid_t)file_gid);
                        syscall(SYS_setfsuid, (uid_t)file_uid);
                }
                r = apply_one(&p->m[i], p->m[i].target + strlen(p->root) + 1, template_fd >= 0, tree_fds[i]);
                if (r < 0)
                        *ret_step = i;
        }
        for (int i = 0; i < p->n; i++)
                if (tree_fds[i] >= 0)
                        close(tree_fds[i]);
        return r;
}

int mount_plan_pivot(int template_fd) {
        if (template_fd < 0 && syscall(SYS_pivot_root, ".", ".") == 0) {
                /* The old root is stacked under the new one: detach it. */
                if (umount2(".", MNT_DETACH) < 0)
                        return -errno;
        } else if (template_fd >= 0 || errno == EINVAL) {
                /* From a template: its root holds only the read-only copies the
                 * task sees anyway, so the root moves over it and nothing is
                 * detached (a detach waits for an RCU grace period: milliseconds
                 * under load). Without one, the initial ramfs cannot be pivoted
                 * away: the same move over it. */
                if (mount(".", "/", NULL, MS_MOVE, NULL) < 0 || chroot(".") < 0)
                        return -errno;
        } else {
                return -errno;
        }
        return chdir("/") < 0 ? -errno : 0;
}

/* ---- the template namespace ------------------------------------------------------------------ */

struct mount_template {
        int ns_fd;
};

/* What the helper mounts, worked out before the fork (the helper, forked from
 * a possibly threaded agent, makes raw syscalls only). */
struct template_paths {
        char dir[64];
        int n_dirs, n_devs;
        const char *dirs[ARRAY_SIZE(host_dirs)];
        char dir_targets[ARRAY_SIZE(host_dirs)][64];
        char dev_sources[ARRAY_SIZE(dev_nodes)][32];
        char dev_targets[ARRAY_SIZE(dev_nodes)][64];
};

/* The helper's side, in its own mount namespace: a read-only tmpfs root with
 * TPL_ROOT and TPL_DIR's read-only copies. */
static int build_template(const struct template_paths *tp) {
        if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
            mount("tmpfs", tp->dir, "tmpfs", MS_NOSUID | MS_NODEV, "mode=755,size=64k") < 0 || chdir(tp->dir) < 0 ||
            mkdir("." TPL_ROOT, 0755) < 0 || mkdir("." TPL_DIR, 0755) < 0 || mkdir("." TPL_DIR "/dev", 0755) < 0)
                return -errno;
        for (int i = 0; i < tp->n_dirs; i++) {
                const char *t = tp->dir_targets[i];
                if (mkdir(t, 0755) < 0 || mount(tp->dirs[i], t, NULL, MS_BIND | MS_REC, NULL) < 0 ||
                    (bind_ro(t, MS_NOSUID) < 0 && bind_ro(t, MS_NOSUID | kept_flags(t)) < 0))
                        return -errno;
        }
        for (int i = 0; i < tp->n_devs; i++) {
                int fd = open(tp->dev_targets[i], O_WRONLY | O_CREAT | O_CLOEXEC, 0666);
                if (fd < 0)
                        return -errno;
                close(fd);
                if (mount(tp->dev_sources[i], tp->dev_targets[i], NULL, MS_BIND, NULL) < 0)
                        return -errno;
        }
        if (syscall(SYS_pivot_root, ".", ".") == 0) {
                if (umount2(".", MNT_DETACH) < 0)
                        return -errno;
        } else if (errno != EINVAL || mount(".", "/", NULL, MS_MOVE, NULL) < 0 || chroot(".") < 0) {
                return -errno; /* EINVAL: the initial ramfs, moved over as mount_plan_pivot does */
        }
        if (chdir("/") < 0 || mount(NULL, "/", NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV, NULL) < 0)
                return -errno;
        return 0;
}

int mount_template_create(struct mount_template **ret, struct error *err) {
        _cleanup_free_ struct mount_template *t = malloc(sizeof(*t));
        _cleanup_free_ struct template_paths *tp = calloc(1, sizeof(*tp));
        if (!t || !tp)
                return errorf(err, -ENOMEM, "out of memory");
        struct stat st;
        for (size_t i = 0; i < ARRAY_SIZE(host_dirs); i++)
                if (stat(host_dirs[i], &st) == 0 && S_ISDIR(st.st_mode)) {
                        tp->dirs[tp->n_dirs] = host_dirs[i];
                        snprintf(tp->dir_targets[tp->n_dirs++], sizeof(tp->dir_targets[0]), "." TPL_DIR "%s",
                                 host_dirs[i]);
                }
        for (size_t i = 0; i < ARRAY_SIZE(dev_nodes); i++) {
                char *src = tp->dev_sources[tp->n_devs];
                snprintf(src, sizeof(tp->dev_sources[0]), "/dev/%s", dev_nodes[i]);
                if (stat(src, &st) == 0 && S_ISCHR(st.st_mode))
                        snprintf(tp->dev_targets[tp->n_devs++], sizeof(tp->dev_targets[0]), "." TPL_DIR "/dev/%s",
                                 dev_nodes[i]);
        }
        snprintf(tp->dir, sizeof(tp->dir), "/tmp/drover-mnt-template-XXXXXX");
        if (!mkdtemp(tp->dir))
                return errorf(err, -errno, "mount template: mkdtemp: %s", strerror(errno));
        int p[2];
        if (pipe2(p, O_CLOEXEC) < 0) {
                int e = errno;
                rmdir(tp->dir);
                return errorf(err, -e, "mount template: pipe: %s", strerror(e));
        }
        _cleanup_close_ int rd = p[0];
        _cleanup_close_ int wr = p[1];
        pid_t pid = fork();
        if (pid == 0) {
                prctl(PR_SET_PDEATHSIG, SIGKILL);
                int r = build_template(tp);
                ssize_t n = write(wr, &r, sizeof(r));
                (void)n;
                /* Alive (and so the namespace) until the caller opened it and
                 * kills this helper (or dies: PDEATHSIG). */
                while (r == 0)
                        pause();
                _exit(1);
        }
        int e = errno;
        if (pid < 0) {
                rmdir(tp->dir);
                return errorf(err, -e, "mount template: fork: %s", strerror(e));
        }
        int r = 0;
        ssize_t n;
        do
                n = read(rd, &r, sizeof(r));
        while (n < 0 && errno == EINTR);
        if (n != (ssize_t)sizeof(r))
                r = -EIO;
        t->ns_fd = -1;
        if (r == 0) {
                char path[64];
                snprintf(path, sizeof(path), "/proc/%d/ns/mnt", (int)pid);
                t->ns_fd = open(path, O_RDONLY | O_CLOEXEC);
                if (t->ns_fd < 0)
                        r = -errno;
        }
        kill(pid, SIGKILL);
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
                ;
        rmdir(tp->dir); /* the helper's tmpfs lived in its own namespace only */
        if (r < 0)
                return errorf(err, r, "mount template: %s", strerror(-r));
        *ret = TAKE_PTR(t);
        return 0;
}

int mount_template_fd(const struct mount_template *t) {
        return t ? t->ns_fd : -1;
}

struct mount_template *mount_template_free(struct mount_template *t) {
        if (!t)
                return NULL;
        int saved = errno;
        close(t->ns_fd);
        free(t);
        errno = saved;
        return NULL;
}

struct mount_plan *mount_plan_free(struct mount_plan *p) {
        free(p);
        return NULL;
}
