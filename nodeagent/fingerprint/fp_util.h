/* fp_util.h - helpers the fingerprinters share: root-relative reads, attributes, cpu lists. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct fingerprint_ctx;
struct node;

/* Read <ctx->root><rel> (rel starts with '/') into buf, trailing whitespace
 * trimmed. Returns the length or negative errno. */
ssize_t fp_read(const struct fingerprint_ctx *ctx, const char *rel, char *buf, size_t size);
/* The same, for a path built with printf. */
ssize_t fp_readf(const struct fingerprint_ctx *ctx, char *buf, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* <ctx->root><rel> into path; returns path. */
char *fp_path(const struct fingerprint_ctx *ctx, const char *rel, char *path, size_t size);
/* Read an integer file; def when it is missing or not a number. */
long long fp_read_ll(const struct fingerprint_ctx *ctx, long long def, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Trim leading and trailing white space in place. */
void fp_trim(char *s);

int fp_set(struct node *n, const char *key, const char *value);
int fp_set_ll(struct node *n, const char *key, long long value);
int fp_setf(struct node *n, const char *key, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* A kernel cpu list ("0-3,8,10-11"): calls fn for each cpu; returns the count or -EINVAL. */
int fp_cpulist_foreach(const char *list, void (*fn)(int cpu, void *data), void *data);
static inline int fp_cpulist_count(const char *list) {
        return fp_cpulist_foreach(list, NULL, NULL);
}

/* Copy src into dst (size bytes), truncating; dst is always terminated. */
void fp_strlcpy(char *dst, const char *src, size_t size);
