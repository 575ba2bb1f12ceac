/* sched_internal.h - shared between the scheduler's files. */
#pragma once

#include <jansson.h>
#include <stdbool.h>

#include "controlplane/scheduler/scheduler.h"

struct sched_ctx;

struct scheduler_ops {
        const char *name;
        int attempts; /* plan submissions without progress before giving up */
        bool batch;
        int (*process)(struct sched_ctx *c);
};

struct sched_ctx {
        const struct scheduler_ops *ops;
        const struct planner_ops *planner;
        void *planner_data;
        const struct state_store *snap; /* current: the caller's or owned_snap */
        struct state_store *owned_snap; /* refreshed during processing */
        const struct eval *eval;
        struct error *err;
        const struct clock_ops *clock;
        void (*gen_id)(void *data, char buf[ID_BUF]);
        void *id_data;
        enum sched_algorithm algorithm;
        struct sched_preemption preemption;
        bool memory_oversubscription; /* scheduler_env's */
        /* results of the last attempt */
        json_t *failed_tg;  /* {group: AllocationMetric} */
        json_t *queued;     /* {group: n} */
        json_t *class_elig; /* {class: bool} */
        bool escaped;
        char blocked_id[ID_BUF];
        /* the follow-up evals this evaluation created or found (followup.c), across its
         * attempts: one per batch of delayed reschedules */
        struct sched_followup *followups;
        size_t n_followups;
        struct sched_regexps *regexps; /* compiled once per evaluation; NULL: compile each time */
        struct sched_cand_cache *cands; /* the worker's, across evaluations; NULL: none */
};

struct sched_attempt;

int sched_generic_process(struct sched_ctx *c);
int sched_system_process(struct sched_ctx *c);
/* The attempt loop shared by the schedulers: build(at) fills the attempt's plan (and
 * c->failed_tg, c->queued); the plan is submitted, partial commits retried on the
 * refreshed state (c->ops->attempts without progress), and the eval finished. With
 * block, placements that failed become one blocked eval (service, batch); system
 * jobs are evaluated again when nodes join or change instead. */
int sched_run_attempts(struct sched_ctx *c, int (*build)(struct sched_attempt *at), bool block);
/* Write the eval with its final status (and the attempt's metrics). */
int sched_finish_eval(struct sched_ctx *c, enum eval_status status, const char *description);
void sched_ctx_release(struct sched_ctx *c);
int64_t sched_now(const struct sched_ctx *c);
