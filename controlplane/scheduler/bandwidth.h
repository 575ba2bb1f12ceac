/* bandwidth.h - network bandwidth (`network { mbits = N }`, Nomad's MBits): a node offers
 * the Speed (Mbit/s) of its fastest host network (NodeResources.Networks, as the agent
 * fingerprints it; a node that reports none is not limited), and the allocs proposed on
 * it hold the MBits of their group's networks and their tasks' networks. A group whose
 * asks do not fit fails on "network: bandwidth exceeded" (rank.c); preemption can free
 * bandwidth (preempt.c). The plan applier counts it again against the latest state
 * (controlplane/plan/applier.h), so two plans racing for a node's last bandwidth cannot
 * both commit. Groups asking no bandwidth (mbits 0, the default) cost nothing. */
#pragma once

#include <stdint.h>

#include "common/model.h"

struct sched_attempt;
struct sched_cand;

/* The MBits a group asks for (its networks' and its tasks'). */
int64_t sched_group_mbits(const struct task_group *tg);
/* The MBits alloc a holds: its group's in its job (0 without a job). */
int64_t sched_alloc_mbits(const struct alloc *a);
/* The node's bandwidth in Mbit/s, 0 when it reports no network speed (no limit). */
int64_t sched_node_mbits(const struct node *n);
/* The MBits the allocs proposed on cd hold (a walk of the node's allocs). */
int64_t sched_cand_mbits_used(const struct sched_attempt *at, const struct sched_cand *cd);
