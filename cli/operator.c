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
#include "common/macros.h"

static const char list_peers_help[] =
    "Usage: drover operator raft list-peers [-address=<addr>]\n\n"
    "  The servers of the Raft configuration, as the server at -address sees it:\n"
    "  name (HTTP address), ID, Raft address, state (leader/follower) and whether it votes.\n";

static int list_peers(struct cli *c, int argc, char **argv) {
        (void)argc, (void)argv;
        struct error err = {0};
        _cleanup_json_ json_t *conf = NULL;
        if (cli_get(c, "/v1/operator/raft/configuration", &conf, NULL, &err) < 0) {
                fprintf(stderr, "Error getting peers: %s\n", err.msg);
                return 1;
        }
        static const char *const hdr[] = {"Node", "ID", "Address", "State", "Voter", "RaftProtocol"};
        struct table *t = table_new(6, hdr);
        size_t i;
        json_t *s;
        json_array_foreach(json_object_get(conf, "Servers"), i, s) {
                const char *cells[] = {jx_str(s, "Node", ""),
                                       jx_str(s, "ID", ""),
                                       jx_str(s, "Address", ""),
                                       jx_bool(s, "Leader", false) ? "leader" : "follower",
                                       jx_bool(s, "Voter", false) ? "true" : "false",
                                       jx_str(s, "RaftProtocol", "")};
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
                if (strncmp(argv[i], "-peer-id=", 9) == 0)
                        id = argv[i] + 9;
                else if (strncmp(argv[i], "-peer-address=", 14) == 0)
                        addr = argv[i] + 14;
                else if (strcmp(argv[i], "-peer-id") == 0 && i + 1 < argc)
                        id = argv[++i];
                else if (strcmp(argv[i], "-peer-address") == 0 && i + 1 < argc)
                        addr = argv[++i];
                else {
                        fprintf(stderr, "drover operator raft remove-peer: unknown argument \"%s\"\n\n%s", argv[i],
                                remove_peer_help);
                        return 1;
                }
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
    "  \"drover operator snapshot save\" (through Raft: every server takes it).\n";

#define SNAPSHOT_MAX_BYTES (16L * 1024 * 1024) /* the servers' request body limit */

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
        if (cli_send(c, "PUT", "/v1/operator/snapshot", snap, &out, &err) < 0) {
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
    "Usage: drover server members [-address=<addr>]\n\n"
    "  Every server of the Raft configuration, asked directly on its HTTP address:\n"
    "  its status (alive when it answers), Raft state, last contact with the leader\n"
    "  and its last applied index.\n";

static int members(struct cli *c, int argc, char **argv) {
        (void)argc, (void)argv;
        struct error err = {0};
        _cleanup_json_ json_t *conf = NULL;
        if (cli_get(c, "/v1/operator/raft/configuration", &conf, NULL, &err) < 0) {
                fprintf(stderr, "Error querying servers: %s\n", err.msg);
                return 1;
        }
        static const char *const hdr[] = {"Name", "Address", "Raft Address", "Status", "Leader", "Raft State",
                                          "Last Contact", "Last Index", "Voter"};
        struct table *t = table_new(9, hdr);
        size_t i;
        json_t *s;
        json_array_foreach(json_object_get(conf, "Servers"), i, s) {
                const char *http = jx_str(s, "HTTPAddr", "");
                json_t *self = NULL;
                struct error e2 = {0};
                char base[96];
                snprintf(base, sizeof(base), "http://%s", http);
                if (*http)
                        http_json(base, "GET", "/v1/internal/raft/self", NULL, 2000, &self, NULL, &e2);
                char contact[32] = "-", idx[32] = "-";
                if (self) {
                        if (jx_bool(self, "IsLeader", false))
                                snprintf(contact, sizeof(contact), "0s (leader)");
                        else
                                snprintf(contact, sizeof(contact), "%lldms", (long long)jx_int(self, "LastContact", 0));
                        snprintf(idx, sizeof(idx), "%lld", (long long)jx_int(self, "LastIndex", 0));
                }
                const char *cells[] = {jx_str(s, "Node", ""),
                                       *http ? http : "-",
                                       jx_str(s, "Address", ""),
                                       self ? "alive" : "failed",
                                       jx_bool(s, "Leader", false) ? "true" : "false",
                                       self ? jx_str(self, "State", "") : "-",
                                       contact,
                                       idx,
                                       jx_bool(s, "Voter", false) ? "true" : "false"};
                table_add(t, cells);
                json_decref(self);
        }
        table_print(t);
        return 0;
}

const struct cli_command cli_server_commands[] = {
    {"members", "Display the servers, their Raft state and last contact", members_help, members},
    {NULL, NULL, NULL, NULL},
};
