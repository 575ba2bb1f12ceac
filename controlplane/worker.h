/* worker.h - scheduler workers: threads that run the pure scheduler over an
 * immutable snapshot, and the loop-side plan applier that commits their plans.
 *
 * A worker thread never touches the live state. It receives (eval, token,
 * snapshot) from the loop, runs scheduler_process(), and every planner call
 * (submit plan, update eval, create eval) becomes a request that the loop
 * thread serves — plans one at a time, evaluated against the latest state and
 * committed through Raft — while the worker waits for the answer. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct batch_part;
struct broker;
struct state_store;
struct uv_loop_s;
struct workers;

struct workers_ops {
        /* Propose a command (stolen) through Raft; cb once it is applied locally
         * (status 0) or rejected/not committed (negative, msg says why). */
        int (*propose)(void *data, json_t *cmd, void (*cb)(void *arg, int status, uint64_t index, const char *msg),
                       void *arg);
        /* Propose parts (raft/batch.h; their buffers taken) as one command group that
         * shares an entry with what else is proposed on this turn of the loop; cb gets
         * the first rejection among them, or 0. */
        int (*propose_parts)(void *data, struct batch_part *parts, size_t n,
                             void (*cb)(void *arg, int status, uint64_t index, const char *msg), void *arg);
        /* Workers take evals only while this server leads. */
        bool (*is_leader)(void *data);
};

struct workers_config {
        struct uv_loop_s *loop;
        struct broker *broker;
        struct state_store *const *state; /* slot of the live state */
        int n;                            /* threads */
        const struct workers_ops *ops;
        void *data; /* passed to every op */
};

int workers_create(const struct workers_config *cfg, struct workers **ret);
/* Stop and join the threads (answers their outstanding requests with errors). */
struct workers *workers_destroy(struct workers *w);
/* Hand ready evals from the broker to idle workers. Loop thread only. */
void workers_dispatch(struct workers *w);
int workers_busy(const struct workers *w);
