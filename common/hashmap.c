/* hashmap.c - see hashmap.h. */
#include "common/hashmap.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct slot {
        uint64_t hash; /* 0 = empty */
        const char *key;
        void *value;
};

struct hashmap {
        struct slot *slots;
        size_t cap; /* power of two, or 0 */
        size_t count;
        bool own_keys;
};

static inline uint64_t mix(uint64_t h) {
        h ^= h >> 33;
        h *= UINT64_C(0xff51afd7ed558ccd);
        h ^= h >> 33;
        h *= UINT64_C(0xc4ceb9fe1a85ec53);
        h ^= h >> 33;
        return h;
}

uint64_t hashmap_hash(const char *key) {
        size_t len = strlen(key);
        uint64_t h = UINT64_C(0x9e3779b97f4a7c15) ^ len;
        const unsigned char *p = (const unsigned char *)key;
        while (len >= 8) {
                uint64_t w;
                memcpy(&w, p, 8);
                h = (h ^ mix(w)) * UINT64_C(0x100000001b3);
                p += 8;
                len -= 8;
        }
        uint64_t w = 0;
        memcpy(&w, p, len);
        h = mix(h ^ mix(w ^ 0x5bd1e995));
        return h ? h : 1;
}

struct hashmap *hashmap_create(unsigned flags) {
        struct hashmap *m = calloc(1, sizeof(*m));
        if (m)
                m->own_keys = flags & HASHMAP_OWN_KEYS;
        return m;
}

static void free_keys(struct hashmap *m) {
        if (!m->own_keys)
                return;
        for (size_t i = 0; i < m->cap; i++)
                if (m->slots[i].hash)
                        free((char *)m->slots[i].key);
}

struct hashmap *hashmap_destroy(struct hashmap *m) {
        if (!m)
                return NULL;
        free_keys(m);
        free(m->slots);
        free(m);
        return NULL;
}

static struct slot *find(const struct hashmap *m, const char *key, uint64_t h) {
        if (!m->cap)
                return NULL;
        size_t mask = m->cap - 1;
        for (size_t i = h & mask;; i = (i + 1) & mask) {
                struct slot *s = &m->slots[i];
                if (!s->hash)
                        return NULL;
                if (s->hash == h && strcmp(s->key, key) == 0)
                        return s;
        }
}

static void insert_slot(struct slot *slots, size_t cap, struct slot s) {
        size_t mask = cap - 1;
        size_t i = s.hash & mask;
        while (slots[i].hash)
                i = (i + 1) & mask;
        slots[i] = s;
}

static int resize(struct hashmap *m, size_t cap) {
        struct slot *n = calloc(cap, sizeof(*n));
        if (!n)
                return -ENOMEM;
        for (size_t i = 0; i < m->cap; i++)
                if (m->slots[i].hash)
                        insert_slot(n, cap, m->slots[i]);
        free(m->slots);
        m->slots = n;
        m->cap = cap;
        return 0;
}

int hashmap_reserve(struct hashmap *m, size_t n) {
        size_t cap = m->cap ? m->cap : 16;
        while (n * 4 > cap * 3)
                cap *= 2;
        return cap == m->cap ? 0 : resize(m, cap);
}

int hashmap_put(struct hashmap *m, const char *key, void *value, void **ret_old) {
        uint64_t h = hashmap_hash(key);
        struct slot *s = find(m, key, h);
        if (s) {
                if (ret_old)
                        *ret_old = s->value;
                s->value = value;
                if (!m->own_keys)
                        s->key = key;
                return 1;
        }
        int r = hashmap_reserve(m, m->count + 1);
        if (r < 0)
                return r;
        const char *k = key;
        if (m->own_keys) {
                k = strdup(key);
                if (!k)
                        return -ENOMEM;
        }
        insert_slot(m->slots, m->cap, (struct slot){.hash = h, .key = k, .value = value});
        m->count++;
        return 0;
}

void *hashmap_get(const struct hashmap *m, const char *key) {
        struct slot *s = find(m, key, hashmap_hash(key));
        return s ? s->value : NULL;
}

bool hashmap_contains(const struct hashmap *m, const char *key) {
        return find(m, key, hashmap_hash(key)) != NULL;
}

int hashmap_remove(struct hashmap *m, const char *key, void **ret_old) {
        struct slot *s = find(m, key, hashmap_hash(key));
        if (!s)
                return -ENOENT;
        if (ret_old)
                *ret_old = s->value;
        if (m->own_keys)
                free((char *)s->key);
        size_t mask = m->cap - 1;
        size_t i = (size_t)(s - m->slots);
        /* Backward shift: pull later entries of the cluster into the hole. */
        for (size_t j = (i + 1) & mask; m->slots[j].hash; j = (j + 1) & mask) {
                size_t home = m->slots[j].hash & mask;
                /* Move j to i when its home is not in the cyclic range (i, j]. */
                bool in_range = i <= j ? (home > i && home <= j) : (home > i || home <= j);
                if (!in_range) {
                        m->slots[i] = m->slots[j];
                        i = j;
                }
        }
        m->slots[i] = (struct slot){0};
        m->count--;
        return 0;
}

size_t hashmap_count(const struct hashmap *m) {
        return m ? m->count : 0;
}

void hashmap_clear(struct hashmap *m) {
        free_keys(m);
        if (m->cap)
                memset(m->slots, 0, m->cap * sizeof(*m->slots));
        m->count = 0;
}

bool hashmap_next(const struct hashmap *m, size_t *iter, const char **ret_key, void **ret_value) {
        for (size_t i = *iter; i < m->cap; i++)
                if (m->slots[i].hash) {
                        *iter = i + 1;
                        if (ret_key)
                                *ret_key = m->slots[i].key;
                        if (ret_value)
                                *ret_value = m->slots[i].value;
                        return true;
                }
        *iter = m->cap;
        return false;
}

struct hashmap *hashmap_clone(const struct hashmap *m) {
        struct hashmap *c = hashmap_create(m->own_keys ? HASHMAP_OWN_KEYS : 0);
        if (!c)
                return NULL;
        if (!m->cap)
                return c;
        c->slots = malloc(m->cap * sizeof(*c->slots));
        if (!c->slots)
                return hashmap_destroy(c);
        memcpy(c->slots, m->slots, m->cap * sizeof(*c->slots));
        c->cap = m->cap;
        c->count = m->count;
        if (m->own_keys)
                for (size_t i = 0; i < c->cap; i++)
                        if (c->slots[i].hash && !(c->slots[i].key = strdup(m->slots[i].key))) {
                                /* free the copies made so far, then forget the rest */
                                for (size_t k = 0; k < i; k++)
                                        if (c->slots[k].hash)
                                                free((char *)c->slots[k].key);
                                free(c->slots);
                                free(c);
                                return NULL;
                        }
        return c;
}
