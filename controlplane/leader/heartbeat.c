/* heartbeat.c - deadlines in a flat array; a scan per tick is cheap next to
 * the work a heartbeat costs, and keeps the structure obvious. */
#include "controlplane/leader/heartbeat.h"

#include <stdlib.h>
#include <string.h>

struct hb {
        char *node_id;
        int64_t deadline;
};

struct heartbeats {
        struct hb *items;
        size_t n, cap;
        int64_t min_ttl;
        int64_t grace;
};

struct heartbeats *heartbeats_create(int64_t min_ttl_ns, int64_t grace_ns) {
        struct heartbeats *h = calloc(1, sizeof(*h));
        if (h) {
                h->min_ttl = min_ttl_ns;
                h->grace = grace_ns;
        }
        return h;
}

void heartbeats_clear(struct heartbeats *h) {
        for (size_t i = 0; i < h->n; i++)
                free(h->items[i].node_id);
        h->n = 0;
}

struct heartbeats *heartbeats_destroy(struct heartbeats *h) {
        if (!h)
                return NULL;
        heartbeats_clear(h);
        free(h->items);
        free(h);
        return NULL;
}

int64_t heartbeats_ttl(const struct heartbeats *h) {
        /* Nomad: max_heartbeats_per_second = 50. */
        int64_t spread = (int64_t)h->n * 1000000000LL / 50;
        return spread > h->min_ttl ? spread : h->min_ttl;
}

size_t heartbeats_count(const struct heartbeats *h) {
        return h->n;
}

static struct hb *find(struct heartbeats *h, const char *node_id) {
        for (size_t i = 0; i < h->n; i++)
                if (strcmp(h->items[i].node_id, node_id) == 0)
                        return &h->items[i];
        return NULL;
}

int64_t heartbeats_reset(struct heartbeats *h, const char *node_id, int64_t now_ns) {
        int64_t ttl = heartbeats_ttl(h);
        struct hb *e = find(h, node_id);
        if (!e) {
                if (h->n == h->cap) {
                        size_t cap = h->cap ? h->cap * 2 : 16;
                        struct hb *items = realloc(h->items, cap * sizeof(*items));
                        if (!items)
                                return ttl;
                        h->items = items;
                        h->cap = cap;
                }
                e = &h->items[h->n];
                e->node_id = strdup(node_id);
                if (!e->node_id)
                        return ttl;
                h->n++;
        }
        e->deadline = now_ns + ttl + h->grace;
        return ttl;
}

void heartbeats_postpone(struct heartbeats *h, int64_t delta_ns) {
        for (size_t i = 0; i < h->n; i++)
                h->items[i].deadline += delta_ns;
}

void heartbeats_retry_at(struct heartbeats *h, const char *node_id, int64_t deadline_ns) {
        int64_t ttl = heartbeats_ttl(h);
        heartbeats_reset(h, node_id, deadline_ns - ttl - h->grace);
        struct hb *e = find(h, node_id);
        if (e)
                e->deadline = deadline_ns;
}

void heartbeats_remove(struct heartbeats *h, const char *node_id) {
        struct hb *e = find(h, node_id);
        if (!e)
                return;
        free(e->node_id);
        *e = h->items[--h->n];
}

size_t heartbeats_expired(struct heartbeats *h, int64_t now_ns, char ***ret) {
        size_t count = 0;
        char **out = NULL;
        for (size_t i = 0; i < h->n;) {
                if (h->items[i].deadline > now_ns) {
                        i++;
                        continue;
                }
                char **nout = realloc(out, (count + 1) * sizeof(*out));
                if (!nout)
                        break;
                out = nout;
                out[count++] = h->items[i].node_id;
                h->items[i] = h->items[--h->n];
        }
        *ret = out;
        return count;
}
