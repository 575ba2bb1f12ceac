/* rank.c - fit, scores and Select. See rank.h. Follows Nomad's scheduler/feasible/rank.go
 * and select.go. */
#include "controlplane/scheduler/rank.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/hashmap.h"
#include "common/macros.h"
#include "controlplane/scheduler/bandwidth.h"
#include "controlplane/scheduler/devices.h"
#include "controlplane/scheduler/feasible.h"
#include "controlplane/scheduler/sched_internal.h"

#define MAX_SKIP 3 /* LimitIterator: options scoring <= 0 set aside */

static double affinity_list(const struct affinity *v, size_t n, const struct node *node, struct sched_regexps *re,
                            double *total) {
        double sum = 0;
        for (size_t i = 0; i < n; i++) {
                const struct affinity *a = &v[i];
                struct constraint c = {a->ltarget, a->rtarget, a->operand};
                *total += fabs((double)a->weight);
                if (sched_node_meets_re(node, &c, re))
                        sum += a->weight;
        }
        return sum;
}

double sched_affinity_score(const struct job *j, const struct task_group *tg, const struct node *n,
                            struct sched_regexps *re) {
        double total = 0;
        double sum = affinity_list(j->affinities, j->n_affinities, n, re, &total);
        sum += affinity_list(tg->affinities, tg->n_affinities, n, re, &total);
        for (size_t t = 0; t < tg->n_tasks; t++)
                sum += affinity_list(tg->tasks[t].affinities, tg->tasks[t].n_affinities, n, re, &total);
        return total > 0 ? sum / total : 0;
}

static double spread_one(const struct sched_distinct_prop *p, int count, const char *v) {
        const struct spread *s = p->spread;
        uintptr_t used = (uintptr_t)hashmap_get(p->counts, v);
        if (s->n_targets) {
                int pct = -1, sum = 0;
                for (size_t t = 0; t < s->n_targets; t++) {
                        sum += s->targets[t].percent;
                        if (s->targets[t].value && strcmp(s->targets[t].value, v) == 0)
                                pct = s->targets[t].percent;
                }
                if (pct < 0)
                        pct = 100 - sum; /* the implicit "*" target */
                double desired = (double)pct / 100.0 * (double)count;
                if (desired <= 0.0 || (double)used >= desired)
                        return -1.0;
                return (desired - (double)used) / desired;
        }
        /* even spread over the values seen so far (their least and largest counts are
         * kept as they grow: O(1) per node scored) */
        uintptr_t min = p->min < used ? p->min : used, max = p->max > used ? p->max : used;
        if (p->max == 0 || max == 0 || min == max)
                return 0.0;
        if (used < max)
                return (double)(max - used) / (double)max;
        return -(double)(max - min) / (double)max;
}

double sched_spread_score(const struct sched_group *g, const struct node *n) {
        double total = 0;
        for (size_t i = 0; i < g->n_props; i++) {
                const struct sched_distinct_prop *p = &g->props[i];
                if (!p->spread)
                        continue;
                double share =
                    g->spread_weights > 0 ? (double)p->spread->weight / g->spread_weights : 1.0 / (double)g->n_spreads;
                bool found;
                const char *v = sched_resolve_target(n, p->attr, &found);
                total += share * (v ? spread_one(p, g->tg->count, v) : -1.0);
        }
        return total < -1.0 ? -1.0 : total > 1.0 ? 1.0 : total;
}

double sched_fit_score(enum sched_algorithm alg, int64_t avail_cpu, int64_t avail_mem, int64_t used_cpu,
                       int64_t used_mem, int64_t ask_cpu, int64_t ask_mem) {
        double binpack = sched_binpack_score(avail_cpu, avail_mem, used_cpu, used_mem);
        switch (alg) {
        case SCHED_ALG_SPREAD:
                return 1.0 - binpack;
        case SCHED_ALG_DOTPRODUCT: {
                if (avail_cpu <= 0 || avail_mem <= 0)
                        return binpack;
                double ac = (double)ask_cpu / (double)avail_cpu, am = (double)ask_mem / (double)avail_mem;
                double fc = (double)(avail_cpu - used_cpu + ask_cpu) / (double)avail_cpu;
                double fm = (double)(avail_mem - used_mem + ask_mem) / (double)avail_mem;
                double na = sqrt(ac * ac + am * am), nf = sqrt(fc * fc + fm * fm);
                double align = na > 0 && nf > 0 ? (ac * fc + am * fm) / (na * nf) : 0.0;
                return (binpack + align) / 2.0;
        }
        case SCHED_ALG_BINPACK:
        default: {
                /* Nomad's ScoreFit less the capacity the placement strands: a node left with
                 * free cpu but no memory (or the reverse) scores lower than one left balanced,
                 * and a placement that evens out its node (a memory-heavy ask on a node whose
                 * memory is left over) gains what it evens out. See rank.h. */
                if (avail_cpu <= 0 || avail_mem <= 0)
                        return binpack;
                double free_cpu = 1.0 - (double)used_cpu / (double)avail_cpu;
                double free_mem = 1.0 - (double)used_mem / (double)avail_mem;
                double before = fabs(free_cpu + (double)ask_cpu / (double)avail_cpu - free_mem -
                                     (double)ask_mem / (double)avail_mem);
                double after = fabs(free_cpu - free_mem);
                return (binpack + 1.0 - after + (before - after)) / 2.0;
        }
        }
}

struct held_devices {
        struct hashmap *used;
        int r;
};

static void held_devices(const struct alloc *a, void *arg) {
        struct held_devices *h = arg;
        if (h->r == 0)
                h->r = sched_devices_held(a, h->used);
}

int sched_cand_devices(struct sched_attempt *at, struct sched_group *g, struct sched_cand *cd, double *ret_score,
                       json_t **ret_tasks, const char **ret_why) {
        struct held_devices h = {hashmap_create(HASHMAP_OWN_KEYS), 0};
        if (!h.used)
                return -ENOMEM;
        sched_proposed_foreach(at, cd, held_devices, &h);
        int r = h.r < 0 ? h.r
                        : sched_devices_assign(g->tg, cd->n, h.used, at->c->regexps, ret_score, ret_tasks, g->why,
                                               sizeof(g->why), ret_why);
        hashmap_destroy(h.used);
        return r;
}

/* cd has no room for g in dimension what (cpu, memory or disk). A placement only adds
 * usage, so while the group's feasibility cannot change with the plan (no distinct_hosts
 * or distinct_property) it stays so for the rest of the attempt: marked for Select. */
static bool out_of(const struct sched_group *g, struct sched_cand *cd, const char *what, const char **dim) {
        if (!g->distinct_job && !g->distinct_group && g->n_props == g->n_spreads) {
                cd->full_gen = g->gen;
                cd->full_dim = what;
        }
        *dim = what;
        return false;
}

/* sched_fit_score of cd for g at usage cpu and mem (the ask included), memoised in cd
 * (struct sched_cand's fit_gen): Select ranks most nodes again, unchanged, for each of
 * the group's placements. */
static double cand_fit(struct sched_attempt *at, const struct sched_group *g, struct sched_cand *cd, int64_t cpu,
                       int64_t mem, int64_t ask_cpu) {
        if (cd->fit_gen != g->gen || cd->fit_cpu != cpu || cd->fit_mem != mem) {
                cd->fit = sched_fit_score(at->c->algorithm, cd->avail.cpu, cd->avail.mem, cpu, mem, ask_cpu,
                                          g->ask.memory_mb);
                cd->fit_gen = g->gen;
                cd->fit_cpu = cpu;
                cd->fit_mem = mem;
        }
        return cd->fit;
}

bool sched_rank(struct sched_attempt *at, struct sched_group *g, struct sched_cand *cd, struct sched_option *o,
                const char **dim) {
        const char *full;
        if (!cd->usage_ready && !g->cores && sched_cand_known_full(at, &g->ask, cd, &full))
                return out_of(g, cd, full, dim); /* seen full before, nothing freed since */
        if (!cd->usage_ready) /* a call saved per rank: most nodes are ranked again */
                sched_cand_usage(at, cd);
        const struct node *n = cd->n;
        int64_t avail_cpu = cd->avail.cpu, avail_mem = cd->avail.mem, avail_disk = cd->avail.disk;
        int64_t ask_cpu = g->ask.cpu;
        if (g->cores) { /* reserved cores: whole cores free on the node, charged as their MHz */
                if (n->total_cores - sched_cand_cores_used(at, cd) < g->cores) {
                        *dim = "cores";
                        return false;
                }
                ask_cpu += g->cores * sched_core_mhz(n);
        }
        int64_t cpu = cd->u.cpu + ask_cpu, mem = cd->u.mem + g->ask.memory_mb, disk = cd->u.disk + g->ask.disk_mb;
        if (cpu > avail_cpu)
                return out_of(g, cd, "cpu", dim);
        if (mem > avail_mem)
                return out_of(g, cd, "memory", dim);
        if (disk > avail_disk)
                return out_of(g, cd, "disk", dim);
        int port;
        if (g->static_ports && sched_ports_collide(at, g, cd, &port)) {
                *dim = "network: reserved port collision";
                return false;
        }
        if (g->dyn_ports && sched_cand_ports_free(at, cd, g->dyn_ports) < g->dyn_ports) {
                *dim = "network: no free dynamic ports";
                return false;
        }
        int64_t link = g->mbits ? sched_node_mbits(n) : 0;
        if (link > 0 && sched_cand_mbits_used(at, cd) + g->mbits > link) {
                *dim = "network: bandwidth exceeded";
                return false;
        }
        double dscore = 0;
        if (g->devices) {
                const char *why = "out of memory";
                int r = sched_cand_devices(at, g, cd, &dscore, NULL, &why);
                if (r < 0) {
                        *dim = why;
                        return false;
                }
        }
        *o = (struct sched_option){.cd = cd, .used = cd->u.cpu > 0 || cd->u.mem > 0 || cd->u.disk > 0};
        o->binpack = cand_fit(at, g, cd, cpu, mem, ask_cpu);
        double sum = o->binpack;
        int k = 1;
        int coll = sched_collisions(at, cd, g->tg->name);
        if (coll > 0 && g->tg->count > 0) {
                o->has_anti = true;
                o->anti = -(double)(coll + 1) / (double)g->tg->count;
                sum += o->anti;
                k++;
        }
        if (g->has_affinity) {
                o->has_affinity = true;
                o->affinity = sched_affinity_score(at->job, g->tg, n, at->c->regexps);
                sum += o->affinity;
                k++;
        }
        if (g->device_aff) {
                o->has_devices = true;
                o->devices = dscore;
                sum += dscore;
                k++;
        }
        if (g->n_spreads) {
                o->has_spread = true;
                o->spread = sched_spread_score(g, n);
                sum += o->spread;
                k++;
        }
        if (g->penalty_node && strcmp(g->penalty_node, n->id) == 0) {
                o->has_penalty = true;
                o->penalty = -1.0;
                sum += o->penalty;
                k++;
        }
        o->final = sum / k;
        return true;
}

static json_t *option_meta(const struct sched_option *o) {
        json_t *s = json_pack("{s:f}", "binpack", o->binpack);
        if (o->has_anti)
                json_object_set_new(s, "job-anti-affinity", json_real(o->anti));
        if (o->has_affinity)
                json_object_set_new(s, "node-affinity", json_real(o->affinity));
        if (o->has_spread)
                json_object_set_new(s, "allocation-spread", json_real(o->spread));
        if (o->has_devices)
                json_object_set_new(s, "devices", json_real(o->devices));
        if (o->has_penalty)
                json_object_set_new(s, "node-reschedule-penalty", json_real(o->penalty));
        return json_pack("{s:s,s:o,s:f}", "NodeID", o->cd->n->id, "Scores", s, "NormScore", o->final);
}

static int cmp_option_desc(const void *a, const void *b) {
        const struct sched_option *x = a, *y = b;
        return x->final < y->final ? 1 : x->final > y->final ? -1 : 0;
}

/* Under a packing algorithm, for a group without affinities or spread blocks, a node
 * already in use (and not the reschedule penalty's) beats an empty one whatever their
 * scores: an online packer never opens a node while a used one fits. */
static bool better(const struct sched_group *g, const struct sched_option *x, const struct sched_option *y) {
        if (g->pack_used_first) {
                if (x->has_affinity && x->affinity != y->affinity)
                        return x->affinity > y->affinity;
                bool ux = x->used && !x->has_penalty, uy = y->used && !y->has_penalty;
                if (ux != uy)
                        return ux;
        }
        return x->final > y->final;
}

struct sched_cand *sched_select(struct sched_attempt *at, struct sched_group *g, struct sched_metric *m) {
        size_t cap = (size_t)g->limit + MAX_SKIP;
        if (g->opts_cap < cap) { /* once per group, not a malloc per placement (past tcache at 5,000 nodes) */
                struct sched_option *v = realloc(g->opts, cap * sizeof(*v));
                if (!v)
                        return NULL;
                g->opts = v;
                g->opts_cap = cap;
        }
        struct sched_option *opts = g->opts;
        struct sched_option skipped[MAX_SKIP];
        size_t n_opts = 0, n_skip = 0;
        char buf[160];
        for (size_t seen = 0; seen < at->n_cands && n_opts < (size_t)g->limit; seen++) {
                struct sched_cand *cd = sched_cand_get(at, at->cursor);
                at->cursor = (at->cursor + 1) % at->n_cands;
                m->evaluated++;
                if (cd->full_gen == g->gen) { /* still out of full_dim (out_of): no ranking again */
                        sched_metric_exhaust_class(m, cd->node_class, cd->full_dim);
                        continue;
                }
                const char *why = sched_feasible(at, g, cd, buf, sizeof(buf));
                if (why) {
                        sched_metric_filter(m, cd->n, why);
                        continue;
                }
                struct sched_option o;
                const char *dim = NULL;
                if (!sched_rank(at, g, cd, &o, &dim)) {
                        sched_metric_exhaust_class(m, cd->node_class, dim);
                        continue;
                }
                if (o.final <= 0.0 && n_skip < MAX_SKIP) {
                        skipped[n_skip++] = o;
                        continue;
                }
                opts[n_opts++] = o;
        }
        if (n_opts < (size_t)g->limit)
                for (size_t i = 0; i < n_skip; i++)
                        opts[n_opts++] = skipped[i];
        if (n_opts == 0)
                return NULL;
        size_t best = 0;
        for (size_t i = 1; i < n_opts; i++)
                if (better(g, &opts[i], &opts[best]))
                        best = i;
        struct sched_cand *winner = opts[best].cd;
        if (m->no_meta)
                return winner;
        qsort(opts, n_opts, sizeof(opts[0]), cmp_option_desc);
        m->score_meta = json_array();
        for (size_t i = 0; i < n_opts && i < SCHED_SCORE_META_TOP; i++)
                json_array_append_new(m->score_meta, option_meta(&opts[i]));
        return winner;
}
