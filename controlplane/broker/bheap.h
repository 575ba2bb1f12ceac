/* bheap.h - a binary min-heap of pointers ordered by a caller's less(). */
#pragma once

#include <stdbool.h>
#include <stddef.h>

typedef bool (*bheap_less_fn)(const void *a, const void *b);

struct bheap {
        void **items;
        size_t n, cap;
        bheap_less_fn less;
};

void bheap_init(struct bheap *h, bheap_less_fn less);
/* Frees the array, not the items. */
void bheap_clear(struct bheap *h);
int bheap_push(struct bheap *h, void *item); /* 0 or -ENOMEM */
void *bheap_pop(struct bheap *h);            /* NULL when empty */
void *bheap_peek(const struct bheap *h);     /* NULL when empty */
