/* scheduler.c - dispatch by job type through a static ops table. */
#include "controlplane/scheduler/scheduler.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "controlplane/scheduler/feasible.h"
#include "controlplane/scheduler/sched_internal.h"

static int unsupported_process(struct sched_ctx *c) {
        char msg[128];
        snprintf(msg, sizeof(msg), "scheduler for %s jobs is not supported yet", job_type_str(c->eval->type));
        return sched_finish_eval(c, EVAL_FAILED, msg);
}

static const struct scheduler_ops generic_service = {.name = "service", .attempts = 5, .batch = false,
                                                     .process = sched_generic_process};
static const struct scheduler_ops generic_batch = {.name = "batch", .attempts = 2, .batch = true,
                                                   .process = sched_generic_process};
static const struct scheduler_ops system_ops = {.name = "system", .attempts = 5, .process = unsupported_process};
static const struct scheduler_ops sysbatch_ops = {.name = "sysbatch", .attempts = 2, .process = unsupported_process};

static const struct scheduler_ops *const schedulers[JOB_TYPE_MAX] = {
    [JOB_SERVICE] = &generic_service,
    [JOB_BATCH] = &generic_batch,
    [JOB_SYSTEM] = &system_ops,
    [JOB_SYSBATCH] = &sysbatch_ops,
};

static void default_gen_id(void *data, char buf[ID_BUF]) {
        (void)data;
        id_generate(buf);
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
        c.gen_id = env && env->gen_id ? env->gen_id : default_gen_id;
        c.id_data = env ? env->id_data : NULL;
        c.regexps = sched_regexps_create(); /* NULL (out of memory): regexps compiled per check */
        int r = c.ops->process(&c);
        sched_ctx_release(&c);
        return r;
}

int scheduler_process(const struct state_store *snapshot, const struct eval *ev, const struct planner_ops *ops,
                      void *planner_data, struct error *err) {
        return scheduler_process_env(snapshot, ev, ops, planner_data, NULL, err);
}
