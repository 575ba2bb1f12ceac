/* operator.c - `drover server members`, `drover operator raft list-peers` and
 * `drover operator raft remove-peer`: the Raft membership, through the API;
 * `drover operator snapshot save|restore`: the whole state. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "common/error.h"
#include "common/http_client.h"
#include "common/jsonx.h"
#include "common/limits.h"
#include "common/macros.h"

#define MEMBERS_PROBE_MS 2000

/* Ask the server at http_addr about itself (/v1/internal/raft/self), over the scheme
 * of -address: whether it answered at all, and its answer (2xx JSON, else NULL). */
static bool probe(const struct cli *c, const char *http_addr, json_t **ret_self) {
        *ret_self = NULL;
        char base[160];
        bool tls = c->address && strncmp(c->address, "https://", 8) == 0;
        snprintf(base, sizeof(base), "%s://%s", tls ? "https" : "http", http_addr);
        struct http_response r = {0};
        struct error err = {0};
        bool answered = http_request(base, "GET", "/v1/internal/raft/self", NULL, MEMBERS_PROBE_MS, &r, &err) == 0;
        if (answered && r.status / 100 == 2)
                *ret_self = json_loads(r.body, 0, NULL);
        http_response_clear(&r);
        return answered;
}

/* What the server at http_addr says of itself, as `server members -detailed` and
 * `list-peers` print it: Last Contact with the leader ("0s (leader)" on the leader)
 * and Last Index into contact and idx ("-" when it gave no answer). Returns whether
 * it answered at all; *ret_self: its answer, or NULL. */
static bool raft_self_cells(const struct cli *c, const char *http_addr, json_t **ret_self, char contact[32],
                            char idx[32]) {
        snprintf(contact, 32, "-");
        snprintf(idx, 32, "-");
        *ret_self = NULL;
        if (!*http_addr)
                return true;
        bool answered = probe(c, http_addr, ret_self);
        const json_t *self = *ret_self;
        if (self) {
                if (jx_bool(self, "IsLeader", false))
                        snprintf(contact, 32, "0s (leader)");
                else
                        snprintf(contact, 32, "%lldms", (long long)jx_int(self, "LastContact", 0));
                snprintf(idx, 32, "%lld", (long long)jx_int(self, "LastIndex", 0));
        }
        return answered;
}

static const char list_peers_help[] =
    "Usage: drover operator raft list-peers [-address=<addr>]\n\n"
    "  The servers of the Raft configuration, as the server at -address sees it:\n"
    "  name (HTTP address), ID, Raft address, state (leader/follower), whether it votes,\n"
    "  then what each server says of itself (asked directly, 2 s at most; \"-\" when it\n"
    "  does not answer): Last Contact with the leader and Last Index.\n";

static int list_peers(struct cli *c, int argc, char **argv) {
        (void)argc, (void)argv;
        struct error err = {0};
        _cleanup_json_ json_t *conf = NULL;
        if (cli_get(c, "/v1/operator/raft/configuration", &conf, NULL, &err) < 0) {
                fprintf(stderr, "Error getting peers: %s\n", err.msg);
                return 1;
        }
        static const char *const hdr[] = {"Node",  "ID",           "Address",      "State",
                                          "Voter", "RaftProtocol", "Last Contact", "Last Index"};
        struct table *t = table_new(8, hdr);
        size_t i;
        json_t *s;
        json_array_foreach(json_object_get(conf, "Servers"), i, s) {
                _cleanup_json_ json_t *self = NULL;
                char contact[32], idx[32];
                raft_self_cells(c, jx_str(s, "HTTPAddr", ""), &self, contact, idx);
                const char *cells[] = {jx_str(s, "Node", ""),
                                       jx_str(s, "ID", ""),
                                       jx_str(s, "Address", ""),
                                       jx_bool(s, "Leader", false) ? "leader" : "follower",
                                       jx_bool(s, "Voter", false) ? "true" : "false",
                                       jx_str(s, "RaftProtocol", ""),
                                       contact,
                                       idx};
                table_add(t, cells);
        }
        table_print(t);
        return 0;
}

static const char remove_peer_help[] =
    "Usage: drover operator raft remove-peer [-address=<addr>] (-peer-id=<id> | -peer-address=<ip:port>)\n\n"
    "  Remove a server from the Raft configuration (it stops voting and receiving the\n"
    "  log). The request goes to the leader.\n";

static int remove_peer(struct cli *c, int argc, char **argv) {
        const char *id = NULL, *addr = NULL;
        for (int i = 0; i < argc; i++) {
                if (cli_opt("peer-id", argc, argv, &i, &id) || cli_opt("peer-address", argc, argv, &i, &addr))
                        continue;
                fprintf(stderr, "drover operator raft remove-peer: unknown argument \"%s\"\n\n%s", argv[i],
                        remove_peer_help);
                return 1;
        }
        if (!id == !addr) {
                fprintf(stderr, "drover operator raft remove-peer: give exactly one of -peer-id or -peer-address\n");
                return 1;
        }
        _cleanup_free_ char *esc = http_escape(id ? id : addr);
        _cleanup_free_ char *path = NULL;
        if (!esc || asprintf(&path, "/v1/operator/raft/peer?%s=%s", id ? "id" : "address", esc) < 0)
                return 1;
        struct error err = {0};
        _cleanup_json_ json_t *out = NULL;
        if (cli_send(c, "DELETE", path, NULL, &out, &err) < 0) {
                fprintf(stderr, "Error removing peer: %s\n", err.msg);
                return 1;
        }
        printf("Removed peer with %s %s\n", id ? "id" : "address", id ? id : addr);
        return 0;
}

const struct cli_command cli_operator_raft_commands[] = {
    {"list-peers", "Display the current Raft peer configuration", list_peers_help, list_peers},
    {"remove-peer", "Remove a server from the Raft configuration", remove_peer_help, remove_peer},
    {NULL, NULL, NULL, NULL},
};

static const char snapshot_save_help[] =
    "Usage: drover operator snapshot save [-address=<addr>] [-stale] <file>\n\n"
    "  Write the whole state of the cluster (jobs, nodes, allocations, evaluations)\n"
    "  to <file>, as the leader has it (-stale: as the server at -address has it).\n";

static int snapshot_save(struct cli *c, int argc, char **argv) {
        const char *file = NULL;
        bool stale = false;
        for (int i = 0; i < argc; i++) {
                if (strcmp(argv[i], "-stale") == 0)
                        stale = true;
                else if (!file && argv[i][0] != '-')
                        file = argv[i];
                else {
                        fprintf(stderr, "drover operator snapshot save: unexpected argument \"%s\"\n\n%s", argv[i],
                                snapshot_save_help);
                        return 1;
                }
        }
        if (!file) {
                fprintf(stderr, "%s", snapshot_save_help);
                return 1;
        }
        struct error err = {0};
        _cleanup_json_ json_t *snap = NULL;
        uint64_t index = 0;
        if (cli_get(c, stale ? "/v1/operator/snapshot?stale" : "/v1/operator/snapshot", &snap, &index, &err) < 0) {
                fprintf(stderr, "Error saving snapshot: %s\n", err.msg);
                return 1;
        }
        if (json_dump_file(snap, file, JSON_COMPACT) < 0) {
                fprintf(stderr, "Error saving snapshot: cannot write %s\n", file);
                return 1;
        }
        printf("State file written to %s (index %llu)\n", file, (unsigned long long)index);
        return 0;
}

static const char snapshot_restore_help[] =
    "Usage: drover operator snapshot restore [-address=<addr>] <file>\n\n"
    "  Replace the whole state of the cluster with a snapshot written by\n"
    "  \"drover operator snapshot save\" (through Raft: every server takes it).\n"
    "  At most 512 MiB; it may take minutes (waits up to 10 for the answer).\n";

/* The servers decode, check and apply the whole state: a large one takes a while. */
#define SNAPSHOT_RESTORE_TIMEOUT_MS (10L * 60 * 1000)
#define SNAPSHOT_MAX_BYTES ((long)LIMIT_SNAPSHOT_BODY) /* the servers' limit on a restore's body */

static int snapshot_restore(struct cli *c, int argc, char **argv) {
        if (argc != 1 || argv[0][0] == '-') {
                fprintf(stderr, "%s", snapshot_restore_help);
                return 1;
        }
        FILE *f = fopen(argv[0], "re");
        if (!f) {
                fprintf(stderr, "Error restoring snapshot: cannot open %s: %m\n", argv[0]);
                return 1;
        }
        fseek(f, 0, SEEK_END);
        long size = ftell(f);
        fclose(f);
        if (size < 0 || size > SNAPSHOT_MAX_BYTES) {
                fprintf(stderr, "Error restoring snapshot: %s is larger than %ld bytes\n", argv[0], SNAPSHOT_MAX_BYTES);
                return 1;
        }
        json_error_t je;
        _cleanup_json_ json_t *snap = json_load_file(argv[0], 0, &je);
        if (!snap) {
                fprintf(stderr, "Error restoring snapshot: %s:%d: %s\n", argv[0], je.line, je.text);
                return 1;
        }
        struct error err = {0};
        _cleanup_json_ json_t *out = NULL;
        if (cli_send_timeout(c, "PUT", "/v1/operator/snapshot", snap, SNAPSHOT_RESTORE_TIMEOUT_MS, &out, &err) < 0) {
                fprintf(stderr, "Error restoring snapshot: %s\n", err.msg);
                return 1;
        }
        printf("Snapshot restored (index %lld)\n", (long long)jx_int(out, "Index", 0));
        return 0;
}

const struct cli_command cli_operator_snapshot_commands[] = {
    {"save", "Save the cluster's state to a file", snapshot_save_help, snapshot_save},
    {"restore", "Replace the cluster's state with a saved one", snapshot_restore_help, snapshot_restore},
    {NULL, NULL, NULL, NULL},
};

static const char members_help[] =
    "Usage: drover server members [-address=<addr>] [-detailed] [-json | -t=<template>]\n\n"
    "  The servers of the cluster, as the server at -address lists them\n"
    "  (/v1/agent/members) and as `nomad server members` shows them: Name\n"
    "  (<name>.<region>), Address and Port (its Raft address), Status, Leader, Raft\n"
    "  Version, Build, Datacenter and Region, by name. Each server whose HTTP address\n"
    "  the Raft configuration names is asked directly (2 s at most): one that does not\n"
    "  answer is \"failed\".\n\n"
    "Options:\n"
    "  -detailed      Name, Address, Port, Status and Tags, then what each server says\n"
    "                 of itself: Raft State, Last Contact (with the leader), Last Index\n"
    "  -json          the API's answer, as it came\n"
    "  -t=<template>  the API's answer through a template\n";

/* The Raft configuration's entry for member m, by its Raft address "Addr:Port";
 * NULL when absent. A configuration holds a handful of servers. */
static const json_t *peer_of(const json_t *conf, const json_t *m) {
        char addr[128];
        snprintf(addr, sizeof(addr), "%s:%lld", jx_str(m, "Addr", ""), (long long)jx_int(m, "Port", 0));
        size_t i;
        json_t *s;
        json_array_foreach(json_object_get(conf, "Servers"), i, s) {
                if (strcmp(jx_str(s, "Address", ""), addr) == 0)
                        return s;
        }
        return NULL;
}

static int cmp_strp(const void *a, const void *b) {
        return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Tags as Nomad's -detailed prints them: "k=v,k=v" in key order. */
static char *tags_text(const json_t *tags) {
        size_t n = json_object_size(tags), k = 0;
        _cleanup_free_ const char **keys = calloc(n ? n : 1, sizeof(*keys));
        if (!keys)
                return NULL;
        const char *key;
        json_t *v;
        json_object_foreach((json_t *)tags, key, v) keys[k++] = key;
        qsort(keys, n, sizeof(*keys), cmp_strp);
        char *out = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&out, &len);
        if (!f)
                return NULL;
        for (k = 0; k < n; k++)
                fprintf(f, "%s%s=%s", k ? "," : "", keys[k], jx_str(tags, keys[k], ""));
        fclose(f);
        return out;
}

static int cmp_member_name(const void *a, const void *b) {
        return strcmp(jx_str(*(json_t *const *)a, "Name", ""), jx_str(*(json_t *const *)b, "Name", ""));
}

static int members(struct cli *c, int argc, char **argv) {
        bool detailed = false;
        const struct cli_flag flags[] = {{"-detailed", NULL, &detailed, true}, {0}};
        int n_ops;
        if (cli_args(argc, argv, flags, 0, 0, "", members_help, NULL, &n_ops))
                return 1;
        struct error err = {0};
        _cleanup_json_ json_t *out = NULL;
        if (cli_get(c, "/v1/agent/members", &out, NULL, &err) < 0) {
                fprintf(stderr, "Error querying servers: %s\n", err.msg);
                return 1;
        }
        int r = cli_output(c, out);
        if (r >= 0)
                return r;
        /* Optional: without it (a token without operator:read) no server is asked
         * directly, and the members' own Status stands. */
        _cleanup_json_ json_t *conf = NULL;
        struct error conf_err = {0};
        if (cli_get(c, "/v1/operator/raft/configuration", &conf, NULL, &conf_err) < 0)
                conf = NULL;
        json_t *list = json_object_get(out, "Members");
        size_t n = json_array_size(list);
        _cleanup_free_ json_t **sorted = calloc(n ? n : 1, sizeof(*sorted));
        if (!sorted)
                return 1;
        for (size_t i = 0; i < n; i++)
                sorted[i] = json_array_get(list, i);
        qsort(sorted, n, sizeof(*sorted), cmp_member_name);
        static const char *const hdr[] = {"Name",         "Address", "Port",       "Status", "Leader",
                                          "Raft Version", "Build",   "Datacenter", "Region"};
        static const char *const hdr_detailed[] = {"Name", "Address",    "Port",         "Status",
                                                   "Tags", "Raft State", "Last Contact", "Last Index"};
        struct table *t = detailed ? table_new(8, hdr_detailed) : table_new(9, hdr);
        for (size_t i = 0; i < n; i++) {
                const json_t *m = sorted[i], *tags = json_object_get(m, "Tags");
                const json_t *peer = peer_of(conf, m);
                const char *http = jx_str(peer, "HTTPAddr", "");
                _cleanup_json_ json_t *self = NULL;
                char port[24], contact[32], idx[32];
                const char *status =
                    raft_self_cells(c, http, &self, contact, idx) ? jx_str(m, "Status", "") : "failed";
                snprintf(port, sizeof(port), "%lld", (long long)jx_int(m, "Port", 0));
                if (detailed) {
                        _cleanup_free_ char *tag_text = tags_text(tags);
                        const char *cells[] = {jx_str(m, "Name", ""),
                                               jx_str(m, "Addr", ""),
                                               port,
                                               status,
                                               tag_text ? tag_text : "",
                                               self ? jx_str(self, "State", "") : "-",
                                               contact,
                                               idx};
                        table_add(t, cells);
                        continue;
                }
                /* Nomad prints the raft_vsn tag; drover's Raft configuration says it */
                const char *cells[] = {jx_str(m, "Name", ""),
                                       jx_str(m, "Addr", ""),
                                       port,
                                       status,
                                       strcmp(jx_str(tags, "leader", ""), "true") == 0 ? "true" : "false",
                                       jx_str(tags, "raft_vsn", jx_str(peer, "RaftProtocol", "-")),
                                       jx_str(tags, "build", ""),
                                       jx_str(tags, "dc", ""),
                                       jx_str(tags, "region", "")};
                table_add(t, cells);
        }
        table_print(t);
        return 0;
}

static const char force_leave_help[] =
    "Usage: drover server force-leave [-address=<addr>] <name>\n\n"
    "  Remove the server named <name> (as `drover server members` shows it,\n"
    "  <name>.<region>, or <name> alone) from the Raft configuration, as Nomad's\n"
    "  force-leave removes a failed server: the leader removes its Raft address\n"
    "  (the same as `drover operator raft remove-peer -peer-address`). A server\n"
    "  that is stopping leaves by itself with -leave-on-terminate.\n";

/* Whether member m is the server named name: its Name, or Name less ".<region>". */
static bool member_named(const json_t *m, const char *name) {
        const char *full = jx_str(m, "Name", "");
        size_t n = strlen(name);
        return strcmp(full, name) == 0 || (strncmp(full, name, n) == 0 && full[n] == '.' && !strchr(full + n + 1, '.'));
}

static int force_leave(struct cli *c, int argc, char **argv) {
        const struct cli_flag flags[] = {{0}};
        const char *ops[1] = {0};
        int n_ops;
        if (cli_args(argc, argv, flags, 1, 1, "<name>", force_leave_help, ops, &n_ops))
                return 1;
        const char *name = ops[0];
        struct error err = {0};
        _cleanup_json_ json_t *out = NULL;
        if (cli_get(c, "/v1/agent/members", &out, NULL, &err) < 0) {
                fprintf(stderr, "Error querying servers: %s\n", err.msg);
                return 1;
        }
        const json_t *found = NULL;
        size_t i;
        json_t *m;
        json_array_foreach(json_object_get(out, "Members"), i, m) {
                if (member_named(m, name)) {
                        if (found) {
                                fprintf(stderr, "Error: more than one server is named \"%s\": give <name>.<region>\n",
                                        name);
                                return 1;
                        }
                        found = m;
                }
        }
        if (!found) {
                fprintf(stderr, "Error: no server named \"%s\" (see drover server members)\n", name);
                return 1;
        }
        char addr[128];
        snprintf(addr, sizeof(addr), "%s:%lld", jx_str(found, "Addr", ""), (long long)jx_int(found, "Port", 0));
        _cleanup_free_ char *esc = http_escape(addr);
        _cleanup_free_ char *path = NULL;
        if (!esc || asprintf(&path, "/v1/operator/raft/peer?address=%s", esc) < 0)
                return 1;
        _cleanup_json_ json_t *ans = NULL;
        if (cli_send(c, "DELETE", path, NULL, &ans, &err) < 0) {
                fprintf(stderr, "Error forcing %s (%s) to leave: %s\n", jx_str(found, "Name", ""), addr, err.msg);
                return 1;
        }
        printf("Removed server %s (%s) from the Raft configuration\n", jx_str(found, "Name", ""), addr);
        return 0;
}

const struct cli_command cli_server_commands[] = {
    {"members", "Display the servers: address, status, leader, build, datacenter, region", members_help, members},
    {"force-leave", "Remove a server from the Raft configuration, by name", force_leave_help, force_leave},
    {NULL, NULL, NULL, NULL},
};
