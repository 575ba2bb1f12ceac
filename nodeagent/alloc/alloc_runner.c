/* alloc_runner.c - alloc runner and its task runners. */
#include "nodeagent/alloc/alloc_runner.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/base64.h"
#include "common/clock.h"
#include "common/error.h"
#include "common/log.h"
#include "common/macros.h"
#include "isolation/user.h"
#include "nodeagent/alloc/alloc_dir.h"
#include "nodeagent/alloc/restart.h"
#include "nodeagent/alloc/task_memory.h"
#include "nodeagent/alloc/taskenv.h"
#include "nodeagent/alloc/update_text.h"
#include "nodeagent/drivers/driver.h"
#include "nodeagent/drivers/task_cgroup.h"
#include "nodeagent/drivers/task_proc.h"
#include "nodeagent/drivers/task_stats.h"
#include "nodeagent/logs/logmon.h"
#include "nodeagent/state/agent_state.h"
#include "nodeagent/util.h"

#define DEFAULT_KILL_TIMEOUT_NS (5 * NS_PER_SEC)

struct task_runner {
        struct alloc_runner *ar;
        size_t idx; /* into ar->states */
        const struct task *task;
        const struct driver_ops *driver;
        struct restart_tracker tracker;
        bool tracker_started;
        struct task_proc *proc;
        uv_timer_t restart_timer; /* also: waiting for the collector's exit status file */
        struct driver_exit exit;  /* while waiting for it */
        pid_t exit_pid;
        int exit_tries;
        bool awaiting_exit; /* the task ended; its status file is not there yet */
        bool exited_while_down; /* ...and it ended while no agent ran (restore) */
        uv_timer_t drain_timer; /* bounds the wait for the log collector */
        uv_poll_t drain_poll;   /* on the collector's pidfd, while draining */
        int drain_fd;
        bool draining;
        bool kill_requested;
        bool restart_requested; /* alloc restart: start again at once, not counted by the policy */
        bool rerun_requested;   /* alloc restart -all-tasks: pending again once it exits, started in its turn */
        bool env_built;
        struct strmap env;
        char *task_dir; /* <alloc_dir>/<task>: sized to fit (a 4 KiB buffer per task was most of a runner) */
        bool log_prepared; /* the setup worker made its FIFOs and logmeta (logmon_prepare) */
        /* Who the task runs as and owns its directories (alloc_dir.h): owner_set once
         * known (a dynamic workload id taken on the loop, or its user looked up by the
         * setup); else root owns them and the driver decides. */
        bool owner_set;
        uid_t uid;
        gid_t gid;
        uint32_t dyn_uid; /* a workload id this runner holds (ar->id_driver), 0 = none */
        struct taskenv_user user; /* the task's `user`'s entry (HOME, USER, ...), looked up with owner_set */
        bool ended;       /* dead when the setup began: its secrets/ is not mounted */
        bool launched;    /* started once (lifecycle order: advance starts each task once) */
        bool memory_max_warned; /* said once that its memory_max is ignored (task_memory.h) */
};

struct alloc_runner {
        struct alloc_runner_env env;
        struct alloc *alloc;
        const struct task_group *tg;
        bool batch;
        bool stopping;
        char *alloc_dir; /* <data_dir>/alloc/<id> */
        char *setup_error;
        struct task_state *states;
        struct task_runner *tasks;
        size_t n_tasks;
        int open_handles;
        int draining; /* tasks whose log collector is still draining: status reports wait */
        /* env.async_setup: the directories are made on a thread-pool thread, which
         * reads only alloc_dir, the tasks' names and task_dir, and writes setup_r,
         * setup_msg and the tasks' log_prepared; the loop reads them once it is done. */
        uv_work_t setup_work;
        bool setting_up;
        bool destroyed;
        int setup_r;
        char setup_msg[256];
        struct alloc_dir_result setup_dirs; /* how secrets/ went */
        /* The workload ids of tasks that name no user: one uid each, and one gid for
         * the allocation (so that they share alloc/), held until every task is dead
         * for good (or the runner is freed). */
        const struct driver_ops *id_driver;
        uint32_t dyn_gid;
        /* Lifecycle order (advance): the directories are there, so tasks may start in
         * their turn; advance is running (a start that completes at once re-enters it
         * through notify), and ran into a change it must look at again. */
        bool ready;
        bool advancing;
        bool advance_again;
};

static void start_task(struct task_runner *tr);
static void run_again(struct task_runner *tr);
static void advance(struct alloc_runner *ar);
static void release_ids(struct alloc_runner *ar);
static void free_runner(struct alloc_runner *ar);

static struct task_state *st(struct task_runner *tr) {
        return &tr->ar->states[tr->idx];
}

static void notify(struct alloc_runner *ar) {
        advance(ar); /* a task's state changed: maybe the next lifecycle phase's turn */
        /* A dead task is reported once its collector has written all its logs. */
        if (ar->env.changed && ar->draining == 0)
                ar->env.changed(ar, ar->env.data);
}

static void event(struct task_runner *tr, const char *type, int exit_code, int sig, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static void event(struct task_runner *tr, const char *type, int exit_code, int sig, const char *fmt, ...) {
        char msg[512];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        task_state_add_event(st(tr), type, msg, clock_now_ns(), exit_code, sig);
        log_debug("alloc %.8s task %s: %s: %s", tr->ar->alloc->id, tr->task->name, type, msg);
}

static void on_handle_closed(uv_handle_t *h);

static void on_drain_poll_closed(uv_handle_t *h) {
        struct task_runner *tr = h->data;
        close(tr->drain_fd);
        tr->drain_fd = -1;
        on_handle_closed(h);
}

static void drain_done(struct task_runner *tr) {
        if (!tr->draining)
                return;
        tr->draining = false;
        uv_timer_stop(&tr->drain_timer);
        uv_poll_stop(&tr->drain_poll);
        uv_close((uv_handle_t *)&tr->drain_poll, on_drain_poll_closed);
        if (--tr->ar->draining == 0)
                notify(tr->ar);
}

static void on_drain_poll(uv_poll_t *p, int status, int events) {
        drain_done(p->data);
}

static void on_drain_timer(uv_timer_t *t) {
        drain_done(t->data);
}

/* A task dead for good needs its secrets/ no more: the tmpfs is detached (one
 * umount2, MNT_DETACH: it does not wait). While the setup worker may still be
 * mounting it, setup_finished does it instead. */
static void release_secrets(struct task_runner *tr) {
        struct error err = {0};
        if (!tr->ar->setting_up && tr->ar->alloc_dir &&
            alloc_dir_release_task(tr->ar->alloc_dir, tr->task->name, &err) < 0)
                log_warn("alloc %.8s task %s: %s", tr->ar->alloc->id, tr->task->name, err.msg);
}

static void set_dead(struct task_runner *tr, bool failed) {
        release_secrets(tr);
        /* Dead for good: the log collector writes what is left of its output. The wait
         * for that runs on the loop (a pipe the collector closes), not in it, so that
         * other allocations start meanwhile; notify() holds the alloc's status report
         * until it is over. */
        char logdir[4200];
        snprintf(logdir, sizeof(logdir), "%s/alloc/logs", tr->ar->alloc_dir);
        int pfd = tr->draining || tr->task->logs.disabled ? -1 : logmon_signal(tr->ar->env.logmon, logdir, tr->task->name);
        if (pfd >= 0) {
                if (uv_poll_init(tr->ar->env.loop, &tr->drain_poll, pfd) == 0) {
                        tr->drain_poll.data = tr;
                        tr->drain_fd = pfd;
                        tr->draining = true;
                        tr->ar->draining++;
                        tr->ar->open_handles++;
                        uv_poll_start(&tr->drain_poll, UV_READABLE, on_drain_poll);
                        uv_timer_start(&tr->drain_timer, on_drain_timer, 1000, 0);
                } else {
                        close(pfd);
                }
        }
        st(tr)->state = TASK_DEAD;
        st(tr)->failed = st(tr)->failed || failed;
        st(tr)->finished_at = clock_now_ns();
        /* No task of it runs any more, nor will: its workload ids go back to the
         * range (a uid's files left here are out of reach of other exec tasks,
         * each confined to its own directories by its mount namespace). Held until
         * the runner goes, the range (10,000 ids by default) would run out on a node
         * that finishes many short batch jobs before the servers forget them. */
        if (!tr->ar->setting_up && alloc_runner_finished(tr->ar))
                release_ids(tr->ar);
}

enum alloc_client alloc_status_from_tasks(const struct task_state *ts, size_t n, const char **ret_desc) {
        bool failed = false, running = false, pending = false;
        for (size_t i = 0; i < n; i++) {
                if (ts[i].state == TASK_RUNNING)
                        running = true;
                else if (ts[i].state == TASK_PENDING)
                        pending = true;
                else if (ts[i].failed)
                        failed = true;
        }
        enum alloc_client s;
        const char *d;
        if (failed) {
                s = ALLOC_CLIENT_FAILED;
                d = "Failed tasks";
        } else if (running) {
                s = ALLOC_CLIENT_RUNNING;
                d = "Tasks are running";
        } else if (pending || n == 0) {
                s = ALLOC_CLIENT_PENDING;
                d = "No tasks have started";
        } else {
                s = ALLOC_CLIENT_COMPLETE;
                d = "All tasks have completed";
        }
        if (ret_desc)
                *ret_desc = d;
        return s;
}

/* ---- killing --------------------------------------------------------------------------- */

/* The allocation is being stopped, and the task is not one that runs after that
 * (poststop tasks run once the others are dead, a stop too: Nomad's cleanup hook). */
static bool stopped(const struct task_runner *tr) {
        return tr->ar->stopping && tr->task->hook != TASK_HOOK_POSTSTOP;
}

static int kill_signal_of(const struct task *t) {
        int sig = t->kill_signal && *t->kill_signal ? signal_parse(t->kill_signal) : SIGINT;
        return sig > 0 ? sig : SIGINT;
}

static void kill_task(struct task_runner *tr, const char *type, const char *why) {
        if (st(tr)->state == TASK_DEAD)
                return;
        if (tr->awaiting_exit) { /* it ended already: reported as killed once its status is read */
                tr->kill_requested = true;
                return;
        }
        uv_timer_stop(&tr->restart_timer);
        if (!tr->proc) {
                /* Not running (never started, or waiting to restart): done now. */
                event(tr, type, 0, 0, "%s", why);
                event(tr, "Killed", 0, 0, "Task successfully killed");
                set_dead(tr, false);
                return;
        }
        if (tr->kill_requested)
                return;
        tr->kill_requested = true;
        int64_t timeout = tr->task->kill_timeout_ns > 0 ? tr->task->kill_timeout_ns : DEFAULT_KILL_TIMEOUT_NS;
        int sig = kill_signal_of(tr->task);
        char t[32];
        format_duration(timeout, t, sizeof(t));
        event(tr, type, 0, sig, "%s: sent %s, waiting %s before force killing", why, strsignal(sig), t);
        task_proc_kill(tr->proc, sig, timeout);
}

static void kill_siblings(struct task_runner *failed) {
        struct alloc_runner *ar = failed->ar;
        char why[256];
        snprintf(why, sizeof(why), "Task's sibling \"%s\" failed", failed->task->name);
        for (size_t i = 0; i < ar->n_tasks; i++)
                if (&ar->tasks[i] != failed && ar->tasks[i].task->hook != TASK_HOOK_POSTSTOP) /* they run next */
                        kill_task(&ar->tasks[i], "Sibling Task Failed", why);
}

/* ---- restarts ---------------------------------------------------------------------------- */

static void on_restart_timer(uv_timer_t *t) {
        start_task(t->data);
}

/* The tracker and when the pending restart is due, for a restarted agent
 * (alloc_runner_restore). */
static void save_restart(struct task_runner *tr, int64_t next_start_ns) {
        struct error err = {0};
        struct task_restart_state rs = {
            .attempts = tr->tracker.count, .window_start_ns = tr->tracker.window_start, .next_start_ns = next_start_ns};
        if (tr->ar->env.state && agent_state_put_restart(tr->ar->env.state, tr->ar->alloc->id, tr->task->name, &rs, &err) < 0)
                log_warn("alloc %.8s task %s: %s (a restarted agent would start it at once)", tr->ar->alloc->id,
                         tr->task->name, err.msg);
}

static void after_end(struct task_runner *tr, enum restart_cause cause, bool exit_ok) {
        struct alloc_runner *ar = tr->ar;
        if (!tr->tracker_started) {
                restart_tracker_init(&tr->tracker, clock_now_ns());
                tr->tracker_started = true;
        }
        /* The task's own policy, else its group's (servers canonicalise, but be safe). */
        const struct restart_policy *policy = tr->task->restart.set ? &tr->task->restart : &ar->tg->restart;
        /* Nomad's tracker: a lifecycle task that is no sidecar is done once it exits 0,
         * whatever the job's type; a sidecar restarts like a service's task. */
        bool batch = tr->task->hook == TASK_HOOK_NONE ? ar->batch : !tr->task->sidecar;
        struct restart_decision d =
            restart_decide(&tr->tracker, policy, batch, cause, exit_ok, clock_now_ns(), drand48());
        switch (d.verdict) {
        case RESTART_DONE:
                set_dead(tr, false);
                break;
        case RESTART_AFTER: {
                char t[32];
                format_duration(d.delay_ns, t, sizeof(t));
                st(tr)->restarts++;
                st(tr)->state = TASK_PENDING;
                event(tr, "Restarting", 0, 0, "Task restarting in %s (%s)", t, d.reason);
                save_restart(tr, clock_now_ns() + d.delay_ns);
                uv_timer_start(&tr->restart_timer, on_restart_timer, (uint64_t)((d.delay_ns + 999999) / NS_PER_MS), 0);
                break;
        }
        case RESTART_GIVE_UP:
                event(tr, "Not Restarting", 0, 0, "%s", d.reason);
                set_dead(tr, true);
                log_info("alloc %.8s task %s failed: %s", ar->alloc->id, tr->task->name, d.reason);
                kill_siblings(tr);
                break;
        }
        notify(ar);
}

/* ---- saved handles (agent restarts) -------------------------------------------------------- */

static void save_handle(struct task_runner *tr) {
        struct error err = {0};
        int r = tr->proc ? task_pid_file_write(tr->task_dir, task_proc_handle(tr->proc)) : 0;
        if (r < 0)
                log_debug("alloc %.8s task %s: pid file: %s (no stats for it)", tr->ar->alloc->id, tr->task->name,
                          strerror(-r));
        if (tr->ar->env.state && tr->proc &&
            agent_state_put_handle(tr->ar->env.state, tr->ar->alloc->id, tr->task->name, task_proc_handle(tr->proc),
                                   &err) < 0)
                log_warn("alloc %.8s task %s: %s (a restarted agent could not re-attach to it)", tr->ar->alloc->id,
                         tr->task->name, err.msg);
}

static void forget_handle(struct task_runner *tr) {
        struct error err = {0};
        task_pid_file_remove(tr->task_dir);
        if (tr->ar->env.state && agent_state_del_handle(tr->ar->env.state, tr->ar->alloc->id, tr->task->name, &err) < 0)
                log_warn("alloc %.8s task %s: %s", tr->ar->alloc->id, tr->task->name, err.msg);
}

/* ---- running ------------------------------------------------------------------------------ */

static void finish_exit(struct task_runner *tr, const struct driver_exit *ex) {
        if (ex->unknown && tr->exited_while_down)
                event(tr, "Terminated", 0, 0, "Task process exited while the agent was down (exit status unknown)");
        else if (ex->unknown)
                event(tr, "Terminated", 0, 0, "Exit status unknown (the task was not a child of this agent)");
        else if (ex->oom_killed)
                event(tr, "Terminated", ex->exit_code, ex->signal, "Exit Code: %d, Signal: %d, Exit Message: \"OOM Killed\"",
                      ex->exit_code, ex->signal);
        else if (ex->signal)
                event(tr, "Terminated", ex->exit_code, ex->signal, "Exit Code: %d, Signal: %d (%s)", ex->exit_code,
                      ex->signal, strsignal(ex->signal));
        else
                event(tr, "Terminated", ex->exit_code, 0, "Exit Code: %d", ex->exit_code);
        if (tr->kill_requested || stopped(tr)) {
                tr->kill_requested = false;
                tr->rerun_requested = false;
                event(tr, "Killed", 0, 0, "Task successfully killed");
                set_dead(tr, false);
                notify(tr->ar);
                return;
        }
        if (tr->rerun_requested) {
                tr->rerun_requested = false;
                run_again(tr);
                notify(tr->ar);
                return;
        }
        if (tr->restart_requested) {
                tr->restart_requested = false;
                st(tr)->restarts++;
                st(tr)->state = TASK_PENDING;
                event(tr, "Restarting", 0, 0, "Task restarting in 0s");
                notify(tr->ar);
                start_task(tr);
                return;
        }
        after_end(tr, RESTART_CAUSE_EXIT, !ex->unknown && ex->exit_code == 0 && ex->signal == 0);
}

/* The status the log collector (the task's parent, logmon_spawn) recorded; false
 * when there is none for pid yet. */
static bool read_exit_file(struct task_runner *tr, pid_t pid, struct driver_exit *ex) {
        int code, sig;
        if (pid <= 0 || logmon_read_exit(tr->task_dir, pid, &code, &sig) < 0)
                return false;
        ex->exit_code = code;
        ex->signal = sig;
        ex->unknown = false;
        return true;
}

#define EXIT_FILE_POLL_MS 10
#define EXIT_FILE_TRIES 100 /* 1 s: the collector reaps as soon as its loop runs */

static void on_exit_file_timer(uv_timer_t *t) {
        struct task_runner *tr = t->data;
        if (!read_exit_file(tr, tr->exit_pid, &tr->exit) && ++tr->exit_tries < EXIT_FILE_TRIES) {
                uv_timer_start(&tr->restart_timer, on_exit_file_timer, EXIT_FILE_POLL_MS, 0);
                return;
        }
        tr->awaiting_exit = false;
        struct driver_exit ex = tr->exit;
        finish_exit(tr, &ex);
}

static void on_task_exit(struct task_proc *p, const struct driver_exit *ex, void *data) {
        struct task_runner *tr = data;
        pid_t pid = task_proc_handle(tr->proc)->pid;
        task_proc_free(tr->proc);
        tr->proc = NULL;
        forget_handle(tr);
        /* Not the agent's child (the collector started it): the collector reaps it and
         * writes its status, maybe a moment after the pidfd said it ended. */
        if (ex->unknown && !read_exit_file(tr, pid, &tr->exit)) {
                tr->exit = *ex;
                tr->exit_pid = pid;
                tr->exit_tries = 0;
                tr->awaiting_exit = true;
                uv_timer_start(&tr->restart_timer, on_exit_file_timer, EXIT_FILE_POLL_MS, 0);
                return;
        }
        if (ex->unknown) {
                tr->exit.oom_killed = ex->oom_killed;
                struct driver_exit known = tr->exit;
                finish_exit(tr, &known);
                return;
        }
        /* An exec task's supervisor (our child) exits 128 + signal for a task killed by
         * a signal; its record says which. */
        struct driver_exit rec = *ex;
        finish_exit(tr, read_exit_file(tr, pid, &rec) ? &rec : ex);
}

static int build_env(struct task_runner *tr) {
        if (tr->env_built)
                return 0;
        struct alloc_runner *ar = tr->ar;
        const struct alloc *a = ar->alloc;
        char alloc_dir[4200], local[4200], secrets[4200];
        snprintf(alloc_dir, sizeof(alloc_dir), "%s/alloc", ar->alloc_dir);
        snprintf(local, sizeof(local), "%s/local", tr->task_dir);
        snprintf(secrets, sizeof(secrets), "%s/secrets", tr->task_dir);
        struct taskenv_params p = {
            .alloc_id = a->id,
            .alloc_index = alloc_name_index(a),
            .alloc_name = a->name,
            .job_id = a->job_id ? a->job_id : a->job->id,
            .job_name = a->job->name ? a->job->name : a->job->id,
            .group_name = ar->tg->name,
            .task_name = tr->task->name,
            .namespace = a->namespace ? a->namespace : a->job->namespace,
            .region = a->job->region,
            .dc = ar->env.dc,
            .node_id = ar->env.node_id,
            .node_name = ar->env.node_name,
            .alloc_dir = alloc_dir,
            .task_dir = local,
            .secrets_dir = secrets,
            .cpu_limit = tr->task->resources.cpu,
            .memory_limit = tr->task->resources.memory_mb,
            .task_env = &tr->task->env,
            .host_env = ar->env.host_env,
            .passthrough = ar->env.env_passthrough,
            .user = tr->user.name ? &tr->user : tr->dyn_uid || (tr->task->user && *tr->task->user) ? NULL : ar->env.agent_user,
            .allocated = a->allocated,
        };
        int r = taskenv_build(&p, &tr->env);
        if (r == 0)
                tr->env_built = true;
        return r;
}

/* stdout/stderr go through a collector that rotates them (logs { max_files,
 * max_file_size }); with logs { disabled = true } they go nowhere. */
static int start_log_collector(struct task_runner *tr, char *out, char *errp, struct error *err) {
        const struct log_config *lc = &tr->task->logs;
        if (lc->disabled) {
                snprintf(out, LOGMON_PATH, "/dev/null");
                snprintf(errp, LOGMON_PATH, "/dev/null");
                return 0;
        }
        char logdir[4200];
        snprintf(logdir, sizeof(logdir), "%s/alloc/logs", tr->ar->alloc_dir);
        struct logmon_config cfg = {.dir = logdir,
                                    .task = tr->task->name,
                                    .max_files = lc->max_files,
                                    .max_file_size = (int64_t)lc->max_file_size_mb * 1024 * 1024,
                                    .prepared = tr->log_prepared,
                                    /* its first start in a logs directory made for it */
                                    .fresh = tr->log_prepared && tr->ar->setup_dirs.logs_made};
        tr->log_prepared = false; /* once: a restart checks the FIFOs again */
        return logmon_ensure(tr->ar->env.logmon, &cfg, out, errp, err);
}

/* The driver could not start the task (r, msg). */
static void start_failed(struct task_runner *tr, int r, const char *msg) {
        struct alloc_runner *ar = tr->ar;
        event(tr, "Driver Failure", 0, 0, "%s", msg);
        log_info("alloc %.8s task %s: %s", ar->alloc->id, tr->task->name, msg);
        if (tr->kill_requested || stopped(tr)) { /* stopped while it was starting */
                tr->kill_requested = false;
                event(tr, "Killed", 0, 0, "Task successfully killed");
                set_dead(tr, false);
                notify(ar);
                return;
        }
        bool unrecoverable = r == -ENOENT || r == -EACCES || r == -EINVAL || r == -ENOEXEC;
        after_end(tr, unrecoverable ? RESTART_CAUSE_UNRECOVERABLE : RESTART_CAUSE_START_ERROR, false);
}

static void started(struct task_runner *tr) {
        struct alloc_runner *ar = tr->ar;
        if (!tr->tracker_started) {
                restart_tracker_init(&tr->tracker, clock_now_ns());
                tr->tracker_started = true;
        }
        save_handle(tr);
        tr->exited_while_down = false;
        st(tr)->state = TASK_RUNNING;
        st(tr)->started_at = clock_now_ns();
        st(tr)->finished_at = 0;
        event(tr, "Started", 0, 0, "Task started by client");
        notify(ar);
}

/* The collector's answer to an asynchronous start (task_proc_start_async). */
static void on_task_started(struct task_proc *p, int r, const struct error *err, void *data) {
        struct task_runner *tr = data;
        if (r == 0) {
                started(tr);
                return;
        }
        task_proc_free(p);
        tr->proc = NULL;
        start_failed(tr, r, err && *err->msg ? err->msg : strerror(-r));
}

static void start_task(struct task_runner *tr) {
        struct alloc_runner *ar = tr->ar;
        if (stopped(tr) || st(tr)->state == TASK_DEAD || tr->proc) /* tr->proc: starting or running */
                return;
        tr->launched = true;
        if (!tr->driver) {
                const struct driver_ops *d;
                char have[128] = "";
                for (size_t i = 0; (d = driver_at(i)); i++)
                        snprintf(have + strlen(have), sizeof(have) - strlen(have), "%s%s", i ? ", " : "", d->name);
                event(tr, "Driver Failure", 0, 0, "unknown driver \"%s\": this agent has %s",
                      tr->task->driver ? tr->task->driver : "", have);
                after_end(tr, RESTART_CAUSE_UNRECOVERABLE, false);
                return;
        }
        if (build_env(tr) < 0) {
                event(tr, "Driver Failure", 0, 0, "out of memory building the task environment");
                after_end(tr, RESTART_CAUSE_START_ERROR, false);
                return;
        }
        json_t *config = taskenv_interpolate_json(&tr->env, tr->task->config ? tr->task->config : json_null());
        char local[4200], out[LOGMON_PATH], errp[LOGMON_PATH], alloc_shared[4200];
        snprintf(local, sizeof(local), "%s/local", tr->task_dir);
        snprintf(alloc_shared, sizeof(alloc_shared), "%s/alloc", ar->alloc_dir);
        struct error lerr = {0};
        if (start_log_collector(tr, out, errp, &lerr) < 0) {
                event(tr, "Driver Failure", 0, 0, "%s", lerr.msg);
                if (config)
                        json_decref(config);
                after_end(tr, RESTART_CAUSE_START_ERROR, false);
                return;
        }
        struct task_memory mem = task_memory_limits(tr->task->resources.memory_mb, tr->task->resources.memory_max_mb,
                                                    TASK_MEMORY_OVERSUBSCRIPTION);
        if (mem.max_ignored && !tr->memory_max_warned) {
                log_warn("alloc %.8s task %s: memory_max (%d MB) is ignored: memory oversubscription is not enabled "
                         "in the cluster's scheduler configuration; the task's memory limit is memory (%d MB)",
                         ar->alloc->id, tr->task->name, tr->task->resources.memory_max_mb, mem.memory_mb);
                tr->memory_max_warned = true;
        }
        struct driver_spec spec = {.task_name = tr->task->name,
                                   .config = config,
                                   .env = &tr->env,
                                   .task_dir = local,
                                   .stdout_path = out,
                                   .stderr_path = errp,
                                   .alloc_id = ar->alloc->id,
                                   .alloc_name = ar->alloc->name,
                                   .task_root = tr->task_dir,
                                   .alloc_dir = alloc_shared,
                                   .user = tr->task->user,
                                   .owner_set = tr->owner_set,
                                   .uid = tr->uid,
                                   .gid = tr->gid,
                                   .cpu_mhz = tr->task->resources.cpu,
                                   .memory_mb = mem.memory_mb,
                                   .memory_max_mb = mem.memory_max_mb,
                                   .cores = tr->task->resources.cores,
                                   .spawner = ar->env.logmon,
                                   .exit_dir = tr->task_dir};
        struct error err = {0};
        int r = config ? tr->driver->validate(config, &err) : errorf(&err, -ENOMEM, "out of memory");
        /* The collector's answers are read on this loop: starts do not wait for them. */
        if (r == 0 && ar->env.logmon && !logmon_attached(ar->env.logmon) && logmon_attach(ar->env.logmon, ar->env.loop) < 0)
                log_debug("alloc %.8s task %s: log collector: cannot watch it on the loop; starts wait for it",
                          ar->alloc->id, tr->task->name);
        if (r == 0)
                r = task_proc_start_async(ar->env.loop, tr->driver, &spec, on_task_started, on_task_exit, tr,
                                          &tr->proc, &err);
        if (config)
                json_decref(config);
        /* The driver copied what it needed: a running task does not hold its environment
         * (NOMAD_* and DROVER_*, a few KiB each); a restart builds it again. */
        strmap_clear(&tr->env);
        tr->env_built = false;
        if (r < 0) {
                start_failed(tr, r, err.msg);
                return;
        }
        if (r == 1)
                started(tr);
        /* else: on_task_started follows; the task stays pending meanwhile. */
}

/* ---- lifecycle order ------------------------------------------------------------------------- */

/* Where the group stands, from its task states alone (so that a restored runner
 * resumes where the last agent was). Without main tasks, the tasks that are no
 * sidecars stand in for them. */
struct phase {
        bool prestart_done; /* every prestart task that is no sidecar exited 0, every prestart sidecar runs */
        bool mains_running; /* ... and every main task runs */
        bool mains_dead;    /* ... every main task is dead */
        bool others_dead;   /* every task but the poststop ones is dead */
};

static struct phase phase_of(const struct alloc_runner *ar) {
        struct phase p = {.prestart_done = true, .others_dead = true};
        bool mains = false, running = true, dead = true, stand_in_dead = true;
        for (size_t i = 0; i < ar->n_tasks; i++) {
                const struct task *t = ar->tasks[i].task;
                const struct task_state *ts = &ar->states[i];
                bool is_dead = ts->state == TASK_DEAD;
                /* One that alloc restart -all-tasks is killing runs again in its turn. */
                bool runs = ts->state == TASK_RUNNING && !ar->tasks[i].rerun_requested;
                if (t->hook == TASK_HOOK_PRESTART && (t->sidecar ? !runs : !is_dead || ts->failed))
                        p.prestart_done = false;
                if (t->hook == TASK_HOOK_NONE) {
                        mains = true;
                        running = running && runs;
                        dead = dead && is_dead;
                } else if (t->hook != TASK_HOOK_POSTSTOP && !t->sidecar) {
                        stand_in_dead = stand_in_dead && is_dead;
                }
                if (t->hook != TASK_HOOK_POSTSTOP && !is_dead)
                        p.others_dead = false;
        }
        p.mains_running = p.prestart_done && (mains ? running : true);
        p.mains_dead = mains ? dead : stand_in_dead;
        return p;
}

static bool turn_of(const struct task_runner *tr, const struct phase *p) {
        switch (tr->task->hook) {
        case TASK_HOOK_PRESTART:
                return true;
        case TASK_HOOK_POSTSTART:
                return p->mains_running;
        case TASK_HOOK_POSTSTOP:
                return p->others_dead;
        default:
                return p->prestart_done;
        }
}

/* Nomad's order: prestart tasks first; the main tasks once every prestart task
 * that is no sidecar has completed (exit 0; one that failed for good failed the
 * allocation, kill_siblings) and every prestart sidecar runs; poststart tasks once
 * every main task runs; sidecars and poststart tasks still running are killed
 * once every main task is dead; poststop tasks once every other task is dead. A
 * task waiting for its turn stays pending. Linear in the tasks, per change. */
static void advance_once(struct alloc_runner *ar) {
        struct phase p = phase_of(ar);
        for (size_t i = 0; i < ar->n_tasks; i++) {
                struct task_runner *tr = &ar->tasks[i];
                if (!tr->launched && st(tr)->state == TASK_PENDING && !tr->proc && !stopped(tr) && turn_of(tr, &p))
                        start_task(tr);
        }
        if (!p.mains_dead || ar->stopping)
                return;
        for (size_t i = 0; i < ar->n_tasks; i++) {
                struct task_runner *tr = &ar->tasks[i];
                bool aside = tr->task->hook == TASK_HOOK_POSTSTART ||
                             (tr->task->hook == TASK_HOOK_PRESTART && tr->task->sidecar);
                if (aside && st(tr)->state != TASK_DEAD)
                        kill_task(tr, "Killing", "Main tasks in the group died");
        }
}

static void advance(struct alloc_runner *ar) {
        if (!ar->ready || ar->setting_up || ar->destroyed)
                return;
        if (ar->advancing) { /* a start or kill that completed at once: look again after this pass */
                ar->advance_again = true;
                return;
        }
        ar->advancing = true;
        int passes = 0;
        do { /* each pass starts or kills at least one task, or is the last */
                ar->advance_again = false;
                advance_once(ar);
        } while (ar->advance_again && ++passes <= (int)ar->n_tasks * 2 + 2);
        ar->advancing = false;
}

/* ---- the allocation ------------------------------------------------------------------------- */

struct alloc_runner *alloc_runner_create(const struct alloc_runner_env *env, struct alloc *a) {
        struct alloc_runner *ar = calloc(1, sizeof(*ar));
        if (!ar)
                return NULL;
        ar->env = *env;
        ar->alloc = alloc_ref(a);
        ar->tg = a->job && a->task_group ? job_group(a->job, a->task_group) : NULL;
        ar->batch = a->job && (a->job->type == JOB_BATCH || a->job->type == JOB_SYSBATCH);
        size_t n = ar->tg ? ar->tg->n_tasks : 0;
        ar->states = calloc(n ? n : 1, sizeof(*ar->states));
        ar->tasks = calloc(n ? n : 1, sizeof(*ar->tasks));
        bool ok = ar->states && ar->tasks && asprintf(&ar->alloc_dir, "%s/alloc/%s", env->data_dir, a->id) >= 0;
        if (!ok)
                ar->alloc_dir = NULL;
        for (size_t i = 0; i < n && ok; i++)
                if (asprintf(&ar->tasks[i].task_dir, "%s/%s", ar->alloc_dir, ar->tg->tasks[i].name) < 0) {
                        ar->tasks[i].task_dir = NULL;
                        ok = false;
                }
        if (!ok) {
                for (size_t i = 0; ar->tasks && i < n; i++)
                        free(ar->tasks[i].task_dir);
                free(ar->alloc_dir);
                free(ar->states);
                free(ar->tasks);
                alloc_unref(ar->alloc);
                free(ar);
                return NULL;
        }
        ar->n_tasks = n;
        for (size_t i = 0; i < n; i++) {
                struct task_runner *tr = &ar->tasks[i];
                tr->ar = ar;
                tr->idx = i;
                tr->task = &ar->tg->tasks[i];
                tr->driver = driver_find(tr->task->driver);
                uv_timer_init(env->loop, &tr->restart_timer);
                tr->restart_timer.data = tr;
                ar->open_handles++;
                uv_timer_init(env->loop, &tr->drain_timer);
                tr->drain_timer.data = tr;
                ar->open_handles++;
                tr->drain_fd = -1;
                ar->states[i].name = strdup(tr->task->name);
                ar->states[i].state = TASK_PENDING;
                event(tr, "Received", 0, 0, "Task received by client");
        }
        if (!ar->tg)
                ar->setup_error =
                    strdup(!a->job ? "allocation came without its job" : "allocation's task group is not in its job");
        return ar;
}

/* A dispatched job's Payload (base64, in the job) into local/<DispatchPayload.File>
 * of each task that asks for it (Nomad's dispatch_payload block), the task's, 0600. */
static int write_payload(struct alloc_runner *ar, struct task_runner *tr, struct error *err) {
        const json_t *file = json_object_get(json_object_get(tr->task->extra, "DispatchPayload"), "File");
        const json_t *payload = ar->alloc->job ? json_object_get(ar->alloc->job->extra, "Payload") : NULL;
        if (!json_is_string(file) || !*json_string_value(file))
                return 0;
        const char *name = json_string_value(file);
        _cleanup_free_ unsigned char *data = NULL;
        size_t n = 0;
        if (json_is_string(payload) && base64_decode(json_string_value(payload), &data, &n) < 0)
                return errorf(err, -EINVAL, "the job's Payload is not base64");
        int r = alloc_dir_write_file(ar->alloc_dir, tr->task->name, name, data, n, tr->uid, tr->gid, err);
        return r < 0 ? error_prefix(err, "dispatch_payload") : 0;
}

/* Who each task with a user runs as (the user database may be slow: NSS, LDAP, so
 * this runs with the directories, off the loop). A user this node does not know
 * leaves the task's directories root's; its driver says so when it starts it. */
static void resolve_users(struct alloc_runner *ar) {
        for (size_t t = 0; t < ar->n_tasks; t++) {
                struct task_runner *tr = &ar->tasks[t];
                const char *user = tr->task->user;
                if (tr->owner_set || !user || !*user)
                        continue;
                uid_t uid;
                gid_t gid;
                struct error err = {0};
                if (user_lookup(user, &uid, &gid, &err) == 0) {
                        tr->uid = uid;
                        tr->gid = gid;
                        tr->owner_set = true;
                        if (!tr->user.name && taskenv_user_lookup(uid, &tr->user) < 0)
                                tr->user = (struct taskenv_user){0}; /* no HOME, USER, ... */
                }
        }
}

/* Nomad's layout, private to the tasks (alloc_dir.h): <alloc>/alloc/{logs,tmp,data}
 * shared, <alloc>/<task>/{local,secrets,tmp} each, secrets/ on a tmpfs. */
static int make_dirs(struct alloc_runner *ar, struct error *err) {
        resolve_users(ar);
        _cleanup_free_ struct alloc_dir_task *t = calloc(ar->n_tasks ? ar->n_tasks : 1, sizeof(*t));
        if (!t)
                return errorf(err, -ENOMEM, "out of memory");
        for (size_t i = 0; i < ar->n_tasks; i++)
                t[i] = (struct alloc_dir_task){.name = ar->tasks[i].task->name,
                                               .uid = ar->tasks[i].uid,
                                               .gid = ar->tasks[i].gid,
                                               .ended = ar->tasks[i].ended};
        int r = alloc_dir_build(ar->alloc_dir, t, ar->n_tasks, &ar->setup_dirs, err);
        for (size_t i = 0; r == 0 && i < ar->n_tasks; i++)
                r = write_payload(ar, &ar->tasks[i], err);
        return r;
}

/* On the loop, before the directories: a workload id for each task that names no
 * user and whose driver runs such tasks as one (exec), and one group id for the
 * allocation. restore: the ids an earlier agent gave (the task directory's owner)
 * are taken again. */
static int take_ids(struct alloc_runner *ar, bool restore, struct error *err) {
        for (size_t i = 0; i < ar->n_tasks; i++) {
                struct task_runner *tr = &ar->tasks[i];
                const struct driver_ops *d = tr->driver;
                if (tr->dyn_uid || tr->ended || !d || !d->workload_id_take || (tr->task->user && *tr->task->user))
                        continue;
                if (ar->id_driver && ar->id_driver != d)
                        continue; /* one range per agent: the first such driver's */
                ar->id_driver = d;
                struct stat sb;
                bool had = restore && fstatat(AT_FDCWD, tr->task_dir, &sb, AT_SYMLINK_NOFOLLOW) == 0 &&
                           S_ISDIR(sb.st_mode) && sb.st_uid != 0;
                if (!ar->dyn_gid && had && d->workload_id_mark(sb.st_gid) == 0)
                        ar->dyn_gid = sb.st_gid;
                if (!ar->dyn_gid) {
                        int r = d->workload_id_take(&ar->dyn_gid, err);
                        if (r < 0)
                                return r;
                }
                if (had && sb.st_uid != ar->dyn_gid && d->workload_id_mark(sb.st_uid) == 0) {
                        tr->dyn_uid = sb.st_uid;
                } else {
                        int r = d->workload_id_take(&tr->dyn_uid, err);
                        if (r < 0)
                                return r;
                }
                tr->uid = tr->dyn_uid;
                tr->gid = ar->dyn_gid;
                tr->owner_set = true;
        }
        return 0;
}

static void release_ids(struct alloc_runner *ar) {
        if (!ar->id_driver)
                return;
        for (size_t i = 0; i < ar->n_tasks; i++)
                if (ar->tasks[i].dyn_uid)
                        ar->id_driver->workload_id_release(ar->tasks[i].dyn_uid);
        if (ar->dyn_gid)
                ar->id_driver->workload_id_release(ar->dyn_gid);
        ar->id_driver = NULL;
}

/* A destroyed runner whose tasks are over: their secrets/ go now (a few syscalls
 * per task); the directories stay until the collector removes them. Not when tasks
 * still run (an agent stopping: the next one re-attaches to them and their secrets). */
static void release_if_finished(struct alloc_runner *ar) {
        struct error err = {0};
        if (ar->destroyed && ar->alloc_dir && alloc_runner_finished(ar) && alloc_dir_release(ar->alloc_dir, &err) < 0)
                log_warn("alloc %.8s: %s", ar->alloc->id, err.msg);
}

/* Once per agent at warning level: secrets/ is not a tmpfs here. */
static void note_secrets(struct alloc_runner *ar) {
        static bool said;
        if (!ar->setup_dirs.secrets_on_disk)
                return;
        if (!said)
                log_warn("alloc %.8s: %s (the agent must run as root for a tmpfs)", ar->alloc->id, ar->setup_dirs.note);
        else
                log_debug("alloc %.8s: %s", ar->alloc->id, ar->setup_dirs.note);
        said = true;
}

/* The rest of a start, on the loop, once the directories are made (r, err). */
static void setup_finished(struct alloc_runner *ar, int r, const struct error *err) {
        if (r == 0)
                note_secrets(ar);
        for (size_t i = 0; i < ar->n_tasks; i++) {
                struct task_runner *tr = &ar->tasks[i];
                if (st(tr)->state == TASK_DEAD) {
                        release_secrets(tr); /* stopped while its directory was being made */
                        continue;
                }
                if (r < 0) {
                        event(tr, "Setup Failure", 0, 0, "failed to build the task directory: %s", err->msg);
                        set_dead(tr, true);
                } else {
                        event(tr, "Task Setup", 0, 0, "Building Task Directory");
                }
        }
        if (r < 0) {
                log_warn("alloc %.8s: %s", ar->alloc->id, err->msg);
                notify(ar);
                return;
        }
        ar->ready = true;
        notify(ar); /* advance starts the tasks in their lifecycle order */
}

/* On a thread-pool thread: nothing of the loop's (see struct alloc_runner). */
static void setup_work(uv_work_t *w) {
        struct alloc_runner *ar = w->data;
        struct error err = {0};
        ar->setup_r = make_dirs(ar, &err);
        snprintf(ar->setup_msg, sizeof(ar->setup_msg), "%s", err.msg);
        char logdir[4200];
        snprintf(logdir, sizeof(logdir), "%s/alloc/logs", ar->alloc_dir);
        for (size_t i = 0; ar->setup_r == 0 && i < ar->n_tasks; i++) {
                struct task_runner *tr = &ar->tasks[i];
                const struct log_config *lc = &tr->task->logs;
                if (lc->disabled)
                        continue;
                struct logmon_config cfg = {.dir = logdir,
                                            .task = tr->task->name,
                                            .max_files = lc->max_files,
                                            .max_file_size = (int64_t)lc->max_file_size_mb * 1024 * 1024};
                struct error lerr = {0};
                /* On failure the loop's logmon_ensure tries again, and says why. */
                tr->log_prepared = logmon_prepare(&cfg, &lerr) == 0;
        }
}

static void setup_done(uv_work_t *w, int status) {
        struct alloc_runner *ar = w->data;
        ar->setting_up = false;
        release_if_finished(ar); /* destroyed meanwhile: see alloc_runner_destroy */
        if (--ar->open_handles == 0 && ar->destroyed) {
                free_runner(ar);
                return;
        }
        if (ar->destroyed)
                return;
        struct error err = {0};
        int r = status < 0 ? errorf(&err, status, "setup: %s", uv_strerror(status)) : ar->setup_r;
        if (status == 0)
                snprintf(err.msg, sizeof(err.msg), "%s", ar->setup_msg);
        setup_finished(ar, r, &err);
}

void alloc_runner_start(struct alloc_runner *ar) {
        if (ar->setup_error) {
                log_warn("alloc %.8s: %s", ar->alloc->id, ar->setup_error);
                notify(ar);
                return;
        }
        if (ar->setting_up)
                return;
        for (size_t i = 0; i < ar->n_tasks; i++)
                ar->tasks[i].ended = st(&ar->tasks[i])->state == TASK_DEAD;
        struct error ierr = {0};
        int ir = take_ids(ar, false, &ierr);
        if (ir < 0) {
                setup_finished(ar, ir, &ierr);
                return;
        }
        if (ar->env.async_setup && ar->n_tasks > 0) {
                ar->setup_work.data = ar;
                if (uv_queue_work(ar->env.loop, &ar->setup_work, setup_work, setup_done) == 0) {
                        ar->setting_up = true;
                        ar->open_handles++; /* the runner outlives the work (alloc_runner_destroy) */
                        return;
                }
        }
        struct error err = {0};
        int r = make_dirs(ar, &err);
        setup_finished(ar, r, &err);
}

bool alloc_runner_setting_up(const struct alloc_runner *ar) {
        return ar->setting_up;
}

/* The cgroup of a task that ended while the agent was down (named in its pid file,
 * the only place it is kept): nobody else removes it. */
static void drop_gone_cgroup(struct task_runner *tr, pid_t pid) {
        int dfd = open(tr->task_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        pid_t was;
        uint64_t start;
        char cg[256];
        if (dfd >= 0 && task_pid_file_read(dfd, &was, &start, cg) == 0 && was == pid && cg[0] &&
            driver_proc_start_ticks(was) != start) /* gone for sure: the process is not there */
                task_cgroup_remove_path(cg);
        if (dfd >= 0)
                close(dfd);
}

/* Re-attach one task from its saved handle; false when it cannot be (*ret_gone_pid:
 * the saved pid of a task that is gone, else 0). */
static bool reattach(struct task_runner *tr, pid_t *ret_gone_pid) {
        struct alloc_runner *ar = tr->ar;
        struct driver_handle h;
        struct error err = {0};
        *ret_gone_pid = 0;
        if (!ar->env.state || !tr->driver ||
            agent_state_get_handle(ar->env.state, ar->alloc->id, tr->task->name, &h, &err) < 0)
                return false;
        *ret_gone_pid = h.pid;
        if (strcmp(h.driver, tr->driver->name) != 0 ||
            task_proc_attach(ar->env.loop, tr->driver, &h, on_task_exit, tr, &tr->proc, &err) < 0) {
                log_info("alloc %.8s task %s: cannot re-attach: %s", ar->alloc->id, tr->task->name,
                         *err.msg ? err.msg : "saved by another driver");
                drop_gone_cgroup(tr, h.pid);
                forget_handle(tr);
                return false;
        }
        task_pid_file_write(tr->task_dir, task_proc_handle(tr->proc)); /* for stats, as start_task */
        /* The collector normally outlived the previous agent; start one if it did not. */
        char out[LOGMON_PATH], errp[LOGMON_PATH];
        if (start_log_collector(tr, out, errp, &err) < 0)
                log_warn("alloc %.8s task %s: %s", ar->alloc->id, tr->task->name, err.msg);
        restart_tracker_init(&tr->tracker, clock_now_ns());
        tr->tracker_started = true;
        st(tr)->state = TASK_RUNNING;
        if (!st(tr)->started_at)
                st(tr)->started_at = h.started_at;
        st(tr)->finished_at = 0;
        log_info("alloc %.8s task %s: re-attached to pid %d", ar->alloc->id, tr->task->name, (int)h.pid);
        return true;
}

/* The restart tracker the previous agent saved (save_restart): failures keep
 * counting in the same interval. Returns when its pending restart is due (0: none). */
static int64_t restore_tracker(struct task_runner *tr) {
        struct task_restart_state rs;
        struct error err = {0};
        int r = tr->ar->env.state ? agent_state_get_restart(tr->ar->env.state, tr->ar->alloc->id, tr->task->name, &rs, &err)
                                  : -ENOENT;
        if (r < 0) {
                if (r != -ENOENT)
                        log_warn("alloc %.8s task %s: %s", tr->ar->alloc->id, tr->task->name, err.msg);
                return 0;
        }
        tr->tracker = (struct restart_tracker){.count = rs.attempts, .window_start = rs.window_start_ns};
        tr->tracker_started = true;
        return rs.next_start_ns;
}

/* A pending task: started now, or when the restart delay it was waiting on ends. */
static void start_or_wait(struct task_runner *tr, int64_t due_ns) {
        int64_t left = due_ns - clock_now_ns();
        if (left <= 0) {
                start_task(tr);
                return;
        }
        char t[32];
        format_duration(left, t, sizeof(t));
        log_info("alloc %.8s task %s: waiting %s more for its restart delay to end", tr->ar->alloc->id,
                 tr->task->name, t);
        uv_timer_start(&tr->restart_timer, on_restart_timer, (uint64_t)((left + NS_PER_MS - 1) / NS_PER_MS), 0);
}

void alloc_runner_restore(struct alloc_runner *ar) {
        if (ar->setup_error) {
                alloc_runner_start(ar);
                return;
        }
        /* What the servers last heard, so that events and restart counts carry over. */
        struct task_state *heard = calloc(ar->n_tasks ? ar->n_tasks : 1, sizeof(*heard));
        size_t copied = 0;
        while (heard && copied < ar->n_tasks) {
                const struct task_state *prev = alloc_task_state(ar->alloc, ar->tasks[copied].task->name);
                if (task_state_copy(&heard[copied], prev ? prev : &ar->states[copied]) < 0)
                        break;
                copied++;
        }
        if (heard && copied == ar->n_tasks) {
                task_states_free(ar->states, ar->n_tasks);
                ar->states = heard;
        } else if (heard) {
                task_states_free(heard, copied); /* out of memory: keep the fresh states */
        }
        for (size_t i = 0; i < ar->n_tasks; i++)
                ar->tasks[i].ended = st(&ar->tasks[i])->state == TASK_DEAD;
        struct error err = {0};
        if (take_ids(ar, true, &err) < 0 || make_dirs(ar, &err) < 0)
                log_warn("alloc %.8s: %s", ar->alloc->id, err.msg);
        else
                note_secrets(ar);
        /* Re-attach every task first: one found dead may fail the allocation, which
         * kills its siblings, and only re-attached siblings can be killed (the others
         * would be marked dead and left running). */
        pid_t *gone = calloc(ar->n_tasks ? ar->n_tasks : 1, sizeof(*gone));
        bool *attached = calloc(ar->n_tasks ? ar->n_tasks : 1, sizeof(*attached));
        for (size_t i = 0; i < ar->n_tasks && gone && attached; i++) {
                struct task_runner *tr = &ar->tasks[i];
                if (st(tr)->state != TASK_DEAD)
                        attached[i] = reattach(tr, &gone[i]);
        }
        for (size_t i = 0; i < ar->n_tasks; i++) {
                struct task_runner *tr = &ar->tasks[i];
                pid_t one_gone = 0;
                if (st(tr)->state == TASK_DEAD)
                        continue;
                int64_t restart_due = restore_tracker(tr);
                if (gone && attached ? attached[i] : reattach(tr, &one_gone)) /* out of memory: one pass */
                        continue;
                if (st(tr)->state == TASK_RUNNING) {
                        /* It ran when the last agent stopped and is gone now: the collector
                         * that started it recorded how it ended, unless it died too. */
                        task_proc_free(tr->proc);
                        tr->proc = NULL;
                        struct driver_exit ex = {0};
                        pid_t pid = gone && attached ? gone[i] : one_gone;
                        if (read_exit_file(tr, pid, &ex)) {
                                log_info("alloc %.8s task %s: pid %d exited while the agent was down (code %d, signal %d)",
                                         ar->alloc->id, tr->task->name, (int)pid, ex.exit_code, ex.signal);
                                finish_exit(tr, &ex);
                                continue;
                        }
                        tr->exited_while_down = true;
                        if (pid > 0) {
                                /* It may have ended just now: the collector writes its record
                                 * after reaping it. Wait for that as on_task_exit does; the
                                 * allocation reports the task running meanwhile. */
                                tr->exit = (struct driver_exit){.unknown = true};
                                tr->exit_pid = pid;
                                tr->exit_tries = 0;
                                tr->awaiting_exit = true;
                                uv_timer_start(&tr->restart_timer, on_exit_file_timer, EXIT_FILE_POLL_MS, 0);
                                continue;
                        }
                        struct driver_exit unknown = {.unknown = true};
                        finish_exit(tr, &unknown);
                } else if (restart_due > 0) {
                        /* Pending after a Restarting event: its turn came before (it ran);
                         * it starts again when the restart delay ends. */
                        tr->launched = true;
                        start_or_wait(tr, restart_due);
                }
                /* else pending: advance starts it in its turn (a prestart task that
                 * completed is dead, and stays so). */
        }
        free(gone);
        free(attached);
        ar->ready = true;
        notify(ar);
}

void alloc_runner_stop(struct alloc_runner *ar) {
        if (ar->stopping)
                return;
        ar->stopping = true;
        for (size_t i = 0; i < ar->n_tasks; i++)
                if (ar->tasks[i].task->hook != TASK_HOOK_POSTSTOP) /* they run once the others are dead */
                        kill_task(&ar->tasks[i], "Killing", "Allocation is being stopped");
        notify(ar);
}

bool alloc_runner_stopping(const struct alloc_runner *ar) {
        return ar->stopping;
}

bool alloc_runner_finished(const struct alloc_runner *ar) {
        for (size_t i = 0; i < ar->n_tasks; i++)
                if (ar->states[i].state != TASK_DEAD)
                        return false;
        return true;
}

const char *alloc_runner_id(const struct alloc_runner *ar) {
        return ar->alloc->id;
}

enum alloc_client alloc_runner_client_status(const struct alloc_runner *ar) {
        if (ar->setup_error)
                return ALLOC_CLIENT_FAILED;
        return alloc_status_from_tasks(ar->states, ar->n_tasks, NULL);
}

void alloc_runner_update_write(const struct alloc_runner *ar, struct text_buf *b) {
        const char *desc;
        enum alloc_client s = alloc_status_from_tasks(ar->states, ar->n_tasks, &desc);
        if (ar->setup_error) {
                s = ALLOC_CLIENT_FAILED;
                desc = ar->setup_error;
        }
        update_text_write(b, ar->alloc->id, alloc_client_str(s), desc, ar->states, ar->n_tasks);
}

json_t *alloc_runner_update_json(const struct alloc_runner *ar) {
        struct text_buf b = {0};
        alloc_runner_update_write(ar, &b);
        _cleanup_free_ char *text = text_buf_take(&b);
        return text ? json_loads(text, 0, NULL) : NULL;
}

static void free_runner(struct alloc_runner *ar) {
        release_ids(ar);
        for (size_t i = 0; i < ar->n_tasks; i++) {
                strmap_clear(&ar->tasks[i].env);
                free(ar->tasks[i].task_dir);
                taskenv_user_clear(&ar->tasks[i].user);
        }
        free(ar->alloc_dir);
        task_states_free(ar->states, ar->n_tasks);
        free(ar->tasks);
        free(ar->setup_error);
        alloc_unref(ar->alloc);
        free(ar);
}

static void on_handle_closed(uv_handle_t *h) {
        struct task_runner *tr = h->data;
        struct alloc_runner *ar = tr->ar;
        if (--ar->open_handles == 0)
                free_runner(ar); /* a setup in flight holds one (setup_done) */
}

void alloc_runner_destroy(struct alloc_runner *ar) {
        if (!ar)
                return;
        ar->env.changed = NULL;
        ar->destroyed = true; /* a setup in flight frees it when it is done (setup_done) */
        /* While the worker may still mount, setup_done does it. */
        if (!ar->setting_up)
                release_if_finished(ar);
        for (size_t i = 0; i < ar->n_tasks; i++) {
                task_proc_free(ar->tasks[i].proc);
                ar->tasks[i].proc = NULL;
                uv_timer_stop(&ar->tasks[i].restart_timer);
                uv_close((uv_handle_t *)&ar->tasks[i].restart_timer, on_handle_closed);
                uv_timer_stop(&ar->tasks[i].drain_timer);
                uv_close((uv_handle_t *)&ar->tasks[i].drain_timer, on_handle_closed);
                if (ar->tasks[i].draining) {
                        ar->tasks[i].draining = false;
                        uv_poll_stop(&ar->tasks[i].drain_poll);
                        uv_close((uv_handle_t *)&ar->tasks[i].drain_poll, on_drain_poll_closed);
                }
        }
        if (ar->n_tasks == 0 && !ar->setting_up)
                free_runner(ar);
}

/* ---- user requests (alloc restart / alloc signal) --------------------------------------------- */

static struct task_runner *running_task(struct alloc_runner *ar, const char *task, struct error *err) {
        for (size_t i = 0; i < ar->n_tasks; i++) {
                struct task_runner *tr = &ar->tasks[i];
                if (strcmp(tr->task->name, task) != 0)
                        continue;
                if (ar->stopping || st(tr)->state != TASK_RUNNING || !tr->proc || task_proc_starting(tr->proc) ||
                    tr->kill_requested) {
                        errorf(err, -ESRCH, "Task not running");
                        return NULL;
                }
                return tr;
        }
        errorf(err, -ENOENT, "Unknown task \"%s\" in allocation %s", task, ar->alloc->id);
        return NULL;
}

static void restart_one(struct task_runner *tr) {
        if (tr->restart_requested)
                return;
        tr->restart_requested = true;
        event(tr, "Restart Signaled", 0, 0, "User requested restart");
        int64_t timeout = tr->task->kill_timeout_ns > 0 ? tr->task->kill_timeout_ns : DEFAULT_KILL_TIMEOUT_NS;
        task_proc_kill(tr->proc, kill_signal_of(tr->task), timeout);
}

/* Pending again, not launched: advance starts it in its lifecycle turn. */
static void run_again(struct task_runner *tr) {
        st(tr)->restarts++;
        st(tr)->state = TASK_PENDING;
        tr->launched = false;
        event(tr, "Restarting", 0, 0, "Task restarting in its lifecycle turn (all tasks restarted)");
}

/* alloc restart -all-tasks for one task (not a poststop one): a running task is
 * killed and pending once it exited; a dead one (a prestart or poststart task
 * that completed) or one waiting out a restart delay is pending at once. Returns
 * whether it was running. */
static bool rerun_one(struct task_runner *tr) {
        struct alloc_runner *ar = tr->ar;
        if (tr->restart_requested || tr->rerun_requested || tr->kill_requested ||
            (tr->proc && task_proc_starting(tr->proc)))
                return false; /* on its way already: it follows its own course */
        if (tr->awaiting_exit) { /* it ended: pending once its status is read */
                event(tr, "Restart Signaled", 0, 0, "User requested restart of all tasks");
                tr->rerun_requested = true;
                return false;
        }
        if (st(tr)->state == TASK_RUNNING && tr->proc) {
                event(tr, "Restart Signaled", 0, 0, "User requested restart of all tasks");
                tr->rerun_requested = true;
                int64_t timeout = tr->task->kill_timeout_ns > 0 ? tr->task->kill_timeout_ns : DEFAULT_KILL_TIMEOUT_NS;
                task_proc_kill(tr->proc, kill_signal_of(tr->task), timeout);
                return true;
        }
        if ((st(tr)->state == TASK_DEAD && st(tr)->failed) || (st(tr)->state == TASK_PENDING && !tr->launched))
                return false; /* failed the allocation; or has not had its turn yet */
        event(tr, "Restart Signaled", 0, 0, "User requested restart of all tasks");
        uv_timer_stop(&tr->restart_timer); /* a pending restart delay: its turn instead */
        if (st(tr)->state == TASK_DEAD && !ar->setting_up) {
                /* set_dead detached its secrets/ tmpfs: it gets a fresh one. */
                struct error err = {0};
                struct alloc_dir_task t = {.name = tr->task->name, .uid = tr->uid, .gid = tr->gid};
                if (alloc_dir_remount_secrets(ar->alloc_dir, &t, &err) < 0)
                        log_warn("alloc %.8s task %s: %s", ar->alloc->id, tr->task->name, err.msg);
        }
        run_again(tr);
        return false;
}

/* Nomad's RestartAll: every task but the poststop ones runs again from the start
 * of the lifecycle, the prestart tasks that completed included. */
static int restart_all(struct alloc_runner *ar, struct error *err) {
        bool any = false;
        for (size_t i = 0; i < ar->n_tasks && !ar->stopping; i++)
                any = any || (ar->states[i].state == TASK_RUNNING && ar->tasks[i].proc &&
                              !task_proc_starting(ar->tasks[i].proc) && !ar->tasks[i].kill_requested);
        if (!any)
                return errorf(err, -ESRCH, "Task not running");
        for (size_t i = 0; i < ar->n_tasks; i++)
                if (ar->tasks[i].task->hook != TASK_HOOK_POSTSTOP)
                        rerun_one(&ar->tasks[i]);
        notify(ar);
        return 0;
}

int alloc_runner_restart(struct alloc_runner *ar, const char *task, bool all_tasks, struct error *err) {
        if (all_tasks && task && *task)
                return errorf(err, -EINVAL, "Task name cannot be set when restarting all tasks");
        if (all_tasks)
                return restart_all(ar, err);
        if (task && *task) {
                struct task_runner *tr = running_task(ar, task, err);
                if (!tr)
                        return err->code;
                restart_one(tr);
                notify(ar);
                return 0;
        }
        size_t n = 0;
        for (size_t i = 0; i < ar->n_tasks; i++) {
                struct task_runner *tr = &ar->tasks[i];
                if (!ar->stopping && st(tr)->state == TASK_RUNNING && tr->proc && !task_proc_starting(tr->proc) &&
                    !tr->kill_requested) {
                        restart_one(tr);
                        n++;
                }
        }
        if (n == 0)
                return errorf(err, -ESRCH, "Task not running");
        notify(ar);
        return 0;
}

int alloc_runner_signal(struct alloc_runner *ar, const char *task, int sig, struct error *err) {
        size_t n = 0;
        for (size_t i = 0; i < ar->n_tasks; i++) {
                struct task_runner *tr = &ar->tasks[i];
                if (task && *task) {
                        if (strcmp(tr->task->name, task) != 0 || !(tr = running_task(ar, task, err)))
                                continue;
                } else if (ar->stopping || st(tr)->state != TASK_RUNNING || !tr->proc ||
                           task_proc_starting(tr->proc)) {
                        continue;
                }
                event(tr, "Signaling", 0, sig, "Task being sent a signal");
                struct error serr = {0};
                int r = tr->driver->signal(task_proc_handle(tr->proc), sig, &serr);
                if (r < 0)
                        return errorf(err, r, "task \"%s\": sending %s: %s", tr->task->name, strsignal(sig),
                                      *serr.msg ? serr.msg : strerror(-r));
                n++;
        }
        if (task && *task && n == 0)
                return err->code ? err->code : errorf(err, -ENOENT, "Unknown task \"%s\"", task);
        if (n == 0)
                return errorf(err, -ESRCH, "Task not running");
        notify(ar);
        return 0;
}
