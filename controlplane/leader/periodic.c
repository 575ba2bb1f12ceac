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
#include "common/model.h"
#include "controlplane/state/state.h"

#define LAUNCH_SUFFIX "/periodic-"
#define MAX_CATCH_UP 100000 /* due times skipped over in one tick (a loop that stood still) */

struct tracked {
        char *ns, *id;
        uint64_t job_modify_index;
        struct cron_periodic spec;
        int64_t next; /* 0 = none */
        size_t heap_i; /* its slot in p->heap */
};

/* Every tracked parent is in a binary min-heap by next launch (none: last), so
 * that a tick looks at the earliest alone, and a change costs O(log parents). */
struct periodic {
        struct periodic_ops ops;
        void *data;
        struct hashmap *tracked; /* "ns\x1fid" -> struct tracked */
        struct tracked **heap;
        size_t n_heap, cap_heap;
};

static void tracked_free(struct tracked *t) {
        if (!t)
                return;
        free(t->ns);
        free(t->id);
        cron_periodic_clear(&t->spec);
        free(t);
}

struct periodic *periodic_create(const struct periodic_ops *ops, void *data) {
        struct periodic *p = calloc(1, sizeof(*p));
        if (!p)
                return NULL;
        p->ops = *ops;
        p->data = data;
        p->tracked = hashmap_create(HASHMAP_OWN_KEYS);
        if (!p->tracked) {
                free(p);
                return NULL;
        }
        return p;
}

void periodic_clear(struct periodic *p) {
        size_t it = 0;
        const char *k;
        void *v;
        while (hashmap_next(p->tracked, &it, &k, &v))
                tracked_free(v);
        hashmap_clear(p->tracked);
        p->n_heap = 0;
}

struct periodic *periodic_destroy(struct periodic *p) {
        if (!p)
                return NULL;
        periodic_clear(p);
        hashmap_destroy(p->tracked);
        free(p->heap);
        free(p);
        return NULL;
}

/* ---- the heap ------------------------------------------------------------------------ */

static bool launches_before(const struct tracked *a, const struct tracked *b) {
        return a->next && (!b->next || a->next < b->next);
}

static void heap_set(struct periodic *p, size_t i, struct tracked *t) {
        p->heap[i] = t;
        t->heap_i = i;
}

/* Move the entry at i to its place after its next launch changed. */
static void heap_fix(struct periodic *p, size_t i) {
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

static int heap_push(struct periodic *p, struct tracked *t) {
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

static void heap_remove(struct periodic *p, struct tracked *t) {
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
        const struct tracked *t = hashmap_get(p->tracked, key);
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

static void untrack(struct periodic *p, const char *key) {
        void *old = NULL;
        if (hashmap_remove(p->tracked, key, &old) == 0 && old) {
                heap_remove(p, old);
                tracked_free(old);
        }
}

/* Track j as it is now (a new or changed parent gets its next time from now; a
 * stopped, disabled or deleted one is dropped). O(log parents). */
static int track_job(struct periodic *p, const char *ns, const char *id, const struct job *j, int64_t now_s) {
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
        struct periodic *p;
        int64_t now;
        int r;
};

static bool sync_job(void *arg, const struct job *j) {
        struct sync_ctx *c = arg;
        if (!job_is_periodic(j) || j->stop)
                return true;
        c->r = track_job(c->p, j->namespace, j->id, j, c->now);
        return c->r == 0;
}

/* Track every parent the jobs table holds: O(jobs), at leadership and after a
 * restored state only. */
static int sync_jobs(struct periodic *p, const struct state_store *st, int64_t now_s) {
        periodic_clear(p);
        struct sync_ctx c = {.p = p, .now = now_s};
        state_jobs_foreach(st, NULL, sync_job, &c);
        return c.r;
}

int periodic_job_changed(struct periodic *p, const struct state_store *st, const char *ns, const char *id,
                         int64_t now_s) {
        return track_job(p, ns, id, state_job_get(st, ns ? ns : "default", id), now_s);
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
                return sync_jobs(p, st, now_s);
        return 0;
}

int periodic_tick(struct periodic *p, const struct state_store *st, int64_t now_s) {
        int launched = 0;
        while (p->n_heap && p->heap[0]->next && p->heap[0]->next <= now_s) {
                struct tracked *t = p->heap[0];
                /* Only the most recent of the due times launches. */
                int64_t at = t->next, n;
                for (int i = 0; i < MAX_CATCH_UP && cron_periodic_next(&t->spec, at, &n) == 0 && n <= now_s; i++)
                        at = n;
                launch(p, st, t, at);
                launched++;
                if (cron_periodic_next(&t->spec, now_s > at ? now_s : at, &t->next) < 0 || t->next <= now_s)
                        t->next = 0;
                heap_fix(p, 0);
        }
        return launched;
}

int periodic_restore(struct periodic *p, const struct state_store *st, int64_t now_s) {
        if (sync_jobs(p, st, now_s) < 0)
                return -ENOMEM;
        int launched = 0;
        size_t it = 0;
        const char *k;
        void *v;
        while (hashmap_next(p->tracked, &it, &k, &v)) {
                struct tracked *t = v;
                const struct job *parent = state_job_get(st, t->ns, t->id);
                if (!parent)
                        continue;
                int64_t last = periodic_last_launch(st, t->ns, t->id);
                if (!last)
                        last = parent->submit_time / 1000000000;
                int64_t due;
                if (cron_periodic_next(&t->spec, last, &due) == 0 && due <= now_s) {
                        launch(p, st, t, now_s);
                        launched++;
                }
        }
        return launched;
}
