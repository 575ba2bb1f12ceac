/* cpuset.c - the cores tasks reserve (see cpuset.h). */
#include "isolation/cpuset.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"

struct core_alloc {
        struct cpulist usable;
        struct cpulist taken;
};

static bool has(const struct cpulist *c, int i) {
        return (c->w[i / 64] >> (i % 64)) & 1;
}

static void set(struct cpulist *c, int i) {
        c->w[i / 64] |= 1ULL << (i % 64);
}

static long num(const char **p) {
        if (**p < '0' || **p > '9')
                return -1;
        long v = 0;
        while (**p >= '0' && **p <= '9') {
                v = v * 10 + (**p - '0');
                if (v >= CPULIST_MAX)
                        return -1;
                (*p)++;
        }
        return v;
}

int cpulist_parse(const char *s, struct cpulist *ret, struct error *err) {
        struct cpulist c = {0};
        const char *p = s;
        while (*p && *p != '\n') {
                long lo = num(&p), hi = lo;
                if (lo >= 0 && *p == '-') {
                        p++;
                        hi = num(&p);
                }
                if (lo < 0 || hi < lo || (*p && *p != ',' && *p != '\n'))
                        return errorf(err, -EINVAL, "\"%.64s\" is not a CPU list like 0-3,8 (ids below %d)", s,
                                      CPULIST_MAX);
                for (long i = lo; i <= hi; i++)
                        set(&c, (int)i);
                if (*p == ',')
                        p++;
        }
        *ret = c;
        return 0;
}

int cpulist_format(const struct cpulist *c, char *buf, size_t size) {
        size_t len = 0;
        if (size == 0)
                return -ENOSPC;
        buf[0] = '\0';
        for (int i = 0; i < CPULIST_MAX; i++) {
                if (!has(c, i))
                        continue;
                int j = i;
                while (j + 1 < CPULIST_MAX && has(c, j + 1))
                        j++;
                int n = j > i ? snprintf(buf + len, size - len, "%s%d-%d", len ? "," : "", i, j)
                              : snprintf(buf + len, size - len, "%s%d", len ? "," : "", i);
                if (n < 0 || (size_t)n >= size - len) {
                        buf[0] = '\0';
                        return -ENOSPC;
                }
                len += (size_t)n;
                i = j;
        }
        return (int)len;
}

int cpulist_count(const struct cpulist *c) {
        int n = 0;
        for (size_t i = 0; i < CPULIST_MAX / 64; i++)
                n += __builtin_popcountll(c->w[i]);
        return n;
}

int cpulist_empty(const struct cpulist *c) {
        return cpulist_count(c) == 0;
}

int core_alloc_create(const struct cpulist *usable, struct core_alloc **ret, struct error *err) {
        if (cpulist_empty(usable))
                return errorf(err, -EINVAL, "no usable cores");
        struct core_alloc *a = calloc(1, sizeof(*a));
        if (!a)
                return errorf(err, -ENOMEM, "out of memory");
        a->usable = *usable;
        *ret = a;
        return 0;
}

int core_alloc_take(struct core_alloc *a, int n, struct cpulist *ret, struct error *err) {
        struct cpulist c = {0};
        int got = 0;
        for (int i = 0; i < CPULIST_MAX && got < n; i++)
                if (has(&a->usable, i) && !has(&a->taken, i)) {
                        set(&c, i);
                        got++;
                }
        if (n <= 0 || got < n) {
                int free_ = cpulist_count(&a->usable) - cpulist_count(&a->taken);
                return errorf(err, n <= 0 ? -EINVAL : -EBUSY, "%d cores asked, %d of %d free", n, free_,
                              cpulist_count(&a->usable));
        }
        for (size_t i = 0; i < CPULIST_MAX / 64; i++)
                a->taken.w[i] |= c.w[i];
        *ret = c;
        return 0;
}

int core_alloc_mark(struct core_alloc *a, const struct cpulist *c) {
        for (size_t i = 0; i < CPULIST_MAX / 64; i++) {
                if (c->w[i] & ~a->usable.w[i])
                        return -ERANGE;
                if (c->w[i] & a->taken.w[i])
                        return -EBUSY;
        }
        for (size_t i = 0; i < CPULIST_MAX / 64; i++)
                a->taken.w[i] |= c->w[i];
        return 0;
}

void core_alloc_release(struct core_alloc *a, const struct cpulist *c) {
        for (size_t i = 0; i < CPULIST_MAX / 64; i++)
                a->taken.w[i] &= ~c->w[i];
}

void core_alloc_shared(const struct core_alloc *a, struct cpulist *ret) {
        struct cpulist c;
        for (size_t i = 0; i < CPULIST_MAX / 64; i++)
                c.w[i] = a->usable.w[i] & ~a->taken.w[i];
        *ret = cpulist_empty(&c) ? a->usable : c;
}

int core_alloc_reserved(const struct core_alloc *a) {
        return cpulist_count(&a->taken);
}

struct core_alloc *core_alloc_free(struct core_alloc *a) {
        free(a);
        return NULL;
}
