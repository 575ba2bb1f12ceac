/* config.h - drover-server options. One table (config.c) drives flag parsing,
 * --help and the config dump. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

struct error;

struct server_config {
        bool dev;
        char *data_dir;
        char *http_addr;    /* ip:port */
        char *raft_addr;    /* ip:port */
        int64_t raft_id;   /* 0: 1 for a lone server, else derived from raft_addr */
        bool bootstrap;
        int64_t raft_snapshot_threshold; /* log entries between snapshots (the log is truncated) */
        int64_t bootstrap_expect; /* > 1: form a cluster once this many servers found each other */
        char *join;               /* comma-separated HTTP addresses (ip:port) of other servers */
        bool leave_on_terminate;  /* SIGTERM: leave the Raft configuration first (raft/leave.h) */
        int64_t heartbeat_ttl_ms;  /* minimum node heartbeat TTL */
        int64_t heartbeat_grace_ms;
        int64_t num_schedulers;
        int64_t gc_interval_ms;        /* leader: how often GC runs */
        int64_t eval_gc_threshold_ms;  /* terminal evals (and their allocs) older than this go */
        int64_t job_gc_threshold_ms;   /* dead jobs older than this go */
        int64_t node_gc_threshold_ms;  /* nodes down for longer than this go */
        int64_t rpc_hold_timeout_ms;   /* a request that finds no leader is held this long (0: not held) */
        char *log_level;
        bool print_config;
        /* tls { http = true  ca_file cert_file key_file  verify_https_client } */
        bool tls_http;
        char *tls_ca_file;
        char *tls_cert_file;
        char *tls_key_file;
        bool tls_verify_https_client;
        bool tls_rpc; /* tls { rpc = true }: Raft over mutual TLS */
        char *region; /* Raft peers must hold server.<region>.nomad (tls_rpc); the API's region */
        char *datacenter; /* -dc: the API's (/v1/agent/self, members) */
        char *name;       /* -name: the API's member "<name>.<region>"; "" = the host name */
        int64_t acl_token_gc_threshold_ms;
        bool acl_enabled; /* acl { enabled = true } */
        /* node registration secret: agents must present it to register ("" = none asked) */
        char *node_secret;
        /* server { join_token }: servers present it to join (X-Drover-Join-Token); "" = none */
        char *join_token;
        /* flood bounds of the HTTP listener (docs/security.md) */
        int64_t http_max_conns;
        int64_t http_max_conns_per_client;
        int64_t http_max_parked;
        int64_t http_idle_timeout_ms;
        /* the node agents' own listener (-agent-addr ip:port, "" = none) and its bounds */
        char *agent_addr;
        int64_t agent_max_conns;
        int64_t agent_max_parked;
        char *config_file; /* the -config files read before the flags (which win over them), joined with ',' */
        /* not an option: "config: KEY is not used by drover-server (FILE:LINE:COL)\n"... of the
         * -config files, to log (malloc'd; server_config_free frees it) */
        char *config_notes;
};

/* Fill defaults, then the -config files (common/agent_file.h), then apply argv. Returns 0, 1 when --help was printed, or negative with err. */
int server_config_parse(struct server_config *cfg, int argc, char **argv, struct error *err);
void server_config_free(struct server_config *cfg);
void server_config_print(const struct server_config *cfg);
/* Whether this server is (to be) one of several: -bootstrap-expect > 1 or -join. */
bool server_config_clustered(const struct server_config *cfg);
