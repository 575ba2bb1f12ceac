/* scheduler.h - the placement library (Nomad's Planner pattern). PURE: no I/O, no
 * locks, no Raft; it reads an immutable state snapshot and talks to the outside only
 * through struct planner_ops. The server's workers and the simulator both link it.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "common/clock.h"
#include "common/ids.h"
#include "common/model.h"
#include "controlplane/scheduler/plan.h"

struct error;
struct state_store;
struct sched_cand_cache;

/* What a scheduler needs from its host. All three are called from the scheduler's
 * thread and may block.
 * - submit_plan: hand the plan to the leader's plan applier, wait for the result.
 *   The scheduler owns the plan (it frees it afterwards) and receives *ret_result
 *   (it frees it with plan_result_free). When the result has a refresh_index (a
 *   partial commit), the host must also return in *ret_new_snapshot a snapshot at
 *   least that new, which the scheduler then owns (state_destroy); else NULL.
 * - update_eval: write the processed eval (status complete / failed / blocked).
 * - create_eval: write a new eval (the blocked eval for unplaced allocations).
 * Return 0 or a negative errno. */
struct planner_ops {
        int (*submit_plan)(void *data, struct plan *plan, struct plan_result **ret_result,
                           struct state_store **ret_new_snapshot, struct error *err);
        int (*update_eval)(void *data, const struct eval *ev);
        int (*create_eval)(void *data, const struct eval *ev);
};

/* Time and identifiers, injected (tests and the simulator pass their own). Placement
 * randomness needs no injection: the node shuffle is seeded from the eval ID and the
 * snapshot index, as in Nomad, so the same eval on the same state places the same way. */
/* How a fitting node is scored (Nomad's SchedulerAlgorithm, plus a dot product):
 * binpack (the default) prefers the fullest node that is left least lopsided (Nomad's
 * ScoreFit less the stranded share, plus the imbalance the placement removes), spread the emptiest, dotproduct the node whose free
 * capacity is shaped most like the ask (Tetris's alignment) among the fuller ones. Under
 * binpack and dotproduct, Select prefers used nodes to empty ones. See sched_fit_score
 * and sched_select. */
enum sched_algorithm { SCHED_ALG_BINPACK, SCHED_ALG_SPREAD, SCHED_ALG_DOTPRODUCT, SCHED_ALG_COUNT };

/* Preemption per job kind (Nomad's PreemptionConfig in the scheduler configuration). */
struct sched_preemption {
        bool system, sysbatch, service, batch;
};

struct scheduler_env {
        const struct clock_ops *clock;                /* NULL: clock_real */
        enum sched_algorithm algorithm;               /* 0: binpack */
        const struct sched_preemption *preemption;    /* NULL: Nomad's defaults, system only */
        void (*gen_id)(void *data, char buf[ID_BUF]); /* NULL: id_generate */
        void *id_data;
        struct sched_cand_cache *cands; /* NULL: candidates built from the snapshot each time */
        /* Nomad's MemoryOversubscriptionEnabled (default false, and what the servers
         * run with: the API refuses true). Off, a placement's AllocatedResources carry
         * MemoryMaxMB 0 for every task; on, each task's memory_max. */
        bool memory_oversubscription;
};

/* Candidate lists kept across evaluations (candidates.c): per (node pool, datacenters)
 * the ready, eligible, not draining nodes, with a per-node bitmask of the drivers
 * node_has_driver accepts. Valid while the nodes table is unchanged (its index, size
 * and a sample of its node objects); any node write drops every entry. It also keeps,
 * per node, the free cpu, memory and disk the last usage look-up saw and its snapshot's
 * index: a node that could not fit an ask then is skipped without a look-up while the
 * store reports nothing freed on it since (state_node_freed_index_h). The cache holds
 * a reference on each node it lists. At most max_entries entries and about max_bytes
 * of lists (least recently used dropped first). NOT thread-safe: one per worker.
 * create: NULL on ENOMEM; destroy accepts NULL and returns NULL. */
struct sched_cand_cache *sched_cand_cache_create(size_t max_entries, size_t max_bytes);
struct sched_cand_cache *sched_cand_cache_destroy(struct sched_cand_cache *cc);
struct sched_cand_cache_stats {
        uint64_t hits, misses, invalidations;
        /* first looks at a node in an attempt answered "out of cpu, memory or disk" by the
         * free capacity kept from an earlier look (no usage look-up; see candidates.h) */
        uint64_t full_skips;
        size_t entries, bytes;
};
void sched_cand_cache_stats(const struct sched_cand_cache *cc, struct sched_cand_cache_stats *ret);

/* Process one eval against `snapshot` (borrowed; refreshed snapshots obtained during
 * processing are the scheduler's own). Builds a plan, submits it, retries partial
 * commits on refreshed state (service 5 attempts, batch 2, reset on progress), creates
 * one blocked eval for placements that did not fit, and finally updates the eval
 * (complete, or failed with a reason). Returns 0 when the eval was handled (even as
 * failed), negative errno (and err) when it should be retried (nack). System and
 * sysbatch jobs get one allocation per group on every eligible feasible node (no
 * blocked evals: scheduler_node_evals makes their evals when a node joins). */
int scheduler_process(const struct state_store *snapshot, const struct eval *ev, const struct planner_ops *ops,
                      void *planner_data, struct error *err);
int scheduler_process_env(const struct state_store *snapshot, const struct eval *ev, const struct planner_ops *ops,
                          void *planner_data, const struct scheduler_env *env, struct error *err);

/* The evals a node's registration or return to ready must carry: one per system or
 * sysbatch job that is not stopped (Nomad's createNodeEvals), triggered by
 * "node-update" and naming the node, with IDs from env (NULL: random) and its clock.
 * *ret is a new array of new evals (free each with eval_unref, then the array); its
 * length in *ret_n. 0 or -ENOMEM. Cost: one walk over the jobs. */
int scheduler_node_evals(const struct state_store *st, const char *node_id, const struct scheduler_env *env,
                         struct eval ***ret, size_t *ret_n);
