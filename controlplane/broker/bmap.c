/* bmap.c - open-addressing string map (FNV-1a, linear probing, backward-shift delete). */
#include "controlplane/broker/bmap.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct slot {
        char *key; /* NULL = empty */
        void *value;
        uint64_t hash;
};

struct bmap {
        struct slot *slots;
        size_t cap; /* power of two, or 0 */
        size_t n;
};

static uint64_t hash_str(const char *s) {
        uint64_t h = UINT64_C(14695981039346656037);
        for (; *s; s++) {
                h ^= (unsigned char)*s;
                h *= UINT64_C(1099511628211);
        }
        return h;
}

struct bmap *bmap_new(void) {
        return calloc(1, sizeof(struct bmap));
}

struct bmap *bmap_free(struct bmap *m) {
        if (!m)
                return NULL;
        for (size_t i = 0; i < m->cap; i++)
                free(m->slots[i].key);
        free(m->slots);
        free(m);
        return NULL;
}

static struct slot *find(const struct bmap *m, const char *key, uint64_t h) {
        if (m->cap == 0)
                return NULL;
        size_t mask = m->cap - 1;
        for (size_t i = h & mask;; i = (i + 1) & mask) {
                struct slot *s = &m->slots[i];
                if (!s->key)
                        return NULL;
                if (s->hash == h && strcmp(s->key, key) == 0)
                        return s;
        }
}

void *bmap_get(const struct bmap *m, const char *key) {
        struct slot *s = find(m, key, hash_str(key));
        return s ? s->value : NULL;
}

static void place(struct slot *slots, size_t cap, struct slot item) {
        size_t mask = cap - 1;
        size_t i = item.hash & mask;
        while (slots[i].key)
                i = (i + 1) & mask;
        slots[i] = item;
}

static int grow(struct bmap *m) {
        size_t cap = m->cap ? m->cap * 2 : 16;
        struct slot *slots = calloc(cap, sizeof(*slots));
        if (!slots)
                return -ENOMEM;
        for (size_t i = 0; i < m->cap; i++)
                if (m->slots[i].key)
                        place(slots, cap, m->slots[i]);
        free(m->slots);
        m->slots = slots;
        m->cap = cap;
        return 0;
}

int bmap_put(struct bmap *m, const char *key, void *value) {
        uint64_t h = hash_str(key);
        struct slot *s = find(m, key, h);
        if (s) {
                s->value = value;
                return 0;
        }
        if ((m->n + 1) * 4 > m->cap * 3) {
                int r = grow(m);
                if (r < 0)
                        return r;
        }
        char *k = strdup(key);
        if (!k)
                return -ENOMEM;
        place(m->slots, m->cap, (struct slot){.key = k, .value = value, .hash = h});
        m->n++;
        return 0;
}

void *bmap_del(struct bmap *m, const char *key) {
        struct slot *s = find(m, key, hash_str(key));
        if (!s)
                return NULL;
        void *value = s->value;
        free(s->key);
        s->key = NULL;
        m->n--;
        /* Backward-shift: move later members of the probe run into the hole. */
        size_t mask = m->cap - 1;
        size_t hole = (size_t)(s - m->slots);
        for (size_t i = (hole + 1) & mask; m->slots[i].key; i = (i + 1) & mask) {
                size_t home = m->slots[i].hash & mask;
                /* Movable when home is not cyclically within (hole, i]. */
                bool in_range = hole <= i ? (home > hole && home <= i) : (home > hole || home <= i);
                if (!in_range) {
                        m->slots[hole] = m->slots[i];
                        m->slots[i].key = NULL;
                        hole = i;
                }
        }
        return value;
}

size_t bmap_len(const struct bmap *m) {
        return m->n;
}

void bmap_clear(struct bmap *m) {
        for (size_t i = 0; i < m->cap; i++) {
                free(m->slots[i].key);
                m->slots[i].key = NULL;
        }
        m->n = 0;
}

bool bmap_next(const struct bmap *m, size_t *pos, const char **ret_key, void **ret_value) {
        for (; *pos < m->cap; (*pos)++) {
                struct slot *s = &m->slots[*pos];
                if (s->key) {
                        if (ret_key)
                                *ret_key = s->key;
                        if (ret_value)
                                *ret_value = s->value;
                        (*pos)++;
                        return true;
                }
        }
        return false;
}
