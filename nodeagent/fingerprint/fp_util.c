/* fp_util.c - helpers the fingerprinters share. */
#include "nodeagent/fingerprint/fp_util.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/model.h"
#include "nodeagent/fingerprint/fingerprint.h"
#include "nodeagent/util.h"

char *fp_path(const struct fingerprint_ctx *ctx, const char *rel, char *path, size_t size) {
        snprintf(path, size, "%s%s", ctx->root ? ctx->root : "", rel);
        return path;
}

void fp_trim(char *s) {
        size_t len = strlen(s);
        while (len && isspace((unsigned char)s[len - 1]))
                s[--len] = '\0';
        size_t lead = 0;
        while (isspace((unsigned char)s[lead]))
                lead++;
        if (lead)
                memmove(s, s + lead, len - lead + 1);
}

ssize_t fp_read(const struct fingerprint_ctx *ctx, const char *rel, char *buf, size_t size) {
        char path[4096];
        ssize_t len = read_small_file(fp_path(ctx, rel, path, sizeof(path)), buf, size);
        if (len < 0) {
                if (size)
                        buf[0] = '\0';
                return len;
        }
        fp_trim(buf);
        return (ssize_t)strlen(buf);
}

ssize_t fp_readf(const struct fingerprint_ctx *ctx, char *buf, size_t size, const char *fmt, ...) {
        char rel[1024];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(rel, sizeof(rel), fmt, ap);
        va_end(ap);
        return fp_read(ctx, rel, buf, size);
}

long long fp_read_ll(const struct fingerprint_ctx *ctx, long long def, const char *fmt, ...) {
        char rel[1024], buf[64];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(rel, sizeof(rel), fmt, ap);
        va_end(ap);
        if (fp_read(ctx, rel, buf, sizeof(buf)) <= 0)
                return def;
        char *end;
        errno = 0;
        long long v = strtoll(buf, &end, 0);
        if (errno || end == buf)
                return def;
        return v;
}

int fp_set(struct node *n, const char *key, const char *value) {
        return strmap_set(&n->attributes, key, value);
}

int fp_set_ll(struct node *n, const char *key, long long value) {
        char buf[32];
        snprintf(buf, sizeof(buf), "%lld", value);
        return strmap_set(&n->attributes, key, buf);
}

int fp_setf(struct node *n, const char *key, const char *fmt, ...) {
        char buf[1024];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(buf, sizeof(buf), fmt, ap);
        va_end(ap);
        return strmap_set(&n->attributes, key, buf);
}

int fp_cpulist_foreach(const char *list, void (*fn)(int cpu, void *data), void *data) {
        int count = 0;
        const char *p = list;
        while (*p) {
                while (*p == ',' || isspace((unsigned char)*p))
                        p++;
                if (!*p)
                        break;
                char *end;
                long a = strtol(p, &end, 10), b;
                if (end == p || a < 0)
                        return -EINVAL;
                p = end;
                b = a;
                if (*p == '-') {
                        b = strtol(p + 1, &end, 10);
                        if (end == p + 1 || b < a)
                                return -EINVAL;
                        p = end;
                }
                if (*p && *p != ',' && !isspace((unsigned char)*p))
                        return -EINVAL;
                if (b - a > 65536)
                        return -EINVAL;
                for (long c = a; c <= b; c++) {
                        if (fn)
                                fn((int)c, data);
                        count++;
                }
        }
        return count;
}

void fp_strlcpy(char *dst, const char *src, size_t size) {
        if (!size)
                return;
        size_t len = strnlen(src, size - 1);
        memcpy(dst, src, len);
        dst[len] = '\0';
}
