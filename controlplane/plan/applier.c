/* applier.c - plan verification and application. See applier.h. */
#include "controlplane/plan/applier.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/hashmap.h"
#include "common/macros.h"
#include "controlplane/scheduler/bandwidth.h"
#include "controlplane/scheduler/devices.h"
#include "controlplane/scheduler/ports.h"
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

struct plan_overlay *plan_overlay_copy(const struct plan_overlay *o) {
        struct plan_overlay *c = plan_overlay_new();
        if (!c || !o || o->n == 0)
                return c;
        if (!(c->v = malloc(o->n * sizeof(*c->v))))
                return plan_overlay_free(c);
        memcpy(c->v, o->v, o->n * sizeof(*c->v));
        c->n = c->cap = o->n;
        return c;
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

/* Whether an alloc holds ports or device instances (the ones two plans could give twice). */
static bool holds_ports_or_devices(const struct alloc *a) {
        if (!a->allocated)
                return false;
        if (json_array_size(json_object_get(json_object_get(a->allocated, "Shared"), "Ports")))
                return true;
        const char *k;
        json_t *t;
        json_object_foreach(json_object_get(a->allocated, "Tasks"), k, t) {
                if (json_array_size(json_object_get(t, "Networks")) || json_array_size(json_object_get(t, "Devices")))
                        return true;
        }
        return false;
}

/* The IDs a plan node and the uncommitted plan nodes on the same node stop or place,
 * each with the newest plan node that does (ov[k] is k + 1, this plan nov + 1). */
struct touched {
        struct hashmap *map;
};

static int touched_fill(struct touched *t, const struct plan_node *const *ov, size_t nov, const struct plan_node *pn) {
        if (!(t->map = hashmap_create(0)))
                return -ENOMEM;
        for (size_t k = 0; k <= nov; k++) {
                const struct plan_node *x = k < nov ? ov[k] : pn;
                void *mark = (void *)(uintptr_t)(k + 1);
                for (size_t i = 0; i < x->n_stop; i++)
                        if (hashmap_put(t->map, x->stop[i].alloc->id, mark, NULL) < 0)
                                return -ENOMEM;
                for (size_t i = 0; i < x->n_place; i++)
                        if (hashmap_put(t->map, x->place[i]->id, mark, NULL) < 0)
                                return -ENOMEM;
        }
        return 0;
}

struct usage_acc {
        int64_t cpu, mem, disk;
};

static void acc_add(struct usage_acc *u, const struct alloc *a, int sign) {
        u->cpu += sign * a->resources.cpu;
        u->mem += sign * a->resources.memory_mb;
        u->disk += sign * a->resources.disk_mb;
}

/* Subtract the live allocs of the store on this node that the plans touch (stop or
 * replace). */
static void sub_touched(struct usage_acc *u, const struct state_store *latest, const char *node_id,
                        const struct hashmap *touched) {
        size_t it = 0;
        const char *id;
        void *v;
        while (hashmap_next(touched, &it, &id, &v)) {
                const struct alloc *a = state_alloc_get(latest, id);
                if (a && !alloc_terminal(a) && a->node_id && strcmp(a->node_id, node_id) == 0)
                        acc_add(u, a, -1);
        }
}

/* What the placements of a plan node hold that the node's usage counters do not count:
 * ports or device instances (two plans could give one twice), network bandwidth. */
struct live_asks {
        bool ports_devices;
        int64_t mbits; /* the placements' MBits; 0: bandwidth not checked */
};

/* The MBits of the last group looked up, for one plan's evaluation (its allocs share a
 * job and a few groups, and the plan holds the job: its address is not reused). */
struct mbits_memo {
        const struct job *job;
        const char *group;
        int64_t mbits;
};

static int64_t alloc_mbits(struct mbits_memo *m, const struct alloc *a) {
        if (!a->job || !a->task_group)
                return 0;
        if (m->job != a->job || !m->group || (m->group != a->task_group && strcmp(m->group, a->task_group) != 0)) {
                m->job = a->job;
                m->group = a->task_group;
                m->mbits = sched_alloc_mbits(a);
        }
        return m->mbits;
}

static void asks_add(struct live_asks *k, struct mbits_memo *m, const struct alloc *a) {
        k->ports_devices = k->ports_devices || holds_ports_or_devices(a);
        k->mbits += alloc_mbits(m, a);
}

/* Bandwidth that the live allocs hold beyond the node's link (Nomad's "bandwidth
 * exceeded"): counted as the scheduler counts it (bandwidth.h). */
static bool mbits_exceeded(const struct node *n, const struct alloc *const *live, size_t nl) {
        int64_t link = sched_node_mbits(n), used = 0;
        for (size_t i = 0; link > 0 && i < nl; i++)
                used += sched_alloc_mbits(live[i]);
        return link > 0 && used > link;
}

/* Checks that need the allocs that would be live on the node: the store's (less those
 * the plans touch), the uncommitted placements (newest versions) and this plan's;
 * made only when a placement holds ports, devices or bandwidth (a walk of the node's
 * allocs). NULL, or a reason (built in buf). */
static const char *live_misfit(const struct state_store *latest, const struct node *node,
                               const struct plan_node *const *ov, size_t nov, const struct plan_node *pn,
                               struct hashmap *touched, const struct live_asks *asks, char *buf, size_t size) {
        size_t na;
        struct alloc *const *existing = state_allocs_by_node(latest, pn->node_id, &na);
        size_t cap = na + pn->n_place;
        for (size_t k = 0; k < nov; k++)
                cap += ov[k]->n_place;
        _cleanup_free_ const struct alloc **live = calloc(cap ? cap : 1, sizeof(*live));
        if (!live)
                return "out of memory";
        size_t n = 0;
        for (size_t i = 0; i < na; i++)
                if (!alloc_terminal(existing[i]) && !hashmap_contains(touched, existing[i]->id))
                        live[n++] = existing[i];
        for (size_t k = 0; k < nov; k++)
                for (size_t i = 0; i < ov[k]->n_place; i++) {
                        const struct alloc *a = ov[k]->place[i];
                        if (!alloc_terminal(a) && (uintptr_t)hashmap_get(touched, a->id) == k + 1)
                                live[n++] = a;
                }
        for (size_t i = 0; i < pn->n_place; i++)
                if (!alloc_terminal(pn->place[i]))
                        live[n++] = pn->place[i];
        if (asks->mbits > 0 && mbits_exceeded(node, live, n))
                return "network: bandwidth exceeded";
        if (!asks->ports_devices)
                return NULL;
        int port = 0;
        const char *dev = NULL;
        int r = sched_ports_conflict(live, n, &port);
        if (r > 0) {
                snprintf(buf, size, "port %d already allocated", port);
                return buf;
        }
        if (r == 0 && (r = sched_devices_conflict(live, n, &dev)) > 0) {
                snprintf(buf, size, "device %s already allocated", dev);
                return buf;
        }
        return r < 0 ? "out of memory" : NULL;
}

static const char *fit_reason(const struct node *n, const struct usage_acc *u) {
        if (u->cpu > n->cpu_shares - n->reserved_cpu)
                return "cpu";
        if (u->mem > n->memory_mb - n->reserved_memory_mb)
                return "memory";
        if (u->disk > n->disk_mb - n->reserved_disk_mb)
                return "disk";
        return NULL;
}

/* node_misfit when pn only places and no uncommitted plan touches the node (the
 * common case): no set of touched IDs to build, each placement replaces at most its
 * own live version in the store (an in-place update). */
static const char *place_only_misfit(const struct state_store *latest, const struct node *n, const struct plan_node *pn,
                                     const struct state_usage *su, struct mbits_memo *memo, char *buf, size_t size) {
        struct usage_acc u = {su->cpu, su->memory_mb, su->disk_mb};
        struct live_asks asks = {0};
        for (size_t i = 0; i < pn->n_place; i++) {
                const struct alloc *a = pn->place[i];
                /* an in-place update (a placement the scheduler made new has no create
                 * index: no walk of the allocs table; were its ID stored, counting both
                 * would only err towards rejecting) */
                const struct alloc *old = a->create_index ? state_alloc_get(latest, a->id) : NULL;
                if (old && !alloc_terminal(old) && old->node_id && strcmp(old->node_id, pn->node_id) == 0)
                        acc_add(&u, old, -1);
                if (alloc_terminal(a))
                        continue;
                acc_add(&u, a, 1);
                asks_add(&asks, memo, a);
        }
        const char *why = fit_reason(n, &u);
        if (!why && (asks.ports_devices || asks.mbits > 0)) {
                struct touched t = {0};
                if (touched_fill(&t, NULL, 0, pn) < 0)
                        why = "out of memory";
                else
                        why = live_misfit(latest, n, NULL, 0, pn, t.map, &asks, buf, size);
                hashmap_destroy(t.map);
        }
        return why;
}

/* Why the node cannot take pn: the store keeps each node's live usage
 * (state_node_usage), so the check costs the plans' allocs on the node, not the
 * node's allocs: usage - what the plans stop or replace + the uncommitted
 * placements + this plan's. Ports, devices and bandwidth are checked (a walk of the
 * node's allocs) only when a placement holds some. buf holds a built reason. */
static const char *node_misfit(const struct state_store *latest, const struct plan_overlay *o,
                               const struct plan_node *pn, struct mbits_memo *memo, char *buf, size_t size) {
        if (pn->n_place == 0)
                return NULL; /* stops always fit */
        struct state_usage su; /* one look-up for the node and its usage (keyed by this hash) */
        const struct node *n = state_node_with_usage_h(latest, pn->node_id, hashmap_hash(pn->node_id), &su);
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
        if (nov == 0 && pn->n_stop == 0)
                return place_only_misfit(latest, n, pn, &su, memo, buf, size);
        struct touched t = {0};
        const char *why = NULL;
        if (touched_fill(&t, ov, nov, pn) < 0) {
                why = "out of memory";
                goto out;
        }
        struct usage_acc u = {su.cpu, su.memory_mb, su.disk_mb};
        sub_touched(&u, latest, pn->node_id, t.map);
        struct live_asks asks = {0};
        for (size_t k = 0; k < nov; k++)
                for (size_t i = 0; i < ov[k]->n_place; i++) {
                        const struct alloc *a = ov[k]->place[i];
                        /* each in its newest version only */
                        if (!alloc_terminal(a) && (uintptr_t)hashmap_get(t.map, a->id) == k + 1)
                                acc_add(&u, a, 1);
                }
        for (size_t i = 0; i < pn->n_place; i++) {
                const struct alloc *a = pn->place[i];
                if (alloc_terminal(a))
                        continue;
                acc_add(&u, a, 1);
                asks_add(&asks, memo, a);
        }
        if ((why = fit_reason(n, &u)) == NULL && (asks.ports_devices || asks.mbits > 0))
                why = live_misfit(latest, n, ov, nov, pn, t.map, &asks, buf, size);
out:
        hashmap_destroy(t.map);
        return why;
}

const char *plan_node_misfit(const struct state_store *latest, const struct plan_node *pn) {
        static __thread char buf[128];
        struct mbits_memo memo = {0};
        return node_misfit(latest, NULL, pn, &memo, buf, sizeof(buf));
}

/* Reject the nodes r kept too (an all_at_once plan), each once: a set of the rejected
 * IDs, not a search of the list per node (O(nodes), not O(nodes x rejected)). */
static int reject_kept(struct plan_result *r) {
        _cleanup_(hashmap_destroyp) struct hashmap *seen = hashmap_create(0);
        if (!seen || hashmap_reserve(seen, r->n_rejected + r->n_nodes) < 0)
                return -ENOMEM;
        for (size_t i = 0; i < r->n_rejected; i++)
                if (hashmap_put(seen, r->rejected_nodes[i], NULL, NULL) < 0)
                        return -ENOMEM;
        for (size_t i = 0; i < r->n_nodes; i++) {
                if (hashmap_contains(seen, r->nodes[i].node_id))
                        continue;
                int rc = plan_result_reject(r, r->nodes[i].node_id);
                if (rc < 0)
                        return rc;
        }
        return 0;
}

int plan_evaluate(const struct state_store *latest, const struct plan *p, struct plan_result **ret, struct error *err) {
        return plan_evaluate_overlay(latest, NULL, p, ret, err);
}

int plan_evaluate_overlay(const struct state_store *latest, const struct plan_overlay *overlay, const struct plan *p,
                          struct plan_result **ret, struct error *err) {
        struct plan_result *r = plan_result_new();
        if (!r)
                return errorf(err, -ENOMEM, "plan applier: out of memory");
        r->job = job_ref(p->job);
        r->timestamp_ns = p->timestamp_ns;
        if (p->eval_id && !(r->eval_id = strdup(p->eval_id)))
                goto oom;
        /* Room for every node of the plan up front: the result usually keeps them all
         * (c1m: about 1,000 nodes a plan), so no regrowth of its array or its map. */
        if (p->n_nodes) {
                if (!(r->nodes = calloc(p->n_nodes, sizeof(*r->nodes))))
                        goto oom;
                r->cap_nodes = p->n_nodes;
                if (!(r->by_node = hashmap_create(0)) || hashmap_reserve(r->by_node, p->n_nodes) < 0)
                        goto oom;
        }
        bool partial = false;
        struct mbits_memo memo = {0};
        for (size_t i = 0; i < p->n_nodes; i++) {
                const struct plan_node *pn = &p->nodes[i];
                char buf[128];
                if (node_misfit(latest, overlay, pn, &memo, buf, sizeof(buf))) {
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
                        if (reject_kept(r) < 0)
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

/* Stops first (every node's), then every placement of the result in one store write:
 * the per-write costs (job status, index lookups of the job's and the eval's lists)
 * are paid once per result, not once per node (c1m puts about one placement on each
 * node of a plan at 5,000 nodes). */
static int apply(struct state_store *st, uint64_t index, const struct plan_result *r, bool take) {
        size_t n_place = 0;
        for (size_t i = 0; i < r->n_nodes; i++) {
                const struct plan_node *pn = &r->nodes[i];
                for (size_t k = 0; k < pn->n_stop; k++) {
                        const struct plan_stop *s = &pn->stop[k];
                        int rc = state_stop_alloc(st, index, s->alloc->id, s->desired, s->description, s->client_status,
                                                  r->timestamp_ns);
                        if (rc < 0 && rc != -ENOENT)
                                return rc;
                }
                n_place += pn->n_place;
        }
        if (!n_place)
                return 0;
        _cleanup_free_ struct alloc **v = calloc(n_place, sizeof(*v));
        if (!v)
                return -ENOMEM;
        size_t n = 0;
        int rc = 0;
        struct job *last_in = NULL, *last_want = NULL; /* allocs of a plan share one job */
        for (size_t i = 0; i < r->n_nodes && rc == 0; i++) {
                const struct plan_node *pn = &r->nodes[i];
                for (size_t k = 0; k < pn->n_place; k++) {
                        /* The store sets indexes on what it inserts: never touch a shared object,
                         * unless the caller vouches for it (take). An alloc only this result holds
                         * (a decoded one) is inserted as it is. */
                        struct alloc *a = pn->place[k];
                        struct alloc *c =
                            take || __atomic_load_n(&a->refcount, __ATOMIC_ACQUIRE) == 1 ? alloc_ref(a) : alloc_copy(a);
                        if (!c) {
                                rc = -ENOMEM;
                                break;
                        }
                        v[n++] = c;
                        /* looked up now: earlier writes (the stops) may have replaced the job's object */
                        if (c->job != last_in) {
                                last_in = c->job;
                                last_want = shared_job(st, c->job);
                        }
                        if (last_want && last_want != c->job) {
                                job_unref(c->job);
                                c->job = job_ref(last_want);
                        }
                }
        }
        if (rc == 0)
                rc = state_upsert_allocs(st, index, v, n);
        for (size_t k = 0; k < n; k++)
                alloc_unref(v[k]);
        return rc;
}

int plan_result_apply(struct state_store *st, uint64_t index, const struct plan_result *r) {
        return apply(st, index, r, false);
}

int plan_result_apply_take(struct state_store *st, uint64_t index, const struct plan_result *r) {
        return apply(st, index, r, true);
}
