/* bheap.c - binary heap. */
#include "controlplane/broker/bheap.h"

#include <errno.h>
#include <stdlib.h>

void bheap_init(struct bheap *h, bheap_less_fn less) {
        *h = (struct bheap){.less = less};
}

void bheap_clear(struct bheap *h) {
        free(h->items);
        h->items = NULL;
        h->n = h->cap = 0;
}

static void swap(void **a, void **b) {
        void *t = *a;
        *a = *b;
        *b = t;
}

int bheap_push(struct bheap *h, void *item) {
        if (h->n == h->cap) {
                size_t cap = h->cap ? h->cap * 2 : 8;
                void **items = realloc(h->items, cap * sizeof(*items));
                if (!items)
                        return -ENOMEM;
                h->items = items;
                h->cap = cap;
        }
        size_t i = h->n++;
        h->items[i] = item;
        while (i > 0) {
                size_t parent = (i - 1) / 2;
                if (!h->less(h->items[i], h->items[parent]))
                        break;
                swap(&h->items[i], &h->items[parent]);
                i = parent;
        }
        return 0;
}

void *bheap_peek(const struct bheap *h) {
        return h->n ? h->items[0] : NULL;
}

void *bheap_pop(struct bheap *h) {
        if (!h->n)
                return NULL;
        void *top = h->items[0];
        h->items[0] = h->items[--h->n];
        size_t i = 0;
        for (;;) {
                size_t l = 2 * i + 1, r = l + 1, m = i;
                if (l < h->n && h->less(h->items[l], h->items[m]))
                        m = l;
                if (r < h->n && h->less(h->items[r], h->items[m]))
                        m = r;
                if (m == i)
                        break;
                swap(&h->items[i], &h->items[m]);
                i = m;
        }
        return top;
}
