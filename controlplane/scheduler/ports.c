/* ports.c - dynamic port assignment. See ports.h. Follows Nomad's structs/network.go
 * (NetworkIndex.AssignPorts): a random free port of the range, else the next free one. */
#include "controlplane/scheduler/ports.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define RANGE (SCHED_PORT_MAX - SCHED_PORT_MIN + 1)

static bool has(const struct sched_portset *s, int p) {
        return p > 0 && p < 65536 && (s->bits[p / 64] >> (p % 64)) & 1;
}

static void add(struct sched_portset *s, int p) {
        if (p > 0 && p < 65536)
                s->bits[p / 64] |= UINT64_C(1) << (p % 64);
}

int64_t sched_group_networks_sum(const struct task_group *tg, int64_t (*per)(const struct network *net)) {
        int64_t sum = 0;
        for (size_t i = 0; i < tg->n_networks; i++)
                sum += per(&tg->networks[i]);
        for (size_t t = 0; t < tg->n_tasks; t++)
                for (size_t i = 0; i < tg->tasks[t].resources.n_networks; i++)
                        sum += per(&tg->tasks[t].resources.networks[i]);
        return sum;
}

static int64_t net_dynamic(const struct network *net) {
        return (int64_t)net->n_dynamic;
}

int sched_group_dynamic_ports(const struct task_group *tg) {
        return (int)sched_group_networks_sum(tg, net_dynamic);
}

bool sched_group_has_networks(const struct task_group *tg) {
        if (tg->n_networks)
                return true;
        for (size_t t = 0; t < tg->n_tasks; t++)
                if (tg->tasks[t].resources.n_networks)
                        return true;
        return false;
}

static void nets_static(const struct network *nets, size_t n, struct sched_portset *used) {
        for (size_t i = 0; i < n; i++)
                for (size_t p = 0; p < nets[i].n_reserved; p++)
                        add(used, nets[i].reserved_ports[p].value);
}

void sched_group_static_ports(const struct task_group *tg, struct sched_portset *set) {
        nets_static(tg->networks, tg->n_networks, set);
        for (size_t t = 0; t < tg->n_tasks; t++)
                nets_static(tg->tasks[t].resources.networks, tg->tasks[t].resources.n_networks, set);
}

static void ports_of(const json_t *list, struct sched_portset *used) {
        size_t i;
        json_t *p;
        json_array_foreach(list, i, p) {
                json_t *v = json_object_get(p, "Value");
                if (json_is_integer(v))
                        add(used, (int)json_integer_value(v));
        }
}

static void networks_of(const json_t *nets, struct sched_portset *used) {
        size_t i;
        json_t *n;
        json_array_foreach(nets, i, n) {
                ports_of(json_object_get(n, "ReservedPorts"), used);
                ports_of(json_object_get(n, "DynamicPorts"), used);
        }
}

void sched_ports_held(const struct alloc *a, struct sched_portset *used) {
        const struct task_group *tg = a->job && a->task_group ? job_group(a->job, a->task_group) : NULL;
        if (tg)
                sched_group_static_ports(tg, used);
        json_t *shared = json_object_get(a->allocated, "Shared");
        ports_of(json_object_get(shared, "Ports"), used);
        networks_of(json_object_get(shared, "Networks"), used);
        const char *k;
        json_t *t;
        json_object_foreach(json_object_get(a->allocated, "Tasks"), k, t) {
                networks_of(json_object_get(t, "Networks"), used);
        }
}

int sched_ports_free(const struct sched_portset *used) {
        int n = 0;
        for (int p = SCHED_PORT_MIN; p <= SCHED_PORT_MAX; p++)
                n += !has(used, p);
        return n;
}

static uint64_t next_rand(uint64_t *s) {
        uint64_t z = (*s += UINT64_C(0x9e3779b97f4a7c15));
        z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
        z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
        return z ^ (z >> 31);
}

/* A free port of the range, taken; 0 when none. */
static int take(struct sched_portset *used, uint64_t *rng) {
        int start = (int)(next_rand(rng) % RANGE);
        for (int i = 0; i < RANGE; i++) {
                int p = SCHED_PORT_MIN + (start + i) % RANGE;
                if (!has(used, p)) {
                        add(used, p);
                        return p;
                }
        }
        return 0;
}

static json_t *port_json(const struct port *p, int value) {
        return json_pack("{s:s,s:i,s:i,s:s}", "Label", p->label ? p->label : "", "Value", value, "To", p->to,
                         "HostNetwork", p->host_network ? p->host_network : "default");
}

/* One network in Nomad's shape; its ports also appended to `flat` (Shared.Ports) when
 * not NULL. */
static int network_json(const struct network *net, const char *ip, struct sched_portset *used, uint64_t *rng,
                        json_t *flat, json_t **ret) {
        json_t *res = json_array(), *dyn = json_array();
        json_t *o = json_pack("{s:s,s:s,s:i,s:o,s:o}", "Mode", net->mode ? net->mode : "host", "IP", ip, "MBits",
                              net->mbits, "ReservedPorts", res, "DynamicPorts", dyn);
        if (!o)
                return -ENOMEM;
        for (size_t i = 0; i < net->n_reserved; i++) {
                const struct port *p = &net->reserved_ports[i];
                if (json_array_append_new(res, port_json(p, p->value)) < 0 ||
                    (flat &&
                     json_array_append_new(flat, json_pack("{s:s,s:i,s:i,s:s}", "Label", p->label ? p->label : "",
                                                           "Value", p->value, "To", p->to, "HostIP", ip)) < 0))
                        goto oom;
        }
        for (size_t i = 0; i < net->n_dynamic; i++) {
                const struct port *p = &net->dynamic_ports[i];
                int v = take(used, rng);
                if (!v) {
                        json_decref(o);
                        return -ENOSPC;
                }
                if (json_array_append_new(dyn, port_json(p, v)) < 0 ||
                    (flat &&
                     json_array_append_new(flat, json_pack("{s:s,s:i,s:i,s:s}", "Label", p->label ? p->label : "",
                                                           "Value", v, "To", p->to, "HostIP", ip)) < 0))
                        goto oom;
        }
        *ret = o;
        return 0;
oom:
        json_decref(o);
        return -ENOMEM;
}

int sched_ports_assign(const struct task_group *tg, const struct node *n, struct sched_portset *used, uint64_t *rng,
                       json_t **ret) {
        const char *ip = strmap_get(&n->attributes, "unique.network.ip-address");
        if (!ip || !*ip)
                ip = "127.0.0.1";
        json_t *flat = json_array(), *shared_nets = json_array(), *tasks = json_object();
        json_t *out = json_pack("{s:{s:o,s:o},s:o}", "Shared", "Ports", flat, "Networks", shared_nets, "Tasks", tasks);
        if (!out)
                return -ENOMEM;
        int r = 0;
        for (size_t i = 0; i < tg->n_networks && r == 0; i++) {
                json_t *net = NULL;
                if ((r = network_json(&tg->networks[i], ip, used, rng, flat, &net)) == 0 &&
                    json_array_append_new(shared_nets, net) < 0)
                        r = -ENOMEM;
        }
        for (size_t t = 0; t < tg->n_tasks && r == 0; t++) {
                const struct resources *res = &tg->tasks[t].resources;
                if (!res->n_networks)
                        continue;
                json_t *list = json_array();
                if (!list || json_object_set_new(tasks, tg->tasks[t].name, json_pack("{s:o}", "Networks", list)) < 0) {
                        r = -ENOMEM;
                        break;
                }
                for (size_t i = 0; i < res->n_networks && r == 0; i++) {
                        json_t *net = NULL;
                        if ((r = network_json(&res->networks[i], ip, used, rng, NULL, &net)) == 0 &&
                            json_array_append_new(list, net) < 0)
                                r = -ENOMEM;
                }
        }
        if (r < 0) {
                json_decref(out);
                return r;
        }
        *ret = out;
        return 0;
}

/* ---- conflicts among a node's allocs -------------------------------------------------------- */

struct port_vec {
        int *v;
        size_t n, cap;
        int r;
};

static void vec_add(struct port_vec *pv, int p) {
        if (p <= 0 || p >= 65536 || pv->r < 0)
                return;
        if (pv->n == pv->cap) {
                size_t cap = pv->cap ? pv->cap * 2 : 16;
                int *v = realloc(pv->v, cap * sizeof(*v));
                if (!v) {
                        pv->r = -ENOMEM;
                        return;
                }
                pv->v = v;
                pv->cap = cap;
        }
        pv->v[pv->n++] = p;
}

static void vec_nets_static(struct port_vec *pv, const struct network *nets, size_t n) {
        for (size_t i = 0; i < n; i++)
                for (size_t p = 0; p < nets[i].n_reserved; p++)
                        vec_add(pv, nets[i].reserved_ports[p].value);
}

static void vec_list(struct port_vec *pv, const json_t *list) {
        size_t i;
        json_t *p;
        json_array_foreach(list, i, p) {
                json_t *v = json_object_get(p, "Value");
                if (json_is_integer(v))
                        vec_add(pv, (int)json_integer_value(v));
        }
}

static void vec_networks(struct port_vec *pv, const json_t *nets) {
        size_t i;
        json_t *n;
        json_array_foreach(nets, i, n) {
                vec_list(pv, json_object_get(n, "ReservedPorts"));
                vec_list(pv, json_object_get(n, "DynamicPorts"));
        }
}

/* Every port alloc a holds, in pv (with repeats). */
static void alloc_ports(const struct alloc *a, struct port_vec *pv) {
        const struct task_group *tg = a->job && a->task_group ? job_group(a->job, a->task_group) : NULL;
        if (tg) {
                vec_nets_static(pv, tg->networks, tg->n_networks);
                for (size_t t = 0; t < tg->n_tasks; t++)
                        vec_nets_static(pv, tg->tasks[t].resources.networks, tg->tasks[t].resources.n_networks);
        }
        json_t *shared = json_object_get(a->allocated, "Shared");
        vec_list(pv, json_object_get(shared, "Ports"));
        vec_networks(pv, json_object_get(shared, "Networks"));
        const char *k;
        json_t *t;
        json_object_foreach(json_object_get(a->allocated, "Tasks"), k, t) {
                vec_networks(pv, json_object_get(t, "Networks"));
        }
}

int sched_ports_held_in(const struct alloc *a, const struct sched_portset *set) {
        struct port_vec pv = {0};
        alloc_ports(a, &pv);
        int hit = 0;
        for (size_t k = 0; k < pv.n && !hit; k++)
                if (has(set, pv.v[k]))
                        hit = pv.v[k];
        free(pv.v);
        return pv.r < 0 ? pv.r : hit;
}

int sched_ports_conflict(const struct alloc *const *allocs, size_t n, int *ret_port) {
        struct sched_portset *node = NULL;
        struct port_vec pv = {0};
        int r = 0;
        for (size_t i = 0; i < n && r == 0; i++) {
                pv.n = 0;
                alloc_ports(allocs[i], &pv);
                if ((r = pv.r) < 0)
                        break;
                if (!pv.n)
                        continue;
                if (!node && !(node = calloc(1, sizeof(*node)))) {
                        r = -ENOMEM;
                        break;
                }
                /* this alloc's own repeats count once: check all, then add all */
                for (size_t k = 0; k < pv.n && r == 0; k++)
                        if (has(node, pv.v[k])) {
                                *ret_port = pv.v[k];
                                r = 1;
                        }
                for (size_t k = 0; k < pv.n; k++)
                        add(node, pv.v[k]);
        }
        free(pv.v);
        free(node);
        return r;
}
