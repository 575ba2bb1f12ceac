/* limits.c - bounded input: safe names, sizes, counts and ranges of jobs and nodes. */
#include "common/limits.h"

#include <errno.h>
#include <string.h>

#include "common/error.h"
#include "common/hashmap.h"
#include "common/macros.h"
#include "common/model.h"

_Static_assert(LIMIT_COUNT == JOB_MAX_COUNT, "one count limit per group: common/model.h and common/limits.h agree");

/* Names are quoted in messages only up to this many bytes (a name may be megabytes). */
#define Q "%.48s"

int limits_check_name(const char *what, const char *s, struct error *err) {
        if (!s || !*s)
                return errorf(err, -EINVAL, "%s: missing (a name needs 1 to %d characters)", what, LIMIT_NAME_LEN);
        size_t len = strnlen(s, LIMIT_NAME_LEN + 1);
        if (len > LIMIT_NAME_LEN)
                return errorf(err, -EINVAL, "%s: longer than %d bytes (\"" Q "...\")", what, LIMIT_NAME_LEN, s);
        if (strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
                return errorf(err, -EINVAL, "%s: \"%s\" is not allowed (names become directory names)", what, s);
        if (s[0] == '-')
                return errorf(err, -EINVAL, "%s: \"" Q "\" must not start with '-'", what, s);
        for (size_t i = 0; i < len; i++) {
                unsigned char c = (unsigned char)s[i];
                if (c == '/' || c == '\\')
                        return errorf(err, -EINVAL,
                                      "%s: \"" Q "\" must not contain '%c' (names become directory names)", what, s,
                                      c);
                if (c < 0x20 || c == 0x7f)
                        return errorf(err, -EINVAL, "%s: must not contain control characters (byte 0x%02x at %zu)",
                                      what, c, i);
        }
        return 0;
}

int limits_check_regexp(const char *p, struct error *err) {
        if (!p)
                return 0;
        size_t len = strnlen(p, LIMIT_REGEXP_LEN + 1);
        if (len > LIMIT_REGEXP_LEN)
                return errorf(err, -EINVAL, "regexp longer than %d bytes", LIMIT_REGEXP_LEN);
        /* One pass: for each open group, whether something inside it repeats. A group
         * that repeats and is followed by a repetition is nested repetition. */
        bool inner[LIMIT_REGEXP_LEN + 1] = {false};
        int depth = 0;
        bool last_group_repeats = false; /* the atom just closed was a group with repetition inside */
        bool in_class = false;
        for (size_t i = 0; i < len; i++) {
                char c = p[i];
                if (in_class) {
                        if (c == ']' && i > 0 && p[i - 1] != '[' && !(p[i - 1] == '^' && i > 1 && p[i - 2] == '['))
                                in_class = false;
                        continue;
                }
                bool closed_repeating = false;
                switch (c) {
                case '\\':
                        if (i + 1 < len && p[i + 1] >= '1' && p[i + 1] <= '9')
                                return errorf(err, -EINVAL, "regexp: back-references are not allowed (\\%c)", p[i + 1]);
                        i++;
                        break;
                case '[':
                        in_class = true;
                        break;
                case '(':
                        inner[++depth] = false;
                        break;
                case ')':
                        if (depth > 0) {
                                closed_repeating = inner[depth];
                                depth--;
                                if (closed_repeating && depth > 0)
                                        inner[depth] = true;
                        }
                        break;
                case '*':
                case '+':
                case '?':
                case '{':
                        if (last_group_repeats && c != '?') /* (a+)? runs once at most */
                                return errorf(err, -EINVAL,
                                              "regexp: nested repetition such as (a+)+ is not allowed (at offset %zu)",
                                              i);
                        if (depth > 0)
                                inner[depth] = true;
                        if (c == '{')
                                while (i + 1 < len && p[i] != '}')
                                        i++;
                        break;
                default:
                        break;
                }
                last_group_repeats = closed_repeating;
        }
        return 0;
}

int limits_json_prescan(const char *b, size_t len, struct error *err) {
        return limits_json_prescan_with(b, len, LIMIT_JSON_ELEMENTS, LIMIT_JSON_VALUES, err);
}

int limits_json_prescan_with(const char *b, size_t len, size_t max_elements, size_t max_values, struct error *err) {
        size_t count[LIMIT_JSON_DEPTH + 1] = {0}; /* commas seen in each open container */
        int depth = 0;
        size_t values = 0;
        for (size_t i = 0; i < len; i++) {
                if ((b[i] == ',' || b[i] == '[' || b[i] == '{') && ++values > max_values)
                        return errorf(err, -EINVAL, "request body: more than %zu values at offset %zu", max_values, i);
                switch (b[i]) {
                case '"': {
                        size_t start = ++i;
                        while (i < len && b[i] != '"') {
                                if (b[i] == '\\')
                                        i++;
                                i++;
                        }
                        if (i - start > LIMIT_JSON_STRING)
                                return errorf(err, -EINVAL, "request body: a string longer than %d bytes at offset %zu",
                                              LIMIT_JSON_STRING, start);
                        break;
                }
                case '[':
                case '{':
                        if (depth == LIMIT_JSON_DEPTH)
                                return errorf(err, -EINVAL, "request body: nested deeper than %d levels at offset %zu",
                                              LIMIT_JSON_DEPTH, i);
                        count[++depth] = 0;
                        break;
                case ']':
                case '}':
                        if (depth > 0)
                                depth--;
                        break;
                case ',':
                        if (depth > 0 && ++count[depth] >= max_elements)
                                return errorf(err, -EINVAL,
                                              "request body: more than %zu elements in one list or object at offset %zu",
                                              max_elements, i);
                        break;
                default:
                        break;
                }
        }
        return 0;
}

static int check_str(const char *what, const char *s, size_t max, struct error *err) {
        if (s && strnlen(s, max + 1) > max)
                return errorf(err, -EINVAL, "%s: longer than %zu bytes", what, max);
        return 0;
}

static int check_map(const char *what, const struct strmap *m, struct error *err) {
        if (m->n > LIMIT_MAP_ENTRIES)
                return errorf(err, -EINVAL, "%s: more than %d entries (got %zu)", what, LIMIT_MAP_ENTRIES, m->n);
        for (size_t i = 0; i < m->n; i++) {
                if (!m->items[i].key || !*m->items[i].key || strnlen(m->items[i].key, LIMIT_KEY_LEN + 1) > LIMIT_KEY_LEN)
                        return errorf(err, -EINVAL, "%s: keys must be 1 to %d bytes", what, LIMIT_KEY_LEN);
                if (check_str(what, m->items[i].value, LIMIT_VALUE_LEN, err) < 0)
                        return error_prefix(err, "key \"" Q "\"", m->items[i].key);
        }
        return 0;
}

static int check_constraints(const char *what, const struct constraint *cs, size_t n, size_t *total,
                             struct error *err) {
        *total += n;
        if (*total > LIMIT_CONSTRAINTS)
                return errorf(err, -EINVAL, "%s: more than %d constraints and affinities in the job", what,
                              LIMIT_CONSTRAINTS);
        for (size_t i = 0; i < n; i++) {
                const struct constraint *c = &cs[i];
                if (check_str("LTarget", c->ltarget, LIMIT_STRING_LEN, err) < 0 ||
                    check_str("RTarget", c->rtarget, LIMIT_STRING_LEN, err) < 0 ||
                    check_str("Operand", c->operand, LIMIT_STRING_LEN, err) < 0)
                        return error_prefix(err, "%s, constraint %zu", what, i);
                if (c->operand && strcmp(c->operand, "regexp") == 0 && limits_check_regexp(c->rtarget, err) < 0)
                        return error_prefix(err, "%s, constraint %zu", what, i);
        }
        return 0;
}

static int check_affinities(const char *what, const struct affinity *as, size_t n, size_t *total,
                            struct error *err) {
        *total += n;
        if (*total > LIMIT_CONSTRAINTS)
                return errorf(err, -EINVAL, "%s: more than %d constraints and affinities in the job", what,
                              LIMIT_CONSTRAINTS);
        for (size_t i = 0; i < n; i++) {
                const struct affinity *a = &as[i];
                if (check_str("LTarget", a->ltarget, LIMIT_STRING_LEN, err) < 0 ||
                    check_str("RTarget", a->rtarget, LIMIT_STRING_LEN, err) < 0 ||
                    check_str("Operand", a->operand, LIMIT_STRING_LEN, err) < 0)
                        return error_prefix(err, "%s, affinity %zu", what, i);
                if (a->operand && strcmp(a->operand, "regexp") == 0 && limits_check_regexp(a->rtarget, err) < 0)
                        return error_prefix(err, "%s, affinity %zu", what, i);
                if (a->weight < -100 || a->weight > 100)
                        return errorf(err, -EINVAL, "%s, affinity %zu: weight must be between -100 and 100 (got %d)",
                                      what, i, a->weight);
        }
        return 0;
}

static int check_ports(const char *what, const struct port *ps, size_t n, struct error *err) {
        if (n > LIMIT_PORTS)
                return errorf(err, -EINVAL, "%s: more than %d ports (got %zu)", what, LIMIT_PORTS, n);
        for (size_t i = 0; i < n; i++) {
                if (ps[i].value < 0 || ps[i].value > 65535)
                        return errorf(err, -EINVAL, "%s, port \"" Q "\": static port must be 0 to 65535 (got %d)",
                                      what, ps[i].label ? ps[i].label : "", ps[i].value);
                if (ps[i].to < -1 || ps[i].to > 65535)
                        return errorf(err, -EINVAL, "%s, port \"" Q "\": to must be -1 to 65535 (got %d)", what,
                                      ps[i].label ? ps[i].label : "", ps[i].to);
                if (check_str("label", ps[i].label, LIMIT_NAME_LEN, err) < 0)
                        return error_prefix(err, "%s, port %zu", what, i);
        }
        return 0;
}

static int check_networks(const char *what, const struct network *ns, size_t n, struct error *err) {
        if (n > LIMIT_NETWORKS)
                return errorf(err, -EINVAL, "%s: more than %d networks (got %zu)", what, LIMIT_NETWORKS, n);
        for (size_t i = 0; i < n; i++) {
                if (ns[i].mbits < 0)
                        return errorf(err, -EINVAL, "%s, network %zu: mbits must be >= 0 (got %d)", what, i,
                                      ns[i].mbits);
                int r = check_ports(what, ns[i].reserved_ports, ns[i].n_reserved, err);
                if (r < 0)
                        return r;
                r = check_ports(what, ns[i].dynamic_ports, ns[i].n_dynamic, err);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int check_duration(const char *what, const char *field, int64_t ns, struct error *err) {
        if (ns < 0 || ns > LIMIT_DURATION_NS)
                return errorf(err, -EINVAL, "%s: %s must be between 0 and %lld ns (got %lld)", what, field,
                              (long long)LIMIT_DURATION_NS, (long long)ns);
        return 0;
}

static int check_restart(const char *what, const struct restart_policy *rp, struct error *err) {
        if (rp->attempts < 0)
                return errorf(err, -EINVAL, "%s, restart: attempts must be >= 0 (got %d)", what, rp->attempts);
        int r = check_duration(what, "restart interval", rp->interval_ns, err);
        if (r < 0)
                return r;
        return check_duration(what, "restart delay", rp->delay_ns, err);
}

static int check_task(const char *gwhat, const struct task *t, size_t idx, size_t *n_constraints,
                      struct error *err) {
        char what[512];
        int r = limits_check_name("task name", t->name, err);
        if (r < 0)
                return error_prefix(err, "%s, task %zu", gwhat, idx);
        snprintf(what, sizeof(what), "%.300s, task \"%.128s\"", gwhat, t->name);
        if ((r = check_str("driver", t->driver, LIMIT_STRING_LEN, err)) < 0 ||
            (r = check_str("user", t->user, LIMIT_STRING_LEN, err)) < 0 ||
            (r = check_str("kill_signal", t->kill_signal, LIMIT_STRING_LEN, err)) < 0 ||
            (r = check_map("env", &t->env, err)) < 0 || (r = check_map("meta", &t->meta, err)) < 0)
                return error_prefix(err, "%s", what);
        const struct resources *res = &t->resources;
        if (res->cpu < 0 || res->cores < 0 || res->memory_mb < 0 || res->memory_max_mb < 0 || res->disk_mb < 0)
                return errorf(err, -EINVAL,
                              "%s, resources: cpu, cores, memory, memory_max and disk must be >= 0 (got %d, %d, %d, %d, %d)",
                              what, res->cpu, res->cores, res->memory_mb, res->memory_max_mb, res->disk_mb);
        if ((r = check_networks(what, res->networks, res->n_networks, err)) < 0 ||
            (r = check_constraints(what, t->constraints, t->n_constraints, n_constraints, err)) < 0 ||
            (r = check_affinities(what, t->affinities, t->n_affinities, n_constraints, err)) < 0 ||
            (r = check_restart(what, &t->restart, err)) < 0 ||
            (r = check_duration(what, "kill_timeout", t->kill_timeout_ns, err)) < 0)
                return r;
        if (t->logs.max_files < 0 || t->logs.max_file_size_mb < 0)
                return errorf(err, -EINVAL, "%s, logs: max_files and max_file_size must be >= 0", what);
        return 0;
}

static int check_group(const char *jwhat, const struct task_group *tg, size_t idx, size_t *n_constraints,
                       struct error *err) {
        char what[512];
        int r = limits_check_name("group name", tg->name, err);
        if (r < 0)
                return error_prefix(err, "%s, group %zu", jwhat, idx);
        snprintf(what, sizeof(what), "%.140s, group \"%.128s\"", jwhat, tg->name);
        if (tg->count < 0 || tg->count > LIMIT_COUNT)
                return errorf(err, -EINVAL, "%s: count must be between 0 and %d (got %d)", what, LIMIT_COUNT,
                              tg->count);
        if (tg->n_tasks > LIMIT_TASKS)
                return errorf(err, -EINVAL, "%s: more than %d tasks (got %zu)", what, LIMIT_TASKS, tg->n_tasks);
        if (tg->ephemeral_disk_mb < 0)
                return errorf(err, -EINVAL, "%s: ephemeral_disk size must be >= 0 (got %d)", what,
                              tg->ephemeral_disk_mb);
        if ((r = check_map("meta", &tg->meta, err)) < 0)
                return error_prefix(err, "%s", what);
        if ((r = check_networks(what, tg->networks, tg->n_networks, err)) < 0 ||
            (r = check_constraints(what, tg->constraints, tg->n_constraints, n_constraints, err)) < 0 ||
            (r = check_affinities(what, tg->affinities, tg->n_affinities, n_constraints, err)) < 0 ||
            (r = check_restart(what, &tg->restart, err)) < 0)
                return r;
        for (size_t s = 0; s < tg->n_spreads; s++)
                if (tg->spreads[s].n_targets > LIMIT_SPREAD_TARGETS)
                        return errorf(err, -EINVAL, "%s, spread %zu: more than %d targets", what, s,
                                      LIMIT_SPREAD_TARGETS);
        _cleanup_(hashmap_destroyp) struct hashmap *seen = hashmap_create(0);
        if (!seen)
                return errorf(err, -ENOMEM, "%s: out of memory", what);
        for (size_t t = 0; t < tg->n_tasks; t++) {
                if ((r = check_task(what, &tg->tasks[t], t, n_constraints, err)) < 0)
                        return r;
                r = hashmap_put(seen, tg->tasks[t].name, NULL, NULL);
                if (r < 0)
                        return errorf(err, r, "%s: out of memory", what);
                if (r == 1)
                        return errorf(err, -EINVAL, "%s: duplicate task name \"%s\"", what, tg->tasks[t].name);
        }
        return 0;
}

int limits_check_job(const struct job *j, struct error *err) {
        int r = limits_check_name("job ID", j->id, err);
        if (r < 0) {
                /* Periodic and dispatch children ("parent/periodic-123") are the one place a
                 * '/' is allowed: the server makes those IDs. */
                const char *slash = j->id ? strchr(j->id, '/') : NULL;
                if (!slash || (strncmp(slash, "/periodic-", 10) != 0 && strncmp(slash, "/dispatch-", 10) != 0))
                        return r;
                error_clear(err);
                _cleanup_free_ char *parent = strndup(j->id, (size_t)(slash - j->id));
                if (!parent)
                        return errorf(err, -ENOMEM, "job ID: out of memory");
                if ((r = limits_check_name("job ID", parent, err)) < 0 ||
                    (r = limits_check_name("job ID", slash + 1, err)) < 0)
                        return r;
        }
        char what[512];
        snprintf(what, sizeof(what), "job \"%.128s\"", j->id);
        if ((r = check_str("job name", j->name, LIMIT_STRING_LEN, err)) < 0 ||
            (r = check_str("region", j->region, LIMIT_STRING_LEN, err)) < 0 ||
            (r = check_str("namespace", j->namespace, LIMIT_NAME_LEN, err)) < 0 ||
            (r = check_str("node_pool", j->node_pool, LIMIT_NAME_LEN, err)) < 0 ||
            (r = check_map("meta", &j->meta, err)) < 0)
                return error_prefix(err, "%s", what);
        if (j->namespace && (r = limits_check_name("namespace", j->namespace, err)) < 0)
                return error_prefix(err, "%s", what);
        if (j->n_datacenters > LIMIT_DATACENTERS)
                return errorf(err, -EINVAL, "%s: more than %d datacenters (got %zu)", what, LIMIT_DATACENTERS,
                              j->n_datacenters);
        for (size_t i = 0; i < j->n_datacenters; i++)
                if ((r = check_str("datacenter", j->datacenters[i], LIMIT_STRING_LEN, err)) < 0)
                        return error_prefix(err, "%s", what);
        if (j->n_groups > LIMIT_GROUPS)
                return errorf(err, -EINVAL, "%s: more than %d groups (got %zu)", what, LIMIT_GROUPS, j->n_groups);
        size_t n_constraints = 0;
        if ((r = check_constraints(what, j->constraints, j->n_constraints, &n_constraints, err)) < 0 ||
            (r = check_affinities(what, j->affinities, j->n_affinities, &n_constraints, err)) < 0)
                return r;
        _cleanup_(hashmap_destroyp) struct hashmap *seen = hashmap_create(0);
        if (!seen || hashmap_reserve(seen, j->n_groups) < 0)
                return errorf(err, -ENOMEM, "%s: out of memory", what);
        int64_t allocs = 0;
        size_t tasks = 0;
        for (size_t g = 0; g < j->n_groups; g++) {
                const struct task_group *tg = &j->groups[g];
                tasks += tg->n_tasks;
                if (tasks > LIMIT_JOB_TASKS)
                        return errorf(err, -EINVAL, "%s: more than %d tasks in all groups together", what,
                                      LIMIT_JOB_TASKS);
                if ((r = check_group(what, tg, g, &n_constraints, err)) < 0)
                        return r;
                r = hashmap_put(seen, tg->name, NULL, NULL);
                if (r < 0)
                        return errorf(err, r, "%s: out of memory", what);
                if (r == 1)
                        return errorf(err, -EINVAL, "%s: duplicate group name \"%s\"", what, tg->name);
                allocs += tg->count;
                if (allocs > LIMIT_ALLOCS)
                        return errorf(err, -EINVAL, "%s: the groups' counts add up to more than %d allocations",
                                      what, LIMIT_ALLOCS);
        }
        return 0;
}

int limits_check_node(const struct node *n, struct error *err) {
        int r = limits_check_name("node ID", n->id, err);
        if (r < 0)
                return r;
        char what[512];
        snprintf(what, sizeof(what), "node \"%.128s\"", n->id);
        if ((r = limits_check_name("node Name", n->name, err)) < 0 ||
            (r = check_str("Datacenter", n->datacenter, LIMIT_STRING_LEN, err)) < 0 ||
            (r = check_str("NodeClass", n->node_class, LIMIT_STRING_LEN, err)) < 0 ||
            (r = check_str("NodePool", n->node_pool, LIMIT_NAME_LEN, err)) < 0 ||
            (r = check_str("HTTPAddr", n->http_addr, LIMIT_STRING_LEN, err)) < 0 ||
            (r = check_str("SecretID", n->secret_id, LIMIT_NAME_LEN, err)) < 0 ||
            (r = check_map("Attributes", &n->attributes, err)) < 0 || (r = check_map("Meta", &n->meta, err)) < 0)
                return error_prefix(err, "%s", what);
        return 0;
}
