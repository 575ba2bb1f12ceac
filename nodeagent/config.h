/* config.h - drover-agent options. One table (config.c) drives flag parsing,
 * -help and the config dump. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

struct error;
struct driver_settings;

struct agent_config {
        bool dev;
        char *servers; /* comma list of http://host:port */
        char *data_dir;
        char *node_name; /* "" = hostname */
        char *dc;
        char *node_class;
        char *node_pool;
        char *http_addr; /* ip:port of the agent's own log endpoint; "" = none */
        char *log_level;
        bool raw_exec;        /* the raw_exec driver is opt-in */
        char *cgroup_parent;  /* tasks' cgroups go below it */
        char *workload_uids;  /* "80000-89999" */
        char *env_passthrough; /* the agent's variables tasks also get, "A,B" (besides LANG, LC_ALL, TZ) */
        bool fingerprint;
        bool fingerprint_devices;        /* -devices: -fingerprint also prints NodeResources */
        int64_t fingerprint_interval_ms; /* periodic re-fingerprinting */
        char *fingerprint_root;          /* "" = / */
        int64_t gc_interval_ms;          /* allocation directory GC */
        int64_t gc_max_allocs;
        int64_t gc_disk_usage_threshold; /* percent */
        int64_t gc_max_age_ms;           /* 0 = never by age */
        /* after a sign that the servers lost their data, allocations missing from
         * their list are kept this long after they are stable again (0 = stop at once) */
        int64_t server_loss_grace_ms;
        bool print_config;
        /* TLS towards the servers: the CA their certificates are signed by, and this
         * agent's client certificate for servers that verify HTTPS clients */
        char *tls_ca_file;
        char *tls_cert_file;
        char *tls_key_file;
        bool tls_http;                /* the log endpoint over HTTPS with tls_cert_file/tls_key_file */
        bool tls_verify_https_client; /* ... and a client certificate signed by tls_ca_file required */
        char *node_secret; /* node registration secret the servers ask for ("" = none) */
        char *meta;        /* the node's metadata: "key=value,key=value" (a later key wins) */
        char *config_file; /* the -config files read before the flags (which win over them), joined with ',' */
        /* not an option: "config: KEY is not used by drover-agent (FILE:LINE:COL)\n"... of the
         * -config files, to log (malloc'd; agent_config_free frees it) */
        char *config_notes;
};

/* Fill defaults (DROVER_ADDR, when set, is the default of -servers), then the
 * -config files (Nomad's agent file, common/agent_file.h), then apply argv.
 * Returns 0, 1 when -help was printed, or negative with err. */
int agent_config_parse(struct agent_config *cfg, int argc, char **argv, struct error *err);
void agent_config_free(struct agent_config *cfg);
void agent_config_print(const struct agent_config *cfg);
void agent_config_help(void);
struct strmap;
/* Add -meta's pairs to meta, in order. 0 or negative with err. */
int agent_config_meta(const struct agent_config *cfg, struct strmap *meta, struct error *err);
/* The drivers' settings from the parsed configuration. */
void agent_config_driver_settings(const struct agent_config *cfg, struct driver_settings *ret);

struct tls_client;
struct tls_config;
/* The log endpoint's TLS settings of cfg (borrowed strings; for log_api_start_tls). */
void agent_config_tls_listener(const struct agent_config *cfg, struct tls_config *ret);
/* The client TLS settings of cfg (for http_client_set_tls). */
void agent_config_tls_client(const struct agent_config *cfg, struct tls_client *ret);
/* Split -servers into at most max entries (each a malloc'd "http://host:port"
 * without a trailing slash). Returns the count or negative with err. */
int agent_config_servers(const char *list, char **ret, int max, struct error *err);
