/* preempt.c - preemption (Nomad's preemption.go): when no node has room for an
 * allocation, evict allocations of other jobs whose priority is at least 10 below the
 * job's. On a node: every alloc holding a static port the group reserves (an alloc
 * that may not be evicted holding one rules the node out), the allocs holding the
 * device instances its asks need (per ask, the device group whose victims have the
 * lowest highest priority, then are fewest), then for cpu, memory, disk and reserved
 * cores and network bandwidth (MBits, bandwidth.h) the lowest priorities first and as
 * few as will do (when only bandwidth is short, the biggest holders of bandwidth first
 * within a priority). Among nodes (service and
 * batch), the node whose victims have the lowest highest priority, then the fewest
 * victims. The plan stops them (desired "evict", listed in its stops) with the
 * description "Preempted by alloc ID <the new alloc>", and the new alloc lists their
 * IDs (PreemptedAllocations). Enabled per job kind by the scheduler configuration
 * (scheduler_env.preemption; Nomad's defaults: system only). A full dynamic port range
 * is not a reason to preempt. See preempt.h. */
#include "controlplane/scheduler/preempt.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/hashmap.h"
#include "common/macros.h"
#include "controlplane/scheduler/bandwidth.h"
#include "controlplane/scheduler/devices.h"
#include "controlplane/scheduler/feasible.h"
#include "controlplane/scheduler/place.h"
#include "controlplane/scheduler/ports.h"
#include "controlplane/scheduler/rank.h"
#include "controlplane/scheduler/sched_internal.h"
#include "controlplane/state/state.h"

bool sched_preempt_enabled(const struct sched_ctx *c) {
        const struct sched_preemption *p = &c->preemption;
        switch (c->eval->type) {
        case JOB_SYSTEM:
                return p->system;
        case JOB_SYSBATCH:
                return p->sysbatch;
        case JOB_SERVICE:
                return p->service;
        case JOB_BATCH:
                return p->batch;
        default:
                return false;
        }
}

struct victim {
        struct alloc *a;
        int priority;
        bool chosen;
        bool must;     /* holds a port or a device instance the ask needs: never given back */
        int64_t mbits; /* network bandwidth it holds (counted when the ask needs bandwidth) */
        int64_t size;  /* its share of what is short: cpu + memory, or MBits when only bandwidth is */
};

static int cmp_victim(const void *x, const void *y) {
        const struct victim *a = x, *b = y;
        if (a->priority != b->priority)
                return a->priority - b->priority; /* lowest priority first */
        return a->size < b->size ? 1 : a->size > b->size ? -1 : 0; /* then the biggest: fewer victims */
}

static bool in_plan_stops(const struct plan_node *pn, const char *id) {
        for (size_t i = 0; pn && i < pn->n_stop; i++)
                if (strcmp(pn->stop[i].alloc->id, id) == 0)
                        return true;
        return false;
}

/* What the allocs that stay on the node hold that the ask needs too. */
struct kept {
        struct sched_portset *want; /* the group's static ports (NULL: none) */
        struct hashmap *devices;    /* device instances held (NULL: the group asks for none) */
};

/* An alloc that stays: false when it holds one of the group's static ports (evicting
 * cannot make room) or on ENOMEM; its device instances go to k->devices. */
static bool keep(struct kept *k, const struct alloc *a) {
        if (k->want && sched_ports_held_in(a, k->want) != 0)
                return false;
        return !k->devices || sched_devices_held(a, k->devices) == 0;
}

/* Victims for the group's static ports and device asks (Nomad's PreemptForNetwork and
 * PreemptForDevice): every victim holding a wanted port, then those the device asks
 * need (devices.h). Marks them chosen and must; false when no choice meets the ask. */
static bool choose_for_ports_devices(struct sched_attempt *at, const struct sched_group *g, const struct sched_cand *cd,
                                     struct kept *k, struct victim *v, size_t nv) {
        for (size_t i = 0; k->want && i < nv; i++) {
                int p = sched_ports_held_in(v[i].a, k->want);
                if (p < 0)
                        return false;
                v[i].chosen = v[i].must = p > 0;
        }
        if (!k->devices)
                return true;
        struct hashmap *owner = hashmap_create(HASHMAP_OWN_KEYS);
        int *prio = malloc((nv + 1) * sizeof(*prio));
        bool *chosen = malloc((nv + 1) * sizeof(*chosen));
        int r = owner && prio && chosen ? 0 : -ENOMEM;
        for (size_t i = 0; i < nv && r == 0; i++) {
                prio[i] = v[i].priority;
                chosen[i] = v[i].chosen;
                r = sched_devices_owned(v[i].a, owner, (void *)(uintptr_t)(i + 1));
        }
        if (r == 0)
                r = sched_devices_preempt(g->tg, cd->n, k->devices, owner, prio, chosen, nv, at->c->regexps);
        for (size_t i = 0; i < nv && r == 0; i++)
                if (chosen[i] && !v[i].chosen)
                        v[i].chosen = v[i].must = true;
        hashmap_destroy(owner);
        free(prio);
        free(chosen);
        return r == 0;
}

/* Choose the allocs to evict on cd so that g's ask fits: of other jobs, priority at
 * least 10 below this job's; those holding the static ports it reserves, those its
 * device asks need, then for cpu, memory, disk and cores the lowest priorities first,
 * then the fewest (largest first, then any victim not needed is given back). Their
 * count, or 0 when eviction cannot make room; the chosen ones in v[0..count). */
static size_t choose_victims(struct sched_attempt *at, const struct sched_group *g, const struct sched_cand *cd,
                             struct victim *v, size_t cap) {
        const struct node *n = cd->n;
        const struct plan_node *pn = plan_node_find(at->plan, n->id);
        _cleanup_free_ struct sched_portset *want = g->static_ports ? calloc(1, sizeof(*want)) : NULL;
        struct kept k = {want, g->devices ? hashmap_create(HASHMAP_OWN_KEYS) : NULL};
        size_t na, nv = 0, count = 0;
        bool ok = (!g->static_ports || want) && (!g->devices || k.devices);
        if (want)
                sched_group_static_ports(g->tg, want);
        struct alloc *const *list = state_allocs_by_node(at->c->snap, n->id, &na);
        for (size_t i = 0; i < na && ok; i++) {
                struct alloc *a = list[i];
                int prio = a->job ? a->job->priority : 50;
                if (alloc_terminal(a) || in_plan_stops(pn, a->id))
                        continue;
                if (nv < cap && a->job_id && strcmp(a->job_id, at->job->id) != 0 &&
                    prio <= at->job->priority - PREEMPT_PRIORITY_DELTA)
                        v[nv++] = (struct victim){a, prio, false, false, 0, 0};
                else
                        ok = keep(&k, a);
        }
        for (size_t i = 0; pn && i < pn->n_place && ok; i++)
                ok = keep(&k, pn->place[i]);
        int64_t need_cpu = cd->u.cpu + g->ask.cpu + g->cores * sched_core_mhz(n) - (n->cpu_shares - n->reserved_cpu);
        int64_t need_mem = cd->u.mem + g->ask.memory_mb - (n->memory_mb - n->reserved_memory_mb);
        int64_t need_disk = cd->u.disk + g->ask.disk_mb - (n->disk_mb - n->reserved_disk_mb);
        /* reserved cores and bandwidth: only for groups that ask for them (walks of the
         * node's allocs) */
        int need_cores = g->cores ? sched_cand_cores_used(at, cd) + g->cores - n->total_cores : 0;
        int64_t link = g->mbits ? sched_node_mbits(n) : 0;
        int64_t need_mbits = link > 0 ? sched_cand_mbits_used(at, cd) + g->mbits - link : 0;
        bool only_mbits = need_mbits > 0 && need_cpu <= 0 && need_mem <= 0 && need_disk <= 0 && need_cores <= 0;
        for (size_t i = 0; i < nv; i++) {
                v[i].mbits = link > 0 ? sched_alloc_mbits(v[i].a) : 0;
                v[i].size = only_mbits ? v[i].mbits : v[i].a->resources.cpu + v[i].a->resources.memory_mb;
        }
        qsort(v, nv, sizeof(*v), cmp_victim);
        if (ok)
                ok = choose_for_ports_devices(at, g, cd, &k, v, nv);
        hashmap_destroy(k.devices);
        if (!ok)
                return 0;
        for (size_t i = 0; i < nv; i++) {
                bool more = need_cpu > 0 || need_mem > 0 || need_disk > 0 || need_cores > 0 || need_mbits > 0;
                if (!v[i].chosen && !more)
                        continue;
                v[i].chosen = true;
                need_cpu -= v[i].a->resources.cpu;
                need_mem -= v[i].a->resources.memory_mb;
                need_disk -= v[i].a->resources.disk_mb;
                need_mbits -= v[i].mbits;
                if (g->cores)
                        need_cores -= sched_alloc_cores(v[i].a);
        }
        if (need_cpu > 0 || need_mem > 0 || need_disk > 0 || need_cores > 0 || need_mbits > 0)
                return 0;
        /* give back victims that are not needed, the last chosen first */
        for (size_t i = nv; i-- > 0;) {
                const struct res_ask *r = &v[i].a->resources;
                int c = g->cores ? sched_alloc_cores(v[i].a) : 0;
                if (v[i].chosen && !v[i].must && need_cpu + r->cpu <= 0 && need_mem + r->memory_mb <= 0 &&
                    need_disk + r->disk_mb <= 0 && need_cores + c <= 0 && need_mbits + v[i].mbits <= 0) {
                        need_cpu += r->cpu;
                        need_mem += r->memory_mb;
                        need_disk += r->disk_mb;
                        need_cores += c;
                        need_mbits += v[i].mbits;
                        v[i].chosen = false;
                }
        }
        for (size_t i = 0; i < nv; i++) /* the chosen ones first, in their order */
                if (v[i].chosen)
                        v[count++] = v[i];
        return count;
}

/* Nomad's Allocation.PreemptedAllocations: the new alloc (the last one the plan places on
 * cd, `id`) lists the IDs of the allocs it evicts, kept in its unmodelled fields, which
 * the plan and the store carry as they are. 0 or -ENOMEM. */
static int record_preempted(struct sched_attempt *at, const struct sched_cand *cd, const char *id, json_t *ids) {
        const struct plan_node *pn = plan_node_find(at->plan, cd->n->id);
        struct alloc *a = pn && pn->n_place ? pn->place[pn->n_place - 1] : NULL;
        if (!a || strcmp(a->id, id) != 0)
                return 0;
        if (!a->extra && !(a->extra = json_object()))
                return -ENOMEM;
        return json_object_set(a->extra, "PreemptedAllocations", ids) < 0 ? -ENOMEM : 0;
}

/* Place on cd by evicting lower-priority allocs; 1 when placed, 0 when not possible.
 * The victims are stopped first, so that the placement finds their ports and device
 * instances free; the new alloc's ID is chosen before, for their description. */
int sched_place_preempting(struct sched_attempt *at, struct sched_group *g, struct sched_cand *cd,
                           const struct alloc *prev, struct sched_metric *m, int64_t now) {
        size_t na;
        state_allocs_by_node(at->c->snap, cd->n->id, &na);
        _cleanup_free_ struct victim *v = malloc((na + 1) * sizeof(*v));
        if (!v)
                return -ENOMEM;
        size_t k = choose_victims(at, g, cd, v, na);
        if (!k)
                return 0;
        char id[ID_BUF], desc[ID_BUF + 32];
        at->c->gen_id(at->c->id_data, id);
        snprintf(desc, sizeof(desc), "Preempted by alloc ID %s", id);
        _cleanup_json_ json_t *ids = json_array();
        int r = ids ? 0 : -ENOMEM;
        size_t stopped = 0;
        for (size_t i = 0; i < k && r == 0; i++) {
                if ((r = plan_add_stop(at->plan, v[i].a, ALLOC_DESIRED_EVICT, desc, -1)) < 0)
                        break;
                stopped++; /* only the stops added are undone */
                if (json_array_append_new(ids, json_string(v[i].a->id)) < 0)
                        r = -ENOMEM;
        }
        if (r == 0) {
                at->preempt_id = id;
                r = sched_place_on(at, g, cd, at->preempt_index, prev, m, now);
                at->preempt_id = NULL;
        }
        if (r != 0) { /* no port or device after all (the victims stay), or ENOMEM */
                plan_drop_stops(at->plan, cd->n->id, stopped);
                return r < 0 ? r : 0;
        }
        for (size_t i = 0; i < k; i++) {
                cd->u.cpu -= v[i].a->resources.cpu;
                cd->u.mem -= v[i].a->resources.memory_mb;
                cd->u.disk -= v[i].a->resources.disk_mb;
        }
        cd->full_gen = 0; /* usage freed: rank the node again (rank.c out_of) */
        r = record_preempted(at, cd, id, ids);
        return r < 0 ? r : 1;
}

/* The victims' highest priority on cd, or INT32_MAX when evicting cannot make room. */
static int victims_cost(struct sched_attempt *at, const struct sched_group *g, const struct sched_cand *cd,
                        size_t *ret_count) {
        size_t na;
        state_allocs_by_node(at->c->snap, cd->n->id, &na);
        _cleanup_free_ struct victim *v = malloc((na + 1) * sizeof(*v));
        if (!v)
                return INT32_MAX;
        size_t k = choose_victims(at, g, cd, v, na);
        int top = INT32_MIN;
        for (size_t i = 0; i < k; i++)
                top = v[i].priority > top ? v[i].priority : top;
        *ret_count = k;
        return k ? top : INT32_MAX;
}

int sched_preempt_select(struct sched_attempt *at, struct sched_group *g, int index, const struct alloc *prev,
                         struct sched_metric *m, int64_t now) {
        struct sched_cand *best = NULL;
        int best_prio = INT32_MAX;
        size_t best_n = 0;
        char buf[160];
        for (size_t i = 0; i < at->n_cands; i++) {
                struct sched_cand *cd = sched_cand_get(at, i);
                if (sched_feasible(at, g, cd, buf, sizeof(buf)))
                        continue;
                sched_cand_usage(at, cd);
                size_t n = 0;
                int prio = victims_cost(at, g, cd, &n);
                if (prio == INT32_MAX)
                        continue;
                if (!best || prio < best_prio || (prio == best_prio && n < best_n)) {
                        best = cd;
                        best_prio = prio;
                        best_n = n;
                }
        }
        if (!best)
                return 0;
        at->preempt_index = index;
        int r = sched_place_preempting(at, g, best, prev, m, now);
        at->preempt_index = 0;
        return r;
}
