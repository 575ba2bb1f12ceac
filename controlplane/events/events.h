/* events.h - the event stream's broker (GET /v1/event/stream): what changed in the
 * state store, as Nomad's events, kept in a bounded ring and fanned out to
 * subscribers with topic filters.
 *
 * Invariants:
 * - The ring holds at most ring_cap events and ring_max_bytes of their encoded
 *   lines; the oldest are evicted first. Each event is encoded at most once and
 *   the line shared by every subscriber: at publish (events_publish), or, for an
 *   event published with events_publish_lazy, when a subscriber first reaches it
 *   (a plan result publishes one event per allocation on every server; with no
 *   subscriber, none of them is ever encoded). A lazy event's line counts towards
 *   ring_max_bytes once encoded.
 * - A subscriber is a cursor into the ring plus a sink that accepts a bounded
 *   amount (its write returns -EAGAIN when full). A subscriber whose cursor falls
 *   off the ring (it did not keep up) is dropped with a reason: a slow client
 *   never blocks the publisher and never makes anything grow.
 * - Single-threaded (the server's loop thread); no I/O, no clock: the caller
 *   passes the time to events_tick (a fake clock in tests). */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct error;
struct events;
struct event_sub;

enum event_topic {
        EVENT_TOPIC_JOB,
        EVENT_TOPIC_EVALUATION,
        EVENT_TOPIC_ALLOCATION,
        EVENT_TOPIC_NODE,
        EVENT_TOPIC_DEPLOYMENT,
        EVENT_TOPIC_N,
};

#define EVENTS_DEFAULT_RING_CAP 4096
#define EVENTS_DEFAULT_RING_BYTES (64u * 1024 * 1024)
#define EVENTS_DEFAULT_MAX_SUBS 256
#define EVENTS_HEARTBEAT_NS (10 * 1000000000LL)
#define EVENT_FILTER_MAX 32 /* ?topic= arguments of one subscriber */
#define EVENT_KEY_MAX 256   /* bytes of a filter's key */

/* "Job", "Evaluation", "Allocation", "Node", "Deployment". */
const char *event_topic_name(enum event_topic t);

/* What one subscriber wants: topic:key pairs (topic -1 or key "*": any) and a
 * namespace ("*": all). No pair at all: every topic. */
struct event_filter {
        size_t n;
        struct {
                int topic; /* enum event_topic, or -1 for "*" */
                char key[EVENT_KEY_MAX];
        } f[EVENT_FILTER_MAX];
        char ns[EVENT_KEY_MAX];
};

/* Add "Topic", "Topic:Key", "Topic:*", "*" or "*:*" (Nomad's ?topic= syntax).
 * -EINVAL with err for an unknown topic, an empty or too long key; -E2BIG past
 * EVENT_FILTER_MAX. */
int event_filter_add(struct event_filter *f, const char *spec, struct error *err);
/* ns NULL or "" means "default". */
void event_filter_set_namespace(struct event_filter *f, const char *ns);
/* Whether an event of topic t, key and namespace ev_ns ("" for nodes) passes. */
bool event_filter_match(const struct event_filter *f, enum event_topic t, const char *key, const char *ev_ns);

/* Where a subscriber's lines go. write: 0 when taken, -EAGAIN when full (retried
 * at the next publish or tick), another negative code to give up. dropped: the
 * subscriber is removed (it fell behind, or write failed) and freed after this
 * returns; why is a sentence for the client. dropped must not call events_*. */
struct event_sink {
        int (*write)(void *data, const char *line, size_t len);
        void (*dropped)(void *data, const char *why);
        void *data;
};

/* 0 for any limit takes its default. */
struct events *events_create(size_t ring_cap, size_t ring_max_bytes, size_t max_subs);
/* Subscribers still open are dropped ("server shutting down"). */
struct events *events_destroy(struct events *ev);

/* Record one event (payload stolen; an object, e.g. {"Job":{...}}) and deliver it
 * to matching subscribers. key: the object's ID; ns: its namespace, "" for none.
 * Indexes must not decrease. -ENOMEM when it could not be recorded. */
int events_publish(struct events *ev, enum event_topic t, const char *type, const char *key, const char *ns,
                   uint64_t index, json_t *payload);

/* How a lazy event's payload is built: encode(obj) returns the payload object (a
 * new reference, e.g. {"Allocation":{...}}; NULL when out of memory: the event is
 * then skipped), release(obj) drops the reference the ring holds. obj must not
 * change after it is published (the state store's objects are immutable). */
struct event_lazy_ops {
        json_t *(*encode)(const void *obj);
        void (*release)(void *obj);
};

/* Record one event whose payload is encoded only when a subscriber needs it.
 * obj: the publisher's reference, taken (released on every path, errors too),
 * held until the event is evicted; key and ns must point into obj (or be static)
 * and type must be static: none of them is copied (a plan result publishes 1,000
 * of these on every server). release touches obj's first cache line. 0 (it cannot
 * fail today; the int is kept for callers that check). */
int events_publish_lazy(struct events *ev, enum event_topic t, const char *type, const char *key, const char *ns,
                        uint64_t index, const struct event_lazy_ops *ops, void *obj);

/* A new subscriber (filter copied): from_index 0 starts with the next event
 * published; N > 0 first replays the events still in the ring with Index >= N.
 * -EBUSY past max_subs. *ret is valid until events_unsubscribe or dropped. */
int events_subscribe(struct events *ev, const struct event_filter *f, uint64_t from_index,
                     const struct event_sink *sink, struct event_sub **ret, struct error *err);
/* The client went away: removed without calling dropped. NULL is a no-op. */
void events_unsubscribe(struct events *ev, struct event_sub *s);

/* Deliver what subscribers have room for; a heartbeat line "{}" to each one that
 * was sent nothing for EVENTS_HEARTBEAT_NS. now_ns: monotonic. */
void events_tick(struct events *ev, int64_t now_ns);

size_t events_subscribers(const struct events *ev);
/* Events in the ring and the lowest Index among them (0 when empty). */
size_t events_buffered(const struct events *ev, uint64_t *ret_oldest_index);
