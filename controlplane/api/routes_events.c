/* routes_events.c - GET /v1/event/stream (Nomad's event stream) and the events
 * every applied command produces (controlplane/events/events.h keeps them).
 *
 * The FSM tells the api of each applied command (api_events_applied); the events
 * are built here from the state store as it is after the apply, so every server
 * produces the same events at the same indexes. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/jsonx.h"
#include "common/log.h"
#include "common/model.h"
#include "controlplane/api/http.h"
#include "controlplane/api/routes_internal.h"
#include "controlplane/events/events.h"

/* ---- producing events ------------------------------------------------------------------- */

static void pub(struct api *a, enum event_topic t, const char *type, const char *key, const char *ns, uint64_t index,
                const char *field, json_t *obj) {
        if (!obj)
                return;
        json_t *payload = json_object();
        if (!payload) {
                json_decref(obj);
                return;
        }
        json_object_set_new(payload, field, obj);
        if (events_publish(a->events, t, type, key, ns, index, payload) < 0)
                log_debug("events: out of memory; %s event of %s \"%s\" at index %llu not recorded", type,
                          event_topic_name(t), key, (unsigned long long)index);
}

/* Jobs, allocations and evaluations are published lazily (events_publish_lazy): a plan result
 * makes one event per allocation on every server, and encoding them at apply time
 * cost more than the rest of the apply (bench/raft). The state store's objects
 * are immutable, so the payload encoded later is the one of this index. */
static json_t *encode_job(const void *obj) {
        json_t *o = job_to_json(obj);
        return o ? json_pack("{s:o}", "Job", o) : NULL;
}

static void release_job(void *obj) {
        job_unref(obj);
}

static const struct event_lazy_ops job_lazy = {.encode = encode_job, .release = release_job};

static void pub_job(struct api *a, const char *type, const char *ns, const char *id, uint64_t index) {
        const struct job *j = state_job_get(*a->state, ns, id);
        if (j) {
                /* key and namespace from the job the event holds (events.h) */
                if (events_publish_lazy(a->events, EVENT_TOPIC_JOB, type, j->id,
                                        j->namespace && *j->namespace ? j->namespace : "default", index, &job_lazy,
                                        job_ref((struct job *)j)) < 0)
                        log_debug("events: out of memory; %s event of job \"%s\" at index %llu not recorded", type,
                                  id, (unsigned long long)index);
                return;
        }
        pub(a, EVENT_TOPIC_JOB, type, id, ns, index, "Job", json_pack("{s:s, s:s}", "ID", id, "Namespace", ns));
}

static void pub_node(struct api *a, const char *type, const char *id, uint64_t index) {
        const struct node *n = state_node_get(*a->state, id);
        json_t *obj = n ? node_public_json(n) : json_pack("{s:s}", "ID", id); /* never the node's SecretID */
        pub(a, EVENT_TOPIC_NODE, type, id, "", index, "Node", obj);
}

/* Without its job (as Nomad's: it keeps allocation events small; the Job topic has it). */
static json_t *encode_alloc(const void *obj) {
        json_t *o = alloc_to_json(obj); /* its job is needed for JobVersion, JobType, resources */
        if (!o)
                return NULL;
        json_object_del(o, "Job");
        return json_pack("{s:o}", "Allocation", o);
}

static void release_alloc(void *obj) {
        alloc_unref(obj);
}

static const struct event_lazy_ops alloc_lazy = {.encode = encode_alloc, .release = release_alloc};

static void pub_alloc(struct api *a, const char *type, const struct alloc *al, uint64_t index) {
        if (events_publish_lazy(a->events, EVENT_TOPIC_ALLOCATION, type, al->id, al->namespace, index, &alloc_lazy,
                                alloc_ref((struct alloc *)al)) < 0)
                log_debug("events: out of memory; %s event of allocation \"%s\" at index %llu not recorded", type,
                          al->id, (unsigned long long)index);
}

static json_t *encode_eval(const void *obj) {
        json_t *o = eval_to_json(obj);
        return o ? json_pack("{s:o}", "Evaluation", o) : NULL;
}

static void release_eval(void *obj) {
        eval_unref(obj);
}

static const struct event_lazy_ops eval_lazy = {.encode = encode_eval, .release = release_eval};

/* Lazily too: every registration and every finished eval makes one on every server,
 * and encoding it at apply time was ~10% of a follower loop's work (bench/raft). */
static void pub_eval_id(struct api *a, const char *id, uint64_t index) {
        const struct eval *e = id ? state_eval_get(*a->state, id) : NULL;
        if (e && events_publish_lazy(a->events, EVENT_TOPIC_EVALUATION, "EvaluationUpdated", e->id,
                                     e->namespace ? e->namespace : "", index, &eval_lazy,
                                     eval_ref((struct eval *)e)) < 0)
                log_debug("events: out of memory; event of evaluation \"%s\" at index %llu not recorded", id,
                          (unsigned long long)index);
}

/* "Eval": {...} and "Evals": [...] of a command. */
static void pub_evals(struct api *a, const json_t *cmd, uint64_t index) {
        const json_t *one = json_object_get(cmd, "Eval");
        if (json_is_object(one))
                pub_eval_id(a, jx_str(one, "ID", NULL), index);
        size_t i;
        const json_t *e;
        json_array_foreach(json_object_get(cmd, "Evals"), i, e) pub_eval_id(a, jx_str(e, "ID", NULL), index);
}

struct plan_allocs {
        struct api *a;
        uint64_t index;
};

static bool pub_plan_alloc(void *arg, const struct alloc *al) {
        struct plan_allocs *p = arg;
        if (al->modify_index == p->index)
                pub_alloc(p->a, "PlanResult", al, p->index);
        return true;
}

/* The allocations a plan of eval_id wrote at index. */
static void pub_plan(struct api *a, const char *eval_id, uint64_t index) {
        if (!eval_id || !*eval_id)
                return;
        struct plan_allocs p = {.a = a, .index = index};
        state_allocs_by_eval_foreach(*a->state, eval_id, pub_plan_alloc, &p);
}

static void pub_alloc_id(struct api *a, const char *id, uint64_t index) {
        const struct alloc *al = id ? state_alloc_get(*a->state, id) : NULL;
        if (al)
                pub_alloc(a, "AllocationUpdated", al, index);
}

void api_events_applied(struct api *a, uint64_t index, const json_t *cmd, const char *plan_eval_id) {
        if (!a || !a->events)
                return;
        if (!cmd) {
                pub_plan(a, plan_eval_id, index);
                return;
        }
        const char *type = jx_str(cmd, "Type", "");
        if (strcmp(type, "JobRegister") == 0) {
                const json_t *j = json_object_get(cmd, "Job");
                pub_job(a, "JobRegistered", jx_str(j, "Namespace", "default"), jx_str(j, "ID", ""), index);
        } else if (strcmp(type, "JobDeregister") == 0) {
                pub_job(a, "JobDeregistered", jx_str(cmd, "Namespace", "default"), jx_str(cmd, "JobID", ""), index);
        } else if (strcmp(type, "NodeRegister") == 0) {
                pub_node(a, "NodeRegistration", jx_str(json_object_get(cmd, "Node"), "ID", ""), index);
        } else if (strcmp(type, "NodeStatusUpdate") == 0) {
                pub_node(a, "NodeEvent", jx_str(cmd, "NodeID", ""), index);
        } else if (strcmp(type, "NodeUpdateEligibility") == 0) {
                pub_node(a, "NodeEligibility", jx_str(cmd, "NodeID", ""), index);
        } else if (strcmp(type, "NodeUpdateDrain") == 0) {
                pub_node(a, "NodeDrain", jx_str(cmd, "NodeID", ""), index);
        } else if (strcmp(type, "NodeDeregister") == 0) {
                pub_node(a, "NodeDeregistration", jx_str(cmd, "NodeID", ""), index);
        } else if (strcmp(type, "AllocClientUpdate") == 0) {
                size_t i;
                const json_t *u;
                json_array_foreach(json_object_get(cmd, "Allocs"), i, u) pub_alloc_id(a, jx_str(u, "ID", NULL), index);
        } else if (strcmp(type, "AllocStop") == 0) {
                pub_alloc_id(a, jx_str(cmd, "AllocID", NULL), index);
        } else if (strcmp(type, "PlanApply") == 0) {
                const json_t *one = json_object_get(cmd, "Result");
                if (json_is_object(one))
                        pub_plan(a, jx_str(one, "EvalID", NULL), index);
                size_t i;
                const json_t *r;
                json_array_foreach(json_object_get(cmd, "Results"), i, r) pub_plan(a, jx_str(r, "EvalID", NULL), index);
        }
        pub_evals(a, cmd, index);
}

void api_events_tick(struct api *a, int64_t now_ns) {
        if (a && a->events)
                events_tick(a->events, now_ns);
}

void api_events_close(struct api *a) {
        if (a)
                a->events = events_destroy(a->events); /* ends every stream: "server shutting down" */
}

/* ---- GET /v1/event/stream ------------------------------------------------------------ */

struct stream_sub {
        struct api *a;
        struct http_req *req;
        struct event_sub *sub;
};

static int sink_write(void *data, const char *line, size_t len) {
        struct stream_sub *ss = data;
        return http_req_stream_write(ss->req, line, len);
}

/* The events broker gave up on this subscriber: a last line says why. */
static void sink_dropped(void *data, const char *why) {
        struct stream_sub *ss = data;
        json_t *j = json_pack("{s:s}", "Error", why);
        char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
        json_decref(j);
        char line[HTTP_STREAM_MAX_TAIL];
        int n = snprintf(line, sizeof(line), "%s\n", s ? s : "{}");
        free(s);
        http_req_stream_end(ss->req, line, n > 0 && (size_t)n < sizeof(line) ? (size_t)n : 0);
        free(ss);
}

/* The client went away. */
static void stream_closed(void *data) {
        struct stream_sub *ss = data;
        if (ss->a->events)
                events_unsubscribe(ss->a->events, ss->sub);
        free(ss);
}

void h_event_stream(struct route_ctx *c) {
        struct api *a = c->s;
        if (!a->events) {
                http_req_respond_text(c->req, 503, "server shutting down");
                return;
        }
        struct event_filter f = {0};
        struct error err = {0};
        const char *topics[EVENT_FILTER_MAX];
        size_t n = http_req_query_values(c->req, "topic", topics, EVENT_FILTER_MAX);
        if (n > EVENT_FILTER_MAX) {
                http_req_respond_text(c->req, 400, "Invalid topic query: more than %d topics", EVENT_FILTER_MAX);
                return;
        }
        for (size_t i = 0; i < n; i++)
                if (event_filter_add(&f, topics[i], &err) < 0) {
                        http_req_respond_text(c->req, 400, "Invalid topic query: %s", err.msg);
                        return;
                }
        event_filter_set_namespace(&f, ns_of(c));
        uint64_t from = 0;
        const char *idx = http_req_query(c->req, "index");
        if (idx && *idx) {
                char *end = NULL;
                errno = 0;
                unsigned long long v = strtoull(idx, &end, 10);
                if (errno || *end || *idx == '-') {
                        http_req_respond_text(c->req, 400, "Invalid index query: \"%.32s\" (want a number)", idx);
                        return;
                }
                from = v;
        }
        if (events_subscribers(a->events) >= EVENTS_DEFAULT_MAX_SUBS) {
                http_req_respond_text(c->req, 503, "event stream: %d subscribers already; retry later",
                                      EVENTS_DEFAULT_MAX_SUBS);
                return;
        }
        struct stream_sub *ss = calloc(1, sizeof(*ss));
        if (!ss) {
                http_req_respond_text(c->req, 500, "out of memory");
                return;
        }
        ss->a = a;
        ss->req = c->req;
        int r = http_req_stream_begin(c->req, 200, "application/json", 0, stream_closed, ss);
        if (r < 0) {
                free(ss);
                http_req_respond_text(c->req, 500, "event stream: cannot stream an answer: %s", strerror(-r));
                return;
        }
        struct event_sink sink = {.write = sink_write, .dropped = sink_dropped, .data = ss};
        r = events_subscribe(a->events, &f, from, &sink, &ss->sub, &err);
        if (r < 0) {
                char line[512];
                int k = snprintf(line, sizeof(line), "{\"Error\":\"%s\"}\n", strerror(-r));
                http_req_stream_end(c->req, line, (size_t)k);
                free(ss);
        }
}
