/* fingerprinters.c - each fingerprinter reads one source and fills its part of the node. */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <ifaddrs.h>
#include <linux/magic.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/utsname.h>
#include <unistd.h>
#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

#include "common/error.h"
#include "common/macros.h"
#include "common/model.h"
#include "nodeagent/drivers/driver.h"
#include "nodeagent/fingerprint/fp_sources.h"
#include "nodeagent/util.h"

static int set_attr(struct node *n, const char *key, const char *val) {
        return strmap_set(&n->attributes, key, val);
}

static int set_attr_i64(struct node *n, const char *key, long long v) {
        char buf[32];
        snprintf(buf, sizeof(buf), "%lld", v);
        return strmap_set(&n->attributes, key, buf);
}

static void trim(char *s) {
        size_t len = strlen(s);
        while (len && isspace((unsigned char)s[len - 1]))
                s[--len] = '\0';
        size_t lead = strspn(s, " \t");
        if (lead)
                memmove(s, s + lead, len - lead + 1);
}

/* ---- cpu ------------------------------------------------------------------------ */

/* The CPU brand string from CPUID leaves 0x80000002..4, or "" when unavailable. */
static void cpuid_brand(char *buf, size_t size) {
        buf[0] = '\0';
#if defined(__x86_64__) || defined(__i386__)
        unsigned int regs[12];
        if (size < sizeof(regs) + 1 || __get_cpuid_max(0x80000000, NULL) < 0x80000004)
                return;
        for (unsigned int i = 0; i < 3; i++)
                __get_cpuid(0x80000002 + i, &regs[i * 4], &regs[i * 4 + 1], &regs[i * 4 + 2], &regs[i * 4 + 3]);
        memcpy(buf, regs, sizeof(regs));
        buf[sizeof(regs)] = '\0';
        trim(buf);
#else
        (void)size;
#endif
}

/* First "key : value" of /proc/cpuinfo for each key wanted. */
static void cpuinfo_fields(const char *root, char *model, size_t msize, double *mhz) {
        char path[256];
        snprintf(path, sizeof(path), "%s/proc/cpuinfo", root);
        _cleanup_fclose_ FILE *f = fopen(path, "re");
        if (!f)
                return;
        char line[512];
        bool have_model = *model != '\0', have_mhz = *mhz > 0;
        while ((!have_model || !have_mhz) && fgets(line, sizeof(line), f)) {
                char *colon = strchr(line, ':');
                if (!colon)
                        continue;
                *colon = '\0';
                char *val = colon + 1;
                trim(line);
                trim(val);
                if (!have_model && (strcmp(line, "model name") == 0 || strcmp(line, "Processor") == 0)) {
                        snprintf(model, msize, "%s", val);
                        have_model = true;
                } else if (!have_mhz && strcmp(line, "cpu MHz") == 0) {
                        *mhz = strtod(val, NULL);
                        have_mhz = *mhz > 0;
                }
        }
}

static int fp_cpu_run(const struct fingerprint_ctx *ctx, struct node *n, struct error *err) {
        long cores = sysconf(_SC_NPROCESSORS_ONLN);
        if (cores < 1)
                cores = 1;
        char model[128];
        cpuid_brand(model, sizeof(model));
        double mhz = 0;
        char buf[64], path[256];
        snprintf(path, sizeof(path), "%s/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq", ctx->proc_root);
        if (read_small_file(path, buf, sizeof(buf)) > 0)
                mhz = strtod(buf, NULL) / 1000.0; /* kHz */
        if (mhz <= 0 && *model) {
                /* "Intel(R) Xeon(R) CPU @ 2.20GHz" */
                const char *at = strrchr(model, '@');
                if (at) {
                        double ghz = strtod(at + 1, NULL);
                        if (ghz > 0 && strstr(at, "GHz"))
                                mhz = ghz * 1000.0;
                }
        }
        cpuinfo_fields(ctx->proc_root, model, sizeof(model), &mhz);
        if (mhz <= 0)
                mhz = 1000; /* unknown: Nomad's fallback is also a guess; keep scheduling possible */
        long long imhz = (long long)(mhz + 0.5);
        struct utsname u;
        const char *arch = uname(&u) == 0 ? u.machine : "unknown";
        if (strcmp(arch, "x86_64") == 0)
                arch = "amd64";
        else if (strcmp(arch, "aarch64") == 0)
                arch = "arm64";
        int r = 0;
        r |= set_attr_i64(n, "cpu.numcores", cores);
        r |= set_attr_i64(n, "cpu.frequency", imhz);
        r |= set_attr(n, "cpu.modelname", *model ? model : "unknown");
        r |= set_attr_i64(n, "cpu.totalcompute", imhz * cores);
        r |= set_attr_i64(n, "cpu.usablecompute", imhz * cores);
        r |= set_attr_i64(n, "cpu.reservablecores", cores);
        r |= set_attr(n, "cpu.arch", arch);
        if (r < 0)
                return errorf(err, -ENOMEM, "out of memory");
        n->cpu_shares = imhz * cores;
        n->total_cores = (int)cores;
        return 0;
}

const struct fingerprint_ops fp_cpu = {.name = "cpu", .run = fp_cpu_run};

/* ---- memory ----------------------------------------------------------------------- */

static int fp_memory_run(const struct fingerprint_ctx *ctx, struct node *n, struct error *err) {
        char path[256], buf[4096];
        snprintf(path, sizeof(path), "%s/proc/meminfo", ctx->proc_root);
        ssize_t len = read_small_file(path, buf, sizeof(buf));
        if (len < 0)
                return errorf(err, (int)len, "read %s: %s", path, strerror((int)-len));
        const char *p = strstr(buf, "MemTotal:");
        if (!p)
                return errorf(err, -EINVAL, "%s: no MemTotal line", path);
        long long kb = strtoll(p + strlen("MemTotal:"), NULL, 10);
        if (kb <= 0)
                return errorf(err, -EINVAL, "%s: bad MemTotal", path);
        if (set_attr_i64(n, "memory.totalbytes", kb * 1024) < 0)
                return errorf(err, -ENOMEM, "out of memory");
        n->memory_mb = kb / 1024;
        return 0;
}

const struct fingerprint_ops fp_memory = {.name = "memory", .run = fp_memory_run};

/* ---- host --------------------------------------------------------------------------- */

/* KEY=value or KEY="value" from os-release. */
static void os_release_get(const char *buf, const char *key, char *out, size_t size) {
        out[0] = '\0';
        size_t klen = strlen(key);
        for (const char *line = buf; line && *line; line = strchr(line, '\n'), line = line ? line + 1 : NULL) {
                if (strncmp(line, key, klen) != 0 || line[klen] != '=')
                        continue;
                const char *v = line + klen + 1;
                size_t vlen = strcspn(v, "\n");
                if (vlen >= 2 && (v[0] == '"' || v[0] == '\'') && v[vlen - 1] == v[0]) {
                        v++;
                        vlen -= 2;
                }
                snprintf(out, size, "%.*s", (int)vlen, v);
                return;
        }
}

static int fp_host_run(const struct fingerprint_ctx *ctx, struct node *n, struct error *err) {
        struct utsname u;
        if (uname(&u) < 0)
                return errorf(err, -errno, "uname: %s", strerror(errno));
        for (char *p = u.sysname; *p; p++)
                *p = (char)tolower((unsigned char)*p);
        char host[256] = "";
        if (gethostname(host, sizeof(host) - 1) < 0)
                snprintf(host, sizeof(host), "%s", u.nodename);
        char path[256], buf[4096], id[64], version[64];
        snprintf(path, sizeof(path), "%s/etc/os-release", ctx->proc_root);
        if (read_small_file(path, buf, sizeof(buf)) < 0) {
                snprintf(path, sizeof(path), "%s/usr/lib/os-release", ctx->proc_root);
                if (read_small_file(path, buf, sizeof(buf)) < 0)
                        buf[0] = '\0';
        }
        os_release_get(buf, "ID", id, sizeof(id));
        os_release_get(buf, "VERSION_ID", version, sizeof(version));
        int r = 0;
        r |= set_attr(n, "kernel.name", u.sysname);
        r |= set_attr(n, "kernel.version", u.release);
        r |= set_attr(n, "kernel.arch", u.machine);
        r |= set_attr(n, "os.name", *id ? id : "linux");
        r |= set_attr(n, "os.version", *version ? version : "unknown");
        r |= set_attr(n, "unique.hostname", host);
        if (r < 0)
                return errorf(err, -ENOMEM, "out of memory");
        return 0;
}

const struct fingerprint_ops fp_host = {.name = "host", .run = fp_host_run};

/* ---- network ------------------------------------------------------------------------- */

static int fp_network_run(const struct fingerprint_ctx *ctx, struct node *n, struct error *err) {
        struct ifaddrs *ifs = NULL;
        char ip[INET_ADDRSTRLEN] = "127.0.0.1";
        if (getifaddrs(&ifs) == 0) {
                for (struct ifaddrs *i = ifs; i; i = i->ifa_next) {
                        if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET || (i->ifa_flags & IFF_LOOPBACK) ||
                            !(i->ifa_flags & IFF_UP))
                                continue;
                        inet_ntop(AF_INET, &((struct sockaddr_in *)i->ifa_addr)->sin_addr, ip, sizeof(ip));
                        break;
                }
                freeifaddrs(ifs);
        }
        if (set_attr(n, "unique.network.ip-address", ip) < 0)
                return errorf(err, -ENOMEM, "out of memory");
        return 0;
}

const struct fingerprint_ops fp_network = {.name = "network", .run = fp_network_run};

/* ---- storage ---------------------------------------------------------------------------- */

static int fp_storage_run(const struct fingerprint_ctx *ctx, struct node *n, struct error *err) {
        char dir[4096];
        snprintf(dir, sizeof(dir), "%s", ctx->data_dir && *ctx->data_dir ? ctx->data_dir : "/");
        struct statvfs st;
        /* The data dir may not exist yet: measure the nearest existing parent. */
        while (statvfs(dir, &st) < 0) {
                char *slash = strrchr(dir, '/');
                if (errno != ENOENT || !slash)
                        return errorf(err, -errno, "statvfs %s: %s", dir, strerror(errno));
                if (slash == dir)
                        dir[1] = '\0';
                else
                        *slash = '\0';
        }
        unsigned long long total = (unsigned long long)st.f_blocks * st.f_frsize;
        unsigned long long avail = (unsigned long long)st.f_bavail * st.f_frsize;
        int r = 0;
        r |= set_attr(n, "unique.storage.volume", dir);
        r |= set_attr_i64(n, "unique.storage.bytestotal", (long long)total);
        r |= set_attr_i64(n, "unique.storage.bytesfree", (long long)avail);
        if (r < 0)
                return errorf(err, -ENOMEM, "out of memory");
        n->disk_mb = (int64_t)(avail / (1024 * 1024));
        return 0;
}

const struct fingerprint_ops fp_storage = {.name = "storage", .run = fp_storage_run};

/* ---- cgroup ------------------------------------------------------------------------------- */

static int fp_cgroup_run(const struct fingerprint_ctx *ctx, struct node *n, struct error *err) {
        char path[256];
        snprintf(path, sizeof(path), "%s/sys/fs/cgroup", ctx->proc_root);
        struct statfs st;
        if (statfs(path, &st) < 0)
                return errorf(err, -errno, "statfs %s: %s", path, strerror(errno));
        const char *v = (unsigned long)st.f_type == (unsigned long)CGROUP2_SUPER_MAGIC ? "2" : "1";
        if (set_attr(n, "os.cgroups.version", v) < 0)
                return errorf(err, -ENOMEM, "out of memory");
        return 0;
}

const struct fingerprint_ops fp_cgroup = {.name = "cgroup", .run = fp_cgroup_run};

/* ---- drivers ---------------------------------------------------------------------------------- */

static int fp_drivers_run(const struct fingerprint_ctx *ctx, struct node *n, struct error *err) {
        const struct driver_ops *d;
        for (size_t i = 0; (d = driver_at(i)); i++) {
                struct driver_health h = {0};
                d->fingerprint(&h);
                struct node_driver *nd = NULL;
                for (size_t k = 0; k < n->n_drivers; k++)
                        if (strcmp(n->drivers[k].name, d->name) == 0)
                                nd = &n->drivers[k];
                if (!nd) {
                        struct node_driver *nds = realloc(n->drivers, (n->n_drivers + 1) * sizeof(*nds));
                        if (!nds)
                                return errorf(err, -ENOMEM, "out of memory");
                        n->drivers = nds;
                        nd = &nds[n->n_drivers];
                        *nd = (struct node_driver){.name = strdup(d->name)};
                        if (!nd->name)
                                return errorf(err, -ENOMEM, "out of memory");
                        n->n_drivers++;
                }
                nd->detected = h.detected;
                nd->healthy = h.healthy;
                free(nd->description);
                nd->description = *h.description ? strdup(h.description) : NULL;
                char key[64];
                snprintf(key, sizeof(key), "driver.%s", d->name);
                if (h.detected && set_attr(n, key, "1") < 0)
                        return errorf(err, -ENOMEM, "out of memory");
        }
        return 0;
}

const struct fingerprint_ops fp_drivers = {.name = "drivers", .run = fp_drivers_run};

/* ---- drover ------------------------------------------------------------------------------------ */

static int fp_drover_run(const struct fingerprint_ctx *ctx, struct node *n, struct error *err) {
        if (set_attr(n, "drover.version", DROVER_AGENT_VERSION) < 0)
                return errorf(err, -ENOMEM, "out of memory");
        return 0;
}

const struct fingerprint_ops fp_drover = {.name = "drover", .run = fp_drover_run};
