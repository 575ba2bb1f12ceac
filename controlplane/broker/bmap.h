/* bmap.h - a small string-keyed hash map for the broker and blocked-eval tracker.
 * Keys are copied; values are borrowed pointers the caller owns. Open addressing
 * with linear probing and backward-shift deletion. Do not insert or delete while
 * iterating with bmap_next(). */
#pragma once

#include <stdbool.h>
#include <stddef.h>

struct bmap;

struct bmap *bmap_new(void);
/* Frees the map and its key copies, not the values. Accepts NULL; returns NULL. */
struct bmap *bmap_free(struct bmap *m);

void *bmap_get(const struct bmap *m, const char *key);
/* Insert or replace; returns 0 or -ENOMEM. */
int bmap_put(struct bmap *m, const char *key, void *value);
/* Remove key; returns its value, or NULL when absent. */
void *bmap_del(struct bmap *m, const char *key);
size_t bmap_len(const struct bmap *m);
/* Remove every entry (values untouched). */
void bmap_clear(struct bmap *m);

/* Iterate: size_t pos = 0; while (bmap_next(m, &pos, &k, &v)) ... Either out may be NULL. */
bool bmap_next(const struct bmap *m, size_t *pos, const char **ret_key, void **ret_value);
