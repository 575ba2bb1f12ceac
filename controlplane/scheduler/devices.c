/* devices.c - device asks against a node's devices. See devices.h. */
#include "controlplane/scheduler/devices.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/hashmap.h"
#include "controlplane/scheduler/feasible.h"

#define MAX_ASKS 64 /* device asks of one group (more: the group cannot be placed) */

/* ---- units ------------------------------------------------------------------------------- */

struct unit {
        const char *name;
        int kind; /* 1 bytes, 2 hertz, 3 watts */
        double factor;
};

static const struct unit units[] = {
    {"B", 1, 1},
    {"KB", 1, 1e3},
    {"KiB", 1, 1024.0},
    {"MB", 1, 1e6},
    {"MiB", 1, 1048576.0},
    {"GB", 1, 1e9},
    {"GiB", 1, 1073741824.0},
    {"TB", 1, 1e12},
    {"TiB", 1, 1099511627776.0},
    {"Hz", 2, 1},
    {"kHz", 2, 1e3},
    {"KHz", 2, 1e3},
    {"MHz", 2, 1e6},
    {"GHz", 2, 1e9},
    {"mW", 3, 1e-3},
    {"W", 3, 1},
    {"kW", 3, 1e3},
};

/* "12 GiB" -> 12 * 2^30 of kind 1; "7" -> 7 of kind 0. */
static bool parse_quantity(const char *s, double *ret_v, int *ret_kind) {
        if (!s)
                return false;
        char *end;
        double v = strtod(s, &end);
        if (end == s || !isfinite(v))
                return false;
        while (*end == ' ')
                end++;
        if (!*end) {
                *ret_v = v;
                *ret_kind = 0;
                return true;
        }
        for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
                if (strcmp(end, units[i].name) == 0) {
                        *ret_v = v * units[i].factor;
                        *ret_kind = units[i].kind;
                        return true;
                }
        return false;
}

bool sched_device_units_cmp(const char *a, const char *b, int *ret_cmp) {
        double x, y;
        int kx, ky;
        if (!parse_quantity(a, &x, &kx) || !parse_quantity(b, &y, &ky))
                return false;
        if (kx != ky && kx && ky)
                return false;
        *ret_cmp = x < y ? -1 : x > y;
        return true;
}

const char *sched_device_attr_string(const json_t *attr, char *buf, size_t size) {
        json_t *v, *unit = json_object_get(attr, "Unit");
        const char *u = json_is_string(unit) && *json_string_value(unit) ? json_string_value(unit) : NULL;
        if (json_is_string(v = json_object_get(attr, "String")))
                snprintf(buf, size, "%s", json_string_value(v));
        else if (json_is_integer(v = json_object_get(attr, "Int")))
                snprintf(buf, size, "%lld%s%s", (long long)json_integer_value(v), u ? " " : "", u ? u : "");
        else if (json_is_number(v = json_object_get(attr, "Float")))
                snprintf(buf, size, "%g%s%s", json_number_value(v), u ? " " : "", u ? u : "");
        else if (json_is_boolean(v = json_object_get(attr, "Bool")))
                snprintf(buf, size, "%s", json_is_true(v) ? "true" : "false");
        else if (json_is_string(attr)) /* a plain string attribute */
                snprintf(buf, size, "%s", json_string_value(attr));
        else
                return NULL;
        return buf;
}

/* ---- asks and groups ---------------------------------------------------------------------- */

struct ask {
        const char *task;
        char vendor[64], type[64], model[128];
        int count;
        const json_t *constraints, *affinities;
};

static bool parse_ask(const char *task, const json_t *d, struct ask *ret) {
        const char *name = json_string_value(json_object_get(d, "Name"));
        if (!name || !*name)
                return false;
        *ret = (struct ask){.task = task, .count = 1};
        json_t *c = json_object_get(d, "Count");
        if (json_is_integer(c))
                ret->count = (int)json_integer_value(c);
        ret->constraints = json_object_get(d, "Constraints");
        ret->affinities = json_object_get(d, "Affinities");
        const char *s1 = strchr(name, '/'), *s2 = s1 ? strchr(s1 + 1, '/') : NULL;
        if (!s1) {
                snprintf(ret->type, sizeof(ret->type), "%s", name);
        } else {
                snprintf(ret->vendor, sizeof(ret->vendor), "%.*s", (int)(s1 - name), name);
                if (s2) {
                        snprintf(ret->type, sizeof(ret->type), "%.*s", (int)(s2 - s1 - 1), s1 + 1);
                        snprintf(ret->model, sizeof(ret->model), "%s", s2 + 1);
                } else {
                        snprintf(ret->type, sizeof(ret->type), "%s", s1 + 1);
                }
        }
        return ret->count >= 0;
}

/* The asks, up to max of them; how many there are in all. */
static size_t collect_asks(const struct task_group *tg, struct ask *asks, size_t max) {
        size_t n = 0;
        struct ask scratch;
        for (size_t t = 0; t < tg->n_tasks; t++) {
                size_t i;
                json_t *d;
                json_array_foreach(tg->tasks[t].resources.devices, i, d) {
                        struct ask *a = n < max ? &asks[n] : &scratch;
                        if (parse_ask(tg->tasks[t].name, d, a) && a->count > 0)
                                n++;
                }
        }
        return n;
}

bool sched_group_has_devices(const struct task_group *tg) {
        for (size_t t = 0; t < tg->n_tasks; t++)
                if (json_array_size(tg->tasks[t].resources.devices))
                        return true;
        return false;
}

bool sched_group_device_affinities(const struct task_group *tg) {
        for (size_t t = 0; t < tg->n_tasks; t++) {
                size_t i;
                json_t *d;
                json_array_foreach(tg->tasks[t].resources.devices, i, d) {
                        if (json_array_size(json_object_get(d, "Affinities")))
                                return true;
                }
        }
        return false;
}

static bool str_is(const json_t *g, const char *key, const char *want) {
        const char *v = json_string_value(json_object_get(g, key));
        return v && strcmp(v, want) == 0;
}

static bool group_matches_id(const struct ask *a, const json_t *g) {
        return str_is(g, "Type", a->type) && (!*a->vendor || str_is(g, "Vendor", a->vendor)) &&
               (!*a->model || str_is(g, "Name", a->model));
}

/* ${device.*} of group g, else a literal. */
static const char *resolve(const json_t *g, const char *t, char *buf, size_t size, bool *ret_found) {
        *ret_found = false;
        if (!t)
                return NULL;
        if (strncmp(t, "${", 2) != 0) {
                *ret_found = true;
                return t;
        }
        size_t len = strlen(t);
        if (len < 3 || t[len - 1] != '}')
                return NULL;
        const char *key = t + 2;
        size_t klen = len - 3;
        const char *v = NULL;
        if (klen == 13 && strncmp(key, "device.vendor", klen) == 0)
                v = json_string_value(json_object_get(g, "Vendor"));
        else if (klen == 11 && strncmp(key, "device.type", klen) == 0)
                v = json_string_value(json_object_get(g, "Type"));
        else if (klen == 12 && strncmp(key, "device.model", klen) == 0)
                v = json_string_value(json_object_get(g, "Name"));
        else if (klen > 12 && strncmp(key, "device.attr.", 12) == 0) {
                char name[128];
                if (klen - 12 >= sizeof(name))
                        return NULL;
                memcpy(name, key + 12, klen - 12);
                name[klen - 12] = '\0';
                v = sched_device_attr_string(json_object_get(json_object_get(g, "Attributes"), name), buf, size);
        }
        *ret_found = v != NULL;
        return v;
}

static bool device_meets(const json_t *g, const json_t *c, struct sched_regexps *re) {
        char lb[160], rb[160];
        bool lf, rf;
        const char *op = json_string_value(json_object_get(c, "Operand"));
        const char *l = resolve(g, json_string_value(json_object_get(c, "LTarget")), lb, sizeof(lb), &lf);
        const char *r = resolve(g, json_string_value(json_object_get(c, "RTarget")), rb, sizeof(rb), &rf);
        int cmp;
        if (op && lf && rf && (!strcmp(op, "<") || !strcmp(op, "<=") || !strcmp(op, ">") || !strcmp(op, ">=")) &&
            sched_device_units_cmp(l, r, &cmp)) {
                if (op[0] == '<')
                        return op[1] ? cmp <= 0 : cmp < 0;
                return op[1] ? cmp >= 0 : cmp > 0;
        }
        return sched_check_operand_re(op, l, lf, r, rf, re);
}

static bool constraints_hold(const struct ask *a, const json_t *g, struct sched_regexps *re) {
        size_t i;
        json_t *c;
        json_array_foreach(a->constraints, i, c) {
                if (!device_meets(g, c, re))
                        return false;
        }
        return true;
}

/* sum(weights met), adding sum(|weights|) to *total. */
static double affinity_sum(const struct ask *a, const json_t *g, struct sched_regexps *re, double *total) {
        double sum = 0;
        size_t i;
        json_t *c;
        json_array_foreach(a->affinities, i, c) {
                json_t *w = json_object_get(c, "Weight");
                double weight = json_is_number(w) ? json_number_value(w) : 50;
                *total += fabs(weight);
                if (device_meets(g, c, re))
                        sum += weight;
        }
        return sum;
}

static bool instance_free(const json_t *inst, const struct hashmap *used, const struct hashmap *mine) {
        const char *id = json_string_value(json_object_get(inst, "ID"));
        json_t *h = json_object_get(inst, "Healthy");
        return id && (!h || json_is_true(h)) && !(used && hashmap_contains(used, id)) &&
               !(mine && hashmap_contains(mine, id));
}

static size_t free_count(const json_t *g, const struct hashmap *used, const struct hashmap *mine) {
        size_t n = 0, i;
        json_t *inst;
        json_array_foreach(json_object_get(g, "Instances"), i, inst) {
                n += instance_free(inst, used, mine);
        }
        return n;
}

int sched_devices_held(const struct alloc *a, struct hashmap *used) {
        return sched_devices_owned(a, used, (void *)1);
}

int sched_devices_owned(const struct alloc *a, struct hashmap *map, void *value) {
        const char *task;
        json_t *t;
        json_object_foreach(json_object_get(a->allocated, "Tasks"), task, t) {
                size_t i, k;
                json_t *d, *id;
                json_array_foreach(json_object_get(t, "Devices"), i, d) {
                        json_array_foreach(json_object_get(d, "DeviceIDs"), k, id) {
                                if (json_is_string(id) && hashmap_put(map, json_string_value(id), value, NULL) < 0)
                                        return -ENOMEM;
                        }
                }
        }
        return 0;
}

static json_t *task_list(json_t *tasks, const char *task) {
        json_t *l = json_object_get(tasks, task);
        if (!l) {
                l = json_array();
                if (!l || json_object_set_new(tasks, task, l) < 0)
                        return NULL;
        }
        return l;
}

int sched_devices_assign(const struct task_group *tg, const struct node *n, const struct hashmap *used,
                         struct sched_regexps *re, double *ret_score, json_t **ret_tasks, char *buf, size_t size,
                         const char **ret_why) {
        struct ask asks[MAX_ASKS];
        size_t na = collect_asks(tg, asks, MAX_ASKS);
        struct hashmap *mine = hashmap_create(HASHMAP_OWN_KEYS); /* taken by this alloc's earlier asks */
        json_t *tasks = ret_tasks ? json_object() : NULL;
        double sum = 0, total = 0;
        int r = 0;
        if (!mine || (ret_tasks && !tasks)) {
                r = -ENOMEM;
                goto out;
        }
        if (na > MAX_ASKS) {
                snprintf(buf, size, "devices: more than %d device asks in the group", MAX_ASKS);
                *ret_why = buf;
                r = -ENOSPC;
                goto out;
        }
        for (size_t i = 0; i < na && r == 0; i++) {
                const struct ask *a = &asks[i];
                const json_t *best = NULL;
                double best_aff = -INFINITY, best_total = 0;
                bool matched = false;
                size_t gi;
                json_t *g;
                json_array_foreach(n->devices, gi, g) {
                        if (!group_matches_id(a, g))
                                continue;
                        matched = true;
                        if (!constraints_hold(a, g, re) || free_count(g, used, mine) < (size_t)a->count)
                                continue;
                        double t = 0, s = affinity_sum(a, g, re, &t);
                        if (!best || s > best_aff) {
                                best = g;
                                best_aff = s;
                                best_total = t;
                        }
                }
                if (!best) {
                        snprintf(buf, size, "devices: %s %s%s%s%s%s", matched ? "no free or matching" : "no", a->vendor,
                                 *a->vendor ? "/" : "", a->type, *a->model ? "/" : "", a->model);
                        *ret_why = buf;
                        r = -ENOSPC;
                        break;
                }
                sum += best_total > 0 ? best_aff : 0;
                total += best_total;
                json_t *ids = ret_tasks ? json_array() : NULL;
                int taken = 0;
                size_t k;
                json_t *inst;
                json_array_foreach(json_object_get(best, "Instances"), k, inst) {
                        if (taken == a->count)
                                break;
                        if (!instance_free(inst, used, mine))
                                continue;
                        const char *id = json_string_value(json_object_get(inst, "ID"));
                        if (hashmap_put(mine, id, (void *)1, NULL) < 0 ||
                            (ids && json_array_append_new(ids, json_string(id)) < 0)) {
                                r = -ENOMEM;
                                break;
                        }
                        taken++;
                }
                if (r == 0 && ret_tasks) {
                        json_t *l = task_list(tasks, a->task);
                        json_t *d = json_pack("{s:O?,s:O?,s:O?,s:O}", "Vendor", json_object_get(best, "Vendor"), "Type",
                                              json_object_get(best, "Type"), "Name", json_object_get(best, "Name"),
                                              "DeviceIDs", ids);
                        if (!l || !d || json_array_append_new(l, d) < 0)
                                r = -ENOMEM;
                }
                json_decref(ids);
        }
        if (r == 0) {
                *ret_score = total > 0 ? sum / total : 0;
                if (ret_tasks) {
                        *ret_tasks = tasks;
                        tasks = NULL;
                }
        }
out:
        json_decref(tasks);
        hashmap_destroy(mine);
        return r;
}

/* ---- preemption ------------------------------------------------------------------------- */

/* Whose is instance inst, for a preemption: 0 free (or held by a victim already
 * chosen), -1 not to be had (unhealthy, held by an alloc that stays, or taken by an
 * earlier ask of the same alloc), else the holding victim's index + 1. */
static size_t inst_holder(const json_t *inst, const struct hashmap *fixed, const struct hashmap *owner,
                          const struct hashmap *mine, const bool *chosen) {
        const char *id = json_string_value(json_object_get(inst, "ID"));
        json_t *h = json_object_get(inst, "Healthy");
        if (!id || (h && !json_is_true(h)) || (fixed && hashmap_contains(fixed, id)) || hashmap_contains(mine, id))
                return SIZE_MAX;
        uintptr_t v = owner ? (uintptr_t)hashmap_get(owner, id) : 0;
        return v && !chosen[v - 1] ? (size_t)v : 0;
}

/* One device group as the answer to one ask: the victims it needs (indexes, in the
 * victims' order) and their highest priority. */
struct dev_option {
        size_t *pick, n_pick;
        int top;
};

/* The fewest victims, lowest priorities first, that free enough instances of group g
 * for ask a: cnt[v] instances of g held by unchosen victim v. false when even all of
 * them are not enough. */
static bool group_option(const json_t *g, const struct ask *a, const struct hashmap *fixed, const struct hashmap *owner,
                         const struct hashmap *mine, const int *prio, const bool *chosen, size_t nv, size_t *cnt,
                         struct dev_option *o) {
        size_t free_n = 0, i;
        json_t *inst;
        memset(cnt, 0, nv * sizeof(*cnt));
        json_array_foreach(json_object_get(g, "Instances"), i, inst) {
                size_t h = inst_holder(inst, fixed, owner, mine, chosen);
                if (h == 0)
                        free_n++;
                else if (h != SIZE_MAX)
                        cnt[h - 1]++;
        }
        o->n_pick = 0;
        o->top = INT32_MIN;
        size_t need = free_n >= (size_t)a->count ? 0 : (size_t)a->count - free_n, freed = 0;
        for (size_t v = 0; v < nv && freed < need; v++)
                if (cnt[v]) {
                        o->pick[o->n_pick++] = v;
                        freed += cnt[v];
                }
        if (freed < need)
                return false;
        /* give back the victims not needed after all, the last taken first */
        for (size_t k = o->n_pick; k-- > 0;)
                if (freed - cnt[o->pick[k]] >= need) {
                        freed -= cnt[o->pick[k]];
                        memmove(&o->pick[k], &o->pick[k + 1], (o->n_pick - k - 1) * sizeof(*o->pick));
                        o->n_pick--;
                }
        for (size_t k = 0; k < o->n_pick; k++)
                o->top = prio[o->pick[k]] > o->top ? prio[o->pick[k]] : o->top;
        return true;
}

static bool option_better(const struct dev_option *x, const struct dev_option *y) {
        if (!x->n_pick || !y->n_pick)
                return x->n_pick < y->n_pick;
        return x->top != y->top ? x->top < y->top : x->n_pick < y->n_pick;
}

/* The set of instances that are not to be had once the chosen victims are gone. */
static int remaining_used(const struct hashmap *fixed, const struct hashmap *owner, const bool *chosen,
                          struct hashmap **ret) {
        struct hashmap *used = fixed ? hashmap_clone(fixed) : hashmap_create(HASHMAP_OWN_KEYS);
        if (!used)
                return -ENOMEM;
        size_t it = 0;
        const char *id;
        void *v;
        while (owner && hashmap_next(owner, &it, &id, &v))
                if (!chosen[(uintptr_t)v - 1] && hashmap_put(used, id, (void *)1, NULL) < 0) {
                        hashmap_destroy(used);
                        return -ENOMEM;
                }
        *ret = used;
        return 0;
}

int sched_devices_preempt(const struct task_group *tg, const struct node *n, const struct hashmap *fixed,
                          const struct hashmap *owner, const int *prio, bool *chosen, size_t nv,
                          struct sched_regexps *re) {
        struct ask asks[MAX_ASKS];
        size_t na = collect_asks(tg, asks, MAX_ASKS);
        if (na > MAX_ASKS)
                return -ENOSPC;
        struct hashmap *mine = hashmap_create(HASHMAP_OWN_KEYS), *used = NULL;
        size_t *cnt = calloc(nv + 1, sizeof(*cnt)), *picks = calloc(2 * (nv + 1), sizeof(*picks));
        int r = mine && cnt && picks ? 0 : -ENOMEM;
        for (size_t i = 0; i < na && r == 0; i++) {
                const struct ask *a = &asks[i];
                struct dev_option best = {.pick = picks}, cur = {.pick = picks + nv + 1};
                const json_t *best_g = NULL;
                size_t gi;
                json_t *g;
                json_array_foreach(n->devices, gi, g) {
                        if (!group_matches_id(a, g) || !constraints_hold(a, g, re) ||
                            !group_option(g, a, fixed, owner, mine, prio, chosen, nv, cnt, &cur))
                                continue;
                        if (!best_g || option_better(&cur, &best)) {
                                size_t *spare = best.pick;
                                best = cur;
                                cur.pick = spare;
                                best_g = g;
                        }
                }
                if (!best_g) {
                        r = -ENOSPC;
                        break;
                }
                for (size_t k = 0; k < best.n_pick; k++)
                        chosen[best.pick[k]] = true;
                /* the ask's instances: free ones of its group, those of its victims now among them */
                int taken = 0;
                size_t k;
                json_t *inst;
                json_array_foreach(json_object_get(best_g, "Instances"), k, inst) {
                        if (taken == a->count)
                                break;
                        if (inst_holder(inst, fixed, owner, mine, chosen) != 0)
                                continue;
                        if (hashmap_put(mine, json_string_value(json_object_get(inst, "ID")), (void *)1, NULL) < 0)
                                r = -ENOMEM;
                        taken++;
                }
        }
        /* the placement assigns devices its own way (affinities first): it must succeed */
        if (r == 0 && (r = remaining_used(fixed, owner, chosen, &used)) == 0) {
                char buf[160];
                const char *why;
                double score;
                r = sched_devices_assign(tg, n, used, re, &score, NULL, buf, sizeof(buf), &why);
        }
        hashmap_destroy(used);
        hashmap_destroy(mine);
        free(cnt);
        free(picks);
        return r;
}

int sched_devices_conflict(const struct alloc *const *allocs, size_t n, const char **ret_id) {
        struct hashmap *held = NULL; /* instance -> the alloc holding it (keys borrowed) */
        int r = 0;
        for (size_t i = 0; i < n && r == 0; i++) {
                const char *task;
                json_t *t;
                json_object_foreach(json_object_get(allocs[i]->allocated, "Tasks"), task, t) {
                        size_t d, k;
                        json_t *dev, *id;
                        json_array_foreach(json_object_get(t, "Devices"), d, dev) {
                                json_array_foreach(json_object_get(dev, "DeviceIDs"), k, id) {
                                        const char *s = json_string_value(id);
                                        if (!s || r)
                                                continue;
                                        if (!held && !(held = hashmap_create(0))) {
                                                r = -ENOMEM;
                                                continue;
                                        }
                                        const void *owner = hashmap_get(held, s);
                                        if (owner && owner != allocs[i]) {
                                                *ret_id = s;
                                                r = 1;
                                        } else if (hashmap_put(held, s, (void *)allocs[i], NULL) < 0) {
                                                r = -ENOMEM;
                                        }
                                }
                        }
                }
        }
        hashmap_destroy(held);
        return r;
}
