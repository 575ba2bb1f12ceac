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
#include "bench/sched_bench.h"

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
        const char *big_spread; /* --big-spread ATTR: the big job's groups spread over ATTR */
        const char *scenario; /* NULL: the classic runs; c1m, mixed, preempt or all */
        double scale;         /* c1m's jobs and nodes */
        int scen_nodes;       /* mixed and preempt */
};

static void usage(FILE *f) {
        fputs("usage: sched [--nodes 100,1000,5000] [--runs 5] [--fill 0.5]\n"
              "             [--workers 4] [--contend-nodes 1000] [--contend-fill 0.85]\n"
              "             [--pack-nodes 1000] [--pack-seeds 5] [--pack-fill 0.5] [--seed 1]\n"
              "             [--big-job 10000x10] [--big-nodes 5000] [--big-spread ATTR]\n"
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
              "  --big-spread A  the big job's groups also spread over attribute A (e.g. '${node.unique.id}'):\n"
              "                  every placement then scores max(count, 100) nodes, as Nomad\n"
              "  --scenario S    run only scenario S: c1m, mixed, preempt or all (through the eval broker,\n"
              "                  --workers workers; name=value figures per scenario). mixed also packs\n"
              "                  its allocations offline, all known in advance (best-fit decreasing:\n"
              "                  sched_mixed_offline_*; with the spread blocks kept too:\n"
              "                  sched_mixed_offline_spread_*)\n"
              "  --scale F       c1m's size: F x (5,000 nodes, 1,000 jobs x count 1,000) (default 1)\n"
              "  --scen-nodes N  nodes of the mixed and preempt scenarios (1000)\n"
              "  --cand-cache B  1 (default): keep candidate lists across evals as a worker does; 0: build\n"
              "                  them from the snapshot on every eval (the comparison baseline)\n"
              "  --ids K         alloc IDs: seq (default: sequenced v8 UUIDs, common/ids.h id_seq, the\n"
              "                  ones the server's scheduler makes, which the store's allocs trie keeps\n"
              "                  together) or v4 (random from --seed: reproducible IDs, but a plan's\n"
              "                  inserts then copy ~32x as many trie nodes as the server's)\n",
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
            {"nodes", required_argument, NULL, 'n'},
            {"runs", required_argument, NULL, 'r'},
            {"fill", required_argument, NULL, 'f'},
            {"pack-nodes", required_argument, NULL, 'N'},
            {"pack-seeds", required_argument, NULL, 'S'},
            {"pack-fill", required_argument, NULL, 'F'},
            {"seed", required_argument, NULL, 's'},
            {"help", no_argument, NULL, 'h'},
            {"workers", required_argument, NULL, 'w'},
            {"contend-nodes", required_argument, NULL, 'C'},
            {"contend-fill", required_argument, NULL, 'c'},
            {"big-job", required_argument, NULL, 'B'},
            {"big-nodes", required_argument, NULL, 'b'},
            {"big-spread", required_argument, NULL, 'P'},
            {"scenario", required_argument, NULL, 'X'},
            {"scale", required_argument, NULL, 'x'},
            {"scen-nodes", required_argument, NULL, 'Y'},
            {"cand-cache", required_argument, NULL, 'K'},
            {"ids", required_argument, NULL, 'I'},
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
                                fprintf(stderr,
                                        "sched: --big-job: want GROUPSxCOUNT within the job limits (got \"%s\")\n",
                                        optarg);
                                r = -EINVAL;
                        }
                        break;
                case 'b':
                        if ((r = parse_int(optarg, 1, 1000000, &v)) < 0)
                                fprintf(stderr, "sched: --big-nodes: want 1..1000000 (got \"%s\")\n", optarg);
                        o->big_nodes = (int)v;
                        break;
                case 'P':
                        if (strncmp(optarg, "${", 2) != 0 || strlen(optarg) > 128) {
                                fprintf(stderr, "sched: --big-spread: want an attribute such as ${node.datacenter}\n");
                                r = -EINVAL;
                        }
                        o->big_spread = optarg;
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
                case 'K':
                        if ((r = parse_int(optarg, 0, 1, &v)) < 0)
                                fprintf(stderr, "sched: --cand-cache: want 0 or 1 (got \"%s\")\n", optarg);
                        cluster_set_cand_cache(v != 0);
                        break;
                case 'I':
                        if (strcmp(optarg, "v4") != 0 && strcmp(optarg, "seq") != 0) {
                                fprintf(stderr, "sched: --ids: want v4 or seq (got \"%s\")\n", optarg);
                                r = -EINVAL;
                        }
                        cluster_set_ordered_ids(strcmp(optarg, "seq") == 0);
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

/* ---- report --------------------------------------------------------------------------------------- */

static void tp_header(void) {
        printf("  %6s %5s %7s %9s %15s %9s %7s %9s %9s %9s %9s %9s\n", "nodes", "jobs", "placed", "place/s",
               "(min-max)", "decide/s", "apply%", "eval p50", "eval p99", "eval max", "cpu p50", "cpu p99");
}

static void tp_row(const struct tp_summary *t) {
        char range[32];
        snprintf(range, sizeof(range), "(%.0f-%.0f)", t->place_min, t->place_max);
        printf("  %6d %5zu %7zu %9.0f %15s %9.0f %6.0f%% %7.2fms %7.2fms %7.2fms %7.2fms %7.2fms\n", t->nodes, t->jobs,
               t->placed, t->place_per_s, range, t->decide_per_s, 100 * t->apply_share, t->p50_us / 1e3,
               t->p99_us / 1e3, t->max_us / 1e3, t->cpu_p50_us / 1e3, t->cpu_p99_us / 1e3);
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
               "  (with fewer than 100 evals, p99 is the slowest eval); cpu: the same span's thread CPU time\n"
               "  (CLOCK_THREAD_CPUTIME_ID: the eval's own work, not the time it waited for a CPU).\n");
        for (size_t i = 0; i < n; i++) {
                tp_notes(&t[i]);
                printf("  %d nodes, the evals of the most CPU (last run):", t[i].nodes);
                for (size_t k = 0; k < t[i].n_slowest; k++) {
                        const struct tp_eval *e = &t[i].slowest[k];
                        printf("%s #%zu (count %d) cpu %.2fms wall %.2fms (applier %.2fms) %ld page faults", k ? ";" : "",
                               e->index, e->count, (double)e->cpu_ns / 1e6, (double)e->wall_ns / 1e6,
                               (double)e->apply_ns / 1e6, e->minflt);
                }
                printf("\n");
        }
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
void bench_line(const char *name, double value, int decimals) {
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
        TP_LINE("eval_cpu_p50_ms", t->cpu_p50_us / 1000.0, 3);
        TP_LINE("eval_cpu_p99_ms", t->cpu_p99_us / 1000.0, 3);
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
                        snprintf(name, sizeof(name), "sched_pack_nodes%d_%s_%s_cpu_pct", o->pack_nodes, stage_names[st],
                                 placer);
                        bench_line(name, ps[st].cpu_pct[p], 1);
                        if (p != PLACER_DROVER && st == STAGE_PART) { /* same work placed: comparable */
                                snprintf(name, sizeof(name), "sched_pack_nodes%d_%s_fewer_nodes_than_%s_pct",
                                         o->pack_nodes, stage_names[st], placer);
                                bench_line(name, ps[st].fewer_pct[p], 1);
                        }
                }
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
                        fprintf(stderr, "sched: FAILED: %s\n",
                                r < 0 ? "the scheduler returned an error" : "violations");
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
                r = big_job(o.big_nodes, o.big_groups, o.big_count, o.big_spread, o.seed, &big, &violations);
                bigged = r == 0;
                if (bigged)
                        printf("\nBig job: %d groups x count %d (%zu allocations)%s%s on %d nodes: validated in "
                               "%.3f s, scheduled and applied in %.3f s, %zu placed.\n",
                               o.big_groups, o.big_count, (size_t)o.big_groups * (size_t)o.big_count,
                               o.big_spread ? ", spread over " : "", o.big_spread ? o.big_spread : "", o.big_nodes,
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
                const char *kind = o.big_spread ? "bigjob_spread" : "bigjob";
                char name[96];
                snprintf(name, sizeof(name), "sched_%s_groups%d_count%d_validate_s", kind, o.big_groups, o.big_count);
                bench_line(name, big.validate_s, 3);
                snprintf(name, sizeof(name), "sched_%s_groups%d_count%d_schedule_s", kind, o.big_groups, o.big_count);
                bench_line(name, big.schedule_s, 3);
                snprintf(name, sizeof(name), "sched_%s_groups%d_count%d_placed", kind, o.big_groups, o.big_count);
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
