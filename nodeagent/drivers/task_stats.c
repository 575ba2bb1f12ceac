/* task_stats.c - one task's CPU and memory use (see task_stats.h). */
#include "nodeagent/drivers/task_stats.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "common/macros.h"
#include "nodeagent/drivers/driver.h"

#define MAX_PROCS 65536 /* processes scanned in /proc */

/* Read a small file (at most size - 1 bytes) NUL-terminated; bytes read or -errno. */
static ssize_t read_small(int dirfd, const char *name, char *buf, size_t size) {
        int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0)
                return -errno;
        size_t n = 0;
        while (n < size - 1) {
                ssize_t r = read(fd, buf + n, size - 1 - n);
                if (r < 0 && errno == EINTR)
                        continue;
                if (r <= 0)
                        break;
                n += (size_t)r;
        }
        close(fd);
        buf[n] = '\0';
        return (ssize_t)n;
}

static bool read_u64(int dirfd, const char *name, uint64_t *ret) {
        char buf[64];
        if (read_small(dirfd, name, buf, sizeof(buf)) <= 0)
                return false;
        char *end;
        errno = 0;
        unsigned long long v = strtoull(buf, &end, 10);
        if (errno || end == buf)
                return false; /* "max" or garbage */
        *ret = v;
        return true;
}

/* The value of "key <n>" lines in a flat keyed file (cpu.stat, memory.stat). */
static bool keyed(const char *text, const char *key, uint64_t *ret) {
        size_t kl = strlen(key);
        for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
                if (strncmp(p, key, kl) == 0 && p[kl] == ' ') {
                        *ret = strtoull(p + kl + 1, NULL, 10);
                        return true;
                }
        }
        return false;
}

int task_stats_cgroup(const char *cgroup_dir, struct task_usage *ret) {
        _cleanup_close_ int dfd = open(cgroup_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0)
                return -errno;
        struct task_usage u = {0};
        char text[8192];
        if (read_small(dfd, "cpu.stat", text, sizeof(text)) > 0) {
                if (keyed(text, "usage_usec", &u.total_us) && keyed(text, "user_usec", &u.user_us) &&
                    keyed(text, "system_usec", &u.system_us))
                        u.measured |= TU_CPU;
                /* nr_throttled and throttled_usec only with the cpu controller enabled. */
                if (keyed(text, "nr_throttled", &u.throttled_periods) && keyed(text, "throttled_usec", &u.throttled_us))
                        u.measured |= TU_THROTTLE;
        }
        if (read_u64(dfd, "memory.current", &u.usage))
                u.measured |= TU_USAGE;
        if (read_u64(dfd, "memory.peak", &u.max_usage))
                u.measured |= TU_MAX_USAGE;
        if (read_u64(dfd, "memory.swap.current", &u.swap))
                u.measured |= TU_SWAP;
        if (read_small(dfd, "memory.stat", text, sizeof(text)) > 0) {
                if (keyed(text, "anon", &u.rss))
                        u.measured |= TU_RSS;
                if (keyed(text, "file", &u.cache))
                        u.measured |= TU_CACHE;
                if (keyed(text, "file_mapped", &u.mapped_file))
                        u.measured |= TU_MAPPED;
                uint64_t stack = 0, slab = 0;
                if (keyed(text, "kernel", &u.kernel)) /* 5.18+ */
                        u.measured |= TU_KERNEL;
                else if (keyed(text, "kernel_stack", &stack) && keyed(text, "slab", &slab)) {
                        u.kernel = stack + slab;
                        u.measured |= TU_KERNEL;
                }
        }
        *ret = u;
        return 0;
}

/* ---- procfs ---------------------------------------------------------------------------------- */

struct proc_entry {
        pid_t pid, ppid;
};

/* Fields of /proc/<pid>/stat after the command (which may hold spaces and
 * parentheses: the last ')' ends it). */
static int parse_stat(const char *text, pid_t *ret_ppid, uint64_t *ret_utime, uint64_t *ret_stime,
                      uint64_t *ret_start) {
        const char *p = strrchr(text, ')');
        if (!p)
                return -EINVAL;
        /* p + 2: field 3 (state). */
        char state;
        int ppid;
        unsigned long long f[20];
        /* 3 state, 4 ppid, 5..13 skipped, 14 utime, 15 stime, 16..21 skipped, 22 starttime */
        int n = sscanf(p + 2, "%c %d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %*d %*d %*d %*d %*d %*d %llu",
                       &state, &ppid, &f[0], &f[1], &f[2]);
        if (n != 5)
                return -EINVAL;
        *ret_ppid = ppid;
        *ret_utime = f[0];
        *ret_stime = f[1];
        *ret_start = f[2];
        return 0;
}

static int read_stat(int procfd, pid_t pid, pid_t *ppid, uint64_t *ut, uint64_t *st, uint64_t *start) {
        char name[64], text[1024];
        snprintf(name, sizeof(name), "%d/stat", (int)pid);
        ssize_t n = read_small(procfd, name, text, sizeof(text));
        if (n <= 0)
                return n < 0 ? (int)n : -EINVAL;
        return parse_stat(text, ppid, ut, st, start);
}

/* VmRSS and VmSwap of /proc/<pid>/status, bytes. */
static void read_status(int procfd, pid_t pid, uint64_t *rss, uint64_t *swap) {
        char name[64], text[4096];
        snprintf(name, sizeof(name), "%d/status", (int)pid);
        *rss = *swap = 0;
        if (read_small(procfd, name, text, sizeof(text)) <= 0)
                return;
        const char *p = strstr(text, "\nVmRSS:");
        if (p)
                *rss = strtoull(p + 7, NULL, 10) * 1024;
        p = strstr(text, "\nVmSwap:");
        if (p)
                *swap = strtoull(p + 8, NULL, 10) * 1024;
}

static int by_ppid(const void *a, const void *b) {
        const struct proc_entry *x = a, *y = b;
        return (x->ppid > y->ppid) - (x->ppid < y->ppid);
}

/* Every (pid, ppid) under proc_root; count, or -errno. *ret malloc'd. */
static int scan(int procfd, struct proc_entry **ret) {
        int fd = dup(procfd);
        DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
        if (!d) {
                if (fd >= 0)
                        close(fd);
                return -errno;
        }
        size_t cap = 256, n = 0;
        struct proc_entry *v = malloc(cap * sizeof(*v));
        struct dirent *de;
        while (v && (de = readdir(d)) && n < MAX_PROCS) {
                char *end;
                long pid = strtol(de->d_name, &end, 10);
                if (*end || pid <= 0 || de->d_name[0] < '0' || de->d_name[0] > '9')
                        continue;
                pid_t ppid;
                uint64_t ut, st, start;
                if (read_stat(procfd, (pid_t)pid, &ppid, &ut, &st, &start) < 0)
                        continue;
                if (n == cap) {
                        struct proc_entry *nv = realloc(v, cap * 2 * sizeof(*v));
                        if (!nv) {
                                free(v);
                                v = NULL;
                                break;
                        }
                        v = nv;
                        cap *= 2;
                }
                v[n++] = (struct proc_entry){(pid_t)pid, ppid};
        }
        closedir(d);
        if (!v)
                return -ENOMEM;
        *ret = v;
        return (int)n;
}

int task_stats_procs(const char *proc_root, pid_t pid, uint64_t start_ticks, struct task_usage *ret) {
        _cleanup_close_ int procfd = open(proc_root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (procfd < 0)
                return -errno;
        pid_t ppid;
        uint64_t ut, st, start;
        if (pid <= 0 || read_stat(procfd, pid, &ppid, &ut, &st, &start) < 0 || (start_ticks && start != start_ticks))
                return -ESRCH;
        _cleanup_free_ struct proc_entry *all = NULL;
        int n = scan(procfd, &all);
        if (n < 0)
                return n;
        /* The tree: breadth first, each process's children found by binary search in
         * the list sorted by parent (n log n; pids found so far in tree[]). */
        qsort(all, (size_t)n, sizeof(*all), by_ppid);
        _cleanup_free_ pid_t *tree = malloc(((size_t)n + 1) * sizeof(*tree));
        if (!tree)
                return -ENOMEM;
        size_t nt = 0;
        tree[nt++] = pid;
        for (size_t i = 0; i < nt; i++) {
                size_t lo = 0, hi = (size_t)n;
                while (lo < hi) { /* the first entry whose parent is >= tree[i] */
                        size_t mid = lo + (hi - lo) / 2;
                        if (all[mid].ppid < tree[i])
                                lo = mid + 1;
                        else
                                hi = mid;
                }
                for (size_t j = lo; j < (size_t)n && all[j].ppid == tree[i]; j++)
                        if (all[j].pid != pid && nt < (size_t)n + 1)
                                tree[nt++] = all[j].pid;
        }
        long hz = sysconf(_SC_CLK_TCK);
        if (hz <= 0)
                hz = 100;
        struct task_usage u = {.measured = TU_CPU | TU_RSS | TU_SWAP};
        for (size_t i = 0; i < nt; i++) {
                if (read_stat(procfd, tree[i], &ppid, &ut, &st, &start) < 0)
                        continue; /* gone meanwhile */
                uint64_t rss, swap;
                read_status(procfd, tree[i], &rss, &swap);
                u.user_us += ut * 1000000 / (uint64_t)hz;
                u.system_us += st * 1000000 / (uint64_t)hz;
                u.rss += rss;
                u.swap += swap;
                if (u.n_pids < TASK_STATS_MAX_PIDS)
                        u.procs[u.n_pids++] = (struct task_pid_usage){.pid = tree[i],
                                                                      .rss = rss,
                                                                      .swap = swap,
                                                                      .user_us = ut * 1000000 / (uint64_t)hz,
                                                                      .system_us = st * 1000000 / (uint64_t)hz};
        }
        u.total_us = u.user_us + u.system_us;
        *ret = u;
        return 0;
}

int task_stats_cgroup_pids(const char *cgroup_dir, const char *proc_root, struct task_usage *ret) {
        _cleanup_close_ int dfd = open(cgroup_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0)
                return -errno;
        _cleanup_close_ int procfd = open(proc_root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (procfd < 0)
                return -errno;
        /* TASK_STATS_MAX_PIDS pids of up to 10 digits and a newline fit. */
        char text[TASK_STATS_MAX_PIDS * 11 + 1];
        ssize_t len = read_small(dfd, "cgroup.procs", text, sizeof(text));
        if (len < 0)
                return (int)len;
        long hz = sysconf(_SC_CLK_TCK);
        if (hz <= 0)
                hz = 100;
        size_t n = 0;
        for (char *p = text, *end; *p && n < TASK_STATS_MAX_PIDS; p = end) {
                errno = 0;
                long v = strtol(p, &end, 10);
                if (end == p || errno || v <= 0 || v > INT32_MAX || (*end && *end != '\n') ||
                    (!*end && (size_t)len == sizeof(text) - 1))
                        break; /* not a pid, or the last line cut short by the buffer */
                if (*end)
                        end++;
                pid_t ppid;
                uint64_t ut, st, start, rss, swap;
                if (read_stat(procfd, (pid_t)v, &ppid, &ut, &st, &start) < 0)
                        continue; /* gone meanwhile */
                read_status(procfd, (pid_t)v, &rss, &swap);
                ret->procs[n++] = (struct task_pid_usage){.pid = (pid_t)v,
                                                          .rss = rss,
                                                          .swap = swap,
                                                          .user_us = ut * 1000000 / (uint64_t)hz,
                                                          .system_us = st * 1000000 / (uint64_t)hz};
        }
        ret->n_pids = n;
        return (int)n;
}

void task_usage_cpu_percent(struct task_usage *cur, const struct task_usage *prev, int64_t elapsed_ns) {
        if (elapsed_ns <= 0 || !(cur->measured & TU_CPU) || !(prev->measured & TU_CPU) ||
            cur->total_us < prev->total_us || cur->user_us < prev->user_us || cur->system_us < prev->system_us)
                return;
        double us = (double)elapsed_ns / 1000.0;
        cur->percent = 100.0 * (double)(cur->total_us - prev->total_us) / us;
        cur->user_percent = 100.0 * (double)(cur->user_us - prev->user_us) / us;
        cur->system_percent = 100.0 * (double)(cur->system_us - prev->system_us) / us;
}

void task_usage_add(struct task_usage *a, const struct task_usage *b) {
        a->measured &= b->measured;
        a->rss += b->rss;
        a->cache += b->cache;
        a->swap += b->swap;
        a->usage += b->usage;
        a->max_usage += b->max_usage;
        a->kernel += b->kernel;
        a->mapped_file += b->mapped_file;
        a->user_us += b->user_us;
        a->system_us += b->system_us;
        a->total_us += b->total_us;
        a->throttled_periods += b->throttled_periods;
        a->throttled_us += b->throttled_us;
        a->percent += b->percent;
        a->user_percent += b->user_percent;
        a->system_percent += b->system_percent;
}

static void measured(json_t *arr, unsigned m, unsigned bit, const char *name) {
        if (m & bit)
                json_array_append_new(arr, json_string(name));
}

json_t *task_usage_json(const struct task_usage *u, double mhz_per_core) {
        json_t *mm = json_array(), *cm = json_array();
        unsigned m = u->measured;
        measured(mm, m, TU_RSS, "RSS");
        measured(mm, m, TU_CACHE, "Cache");
        measured(mm, m, TU_SWAP, "Swap");
        measured(mm, m, TU_USAGE, "Usage");
        measured(mm, m, TU_MAX_USAGE, "Max Usage");
        measured(mm, m, TU_KERNEL, "Kernel Usage");
        measured(mm, m, TU_MAPPED, "Mapped File");
        measured(cm, m, TU_CPU, "System Mode");
        measured(cm, m, TU_CPU, "User Mode");
        measured(cm, m, TU_CPU, "Percent");
        measured(cm, m, TU_THROTTLE, "Throttled Periods");
        measured(cm, m, TU_THROTTLE, "Throttled Time");
        return json_pack("{s:{s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:o},s:{s:f,s:f,s:f,s:I,s:I,s:f,s:I,s:o}}", "MemoryStats",
                         "RSS", (json_int_t)u->rss, "Cache", (json_int_t)u->cache, "Swap", (json_int_t)u->swap,
                         "MappedFile", (json_int_t)u->mapped_file, "Usage", (json_int_t)u->usage, "MaxUsage",
                         (json_int_t)u->max_usage, "KernelUsage", (json_int_t)u->kernel, "KernelMaxUsage",
                         (json_int_t)0, "Measured", mm, "CpuStats", "SystemMode", u->system_percent, "UserMode",
                         u->user_percent, "TotalTicks", mhz_per_core > 0 ? u->percent / 100.0 * mhz_per_core : 0.0,
                         "ThrottledPeriods", (json_int_t)u->throttled_periods, "ThrottledTime",
                         (json_int_t)(u->throttled_us * 1000), "Percent", u->percent, "TotalUsageUs",
                         (json_int_t)u->total_us, "Measured", cm);
}

json_t *task_usage_pids_json(const struct task_usage *u) {
        json_t *o = json_object();
        for (size_t i = 0; o && i < u->n_pids && i < TASK_STATS_MAX_PIDS; i++) {
                const struct task_pid_usage *p = &u->procs[i];
                struct task_usage one = {.measured = TU_RSS | TU_SWAP,
                                         .rss = p->rss,
                                         .swap = p->swap,
                                         .user_us = p->user_us,
                                         .system_us = p->system_us,
                                         .total_us = p->user_us + p->system_us};
                char key[16];
                snprintf(key, sizeof(key), "%d", (int)p->pid);
                json_object_set_new(o, key, task_usage_json(&one, 0));
        }
        return o;
}

/* ---- the pid record -------------------------------------------------------------------------- */

/* The record is the task directory's TASK_PID_XATTR where the file system takes
 * trusted.* attributes from the agent (root): setting it rewrites the directory's
 * inode, where the file took a new inode (ext4 scans its inode bitmap for one not
 * recently freed), a rename and an unlink per task; and a task that owns its
 * directory cannot forge it. Else the file TASK_PID_FILE, written whole and renamed. */
static int pid_line(const struct driver_handle *h, char *line, size_t size) {
        return snprintf(line, size, "%d %llu %s\n", (int)h->pid, (unsigned long long)h->start_ticks,
                        h->cgroup[0] ? h->cgroup : "-");
}

int task_pid_file_write(const char *task_dir, const struct driver_handle *h) {
        char path[4400], tmp[4400], line[400];
        int len = pid_line(h, line, sizeof(line));
        if (lsetxattr(task_dir, TASK_PID_XATTR, line, (size_t)len, 0) == 0)
                return 0;
        snprintf(path, sizeof(path), "%s/%s", task_dir, TASK_PID_FILE);
        snprintf(tmp, sizeof(tmp), "%s/%s.tmp", task_dir, TASK_PID_FILE);
        _cleanup_close_ int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0)
                return -errno;
        if (write(fd, line, (size_t)len) != len)
                return -EIO;
        if (rename(tmp, path) < 0)
                return -errno;
        return 0;
}

void task_pid_file_remove(const char *task_dir) {
        if (lremovexattr(task_dir, TASK_PID_XATTR) == 0)
                return;
        char path[4400];
        snprintf(path, sizeof(path), "%s/%s", task_dir, TASK_PID_FILE);
        unlink(path);
}

int task_pid_file_read(int task_dirfd, pid_t *ret_pid, uint64_t *ret_start_ticks, char *ret_cgroup) {
        char text[400];
        ssize_t n = fgetxattr(task_dirfd, TASK_PID_XATTR, text, sizeof(text) - 1);
        if (n >= 0)
                text[n] = '\0';
        else
                n = read_small(task_dirfd, TASK_PID_FILE, text, sizeof(text));
        if (n < 0)
                return (int)n;
        int pid, at = 0;
        unsigned long long start;
        if (sscanf(text, "%d %llu %n", &pid, &start, &at) != 2 || pid <= 0 || at <= 0)
                return -EINVAL;
        char *cg = text + at, *nl = strchr(cg, '\n');
        if (!nl || nl == cg || (size_t)(nl - cg) >= 256)
                return -EINVAL;
        *nl = '\0';
        *ret_pid = pid;
        *ret_start_ticks = start;
        snprintf(ret_cgroup, 256, "%s", strcmp(cg, "-") == 0 ? "" : cg);
        return 0;
}
