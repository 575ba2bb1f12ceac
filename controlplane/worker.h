/* worker.h - scheduler workers: threads that run the pure scheduler over an
 * immutable snapshot, and the loop-side plan applier that commits their plans.
 *
 * A worker thread never touches the live state. It receives (eval, token,
 * snapshot) from the loop, runs scheduler_process(), and every planner call
 * (submit plan, update eval, create eval) becomes a request that the loop
 * thread serves — plans in batches, checked on libuv's pool against a snapshot of
 * the state plus the results still in flight, one batch at a time, and committed
 * through Raft — while the worker waits for the answer. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "controlplane/broker/waiters.h"

struct batch_part;
struct plan_result;
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
         * the first rejection among them, or 0. decoded: NULL, or per part the plan
         * result its bytes decode to (taken; NULL for none), for this server's FSM. */
        int (*propose_parts)(void *data, struct batch_part *parts, struct plan_result **decoded, size_t n,
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
        bool tls;   /* the servers' HTTP API speaks HTTPS (-tls-http): so do calls to the leader */
};

int workers_create(const struct workers_config *cfg, struct workers **ret);
/* Stop and join the threads (answers their outstanding requests with errors). */
struct workers *workers_destroy(struct workers *w);
/* Hand ready evals from the broker to idle workers. Loop thread only. */
void workers_dispatch(struct workers *w);
int workers_busy(const struct workers *w);

/* Scheduler workers on every server. On the leader, workers_dispatch hands them the
 * broker's evals. On a follower, with the leader's HTTP address set here, each idle
 * thread takes evals from the leader's broker (POST /v1/internal/sched/dequeue),
 * waits until the local state has reached the index the leader gave with it,
 * schedules it on a local snapshot, and sends its plans and eval updates to the
 * leader (.../plan, .../eval) and its ack (.../ack), each with the servers' secret
 * (X-Drover-Server-Secret), which this call copies from the live state. NULL or
 * "": none (this server leads, or no leader is known). Loop thread. */
void workers_set_leader(struct workers *w, const char *leader_http);

/* Leader: another server's worker waits up to wait_ns for an eval of this broker
 * (a dequeue that found none ready). fn(arg, ev, token) runs once, on the loop:
 * with the eval when the dispatcher hands it one (in the order workers became idle,
 * this server's and others' alike), or with none (NULL) when the wait ends, this
 * server loses the leadership or stops. -EAGAIN when not the leader or
 * WORKERS_MAX_WAITERS already wait (answer at once). */
#define WORKERS_MAX_WAITERS 1024
#define WORKERS_DEQUEUE_WAIT_MS 1000     /* what a follower's worker asks for */
#define WORKERS_DEQUEUE_MAX_WAIT_MS 5000 /* what the leader grants at most */
int workers_wait_eval(struct workers *w, int64_t wait_ns, eval_waiter_fn fn, void *arg);
/* The live state has reached index (after an apply or a restore): a follower's
 * worker waiting for it to plan an eval of the leader's broker goes on. Loop thread. */
void workers_state_reached(struct workers *w, uint64_t index);
/* Ends the waits that ran out (the server's tick). */
void workers_tick(struct workers *w);
/* Answers every waiting worker of another server with none. */
void workers_leadership_lost(struct workers *w);

/* Leader: a plan from another server's worker joins the plan queue (the plan is
 * taken); cb(arg, status, result) once it is committed (result borrowed for the call;
 * NULL when status < 0), or rejected (-ESTALE: the token is no longer outstanding). */
struct plan;
struct plan_result;
typedef void (*workers_remote_cb)(void *arg, int status, const struct plan_result *result);
int workers_submit_remote(struct workers *w, struct plan *plan, const char *token, workers_remote_cb cb, void *arg);

/* Evals this server's workers finished: taken from its own broker (leader), and
 * from the leader's (follower). */
void workers_counts(struct workers *w, unsigned long *ret_local, unsigned long *ret_remote);
