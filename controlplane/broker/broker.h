/* broker.h - the eval broker (Nomad's nomad/eval_broker.go), leader only.
 *
 * Pure and single-threaded: the server's loop thread calls every function; time
 * comes from the injected clock (monotonic for timers, wall clock only to turn an
 * eval's wait_until into a delay). Nothing blocks: broker_dequeue() answers
 * -EAGAIN when nothing is ready and the server parks its idle workers itself;
 * broker_tick() fires nack timeouts and releases delayed evals, and
 * broker_next_timeout_ns() says when it is next needed.
 *
 * An eval known to the broker is in exactly one place: ready (one priority queue
 * per scheduler type), pending (behind another eval of the same job), delayed
 * (wait_until in the future, or a nack re-enqueue delay), unacked (handed to a
 * worker with a token), or failed (delivery limit reached; the server drains it
 * and marks it failed). At most one eval per (namespace, job) is ready or unacked.
 * The broker holds a reference on every eval it tracks.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/model.h"

struct clock_ops;
struct broker;

struct broker_config {
        int64_t nack_timeout_ns;          /* unacked this long = nacked; Nomad 60 s */
        int delivery_limit;               /* dequeues before the failed queue; Nomad 3 */
        int64_t initial_nack_delay_ns;    /* re-enqueue delay after the 1st nack; Nomad 1 s */
        int64_t subsequent_nack_delay_ns; /* (n-1) x this after the nth nack; Nomad 20 s */
};

/* Nomad's defaults: 60 s, 3, 1 s, 20 s. */
struct broker_config broker_config_default(void);

/* cfg NULL = defaults. The clock must outlive the broker. NULL on bad config or
 * no memory. A new broker is disabled. */
struct broker *broker_create(const struct clock_ops *clock, const struct broker_config *cfg);
/* Accepts NULL; returns NULL. */
struct broker *broker_destroy(struct broker *b);

/* Only the leader's broker is enabled. Disabling drops everything it holds. */
void broker_set_enabled(struct broker *b, bool enabled);
bool broker_enabled(const struct broker *b);

/* Track an eval (takes a reference). An eval already tracked is ignored, so it is
 * safe to enqueue every pending eval an apply touches. 0, -EINVAL for an eval
 * without id or with an unknown type, -ENOTCONN when disabled (dropped), -ENOMEM. */
int broker_enqueue(struct broker *b, struct eval *e);
/* Nomad's EnqueueAll with a token (used by blocked evals on reblock): when e is
 * outstanding under that token it is enqueued again after its Ack (dropped on
 * Nack); otherwise like broker_enqueue. token may be NULL. */
int broker_enqueue_token(struct broker *b, struct eval *e, const char *token);

/* Hand out the best ready eval of the given scheduler types: highest priority
 * first, then lowest create_index, then enqueue order. *ret_eval is a new
 * reference, *ret_token a malloc'd string; the nack timer starts. -EAGAIN when
 * nothing is ready, -ENOTCONN when disabled, -EINVAL for no types, -ENOMEM. */
int broker_dequeue(struct broker *b, const enum job_type *types, size_t n_types, struct eval **ret_eval,
                   char **ret_token);

/* Finish an outstanding eval. -ENOENT when it is not outstanding, -EPERM when the
 * token is not the one it was handed out with. Ack frees the job: the newest
 * pending eval of that job becomes ready and older pending ones become cancelable. */
int broker_ack(struct broker *b, const char *eval_id, const char *token);
/* Give an eval back: re-enqueued after 0, initial, then (n-1) x subsequent delay,
 * or put on the failed queue once it was dequeued delivery_limit times. */
int broker_nack(struct broker *b, const char *eval_id, const char *token);
/* Restart the nack timer of an outstanding eval (a worker still making progress). */
int broker_outstanding_reset(struct broker *b, const char *eval_id, const char *token);
/* Stop / restart (from full) the nack timer, e.g. while the eval's plan is queued. */
int broker_pause_nack_timeout(struct broker *b, const char *eval_id, const char *token);
int broker_resume_nack_timeout(struct broker *b, const char *eval_id, const char *token);
/* The token an eval is outstanding under, or NULL. */
const char *broker_outstanding_token(const struct broker *b, const char *eval_id);
/* Whether a worker still holds eval_id: 0 when it is outstanding under token,
 * -ENOENT when it is not outstanding, -EPERM when it was handed out again (nack
 * timeout, redelivery) under another token. The plan applier and the eval
 * updates and creates of workers check it (Nomad's Plan.Submit, Eval.Update,
 * Eval.Create); nothing of a stale worker is written. */
int broker_check_token(const struct broker *b, const char *eval_id, const char *token);

/* Fire nack timeouts and release delayed evals that are due; returns how many
 * evals changed place. Call it from one loop timer. */
size_t broker_tick(struct broker *b);
/* Nanoseconds until broker_tick() has work (0 = now), or -1 when no timer runs. */
int64_t broker_next_timeout_ns(const struct broker *b);

/* Take the evals that reached the delivery limit (oldest first); the server marks
 * them failed. *ret is a malloc'd array of references (the caller unrefs each and
 * frees it; NULL when none). Each drained eval frees its job like an Ack. */
size_t broker_drain_failed(struct broker *b, struct eval ***ret);
/* Take the pending evals superseded by a newer eval of the same job; the server
 * marks them canceled. Same ownership as broker_drain_failed. */
size_t broker_drain_cancelable(struct broker *b, struct eval ***ret);

struct broker_type_stats {
        size_t ready;
        size_t unacked;
        size_t pending;
        size_t delayed; /* wait_until or nack delay */
};

struct broker_stats {
        size_t total_ready;
        size_t total_unacked;
        size_t total_pending;
        size_t total_delayed; /* wait_until in the future */
        size_t total_waiting; /* nack re-enqueue delay */
        size_t total_failed;
        size_t total_cancelable;
        struct broker_type_stats by_type[JOB_TYPE_MAX];
};

void broker_stats(const struct broker *b, struct broker_stats *ret);
