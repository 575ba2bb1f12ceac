/* state.c - tables, indexes, copy-on-write snapshots, reads and writes. See state.h. */
#include "controlplane/state/state.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "common/hashmap.h"
#include "common/ids.h"
#include "common/pmap.h"
#include "common/macros.h"
#include "controlplane/state/state_deploy.h"
#include "controlplane/state/state_internal.h"
#include "controlplane/state/state_scaling.h"
#include "controlplane/state/state_versions.h"

/* ---- tables: persistent maps, shared by snapshots ---------------------------------------- */

struct obj_ops {
        void (*ref)(void *);
        void (*unref)(void *);
};

static void job_ref_v(void *p) { job_ref(p); }
static void job_unref_v(void *p) { job_unref(p); }
static void node_ref_v(void *p) { node_ref(p); }
static void node_unref_v(void *p) { node_unref(p); }
static void alloc_ref_v(void *p) { alloc_ref(p); }
static void alloc_unref_v(void *p) { alloc_unref(p); }
static void eval_ref_v(void *p) { eval_ref(p); }
static void eval_unref_v(void *p) { eval_unref(p); }

static const struct obj_ops job_ops = {job_ref_v, job_unref_v};
static const struct obj_ops node_ops = {node_ref_v, node_unref_v};
static const struct obj_ops alloc_ops = {alloc_ref_v, alloc_unref_v};
static const struct obj_ops eval_ops = {eval_ref_v, eval_unref_v};

/* The values of a table in key order, built on first use and kept until the table
 * changes (listings and the scheduler's node walk would otherwise sort every time). */
struct sorted_view {
        size_t n;
        void *items[];
};

/* A table version. Its map holds one reference on each of its objects; a snapshot
 * shares the whole struct (refcount), and the writer's first change after that
 * takes a new struct whose map shares every node with the old one (pmap_share),
 * so a write costs O(log n) copies, not a copy of the table. */
struct table {
        int refcount;
        const struct obj_ops *ops;
        struct pmap map;
        /* Shared by every snapshot of this table version; set once with a CAS by
         * whichever reader builds it first; dropped by the writer in table_mut. */
        struct sorted_view *sorted;
};

/* The items of index lists, shared by the versions of a list. Slots below `used` are
 * written once while the buffer is shared and never changed then: a list version
 * reads its first n (n <= used), so the version that ends at `used` may append in
 * place (it claims the slot by moving `used`), and a snapshot's copy of a list costs
 * O(1), not a copy of the items. A buffer is changed below `used` (delete, swap)
 * only when one list holds it. */
struct lbuf {
        int refcount;
        size_t used, cap;
        struct posmap *pos; /* item -> slot, for the writer only (list_find); NULL: none yet */
        void *items[];
};

/* Item pointer -> slot of a buffer, so that updating or deleting one alloc of a node or
 * a job does not scan the whole list. Built on the first lookup in a long list, kept by
 * appends, swaps and deletes (a delete moves the list's last item into the hole: one
 * entry changes, one goes), handed on to the writer's copy of the buffer (list_rebuf:
 * the slots stay). Entries may be stale (a slot past a version's n): list_find checks
 * the slot and falls back to a scan. Only the writer uses it, so readers of a shared
 * buffer never see it move. */
struct posmap {
        size_t cap, n; /* cap: a power of two, n <= cap / 2 */
        struct {
                const void *key;
                size_t slot;
        } e[];
};

#define POSMAP_MIN_LIST 32 /* shorter lists are scanned */

static size_t pos_hash(const void *p, size_t cap) {
        return (size_t)(((uintptr_t)p >> 4) * UINT64_C(0x9e3779b97f4a7c15) >> 17) & (cap - 1);
}

static void posmap_set(struct posmap *m, const void *key, size_t slot) {
        size_t i = pos_hash(key, m->cap);
        while (m->e[i].key && m->e[i].key != key)
                i = (i + 1) & (m->cap - 1);
        if (!m->e[i].key)
                m->n++;
        m->e[i].key = key;
        m->e[i].slot = slot;
}

/* Remove key's entry (linear probing: the entries after it in its run move back to
 * where their own probe would reach them, so that no lookup stops short). */
static void posmap_del(struct posmap *m, const void *key) {
        size_t mask = m->cap - 1, i = pos_hash(key, m->cap);
        while (m->e[i].key != key) {
                if (!m->e[i].key)
                        return;
                i = (i + 1) & mask;
        }
        for (size_t j = (i + 1) & mask; m->e[j].key; j = (j + 1) & mask) {
                size_t home = pos_hash(m->e[j].key, m->cap);
                /* j's entry may fill the hole at i unless its home lies in (i, j] */
                bool stays = i < j ? (home > i && home <= j) : (home > i || home <= j);
                if (!stays) {
                        m->e[i] = m->e[j];
                        i = j;
                }
        }
        m->e[i].key = NULL;
        m->n--;
}

/* Room for want entries and as many notes again before lbuf_pos_note finds it full
 * (at half its cap), so a rebuild is paid for by as many updates as the list is long. */
static struct posmap *posmap_new(size_t want) {
        size_t cap = 64;
        while (cap < want * 4)
                cap *= 2;
        struct posmap *m = calloc(1, sizeof(*m) + cap * sizeof(m->e[0]));
        if (m)
                m->cap = cap;
        return m;
}

/* Record item obj at slot in b's map when it has one; a full map is dropped (rebuilt
 * at the next lookup). */
static void lbuf_pos_note(struct lbuf *b, const void *obj, size_t slot) {
        if (!b->pos)
                return;
        if ((b->pos->n + 1) * 2 > b->pos->cap) {
                free(b->pos);
                b->pos = NULL;
                return;
        }
        posmap_set(b->pos, obj, slot);
}

/* An index entry: borrowed object pointers (the table owns them), in insertion order
 * until a delete, which moves the last item into the deleted one's slot (O(1)). */
struct list {
        int refcount;
        size_t n;
        struct lbuf *buf; /* NULL until the first item */
        struct state_usage usage; /* allocs_by_node only: the live allocs' resources */
        /* allocs_by_node only, once node_known: the node of the key in the nodes table of
         * every version holding this list (NULL: none), borrowed from that table; each
         * write of the node sets it (state_node_with_usage_h: one look-up for both) */
        const struct node *node;
        bool node_known;
};

static inline void *const *list_items(const struct list *l) {
        return l && l->buf ? (void *const *)l->buf->items : NULL;
}

static void lbuf_unref(struct lbuf *b) {
        if (b && __atomic_sub_fetch(&b->refcount, 1, __ATOMIC_ACQ_REL) == 0) {
                free(b->pos);
                free(b);
        }
}

/* A new buffer of cap slots holding l's n items (l's buffer is released). The old
 * buffer's position map moves with the items: they keep their slots, and no other
 * version writes (snapshots only read the items), so an update after each snapshot
 * does not rebuild the map (a hash of every item of the list) each time. */
static int list_rebuf(struct list *l, size_t cap) {
        struct lbuf *b = malloc(sizeof(*b) + cap * sizeof(b->items[0]));
        if (!b)
                return -ENOMEM;
        b->refcount = 1;
        b->cap = cap;
        b->used = l->n;
        b->pos = NULL;
        if (l->n) {
                memcpy(b->items, l->buf->items, l->n * sizeof(b->items[0]));
                b->pos = l->buf->pos;
                l->buf->pos = NULL;
        }
        lbuf_unref(l->buf);
        l->buf = b;
        return 0;
}

/* Make l's buffer l's alone before changing an item below n. */
static int list_own_items(struct list *l) {
        if (!l->buf)
                return 0;
        if (__atomic_load_n(&l->buf->refcount, __ATOMIC_ACQUIRE) == 1) {
                l->buf->used = l->n; /* slots past n belonged to versions now gone */
                return 0;
        }
        return list_rebuf(l, l->n + l->n / 2 + 1);
}

static int list_append(struct list *l, void *obj) {
        struct lbuf *b = l->buf;
        size_t expected = l->n;
        if (!b || l->n == b->cap ||
            !__atomic_compare_exchange_n(&b->used, &expected, l->n + 1, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
                /* full, or another version owns the slots past n: a buffer of our own */
                int r = list_rebuf(l, l->n < 2 ? 4 : l->n * 2);
                if (r < 0)
                        return r;
                b = l->buf;
                b->used = l->n + 1;
        }
        lbuf_pos_note(b, obj, l->n);
        b->items[l->n++] = obj;
        return 0;
}

/* The slot of obj among l's n items, or -1: through the buffer's map for long lists. */
static ssize_t list_find(struct list *l, const void *obj) {
        struct lbuf *b = l->buf;
        if (!b)
                return -1;
        if (l->n >= POSMAP_MIN_LIST && !b->pos && (b->pos = posmap_new(b->used)))
                for (size_t i = 0; i < b->used; i++)
                        posmap_set(b->pos, b->items[i], i);
        if (b->pos) {
                size_t i = pos_hash(obj, b->pos->cap);
                while (b->pos->e[i].key && b->pos->e[i].key != obj)
                        i = (i + 1) & (b->pos->cap - 1);
                size_t slot = b->pos->e[i].slot;
                if (b->pos->e[i].key && slot < l->n && b->items[slot] == obj)
                        return (ssize_t)slot;
        }
        for (size_t i = 0; i < l->n; i++) /* short, or the map was stale */
                if (b->items[i] == obj)
                        return (ssize_t)i;
        return -1;
}

/* key -> struct list * (the map holds one list reference per leaf; a list is
 * changed in place only when the leaf is this version's alone and the list has
 * one reference). */
struct index {
        int refcount;
        enum { USAGE_NONE, USAGE_LIVE, USAGE_FULL } usage; /* items are allocs: keep usage.live (or all
                                                              * of each list's struct state_usage) */
        struct pmap map;
        /* The list index_list_mut last returned, exclusively this version's: the next
         * write to the same key (the allocs of a plan share their job, eval and node)
         * skips the hash and the walk of the map. Valid while this struct is the
         * writer's own: a shared index is copied (without it) before any write, and
         * removing the key clears it. */
        struct list *cur;
        char cur_key[64];
};

struct state_store {
        bool snapshot;
        struct table *jobs, *nodes, *allocs, *evals;
        struct index *allocs_by_node, *allocs_by_job, *allocs_by_eval, *evals_by_job;
        uint64_t latest;
        uint64_t table_index[STATE_TABLE_COUNT];
        struct state_sched_config sched_config; /* a value: state_snapshot copies it */
        struct acl_tables *acl; /* state_acl.c; NULL = empty */
        struct version_table *versions; /* state_versions.c; NULL = empty */
        struct deploy_tables *deploy; /* state_deploy.c; NULL = empty */
        struct scaling_table *scaling; /* state_scaling.c; NULL = empty */
        /* state_node_freed_index_h: per bucket of node IDs, and the floor (values:
         * state_snapshot copies them) */
        uint64_t freed[STATE_FREED_BUCKETS];
        uint64_t freed_floor;
};

static inline int refs(const int *rc) { return __atomic_load_n(rc, __ATOMIC_ACQUIRE); }

static struct table *table_new(const struct obj_ops *ops) {
        struct table *t = calloc(1, sizeof(*t));
        if (!t)
                return NULL;
        t->refcount = 1;
        t->ops = ops;
        pmap_init(&t->map, ops->ref, ops->unref);
        return t;
}

static void table_unref(struct table *t) {
        if (!t || __atomic_sub_fetch(&t->refcount, 1, __ATOMIC_ACQ_REL) > 0)
                return;
        pmap_release(&t->map);
        free(t->sorted);
        free(t);
}

/* Make *tp exclusively ours before writing it (copy when a snapshot shares it). */
static int table_mut(struct table **tp) {
        struct table *t = *tp;
        if (refs(&t->refcount) == 1) {
                /* Only the writer holds it: nobody else can be reading the view. */
                free(t->sorted);
                t->sorted = NULL;
                return 0;
        }
        struct table *c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        c->refcount = 1;
        c->ops = t->ops;
        c->map = pmap_share(&t->map);
        table_unref(t);
        *tp = c;
        return 0;
}

static void list_unref(struct list *l) {
        if (!l || __atomic_sub_fetch(&l->refcount, 1, __ATOMIC_ACQ_REL) > 0)
                return;
        lbuf_unref(l->buf);
        free(l);
}

static void list_ref_v(void *p) { __atomic_add_fetch(&((struct list *)p)->refcount, 1, __ATOMIC_RELAXED); }
static void list_unref_v(void *p) { list_unref(p); }

static struct index *index_new(void) {
        struct index *ix = calloc(1, sizeof(*ix));
        if (!ix)
                return NULL;
        ix->refcount = 1;
        pmap_init(&ix->map, list_ref_v, list_unref_v);
        return ix;
}

static void index_unref(struct index *ix) {
        if (!ix || __atomic_sub_fetch(&ix->refcount, 1, __ATOMIC_ACQ_REL) > 0)
                return;
        pmap_release(&ix->map);
        free(ix);
}

static int index_mut(struct index **ip) {
        struct index *ix = *ip;
        if (refs(&ix->refcount) == 1)
                return 0;
        struct index *c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        c->refcount = 1;
        c->usage = ix->usage;
        c->map = pmap_share(&ix->map);
        index_unref(ix);
        *ip = c;
        return 0;
}

static void index_set_cur(struct index *ix, const char *key, struct list *l) {
        size_t len = strlen(key);
        ix->cur = len < sizeof(ix->cur_key) ? l : NULL;
        if (ix->cur)
                memcpy(ix->cur_key, key, len + 1);
}

/* The list for key, exclusively ours (created when create is set). */
static int index_list_mut(struct index **ip, const char *key, bool create, struct list **ret) {
        int r = index_mut(ip);
        if (r < 0)
                return r;
        struct index *ix = *ip;
        if (ix->cur && strcmp(ix->cur_key, key) == 0) {
                *ret = ix->cur;
                return 0;
        }
        void **slot = NULL;
        r = create ? pmap_upsert_slot(&ix->map, key, &slot) : pmap_get_mut(&ix->map, key, &slot);
        if (r == -ENOENT) {
                *ret = NULL;
                return 0;
        }
        if (r < 0)
                return r;
        if (r == 1) { /* a new key: its entry is empty (the path is ours: removing cannot fail) */
                struct list *l = calloc(1, sizeof(*l));
                if (!l) {
                        pmap_remove(&ix->map, key, NULL);
                        return -ENOMEM;
                }
                l->refcount = 1;
                *slot = l;
                index_set_cur(ix, key, l);
                *ret = l;
                return 0;
        }
        struct list *l = *slot;
        if (refs(&l->refcount) > 1) { /* another version's leaf holds it too */
                struct list *c = calloc(1, sizeof(*c));
                if (!c)
                        return -ENOMEM;
                c->refcount = 1;
                c->n = l->n;
                c->usage = l->usage;
                c->node = l->node;
                c->node_known = l->node_known;
                if ((c->buf = l->buf)) /* the items are shared, not copied (struct lbuf) */
                        __atomic_add_fetch(&c->buf->refcount, 1, __ATOMIC_RELAXED);
                *slot = c; /* the slot's reference moves to the copy */
                list_unref(l);
                l = c;
        }
        index_set_cur(ix, key, l);
        *ret = l;
        return 0;
}

/* The ports an alloc's AllocatedResources record (what the scheduler assigned). */
static int64_t alloc_ports(const struct alloc *a) {
        if (!a->allocated)
                return 0;
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

/* Account a live alloc entering (sign 1) or leaving (-1) a list of allocs_by_node. */
static void usage_add(const struct index *ix, struct list *l, const void *obj, int sign) {
        const struct alloc *a = obj;
        if (ix->usage == USAGE_NONE || alloc_terminal(a))
                return;
        l->usage.live += sign;
        if (ix->usage == USAGE_LIVE)
                return;
        l->usage.cpu += sign * a->resources.cpu;
        l->usage.memory_mb += sign * a->resources.memory_mb;
        l->usage.disk_mb += sign * a->resources.disk_mb;
        l->usage.ports += sign * alloc_ports(a);
}

static int index_add(struct index **ip, const char *key, void *obj) {
        struct list *l;
        int r = index_list_mut(ip, key, true, &l);
        if (r < 0)
                return r;
        if ((r = list_append(l, obj)) < 0)
                return r;
        usage_add(*ip, l, obj, 1);
        return 0;
}

static int index_del(struct index **ip, const char *key, const void *obj) {
        if (!pmap_get(&(*ip)->map, key))
                return 0;
        struct list *l;
        int r = index_list_mut(ip, key, false, &l);
        if (r < 0 || !l)
                return r;
        ssize_t at = list_find(l, obj);
        if (at >= 0) {
                size_t i = (size_t)at;
                if ((r = list_own_items(l)) < 0)
                        return r;
                struct lbuf *b = l->buf;
                void *last = b->items[--l->n];
                b->used = l->n;
                if (b->pos)
                        posmap_del(b->pos, obj);
                if (i < l->n) { /* the last item fills the hole: no shift of the rest */
                        b->items[i] = last;
                        lbuf_pos_note(b, last, i);
                }
                usage_add(*ip, l, obj, -1);
        }
        if (l->n == 0) { /* the path is this version's now: removing cannot fail */
                if ((*ip)->cur == l)
                        (*ip)->cur = NULL;
                pmap_remove(&(*ip)->map, key, NULL);
        }
        return 0;
}

static int index_swap(struct index **ip, const char *key, const void *old, void *obj) {
        struct list *l;
        int r = index_list_mut(ip, key, false, &l);
        if (r < 0)
                return r;
        ssize_t at = l ? list_find(l, old) : -1;
        if (at < 0)
                return index_add(ip, key, obj);
        if ((r = list_own_items(l)) < 0)
                return r;
        l->buf->items[at] = obj;
        if (l->buf->pos)
                posmap_del(l->buf->pos, old);
        lbuf_pos_note(l->buf, obj, (size_t)at);
        usage_add(*ip, l, old, -1);
        usage_add(*ip, l, obj, 1);
        return 0;
}

static const struct list *index_get(const struct index *ix, const char *key) {
        return key ? pmap_get(&ix->map, key) : NULL;
}

/* ---- keys ------------------------------------------------------------------------------ */

#define KEYBUF 256

/* "namespace\x1fid" in buf, or malloc'd when long (free when != buf); NULL on ENOMEM. */
static char *job_key(char buf[KEYBUF], const char *ns, const char *id) {
        ns = ns ? ns : "default";
        id = id ? id : "";
        size_t a = strlen(ns), b = strlen(id);
        if (a + b + 2 <= KEYBUF) { /* no snprintf: this runs several times a placement */
                memcpy(buf, ns, a);
                buf[a] = '\x1f';
                memcpy(buf + a + 1, id, b + 1);
                return buf;
        }
        char *k = NULL;
        return asprintf(&k, "%s\x1f%s", ns, id) < 0 ? NULL : k;
}

static void key_free(char *k, char buf[KEYBUF]) {
        if (k != buf)
                free(k);
}

/* ---- lifecycle ------------------------------------------------------------------------- */

struct state_store *state_create(void) {
        struct state_store *st = calloc(1, sizeof(*st));
        if (!st)
                return NULL;
        st->jobs = table_new(&job_ops);
        st->nodes = table_new(&node_ops);
        st->allocs = table_new(&alloc_ops);
        if (st->allocs) /* time-ordered alloc IDs: a plan's allocs share trie nodes (ids.h) */
                pmap_set_path(&st->allocs->map, id_path);
        st->evals = table_new(&eval_ops);
        st->sched_config = (struct state_sched_config){.preempt_system = true};
        st->allocs_by_node = index_new();
        if (st->allocs_by_node)
                st->allocs_by_node->usage = USAGE_FULL;
        st->allocs_by_job = index_new();
        if (st->allocs_by_job) /* job status: whether any alloc is live, without a walk */
                st->allocs_by_job->usage = USAGE_LIVE;
        st->allocs_by_eval = index_new();
        st->evals_by_job = index_new();
        if (!st->jobs || !st->nodes || !st->allocs || !st->evals || !st->allocs_by_node || !st->allocs_by_job ||
            !st->allocs_by_eval || !st->evals_by_job)
                return state_destroy(st);
        return st;
}

struct state_store *state_destroy(struct state_store *st) {
        if (!st)
                return NULL;
        int saved = errno;
        table_unref(st->jobs);
        table_unref(st->nodes);
        table_unref(st->allocs);
        table_unref(st->evals);
        index_unref(st->allocs_by_node);
        index_unref(st->allocs_by_job);
        index_unref(st->allocs_by_eval);
        index_unref(st->evals_by_job);
        state_acl_tables_unref(st->acl);
        state_versions_unref(st->versions);
        state_deploy_tables_unref(st->deploy);
        state_scaling_unref(st->scaling);
        free(st);
        errno = saved;
        return NULL;
}

struct state_store *state_snapshot(const struct state_store *st) {
        struct state_store *s = calloc(1, sizeof(*s));
        if (!s)
                return NULL;
        *s = *st;
        s->snapshot = true;
        __atomic_add_fetch(&s->jobs->refcount, 1, __ATOMIC_RELAXED);
        __atomic_add_fetch(&s->nodes->refcount, 1, __ATOMIC_RELAXED);
        __atomic_add_fetch(&s->allocs->refcount, 1, __ATOMIC_RELAXED);
        __atomic_add_fetch(&s->evals->refcount, 1, __ATOMIC_RELAXED);
        __atomic_add_fetch(&s->allocs_by_node->refcount, 1, __ATOMIC_RELAXED);
        __atomic_add_fetch(&s->allocs_by_job->refcount, 1, __ATOMIC_RELAXED);
        __atomic_add_fetch(&s->allocs_by_eval->refcount, 1, __ATOMIC_RELAXED);
        __atomic_add_fetch(&s->evals_by_job->refcount, 1, __ATOMIC_RELAXED);
        state_acl_tables_ref(s->acl);
        state_versions_ref(s->versions);
        state_deploy_tables_ref(s->deploy);
        state_scaling_ref(s->scaling);
        return s;
}

bool state_is_snapshot(const struct state_store *st) {
        return st->snapshot;
}

uint64_t state_latest_index(const struct state_store *st) {
        return st->latest;
}

uint64_t state_table_index(const struct state_store *st, enum state_table t) {
        return t < STATE_TABLE_COUNT ? st->table_index[t] : 0;
}

static void bump(struct state_store *st, enum state_table t, uint64_t index) {
        if (index > st->table_index[t])
                st->table_index[t] = index;
        if (index > st->latest)
                st->latest = index;
}

void state_raw_set_indexes(struct state_store *st, uint64_t latest, const uint64_t tables[STATE_TABLE_COUNT]) {
        st->latest = latest;
        st->freed_floor = latest + 1; /* a restored store: anything may have been freed */
        memcpy(st->table_index, tables, sizeof(st->table_index));
}

/* ---- where usage was freed (state_node_freed_index_h) --------------------------------- */

static size_t freed_bucket(uint64_t hash) {
        return (size_t)((hash * UINT64_C(0x9e3779b97f4a7c15)) >> 54) & (STATE_FREED_BUCKETS - 1);
}

/* latest + 1: the write in progress has an index above every snapshot taken before it
 * (at most its own index, or one above when an earlier write of the same index bumped
 * latest already: a later look only, never a wrong skip) */
static void freed_note(struct state_store *st, const char *node_id) {
        if (!node_id)
                return;
        uint64_t *b = &st->freed[freed_bucket(hashmap_hash(node_id))];
        if (*b < st->latest + 1)
                *b = st->latest + 1;
}

/* Does replacing old with a (a NULL: removing it) free usage on old's node? */
static bool alloc_write_frees(const struct alloc *old, const struct alloc *a) {
        if (!old || !old->node_id || alloc_terminal(old))
                return false;
        return !a || alloc_terminal(a) || !a->node_id || strcmp(a->node_id, old->node_id) != 0 ||
               a->resources.cpu < old->resources.cpu || a->resources.memory_mb < old->resources.memory_mb ||
               a->resources.disk_mb < old->resources.disk_mb;
}

uint64_t state_node_freed_index_h(const struct state_store *st, uint64_t hash) {
        uint64_t b = st->freed[freed_bucket(hash)];
        return b > st->freed_floor ? b : st->freed_floor;
}

/* ---- reads ------------------------------------------------------------------------------ */

const struct job *state_job_get(const struct state_store *st, const char *ns, const char *id) {
        if (!id)
                return NULL;
        char buf[KEYBUF];
        char *k = job_key(buf, ns, id);
        if (!k)
                return NULL;
        const struct job *j = pmap_get(&st->jobs->map, k);
        key_free(k, buf);
        return j;
}

const struct node *state_node_get(const struct state_store *st, const char *id) {
        return id ? pmap_get(&st->nodes->map, id) : NULL;
}

const struct alloc *state_alloc_get(const struct state_store *st, const char *id) {
        return id ? pmap_get(&st->allocs->map, id) : NULL;
}

const struct eval *state_eval_get(const struct state_store *st, const char *id) {
        return id ? pmap_get(&st->evals->map, id) : NULL;
}

size_t state_count(const struct state_store *st, enum state_table t) {
        switch (t) {
        case STATE_TABLE_JOBS:
                return st->jobs->map.count;
        case STATE_TABLE_NODES:
                return st->nodes->map.count;
        case STATE_TABLE_ALLOCS:
                return st->allocs->map.count;
        case STATE_TABLE_EVALS:
                return st->evals->map.count;
        default:
                return 0;
        }
}

/* Prefix search over a table whose values start with `char *id` at a known offset. */
struct prefix_scan {
        const char *prefix;
        size_t plen;
        const char *(*id_of)(const void *);
        bool (*keep)(const void *, const void *);
        const void *keep_arg;
        size_t hits;
        const void *found;
        bool exact;
};

static bool prefix_visit(void *arg, const char *key, void *v) {
        (void)key;
        struct prefix_scan *ps = arg;
        if (ps->keep && !ps->keep(v, ps->keep_arg))
                return true;
        const char *id = ps->id_of(v);
        if (!id || strncmp(id, ps->prefix, ps->plen) != 0)
                return true;
        ps->found = v;
        if (id[ps->plen] == '\0') { /* exact match wins */
                ps->exact = true;
                return false;
        }
        ps->hits++;
        return true;
}

static int by_prefix(const struct table *t, const char *prefix, const char *(*id_of)(const void *),
                     bool (*keep)(const void *, const void *), const void *keep_arg, const void **ret) {
        if (!prefix)
                return -ENOENT;
        struct prefix_scan ps = {.prefix = prefix, .plen = strlen(prefix), .id_of = id_of, .keep = keep,
                                 .keep_arg = keep_arg};
        pmap_foreach(&t->map, prefix_visit, &ps);
        if (ps.exact) {
                *ret = ps.found;
                return 0;
        }
        if (ps.hits == 0)
                return -ENOENT;
        if (ps.hits > 1)
                return -EEXIST;
        *ret = ps.found;
        return 0;
}

static const char *job_id_of(const void *v) { return ((const struct job *)v)->id; }
static const char *node_id_of(const void *v) { return ((const struct node *)v)->id; }
static const char *alloc_id_of(const void *v) { return ((const struct alloc *)v)->id; }
static const char *eval_id_of(const void *v) { return ((const struct eval *)v)->id; }

static bool ns_match(const char *want, const char *have) {
        return !want || strcmp(want, "*") == 0 || strcmp(want, have ? have : "default") == 0;
}

static bool job_in_ns(const void *v, const void *ns) {
        return ns_match(ns, ((const struct job *)v)->namespace);
}

int state_job_by_prefix(const struct state_store *st, const char *ns, const char *prefix, const struct job **ret) {
        const void *v;
        int r = by_prefix(st->jobs, prefix, job_id_of, job_in_ns, ns, &v);
        if (r == 0)
                *ret = v;
        return r;
}

int state_node_by_prefix(const struct state_store *st, const char *prefix, const struct node **ret) {
        const void *v;
        int r = by_prefix(st->nodes, prefix, node_id_of, NULL, NULL, &v);
        if (r == 0)
                *ret = v;
        return r;
}

int state_alloc_by_prefix(const struct state_store *st, const char *prefix, const struct alloc **ret) {
        const void *v;
        int r = by_prefix(st->allocs, prefix, alloc_id_of, NULL, NULL, &v);
        if (r == 0)
                *ret = v;
        return r;
}

int state_eval_by_prefix(const struct state_store *st, const char *prefix, const struct eval **ret) {
        const void *v;
        int r = by_prefix(st->evals, prefix, eval_id_of, NULL, NULL, &v);
        if (r == 0)
                *ret = v;
        return r;
}

static int cmp_key(const void *a, const void *b) {
        return strcmp(((const char *const *)a)[0], ((const char *const *)b)[0]);
}

struct kv_fill {
        const void **kv;
        size_t n;
};

static bool kv_add(void *arg, const char *key, void *value) {
        struct kv_fill *f = arg;
        f->kv[2 * f->n] = key;
        f->kv[2 * f->n + 1] = value;
        f->n++;
        return true;
}

/* The table's values in key order, NULL when empty or out of memory. */
static const struct sorted_view *sorted_view(const struct table *t) {
        struct sorted_view *v = __atomic_load_n(&t->sorted, __ATOMIC_ACQUIRE);
        if (v)
                return v;
        size_t n = t->map.count;
        if (!n)
                return NULL;
        _cleanup_free_ const void **kv = malloc(n * 2 * sizeof(*kv)); /* (key, value) pairs */
        v = malloc(sizeof(*v) + n * sizeof(v->items[0]));
        if (!kv || !v) {
                free(v);
                return NULL;
        }
        struct kv_fill f = {.kv = kv};
        pmap_foreach(&t->map, kv_add, &f);
        size_t k = f.n;
        qsort(kv, k, 2 * sizeof(*kv), cmp_key);
        v->n = k;
        for (size_t i = 0; i < k; i++)
                v->items[i] = (void *)kv[2 * i + 1];
        struct sorted_view *expected = NULL;
        struct table *mt = (struct table *)t; /* the cache is not part of the table's value */
        if (!__atomic_compare_exchange_n(&mt->sorted, &expected, v, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
                free(v); /* another reader built it first */
                return expected;
        }
        return v;
}

struct visit {
        bool (*cb)(void *arg, const void *v);
        void *arg;
        bool (*keep)(const void *, const void *);
        const void *keep_arg;
};

static bool visit_value(void *arg, const char *key, void *value) {
        (void)key;
        const struct visit *vis = arg;
        return (vis->keep && !vis->keep(value, vis->keep_arg)) || vis->cb(vis->arg, value);
}

static void foreach_sorted(const struct table *t, bool (*cb)(void *arg, const void *v), void *arg,
                           bool (*keep)(const void *, const void *), const void *keep_arg) {
        const struct sorted_view *v = sorted_view(t);
        if (!v) { /* empty, or no memory: degrade to table order rather than fail */
                struct visit vis = {cb, arg, keep, keep_arg};
                pmap_foreach(&t->map, visit_value, &vis);
                return;
        }
        for (size_t i = 0; i < v->n; i++)
                if ((!keep || keep(v->items[i], keep_arg)) && !cb(arg, v->items[i]))
                        return;
}

void state_jobs_foreach(const struct state_store *st, const char *ns, bool (*cb)(void *arg, const struct job *j),
                        void *arg) {
        foreach_sorted(st->jobs, (bool (*)(void *, const void *))cb, arg, job_in_ns, ns);
}

void state_nodes_foreach(const struct state_store *st, bool (*cb)(void *arg, const struct node *n), void *arg) {
        foreach_sorted(st->nodes, (bool (*)(void *, const void *))cb, arg, NULL, NULL);
}

void state_allocs_foreach(const struct state_store *st, bool (*cb)(void *arg, const struct alloc *a), void *arg) {
        struct visit vis = {(bool (*)(void *, const void *))cb, arg, NULL, NULL};
        pmap_foreach(&st->allocs->map, visit_value, &vis);
}

void state_evals_foreach(const struct state_store *st, bool (*cb)(void *arg, const struct eval *e), void *arg) {
        struct visit vis = {(bool (*)(void *, const void *))cb, arg, NULL, NULL};
        pmap_foreach(&st->evals->map, visit_value, &vis);
}

static void list_foreach(const struct list *l, bool (*cb)(void *arg, const void *v), void *arg) {
        void *const *items = list_items(l);
        for (size_t i = 0; l && i < l->n; i++)
                if (!cb(arg, items[i]))
                        return;
}

void state_allocs_by_node_foreach(const struct state_store *st, const char *node_id,
                                  bool (*cb)(void *arg, const struct alloc *a), void *arg) {
        list_foreach(index_get(st->allocs_by_node, node_id), (bool (*)(void *, const void *))cb, arg);
}

void state_allocs_by_eval_foreach(const struct state_store *st, const char *eval_id,
                                  bool (*cb)(void *arg, const struct alloc *a), void *arg) {
        list_foreach(index_get(st->allocs_by_eval, eval_id), (bool (*)(void *, const void *))cb, arg);
}

static const struct list *job_list(const struct index *ix, const char *ns, const char *job_id) {
        char buf[KEYBUF];
        char *k = job_key(buf, ns, job_id);
        if (!k)
                return NULL;
        const struct list *l = pmap_get(&ix->map, k);
        key_free(k, buf);
        return l;
}

void state_allocs_by_job_foreach(const struct state_store *st, const char *ns, const char *job_id,
                                 bool (*cb)(void *arg, const struct alloc *a), void *arg) {
        list_foreach(job_list(st->allocs_by_job, ns, job_id), (bool (*)(void *, const void *))cb, arg);
}

void state_evals_by_job_foreach(const struct state_store *st, const char *ns, const char *job_id,
                                bool (*cb)(void *arg, const struct eval *e), void *arg) {
        list_foreach(job_list(st->evals_by_job, ns, job_id), (bool (*)(void *, const void *))cb, arg);
}

struct alloc *const *state_allocs_by_node(const struct state_store *st, const char *node_id, size_t *ret_n) {
        const struct list *l = index_get(st->allocs_by_node, node_id);
        *ret_n = l ? l->n : 0;
        return (struct alloc *const *)list_items(l);
}

struct state_usage state_node_usage(const struct state_store *st, const char *node_id) {
        const struct list *l = index_get(st->allocs_by_node, node_id);
        return l ? l->usage : (struct state_usage){0};
}

struct state_usage state_node_usage_h(const struct state_store *st, const char *node_id, uint64_t hash) {
        const struct pmap *m = &st->allocs_by_node->map;
        if (!pmap_keyed_by(m, hashmap_hash))
                return state_node_usage(st, node_id);
        const struct list *l = node_id ? pmap_get_hashed(m, node_id, hash) : NULL;
        return l ? l->usage : (struct state_usage){0};
}

const struct node *state_node_with_usage_h(const struct state_store *st, const char *node_id, uint64_t hash,
                                           struct state_usage *ret_usage) {
        const struct pmap *m = &st->allocs_by_node->map;
        const struct list *l = NULL;
        if (node_id)
                l = pmap_keyed_by(m, hashmap_hash) ? pmap_get_hashed(m, node_id, hash) : pmap_get(m, node_id);
        *ret_usage = l ? l->usage : (struct state_usage){0};
        return l && l->node_known ? l->node : state_node_get(st, node_id);
}

size_t state_job_live_allocs(const struct state_store *st, const char *ns, const char *job_id) {
        const struct list *l = job_list(st->allocs_by_job, ns, job_id);
        return l ? (size_t)l->usage.live : 0;
}

struct alloc *const *state_allocs_by_job(const struct state_store *st, const char *ns, const char *job_id,
                                         size_t *ret_n) {
        const struct list *l = job_list(st->allocs_by_job, ns, job_id);
        *ret_n = l ? l->n : 0;
        return (struct alloc *const *)list_items(l);
}

static void summary_count(struct state_group_summary *s, const struct alloc *a) {
        switch (a->client_status) {
        case ALLOC_CLIENT_PENDING:
                s->starting++;
                break;
        case ALLOC_CLIENT_RUNNING:
                s->running++;
                break;
        case ALLOC_CLIENT_COMPLETE:
                s->complete++;
                break;
        case ALLOC_CLIENT_FAILED:
                s->failed++;
                break;
        case ALLOC_CLIENT_LOST:
                s->lost++;
                break;
        default:
                s->unknown++;
                break;
        }
}

int state_job_summary(const struct state_store *st, const struct job *j, struct state_group_summary *ret) {
        memset(ret, 0, j->n_groups * sizeof(*ret));
        if (!j->n_groups)
                return 0;
        /* group name -> its summary; one group needs no index */
        _cleanup_(hashmap_destroyp) struct hashmap *by_name = NULL;
        if (j->n_groups > 1) {
                if (!(by_name = hashmap_create(0)) || hashmap_reserve(by_name, j->n_groups) < 0)
                        return -ENOMEM;
                for (size_t g = 0; g < j->n_groups; g++)
                        if (hashmap_put(by_name, j->groups[g].name, &ret[g], NULL) < 0)
                                return -ENOMEM;
        }
        const struct list *l = job_list(st->allocs_by_job, j->namespace, j->id);
        for (size_t i = 0; l && i < l->n; i++) {
                const struct alloc *a = list_items(l)[i];
                if (!a->task_group)
                        continue;
                struct state_group_summary *s = NULL;
                if (by_name)
                        s = hashmap_get(by_name, a->task_group);
                else if (strcmp(a->task_group, j->groups[0].name) == 0)
                        s = &ret[0];
                if (s) /* not a group of an older version the job no longer has */
                        summary_count(s, a);
        }
        const struct list *el = job_list(st->evals_by_job, j->namespace, j->id);
        const struct eval *newest = NULL;
        for (size_t i = 0; el && i < el->n; i++) {
                const struct eval *e = list_items(el)[i];
                if (json_is_object(e->queued_allocations) && (!newest || e->modify_index > newest->modify_index))
                        newest = e;
        }
        for (size_t g = 0; newest && g < j->n_groups; g++)
                ret[g].queued = (int)json_integer_value(json_object_get(newest->queued_allocations, j->groups[g].name));
        return 0;
}

/* ---- raw puts (restore, and the write paths below) ------------------------------------- */

int state_raw_put_job(struct state_store *st, struct job *j) {
        int r = table_mut(&st->jobs);
        if (r < 0)
                return r;
        char buf[KEYBUF];
        char *k = job_key(buf, j->namespace, j->id);
        if (!k)
                return -ENOMEM;
        void *old = NULL;
        job_ref(j);
        r = pmap_put(&st->jobs->map, k, j, &old);
        key_free(k, buf);
        if (r < 0) {
                job_unref(j);
                return r;
        }
        if (r == 1)
                job_unref(old);
        return 0;
}

/* The node's list of allocs_by_node made this version's own, for a write of the node
 * that then sets its link (*ret NULL: the node has no allocs). Called before the
 * node's table changes, so that a failure leaves both as they were. */
static int node_list_mut(struct state_store *st, const char *id, struct list **ret) {
        *ret = NULL;
        return index_get(st->allocs_by_node, id) ? index_list_mut(&st->allocs_by_node, id, false, ret) : 0;
}

static void node_list_link(struct list *l, const struct node *n) {
        if (l) {
                l->node = n;
                l->node_known = true;
        }
}

int state_raw_put_node(struct state_store *st, struct node *n) {
        struct list *l;
        int r = table_mut(&st->nodes);
        if (r == 0)
                r = node_list_mut(st, n->id, &l);
        if (r < 0)
                return r;
        freed_note(st, n->id); /* its resources or status may have changed */
        void *old = NULL;
        node_ref(n);
        r = pmap_put(&st->nodes->map, n->id, n, &old);
        if (r < 0) {
                node_unref(n);
                return r;
        }
        node_list_link(l, n);
        if (r == 1)
                node_unref(old);
        return 0;
}

/* Move obj between index lists when its key changed, else swap in place. */
static int reindex(struct index **ip, const char *old_key, const void *old, const char *key, void *obj) {
        if (old && old_key && key && strcmp(old_key, key) == 0)
                return index_swap(ip, key, old, obj);
        int r = 0;
        if (old && old_key)
                r = index_del(ip, old_key, old);
        if (r == 0 && key)
                r = index_add(ip, key, obj);
        return r;
}

/* Writing an object that indexes point at, in two steps so that only the index
 * updates in between can fail. Begin: the entry of id made this version's own in one
 * walk of the table (a new id gets an empty entry): *slot, and *ret_old the stored
 * object (NULL: the id is new). Finish (r = the indexes' result): on success the slot
 * takes obj and drops old; on failure a new id's empty entry is removed again (its
 * path is this version's by then, so that cannot fail). */
static int table_put_begin(struct table *t, const char *id, void ***slot, void **ret_old) {
        int r = pmap_upsert_slot(&t->map, id, slot);
        if (r < 0)
                return r;
        *ret_old = **slot;
        return 0;
}

static void table_put_finish(struct table *t, const char *id, void *obj, void *old, void **slot, int r) {
        if (r < 0) {
                if (!old)
                        pmap_remove(&t->map, id, NULL);
                return;
        }
        t->ops->ref(obj);
        *slot = obj;
        if (old)
                t->ops->unref(old);
}

int state_raw_put_alloc(struct state_store *st, struct alloc *a) {
        struct state_alloc_write w;
        int r = state_raw_put_alloc_begin(st, a->id, &w);
        return r < 0 ? r : state_raw_put_alloc_end(st, a, &w);
}

int state_raw_put_alloc_begin(struct state_store *st, const char *id, struct state_alloc_write *ret) {
        int r = table_mut(&st->allocs);
        if (r < 0)
                return r;
        void *old = NULL;
        r = table_put_begin(st->allocs, id, &ret->slot, &old);
        if (r < 0)
                return r;
        ret->id = id;
        ret->old = old;
        return 0;
}

/* A list of allocs_by_node that an alloc write just made (its first alloc) learns its
 * node (node_list_link). reindex with a key leaves the key's list as the index's last
 * (index_set_cur; none for a long key): no walk of the index. */
static int link_new_list(struct state_store *st, const char *node_id) {
        if (!node_id)
                return 0;
        struct list *l = st->allocs_by_node->cur;
        int r = l ? 0 : index_list_mut(&st->allocs_by_node, node_id, false, &l);
        if (r == 0 && l && !l->node_known)
                node_list_link(l, pmap_get(&st->nodes->map, node_id));
        return r;
}

int state_raw_put_alloc_end(struct state_store *st, struct alloc *a, const struct state_alloc_write *w) {
        const struct alloc *old = w->old;
        if (!a) {
                table_put_finish(st->allocs, w->id, NULL, w->old, w->slot, -ECANCELED);
                return 0;
        }
        char b1[KEYBUF], b2[KEYBUF];
        char *k_new = job_key(b1, a->namespace, a->job_id);
        char *k_old = old ? job_key(b2, old->namespace, old->job_id) : NULL;
        int r = 0;
        if (!k_new || (old && !k_old))
                r = -ENOMEM;
        if (r == 0 && alloc_write_frees(old, a))
                freed_note(st, old->node_id);
        if (r == 0)
                r = reindex(&st->allocs_by_node, old ? old->node_id : NULL, old, a->node_id, a);
        if (r == 0)
                r = link_new_list(st, a->node_id);
        if (r == 0)
                r = reindex(&st->allocs_by_job, k_old, old, k_new, a);
        if (r == 0)
                r = reindex(&st->allocs_by_eval, old ? old->eval_id : NULL, old, a->eval_id, a);
        table_put_finish(st->allocs, w->id, a, w->old, w->slot, r);
        if (k_new)
                key_free(k_new, b1);
        if (k_old)
                key_free(k_old, b2);
        return r;
}

int state_raw_put_eval(struct state_store *st, struct eval *e) {
        int r = table_mut(&st->evals);
        if (r < 0)
                return r;
        void **slot = NULL;
        void *o = NULL;
        if ((r = table_put_begin(st->evals, e->id, &slot, &o)) < 0)
                return r;
        const struct eval *old = o;
        char b1[KEYBUF], b2[KEYBUF];
        char *k_new = job_key(b1, e->namespace, e->job_id);
        char *k_old = old ? job_key(b2, old->namespace, old->job_id) : NULL;
        if (!k_new || (old && !k_old))
                r = -ENOMEM;
        else
                r = reindex(&st->evals_by_job, k_old, old, e->job_id ? k_new : NULL, e);
        table_put_finish(st->evals, e->id, e, o, slot, r);
        if (k_new)
                key_free(k_new, b1);
        if (k_old)
                key_free(k_old, b2);
        return r;
}

int state_raw_del_job(struct state_store *st, const char *ns, const char *id) {
        int r = table_mut(&st->jobs);
        if (r < 0)
                return r;
        char buf[KEYBUF];
        char *k = job_key(buf, ns, id);
        if (!k)
                return -ENOMEM;
        void *old = NULL;
        r = pmap_remove(&st->jobs->map, k, &old);
        key_free(k, buf);
        if (r == 0)
                job_unref(old);
        return r;
}

int state_raw_del_node(struct state_store *st, const char *id) {
        struct list *l = NULL;
        int r = table_mut(&st->nodes);
        void *old = NULL;
        if (r == 0 && pmap_get(&st->nodes->map, id))
                r = node_list_mut(st, id, &l);
        if (r == 0)
                r = pmap_remove(&st->nodes->map, id, &old);
        if (r == 0) {
                node_list_link(l, NULL);
                freed_note(st, id);
                node_unref(old);
        }
        return r;
}

int state_raw_del_alloc(struct state_store *st, const char *id) {
        struct alloc *old = pmap_get(&st->allocs->map, id);
        if (!old)
                return -ENOENT;
        int r = table_mut(&st->allocs);
        void **slot;
        if (r == 0) /* make the entry's path this version's: the removal below cannot fail */
                r = pmap_get_mut(&st->allocs->map, id, &slot);
        if (r < 0)
                return r;
        char buf[KEYBUF];
        char *k = job_key(buf, old->namespace, old->job_id);
        if (!k)
                return -ENOMEM;
        if (alloc_write_frees(old, NULL))
                freed_note(st, old->node_id);
        if (old->node_id)
                r = index_del(&st->allocs_by_node, old->node_id, old);
        if (r == 0)
                r = index_del(&st->allocs_by_job, k, old);
        if (r == 0 && old->eval_id)
                r = index_del(&st->allocs_by_eval, old->eval_id, old);
        key_free(k, buf);
        if (r < 0)
                return r;
        pmap_remove(&st->allocs->map, id, NULL);
        return 0;
}

int state_raw_del_eval(struct state_store *st, const char *id) {
        struct eval *old = pmap_get(&st->evals->map, id);
        if (!old)
                return -ENOENT;
        int r = table_mut(&st->evals);
        void **slot;
        if (r == 0)
                r = pmap_get_mut(&st->evals->map, id, &slot);
        if (r < 0)
                return r;
        if (old->job_id) {
                char buf[KEYBUF];
                char *k = job_key(buf, old->namespace, old->job_id);
                if (!k)
                        return -ENOMEM;
                r = index_del(&st->evals_by_job, k, old);
                key_free(k, buf);
                if (r < 0)
                        return r;
        }
        pmap_remove(&st->evals->map, id, NULL);
        return 0;
}

const struct state_sched_config *state_sched_config(const struct state_store *st) {
        return &st->sched_config;
}

int state_set_sched_config(struct state_store *st, uint64_t index, const struct state_sched_config *cfg,
                           bool use_cas, uint64_t cas) {
        if (st->snapshot)
                return -EROFS;
        if (cfg->algorithm < 0 || cfg->algorithm >= STATE_SCHED_ALGORITHMS)
                return -EINVAL;
        if (use_cas && cas != st->sched_config.modify_index)
                return -ECANCELED;
        uint64_t created = st->sched_config.create_index ? st->sched_config.create_index : index;
        st->sched_config = *cfg;
        st->sched_config.create_index = created;
        st->sched_config.modify_index = index;
        if (index > st->latest)
                st->latest = index;
        return 0;
}

void state_raw_bump(struct state_store *st, enum state_table t, uint64_t index) {
        bump(st, t, index);
}

void state_raw_bump_latest(struct state_store *st, uint64_t index) {
        if (index > st->latest)
                st->latest = index;
}

struct deploy_tables **state_raw_deploy(struct state_store *st) {
        return &st->deploy;
}

struct acl_tables **state_raw_acl(struct state_store *st) {
        return &st->acl;
}

struct scaling_table **state_raw_scaling(const struct state_store *st) {
        return (struct scaling_table **)&st->scaling;
}

struct version_table **state_raw_versions(const struct state_store *st) {
        return (struct version_table **)&st->versions;
}
