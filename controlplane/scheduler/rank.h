/* rank.h - ranking: fit a group's ask on a candidate and score it (bin-pack,
 * job anti-affinity, node affinity; the final score is the mean of the scorers
 * that applied, as Nomad's ScoreNormalizationIterator), and Nomad's Select over the
 * shuffled candidates with its LimitIterator. */
#pragma once

#include <jansson.h>
#include <stdbool.h>

#include "controlplane/scheduler/candidates.h"
#include "controlplane/scheduler/metrics.h"
#include "controlplane/scheduler/scheduler.h"

struct sched_option {
        struct sched_cand *cd;
        double final;
        double binpack, anti, affinity, spread, penalty, devices;
        bool has_anti, has_affinity, has_spread, has_penalty, has_devices;
        bool used; /* the node held allocs (or the plan's placements) before this one */
};

/* Nomad's spread score for placing one more alloc of the group on node n, in [-1, 1]:
 * per spread block, weighted by its share of the blocks' weights; with targets, a
 * value below its desired count (percent of count; the remaining percent goes to any
 * other value) scores (desired - used) / desired, at or above it -1, a value with no
 * target and no remainder -1; without targets (even spread), a value used less than
 * the most used one scores (max - used) / max, the most used one -(max - min) / max,
 * all equal 0. Nodes missing the attribute score -1. */
double sched_spread_score(const struct sched_group *g, const struct node *n);

/* The weighted share of the job's, group's and tasks' affinities the node meets:
 * sum(weights met) / sum(|weights|), in [-1, 1]; 0 without affinities. */
struct sched_regexps;
double sched_affinity_score(const struct job *j, const struct task_group *tg, const struct node *n,
                            struct sched_regexps *re /* may be NULL */);

/* The fit score of a node of capacity avail_* once used_* (the ask included) is used,
 * for an ask of ask_*. With S Nomad's ScoreFitBinPack (sched_binpack_score) in [0, 1],
 * after = |free_cpu - free_mem| with free_* the node's free shares after the placement
 * and before the same without it: binpack is (S + (1 - after) + (before - after)) / 2,
 * in [-0.5, 1.5]: S less the capacity the placement strands (a node left with cpu and
 * no memory scores below one left balanced) plus the imbalance it removes (a
 * memory-heavy ask goes to the node whose memory is left over rather than to an
 * already balanced one). bench/sched --scenario mixed, seeds 1-13, nodes used over the
 * LP lower bound: (S + 1 - after) / 2 1.136 on average, this 1.127 (better on
 * 11 seeds); see bench/RESULTS.md. spread is Nomad's ScoreFitSpread (1 - S), in [0, 1];
 * dotproduct, in [0, 1], the mean of S and Tetris's alignment: the cosine between the
 * ask and the node's free capacity before placing it, both as shares of the node's
 * capacity (1: the same shape, so cpu-heavy asks go where cpu is left and memory-heavy
 * ones where memory is). */
double sched_fit_score(enum sched_algorithm alg, int64_t avail_cpu, int64_t avail_mem, int64_t used_cpu,
                       int64_t used_mem, int64_t ask_cpu, int64_t ask_mem);

/* Assign the group's device asks on cd against the devices its proposed allocs hold:
 * 0 (*ret_score, and *ret_tasks when not NULL: see sched_devices_assign), -ENOSPC
 * with *ret_why, or -ENOMEM. */
int sched_cand_devices(struct sched_attempt *at, struct sched_group *g, struct sched_cand *cd, double *ret_score,
                       json_t **ret_tasks, const char **ret_why);

/* Fit and score one node; false (and *ret_dim, the exhausted dimension) when the
 * ask does not fit. */
bool sched_rank(struct sched_attempt *at, struct sched_group *g, struct sched_cand *cd, struct sched_option *o,
                const char **ret_dim);

/* Walk the shuffled candidates from where the last placement stopped, keep the first
 * g->limit feasible fitting options (setting aside up to 3 that score <= 0), take the
 * first with the strictly highest score; with g->pack_used_first (binpack or dotproduct,
 * no spread blocks) compare first the affinity score, then used over empty nodes (a
 * node with the reschedule penalty counts as empty), then the score. NULL when none
 * fits; m records why. */
struct sched_cand *sched_select(struct sched_attempt *at, struct sched_group *g, struct sched_metric *m);
