/* devices.h - device asks (`device "nvidia/gpu" { count = 2 ... }`) against a node's
 * NodeResources.Devices, as Nomad's scheduler/feasible/device.go and devices.go:
 *
 * - a task's ask names a device as "type", "vendor/type" or "vendor/type/model"; a
 *   node's device group {Vendor,Type,Name,Instances,Attributes} matches when those
 *   parts are equal (case-sensitive) and its constraints hold;
 * - constraints and affinities read ${device.vendor}, ${device.type},
 *   ${device.model}, ${device.attr.<name>}; an attribute is {"String"|"Int"|"Float"|
 *   "Bool": v[, "Unit": u]} and the order operators compare numbers with units
 *   ("12 GiB" > "2048 MiB"; B/KB/KiB/.../TiB, Hz/kHz/MHz/GHz, mW/W/kW);
 * - an ask takes `count` (default 1) healthy instances that no live alloc on the node
 *   holds (and no other ask of the same alloc); among the matching groups with room,
 *   the one whose affinities score highest (then the first in the node's order);
 * - the devices score is sum(weights met by the chosen groups) / sum(|weights|) over
 *   the group's asks that have affinities, in [-1, 1].
 * Pure functions of their arguments; cost O(asks x device groups x instances). */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "common/model.h"

struct hashmap;
struct sched_regexps;

/* Does a task of the group ask for devices? */
bool sched_group_has_devices(const struct task_group *tg);
/* Do the group's device asks have affinities (the devices score applies)? */
bool sched_group_device_affinities(const struct task_group *tg);

/* Add to `used` (a set: instance ID -> non-NULL) the device instances alloc a holds
 * (its AllocatedResources.Tasks.*.Devices[].DeviceIDs). -ENOMEM or 0. */
int sched_devices_held(const struct alloc *a, struct hashmap *used);
/* The same with `value` for each instance (a map instance ID -> holder). */
int sched_devices_owned(const struct alloc *a, struct hashmap *map, void *value);

/* Assign the group's device asks on node n, instances in `used` being taken. 0 when
 * every ask is met: *ret_score the devices score, *ret_tasks (when not NULL) a new
 * {task: [{"Vendor","Type","Name","DeviceIDs":[..]}]}; -ENOSPC when an ask cannot be
 * met (*ret_why says which: static text or buf); -ENOMEM. */
int sched_devices_assign(const struct task_group *tg, const struct node *n, const struct hashmap *used,
                         struct sched_regexps *re, double *ret_score, json_t **ret_tasks, char *buf, size_t size,
                         const char **ret_why);

/* Preemption (as Nomad's PreemptForDevice): which victims to evict so that the
 * group's device asks are met on node n. `fixed` (NULL: none) holds the instances of
 * the allocs that stay; `owner` (NULL: none) maps each instance a candidate victim
 * holds to the victim's index + 1 in prio[0..nv) and chosen[0..nv), the victims
 * ordered as they are to be evicted (lowest priority first). Victims already chosen
 * count as gone. Per ask, of the matching device groups (name and constraints), one
 * needing no eviction, else the one whose victims have the lowest highest priority,
 * then are the fewest (lowest priorities first, then any not needed after all given
 * back); chosen[] is set for them. 0 when every ask can then be met (checked with
 * sched_devices_assign), -ENOSPC when not (chosen[] may have changed), -ENOMEM.
 * O(asks x groups x (instances + victims)). */
int sched_devices_preempt(const struct task_group *tg, const struct node *n, const struct hashmap *fixed,
                          const struct hashmap *owner, const int *prio, bool *chosen, size_t nv,
                          struct sched_regexps *re);

/* A device attribute value as text ("12 GiB", "true"); NULL when not one. buf holds it. */
const char *sched_device_attr_string(const json_t *attr, char *buf, size_t size);
/* Compare two values that are numbers with optional units; false when either is not
 * one or their units are of different kinds. *ret_cmp: -1, 0, 1. */
bool sched_device_units_cmp(const char *a, const char *b, int *ret_cmp);

/* For the plan applier: is a device instance held by two of allocs[0..n) (the live
 * allocs proposed on one node, new ones included)? 1 (*ret_id the instance, borrowed
 * from the allocs), 0, or -ENOMEM. */
int sched_devices_conflict(const struct alloc *const *allocs, size_t n, const char **ret_id);
