/* worker.h - scheduler workers: threads that run the pure scheduler over an
 * immutable snapshot, and the loop-side plan applier that commits their plans.
 *
 * A worker thread never touches the live state. It receives (eval, token,
 * snapshot) from the loop, runs scheduler_process(), and every planner call
 * (submit plan, update eval, create eval) becomes a request that the loop
 * thread serves — plans one at a time, evaluated against the latest state and
 * committed through Raft — while the worker waits for the answer. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

struct server;
struct workers;

int workers_create(struct server *s, int n, struct workers **ret);
/* Stop and join the threads (answers their outstanding requests with errors). */
struct workers *workers_destroy(struct workers *w);
/* Hand ready evals from the broker to idle workers. Loop thread only. */
void workers_dispatch(struct workers *w);
int workers_busy(const struct workers *w);
