/* alloc_gc.h - garbage collection of terminal allocations' directories.
 *
 * Nomad's client GC: the directories of allocations whose tasks are all dead
 * (and that no runner still needs) are removed, oldest first, when
 *   - there are more than gc_max_allocs allocations on the node (live ones count),
 *   - the data dir's file system is fuller than gc_disk_usage_threshold percent,
 *   - or one has been terminal for longer than gc_max_age (0: never by age).
 * alloc_gc_select() is the pure decision (unit-tested with made-up candidates);
 * alloc_gc_run() scans <data-dir>/alloc, measures, decides and removes.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct error;

struct gc_policy {
        int max_allocs;              /* Nomad's gc_max_allocs, default 50 */
        double disk_usage_threshold; /* percent, Nomad's gc_disk_usage_threshold, default 80 */
        int64_t max_age_ns;          /* 0: no age limit */
};

struct gc_candidate {
        char id[64];
        int64_t finished_ns; /* when it became terminal (the newest change in its directory) */
        uint64_t bytes;      /* disk space its directory holds */
        bool collect;        /* out: remove it */
};

struct gc_disk {
        uint64_t total, used; /* bytes of the data dir's file system */
};

/* Decide which candidates to remove: sorts c by finished_ns (oldest first) and
 * sets collect. live: allocations that stay (running, or still needed). Returns
 * how many are to be collected. */
size_t alloc_gc_select(struct gc_candidate *c, size_t n, size_t live, const struct gc_policy *p, int64_t now_ns,
                       struct gc_disk disk);

/* Is the allocation's directory still needed (a runner with tasks not dead)? */
typedef bool (*gc_in_use_fn)(const char *alloc_id, void *data);

/* Scan <data_dir>/alloc, decide with alloc_gc_select and remove what it chose
 * (without following symlinks). collected(id) is called for each one removed.
 * Returns the number removed, or negative errno. */
int alloc_gc_run(const char *data_dir, const struct gc_policy *p, int64_t now_ns, gc_in_use_fn in_use,
                 void (*collected)(const char *alloc_id, void *data), void *data, struct error *err);
