/* fixtures.h - small builders of nodes, jobs, evals and allocations for the state,
 * plan and scheduler tests (static inline: each test file gets its own copy). */
#pragma once

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/model.h"

static inline struct node *fx_node(const char *id, const char *dc, int64_t cpu, int64_t mem) {
        struct node *n = node_new();
        n->id = strdup(id);
        n->secret_id = strdup("secret");
        n->name = strdup(id);
        n->datacenter = strdup(dc);
        n->node_class = strdup("");
        n->node_pool = strdup("default");
        n->status = NODE_READY;
        n->eligible = true;
        n->cpu_shares = cpu;
        n->memory_mb = mem;
        n->disk_mb = 100000;
        n->drivers = calloc(1, sizeof(*n->drivers));
        n->drivers[0] = (struct node_driver){strdup("raw_exec"), true, true};
        n->n_drivers = 1;
        strmap_set(&n->attributes, "kernel.name", "linux");
        strmap_set(&n->attributes, "cpu.numcores", "4");
        strmap_set(&n->attributes, "os.version", "12.4");
        node_compute_class(n);
        return n;
}

/* A job with one group "g" of count, one task "t" (raw_exec) asking cpu/mem. */
static inline struct job *fx_job(const char *id, enum job_type type, int count, int cpu, int mem) {
        struct job *j = job_new();
        j->id = strdup(id);
        j->name = strdup(id);
        j->type = type;
        j->groups = calloc(1, sizeof(*j->groups));
        j->n_groups = 1;
        struct task_group *g = &j->groups[0];
        g->name = strdup("g");
        g->count = count;
        g->tasks = calloc(1, sizeof(*g->tasks));
        g->n_tasks = 1;
        g->tasks[0].name = strdup("t");
        g->tasks[0].driver = strdup("raw_exec");
        job_canonicalize(j);
        g->tasks[0].resources.cpu = cpu;
        g->tasks[0].resources.memory_mb = mem;
        g->ephemeral_disk_mb = 0;
        return j;
}

static inline void fx_add_constraint(struct constraint **v, size_t *n, const char *l, const char *op, const char *r) {
        *v = realloc(*v, (*n + 1) * sizeof(**v));
        (*v)[*n] = (struct constraint){l ? strdup(l) : NULL, r ? strdup(r) : NULL, op ? strdup(op) : NULL};
        (*n)++;
}

/* Group "g" of j reserves static port `port` (label "http") in one group network. */
static inline void fx_add_static_port(struct job *j, int port) {
        struct task_group *g = &j->groups[0];
        g->networks = calloc(1, sizeof(*g->networks));
        g->n_networks = 1;
        g->networks[0].reserved_ports = calloc(1, sizeof(struct port));
        g->networks[0].reserved_ports[0] = (struct port){strdup("http"), port, 0, NULL};
        g->networks[0].n_reserved = 1;
}

static inline struct eval *fx_eval(const char *id, const struct job *j, const char *trigger) {
        struct eval *e = eval_new();
        e->id = strdup(id);
        e->namespace = strdup(j->namespace ? j->namespace : "default");
        e->priority = j->priority;
        e->type = j->type;
        e->triggered_by = strdup(trigger);
        e->job_id = strdup(j->id);
        e->status = EVAL_PENDING;
        return e;
}

static inline struct alloc *fx_alloc(const char *id, struct job *j, const char *node, int index, int cpu, int mem) {
        struct alloc *a = alloc_new();
        a->id = strdup(id);
        a->namespace = strdup(j->namespace ? j->namespace : "default");
        a->eval_id = strdup("eval-0");
        if (asprintf(&a->name, "%s.g[%d]", j->id, index) < 0)
                abort();
        a->node_id = strdup(node);
        a->job_id = strdup(j->id);
        a->job = job_ref(j);
        a->task_group = strdup("g");
        a->resources = (struct res_ask){cpu, mem, 0};
        a->desired_status = ALLOC_DESIRED_RUN;
        a->client_status = ALLOC_CLIENT_RUNNING;
        return a;
}
