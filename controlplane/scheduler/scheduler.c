/* scheduler.c - dispatch by job type through a static ops table. */
#include "controlplane/scheduler/scheduler.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "common/error.h"
#include "common/ids.h"
#include "controlplane/scheduler/feasible.h"
#include "controlplane/scheduler/sched_internal.h"
#include "controlplane/state/state.h"

static const struct scheduler_ops generic_service = {
    .name = "service", .attempts = 5, .batch = false, .process = sched_generic_process};
static const struct scheduler_ops generic_batch = {
    .name = "batch", .attempts = 2, .batch = true, .process = sched_generic_process};
static const struct scheduler_ops system_ops = {
    .name = "system", .attempts = 5, .batch = false, .process = sched_system_process};
static const struct scheduler_ops sysbatch_ops = {
    .name = "sysbatch", .attempts = 2, .batch = true, .process = sched_system_process};

static const struct scheduler_ops *const schedulers[JOB_TYPE_MAX] = {
    [JOB_SERVICE] = &generic_service,
    [JOB_BATCH] = &generic_batch,
    [JOB_SYSTEM] = &system_ops,
    [JOB_SYSBATCH] = &sysbatch_ops,
};

/* Allocation (and blocked eval) IDs: sequenced UUIDs (common/ids.h), taken 32 at a
 * time, which the state store's allocs trie keeps together. */
static void default_gen_id(void *data, char buf[ID_BUF]) {
        id_seq_next(data, buf);
}

int scheduler_process_env(const struct state_store *snapshot, const struct eval *ev, const struct planner_ops *ops,
                          void *planner_data, const struct scheduler_env *env, struct error *err) {
        if (!snapshot || !ev || !ops || !ops->submit_plan || !ops->update_eval || !ops->create_eval)
                return errorf(err, -EINVAL, "scheduler: missing snapshot, eval or planner");
        if ((unsigned)ev->type >= JOB_TYPE_MAX || !schedulers[ev->type])
                return errorf(err, -EINVAL, "scheduler: eval %s has an unknown job type", ev->id);
        struct sched_ctx c = {
            .ops = schedulers[ev->type],
            .planner = ops,
            .planner_data = planner_data,
            .snap = snapshot,
            .eval = ev,
            .err = err,
        };
        c.clock = env && env->clock ? env->clock : &clock_real;
        struct id_seq ids;
        id_seq_init(&ids);
        c.gen_id = env && env->gen_id ? env->gen_id : default_gen_id;
        c.id_data = env && env->gen_id ? env->id_data : &ids;
        c.algorithm = env && (unsigned)env->algorithm < SCHED_ALG_COUNT ? env->algorithm : SCHED_ALG_BINPACK;
        c.preemption = env && env->preemption ? *env->preemption : (struct sched_preemption){.system = true};
        c.cands = env ? env->cands : NULL;
        c.memory_oversubscription = env && env->memory_oversubscription;
        c.regexps = sched_regexps_create(); /* NULL (out of memory): regexps compiled per check */
        int r = c.ops->process(&c);
        sched_ctx_release(&c);
        return r;
}

int scheduler_process(const struct state_store *snapshot, const struct eval *ev, const struct planner_ops *ops,
                      void *planner_data, struct error *err) {
        return scheduler_process_env(snapshot, ev, ops, planner_data, NULL, err);
}

struct node_evals {
        const char *node_id;
        const struct scheduler_env *env;
        struct eval **v;
        size_t n, cap;
        int r;
};

static bool add_node_eval(void *arg, const struct job *j) {
        struct node_evals *ne = arg;
        if ((j->type != JOB_SYSTEM && j->type != JOB_SYSBATCH) || j->stop || job_is_parent(j))
                return true;
        if (ne->n == ne->cap) {
                size_t cap = ne->cap ? ne->cap * 2 : 8;
                struct eval **v = realloc(ne->v, cap * sizeof(*v));
                if (!v) {
                        ne->r = -ENOMEM;
                        return false;
                }
                ne->v = v;
                ne->cap = cap;
        }
        struct eval *e = eval_new();
        if (!e) {
                ne->r = -ENOMEM;
                return false;
        }
        char id[ID_BUF];
        if (ne->env && ne->env->gen_id)
                ne->env->gen_id(ne->env->id_data, id);
        else
                id_generate(id);
        const struct clock_ops *clock = ne->env && ne->env->clock ? ne->env->clock : &clock_real;
        e->id = strdup(id);
        e->namespace = strdup(j->namespace ? j->namespace : "default");
        e->priority = j->priority;
        e->type = j->type;
        e->triggered_by = strdup("node-update");
        e->job_id = strdup(j->id);
        e->job_modify_index = j->job_modify_index;
        e->node_id = strdup(ne->node_id);
        e->status = EVAL_PENDING;
        e->create_time = e->modify_time = clock->now_ns(clock->data);
        ne->v[ne->n++] = e;
        if (!e->id || !e->namespace || !e->triggered_by || !e->job_id || !e->node_id) {
                ne->r = -ENOMEM;
                return false;
        }
        return true;
}

int scheduler_node_evals(const struct state_store *st, const char *node_id, const struct scheduler_env *env,
                         struct eval ***ret, size_t *ret_n) {
        struct node_evals ne = {.node_id = node_id ? node_id : "", .env = env};
        state_jobs_foreach(st, NULL, add_node_eval, &ne);
        if (ne.r < 0) {
                for (size_t i = 0; i < ne.n; i++)
                        eval_unref(ne.v[i]);
                free(ne.v);
                return ne.r;
        }
        *ret = ne.v;
        *ret_n = ne.n;
        return 0;
}
