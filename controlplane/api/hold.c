/* hold.c - see hold.h. */
#include "controlplane/api/hold.h"

#include <errno.h>
#include <stdlib.h>

struct slot {
        void *item;
        int64_t try_ns;      /* next try */
        int64_t deadline_ns; /* due as expired from here */
        bool kicked;
};

struct hold {
        struct hold_config cfg;
        uint64_t rng;
        size_t n;        /* slots[0..n) are held, in no order */
        int64_t next_ns; /* min over the slots of try_ns and deadline_ns; INT64_MAX when n == 0 */
        struct slot slots[];
};

struct hold *hold_create(const struct hold_config *cfg) {
        if (!cfg || cfg->max == 0 || cfg->max > (1u << 20) || cfg->backoff_min_ns <= 0 ||
            cfg->backoff_max_ns < cfg->backoff_min_ns)
                return NULL;
        struct hold *h = calloc(1, sizeof(*h) + cfg->max * sizeof(h->slots[0]));
        if (!h)
                return NULL;
        h->cfg = *cfg;
        h->rng = cfg->seed ? cfg->seed : 0x9e3779b97f4a7c15ULL;
        h->next_ns = INT64_MAX;
        return h;
}

struct hold *hold_destroy(struct hold *h) {
        free(h);
        return NULL;
}

static uint64_t next_random(struct hold *h) {
        uint64_t x = h->rng;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        h->rng = x;
        return x;
}

int64_t hold_backoff_ns(struct hold *h, unsigned tries) {
        int64_t b = h->cfg.backoff_min_ns;
        for (unsigned i = 0; i < tries && b < h->cfg.backoff_max_ns; i++)
                b *= 2;
        if (b > h->cfg.backoff_max_ns)
                b = h->cfg.backoff_max_ns;
        int64_t half = b / 2 > 0 ? b / 2 : 1;
        return half + (int64_t)(next_random(h) % (uint64_t)(b - half + 1));
}

static int64_t slot_due_ns(const struct slot *s) {
        if (s->kicked)
                return INT64_MIN;
        return s->try_ns < s->deadline_ns ? s->try_ns : s->deadline_ns;
}

int hold_add(struct hold *h, void *item, unsigned tries, int64_t deadline_ns, int64_t now_ns) {
        if (h->n == h->cfg.max)
                return -ENOSPC;
        struct slot *s = &h->slots[h->n++];
        *s = (struct slot){.item = item, .try_ns = now_ns + hold_backoff_ns(h, tries), .deadline_ns = deadline_ns};
        if (slot_due_ns(s) < h->next_ns)
                h->next_ns = slot_due_ns(s);
        return 0;
}

void hold_kick(struct hold *h) {
        for (size_t i = 0; i < h->n; i++)
                h->slots[i].kicked = true;
        if (h->n)
                h->next_ns = INT64_MIN;
}

/* Slot i out (the last one takes its place). */
static void slot_remove(struct hold *h, size_t i) {
        h->slots[i] = h->slots[--h->n];
}

static void recompute_next(struct hold *h) {
        h->next_ns = INT64_MAX;
        for (size_t i = 0; i < h->n; i++)
                if (slot_due_ns(&h->slots[i]) < h->next_ns)
                        h->next_ns = slot_due_ns(&h->slots[i]);
}

size_t hold_take_due(struct hold *h, int64_t now_ns, struct hold_due *ret, size_t max) {
        if (h->next_ns > now_ns || max == 0)
                return 0;
        size_t k = 0;
        for (size_t i = 0; i < h->n && k < max;) {
                struct slot *s = &h->slots[i];
                if (slot_due_ns(s) > now_ns) {
                        i++;
                        continue;
                }
                ret[k++] = (struct hold_due){.item = s->item, .expired = now_ns >= s->deadline_ns, .kicked = s->kicked};
                slot_remove(h, i);
        }
        recompute_next(h);
        return k;
}

size_t hold_take_all(struct hold *h, void **ret, size_t max) {
        size_t k = 0;
        while (h->n > 0 && k < max)
                ret[k++] = h->slots[--h->n].item;
        recompute_next(h);
        return k;
}

size_t hold_count(const struct hold *h) {
        return h ? h->n : 0;
}

int64_t hold_next_ns(const struct hold *h) {
        return h && h->n ? h->next_ns : INT64_MAX;
}
