/* ports.h - dynamic ports (`port "http" {}`): each gets a free port of the node's dynamic
 * range (Nomad's default 20000-32000, inclusive) that no live alloc on the node holds,
 * statically or dynamically, and that no other port of the same alloc took. Static
 * ports (`port "x" { static = 80 }`) are recorded as given (their collisions are
 * sched_ports_collide's). The result is Nomad's AllocatedResources shape:
 *   Shared.Ports    [{"Label","Value","To","HostIP"}]      group networks' ports
 *   Shared.Networks [{"Mode","IP","ReservedPorts":[..],"DynamicPorts":[..]}]
 *   Tasks.<task>.Networks                                   task networks, same shape
 * with HostIP the node's unique.network.ip-address attribute (else 127.0.0.1). */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/model.h"

#define SCHED_PORT_MIN 20000
#define SCHED_PORT_MAX 32000

/* A set of ports 0..65535. */
struct sched_portset {
        uint64_t bits[65536 / 64];
};

/* The sum of per(net) over the group's networks and its tasks'. */
int64_t sched_group_networks_sum(const struct task_group *tg, int64_t (*per)(const struct network *net));
/* Dynamic ports the group asks for (its networks' and its tasks'). */
int sched_group_dynamic_ports(const struct task_group *tg);
/* Does the group have any network (ports to record)? */
bool sched_group_has_networks(const struct task_group *tg);

/* Add the ports alloc a holds: the static ports of its job's group and what its
 * AllocatedResources record. */
void sched_ports_held(const struct alloc *a, struct sched_portset *used);
/* Free ports of the dynamic range in `used`. */
int sched_ports_free(const struct sched_portset *used);

/* Give the group's ports on node n: dynamic ones from the range, not in `used`
 * (taken ones are added), starting at a point drawn from *rng. 0 and *ret (a new
 * {"Shared":{..},"Tasks":{..}} fragment), -ENOSPC when the range has too few free
 * ports, or -ENOMEM. */
int sched_ports_assign(const struct task_group *tg, const struct node *n, struct sched_portset *used, uint64_t *rng,
                       json_t **ret);

/* Add the static ports the group reserves (its networks' and its tasks'). */
void sched_group_static_ports(const struct task_group *tg, struct sched_portset *set);
/* The first port alloc a holds (as sched_ports_held counts them) that is in `set`:
 * 0 when none, -ENOMEM. */
int sched_ports_held_in(const struct alloc *a, const struct sched_portset *set);

/* For the plan applier: is a port held twice among allocs[0..n) (the live allocs
 * proposed on one node, new ones included)? 1 (*ret_port the first such port), 0, or
 * -ENOMEM. A port an alloc lists twice (a static port is both in its job and in its
 * AllocatedResources) counts once for it. O(ports of the allocs). */
int sched_ports_conflict(const struct alloc *const *allocs, size_t n, int *ret_port);
