/* plan.c - plan and plan result containers, and the result's JSON form. */
#include "controlplane/scheduler/plan.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/hashmap.h"
#include "common/jsonx.h"
#include "common/macros.h"

static char *xstrdup(const char *s) {
        return s ? strdup(s) : NULL;
}

static void node_entry_free(struct plan_node *n) {
        for (size_t i = 0; i < n->n_place; i++)
                alloc_unref(n->place[i]);
        for (size_t i = 0; i < n->n_stop; i++) {
                alloc_unref(n->stop[i].alloc);
                free(n->stop[i].description);
        }
        free(n->place);
        free(n->stop);
        free(n->node_id);
}

/* A new entry for node_id at the end of v (the caller knows it is not there). */
static struct plan_node *nodes_append(struct plan_node **v, size_t *n, size_t *cap, const char *node_id) {
        if (*n == *cap) {
                size_t c = *cap ? *cap * 2 : 8;
                struct plan_node *nv = realloc(*v, c * sizeof(*nv));
                if (!nv)
                        return NULL;
                *v = nv;
                *cap = c;
        }
        struct plan_node *e = &(*v)[*n];
        memset(e, 0, sizeof(*e));
        e->node_id = strdup(node_id);
        if (!e->node_id)
                return NULL;
        (*n)++;
        return e;
}

static struct plan_node *nodes_get(struct plan_node **v, size_t *n, size_t *cap, const char *node_id, bool create) {
        for (size_t i = *n; i > 0; i--) /* recent nodes first: placements cluster */
                if (strcmp((*v)[i - 1].node_id, node_id) == 0)
                        return &(*v)[i - 1];
        return create ? nodes_append(v, n, cap, node_id) : NULL;
}

static int push_place(struct plan_node *e, struct alloc *a) {
        if (e->n_place == e->cap_place) {
                size_t c = e->cap_place ? e->cap_place * 2 : 4;
                struct alloc **v = realloc(e->place, c * sizeof(*v));
                if (!v)
                        return -ENOMEM;
                e->place = v;
                e->cap_place = c;
        }
        e->place[e->n_place++] = alloc_ref(a);
        return 0;
}

static int push_stop(struct plan_node *e, struct alloc *a, enum alloc_desired desired, const char *desc, int cs) {
        if (e->n_stop == e->cap_stop) {
                size_t c = e->cap_stop ? e->cap_stop * 2 : 4;
                struct plan_stop *v = realloc(e->stop, c * sizeof(*v));
                if (!v)
                        return -ENOMEM;
                e->stop = v;
                e->cap_stop = c;
        }
        char *d = xstrdup(desc);
        if (desc && !d)
                return -ENOMEM;
        e->stop[e->n_stop++] = (struct plan_stop){alloc_ref(a), desired, d, cs};
        return 0;
}

/* ---- plan ------------------------------------------------------------------------------ */

struct plan *plan_new(const char *eval_id, const char *eval_token, struct job *job) {
        struct plan *p = calloc(1, sizeof(*p));
        if (!p)
                return NULL;
        p->eval_id = xstrdup(eval_id);
        p->eval_token = xstrdup(eval_token);
        p->job = job_ref(job);
        p->by_node = hashmap_create(0);
        if (!p->by_node)
                return plan_free(p);
        if (job) {
                p->priority = job->priority;
                p->all_at_once = job->all_at_once;
        }
        if ((eval_id && !p->eval_id) || (eval_token && !p->eval_token))
                return plan_free(p);
        return p;
}

struct plan *plan_free(struct plan *p) {
        if (!p)
                return NULL;
        for (size_t i = 0; i < p->n_nodes; i++)
                node_entry_free(&p->nodes[i]);
        free(p->nodes);
        hashmap_destroy(p->by_node);
        free(p->eval_id);
        free(p->eval_token);
        job_unref(p->job);
        free(p);
        return NULL;
}

/* Nodes are found through p->by_node (node ID -> index + 1; keys borrowed from the
 * entries, whose strings never move), so a plan of N nodes costs O(N), not O(N^2). */
/* plan_node_get for a by_node plan and a caller that has the ID's hash: a node the
 * filter says is not in the plan (most, as a plan grows) costs no hashing. */
static struct plan_node *node_get_hashed(struct plan *p, const char *node_id, uint64_t hash, bool create) {
        uintptr_t i = node_filter_may(&p->filter, hash) ? (uintptr_t)hashmap_get(p->by_node, node_id) : 0;
        if (i)
                return &p->nodes[i - 1];
        if (!create)
                return NULL;
        /* not in by_node, so not in nodes: no scan (with one, each new node of a plan cost
         * a strcmp per node already in it; c1m at 5,000 nodes: 3% of all time) */
        struct plan_node *e = nodes_append(&p->nodes, &p->n_nodes, &p->cap_nodes, node_id);
        if (!e)
                return NULL;
        if (hashmap_put(p->by_node, e->node_id, (void *)(uintptr_t)p->n_nodes, NULL) < 0) {
                node_entry_free(e);
                p->n_nodes--;
                return NULL;
        }
        node_filter_add(&p->filter, hash);
        return e;
}

struct plan_node *plan_node_get(struct plan *p, const char *node_id, bool create) {
        if (!p->by_node)
                return nodes_get(&p->nodes, &p->n_nodes, &p->cap_nodes, node_id, create);
        return node_get_hashed(p, node_id, hashmap_hash(node_id), create);
}

const struct plan_node *plan_node_find_hashed(const struct plan *p, const char *node_id, uint64_t hash) {
        if (p->by_node && !node_filter_may(&p->filter, hash))
                return NULL;
        return plan_node_find(p, node_id);
}

const struct plan_node *plan_node_find(const struct plan *p, const char *node_id) {
        if (p->by_node) {
                uintptr_t i = (uintptr_t)hashmap_get(p->by_node, node_id);
                return i ? &p->nodes[i - 1] : NULL;
        }
        for (size_t i = 0; i < p->n_nodes; i++)
                if (strcmp(p->nodes[i].node_id, node_id) == 0)
                        return &p->nodes[i];
        return NULL;
}

int plan_add_place(struct plan *p, struct alloc *a) {
        if (!a->node_id)
                return -EINVAL;
        struct plan_node *e = plan_node_get(p, a->node_id, true);
        return e ? push_place(e, a) : -ENOMEM;
}

int plan_add_place_at(struct plan *p, struct alloc *a, uint64_t hash, size_t *hint) {
        if (!a->node_id)
                return -EINVAL;
        struct plan_node *e = *hint && *hint <= p->n_nodes ? &p->nodes[*hint - 1] : NULL;
        if (!e || strcmp(e->node_id, a->node_id) != 0) {
                e = p->by_node ? node_get_hashed(p, a->node_id, hash, true) : plan_node_get(p, a->node_id, true);
                if (!e)
                        return -ENOMEM;
                *hint = (size_t)(e - p->nodes) + 1;
        }
        return push_place(e, a);
}

int plan_add_stop(struct plan *p, struct alloc *a, enum alloc_desired desired, const char *description,
                  int client_status) {
        if (!a->node_id)
                return -EINVAL;
        struct plan_node *e = plan_node_get(p, a->node_id, true);
        return e ? push_stop(e, a, desired, description, client_status) : -ENOMEM;
}

void plan_drop_stops(struct plan *p, const char *node_id, size_t n) {
        struct plan_node *e = plan_node_get(p, node_id, false);
        while (e && n-- > 0 && e->n_stop) {
                struct plan_stop *s = &e->stop[--e->n_stop];
                alloc_unref(s->alloc);
                free(s->description);
        }
}

size_t plan_count_place(const struct plan *p) {
        size_t n = 0;
        for (size_t i = 0; i < p->n_nodes; i++)
                n += p->nodes[i].n_place;
        return n;
}

size_t plan_count_stop(const struct plan *p) {
        size_t n = 0;
        for (size_t i = 0; i < p->n_nodes; i++)
                n += p->nodes[i].n_stop;
        return n;
}

bool plan_is_noop(const struct plan *p) {
        return plan_count_place(p) == 0 && plan_count_stop(p) == 0;
}

/* ---- result ------------------------------------------------------------------------------ */

struct plan_result *plan_result_new(void) {
        return calloc(1, sizeof(struct plan_result));
}

struct plan_result *plan_result_free(struct plan_result *r) {
        if (!r)
                return NULL;
        for (size_t i = 0; i < r->n_nodes; i++)
                node_entry_free(&r->nodes[i]);
        free(r->nodes);
        hashmap_destroy(r->by_node);
        for (size_t i = 0; i < r->n_rejected; i++)
                free(r->rejected_nodes[i]);
        free(r->rejected_nodes);
        free(r->eval_id);
        job_unref(r->job);
        free(r);
        return NULL;
}

/* The result's entry for node_id, created when absent: found through r->by_node
 * (node ID -> index + 1, keys borrowed from the entries), so a result of N nodes costs
 * O(N), not O(N^2) strcmp (c1m at 1,000 nodes a plan: 3,000 instructions a placement). */
static struct plan_node *result_node(struct plan_result *r, const char *node_id) {
        if (!r->by_node && !(r->by_node = hashmap_create(0)))
                return NULL;
        uintptr_t i = (uintptr_t)hashmap_get(r->by_node, node_id);
        if (i)
                return &r->nodes[i - 1];
        struct plan_node *e = nodes_append(&r->nodes, &r->n_nodes, &r->cap_nodes, node_id);
        if (!e)
                return NULL;
        if (hashmap_put(r->by_node, e->node_id, (void *)(uintptr_t)r->n_nodes, NULL) < 0) {
                node_entry_free(e);
                r->n_nodes--;
                return NULL;
        }
        return e;
}

int plan_result_add_node(struct plan_result *r, const struct plan_node *n) {
        struct plan_node *e = result_node(r, n->node_id);
        if (!e)
                return -ENOMEM;
        for (size_t i = 0; i < n->n_place; i++)
                if (push_place(e, n->place[i]) < 0)
                        return -ENOMEM;
        for (size_t i = 0; i < n->n_stop; i++)
                if (push_stop(e, n->stop[i].alloc, n->stop[i].desired, n->stop[i].description,
                              n->stop[i].client_status) < 0)
                        return -ENOMEM;
        return 0;
}

int plan_result_reject(struct plan_result *r, const char *node_id) {
        char **v = realloc(r->rejected_nodes, (r->n_rejected + 1) * sizeof(*v));
        if (!v)
                return -ENOMEM;
        r->rejected_nodes = v;
        if (!(v[r->n_rejected] = strdup(node_id)))
                return -ENOMEM;
        r->n_rejected++;
        return 0;
}

size_t plan_result_count_place(const struct plan_result *r) {
        size_t n = 0;
        for (size_t i = 0; i < r->n_nodes; i++)
                n += r->nodes[i].n_place;
        return n;
}

size_t plan_result_count_stop(const struct plan_result *r) {
        size_t n = 0;
        for (size_t i = 0; i < r->n_nodes; i++)
                n += r->nodes[i].n_stop;
        return n;
}

bool plan_result_is_noop(const struct plan_result *r) {
        return plan_result_count_place(r) == 0 && plan_result_count_stop(r) == 0;
}

uint64_t plan_result_refresh_index(const struct plan_result *r) {
        return r ? r->refresh_index : 0;
}

void plan_result_set_alloc_index(struct plan_result *r, uint64_t index) {
        if (!r)
                return;
        r->alloc_index = index;
        /* A partial commit: the state the scheduler refreshes to must hold what this
         * result placed, not only what the applier saw when it checked the plan, or
         * a worker whose state reaches the older index places the same allocs again
         * (Nomad's asyncPlanWait: RefreshIndex = max(RefreshIndex, AllocIndex)). */
        if (r->refresh_index && r->refresh_index < index)
                r->refresh_index = index;
}

bool plan_result_rejected(const struct plan_result *r, const char *node_id) {
        for (size_t i = 0; i < r->n_rejected; i++)
                if (strcmp(r->rejected_nodes[i], node_id) == 0)
                        return true;
        return false;
}

/* ---- JSON -------------------------------------------------------------------------------- */

json_t *plan_result_to_json(const struct plan_result *r) {
        json_t *o = json_object();
        json_t *place = json_object();
        json_t *stop = json_object();
        json_t *rej = json_array();
        if (!o || !place || !stop || !rej) {
                json_decref(o);
                json_decref(place);
                json_decref(stop);
                json_decref(rej);
                return NULL;
        }
        jx_set_str(o, "EvalID", r->eval_id);
        json_object_set_new(o, "Job", r->job ? job_to_json(r->job) : json_null());
        json_object_set_new(o, "Timestamp", json_integer(r->timestamp_ns));
        for (size_t i = 0; i < r->n_nodes; i++) {
                const struct plan_node *n = &r->nodes[i];
                if (n->n_place) {
                        json_t *arr = json_array();
                        for (size_t k = 0; k < n->n_place; k++) {
                                json_t *a = alloc_to_json(n->place[k]);
                                if (a && r->job && n->place[k]->job == r->job)
                                        json_object_del(a, "Job");
                                json_array_append_new(arr, a);
                        }
                        json_object_set_new(place, n->node_id, arr);
                }
                if (n->n_stop) {
                        json_t *arr = json_array();
                        for (size_t k = 0; k < n->n_stop; k++) {
                                const struct plan_stop *s = &n->stop[k];
                                json_t *u = json_pack("{s:s,s:s}", "ID", s->alloc->id, "DesiredStatus",
                                                      alloc_desired_str(s->desired));
                                jx_set_str(u, "DesiredDescription", s->description);
                                if (s->client_status >= 0)
                                        json_object_set_new(
                                            u, "ClientStatus",
                                            json_string(alloc_client_str((enum alloc_client)s->client_status)));
                                json_array_append_new(arr, u);
                        }
                        json_object_set_new(stop, n->node_id, arr);
                }
        }
        for (size_t i = 0; i < r->n_rejected; i++)
                json_array_append_new(rej, json_string(r->rejected_nodes[i]));
        json_object_set_new(o, "NodeAllocation", place);
        json_object_set_new(o, "NodeUpdate", stop);
        json_object_set_new(o, "RejectedNodes", rej);
        json_object_set_new(o, "RefreshIndex", json_integer((json_int_t)r->refresh_index));
        json_object_set_new(o, "AllocIndex", json_integer((json_int_t)r->alloc_index));
        return o;
}

int plan_result_from_json(const json_t *obj, struct plan_result **ret, struct error *err) {
        if (!json_is_object(obj))
                return errorf(err, -EINVAL, "plan result: expected an object");
        struct plan_result *r = plan_result_new();
        if (!r)
                return errorf(err, -ENOMEM, "plan result: out of memory");
        int rc = 0;
        r->eval_id = jx_strdup(obj, "EvalID");
        r->timestamp_ns = jx_int(obj, "Timestamp", 0);
        r->refresh_index = (uint64_t)jx_int(obj, "RefreshIndex", 0);
        r->alloc_index = (uint64_t)jx_int(obj, "AllocIndex", 0);
        json_t *job = json_object_get(obj, "Job");
        if (json_is_object(job) && (rc = job_from_json(job, &r->job, err)) < 0) {
                error_prefix(err, "plan result: Job");
                goto fail;
        }
        const char *node_id;
        json_t *arr;
        json_object_foreach(jx_obj(obj, "NodeAllocation"), node_id, arr) {
                size_t i;
                json_t *v;
                struct plan_node *e = nodes_get(&r->nodes, &r->n_nodes, &r->cap_nodes, node_id, true);
                if (!e)
                        goto oom;
                json_array_foreach(arr, i, v) {
                        struct alloc *a = NULL;
                        if ((rc = alloc_from_json(v, &a, err)) < 0) {
                                error_prefix(err, "plan result: NodeAllocation[%s][%zu]", node_id, i);
                                goto fail;
                        }
                        if (!a->job)
                                a->job = job_ref(r->job);
                        rc = push_place(e, a);
                        alloc_unref(a);
                        if (rc < 0)
                                goto oom;
                }
        }
        json_object_foreach(jx_obj(obj, "NodeUpdate"), node_id, arr) {
                size_t i;
                json_t *v;
                struct plan_node *e = nodes_get(&r->nodes, &r->n_nodes, &r->cap_nodes, node_id, true);
                if (!e)
                        goto oom;
                json_array_foreach(arr, i, v) {
                        enum alloc_desired d = ALLOC_DESIRED_STOP;
                        alloc_desired_parse(jx_str(v, "DesiredStatus", "stop"), &d);
                        int cs = -1;
                        enum alloc_client c;
                        if (jx_str(v, "ClientStatus", NULL) &&
                            alloc_client_parse(jx_str(v, "ClientStatus", ""), &c) == 0)
                                cs = (int)c;
                        struct alloc *a = alloc_new();
                        if (!a || !(a->id = jx_strdup(v, "ID")) || !(a->node_id = strdup(node_id))) {
                                alloc_unref(a);
                                goto oom;
                        }
                        rc = push_stop(e, a, d, jx_str(v, "DesiredDescription", NULL), cs);
                        alloc_unref(a);
                        if (rc < 0)
                                goto oom;
                }
        }
        size_t i;
        json_t *v;
        json_array_foreach(jx_arr(obj, "RejectedNodes"), i, v) {
                if (json_is_string(v) && plan_result_reject(r, json_string_value(v)) < 0)
                        goto oom;
        }
        *ret = r;
        return 0;
oom:
        rc = errorf(err, -ENOMEM, "plan result: out of memory");
fail:
        plan_result_free(r);
        return rc;
}
