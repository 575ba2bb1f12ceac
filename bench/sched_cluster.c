/* sched_cluster.c - the in-process cluster: a live store and a planner that plays the leader
 * (plan applier, eval writes), and the correctness checks run after every benchmark. */
#include "bench/sched_bench.h"

#include <sys/resource.h>
#include <time.h>

static int64_t thread_cpu_ns(void) {
        struct timespec ts;
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
        return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int cl_submit(void *data, struct plan *plan, struct plan_result **ret_result,
                     struct state_store **ret_new_snapshot, struct error *err) {
        struct cluster *cl = data;
        int64_t t0 = clock_monotonic_ns(), c0 = thread_cpu_ns();
        struct plan_result *r = NULL;
        int rc = plan_evaluate(cl->live, plan, &r, err);
        if (rc < 0)
                return rc;
        if (!plan_result_is_noop(r)) {
                rc = plan_result_apply_take(cl->live, ++cl->index, r); /* the plan is freed unchanged */
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
        cl->submit_cpu_ns += thread_cpu_ns() - c0;
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
        struct cluster *cl = data;
        if (cl->ids)
                id_seq_next(cl->ids, buf);
        else
                uuid_from(&cl->id_rng, buf);
}

/* ordered_ids: alloc IDs from id_seq, as the server's scheduler makes them (--ids seq). */
static bool cand_cache_on = true, ordered_ids = true;

void cluster_set_cand_cache(bool on) {
        cand_cache_on = on;
}

void cluster_set_ordered_ids(bool on) {
        ordered_ids = on;
}

struct cluster *cluster_destroy(struct cluster *cl) {
        if (!cl)
                return NULL;
        sched_cand_cache_destroy(cl->cands);
        state_destroy(cl->live);
        free(cl->ids);
        free(cl);
        return NULL;
}

struct cluster *cluster_new_empty(uint64_t seed) {
        struct cluster *cl = xcalloc(1, sizeof(*cl));
        cl->live = state_create();
        if (!cl->live)
                die_oom();
        cl->index = 1;
        cl->id_rng = seed ^ UINT64_C(0xa110c8ed);
        if (ordered_ids)
                cl->ids = xcalloc(1, sizeof(*cl->ids)); /* zeroed: id_seq_init's state */
        if (cand_cache_on && !(cl->cands = sched_cand_cache_create(16, 64u << 20)))
                die_oom();
        return cl;
}

struct cluster *cluster_create(int nodes, bool vary, uint64_t seed) {
        struct cluster *cl = cluster_new_empty(seed);
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
int register_job(struct cluster *cl, struct job *j, struct eval *ev) {
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

static long thread_minflt(void) {
        struct rusage ru;
        return getrusage(RUSAGE_THREAD, &ru) == 0 ? ru.ru_minflt : 0;
}

/* Process ev as a worker would, on snap (borrowed; NULL: a snapshot of the live store
 * taken now and released after). *ret_eval_ns: the whole of it, plan applier included;
 * cl->eval_cpu_ns, eval_minflt, eval_apply_ns: the same span's thread CPU time, page
 * faults, and wall time in the plan applier.
 * An eval that ends other than complete (max plan attempts) is counted, not an error. */
int process_eval(struct cluster *cl, const struct state_store *snap, struct eval *ev, int64_t *ret_eval_ns) {
        const struct scheduler_env env = {
            .gen_id = cl_gen_id,
            .id_data = cl,
            .algorithm = cl->algorithm,
            .preemption = cl->preemption,
            .cands = cl->cands};
        long f0 = thread_minflt();
        int64_t a0 = cl->submit_ns;
        int64_t c0 = thread_cpu_ns();
        int64_t t0 = clock_monotonic_ns();
        struct state_store *own = NULL;
        if (!snap && !(snap = own = state_snapshot(cl->live)))
                return errorf(&cl->err, -ENOMEM, "eval %s: snapshot: out of memory", ev->id);
        cl->last_status = EVAL_PENDING;
        int r = scheduler_process_env(snap, ev, &cluster_ops, cl, &env, &cl->err);
        state_destroy(own);
        *ret_eval_ns = clock_monotonic_ns() - t0;
        cl->eval_cpu_ns = thread_cpu_ns() - c0;
        cl->eval_minflt = thread_minflt() - f0;
        cl->eval_apply_ns = cl->submit_ns - a0;
        if (r < 0)
                return error_prefix(&cl->err, "job %s", ev->job_id);
        if (cl->last_status == EVAL_PENDING)
                return errorf(&cl->err, -EPROTO, "job %s: eval %s was never updated", ev->job_id, ev->id);
        cl->evals_failed += cl->last_status != EVAL_COMPLETE;
        return 0;
}

int run_job(struct cluster *cl, struct job *j, struct eval *ev, int64_t *ret_eval_ns) {
        int r = register_job(cl, j, ev);
        return r < 0 ? r : process_eval(cl, NULL, ev, ret_eval_ns);
}

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

void verify_store(const struct state_store *st, struct verify *ret) {
        *ret = (struct verify){.st = st};
        state_nodes_foreach(st, verify_node, ret);
        state_jobs_foreach(st, NULL, verify_job, ret);
        size_t total = state_count(st, STATE_TABLE_ALLOCS);
        if (ret->allocs != total)
                violation(ret, "%s: %" PRId64 " allocations are on no known node (of %" PRId64 ")", "store",
                          (int64_t)(total - ret->allocs), (int64_t)total);
}
