/* sched_scenarios.c - the named scenarios (c1m, mixed, preempt) through the real eval broker. */
#include "bench/sched_bench.h"
#include "bench/sched_offline.h"

#include <time.h>

/* This process's CPU time: placements per CPU second do not depend on how many other
 * processes share the machine (the bench is one thread). */
static int64_t cpu_ns(void) {
        struct timespec ts;
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
        return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static struct node *scen_node_new(int i, const struct scen_node *sn, uint64_t *rng) {
        struct node *n = make_node(i, rng, false);
        n->cpu_shares = sn->cpu;
        n->memory_mb = sn->mem;
        free(n->node_class);
        n->node_class = xstrdup(sn->cls);
        node_compute_class(n);
        return n;
}

static struct job *scen_job_new(const struct scen_job *s, size_t i, const char *prefix) {
        struct spec sp = {.type = JOB_SERVICE, .count = s->count, .cpu = s->cpu, .mem = s->mem};
        struct job *j = make_job(&sp, i);
        char id[48];
        snprintf(id, sizeof(id), "%s-%06zu", prefix, i);
        free(j->id);
        j->id = xstrdup(id);
        j->priority = s->priority ? s->priority : 50;
        j->constraints = xcalloc(1, sizeof(*j->constraints));
        j->n_constraints = 1;
        if (s->class_constraint)
                j->constraints[0] =
                    (struct constraint){xstrdup("${node.class}"), xstrdup(s->class_constraint), xstrdup("=")};
        else
                j->constraints[0] = (struct constraint){xstrdup("${attr.kernel.name}"), xstrdup("linux"), xstrdup("=")};
        struct task_group *g = &j->groups[0];
        if (s->class_affinity) {
                g->affinities = xcalloc(1, sizeof(*g->affinities));
                g->affinities[0] =
                    (struct affinity){xstrdup("${node.class}"), xstrdup(s->class_affinity), xstrdup("="), 50};
                g->n_affinities = 1;
        }
        if (s->spread_dc) {
                g->spreads = xcalloc(1, sizeof(*g->spreads));
                g->spreads[0] = (struct spread){.attribute = xstrdup("${node.datacenter}"), .weight = 50};
                g->n_spreads = 1;
        }
        g->ephemeral_disk_mb = s->disk;
        return j;
}

/* Register and schedule jobs[0..n) through the broker with `workers` workers; each
 * eval's wall time in lat, its thread CPU time in lat_cpu. */
static int scen_schedule(struct cluster *cl, struct job **jobs, size_t n, int workers, int64_t *lat,
                         int64_t *lat_cpu, size_t *ret_evals) {
        struct broker *b = broker_create(&clock_real, NULL);
        if (!b)
                die_oom();
        broker_set_enabled(b, true);
        int r = 0;
        for (size_t i = 0; i < n && r == 0; i++) {
                struct eval *ev = make_eval(jobs[i], &cl->id_rng);
                r = register_job(cl, jobs[i], ev);
                if (r == 0 && (r = broker_enqueue(b, ev)) < 0)
                        errorf(&cl->err, r, "broker: enqueue: %s", strerror(-r));
                eval_unref(ev);
        }
        const enum job_type types[] = {JOB_SERVICE, JOB_BATCH};
        size_t done = 0;
        struct eval *evs[64];
        char *tokens[64];
        while (r == 0) {
                size_t k = 0;
                while (k < (size_t)workers && broker_dequeue(b, types, 2, &evs[k], &tokens[k]) == 0)
                        k++;
                if (!k)
                        break;
                struct state_store *snap = state_snapshot(cl->live);
                if (!snap)
                        die_oom();
                for (size_t i = 0; i < k; i++) {
                        if (r == 0) {
                                r = process_eval(cl, snap, evs[i], &lat[done]);
                                lat_cpu[done++] = cl->eval_cpu_ns;
                        }
                        if (r == 0 && broker_ack(b, evs[i]->id, tokens[i]) < 0)
                                r = errorf(&cl->err, -EPROTO, "broker: ack %s failed", evs[i]->id);
                        eval_unref(evs[i]);
                        free(tokens[i]);
                }
                state_destroy(snap);
        }
        broker_destroy(b);
        *ret_evals = done;
        return r;
}

static int cmp_double_desc(const void *a, const void *b) {
        double x = *(const double *)a, y = *(const double *)b;
        return (x < y) - (x > y);
}

/* A lower bound on the nodes that can hold the placed demand (cpu, mem) with node
 * capacities node_cpu/node_mem: every set S of nodes that holds it has, for each weight w
 * in [0, 1], sum over S of w*cpu_k/cpu + (1-w)*mem_k/mem >= 1, so |S| is at least the
 * fewest nodes, largest weighted share first, whose shares reach 1. The largest such
 * count over 101 weights is the bound (w = 0 and 1 are the per-dimension volume bounds;
 * by LP duality the best w gives the fractional optimum, whichever shapes the nodes
 * have). The earlier bound, ceil(demand / the mean node's capacity), is not a bound
 * with two node classes: a packer that prefers the larger class went below it. */
static size_t scen_lower_bound(int64_t cpu, int64_t mem, const int64_t *node_cpu, const int64_t *node_mem, int nodes) {
        if (nodes <= 0 || (cpu <= 0 && mem <= 0))
                return 0;
        double *share = xcalloc((size_t)nodes, sizeof(*share));
        size_t best = 0;
        for (int step = 0; step <= 100; step++) {
                double w = cpu <= 0 ? 0 : mem <= 0 ? 1 : step / 100.0;
                for (int k = 0; k < nodes; k++)
                        share[k] = (w > 0 ? w * (double)node_cpu[k] / (double)cpu : 0) +
                                   (w < 1 ? (1 - w) * (double)node_mem[k] / (double)mem : 0);
                qsort(share, (size_t)nodes, sizeof(*share), cmp_double_desc);
                double sum = 0;
                size_t k = 0;
                while (k < (size_t)nodes && sum < 1 - 1e-9)
                        sum += share[k++];
                if (k > best)
                        best = k;
                if (cpu <= 0 || mem <= 0)
                        break;
        }
        free(share);
        return best;
}

/* The classes (bit k: shapes[k]) a job's allocations may use: those its constraint
 * admits and whose nodes can hold one of them. */
static unsigned scen_eligible(const struct scen_job *s, const struct scen_node *shapes, size_t n_shapes) {
        unsigned mask = 0;
        for (size_t k = 0; k < n_shapes; k++)
                if ((!s->class_constraint || strcmp(s->class_constraint, shapes[k].cls) == 0) &&
                    s->cpu <= shapes[k].cpu && s->mem <= shapes[k].mem)
                        mask |= 1u << k;
        return mask;
}

static int64_t ceil_div(int64_t a, int64_t b) {
        return a <= 0 ? 0 : (a + b - 1) / b;
}

/* A lower bound on the nodes used by any placement of the placed demand that respects the
 * jobs' class constraints, for two classes of identical nodes (count[k] nodes of shapes[k]);
 * dcpu/dmem[m] is the demand of the allocations whose eligible classes are the mask m
 * (scen_eligible). Proof: take any valid placement, x_k its used nodes of class k.
 * (1) The allocations only class k admits lie on those x_k nodes, each holding at most its
 * capacity in every dimension, so x_k >= lo_k = max(ceil(cpu_k / C_k), ceil(mem_k / M_k)).
 * (2) For every weight w in [0, 1], with a node's value V_k(w) = w C_k / cpu + (1 - w) M_k
 * / mem (cpu, mem: the whole demand), the used nodes' values sum to at least the demand's,
 * 1: x_0 V_0(w) + x_1 V_1(w) >= 1. So (x_0, x_1) satisfies (1), (2) for the 101 weights
 * and x_k <= count[k], and x_0 + x_1 is at least the least sum of an integer pair that
 * does: enumerate x_0, take the least x_1. With no constraint (1) binds and the bound is
 * scen_lower_bound's; class constraints make it larger when the pinned demand leaves a
 * class's nodes half used in one dimension. Other shapes (or no feasible pair, which
 * only rounding can cause): 0, and the caller keeps scen_lower_bound. */
static size_t scen_class_bound(const struct scen_node *shapes, const size_t *count, size_t n_shapes,
                               const int64_t *dcpu, const int64_t *dmem) {
        if (n_shapes != 2)
                return 0;
        int64_t cpu = 0, mem = 0;
        for (unsigned m = 1; m < 4; m++) {
                cpu += dcpu[m];
                mem += dmem[m];
        }
        if (cpu <= 0 && mem <= 0)
                return 0;
        size_t lo[2];
        for (unsigned k = 0; k < 2; k++) {
                int64_t c = ceil_div(dcpu[1u << k], shapes[k].cpu), g = ceil_div(dmem[1u << k], shapes[k].mem);
                lo[k] = (size_t)(c > g ? c : g);
        }
        size_t best = 0;
        for (size_t x0 = lo[0]; x0 <= count[0]; x0++) {
                size_t x1 = lo[1];
                for (int step = 0; step <= 100; step++) {
                        double w = cpu <= 0 ? 0 : mem <= 0 ? 1 : step / 100.0;
                        double v[2];
                        for (unsigned k = 0; k < 2; k++)
                                v[k] = (w > 0 ? w * (double)shapes[k].cpu / (double)cpu : 0) +
                                       (w < 1 ? (1 - w) * (double)shapes[k].mem / (double)mem : 0);
                        double rest = 1.0 - (double)x0 * v[0];
                        if (rest > 1e-9) {
                                double need = ceil(rest / v[1] - 1e-9);
                                if (need > (double)x1)
                                        x1 = need > (double)count[1] + 1 ? count[1] + 1 : (size_t)need;
                        }
                }
                if (x1 <= count[1] && (best == 0 || x0 + x1 < best))
                        best = x0 + x1;
        }
        return best;
}

struct scen_classes {
        const struct state_store *st;
        const struct scen_node *shapes;
        size_t n_shapes;
        struct scen_class *cls;
};

static bool scen_class_node(void *arg, const struct node *n) {
        struct scen_classes *sc = arg;
        size_t k = 0;
        while (k < sc->n_shapes && strcmp(sc->shapes[k].cls, n->node_class ? n->node_class : "") != 0)
                k++;
        if (k == sc->n_shapes || k >= SCEN_MAX_SHAPES)
                return true;
        struct scen_class *c = &sc->cls[k];
        c->nodes++;
        size_t na;
        struct alloc *const *list = state_allocs_by_node(sc->st, n->id, &na);
        int64_t cpu = 0, mem = 0;
        size_t live = 0;
        for (size_t i = 0; i < na; i++) {
                if (alloc_terminal(list[i]))
                        continue;
                live++;
                cpu += list[i]->resources.cpu;
                mem += list[i]->resources.memory_mb;
        }
        if (!live)
                return true;
        int64_t cap_cpu = n->cpu_shares - n->reserved_cpu, cap_mem = n->memory_mb - n->reserved_memory_mb;
        double fc = cap_cpu > 0 ? (double)(cap_cpu - cpu) / (double)cap_cpu : 0;
        double fm = cap_mem > 0 ? (double)(cap_mem - mem) / (double)cap_mem : 0;
        c->used++;
        c->free_cpu += cap_cpu - cpu;
        c->free_mem += cap_mem - mem;
        c->stranded_cpu += fm < 0.1 && fc > 0.3;
        c->stranded_mem += fc < 0.1 && fm > 0.3;
        return true;
}

/* Per class: nodes, used nodes, free and stranded capacity (struct scen_class). */
static void scen_classes(const struct state_store *st, const struct scen_node *shapes, size_t n_shapes,
                         struct scen_class *ret) {
        memset(ret, 0, SCEN_MAX_SHAPES * sizeof(*ret));
        struct scen_classes sc = {st, shapes, n_shapes, ret};
        state_nodes_foreach(st, scen_class_node, &sc);
}

/* Fill then (optionally) a second wave: the scenario's two job lists. */
static int scen_run(const struct scen_node *shapes, size_t n_shapes, int nodes, const struct scen_job *first,
                    size_t n_first, const struct scen_job *second, size_t n_second, int workers,
                    enum sched_algorithm alg, const struct sched_preemption *preemption, uint64_t seed,
                    struct scen_out *ret) {
        struct cluster *cl = cluster_new_empty(seed); /* with the workers' candidate cache */
        cl->algorithm = alg;
        cl->preemption = preemption;
        uint64_t node_rng = seed;
        int64_t *cap_cpu = xcalloc((size_t)nodes, sizeof(*cap_cpu)),
                *cap_mem = xcalloc((size_t)nodes, sizeof(*cap_mem));
        for (int i = 0; i < nodes; i++) {
                struct node *nd = scen_node_new(i, &shapes[(size_t)i % n_shapes], &node_rng);
                cap_cpu[i] = nd->cpu_shares;
                cap_mem[i] = nd->memory_mb;
                if (state_upsert_node(cl->live, ++cl->index, nd) < 0)
                        die_oom();
                node_unref(nd);
        }
        size_t n = n_first + n_second;
        struct job **jobs = xcalloc(n, sizeof(*jobs));
        int64_t *lat = xcalloc(n, sizeof(*lat)), *lat_cpu = xcalloc(n, sizeof(*lat_cpu));
        size_t asked = 0;
        for (size_t i = 0; i < n; i++) {
                const struct scen_job *s = i < n_first ? &first[i] : &second[i - n_first];
                jobs[i] = scen_job_new(s, i, i < n_first ? "job" : "urgent");
                asked += (size_t)s->count;
        }
        size_t evals = 0, evals2 = 0;
        int64_t t0 = clock_monotonic_ns(), c0 = cpu_ns();
        int r = scen_schedule(cl, jobs, n_first, workers, lat, lat_cpu, &evals);
        size_t placed_first = cl->placed;
        if (r == 0 && n_second)
                r = scen_schedule(cl, jobs + n_first, n_second, workers, lat + evals, lat_cpu + evals, &evals2);
        int64_t wall = clock_monotonic_ns() - t0, cpu = cpu_ns() - c0;
        if (r < 0)
                fprintf(stderr, "sched: scenario: %s\n", cl->err.msg);
        evals += evals2;
        int64_t eval_ns = 0, eval_cpu_ns = 0;
        for (size_t i = 0; i < evals; i++) {
                eval_ns += lat[i];
                eval_cpu_ns += lat_cpu[i];
        }
        int64_t decide_ns = eval_ns - cl->submit_ns - cl->write_ns;
        qsort(lat, evals, sizeof(*lat), cmp_i64);
        qsort(lat_cpu, evals, sizeof(*lat_cpu), cmp_i64);
        if (cl->cands) {
                struct sched_cand_cache_stats cs;
                sched_cand_cache_stats(cl->cands, &cs);
                printf("  (candidate cache: %" PRIu64 " hits, %" PRIu64 " rebuilds, %" PRIu64
                       " first looks answered full without a usage look-up)\n",
                       cs.hits, cs.invalidations, cs.full_skips);
        }
        struct verify v;
        verify_store(cl->live, &v);
        size_t live = 0, evicted = 0;
        int64_t dcpu[1u << SCEN_MAX_SHAPES] = {0}, dmem[1u << SCEN_MAX_SHAPES] = {0};
        for (size_t i = 0; i < n; i++) {
                const struct scen_job *s = i < n_first ? &first[i] : &second[i - n_first];
                unsigned mask = n_shapes <= SCEN_MAX_SHAPES ? scen_eligible(s, shapes, n_shapes) : 0;
                size_t k;
                struct alloc *const *list = state_allocs_by_job(cl->live, jobs[i]->namespace, jobs[i]->id, &k);
                for (size_t a = 0; a < k; a++) {
                        bool up = !alloc_terminal(list[a]);
                        live += up;
                        evicted += list[a]->desired_status == ALLOC_DESIRED_EVICT;
                        if (up && mask) {
                                dcpu[mask] += list[a]->resources.cpu;
                                dmem[mask] += list[a]->resources.memory_mb;
                        }
                }
        }
        size_t per_class[SCEN_MAX_SHAPES] = {0};
        for (int i = 0; i < nodes && n_shapes <= SCEN_MAX_SHAPES; i++)
                per_class[(size_t)i % n_shapes]++;
        (void)placed_first;
        *ret = (struct scen_out){
            .jobs = n,
            .asked = asked,
            .placed = cl->placed,
            .evals_failed = cl->evals_failed,
            .rejections = cl->partial,
            .nodes_used = v.nodes_used,
            .lb = scen_lower_bound(v.cpu, v.mem, cap_cpu, cap_mem, nodes),
            .lb_class = scen_class_bound(shapes, per_class, n_shapes, dcpu, dmem),
            .preempted = evicted,
            .wall_s = (double)wall / 1e9,
            .place_per_s = wall > 0 ? (double)cl->placed / ((double)wall / 1e9) : 0,
            .cpu_place_per_s = cpu > 0 ? (double)cl->placed / ((double)cpu / 1e9) : 0,
            .p50_ms = (double)percentile(lat, evals, 0.50) / 1e6,
            .p99_ms = (double)percentile(lat, evals, 0.99) / 1e6,
            .decide_per_s = decide_ns > 0 ? (double)cl->placed / ((double)decide_ns / 1e9) : 0,
            .apply_share = eval_ns > 0 ? (double)cl->submit_ns / (double)eval_ns : 0,
            .cpu_p50_ms = (double)percentile(lat_cpu, evals, 0.50) / 1e6,
            .cpu_p99_ms = (double)percentile(lat_cpu, evals, 0.99) / 1e6,
            .apply_cpu_share = eval_cpu_ns > 0 ? (double)cl->submit_cpu_ns / (double)eval_cpu_ns : 0,
            .apply_cpu_us = cl->placed ? (double)cl->submit_cpu_ns / 1e3 / (double)cl->placed : 0,
            .violations = v.violations,
        };
        if (ret->lb_class < ret->lb)
                ret->lb_class = ret->lb;
        if (n_shapes <= SCEN_MAX_SHAPES)
                scen_classes(cl->live, shapes, n_shapes, ret->cls);
        if (v.allocs != cl->placed) {
                fprintf(stderr, "sched: VIOLATION: %zu placements committed, %zu allocations in the store\n",
                        cl->placed, v.allocs);
                ret->violations++;
        }
        (void)live;
        for (size_t i = 0; i < n; i++)
                job_unref(jobs[i]);
        free(jobs);
        free(lat);
        free(lat_cpu);
        free(cap_cpu);
        free(cap_mem);
        cluster_destroy(cl);
        return r;
}

static void scen_lines(const char *name, const struct scen_out *o) {
        char k[96];
#define LINE(field, v, d)                                                                                              \
        do {                                                                                                           \
                snprintf(k, sizeof(k), "sched_%s_%s", name, field);                                                    \
                bench_line(k, v, d);                                                                                   \
        } while (0)
        LINE("placements_per_sec", o->place_per_s, 0);
        LINE("eval_latency_p50_ms", o->p50_ms, 3);
        LINE("eval_latency_p99_ms", o->p99_ms, 3);
        LINE("failed_placements", (double)(o->asked > o->placed ? o->asked - o->placed : 0), 0);
        LINE("nodes_used", (double)o->nodes_used, 0);
        LINE("nodes_lower_bound", (double)o->lb, 0);
        LINE("plan_rejections", (double)o->rejections, 0);
        LINE("decide_per_sec", o->decide_per_s, 0);
        LINE("cpu_placements_per_sec", o->cpu_place_per_s, 0);
        LINE("apply_share", o->apply_share, 3);
        LINE("eval_cpu_p50_ms", o->cpu_p50_ms, 3);
        LINE("eval_cpu_p99_ms", o->cpu_p99_ms, 3);
        LINE("apply_cpu_share", o->apply_cpu_share, 3);
        LINE("apply_cpu_us_per_placement", o->apply_cpu_us, 3);
#undef LINE
}

static void scen_print(const char *name, const struct scen_out *o) {
        printf("  %-16s %7zu jobs %9zu asked %9zu placed in %7.2f s (%9.0f/s), eval p50 %.3f ms p99 %.3f ms, "
               "%zu evals not complete, %zu plan rejections, nodes used %zu (lower bound %zu, ratio %.3f), "
               "%zu evicted; scheduler alone %.0f/s, applier %.0f%% of eval time; eval CPU p50 %.3f ms p99 %.3f ms, "
               "applier %.0f%% of eval CPU\n",
               name, o->jobs, o->asked, o->placed, o->wall_s, o->place_per_s, o->p50_ms, o->p99_ms, o->evals_failed,
               o->rejections, o->nodes_used, o->lb, o->lb ? (double)o->nodes_used / (double)o->lb : 0, o->preempted,
               o->decide_per_s, 100 * o->apply_share, o->cpu_p50_ms, o->cpu_p99_ms, 100 * o->apply_cpu_share);
        fflush(stdout);
}

/* Per class: used nodes, the free capacity left on them and the stranded ones. */
static void scen_print_classes(const struct scen_node *shapes, size_t n_shapes, const struct scen_out *o) {
        printf("  %-16s lower bound with class constraints %zu (ratio %.3f)", "", o->lb_class,
               o->lb_class ? (double)o->nodes_used / (double)o->lb_class : 0);
        for (size_t k = 0; k < n_shapes && k < SCEN_MAX_SHAPES; k++) {
                const struct scen_class *c = &o->cls[k];
                printf("; %s %zu/%zu used, free on them %.0f%% cpu %.0f%% mem, stranded %zu cpu-only %zu mem-only",
                       shapes[k].cls, c->used, c->nodes,
                       c->used ? 100.0 * (double)c->free_cpu / ((double)c->used * (double)shapes[k].cpu) : 0,
                       c->used ? 100.0 * (double)c->free_mem / ((double)c->used * (double)shapes[k].mem) : 0,
                       c->stranded_cpu, c->stranded_mem);
        }
        printf("\n");
        fflush(stdout);
}

/* c1m: Nomad's Million Container Challenge shape. 5,000 identical nodes, 1,000 service
 * jobs of count 1,000, asks 10 MHz / 10 MB / 10 MB disk, one node constraint each; scale
 * multiplies the jobs (and the nodes, so the fill stays the same). */
int scenario_c1m(double scale, int workers, uint64_t seed, int *violations) {
        int nodes = (int)ceil(5000 * scale), n_jobs = (int)ceil(1000 * scale);
        static const struct scen_node shape = {4000, 8192, "general"};
        struct scen_job *jobs = xcalloc((size_t)n_jobs, sizeof(*jobs));
        for (int i = 0; i < n_jobs; i++)
                jobs[i] = (struct scen_job){.count = 1000, .cpu = 10, .mem = 10, .disk = 10};
        printf("\nScenario c1m (scale %.3g): %d nodes, %d service jobs x count 1000, %d workers\n", scale, nodes,
               n_jobs, workers);
        struct scen_out o;
        int r = scen_run(&shape, 1, nodes, jobs, (size_t)n_jobs, NULL, 0, workers, SCHED_ALG_BINPACK, NULL, seed, &o);
        free(jobs);
        *violations += o.violations;
        if (r == 0) {
                scen_print("c1m", &o);
                scen_lines("c1m", &o);
        }
        return r;
}

/* The offline reference for a scenario's jobs (sched_offline.h): every allocation known
 * in advance, class constraints honoured (affinities, spread and job anti-affinity are
 * soft and left out, disk never binds here). spread_by_class: a job's spread over
 * datacenters honoured too, as an even split of its allocations between the classes
 * (the scenarios' node i has class i mod 2 and datacenter i mod 2, make_node). Its placement is checked; a fault counts
 * as a violation. 0 or a negative errno. */
static int scen_offline(const struct scen_node *shapes, size_t n_shapes, int nodes, const struct scen_job *jobs,
                        size_t n, bool spread_by_class, struct offline_result *ret, int *violations) {
        size_t total = 0;
        for (size_t i = 0; i < n; i++)
                total += (size_t)jobs[i].count;
        struct offline_item *items = xcalloc(total + 1, sizeof(*items));
        int *node = xcalloc(total + 1, sizeof(*node));
        size_t m = 0;
        for (size_t i = 0; i < n; i++) {
                unsigned mask = scen_eligible(&jobs[i], shapes, n_shapes);
                for (int c = 0; c < jobs[i].count; c++) {
                        /* an even spread over the datacenters, which are the classes here */
                        unsigned one = 1u << ((unsigned)c % n_shapes);
                        bool even = spread_by_class && jobs[i].spread_dc && (mask & one);
                        items[m++] = (struct offline_item){jobs[i].cpu, jobs[i].mem, even ? one : mask};
                }
        }
        struct offline_class cls[OFFLINE_MAX_CLASSES];
        for (size_t k = 0; k < n_shapes && k < OFFLINE_MAX_CLASSES; k++)
                cls[k] = (struct offline_class){shapes[k].cpu, shapes[k].mem,
                                                (size_t)nodes / n_shapes + ((size_t)nodes % n_shapes > k)};
        int r = offline_pack(items, m, cls, n_shapes, node, ret);
        size_t used = 0;
        if (r == 0 && (r = offline_check(items, m, cls, n_shapes, node, &used)) >= 0 && (r > 0 || used != ret->total)) {
                fprintf(stderr, "sched: VIOLATION: the offline packing has %d faults, %zu nodes used of %zu said\n", r,
                        used, ret->total);
                (*violations)++;
        }
        free(items);
        free(node);
        return r < 0 ? r : 0;
}

/* mixed: two node classes (compute: 8000 MHz / 8 GB, memory: 4000 MHz / 32 GB), cpu-heavy
 * and memory-heavy jobs of varied sizes; a third pinned to a class, a fifth with an
 * affinity for one, a tenth spread over datacenters; 2% ask more memory than any node.
 * bench/sched_mixed_lp.py re-creates this workload draw for draw (its configuration-LP
 * bound and best integer packing): change the two together. */
static const char *const alg_names[SCHED_ALG_COUNT] = {"binpack", "spread", "dotproduct"};

int scenario_mixed(int nodes, int workers, uint64_t seed, int *violations) {
        static const struct scen_node shapes[] = {{8000, 8192, "compute"}, {4000, 32768, "memory"}};
        uint64_t rng = seed * 7 + 3;
        int64_t target = (int64_t)nodes * 6000 * 6 / 10, asked = 0; /* 60% of the mean cpu */
        size_t n = 0, cap = 64;
        struct scen_job *jobs = xcalloc(cap, sizeof(*jobs));
        while (asked < target) {
                if (n == cap) {
                        cap *= 2;
                        jobs = realloc(jobs, cap * sizeof(*jobs));
                        if (!jobs)
                                die_oom();
                }
                struct scen_job s = {.count = rng_range(&rng, 2, 30), .disk = 100};
                if (rng_range(&rng, 0, 1)) { /* cpu-heavy: 500..3000 MHz, 128..1024 MB */
                        s.cpu = 100 * rng_range(&rng, 5, 30);
                        s.mem = 128 * rng_range(&rng, 1, 8);
                } else { /* memory-heavy: 100..800 MHz, 1..8 GB */
                        s.cpu = 100 * rng_range(&rng, 1, 8);
                        s.mem = 1024 * rng_range(&rng, 1, 8);
                }
                int pick = rng_range(&rng, 0, 29);
                if (pick < 10)
                        s.class_constraint = s.mem > 2048 ? "memory" : "compute";
                else if (pick < 16)
                        s.class_affinity = s.mem > 2048 ? "memory" : "compute";
                else if (pick < 19)
                        s.spread_dc = true;
                if (rng_range(&rng, 0, 49) == 0)
                        s.mem = 40000; /* cannot place anywhere */
                jobs[n++] = s;
                asked += (int64_t)s.count * s.cpu;
        }
        printf("\nScenario mixed: %d nodes (compute 8000 MHz / 8 GB, memory 4000 MHz / 32 GB), %zu jobs, %d workers\n",
               nodes, n, workers);
        int r = 0;
        struct scen_out out[SCHED_ALG_COUNT];
        for (int a = 0; a < SCHED_ALG_COUNT && r == 0; a++) {
                r = scen_run(shapes, 2, nodes, jobs, n, NULL, 0, workers, (enum sched_algorithm)a, NULL, seed, &out[a]);
                *violations += out[a].violations;
                if (r == 0) {
                        scen_print(alg_names[a], &out[a]);
                        scen_print_classes(shapes, 2, &out[a]);
                }
        }
        struct offline_result off = {0}, off_spread = {0};
        if (r == 0 && (r = scen_offline(shapes, 2, nodes, jobs, n, false, &off, violations)) == 0)
                r = scen_offline(shapes, 2, nodes, jobs, n, true, &off_spread, violations);
        if (r < 0)
                fprintf(stderr, "sched: offline packing: %s\n", strerror(-r));
        free(jobs);
        if (r < 0)
                return r;
        const struct scen_out *bp = &out[SCHED_ALG_BINPACK];
        printf("  %-16s %9zu placed on %zu nodes (compute %zu, memory %zu; lower bound %zu, ratio %.3f; "
               "binpack uses %.3f x as many), %zu best-fit passes\n",
               "offline bfd", off.placed, off.total, off.used[0], off.used[1], bp->lb,
               bp->lb ? (double)off.total / (double)bp->lb : 0,
               off.total ? (double)bp->nodes_used / (double)off.total : 0, off.packings);
        printf("  %-16s %9zu placed on %zu nodes with the spread blocks kept (compute %zu, memory %zu; ratio %.3f)\n",
               "offline bfd", off_spread.placed, off_spread.total, off_spread.used[0], off_spread.used[1],
               bp->lb ? (double)off_spread.total / (double)bp->lb : 0);
        scen_lines("mixed", &out[SCHED_ALG_BINPACK]);
        bench_line("sched_mixed_offline_placed", (double)off.placed, 0);
        bench_line("sched_mixed_offline_spread_nodes_used", (double)off_spread.total, 0);
        bench_line("sched_mixed_offline_spread_bfd_ratio", bp->lb ? (double)off_spread.total / (double)bp->lb : 0, 3);
        bench_line("sched_mixed_offline_nodes_used", (double)off.total, 0);
        bench_line("sched_mixed_offline_bfd_ratio", bp->lb ? (double)off.total / (double)bp->lb : 0, 3);
        bench_line("sched_mixed_offline_bfd_ratio_class", bp->lb_class ? (double)off.total / (double)bp->lb_class : 0,
                   3);
        bench_line("sched_mixed_nodes_lower_bound_class", (double)out[SCHED_ALG_BINPACK].lb_class, 0);
        for (int a = 0; a < SCHED_ALG_COUNT; a++) {
                char k[96];
                snprintf(k, sizeof(k), "sched_mixed_%s_packing_ratio", alg_names[a]);
                bench_line(k, out[a].lb ? (double)out[a].nodes_used / (double)out[a].lb : 0, 3);
                snprintf(k, sizeof(k), "sched_mixed_%s_packing_ratio_class", alg_names[a]);
                bench_line(k, out[a].lb_class ? (double)out[a].nodes_used / (double)out[a].lb_class : 0, 3);
                snprintf(k, sizeof(k), "sched_mixed_%s_failed_placements", alg_names[a]);
                bench_line(k, (double)(out[a].asked - out[a].placed), 0);
        }
        return 0;
}

/* preempt: a cluster filled to about 95% by priority-20 service jobs, then priority-80
 * jobs asking 10% of it. */
int scenario_preempt(int nodes, int workers, uint64_t seed, int *violations) {
        static const struct scen_node shape = {4000, 8192, "general"};
        uint64_t rng = seed * 11 + 5;
        size_t n_low = (size_t)nodes * 95 / 100 * 4 / 10, n_high = (size_t)nodes / 10 * 4 / 10;
        n_low = n_low ? n_low : 1;
        n_high = n_high ? n_high : 1;
        struct scen_job *low = xcalloc(n_low, sizeof(*low)), *high = xcalloc(n_high, sizeof(*high));
        for (size_t i = 0; i < n_low; i++) /* 10 x 1000 MHz / 2 GB: a quarter of a node each */
                low[i] = (struct scen_job){.count = 10, .cpu = 1000, .mem = 2048, .disk = 100, .priority = 20};
        for (size_t i = 0; i < n_high; i++)
                high[i] = (struct scen_job){
                    .count = 10, .cpu = 1000 + 500 * rng_range(&rng, 0, 1), .mem = 2048, .disk = 100, .priority = 80};
        printf("\nScenario preempt: %d nodes filled by %zu priority-20 jobs, then %zu priority-80 jobs, %d workers\n",
               nodes, n_low, n_high, workers);
        struct scen_out o;
        /* service preemption on, as an operator would set it in the scheduler configuration */
        static const struct sched_preemption preemption = {.system = true, .service = true, .batch = true};
        int r = scen_run(&shape, 1, nodes, low, n_low, high, n_high, workers, SCHED_ALG_BINPACK, &preemption, seed, &o);
        free(low);
        free(high);
        *violations += o.violations;
        if (r == 0) {
                scen_print("preempt", &o);
                scen_lines("preempt", &o);
                bench_line("sched_preempt_preempted_allocs", (double)o.preempted, 0);
        }
        return r;
}
