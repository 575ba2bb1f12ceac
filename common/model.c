/* model.c - lifecycle, copies, defaults and validation of the data model. */
#include "common/model.h"

#include <errno.h>
#include <regex.h>
#include <stdio.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/cron.h"
#include "common/error.h"
#include "common/hashmap.h"
#include "common/jobcheck.h"
#include "common/limits.h"
#include "common/macros.h"

/* ---- strmap ---------------------------------------------------------------- */

const char *strmap_get(const struct strmap *m, const char *key) {
        for (size_t i = 0; i < m->n; i++)
                if (strcmp(m->items[i].key, key) == 0)
                        return m->items[i].value;
        return NULL;
}

int strmap_set(struct strmap *m, const char *key, const char *value) {
        char *v = strdup(value ? value : "");
        if (!v)
                return -ENOMEM;
        for (size_t i = 0; i < m->n; i++)
                if (strcmp(m->items[i].key, key) == 0) {
                        free(m->items[i].value);
                        m->items[i].value = v;
                        return 0;
                }
        struct kv *items = realloc(m->items, (m->n + 1) * sizeof(*items));
        char *k = strdup(key);
        if (!items || !k) {
                if (items)
                        m->items = items;
                free(k);
                free(v);
                return -ENOMEM;
        }
        m->items = items;
        m->items[m->n].key = k;
        m->items[m->n].value = v;
        m->n++;
        return 0;
}

void strmap_clear(struct strmap *m) {
        for (size_t i = 0; i < m->n; i++) {
                free(m->items[i].key);
                free(m->items[i].value);
        }
        free(m->items);
        m->items = NULL;
        m->n = 0;
}

int strmap_copy(struct strmap *dst, const struct strmap *src) {
        memset(dst, 0, sizeof(*dst));
        for (size_t i = 0; i < src->n; i++) {
                int r = strmap_set(dst, src->items[i].key, src->items[i].value);
                if (r < 0) {
                        strmap_clear(dst);
                        return r;
                }
        }
        return 0;
}

/* ---- enums ----------------------------------------------------------------- */

static int parse_enum(const char *const names[], int n, const char *s, int *ret) {
        if (!s)
                return -EINVAL;
        for (int i = 0; i < n; i++)
                if (strcmp(names[i], s) == 0) {
                        *ret = i;
                        return 0;
                }
        return -EINVAL;
}

#define ENUM_STRINGS(fn_str, fn_parse, type, max, ...)                                                                 \
        static const char *const fn_str##_names[max] = {__VA_ARGS__};                                                  \
        const char *fn_str(type v) {                                                                                   \
                return (unsigned)v < (unsigned)(max) ? fn_str##_names[v] : "unknown";                                 \
        }                                                                                                              \
        int fn_parse(const char *s, type *ret) {                                                                       \
                int v;                                                                                                 \
                int r = parse_enum(fn_str##_names, (int)(max), s, &v);                                                 \
                if (r == 0)                                                                                            \
                        *ret = (type)v;                                                                                \
                return r;                                                                                              \
        }

ENUM_STRINGS(job_type_str, job_type_parse, enum job_type, JOB_TYPE_MAX, "service", "batch", "system", "sysbatch")
ENUM_STRINGS(node_status_str, node_status_parse, enum node_status, NODE_STATUS_MAX, "initializing", "ready", "down",
             "disconnected")
ENUM_STRINGS(alloc_desired_str, alloc_desired_parse, enum alloc_desired, ALLOC_DESIRED_MAX, "run", "stop", "evict")
ENUM_STRINGS(alloc_client_str, alloc_client_parse, enum alloc_client, ALLOC_CLIENT_MAX, "pending", "running",
             "complete", "failed", "lost", "unknown")
ENUM_STRINGS(eval_status_str, eval_status_parse, enum eval_status, EVAL_STATUS_MAX, "blocked", "pending", "complete",
             "failed", "canceled")
ENUM_STRINGS(task_hook_str, task_hook_parse, enum task_hook, TASK_HOOK_MAX, "", "prestart", "poststart", "poststop")
ENUM_STRINGS(task_state_str, task_state_parse, enum task_state_kind, TASK_STATE_MAX, "pending", "running", "dead")

const char *job_status_str(enum job_status s) {
        static const char *const names[] = {"pending", "running", "dead"};
        return (unsigned)s < JOB_STATUS_MAX ? names[s] : "unknown";
}

bool alloc_client_terminal(enum alloc_client s) {
        return s == ALLOC_CLIENT_COMPLETE || s == ALLOC_CLIENT_FAILED || s == ALLOC_CLIENT_LOST;
}

/* ---- job: free / copy ------------------------------------------------------ */

static void constraints_free(struct constraint *c, size_t n) {
        for (size_t i = 0; i < n; i++) {
                free(c[i].ltarget);
                free(c[i].rtarget);
                free(c[i].operand);
        }
        free(c);
}

static void affinities_free(struct affinity *a, size_t n) {
        for (size_t i = 0; i < n; i++) {
                free(a[i].ltarget);
                free(a[i].rtarget);
                free(a[i].operand);
        }
        free(a);
}

static void spreads_free(struct spread *s, size_t n) {
        for (size_t i = 0; i < n; i++) {
                free(s[i].attribute);
                for (size_t t = 0; t < s[i].n_targets; t++)
                        free(s[i].targets[t].value);
                free(s[i].targets);
        }
        free(s);
}

static void ports_free(struct port *p, size_t n) {
        for (size_t i = 0; i < n; i++) {
                free(p[i].label);
                free(p[i].host_network);
        }
        free(p);
}

static void networks_free(struct network *nw, size_t n) {
        for (size_t i = 0; i < n; i++) {
                free(nw[i].mode);
                ports_free(nw[i].reserved_ports, nw[i].n_reserved);
                ports_free(nw[i].dynamic_ports, nw[i].n_dynamic);
                if (nw[i].extra)
                        json_decref(nw[i].extra);
        }
        free(nw);
}

static void task_free_fields(struct task *t) {
        free(t->name);
        free(t->driver);
        free(t->user);
        if (t->config)
                json_decref(t->config);
        strmap_clear(&t->env);
        strmap_clear(&t->meta);
        networks_free(t->resources.networks, t->resources.n_networks);
        if (t->resources.devices)
                json_decref(t->resources.devices);
        constraints_free(t->constraints, t->n_constraints);
        affinities_free(t->affinities, t->n_affinities);
        free(t->restart.mode);
        free(t->kill_signal);
        if (t->extra)
                json_decref(t->extra);
}

static void group_free_fields(struct task_group *g) {
        free(g->name);
        constraints_free(g->constraints, g->n_constraints);
        affinities_free(g->affinities, g->n_affinities);
        spreads_free(g->spreads, g->n_spreads);
        for (size_t i = 0; i < g->n_tasks; i++)
                task_free_fields(&g->tasks[i]);
        free(g->tasks);
        free(g->restart.mode);
        networks_free(g->networks, g->n_networks);
        strmap_clear(&g->meta);
        if (g->extra)
                json_decref(g->extra);
}

struct job *job_new(void) {
        struct job *j = calloc(1, sizeof(*j));
        if (j)
                j->refcount = 1;
        return j;
}

struct job *job_ref(struct job *j) {
        if (j)
                __atomic_add_fetch(&j->refcount, 1, __ATOMIC_RELAXED);
        return j;
}

struct job *job_unref(struct job *j) {
        if (!j || __atomic_sub_fetch(&j->refcount, 1, __ATOMIC_ACQ_REL) > 0)
                return NULL;
        free(j->id);
        free(j->name);
        free(j->region);
        free(j->namespace);
        for (size_t i = 0; i < j->n_datacenters; i++)
                free(j->datacenters[i]);
        free(j->datacenters);
        free(j->node_pool);
        constraints_free(j->constraints, j->n_constraints);
        affinities_free(j->affinities, j->n_affinities);
        spreads_free(j->spreads, j->n_spreads);
        for (size_t i = 0; i < j->n_groups; i++)
                group_free_fields(&j->groups[i]);
        free(j->groups);
        strmap_clear(&j->meta);
        if (j->extra)
                json_decref(j->extra);
        free(j);
        return NULL;
}

struct job *job_copy(const struct job *j) {
        /* Jobs are copied rarely (register, stop): a round trip through the
         * codec keeps one definition of every field. */
        _cleanup_json_ json_t *o = job_to_json(j);
        struct job *c = NULL;
        if (!o || job_from_json(o, &c, NULL) < 0)
                return NULL;
        return c;
}

/* A decoded job may carry a group without a name (the plan codec's, a follower's):
 * such a group matches nothing. */
const struct task_group *job_group(const struct job *j, const char *name) {
        for (size_t i = 0; name && i < j->n_groups; i++)
                if (j->groups[i].name && strcmp(j->groups[i].name, name) == 0)
                        return &j->groups[i];
        return NULL;
}

/* ---- defaults (Nomad's Canonicalize) ---------------------------------------- */

static void set_default_str(char **field, const char *def) {
        if (!*field || !**field) {
                free(*field);
                *field = strdup(def);
        }
}

static void restart_defaults(struct restart_policy *rp, enum job_type type) {
        if (rp->set)
                return;
        rp->set = true;
        if (type == JOB_BATCH || type == JOB_SYSBATCH) {
                rp->attempts = 3;
                rp->interval_ns = 24LL * 3600 * 1000000000LL;
        } else {
                rp->attempts = 2;
                rp->interval_ns = 30LL * 60 * 1000000000LL;
        }
        rp->delay_ns = 15LL * 1000000000LL;
        free(rp->mode);
        rp->mode = strdup("fail");
}

void job_canonicalize(struct job *j) {
        if (!j->name && j->id)
                j->name = strdup(j->id);
        set_default_str(&j->region, "global");
        set_default_str(&j->namespace, "default");
        set_default_str(&j->node_pool, "default");
        if (j->priority == 0)
                j->priority = 50;
        if (j->n_datacenters == 0) {
                j->datacenters = calloc(1, sizeof(char *));
                if (j->datacenters) {
                        j->datacenters[0] = strdup("*");
                        j->n_datacenters = 1;
                }
        }
        for (size_t g = 0; g < j->n_groups; g++) {
                struct task_group *tg = &j->groups[g];
                if (tg->count < 0)
                        continue; /* validation reports it */
                restart_defaults(&tg->restart, j->type);
                if (tg->ephemeral_disk_mb == 0)
                        tg->ephemeral_disk_mb = 300;
                for (size_t t = 0; t < tg->n_tasks; t++) {
                        struct task *task = &tg->tasks[t];
                        if (!task->restart.set) {
                                /* A task inherits its group's policy. */
                                task->restart = tg->restart;
                                task->restart.mode = tg->restart.mode ? strdup(tg->restart.mode) : NULL;
                        }
                        if (!task->resources.cpu_set && task->resources.cpu == 0 && task->resources.cores == 0)
                                task->resources.cpu = 100;
                        if (!task->resources.memory_set && task->resources.memory_mb == 0)
                                task->resources.memory_mb = 300;
                        if (task->kill_timeout_ns == 0)
                                task->kill_timeout_ns = 5LL * 1000000000LL;
                        if (task->logs.max_files == 0)
                                task->logs.max_files = 10;
                        if (task->logs.max_file_size_mb == 0)
                                task->logs.max_file_size_mb = 10;
                }
        }
}

/* ---- validation -------------------------------------------------------------- */

static const char *const known_drivers[] = {"raw_exec", "exec", "docker", "java", "qemu", "mock_driver"};

static bool valid_name(const char *s) {
        if (!s || !*s || strlen(s) > 128)
                return false;
        for (const char *p = s; *p; p++)
                if ((unsigned char)*p < 0x20 || *p == ' ' || *p == '\0')
                        return false;
        return true;
}

/* Nomad's constraint operators (scheduler/feasible/feasible.go checkConstraint and
 * the distinct_* iterators); affinities take the same but distinct_*. */
static const char *const constraint_operands[] = {
    "=", "==", "is", "!=", "not", "<", "<=", ">", ">=", "regexp", "version", "semver", "set_contains",
    "set_contains_all", "set_contains_any", "is_set", "is_not_set", "distinct_hosts", "distinct_property",
};

bool constraint_operand_known(const char *op, bool affinity) {
        if (!op || !*op)
                return true; /* "=" */
        for (size_t i = 0; i < ARRAY_SIZE(constraint_operands); i++)
                if (strcmp(constraint_operands[i], op) == 0)
                        return !affinity || strncmp(op, "distinct_", 9) != 0;
        return false;
}

/* "job \"web\", group \"api\", task \"t\"" for messages. */
static void place_name(char *buf, size_t size, const struct job *j, const struct task_group *tg,
                       const struct task *t) {
        int n = snprintf(buf, size, "job \"%s\"", j->id);
        if (tg && n >= 0 && (size_t)n < size)
                n += snprintf(buf + n, size - (size_t)n, ", group \"%s\"", tg->name ? tg->name : "");
        if (t && n >= 0 && (size_t)n < size)
                snprintf(buf + n, size - (size_t)n, ", task \"%s\"", t->name ? t->name : "");
}

static int check_operand(const char *where, const char *kind, size_t i, const char *ltarget, const char *op,
                         const char *rtarget, bool affinity, struct error *err) {
        if (!constraint_operand_known(op, affinity))
                return errorf(err, -EINVAL,
                              "%s, %s %zu: unknown operator \"%s\" (known: =, !=, >, >=, <, <=, regexp, version, "
                              "semver, set_contains, set_contains_all, set_contains_any, is_set, is_not_set%s)",
                              where, kind, i, op, affinity ? "" : ", distinct_hosts, distinct_property");
        if (!op || !*op)
                op = "=";
        bool needs_l = strcmp(op, "distinct_hosts") != 0;
        bool needs_r = needs_l && strcmp(op, "is_set") != 0 && strcmp(op, "is_not_set") != 0 &&
                       strcmp(op, "distinct_property") != 0;
        if (needs_l && (!ltarget || !*ltarget))
                return errorf(err, -EINVAL, "%s, %s %zu: operator \"%s\" needs an attribute (LTarget)", where, kind,
                              i, op);
        if (needs_r && !rtarget)
                return errorf(err, -EINVAL, "%s, %s %zu: operator \"%s\" needs a value (RTarget)", where, kind, i,
                              op);
        if (strcmp(op, "regexp") == 0) {
                regex_t re;
                if (limits_check_regexp(rtarget, err) < 0)
                        return error_prefix(err, "%s, %s %zu", where, kind, i);
                if (regcomp(&re, rtarget, REG_EXTENDED | REG_NOSUB) != 0)
                        return errorf(err, -EINVAL, "%s, %s %zu: invalid regexp \"%s\"", where, kind, i, rtarget);
                regfree(&re);
        }
        bool semver = strcmp(op, "semver") == 0;
        if ((semver || strcmp(op, "version") == 0) && !version_constraint_valid(rtarget, semver))
                return errorf(err, -EINVAL,
                              "%s, %s %zu: invalid %s constraint \"%.64s\" (terms such as \">= 1.2.0, < 2\"%s)",
                              where, kind, i, op, rtarget, semver ? "; at most MAJOR.MINOR.PATCH" : "");
        if (strcmp(op, "distinct_hosts") == 0 && rtarget && *rtarget && go_bool_parse(rtarget) < 0)
                return errorf(err, -EINVAL, "%s, %s %zu: distinct_hosts value must be true or false (got \"%.64s\")",
                              where, kind, i, rtarget);
        if (strcmp(op, "distinct_property") == 0 && rtarget && *rtarget) {
                char *end;
                long v = strtol(rtarget, &end, 10);
                if (*end || v < 1)
                        return errorf(err, -EINVAL,
                                      "%s, %s %zu: distinct_property limit must be a positive integer (got \"%s\")",
                                      where, kind, i, rtarget);
        }
        return 0;
}

static int check_constraints(const char *where, const struct constraint *c, size_t n, struct error *err) {
        if (n > JOB_MAX_CONSTRAINTS)
                return errorf(err, -EINVAL, "%s: at most %d constraints (got %zu)", where, JOB_MAX_CONSTRAINTS, n);
        for (size_t i = 0; i < n; i++) {
                int r = check_operand(where, "constraint", i, c[i].ltarget, c[i].operand, c[i].rtarget, false, err);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int check_affinities(const char *where, const struct affinity *a, size_t n, struct error *err) {
        if (n > JOB_MAX_CONSTRAINTS)
                return errorf(err, -EINVAL, "%s: at most %d affinities (got %zu)", where, JOB_MAX_CONSTRAINTS, n);
        for (size_t i = 0; i < n; i++) {
                int r = check_operand(where, "affinity", i, a[i].ltarget, a[i].operand, a[i].rtarget, true, err);
                if (r < 0)
                        return r;
                if (a[i].weight < -100 || a[i].weight > 100 || a[i].weight == 0)
                        return errorf(err, -EINVAL,
                                      "%s, affinity %zu: weight must be between -100 and 100 and not 0 (got %d)",
                                      where, i, a[i].weight);
        }
        return 0;
}

static int check_spreads(const char *where, const struct spread *s, size_t n, struct error *err) {
        for (size_t i = 0; i < n; i++) {
                if (!s[i].attribute || !*s[i].attribute)
                        return errorf(err, -EINVAL, "%s, spread %zu: missing attribute", where, i);
                if (s[i].weight < 0 || s[i].weight > 100)
                        return errorf(err, -EINVAL, "%s, spread %zu: weight must be between 0 and 100 (got %d)",
                                      where, i, s[i].weight);
                int sum = 0;
                for (size_t t = 0; t < s[i].n_targets; t++) {
                        if (s[i].targets[t].percent < 0 || s[i].targets[t].percent > 100)
                                return errorf(err, -EINVAL,
                                              "%s, spread %zu, target \"%s\": percent must be between 0 and 100 "
                                              "(got %d)",
                                              where, i, s[i].targets[t].value ? s[i].targets[t].value : "",
                                              s[i].targets[t].percent);
                        sum += s[i].targets[t].percent;
                }
                if (sum > 100)
                        return errorf(err, -EINVAL, "%s, spread %zu: target percentages add up to %d (at most 100)",
                                      where, i, sum);
        }
        return 0;
}

/* Static ports in range and not reserved twice in the group; `to` in -1..65535. */
static int check_networks(const char *where, const struct network *nets, size_t n, uint8_t *seen,
                          struct error *err) {
        for (size_t i = 0; i < n; i++) {
                for (size_t p = 0; p < nets[i].n_reserved; p++) {
                        const struct port *pt = &nets[i].reserved_ports[p];
                        const char *label = pt->label ? pt->label : "";
                        if (pt->value < 1 || pt->value > 65535)
                                return errorf(err, -EINVAL,
                                              "%s, network: port \"%s\" has a static port %d out of range "
                                              "(1-65535)",
                                              where, label, pt->value);
                        if (seen[pt->value >> 3] & (1u << (pt->value & 7)))
                                return errorf(err, -EINVAL, "%s, network: static port %d is reserved twice", where,
                                              pt->value);
                        seen[pt->value >> 3] |= (uint8_t)(1u << (pt->value & 7));
                        if (pt->to < -1 || pt->to > 65535)
                                return errorf(err, -EINVAL,
                                              "%s, network: port \"%s\" maps to port %d, out of range (-1-65535)",
                                              where, label, pt->to);
                }
                for (size_t p = 0; p < nets[i].n_dynamic; p++) {
                        const struct port *pt = &nets[i].dynamic_ports[p];
                        if (pt->to < -1 || pt->to > 65535)
                                return errorf(err, -EINVAL,
                                              "%s, network: port \"%s\" maps to port %d, out of range (-1-65535)",
                                              where, pt->label ? pt->label : "", pt->to);
                }
        }
        return 0;
}

/* Names must be unique: a hash set, so that many groups or tasks cost linear time. */
struct name_set {
        struct hashmap *m;
};

static int name_seen(struct name_set *s, const char *name, bool *ret_dup) {
        if (!s->m && !(s->m = hashmap_create(0)))
                return -ENOMEM;
        int r = hashmap_put(s->m, name, (void *)name, NULL);
        if (r < 0)
                return r;
        *ret_dup = r == 1;
        return 0;
}

static int validate_task(const struct job *j, const struct task_group *tg, size_t t, struct name_set *names,
                         uint8_t *ports, struct error *err) {
        const struct task *task = &tg->tasks[t];
        if (!task->name || !*task->name)
                return errorf(err, -EINVAL, "job \"%s\", group \"%s\", task %zu: missing task name", j->id, tg->name,
                              t);
        bool dup = false;
        if (name_seen(names, task->name, &dup) < 0)
                return errorf(err, -ENOMEM, "job \"%s\": out of memory", j->id);
        if (dup)
                return errorf(err, -EINVAL, "job \"%s\", group \"%s\": duplicate task name \"%s\"", j->id, tg->name,
                              task->name);
        if (!task->driver || !*task->driver)
                return errorf(err, -EINVAL, "job \"%s\", group \"%s\", task \"%s\": missing driver", j->id, tg->name,
                              task->name);
        bool known = false;
        for (size_t d = 0; d < ARRAY_SIZE(known_drivers); d++)
                known = known || strcmp(known_drivers[d], task->driver) == 0;
        if (!known)
                return errorf(err, -EINVAL,
                              "job \"%s\", group \"%s\", task \"%s\": unknown driver \"%s\" (known: raw_exec, exec, docker, java, qemu)",
                              j->id, tg->name, task->name, task->driver);
        if (task->resources.cpu < 0 || (task->resources.cpu == 0 && task->resources.cores == 0))
                return errorf(err, -EINVAL,
                              "job \"%s\", group \"%s\", task \"%s\", resources: cpu must be >= 1 MHz (got %d)",
                              j->id, tg->name, task->name, task->resources.cpu);
        if (task->resources.cores < 0)
                return errorf(err, -EINVAL,
                              "job \"%s\", group \"%s\", task \"%s\", resources: cores must be >= 0 (got %d)", j->id,
                              tg->name, task->name, task->resources.cores);
        if (task->resources.memory_mb < 10)
                return errorf(err, -EINVAL,
                              "job \"%s\", group \"%s\", task \"%s\", resources: memory must be >= 10 MB (got %d)",
                              j->id, tg->name, task->name, task->resources.memory_mb);
        if (task->resources.memory_max_mb && task->resources.memory_max_mb < task->resources.memory_mb)
                return errorf(err, -EINVAL,
                              "job \"%s\", group \"%s\", task \"%s\", resources: memory_max (%d) must be >= memory (%d)",
                              j->id, tg->name, task->name, task->resources.memory_max_mb, task->resources.memory_mb);
        char where[512];
        place_name(where, sizeof(where), j, tg, task);
        int r;
        if ((r = check_constraints(where, task->constraints, task->n_constraints, err)) < 0 ||
            (r = check_affinities(where, task->affinities, task->n_affinities, err)) < 0 ||
            (r = check_networks(where, task->resources.networks, task->resources.n_networks, ports, err)) < 0)
                return r;
        if (strcmp(task->driver, "raw_exec") == 0 || strcmp(task->driver, "exec") == 0) {
                json_t *cmd = task->config ? json_object_get(task->config, "command") : NULL;
                if (!json_is_string(cmd) || !*json_string_value(cmd))
                        return errorf(err, -EINVAL,
                                      "job \"%s\", group \"%s\", task \"%s\", config: missing \"command\" for driver %s",
                                      j->id, tg->name, task->name, task->driver);
                json_t *args = json_object_get(task->config, "args");
                if (args && !json_is_array(args))
                        return errorf(err, -EINVAL,
                                      "job \"%s\", group \"%s\", task \"%s\", config: \"args\" must be a list of strings",
                                      j->id, tg->name, task->name);
        }
        return 0;
}

static int validate_group(const struct job *j, size_t g, struct name_set *groups, uint8_t *ports, size_t *n_tasks,
                          struct error *err) {
        const struct task_group *tg = &j->groups[g];
        if (!tg->name || !*tg->name)
                return errorf(err, -EINVAL, "job \"%s\", group %zu: missing group name", j->id, g);
        bool dup = false;
        if (name_seen(groups, tg->name, &dup) < 0)
                return errorf(err, -ENOMEM, "job \"%s\": out of memory", j->id);
        if (dup)
                return errorf(err, -EINVAL, "job \"%s\": duplicate group name \"%s\"", j->id, tg->name);
        if (tg->count < 0)
                return errorf(err, -EINVAL, "job \"%s\", group \"%s\": count must be >= 0 (got %d)", j->id, tg->name,
                              tg->count);
        if (tg->count > JOB_MAX_COUNT)
                return errorf(err, -EINVAL, "job \"%s\", group \"%s\": count must be <= %d (got %d)", j->id, tg->name,
                              JOB_MAX_COUNT, tg->count);
        if (j->type == JOB_SYSTEM && tg->count > 1)
                return errorf(err, -EINVAL,
                              "job \"%s\", group \"%s\": count must be 0 or 1 in a system job (got %d); a system "
                              "job runs one allocation on every eligible node",
                              j->id, tg->name, tg->count);
        if (tg->n_tasks == 0)
                return errorf(err, -EINVAL, "job \"%s\", group \"%s\": missing task (a group needs at least one \"task\")",
                              j->id, tg->name);
        if (tg->n_tasks > GROUP_MAX_TASKS)
                return errorf(err, -EINVAL, "job \"%s\", group \"%s\": at most %d tasks per group (got %zu)", j->id,
                              tg->name, GROUP_MAX_TASKS, tg->n_tasks);
        *n_tasks += tg->n_tasks;
        if (*n_tasks > JOB_MAX_TASKS)
                return errorf(err, -EINVAL, "job \"%s\": at most %d tasks per job (got more at group \"%s\")", j->id,
                              JOB_MAX_TASKS, tg->name);
        if (tg->restart.mode && strcmp(tg->restart.mode, "fail") != 0 && strcmp(tg->restart.mode, "delay") != 0)
                return errorf(err, -EINVAL,
                              "job \"%s\", group \"%s\", restart: mode must be \"fail\" or \"delay\" (got \"%s\")",
                              j->id, tg->name, tg->restart.mode);
        char where[512];
        place_name(where, sizeof(where), j, tg, NULL);
        int r;
        memset(ports, 0, 65536 / 8);
        if ((r = check_constraints(where, tg->constraints, tg->n_constraints, err)) < 0 ||
            (r = check_affinities(where, tg->affinities, tg->n_affinities, err)) < 0 ||
            (r = check_spreads(where, tg->spreads, tg->n_spreads, err)) < 0 ||
            (r = check_networks(where, tg->networks, tg->n_networks, ports, err)) < 0 ||
            (r = update_block_validate(where, json_object_get(tg->extra, "Update"), err)) < 0 ||
            (r = reschedule_block_validate(where, json_object_get(tg->extra, "ReschedulePolicy"), err)) < 0)
                return r;
        struct name_set tasks = {0};
        for (size_t t = 0; t < tg->n_tasks && r == 0; t++)
                r = validate_task(j, tg, t, &tasks, ports, err);
        hashmap_destroy(tasks.m);
        if (r < 0)
                return r;
        /* Nomad's rule: lifecycle tasks run around the main tasks, so a group needs
         * one (a sidecar is a lifecycle task too). */
        for (size_t t = 0; t < tg->n_tasks; t++)
                if (tg->tasks[t].hook == TASK_HOOK_NONE)
                        return 0;
        return errorf(err, -EINVAL,
                      "job \"%s\", group \"%s\": needs a main task (one without a lifecycle block); all %zu tasks "
                      "have a lifecycle hook",
                      j->id, tg->name, tg->n_tasks);
}

static int job_kinds_validate(const struct job *j, struct error *err);

int job_validate(const struct job *j, struct error *err) {
        if (!j->id || !*j->id)
                return errorf(err, -EINVAL, "job: missing job ID");
        if (!valid_name(j->id))
                return errorf(err, -EINVAL,
                              "job ID must be 1-128 characters without spaces or control characters (got %zu: \"%.40s%s\")",
                              strlen(j->id), j->id, strlen(j->id) > 40 ? "..." : "");
        if (strchr(j->id, '/') && !strstr(j->id, "/periodic-") && !strstr(j->id, "/dispatch-"))
                return errorf(err, -EINVAL, "job \"%s\": ID must not contain '/'", j->id);
        if (j->priority < 1 || j->priority > 100)
                return errorf(err, -EINVAL, "job \"%s\": priority must be between 1 and 100 (got %d)", j->id,
                              j->priority);
        int kr = job_kinds_validate(j, err);
        if (kr < 0)
                return kr;
        if (j->n_groups == 0)
                return errorf(err, -EINVAL, "job \"%s\": missing task group (a job needs at least one \"group\")",
                              j->id);
        if (j->n_groups > JOB_MAX_GROUPS)
                return errorf(err, -EINVAL, "job \"%s\": at most %d groups per job (got %zu)", j->id, JOB_MAX_GROUPS,
                              j->n_groups);
        char where[512];
        place_name(where, sizeof(where), j, NULL, NULL);
        int r;
        if ((r = check_constraints(where, j->constraints, j->n_constraints, err)) < 0 ||
            (r = check_affinities(where, j->affinities, j->n_affinities, err)) < 0 ||
            (r = check_spreads(where, j->spreads, j->n_spreads, err)) < 0 ||
            (r = update_block_validate(where, json_object_get(j->extra, "Update"), err)) < 0 ||
            (r = reschedule_block_validate(where, json_object_get(j->extra, "Reschedule"), err)) < 0)
                return r;
        _cleanup_free_ uint8_t *ports = malloc(65536 / 8); /* static ports of one group */
        if (!ports)
                return errorf(err, -ENOMEM, "job \"%s\": out of memory", j->id);
        struct name_set groups = {0};
        size_t n_tasks = 0;
        for (size_t g = 0; g < j->n_groups && r == 0; g++)
                r = validate_group(j, g, &groups, ports, &n_tasks, err);
        hashmap_destroy(groups.m);
        if (r < 0)
                return r;
        return limits_check_job(j, err); /* names, sizes, ranges: common/limits.c */
}

struct res_ask task_group_ask(const struct task_group *tg) {
        struct res_ask a = {0};
        for (size_t t = 0; t < tg->n_tasks; t++) {
                a.cpu += tg->tasks[t].resources.cpu;
                a.memory_mb += tg->tasks[t].resources.memory_mb;
        }
        a.disk_mb = tg->ephemeral_disk_mb;
        return a;
}

/* ---- node ------------------------------------------------------------------ */

struct node *node_new(void) {
        struct node *n = calloc(1, sizeof(*n));
        if (n) {
                n->refcount = 1;
                n->eligible = true;
        }
        return n;
}

struct node *node_ref(struct node *n) {
        if (n)
                __atomic_add_fetch(&n->refcount, 1, __ATOMIC_RELAXED);
        return n;
}

struct node *node_unref(struct node *n) {
        if (!n || __atomic_sub_fetch(&n->refcount, 1, __ATOMIC_ACQ_REL) > 0)
                return NULL;
        free(n->id);
        free(n->secret_id);
        free(n->name);
        free(n->datacenter);
        free(n->node_class);
        free(n->node_pool);
        free(n->region);
        free(n->http_addr);
        free(n->status_description);
        strmap_clear(&n->attributes);
        strmap_clear(&n->meta);
        for (size_t i = 0; i < n->n_drivers; i++) {
                free(n->drivers[i].name);
                free(n->drivers[i].description);
        }
        free(n->drivers);
        free(n->computed_class);
        if (n->devices)
                json_decref(n->devices);
        if (n->networks)
                json_decref(n->networks);
        if (n->extra)
                json_decref(n->extra);
        free(n);
        return NULL;
}

struct node *node_copy(const struct node *n) {
        _cleanup_json_ json_t *o = node_to_json(n);
        struct node *c = NULL;
        if (!o || node_from_json(o, &c, NULL) < 0)
                return NULL;
        /* SecretID is not part of the public JSON; carry it over. */
        free(c->secret_id);
        c->secret_id = n->secret_id ? strdup(n->secret_id) : NULL;
        return c;
}

bool node_has_driver(const struct node *n, const char *driver) {
        for (size_t i = 0; i < n->n_drivers; i++)
                if (strcmp(n->drivers[i].name, driver) == 0)
                        return n->drivers[i].detected && n->drivers[i].healthy;
        /* Nomad's DriverChecker falls back to the "driver.<name>" attribute (a bool). */
        char key[128];
        if (snprintf(key, sizeof(key), "driver.%s", driver) >= (int)sizeof(key))
                return false;
        const char *v = strmap_get(&n->attributes, key);
        return v && (strcmp(v, "1") == 0 || strcasecmp(v, "true") == 0 || strcmp(v, "t") == 0);
}

static uint64_t fnv1a(uint64_t h, const char *s) {
        for (; s && *s; s++) {
                h ^= (unsigned char)*s;
                h *= 1099511628211ULL;
        }
        h ^= 0xff; /* field separator */
        h *= 1099511628211ULL;
        return h;
}

static int kv_cmp(const void *a, const void *b) {
        return strcmp(((const struct kv *)a)->key, ((const struct kv *)b)->key);
}

static uint64_t hash_map_sorted(uint64_t h, const struct strmap *m, bool skip_unique) {
        struct kv *sorted = malloc((m->n ? m->n : 1) * sizeof(*sorted));
        if (!sorted)
                return h;
        if (m->n)
                memcpy(sorted, m->items, m->n * sizeof(*sorted));
        qsort(sorted, m->n, sizeof(*sorted), kv_cmp);
        for (size_t i = 0; i < m->n; i++) {
                if (skip_unique && strncmp(sorted[i].key, "unique.", 7) == 0)
                        continue;
                h = fnv1a(h, sorted[i].key);
                h = fnv1a(h, sorted[i].value);
        }
        free(sorted);
        return h;
}

void node_compute_class(struct node *n) {
        uint64_t h = 1469598103934665603ULL;
        h = fnv1a(h, n->datacenter);
        h = fnv1a(h, n->node_class);
        h = fnv1a(h, n->node_pool);
        if (n->region) /* ${node.region} is memoised per class too; absent: the class as before */
                h = fnv1a(fnv1a(h, "region"), n->region);
        h = hash_map_sorted(h, &n->attributes, true);
        h = hash_map_sorted(h, &n->meta, true);
        for (size_t i = 0; i < n->n_drivers; i++) {
                h = fnv1a(h, n->drivers[i].name);
                h = fnv1a(h, n->drivers[i].healthy ? "1" : "0");
        }
        /* Device groups (not their instance IDs, which are unique to the node). */
        size_t i;
        json_t *g;
        json_array_foreach(n->devices, i, g) {
                h = fnv1a(h, json_string_value(json_object_get(g, "Vendor")));
                h = fnv1a(h, json_string_value(json_object_get(g, "Type")));
                h = fnv1a(h, json_string_value(json_object_get(g, "Name")));
        }
        char buf[32];
        snprintf(buf, sizeof(buf), "v1:%llu", (unsigned long long)h);
        free(n->computed_class);
        n->computed_class = strdup(buf);
}

int node_validate(const struct node *n, struct error *err) {
        if (!n->id || !*n->id)
                return errorf(err, -EINVAL, "node: missing ID");
        if (!n->name || !*n->name)
                return errorf(err, -EINVAL, "node \"%s\": missing Name", n->id);
        if (!n->datacenter || !*n->datacenter)
                return errorf(err, -EINVAL, "node \"%s\": missing Datacenter", n->id);
        if (n->cpu_shares <= 0)
                return errorf(err, -EINVAL, "node \"%s\": NodeResources.Cpu.CpuShares must be > 0 (got %lld)", n->id,
                              (long long)n->cpu_shares);
        if (n->memory_mb <= 0)
                return errorf(err, -EINVAL, "node \"%s\": NodeResources.Memory.MemoryMB must be > 0 (got %lld)",
                              n->id, (long long)n->memory_mb);
        return limits_check_node(n, err);
}

/* ---- allocation -------------------------------------------------------------- */

/* ---- string arena ------------------------------------------------------------------ */

struct str_chunk {
        struct str_chunk *next;
        size_t cap, used;
        char data[];
};

struct str_arena {
        int refcount;
        struct str_chunk *chunks; /* newest first; each twice the size of the one before */
};

struct str_arena *str_arena_new(void) {
        struct str_arena *s = calloc(1, sizeof(*s));
        if (s)
                s->refcount = 1;
        return s;
}

struct str_arena *str_arena_ref(struct str_arena *s) {
        if (s)
                __atomic_add_fetch(&s->refcount, 1, __ATOMIC_RELAXED);
        return s;
}

struct str_arena *str_arena_unref(struct str_arena *s) {
        if (!s || __atomic_sub_fetch(&s->refcount, 1, __ATOMIC_ACQ_REL) > 0)
                return NULL;
        for (struct str_chunk *c = s->chunks, *next; c; c = next) {
                next = c->next;
                free(c);
        }
        free(s);
        return NULL;
}

#define ARENA_ALIGN _Alignof(max_align_t)

/* n bytes at an address aligned to align (a power of two) in the newest chunk, which
 * is replaced by a larger one when it has no room. */
static char *arena_take(struct str_arena *s, size_t n, size_t align) {
        struct str_chunk *c = s->chunks;
        if (n >= SIZE_MAX / 4)
                return NULL;
        size_t pad = c ? -(uintptr_t)(c->data + c->used) & (align - 1) : 0;
        if (!c || c->cap - c->used < pad + n) {
                size_t cap = c ? c->cap * 2 : 1024;
                while (cap < n + align)
                        cap *= 2;
                struct str_chunk *nc = malloc(sizeof(*nc) + cap);
                if (!nc)
                        return NULL;
                *nc = (struct str_chunk){.next = c, .cap = cap};
                s->chunks = c = nc;
                pad = -(uintptr_t)c->data & (align - 1);
        }
        char *out = c->data + c->used + pad;
        c->used += pad + n;
        return out;
}

char *str_arena_add(struct str_arena *s, const char *p, size_t n) {
        char *out = arena_take(s, n + 1, 1);
        if (!out)
                return NULL;
        memcpy(out, p, n);
        out[n] = '\0';
        return out;
}

void *str_arena_alloc(struct str_arena *s, size_t size) {
        void *out = arena_take(s, size, ARENA_ALIGN);
        if (out)
                memset(out, 0, size);
        return out;
}

bool str_arena_owns(const struct str_arena *s, const char *p) {
        uintptr_t x = (uintptr_t)p;
        for (const struct str_chunk *c = s ? s->chunks : NULL; p && c; c = c->next)
                if (x >= (uintptr_t)c->data && x < (uintptr_t)c->data + c->used)
                        return true;
        return false;
}

/* ---- alloc ------------------------------------------------------------------------- */

struct alloc *alloc_new(void) {
        struct alloc *a = calloc(1, sizeof(*a));
        if (a)
                a->refcount = 1;
        return a;
}

struct alloc *alloc_new_in(struct str_arena *s) {
        struct alloc *a = str_arena_alloc(s, sizeof(*a));
        if (a) {
                a->refcount = 1;
                a->strings = str_arena_ref(s);
                a->arena_bits = ALLOC_ARENA_STRUCT;
        }
        return a;
}

void alloc_arena_sealed(struct alloc *a) {
        uint16_t bits = a->arena_bits | ALLOC_ARENA_SEALED;
#define ALLOC_STR_SEAL(f)                                                                                      \
        if (a->f)                                                                                              \
                bits |= 1u << ALLOC_STR_BIT_##f;
        ALLOC_STR_FIELDS(ALLOC_STR_SEAL)
#undef ALLOC_STR_SEAL
        a->arena_bits = bits;
}

/* The bits (1 << ALLOC_STR_BIT_*) among want of the string fields of a that a's arena
 * holds: read off arena_bits once sealed, else asked of the arena's chunks. */
static unsigned alloc_arena_strs(const struct alloc *a, unsigned want) {
        if (!a->strings)
                return 0;
        if (a->arena_bits & ALLOC_ARENA_SEALED)
                return a->arena_bits & want;
        unsigned held = 0;
#define ALLOC_STR_ASK(f)                                                                                       \
        if ((want & 1u << ALLOC_STR_BIT_##f) && str_arena_owns(a->strings, a->f))                              \
                held |= 1u << ALLOC_STR_BIT_##f;
        ALLOC_STR_FIELDS(ALLOC_STR_ASK)
#undef ALLOC_STR_ASK
        return held;
}

struct alloc *alloc_ref(struct alloc *a) {
        if (a)
                __atomic_add_fetch(&a->refcount, 1, __ATOMIC_RELAXED);
        return a;
}

static void task_event_free_fields(struct task_event *e) {
        free(e->type);
        free(e->message);
}

void task_states_free(struct task_state *ts, size_t n) {
        for (size_t i = 0; i < n; i++) {
                free(ts[i].name);
                for (size_t e = 0; e < ts[i].n_events; e++)
                        task_event_free_fields(&ts[i].events[e]);
                free(ts[i].events);
        }
        free(ts);
}

struct alloc *alloc_unref(struct alloc *a) {
        if (!a || __atomic_sub_fetch(&a->refcount, 1, __ATOMIC_ACQ_REL) > 0)
                return NULL;
        unsigned held = alloc_arena_strs(a, (1u << ALLOC_STR_N) - 1);
#define ALLOC_STR_FREE(f)                                                                                      \
        if (a->f && !(held & 1u << ALLOC_STR_BIT_##f))                                                         \
                free(a->f);
        ALLOC_STR_FIELDS(ALLOC_STR_FREE)
#undef ALLOC_STR_FREE
        job_unref(a->job);
        if (a->task_states)
                task_states_free(a->task_states, a->n_task_states);
        if (a->metrics)
                json_decref(a->metrics);
        if (a->allocated)
                json_decref(a->allocated);
        if (a->extra)
                json_decref(a->extra);
        struct str_arena *s = a->strings;
        if (!(a->arena_bits & ALLOC_ARENA_STRUCT))
                free(a);
        str_arena_unref(s); /* last: it may hold a itself (alloc_new_in) */
        return NULL;
}

static char *dup_or_null(const char *s) {
        return s ? strdup(s) : NULL;
}

int task_state_copy(struct task_state *dst, const struct task_state *src) {
        *dst = *src;
        dst->name = dup_or_null(src->name);
        dst->events = NULL;
        dst->n_events = 0;
        if (src->n_events) {
                dst->events = calloc(src->n_events, sizeof(*dst->events));
                if (!dst->events)
                        return -ENOMEM;
                for (size_t e = 0; e < src->n_events; e++) {
                        dst->events[e] = src->events[e];
                        dst->events[e].type = dup_or_null(src->events[e].type);
                        dst->events[e].message = dup_or_null(src->events[e].message);
                }
                dst->n_events = src->n_events;
        }
        return 0;
}

int task_state_add_event(struct task_state *ts, const char *type, const char *message, int64_t time, int exit_code,
                         int signal) {
        /* Keep the last 10 events, like Nomad. */
        if (ts->n_events == 10) {
                task_event_free_fields(&ts->events[0]);
                memmove(ts->events, ts->events + 1, 9 * sizeof(*ts->events));
                ts->n_events--;
        }
        struct task_event *ev = realloc(ts->events, (ts->n_events + 1) * sizeof(*ev));
        if (!ev)
                return -ENOMEM;
        ts->events = ev;
        ev[ts->n_events] = (struct task_event){.type = strdup(type ? type : ""),
                                                .message = strdup(message ? message : ""),
                                                .time = time,
                                                .exit_code = exit_code,
                                                .signal = signal};
        ts->n_events++;
        return 0;
}

/* Copy *src into *dst from field `first` on: everything but the reference count
 * (the first field), which other threads may change while a shared object is
 * copied (a plain read of it then is a data race; ThreadSanitizer found one in
 * eval_copy). dst keeps its own count. */
#define COPY_FROM_FIELD(dst, src, first)                                                                       \
        memcpy((char *)(dst) + offsetof(__typeof__(*(dst)), first), (const char *)(src) +                      \
                   offsetof(__typeof__(*(dst)), first), sizeof(*(dst)) - offsetof(__typeof__(*(dst)), first))

struct alloc *alloc_copy(const struct alloc *a) {
        struct alloc *c = alloc_new();
        if (!c)
                return NULL;
        COPY_FROM_FIELD(c, a, strings); /* c->refcount stays 1 */
        c->strings = NULL; /* every string the copy's own */
        c->arena_bits = 0;
        c->id = dup_or_null(a->id);
        c->namespace = dup_or_null(a->namespace);
        c->eval_id = dup_or_null(a->eval_id);
        c->name = dup_or_null(a->name);
        c->node_id = dup_or_null(a->node_id);
        c->node_name = dup_or_null(a->node_name);
        c->job_id = dup_or_null(a->job_id);
        c->job = job_ref(a->job);
        c->task_group = dup_or_null(a->task_group);
        c->desired_description = dup_or_null(a->desired_description);
        c->client_description = dup_or_null(a->client_description);
        c->previous_allocation = dup_or_null(a->previous_allocation);
        c->next_allocation = dup_or_null(a->next_allocation);
        c->deployment_id = dup_or_null(a->deployment_id);
        c->metrics = a->metrics ? json_incref(a->metrics) : NULL; /* shared: see model.h */
        c->allocated = a->allocated ? json_incref(a->allocated) : NULL;
        c->extra = a->extra ? json_incref(a->extra) : NULL;
        c->task_states = NULL;
        c->n_task_states = 0;
        if (a->n_task_states) {
                c->task_states = calloc(a->n_task_states, sizeof(*c->task_states));
                if (!c->task_states)
                        return alloc_unref(c);
                for (size_t i = 0; i < a->n_task_states; i++) {
                        c->n_task_states = i + 1;
                        if (task_state_copy(&c->task_states[i], &a->task_states[i]) < 0)
                                return alloc_unref(c);
                }
        }
        return c;
}

struct alloc *alloc_copy_set_extra(const struct alloc *a, const char *key, json_t *value) {
        struct alloc *c = value ? alloc_copy(a) : NULL;
        json_t *x = c ? (a->extra ? json_copy(a->extra) : json_object()) : NULL;
        if (!x || json_object_set_new(x, key, value) < 0) { /* set_new takes value even when it fails */
                if (!x)
                        json_decref(value);
                json_decref(x);
                return alloc_unref(c), NULL;
        }
        json_decref(c->extra);
        c->extra = x;
        return c;
}

int alloc_set_str(struct alloc *a, char **field, const char *v) {
        char *c = NULL;
        if (v && !(c = strdup(v)))
                return -ENOMEM;
        unsigned bit = ALLOC_STR_N;
#define ALLOC_STR_FIND(f)                                                                                      \
        if (field == &a->f)                                                                                    \
                bit = ALLOC_STR_BIT_##f;
        ALLOC_STR_FIELDS(ALLOC_STR_FIND)
#undef ALLOC_STR_FIND
        if (bit == ALLOC_STR_N) { /* not a string field of a */
                free(c);
                return -EINVAL;
        }
        if (!alloc_arena_strs(a, 1u << bit))
                free(*field);
        a->arena_bits &= (uint16_t)~(1u << bit);
        *field = c;
        return 0;
}

int alloc_name_index(const struct alloc *a) {
        if (!a->name)
                return -1;
        const char *lb = strrchr(a->name, '[');
        if (!lb)
                return -1;
        char *end;
        long v = strtol(lb + 1, &end, 10);
        if (end == lb + 1 || *end != ']' || v < 0)
                return -1;
        return (int)v;
}

bool alloc_terminal(const struct alloc *a) {
        return a->desired_status != ALLOC_DESIRED_RUN || alloc_client_terminal(a->client_status);
}

const struct task_state *alloc_task_state(const struct alloc *a, const char *task) {
        for (size_t i = 0; i < a->n_task_states; i++)
                if (strcmp(a->task_states[i].name, task) == 0)
                        return &a->task_states[i];
        return NULL;
}

/* ---- evaluation -------------------------------------------------------------- */

struct eval *eval_new(void) {
        struct eval *e = calloc(1, sizeof(*e));
        if (e)
                e->refcount = 1;
        return e;
}

struct eval *eval_ref(struct eval *e) {
        if (e)
                __atomic_add_fetch(&e->refcount, 1, __ATOMIC_RELAXED);
        return e;
}

struct eval *eval_unref(struct eval *e) {
        if (!e || __atomic_sub_fetch(&e->refcount, 1, __ATOMIC_ACQ_REL) > 0)
                return NULL;
        free(e->id);
        free(e->namespace);
        free(e->triggered_by);
        free(e->job_id);
        free(e->node_id);
        free(e->status_description);
        free(e->next_eval);
        free(e->previous_eval);
        free(e->blocked_eval);
        if (e->failed_tg_allocs)
                json_decref(e->failed_tg_allocs);
        if (e->queued_allocations)
                json_decref(e->queued_allocations);
        if (e->class_eligibility)
                json_decref(e->class_eligibility);
        if (e->extra)
                json_decref(e->extra);
        free(e);
        return NULL;
}

struct eval *eval_copy(const struct eval *e) {
        struct eval *c = eval_new();
        if (!c)
                return NULL;
        COPY_FROM_FIELD(c, e, id); /* c->refcount stays 1 */
        c->id = dup_or_null(e->id);
        c->namespace = dup_or_null(e->namespace);
        c->triggered_by = dup_or_null(e->triggered_by);
        c->job_id = dup_or_null(e->job_id);
        c->node_id = dup_or_null(e->node_id);
        c->status_description = dup_or_null(e->status_description);
        c->next_eval = dup_or_null(e->next_eval);
        c->previous_eval = dup_or_null(e->previous_eval);
        c->blocked_eval = dup_or_null(e->blocked_eval);
        c->failed_tg_allocs = e->failed_tg_allocs ? json_deep_copy(e->failed_tg_allocs) : NULL;
        c->queued_allocations = e->queued_allocations ? json_deep_copy(e->queued_allocations) : NULL;
        c->class_eligibility = e->class_eligibility ? json_deep_copy(e->class_eligibility) : NULL;
        c->extra = e->extra ? json_deep_copy(e->extra) : NULL;
        return c;
}

/* ---- job kinds ------------------------------------------------------------------ */

bool job_is_periodic(const struct job *j) {
        return j && json_is_object(json_object_get(j->extra, "Periodic"));
}

bool job_is_parameterized(const struct job *j) {
        return j && json_is_object(json_object_get(j->extra, "ParameterizedJob")) &&
               !json_is_true(json_object_get(j->extra, "Dispatched"));
}

bool job_is_parent(const struct job *j) {
        return job_is_periodic(j) || job_is_parameterized(j);
}

const char *job_parent_id(const struct job *j) {
        const json_t *p = j ? json_object_get(j->extra, "ParentID") : NULL;
        return json_is_string(p) ? json_string_value(p) : "";
}

#define PARAM_MAX_META 64 /* names in MetaRequired plus MetaOptional */

static int meta_names(const struct job *j, const json_t *pj, const char *key, size_t *count, struct error *err) {
        const json_t *v = json_object_get(pj, key);
        if (!v || json_is_null(v))
                return 0;
        if (!json_is_array(v))
                return errorf(err, -EINVAL, "job \"%s\": parameterized: %s must be a list of strings", j->id, key);
        size_t i;
        const json_t *s;
        json_array_foreach(v, i, s) {
                if (!json_is_string(s) || !*json_string_value(s) || strlen(json_string_value(s)) > 128)
                        return errorf(err, -EINVAL, "job \"%s\": parameterized: %s[%zu] must be a name of 1-128 bytes",
                                      j->id, key, i);
                if (++*count > PARAM_MAX_META)
                        return errorf(err, -EINVAL, "job \"%s\": parameterized: at most %d meta keys", j->id,
                                      PARAM_MAX_META);
        }
        return 0;
}

/* Periodic and ParameterizedJob: only for batch and sysbatch jobs (Nomad), a cron
 * that parses and a time zone that exists; Payload one of optional, required,
 * forbidden. */
static int job_kinds_validate(const struct job *j, struct error *err) {
        bool batchy = j->type == JOB_BATCH || j->type == JOB_SYSBATCH;
        const json_t *per = json_object_get(j->extra, "Periodic");
        if (per && !json_is_null(per)) {
                if (!batchy)
                        return errorf(
                            err, -EINVAL,
                            "job \"%s\": periodic can only be used with \"batch\" or \"sysbatch\" jobs (type is "
                            "\"%s\")",
                            j->id, job_type_str(j->type));
                struct cron_periodic p;
                struct error inner = {0};
                if (cron_periodic_parse(per, &p, &inner) < 0)
                        return errorf(err, -EINVAL, "job \"%s\": periodic: %s", j->id, inner.msg);
                cron_periodic_clear(&p);
        }
        const json_t *pj = json_object_get(j->extra, "ParameterizedJob");
        if (pj && !json_is_null(pj)) {
                if (!json_is_object(pj))
                        return errorf(err, -EINVAL, "job \"%s\": parameterized: expected an object", j->id);
                if (!batchy)
                        return errorf(err, -EINVAL,
                                      "job \"%s\": parameterized can only be used with \"batch\" or \"sysbatch\" jobs "
                                      "(type is \"%s\")",
                                      j->id, job_type_str(j->type));
                const json_t *pl = json_object_get(pj, "Payload");
                const char *mode = json_is_string(pl) ? json_string_value(pl) : "";
                if ((pl && !json_is_null(pl) && !json_is_string(pl)) ||
                    (*mode && strcmp(mode, "optional") != 0 && strcmp(mode, "required") != 0 &&
                     strcmp(mode, "forbidden") != 0))
                        return errorf(err, -EINVAL,
                                      "job \"%s\": parameterized: payload must be \"optional\", \"required\" or "
                                      "\"forbidden\"",
                                      j->id);
                size_t n = 0;
                int r;
                if ((r = meta_names(j, pj, "MetaRequired", &n, err)) < 0 ||
                    (r = meta_names(j, pj, "MetaOptional", &n, err)) < 0)
                        return r;
        }
        return 0;
}
