/* metrics.h - Nomad's AllocationMetric for one placement: nodes evaluated, filtered
 * (per class and per constraint), exhausted (per class and per dimension) and the
 * scores of the best options, rendered as the API's JSON. Pure. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/model.h"

#define SCHED_SCORE_META_TOP 5 /* options kept in ScoreMetaData, best first */

/* Counts per key (a node class, a constraint, a dimension): a few distinct keys, bumped
 * once per filtered or exhausted node, so a short array (JSON only at the end). Keys
 * are compared by content: a reason may be built in a buffer that the next one reuses.
 * A key whose count went back to zero (sched_metric_restart) is kept for the next
 * placement and left out of the JSON. */
struct sched_counts {
        struct sched_count {
                char *key; /* owned copy */
                int n;
        } * v;
        size_t n, cap;
};

struct sched_metric {
        int evaluated, filtered, exhausted;
        struct sched_counts class_filtered, constraint_filtered, class_exhausted, dimension_exhausted;
        json_t *score_meta; /* [{NodeID, Scores, NormScore}] best first; NULL: none */
        int64_t start_ns;
        bool no_meta; /* Select skips score_meta (its JSON would not be used) */
};

/* What every metric of one attempt shares (borrowed). */
struct sched_metric_pool {
        int nodes_in_pool;
        const char *node_pool;
        json_t *nodes_available; /* {datacenter: ready nodes} */
};

void sched_metric_free(struct sched_metric *m); /* resets *m */
/* Start *m over for another placement (as {.start_ns, .no_meta}), keeping its buffers
 * and keys: one group's placements then allocate nothing for their counts. */
void sched_metric_restart(struct sched_metric *m, int64_t start_ns, bool no_meta);
void sched_metric_filter(struct sched_metric *m, const struct node *n, const char *reason);
void sched_metric_exhaust(struct sched_metric *m, const struct node *n, const char *dimension);
/* The same given the node's class (NULL or "": none) instead of the node. */
void sched_metric_exhaust_class(struct sched_metric *m, const char *node_class, const char *dimension);
/* A new AllocationMetric object; AllocationTime = now - m->start_ns. */
json_t *sched_metric_json(const struct sched_metric_pool *p, const struct sched_metric *m, int64_t now, int coalesced);
