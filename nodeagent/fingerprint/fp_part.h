/* fp_part.h - what one fingerprinter contributed to a node, so that a pass where
 * it fails can put back what it reported on its last successful pass.
 *
 * A pass runs the fingerprinters one after the other on one node. Around each:
 * fp_before_take() notes the node as it was; after a success, fp_part_record()
 * keeps the difference (attributes set or changed, the resources it set, its
 * devices, networks and drivers) as that fingerprinter's part; after a failure,
 * fp_part_restore() undoes what it left half-done and applies its last part.
 * Cost: O(attributes) per fingerprinter and pass, plus the strmap_set lookups
 * of what is restored.
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/model.h"

struct fp_part {
        bool valid;            /* recorded from a successful pass */
        struct strmap attrs;   /* the attributes it set */
        unsigned fields;       /* FP_FIELD_* it set */
        int64_t cpu_shares, memory_mb, disk_mb;
        int total_cores;
        json_t *devices, *networks;     /* owned copies, with FP_FIELD_DEVICES / _NETWORKS */
        struct node_driver *drivers;    /* the drivers it added or changed, deep copies */
        size_t n_drivers;
};

enum {
        FP_FIELD_CPU_SHARES = 1u << 0,
        FP_FIELD_TOTAL_CORES = 1u << 1,
        FP_FIELD_MEMORY = 1u << 2,
        FP_FIELD_DISK = 1u << 3,
        FP_FIELD_DEVICES = 1u << 4,
        FP_FIELD_NETWORKS = 1u << 5,
};

/* The node before a fingerprinter runs. */
struct fp_before {
        size_t n_attrs;
        char **values; /* copies of the values of the first n_attrs attributes */
        int64_t cpu_shares, memory_mb, disk_mb;
        int total_cores;
        json_t *devices, *networks; /* references: what the node held */
        struct node_driver *drivers;
        size_t n_drivers;
};

/* -ENOMEM or 0; on failure b is empty (fp_before_clear is still safe). */
int fp_before_take(const struct node *n, struct fp_before *b);
void fp_before_clear(struct fp_before *b);

/* Replace part with what the fingerprinter changed on n since b. -ENOMEM (part
 * then invalid) or 0. */
int fp_part_record(const struct fp_before *b, const struct node *n, struct fp_part *part);
/* Put n back as it was in b, then apply part when it is valid. -ENOMEM or 0. */
int fp_part_restore(const struct fp_before *b, const struct fp_part *part, struct node *n);
void fp_part_clear(struct fp_part *part);
