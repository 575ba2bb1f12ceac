/* periodic.c - the periodic-job dispatcher. See periodic.h. */
#include "controlplane/leader/periodic.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cron.h"
#include "common/hashmap.h"
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
        bool seen;    /* in the latest sync */
};

struct periodic {
        struct periodic_ops ops;
        void *data;
        struct hashmap *tracked; /* "ns\x1fid" -> struct tracked */
        uint64_t jobs_index;     /* the jobs table index of the last sync */
        bool synced;
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
        p->synced = false;
        p->jobs_index = 0;
}

struct periodic *periodic_destroy(struct periodic *p) {
        if (!p)
                return NULL;
        periodic_clear(p);
        hashmap_destroy(p->tracked);
        free(p);
        return NULL;
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

struct sync_ctx {
        struct periodic *p;
        int64_t now;
        int r;
};

static bool sync_job(void *arg, const struct job *j) {
        struct sync_ctx *c = arg;
        if (!job_is_periodic(j) || j->stop)
                return true;
        char key[1024];
        key_of(key, sizeof(key), j->namespace, j->id);
        struct tracked *t = hashmap_get(c->p->tracked, key);
        if (t && t->job_modify_index == j->job_modify_index) {
                t->seen = true;
                return true;
        }
        struct cron_periodic spec;
        if (cron_periodic_parse(json_object_get(j->extra, "Periodic"), &spec, NULL) < 0 || !spec.enabled) {
                cron_periodic_clear(&spec);
                return true; /* validated at registration; disabled: not tracked */
        }
        if (!t) {
                t = calloc(1, sizeof(*t));
                if (!t || !(t->ns = strdup(j->namespace ? j->namespace : "default")) || !(t->id = strdup(j->id)) ||
                    hashmap_put(c->p->tracked, key, t, NULL) < 0) {
                        tracked_free(t);
                        cron_periodic_clear(&spec);
                        c->r = -ENOMEM;
                        return false;
                }
        } else {
                cron_periodic_clear(&t->spec);
        }
        t->spec = spec;
        t->job_modify_index = j->job_modify_index;
        t->seen = true;
        if (cron_periodic_next(&t->spec, c->now, &t->next) < 0)
                t->next = 0;
        return true;
}

/* Track what the jobs table holds now (new and changed parents get their next time
 * from now; stopped, disabled and deleted ones are dropped). */
static int sync_jobs(struct periodic *p, const struct state_store *st, int64_t now_s) {
        uint64_t idx = state_table_index(st, STATE_TABLE_JOBS);
        if (p->synced && idx == p->jobs_index)
                return 0;
        size_t it = 0;
        const char *k;
        void *v;
        while (hashmap_next(p->tracked, &it, &k, &v))
                ((struct tracked *)v)->seen = false;
        struct sync_ctx c = {.p = p, .now = now_s};
        state_jobs_foreach(st, NULL, sync_job, &c);
        if (c.r < 0)
                return c.r;
        /* Drop the ones not seen (collected first: no removal while iterating). */
        size_t n = 0, cap = hashmap_count(p->tracked);
        _cleanup_free_ char **gone = cap ? calloc(cap, sizeof(*gone)) : NULL;
        if (cap && !gone)
                return -ENOMEM;
        it = 0;
        while (hashmap_next(p->tracked, &it, &k, &v))
                if (!((struct tracked *)v)->seen && n < cap && (gone[n] = strdup(k)))
                        n++;
        for (size_t i = 0; i < n; i++) {
                void *old = NULL;
                if (hashmap_remove(p->tracked, gone[i], &old) == 0)
                        tracked_free(old);
                free(gone[i]);
        }
        p->jobs_index = idx;
        p->synced = true;
        return 0;
}

int periodic_tick(struct periodic *p, const struct state_store *st, int64_t now_s) {
        if (sync_jobs(p, st, now_s) < 0)
                return -ENOMEM;
        int launched = 0;
        size_t it = 0;
        const char *k;
        void *v;
        while (hashmap_next(p->tracked, &it, &k, &v)) {
                struct tracked *t = v;
                if (!t->next || t->next > now_s)
                        continue;
                /* Only the most recent of the due times launches. */
                int64_t at = t->next, n;
                for (int i = 0; i < MAX_CATCH_UP && cron_periodic_next(&t->spec, at, &n) == 0 && n <= now_s; i++)
                        at = n;
                launch(p, st, t, at);
                launched++;
                if (cron_periodic_next(&t->spec, now_s > at ? now_s : at, &t->next) < 0)
                        t->next = 0;
        }
        return launched;
}

int periodic_restore(struct periodic *p, const struct state_store *st, int64_t now_s) {
        periodic_clear(p);
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
