/* fingerprint.h - what this host is: attributes, resources and drivers.
 *
 * Fingerprinters are `const struct fingerprint_ops` in a static array
 * (fingerprint.c); each fills its part of a struct node. Attribute names are
 * Nomad's (cpu.numcores, memory.totalbytes, kernel.name, ...).
 */
#pragma once

#include <jansson.h>

#include "common/ids.h"

#define DROVER_AGENT_VERSION "0.1.0"

struct error;
struct node;

struct fingerprint_ctx {
        const char *data_dir;  /* statvfs target; need not exist yet */
        const char *proc_root; /* "" in production; tests may point elsewhere */
};

struct fingerprint_ops {
        const char *name;
        int (*run)(const struct fingerprint_ctx *ctx, struct node *n, struct error *err);
};

/* Run every fingerprinter on n (attributes, cpu_shares, total_cores, memory_mb,
 * disk_mb, drivers). A fingerprinter that fails is skipped; the first failure
 * is returned in err while the rest still run. Returns 0 or the first error. */
int fingerprint_node(const char *data_dir, struct node *n, struct error *err);

/* The node ID and secret, generated on first use and kept in
 * <data_dir>/node-id and <data_dir>/node-secret (mode 0600); creates data_dir. */
int node_identity_load(const char *data_dir, char ret_id[ID_BUF], char ret_secret[ID_BUF], struct error *err);

/* The attributes as one flat JSON object, as -fingerprint prints them. */
json_t *fingerprint_attributes_json(const struct node *n);
