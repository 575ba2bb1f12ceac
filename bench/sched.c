/* sched.c - benchmark of the generic scheduler and the plan applier, in one process.
 *
 * Drives the real scheduler_process() against an in-memory state store, with a planner
 * that checks and applies each plan the way the leader does (plan_evaluate, then
 * plan_result_apply at the next index, a fresh snapshot after a partial commit). No Raft,
 * no HTTP, one thread: jobs are registered and their evals processed one at a time.
 *
 * Measures
 *  - throughput: placements per second and per-eval latency (p50, p99) at several cluster
 *    sizes, median of several runs of the same deterministic workload;
 *  - contention: the same with several evals scheduled on one snapshot, as concurrent
 *    workers would, so that the applier rejects nodes and the scheduler retries;
 *  - packing: nodes used against the volume lower bound, and the utilisation reached
 *    before the first placement failure, for drover and for three placers written here
 *    (best fit over every node, random feasible node, worst fit), on the same workload.
 * Checks after every run that no node is over-committed and no group over-placed; any
 * violation makes the exit status 1.
 *
 * Output: a readable table, then one name=value line per figure (medians; the unit is
 * in the name: sched_nodes5000_eval_p99_ms=7.35), as DESIGN.md §6 asks.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "common/clock.h"
#include "common/error.h"
#include "common/ids.h"
#include "common/macros.h"
#include "common/model.h"
#include "controlplane/broker/broker.h"
#include "controlplane/plan/applier.h"
#include "controlplane/scheduler/feasible.h"
#include "controlplane/scheduler/scheduler.h"
#include "controlplane/state/state.h"

#define NODE_CPU 4000 /* MHz, the packing nodes (throughput nodes vary around it) */
#define NODE_MEM 8192 /* MB */
#define NODE_DISK 100000
#define TASK_DISK 300 /* Nomad's default ephemeral disk, MB */
#define PACK_CAP 0.90 /* the "full" stage: stop at the first failure or this share of cpu asked */
#define MAX_SIZES 8
#define MAX_RUNS 100
#define MAX_SEEDS 100
#define MAX_REPORTED 5 /* violations printed in full; the rest are counted */

/* ---- small helpers ------------------------------------------------------------------------ */

static void die_oom(void) {
        fputs("sched: out of memory\n", stderr);
        exit(2);
}

static void *xcalloc(size_t n, size_t size) {
        void *p = calloc(n ? n : 1, size);
        if (!p)
                die_oom();
        return p;
}

static char *xstrdup(const char *s) {
        char *p = strdup(s);
        if (!p)
                die_oom();
        return p;
}

static int cmp_double(const void *a, const void *b) {
        double x = *(const double *)a, y = *(const double *)b;
        return x < y ? -1 : x > y;
}

static int cmp_i64(const void *a, const void *b) {
        int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
        return x < y ? -1 : x > y;
}

/* Median of v (sorted in place); NAN when empty. */
static double median(double *v, size_t n) {
        if (!n)
                return NAN;
        qsort(v, n, sizeof(*v), cmp_double);
        return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Nearest-rank percentile of a sorted array. */
static int64_t percentile(const int64_t *sorted, size_t n, double p) {
        if (!n)
                return 0;
        size_t rank = (size_t)ceil(p * (double)n);
        return sorted[rank ? rank - 1 : 0];
}

/* ---- deterministic randomness and IDs ------------------------------------------------------ */

static uint64_t rng_next(uint64_t *s) {
        uint64_t z = (*s += UINT64_C(0x9e3779b97f4a7c15));
        z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
        z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
        return z ^ (z >> 31);
}

/* Uniform in [lo, hi]. */
static int rng_range(uint64_t *s, int lo, int hi) {
        return lo + (int)(rng_next(s) % (uint64_t)(hi - lo + 1));
}

/* A v4-shaped UUID drawn from the stream: the same seed gives the same IDs. */
static void uuid_from(uint64_t *s, char buf[ID_BUF]) {
        uint64_t a = rng_next(s), b = rng_next(s);
        snprintf(buf, ID_BUF, "%08" PRIx32 "-%04" PRIx32 "-4%03" PRIx32 "-%04" PRIx32 "-%012" PRIx64,
                 (uint32_t)(a >> 32), (uint32_t)(a >> 16) & 0xffff, (uint32_t)a & 0xfff,
                 ((uint32_t)(b >> 48) & 0x3fff) | 0x8000, b & UINT64_C(0xffffffffffff));
}

/* ---- workload ------------------------------------------------------------------------------ */

/* One job: a group of `count` allocations of one task. */
struct spec {
        enum job_type type;
        int count;
        int cpu, mem; /* per allocation */
        bool constrained;
};

/* 70% service / 30% batch, count 10..50, and three shapes so that cpu and memory both
 * bind somewhere (uniform asks make packing trivial): balanced, cpu-heavy, memory-heavy.
 * Every ask is under 40% of a node in each dimension. */
static struct spec spec_next(uint64_t *rng) {
        struct spec s = {.type = rng_range(rng, 0, 9) < 7 ? JOB_SERVICE : JOB_BATCH, .count = rng_range(rng, 10, 50)};
        switch (rng_range(rng, 0, 3)) {
        case 0:
        case 1: /* balanced: 100..1000 MHz, about 2 MB per MHz like the node */
                s.cpu = 50 * rng_range(rng, 2, 20);
                s.mem = s.cpu * rng_range(rng, 16, 24) / 10;
                break;
        case 2: /* cpu-heavy: 500..1500 MHz, 128..1024 MB */
                s.cpu = 50 * rng_range(rng, 10, 30);
                s.mem = 64 * rng_range(rng, 2, 16);
                break;
        default: /* memory-heavy: 100..500 MHz, 1024..3072 MB */
                s.cpu = 50 * rng_range(rng, 2, 10);
                s.mem = 128 * rng_range(rng, 8, 24);
                break;
        }
        s.constrained = rng_range(rng, 0, 1);
        return s;
}

/* Jobs from `seed` until target_cpu MHz is asked in all (the last job crosses it). The
 * sequence for a seed does not depend on the target: a smaller target gives a prefix. */
static struct spec *workload(uint64_t seed, int64_t target_cpu, size_t *ret_n) {
        uint64_t rng = seed;
        size_t n = 0, cap = 64;
        struct spec *v = xcalloc(cap, sizeof(*v));
        for (int64_t asked = 0; asked < target_cpu;) {
                if (n == cap) {
                        cap *= 2;
                        v = realloc(v, cap * sizeof(*v));
                        if (!v)
                                die_oom();
                }
                v[n] = spec_next(&rng);
                asked += (int64_t)v[n].count * v[n].cpu;
                n++;
        }
        *ret_n = n;
        return v;
}

/* ---- fixtures -------------------------------------------------------------------------------- */

/* Node i: 4000 MHz / 8192 MB, or with vary one of three shapes around it (round robin). */
static struct node *make_node(int i, uint64_t *rng, bool vary) {
        static const int64_t cpus[] = {4000, 3600, 4400}, mems[] = {8192, 7168, 9216};
        char id[ID_BUF], name[32];
        uuid_from(rng, id);
        snprintf(name, sizeof(name), "node-%05d", i);
        struct node *n = node_new();
        if (!n)
                die_oom();
        n->id = xstrdup(id);
        n->secret_id = xstrdup(id);
        n->name = xstrdup(name);
        n->datacenter = xstrdup(i % 2 ? "dc2" : "dc1");
        n->node_class = xstrdup("");
        n->node_pool = xstrdup("default");
        n->status = NODE_READY;
        n->eligible = true;
        n->cpu_shares = vary ? cpus[i % 3] : NODE_CPU;
        n->memory_mb = vary ? mems[i % 3] : NODE_MEM;
        n->disk_mb = NODE_DISK;
        n->total_cores = 4;
        n->drivers = xcalloc(1, sizeof(*n->drivers));
        n->drivers[0] = (struct node_driver){xstrdup("raw_exec"), true, true};
        n->n_drivers = 1;
        if (strmap_set(&n->attributes, "kernel.name", "linux") < 0 ||
            strmap_set(&n->attributes, "cpu.numcores", "4") < 0 ||
            strmap_set(&n->attributes, "unique.hostname", name) < 0)
                die_oom();
        node_compute_class(n);
        return n;
}

static struct job *make_job(const struct spec *s, size_t i) {
        char id[32];
        snprintf(id, sizeof(id), "%s-%05zu", s->type == JOB_BATCH ? "etl" : "web", i);
        struct job *j = job_new();
        if (!j)
                die_oom();
        j->id = xstrdup(id);
        j->type = s->type;
        j->groups = xcalloc(1, sizeof(*j->groups));
        j->n_groups = 1;
        struct task_group *g = &j->groups[0];
        g->name = xstrdup("g");
        g->count = s->count;
        g->tasks = xcalloc(1, sizeof(*g->tasks));
        g->n_tasks = 1;
        g->tasks[0].name = xstrdup("t");
        g->tasks[0].driver = xstrdup("raw_exec");
        if (s->constrained) { /* memoised per computed class, as in Nomad */
                j->constraints = xcalloc(1, sizeof(*j->constraints));
                j->constraints[0] = (struct constraint){xstrdup("${attr.kernel.name}"), xstrdup("linux"), xstrdup("=")};
                j->n_constraints = 1;
        }
        job_canonicalize(j);
        g->tasks[0].resources.cpu = s->cpu;
        g->tasks[0].resources.memory_mb = s->mem;
        g->tasks[0].resources.cpu_set = g->tasks[0].resources.memory_set = true;
        g->ephemeral_disk_mb = TASK_DISK;
        if (!j->name || !j->namespace || !j->n_datacenters)
                die_oom();
        return j;
}

static struct eval *make_eval(const struct job *j, uint64_t *rng) {
        char id[ID_BUF];
        uuid_from(rng, id);
        struct eval *e = eval_new();
        if (!e)
                die_oom();
        e->id = xstrdup(id);
        e->namespace = xstrdup(j->namespace);
        e->priority = j->priority;
        e->type = j->type;
        e->triggered_by = xstrdup("job-register");
        e->job_id = xstrdup(j->id);
        e->status = EVAL_PENDING;
        return e;
}

/* ---- the cluster: a live store and a planner that plays the leader --------------------------- */

struct cluster {
        struct state_store *live;
        uint64_t index;  /* stands in for the Raft index */
        uint64_t id_rng; /* eval and alloc IDs */
        int64_t total_cpu;
        int64_t submit_ns; /* time spent in submit_plan (plan applier and refresh) */
        int64_t write_ns;  /* time spent writing evals (update_eval, create_eval) */
        size_t placed;     /* placements committed */
        size_t partial, evals_failed;
        enum sched_algorithm algorithm;
        const struct sched_preemption *preemption; /* NULL: defaults */
        enum eval_status last_status;
        struct error err;
};

static int cl_submit(void *data, struct plan *plan, struct plan_result **ret_result,
                     struct state_store **ret_new_snapshot, struct error *err) {
        struct cluster *cl = data;
        int64_t t0 = clock_monotonic_ns();
        struct plan_result *r = NULL;
        int rc = plan_evaluate(cl->live, plan, &r, err);
        if (rc < 0)
                return rc;
        if (!plan_result_is_noop(r)) {
                rc = plan_result_apply(cl->live, ++cl->index, r);
                if (rc < 0) {
                        plan_result_free(r);
                        return errorf(err, rc, "plan apply: %s", strerror(-rc));
                }
                plan_result_set_alloc_index(r, cl->index);
                cl->placed += plan_result_count_place(r);
        }
        struct state_store *fresh = NULL;
        if (plan_result_refresh_index(r)) {
                cl->partial++;
                fresh = state_snapshot(cl->live);
                if (!fresh) {
                        plan_result_free(r);
                        return errorf(err, -ENOMEM, "plan apply: snapshot: out of memory");
                }
        }
        *ret_result = r;
        *ret_new_snapshot = fresh;
        cl->submit_ns += clock_monotonic_ns() - t0;
        return 0;
}

static int cl_write_eval(struct cluster *cl, const struct eval *ev) {
        int64_t t0 = clock_monotonic_ns();
        struct eval *c = eval_copy(ev); /* the store sets indexes in place: never hand it a shared object */
        if (!c)
                return -ENOMEM;
        int r = state_upsert_evals(cl->live, ++cl->index, &c, 1);
        eval_unref(c);
        cl->write_ns += clock_monotonic_ns() - t0;
        return r;
}

static int cl_update_eval(void *data, const struct eval *ev) {
        struct cluster *cl = data;
        cl->last_status = ev->status;
        return cl_write_eval(cl, ev);
}

static int cl_create_eval(void *data, const struct eval *ev) {
        return cl_write_eval(data, ev); /* the blocked eval of placements that did not fit */
}

static const struct planner_ops cluster_ops = {
    .submit_plan = cl_submit,
    .update_eval = cl_update_eval,
    .create_eval = cl_create_eval,
};

static void cl_gen_id(void *data, char buf[ID_BUF]) {
        uuid_from(data, buf);
}

static struct cluster *cluster_destroy(struct cluster *cl) {
        if (!cl)
                return NULL;
        state_destroy(cl->live);
        free(cl);
        return NULL;
}

static struct cluster *cluster_create(int nodes, bool vary, uint64_t seed) {
        struct cluster *cl = xcalloc(1, sizeof(*cl));
        cl->live = state_create();
        if (!cl->live)
                die_oom();
        cl->index = 1;
        cl->id_rng = seed ^ UINT64_C(0xa110c8ed);
        uint64_t node_rng = seed;
        for (int i = 0; i < nodes; i++) {
                struct node *n = make_node(i, &node_rng, vary);
                cl->total_cpu += n->cpu_shares;
                int r = state_upsert_node(cl->live, ++cl->index, n);
                node_unref(n);
                if (r < 0) {
                        fprintf(stderr, "sched: upsert node %d: %s\n", i, strerror(-r));
                        exit(2);
                }
        }
        return cl;
}

/* Register j and write its eval, as the leader's FSM does for a job-register request. */
static int register_job(struct cluster *cl, struct job *j, struct eval *ev) {
        int r = state_upsert_job(cl->live, ++cl->index, j);
        if (r < 0)
                return errorf(&cl->err, r, "job %s: register: %s", j->id, strerror(-r));
        const struct job *stored = state_job_get(cl->live, j->namespace, j->id);
        ev->job_modify_index = stored ? stored->job_modify_index : 0;
        r = state_upsert_evals(cl->live, ++cl->index, &ev, 1);
        if (r < 0)
                return errorf(&cl->err, r, "job %s: create eval: %s", j->id, strerror(-r));
        return 0;
}

/* Process ev as a worker would, on snap (borrowed; NULL: a snapshot of the live store
 * taken now and released after). *ret_eval_ns: the whole of it, plan applier included.
 * An eval that ends other than complete (max plan attempts) is counted, not an error. */
static int process_eval(struct cluster *cl, const struct state_store *snap, struct eval *ev, int64_t *ret_eval_ns) {
        const struct scheduler_env env = {.gen_id = cl_gen_id, .id_data = &cl->id_rng, .algorithm = cl->algorithm, .preemption = cl->preemption};
        int64_t t0 = clock_monotonic_ns();
        struct state_store *own = NULL;
        if (!snap && !(snap = own = state_snapshot(cl->live)))
                return errorf(&cl->err, -ENOMEM, "eval %s: snapshot: out of memory", ev->id);
        cl->last_status = EVAL_PENDING;
        int r = scheduler_process_env(snap, ev, &cluster_ops, cl, &env, &cl->err);
        state_destroy(own);
        *ret_eval_ns = clock_monotonic_ns() - t0;
        if (r < 0)
                return error_prefix(&cl->err, "job %s", ev->job_id);
        if (cl->last_status == EVAL_PENDING)
                return errorf(&cl->err, -EPROTO, "job %s: eval %s was never updated", ev->job_id, ev->id);
        cl->evals_failed += cl->last_status != EVAL_COMPLETE;
        return 0;
}

static int run_job(struct cluster *cl, struct job *j, struct eval *ev, int64_t *ret_eval_ns) {
        int r = register_job(cl, j, ev);
        return r < 0 ? r : process_eval(cl, NULL, ev, ret_eval_ns);
}

/* ---- correctness -------------------------------------------------------------------------------- */

struct verify {
        const struct state_store *st;
        size_t nodes_used, allocs;
        int64_t cpu, mem;
        int violations;
};

static void violation(struct verify *v, const char *fmt, const char *a, int64_t x, int64_t y) {
        if (v->violations++ < MAX_REPORTED) {
                fputs("sched: VIOLATION: ", stderr);
                fprintf(stderr, fmt, a, x, y);
                fputc('\n', stderr);
        }
}

static bool verify_node(void *arg, const struct node *n) {
        struct verify *v = arg;
        size_t k;
        struct alloc *const *list = state_allocs_by_node(v->st, n->id, &k);
        int64_t cpu = 0, mem = 0, disk = 0;
        size_t live = 0;
        for (size_t i = 0; i < k; i++) {
                if (alloc_terminal(list[i]))
                        continue;
                live++;
                cpu += list[i]->resources.cpu;
                mem += list[i]->resources.memory_mb;
                disk += list[i]->resources.disk_mb;
        }
        if (cpu > n->cpu_shares - n->reserved_cpu)
                violation(v, "node %s over-committed: cpu %" PRId64 " > %" PRId64, n->name, cpu,
                          n->cpu_shares - n->reserved_cpu);
        if (mem > n->memory_mb - n->reserved_memory_mb)
                violation(v, "node %s over-committed: memory %" PRId64 " > %" PRId64, n->name, mem,
                          n->memory_mb - n->reserved_memory_mb);
        if (disk > n->disk_mb - n->reserved_disk_mb)
                violation(v, "node %s over-committed: disk %" PRId64 " > %" PRId64, n->name, disk,
                          n->disk_mb - n->reserved_disk_mb);
        v->nodes_used += live > 0;
        v->allocs += k;
        v->cpu += cpu;
        v->mem += mem;
        return true;
}

/* Each group: at most count live allocations, with distinct indexes in [0, count). */
static bool verify_job(void *arg, const struct job *j) {
        struct verify *v = arg;
        size_t k;
        struct alloc *const *list = state_allocs_by_job(v->st, j->namespace, j->id, &k);
        for (size_t g = 0; g < j->n_groups; g++) {
                const struct task_group *tg = &j->groups[g];
                _cleanup_free_ bool *seen = xcalloc((size_t)tg->count + 1, sizeof(*seen));
                int64_t live = 0;
                for (size_t i = 0; i < k; i++) {
                        const struct alloc *a = list[i];
                        if (alloc_terminal(a) || !a->task_group || strcmp(a->task_group, tg->name) != 0)
                                continue;
                        live++;
                        int idx = alloc_name_index(a);
                        if (idx < 0 || idx >= tg->count || seen[idx])
                                violation(v,
                                          "job %s: alloc index %" PRId64 " out of range or twice (count %" PRId64 ")",
                                          j->id, idx, tg->count);
                        else
                                seen[idx] = true;
                }
                if (live > tg->count)
                        violation(v, "job %s: %" PRId64 " live allocations for count %" PRId64, j->id, live, tg->count);
        }
        return true;
}

static void verify_store(const struct state_store *st, struct verify *ret) {
        *ret = (struct verify){.st = st};
        state_nodes_foreach(st, verify_node, ret);
        state_jobs_foreach(st, NULL, verify_job, ret);
        size_t total = state_count(st, STATE_TABLE_ALLOCS);
        if (ret->allocs != total)
                violation(ret, "%s: %" PRId64 " allocations are on no known node (of %" PRId64 ")", "store",
                          (int64_t)(total - ret->allocs), (int64_t)total);
}

/* ---- throughput --------------------------------------------------------------------------------- */

struct tp_run {
        size_t jobs, placed, unplaced, partial, evals_failed;
        double wall_s, eval_s;    /* the whole loop; the evals alone */
        double apply_s, decide_s; /* plan applier; eval time less the applier and eval writes */
        int64_t p50_ns, p99_ns, max_ns;
        int violations;
};

static int throughput_run(int nodes, double fill, int workers, uint64_t seed, struct tp_run *ret) {
        struct cluster *cl = cluster_create(nodes, true, seed);
        size_t n;
        _cleanup_free_ struct spec *specs = workload(seed + 1, (int64_t)(fill * (double)cl->total_cpu), &n);
        _cleanup_free_ struct job **jobs = xcalloc(n, sizeof(*jobs));
        _cleanup_free_ struct eval **evals = xcalloc(n, sizeof(*evals));
        _cleanup_free_ int64_t *lat = xcalloc(n, sizeof(*lat));
        size_t asked = 0;
        for (size_t i = 0; i < n; i++) { /* client-side work, outside the clock */
                jobs[i] = make_job(&specs[i], i);
                evals[i] = make_eval(jobs[i], &cl->id_rng);
                asked += (size_t)specs[i].count;
        }
        int r = 0;
        int64_t t0 = clock_monotonic_ns();
        if (workers == 1) {
                for (size_t i = 0; i < n && r == 0; i++)
                        r = run_job(cl, jobs[i], evals[i], &lat[i]);
        } else {
                /* `workers` evals scheduled on one snapshot, as concurrent workers would see
                 * it; their plans reach the applier one after the other, so all but the
                 * first may meet nodes that filled up meanwhile (partial commits). */
                for (size_t i = 0; i < n && r == 0; i += (size_t)workers) {
                        size_t end = i + (size_t)workers < n ? i + (size_t)workers : n;
                        for (size_t k = i; k < end && r == 0; k++)
                                r = register_job(cl, jobs[k], evals[k]);
                        struct state_store *snap = r == 0 ? state_snapshot(cl->live) : NULL;
                        if (r == 0 && !snap)
                                r = errorf(&cl->err, -ENOMEM, "snapshot: out of memory");
                        for (size_t k = i; k < end && r == 0; k++)
                                r = process_eval(cl, snap, evals[k], &lat[k]);
                        state_destroy(snap);
                }
        }
        int64_t wall = clock_monotonic_ns() - t0;
        if (r < 0)
                fprintf(stderr, "sched: %d nodes: %s\n", nodes, cl->err.msg);
        int64_t eval_total = 0;
        for (size_t i = 0; i < n; i++)
                eval_total += lat[i];
        qsort(lat, n, sizeof(*lat), cmp_i64);
        struct verify v;
        verify_store(cl->live, &v);
        *ret = (struct tp_run){
            .jobs = n,
            .placed = cl->placed,
            .unplaced = asked > cl->placed ? asked - cl->placed : 0,
            .partial = cl->partial,
            .evals_failed = cl->evals_failed,
            .wall_s = (double)wall / 1e9,
            .eval_s = (double)eval_total / 1e9,
            .decide_s = (double)(eval_total - cl->submit_ns - cl->write_ns) / 1e9,
            .apply_s = (double)cl->submit_ns / 1e9,
            .p50_ns = percentile(lat, n, 0.50),
            .p99_ns = percentile(lat, n, 0.99),
            .max_ns = lat[n - 1],
            .violations = v.violations,
        };
        if (v.allocs != cl->placed) {
                fprintf(stderr, "sched: VIOLATION: %zu placements committed, %zu allocations in the store\n",
                        cl->placed, v.allocs);
                ret->violations++;
        }
        for (size_t i = 0; i < n; i++) {
                job_unref(jobs[i]);
                eval_unref(evals[i]);
        }
        cluster_destroy(cl);
        return r;
}

struct tp_summary {
        int nodes, workers;
        double fill;
        size_t jobs, placed, unplaced, partial, evals_failed;
        double place_per_s, place_min, place_max, decide_per_s, apply_share, p50_us, p99_us, max_us;
};

static int throughput(int nodes, int runs, double fill, int workers, uint64_t seed, struct tp_summary *ret,
                      int *violations) {
        double place[MAX_RUNS], decide[MAX_RUNS], share[MAX_RUNS], p50[MAX_RUNS], p99[MAX_RUNS], mx[MAX_RUNS];
        struct tp_run tr = {0};
        double lo = INFINITY, hi = 0;
        /* One untimed run first: page faults of a fresh heap, cold caches. */
        int r = throughput_run(nodes, fill, workers, seed, &tr);
        *violations += tr.violations;
        for (int k = 0; k < runs && r == 0; k++) {
                r = throughput_run(nodes, fill, workers, seed, &tr);
                *violations += tr.violations;
                place[k] = (double)tr.placed / tr.wall_s;
                lo = place[k] < lo ? place[k] : lo;
                hi = place[k] > hi ? place[k] : hi;
                decide[k] = tr.decide_s > 0 ? (double)tr.placed / tr.decide_s : 0;
                share[k] = tr.eval_s > 0 ? tr.apply_s / tr.eval_s : 0;
                p50[k] = (double)tr.p50_ns / 1e3;
                p99[k] = (double)tr.p99_ns / 1e3;
                mx[k] = (double)tr.max_ns / 1e3;
        }
        *ret = (struct tp_summary){
            .nodes = nodes,
            .workers = workers,
            .fill = fill,
            .jobs = tr.jobs, /* the workload is the same in every run */
            .placed = tr.placed,
            .unplaced = tr.unplaced,
            .partial = tr.partial,
            .evals_failed = tr.evals_failed,
            .place_per_s = median(place, (size_t)runs),
            .place_min = lo,
            .place_max = hi,
            .decide_per_s = median(decide, (size_t)runs),
            .apply_share = median(share, (size_t)runs),
            .p50_us = median(p50, (size_t)runs),
            .p99_us = median(p99, (size_t)runs),
            .max_us = median(mx, (size_t)runs),
        };
        return r;
}

/* ---- packing ------------------------------------------------------------------------------------- */

enum placer { PLACER_DROVER, PLACER_BESTFIT, PLACER_RANDOM, PLACER_WORSTFIT, PLACER_COUNT };
static const char *const placer_names[PLACER_COUNT] = {"drover", "best-fit", "random-fit", "worst-fit"};

enum stage { STAGE_PART, STAGE_FULL, STAGE_COUNT };

struct pack_out {
        size_t nodes_used, lb, placed;
        int64_t cpu, mem;
        bool failed; /* stopped at a placement failure (else at the target) */
};

static size_t ceil_div(int64_t a, int64_t b) {
        return (size_t)((a + b - 1) / b);
}

/* The volume bound for identical nodes: max over dimensions of ceil(sum asked / capacity). */
static size_t lower_bound(int64_t cpu, int64_t mem) {
        size_t a = ceil_div(cpu, NODE_CPU), b = ceil_div(mem, NODE_MEM);
        return a > b ? a : b;
}

/* How many jobs of specs make up `target` MHz (the first that reaches it included). */
static size_t jobs_for(const struct spec *specs, size_t n, int64_t target) {
        int64_t asked = 0;
        for (size_t i = 0; i < n; i++) {
                asked += (int64_t)specs[i].count * specs[i].cpu;
                if (asked >= target)
                        return i + 1;
        }
        return n;
}

/* drover: the real scheduler on identical nodes; stops after the first job not fully placed. */
static int pack_drover(int nodes, const struct spec *specs, size_t n, const size_t stop_at[STAGE_COUNT], uint64_t seed,
                       struct pack_out out[STAGE_COUNT], int *violations) {
        struct cluster *cl = cluster_create(nodes, false, seed);
        int r = 0;
        bool failed = false;
        size_t i = 0;
        for (int s = 0; s < STAGE_COUNT && r == 0; s++) {
                for (; i < stop_at[s] && !failed && r == 0; i++) {
                        struct job *j = make_job(&specs[i], i);
                        struct eval *e = make_eval(j, &cl->id_rng);
                        size_t before = cl->placed;
                        int64_t ns;
                        r = run_job(cl, j, e, &ns);
                        failed = cl->placed - before < (size_t)specs[i].count;
                        job_unref(j);
                        eval_unref(e);
                }
                struct verify v;
                verify_store(cl->live, &v);
                *violations += v.violations;
                out[s] = (struct pack_out){.nodes_used = v.nodes_used,
                                           .lb = lower_bound(v.cpu, v.mem),
                                           .placed = v.allocs,
                                           .cpu = v.cpu,
                                           .mem = v.mem,
                                           .failed = failed};
        }
        if (r < 0)
                fprintf(stderr, "sched: packing: %s\n", cl->err.msg);
        cluster_destroy(cl);
        return r;
}

struct usage {
        int64_t cpu, mem, disk;
};

static bool fits(const struct usage *u, const struct spec *s) {
        return u->cpu + s->cpu <= NODE_CPU && u->mem + s->mem <= NODE_MEM && u->disk + TASK_DISK <= NODE_DISK;
}

/* Nomad's ScoreFitSpread before normalising: larger when more stays free. */
static double spread_score(const struct usage *u, const struct spec *s) {
        double free_cpu = 1.0 - (double)(u->cpu + s->cpu) / NODE_CPU;
        double free_mem = 1.0 - (double)(u->mem + s->mem) / NODE_MEM;
        return pow(10, free_cpu) + pow(10, free_mem);
}

/* The node a baseline placer picks for s, or -1 when none fits. Every feasible node is
 * looked at (no sampling limit), and there is no job anti-affinity. */
static int baseline_pick(enum placer p, const struct usage *u, int nodes, const struct spec *s, uint64_t *rng) {
        int best = -1, feasible = 0;
        double best_score = -INFINITY;
        for (int i = 0; i < nodes; i++) {
                if (!fits(&u[i], s))
                        continue;
                feasible++;
                double score;
                if (p == PLACER_BESTFIT)
                        score = sched_binpack_score(NODE_CPU, NODE_MEM, u[i].cpu + s->cpu, u[i].mem + s->mem);
                else if (p == PLACER_WORSTFIT)
                        score = spread_score(&u[i], s);
                else
                        continue;
                if (score > best_score) {
                        best_score = score;
                        best = i;
                }
        }
        if (p != PLACER_RANDOM || feasible == 0)
                return best;
        int k = (int)(rng_next(rng) % (uint64_t)feasible);
        for (int i = 0; i < nodes; i++)
                if (fits(&u[i], s) && k-- == 0)
                        return i;
        return -1;
}

static void baseline_out(const struct usage *u, int nodes, bool failed, struct pack_out *ret) {
        *ret = (struct pack_out){.failed = failed};
        for (int i = 0; i < nodes; i++) {
                ret->nodes_used += u[i].cpu > 0;
                ret->cpu += u[i].cpu;
                ret->mem += u[i].mem;
        }
        ret->lb = lower_bound(ret->cpu, ret->mem);
}

static void pack_baseline(enum placer p, int nodes, const struct spec *specs, const size_t stop_at[STAGE_COUNT],
                          uint64_t seed, struct pack_out out[STAGE_COUNT]) {
        _cleanup_free_ struct usage *u = xcalloc((size_t)nodes, sizeof(*u));
        uint64_t rng = seed;
        bool failed = false;
        size_t i = 0, placed = 0;
        for (int s = 0; s < STAGE_COUNT; s++) {
                for (; i < stop_at[s] && !failed; i++)
                        for (int k = 0; k < specs[i].count && !failed; k++) {
                                int at = baseline_pick(p, u, nodes, &specs[i], &rng);
                                if (at < 0) {
                                        failed = true;
                                        break;
                                }
                                u[at].cpu += specs[i].cpu;
                                u[at].mem += specs[i].mem;
                                u[at].disk += TASK_DISK;
                                placed++;
                        }
                baseline_out(u, nodes, failed, &out[s]);
                out[s].placed = placed;
        }
}

struct pack_summary {
        double used[PLACER_COUNT], lb[PLACER_COUNT], ratio[PLACER_COUNT], cpu_pct[PLACER_COUNT], mem_pct[PLACER_COUNT];
        double fewer_pct[PLACER_COUNT]; /* drover's nodes used, % fewer than this placer's */
        int failed[PLACER_COUNT];       /* seeds that stopped at a failure */
};

static int packing(int nodes, int seeds, double part_fill, uint64_t seed, struct pack_summary ret[STAGE_COUNT],
                   int *violations) {
        double v[STAGE_COUNT][PLACER_COUNT][6][MAX_SEEDS]; /* figure x seed */
        const int64_t cluster_cpu = (int64_t)nodes * NODE_CPU;
        int r = 0;
        memset(ret, 0, STAGE_COUNT * sizeof(*ret));
        for (int k = 0; k < seeds && r == 0; k++) {
                uint64_t s = seed + 1000 * (uint64_t)(k + 1);
                size_t n;
                _cleanup_free_ struct spec *specs = workload(s, (int64_t)(PACK_CAP * (double)cluster_cpu), &n);
                size_t stop_at[STAGE_COUNT] = {jobs_for(specs, n, (int64_t)(part_fill * (double)cluster_cpu)), n};
                struct pack_out out[PLACER_COUNT][STAGE_COUNT];
                r = pack_drover(nodes, specs, n, stop_at, s, out[PLACER_DROVER], violations);
                for (int p = PLACER_BESTFIT; p < PLACER_COUNT; p++)
                        pack_baseline((enum placer)p, nodes, specs, stop_at, s + 7, out[p]);
                for (int st = 0; st < STAGE_COUNT; st++)
                        for (int p = 0; p < PLACER_COUNT; p++) {
                                const struct pack_out *o = &out[p][st];
                                double used = (double)o->nodes_used, drover = (double)out[PLACER_DROVER][st].nodes_used;
                                v[st][p][0][k] = used;
                                v[st][p][1][k] = (double)o->lb;
                                v[st][p][2][k] = o->lb ? used / (double)o->lb : NAN;
                                v[st][p][3][k] = 100.0 * (double)o->cpu / (double)cluster_cpu;
                                v[st][p][4][k] = 100.0 * (double)o->mem / ((double)nodes * NODE_MEM);
                                v[st][p][5][k] = used > 0 ? 100.0 * (used - drover) / used : NAN;
                                ret[st].failed[p] += o->failed;
                        }
        }
        for (int st = 0; st < STAGE_COUNT; st++)
                for (int p = 0; p < PLACER_COUNT; p++) {
                        ret[st].used[p] = median(v[st][p][0], (size_t)seeds);
                        ret[st].lb[p] = median(v[st][p][1], (size_t)seeds);
                        ret[st].ratio[p] = median(v[st][p][2], (size_t)seeds);
                        ret[st].cpu_pct[p] = median(v[st][p][3], (size_t)seeds);
                        ret[st].mem_pct[p] = median(v[st][p][4], (size_t)seeds);
                        ret[st].fewer_pct[p] = median(v[st][p][5], (size_t)seeds);
                }
        return r;
}

/* ---- options ------------------------------------------------------------------------------------- */

struct opts {
        int sizes[MAX_SIZES];
        size_t n_sizes;
        int runs;
        double fill;
        int pack_nodes;
        int pack_seeds;
        double pack_fill;
        int workers;
        int contend_nodes;
        double contend_fill;
        uint64_t seed;
        int big_groups, big_count; /* --big-job GxC: one job of G groups of count C (0: skipped) */
        int big_nodes;
        const char *scenario; /* NULL: the classic runs; c1m, mixed, preempt or all */
        double scale;         /* c1m's jobs and nodes */
        int scen_nodes;       /* mixed and preempt */
};

static void usage(FILE *f) {
        fputs("usage: sched [--nodes 100,1000,5000] [--runs 5] [--fill 0.5]\n"
              "             [--workers 4] [--contend-nodes 1000] [--contend-fill 0.85]\n"
              "             [--pack-nodes 1000] [--pack-seeds 5] [--pack-fill 0.5] [--seed 1]\n"
              "             [--big-job 10000x10] [--big-nodes 5000]\n"
              "  --nodes         cluster sizes for the throughput runs (comma-separated)\n"
              "  --runs          timed runs per size; figures are medians (0 skips the timed runs)\n"
              "  --fill          register jobs until this share of cluster cpu is asked (0 < f <= 0.9)\n"
              "  --workers       evals scheduled on one snapshot in the contention run (1 skips it)\n"
              "  --contend-nodes nodes in the contention run\n"
              "  --contend-fill  as --fill, for the contention run\n"
              "  --pack-nodes    identical nodes in the packing runs\n"
              "  --pack-seeds    workload seeds for packing; figures are medians (0 skips packing)\n"
              "  --pack-fill     share of cluster cpu asked at the first packing stage (0 < f < 0.9)\n"
              "  --seed          base seed of every workload\n"
              "  --big-job GxC   also: one job of G groups of count C (small asks) on --big-nodes nodes:\n"
              "                  validation and scheduling time, to show cost linear in the job's size\n"
              "  --big-nodes     nodes for --big-job (5000)\n"
              "  --scenario S    run only scenario S: c1m, mixed, preempt or all (through the eval broker,\n"
              "                  --workers workers; name=value figures per scenario)\n"
              "  --scale F       c1m's size: F x (5,000 nodes, 1,000 jobs x count 1,000) (default 1)\n"
              "  --scen-nodes N  nodes of the mixed and preempt scenarios (1000)\n",
              f);
}

static int parse_int(const char *s, long lo, long hi, long *ret) {
        char *end;
        errno = 0;
        long v = strtol(s, &end, 10);
        if (errno || end == s || *end || v < lo || v > hi)
                return -EINVAL;
        *ret = v;
        return 0;
}

static int parse_frac(const char *s, double lo, double hi, double *ret) {
        char *end;
        errno = 0;
        double v = strtod(s, &end);
        if (errno || end == s || *end || !(v > lo && v <= hi))
                return -EINVAL;
        *ret = v;
        return 0;
}

static int parse_sizes(const char *s, struct opts *o) {
        _cleanup_free_ char *copy = xstrdup(s);
        char *save = NULL;
        o->n_sizes = 0;
        for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
                long v;
                if (o->n_sizes == MAX_SIZES || parse_int(t, 1, 1000000, &v) < 0)
                        return -EINVAL;
                o->sizes[o->n_sizes++] = (int)v;
        }
        return o->n_sizes ? 0 : -EINVAL;
}

static int parse_opts(int argc, char **argv, struct opts *o) {
        static const struct option longopts[] = {
            {"nodes", required_argument, NULL, 'n'},        {"runs", required_argument, NULL, 'r'},
            {"fill", required_argument, NULL, 'f'},         {"pack-nodes", required_argument, NULL, 'N'},
            {"pack-seeds", required_argument, NULL, 'S'},   {"pack-fill", required_argument, NULL, 'F'},
            {"seed", required_argument, NULL, 's'},         {"help", no_argument, NULL, 'h'},
            {"workers", required_argument, NULL, 'w'},      {"contend-nodes", required_argument, NULL, 'C'},
            {"contend-fill", required_argument, NULL, 'c'}, {"big-job", required_argument, NULL, 'B'},
            {"big-nodes", required_argument, NULL, 'b'},    {"scenario", required_argument, NULL, 'X'},
            {"scale", required_argument, NULL, 'x'},        {"scen-nodes", required_argument, NULL, 'Y'},
            {NULL, 0, NULL, 0},
        };
        *o = (struct opts){.sizes = {100, 1000, 5000},
                           .n_sizes = 3,
                           .runs = 5,
                           .fill = 0.5,
                           .pack_nodes = 1000,
                           .pack_seeds = 5,
                           .pack_fill = 0.5,
                           .workers = 4,
                           .contend_nodes = 1000,
                           .contend_fill = 0.85,
                           .big_nodes = 5000,
                           .scale = 1,
                           .scen_nodes = 1000,
                           .seed = 1};
        int c;
        long v;
        while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
                int r = 0;
                switch (c) {
                case 'n':
                        if ((r = parse_sizes(optarg, o)) < 0)
                                fprintf(stderr,
                                        "sched: --nodes: want sizes 1..1000000 separated by commas, at most %d "
                                        "(got \"%s\")\n",
                                        MAX_SIZES, optarg);
                        break;
                case 'r':
                        if ((r = parse_int(optarg, 0, MAX_RUNS, &v)) < 0)
                                fprintf(stderr, "sched: --runs: want 0..%d (got \"%s\")\n", MAX_RUNS, optarg);
                        o->runs = (int)v;
                        break;
                case 'f':
                        if ((r = parse_frac(optarg, 0, PACK_CAP, &o->fill)) < 0)
                                fprintf(stderr, "sched: --fill: want 0 < f <= %.2f (got \"%s\")\n", PACK_CAP, optarg);
                        break;
                case 'N':
                        if ((r = parse_int(optarg, 1, 1000000, &v)) < 0)
                                fprintf(stderr, "sched: --pack-nodes: want 1..1000000 (got \"%s\")\n", optarg);
                        o->pack_nodes = (int)v;
                        break;
                case 'S':
                        if ((r = parse_int(optarg, 0, MAX_SEEDS, &v)) < 0)
                                fprintf(stderr, "sched: --pack-seeds: want 0..%d (got \"%s\")\n", MAX_SEEDS, optarg);
                        o->pack_seeds = (int)v;
                        break;
                case 'F':
                        r = parse_frac(optarg, 0, PACK_CAP, &o->pack_fill);
                        if (r == 0 && o->pack_fill >= PACK_CAP) /* the full stage must go further */
                                r = -EINVAL;
                        if (r < 0)
                                fprintf(stderr, "sched: --pack-fill: want 0 < f < %.2f (got \"%s\")\n", PACK_CAP,
                                        optarg);
                        break;
                case 's':
                        if ((r = parse_int(optarg, 0, 1000000000L, &v)) < 0)
                                fprintf(stderr, "sched: --seed: want 0..1000000000 (got \"%s\")\n", optarg);
                        o->seed = (uint64_t)v;
                        break;
                case 'w':
                        if ((r = parse_int(optarg, 1, 64, &v)) < 0)
                                fprintf(stderr, "sched: --workers: want 1..64 (got \"%s\")\n", optarg);
                        o->workers = (int)v;
                        break;
                case 'C':
                        if ((r = parse_int(optarg, 1, 1000000, &v)) < 0)
                                fprintf(stderr, "sched: --contend-nodes: want 1..1000000 (got \"%s\")\n", optarg);
                        o->contend_nodes = (int)v;
                        break;
                case 'c':
                        if ((r = parse_frac(optarg, 0, PACK_CAP, &o->contend_fill)) < 0)
                                fprintf(stderr, "sched: --contend-fill: want 0 < f <= %.2f (got \"%s\")\n", PACK_CAP,
                                        optarg);
                        break;
                case 'B':
                        if (sscanf(optarg, "%dx%d", &o->big_groups, &o->big_count) != 2 || o->big_groups < 1 ||
                            o->big_groups > JOB_MAX_GROUPS || o->big_count < 0 || o->big_count > JOB_MAX_COUNT) {
                                fprintf(stderr, "sched: --big-job: want GROUPSxCOUNT within the job limits (got \"%s\")\n",
                                        optarg);
                                r = -EINVAL;
                        }
                        break;
                case 'b':
                        if ((r = parse_int(optarg, 1, 1000000, &v)) < 0)
                                fprintf(stderr, "sched: --big-nodes: want 1..1000000 (got \"%s\")\n", optarg);
                        o->big_nodes = (int)v;
                        break;
                case 'X':
                        if (strcmp(optarg, "c1m") && strcmp(optarg, "mixed") && strcmp(optarg, "preempt") &&
                            strcmp(optarg, "all")) {
                                fprintf(stderr, "sched: --scenario: want c1m, mixed, preempt or all (got \"%s\")\n",
                                        optarg);
                                r = -EINVAL;
                        }
                        o->scenario = optarg;
                        break;
                case 'x':
                        if ((r = parse_frac(optarg, 0, 10, &o->scale)) < 0)
                                fprintf(stderr, "sched: --scale: want 0 < f <= 10 (got \"%s\")\n", optarg);
                        break;
                case 'Y':
                        if ((r = parse_int(optarg, 10, 1000000, &v)) < 0)
                                fprintf(stderr, "sched: --scen-nodes: want 10..1000000 (got \"%s\")\n", optarg);
                        o->scen_nodes = (int)v;
                        break;
                case 'h':
                        usage(stdout);
                        exit(0);
                default:
                        r = -EINVAL;
                }
                if (r < 0)
                        return r;
        }
        if (optind < argc) {
                fprintf(stderr, "sched: unexpected argument \"%s\"\n", argv[optind]);
                return -EINVAL;
        }
        return 0;
}

/* ---- one big job: cost linear in its size ----------------------------------------------------------- */

struct big_out {
        double validate_s, schedule_s;
        size_t placed;
};

static int big_job(int nodes, int groups, int count, uint64_t seed, struct big_out *ret, int *violations) {
        struct cluster *cl = cluster_create(nodes, false, seed);
        struct job *j = job_new();
        if (!j)
                die_oom();
        j->id = xstrdup("big");
        j->type = JOB_SERVICE;
        j->groups = xcalloc((size_t)groups, sizeof(*j->groups));
        j->n_groups = (size_t)groups;
        for (int g = 0; g < groups; g++) {
                char name[32];
                snprintf(name, sizeof(name), "g%05d", g);
                struct task_group *tg = &j->groups[g];
                tg->name = xstrdup(name);
                tg->count = count;
                tg->tasks = xcalloc(1, sizeof(*tg->tasks));
                tg->n_tasks = 1;
                tg->tasks[0].name = xstrdup("t");
                tg->tasks[0].driver = xstrdup("raw_exec");
                tg->tasks[0].config = json_pack("{s:s}", "command", "/bin/true");
        }
        job_canonicalize(j);
        for (int g = 0; g < groups; g++) {
                j->groups[g].tasks[0].resources.cpu = 20;
                j->groups[g].tasks[0].resources.memory_mb = 16;
                j->groups[g].ephemeral_disk_mb = 10;
        }
        struct error err = {0};
        int64_t t0 = clock_monotonic_ns();
        int r = job_validate(j, &err);
        int64_t t1 = clock_monotonic_ns();
        if (r < 0) {
                fprintf(stderr, "sched: big job: %s\n", err.msg);
                job_unref(j);
                cluster_destroy(cl);
                return r;
        }
        struct eval *ev = make_eval(j, &cl->id_rng);
        int64_t eval_ns = 0;
        r = run_job(cl, j, ev, &eval_ns);
        eval_unref(ev);
        job_unref(j);
        if (r < 0) {
                fprintf(stderr, "sched: big job: %s\n", cl->err.msg);
                cluster_destroy(cl);
                return r;
        }
        struct verify v;
        verify_store(cl->live, &v);
        *violations += v.violations;
        *ret = (struct big_out){(double)(t1 - t0) / 1e9, (double)eval_ns / 1e9, cl->placed};
        cluster_destroy(cl);
        return 0;
}

/* ---- report --------------------------------------------------------------------------------------- */

static void tp_header(void) {
        printf("  %6s %5s %7s %9s %15s %9s %7s %9s %9s %9s\n", "nodes", "jobs", "placed", "place/s", "(min-max)",
               "decide/s", "apply%", "eval p50", "eval p99", "eval max");
}

static void tp_row(const struct tp_summary *t) {
        char range[32];
        snprintf(range, sizeof(range), "(%.0f-%.0f)", t->place_min, t->place_max);
        printf("  %6d %5zu %7zu %9.0f %15s %9.0f %6.0f%% %7.2fms %7.2fms %7.2fms\n", t->nodes, t->jobs, t->placed,
               t->place_per_s, range, t->decide_per_s, 100 * t->apply_share, t->p50_us / 1e3, t->p99_us / 1e3,
               t->max_us / 1e3);
}

static void tp_notes(const struct tp_summary *t) {
        if (t->unplaced || t->partial || t->evals_failed)
                printf("  note: %d nodes, %d worker%s: %zu partial commits, %zu evals failed (max plan attempts), "
                       "%zu placements not made\n",
                       t->nodes, t->workers, t->workers == 1 ? "" : "s", t->partial, t->evals_failed, t->unplaced);
}

static void report_throughput(const struct opts *o, const struct tp_summary *t, size_t n) {
        printf("\nThroughput: jobs registered one at a time until %.0f%% of cluster cpu is asked; each eval\n"
               "scheduled on a fresh snapshot, its plan checked and applied to the store. Median of %d runs.\n",
               o->fill * 100, o->runs);
        tp_header();
        for (size_t i = 0; i < n; i++)
                tp_row(&t[i]);
        printf("  place/s: placements committed per second of wall time (job and eval writes included).\n"
               "  decide/s: per second of scheduler time (eval time less the plan applier and eval writes).\n"
               "  apply%%: plan applier share of eval time. eval: snapshot to release, applier included\n"
               "  (with fewer than 100 evals, p99 is the slowest eval).\n");
        for (size_t i = 0; i < n; i++)
                tp_notes(&t[i]);
}

static void report_contention(const struct opts *o, const struct tp_summary *t) {
        printf("\nContention: evals taken %d at a time and all scheduled on one snapshot, as %d concurrent\n"
               "workers would see it; the plans reach the applier in turn, so later ones meet nodes filled\n"
               "meanwhile (partial commit, refresh, retry). Jobs until %.0f%% of cluster cpu. Median of %d runs.\n",
               t->workers, t->workers, t->fill * 100, o->runs);
        tp_header();
        tp_row(t);
        printf("  %zu partial commits, %zu evals failed (max plan attempts), %zu placements not made\n", t->partial,
               t->evals_failed, t->unplaced);
}

/* One figure per line, DESIGN.md §6: name=value, the unit in the name, no unit in the value. */
static void bench_line(const char *name, double value, int decimals) {
        printf("%s=%.*f\n", name, decimals, value);
}

static void tp_lines(const struct tp_summary *t) {
        char prefix[64], name[128];
        if (t->workers > 1)
                snprintf(prefix, sizeof(prefix), "sched_contend_nodes%d_workers%d", t->nodes, t->workers);
        else
                snprintf(prefix, sizeof(prefix), "sched_nodes%d", t->nodes);
#define TP_LINE(suffix, v, d)                                                                                          \
        do {                                                                                                           \
                snprintf(name, sizeof(name), "%s_%s", prefix, suffix);                                                 \
                bench_line(name, v, d);                                                                                \
        } while (0)
        TP_LINE("placements_per_s", t->place_per_s, 0);
        TP_LINE("decisions_per_s", t->decide_per_s, 0);
        TP_LINE("eval_p50_ms", t->p50_us / 1000.0, 3);
        TP_LINE("eval_p99_ms", t->p99_us / 1000.0, 3);
        if (t->workers > 1) { /* deterministic counts: every run has the same */
                TP_LINE("partial_commits", (double)t->partial, 0);
                TP_LINE("evals_failed", (double)t->evals_failed, 0);
                TP_LINE("unplaced", (double)t->unplaced, 0);
        }
#undef TP_LINE
}

static const char *const stage_names[STAGE_COUNT] = {"part", "full"};

static void report_packing(const struct opts *o, const struct pack_summary *ps) {
        printf("\nPacking: %d identical nodes (%d MHz / %d MB); the same jobs through each placer, median of %d "
               "seeds.\n"
               "  part: jobs until %.0f%% of cluster cpu is asked; full: until the first placement failure or %.0f%%.\n"
               "  LB = max(ceil(cpu asked / %d), ceil(mem asked / %d)) over what that placer placed.\n",
               o->pack_nodes, NODE_CPU, NODE_MEM, o->pack_seeds, o->pack_fill * 100, PACK_CAP * 100, NODE_CPU,
               NODE_MEM);
        printf("  %-5s %-11s %10s %7s %8s %6s %6s %12s\n", "stage", "placer", "nodes used", "LB", "used/LB", "cpu%",
               "mem%", "stopped by");
        for (int st = 0; st < STAGE_COUNT; st++)
                for (int p = 0; p < PLACER_COUNT; p++) {
                        char stop[32];
                        snprintf(stop, sizeof(stop), "fail %d/%d", ps[st].failed[p], o->pack_seeds);
                        printf("  %-5s %-11s %10.0f %7.0f %8.3f %5.1f%% %5.1f%% %12s\n", stage_names[st],
                               placer_names[p], ps[st].used[p], ps[st].lb[p], ps[st].ratio[p], ps[st].cpu_pct[p],
                               ps[st].mem_pct[p], stop);
                }
        const struct pack_summary *h = &ps[STAGE_PART];
        printf("  part: drover uses %.1f%% fewer nodes than random-fit and %.1f%% fewer than worst-fit;\n"
               "        best-fit over every node uses %.1f%% fewer than drover.\n",
               h->fewer_pct[PLACER_RANDOM], h->fewer_pct[PLACER_WORSTFIT], -h->fewer_pct[PLACER_BESTFIT]);
        const struct pack_summary *f = &ps[STAGE_FULL];
        printf("  full: cpu placed before stopping: drover %.1f%%, best-fit %.1f%%, random-fit %.1f%%, "
               "worst-fit %.1f%%.\n",
               f->cpu_pct[PLACER_DROVER], f->cpu_pct[PLACER_BESTFIT], f->cpu_pct[PLACER_RANDOM],
               f->cpu_pct[PLACER_WORSTFIT]);
}

static void report_packing_lines(const struct opts *o, const struct pack_summary *ps) {
        char name[128];
        for (int st = 0; st < STAGE_COUNT; st++)
                for (int p = 0; p < PLACER_COUNT; p++) {
                        const char *pl = placer_names[p];
                        char placer[32];
                        snprintf(placer, sizeof(placer), "%s", pl);
                        for (char *c = placer; *c; c++)
                                if (*c == '-')
                                        *c = '_';
                        snprintf(name, sizeof(name), "sched_pack_nodes%d_%s_%s_nodes_used", o->pack_nodes,
                                 stage_names[st], placer);
                        bench_line(name, ps[st].used[p], 0);
                        snprintf(name, sizeof(name), "sched_pack_nodes%d_%s_%s_used_over_lb", o->pack_nodes,
                                 stage_names[st], placer);
                        bench_line(name, ps[st].ratio[p], 3);
                        snprintf(name, sizeof(name), "sched_pack_nodes%d_%s_%s_cpu_pct", o->pack_nodes,
                                 stage_names[st], placer);
                        bench_line(name, ps[st].cpu_pct[p], 1);
                        if (p != PLACER_DROVER && st == STAGE_PART) { /* same work placed: comparable */
                                snprintf(name, sizeof(name), "sched_pack_nodes%d_%s_fewer_nodes_than_%s_pct",
                                         o->pack_nodes, stage_names[st], placer);
                                bench_line(name, ps[st].fewer_pct[p], 1);
                        }
                }
}

/* ---- named scenarios (--scenario c1m|mixed|preempt) ---------------------------------------------
 *
 * Each registers its jobs, enqueues their evals in the real eval broker, and has `workers`
 * workers dequeue them: the evals dequeued together are scheduled on one snapshot (as
 * concurrent workers would see it) and their plans go one after the other through the plan
 * applier, which rejects nodes that filled up meanwhile (plan_rejections); each eval is
 * acked after its processing. Latency is an eval's processing, applier included. */

struct scen_node {
        int64_t cpu, mem;
        const char *cls;
};

struct scen_job {
        int count, cpu, mem, disk, priority;
        const char *class_constraint; /* node.class = this (NULL: kernel.name = linux) */
        const char *class_affinity;   /* affinity for node.class = this, weight 50 */
        bool spread_dc;               /* spread over ${node.datacenter} */
};

struct scen_out {
        size_t jobs, asked, placed, evals_failed, rejections, nodes_used, lb, preempted;
        double wall_s, place_per_s, p50_ms, p99_ms;
        double decide_per_s; /* placements over the schedulers' own time (evals less applier and eval writes) */
        double apply_share;  /* the plan applier's share of the evals' time */
        int violations;
};

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
                j->constraints[0] =
                    (struct constraint){xstrdup("${attr.kernel.name}"), xstrdup("linux"), xstrdup("=")};
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

/* Register and schedule jobs[0..n) through the broker with `workers` workers. */
static int scen_schedule(struct cluster *cl, struct job **jobs, size_t n, int workers, int64_t *lat, size_t *ret_evals) {
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
                        if (r == 0)
                                r = process_eval(cl, snap, evs[i], &lat[done++]);
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

/* max over cpu and memory of ceil(demand / mean node capacity): the volume bound (exact
 * for identical nodes; for two classes, the bound of a cluster of their mean shape). */
static size_t scen_lower_bound(int64_t cpu, int64_t mem, int64_t node_cpu_sum, int64_t node_mem_sum, int nodes) {
        double a = ceil((double)cpu * nodes / (double)node_cpu_sum), m = ceil((double)mem * nodes / (double)node_mem_sum);
        return (size_t)(a > m ? a : m);
}

/* Fill then (optionally) a second wave: the scenario's two job lists. */
static int scen_run(const struct scen_node *shapes, size_t n_shapes, int nodes, const struct scen_job *first,
                    size_t n_first, const struct scen_job *second, size_t n_second, int workers,
                    enum sched_algorithm alg, const struct sched_preemption *preemption, uint64_t seed,
                    struct scen_out *ret) {
        struct cluster *cl = xcalloc(1, sizeof(*cl));
        cl->live = state_create();
        if (!cl->live)
                die_oom();
        cl->index = 1;
        cl->id_rng = seed ^ UINT64_C(0xa110c8ed);
        cl->algorithm = alg;
        cl->preemption = preemption;
        uint64_t node_rng = seed;
        int64_t cap_cpu = 0, cap_mem = 0;
        for (int i = 0; i < nodes; i++) {
                struct node *nd = scen_node_new(i, &shapes[(size_t)i % n_shapes], &node_rng);
                cap_cpu += nd->cpu_shares;
                cap_mem += nd->memory_mb;
                if (state_upsert_node(cl->live, ++cl->index, nd) < 0)
                        die_oom();
                node_unref(nd);
        }
        size_t n = n_first + n_second;
        struct job **jobs = xcalloc(n, sizeof(*jobs));
        int64_t *lat = xcalloc(n, sizeof(*lat));
        size_t asked = 0;
        for (size_t i = 0; i < n; i++) {
                const struct scen_job *s = i < n_first ? &first[i] : &second[i - n_first];
                jobs[i] = scen_job_new(s, i, i < n_first ? "job" : "urgent");
                asked += (size_t)s->count;
        }
        size_t evals = 0, evals2 = 0;
        int64_t t0 = clock_monotonic_ns();
        int r = scen_schedule(cl, jobs, n_first, workers, lat, &evals);
        size_t placed_first = cl->placed;
        if (r == 0 && n_second)
                r = scen_schedule(cl, jobs + n_first, n_second, workers, lat + evals, &evals2);
        int64_t wall = clock_monotonic_ns() - t0;
        if (r < 0)
                fprintf(stderr, "sched: scenario: %s\n", cl->err.msg);
        evals += evals2;
        int64_t eval_ns = 0;
        for (size_t i = 0; i < evals; i++)
                eval_ns += lat[i];
        int64_t decide_ns = eval_ns - cl->submit_ns - cl->write_ns;
        qsort(lat, evals, sizeof(*lat), cmp_i64);
        struct verify v;
        verify_store(cl->live, &v);
        size_t live = 0, evicted = 0;
        for (size_t i = 0; i < n; i++) {
                size_t k;
                struct alloc *const *list = state_allocs_by_job(cl->live, jobs[i]->namespace, jobs[i]->id, &k);
                for (size_t a = 0; a < k; a++) {
                        live += !alloc_terminal(list[a]);
                        evicted += list[a]->desired_status == ALLOC_DESIRED_EVICT;
                }
        }
        (void)placed_first;
        *ret = (struct scen_out){
            .jobs = n,
            .asked = asked,
            .placed = cl->placed,
            .evals_failed = cl->evals_failed,
            .rejections = cl->partial,
            .nodes_used = v.nodes_used,
            .lb = scen_lower_bound(v.cpu, v.mem, cap_cpu, cap_mem, nodes),
            .preempted = evicted,
            .wall_s = (double)wall / 1e9,
            .place_per_s = wall > 0 ? (double)cl->placed / ((double)wall / 1e9) : 0,
            .p50_ms = (double)percentile(lat, evals, 0.50) / 1e6,
            .p99_ms = (double)percentile(lat, evals, 0.99) / 1e6,
            .decide_per_s = decide_ns > 0 ? (double)cl->placed / ((double)decide_ns / 1e9) : 0,
            .apply_share = eval_ns > 0 ? (double)cl->submit_ns / (double)eval_ns : 0,
            .violations = v.violations,
        };
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
        cluster_destroy(cl);
        return r;
}

static void scen_lines(const char *name, const struct scen_out *o) {
        char k[96];
#define LINE(field, v, d)                                                                                              \
        do {                                                                                                           \
                snprintf(k, sizeof(k), "sched_%s_%s", name, field);                                                   \
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
        LINE("apply_share", o->apply_share, 3);
#undef LINE
}

static void scen_print(const char *name, const struct scen_out *o) {
        printf("  %-16s %7zu jobs %9zu asked %9zu placed in %7.2f s (%9.0f/s), eval p50 %.3f ms p99 %.3f ms, "
               "%zu evals not complete, %zu plan rejections, nodes used %zu (lower bound %zu, ratio %.3f), "
               "%zu evicted; scheduler alone %.0f/s, applier %.0f%% of eval time\n",
               name, o->jobs, o->asked, o->placed, o->wall_s, o->place_per_s, o->p50_ms, o->p99_ms, o->evals_failed,
               o->rejections, o->nodes_used, o->lb, o->lb ? (double)o->nodes_used / (double)o->lb : 0, o->preempted,
               o->decide_per_s, 100 * o->apply_share);
        fflush(stdout);
}

/* c1m: Nomad's Million Container Challenge shape. 5,000 identical nodes, 1,000 service
 * jobs of count 1,000, asks 10 MHz / 10 MB / 10 MB disk, one node constraint each; scale
 * multiplies the jobs (and the nodes, so the fill stays the same). */
static int scenario_c1m(double scale, int workers, uint64_t seed, int *violations) {
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

/* mixed: two node classes (compute: 8000 MHz / 8 GB, memory: 4000 MHz / 32 GB), cpu-heavy
 * and memory-heavy jobs of varied sizes; a third pinned to a class, a fifth with an
 * affinity for one, a tenth spread over datacenters; 2% ask more memory than any node. */
static const char *const alg_names[SCHED_ALG_COUNT] = {"binpack", "spread", "dotproduct"};

static int scenario_mixed(int nodes, int workers, uint64_t seed, int *violations) {
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
                r = scen_run(shapes, 2, nodes, jobs, n, NULL, 0, workers, (enum sched_algorithm)a, NULL, seed,
                             &out[a]);
                *violations += out[a].violations;
                if (r == 0)
                        scen_print(alg_names[a], &out[a]);
        }
        free(jobs);
        if (r < 0)
                return r;
        scen_lines("mixed", &out[SCHED_ALG_BINPACK]);
        for (int a = 0; a < SCHED_ALG_COUNT; a++) {
                char k[96];
                snprintf(k, sizeof(k), "sched_mixed_%s_packing_ratio", alg_names[a]);
                bench_line(k, out[a].lb ? (double)out[a].nodes_used / (double)out[a].lb : 0, 3);
                snprintf(k, sizeof(k), "sched_mixed_%s_failed_placements", alg_names[a]);
                bench_line(k, (double)(out[a].asked - out[a].placed), 0);
        }
        return 0;
}

/* preempt: a cluster filled to about 95% by priority-20 service jobs, then priority-80
 * jobs asking 10% of it. */
static int scenario_preempt(int nodes, int workers, uint64_t seed, int *violations) {
        static const struct scen_node shape = {4000, 8192, "general"};
        uint64_t rng = seed * 11 + 5;
        size_t n_low = (size_t)nodes * 95 / 100 * 4 / 10, n_high = (size_t)nodes / 10 * 4 / 10;
        n_low = n_low ? n_low : 1;
        n_high = n_high ? n_high : 1;
        struct scen_job *low = xcalloc(n_low, sizeof(*low)), *high = xcalloc(n_high, sizeof(*high));
        for (size_t i = 0; i < n_low; i++) /* 10 x 1000 MHz / 2 GB: a quarter of a node each */
                low[i] = (struct scen_job){.count = 10, .cpu = 1000, .mem = 2048, .disk = 100, .priority = 20};
        for (size_t i = 0; i < n_high; i++)
                high[i] = (struct scen_job){.count = 10, .cpu = 1000 + 500 * rng_range(&rng, 0, 1), .mem = 2048,
                                            .disk = 100, .priority = 80};
        printf("\nScenario preempt: %d nodes filled by %zu priority-20 jobs, then %zu priority-80 jobs, %d workers\n",
               nodes, n_low, n_high, workers);
        struct scen_out o;
        /* service preemption on, as an operator would set it in the scheduler configuration */
        static const struct sched_preemption preemption = {.system = true, .service = true, .batch = true};
        int r = scen_run(&shape, 1, nodes, low, n_low, high, n_high, workers, SCHED_ALG_BINPACK, &preemption, seed,
                         &o);
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

int main(int argc, char **argv) {
        struct opts o;
        if (parse_opts(argc, argv, &o) < 0) {
                usage(stderr);
                return 2;
        }
        printf("drover scheduler benchmark: real scheduler + plan applier + state store, in process, one thread\n");
        printf("workload: seed %" PRIu64 ", 70%% service / 30%% batch, count 10..50, asks 100..1500 MHz / "
               "128..3072 MB in three shapes\n",
               o.seed);
        fflush(stdout);
        int violations = 0, r = 0;
        if (o.scenario) {
                bool all = strcmp(o.scenario, "all") == 0;
                if (all || strcmp(o.scenario, "c1m") == 0)
                        r = scenario_c1m(o.scale, o.workers, o.seed, &violations);
                if (r == 0 && (all || strcmp(o.scenario, "mixed") == 0))
                        r = scenario_mixed(o.scen_nodes, o.workers, o.seed, &violations);
                if (r == 0 && (all || strcmp(o.scenario, "preempt") == 0))
                        r = scenario_preempt(o.scen_nodes, o.workers, o.seed, &violations);
                printf("sched_violations=%d\n", violations);
                if (r < 0 || violations) {
                        fprintf(stderr, "sched: FAILED: %s\n", r < 0 ? "the scheduler returned an error" : "violations");
                        return 1;
                }
                return 0;
        }
        struct tp_summary tp[MAX_SIZES], contended;
        size_t n_tp = 0;
        for (size_t i = 0; i < o.n_sizes && o.runs > 0 && r == 0; i++, n_tp++)
                r = throughput(o.sizes[i], o.runs, o.fill, 1, o.seed, &tp[i], &violations);
        if (n_tp && r == 0)
                report_throughput(&o, tp, n_tp);
        bool contend = o.runs > 0 && o.workers > 1 && r == 0;
        if (contend) {
                r = throughput(o.contend_nodes, o.runs, o.contend_fill, o.workers, o.seed, &contended, &violations);
                if (r == 0)
                        report_contention(&o, &contended);
        }
        struct pack_summary ps[STAGE_COUNT];
        bool packed = false;
        if (o.pack_seeds > 0 && r == 0) {
                r = packing(o.pack_nodes, o.pack_seeds, o.pack_fill, o.seed, ps, &violations);
                packed = r == 0;
                if (packed)
                        report_packing(&o, ps);
        }
        struct big_out big = {0};
        bool bigged = false;
        if (o.big_groups > 0 && r == 0) {
                r = big_job(o.big_nodes, o.big_groups, o.big_count, o.seed, &big, &violations);
                bigged = r == 0;
                if (bigged)
                        printf("\nBig job: %d groups x count %d (%zu allocations) on %d nodes: validated in %.3f s, "
                               "scheduled and applied in %.3f s, %zu placed.\n",
                               o.big_groups, o.big_count, (size_t)o.big_groups * (size_t)o.big_count, o.big_nodes,
                               big.validate_s, big.schedule_s, big.placed);
        }
        putchar('\n');
        for (size_t i = 0; i < n_tp && r == 0; i++)
                tp_lines(&tp[i]);
        if (contend && r == 0)
                tp_lines(&contended);
        if (packed)
                report_packing_lines(&o, ps);
        if (bigged) {
                char name[96];
                snprintf(name, sizeof(name), "sched_bigjob_groups%d_count%d_validate_s", o.big_groups, o.big_count);
                bench_line(name, big.validate_s, 3);
                snprintf(name, sizeof(name), "sched_bigjob_groups%d_count%d_schedule_s", o.big_groups, o.big_count);
                bench_line(name, big.schedule_s, 3);
                snprintf(name, sizeof(name), "sched_bigjob_groups%d_count%d_placed", o.big_groups, o.big_count);
                bench_line(name, (double)big.placed, 0);
        }
        printf("sched_violations=%d\n", violations);
        if (r < 0) {
                fprintf(stderr, "sched: FAILED: the scheduler returned an error (see above)\n");
                return 1;
        }
        if (violations) {
                fprintf(stderr,
                        "sched: FAILED: %d correctness violations (over-committed nodes or over-placed groups)\n",
                        violations);
                return 1;
        }
        return 0;
}
