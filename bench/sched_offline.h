/* sched_offline.h - an offline packing reference for the scheduler benchmark: every
 * allocation known in advance, packed onto one or two classes of identical nodes by a
 * vector best-fit-decreasing, with the split of class-free allocations between the
 * classes searched. What it uses is an upper bound on the optimum (a real packing,
 * returned per allocation), to set beside the lower bounds of sched_scenarios.c: an
 * online scheduler that sees jobs one at a time can hope for no better than the optimum,
 * which lies between the two. After the packing, the least filled nodes are emptied
 * into the others' room where every item of one finds a place. Pure: no scheduler, no
 * store; linked by the unit tests. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#define OFFLINE_MAX_CLASSES 2

struct offline_item {
        int64_t cpu, mem;
        unsigned classes; /* bit k: may go on class k (its constraint admits it); 0: placed nowhere */
};

struct offline_class {
        int64_t cpu, mem; /* one node's capacity */
        size_t count;     /* nodes of the class */
};

struct offline_result {
        size_t used[OFFLINE_MAX_CLASSES]; /* nodes used per class */
        size_t total;                     /* their sum */
        size_t placed;                    /* items placed (those with classes != 0) */
        size_t packings;                  /* best-fit passes run (the cost) */
        size_t emptied;                   /* nodes the final clean-up emptied */
};

/* Pack items[0..n) onto the classes cls[0..n_cls), n_cls 1 or 2. An item that fits on
 * no node of a class it admits (or admits none) is left out (ret_node -1); every other
 * is placed. ret_node[i]: the node of item i, numbered class by class (class 0's nodes
 * first), or -1. Cost: O(S x n x nodes used) for S <= 64 splits tried. 0, -EINVAL
 * (bad arguments), -ENOSPC (the nodes cannot hold the items in any split tried) or
 * -ENOMEM; ret_node and ret written only on success. */
int offline_pack(const struct offline_item *items, size_t n, const struct offline_class *cls, size_t n_cls,
                 int *ret_node, struct offline_result *ret);

/* Check a placement node[0..n) of items on the classes (numbered as offline_pack's): the
 * number of faults (an item on a node out of range or of a class it does not admit, a
 * node over its capacity in a dimension); the nodes holding an item in *ret_used. 0
 * faults or -ENOMEM. */
int offline_check(const struct offline_item *items, size_t n, const struct offline_class *cls, size_t n_cls,
                  const int *node, size_t *ret_used);
