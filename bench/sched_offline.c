/* sched_offline.c - the offline packing reference (see sched_offline.h).
 *
 * Within a class: vector best-fit-decreasing. Items sorted largest first (by their
 * largest share of a node, or by the sum of their shares), each goes to the used node
 * where it fits with the least capacity left (the sum of the free shares, or that sum
 * plus the gap between them, which keeps nodes from being left with one dimension
 * only), a new node when none fits. The least of the four variants is kept per class.
 * Between two classes: items pinned to one class go there; the others are ordered by
 * their memory per MHz and the first s go to the class with less memory per MHz, the
 * rest to the other; s is searched on a coarse grid of 17 points, then on 16 points
 * around the best one (the node count is roughly unimodal in s). */
#include "bench/sched_offline.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define COARSE 16 /* coarse grid: s = F k / 16, k = 0..16 */
#define FINE 16   /* then 16 points between the best point's neighbours */
#define N_VARIANTS 6
#define BIN_CENTRIC_MAX 20000 /* items of a class above which variants 4 and 5 are skipped */

struct keyed {
        double key;
        size_t i;
};

static int cmp_keyed_desc(const void *a, const void *b) {
        const struct keyed *x = a, *y = b;
        if (x->key != y->key)
                return x->key < y->key ? 1 : -1;
        return x->i < y->i ? -1 : x->i > y->i; /* stable: the input order */
}

static int cmp_keyed_asc(const void *a, const void *b) {
        const struct keyed *x = a, *y = b;
        if (x->key != y->key)
                return x->key < y->key ? -1 : 1;
        return x->i < y->i ? -1 : x->i > y->i;
}

/* Scratch for packing one class: the sorted items and each node's free capacity. */
struct packer {
        struct keyed *order;
        int64_t *free_cpu, *free_mem;
};

/* Pack items idx[0..m) onto class c with variant v (bit 0: sort by the sum of shares
 * instead of the largest; bit 1: the gap term in the fit). Nodes used, or -ENOSPC;
 * node_of[item] = the node (0-based in the class) when node_of is not NULL. */
static long pack_class(const struct offline_item *items, const size_t *idx, size_t m, const struct offline_class *c,
                       int v, struct packer *p, int *node_of) {
        const double C = (double)c->cpu, M = (double)c->mem;
        for (size_t k = 0; k < m; k++) {
                double sc = (double)items[idx[k]].cpu / C, sm = (double)items[idx[k]].mem / M;
                p->order[k] = (struct keyed){(v & 1) ? sc + sm : (sc > sm ? sc : sm), idx[k]};
        }
        qsort(p->order, m, sizeof(*p->order), cmp_keyed_desc);
        size_t used = 0;
        for (size_t k = 0; k < m; k++) {
                const struct offline_item *it = &items[p->order[k].i];
                size_t best = used;
                double best_score = INFINITY;
                for (size_t b = 0; b < used; b++) {
                        int64_t fc = p->free_cpu[b] - it->cpu, fm = p->free_mem[b] - it->mem;
                        if (fc < 0 || fm < 0)
                                continue;
                        double a = (double)fc / C, g = (double)fm / M;
                        double score = a + g + ((v & 2) ? fabs(a - g) : 0);
                        if (score < best_score) {
                                best_score = score;
                                best = b;
                        }
                }
                if (best == used) {
                        if (used == c->count)
                                return -ENOSPC;
                        p->free_cpu[used] = c->cpu;
                        p->free_mem[used] = c->mem;
                        used++;
                }
                p->free_cpu[best] -= it->cpu;
                p->free_mem[best] -= it->mem;
                if (node_of)
                        node_of[p->order[k].i] = (int)best;
        }
        return (long)used;
}

/* Bin-centric greedy (Panigrahy et al., "Heuristics for vector bin packing", 2011): fill
 * one node at a time with the fitting item that best matches what the node has left:
 * v 4, the largest dot product of the item's shares with the node's free shares; v 5,
 * the least free capacity left (the squared norm of the free shares after it). The
 * items are walked once per item placed: O(m^2 / 2), so only up to BIN_CENTRIC_MAX
 * items. Nodes used, or -ENOSPC; node_of as pack_class. */
static long pack_bins(const struct offline_item *items, const size_t *idx, size_t m, const struct offline_class *c,
                      int v, struct packer *p, int *node_of) {
        const double C = (double)c->cpu, M = (double)c->mem;
        for (size_t k = 0; k < m; k++) /* largest first among equals: the order breaks ties */
                p->order[k] = (struct keyed){(double)items[idx[k]].cpu / C + (double)items[idx[k]].mem / M, idx[k]};
        qsort(p->order, m, sizeof(*p->order), cmp_keyed_desc);
        size_t left = m, used = 0;
        while (left > 0) {
                if (used == c->count)
                        return -ENOSPC;
                int64_t fc = c->cpu, fm = c->mem;
                for (;;) {
                        size_t best = left;
                        double best_score = -INFINITY;
                        for (size_t j = 0; j < left; j++) {
                                const struct offline_item *it = &items[p->order[j].i];
                                if (it->cpu > fc || it->mem > fm)
                                        continue;
                                double sc = (double)it->cpu / C, sm = (double)it->mem / M;
                                double score;
                                if (v == 4) {
                                        score = sc * ((double)fc / C) + sm * ((double)fm / M);
                                } else {
                                        double a = (double)(fc - it->cpu) / C, g = (double)(fm - it->mem) / M;
                                        score = -(a * a + g * g);
                                }
                                if (score > best_score) {
                                        best_score = score;
                                        best = j;
                                }
                        }
                        if (best == left)
                                break;
                        const struct offline_item *it = &items[p->order[best].i];
                        fc -= it->cpu;
                        fm -= it->mem;
                        if (node_of)
                                node_of[p->order[best].i] = (int)used;
                        memmove(&p->order[best], &p->order[best + 1], (left - best - 1) * sizeof(*p->order));
                        left--;
                }
                used++;
        }
        return (long)used;
}

static long pack_variant(const struct offline_item *items, const size_t *idx, size_t m, const struct offline_class *c,
                         int v, struct packer *p, int *node_of) {
        return v < 4 ? pack_class(items, idx, m, c, v, p, node_of) : pack_bins(items, idx, m, c, v, p, node_of);
}

/* The least nodes class c needs for idx[0..m) over the variants (-ENOSPC when none
 * fits); its variant in *ret_v. */
static long pack_best(const struct offline_item *items, const size_t *idx, size_t m, const struct offline_class *c,
                      struct packer *p, int *ret_v, size_t *packings) {
        long best = -ENOSPC;
        for (int v = 0; v < N_VARIANTS && (v < 4 || m <= BIN_CENTRIC_MAX); v++) {
                long u = pack_variant(items, idx, m, c, v, p, NULL);
                (*packings)++;
                if (u >= 0 && (best < 0 || u < best)) {
                        best = u;
                        *ret_v = v;
                }
                if (m == 0)
                        break;
        }
        return best;
}

static bool fits(const struct offline_item *it, const struct offline_class *c) {
        return it->cpu <= c->cpu && it->mem <= c->mem;
}

/* The job of one offline_pack call: the items split into per-class lists. */
struct split {
        const struct offline_item *items;
        const struct offline_class *cls;
        size_t n_cls;
        size_t *pinned[OFFLINE_MAX_CLASSES], n_pinned[OFFLINE_MAX_CLASSES];
        size_t *flex, n_flex; /* ordered by memory per MHz, ascending */
        size_t lo;            /* the class with less memory per MHz: gets flex[0..s) */
        size_t *list[OFFLINE_MAX_CLASSES];
        struct packer p;
        size_t packings;
};

/* Class k's list for split s: its pinned items, then flex[0..s) for class lo or
 * flex[s..F) for the other. Its length. */
static size_t fill_list(struct split *sp, size_t k, size_t s) {
        size_t m = sp->n_pinned[k];
        memcpy(sp->list[k], sp->pinned[k], m * sizeof(size_t));
        if (sp->n_cls < 2)
                return m; /* one class: nothing is flexible */
        const size_t *from = k == sp->lo ? sp->flex : sp->flex + s;
        size_t len = k == sp->lo ? s : sp->n_flex - s;
        memcpy(sp->list[k] + m, from, len * sizeof(size_t));
        return m + len;
}

/* Nodes used with flex[0..s) on class lo and the rest on the other; SIZE_MAX when a
 * class cannot hold its share. Variants per class in v. */
static size_t eval_split(struct split *sp, size_t s, int v[OFFLINE_MAX_CLASSES]) {
        size_t total = 0;
        for (size_t k = 0; k < sp->n_cls; k++) {
                size_t m = fill_list(sp, k, s);
                long u = pack_best(sp->items, sp->list[k], m, &sp->cls[k], &sp->p, &v[k], &sp->packings);
                if (u < 0)
                        return SIZE_MAX;
                total += (size_t)u;
        }
        return total;
}

static void split_free(struct split *sp) {
        for (size_t k = 0; k < OFFLINE_MAX_CLASSES; k++) {
                free(sp->pinned[k]);
                free(sp->list[k]);
        }
        free(sp->flex);
        free(sp->p.order);
        free(sp->p.free_cpu);
        free(sp->p.free_mem);
}

/* The items into pinned lists and the ordered flexible list. 0 or -ENOMEM. */
static int split_init(struct split *sp, const struct offline_item *items, size_t n, const struct offline_class *cls,
                      size_t n_cls, size_t *ret_placed) {
        *sp = (struct split){.items = items, .cls = cls, .n_cls = n_cls};
        size_t max_nodes = 0;
        for (size_t k = 0; k < n_cls; k++) {
                sp->pinned[k] = malloc((n + 1) * sizeof(size_t));
                sp->list[k] = malloc((n + 1) * sizeof(size_t));
                if (!sp->pinned[k] || !sp->list[k])
                        return -ENOMEM;
                max_nodes = cls[k].count > max_nodes ? cls[k].count : max_nodes;
        }
        sp->flex = malloc((n + 1) * sizeof(size_t));
        sp->p.order = malloc((n + 1) * sizeof(*sp->p.order));
        sp->p.free_cpu = malloc((max_nodes + 1) * sizeof(int64_t));
        sp->p.free_mem = malloc((max_nodes + 1) * sizeof(int64_t));
        if (!sp->flex || !sp->p.order || !sp->p.free_cpu || !sp->p.free_mem)
                return -ENOMEM;
        if (n_cls == 2) /* lo: the class with less memory per MHz (cross-multiplied) */
                sp->lo = (double)cls[1].mem * (double)cls[0].cpu < (double)cls[0].mem * (double)cls[1].cpu;
        size_t placed = 0;
        for (size_t i = 0; i < n; i++) {
                unsigned ok = 0;
                for (size_t k = 0; k < n_cls; k++)
                        if ((items[i].classes >> k & 1) && fits(&items[i], &cls[k]))
                                ok |= 1u << k;
                if (!ok)
                        continue;
                placed++;
                if (ok == 3u)
                        sp->flex[sp->n_flex++] = i;
                else {
                        size_t k = ok == 1u ? 0 : 1;
                        sp->pinned[k][sp->n_pinned[k]++] = i;
                }
        }
        for (size_t f = 0; f < sp->n_flex; f++) { /* memory per MHz, ascending (order reused as scratch) */
                const struct offline_item *it = &items[sp->flex[f]];
                sp->p.order[f] =
                    (struct keyed){it->cpu > 0 ? (double)it->mem / (double)it->cpu : INFINITY, sp->flex[f]};
        }
        qsort(sp->p.order, sp->n_flex, sizeof(*sp->p.order), cmp_keyed_asc);
        for (size_t f = 0; f < sp->n_flex; f++)
                sp->flex[f] = sp->p.order[f].i;
        *ret_placed = placed;
        return 0;
}

/* After the packing: empty the least filled nodes by moving each of their items to
 * another used node with room (of a class the item admits, the best fit), the whole
 * node or nothing, least filled first, passes until one empties no node (at most
 * IMPROVE_PASSES). A move never overfills a node. O(passes x items x nodes). Nodes
 * emptied (the used ones per class in used), or -ENOMEM. */
struct mover {
        const struct offline_item *items;
        size_t n, nodes;
        int64_t *fc, *fm;  /* free capacity per node */
        size_t *cnt;       /* items per node */
        unsigned char *cl; /* class per node */
        const struct offline_class *cls;
        int *node;
        size_t *mine, *to; /* the items of the node being emptied, and their targets */
};

static double node_fill(const struct mover *mv, size_t b) {
        const struct offline_class *c = &mv->cls[mv->cl[b]];
        return 2.0 - (double)mv->fc[b] / (double)c->cpu - (double)mv->fm[b] / (double)c->mem;
}

/* Move every item of node b elsewhere, or none. 1 when b is now empty, else 0. */
static int empty_node(struct mover *mv, size_t b) {
        size_t k = 0;
        for (size_t i = 0; i < mv->n; i++) /* the node's items (a walk: O(n) per node tried) */
                if (mv->node[i] == (int)b)
                        mv->mine[k++] = i;
        size_t done = 0;
        for (; done < k; done++) {
                const struct offline_item *it = &mv->items[mv->mine[done]];
                size_t best = mv->nodes;
                double best_left = INFINITY;
                for (size_t t = 0; t < mv->nodes; t++) {
                        if (t == b || !mv->cnt[t] || !(it->classes >> mv->cl[t] & 1) || it->cpu > mv->fc[t] ||
                            it->mem > mv->fm[t])
                                continue;
                        const struct offline_class *c = &mv->cls[mv->cl[t]];
                        double left = (double)(mv->fc[t] - it->cpu) / (double)c->cpu +
                                      (double)(mv->fm[t] - it->mem) / (double)c->mem;
                        if (left < best_left) {
                                best_left = left;
                                best = t;
                        }
                }
                if (best == mv->nodes)
                        break;
                mv->to[done] = best;
                mv->fc[best] -= it->cpu;
                mv->fm[best] -= it->mem;
        }
        if (done < k) { /* roll back */
                for (size_t j = 0; j < done; j++) {
                        mv->fc[mv->to[j]] += mv->items[mv->mine[j]].cpu;
                        mv->fm[mv->to[j]] += mv->items[mv->mine[j]].mem;
                }
                return 0;
        }
        for (size_t j = 0; j < k; j++) {
                mv->node[mv->mine[j]] = (int)mv->to[j];
                mv->cnt[mv->to[j]]++;
                mv->fc[b] += mv->items[mv->mine[j]].cpu;
                mv->fm[b] += mv->items[mv->mine[j]].mem;
        }
        mv->cnt[b] = 0;
        return 1;
}

#define IMPROVE_PASSES 8

static long improve(const struct offline_item *items, size_t n, const struct offline_class *cls, size_t n_cls,
                    int *node, size_t used[OFFLINE_MAX_CLASSES]) {
        struct mover mv = {.items = items, .n = n, .cls = cls, .node = node};
        for (size_t k = 0; k < n_cls; k++)
                mv.nodes += cls[k].count;
        mv.fc = calloc(mv.nodes + 1, sizeof(*mv.fc));
        mv.fm = calloc(mv.nodes + 1, sizeof(*mv.fm));
        mv.cnt = calloc(mv.nodes + 1, sizeof(*mv.cnt));
        mv.cl = calloc(mv.nodes + 1, 1);
        mv.mine = calloc(n + 1, sizeof(*mv.mine));
        mv.to = calloc(n + 1, sizeof(*mv.to));
        struct keyed *order = calloc(mv.nodes + 1, sizeof(*order));
        long emptied = -ENOMEM;
        if (!mv.fc || !mv.fm || !mv.cnt || !mv.cl || !mv.mine || !mv.to || !order)
                goto out;
        for (size_t k = 0, base = 0; k < n_cls; base += cls[k].count, k++)
                for (size_t b = base; b < base + cls[k].count; b++) {
                        mv.cl[b] = (unsigned char)k;
                        mv.fc[b] = cls[k].cpu;
                        mv.fm[b] = cls[k].mem;
                }
        for (size_t i = 0; i < n; i++)
                if (node[i] >= 0) {
                        mv.fc[node[i]] -= items[i].cpu;
                        mv.fm[node[i]] -= items[i].mem;
                        mv.cnt[node[i]]++;
                }
        emptied = 0;
        for (int pass = 0; pass < IMPROVE_PASSES; pass++) {
                size_t m = 0;
                for (size_t b = 0; b < mv.nodes; b++)
                        if (mv.cnt[b])
                                order[m++] = (struct keyed){node_fill(&mv, b), b};
                qsort(order, m, sizeof(*order), cmp_keyed_asc);
                long now = 0;
                for (size_t j = 0; j < m; j++)
                        now += empty_node(&mv, order[j].i);
                emptied += now;
                if (!now)
                        break;
        }
        for (size_t k = 0; k < n_cls; k++)
                used[k] = 0;
        for (size_t b = 0; b < mv.nodes; b++)
                used[mv.cl[b]] += mv.cnt[b] > 0;
out:
        free(mv.fc);
        free(mv.fm);
        free(mv.cnt);
        free(mv.cl);
        free(mv.mine);
        free(mv.to);
        free(order);
        return emptied;
}

int offline_pack(const struct offline_item *items, size_t n, const struct offline_class *cls, size_t n_cls,
                 int *ret_node, struct offline_result *ret) {
        if ((n && !items) || !cls || n_cls < 1 || n_cls > OFFLINE_MAX_CLASSES || !ret_node || !ret)
                return -EINVAL;
        for (size_t k = 0; k < n_cls; k++)
                if (cls[k].cpu <= 0 || cls[k].mem <= 0 || cls[k].count > INT32_MAX / 2)
                        return -EINVAL;
        for (size_t i = 0; i < n; i++)
                if (items[i].cpu < 0 || items[i].mem < 0)
                        return -EINVAL;
        struct split sp;
        size_t placed = 0;
        int r = split_init(&sp, items, n, cls, n_cls, &placed);
        if (r < 0) {
                split_free(&sp);
                return r;
        }
        /* the split: coarse grid, then around its best point */
        size_t F = sp.n_flex, best_s = 0, best = SIZE_MAX, best_k = 0;
        int v[OFFLINE_MAX_CLASSES] = {0}, best_v[OFFLINE_MAX_CLASSES] = {0};
        for (size_t k = 0; k <= COARSE; k++) {
                size_t s = F * k / COARSE, t = eval_split(&sp, s, v);
                if (t < best) {
                        best = t;
                        best_s = s;
                        best_k = k;
                        memcpy(best_v, v, sizeof(v));
                }
                if (F == 0)
                        break;
        }
        size_t from = best_k ? F * (best_k - 1) / COARSE : 0, to = best_k < COARSE ? F * (best_k + 1) / COARSE : F;
        for (size_t j = 1; F > 0 && j < FINE; j++) {
                size_t s = from + (to - from) * j / FINE, t = eval_split(&sp, s, v);
                if (t < best) {
                        best = t;
                        best_s = s;
                        memcpy(best_v, v, sizeof(v));
                }
        }
        if (best == SIZE_MAX) {
                split_free(&sp);
                return -ENOSPC;
        }
        /* the best split and variants again, keeping the placement */
        struct offline_result res = {.placed = placed, .packings = sp.packings};
        for (size_t i = 0; i < n; i++)
                ret_node[i] = -1;
        size_t base = 0;
        for (size_t k = 0; k < n_cls; k++) {
                size_t m = fill_list(&sp, k, best_s);
                long u = pack_variant(items, sp.list[k], m, &cls[k], best_v[k], &sp.p, ret_node);
                for (size_t j = 0; j < m; j++)
                        ret_node[sp.list[k][j]] += (int)base;
                res.used[k] = (size_t)u;
                res.total += (size_t)u;
                base += cls[k].count;
        }
        split_free(&sp);
        long gone = improve(items, n, cls, n_cls, ret_node, res.used);
        if (gone < 0)
                return (int)gone;
        res.emptied = (size_t)gone;
        res.total = 0;
        for (size_t k = 0; k < n_cls; k++)
                res.total += res.used[k];
        *ret = res;
        return 0;
}

int offline_check(const struct offline_item *items, size_t n, const struct offline_class *cls, size_t n_cls,
                  const int *node, size_t *ret_used) {
        size_t nodes = 0;
        for (size_t k = 0; k < n_cls && k < OFFLINE_MAX_CLASSES; k++)
                nodes += cls[k].count;
        int64_t *cpu = calloc(nodes + 1, sizeof(*cpu)), *mem = calloc(nodes + 1, sizeof(*mem));
        unsigned char *cl = calloc(nodes + 1, 1);
        if (!cpu || !mem || !cl) {
                free(cpu);
                free(mem);
                free(cl);
                return -ENOMEM;
        }
        for (size_t k = 0, base = 0; k < n_cls && k < OFFLINE_MAX_CLASSES; base += cls[k].count, k++)
                memset(cl + base, (int)k, cls[k].count);
        int faults = 0;
        for (size_t i = 0; i < n; i++) {
                if (node[i] < 0)
                        continue;
                if ((size_t)node[i] >= nodes || !(items[i].classes >> cl[node[i]] & 1)) {
                        faults++;
                        continue;
                }
                cpu[node[i]] += items[i].cpu;
                mem[node[i]] += items[i].mem;
        }
        size_t used = 0;
        for (size_t b = 0; b < nodes; b++) {
                used += cpu[b] > 0 || mem[b] > 0;
                faults += cpu[b] > cls[cl[b]].cpu || mem[b] > cls[cl[b]].mem;
        }
        free(cpu);
        free(mem);
        free(cl);
        *ret_used = used;
        return faults;
}
