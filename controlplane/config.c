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
#include "common/hcl.h"
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
     "this server's region (letters, digits, '-'; at most 63): with -tls-rpc, Raft peers must hold a certificate for "
     "server.<region>.nomad"},
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
    {"print-config", FLAG_BOOL, "false", 0, 0, F(print_config), "print the effective configuration and exit"},
    {"config", FLAG_STR, "", 0, 0, F(config_file),
     "HCL file: data_dir, log_level, region, server { bootstrap_expect, num_schedulers, raft_snapshot_threshold, "
     "heartbeat_grace, min_heartbeat_ttl, *_gc_threshold, join_token, server_join { retry_join = [...] } }, acl { enabled }, tls { http, rpc, ca_file, cert_file, key_file, "
     "verify_https_client, verify_server_hostname = true }; flags win"},
};

/* ---- the config file (Nomad's agent file, server part) ----------------------------- */

#define CONFIG_MAX_BYTES (1 << 20)

/* Where each setting of the file goes: its block ("" top level), its name, its flag. */
static const struct {
        const char *block, *key, *flag;
} file_keys[] = {
    {"", "data_dir", "data-dir"},
    {"", "log_level", "log-level"},
    {"", "region", "region"},
    {"server", "bootstrap_expect", "bootstrap-expect"},
    {"server", "num_schedulers", "num-schedulers"},
    {"server", "raft_snapshot_threshold", "raft-snapshot-threshold"},
    {"server", "heartbeat_grace", "heartbeat-grace"},
    {"server", "min_heartbeat_ttl", "heartbeat-ttl"},
    {"server", "eval_gc_threshold", "eval-gc-threshold"},
    {"server", "job_gc_threshold", "job-gc-threshold"},
    {"server", "node_gc_threshold", "node-gc-threshold"},
    {"server_join", "retry_join", "join"},
    {"acl", "enabled", "acl-enabled"},
    {"server", "acl_token_gc_threshold", "acl-token-gc-threshold"},
    {"server", "join_token", "join-token"},
    {"tls", "http", "tls-http"},
    {"tls", "rpc", "tls-rpc"},
    {"tls", "ca_file", "tls-ca-file"},
    {"tls", "cert_file", "tls-cert-file"},
    {"tls", "key_file", "tls-key-file"},
    {"tls", "verify_https_client", "tls-verify-https-client"},
};

/* A value as the flag's text: numbers, strings, bools; a list of strings joined by commas. */
static int value_text(const struct hcl_value *v, char *buf, size_t size) {
        switch (v->kind) {
        case HCL_INT:
                snprintf(buf, size, "%lld", (long long)v->i);
                return 0;
        case HCL_BOOL:
                snprintf(buf, size, "%s", v->b ? "true" : "false");
                return 0;
        case HCL_STRING:
                if (v->tmpl || strlen(v->str) >= size)
                        return -EINVAL;
                snprintf(buf, size, "%s", v->str);
                return 0;
        case HCL_LIST: {
                size_t len = 0;
                buf[0] = '\0';
                for (size_t i = 0; i < v->n; i++) {
                        const struct hcl_value *e = v->items[i];
                        if (e->kind != HCL_STRING || e->tmpl || strchr(e->str, ',') || len + strlen(e->str) + 2 > size)
                                return -EINVAL;
                        len += (size_t)snprintf(buf + len, size - len, "%s%s", i ? "," : "", e->str);
                }
                return 0;
        }
        default:
                return -EINVAL;
        }
}

static int apply_body(struct server_config *cfg, const char *path, const struct hcl_body *b, const char *block,
                      struct error *err) {
        for (size_t i = 0; i < b->n; i++) {
                const struct hcl_item *it = &b->items[i];
                if (it->is_block) {
                        bool known = it->n_labels == 0 &&
                                     ((!*block && (strcmp(it->name, "server") == 0 || strcmp(it->name, "acl") == 0 ||
                                                   strcmp(it->name, "tls") == 0)) ||
                                      (strcmp(block, "server") == 0 && strcmp(it->name, "server_join") == 0));
                        if (!known)
                                return errorf(err, -EINVAL,
                                              "%s:%d:%d: unknown block \"%s\"%s%s (drover-server reads "
                                              "data_dir, log_level, region, acl { enabled }, tls { ... } and server { ... server_join { retry_join } })",
                                              path, it->line, it->col, it->name, *block ? " in " : "", block);
                        int r = apply_body(cfg, path, it->body, it->name, err);
                        if (r < 0)
                                return r;
                        continue;
                }
                if (strcmp(block, "server") == 0 && strcmp(it->name, "enabled") == 0) {
                        if (it->value->kind != HCL_BOOL || !it->value->b)
                                return errorf(err, -EINVAL,
                                              "%s:%d:%d: server.enabled: drover-server is always a "
                                              "server (expected true)",
                                              path, it->line, it->col);
                        continue;
                }
                /* Nomad's tls.verify_server_hostname: drover's servers always check that a
                 * Raft peer holds server.<region>.nomad (-tls-rpc); only true is meaningful. */
                if (strcmp(block, "tls") == 0 && strcmp(it->name, "verify_server_hostname") == 0) {
                        if (it->value->kind != HCL_BOOL || !it->value->b)
                                return errorf(err, -EINVAL,
                                              "%s:%d:%d: tls.verify_server_hostname: servers always verify that a "
                                              "peer holds server.<region>.nomad (expected true)",
                                              path, it->line, it->col);
                        continue;
                }
                const char *flag = NULL;
                for (size_t k = 0; k < ARRAY_SIZE(file_keys) && !flag; k++)
                        if (strcmp(file_keys[k].block, block) == 0 && strcmp(file_keys[k].key, it->name) == 0)
                                flag = file_keys[k].flag;
                if (!flag)
                        return errorf(err, -EINVAL, "%s:%d:%d: unknown setting \"%s\"%s%s", path, it->line, it->col,
                                      it->name, *block ? " in " : "", block);
                char text[4096];
                bool list = strcmp(flag, "join") == 0;
                if ((it->value->kind == HCL_LIST) != list || value_text(it->value, text, sizeof(text)) < 0)
                        return errorf(err, -EINVAL, "%s:%d:%d: %s: expected %s", path, it->line, it->col, it->name,
                                      list ? "a list of \"ip:port\" strings" : "a number, a bool or a plain string");
                const struct flag *f = flags_find(options, ARRAY_SIZE(options), flag, strlen(flag));
                int r = f ? flags_set(cfg, f, text, err) : -EINVAL;
                if (r < 0) {
                        error_prefix(err, "%s:%d:%d: %s", path, it->line, it->col, it->name);
                        return r;
                }
        }
        return 0;
}

static int load_file(struct server_config *cfg, const char *path, struct error *err) {
        FILE *f = fopen(path, "re");
        if (!f)
                return errorf(err, -errno, "-config %s: %s", path, strerror(errno));
        char *buf = malloc(CONFIG_MAX_BYTES + 1);
        size_t len = buf ? fread(buf, 1, CONFIG_MAX_BYTES + 1, f) : 0;
        fclose(f);
        if (!buf)
                return errorf(err, -ENOMEM, "out of memory");
        if (len > CONFIG_MAX_BYTES) {
                free(buf);
                return errorf(err, -EFBIG, "-config %s: larger than %d bytes", path, CONFIG_MAX_BYTES);
        }
        struct hcl_body *body = NULL;
        int r = hcl_parse(buf, len, path, &body, err);
        free(buf);
        if (r == 0)
                r = apply_body(cfg, path, body, "", err);
        hcl_body_free(body);
        return r;
}

/* The value of -config in argv (any of -config X, -config=X, --config X, --config=X). */
static const char *config_arg(int argc, char **argv) {
        const char *path = NULL;
        for (int i = 1; i < argc; i++) {
                const char *a = argv[i];
                if (a[0] != '-')
                        continue;
                a += a[1] == '-' ? 2 : 1;
                if (strcmp(a, "config") == 0 && i + 1 < argc)
                        path = argv[++i];
                else if (strncmp(a, "config=", 7) == 0)
                        path = a + 7;
        }
        return path;
}

static void print_help(void) {
        printf("Usage: drover-server [options]\n\n"
               "  A drover control-plane server: Raft member, state store, eval broker,\n"
               "  scheduler workers, plan applier and the HTTP API (Nomad's paths).\n\n"
               "Options (also accepted as --name=value):\n");
        flags_print_help(options, ARRAY_SIZE(options), 18);
}

int server_config_parse(struct server_config *cfg, int argc, char **argv, struct error *err) {
        memset(cfg, 0, sizeof(*cfg));
        int r = flags_defaults(cfg, options, ARRAY_SIZE(options), err);
        const char *file = config_arg(argc, argv);
        if (r == 0 && file)
                r = load_file(cfg, file, err);
        if (r == 0)
                r = flags_parse(cfg, options, ARRAY_SIZE(options), argc, argv, err);
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
        if (cfg->tls_http && (!*cfg->tls_cert_file || !*cfg->tls_key_file))
                return errorf(err, -EINVAL, "-tls-http needs -tls-cert-file and -tls-key-file");
        if (cfg->tls_verify_https_client && !*cfg->tls_ca_file)
                return errorf(err, -EINVAL, "-tls-verify-https-client needs -tls-ca-file (the CA clients' certificates are checked against)");
        if (cfg->tls_rpc && (!*cfg->tls_ca_file || !*cfg->tls_cert_file || !*cfg->tls_key_file))
                return errorf(err, -EINVAL,
                              "-tls-rpc needs -tls-ca-file, -tls-cert-file and -tls-key-file (servers verify each other)");
        if (cfg->tls_verify_https_client && !cfg->tls_http)
                return errorf(err, -EINVAL, "-tls-verify-https-client needs -tls-http");
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
}

bool server_config_clustered(const struct server_config *cfg) {
        return cfg->bootstrap_expect > 1 || (cfg->join && *cfg->join);
}

void server_config_free(struct server_config *cfg) {
        flags_free(cfg, options, ARRAY_SIZE(options));
}
