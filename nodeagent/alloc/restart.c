/* restart.c - restart policy decisions; no clock, no randomness of its own. */
#include "nodeagent/alloc/restart.h"

#include <stdio.h>
#include <string.h>

#include "common/clock.h"
#include "common/model.h"

void restart_tracker_init(struct restart_tracker *t, int64_t now_ns) {
        t->count = 0;
        t->window_start = now_ns;
}

void format_duration(int64_t ns, char *buf, size_t size) {
        if (ns < 0)
                ns = 0;
        if (ns < NS_PER_SEC) {
                if (ns % NS_PER_MS == 0)
                        snprintf(buf, size, "%lldms", (long long)(ns / NS_PER_MS));
                else
                        snprintf(buf, size, "%.3gms", (double)ns / (double)NS_PER_MS);
                return;
        }
        long long h = ns / (3600 * NS_PER_SEC), m = ns / (60 * NS_PER_SEC) % 60;
        int64_t sec_ns = ns % (60 * NS_PER_SEC);
        char secs[32];
        if (sec_ns % NS_PER_SEC == 0)
                snprintf(secs, sizeof(secs), "%llds", (long long)(sec_ns / NS_PER_SEC));
        else {
                snprintf(secs, sizeof(secs), "%.9f", (double)sec_ns / (double)NS_PER_SEC);
                char *end = secs + strlen(secs) - 1;
                while (*end == '0')
                        *end-- = '\0';
                if (*end == '.')
                        *end = '\0';
                strncat(secs, "s", sizeof(secs) - strlen(secs) - 1);
        }
        if (h)
                snprintf(buf, size, "%lldh%lldm%s", h, m, secs);
        else if (m)
                snprintf(buf, size, "%lldm%s", m, secs);
        else
                snprintf(buf, size, "%s", secs);
}

static void defaults(struct restart_policy *p, bool batch) {
        p->attempts = batch ? 3 : 2;
        p->interval_ns = batch ? 24 * 3600 * NS_PER_SEC : 30 * 60 * NS_PER_SEC;
        p->delay_ns = 15 * NS_PER_SEC;
        p->mode = "fail";
}

static int64_t jittered(int64_t delay, double jitter) {
        if (jitter < 0 || jitter >= 1)
                jitter = 0;
        return delay + (int64_t)((double)delay * 0.25 * jitter);
}

struct restart_decision restart_decide(struct restart_tracker *t, const struct restart_policy *policy, bool batch,
                                       enum restart_cause cause, bool exit_ok, int64_t now_ns, double jitter) {
        struct restart_decision d = {.verdict = RESTART_GIVE_UP};
        struct restart_policy p = {0};
        if (policy && policy->set)
                p = *policy;
        else
                defaults(&p, batch);
        bool delay_mode = p.mode && strcmp(p.mode, "delay") == 0;

        if (cause == RESTART_CAUSE_UNRECOVERABLE) {
                snprintf(d.reason, sizeof(d.reason), "Error was unrecoverable");
                return d;
        }
        if (cause == RESTART_CAUSE_EXIT && exit_ok && batch) {
                d.verdict = RESTART_DONE;
                snprintf(d.reason, sizeof(d.reason), "Restart unnecessary as task terminated successfully");
                return d;
        }
        if (p.attempts == 0 && !delay_mode) {
                snprintf(d.reason, sizeof(d.reason), "Policy allows no restarts");
                return d;
        }
        int64_t end = t->window_start + p.interval_ns;
        if (now_ns > end) {
                t->count = 0;
                t->window_start = now_ns;
                d.verdict = RESTART_AFTER;
                d.delay_ns = jittered(p.delay_ns, jitter);
                snprintf(d.reason, sizeof(d.reason), "Restart within policy");
                return d;
        }
        t->count++;
        if (t->count <= p.attempts) {
                d.verdict = RESTART_AFTER;
                d.delay_ns = jittered(p.delay_ns, jitter);
                snprintf(d.reason, sizeof(d.reason), "Restart within policy");
                return d;
        }
        if (!delay_mode) {
                char iv[32];
                format_duration(p.interval_ns, iv, sizeof(iv));
                snprintf(d.reason, sizeof(d.reason), "Exceeded allowed attempts %d in interval %s and mode is \"fail\"",
                         p.attempts, iv);
                return d;
        }
        d.verdict = RESTART_AFTER;
        d.delay_ns = end - now_ns;
        snprintf(d.reason, sizeof(d.reason), "Exceeded allowed attempts, applying a delay");
        return d;
}
