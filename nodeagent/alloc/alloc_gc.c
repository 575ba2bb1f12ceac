/* alloc_gc.c - which terminal allocation directories go, and removing them. */
#include "nodeagent/alloc/alloc_gc.h"

#include <dirent.h>
#include <errno.h>
#include <stdatomic.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "common/error.h"
#include "common/hashmap.h"
#include "common/ids.h"
#include "common/macros.h"
#include "nodeagent/alloc/alloc_dir.h"

static int by_age(const void *a, const void *b) {
        const struct gc_candidate *x = a, *y = b;
        return x->finished_ns < y->finished_ns ? -1 : x->finished_ns > y->finished_ns ? 1 : strcmp(x->id, y->id);
}

size_t alloc_gc_select(struct gc_candidate *c, size_t n, size_t live, const struct gc_policy *p, int64_t now_ns,
                       struct gc_disk disk) {
        if (n)
                qsort(c, n, sizeof(*c), by_age);
        size_t chosen = 0;
        for (size_t i = 0; i < n; i++) {
                c[i].collect = p->max_age_ns > 0 && now_ns - c[i].finished_ns > p->max_age_ns;
                chosen += c[i].collect;
        }
        /* Too many allocations: the oldest terminal ones go until the count fits. */
        for (size_t i = 0; i < n && p->max_allocs > 0 && live + n - chosen > (size_t)p->max_allocs; i++)
                if (!c[i].collect) {
                        c[i].collect = true;
                        chosen++;
                }
        /* A full disk: the oldest go until usage is under the threshold. */
        uint64_t used = disk.used;
        for (size_t i = 0; i < n; i++)
                if (c[i].collect)
                        used -= c[i].bytes < used ? c[i].bytes : used;
        for (size_t i = 0; i < n && disk.total > 0 && p->disk_usage_threshold > 0; i++) {
                if ((double)used * 100.0 / (double)disk.total <= p->disk_usage_threshold)
                        break;
                if (!c[i].collect) {
                        c[i].collect = true;
                        chosen++;
                        used -= c[i].bytes < used ? c[i].bytes : used;
                }
        }
        return chosen;
}

/* ---- measuring and removing ------------------------------------------------------- */

static __thread uint64_t walk_bytes;
static __thread int64_t walk_newest;

static int measure_entry(const char *path, const struct stat *sb, int flag, struct FTW *f) {
        walk_bytes += (uint64_t)sb->st_blocks * 512;
        int64_t t = (int64_t)sb->st_mtim.tv_sec * 1000000000 + sb->st_mtim.tv_nsec;
        if (t > walk_newest)
                walk_newest = t;
        return 0;
}

/* rmdir for a directory (FTW_DP: its entries went first), unlink for anything
 * else: remove(3) tries unlink first and rmdir after its EISDIR, a failed call
 * per directory. For trees deeper than remove_tree goes with fds. */
static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *f) {
        int r = flag == FTW_DP ? rmdir(path) : flag == FTW_F || flag == FTW_SL ? unlink(path) : remove(path);
        if (r < 0 && errno != ENOENT)
                return -1;
        return 0;
}

/* Directories remove_tree descends with an fd each; below, nftw by path (16 fds). */
#define REMOVE_FD_DEPTH 16

static void closedirp(DIR **d) {
        if (*d)
                closedir(*d);
}

/* Remove what the directory dfd (taken: closed here) holds, path its name for nftw
 * below REMOVE_FD_DEPTH: depth first over fds, unlinkat per entry, the entry's type
 * from d_type (fstatat only where the file system does not say), never through a
 * symlink (O_NOFOLLOW), never into another file system (a mount point's directory on
 * dev is left, as nftw's FTW_MOUNT). nftw (an lstat per entry, every call by full path)
 * took twice the system calls. 0, or -1 with errno of the first failure. */
static int empty_tree(int dfd, dev_t dev, char *path, size_t path_len, size_t path_cap, int depth) {
        _cleanup_(closedirp) DIR *d = fdopendir(dfd);
        if (!d) {
                close(dfd);
                return -1;
        }
        int r = 0, first_errno = 0;
        struct dirent *de;
        while ((de = readdir(d))) {
                const char *name = de->d_name;
                if (name[0] == '.' && (!name[1] || (name[1] == '.' && !name[2])))
                        continue;
                bool is_dir = de->d_type == DT_DIR;
                if (de->d_type == DT_UNKNOWN) {
                        struct stat sb;
                        is_dir = fstatat(dirfd(d), name, &sb, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(sb.st_mode);
                }
                if (is_dir) {
                        size_t n = strlen(name);
                        if (path_len + 1 + n >= path_cap) {
                                errno = ENAMETOOLONG;
                                goto failed;
                        }
                        path[path_len] = '/';
                        memcpy(path + path_len + 1, name, n + 1);
                        if (depth + 1 >= REMOVE_FD_DEPTH) {
                                bool ok = nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT) == 0;
                                path[path_len] = '\0';
                                if (!ok)
                                        goto failed;
                                continue;
                        }
                        int sub = openat(dirfd(d), name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                        struct stat sb;
                        if (sub < 0 || fstat(sub, &sb) < 0) {
                                path[path_len] = '\0';
                                if (sub >= 0)
                                        close(sub);
                                if (errno == ENOENT)
                                        continue;
                                goto failed;
                        }
                        if (sb.st_dev != dev) { /* a mount point: left, and so its parents */
                                close(sub);
                                path[path_len] = '\0';
                                errno = EBUSY;
                                goto failed;
                        }
                        int e = empty_tree(sub, dev, path, path_len + 1 + n, path_cap, depth + 1);
                        path[path_len] = '\0';
                        if (e < 0)
                                goto failed;
                }
                if (unlinkat(dirfd(d), name, is_dir ? AT_REMOVEDIR : 0) == 0 || errno == ENOENT)
                        continue;
        failed:
                if (!first_errno)
                        first_errno = errno;
                r = -1;
        }
        if (r < 0)
                errno = first_errno;
        return r;
}

/* Remove the directory path and all it holds (empty_tree). 0, or -1 with errno. */
static int remove_tree(const char *path) {
        int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        struct stat sb;
        if (fd < 0 || fstat(fd, &sb) < 0) {
                int e = errno;
                if (fd >= 0)
                        close(fd);
                errno = e;
                return e == ENOENT ? 0 : -1;
        }
        char buf[4400];
        size_t len = strlen(path);
        if (len >= sizeof(buf)) {
                close(fd);
                errno = ENAMETOOLONG;
                return -1;
        }
        memcpy(buf, path, len + 1);
        if (empty_tree(fd, sb.st_dev, buf, len, sizeof(buf), 0) < 0)
                return -1;
        return rmdir(path) == 0 || errno == ENOENT ? 0 : -1;
}

/* What one walk of a terminal allocation's directory found: ID -> malloc'd struct
 * gc_candidate (its collect flag unused). */
static struct hashmap *measured_free(struct hashmap *m) {
        size_t it = 0;
        void *v;
        while (m && hashmap_next(m, &it, NULL, &v))
                free(v);
        return hashmap_destroy(m);
}

/* alloc_gc_run, stopping between directories once *stop is set (when not NULL).
 * measured (NULL: none): the walks of the last run, replaced by this run's. A terminal
 * allocation's directory does not change any more: each is walked (every entry
 * stat'ed, for its size and newest change) once, not at every collection, which runs
 * again a second after each allocation ends; only what is new or live is walked. */
static int gc_run(const char *data_dir, const struct gc_policy *p, int64_t now_ns, gc_in_use_fn in_use,
                  void (*collected)(const char *alloc_id, void *data), void *data, const atomic_bool *stop,
                  struct hashmap **measured, struct error *err) {
        char root[4200];
        snprintf(root, sizeof(root), "%s/alloc", data_dir);
        _cleanup_(closedirp) DIR *d = opendir(root);
        if (!d)
                return errno == ENOENT ? 0 : errorf(err, -errno, "gc: open %s: %s", root, strerror(errno));
        _cleanup_free_ struct gc_candidate *c = NULL;
        struct hashmap *old = measured ? *measured : NULL;
        struct hashmap *now = measured ? hashmap_create(HASHMAP_OWN_KEYS) : NULL;
        size_t n = 0, cap = 0, live = 0;
        struct dirent *de;
        while ((de = readdir(d)) && !(stop && atomic_load(stop))) {
                if (!id_is_valid(de->d_name))
                        continue;
                if (in_use && in_use(de->d_name, data)) {
                        live++;
                        continue;
                }
                if (n == cap) {
                        cap = cap ? cap * 2 : 32;
                        struct gc_candidate *nc = realloc(c, cap * sizeof(*nc));
                        if (!nc) {
                                measured_free(now);
                                return errorf(err, -ENOMEM, "out of memory");
                        }
                        c = nc;
                }
                const struct gc_candidate *seen = old ? hashmap_get(old, de->d_name) : NULL;
                if (seen) {
                        c[n] = *seen;
                } else {
                        char path[4400];
                        struct stat sb;
                        snprintf(path, sizeof(path), "%s/%.40s", root, de->d_name); /* an ID: 36 characters */
                        if (lstat(path, &sb) < 0 || !S_ISDIR(sb.st_mode))
                                continue;
                        walk_bytes = 0;
                        walk_newest = 0;
                        nftw(path, measure_entry, 16, FTW_PHYS | FTW_MOUNT);
                        if (p->live_changed_after_ns > 0 && walk_newest >= p->live_changed_after_ns) {
                                live++;
                                continue;
                        }
                        c[n] = (struct gc_candidate){.finished_ns = walk_newest, .bytes = walk_bytes};
                        snprintf(c[n].id, sizeof(c[n].id), "%.40s", de->d_name);
                }
                c[n].collect = false;
                struct gc_candidate *keep = now ? malloc(sizeof(*keep)) : NULL;
                if (keep) {
                        *keep = c[n];
                        if (hashmap_put(now, keep->id, keep, NULL) < 0)
                                free(keep);
                }
                n++;
        }
        if (measured) {
                measured_free(old);
                *measured = now; /* NULL when out of memory: every directory walked next time */
        }
        struct statvfs vfs;
        struct gc_disk disk = {0};
        if (statvfs(root, &vfs) == 0) {
                disk.total = (uint64_t)vfs.f_blocks * vfs.f_frsize;
                disk.used = disk.total - (uint64_t)vfs.f_bavail * vfs.f_frsize;
        }
        alloc_gc_select(c, n, live, p, now_ns, disk);
        int removed = 0;
        for (size_t i = 0; i < n && !(stop && atomic_load(stop)); i++) {
                if (!c[i].collect)
                        continue;
                char path[4400];
                snprintf(path, sizeof(path), "%s/%s", root, c[i].id);
                /* Its tasks' secrets/ tmpfs first (detached), then depth first, never
                 * through a symlink, never across a mount. */
                alloc_dir_release(path, NULL);
                if (remove_tree(path) < 0) {
                        if (removed == 0 && err)
                                errorf(err, -errno, "gc: remove %s: %s", path, strerror(errno));
                        continue;
                }
                removed++;
                void *gone = NULL;
                if (measured && *measured && hashmap_remove(*measured, c[i].id, &gone) == 0)
                        free(gone);
                if (collected)
                        collected(c[i].id, data);
        }
        return removed;
}

bool alloc_gc_defer(bool starts_pending, int64_t deferred_since_ns, int64_t now_ns, int64_t max_wait_ns) {
        if (!starts_pending)
                return false;
        return deferred_since_ns == 0 || now_ns - deferred_since_ns < max_wait_ns;
}

int alloc_gc_run(const char *data_dir, const struct gc_policy *p, int64_t now_ns, gc_in_use_fn in_use,
                 void (*collected)(const char *alloc_id, void *data), void *data, struct error *err) {
        return gc_run(data_dir, p, now_ns, in_use, collected, data, NULL, NULL, err);
}

/* ---- off the loop ------------------------------------------------------------------ */

struct alloc_gc {
        uv_async_t async; /* the thread says it finished */
        gc_done_fn done;
        void *data;
        char *data_dir;
        bool running; /* a thread was created and not joined yet */
        bool closing;
        uv_thread_t thread;
        atomic_bool stop;
        /* the run's input and outcome: written before the thread starts and read
         * after it ended (uv_thread_join orders them) */
        struct gc_policy policy;
        int64_t now_ns;
        struct hashmap *in_use; /* ID -> non-NULL */
        struct hashmap *measured; /* gc_run's walks, kept from run to run; the thread's alone while it runs */
        struct gc_outcome outcome;
};

static bool set_in_use(const char *alloc_id, void *data) {
        struct alloc_gc *g = data;
        return hashmap_get(g->in_use, alloc_id) != NULL;
}

static void gc_thread(void *arg) {
        struct alloc_gc *g = arg;
        struct error err = {0};
        g->outcome.removed = gc_run(g->data_dir, &g->policy, g->now_ns, set_in_use, NULL, g, &g->stop, &g->measured, &err);
        snprintf(g->outcome.error, sizeof(g->outcome.error), "%s", err.msg);
        uv_async_send(&g->async);
}

static void on_gc_finished(uv_async_t *a) {
        struct alloc_gc *g = a->data;
        if (!g->running)
                return;
        uv_thread_join(&g->thread);
        g->running = false;
        uv_unref((uv_handle_t *)&g->async);
        hashmap_destroy(g->in_use);
        g->in_use = NULL;
        if (!g->closing && g->done)
                g->done(&g->outcome, g->data);
}

struct alloc_gc *alloc_gc_create(uv_loop_t *loop, const char *data_dir, gc_done_fn done, void *data) {
        struct alloc_gc *g = calloc(1, sizeof(*g));
        if (!g)
                return NULL;
        g->data_dir = strdup(data_dir);
        if (!g->data_dir || uv_async_init(loop, &g->async, on_gc_finished) < 0) {
                free(g->data_dir);
                free(g);
                return NULL;
        }
        g->async.data = g;
        uv_unref((uv_handle_t *)&g->async); /* keeps the loop alive only while a collection runs */
        g->done = done;
        g->data = data;
        return g;
}

bool alloc_gc_busy(const struct alloc_gc *g) {
        return g->running;
}

int alloc_gc_begin(struct alloc_gc *g, const struct gc_policy *p, int64_t now_ns, const char *const *in_use,
                   size_t n_in_use) {
        if (g->running)
                return -EBUSY;
        if (g->closing)
                return -ESHUTDOWN;
        struct hashmap *set = hashmap_create(HASHMAP_OWN_KEYS);
        if (!set)
                return -ENOMEM;
        hashmap_reserve(set, n_in_use);
        for (size_t i = 0; i < n_in_use; i++)
                if (hashmap_put(set, in_use[i], (void *)1, NULL) < 0) {
                        hashmap_destroy(set);
                        return -ENOMEM;
                }
        g->in_use = set;
        g->policy = *p;
        g->now_ns = now_ns;
        g->outcome = (struct gc_outcome){0};
        atomic_store(&g->stop, false);
        int r = uv_thread_create(&g->thread, gc_thread, g);
        if (r < 0) {
                hashmap_destroy(set);
                g->in_use = NULL;
                return r;
        }
        g->running = true;
        uv_ref((uv_handle_t *)&g->async);
        return 0;
}

static void on_gc_closed(uv_handle_t *h) {
        struct alloc_gc *g = h->data;
        measured_free(g->measured);
        free(g->data_dir);
        free(g);
}

void alloc_gc_close(struct alloc_gc *g) {
        if (!g || g->closing)
                return;
        g->closing = true;
        if (g->running) {
                atomic_store(&g->stop, true);
                uv_thread_join(&g->thread);
                g->running = false;
                hashmap_destroy(g->in_use);
                g->in_use = NULL;
        }
        uv_close((uv_handle_t *)&g->async, on_gc_closed);
}
