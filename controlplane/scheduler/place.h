/* place.h - placement: for each slot the reconciler asked for, select a node and
 * add a new allocation to the attempt's plan; record per group the queued count
 * and, for the first failure of a group, its AllocationMetric (later failures of
 * the group are coalesced, as Nomad does). */
#pragma once

#include <stddef.h>

#include <stdint.h>

#include "common/ids.h"

#include "controlplane/scheduler/candidates.h"
#include "controlplane/scheduler/metrics.h"
#include "controlplane/scheduler/reconcile.h"

/* reqs are ordered by group (sched_reconcile's order). 0 or -ENOMEM. */
int sched_place(struct sched_attempt *at, const struct place_req *reqs, size_t n_reqs);

/* Place one allocation of group g (name index `index`, replacing prev when not NULL) on
 * the candidate cd, whose fit was checked: a new alloc in the plan, with m as its
 * AllocationMetric, created at `now`, with its ports and devices assigned (ports.h,
 * devices.h) in a->allocated; cd's usage and g's distinct_property counts follow.
 * 0, 1 when no port or device was left (nothing placed: the fit check did not cover
 * it, as when preempting), or -ENOMEM. */
int sched_place_on(struct sched_attempt *at, struct sched_group *g, struct sched_cand *cd, int index,
                   const struct alloc *prev, struct sched_metric *m, int64_t now);
/* As sched_place_on with mj (stolen) as the alloc's AllocationMetric JSON. */
int sched_place_on_json(struct sched_attempt *at, struct sched_group *g, struct sched_cand *cd, int index,
                        const struct alloc *prev, json_t *mj, int64_t now, char ret_id[ID_BUF]);
/* As sched_place_on; the new alloc's ID goes to ret_id (may be NULL). */
int sched_place_on_id(struct sched_attempt *at, struct sched_group *g, struct sched_cand *cd, int index,
                      const struct alloc *prev, struct sched_metric *m, int64_t now, char ret_id[ID_BUF]);
