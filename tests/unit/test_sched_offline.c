/* test_sched_offline.c - the benchmark's offline packing reference and its lower bound
 * (bench/sched_offline.c): real packings, checked node by node, against known optima. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>

#include "bench/sched_offline.h"

static const struct offline_class two[2] = {{8000, 8192, 50}, {4000, 32768, 50}};

static size_t checked(const struct offline_item *it, size_t n, const struct offline_class *cls, size_t n_cls,
                      const int *node, const struct offline_result *r) {
        size_t used = 0;
        cr_assert_eq(offline_check(it, n, cls, n_cls, node, &used), 0, "a node overfilled or a class not admitted");
        cr_assert_eq(used, r->total, "the nodes said used hold the items");
        return used;
}

Test(sched_offline, exact_tiling_on_one_class) {
        static const struct offline_class one = {4000, 8192, 12};
        struct offline_item it[20];
        int node[20];
        for (int i = 0; i < 20; i++)
                it[i] = (struct offline_item){2000, 4096, 1};
        struct offline_result r;
        cr_assert_eq(offline_pack(it, 20, &one, 1, node, &r), 0);
        cr_assert_eq(checked(it, 20, &one, 1, node, &r), 10);
        cr_assert_eq(r.placed, 20);
}

/* cpu-heavy pairs fill a compute node, four memory-heavy asks a memory node: the split
 * between the classes must send each kind to its class to reach the optimum, 20 (a
 * compute node holds two cpu-heavy asks or one memory-heavy one). */
Test(sched_offline, the_class_split_finds_the_optimum) {
        struct offline_item it[60];
        int node[60];
        for (int i = 0; i < 60; i++) /* interleaved, as jobs arrive */
                it[i] = i % 3 == 0 ? (struct offline_item){4000, 1024, 3} : (struct offline_item){1000, 8192, 3};
        struct offline_result r;
        cr_assert_eq(offline_pack(it, 60, two, 2, node, &r), 0);
        cr_assert_eq(checked(it, 60, two, 2, node, &r), 20);
        cr_assert_eq(r.used[0], 10);
        cr_assert_eq(r.used[1], 10);
}

/* Items that fill one dimension of either class alone: one per node, whatever the mix
 * (the per-dimension bound, which lets an item's cpu and memory lie on two nodes, says 7). */
Test(sched_offline, whole_items_fill_one_node_each) {
        struct offline_item it[10];
        int node[10];
        for (int i = 0; i < 10; i++)
                it[i] = (struct offline_item){4000, 8192, 3};
        struct offline_result r;
        cr_assert_eq(offline_pack(it, 10, two, 2, node, &r), 0);
        cr_assert_eq(checked(it, 10, two, 2, node, &r), 10);
}

Test(sched_offline, pinned_unplaceable_and_too_many) {
        struct offline_item it[6] = {
            {100, 100, 2},   /* only the memory class, though it fits a compute node */
            {100, 100, 1},   /* only compute */
            {100, 40000, 3}, /* fits no node */
            {100, 100, 0},   /* admitted nowhere */
            {5000, 1000, 2}, /* more cpu than a memory node: nowhere it is admitted */
            {5000, 1000, 3}, /* on compute only */
        };
        int node[6];
        struct offline_result r;
        cr_assert_eq(offline_pack(it, 6, two, 2, node, &r), 0);
        checked(it, 6, two, 2, node, &r);
        cr_assert_eq(r.placed, 3);
        cr_assert(node[0] >= 50 && node[0] < 100, "class 1's nodes come after class 0's: %d", node[0]);
        cr_assert(node[1] >= 0 && node[1] < 50);
        cr_assert_eq(node[2], -1);
        cr_assert_eq(node[3], -1);
        cr_assert_eq(node[4], -1);
        cr_assert(node[5] >= 0 && node[5] < 50);
        cr_assert_eq(r.total, 2, "the two compute items share a node");

        static const struct offline_class small = {4000, 8192, 2};
        struct offline_item big[5];
        int bn[5];
        for (int i = 0; i < 5; i++)
                big[i] = (struct offline_item){3000, 100, 1};
        cr_assert_eq(offline_pack(big, 5, &small, 1, bn, &r), -ENOSPC, "5 nodes' worth on 2 nodes");
        cr_assert_eq(offline_pack(big, 5, &small, 0, bn, &r), -EINVAL);
        big[0].cpu = -1;
        cr_assert_eq(offline_pack(big, 5, &small, 1, bn, &r), -EINVAL);
}

Test(sched_offline, check_finds_overfilled_nodes_and_wrong_classes) {
        struct offline_item it[3] = {{5000, 100, 3}, {5000, 100, 3}, {100, 100, 1}};
        int node[3] = {0, 0, 60}; /* two on node 0: 10000 MHz of 8000; the third on a memory node */
        size_t used = 0;
        cr_assert_eq(offline_check(it, 3, two, 2, node, &used), 2);
        int ok[3] = {0, 1, 2};
        cr_assert_eq(offline_check(it, 3, two, 2, ok, &used), 0);
        cr_assert_eq(used, 3);
}

/* First fit in arrival order over the nodes an item admits (class 0's first): the
 * naive packer the reference must not lose to. */
static size_t first_fit(const struct offline_item *it, size_t n) {
        int64_t fc[100], fm[100];
        bool open[100] = {false};
        size_t used = 0;
        for (size_t i = 0; i < n; i++)
                for (size_t b = 0; b < 100; b++) {
                        const struct offline_class *c = &two[b / 50];
                        if (!(it[i].classes >> (b / 50) & 1))
                                continue;
                        if (!open[b]) {
                                fc[b] = c->cpu;
                                fm[b] = c->mem;
                        }
                        if (it[i].cpu > fc[b] || it[i].mem > fm[b])
                                continue;
                        used += !open[b];
                        open[b] = true;
                        fc[b] -= it[i].cpu;
                        fm[b] -= it[i].mem;
                        break;
                }
        return used;
}

/* Random workloads of the mixed scenario's shapes: every packing valid, at least the
 * per-dimension bound, and no worse than first fit in arrival order. */
Test(sched_offline, random_workloads_are_packed_between_the_bound_and_first_fit) {
        uint64_t x = 88172645463325252ull;
        for (int round = 0; round < 20; round++) {
                size_t n = 200 + (size_t)round * 10;
                struct offline_item *it = calloc(n, sizeof(*it));
                int *node = calloc(n, sizeof(*node));
                int64_t cpu = 0, mem = 0;
                for (size_t i = 0; i < n; i++) {
                        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
                        bool heavy = x & 1;
                        it[i] = heavy ? (struct offline_item){100 * (int64_t)(5 + x % 26),
                                                              128 * (int64_t)(1 + (x >> 8) % 8), 3}
                                      : (struct offline_item){100 * (int64_t)(1 + x % 8),
                                                              1024 * (int64_t)(1 + (x >> 8) % 8), 3};
                        if ((x >> 20) % 3 == 0)
                                it[i].classes = it[i].mem > 2048 ? 2 : 1;
                        cpu += it[i].cpu;
                        mem += it[i].mem;
                }
                struct offline_result r;
                cr_assert_eq(offline_pack(it, n, two, 2, node, &r), 0);
                checked(it, n, two, 2, node, &r);
                cr_assert_eq(r.placed, n);
                /* per dimension, on the larger class's capacity */
                size_t dc = (size_t)((cpu + 7999) / 8000), dm = (size_t)((mem + 32767) / 32768);
                cr_assert_geq(r.total, dc > dm ? dc : dm, "round %d", round);
                size_t ff = first_fit(it, n);
                cr_assert_leq(r.total, ff, "round %d: first fit %zu, the reference %zu", round, ff, r.total);
                free(it);
                free(node);
        }
}
