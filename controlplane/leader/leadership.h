/* leadership.h - when a server may start its leader duties (pure: Raft is reached
 * through ops). Raft electing this server is not enough: its state may still lack
 * entries the old leader committed. The new leader first appends a barrier and
 * starts its duties (broker, blocked evals, periodic jobs, heartbeat timers, all
 * rebuilt from the state) only from the barrier's callback, once every entry
 * before it is applied here, as Nomad's establishLeadership does after
 * raft.Barrier. Invariants:
 *   - at most one barrier in flight;
 *   - establish runs only from a successful barrier whose term is still this
 *     server's term as leader when it completes (lost meanwhile, even if won
 *     back in a later term: nothing; the later term gets its own barrier);
 *   - revoke runs once for each establish, when Raft says this server no longer
 *     leads that term;
 *   - after leadership_stop nothing runs (a barrier completing while Raft closes
 *     is ignored). */
#pragma once

#include <stdbool.h>
#include <stdint.h>

struct leadership;

struct leadership_ops {
        /* Whether Raft has this server as leader now, and the current term. */
        bool (*raft_leader)(void *data, uint64_t *ret_term);
        /* Append a barrier; its completion must reach leadership_barrier_done.
         * Negative: not sent (retried at the next leadership_observe). */
        int (*barrier)(void *data);
        /* Start the leader duties: the state holds every entry up to index. */
        void (*establish)(void *data, uint64_t index);
        /* Stop them. */
        void (*revoke)(void *data);
};

struct leadership *leadership_create(const struct leadership_ops *ops, void *data);
struct leadership *leadership_destroy(struct leadership *l);

/* Called periodically (the server's tick): reads Raft's view, sends a barrier
 * after an election won, revokes after leadership lost. */
void leadership_observe(struct leadership *l);
/* The barrier's completion: status 0 or negative, index the barrier's. */
void leadership_barrier_done(struct leadership *l, int status, uint64_t index);
/* Whether the leader duties run now. */
bool leadership_established(const struct leadership *l);
/* Whether a barrier is in flight. */
bool leadership_barrier_pending(const struct leadership *l);
/* The server is stopping: ignore everything afterwards (nothing is revoked:
 * the server's own teardown ends the duties). */
void leadership_stop(struct leadership *l);
