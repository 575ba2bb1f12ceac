/* alloc_runner.h - runs one allocation on this node: its directory, its tasks
 * (one task runner each, through their drivers), restarts, kills, and the task
 * states and client status reported to the servers. Loop thread only.
 *
 * Layout (Nomad's): <data-dir>/alloc/<alloc-id>/alloc/{logs,tmp,data}/ and
 * <data-dir>/alloc/<alloc-id>/<task>/{local,secrets,tmp}/; task output goes to
 * alloc/logs/<task>.stdout.0 and .stderr.0; a task runs in <task>/local.
 * Owners, modes and the secrets/ tmpfs: alloc_dir.h (made off the loop with
 * env.async_setup; a task's tmpfs is detached once it is dead for good).
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

#include "common/model.h"

struct agent_state;
struct error;
struct logmon;
struct alloc_runner;
struct taskenv_user;
struct text_buf;

struct alloc_runner_env {
        uv_loop_t *loop;
        const char *data_dir;
        const char *node_id;
        const char *node_name;
        const char *dc;
        /* The agent's environment (environ-style; may be NULL): tasks get only LANG,
         * LC_ALL, TZ and the env_passthrough names of it (taskenv.h). */
        char *const *host_env;
        const char *env_passthrough;
        /* Who tasks that name no user and get no workload id run as (raw_exec: the
         * agent's user), for their HOME, USER, LOGNAME, SHELL; may be NULL. */
        const struct taskenv_user *agent_user;
        /* Where running tasks' driver handles are saved for a restarted agent; may be NULL. */
        struct agent_state *state;
        /* The agent's log collector (logmon.h); tasks' output goes through it. */
        struct logmon *logmon;
        /* alloc_runner_start makes the directories (and the tasks' log FIFOs) on
         * libuv's thread pool, and starts the tasks once that is done: several
         * allocations' file-system work at once, off the loop. */
        bool async_setup;
        /* Called (on the loop) whenever task states or the client status change. */
        void (*changed)(struct alloc_runner *ar, void *data);
        void *data;
};

/* Takes a reference to a. Records the "Received" event; starts nothing yet. */
struct alloc_runner *alloc_runner_create(const struct alloc_runner_env *env, struct alloc *a);
/* Make the directories and start the tasks in their lifecycle order (with
 * env.async_setup: the directories on the thread pool first; alloc_runner_setting_up
 * until then, and changed is called when it is over). The order, Nomad's: prestart
 * tasks; the main tasks (no lifecycle hook) once every prestart task that is no
 * sidecar exited 0 and every prestart sidecar runs; poststart tasks once every main
 * task runs; sidecars and poststart tasks killed once every main task is dead;
 * poststop tasks once every other task is dead. It is derived from the task states
 * after each change, so alloc_runner_restore resumes it. */
void alloc_runner_start(struct alloc_runner *ar);
bool alloc_runner_setting_up(const struct alloc_runner *ar);
/* The allocation ran under an earlier agent process: carry over the task states
 * the servers last heard (a->task_states), re-attach to every task whose saved
 * handle still names a live process, apply the restart policy to running tasks
 * whose process is gone (exit status unknown), and start pending ones in their
 * lifecycle turn (dead ones, such as a prestart task that completed, stay dead). */
void alloc_runner_restore(struct alloc_runner *ar);
/* Kill every task (kill_signal, SIGKILL after kill_timeout) and restart none;
 * poststop tasks then run (they are not killed). */
void alloc_runner_stop(struct alloc_runner *ar);
bool alloc_runner_stopping(const struct alloc_runner *ar);
/* Every task is dead (nothing running, nothing waiting to restart). */
bool alloc_runner_finished(const struct alloc_runner *ar);
const char *alloc_runner_id(const struct alloc_runner *ar);
enum alloc_client alloc_runner_client_status(const struct alloc_runner *ar);
/* {"ID", "ClientStatus", "ClientDescription", "TaskStates"} for PUT /v1/node/<id>/allocations,
 * appended to b as JSON text (update_text.h: no jansson tree per update). */
void alloc_runner_update_write(const struct alloc_runner *ar, struct text_buf *b);
/* The same parsed (tests, and what a failed send is requeued from); NULL when out of memory. */
json_t *alloc_runner_update_json(const struct alloc_runner *ar);
/* Nomad's alloc restart: kill the task (kill_signal, SIGKILL after kill_timeout)
 * with a "Restart Signaled" event and start it again at once ("Restarting"),
 * without counting it against the restart policy. task NULL or "": every running
 * task. all_tasks (Nomad's -all-tasks, no task then: -EINVAL): every task but the
 * poststop ones runs again in its lifecycle order, those that already ran
 * included: running ones are killed, the prestart tasks (a completed one runs
 * again) start first, the main tasks once they completed, the poststart ones once
 * the main tasks run. -ENOENT for an unknown task, -ESRCH ("Task not running")
 * when none runs. */
int alloc_runner_restart(struct alloc_runner *ar, const char *task, bool all_tasks, struct error *err);
/* Nomad's alloc signal: send sig to the task (NULL or "": every running task),
 * with a "Signaling" event. Errors as alloc_runner_restart. */
int alloc_runner_signal(struct alloc_runner *ar, const char *task, int sig, struct error *err);
/* Stop watching and free (asynchronously). Tasks still running keep running. */
void alloc_runner_destroy(struct alloc_runner *ar);

/* Nomad's rule: failed if any task failed, else running if any runs, else
 * pending if any is pending, else complete. ret_desc gets Nomad's description. */
enum alloc_client alloc_status_from_tasks(const struct task_state *ts, size_t n, const char **ret_desc);
