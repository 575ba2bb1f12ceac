/* reschedule.h - Nomad's `reschedule` block for failed allocations of service and batch
 * jobs (nomad/structs: ReschedulePolicy, RescheduleTracker, NextDelay). Pure functions.
 *
 * Policy: the group's ReschedulePolicy over the job's Reschedule over the defaults
 * (service: unlimited, delay 30 s, exponential, max_delay 1 h; batch: attempts 1 in
 * interval 24 h, delay 5 s, constant). Each replacement of a failed alloc carries the
 * RescheduleTracker of its predecessor plus one event {RescheduleTime, PrevAllocID,
 * PrevNodeID, Delay}, kept in the alloc's extra JSON ("RescheduleTracker": {"Events"}).
 *
 * - eligible: unlimited, or fewer than `attempts` events with RescheduleTime within
 *   `interval` before now (attempts 0: never);
 * - the next delay (Nomad's NextDelay, from the tracker's last delays): constant
 *   `delay`; exponential twice the last delay (the first: `delay`); fibonacci the sum
 *   of the last two (the first two: `delay`); both capped at `max_delay` (when > 0).
 *   The tracker keeps the last 5 events of an unlimited policy and the events within
 *   `interval` of a limited one;
 * - the replacement is placed at the failure time (the latest task FinishedAt, else the
 *   alloc's ModifyTime) plus that delay: until then the scheduler places nothing for
 *   the slot and asks for a follow-up evaluation at that time. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/model.h"

enum resched_delay_fn { RESCHED_CONSTANT, RESCHED_EXPONENTIAL, RESCHED_FIBONACCI };

struct resched_policy {
        int attempts;
        int64_t interval_ns, delay_ns, max_delay_ns;
        enum resched_delay_fn fn;
        bool unlimited;
};

/* The effective policy of group tg of job j. */
void sched_resched_policy(const struct job *j, const struct task_group *tg, struct resched_policy *ret);

/* For a failed alloc a under policy p at time now: false when it may not be
 * rescheduled; else true and *ret_when, the time its replacement may be placed. */
bool sched_resched_when(const struct resched_policy *p, const struct alloc *a, int64_t now, int64_t *ret_when);

/* The RescheduleTracker JSON of prev's replacement placed at now (a new reference),
 * NULL on ENOMEM. */
json_t *sched_resched_tracker(const struct resched_policy *p, const struct alloc *prev, int64_t now);
