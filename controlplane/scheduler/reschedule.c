/* reschedule.c - reschedule policies and trackers. See reschedule.h. */
#include "controlplane/scheduler/reschedule.h"

#include <string.h>

#define SEC INT64_C(1000000000)
#define MAX_EVENTS 5 /* an unlimited policy's tracker keeps this many (Nomad: maxPastRescheduleEvents) */

static void overlay(const json_t *o, struct resched_policy *p) {
        if (!json_is_object(o))
                return;
        json_t *v;
        if (json_is_integer(v = json_object_get(o, "Attempts")))
                p->attempts = (int)json_integer_value(v);
        if (json_is_integer(v = json_object_get(o, "Interval")))
                p->interval_ns = json_integer_value(v);
        if (json_is_integer(v = json_object_get(o, "Delay")))
                p->delay_ns = json_integer_value(v);
        if (json_is_integer(v = json_object_get(o, "MaxDelay")))
                p->max_delay_ns = json_integer_value(v);
        if (json_is_boolean(v = json_object_get(o, "Unlimited")))
                p->unlimited = json_is_true(v);
        const char *fn = json_string_value(json_object_get(o, "DelayFunction"));
        if (fn && strcmp(fn, "constant") == 0)
                p->fn = RESCHED_CONSTANT;
        else if (fn && strcmp(fn, "exponential") == 0)
                p->fn = RESCHED_EXPONENTIAL;
        else if (fn && strcmp(fn, "fibonacci") == 0)
                p->fn = RESCHED_FIBONACCI;
}

void sched_resched_policy(const struct job *j, const struct task_group *tg, struct resched_policy *ret) {
        if (j->type == JOB_BATCH)
                *ret = (struct resched_policy){
                    .attempts = 1, .interval_ns = 24 * 3600 * SEC, .delay_ns = 5 * SEC, .fn = RESCHED_CONSTANT};
        else
                *ret = (struct resched_policy){
                    .delay_ns = 30 * SEC, .max_delay_ns = 3600 * SEC, .fn = RESCHED_EXPONENTIAL, .unlimited = true};
        overlay(json_object_get(j->extra, "Reschedule"), ret);
        if (tg)
                overlay(json_object_get(tg->extra, "ReschedulePolicy"), ret);
}

static json_t *events_of(const struct alloc *a) {
        return json_object_get(json_object_get(a->extra, "RescheduleTracker"), "Events");
}

static int64_t failed_at(const struct alloc *a) {
        int64_t t = 0;
        for (size_t i = 0; i < a->n_task_states; i++)
                t = a->task_states[i].finished_at > t ? a->task_states[i].finished_at : t;
        return t ? t : a->modify_time;
}

static int64_t cap(const struct resched_policy *p, int64_t d) {
        return p->max_delay_ns > 0 && d > p->max_delay_ns ? p->max_delay_ns : d;
}

/* Nomad's NextDelay: from the delays of the last reschedules, not their number (the
 * tracker is trimmed). */
static int64_t next_delay(const struct resched_policy *p, const json_t *events) {
        int64_t d = p->delay_ns > 0 ? p->delay_ns : 0;
        size_t n = json_array_size(events);
        int64_t last = n ? json_integer_value(json_object_get(json_array_get(events, n - 1), "Delay")) : 0;
        int64_t before = n > 1 ? json_integer_value(json_object_get(json_array_get(events, n - 2), "Delay")) : 0;
        switch (p->fn) {
        case RESCHED_EXPONENTIAL:
                return n == 0 || last <= 0 ? cap(p, d) : cap(p, last > INT64_MAX / 2 ? INT64_MAX : last * 2);
        case RESCHED_FIBONACCI:
                if (n < 2 || last <= 0 || before <= 0)
                        return cap(p, d);
                return cap(p, last > INT64_MAX - before ? INT64_MAX : last + before);
        case RESCHED_CONSTANT:
        default:
                return d;
        }
}

bool sched_resched_when(const struct resched_policy *p, const struct alloc *a, int64_t now, int64_t *ret_when) {
        json_t *events = events_of(a);
        if (!p->unlimited) {
                if (p->attempts <= 0)
                        return false;
                int recent = 0;
                size_t i;
                json_t *e;
                json_array_foreach(events, i, e) {
                        int64_t t = json_integer_value(json_object_get(e, "RescheduleTime"));
                        if (p->interval_ns <= 0 || t > now - p->interval_ns)
                                recent++;
                }
                if (recent >= p->attempts)
                        return false;
        }
        *ret_when = failed_at(a) + next_delay(p, events);
        return true;
}

json_t *sched_resched_tracker(const struct resched_policy *p, const struct alloc *prev, int64_t now) {
        json_t *events = json_array(), *past = events_of(prev);
        if (!events)
                return NULL;
        /* Kept: the last MAX_EVENTS of an unlimited policy, the events within the interval of
         * a limited one (all that eligibility reads), so the tracker stays bounded. */
        size_t n = json_array_size(past), from = p->unlimited && n > MAX_EVENTS - 1 ? n - (MAX_EVENTS - 1) : 0;
        for (size_t i = from; i < n; i++) {
                json_t *e = json_array_get(past, i);
                int64_t t = json_integer_value(json_object_get(e, "RescheduleTime"));
                if (!p->unlimited && p->interval_ns > 0 && t <= now - p->interval_ns)
                        continue;
                json_array_append(events, e);
        }
        json_array_append_new(events, json_pack("{s:I,s:s?,s:s?,s:I}", "RescheduleTime", (json_int_t)now, "PrevAllocID",
                                                prev->id, "PrevNodeID", prev->node_id, "Delay",
                                                (json_int_t)next_delay(p, past)));
        return json_pack("{s:{s:o}}", "RescheduleTracker", "Events", events);
}
