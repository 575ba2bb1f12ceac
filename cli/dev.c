/* dev.c - `drover dev`: one server and one agent on loopback; -config reads Nomad's
 * agent configuration file for the settings that apply (dev_config.c). */
#include <errno.h>
#include <fcntl.h>
#include <dirent.h>
#include <ftw.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/dev_config.h"
#include "common/error.h"
#include "common/http_client.h"
#include "common/jsonx.h"
#include "common/macros.h"

const char cli_dev_help[] =
    "Usage: drover dev [options]\n\n"
    "  Start a one-host cluster for development: a drover-server (single-voter\n"
    "  Raft, data in a temporary directory) and a drover-agent, both on loopback.\n"
    "  Runs in the foreground; Ctrl-C stops both, stops their tasks and removes\n"
    "  the temporary directory.\n\n"
    "Options (-name=<value> or -name <value>; a bad value stops it with exit code 1):\n"
    "  -port=<n>       HTTP API port, 1 to 65525 (default 4646; Raft uses port+1, the server's\n"
    "                  listener for node agents port+2 (drover-server -agent-addr), the agent\n"
    "                  port+10)\n"
    "  -data-dir=<d>   keep data in <d> instead of a temporary directory\n"
    "  -config=<file>  Nomad's agent configuration, HCL or JSON (by .json or a leading '{'),\n"
    "                  or a directory of *.hcl and *.json files (in name order); repeatable,\n"
    "                  later files and then the flags above win. Read: ports { http }, data_dir,\n"
    "                  acl { enabled }, log_level, region, datacenter, name, client { node_class\n"
    "                  node_pool }. The rest of Nomad's layout (bind_addr, ports { rpc serf },\n"
    "                  server { ... }, client { ... }, tls { ... }, telemetry { ... }, consul,\n"
    "                  vault, plugin ...) is accepted and ignored with a note \"config: KEY is\n"
    "                  not used by drover dev (FILE:LINE:COL)\". Any other key is an error\n"
    "                  naming FILE:LINE:COL and the key path; nothing starts.\n";

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig) {
        (void)sig;
        stop_requested = 1;
}

static int find_sibling(const char *name, char *buf, size_t len) {
        char self[PATH_MAX];
        ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
        if (n > 0) {
                self[n] = '\0';
                snprintf(buf, len, "%s/%s", dirname(self), name);
                if (access(buf, X_OK) == 0)
                        return 0;
        }
        snprintf(buf, len, "%s", name); /* fall back to $PATH */
        return 0;
}

static pid_t spawn(const char *bin, char *const argv[], const char *log_path) {
        pid_t pid = fork();
        if (pid != 0)
                return pid;
        int fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (fd >= 0) {
                dup2(fd, STDOUT_FILENO);
                dup2(fd, STDERR_FILENO);
        }
        int devnull = open("/dev/null", O_RDONLY);
        if (devnull >= 0)
                dup2(devnull, STDIN_FILENO);
        setpgid(0, 0); /* Ctrl-C reaches drover dev, which stops the children in order */
        execvp(bin, argv);
        fprintf(stderr, "drover dev: cannot run %s: %s\n", bin, strerror(errno));
        _exit(127);
}

static bool wait_http(const char *base, const char *path, int timeout_ms, bool (*ok)(const json_t *)) {
        for (int waited = 0; waited < timeout_ms && !stop_requested; waited += 100) {
                _cleanup_json_ json_t *j = NULL;
                struct error err = {0};
                if (http_json(base, "GET", path, NULL, 2000, &j, NULL, &err) == 0 && (!ok || ok(j)))
                        return true;
                usleep(100 * 1000);
        }
        return false;
}

static bool has_leader(const json_t *j) {
        return json_is_string(j) && *json_string_value(j);
}

static bool has_ready_node(const json_t *j) {
        size_t i;
        json_t *n;
        json_array_foreach(j, i, n) if (strcmp(jx_str(n, "Status", ""), "ready") == 0) return true;
        return false;
}

/* Detach every mount under dir (the tmpfs a running task's secrets/ gets when the agent
 * runs as root), deepest first, so that the data dir can be removed: a stopped agent
 * leaves them for its successor. Mount points are read from /proc/self/mountinfo
 * (field 5, octal-escaped; a temp dir has no characters that need escaping). */
static void detach_mounts_under(const char *dir) {
        FILE *f = fopen("/proc/self/mountinfo", "re");
        if (!f)
                return;
        size_t dlen = strlen(dir);
        char *line = NULL, **points = NULL;
        size_t cap = 0, n = 0, room = 0;
        while (getline(&line, &cap, f) > 0 && n < 4096) {
                char mp[PATH_MAX];
                if (sscanf(line, "%*s %*s %*s %*s %4095s", mp) != 1)
                        continue;
                if (strncmp(mp, dir, dlen) != 0 || mp[dlen] != '/')
                        continue;
                if (n == room) {
                        room = room ? room * 2 : 16;
                        char **np = realloc(points, room * sizeof(*points));
                        if (!np)
                                break;
                        points = np;
                }
                if (!(points[n] = strdup(mp)))
                        break;
                n++;
        }
        free(line);
        fclose(f);
        /* mountinfo lists parents before children: detach in reverse */
        while (n > 0) {
                n--;
                if (umount2(points[n], MNT_DETACH) < 0 && errno != EINVAL && errno != ENOENT)
                        fprintf(stderr, "drover dev: umount %s: %s\n", points[n], strerror(errno));
                free(points[n]);
        }
        free(points);
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
        (void)st;
        (void)flag;
        if (remove(path) < 0 && errno != ENOENT && ftw->level == 0)
                fprintf(stderr, "    cannot remove %s: %s\n", path, strerror(errno));
        return 0;
}

/* The processes still running with "-data-dir <dir>" among their arguments: the
 * agent's log collector is a fork of the agent (same command line) that outlives it
 * by design and exits once nothing is left for it to collect; for `drover dev` it
 * must be gone before the data directory is removed. Returns how many were found
 * (at most n are stored). */
static size_t find_by_data_dir(const char *dir, pid_t *pids, size_t n) {
        DIR *d = opendir("/proc");
        if (!d)
                return 0;
        size_t found = 0;
        struct dirent *e;
        while ((e = readdir(d))) {
                char *end;
                long pid = strtol(e->d_name, &end, 10);
                if (*end || pid <= 1 || pid == getpid())
                        continue;
                char path[64], buf[4096];
                snprintf(path, sizeof(path), "/proc/%ld/cmdline", pid);
                int fd = open(path, O_RDONLY | O_CLOEXEC);
                if (fd < 0)
                        continue;
                ssize_t len = read(fd, buf, sizeof(buf) - 1);
                close(fd);
                if (len <= 0)
                        continue;
                buf[len] = '\0';
                for (const char *a = buf; a < buf + len; a += strlen(a) + 1)
                        if (strcmp(a, "-data-dir") == 0 && a + strlen(a) + 1 < buf + len &&
                            strcmp(a + strlen(a) + 1, dir) == 0) {
                                if (found < n)
                                        pids[found] = (pid_t)pid;
                                found++;
                                break;
                        }
        }
        closedir(d);
        return found;
}

/* Wait up to timeout_ms for what still runs on the agent's data directory to exit,
 * then stop it. */
static void wait_data_dir_free(const char *dir, int timeout_ms) {
        pid_t pids[16];
        size_t n = 0;
        for (int waited = 0; waited < timeout_ms; waited += 50) {
                n = find_by_data_dir(dir, pids, ARRAY_SIZE(pids));
                if (n == 0)
                        return;
                usleep(50 * 1000);
        }
        fprintf(stderr, "    %zu process(es) still use %s after %d ms; stopping them\n", n, dir, timeout_ms);
        for (int sig = SIGTERM, round = 0; round < 2 && n > 0; round++, sig = SIGKILL) {
                for (size_t i = 0; i < n && i < ARRAY_SIZE(pids); i++)
                        kill(pids[i], sig);
                for (int waited = 0; waited < 2000 && (n = find_by_data_dir(dir, pids, ARRAY_SIZE(pids))) > 0;
                     waited += 50)
                        usleep(50 * 1000);
        }
}

static void stop_child(pid_t pid, const char *what, int timeout_ms) {
        if (pid <= 0)
                return;
        kill(pid, SIGTERM);
        for (int waited = 0; waited < timeout_ms; waited += 50) {
                if (waitpid(pid, NULL, WNOHANG) == pid)
                        return;
                usleep(50 * 1000);
        }
        fprintf(stderr, "    %s did not stop in %d ms; killing it\n", what, timeout_ms);
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
}

int cli_dev(struct cli *c, int argc, char **argv) {
        _cleanup_(dev_config_free) struct dev_config cfg;
        if (dev_config_init(&cfg) < 0) {
                fprintf(stderr, "drover dev: out of memory\n");
                return 1;
        }
        /* argv[-1] is "dev": dev_config_parse_args, like every flags table, starts at argv[1] */
        struct error err = {0};
        int r = dev_config_parse_args(&cfg, argc + 1, argv - 1, &err);
        if (r != 0) {
                if (r > 0)
                        fputs(cli_dev_help, stdout);
                else
                        fprintf(stderr, "drover dev: %s\n", err.msg);
                return r > 0 ? 0 : 1;
        }
        int port = cfg.port ? (int)cfg.port : 4646;
        const char *data_dir_flag = cfg.data_dir[0] ? cfg.data_dir : NULL;
        fputs(cfg.notes, stdout);
        char dir[PATH_MAX];
        bool temp = !data_dir_flag;
        if (temp) {
                snprintf(dir, sizeof(dir), "/tmp/drover-dev-XXXXXX");
                if (!mkdtemp(dir)) {
                        fprintf(stderr, "drover dev: cannot create a temporary directory: %s\n", strerror(errno));
                        return 1;
                }
        } else {
                snprintf(dir, sizeof(dir), "%s", data_dir_flag);
                if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
                        fprintf(stderr, "drover dev: cannot create %s: %s\n", dir, strerror(errno));
                        return 1;
                }
        }
        char server_bin[PATH_MAX], agent_bin[PATH_MAX];
        find_sibling("drover-server", server_bin, sizeof(server_bin));
        find_sibling("drover-agent", agent_bin, sizeof(agent_bin));
        char http_addr[64], raft_addr[64], agents_addr[64], agent_http[64], base[96], agents_base[96], sdata[PATH_MAX + 16], adata[PATH_MAX + 16],
            slog[PATH_MAX + 16], alog[PATH_MAX + 16];
        snprintf(http_addr, sizeof(http_addr), "127.0.0.1:%d", port);
        snprintf(raft_addr, sizeof(raft_addr), "127.0.0.1:%d", port + 1);
        snprintf(agents_addr, sizeof(agents_addr), "127.0.0.1:%d", port + 2);
        snprintf(agent_http, sizeof(agent_http), "127.0.0.1:%d", port + 10);
        snprintf(base, sizeof(base), "http://%s", http_addr);
        snprintf(agents_base, sizeof(agents_base), "http://%s", agents_addr);
        snprintf(sdata, sizeof(sdata), "%s/server", dir);
        snprintf(adata, sizeof(adata), "%s/agent", dir);
        snprintf(slog, sizeof(slog), "%s/server.log", dir);
        snprintf(alog, sizeof(alog), "%s/agent.log", dir);

        struct sigaction sa = {.sa_handler = on_signal};
        sigaction(SIGINT, &sa, NULL);
        sigaction(SIGTERM, &sa, NULL);

        printf("==> Starting drover dev cluster (data in %s)\n", dir);
        /* the agent talks to the server's listener for node agents: a flood of the API
         * cannot starve its heartbeats (docs/security.md, "Floods") */
        char *sargv[24] = {server_bin, "-dev",     "-data-dir",  sdata,      "-http-addr",
                           http_addr,  "-raft-addr", raft_addr, "-agent-addr", agents_addr};
        int sn = 10;
        if (cfg.acl == 1)
                sargv[sn++] = "-acl-enabled";
        const char *const server_opts[][2] = {
            {"-log-level", cfg.log_level}, {"-region", cfg.region}, {"-dc", cfg.datacenter}, {"-name", cfg.name}};
        for (size_t k = 0; k < ARRAY_SIZE(server_opts); k++)
                if (server_opts[k][1][0]) {
                        sargv[sn++] = (char *)server_opts[k][0];
                        sargv[sn++] = (char *)server_opts[k][1];
                }
        pid_t server = spawn(server_bin, sargv, slog);
        int rc = 0;
        pid_t agent = -1;
        if (!wait_http(base, "/v1/status/leader", 15000, has_leader)) {
                fprintf(stderr, "drover dev: the server did not elect itself leader; see %s\n", slog);
                rc = 1;
                goto out;
        }
        printf("    server: API on %s, node agents on %s (log %s)\n", base, agents_base, slog);
        char *aargv[24] = {agent_bin, "-dev",  "-raw-exec",  "-servers",  agents_base,
                           "-data-dir", adata, "-http-addr", agent_http};
        int an = 9;
        const char *const agent_opts[][2] = {{"-log-level", cfg.log_level},  {"-dc", cfg.datacenter},
                                             {"-node-name", cfg.name},        {"-node-class", cfg.node_class},
                                             {"-node-pool", cfg.node_pool}};
        for (size_t k = 0; k < ARRAY_SIZE(agent_opts); k++)
                if (agent_opts[k][1][0]) {
                        aargv[an++] = (char *)agent_opts[k][0];
                        aargv[an++] = (char *)agent_opts[k][1];
                }
        agent = spawn(agent_bin, aargv, alog);
        if (cfg.acl == 1) {
                /* /v1/nodes needs a token now: none exists before `drover acl bootstrap` */
                printf("    ACLs enabled: run \"drover acl bootstrap\" for a management token\n");
        } else if (!wait_http(base, "/v1/nodes", 15000, has_ready_node)) {
                fprintf(stderr, "drover dev: the agent did not register; see %s\n", alog);
                rc = 1;
                goto out;
        }
        printf("    agent:  %s (log %s)\n", cfg.acl == 1 ? "started" : "node ready", alog);
        printf("==> drover dev cluster running. Try:\n"
               "      export DROVER_ADDR=%s\n"
               "      drover job run examples/hello.hcl\n"
               "      drover node status\n"
               "    Press Ctrl-C to stop.\n",
               base);
        fflush(stdout);
        while (!stop_requested) {
                int st;
                pid_t p = waitpid(-1, &st, WNOHANG);
                if (p == server || p == agent) {
                        fprintf(stderr, "drover dev: %s exited unexpectedly; see %s\n",
                                p == server ? "drover-server" : "drover-agent", p == server ? slog : alog);
                        if (p == server)
                                server = -1;
                        else
                                agent = -1;
                        rc = 1;
                        break;
                }
                usleep(200 * 1000);
        }
out:
        printf("==> Stopping drover dev cluster\n");
        stop_child(agent, "drover-agent", 10000);
        stop_child(server, "drover-server", 5000);
        wait_data_dir_free(adata, 3000);
        if (temp) {
                detach_mounts_under(dir);
                nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
        }
        (void)c;
        return rc;
}
