/* state_versions.c - the last versions of each job. See state_versions.h. */
#include "controlplane/state/state_versions.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/macros.h"
#include "common/model.h"
#include "common/pmap.h"
#include "controlplane/state/state.h"
#include "controlplane/state/state_internal.h"

/* One job's versions, newest first. Immutable once in the map. */
struct entry {
        int refcount;
        size_t n;
        struct job *v[STATE_JOB_VERSIONS_MAX];
};

/* key "namespace\x1fid" -> struct entry. */
struct version_table {
        int refcount;
        struct pmap map;
};

static void entry_unref(struct entry *e) {
        if (!e || __atomic_sub_fetch(&e->refcount, 1, __ATOMIC_ACQ_REL) > 0)
                return;
        for (size_t i = 0; i < e->n; i++)
                job_unref(e->v[i]);
        free(e);
}

static void entry_ref_v(void *p) {
        __atomic_add_fetch(&((struct entry *)p)->refcount, 1, __ATOMIC_RELAXED);
}
static void entry_unref_v(void *p) {
        entry_unref(p);
}

struct version_table *state_versions_ref(struct version_table *t) {
        if (t)
                __atomic_add_fetch(&t->refcount, 1, __ATOMIC_RELAXED);
        return t;
}

void state_versions_unref(struct version_table *t) {
        if (!t || __atomic_sub_fetch(&t->refcount, 1, __ATOMIC_ACQ_REL) > 0)
                return;
        pmap_release(&t->map);
        free(t);
}

/* The store's table, exclusively its own (created when absent, copied when a
 * snapshot shares it). */
static int table_mut(struct state_store *st, struct version_table **ret) {
        struct version_table **slot = state_raw_versions(st);
        struct version_table *t = *slot;
        if (t && __atomic_load_n(&t->refcount, __ATOMIC_ACQUIRE) == 1) {
                *ret = t;
                return 0;
        }
        struct version_table *c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        c->refcount = 1;
        if (t)
                c->map = pmap_share(&t->map);
        else
                pmap_init(&c->map, entry_ref_v, entry_unref_v);
        state_versions_unref(t);
        *slot = c;
        *ret = c;
        return 0;
}

#define KEYMAX 512

static int key_of(char buf[KEYMAX], const char *ns, const char *id) {
        int n = snprintf(buf, KEYMAX, "%s\x1f%s", ns ? ns : "default", id ? id : "");
        return n < 0 || n >= KEYMAX ? -ENAMETOOLONG : 0;
}

static const struct entry *entry_get(const struct state_store *st, const char *ns, const char *id) {
        const struct version_table *t = *state_raw_versions(st);
        char key[KEYMAX];
        if (!t || key_of(key, ns, id) < 0)
                return NULL;
        return pmap_get(&t->map, key);
}

struct job *const *state_job_versions(const struct state_store *st, const char *ns, const char *id, size_t *ret_n) {
        const struct entry *e = entry_get(st, ns, id);
        *ret_n = e ? e->n : 0;
        return e && e->n ? e->v : NULL;
}

const struct job *state_job_version(const struct state_store *st, const char *ns, const char *id, uint64_t version) {
        const struct entry *e = entry_get(st, ns, id);
        for (size_t i = 0; e && i < e->n; i++)
                if (e->v[i]->version == version)
                        return e->v[i];
        return NULL;
}

/* Insert j into e's list (newest first; same version replaced; bounded). */
static void entry_add(struct entry *e, struct job *j) {
        for (size_t i = 0; i < e->n; i++)
                if (e->v[i]->version == j->version) {
                        job_unref(e->v[i]);
                        e->v[i] = job_ref(j);
                        return;
                }
        size_t pos = 0;
        while (pos < e->n && e->v[pos]->version > j->version)
                pos++;
        if (pos == STATE_JOB_VERSIONS_MAX)
                return; /* older than everything kept, and the list is full */
        if (e->n == STATE_JOB_VERSIONS_MAX)
                job_unref(e->v[--e->n]);
        memmove(&e->v[pos + 1], &e->v[pos], (e->n - pos) * sizeof(e->v[0]));
        e->v[pos] = job_ref(j);
        e->n++;
}

int state_versions_record(struct state_store *st, const struct job *j) {
        char key[KEYMAX];
        int r = key_of(key, j->namespace, j->id);
        if (r < 0)
                return r;
        struct version_table *t;
        if ((r = table_mut(st, &t)) < 0)
                return r;
        const struct entry *old = pmap_get(&t->map, key);
        struct entry *e = calloc(1, sizeof(*e));
        if (!e)
                return -ENOMEM;
        e->refcount = 1;
        if (old) {
                e->n = old->n;
                for (size_t i = 0; i < old->n; i++)
                        e->v[i] = job_ref(old->v[i]);
        }
        entry_add(e, (struct job *)j);
        r = pmap_put(&t->map, key, e, NULL);
        if (r < 0) {
                entry_unref(e);
                return r;
        }
        return 0;
}

int state_versions_drop(struct state_store *st, const char *ns, const char *id) {
        if (!entry_get(st, ns, id))
                return 0;
        char key[KEYMAX];
        int r = key_of(key, ns, id);
        struct version_table *t;
        if (r < 0 || (r = table_mut(st, &t)) < 0)
                return r;
        r = pmap_remove(&t->map, key, NULL);
        return r == -ENOENT ? 0 : r;
}

bool job_version_stable(const struct job *j) {
        return j && json_is_true(json_object_get(j->extra, "Stable"));
}

int state_versions_mark_stable(struct state_store *st, uint64_t index, const char *ns, const char *id,
                               uint64_t version) {
        if (state_is_snapshot(st))
                return -EROFS;
        const struct job *cur = state_job_get(st, ns, id);
        if (cur && cur->version == version) {
                /* The current object: stored again with the flag (same spec, same
                 * version), which records it here too. */
                if (job_version_stable(cur))
                        return 0;
                struct job *c = job_copy(cur);
                json_t *extra = c ? (c->extra ? json_deep_copy(c->extra) : json_object()) : NULL;
                if (!extra || json_object_set_new(extra, "Stable", json_true()) < 0) {
                        json_decref(extra);
                        job_unref(c);
                        return -ENOMEM;
                }
                json_decref(c->extra);
                c->extra = extra;
                int r = state_upsert_job(st, index, c);
                job_unref(c);
                return r;
        }
        const struct entry *old = entry_get(st, ns, id);
        size_t at = 0;
        while (old && at < old->n && old->v[at]->version != version)
                at++;
        if (!old || at == old->n || job_version_stable(old->v[at]))
                return 0;
        struct job *c = job_copy(old->v[at]);
        json_t *extra = c ? (c->extra ? json_deep_copy(c->extra) : json_object()) : NULL;
        if (!extra || json_object_set_new(extra, "Stable", json_true()) < 0) {
                json_decref(extra);
                job_unref(c);
                return -ENOMEM;
        }
        json_decref(c->extra);
        c->extra = extra;
        char key[KEYMAX];
        struct version_table *t;
        int r = key_of(key, ns, id);
        if (r < 0 || (r = table_mut(st, &t)) < 0) {
                job_unref(c);
                return r;
        }
        struct entry *e = calloc(1, sizeof(*e));
        if (!e) {
                job_unref(c);
                return -ENOMEM;
        }
        e->refcount = 1;
        e->n = old->n;
        for (size_t i = 0; i < old->n; i++)
                e->v[i] = i == at ? c : job_ref(old->v[i]);
        if ((r = pmap_put(&t->map, key, e, NULL)) < 0) {
                entry_unref(e);
                return r;
        }
        state_raw_bump(st, STATE_TABLE_JOBS, index);
        return 0;
}

/* ---- snapshots ---- */

struct save_ctx {
        const struct state_store *st;
        json_t *out;
        int r;
};

static bool save_entry(void *arg, const char *key, void *value) {
        (void)key;
        struct save_ctx *c = arg;
        const struct entry *e = value;
        for (size_t i = 0; i < e->n; i++) {
                const struct job *cur = state_job_get(c->st, e->v[i]->namespace, e->v[i]->id);
                if (cur == e->v[i])
                        continue; /* the Jobs array has it */
                if (json_array_append_new(c->out, job_to_json(e->v[i])) < 0) {
                        c->r = -ENOMEM;
                        return false;
                }
        }
        return true;
}

int state_versions_save(const struct state_store *st, json_t *out) {
        const struct version_table *t = *state_raw_versions(st);
        struct save_ctx c = {.st = st, .out = json_array()};
        if (!c.out)
                return -ENOMEM;
        if (t)
                pmap_foreach(&t->map, save_entry, &c);
        if (c.r < 0 || json_object_set_new(out, "JobVersionHistory", c.out) < 0)
                return -ENOMEM;
        return 0;
}

static bool record_current(void *arg, const struct job *j) {
        struct save_ctx *c = arg;
        c->r = state_versions_record((struct state_store *)c->st, j);
        return c->r == 0;
}

int state_versions_restore(const json_t *snap, struct state_store *st, struct error *err) {
        struct save_ctx c = {.st = st};
        state_jobs_foreach(st, NULL, record_current, &c);
        if (c.r < 0)
                return errorf(err, c.r, "state snapshot: job versions: %s", strerror(-c.r));
        const json_t *arr = json_object_get(snap, "JobVersionHistory");
        if (arr && !json_is_array(arr))
                return errorf(err, -EINVAL, "state snapshot: JobVersionHistory must be an array");
        size_t i;
        const json_t *v;
        json_array_foreach(arr, i, v) {
                struct job *j = NULL;
                int r = job_from_json(v, &j, err);
                if (r < 0) {
                        error_prefix(err, "state snapshot: JobVersionHistory[%zu]", i);
                        return r;
                }
                r = state_versions_record(st, j);
                job_unref(j);
                if (r < 0)
                        return errorf(err, r, "state snapshot: job versions: %s", strerror(-r));
        }
        return 0;
}
