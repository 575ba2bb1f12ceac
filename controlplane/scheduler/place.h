/* place.h - placement: for each slot the reconciler asked for, select a node and
 * add a new allocation to the attempt's plan; record per group the queued count
 * and, for the first failure of a group, its AllocationMetric (later failures of
 * the group are coalesced, as Nomad does). */
#pragma once

#include <stddef.h>

#include "controlplane/scheduler/candidates.h"
#include "controlplane/scheduler/reconcile.h"

/* reqs are ordered by group (sched_reconcile's order). 0 or -ENOMEM. */
int sched_place(struct sched_attempt *at, const struct place_req *reqs, size_t n_reqs);
