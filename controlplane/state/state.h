/* state.h - the in-memory state store: the Raft FSM's data.
 *
 * Tables: jobs (key namespace + ID), nodes, allocs, evals; secondary indexes
 * allocs-by-node, allocs-by-job, allocs-by-eval, evals-by-job. Objects (model.h)
 * are immutable once inserted and shared by reference count: a write inserts a
 * new version and drops the store's reference to the old one.
 *
 * Writes come from one writer (the FSM), each with the Raft index of its log
 * entry; every written object gets CreateIndex (first write) / ModifyIndex, and
 * the store tracks the latest index per table (blocking queries) and overall.
 * Write functions that take an object pointer take their own reference and set
 * its indexes in place: pass a fresh object that no other store holds.
 *
 * Snapshots: state_snapshot() returns a read-only store that later writes do not
 * change. It costs O(1) (the tables are copy-on-write and shared); the writer pays
 * instead: its first write to a table (or index) that a live snapshot still shares
 * copies that table's slot array and takes a reference on each of its objects,
 * O(rows). A snapshot may be read, and destroyed, from another thread while the
 * writer goes on. state_snapshot() itself must be called on the writer's thread
 * (or on a snapshot, from any thread).
 *
 * Iteration order: jobs and nodes are visited in ID order; allocs and evals in
 * table order (unspecified); the per-node/job/eval indexes in insertion order
 * until a delete, which moves the list's last item into the deleted one's place
 * (a delete costs O(1), not a shift of the list; a restored store's lists follow
 * the saved table order anyway, so no reader may rely on more).
 * Callbacks return true to go on, false to stop.
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/model.h"

struct error;
struct state_store;

enum state_table { STATE_TABLE_JOBS, STATE_TABLE_NODES, STATE_TABLE_ALLOCS, STATE_TABLE_EVALS, STATE_TABLE_COUNT };

struct state_store *state_create(void);
/* Releases a store or a snapshot (objects stay alive while others hold them). NULL ok; returns NULL. */
struct state_store *state_destroy(struct state_store *st);
/* A read-only view of st as it is now; NULL on out of memory. Release with state_destroy(). */
struct state_store *state_snapshot(const struct state_store *st);
bool state_is_snapshot(const struct state_store *st);

uint64_t state_latest_index(const struct state_store *st);
uint64_t state_table_index(const struct state_store *st, enum state_table t);

/* ---- reads ---------------------------------------------------------------------------- */

const struct job *state_job_get(const struct state_store *st, const char *ns, const char *id);
const struct node *state_node_get(const struct state_store *st, const char *id);
const struct alloc *state_alloc_get(const struct state_store *st, const char *id);
const struct eval *state_eval_get(const struct state_store *st, const char *id);

/* Unique ID prefix lookups: 0 and *ret, -ENOENT (no match), -EEXIST (prefix matched
 * more than one: the CLI says "prefix matched multiple ..."). An exact ID always wins. */
int state_job_by_prefix(const struct state_store *st, const char *ns, const char *prefix, const struct job **ret);
int state_node_by_prefix(const struct state_store *st, const char *prefix, const struct node **ret);
int state_alloc_by_prefix(const struct state_store *st, const char *prefix, const struct alloc **ret);
int state_eval_by_prefix(const struct state_store *st, const char *prefix, const struct eval **ret);

size_t state_count(const struct state_store *st, enum state_table t);

/* ns NULL or "*" = every namespace. */
void state_jobs_foreach(const struct state_store *st, const char *ns, bool (*cb)(void *arg, const struct job *j),
                        void *arg);
void state_nodes_foreach(const struct state_store *st, bool (*cb)(void *arg, const struct node *n), void *arg);
void state_allocs_foreach(const struct state_store *st, bool (*cb)(void *arg, const struct alloc *a), void *arg);
void state_evals_foreach(const struct state_store *st, bool (*cb)(void *arg, const struct eval *e), void *arg);
void state_allocs_by_node_foreach(const struct state_store *st, const char *node_id,
                                  bool (*cb)(void *arg, const struct alloc *a), void *arg);
void state_allocs_by_job_foreach(const struct state_store *st, const char *ns, const char *job_id,
                                 bool (*cb)(void *arg, const struct alloc *a), void *arg);
void state_allocs_by_eval_foreach(const struct state_store *st, const char *eval_id,
                                  bool (*cb)(void *arg, const struct alloc *a), void *arg);
void state_evals_by_job_foreach(const struct state_store *st, const char *ns, const char *job_id,
                                bool (*cb)(void *arg, const struct eval *e), void *arg);

/* Borrowed arrays straight from the indexes (valid until the next write to this
 * store; forever for a snapshot). *ret_n = 0 and NULL when none. */
struct alloc *const *state_allocs_by_node(const struct state_store *st, const char *node_id, size_t *ret_n);
/* The resources of the node's live (not terminal) allocs, kept by every write: O(1),
 * where summing state_allocs_by_node costs a walk of the node's allocs. */
struct state_usage {
        int64_t cpu, memory_mb, disk_mb;
        int64_t live;  /* how many */
        int64_t ports; /* ports their AllocatedResources record (Shared.Ports, task networks) */
};
struct state_usage state_node_usage(const struct state_store *st, const char *node_id);
/* The same for a caller that has hashmap_hash(node_id) already (the scheduler's
 * candidates keep it): no hashing where the node index is keyed by that hash (the
 * default path; checked per call, and hashed as before where it is not). */
struct state_usage state_node_usage_h(const struct state_store *st, const char *node_id, uint64_t hash);
/* state_node_get and state_node_usage_h in one walk of one trie (the plan applier's
 * check of each plan node): the node's entry in the usage index points at the node
 * (every write of the node or of its first alloc sets it); a node without allocs
 * costs the second look-up. The node (NULL: none) and its usage to *ret_usage. */
const struct node *state_node_with_usage_h(const struct state_store *st, const char *node_id, uint64_t hash,
                                           struct state_usage *ret_usage);
/* When usage may last have been freed on a node: the store notes, at every write that
 * stops, moves or removes a live alloc of the node, shrinks its resources, or writes or
 * removes the node, an index above the store's latest index as of that write, and keeps
 * the largest per bucket of STATE_FREED_BUCKETS (by the node ID's hashmap_hash; a node
 * shares its bucket with others) and a floor raised by a restore. So for snapshots I and
 * J >= I of one store, state_node_freed_index_h(J, node) <= I means nothing was freed on
 * the node between them: its live usage in J is at least I's and its resources are
 * I's. It may be above the node's own (a free on a bucket neighbour): the caller then
 * looks again, never wrongly skips. O(1), no lookup. */
#define STATE_FREED_BUCKETS 1024
uint64_t state_node_freed_index_h(const struct state_store *st, uint64_t hash);
struct alloc *const *state_allocs_by_job(const struct state_store *st, const char *ns, const char *job_id,
                                         size_t *ret_n);

/* Per task group counts, from which the API builds Nomad's JobSummary. Allocs count
 * by ClientStatus (pending = Starting); Queued comes from the newest eval of the job
 * that recorded QueuedAllocations. */
struct state_group_summary {
        int queued, starting, running, failed, complete, lost, unknown;
};
/* The summary of every group of j, ret[g] for j->groups[g] (the caller's array of
 * j->n_groups): one pass over the job's allocations and evaluations, whatever the
 * number of groups. 0, or -ENOMEM (ret zeroed). */
int state_job_summary(const struct state_store *st, const struct job *j, struct state_group_summary *ret);

/* ---- writes (the single writer only; never on a snapshot: -EROFS) -------------------- */

/* Register or update a job. Spec changed (anything but server-set fields): Version+1 and
 * JobModifyIndex = index; unchanged: both kept. CreateIndex kept, ModifyIndex = index,
 * Status computed (pending / running / dead) from its allocs and evals. */
int state_upsert_job(struct state_store *st, uint64_t index, struct job *j);
/* purge: delete the job (its allocs and evals stay until GC); else mark it stopped
 * (Stop = true, a new version). -ENOENT when absent. */
int state_deregister_job(struct state_store *st, uint64_t index, const char *ns, const char *id, bool purge);
int state_delete_job(struct state_store *st, uint64_t index, const char *ns, const char *id);

/* Register or update a node. Eligibility and drain of an existing node are kept
 * (an agent re-registering cannot undo an operator's decision); the computed class
 * is filled in when missing. */
int state_upsert_node(struct state_store *st, uint64_t index, struct node *n);
/* updated_at in unix seconds (Node.StatusUpdatedAt). */
int state_update_node_status(struct state_store *st, uint64_t index, const char *id, enum node_status status,
                             int64_t updated_at);
int state_update_node_eligibility(struct state_store *st, uint64_t index, const char *id, bool eligible);
/* Start (strategy: Nomad's DrainStrategy object, copied) or end (NULL) a drain, and
 * set the eligibility (a drain makes a node ineligible). last_drain (Nomad's
 * LastDrain, copied) is kept when not NULL. Both live in the node's extra. */
int state_update_node_drain(struct state_store *st, uint64_t index, const char *id, const json_t *strategy,
                            const json_t *last_drain, bool eligible);
int state_delete_node(struct state_store *st, uint64_t index, const char *id);
/* Every non-terminal alloc of the node: ClientStatus lost. now_ns = modify time. */
int state_mark_node_allocs_lost(struct state_store *st, uint64_t index, const char *node_id, int64_t now_ns);

/* Insert or replace evals. An eval that completes without failed placements cancels
 * the job's other blocked evals (Nomad). */
int state_upsert_evals(struct state_store *st, uint64_t index, struct eval *const *evals, size_t n);
int state_delete_eval(struct state_store *st, uint64_t index, const char *id);

/* Insert or replace allocs (placements and stops from a committed plan). An existing
 * alloc keeps its CreateIndex and CreateTime. A new alloc that lists evicted allocs in
 * its PreemptedAllocations marks each with PreemptedByAllocation = its ID (a new
 * version of the victim at index); one with a PreviousAllocation marks that alloc with
 * NextAllocation = its ID (likewise). */
int state_upsert_allocs(struct state_store *st, uint64_t index, struct alloc *const *allocs, size_t n);
/* Server-side stop of one alloc: a new version with DesiredStatus (and ClientStatus
 * when client >= 0). -ENOENT when absent. */
int state_stop_alloc(struct state_store *st, uint64_t index, const char *id, enum alloc_desired desired,
                     const char *description, int client, int64_t now_ns);
/* An update from the node agent merged into a copy of the existing alloc:
 * ClientStatus, ClientDescription (when not NULL) and the given task states
 * (replacing those of the same name, keeping the others). -ENOENT when absent. */
int state_update_alloc_client(struct state_store *st, uint64_t index, const char *id, enum alloc_client status,
                              const char *description, const struct task_state *ts, size_t n_ts, int64_t now_ns);
int state_delete_alloc(struct state_store *st, uint64_t index, const char *id);

/* ---- scheduler configuration ------------------------------------------------------- */

/* Nomad's SchedulerConfiguration (GET/PUT /v1/operator/scheduler/configuration), part
 * of the replicated state so that every server's workers and a new leader see it.
 * algorithm is an enum sched_algorithm (scheduler.h; 0 = binpack). A new store holds
 * Nomad's defaults: binpack, preemption for system jobs only, CreateIndex and
 * ModifyIndex 0 (never set). */
#define STATE_SCHED_ALGORITHMS 3 /* SCHED_ALG_COUNT; routes_operator.c asserts they agree */
struct state_sched_config {
        int algorithm;
        bool preempt_system, preempt_sysbatch, preempt_batch, preempt_service;
        bool reject_job_registration;
        uint64_t create_index, modify_index;
};
/* The store's configuration (borrowed; a copy lives in each snapshot). O(1). */
const struct state_sched_config *state_sched_config(const struct state_store *st);
/* Replace it at index (ModifyIndex = index; CreateIndex set on the first write). With
 * use_cas, only when the current ModifyIndex equals cas: else -ECANCELED and nothing
 * changes (Nomad's ?cas). -EINVAL for an algorithm out of range. */
int state_set_sched_config(struct state_store *st, uint64_t index, const struct state_sched_config *cfg,
                           bool use_cas, uint64_t cas);

/* ---- Raft snapshots ----------------------------------------------------------------- */

/* Everything, as {"Index":..,"TableIndexes":{..},"SchedulerConfig":{..},"Jobs":[..],"Nodes":[..],
 * "Allocs":[..],"Evals":[..]} (a snapshot without SchedulerConfig restores the defaults).
 * Allocs carry their job as {"JobVersion":..} references to "JobVersions" to save space. */
int state_save(const struct state_store *st, json_t **ret);
int state_restore(const json_t *snap, struct state_store **ret, struct error *err);
