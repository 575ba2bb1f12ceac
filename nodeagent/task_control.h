/* task_control.h - Nomad's client-side alloc restart and alloc signal, on the agent.
 *
 * The agent's HTTP endpoint (logs/log_api.c) runs on libmicrohttpd's thread;
 * task runners live on the agent's libuv loop. A request is queued here from
 * the HTTP thread, woken onto the loop with a uv_async, carried out there
 * (alloc_runner_restart / alloc_runner_signal), and its answer handed back to
 * the waiting HTTP thread. Served paths (the servers forward Nomad's
 * PUT /v1/client/allocation/:id/{restart,signal} here, body fields as query):
 *   PUT /v1/client/allocation/<id>/restart?task=<t>&all=true
 *   PUT /v1/client/allocation/<id>/signal?task=<t>&signal=SIGUSR1
 * Thread rules per function below.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

struct alloc_runner;
struct error;
struct task_control;

/* The runner of an allocation on this node, or NULL (called on the loop). */
typedef struct alloc_runner *(*task_control_lookup_fn)(void *data, const char *alloc_id);

/* Loop thread. */
int task_control_create(uv_loop_t *loop, task_control_lookup_fn lookup, void *data, struct task_control **ret,
                        struct error *err);
/* Loop thread: refuse new requests and wake waiting ones (503), close the async
 * handle; the struct is freed once the handle is closed. Call before stopping the
 * HTTP thread, before the loop runs again (log_api_stop joins it: nobody may
 * still wait here when the struct is freed). Accepts NULL. */
void task_control_close(struct task_control *tc);

/* HTTP thread: carry out action ("restart" or "signal") on the allocation and
 * wait for the loop's answer (at most 10 s). Returns an HTTP status: 200, 400
 * (bad signal, task name), 404 (no such allocation or task here), 409 (task not
 * running), 503 (agent stopping), 504 (the loop did not answer); ret_msg says why. */
int task_control_call(struct task_control *tc, const char *alloc_id, const char *action, const char *task,
                      const char *signal, bool all, char *ret_msg, size_t msg_size);
