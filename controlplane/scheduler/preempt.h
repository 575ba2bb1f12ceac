/* preempt.h - evicting lower-priority allocations to make room (see preempt.c). */
#pragma once

#include <stdbool.h>
#include <stdint.h>

struct alloc;
struct sched_attempt;
struct sched_cand;
struct sched_ctx;
struct sched_group;
struct sched_metric;

#define PREEMPT_PRIORITY_DELTA 10 /* victims have a priority at least this much lower */

/* Whether the scheduler configuration enables preemption for the eval's job kind. */
bool sched_preempt_enabled(const struct sched_ctx *c);

/* Place one alloc of g on cd (feasible, usage computed) by evicting allocs of other
 * jobs at least PREEMPT_PRIORITY_DELTA lower in priority: those holding the static
 * ports it reserves or the device instances its asks need, then (cpu, memory, disk,
 * cores, network bandwidth) lowest priorities first and as few as will do; the plan stops them as "Preempted by alloc ID <new>". 1 when
 * placed, 0 when evicting cannot make room, -ENOMEM. */
int sched_place_preempting(struct sched_attempt *at, struct sched_group *g, struct sched_cand *cd,
                           const struct alloc *prev, struct sched_metric *m, int64_t now);

/* Service and batch: after Select found no node, the feasible node whose victims have
 * the lowest highest priority, then the fewest victims, gets the alloc (name index
 * `index`) by sched_place_preempting. 1 placed, 0 no node can be freed, -ENOMEM. */
int sched_preempt_select(struct sched_attempt *at, struct sched_group *g, int index, const struct alloc *prev,
                         struct sched_metric *m, int64_t now);
