/* test_agent_alloc.c - the alloc runner on a real loop: task dirs, env, log
 * files, client status and events as the servers will see them. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <sys/statfs.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "common/error.h"
#include "nodeagent/drivers/driver.h"
#include "common/log.h"
#include "common/model.h"
#include "isolation/user.h"
#include "nodeagent/alloc/alloc_dir.h"
#include "nodeagent/alloc/alloc_runner.h"
#include "nodeagent/logs/logmon.h"
#include "tests/support/alloc_fixture.h"

static struct alloc_fixture fx;
static int changes;

static void setup(void) {
        alloc_fixture_setup(&fx, "alloc");
        changes = 0;
}

static void teardown(void) {
        alloc_fixture_teardown(&fx);
}

TestSuite(agent_alloc, .init = setup, .fini = teardown, .timeout = 30);

static void on_changed(struct alloc_runner *ar, void *data) {
        changes++;
}

static struct alloc *make_alloc(const char *type, const char *restart, const char *tasks) {
        return alloc_fixture_alloc("6f1d0c1e-0000-4000-8000-000000000001", "web.api[4]", type, restart, tasks);
}

/* Start, and run the loop until no task waits for the log collector's answer
 * (raw_exec starts through it without the loop waiting). */
static void start_and_wait(struct alloc_runner *ar) {
        alloc_runner_start(ar);
        for (int i = 0;
             i < 500 && (alloc_runner_client_status(ar) == ALLOC_CLIENT_PENDING || logmon_spawns_in_flight(fx.lm) > 0);
             i++)
                uv_run(&fx.loop, UV_RUN_ONCE);
        uv_run(&fx.loop, UV_RUN_NOWAIT); /* answers read, not yet handed over */
}

static struct alloc_runner *run(struct alloc *a) {
        struct alloc_runner_env env = {.loop = &fx.loop,
                                       .data_dir = fx.dir,
                                       .node_id = "n1",
                                       .node_name = "node1",
                                       .dc = "dc1",
                                       .logmon = fx.lm,
                                       .changed = on_changed};
        struct alloc_runner *ar = alloc_runner_create(&env, a);
        cr_assert_not_null(ar);
        start_and_wait(ar);
        return ar;
}

static void run_until_finished(struct alloc_runner *ar, int ms) {
        alloc_fixture_run_until_finished(&fx, ar, ms);
}

static char *slurp(const char *path) {
        static char buf[4096];
        FILE *f = fopen(path, "r");
        if (!f)
                return "";
        size_t n = fread(buf, 1, sizeof(buf) - 1, f);
        buf[n] = '\0';
        fclose(f);
        return buf;
}

/* The event of that type for the task (NULL if none). */
static json_t *event_of(json_t *update, const char *task, const char *type) {
        json_t *evs = json_object_get(json_object_get(json_object_get(update, "TaskStates"), task), "Events");
        size_t i;
        json_t *e;
        json_array_foreach(evs, i, e) {
                if (strcmp(json_string_value(json_object_get(e, "Type")), type) == 0)
                        return e;
        }
        return NULL;
}

static bool has_event(json_t *update, const char *task, const char *type) {
        return event_of(update, task, type) != NULL;
}

/* A "Terminated" event with that exit code and signal. */
static bool has_exit(json_t *update, const char *task, int code, int sig) {
        json_t *evs = json_object_get(json_object_get(json_object_get(update, "TaskStates"), task), "Events");
        size_t i;
        json_t *e;
        json_array_foreach(evs, i, e) {
                if (strcmp(json_string_value(json_object_get(e, "Type")), "Terminated") == 0 &&
                    json_integer_value(json_object_get(e, "ExitCode")) == code &&
                    json_integer_value(json_object_get(e, "Signal")) == sig)
                        return true;
        }
        return false;
}

/* Gone or a zombie: the collector that started it reaps it, pid 1 may not. */
static bool wait_gone(pid_t pid) {
        for (int i = 0; i < 500; i++) {
                char path[64], st[512] = "";
                snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
                FILE *f = fopen(path, "r");
                if (!f)
                        return true;
                char *ok = fgets(st, sizeof(st), f);
                fclose(f);
                char *p = ok ? strrchr(st, ')') : NULL;
                if (p && p[1] == ' ' && p[2] == 'Z')
                        return true;
                struct timespec ts = {0, 10000000};
                nanosleep(&ts, NULL);
        }
        return false;
}

#define NO_RESTART "{\"Attempts\":0,\"Interval\":60000000000,\"Delay\":1000000000,\"Mode\":\"fail\"}"

Test(agent_alloc, batch_task_runs_with_its_index_and_completes) {
        struct alloc *a =
            make_alloc("batch", NO_RESTART,
                       "{\"Name\":\"say\",\"Driver\":\"raw_exec\",\"Config\":{\"command\":\"/bin/sh\",\"args\":[\"-c\","
                       "\"echo hello from ${NOMAD_ALLOC_INDEX} in $NOMAD_GROUP_NAME; pwd\"]}}");
        struct alloc_runner *ar = run(a);
        run_until_finished(ar, 5000);
        cr_assert(alloc_runner_finished(ar));
        cr_expect_eq(alloc_runner_client_status(ar), ALLOC_CLIENT_COMPLETE);
        char path[256], want[256];
        snprintf(path, sizeof(path), "%s/alloc/%s/alloc/logs/say.stdout.0", fx.dir, a->id);
        snprintf(want, sizeof(want), "hello from 4 in api\n%s/alloc/%s/say/local\n", fx.dir, a->id);
        /* The task's output goes through its log collector, a process of its own that
         * may still be writing the last line when the runner has finished: give it 3 s. */
        char *got = slurp(path);
        for (int i = 0; i < 300 && strcmp(got, want) != 0; i++) {
                usleep(10000);
                got = slurp(path);
        }
        cr_expect_str_eq(got, want);
        json_t *u = alloc_runner_update_json(ar);
        cr_expect_str_eq(json_string_value(json_object_get(u, "ClientStatus")), "complete");
        cr_expect(has_event(u, "say", "Received") && has_event(u, "say", "Task Setup") &&
                  has_event(u, "say", "Started") && has_event(u, "say", "Terminated"));
        cr_expect(!has_event(u, "say", "Restarting"), "batch success is not restarted");
        cr_expect_gt(changes, 0, "the agent heard about the changes");
        json_decref(u);
        alloc_runner_destroy(ar);
        alloc_unref(a);
}

/* env.async_setup (the agent's): the directories and log FIFOs are made on the
 * thread pool; the task starts once they are, and its output and exit code are the
 * same as with the synchronous start. */
Test(agent_alloc, async_setup_makes_the_directories_off_the_loop_then_starts) {
        struct alloc *a =
            make_alloc("batch", NO_RESTART,
                       "{\"Name\":\"say\",\"Driver\":\"raw_exec\",\"Config\":{\"command\":\"/bin/sh\",\"args\":[\"-c\","
                       "\"echo async; test -d ../secrets && test -d ../tmp && test -d ../../alloc/data && exit 3\"]}}");
        struct alloc_runner_env env = {.loop = &fx.loop,
                                       .data_dir = fx.dir,
                                       .node_id = "n1",
                                       .node_name = "node1",
                                       .dc = "dc1",
                                       .logmon = fx.lm,
                                       .async_setup = true,
                                       .changed = on_changed};
        struct alloc_runner *ar = alloc_runner_create(&env, a);
        cr_assert_not_null(ar);
        alloc_runner_start(ar);
        cr_expect(alloc_runner_setting_up(ar), "the start returned before the directories were made");
        json_t *u = alloc_runner_update_json(ar);
        cr_expect(!has_event(u, "say", "Task Setup"), "no Task Setup event before the setup is done");
        json_decref(u);
        run_until_finished(ar, 5000);
        cr_assert(alloc_runner_finished(ar));
        cr_expect(!alloc_runner_setting_up(ar));
        u = alloc_runner_update_json(ar);
        cr_expect(has_event(u, "say", "Task Setup") && has_event(u, "say", "Started"));
        cr_expect(has_exit(u, "say", 3, 0), "the task saw its secrets/, tmp/ and alloc/data/ (exit 3)");
        json_decref(u);
        char path[256];
        snprintf(path, sizeof(path), "%s/alloc/%s/alloc/logs", fx.dir, a->id);
        cr_expect_eq(logmon_max_file_size(path, "say"), LOGMON_DEFAULT_MAX_FILE_SIZE, "the worker wrote the logmeta");
        snprintf(path, sizeof(path), "%s/alloc/%s/alloc/logs/say.stdout.0", fx.dir, a->id);
        char *got = slurp(path);
        for (int i = 0; i < 300 && strcmp(got, "async\n") != 0; i++) {
                usleep(10000);
                got = slurp(path);
        }
        cr_expect_str_eq(got, "async\n");
        alloc_runner_destroy(ar);
        alloc_unref(a);
}

/* Stopped, then destroyed, while its directories are still being made: nothing
 * starts, and the runner is freed only once the worker is done (ASan checks). */
Test(agent_alloc, async_setup_stopped_and_destroyed_midway_starts_nothing) {
        struct alloc *a = make_alloc("batch", NO_RESTART,
                                     "{\"Name\":\"t\",\"Driver\":\"raw_exec\",\"Config\":{\"command\":\"/bin/sh\","
                                     "\"args\":[\"-c\",\"touch ../local/ran\"]}}");
        struct alloc_runner_env env = {.loop = &fx.loop,
                                       .data_dir = fx.dir,
                                       .node_id = "n1",
                                       .node_name = "node1",
                                       .dc = "dc1",
                                       .logmon = fx.lm,
                                       .async_setup = true,
                                       .changed = on_changed};
        struct alloc_runner *ar = alloc_runner_create(&env, a);
        cr_assert_not_null(ar);
        alloc_runner_start(ar);
        cr_assert(alloc_runner_setting_up(ar));
        alloc_runner_stop(ar);
        cr_expect(alloc_runner_finished(ar), "a task not started yet is dead at once");
        json_t *u = alloc_runner_update_json(ar);
        cr_expect(has_event(u, "t", "Killed") && !has_event(u, "t", "Started"));
        json_decref(u);
        alloc_runner_destroy(ar);
        uv_run(&fx.loop, UV_RUN_DEFAULT); /* the worker finishes; setup_done frees the runner */
        char path[256];
        snprintf(path, sizeof(path), "%s/alloc/%s/t/local/ran", fx.dir, a->id);
        usleep(200000);
        cr_expect(access(path, F_OK) != 0, "the task was never started");
        alloc_unref(a);
}

Test(agent_alloc, failing_task_fails_the_alloc_and_kills_its_sibling) {
        struct alloc *a = make_alloc(
            "service", NO_RESTART,
            "{\"Name\":\"bad\",\"Driver\":\"raw_exec\",\"Config\":{\"command\":\"/bin/sh\",\"args\":[\"-c\","
            "\"sleep 0.2; exit 2\"]}},"
            "{\"Name\":\"long\",\"Driver\":\"raw_exec\",\"Config\":{\"command\":\"sleep\",\"args\":[\"100\"]}}");
        struct alloc_runner *ar = run(a);
        run_until_finished(ar, 8000);
        cr_assert(alloc_runner_finished(ar), "the sibling was killed too");
        json_t *u = alloc_runner_update_json(ar);
        cr_expect_str_eq(json_string_value(json_object_get(u, "ClientStatus")), "failed");
        cr_expect(has_event(u, "bad", "Not Restarting"));
        cr_expect(has_event(u, "long", "Sibling Task Failed") && has_event(u, "long", "Killed"));
        json_t *bad = json_object_get(json_object_get(u, "TaskStates"), "bad");
        cr_expect(json_is_true(json_object_get(bad, "Failed")));
        json_decref(u);
        alloc_runner_destroy(ar);
        alloc_unref(a);
}

Test(agent_alloc, unknown_driver_fails_with_a_clear_event) {
        struct alloc *a =
            make_alloc("batch", NO_RESTART, "{\"Name\":\"d\",\"Driver\":\"docker\",\"Config\":{\"image\":\"redis\"}}");
        struct alloc_runner *ar = run(a);
        cr_assert(alloc_runner_finished(ar));
        json_t *u = alloc_runner_update_json(ar);
        cr_expect_str_eq(json_string_value(json_object_get(u, "ClientStatus")), "failed");
        json_t *evs = json_object_get(json_object_get(json_object_get(u, "TaskStates"), "d"), "Events");
        bool found = false;
        size_t i;
        json_t *e;
        json_array_foreach(evs, i, e) {
                if (strcmp(json_string_value(json_object_get(e, "Type")), "Driver Failure") == 0 &&
                    strstr(json_string_value(json_object_get(e, "Message")), "unknown driver \"docker\""))
                        found = true;
        }
        cr_expect(found, "a Driver Failure event names the driver");
        json_decref(u);
        alloc_runner_destroy(ar);
        alloc_unref(a);
}

Test(agent_alloc, stop_kills_the_tasks_and_reports_complete) {
        struct alloc *a =
            make_alloc("service", "{\"Attempts\":2,\"Interval\":60000000000,\"Delay\":1000000000,\"Mode\":\"fail\"}",
                       "{\"Name\":\"srv\",\"Driver\":\"raw_exec\",\"KillTimeout\":1000000000,"
                       "\"Config\":{\"command\":\"sleep\",\"args\":[\"100\"]}}");
        struct alloc_runner *ar = run(a);
        uv_run(&fx.loop, UV_RUN_NOWAIT);
        cr_expect_eq(alloc_runner_client_status(ar), ALLOC_CLIENT_RUNNING);
        alloc_runner_stop(ar);
        run_until_finished(ar, 5000);
        cr_assert(alloc_runner_finished(ar));
        cr_expect_eq(alloc_runner_client_status(ar), ALLOC_CLIENT_COMPLETE);
        json_t *u = alloc_runner_update_json(ar);
        cr_expect(has_event(u, "srv", "Killing") && has_event(u, "srv", "Killed"));
        cr_expect(!has_event(u, "srv", "Restarting"), "a stopped task is not restarted");
        json_decref(u);
        alloc_runner_destroy(ar);
        alloc_unref(a);
}

/* A stop sends each task its own kill_signal and force-kills it after its own
 * kill_timeout (the job's KillSignal and KillTimeout, not the defaults SIGINT and
 * 5 s): "polite" exits 0 on SIGUSR1 only (SIGINT would end its shell by the signal);
 * "stubborn" ignores SIGINT (its sleeps inherit that) and is SIGKILLed after 0.5 s. */
Test(agent_alloc, stop_uses_the_tasks_kill_signal_then_sigkill_after_its_kill_timeout) {
        char tasks[1024], ready[2][128];
        snprintf(ready[0], sizeof(ready[0]), "%s/polite.ready", fx.dir);
        snprintf(ready[1], sizeof(ready[1]), "%s/stubborn.ready", fx.dir);
        snprintf(tasks, sizeof(tasks),
                 "{\"Name\":\"polite\",\"Driver\":\"raw_exec\",\"KillSignal\":\"SIGUSR1\",\"KillTimeout\":10000000000,"
                 "\"Config\":{\"command\":\"/bin/sh\",\"args\":[\"-c\","
                 "\"trap 'exit 0' USR1; : > %s; while :; do sleep 0.05; done\"]}},"
                 "{\"Name\":\"stubborn\",\"Driver\":\"raw_exec\",\"KillTimeout\":500000000,"
                 "\"Config\":{\"command\":\"/bin/sh\",\"args\":[\"-c\","
                 "\"trap '' INT; : > %s; while :; do sleep 0.05; done\"]}}",
                 ready[0], ready[1]);
        struct alloc *a = make_alloc("service", NO_RESTART, tasks);
        struct alloc_runner *ar = run(a);
        uv_run(&fx.loop, UV_RUN_NOWAIT);
        cr_assert_eq(alloc_runner_client_status(ar), ALLOC_CLIENT_RUNNING);
        /* Both traps are set before the stop (a signal before them ends a shell by it). */
        for (int i = 0; i < 500 && (access(ready[0], F_OK) < 0 || access(ready[1], F_OK) < 0); i++) {
                struct timespec ts = {0, 10000000};
                nanosleep(&ts, NULL);
                uv_run(&fx.loop, UV_RUN_NOWAIT);
        }
        cr_assert(access(ready[0], F_OK) == 0 && access(ready[1], F_OK) == 0, "both tasks set their traps");
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        alloc_runner_stop(ar);
        run_until_finished(ar, 10000);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        double took = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
        cr_assert(alloc_runner_finished(ar), "both tasks stopped within 10 s");
        json_t *u = alloc_runner_update_json(ar);
        json_t *k = event_of(u, "polite", "Killing");
        cr_expect(k && json_integer_value(json_object_get(k, "Signal")) == SIGUSR1, "polite was sent SIGUSR1");
        cr_expect(has_exit(u, "polite", 0, 0), "polite ended by its trap (exit 0), not by a signal");
        k = event_of(u, "stubborn", "Killing");
        cr_expect(k && json_integer_value(json_object_get(k, "Signal")) == SIGINT,
                  "stubborn was sent SIGINT (default)");
        cr_expect(k && strstr(json_string_value(json_object_get(k, "Message")), "waiting 500ms"), "%s",
                  k ? json_string_value(json_object_get(k, "Message")) : "no Killing event");
        cr_expect(has_exit(u, "stubborn", 0, SIGKILL), "stubborn ignored SIGINT and was SIGKILLed");
        cr_expect(has_event(u, "polite", "Killed") && has_event(u, "stubborn", "Killed"));
        /* At least its kill_timeout; well under the 5 s default (loose: a loaded host). */
        cr_expect(took >= 0.45 && took < 4.5, "the stop took %.2f s (kill_timeout 0.5 s, default 5 s)", took);
        json_decref(u);
        alloc_runner_destroy(ar);
        alloc_unref(a);
}

Test(agent_alloc, a_stop_while_the_start_is_in_flight_kills_the_task_once_it_runs) {
        struct alloc *a =
            make_alloc("service", "{\"Attempts\":2,\"Interval\":60000000000,\"Delay\":1000000000,\"Mode\":\"fail\"}",
                       "{\"Name\":\"srv\",\"Driver\":\"raw_exec\",\"KillTimeout\":1000000000,"
                       "\"Config\":{\"command\":\"sleep\",\"args\":[\"100\"]}}");
        struct alloc_runner_env env = {.loop = &fx.loop,
                                       .data_dir = fx.dir,
                                       .node_id = "n1",
                                       .node_name = "node1",
                                       .dc = "dc1",
                                       .logmon = fx.lm,
                                       .changed = on_changed};
        struct alloc_runner *ar = alloc_runner_create(&env, a);
        cr_assert_not_null(ar);
        alloc_runner_start(ar);
        cr_expect_eq(alloc_runner_client_status(ar), ALLOC_CLIENT_PENDING,
                     "the start waits for the collector's answer");
        cr_expect_eq(logmon_spawns_in_flight(fx.lm), 1);
        alloc_runner_stop(ar); /* before the answer came */
        run_until_finished(ar, 5000);
        cr_assert(alloc_runner_finished(ar));
        cr_expect_eq(alloc_runner_client_status(ar), ALLOC_CLIENT_COMPLETE);
        json_t *u = alloc_runner_update_json(ar);
        cr_expect(has_event(u, "srv", "Started") && has_event(u, "srv", "Killed"));
        cr_expect(!has_event(u, "srv", "Restarting"));
        json_decref(u);
        alloc_runner_destroy(ar);
        alloc_unref(a);
}

/* ---- agent restarts: saved handles, re-attach, processes gone meanwhile ---------------------- */

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "nodeagent/state/agent_state.h"

#define SLEEPER "{\"Name\":\"nap\",\"Driver\":\"raw_exec\",\"Config\":{\"command\":\"/bin/sleep\",\"args\":[\"60\"]}}"

static struct alloc_runner *runner_with_state(struct alloc *a, struct agent_state *s) {
        struct alloc_runner_env env = {.loop = &fx.loop,
                                       .data_dir = fx.dir,
                                       .node_id = "n1",
                                       .node_name = "node1",
                                       .dc = "dc1",
                                       .state = s,
                                       .logmon = fx.lm,
                                       .changed = on_changed};
        struct alloc_runner *ar = alloc_runner_create(&env, a);
        cr_assert_not_null(ar);
        return ar;
}

Test(agent_alloc, a_new_runner_reattaches_to_a_running_task_and_can_stop_it) {
        struct agent_state *s = NULL;
        struct error err = {0};
        cr_assert_eq(agent_state_open(fx.dir, &s, &err), 0, "%s", err.msg);
        struct alloc *a = make_alloc("service", NO_RESTART, SLEEPER);
        struct alloc_runner *first = runner_with_state(a, s);
        start_and_wait(first);
        cr_assert_eq(alloc_runner_client_status(first), ALLOC_CLIENT_RUNNING);
        struct driver_handle h;
        cr_assert_eq(agent_state_get_handle(s, a->id, "nap", &h, &err), 0, "handle saved at start");
        cr_assert_eq(kill(h.pid, 0), 0);
        struct alloc *back = alloc_fixture_as_reported(a, first);
        alloc_runner_destroy(first); /* the agent goes away; the task keeps running */
        uv_run(&fx.loop, UV_RUN_NOWAIT);
        cr_assert_eq(kill(h.pid, 0), 0, "the task outlives its runner");

        struct alloc_runner *second = runner_with_state(back, s);
        alloc_runner_restore(second);
        cr_expect_eq(alloc_runner_client_status(second), ALLOC_CLIENT_RUNNING);
        json_t *u = alloc_runner_update_json(second);
        cr_expect(has_event(u, "nap", "Started"), "events carried over from the reported state");
        cr_expect(!has_event(u, "nap", "Terminated"));
        json_decref(u);
        alloc_runner_stop(second); /* through the re-attached handle */
        run_until_finished(second, 10000);
        cr_assert(alloc_runner_finished(second));
        cr_expect_neq(kill(h.pid, 0), 0, "the re-attached task was killed");
        cr_expect_eq(agent_state_get_handle(s, a->id, "nap", &h, &err), -ENOENT, "handle forgotten at exit");
        alloc_runner_destroy(second);
        alloc_unref(back);
        alloc_unref(a);
        agent_state_close(s);
}

Test(agent_alloc, a_task_gone_while_the_agent_was_down_follows_its_restart_policy) {
        struct agent_state *s = NULL;
        struct error err = {0};
        cr_assert_eq(agent_state_open(fx.dir, &s, &err), 0, "%s", err.msg);
        struct alloc *a = make_alloc("batch", NO_RESTART, SLEEPER);
        struct alloc_runner *first = runner_with_state(a, s);
        start_and_wait(first);
        struct driver_handle h;
        cr_assert_eq(agent_state_get_handle(s, a->id, "nap", &h, &err), 0);
        struct alloc *back = alloc_fixture_as_reported(a, first);
        alloc_runner_destroy(first);
        uv_run(&fx.loop, UV_RUN_NOWAIT);
        kill(-h.pid, SIGKILL); /* dies while no agent watches... */
        cr_assert(wait_gone(h.pid), "...and is reaped by the collector that started it");

        struct alloc_runner *second = runner_with_state(back, s);
        alloc_runner_restore(second);
        /* The collector may not have written its record yet: the runner then waits
         * for it on a timer. */
        run_until_finished(second, 5000);
        cr_expect(alloc_runner_finished(second), "no restarts allowed: the task is dead");
        cr_expect_eq(alloc_runner_client_status(second), ALLOC_CLIENT_FAILED);
        json_t *u = alloc_runner_update_json(second);
        cr_expect(has_event(u, "nap", "Terminated"));
        cr_expect(has_exit(u, "nap", 0, SIGKILL), "killed by SIGKILL, as the collector recorded");
        json_decref(u);
        alloc_runner_destroy(second);
        alloc_unref(back);
        alloc_unref(a);
        agent_state_close(s);
}

/* The starts a task logged (one line each: its start time), or -1. */
static int read_starts(const char *path, double *ret, int max) {
        FILE *f = fopen(path, "r");
        if (!f)
                return -1;
        int n = 0;
        double t;
        while (n < max && fscanf(f, "%lf", &t) == 1)
                ret[n++] = t;
        fclose(f);
        return n;
}

/* A task that failed and waits on its restart delay when the agent goes: the next
 * agent starts it when the delay ends, not at once, and keeps counting its failures
 * (attempts = 2: three starts in all, not a fresh two after the restart). */
Test(agent_alloc, a_pending_restart_delay_and_the_attempts_survive_a_restart, .timeout = 40) {
        struct agent_state *s = NULL;
        struct error err = {0};
        cr_assert_eq(agent_state_open(fx.dir, &s, &err), 0, "%s", err.msg);
        char starts[128], task[512];
        snprintf(starts, sizeof(starts), "%s/starts", fx.dir);
        snprintf(task, sizeof(task),
                 "{\"Name\":\"flaky\",\"Driver\":\"raw_exec\",\"Config\":{\"command\":\"/bin/sh\",\"args\":[\"-c\","
                 "\"date +%%s.%%N >> %s; exit 1\"]}}",
                 starts);
        struct alloc *a = make_alloc(
            "service", "{\"Attempts\":2,\"Interval\":600000000000,\"Delay\":2000000000,\"Mode\":\"fail\"}", task);
        struct alloc_runner *first = runner_with_state(a, s);
        start_and_wait(first);
        json_t *u = NULL;
        for (int i = 0; i < 500; i++) {
                json_decref(u);
                u = alloc_runner_update_json(first);
                if (has_event(u, "flaky", "Restarting"))
                        break;
                uv_run(&fx.loop, UV_RUN_ONCE);
        }
        cr_assert(has_event(u, "flaky", "Restarting"), "the first run failed and waits on its delay");
        json_decref(u);
        cr_assert_eq(agent_state_commit(s, &err), 0, "%s", err.msg);
        struct alloc *back = alloc_fixture_as_reported(a, first);
        alloc_runner_destroy(first);
        uv_run(&fx.loop, UV_RUN_NOWAIT);
        struct timespec now;
        clock_gettime(CLOCK_REALTIME, &now);
        double restored_at = (double)now.tv_sec + now.tv_nsec / 1e9;

        struct alloc_runner *second = runner_with_state(back, s);
        alloc_runner_restore(second);
        run_until_finished(second, 20000);
        double t[8];
        int n = read_starts(starts, t, 8);
        cr_expect_eq(n, 3, "attempts = 2 across the restart: 3 starts in all (got %d)", n);
        cr_expect_geq(n, 2);
        if (n >= 2) {
                cr_expect_geq(t[1] - t[0], 1.9, "the second start waited for the delay (%.2f s after the first)",
                              t[1] - t[0]);
                cr_expect_gt(t[1] - restored_at, 0.5, "the restored runner did not start it at once (%.2f s)",
                             t[1] - restored_at);
        }
        cr_expect(alloc_runner_finished(second));
        cr_expect_eq(alloc_runner_client_status(second), ALLOC_CLIENT_FAILED, "it gave up after its attempts");
        alloc_runner_destroy(second);
        uv_run(&fx.loop, UV_RUN_NOWAIT);
        alloc_unref(back);
        alloc_unref(a);
        agent_state_close(s);
}

/* Open the FIFO path for writing once its reader (a task blocked in `read x < path`) has
 * it open, and write a line: the task goes on. No sleep: a non-blocking open fails with
 * ENXIO until the reader is there. */
static bool release_gate(const char *path) {
        for (int i = 0; i < 1000; i++) {
                int fd = open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
                if (fd >= 0) {
                        bool ok = write(fd, "go\n", 3) == 3;
                        close(fd);
                        return ok;
                }
                if (errno != ENXIO)
                        return false;
                struct timespec ts = {0, 10000000};
                nanosleep(&ts, NULL);
        }
        return false;
}

/* Until the collector has recorded how pid ended in the task's directory (it writes the
 * record after reaping it: a zombie, or a pid gone from /proc, is not enough). */
static bool wait_exit_record(const char *task, pid_t pid, int *ret_code, int *ret_sig) {
        char tdir[256];
        snprintf(tdir, sizeof(tdir), "%s/alloc/6f1d0c1e-0000-4000-8000-000000000001/%s", fx.dir, task);
        for (int i = 0; i < 1000; i++) {
                if (logmon_read_exit(tdir, pid, ret_code, ret_sig) == 0)
                        return true;
                struct timespec ts = {0, 10000000};
                nanosleep(&ts, NULL);
        }
        return false;
}

/* Three tasks, as the integration test: "quit" waits on a FIFO (the gate), "nap" and
 * "nap2" sleep. The first runner starts them and goes away with its collector
 * connection (the agent dies); the gate opens and "quit" exits 3 while no agent runs;
 * returns once the collector recorded that, with the alloc as the servers last heard
 * of it (*ret_back) and the three saved handles. */
static void three_tasks_one_exits_while_down(struct agent_state *s, struct alloc **ret_a, struct alloc **ret_back,
                                             struct driver_handle h[3]) {
        char gate[128], tasks[1024];
        snprintf(gate, sizeof(gate), "%s/gate", fx.dir);
        cr_assert_eq(mkfifo(gate, 0600), 0);
        snprintf(tasks, sizeof(tasks),
                 "{\"Name\":\"quit\",\"Driver\":\"raw_exec\",\"Config\":{\"command\":\"/bin/sh\",\"args\":[\"-c\","
                 "\"read x < %s; exit 3\"]}},"
                 "{\"Name\":\"nap\",\"Driver\":\"raw_exec\",\"Config\":{\"command\":\"/bin/sleep\",\"args\":[\"60\"]}},"
                 "{\"Name\":\"nap2\",\"Driver\":\"raw_exec\",\"Config\":{\"command\":\"/bin/sleep\",\"args\":[\"60\"]}}",
                 gate);
        struct alloc *a = make_alloc("service", NO_RESTART, tasks);
        struct error err = {0};
        struct alloc_runner *first = runner_with_state(a, s);
        start_and_wait(first);
        cr_assert_eq(alloc_runner_client_status(first), ALLOC_CLIENT_RUNNING, "quit waits for its gate");
        const char *names[3] = {"quit", "nap", "nap2"};
        for (int i = 0; i < 3; i++)
                cr_assert_eq(agent_state_get_handle(s, a->id, names[i], &h[i], &err), 0, "%s saved", names[i]);
        *ret_back = alloc_fixture_as_reported(a, first);
        /* The agent dies: its runner and its connection to the collector go away. */
        alloc_runner_destroy(first);
        uv_run(&fx.loop, UV_RUN_NOWAIT);
        logmon_destroy(fx.lm);
        fx.lm = NULL;
        cr_assert(release_gate(gate), "quit reads its gate");
        int code = -1, sig = -1;
        cr_assert(wait_exit_record("quit", h[0].pid, &code, &sig), "the collector records quit's end");
        cr_assert_eq(code, 3);
        fx.lm = logmon_create(fx.dir, &err); /* the next agent */
        cr_assert_not_null(fx.lm, "%s", err.msg);
        *ret_a = a;
}

Test(agent_alloc, a_task_that_exits_while_the_agent_is_down_is_reported_with_its_exit_code) {
        struct agent_state *s = NULL;
        struct error err = {0};
        cr_assert_eq(agent_state_open(fx.dir, &s, &err), 0, "%s", err.msg);
        struct alloc *a, *back;
        struct driver_handle h[3];
        three_tasks_one_exits_while_down(s, &a, &back, h);

        struct alloc_runner *second = runner_with_state(back, s);
        alloc_runner_restore(second);
        json_t *u = alloc_runner_update_json(second);
        cr_expect(has_exit(u, "quit", 3, 0), "reported with its real exit code");
        json_decref(u);
        cr_expect_eq(alloc_runner_client_status(second), ALLOC_CLIENT_FAILED, "exit 3 with no restarts: failed");
        /* The failed task fails the allocation, so its siblings are being killed: whether
         * the collector has reaped them yet is a race, but they were re-attached (same
         * pids), not restarted. */
        struct driver_handle now;
        cr_expect_eq(agent_state_get_handle(s, a->id, "nap", &now, &err), 0);
        cr_expect_eq(now.pid, h[1].pid, "the other tasks were re-attached, not restarted");
        cr_expect_eq(agent_state_get_handle(s, a->id, "nap2", &now, &err), 0);
        cr_expect_eq(now.pid, h[2].pid);
        alloc_runner_stop(second);
        run_until_finished(second, 10000);
        cr_expect(alloc_runner_finished(second));
        cr_expect(wait_gone(h[1].pid), "the siblings were killed (re-attached before the failed task killed them)");
        cr_expect(wait_gone(h[2].pid));
        alloc_runner_destroy(second);
        alloc_unref(back);
        alloc_unref(a);
        agent_state_close(s);
}

/* The collector writes a task's record just after reaping it: an agent that restarts in
 * between finds the task gone and no record yet. It waits for the record (a timer, as for
 * a task that ends while it runs) instead of reporting the exit status unknown. */
Test(agent_alloc, a_restored_runner_waits_for_the_record_of_a_task_that_just_ended) {
        struct agent_state *s = NULL;
        struct error err = {0};
        cr_assert_eq(agent_state_open(fx.dir, &s, &err), 0, "%s", err.msg);
        struct alloc *a, *back;
        struct driver_handle h[3];
        three_tasks_one_exits_while_down(s, &a, &back, h);
        /* Hide the record (the directory's attribute, or the file where the
         * collector cannot set one): the moment between the reaping and the writing. */
        char tdir[256], rec[300], hidden[320], saved[96];
        snprintf(tdir, sizeof(tdir), "%s/alloc/%s/quit", fx.dir, a->id);
        snprintf(rec, sizeof(rec), "%s/%s", tdir, LOGMON_EXIT_FILE);
        snprintf(hidden, sizeof(hidden), "%s.hidden", rec);
        ssize_t saved_len = getxattr(tdir, LOGMON_EXIT_XATTR, saved, sizeof(saved));
        if (saved_len > 0)
                cr_assert_eq(removexattr(tdir, LOGMON_EXIT_XATTR), 0);
        else
                cr_assert_eq(rename(rec, hidden), 0);

        struct alloc_runner *second = runner_with_state(back, s);
        alloc_runner_restore(second);
        json_t *u = alloc_runner_update_json(second);
        cr_expect(!has_event(u, "quit", "Terminated"), "no verdict without the record");
        json_decref(u);
        cr_expect_eq(alloc_runner_client_status(second), ALLOC_CLIENT_RUNNING);
        /* the collector writes it */
        if (saved_len > 0)
                cr_assert_eq(setxattr(tdir, LOGMON_EXIT_XATTR, saved, (size_t)saved_len, 0), 0);
        else
                cr_assert_eq(rename(hidden, rec), 0);
        for (int i = 0; i < 1000 && alloc_runner_client_status(second) == ALLOC_CLIENT_RUNNING; i++)
                uv_run(&fx.loop, UV_RUN_ONCE);
        u = alloc_runner_update_json(second);
        cr_expect(has_exit(u, "quit", 3, 0), "reported with its real exit code once recorded");
        json_decref(u);
        cr_expect_eq(alloc_runner_client_status(second), ALLOC_CLIENT_FAILED);
        alloc_runner_stop(second);
        run_until_finished(second, 10000);
        cr_expect(alloc_runner_finished(second));
        cr_expect(wait_gone(h[1].pid));
        cr_expect(wait_gone(h[2].pid));
        alloc_runner_destroy(second);
        alloc_unref(back);
        alloc_unref(a);
        agent_state_close(s);
}

Test(agent_alloc, an_exit_code_is_reported_while_the_agent_runs) {
        struct alloc *a = make_alloc("batch", NO_RESTART,
                                     "{\"Name\":\"quit\",\"Driver\":\"raw_exec\",\"Config\":{\"command\":\"/bin/sh\","
                                     "\"args\":[\"-c\",\"exit 7\"]}}");
        struct alloc_runner *ar = run(a);
        run_until_finished(ar, 10000);
        json_t *u = alloc_runner_update_json(ar);
        cr_expect(has_exit(u, "quit", 7, 0), "exit code 7 from the collector's status file");
        json_decref(u);
        cr_expect_eq(alloc_runner_client_status(ar), ALLOC_CLIENT_FAILED);
        alloc_runner_destroy(ar);
        alloc_unref(a);
}

/* The runner gives each task its directories (alloc_dir.h): a raw_exec task with a
 * user owns them, one without runs as root and the shared part is root's with
 * the user's group; secrets/ is a tmpfs while its task may run, detached once it
 * is dead for good. */
Test(agent_alloc, task_directories_belong_to_the_tasks_user_and_secrets_go_when_it_ends) {
        if (geteuid() != 0)
                cr_skip_test("needs root (chown, mount)");
        struct alloc *a =
            make_alloc("batch", NO_RESTART,
                       "{\"Name\":\"mine\",\"Driver\":\"raw_exec\",\"User\":\"nobody\",\"Config\":{"
                       "\"command\":\"/bin/sleep\",\"args\":[\"30\"]}},"
                       "{\"Name\":\"root\",\"Driver\":\"raw_exec\",\"Config\":{\"command\":\"/bin/true\"}}");
        struct alloc_runner *ar = run(a);
        char p[512];
        struct stat sb;
        static const struct {
                const char *rel;
                uid_t uid;
                mode_t mode;
        } want[] = {{"", 0, 0710},           {"alloc", 0, 01770},         {"alloc/data", 0, 03770},
                    {"mine", 65534, 0700},   {"mine/local", 65534, 0700}, {"mine/secrets", 65534, 0700},
                    {"root/local", 0, 0700}, {"root/secrets", 0, 0700}};
        for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
                snprintf(p, sizeof(p), "%s/alloc/%s/%s", fx.dir, a->id, want[i].rel);
                cr_assert_eq(lstat(p, &sb), 0, "%s", p);
                cr_expect_eq(sb.st_uid, want[i].uid, "%s: owner %u", want[i].rel, (unsigned)sb.st_uid);
                cr_expect_eq(sb.st_mode & 07777, want[i].mode, "%s: mode %o", want[i].rel, sb.st_mode & 07777);
        }
        char mine[512], root[512];
        snprintf(mine, sizeof(mine), "%s/alloc/%s/mine/secrets", fx.dir, a->id);
        snprintf(root, sizeof(root), "%s/alloc/%s/root/secrets", fx.dir, a->id);
        struct statfs fs;
        cr_expect(statfs(mine, &fs) == 0 && fs.f_type == TMPFS_MAGIC, "a running task's secrets/ is a tmpfs");
        bool root_gone = false;
        for (int i = 0; i < 500 && !root_gone; i++) {
                uv_run(&fx.loop, UV_RUN_NOWAIT);
                root_gone = statfs(root, &fs) == 0 && fs.f_type != TMPFS_MAGIC;
                usleep(10000);
        }
        cr_expect(root_gone, "the task that ended has its tmpfs detached");
        alloc_runner_stop(ar);
        run_until_finished(ar, 5000);
        cr_assert(alloc_runner_finished(ar));
        cr_expect(statfs(mine, &fs) == 0 && fs.f_type != TMPFS_MAGIC, "the stopped one's too");
        alloc_runner_destroy(ar);
        alloc_unref(a);
}

/* exec tasks without a user: the runner takes a workload uid for each and a gid
 * for the allocation before it makes the directories (whether the start then
 * works or not: on a host without cgroup v2 it fails), and gives them back once
 * every task is dead for good. */
Test(agent_alloc, exec_tasks_get_workload_ids_before_their_directories) {
        if (geteuid() != 0)
                cr_skip_test("needs root (chown)");
        const char *tasks = "{\"Name\":\"a\",\"Driver\":\"exec\",\"Config\":{\"command\":\"/bin/true\"}},"
                            "{\"Name\":\"b\",\"Driver\":\"exec\",\"Config\":{\"command\":\"/bin/true\"}}";
        struct alloc *a = make_alloc("batch", NO_RESTART, tasks);
        struct alloc_runner *ar = run(a);
        run_until_finished(ar, 5000);
        cr_assert(alloc_runner_finished(ar));
        char p[512];
        struct stat ta, tb, al;
        snprintf(p, sizeof(p), "%s/alloc/%s/a/local", fx.dir, a->id);
        cr_assert_eq(stat(p, &ta), 0, "%s", p);
        snprintf(p, sizeof(p), "%s/alloc/%s/b/local", fx.dir, a->id);
        cr_assert_eq(stat(p, &tb), 0, "%s", p);
        snprintf(p, sizeof(p), "%s/alloc/%s/alloc", fx.dir, a->id);
        cr_assert_eq(stat(p, &al), 0, "%s", p);
        cr_expect(ta.st_uid >= UID_POOL_DEFAULT_MIN && ta.st_uid <= UID_POOL_DEFAULT_MAX, "uid %u",
                  (unsigned)ta.st_uid);
        cr_expect(tb.st_uid >= UID_POOL_DEFAULT_MIN && tb.st_uid != ta.st_uid, "a uid each: %u %u", (unsigned)ta.st_uid,
                  (unsigned)tb.st_uid);
        cr_expect(ta.st_gid == tb.st_gid && al.st_gid == ta.st_gid && ta.st_gid != ta.st_uid && ta.st_gid != tb.st_uid,
                  "one group for the allocation, shared through alloc/ (%u %u %u)", (unsigned)ta.st_gid,
                  (unsigned)tb.st_gid, (unsigned)al.st_gid);
        cr_expect_eq(al.st_uid, 0, "alloc/ stays root's");
        /* Dead for good: the ids went back; the next allocation gets the same ones. */
        struct alloc *b = make_alloc("batch", NO_RESTART, tasks);
        free(b->id);
        b->id = strdup("6f1d0c1e-0000-4000-8000-000000000002");
        struct alloc_runner *br = run(b);
        run_until_finished(br, 5000);
        struct stat tb2;
        snprintf(p, sizeof(p), "%s/alloc/%s/a/local", fx.dir, b->id);
        cr_assert_eq(stat(p, &tb2), 0, "%s", p);
        cr_expect(tb2.st_uid == ta.st_uid && tb2.st_gid == ta.st_gid, "reused: %u:%u (was %u:%u)", (unsigned)tb2.st_uid,
                  (unsigned)tb2.st_gid, (unsigned)ta.st_uid, (unsigned)ta.st_gid);
        alloc_runner_destroy(ar);
        alloc_runner_destroy(br);
        alloc_unref(a);
        alloc_unref(b);
}
