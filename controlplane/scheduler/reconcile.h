/* reconcile.h - Nomad's reconciler for service and batch jobs, as a pure function:
 * from a job and its allocations, the allocations to stop and the (group, index)
 * slots to place. No state store, no plan, no clock: table-tested in
 * tests/unit/test_sched_reconcile.c.
 *
 * Rules (scheduler/reconciler, simplified to what drover models):
 * - job NULL (purged) or stopped: every non-terminal alloc is stopped;
 * - allocs of a group the job no longer has are stopped;
 * - per group: running allocs on a lost node are stopped (client status lost) and
 *   replaced under the same name; complete or lost allocs of a service job are
 *   replaced, the lost ones (client status lost: their node went down) stopped too,
 *   as Nomad's are ("alloc is lost since its node is down"); completed batch allocs
 *   count as done and are not replaced;
 * - failed allocs (service and batch) follow the reschedule policy (reschedule.h):
 *   replaced now when eligible and their delay has passed (or when in->eval_id is the
 *   follow-up eval recorded in its FollowupEvalID, Nomad's updateByReschedulable);
 *   when it has not, the slot waits and, unless the alloc records a follow-up eval
 *   already, out->delayed lists it with its time (out->followup_ns the earliest) for
 *   the scheduler to create one; when not eligible, the slot stays failed (not
 *   replaced). A failed alloc some alloc already replaced (its PreviousAllocation) is
 *   left alone;
 * - running allocs on a draining node are migrated: stopped ("alloc is being
 *   migrated") and replaced under the same name, at most the group's
 *   migrate.max_parallel (default 1) at a time: replacements of migrated allocs that
 *   are still pending count against it;
 *   above `count`, allocs of an older job version are stopped first, then the
 *   highest indexes; missing slots are filled with the replacements' indexes first,
 *   then the lowest free indexes;
 * - job updates (update.h): a live alloc of an older job version is updated in place
 *   (out->inplace: every one at once) when sched_tasks_updated says no new alloc is
 *   needed, else replaced destructively: stopped ("alloc is being updated due to job
 *   update") and placed again under the same name, at most the group's
 *   update.max_parallel at a time (service jobs, default 1; 0 and batch jobs: all at
 *   once). Allocs of the new version that are not healthy yet count against it:
 *   pending ones, and running ones that a deployment tracks until it marks them
 *   healthy (an alloc outside any deployment is healthy once running). With
 *   in->updates_blocked (a paused or failed deployment) no destructive update starts;
 * - canaries (update.canary = N, with in->deploy for the job's version): while the
 *   deployment's group is not promoted and allocs of an older version need a
 *   destructive update, N canaries of the new version are placed beside them (named
 *   after the old allocs they will replace; the deployment's canaries already there
 *   count) and no destructive update starts. Unpromoted canaries do not count toward
 *   `count`. Once promoted they do: the old allocs above count are stopped (older
 *   versions first), the rest replaced max_parallel at a time.
 * Cost: O(allocs + sum of group counts), never groups x allocs.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "common/model.h"

struct deployment;

struct reconcile_stop {
        struct alloc *alloc;     /* borrowed from the input */
        const char *description; /* static string */
        int client_status;       /* -1 unchanged, else enum alloc_client (lost) */
};

struct place_req {
        size_t group;             /* index into job->groups */
        int index;                /* the alloc name's index: "<job>.<group>[index]" */
        const struct alloc *prev; /* the alloc it replaces, or NULL (borrowed) */
        bool canary;              /* a canary of the deployment (beside the old allocs) */
};

struct reconcile_inplace {
        struct alloc *alloc; /* borrowed: gets the job's new version, keeps its node */
        size_t group;
};

struct reconcile_in {
        const struct job *job; /* NULL when the job was purged */
        struct alloc *const *allocs;
        size_t n_allocs;
        bool batch;  /* batch semantics: completed allocs are done */
        int64_t now; /* unix ns: reschedule delays */
        const char *eval_id; /* the eval being processed (NULL: none): FollowupEvalID */
        /* Is the node gone or down? */
        bool (*node_lost)(void *data, const char *node_id);
        /* Is the node draining (NULL: no migrations)? */
        bool (*node_draining)(void *data, const char *node_id);
        void *data;
        bool updates_blocked; /* no destructive updates now (paused or failed deployment) */
        /* The job version's active deployment (state_deploy.h), or NULL: its canaries. */
        const struct deployment *deploy;
};

/* A failed alloc whose replacement waits for its reschedule delay, with no follow-up
 * eval recorded yet (FollowupEvalID empty). */
struct reconcile_delayed {
        struct alloc *alloc; /* borrowed from the input */
        int64_t when;        /* unix ns: its replacement may be placed then */
};

/* Ordered by group (ascending), then as they should be placed. */
struct reconcile_out {
        struct reconcile_stop *stops;
        size_t n_stops;
        struct place_req *place;
        size_t n_place;
        struct reconcile_inplace *inplace; /* allocs updated in place, by group */
        size_t n_inplace;
        size_t n_destructive; /* of the stops, destructive updates (replaced in place) */
        struct reconcile_delayed *delayed; /* in input order */
        size_t n_delayed;
        int64_t followup_ns; /* the earliest time of delayed (unix ns), 0: none */
};

/* The follow-up eval an alloc records (Nomad's FollowupEvalID, kept in its extra JSON),
 * or NULL when none. */
const char *sched_followup_eval_id(const struct alloc *a);

extern const char sched_desc_not_needed[]; /* "alloc not needed due to job update" */
extern const char sched_desc_lost[];       /* "alloc is lost since its node is down" */
extern const char sched_desc_migrate[];    /* "alloc is being migrated" */
extern const char sched_desc_update[];     /* "alloc is being updated due to job update" */

/* 0, or -ENOMEM (out is then empty). out is the caller's; release it with reconcile_out_free. */
int sched_reconcile(const struct reconcile_in *in, struct reconcile_out *out);
void reconcile_out_free(struct reconcile_out *out);
