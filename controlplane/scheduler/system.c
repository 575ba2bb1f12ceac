/* system.c - the system and sysbatch schedulers (Nomad's scheduler_system.go): one
 * allocation of every group on every node that is ready, eligible, not draining, in
 * the job's pool and datacenters, and feasible; nodes that join get theirs when the
 * node's registration creates an eval for the job (scheduler_node_evals).
 *
 * Per attempt: existing allocs on nodes that are down are stopped as lost; on nodes
 * that are no longer candidates (ineligible, draining, gone, out of the pool or
 * datacenters) or of groups the job no longer has, or extra ones on a node, they are
 * stopped. Every candidate node without a live alloc of the group is checked: filtered
 * nodes are skipped (not failures), nodes without room are failures (the eval's
 * FailedTGAllocs and queued counts), the rest get an alloc named "<job>.<group>[0]".
 * sysbatch: an alloc that completed (or failed) on a node is done there and is not
 * placed again; a service-like system alloc that ended is replaced on its node.
 * No blocked evals: a node joining or changing makes a new eval.
 * Preemption (system, not sysbatch, as Nomad's defaults): a node without room evicts
 * allocs of other jobs whose priority is at least 10 lower, lowest priorities first
 * and as few as will do; the plan stops them (desired "evict") with the description
 * "Preempted by alloc ID <the new alloc>".
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/hashmap.h"
#include "common/macros.h"
#include "controlplane/scheduler/candidates.h"
#include "controlplane/scheduler/place.h"
#include "controlplane/scheduler/preempt.h"
#include "controlplane/scheduler/rank.h"
#include "controlplane/scheduler/reconcile.h"
#include "controlplane/scheduler/sched_internal.h"
#include "controlplane/state/state.h"

static const char desc_tainted[] = "alloc not needed as node is tainted";

/* What a (group, node) pair already has. */
struct slot {
        const struct alloc *live; /* kept */
        const struct alloc *prev; /* an ended alloc to replace (service-like) */
        bool done;                /* sysbatch: ran to completion here */
};

static int stop(struct sched_attempt *at, struct alloc *a, const char *desc, int client) {
        return plan_add_stop(at->plan, a, ALLOC_DESIRED_STOP, desc, client);
}

static char *slot_key(size_t group, const char *node_id) {
        char *k = NULL;
        return asprintf(&k, "%zu\x1f%s", group, node_id ? node_id : "") < 0 ? NULL : k;
}

static size_t group_index(const struct job *j, struct hashmap *names, const char *tg) {
        if (!tg)
                return SIZE_MAX;
        uintptr_t v = (uintptr_t)hashmap_get(names, tg);
        return v ? v - 1 : SIZE_MAX;
}

static void slots_free(struct hashmap *slots) {
        size_t it = 0;
        void *v;
        while (slots && hashmap_next(slots, &it, NULL, &v))
                free(v);
        hashmap_destroy(slots);
}

/* Walk the job's allocs once: stops for what must go, a slot per (group, node). */
static int collect(struct sched_attempt *at, struct hashmap *cand_ids, struct hashmap *names, struct hashmap *slots) {
        const struct eval *ev = at->c->eval;
        const struct job *j = at->job;
        bool batch = at->c->ops->batch;
        size_t n;
        struct alloc *const *allocs = state_allocs_by_job(at->c->snap, ev->namespace, ev->job_id, &n);
        int r = 0;
        for (size_t i = 0; i < n && r == 0; i++) {
                struct alloc *a = allocs[i];
                size_t g = group_index(j, names, a->task_group);
                if (a->desired_status != ALLOC_DESIRED_RUN)
                        continue;
                bool ended = alloc_client_terminal(a->client_status);
                if (g == SIZE_MAX) {
                        if (!ended)
                                r = stop(at, a, sched_desc_not_needed, -1);
                        continue;
                }
                _cleanup_free_ char *key = slot_key(g, a->node_id);
                if (!key)
                        return -ENOMEM;
                struct slot *s = hashmap_get(slots, key);
                if (!s) {
                        if (!(s = calloc(1, sizeof(*s))) || hashmap_put(slots, key, s, NULL) < 0) {
                                free(s);
                                return -ENOMEM;
                        }
                }
                if (ended) {
                        /* marked lost with its node (the heartbeat's write): stopped as lost, as Nomad's are */
                        if (a->client_status == ALLOC_CLIENT_LOST &&
                            (r = stop(at, a, sched_desc_lost, ALLOC_CLIENT_LOST)) < 0)
                                break;
                        bool complete =
                            a->client_status == ALLOC_CLIENT_COMPLETE || a->client_status == ALLOC_CLIENT_FAILED;
                        if (batch && complete)
                                s->done = true;
                        else if (!s->prev)
                                s->prev = a;
                        continue;
                }
                const struct node *node = state_node_get(at->c->snap, a->node_id);
                if (!node || node->status == NODE_DOWN)
                        r = stop(at, a, sched_desc_lost, ALLOC_CLIENT_LOST);
                else if (!hashmap_get(cand_ids, a->node_id))
                        r = stop(at, a, desc_tainted, -1);
                else if (s->live)
                        r = stop(at, a, sched_desc_not_needed, -1); /* one per node */
                else
                        s->live = a;
        }
        return r;
}

/* Every candidate node for group g. */
static int place_group(struct sched_attempt *at, size_t gi, struct hashmap *slots) {
        struct sched_ctx *c = at->c;
        const struct task_group *tg = &at->job->groups[gi];
        struct sched_group g;
        int r = sched_group_init(at, &g, gi);
        int failed = 0;
        struct sched_metric fail_metric = {0};
        char buf[160];
        for (size_t i = 0; i < at->n_cands && r == 0; i++) {
                struct sched_cand *cd = sched_cand_get(at, i);
                _cleanup_free_ char *key = slot_key(gi, cd->n->id);
                if (!key) {
                        r = -ENOMEM;
                        break;
                }
                const struct slot *s = hashmap_get(slots, key);
                if (s && (s->live || s->done))
                        continue;
                int64_t now = sched_now(c);
                struct sched_metric m = {.start_ns = now, .evaluated = 1};
                const char *why = sched_feasible(at, &g, cd, buf, sizeof(buf));
                if (why) {
                        sched_metric_filter(&m, cd->n, why);
                        sched_metric_free(&m);
                        continue;
                }
                struct sched_option o;
                const char *dim = NULL;
                if (!sched_rank(at, &g, cd, &o, &dim)) {
                        if (sched_preempt_enabled(c) &&
                            (r = sched_place_preempting(at, &g, cd, s ? s->prev : NULL, &m, now)) != 0) {
                                sched_metric_free(&m);
                                if (r > 0)
                                        r = 0;
                                continue;
                        }
                        if (!failed++) {
                                fail_metric = m;
                                fail_metric.evaluated = (int)at->n_cands;
                                sched_metric_exhaust(&fail_metric, cd->n, dim);
                        } else {
                                sched_metric_exhaust(&fail_metric, cd->n, dim);
                                sched_metric_free(&m);
                        }
                        continue;
                }
                r = sched_place_on(at, &g, cd, 0, s ? s->prev : NULL, &m, now);
                if (r > 0) { /* no port or device after all */
                        r = 0;
                        if (!failed++) {
                                fail_metric = m;
                                fail_metric.evaluated = (int)at->n_cands;
                                sched_metric_exhaust(&fail_metric, cd->n, "devices or ports");
                                continue;
                        }
                        sched_metric_exhaust(&fail_metric, cd->n, "devices or ports");
                }
                sched_metric_free(&m);
        }
        if (failed && r == 0)
                json_object_set_new(c->failed_tg, tg->name,
                                    sched_metric_json(&at->pool, &fail_metric, sched_now(c), failed - 1));
        sched_metric_free(&fail_metric);
        json_object_set_new(c->queued, tg->name, json_integer(failed));
        if (g.escaped)
                c->escaped = true;
        sched_group_free(&g);
        return r;
}

static int system_build(struct sched_attempt *at) {
        const struct eval *ev = at->c->eval;
        const struct job *j = at->job;
        int r = 0;
        if (!j || j->stop || job_is_parent(j)) { /* periodic/parameterized parents run as children */
                size_t n;
                struct alloc *const *allocs = state_allocs_by_job(at->c->snap, ev->namespace, ev->job_id, &n);
                for (size_t i = 0; i < n && r == 0; i++)
                        if (!alloc_terminal(allocs[i]))
                                r = stop(at, allocs[i], sched_desc_not_needed, -1);
                return r;
        }
        if ((r = sched_build_cands(at)) < 0)
                return r;
        struct hashmap *cand_ids = hashmap_create(0), *names = hashmap_create(0);
        struct hashmap *slots = hashmap_create(HASHMAP_OWN_KEYS);
        if (!cand_ids || !names || !slots) {
                r = -ENOMEM;
                goto out;
        }
        for (size_t i = 0; i < at->n_cands && r == 0; i++)
                r = hashmap_put(cand_ids, sched_cand_get(at, i)->n->id, sched_cand_get(at, i), NULL) < 0 ? -ENOMEM : 0;
        for (size_t g = 0; g < j->n_groups && r == 0; g++)
                r = hashmap_put(names, j->groups[g].name, (void *)(uintptr_t)(g + 1), NULL) < 0 ? -ENOMEM : 0;
        if (r == 0)
                r = collect(at, cand_ids, names, slots);
        for (size_t g = 0; g < j->n_groups && r == 0; g++)
                r = place_group(at, g, slots);
out:
        hashmap_destroy(cand_ids);
        hashmap_destroy(names);
        slots_free(slots);
        return r;
}

int sched_system_process(struct sched_ctx *c) {
        return sched_run_attempts(c, system_build, false);
}
