/* state_scaling.h - the scaling-events table of the state store: Nomad's
 * ScalingEvent records (a job scale with or without a count change, or an error
 * an autoscaler reported), per job and task group, newest first, at most
 * STATE_SCALING_EVENTS_MAX per group (Nomad's JobTrackedScalingEvents).
 *
 * Written only by the FSM's ScalingEvent command (controlplane/raft/fsm_scaling.c),
 * so every server holds the same events; read by GET /v1/job/:id/scale. The table
 * is one JSON object, {"<ns>\x1f<job>": {"<group>": [event, ...]}}, shared by
 * reference count with state snapshots and copied on the first write after a
 * snapshot took it (O(events); scaling events are rare writes). Jobs that no longer
 * exist lose their events when the table holds more than STATE_SCALING_JOBS_PRUNE
 * jobs. Kept in Raft snapshots ("ScalingEvents" in state_save / state_restore). */
#pragma once

#include <jansson.h>
#include <stdint.h>

struct error;
struct state_store;

#define STATE_SCALING_EVENTS_MAX 20
#define STATE_SCALING_JOBS_PRUNE 1024

/* ns/job's events: {"<group>": [event, ...]} newest first, borrowed (valid until
 * the next write to this store; forever for a snapshot), or NULL when none. */
const json_t *state_scaling_events(const struct state_store *st, const char *ns, const char *job_id);

/* Add event (an object; a reference is taken; "CreateIndex" is set to index) in
 * front of ns/job/group's list. 0, -EINVAL (not an object, empty names), -ENOMEM,
 * -EROFS (a snapshot). */
int state_scaling_add(struct state_store *st, uint64_t index, const char *ns, const char *job_id, const char *group,
                      json_t *event);

/* ---- for state.c and state_persist.c ---- */
struct scaling_table;
struct scaling_table *state_scaling_ref(struct scaling_table *t);
void state_scaling_unref(struct scaling_table *t);
int state_scaling_save(const struct state_store *st, json_t *out);
int state_scaling_restore(const json_t *snap, struct state_store *st, struct error *err);
