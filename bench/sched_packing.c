/* sched_packing.c - nodes used against the volume lower bound, for drover and for three
 * placers written here (best fit, random fit, worst fit) on the same workload. */
#include "bench/sched_bench.h"

const char *const placer_names[PLACER_COUNT] = {"drover", "best-fit", "random-fit", "worst-fit"};

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

int packing(int nodes, int seeds, double part_fill, uint64_t seed, struct pack_summary ret[STAGE_COUNT],
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
