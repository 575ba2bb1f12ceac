/* applier.c - plan verification and application. See applier.h. */
#include "controlplane/plan/applier.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/hashmap.h"
#include "common/macros.h"
#include "controlplane/state/state.h"

struct plan_overlay {
        const struct plan_result **v;
        size_t n, cap;
};

struct plan_overlay *plan_overlay_new(void) {
        return calloc(1, sizeof(struct plan_overlay));
}

struct plan_overlay *plan_overlay_free(struct plan_overlay *o) {
        if (o) {
                free(o->v);
                free(o);
        }
        return NULL;
}

int plan_overlay_add(struct plan_overlay *o, const struct plan_result *r) {
        if (o->n == o->cap) {
                size_t cap = o->cap ? o->cap * 2 : 16;
                const struct plan_result **v = realloc(o->v, cap * sizeof(*v));
                if (!v)
                        return -ENOMEM;
                o->v = v;
                o->cap = cap;
        }
        o->v[o->n++] = r;
        return 0;
}

void plan_overlay_remove(struct plan_overlay *o, const struct plan_result *r) {
        for (size_t i = 0; i < o->n; i++)
                if (o->v[i] == r) {
                        memmove(&o->v[i], &o->v[i + 1], (o->n - i - 1) * sizeof(*o->v));
                        o->n--;
                        return;
                }
}

size_t plan_overlay_count(const struct plan_overlay *o) {
        return o ? o->n : 0;
}

/* The overlay's plan nodes for node_id, oldest first (at most one per result). */
#define OVERLAY_NODES_MAX 256
static size_t overlay_nodes(const struct plan_overlay *o, const char *node_id, const struct plan_node **out,
                            bool *ret_truncated) {
        size_t k = 0;
        *ret_truncated = false;
        for (size_t i = 0; o && i < o->n; i++) {
                const struct plan_result *r = o->v[i];
                for (size_t j = 0; j < r->n_nodes; j++) {
                        if (strcmp(r->nodes[j].node_id, node_id) != 0)
                                continue;
                        if (k == OVERLAY_NODES_MAX) {
                                *ret_truncated = true;
                                return k;
                        }
                        out[k++] = &r->nodes[j];
                }
        }
        return k;
}

static const char *node_misfit(const struct state_store *latest, const struct plan_overlay *o,
                               const struct plan_node *pn) {
        if (pn->n_place == 0)
                return NULL; /* stops always fit */
        const struct node *n = state_node_get(latest, pn->node_id);
        if (!n)
                return "node does not exist";
        if (n->status != NODE_READY)
                return "node is not ready for placements";
        if (!n->eligible)
                return "node is not eligible";
        const struct plan_node *ov[OVERLAY_NODES_MAX];
        bool truncated;
        size_t nov = overlay_nodes(o, pn->node_id, ov, &truncated);
        if (truncated) /* too many uncommitted plans on one node: wait for them */
                return "too many uncommitted plans on the node";
        /* Every alloc ID the plan or an uncommitted plan stops or places (updates), with
         * the newest plan node that does (ov[k] is k + 1, this plan nov + 1): one hash
         * lookup per alloc instead of a scan of every plan node's lists. */
        struct hashmap *seen = hashmap_create(0);
        if (!seen)
                return "out of memory";
        for (size_t k = 0; k <= nov; k++) {
                const struct plan_node *x = k < nov ? ov[k] : pn;
                void *mark = (void *)(uintptr_t)(k + 1);
                for (size_t i = 0; i < x->n_stop; i++)
                        if (hashmap_put(seen, x->stop[i].alloc->id, mark, NULL) < 0)
                                goto oom;
                for (size_t i = 0; i < x->n_place; i++)
                        if (hashmap_put(seen, x->place[i]->id, mark, NULL) < 0)
                                goto oom;
        }
        int64_t cpu = 0, mem = 0, disk = 0;
        size_t na;
        struct alloc *const *existing = state_allocs_by_node(latest, pn->node_id, &na);
        for (size_t i = 0; i < na; i++) {
                const struct alloc *a = existing[i];
                /* stopped or updated by this plan or an uncommitted one */
                if (alloc_terminal(a) || hashmap_contains(seen, a->id))
                        continue;
                cpu += a->resources.cpu;
                mem += a->resources.memory_mb;
                disk += a->resources.disk_mb;
        }
        /* Uncommitted placements, each in its newest version only. */
        for (size_t k = 0; k < nov; k++) {
                for (size_t i = 0; i < ov[k]->n_place; i++) {
                        const struct alloc *a = ov[k]->place[i];
                        if (alloc_terminal(a) || (uintptr_t)hashmap_get(seen, a->id) > k + 1)
                                continue;
                        cpu += a->resources.cpu;
                        mem += a->resources.memory_mb;
                        disk += a->resources.disk_mb;
                }
        }
        hashmap_destroy(seen);
        for (size_t i = 0; i < pn->n_place; i++) {
                const struct alloc *a = pn->place[i];
                if (alloc_terminal(a))
                        continue;
                cpu += a->resources.cpu;
                mem += a->resources.memory_mb;
                disk += a->resources.disk_mb;
        }
        if (cpu > n->cpu_shares - n->reserved_cpu)
                return "cpu";
        if (mem > n->memory_mb - n->reserved_memory_mb)
                return "memory";
        if (disk > n->disk_mb - n->reserved_disk_mb)
                return "disk";
        return NULL;
oom:
        hashmap_destroy(seen);
        return "out of memory";
}

const char *plan_node_misfit(const struct state_store *latest, const struct plan_node *pn) {
        return node_misfit(latest, NULL, pn);
}

int plan_evaluate(const struct state_store *latest, const struct plan *p, struct plan_result **ret,
                  struct error *err) {
        return plan_evaluate_overlay(latest, NULL, p, ret, err);
}

int plan_evaluate_overlay(const struct state_store *latest, const struct plan_overlay *overlay,
                          const struct plan *p, struct plan_result **ret, struct error *err) {
        struct plan_result *r = plan_result_new();
        if (!r)
                return errorf(err, -ENOMEM, "plan applier: out of memory");
        r->job = job_ref(p->job);
        r->timestamp_ns = p->timestamp_ns;
        if (p->eval_id && !(r->eval_id = strdup(p->eval_id)))
                goto oom;
        bool partial = false;
        for (size_t i = 0; i < p->n_nodes; i++) {
                const struct plan_node *pn = &p->nodes[i];
                if (node_misfit(latest, overlay, pn)) {
                        partial = true;
                        if (plan_result_reject(r, pn->node_id) < 0)
                                goto oom;
                        continue;
                }
                if (plan_result_add_node(r, pn) < 0)
                        goto oom;
        }
        if (partial) {
                r->refresh_index = state_latest_index(latest);
                if (r->refresh_index == 0)
                        r->refresh_index = 1;
                if (p->all_at_once) {
                        for (size_t i = 0; i < r->n_nodes; i++)
                                if (!plan_result_rejected(r, r->nodes[i].node_id) &&
                                    plan_result_reject(r, r->nodes[i].node_id) < 0)
                                        goto oom;
                        struct plan_result *empty = plan_result_new();
                        if (!empty)
                                goto oom;
                        empty->job = TAKE_PTR(r->job);
                        empty->eval_id = TAKE_PTR(r->eval_id);
                        empty->timestamp_ns = r->timestamp_ns;
                        empty->refresh_index = r->refresh_index;
                        empty->rejected_nodes = TAKE_PTR(r->rejected_nodes);
                        empty->n_rejected = r->n_rejected;
                        r->n_rejected = 0;
                        plan_result_free(r);
                        r = empty;
                }
        }
        *ret = r;
        return 0;
oom:
        plan_result_free(r);
        return errorf(err, -ENOMEM, "plan applier: out of memory");
}

/* Allocs of the result usually carry a decoded copy of the job: share the store's
 * object instead when it is the same version (one job object for 1,000 allocs). */
static struct job *shared_job(const struct state_store *st, struct job *j) {
        if (!j)
                return NULL;
        const struct job *cur = state_job_get(st, j->namespace, j->id);
        if (cur && cur->version == j->version && cur->job_modify_index == j->job_modify_index)
                return (struct job *)cur;
        return j;
}

int plan_result_apply(struct state_store *st, uint64_t index, const struct plan_result *r) {
        for (size_t i = 0; i < r->n_nodes; i++) {
                const struct plan_node *pn = &r->nodes[i];
                for (size_t k = 0; k < pn->n_stop; k++) {
                        const struct plan_stop *s = &pn->stop[k];
                        int rc = state_stop_alloc(st, index, s->alloc->id, s->desired, s->description,
                                                  s->client_status, r->timestamp_ns);
                        if (rc < 0 && rc != -ENOENT)
                                return rc;
                }
                if (!pn->n_place)
                        continue;
                _cleanup_free_ struct alloc **v = calloc(pn->n_place, sizeof(*v));
                if (!v)
                        return -ENOMEM;
                int rc = 0;
                for (size_t k = 0; k < pn->n_place && rc == 0; k++) {
                        /* The store sets indexes on what it inserts: never touch a shared object.
                         * An alloc only this result holds (a decoded one) is inserted as it is. */
                        struct alloc *a = pn->place[k];
                        v[k] = __atomic_load_n(&a->refcount, __ATOMIC_ACQUIRE) == 1 ? alloc_ref(a) : alloc_copy(a);
                        if (!v[k]) {
                                rc = -ENOMEM;
                                break;
                        }
                        /* looked up now: earlier writes may have replaced the job's object */
                        struct job *want = shared_job(st, v[k]->job);
                        if (want && want != v[k]->job) {
                                job_unref(v[k]->job);
                                v[k]->job = job_ref(want);
                        }
                }
                if (rc == 0)
                        rc = state_upsert_allocs(st, index, v, pn->n_place);
                for (size_t k = 0; k < pn->n_place; k++)
                        alloc_unref(v[k]);
                if (rc < 0)
                        return rc;
        }
        return 0;
}
