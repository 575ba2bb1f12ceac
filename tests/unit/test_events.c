/* test_events.c - the event ring, topic filters, replay, slow subscribers, heartbeats. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "controlplane/events/events.h"

/* A sink that keeps what it got, refusing (-EAGAIN) past room bytes. */
struct capture {
        char buf[65536];
        size_t len, room;
        int lines;
        char dropped[256];
        bool was_dropped;
};

static int cap_write(void *data, const char *line, size_t len) {
        struct capture *c = data;
        if (c->len + len > c->room || c->len + len >= sizeof(c->buf))
                return -EAGAIN;
        memcpy(c->buf + c->len, line, len);
        c->len += len;
        c->buf[c->len] = '\0';
        c->lines++;
        return 0;
}

static void cap_dropped(void *data, const char *why) {
        struct capture *c = data;
        c->was_dropped = true;
        snprintf(c->dropped, sizeof(c->dropped), "%s", why);
}

static struct event_sub *sub(struct events *ev, struct capture *c, uint64_t from, const char *ns, const char **topics,
                             size_t n) {
        struct event_filter f = {0};
        struct error err = {0};
        for (size_t i = 0; i < n; i++)
                cr_assert_eq(event_filter_add(&f, topics[i], &err), 0, "%s: %s", topics[i], err.msg);
        event_filter_set_namespace(&f, ns);
        if (!c->room)
                c->room = sizeof(c->buf);
        struct event_sink sink = {.write = cap_write, .dropped = cap_dropped, .data = c};
        struct event_sub *s = NULL;
        cr_assert_eq(events_subscribe(ev, &f, from, &sink, &s, &err), 0, "%s", err.msg);
        return s;
}

static void publish_job(struct events *ev, const char *id, uint64_t index) {
        json_t *p = json_pack("{s:{s:s}}", "Job", "ID", id);
        cr_assert_eq(events_publish(ev, EVENT_TOPIC_JOB, "JobRegistered", id, "default", index, p), 0);
}

Test(events, filter_syntax) {
        struct event_filter f = {0};
        struct error err = {0};
        cr_expect_eq(event_filter_add(&f, "Job:web", &err), 0);
        cr_expect_eq(event_filter_add(&f, "Allocation:*", &err), 0);
        cr_expect_eq(event_filter_add(&f, "Node", &err), 0);
        cr_expect_eq(event_filter_add(&f, "Jobs", &err), -EINVAL);
        cr_expect(strstr(err.msg, "unknown") != NULL, "%s", err.msg);
        cr_expect_eq(event_filter_add(&f, "Job:", &err), -EINVAL);
        cr_expect_eq(event_filter_add(&f, "", &err), -EINVAL);
        event_filter_set_namespace(&f, NULL);
        cr_expect(event_filter_match(&f, EVENT_TOPIC_JOB, "web", "default"));
        cr_expect_not(event_filter_match(&f, EVENT_TOPIC_JOB, "api", "default"));
        cr_expect(event_filter_match(&f, EVENT_TOPIC_ALLOCATION, "a1", "default"));
        cr_expect(event_filter_match(&f, EVENT_TOPIC_NODE, "n1", ""));
        cr_expect_not(event_filter_match(&f, EVENT_TOPIC_EVALUATION, "e1", "default"));
        cr_expect_not(event_filter_match(&f, EVENT_TOPIC_JOB, "web", "prod"), "another namespace");
        event_filter_set_namespace(&f, "*");
        cr_expect(event_filter_match(&f, EVENT_TOPIC_JOB, "web", "prod"));

        struct event_filter all = {0};
        cr_expect_eq(event_filter_add(&all, "*", &err), 0);
        cr_expect(event_filter_match(&all, EVENT_TOPIC_EVALUATION, "e1", "default"));
        struct event_filter none = {0};
        cr_expect(event_filter_match(&none, EVENT_TOPIC_DEPLOYMENT, "d1", "default"), "no topic: all");

        struct event_filter many = {0};
        int r = 0;
        for (int i = 0; i <= EVENT_FILTER_MAX && r == 0; i++)
                r = event_filter_add(&many, "Job", &err);
        cr_expect_eq(r, -E2BIG);
}

Test(events, delivers_matching_events_in_nomads_shape) {
        struct events *ev = events_create(16, 0, 0);
        struct capture jobs = {0}, nodes = {0};
        const char *tj[] = {"Job:web"}, *tn[] = {"Node"};
        sub(ev, &jobs, 0, NULL, tj, 1);
        sub(ev, &nodes, 0, NULL, tn, 1);
        publish_job(ev, "web", 7);
        publish_job(ev, "api", 8);
        cr_expect_eq(jobs.lines, 1);
        cr_expect_eq(nodes.lines, 0, "a Node stream does not see jobs");
        json_error_t je;
        json_t *frame = json_loads(jobs.buf, 0, &je);
        cr_assert(frame, "%s", je.text);
        cr_expect_eq(json_integer_value(json_object_get(frame, "Index")), 7);
        json_t *e = json_array_get(json_object_get(frame, "Events"), 0);
        cr_expect_str_eq(json_string_value(json_object_get(e, "Topic")), "Job");
        cr_expect_str_eq(json_string_value(json_object_get(e, "Type")), "JobRegistered");
        cr_expect_str_eq(json_string_value(json_object_get(e, "Key")), "web");
        cr_expect_str_eq(json_string_value(json_object_get(e, "Namespace")), "default");
        cr_expect_eq(json_integer_value(json_object_get(e, "Index")), 7);
        cr_expect_str_eq(
            json_string_value(json_object_get(json_object_get(json_object_get(e, "Payload"), "Job"), "ID")), "web");
        cr_expect_eq(jobs.buf[jobs.len - 1], '\n');
        json_decref(frame);
        events_destroy(ev);
        cr_expect(jobs.was_dropped && strstr(jobs.dropped, "shutting down"));
}

Test(events, ring_is_bounded_and_replays_from_index) {
        struct events *ev = events_create(8, 0, 0);
        for (uint64_t i = 1; i <= 20; i++)
                publish_job(ev, "web", i * 10);
        uint64_t oldest = 0;
        cr_expect_eq(events_buffered(ev, &oldest), 8);
        cr_expect_eq(oldest, 130, "the last 8 of 20 are kept");
        struct capture c = {0};
        sub(ev, &c, 175, NULL, NULL, 0);
        cr_expect_eq(c.lines, 3, "indexes 180, 190, 200");
        cr_expect(strncmp(c.buf, "{\"Index\":180", 12) == 0, "%s", c.buf);
        struct capture from_old = {0};
        sub(ev, &from_old, 1, NULL, NULL, 0);
        cr_expect_eq(from_old.lines, 8, "an index older than the ring starts at its oldest");
        struct capture fresh = {0};
        sub(ev, &fresh, 0, NULL, NULL, 0);
        cr_expect_eq(fresh.lines, 0, "index 0: only what comes next");
        publish_job(ev, "web", 210);
        cr_expect_eq(fresh.lines, 1);
        events_destroy(ev);
}

Test(events, ring_bytes_are_bounded) {
        struct events *ev = events_create(1000, 2000, 0);
        for (uint64_t i = 1; i <= 200; i++)
                publish_job(ev, "web", i);
        size_t n = events_buffered(ev, NULL);
        cr_expect(n > 0 && n < 200, "%zu kept", n);
        events_destroy(ev);
}

Test(events, slow_subscriber_is_dropped_not_buffered) {
        struct events *ev = events_create(8, 0, 0);
        struct capture slow = {.room = 400}, fast = {0};
        sub(ev, &slow, 0, NULL, NULL, 0);
        sub(ev, &fast, 0, NULL, NULL, 0);
        for (uint64_t i = 1; i <= 30 && !slow.was_dropped; i++)
                publish_job(ev, "web", i);
        cr_expect(slow.was_dropped, "a subscriber that never drains is dropped");
        cr_expect(strstr(slow.dropped, "fell behind") != NULL, "%s", slow.dropped);
        cr_expect(slow.len <= 400, "its sink never took more than its room");
        cr_expect_eq(events_subscribers(ev), 1);
        cr_expect_not(fast.was_dropped);
        events_destroy(ev);
}

Test(events, full_sink_catches_up_when_it_drains) {
        struct events *ev = events_create(64, 0, 0);
        struct capture c = {.room = 0};
        c.room = 1; /* nothing fits */
        sub(ev, &c, 0, NULL, NULL, 0);
        for (uint64_t i = 1; i <= 5; i++)
                publish_job(ev, "web", i);
        cr_expect_eq(c.lines, 0);
        c.room = sizeof(c.buf);
        events_tick(ev, 1);
        cr_expect_eq(c.lines, 5, "retried at the tick, in order");
        cr_expect_not(c.was_dropped);
        events_destroy(ev);
}

Test(events, heartbeat_every_ten_seconds_of_silence) {
        struct events *ev = events_create(8, 0, 0);
        struct capture c = {0};
        sub(ev, &c, 0, NULL, NULL, 0);
        int64_t s = 1000000000LL;
        events_tick(ev, 100 * s);
        events_tick(ev, 105 * s);
        cr_expect_eq(c.lines, 0);
        events_tick(ev, 110 * s);
        cr_expect_str_eq(c.buf, "{}\n");
        publish_job(ev, "web", 1);
        events_tick(ev, 115 * s); /* wrote since: no heartbeat */
        events_tick(ev, 121 * s);
        cr_expect_eq(c.lines, 2, "an event resets the heartbeat clock");
        events_tick(ev, 125 * s);
        cr_expect_eq(c.lines, 3);
        events_destroy(ev);
}

Test(events, subscribers_are_bounded) {
        struct events *ev = events_create(8, 0, 2);
        struct capture a = {0}, b = {0};
        sub(ev, &a, 0, NULL, NULL, 0);
        struct event_sub *sb = sub(ev, &b, 0, NULL, NULL, 0);
        struct event_filter f = {0};
        struct event_sink sink = {.write = cap_write, .dropped = cap_dropped, .data = &a};
        struct event_sub *s = NULL;
        struct error err = {0};
        cr_expect_eq(events_subscribe(ev, &f, 0, &sink, &s, &err), -EBUSY);
        events_unsubscribe(ev, sb);
        cr_expect_eq(events_subscribers(ev), 1);
        cr_expect_not(b.was_dropped, "unsubscribe does not call dropped");
        events_destroy(ev);
}

/* A lazy payload: counts how often it was encoded and whether it was released. */
struct lazy_obj {
        char id[16];
        int encoded, released;
};

static json_t *lazy_encode(const void *obj) {
        struct lazy_obj *o = (struct lazy_obj *)obj;
        o->encoded++;
        return json_pack("{s:{s:s}}", "Allocation", "ID", o->id);
}

static void lazy_release(void *obj) {
        ((struct lazy_obj *)obj)->released++;
}

static const struct event_lazy_ops lazy_ops = {.encode = lazy_encode, .release = lazy_release};

Test(events, lazy_payload_is_encoded_once_and_only_when_read) {
        struct events *ev = events_create(4, 0, 0);
        struct lazy_obj o[6] = {{"a0"}, {"a1"}, {"a2"}, {"a3"}, {"a4"}, {"a5"}};
        /* no subscriber: never encoded; evicted ones are released */
        for (int i = 0; i < 6; i++)
                cr_assert_eq(events_publish_lazy(ev, EVENT_TOPIC_ALLOCATION, "PlanResult", o[i].id, "default",
                                                 (uint64_t)(10 + i), &lazy_ops, &o[i]),
                             0);
        for (int i = 0; i < 6; i++)
                cr_expect_eq(o[i].encoded, 0, "event %d encoded with no reader", i);
        cr_expect_eq(o[0].released + o[1].released, 2, "the two evicted events release their object");
        cr_expect_eq(o[2].released, 0);
        /* two readers replaying from index 13: a3..a5 encoded once each, shared */
        struct capture c1 = {0}, c2 = {0};
        const char *t[] = {"Allocation"};
        sub(ev, &c1, 13, NULL, t, 1);
        sub(ev, &c2, 13, NULL, t, 1);
        cr_expect_eq(c1.lines, 3);
        cr_expect_eq(c2.lines, 3);
        cr_expect_str_eq(c1.buf, c2.buf);
        cr_expect(strstr(c1.buf, "\"Type\":\"PlanResult\"") && strstr(c1.buf, "\"Key\":\"a5\"") &&
                      strstr(c1.buf, "\"Payload\":{\"Allocation\":{\"ID\":\"a4\"}}"),
                  "%s", c1.buf);
        for (int i = 3; i < 6; i++) {
                cr_expect_eq(o[i].encoded, 1, "event %d encoded %d times", i, o[i].encoded);
                cr_expect_eq(o[i].released, 0, "event %d's object released before its eviction (its key points into it)", i);
        }
        cr_expect_eq(o[2].encoded, 0, "event before the replay index encoded");
        events_destroy(ev);
        for (int i = 0; i < 6; i++)
                cr_expect_eq(o[i].released, 1, "event %d released %d times", i, o[i].released);
}
