/* periodic.c - the periodic-job dispatcher. See periodic.h. */
#include "controlplane/leader/periodic.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cron.h"
#include "common/hashmap.h"
#include "common/jsonx.h"
#include "common/log.h"
#include "common/macros.h"
#include "common/clock.h"
#include "common/model.h"
#include "controlplane/state/state.h"

#define LAUNCH_SUFFIX "/periodic-"
#define MAX_CATCH_UP 100000 /* due times skipped over in one tick (a loop that stood still) */

struct tracked {
        char *ns, *id;
        uint64_t job_modify_index;
        struct cron_periodic spec;
        int64_t next;  /* 0 = none */
        size_t heap_i; /* its slot in p->heap */
};

/* Every tracked parent is in a binary min-heap by next launch (none: last), so
 * that a tick looks at the earliest alone, and a change costs O(log parents). A set
 * is built apart (a rebuild, off the loop) and swapped in whole. */
struct tracked_set {
        struct hashmap *tracked; /* "ns\x1fid" -> struct tracked */
        struct tracked **heap;
        size_t n_heap, cap_heap;
};

/* A rebuild of the set from a restored state (periodic.h): view and now on the loop,
 * set built on the offload's thread, swapped in on the loop (then set is the old one,
 * freed off the loop too). */
struct rebuild {
        struct periodic *p;
        struct state_store *view;
        int64_t now;
        uint64_t gen;
        struct tracked_set *set;
        bool catch_up; /* leadership gained: the parents whose launch was missed, too */
        char **missed; /* their keys */
        size_t n_missed;
        int rc;
        double built_ms;
};

struct periodic {
        struct periodic_ops ops;
        void *data;
        struct tracked_set *set;
        uint64_t gen;          /* bumped by periodic_clear and by each rebuild begun */
        struct hashmap *dirty; /* while a rebuild is pending: the keys of jobs changed since */
        struct rebuild *built; /* a rebuild done, swapped in on the next tick or command */
        bool resync;           /* a rebuild failed: read the state on the loop instead */
        bool resync_catch_up;  /* ... and launch what was missed (periodic_restore's) */
        unsigned in_flight;    /* offloaded works not done */
        bool destroyed;        /* periodic_destroy with works in flight: the last frees it */
};

static void tracked_free(struct tracked *t) {
        if (!t)
                return;
        free(t->ns);
        free(t->id);
        cron_periodic_clear(&t->spec);
        free(t);
}

static void set_clear(struct tracked_set *set) {
        size_t it = 0;
        const char *k;
        void *v;
        while (hashmap_next(set->tracked, &it, &k, &v))
                tracked_free(v);
        hashmap_clear(set->tracked);
        set->n_heap = 0;
}

static struct tracked_set *set_free(struct tracked_set *set) {
        if (!set)
                return NULL;
        if (set->tracked)
                set_clear(set);
        hashmap_destroy(set->tracked);
        free(set->heap);
        free(set);
        return NULL;
}

static struct tracked_set *set_new(void) {
        struct tracked_set *set = calloc(1, sizeof(*set));
        if (set && !(set->tracked = hashmap_create(HASHMAP_OWN_KEYS)))
                set = set_free(set);
        return set;
}

static void rebuild_free(struct rebuild *rb) {
        if (!rb)
                return;
        state_destroy(rb->view);
        set_free(rb->set);
        for (size_t i = 0; i < rb->n_missed; i++)
                free(rb->missed[i]);
        free(rb->missed);
        free(rb);
}

static void periodic_free(struct periodic *p) {
        set_free(p->set);
        hashmap_destroy(p->dirty);
        rebuild_free(p->built);
        free(p);
}

struct periodic *periodic_create(const struct periodic_ops *ops, void *data) {
        struct periodic *p = calloc(1, sizeof(*p));
        if (!p)
                return NULL;
        p->ops = *ops;
        p->data = data;
        if (!(p->set = set_new())) {
                free(p);
                return NULL;
        }
        return p;
}

/* No rebuild pending any more (none begun, or one overtaken). */
static void rebuild_forget(struct periodic *p) {
        p->gen++;
        p->dirty = hashmap_destroy(p->dirty);
        rebuild_free(p->built);
        p->built = NULL;
        p->resync = p->resync_catch_up = false;
}

void periodic_clear(struct periodic *p) {
        rebuild_forget(p);
        set_clear(p->set);
}

struct periodic *periodic_destroy(struct periodic *p) {
        if (!p)
                return NULL;
        if (p->in_flight) { /* the last offloaded work's end frees it */
                rebuild_forget(p);
                p->destroyed = true;
                return NULL;
        }
        periodic_free(p);
        return NULL;
}

/* ---- the heap ------------------------------------------------------------------------ */

static bool launches_before(const struct tracked *a, const struct tracked *b) {
        return a->next && (!b->next || a->next < b->next);
}

static void heap_set(struct tracked_set *p, size_t i, struct tracked *t) {
        p->heap[i] = t;
        t->heap_i = i;
}

/* Move the entry at i to its place after its next launch changed. */
static void heap_fix(struct tracked_set *p, size_t i) {
        struct tracked *t = p->heap[i];
        while (i > 0 && launches_before(t, p->heap[(i - 1) / 2])) {
                heap_set(p, i, p->heap[(i - 1) / 2]);
                i = (i - 1) / 2;
        }
        for (;;) {
                size_t c = 2 * i + 1;
                if (c >= p->n_heap)
                        break;
                if (c + 1 < p->n_heap && launches_before(p->heap[c + 1], p->heap[c]))
                        c++;
                if (!launches_before(p->heap[c], t))
                        break;
                heap_set(p, i, p->heap[c]);
                i = c;
        }
        heap_set(p, i, t);
}

static int heap_push(struct tracked_set *p, struct tracked *t) {
        if (p->n_heap == p->cap_heap) {
                size_t cap = p->cap_heap ? p->cap_heap * 2 : 16;
                struct tracked **v = realloc(p->heap, cap * sizeof(*v));
                if (!v)
                        return -ENOMEM;
                p->heap = v;
                p->cap_heap = cap;
        }
        heap_set(p, p->n_heap++, t);
        heap_fix(p, t->heap_i);
        return 0;
}

static void heap_remove(struct tracked_set *p, struct tracked *t) {
        size_t i = t->heap_i;
        struct tracked *last = p->heap[--p->n_heap];
        if (last != t) {
                heap_set(p, i, last);
                heap_fix(p, i);
        }
}

static void key_of(char *buf, size_t size, const char *ns, const char *id) {
        snprintf(buf, size, "%s\x1f%s", ns ? ns : "default", id ? id : "");
}

int64_t periodic_next_launch(const struct periodic *p, const char *ns, const char *id) {
        char key[1024];
        key_of(key, sizeof(key), ns, id);
        const struct tracked *t = hashmap_get(p->set->tracked, key);
        return t ? t->next : 0;
}

/* ---- children ------------------------------------------------------------------------ */

int periodic_child(const struct job *parent, int64_t launch_s, struct job **ret) {
        struct job *c = job_copy(parent);
        if (!c)
                return -ENOMEM;
        char *id = NULL;
        if (asprintf(&id, "%s" LAUNCH_SUFFIX "%lld", parent->id, (long long)launch_s) < 0) {
                job_unref(c);
                return -ENOMEM;
        }
        free(c->id);
        free(c->name);
        c->id = id;
        c->name = strdup(id);
        if (!c->extra)
                c->extra = json_object();
        if (!c->name || !c->extra) {
                job_unref(c);
                return -ENOMEM;
        }
        json_object_del(c->extra, "Periodic");
        json_object_set_new(c->extra, "ParentID", json_string(parent->id));
        c->status = JOB_STATUS_PENDING;
        c->version = 0;
        c->create_index = c->modify_index = c->job_modify_index = 0;
        *ret = c;
        return 0;
}

struct child_scan {
        const char *prefix;
        size_t plen;
        bool live;
        int64_t last;
};

static bool scan_child(void *arg, const struct job *j) {
        struct child_scan *c = arg;
        if (strncmp(j->id, c->prefix, c->plen) != 0)
                return true;
        const char *digits = j->id + c->plen;
        char *end = NULL;
        long long t = strtoll(digits, &end, 10);
        if (end == digits || *end)
                return true; /* "<parent>/periodic-x": not one of ours */
        if (t > c->last)
                c->last = t;
        if (j->status != JOB_STATUS_DEAD)
                c->live = true;
        return true;
}

static struct child_scan scan_children(const struct state_store *st, const char *ns, const char *parent_id) {
        char prefix[512];
        snprintf(prefix, sizeof(prefix), "%s" LAUNCH_SUFFIX, parent_id);
        struct child_scan c = {.prefix = prefix, .plen = strlen(prefix)};
        state_jobs_foreach(st, ns, scan_child, &c);
        c.prefix = NULL;
        return c;
}

bool periodic_has_live_child(const struct state_store *st, const char *ns, const char *parent_id) {
        return scan_children(st, ns, parent_id).live;
}

int64_t periodic_last_launch(const struct state_store *st, const char *ns, const char *parent_id) {
        return scan_children(st, ns, parent_id).last;
}

struct children_scan {
        const char *parent;
        size_t plen;
        struct periodic_children counts;
};

static bool count_child(void *arg, const struct job *j) {
        struct children_scan *c = arg;
        if (strncmp(j->id, c->parent, c->plen) != 0 || j->id[c->plen] != '/' ||
            strcmp(job_parent_id(j), c->parent) != 0)
                return true;
        if (j->status == JOB_STATUS_DEAD)
                c->counts.dead++;
        else if (j->status == JOB_STATUS_RUNNING)
                c->counts.running++;
        else
                c->counts.pending++;
        return true;
}

void periodic_children(const struct state_store *st, const char *ns, const char *parent_id,
                       struct periodic_children *ret) {
        struct children_scan c = {.parent = parent_id, .plen = strlen(parent_id)};
        state_jobs_foreach(st, ns, count_child, &c);
        *ret = c.counts;
}

json_t *periodic_register_command(const struct job *child, const char *eval_id, const char *trigger, int64_t now_ns) {
        struct eval *e = eval_new();
        if (!e)
                return NULL;
        e->id = strdup(eval_id);
        e->namespace = strdup(child->namespace ? child->namespace : "default");
        e->priority = child->priority;
        e->type = child->type;
        e->triggered_by = strdup(trigger);
        e->job_id = strdup(child->id);
        e->status = EVAL_PENDING;
        e->create_time = e->modify_time = now_ns;
        json_t *cmd = NULL;
        if (e->id && e->namespace && e->triggered_by && e->job_id)
                cmd = json_pack("{s:s,s:o,s:o}", "Type", "JobRegister", "Job", job_to_json(child), "Eval",
                                eval_to_json(e));
        eval_unref(e);
        return cmd;
}

/* ---- the dispatcher ---------------------------------------------------------------------- */

static void launch(struct periodic *p, const struct state_store *st, const struct tracked *t, int64_t at) {
        const struct job *parent = state_job_get(st, t->ns, t->id);
        if (!parent)
                return;
        if (t->spec.prohibit_overlap && periodic_has_live_child(st, t->ns, t->id)) {
                log_debug("periodic: job \"%s\": launch at %lld skipped: an earlier child still runs "
                          "(prohibit_overlap)",
                          t->id, (long long)at);
                return;
        }
        struct job *child = NULL;
        if (periodic_child(parent, at, &child) < 0)
                return;
        int r = p->ops.launch(p->data, child);
        if (r < 0)
                log_warn("periodic: job \"%s\": launching %s failed: %s", t->id, child->id, strerror(-r));
        job_unref(child);
}

static void untrack(struct tracked_set *p, const char *key) {
        void *old = NULL;
        if (hashmap_remove(p->tracked, key, &old) == 0 && old) {
                heap_remove(p, old);
                tracked_free(old);
        }
}

/* Track j as it is now (a new or changed parent gets its next time from now; a
 * stopped, disabled or deleted one is dropped). O(log parents). */
static int track_job(struct tracked_set *p, const char *ns, const char *id, const struct job *j, int64_t now_s) {
        char key[1024];
        key_of(key, sizeof(key), ns, id);
        struct tracked *t = hashmap_get(p->tracked, key);
        if (!j || !job_is_periodic(j) || j->stop) {
                untrack(p, key);
                return 0;
        }
        if (t && t->job_modify_index == j->job_modify_index)
                return 0;
        struct cron_periodic spec;
        if (cron_periodic_parse(json_object_get(j->extra, "Periodic"), &spec, NULL) < 0 || !spec.enabled) {
                cron_periodic_clear(&spec);
                untrack(p, key); /* validated at registration; disabled: not tracked */
                return 0;
        }
        if (!t) {
                t = calloc(1, sizeof(*t));
                if (!t || !(t->ns = strdup(ns ? ns : "default")) || !(t->id = strdup(id)) || heap_push(p, t) < 0) {
                        tracked_free(t);
                        cron_periodic_clear(&spec);
                        return -ENOMEM;
                }
                if (hashmap_put(p->tracked, key, t, NULL) < 0) {
                        heap_remove(p, t);
                        tracked_free(t);
                        cron_periodic_clear(&spec);
                        return -ENOMEM;
                }
        } else {
                cron_periodic_clear(&t->spec);
        }
        t->spec = spec;
        t->job_modify_index = j->job_modify_index;
        if (cron_periodic_next(&t->spec, now_s, &t->next) < 0)
                t->next = 0;
        heap_fix(p, t->heap_i);
        return 0;
}

struct sync_ctx {
        struct tracked_set *set;
        int64_t now;
        int r;
};

static bool sync_job(void *arg, const struct job *j) {
        struct sync_ctx *c = arg;
        if (!job_is_periodic(j) || j->stop)
                return true;
        c->r = track_job(c->set, j->namespace, j->id, j, c->now);
        return c->r == 0;
}

/* Track every parent the jobs table holds: O(jobs), at leadership, after a restored
 * state without an offload, and in a rebuild (on any thread: st a snapshot). */
static int set_fill(struct tracked_set *set, const struct state_store *st, int64_t now_s) {
        set_clear(set);
        struct sync_ctx c = {.set = set, .now = now_s};
        state_jobs_foreach(st, NULL, sync_job, &c);
        return c.r;
}

static int sync_jobs(struct periodic *p, const struct state_store *st, int64_t now_s) {
        rebuild_forget(p);
        return set_fill(p->set, st, now_s);
}

/* ---- leadership gained: launches missed while there was no leader ------------------------ */

static bool note_launch(void *arg, const struct job *j) {
        struct hashmap *last = arg;
        const char *suffix = NULL;
        for (const char *q = strstr(j->id, LAUNCH_SUFFIX); q; q = strstr(q + 1, LAUNCH_SUFFIX))
                suffix = q;
        if (!suffix)
                return true;
        const char *digits = suffix + strlen(LAUNCH_SUFFIX);
        char *end = NULL;
        long long t = strtoll(digits, &end, 10);
        if (end == digits || *end || t <= 0)
                return true; /* "<parent>/periodic-x": not a launch */
        char key[1024];
        snprintf(key, sizeof(key), "%s\x1f%.*s", j->namespace ? j->namespace : "default", (int)(suffix - j->id), j->id);
        intptr_t old = (intptr_t)hashmap_get(last, key);
        return t <= old || hashmap_put(last, key, (void *)(intptr_t)t, NULL) == 0;
}

/* The keys of set's parents whose next launch after their last one (their newest
 * child, else their submit time) is past at now_s: one walk of the jobs, not one per
 * parent. Any thread (st a snapshot there). */
static int missed_keys(const struct tracked_set *set, const struct state_store *st, int64_t now_s, char ***ret,
                       size_t *ret_n) {
        _cleanup_(hashmap_destroyp) struct hashmap *last_of = hashmap_create(HASHMAP_OWN_KEYS);
        size_t n = 0, cap = hashmap_count(set->tracked);
        char **v = calloc(cap ? cap : 1, sizeof(*v));
        if (!last_of || !v) {
                free(v);
                return -ENOMEM;
        }
        state_jobs_foreach(st, NULL, note_launch, last_of);
        size_t it = 0;
        const char *k;
        void *tv;
        while (hashmap_next(set->tracked, &it, &k, &tv)) {
                const struct tracked *t = tv;
                const struct job *parent = state_job_get(st, t->ns, t->id);
                int64_t last = (intptr_t)hashmap_get(last_of, k), due;
                if (!last && parent)
                        last = parent->submit_time / 1000000000;
                if (parent && cron_periodic_next(&t->spec, last, &due) == 0 && due <= now_s && (v[n] = strdup(k)))
                        n++;
        }
        *ret = v;
        *ret_n = n;
        return 0;
}

/* Launch, at now_s, those of the missed parents still tracked; each launches next
 * after now_s (a rebuild's set counted from its start). */
static int launch_missed(struct periodic *p, const struct state_store *st, char *const *keys, size_t n, int64_t now_s) {
        int launched = 0;
        for (size_t i = 0; i < n; i++) {
                struct tracked *t = hashmap_get(p->set->tracked, keys[i]);
                if (!t)
                        continue;
                launch(p, st, t, now_s);
                launched++;
                if (cron_periodic_next(&t->spec, now_s, &t->next) < 0)
                        t->next = 0;
                heap_fix(p->set, t->heap_i);
        }
        return launched;
}

/* Leadership gained, on the spot: track every parent, launch the missed ones. */
static int restore_now(struct periodic *p, const struct state_store *st, int64_t now_s) {
        _cleanup_free_ char **keys = NULL;
        size_t n = 0;
        if (sync_jobs(p, st, now_s) < 0 || missed_keys(p->set, st, now_s, &keys, &n) < 0)
                return -ENOMEM;
        int launched = launch_missed(p, st, keys, n, now_s);
        for (size_t i = 0; i < n; i++)
                free(keys[i]);
        return launched;
}

/* ---- a rebuild off the loop -------------------------------------------------------------- */

static bool split_key(const char *key, char *ns, size_t size, const char **ret_id) {
        const char *sep = strchr(key, '\x1f');
        if (!sep || (size_t)(sep - key) >= size)
                return false;
        memcpy(ns, key, (size_t)(sep - key));
        ns[sep - key] = '\0';
        *ret_id = sep + 1;
        return true;
}

/* On the loop: the built set in, the old one out (to rb, freed off the loop), then
 * the jobs changed since the rebuild began re-read from st. O(changes). */
static int rebuild_swap(struct periodic *p, struct rebuild *rb, const struct state_store *st, int64_t now_s) {
        int64_t t0 = clock_monotonic_ns();
        struct tracked_set *old = p->set;
        p->set = rb->set;
        rb->set = old;
        int r = 0;
        size_t it = 0, n = 0;
        const char *key;
        void *v;
        while (r == 0 && hashmap_next(p->dirty, &it, &key, &v)) {
                char ns[512];
                const char *id;
                if (split_key(key, ns, sizeof(ns), &id))
                        r = track_job(p->set, ns, id, state_job_get(st, ns, id), now_s);
                n++;
        }
        log_info("periodic: %zu parent(s) read from the state in %.1f ms off the loop, swapped in "
                 "on the loop in %.3f ms with %zu job change(s) since",
                 hashmap_count(p->set->tracked), rb->built_ms, (double)(clock_monotonic_ns() - t0) / 1e6, n);
        p->dirty = hashmap_destroy(p->dirty);
        return r;
}

static void rebuild_free_work(void *arg) {
        struct rebuild *rb = arg;
        rb->set = set_free(rb->set);
        rb->view = state_destroy(rb->view);
}

static void offload_end(struct periodic *p) {
        if (--p->in_flight == 0 && p->destroyed)
                periodic_free(p);
}

static void rebuild_free_done(void *arg, bool canceled) {
        struct rebuild *rb = arg;
        struct periodic *p = rb->p;
        (void)canceled; /* what the work did not free is freed here */
        rebuild_free(rb);
        offload_end(p);
}

/* Free rb (and the old set it holds) off the loop when the offload takes it. */
static void rebuild_dispose(struct periodic *p, struct rebuild *rb) {
        if (p->ops.offload && p->ops.offload(p->data, rebuild_free_work, rebuild_free_done, rb) == 0) {
                p->in_flight++;
                return;
        }
        rebuild_free(rb);
}

/* Before a tick or a command: a rebuild done is swapped in; a failed one is made good
 * on the loop. */
static int settle(struct periodic *p, const struct state_store *st, int64_t now_s) {
        if (p->resync) {
                int r = p->resync_catch_up ? restore_now(p, st, now_s) : sync_jobs(p, st, now_s);
                return r < 0 ? r : 0;
        }
        if (!p->built)
                return 0;
        struct rebuild *rb = TAKE_PTR(p->built);
        int r = rebuild_swap(p, rb, st, now_s);
        int launched = launch_missed(p, st, rb->missed, rb->n_missed, now_s);
        if (launched > 0)
                log_info("periodic: %d job(s) missed launches while there was no leader: launched once each", launched);
        rebuild_dispose(p, rb);
        return r;
}

static void rebuild_work(void *arg) {
        struct rebuild *rb = arg;
        int64_t t0 = clock_monotonic_ns();
        rb->set = set_new();
        rb->rc = rb->set ? set_fill(rb->set, rb->view, rb->now) : -ENOMEM;
        if (rb->rc == 0 && rb->catch_up)
                rb->rc = missed_keys(rb->set, rb->view, rb->now, &rb->missed, &rb->n_missed);
        rb->view = state_destroy(rb->view);
        rb->built_ms = (double)(clock_monotonic_ns() - t0) / 1e6;
}

static void rebuild_done(void *arg, bool canceled) {
        struct rebuild *rb = arg;
        struct periodic *p = rb->p;
        bool current = !p->destroyed && rb->gen == p->gen;
        if (current && (canceled || rb->rc < 0)) {
                log_warn("periodic: rebuilding the periodic jobs off the loop failed: read on the loop instead");
                p->resync = true;
                p->resync_catch_up = rb->catch_up;
        }
        if (current && !canceled && rb->rc == 0)
                p->built = rb;
        else
                rebuild_free(rb);
        offload_end(p);
}

/* A restored state or leadership gained: every job read again, off the loop when an
 * offload is given (false: not begun). */
static bool rebuild_begin(struct periodic *p, const struct state_store *st, int64_t now_s, bool catch_up) {
        if (!p->ops.offload)
                return false;
        rebuild_forget(p);
        struct rebuild *rb = calloc(1, sizeof(*rb));
        if (!rb || !(p->dirty = hashmap_create(HASHMAP_OWN_KEYS)) || !(rb->view = state_snapshot(st))) {
                rebuild_free(rb);
                return false;
        }
        *rb = (struct rebuild){.p = p, .view = rb->view, .now = now_s, .gen = p->gen, .catch_up = catch_up};
        if (p->ops.offload(p->data, rebuild_work, rebuild_done, rb) < 0) {
                rebuild_free(rb);
                return false;
        }
        p->in_flight++;
        return true;
}

bool periodic_rebuilding(const struct periodic *p) {
        return p->dirty != NULL || p->resync;
}

/* ---- following the state ------------------------------------------------------------------ */

int periodic_job_changed(struct periodic *p, const struct state_store *st, const char *ns, const char *id,
                         int64_t now_s) {
        int r = settle(p, st, now_s);
        if (r < 0)
                return r;
        if (p->dirty) { /* a rebuild pending: re-read once it is swapped in */
                char key[1024];
                key_of(key, sizeof(key), ns, id);
                return hashmap_put(p->dirty, key, NULL, NULL) < 0 ? -ENOMEM : 0;
        }
        return track_job(p->set, ns, id, state_job_get(st, ns ? ns : "default", id), now_s);
}

int periodic_applied(struct periodic *p, const struct state_store *st, const json_t *cmd, int64_t now_s) {
        const char *type = jx_str(cmd, "Type", "");
        if (strcmp(type, "JobRegister") == 0) {
                const json_t *j = json_object_get(cmd, "Job");
                return periodic_job_changed(p, st, jx_str(j, "Namespace", "default"), jx_str(j, "ID", ""), now_s);
        }
        if (strcmp(type, "JobDeregister") == 0)
                return periodic_job_changed(p, st, jx_str(cmd, "Namespace", "default"), jx_str(cmd, "JobID", ""),
                                            now_s);
        if (strcmp(type, "GC") == 0) {
                size_t i;
                const json_t *v;
                int r = 0;
                json_array_foreach(json_object_get(cmd, "Jobs"), i, v) {
                        if (r == 0)
                                r = periodic_job_changed(p, st, jx_str(v, "Namespace", "default"), jx_str(v, "ID", ""),
                                                         now_s);
                }
                return r;
        }
        if (strcmp(type, "StateRestore") == 0)
                return rebuild_begin(p, st, now_s, false) ? 0 : sync_jobs(p, st, now_s);
        return 0;
}

int periodic_tick(struct periodic *p, const struct state_store *st, int64_t now_s) {
        if (settle(p, st, now_s) < 0 || p->dirty)
                return 0; /* nothing launches from a set a restored state replaces */
        struct tracked_set *set = p->set;
        int launched = 0;
        while (set->n_heap && set->heap[0]->next && set->heap[0]->next <= now_s) {
                struct tracked *t = set->heap[0];
                /* Only the most recent of the due times launches. */
                int64_t at = t->next, n;
                for (int i = 0; i < MAX_CATCH_UP && cron_periodic_next(&t->spec, at, &n) == 0 && n <= now_s; i++)
                        at = n;
                launch(p, st, t, at);
                launched++;
                if (cron_periodic_next(&t->spec, now_s > at ? now_s : at, &t->next) < 0 || t->next <= now_s)
                        t->next = 0;
                heap_fix(set, 0);
        }
        return launched;
}

int periodic_restore(struct periodic *p, const struct state_store *st, int64_t now_s) {
        return rebuild_begin(p, st, now_s, true) ? 0 : restore_now(p, st, now_s);
}
