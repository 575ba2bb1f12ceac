/* preempt.c - preemption (Nomad's preemption.go, simplified): when no node has room
 * for an allocation, evict allocations of other jobs whose priority is at least 10
 * below the job's: on a node, the lowest priorities first and as few as will do; among
 * nodes (service and batch), the node whose victims have the lowest highest priority,
 * then the fewest victims. The plan stops them (desired "evict", listed in its stops)
 * with the description "Preempted by alloc ID <the new alloc>", and the new alloc lists
 * their IDs (PreemptedAllocations). Enabled per job kind
 * by the scheduler configuration (scheduler_env.preemption; Nomad's defaults: system
 * only). See preempt.h. */
#include "controlplane/scheduler/preempt.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/macros.h"
#include "controlplane/scheduler/feasible.h"
#include "controlplane/scheduler/place.h"
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
};

static int cmp_victim(const void *x, const void *y) {
        const struct victim *a = x, *b = y;
        if (a->priority != b->priority)
                return a->priority - b->priority; /* lowest priority first */
        int64_t sa = a->a->resources.cpu + a->a->resources.memory_mb,
                sb = b->a->resources.cpu + b->a->resources.memory_mb;
        return sa < sb ? 1 : sa > sb ? -1 : 0; /* then the biggest: fewer victims */
}

static bool in_plan_stops(const struct plan_node *pn, const char *id) {
        for (size_t i = 0; pn && i < pn->n_stop; i++)
                if (strcmp(pn->stop[i].alloc->id, id) == 0)
                        return true;
        return false;
}

/* Choose the allocs to evict on cd so that g's ask fits: of other jobs, priority at
 * least 10 below this job's, lowest priorities first, then the fewest (largest first,
 * then any victim not needed is given back). Their count, or 0 when eviction cannot
 * make room; the chosen ones in v[0..count). */
static size_t choose_victims(struct sched_attempt *at, const struct sched_group *g, const struct sched_cand *cd,
                             struct victim *v, size_t cap) {
        const struct node *n = cd->n;
        const struct plan_node *pn = plan_node_find(at->plan, n->id);
        size_t na, nv = 0;
        struct alloc *const *list = state_allocs_by_node(at->c->snap, n->id, &na);
        for (size_t i = 0; i < na && nv < cap; i++) {
                struct alloc *a = list[i];
                int prio = a->job ? a->job->priority : 50;
                if (alloc_terminal(a) || in_plan_stops(pn, a->id) || !a->job_id ||
                    strcmp(a->job_id, at->job->id) == 0 || prio > at->job->priority - PREEMPT_PRIORITY_DELTA)
                        continue;
                v[nv++] = (struct victim){a, prio};
        }
        qsort(v, nv, sizeof(*v), cmp_victim);
        int64_t need_cpu = cd->u.cpu + g->ask.cpu + g->cores * sched_core_mhz(n) - (n->cpu_shares - n->reserved_cpu);
        int64_t need_mem = cd->u.mem + g->ask.memory_mb - (n->memory_mb - n->reserved_memory_mb);
        int64_t need_disk = cd->u.disk + g->ask.disk_mb - (n->disk_mb - n->reserved_disk_mb);
        /* reserved cores: only for groups that ask for them (a walk of the node's allocs) */
        int need_cores = g->cores ? sched_cand_cores_used(at, cd) + g->cores - n->total_cores : 0;
        size_t k = 0;
        while (k < nv && (need_cpu > 0 || need_mem > 0 || need_disk > 0 || need_cores > 0)) {
                need_cpu -= v[k].a->resources.cpu;
                need_mem -= v[k].a->resources.memory_mb;
                need_disk -= v[k].a->resources.disk_mb;
                if (g->cores)
                        need_cores -= sched_alloc_cores(v[k].a);
                k++;
        }
        if (need_cpu > 0 || need_mem > 0 || need_disk > 0 || need_cores > 0)
                return 0;
        /* give back victims that are not needed, the last chosen first */
        for (size_t i = k; i-- > 0;) {
                const struct res_ask *r = &v[i].a->resources;
                int c = g->cores ? sched_alloc_cores(v[i].a) : 0;
                if (need_cpu + r->cpu <= 0 && need_mem + r->memory_mb <= 0 && need_disk + r->disk_mb <= 0 &&
                    need_cores + c <= 0) {
                        need_cpu += r->cpu;
                        need_mem += r->memory_mb;
                        need_disk += r->disk_mb;
                        need_cores += c;
                        memmove(&v[i], &v[i + 1], (k - i - 1) * sizeof(*v));
                        k--;
                }
        }
        return k;
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

/* Place on cd by evicting lower-priority allocs; 1 when placed, 0 when not possible. */
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
        int r = sched_place_on_id(at, g, cd, at->preempt_index, prev, m, now, id);
        if (r > 0)
                return 0; /* no port or device free: the victims stay */
        snprintf(desc, sizeof(desc), "Preempted by alloc ID %s", id);
        json_t *ids = r == 0 ? json_array() : NULL;
        if (r == 0 && !ids)
                r = -ENOMEM;
        for (size_t i = 0; i < k && r == 0; i++) {
                r = plan_add_stop(at->plan, v[i].a, ALLOC_DESIRED_EVICT, desc, -1);
                if (r == 0 && json_array_append_new(ids, json_string(v[i].a->id)) < 0)
                        r = -ENOMEM;
                cd->u.cpu -= v[i].a->resources.cpu;
                cd->u.mem -= v[i].a->resources.memory_mb;
                cd->u.disk -= v[i].a->resources.disk_mb;
        }
        if (r == 0)
                r = record_preempted(at, cd, id, ids);
        json_decref(ids);
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
