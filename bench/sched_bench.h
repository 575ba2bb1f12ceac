/* sched_bench.h - what the files of the scheduler benchmark (bench/sched*.c) share: the
 * workload and fixtures (sched_util.c), the in-process cluster that plays the leader and
 * the correctness checks (sched_cluster.c), the throughput and big-job runs
 * (sched_throughput.c), packing against baseline placers (sched_packing.c) and the named
 * scenarios (sched_scenarios.c); sched.c holds the options, the reports and main. */
#pragma once

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

/* ---- workload ------------------------------------------------------------------------------ */

/* One job: a group of `count` allocations of one task. */
struct spec {
        enum job_type type;
        int count;
        int cpu, mem; /* per allocation */
        bool constrained;
};

/* ---- the cluster: a live store and a planner that plays the leader --------------------------- */

struct cluster {
        struct state_store *live;
        uint64_t index;  /* stands in for the Raft index */
        uint64_t id_rng; /* eval IDs, and alloc IDs unless ordered */
        struct id_seq *ids; /* alloc IDs when --ids seq (NULL: from id_rng, v4) */
        int64_t total_cpu;
        int64_t submit_ns; /* time spent in submit_plan (plan applier and refresh) */
        int64_t submit_cpu_ns; /* ... its thread CPU time (the applier's share without other processes' load) */
        int64_t write_ns;  /* time spent writing evals (update_eval, create_eval) */
        int64_t eval_cpu_ns; /* the last process_eval's thread CPU time (its wall time less waits for the CPU) */
        long eval_minflt;    /* ... and the minor page faults it took (heap growth, first touches) */
        int64_t eval_apply_ns; /* ... and its wall time in submit_plan */
        size_t placed;     /* placements committed */
        size_t partial, evals_failed;
        enum sched_algorithm algorithm;
        const struct sched_preemption *preemption; /* NULL: defaults */
        enum eval_status last_status;
        struct sched_cand_cache *cands; /* candidate lists across evals (NULL: --cand-cache off) */
        struct error err;
};

/* ---- correctness -------------------------------------------------------------------------------- */

struct verify {
        const struct state_store *st;
        size_t nodes_used, allocs;
        int64_t cpu, mem;
        int violations;
};

/* ---- throughput --------------------------------------------------------------------------------- */

#define TP_SLOWEST 3 /* the evals of the most CPU shown per run (what the tail is) */

/* One eval of a throughput run, for the tail report. */
struct tp_eval {
        size_t index; /* in registration order (0: the first eval on a fresh cluster) */
        int count;    /* allocations its job asks for */
        int64_t wall_ns, cpu_ns, apply_ns;
        long minflt;
};

struct tp_run {
        size_t jobs, placed, unplaced, partial, evals_failed;
        double wall_s, eval_s;    /* the whole loop; the evals alone */
        double apply_s, decide_s; /* plan applier; eval time less the applier and eval writes */
        int64_t p50_ns, p99_ns, max_ns;
        int64_t cpu_p50_ns, cpu_p99_ns, cpu_max_ns; /* thread CPU time per eval */
        struct tp_eval slowest[TP_SLOWEST];         /* by CPU time, the most first */
        size_t n_slowest;
        int violations;
};

struct tp_summary {
        int nodes, workers;
        double fill;
        size_t jobs, placed, unplaced, partial, evals_failed;
        double place_per_s, place_min, place_max, decide_per_s, apply_share, p50_us, p99_us, max_us;
        double cpu_p50_us, cpu_p99_us, cpu_max_us;
        struct tp_eval slowest[TP_SLOWEST]; /* of the last timed run */
        size_t n_slowest;
};

/* ---- one big job: cost linear in its size ----------------------------------------------------------- */

struct big_out {
        double validate_s, schedule_s;
        size_t placed;
};

/* ---- packing ------------------------------------------------------------------------------------- */

enum placer { PLACER_DROVER, PLACER_BESTFIT, PLACER_RANDOM, PLACER_WORSTFIT, PLACER_COUNT };
extern const char *const placer_names[PLACER_COUNT];

enum stage { STAGE_PART, STAGE_FULL, STAGE_COUNT };

struct pack_out {
        size_t nodes_used, lb, placed;
        int64_t cpu, mem;
        bool failed; /* stopped at a placement failure (else at the target) */
};

struct usage {
        int64_t cpu, mem, disk;
};

struct pack_summary {
        double used[PLACER_COUNT], lb[PLACER_COUNT], ratio[PLACER_COUNT], cpu_pct[PLACER_COUNT], mem_pct[PLACER_COUNT];
        double fewer_pct[PLACER_COUNT]; /* drover's nodes used, % fewer than this placer's */
        int failed[PLACER_COUNT];       /* seeds that stopped at a failure */
};

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

#define SCEN_MAX_SHAPES 2 /* node classes of a scenario */

/* Per node class, after a scenario: nodes, nodes used, and on the used nodes the free
 * capacity and how many are stranded (one dimension under 10% free while the other has
 * over 30%). */
struct scen_class {
        size_t nodes, used, stranded_cpu, stranded_mem; /* stranded_cpu: cpu left, memory full */
        int64_t free_cpu, free_mem;
};

struct scen_out {
        size_t jobs, asked, placed, evals_failed, rejections, nodes_used, lb, preempted;
        size_t lb_class; /* scen_class_bound: lb also respecting class constraints and fit */
        struct scen_class cls[SCEN_MAX_SHAPES];
        double wall_s, place_per_s, p50_ms, p99_ms;
        double cpu_place_per_s; /* placements over the process's CPU time while scheduling (load-independent) */
        double decide_per_s;    /* placements over the schedulers' own time (evals less applier and eval writes) */
        double apply_share;     /* the plan applier's share of the evals' time */
        double cpu_p50_ms, cpu_p99_ms; /* thread CPU time per eval (wall time less waits for the CPU) */
        double apply_cpu_share;        /* the plan applier's share of the evals' thread CPU time */
        double apply_cpu_us;           /* the plan applier's thread CPU time per placement committed */
        int violations;
};

void die_oom(void);
void *xcalloc(size_t n, size_t size);
char *xstrdup(const char *s);
int cmp_i64(const void *a, const void *b);
double median(double *v, size_t n);
int64_t percentile(const int64_t *sorted, size_t n, double p);
uint64_t rng_next(uint64_t *s);
int rng_range(uint64_t *s, int lo, int hi);
void uuid_from(uint64_t *s, char buf[ID_BUF]);
struct spec *workload(uint64_t seed, int64_t target_cpu, size_t *ret_n);
struct node *make_node(int i, uint64_t *rng, bool vary);
struct job *make_job(const struct spec *s, size_t i);
struct eval *make_eval(const struct job *j, uint64_t *rng);
struct cluster *cluster_destroy(struct cluster *cl);
struct cluster *cluster_create(int nodes, bool vary, uint64_t seed);
/* A cluster without nodes (a live store, the ID stream of seed, the candidate cache
 * as cluster_set_cand_cache says): the named scenarios add their own nodes. */
struct cluster *cluster_new_empty(uint64_t seed);
/* Whether clusters created from now on keep candidate lists across evals (default on). */
void cluster_set_cand_cache(bool on);
/* Whether clusters created from now on give allocs sequenced IDs (id_seq) rather than
 * v4 IDs from the seed's stream (default: v4, reproducible). */
void cluster_set_ordered_ids(bool on);
int register_job(struct cluster *cl, struct job *j, struct eval *ev);
int process_eval(struct cluster *cl, const struct state_store *snap, struct eval *ev, int64_t *ret_eval_ns);
int run_job(struct cluster *cl, struct job *j, struct eval *ev, int64_t *ret_eval_ns);
void verify_store(const struct state_store *st, struct verify *ret);
int throughput(int nodes, int runs, double fill, int workers, uint64_t seed, struct tp_summary *ret, int *violations);
/* spread: NULL, or the attribute every group also spreads over (a spread block, weight 50,
 * no targets): the cost of Nomad's raised scoring limit with spread blocks. */
int big_job(int nodes, int groups, int count, const char *spread, uint64_t seed, struct big_out *ret,
            int *violations);
int packing(int nodes, int seeds, double part_fill, uint64_t seed, struct pack_summary ret[STAGE_COUNT],
            int *violations);
int scenario_c1m(double scale, int workers, uint64_t seed, int *violations);
int scenario_preempt(int nodes, int workers, uint64_t seed, int *violations);
void bench_line(const char *name, double value, int decimals);
int scenario_mixed(int nodes, int workers, uint64_t seed, int *violations);
