/* candidates.c - candidate nodes and feasibility. See candidates.h. Follows Nomad's
 * scheduler/feasible/stack.go and feasible.go. */
#include "controlplane/scheduler/candidates.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "common/hashmap.h"
#include "common/jobcheck.h"
#include "controlplane/scheduler/devices.h"
#include "controlplane/scheduler/feasible.h"
#include "controlplane/scheduler/bandwidth.h"
#include "controlplane/scheduler/ports.h"
#include "controlplane/scheduler/sched_internal.h"
#include "controlplane/state/state.h"

#define AFFINITY_LIMIT 100 /* NodeLimitForFeasibilityChecks */
/* drover's own: a group of at most 1/SMALL_GROUP_RATIO of the candidates scores at least
 * SMALL_GROUP_LIMIT of them per placement (bench/sched mixed: packing 1.242 -> 1.229 under
 * binpack, 1.147 -> 1.131 under dotproduct, seeds 2 and 3 alike), at most
 * count x SMALL_GROUP_LIMIT <= 2 x the candidates per group, so never quadratic. */
#define SMALL_GROUP_LIMIT 32
#define SMALL_GROUP_RATIO 16

struct memo {
        int state; /* 1 feasible, -1 filtered */
        char reason[160];
};

/* ---- deterministic shuffle (Nomad: seed = last 8 bytes of the eval ID ^ index) ------- */

static uint64_t splitmix(uint64_t *s) {
        uint64_t z = (*s += UINT64_C(0x9e3779b97f4a7c15));
        z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
        z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
        return z ^ (z >> 31);
}

static uint64_t shuffle_seed(const char *eval_id, uint64_t index) {
        uint64_t seed = 0;
        size_t len = eval_id ? strlen(eval_id) : 0;
        const char *p = len >= 8 ? eval_id + len - 8 : eval_id;
        for (size_t i = 0; p && i < 8 && p[i]; i++)
                seed = (seed << 8) | (unsigned char)p[i];
        return (seed ^ index) >> 2;
}

static void shuffle(struct sched_attempt *at) {
        for (size_t i = at->n_cands; i > 1; i--) {
                size_t j = (size_t)(splitmix(&at->rng) % i);
                struct sched_cand t = at->cands[i - 1];
                at->cands[i - 1] = at->cands[j];
                at->cands[j] = t;
        }
}

/* ---- candidate nodes --------------------------------------------------------------- */

static bool pool_match(const struct job *j, const struct node *n) {
        const char *want = j->node_pool ? j->node_pool : "default";
        const char *have = n->node_pool ? n->node_pool : "default";
        return strcmp(want, "all") == 0 || strcmp(want, have) == 0;
}

static bool dc_match(const struct job *j, const struct node *n) {
        if (j->n_datacenters == 0)
                return true;
        for (size_t i = 0; i < j->n_datacenters; i++)
                if (sched_dc_match(j->datacenters[i], n->datacenter))
                        return true;
        return false;
}

static bool add_cand(void *arg, const struct node *n) {
        struct sched_attempt *at = arg;
        if (!pool_match(at->job, n))
                return true;
        at->pool.nodes_in_pool++;
        const char *dc = n->datacenter ? n->datacenter : "";
        size_t k = 0;
        while (k < at->n_dcs && at->dcs[k].dc != dc && strcmp(at->dcs[k].dc, dc) != 0)
                k++;
        if (k == at->n_dcs) /* room for one per node was reserved */
                at->dcs[at->n_dcs++] = (struct dc_count){.dc = dc, .match = dc_match(at->job, n)};
        if (!at->dcs[k].match || n->status != NODE_READY || !n->eligible || n->drain)
                return true;
        at->dcs[k].n++;
        at->cands[at->n_cands++] =
            (struct sched_cand){.n = n, .node_class = n->node_class, .avail = sched_node_avail(n)};
        return true;
}

/* ---- candidate lists kept across evaluations (struct sched_cand_cache) -------------- */

#define CC_DRIVERS 64 /* bits of sched_cand.drv */
#define CC_SAMPLES 3  /* node objects compared with the snapshot's on each lookup */

/* What the cache keeps of one candidate: the fields of struct sched_cand it fills, in
 * one 64-byte line (sched_cands_fill reads them at a shuffled index: one miss, not one
 * per field). */
struct cc_cand {
        const struct node *n;   /* a reference held by the cache (cc->held) */
        uint64_t drv;           /* the driver bits */
        uint64_t hash;          /* hashmap_hash of the node's ID */
        const char *node_class; /* borrowed from the held node */
        uint32_t cls;           /* interned computed class (0: none) */
        uint32_t slot;          /* its record in cc->free, index + 1 (0: none) */
        struct sched_usage avail;
};
_Static_assert(sizeof(struct cc_cand) == 64, "one cache line per candidate");

/* One (pool, datacenters) key's walk of the nodes table: what add_cand produced. */
struct cc_entry {
        char *key;
        struct cc_cand *c; /* the candidates in ID order, 64-byte aligned */
        size_t n;
        struct dc_count *dcs; /* dc borrowed from the held nodes */
        size_t n_dcs;
        json_int_t nodes_in_pool;
        size_t bytes;
        uint64_t used; /* tick of the last hit (LRU) */
};

struct sched_cand_cache {
        size_t max_entries, max_bytes, bytes;
        /* the nodes table the entries were built from */
        bool valid;
        uint64_t nodes_index;
        size_t n_nodes;
        const struct node *sample[CC_SAMPLES];
        struct node **held; /* a reference on every node of that table */
        size_t n_held;
        char *drivers[CC_DRIVERS]; /* every driver name a node lists or has a driver.<name> attribute for */
        size_t n_drivers;
        bool drivers_overflow; /* more names than bits: names not in the table are checked per node */
        /* per held node: the free capacity its last usage look-up saw (sched_cand_known_full) */
        struct cc_free {
                int64_t cpu, mem, disk;
                uint64_t index; /* of that look-up's snapshot (0: none yet) */
        } * free;
        uint64_t binds;          /* cc_bind's count: the binding an attempt's slots refer to */
        struct hashmap *classes; /* computed class -> index + 1 (uintptr_t), of the held nodes */
        size_t n_classes;        /* indexes 1..n_classes - 1 in use */
        struct cc_entry *entries;
        size_t n_entries;
        uint64_t tick;
        uint32_t *perm; /* cc_fill's shuffle */
        size_t perm_cap;
        struct sched_attempt *filling; /* the attempt that fills its candidates from perm and an entry */
        struct sched_cand_cache_stats st;
};

struct sched_cand_cache *sched_cand_cache_create(size_t max_entries, size_t max_bytes) {
        struct sched_cand_cache *cc = calloc(1, sizeof(*cc));
        if (!cc)
                return NULL;
        cc->max_entries = max_entries ? max_entries : 1;
        cc->max_bytes = max_bytes;
        cc->entries = calloc(cc->max_entries, sizeof(*cc->entries));
        if (!cc->entries) {
                free(cc);
                return NULL;
        }
        return cc;
}

static void cc_entry_free(struct cc_entry *e) {
        free(e->key);
        free(e->c);
        free(e->dcs);
        *e = (struct cc_entry){0};
}

static void cc_drop(struct sched_cand_cache *cc, size_t i) {
        cc->bytes -= cc->entries[i].bytes;
        cc_entry_free(&cc->entries[i]);
        cc->entries[i] = cc->entries[--cc->n_entries];
        cc->entries[cc->n_entries] = (struct cc_entry){0};
}

/* Forget the table: every entry, the node references, the driver names. */
static void cc_reset(struct sched_cand_cache *cc) {
        while (cc->n_entries)
                cc_drop(cc, cc->n_entries - 1);
        for (size_t i = 0; i < cc->n_held; i++)
                node_unref(cc->held[i]);
        free(cc->held);
        cc->held = NULL;
        free(cc->free);
        cc->free = NULL;
        cc->n_held = 0;
        for (size_t i = 0; i < cc->n_drivers; i++)
                free(cc->drivers[i]);
        cc->n_drivers = 0;
        cc->drivers_overflow = false;
        cc->classes = hashmap_destroy(cc->classes);
        cc->n_classes = 0;
        cc->valid = false;
}

/* The attempt filling its candidates from the cache gets all of them now: perm and the
 * entries are about to change. */
static void cc_settle(struct sched_cand_cache *cc) {
        if (cc->filling)
                sched_cands_fill(cc->filling, cc->filling->n_cands); /* clears filling */
}

struct sched_cand_cache *sched_cand_cache_destroy(struct sched_cand_cache *cc) {
        if (!cc)
                return NULL;
        int saved = errno;
        cc_settle(cc);
        cc_reset(cc);
        free(cc->entries);
        free(cc->perm);
        free(cc);
        errno = saved;
        return NULL;
}

void sched_cand_cache_stats(const struct sched_cand_cache *cc, struct sched_cand_cache_stats *ret) {
        *ret = cc->st;
        ret->entries = cc->n_entries;
        ret->bytes = cc->bytes;
}

static int cc_driver_index(const struct sched_cand_cache *cc, const char *name) {
        for (size_t i = 0; i < cc->n_drivers; i++)
                if (strcmp(cc->drivers[i], name) == 0)
                        return (int)i;
        return -1;
}

static int cc_add_driver(struct sched_cand_cache *cc, const char *name) {
        if (cc_driver_index(cc, name) >= 0)
                return 0;
        if (cc->n_drivers == CC_DRIVERS) {
                cc->drivers_overflow = true;
                return 0;
        }
        if (!(cc->drivers[cc->n_drivers] = strdup(name)))
                return -ENOMEM;
        cc->n_drivers++;
        return 0;
}

static bool cc_hold(void *arg, const struct node *n) {
        struct sched_cand_cache *cc = arg;
        if (cc->n_held < cc->n_nodes)
                cc->held[cc->n_held++] = node_ref((struct node *)n);
        return true;
}

/* Is the snapshot's nodes table the one the cache holds? O(1) lookups of CC_SAMPLES. */
static bool cc_matches(const struct sched_cand_cache *cc, const struct state_store *snap) {
        if (!cc->valid || state_table_index(snap, STATE_TABLE_NODES) != cc->nodes_index ||
            state_count(snap, STATE_TABLE_NODES) != cc->n_nodes)
                return false;
        for (size_t i = 0; i < CC_SAMPLES && cc->sample[i]; i++)
                if (state_node_get(snap, cc->sample[i]->id) != cc->sample[i])
                        return false;
        return true;
}

/* Bind the cache to the snapshot's nodes table: references on its nodes, driver names. */
static int cc_bind(struct sched_cand_cache *cc, const struct state_store *snap) {
        cc_reset(cc);
        cc->st.invalidations++;
        cc->binds++;
        cc->nodes_index = state_table_index(snap, STATE_TABLE_NODES);
        cc->n_nodes = state_count(snap, STATE_TABLE_NODES);
        if (!(cc->held = calloc(cc->n_nodes ? cc->n_nodes : 1, sizeof(*cc->held))))
                return -ENOMEM;
        state_nodes_foreach(snap, cc_hold, cc);
        cc->n_nodes = cc->n_held;
        if (!(cc->free = calloc(cc->n_held ? cc->n_held : 1, sizeof(*cc->free))))
                return -ENOMEM;
        if (!(cc->classes = hashmap_create(0))) /* keys borrowed from the held nodes */
                return -ENOMEM;
        cc->n_classes = 1; /* 0: no class */
        for (size_t i = 0; i < cc->n_held; i++) {
                const char *k = cc->held[i]->computed_class;
                if (!k || !*k || hashmap_get(cc->classes, k))
                        continue;
                if (hashmap_put(cc->classes, k, (void *)(uintptr_t)cc->n_classes, NULL) < 0)
                        return -ENOMEM;
                cc->n_classes++;
        }
        for (size_t i = 0; i < CC_SAMPLES; i++)
                cc->sample[i] = cc->n_held ? cc->held[(cc->n_held - 1) * i / (CC_SAMPLES - 1)] : NULL;
        for (size_t i = 0; i < cc->n_held; i++) {
                const struct node *n = cc->held[i];
                for (size_t d = 0; d < n->n_drivers; d++)
                        if (n->drivers[d].name && cc_add_driver(cc, n->drivers[d].name) < 0)
                                return -ENOMEM;
                for (size_t a = 0; a < n->attributes.n; a++) {
                        const char *k = n->attributes.items[a].key;
                        /* only names node_has_driver could accept on this node */
                        if (k && strncmp(k, "driver.", 7) == 0 && k[7] && node_has_driver(n, k + 7) &&
                            cc_add_driver(cc, k + 7) < 0)
                                return -ENOMEM;
                }
        }
        cc->valid = true;
        return 0;
}

/* "pool\x1fdc1\x1fdc2": what add_cand's filter depends on besides the nodes. */
static char *cc_key(const struct job *j) {
        size_t len = strlen(j->node_pool ? j->node_pool : "default") + 1;
        for (size_t i = 0; i < j->n_datacenters; i++)
                len += strlen(j->datacenters[i] ? j->datacenters[i] : "") + 1;
        char *k = malloc(len + 1);
        if (!k)
                return NULL;
        char *p = k + sprintf(k, "%s", j->node_pool ? j->node_pool : "default");
        for (size_t i = 0; i < j->n_datacenters; i++)
                p += sprintf(p, "\x1f%s", j->datacenters[i] ? j->datacenters[i] : "");
        return k;
}

static uint64_t cc_node_drivers(const struct sched_cand_cache *cc, const struct node *n) {
        uint64_t m = 0;
        for (size_t i = 0; i < cc->n_drivers; i++)
                if (node_has_driver(n, cc->drivers[i]))
                        m |= UINT64_C(1) << i;
        return m;
}

/* Each candidate's record in cc->free: the walk's list and the held nodes are both in
 * the nodes table's order, the list a subsequence (a node not found gets none). */
static void cc_slots(const struct sched_cand_cache *cc, struct sched_attempt *at, struct cc_entry *e) {
        size_t h = 0;
        for (size_t i = 0; i < e->n; i++) {
                while (h < cc->n_held && cc->held[h] != e->c[i].n)
                        h++;
                e->c[i].slot = at->cands[i].slot = h < cc->n_held ? (uint32_t)(h + 1) : 0;
        }
}

/* A new entry from the attempt's fresh walk (at->cands in ID order, at->dcs). */
static void cc_store(struct sched_cand_cache *cc, struct sched_attempt *at, char *key) {
        struct cc_entry e = {.key = key, .n = at->n_cands, .n_dcs = at->n_dcs,
                             .nodes_in_pool = at->pool.nodes_in_pool};
        e.bytes = strlen(key) + sizeof(e) + e.n * sizeof(*e.c) + e.n_dcs * sizeof(*e.dcs);
        if (cc->max_bytes && e.bytes > cc->max_bytes) {
                free(key);
                return;
        }
        e.c = aligned_alloc(sizeof(*e.c), (e.n ? e.n : 1) * sizeof(*e.c));
        e.dcs = malloc((e.n_dcs ? e.n_dcs : 1) * sizeof(*e.dcs));
        if (!e.c || !e.dcs) {
                cc_entry_free(&e);
                return; /* not cached: the attempt goes on with its own walk */
        }
        for (size_t i = 0; i < e.n; i++) {
                struct sched_cand *cd = &at->cands[i];
                cd->drv = cc_node_drivers(cc, cd->n);
                const char *k = cd->n->computed_class;
                cd->cls = k && *k ? (uint32_t)(uintptr_t)hashmap_get(cc->classes, k) : 0;
                e.c[i] = (struct cc_cand){.n = cd->n,
                                          .drv = cd->drv,
                                          .hash = sched_cand_hash(cd),
                                          .node_class = cd->node_class,
                                          .cls = cd->cls,
                                          .avail = cd->avail};
        }
        cc_slots(cc, at, &e);
        memcpy(e.dcs, at->dcs, e.n_dcs * sizeof(*e.dcs));
        while (cc->n_entries && (cc->n_entries == cc->max_entries || (cc->max_bytes && cc->bytes + e.bytes > cc->max_bytes))) {
                size_t lru = 0;
                for (size_t i = 1; i < cc->n_entries; i++)
                        if (cc->entries[i].used < cc->entries[lru].used)
                                lru = i;
                cc_drop(cc, lru);
        }
        e.used = ++cc->tick;
        cc->bytes += e.bytes;
        cc->entries[cc->n_entries++] = e;
        at->drv_known = true;
        at->n_classes = cc->n_classes;
        at->cc_bind = cc->binds;
}

/* The entry for the attempt's job (NULL: a miss; *ret_key then is the key to store, NULL
 * when it should not be). */
static const struct cc_entry *cc_lookup(struct sched_cand_cache *cc, struct sched_attempt *at, char **ret_key) {
        *ret_key = NULL;
        cc_settle(cc);
        if (!cc_matches(cc, at->c->snap) && cc_bind(cc, at->c->snap) < 0) {
                cc_reset(cc);
                return NULL; /* uncached this time */
        }
        char *key = cc_key(at->job);
        if (!key)
                return NULL;
        for (size_t i = 0; i < cc->n_entries; i++) {
                struct cc_entry *e = &cc->entries[i];
                if (strcmp(e->key, key) != 0)
                        continue;
                free(key);
                e->used = ++cc->tick;
                cc->st.hits++;
                return e;
        }
        cc->st.misses++;
        *ret_key = key;
        return NULL;
}

/* at->cands from a cached entry, in the order shuffle() would leave the walk's list:
 * the same Fisher-Yates steps on an index array (4-byte swaps); the candidates are
 * written from it as they are first read (sched_cands_fill). */
static int cc_fill(struct sched_cand_cache *cc, struct sched_attempt *at, const struct cc_entry *e) {
        if (e->n > cc->perm_cap) {
                uint32_t *p = realloc(cc->perm, e->n * sizeof(*p));
                if (!p)
                        return -ENOMEM;
                cc->perm = p;
                cc->perm_cap = e->n;
        }
        uint32_t *perm = cc->perm;
        for (size_t i = 0; i < e->n; i++)
                perm[i] = (uint32_t)i;
        for (size_t i = e->n; i > 1; i--) {
                size_t j = (size_t)(splitmix(&at->rng) % i);
                uint32_t t = perm[i - 1];
                perm[i - 1] = perm[j];
                perm[j] = t;
        }
        at->n_cands = e->n;
        at->n_ready = 0;
        at->fill = e;
        cc->filling = at;
        memcpy(at->dcs, e->dcs, e->n_dcs * sizeof(*e->dcs));
        at->n_dcs = e->n_dcs;
        at->pool.nodes_in_pool = e->nodes_in_pool;
        at->drv_known = true;
        at->n_classes = cc->n_classes;
        at->cc_bind = cc->binds;
        return 0;
}

#define FILL_CHUNK 64 /* candidates written at a time */
#define FILL_AHEAD 8  /* records asked for ahead of their copy */

void sched_cands_fill(struct sched_attempt *at, size_t upto) {
        const struct cc_entry *e = at->fill;
        if (!e) /* a walk's list: all written */
                return;
        struct sched_cand_cache *cc = at->c->cands;
        if (upto < at->n_ready + FILL_CHUNK)
                upto = at->n_ready + FILL_CHUNK;
        if (upto > at->n_cands)
                upto = at->n_cands;
        for (size_t k = at->n_ready; k < upto; k++) {
                /* the records are read at shuffled indexes: ask for a later one's line now, and
                 * for this one's free record, which Select reads first (sched_cand_known_full) */
                if (k + FILL_AHEAD < at->n_cands)
                        __builtin_prefetch(&e->c[cc->perm[k + FILL_AHEAD]]);
                const struct cc_cand *c = &e->c[cc->perm[k]];
                if (c->slot && at->cc_bind == cc->binds)
                        __builtin_prefetch(&cc->free[c->slot - 1]);
                __builtin_prefetch(c->n); /* its ID, for the usage look-up of a node ranked */
                at->cands[k] = (struct sched_cand){.n = c->n,
                                                   .drv = c->drv,
                                                   .h = c->hash,
                                                   .cls = c->cls,
                                                   .slot = c->slot,
                                                   .node_class = c->node_class,
                                                   .avail = c->avail};
        }
        at->n_ready = upto;
        if (upto == at->n_cands) {
                at->fill = NULL;
                cc->filling = NULL;
        }
}

int sched_build_cands(struct sched_attempt *at) {
        struct sched_cand_cache *cc = at->c->cands;
        char *key = NULL;
        const struct cc_entry *e = cc ? cc_lookup(cc, at, &key) : NULL;
        /* every entry used is written whole (add_cand, cc_fill): no zeroing */
        size_t n = e ? e->n : state_count(at->c->snap, STATE_TABLE_NODES);
        size_t n_dcs = e ? e->n_dcs : n;
        at->cands = malloc((n ? n : 1) * sizeof(*at->cands));
        at->dcs = malloc((n_dcs ? n_dcs : 1) * sizeof(*at->dcs));
        at->pool.nodes_available = json_object();
        at->pool.node_pool = at->job->node_pool ? at->job->node_pool : "default";
        if (!at->cands || !at->dcs || !at->pool.nodes_available) {
                free(key);
                return -ENOMEM;
        }
        at->rng = shuffle_seed(at->c->eval->id, state_latest_index(at->c->snap));
        if (e) {
                if (cc_fill(cc, at, e) < 0)
                        return -ENOMEM;
        } else {
                state_nodes_foreach(at->c->snap, add_cand, at); /* ID order, then shuffled */
                if (key)
                        cc_store(cc, at, key); /* takes key */
                shuffle(at);
                at->n_ready = at->n_cands;
        }
        for (size_t k = 0; k < at->n_dcs; k++)
                if (at->dcs[k].n &&
                    json_object_set_new(at->pool.nodes_available, at->dcs[k].dc, json_integer(at->dcs[k].n)) < 0)
                        return -ENOMEM;
        return 0;
}

static void coll_index_free(struct hashmap *m);

uint64_t sched_cand_hash(struct sched_cand *cd) {
        if (!cd->h)
                cd->h = hashmap_hash(cd->n->id); /* never 0 */
        return cd->h;
}

const struct plan_node *sched_cand_plan_node(const struct sched_attempt *at, struct sched_cand *cd) {
        const struct plan *p = at->plan;
        uint64_t h = sched_cand_hash(cd);
        if (!p->n_nodes || (p->by_node && !node_filter_may(&p->filter, h)))
                return NULL; /* without reading the node's ID: a cache miss where Select skips the node */
        return plan_node_find_hashed(p, cd->n->id, h);
}

void sched_attempt_free(struct sched_attempt *at) {
        if (at->fill && at->c->cands->filling == at)
                at->c->cands->filling = NULL;
        at->fill = NULL;
        at->n_ready = 0;
        free(at->cands);
        free(at->dcs);
        json_decref(at->pool.nodes_available);
        coll_index_free(at->coll);
        at->coll = NULL;
        at->coll_filter = (struct node_filter){0};
        plan_free(at->plan);
        at->strings = str_arena_unref(at->strings);
        at->s_ns = at->s_eval = at->s_job = NULL;
        at->cands = NULL;
        at->dcs = NULL;
        at->pool.nodes_available = NULL;
        at->plan = NULL;
}

/* ---- proposed allocations on a node (existing - plan stops + plan placements) ------ */

/* Stopped by the plan, or replaced by its in-place update (a placement of the same ID). */
static bool stopped_in_plan(const struct plan_node *pn, const char *alloc_id) {
        for (size_t i = 0; pn && i < pn->n_stop; i++)
                if (strcmp(pn->stop[i].alloc->id, alloc_id) == 0)
                        return true;
        for (size_t i = 0; pn && i < pn->n_place; i++)
                if (pn->place[i]->create_index && strcmp(pn->place[i]->id, alloc_id) == 0)
                        return true;
        return false;
}

/* Does an earlier stop of the plan node name the same alloc? */
static bool stopped_earlier(const struct plan_node *pn, size_t i) {
        for (size_t k = 0; k < i; k++)
                if (pn->stop[k].alloc == pn->stop[i].alloc || strcmp(pn->stop[k].alloc->id, pn->stop[i].alloc->id) == 0)
                        return true;
        return false;
}

/* The cache's record of cd, NULL when the attempt's slots are not the cache's binding. */
static struct cc_free *cand_free(const struct sched_attempt *at, const struct sched_cand *cd) {
        const struct sched_cand_cache *cc = at->c->cands;
        if (!cd->slot || !cc || at->cc_bind != cc->binds)
                return NULL;
        return &cc->free[cd->slot - 1];
}

/* Keep what the snapshot's usage leaves free on cd (the plan's stops and placements
 * aside: the store's usage only grows until a write frees some). */
static void cand_free_note(struct sched_attempt *at, const struct sched_cand *cd, const struct state_usage *su) {
        struct cc_free *f = cand_free(at, cd);
        if (!f)
                return;
        *f = (struct cc_free){.cpu = cd->avail.cpu - su->cpu,
                              .mem = cd->avail.mem - su->memory_mb,
                              .disk = cd->avail.disk - su->disk_mb,
                              .index = state_latest_index(at->c->snap)};
}

bool sched_cand_known_full(struct sched_attempt *at, const struct res_ask *ask, struct sched_cand *cd,
                           const char **ret_dim) {
        const struct cc_free *f = cand_free(at, cd);
        if (!f || !f->index)
                return false;
        /* the ask against the record first: most looks at a node with room end here */
        const char *dim = ask->cpu > f->cpu         ? "cpu"
                          : ask->memory_mb > f->mem ? "memory"
                          : ask->disk_mb > f->disk  ? "disk"
                                                    : NULL;
        if (!dim || f->index > state_latest_index(at->c->snap) ||
            state_node_freed_index_h(at->c->snap, sched_cand_hash(cd)) > f->index)
                return false;
        if (sched_cand_plan_node(at, cd)) /* the plan may stop allocs there */
                return false;
        at->c->cands->st.full_skips++;
        *ret_dim = dim;
        return true;
}

void sched_cand_usage(struct sched_attempt *at, struct sched_cand *cd) {
        if (cd->usage_ready)
                return;
        const struct plan_node *pn = sched_cand_plan_node(at, cd);
        /* The store keeps each node's live usage: O(1), not a walk of its allocs. */
        struct state_usage su = state_node_usage_h(at->c->snap, cd->n->id, sched_cand_hash(cd));
        struct sched_usage u = {su.cpu, su.memory_mb, su.disk_mb};
        for (size_t i = 0; pn && i < pn->n_stop; i++) {
                /* count the snapshot's version out once, if it is live on this node */
                const struct alloc *a = state_alloc_get(at->c->snap, pn->stop[i].alloc->id);
                if (!a || alloc_terminal(a) || !a->node_id || strcmp(a->node_id, cd->n->id) != 0 ||
                    stopped_earlier(pn, i))
                        continue;
                u.cpu -= a->resources.cpu;
                u.mem -= a->resources.memory_mb;
                u.disk -= a->resources.disk_mb;
        }
        for (size_t i = 0; pn && i < pn->n_place; i++) {
                if (pn->place[i]->create_index) /* an in-place update: counted in the store's usage */
                        continue;
                u.cpu += pn->place[i]->resources.cpu;
                u.mem += pn->place[i]->resources.memory_mb;
                u.disk += pn->place[i]->resources.disk_mb;
        }
        cd->u = u;
        cd->usage_ready = true;
        cand_free_note(at, cd, &su);
}

/* The job's proposed allocs on one node: the count of the whole job and per group
 * (a job has few groups on one node; group names are borrowed from the snapshot's
 * allocs, the plan's or the job, all alive for the attempt). */
struct sched_coll {
        int job;
        size_t n, cap;
        struct coll_group {
                const char *group;
                int n;
        } * groups, one; /* groups is &one until a second group (no malloc for most jobs) */
};

static void coll_free(struct sched_coll *e) {
        if (e) {
                if (e->groups != &e->one)
                        free(e->groups);
                free(e);
        }
}

static void coll_index_free(struct hashmap *m) {
        size_t it = 0;
        void *v;
        while (m && hashmap_next(m, &it, NULL, &v))
                coll_free(v);
        hashmap_destroy(m);
}

/* One more alloc of the job, in group, on the node whose entry is e. */
static int coll_entry_bump(struct sched_coll *e, const char *group) {
        e->job++;
        const char *gname = group ? group : "";
        size_t k = 0;
        while (k < e->n && e->groups[k].group != gname && strcmp(e->groups[k].group, gname) != 0)
                k++;
        if (k == e->n) {
                if (e->n == 0) {
                        e->groups = &e->one;
                        e->cap = 1;
                } else if (e->n == e->cap) {
                        size_t cap = e->cap * 2;
                        bool inline_one = e->groups == &e->one;
                        struct coll_group *v = realloc(inline_one ? NULL : e->groups, cap * sizeof(*v));
                        if (!v) {
                                e->job--;
                                return -ENOMEM;
                        }
                        if (inline_one)
                                v[0] = e->one;
                        e->groups = v;
                        e->cap = cap;
                }
                e->groups[e->n++] = (struct coll_group){gname, 0};
        }
        e->groups[k].n++;
        return 0;
}

/* hash: hashmap_hash(node_id) (a node the filter says is not in the index costs no
 * hashing) */
static int coll_bump(struct sched_attempt *at, const char *node_id, uint64_t hash, const char *group,
                     struct sched_coll **ret) {
        struct sched_coll *e = node_filter_may(&at->coll_filter, hash) ? hashmap_get(at->coll, node_id) : NULL;
        if (!e) {
                if (!(e = calloc(1, sizeof(*e))))
                        return -ENOMEM;
                if (hashmap_put(at->coll, node_id, e, NULL) < 0) {
                        free(e);
                        return -ENOMEM;
                }
                node_filter_add(&at->coll_filter, hash);
        }
        int r = coll_entry_bump(e, group);
        if (r == 0 && ret)
                *ret = e;
        return r;
}

/* The attempt's collision index, built on first use: the job's live allocs in the
 * snapshot less the plan's stops (fixed while placing), plus the plan's placements. */
static int coll_index(struct sched_attempt *at) {
        if (at->coll)
                return 0;
        if (!(at->coll = hashmap_create(HASHMAP_OWN_KEYS)))
                return -ENOMEM;
        const struct eval *ev = at->c->eval;
        size_t n;
        struct alloc *const *allocs = state_allocs_by_job(at->c->snap, ev->namespace, ev->job_id, &n);
        for (size_t i = 0; i < n; i++) {
                const struct alloc *a = allocs[i];
                if (alloc_terminal(a) || !a->node_id)
                        continue;
                uint64_t h = hashmap_hash(a->node_id); /* for the plan's filter and the index's */
                if (stopped_in_plan(plan_node_find_hashed(at->plan, a->node_id, h), a->id))
                        continue;
                if (coll_bump(at, a->node_id, h, a->task_group, NULL) < 0)
                        return -ENOMEM;
        }
        for (size_t i = 0; i < at->plan->n_nodes; i++) {
                const struct plan_node *pn = &at->plan->nodes[i];
                uint64_t h = pn->n_place ? hashmap_hash(pn->node_id) : 0;
                for (size_t j = 0; j < pn->n_place; j++)
                        if (coll_bump(at, pn->node_id, h, pn->place[j]->task_group, NULL) < 0)
                                return -ENOMEM;
        }
        return 0;
}

/* The node's entry in the collision index (hashed only when the filter says it may be). */
static struct sched_coll *coll_find(struct sched_attempt *at, struct sched_cand *cd) {
        return node_filter_may(&at->coll_filter, sched_cand_hash(cd)) ? hashmap_get(at->coll, cd->n->id) : NULL;
}

static struct sched_coll *cand_coll(struct sched_attempt *at, struct sched_cand *cd) {
        if (!cd->coll_ready && coll_index(at) == 0) {
                cd->coll = coll_find(at, cd);
                cd->coll_ready = true;
        }
        return cd->coll;
}

static int coll_count(const struct sched_coll *e, const char *group) {
        if (!e)
                return 0;
        if (!group)
                return e->job;
        for (size_t k = 0; k < e->n; k++)
                if (e->groups[k].group == group || strcmp(e->groups[k].group, group) == 0)
                        return e->groups[k].n;
        return 0;
}

int sched_collisions(struct sched_attempt *at, struct sched_cand *cd, const char *group) {
        return coll_count(cand_coll(at, cd), group);
}

int sched_coll_add(struct sched_attempt *at, struct sched_cand *cd, const char *group) {
        if (!at->coll) { /* built now, it counts the plan's placements, this one included */
                int r = coll_index(at);
                if (r < 0)
                        return r;
                cd->coll = coll_find(at, cd);
                cd->coll_ready = true;
                return 0;
        }
        if (cd->coll_ready && cd->coll) /* the node's entry, looked up before: no hashing */
                return coll_entry_bump(cd->coll, group);
        cd->coll_ready = true;
        return coll_bump(at, cd->n->id, sched_cand_hash(cd), group, &cd->coll);
}

/* ---- feasibility ------------------------------------------------------------------------ */

static bool is_distinct_property(const struct constraint *c) {
        return c->operand && strcmp(c->operand, "distinct_property") == 0;
}

static bool distinct_hosts(const struct constraint *c) {
        return c->operand && strcmp(c->operand, "distinct_hosts") == 0 &&
               (!c->rtarget || !*c->rtarget || go_bool_parse(c->rtarget) == 1); /* as Nomad's ParseBool */
}

/* Visit job, group and task constraints. Returns false as soon as fn does. */
static bool each_constraint(const struct job *j, const struct task_group *tg,
                            bool (*fn)(void *arg, const struct constraint *c), void *arg) {
        for (size_t i = 0; i < j->n_constraints; i++)
                if (!fn(arg, &j->constraints[i]))
                        return false;
        for (size_t i = 0; i < tg->n_constraints; i++)
                if (!fn(arg, &tg->constraints[i]))
                        return false;
        for (size_t t = 0; t < tg->n_tasks; t++)
                for (size_t i = 0; i < tg->tasks[t].n_constraints; i++)
                        if (!fn(arg, &tg->tasks[t].constraints[i]))
                                return false;
        return true;
}

struct check_arg {
        const struct node *n;
        struct sched_regexps *re;
        bool want_escaped; /* check only escaped (true) or only memoisable (false) constraints */
        char *reason;
        size_t reason_size;
};

static bool check_one(void *arg, const struct constraint *c) {
        struct check_arg *a = arg;
        if (sched_constraint_escapes(c) != a->want_escaped || distinct_hosts(c) || is_distinct_property(c))
                return true;
        if (sched_node_meets_re(a->n, c, a->re))
                return true;
        sched_constraint_string(c, a->reason, a->reason_size);
        return false;
}

static bool mark_escaped(void *arg, const struct constraint *c) {
        if (sched_constraint_escapes(c))
                *(bool *)arg = true;
        return true;
}

/* Drivers, the constraints memoised per computed class, escaped constraints: what
 * does not change while the group is placed. NULL, a static or memoised reason, or
 * buf (not cacheable: *ret_cache false). */
static const char *feasible_static(struct sched_attempt *at, struct sched_group *g, const struct sched_cand *cd,
                                   char *buf, size_t size, bool *ret_cache) {
        const struct node *n = cd->n;
        *ret_cache = true;
        if (g->drv_mode == SCHED_DRV_NONE)
                return "missing drivers";
        if (g->drv_mode == SCHED_DRV_MASK && at->drv_known) {
                if ((cd->drv & g->drv_need) != g->drv_need)
                        return "missing drivers";
        } else {
                for (size_t t = 0; t < g->tg->n_tasks; t++)
                        if (g->tg->tasks[t].driver && !node_has_driver(n, g->tg->tasks[t].driver))
                                return "missing drivers";
        }
        bool interned = at->drv_known && cd->cls && cd->cls < at->n_classes;
        if (interned && !g->memo_cls)
                g->memo_cls = calloc(at->n_classes, sizeof(*g->memo_cls)); /* NULL: hashed */
        interned &= g->memo_cls != NULL;
        struct memo *m = interned ? g->memo_cls[cd->cls] : NULL;
        if (m && m->state > 0 && !g->escaped) /* no look at the node (a cache miss) */
                return NULL;
        const char *cls = n->computed_class ? n->computed_class : "";
        if (!m)
                m = hashmap_get(g->memo, cls);
        if (!m) {
                m = calloc(1, sizeof(*m));
                *ret_cache = m != NULL;
                if (!m)
                        return "out of memory";
                struct check_arg a = {n, at->c->regexps, false, m->reason, sizeof(m->reason)};
                m->state = each_constraint(at->job, g->tg, check_one, &a) ? 1 : -1;
                if (hashmap_put(g->memo, cls, m, NULL) < 0) {
                        free(m);
                        *ret_cache = false;
                        return "out of memory";
                }
                json_t *ce = at->c->class_elig;
                if (ce && *cls) {
                        json_t *prev = json_object_get(ce, cls);
                        json_object_set_new(ce, cls, json_boolean(m->state > 0 || json_is_true(prev)));
                }
        }
        if (interned)
                g->memo_cls[cd->cls] = m;
        if (m->state < 0)
                return m->reason;
        if (g->escaped) {
                struct check_arg a = {n, at->c->regexps, true, buf, size};
                if (!each_constraint(at->job, g->tg, check_one, &a)) {
                        *ret_cache = false;
                        return buf;
                }
        }
        return NULL;
}

const char *sched_feasible(struct sched_attempt *at, struct sched_group *g, struct sched_cand *cd, char *buf,
                           size_t size) {
        const struct node *n = cd->n;
        if (cd->feas_gen != g->gen) {
                bool cache;
                const char *why = feasible_static(at, g, cd, buf, size, &cache);
                if (!cache)
                        return why;
                cd->feas_gen = g->gen;
                cd->feas_why = why;
        }
        if (cd->feas_why)
                return cd->feas_why;
        if (g->distinct_job && sched_collisions(at, cd, NULL) > 0)
                return "distinct_hosts";
        if (g->distinct_group && sched_collisions(at, cd, g->tg->name) > 0)
                return "distinct_hosts";
        for (size_t i = 0; i < g->n_props; i++) {
                const struct sched_distinct_prop *p = &g->props[i];
                if (p->spread)
                        continue;
                bool found;
                const char *v = sched_resolve_target(n, p->c->ltarget, &found);
                if (!found) {
                        snprintf(buf, size, "missing property %s", p->c->ltarget);
                        return buf;
                }
                uintptr_t used = (uintptr_t)hashmap_get(p->counts, v);
                if ((long)used >= p->limit) {
                        snprintf(buf, size, "distinct_property: %s=%s used by %lu allocs", p->c->ltarget, v,
                                 (unsigned long)used);
                        return buf;
                }
        }
        return NULL;
}

/* ---- distinct_property ------------------------------------------------------------------- */

static int prop_bump(struct sched_distinct_prop *p, const struct node *n) {
        bool found;
        const char *v = n ? sched_resolve_target(n, p->attr, &found) : NULL;
        if (!v)
                return 0;
        uintptr_t used = (uintptr_t)hashmap_get(p->counts, v);
        if (used + 2 > p->hist_cap) {
                size_t cap = p->hist_cap ? 2 * p->hist_cap : 16;
                cap = cap < used + 2 ? used + 2 : cap;
                size_t *h = realloc(p->hist, cap * sizeof(*h));
                if (!h)
                        return -ENOMEM;
                memset(h + p->hist_cap, 0, (cap - p->hist_cap) * sizeof(*h));
                p->hist = h;
                p->hist_cap = cap;
        }
        if (hashmap_put(p->counts, v, (void *)(used + 1), NULL) < 0)
                return -ENOMEM;
        p->hist[used + 1]++;
        if (used == 0) { /* a new value: the least counted now */
                p->min = 1;
        } else if (--p->hist[used] == 0 && p->min == used) {
                p->min = used + 1; /* no value left at the old minimum: this one is the next */
        }
        p->max = used + 1 > p->max ? used + 1 : p->max;
        return 0;
}

int sched_group_placed(struct sched_group *g, const struct node *n) {
        for (size_t i = 0; i < g->n_props; i++) {
                int r = prop_bump(&g->props[i], n);
                if (r < 0)
                        return r;
        }
        return 0;
}

struct prop_collect {
        struct sched_attempt *at;
        struct sched_group *g;
        int r;
};

static bool add_prop(void *arg, const struct constraint *c) {
        struct sched_group *g = arg;
        if (is_distinct_property(c))
                g->n_props++;
        return true;
}

/* Count the job's allocs proposed per property value: live allocs not stopped by the
 * plan, then the plan's placements (earlier groups of this attempt). */
static int props_count(struct sched_attempt *at, struct sched_group *g) {
        const struct eval *ev = at->c->eval;
        size_t n;
        struct alloc *const *allocs = state_allocs_by_job(at->c->snap, ev->namespace, ev->job_id, &n);
        for (size_t i = 0; i < n; i++) {
                const struct alloc *a = allocs[i];
                if (alloc_terminal(a) || stopped_in_plan(plan_node_find(at->plan, a->node_id), a->id))
                        continue;
                const struct node *node = state_node_get(at->c->snap, a->node_id);
                for (size_t k = 0; k < g->n_props; k++) {
                        struct sched_distinct_prop *p = &g->props[k];
                        if (p->per_group && (!a->task_group || strcmp(a->task_group, g->tg->name) != 0))
                                continue;
                        if (prop_bump(p, node) < 0)
                                return -ENOMEM;
                }
        }
        for (size_t i = 0; i < at->plan->n_nodes; i++) {
                const struct plan_node *pn = &at->plan->nodes[i];
                const struct node *node = state_node_get(at->c->snap, pn->node_id);
                for (size_t j = 0; j < pn->n_place; j++)
                        for (size_t k = 0; k < g->n_props; k++) {
                                struct sched_distinct_prop *p = &g->props[k];
                                if (p->per_group && strcmp(pn->place[j]->task_group, g->tg->name) != 0)
                                        continue;
                                if (prop_bump(p, node) < 0)
                                        return -ENOMEM;
                        }
        }
        return 0;
}

static int props_init(struct sched_attempt *at, struct sched_group *g) {
        const struct job *j = at->job;
        each_constraint(j, g->tg, add_prop, g);
        g->n_spreads = j->n_spreads + g->tg->n_spreads;
        if (!g->n_props && !g->n_spreads)
                return 0;
        g->n_props += g->n_spreads;
        g->props = calloc(g->n_props, sizeof(*g->props));
        if (!g->props) {
                g->n_props = 0;
                return -ENOMEM;
        }
        size_t k = 0;
        const struct task_group *tg = g->tg;
        for (size_t i = 0; i < j->n_constraints; i++)
                if (is_distinct_property(&j->constraints[i]))
                        g->props[k++] = (struct sched_distinct_prop){.c = &j->constraints[i]};
        for (size_t i = 0; i < tg->n_constraints; i++)
                if (is_distinct_property(&tg->constraints[i]))
                        g->props[k++] = (struct sched_distinct_prop){.c = &tg->constraints[i], .per_group = true};
        for (size_t t = 0; t < tg->n_tasks; t++)
                for (size_t i = 0; i < tg->tasks[t].n_constraints; i++)
                        if (is_distinct_property(&tg->tasks[t].constraints[i]))
                                g->props[k++] =
                                    (struct sched_distinct_prop){.c = &tg->tasks[t].constraints[i], .per_group = true};
        for (size_t i = 0; i < j->n_spreads; i++)
                g->props[k++] = (struct sched_distinct_prop){.spread = &j->spreads[i], .per_group = true};
        for (size_t i = 0; i < tg->n_spreads; i++)
                g->props[k++] = (struct sched_distinct_prop){.spread = &tg->spreads[i], .per_group = true};
        for (size_t i = 0; i < g->n_props; i++) {
                if (!(g->props[i].counts = hashmap_create(HASHMAP_OWN_KEYS)))
                        return -ENOMEM;
                if (g->props[i].spread) {
                        g->props[i].attr = g->props[i].spread->attribute;
                        g->spread_weights += g->props[i].spread->weight;
                        continue;
                }
                g->props[i].attr = g->props[i].c->ltarget;
                const char *lim = g->props[i].c->rtarget;
                g->props[i].limit = lim && *lim ? strtol(lim, NULL, 10) : 1;
                if (g->props[i].limit < 1)
                        g->props[i].limit = 1;
        }
        return props_count(at, g);
}

/* ---- proposed allocs and their ports ------------------------------------------------------ */

void sched_proposed_foreach(const struct sched_attempt *at, const struct sched_cand *cd,
                            void (*fn)(const struct alloc *a, void *arg), void *arg) {
        const struct plan_node *pn = plan_node_find(at->plan, cd->n->id);
        size_t n;
        struct alloc *const *list = state_allocs_by_node(at->c->snap, cd->n->id, &n);
        for (size_t i = 0; i < n; i++)
                if (!alloc_terminal(list[i]) && !stopped_in_plan(pn, list[i]->id))
                        fn(list[i], arg);
        for (size_t i = 0; pn && i < pn->n_place; i++)
                fn(pn->place[i], arg);
}

int sched_alloc_cores(const struct alloc *a) {
        const struct job *j = a->job;
        int n = 0;
        for (size_t g = 0; j && a->task_group && g < j->n_groups; g++) {
                if (strcmp(j->groups[g].name, a->task_group) != 0)
                        continue;
                for (size_t t = 0; t < j->groups[g].n_tasks; t++)
                        n += j->groups[g].tasks[t].resources.cores;
                break;
        }
        return n;
}

static void add_cores(const struct alloc *a, void *arg) {
        *(int *)arg += sched_alloc_cores(a);
}

int sched_cand_cores_used(const struct sched_attempt *at, const struct sched_cand *cd) {
        int n = 0;
        sched_proposed_foreach(at, cd, add_cores, &n);
        return n;
}

struct sched_usage sched_node_avail(const struct node *n) {
        return (struct sched_usage){.cpu = n->cpu_shares - n->reserved_cpu,
                                    .mem = n->memory_mb - n->reserved_memory_mb,
                                    .disk = n->disk_mb - n->reserved_disk_mb};
}

int64_t sched_core_mhz(const struct node *n) {
        return n->total_cores > 0 ? n->cpu_shares / n->total_cores : 0;
}

static void held_ports(const struct alloc *a, void *arg) {
        sched_ports_held(a, arg);
}

static int64_t allocated_ports(const struct alloc *a) {
        int64_t n = (int64_t)json_array_size(json_object_get(json_object_get(a->allocated, "Shared"), "Ports"));
        const char *k;
        json_t *t;
        json_object_foreach(json_object_get(a->allocated, "Tasks"), k, t) {
                size_t i;
                json_t *net;
                json_array_foreach(json_object_get(t, "Networks"), i, net) {
                        n += (int64_t)json_array_size(json_object_get(net, "ReservedPorts"));
                        n += (int64_t)json_array_size(json_object_get(net, "DynamicPorts"));
                }
        }
        return n;
}

int sched_cand_ports_free(struct sched_attempt *at, struct sched_cand *cd, int need) {
        if (!cd->ports_ready) {
                /* O(1) first: every port the node's allocs record, in the range or not, the
                 * plan's stops included, can only over-count what is taken of the range */
                const struct plan_node *pn = sched_cand_plan_node(at, cd);
                int64_t held = state_node_usage_h(at->c->snap, cd->n->id, sched_cand_hash(cd)).ports;
                for (size_t i = 0; pn && i < pn->n_place; i++)
                        held += allocated_ports(pn->place[i]);
                int64_t bound = (SCHED_PORT_MAX - SCHED_PORT_MIN + 1) - held;
                if (bound >= need)
                        return (int)bound; /* enough: no walk (not cached: placements lower it) */
                /* else count exactly, walking the node's allocs once per attempt */
                struct sched_portset *used = calloc(1, sizeof(*used));
                if (!used)
                        return 0;
                sched_proposed_foreach(at, cd, held_ports, used);
                cd->ports_free = sched_ports_free(used);
                cd->ports_ready = true;
                free(used);
        }
        return cd->ports_free;
}

/* ---- static ports ------------------------------------------------------------------------- */

static bool net_has_port(const struct network *nets, size_t n, int port) {
        for (size_t i = 0; i < n; i++)
                for (size_t p = 0; p < nets[i].n_reserved; p++)
                        if (nets[i].reserved_ports[p].value == port)
                                return true;
        return false;
}

/* Does the group (its networks or its tasks') reserve `port`? */
static bool group_has_port(const struct task_group *tg, int port) {
        if (net_has_port(tg->networks, tg->n_networks, port))
                return true;
        for (size_t t = 0; t < tg->n_tasks; t++)
                if (net_has_port(tg->tasks[t].resources.networks, tg->tasks[t].resources.n_networks, port))
                        return true;
        return false;
}

static bool alloc_has_port(const struct alloc *a, int port) {
        const struct task_group *tg = a->job && a->task_group ? job_group(a->job, a->task_group) : NULL;
        return tg && group_has_port(tg, port);
}

static bool port_taken(const struct sched_attempt *at, const struct sched_cand *cd, int port) {
        const struct plan_node *pn = plan_node_find(at->plan, cd->n->id);
        size_t n;
        struct alloc *const *list = state_allocs_by_node(at->c->snap, cd->n->id, &n);
        for (size_t i = 0; i < n; i++)
                if (!alloc_terminal(list[i]) && !stopped_in_plan(pn, list[i]->id) && alloc_has_port(list[i], port))
                        return true;
        for (size_t i = 0; pn && i < pn->n_place; i++)
                if (alloc_has_port(pn->place[i], port))
                        return true;
        return false;
}

static bool nets_collide(const struct sched_attempt *at, const struct sched_cand *cd, const struct network *nets,
                         size_t n, int *ret_port) {
        for (size_t i = 0; i < n; i++)
                for (size_t p = 0; p < nets[i].n_reserved; p++)
                        if (port_taken(at, cd, nets[i].reserved_ports[p].value)) {
                                *ret_port = nets[i].reserved_ports[p].value;
                                return true;
                        }
        return false;
}

bool sched_ports_collide(const struct sched_attempt *at, const struct sched_group *g, const struct sched_cand *cd,
                         int *ret_port) {
        const struct task_group *tg = g->tg;
        if (nets_collide(at, cd, tg->networks, tg->n_networks, ret_port))
                return true;
        for (size_t t = 0; t < tg->n_tasks; t++)
                if (nets_collide(at, cd, tg->tasks[t].resources.networks, tg->tasks[t].resources.n_networks, ret_port))
                        return true;
        return false;
}

static bool any_static(const struct network *nets, size_t n) {
        for (size_t i = 0; i < n; i++)
                if (nets[i].n_reserved)
                        return true;
        return false;
}

/* ---- per-group context ------------------------------------------------------------------- */

void sched_group_free(struct sched_group *g) {
        for (size_t i = 0; i < g->n_props; i++) {
                hashmap_destroy(g->props[i].counts);
                free(g->props[i].hist);
        }
        free(g->props);
        g->props = NULL;
        free(g->memo_cls);
        g->memo_cls = NULL;
        free(g->opts);
        g->opts = NULL;
        g->opts_cap = 0;
        g->n_props = g->n_spreads = 0;
        if (!g->memo)
                return;
        size_t it = 0;
        void *v;
        while (hashmap_next(g->memo, &it, NULL, &v))
                free(v);
        g->memo = hashmap_destroy(g->memo);
}

/* The group's drivers as bits of the cache's driver table, when the candidates came
 * from the cache: a name missing from a complete table is on no node. */
static void drivers_init(const struct sched_attempt *at, struct sched_group *g) {
        const struct sched_cand_cache *cc = at->c->cands;
        g->drv_mode = SCHED_DRV_NODE;
        if (!at->drv_known || !cc)
                return;
        uint64_t need = 0;
        for (size_t t = 0; t < g->tg->n_tasks; t++) {
                const char *d = g->tg->tasks[t].driver;
                if (!d)
                        continue;
                int i = cc_driver_index(cc, d);
                if (i >= 0) {
                        need |= UINT64_C(1) << i;
                        continue;
                }
                if (cc->drivers_overflow)
                        return; /* per node */
                g->drv_mode = SCHED_DRV_NONE;
                return;
        }
        g->drv_need = need;
        g->drv_mode = SCHED_DRV_MASK;
}

int sched_group_init(struct sched_attempt *at, struct sched_group *g, size_t group) {
        const struct job *j = at->job;
        const struct task_group *tg = &j->groups[group];
        *g = (struct sched_group){.tg = tg, .group = group, .ask = task_group_ask(tg), .gen = ++at->gen};
        g->memo = hashmap_create(HASHMAP_OWN_KEYS);
        if (!g->memo)
                return -ENOMEM;
        each_constraint(j, tg, mark_escaped, &g->escaped);
        for (size_t i = 0; i < j->n_constraints; i++)
                g->distinct_job |= distinct_hosts(&j->constraints[i]);
        for (size_t i = 0; i < tg->n_constraints; i++)
                g->distinct_group |= distinct_hosts(&tg->constraints[i]);
        g->static_ports = any_static(tg->networks, tg->n_networks);
        for (size_t t = 0; t < tg->n_tasks; t++)
                g->static_ports |= any_static(tg->tasks[t].resources.networks, tg->tasks[t].resources.n_networks);
        g->networks = sched_group_has_networks(tg);
        g->dyn_ports = sched_group_dynamic_ports(tg);
        g->mbits = sched_group_mbits(tg);
        g->devices = sched_group_has_devices(tg);
        for (size_t t = 0; t < tg->n_tasks; t++)
                g->cores += tg->tasks[t].resources.cores;
        g->device_aff = g->devices && sched_group_device_affinities(tg);
        g->has_affinity = j->n_affinities || tg->n_affinities;
        drivers_init(at, g);
        for (size_t t = 0; t < tg->n_tasks; t++)
                g->has_affinity |= tg->tasks[t].n_affinities > 0;
        bool spread = j->n_spreads || tg->n_spreads;
        if (g->has_affinity || spread) {
                g->limit = tg->count > AFFINITY_LIMIT ? tg->count : AFFINITY_LIMIT;
        } else if (at->c->ops->batch) {
                g->limit = 2;
        } else {
                int lg = at->n_cands > 0 ? (int)ceil(log2((double)at->n_cands)) : 0;
                g->limit = lg > 2 ? lg : 2;
        }
        if (tg->count >= 0 && (size_t)tg->count * SMALL_GROUP_RATIO <= at->n_cands && g->limit < SMALL_GROUP_LIMIT)
                g->limit = at->n_cands < SMALL_GROUP_LIMIT ? (int)at->n_cands : SMALL_GROUP_LIMIT;
        g->pack_used_first = at->c->algorithm != SCHED_ALG_SPREAD && !spread;
        return props_init(at, g);
}
