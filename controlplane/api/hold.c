/* hold.c - see hold.h. */
#include "controlplane/api/hold.h"

#include <errno.h>
#include <stdlib.h>

struct hold {
        struct hold_config cfg;
        uint64_t rng;
        struct waitlist *list; /* each item's deadline there: its next try or its own deadline, the earlier */
};

struct hold *hold_create(const struct hold_config *cfg) {
        if (!cfg || cfg->max == 0 || cfg->max > (1u << 20) || cfg->backoff_min_ns <= 0 ||
            cfg->backoff_max_ns < cfg->backoff_min_ns)
                return NULL;
        struct hold *h = calloc(1, sizeof(*h));
        if (!h || !(h->list = waitlist_create(cfg->max))) {
                free(h);
                return NULL;
        }
        h->cfg = *cfg;
        h->rng = cfg->seed ? cfg->seed : 0x9e3779b97f4a7c15ULL;
        return h;
}

struct hold *hold_destroy(struct hold *h) {
        if (h)
                waitlist_destroy(h->list);
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

int hold_add(struct hold *h, struct waitlist_node *w, unsigned tries, int64_t deadline_ns, int64_t now_ns) {
        if (waitlist_full(h->list))
                return -ENOSPC; /* before the backoff: a refusal does not advance the jitter */
        int64_t try_ns = now_ns + hold_backoff_ns(h, tries);
        return waitlist_add(h->list, w, now_ns, try_ns < deadline_ns ? try_ns : deadline_ns);
}

void hold_kick(struct hold *h) {
        waitlist_mark_all(h->list);
}

size_t hold_wake(struct hold *h, int64_t now_ns, waitlist_answer_fn answer, void *arg) {
        return waitlist_sweep(h->list, now_ns, NULL, answer, arg);
}

size_t hold_release_all(struct hold *h, waitlist_answer_fn answer, void *arg) {
        return waitlist_release_all(h->list, answer, arg);
}

size_t hold_count(const struct hold *h) {
        return h ? waitlist_count(h->list) : 0;
}

int64_t hold_next_ns(const struct hold *h) {
        return h ? waitlist_next_ns(h->list) : INT64_MAX;
}
