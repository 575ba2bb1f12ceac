/* update.c - in-place vs destructive updates and the update block. See update.h. */
#include "controlplane/scheduler/update.h"

#include <string.h>

#include "common/model.h"

#define SEC INT64_C(1000000000)

static int64_t dur_of(const json_t *u, const char *key, int64_t dflt) {
        json_t *v = json_object_get(u, key);
        return json_is_integer(v) && json_integer_value(v) >= 0 ? (int64_t)json_integer_value(v) : dflt;
}

/* One update block over *s (fields it does not give stay). */
static void merge_block(const json_t *u, struct update_strategy *s) {
        if (!json_is_object(u))
                return;
        s->set = true;
        json_t *v = json_object_get(u, "MaxParallel");
        if (json_is_integer(v) && json_integer_value(v) >= 0 && json_integer_value(v) <= 1000000)
                s->max_parallel = (int)json_integer_value(v);
        v = json_object_get(u, "HealthCheck");
        if (json_is_string(v)) {
                s->health_checks = strcmp(json_string_value(v), "checks") == 0;
                s->health_manual = strcmp(json_string_value(v), "manual") == 0;
        }
        s->min_healthy_ns = dur_of(u, "MinHealthyTime", s->min_healthy_ns);
        s->healthy_deadline_ns = dur_of(u, "HealthyDeadline", s->healthy_deadline_ns);
        s->progress_deadline_ns = dur_of(u, "ProgressDeadline", s->progress_deadline_ns);
        v = json_object_get(u, "Canary");
        if (json_is_integer(v) && json_integer_value(v) >= 0 && json_integer_value(v) <= JOB_MAX_COUNT)
                s->canary = (int)json_integer_value(v);
        v = json_object_get(u, "AutoRevert");
        if (json_is_boolean(v))
                s->auto_revert = json_is_true(v);
        v = json_object_get(u, "AutoPromote");
        if (json_is_boolean(v))
                s->auto_promote = json_is_true(v);
}

void sched_update_strategy(const struct job *j, const struct task_group *tg, struct update_strategy *ret) {
        bool rolling = j->type == JOB_SERVICE || j->type == JOB_SYSTEM;
        *ret = (struct update_strategy){.max_parallel = rolling ? 1 : 0,
                                        .health_checks = true,
                                        .min_healthy_ns = 10 * SEC,
                                        .healthy_deadline_ns = 300 * SEC,
                                        .progress_deadline_ns = 600 * SEC};
        if (!rolling)
                return; /* Nomad: batch jobs have no update strategy */
        merge_block(json_object_get(j->extra, "Update"), ret);
        if (tg)
                merge_block(json_object_get(tg->extra, "Update"), ret);
}

bool sched_alloc_outdated(const struct alloc *a, const struct job *j) {
        if (!a->job || !j || a->job == j)
                return false;
        return a->job->version != j->version || a->job->job_modify_index != j->job_modify_index;
}

/* ---- comparisons ---------------------------------------------------------------------------- */

static bool str_eq(const char *a, const char *b) {
        return strcmp(a ? a : "", b ? b : "") == 0;
}

static bool json_eq(const json_t *a, const json_t *b) {
        if (!a || !b)
                return (!a || json_is_null(a) || (json_is_array(a) && !json_array_size(a)) ||
                        (json_is_object(a) && !json_object_size(a))) &&
                       (!b || json_is_null(b) || (json_is_array(b) && !json_array_size(b)) ||
                        (json_is_object(b) && !json_object_size(b)));
        return json_equal(a, b);
}

/* Maps as sets of pairs: the order keys came in does not matter. */
static bool strmap_eq(const struct strmap *a, const struct strmap *b) {
        if (a->n != b->n)
                return false;
        for (size_t i = 0; i < a->n; i++) {
                const char *v = strmap_get(b, a->items[i].key);
                if (!v || !str_eq(v, a->items[i].value))
                        return false;
        }
        return true;
}

static bool constraints_eq(const struct constraint *a, size_t na, const struct constraint *b, size_t nb) {
        if (na != nb)
                return false;
        for (size_t i = 0; i < na; i++)
                if (!str_eq(a[i].ltarget, b[i].ltarget) || !str_eq(a[i].rtarget, b[i].rtarget) ||
                    !str_eq(a[i].operand, b[i].operand))
                        return false;
        return true;
}

static bool affinities_eq(const struct affinity *a, size_t na, const struct affinity *b, size_t nb) {
        if (na != nb)
                return false;
        for (size_t i = 0; i < na; i++)
                if (!str_eq(a[i].ltarget, b[i].ltarget) || !str_eq(a[i].rtarget, b[i].rtarget) ||
                    !str_eq(a[i].operand, b[i].operand) || a[i].weight != b[i].weight)
                        return false;
        return true;
}

static bool spreads_eq(const struct spread *a, size_t na, const struct spread *b, size_t nb) {
        if (na != nb)
                return false;
        for (size_t i = 0; i < na; i++) {
                if (!str_eq(a[i].attribute, b[i].attribute) || a[i].weight != b[i].weight ||
                    a[i].n_targets != b[i].n_targets)
                        return false;
                for (size_t k = 0; k < a[i].n_targets; k++)
                        if (!str_eq(a[i].targets[k].value, b[i].targets[k].value) ||
                            a[i].targets[k].percent != b[i].targets[k].percent)
                                return false;
        }
        return true;
}

static bool ports_eq(const struct port *a, size_t na, const struct port *b, size_t nb) {
        if (na != nb)
                return false;
        for (size_t i = 0; i < na; i++)
                if (!str_eq(a[i].label, b[i].label) || a[i].value != b[i].value || a[i].to != b[i].to ||
                    !str_eq(a[i].host_network, b[i].host_network))
                        return false;
        return true;
}

static bool networks_eq(const struct network *a, size_t na, const struct network *b, size_t nb) {
        if (na != nb)
                return false;
        for (size_t i = 0; i < na; i++)
                if (!str_eq(a[i].mode, b[i].mode) || a[i].mbits != b[i].mbits ||
                    !ports_eq(a[i].reserved_ports, a[i].n_reserved, b[i].reserved_ports, b[i].n_reserved) ||
                    !ports_eq(a[i].dynamic_ports, a[i].n_dynamic, b[i].dynamic_ports, b[i].n_dynamic) ||
                    !json_eq(a[i].extra, b[i].extra))
                        return false;
        return true;
}

static bool resources_eq(const struct resources *a, const struct resources *b) {
        return a->cpu == b->cpu && a->cores == b->cores && a->memory_mb == b->memory_mb &&
               a->memory_max_mb == b->memory_max_mb && a->disk_mb == b->disk_mb &&
               networks_eq(a->networks, a->n_networks, b->networks, b->n_networks) && json_eq(a->devices, b->devices);
}

/* The meta a task sees: task over group over job. */
static const char *combined_meta(const struct job *j, const struct task_group *tg, const struct task *t,
                                 const char *key) {
        const char *v = strmap_get(&t->meta, key);
        if (!v)
                v = strmap_get(&tg->meta, key);
        if (!v)
                v = strmap_get(&j->meta, key);
        return v;
}

static bool meta_keys_same(const struct job *ja, const struct task_group *ga, const struct task *ta,
                           const struct job *jb, const struct task_group *gb, const struct task *tb,
                           const struct strmap *keys) {
        for (size_t i = 0; i < keys->n; i++) {
                const char *x = combined_meta(ja, ga, ta, keys->items[i].key);
                const char *y = combined_meta(jb, gb, tb, keys->items[i].key);
                if (!x || !y || strcmp(x, y) != 0)
                        return false;
        }
        return true;
}

static bool combined_meta_eq(const struct job *ja, const struct task_group *ga, const struct task *ta,
                             const struct job *jb, const struct task_group *gb, const struct task *tb) {
        /* every key either side sees, looked up on both sides */
        const struct strmap *sides[] = {&ta->meta, &ga->meta, &ja->meta, &tb->meta, &gb->meta, &jb->meta};
        for (size_t s = 0; s < sizeof(sides) / sizeof(sides[0]); s++)
                if (!meta_keys_same(ja, ga, ta, jb, gb, tb, sides[s]))
                        return false;
        return true;
}

/* Unmodelled fields (kept in extra) whose change needs a new allocation (Lifecycle:
 * its unknown keys; Hook and Sidecar are compared in task_updated). */
static const char *const task_destructive_extra[] = {
    "Artifacts", "Templates",    "Vault",           "Consul",          "Identity",       "Identities",
    "Lifecycle", "VolumeMounts", "DispatchPayload", "CSIPluginConfig", "ScalingPolicies"};
static const char *const group_destructive_extra[] = {"Volumes", "Consul"};

static bool extra_eq(const json_t *a, const json_t *b, const char *const *keys, size_t n) {
        for (size_t i = 0; i < n; i++)
                if (!json_eq(json_object_get(a, keys[i]), json_object_get(b, keys[i])))
                        return false;
        return true;
}

static const struct task *task_of(const struct task_group *tg, const char *name) {
        for (size_t i = 0; i < tg->n_tasks; i++)
                if (str_eq(tg->tasks[i].name, name))
                        return &tg->tasks[i];
        return NULL;
}

static bool task_updated(const struct job *ja, const struct task_group *ga, const struct task *ta, const struct job *jb,
                         const struct task_group *gb, const struct task *tb) {
        return !str_eq(ta->driver, tb->driver) || !str_eq(ta->user, tb->user) || !json_eq(ta->config, tb->config) ||
               !strmap_eq(&ta->env, &tb->env) || !combined_meta_eq(ja, ga, ta, jb, gb, tb) ||
               !resources_eq(&ta->resources, &tb->resources) ||
               !constraints_eq(ta->constraints, ta->n_constraints, tb->constraints, tb->n_constraints) ||
               !affinities_eq(ta->affinities, ta->n_affinities, tb->affinities, tb->n_affinities) ||
               !str_eq(ta->kill_signal, tb->kill_signal) || ta->hook != tb->hook || ta->sidecar != tb->sidecar ||
               !extra_eq(ta->extra, tb->extra, task_destructive_extra,
                         sizeof(task_destructive_extra) / sizeof(task_destructive_extra[0]));
}

static bool datacenters_eq(const struct job *a, const struct job *b) {
        if (a->n_datacenters != b->n_datacenters)
                return false;
        for (size_t i = 0; i < a->n_datacenters; i++)
                if (!str_eq(a->datacenters[i], b->datacenters[i]))
                        return false;
        return str_eq(a->node_pool, b->node_pool);
}

bool sched_tasks_updated(const struct job *a, const struct job *b, const char *group) {
        const struct task_group *ga = job_group(a, group), *gb = job_group(b, group);
        if (!ga || !gb || ga->n_tasks != gb->n_tasks)
                return true;
        if (ga->ephemeral_disk_mb != gb->ephemeral_disk_mb ||
            !networks_eq(ga->networks, ga->n_networks, gb->networks, gb->n_networks) ||
            !constraints_eq(ga->constraints, ga->n_constraints, gb->constraints, gb->n_constraints) ||
            !constraints_eq(a->constraints, a->n_constraints, b->constraints, b->n_constraints) ||
            !affinities_eq(ga->affinities, ga->n_affinities, gb->affinities, gb->n_affinities) ||
            !affinities_eq(a->affinities, a->n_affinities, b->affinities, b->n_affinities) ||
            !spreads_eq(ga->spreads, ga->n_spreads, gb->spreads, gb->n_spreads) ||
            !spreads_eq(a->spreads, a->n_spreads, b->spreads, b->n_spreads) || !datacenters_eq(a, b) ||
            !extra_eq(ga->extra, gb->extra, group_destructive_extra,
                      sizeof(group_destructive_extra) / sizeof(group_destructive_extra[0])))
                return true;
        for (size_t i = 0; i < ga->n_tasks; i++) {
                const struct task *tb = task_of(gb, ga->tasks[i].name);
                if (!tb || task_updated(a, ga, &ga->tasks[i], b, gb, tb))
                        return true;
        }
        return false;
}
