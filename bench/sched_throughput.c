/* sched_throughput.c - placements per second and eval latency at several cluster sizes,
 * and one big job (cost linear in its size). */
#include "bench/sched_bench.h"

/* The most CPU first. */
static int cmp_tp_eval_cpu(const void *a, const void *b) {
        int64_t x = ((const struct tp_eval *)a)->cpu_ns, y = ((const struct tp_eval *)b)->cpu_ns;
        return (x < y) - (x > y);
}

static int throughput_run(int nodes, double fill, int workers, uint64_t seed, struct tp_run *ret) {
        struct cluster *cl = cluster_create(nodes, true, seed);
        size_t n;
        _cleanup_free_ struct spec *specs = workload(seed + 1, (int64_t)(fill * (double)cl->total_cpu), &n);
        _cleanup_free_ struct job **jobs = xcalloc(n, sizeof(*jobs));
        _cleanup_free_ struct eval **evals = xcalloc(n, sizeof(*evals));
        _cleanup_free_ int64_t *lat = xcalloc(n, sizeof(*lat));
        _cleanup_free_ int64_t *cpu = xcalloc(n, sizeof(*cpu));
        _cleanup_free_ struct tp_eval *each = xcalloc(n, sizeof(*each));
        size_t asked = 0;
        for (size_t i = 0; i < n; i++) { /* client-side work, outside the clock */
                jobs[i] = make_job(&specs[i], i);
                evals[i] = make_eval(jobs[i], &cl->id_rng);
                asked += (size_t)specs[i].count;
        }
        int r = 0;
        int64_t t0 = clock_monotonic_ns();
        if (workers == 1) {
                for (size_t i = 0; i < n && r == 0; i++) {
                        r = run_job(cl, jobs[i], evals[i], &lat[i]);
                        cpu[i] = cl->eval_cpu_ns;
                        each[i] = (struct tp_eval){i, specs[i].count, lat[i], cpu[i], cl->eval_apply_ns, cl->eval_minflt};
                }
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
                        for (size_t k = i; k < end && r == 0; k++) {
                                r = process_eval(cl, snap, evals[k], &lat[k]);
                                cpu[k] = cl->eval_cpu_ns;
                                each[k] = (struct tp_eval){k, specs[k].count, lat[k], cpu[k], cl->eval_apply_ns, cl->eval_minflt};
                        }
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
        qsort(cpu, n, sizeof(*cpu), cmp_i64);
        qsort(each, n, sizeof(*each), cmp_tp_eval_cpu);
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
            .cpu_p50_ns = percentile(cpu, n, 0.50),
            .cpu_p99_ns = percentile(cpu, n, 0.99),
            .cpu_max_ns = cpu[n - 1],
            .n_slowest = n < TP_SLOWEST ? n : TP_SLOWEST,
            .violations = v.violations,
        };
        memcpy(ret->slowest, each, ret->n_slowest * sizeof(*each));
        if (v.allocs != cl->placed) {
                fprintf(stderr, "sched: VIOLATION: %zu placements committed, %zu allocations in the store\n",
                        cl->placed, v.allocs);
                ret->violations++;
        }
        if (cl->cands) {
                struct sched_cand_cache_stats cs;
                sched_cand_cache_stats(cl->cands, &cs);
                printf("  (%d nodes: candidate cache %" PRIu64 " hits, %" PRIu64 " misses, %" PRIu64
                       " rebuilds, %" PRIu64 " full skips)\n",
                       nodes, cs.hits, cs.misses, cs.invalidations, cs.full_skips);
        }
        for (size_t i = 0; i < n; i++) {
                job_unref(jobs[i]);
                eval_unref(evals[i]);
        }
        cluster_destroy(cl);
        return r;
}

int throughput(int nodes, int runs, double fill, int workers, uint64_t seed, struct tp_summary *ret, int *violations) {
        double place[MAX_RUNS], decide[MAX_RUNS], share[MAX_RUNS], p50[MAX_RUNS], p99[MAX_RUNS], mx[MAX_RUNS];
        double cp50[MAX_RUNS], cp99[MAX_RUNS], cmx[MAX_RUNS];
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
                cp50[k] = (double)tr.cpu_p50_ns / 1e3;
                cp99[k] = (double)tr.cpu_p99_ns / 1e3;
                cmx[k] = (double)tr.cpu_max_ns / 1e3;
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
            .cpu_p50_us = median(cp50, (size_t)runs),
            .cpu_p99_us = median(cp99, (size_t)runs),
            .cpu_max_us = median(cmx, (size_t)runs),
            .n_slowest = tr.n_slowest,
        };
        memcpy(ret->slowest, tr.slowest, tr.n_slowest * sizeof(*tr.slowest));
        return r;
}

int big_job(int nodes, int groups, int count, const char *spread, uint64_t seed, struct big_out *ret,
            int *violations) {
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
                if (spread) {
                        tg->spreads = xcalloc(1, sizeof(*tg->spreads));
                        tg->spreads[0] = (struct spread){.attribute = xstrdup(spread), .weight = 50};
                        tg->n_spreads = 1;
                }
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
