/* restart.h - the restart policy of a task, as a pure decision (Nomad's RestartTracker).
 *
 * The tracker counts failures inside the policy's interval. The first window
 * starts when the task first starts; a failure after the window ended opens a
 * new window and does not count. Within a window, failures up to `attempts`
 * restart after `delay` plus up to 25 % jitter; beyond that, mode "fail" gives
 * up and mode "delay" waits for the window to end and restarts.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct restart_policy;

enum restart_verdict {
        RESTART_DONE,    /* batch task exited 0: complete, not restarted, not failed */
        RESTART_AFTER,   /* restart after delay_ns */
        RESTART_GIVE_UP, /* do not restart: the task has failed */
};

struct restart_tracker {
        int count;            /* failures counted in the current window */
        int64_t window_start; /* ns */
};

enum restart_cause {
        RESTART_CAUSE_EXIT,          /* the task exited (exit_ok says how) */
        RESTART_CAUSE_START_ERROR,   /* start failed, may work next time */
        RESTART_CAUSE_UNRECOVERABLE, /* start failed and never will (bad config, no driver) */
};

struct restart_decision {
        enum restart_verdict verdict;
        int64_t delay_ns;
        char reason[160];
};

void restart_tracker_init(struct restart_tracker *t, int64_t now_ns);

/* batch: the job is batch or sysbatch. exit_ok: exited with status 0.
 * jitter: a random number in [0, 1). policy NULL or unset = Nomad's defaults. */
struct restart_decision restart_decide(struct restart_tracker *t, const struct restart_policy *policy, bool batch,
                                       enum restart_cause cause, bool exit_ok, int64_t now_ns, double jitter);

/* Go's time.Duration String(): "15s", "30m0s", "24h0m0s", "1.5s", "250ms". */
void format_duration(int64_t ns, char *buf, size_t size);
