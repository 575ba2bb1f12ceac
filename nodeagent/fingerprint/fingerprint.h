/* fingerprint.h - what this host is: attributes, resources, devices and drivers.
 *
 * Fingerprinters are `const struct fingerprint_ops` in a static array
 * (fingerprint.c), one source file each (fp_sources.h); each fills its part of
 * a struct node. Attribute names are Nomad's (cpu.numcores, memory.totalbytes,
 * kernel.name, ...); what Nomad has no name for is added under the same
 * prefixes (cpu.flags, numa.node0.cpus, ...), documented in docs/agent.md.
 *
 * Every file is read relative to ctx->root ("" for the live host), so unit
 * tests run the real fingerprinters against fixture trees (tests/fixtures/).
 * The two sources that are not files are injected: the CPUID instruction and
 * the netlink dump.
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/ids.h"

#define DROVER_AGENT_VERSION "0.1.0"

struct error;
struct node;
struct net_snapshot;

struct cpuid_regs {
        uint32_t eax, ebx, ecx, edx;
};

struct fingerprint_ctx {
        const char *data_dir; /* statvfs target; need not exist yet */
        const char *root;     /* "" (or NULL) for the live host; tests point at a fixture tree */
        /* pci.ids database; NULL: the first of /usr/share/misc/pci.ids,
         * /usr/share/hwdata/pci.ids under root. */
        const char *pci_ids;
        /* CPUID: fills ret and returns true when the leaf exists. NULL: the
         * instruction itself (x86), or no CPUID elsewhere. */
        bool (*cpuid)(uint32_t leaf, uint32_t subleaf, struct cpuid_regs *ret, void *data);
        void *cpuid_data;
        /* Interfaces, addresses and routes. NULL: a netlink dump (libmnl). */
        int (*net_dump)(struct net_snapshot *ret, struct error *err, void *data);
        void *net_data;
};

struct fingerprint_ops {
        const char *name;
        int (*run)(const struct fingerprint_ctx *ctx, struct node *n, struct error *err);
};

/* Run every fingerprinter on n (attributes, cpu_shares, total_cores, memory_mb,
 * disk_mb, devices, networks, drivers). A fingerprinter that fails is skipped;
 * the first failure is returned in err while the rest still run. */
int fingerprint_node_ctx(const struct fingerprint_ctx *ctx, struct node *n, struct error *err);

/* What each fingerprinter reported on its last successful pass. */
struct fingerprint_memo;
struct fingerprint_memo *fingerprint_memo_new(void); /* NULL: out of memory */
struct fingerprint_memo *fingerprint_memo_free(struct fingerprint_memo *m);
/* Whether the fingerprinter of that name has a successful pass in m. */
bool fingerprint_memo_has(const struct fingerprint_memo *m, const char *name);
/* fingerprint_node_ctx for periodic passes: a fingerprinter that fails keeps what
 * it reported on its last successful pass (recorded in memo) instead of what it
 * left half-done, so that a node is never published with a source missing
 * because one read failed once; one that never succeeded keeps what it set, as
 * fingerprint_node_ctx does. A success replaces its part in memo. err says the
 * first failure and names the others. memo NULL: fingerprint_node_ctx. */
int fingerprint_node_memo(const struct fingerprint_ctx *ctx, struct fingerprint_memo *memo, struct node *n,
                          struct error *err);
/* The live host. */
int fingerprint_node(const char *data_dir, struct node *n, struct error *err);

/* True when what the servers schedule on differs between a and b:
 * attributes, resources, devices, networks or drivers. */
bool fingerprint_changed(const struct node *a, const struct node *b);

/* The node ID and secret, generated on first use and kept in
 * <data_dir>/node-id and <data_dir>/node-secret (mode 0600); creates data_dir. */
int node_identity_load(const char *data_dir, char ret_id[ID_BUF], char ret_secret[ID_BUF], struct error *err);

/* The attributes as one flat JSON object, as -fingerprint prints them. */
json_t *fingerprint_attributes_json(const struct node *n);
