/* model_json.c - Nomad-shaped JSON for the data model.
 *
 * Decoders accept what Nomad's API accepts: absent keys and JSON null mean
 * "unset". Keys drover does not model yet are kept in `extra` and written back
 * by the encoders, so a job submitted through the API comes back whole. For
 * partly-modelled sub-objects (Resources, RestartPolicy, EphemeralDisk, ...)
 * the unknown keys are kept under the same key in the parent's `extra`.
 */
#include "common/model.h"
#include "common/limits.h"

#include <errno.h>
#include <math.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/error.h"
#include "common/jsonx.h"
#include "common/macros.h"

/* ---- decoding helpers --------------------------------------------------------- */

/* JSON paths for error messages; a path too long for the buffer is cut. */
__attribute__((format(printf, 3, 4))) static void subpath(char *buf, size_t n, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(buf, n, fmt, ap);
        va_end(ap);
}

struct dec {
        struct error *err;
        int r;
};

static bool dec_fail(struct dec *d, const char *path, const char *key, const char *what) {
        if (d->r == 0)
                d->r = errorf(d->err, -EINVAL, "%s%s%s: expected %s", path, *path && *key ? "." : "", key, what);
        return false;
}

static void d_str(struct dec *d, const json_t *obj, const char *path, const char *key, char **out) {
        json_t *v = json_object_get(obj, key);
        if (!v || json_is_null(v))
                return;
        if (!json_is_string(v)) {
                dec_fail(d, path, key, "a string");
                return;
        }
        free(*out);
        *out = strdup(json_string_value(v));
}

static void d_i64(struct dec *d, const json_t *obj, const char *path, const char *key, int64_t *out) {
        json_t *v = json_object_get(obj, key);
        if (!v || json_is_null(v))
                return;
        if (json_is_integer(v))
                *out = json_integer_value(v);
        else if (json_is_real(v) && fabs(json_real_value(v)) < 9.2e18 && /* in range before the cast */
                 json_real_value(v) == (double)(int64_t)json_real_value(v))
                *out = (int64_t)json_real_value(v);
        else
                dec_fail(d, path, key, "an integer");
}

static void d_int(struct dec *d, const json_t *obj, const char *path, const char *key, int *out) {
        int64_t v = *out;
        d_i64(d, obj, path, key, &v);
        if (v < INT32_MIN || v > INT32_MAX) {
                dec_fail(d, path, key, "an integer within 32 bits");
                return;
        }
        *out = (int)v;
}

static void d_u64(struct dec *d, const json_t *obj, const char *path, const char *key, uint64_t *out) {
        int64_t v = (int64_t)*out;
        d_i64(d, obj, path, key, &v);
        *out = (uint64_t)v;
}

static void d_bool(struct dec *d, const json_t *obj, const char *path, const char *key, bool *out) {
        json_t *v = json_object_get(obj, key);
        if (!v || json_is_null(v))
                return;
        if (!json_is_boolean(v)) {
                dec_fail(d, path, key, "a boolean");
                return;
        }
        *out = json_is_true(v);
}

/* RFC 3339 (Nomad's time.Time) or integer ns. */
static void d_time(struct dec *d, const json_t *obj, const char *path, const char *key, int64_t *out) {
        json_t *v = json_object_get(obj, key);
        if (!v || json_is_null(v))
                return;
        if (json_is_integer(v)) {
                *out = json_integer_value(v);
                return;
        }
        if (!json_is_string(v)) {
                dec_fail(d, path, key, "an RFC 3339 time");
                return;
        }
        const char *s = json_string_value(v);
        struct tm tm = {0};
        const char *rest = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
        if (!rest) {
                dec_fail(d, path, key, "an RFC 3339 time");
                return;
        }
        int64_t frac = 0;
        if (*rest == '.') {
                int digits = 0;
                for (rest++; *rest >= '0' && *rest <= '9'; rest++, digits++)
                        if (digits < 9)
                                frac = frac * 10 + (*rest - '0');
                for (; digits < 9; digits++)
                        frac *= 10;
        }
        int64_t secs = (int64_t)timegm(&tm);
        if (tm.tm_year < 0) { /* Go's zero time 0001-01-01 */
                *out = 0;
                return;
        }
        *out = secs * 1000000000LL + frac;
}

static void e_time(json_t *obj, const char *key, int64_t ns) {
        char buf[64];
        if (ns == 0) {
                json_object_set_new(obj, key, json_string("0001-01-01T00:00:00Z"));
                return;
        }
        time_t secs = (time_t)(ns / 1000000000LL);
        struct tm tm;
        gmtime_r(&secs, &tm);
        size_t n = strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
        snprintf(buf + n, sizeof(buf) - n, ".%09" PRId64 "Z", (int64_t)(ns % 1000000000LL));
        json_object_set_new(obj, key, json_string(buf));
}

static void d_strmap(struct dec *d, const json_t *obj, const char *path, const char *key, struct strmap *out) {
        json_t *v = json_object_get(obj, key);
        if (!v || json_is_null(v))
                return;
        if (!json_is_object(v)) {
                dec_fail(d, path, key, "an object of strings");
                return;
        }
        if (json_object_size(v) > LIMIT_MAP_ENTRIES) { /* before strmap_set, whose lookup is linear */
                if (!d->r)
                        d->r = errorf(d->err, -EINVAL, "%s%s%s: more than %d entries (got %zu)", path,
                                      *path ? "." : "", key, LIMIT_MAP_ENTRIES, json_object_size(v));
                return;
        }
        const char *k;
        json_t *val;
        json_object_foreach(v, k, val) {
                if (json_is_string(val))
                        strmap_set(out, k, json_string_value(val));
                else if (json_is_integer(val) || json_is_real(val) || json_is_boolean(val)) {
                        _cleanup_free_ char *s = json_dumps(val, JSON_ENCODE_ANY);
                        strmap_set(out, k, s);
                } else if (!json_is_null(val)) {
                        dec_fail(d, path, key, "an object of strings");
                        return;
                }
        }
}

static json_t *e_strmap(const struct strmap *m) {
        json_t *o = json_object();
        for (size_t i = 0; i < m->n; i++)
                json_object_set_new(o, m->items[i].key, json_string(m->items[i].value));
        return o;
}

static json_t *e_str(const char *s) {
        return s ? json_string(s) : json_string("");
}

/* Keys of obj not in known[] (non-null) as a new object, or NULL when none. */
static json_t *collect_extra(const json_t *obj, const char *const known[]) {
        json_t *extra = NULL;
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)obj, k, v) {
                if (json_is_null(v))
                        continue;
                bool is_known = false;
                for (size_t i = 0; known[i] && !is_known; i++)
                        is_known = strcmp(known[i], k) == 0;
                if (is_known)
                        continue;
                if (!extra)
                        extra = json_object();
                json_object_set(extra, k, v);
        }
        return extra;
}

/* Unknown keys of sub-object obj[key] go into *extra under key. */
static void keep_sub_extra(json_t **extra, const json_t *obj, const char *key, const char *const known[]) {
        json_t *sub = json_object_get(obj, key);
        if (!json_is_object(sub))
                return;
        json_t *e = collect_extra(sub, known);
        if (!e)
                return;
        if (!*extra)
                *extra = json_object();
        json_object_set_new(*extra, key, e);
}

/* Start an encoded sub-object from the kept unknown keys. */
static json_t *sub_from_extra(const json_t *extra, const char *key) {
        json_t *e = extra ? json_object_get(extra, key) : NULL;
        return json_is_object(e) ? json_deep_copy(e) : json_object();
}

static json_t *with_extra(json_t *o, const json_t *extra) {
        if (extra)
                json_object_update_missing(o, (json_t *)extra);
        return o;
}

/* Set o[key] = v unless o has key already (v is stolen either way): the Go zero
 * values of fields drover does not model, so that a client reading them finds
 * them with their type, as Nomad answers. */
static void set_missing(json_t *o, const char *key, json_t *v) {
        if (json_object_get(o, key))
                json_decref(v);
        else
                json_object_set_new(o, key, v);
}

#define ARR_FOREACH(arr, i, v) for (size_t i = 0; i < json_array_size(arr) && ((v) = json_array_get(arr, i)); i++)

static json_t *d_arr(struct dec *d, const json_t *obj, const char *path, const char *key) {
        json_t *v = json_object_get(obj, key);
        if (!v || json_is_null(v))
                return NULL;
        if (!json_is_array(v)) {
                dec_fail(d, path, key, "a list");
                return NULL;
        }
        return v;
}

/* One element of a list of objects, decoded from v (an object) at path into elem. */
typedef void (*d_elem_fn)(struct dec *d, const json_t *v, const char *path, void *elem);

/* obj[key], a list of objects, decoded into a new array of elements of size bytes
 * each (*n counts the elements started, so a partly decoded one is freed with the
 * rest); NULL when the list is missing, null or empty. A non-list, a non-object
 * element or no memory fails d with the element's path. */
static void *d_list(struct dec *d, const json_t *obj, const char *path, const char *key, size_t size, d_elem_fn fn,
                    size_t *n) {
        json_t *arr = d_arr(d, obj, path, key), *v;
        if (!arr || !json_array_size(arr))
                return NULL;
        char *out = calloc(json_array_size(arr), size);
        if (!out) {
                if (d->r == 0)
                        d->r = errorf(d->err, -ENOMEM, "%s.%s: out of memory", path, key);
                return NULL;
        }
        ARR_FOREACH(arr, i, v) {
                char p[256];
                subpath(p, sizeof(p), "%s.%s[%zu]", path, key, i);
                if (!json_is_object(v)) {
                        dec_fail(d, p, "", "an object");
                        break;
                }
                *n = i + 1;
                fn(d, v, p, out + i * size);
        }
        return out;
}

/* ---- constraints, affinities, spreads ---------------------------------------- */

static void d_constraint(struct dec *d, const json_t *v, const char *p, void *elem) {
        struct constraint *c = elem;
        d_str(d, v, p, "LTarget", &c->ltarget);
        d_str(d, v, p, "RTarget", &c->rtarget);
        d_str(d, v, p, "Operand", &c->operand);
}

static void d_constraints(struct dec *d, const json_t *obj, const char *path, struct constraint **out, size_t *n) {
        *out = d_list(d, obj, path, "Constraints", sizeof(**out), d_constraint, n);
}

static json_t *e_constraints(const struct constraint *c, size_t n) {
        json_t *arr = json_array();
        for (size_t i = 0; i < n; i++)
                json_array_append_new(arr, json_pack("{s:o,s:o,s:o}", "LTarget", e_str(c[i].ltarget), "RTarget",
                                                     e_str(c[i].rtarget), "Operand", e_str(c[i].operand)));
        return arr;
}

static void d_affinity(struct dec *d, const json_t *v, const char *p, void *elem) {
        struct affinity *a = elem;
        d_str(d, v, p, "LTarget", &a->ltarget);
        d_str(d, v, p, "RTarget", &a->rtarget);
        d_str(d, v, p, "Operand", &a->operand);
        d_int(d, v, p, "Weight", &a->weight);
}

static void d_affinities(struct dec *d, const json_t *obj, const char *path, struct affinity **out, size_t *n) {
        *out = d_list(d, obj, path, "Affinities", sizeof(**out), d_affinity, n);
}

static json_t *e_affinities(const struct affinity *a, size_t n) {
        json_t *arr = json_array();
        for (size_t i = 0; i < n; i++)
                json_array_append_new(arr, json_pack("{s:o,s:o,s:o,s:i}", "LTarget", e_str(a[i].ltarget), "RTarget",
                                                     e_str(a[i].rtarget), "Operand", e_str(a[i].operand), "Weight",
                                                     a[i].weight));
        return arr;
}

static void d_spread_target(struct dec *d, const json_t *v, const char *p, void *elem) {
        struct spread_target *t = elem;
        d_str(d, v, p, "Value", &t->value);
        d_int(d, v, p, "Percent", &t->percent);
}

static void d_spread(struct dec *d, const json_t *v, const char *p, void *elem) {
        struct spread *s = elem;
        d_str(d, v, p, "Attribute", &s->attribute);
        d_int(d, v, p, "Weight", &s->weight);
        s->targets = d_list(d, v, p, "SpreadTarget", sizeof(*s->targets), d_spread_target, &s->n_targets);
}

static void d_spreads(struct dec *d, const json_t *obj, const char *path, struct spread **out, size_t *n) {
        *out = d_list(d, obj, path, "Spreads", sizeof(**out), d_spread, n);
}

static json_t *e_spreads(const struct spread *s, size_t n) {
        json_t *arr = json_array();
        for (size_t i = 0; i < n; i++) {
                json_t *targets = json_array();
                for (size_t t = 0; t < s[i].n_targets; t++)
                        json_array_append_new(targets, json_pack("{s:o,s:i}", "Value", e_str(s[i].targets[t].value),
                                                                 "Percent", s[i].targets[t].percent));
                json_array_append_new(arr, json_pack("{s:o,s:i,s:o}", "Attribute", e_str(s[i].attribute), "Weight",
                                                     s[i].weight, "SpreadTarget", targets));
        }
        return arr;
}

/* ---- restart policy, networks, resources ------------------------------------- */

static const char *const restart_known[] = {"Attempts", "Interval", "Delay", "Mode", NULL};

static void d_restart(struct dec *d, const json_t *obj, const char *path, struct restart_policy *rp,
                      json_t **extra) {
        json_t *v = json_object_get(obj, "RestartPolicy");
        if (!v || json_is_null(v))
                return;
        if (!json_is_object(v)) {
                dec_fail(d, path, "RestartPolicy", "an object");
                return;
        }
        char p[256];
        subpath(p, sizeof(p), "%s.RestartPolicy", path);
        rp->set = true;
        d_int(d, v, p, "Attempts", &rp->attempts);
        d_i64(d, v, p, "Interval", &rp->interval_ns);
        d_i64(d, v, p, "Delay", &rp->delay_ns);
        d_str(d, v, p, "Mode", &rp->mode);
        keep_sub_extra(extra, obj, "RestartPolicy", restart_known);
}

static void e_restart(json_t *o, const struct restart_policy *rp, const json_t *extra) {
        if (!rp->set)
                return;
        json_t *r = sub_from_extra(extra, "RestartPolicy");
        json_object_set_new(r, "Attempts", json_integer(rp->attempts));
        json_object_set_new(r, "Interval", json_integer(rp->interval_ns));
        json_object_set_new(r, "Delay", json_integer(rp->delay_ns));
        json_object_set_new(r, "Mode", e_str(rp->mode));
        json_object_set_new(o, "RestartPolicy", r);
}

static void d_port(struct dec *d, const json_t *v, const char *p, void *elem) {
        struct port *port = elem;
        d_str(d, v, p, "Label", &port->label);
        d_int(d, v, p, "Value", &port->value);
        d_int(d, v, p, "To", &port->to);
        d_str(d, v, p, "HostNetwork", &port->host_network);
}

static void d_ports(struct dec *d, const json_t *obj, const char *path, const char *key, struct port **out,
                    size_t *n) {
        *out = d_list(d, obj, path, key, sizeof(**out), d_port, n);
}

static json_t *e_ports(const struct port *p, size_t n) {
        json_t *arr = json_array();
        for (size_t i = 0; i < n; i++)
                json_array_append_new(arr, json_pack("{s:o,s:i,s:i,s:o}", "Label", e_str(p[i].label), "Value",
                                                     p[i].value, "To", p[i].to, "HostNetwork",
                                                     e_str(p[i].host_network ? p[i].host_network : "default")));
        return arr;
}

static const char *const network_known[] = {"Mode", "MBits", "ReservedPorts", "DynamicPorts", NULL};

static void d_network(struct dec *d, const json_t *v, const char *p, void *elem) {
        struct network *nw = elem;
        d_str(d, v, p, "Mode", &nw->mode);
        d_int(d, v, p, "MBits", &nw->mbits);
        d_ports(d, v, p, "ReservedPorts", &nw->reserved_ports, &nw->n_reserved);
        d_ports(d, v, p, "DynamicPorts", &nw->dynamic_ports, &nw->n_dynamic);
        nw->extra = collect_extra(v, network_known);
}

static void d_networks(struct dec *d, const json_t *obj, const char *path, struct network **out, size_t *n) {
        *out = d_list(d, obj, path, "Networks", sizeof(**out), d_network, n);
}

static json_t *e_networks(const struct network *nw, size_t n) {
        json_t *arr = json_array();
        for (size_t i = 0; i < n; i++) {
                json_t *o = json_pack("{s:o,s:i,s:o,s:o}", "Mode", e_str(nw[i].mode), "MBits", nw[i].mbits,
                                      "ReservedPorts", e_ports(nw[i].reserved_ports, nw[i].n_reserved),
                                      "DynamicPorts", e_ports(nw[i].dynamic_ports, nw[i].n_dynamic));
                json_array_append_new(arr, with_extra(o, nw[i].extra));
        }
        return arr;
}

static const char *const resources_known[] = {"CPU", "Cores", "MemoryMB", "MemoryMaxMB", "DiskMB", "Networks",
                                              "Devices", NULL};

static void d_resources(struct dec *d, const json_t *obj, const char *path, struct resources *res,
                        json_t **extra) {
        json_t *v = json_object_get(obj, "Resources");
        if (!v || json_is_null(v))
                return;
        char p[256];
        subpath(p, sizeof(p), "%s.Resources", path);
        if (!json_is_object(v)) {
                dec_fail(d, path, "Resources", "an object");
                return;
        }
        d_int(d, v, p, "CPU", &res->cpu);
        res->cpu_set = json_is_number(json_object_get(v, "CPU"));
        d_int(d, v, p, "Cores", &res->cores);
        d_int(d, v, p, "MemoryMB", &res->memory_mb);
        res->memory_set = json_is_number(json_object_get(v, "MemoryMB"));
        d_int(d, v, p, "MemoryMaxMB", &res->memory_max_mb);
        d_int(d, v, p, "DiskMB", &res->disk_mb);
        d_networks(d, v, p, &res->networks, &res->n_networks);
        json_t *dev = json_object_get(v, "Devices");
        if (json_is_array(dev) && json_array_size(dev))
                res->devices = json_deep_copy(dev);
        keep_sub_extra(extra, obj, "Resources", resources_known);
}

static json_t *e_resources(const struct resources *res, const json_t *extra) {
        json_t *r = sub_from_extra(extra, "Resources");
        json_object_set_new(r, "CPU", json_integer(res->cpu));
        json_object_set_new(r, "Cores", json_integer(res->cores));
        json_object_set_new(r, "MemoryMB", json_integer(res->memory_mb));
        json_object_set_new(r, "MemoryMaxMB", json_integer(res->memory_max_mb));
        json_object_set_new(r, "DiskMB", json_integer(res->disk_mb));
        json_object_set_new(r, "Networks", e_networks(res->networks, res->n_networks));
        json_object_set_new(r, "Devices", res->devices ? json_deep_copy(res->devices) : json_array());
        return r;
}

/* ---- task, group, job ---------------------------------------------------------- */

static const char *const task_known[] = {
    "Name",       "Driver",        "User",      "Config",      "Env",        "Meta",   "Resources", "Constraints",
    "Affinities", "RestartPolicy", "LogConfig", "KillTimeout", "KillSignal", "Leader", "Lifecycle", NULL};
static const char *const logs_known[] = {"MaxFiles", "MaxFileSizeMB", "Disabled", NULL};
static const char *const lifecycle_known[] = {"Hook", "Sidecar", NULL};

/* Lifecycle: null or absent = a main task; else a known Hook (Nomad refuses an
 * empty one too: "no lifecycle hook provided"). */
static void d_lifecycle(struct dec *d, const json_t *v, const char *path, struct task *t) {
        json_t *lc = json_object_get(v, "Lifecycle");
        if (!lc || json_is_null(lc))
                return;
        char p[256];
        subpath(p, sizeof(p), "%s.Lifecycle", path);
        if (!json_is_object(lc)) {
                dec_fail(d, path, "Lifecycle", "an object");
                return;
        }
        _cleanup_free_ char *hook = NULL;
        d_str(d, lc, p, "Hook", &hook);
        d_bool(d, lc, p, "Sidecar", &t->sidecar);
        if (d->r == 0 && (!hook || task_hook_parse(hook, &t->hook) < 0 || t->hook == TASK_HOOK_NONE))
                d->r = errorf(d->err, -EINVAL,
                              "%s.Hook: %s lifecycle hook%s%s%s (expected prestart, poststart or poststop)", p,
                              hook && *hook ? "unknown" : "missing", hook && *hook ? " \"" : "",
                              hook && *hook ? hook : "", hook && *hook ? "\"" : "");
        keep_sub_extra(&t->extra, v, "Lifecycle", lifecycle_known);
}

static void d_task(struct dec *d, const json_t *v, const char *path, void *elem) {
        struct task *t = elem;
        d_str(d, v, path, "Name", &t->name);
        d_str(d, v, path, "Driver", &t->driver);
        d_str(d, v, path, "User", &t->user);
        json_t *cfg = json_object_get(v, "Config");
        if (cfg && !json_is_null(cfg)) {
                if (!json_is_object(cfg))
                        dec_fail(d, path, "Config", "an object");
                else
                        t->config = json_deep_copy(cfg);
        }
        d_strmap(d, v, path, "Env", &t->env);
        d_strmap(d, v, path, "Meta", &t->meta);
        t->extra = collect_extra(v, task_known);
        d_resources(d, v, path, &t->resources, &t->extra);
        d_constraints(d, v, path, &t->constraints, &t->n_constraints);
        d_affinities(d, v, path, &t->affinities, &t->n_affinities);
        d_restart(d, v, path, &t->restart, &t->extra);
        json_t *lc = json_object_get(v, "LogConfig");
        if (json_is_object(lc)) {
                d_int(d, lc, path, "MaxFiles", &t->logs.max_files);
                d_int(d, lc, path, "MaxFileSizeMB", &t->logs.max_file_size_mb);
                d_bool(d, lc, path, "Disabled", &t->logs.disabled);
                keep_sub_extra(&t->extra, v, "LogConfig", logs_known);
        }
        d_i64(d, v, path, "KillTimeout", &t->kill_timeout_ns);
        d_str(d, v, path, "KillSignal", &t->kill_signal);
        d_bool(d, v, path, "Leader", &t->leader);
        d_lifecycle(d, v, path, t);
}

static json_t *e_task(const struct task *t) {
        json_t *o = json_object();
        json_object_set_new(o, "Name", e_str(t->name));
        json_object_set_new(o, "Driver", e_str(t->driver));
        json_object_set_new(o, "User", e_str(t->user));
        json_object_set_new(o, "Config", t->config ? json_deep_copy(t->config) : json_object());
        json_object_set_new(o, "Env", e_strmap(&t->env));
        json_object_set_new(o, "Meta", e_strmap(&t->meta));
        json_object_set_new(o, "Resources", e_resources(&t->resources, t->extra));
        json_object_set_new(o, "Constraints", e_constraints(t->constraints, t->n_constraints));
        json_object_set_new(o, "Affinities", e_affinities(t->affinities, t->n_affinities));
        e_restart(o, &t->restart, t->extra);
        json_t *lc = sub_from_extra(t->extra, "LogConfig");
        json_object_set_new(lc, "MaxFiles", json_integer(t->logs.max_files));
        json_object_set_new(lc, "MaxFileSizeMB", json_integer(t->logs.max_file_size_mb));
        json_object_set_new(lc, "Disabled", json_boolean(t->logs.disabled));
        json_object_set_new(o, "LogConfig", lc);
        json_object_set_new(o, "KillTimeout", json_integer(t->kill_timeout_ns));
        json_object_set_new(o, "KillSignal", e_str(t->kill_signal));
        json_object_set_new(o, "Leader", json_boolean(t->leader));
        if (t->hook != TASK_HOOK_NONE) {
                json_t *hook = sub_from_extra(t->extra, "Lifecycle");
                json_object_set_new(hook, "Hook", json_string(task_hook_str(t->hook)));
                json_object_set_new(hook, "Sidecar", json_boolean(t->sidecar));
                json_object_set_new(o, "Lifecycle", hook);
        }
        return with_extra(o, t->extra);
}

static const char *const group_known[] = {"Name",          "Count",      "Constraints", "Affinities",
                                          "Spreads",       "Tasks",      "RestartPolicy", "Networks",
                                          "Meta",          NULL};

static void d_group(struct dec *d, const json_t *v, const char *path, void *elem) {
        struct task_group *g = elem;
        d_str(d, v, path, "Name", &g->name);
        g->count = 1; /* Nomad's default when Count is unset */
        d_int(d, v, path, "Count", &g->count);
        g->extra = collect_extra(v, group_known);
        d_constraints(d, v, path, &g->constraints, &g->n_constraints);
        d_affinities(d, v, path, &g->affinities, &g->n_affinities);
        d_spreads(d, v, path, &g->spreads, &g->n_spreads);
        d_restart(d, v, path, &g->restart, &g->extra);
        d_networks(d, v, path, &g->networks, &g->n_networks);
        d_strmap(d, v, path, "Meta", &g->meta);
        json_t *disk = json_object_get(v, "EphemeralDisk");
        if (json_is_object(disk))
                d_int(d, disk, path, "SizeMB", &g->ephemeral_disk_mb);
        g->tasks = d_list(d, v, path, "Tasks", sizeof(*g->tasks), d_task, &g->n_tasks);
}

static json_t *e_group(const struct task_group *g) {
        json_t *o = json_object();
        json_object_set_new(o, "Name", e_str(g->name));
        json_object_set_new(o, "Count", json_integer(g->count));
        json_object_set_new(o, "Constraints", e_constraints(g->constraints, g->n_constraints));
        json_object_set_new(o, "Affinities", e_affinities(g->affinities, g->n_affinities));
        json_object_set_new(o, "Spreads", e_spreads(g->spreads, g->n_spreads));
        e_restart(o, &g->restart, g->extra);
        json_object_set_new(o, "Networks", e_networks(g->networks, g->n_networks));
        json_object_set_new(o, "Meta", e_strmap(&g->meta));
        json_t *disk = sub_from_extra(g->extra, "EphemeralDisk");
        json_object_set_new(disk, "SizeMB", json_integer(g->ephemeral_disk_mb));
        set_missing(disk, "Migrate", json_false());
        set_missing(disk, "Sticky", json_false());
        json_object_set_new(o, "EphemeralDisk", disk);
        json_t *tasks = json_array();
        for (size_t i = 0; i < g->n_tasks; i++)
                json_array_append_new(tasks, e_task(&g->tasks[i]));
        json_object_set_new(o, "Tasks", tasks);
        return with_extra(o, g->extra);
}

static const char *const job_known[] = {
    "ID",         "Name",        "Region",     "Namespace",  "Type",        "Priority",       "AllAtOnce",
    "Datacenters", "NodePool",   "Constraints", "Affinities", "Spreads",    "TaskGroups",     "Meta",
    "Stop",       "Status",      "Version",    "SubmitTime", "CreateIndex", "ModifyIndex",    "JobModifyIndex",
    NULL};

int job_from_json(const json_t *obj, struct job **ret, struct error *err) {
        struct dec d = {.err = err};
        if (!json_is_object(obj))
                return errorf(err, -EINVAL, "Job: expected an object");
        struct job *j = job_new();
        if (!j)
                return -ENOMEM;
        const char *path = "Job";
        d_str(&d, obj, path, "ID", &j->id);
        d_str(&d, obj, path, "Name", &j->name);
        d_str(&d, obj, path, "Region", &j->region);
        d_str(&d, obj, path, "Namespace", &j->namespace);
        _cleanup_free_ char *type = NULL;
        d_str(&d, obj, path, "Type", &type);
        if (type && job_type_parse(type, &j->type) < 0 && d.r == 0)
                d.r = errorf(err, -EINVAL,
                             "Job.Type: unknown job type \"%s\" (expected service, batch, system or sysbatch)", type);
        d_int(&d, obj, path, "Priority", &j->priority);
        d_bool(&d, obj, path, "AllAtOnce", &j->all_at_once);
        json_t *dcs = d_arr(&d, obj, path, "Datacenters"), *dc;
        if (dcs && json_array_size(dcs)) {
                j->datacenters = calloc(json_array_size(dcs), sizeof(char *));
                ARR_FOREACH(dcs, i, dc) {
                        if (!json_is_string(dc)) {
                                dec_fail(&d, path, "Datacenters", "a list of strings");
                                break;
                        }
                        j->datacenters[i] = strdup(json_string_value(dc));
                        j->n_datacenters = i + 1;
                }
        }
        d_str(&d, obj, path, "NodePool", &j->node_pool);
        d_constraints(&d, obj, path, &j->constraints, &j->n_constraints);
        d_affinities(&d, obj, path, &j->affinities, &j->n_affinities);
        d_spreads(&d, obj, path, &j->spreads, &j->n_spreads);
        d_strmap(&d, obj, path, "Meta", &j->meta);
        d_bool(&d, obj, path, "Stop", &j->stop);
        _cleanup_free_ char *status = NULL;
        d_str(&d, obj, path, "Status", &status);
        if (status)
                for (int s = 0; s < JOB_STATUS_MAX; s++)
                        if (strcmp(status, job_status_str((enum job_status)s)) == 0)
                                j->status = (enum job_status)s;
        d_u64(&d, obj, path, "Version", &j->version);
        d_i64(&d, obj, path, "SubmitTime", &j->submit_time);
        d_u64(&d, obj, path, "CreateIndex", &j->create_index);
        d_u64(&d, obj, path, "ModifyIndex", &j->modify_index);
        d_u64(&d, obj, path, "JobModifyIndex", &j->job_modify_index);
        json_t *groups = d_arr(&d, obj, path, "TaskGroups");
        if (groups && json_array_size(groups) > LIMIT_GROUPS && !d.r) /* refused before building them */
                d.r = errorf(err, -EINVAL, "job \"%.128s\": more than %d groups (got %zu)", j->id ? j->id : "",
                             LIMIT_GROUPS, json_array_size(groups));
        if (!d.r)
                j->groups = d_list(&d, obj, path, "TaskGroups", sizeof(*j->groups), d_group, &j->n_groups);
        j->extra = collect_extra(obj, job_known);
        if (d.r < 0) {
                job_unref(j);
                return d.r;
        }
        *ret = j;
        return 0;
}

json_t *job_to_json(const struct job *j) {
        json_t *o = json_object();
        json_object_set_new(o, "ID", e_str(j->id));
        json_object_set_new(o, "Name", e_str(j->name));
        json_object_set_new(o, "Region", e_str(j->region));
        json_object_set_new(o, "Namespace", e_str(j->namespace));
        json_object_set_new(o, "Type", json_string(job_type_str(j->type)));
        json_object_set_new(o, "Priority", json_integer(j->priority));
        json_object_set_new(o, "AllAtOnce", json_boolean(j->all_at_once));
        json_t *dcs = json_array();
        for (size_t i = 0; i < j->n_datacenters; i++)
                json_array_append_new(dcs, json_string(j->datacenters[i]));
        json_object_set_new(o, "Datacenters", dcs);
        json_object_set_new(o, "NodePool", e_str(j->node_pool));
        json_object_set_new(o, "Constraints", e_constraints(j->constraints, j->n_constraints));
        json_object_set_new(o, "Affinities", e_affinities(j->affinities, j->n_affinities));
        json_object_set_new(o, "Spreads", e_spreads(j->spreads, j->n_spreads));
        json_t *groups = json_array();
        for (size_t i = 0; i < j->n_groups; i++)
                json_array_append_new(groups, e_group(&j->groups[i]));
        json_object_set_new(o, "TaskGroups", groups);
        json_object_set_new(o, "Meta", e_strmap(&j->meta));
        json_object_set_new(o, "Stop", json_boolean(j->stop));
        json_object_set_new(o, "Status", json_string(job_status_str(j->status)));
        json_object_set_new(o, "Version", json_integer((json_int_t)j->version));
        json_object_set_new(o, "SubmitTime", json_integer(j->submit_time));
        json_object_set_new(o, "CreateIndex", json_integer((json_int_t)j->create_index));
        json_object_set_new(o, "ModifyIndex", json_integer((json_int_t)j->modify_index));
        json_object_set_new(o, "JobModifyIndex", json_integer((json_int_t)j->job_modify_index));
        with_extra(o, j->extra);
        set_missing(o, "ParentID", json_string(""));
        set_missing(o, "StatusDescription", json_string(""));
        set_missing(o, "Stable", json_false());
        set_missing(o, "Update", json_null());
        set_missing(o, "Periodic", json_null());
        set_missing(o, "ParameterizedJob", json_null());
        set_missing(o, "Payload", json_null());
        return o;
}

json_t *job_to_stub_json(const struct job *j, json_t *summary) {
        json_t *dcs = json_array();
        for (size_t i = 0; i < j->n_datacenters; i++)
                json_array_append_new(dcs, json_string(j->datacenters[i]));
        json_t *o = json_pack("{s:o,s:s,s:o,s:o,s:o,s:s,s:i,s:b,s:b,s:b,s:s,s:s,s:o,s:o,s:I,s:I,s:I,s:I,s:o}", "ID",
                              e_str(j->id), "ParentID", job_parent_id(j), "Name", e_str(j->name), "Namespace", e_str(j->namespace),
                              "Datacenters", dcs, "Type", job_type_str(j->type), "Priority", j->priority, "Periodic",
                              job_is_periodic(j), "ParameterizedJob", job_is_parameterized(j), "Stop", j->stop, "Status", job_status_str(j->status),
                              "StatusDescription", "", "NodePool", e_str(j->node_pool), "JobSummary",
                              summary ? json_incref(summary) : json_null(), "CreateIndex",
                              (json_int_t)j->create_index, "ModifyIndex", (json_int_t)j->modify_index,
                              "JobModifyIndex", (json_int_t)j->job_modify_index, "SubmitTime",
                              (json_int_t)j->submit_time, "Version", json_integer((json_int_t)j->version));
        return o;
}

/* ---- node -------------------------------------------------------------------- */

static const char *const node_known[] = {
    "ID",          "SecretID",   "Name",      "Datacenter",        "NodeClass",         "NodePool",
    "Region",      "HTTPAddr",    "Status",     "StatusDescription", "SchedulingEligibility", "Drain", "Attributes",
    "Meta",        "Drivers",    "NodeResources", "ReservedResources", "StatusUpdatedAt", "ComputedClass",
    "CreateIndex", "ModifyIndex", NULL};

int node_from_json(const json_t *obj, struct node **ret, struct error *err) {
        struct dec d = {.err = err};
        if (!json_is_object(obj))
                return errorf(err, -EINVAL, "Node: expected an object");
        struct node *n = node_new();
        if (!n)
                return -ENOMEM;
        const char *path = "Node";
        d_str(&d, obj, path, "ID", &n->id);
        d_str(&d, obj, path, "SecretID", &n->secret_id);
        d_str(&d, obj, path, "Name", &n->name);
        d_str(&d, obj, path, "Datacenter", &n->datacenter);
        d_str(&d, obj, path, "NodeClass", &n->node_class);
        d_str(&d, obj, path, "NodePool", &n->node_pool);
        d_str(&d, obj, path, "Region", &n->region);
        d_str(&d, obj, path, "HTTPAddr", &n->http_addr);
        _cleanup_free_ char *status = NULL, *elig = NULL;
        d_str(&d, obj, path, "Status", &status);
        if (status && node_status_parse(status, &n->status) < 0 && d.r == 0)
                d.r = errorf(err, -EINVAL, "Node.Status: unknown status \"%s\"", status);
        d_str(&d, obj, path, "StatusDescription", &n->status_description);
        d_str(&d, obj, path, "SchedulingEligibility", &elig);
        n->eligible = !elig || strcmp(elig, "ineligible") != 0;
        d_bool(&d, obj, path, "Drain", &n->drain);
        d_strmap(&d, obj, path, "Attributes", &n->attributes);
        d_strmap(&d, obj, path, "Meta", &n->meta);
        json_t *drivers = json_object_get(obj, "Drivers");
        if (json_is_object(drivers)) {
                size_t cnt = json_object_size(drivers), i = 0;
                n->drivers = calloc(cnt ? cnt : 1, sizeof(*n->drivers));
                const char *k;
                json_t *v;
                json_object_foreach(drivers, k, v) {
                        n->drivers[i].name = strdup(k);
                        n->drivers[i].detected = jx_bool(v, "Detected", false);
                        n->drivers[i].healthy = jx_bool(v, "Healthy", false);
                        const char *hd = jx_str(v, "HealthDescription", "");
                        n->drivers[i].description = *hd ? strdup(hd) : NULL;
                        n->n_drivers = ++i;
                }
        }
        json_t *nr = json_object_get(obj, "NodeResources");
        if (json_is_object(nr)) {
                json_t *cpu = jx_obj(nr, "Cpu"), *mem = jx_obj(nr, "Memory"), *disk = jx_obj(nr, "Disk");
                if (cpu) {
                        d_i64(&d, cpu, "Node.NodeResources.Cpu", "CpuShares", &n->cpu_shares);
                        d_int(&d, cpu, "Node.NodeResources.Cpu", "TotalCpuCores", &n->total_cores);
                }
                if (mem)
                        d_i64(&d, mem, "Node.NodeResources.Memory", "MemoryMB", &n->memory_mb);
                if (disk)
                        d_i64(&d, disk, "Node.NodeResources.Disk", "DiskMB", &n->disk_mb);
                json_t *devs = json_object_get(nr, "Devices"), *nets = json_object_get(nr, "NodeNetworks");
                if (json_is_array(devs) && json_array_size(devs) > 0)
                        n->devices = json_deep_copy(devs);
                if (json_is_array(nets) && json_array_size(nets) > 0)
                        n->networks = json_deep_copy(nets);
        }
        json_t *rr = json_object_get(obj, "ReservedResources");
        if (json_is_object(rr)) {
                json_t *cpu = jx_obj(rr, "Cpu"), *mem = jx_obj(rr, "Memory"), *disk = jx_obj(rr, "Disk");
                if (cpu)
                        d_i64(&d, cpu, "Node.ReservedResources.Cpu", "CpuShares", &n->reserved_cpu);
                if (mem)
                        d_i64(&d, mem, "Node.ReservedResources.Memory", "MemoryMB", &n->reserved_memory_mb);
                if (disk)
                        d_i64(&d, disk, "Node.ReservedResources.Disk", "DiskMB", &n->reserved_disk_mb);
        }
        d_i64(&d, obj, path, "StatusUpdatedAt", &n->status_updated_at);
        d_str(&d, obj, path, "ComputedClass", &n->computed_class);
        d_u64(&d, obj, path, "CreateIndex", &n->create_index);
        d_u64(&d, obj, path, "ModifyIndex", &n->modify_index);
        n->extra = collect_extra(obj, node_known);
        if (d.r < 0) {
                node_unref(n);
                return d.r;
        }
        *ret = n;
        return 0;
}

static json_t *e_drivers(const struct node *n) {
        json_t *o = json_object();
        for (size_t i = 0; i < n->n_drivers; i++)
                json_object_set_new(o, n->drivers[i].name,
                                    json_pack("{s:b,s:b,s:s,s:{}}", "Detected", n->drivers[i].detected, "Healthy",
                                              n->drivers[i].healthy, "HealthDescription",
                                              n->drivers[i].description ? n->drivers[i].description
                                              : n->drivers[i].healthy ? "Healthy"
                                                                      : "Unhealthy",
                                              "Attributes"));
        /* The fingerprint comes with the node's status update: its time is the driver's. */
        const char *name;
        json_t *d;
        json_object_foreach(o, name, d) e_time(d, "UpdateTime", n->status_updated_at * 1000000000LL);
        return o;
}

json_t *node_to_json(const struct node *n) {
        json_t *o = json_object();
        json_object_set_new(o, "ID", e_str(n->id));
        json_object_set_new(o, "SecretID", e_str(n->secret_id));
        json_object_set_new(o, "Name", e_str(n->name));
        json_object_set_new(o, "Datacenter", e_str(n->datacenter));
        json_object_set_new(o, "NodeClass", e_str(n->node_class));
        json_object_set_new(o, "NodePool", e_str(n->node_pool ? n->node_pool : "default"));
        if (n->region)
                json_object_set_new(o, "Region", e_str(n->region));
        json_object_set_new(o, "HTTPAddr", e_str(n->http_addr));
        json_object_set_new(o, "Status", json_string(node_status_str(n->status)));
        json_object_set_new(o, "StatusDescription", e_str(n->status_description));
        json_object_set_new(o, "SchedulingEligibility", json_string(n->eligible ? "eligible" : "ineligible"));
        json_object_set_new(o, "Drain", json_boolean(n->drain));
        json_object_set_new(o, "Attributes", e_strmap(&n->attributes));
        json_object_set_new(o, "Meta", e_strmap(&n->meta));
        json_object_set_new(o, "Drivers", e_drivers(n));
        json_object_set_new(o, "NodeResources",
                            json_pack("{s:{s:I,s:i},s:{s:I},s:{s:I}}", "Cpu", "CpuShares", (json_int_t)n->cpu_shares,
                                      "TotalCpuCores", n->total_cores, "Memory", "MemoryMB",
                                      (json_int_t)n->memory_mb, "Disk", "DiskMB", (json_int_t)n->disk_mb));
        json_t *nr = json_object_get(o, "NodeResources");
        json_object_set_new(nr, "Devices", n->devices ? json_deep_copy(n->devices) : json_array());
        json_object_set_new(nr, "NodeNetworks", n->networks ? json_deep_copy(n->networks) : json_array());
        json_object_set_new(o, "ReservedResources",
                            json_pack("{s:{s:I},s:{s:I},s:{s:I}}", "Cpu", "CpuShares", (json_int_t)n->reserved_cpu,
                                      "Memory", "MemoryMB", (json_int_t)n->reserved_memory_mb, "Disk", "DiskMB",
                                      (json_int_t)n->reserved_disk_mb));
        json_object_set_new(o, "StatusUpdatedAt", json_integer(n->status_updated_at));
        json_object_set_new(o, "ComputedClass", e_str(n->computed_class));
        json_object_set_new(o, "CreateIndex", json_integer((json_int_t)n->create_index));
        json_object_set_new(o, "ModifyIndex", json_integer((json_int_t)n->modify_index));
        with_extra(o, n->extra);
        set_missing(o, "TLSEnabled", json_false());
        set_missing(o, "Events", json_array());
        set_missing(json_object_get(o, "NodeResources"), "Networks", json_array());
        return o;
}

json_t *node_to_stub_json(const struct node *n) {
        const char *addr = strmap_get(&n->attributes, "unique.network.ip-address");
        const char *version = strmap_get(&n->attributes, "drover.version");
        return json_pack("{s:s,s:o,s:o,s:o,s:o,s:o,s:s,s:b,s:s,s:s,s:o,s:o,s:I,s:I}", "Address", addr ? addr : "",
                         "ID", e_str(n->id), "Datacenter", e_str(n->datacenter), "Name", e_str(n->name), "NodeClass",
                         e_str(n->node_class), "NodePool", e_str(n->node_pool ? n->node_pool : "default"), "Version",
                         version ? version : "", "Drain", n->drain, "SchedulingEligibility",
                         n->eligible ? "eligible" : "ineligible", "Status", node_status_str(n->status),
                         "StatusDescription", e_str(n->status_description), "Drivers", e_drivers(n), "CreateIndex",
                         (json_int_t)n->create_index, "ModifyIndex", (json_int_t)n->modify_index);
}

/* ---- task states -------------------------------------------------------------- */

json_t *task_states_to_json(const struct task_state *ts, size_t n) {
        json_t *o = json_object();
        for (size_t i = 0; i < n; i++) {
                json_t *events = json_array();
                for (size_t e = 0; e < ts[i].n_events; e++) {
                        const struct task_event *ev = &ts[i].events[e];
                        json_t *details = json_object();
                        if (strcmp(ev->type ? ev->type : "", "Terminated") == 0) {
                                char buf[16];
                                snprintf(buf, sizeof(buf), "%d", ev->exit_code);
                                json_object_set_new(details, "exit_code", json_string(buf));
                                snprintf(buf, sizeof(buf), "%d", ev->signal);
                                json_object_set_new(details, "signal", json_string(buf));
                        }
                        json_array_append_new(
                            events, json_pack("{s:o,s:I,s:o,s:o,s:i,s:i,s:o}", "Type", e_str(ev->type), "Time",
                                              (json_int_t)ev->time, "Message", e_str(ev->message), "DisplayMessage",
                                              e_str(ev->message), "ExitCode", ev->exit_code, "Signal", ev->signal,
                                              "Details", details));
                }
                json_t *s = json_pack("{s:s,s:b,s:i,s:o}", "State", task_state_str(ts[i].state), "Failed",
                                      ts[i].failed, "Restarts", ts[i].restarts, "Events", events);
                e_time(s, "StartedAt", ts[i].started_at);
                e_time(s, "FinishedAt", ts[i].finished_at);
                json_object_set_new(o, ts[i].name, s);
        }
        return o;
}

int task_states_from_json(const json_t *obj, struct task_state **ret, size_t *ret_n, struct error *err) {
        struct dec d = {.err = err};
        if (!json_is_object(obj))
                return errorf(err, -EINVAL, "TaskStates: expected an object");
        size_t cnt = json_object_size(obj), i = 0;
        struct task_state *ts = calloc(cnt ? cnt : 1, sizeof(*ts));
        if (!ts)
                return -ENOMEM;
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)obj, k, v) {
                char p[256];
                subpath(p, sizeof(p), "TaskStates.%s", k);
                struct task_state *t = &ts[i++];
                t->name = strdup(k);
                if (!json_is_object(v)) {
                        dec_fail(&d, p, "", "an object");
                        break;
                }
                _cleanup_free_ char *state = NULL;
                d_str(&d, v, p, "State", &state);
                if (state && task_state_parse(state, &t->state) < 0 && d.r == 0)
                        d.r = errorf(err, -EINVAL, "%s.State: unknown task state \"%s\"", p, state);
                d_bool(&d, v, p, "Failed", &t->failed);
                d_int(&d, v, p, "Restarts", &t->restarts);
                d_time(&d, v, p, "StartedAt", &t->started_at);
                d_time(&d, v, p, "FinishedAt", &t->finished_at);
                json_t *events = d_arr(&d, v, p, "Events"), *ev;
                ARR_FOREACH(events, e, ev) {
                        _cleanup_free_ char *type = NULL, *msg = NULL;
                        int64_t time = 0;
                        int code = 0, sig = 0;
                        d_str(&d, ev, p, "Type", &type);
                        d_str(&d, ev, p, "Message", &msg);
                        if (!msg)
                                d_str(&d, ev, p, "DisplayMessage", &msg);
                        d_i64(&d, ev, p, "Time", &time);
                        d_int(&d, ev, p, "ExitCode", &code);
                        d_int(&d, ev, p, "Signal", &sig);
                        task_state_add_event(t, type, msg, time, code, sig);
                }
        }
        if (d.r < 0) {
                task_states_free(ts, i);
                return d.r;
        }
        *ret = ts;
        *ret_n = i;
        return 0;
}

/* ---- allocation ---------------------------------------------------------------- */

/* Go's time.Time in JSON: "2006-01-02T15:04:05.999999999Z" (UTC); 0 is Go's zero time. */
static void ns_rfc3339(int64_t ns, char *buf, size_t size) {
        if (ns <= 0) {
                snprintf(buf, size, "0001-01-01T00:00:00Z");
                return;
        }
        time_t secs = (time_t)(ns / 1000000000);
        struct tm tm;
        gmtime_r(&secs, &tm);
        size_t n = strftime(buf, size, "%Y-%m-%dT%H:%M:%S", &tm);
        snprintf(buf + n, size - n, ".%09lldZ", (long long)(ns % 1000000000));
}

/* An RFC 3339 time (any offset, optional fraction) or integer nanoseconds. */
static int rfc3339_ns(const json_t *v, int64_t *ret) {
        if (json_is_integer(v)) {
                *ret = json_integer_value(v);
                return 0;
        }
        if (!json_is_string(v))
                return -EINVAL;
        const char *s = json_string_value(v);
        struct tm tm = {0};
        const char *p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
        if (!p)
                return -EINVAL;
        int64_t frac = 0, scale = 100000000;
        if (*p == '.')
                for (p++; *p >= '0' && *p <= '9'; p++, scale /= 10)
                        frac += scale > 0 ? (*p - '0') * scale : 0;
        int64_t off = 0;
        if (*p == '+' || *p == '-') {
                int hh = 0, mm = 0;
                if (sscanf(p + 1, "%2d:%2d", &hh, &mm) != 2)
                        return -EINVAL;
                off = (*p == '+' ? 1 : -1) * (int64_t)(hh * 3600 + mm * 60);
        } else if (*p != 'Z') {
                return -EINVAL;
        }
        if (tm.tm_year < 70) { /* Go's zero time and anything before 1970: unset */
                *ret = 0;
                return 0;
        }
        *ret = ((int64_t)timegm(&tm) - off) * 1000000000 + frac;
        return 0;
}

void model_time_format(int64_t ns, char *buf, size_t size) {
        ns_rfc3339(ns, buf, size);
}

int model_time_parse(const json_t *v, int64_t *ret) {
        return rfc3339_ns(v, ret);
}

static const char *const alloc_known[] = {
    "ID",           "Namespace",    "EvalID",         "Name",       "NodeID",        "NodeName",
    "JobID",        "Job",          "TaskGroup",      "Resources",  "AllocatedResources", "DesiredStatus",
    "DesiredDescription", "ClientStatus", "ClientDescription", "TaskStates", "PreviousAllocation",
    "NextAllocation", "Metrics",    "CreateIndex",    "ModifyIndex", "AllocModifyIndex", "CreateTime",
    "ModifyTime",   "JobVersion",   "DeploymentID", "DeploymentStatus", NULL};

int alloc_from_json(const json_t *obj, struct alloc **ret, struct error *err) {
        struct dec d = {.err = err};
        if (!json_is_object(obj))
                return errorf(err, -EINVAL, "Allocation: expected an object");
        struct alloc *a = alloc_new();
        if (!a)
                return -ENOMEM;
        const char *path = "Allocation";
        d_str(&d, obj, path, "ID", &a->id);
        d_str(&d, obj, path, "Namespace", &a->namespace);
        d_str(&d, obj, path, "EvalID", &a->eval_id);
        d_str(&d, obj, path, "Name", &a->name);
        d_str(&d, obj, path, "NodeID", &a->node_id);
        d_str(&d, obj, path, "NodeName", &a->node_name);
        d_str(&d, obj, path, "JobID", &a->job_id);
        d_str(&d, obj, path, "TaskGroup", &a->task_group);
        json_t *job = json_object_get(obj, "Job");
        if (json_is_object(job) && d.r == 0) {
                int r = job_from_json(job, &a->job, err);
                if (r < 0)
                        d.r = r;
        }
        json_t *res = json_object_get(obj, "Resources");
        if (json_is_object(res)) {
                d_i64(&d, res, "Allocation.Resources", "CPU", &a->resources.cpu);
                d_i64(&d, res, "Allocation.Resources", "MemoryMB", &a->resources.memory_mb);
                d_i64(&d, res, "Allocation.Resources", "DiskMB", &a->resources.disk_mb);
        }
        _cleanup_free_ char *desired = NULL, *client = NULL;
        d_str(&d, obj, path, "DesiredStatus", &desired);
        if (desired && alloc_desired_parse(desired, &a->desired_status) < 0 && d.r == 0)
                d.r = errorf(err, -EINVAL, "Allocation.DesiredStatus: unknown status \"%s\"", desired);
        d_str(&d, obj, path, "DesiredDescription", &a->desired_description);
        d_str(&d, obj, path, "ClientStatus", &client);
        if (client && alloc_client_parse(client, &a->client_status) < 0 && d.r == 0)
                d.r = errorf(err, -EINVAL,
                             "Allocation.ClientStatus: unknown status \"%s\" (expected pending, running, complete, failed, lost or unknown)",
                             client);
        d_str(&d, obj, path, "ClientDescription", &a->client_description);
        json_t *ts = json_object_get(obj, "TaskStates");
        if (json_is_object(ts) && d.r == 0) {
                int r = task_states_from_json(ts, &a->task_states, &a->n_task_states, err);
                if (r < 0)
                        d.r = r;
        }
        d_str(&d, obj, path, "PreviousAllocation", &a->previous_allocation);
        d_str(&d, obj, path, "NextAllocation", &a->next_allocation);
        d_str(&d, obj, path, "DeploymentID", &a->deployment_id);
        if (a->deployment_id && !*a->deployment_id) { /* Nomad writes "" for none */
                free(a->deployment_id);
                a->deployment_id = NULL;
        }
        json_t *ds = json_object_get(obj, "DeploymentStatus");
        if (json_is_object(ds)) {
                json_t *h = json_object_get(ds, "Healthy");
                a->deploy_health = json_is_true(h)    ? DEPLOY_HEALTH_HEALTHY
                                   : json_is_false(h) ? DEPLOY_HEALTH_UNHEALTHY
                                                      : DEPLOY_HEALTH_UNSET;
                json_t *hts = json_object_get(ds, "Timestamp");
                if (hts && !json_is_null(hts) && rfc3339_ns(hts, &a->deploy_health_time) < 0 && d.r == 0)
                        d.r = errorf(err, -EINVAL, "Allocation.DeploymentStatus.Timestamp: expected RFC 3339 time");
                a->deploy_canary = json_is_true(json_object_get(ds, "Canary"));
        } else if (ds && !json_is_null(ds) && d.r == 0) {
                d.r = errorf(err, -EINVAL, "Allocation.DeploymentStatus: expected object");
        }
        json_t *metrics = json_object_get(obj, "Metrics");
        if (json_is_object(metrics))
                a->metrics = json_deep_copy(metrics);
        json_t *allocated = json_object_get(obj, "AllocatedResources");
        if (json_is_object(allocated))
                a->allocated = json_deep_copy(allocated);
        d_u64(&d, obj, path, "CreateIndex", &a->create_index);
        d_u64(&d, obj, path, "ModifyIndex", &a->modify_index);
        d_u64(&d, obj, path, "AllocModifyIndex", &a->alloc_modify_index);
        d_i64(&d, obj, path, "CreateTime", &a->create_time);
        d_i64(&d, obj, path, "ModifyTime", &a->modify_time);
        a->extra = collect_extra(obj, alloc_known);
        if (d.r < 0) {
                alloc_unref(a);
                return d.r;
        }
        *ret = a;
        return 0;
}

static json_t *e_allocated_resources(const struct alloc *a) {
        json_t *tasks = json_object();
        const struct task_group *tg = a->job && a->task_group ? job_group(a->job, a->task_group) : NULL;
        for (size_t i = 0; tg && i < tg->n_tasks; i++)
                json_object_set_new(tasks, tg->tasks[i].name,
                                    json_pack("{s:{s:i},s:{s:i,s:i},s:[]}", "Cpu", "CpuShares",
                                              tg->tasks[i].resources.cpu, "Memory", "MemoryMB",
                                              tg->tasks[i].resources.memory_mb, "MemoryMaxMB", 0, "Networks"));
        json_t *out = json_pack("{s:o,s:{s:I}}", "Tasks", tasks, "Shared", "DiskMB", (json_int_t)a->resources.disk_mb);
        /* the scheduler's assignments: task devices and networks, memory_max (only under
         * memory oversubscription: else 0, as Nomad shows), shared ports and networks */
        json_t *at = json_object_get(a->allocated, "Tasks"), *as = json_object_get(a->allocated, "Shared");
        const char *name;
        json_t *v;
        json_object_foreach(at, name, v) {
                json_t *t = json_object_get(tasks, name);
                if (!t)
                        continue;
                json_t *f = json_object_get(v, "Devices");
                if (json_is_array(f))
                        json_object_set_new(t, "Devices", json_deep_copy(f));
                if (json_is_array(f = json_object_get(v, "Networks")))
                        json_object_set_new(t, "Networks", json_deep_copy(f));
                json_t *mm = json_object_get(json_object_get(v, "Memory"), "MemoryMaxMB");
                if (json_is_integer(mm))
                        json_object_set_new(json_object_get(t, "Memory"), "MemoryMaxMB", json_integer(json_integer_value(mm)));
        }
        json_t *shared = json_object_get(out, "Shared");
        static const char *const shared_keys[] = {"Ports", "Networks"};
        for (size_t i = 0; i < sizeof(shared_keys) / sizeof(shared_keys[0]); i++) {
                json_t *f = json_object_get(as, shared_keys[i]);
                if (json_is_array(f))
                        json_object_set_new(shared, shared_keys[i], json_deep_copy(f));
        }
        return out;
}

/* Nomad's AllocDeploymentStatus, or null when the alloc has none. */
static json_t *e_deploy_status(const struct alloc *a) {
        if (!a->deployment_id && a->deploy_health == DEPLOY_HEALTH_UNSET && !a->deploy_canary)
                return json_null();
        json_t *h = a->deploy_health == DEPLOY_HEALTH_UNSET ? json_null() : json_boolean(a->deploy_health == DEPLOY_HEALTH_HEALTHY);
        char ts[48];
        ns_rfc3339(a->deploy_health_time, ts, sizeof(ts));
        return json_pack("{s:o,s:s,s:b,s:I}", "Healthy", h, "Timestamp", ts, "Canary", a->deploy_canary, "ModifyIndex",
                         (json_int_t)a->modify_index);
}

static void e_alloc_common(json_t *o, const struct alloc *a) {
        json_object_set_new(o, "ID", e_str(a->id));
        json_object_set_new(o, "Namespace", e_str(a->namespace));
        json_object_set_new(o, "EvalID", e_str(a->eval_id));
        json_object_set_new(o, "Name", e_str(a->name));
        json_object_set_new(o, "NodeID", e_str(a->node_id));
        json_object_set_new(o, "NodeName", e_str(a->node_name));
        json_object_set_new(o, "JobID", e_str(a->job_id));
        json_object_set_new(o, "JobVersion", json_integer(a->job ? (json_int_t)a->job->version : 0));
        json_object_set_new(o, "TaskGroup", e_str(a->task_group));
        json_object_set_new(o, "DesiredStatus", json_string(alloc_desired_str(a->desired_status)));
        json_object_set_new(o, "DesiredDescription", e_str(a->desired_description));
        json_object_set_new(o, "ClientStatus", json_string(alloc_client_str(a->client_status)));
        json_object_set_new(o, "ClientDescription", e_str(a->client_description));
        json_object_set_new(o, "TaskStates", a->n_task_states ? task_states_to_json(a->task_states, a->n_task_states)
                                                              : json_null());
        json_object_set_new(o, "DeploymentID", e_str(a->deployment_id));
        json_object_set_new(o, "DeploymentStatus", e_deploy_status(a));
        json_object_set_new(o, "CreateIndex", json_integer((json_int_t)a->create_index));
        json_object_set_new(o, "ModifyIndex", json_integer((json_int_t)a->modify_index));
        json_object_set_new(o, "CreateTime", json_integer(a->create_time));
        json_object_set_new(o, "ModifyTime", json_integer(a->modify_time));
}

/* After the kept unknown keys: what an allocation has that drover does not model yet. */
static void alloc_defaults(json_t *o) {
        set_missing(o, "DeploymentStatus", json_null());
        set_missing(o, "FollowupEvalID", json_string(""));
        set_missing(o, "RescheduleTracker", json_null());
        set_missing(o, "PreemptedAllocations", json_null());
        set_missing(o, "PreemptedByAllocation", json_string(""));
}

json_t *alloc_to_json(const struct alloc *a) {
        json_t *o = json_object();
        e_alloc_common(o, a);
        json_object_set_new(o, "Job", a->job ? job_to_json(a->job) : json_null());
        json_object_set_new(o, "Resources", json_pack("{s:I,s:I,s:I}", "CPU", (json_int_t)a->resources.cpu,
                                                      "MemoryMB", (json_int_t)a->resources.memory_mb, "DiskMB",
                                                      (json_int_t)a->resources.disk_mb));
        json_object_set_new(o, "AllocatedResources", e_allocated_resources(a));
        json_object_set_new(o, "PreviousAllocation", e_str(a->previous_allocation));
        json_object_set_new(o, "NextAllocation", e_str(a->next_allocation));
        json_object_set_new(o, "Metrics", a->metrics ? json_deep_copy(a->metrics) : json_null());
        json_object_set_new(o, "AllocModifyIndex", json_integer((json_int_t)a->alloc_modify_index));
        with_extra(o, a->extra);
        alloc_defaults(o);
        set_missing(o, "DeploymentID", json_string(""));
        return o;
}

json_t *alloc_to_stub_json(const struct alloc *a) {
        json_t *o = json_object();
        e_alloc_common(o, a);
        json_object_set_new(o, "JobType", a->job ? json_string(job_type_str(a->job->type)) : json_null());
        json_t *v;
        static const char *const from_extra[] = {"DeploymentStatus", "FollowupEvalID", "RescheduleTracker",
                                                 "PreemptedAllocations", "PreemptedByAllocation"};
        for (size_t i = 0; i < ARRAY_SIZE(from_extra); i++)
                if (a->extra && (v = json_object_get(a->extra, from_extra[i])))
                        json_object_set(o, from_extra[i], v);
        alloc_defaults(o);
        return o;
}

/* ---- evaluation ------------------------------------------------------------------ */

static const char *const eval_known[] = {
    "ID",         "Namespace",    "Priority",        "Type",         "TriggeredBy",       "JobID",
    "JobModifyIndex", "NodeID",   "Status",          "StatusDescription", "NextEval",     "PreviousEval",
    "BlockedEval", "FailedTGAllocs", "QueuedAllocations", "ClassEligibility", "EscapedComputedClass",
    "SnapshotIndex", "WaitUntil", "CreateIndex",     "ModifyIndex",  "CreateTime",        "ModifyTime",
    NULL};

int eval_from_json(const json_t *obj, struct eval **ret, struct error *err) {
        struct dec d = {.err = err};
        if (!json_is_object(obj))
                return errorf(err, -EINVAL, "Evaluation: expected an object");
        struct eval *e = eval_new();
        if (!e)
                return -ENOMEM;
        const char *path = "Evaluation";
        d_str(&d, obj, path, "ID", &e->id);
        d_str(&d, obj, path, "Namespace", &e->namespace);
        d_int(&d, obj, path, "Priority", &e->priority);
        _cleanup_free_ char *type = NULL, *status = NULL;
        d_str(&d, obj, path, "Type", &type);
        if (type && job_type_parse(type, &e->type) < 0 && d.r == 0)
                d.r = errorf(err, -EINVAL, "Evaluation.Type: unknown type \"%s\"", type);
        d_str(&d, obj, path, "TriggeredBy", &e->triggered_by);
        d_str(&d, obj, path, "JobID", &e->job_id);
        d_u64(&d, obj, path, "JobModifyIndex", &e->job_modify_index);
        d_str(&d, obj, path, "NodeID", &e->node_id);
        d_str(&d, obj, path, "Status", &status);
        if (status && eval_status_parse(status, &e->status) < 0 && d.r == 0)
                d.r = errorf(err, -EINVAL, "Evaluation.Status: unknown status \"%s\"", status);
        d_str(&d, obj, path, "StatusDescription", &e->status_description);
        d_str(&d, obj, path, "NextEval", &e->next_eval);
        d_str(&d, obj, path, "PreviousEval", &e->previous_eval);
        d_str(&d, obj, path, "BlockedEval", &e->blocked_eval);
        json_t *v;
        if (json_is_object(v = json_object_get(obj, "FailedTGAllocs")))
                e->failed_tg_allocs = json_deep_copy(v);
        if (json_is_object(v = json_object_get(obj, "QueuedAllocations")))
                e->queued_allocations = json_deep_copy(v);
        if (json_is_object(v = json_object_get(obj, "ClassEligibility")))
                e->class_eligibility = json_deep_copy(v);
        d_bool(&d, obj, path, "EscapedComputedClass", &e->escaped_computed_class);
        d_u64(&d, obj, path, "SnapshotIndex", &e->snapshot_index);
        d_time(&d, obj, path, "WaitUntil", &e->wait_until);
        d_u64(&d, obj, path, "CreateIndex", &e->create_index);
        d_u64(&d, obj, path, "ModifyIndex", &e->modify_index);
        d_i64(&d, obj, path, "CreateTime", &e->create_time);
        d_i64(&d, obj, path, "ModifyTime", &e->modify_time);
        e->extra = collect_extra(obj, eval_known);
        if (d.r < 0) {
                eval_unref(e);
                return d.r;
        }
        *ret = e;
        return 0;
}

json_t *eval_to_json(const struct eval *e) {
        json_t *o = json_object();
        json_object_set_new(o, "ID", e_str(e->id));
        json_object_set_new(o, "Namespace", e_str(e->namespace));
        json_object_set_new(o, "Priority", json_integer(e->priority));
        json_object_set_new(o, "Type", json_string(job_type_str(e->type)));
        json_object_set_new(o, "TriggeredBy", e_str(e->triggered_by));
        json_object_set_new(o, "JobID", e_str(e->job_id));
        json_object_set_new(o, "JobModifyIndex", json_integer((json_int_t)e->job_modify_index));
        json_object_set_new(o, "NodeID", e_str(e->node_id));
        json_object_set_new(o, "Status", json_string(eval_status_str(e->status)));
        json_object_set_new(o, "StatusDescription", e_str(e->status_description));
        json_object_set_new(o, "NextEval", e_str(e->next_eval));
        json_object_set_new(o, "PreviousEval", e_str(e->previous_eval));
        json_object_set_new(o, "BlockedEval", e_str(e->blocked_eval));
        json_object_set_new(o, "FailedTGAllocs",
                            e->failed_tg_allocs ? json_deep_copy(e->failed_tg_allocs) : json_null());
        json_object_set_new(o, "QueuedAllocations",
                            e->queued_allocations ? json_deep_copy(e->queued_allocations) : json_null());
        json_object_set_new(o, "ClassEligibility",
                            e->class_eligibility ? json_deep_copy(e->class_eligibility) : json_null());
        json_object_set_new(o, "EscapedComputedClass", json_boolean(e->escaped_computed_class));
        json_object_set_new(o, "SnapshotIndex", json_integer((json_int_t)e->snapshot_index));
        e_time(o, "WaitUntil", e->wait_until);
        json_object_set_new(o, "CreateIndex", json_integer((json_int_t)e->create_index));
        json_object_set_new(o, "ModifyIndex", json_integer((json_int_t)e->modify_index));
        json_object_set_new(o, "CreateTime", json_integer(e->create_time));
        json_object_set_new(o, "ModifyTime", json_integer(e->modify_time));
        with_extra(o, e->extra);
        set_missing(o, "NodeModifyIndex", json_integer(0));
        set_missing(o, "DeploymentID", json_string(""));
        set_missing(o, "Wait", json_integer(0));
        set_missing(o, "QuotaLimitReached", json_string(""));
        set_missing(o, "AnnotatePlan", json_false());
        return o;
}
