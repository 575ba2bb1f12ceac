/* fp_part.c - one fingerprinter's contribution to a node (fp_part.h). */
#include "nodeagent/fingerprint/fp_part.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static void drivers_free(struct node_driver *d, size_t n) {
        for (size_t i = 0; i < n; i++) {
                free(d[i].name);
                free(d[i].description);
        }
        free(d);
}

static int driver_copy(struct node_driver *dst, const struct node_driver *src) {
        *dst = (struct node_driver){.name = strdup(src->name),
                                    .detected = src->detected,
                                    .healthy = src->healthy,
                                    .description = src->description ? strdup(src->description) : NULL};
        if (!dst->name || (src->description && !dst->description)) {
                free(dst->name);
                free(dst->description);
                return -ENOMEM;
        }
        return 0;
}

static bool driver_eq(const struct node_driver *a, const struct node_driver *b) {
        return strcmp(a->name, b->name) == 0 && a->detected == b->detected && a->healthy == b->healthy &&
               strcmp(a->description ? a->description : "", b->description ? b->description : "") == 0;
}

static const struct node_driver *driver_find(const struct node_driver *d, size_t n, const char *name) {
        for (size_t i = 0; i < n; i++)
                if (strcmp(d[i].name, name) == 0)
                        return &d[i];
        return NULL;
}

/* Set (replace by name, else append) a copy of src in n's drivers. */
static int driver_put(struct node *n, const struct node_driver *src) {
        struct node_driver copy;
        if (driver_copy(&copy, src) < 0)
                return -ENOMEM;
        for (size_t i = 0; i < n->n_drivers; i++)
                if (strcmp(n->drivers[i].name, src->name) == 0) {
                        free(n->drivers[i].name);
                        free(n->drivers[i].description);
                        n->drivers[i] = copy;
                        return 0;
                }
        struct node_driver *d = realloc(n->drivers, (n->n_drivers + 1) * sizeof(*d));
        if (!d) {
                free(copy.name);
                free(copy.description);
                return -ENOMEM;
        }
        n->drivers = d;
        d[n->n_drivers++] = copy;
        return 0;
}

void fp_before_clear(struct fp_before *b) {
        for (size_t i = 0; b->values && i < b->n_attrs; i++)
                free(b->values[i]);
        free(b->values);
        json_decref(b->devices);
        json_decref(b->networks);
        drivers_free(b->drivers, b->n_drivers);
        memset(b, 0, sizeof(*b));
}

int fp_before_take(const struct node *n, struct fp_before *b) {
        *b = (struct fp_before){.n_attrs = n->attributes.n,
                                .cpu_shares = n->cpu_shares,
                                .memory_mb = n->memory_mb,
                                .disk_mb = n->disk_mb,
                                .total_cores = n->total_cores,
                                .devices = json_incref(n->devices),
                                .networks = json_incref(n->networks)};
        b->values = calloc(b->n_attrs ? b->n_attrs : 1, sizeof(*b->values));
        b->drivers = calloc(n->n_drivers ? n->n_drivers : 1, sizeof(*b->drivers));
        if (!b->values || !b->drivers)
                goto oom;
        for (size_t i = 0; i < b->n_attrs; i++)
                if (!(b->values[i] = strdup(n->attributes.items[i].value)))
                        goto oom;
        for (; b->n_drivers < n->n_drivers; b->n_drivers++)
                if (driver_copy(&b->drivers[b->n_drivers], &n->drivers[b->n_drivers]) < 0)
                        goto oom;
        return 0;
oom:
        fp_before_clear(b);
        return -ENOMEM;
}

void fp_part_clear(struct fp_part *part) {
        strmap_clear(&part->attrs);
        json_decref(part->devices);
        json_decref(part->networks);
        drivers_free(part->drivers, part->n_drivers);
        memset(part, 0, sizeof(*part));
}

int fp_part_record(const struct fp_before *b, const struct node *n, struct fp_part *part) {
        fp_part_clear(part);
        int r = 0;
        for (size_t i = 0; r == 0 && i < n->attributes.n; i++) {
                const struct kv *kv = &n->attributes.items[i];
                if (i >= b->n_attrs || strcmp(kv->value, b->values[i]) != 0)
                        r = strmap_set(&part->attrs, kv->key, kv->value);
        }
        if (n->cpu_shares != b->cpu_shares)
                part->fields |= FP_FIELD_CPU_SHARES;
        if (n->total_cores != b->total_cores)
                part->fields |= FP_FIELD_TOTAL_CORES;
        if (n->memory_mb != b->memory_mb)
                part->fields |= FP_FIELD_MEMORY;
        if (n->disk_mb != b->disk_mb)
                part->fields |= FP_FIELD_DISK;
        /* The fingerprinters replace these arrays whole; b's reference keeps the old
         * one alive, so a new array is a new pointer. */
        if (n->devices != b->devices)
                part->fields |= FP_FIELD_DEVICES;
        if (n->networks != b->networks)
                part->fields |= FP_FIELD_NETWORKS;
        part->cpu_shares = n->cpu_shares;
        part->total_cores = n->total_cores;
        part->memory_mb = n->memory_mb;
        part->disk_mb = n->disk_mb;
        /* Copies: the node is published and may be changed; the part outlives it. */
        part->devices = part->fields & FP_FIELD_DEVICES ? json_deep_copy(n->devices) : NULL;
        part->networks = part->fields & FP_FIELD_NETWORKS ? json_deep_copy(n->networks) : NULL;
        if ((part->fields & FP_FIELD_DEVICES && n->devices && !part->devices) ||
            (part->fields & FP_FIELD_NETWORKS && n->networks && !part->networks))
                r = -ENOMEM;
        part->drivers = calloc(n->n_drivers ? n->n_drivers : 1, sizeof(*part->drivers));
        if (!part->drivers && r == 0)
                r = -ENOMEM;
        for (size_t i = 0; r == 0 && i < n->n_drivers; i++) {
                const struct node_driver *old = driver_find(b->drivers, b->n_drivers, n->drivers[i].name);
                if (old && driver_eq(old, &n->drivers[i]))
                        continue;
                r = driver_copy(&part->drivers[part->n_drivers], &n->drivers[i]);
                if (r == 0)
                        part->n_drivers++;
        }
        if (r < 0) {
                fp_part_clear(part);
                return r;
        }
        part->valid = true;
        return 0;
}

int fp_part_restore(const struct fp_before *b, const struct fp_part *part, struct node *n) {
        /* Undo: the attributes it added, the values it changed, the rest as they were. */
        struct strmap *a = &n->attributes;
        for (size_t i = b->n_attrs; i < a->n; i++) {
                free(a->items[i].key);
                free(a->items[i].value);
        }
        if (a->n > b->n_attrs)
                a->n = b->n_attrs;
        for (size_t i = 0; i < a->n; i++)
                if (strcmp(a->items[i].value, b->values[i]) != 0) {
                        char *v = strdup(b->values[i]);
                        if (!v)
                                return -ENOMEM;
                        free(a->items[i].value);
                        a->items[i].value = v;
                }
        n->cpu_shares = b->cpu_shares;
        n->total_cores = b->total_cores;
        n->memory_mb = b->memory_mb;
        n->disk_mb = b->disk_mb;
        json_decref(n->devices);
        n->devices = json_incref(b->devices);
        json_decref(n->networks);
        n->networks = json_incref(b->networks);
        drivers_free(n->drivers, n->n_drivers);
        n->drivers = NULL;
        n->n_drivers = 0;
        for (size_t i = 0; i < b->n_drivers; i++)
                if (driver_put(n, &b->drivers[i]) < 0)
                        return -ENOMEM;
        if (!part || !part->valid)
                return 0;
        /* Redo: its last successful part. */
        for (size_t i = 0; i < part->attrs.n; i++)
                if (strmap_set(a, part->attrs.items[i].key, part->attrs.items[i].value) < 0)
                        return -ENOMEM;
        if (part->fields & FP_FIELD_CPU_SHARES)
                n->cpu_shares = part->cpu_shares;
        if (part->fields & FP_FIELD_TOTAL_CORES)
                n->total_cores = part->total_cores;
        if (part->fields & FP_FIELD_MEMORY)
                n->memory_mb = part->memory_mb;
        if (part->fields & FP_FIELD_DISK)
                n->disk_mb = part->disk_mb;
        if (part->fields & FP_FIELD_DEVICES) {
                json_t *d = part->devices ? json_deep_copy(part->devices) : NULL;
                if (part->devices && !d)
                        return -ENOMEM;
                json_decref(n->devices);
                n->devices = d;
        }
        if (part->fields & FP_FIELD_NETWORKS) {
                json_t *d = part->networks ? json_deep_copy(part->networks) : NULL;
                if (part->networks && !d)
                        return -ENOMEM;
                json_decref(n->networks);
                n->networks = d;
        }
        for (size_t i = 0; i < part->n_drivers; i++)
                if (driver_put(n, &part->drivers[i]) < 0)
                        return -ENOMEM;
        return 0;
}
