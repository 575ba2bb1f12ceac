/* state_scaling.c - the scaling-events table (see state_scaling.h). */
#include "controlplane/state/state_scaling.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "controlplane/state/state.h"
#include "controlplane/state/state_internal.h"

struct scaling_table {
        int refcount;
        json_t *jobs; /* "<ns>\x1f<job>" -> {"<group>": [event...]} */
};

struct scaling_table *state_scaling_ref(struct scaling_table *t) {
        if (t)
                __atomic_add_fetch(&t->refcount, 1, __ATOMIC_RELAXED);
        return t;
}

void state_scaling_unref(struct scaling_table *t) {
        if (!t || __atomic_sub_fetch(&t->refcount, 1, __ATOMIC_ACQ_REL) > 0)
                return;
        json_decref(t->jobs);
        free(t);
}

static int job_key(const char *ns, const char *job_id, char *buf, size_t size) {
        int n = snprintf(buf, size, "%s\x1f%s", ns, job_id);
        return n < 0 || (size_t)n >= size ? -EINVAL : 0;
}

const json_t *state_scaling_events(const struct state_store *st, const char *ns, const char *job_id) {
        const struct scaling_table *t = *state_raw_scaling(st);
        char key[1024];
        if (!t || job_key(ns, job_id, key, sizeof(key)) < 0)
                return NULL;
        return json_object_get(t->jobs, key);
}

/* The store's table, its own to change (copied when a snapshot shares it). */
static struct scaling_table *writable(struct state_store *st) {
        struct scaling_table **slot = state_raw_scaling(st);
        struct scaling_table *t = *slot;
        if (t && __atomic_load_n(&t->refcount, __ATOMIC_ACQUIRE) == 1)
                return t;
        struct scaling_table *n = calloc(1, sizeof(*n));
        if (!n)
                return NULL;
        n->refcount = 1;
        n->jobs = t ? json_deep_copy(t->jobs) : json_object();
        if (!n->jobs) {
                free(n);
                return NULL;
        }
        state_scaling_unref(t);
        *slot = n;
        return n;
}

/* Drop the events of jobs that no longer exist. */
static void prune(struct state_store *st, struct scaling_table *t) {
        const char *key;
        json_t *v, *tmp;
        json_object_foreach_safe(t->jobs, tmp, key, v) {
                char ns[512];
                const char *sep = strchr(key, '\x1f');
                if (!sep || (size_t)(sep - key) >= sizeof(ns))
                        continue;
                memcpy(ns, key, (size_t)(sep - key));
                ns[sep - key] = '\0';
                if (!state_job_get(st, ns, sep + 1))
                        json_object_del(t->jobs, key);
        }
}

int state_scaling_add(struct state_store *st, uint64_t index, const char *ns, const char *job_id, const char *group,
                      json_t *event) {
        char key[1024];
        if (state_is_snapshot(st))
                return -EROFS;
        if (!json_is_object(event) || !ns || !*ns || !job_id || !*job_id || !group || !*group ||
            job_key(ns, job_id, key, sizeof(key)) < 0)
                return -EINVAL;
        struct scaling_table *t = writable(st);
        if (!t)
                return -ENOMEM;
        if (json_object_size(t->jobs) > STATE_SCALING_JOBS_PRUNE)
                prune(st, t);
        json_t *groups = json_object_get(t->jobs, key);
        if (!groups) {
                groups = json_object();
                if (!groups || json_object_set_new(t->jobs, key, groups) < 0)
                        return -ENOMEM;
        }
        json_t *list = json_object_get(groups, group);
        if (!list) {
                list = json_array();
                if (!list || json_object_set_new(groups, group, list) < 0)
                        return -ENOMEM;
        }
        json_t *ev = json_deep_copy(event);
        if (!ev || json_object_set_new(ev, "CreateIndex", json_integer((json_int_t)index)) < 0 ||
            json_array_insert_new(list, 0, ev) < 0)
                return -ENOMEM;
        while (json_array_size(list) > STATE_SCALING_EVENTS_MAX)
                json_array_remove(list, json_array_size(list) - 1);
        state_raw_bump_latest(st, index);
        return 0;
}

int state_scaling_save(const struct state_store *st, json_t *out) {
        const struct scaling_table *t = *state_raw_scaling(st);
        json_t *copy = t ? json_deep_copy(t->jobs) : json_object();
        if (!copy || json_object_set_new(out, "ScalingEvents", copy) < 0)
                return -ENOMEM;
        return 0;
}

int state_scaling_restore(const json_t *snap, struct state_store *st, struct error *err) {
        const json_t *jobs = json_object_get(snap, "ScalingEvents");
        if (!jobs) /* a snapshot from before scaling events were replicated */
                return 0;
        if (!json_is_object(jobs))
                return errorf(err, -EINVAL, "state snapshot: ScalingEvents must be an object");
        const char *key;
        const json_t *groups;
        json_object_foreach((json_t *)jobs, key, groups) {
                const char *g;
                const json_t *list;
                if (!json_is_object(groups) || !strchr(key, '\x1f'))
                        return errorf(err, -EINVAL, "state snapshot: ScalingEvents[\"%s\"] is malformed", key);
                json_object_foreach((json_t *)groups, g, list) {
                        if (!json_is_array(list) || json_array_size(list) > STATE_SCALING_EVENTS_MAX)
                                return errorf(err, -EINVAL, "state snapshot: ScalingEvents[\"%s\"][\"%s\"] is malformed",
                                              key, g);
                        for (size_t i = 0; i < json_array_size(list); i++)
                                if (!json_is_object(json_array_get(list, i)))
                                        return errorf(err, -EINVAL,
                                                      "state snapshot: ScalingEvents[\"%s\"][\"%s\"][%zu] is not an "
                                                      "object",
                                                      key, g, i);
                }
        }
        struct scaling_table *t = writable(st);
        if (!t)
                return errorf(err, -ENOMEM, "state snapshot: scaling events: out of memory");
        json_t *copy = json_deep_copy(jobs);
        if (!copy)
                return errorf(err, -ENOMEM, "state snapshot: scaling events: out of memory");
        json_decref(t->jobs);
        t->jobs = copy;
        return 0;
}
