/* test_agent_restart.c - restart policy decisions (nodeagent/alloc/restart.c) and
 * the client status an allocation reports from its task states. */
#include <criterion/criterion.h>
#include <string.h>

#include "common/clock.h"
#include "common/model.h"
#include "nodeagent/alloc/alloc_runner.h"
#include "nodeagent/alloc/restart.h"

#define S NS_PER_SEC
#define MINUTE (60 * S)

struct step {
        int64_t at; /* seconds after the task first started */
        enum restart_cause cause;
        bool exit_ok;
        enum restart_verdict want;
        int64_t want_delay;      /* ns; -1 = do not check */
        const char *want_reason; /* substring; NULL = do not check */
};

struct scenario {
        const char *name;
        struct restart_policy policy;
        bool batch;
        struct step steps[8];
        int n_steps;
};

static const struct scenario scenarios[] = {
    {"service: 2 attempts in 30m, then fail",
     {.set = true, .attempts = 2, .interval_ns = 30 * MINUTE, .delay_ns = 15 * S, .mode = "fail"},
     false,
     {{10, RESTART_CAUSE_EXIT, false, RESTART_AFTER, 15 * S, "Restart within policy"},
      {40, RESTART_CAUSE_EXIT, false, RESTART_AFTER, 15 * S, NULL},
      {70, RESTART_CAUSE_EXIT, false, RESTART_GIVE_UP, -1,
       "Exceeded allowed attempts 2 in interval 30m0s and mode is \"fail\""}},
     3},
    {"service task that exits 0 is restarted too",
     {.set = true, .attempts = 1, .interval_ns = 30 * MINUTE, .delay_ns = 1 * S, .mode = "fail"},
     false,
     {{5, RESTART_CAUSE_EXIT, true, RESTART_AFTER, 1 * S, NULL},
      {6, RESTART_CAUSE_EXIT, true, RESTART_GIVE_UP, -1, "Exceeded allowed attempts 1"}},
     2},
    {"batch success is complete, never restarted, even with attempts left",
     {.set = true, .attempts = 3, .interval_ns = 24 * 60 * MINUTE, .delay_ns = 15 * S, .mode = "fail"},
     true,
     {{1, RESTART_CAUSE_EXIT, true, RESTART_DONE, -1, "terminated successfully"}},
     1},
    {"batch failure restarts within policy",
     {.set = true, .attempts = 1, .interval_ns = 24 * 60 * MINUTE, .delay_ns = 2 * S, .mode = "fail"},
     true,
     {{1, RESTART_CAUSE_EXIT, false, RESTART_AFTER, 2 * S, NULL},
      {4, RESTART_CAUSE_EXIT, false, RESTART_GIVE_UP, -1, NULL}},
     2},
    {"attempts 0 and mode fail: no restarts at all",
     {.set = true, .attempts = 0, .interval_ns = 30 * MINUTE, .delay_ns = 15 * S, .mode = "fail"},
     false,
     {{1, RESTART_CAUSE_EXIT, false, RESTART_GIVE_UP, -1, "Policy allows no restarts"}},
     1},
    {"mode delay: past the attempts, wait for the interval to end, then restart",
     {.set = true, .attempts = 1, .interval_ns = 10 * MINUTE, .delay_ns = 5 * S, .mode = "delay"},
     false,
     {{60, RESTART_CAUSE_EXIT, false, RESTART_AFTER, 5 * S, NULL},
      {120, RESTART_CAUSE_EXIT, false, RESTART_AFTER, 10 * MINUTE - 120 * S, "applying a delay"},
      /* the next window: counting starts again */
      {700, RESTART_CAUSE_EXIT, false, RESTART_AFTER, 5 * S, "Restart within policy"},
      {710, RESTART_CAUSE_EXIT, false, RESTART_AFTER, 5 * S, "Restart within policy"},
      {720, RESTART_CAUSE_EXIT, false, RESTART_AFTER, 10 * MINUTE - 20 * S, "applying a delay"}},
     5},
    {"failures spread over more than the interval never give up",
     {.set = true, .attempts = 1, .interval_ns = 1 * MINUTE, .delay_ns = 1 * S, .mode = "fail"},
     false,
     {{30, RESTART_CAUSE_EXIT, false, RESTART_AFTER, 1 * S, NULL},
      {100, RESTART_CAUSE_EXIT, false, RESTART_AFTER, 1 * S, NULL},
      {130, RESTART_CAUSE_EXIT, false, RESTART_AFTER, 1 * S, NULL},
      {200, RESTART_CAUSE_EXIT, false, RESTART_AFTER, 1 * S, NULL}},
     4},
    {"unrecoverable start error (unknown driver, missing command) fails at once",
     {.set = true, .attempts = 5, .interval_ns = 30 * MINUTE, .delay_ns = 1 * S, .mode = "delay"},
     false,
     {{0, RESTART_CAUSE_UNRECOVERABLE, false, RESTART_GIVE_UP, -1, "unrecoverable"}},
     1},
    {"recoverable start error counts like a failure",
     {.set = true, .attempts = 1, .interval_ns = 30 * MINUTE, .delay_ns = 3 * S, .mode = "fail"},
     true,
     {{0, RESTART_CAUSE_START_ERROR, false, RESTART_AFTER, 3 * S, NULL},
      {5, RESTART_CAUSE_START_ERROR, false, RESTART_GIVE_UP, -1, NULL}},
     2},
    {"unset policy: Nomad's batch default (3 attempts in 24h, 15s delay)",
     {.set = false},
     true,
     {{1, RESTART_CAUSE_EXIT, false, RESTART_AFTER, 15 * S, NULL},
      {20, RESTART_CAUSE_EXIT, false, RESTART_AFTER, 15 * S, NULL},
      {40, RESTART_CAUSE_EXIT, false, RESTART_AFTER, 15 * S, NULL},
      {60, RESTART_CAUSE_EXIT, false, RESTART_GIVE_UP, -1, "Exceeded allowed attempts 3 in interval 24h0m0s"}},
     4},
};

Test(agent_restart, policy_table) {
        const int64_t t0 = 1000 * S;
        for (size_t i = 0; i < sizeof(scenarios) / sizeof(scenarios[0]); i++) {
                const struct scenario *sc = &scenarios[i];
                struct restart_tracker t;
                restart_tracker_init(&t, t0);
                for (int k = 0; k < sc->n_steps; k++) {
                        const struct step *s = &sc->steps[k];
                        struct restart_decision d =
                            restart_decide(&t, &sc->policy, sc->batch, s->cause, s->exit_ok, t0 + s->at * S, 0.0);
                        cr_expect_eq(d.verdict, s->want, "%s, step %d: verdict %d, want %d (%s)", sc->name, k,
                                     d.verdict, s->want, d.reason);
                        if (s->want_delay >= 0)
                                cr_expect_eq(d.delay_ns, s->want_delay, "%s, step %d: delay %lld ns, want %lld",
                                             sc->name, k, (long long)d.delay_ns, (long long)s->want_delay);
                        if (s->want_reason)
                                cr_expect(strstr(d.reason, s->want_reason) != NULL, "%s, step %d: reason \"%s\"",
                                          sc->name, k, d.reason);
                }
        }
}

Test(agent_restart, delay_jitter_is_at_most_a_quarter) {
        struct restart_policy p = {
            .set = true, .attempts = 10, .interval_ns = 30 * MINUTE, .delay_ns = 16 * S, .mode = "fail"};
        struct restart_tracker t;
        restart_tracker_init(&t, 0);
        struct restart_decision lo = restart_decide(&t, &p, false, RESTART_CAUSE_EXIT, false, 1 * S, 0.0);
        struct restart_decision hi = restart_decide(&t, &p, false, RESTART_CAUSE_EXIT, false, 2 * S, 0.999);
        cr_assert_eq(lo.delay_ns, 16 * S);
        cr_assert(hi.delay_ns > 19 * S && hi.delay_ns <= 20 * S, "jittered delay %lld", (long long)hi.delay_ns);
}

Test(agent_restart, durations_read_like_nomads) {
        static const struct {
                int64_t ns;
                const char *want;
        } cases[] = {{15 * S, "15s"},
                     {30 * MINUTE, "30m0s"},
                     {24 * 60 * MINUTE, "24h0m0s"},
                     {1500 * NS_PER_MS, "1.5s"},
                     {250 * NS_PER_MS, "250ms"},
                     {90 * S, "1m30s"}};
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                char buf[32];
                format_duration(cases[i].ns, buf, sizeof(buf));
                cr_expect_str_eq(buf, cases[i].want);
        }
}

static struct task_state ts(enum task_state_kind k, bool failed) {
        return (struct task_state){.state = k, .failed = failed};
}

Test(agent_restart, client_status_from_task_states) {
        struct {
                struct task_state t[3];
                size_t n;
                enum alloc_client want;
        } cases[] = {
            {{ts(TASK_RUNNING, false), ts(TASK_DEAD, false)}, 2, ALLOC_CLIENT_RUNNING},
            {{ts(TASK_DEAD, false), ts(TASK_DEAD, false)}, 2, ALLOC_CLIENT_COMPLETE},
            {{ts(TASK_DEAD, true), ts(TASK_RUNNING, false)}, 2, ALLOC_CLIENT_FAILED},
            {{ts(TASK_PENDING, false), ts(TASK_DEAD, false)}, 2, ALLOC_CLIENT_PENDING},
            {{ts(TASK_PENDING, false), ts(TASK_RUNNING, false)}, 2, ALLOC_CLIENT_RUNNING},
            {{ts(TASK_DEAD, false)}, 1, ALLOC_CLIENT_COMPLETE},
        };
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                const char *desc = NULL;
                enum alloc_client s = alloc_status_from_tasks(cases[i].t, cases[i].n, &desc);
                cr_expect_eq(s, cases[i].want, "case %zu: %s, want %s", i, alloc_client_str(s),
                             alloc_client_str(cases[i].want));
                cr_expect(desc && *desc);
        }
}
