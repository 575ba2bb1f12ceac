/* state_versions.h - the job-versions table of the state store: the last
 * STATE_JOB_VERSIONS_MAX registered versions of each job (Nomad's
 * JobTrackedVersions, 6), for `GET /v1/job/:id/versions`, `job history` and
 * `job revert`.
 *
 * Written by the store itself: state_upsert_job() records the job as stored
 * (a new version goes in front, the oldest falls off past the bound; a write that
 * keeps the version replaces that version's entry), state_delete_job() drops the
 * job's entry (GC and purge). Entries are immutable and shared by reference
 * count; the table is a persistent map (common/pmap.h), so a state snapshot
 * shares it in O(1) and a write copies O(log n) nodes. Kept in Raft snapshots
 * ("JobVersionHistory" in state_save / state_restore).
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct error;
struct job;
struct state_store;

#define STATE_JOB_VERSIONS_MAX 6

/* The versions kept for ns/id, newest first (borrowed: valid until the next write
 * to this store; forever for a snapshot). NULL and *ret_n = 0 when none. O(1). */
struct job *const *state_job_versions(const struct state_store *st, const char *ns, const char *id, size_t *ret_n);
/* One version, or NULL when it is not (or no longer) kept. */
const struct job *state_job_version(const struct state_store *st, const char *ns, const char *id, uint64_t version);

/* Whether j is marked Stable (a deployment of its version succeeded). */
bool job_version_stable(const struct job *j);
/* Mark version `version` of ns/id Stable at Raft index `index` (the FSM, when a
 * deployment of that version succeeds; what auto_revert goes back to): the job's
 * current object when it is that version (stored again, which records it here),
 * else that version's entry in the versions table. 0 (also when the version is no
 * longer kept or already Stable), -ENOMEM, -EROFS. */
int state_versions_mark_stable(struct state_store *st, uint64_t index, const char *ns, const char *id,
                               uint64_t version);

/* ---- for state.c, state_write.c and state_persist.c ---- */
struct version_table;
struct version_table *state_versions_ref(struct version_table *t);
void state_versions_unref(struct version_table *t);
/* Record the store's current object of ns/id (see above). 0 or -ENOMEM. */
int state_versions_record(struct state_store *st, const struct job *j);
/* Forget every version of ns/id (absent: 0). */
int state_versions_drop(struct state_store *st, const char *ns, const char *id);
/* Snapshots: the versions that are not the job's current object, as an array
 * "JobVersionHistory" in out; restored after the jobs (which are recorded first). */
int state_versions_save(const struct state_store *st, json_t *out);
int state_versions_restore(const json_t *snap, struct state_store *st, struct error *err);
