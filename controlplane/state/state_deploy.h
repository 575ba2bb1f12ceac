/* state_deploy.h - deployments (Nomad's Deployment) and their table in the state store.
 *
 * A deployment follows one version of a service job that has an update block: the
 * FSM creates it with the job's registration (state_deploy_for_job: one Raft entry,
 * so the scheduler's first evaluation of the version already sees it), cancels the
 * job's older active one, and the deployment watcher (controlplane/leader/
 * deploy_watcher.h) moves it to successful or failed. Allocations name it
 * (alloc->deployment_id); their counts (PlacedAllocs, HealthyAllocs,
 * UnhealthyAllocs) are computed from the allocations when read, never stored.
 * Written only through the FSM (DeploymentUpsert, DeploymentAllocHealth, job
 * registration); kept in Raft snapshots; deleted with their job (purge, GC). Shared
 * by state snapshots copy-on-write like the ACL tables. At most
 * STATE_DEPLOY_PER_JOB per job: the oldest terminal ones go first.
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct error;
struct job;
struct state_store;

#define STATE_DEPLOY_PER_JOB 6

enum deploy_status {
        DEPLOY_RUNNING,
        DEPLOY_PAUSED,
        DEPLOY_FAILED,
        DEPLOY_SUCCESSFUL,
        DEPLOY_CANCELLED,
        DEPLOY_STATUS_MAX
};
const char *deploy_status_str(enum deploy_status s);
int deploy_status_parse(const char *s, enum deploy_status *ret);
bool deploy_active(enum deploy_status s); /* running or paused */

struct deploy_group {
        char *name;
        int desired_total;
        int desired_canaries;
        bool auto_revert;
        bool auto_promote;
        bool promoted;
        int64_t progress_deadline_ns;
        int64_t require_progress_by; /* unix ns, 0: none */
        int64_t min_healthy_ns;      /* the group's update block, for the watcher */
        int64_t healthy_deadline_ns;
        bool manual_health;
};

struct deployment {
        int refcount;
        char *id;
        char *namespace;
        char *job_id;
        uint64_t job_version;
        uint64_t job_modify_index;
        uint64_t job_create_index;
        enum deploy_status status;
        char *status_description;
        struct deploy_group *groups;
        size_t n_groups;
        uint64_t create_index, modify_index;
        int64_t create_time, modify_time; /* unix ns */
};

struct deployment *deployment_ref(struct deployment *d);
struct deployment *deployment_unref(struct deployment *d); /* returns NULL */
struct deployment *deployment_copy(const struct deployment *d);
const struct deploy_group *deployment_group(const struct deployment *d, const char *name);

/* Nomad's Deployment JSON. With st, the group counts come from its allocations. */
json_t *deployment_to_json(const struct deployment *d, const struct state_store *st);
int deployment_from_json(const json_t *obj, struct deployment **ret, struct error *err);

/* Reads (borrowed: valid until the next write; forever for a snapshot). */
const struct deployment *state_deployment_get(const struct state_store *st, const char *id);
/* The deployment whose ID starts with prefix: 0 and *ret; -ENOENT; -EEXIST (ambiguous). */
int state_deployment_by_prefix(const struct state_store *st, const char *prefix, const struct deployment **ret);
/* Newest first (by CreateIndex). */
void state_deployments_foreach(const struct state_store *st, bool (*cb)(void *arg, const struct deployment *d),
                               void *arg);
void state_deployments_by_job_foreach(const struct state_store *st, const char *ns, const char *job_id,
                                      bool (*cb)(void *arg, const struct deployment *d), void *arg);
/* The job's newest deployment, or NULL. */
const struct deployment *state_deployment_latest(const struct state_store *st, const char *ns, const char *job_id);
uint64_t state_deploy_index(const struct state_store *st); /* latest write to the table, 0: none */

/* Group counts of a deployment, from the allocations that name it. */
struct deploy_counts {
        int placed, healthy, unhealthy, placed_canaries, healthy_canaries;
};
/* One group's (all groups' when group is NULL): one pass over the job's allocations. */
struct deploy_counts state_deploy_counts(const struct state_store *st, const struct deployment *d, const char *group);
/* Every group's at once, ret[g] for d->groups[g] (the caller's array of d->n_groups), and,
 * when ret_canaries is not NULL, ret_canaries[g]: a new array of the IDs of the group's
 * canaries, in the store's order. One pass over the job's allocations, whatever the
 * number of groups. 0, or -ENOMEM (nothing to free then). */
int state_deploy_group_counts(const struct state_store *st, const struct deployment *d, struct deploy_counts *ret,
                              json_t **ret_canaries);

/* Writes (the FSM only; -EROFS on a snapshot). The store takes a reference. */
int state_upsert_deployment(struct state_store *st, uint64_t index, struct deployment *d);
int state_delete_job_deployments(struct state_store *st, uint64_t index, const char *ns, const char *job_id);
/* After job j (just stored) was registered: a new deployment for its version when it is
 * a service job with an update block and has none for the version yet (ID derived
 * from the job and index, the same on every server), the job's older active one
 * cancelled. 0 (nothing to do or done), -ENOMEM. */
int state_deploy_for_job(struct state_store *st, uint64_t index, const struct job *j, int64_t now_ns);
/* Set the DeploymentStatus of allocs (health, timestamp); ids not found are skipped. */
int state_deploy_set_health(struct state_store *st, uint64_t index, const char *const *ids, size_t n, bool healthy,
                            int64_t now_ns);

/* Raft snapshot: "Deployments" in the state's JSON. */
int state_deploy_save(const struct state_store *st, json_t *out);
int state_deploy_restore(const json_t *snap, struct state_store *st, struct error *err);

/* Table plumbing for state.c. */
struct deploy_tables;
struct deploy_tables *state_deploy_tables_ref(struct deploy_tables *t);
void state_deploy_tables_unref(struct deploy_tables *t);
