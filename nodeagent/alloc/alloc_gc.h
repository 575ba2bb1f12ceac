/* alloc_gc.h - garbage collection of terminal allocations' directories.
 *
 * Nomad's client GC: the directories of allocations whose tasks are all dead
 * (and that no runner still needs) are removed, oldest first, when
 *   - there are more than gc_max_allocs allocations on the node (live ones count),
 *   - the data dir's file system is fuller than gc_disk_usage_threshold percent,
 *   - or one has been terminal for longer than gc_max_age (0: never by age).
 * alloc_gc_select() is the pure decision (unit-tested with made-up candidates);
 * alloc_gc_run() scans <data-dir>/alloc, measures, decides and removes;
 * alloc_gc_begin() does the same on a thread of its own, so that the agent's
 * loop (heartbeats, allocation updates, task exits) never waits behind it:
 * removing 1,000 directories took 30 s on a loaded host, and a loop blocked
 * that long had the node marked down.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

struct error;

struct gc_policy {
        int max_allocs;              /* Nomad's gc_max_allocs, default 50 */
        double disk_usage_threshold; /* percent, Nomad's gc_disk_usage_threshold, default 80 */
        int64_t max_age_ns;          /* 0: no age limit */
        /* A directory changed at or after this (CLOCK_REALTIME ns) counts as live
         * whatever in_use says: one created after the caller's in-use list was made
         * (a new allocation starting) is never taken for a terminal one. 0: off. */
        int64_t live_changed_after_ns;
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

/* Whether a collection due now waits: removing thousands of directories while new
 * allocations are being set up makes each of their mkdirs slower (ext4 without a
 * journal skips inodes freed in the last seconds, reading the inode table for each),
 * and competes with the starts for the CPU. It waits while starts are pending, for at
 * most max_wait_ns from the first time it waited (deferred_since_ns, 0: not waiting),
 * so that a steady stream of starts never holds it off for good. */
bool alloc_gc_defer(bool starts_pending, int64_t deferred_since_ns, int64_t now_ns, int64_t max_wait_ns);

/* Is the allocation's directory still needed (a runner with tasks not dead)? */
typedef bool (*gc_in_use_fn)(const char *alloc_id, void *data);

/* Scan <data_dir>/alloc, decide with alloc_gc_select and remove what it chose
 * (without following symlinks). collected(id) is called for each one removed.
 * Returns the number removed, or negative errno. */
int alloc_gc_run(const char *data_dir, const struct gc_policy *p, int64_t now_ns, gc_in_use_fn in_use,
                 void (*collected)(const char *alloc_id, void *data), void *data, struct error *err);

/* ---- off the loop ------------------------------------------------------------------ */

/* One collection at a time, on a thread of its own (not libuv's pool, which the
 * agent's heartbeats use). Created, begun, closed and called back on the loop's
 * thread. */
struct alloc_gc;

struct gc_outcome {
        int removed;     /* directories removed (negative errno when the scan failed) */
        char error[256]; /* the first failure, or "" */
};

typedef void (*gc_done_fn)(const struct gc_outcome *o, void *data);

/* NULL when out of memory. data_dir is copied. */
struct alloc_gc *alloc_gc_create(uv_loop_t *loop, const char *data_dir, gc_done_fn done, void *data);

/* Start a collection: in_use holds the IDs (copied) of allocations whose
 * directories stay, whatever the policy says. done(outcome) comes later on the
 * loop. A terminal directory is measured (walked) at the first collection that sees
 * it; later ones of the same collector reuse that (a terminal allocation's directory
 * no longer changes), so that one that runs a second after each allocation ends does
 * not walk every terminal directory of the node each time. Returns 0, -EBUSY while the last one still runs, or negative errno. */
int alloc_gc_begin(struct alloc_gc *g, const struct gc_policy *p, int64_t now_ns, const char *const *in_use,
                   size_t n_in_use);

bool alloc_gc_busy(const struct alloc_gc *g);

/* Ask a running collection to stop after the directory it is removing, wait for
 * it (done is not called), and close: g is freed once the loop has closed its
 * handle. Accepts NULL. */
void alloc_gc_close(struct alloc_gc *g);
