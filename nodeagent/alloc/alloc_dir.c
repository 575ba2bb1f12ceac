/* alloc_dir.c - an allocation's directory tree, private to its tasks (see alloc_dir.h). */
#include "nodeagent/alloc/alloc_dir.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <linux/magic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "common/error.h"
#include "common/macros.h"
#include "nodeagent/util.h"

void alloc_dir_shared_owner(const struct alloc_dir_task *t, size_t n, struct alloc_dir_owner *ret) {
        *ret = (struct alloc_dir_owner){.dir_mode = 0700, .data_mode = 0700, .shared_mode = 0700, .logs_mode = 0700};
        bool same = n > 0;
        for (size_t i = 1; i < n && same; i++)
                same = t[i].uid == t[0].uid && t[i].gid == t[0].gid;
        if (same) {
                ret->uid = t[0].uid;
                ret->gid = t[0].gid;
        }
        /* The group every non-root task has (none: root alone). */
        bool have = false;
        gid_t g = 0;
        for (size_t i = 0; i < n; i++) {
                if (t[i].uid == 0)
                        continue;
                if (have && t[i].gid != g)
                        return;
                g = t[i].gid;
                have = true;
        }
        if (!have || g == 0)
                return;
        ret->group = g;
        ret->shared_mode = 01770;
        ret->logs_mode = 0750;
        if (!same) {
                ret->gid = g;
                ret->dir_mode = 0710;
                ret->data_mode = 03770;
        }
}

/* Give fd (a directory we just opened) its owner and mode, changing only what
 * differs: a chown or chmod writes the inode (its ctime) even when it changes
 * nothing, and most directories are made with the right owner and mode already.
 * A non-root agent cannot give files away: its own stay its own (EPERM ignored
 * then). */
static int own(int fd, const char *what, uid_t uid, gid_t gid, mode_t mode, struct error *err) {
        struct stat sb;
        if (fstat(fd, &sb) < 0)
                return errorf(err, -errno, "stat %s: %s", what, strerror(errno));
        if ((sb.st_uid != uid || sb.st_gid != gid) && fchown(fd, uid, gid) < 0 &&
            !(errno == EPERM && geteuid() != 0))
                return errorf(err, -errno, "chown %s to %u:%u: %s", what, (unsigned)uid, (unsigned)gid,
                              strerror(errno));
        /* A chown clears set-ID bits: read the mode again after one. */
        if ((sb.st_uid != uid || sb.st_gid != gid) && fstat(fd, &sb) < 0)
                return errorf(err, -errno, "stat %s: %s", what, strerror(errno));
        if ((sb.st_mode & 07777) != mode && fchmod(fd, mode) < 0)
                return errorf(err, -errno, "chmod %s: %s", what, strerror(errno));
        return 0;
}

/* The directory name under parent (made when missing), opened without following a
 * symlink, owned uid:gid with mode. Returns its fd or negative errno. */
static int ensure_dir(int parent, const char *name, const char *what, uid_t uid, gid_t gid, mode_t mode,
                      struct error *err) {
        if (mkdirat(parent, name, mode & 0777) < 0 && errno != EEXIST)
                return errorf(err, -errno, "create %s: %s", what, strerror(errno));
        int fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0) {
                int e = errno;
                if (e == ELOOP || e == ENOTDIR)
                        return errorf(err, -ENOTDIR, "%s is not a directory (a symlink?): not following it", what);
                return errorf(err, -e, "open %s: %s", what, strerror(e));
        }
        int r = own(fd, what, uid, gid, mode, err);
        if (r < 0) {
                close(fd);
                return r;
        }
        return fd;
}

/* ensure_dir for a directory whose fd the caller does not need: mkdirat and one
 * fstatat when it is already as it should be (most are: made just now), open, stat,
 * chown and chmod only when not. 1 when this call made it, 0 when it was there, or
 * negative errno. */
static int ensure_leaf(int parent, const char *name, const char *what, uid_t uid, gid_t gid, mode_t mode,
                       struct error *err) {
        bool made = mkdirat(parent, name, mode & 0777) == 0;
        if (!made && errno != EEXIST)
                return errorf(err, -errno, "create %s: %s", what, strerror(errno));
        struct stat sb;
        if (fstatat(parent, name, &sb, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(sb.st_mode) && sb.st_uid == uid &&
            sb.st_gid == gid && (sb.st_mode & 07777) == mode)
                return made;
        int fd = ensure_dir(parent, name, what, uid, gid, mode, err);
        if (fd < 0)
                return fd;
        close(fd);
        return made;
}

/* The file system has no such flags (tmpfs, overlayfs) or not this one. */
static bool unsupported(int e) {
        return e == ENOTTY || e == EOPNOTSUPP || e == ENOTSUP || e == EINVAL || e == ENOSYS;
}

/* fd (a directory opened under dir_fd) is the root of a tmpfs mounted there. */
static bool is_tmpfs_mount_fd(int dir_fd, int fd) {
        struct stat parent, self;
        struct statfs fs;
        if (fd < 0 || fstat(dir_fd, &parent) < 0 || fstat(fd, &self) < 0 || fstatfs(fd, &fs) < 0)
                return false;
        return self.st_dev != parent.st_dev && fs.f_type == TMPFS_MAGIC;
}

bool alloc_dir_is_tmpfs_mount(int dir_fd, const char *name) {
        _cleanup_close_ int fd = openat(dir_fd, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        return is_tmpfs_mount_fd(dir_fd, fd);
}

/* secrets/ of the task (task_fd): a tmpfs, mounted once. */
static int mount_secrets(int task_fd, const char *what, const struct alloc_dir_task *t, struct alloc_dir_result *res,
                         struct error *err) {
        _cleanup_close_ int fd = openat(task_fd, "secrets", O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return errorf(err, -errno, "open %s: %s", what, strerror(errno));
        struct stat parent, self;
        if (fstat(task_fd, &parent) < 0 || fstat(fd, &self) < 0)
                return errorf(err, -errno, "stat %s: %s", what, strerror(errno));
        if (self.st_dev != parent.st_dev)
                return errorf(err, -EEXIST, "%s is a mount point of another file system than tmpfs: leaving it", what);
        /* Through the fd, so that the kernel mounts on the directory we opened, not on
         * whatever the path names by now. */
        char target[64], opts[128];
        snprintf(target, sizeof(target), "/proc/self/fd/%d", fd);
        snprintf(opts, sizeof(opts), "size=%s,mode=0700,uid=%u,gid=%u", ALLOC_DIR_SECRETS_SIZE, (unsigned)t->uid,
                 (unsigned)t->gid);
        if (mount("tmpfs", target, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, opts) == 0) {
                res->secrets_mounted++;
                return 0;
        }
        int e = errno;
        if (e != EPERM && e != EACCES)
                return errorf(err, -e, "mount a tmpfs on %s: %s", what, strerror(e));
        res->secrets_on_disk++;
        snprintf(res->note, sizeof(res->note), "mounting a tmpfs is not permitted (%s): secrets/ is a 0700 directory",
                 strerror(e));
        return 0;
}

static int check_name(const char *name, struct error *err) {
        if (!*name || strchr(name, '/') || strcmp(name, ".") == 0 || strcmp(name, "..") == 0 ||
            strcmp(name, "alloc") == 0 || strlen(name) > 255)
                return errorf(err, -EINVAL,
                              "task name \"%.64s\" cannot name a directory (empty, \"/\", \".\", \"..\" or \"alloc\")",
                              name);
        return 0;
}

static int build_task(int dfd, const char *path, const struct alloc_dir_task *t, struct alloc_dir_result *res,
                      struct error *err) {
        static const char *const sub[] = {"local", "tmp", "secrets"};
        char what[4400];
        int r = check_name(t->name, err);
        if (r < 0)
                return r;
        snprintf(what, sizeof(what), "%s/%s", path, t->name);
        _cleanup_close_ int tfd = ensure_dir(dfd, t->name, what, t->uid, t->gid, 0700, err);
        if (tfd < 0)
                return tfd;
        for (size_t i = 0; i < ARRAY_SIZE(sub); i++) {
                snprintf(what, sizeof(what), "%s/%s/%s", path, t->name, sub[i]);
                bool secrets = i == 2;
                if (secrets && alloc_dir_is_tmpfs_mount(tfd, sub[i])) {
                        /* A restarted agent: keep it, and what the task keeps in it
                         * (its owner and mode were given at the mount). */
                        res->secrets_reattached++;
                        continue;
                }
                r = ensure_leaf(tfd, sub[i], what, t->uid, t->gid, 0700, err);
                if (r < 0)
                        return r;
                if (secrets && !t->ended && (r = mount_secrets(tfd, what, t, res, err)) < 0)
                        return r;
        }
        return 0;
}

int alloc_dir_root_prepare(const char *root, struct error *err) {
        int r = mkdir_p(root, 0711);
        if (r < 0)
                return errorf(err, r, "create %s: %s", root, strerror(-r));
        _cleanup_close_ int fd = open(root, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return errorf(err, -errno, "open %s: %s", root, strerror(errno));
        int flags = 0;
        if (ioctl(fd, FS_IOC_GETFLAGS, &flags) < 0)
                return unsupported(errno) ? 0 : errorf(err, -errno, "read the flags of %s: %s", root, strerror(errno));
        if (flags & FS_TOPDIR_FL)
                return 1;
        flags |= FS_TOPDIR_FL;
        if (ioctl(fd, FS_IOC_SETFLAGS, &flags) < 0)
                return unsupported(errno)
                           ? 0
                           : errorf(err, -errno, "mark %s a top of directory trees: %s", root, strerror(errno));
        return 1;
}

int alloc_dir_build(const char *path, const struct alloc_dir_task *t, size_t n, struct alloc_dir_result *ret,
                    struct error *err) {
        static const char *const shared[] = {"logs", "tmp", "data"};
        struct alloc_dir_result res = {0};
        struct alloc_dir_owner o;
        alloc_dir_shared_owner(t, n, &o);
        char what[4400];
        /* The parents (<data-dir>/alloc): traversable, not listable. */
        const char *slash = strrchr(path, '/');
        if (!slash || slash == path || (size_t)(slash - path) >= sizeof(what))
                return errorf(err, -EINVAL, "allocation directory \"%s\" must be an absolute path", path);
        snprintf(what, sizeof(what), "%.*s", (int)(slash - path), path);
        int r = mkdir_p(what, 0711);
        if (r < 0)
                return errorf(err, r, "create %s: %s", what, strerror(-r));
        if (mkdir(path, 0700) < 0 && errno != EEXIST)
                return errorf(err, -errno, "create %s: %s", path, strerror(errno));
        _cleanup_close_ int dfd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (dfd < 0)
                return errorf(err, -errno, "open %s: %s", path, strerror(errno));
        r = own(dfd, path, o.uid, o.gid, o.dir_mode, err);
        if (r < 0)
                return r;
        snprintf(what, sizeof(what), "%s/alloc", path);
        _cleanup_close_ int afd = ensure_dir(dfd, "alloc", what, 0, o.group, o.shared_mode, err);
        if (afd < 0)
                return afd;
        for (size_t i = 0; i < ARRAY_SIZE(shared); i++) {
                snprintf(what, sizeof(what), "%s/alloc/%s", path, shared[i]);
                bool logs = i == 0;
                r = ensure_leaf(afd, shared[i], what, logs ? 0 : o.uid, logs ? o.group : o.gid,
                                logs ? o.logs_mode : o.data_mode, err);
                if (r < 0)
                        return r;
                if (logs)
                        res.logs_made = r > 0;
        }
        for (size_t i = 0; i < n; i++)
                if ((r = build_task(dfd, path, &t[i], &res, err)) < 0)
                        return r;
        if (ret)
                *ret = res;
        return 0;
}

int alloc_dir_write_file(const char *path, const char *task, const char *rel, const void *data, size_t n, uid_t uid,
                         gid_t gid, struct error *err) {
        if (!*rel || rel[0] == '/' || strstr(rel, "..") || strlen(rel) > 255)
                return errorf(err, -EINVAL, "file \"%.64s\" must be a relative path inside local/", rel);
        int r = check_name(task, err);
        if (r < 0)
                return r;
        char what[4400];
        snprintf(what, sizeof(what), "%s/%s/local", path, task);
        _cleanup_close_ int dfd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        _cleanup_close_ int tfd = dfd < 0 ? -1 : openat(dfd, task, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        int fd = tfd < 0 ? -1 : openat(tfd, "local", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return errorf(err, -errno, "open %s: %s", what, strerror(errno));
        /* Down rel one component at a time, making what is missing. */
        char comp[256];
        const char *p = rel;
        for (;;) {
                const char *s = strchr(p, '/');
                if (!s)
                        break;
                size_t len = (size_t)(s - p);
                if (len) {
                        snprintf(comp, sizeof(comp), "%.*s", (int)len, p);
                        snprintf(what + strlen(what), sizeof(what) - strlen(what), "/%s", comp);
                        int sub = ensure_dir(fd, comp, what, uid, gid, 0700, err);
                        close(fd);
                        if (sub < 0)
                                return sub;
                        fd = sub;
                }
                p = s + 1;
        }
        _cleanup_close_ int parent = fd;
        snprintf(what + strlen(what), sizeof(what) - strlen(what), "/%s", p);
        _cleanup_close_ int out = openat(parent, p, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (out < 0)
                return errorf(err, -errno, "open %s: %s", what, strerror(errno));
        r = own(out, what, uid, gid, 0600, err);
        if (r < 0)
                return r;
        for (size_t off = 0; off < n;) {
                ssize_t w = write(out, (const char *)data + off, n - off);
                if (w < 0 && errno == EINTR)
                        continue;
                if (w <= 0)
                        return errorf(err, w < 0 ? -errno : -EIO, "write %s: %s", what,
                                      w < 0 ? strerror(errno) : "short write");
                off += (size_t)w;
        }
        return 0;
}

static void closedirp(DIR **d) {
        if (*d)
                closedir(*d);
}

/* Detach the tmpfs on <dfd>/<name>/secrets: 1, 0 when none is there, or -errno. */
static int detach_secrets(int dfd, const char *path, const char *name, struct error *err) {
        _cleanup_close_ int tfd = openat(dfd, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (tfd < 0)
                return 0;
        /* Through the fd of the mount's root: the kernel detaches what we opened (and
         * checked: one open for both). */
        _cleanup_close_ int sfd = openat(tfd, "secrets", O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (!is_tmpfs_mount_fd(tfd, sfd))
                return 0;
        char target[64];
        snprintf(target, sizeof(target), "/proc/self/fd/%d", sfd);
        if (umount2(target, MNT_DETACH) < 0)
                return errorf(err, -errno, "unmount %s/%s/secrets: %s", path, name, strerror(errno));
        return 1;
}

int alloc_dir_release_task(const char *path, const char *task, struct error *err) {
        if (check_name(task, err) < 0)
                return 0; /* never made */
        _cleanup_close_ int dfd = open(path, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (dfd < 0)
                return errno == ENOENT ? 0 : errorf(err, -errno, "open %s: %s", path, strerror(errno));
        return detach_secrets(dfd, path, task, err);
}

int alloc_dir_remount_secrets(const char *path, const struct alloc_dir_task *t, struct error *err) {
        int r = check_name(t->name, err);
        if (r < 0)
                return r;
        _cleanup_close_ int dfd = open(path, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (dfd < 0)
                return errorf(err, -errno, "open %s: %s", path, strerror(errno));
        _cleanup_close_ int tfd = openat(dfd, t->name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (tfd < 0)
                return errorf(err, -errno, "open %s/%s: %s", path, t->name, strerror(errno));
        if (alloc_dir_is_tmpfs_mount(tfd, "secrets"))
                return 0;
        char what[4400];
        snprintf(what, sizeof(what), "%s/%s/secrets", path, t->name);
        struct alloc_dir_result res = {0};
        return mount_secrets(tfd, what, t, &res, err);
}

int alloc_dir_release(const char *path, struct error *err) {
        int dfd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (dfd < 0)
                return errno == ENOENT ? 0 : errorf(err, -errno, "open %s: %s", path, strerror(errno));
        _cleanup_(closedirp) DIR *d = fdopendir(dfd);
        if (!d) {
                close(dfd);
                return errorf(err, -errno, "read %s: %s", path, strerror(errno));
        }
        int n = 0, r = 0;
        struct dirent *de;
        while ((de = readdir(d))) {
                if (de->d_name[0] == '.' || strcmp(de->d_name, "alloc") == 0 ||
                    (de->d_type != DT_DIR && de->d_type != DT_UNKNOWN))
                        continue;
                int one = detach_secrets(dfd, path, de->d_name, r == 0 ? err : NULL);
                if (one > 0)
                        n++;
                else if (one < 0 && r == 0)
                        r = one;
        }
        return r < 0 && n == 0 ? r : n;
}
