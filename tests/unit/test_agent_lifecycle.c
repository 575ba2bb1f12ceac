/* test_agent_lifecycle.c - the alloc runner's lifecycle order (Nomad's lifecycle
 * block) on a real loop with raw_exec tasks: prestart before the main tasks, a
 * failed prestart failing the allocation, sidecars stopped with the main tasks,
 * poststart once they run, poststop after them, a restored runner that does
 * not run a completed prestart task again, and alloc restart -all-tasks that does. Orders are read from the tasks' event
 * times and from files the tasks write into the shared alloc/ directory. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "common/error.h"
#include "common/log.h"
#include "common/model.h"
#include "nodeagent/alloc/alloc_runner.h"
#include "nodeagent/drivers/driver.h"
#include "nodeagent/logs/logmon.h"
#include "nodeagent/state/agent_state.h"
#include "tests/support/alloc_fixture.h"

static struct alloc_fixture fx;

static void setup(void) {
        alloc_fixture_setup(&fx, "lifecycle");
}

static void teardown(void) {
        alloc_fixture_teardown(&fx);
}

TestSuite(agent_lifecycle, .init = setup, .fini = teardown, .timeout = 30);

#define NO_RESTART "{\"Attempts\":0,\"Interval\":60000000000,\"Delay\":1000000000,\"Mode\":\"fail\"}"
#define ALLOC_ID "6f1d0c1e-0000-4000-8000-00000000c1fe"

/* A raw_exec task running a shell script; hook NULL: a main task. */
#define TASK(name, lifecycle, script)                                                                                  \
        "{\"Name\":\"" name "\",\"Driver\":\"raw_exec\"" lifecycle ",\"Config\":{\"command\":\"/bin/sh\","             \
        "\"args\":[\"-c\",\"" script "\"]}}"
#define MAIN ""
#define PRESTART ",\"Lifecycle\":{\"Hook\":\"prestart\",\"Sidecar\":false}"
#define SIDECAR ",\"Lifecycle\":{\"Hook\":\"prestart\",\"Sidecar\":true}"
#define POSTSTART ",\"Lifecycle\":{\"Hook\":\"poststart\",\"Sidecar\":false}"
#define POSTSTOP ",\"Lifecycle\":{\"Hook\":\"poststop\",\"Sidecar\":false}"

static struct alloc *make_alloc(const char *type, const char *tasks) {
        return alloc_fixture_alloc(ALLOC_ID, "web.api[0]", type, NO_RESTART, tasks);
}

static struct alloc_runner *runner(struct alloc *a, struct agent_state *s) {
        struct alloc_runner_env env = {.loop = &fx.loop,
                                       .data_dir = fx.dir,
                                       .node_id = "n1",
                                       .node_name = "node1",
                                       .dc = "dc1",
                                       .state = s,
                                       .logmon = fx.lm};
        struct alloc_runner *ar = alloc_runner_create(&env, a);
        cr_assert_not_null(ar);
        return ar;
}

static int64_t elapsed_ms(const struct timespec *t0) {
        struct timespec t;
        clock_gettime(CLOCK_MONOTONIC, &t);
        return (t.tv_sec - t0->tv_sec) * 1000 + (t.tv_nsec - t0->tv_nsec) / 1000000;
}

static json_t *task_of(json_t *u, const char *task) {
        return json_object_get(json_object_get(u, "TaskStates"), task);
}

static const char *state_of(struct alloc_runner *ar, const char *task) {
        static char buf[16];
        json_t *u = alloc_runner_update_json(ar);
        snprintf(buf, sizeof(buf), "%s", json_string_value(json_object_get(task_of(u, task), "State")));
        json_decref(u);
        return buf;
}

/* Run the loop until task is in state (or ms pass); true when it got there. */
static bool run_until_state(struct alloc_runner *ar, const char *task, const char *state, int ms) {
        struct timespec t0;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        while (strcmp(state_of(ar, task), state) != 0 && elapsed_ms(&t0) < ms)
                uv_run(&fx.loop, UV_RUN_ONCE);
        return strcmp(state_of(ar, task), state) == 0;
}

static void run_until_finished(struct alloc_runner *ar, int ms) {
        alloc_fixture_run_until_finished(&fx, ar, ms);
}

/* The time of task's first event of that type, -1 if none. */
static int64_t event_time(json_t *u, const char *task, const char *type) {
        json_t *evs = json_object_get(task_of(u, task), "Events");
        size_t i;
        json_t *e;
        json_array_foreach(evs, i, e) {
                if (strcmp(json_string_value(json_object_get(e, "Type")), type) == 0)
                        return json_integer_value(json_object_get(e, "Time"));
        }
        return -1;
}

static bool exists(const char *name) {
        char path[256];
        snprintf(path, sizeof(path), "%s/alloc/" ALLOC_ID "/alloc/%s", fx.dir, name);
        return access(path, F_OK) == 0;
}

static int lines_of(const char *name) {
        char path[256];
        snprintf(path, sizeof(path), "%s/alloc/" ALLOC_ID "/alloc/%s", fx.dir, name);
        FILE *f = fopen(path, "r");
        int n = 0, c;
        while (f && (c = fgetc(f)) != EOF)
                n += c == '\n';
        if (f)
                fclose(f);
        return n;
}

Test(agent_lifecycle, prestart_completes_before_the_main_task_starts) {
        struct alloc *a = make_alloc("batch", TASK("main", MAIN, "test -f $NOMAD_ALLOC_DIR/ready") "," TASK(
                                                  "init", PRESTART, "sleep 0.3; touch $NOMAD_ALLOC_DIR/ready"));
        struct alloc_runner *ar = runner(a, NULL);
        alloc_runner_start(ar);
        cr_assert(run_until_state(ar, "init", "running", 5000));
        cr_expect_str_eq(state_of(ar, "main"), "pending", "the main task waits for the prestart task");
        run_until_finished(ar, 10000);
        cr_assert(alloc_runner_finished(ar));
        cr_expect_eq(alloc_runner_client_status(ar), ALLOC_CLIENT_COMPLETE, "main found the file init wrote");
        json_t *u = alloc_runner_update_json(ar);
        cr_expect_geq(event_time(u, "main", "Task Setup"), 0, "main is set up with the others");
        cr_expect_geq(event_time(u, "main", "Started"), event_time(u, "init", "Terminated"));
        cr_expect_eq(event_time(u, "init", "Restarting"), -1, "a prestart task that exits 0 is not restarted");
        json_decref(u);
        alloc_runner_destroy(ar);
        alloc_unref(a);
}

Test(agent_lifecycle, a_failed_prestart_fails_the_alloc_and_the_main_task_never_starts) {
        struct alloc *a = make_alloc("service", TASK("init", PRESTART, "exit 3") "," TASK(
                                                    "main", MAIN, "touch $NOMAD_ALLOC_DIR/main-ran; sleep 30"));
        struct alloc_runner *ar = runner(a, NULL);
        alloc_runner_start(ar);
        run_until_finished(ar, 10000);
        cr_assert(alloc_runner_finished(ar));
        cr_expect_eq(alloc_runner_client_status(ar), ALLOC_CLIENT_FAILED);
        json_t *u = alloc_runner_update_json(ar);
        cr_expect_geq(event_time(u, "init", "Not Restarting"), 0);
        cr_expect_eq(event_time(u, "main", "Started"), -1, "the main task never started");
        cr_expect_geq(event_time(u, "main", "Sibling Task Failed"), 0);
        json_decref(u);
        cr_expect(!exists("main-ran"));
        alloc_runner_destroy(ar);
        alloc_unref(a);
}

Test(agent_lifecycle, a_sidecar_runs_beside_the_main_task_and_is_killed_when_it_exits) {
        struct alloc *a =
            make_alloc("batch", TASK("proxy", SIDECAR, "exec sleep 30") "," TASK("main", MAIN, "sleep 0.3"));
        struct alloc_runner *ar = runner(a, NULL);
        alloc_runner_start(ar);
        struct timespec t0;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        run_until_finished(ar, 10000);
        cr_assert(alloc_runner_finished(ar), "the sidecar was stopped");
        cr_expect_lt(elapsed_ms(&t0), 8000, "not by its own end");
        cr_expect_eq(alloc_runner_client_status(ar), ALLOC_CLIENT_COMPLETE,
                     "a batch alloc completes with its main task");
        json_t *u = alloc_runner_update_json(ar);
        cr_expect_geq(event_time(u, "main", "Started"), event_time(u, "proxy", "Started"), "the sidecar starts first");
        cr_expect_geq(event_time(u, "proxy", "Killing"), event_time(u, "main", "Terminated"));
        cr_expect_geq(event_time(u, "proxy", "Killed"), 0);
        cr_expect(!json_is_true(json_object_get(task_of(u, "proxy"), "Failed")));
        json_decref(u);
        alloc_runner_destroy(ar);
        alloc_unref(a);
}

Test(agent_lifecycle, poststart_starts_once_the_main_task_runs) {
        struct alloc *a = make_alloc("batch", TASK("after", POSTSTART, "touch $NOMAD_ALLOC_DIR/after") "," TASK(
                                                  "main", MAIN, "sleep 0.5") "," TASK("init", PRESTART, "sleep 0.2"));
        struct alloc_runner *ar = runner(a, NULL);
        alloc_runner_start(ar);
        run_until_finished(ar, 10000);
        cr_assert(alloc_runner_finished(ar));
        cr_expect_eq(alloc_runner_client_status(ar), ALLOC_CLIENT_COMPLETE);
        json_t *u = alloc_runner_update_json(ar);
        int64_t main_started = event_time(u, "main", "Started");
        cr_expect_geq(main_started, event_time(u, "init", "Terminated"));
        cr_expect_geq(event_time(u, "after", "Started"), main_started);
        json_decref(u);
        cr_expect(exists("after"));
        alloc_runner_destroy(ar);
        alloc_unref(a);
}

Test(agent_lifecycle, poststop_runs_after_the_main_task_and_the_alloc_completes_after_it) {
        struct alloc *a =
            make_alloc("batch", TASK("cleanup", POSTSTOP,
                                     "sleep 0.5; touch $NOMAD_ALLOC_DIR/cleaned") "," TASK("main", MAIN, "sleep 0.2"));
        struct alloc_runner *ar = runner(a, NULL);
        alloc_runner_start(ar);
        cr_assert(run_until_state(ar, "main", "dead", 5000));
        cr_expect(!alloc_runner_finished(ar));
        cr_expect_neq(alloc_runner_client_status(ar), ALLOC_CLIENT_COMPLETE, "not complete before poststop ran");
        run_until_finished(ar, 10000);
        cr_assert(alloc_runner_finished(ar));
        cr_expect_eq(alloc_runner_client_status(ar), ALLOC_CLIENT_COMPLETE);
        cr_expect(exists("cleaned"));
        json_t *u = alloc_runner_update_json(ar);
        cr_expect_geq(event_time(u, "cleanup", "Started"), event_time(u, "main", "Terminated"));
        json_decref(u);
        alloc_runner_destroy(ar);
        alloc_unref(a);
}

Test(agent_lifecycle, a_stopped_alloc_runs_its_poststop_task_after_killing_the_others) {
        struct alloc *a = make_alloc("service", TASK("main", MAIN, "exec sleep 30") "," TASK(
                                                    "cleanup", POSTSTOP, "touch $NOMAD_ALLOC_DIR/cleaned"));
        struct alloc_runner *ar = runner(a, NULL);
        alloc_runner_start(ar);
        cr_assert(run_until_state(ar, "main", "running", 5000));
        cr_expect_str_eq(state_of(ar, "cleanup"), "pending");
        alloc_runner_stop(ar);
        run_until_finished(ar, 10000);
        cr_assert(alloc_runner_finished(ar));
        cr_expect(exists("cleaned"));
        json_t *u = alloc_runner_update_json(ar);
        cr_expect_geq(event_time(u, "main", "Killed"), 0);
        cr_expect_geq(event_time(u, "cleanup", "Started"), event_time(u, "main", "Killed"));
        cr_expect_eq(event_time(u, "cleanup", "Killing"), -1, "a stop does not kill poststop tasks");
        json_decref(u);
        alloc_runner_destroy(ar);
        alloc_unref(a);
}

Test(agent_lifecycle, a_restored_runner_does_not_run_a_completed_prestart_task_again) {
        struct agent_state *s = NULL;
        struct error err = {0};
        cr_assert_eq(agent_state_open(fx.dir, &s, &err), 0, "%s", err.msg);
        struct alloc *a =
            make_alloc("service", TASK("init", PRESTART, "echo ran >>$NOMAD_ALLOC_DIR/runs") "," TASK(
                                      "main", MAIN, "exec sleep 30") "," TASK("cleanup", POSTSTOP,
                                                                              "echo ran >>$NOMAD_ALLOC_DIR/cleanups"));
        struct alloc_runner *first = runner(a, s);
        alloc_runner_start(first);
        cr_assert(run_until_state(first, "main", "running", 5000));
        cr_expect_eq(lines_of("runs"), 1);
        struct alloc *back = alloc_fixture_as_reported(a, first);
        alloc_runner_destroy(first); /* the agent goes away; main keeps running */
        uv_run(&fx.loop, UV_RUN_NOWAIT);

        struct alloc_runner *second = runner(back, s);
        alloc_runner_restore(second);
        cr_expect_str_eq(state_of(second, "init"), "dead");
        cr_expect_str_eq(state_of(second, "main"), "running", "re-attached");
        cr_expect_str_eq(state_of(second, "cleanup"), "pending", "still waiting for its turn");
        for (int i = 0; i < 20; i++)
                uv_run(&fx.loop, UV_RUN_NOWAIT);
        cr_expect_eq(lines_of("runs"), 1, "the completed prestart task did not run again");
        alloc_runner_stop(second);
        run_until_finished(second, 10000);
        cr_assert(alloc_runner_finished(second));
        cr_expect_eq(lines_of("cleanups"), 1, "poststop ran once, after the stop");
        alloc_runner_destroy(second);
        alloc_unref(back);
        alloc_unref(a);
        agent_state_close(s);
}

/* The time of task's last event of that type, -1 if none. */
static int64_t last_event_time(json_t *u, const char *task, const char *type) {
        json_t *evs = json_object_get(task_of(u, task), "Events");
        int64_t t = -1;
        size_t i;
        json_t *e;
        json_array_foreach(evs, i, e) {
                if (strcmp(json_string_value(json_object_get(e, "Type")), type) == 0)
                        t = json_integer_value(json_object_get(e, "Time"));
        }
        return t;
}

/* Run the loop until file in alloc/ has lines lines and task runs (task NULL:
 * whatever it does), or ms pass. The loop is polled: a task writing a file does
 * not wake it. */
static bool run_until_lines(struct alloc_runner *ar, const char *file, int lines, const char *task, int ms) {
        struct timespec t0, nap = {0, 5000000};
        clock_gettime(CLOCK_MONOTONIC, &t0);
        bool done;
        while (!(done = lines_of(file) >= lines && (!task || strcmp(state_of(ar, task), "running") == 0)) &&
               elapsed_ms(&t0) < ms) {
                uv_run(&fx.loop, UV_RUN_NOWAIT);
                nanosleep(&nap, NULL);
        }
        return done;
}

Test(agent_lifecycle, restart_all_tasks_runs_the_completed_prestart_and_poststart_tasks_again_in_order) {
        struct alloc *a = make_alloc(
            "service", TASK("init", PRESTART, "sleep 0.2; echo init-ran; echo ran >>$NOMAD_ALLOC_DIR/runs") "," TASK(
                           "main", MAIN, "echo ran >>$NOMAD_ALLOC_DIR/mains; exec sleep 30") "," TASK(
                           "after", POSTSTART, "echo ran >>$NOMAD_ALLOC_DIR/posts") "," TASK(
                           "cleanup", POSTSTOP, "echo ran >>$NOMAD_ALLOC_DIR/cleanups"));
        struct alloc_runner *ar = runner(a, NULL);
        alloc_runner_start(ar);
        cr_assert(run_until_lines(ar, "mains", 1, "main", 5000));
        cr_assert(run_until_state(ar, "after", "dead", 5000));
        cr_expect_str_eq(state_of(ar, "init"), "dead");

        /* Without -all-tasks only the running task restarts: the prestart task does not run again. */
        struct error err = {0};
        cr_assert_eq(alloc_runner_restart(ar, NULL, false, &err), 0, "%s", err.msg);
        cr_assert(run_until_lines(ar, "mains", 2, "main", 10000));
        cr_expect_eq(lines_of("runs"), 1, "a plain restart leaves the completed prestart task alone");
        cr_expect_eq(lines_of("posts"), 1);

        cr_expect_eq(alloc_runner_restart(ar, "main", true, &err), -EINVAL, "a task name with all tasks");
        json_t *u0 = alloc_runner_update_json(ar);
        int64_t before = last_event_time(u0, "main", "Started");
        json_decref(u0);
        cr_assert_eq(alloc_runner_restart(ar, NULL, true, &err), 0, "%s", err.msg);
        cr_expect_str_eq(state_of(ar, "init"), "pending", "the completed prestart task waits for its turn again");
        cr_assert(run_until_lines(ar, "mains", 3, "main", 10000));
        cr_assert(run_until_state(ar, "after", "dead", 5000));
        cr_assert(run_until_lines(ar, "posts", 2, NULL, 10000), "the poststart task ran again");
        cr_expect_eq(lines_of("runs"), 2, "the prestart task ran again");
        cr_expect_eq(lines_of("posts"), 2);
        cr_expect_eq(lines_of("cleanups"), 0, "a poststop task runs only at the end");
        /* Its output is collected again (its collector stopped when it was dead). */
        int logged = 0;
        for (int i = 0; i < 300 && (logged = lines_of("logs/init.stdout.0")) < 2; i++) {
                uv_run(&fx.loop, UV_RUN_NOWAIT);
                usleep(10000);
        }
        cr_expect_eq(logged, 2, "both runs of init in its stdout log");
        json_t *u = alloc_runner_update_json(ar);
        int64_t init_end = last_event_time(u, "init", "Terminated");
        int64_t main_start = last_event_time(u, "main", "Started");
        cr_expect_gt(main_start, before);
        cr_expect_geq(main_start, init_end, "main started again after init completed again");
        cr_expect_geq(last_event_time(u, "after", "Started"), main_start, "poststart after main again");
        cr_expect_geq(last_event_time(u, "init", "Restart Signaled"), 0);
        cr_expect_eq(json_integer_value(json_object_get(task_of(u, "init"), "Restarts")), 1);
        cr_expect(!json_is_true(json_object_get(task_of(u, "init"), "Failed")));
        json_decref(u);
        cr_expect_eq(alloc_runner_client_status(ar), ALLOC_CLIENT_RUNNING);

        alloc_runner_stop(ar);
        run_until_finished(ar, 10000);
        cr_assert(alloc_runner_finished(ar));
        cr_expect_eq(lines_of("cleanups"), 1);
        cr_expect_eq(alloc_runner_restart(ar, NULL, true, &err), -ESRCH, "nothing runs: Task not running");
        alloc_runner_destroy(ar);
        alloc_unref(a);
}

Test(agent_lifecycle, the_model_keeps_lifecycle_and_refuses_an_unknown_hook) {
        const char *ok =
            "{\"ID\":\"j\",\"Type\":\"batch\",\"TaskGroups\":[{\"Name\":\"g\",\"Tasks\":["
            "{\"Name\":\"t\",\"Lifecycle\":{\"Hook\":\"poststart\",\"Sidecar\":true}},{\"Name\":\"m\"}]}]}";
        json_t *o = json_loads(ok, 0, NULL);
        struct job *j = NULL;
        struct error err = {0};
        cr_assert_eq(job_from_json(o, &j, &err), 0, "%s", err.msg);
        json_decref(o);
        cr_expect_eq(j->groups[0].tasks[0].hook, TASK_HOOK_POSTSTART);
        cr_expect(j->groups[0].tasks[0].sidecar);
        cr_expect_eq(j->groups[0].tasks[1].hook, TASK_HOOK_NONE);
        json_t *back = job_to_json(j);
        json_t *tasks = json_object_get(json_array_get(json_object_get(back, "TaskGroups"), 0), "Tasks");
        json_t *lc = json_object_get(json_array_get(tasks, 0), "Lifecycle");
        cr_expect_str_eq(json_string_value(json_object_get(lc, "Hook")), "poststart");
        cr_expect(json_is_true(json_object_get(lc, "Sidecar")));
        cr_expect_null(json_object_get(json_array_get(tasks, 1), "Lifecycle"), "a main task has none, as it came");
        json_decref(back);
        job_unref(j);

        const char *bad = "{\"ID\":\"j\",\"TaskGroups\":[{\"Name\":\"g\",\"Tasks\":["
                          "{\"Name\":\"t\",\"Lifecycle\":{\"Hook\":\"prestrat\"}}]}]}";
        o = json_loads(bad, 0, NULL);
        j = NULL;
        cr_expect_lt(job_from_json(o, &j, &err), 0);
        cr_expect(strstr(err.msg, "TaskGroups[0].Tasks[0].Lifecycle.Hook") && strstr(err.msg, "\"prestrat\""), "%s",
                  err.msg);
        json_decref(o);
        job_unref(j);
}
