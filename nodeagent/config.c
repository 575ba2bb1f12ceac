/* config.c - the option table of drover-agent. */
#include "nodeagent/config.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/agent_file.h"
#include "common/error.h"
#include "common/flags.h"
#include "common/limits.h"
#include "common/macros.h"
#include "common/model.h"
#include "common/tls.h"
#include "isolation/cgroup.h"
#include "isolation/user.h"
#include "nodeagent/drivers/driver.h"

#define F(field) offsetof(struct agent_config, field)

static const struct flag options[] = {
    {"servers", FLAG_STR, "http://127.0.0.1:4646", 0, 0, F(servers),
     "comma-separated server HTTP addresses (env DROVER_ADDR is the default when set)"},
    {"data-dir", FLAG_STR, "/var/lib/drover-agent", 0, 0, F(data_dir),
     "node identity, allocation directories and task logs"},
    {"node-name", FLAG_STR, "", 0, 0, F(node_name), "node name (empty = the host name)"},
    {"dc", FLAG_STR, "dc1", 0, 0, F(dc), "datacenter of this node"},
    {"node-class", FLAG_STR, "", 0, 0, F(node_class), "node class, for constraints"},
    {"node-pool", FLAG_STR, "default", 0, 0, F(node_pool), "node pool"},
    {"http-addr", FLAG_STR, "127.0.0.1:4656", 0, 0, F(http_addr),
     "ip:port of the agent's log endpoint, advertised as the node's HTTPAddr (empty = none)"},
    {"dev", FLAG_BOOL, "false", 0, 0, F(dev), "development mode: tasks are stopped when the agent stops"},
    {"raw-exec", FLAG_BOOL, "false", 0, 0, F(raw_exec),
     "enable the raw_exec driver (tasks run as root without isolation; drover dev enables it)"},
    {"cgroup-parent", FLAG_STR, "/sys/fs/cgroup/drover.slice", 0, 0, F(cgroup_parent),
     "cgroup v2 directory under which every task gets its own cgroup"},
    {"workload-uids", FLAG_STR, "80000-89999", 0, 0, F(workload_uids),
     "range of dynamic uids/gids for exec tasks without a user (unique per running task)"},
    {"env-passthrough", FLAG_STR, "", 0, 0, F(env_passthrough),
     "comma-separated names of the agent's environment variables that tasks also get (tasks get only PATH, "
     "HOME, USER, LOGNAME, SHELL, LANG, LC_ALL, TZ, Nomad's variables and their env block otherwise)"},
    {"log-level", FLAG_STR, "info", 0, 0, F(log_level), "debug, info, warn or error"},
    {"fingerprint", FLAG_BOOL, "false", 0, 0, F(fingerprint), "print the node's attributes as JSON and exit"},
    {"devices", FLAG_BOOL, "false", 0, 0, F(fingerprint_devices),
     "with -fingerprint: print NodeResources (devices, networks) beside the attributes"},
    {"fingerprint-root", FLAG_STR, "", 0, 0, F(fingerprint_root),
     "read /proc, /sys and /etc under this directory instead of / (tests use fixture trees)"},
    {"fingerprint-interval", FLAG_DURATION_MS, "5m", 1000, 86400000, F(fingerprint_interval_ms),
     "how often the host is fingerprinted again; the node is re-registered when something changed"},
    {"gc-interval", FLAG_DURATION_MS, "1m", 100, 86400000, F(gc_interval_ms),
     "how often terminal allocations' directories are considered for collection"},
    {"gc-max-allocs", FLAG_INT, "50", 1, 1000000, F(gc_max_allocs),
     "collect the oldest terminal allocations when the node holds more allocations than this"},
    {"gc-disk-usage-threshold", FLAG_INT, "80", 1, 100, F(gc_disk_usage_threshold),
     "collect the oldest terminal allocations while the data dir's disk is fuller than this (percent)"},
    {"gc-max-age", FLAG_DURATION_MS, "72h", 0, 315360000000, F(gc_max_age_ms),
     "collect a terminal allocation's directory this long after it ended (0 = never by age)"},
    {"server-loss-grace", FLAG_DURATION_MS, "5m", 0, 86400000, F(server_loss_grace_ms),
     "after a sign that the servers lost their data (a 404 forcing a new registration, their index going back), "
     "keep running allocations missing from their list until they have been stable this long (0 = stop at once)"},
    {"tls-ca-file", FLAG_STR, "", 0, 0, F(tls_ca_file),
     "PEM CA that signs the servers' certificates (for https:// -servers)"},
    {"tls-cert-file", FLAG_STR, "", 0, 0, F(tls_cert_file),
     "PEM client certificate presented to servers that verify HTTPS clients"},
    {"tls-key-file", FLAG_STR, "", 0, 0, F(tls_key_file), "PEM private key of -tls-cert-file"},
    {"tls-http", FLAG_BOOL, "false", 0, 0, F(tls_http),
     "serve the log endpoint (-http-addr) over HTTPS only, with -tls-cert-file and -tls-key-file"},
    {"tls-verify-https-client", FLAG_BOOL, "false", 0, 0, F(tls_verify_https_client),
     "with -tls-http: require a client certificate signed by -tls-ca-file on the log endpoint"},
    {"node-secret", FLAG_STR, "", 0, 0, F(node_secret),
     "node registration secret the servers ask for (env DROVER_NODE_SECRET)", true},
    {"meta", FLAG_STR, "", 0, 0, F(meta),
     "node metadata, comma-separated key=value pairs (a later pair wins); replaces the files' client { meta }"},
    {"print-config", FLAG_BOOL, "false", 0, 0, F(print_config), "print the effective configuration and exit"},
    {"config", FLAG_STR, "", 0, 0, F(config_file),
     "Nomad's agent configuration file or directory, HCL or JSON; repeatable, later files win, then the flags "
     "(the keys read are listed below)"},
};

/* Nomad's agent file (common/agent_file.h): the client's part. */
static const struct agent_file_key file_keys[] = {
    {"name", AGENT_FILE_SET, "node-name"},
    {"datacenter", AGENT_FILE_SET, "dc"},
    {"data_dir", AGENT_FILE_SET, "data-dir"},
    {"log_level", AGENT_FILE_LEVEL, "log-level"},
    {"bind_addr", AGENT_FILE_HOST, "http-addr"},
    {"ports.http", AGENT_FILE_PORT, "http-addr"},
    {"client.enabled", AGENT_FILE_TRUE, NULL, "drover-agent is always a client"},
    {"client.servers", AGENT_FILE_URLS, "servers"},
    {"client.node_class", AGENT_FILE_SET, "node-class"},
    {"client.node_pool", AGENT_FILE_SET, "node-pool"},
    {"client.meta", AGENT_FILE_MAP, "meta"},
    {"client.options.driver.raw_exec.enable", AGENT_FILE_SET, "raw-exec"},
    {"client.options.env.passthrough", AGENT_FILE_SET, "env-passthrough"},
    {"client.gc_interval", AGENT_FILE_SET, "gc-interval"},
    {"client.gc_max_allocs", AGENT_FILE_SET, "gc-max-allocs"},
    {"client.gc_disk_usage_threshold", AGENT_FILE_SET, "gc-disk-usage-threshold"},
    {"client.server_loss_grace", AGENT_FILE_SET, "server-loss-grace"},
    {"tls.http", AGENT_FILE_SET, "tls-http"},
    {"tls.ca_file", AGENT_FILE_SET, "tls-ca-file"},
    {"tls.cert_file", AGENT_FILE_SET, "tls-cert-file"},
    {"tls.key_file", AGENT_FILE_SET, "tls-key-file"},
    {"tls.verify_https_client", AGENT_FILE_SET, "tls-verify-https-client"},
};

static const struct agent_file_spec file_spec = {
    .program = "drover-agent",
    .keys = file_keys,
    .n_keys = ARRAY_SIZE(file_keys),
    .flags = options,
    .n_flags = ARRAY_SIZE(options),
};

void agent_config_help(void) {
        printf("Usage: drover-agent [options]\n\n"
               "  The drover node agent: fingerprints this host, registers it with the\n"
               "  servers, runs the allocations placed on it and reports their state.\n\n"
               "Options (also accepted as --name=value or -name=value):\n");
        flags_print_help(options, ARRAY_SIZE(options), 14);
        agent_file_print_help(&file_spec, stdout);
}

/* Each "key=value" of a comma list, in order; fn's negative return stops it. */
static int meta_each(const char *list, int (*fn)(void *data, const char *key, size_t klen, const char *val,
                                                  size_t vlen),
                     void *data, struct error *err) {
        const char *p = list;
        while (*p) {
                size_t len = strcspn(p, ",");
                const char *eq = memchr(p, '=', len);
                if (len && (!eq || eq == p))
                        return errorf(err, -EINVAL, "-meta: \"%.*s\" is not key=value", (int)MIN(len, 64), p);
                if (len) {
                        int r = fn(data, p, (size_t)(eq - p), eq + 1, len - (size_t)(eq - p) - 1);
                        if (r < 0)
                                return errorf(err, r, "-meta: out of memory");
                }
                p += len + (p[len] == ',');
        }
        return 0;
}

static int meta_count(void *data, const char *key, size_t klen, const char *val, size_t vlen) {
        (void)key, (void)val;
        if (klen > LIMIT_KEY_LEN || vlen > LIMIT_VALUE_LEN || ++*(size_t *)data > LIMIT_MAP_ENTRIES)
                return -E2BIG;
        return 0;
}

static int meta_put(void *data, const char *key, size_t klen, const char *val, size_t vlen) {
        _cleanup_free_ char *k = strndup(key, klen), *v = strndup(val, vlen);
        return k && v ? strmap_set(data, k, v) : -ENOMEM;
}

int agent_config_meta(const struct agent_config *cfg, struct strmap *meta, struct error *err) {
        return meta_each(cfg->meta, meta_put, meta, err);
}

int agent_config_servers(const char *list, char **ret, int max, struct error *err) {
        int n = 0;
        const char *p = list;
        while (*p) {
                const char *comma = strchr(p, ',');
                size_t len = comma ? (size_t)(comma - p) : strlen(p);
                while (len && (*p == ' ' || *p == '\t'))
                        p++, len--;
                while (len && (p[len - 1] == ' ' || p[len - 1] == '/'))
                        len--;
                if (len) {
                        int r = 0;
                        if (strncmp(p, "http://", 7) != 0 && strncmp(p, "https://", 8) != 0)
                                r = errorf(err, -EINVAL, "-servers: \"%.*s\" must start with http:// or https://",
                                           (int)len, p);
                        else if (n == max)
                                r = errorf(err, -E2BIG, "-servers: at most %d servers", max);
                        else if (!(ret[n] = strndup(p, len)))
                                r = errorf(err, -ENOMEM, "out of memory");
                        if (r < 0) {
                                while (n > 0)
                                        free(ret[--n]);
                                return r;
                        }
                        n++;
                }
                if (!comma)
                        break;
                p = comma + 1;
        }
        if (n == 0)
                return errorf(err, -EINVAL, "-servers: no server address given (expected http://host:port)");
        return n;
}

int agent_config_parse(struct agent_config *cfg, int argc, char **argv, struct error *err) {
        memset(cfg, 0, sizeof(*cfg));
        int r = flags_defaults(cfg, options, ARRAY_SIZE(options), err);
        const char *env = getenv("DROVER_ADDR"); /* the default of -servers when set */
        if (r == 0 && env && *env)
                r = flags_set(cfg, flags_find(options, ARRAY_SIZE(options), "servers", 7), env, err);
        if (r == 0)
                r = agent_file_parse_args(&file_spec, cfg, argc, argv, &cfg->config_notes, err);
        if (r == 1)
                agent_config_help();
        if (r != 0)
                return r;
        size_t n_meta = 0;
        r = meta_each(cfg->meta, meta_count, &n_meta, err);
        if (r < 0)
                return r == -E2BIG ? errorf(err, r, "-meta: at most %d pairs, keys of %d bytes, values of %d bytes",
                                            LIMIT_MAP_ENTRIES, LIMIT_KEY_LEN, LIMIT_VALUE_LEN)
                                   : r;
        env = getenv("DROVER_NODE_SECRET");
        if (!*cfg->node_secret && env && *env) {
                r = flags_set(cfg, flags_find(options, ARRAY_SIZE(options), "node-secret", 11), env, err);
                if (r < 0)
                        return r;
        }
        if (!!*cfg->tls_cert_file != !!*cfg->tls_key_file)
                return errorf(err, -EINVAL, "-tls-cert-file and -tls-key-file go together");
        if (cfg->tls_http && !*cfg->tls_cert_file)
                return errorf(err, -EINVAL, "-tls-http needs -tls-cert-file and -tls-key-file");
        if (cfg->tls_verify_https_client && (!cfg->tls_http || !*cfg->tls_ca_file))
                return errorf(err, -EINVAL, "-tls-verify-https-client needs -tls-http and -tls-ca-file");
        if (*cfg->tls_ca_file || *cfg->tls_cert_file) {
                struct tls_client tc;
                agent_config_tls_client(cfg, &tc);
                r = tls_client_check(&tc, err);
                if (r < 0)
                        return error_prefix(err, "tls");
        }
        if (!*cfg->data_dir)
                return errorf(err, -EINVAL, "-data-dir must not be empty");
        if (!*cfg->dc)
                return errorf(err, -EINVAL, "-dc must not be empty");
        if (!*cfg->node_pool)
                return errorf(err, -EINVAL, "-node-pool must not be empty");
        uint32_t lo, hi;
        r = uid_range_parse(cfg->workload_uids, &lo, &hi, err);
        if (r < 0)
                return error_prefix(err, "-workload-uids");
        if (cfg->cgroup_parent[0] != '/' || strlen(cfg->cgroup_parent) >= 256)
                return errorf(err, -EINVAL,
                              "-cgroup-parent must be an absolute path below the cgroup2 mount (got \"%s\")",
                              cfg->cgroup_parent);
        char *servers[16];
        int n = agent_config_servers(cfg->servers, servers, (int)ARRAY_SIZE(servers), err);
        if (n < 0)
                return n;
        while (n > 0)
                free(servers[--n]);
        return 0;
}

void agent_config_driver_settings(const struct agent_config *cfg, struct driver_settings *ret) {
        memset(ret, 0, sizeof(*ret));
        ret->raw_exec_enabled = cfg->raw_exec;
        snprintf(ret->cgroup_mount, sizeof(ret->cgroup_mount), "%s", CGROUP_DEFAULT_MOUNT);
        snprintf(ret->cgroup_parent, sizeof(ret->cgroup_parent), "%s", cfg->cgroup_parent);
        if (uid_range_parse(cfg->workload_uids, &ret->uid_min, &ret->uid_max, NULL) < 0) {
                ret->uid_min = UID_POOL_DEFAULT_MIN;
                ret->uid_max = UID_POOL_DEFAULT_MAX;
        }
}

void agent_config_tls_listener(const struct agent_config *cfg, struct tls_config *ret) {
        *ret = (struct tls_config){.http = cfg->tls_http,
                                   .ca_file = *cfg->tls_ca_file ? cfg->tls_ca_file : NULL,
                                   .cert_file = cfg->tls_cert_file,
                                   .key_file = cfg->tls_key_file,
                                   .verify_client = cfg->tls_verify_https_client};
}

void agent_config_tls_client(const struct agent_config *cfg, struct tls_client *ret) {
        memset(ret, 0, sizeof(*ret));
        snprintf(ret->ca_cert, sizeof(ret->ca_cert), "%s", cfg->tls_ca_file);
        snprintf(ret->client_cert, sizeof(ret->client_cert), "%s", cfg->tls_cert_file);
        snprintf(ret->client_key, sizeof(ret->client_key), "%s", cfg->tls_key_file);
}

void agent_config_print(const struct agent_config *cfg) {
        flags_print_values(cfg, options, ARRAY_SIZE(options));
        agent_file_print_notes(cfg->config_notes, stdout); /* the ignored keys of the files */
}

void agent_config_free(struct agent_config *cfg) {
        flags_free(cfg, options, ARRAY_SIZE(options));
        free(cfg->config_notes);
        cfg->config_notes = NULL;
}
