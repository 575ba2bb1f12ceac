/* pmap.c - persistent hash array mapped trie (see pmap.h).
 *
 * A node holds up to 32 slots, present ones packed in bit order (`bitmap` says
 * which 5-bit hash fragments are present). A slot is a child node or a leaf; a
 * leaf pointer carries tag bit 0 set. Past the 64 bits of the hash, keys that
 * share the whole hash go into a collision node searched linearly.
 *
 * Ownership: every slot (and the map's root) holds one reference on what it
 * points to. A node with one reference that was reached through nodes with one
 * reference each is exclusively ours and is changed in place; a shared node is
 * copied first (own()), which gives each of its children one more reference, so
 * the copying carries on down exactly the path that is written.
 */
#include "common/pmap.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/hashmap.h"

#define BITS 5
#define MASK 31u
#define HASH_BITS 64

struct pmap_leaf {
        int refcount;
        uint64_t hash;
        void *value;
        char key[];
};

struct pmap_node {
        int refcount;
        uint32_t bitmap; /* trie node: which hash fragments have a slot */
        uint16_t n;      /* slots in use */
        uint16_t cap;    /* slots allocated (doubled when full; a copy keeps its original's) */
        bool collision;  /* every slot is a leaf with the same full hash */
        void *slots[];
};

#define IS_LEAF(p) (((uintptr_t)(p)&1u) != 0)
#define LEAF(p) ((struct pmap_leaf *)((uintptr_t)(p) & ~(uintptr_t)1u))
#define TAG(l) ((void *)((uintptr_t)(l) | 1u))

uint64_t (*pmap_hash)(const char *key) = hashmap_hash;

static inline uint64_t path_of(const struct pmap *m, const char *key) {
        return m->path ? m->path(key) : pmap_hash(key);
}

static inline unsigned frag(uint64_t h, unsigned shift) {
        return (unsigned)(h >> shift) & MASK;
}

/* The bits set in x. Without -mpopcnt (the packages target every x86-64),
 * __builtin_popcount is a call into libgcc; the bit-parallel count is a dozen inline
 * instructions and no call. The lookup (find_h) is also built for the popcnt
 * instruction and chosen at load time where the CPU has it (an ifunc). */
static inline __attribute__((always_inline)) unsigned popcount32(uint32_t x, bool hw) {
#if defined(__x86_64__) && !defined(__POPCNT__)
        if (!hw) {
                x -= (x >> 1) & 0x55555555u;
                x = (x & 0x33333333u) + ((x >> 2) & 0x33333333u);
                x = (x + (x >> 4)) & 0x0f0f0f0fu;
                return (x * 0x01010101u) >> 24;
        }
#endif
        (void)hw;
        return (unsigned)__builtin_popcount(x);
}

static inline __attribute__((always_inline)) unsigned slot_hw(uint32_t bitmap, unsigned bit, bool hw) {
        return popcount32(bitmap & ((1u << bit) - 1u), hw);
}

static inline unsigned slot_of(uint32_t bitmap, unsigned bit) {
        return slot_hw(bitmap, bit, false);
}

static void node_unref(const struct pmap *m, struct pmap_node *n);

static void child_ref(void *p) {
        if (IS_LEAF(p))
                __atomic_add_fetch(&LEAF(p)->refcount, 1, __ATOMIC_RELAXED);
        else
                __atomic_add_fetch(&((struct pmap_node *)p)->refcount, 1, __ATOMIC_RELAXED);
}

static void leaf_unref(const struct pmap *m, struct pmap_leaf *l) {
        if (__atomic_sub_fetch(&l->refcount, 1, __ATOMIC_ACQ_REL) > 0)
                return;
        if (m->unref_value)
                m->unref_value(l->value);
        free(l);
}

static void child_unref(const struct pmap *m, void *p) {
        if (IS_LEAF(p))
                leaf_unref(m, LEAF(p));
        else
                node_unref(m, p);
}

static void node_unref(const struct pmap *m, struct pmap_node *n) {
        if (__atomic_sub_fetch(&n->refcount, 1, __ATOMIC_ACQ_REL) > 0)
                return;
        for (unsigned i = 0; i < n->n; i++)
                child_unref(m, n->slots[i]);
        free(n);
}

static struct pmap_node *node_new(unsigned cap) {
        cap = cap ? cap : 1;
        struct pmap_node *n = malloc(sizeof(*n) + cap * sizeof(n->slots[0]));
        if (n) {
                n->refcount = 1;
                n->bitmap = 0;
                n->n = 0;
                n->cap = (uint16_t)cap;
                n->collision = false;
        }
        return n;
}

static struct pmap_leaf *leaf_new(const char *key, size_t len, uint64_t hash, void *value) {
        struct pmap_leaf *l = malloc(sizeof(*l) + len + 1);
        if (l) {
                l->refcount = 1;
                l->hash = hash;
                l->value = value;
                memcpy(l->key, key, len + 1);
        }
        return l;
}

/* Make the node *sp points at exclusively ours (copy it when shared; the copy
 * takes the slot's reference from the original). */
static int own(const struct pmap *m, void **sp) {
        struct pmap_node *n = *sp;
        if (__atomic_load_n(&n->refcount, __ATOMIC_ACQUIRE) == 1)
                return 0;
        struct pmap_node *c = node_new(n->cap); /* the spare slots too: a write follows */
        if (!c)
                return -ENOMEM;
        c->bitmap = n->bitmap;
        c->n = n->n;
        c->collision = n->collision;
        for (unsigned i = 0; i < n->n; i++) {
                c->slots[i] = n->slots[i];
                child_ref(c->slots[i]);
        }
        node_unref(m, n);
        *sp = c;
        return 0;
}

/* Room for one more slot at position `at` in the owned node *sp: a full node doubles
 * (up to 32 slots in the trie), not a realloc per insert. */
static int grow(void **sp, unsigned at) {
        struct pmap_node *n = *sp, *g = n;
        if (n->n == n->cap) {
                size_t cap = (size_t)n->cap * 2;
                if (!n->collision && cap > 32)
                        cap = 32;
                if (cap > UINT16_MAX)
                        return -ENOMEM; /* 65,535 keys sharing one 64-bit hash */
                g = realloc(n, sizeof(*n) + cap * sizeof(n->slots[0]));
                if (!g)
                        return -ENOMEM;
                g->cap = (uint16_t)cap;
        }
        memmove(&g->slots[at + 1], &g->slots[at], (g->n - at) * sizeof(g->slots[0]));
        g->n++;
        *sp = g;
        return 0;
}

static void remove_slot(struct pmap_node *n, unsigned at) {
        memmove(&n->slots[at], &n->slots[at + 1], (n->n - at - 1) * sizeof(n->slots[0]));
        n->n--;
}

/* A subtree at `shift` holding leaves a and b (distinct keys; it takes both references). */
static struct pmap_node *pair(struct pmap_leaf *a, struct pmap_leaf *b, unsigned shift) {
        if (shift >= HASH_BITS) {
                struct pmap_node *c = node_new(2);
                if (!c)
                        return NULL;
                c->collision = true;
                c->slots[0] = TAG(a);
                c->slots[1] = TAG(b);
                c->n = 2;
                return c;
        }
        unsigned fa = frag(a->hash, shift), fb = frag(b->hash, shift);
        struct pmap_node *n = node_new(fa == fb ? 1 : 2);
        if (!n)
                return NULL;
        if (fa == fb) {
                struct pmap_node *sub = pair(a, b, shift + BITS);
                if (!sub) {
                        free(n);
                        return NULL;
                }
                n->bitmap = 1u << fa;
                n->slots[0] = sub;
                n->n = 1;
                return n;
        }
        n->bitmap = (1u << fa) | (1u << fb);
        n->slots[fa < fb ? 0 : 1] = TAG(a);
        n->slots[fa < fb ? 1 : 0] = TAG(b);
        n->n = 2;
        return n;
}

/* Put `leaf` (our reference) into the subtree at *sp. 0 inserted, 1 replaced (the
 * old leaf to *ret_old with the slot's reference), -ENOMEM (leaf not linked). */
static int ins(const struct pmap *m, void **sp, unsigned shift, struct pmap_leaf *leaf, struct pmap_leaf **ret_old) {
        int r = own(m, sp);
        if (r < 0)
                return r;
        struct pmap_node *n = *sp;
        if (n->collision) {
                for (unsigned i = 0; i < n->n; i++)
                        if (strcmp(LEAF(n->slots[i])->key, leaf->key) == 0) {
                                *ret_old = LEAF(n->slots[i]);
                                n->slots[i] = TAG(leaf);
                                return 1;
                        }
                r = grow(sp, ((struct pmap_node *)*sp)->n);
                if (r < 0)
                        return r;
                n = *sp;
                n->slots[n->n - 1] = TAG(leaf);
                return 0;
        }
        unsigned bit = frag(leaf->hash, shift), at = slot_of(n->bitmap, bit);
        if (!(n->bitmap & (1u << bit))) {
                r = grow(sp, at);
                if (r < 0)
                        return r;
                n = *sp;
                n->bitmap |= 1u << bit;
                n->slots[at] = TAG(leaf);
                return 0;
        }
        if (!IS_LEAF(n->slots[at]))
                return ins(m, &n->slots[at], shift + BITS, leaf, ret_old);
        struct pmap_leaf *old = LEAF(n->slots[at]);
        if (old->hash == leaf->hash && strcmp(old->key, leaf->key) == 0) {
                *ret_old = old;
                n->slots[at] = TAG(leaf);
                return 1;
        }
        struct pmap_node *sub = pair(old, leaf, shift + BITS);
        if (!sub)
                return -ENOMEM;
        n->slots[at] = sub;
        return 0;
}

/* Remove key (known to be present) from the subtree at *sp. The emptied node is
 * freed (*sp = NULL); a child left with one leaf is folded into its slot. */
static int rem(const struct pmap *m, void **sp, unsigned shift, uint64_t hash, const char *key,
               struct pmap_leaf **ret_old) {
        int r = own(m, sp);
        if (r < 0)
                return r;
        struct pmap_node *n = *sp;
        unsigned at;
        if (n->collision) {
                for (at = 0; at < n->n && strcmp(LEAF(n->slots[at])->key, key) != 0; at++)
                        ;
                if (at == n->n)
                        return -ENOENT;
                *ret_old = LEAF(n->slots[at]);
                remove_slot(n, at);
        } else {
                unsigned bit = frag(hash, shift);
                if (!(n->bitmap & (1u << bit)))
                        return -ENOENT;
                at = slot_of(n->bitmap, bit);
                if (IS_LEAF(n->slots[at])) {
                        struct pmap_leaf *l = LEAF(n->slots[at]);
                        if (l->hash != hash || strcmp(l->key, key) != 0)
                                return -ENOENT;
                        *ret_old = l;
                        remove_slot(n, at);
                        n->bitmap &= ~(1u << bit);
                } else {
                        r = rem(m, &n->slots[at], shift + BITS, hash, key, ret_old);
                        if (r < 0)
                                return r;
                        struct pmap_node *child = n->slots[at];
                        if (!child) {
                                remove_slot(n, at);
                                n->bitmap &= ~(1u << bit);
                        } else if (child->n == 1 && IS_LEAF(child->slots[0])) {
                                n->slots[at] = child->slots[0]; /* the leaf keeps its one reference */
                                free(child);
                        }
                }
        }
        if (n->n == 0) {
                free(n);
                *sp = NULL;
        }
        return 0;
}

static inline __attribute__((always_inline)) struct pmap_leaf *find_body(const struct pmap *m, const char *key,
                                                                         uint64_t h, bool hw) {
        const void *p = m->root;
        unsigned shift = 0;
        while (p) {
                if (IS_LEAF(p)) {
                        const struct pmap_leaf *l = LEAF(p);
                        return l->hash == h && strcmp(l->key, key) == 0 ? (struct pmap_leaf *)l : NULL;
                }
                const struct pmap_node *n = p;
                if (n->collision) {
                        for (unsigned i = 0; i < n->n; i++)
                                if (strcmp(LEAF(n->slots[i])->key, key) == 0)
                                        return LEAF(n->slots[i]);
                        return NULL;
                }
                unsigned bit = frag(h, shift);
                if (!(n->bitmap & (1u << bit)))
                        return NULL;
                p = n->slots[slot_hw(n->bitmap, bit, hw)];
                shift += BITS;
        }
        return NULL;
}

/* Sanitizer builds (ASan and TSan define these) keep the plain lookup: an ifunc resolver
 * runs before their runtime is set up. */
#if defined(__x86_64__) && !defined(__POPCNT__) && defined(__GNUC__) && !defined(__clang__) && \
    !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
static struct pmap_leaf *find_sw(const struct pmap *m, const char *key, uint64_t h) {
        return find_body(m, key, h, false);
}
__attribute__((target("popcnt"))) static struct pmap_leaf *find_popcnt(const struct pmap *m, const char *key,
                                                                       uint64_t h) {
        return find_body(m, key, h, true);
}
typedef struct pmap_leaf *find_fn(const struct pmap *m, const char *key, uint64_t h);
/* Runs while the dynamic linker relocates, before a sanitizer's runtime is set up: not
 * instrumented (its read of libgcc's CPU model would go to unmapped shadow memory). */
__attribute__((no_sanitize_address, no_sanitize_undefined)) static find_fn *resolve_find(void) {
        __builtin_cpu_init();
        return __builtin_cpu_supports("popcnt") ? find_popcnt : find_sw;
}
static struct pmap_leaf *find_h(const struct pmap *m, const char *key, uint64_t h)
    __attribute__((ifunc("resolve_find")));
#else
static struct pmap_leaf *find_h(const struct pmap *m, const char *key, uint64_t h) {
        return find_body(m, key, h, true);
}
#endif

static struct pmap_leaf *find(const struct pmap *m, const char *key) {
        return find_h(m, key, path_of(m, key));
}

void pmap_init(struct pmap *m, void (*ref_value)(void *value), void (*unref_value)(void *value)) {
        *m = (struct pmap){.ref_value = ref_value, .unref_value = unref_value};
}

void pmap_set_path(struct pmap *m, uint64_t (*path)(const char *key)) {
        if (!m->root)
                m->path = path;
}

struct pmap pmap_share(const struct pmap *m) {
        if (m->root)
                child_ref(m->root);
        return *m;
}

void pmap_release(struct pmap *m) {
        if (m->root)
                node_unref(m, m->root);
        m->root = NULL;
        m->count = 0;
}

void *pmap_get(const struct pmap *m, const char *key) {
        const struct pmap_leaf *l = find(m, key);
        return l ? l->value : NULL;
}

void *pmap_get_hashed(const struct pmap *m, const char *key, uint64_t hash) {
        const struct pmap_leaf *l = find_h(m, key, hash);
        return l ? l->value : NULL;
}

int pmap_put(struct pmap *m, const char *key, void *value, void **ret_old) {
        struct pmap_leaf *l = leaf_new(key, strlen(key), path_of(m, key), value);
        if (!l)
                return -ENOMEM;
        if (!m->root) {
                struct pmap_node *n = node_new(1);
                if (!n) {
                        free(l);
                        return -ENOMEM;
                }
                n->bitmap = 1u << frag(l->hash, 0);
                n->slots[0] = TAG(l);
                n->n = 1;
                m->root = n;
                m->count = 1;
                return 0;
        }
        void *root = m->root;
        struct pmap_leaf *old = NULL;
        int r = ins(m, &root, 0, l, &old);
        m->root = root; /* copies made before a failure hold the same content */
        if (r < 0) {
                free(l);
                return r;
        }
        if (r == 0) {
                m->count++;
                return 0;
        }
        if (ret_old) {
                if (m->ref_value)
                        m->ref_value(old->value);
                *ret_old = old->value;
        }
        leaf_unref(m, old);
        return 1;
}

int pmap_remove(struct pmap *m, const char *key, void **ret_old) {
        if (!find(m, key))
                return -ENOENT; /* known absent: copy nothing */
        void *root = m->root;
        struct pmap_leaf *old = NULL;
        int r = rem(m, &root, 0, path_of(m, key), key, &old);
        m->root = root;
        if (r < 0)
                return r;
        m->count--;
        if (ret_old) {
                if (m->ref_value)
                        m->ref_value(old->value);
                *ret_old = old->value;
        }
        leaf_unref(m, old);
        return 0;
}

/* Make the leaf the slot *sp holds exclusively ours (a copy takes a reference of its own
 * on the value) and give the address of its value. */
static int leaf_own(const struct pmap *m, void **sp, void ***ret) {
        struct pmap_leaf *l = LEAF(*sp);
        if (__atomic_load_n(&l->refcount, __ATOMIC_ACQUIRE) > 1) {
                struct pmap_leaf *c = leaf_new(l->key, strlen(l->key), l->hash, l->value);
                if (!c)
                        return -ENOMEM;
                if (m->ref_value)
                        m->ref_value(c->value);
                *sp = TAG(c);
                leaf_unref(m, l);
                l = c;
        }
        *ret = &l->value;
        return 0;
}

/* The leaf slot of key in the subtree at *sp, made exclusively ours. */
static int mut(const struct pmap *m, void **sp, unsigned shift, uint64_t hash, const char *key, void ***ret) {
        int r = own(m, sp);
        if (r < 0)
                return r;
        struct pmap_node *n = *sp;
        if (n->collision) {
                for (unsigned i = 0; i < n->n; i++)
                        if (strcmp(LEAF(n->slots[i])->key, key) == 0)
                                return leaf_own(m, &n->slots[i], ret);
                return -ENOENT;
        }
        unsigned bit = frag(hash, shift);
        if (!(n->bitmap & (1u << bit)))
                return -ENOENT;
        void **slot = &n->slots[slot_of(n->bitmap, bit)];
        if (!IS_LEAF(*slot))
                return mut(m, slot, shift + BITS, hash, key, ret);
        if (LEAF(*slot)->hash != hash || strcmp(LEAF(*slot)->key, key) != 0)
                return -ENOENT;
        return leaf_own(m, slot, ret);
}

/* As mut, and a key not found gets a new leaf holding NULL: 0 found, 1 made, -ENOMEM. */
static int upsert(const struct pmap *m, void **sp, unsigned shift, uint64_t hash, const char *key, size_t len,
                  void ***ret) {
        int r = own(m, sp);
        if (r < 0)
                return r;
        struct pmap_node *n = *sp;
        unsigned at = n->n, bit = 0;
        if (n->collision) {
                for (unsigned i = 0; i < n->n; i++)
                        if (strcmp(LEAF(n->slots[i])->key, key) == 0)
                                return leaf_own(m, &n->slots[i], ret);
        } else {
                bit = frag(hash, shift);
                at = slot_of(n->bitmap, bit);
                if (n->bitmap & (1u << bit)) {
                        void **slot = &n->slots[at];
                        if (!IS_LEAF(*slot))
                                return upsert(m, slot, shift + BITS, hash, key, len, ret);
                        struct pmap_leaf *old = LEAF(*slot);
                        if (old->hash == hash && strcmp(old->key, key) == 0)
                                return leaf_own(m, slot, ret);
                        struct pmap_leaf *l = leaf_new(key, len, hash, NULL);
                        struct pmap_node *sub = l ? pair(old, l, shift + BITS) : NULL;
                        if (!sub) {
                                free(l);
                                return -ENOMEM;
                        }
                        *slot = sub; /* old's reference moved into sub */
                        *ret = &l->value;
                        return 1;
                }
        }
        struct pmap_leaf *l = leaf_new(key, len, hash, NULL);
        if (!l || (r = grow(sp, at)) < 0) {
                free(l);
                return -ENOMEM;
        }
        n = *sp;
        if (!n->collision)
                n->bitmap |= 1u << bit;
        n->slots[at] = TAG(l);
        *ret = &l->value;
        return 1;
}

int pmap_upsert_slot(struct pmap *m, const char *key, void ***ret_slot) {
        void *root = m->root;
        if (!root && !(root = node_new(0)))
                return -ENOMEM;
        int r = upsert(m, &root, 0, path_of(m, key), key, strlen(key), ret_slot);
        if (r < 0 && ((struct pmap_node *)root)->n == 0) {
                free(root);
                root = NULL;
        }
        m->root = root; /* copies made before a failure hold the same content */
        if (r == 1)
                m->count++;
        return r;
}

int pmap_get_mut(struct pmap *m, const char *key, void ***ret_slot) {
        if (!find(m, key))
                return -ENOENT;
        void *root = m->root;
        int r = mut(m, &root, 0, path_of(m, key), key, ret_slot);
        m->root = root;
        return r;
}

static bool walk(const void *p, bool (*cb)(void *arg, const char *key, void *value), void *arg) {
        if (IS_LEAF(p))
                return cb(arg, LEAF(p)->key, LEAF(p)->value);
        const struct pmap_node *n = p;
        for (unsigned i = 0; i < n->n; i++)
                if (!walk(n->slots[i], cb, arg))
                        return false;
        return true;
}

void pmap_foreach(const struct pmap *m, bool (*cb)(void *arg, const char *key, void *value), void *arg) {
        if (m->root)
                walk(m->root, cb, arg);
}
