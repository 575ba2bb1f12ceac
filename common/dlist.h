/* dlist.h - an intrusive doubly-linked list: O(1) append, unlink and oldest-first
 * walks without an allocation. An element embeds a struct dlink per list it can be
 * on, and dlist_entry turns a link back into its element. Not thread-safe: each
 * list belongs to one thread (or one lock). */
#pragma once

#include <stdbool.h>
#include <stddef.h>

struct dlink {
        struct dlink *prev, *next;
        bool listed;
};

struct dlist {
        struct dlink *head, *tail;
};

#define dlist_entry(link, type, member) ((type *)((char *)(link) - offsetof(type, member)))

/* The element at the head (the oldest appended), or NULL when the list is empty. */
#define dlist_first(list, type, member) ((list)->head ? dlist_entry((list)->head, type, member) : NULL)

static inline bool dlist_empty(const struct dlist *l) {
        return !l->head;
}

/* Append n at the tail; a link already listed stays where it is. */
static inline void dlist_append(struct dlist *l, struct dlink *n) {
        if (n->listed)
                return;
        n->prev = l->tail;
        n->next = NULL;
        if (l->tail)
                l->tail->next = n;
        else
                l->head = n;
        l->tail = n;
        n->listed = true;
}

/* Remove n from l; a link not listed is left alone. */
static inline void dlist_unlink(struct dlist *l, struct dlink *n) {
        if (!n->listed)
                return;
        if (n->prev)
                n->prev->next = n->next;
        else
                l->head = n->next;
        if (n->next)
                n->next->prev = n->prev;
        else
                l->tail = n->prev;
        n->prev = n->next = NULL;
        n->listed = false;
}

/* Unlink the head and return it, or NULL when the list is empty: a FIFO's pop. */
static inline struct dlink *dlist_shift(struct dlist *l) {
        struct dlink *n = l->head;
        if (n)
                dlist_unlink(l, n);
        return n;
}

/* The element dlist_shift took, or NULL when the list was empty. */
#define dlist_shift_entry(list, type, member)                                                                          \
        ({                                                                                                             \
                struct dlink *dlist_shift_link_ = dlist_shift(list);                                                   \
                dlist_shift_link_ ? dlist_entry(dlist_shift_link_, type, member) : NULL;                               \
        })

/* The number of elements on l: a walk, for lists kept short or counted rarely. */
static inline size_t dlist_count(const struct dlist *l) {
        size_t n = 0;
        for (const struct dlink *k = l->head; k; k = k->next)
                n++;
        return n;
}
