/* cgroup.c - one cgroup v2 per task through the cgroupfs files (see cgroup.h). */
#include "isolation/cgroup.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>

#include "common/error.h"
#include "common/macros.h"

#ifndef CGROUP2_SUPER_MAGIC
#define CGROUP2_SUPER_MAGIC 0x63677270
#endif

struct cgroup {
        char path[4096];
        int dirfd; /* O_PATH | O_DIRECTORY */
};

uint64_t cgroup_cpu_weight(int64_t mhz) {
        if (mhz <= 2)
                return 1;
        if (mhz > 262144)
                mhz = 262144;
        uint64_t w = 1 + (((uint64_t)mhz - 2) * 9999) / 262142;
        return w > 10000 ? 10000 : w;
}

static int add(struct cgroup_value *ret, size_t max, size_t *n, const char *ctl, const char *file, bool optional,
               struct error *err, const char *fmt, ...) __attribute__((format(printf, 8, 9)));
static int add(struct cgroup_value *ret, size_t max, size_t *n, const char *ctl, const char *file, bool optional,
               struct error *err, const char *fmt, ...) {
        if (*n >= max)
                return errorf(err, -E2BIG, "cgroup: more than %zu values", max);
        struct cgroup_value *v = &ret[*n];
        memset(v, 0, sizeof(*v));
        snprintf(v->file, sizeof(v->file), "%s", file);
        snprintf(v->controller, sizeof(v->controller), "%s", ctl);
        v->optional = optional;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(v->value, sizeof(v->value), fmt, ap);
        va_end(ap);
        (*n)++;
        return 0;
}

static bool cpuset_valid(const char *s) {
        /* "0", "0-3", "0,2,4-5" */
        bool digit = false;
        for (const char *p = s; *p; p++) {
                if (*p >= '0' && *p <= '9')
                        digit = true;
                else if ((*p == ',' || *p == '-') && digit)
                        digit = false;
                else
                        return false;
        }
        return digit;
}

int cgroup_limit_values(const struct cgroup_limits *l, struct cgroup_value *ret, size_t max, struct error *err) {
        size_t n = 0;
        int r = 0;
        if (l->cpu_mhz < 0)
                return errorf(err, -EINVAL, "cgroup: cpu must be >= 0 MHz (got %" PRId64 ")", l->cpu_mhz);
        if (l->cpu_mhz > 0)
                r = add(ret, max, &n, "cpu", "cpu.weight", false, err, "%" PRIu64, cgroup_cpu_weight(l->cpu_mhz));
        if (r == 0 && l->cpu_max_quota_us != 0) {
                int64_t period = l->cpu_max_period_us ? l->cpu_max_period_us : 100000;
                if (l->cpu_max_quota_us < 1000 || period < 1000 || period > 1000000)
                        return errorf(err, -EINVAL,
                                      "cgroup: cpu.max quota must be >= 1000 us and the period 1000..1000000 us "
                                      "(got %" PRId64 " %" PRId64 ")",
                                      l->cpu_max_quota_us, period);
                r = add(ret, max, &n, "cpu", "cpu.max", false, err, "%" PRId64 " %" PRId64, l->cpu_max_quota_us,
                        period);
        }
        if (r == 0 && l->cpuset_cpus[0]) {
                if (!cpuset_valid(l->cpuset_cpus))
                        return errorf(err, -EINVAL, "cgroup: cpuset \"%s\" is not a CPU list like 0-3,6",
                                      l->cpuset_cpus);
                r = add(ret, max, &n, "cpuset", "cpuset.cpus", false, err, "%s", l->cpuset_cpus);
        }
        if (l->memory_bytes < 0 || l->memory_max_bytes < 0)
                return errorf(err, -EINVAL, "cgroup: memory limits must be >= 0");
        if (l->memory_max_bytes && l->memory_bytes && l->memory_max_bytes < l->memory_bytes)
                return errorf(err, -EINVAL, "cgroup: memory_max (%" PRId64 " bytes) is below memory (%" PRId64 " bytes)",
                              l->memory_max_bytes, l->memory_bytes);
        if (r == 0 && l->memory_max_bytes) {
                /* Oversubscription: reclaim above memory, kill above memory_max. */
                if (l->memory_bytes)
                        r = add(ret, max, &n, "memory", "memory.high", false, err, "%" PRId64, l->memory_bytes);
                if (r == 0)
                        r = add(ret, max, &n, "memory", "memory.max", false, err, "%" PRId64, l->memory_max_bytes);
        } else if (r == 0 && l->memory_bytes) {
                r = add(ret, max, &n, "memory", "memory.max", false, err, "%" PRId64, l->memory_bytes);
        }
        if (r == 0 && (l->memory_bytes || l->memory_max_bytes)) /* the limit is the limit: no swap beyond it */
                r = add(ret, max, &n, "memory", "memory.swap.max", true, err, "0");
        if (r == 0 && l->pids_max < 0)
                return errorf(err, -EINVAL, "cgroup: pids.max must be >= 0 (got %" PRId64 ")", l->pids_max);
        if (r == 0 && l->pids_max > 0)
                r = add(ret, max, &n, "pids", "pids.max", false, err, "%" PRId64, l->pids_max);
        if (r == 0 && (l->io_weight < 0 || l->io_weight > 10000))
                return errorf(err, -EINVAL, "cgroup: io.weight must be 1..10000 (got %d)", l->io_weight);
        if (r == 0 && l->io_weight > 0)
                r = add(ret, max, &n, "io", "io.weight", true, err, "default %d", l->io_weight);
        return r < 0 ? r : (int)n;
}

/* dir/file into buf; -ENAMETOOLONG when it does not fit. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-truncation" /* checked below */
static int join(char *buf, size_t size, const char *dir, const char *file) {
        int n = snprintf(buf, size, "%s/%s", dir, file);
        return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}
#pragma GCC diagnostic pop

static int read_file(const char *path, char *buf, size_t size) {
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        ssize_t n = read(fd, buf, size - 1);
        if (n < 0)
                return -errno;
        buf[n] = '\0';
        return (int)n;
}

static int write_file(const char *path, const char *value) {
        _cleanup_close_ int fd = open(path, O_WRONLY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        size_t len = strlen(value);
        ssize_t n = write(fd, value, len);
        if (n < 0)
                return -errno;
        return (size_t)n == len ? 0 : -EIO;
}

/* Is word in the space-separated list? */
static bool has_word(const char *list, const char *word) {
        size_t len = strlen(word);
        for (const char *p = list; (p = strstr(p, word)); p += len)
                if ((p == list || p[-1] == ' ') && (p[len] == ' ' || p[len] == '\n' || p[len] == '\0'))
                        return true;
        return false;
}

int cgroup_check(const char *mount, const char *const *controllers, struct error *err) {
        struct statfs st;
        if (statfs(mount, &st) < 0)
                return errorf(err, -errno, "cgroup v2 not mounted at %s: %s", mount, strerror(errno));
        if ((unsigned long)st.f_type != (unsigned long)CGROUP2_SUPER_MAGIC)
                return errorf(err, -ENOTSUP, "%s is not a cgroup v2 mount (cgroup v1 or hybrid layout)", mount);
        char path[4200], buf[512];
        join(path, sizeof(path), mount, "cgroup.controllers");
        int r = read_file(path, buf, sizeof(buf));
        if (r < 0)
                return errorf(err, r, "read %s: %s", path, strerror(-r));
        for (size_t i = 0; controllers && controllers[i]; i++)
                if (!has_word(buf, controllers[i]))
                        return errorf(err, -ENOTSUP, "cgroup v2 controller \"%s\" not enabled at %s", controllers[i],
                                      mount);
        return 0;
}

static int enable_controllers(const char *dir, const char *const *controllers, struct error *err) {
        char path[4200], buf[512];
        join(path, sizeof(path), dir, "cgroup.subtree_control");
        int r = read_file(path, buf, sizeof(buf));
        if (r < 0)
                return errorf(err, r, "read %s: %s", path, strerror(-r));
        for (size_t i = 0; controllers && controllers[i]; i++) {
                if (has_word(buf, controllers[i]))
                        continue;
                char v[32];
                snprintf(v, sizeof(v), "+%s", controllers[i]);
                r = write_file(path, v);
                if (r < 0)
                        return errorf(err, r, "enable controller %s in %s: %s", controllers[i], path, strerror(-r));
        }
        return 0;
}

int cgroup_prepare_parent(const char *mount, const char *parent, const char *const *controllers, struct error *err) {
        size_t ml = strlen(mount);
        if (strncmp(parent, mount, ml) != 0 || (parent[ml] != '/' && parent[ml] != '\0'))
                return errorf(err, -EINVAL, "cgroup parent %s is not below the cgroup mount %s", parent, mount);
        int r = cgroup_check(mount, controllers, err);
        if (r < 0)
                return r;
        char dir[4096];
        snprintf(dir, sizeof(dir), "%s", mount);
        const char *p = parent + ml;
        while (*p == '/')
                p++;
        while (*p) {
                /* Enable in the current level, then descend one component. */
                r = enable_controllers(dir, controllers, err);
                if (r < 0)
                        return r;
                const char *slash = strchr(p, '/');
                size_t len = slash ? (size_t)(slash - p) : strlen(p);
                size_t dl = strlen(dir);
                if (dl + 1 + len >= sizeof(dir))
                        return errorf(err, -ENAMETOOLONG, "cgroup parent path too long");
                snprintf(dir + dl, sizeof(dir) - dl, "/%.*s", (int)len, p);
                if (mkdir(dir, 0755) < 0 && errno != EEXIST)
                        return errorf(err, -errno, "mkdir %s: %s", dir, strerror(errno));
                p += len;
                while (*p == '/')
                        p++;
        }
        return enable_controllers(dir, controllers, err);
}

static int cgroup_new(const char *path, struct cgroup **ret, struct error *err) {
        if (strlen(path) >= sizeof(((struct cgroup *)0)->path))
                return errorf(err, -ENAMETOOLONG, "cgroup path too long");
        struct cgroup *cg = calloc(1, sizeof(*cg));
        if (!cg)
                return errorf(err, -ENOMEM, "out of memory");
        snprintf(cg->path, sizeof(cg->path), "%s", path);
        cg->dirfd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (cg->dirfd < 0) {
                int e = errno;
                free(cg);
                return errorf(err, -e, "open cgroup %s: %s", path, strerror(e));
        }
        *ret = cg;
        return 0;
}

int cgroup_create(const char *parent, const char *name, const struct cgroup_limits *l, struct cgroup **ret,
                  struct error *err) {
        struct cgroup_value vals[16];
        int n = cgroup_limit_values(l, vals, ARRAY_SIZE(vals), err);
        if (n < 0)
                return n;
        if (!*name || strchr(name, '/') || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
                return errorf(err, -EINVAL, "cgroup name \"%s\" is not a single path component", name);
        char path[4096];
        if ((size_t)snprintf(path, sizeof(path), "%s/%s", parent, name) >= sizeof(path))
                return errorf(err, -ENAMETOOLONG, "cgroup path too long");
        if (mkdir(path, 0755) < 0)
                return errorf(err, -errno, "mkdir cgroup %s: %s", path, strerror(errno));
        struct cgroup *cg = NULL;
        int r = cgroup_new(path, &cg, err);
        for (int i = 0; r == 0 && i < n; i++) {
                char f[4200];
                join(f, sizeof(f), path, vals[i].file);
                int w = write_file(f, vals[i].value);
                if (w == -ENOENT && vals[i].optional)
                        continue;
                if (w < 0)
                        r = errorf(err, w, "write \"%s\" to %s: %s%s", vals[i].value, f, strerror(-w),
                                   w == -ENOENT ? " (is the controller enabled in the parent's subtree_control?)" : "");
        }
        if (r < 0) {
                cgroup_free(cg);
                rmdir(path);
                return r;
        }
        *ret = cg;
        return 0;
}

int cgroup_open(const char *path, struct cgroup **ret, struct error *err) {
        return cgroup_new(path, ret, err);
}

int cgroup_fd(const struct cgroup *cg) {
        return cg->dirfd;
}

const char *cgroup_path(const struct cgroup *cg) {
        return cg->path;
}

int cgroup_kill(const struct cgroup *cg, struct error *err) {
        char f[4200];
        join(f, sizeof(f), cg->path, "cgroup.kill");
        int r = write_file(f, "1");
        if (r != -ENOENT)
                return r < 0 ? errorf(err, r, "write %s: %s", f, strerror(-r)) : 0;
        /* Before 5.14: SIGKILL every listed process, until none is left (forks race). */
        join(f, sizeof(f), cg->path, "cgroup.procs");
        for (int round = 0; round < 50; round++) {
                _cleanup_fclose_ FILE *fp = fopen(f, "re");
                if (!fp)
                        return errorf(err, -errno, "open %s: %s", f, strerror(errno));
                int pid, killed = 0;
                while (fscanf(fp, "%d", &pid) == 1)
                        if (kill(pid, SIGKILL) == 0)
                                killed++;
                if (!killed)
                        return 0;
        }
        return 0;
}

int cgroup_populated(const struct cgroup *cg) {
        char f[4200], buf[256];
        join(f, sizeof(f), cg->path, "cgroup.events");
        int r = read_file(f, buf, sizeof(buf));
        if (r < 0)
                return r;
        const char *p = strstr(buf, "populated ");
        return p ? p[10] == '1' : -EIO;
}

int cgroup_oom_kills(const struct cgroup *cg, uint64_t *ret, struct error *err) {
        char f[4200], buf[512];
        join(f, sizeof(f), cg->path, "memory.events");
        int r = read_file(f, buf, sizeof(buf));
        if (r == -ENOENT) {
                *ret = 0;
                return 0;
        }
        if (r < 0)
                return errorf(err, r, "read %s: %s", f, strerror(-r));
        for (const char *p = buf; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
                if (strncmp(p, "oom_kill ", 9) == 0) {
                        *ret = strtoull(p + 9, NULL, 10);
                        return 0;
                }
        *ret = 0;
        return 0;
}

int cgroup_remove(const struct cgroup *cg, int timeout_ms, struct error *err) {
        struct timespec start, now;
        clock_gettime(CLOCK_MONOTONIC, &start);
        for (;;) {
                if (rmdir(cg->path) == 0 || errno == ENOENT)
                        return 0;
                if (errno != EBUSY)
                        return errorf(err, -errno, "rmdir %s: %s", cg->path, strerror(errno));
                int r = cgroup_kill(cg, err);
                if (r < 0 && r != -ENOENT)
                        return r;
                clock_gettime(CLOCK_MONOTONIC, &now);
                int64_t ms = (now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000;
                if (ms >= timeout_ms)
                        return errorf(err, -EBUSY, "cgroup %s still has processes after %d ms", cg->path,
                                      timeout_ms);
                usleep(2000);
        }
}

int cgroup_of_pid(int pid, const char *mount, char *ret, size_t size, struct error *err) {
        char f[64], buf[4096];
        snprintf(f, sizeof(f), "/proc/%d/cgroup", pid);
        int r = read_file(f, buf, sizeof(buf));
        if (r < 0)
                return errorf(err, r, "read %s: %s", f, strerror(-r));
        for (char *line = buf; line && *line;) {
                char *nl = strchr(line, '\n');
                if (nl)
                        *nl = '\0';
                if (strncmp(line, "0::", 3) == 0) {
                        if ((size_t)snprintf(ret, size, "%s%s", mount, strcmp(line + 3, "/") == 0 ? "" : line + 3) >=
                            size)
                                return errorf(err, -ENAMETOOLONG, "cgroup path too long");
                        return 0;
                }
                line = nl ? nl + 1 : NULL;
        }
        return errorf(err, -ENOENT, "process %d is in no cgroup v2", pid);
}

struct cgroup *cgroup_free(struct cgroup *cg) {
        if (!cg)
                return NULL;
        int saved = errno;
        if (cg->dirfd >= 0)
                close(cg->dirfd);
        free(cg);
        errno = saved;
        return NULL;
}
