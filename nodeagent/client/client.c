/* client.c - register, heartbeat, alloc watch and updates over libcurl on uv's thread pool. */
#include "nodeagent/client/client.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/clock.h"
#include "common/error.h"
#include "common/hashmap.h"
#include "common/http_client.h"
#include "common/jsonx.h"
#include "common/log.h"
#include "common/macros.h"
#include "common/model.h"
#include "nodeagent/alloc/update_text.h"
#include "nodeagent/config.h"

#define MAX_SERVERS 16
#define WATCH_WAIT "5s"
#define WATCH_TIMEOUT_MS 20000
#define CALL_TIMEOUT_MS 10000
/* Status updates: the first change after a quiet spell waits FLUSH_DELAY_MS for the
 * others of its burst; changes made while an update is in flight go as soon as it is
 * answered (its round trip was their batching window). One update in flight at a
 * time. Nomad's allocSyncIntv is a fixed 200 ms tick: a batch of 1,000 short tasks
 * waited 200-400 ms for it after its last task ended. */
#define FLUSH_DELAY_MS 50
#define BACKOFF_MAX_MS 30000
#define WATCH_IDLE_PACE_MS 100
/* Allocations fetched per POST /v1/node/:id/allocations/batch (the server takes
 * at most 1024): a burst of 1,000 new ones is two requests. */
#define FETCH_MAX 512
/* The first batch of a turn is smaller: its allocations start while the rest are
 * fetched (client_ops.allocs_partial), 1,000 new ones took 2 s to arrive in full. */
#define FETCH_FIRST 64

enum call_kind { CALL_REGISTER, CALL_HEARTBEAT, CALL_WATCH, CALL_UPDATE, CALL_FETCH, CALL_KINDS };
static const char *const kind_names[] = {"register", "heartbeat", "allocation watch", "allocation update",
                                         "allocation fetch"};

struct call {
        uv_work_t work;
        struct client *c;
        enum call_kind kind;
        char *url;
        const char *method;
        char *body;
        char *auth; /* "X-Nomad-Token: <node secret>" */
        long timeout_ms;
        atomic_int *abort;
        bool requeue; /* CALL_UPDATE: body's Allocs are requeued if it fails */
        /* results, written by the worker thread */
        bool reached;
        struct http_response res; /* status, body, X-Nomad-Index */
        char errbuf[sizeof(((struct error *)0)->msg)];
};

struct client {
        uv_loop_t *loop;
        char *servers[MAX_SERVERS];
        int n_servers;
        int cur;
        struct node *node;
        char *registration_secret; /* the servers' node registration secret, or NULL */
        struct client_ops ops;
        bool registered;
        bool ever_registered;
        bool node_changed; /* register again once the call in flight is done */
        bool unknown_node; /* a 404: the registration that follows is forced (CLIENT_REREGISTERED) */
        int64_t ttl_ns;
        uv_timer_t hb_timer;    /* heartbeats, and register retries */
        uv_timer_t watch_timer; /* watch retries */
        uv_timer_t flush_timer; /* update coalescing and retries */
        uv_timer_t abort_timer; /* shutdown deadline */
        bool hb_busy, watch_busy, update_busy;
        uint64_t watch_index;
        /* The allocations of the last watch answer by ID: one whose ModifyIndex did
         * not change is not decoded again (an answer lists every allocation of the
         * node, with its job: decoding all of them per answer was most of the
         * agent's CPU during a burst of 1,000). */
        struct hashmap *alloc_cache;
        /* Jobs of those by "namespace/id@JobModifyIndex@Version": the allocations of
         * one job version share one decoded job (1,000 copies otherwise). */
        struct hashmap *job_cache;
        /* The light watch (Nomad's GetClientAllocs): the answer's {ID: AllocModifyIndex}
         * while the changed allocations are fetched in batches. NULL between turns. */
        json_t *light;
        uint64_t light_index, light_sent_index;
        json_t *to_fetch;           /* IDs not fetched yet */
        int fetch_batches;          /* sent this turn */
        struct hashmap *fetched;    /* ID -> alloc, decoded from this turn's batches */
        struct hashmap *fetch_jobs; /* this turn's jobs, as job_cache */
        bool light_unsupported;     /* the server answered the light watch in full */
        /* The X-Nomad-Index of the list alloc_cache holds (0: none): the next light
         * watch asks only for what changed after it (&since=), and the answer's
         * Count tells a removal. Reset to 0 (a full list next) by a failed call, a
         * count that does not match, or a new registration. */
        uint64_t since;
        bool light_delta; /* this turn's answer lists only what changed (it had Count) */
        int failures[CALL_KINDS];
        char last_err[CALL_KINDS][256];
        bool updates_pending;
        int inflight;
        bool shutting_down;
        void (*done)(void *data);
        void *done_data;
        int open_handles;
        bool destroyed;
        atomic_int abort_watch;
        atomic_int abort_all;
};

/* ---- the blocking part: runs on a thread-pool thread ------------------------------------ */

static int should_abort(void *p) {
        struct call *call = p;
        return atomic_load(call->abort) || atomic_load(&call->c->abort_all);
}

static void call_work(uv_work_t *w) {
        struct call *call = w->data;
        struct error err = {0};
        const char *headers[] = {call->auth, NULL};
        if (http_perform_headers(call->method, call->url, call->body, headers, call->timeout_ms, 3000, should_abort,
                                 call, &call->res, &err) < 0)
                snprintf(call->errbuf, sizeof(call->errbuf), "%s", err.msg);
        else
                call->reached = true;
}

/* ---- the loop side ---------------------------------------------------------------------------- */

static void start_register(struct client *c);
static void start_heartbeat(struct client *c);
static void start_watch(struct client *c);
static void start_flush(struct client *c);
static void after_call(uv_work_t *w, int status);

static void call_free(struct call *call) {
        free(call->url);
        free(call->body);
        free(call->auth);
        http_response_clear(&call->res);
        free(call);
}

/* Queue a call whose body (NULL: none) is text already; the call takes body only
 * when it returns 0. */
static int submit_text(struct client *c, enum call_kind kind, const char *method, const char *path, char *body,
                       long timeout_ms, atomic_int *abort, bool requeue) {
        struct call *call = calloc(1, sizeof(*call));
        if (!call)
                return -ENOMEM;
        call->c = c;
        call->kind = kind;
        call->method = method;
        call->timeout_ms = timeout_ms;
        call->abort = abort;
        call->requeue = requeue;
        call->work.data = call;
        if (asprintf(&call->url, "%s%s", c->servers[c->cur], path) < 0)
                call->url = NULL;
        /* The node's secret authenticates its agent (Nomad's client uses it as its token). */
        if (asprintf(&call->auth, "X-Nomad-Token: %s", c->node->secret_id ? c->node->secret_id : "") < 0)
                call->auth = NULL;
        if (!call->url || !call->auth) {
                call_free(call);
                return -ENOMEM;
        }
        call->body = body;
        int r = uv_queue_work(c->loop, &call->work, call_work, after_call);
        if (r < 0) {
                call->body = NULL; /* still the caller's */
                call_free(call);
                return r;
        }
        c->inflight++;
        return 0;
}

static int submit(struct client *c, enum call_kind kind, const char *method, const char *path, json_t *body,
                  long timeout_ms, atomic_int *abort) {
        _cleanup_free_ char *text = NULL;
        if (body && !(text = json_dumps(body, JSON_COMPACT)))
                return -ENOMEM;
        int r = submit_text(c, kind, method, path, text, timeout_ms, abort, false);
        if (r == 0)
                TAKE_PTR(text);
        return r;
}

/* Updates that were not delivered (text: the update body, or in_body false: its
 * Allocs array alone): their allocations are pending again. */
static void requeue_text(struct client *c, const char *text, bool in_body) {
        json_t *j = json_loads(text ? text : "", 0, NULL);
        json_t *allocs = in_body ? json_object_get(j, "Allocs") : j;
        if (json_is_array(allocs))
                c->ops.requeue_updates(allocs, c->ops.data);
        else
                log_warn("an allocation update that failed could not be read back to requeue it");
        json_decref(j);
}

static uint64_t backoff_ms(int failures) {
        uint64_t ms = 500;
        for (int i = 1; i < failures && ms < BACKOFF_MAX_MS; i++)
                ms *= 2;
        if (ms > BACKOFF_MAX_MS)
                ms = BACKOFF_MAX_MS;
        return ms + (uint64_t)(drand48() * (double)ms * 0.2);
}

/* Log a failure once: again only when the reason changes. */
static void failed(struct client *c, enum call_kind kind, const char *reason) {
        c->failures[kind]++;
        if (c->ops.servers)
                c->ops.servers(CLIENT_CALL_FAILED, 0, c->ops.data);
        if (strcmp(c->last_err[kind], reason) != 0) {
                snprintf(c->last_err[kind], sizeof(c->last_err[kind]), "%s", reason);
                log_warn("%s failed (will retry): %s", kind_names[kind], reason);
        }
}

static void succeeded(struct client *c, enum call_kind kind) {
        if (c->last_err[kind][0])
                log_info("%s works again", kind_names[kind]);
        c->last_err[kind][0] = '\0';
        c->failures[kind] = 0;
}

/* Why a call failed, in words: unreachable, or the server's own plain-text reason. */
static void call_reason(const struct call *call, char *buf, size_t size) {
        if (!call->reached) {
                snprintf(buf, size, "%s", call->errbuf);
                return;
        }
        size_t n = call->res.len;
        while (n && (call->res.body[n - 1] == '\n' || call->res.body[n - 1] == '\r'))
                n--;
        snprintf(buf, size, "%s %s: server answered %ld: %.*s", call->method, call->url, call->res.status,
                 (int)(n > 200 ? 200 : n), call->res.body ? call->res.body : "");
}

static bool ok(const struct call *call) {
        return call->reached && call->res.status >= 200 && call->res.status < 300;
}

static void rotate_server(struct client *c) {
        if (c->n_servers > 1)
                c->cur = (c->cur + 1) % c->n_servers;
}

static void on_hb_timer(uv_timer_t *t) {
        struct client *c = t->data;
        if (c->registered)
                start_heartbeat(c);
        else
                start_register(c);
}

static void schedule_heartbeat(struct client *c) {
        int64_t ttl_ms = c->ttl_ns / NS_PER_MS;
        if (ttl_ms <= 0)
                ttl_ms = 10000;
        /* About half the TTL, minus up to a tenth of it so nodes spread out. */
        uint64_t ms = (uint64_t)(ttl_ms / 2 - (int64_t)(drand48() * (double)ttl_ms / 10));
        uv_timer_start(&c->hb_timer, on_hb_timer, ms ? ms : 1, 0);
}

/* The servers answered 404 for this node: they do not know it (any more). The
 * watch starts over from index 0: an index of the servers' old history would hold
 * the first query of the new one for its whole wait. */
static void need_register(struct client *c) {
        c->registered = false;
        c->unknown_node = true;
        c->watch_index = 0;
        c->since = 0;
        if (!c->hb_busy && !c->shutting_down) {
                uv_timer_stop(&c->hb_timer);
                start_register(c);
        }
}

static void start_register(struct client *c) {
        if (c->hb_busy || c->shutting_down)
                return;
        json_t *body = json_pack("{s:o}", "Node", node_to_json(c->node));
        if (c->registration_secret && *c->registration_secret)
                json_object_set_new(body, "RegistrationSecret", json_string(c->registration_secret));
        if (submit(c, CALL_REGISTER, "PUT", "/v1/node/register", body, CALL_TIMEOUT_MS, &c->abort_all) == 0)
                c->hb_busy = true;
        else
                uv_timer_start(&c->hb_timer, on_hb_timer, 1000, 0);
        json_decref(body);
}

static void start_heartbeat(struct client *c) {
        if (c->hb_busy || c->shutting_down)
                return;
        char path[128];
        snprintf(path, sizeof(path), "/v1/node/%s/heartbeat", c->node->id);
        json_t *body = json_pack("{s:s,s:s}", "SecretID", c->node->secret_id, "Status", "ready");
        if (submit(c, CALL_HEARTBEAT, "PUT", path, body, CALL_TIMEOUT_MS, &c->abort_all) == 0)
                c->hb_busy = true;
        else
                uv_timer_start(&c->hb_timer, on_hb_timer, 1000, 0);
        json_decref(body);
}

static void on_watch_timer(uv_timer_t *t) {
        start_watch(t->data);
}

static void start_watch(struct client *c) {
        if (c->watch_busy || c->shutting_down || !c->registered)
                return;
        char path[224], since[48] = "";
        if (c->since && !c->light_unsupported)
                snprintf(since, sizeof(since), "&since=%llu", (unsigned long long)c->since);
        snprintf(path, sizeof(path), "/v1/node/%s/allocations?index=%llu&wait=%s%s%s", c->node->id,
                 (unsigned long long)c->watch_index, WATCH_WAIT, c->light_unsupported ? "" : "&light=true", since);
        if (submit(c, CALL_WATCH, "GET", path, NULL, WATCH_TIMEOUT_MS, &c->abort_watch) == 0)
                c->watch_busy = true;
        else
                uv_timer_start(&c->watch_timer, on_watch_timer, 1000, 0);
}

static void on_flush_timer(uv_timer_t *t) {
        start_flush(t->data);
}

static void start_flush(struct client *c) {
        if (c->update_busy || !c->registered)
                return;
        c->updates_pending = false;
        size_t count = 0;
        _cleanup_free_ char *allocs = c->ops.collect_updates(&count, c->ops.data);
        if (!allocs)
                return;
        /* The body as text: the updates are text already (update_text.h). */
        struct text_buf b = {0};
        text_buf_puts(&b, "{\"SecretID\":");
        text_buf_json_str(&b, c->node->secret_id);
        text_buf_puts(&b, ",\"Allocs\":");
        text_buf_puts(&b, allocs);
        text_buf_puts(&b, "}");
        _cleanup_free_ char *body = text_buf_take(&b);
        char path[128];
        snprintf(path, sizeof(path), "/v1/node/%s/allocations", c->node->id);
        log_debug("sending %zu allocation update(s)", count);
        if (body && submit_text(c, CALL_UPDATE, "PUT", path, body, CALL_TIMEOUT_MS, &c->abort_all, true) == 0) {
                TAKE_PTR(body);
                c->update_busy = true;
        } else {
                requeue_text(c, allocs, false);
                c->updates_pending = true;
                uv_timer_start(&c->flush_timer, on_flush_timer, 1000, 0);
        }
}

void client_updates_pending(struct client *c) {
        c->updates_pending = true;
        if (!c->update_busy && !uv_is_active((uv_handle_t *)&c->flush_timer) && c->registered)
                uv_timer_start(&c->flush_timer, on_flush_timer, FLUSH_DELAY_MS, 0);
}

/* The node changed while a register or heartbeat was in flight: send it now. */
static bool resend_node(struct client *c) {
        if (!c->node_changed || c->shutting_down || c->hb_busy)
                return false;
        c->node_changed = false;
        uv_timer_stop(&c->hb_timer);
        start_register(c);
        return true;
}

static void finish_register(struct client *c, struct call *call) {
        c->hb_busy = false;
        if (ok(call) && resend_node(c))
                return;
        char reason[512];
        if (ok(call)) {
                json_t *j = json_loads(call->res.body ? call->res.body : "", 0, NULL);
                c->ttl_ns = jx_int(j, "HeartbeatTTL", 10 * NS_PER_SEC);
                json_decref(j);
                succeeded(c, CALL_REGISTER);
                if (!c->ever_registered)
                        log_info("registered node %s (%s) with %s; heartbeat TTL %lld ms", c->node->id, c->node->name,
                                 c->servers[c->cur], (long long)(c->ttl_ns / NS_PER_MS));
                else
                        log_info("registered node %s again", c->node->id);
                c->registered = c->ever_registered = true;
                if (c->unknown_node && c->ops.servers)
                        c->ops.servers(CLIENT_REREGISTERED, 0, c->ops.data);
                c->unknown_node = false;
                if (c->shutting_down)
                        return;
                schedule_heartbeat(c);
                start_watch(c);
                if (c->updates_pending)
                        client_updates_pending(c);
                return;
        }
        call_reason(call, reason, sizeof(reason));
        failed(c, CALL_REGISTER, reason);
        if (!call->reached)
                rotate_server(c);
        if (!c->shutting_down)
                uv_timer_start(&c->hb_timer, on_hb_timer, backoff_ms(c->failures[CALL_REGISTER]), 0);
}

static void finish_heartbeat(struct client *c, struct call *call) {
        c->hb_busy = false;
        if (c->shutting_down || resend_node(c))
                return;
        if (ok(call)) {
                json_t *j = json_loads(call->res.body ? call->res.body : "", 0, NULL);
                c->ttl_ns = jx_int(j, "HeartbeatTTL", c->ttl_ns);
                json_decref(j);
                succeeded(c, CALL_HEARTBEAT);
                schedule_heartbeat(c);
                return;
        }
        if (call->reached && call->res.status == 404) {
                log_warn("the server does not know node %s any more; registering again", c->node->id);
                need_register(c);
                return;
        }
        char reason[512];
        call_reason(call, reason, sizeof(reason));
        failed(c, CALL_HEARTBEAT, reason);
        if (!call->reached)
                rotate_server(c);
        uint64_t ms = backoff_ms(c->failures[CALL_HEARTBEAT]);
        uint64_t cap = (uint64_t)(c->ttl_ns / NS_PER_MS / 3);
        uv_timer_start(&c->hb_timer, on_hb_timer, ms < cap || cap == 0 ? ms : cap, 0);
}

static void cache_free(struct hashmap *m) {
        size_t pos = 0;
        void *v;
        while (m && hashmap_next(m, &pos, NULL, &v))
                alloc_unref(v);
        hashmap_destroy(m);
}

static void job_cache_free(struct hashmap *m) {
        size_t pos = 0;
        void *v;
        while (m && hashmap_next(m, &pos, NULL, &v))
                job_unref(v);
        hashmap_destroy(m);
}

static void job_key(char *buf, size_t size, const char *ns, const char *id, long long job_modify_index,
                    long long version) {
        snprintf(buf, size, "%s/%s@%lld@%lld", ns ? ns : "", id ? id : "", job_modify_index, version);
}

/* alloc_from_json, with the job shared with other allocations of the same job
 * version (this answer's, in jobs, or the last answer's). o is modified. A fetched
 * allocation names its job version ("JobKey") and comes without "Job" when the
 * agent said it has that version or the answer carried it already. */
static int decode_alloc(struct client *c, struct hashmap *jobs, json_t *o, struct alloc **ret, struct error *err) {
        /* The scheduler's AllocationMetric (nodes evaluated, scores): the agent never
         * reads it, and each running allocation would hold it as a JSON tree. */
        json_object_del(o, "Metrics");
        json_t *jo = json_object_get(o, "Job");
        const char *named = json_string_value(json_object_get(o, "JobKey"));
        char key[600];
        if (!jobs || (!json_is_object(jo) && !named))
                return alloc_from_json(o, ret, err);
        if (named)
                snprintf(key, sizeof(key), "%s", named);
        else
                job_key(key, sizeof(key), json_string_value(json_object_get(jo, "Namespace")),
                        json_string_value(json_object_get(jo, "ID")),
                        json_integer_value(json_object_get(jo, "JobModifyIndex")),
                        json_integer_value(json_object_get(jo, "Version")));
        struct job *shared = hashmap_get(jobs, key);
        if (!shared && c->job_cache && (shared = hashmap_get(c->job_cache, key)) &&
            hashmap_put(jobs, key, job_ref(shared), NULL) < 0) {
                job_unref(shared);
                shared = NULL;
        }
        if (!shared) {
                if (!json_is_object(jo))
                        return errorf(err, -ENOENT, "allocation %s: its job %s was neither sent nor held",
                                      json_string_value(json_object_get(o, "ID")), key);
                int r = alloc_from_json(o, ret, err);
                if (r == 0 && (*ret)->job && hashmap_put(jobs, key, job_ref((*ret)->job), NULL) < 0)
                        job_unref((*ret)->job);
                return r;
        }
        json_object_del(o, "Job"); /* not decoded again */
        int r = alloc_from_json(o, ret, err);
        if (r == 0)
                (*ret)->job = job_ref(shared);
        return r;
}

/* Up to FETCH_JOBS_MAX keys of the job versions the agent holds (the last turn's
 * and this one's): the fetch answer leaves those jobs out. */
#define FETCH_JOBS_MAX 256
static json_t *held_jobs(struct client *c) {
        json_t *keys = json_array();
        struct hashmap *maps[] = {c->fetch_jobs, c->job_cache};
        for (size_t m = 0; m < 2; m++) {
                size_t pos = 0;
                const char *k;
                while (maps[m] && json_array_size(keys) < FETCH_JOBS_MAX && hashmap_next(maps[m], &pos, &k, NULL))
                        if (m == 0 || !c->fetch_jobs || !hashmap_contains(c->fetch_jobs, k))
                                json_array_append_new(keys, json_string(k));
        }
        return keys;
}

/* j in jobs (by job_key), when not there yet. */
static void add_job(struct hashmap *jobs, struct job *j) {
        if (!j)
                return;
        char key[600];
        job_key(key, sizeof(key), j->namespace, j->id, (long long)j->job_modify_index, (long long)j->version);
        if (!hashmap_contains(jobs, key) && hashmap_put(jobs, key, job_ref(j), NULL) < 0)
                job_unref(j);
}

/* Hand the allocations to the agent and drop them; then watch again. */
static void deliver(struct client *c, struct alloc **allocs, size_t got, uint64_t sent_index, uint64_t index) {
        c->watch_busy = false;
        succeeded(c, CALL_WATCH);
        /* An index that goes backwards means a new server state: start over (and
         * the agent is told, before the list: it may be a server data loss). */
        c->watch_index = index;
        if (c->ops.servers)
                c->ops.servers(CLIENT_WATCH_ANSWER, index, c->ops.data);
        if (allocs)
                c->ops.allocs(allocs, got, c->ops.data);
        for (size_t i = 0; i < got; i++)
                alloc_unref(allocs[i]);
        free(allocs);
        /* No progress (the wait ran out, or a server that does not block): pace
         * the next query so that a non-blocking answer cannot make a busy loop. */
        if (c->watch_index == 0 || c->watch_index <= sent_index)
                uv_timer_start(&c->watch_timer, on_watch_timer, WATCH_IDLE_PACE_MS, 0);
        else
                start_watch(c);
}

static void watch_failed(struct client *c, struct call *call) {
        c->watch_busy = false;
        c->since = 0; /* the servers may have changed meanwhile in ways a count does not show */
        if (call->reached && call->res.status == 404) {
                failed(c, call->kind, "the server does not know this node");
                need_register(c);
                uv_timer_start(&c->watch_timer, on_watch_timer, 1000, 0);
                return;
        }
        char reason[512];
        call_reason(call, reason, sizeof(reason));
        failed(c, call->kind, reason);
        if (!call->reached)
                rotate_server(c);
        uv_timer_start(&c->watch_timer, on_watch_timer, backoff_ms(c->failures[call->kind]), 0);
}

static void light_clear(struct client *c) {
        c->fetch_batches = 0;
        c->light_delta = false;
        json_decref(c->light);
        json_decref(c->to_fetch);
        c->light = c->to_fetch = NULL;
        cache_free(c->fetched);
        job_cache_free(c->fetch_jobs);
        c->fetched = c->fetch_jobs = NULL;
}

/* Every changed allocation is fetched: the list of the light answer, from this
 * turn's batches and the last turn's cache. */
static void light_finish(struct client *c) {
        size_t n = json_object_size(c->light) + (c->light_delta && c->alloc_cache ? hashmap_count(c->alloc_cache) : 0);
        size_t got = 0;
        struct alloc **allocs = calloc(n ? n : 1, sizeof(*allocs));
        struct hashmap *cache = hashmap_create(HASHMAP_OWN_KEYS);
        struct hashmap *jobs = hashmap_create(HASHMAP_OWN_KEYS);
        if (!allocs || !cache || !jobs) {
                free(allocs);
                hashmap_destroy(cache);
                hashmap_destroy(jobs);
                light_clear(c);
                c->watch_busy = false;
                failed(c, CALL_WATCH, "out of memory");
                uv_timer_start(&c->watch_timer, on_watch_timer, 1000, 0);
                return;
        }
        hashmap_reserve(cache, n);
        const char *id;
        json_t *v;
        size_t pos = 0;
        void *cached;
        /* A delta answer: the allocations it does not list are as the last list had them. */
        while (c->light_delta && c->alloc_cache && hashmap_next(c->alloc_cache, &pos, NULL, &cached)) {
                struct alloc *a = cached;
                if (json_object_get(c->light, a->id))
                        continue;
                allocs[got++] = alloc_ref(a);
                if (hashmap_put(cache, a->id, alloc_ref(a), NULL) < 0)
                        alloc_unref(a);
                add_job(jobs, a->job);
        }
        json_object_foreach(c->light, id, v) {
                /* Fetched: as new as the light answer or newer (changed since; the next
                 * turn fetches it again). Otherwise the cached copy, when still current. */
                struct alloc *a = c->fetched ? hashmap_get(c->fetched, id) : NULL;
                if (!a && (a = c->alloc_cache ? hashmap_get(c->alloc_cache, id) : NULL) &&
                    a->alloc_modify_index != (uint64_t)json_integer_value(v))
                        a = NULL;
                if (!a) /* collected between the two requests */
                        continue;
                allocs[got++] = alloc_ref(a);
                if (hashmap_put(cache, a->id, alloc_ref(a), NULL) < 0)
                        alloc_unref(a);
                add_job(jobs, a->job);
        }
        cache_free(c->alloc_cache);
        c->alloc_cache = cache;
        job_cache_free(c->job_cache);
        c->job_cache = jobs;
        uint64_t sent = c->light_sent_index, index = c->light_index;
        light_clear(c);
        c->since = index;
        deliver(c, allocs, got, sent, index);
}

static void start_fetch(struct client *c) {
        size_t n = json_array_size(c->to_fetch);
        size_t max = c->fetch_batches++ == 0 && c->ops.allocs_partial ? FETCH_FIRST : FETCH_MAX;
        json_t *chunk = json_array();
        for (size_t i = 0; i < n && i < max; i++)
                json_array_append(chunk, json_array_get(c->to_fetch, i));
        json_t *rest = json_array();
        for (size_t i = max; i < n; i++)
                json_array_append(rest, json_array_get(c->to_fetch, i));
        json_decref(c->to_fetch);
        c->to_fetch = rest;
        char path[160];
        snprintf(path, sizeof(path), "/v1/node/%s/allocations/batch", c->node->id);
        json_t *body = json_pack("{s:o,s:o}", "AllocIDs", chunk, "Jobs", held_jobs(c));
        log_debug("fetching %zu changed allocation(s)", json_array_size(chunk));
        int r = body ? submit(c, CALL_FETCH, "POST", path, body, CALL_TIMEOUT_MS, &c->abort_watch) : -ENOMEM;
        json_decref(body);
        if (r < 0) {
                light_clear(c);
                c->watch_busy = false;
                uv_timer_start(&c->watch_timer, on_watch_timer, 1000, 0);
        }
}

static void finish_fetch(struct client *c, struct call *call) {
        if (c->shutting_down || !c->light) {
                light_clear(c);
                c->watch_busy = false;
                return;
        }
        if (!ok(call)) {
                light_clear(c);
                watch_failed(c, call);
                return;
        }
        json_error_t je;
        json_t *arr = json_loadb(call->res.body ? call->res.body : "", call->res.len, 0, &je);
        if (!json_is_array(arr)) {
                char reason[300];
                snprintf(reason, sizeof(reason), "POST %s: expected a JSON array of allocations: %s", call->url,
                         arr ? "not an array" : je.text);
                json_decref(arr);
                light_clear(c);
                c->watch_busy = false;
                failed(c, CALL_FETCH, reason);
                uv_timer_start(&c->watch_timer, on_watch_timer, backoff_ms(c->failures[CALL_FETCH]), 0);
                return;
        }
        succeeded(c, CALL_FETCH);
        bool partial = c->ops.allocs_partial && json_array_size(c->to_fetch) > 0;
        struct alloc **batch = partial ? calloc(json_array_size(arr) + 1, sizeof(*batch)) : NULL;
        size_t n_batch = 0;
        size_t i;
        json_t *o;
        json_array_foreach(arr, i, o) {
                struct error err = {0};
                struct alloc *a = NULL;
                if (decode_alloc(c, c->fetch_jobs, o, &a, &err) < 0) {
                        log_warn("allocation fetch: skipping an allocation the agent cannot read: %s", err.msg);
                        continue;
                }
                if (batch)
                        batch[n_batch++] = alloc_ref(a);
                void *old = NULL;
                if (hashmap_put(c->fetched, a->id, a, &old) < 0)
                        alloc_unref(a);
                else if (old)
                        alloc_unref(old);
        }
        json_decref(arr);
        if (json_array_size(c->to_fetch) == 0) {
                light_finish(c);
                return;
        }
        start_fetch(c); /* the next batch travels while the agent starts this one */
        if (batch && n_batch > 0)
                c->ops.allocs_partial(batch, n_batch, c->ops.data);
        for (size_t k = 0; k < n_batch; k++)
                alloc_unref(batch[k]);
        free(batch);
}

/* The watch again at once, for the whole list: a delta answer's count did not
 * match the agent's list (the servers removed an allocation it holds). */
static void watch_in_full(struct client *c) {
        c->since = 0;
        c->watch_index = 0; /* answered at once */
        start_watch(c);
}

/* A light answer ({"Allocs": {ID: AllocModifyIndex}}, with "Count" when it lists
 * only what changed after c->since): fetch what changed. */
static void light_answer(struct client *c, json_t *map, json_t *count, uint64_t index) {
        c->light = json_incref(map);
        c->light_index = index;
        c->light_sent_index = c->watch_index;
        c->light_delta = json_is_integer(count) && c->since;
        c->to_fetch = json_array();
        c->fetched = hashmap_create(HASHMAP_OWN_KEYS);
        c->fetch_jobs = hashmap_create(HASHMAP_OWN_KEYS);
        if (!c->to_fetch || !c->fetched || !c->fetch_jobs) {
                light_clear(c);
                c->since = 0;
                failed(c, CALL_WATCH, "out of memory");
                uv_timer_start(&c->watch_timer, on_watch_timer, 1000, 0);
                return;
        }
        const char *id;
        json_t *v;
        size_t known = c->alloc_cache ? hashmap_count(c->alloc_cache) : 0; /* the agent's list and the new IDs */
        json_object_foreach(map, id, v) {
                const struct alloc *a = c->alloc_cache ? hashmap_get(c->alloc_cache, id) : NULL;
                known += !a;
                if (!a || !json_is_integer(v) || json_integer_value(v) <= 0 ||
                    a->alloc_modify_index != (uint64_t)json_integer_value(v))
                        json_array_append_new(c->to_fetch, json_string(id));
        }
        /* Its list with the new IDs has more than the node has: some were removed
         * (an allocation the agent could not read and never held also shows here,
         * at the cost of one full answer per delta answer while it is listed). */
        if (c->light_delta && (json_int_t)known != json_integer_value(count)) {
                light_clear(c);
                watch_in_full(c);
                return;
        }
        c->watch_busy = true;
        size_t listed = c->light_delta ? (size_t)json_integer_value(count) : json_object_size(map);
        if (json_array_size(c->to_fetch) == 0 && c->alloc_cache && hashmap_count(c->alloc_cache) == listed) {
                /* The same allocations at the same AllocModifyIndex as the list the agent
                 * has (the index moved for another reason: the agent's own status updates
                 * of other fields, a job elsewhere): nothing to decode, rebuild or hand over.
                 * During a burst of 1,000 this was most of the loop's CPU, a cache of
                 * 1,000 entries rebuilt per answer. */
                uint64_t sent = c->light_sent_index;
                light_clear(c);
                c->since = index;
                deliver(c, NULL, 0, sent, index);
                return;
        }
        if (json_array_size(c->to_fetch) == 0)
                light_finish(c);
        else
                start_fetch(c);
}

/* A full answer (an array of allocations with their jobs): from a server
 * without the light watch. */
static void full_answer(struct client *c, json_t *arr, uint64_t index) {
        size_t n = json_array_size(arr), got = 0;
        struct alloc **allocs = calloc(n ? n : 1, sizeof(*allocs));
        struct hashmap *cache = hashmap_create(HASHMAP_OWN_KEYS);
        struct hashmap *jobs = hashmap_create(HASHMAP_OWN_KEYS);
        if (cache)
                hashmap_reserve(cache, n);
        for (size_t i = 0; allocs && i < n; i++) {
                struct error err = {0};
                json_t *o = json_array_get(arr, i);
                const char *id = json_string_value(json_object_get(o, "ID"));
                json_t *mi = json_object_get(o, "ModifyIndex");
                struct alloc *a = id && c->alloc_cache ? hashmap_get(c->alloc_cache, id) : NULL;
                if (a && json_is_integer(mi) && json_integer_value(mi) > 0 &&
                    a->modify_index == (uint64_t)json_integer_value(mi)) {
                        a = alloc_ref(a);
                } else if (decode_alloc(c, jobs, o, &a, &err) < 0) {
                        log_warn("allocation watch: skipping an allocation the agent cannot read: %s", err.msg);
                        continue;
                }
                allocs[got++] = a;
                if (cache && hashmap_put(cache, a->id, alloc_ref(a), NULL) < 0)
                        alloc_unref(a);
        }
        cache_free(c->alloc_cache);
        c->alloc_cache = cache;
        job_cache_free(c->job_cache);
        c->job_cache = jobs;
        deliver(c, allocs, got, c->watch_index, index);
}

static void finish_watch(struct client *c, struct call *call) {
        c->watch_busy = false;
        if (c->shutting_down)
                return;
        if (!ok(call)) {
                watch_failed(c, call);
                return;
        }
        json_error_t je;
        json_t *j = json_loadb(call->res.body ? call->res.body : "", call->res.len, 0, &je);
        json_t *map = json_object_get(j, "Allocs");
        if (json_is_object(map) && !c->light_unsupported) {
                light_answer(c, map, json_object_get(j, "Count"), call->res.index);
        } else if (json_is_array(j)) {
                if (!c->light_unsupported)
                        log_info("the server answers the allocation watch in full (no light watch)");
                c->light_unsupported = true;
                full_answer(c, j, call->res.index);
        } else {
                char reason[300];
                snprintf(reason, sizeof(reason), "GET %s: expected allocations: %s", call->url,
                         j ? "neither an array nor {\"Allocs\": {...}}" : je.text);
                failed(c, CALL_WATCH, reason);
                uv_timer_start(&c->watch_timer, on_watch_timer, backoff_ms(c->failures[CALL_WATCH]), 0);
        }
        json_decref(j);
}

static void finish_update(struct client *c, struct call *call) {
        c->update_busy = false;
        if (ok(call)) {
                succeeded(c, CALL_UPDATE);
                if (c->updates_pending && c->shutting_down && !atomic_load(&c->abort_all))
                        start_flush(c); /* the last batch, before exit */
                else if (c->updates_pending && !c->shutting_down)
                        start_flush(c);
                return;
        }
        if (call->requeue)
                requeue_text(c, call->body, true);
        c->updates_pending = true;
        char reason[512];
        call_reason(call, reason, sizeof(reason));
        failed(c, CALL_UPDATE, reason);
        if (c->shutting_down)
                return;
        if (call->reached && call->res.status == 404) {
                need_register(c);
                return;
        }
        if (!call->reached)
                rotate_server(c);
        uv_timer_start(&c->flush_timer, on_flush_timer, backoff_ms(c->failures[CALL_UPDATE]), 0);
}

static void maybe_done(struct client *c) {
        if (c->shutting_down && c->inflight == 0 && c->done) {
                void (*done)(void *) = c->done;
                c->done = NULL;
                uv_timer_stop(&c->abort_timer);
                done(c->done_data);
        }
}

static void after_call(uv_work_t *w, int status) {
        struct call *call = w->data;
        struct client *c = call->c;
        c->inflight--;
        if (status == UV_ECANCELED)
                snprintf(call->errbuf, sizeof(call->errbuf), "cancelled");
        switch (call->kind) {
        case CALL_REGISTER:
                finish_register(c, call);
                break;
        case CALL_HEARTBEAT:
                finish_heartbeat(c, call);
                break;
        case CALL_WATCH:
                finish_watch(c, call);
                break;
        case CALL_UPDATE:
                finish_update(c, call);
                break;
        case CALL_FETCH:
                finish_fetch(c, call);
                break;
        default:
                break;
        }
        call_free(call);
        maybe_done(c);
}

void client_update_node(struct client *c, struct node *node) {
        struct node *old = c->node;
        c->node = node_ref(node);
        node_unref(old);
        if (!c->ever_registered && !c->hb_busy)
                return; /* the first register (or its retry) sends the new node */
        c->node_changed = true;
        resend_node(c);
}

int client_create(uv_loop_t *loop, const char *servers, struct node *node, const struct client_ops *ops,
                  struct client **ret, struct error *err) {
        struct client *c = calloc(1, sizeof(*c));
        if (!c)
                return errorf(err, -ENOMEM, "out of memory");
        int n = agent_config_servers(servers, c->servers, MAX_SERVERS, err);
        if (n < 0) {
                free(c);
                return n;
        }
        curl_global_init(CURL_GLOBAL_DEFAULT);
        c->n_servers = n;
        c->loop = loop;
        c->node = node_ref(node);
        c->ops = *ops;
        uv_timer_t *timers[] = {&c->hb_timer, &c->watch_timer, &c->flush_timer, &c->abort_timer};
        for (size_t i = 0; i < 4; i++) {
                uv_timer_init(loop, timers[i]);
                timers[i]->data = c;
        }
        c->open_handles = 4;
        *ret = c;
        return 0;
}

int client_set_registration_secret(struct client *c, const char *secret) {
        free(c->registration_secret);
        c->registration_secret = NULL;
        if (secret && *secret && !(c->registration_secret = strdup(secret)))
                return -ENOMEM;
        return 0;
}

void client_start(struct client *c) {
        start_register(c);
}

static void on_abort_timer(uv_timer_t *t) {
        struct client *c = t->data;
        atomic_store(&c->abort_all, 1);
}

void client_shutdown(struct client *c, uint64_t flush_timeout_ms, void (*done)(void *data), void *data) {
        c->shutting_down = true;
        c->done = done;
        c->done_data = data;
        atomic_store(&c->abort_watch, 1);
        uv_timer_stop(&c->hb_timer);
        uv_timer_stop(&c->watch_timer);
        uv_timer_stop(&c->flush_timer);
        if (c->registered && flush_timeout_ms > 0) {
                start_flush(c);
                uv_timer_start(&c->abort_timer, on_abort_timer, flush_timeout_ms, 0);
        } else {
                atomic_store(&c->abort_all, 1);
        }
        maybe_done(c);
}

static void on_closed(uv_handle_t *h) {
        struct client *c = h->data;
        if (--c->open_handles > 0)
                return;
        for (int i = 0; i < c->n_servers; i++)
                free(c->servers[i]);
        node_unref(c->node);
        free(c->registration_secret);
        cache_free(c->alloc_cache);
        job_cache_free(c->job_cache);
        light_clear(c);
        free(c);
        http_client_cleanup(); /* the pool threads' kept handles too: no call runs any more */
}

void client_destroy(struct client *c) {
        if (!c || c->destroyed)
                return;
        c->destroyed = true;
        uv_timer_t *timers[] = {&c->hb_timer, &c->watch_timer, &c->flush_timer, &c->abort_timer};
        for (size_t i = 0; i < 4; i++)
                uv_close((uv_handle_t *)timers[i], on_closed);
}
