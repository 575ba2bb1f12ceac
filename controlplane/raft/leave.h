/* leave.h - a server leaves the Raft configuration before it stops (Nomad's
 * leave_on_terminate).
 *
 * A leader first hands leadership to the most up-to-date voting follower
 * (raft_node_transfer); then, as a follower, this server asks the leader to
 * remove it: DELETE /v1/internal/raft/peer?id=<own id> on the leader's HTTP
 * address, presenting the servers' secret (PERM_SERVER). It is done when the
 * leader answers 200, or when the configuration it sees no longer holds it.
 * The remaining voters keep quorum among themselves: with 3 voters, one that
 * leaves leaves a cluster of 2 that still commits (a crashed one would leave 2
 * of 3, and a second crash would stop writes). The last voter does not leave.
 *
 * Bounded: after timeout_ms (no leader known, none answering, a transfer that
 * fails) it gives up, says so, and reports it; the server stops anyway. Every
 * step runs on the loop from a 100 ms timer; the HTTP call runs on the pool
 * (cluster_call_server) with the time left as its timeout. */
#pragma once

#include <stdint.h>

struct cluster;
struct raft_node;
struct state_store;
struct uv_loop_s;

/* Time a server waits to be removed before it stops without (5 s). */
#define LEAVE_TIMEOUT_MS 5000

struct leave_config {
        struct uv_loop_s *loop;
        /* The server's own fields, read at every step: NULL once closed or stopping
         * (the leave then ends at once, -ECANCELED). */
        struct raft_node *const *raft;
        struct cluster *const *cluster;
        struct state_store *const *state; /* the servers' secret */
        uint64_t id;                       /* this server's Raft ID */
        unsigned timeout_ms;               /* 0: LEAVE_TIMEOUT_MS */
        /* Called once: status 0 (left), -ETIMEDOUT, -ECANCELED, or -EBUSY (the
         * last voter, or alone); msg says what happened. The leave is released
         * after it returns, or later when its HTTP call is still on the pool. */
        void (*done)(void *arg, int status, const char *msg);
        void *arg;
};

/* Begin leaving; negative when it cannot start (no memory). */
int leave_start(const struct leave_config *cfg);
