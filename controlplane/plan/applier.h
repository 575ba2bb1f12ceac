/* applier.h - the plan applier's logic, pure: check a plan against the latest state,
 * keep what fits, and write a committed result into the store.
 *
 * The leader runs plan_evaluate_overlay() on libuv's pool against a state snapshot
 * (plan/check.h), proposes the encoded result through Raft, and every server's FSM
 * decodes it (plan/codec.h) and calls plan_result_apply().
 */
#pragma once

#include <stdint.h>

#include "controlplane/scheduler/plan.h"

struct error;
struct state_store;

/* Per node of the plan: stops always fit; new placements need the node to exist, be
 * ready and eligible, its live usage (state_node_usage) - the allocs the plan (and
 * the overlay) stop or replace + placements to fit its cpu, memory and disk (a
 * placement replaces its stored version only as an in-place update, which carries
 * that version's create index; one without is new, and counted whole), and,
 * when a placement holds ports or device instances, none of them held twice among the
 * node's live allocs (sched_ports_conflict, sched_devices_conflict), and, when a
 * placement asks for bandwidth (mbits), the live allocs' MBits within the node's link
 * (bandwidth.h; "network: bandwidth exceeded"). Live: the store's less what the plans
 * stop (preemptions included) or replace, plus the placements. Cost: the plans' allocs
 * on the node, plus a walk of its allocs only for ports, devices and bandwidth. Nodes
 * that fail are left out of *ret and listed in rejected_nodes, with refresh_index =
 * the latest index of `latest`; an all_at_once plan is rejected whole when any node
 * fails. */
int plan_evaluate(const struct state_store *latest, const struct plan *p, struct plan_result **ret, struct error *err);

/* Pipelining (Nomad's plan applier): results proposed to Raft but not yet applied
 * to the state. While they are in flight, later plans are checked against `latest`
 * plus this overlay, i.e. against the state as it will be once they commit, so that
 * plans batched into one entry (or pipelined behind one another) never overcommit
 * a node. The overlay borrows the results: remove one before freeing it, on the
 * same turn of the loop on which its entry is applied (or fails). */
struct plan_overlay;
struct plan_overlay *plan_overlay_new(void);
struct plan_overlay *plan_overlay_free(struct plan_overlay *o); /* NULL ok; returns NULL */
int plan_overlay_add(struct plan_overlay *o, const struct plan_result *r);
void plan_overlay_remove(struct plan_overlay *o, const struct plan_result *r);
size_t plan_overlay_count(const struct plan_overlay *o);
/* A new overlay borrowing the same results (NULL o: an empty one), for a check made
 * on another thread while the loop adds to and removes from o; NULL when out of
 * memory. Cost: O(results in o). */
struct plan_overlay *plan_overlay_copy(const struct plan_overlay *o);
/* plan_evaluate against latest + overlay (overlay NULL: latest alone). */
int plan_evaluate_overlay(const struct state_store *latest, const struct plan_overlay *overlay, const struct plan *p,
                          struct plan_result **ret, struct error *err);

/* Write a committed result at Raft index `index`: placements inserted (an alloc
 * already present keeps its CreateIndex), stops applied to the current version of
 * each alloc (allocs gone meanwhile are skipped). A placed alloc that only the result
 * references (a decoded result's) is inserted itself, its indexes set, not copied;
 * shared ones are copied. */
int plan_result_apply(struct state_store *st, uint64_t index, const struct plan_result *r);
/* plan_result_apply without any copy: every placed alloc is inserted itself, shared or
 * not (its indexes, and its job when the store holds the same version, set in place),
 * so that the store, the result and the plan hold one object. The caller vouches that
 * no other thread reads these allocs during the call and that nobody changes them
 * afterwards: an in-process planner whose plan is only read, then freed, once
 * submitted (bench/sched). Saves a deep copy (about ten strings) per placement. */
int plan_result_apply_take(struct state_store *st, uint64_t index, const struct plan_result *r);

/* Why a node cannot take the plan's placements: NULL when it fits, else a reason
 * ("node does not exist", "node is not ready", "node is not eligible", "cpu",
 * "memory", "disk", static; "port 8080 already allocated", "device <id> already
 * allocated", in a thread-local buffer valid until the next call on the thread). */
const char *plan_node_misfit(const struct state_store *latest, const struct plan_node *pn);
