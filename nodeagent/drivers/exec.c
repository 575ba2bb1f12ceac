/* exec.c - the exec driver: a task isolated with isolation/.
 *
 * Each task gets its own cgroup v2 with the job's limits (it starts inside it
 * through clone3), pid/mount/uts/ipc namespaces (network optional), its task
 * directory as "/" with the host's system directories bind-mounted read-only,
 * Nomad exec's default capabilities and no others, no_new_privs, a seccomp
 * deny-list, Landlock when the config lists `unveil` paths, and a non-root
 * user: the task's `user`, or a dynamic workload uid unique among running
 * tasks. Stopping with SIGKILL kills the whole cgroup.
 *
 * Driver config: command, args, cap_add, cap_drop, seccomp_allow,
 * seccomp_deny, unveil ["r:/etc/ssl", ...], network_mode ("host" | "none"),
 * pids_limit, cpu_hard_limit, io_weight, user_namespace (false by default:
 * true gives the task its own user namespace where only its uid and gid are
 * mapped, so its capabilities do not reach the host's files).
 *
 * Reserved cores (resources { cores = N }): the scheduler counts them; which
 * cores is decided here (isolation/cpuset.c, lowest free ids of the cgroup
 * root's cpuset.cpus.effective). The task's cgroup gets them as cpuset.cpus,
 * every other task cgroup under the parent gets the rest, and the choice is
 * kept on the task's cgroup itself (xattr user.drover.cores, as systemd keeps
 * user.delegate) so that a restarted agent marks them taken again; it goes
 * with the cgroup when the task ends.
 *
 * Seccomp filters are compiled once per distinct allow/deny pair and reused.
 */
#include <errno.h>
#include <fcntl.h>
#include <dirent.h>
#include <seccomp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/error.h"
#include "common/log.h"
#include "common/macros.h"
#include "common/model.h"
#include "isolation/caps.h"
#include "isolation/cgroup.h"
#include "isolation/cpuset.h"
#include "isolation/landlock.h"
#include "isolation/mounts.h"
#include "isolation/namespaces.h"
#include "isolation/process.h"
#include "isolation/seccomp.h"
#include "isolation/user.h"
#include "nodeagent/drivers/driver.h"
#include "nodeagent/drivers/task_cgroup.h"
#include "nodeagent/logs/logmon.h"

#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#define MAX_LIST 64

/* Dynamic workload users in use by tasks this agent runs (loop thread only). */
static struct uid_pool *pool;

/* Compiled seccomp filters, one per distinct allow/deny pair (loop thread only). */
#define SECCOMP_CACHE_MAX 32
static struct {
        char *key;
        struct seccomp_profile *p;
} sc_cache[SECCOMP_CACHE_MAX];

/* The mount template task roots are built from (loop thread only): made at
 * the first start; when that fails (no open_tree/move_mount, an unusual root),
 * every start builds its root in a copy of the agent's mount namespace. */
static struct mount_template *mnt_tpl;
static bool mnt_tpl_failed;

static const struct mount_template *get_mount_template(void) {
        if (!mnt_tpl && !mnt_tpl_failed) {
                struct error err = {0};
                if (mount_template_create(&mnt_tpl, &err) < 0) {
                        mnt_tpl_failed = true;
                        log_info("exec: %s; task roots are built without it (slower starts)", err.msg);
                } else {
                        log_debug("exec: mount template ready: task roots are built from it");
                }
        }
        return mnt_tpl;
}

/* Reserved cores (loop thread only) and which task cgroup holds which. */
#define CORES_XATTR "user.drover.cores"
static struct core_alloc *cores;
struct reservation {
        char cgroup[256];
        struct cpulist cpus;
};
static struct reservation *resv;
static size_t n_resv, cap_resv;

static int get_pool(struct uid_pool **ret, struct error *err) {
        if (!pool) {
                const struct driver_settings *s = driver_settings();
                int r = uid_pool_create(s->uid_min, s->uid_max, &pool, err);
                if (r < 0)
                        return r;
        }
        *ret = pool;
        return 0;
}

static void exec_fingerprint(struct driver_health *ret) {
        const struct driver_settings *s = driver_settings();
        struct error err = {0};
        ret->detected = false;
        ret->healthy = false;
        int r = cgroup_check(s->cgroup_mount, task_cgroup_controllers, &err);
        if (r == 0)
                r = namespaces_check(namespaces_clone_flags(NULL), &err);
        if (r == 0 && geteuid() != 0)
                r = errorf(&err, -EPERM, "the agent must run as root to isolate tasks");
        if (r < 0) {
                snprintf(ret->description, sizeof(ret->description), "exec: %.280s", err.msg);
                return;
        }
        ret->detected = true;
        ret->healthy = true;
        int abi = landlock_abi();
        if (abi > 0)
                snprintf(ret->description, sizeof(ret->description), "Healthy (Landlock ABI %d)", abi);
        else
                snprintf(ret->description, sizeof(ret->description), "Healthy (no Landlock: unveil is not enforced)");
}

/* A list of strings under key: NULL-terminated pointers into config, in ret[max]. */
static int get_list(const json_t *config, const char *key, const char **ret, size_t max, struct error *err) {
        json_t *a = json_object_get(config, key);
        ret[0] = NULL;
        if (!a || json_is_null(a))
                return 0;
        if (!json_is_array(a))
                return errorf(err, -EINVAL, "exec: config.%s must be a list of strings", key);
        if (json_array_size(a) >= max)
                return errorf(err, -EINVAL, "exec: config.%s has more than %zu entries", key, max - 1);
        size_t i;
        json_t *v;
        json_array_foreach(a, i, v) {
                if (!json_is_string(v))
                        return errorf(err, -EINVAL, "exec: config.%s[%zu] must be a string", key, i);
                ret[i] = json_string_value(v);
        }
        ret[json_array_size(a)] = NULL;
        return 0;
}

static int get_int(const json_t *config, const char *key, long lo, long hi, long *ret, struct error *err) {
        json_t *v = json_object_get(config, key);
        *ret = 0;
        if (!v || json_is_null(v))
                return 0;
        if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi)
                return errorf(err, -EINVAL, "exec: config.%s must be an integer in %ld..%ld", key, lo, hi);
        *ret = (long)json_integer_value(v);
        return 0;
}

struct exec_opts {
        const char *args[MAX_LIST];
        const char *cap_add[MAX_LIST], *cap_drop[MAX_LIST];
        const char *sc_allow[MAX_LIST], *sc_deny[MAX_LIST];
        const char *unveil[MAX_LIST];
        bool net_none;
        long pids_limit, io_weight;
        bool cpu_hard_limit;
        bool user_ns;
        uint64_t caps;
};

static int parse_opts(const json_t *config, struct exec_opts *o, struct error *err) {
        memset(o, 0, sizeof(*o));
        if (!json_is_object(config))
                return errorf(err, -EINVAL, "exec: config must be an object with \"command\"");
        json_t *cmd = json_object_get(config, "command");
        if (!json_is_string(cmd) || !*json_string_value(cmd))
                return errorf(err, -EINVAL, "exec: config.command is required (the program to run)");
        int r = get_list(config, "args", o->args, MAX_LIST, err);
        if (r == 0)
                r = get_list(config, "cap_add", o->cap_add, MAX_LIST, err);
        if (r == 0)
                r = get_list(config, "cap_drop", o->cap_drop, MAX_LIST, err);
        if (r == 0)
                r = get_list(config, "seccomp_allow", o->sc_allow, MAX_LIST, err);
        if (r == 0)
                r = get_list(config, "seccomp_deny", o->sc_deny, MAX_LIST, err);
        if (r == 0)
                r = get_list(config, "unveil", o->unveil, MAX_LIST - 8, err);
        if (r == 0)
                r = get_int(config, "pids_limit", 0, 4194304, &o->pids_limit, err);
        if (r == 0)
                r = get_int(config, "io_weight", 0, 10000, &o->io_weight, err);
        if (r < 0)
                return r;
        json_t *nm = json_object_get(config, "network_mode");
        if (nm && !json_is_null(nm)) {
                const char *m = json_is_string(nm) ? json_string_value(nm) : "";
                if (strcmp(m, "none") == 0)
                        o->net_none = true;
                else if (strcmp(m, "host") != 0 && *m)
                        return errorf(err, -EINVAL,
                                      "exec: config.network_mode must be \"host\" or \"none\" (got \"%s\")", m);
        }
        json_t *hl = json_object_get(config, "cpu_hard_limit");
        if (hl && !json_is_null(hl)) {
                if (!json_is_boolean(hl))
                        return errorf(err, -EINVAL, "exec: config.cpu_hard_limit must be true or false");
                o->cpu_hard_limit = json_is_true(hl);
        }
        json_t *un = json_object_get(config, "user_namespace");
        if (un && !json_is_null(un)) {
                if (!json_is_boolean(un))
                        return errorf(err, -EINVAL, "exec: config.user_namespace must be true or false");
                o->user_ns = json_is_true(un);
        }
        r = caps_compute(o->cap_add, o->cap_drop, &o->caps, err);
        if (r < 0)
                return error_prefix(err, "exec: config");
        for (size_t i = 0; o->unveil[i]; i++) {
                uint64_t a;
                const char *p;
                r = landlock_rule_parse(o->unveil[i], &a, &p, err);
                if (r < 0)
                        return error_prefix(err, "exec: config.unveil[%zu]", i);
        }
        for (int l = 0; l < 2; l++) {
                const char *const *list = l ? o->sc_deny : o->sc_allow;
                for (size_t i = 0; list[i]; i++)
                        if (seccomp_syscall_resolve_name(list[i]) == __NR_SCMP_ERROR)
                                return errorf(err, -EINVAL, "exec: config.%s: unknown syscall \"%s\"",
                                              l ? "seccomp_deny" : "seccomp_allow", list[i]);
        }
        return 0;
}

static int exec_validate(const json_t *config, struct error *err) {
        struct exec_opts *o = malloc(sizeof(*o));
        if (!o)
                return errorf(err, -ENOMEM, "out of memory");
        int r = parse_opts(config, o, err);
        free(o);
        return r;
}

static bool is_executable(const char *path) {
        struct stat st;
        return stat(path, &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 0111);
}

/* The command's path as seen inside the task root. */
static int resolve_command(const char *cmd, const char *root, const char *path_env, char *ret, size_t size,
                           struct error *err) {
        char host[8192];
        if (strchr(cmd, '/')) {
                snprintf(ret, size, "%s%s", cmd[0] == '/' ? "" : "/", cmd);
                return 0; /* execve inside the root says when it is missing */
        }
        const char *p = path_env && *path_env ? path_env : DEFAULT_PATH;
        while (*p) {
                const char *colon = strchr(p, ':');
                size_t len = colon ? (size_t)(colon - p) : strlen(p);
                if (len && p[0] == '/') {
                        snprintf(ret, size, "%.*s/%s", (int)len, p, cmd);
                        snprintf(host, sizeof(host), "%s%s", root, ret);
                        if (is_executable(host) || is_executable(ret))
                                return 0;
                }
                if (!colon)
                        break;
                p = colon + 1;
        }
        return errorf(err, -ENOENT, "command \"%s\" not found in $PATH (%s)", cmd,
                      path_env && *path_env ? path_env : DEFAULT_PATH);
}

struct exec_start {
        struct exec_opts o;
        char path[4096];
        char **argv, **envp;
        struct cgroup *cg;
        struct mount_plan *mounts;
        const struct seccomp_profile *seccomp; /* cached, or seccomp_owned */
        struct seccomp_profile *seccomp_owned;
        struct landlock_ruleset *landlock;
        bool has_cores;
        struct cpulist cpus;
        uint32_t dyn_uid;
        int out_fd, err_fd, null_fd;
        int rec_fd; /* the supervisor's exit record (LOGMON_EXIT_FILE in spec->exit_dir), -1 = none */
};

static struct reservation *find_resv(const char *cgroup);
static void cores_release(const char *cgroup);

static void free_strv(char **v) {
        for (char **p = v; p && *p; p++)
                free(*p);
        free(v);
}

static void exec_start_free(struct exec_start *x, bool remove_cgroup) {
        free_strv(x->argv);
        free_strv(x->envp);
        if (x->has_cores && remove_cgroup) {
                if (x->cg && find_resv(cgroup_path(x->cg)))
                        cores_release(cgroup_path(x->cg));
                else
                        core_alloc_release(cores, &x->cpus);
        }
        if (x->cg && remove_cgroup)
                cgroup_remove(x->cg, 2000, NULL);
        cgroup_free(x->cg);
        mount_plan_free(x->mounts);
        seccomp_profile_free(x->seccomp_owned);
        landlock_ruleset_free(x->landlock);
        if (x->dyn_uid && remove_cgroup)
                uid_pool_release(pool, x->dyn_uid);
        for (int *fd = &x->out_fd; fd <= &x->rec_fd; fd++)
                if (*fd >= 0)
                        close(*fd);
        free(x);
}

/* The task's environment, with the directory variables (NOMAD_ and DROVER_) as seen inside the root. */
static int build_envp(const struct driver_spec *spec, char ***ret) {
        size_t n = spec->env ? spec->env->n : 0;
        char **envp = calloc(n + 2, sizeof(char *));
        if (!envp)
                return -ENOMEM;
        size_t k = 0;
        bool has_path = false;
        for (size_t i = 0; i < n; i++) {
                const char *key = spec->env->items[i].key, *val = spec->env->items[i].value;
                const char *name = strncmp(key, "NOMAD_", 6) == 0    ? key + 6
                                   : strncmp(key, "DROVER_", 7) == 0 ? key + 7
                                                                     : "";
                if (strcmp(name, "TASK_DIR") == 0)
                        val = "/local";
                else if (strcmp(name, "SECRETS_DIR") == 0)
                        val = "/secrets";
                else if (strcmp(name, "ALLOC_DIR") == 0)
                        val = "/alloc";
                has_path |= strcmp(key, "PATH") == 0;
                if (asprintf(&envp[k++], "%s=%s", key, val) < 0) {
                        envp[k - 1] = NULL;
                        free_strv(envp);
                        return -ENOMEM;
                }
        }
        if (!has_path && !(envp[k++] = strdup("PATH=" DEFAULT_PATH))) {
                free_strv(envp);
                return -ENOMEM;
        }
        *ret = envp;
        return 0;
}

static int core_mhz(void) {
        _cleanup_fclose_ FILE *f = fopen("/proc/cpuinfo", "re");
        char line[256];
        while (f && fgets(line, sizeof(line), f))
                if (strncmp(line, "cpu MHz", 7) == 0) {
                        char *c = strchr(line, ':');
                        int v = c ? atoi(c + 1) : 0;
                        if (v > 0)
                                return v;
                }
        return 1000;
}

/* "a,b|c" of the allow and deny lists; -ENOSPC when it does not fit. */
static int seccomp_key(const struct exec_opts *o, char *buf, size_t size) {
        size_t len = 0;
        for (int l = 0; l < 2; l++) {
                const char *const *list = l ? o->sc_deny : o->sc_allow;
                for (size_t i = 0; list[i]; i++) {
                        int n = snprintf(buf + len, size - len, "%s%s", i ? "," : "", list[i]);
                        if (n < 0 || (size_t)n >= size - len)
                                return -ENOSPC;
                        len += (size_t)n;
                }
                if (!l) {
                        if (len + 1 >= size)
                                return -ENOSPC;
                        buf[len++] = '|';
                        buf[len] = '\0';
                }
        }
        return 0;
}

/* The task's filter: compiled once per allow/deny pair, then reused. */
static int seccomp_for(struct exec_start *x, struct error *err) {
        char key[4096] = "";
        bool keyed = seccomp_key(&x->o, key, sizeof(key)) == 0;
        size_t slot = SECCOMP_CACHE_MAX;
        for (size_t i = 0; keyed && i < SECCOMP_CACHE_MAX; i++) {
                if (sc_cache[i].key && strcmp(sc_cache[i].key, key) == 0) {
                        x->seccomp = sc_cache[i].p;
                        return 0;
                }
                if (!sc_cache[i].key && slot == SECCOMP_CACHE_MAX)
                        slot = i;
        }
        struct seccomp_profile *p;
        int r = seccomp_profile_build(x->o.sc_allow, x->o.sc_deny, &p, err);
        if (r < 0)
                return r;
        x->seccomp = p;
        if (keyed && slot < SECCOMP_CACHE_MAX && (sc_cache[slot].key = strdup(key)))
                sc_cache[slot].p = p;
        else
                x->seccomp_owned = p; /* more pairs than the cache holds: this task's own */
        return 0;
}

static int read_small(const char *path, char *buf, size_t size) {
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        ssize_t n = read(fd, buf, size - 1);
        if (n < 0)
                return -errno;
        buf[n] = '\0';
        return (int)n;
}

static int write_small(const char *path, const char *value) {
        _cleanup_close_ int fd = open(path, O_WRONLY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        size_t len = strlen(value);
        return write(fd, len ? value : "\n", len ? len : 1) < 0 ? -errno : 0;
}

static int get_cores(struct error *err) {
        if (cores)
                return 0;
        const struct driver_settings *s = driver_settings();
        char path[300], buf[4096];
        snprintf(path, sizeof(path), "%s/cpuset.cpus.effective", s->cgroup_mount);
        if (read_small(path, buf, sizeof(buf)) <= 1 &&
            read_small("/sys/devices/system/cpu/online", buf, sizeof(buf)) <= 0)
                return errorf(err, -ENOENT, "cannot read the node's cores (%s)", path);
        struct cpulist usable;
        int r = cpulist_parse(buf, &usable, err);
        if (r == 0)
                r = core_alloc_create(&usable, &cores, err);
        return r < 0 ? error_prefix(err, "reserved cores") : 0;
}

static struct reservation *find_resv(const char *cgroup) {
        for (size_t i = 0; i < n_resv; i++)
                if (strcmp(resv[i].cgroup, cgroup) == 0)
                        return &resv[i];
        return NULL;
}

static int add_resv(const char *cgroup, const struct cpulist *c) {
        if (n_resv == cap_resv) {
                size_t cap = cap_resv ? cap_resv * 2 : 8;
                struct reservation *n = realloc(resv, cap * sizeof(*n));
                if (!n)
                        return -ENOMEM;
                resv = n;
                cap_resv = cap;
        }
        snprintf(resv[n_resv].cgroup, sizeof(resv[0].cgroup), "%s", cgroup);
        resv[n_resv++].cpus = *c;
        return 0;
}

/* Every task cgroup under the parent that reserved no core runs on the shared
 * cores ("" = the parent's, when none is reserved). skip: a cgroup being set up. */
static void reshare(void) {
        char list[4096] = "";
        if (cores && core_alloc_reserved(cores) > 0) {
                struct cpulist sh;
                core_alloc_shared(cores, &sh);
                if (cpulist_format(&sh, list, sizeof(list)) < 0)
                        return;
        }
        const char *parent = driver_settings()->cgroup_parent;
        DIR *d = opendir(parent);
        if (!d)
                return;
        struct dirent *e;
        char path[1024];
        while ((e = readdir(d))) {
                size_t l = strlen(e->d_name);
                if (l < 7 || strcmp(e->d_name + l - 6, ".scope") != 0)
                        continue;
                snprintf(path, sizeof(path), "%s/%s", parent, e->d_name);
                if (find_resv(path))
                        continue;
                snprintf(path, sizeof(path), "%s/%s/cpuset.cpus", parent, e->d_name);
                write_small(path, list); /* ENOENT: cpuset not enabled, nothing reserved yet */
        }
        closedir(d);
}

/* Release the cores the task in cgroup held (it ended). */
static void cores_release(const char *cgroup) {
        struct reservation *r = cgroup[0] ? find_resv(cgroup) : NULL;
        if (!r)
                return;
        core_alloc_release(cores, &r->cpus);
        *r = resv[--n_resv];
        reshare();
}

static int open_log(const char *path, struct error *err) {
        int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
        if (fd < 0)
                return errorf(err, -errno, "open log file %s: %s", path, strerror(errno));
        return fd;
}

static int prepare(const struct driver_spec *spec, struct exec_start *x, uid_t *uid, gid_t *gid, struct error *err) {
        int r = parse_opts(spec->config, &x->o, err);
        if (r < 0)
                return r;
        if (!spec->task_root || !spec->alloc_dir)
                return errorf(err, -EINVAL, "exec: no task directory given");
        const char *cmd = json_string_value(json_object_get(spec->config, "command"));
        const char *path_env = spec->env ? strmap_get(spec->env, "PATH") : NULL;
        r = resolve_command(cmd, spec->task_root, path_env, x->path, sizeof(x->path), err);
        if (r < 0)
                return r;
        size_t nargs = 0;
        while (x->o.args[nargs])
                nargs++;
        x->argv = calloc(nargs + 2, sizeof(char *));
        if (!x->argv || !(x->argv[0] = strdup(cmd)))
                return errorf(err, -ENOMEM, "out of memory");
        for (size_t i = 0; i < nargs; i++)
                if (!(x->argv[i + 1] = strdup(x->o.args[i])))
                        return errorf(err, -ENOMEM, "out of memory");
        if (build_envp(spec, &x->envp) < 0)
                return errorf(err, -ENOMEM, "out of memory");

        /* Who: as the caller chose (it made the directories that user's, off the
         * loop: alloc_dir.h), else the task's user, or a dynamic one. */
        if (spec->owner_set) {
                *uid = spec->uid;
                *gid = spec->gid;
        } else if (spec->user && *spec->user) {
                r = user_lookup(spec->user, uid, gid, err);
                if (r < 0)
                        return error_prefix(err, "exec");
        } else {
                struct uid_pool *p;
                r = get_pool(&p, err);
                if (r < 0)
                        return r;
                if (uid_pool_take(p, &x->dyn_uid) < 0)
                        return errorf(err, -EBUSY, "exec: every dynamic workload uid is in use (%u running tasks)",
                                      uid_pool_in_use(p));
                *uid = x->dyn_uid;
                *gid = x->dyn_uid;
        }
        /* The task's own directories belong to it; others cannot look inside. The
         * alloc runner did that already (owner_set); a caller that did not gets it here. */
        char d[4200];
        static const char *const own[] = {"local", "secrets", "tmp"};
        for (size_t i = 0; !spec->owner_set && i < ARRAY_SIZE(own); i++) {
                snprintf(d, sizeof(d), "%s/%s", spec->task_root, own[i]);
                if (mkdir(d, 0700) < 0 && errno != EEXIST)
                        return errorf(err, -errno, "exec: mkdir %s: %s", d, strerror(errno));
                if (lchown(d, *uid, *gid) < 0 || chmod(d, 0700) < 0)
                        return errorf(err, -errno, "exec: chown %s: %s", d, strerror(errno));
        }
        if (!spec->owner_set && (lchown(spec->task_root, *uid, *gid) < 0 || chmod(spec->task_root, 0700) < 0))
                return errorf(err, -errno, "exec: chown %s: %s", spec->task_root, strerror(errno));

        struct mount_bind binds[] = {{.source = spec->alloc_dir, .target = "/alloc", .read_only = false}};
        r = mount_plan_create(spec->task_root, binds, 1, &x->mounts, err);
        if (r < 0)
                return error_prefix(err, "exec");
        r = seccomp_for(x, err);
        if (r < 0)
                return error_prefix(err, "exec");
        if (x->o.unveil[0] && landlock_abi() > 0) {
                /* The task's own directories and what it needs to run, plus its unveil list. */
                const char *rules[MAX_LIST + 16];
                static const char *const base[] = {"rwc:/local", "rwc:/secrets", "rwc:/alloc", "rwc:/tmp",
                                                   "rw:/dev",    "r:/proc",      "rx:/bin",    "rx:/sbin",
                                                   "rx:/lib",    "rx:/lib64",    "rx:/usr"};
                size_t n = 0;
                for (size_t i = 0; i < ARRAY_SIZE(base); i++)
                        rules[n++] = base[i];
                for (size_t i = 0; x->o.unveil[i]; i++)
                        rules[n++] = x->o.unveil[i];
                rules[n] = NULL;
                r = landlock_ruleset_create(rules, &x->landlock, err);
                if (r < 0)
                        return error_prefix(err, "exec");
        }

        struct cgroup_limits lim = {
            .cpu_mhz = spec->cpu_mhz,
            .memory_bytes = (int64_t)spec->memory_mb * 1024 * 1024,
            .memory_max_bytes = spec->memory_max_mb > spec->memory_mb ? (int64_t)spec->memory_max_mb * 1024 * 1024 : 0,
            .pids_max = x->o.pids_limit,
            .io_weight = (int)x->o.io_weight,
        };
        if (x->o.cpu_hard_limit && spec->cpu_mhz > 0) {
                lim.cpu_max_period_us = 100000;
                lim.cpu_max_quota_us = (int64_t)100000 * spec->cpu_mhz / core_mhz();
                if (lim.cpu_max_quota_us < 1000)
                        lim.cpu_max_quota_us = 1000;
        }
        if (spec->cores > 0) {
                r = get_cores(err);
                if (r == 0)
                        r = core_alloc_take(cores, spec->cores, &x->cpus, err);
                if (r < 0)
                        return error_prefix(err, "exec: reserved cores");
                x->has_cores = true;
                if (cpulist_format(&x->cpus, lim.cpuset_cpus, sizeof(lim.cpuset_cpus)) < 0)
                        return errorf(err, -E2BIG, "exec: reserved cores: the list of %d cores is too long",
                                      spec->cores);
        }
        r = task_cgroup_create(spec, &lim, &x->cg, err);
        if (r < 0)
                return error_prefix(err, "exec: task cgroup");
        if (x->has_cores) {
                /* Kept with the cgroup for a restarted agent (best effort: without
                 * user xattrs on cgroupfs, before 5.7, a restart forgets them). */
                setxattr(cgroup_path(x->cg), CORES_XATTR, lim.cpuset_cpus, strlen(lim.cpuset_cpus), 0);
                if (add_resv(cgroup_path(x->cg), &x->cpus) < 0)
                        return errorf(err, -ENOMEM, "out of memory");
        }
        /* The others (this one too when it reserved none) off the reserved cores. */
        if (cores && core_alloc_reserved(cores) > 0)
                reshare();

        x->out_fd = open_log(spec->stdout_path, err);
        if (x->out_fd < 0)
                return x->out_fd;
        x->err_fd = open_log(spec->stderr_path, err);
        if (x->err_fd < 0)
                return x->err_fd;
        x->null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (x->null_fd < 0)
                return errorf(err, -errno, "open /dev/null: %s", strerror(errno));
        if (spec->exit_dir && *spec->exit_dir) {
                /* The supervisor writes the task's exit status here (isolation/process.h),
                 * the format the log collector writes for raw_exec tasks. */
                char rec[4400];
                snprintf(rec, sizeof(rec), "%s/%s", spec->exit_dir, LOGMON_EXIT_FILE);
                x->rec_fd = open(rec, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
                if (x->rec_fd < 0)
                        return errorf(err, -errno, "open %s: %s", rec, strerror(errno));
        }
        return 0;
}

static int exec_start(const struct driver_spec *spec, struct driver_handle *ret_handle, int *ret_exit_fd,
                      struct error *err) {
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        struct exec_start *x = calloc(1, sizeof(*x));
        if (!x)
                return errorf(err, -ENOMEM, "out of memory");
        x->out_fd = x->err_fd = x->null_fd = x->rec_fd = -1;
        uid_t uid = 0;
        gid_t gid = 0;
        int r = prepare(spec, x, &uid, &gid, err);
        if (r < 0) {
                exec_start_free(x, true);
                return r;
        }
        char hostname[64];
        snprintf(hostname, sizeof(hostname), "%s",
                 spec->alloc_name && *spec->alloc_name ? spec->alloc_name : spec->task_name);
        struct ns_options ns = {.net = x->o.net_none, .user = x->o.user_ns};
        struct isolation_spec is = {
            .path = x->path,
            .argv = x->argv,
            .envp = x->envp,
            .cwd = "/local",
            .stdin_fd = x->null_fd,
            .stdout_fd = x->out_fd,
            .stderr_fd = x->err_fd,
            .cgroup_fd = cgroup_fd(x->cg),
            .ns_flags = namespaces_clone_flags(&ns),
            .mounts = x->mounts,
            .mount_template = get_mount_template(),
            .hostname = hostname,
            .set_user = true,
            .uid = uid,
            .gid = gid,
            .set_caps = true,
            .caps = x->o.caps,
            .last_cap = caps_last_cap(),
            .no_new_privs = true,
            .landlock = x->landlock,
            .seccomp = x->seccomp,
            .supervise = x->rec_fd >= 0,
            .exit_record_fd = x->rec_fd,
        };
        pid_t pid;
        int pidfd;
        r = isolation_spawn(&is, &pid, &pidfd, err);
        if (r < 0) {
                error_prefix(err, "exec");
                exec_start_free(x, true);
                return r;
        }
        struct driver_handle h = {
            .pid = pid, .start_ticks = driver_proc_start_ticks(pid), .started_at = clock_now_ns(), .uid = x->dyn_uid};
        snprintf(h.driver, sizeof(h.driver), "%s", exec_driver.name);
        snprintf(h.cgroup, sizeof(h.cgroup), "%s", cgroup_path(x->cg));
        exec_start_free(x, false);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        log_debug("exec: task %s started in %lld us (cgroup, namespaces, mounts, seccomp, capabilities, until execve)",
                  spec->task_name, (long long)(t1.tv_sec - t0.tv_sec) * 1000000 + (t1.tv_nsec - t0.tv_nsec) / 1000);
        *ret_handle = h;
        *ret_exit_fd = pidfd;
        return 0;
}

static int exec_wait(const struct driver_handle *h, int exit_fd, struct driver_exit *ret, struct error *err) {
        int r = driver_wait_pidfd(h, exit_fd, ret, err);
        if (r == 0 && h->uid)
                uid_pool_release(pool, h->uid);
        if (r == 0)
                cores_release(h->cgroup);
        return r;
}

static int exec_signal(const struct driver_handle *h, int sig, struct error *err) {
        if (h->pid <= 1)
                return errorf(err, -EINVAL, "bad pid %d", (int)h->pid);
        if (sig == SIGKILL && task_cgroup_kill(h) == 0)
                return 0;
        if (kill(h->pid, sig) == 0)
                return 0;
        return errorf(err, -errno, "kill %d: %s", (int)h->pid, strerror(errno));
}

static int exec_recover(struct driver_handle *h, int *ret_exit_fd, struct error *err) {
        if (h->pid <= 1)
                return errorf(err, -EINVAL, "bad pid %d", (int)h->pid);
        if (h->start_ticks == 0 || driver_proc_start_ticks(h->pid) != h->start_ticks)
                return errorf(err, -ESRCH, "task process %d is gone", (int)h->pid);
        int fd = driver_pidfd_open(h->pid);
        if (fd < 0)
                return errorf(err, -errno, "pidfd_open %d: %s", (int)h->pid, strerror(errno));
        task_cgroup_recover(h);
        char list[4096];
        ssize_t n = h->cgroup[0] ? getxattr(h->cgroup, CORES_XATTR, list, sizeof(list) - 1) : -1;
        struct cpulist c;
        if (n > 0 && get_cores(NULL) == 0) {
                list[n] = '\0';
                if (cpulist_parse(list, &c, NULL) == 0 && core_alloc_mark(cores, &c) == 0 &&
                    add_resv(h->cgroup, &c) == 0)
                        reshare();
        }
        /* Its workload id stays taken; the alloc runner holds it (and releases it with
         * the allocation), not the task's exit: h->uid stays 0. */
        uid_t uid;
        struct uid_pool *p;
        h->uid = 0;
        if (user_of_pid(h->pid, &uid, NULL) == 0 && get_pool(&p, NULL) == 0)
                uid_pool_mark(p, uid);
        *ret_exit_fd = fd;
        return 0;
}

static int exec_workload_id_take(uint32_t *ret, struct error *err) {
        struct uid_pool *p;
        int r = get_pool(&p, err);
        if (r < 0)
                return r;
        if (uid_pool_take(p, ret) < 0)
                return errorf(err, -EBUSY, "exec: every dynamic workload uid is in use (%u taken)", uid_pool_in_use(p));
        return 0;
}

static int exec_workload_id_mark(uint32_t id) {
        struct uid_pool *p;
        int r = get_pool(&p, NULL);
        return r < 0 ? r : uid_pool_mark(p, id);
}

static void exec_workload_id_release(uint32_t id) {
        uid_pool_release(pool, id);
}

const struct driver_ops exec_driver = {
    .name = "exec",
    .fingerprint = exec_fingerprint,
    .validate = exec_validate,
    .start = exec_start,
    .wait = exec_wait,
    .signal = exec_signal,
    .recover = exec_recover,
    .workload_id_take = exec_workload_id_take,
    .workload_id_mark = exec_workload_id_mark,
    .workload_id_release = exec_workload_id_release,
};
