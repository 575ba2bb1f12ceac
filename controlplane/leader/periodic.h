/* periodic.h - the leader's periodic-job dispatcher, and the child jobs that
 * periodic and parameterized parents launch.
 *
 * A periodic parent (Job.Periodic set, not stopped, Enabled) is never placed
 * itself: at each time its cron specs give, the leader registers a child batch job
 * "<parent>/periodic-<unix seconds>" (ParentID = parent, Periodic removed) with an
 * eval, as one JobRegister Raft command (ops->launch). ProhibitOverlap skips a
 * launch while an earlier child is not dead. Launches missed while there was no
 * leader: the new leader launches once, at once (Nomad launches only the most
 * recent one); launches missed while this leader's loop stood still likewise
 * collapse into the latest due one.
 *
 * Deterministic: time comes in as an argument (unix seconds) and the state as a
 * store or snapshot, so tests drive it with a fake clock. Called on the leader's
 * loop only. It learns of job changes as they are applied (periodic_applied), not
 * by scanning: the parents are kept in a heap by next launch. Costs: periodic_tick
 * is O(1) when nothing is due, O(log parents) per launch; a change to a job
 * O(log parents); a launch of a ProhibitOverlap parent scans the jobs of its
 * namespace once.
 *
 * A restored state (a StateRestore command) and the state at leadership
 * (periodic_restore) are read whole, O(jobs): with an offload
 * (the server's: libuv's pool) off the loop, from a snapshot of the restored state,
 * into a new heap that the next tick or command swaps in (a pointer swap, then the
 * jobs changed meanwhile re-read: O(changes)); the old heap is freed off the loop too.
 * Until then ticks launch nothing (a launch due meanwhile goes at the first tick after
 * the swap). Without an offload, on the spot.
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

struct error;
struct job;
struct state_store;

struct periodic_ops {
        /* Register child (the callee takes no ownership; 0 or a negative errno). The
         * dispatcher has already moved on to the next launch either way. */
        int (*launch)(void *data, const struct job *child);
        /* Optional: run work(arg) on another thread, then done(arg, canceled) on the
         * caller's (0, or a negative errno: then nothing runs and the dispatcher works
         * on the spot). */
        int (*offload)(void *data, void (*work)(void *arg), void (*done)(void *arg, bool canceled), void *arg);
};

struct periodic;

struct periodic *periodic_create(const struct periodic_ops *ops, void *data);
/* NULL ok; returns NULL. With offloaded work in flight, the end of the last frees it. */
struct periodic *periodic_destroy(struct periodic *p);

/* Leadership gained: track every periodic parent of st; a parent whose next launch
 * after its last one (its newest child, else its submit time) is already past
 * launches once, now. O(jobs) (one walk finds every parent's newest child): with an
 * offload, off the loop like a restored state, the missed launches made at the swap
 * (returns 0); without, on the spot: returns the number launched. */
int periodic_restore(struct periodic *p, const struct state_store *st, int64_t now_s);
/* Leadership lost: forget everything. */
void periodic_clear(struct periodic *p);
/* Leader tick: launch what is due at now_s. Returns launches. */
int periodic_tick(struct periodic *p, const struct state_store *st, int64_t now_s);
/* A command applied to st (on the leader, after periodic_restore): a JobRegister,
 * JobDeregister or GC re-reads the jobs it names, a StateRestore every job (off the
 * loop with an offload; a new or changed parent launches next from now_s); others
 * are ignored. 0 or -ENOMEM. */
int periodic_applied(struct periodic *p, const struct state_store *st, const json_t *cmd, int64_t now_s);
/* Job ns/id changed in st: tracked, updated or dropped as it now is. 0 or -ENOMEM. */
int periodic_job_changed(struct periodic *p, const struct state_store *st, const char *ns, const char *id,
                         int64_t now_s);
/* When ns/id launches next (unix seconds), 0 when it is not tracked. */
int64_t periodic_next_launch(const struct periodic *p, const char *ns, const char *id);
/* Whether a restored state (or the state at leadership) is being read off the loop
 * and not yet swapped in. */
bool periodic_rebuilding(const struct periodic *p);

/* ---- child jobs (also for the API's periodic/force and dispatch) ---- */

/* "<parent>/periodic-<launch_s>": a batch copy of parent without Periodic, with
 * ParentID. -ENOMEM. */
int periodic_child(const struct job *parent, int64_t launch_s, struct job **ret);
/* Whether a child of parent_id (ID "<parent>/periodic-...") is not dead in st. */
bool periodic_has_live_child(const struct state_store *st, const char *ns, const char *parent_id);
/* Nomad's JobChildrenSummary of a periodic or parameterized parent: its children
 * (periodic and dispatched, "<parent>/...") by status. O(jobs of the namespace). */
struct periodic_children {
        int pending, running, dead;
};
void periodic_children(const struct state_store *st, const char *ns, const char *parent_id,
                       struct periodic_children *ret);
/* The newest launch time of parent's periodic children in st, 0 when none. */
int64_t periodic_last_launch(const struct state_store *st, const char *ns, const char *parent_id);
/* The JobRegister command for child with a new pending eval (eval_id, triggered
 * by `trigger`, created at now_ns). */
json_t *periodic_register_command(const struct job *child, const char *eval_id, const char *trigger, int64_t now_ns);
