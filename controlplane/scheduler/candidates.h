/* candidates.h - one scheduling attempt's candidate nodes and their feasibility:
 * the nodes of the job's pool and datacenters that are ready, eligible and not
 * draining, in a deterministic shuffle (Nomad: seed from the eval ID and the
 * snapshot index); the usage proposed on each (existing allocs - plan stops + plan
 * placements); and the per-group feasibility checks (drivers, constraints memoised
 * per computed node class, escaped constraints per node, distinct_hosts). */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/model.h"
#include "controlplane/scheduler/metrics.h"
#include "controlplane/scheduler/plan.h"

struct sched_ctx;
struct plan;
struct hashmap;

struct sched_usage {
        int64_t cpu, mem, disk;
};

struct sched_coll; /* the job's proposed allocs on one node, per group (candidates.c) */

struct sched_cand {
        const struct node *n;
        uint64_t drv;         /* drivers the node has, as bits of the cache's driver table (at->drv_known) */
        uint64_t h;           /* hashmap_hash of the node's ID (0: not yet; sched_cand_hash), kept by the cache */
        uint32_t cls;         /* the node's computed class, interned by the cache (at->drv_known; 0: none) */
        uint32_t slot;        /* the node's free-capacity record in the cache, index + 1 (0: none) */
        /* n->node_class, kept by the cache: Select counts a node it skips as full without
         * touching the node (its first look at the node is a cache miss) */
        const char *node_class;
        /* What the node offers: its cpu, memory and disk less the reserved (sched_cand_avail),
         * kept by the cache with the fields above (one 64-byte record per candidate), so
         * that ranking a node reads its capacity without a miss on the node object */
        struct sched_usage avail;
        struct sched_usage u; /* valid when usage_ready */
        bool usage_ready;
        /* The job's proposed allocs on the node (NULL: none yet), looked up once per
         * attempt (coll_ready) in the attempt's index and kept up to date by placements. */
        struct sched_coll *coll;
        bool coll_ready;
        /* The group-invariant part of sched_feasible (drivers, the class memo, escaped
         * constraints) for the group whose generation is feas_gen: NULL feasible. */
        unsigned feas_gen;
        const char *feas_why;
        /* sched_rank found the node out of cpu, memory or disk (full_dim) for the
         * group whose generation is full_gen (0: none), a group whose feasibility the
         * plan cannot change: a placement only adds usage, so Select counts the node
         * exhausted again without ranking it; preemption, which frees usage, clears it */
        unsigned full_gen;
        const char *full_dim;
        /* free ports of the dynamic range, counted once per attempt (ports_ready) and
         * lowered by each placement's dynamic ports */
        int ports_free;
        bool ports_ready;
        /* the node's ID and name in the attempt's string arena, shared by the allocs
         * placed on it (place.c): NULL until its first placement */
        const char *s_id, *s_name;
        size_t plan_ix; /* the node's entry in the attempt's plan, index + 1 (plan_add_place_at) */
        /* sched_rank's last fit score on the node (rank.c cand_fit): for the group whose
         * generation is fit_gen (0: none) with the node's usage plus the ask at fit_cpu and
         * fit_mem. Its other inputs (the node's capacity, the group's ask, the algorithm) do
         * not change under one generation, so a node Select ranks again with no placement
         * on it since gets the same score without computing it again. */
        unsigned fit_gen;
        int64_t fit_cpu, fit_mem;
        double fit;
};

struct cc_entry;

struct sched_attempt {
        struct sched_ctx *c;
        const struct job *job;
        struct plan *plan;
        /* cands[0, n_ready) are filled; the rest come from the cache entry `fill` in the
         * order of the cache's shuffle on first use (sched_cand_get): an eval that looks
         * at 1,000 of 5,000 nodes writes 1,000 of them */
        struct sched_cand *cands;
        size_t n_cands, cursor; /* cursor: where the next Select starts (Nomad's iterator) */
        size_t n_ready;
        const struct cc_entry *fill;
        bool drv_known;         /* cands[].drv and .cls are valid (the list came from c->cands) */
        uint64_t cc_bind;       /* the cache's binding that cands[].slot refer to (cc_bind) */
        size_t n_classes;       /* cls values are below it */
        /* per datacenter seen (a few): does the job take it, how many of its nodes
         * are ready; matched once per datacenter, counted while walking, JSON once */
        struct dc_count {
                const char *dc;
                bool match;
                json_int_t n;
        } * dcs;
        size_t n_dcs;
        struct sched_metric_pool pool;
        /* node ID -> struct sched_coll *: the job's live allocs not stopped by the plan
         * plus the plan's placements, built once per attempt from the job's allocs (not
         * by walking every node's allocs) and bumped by each placement */
        struct hashmap *coll;
        struct node_filter coll_filter; /* the node IDs in coll */
        unsigned gen; /* the last sched_group_init's generation */
        uint64_t rng;
        int preempt_index;      /* name index of the alloc a preemption places */
        const char *preempt_id; /* its ID, chosen before its victims' stops name it (NULL: none) */
        /* The strings of the attempt's new allocs (IDs, names, node IDs; the namespace,
         * eval ID, job ID and group names once): one arena each new alloc holds a
         * reference on, instead of eight strdup's per placement. Created by the first
         * placement; s_* are its copies of the attempt-wide strings. */
        struct str_arena *strings;
        const char *s_ns, *s_eval, *s_job;
};

/* Allocs proposed per value of a node property: for a distinct_property constraint
 * (at most `limit` allocs of the job, or of the group for group and task constraints,
 * per value) or for a spread block (c NULL, spread set; the group's allocs). */
struct sched_distinct_prop {
        const struct constraint *c;
        const struct spread *spread;
        const char *attr; /* "${meta.rack}" */
        bool per_group;
        long limit;             /* RTarget, default 1 */
        struct hashmap *counts; /* property value -> allocs proposed (uintptr_t) */
        /* Over the values in counts: the smallest and largest count, and hist[c] the
         * number of values counted c (hist_cap entries), kept as counts grow so that an
         * even spread's score takes O(1), not a walk of every value seen. */
        uintptr_t min, max;
        size_t *hist;
        size_t hist_cap;
};

/* What one group needs while it is placed. */
struct sched_option;
struct sched_group {
        const struct task_group *tg;
        size_t group; /* index in job->groups */
        unsigned gen; /* distinct per group within an attempt (the candidates' caches) */
        struct res_ask ask;
        struct hashmap *memo;   /* computed class -> feasibility (struct memo *) */
        struct memo **memo_cls; /* the same by interned class (at->drv_known), no hashing; borrowed */
        bool escaped;           /* some constraint refers to unique.* */
        bool distinct_job, distinct_group;
        bool has_affinity;
        int limit;                 /* options scored per placement */
        struct sched_option *opts; /* sched_select's buffer, kept for the group's placements */
        size_t opts_cap;
        bool pack_used_first;              /* Select prefers used nodes (sched_group_init) */
        const char *s_group;               /* the group's name in at->strings (place.c) */
        struct sched_distinct_prop *props; /* distinct_property constraints, then spreads */
        size_t n_props, n_spreads;
        int spread_weights;       /* sum of the spreads' weights */
        const char *penalty_node; /* node of the failed alloc being replaced (reschedule penalty) */
        bool static_ports;        /* the group reserves static ports */
        bool networks;            /* the group has networks: ports recorded on its allocs */
        int dyn_ports;            /* dynamic ports it asks for */
        int64_t mbits;            /* network bandwidth it asks for (bandwidth.h), 0: none */
        bool devices;             /* a task asks for devices */
        int cores;                /* reserved cores its tasks ask for (resources.cores), 0: none */
        bool device_aff;          /* ... with affinities (the devices score) */
        char why[160];            /* the last device failure */
        /* drivers: DRV_NODE node_has_driver per node; DRV_MASK all of drv_need set in
         * cd->drv; DRV_NONE some driver is on no node of the table */
        enum { SCHED_DRV_NODE, SCHED_DRV_MASK, SCHED_DRV_NONE } drv_mode;
        uint64_t drv_need;
};

/* The hashmap_hash of the candidate's node ID, computed once (cached lists carry it). */
uint64_t sched_cand_hash(struct sched_cand *cd);
/* The plan's entry for the candidate's node (NULL: none); no hashing for a node that
 * the plan does not hold. */
const struct plan_node *sched_cand_plan_node(const struct sched_attempt *at, struct sched_cand *cd);

/* Fill at->cands (shuffled), at->dcs and at->pool. 0 or -ENOMEM. The candidates
 * themselves are read through sched_cand_get. */
int sched_build_cands(struct sched_attempt *at);
/* Fill at->cands up to at least `upto` (at most n_cands). */
void sched_cands_fill(struct sched_attempt *at, size_t upto);

/* The candidate at position k < at->n_cands. */
static inline struct sched_cand *sched_cand_get(struct sched_attempt *at, size_t k) {
        if (k >= at->n_ready)
                sched_cands_fill(at, k + 1);
        return &at->cands[k];
}
void sched_attempt_free(struct sched_attempt *at);
/* Compute cd->u once; later placements add to it. Keeps the free capacity the
 * snapshot shows in the cache (sched_cand_known_full). */
void sched_cand_usage(struct sched_attempt *at, struct sched_cand *cd);
/* Before the node's usage is looked up in this attempt: is it known without the look-up
 * that the ask (cpu, memory, disk) does not fit? Yes when the cache kept the node's free
 * capacity at snapshot index I <= this snapshot's, the store reports nothing freed on
 * the node since I (state_node_freed_index_h), the plan has no entry for the node (no
 * stops there), and the ask exceeds that capacity in some dimension: *ret_dim is the
 * first such of cpu, memory, disk. O(1): a false "no" only costs the look-up. */
bool sched_cand_known_full(struct sched_attempt *at, const struct res_ask *ask, struct sched_cand *cd,
                           const char **ret_dim);
/* Allocs of the attempt's job (and of `group` when not NULL) proposed on the node.
 * O(groups of the job on the node) after the attempt's first call (O(job's allocs)). */
int sched_collisions(struct sched_attempt *at, struct sched_cand *cd, const char *group);
/* Account a new placement of the job's `group` on cd in the collision index.
 * 0 or -ENOMEM. */
int sched_coll_add(struct sched_attempt *at, struct sched_cand *cd, const char *group);

/* 0 or -ENOMEM (g is then safe to free). */
int sched_group_init(struct sched_attempt *at, struct sched_group *g, size_t group);
/* Account a placement of the group on node n (distinct_property and spread counts). */
int sched_group_placed(struct sched_group *g, const struct node *n);
void sched_group_free(struct sched_group *g);
/* NULL when the node is feasible for the group, else the reason (static, in the
 * memo, or written to buf). */
const char *sched_feasible(struct sched_attempt *at, struct sched_group *g, struct sched_cand *cd, char *buf,
                           size_t size);

/* Call fn for each alloc proposed on the node: live in the snapshot and not stopped by
 * the plan, then the plan's placements there. O(the node's allocs). */
void sched_proposed_foreach(const struct sched_attempt *at, const struct sched_cand *cd,
                            void (*fn)(const struct alloc *a, void *arg), void *arg);
/* Reserved cores (Nomad's resources.cores): the cores a's tasks ask for (its group in
 * its job); the cores the allocs proposed on cd hold (a walk of the node's allocs, made
 * only for groups that ask for cores); the MHz one core of node n is worth (its cpu
 * shares over its cores, 0 when it reports none), charged to the alloc's cpu as Nomad
 * does. */
int sched_alloc_cores(const struct alloc *a);
int sched_cand_cores_used(const struct sched_attempt *at, const struct sched_cand *cd);
/* What n offers to allocs: its cpu, memory and disk less the reserved (sched_cand.avail). */
struct sched_usage sched_node_avail(const struct node *n);
int64_t sched_core_mhz(const struct node *n);

/* Free ports of the node's dynamic range, at least `need` of them when the return is
 * >= need: a lower bound from the store's count of ports the node's allocs hold (O(1))
 * when that is enough, else the exact count (a walk of the node's allocs, cached per
 * attempt; see sched_cand). */
int sched_cand_ports_free(struct sched_attempt *at, struct sched_cand *cd, int need);

/* Static ports the group reserves that are already taken on the node by proposed allocs
 * (the first one in *ret_port). */
bool sched_ports_collide(const struct sched_attempt *at, const struct sched_group *g, const struct sched_cand *cd,
                         int *ret_port);
