/* hashmap.h - string-keyed open-addressing hash map of void *.
 *
 * Linear probing with the 64-bit hash cached in each slot, power-of-two capacity,
 * load factor <= 3/4, backward-shift deletion (no tombstones). Values are opaque:
 * the map never frees them. Keys are either copied (HASHMAP_OWN_KEYS) or borrowed:
 * a borrowed key must live as long as its entry, which suits keys that point into
 * the value itself (alloc->id). Not thread-safe; a map that nobody writes may be
 * read from any number of threads.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HASHMAP_OWN_KEYS 1u

struct hashmap;

/* NULL on out of memory. */
struct hashmap *hashmap_create(unsigned flags);
/* Frees the map (and owned keys), never the values. Returns NULL. */
struct hashmap *hashmap_destroy(struct hashmap *m);
/* For _cleanup_(hashmap_destroyp). */
static inline void hashmap_destroyp(struct hashmap **m) {
        hashmap_destroy(*m);
}

/* Insert or replace. Returns 0 when inserted, 1 when it replaced an entry (the old
 * value goes to *ret_old when ret_old is not NULL), -ENOMEM. A replaced entry takes
 * the new key pointer (borrowed keys) or keeps its copy (owned keys). */
int hashmap_put(struct hashmap *m, const char *key, void *value, void **ret_old);
/* The value, or NULL when absent. */
void *hashmap_get(const struct hashmap *m, const char *key);
bool hashmap_contains(const struct hashmap *m, const char *key);
/* 0 and the old value in *ret_old, or -ENOENT. */
int hashmap_remove(struct hashmap *m, const char *key, void **ret_old);
size_t hashmap_count(const struct hashmap *m);
/* Make room for n entries without rehashing. */
int hashmap_reserve(struct hashmap *m, size_t n);
void hashmap_clear(struct hashmap *m);

/* Iterate in slot order: `size_t it = 0; while (hashmap_next(m, &it, &k, &v)) ...`.
 * Either out pointer may be NULL. The map must not change during the walk. */
bool hashmap_next(const struct hashmap *m, size_t *iter, const char **ret_key, void **ret_value);

/* A copy of the table (slots copied; owned keys duplicated; values shared). NULL on ENOMEM. */
struct hashmap *hashmap_clone(const struct hashmap *m);

uint64_t hashmap_hash(const char *key);
