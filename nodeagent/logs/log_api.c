/* log_api.c - libmicrohttpd on a thread of ours (common/mhd_loop.h: external
 * polling, ended before MHD_stop_daemon); requests only read files. */
#include "nodeagent/logs/log_api.h"

#include <arpa/inet.h>
#include <pthread.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/alloc_token.h"
#include "common/clock.h"
#include "common/error.h"
#include "common/ids.h"
#include "common/log.h"
#include "common/macros.h"
#include "common/mhd_loop.h"
#include "common/tls.h"
#include "nodeagent/drivers/task_stats.h"
#include "nodeagent/logs/logmon.h"

#define STATS_SAMPLES 256 /* tasks whose previous CPU sample is kept for percentages */

struct cpu_sample {
        char key[300]; /* "<alloc>/<task>/<pid>" */
        struct task_usage usage;
        int64_t at_ns;
        uint64_t used; /* LRU tick */
};

struct log_api {
        struct MHD_Daemon *mhd;
        struct mhd_loop *loop; /* the daemon's only thread: every callback runs there */
        char *data_dir;
        char *node_secret;
        int port;
        struct tls_pems pems; /* HTTPS: libmicrohttpd keeps pointers to these */
        bool verify_client;   /* a client certificate signed by the CA is required */
        double mhz_per_core;
        pthread_mutex_t lock; /* samples */
        struct cpu_sample samples[STATS_SAMPLES];
        uint64_t tick;
        log_api_control_fn control; /* PUT .../restart and .../signal (under lock) */
        void *control_data;
};

void log_api_set_control(struct log_api *a, log_api_control_fn fn, void *data) {
        pthread_mutex_lock(&a->lock);
        a->control = fn;
        a->control_data = data;
        pthread_mutex_unlock(&a->lock);
}

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned status, const char *ctype, char *buf, size_t len) {
        struct MHD_Response *r = MHD_create_response_from_buffer(len, buf, MHD_RESPMEM_MUST_FREE);
        if (!r) {
                free(buf);
                return MHD_NO;
        }
        MHD_add_response_header(r, "Content-Type", ctype);
        enum MHD_Result ret = MHD_queue_response(conn, status, r);
        MHD_destroy_response(r);
        return ret;
}

static enum MHD_Result reply_text(struct MHD_Connection *conn, unsigned status, const char *msg) {
        char *copy = strdup(msg);
        return copy ? reply(conn, status, "text/plain; charset=utf-8", copy, strlen(copy)) : MHD_NO;
}

static bool safe_name(const char *s) {
        if (!s || !*s || strlen(s) > 128 || strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
                return false;
        for (; *s; s++)
                if (*s == '/' || (unsigned char)*s < 0x20)
                        return false;
        return true;
}

/* Open path (relative, several components) under dirfd without following any
 * symbolic link and without leaving dirfd: openat2 with RESOLVE_BENEATH |
 * RESOLVE_NO_SYMLINKS, or, on kernels before 5.6, one component at a time with
 * O_NOFOLLOW. */
static int open_beneath(int dirfd, const char *path, int flags) {
        struct open_how how = {.flags = (uint64_t)(flags | O_CLOEXEC | O_NOFOLLOW),
                               .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS};
        long fd = syscall(SYS_openat2, dirfd, path, &how, sizeof(how));
        if (fd >= 0 || (errno != ENOSYS && errno != EPERM))
                return fd >= 0 ? (int)fd : -errno;
        char comp[256];
        int cur = dup(dirfd);
        if (cur < 0)
                return -errno;
        const char *p = path;
        for (;;) {
                size_t len = strcspn(p, "/");
                if (len == 0 || len >= sizeof(comp) || (len == 2 && p[0] == '.' && p[1] == '.')) {
                        close(cur);
                        return -EINVAL;
                }
                memcpy(comp, p, len);
                comp[len] = '\0';
                bool last = p[len] == '\0';
                int next = openat(cur, comp, (last ? flags : O_RDONLY | O_DIRECTORY) | O_CLOEXEC | O_NOFOLLOW);
                int e = errno;
                close(cur);
                if (next < 0)
                        return -e;
                if (last)
                        return next;
                cur = next;
                p += len + 1;
        }
}

#define MAX_OPEN_FILES 128

/* One response: the log files, open, with their logical start offsets. */
struct log_stream {
        int fds[MAX_OPEN_FILES];
        uint64_t starts[MAX_OPEN_FILES], sizes[MAX_OPEN_FILES];
        size_t n;
        uint64_t from, end;
};

static void stream_free(void *cls) {
        struct log_stream *ls = cls;
        for (size_t i = 0; i < ls->n; i++)
                close(ls->fds[i]);
        free(ls);
}

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max) {
        struct log_stream *ls = cls;
        uint64_t at = ls->from + pos;
        if (at >= ls->end)
                return MHD_CONTENT_READER_END_OF_STREAM;
        for (size_t i = 0; i < ls->n; i++) {
                if (at < ls->starts[i] || at >= ls->starts[i] + ls->sizes[i])
                        continue;
                uint64_t in = at - ls->starts[i], left = ls->sizes[i] - in;
                ssize_t r = pread(ls->fds[i], buf, max < left ? max : (size_t)left, (off_t)in);
                if (r <= 0)
                        return MHD_CONTENT_READER_END_WITH_ERROR;
                return r;
        }
        return MHD_CONTENT_READER_END_WITH_ERROR; /* a hole: files changed under us */
}

/* The first and last index of <task>.<type>.<n> in the directory. */
static int file_range(int dirfd, const char *task, const char *type, long *ret_first, long *ret_last) {
        int fd = dup(dirfd);
        DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
        if (!d) {
                if (fd >= 0)
                        close(fd);
                return -errno;
        }
        rewinddir(d);
        char prefix[300];
        int plen = snprintf(prefix, sizeof(prefix), "%s.%s.", task, type);
        long first = -1, last = -1;
        struct dirent *de;
        while ((de = readdir(d))) {
                if (strncmp(de->d_name, prefix, (size_t)plen) != 0)
                        continue;
                const char *num = de->d_name + plen;
                char *end;
                long v = strtol(num, &end, 10);
                if (end == num || *end || *num < '0' || *num > '9')
                        continue;
                if (first < 0 || v < first)
                        first = v;
                if (v > last)
                        last = v;
        }
        closedir(d);
        if (first < 0)
                return -ENOENT;
        *ret_first = first;
        *ret_last = last;
        return 0;
}

/* The task's max file size (its logmeta, written when its logs were set up); 0 if none. */
static uint64_t read_max_size(int dirfd, const char *task) {
        char buf[64];
        if (logmon_meta_read(dirfd, task, buf, sizeof(buf)) <= 0)
                return 0;
        long long v = strtoll(buf, NULL, 10);
        return v > 0 ? (uint64_t)v : 0;
}

/* Open the task's log files under <data-dir>/alloc/<alloc>/alloc/logs. Returns
 * 0, -ENOENT (no logs), or another negative errno. */
static int stream_open(const struct log_api *a, const char *alloc_id, const char *task, const char *type,
                       struct log_stream *ls) {
        char root[4200], rel[300];
        snprintf(root, sizeof(root), "%s/alloc", a->data_dir);
        _cleanup_close_ int allocs = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (allocs < 0)
                return errno == ENOENT ? -ENOENT : -errno;
        snprintf(rel, sizeof(rel), "%s/alloc/logs", alloc_id);
        _cleanup_close_ int logs = open_beneath(allocs, rel, O_RDONLY | O_DIRECTORY);
        if (logs < 0)
                return logs;
        long first = 0, last = -1;
        int r = file_range(logs, task, type, &first, &last);
        char meta[64];
        if (r == -ENOENT && logmon_meta_read(logs, task, meta, sizeof(meta)) >= 0)
                return 0; /* a task that has written nothing yet: its files are made on its first output */
        if (r < 0)
                return r;
        if (last - first + 1 > MAX_OPEN_FILES)
                first = last - MAX_OPEN_FILES + 1;
        uint64_t max = read_max_size(logs, task), pos = max ? (uint64_t)first * max : 0;
        for (long i = first; i <= last; i++) {
                char name[320];
                snprintf(name, sizeof(name), "%s.%s.%ld", task, type, i);
                int fd = openat(logs, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
                struct stat sb;
                if (fd < 0)
                        continue; /* rotated away since the directory was read */
                if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode)) {
                        close(fd);
                        continue;
                }
                ls->fds[ls->n] = fd;
                ls->starts[ls->n] = pos;
                ls->sizes[ls->n] = (uint64_t)sb.st_size;
                pos += (uint64_t)sb.st_size;
                ls->n++;
        }
        if (ls->n == 0)
                return -ENOENT;
        ls->end = pos;
        return 0;
}

/* The percentages of u from the previous sample of key (and u becomes the new one). */
static void cpu_percent(struct log_api *a, const char *key, struct task_usage *u, int64_t now) {
        pthread_mutex_lock(&a->lock);
        struct cpu_sample *hit = NULL, *oldest = &a->samples[0];
        for (size_t i = 0; i < STATS_SAMPLES && !hit; i++) {
                if (strcmp(a->samples[i].key, key) == 0)
                        hit = &a->samples[i];
                else if (a->samples[i].used < oldest->used)
                        oldest = &a->samples[i];
        }
        if (hit)
                task_usage_cpu_percent(u, &hit->usage, now - hit->at_ns);
        else {
                hit = oldest;
                snprintf(hit->key, sizeof(hit->key), "%s", key);
        }
        hit->usage = *u;
        hit->at_ns = now;
        hit->used = ++a->tick;
        pthread_mutex_unlock(&a->lock);
}

/* One task's usage from the pid file its runner wrote: its cgroup, else its
 * process tree in /proc. -ESRCH / -ENOENT when it is not running. */
static int task_usage_read(struct log_api *a, int allocfd, const char *alloc_id, const char *task,
                           struct task_usage *ret) {
        _cleanup_close_ int tfd = openat(allocfd, task, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
        if (tfd < 0)
                return -errno;
        pid_t pid;
        uint64_t start;
        char cg[256];
        int r = task_pid_file_read(tfd, &pid, &start, cg);
        if (r < 0)
                return r;
        r = cg[0] ? task_stats_cgroup(cg, ret) : -ENOENT;
        if (r == 0)
                task_stats_cgroup_pids(cg, "/proc", ret); /* Pids; best effort */
        if (r < 0)
                r = task_stats_procs("/proc", pid, start, ret);
        if (r < 0)
                return r;
        char key[300];
        int kn = snprintf(key, sizeof(key), "%s/%s/%d", alloc_id, task, (int)pid);
        if (kn > 0 && (size_t)kn < sizeof(key)) /* a longer name gets no percentage, never a wrong one */
                cpu_percent(a, key, ret, clock_now_ns());
        return 0;
}

/* GET /v1/client/allocation/<id>/stats: Nomad's AllocResourceUsage. */
static enum MHD_Result serve_stats(struct log_api *a, struct MHD_Connection *conn, const char *alloc_id) {
        char root[4200];
        snprintf(root, sizeof(root), "%s/alloc/%s", a->data_dir, alloc_id);
        int allocfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
        if (allocfd < 0)
                return reply_text(conn, 404, "no such allocation on this node");
        int fd = dup(allocfd);
        DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
        if (!d) {
                if (fd >= 0)
                        close(fd);
                close(allocfd);
                return reply_text(conn, 500, "cannot read the allocation directory");
        }
        json_t *tasks = json_object();
        struct task_usage sum = {.measured = ~0u};
        size_t n = 0, seen = 0;
        struct dirent *de;
        while ((de = readdir(d)) && seen++ < 1024) {
                if (!safe_name(de->d_name) || strcmp(de->d_name, "alloc") == 0)
                        continue;
                struct task_usage u;
                if (task_usage_read(a, allocfd, alloc_id, de->d_name, &u) < 0)
                        continue; /* not running (or not a task's directory) */
                task_usage_add(&sum, &u);
                n++;
                json_object_set_new(tasks, de->d_name,
                                    json_pack("{s:o,s:I,s:o}", "ResourceUsage", task_usage_json(&u, a->mhz_per_core),
                                              "Timestamp", (json_int_t)clock_now_ns(), "Pids",
                                              task_usage_pids_json(&u)));
        }
        closedir(d);
        close(allocfd);
        if (n == 0)
                sum.measured = 0;
        json_t *out = json_pack("{s:o,s:o,s:I}", "ResourceUsage", task_usage_json(&sum, a->mhz_per_core), "Tasks",
                                tasks, "Timestamp", (json_int_t)clock_now_ns());
        char *text = out ? json_dumps(out, JSON_COMPACT) : NULL;
        json_decref(out);
        if (!text)
                return MHD_NO;
        return reply(conn, 200, "application/json", text, strlen(text));
}

/* PUT|POST /v1/client/allocation/<id>/restart|signal: handed to the agent's loop. */
static enum MHD_Result serve_control(struct log_api *a, struct MHD_Connection *conn, const char *alloc_id,
                                     const char *action) {
        pthread_mutex_lock(&a->lock);
        log_api_control_fn fn = a->control;
        void *data = a->control_data;
        pthread_mutex_unlock(&a->lock);
        if (!fn)
                return reply_text(conn, 501, "this agent does not restart or signal tasks");
        const char *task = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "task");
        const char *sig = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "signal");
        const char *all = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "all");
        if ((task && *task && !safe_name(task)) || (sig && strlen(sig) > 32))
                return reply_text(conn, 400, "bad task name or signal");
        char msg[256];
        int status = fn(data, alloc_id, action, task, sig, all && strcmp(all, "true") == 0, msg, sizeof(msg));
        if (status == 200) {
                char *copy = strdup("{}");
                return copy ? reply(conn, 200, "application/json", copy, 2) : MHD_NO;
        }
        return reply_text(conn, (unsigned)status, msg);
}

/* The caller shows the allocation's token (the servers hand it out with the
 * allocation) or the node secret. MHD_YES when it may go on (*ret_ok). */
static enum MHD_Result check_token(struct log_api *a, struct MHD_Connection *conn, const char *alloc_id, bool *ret_ok) {
        *ret_ok = false;
        const char *token = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-Drover-Token");
        char want[ALLOC_TOKEN_BUF];
        if (!token || !*token)
                return reply_text(conn, 401,
                                  "missing X-Drover-Token: the allocation's AllocToken (GET /v1/allocation/<id>) "
                                  "or the node secret");
        if (alloc_token(a->node_secret, alloc_id, want) < 0)
                return reply_text(conn, 500, "cannot compute the allocation token");
        if (!alloc_token_equal(token, want) && !alloc_token_equal(token, a->node_secret))
                return reply_text(conn, 403, "X-Drover-Token does not open this allocation on this node");
        *ret_ok = true;
        return MHD_YES;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                                  const char *version, const char *upload_data, size_t *upload_data_size,
                                  void **con_cls) {
        struct log_api *a = cls;
        static const char prefix[] = "/v1/client/fs/logs/";
        static const char stats_prefix[] = "/v1/client/allocation/";
        bool ok;
        if (a->verify_client) {
                const union MHD_ConnectionInfo *ti = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_GNUTLS_SESSION);
                struct error terr = {0};
                if (tls_peer_verify(ti ? ti->tls_session : NULL, &terr) < 0) {
                        char msg[400];
                        snprintf(msg, sizeof(msg),
                                 "%s; this agent verifies HTTPS clients (-tls-verify-https-client): present a "
                                 "certificate signed by its CA",
                                 terr.msg);
                        return reply_text(conn, 403, msg);
                }
        }
        if ((strcmp(method, "PUT") == 0 || strcmp(method, "POST") == 0) &&
            strncmp(url, stats_prefix, sizeof(stats_prefix) - 1) == 0) {
                char id[64];
                const char *rest = url + sizeof(stats_prefix) - 1, *slash = strchr(rest, '/');
                if (!slash || (strcmp(slash, "/restart") != 0 && strcmp(slash, "/signal") != 0) ||
                    (size_t)(slash - rest) >= sizeof(id))
                        return reply_text(conn, 404,
                                          "the agent serves PUT /v1/client/allocation/<alloc-id>/restart "
                                          "and /signal");
                memcpy(id, rest, (size_t)(slash - rest));
                id[slash - rest] = '\0';
                if (!id_is_valid(id))
                        return reply_text(conn, 400, "bad allocation ID");
                enum MHD_Result mr = check_token(a, conn, id, &ok);
                return ok ? serve_control(a, conn, id, slash + 1) : mr;
        }
        if (strcmp(method, "GET") != 0)
                return reply_text(conn, 405, "only GET is served here");
        if (strncmp(url, stats_prefix, sizeof(stats_prefix) - 1) == 0) {
                char id[64];
                const char *rest = url + sizeof(stats_prefix) - 1, *slash = strchr(rest, '/');
                if (!slash || strcmp(slash, "/stats") != 0 || (size_t)(slash - rest) >= sizeof(id))
                        return reply_text(conn, 404, "the agent serves /v1/client/allocation/<alloc-id>/stats");
                memcpy(id, rest, (size_t)(slash - rest));
                id[slash - rest] = '\0';
                if (!id_is_valid(id))
                        return reply_text(conn, 400, "bad allocation ID");
                enum MHD_Result mr = check_token(a, conn, id, &ok);
                return ok ? serve_stats(a, conn, id) : mr;
        }
        if (strncmp(url, prefix, sizeof(prefix) - 1) != 0)
                return reply_text(conn, 404,
                                  "the agent serves only /v1/client/fs/logs/<alloc-id> and "
                                  "/v1/client/allocation/<alloc-id>/stats");
        const char *alloc_id = url + sizeof(prefix) - 1;
        const char *task = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "task");
        const char *type = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "type");
        if (!type)
                type = "stdout";
        if (!id_is_valid(alloc_id))
                return reply_text(conn, 400, "bad allocation ID");
        if (!safe_name(task))
                return reply_text(conn, 400, "missing or bad task name (?task=<name>)");
        enum MHD_Result mr = check_token(a, conn, alloc_id, &ok);
        if (!ok)
                return mr;
        if (strcmp(type, "stdout") != 0 && strcmp(type, "stderr") != 0)
                return reply_text(conn, 400, "type must be stdout or stderr");
        /* Nomad's offset and origin: bytes from the start (default) or from the end. */
        const char *off_s = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "offset");
        const char *origin = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "origin");
        unsigned long long offset = 0;
        if (off_s) {
                char *end;
                errno = 0;
                offset = strtoull(off_s, &end, 10);
                if (errno || end == off_s || *end || *off_s == '-')
                        return reply_text(conn, 400, "offset must be a byte count");
        }
        bool from_end = origin && strcmp(origin, "end") == 0;
        if (origin && !from_end && strcmp(origin, "start") != 0)
                return reply_text(conn, 400, "origin must be start or end");
        struct log_stream *ls = calloc(1, sizeof(*ls));
        if (!ls)
                return MHD_NO;
        int r = stream_open(a, alloc_id, task, type, ls);
        if (r < 0) {
                stream_free(ls);
                if (r == -ENOENT)
                        return reply_text(conn, 404, "no logs for this allocation and task on this node");
                if (r == -ELOOP || r == -EXDEV || r == -ENOTDIR)
                        return reply_text(conn, 403, "the log path leaves the allocation directory");
                return reply_text(conn, 500, "cannot read the log files");
        }
        /* Offsets count bytes since the task's first output, across rotations:
         * what was rotated away is gone, so an offset before it starts at the
         * oldest byte still there. */
        uint64_t lo = ls->starts[0];
        if (from_end)
                ls->from = offset < ls->end - lo ? ls->end - (uint64_t)offset : lo;
        else
                ls->from = offset < lo ? lo : offset < ls->end ? (uint64_t)offset : ls->end;
        struct MHD_Response *resp =
            MHD_create_response_from_callback(ls->end - ls->from, 64 * 1024, stream_read, ls, stream_free);
        if (!resp) {
                stream_free(ls);
                return MHD_NO;
        }
        char hdr[32];
        MHD_add_response_header(resp, "Content-Type", "text/plain; charset=utf-8");
        snprintf(hdr, sizeof(hdr), "%llu", (unsigned long long)ls->from);
        MHD_add_response_header(resp, "X-Drover-Log-Start", hdr);
        snprintf(hdr, sizeof(hdr), "%llu", (unsigned long long)ls->end);
        MHD_add_response_header(resp, "X-Drover-Log-End", hdr);
        enum MHD_Result ret = MHD_queue_response(conn, 200, resp);
        MHD_destroy_response(resp);
        return ret;
}

/* One core's MHz, for Nomad's TotalTicks: cpufreq's maximum, else /proc/cpuinfo's
 * "cpu MHz" (a VM without cpufreq); 0 when neither says. */
static double core_mhz(void) {
        char buf[4096];
        FILE *f = fopen("/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq", "re");
        double mhz = 0;
        if (f) {
                if (fgets(buf, sizeof(buf), f))
                        mhz = strtod(buf, NULL) / 1000.0;
                fclose(f);
        }
        if (mhz > 0 || !(f = fopen("/proc/cpuinfo", "re")))
                return mhz;
        while (fgets(buf, sizeof(buf), f))
                if (strncmp(buf, "cpu MHz", 7) == 0) {
                        const char *colon = strchr(buf, ':');
                        mhz = colon ? strtod(colon + 1, NULL) : 0;
                        break;
                }
        fclose(f);
        return mhz;
}

/* libmicrohttpd's own messages (a 400 to each malformed request) come once per
 * request under a flood: debug level, not the operator's log. */
static void mhd_log(void *cls, const char *fmt, va_list ap) {
        char line[256];
        mhd_loop_log_line(line, sizeof(line), fmt, ap);
        log_debug("log endpoint: %s", line);
}

static struct log_api *log_api_free(struct log_api *a) {
        if (!a)
                return NULL;
        tls_pems_free(&a->pems);
        free(a->node_secret);
        free(a->data_dir);
        free(a);
        return NULL;
}

int log_api_start(const char *listen, const char *data_dir, const char *node_secret, struct log_api **ret,
                  struct error *err) {
        return log_api_start_tls(listen, data_dir, node_secret, NULL, ret, err);
}

int log_api_start_tls(const char *listen, const char *data_dir, const char *node_secret, const struct tls_config *tls,
                      struct log_api **ret, struct error *err) {
        char host[64];
        snprintf(host, sizeof(host), "%s", listen);
        char *colon = strrchr(host, ':');
        if (!colon)
                return errorf(err, -EINVAL, "-http-addr \"%s\": expected ip:port", listen);
        *colon = '\0';
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(colon + 1))};
        if (inet_pton(AF_INET, host, &sa.sin_addr) != 1)
                return errorf(err, -EINVAL, "-http-addr \"%s\": expected an IPv4 address", listen);
        struct log_api *a = calloc(1, sizeof(*a));
        if (!a || !(a->data_dir = strdup(data_dir)) || !(a->node_secret = strdup(node_secret ? node_secret : ""))) {
                if (a)
                        free(a->data_dir);
                free(a);
                return -ENOMEM;
        }
        /* No MHD_USE_INTERNAL_POLLING_THREAD: see common/mhd_loop.h. */
        unsigned flags = MHD_USE_EPOLL | MHD_USE_ERROR_LOG;
        struct MHD_OptionItem tls_opts[4] = {{MHD_OPTION_END, 0, NULL}};
        if (tls && tls->http) {
                int r = tls_config_load(tls, &a->pems, err);
                if (r < 0) {
                        log_api_free(a);
                        return error_prefix(err, "log endpoint");
                }
                a->verify_client = tls->verify_client;
                flags |= MHD_USE_TLS;
                size_t n = 0;
                tls_opts[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_KEY, 0, a->pems.key};
                tls_opts[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_CERT, 0, a->pems.cert};
                if (a->pems.ca) /* clients are asked for a certificate, checked in on_request */
                        tls_opts[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_TRUST, 0, a->pems.ca};
                tls_opts[n] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};
        }
        pthread_mutex_init(&a->lock, NULL);
        a->mhz_per_core = core_mhz();
        a->mhd = MHD_start_daemon(flags, ntohs(sa.sin_port), NULL, NULL, on_request, a, MHD_OPTION_SOCK_ADDR, &sa,
                                  MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)30, MHD_OPTION_LISTENING_ADDRESS_REUSE,
                                  (unsigned)1, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL, MHD_OPTION_ARRAY, tls_opts,
                                  MHD_OPTION_END);
        if (!a->mhd) {
                pthread_mutex_destroy(&a->lock);
                log_api_free(a);
                return errorf(err, -EADDRINUSE, "cannot listen on %s for the log endpoint%s", listen,
                              flags & MHD_USE_TLS ? " (HTTPS)" : "");
        }
        const union MHD_DaemonInfo *info = MHD_get_daemon_info(a->mhd, MHD_DAEMON_INFO_BIND_PORT);
        a->port = info ? info->port : ntohs(sa.sin_port);
        int r = mhd_loop_start(a->mhd, "log endpoint", NULL, NULL, &a->loop);
        if (r < 0) {
                log_api_stop(a);
                return errorf(err, r, "log endpoint: cannot start its thread");
        }
        *ret = a;
        return 0;
}

int log_api_port(const struct log_api *a) {
        return a->port;
}

struct log_api *log_api_stop(struct log_api *a) {
        if (!a)
                return NULL;
        mhd_loop_stop(a->loop); /* first: libmicrohttpd then answers nothing while it stops */
        MHD_stop_daemon(a->mhd);
        mhd_loop_free(a->loop);
        pthread_mutex_destroy(&a->lock);
        return log_api_free(a);
}
