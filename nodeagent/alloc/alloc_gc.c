/* alloc_gc.c - which terminal allocation directories go, and removing them. */
#include "nodeagent/alloc/alloc_gc.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "common/error.h"
#include "common/ids.h"
#include "common/macros.h"

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

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *f) {
        if (remove(path) < 0 && errno != ENOENT)
                return -1;
        return 0;
}

static void closedirp(DIR **d) {
        if (*d)
                closedir(*d);
}

int alloc_gc_run(const char *data_dir, const struct gc_policy *p, int64_t now_ns, gc_in_use_fn in_use,
                 void (*collected)(const char *alloc_id, void *data), void *data, struct error *err) {
        char root[4200];
        snprintf(root, sizeof(root), "%s/alloc", data_dir);
        _cleanup_(closedirp) DIR *d = opendir(root);
        if (!d)
                return errno == ENOENT ? 0 : errorf(err, -errno, "gc: open %s: %s", root, strerror(errno));
        _cleanup_free_ struct gc_candidate *c = NULL;
        size_t n = 0, cap = 0, live = 0;
        struct dirent *de;
        while ((de = readdir(d))) {
                if (!id_is_valid(de->d_name))
                        continue;
                if (in_use && in_use(de->d_name, data)) {
                        live++;
                        continue;
                }
                char path[4400];
                struct stat sb;
                snprintf(path, sizeof(path), "%s/%.40s", root, de->d_name); /* an ID: 36 characters */
                if (lstat(path, &sb) < 0 || !S_ISDIR(sb.st_mode))
                        continue;
                if (n == cap) {
                        cap = cap ? cap * 2 : 32;
                        struct gc_candidate *nc = realloc(c, cap * sizeof(*nc));
                        if (!nc)
                                return errorf(err, -ENOMEM, "out of memory");
                        c = nc;
                }
                walk_bytes = 0;
                walk_newest = 0;
                nftw(path, measure_entry, 16, FTW_PHYS | FTW_MOUNT);
                c[n] = (struct gc_candidate){.finished_ns = walk_newest, .bytes = walk_bytes};
                snprintf(c[n].id, sizeof(c[n].id), "%.40s", de->d_name);
                n++;
        }
        struct statvfs vfs;
        struct gc_disk disk = {0};
        if (statvfs(root, &vfs) == 0) {
                disk.total = (uint64_t)vfs.f_blocks * vfs.f_frsize;
                disk.used = disk.total - (uint64_t)vfs.f_bavail * vfs.f_frsize;
        }
        alloc_gc_select(c, n, live, p, now_ns, disk);
        int removed = 0;
        for (size_t i = 0; i < n; i++) {
                if (!c[i].collect)
                        continue;
                char path[4400];
                snprintf(path, sizeof(path), "%s/%s", root, c[i].id);
                /* Depth first, never through a symlink, never across a mount. */
                if (nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT) < 0) {
                        if (removed == 0 && err)
                                errorf(err, -errno, "gc: remove %s: %s", path, strerror(errno));
                        continue;
                }
                removed++;
                if (collected)
                        collected(c[i].id, data);
        }
        return removed;
}
