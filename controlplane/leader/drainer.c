/* drainer.c - the node drainer: see drainer.h. */
#include "controlplane/leader/drainer.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "common/jsonx.h"
#include "common/model.h"
#include "controlplane/state/state.h"

struct step {
        const struct state_store *st;
        int64_t now;
        const struct drainer_env *env;
        json_t *cmds;
        json_t *stopped; /* alloc IDs stopped in this step */
};

static void gen_id(const struct step *s, char buf[ID_BUF]) {
        if (s->env && s->env->gen_id)
                s->env->gen_id(s->env->id_data, buf);
        else
                id_generate(buf);
}

static json_t *drain_eval(const struct step *s, const struct alloc *a, const struct job *j) {
        char id[ID_BUF];
        gen_id(s, id);
        return json_pack("{s:s,s:s,s:i,s:s,s:s,s:s,s:s,s:s,s:I,s:I,s:I}", "ID", id, "Namespace",
                         a->namespace ? a->namespace : "default", "Priority", j ? j->priority : 50, "Type",
                         job_type_str(j ? j->type : JOB_SERVICE), "TriggeredBy", "node-drain", "JobID", a->job_id,
                         "NodeID", a->node_id ? a->node_id : "", "Status", "pending", "JobModifyIndex",
                         (json_int_t)(j ? j->modify_index : 0), "CreateTime", (json_int_t)s->now, "ModifyTime",
                         (json_int_t)s->now);
}

static void stop(struct step *s, const struct alloc *a, const struct job *j) {
        json_array_append_new(s->cmds, json_pack("{s:s,s:s,s:s,s:I,s:[o]}", "Type", "AllocStop", "AllocID", a->id,
                                                 "Description", DRAINER_STOP_DESC, "UpdatedAt", (json_int_t)s->now,
                                                 "Evals", drain_eval(s, a, j)));
        json_object_set_new(s->stopped, a->id, json_true());
}

/* Still to move: wanted running and not finished on the client. */
static bool live(const struct alloc *a) {
        return a->desired_status == ALLOC_DESIRED_RUN && !alloc_terminal(a);
}

static const struct task_group *group_of(const struct job *j, const char *name) {
        for (size_t g = 0; j && name && g < j->n_groups; g++)
                if (strcmp(j->groups[g].name, name) == 0)
                        return &j->groups[g];
        return NULL;
}

/* migrate { max_parallel } of the group (kept in its extra as Migrate.MaxParallel). */
static int max_parallel(const struct task_group *g) {
        json_t *m = g ? json_object_get(g->extra, "Migrate") : NULL;
        int64_t v = jx_int(m, "MaxParallel", 1);
        return v < 1 ? 1 : v > 1000000 ? 1000000 : (int)v;
}

/* How many of the group's Count are missing: not (desired run and running). */
static int missing(const struct step *s, const struct job *j, const struct task_group *g) {
        size_t n = 0;
        struct alloc *const *allocs = state_allocs_by_job(s->st, j->namespace, j->id, &n);
        int running = 0;
        for (size_t i = 0; i < n; i++) {
                const struct alloc *a = allocs[i];
                if (a->task_group && strcmp(a->task_group, g->name) == 0 && a->desired_status == ALLOC_DESIRED_RUN &&
                    a->client_status == ALLOC_CLIENT_RUNNING && !json_object_get(s->stopped, a->id))
                        running++;
        }
        return g->count > running ? g->count - running : 0;
}

static bool is_system(const struct job *j) {
        return j && (j->type == JOB_SYSTEM || j->type == JOB_SYSBATCH);
}

static void drain_node(struct step *s, const struct node *n) {
        const json_t *strategy = json_object_get(n->extra, "DrainStrategy");
        const json_t *spec = json_object_get(strategy, "DrainSpec");
        int64_t force = jx_int(strategy, "ForceDeadline", 0);
        bool past_deadline = force != 0 && s->now >= force;
        bool ignore_system = jx_bool(spec, "IgnoreSystemJobs", false);
        size_t n_allocs = 0;
        struct alloc *const *allocs = state_allocs_by_node(s->st, n->id, &n_allocs);
        size_t left_other = 0, left_system = 0;
        for (size_t i = 0; i < n_allocs; i++) {
                const struct alloc *a = allocs[i];
                if (!live(a))
                        continue;
                const struct job *j = state_job_get(s->st, a->namespace ? a->namespace : "default", a->job_id);
                if (is_system(j ? j : a->job))
                        left_system++;
                else
                        left_other++;
        }
        for (size_t i = 0; i < n_allocs; i++) {
                const struct alloc *a = allocs[i];
                if (!live(a))
                        continue;
                const struct job *j = state_job_get(s->st, a->namespace ? a->namespace : "default", a->job_id);
                const struct job *jv = j ? j : a->job;
                if (is_system(jv)) {
                        if (!ignore_system && (past_deadline || left_other == 0))
                                stop(s, a, jv);
                        continue;
                }
                if (past_deadline || !j || j->stop) {
                        stop(s, a, jv);
                        continue;
                }
                if (j->type == JOB_BATCH)
                        continue; /* batch work finishes, or the deadline stops it */
                const struct task_group *g = group_of(j, a->task_group);
                if (!g || missing(s, j, g) < max_parallel(g))
                        stop(s, a, jv);
        }
        if (left_other == 0 && (left_system == 0 || ignore_system)) {
                const json_t *last = json_object_get(n->extra, "LastDrain");
                json_array_append_new(
                    s->cmds, json_pack("{s:s,s:s,s:n,s:{s:s,s:I,s:I},s:b,s:[]}", "Type", "NodeUpdateDrain", "NodeID",
                                       n->id, "DrainStrategy", "LastDrain", "Status", "complete", "StartedAt",
                                       (json_int_t)jx_int(last, "StartedAt", s->now / 1000000000), "UpdatedAt",
                                       (json_int_t)(s->now / 1000000000), "Eligible", false, "Evals"));
        }
}

static bool visit_node(void *arg, const struct node *n) {
        struct step *s = arg;
        if (n->drain && json_is_object(json_object_get(n->extra, "DrainStrategy")))
                drain_node(s, n);
        return true;
}

int drainer_step(const struct state_store *st, int64_t now_ns, const struct drainer_env *env, json_t **ret_cmds) {
        struct step s = {.st = st, .now = now_ns, .env = env, .cmds = json_array(), .stopped = json_object()};
        if (!s.cmds || !s.stopped) {
                json_decref(s.cmds);
                json_decref(s.stopped);
                return -ENOMEM;
        }
        state_nodes_foreach(st, visit_node, &s);
        json_decref(s.stopped);
        *ret_cmds = s.cmds;
        return 0;
}
