/* config.c - the option table of drover-server. */
#include "controlplane/config.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/error.h"
#include "common/flags.h"
#include "common/agent_file.h"
#include "common/macros.h"

#define F(field) offsetof(struct server_config, field)

static const struct flag options[] = {
    {"dev", FLAG_BOOL, "false", 0, 0, F(dev), "development mode: single voter, short TTLs, state in -data-dir"},
    {"data-dir", FLAG_STR, "/var/lib/drover-server", 0, 0, F(data_dir), "Raft log, snapshots and state"},
    {"http-addr", FLAG_STR, "127.0.0.1:4646", 0, 0, F(http_addr), "HTTP API listen address (ip:port)"},
    {"raft-addr", FLAG_STR, "127.0.0.1:4647", 0, 0, F(raft_addr), "Raft RPC listen address (ip:port)"},
    {"raft-id", FLAG_INT, "0", 0, INT32_MAX, F(raft_id),
     "this server's Raft ID (0: 1 for a lone server, else derived from -raft-addr)"},
    {"bootstrap", FLAG_BOOL, "true", 0, 0, F(bootstrap),
     "form a single-voter cluster if the data dir is empty (without -bootstrap-expect/-join)"},
    {"raft-snapshot-threshold", FLAG_INT, "8192", 16, 1000000000, F(raft_snapshot_threshold),
     "log entries between snapshots; the log before a snapshot is truncated (1024 entries kept)"},
    {"bootstrap-expect", FLAG_INT, "0", 0, 7, F(bootstrap_expect),
     "form a cluster of this many voters once they found each other through -join (3 or 5)"},
    {"join", FLAG_STR, "", 0, 0, F(join),
     "comma-separated HTTP addresses (ip:port) of other servers, retried until one answers"},
    {"leave-on-terminate", FLAG_BOOL, "false", 0, 0, F(leave_on_terminate),
     "on SIGTERM, leave the Raft configuration before exiting (a leader hands leadership over first), waiting at "
     "most 5 s for a leader to remove this server (Nomad's leave_on_terminate)"},
    {"heartbeat-ttl", FLAG_DURATION_MS, "10s", 100, 3600000, F(heartbeat_ttl_ms), "minimum node heartbeat TTL"},
    {"heartbeat-grace", FLAG_DURATION_MS, "10s", 0, 3600000, F(heartbeat_grace_ms),
     "extra time after a missed TTL before a node is marked down"},
    {"num-schedulers", FLAG_INT, "0", 0, 64, F(num_schedulers), "scheduler workers (0 = one per core)"},
    {"gc-interval", FLAG_DURATION_MS, "5m", 1000, 86400000, F(gc_interval_ms),
     "leader: how often garbage collection runs"},
    {"eval-gc-threshold", FLAG_DURATION_MS, "1h", 0, INT32_MAX, F(eval_gc_threshold_ms),
     "terminal evaluations (with their terminal allocations) older than this are collected"},
    {"job-gc-threshold", FLAG_DURATION_MS, "4h", 0, INT32_MAX, F(job_gc_threshold_ms),
     "dead jobs with nothing live left, older than this, are collected"},
    {"node-gc-threshold", FLAG_DURATION_MS, "24h", 0, INT32_MAX, F(node_gc_threshold_ms),
     "nodes down for longer than this, with no live allocation, are collected"},
    {"rpc-hold-timeout", FLAG_DURATION_MS, "5s", 0, 600000, F(rpc_hold_timeout_ms),
     "a request that finds no leader (none elected yet, the leader just died) is held this long, retried as soon "
     "as a leader is known, before it is answered 500 \"No cluster leader\" (Nomad's rpc_hold_timeout; 0 = "
     "answered at once)"},
    {"log-level", FLAG_STR, "info", 0, 0, F(log_level), "debug, info, warn or error"},
    {"tls-http", FLAG_BOOL, "false", 0, 0, F(tls_http),
     "serve the HTTP API over TLS only (Nomad's tls { http = true }); plain HTTP is refused"},
    {"tls-ca-file", FLAG_STR, "", 0, 0, F(tls_ca_file),
     "PEM CA that signs client certificates; also trusted when this server calls its peers"},
    {"tls-cert-file", FLAG_STR, "", 0, 0, F(tls_cert_file), "PEM certificate of this server (also its client certificate)"},
    {"tls-key-file", FLAG_STR, "", 0, 0, F(tls_key_file), "PEM private key of -tls-cert-file"},
    {"tls-verify-https-client", FLAG_BOOL, "false", 0, 0, F(tls_verify_https_client),
     "require a client certificate signed by -tls-ca-file from every HTTPS client (mutual TLS)"},
    {"region", FLAG_STR, "global", 0, 0, F(region),
     "this server's region (letters, digits, '-'; at most 63): the API's (/v1/regions, ?region=); with -tls-rpc, "
     "Raft peers must hold a certificate for server.<region>.nomad"},
    {"dc", FLAG_STR, "dc1", 0, 0, F(datacenter),
     "this server's datacenter (letters, digits, '-', '_', '.'; at most 128), shown by /v1/agent/self and members"},
    {"name", FLAG_STR, "", 0, 0, F(name),
     "this server's name (\"\" = the host name; at most 128 printable characters, no spaces): its member is "
     "<name>.<region>"},
    {"tls-rpc", FLAG_BOOL, "false", 0, 0, F(tls_rpc),
     "Raft between servers over mutual TLS (Nomad's tls { rpc = true }): peers need a certificate from -tls-ca-file "
     "for server.<region>.nomad (drover tls cert create -server -region <region>)"},
    {"acl-enabled", FLAG_BOOL, "false", 0, 0, F(acl_enabled),
     "enforce ACLs (Nomad's acl { enabled = true }): requests need an X-Nomad-Token; see drover acl bootstrap"},
    {"acl-token-gc-threshold", FLAG_DURATION_MS, "1h", 0, INT32_MAX, F(acl_token_gc_threshold_ms),
     "expired ACL tokens are deleted by the leader this long after they expired (Nomad's acl_token_gc_threshold)"},
    {"node-secret", FLAG_STR, "", 0, 0, F(node_secret),
     "node registration secret: agents must send it to register (env DROVER_NODE_SECRET; \"\" = not asked)", true},
    {"join-token", FLAG_STR, "", 0, 0, F(join_token),
     "servers' join credential (16 to 128 printable characters, the same on every server; env DROVER_JOIN_TOKEN): "
     "sent to /v1/internal/raft/self and /v1/operator/raft/join, which then need no ACL token; required with "
     "-acl-enabled and -join (\"\" = none: with ACLs off anyone may join)",
     true},
    {"http-max-conns", FLAG_INT, "4096", 16, 1000000, F(http_max_conns),
     "HTTP connections served at once; 256 more are kept for node agents' heartbeats"},
    {"http-max-conns-per-client", FLAG_INT, "0", 0, 1000000, F(http_max_conns_per_client),
     "HTTP connections from one IP address (0 = no bound)"},
    {"http-max-parked", FLAG_INT, "2048", 1, 1000000, F(http_max_parked),
     "blocking queries (GET with ?index=N) waiting for an answer; beyond it, 503 except node agents' watches"},
    {"http-idle-timeout", FLAG_DURATION_MS, "60s", 1000, 3600000, F(http_idle_timeout_ms),
     "an HTTP connection silent this long is closed"},
    {"agent-addr", FLAG_STR, "", 0, 0, F(agent_addr),
     "a second listener (ip:port) for node agents only: register, heartbeat, allocations; every other path gets "
     "404. Its bounds are its own, so a flood of -http-addr cannot starve heartbeats (\"\" = none; drover dev "
     "uses HTTP port + 2). Same TLS and node secret as -http-addr"},
    {"agent-max-conns", FLAG_INT, "8192", 16, 1000000, F(agent_max_conns),
     "connections served at once by -agent-addr (about two per node)"},
    {"agent-max-parked", FLAG_INT, "8192", 1, 1000000, F(agent_max_parked),
     "allocation watches (blocking queries) held by -agent-addr (one per node); beyond it, 503"},
    {"print-config", FLAG_BOOL, "false", 0, 0, F(print_config), "print the effective configuration and exit"},
    {"config", FLAG_STR, "", 0, 0, F(config_file),
     "Nomad's agent configuration file or directory, HCL or JSON; repeatable, later files win, then the flags "
     "(the keys read are listed below)"},
};

/* ---- the config file (Nomad's agent file, server part: common/agent_file.h) ------------ */

static const struct agent_file_key file_keys[] = {
    {"data_dir", AGENT_FILE_SET, "data-dir"},
    {"log_level", AGENT_FILE_LEVEL, "log-level"},
    {"region", AGENT_FILE_SET, "region"},
    {"datacenter", AGENT_FILE_SET, "dc"},
    {"name", AGENT_FILE_SET, "name"},
    {"leave_on_terminate", AGENT_FILE_SET, "leave-on-terminate"},
    {"bind_addr", AGENT_FILE_HOST, "http-addr"},
    {"ports.http", AGENT_FILE_PORT, "http-addr"},
    {"ports.rpc", AGENT_FILE_PORT, "raft-addr"},
    {"server.enabled", AGENT_FILE_TRUE, NULL, "drover-server is always a server"},
    {"server.bootstrap_expect", AGENT_FILE_SET, "bootstrap-expect"},
    {"server.num_schedulers", AGENT_FILE_SET, "num-schedulers"},
    {"server.raft_snapshot_threshold", AGENT_FILE_SET, "raft-snapshot-threshold"},
    {"server.heartbeat_grace", AGENT_FILE_SET, "heartbeat-grace"},
    {"server.min_heartbeat_ttl", AGENT_FILE_SET, "heartbeat-ttl"},
    {"server.eval_gc_threshold", AGENT_FILE_SET, "eval-gc-threshold"},
    {"server.job_gc_threshold", AGENT_FILE_SET, "job-gc-threshold"},
    {"server.node_gc_threshold", AGENT_FILE_SET, "node-gc-threshold"},
    {"server.acl_token_gc_threshold", AGENT_FILE_SET, "acl-token-gc-threshold"},
    {"server.rpc_hold_timeout", AGENT_FILE_SET, "rpc-hold-timeout"},
    {"server.join_token", AGENT_FILE_SET, "join-token"},
    {"server.agent_addr", AGENT_FILE_SET, "agent-addr"},
    {"server.retry_join", AGENT_FILE_LIST, "join"},
    {"server.server_join.retry_join", AGENT_FILE_LIST, "join"},
    {"acl.enabled", AGENT_FILE_SET, "acl-enabled"},
    {"tls.http", AGENT_FILE_SET, "tls-http"},
    {"tls.rpc", AGENT_FILE_SET, "tls-rpc"},
    {"tls.ca_file", AGENT_FILE_SET, "tls-ca-file"},
    {"tls.cert_file", AGENT_FILE_SET, "tls-cert-file"},
    {"tls.key_file", AGENT_FILE_SET, "tls-key-file"},
    {"tls.verify_https_client", AGENT_FILE_SET, "tls-verify-https-client"},
    {"tls.verify_server_hostname", AGENT_FILE_TRUE, NULL,
     "servers always verify that a Raft peer holds server.<region>.nomad"},
};

static const struct agent_file_spec file_spec = {
    .program = "drover-server",
    .keys = file_keys,
    .n_keys = ARRAY_SIZE(file_keys),
    .flags = options,
    .n_flags = ARRAY_SIZE(options),
};

static void print_help(void) {
        printf("Usage: drover-server [options]\n\n"
               "  A drover control-plane server: Raft member, state store, eval broker,\n"
               "  scheduler workers, plan applier and the HTTP API (Nomad's paths).\n\n"
               "Options (also accepted as --name=value):\n");
        flags_print_help(options, ARRAY_SIZE(options), 18);
        agent_file_print_help(&file_spec, stdout);
}

int server_config_parse(struct server_config *cfg, int argc, char **argv, struct error *err) {
        memset(cfg, 0, sizeof(*cfg));
        int r = flags_defaults(cfg, options, ARRAY_SIZE(options), err);
        if (r == 0)
                r = agent_file_parse_args(&file_spec, cfg, argc, argv, &cfg->config_notes, err);
        if (r == 1)
                print_help();
        if (r != 0)
                return r;
        const char *env = getenv("DROVER_NODE_SECRET");
        if (!*cfg->node_secret && env && *env) {
                r = flags_set(cfg, flags_find(options, ARRAY_SIZE(options), "node-secret", 11), env, err);
                if (r < 0)
                        return r;
        }
        const char *jenv = getenv("DROVER_JOIN_TOKEN");
        if (!*cfg->join_token && jenv && *jenv) {
                r = flags_set(cfg, flags_find(options, ARRAY_SIZE(options), "join-token", 10), jenv, err);
                if (r < 0)
                        return r;
        }
        size_t jlen = strlen(cfg->join_token);
        bool jprint = true;
        for (size_t i = 0; i < jlen; i++)
                jprint &= cfg->join_token[i] > ' ' && cfg->join_token[i] < 0x7f;
        if (jlen > 0 && (jlen < 16 || jlen > 128 || !jprint))
                return errorf(err, -EINVAL,
                              "-join-token: 16 to 128 printable ASCII characters without spaces (got %zu characters%s)",
                              jlen, jprint ? "" : ", some not printable");
        if (cfg->acl_enabled && *cfg->join && !jlen)
                return errorf(err, -EINVAL,
                              "-acl-enabled with -join needs -join-token (server { join_token }): with ACLs on, "
                              "servers prove to each other that they belong to the cluster with it");
        size_t region_len = strlen(cfg->region);
        if (region_len == 0 || region_len > 63 || strspn(cfg->region, "abcdefghijklmnopqrstuvwxyz"
                                                                     "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-") != region_len)
                return errorf(err, -EINVAL,
                              "-region \"%.80s\": a region is 1 to 63 letters, digits or '-' (it names the servers' "
                              "TLS role, server.<region>.nomad)",
                              cfg->region);
        size_t dc_len = strlen(cfg->datacenter);
        if (dc_len == 0 || dc_len > 128 ||
            strspn(cfg->datacenter, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.") != dc_len)
                return errorf(err, -EINVAL, "-dc \"%.80s\": a datacenter is 1 to 128 letters, digits, '-', '_' or '.'",
                              cfg->datacenter);
        size_t name_len = strlen(cfg->name);
        bool name_print = true;
        for (size_t i = 0; i < name_len; i++)
                name_print &= cfg->name[i] > ' ' && cfg->name[i] < 0x7f;
        if (name_len > 128 || !name_print)
                return errorf(err, -EINVAL,
                              "-name \"%.80s\": at most 128 printable ASCII characters without spaces (\"\" = the "
                              "host name)",
                              cfg->name);
        if (cfg->tls_http && (!*cfg->tls_cert_file || !*cfg->tls_key_file))
                return errorf(err, -EINVAL, "-tls-http needs -tls-cert-file and -tls-key-file");
        if (cfg->tls_verify_https_client && !*cfg->tls_ca_file)
                return errorf(err, -EINVAL, "-tls-verify-https-client needs -tls-ca-file (the CA clients' certificates are checked against)");
        if (cfg->tls_rpc && (!*cfg->tls_ca_file || !*cfg->tls_cert_file || !*cfg->tls_key_file))
                return errorf(err, -EINVAL,
                              "-tls-rpc needs -tls-ca-file, -tls-cert-file and -tls-key-file (servers verify each other)");
        if (cfg->tls_verify_https_client && !cfg->tls_http)
                return errorf(err, -EINVAL, "-tls-verify-https-client needs -tls-http");
        if (*cfg->agent_addr && (!strchr(cfg->agent_addr, ':') || strcmp(cfg->agent_addr, cfg->http_addr) == 0))
                return errorf(err, -EINVAL, "-agent-addr \"%.80s\": expected ip:port, other than -http-addr's",
                              cfg->agent_addr);
        if (cfg->bootstrap_expect == 1)
                return errorf(err, -EINVAL,
                              "-bootstrap-expect 1: a lone server needs no -bootstrap-expect (use 3 or 5)");
        if (cfg->bootstrap_expect > 1 && !*cfg->join)
                return errorf(err, -EINVAL, "-bootstrap-expect %lld needs -join with the other servers' HTTP addresses",
                              (long long)cfg->bootstrap_expect);
        if (cfg->raft_id == 0) {
                if (!server_config_clustered(cfg)) {
                        cfg->raft_id = 1;
                } else { /* FNV-1a of the Raft address: the same on every restart */
                        uint64_t h = 1469598103934665603ULL;
                        for (const char *p = cfg->raft_addr; *p; p++)
                                h = (h ^ (unsigned char)*p) * 1099511628211ULL;
                        cfg->raft_id = (int64_t)(h % INT32_MAX) + 1;
                }
        }
        if (cfg->num_schedulers == 0) {
                long n = sysconf(_SC_NPROCESSORS_ONLN);
                cfg->num_schedulers = n > 0 ? n : 1;
        }
        return 0;
}

void server_config_print(const struct server_config *cfg) {
        flags_print_values(cfg, options, ARRAY_SIZE(options));
        agent_file_print_notes(cfg->config_notes, stdout); /* the ignored keys of the files */
}

bool server_config_clustered(const struct server_config *cfg) {
        return cfg->bootstrap_expect > 1 || (cfg->join && *cfg->join);
}

void server_config_free(struct server_config *cfg) {
        flags_free(cfg, options, ARRAY_SIZE(options));
        free(cfg->config_notes);
        cfg->config_notes = NULL;
}
