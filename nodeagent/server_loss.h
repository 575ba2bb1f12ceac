/* server_loss.h - may the agent stop an allocation its servers no longer list?
 *
 * Servers that lost their data (a wiped data dir, an old snapshot restored) answer
 * the agent's allocation watch with fewer allocations, or none. Stopping what they
 * no longer list would kill the node's workload for the servers' mistake. The
 * agent tells this tracker what it sees of the servers: the index of every watch
 * answer, a registration the servers forced (they did not know the node: a 404),
 * a call that failed. A sign of a loss -- the watch index going back below the
 * highest one seen, a forced registration, or (at start) running tasks of
 * allocations the servers do not list -- opens a grace period. The period
 * ends once the servers have answered without trouble for its whole length: a
 * further sign of loss, or a failed call during the period, starts its clock
 * again. Inside it, an allocation missing from the servers' list is held;
 * outside it, it is stopped at once (a job purged, an allocation collected).
 *
 * Pure and deterministic: no I/O, no clock of its own (every call takes now, a
 * monotonic time in ns), O(1) per call. max_index never decreases except when a
 * regression resets it to the new servers' index (their history starts over).
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

enum server_loss_sign {
        SERVER_LOSS_INDEX_BACK,   /* the watch index went below the highest seen */
        SERVER_LOSS_REREGISTERED, /* the servers did not know the node; it registered again */
        /* At the agent's start: tasks a previous agent left running belong to
         * allocations the servers' first full list lacks. */
        SERVER_LOSS_ORPHANS,
};

struct server_loss {
        int64_t grace_ns;   /* 0: never hold (the protection is off) */
        uint64_t max_index; /* highest watch index of the servers' current history */
        /* The last sign of loss, or failed call during a grace period; 0: none yet.
         * The grace period runs until stable_since + grace_ns. */
        int64_t stable_since;
};

void server_loss_init(struct server_loss *s, int64_t grace_ns);

/* A successful watch answer at index (0: no index, ignored). Returns true when it
 * is a sign of loss (below the highest seen); the highest seen becomes index. */
bool server_loss_watch_index(struct server_loss *s, uint64_t index, int64_t now);

/* A sign of loss seen elsewhere (SERVER_LOSS_REREGISTERED). Opens the grace
 * period or starts its clock again. No-op when grace_ns is 0. */
void server_loss_sign(struct server_loss *s, enum server_loss_sign sign, int64_t now);

/* A call to the servers failed (unreachable, an error answer): during a grace
 * period, the servers are not stable yet: its clock starts again. */
void server_loss_failed(struct server_loss *s, int64_t now);

/* True while a grace period runs at now. */
bool server_loss_in_grace(const struct server_loss *s, int64_t now);

/* For a running allocation missing from the servers' full list: 0 to stop it
 * now, or the monotonic time (> now) until which it is held. */
int64_t server_loss_hold_until(const struct server_loss *s, int64_t now);
