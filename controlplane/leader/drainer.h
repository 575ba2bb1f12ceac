/* drainer.h - the node drainer (Nomad's leader-side drainer) as pure logic.
 *
 * A node being drained carries a DrainStrategy (set by PUT /v1/node/:id/drain):
 * it is ineligible, and its allocations move elsewhere a few at a time. Each call
 * of drainer_step looks at the state and returns the commands that move every
 * draining node on by one step:
 *   - service allocations: AllocStop (with an eval of the job, "node-drain", so its
 *     scheduler places a replacement on another node) while the group has fewer
 *     than migrate.max_parallel (default 1) of its Count missing: a missing one is
 *     Count minus the group's allocations that are desired running and running;
 *   - batch allocations are left to finish until the deadline;
 *   - system and sysbatch allocations are stopped last, once nothing else is left
 *     (never with IgnoreSystemJobs);
 *   - past the deadline (ForceDeadline), everything left is stopped at once;
 *   - when nothing is left: NodeUpdateDrain ending the drain (LastDrain complete),
 *     the node staying ineligible.
 * The caller proposes the commands and must not call again before they are applied
 * (else the same allocation is stopped twice). Cost: O(allocs on draining nodes x
 * their jobs' allocs).
 */
#pragma once

#include <jansson.h>
#include <stdint.h>

#include "common/ids.h"

struct state_store;

struct drainer_env {
        void (*gen_id)(void *data, char buf[ID_BUF]); /* NULL: id_generate */
        void *id_data;
};

/* Description of the allocations the drainer stops (what `alloc status` shows). */
#define DRAINER_STOP_DESC "alloc is being migrated: node drain"

/* *ret_cmds: a new JSON array of FSM commands (empty when there is nothing to do).
 * 0, or -ENOMEM. env may be NULL. now_ns: unix ns. */
int drainer_step(const struct state_store *st, int64_t now_ns, const struct drainer_env *env, json_t **ret_cmds);
