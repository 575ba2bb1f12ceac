/* taskenv.c - NOMAD_* variables and ${...} interpolation. */
#include "nodeagent/alloc/taskenv.h"

#include <errno.h>
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

static int set_int(struct strmap *m, const char *k, long long v) {
        char buf[32];
        snprintf(buf, sizeof(buf), "%lld", v);
        return strmap_set(m, k, buf);
}

/* The NOMAD_*_<label> variables of one port. */
static int set_port(struct strmap *m, const char *label, long long value, long long to, const char *ip) {
        char clean[64], key[96], addr[96];
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
        snprintf(key, sizeof(key), "NOMAD_PORT_%s", clean);
        if ((r = set_int(m, key, to > 0 ? to : value)) < 0)
                return r;
        snprintf(key, sizeof(key), "NOMAD_HOST_PORT_%s", clean);
        if ((r = set_int(m, key, value)) < 0)
                return r;
        static const char *const ip_keys[] = {"NOMAD_IP_%s", "NOMAD_HOST_IP_%s"};
        static const char *const addr_keys[] = {"NOMAD_ADDR_%s", "NOMAD_HOST_ADDR_%s"};
        for (size_t i = 0; i < 2; i++) {
                snprintf(key, sizeof(key), ip_keys[i], clean);
                if ((r = strmap_set(m, key, ip)) < 0)
                        return r;
                snprintf(key, sizeof(key), addr_keys[i], clean);
                if ((r = strmap_set(m, key, addr)) < 0)
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

int taskenv_build(const struct taskenv_params *p, struct strmap *ret) {
        struct strmap m = {0};
        int r = 0;
        for (char *const *e = p->host_env; e && *e && r == 0; e++) {
                const char *eq = strchr(*e, '=');
                if (!eq || strncmp(*e, "NOMAD_", 6) == 0)
                        continue;
                char key[256];
                size_t klen = (size_t)(eq - *e);
                if (klen == 0 || klen >= sizeof(key))
                        continue;
                memcpy(key, *e, klen);
                key[klen] = '\0';
                r = strmap_set(&m, key, eq + 1);
        }
        const struct {
                const char *k;
                const char *v;
        } vars[] = {
            {"NOMAD_ALLOC_ID", p->alloc_id},
            {"NOMAD_ALLOC_NAME", p->alloc_name},
            {"NOMAD_JOB_ID", p->job_id},
            {"NOMAD_JOB_NAME", p->job_name},
            {"NOMAD_GROUP_NAME", p->group_name},
            {"NOMAD_TASK_NAME", p->task_name},
            {"NOMAD_NAMESPACE", p->namespace},
            {"NOMAD_REGION", p->region},
            {"NOMAD_DC", p->dc},
            {"NOMAD_ALLOC_DIR", p->alloc_dir},
            {"NOMAD_TASK_DIR", p->task_dir},
            {"NOMAD_SECRETS_DIR", p->secrets_dir},
            {"NOMAD_NODE_ID", p->node_id},
            {"NOMAD_NODE_NAME", p->node_name},
        };
        for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]) && r == 0; i++)
                if (vars[i].v)
                        r = strmap_set(&m, vars[i].k, vars[i].v);
        if (r == 0 && p->alloc_index >= 0)
                r = set_int(&m, "NOMAD_ALLOC_INDEX", p->alloc_index);
        if (r == 0 && p->cpu_limit > 0)
                r = set_int(&m, "NOMAD_CPU_LIMIT", p->cpu_limit);
        if (r == 0 && p->memory_limit > 0)
                r = set_int(&m, "NOMAD_MEMORY_LIMIT", p->memory_limit);
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
