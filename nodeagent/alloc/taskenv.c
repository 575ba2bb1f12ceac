/* taskenv.c - a task's environment (NOMAD_* and DROVER_* variables) and ${...} interpolation. */
#include "nodeagent/alloc/taskenv.h"

#include <errno.h>
#include <pwd.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/model.h"

char *taskenv_interpolate(const struct strmap *env, const char *s) {
        size_t cap = strlen(s) + 1, len = 0;
        char *out = malloc(cap);
        if (!out)
                return NULL;
        const char *p = s;
        while (*p) {
                const char *piece = p;
                size_t plen = 1, adv = 1;
                if (p[0] == '$' && p[1] == '{') {
                        const char *close = strchr(p + 2, '}');
                        if (close) {
                                char name[256];
                                size_t nlen = (size_t)(close - (p + 2));
                                plen = adv = (size_t)(close - p) + 1;
                                if (nlen < sizeof(name)) {
                                        memcpy(name, p + 2, nlen);
                                        name[nlen] = '\0';
                                        const char *v = strmap_get(env, name);
                                        if (v) {
                                                piece = v;
                                                plen = strlen(v);
                                        }
                                }
                        }
                }
                if (len + plen + 1 > cap) {
                        cap = (len + plen + 1) * 2;
                        char *n = realloc(out, cap);
                        if (!n) {
                                free(out);
                                return NULL;
                        }
                        out = n;
                }
                memcpy(out + len, piece, plen);
                len += plen;
                p += adv;
        }
        out[len] = '\0';
        return out;
}

json_t *taskenv_interpolate_json(const struct strmap *env, const json_t *v) {
        if (json_is_string(v)) {
                char *s = taskenv_interpolate(env, json_string_value(v));
                json_t *r = s ? json_string(s) : NULL;
                free(s);
                return r;
        }
        if (json_is_array(v)) {
                json_t *a = json_array();
                size_t i;
                json_t *e;
                json_array_foreach(v, i, e) {
                        json_t *c = taskenv_interpolate_json(env, e);
                        if (!c || json_array_append_new(a, c) < 0) {
                                json_decref(a);
                                return NULL;
                        }
                }
                return a;
        }
        if (json_is_object(v)) {
                json_t *o = json_object();
                const char *k;
                json_t *e;
                json_object_foreach((json_t *)v, k, e) {
                        json_t *c = taskenv_interpolate_json(env, e);
                        if (!c || json_object_set_new(o, k, c) < 0) {
                                json_decref(o);
                                return NULL;
                        }
                }
                return o;
        }
        return json_deep_copy(v);
}

int taskenv_user_lookup(uid_t uid, struct taskenv_user *ret) {
        char buf[16384];
        struct passwd pw, *found = NULL;
        int r = getpwuid_r(uid, &pw, buf, sizeof(buf), &found);
        if (r != 0 || !found)
                return r == ENOMEM || r == ERANGE ? -ENOMEM : -ENOENT;
        struct taskenv_user u = {.name = strdup(pw.pw_name ? pw.pw_name : ""),
                                 .home = strdup(pw.pw_dir ? pw.pw_dir : ""),
                                 .shell = strdup(pw.pw_shell ? pw.pw_shell : "")};
        if (!u.name || !u.home || !u.shell) {
                taskenv_user_clear(&u);
                return -ENOMEM;
        }
        *ret = u;
        return 0;
}

void taskenv_user_clear(struct taskenv_user *u) {
        free(u->name);
        free(u->home);
        free(u->shell);
        *u = (struct taskenv_user){0};
}

/* Each task variable is set twice: as Nomad names it and under DROVER_. */
static const char *const var_prefixes[] = {"NOMAD_", "DROVER_"};

/* name without its prefix ("ALLOC_ID"); fmt's one %s takes arg (a port label). */
static int set_twins(struct strmap *m, const char *fmt, const char *arg, const char *v) {
        for (size_t i = 0; i < sizeof(var_prefixes) / sizeof(var_prefixes[0]); i++) {
                char name[96], key[128];
                snprintf(name, sizeof(name), fmt, arg);
                snprintf(key, sizeof(key), "%s%s", var_prefixes[i], name);
                int r = strmap_set(m, key, v);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int set_int_twins(struct strmap *m, const char *fmt, const char *arg, long long v) {
        char buf[32];
        snprintf(buf, sizeof(buf), "%lld", v);
        return set_twins(m, fmt, arg, buf);
}

/* The *_<label> variables of one port. */
static int set_port(struct strmap *m, const char *label, long long value, long long to, const char *ip) {
        char clean[64], addr[96];
        size_t n = 0;
        for (const char *c = label; *c && n + 1 < sizeof(clean); c++, n++)
                clean[n] = (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ? *c : '_';
        clean[n] = '\0';
        if (!n || value <= 0 || value > 65535)
                return 0;
        if (!ip || !*ip)
                ip = "127.0.0.1";
        snprintf(addr, sizeof(addr), "%s:%lld", ip, value);
        int r;
        if ((r = set_int_twins(m, "PORT_%s", clean, to > 0 ? to : value)) < 0)
                return r;
        if ((r = set_int_twins(m, "HOST_PORT_%s", clean, value)) < 0)
                return r;
        static const char *const ip_keys[] = {"IP_%s", "HOST_IP_%s"};
        static const char *const addr_keys[] = {"ADDR_%s", "HOST_ADDR_%s"};
        for (size_t i = 0; i < 2; i++) {
                if ((r = set_twins(m, ip_keys[i], clean, ip)) < 0)
                        return r;
                if ((r = set_twins(m, addr_keys[i], clean, addr)) < 0)
                        return r;
        }
        return 0;
}

static int set_port_list(struct strmap *m, const json_t *list, const char *ip) {
        size_t i;
        json_t *pt;
        json_array_foreach(list, i, pt) {
                const char *label = json_string_value(json_object_get(pt, "Label"));
                const char *host_ip = json_string_value(json_object_get(pt, "HostIP"));
                int r = label ? set_port(m, label, json_integer_value(json_object_get(pt, "Value")),
                                         json_integer_value(json_object_get(pt, "To")), host_ip ? host_ip : ip)
                              : 0;
                if (r < 0)
                        return r;
        }
        return 0;
}

/* Shared.Ports, then the task's networks (Nomad's task-level network blocks). */
static int set_ports(struct strmap *m, const json_t *allocated, const char *task) {
        int r = set_port_list(m, json_object_get(json_object_get(allocated, "Shared"), "Ports"), NULL);
        size_t i;
        json_t *net;
        json_t *nets =
            json_object_get(json_object_get(json_object_get(allocated, "Tasks"), task ? task : ""), "Networks");
        json_array_foreach(nets, i, net) {
                const char *ip = json_string_value(json_object_get(net, "IP"));
                if (r == 0)
                        r = set_port_list(m, json_object_get(net, "ReservedPorts"), ip);
                if (r == 0)
                        r = set_port_list(m, json_object_get(net, "DynamicPorts"), ip);
        }
        return r;
}

/* Whether name (len bytes) is LANG, LC_ALL, TZ or one of list's comma-separated names. */
static bool passes_through(const char *name, size_t len, const char *list) {
        static const char *const always[] = {"LANG", "LC_ALL", "TZ"};
        for (size_t i = 0; i < sizeof(always) / sizeof(always[0]); i++)
                if (strlen(always[i]) == len && memcmp(always[i], name, len) == 0)
                        return true;
        for (const char *p = list; p && *p;) {
                p += strspn(p, ", \t");
                size_t n = strcspn(p, ", \t");
                if (n == len && memcmp(p, name, len) == 0)
                        return true;
                p += n;
        }
        return false;
}

int taskenv_build(const struct taskenv_params *p, struct strmap *ret) {
        struct strmap m = {0};
        int r = strmap_set(&m, "PATH", TASKENV_DEFAULT_PATH);
        for (char *const *e = p->host_env; e && *e && r == 0; e++) {
                const char *eq = strchr(*e, '=');
                char key[256];
                size_t klen = eq ? (size_t)(eq - *e) : 0;
                if (klen == 0 || klen >= sizeof(key) || !passes_through(*e, klen, p->passthrough))
                        continue;
                memcpy(key, *e, klen);
                key[klen] = '\0';
                r = strmap_set(&m, key, eq + 1);
        }
        const struct {
                const char *k;
                const char *v;
        } user[] = {{"HOME", p->user ? p->user->home : NULL},
                    {"USER", p->user ? p->user->name : NULL},
                    {"LOGNAME", p->user ? p->user->name : NULL},
                    {"SHELL", p->user ? p->user->shell : NULL}};
        for (size_t i = 0; i < sizeof(user) / sizeof(user[0]) && r == 0; i++)
                if (user[i].v && *user[i].v)
                        r = strmap_set(&m, user[i].k, user[i].v);
        const struct {
                const char *k;
                const char *v;
        } vars[] = {
            {"ALLOC_ID", p->alloc_id},   {"ALLOC_NAME", p->alloc_name}, {"JOB_ID", p->job_id},
            {"JOB_NAME", p->job_name},   {"GROUP_NAME", p->group_name}, {"TASK_NAME", p->task_name},
            {"NAMESPACE", p->namespace}, {"REGION", p->region},         {"DC", p->dc},
            {"ALLOC_DIR", p->alloc_dir}, {"TASK_DIR", p->task_dir},     {"SECRETS_DIR", p->secrets_dir},
            {"NODE_ID", p->node_id},     {"NODE_NAME", p->node_name},
        };
        for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]) && r == 0; i++)
                if (vars[i].v)
                        r = set_twins(&m, "%s", vars[i].k, vars[i].v);
        if (r == 0 && p->alloc_index >= 0)
                r = set_int_twins(&m, "%s", "ALLOC_INDEX", p->alloc_index);
        if (r == 0 && p->cpu_limit > 0)
                r = set_int_twins(&m, "%s", "CPU_LIMIT", p->cpu_limit);
        if (r == 0 && p->memory_limit > 0)
                r = set_int_twins(&m, "%s", "MEMORY_LIMIT", p->memory_limit);
        if (r == 0 && p->allocated)
                r = set_ports(&m, p->allocated, p->task_name);
        for (size_t i = 0; p->task_env && i < p->task_env->n && r == 0; i++) {
                char *v = taskenv_interpolate(&m, p->task_env->items[i].value);
                r = v ? strmap_set(&m, p->task_env->items[i].key, v) : -ENOMEM;
                free(v);
        }
        if (r < 0) {
                strmap_clear(&m);
                return r;
        }
        *ret = m;
        return 0;
}
