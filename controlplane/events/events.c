/* events.c - the event ring and its subscribers (events.h). */
#include "controlplane/events/events.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/dlist.h"
#include "common/error.h"
#include "common/json_fast.h"

static const char *const topic_names[EVENT_TOPIC_N] = {
    [EVENT_TOPIC_JOB] = "Job",   [EVENT_TOPIC_EVALUATION] = "Evaluation", [EVENT_TOPIC_ALLOCATION] = "Allocation",
    [EVENT_TOPIC_NODE] = "Node", [EVENT_TOPIC_DEPLOYMENT] = "Deployment",
};

const char *event_topic_name(enum event_topic t) {
        return (unsigned)t < EVENT_TOPIC_N ? topic_names[t] : "?";
}

struct event_rec {
        uint64_t index;
        enum event_topic topic;
        /* A lazy event's key and ns point into obj (held until evicted) and its type
         * is static: nothing is copied per event. Another event's are its own. */
        const char *key;
        const char *ns;
        char *line; /* {"Index":N,"Events":[...]}\n; NULL while a lazy event is not encoded */
        size_t len;
        const struct event_lazy_ops *lazy; /* a lazy event: obj held until evicted */
        void *obj;
        const char *type;
};

struct event_sub {
        struct event_filter filter;
        struct event_sink sink;
        uint64_t next_seq; /* the next ring entry to look at */
        bool wrote;        /* since the last tick */
        int64_t last_ns;   /* last tick that saw it write; 0: not yet ticked */
        struct dlink link; /* in events.subs, oldest first */
};

struct events {
        struct event_rec *ring;
        size_t cap, max_bytes, max_subs;
        uint64_t start_seq, end_seq; /* entries [start_seq, end_seq) live at seq % cap */
        size_t bytes;
        struct dlist subs;
        size_t n_subs;
};

/* ---- filters ------------------------------------------------------------------------------ */

int event_filter_add(struct event_filter *f, const char *spec, struct error *err) {
        if (!spec || !*spec)
                return errorf(err, -EINVAL, "topic: empty (want Topic, Topic:Key or *)");
        if (f->n >= EVENT_FILTER_MAX)
                return errorf(err, -E2BIG, "topic: more than %d topics", EVENT_FILTER_MAX);
        const char *colon = strchr(spec, ':');
        size_t tlen = colon ? (size_t)(colon - spec) : strlen(spec);
        const char *key = colon ? colon + 1 : "*";
        int topic = -2;
        if (tlen == 1 && spec[0] == '*')
                topic = -1;
        for (int t = 0; t < EVENT_TOPIC_N && topic == -2; t++)
                if (strlen(topic_names[t]) == tlen && strncmp(topic_names[t], spec, tlen) == 0)
                        topic = t;
        if (topic == -2)
                return errorf(err, -EINVAL,
                              "topic \"%.*s\": unknown (want Job, Evaluation, Allocation, Node, Deployment or *)",
                              (int)(tlen > 64 ? 64 : tlen), spec);
        if (!*key || strlen(key) >= EVENT_KEY_MAX)
                return errorf(err, -EINVAL, "topic \"%.64s\": key must be 1 to %d bytes", spec, EVENT_KEY_MAX - 1);
        f->f[f->n].topic = topic;
        snprintf(f->f[f->n].key, EVENT_KEY_MAX, "%s", key);
        f->n++;
        return 0;
}

void event_filter_set_namespace(struct event_filter *f, const char *ns) {
        snprintf(f->ns, sizeof(f->ns), "%s", ns && *ns ? ns : "default");
}

bool event_filter_match(const struct event_filter *f, enum event_topic t, const char *key, const char *ev_ns) {
        const char *ns = f->ns[0] ? f->ns : "default";
        if (ev_ns && *ev_ns && strcmp(ns, "*") != 0 && strcmp(ns, ev_ns) != 0)
                return false;
        if (f->n == 0)
                return true;
        for (size_t i = 0; i < f->n; i++) {
                if (f->f[i].topic != -1 && f->f[i].topic != (int)t)
                        continue;
                if (strcmp(f->f[i].key, "*") == 0 || strcmp(f->f[i].key, key ? key : "") == 0)
                        return true;
        }
        return false;
}

/* ---- the ring ----------------------------------------------------------------------------- */

struct events *events_create(size_t ring_cap, size_t ring_max_bytes, size_t max_subs) {
        struct events *ev = calloc(1, sizeof(*ev));
        if (!ev)
                return NULL;
        ev->cap = ring_cap ? ring_cap : EVENTS_DEFAULT_RING_CAP;
        ev->max_bytes = ring_max_bytes ? ring_max_bytes : EVENTS_DEFAULT_RING_BYTES;
        ev->max_subs = max_subs ? max_subs : EVENTS_DEFAULT_MAX_SUBS;
        ev->ring = calloc(ev->cap, sizeof(*ev->ring));
        if (!ev->ring) {
                free(ev);
                return NULL;
        }
        return ev;
}

static struct event_rec *rec_at(const struct events *ev, uint64_t seq) {
        return &ev->ring[seq % ev->cap];
}

/* How far ahead of the eviction a lazy event's object is fetched into the cache:
 * releasing it touches its first line (its reference count), long since evicted
 * from the cache when a plan's 1,000 allocations push out the previous plans'. */
#define EVICT_PREFETCH 16

static void evict_oldest(struct events *ev) {
        struct event_rec *r = rec_at(ev, ev->start_seq);
        if (ev->start_seq + EVICT_PREFETCH < ev->end_seq) {
                const struct event_rec *ahead = rec_at(ev, ev->start_seq + EVICT_PREFETCH);
                if (ahead->lazy)
                        __builtin_prefetch(ahead->obj, 1, 0);
        }
        ev->bytes -= r->len;
        if (r->lazy) {
                r->lazy->release(r->obj);
        } else {
                free((char *)r->key);
                free((char *)r->ns);
        }
        free(r->line);
        memset(r, 0, sizeof(*r));
        ev->start_seq++;
}

static void sub_remove(struct events *ev, struct event_sub *s) {
        dlist_unlink(&ev->subs, &s->link);
        ev->n_subs--;
        free(s);
}

static void sub_drop(struct events *ev, struct event_sub *s, const char *why) {
        if (s->sink.dropped)
                s->sink.dropped(s->sink.data, why);
        sub_remove(ev, s);
}

struct events *events_destroy(struct events *ev) {
        if (!ev)
                return NULL;
        struct event_sub *s;
        while ((s = dlist_first(&ev->subs, struct event_sub, link)))
                sub_drop(ev, s, "server shutting down");
        while (ev->start_seq < ev->end_seq)
                evict_oldest(ev);
        free(ev->ring);
        free(ev);
        return NULL;
}

/* One event's line: {"Index":N,"Events":[{...,"Payload":payload}]}\n (payload stolen). */
static int encode_line(enum event_topic t, const char *type, const char *key, const char *ns, uint64_t index,
                       json_t *payload, char **ret_line, size_t *ret_len) {
        if (!payload)
                payload = json_object();
        json_t *frame = json_pack("{s:I, s:[{s:s, s:s, s:s, s:s, s:n, s:I, s:o}]}", "Index", (json_int_t)index,
                                  "Events", "Topic", event_topic_name(t), "Type", type, "Key", key ? key : "",
                                  "Namespace", ns ? ns : "", "FilterKeys", "Index", (json_int_t)index, "Payload",
                                  payload);
        if (!frame)
                return -ENOMEM;
        char *body = json_fast_dumps(frame, JSON_COMPACT);
        json_decref(frame);
        if (!body)
                return -ENOMEM;
        size_t len = strlen(body);
        char *line = realloc(body, len + 2);
        if (!line) {
                free(body);
                return -ENOMEM;
        }
        line[len++] = '\n';
        line[len] = '\0';
        *ret_line = line;
        *ret_len = len;
        return 0;
}

/* The line of r, encoding a lazy event the first time. NULL when it could not be
 * encoded (out of memory): the event is skipped. */
static const char *rec_line(struct events *ev, struct event_rec *r) {
        if (r->line || !r->lazy)
                return r->line;
        json_t *payload = r->lazy->encode(r->obj);
        if (!payload || encode_line(r->topic, r->type, r->key, r->ns, r->index, payload, &r->line, &r->len) < 0)
                return NULL;
        ev->bytes += r->len;
        return r->line; /* the object stays held: key and ns point into it */
}

/* Deliver what s has room for. false when s was dropped. */
static bool sub_pump(struct events *ev, struct event_sub *s) {
        if (s->next_seq < ev->start_seq) {
                sub_drop(ev, s, "subscriber fell behind: events were evicted before it read them; resubscribe");
                return false;
        }
        while (s->next_seq < ev->end_seq) {
                struct event_rec *r = rec_at(ev, s->next_seq);
                const char *line = event_filter_match(&s->filter, r->topic, r->key, r->ns) ? rec_line(ev, r) : NULL;
                if (line) {
                        int rc = s->sink.write(s->sink.data, line, r->len);
                        if (rc == -EAGAIN)
                                return true; /* full: retried later; falls behind if it never drains */
                        if (rc < 0) {
                                sub_drop(ev, s, "write failed");
                                return false;
                        }
                        s->wrote = true;
                }
                s->next_seq++;
        }
        return true;
}

static void pump_all(struct events *ev) {
        for (struct dlink *k = ev->subs.head, *nk; k; k = nk) {
                nk = k->next; /* s may be dropped */
                struct event_sub *s = dlist_entry(k, struct event_sub, link);
                sub_pump(ev, s);
        }
}

/* Append r (its key and ns its own, or a lazy event's) as the newest entry. */
static void push(struct events *ev, struct event_rec *rec) {
        while (ev->end_seq - ev->start_seq >= ev->cap ||
               (ev->start_seq < ev->end_seq && ev->bytes + rec->len > ev->max_bytes))
                evict_oldest(ev);
        *rec_at(ev, ev->end_seq++) = *rec;
        ev->bytes += rec->len;
        pump_all(ev);
}

int events_publish(struct events *ev, enum event_topic t, const char *type, const char *key, const char *ns,
                   uint64_t index, json_t *payload) {
        struct event_rec rec = {.index = index, .topic = t};
        int r = encode_line(t, type, key, ns, index, payload, &rec.line, &rec.len);
        if (r < 0)
                return r;
        rec.key = strdup(key ? key : "");
        rec.ns = strdup(ns ? ns : "");
        if (!rec.key || !rec.ns) {
                free((char *)rec.key);
                free((char *)rec.ns);
                free(rec.line);
                return -ENOMEM;
        }
        push(ev, &rec);
        return 0;
}

int events_publish_lazy(struct events *ev, enum event_topic t, const char *type, const char *key, const char *ns,
                        uint64_t index, const struct event_lazy_ops *ops, void *obj) {
        struct event_rec rec = {.index = index,
                                .topic = t,
                                .key = key ? key : "",
                                .ns = ns ? ns : "",
                                .type = type ? type : "",
                                .lazy = ops,
                                .obj = obj};
        push(ev, &rec);
        return 0;
}

int events_subscribe(struct events *ev, const struct event_filter *f, uint64_t from_index,
                     const struct event_sink *sink, struct event_sub **ret, struct error *err) {
        if (ev->n_subs >= ev->max_subs)
                return errorf(err, -EBUSY, "event stream: %zu subscribers already; retry later", ev->max_subs);
        struct event_sub *s = calloc(1, sizeof(*s));
        if (!s)
                return errorf(err, -ENOMEM, "out of memory");
        s->filter = *f;
        s->sink = *sink;
        s->next_seq = ev->end_seq;
        if (from_index > 0) {
                s->next_seq = ev->start_seq;
                while (s->next_seq < ev->end_seq && rec_at(ev, s->next_seq)->index < from_index)
                        s->next_seq++;
        }
        dlist_append(&ev->subs, &s->link);
        ev->n_subs++;
        *ret = s;
        sub_pump(ev, s); /* cannot fall behind yet: never dropped here */
        return 0;
}

void events_unsubscribe(struct events *ev, struct event_sub *s) {
        if (s)
                sub_remove(ev, s);
}

void events_tick(struct events *ev, int64_t now_ns) {
        for (struct dlink *k = ev->subs.head, *nk; k; k = nk) {
                nk = k->next; /* s may be dropped */
                struct event_sub *s = dlist_entry(k, struct event_sub, link);
                if (!sub_pump(ev, s))
                        continue;
                if (s->wrote || s->last_ns == 0) {
                        s->wrote = false;
                        s->last_ns = now_ns;
                } else if (now_ns - s->last_ns >= EVENTS_HEARTBEAT_NS) {
                        int rc = s->sink.write(s->sink.data, "{}\n", 3);
                        if (rc < 0 && rc != -EAGAIN)
                                sub_drop(ev, s, "write failed");
                        else
                                s->last_ns = now_ns;
                }
        }
}

size_t events_subscribers(const struct events *ev) {
        return ev->n_subs;
}

size_t events_buffered(const struct events *ev, uint64_t *ret_oldest_index) {
        if (ret_oldest_index)
                *ret_oldest_index = ev->start_seq < ev->end_seq ? rec_at(ev, ev->start_seq)->index : 0;
        return (size_t)(ev->end_seq - ev->start_seq);
}
