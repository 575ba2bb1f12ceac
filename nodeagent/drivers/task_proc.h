/* task_proc.h - one running task process watched from the agent's libuv loop.
 *
 * Wraps a driver: start, exit notification (a uv_poll on the driver's exit fd,
 * e.g. a pidfd), and stop with escalation: the kill signal now, SIGKILL when
 * the kill timeout passes. Loop thread only.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "nodeagent/drivers/driver.h"

struct task_proc;

typedef void (*task_proc_exit_fn)(struct task_proc *p, const struct driver_exit *ex, void *data);

/* Start through ops; on_exit runs once, on the loop, when the task ends. */
int task_proc_start(uv_loop_t *loop, const struct driver_ops *ops, const struct driver_spec *spec,
                    task_proc_exit_fn on_exit, void *data, struct task_proc **ret, struct error *err);

typedef void (*task_proc_started_fn)(struct task_proc *p, int r, const struct error *err, void *data);

/* Start without waiting where the driver can (->start_async: raw_exec through the
 * log collector). Returns 0 with *ret starting: on_started runs later, on the
 * loop, once: r = 0 the task runs (on_exit follows when it ends), r < 0 it did
 * not start (err says why; free p). Returns 1 when the task was started at once
 * (the driver cannot start asynchronously; on_started is not called), negative
 * errno when it could not start (nothing to free). While starting, task_proc_kill
 * is remembered and applied once it runs; task_proc_free makes the task be killed
 * when it starts (nobody would watch it). */
int task_proc_start_async(uv_loop_t *loop, const struct driver_ops *ops, const struct driver_spec *spec,
                          task_proc_started_fn on_started, task_proc_exit_fn on_exit, void *data,
                          struct task_proc **ret, struct error *err);
bool task_proc_starting(const struct task_proc *p);

/* Watch a task an earlier agent started, from its saved handle (ops->recover
 * checks that the process is still the same one). -ESRCH when it is gone. */
int task_proc_attach(uv_loop_t *loop, const struct driver_ops *ops, const struct driver_handle *h,
                     task_proc_exit_fn on_exit, void *data, struct task_proc **ret, struct error *err);

/* Send sig to the task now and SIGKILL after timeout_ns if it is still running.
 * A second call does not restart the timer. Returns 0 or negative errno. */
int task_proc_kill(struct task_proc *p, int sig, int64_t timeout_ns);

const struct driver_handle *task_proc_handle(const struct task_proc *p);
bool task_proc_exited(const struct task_proc *p);

/* Stop watching and free (asynchronously, after the loop closes the handles).
 * Does not kill the task: a process still running keeps running. Safe to call
 * from on_exit. Accepts NULL. */
void task_proc_free(struct task_proc *p);
