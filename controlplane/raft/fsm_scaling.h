/* fsm_scaling.h - the FSM's ScalingEvent command: a job's scaling event (Nomad's
 * ScalingEventRegisterRequest), replicated so every server answers the same
 * GET /v1/job/:id/scale events (controlplane/state/state_scaling.h).
 *
 *   {"Type": "ScalingEvent", "Namespace": ns, "JobID": id, "TaskGroup": group,
 *    "Event": {"Time": ns, "Count": n|null, "PreviousCount": n, "Message": "",
 *              "Error": false, "Meta": {...}|null, "EvalID": "..."|null}}
 *
 * Deterministic: the time is the proposer's; the Raft index becomes CreateIndex. */
#pragma once

#include <jansson.h>
#include <stdint.h>

struct state_store;

/* Apply at index: 0, -EINVAL for a malformed command, -ENOMEM, -EROFS. */
int fsm_scaling_event_apply(struct state_store *st, uint64_t index, const json_t *cmd);
